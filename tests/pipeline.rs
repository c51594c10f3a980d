//! The pipeline end to end on the local stack: an asset archived, restored and purged through
//! API -> task -> execution -> planner -> work queue -> workers -> S3 -> events -> completion ->
//! SNS, asserting on S3 itself, on DynamoDB and on the events a subscriber received.

use serde_json::{Value, json};
use slm_e2e::{Defect, Options, TestStack, dedupe, stopped_by, tally};
use std::collections::BTreeMap;
use aws_sdk_s3::types::ServerSideEncryption;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(300);

/// The lifecycle test's asset: 1,000 files in the test command, as many as SLM_LIFECYCLE_FILES
/// says otherwise (5,000 takes 10 to 24 minutes here, more than the test command can give it:
/// BENCHMARKS.md).
fn lifecycle_files() -> usize {
    std::env::var("SLM_LIFECYCLE_FILES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000)
}

fn counts(task: &Value) -> (i64, i64, i64, i64, i64) {
    let c = &task["counters"];
    let n = |k: &str| c[k].as_i64().unwrap_or(-1);
    (n("planned"), n("outstanding"), n("succeeded"), n("failed"), n("skipped"))
}

fn field_tally(files: &std::collections::HashMap<String, std::collections::HashMap<String, String>>, field: &str) -> BTreeMap<String, usize> {
    tally(files.values().map(|f| f.get(field).map(String::as_str).unwrap_or("-")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_asset_of_a_thousand_files_is_archived_restored_and_purged() {
    // GIVEN a bucket with 1,000 objects under one prefix
    let n = lifecycle_files();
    let t = TestStack::start("lifecycle").await.unwrap();
    let keys = t.put_objects("show-1/plates/", n, 32).await.unwrap();
    let asset = t.register("plates-1", "show-1/plates/", "vfx_plate").await.unwrap();
    assert_eq!(asset["file_count"], n as u64);

    // WHEN it is archived to GLACIER
    let archive = t.request("plates-1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "archive-1"})).await.unwrap();
    let task = t.wait_task(&archive, WAIT).await.unwrap();

    // THEN every object is in GLACIER, every file item says so, and the counters add up
    assert_eq!(task["status"], "SUCCEEDED", "{task}");
    assert_eq!(counts(&task), (n as i64, 0, n as i64, 0, 0));
    let classes = t.classes("show-1/plates/").await.unwrap();
    assert_eq!(tally(classes.values().map(String::as_str)), [("GLACIER".to_string(), n)].into());
    let files = t.file_items("plates-1").await.unwrap();
    assert_eq!(field_tally(&files, "storage_class"), [("GLACIER".to_string(), n)].into());
    assert_eq!(field_tally(&files, "file_state"), [("ARCHIVED".to_string(), n)].into());
    assert_eq!(field_tally(&files, "step"), [("DONE".to_string(), n)].into());
    let (_, asset) = t.api("GET", "/assets/plates-1", None).await;
    assert_eq!((asset["state"].as_str(), asset["storage_class"].as_str(), asset["active_task"].as_str()), (Some("ARCHIVED"), Some("GLACIER"), None));
    // metadata, content type and tags came through the copy
    let head = t.clients.s3.head_object().bucket(&t.bucket).key(&keys[100]).send().await.unwrap();
    assert_eq!(head.content_type(), Some("image/x-exr"));
    assert_eq!(head.metadata().and_then(|m| m.get("camera")).map(String::as_str), Some("A"));

    // WHEN it is restored for 3 days (Bulk)
    let asked = std::time::Instant::now();
    let restore = t.request("plates-1", json!({"action": "restore", "days": 3, "tier": "Bulk", "request_id": "restore-1"})).await.unwrap();
    // THEN every file waits for S3's completion event (a restore takes hours on AWS; moto
    // completes one when the object is next read, LocalStack at once, so only moto can show the wait)
    if t.emulator.restore_completes_on_read() {
        t.wait_files("plates-1", WAIT, |f| f.values().all(|i| i.get("step").map(String::as_str) == Some("REQUESTED"))).await.unwrap();
        let (_, waiting) = t.api("GET", &format!("/tasks/{restore}"), None).await;
        assert_eq!(waiting["status"], "RUNNING", "the task must not end before S3 says the restores completed");
    }
    // AND once S3 completes them, every object carries a completed Restore header...
    let headers = t.complete_restores("plates-1", &restore, WAIT).await.unwrap();
    assert_eq!(headers.len(), keys.len());
    assert!(headers.values().all(|h| h.as_deref().is_some_and(|h| h.contains("ongoing-request=\"false\""))), "a restore header is missing or ongoing");
    // ...and the completion handler completes the task from those events
    let task = t.wait_task(&restore, WAIT).await.unwrap();
    let restored_within = asked.elapsed().as_secs_f64();
    assert_eq!(task["status"], "SUCCEEDED", "{task}");
    assert_eq!(counts(&task), (n as i64, 0, n as i64, 0, 0));
    let files = t.file_items("plates-1").await.unwrap();
    assert_eq!(field_tally(&files, "file_state"), [("RESTORED".to_string(), n)].into());

    // WHEN it is purged
    let purge = t.request("plates-1", json!({"action": "purge", "request_id": "purge-1"})).await.unwrap();
    let task = t.wait_task(&purge, WAIT).await.unwrap();

    // THEN no version of any object is left, and the metadata says purged
    assert_eq!(task["status"], "SUCCEEDED", "{task}");
    assert_eq!(counts(&task), (n as i64, 0, n as i64, 0, 0));
    assert_eq!(t.all_versions("show-1/plates/").await.unwrap(), vec![], "versions survived the purge");
    let files = t.file_items("plates-1").await.unwrap();
    assert_eq!(field_tally(&files, "file_state"), [("PURGED".to_string(), n)].into());

    // AND a subscriber received exactly one completion event per task, with filterable attributes
    t.wait_idle(&["ControlQueue", "WorkQueue", "S3EventsQueue"], WAIT).await.unwrap();
    let events = dedupe(&t.drain_events().await.unwrap());
    let by_task: BTreeMap<String, Value> = events.iter().map(|e| (e["task_id"].as_str().unwrap().to_string(), e.clone())).collect();
    assert_eq!(events.len(), 3, "{events:#?}");
    for (id, action) in [(&archive, "archive"), (&restore, "restore"), (&purge, "purge")] {
        let e = &by_task[id.as_str()];
        assert_eq!((e["event_type"].as_str(), e["action"].as_str(), e["status"].as_str()), (Some("TaskCompleted"), Some(action), Some("SUCCEEDED")));
        assert_eq!(e["event_id"], format!("{id}:TaskCompleted"));
        assert_eq!(e["_attributes"]["event_type"]["Value"], "TaskCompleted");
        assert_eq!(e["_attributes"]["asset_type"]["Value"], "vfx_plate");
        assert_eq!(e["_attributes"]["title_id"]["Value"], "title-1");
        assert_eq!(e["_attributes"]["action"]["Value"], action);
    }

    // AND the metrics the functions wrote (EMF, as CloudWatch reads them) sum to what moved:
    // each file and its bytes once per action, in its class, and each task started and ended once
    let points = t.runner().metrics.points().unwrap();
    let sum = |metric: &slm_core::metrics::Metric, at: &[(&str, &str)]| slm_local::metrics_log::sum(&points, metric.name, at);
    for action in ["archive", "restore", "purge"] {
        let at = [("Action", action), ("Class", "GLACIER")];
        assert_eq!(sum(&slm_core::metrics::FILES, &at), n as f64, "{action}: files");
        assert_eq!(sum(&slm_core::metrics::BYTES, &at), (n * 32) as f64, "{action}: bytes");
        assert_eq!(sum(&slm_core::metrics::TASKS_STARTED, &[("Action", action)]), 1.0, "{action}: tasks started");
        assert_eq!(sum(&slm_core::metrics::TASKS_ENDED, &[("Action", action), ("Status", "SUCCEEDED")]), 1.0, "{action}: tasks ended");
    }
    assert_eq!(sum(&slm_core::metrics::FILES, &[]), 3.0 * n as f64, "files of any action or class");
    assert_eq!(sum(&slm_core::metrics::FILES_FAILED, &[]), 0.0);
    // the restore's latency is one value, from its start to its last file: within the time from
    // the test's request to its seeing the task end (a second's slack for the stored timestamps'
    // rounding)
    let latency: Vec<f64> = points.iter().filter(|p| p.metric == "RestoreLatency").flat_map(|p| p.values.clone()).collect();
    assert_eq!(latency.len(), 1, "{latency:?}");
    assert!(latency[0] > 0.0 && latency[0] <= restored_within + 1.0, "{latency:?} against {restored_within:.1} s from the request to the task's end");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_purge_in_a_versioned_bucket_removes_every_version_and_delete_marker_of_registered_keys_only() {
    // GIVEN a versioned bucket: keys with older versions, a key whose older version sits under a
    // delete marker... and an unregistered neighbour with a longer key
    let t = TestStack::start_with("versions", Options { versioned: true, ..Default::default() }).await.unwrap();
    let keys = t.put_objects("show/v/", 20, 16).await.unwrap();
    for key in &keys[..5] {
        t.clients.s3.put_object().bucket(&t.bucket).key(key).body(b"newer".to_vec().into()).send().await.unwrap();
    }
    t.register("v-1", "show/v/", "editorial").await.unwrap();
    let neighbour = format!("{}.bak", keys[0]);
    t.clients.s3.put_object().bucket(&t.bucket).key(&neighbour).body(b"keep".to_vec().into()).send().await.unwrap();
    // an archive replaces each registered version by its copy
    let archive = t.request("v-1", json!({"action": "archive", "storage_class": "GLACIER_IR", "request_id": "a"})).await.unwrap();
    assert_eq!(t.wait_task(&archive, WAIT).await.unwrap()["status"], "SUCCEEDED");
    t.clients.s3.delete_object().bucket(&t.bucket).key(&keys[6]).send().await.unwrap();
    // 20 copies, 5 versions from before registration, the neighbour and a delete marker
    assert_eq!(t.all_versions("show/v/").await.unwrap().len(), 20 + 5 + 1 + 1);

    // WHEN the asset is purged
    let purge = t.request("v-1", json!({"action": "purge", "request_id": "p"})).await.unwrap();
    let task = t.wait_task(&purge, WAIT).await.unwrap();

    // THEN nothing of the registered keys is left, and the unregistered neighbour is untouched
    assert_eq!(task["status"], "SUCCEEDED", "{task}");
    let left: Vec<String> = t.all_versions("show/v/").await.unwrap().into_iter().map(|(k, _)| k).collect();
    assert_eq!(left, vec![neighbour]);
    t.stop().await;
}

/// (key, version id, storage class) of every version under a prefix, delete markers as "MARKER".
async fn versions_with_class(t: &TestStack, prefix: &str) -> Vec<(String, String, String)> {
    let out = t.clients.s3.list_object_versions().bucket(&t.bucket).prefix(prefix).send().await.unwrap();
    let mut v: Vec<(String, String, String)> = out
        .versions()
        .iter()
        .map(|v| (v.key().unwrap().to_string(), v.version_id().unwrap().to_string(), v.storage_class().map_or("STANDARD", |c| c.as_str()).to_string()))
        .chain(out.delete_markers().iter().map(|m| (m.key().unwrap().to_string(), m.version_id().unwrap().to_string(), "MARKER".to_string())))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_archive_in_a_versioned_bucket_leaves_no_registered_standard_version_and_keeps_kms_keys() {
    if stopped_by("an_archive_in_a_versioned_bucket_leaves_no_registered_standard_version_and_keeps_kms_keys", &[Defect::VersionsListedAsStandard]).await.unwrap() {
        return;
    }
    // GIVEN a versioned bucket: three objects encrypted with a KMS key, three with SSE-S3, one of
    // them with an older version from before registration, and one replaced after registration;
    // then the bucket's default encryption becomes another KMS key
    const KMS_KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/slm-test-key";
    const DEFAULT_KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/slm-bucket-default";
    let t = TestStack::start_with("archive-versions", Options { versioned: true, ..Default::default() }).await.unwrap();
    let s3 = &t.clients.s3;
    let keys: Vec<String> = (0..6).map(|i| format!("show/k/f{i}.mov")).collect();
    for (i, key) in keys.iter().enumerate() {
        let put = s3.put_object().bucket(&t.bucket).key(key).body(vec![i as u8; 64].into()).metadata("camera", "B");
        let put = match i < 3 {
            true => put.server_side_encryption(ServerSideEncryption::AwsKms).ssekms_key_id(KMS_KEY),
            false => put.server_side_encryption(ServerSideEncryption::Aes256),
        };
        put.send().await.unwrap();
    }
    let history = s3
        .put_object()
        .bucket(&t.bucket)
        .key(&keys[3])
        .body(b"second".to_vec().into())
        .metadata("camera", "B")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    t.register("k-1", "show/k/", "editorial").await.unwrap();
    let by_default = aws_sdk_s3::types::ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::AwsKms)
        .kms_master_key_id(DEFAULT_KEY)
        .build()
        .unwrap();
    let rule = aws_sdk_s3::types::ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(by_default).build();
    let config = aws_sdk_s3::types::ServerSideEncryptionConfiguration::builder().rules(rule).build().unwrap();
    s3.put_bucket_encryption().bucket(&t.bucket).server_side_encryption_configuration(config).send().await.unwrap();
    let before = versions_with_class(&t, "show/k/").await;
    let older = before.iter().find(|(k, v, _)| k == &keys[3] && Some(v.as_str()) != history.version_id()).unwrap().clone();
    s3.put_object().bucket(&t.bucket).key(&keys[5]).body(b"replaced".to_vec().into()).send().await.unwrap();

    // WHEN the asset is archived to GLACIER
    let archive = t.request("k-1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "a"})).await.unwrap();
    let task = t.wait_task(&archive, WAIT).await.unwrap();

    // THEN five files are archived and the replaced one fails with the reason
    assert_eq!(task["status"], "PARTIALLY_FAILED", "{task}");
    assert_eq!(counts(&task), (6, 0, 5, 1, 0));
    let files = t.file_items("k-1").await.unwrap();
    assert!(files[&keys[5]]["reason"].contains("PreconditionFailed"), "{:?}", files[&keys[5]]);
    // AND every archived key has exactly one version left of what slm registered: the GLACIER
    // copy, which the registry names; the version from before registration is not slm's to delete
    let after = versions_with_class(&t, "show/k/").await;
    for key in &keys[..5] {
        let mut left: Vec<&(String, String, String)> = after.iter().filter(|(k, _, _)| k == key).collect();
        left.retain(|v| **v != older);
        assert_eq!(left.len(), 1, "{key}: {left:?}");
        assert_eq!(left[0].2, "GLACIER", "{key}: {left:?}");
        assert_eq!(files[key]["version_id"], left[0].1, "{key}: the registry names the copy");
    }
    assert!(after.contains(&older), "an unregistered older version was deleted");
    // the replaced key is untouched: both its versions are there, in STANDARD
    let replaced: Vec<_> = after.iter().filter(|(k, _, _)| k == &keys[5]).collect();
    assert_eq!(replaced.len(), 2, "{replaced:?}");
    assert!(replaced.iter().all(|v| v.2 == "STANDARD"));
    // AND every object kept its own encryption, not the bucket's new default: the KMS ones their
    // key, the SSE-S3 ones SSE-S3; and metadata came through
    for (i, key) in keys[..5].iter().enumerate() {
        let head = s3.head_object().bucket(&t.bucket).key(key).send().await.unwrap();
        let kms = (head.server_side_encryption().map(|e| e.as_str()), head.ssekms_key_id());
        match i < 3 {
            true => assert_eq!(kms, (Some("aws:kms"), Some(KMS_KEY)), "{key}"),
            false => assert_eq!(kms, (Some("AES256"), None), "{key}"),
        }
        assert_eq!(head.metadata().and_then(|m| m.get("camera")).map(String::as_str), Some("B"), "{key}");
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redelivered_batch_and_a_duplicate_restore_event_change_nothing() {
    // GIVEN an asset archived, then restored to completion
    let t = TestStack::start("dupes").await.unwrap();
    let keys = t.put_objects("show/edit/", 40, 16).await.unwrap();
    t.register("edit-1", "show/edit/", "editorial").await.unwrap();
    let archive = t.request("edit-1", json!({"action": "archive", "storage_class": "DEEP_ARCHIVE", "request_id": "a"})).await.unwrap();
    t.wait_task(&archive, WAIT).await.unwrap();
    let restore = t.request("edit-1", json!({"action": "restore", "days": 1, "tier": "Standard", "request_id": "r"})).await.unwrap();
    t.complete_restores("edit-1", &restore, WAIT).await.unwrap();
    let before = t.wait_task(&restore, WAIT).await.unwrap();
    t.wait_idle(&["WorkQueue", "S3EventsQueue"], WAIT).await.unwrap();
    let events_before = t.drain_events().await.unwrap().len();

    // WHEN a work batch of the ended archive task is delivered again, S3 repeats a restore event,
    // and an event names a key under the asset's prefix that is no file of it (the completion
    // function, which knows the asset's place from the restore, names an item for each key under
    // the prefix: the transition's condition must refuse both)
    let files: Vec<Value> = t
        .file_items("edit-1")
        .await
        .unwrap()
        .values()
        .take(5)
        .map(|f| {
            json!({"asset_id": "edit-1", "shard": f["shard"].parse::<u32>().unwrap(), "bucket": t.bucket, "key": f["object_key"],
                   "version_id": f["version_id"], "size": 16, "etag": f["etag"], "storage_class": "STANDARD", "state": "ACTIVE"})
        })
        .collect();
    let batch = json!({"task_id": archive, "action": {"action": "archive", "storage_class": "DEEP_ARCHIVE"}, "files": files});
    t.send("WorkQueue", &batch.to_string()).await.unwrap();
    let event = json!({"Records": [{"eventName": "ObjectRestore:Completed", "s3": {"bucket": {"name": t.bucket}, "object": {"key": keys[0].replace('/', "%2F")}}}]});
    t.send("S3EventsQueue", &event.to_string()).await.unwrap();
    let stray = json!({"Records": [{"eventName": "ObjectRestore:Completed", "s3": {"bucket": {"name": t.bucket}, "object": {"key": "show%2Fedit%2Fnot-registered.mov"}}}]});
    t.send("S3EventsQueue", &stray.to_string()).await.unwrap();
    t.wait_idle(&["WorkQueue", "S3EventsQueue"], WAIT).await.unwrap();

    // THEN the counters, the file items and the events are as they were
    let items = t.file_items("edit-1").await.unwrap();
    assert_eq!(items.len(), 40, "no item was made for the stray key");
    assert!(items.values().all(|f| f["step"] == "DONE" && f["file_state"] == "RESTORED"), "every file as the restore left it");
    let (_, after) = t.api("GET", &format!("/tasks/{restore}"), None).await;
    assert_eq!(counts(&after), counts(&before));
    let (_, archived) = t.api("GET", &format!("/tasks/{archive}"), None).await;
    assert_eq!(counts(&archived), (40, 0, 40, 0, 0));
    assert_eq!(t.queue_depth("WorkDLQ").await.unwrap() + t.queue_depth("S3EventsDLQ").await.unwrap(), 0);
    assert_eq!(t.drain_events().await.unwrap().len(), 0, "no new event after {events_before}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_work_batch_delivered_three_times_at_once_leaves_one_copy_of_each_file() {
    // GIVEN an archive in a versioned bucket whose work batch waits in the queue, with the same
    // batch sent twice more (a planner that sent it again, a redelivery while the first runs)
    let t = TestStack::start_with("thrice", Options { versioned: true, ..Default::default() }).await.unwrap();
    let keys = t.put_objects("show/t/", 24, 16).await.unwrap();
    t.register("t-1", "show/t/", "editorial").await.unwrap();
    t.runner().pause("slm-worker");
    let archive = t.request("t-1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "a"})).await.unwrap();
    let waiting = std::time::Instant::now();
    while t.queue_depth("WorkQueue").await.unwrap() == 0 {
        assert!(waiting.elapsed() < WAIT, "the planner sent no work");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let files: Vec<Value> = t
        .file_items("t-1")
        .await
        .unwrap()
        .values()
        .map(|f| {
            json!({"asset_id": "t-1", "shard": f["shard"].parse::<u32>().unwrap(), "bucket": t.bucket, "key": f["object_key"],
                   "version_id": f["version_id"], "size": 16, "etag": f["etag"], "storage_class": "STANDARD", "state": "ACTIVE"})
        })
        .collect();
    let batch = json!({"task_id": archive, "action": {"action": "archive", "storage_class": "GLACIER"}, "files": files}).to_string();
    t.send("WorkQueue", &batch).await.unwrap();
    t.send("WorkQueue", &batch).await.unwrap();

    // WHEN the workers take them together
    t.runner().resume("slm-worker");
    let task = t.wait_task(&archive, WAIT).await.unwrap();
    t.wait_idle(&["WorkQueue"], WAIT).await.unwrap();

    // THEN each key holds one version, the copy its file item names: the copies whose record came
    // second were deleted, and so was every original
    assert_eq!(task["status"], "SUCCEEDED", "{task}");
    assert_eq!(counts(&task), (24, 0, 24, 0, 0));
    let registry = t.file_items("t-1").await.unwrap();
    let versions = t.all_versions("show/t/").await.unwrap();
    assert_eq!(versions.len(), keys.len(), "{versions:?}");
    for (key, version) in &versions {
        assert_eq!(&registry[key]["version_id"], version, "{key}");
    }
    assert_eq!(t.queue_depth("WorkDLQ").await.unwrap(), 0);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_object_over_the_multipart_threshold_is_copied_in_parts_keeping_metadata_and_tags() {
    // GIVEN a threshold lowered to 6 MiB (the real one is 5 GiB) and a 12 MiB object
    let mut options = Options::default();
    options.runner.env_overrides.insert("MULTIPART_THRESHOLD_BYTES".into(), (6 * 1024 * 1024).to_string());
    options.runner.env_overrides.insert("MULTIPART_PART_BYTES".into(), (5 * 1024 * 1024).to_string());
    let t = TestStack::start_with("multipart", options).await.unwrap();
    let keys = t.put_objects("show/big/", 1, 12 * 1024 * 1024).await.unwrap();
    t.put_objects("show/big/small-", 2, 1024).await.unwrap();
    t.register("big-1", "show/big/", "camera_original").await.unwrap();

    // WHEN the asset is archived to DEEP_ARCHIVE
    let id = t.request("big-1", json!({"action": "archive", "storage_class": "DEEP_ARCHIVE", "request_id": "m"})).await.unwrap();
    let task = t.wait_task(&id, WAIT).await.unwrap();

    // THEN the large object went through parts (its ETag says 3 parts), metadata and tags intact
    assert_eq!(task["status"], "SUCCEEDED", "{task}");
    let classes = t.classes("show/big/").await.unwrap();
    assert_eq!(tally(classes.values().map(String::as_str)), [("DEEP_ARCHIVE".to_string(), 3)].into());
    let head = t.clients.s3.head_object().bucket(&t.bucket).key(&keys[0]).send().await.unwrap();
    assert!(head.e_tag().unwrap_or_default().ends_with("-3\""), "etag {:?}", head.e_tag());
    assert_eq!(head.content_length(), Some(12 * 1024 * 1024));
    assert_eq!(head.content_type(), Some("image/x-exr"));
    assert_eq!(head.metadata().and_then(|m| m.get("camera")).map(String::as_str), Some("A"));
    let files = t.file_items("big-1").await.unwrap();
    assert!(files[&keys[0]]["etag"].ends_with("-3\""), "the registry follows the new ETag");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restore_of_a_partly_archived_asset_restores_only_the_archived_files() {
    if stopped_by("a_restore_of_a_partly_archived_asset_restores_only_the_archived_files", &[Defect::VersionsListedAsStandard]).await.unwrap() {
        return;
    }
    // GIVEN an asset of three files: one in GLACIER, one in GLACIER_IR, one in STANDARD
    let t = TestStack::start("partial-restore").await.unwrap();
    let classes = [("GLACIER", "show/m/cold.mov"), ("GLACIER_IR", "show/m/instant.mov"), ("STANDARD", "show/m/hot.mov")];
    for (class, key) in classes {
        t.clients.s3.put_object().bucket(&t.bucket).key(key).body(vec![1u8; 16].into()).storage_class(class.into()).send().await.unwrap();
    }
    let asset = t.register("m-1", "show/m/", "editorial").await.unwrap();
    assert_eq!(asset["storage_class"], "MIXED");

    // WHEN it is restored
    let restore = t.request("m-1", json!({"action": "restore", "days": 2, "tier": "Standard", "request_id": "r"})).await.unwrap();
    t.complete_restores("m-1", &restore, WAIT).await.unwrap();
    let task = t.wait_task(&restore, WAIT).await.unwrap();

    // THEN only the GLACIER file was restored; the others are readable as they are
    assert_eq!(counts(&task), (3, 0, 1, 0, 2), "{task}");
    let files = t.file_items("m-1").await.unwrap();
    assert_eq!((files["show/m/cold.mov"]["file_state"].as_str(), files["show/m/cold.mov"].contains_key("restore_expiry")), ("RESTORED", true));
    for key in ["show/m/instant.mov", "show/m/hot.mov"] {
        assert_eq!((files[key]["step"].as_str(), files[key]["reason"].as_str()), ("SKIPPED", "readable without a restore"), "{key}");
    }
    let instant = t.clients.s3.head_object().bucket(&t.bucket).key("show/m/instant.mov").send().await.unwrap();
    assert_eq!(instant.restore(), None, "GLACIER_IR needs no restore request");
    t.stop().await;
}
