//! A completion event SNS refuses is not lost: the execution keeps it on its task (the task's
//! own outcome stands), and the reconciler publishes it once the topic takes it again.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;
use slm_e2e::{TestStack, dedupe, later};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_sns_refused_is_kept_on_its_task_and_published_by_the_reconciler_once() {
    // GIVEN an archive whose completion event cannot be published: the topic is gone
    let t = TestStack::start("unpublished").await.unwrap();
    t.put_objects("show/ed/", 3, 16).await.unwrap();
    t.register("ed-1", "show/ed/", "editorial").await.unwrap();
    let topic = t.stack.topics["EventsTopic"].clone();
    t.clients.sns().delete_topic().topic_arn(&topic).send().await.unwrap();

    // WHEN the task runs to its end
    let id = t.request("ed-1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "u"})).await.unwrap();
    let task = t.wait_task(&id, WAIT).await.unwrap();

    // THEN the task and its execution succeeded all the same, and the event is kept on the task
    assert_eq!(task["status"], "SUCCEEDED", "{task}");
    assert_eq!(t.execution_status(&id).await.unwrap(), "SUCCEEDED");
    let item = t
        .clients
        .dynamodb
        .get_item()
        .table_name(t.stack.table("TasksTable").unwrap())
        .key("task_id", AttributeValue::S(id.clone()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item.get("open_shard"), Some(&AttributeValue::S("unpublished".into())));
    let kept: serde_json::Value = serde_json::from_str(item["kept_event"].as_s().unwrap()).unwrap();
    assert_eq!(kept["event_id"], format!("{id}:TaskCompleted"));
    assert!(item.contains_key("publish_error"), "{item:?}");

    // WHEN the topic is back and the reconciler runs, twice
    let name = topic.rsplit(':').next().unwrap();
    let again = t.clients.sns().create_topic().name(name).send().await.unwrap();
    assert_eq!(again.topic_arn(), Some(topic.as_str()));
    t.clients.sns().subscribe().topic_arn(&topic).protocol("sqs").endpoint(&t.stack.observer.arn).send().await.unwrap();
    let first = t.reconcile(&later(1)).await.unwrap();
    let second = t.reconcile(&later(2)).await.unwrap();

    // THEN the subscriber received the event once, as the state machine would have sent it
    assert_eq!((first["events_published"].as_u64(), second["events_published"].as_u64()), (Some(1), Some(0)));
    let events = t.drain_events().await.unwrap();
    assert_eq!(events.len(), 1, "{events:#?}");
    let e = &dedupe(&events)[0];
    assert_eq!((e["event_id"].as_str(), e["status"].as_str(), e["action"].as_str()), (Some(format!("{id}:TaskCompleted").as_str()), Some("SUCCEEDED"), Some("archive")));
    assert_eq!(e["succeeded"], 3);
    assert_eq!(e["_attributes"]["event_type"]["Value"], "TaskCompleted");
    assert_eq!(e["_attributes"]["title_id"]["Value"], "title-1");
    t.stop().await;
}
