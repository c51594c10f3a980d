//! S3 event notification bodies as they arrive on SQS. Parsed into the few fields slm acts on and
//! validated; anything malformed is a validation error (the message ends in the DLQ).

use serde::Deserialize;
use slm_core::service::S3Change;
use slm_core::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// The s3:TestEvent S3 sends when a notification configuration is set.
    Test,
    Changes(Vec<S3Change>),
}

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "Records")]
    records: Option<Vec<Record>>,
    #[serde(rename = "Event")]
    event: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    event_name: String,
    event_time: Option<String>,
    s3: Entity,
    glacier_event_data: Option<GlacierEventData>,
}

#[derive(Deserialize)]
struct Entity {
    bucket: Bucket,
    object: Object,
}

#[derive(Deserialize)]
struct Bucket {
    name: String,
}

#[derive(Deserialize)]
struct Object {
    key: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GlacierEventData {
    restore_event_data: Option<RestoreEventData>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RestoreEventData {
    lifecycle_restoration_expiry_time: Option<String>,
}

/// S3 form-encodes keys in events: '+' is a space, the rest is percent-encoded.
fn decode_key(raw: &str) -> Result<String> {
    let spaced = raw.replace('+', " ");
    let key = urlencoding::decode(&spaced).map_err(|e| Error::validation(format!("event key {raw:?} is not valid UTF-8: {e}")))?;
    if key.is_empty() || key.len() > 1024 {
        return Err(Error::validation(format!("event key {raw:?} is empty or longer than 1024 bytes")));
    }
    Ok(key.into_owned())
}

pub fn parse_body(body: &str) -> Result<Notification> {
    let parsed: Body = serde_json::from_str(body).map_err(|e| Error::validation(format!("not an S3 event notification: {e}")))?;
    if parsed.event.as_deref() == Some("s3:TestEvent") {
        return Ok(Notification::Test);
    }
    let records = parsed.records.filter(|r| !r.is_empty()).ok_or_else(|| Error::validation("S3 notification without Records"))?;
    records.into_iter().map(change).collect::<Result<Vec<_>>>().map(Notification::Changes)
}

fn change(r: Record) -> Result<S3Change> {
    let bucket = r.s3.bucket.name;
    let key = decode_key(&r.s3.object.key)?;
    if bucket.is_empty() {
        return Err(Error::validation("S3 event without a bucket name"));
    }
    Ok(match r.event_name.as_str() {
        "ObjectRestore:Completed" => S3Change::RestoreCompleted {
            bucket,
            key,
            expiry: r.glacier_event_data.and_then(|g| g.restore_event_data).and_then(|d| d.lifecycle_restoration_expiry_time),
            at: r.event_time,
        },
        "ObjectRestore:Delete" => S3Change::RestoreExpired { bucket, key },
        name if name.starts_with("ObjectCreated:") => S3Change::Created { bucket, key, at: r.event_time },
        name => S3Change::Other { name: name.to_string(), bucket, key },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_event_is_a_restore_completion_with_its_expiry() {
        let sqs: serde_json::Value = serde_json::from_str(include_str!("../../../events/completion.json")).unwrap();
        let body = sqs["Records"][0]["body"].as_str().unwrap();
        let Notification::Changes(changes) = parse_body(body).unwrap() else { panic!("not changes") };
        assert_eq!(
            changes,
            vec![S3Change::RestoreCompleted {
                bucket: "studio-media".into(),
                key: "show-1/camera/A001 C002/frame_0001.ari".into(),
                expiry: Some("2026-12-04T00:00:00.000Z".into()),
                at: Some("2026-11-27T03:12:44.000Z".into()),
            }]
        );
    }

    #[test]
    fn object_created_events_of_every_kind_are_creations() {
        for name in ["ObjectCreated:Put", "ObjectCreated:CompleteMultipartUpload", "ObjectCreated:Post"] {
            let body = format!(r#"{{"Records":[{{"eventName":"{name}","eventTime":"2026-11-26T10:00:00.000Z","s3":{{"bucket":{{"name":"b"}},"object":{{"key":"t%2Fcam%2Fa1%2Ff.ari"}}}}}}]}}"#);
            let Notification::Changes(c) = parse_body(&body).unwrap() else { panic!("not changes") };
            assert_eq!(c, vec![S3Change::Created { bucket: "b".into(), key: "t/cam/a1/f.ari".into(), at: Some("2026-11-26T10:00:00.000Z".into()) }], "{name}");
        }
    }

    #[test]
    fn keys_are_form_decoded_including_encoded_slashes() {
        assert_eq!(decode_key("dir%2Fsub%2Ffile+name.txt").unwrap(), "dir/sub/file name.txt");
        assert_eq!(decode_key("unicod%C3%A9.bin").unwrap(), "unicodé.bin");
    }

    #[test]
    fn the_test_event_is_recognised() {
        let body = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-26T06:00:00Z","Bucket":"b"}"#;
        assert_eq!(parse_body(body).unwrap(), Notification::Test);
    }

    #[test]
    fn bodies_that_are_not_s3_events_are_refused_with_a_reason() {
        for body in ["not json", "{}", r#"{"Records":[]}"#, r#"{"Records":[{"eventName":"x"}]}"#] {
            let err = parse_body(body).unwrap_err();
            assert_eq!(err.kind(), slm_core::ErrorKind::Validation, "{body}");
        }
    }

    #[test]
    fn undecodable_keys_are_refused() {
        assert!(decode_key("%FF%FE").is_err());
        assert!(decode_key("").is_err());
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any body is an event or a validation error; decoded keys are never empty or long.
            #[test]
            fn fuzz_any_body_is_an_event_or_refused(body in any::<String>()) {
                if let Err(e) = parse_body(&body) {
                    prop_assert_eq!(e.kind(), slm_core::ErrorKind::Validation);
                }
            }

            #[test]
            fn fuzz_event_shaped_bodies_with_odd_names_and_keys(name in "(ObjectCreated|ObjectRestore|ObjectRemoved|x):[A-Za-z]{0,12}", key in any::<String>(), bucket in any::<String>(), time in any::<String>()) {
                let body = serde_json::json!({"Records": [{"eventName": name, "eventTime": time,
                    "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]}).to_string();
                match parse_body(&body) {
                    Ok(Notification::Changes(changes)) => {
                        for c in changes {
                            let (S3Change::Created { key, .. } | S3Change::RestoreCompleted { key, .. } | S3Change::RestoreExpired { key, .. } | S3Change::Other { key, .. }) = c;
                            prop_assert!(!key.is_empty() && key.len() <= 1024);
                        }
                    }
                    Ok(Notification::Test) => prop_assert!(false, "not a test event"),
                    Err(e) => prop_assert_eq!(e.kind(), slm_core::ErrorKind::Validation),
                }
            }
        }
    }
}
