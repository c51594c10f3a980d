//! What the emulator lacks of S3 Intelligent-Tiering's archive tiers, filled in on the local
//! stack's SDK clients so that slm's own code has no emulator branch. moto keeps no access tier:
//! HeadObject never says `x-amz-archive-status`, and CopyObject copies any object. An object
//! whose user metadata carries `slm-local-archive-status` (ARCHIVE_ACCESS or DEEP_ARCHIVE_ACCESS)
//! is answered as S3 answers one in that tier: its HEAD says so, and a copy of it (CopyObject,
//! UploadPartCopy) is refused with 403 InvalidObjectState (the emulator, which would copy it, is
//! sent a harmless HEAD instead).

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut};
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The user metadata that puts an object in an archive tier on the local stack.
pub const METADATA_KEY: &str = "slm-local-archive-status";

/// The interceptor. A copy names only its source, so the tier of a source comes from its last
/// HEAD through the same clients: slm reads every object before it copies it, as a caller
/// checking an object's tier on AWS would.
#[derive(Debug, Clone, Default)]
pub struct ArchiveTiers {
    /// "bucket/key" -> the tier its last HEAD reported.
    tiers: Arc<Mutex<HashMap<String, String>>>,
}

/// The object a request names, kept for its response.
#[derive(Debug, Clone)]
struct Named(String);

impl Storable for Named {
    type Storer = StoreReplace<Self>;
}

/// A copy refused for its source's tier.
#[derive(Debug, Clone)]
struct Refused(String);

impl Storable for Refused {
    type Storer = StoreReplace<Self>;
}

impl Intercept for ArchiveTiers {
    fn name(&self) -> &'static str {
        "slm-local-archive-tiers"
    }

    fn modify_before_transmit(&self, context: &mut BeforeTransmitInterceptorContextMut<'_>, _: &RuntimeComponents, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        let request = context.request_mut();
        cfg.interceptor_state().store_put(Named(object_of_uri(request.uri())));
        let source = request.headers().get("x-amz-copy-source").map(object_of_source);
        let tier = source.and_then(|s| self.tiers.lock().expect("tiers lock").get(&s).cloned());
        if let Some(tier) = tier {
            let object = request.uri().split('?').next().unwrap_or_default().to_string();
            request.set_method("HEAD")?;
            request.set_uri(object)?;
            request.headers_mut().remove("x-amz-copy-source");
            cfg.interceptor_state().store_put(Refused(tier));
        }
        Ok(())
    }

    fn modify_before_deserialization(&self, context: &mut BeforeDeserializationInterceptorContextMut<'_>, _: &RuntimeComponents, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        let response = context.response_mut();
        if let Some(Refused(tier)) = cfg.load::<Refused>() {
            *response = invalid_object_state(tier);
            return Ok(());
        }
        let (Some(Named(object)), Some(operation)) = (cfg.load::<Named>(), cfg.load::<Metadata>()) else {
            return Ok(());
        };
        if operation.name() == "HeadObject" && response.status().is_success() {
            let mut tiers = self.tiers.lock().expect("tiers lock");
            match response.headers().get(format!("x-amz-meta-{METADATA_KEY}")).map(str::to_string) {
                Some(tier) => {
                    response.headers_mut().insert("x-amz-archive-status", tier.clone());
                    tiers.insert(object.clone(), tier);
                }
                None => {
                    tiers.remove(object);
                }
            }
        }
        Ok(())
    }
}

/// S3's answer to a copy of an object in an archive tier.
fn invalid_object_state(tier: &str) -> HttpResponse {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidObjectState</Code>\
         <Message>The operation is not valid for the object's access tier</Message>\
         <StorageClass>INTELLIGENT_TIERING</StorageClass><AccessTier>{tier}</AccessTier>\
         <RequestId>slm-local</RequestId><HostId>slm-local</HostId></Error>"
    );
    let mut response = HttpResponse::new(StatusCode::try_from(403).expect("a status"), SdkBody::from(body));
    response.headers_mut().insert("content-type", "application/xml");
    response
}

/// "bucket/key" of a path-style request URI (the local stack's clients address buckets by path).
fn object_of_uri(uri: &str) -> String {
    let path = uri.split_once("://").map_or(uri, |(_, rest)| rest.find('/').map_or("", |i| &rest[i..]));
    decoded(path)
}

/// "bucket/key" of a CopySource ("bucket/key?versionId=v", URL-encoded).
fn object_of_source(source: &str) -> String {
    decoded(source)
}

/// The path without its query, URL-decoded, without its leading slash.
fn decoded(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let path = urlencoding::decode(path).map(|p| p.into_owned()).unwrap_or_else(|_| path.to_string());
    path.trim_start_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_and_a_copy_source_name_the_same_object() {
        let uri = "http://127.0.0.1:5140/media-x/show/a%20b/f%2B1.exr?versionId=v1";
        assert_eq!(object_of_uri(uri), "media-x/show/a b/f+1.exr");
        assert_eq!(object_of_source("media-x/show/a%20b/f%2B1.exr?versionId=v1"), "media-x/show/a b/f+1.exr");
        assert_eq!(object_of_source("/media-x/k"), "media-x/k");
    }
}
