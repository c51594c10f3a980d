//! Multipart copies in the in-memory object store: an upload keeps the parts copied so far,
//! and completing it writes the new version.

use super::store::{Store, Version, etag_of, not_copied};
use crate::domain::multipart::{MIN_PART, Part, plan_parts};
use crate::domain::{FileRecord, StorageClass};
use crate::ports::{CopyProgress, CopyStart, ObjectError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// An upload under way: what it will write, and the parts copied so far by number.
#[derive(Debug, Clone)]
pub(super) struct Upload {
    bucket: String,
    key: String,
    class: StorageClass,
    /// Set from the source when the upload began, as the adapter does (an upload copies none).
    metadata: BTreeMap<String, String>,
    body: Option<Arc<[u8]>>,
    /// Each part's ETag and size.
    parts: BTreeMap<i32, (String, u64)>,
}

fn invalid_size(size: u64) -> ObjectError {
    ObjectError::Permanent { code: "InvalidSize".into(), message: format!("{size} bytes cannot be copied in parts") }
}

fn len(p: &Part) -> u64 {
    p.last - p.first + 1
}

impl Store {
    /// CreateMultipartUpload after the adapter's checks (the registered version current, a copy
    /// needed). It reads nothing of the source's content: an archived source fails its parts.
    pub(super) fn start_upload(&mut self, file: &FileRecord, class: StorageClass) -> Result<CopyStart, ObjectError> {
        if plan_parts(file.size, MIN_PART).is_none() {
            return Err(invalid_size(file.size));
        }
        let head = self.registered(file)?;
        if let Some(not) = not_copied(file, head, class) {
            return Ok(CopyStart::Nothing(not));
        }
        let upload = Upload {
            bucket: file.bucket.clone(),
            key: file.key.clone(),
            class,
            metadata: head.metadata.clone(),
            body: head.body.clone(),
            parts: BTreeMap::new(),
        };
        let id = self.new_id("upload-");
        self.uploads.insert(id.clone(), upload);
        Ok(CopyStart::Upload(id))
    }

    /// Copies the parts the upload lacks (none after `stop_at` but the first), then completes it.
    pub(super) fn continue_upload(&mut self, file: &FileRecord, upload_id: &str, part_bytes: u64, stop_at: Option<Instant>) -> Result<CopyProgress, ObjectError> {
        let parts = plan_parts(file.size, part_bytes).ok_or_else(|| invalid_size(file.size))?;
        // An upload id names an upload of one key: of another, S3 says NoSuchUpload.
        let Some(upload) = self.uploads.get(upload_id).filter(|u| u.bucket == file.bucket && u.key == file.key) else {
            return Ok(CopyProgress::Gone);
        };
        if upload.parts.iter().any(|(n, (_, size))| parts.iter().find(|p| p.number == *n).is_none_or(|p| len(p) != *size)) {
            return Err(ObjectError::Permanent { code: "PartsMismatch".into(), message: format!("upload {upload_id} holds parts of another size") });
        }
        let missing: Vec<Part> = parts.iter().copied().filter(|p| !upload.parts.contains_key(&p.number)).collect();
        for (i, p) in missing.iter().enumerate() {
            if i > 0 && stop_at.is_some_and(|t| Instant::now() >= t) {
                break;
            }
            // UploadPartCopy reads the registered version, If-Match its ETag.
            self.source(file)?;
            let etag = etag_of(format!("{upload_id}#{}", p.number).as_bytes());
            self.uploads.get_mut(upload_id).expect("found").parts.insert(p.number, (etag, len(p)));
        }
        let done = self.uploads[upload_id].parts.len();
        if done < parts.len() {
            return Ok(CopyProgress::Unfinished { parts_done: done, parts: parts.len() });
        }
        let upload = self.uploads.remove(upload_id).expect("found");
        // A multipart ETag: a digest of the parts' ETags, and their count.
        let etags: String = upload.parts.values().map(|(e, _)| e.as_str()).collect();
        let etag = format!("\"{}-{done}\"", etag_of(etags.as_bytes()).trim_matches('"'));
        let copy = Version {
            id: String::new(),
            etag,
            size: upload.parts.values().map(|(_, s)| s).sum(),
            class: upload.class,
            last_modified: self.now(),
            restore: None,
            archive_status: None,
            metadata: upload.metadata,
            body: upload.body,
            delete_marker: false,
        };
        Ok(CopyProgress::Done(self.copied(file, copy)))
    }

    /// AbortMultipartUpload; an upload S3 does not know is aborted already.
    pub(super) fn abort_upload(&mut self, file: &FileRecord, upload_id: &str) {
        if self.uploads.get(upload_id).is_some_and(|u| u.bucket == file.bucket && u.key == file.key) {
            self.uploads.remove(upload_id);
        }
    }
}

