//! Tasks: the asset's lock and queue slot, promotion and the plan fence.

use super::*;
use crate::domain::Created;
use crate::error::ErrorKind;

#[tokio::test]
async fn a_new_task_takes_a_free_asset_with_its_action() {
    // GIVEN a registered asset no task holds
    let meta = with_files("a", &[]).await;
    let t = task("a", ARCHIVE, "r1");
    // WHEN a task is created on it
    let created = meta.create_task(&t).await.unwrap();
    // THEN it is new, holds the asset, and is in the store as given
    assert_eq!(created, Created::New(t.clone()));
    let a = meta.get_asset("a").await.unwrap().unwrap();
    assert_eq!((a.active_task.as_deref(), a.active_action.as_deref()), (Some(t.task_id.as_str()), Some("archive")));
    assert_eq!(meta.get_task(&t.task_id).await.unwrap().unwrap().status, TaskStatus::Pending);
}

#[tokio::test]
async fn create_task_on_an_asset_another_task_holds_returns_asset_busy_and_writes_nothing() {
    // GIVEN an asset an archive holds
    let meta = with_files("a", &[]).await;
    let holder = task("a", ARCHIVE, "r1");
    meta.create_task(&holder).await.unwrap();
    // WHEN a purge is asked for
    let purge = task("a", PURGE, "r2");
    let created = meta.create_task(&purge).await.unwrap();
    // THEN the asset is busy with the archive, and no purge task exists
    assert_eq!(created, Created::AssetBusy { active_task: holder.task_id.to_string(), active_action: "archive".into(), queued_task: None });
    assert_eq!(meta.get_task(&purge.task_id).await.unwrap(), None);
}

#[tokio::test]
async fn the_same_request_again_returns_the_existing_task() {
    // GIVEN a task made and moved on (claimed)
    let meta = with_files("a", &[]).await;
    let t = task("a", ARCHIVE, "r1");
    meta.create_task(&t).await.unwrap();
    assert!(meta.claim_task(&t.task_id));
    // WHEN the same request comes again
    let again = meta.create_task(&t).await.unwrap();
    // THEN it is the task as stored, not a new one
    assert_eq!(again, Created::Existing(Task { status: TaskStatus::Running, ..t }));
}

#[tokio::test]
async fn a_task_on_an_unknown_or_registering_asset_is_not_found() {
    // GIVEN an asset still registering
    let meta = MemoryMeta::new();
    assert!(meta.begin_registration(&asset("reg")).await.unwrap());
    // WHEN tasks are asked for on it and on an unknown asset
    let registering = meta.create_task(&task("reg", ARCHIVE, "r")).await.unwrap_err();
    let unknown = meta.create_task(&task("nope", ARCHIVE, "r")).await.unwrap_err();
    // THEN both are not found
    assert_eq!((registering.kind(), unknown.kind()), (ErrorKind::NotFound, ErrorKind::NotFound));
}

#[tokio::test]
async fn queue_task_takes_the_slot_and_promote_queued_starts_it_once_the_holder_is_released() {
    // GIVEN an asset an archive holds, and a restore queued behind it
    let meta = with_files("a", &[]).await;
    let holder = task("a", ARCHIVE, "r1");
    meta.create_task(&holder).await.unwrap();
    let waiting = queued("a", RESTORE, "r2");
    assert_eq!(meta.queue_task(&waiting).await.unwrap(), Created::New(waiting.clone()));
    assert!(meta.claim_task(&holder.task_id));
    assert_eq!(meta.promote_queued("a").await.unwrap(), None, "a running holder: nothing to start");
    // WHEN the holder ends and releases the asset, and the queued task is promoted
    assert!(meta.release_after_failure("a", &holder.task_id));
    let promoted = meta.promote_queued("a").await.unwrap();
    // THEN the restore is PENDING in the active slot, the queue slot is free
    assert_eq!(promoted, Some(Task { status: TaskStatus::Pending, ..waiting.clone() }));
    let a = meta.get_asset("a").await.unwrap().unwrap();
    assert_eq!((a.active_task, a.active_action.as_deref(), a.queued_task), (Some(waiting.task_id.to_string()), Some("restore"), None));
}

#[tokio::test]
async fn promote_queued_returns_the_active_task_only_while_it_is_pending() {
    // GIVEN an asset a PENDING task holds (its start may have been lost)
    let meta = with_files("a", &[]).await;
    let t = task("a", ARCHIVE, "r1");
    meta.create_task(&t).await.unwrap();
    assert_eq!(meta.promote_queued("a").await.unwrap().map(|p| p.task_id), Some(t.task_id.clone()));
    // WHEN it starts running
    assert!(meta.claim_task(&t.task_id));
    // THEN there is nothing to start
    assert_eq!(meta.promote_queued("a").await.unwrap(), None);
}

#[tokio::test]
async fn a_second_task_cannot_queue_while_the_slot_is_taken() {
    // GIVEN an archive holding the asset and a restore in its queue slot
    let meta = with_files("a", &[]).await;
    let holder = task("a", ARCHIVE, "r1");
    meta.create_task(&holder).await.unwrap();
    let first = queued("a", RESTORE, "r2");
    meta.queue_task(&first).await.unwrap();
    // WHEN a purge asks to queue too
    let second = queued("a", PURGE, "r3");
    let answer = meta.queue_task(&second).await.unwrap();
    // THEN it is refused as busy, naming both, and not written
    let busy = Created::AssetBusy { active_task: holder.task_id.to_string(), active_action: "archive".into(), queued_task: Some(first.task_id.to_string()) };
    assert_eq!(answer, busy);
    assert_eq!(meta.get_task(&second.task_id).await.unwrap(), None);
}

#[tokio::test]
async fn while_a_task_waits_on_a_free_asset_the_waiting_task_holds_it() {
    // GIVEN a queued task whose holder was released, not yet promoted
    let meta = with_files("a", &[]).await;
    let holder = task("a", ARCHIVE, "r1");
    meta.create_task(&holder).await.unwrap();
    let waiting = queued("a", RESTORE, "r2");
    meta.queue_task(&waiting).await.unwrap();
    assert!(meta.claim_task(&holder.task_id) && meta.release_after_failure("a", &holder.task_id));
    // WHEN another task is asked for
    let answer = meta.create_task(&task("a", PURGE, "r3")).await.unwrap();
    // THEN the waiting task is the one that holds it
    let id = waiting.task_id.to_string();
    assert_eq!(answer, Created::AssetBusy { active_task: id.clone(), active_action: String::new(), queued_task: Some(id) });
}

#[tokio::test]
async fn a_stale_advance_plan_fence_returns_false_and_changes_nothing() {
    // GIVEN a task whose plan cursor moved past its first page
    let meta = with_files("a", &[]).await;
    let t = task("a", ARCHIVE, "r1");
    meta.create_task(&t).await.unwrap();
    assert!(meta.advance_plan(&t.task_id, None, "page-1", 10).await.unwrap());
    // WHEN a second delivery of the first page moves it from where it was
    let moved = meta.advance_plan(&t.task_id, None, "page-1", 10).await.unwrap();
    // THEN the fence fails: the cursor and counts are the first delivery's
    assert!(!moved);
    let after = meta.get_task(&t.task_id).await.unwrap().unwrap();
    assert_eq!((after.plan_cursor.as_deref(), after.counters.planned, after.counters.outstanding), (Some("page-1"), 10, 10));
    assert!(meta.advance_plan(&t.task_id, Some("page-1"), "page-2", 5).await.unwrap(), "the next page moves on");
}

#[tokio::test]
async fn a_task_in_the_slot_that_is_no_longer_queued_is_not_promoted() {
    // GIVEN a task put in the queue slot as PENDING (not QUEUED), its holder released
    let meta = with_files("a", &[]).await;
    let holder = task("a", ARCHIVE, "r1");
    meta.create_task(&holder).await.unwrap();
    let odd = task("a", RESTORE, "r2");
    meta.queue_task(&odd).await.unwrap();
    assert!(meta.claim_task(&holder.task_id) && meta.release_after_failure("a", &holder.task_id));
    // WHEN the slot is promoted
    let promoted = meta.promote_queued("a").await.unwrap();
    // THEN the transaction's condition on the task fails: nothing moves
    assert_eq!(promoted, None);
    let a = meta.get_asset("a").await.unwrap().unwrap();
    assert_eq!((a.active_task, a.queued_task), (None, Some(odd.task_id.to_string())));
}
