//! Commits, the completion claim and the report of failed files.

use super::*;
use crate::domain::Outcome;

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
    assert_eq!(counters(&meta, &t).await, TaskCounters { planned: 3, outstanding: 1, succeeded: 1, failed: 1, skipped: 0, kept: 0 });
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
    let outcome = Outcome::from_counters(&t.task_id, &t.action, &TaskCounters::default(), "ACTIVE", StorageClass::Standard.into());
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
