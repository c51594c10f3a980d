//! The state machine's own writes, under its conditions.

use super::*;
use crate::adapters::dynamo::RECHECK;
use crate::domain::Outcome;

#[tokio::test]
async fn a_task_is_claimed_once() {
    // GIVEN a PENDING task
    let meta = with_files("a", &[]).await;
    let t = task("a", ARCHIVE, "r1");
    meta.create_task(&t).await.unwrap();
    // WHEN two executions claim it
    let (first, second) = (meta.claim_task(&t.task_id), meta.claim_task(&t.task_id));
    // THEN only the first moves it to RUNNING
    assert!(first && !second);
    assert_eq!(meta.get_task(&t.task_id).await.unwrap().unwrap().status, TaskStatus::Running);
}

#[tokio::test]
async fn only_the_holder_releases_the_asset_which_is_then_looked_at_again() {
    // GIVEN an asset an archive holds, which succeeded
    let meta = with_files("a", &[]).await;
    let t = task("a", ARCHIVE, "r1");
    meta.create_task(&t).await.unwrap();
    meta.claim_task(&t.task_id);
    let done = TaskCounters { planned: 1, succeeded: 1, ..TaskCounters::default() };
    let outcome = Outcome::from_counters(&t.task_id, &t.action, &done, "ACTIVE", StorageClass::Standard.into());
    // WHEN another task's execution releases it, then its own
    let other = meta.release_asset("a", &TaskId::derive("a", &PURGE, "x"), &outcome).unwrap();
    let own = meta.release_asset("a", &t.task_id, &outcome).unwrap();
    // THEN only its own frees it, with the state and class after the task, due for a recheck
    assert!(!other && own);
    let a = meta.get_asset("a").await.unwrap().unwrap();
    assert_eq!((a.active_task, a.state, a.storage_class.as_str(), a.due_at.as_deref()), (None, AssetState::Archived, "GLACIER", Some(RECHECK)));
}

#[tokio::test]
async fn an_ended_task_leaves_the_open_index_and_is_not_ended_again() {
    // GIVEN a running task of a shard's open tasks
    let meta = with_files("a", &[]).await;
    let t = task("a", ARCHIVE, "r1");
    running(&meta, &t).await;
    let shard = crate::domain::policy::due_shard(t.task_id.as_str());
    assert_eq!(crate::ports::RepairStore::open_tasks(&meta, shard, "9999", None).await.unwrap().0.len(), 1);
    // WHEN its outcome is recorded, then its failure
    let outcome = Outcome::from_counters(&t.task_id, &t.action, &TaskCounters::default(), "ACTIVE", StorageClass::Standard.into());
    let recorded = meta.record_outcome(&t.task_id, &outcome);
    let failed = meta.record_failure(&t.task_id, "late");
    // THEN the first ends it (token gone, out of the index); the second finds it ended
    assert!(recorded && !failed);
    let ended = meta.get_task(&t.task_id).await.unwrap().unwrap();
    assert_eq!((ended.status, ended.task_token, ended.reason.as_deref()), (TaskStatus::Succeeded, None, Some("")));
    assert!(crate::ports::RepairStore::open_tasks(&meta, shard, "9999", None).await.unwrap().0.is_empty());
}
