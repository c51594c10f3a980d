//! Notifications that coexist with a bucket's own: S3 refuses a configuration whose rules overlap
//! (a shared event type under overlapping prefixes and suffixes), so a bucket whose own rules
//! overlap slm's is connected through its EventBridge delivery and the stack's rule, keeping its
//! rules; a bucket whose rules leave room keeps a direct configuration.

use aws_sdk_s3::types::{
    Event, EventBridgeConfiguration, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration,
    S3KeyFilter,
};
use serde_json::{Value, json};
use slm_core::adapters::s3::{Connection, Delivery, NOTIFICATION_ID, connect_bucket};
use slm_e2e::{Defect, TestStack, stopped_by};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(180);

/// A queue configuration of the studio's own: `events` for keys under `prefix` ending in `suffix`.
fn rule(id: &str, queue_arn: &str, events: &[&str], prefix: &str, suffix: &str) -> QueueConfiguration {
    let rules: Vec<FilterRule> = [(FilterRuleName::Prefix, prefix), (FilterRuleName::Suffix, suffix)]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| FilterRule::builder().name(name).value(value).build())
        .collect();
    let filter = (!rules.is_empty()).then(|| NotificationConfigurationFilter::builder().key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build()).build());
    QueueConfiguration::builder()
        .id(id)
        .queue_arn(queue_arn)
        .set_events(Some(events.iter().map(|e| Event::from(*e)).collect()))
        .set_filter(filter)
        .build()
        .unwrap()
}

async fn put_rules(t: &TestStack, rules: Vec<QueueConfiguration>, event_bridge: bool) -> Result<(), String> {
    let config = NotificationConfiguration::builder()
        .set_queue_configurations(Some(rules))
        .set_event_bridge_configuration(event_bridge.then(|| EventBridgeConfiguration::builder().build()))
        .build();
    let out = t.clients.s3.put_bucket_notification_configuration().bucket(&t.bucket).notification_configuration(config).send().await;
    out.map(|_| ()).map_err(|e| format!("{:?} {:?}", e.as_service_error().and_then(|s| s.meta().code()), e.as_service_error().and_then(|s| s.meta().message())))
}

/// The bucket's configuration: its queue configurations' ids, and whether it sends to EventBridge.
async fn configuration(t: &TestStack) -> (Vec<String>, bool) {
    let c = t.clients.s3.get_bucket_notification_configuration().bucket(&t.bucket).send().await.unwrap();
    let mut ids: Vec<String> = c.queue_configurations().iter().filter_map(|q| q.id().map(str::to_string)).collect();
    ids.sort();
    (ids, c.event_bridge_configuration().is_some())
}

/// A queue of the studio's own (its transcode trigger's), with its ARN.
async fn studio_queue(t: &TestStack, name: &str) -> (String, String) {
    let url = t.clients.sqs.create_queue().queue_name(format!("{}-{name}", t.stack.prefix)).send().await.unwrap().queue_url().unwrap().to_string();
    let attrs = t.clients.sqs.get_queue_attributes().queue_url(&url).attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn).send().await.unwrap();
    let arn = attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    (url, arn)
}

/// Every S3 event record the queue holds, as (event name, key).
async fn records(t: &TestStack, url: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        let got = t.clients.sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.unwrap();
        if got.messages().is_empty() {
            return out;
        }
        for m in got.messages() {
            let body: Value = serde_json::from_str(m.body().unwrap_or_default()).unwrap();
            for r in body["Records"].as_array().into_iter().flatten() {
                let key = r["s3"]["object"]["key"].as_str().unwrap_or_default().replace('+', " ");
                out.push((r["eventName"].as_str().unwrap_or_default().to_string(), urlencoding::decode(&key).unwrap().into_owned()));
            }
            t.clients.sqs.delete_message().queue_url(url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bucket_whose_own_rules_overlap_is_connected_by_event_bridge_and_a_restore_completes_through_it() {
    if stopped_by("a_bucket_whose_own_rules_overlap_is_connected_by_event_bridge_and_a_restore_completes_through_it", &[Defect::OverlappingNotificationsAccepted]).await.unwrap() {
        return;
    }
    // GIVEN a bucket connected to slm directly, and a studio whose transcode trigger takes new
    // .mov files under show/ and whose operations queue hears of every completed restore
    let t = TestStack::start("bridged").await.unwrap();
    let (studio_url, studio_arn) = studio_queue(&t, "studio").await;
    let studio = || {
        vec![
            rule("transcode", &studio_arn, &["s3:ObjectCreated:*"], "show/", ".mov"),
            rule("ops-restores", &studio_arn, &["s3:ObjectRestore:Completed"], "", ""),
        ]
    };

    // WHEN the studio adds its rules beside slm's, THEN S3 (and the local stack) refuses them and
    // the bucket's configuration is unchanged
    let mut beside = studio();
    beside.extend(t.clients.s3.get_bucket_notification_configuration().bucket(&t.bucket).send().await.unwrap().queue_configurations().to_vec());
    let refused = put_rules(&t, beside, false).await.unwrap_err();
    assert!(refused.contains("InvalidArgument") && refused.contains("Configurations overlap"), "{refused}");
    assert_eq!(configuration(&t).await, (vec![NOTIFICATION_ID.to_string()], false));

    // WHEN the bucket has only the studio's rules, and slm connects it (twice)
    put_rules(&t, studio(), false).await.unwrap();
    let queue = t.stack.queue("S3EventsQueue").unwrap().arn.clone();
    let how = Connection { keep_existing: true, register_new: true, abort_incomplete_uploads_days: Some(7) };
    let first = connect_bucket(&t.clients.s3, &t.bucket, &queue, how).await.unwrap();
    let second = connect_bucket(&t.clients.s3, &t.bucket, &queue, how).await.unwrap();

    // THEN it goes by EventBridge, naming the rules that overlap, and the studio's rules stay
    assert_eq!(first, Delivery::EventBridge { overlapping: vec!["transcode".into(), "ops-restores".into()] });
    assert_eq!(second, first);
    assert_eq!(configuration(&t).await, (vec!["ops-restores".to_string(), "transcode".to_string()], true));

    // WHEN new objects arrive (a space and a plus in their names, which S3 form-encodes in its
    // notifications and EventBridge does not), they are archived and restored
    let keys: Vec<String> = ["clip 1.mov", "clip+2.mov", "notes.txt"].iter().map(|k| format!("show/camera_original/A1/{k}")).collect();
    for key in &keys {
        t.clients.s3.put_object().bucket(&t.bucket).key(key).body(vec![7u8; 32].into()).send().await.unwrap();
    }
    t.wait_idle(&["S3EventsQueue"], WAIT).await.unwrap();
    let asset = t.api_ok("GET", "/assets/A1", None).await.unwrap();
    assert_eq!((asset["asset_type"].as_str(), asset["file_count"].as_u64()), (Some("camera_original"), Some(3)), "registered from its EventBridge events: {asset}");
    let archive = t.request("A1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "a"})).await.unwrap();
    assert_eq!(t.wait_task(&archive, WAIT).await.unwrap()["status"], "SUCCEEDED");
    let restore = t.request("A1", json!({"action": "restore", "days": 3, "tier": "Standard", "request_id": "r"})).await.unwrap();
    let headers = t.complete_restores("A1", &restore, WAIT).await.unwrap();
    let task = t.wait_task(&restore, WAIT).await.unwrap();

    // THEN the restore completes through EventBridge, each file with the window S3 reported
    assert_eq!((task["status"].as_str(), task["counters"]["succeeded"].as_u64()), (Some("SUCCEEDED"), Some(3)), "{task}");
    let files = t.file_items("A1").await.unwrap();
    for key in &keys {
        let header = headers[key].as_deref().unwrap_or_default();
        let reported = chrono::DateTime::parse_from_rfc2822(header.split("expiry-date=\"").nth(1).unwrap().trim_end_matches('"')).unwrap();
        let recorded = chrono::DateTime::parse_from_rfc3339(&files[key]["restore_expiry"]).unwrap();
        assert_eq!((files[key]["file_state"].as_str(), recorded), ("RESTORED", reported), "{key}");
    }
    assert_eq!(t.queue_depth("S3EventsDLQ").await.unwrap(), 0);

    // AND the studio's own rules still fire: its trigger took the new .mov files, its operations
    // queue heard of each completed restore
    let heard = records(&t, &studio_url).await;
    for key in &keys[..2] {
        assert!(heard.iter().any(|(name, k)| name == "ObjectCreated:Put" && k == key), "{key} in {heard:?}");
    }
    assert!(!heard.iter().any(|(name, k)| name == "ObjectCreated:Put" && k.ends_with(".txt")), "{heard:?}");
    let restored: std::collections::BTreeSet<&String> = heard.iter().filter(|(name, _)| name == "ObjectRestore:Completed").map(|(_, k)| k).collect();
    assert_eq!(restored, keys.iter().collect(), "{heard:?}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bucket_whose_rules_leave_room_keeps_a_direct_configuration_and_the_local_stack_refuses_what_s3_refuses() {
    if stopped_by("a_bucket_whose_rules_leave_room_keeps_a_direct_configuration_and_the_local_stack_refuses_what_s3_refuses", &[Defect::OverlappingNotificationsAccepted]).await.unwrap() {
        return;
    }
    let t = TestStack::start("direct").await.unwrap();
    let (_, studio_arn) = studio_queue(&t, "studio").await;
    let queue = t.stack.queue("S3EventsQueue").unwrap().arn.clone();
    let how = Connection { keep_existing: true, register_new: true, abort_incomplete_uploads_days: None };

    // Overlap is a shared event type under overlapping prefixes and overlapping suffixes
    let created = ["s3:ObjectCreated:*"];
    let put = ["s3:ObjectCreated:Put"];
    for (a, b, refused) in [
        (rule("a", &studio_arn, &created, "dailies/", ""), rule("b", &studio_arn, &put, "vfx/", ""), false),
        (rule("a", &studio_arn, &created, "dailies/", ".mov"), rule("b", &studio_arn, &put, "dailies/day1/", ".wav"), false),
        (rule("a", &studio_arn, &created, "dailies/", ""), rule("b", &studio_arn, &["s3:ObjectRemoved:*"], "dailies/", ""), false),
        (rule("a", &studio_arn, &created, "dailies/", ""), rule("b", &studio_arn, &put, "dailies/day1/", ""), true),
        (rule("a", &studio_arn, &created, "", ".mov"), rule("b", &studio_arn, &put, "dailies/", "final.mov"), true),
    ] {
        let out = put_rules(&t, vec![a.clone(), b.clone()], false).await;
        assert_eq!(out.is_err(), refused, "{a:?} {b:?}: {out:?}");
    }

    // GIVEN a bucket whose own rule takes deletions only
    put_rules(&t, vec![rule("deletions", &studio_arn, &["s3:ObjectRemoved:*"], "", "")], false).await.unwrap();
    // WHEN slm connects it, THEN slm's configuration goes beside the bucket's
    assert_eq!(connect_bucket(&t.clients.s3, &t.bucket, &queue, how).await.unwrap(), Delivery::Direct);
    assert_eq!(configuration(&t).await, (vec!["deletions".to_string(), NOTIFICATION_ID.to_string()], false));

    // GIVEN a bucket that already sends its events to EventBridge, WHEN slm connects it, THEN it
    // takes them from there (a configuration of its own would deliver each event twice)
    put_rules(&t, vec![rule("deletions", &studio_arn, &["s3:ObjectRemoved:*"], "", "")], true).await.unwrap();
    assert_eq!(connect_bucket(&t.clients.s3, &t.bucket, &queue, how).await.unwrap(), Delivery::EventBridge { overlapping: vec![] });
    assert_eq!(configuration(&t).await, (vec!["deletions".to_string()], true));
    t.stop().await;
}
