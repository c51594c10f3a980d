//! A lifecycle task: one action on one asset, persisted, run by one Step Functions execution.

use super::action::Action;
use super::asset::AssetClass;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// Deterministic task id: the same request always names the same task, so a retried request or
/// a repeated evaluation creates nothing new. It is also the execution name (<= 80 chars).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TaskId(String);

impl TryFrom<String> for TaskId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        TaskId::parse(&s)
    }
}

impl From<TaskId> for String {
    fn from(id: TaskId) -> String {
        id.0
    }
}

impl TaskId {
    /// `origin` says what asked for the task: an API request id, or a policy id and version.
    pub fn derive(asset_id: &str, action: &Action, origin: &str) -> Self {
        let mut h = Sha256::new();
        for part in [asset_id, &action.fingerprint(), origin] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        TaskId(format!("t-{}", &hex::encode(h.finalize())[..32]))
    }

    pub fn parse(s: &str) -> Result<Self> {
        let ok = s.len() == 34 && s.starts_with("t-") && s[2..].chars().all(|c| c.is_ascii_hexdigit());
        if ok { Ok(TaskId(s.to_string())) } else { Err(Error::validation(format!("{s:?} is not a task id"))) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A task's status. It only moves forward: PENDING -> RUNNING -> one of the ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    /// Waiting in its asset's queue slot for the running task to end.
    Queued,
    Pending,
    Running,
    Succeeded,
    PartiallyFailed,
    Failed,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "QUEUED",
            TaskStatus::Pending => "PENDING",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Succeeded => "SUCCEEDED",
            TaskStatus::PartiallyFailed => "PARTIALLY_FAILED",
            TaskStatus::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        [Self::Queued, Self::Pending, Self::Running, Self::Succeeded, Self::PartiallyFailed, Self::Failed]
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| Error::validation(format!("unknown task status {s:?}")))
    }

    pub fn is_final(self) -> bool {
        matches!(self, TaskStatus::Succeeded | TaskStatus::PartiallyFailed | TaskStatus::Failed)
    }
}

/// An accepted request for a task, before it is persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRequest {
    pub task_id: TaskId,
    pub asset_id: String,
    pub action: Action,
    pub requested_by: String,
    pub origin: String,
}

/// Per-file progress of a task. `outstanding` is files planned and not yet final; it only moves
/// when a file's step really changed, so redeliveries and duplicate events leave it alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCounters {
    pub planned: i64,
    pub outstanding: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub skipped: i64,
    /// Of the skipped files, those an archive left in another class than its target.
    #[serde(default)]
    pub kept: i64,
}

impl TaskCounters {
    pub fn finished(&self) -> i64 {
        self.succeeded + self.failed + self.skipped
    }
}

/// How a task ended, computed once when its last file is final and planning is done. It is the
/// output sent to the waiting execution, which records it and publishes the completion event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: TaskStatus,
    pub event_type: String,
    pub event_id: String,
    /// The asset's state after the task, recorded by the state machine.
    pub asset_state: String,
    /// The asset's storage class after the task.
    pub asset_class: AssetClass,
    pub succeeded: i64,
    pub failed: i64,
    pub skipped: i64,
    pub reason: String,
}

impl Outcome {
    pub fn from_counters(task_id: &TaskId, action: &Action, c: &TaskCounters, prior_state: &str, prior_class: AssetClass) -> Self {
        let status = if c.failed == 0 {
            TaskStatus::Succeeded
        } else if c.succeeded + c.skipped == 0 {
            TaskStatus::Failed
        } else {
            TaskStatus::PartiallyFailed
        };
        let event_type = match status {
            TaskStatus::Succeeded => "TaskCompleted",
            TaskStatus::Failed => "TaskFailed",
            _ => "TaskPartiallyFailed",
        };
        let asset_state = match (status, action) {
            (TaskStatus::Succeeded, Action::Archive { .. }) => "ARCHIVED",
            (TaskStatus::Succeeded, Action::Restore { .. }) => "RESTORED",
            (TaskStatus::Succeeded, Action::Purge) => "PURGED",
            (TaskStatus::PartiallyFailed, _) => "MIXED",
            _ => prior_state,
        };
        // Files an archive left in other classes keep the asset out of the target class: in
        // the class it was in when none moved, MIXED beside those that did.
        let asset_class = match (status, action) {
            (TaskStatus::Succeeded, Action::Archive { storage_class }) if c.kept == 0 => AssetClass::One(*storage_class),
            (TaskStatus::Succeeded, Action::Archive { .. }) if c.succeeded == 0 => prior_class,
            (TaskStatus::Succeeded | TaskStatus::PartiallyFailed, Action::Archive { .. }) => AssetClass::Mixed,
            _ => prior_class,
        };
        let reason = if c.failed == 0 {
            String::new()
        } else {
            format!("{} of {} files failed; see the task's failed files", c.failed, c.finished())
        };
        Outcome {
            status,
            event_type: event_type.to_string(),
            event_id: format!("{task_id}:{event_type}"),
            asset_state: asset_state.to_string(),
            asset_class,
            succeeded: c.succeeded,
            failed: c.failed,
            skipped: c.skipped,
            reason,
        }
    }
}

impl Outcome {
    /// A task that could not run at all (its asset vanished or changed hands): it fails with the
    /// reason, and the asset keeps its state.
    pub fn refused(task_id: &TaskId, reason: String, prior_state: &str, prior_class: AssetClass) -> Self {
        Outcome {
            status: TaskStatus::Failed,
            event_type: "TaskFailed".to_string(),
            event_id: format!("{task_id}:TaskFailed"),
            asset_state: prior_state.to_string(),
            asset_class: prior_class,
            succeeded: 0,
            failed: 0,
            skipped: 0,
            reason,
        }
    }
}

/// A persisted task, as read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub task_id: TaskId,
    pub asset_id: String,
    pub title_id: String,
    pub asset_type: String,
    pub action: Action,
    pub status: TaskStatus,
    pub requested_by: String,
    pub origin: String,
    pub created_at: String,
    pub counters: TaskCounters,
    pub planning_done: bool,
    pub reason: Option<String>,
    /// The policy version that caused the task; None for requested tasks.
    pub policy: Option<PolicyRef>,
    #[serde(skip)]
    pub task_token: Option<String>,
    #[serde(skip)]
    pub plan_cursor: Option<String>,
    /// When the task last moved (token stored, a page planned, files recorded); the reconciler
    /// looks at tasks that stopped moving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_at: Option<String>,
    /// The reconciler's last full look at the task while it stood still: when (the run's time)
    /// and the `progress_at` it saw then. Until the task moves again it is not read again
    /// before the recheck interval (see [`crate::domain::repair::recheck_due`]).
    #[serde(skip)]
    pub checked: Option<(String, String)>,
}

/// A policy version, as recorded on the tasks it caused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRef {
    pub policy_id: String,
    pub version: u32,
}

/// What creating a task did.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// A new task, holding the asset.
    New(Task),
    /// The same request was made before: the existing task.
    Existing(Task),
    /// Another task holds the asset (or is about to: a queued task whose turn came), and maybe
    /// one waits in its queue slot.
    AssetBusy { active_task: String, active_action: String, queued_task: Option<String> },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::action::{RestoreTier, StorageClass};

    const GLACIER: Action = Action::Archive { storage_class: StorageClass::Glacier };

    #[test]
    fn the_same_request_derives_the_same_task_id() {
        assert_eq!(TaskId::derive("a1", &GLACIER, "req-1"), TaskId::derive("a1", &GLACIER, "req-1"));
    }

    #[test]
    fn any_difference_in_asset_action_or_origin_derives_another_id() {
        let base = TaskId::derive("a1", &GLACIER, "req-1");
        assert_ne!(base, TaskId::derive("a2", &GLACIER, "req-1"));
        assert_ne!(base, TaskId::derive("a1", &Action::Purge, "req-1"));
        assert_ne!(base, TaskId::derive("a1", &GLACIER, "req-2"));
        let r1 = Action::Restore { days: 1, tier: RestoreTier::Bulk };
        let r2 = Action::Restore { days: 2, tier: RestoreTier::Bulk };
        assert_ne!(TaskId::derive("a1", &r1, "x"), TaskId::derive("a1", &r2, "x"));
    }

    #[test]
    fn task_ids_parse_back_and_fit_an_execution_name() {
        let id = TaskId::derive("a1", &GLACIER, "req-1");
        assert!(id.as_str().len() <= 80);
        assert_eq!(TaskId::parse(id.as_str()).unwrap(), id);
        assert!(TaskId::parse("t-../../x").is_err());
    }

    #[test]
    fn outcome_follows_the_counters() {
        let id = TaskId::derive("a1", &GLACIER, "r");
        let ok = TaskCounters { planned: 3, outstanding: 0, succeeded: 2, failed: 0, skipped: 1, kept: 0 };
        let o = Outcome::from_counters(&id, &GLACIER, &ok, "ACTIVE", StorageClass::Standard.into());
        assert_eq!((o.status, o.event_type.as_str(), o.asset_state.as_str()), (TaskStatus::Succeeded, "TaskCompleted", "ARCHIVED"));
        assert_eq!(o.event_id, format!("{id}:TaskCompleted"));

        let partial = TaskCounters { failed: 1, ..ok };
        let o = Outcome::from_counters(&id, &GLACIER, &partial, "ACTIVE", StorageClass::Standard.into());
        assert_eq!((o.status, o.asset_state.as_str()), (TaskStatus::PartiallyFailed, "MIXED"));
        assert!(o.reason.contains("1 of 4"));

        let all_failed = TaskCounters { planned: 2, outstanding: 0, succeeded: 0, failed: 2, skipped: 0, kept: 0 };
        let o = Outcome::from_counters(&id, &GLACIER, &all_failed, "ACTIVE", StorageClass::Standard.into());
        assert_eq!((o.status, o.event_type.as_str(), o.asset_state.as_str()), (TaskStatus::Failed, "TaskFailed", "ACTIVE"));
    }

    #[test]
    fn an_empty_asset_succeeds_with_nothing_done() {
        let id = TaskId::derive("a1", &Action::Purge, "r");
        let o = Outcome::from_counters(&id, &Action::Purge, &TaskCounters::default(), "ACTIVE", StorageClass::Standard.into());
        assert_eq!(o.status, TaskStatus::Succeeded);
    }
}
