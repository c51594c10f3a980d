//! The conflict matrix end to end: every pair of running action and new request gets the answer
//! docs/architecture.md ("Conflicts") gives it (joined, queued or refused, and why); queued
//! tasks start when the task before them ends; refusals and joins create nothing.

use serde_json::{Value, json};
use slm_e2e::TestStack;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(180);

/// Asks for `body` on `asset` and checks the answer: its HTTP status and what the answer says.
async fn ask(t: &TestStack, asset: &str, body: Value, status: i64, says: &str) -> Value {
    let (got, out) = t.api("POST", &format!("/assets/{asset}/tasks"), Some(body.clone())).await;
    assert_eq!(got, status, "{body} on {asset}: {out}");
    let text = out["message"].as_str().or(out["conflict"].as_str()).unwrap_or_default();
    assert!(text.contains(says), "{body} on {asset}: expected {says:?} in {out}");
    out
}

fn id(answer: &Value) -> String {
    answer["task"]["task_id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_cell_of_the_conflict_matrix_is_answered_as_documented() {
    // GIVEN four assets of three files; one of them archived to GLACIER first
    let t = TestStack::start("conflicts").await.unwrap();
    let mut keys = std::collections::BTreeMap::new();
    for asset in ["arch-a", "arch-b", "restoring", "purging"] {
        keys.insert(asset, t.put_objects(&format!("show/{asset}/"), 3, 16).await.unwrap());
        t.register(asset, &format!("show/{asset}/"), "editorial").await.unwrap();
    }
    let first = t.request("restoring", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "r0"})).await.unwrap();
    assert_eq!(t.wait_task(&first, WAIT).await.unwrap()["status"], "SUCCEEDED");

    // AND the workers paused (their event source disabled), so the tasks below stay running
    t.runner().pause("slm-worker");
    let archive = |c: &str, r: &str| json!({"action": "archive", "storage_class": c, "request_id": r});
    let restore = |days: u32, r: &str| json!({"action": "restore", "days": days, "tier": "Bulk", "request_id": r});
    let purge = |r: &str| json!({"action": "purge", "request_id": r});

    // WHEN an archive runs: the same archive joins it, another class is refused, a restore is
    // queued; the same restore again joins the queued one, and the slot being taken, a purge is refused
    let a1 = ask(&t, "arch-a", archive("GLACIER", "a1"), 202, "").await;
    let joined = ask(&t, "arch-a", archive("GLACIER", "a2"), 200, "joined").await;
    assert_eq!((id(&joined), joined["created"].as_bool()), (id(&a1), Some(false)));
    ask(&t, "arch-a", archive("DEEP_ARCHIVE", "a3"), 409, "being archived to another class").await;
    let a4 = ask(&t, "arch-a", restore(2, "a4"), 202, "queued behind").await;
    assert_eq!(a4["task"]["status"], "QUEUED");
    let again = ask(&t, "arch-a", restore(2, "a5"), 200, "joined").await;
    assert_eq!(id(&again), id(&a4));
    let repeated = ask(&t, "arch-a", restore(2, "a4"), 200, "").await;
    assert_eq!((id(&repeated), repeated["created"].as_bool()), (id(&a4), Some(false)), "a repeated request is the same task");
    ask(&t, "arch-a", purge("a6"), 409, "another task waits").await;
    // ...and a purge asked while an archive runs is queued
    let b1 = ask(&t, "arch-b", archive("GLACIER", "b1"), 202, "").await;
    let b2 = ask(&t, "arch-b", purge("b2"), 202, "queued behind").await;

    // WHEN a restore runs: an archive and a purge are refused, the same restore joins, a longer
    // one is queued (it extends the window once the first completes)
    let c1 = ask(&t, "restoring", restore(1, "c1"), 202, "").await;
    ask(&t, "restoring", archive("GLACIER_IR", "c2"), 409, "being restored for a reader").await;
    ask(&t, "restoring", purge("c3"), 409, "being restored for a reader").await;
    let joined = ask(&t, "restoring", restore(1, "c4"), 200, "joined").await;
    assert_eq!(id(&joined), id(&c1));
    let c5 = ask(&t, "restoring", restore(5, "c5"), 202, "queued behind").await;

    // WHEN a purge runs: an archive and a restore are refused, the same purge joins
    let d1 = ask(&t, "purging", purge("d1"), 202, "").await;
    ask(&t, "purging", archive("GLACIER", "d2"), 409, "being purged").await;
    ask(&t, "purging", restore(1, "d3"), 409, "being purged").await;
    let joined = ask(&t, "purging", purge("d4"), 200, "joined").await;
    assert_eq!(id(&joined), id(&d1));

    // THEN joins and refusals created nothing: the first archive and the seven tasks above
    assert_eq!(t.count_items("TasksTable").await.unwrap(), 1 + 7);
    let (_, asset) = t.api("GET", "/assets/arch-a", None).await;
    assert_eq!((asset["active_task"].as_str(), asset["queued_task"].as_str()), (Some(id(&a1).as_str()), Some(id(&a4).as_str())), "{asset}");

    // WHEN the workers run again
    t.runner().resume("slm-worker");

    // THEN each running task ends, and each queued one starts after it and ends too
    assert_eq!(t.wait_task(&id(&a1), WAIT).await.unwrap()["status"], "SUCCEEDED");
    t.complete_restores("arch-a", &id(&a4), WAIT).await.unwrap();
    let queued_restore = t.wait_task(&id(&a4), WAIT).await.unwrap();
    assert_eq!(queued_restore["status"], "SUCCEEDED", "{queued_restore}");
    assert_eq!(t.wait_task(&id(&b1), WAIT).await.unwrap()["status"], "SUCCEEDED");
    assert_eq!(t.wait_task(&id(&b2), WAIT).await.unwrap()["status"], "SUCCEEDED");
    assert_eq!(t.all_versions("show/arch-b/").await.unwrap(), vec![], "the queued purge ran after the archive");
    assert_eq!(t.wait_task(&id(&d1), WAIT).await.unwrap()["status"], "SUCCEEDED");

    // AND the queued restore extends the window of the completed one
    t.complete_restores("restoring", &id(&c1), WAIT).await.unwrap();
    assert_eq!(t.wait_task(&id(&c1), WAIT).await.unwrap()["status"], "SUCCEEDED");
    // (the completed window is not read back: on LocalStack the queued restore may already have
    // extended it)
    let one_day = slm_core::domain::action::restore_window_end(chrono::Utc::now(), 1);
    let extended = t.wait_task(&id(&c5), WAIT).await.unwrap();
    assert_eq!(extended["status"], "SUCCEEDED", "{extended}");
    let after = t.file_items("restoring").await.unwrap();
    let five_days = slm_core::domain::action::restore_window_end(chrono::Utc::now(), 5);
    for (key, f) in &after {
        assert_eq!(f["file_state"], "RESTORED", "{key}");
        assert!(f["restore_expiry"] > one_day && f["restore_expiry"][..10] == five_days[..10], "{key}: {} after {one_day}", f["restore_expiry"]);
    }
    for asset in ["arch-a", "arch-b", "restoring", "purging"] {
        let (_, a) = t.api("GET", &format!("/assets/{asset}"), None).await;
        assert!(a["active_task"].is_null() && a["queued_task"].is_null(), "{a}");
    }

    // WHEN the window of one restored file ends (S3 says ObjectRestore:Delete)
    let key = &keys["restoring"][0];
    let event = json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectRestore:Delete",
        "eventTime": "2026-12-01T00:00:01.000Z",
        "s3": {"bucket": {"name": t.bucket}, "object": {"key": key.replace('/', "%2F"), "size": 16}}}]});
    t.send("S3EventsQueue", &event.to_string()).await.unwrap();
    t.wait_idle(&["S3EventsQueue"], WAIT).await.unwrap();

    // THEN that file is archived again, and the asset is no longer restored as a whole
    let files = t.file_items("restoring").await.unwrap();
    assert_eq!(files[key]["file_state"], "ARCHIVED");
    assert!(!files[key].contains_key("restore_expiry"), "{:?}", files[key]);
    assert_eq!(files.values().filter(|f| f["file_state"] == "RESTORED").count(), 2);
    let (_, asset) = t.api("GET", "/assets/restoring", None).await;
    assert_eq!(asset["state"], "ARCHIVED", "{asset}");
    t.stop().await;
}
