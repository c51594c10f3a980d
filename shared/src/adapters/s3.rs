//! The object store on S3: listing for registration, and the copy, restore and delete calls of
//! the workers. Every call on one object reports a per-object error the worker can record.

use super::{is_transient, sdk_error};
use crate::domain::multipart::{MIN_PART, Part, plan_parts};
use crate::domain::{FileRecord, RestoreTier, StorageClass};
use crate::error::{Error, Result};
use crate::domain::repair::KeyVersion;
use crate::ports::{Copied, CopyProgress, CopyStart, CurrentObject, NotCopied, ObjectError, ObjectStore, ObjectVersion, RestoreStarted};
use aws_sdk_s3::Client;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, GlacierJobParameters, MetadataDirective, ObjectIdentifier,
    RestoreRequest, ServerSideEncryption, TaggingDirective, Tier,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use futures::{StreamExt, TryStreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct S3Objects {
    client: Client,
}

impl S3Objects {
    pub fn new(client: Client) -> Self {
        S3Objects { client }
    }
}

fn object_error<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> ObjectError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if is_transient(&err) {
        return ObjectError::Transient(Error::retryable(operation, err));
    }
    // HEAD answers carry no body, so no code: name the error by its status.
    let status = err.raw_response().map(|r| r.status().as_u16());
    let by_status = match status {
        Some(412) => Some("PreconditionFailed"),
        Some(404) => Some("NoSuchKey"),
        Some(403) => Some("AccessDenied"),
        _ => None,
    };
    let (code, message) = match err.as_service_error() {
        Some(se) => (
            se.code().or(by_status).unwrap_or("Unknown").to_string(),
            se.message().unwrap_or(operation).to_string(),
        ),
        None => (by_status.unwrap_or("Unknown").to_string(), format!("{operation}: {err}")),
    };
    ObjectError::Permanent { code: friendly_code(&code), message }
}

/// Name the codes a file fails with by what they mean here.
pub(crate) fn friendly_code(code: &str) -> String {
    match code {
        "PreconditionFailed" => "PreconditionFailed (the object changed since it was registered)".to_string(),
        // HEAD says NotFound where GET and COPY say NoSuchKey: one name for one meaning.
        "NotFound" | "NoSuchKey" => "NoSuchKey (the object is gone)".to_string(),
        "InvalidObjectState" => "InvalidObjectState (the object is archived or not in a restorable class)".to_string(),
        other => other.to_string(),
    }
}

/// `bucket/key?versionId=v`, URL-encoded as CopySource wants it (slashes kept).
fn copy_source(file: &FileRecord) -> String {
    let key: Vec<String> = file.key.split('/').map(|p| urlencoding::encode(p).into_owned()).collect();
    let mut src = format!("{}/{}", file.bucket, key.join("/"));
    if file.version_id != "null" {
        src.push_str("?versionId=");
        src.push_str(&urlencoding::encode(&file.version_id));
    }
    src
}

fn version_arg(version_id: &str) -> Option<String> {
    (version_id != "null").then(|| version_id.to_string())
}

fn s3_class(class: StorageClass) -> aws_sdk_s3::types::StorageClass {
    aws_sdk_s3::types::StorageClass::from(class.as_str())
}

/// Captures the HTTP status of one call: RestoreObject answers 202 for a new restore and 200
/// when the object is already restored, and the SDK output does not say which.
#[derive(Debug, Clone, Default)]
struct StatusCapture(Arc<AtomicU16>);

impl Intercept for StatusCapture {
    fn name(&self) -> &'static str {
        "slm-status-capture"
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let Some(resp) = context.response() {
            self.0.store(resp.status().as_u16(), Ordering::Relaxed);
        }
        Ok(())
    }
}

impl ObjectStore for S3Objects {
    async fn versions_after(&self, bucket: &str, prefix: &str, after: Option<&str>, max_keys: usize) -> Result<(Vec<KeyVersion>, bool)> {
        let page = self
            .client
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(after.map(str::to_string))
            .max_keys(max_keys.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(|e| sdk_error("list object versions", e))?;
        let mut out = Vec::new();
        for v in page.versions() {
            out.push(KeyVersion {
                key: v.key().unwrap_or_default().to_string(),
                version_id: v.version_id().unwrap_or("null").to_string(),
                etag: v.e_tag().unwrap_or_default().to_string(),
                size: v.size().unwrap_or(0).max(0) as u64,
                storage_class: StorageClass::from_s3(v.storage_class().map(|c| c.as_str()))?,
                latest: v.is_latest() == Some(true),
                delete_marker: false,
                last_modified: time(v.last_modified()),
            });
        }
        for m in page.delete_markers() {
            out.push(KeyVersion {
                key: m.key().unwrap_or_default().to_string(),
                version_id: m.version_id().unwrap_or("null").to_string(),
                etag: String::new(),
                size: 0,
                storage_class: StorageClass::Standard,
                latest: m.is_latest() == Some(true),
                delete_marker: true,
                last_modified: time(m.last_modified()),
            });
        }
        out.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
        Ok((out, page.is_truncated() == Some(true)))
    }

    async fn read_range(&self, bucket: &str, key: &str, start: u64, len: u64) -> Result<(Vec<u8>, u64)> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .range(format!("bytes={start}-{}", start + len.max(1) - 1))
            .send()
            .await;
        let out = match out {
            Ok(o) => o,
            // Reading at the end of an object (or an empty one): nothing left.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => return Ok((vec![], start)),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                return Err(Error::validation(format!("s3://{bucket}/{key} does not exist")));
            }
            Err(e) => return Err(sdk_error("read object", e)),
        };
        // "bytes 0-99/1234": the total after the slash.
        let total = out.content_range().and_then(|r| r.rsplit('/').next()).and_then(|t| t.parse().ok()).unwrap_or(start + out.content_length().unwrap_or(0).max(0) as u64);
        let body = out.body.collect().await.map_err(|e| Error::retryable("read object body", e))?.into_bytes().to_vec();
        Ok((body, total))
    }

    async fn head_current(&self, bucket: &str, key: &str) -> Result<Option<KeyVersion>> {
        let res = self.client.head_object().bucket(bucket).key(key).send().await;
        let head = match res {
            Ok(h) => h,
            Err(e) if e.raw_response().is_some_and(|r| matches!(r.status().as_u16(), 404 | 405)) => return Ok(None),
            Err(e) => return Err(sdk_error("read object", e)),
        };
        Ok(Some(KeyVersion {
            key: key.to_string(),
            version_id: head.version_id().unwrap_or("null").to_string(),
            etag: head.e_tag().unwrap_or_default().to_string(),
            size: head.content_length().unwrap_or(0).max(0) as u64,
            storage_class: StorageClass::from_s3(head.storage_class().map(|c| c.as_str()))?,
            latest: true,
            delete_marker: false,
            last_modified: time(head.last_modified()),
        }))
    }

    async fn restored_until(&self, file: &FileRecord) -> Result<Option<String>, ObjectError> {
        let head = self
            .client
            .head_object()
            .bucket(&file.bucket)
            .key(&file.key)
            .set_version_id(version_arg(&file.version_id))
            .send()
            .await
            .map_err(|e| object_error("read restore status", e))?;
        Ok(head.restore().and_then(parse_restore_header))
    }

    async fn list_latest(&self, bucket: &str, prefix: &str) -> Result<Vec<KeyVersion>> {
        let pages = self.version_pages(bucket, prefix).await.map_err(|e| match e {
            ObjectError::Transient(e) => e,
            ObjectError::Permanent { code, message } => Error::validation(format!("cannot list s3://{bucket}/{prefix}: {code}: {message}")),
        })?;
        let mut out = Vec::new();
        let mut deleted = std::collections::HashSet::new();
        for page in &pages {
            for v in page.versions().iter().filter(|v| v.is_latest() == Some(true)) {
                out.push(KeyVersion {
                    key: v.key().unwrap_or_default().to_string(),
                    version_id: v.version_id().unwrap_or("null").to_string(),
                    size: v.size().unwrap_or(0).max(0) as u64,
                    etag: v.e_tag().unwrap_or_default().to_string(),
                    storage_class: StorageClass::from_s3(v.storage_class().map(|c| c.as_str()))?,
                    latest: true,
                    delete_marker: false,
                    last_modified: time(v.last_modified()),
                });
            }
            // A key whose latest version is a delete marker is deleted: it is not registered.
            deleted.extend(page.delete_markers().iter().filter(|m| m.is_latest() == Some(true)).filter_map(|m| m.key()));
        }
        out.retain(|o| !deleted.contains(o.key.as_str()));
        Ok(out)
    }

    async fn copy_to_class(&self, file: &FileRecord, class: StorageClass) -> Result<Copied, ObjectError> {
        // A copy is not idempotent in a versioned bucket: one applied whose answer was lost (a
        // 5xx or a reset after S3 acted) and sent again makes a second new version, the first
        // left billing as a superseded copy. So each copy is sent once, and before it is sent
        // again the registered version is read again: if a copy was applied, the registered
        // version is no longer current, the read fails as PreconditionFailed, and the caller
        // finds the copy its own.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.copy_once(file, class).await {
                Err(ObjectError::Transient(e)) if attempt < super::aws::RETRY_ATTEMPTS => {
                    tracing::info!(key = %file.key, attempt, error = %e.chain(), "copy failed; the object is read again before another");
                    tokio::time::sleep(crate::pace::jittered_backoff(attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn start_multipart_copy(&self, file: &FileRecord, class: StorageClass) -> Result<CopyStart, ObjectError> {
        if plan_parts(file.size, MIN_PART).is_none() {
            return Err(ObjectError::Permanent { code: "InvalidSize".into(), message: format!("{} bytes cannot be copied in parts", file.size) });
        }
        // A multipart upload does not copy metadata or tags: read them and set them explicitly.
        let head = self.head_registered(file).await?;
        if let Some(not) = not_copied(file, &head, class) {
            return Ok(CopyStart::Nothing(not));
        }
        let tags = self
            .client
            .get_object_tagging()
            .bucket(&file.bucket)
            .key(&file.key)
            .set_version_id(version_arg(&file.version_id))
            .send()
            .await
            .map_err(|e| object_error("read object tags", e))?;
        let tagging: Vec<String> = tags
            .tag_set()
            .iter()
            .map(|t| format!("{}={}", urlencoding::encode(t.key()), urlencoding::encode(t.value())))
            .collect();
        let kept = KeptEncryption::of(&head);
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(&file.bucket)
            .key(&file.key)
            .storage_class(s3_class(class))
            .set_metadata(head.metadata().cloned())
            .set_content_type(head.content_type().map(str::to_string))
            .set_content_encoding(head.content_encoding().map(str::to_string))
            .set_content_disposition(head.content_disposition().map(str::to_string))
            .set_content_language(head.content_language().map(str::to_string))
            .set_cache_control(head.cache_control().map(str::to_string))
            .set_server_side_encryption(kept.algorithm)
            .set_ssekms_key_id(kept.kms_key)
            .set_bucket_key_enabled(kept.bucket_key)
            .set_tagging((!tagging.is_empty()).then(|| tagging.join("&")))
            .send()
            .await
            .map_err(|e| object_error("start multipart copy", e))?;
        let upload_id = upload.upload_id().filter(|u| !u.is_empty()).ok_or_else(|| ObjectError::Permanent {
            code: "InvalidResponse".into(),
            message: "CreateMultipartUpload answered no upload id".into(),
        })?;
        Ok(CopyStart::Upload(upload_id.to_string()))
    }

    async fn continue_multipart_copy(&self, file: &FileRecord, upload_id: &str, part_bytes: u64, stop_at: Option<Instant>) -> Result<CopyProgress, ObjectError> {
        let parts = plan_parts(file.size, part_bytes).ok_or_else(|| ObjectError::Permanent {
            code: "InvalidSize".into(),
            message: format!("{} bytes cannot be copied in parts", file.size),
        })?;
        let Some(mut done) = self.uploaded_parts(file, upload_id).await? else { return Ok(CopyProgress::Gone) };
        // Parts of another plan (the part size changed since the upload began) cannot be mixed.
        if done.iter().any(|p| parts.iter().find(|q| q.number == p.0).is_none_or(|q| q.last - q.first + 1 != p.2)) {
            return Err(ObjectError::Permanent { code: "PartsMismatch".into(), message: format!("upload {upload_id} holds parts of another size") });
        }
        let missing: Vec<_> = parts.iter().copied().filter(|p| !done.iter().any(|d| d.0 == p.number)).collect();
        done.extend(self.copy_parts(file, upload_id, &missing, stop_at).await?);
        if done.len() < parts.len() {
            return Ok(CopyProgress::Unfinished { parts_done: done.len(), parts: parts.len() });
        }
        done.sort_by_key(|p| p.0);
        let completed: Vec<CompletedPart> = done.into_iter().map(|(n, etag, _)| CompletedPart::builder().part_number(n).e_tag(etag).build()).collect();
        let out = self
            .client
            .complete_multipart_upload()
            .bucket(&file.bucket)
            .key(&file.key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
            .send()
            .await;
        match out {
            Ok(out) => Ok(CopyProgress::Done(Copied { version_id: out.version_id().map(str::to_string), etag: out.e_tag().map(str::to_string), skipped: None })),
            Err(e) if e.as_service_error().and_then(|se| se.code()) == Some("NoSuchUpload") => Ok(CopyProgress::Gone),
            Err(e) => Err(object_error("complete multipart copy", e)),
        }
    }

    async fn abort_multipart_copy(&self, file: &FileRecord, upload_id: &str) -> Result<(), ObjectError> {
        let res = self.client.abort_multipart_upload().bucket(&file.bucket).key(&file.key).upload_id(upload_id).send().await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().and_then(|se| se.code()) == Some("NoSuchUpload") => Ok(()),
            Err(e) => Err(object_error("abort multipart copy", e)),
        }
    }

    async fn current_object(&self, file: &FileRecord) -> Result<Option<CurrentObject>, ObjectError> {
        let res = self.client.head_object().bucket(&file.bucket).key(&file.key).send().await;
        let head = match res {
            Ok(h) => h,
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => return Ok(None),
            Err(e) => return Err(object_error("read object", e)),
        };
        Ok(Some(CurrentObject {
            version_id: head.version_id().unwrap_or("null").to_string(),
            etag: head.e_tag().unwrap_or_default().to_string(),
            size: head.content_length().unwrap_or(0).max(0) as u64,
            storage_class: StorageClass::from_s3(head.storage_class().map(|c| c.as_str())).unwrap_or(StorageClass::Standard),
            last_modified: time(head.last_modified()),
        }))
    }

    async fn restore(&self, file: &FileRecord, days: u32, tier: RestoreTier) -> Result<RestoreStarted, ObjectError> {
        let request = RestoreRequest::builder()
            .days(days as i32)
            .glacier_job_parameters(
                GlacierJobParameters::builder().tier(Tier::from(tier.as_str())).build().map_err(|e| ObjectError::Permanent {
                    code: "InvalidRequest".into(),
                    message: e.to_string(),
                })?,
            )
            .build();
        let status = StatusCapture::default();
        let res = self
            .client
            .restore_object()
            .bucket(&file.bucket)
            .key(&file.key)
            .set_version_id(version_arg(&file.version_id))
            .restore_request(request)
            .customize()
            .interceptor(status.clone())
            .send()
            .await;
        match res {
            Ok(_) if status.0.load(Ordering::Relaxed) == 200 => Ok(RestoreStarted::AlreadyRestored),
            Ok(_) => Ok(RestoreStarted::InProgress),
            Err(e) if e.as_service_error().and_then(|se| se.code()) == Some("RestoreAlreadyInProgress") => Ok(RestoreStarted::InProgress),
            Err(e) => Err(object_error("restore object", e)),
        }
    }

    async fn versions_of(&self, bucket: &str, key: &str) -> Result<Vec<ObjectVersion>, ObjectError> {
        let mut out = Vec::new();
        for page in self.version_pages(bucket, key).await? {
            let versions = page.versions().iter().map(|v| (v.key(), v.version_id(), false));
            let markers = page.delete_markers().iter().map(|m| (m.key(), m.version_id(), true));
            // The prefix also matches longer keys ("a.exr" matches "a.exr.bak"): keep this key only.
            for (k, v, delete_marker) in versions.chain(markers) {
                if k == Some(key) {
                    out.push(ObjectVersion { key: key.to_string(), version_id: v.unwrap_or("null").to_string(), delete_marker });
                }
            }
        }
        Ok(out)
    }

    async fn delete_versions(&self, bucket: &str, versions: &[ObjectVersion]) -> Result<Vec<(ObjectVersion, String)>, ObjectError> {
        let mut failures = Vec::new();
        for chunk in versions.chunks(1000) {
            let objects = chunk
                .iter()
                // Always by version id, "null" too: without one, a versioned bucket would only get a
                // delete marker on top of the current version.
                .map(|v| ObjectIdentifier::builder().key(&v.key).version_id(&v.version_id).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ObjectError::Permanent { code: "InvalidRequest".into(), message: e.to_string() })?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| ObjectError::Permanent { code: "InvalidRequest".into(), message: e.to_string() })?;
            let out = self
                .client
                .delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| object_error("delete objects", e))?;
            for e in out.errors() {
                let v = ObjectVersion {
                    key: e.key().unwrap_or_default().to_string(),
                    version_id: e.version_id().unwrap_or("null").to_string(),
                    delete_marker: false,
                };
                failures.push((v, format!("{}: {}", e.code().unwrap_or("Unknown"), e.message().unwrap_or_default())));
            }
        }
        Ok(failures)
    }
}

/// The window's end from a completed restore's header (`ongoing-request="false",
/// expiry-date="Fri, 27 Nov 2026 00:00:00 GMT"`), as RFC 3339; None while it is ongoing.
fn parse_restore_header(header: &str) -> Option<String> {
    if !header.contains("ongoing-request=\"false\"") {
        return None;
    }
    let date = header.split("expiry-date=\"").nth(1)?.split('"').next()?;
    let end = chrono::DateTime::parse_from_rfc2822(date).ok()?;
    Some(end.with_timezone(&chrono::Utc).format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// No copy, when HEAD shows the object in the target class already or in a state S3 cannot
/// copy from.
fn not_copied(file: &FileRecord, head: &HeadObjectOutput, class: StorageClass) -> Option<Copied> {
    let reported = StorageClass::from_s3(head.storage_class().map(|c| c.as_str())).unwrap_or(file.storage_class);
    let skipped = match reported == class {
        true => NotCopied::InTargetClass,
        false => NotCopied::Blocked(reported.copy_blocked_by(head.archive_status().map(|s| s.as_str()))?),
    };
    Some(Copied { version_id: Some(file.version_id.clone()), etag: Some(file.etag.clone()), skipped: Some(skipped) })
}

/// The object's own encryption, which a copy names to keep: S3 gives a copy that names none
/// the bucket's default, so an SSE-S3 object in a bucket whose default is a KMS key would come
/// out under that key (readable only by those who may use it), and a KMS-encrypted one under
/// another key or none.
struct KeptEncryption {
    algorithm: Option<ServerSideEncryption>,
    kms_key: Option<String>,
    bucket_key: Option<bool>,
}

impl KeptEncryption {
    fn of(head: &HeadObjectOutput) -> Self {
        let kms = matches!(head.server_side_encryption(), Some(ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse));
        KeptEncryption {
            algorithm: head.server_side_encryption().cloned(),
            kms_key: kms.then(|| head.ssekms_key_id().map(str::to_string)).flatten(),
            bucket_key: kms.then_some(head.bucket_key_enabled()).flatten(),
        }
    }
}

impl S3Objects {
    /// One CopyObject of the registered version to `class`, after reading it (the SDK does not
    /// retry it: see `copy_to_class`).
    async fn copy_once(&self, file: &FileRecord, class: StorageClass) -> Result<Copied, ObjectError> {
        // CopyObject applies the bucket's default encryption unless told otherwise: read the
        // object's own (and check its ETag, which the copy's guard repeats) and copy with it.
        // The registry cannot hold it instead: UpdateObjectEncryption changes an object's
        // encryption in place, keeping its version and ETag (docs/architecture.md).
        let head = self.head_registered(file).await?;
        if let Some(not) = not_copied(file, &head, class) {
            return Ok(not);
        }
        let kept = KeptEncryption::of(&head);
        let out = self
            .client
            .copy_object()
            .bucket(&file.bucket)
            .key(&file.key)
            .copy_source(copy_source(file))
            .copy_source_if_match(&file.etag)
            .storage_class(s3_class(class))
            .metadata_directive(MetadataDirective::Copy)
            .tagging_directive(TaggingDirective::Copy)
            .set_server_side_encryption(kept.algorithm)
            .set_ssekms_key_id(kept.kms_key)
            .set_bucket_key_enabled(kept.bucket_key)
            .customize()
            .config_override(aws_sdk_s3::config::Builder::default().retry_config(aws_config::retry::RetryConfig::adaptive().with_max_attempts(1)))
            .send()
            .await
            .map_err(|e| object_error("copy object", e))?;
        Ok(Copied {
            version_id: out.version_id().map(str::to_string),
            etag: out.copy_object_result().and_then(|r| r.e_tag()).map(str::to_string),
            skipped: None,
        })
    }

    /// The object's metadata, only while the registered version is the current one with the
    /// registered ETag. In a versioned bucket, copying the registered version over a newer one
    /// would bring old content back: a newer version fails the file like a changed ETag does.
    async fn head_registered(&self, file: &FileRecord) -> Result<HeadObjectOutput, ObjectError> {
        let head = self
            .client
            .head_object()
            .bucket(&file.bucket)
            .key(&file.key)
            .if_match(&file.etag)
            .send()
            .await
            .map_err(|e| object_error("read object metadata", e))?;
        let current = head.version_id().unwrap_or("null");
        if current != file.version_id {
            return Err(ObjectError::Permanent {
                code: friendly_code("PreconditionFailed"),
                message: format!("version {current} replaced the registered version {}", file.version_id),
            });
        }
        Ok(head)
    }

    /// Every page of ListObjectVersions under a prefix.
    async fn version_pages(&self, bucket: &str, prefix: &str) -> Result<Vec<ListObjectVersionsOutput>, ObjectError> {
        let mut pages = Vec::new();
        let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| object_error("list object versions", e))?;
            let more = page.is_truncated() == Some(true);
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
            pages.push(page);
            if !more {
                return Ok(pages);
            }
        }
    }

    /// The parts an upload holds, as (number, ETag, size); None when S3 knows no such upload.
    async fn uploaded_parts(&self, file: &FileRecord, upload_id: &str) -> Result<Option<Vec<(i32, String, u64)>>, ObjectError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let res = self
                .client
                .list_parts()
                .bucket(&file.bucket)
                .key(&file.key)
                .upload_id(upload_id)
                .set_part_number_marker(marker.take())
                .send()
                .await;
            let page = match res {
                Ok(p) => p,
                Err(e) if e.as_service_error().and_then(|se| se.code()) == Some("NoSuchUpload") => return Ok(None),
                Err(e) => return Err(object_error("list copied parts", e)),
            };
            for p in page.parts() {
                if let (Some(n), Some(etag)) = (p.part_number(), p.e_tag()) {
                    out.push((n, etag.to_string(), p.size().unwrap_or(0).max(0) as u64));
                }
            }
            match (page.is_truncated(), page.next_part_number_marker()) {
                (Some(true), Some(next)) => marker = Some(next.to_string()),
                _ => return Ok(Some(out)),
            }
        }
    }

    /// Copies the parts, four at a time, starting none after `stop_at`; returns those copied.
    async fn copy_parts(&self, file: &FileRecord, upload_id: &str, parts: &[Part], stop_at: Option<Instant>) -> Result<Vec<(i32, String, u64)>, ObjectError> {
        let source = copy_source(file);
        let copied: Vec<Option<(i32, String, u64)>> = futures::stream::iter(parts.iter().copied())
            .enumerate()
            .map(|(i, p)| {
                let source = source.clone();
                async move {
                    // The first part always goes, so that every invocation moves the copy on.
                    if i > 0 && stop_at.is_some_and(|t| Instant::now() >= t) {
                        return Ok(None);
                    }
                    let out = self
                        .client
                        .upload_part_copy()
                        .bucket(&file.bucket)
                        .key(&file.key)
                        .upload_id(upload_id)
                        .part_number(p.number)
                        .copy_source(source)
                        .copy_source_range(p.range_header())
                        .copy_source_if_match(&file.etag)
                        .send()
                        .await
                        .map_err(|e| object_error("copy part", e))?;
                    let etag = out.copy_part_result().and_then(|r| r.e_tag()).unwrap_or_default().to_string();
                    Ok::<_, ObjectError>(Some((p.number, etag, p.last - p.first + 1)))
                }
            })
            .buffer_unordered(4)
            .try_collect()
            .await?;
        Ok(copied.into_iter().flatten().collect())
    }
}

/// How a bucket is connected to slm's S3-events queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// Read and keep the bucket's other notification configurations (an existing media
    /// bucket); without, slm's is the only one (a bucket created for slm, as on the local stack).
    pub keep_existing: bool,
    /// Register new objects as they arrive (ObjectCreated, placed by the key layout).
    pub register_new: bool,
    /// Days after which S3 aborts a multipart upload left incomplete (a copy whose task was
    /// given up): a lifecycle rule added beside the bucket's own, unless one already covers the
    /// whole bucket. None: no rule.
    pub abort_incomplete_uploads_days: Option<i32>,
}

/// The id of the lifecycle rule slm adds.
pub const ABORT_RULE_ID: &str = "slm-abort-incomplete-multipart-uploads";

/// Adds a rule aborting incomplete multipart uploads after `days`, keeping every rule the
/// bucket has (a lifecycle configuration is replaced whole). Nothing changes when an enabled
/// rule over the whole bucket already aborts them.
pub async fn ensure_abort_rule(client: &Client, bucket: &str, days: i32) -> Result<bool> {
    use aws_sdk_s3::types::{AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus, LifecycleRule, LifecycleRuleFilter};
    let current = client.get_bucket_lifecycle_configuration().bucket(bucket).send().await;
    let (mut rules, minimum_size) = match current {
        Ok(c) => (c.rules().to_vec(), c.transition_default_minimum_object_size().cloned()),
        Err(e) if e.as_service_error().and_then(|se| se.code()) == Some("NoSuchLifecycleConfiguration") => (Vec::new(), None),
        Err(e) => return Err(sdk_error("read bucket lifecycle rules", e)),
    };
    // Rules written before filters existed carry their prefix on the rule itself.
    #[allow(deprecated)]
    let whole_bucket = |r: &LifecycleRule| {
        let prefix = r.filter().and_then(|f| f.prefix()).or(r.prefix()).unwrap_or_default();
        let other_filters = r.filter().is_some_and(|f| f.tag().is_some() || f.and().is_some() || f.object_size_greater_than().is_some() || f.object_size_less_than().is_some());
        prefix.is_empty() && !other_filters
    };
    if rules.iter().any(|r| r.status() == &ExpirationStatus::Enabled && r.abort_incomplete_multipart_upload().is_some() && whole_bucket(r) && r.id() != Some(ABORT_RULE_ID)) {
        return Ok(false);
    }
    rules.retain(|r| r.id() != Some(ABORT_RULE_ID));
    rules.push(
        LifecycleRule::builder()
            .id(ABORT_RULE_ID)
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .abort_incomplete_multipart_upload(AbortIncompleteMultipartUpload::builder().days_after_initiation(days).build())
            .build()
            .map_err(|e| Error::dependency("build lifecycle rule", e))?,
    );
    let config = BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build().map_err(|e| Error::dependency("build lifecycle rules", e))?;
    client
        .put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(config)
        .set_transition_default_minimum_object_size(minimum_size)
        .send()
        .await
        .map_err(|e| sdk_error("set bucket lifecycle rules", e))?;
    Ok(true)
}

/// How a connected bucket's events reach slm's S3-events queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A queue configuration of slm's own (id [`NOTIFICATION_ID`]) beside the bucket's others.
    Direct,
    /// The bucket's EventBridge delivery, which the stack's `S3EventsRule` routes to the queue:
    /// S3 refuses a queue configuration that overlaps one of the bucket's own (a shared event
    /// type under overlapping prefixes and suffixes), named in `overlapping`; and a bucket that
    /// already sends to EventBridge would deliver each event twice.
    EventBridge { overlapping: Vec<String> },
}

/// The id of slm's queue configuration on a bucket.
pub const NOTIFICATION_ID: &str = "slm-events";

/// S3's event types overlap when equal or when one is a category's wildcard
/// (`s3:ObjectCreated:*`) and the other of that category.
pub fn event_types_overlap(a: &str, b: &str) -> bool {
    let (a, b) = (a.strip_prefix("s3:").unwrap_or(a), b.strip_prefix("s3:").unwrap_or(b));
    a == b || [(a, b), (b, a)].iter().any(|(wide, narrow)| wide.strip_suffix('*').is_some_and(|category| category.ends_with(':') && narrow.starts_with(category)))
}

/// Routes a bucket's restore (and, with `register_new`, object-created) events to slm's
/// S3-events queue, keeping the bucket's other configurations; says which way it chose.
pub async fn connect_bucket(client: &Client, bucket: &str, queue_arn: &str, how: Connection) -> Result<Delivery> {
    use aws_sdk_s3::operation::get_bucket_notification_configuration::GetBucketNotificationConfigurationOutput;
    use aws_sdk_s3::types::{Event, EventBridgeConfiguration, NotificationConfiguration, QueueConfiguration};
    let current = match how.keep_existing {
        true => client
            .get_bucket_notification_configuration()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| sdk_error("read bucket notifications", e))?,
        false => GetBucketNotificationConfigurationOutput::builder().build(),
    };
    // Only what the completion handler acts on. Not ObjectCreated:Copy: an archive is a copy
    // of every file and would flood the queue with events about registered keys; objects copied
    // in from elsewhere are registered by the reconciler's sweep instead.
    let mut events = vec!["s3:ObjectRestore:Completed", "s3:ObjectRestore:Delete"];
    if how.register_new {
        events.extend(["s3:ObjectCreated:Put", "s3:ObjectCreated:Post", "s3:ObjectCreated:CompleteMultipartUpload"]);
    }
    let mut queues: Vec<QueueConfiguration> = current.queue_configurations().iter().filter(|q| q.id() != Some(NOTIFICATION_ID)).cloned().collect();
    // slm's configuration has no filter, so it overlaps any other sharing an event type.
    let others = queues
        .iter()
        .map(|q| (q.id(), q.events()))
        .chain(current.topic_configurations().iter().map(|t| (t.id(), t.events())))
        .chain(current.lambda_function_configurations().iter().map(|l| (l.id(), l.events())));
    let overlapping: Vec<String> = others
        .filter(|(_, theirs)| theirs.iter().any(|e| events.iter().any(|ours| event_types_overlap(e.as_str(), ours))))
        .map(|(id, _)| id.unwrap_or("(no id)").to_string())
        .collect();
    let delivery = match overlapping.is_empty() && current.event_bridge_configuration().is_none() {
        true => Delivery::Direct,
        false => Delivery::EventBridge { overlapping },
    };
    let mut event_bridge = current.event_bridge_configuration().cloned();
    match delivery {
        Delivery::Direct => queues.push(
            QueueConfiguration::builder()
                .id(NOTIFICATION_ID)
                .queue_arn(queue_arn)
                .set_events(Some(events.into_iter().map(Event::from).collect()))
                .build()
                .map_err(|e| Error::dependency("build notification configuration", e))?,
        ),
        Delivery::EventBridge { .. } => {
            event_bridge.get_or_insert_with(|| EventBridgeConfiguration::builder().build());
        }
    }
    let config = NotificationConfiguration::builder()
        .set_queue_configurations(Some(queues))
        .set_topic_configurations(Some(current.topic_configurations().to_vec()))
        .set_lambda_function_configurations(Some(current.lambda_function_configurations().to_vec()))
        .set_event_bridge_configuration(event_bridge)
        .build();
    client
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(config)
        .send()
        .await
        .map_err(|e| sdk_error("set bucket notifications", e))?;
    if let Some(days) = how.abort_incomplete_uploads_days {
        ensure_abort_rule(client, bucket, days).await?;
    }
    Ok(delivery)
}

/// An S3 time as a chrono one.
fn time(t: Option<&aws_sdk_s3::primitives::DateTime>) -> Option<chrono::DateTime<chrono::Utc>> {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::FileState;

    fn file(key: &str, version: &str) -> FileRecord {
        FileRecord {
            asset_id: "a".into(),
            shard: 0,
            bucket: "media".into(),
            key: key.into(),
            version_id: version.into(),
            size: 1,
            etag: "\"e\"".into(),
            storage_class: StorageClass::Standard,
            state: FileState::Active,
        }
    }

    #[test]
    fn copy_source_encodes_each_segment_and_keeps_slashes() {
        assert_eq!(copy_source(&file("show 1/cam+a/ü.exr", "null")), "media/show%201/cam%2Ba/%C3%BC.exr");
    }

    #[test]
    fn a_completed_restore_header_gives_the_window_end() {
        let done = r#"ongoing-request="false", expiry-date="Fri, 27 Nov 2026 11:51:36 GMT""#;
        assert_eq!(parse_restore_header(done).as_deref(), Some("2026-11-27T11:51:36Z"));
        assert_eq!(parse_restore_header(r#"ongoing-request="true""#), None);
    }

    #[test]
    fn event_types_overlap_as_s3_reads_them() {
        for (a, b) in [("s3:ObjectCreated:*", "s3:ObjectCreated:Put"), ("s3:ObjectRestore:Completed", "s3:ObjectRestore:Completed"), ("s3:ObjectRestore:Delete", "s3:ObjectRestore:*")] {
            assert!(event_types_overlap(a, b), "{a} {b}");
        }
        for (a, b) in [("s3:ObjectCreated:*", "s3:ObjectRestore:Completed"), ("s3:ObjectRestore:Post", "s3:ObjectRestore:Completed"), ("s3:ObjectRemoved:*", "s3:ObjectRestore:Delete")] {
            assert!(!event_types_overlap(a, b), "{a} {b}");
        }
    }

    #[test]
    fn copy_source_names_the_registered_version() {
        assert_eq!(copy_source(&file("k", "v1")), "media/k?versionId=v1");
    }
}
