//! Copies of any size finish and no work is lost to a timeout: a multipart copy resumes in the
//! next invocation from the parts S3 holds, a copy whose record was lost is recognized as the
//! task's own, and a connected bucket aborts incomplete uploads beside its own lifecycle rules.

use aws_sdk_s3::types::{BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter};
use serde_json::json;
use slm_e2e::{Options, TestStack, tally};
use std::sync::atomic::Ordering;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(300);
const MIB: usize = 1024 * 1024;

fn counts(task: &serde_json::Value) -> (i64, i64, i64, i64) {
    let n = |k: &str| task["counters"][k].as_i64().unwrap_or(-1);
    (n("planned"), n("succeeded"), n("failed"), n("skipped"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_multipart_copy_cut_short_by_the_deadline_resumes_from_its_parts_and_completes_once() {
    // GIVEN parts of 5 MiB above 6 MiB, and a worker whose margin exceeds its timeout: every
    // invocation copies one part and hands the rest to the next
    let mut options = Options { versioned: true, ..Default::default() };
    options.runner.env_overrides.insert("MULTIPART_THRESHOLD_BYTES".into(), (6 * MIB).to_string());
    options.runner.env_overrides.insert("MULTIPART_PART_BYTES".into(), (5 * MIB).to_string());
    options.runner.env_overrides.insert("WORK_DEADLINE_MARGIN_MS".into(), "60000".into());
    options.runner.timeouts.insert("slm-worker".into(), Duration::from_secs(30));
    let t = TestStack::start_with("resume", options).await.unwrap();
    let keys = t.put_objects("show/cam/", 1, 40 * MIB).await.unwrap();
    t.put_objects("show/cam/small-", 3, 1024).await.unwrap();
    t.register("cam-1", "show/cam/", "camera_original").await.unwrap();
    let invocations_before = t.runner().stats.invocations.load(Ordering::Relaxed);

    // WHEN the asset is archived to GLACIER
    let id = t.request("cam-1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "r"})).await.unwrap();
    let task = t.wait_task(&id, WAIT).await.unwrap();

    // THEN the 8 parts took at least 8 invocations, and the object was archived once
    let files = t.file_items("cam-1").await.unwrap();
    assert_eq!(task["status"], "SUCCEEDED", "{task} {files:?}");
    assert_eq!(counts(&task), (4, 4, 0, 0));
    let invocations = t.runner().stats.invocations.load(Ordering::Relaxed) - invocations_before;
    assert!(invocations >= 8, "{invocations} invocations for 8 parts one at a time");
    let head = t.clients.s3.head_object().bucket(&t.bucket).key(&keys[0]).send().await.unwrap();
    assert!(head.e_tag().unwrap_or_default().ends_with("-8\""), "etag {:?}", head.e_tag());
    assert_eq!(head.content_length(), Some(40 * MIB as i64));
    assert_eq!(head.metadata().and_then(|m| m.get("camera")).map(String::as_str), Some("A"));
    // one version per key, in GLACIER: the superseded STANDARD versions are gone
    let versions = t.all_versions("show/cam/").await.unwrap();
    assert_eq!(versions.len(), 4, "{versions:?}");
    assert_eq!(tally(t.classes("show/cam/").await.unwrap().values().map(String::as_str)), [("GLACIER".to_string(), 4)].into());
    // no upload left incomplete, and the registry holds no upload any more
    let uploads = t.clients.s3.list_multipart_uploads().bucket(&t.bucket).send().await.unwrap();
    assert_eq!(uploads.uploads().len(), 0, "{:?}", uploads.uploads());
    assert!(files.values().all(|f| !f.contains_key("upload_id")), "{files:?}");
    assert_eq!(files[&keys[0]]["version_id"], head.version_id().unwrap());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_copy_whose_record_was_lost_is_recognized_as_the_tasks_own_and_a_changed_object_fails() {
    // GIVEN a versioned bucket and an archive whose work waits in the queue
    let t = TestStack::start_with("own-copy", Options { versioned: true, ..Default::default() }).await.unwrap();
    let keys = t.put_objects("show/ed/", 4, 64).await.unwrap();
    t.register("ed-1", "show/ed/", "editorial").await.unwrap();
    let files = t.file_items("ed-1").await.unwrap();
    t.runner().pause("slm-worker");
    let id = t.request("ed-1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "o"})).await.unwrap();
    let start = std::time::Instant::now();
    while t.queue_depth("WorkQueue").await.unwrap() == 0 {
        assert!(start.elapsed() < WAIT, "no work was planned");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // AND the copies of three files made already (as by an invocation that died before it
    // recorded them), while the fourth was overwritten by someone else
    for key in &keys[..3] {
        let source = format!("{}/{key}?versionId={}", t.bucket, files[key]["version_id"]);
        t.clients.s3.copy_object().bucket(&t.bucket).key(key).copy_source(source).storage_class("GLACIER".into()).send().await.unwrap();
    }
    t.clients.s3.put_object().bucket(&t.bucket).key(&keys[3]).body(b"an editor's new cut".to_vec().into()).send().await.unwrap();

    // WHEN the worker runs
    t.runner().resume("slm-worker");
    let task = t.wait_task(&id, WAIT).await.unwrap();

    // THEN the three copies are recorded as done, the changed file fails with why, and each
    // archived key keeps only its copy
    assert_eq!(task["status"], "PARTIALLY_FAILED", "{task}");
    assert_eq!(counts(&task), (4, 3, 1, 0));
    let after = t.file_items("ed-1").await.unwrap();
    assert!(after[&keys[3]]["reason"].contains("PreconditionFailed"), "{:?}", after[&keys[3]]);
    let versions = t.all_versions("show/ed/").await.unwrap();
    for key in &keys[..3] {
        let left: Vec<_> = versions.iter().filter(|(k, _)| k == key).collect();
        assert_eq!(left.len(), 1, "{key}: {left:?}");
        assert_eq!(after[key]["version_id"], left[0].1, "{key}: the registry names the copy");
        assert_eq!(after[key]["storage_class"], "GLACIER");
    }
    assert_eq!(versions.iter().filter(|(k, _)| k == &keys[3]).count(), 2, "the changed key keeps both its versions");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connecting_a_bucket_adds_the_abort_rule_beside_its_own_lifecycle_rules_once() {
    // GIVEN a bucket with a lifecycle rule of its own
    let t = TestStack::start("lifecycle-rules").await.unwrap();
    let bucket = format!("{}-own", t.bucket);
    let s3 = &t.clients.s3;
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let own = LifecycleRule::builder()
        .id("expire-dailies")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("dailies/").build())
        .expiration(LifecycleExpiration::builder().days(30).build())
        .build()
        .unwrap();
    let config = BucketLifecycleConfiguration::builder().rules(own).build().unwrap();
    s3.put_bucket_lifecycle_configuration().bucket(&bucket).lifecycle_configuration(config).send().await.unwrap();

    // WHEN it is connected twice
    let queue = t.stack.queue("S3EventsQueue").unwrap().arn.clone();
    let how = slm_core::adapters::s3::Connection { keep_existing: true, register_new: false, abort_incomplete_uploads_days: Some(7) };
    slm_core::adapters::s3::connect_bucket(s3, &bucket, &queue, how).await.unwrap();
    slm_core::adapters::s3::connect_bucket(s3, &bucket, &queue, how).await.unwrap();

    // THEN its rule is kept and slm's abort rule is there once
    let rules = s3.get_bucket_lifecycle_configuration().bucket(&bucket).send().await.unwrap();
    let ids: Vec<&str> = rules.rules().iter().filter_map(|r| r.id()).collect();
    assert_eq!(ids, vec!["expire-dailies", slm_core::adapters::s3::ABORT_RULE_ID]);
    let abort = rules.rules()[1].abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation());
    assert_eq!(abort, Some(7));
    assert_eq!(rules.rules()[0].expiration().and_then(|e| e.days()), Some(30));
    t.stop().await;
}
