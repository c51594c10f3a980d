//! Tasks: the asset's lock and queue slot, the plan fence, commits and the completion claim.

use super::*;
use crate::domain::{Created, Outcome};
use crate::error::ErrorKind;

const RESTORE: Action = Action::Restore { days: 1, tier: crate::domain::RestoreTier::Bulk };

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
async fn commit_moves_the_counters_by_the_transitions_that_finished_files() {
    // GIVEN a running task planned over three files
    let meta = with_files("a", &["k1", "k2", "k3"]).await;
    let t = task("a", ARCHIVE, "r1");
    running(&meta, &t).await;
    planned(&meta, &t, 3).await;
    // WHEN one file is done, one failed and one requested
    let transitions = [archived(&file("a", "k1")), step(&file("a", "k2"), FileStep::Queued, FileStep::Failed), step(&file("a", "k3"), FileStep::Queued, FileStep::Requested)];
    let committed = meta.commit(&t.task_id, &transitions).await.unwrap();
    // THEN all three apply, two finish, one stays outstanding
    assert_eq!((committed.applied, committed.missed.clone(), committed.maybe_complete), (3, vec![], false));
    assert_eq!(counters(&meta, &t).await, TaskCounters { planned: 3, outstanding: 1, succeeded: 1, failed: 1, skipped: 0 });
}

#[tokio::test]
async fn a_transition_whose_from_no_longer_holds_is_missed_and_counters_do_not_move() {
    // GIVEN a running task whose file is done already (a first delivery recorded it)
    let meta = with_files("a", &["k1"]).await;
    let t = task("a", ARCHIVE, "r1");
    running(&meta, &t).await;
    planned(&meta, &t, 1).await;
    meta.commit(&t.task_id, &[archived(&file("a", "k1"))]).await.unwrap();
    let before = counters(&meta, &t).await;
    // WHEN a redelivery commits the same transition
    let again = meta.commit(&t.task_id, &[archived(&file("a", "k1"))]).await.unwrap();
    // THEN it is missed, written nothing, and the counters are as they were
    assert_eq!((again.applied, again.missed, again.written), (0, vec![0], vec![None]));
    assert_eq!(counters(&meta, &t).await, before);
}

#[tokio::test]
async fn a_file_another_task_moved_is_queued_for_the_next_task() {
    // GIVEN a file an earlier task left DONE
    let meta = with_files("a", &["k1"]).await;
    let earlier = TaskId::derive("a", &PURGE, "old");
    meta.commit(&earlier, &[step(&file("a", "k1"), FileStep::Queued, FileStep::Done)]).await.unwrap();
    // WHEN a new task moves it from QUEUED
    let t = task("a", ARCHIVE, "r1");
    let committed = meta.commit(&t.task_id, &[archived(&file("a", "k1"))]).await.unwrap();
    // THEN it applies, and the file is the new task's
    assert_eq!(committed.applied, 1);
    let steps = meta.steps_of("a", &[file("a", "k1")]).await.unwrap();
    assert_eq!(steps["k1"].task_id.as_deref(), Some(t.task_id.as_str()));
}

#[tokio::test]
async fn commit_returns_each_applied_file_as_its_transition_left_it() {
    // GIVEN a STANDARD file and a key never registered
    let meta = with_files("a", &["k1"]).await;
    let t = task("a", ARCHIVE, "r1");
    // WHEN both are archived in one commit
    let committed = meta.commit(&t.task_id, &[archived(&file("a", "k1")), archived(&file("a", "gone"))]).await.unwrap();
    // THEN the first comes back in GLACIER, archived; the second missed
    let written = committed.written[0].clone().expect("applied");
    assert_eq!((written.storage_class, written.state, written.size), (StorageClass::Glacier, FileState::Archived, 1000));
    assert_eq!((committed.written[1].clone(), committed.missed), (None, vec![1]));
}

#[tokio::test]
async fn a_commit_that_finishes_no_file_may_be_complete() {
    // GIVEN a running task still planning
    let meta = with_files("a", &["k1"]).await;
    let t = task("a", RESTORE, "r1");
    running(&meta, &t).await;
    // WHEN a restore is only requested
    let committed = meta.commit(&t.task_id, &[step(&file("a", "k1"), FileStep::Queued, FileStep::Requested)]).await.unwrap();
    // THEN nothing was counted, so the caller cannot tell: worth a claim
    assert!(committed.maybe_complete);
    assert_eq!(counters(&meta, &t).await, TaskCounters::default());
}

#[tokio::test]
async fn the_commit_that_finishes_the_last_file_after_planning_may_be_complete() {
    // GIVEN a running task planned over two files, one done
    let meta = with_files("a", &["k1", "k2"]).await;
    let t = task("a", ARCHIVE, "r1");
    running(&meta, &t).await;
    planned(&meta, &t, 2).await;
    assert!(!meta.commit(&t.task_id, &[archived(&file("a", "k1"))]).await.unwrap().maybe_complete);
    // WHEN the last one is done
    let last = meta.commit(&t.task_id, &[archived(&file("a", "k2"))]).await.unwrap();
    // THEN the task may be complete
    assert!(last.maybe_complete);
}

#[tokio::test]
async fn a_second_claim_signal_gets_none() {
    // GIVEN a running task planned and with nothing outstanding
    let meta = with_files("a", &[]).await;
    let t = task("a", ARCHIVE, "r1");
    running(&meta, &t).await;
    planned(&meta, &t, 0).await;
    // WHEN two callers claim the signal
    let first = meta.claim_signal(&t.task_id).await.unwrap();
    let second = meta.claim_signal(&t.task_id).await.unwrap();
    // THEN only the first wins, with the task and its token
    assert_eq!(first.and_then(|task| task.task_token).as_deref(), Some("token"));
    assert_eq!(second, None);
}

#[tokio::test]
async fn the_signal_is_not_claimed_before_planning_is_done_or_without_a_token() {
    // GIVEN a running task with nothing outstanding but planning not done
    let meta = with_files("a", &[]).await;
    let t = task("a", ARCHIVE, "r1");
    meta.create_task(&t).await.unwrap();
    assert!(meta.claim_task(&t.task_id));
    assert!(meta.advance_plan(&t.task_id, None, "end", 0).await.unwrap());
    assert_eq!(meta.claim_signal(&t.task_id).await.unwrap(), None, "planning not done");
    // WHEN planning is done, still without a token
    meta.finish_planning(&t.task_id).await.unwrap();
    assert_eq!(meta.claim_signal(&t.task_id).await.unwrap(), None, "no token");
    // THEN the claim waits for the token
    assert!(meta.store_token(&t.task_id, "token").await.unwrap());
    assert!(meta.claim_signal(&t.task_id).await.unwrap().is_some());
}

#[tokio::test]
async fn a_released_claim_may_be_won_again() {
    // GIVEN a claim whose send failed
    let meta = with_files("a", &[]).await;
    let t = task("a", ARCHIVE, "r1");
    running(&meta, &t).await;
    planned(&meta, &t, 0).await;
    assert!(meta.claim_signal(&t.task_id).await.unwrap().is_some());
    // WHEN it is released
    meta.release_signal(&t.task_id).await.unwrap();
    // THEN the next attempt wins it
    assert!(meta.claim_signal(&t.task_id).await.unwrap().is_some());
}

#[tokio::test]
async fn a_token_is_stored_only_on_a_running_task() {
    // GIVEN a PENDING task, then the same task ended
    let meta = with_files("a", &[]).await;
    let t = task("a", ARCHIVE, "r1");
    meta.create_task(&t).await.unwrap();
    assert!(!meta.store_token(&t.task_id, "token").await.unwrap(), "pending");
    assert!(meta.claim_task(&t.task_id));
    let outcome = Outcome::from_counters(&t.task_id, &t.action, &TaskCounters::default(), "ACTIVE", "STANDARD");
    assert!(meta.record_outcome(&t.task_id, &outcome));
    // WHEN a late planner stores its token
    let stored = meta.store_token(&t.task_id, "token").await.unwrap();
    // THEN it is refused
    assert!(!stored);
}

#[tokio::test]
async fn failed_files_are_the_tasks_own_with_their_reasons_up_to_the_limit() {
    // GIVEN a task that failed two files and did one
    let meta = with_files("a", &["k1", "k2", "k3"]).await;
    let t = task("a", ARCHIVE, "r1");
    let fail = |k: &str| Transition { reason: Some(format!("{k} broke")), ..step(&file("a", k), FileStep::Queued, FileStep::Failed) };
    meta.commit(&t.task_id, &[fail("k1"), fail("k2"), archived(&file("a", "k3"))]).await.unwrap();
    // WHEN its failed files are read, all and at most one
    let all = meta.failed_files(&t, 10).await.unwrap();
    let one = meta.failed_files(&t, 1).await.unwrap();
    // THEN both failed files come with their reasons, and the limit holds
    let mut keys: Vec<(String, String)> = all;
    keys.sort();
    assert_eq!(keys, vec![("k1".to_string(), "k1 broke".to_string()), ("k2".to_string(), "k2 broke".to_string())]);
    assert_eq!(one.len(), 1);
}
