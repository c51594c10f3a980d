//! S3 events as they arrive on the S3-events queue, in either of S3's two shapes: an event
//! notification (`Records`, from a bucket's queue configuration) or an EventBridge event
//! (`detail-type`, from the stack's rule, for a bucket whose own notification rules overlap
//! slm's). Parsed into the few fields slm acts on and validated; anything malformed is a
//! validation error (the message ends in the DLQ).

use aws_lambda_events::eventbridge::EventBridgeEvent;
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

#[derive(Deserialize, serde::Serialize)]
struct Bucket {
    name: String,
}

#[derive(Deserialize, serde::Serialize)]
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

/// The `detail` of S3's EventBridge events: the fields slm reads.
#[derive(Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
struct Detail {
    bucket: Bucket,
    object: Object,
    restore_expiry_time: Option<String>,
}

/// S3's EventBridge events: `Object Restore Completed` (with `restore-expiry-time`), `Object
/// Restore Expired`, `Object Created`. Their keys are the keys themselves, not form-encoded.
fn parse_event_bridge(body: &str) -> Result<Notification> {
    let event: EventBridgeEvent<Detail> = serde_json::from_str(body).map_err(|e| Error::validation(format!("not an S3 EventBridge event: {e}")))?;
    if event.source != "aws.s3" {
        return Err(Error::validation(format!("an EventBridge event from {:?}, not aws.s3", event.source)));
    }
    let Detail { bucket: Bucket { name: bucket }, object: Object { key }, restore_expiry_time } = event.detail;
    if bucket.is_empty() {
        return Err(Error::validation("S3 event without a bucket name"));
    }
    if key.is_empty() || key.len() > 1024 {
        return Err(Error::validation(format!("event key {key:?} is empty or longer than 1024 bytes")));
    }
    let at = event.time.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let change = match event.detail_type.as_str() {
        "Object Restore Completed" => S3Change::RestoreCompleted { bucket, key, expiry: restore_expiry_time, at },
        "Object Restore Expired" => S3Change::RestoreExpired { bucket, key },
        "Object Created" => S3Change::Created { bucket, key, at },
        other => S3Change::Other { name: other.to_string(), bucket, key },
    };
    Ok(Notification::Changes(vec![change]))
}

pub fn parse_body(body: &str) -> Result<Notification> {
    let value: serde_json::Value = serde_json::from_str(body).map_err(|e| Error::validation(format!("not an S3 event: {e}")))?;
    if value.get("detail-type").is_some() {
        return parse_event_bridge(body);
    }
    let parsed: Body = serde_json::from_value(value).map_err(|e| Error::validation(format!("not an S3 event notification: {e}")))?;
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

    /// The changes in the first record of a sample SQS event of events/.
    fn sample(sqs: &str) -> Vec<S3Change> {
        let sqs: serde_json::Value = serde_json::from_str(sqs).unwrap();
        let Notification::Changes(changes) = parse_body(sqs["Records"][0]["body"].as_str().unwrap()).unwrap() else { panic!("not changes") };
        changes
    }

    /// A restore completion of the samples' object, its key as `key`.
    fn completion(key: &str, expiry: &str) -> Vec<S3Change> {
        vec![S3Change::RestoreCompleted {
            bucket: "studio-media".into(),
            key: key.into(),
            expiry: Some(expiry.into()),
            at: Some("2026-11-27T03:12:44.000Z".into()),
        }]
    }

    #[test]
    fn the_sample_event_is_a_restore_completion_with_its_expiry() {
        assert_eq!(sample(include_str!("../../../events/completion.json")), completion("show-1/camera/A001 C002/frame_0001.ari", "2026-12-04T00:00:00.000Z"));
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
    fn the_event_bridge_sample_is_a_restore_completion_with_its_expiry_and_its_key_as_is() {
        let changes = sample(include_str!("../../../events/completion-eventbridge.json"));
        assert_eq!(changes, completion("show-1/camera/A001 C002/frame+0001.ari", "2026-12-04T00:00:00Z"));
    }

    #[test]
    fn event_bridge_expiries_creations_and_others_are_read() {
        let event = |detail_type: &str| {
            serde_json::json!({"version": "0", "id": "e", "detail-type": detail_type, "source": "aws.s3", "account": "123456789012",
                "time": "2026-11-26T10:00:00Z", "region": "us-east-1", "resources": ["arn:aws:s3:::b"],
                "detail": {"version": "0", "bucket": {"name": "b"}, "object": {"key": "t/cam/a1/f.ari", "size": 5, "etag": "x"}, "reason": "PutObject"}})
            .to_string()
        };
        let one = |detail_type: &str| match parse_body(&event(detail_type)).unwrap() {
            Notification::Changes(mut c) if c.len() == 1 => c.remove(0),
            other => panic!("{other:?}"),
        };
        assert_eq!(one("Object Restore Expired"), S3Change::RestoreExpired { bucket: "b".into(), key: "t/cam/a1/f.ari".into() });
        assert_eq!(one("Object Created"), S3Change::Created { bucket: "b".into(), key: "t/cam/a1/f.ari".into(), at: Some("2026-11-26T10:00:00.000Z".into()) });
        assert_eq!(one("Object Deleted"), S3Change::Other { name: "Object Deleted".into(), bucket: "b".into(), key: "t/cam/a1/f.ari".into() });
    }

    #[test]
    fn event_bridge_events_of_other_sources_or_without_a_key_are_refused() {
        let base = serde_json::json!({"detail-type": "Object Restore Completed", "source": "aws.s3",
            "detail": {"bucket": {"name": "b"}, "object": {"key": "k"}}});
        let mut other_source = base.clone();
        other_source["source"] = "aws.ec2".into();
        let mut no_key = base.clone();
        no_key["detail"]["object"]["key"] = "".into();
        let mut no_bucket = base.clone();
        no_bucket["detail"]["bucket"] = serde_json::json!({});
        let mut bad_time = base;
        bad_time["time"] = "yesterday".into();
        for body in [other_source, no_key, no_bucket, bad_time] {
            assert_eq!(parse_body(&body.to_string()).unwrap_err().kind(), slm_core::ErrorKind::Validation, "{body}");
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
