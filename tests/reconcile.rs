//! The reconciler end to end: drift made on purpose (objects created, replaced, deleted or moved
//! to another class behind slm's back, a restore window whose event was lost, a superseded
//! version left billing, tasks stuck by lost messages and a crash) is found, repaired and
//! recorded, and a second run finds nothing more.

use aws_sdk_dynamodb::types::AttributeValue as AV;
use serde_json::json;
use slm_e2e::{Defect, Options, TestStack, later, stopped_by};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(180);


fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

fn pair(kind: &str, subject: &str) -> (String, String) {
    (kind.to_string(), subject.to_string())
}

async fn status(t: &TestStack, task_id: &str) -> serde_json::Value {
    t.api_ok("GET", &format!("/tasks/{task_id}"), None).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drift_between_the_registry_and_s3_is_repaired_and_recorded() {
    if stopped_by("drift_between_the_registry_and_s3_is_repaired_and_recorded", &[Defect::VersionsListedAsStandard]).await.unwrap() {
        return;
    }
    // GIVEN an asset of six files, and a second one restored for a day
    let t = TestStack::start("drift").await.unwrap();
    let s3 = &t.clients.s3;
    let keys = t.put_objects("show/d/", 6, 16).await.unwrap();
    t.register("d-1", "show/d/", "editorial").await.unwrap();
    let restored = t.put_objects("show/r/", 2, 16).await.unwrap();
    t.register("r-1", "show/r/", "editorial").await.unwrap();
    let archive = t.request("r-1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "a"})).await.unwrap();
    t.wait_task(&archive, WAIT).await.unwrap();
    let restore = t.request("r-1", json!({"action": "restore", "days": 1, "tier": "Bulk", "request_id": "r"})).await.unwrap();
    t.complete_restores("r-1", &restore, WAIT).await.unwrap();
    assert_eq!(t.wait_task(&restore, WAIT).await.unwrap()["status"], "SUCCEEDED");
    let untouched = t.file_items("d-1").await.unwrap();

    // WHEN objects change behind slm's back: one created under the prefix (its notification
    // lost), one deleted, one replaced, one moved to GLACIER in place (as a lifecycle rule
    // would), and one created outside every asset's prefix
    let late = "show/d/late.exr".to_string();
    s3.put_object().bucket(&t.bucket).key(&late).body(vec![7u8; 40].into()).send().await.unwrap();
    s3.delete_object().bucket(&t.bucket).key(&keys[1]).send().await.unwrap();
    s3.put_object().bucket(&t.bucket).key(&keys[2]).body(b"changed content".to_vec().into()).send().await.unwrap();
    s3.copy_object()
        .bucket(&t.bucket)
        .key(&keys[3])
        .copy_source(format!("{}/{}", t.bucket, keys[3]))
        .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Copy)
        .send()
        .await
        .unwrap();
    s3.put_object().bucket(&t.bucket).key("show/elsewhere/x.exr").body(b"x".to_vec().into()).send().await.unwrap();
    // AND the reconciler runs ten days later: r-1's restore window has ended, its event lost
    let at = later(240);
    t.reconcile(&at).await.unwrap();

    // THEN each drift is repaired and recorded, and nothing else is
    assert_eq!(
        sorted(t.repairs("d-1").await.unwrap()),
        vec![pair("marked_missing", &keys[1]), pair("registered", &late), pair("took_change", &keys[2]), pair("took_class", &keys[3])]
    );
    assert_eq!(sorted(t.repairs("r-1").await.unwrap()), vec![pair("ended_restore_window", &restored[0]), pair("ended_restore_window", &restored[1])]);
    let files = t.file_items("d-1").await.unwrap();
    assert_eq!((files[&late]["file_state"].as_str(), files[&late]["size_bytes"].as_str()), ("ACTIVE", "40"));
    assert_eq!(files[&keys[1]]["file_state"], "MISSING");
    assert_eq!(files[&keys[2]]["size_bytes"], "15");
    assert_ne!(files[&keys[2]]["etag"], untouched[&keys[2]]["etag"]);
    assert_eq!((files[&keys[3]]["storage_class"].as_str(), files[&keys[3]]["file_state"].as_str()), ("GLACIER", "ARCHIVED"));
    for key in [&keys[0], &keys[4], &keys[5]] {
        assert_eq!(files[key], untouched[key], "{key} changed");
    }
    let asset = t.api_ok("GET", "/assets/d-1", None).await.unwrap();
    assert_eq!((asset["file_count"].as_u64(), asset["total_bytes"].as_u64()), (Some(7), Some(6 * 16 + 40 - 1)), "{asset}");
    let r = t.api_ok("GET", "/assets/r-1", None).await.unwrap();
    assert_eq!(r["state"], "ARCHIVED", "{r}");
    assert!(t.file_items("r-1").await.unwrap().values().all(|f| f["file_state"] == "ARCHIVED"));
    assert_eq!(t.count_items("FilesTable").await.unwrap(), 7 + 2, "an object outside the assets' prefixes was registered");

    // AND a second run finds nothing more
    t.reconcile(&at).await.unwrap();
    assert_eq!(t.repairs("d-1").await.unwrap().len(), 4);
    assert_eq!(t.repairs("r-1").await.unwrap().len(), 2);

    // AND a task skips the missing file and the one in a colder class, and acts on the one registered late
    let archive = t.request("d-1", json!({"action": "archive", "storage_class": "GLACIER_IR", "request_id": "a"})).await.unwrap();
    let task = t.wait_task(&archive, WAIT).await.unwrap();
    assert_eq!((task["status"].as_str(), task["counters"]["skipped"].as_i64(), task["counters"]["succeeded"].as_i64()), (Some("SUCCEEDED"), Some(2), Some(5)), "{task}");
    assert_eq!(t.classes("show/d/").await.unwrap()[&late], "GLACIER_IR");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stuck_tasks_and_a_superseded_version_are_repaired_and_recorded() {
    if stopped_by("stuck_tasks_and_a_superseded_version_are_repaired_and_recorded", &[Defect::VersionsListedAsStandard]).await.unwrap() {
        return;
    }
    let t = TestStack::start_with("stuck", Options { versioned: true, ..Default::default() }).await.unwrap();
    let (s3, ddb) = (&t.clients.s3, &t.clients.dynamodb);

    // GIVEN a restore waiting for S3 whose completion events are lost (the completion function is
    // paused), and a crash after one file's write before its counter moved
    let s_keys = t.put_objects("show/s/", 3, 16).await.unwrap();
    t.register("s-1", "show/s/", "editorial").await.unwrap();
    let archive = t.request("s-1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "a"})).await.unwrap();
    t.wait_task(&archive, WAIT).await.unwrap();
    t.runner().pause("slm-completion");
    let restore = t.request("s-1", json!({"action": "restore", "days": 2, "tier": "Bulk", "request_id": "r"})).await.unwrap();
    t.wait_files("s-1", WAIT, |f| f.values().all(|i| i.get("step").is_some_and(|s| s == "REQUESTED"))).await.unwrap();
    let crashed = &t.file_items("s-1").await.unwrap()[&s_keys[0]];
    ddb.update_item()
        .table_name(t.stack.table("FilesTable").unwrap())
        .key("pk", AV::S(crashed["pk"].clone()))
        .key("object_key", AV::S(s_keys[0].clone()))
        .update_expression("SET step = :d, file_state = :r, restore_expiry = :e")
        .expression_attribute_values(":d", AV::S("DONE".into()))
        .expression_attribute_values(":r", AV::S("RESTORED".into()))
        .expression_attribute_values(":e", AV::S(later(48)))
        .send()
        .await
        .unwrap();

    // AND an archive whose work messages were lost (the queue purged while the workers were
    // paused), with a restore queued behind it
    t.put_objects("show/w/", 3, 16).await.unwrap();
    t.register("w-1", "show/w/", "editorial").await.unwrap();
    t.runner().pause("slm-worker");
    let lost = t.request("w-1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "a"})).await.unwrap();
    for _ in 0..300 {
        if status(&t, &lost).await["planning_done"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status(&t, &lost).await["counters"]["outstanding"], 3, "planned, waiting for the workers");
    let queued = t.request("w-1", json!({"action": "restore", "days": 1, "tier": "Bulk", "request_id": "q"})).await.unwrap();
    t.clients.sqs.purge_queue().queue_url(&t.stack.queue("WorkQueue").unwrap().url).send().await.unwrap();
    t.runner().pause("slm-planner");
    t.runner().resume("slm-worker");

    // AND an archived file whose copied-from STANDARD version was left, and a second copy beside
    // the registered one (two deliveries of its batch copied it at once; the registry named one,
    // and a crash came before either old version's delete)
    let v1 = s3.put_object().bucket(&t.bucket).key("show/v/f.mov").body(vec![1u8; 32].into()).send().await.unwrap();
    t.register("v-1", "show/v/", "editorial").await.unwrap();
    let copy_of_v1 = || {
        s3.copy_object()
            .bucket(&t.bucket)
            .key("show/v/f.mov")
            .copy_source(format!("{}/show/v/f.mov?versionId={}", t.bucket, v1.version_id().unwrap()))
            .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
            .metadata_directive(aws_sdk_s3::types::MetadataDirective::Copy)
            .send()
    };
    copy_of_v1().await.unwrap();
    let copy = copy_of_v1().await.unwrap();
    let v_item = &t.file_items("v-1").await.unwrap()["show/v/f.mov"];
    ddb.update_item()
        .table_name(t.stack.table("FilesTable").unwrap())
        .key("pk", AV::S(v_item["pk"].clone()))
        .key("object_key", AV::S("show/v/f.mov".into()))
        .update_expression("SET version_id = :v, storage_class = :c, file_state = :s")
        .expression_attribute_values(":v", AV::S(copy.version_id().unwrap().to_string()))
        .expression_attribute_values(":c", AV::S("GLACIER".into()))
        .expression_attribute_values(":s", AV::S("ARCHIVED".into()))
        .send()
        .await
        .unwrap();

    // WHEN the reconciler runs an hour later
    t.reconcile(&later(1)).await.unwrap();

    // THEN the restore is recounted, its completions found in S3, and it ends
    let task = t.wait_task(&restore, WAIT).await.unwrap();
    assert_eq!(task["status"], "SUCCEEDED", "{task}");
    assert_eq!((task["counters"]["succeeded"].as_i64(), task["counters"]["outstanding"].as_i64()), (Some(3), Some(0)), "{task}");
    let kinds: Vec<String> = t.repairs("s-1").await.unwrap().into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["completed_restore", "recounted", "signalled"], "(in the order of their ids: time, kind)");
    assert!(t.file_items("s-1").await.unwrap().values().all(|f| f["file_state"] == "RESTORED" && f.contains_key("restore_expiry")));
    // AND the lost work is sent again and the archive ends
    assert_eq!(t.wait_task(&lost, WAIT).await.unwrap()["status"], "SUCCEEDED");
    assert_eq!(t.repairs("w-1").await.unwrap(), vec![pair("redrove", &lost)]);
    // AND the superseded version and the second copy are deleted; the registered copy stays
    assert_eq!(t.repairs("v-1").await.unwrap(), vec![pair("deleted_superseded", "show/v/f.mov")]);
    assert_eq!(t.all_versions("show/v/").await.unwrap(), vec![("show/v/f.mov".to_string(), copy.version_id().unwrap().to_string())]);

    // WHEN the message that would start the queued restore is lost too
    t.wait_idle(&["WorkQueue"], WAIT).await.unwrap();
    t.clients.sqs.purge_queue().queue_url(&t.stack.queue("ControlQueue").unwrap().url).send().await.unwrap();
    t.runner().resume("slm-planner");
    t.runner().resume("slm-completion");
    assert_eq!(status(&t, &queued).await["status"], "QUEUED");

    // THEN the next run starts it, and it runs to the end
    t.reconcile(&later(2)).await.unwrap();
    assert_eq!(t.repairs("w-1").await.unwrap().last().cloned(), Some(pair("started_queued", &queued)));
    t.complete_restores("w-1", &queued, WAIT).await.unwrap();
    assert_eq!(t.wait_task(&queued, WAIT).await.unwrap()["status"], "SUCCEEDED");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_whose_planner_died_before_its_first_page_is_planned_on_by_the_reconciler() {
    // GIVEN an archive whose planner took its message, stored the execution's token and died
    // before planning a page: its message is gone (taken off the queue here), the task RUNNING
    let t = TestStack::start("planner-died").await.unwrap();
    t.put_objects("show/p/", 12, 16).await.unwrap();
    t.register("p-1", "show/p/", "editorial").await.unwrap();
    t.runner().pause("slm-planner");
    let task = t.request("p-1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "a"})).await.unwrap();
    let url = &t.stack.queue("ControlQueue").unwrap().url;
    let waiting = std::time::Instant::now();
    let plan: serde_json::Value = loop {
        let out = t.clients.sqs.receive_message().queue_url(url).wait_time_seconds(1).send().await.unwrap();
        if let Some(m) = out.messages().first() {
            t.clients.sqs.delete_message().queue_url(url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
            break serde_json::from_str(m.body().unwrap()).unwrap();
        }
        assert!(waiting.elapsed() < WAIT, "the state machine sent no plan message");
    };
    assert_eq!((plan["kind"].as_str(), plan["task_id"].as_str()), (Some("plan"), Some(task.as_str())), "{plan}");
    t.clients
        .dynamodb
        .update_item()
        .table_name(t.stack.table("TasksTable").unwrap())
        .key("task_id", AV::S(task.clone()))
        .update_expression("SET task_token = :tok")
        .expression_attribute_values(":tok", AV::S(plan["task_token"].as_str().unwrap().to_string()))
        .send()
        .await
        .unwrap();
    t.runner().resume("slm-planner");
    assert_eq!(status(&t, &task).await["planning_done"], false);

    // WHEN the reconciler runs an hour later
    t.reconcile(&later(1)).await.unwrap();

    // THEN it sends the planner on from where it stopped, and the archive ends with every file
    let done = t.wait_task(&task, WAIT).await.unwrap();
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!((done["counters"]["planned"].as_i64(), done["counters"]["succeeded"].as_i64()), (Some(12), Some(12)), "{done}");
    assert_eq!(t.repairs("p-1").await.unwrap(), vec![pair("continued_planning", &task)]);
    assert!(t.classes("show/p/").await.unwrap().values().all(|c| c == "GLACIER"));
    t.stop().await;
}

/// Waits until an execution (by name) is no longer RUNNING.
async fn wait_execution(t: &TestStack, name: &str) -> String {
    let waiting = std::time::Instant::now();
    loop {
        let status = t.execution_status(name).await.unwrap();
        if status != "RUNNING" {
            return status;
        }
        assert!(waiting.elapsed() < WAIT, "execution {name} still RUNNING");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_whose_execution_was_stopped_from_outside_is_ended_failed_once_and_its_asset_freed() {
    // GIVEN an archive whose execution an operator stopped (StopExecution) while its files
    // waited for the workers
    let t = TestStack::start("stopped").await.unwrap();
    t.put_objects("show/x/", 6, 16).await.unwrap();
    t.register("x-1", "show/x/", "editorial").await.unwrap();
    t.runner().pause("slm-worker");
    let task = t.request("x-1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "a"})).await.unwrap();
    let waiting = std::time::Instant::now();
    while status(&t, &task).await["planning_done"] != true {
        assert!(waiting.elapsed() < WAIT, "planning did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let machine = t.stack.state_machines.values().next().unwrap().replace(":stateMachine:", ":execution:");
    t.clients.sfn.stop_execution().execution_arn(format!("{machine}:{task}")).error("Operator").cause("stopped by hand").send().await.unwrap();
    assert_eq!(wait_execution(&t, &task).await, "ABORTED");
    assert_eq!(status(&t, &task).await["status"], "RUNNING", "nothing recorded the stop");
    t.drain_events().await.unwrap();

    // WHEN the reconciler runs an hour later, and then the workers take the task's batches
    let report = t.reconcile(&later(1)).await.unwrap();
    assert_eq!(report["repairs"]["ended_task"], 1, "{report}");
    assert_eq!(wait_execution(&t, &format!("{task}-ended")).await, "FAILED", "the failure path ends as a failed task's execution does");
    t.runner().resume("slm-worker");
    t.wait_idle(&["WorkQueue"], WAIT).await.unwrap();

    // THEN the task is FAILED with why, announced once, and no file was touched after its end
    let ended = t.wait_task(&task, WAIT).await.unwrap();
    assert_eq!(ended["status"], "FAILED", "{ended}");
    assert!(ended["reason"].as_str().unwrap().contains("ABORTED"), "{ended}");
    assert_eq!(t.repairs("x-1").await.unwrap(), vec![pair("ended_task", &task)]);
    let events: Vec<_> = t.drain_events().await.unwrap().into_iter().filter(|e| e["task_id"] == task.as_str()).collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0]["event_type"].as_str(), events[0]["status"].as_str()), (Some("TaskFailed"), Some("FAILED")));
    assert!(t.classes("show/x/").await.unwrap().values().all(|c| c == "STANDARD"));
    // AND a second run finds nothing to end, and the asset is free for the next task
    let again = t.reconcile(&later(2)).await.unwrap();
    assert_eq!(again["repairs"].get("ended_task"), None, "{again}");
    let next = t.request("x-1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "b"})).await.unwrap();
    assert_eq!(t.wait_task(&next, WAIT).await.unwrap()["status"], "SUCCEEDED");
    assert!(t.classes("show/x/").await.unwrap().values().all(|c| c == "GLACIER"));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_past_its_time_limit_fails_with_why_once_and_frees_its_asset() {
    // GIVEN a stack whose tasks may wait 60 seconds, and a restore whose completions never come
    // (the completion function is paused: S3's events wait in their queue)
    let mut options = Options::default();
    options.parameters.insert("TaskTimeoutSeconds".into(), "60".into());
    let t = TestStack::start_with("timeout", options).await.unwrap();
    t.put_objects("show/y/", 4, 16).await.unwrap();
    t.register("y-1", "show/y/", "editorial").await.unwrap();
    let archive = t.request("y-1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "a"})).await.unwrap();
    assert_eq!(t.wait_task(&archive, WAIT).await.unwrap()["status"], "SUCCEEDED");
    t.runner().pause("slm-completion");
    t.drain_events().await.unwrap();

    // WHEN the restore waits past the limit
    let restore = t.request("y-1", json!({"action": "restore", "days": 1, "tier": "Bulk", "request_id": "r"})).await.unwrap();
    let ended = t.wait_task(&restore, WAIT).await.unwrap();

    // THEN the task is FAILED with the timeout as its reason, announced once, its asset free
    assert_eq!(ended["status"], "FAILED", "{ended}");
    assert!(ended["reason"].as_str().unwrap().contains("States.Timeout"), "{ended}");
    assert_eq!(t.execution_status(&restore).await.unwrap(), "FAILED");
    let events: Vec<_> = t.drain_events().await.unwrap().into_iter().filter(|e| e["task_id"] == restore.as_str()).collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event_type"], "TaskFailed");
    // AND the restore completions that arrive late change nothing, and the reconciler ends nothing more
    t.runner().resume("slm-completion");
    t.wait_idle(&["S3EventsQueue"], WAIT).await.unwrap();
    assert_eq!(status(&t, &restore).await["status"], "FAILED");
    let report = t.reconcile(&later(1)).await.unwrap();
    assert_eq!(report["repairs"].get("ended_task"), None, "{report}");
    assert_eq!(t.drain_events().await.unwrap().len(), 0);
    let purge = t.request("y-1", json!({"action": "purge", "request_id": "p"})).await.unwrap();
    assert_eq!(t.wait_task(&purge, WAIT).await.unwrap()["status"], "SUCCEEDED");
    t.stop().await;
}

/// The calls of `op` slm asked for since the last reset (not their attempts: a retry under load is not a call).
fn count(t: &TestStack, op: &str) -> u64 {
    t.counter.asked().get(op).copied().unwrap_or(0)
}

/// Runs the reconciler's schedule at `at` without waiting for its sweep.
async fn schedule(t: &TestStack, at: &str) -> serde_json::Value {
    let time = chrono::DateTime::parse_from_rfc3339(at).unwrap().with_timezone(&chrono::Utc);
    t.runner().send_schedule("slm-reconciler", time).await.unwrap()
}

/// The reconcile queue's messages, taken off the queue.
async fn take_reconcile_messages(t: &TestStack) -> Vec<String> {
    let url = &t.stack.queue("ReconcileQueue").unwrap().url;
    let mut bodies = Vec::new();
    for _ in 0..20 {
        let out = t.clients.sqs.receive_message().queue_url(url).max_number_of_messages(10).wait_time_seconds(1).send().await.unwrap();
        if out.messages().is_empty() && t.queue_depth("ReconcileQueue").await.unwrap() == 0 {
            break;
        }
        for m in out.messages() {
            bodies.push(m.body().unwrap().to_string());
            t.clients.sqs.delete_message().queue_url(url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sweeps_run_one_at_a_time_and_each_message_sends_its_continuation_once() {
    if stopped_by("sweeps_run_one_at_a_time_and_each_message_sends_its_continuation_once", &[Defect::VersionsIgnoreMaxKeys]).await.unwrap() {
        return;
    }
    // GIVEN an asset of 45 files over 2 shards, swept 20 keys a message (2 keys a message, at
    // least 10 per shard), with a file deleted and an object created behind slm's back
    let mut options = Options::default();
    options.runner.env_overrides.insert("FILE_SHARDS".into(), "2".into());
    options.runner.env_overrides.insert("RECONCILE_KEYS_PER_MESSAGE".into(), "2".into());
    let t = TestStack::start_with("sweep1", options).await.unwrap();
    let keys = t.put_objects("show/big/", 45, 16).await.unwrap();
    t.register("big-1", "show/big/", "editorial").await.unwrap();
    t.clients.s3.delete_object().bucket(&t.bucket).key(&keys[30]).send().await.unwrap();
    let late = "show/big/frame_000012b.exr".to_string();
    t.clients.s3.put_object().bucket(&t.bucket).key(&late).body(vec![1u8; 8].into()).send().await.unwrap();
    t.runner().pause("slm-reconciler");

    // WHEN a scheduled run starts a sweep, and its first page is delivered twice
    let at = later(1);
    assert_eq!(schedule(&t, &at).await["sweep"], "started");
    let first = take_reconcile_messages(&t).await;
    assert_eq!(first.len(), 1, "{first:?}");
    t.send("ReconcileQueue", &first[0]).await.unwrap();
    t.send("ReconcileQueue", &first[0]).await.unwrap();
    t.counter.reset();
    t.runner().resume("slm-reconciler");
    t.wait_idle(&["ReconcileQueue"], WAIT).await.unwrap();

    // THEN the asset's rest is handed on once: one message of its own for keys 21-40, which
    // hands on 41-46 once; the second delivery of the page sent nothing
    assert_eq!(count(&t, "sqs:SendMessage"), 2, "{:?}", t.counter.asked());
    // AND every key was compared: each drift repaired once
    assert_eq!(sorted(t.repairs("big-1").await.unwrap()), vec![pair("marked_missing", &keys[30]), pair("registered", &late)]);

    // WHEN one of the asset's own messages is delivered again after the sweep ended
    t.counter.reset();
    let stale = json!({"kind": "asset", "at": at, "asset_id": "big-1", "after": keys[19]}).to_string();
    t.send("ReconcileQueue", &stale).await.unwrap();
    t.wait_idle(&["ReconcileQueue"], WAIT).await.unwrap();
    // THEN it finds the asset's cursor moved and does nothing
    assert_eq!((count(&t, "sqs:SendMessage"), count(&t, "s3:ListObjectVersions")), (0, 0), "{:?}", t.counter.asked());

    // AND the sweep ended, so the next scheduled run starts one
    t.runner().pause("slm-reconciler");
    let next = later(2);
    assert_eq!(schedule(&t, &next).await["sweep"], "started");
    // WHEN the next runs come while that sweep has not moved (its messages wait)
    let soon = (chrono::Utc::now() + chrono::Duration::minutes(30)).to_rfc3339();
    assert_eq!(schedule(&t, &soon).await["sweep"], "running", "inside the lease (2 h)");
    assert_eq!(t.queue_depth("ReconcileQueue").await.unwrap(), 1, "no second sweep");
    // THEN one past the lease takes it for dead and starts another
    let after_lease = later(5);
    assert_eq!(schedule(&t, &after_lease).await["sweep"], "taken_over");
    assert_eq!(t.queue_depth("ReconcileQueue").await.unwrap(), 2);
    // AND the dead sweep's message does nothing when it comes: only the new sweep's page works
    t.counter.reset();
    t.runner().resume("slm-reconciler");
    t.wait_idle(&["ReconcileQueue"], WAIT).await.unwrap();
    assert_eq!(count(&t, "dynamodb:Scan"), 1, "one page of assets read, by the live sweep: {:?}", t.counter.asked());
    assert_eq!(t.repairs("big-1").await.unwrap().len(), 2, "nothing more to repair");
    assert_eq!(schedule(&t, &later(6)).await["sweep"], "started", "the new sweep ended");
    t.wait_idle(&["ReconcileQueue"], WAIT).await.unwrap();
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restore_waiting_for_s3_is_not_read_again_while_nothing_moves() {
    // GIVEN a restore whose files wait for S3 (the completion function paused, and the objects
    // rewritten in GLACIER so that S3 reports no restore), standing still
    let t = TestStack::start("waiting").await.unwrap();
    let keys = t.put_objects("show/wait/", 2, 16).await.unwrap();
    t.register("wait-1", "show/wait/", "editorial").await.unwrap();
    let archive = t.request("wait-1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "a"})).await.unwrap();
    t.wait_task(&archive, WAIT).await.unwrap();
    t.runner().pause("slm-completion");
    let restore = t.request("wait-1", json!({"action": "restore", "days": 1, "tier": "Bulk", "request_id": "r"})).await.unwrap();
    t.wait_files("wait-1", WAIT, |f| f.values().all(|i| i.get("step").is_some_and(|s| s == "REQUESTED"))).await.unwrap();
    for key in &keys {
        t.clients
            .s3
            .put_object()
            .bucket(&t.bucket)
            .key(key)
            .body(vec![2u8; 16].into())
            .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
            .send()
            .await
            .unwrap();
    }
    // (the sweep is not what is counted here)
    t.runner().pause("slm-reconciler");

    // WHEN the reconciler runs an hour later
    t.counter.reset();
    let first = schedule(&t, &later(1)).await;
    // THEN it looks at the task in full: its files recounted (a query per shard) and each
    // REQUESTED file checked with S3
    assert_eq!((first["tasks_checked"].as_u64(), first["tasks_waiting"].as_u64()), (Some(1), Some(0)), "{first}");
    assert_eq!(count(&t, "s3:HeadObject"), 2, "{:?}", t.counter.asked());
    let first_queries = count(&t, "dynamodb:Query");

    // WHEN it runs again an hour after that, nothing having moved
    t.counter.reset();
    let second = schedule(&t, &later(2)).await;
    // THEN the task is left waiting: no HEAD, none of its asset's 16 shards queried, not even
    // its asset read (the one GetItem is the sweep record); only the open-task index is read
    assert_eq!((second["tasks_checked"].as_u64(), second["tasks_waiting"].as_u64()), (Some(1), Some(1)), "{second}");
    let shards = 16;
    assert_eq!((first_queries - count(&t, "dynamodb:Query"), count(&t, "dynamodb:GetItem"), count(&t, "s3:HeadObject")), (shards, 1, 0), "{:?}", t.counter.asked());

    // WHEN the recheck interval (6 h) has passed
    t.counter.reset();
    let third = schedule(&t, &later(8)).await;
    // THEN it is looked at in full again
    assert_eq!(third["tasks_waiting"].as_u64(), Some(0), "{third}");
    assert_eq!(count(&t, "s3:HeadObject"), 2, "{:?}", t.counter.asked());
    assert_eq!(status(&t, &restore).await["status"], "RUNNING");
    t.stop().await;
}
