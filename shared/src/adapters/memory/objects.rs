//! The object store in memory: a small versioned S3 that answers as S3 and the S3 adapter do,
//! for unit tests of the use cases. A test sets up buckets and objects, moves on what S3 moves
//! on its own (restores completing, windows ending, lifecycle transitions), arms failures and
//! counts requests.

mod faults;
mod multipart;
mod setup;
mod store;
#[cfg(test)]
mod tests;

pub use faults::{Fault, Op};
pub use setup::Put;

use crate::domain::repair::KeyVersion;
use crate::domain::{FileRecord, RestoreTier, StorageClass};
use crate::error::{Error, Result};
use crate::ports::{Copied, CopyProgress, CopyStart, CurrentObject, ObjectError, ObjectStore, ObjectVersion, RestoreStarted};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;
use store::{Restore, Store, no_bucket, refused};

#[derive(Debug, Default)]
pub struct MemoryObjects {
    store: Mutex<Store>,
}

/// A refusal as the core's error, for the calls that answer one (listings, reads).
fn as_core(op: Op, e: ObjectError) -> Error {
    match e {
        ObjectError::Transient(e) => e,
        ObjectError::Permanent { code, message } => Error::dependency(op.name(), format!("{code}: {message}")),
    }
}

impl MemoryObjects {
    pub fn new() -> Self {
        Self::default()
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One call of `op` naming `keys`: counted, and failed as a fault armed for it says.
    fn call<T, E>(&self, op: Op, keys: &[&str], fail: impl Fn(Op, ObjectError) -> E, act: impl FnOnce(&mut Store) -> Result<T, E>) -> Result<T, E> {
        let mut s = self.store();
        match s.faults.on_call(op, keys) {
            None => act(&mut s),
            Some(fault) if !fault.acted() => Err(fail(op, fault.error(op))),
            Some(fault) => {
                act(&mut s)?;
                Err(fail(op, fault.error(op)))
            }
        }
    }
}

/// Object calls answer the adapter's per-object errors as they are.
fn same(_: Op, e: ObjectError) -> ObjectError {
    e
}

impl ObjectStore for MemoryObjects {
    async fn versions_after(&self, bucket: &str, prefix: &str, after: Option<&str>, max_keys: usize) -> Result<(Vec<KeyVersion>, bool)> {
        self.call(Op::VersionsAfter, &[prefix], as_core, |s| {
            let b = s.buckets.get(bucket).ok_or_else(|| as_core(Op::VersionsAfter, no_bucket(bucket)))?;
            // MaxKeys counts versions and delete markers, not keys.
            let mut entries = b.entries(prefix, after);
            let page: Vec<KeyVersion> = entries.by_ref().take(max_keys.clamp(1, 1000)).map(|(k, v, latest)| v.listed(k, latest)).collect();
            let truncated = entries.next().is_some();
            // As the adapter gives them: the versions, then the markers, sorted by key.
            let (mut out, markers): (Vec<KeyVersion>, Vec<KeyVersion>) = page.into_iter().partition(|v| !v.delete_marker);
            out.extend(markers);
            out.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
            Ok((out, truncated))
        })
    }

    async fn restored_until(&self, file: &FileRecord) -> Result<Option<String>, ObjectError> {
        self.call(Op::RestoredUntil, &[&file.key], same, |s| {
            let v = s.head(file).ok_or_else(|| refused("NotFound", Op::RestoredUntil.name()))?;
            Ok(match v.restore {
                Some(Restore::Done { until }) => Some(until.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
                _ => None,
            })
        })
    }

    async fn read_range(&self, bucket: &str, key: &str, start: u64, len: u64) -> Result<(Vec<u8>, u64)> {
        self.call(Op::ReadRange, &[key], as_core, |s| {
            let v = s.buckets.get(bucket).and_then(|b| b.current(key)).ok_or_else(|| Error::validation(format!("s3://{bucket}/{key} does not exist")))?;
            if !v.readable() {
                return Err(as_core(Op::ReadRange, refused("InvalidObjectState", "The operation is not valid for the object's storage class")));
            }
            // 416 at the end of the object: nothing left.
            if start >= v.size {
                return Ok((vec![], start));
            }
            let end = (start + len.max(1)).min(v.size);
            let bytes = match &v.body {
                Some(body) => body[start as usize..end as usize].to_vec(),
                None => vec![0; (end - start) as usize],
            };
            Ok((bytes, v.size))
        })
    }

    async fn head_current(&self, bucket: &str, key: &str) -> Result<Option<KeyVersion>> {
        self.call(Op::HeadCurrent, &[key], as_core, |s| Ok(s.buckets.get(bucket).and_then(|b| b.current(key)).map(|v| v.listed(key, true))))
    }

    async fn list_latest(&self, bucket: &str, prefix: &str) -> Result<Vec<KeyVersion>> {
        self.call(Op::ListLatest, &[prefix], as_core, |s| {
            let b = s.buckets.get(bucket).ok_or_else(|| Error::validation(format!("cannot list s3://{bucket}/{prefix}: {}", no_bucket(bucket))))?;
            let keys = b.keys.keys().filter(|k| k.starts_with(prefix));
            Ok(keys.filter_map(|k| b.current(k).map(|v| v.listed(k, true))).collect())
        })
    }

    async fn copy_to_class(&self, file: &FileRecord, class: StorageClass) -> Result<Copied, ObjectError> {
        self.call(Op::Copy, &[&file.key], same, |s| s.copy(file, class))
    }

    async fn start_multipart_copy(&self, file: &FileRecord, class: StorageClass) -> Result<CopyStart, ObjectError> {
        self.call(Op::StartMultipart, &[&file.key], same, |s| s.start_upload(file, class))
    }

    async fn continue_multipart_copy(&self, file: &FileRecord, upload_id: &str, part_bytes: u64, stop_at: Option<Instant>) -> Result<CopyProgress, ObjectError> {
        self.call(Op::ContinueMultipart, &[&file.key], same, |s| s.continue_upload(file, upload_id, part_bytes, stop_at))
    }

    async fn abort_multipart_copy(&self, file: &FileRecord, upload_id: &str) -> Result<(), ObjectError> {
        self.call(Op::AbortMultipart, &[&file.key], same, |s| {
            s.abort_upload(file, upload_id);
            Ok(())
        })
    }

    async fn current_object(&self, file: &FileRecord) -> Result<Option<CurrentObject>, ObjectError> {
        self.call(Op::CurrentObject, &[&file.key], same, |s| {
            let current = s.buckets.get(&file.bucket).and_then(|b| b.current(&file.key));
            Ok(current.map(|v| CurrentObject {
                version_id: v.id.clone(),
                etag: v.etag.clone(),
                size: v.size,
                storage_class: v.class,
                last_modified: Some(v.last_modified),
            }))
        })
    }

    /// The tier changes nothing here: S3 takes from minutes to days, and a test says when.
    async fn restore(&self, file: &FileRecord, days: u32, _tier: RestoreTier) -> Result<RestoreStarted, ObjectError> {
        self.call(Op::Restore, &[&file.key], same, |s| s.restore(file, days))
    }

    async fn versions_of(&self, bucket: &str, key: &str) -> Result<Vec<ObjectVersion>, ObjectError> {
        self.call(Op::VersionsOf, &[key], same, |s| {
            let b = s.buckets.get(bucket).ok_or_else(|| no_bucket(bucket))?;
            let listed = b.entries(key, None).filter(|(k, _, _)| *k == key);
            // As the adapter gives them: the versions, then the markers.
            let (mut out, markers): (Vec<ObjectVersion>, Vec<ObjectVersion>) = listed
                .map(|(k, v, _)| ObjectVersion { key: k.to_string(), version_id: v.id.clone(), delete_marker: v.delete_marker })
                .partition(|v| !v.delete_marker);
            out.extend(markers);
            Ok(out)
        })
    }

    async fn delete_versions(&self, bucket: &str, versions: &[ObjectVersion]) -> Result<Vec<(ObjectVersion, String)>, ObjectError> {
        let keys: Vec<&str> = versions.iter().map(|v| v.key.as_str()).collect();
        self.call(Op::DeleteVersions, &keys, same, |s| s.delete_versions(bucket, versions))
    }
}
