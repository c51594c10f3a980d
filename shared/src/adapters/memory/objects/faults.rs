//! Failures a test arms on the in-memory object store, and the requests it counts.

use crate::adapters::s3::friendly_code;
use crate::error::Error;
use crate::ports::ObjectError;
use std::collections::HashMap;

/// The object store's operations, one per port method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    VersionsAfter,
    RestoredUntil,
    ReadRange,
    HeadCurrent,
    ListLatest,
    Copy,
    StartMultipart,
    ContinueMultipart,
    AbortMultipart,
    CurrentObject,
    Restore,
    VersionsOf,
    DeleteVersions,
}

impl Op {
    /// The operation as the S3 adapter names it in its errors.
    pub fn name(self) -> &'static str {
        match self {
            Op::VersionsAfter | Op::ListLatest | Op::VersionsOf => "list object versions",
            Op::RestoredUntil => "read restore status",
            Op::ReadRange | Op::HeadCurrent | Op::CurrentObject => "read object",
            Op::Copy => "copy object",
            Op::StartMultipart => "start multipart copy",
            Op::ContinueMultipart => "copy part",
            Op::AbortMultipart => "abort multipart copy",
            Op::Restore => "restore object",
            Op::DeleteVersions => "delete objects",
        }
    }
}

/// How an armed call fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// None: transient (throttling, a 5xx, a timeout).
    refusal: Option<(String, String)>,
    /// S3 acted and the answer was lost.
    acted: bool,
}

impl Fault {
    /// Throttling, a 5xx or a timeout: the call does nothing.
    pub fn transient() -> Self {
        Fault { refusal: None, acted: false }
    }

    /// S3 refuses with `code`, named as the S3 adapter names it (NoSuchKey, PreconditionFailed...).
    pub fn permanent(code: &str, message: &str) -> Self {
        Fault { refusal: Some((code.to_string(), message.to_string())), acted: false }
    }

    /// S3 does what the call asks, and then the answer is lost as this fault says (a reset
    /// after a copy was made, say).
    pub fn after_acting(self) -> Self {
        Fault { acted: true, ..self }
    }

    pub(super) fn acted(&self) -> bool {
        self.acted
    }

    pub(super) fn error(&self, op: Op) -> ObjectError {
        match &self.refusal {
            None => ObjectError::Transient(Error::retryable(op.name(), "SlowDown: injected")),
            Some((code, message)) => ObjectError::Permanent { code: friendly_code(code), message: message.clone() },
        }
    }
}

/// An armed fault: the next `times` calls of `op` naming `key` fail.
#[derive(Debug)]
struct Armed {
    op: Op,
    key: String,
    fault: Fault,
    times: usize,
}

#[derive(Debug, Default)]
pub(super) struct Faults {
    armed: Vec<Armed>,
    requests: HashMap<Op, usize>,
}

impl Faults {
    pub(super) fn arm(&mut self, op: Op, key: &str, fault: Fault, times: usize) {
        if times == 0 {
            return;
        }
        self.armed.push(Armed { op, key: key.to_string(), fault, times });
    }

    /// Counts a call of `op` naming `keys`, and takes the first fault armed for it.
    pub(super) fn on_call(&mut self, op: Op, keys: &[&str]) -> Option<Fault> {
        *self.requests.entry(op).or_default() += 1;
        let i = self.armed.iter().position(|a| a.op == op && keys.contains(&a.key.as_str()))?;
        let armed = &mut self.armed[i];
        armed.times -= 1;
        let fault = armed.fault.clone();
        if armed.times == 0 {
            self.armed.remove(i);
        }
        Some(fault)
    }

    pub(super) fn requests(&self, op: Op) -> usize {
        self.requests.get(&op).copied().unwrap_or(0)
    }
}
