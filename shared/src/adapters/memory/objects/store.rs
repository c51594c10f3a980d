//! The buckets behind the in-memory object store, and what S3 answers about one object: the
//! checks of a copy and of its source, restores, deletes.

use super::faults::Faults;
use super::multipart::Upload;
use crate::adapters::s3::friendly_code;
use crate::domain::action::restore_window_end;
use crate::domain::repair::KeyVersion;
use crate::domain::{FileRecord, StorageClass};
use crate::ports::{Copied, NotCopied, ObjectError, ObjectVersion, RestoreStarted};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// A restore asked of a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Restore {
    Ongoing { days: u32 },
    Done { until: DateTime<Utc> },
}

/// One version, or delete marker, of a key.
#[derive(Debug, Clone)]
pub(super) struct Version {
    pub(super) id: String,
    pub(super) etag: String,
    pub(super) size: u64,
    pub(super) class: StorageClass,
    pub(super) last_modified: DateTime<Utc>,
    pub(super) restore: Option<Restore>,
    /// An INTELLIGENT_TIERING object's archive tier (HEAD's x-amz-archive-status).
    pub(super) archive_status: Option<String>,
    /// User metadata: carried over by copies, never read.
    pub(super) metadata: BTreeMap<String, String>,
    /// None: `size` zero bytes (a large object a test only gives a size).
    pub(super) body: Option<Arc<[u8]>>,
    pub(super) delete_marker: bool,
}

impl Version {
    /// S3 reads (and copies) a GLACIER or DEEP_ARCHIVE object only while a restored copy exists.
    pub(super) fn readable(&self) -> bool {
        !self.class.needs_restore() || matches!(self.restore, Some(Restore::Done { .. }))
    }

    /// A delete marker written at `at` (its id set when written).
    pub(super) fn marker(at: DateTime<Utc>) -> Self {
        Version {
            id: String::new(),
            etag: String::new(),
            size: 0,
            class: StorageClass::Standard,
            last_modified: at,
            restore: None,
            archive_status: None,
            metadata: BTreeMap::new(),
            body: None,
            delete_marker: true,
        }
    }

    pub(super) fn listed(&self, key: &str, latest: bool) -> KeyVersion {
        KeyVersion {
            key: key.to_string(),
            version_id: self.id.clone(),
            etag: self.etag.clone(),
            size: self.size,
            storage_class: self.class,
            latest,
            delete_marker: self.delete_marker,
            last_modified: Some(self.last_modified),
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Bucket {
    pub(super) versioned: bool,
    /// Each key's versions and delete markers, oldest first: the last is the latest.
    pub(super) keys: BTreeMap<String, Vec<Version>>,
    /// Keys under object lock: their versions cannot be deleted (their delete markers can).
    pub(super) locked: HashSet<String>,
}

impl Bucket {
    /// The key's current version: None when it has none or a delete marker is latest.
    pub(super) fn current(&self, key: &str) -> Option<&Version> {
        self.keys.get(key)?.last().filter(|v| !v.delete_marker)
    }

    /// Every version and marker under `prefix` of keys after `after`, as S3 lists them: keys in
    /// order, each key's newest first, with whether it is the latest.
    pub(super) fn entries<'a>(&'a self, prefix: &'a str, after: Option<&'a str>) -> impl Iterator<Item = (&'a str, &'a Version, bool)> + 'a {
        self.keys
            .iter()
            .filter(move |(k, _)| k.starts_with(prefix) && after.is_none_or(|a| k.as_str() > a))
            .flat_map(|(k, vs)| vs.iter().rev().enumerate().map(move |(i, v)| (k.as_str(), v, i == 0)))
    }
}

/// A refusal named as the S3 adapter names it.
pub(super) fn refused(code: &str, message: &str) -> ObjectError {
    ObjectError::Permanent { code: friendly_code(code), message: message.to_string() }
}

pub(super) fn no_bucket(bucket: &str) -> ObjectError {
    refused("NoSuchBucket", &format!("The specified bucket {bucket} does not exist"))
}

/// The file's version is gone: with a version id, that version; without, the key.
fn missing(file: &FileRecord) -> ObjectError {
    match file.version_id.as_str() {
        "null" => refused("NoSuchKey", "The specified key does not exist."),
        _ => refused("NoSuchVersion", "The specified version does not exist."),
    }
}

/// An opaque ETag for some content.
pub(super) fn etag_of(content: &[u8]) -> String {
    format!("\"{}\"", &hex::encode(Sha256::digest(content))[..32])
}

#[derive(Debug, Default)]
pub(super) struct Store {
    pub(super) buckets: BTreeMap<String, Bucket>,
    pub(super) uploads: HashMap<String, Upload>,
    pub(super) faults: Faults,
    /// The time S3 stamps writes with; None: the clock's.
    pub(super) now: Option<DateTime<Utc>>,
    ids: u64,
}

impl Store {
    pub(super) fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }

    /// A new id, unique in the store: version ids `v1`, `v2`...; upload ids `upload-3`...
    pub(super) fn new_id(&mut self, prefix: &str) -> String {
        self.ids += 1;
        format!("{prefix}{}", self.ids)
    }

    /// Writes `v` as the key's latest: a new version in a versioned bucket, in place of the
    /// object (version "null") in an unversioned one. Returns the id it got.
    pub(super) fn write(&mut self, bucket: &str, key: &str, mut v: Version) -> String {
        let versioned = self.buckets.get(bucket).unwrap_or_else(|| panic!("no bucket {bucket}")).versioned;
        v.id = if versioned { self.new_id("v") } else { "null".to_string() };
        let versions = self.buckets.get_mut(bucket).expect("checked").keys.entry(key.to_string()).or_default();
        if !versioned {
            versions.clear();
        }
        versions.push(v);
        versions.last().expect("pushed").id.clone()
    }

    /// Where HEAD finds the file's version ("null": the key's current one) among its key's.
    fn head_at(&self, file: &FileRecord) -> Option<usize> {
        let versions = self.buckets.get(&file.bucket)?.keys.get(&file.key)?;
        match file.version_id.as_str() {
            "null" => versions.last().filter(|v| !v.delete_marker).map(|_| versions.len() - 1),
            id => versions.iter().position(|v| v.id == id && !v.delete_marker),
        }
    }

    /// What HEAD answers for the file's version.
    pub(super) fn head(&self, file: &FileRecord) -> Option<&Version> {
        self.head_at(file).map(|i| &self.buckets[&file.bucket].keys[&file.key][i])
    }

    fn head_mut(&mut self, file: &FileRecord) -> Option<&mut Version> {
        let i = self.head_at(file)?;
        self.buckets.get_mut(&file.bucket)?.keys.get_mut(&file.key)?.get_mut(i)
    }

    /// The registered version while it is the key's current one with the registered ETag (the
    /// adapter's HEAD with If-Match, then its version check).
    pub(super) fn registered(&self, file: &FileRecord) -> Result<&Version, ObjectError> {
        let v = self.buckets.get(&file.bucket).and_then(|b| b.current(&file.key)).ok_or_else(|| refused("NotFound", "read object metadata"))?;
        if v.etag != file.etag {
            return Err(refused("PreconditionFailed", "read object metadata"));
        }
        if v.id != file.version_id {
            return Err(refused("PreconditionFailed", &format!("version {} replaced the registered version {}", v.id, file.version_id)));
        }
        Ok(v)
    }

    /// The registered version as a copy's source (CopySource with its version, CopySourceIfMatch).
    pub(super) fn source(&self, file: &FileRecord) -> Result<&Version, ObjectError> {
        let v = self.head(file).ok_or_else(|| missing(file))?;
        if v.etag != file.etag {
            return Err(refused("PreconditionFailed", "At least one of the pre-conditions you specified did not hold"));
        }
        if !v.readable() {
            return Err(refused("InvalidObjectState", "The operation is not valid for the object's storage class"));
        }
        Ok(v)
    }

    /// A copy of the registered version to `class` (HEAD, then CopyObject).
    pub(super) fn copy(&mut self, file: &FileRecord, class: StorageClass) -> Result<Copied, ObjectError> {
        if let Some(not) = not_copied(file, self.registered(file)?, class) {
            return Ok(not);
        }
        let source = self.source(file)?.clone();
        // CopyObject keeps a single-part ETag (the content's digest); a multipart one is computed anew.
        let etag = match source.etag.trim_matches('"').contains('-') {
            true => etag_of(source.etag.as_bytes()),
            false => source.etag.clone(),
        };
        Ok(self.copied(file, Version { etag, class, ..source }))
    }

    /// Writes a copy made of the file as its key's latest version.
    pub(super) fn copied(&mut self, file: &FileRecord, copy: Version) -> Copied {
        let copy = Version { last_modified: self.now(), restore: None, archive_status: None, delete_marker: false, ..copy };
        let etag = copy.etag.clone();
        let id = self.write(&file.bucket, &file.key, copy);
        // An unversioned bucket answers no version id.
        Copied { version_id: (id != "null").then_some(id), etag: Some(etag), skipped: None }
    }

    pub(super) fn restore(&mut self, file: &FileRecord, days: u32) -> Result<RestoreStarted, ObjectError> {
        let now = self.now();
        let v = self.head_mut(file).ok_or_else(|| missing(file))?;
        if !v.class.needs_restore() {
            return Err(refused("InvalidObjectState", "Restore is not allowed for the object's current storage class"));
        }
        Ok(match v.restore {
            Some(Restore::Ongoing { .. }) => RestoreStarted::InProgress,
            // 200: the window is moved to end `days` from now.
            Some(Restore::Done { .. }) => {
                v.restore = Some(Restore::Done { until: window_end(now, days) });
                RestoreStarted::AlreadyRestored
            }
            None => {
                v.restore = Some(Restore::Ongoing { days });
                RestoreStarted::InProgress
            }
        })
    }

    /// DeleteObjects by version id: the per-key failures (versions of locked keys).
    pub(super) fn delete_versions(&mut self, bucket: &str, versions: &[ObjectVersion]) -> Result<Vec<(ObjectVersion, String)>, ObjectError> {
        let b = self.buckets.get_mut(bucket).ok_or_else(|| no_bucket(bucket))?;
        let mut failures = Vec::new();
        for o in versions {
            let Some(vs) = b.keys.get_mut(&o.key) else { continue };
            // S3 answers a version it does not hold as deleted.
            let Some(i) = vs.iter().position(|v| v.id == o.version_id) else { continue };
            if b.locked.contains(&o.key) && !vs[i].delete_marker {
                let failed = ObjectVersion { delete_marker: false, ..o.clone() };
                failures.push((failed, "AccessDenied: Access Denied because object protected by object lock.".to_string()));
                continue;
            }
            vs.remove(i);
            if vs.is_empty() {
                b.keys.remove(&o.key);
            }
        }
        Ok(failures)
    }

    /// Completes every ongoing restore at `at`; how many.
    pub(super) fn complete_restores(&mut self, at: DateTime<Utc>) -> usize {
        let mut done = 0;
        for v in self.buckets.values_mut().flat_map(|b| b.keys.values_mut().flatten()) {
            if let Some(Restore::Ongoing { days }) = v.restore {
                v.restore = Some(Restore::Done { until: window_end(at, days) });
                done += 1;
            }
        }
        done
    }

    /// Removes the restored copies whose window ended by `at`; how many.
    pub(super) fn expire_restores(&mut self, at: DateTime<Utc>) -> usize {
        let mut gone = 0;
        for v in self.buckets.values_mut().flat_map(|b| b.keys.values_mut().flatten()) {
            if matches!(v.restore, Some(Restore::Done { until }) if until <= at) {
                v.restore = None;
                gone += 1;
            }
        }
        gone
    }
}

/// The end of a restore window, as S3 sets it (the next midnight UTC after `days`).
fn window_end(from: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    restore_window_end(from, days).parse().expect("RFC 3339")
}

/// No copy, as the adapter decides from HEAD: the object in the target class already, or in an
/// archive tier S3 cannot copy from.
pub(super) fn not_copied(file: &FileRecord, head: &Version, class: StorageClass) -> Option<Copied> {
    let skipped = match head.class == class {
        true => NotCopied::InTargetClass,
        false => NotCopied::Blocked(head.class.copy_blocked_by(head.archive_status.as_deref())?),
    };
    Some(Copied { version_id: Some(file.version_id.clone()), etag: Some(file.etag.clone()), skipped: Some(skipped) })
}
