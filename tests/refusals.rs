//! Refusals and failures: bad requests get a clear answer and change nothing; failing files end
//! their task partly failed or failed, with the reason recorded and a failure event published;
//! a poison message ends in the DLQ without blocking its queue.

use serde_json::json;
use slm_e2e::{TestStack, dedupe};
use slm_core::adapters::sqs::{dead_letters, redrive};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_requests_are_refused_with_a_reason_and_create_nothing() {
    let t = TestStack::start("refusals").await.unwrap();
    t.put_objects("show/da/", 5, 16).await.unwrap();
    t.register("deep-1", "show/da/", "camera_original").await.unwrap();
    let archive = t.request("deep-1", json!({"action": "archive", "storage_class": "DEEP_ARCHIVE", "request_id": "a"})).await.unwrap();
    t.wait_task(&archive, WAIT).await.unwrap();
    let tasks_before = t.count_items("TasksTable").await.unwrap();

    let cases = [
        ("unknown asset", "/assets/nope/tasks", json!({"action": "purge", "request_id": "x"}), 404, "asset nope"),
        ("invalid class", "/assets/deep-1/tasks", json!({"action": "archive", "storage_class": "GLACIER_DEEP", "request_id": "x"}), 400, "GLACIER_DEEP"),
        ("archive to STANDARD", "/assets/deep-1/tasks", json!({"action": "archive", "storage_class": "STANDARD", "request_id": "x"}), 400, "STANDARD"),
        ("expedited from DEEP_ARCHIVE", "/assets/deep-1/tasks", json!({"action": "restore", "days": 1, "tier": "Expedited", "request_id": "x"}), 400, "Expedited"),
        ("invalid tier", "/assets/deep-1/tasks", json!({"action": "restore", "days": 1, "tier": "Fast", "request_id": "x"}), 400, "Fast"),
        ("zero days", "/assets/deep-1/tasks", json!({"action": "restore", "days": 0, "tier": "Bulk", "request_id": "x"}), 400, "days"),
        ("unknown field", "/assets/deep-1/tasks", json!({"action": "purge", "request_id": "x", "force": true}), 400, "force"),
        ("unknown action", "/assets/deep-1/tasks", json!({"action": "shred", "request_id": "x"}), 400, "shred"),
        ("missing request id", "/assets/deep-1/tasks", json!({"action": "purge"}), 400, "request_id"),
    ];
    for (name, path, body, status, says) in cases {
        let (got, out) = t.api("POST", path, Some(body)).await;
        assert_eq!(got, status, "{name}: {out}");
        assert!(out["message"].as_str().unwrap_or_default().contains(says), "{name}: {out}");
    }
    let (got, out) = t.api("POST", "/assets", Some(json!({"asset_id": "x", "title_id": "t", "asset_type": "a", "bucket": t.bucket, "prefix": "show/da"}))).await;
    assert_eq!(got, 400, "prefix without slash: {out}");
    let (got, out) = t.api("POST", "/assets", Some(json!({"asset_id": "deep-1", "title_id": "t", "asset_type": "a", "bucket": t.bucket, "prefix": "show/da/"}))).await;
    assert_eq!(got, 409, "registered twice: {out}");
    let (got, _) = t.api("POST", "/assets", Some(json!({"asset_id": "empty", "title_id": "t", "asset_type": "a", "bucket": t.bucket, "prefix": "nothing/here/"}))).await;
    assert_eq!(got, 400, "a prefix with no objects");

    assert_eq!(t.count_items("TasksTable").await.unwrap(), tasks_before, "a refused request created a task");
    assert_eq!(t.count_items("AssetsTable").await.unwrap(), 1, "a refused registration created an asset");
    let (_, asset) = t.api("GET", "/assets/deep-1", None).await;
    assert_eq!((asset["storage_class"].as_str(), asset["active_task"].as_str()), (Some("DEEP_ARCHIVE"), None));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_changed_outside_slm_fail_their_task_with_the_reason_and_a_failure_event() {
    // GIVEN two assets registered, then objects deleted behind slm's back: one of three in the
    // first asset, all of the second
    let t = TestStack::start("failures").await.unwrap();
    let some = t.put_objects("show/a/", 3, 16).await.unwrap();
    let all = t.put_objects("show/b/", 2, 16).await.unwrap();
    t.register("a", "show/a/", "editorial").await.unwrap();
    t.register("b", "show/b/", "editorial").await.unwrap();
    for key in some.iter().take(1).chain(all.iter()) {
        t.clients.s3.delete_object().bucket(&t.bucket).key(key).send().await.unwrap();
    }

    // WHEN both are archived
    let partial = t.request("a", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "1"})).await.unwrap();
    let failed = t.request("b", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "1"})).await.unwrap();
    let partial_task = t.wait_task(&partial, WAIT).await.unwrap();
    let failed_task = t.wait_task(&failed, WAIT).await.unwrap();

    // THEN one is partly failed and one failed, each saying why, each announced once
    assert_eq!(partial_task["status"], "PARTIALLY_FAILED", "{partial_task}");
    assert_eq!((partial_task["counters"]["succeeded"].as_i64(), partial_task["counters"]["failed"].as_i64()), (Some(2), Some(1)));
    assert!(partial_task["reason"].as_str().unwrap().contains("1 of 3 files failed"), "{partial_task}");
    assert_eq!(failed_task["status"], "FAILED", "{failed_task}");
    assert_eq!(t.execution_status(&failed).await.unwrap(), "FAILED");
    let files = t.file_items("a").await.unwrap();
    assert!(files[&some[0]]["reason"].contains("NoSuchKey"), "{:?}", files[&some[0]]);
    let (_, asset) = t.api("GET", "/assets/a", None).await;
    assert_eq!((asset["state"].as_str(), asset["active_task"].as_str()), (Some("MIXED"), None));
    let events = dedupe(&t.drain_events().await.unwrap());
    let types: Vec<&str> = events.iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(types.contains(&"TaskPartiallyFailed") && types.contains(&"TaskFailed"), "{types:?}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_message_ends_in_the_dlq_without_blocking_the_queue() {
    // GIVEN a message slm did not write on the work queue
    let t = TestStack::start("poison").await.unwrap();
    t.send("WorkQueue", "{\"this is\": \"not a work batch\"}").await.unwrap();
    t.send("S3EventsQueue", "<xml>not an S3 event</xml>").await.unwrap();

    // WHEN a real task runs at the same time
    t.put_objects("show/p/", 30, 16).await.unwrap();
    t.register("p", "show/p/", "editorial").await.unwrap();
    let id = t.request("p", json!({"action": "archive", "storage_class": "STANDARD_IA", "request_id": "1"})).await.unwrap();

    // THEN the task completes, and the poison messages land in their DLQs after the bounded retries
    assert_eq!(t.wait_task(&id, WAIT).await.unwrap()["status"], "SUCCEEDED");
    let start = std::time::Instant::now();
    while t.queue_depth("WorkDLQ").await.unwrap() + t.queue_depth("S3EventsDLQ").await.unwrap() < 2 {
        assert!(start.elapsed() < WAIT, "poison messages did not reach the DLQs");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // WHEN they are redriven (`slm dlq redrive`)
    let sources: Vec<String> = ["ControlQueue", "WorkQueue", "S3EventsQueue", "ReconcileQueue"].iter().map(|q| t.stack.queue(q).unwrap().url.clone()).collect();
    let letters = dead_letters(&t.clients.sqs, &sources).await.unwrap();
    assert_eq!(letters.len(), 4, "every source queue has its dead-letter queue: {letters:?}");
    let moved: Vec<usize> = futures::future::try_join_all(letters.iter().map(|d| redrive(&t.clients.sqs, d, 100))).await.unwrap();

    // THEN each went back to its queue once, and, poison still, returns to its DLQ after the
    // same bounded retries, unchanged
    assert_eq!(moved, vec![0, 1, 1, 0], "{letters:?}");
    assert_eq!(t.queue_depth("WorkDLQ").await.unwrap() + t.queue_depth("S3EventsDLQ").await.unwrap(), 0, "redriven messages left in a DLQ");
    let start = std::time::Instant::now();
    while t.queue_depth("WorkDLQ").await.unwrap() + t.queue_depth("S3EventsDLQ").await.unwrap() < 2 {
        assert!(start.elapsed() < WAIT, "redriven poison messages did not come back to the DLQs");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let out = t.clients.sqs.receive_message().queue_url(&t.stack.queue("WorkDLQ").unwrap().url).send().await.unwrap();
    assert_eq!(out.messages()[0].body(), Some("{\"this is\": \"not a work batch\"}"));
    t.wait_idle(&["WorkQueue", "S3EventsQueue"], WAIT).await.unwrap();
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forged_restore_event_for_an_unregistered_object_changes_nothing() {
    let t = TestStack::start("forged").await.unwrap();
    let keys = t.put_objects("show/f/", 3, 16).await.unwrap();
    t.register("f", "show/f/", "editorial").await.unwrap();
    let before = t.file_items("f").await.unwrap();
    for key in ["not/registered.exr", keys[0].as_str()] {
        let event = json!({"Records": [{"eventName": "ObjectRestore:Completed", "s3": {"bucket": {"name": t.bucket}, "object": {"key": key}}}]});
        t.send("S3EventsQueue", &event.to_string()).await.unwrap();
    }
    t.wait_idle(&["S3EventsQueue"], WAIT).await.unwrap();
    assert_eq!(t.file_items("f").await.unwrap(), before);
    assert_eq!(t.queue_depth("S3EventsDLQ").await.unwrap(), 0, "a well-formed event is not poison");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forged_work_batch_naming_a_running_task_touches_nothing_it_did_not_plan() {
    // GIVEN an archive running on one asset (its workers paused), and a second asset
    let t = TestStack::start("forged").await.unwrap();
    t.put_objects("show/own/", 3, 16).await.unwrap();
    let others = t.put_objects("show/other/", 2, 16).await.unwrap();
    t.register("own", "show/own/", "editorial").await.unwrap();
    t.register("other", "show/other/", "editorial").await.unwrap();
    t.clients.s3.put_object().bucket(&t.bucket).key("show/loose.exr").body(b"x".to_vec().into()).send().await.unwrap();
    t.runner().pause("slm-worker");
    let task = t.request("own", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "1"})).await.unwrap();

    // WHEN a batch slm did not write names that task, with the other asset's files, an
    // unregistered object, and a purge for an action
    let mut forged_files: Vec<serde_json::Value> = t
        .file_items("other")
        .await
        .unwrap()
        .values()
        .map(|f| json!({"asset_id": "own", "shard": f["shard"].parse::<u32>().unwrap(), "bucket": t.bucket, "key": f["object_key"],
                        "version_id": f["version_id"], "size": 16, "etag": f["etag"], "storage_class": "STANDARD", "state": "ACTIVE"}))
        .collect();
    forged_files.push(json!({"asset_id": "own", "shard": 0, "bucket": t.bucket, "key": "show/loose.exr", "version_id": "null", "size": 1,
                             "etag": "\"x\"", "storage_class": "STANDARD", "state": "ACTIVE"}));
    let forged = json!({"task_id": task, "action": {"action": "purge"}, "files": forged_files});
    t.send("WorkQueue", &forged.to_string()).await.unwrap();
    t.runner().resume("slm-worker");
    let done = t.wait_task(&task, WAIT).await.unwrap();

    // THEN the task archived its own three files, and nothing else was touched
    assert_eq!((done["status"].as_str(), done["counters"]["succeeded"].as_i64(), done["counters"]["planned"].as_i64()), (Some("SUCCEEDED"), Some(3), Some(3)), "{done}");
    let classes = t.classes("show/").await.unwrap();
    for key in others.iter().map(String::as_str).chain(["show/loose.exr"]) {
        assert_eq!(classes.get(key).map(String::as_str), Some("STANDARD"), "{key} was touched");
    }
    assert!(t.file_items("other").await.unwrap().values().all(|f| !f.contains_key("task_id")), "the other asset's files were moved");
    t.stop().await;
}
