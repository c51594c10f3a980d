//! Transient errors never fail a file: S3 5xx and SlowDown, DynamoDB throttling and transaction
//! conflicts, SQS 5xx, injected between the functions and the emulator, are retried (by the SDK,
//! in place, or by the message coming back) until the task succeeds; only a permanent answer
//! fails a file.

use serde_json::json;
use slm_e2e::{Options, TestStack, tally};
use slm_local::faults::{Fault, FaultInjector, FaultRule};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(300);

fn counters(task: &serde_json::Value) -> (i64, i64, i64, i64) {
    let n = |k: &str| task["counters"][k].as_i64().unwrap_or(-1);
    (n("planned"), n("succeeded"), n("failed"), n("skipped"))
}

async fn stack_with(name: &str, versioned: bool, rules: Vec<FaultRule>) -> (TestStack, FaultInjector) {
    let faults = FaultInjector::start(rules, 11).await.unwrap();
    let options = Options { versioned, faults: Some(faults.clone()), ..Default::default() };
    (TestStack::start_with(name, options).await.unwrap(), faults)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_purge_whose_version_listings_answer_500_without_a_code_succeeds_once_they_recover() {
    // GIVEN a versioned bucket of 3 files whose first 15 ListObjectVersions answer a bare 500:
    // every listing exhausts the SDK's 5 attempts, as the emulator's own 500s did in the demo,
    // so the work message fails and comes back
    let (t, faults) = stack_with("transient-purge", true, vec![FaultRule::first(15, "s3", "ListObjectVersions", Fault::BareInternalError)]).await;
    faults.set_active(false);
    t.put_objects("show/tmp/", 3, 16).await.unwrap();
    t.register("tmp-1", "show/tmp/", "temp_render").await.unwrap();
    faults.set_active(true);

    // WHEN the asset is purged
    let purge = t.request("tmp-1", json!({"action": "purge", "request_id": "p"})).await.unwrap();
    let task = t.wait_task(&purge, WAIT).await.unwrap();

    // THEN the faults happened, no file failed, and nothing of the asset is left
    assert_eq!(faults.injected(), vec![15]);
    assert_eq!(task["status"], "SUCCEEDED", "{task}");
    assert_eq!(counters(&task), (3, 3, 0, 0));
    assert_eq!(t.all_versions("show/tmp/").await.unwrap(), vec![]);
    let files = t.file_items("tmp-1").await.unwrap();
    assert_eq!(tally(files.values().map(|f| f["file_state"].as_str())), [("PURGED".to_string(), 3)].into());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_archive_under_slowdown_internal_errors_and_throttling_moves_every_file() {
    // GIVEN S3 answering SlowDown and InternalError, DynamoDB throttling the file transitions and
    // SQS failing the planner's sends, each a few times in a row
    let rules = vec![
        FaultRule::first(30, "s3", "CopyObject", Fault::S3SlowDown),
        FaultRule::first(8, "s3", "HeadObject", Fault::S3InternalError),
        FaultRule::first(4, "dynamodb", "UpdateItem", Fault::DynamoThroughput),
        FaultRule::first(3, "dynamodb", "Query", Fault::DynamoThrottling),
        FaultRule::first(3, "sqs", "SendMessage", Fault::ServiceUnavailable),
    ];
    let (t, faults) = stack_with("transient-archive", false, rules).await;
    faults.set_active(false);
    t.put_objects("show/cam/", 40, 64).await.unwrap();
    t.register("cam-1", "show/cam/", "camera_original").await.unwrap();
    faults.set_active(true);

    // WHEN it is archived to DEEP_ARCHIVE
    let archive = t.request("cam-1", json!({"action": "archive", "storage_class": "DEEP_ARCHIVE", "request_id": "a"})).await.unwrap();
    let task = t.wait_task(&archive, WAIT).await.unwrap();

    // THEN every fault was injected, and every object and file item is archived, none failed
    assert_eq!(faults.injected(), vec![30, 8, 4, 3, 3]);
    assert_eq!(task["status"], "SUCCEEDED", "{task}");
    assert_eq!(counters(&task), (40, 40, 0, 0));
    let classes = t.classes("show/cam/").await.unwrap();
    assert_eq!(tally(classes.values().map(String::as_str)), [("DEEP_ARCHIVE".to_string(), 40)].into());
    let files = t.file_items("cam-1").await.unwrap();
    assert_eq!(tally(files.values().map(|f| f["file_state"].as_str())), [("ARCHIVED".to_string(), 40)].into());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_request_whose_transaction_meets_a_conflict_is_retried_and_creates_one_task() {
    // GIVEN DynamoDB cancelling the first three transactions for a conflicting transaction
    let (t, faults) = stack_with("transient-conflict", false, vec![FaultRule::first(3, "dynamodb", "TransactWriteItems", Fault::DynamoTransactionConflict)]).await;
    faults.set_active(false);
    t.put_objects("show/ed/", 3, 16).await.unwrap();
    t.register("ed-1", "show/ed/", "editorial").await.unwrap();
    faults.set_active(true);

    // WHEN a task is requested
    let (status, out) = t.api("POST", "/assets/ed-1/tasks", Some(json!({"action": "archive", "storage_class": "GLACIER", "request_id": "c"}))).await;

    // THEN the conflicts were retried, not read as a refusal: the task was created and runs
    assert_eq!(faults.injected(), vec![3]);
    assert_eq!(status, 202, "{out}");
    let task = t.wait_task(out["task"]["task_id"].as_str().unwrap(), WAIT).await.unwrap();
    assert_eq!(task["status"], "SUCCEEDED", "{task}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_applied_but_answered_with_an_error_count_once() {
    // GIVEN DynamoDB applying the workers' first 20 UpdateItems (file transitions, counters, the
    // completion claim) but answering each with a 500, so the SDK retries what was applied
    let rule = FaultRule::first(20, "dynamodb", "UpdateItem", Fault::ServiceUnavailable).after_applied();
    let (t, faults) = stack_with("lost-answers", false, vec![rule]).await;
    faults.set_active(false);
    t.put_objects("show/vfx/", 30, 32).await.unwrap();
    t.register("vfx-1", "show/vfx/", "vfx_plate").await.unwrap();
    t.runner().pause("slm-worker");
    let id = t.request("vfx-1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "l"})).await.unwrap();
    let start = std::time::Instant::now();
    while t.api("GET", &format!("/tasks/{id}"), None).await.1["planning_done"] != true {
        assert!(start.elapsed() < WAIT, "planning did not end");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // WHEN the workers run
    faults.set_active(true);
    t.runner().resume("slm-worker");
    let task = t.wait_task(&id, WAIT).await.unwrap();

    // THEN every fault was met, and each file counted once: the task ends as its files say
    assert_eq!(faults.injected(), vec![20]);
    assert_eq!(task["status"], "SUCCEEDED", "{task}");
    assert_eq!(counters(&task), (30, 30, 0, 0));
    assert_eq!(task["counters"]["outstanding"], 0, "{task}");
    let classes = t.classes("show/vfx/").await.unwrap();
    assert_eq!(tally(classes.values().map(String::as_str)), [("GLACIER".to_string(), 30)].into());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_archive_whose_connections_drop_or_stall_moves_every_file() {
    // GIVEN S3 copies whose connections drop, DynamoDB transitions that get no answer for
    // longer than the clients wait, and queue sends dropped, each a few times in a row
    let rules = vec![
        FaultRule::first(6, "s3", "CopyObject", Fault::ConnectionDropped),
        FaultRule::first(3, "dynamodb", "UpdateItem", Fault::Stall),
        FaultRule::first(2, "sqs", "SendMessage", Fault::ConnectionDropped),
    ];
    let (t, faults) = stack_with("drops", false, rules).await;
    faults.set_active(false);
    t.put_objects("show/dai/", 20, 32).await.unwrap();
    t.register("dai-1", "show/dai/", "dailies").await.unwrap();
    faults.set_active(true);

    // WHEN it is archived
    let started = std::time::Instant::now();
    let archive = t.request("dai-1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "r"})).await.unwrap();
    let task = t.wait_task(&archive, WAIT).await.unwrap();

    // THEN each dropped connection and each stall was met and retried (a stall once its attempt timed out),
    // and every object and file item is archived, none failed
    assert_eq!(faults.injected(), vec![6, 3, 2]);
    assert!(started.elapsed() >= slm_local::faults::TIMEOUTS.attempt, "a stalled attempt ended before its timeout");
    assert_eq!(task["status"], "SUCCEEDED", "{task}");
    assert_eq!(counters(&task), (20, 20, 0, 0));
    let classes = t.classes("show/dai/").await.unwrap();
    assert_eq!(tally(classes.values().map(String::as_str)), [("GLACIER".to_string(), 20)].into());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scheduled_run_that_fails_after_the_sdk_s_retries_is_run_again_as_lambda_retries_it() {
    // GIVEN an asset, and DynamoDB answering the reconciler's first 5 queries 503: every attempt
    // the SDK makes of its first query, so its scheduled run fails
    let (t, faults) = stack_with("transient-schedule", false, vec![FaultRule::first(5, "dynamodb", "Query", Fault::ServiceUnavailable)]).await;
    faults.set_active(false);
    t.put_objects("show/sched/", 2, 16).await.unwrap();
    t.register("sched-1", "show/sched/", "temp_render").await.unwrap();
    faults.set_active(true);

    // WHEN EventBridge invokes the reconciler on its schedule
    let run = t.reconcile("2027-01-01T00:00:00Z").await;

    // THEN the failed run was run again, as Lambda retries an asynchronous invocation, and the
    // second run did the work: it started a sweep, which compared the asset's keys
    let run = run.expect("the retried run succeeds");
    assert_eq!(faults.injected(), vec![5]);
    assert_eq!(run["sweep"], "started", "{run}");
    t.stop().await;
}
