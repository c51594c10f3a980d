//! What a test does to the in-memory object store: buckets and objects to start from, what S3
//! does on its own later (restores completing, windows ending, lifecycle transitions), faults
//! to arm and requests to count.

use super::store::{Bucket, Version, etag_of};
use super::{Fault, MemoryObjects, Op};
use crate::domain::StorageClass;
use crate::domain::repair::KeyVersion;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;

/// An object a test writes: STANDARD, with its content or only a size.
#[derive(Debug, Clone)]
pub struct Put {
    size: u64,
    body: Option<Arc<[u8]>>,
    class: StorageClass,
    etag: Option<String>,
    metadata: BTreeMap<String, String>,
    archive_status: Option<String>,
}

impl Put {
    pub fn body(content: impl Into<Vec<u8>>) -> Self {
        let body: Arc<[u8]> = content.into().into();
        Put { size: body.len() as u64, body: Some(body), ..Put::sized(0) }
    }

    /// `size` bytes of zeros, never held (a multipart copy's object).
    pub fn sized(size: u64) -> Self {
        Put { size, body: None, class: StorageClass::Standard, etag: None, metadata: BTreeMap::new(), archive_status: None }
    }

    pub fn class(self, class: StorageClass) -> Self {
        Put { class, ..self }
    }

    /// The ETag, quoted as S3 gives it (by default a digest of the content).
    pub fn etag(self, etag: &str) -> Self {
        Put { etag: Some(etag.to_string()), ..self }
    }

    pub fn metadata(mut self, name: &str, value: &str) -> Self {
        self.metadata.insert(name.to_string(), value.to_string());
        self
    }

    /// An INTELLIGENT_TIERING object in an archive tier (ARCHIVE_ACCESS, DEEP_ARCHIVE_ACCESS).
    pub fn archive_status(self, tier: &str) -> Self {
        Put { archive_status: Some(tier.to_string()), ..self }
    }
}

impl MemoryObjects {
    pub fn versioned_bucket(&self, name: &str) -> &Self {
        self.store().buckets.insert(name.to_string(), Bucket { versioned: true, ..Bucket::default() });
        self
    }

    /// A bucket that never had versioning: each key one version, "null", replaced in place.
    pub fn unversioned_bucket(&self, name: &str) -> &Self {
        self.store().buckets.insert(name.to_string(), Bucket::default());
        self
    }

    /// PutObject: the key's new current version, as a listing shows it.
    pub fn put(&self, bucket: &str, key: &str, object: Put) -> KeyVersion {
        let mut s = self.store();
        let Put { size, body, class, etag, metadata, archive_status } = object;
        let etag = match (etag, &body) {
            (Some(e), _) => e,
            (None, Some(body)) => etag_of(body),
            (None, None) => etag_of(s.new_id("content-").as_bytes()),
        };
        let v = Version { etag, size, class, metadata, archive_status, body, delete_marker: false, ..Version::marker(s.now()) };
        s.write(bucket, key, v);
        s.buckets[bucket].current(key).expect("written").listed(key, true)
    }

    /// DeleteObject without a version: a delete marker on top in a versioned bucket, the object
    /// gone in an unversioned one.
    pub fn delete(&self, bucket: &str, key: &str) {
        let mut s = self.store();
        if !s.buckets.get(bucket).unwrap_or_else(|| panic!("no bucket {bucket}")).versioned {
            s.buckets.get_mut(bucket).expect("checked").keys.remove(key);
            return;
        }
        let marker = Version::marker(s.now());
        s.write(bucket, key, marker);
    }

    /// Every version and delete marker of the key, newest first.
    pub fn versions(&self, bucket: &str, key: &str) -> Vec<KeyVersion> {
        let s = self.store();
        let versions = s.buckets.get(bucket).and_then(|b| b.keys.get(key)).map(Vec::as_slice).unwrap_or_default();
        versions.iter().rev().enumerate().map(|(i, v)| v.listed(key, i == 0)).collect()
    }

    /// A version's user metadata.
    pub fn metadata(&self, bucket: &str, key: &str, version_id: &str) -> Option<BTreeMap<String, String>> {
        let s = self.store();
        s.buckets.get(bucket)?.keys.get(key)?.iter().find(|v| v.id == version_id).map(|v| v.metadata.clone())
    }

    /// A bucket's lifecycle rule moved a version to `class`.
    pub fn set_class(&self, bucket: &str, key: &str, version_id: &str, class: StorageClass) {
        let mut s = self.store();
        let versions = s.buckets.get_mut(bucket).and_then(|b| b.keys.get_mut(key));
        versions.into_iter().flatten().filter(|v| v.id == version_id).for_each(|v| v.class = class);
    }

    /// Puts the key under object lock: DeleteObjects fails for its versions.
    pub fn lock(&self, bucket: &str, key: &str) {
        self.store().buckets.get_mut(bucket).unwrap_or_else(|| panic!("no bucket {bucket}")).locked.insert(key.to_string());
    }

    /// The time S3 stamps writes and window extensions with (by default the clock's).
    pub fn set_now(&self, now: DateTime<Utc>) {
        self.store().now = Some(now);
    }

    /// S3 completes every restore in progress at `at`: each window ends `days` after, at the
    /// next midnight UTC. Returns how many completed.
    pub fn complete_restores(&self, at: DateTime<Utc>) -> usize {
        self.store().complete_restores(at)
    }

    /// S3 removes the restored copies whose window ended by `at`. Returns how many.
    pub fn expire_restores(&self, at: DateTime<Utc>) -> usize {
        self.store().expire_restores(at)
    }

    /// The multipart uploads neither completed nor aborted.
    pub fn uploads(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.store().uploads.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// The next `times` calls of `op` naming `key` fail as `fault` says. A listing names its
    /// prefix; a delete of versions names each of their keys.
    pub fn fail_next(&self, op: Op, key: &str, fault: Fault, times: usize) {
        self.store().faults.arm(op, key, fault, times);
    }

    /// Calls of `op` so far, failed ones included.
    pub fn requests(&self, op: Op) -> usize {
        self.store().faults.requests(op)
    }
}
