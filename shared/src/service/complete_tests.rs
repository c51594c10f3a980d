//! Unit tests of completion (`on_s3_changes`, `on_s3_change`) on the in-memory adapters: the
//! changes are built as the completion function builds them from S3's events
//! (functions/completion/src/s3_event.rs).

use super::{EventResult, RestorePlaces, S3Change};
use crate::domain::action::restore_window_end;
use crate::domain::{Action, AssetState, FileState, FileStep, RestoreTier, StorageClass, TaskId, TaskStatus};
use crate::ports::ObjectStore;
use crate::service::testing::{BUCKET, MemoryCore, core, now};

const RESTORE: Action = Action::Restore { days: 3, tier: RestoreTier::Bulk };
/// When S3 completes the restores (the events' `eventTime`).
const COMPLETED: &str = "2027-01-05T03:12:44.000Z";

fn completed_at() -> chrono::DateTime<chrono::Utc> {
    COMPLETED.parse().unwrap()
}

/// A restore of an asset of `files` GLACIER files whose every restore S3 was asked for and then
/// completed: its task and the token its execution waits on.
async fn restored_in_s3(core: &MemoryCore, files: usize) -> (TaskId, String) {
    core.asset_in("cam-1", &vec![StorageClass::Glacier; files]).await;
    let task = core.request("cam-1", RESTORE, "r1").await;
    let token = core.plan(&task.task_id).await;
    core.run_work().await;
    assert_eq!(core.objects.complete_restores(completed_at()), files);
    (task.task_id, token)
}

/// The ObjectRestore:Completed events of the asset's files, as S3 sends them: with the end of
/// the window S3 set (`lifecycleRestorationExpiryTime`) and the event's time.
async fn completions(core: &MemoryCore) -> Vec<S3Change> {
    let mut changes = Vec::new();
    for l in core.located_of("cam-1").await {
        let expiry = core.objects.restored_until(&l.file).await.unwrap();
        assert!(expiry.is_some(), "S3 completed the restore of {}", l.file.key);
        changes.push(S3Change::RestoreCompleted { bucket: BUCKET.into(), key: l.file.key, expiry, at: Some(COMPLETED.into()) });
    }
    changes
}

/// The events as an emulator sends them: without the window's end.
fn without_expiry(events: Vec<S3Change>) -> Vec<S3Change> {
    events
        .into_iter()
        .map(|c| match c {
            S3Change::RestoreCompleted { bucket, key, at, .. } => S3Change::RestoreCompleted { bucket, key, expiry: None, at },
            other => other,
        })
        .collect()
}

/// What the registry holds of the asset's files: (key, step, state, window end).
async fn registry(core: &MemoryCore) -> Vec<(String, Option<FileStep>, FileState, Option<String>)> {
    core.located_of("cam-1").await.into_iter().map(|l| (l.file.key, l.step, l.file.state, l.restore_expiry)).collect()
}

fn results(answers: Vec<crate::error::Result<EventResult>>) -> Vec<EventResult> {
    answers.into_iter().map(|r| r.expect("the event is answered")).collect()
}

#[tokio::test]
async fn restore_completions_move_each_file_to_restored_and_the_last_one_signals_the_task() {
    // GIVEN a restore of four files whose restores S3 completed
    let core = core();
    let (task_id, token) = restored_in_s3(&core, 4).await;
    let mut events = completions(&core).await;
    let last = events.pop().unwrap();
    let places = RestorePlaces::default();
    // WHEN the events of three files come
    let answered = results(core.on_s3_changes(events, &places, now()).await);
    // THEN those files are RESTORED until S3's window end, counted, and the task waits on
    assert_eq!(answered, vec![EventResult::Applied; 3]);
    let c = core.task(&task_id).await.counters;
    assert_eq!((c.succeeded, c.outstanding), (3, 1));
    assert_eq!(core.orchestrator.outcome(&token), None);
    // WHEN the last file's comes
    assert_eq!(results(core.on_s3_changes(vec![last], &places, now()).await), [EventResult::Applied]);
    // THEN every file is RESTORED and the execution is told the task succeeded, the asset RESTORED
    for (key, step, state, expiry) in registry(&core).await {
        assert_eq!((step, state, expiry.as_deref()), (Some(FileStep::Done), FileState::Restored, Some("2027-01-09T00:00:00Z")), "{key}");
    }
    let outcome = core.orchestrator.outcome(&token).expect("signalled");
    assert_eq!((outcome.status, outcome.succeeded, outcome.asset_state.as_str()), (TaskStatus::Succeeded, 4, "RESTORED"));
}

#[tokio::test]
async fn a_completion_without_s3s_window_end_takes_it_from_the_event_time_and_the_task_days() {
    // GIVEN a completed restore of three days, and events without an expiry (as an emulator sends)
    let core = core();
    restored_in_s3(&core, 2).await;
    let events = without_expiry(completions(&core).await);
    // WHEN they come
    let answered = results(core.on_s3_changes(events, &RestorePlaces::default(), now()).await);
    // THEN each window ends three days after the event, at the next midnight
    assert_eq!(answered, vec![EventResult::Applied; 2]);
    let end = restore_window_end(completed_at(), 3);
    for (key, _, state, expiry) in registry(&core).await {
        assert_eq!((state, expiry.as_deref()), (FileState::Restored, Some(end.as_str())), "{key}");
    }
}

#[tokio::test]
async fn a_duplicate_completion_changes_nothing_and_signals_nothing_more() {
    for warm in [true, false] {
        // GIVEN a restore whose completions were all applied and signalled
        let core = core();
        let (task_id, token) = restored_in_s3(&core, 3).await;
        let places = RestorePlaces::default();
        core.on_s3_changes(completions(&core).await, &places, now()).await;
        assert!(core.orchestrator.outcome(&token).is_some());
        let (files, task) = (registry(&core).await, core.task(&task_id).await);
        // WHEN S3 (or SQS) delivers them again, to a warm function or a cold one
        let again = match warm {
            true => core.on_s3_changes(completions(&core).await, &places, now()).await,
            false => core.on_s3_changes(completions(&core).await, &RestorePlaces::default(), now()).await,
        };
        // THEN each is ignored: no file, count or signal changes
        assert!(results(again).iter().all(|r| matches!(r, EventResult::Ignored(_))), "warm: {warm}");
        assert_eq!(registry(&core).await, files);
        assert_eq!(core.task(&task_id).await, task);
        assert!(core.orchestrator.ignored().is_empty(), "no second signal (warm: {warm})");
    }
}

#[tokio::test]
async fn the_same_completion_twice_in_one_batch_is_applied_once() {
    // GIVEN a restore of two files completed in S3
    let core = core();
    let (task_id, _) = restored_in_s3(&core, 2).await;
    let first = completions(&core).await.remove(0);
    // WHEN one batch holds the same event twice
    let answered = results(core.on_s3_changes(vec![first.clone(), first], &RestorePlaces::default(), now()).await);
    // THEN the first applies, the second is ignored, and the file is counted once
    assert_eq!(answered[0], EventResult::Applied);
    assert!(matches!(answered[1], EventResult::Ignored(_)), "{answered:?}");
    assert_eq!(core.task(&task_id).await.counters.succeeded, 1);
}

#[tokio::test]
async fn a_completion_for_a_key_not_registered_changes_nothing() {
    // GIVEN a restore in progress
    let core = core();
    let (task_id, token) = restored_in_s3(&core, 2).await;
    let (files, task) = (registry(&core).await, core.task(&task_id).await);
    // WHEN a completion comes for a key slm does not know
    let unknown = S3Change::RestoreCompleted { bucket: BUCKET.into(), key: "cam-1/stray.exr".into(), expiry: None, at: Some(COMPLETED.into()) };
    let answered = core.on_s3_change(unknown, now()).await.unwrap();
    // THEN it is ignored as not registered, and nothing changes
    assert!(matches!(&answered, EventResult::Ignored(why) if why.contains("is not registered")), "{answered:?}");
    assert_eq!(registry(&core).await, files);
    assert_eq!(core.task(&task_id).await, task);
    assert_eq!(core.orchestrator.outcome(&token), None);
}

#[tokio::test]
async fn a_completion_no_restore_awaits_is_ignored() {
    // GIVEN an archived asset with no task
    let core = core();
    core.asset_in("cam-1", &[StorageClass::Glacier]).await;
    let files = registry(&core).await;
    // WHEN a restore completion comes for its file (restored outside slm)
    let event = S3Change::RestoreCompleted { bucket: BUCKET.into(), key: files[0].0.clone(), expiry: None, at: Some(COMPLETED.into()) };
    let answered = core.on_s3_change(event, now()).await.unwrap();
    // THEN it is ignored, and the file stays as it was
    assert!(matches!(&answered, EventResult::Ignored(why) if why.starts_with("no restore awaits")), "{answered:?}");
    assert_eq!(registry(&core).await, files);
}

#[tokio::test]
async fn a_completion_that_comes_before_its_request_was_recorded_is_retried() {
    // GIVEN a restore planned whose batch has not run: its files are not REQUESTED yet
    let core = core();
    core.asset_in("cam-1", &[StorageClass::Glacier; 2]).await;
    let task = core.request("cam-1", RESTORE, "r1").await;
    core.plan(&task.task_id).await;
    let files = registry(&core).await;
    // WHEN a completion of one of its files comes
    let event = S3Change::RestoreCompleted { bucket: BUCKET.into(), key: files[0].0.clone(), expiry: None, at: Some(COMPLETED.into()) };
    let err = core.on_s3_change(event, now()).await.unwrap_err();
    // THEN it fails as retryable (the message comes back later), and nothing changes
    assert!(err.is_retryable(), "{err}");
    assert_eq!(registry(&core).await, files);
    assert_eq!(core.task(&task.task_id).await.counters.succeeded, 0);
}

#[tokio::test]
async fn a_warm_function_and_a_cold_one_give_the_same_result() {
    for s3_expiry in [true, false] {
        // GIVEN the same completed restore of five files, twice, and its events with S3's
        // window end or without (an emulator's)
        let (warm, cold) = (core(), core());
        let (task_id, token) = restored_in_s3(&warm, 5).await;
        assert_eq!(restored_in_s3(&cold, 5).await, (task_id.clone(), token.clone()));
        let events = match s3_expiry {
            true => completions(&warm).await,
            false => without_expiry(completions(&warm).await),
        };
        // WHEN a warm function gets them in two batches, remembering the asset's place (and
        // the task's days) between them, and a cold one gets them one by one
        let places = RestorePlaces::default();
        let mut by_warm = results(warm.on_s3_changes(events[..2].to_vec(), &places, now()).await);
        by_warm.extend(results(warm.on_s3_changes(events[2..].to_vec(), &places, now()).await));
        let mut by_cold = Vec::new();
        for event in events {
            by_cold.push(cold.on_s3_change(event, now()).await.unwrap());
        }
        // THEN both answer, record, count and signal the same
        assert_eq!(by_warm, vec![EventResult::Applied; 5]);
        assert_eq!(by_cold, by_warm);
        assert_eq!(registry(&warm).await, registry(&cold).await, "S3's expiry: {s3_expiry}");
        assert_eq!(warm.task(&task_id).await.counters, cold.task(&task_id).await.counters);
        assert_eq!(warm.orchestrator.outcome(&token), cold.orchestrator.outcome(&token));
        assert!(warm.orchestrator.outcome(&token).is_some());
    }
}

#[tokio::test]
async fn a_batch_of_changes_is_answered_in_the_order_of_its_events() {
    // GIVEN a completed restore
    let core = core();
    restored_in_s3(&core, 1).await;
    let completion = completions(&core).await.remove(0);
    // WHEN one batch holds an unknown key's completion, a real one, and changes slm does not act on
    let changes = vec![
        S3Change::RestoreCompleted { bucket: BUCKET.into(), key: "elsewhere/x".into(), expiry: None, at: None },
        completion,
        S3Change::Other { name: "ObjectRemoved:Delete".into(), bucket: BUCKET.into(), key: "cam-1/f000.exr".into() },
        S3Change::RestoreExpired { bucket: BUCKET.into(), key: "elsewhere/x".into() },
    ];
    let answered = results(core.on_s3_changes(changes, &RestorePlaces::default(), now()).await);
    // THEN each answer stands at its event's place
    assert!(matches!(&answered[0], EventResult::Ignored(why) if why.contains("not registered")), "{answered:?}");
    assert_eq!(answered[1], EventResult::Applied);
    assert!(matches!(&answered[2], EventResult::Ignored(why) if why.contains("ObjectRemoved:Delete")), "{answered:?}");
    assert!(matches!(&answered[3], EventResult::Ignored(why) if why.contains("not registered")), "{answered:?}");
}

#[tokio::test]
async fn the_end_of_a_restore_window_archives_the_file_and_its_restored_asset_again() {
    // GIVEN a restore that ended with its asset RESTORED
    let core = core();
    let (task_id, token) = restored_in_s3(&core, 2).await;
    core.on_s3_changes(completions(&core).await, &RestorePlaces::default(), now()).await;
    let outcome = core.orchestrator.outcome(&token).unwrap();
    assert!(core.meta.record_outcome(&task_id, &outcome));
    core.meta.release_asset("cam-1", &task_id, &outcome).unwrap();
    assert_eq!(core.asset("cam-1").await.state, AssetState::Restored);
    let key = registry(&core).await[0].0.clone();
    // WHEN S3 reports the window of one file ended (ObjectRestore:Delete)
    let expired = S3Change::RestoreExpired { bucket: BUCKET.into(), key: key.clone() };
    let answered = core.on_s3_change(expired.clone(), now()).await.unwrap();
    // THEN that file is ARCHIVED again, and the asset, no longer readable whole, too
    assert_eq!(answered, EventResult::Applied);
    let files = registry(&core).await;
    assert_eq!(files[0], (key, Some(FileStep::Done), FileState::Archived, None));
    assert_eq!(files[1].2, FileState::Restored);
    assert_eq!(core.asset("cam-1").await.state, AssetState::Archived);
    // AND the same report again changes nothing
    assert!(matches!(core.on_s3_change(expired, now()).await.unwrap(), EventResult::Ignored(_)));
    assert_eq!(registry(&core).await, files);
}

#[tokio::test]
async fn a_place_learnt_for_an_earlier_restore_of_the_asset_does_not_misplace_the_next_ones_files() {
    // GIVEN a warm function that completed a 3-day restore of the asset, which then ended, the
    // restored copies expired, and a 5-day restore of it waiting on S3
    let core = core();
    let (first, token) = restored_in_s3(&core, 3).await;
    let places = RestorePlaces::default();
    core.on_s3_changes(completions(&core).await, &places, now()).await;
    let outcome = core.orchestrator.outcome(&token).unwrap();
    assert!(core.meta.record_outcome(&first, &outcome));
    core.meta.release_asset("cam-1", &first, &outcome).unwrap();
    core.objects.expire_restores("2030-01-01T00:00:00Z".parse().unwrap());
    let longer = Action::Restore { days: 5, tier: RestoreTier::Bulk };
    let second = core.request("cam-1", longer, "r2").await;
    let second_token = core.plan(&second.task_id).await;
    core.run_work().await;
    assert_eq!(core.objects.complete_restores(completed_at()), 3);
    let counted = core.task(&first).await.counters;
    // WHEN the new restore's completions come, without S3's window end, to that function
    let answered = results(core.on_s3_changes(without_expiry(completions(&core).await), &places, now()).await);
    // THEN they complete the new restore, with its days, and leave the first one alone
    assert_eq!(answered, vec![EventResult::Applied; 3]);
    assert_eq!(core.task(&second.task_id).await.counters.succeeded, 3);
    assert_eq!(core.task(&first).await.counters, counted);
    let end = restore_window_end(completed_at(), 5);
    for (key, step, _, expiry) in registry(&core).await {
        assert_eq!((step, expiry.as_deref()), (Some(FileStep::Done), Some(end.as_str())), "{key}");
    }
    assert_eq!(core.orchestrator.outcome(&second_token).map(|o| o.status), Some(TaskStatus::Succeeded));
}

#[tokio::test]
async fn a_new_object_under_the_key_layout_is_registered_once() {
    // GIVEN an object uploaded under the default layout ({title_id}/{asset_type}/{asset_id}/)
    let core = core();
    let key = "tln/plates/cam-9/a.exr";
    core.objects.put(BUCKET, key, crate::adapters::memory::Put::body(vec![1; 10]));
    let created = S3Change::Created { bucket: BUCKET.into(), key: key.into(), at: Some(COMPLETED.into()) };
    // WHEN its ObjectCreated event comes, twice
    let first = core.on_s3_change(created.clone(), now()).await.unwrap();
    let again = core.on_s3_change(created, now()).await.unwrap();
    // THEN the first registers it in a new asset of that place, the second changes nothing
    assert_eq!(first, EventResult::Applied);
    assert!(matches!(&again, EventResult::Ignored(why) if why.contains("registered already")), "{again:?}");
    let asset = core.asset("cam-9").await;
    assert_eq!((asset.title_id.as_str(), asset.asset_type.as_str(), asset.prefix.as_str(), asset.file_count), ("tln", "plates", "tln/plates/cam-9/", 1));
    let files = core.located_of("cam-9").await;
    assert_eq!(files.iter().map(|l| l.file.key.as_str()).collect::<Vec<_>>(), [key]);
}

#[tokio::test]
async fn a_new_object_outside_the_key_layout_is_not_registered() {
    // GIVEN an object uploaded at the top of the bucket
    let core = core();
    core.objects.put(BUCKET, "loose.txt", crate::adapters::memory::Put::body(vec![1]));
    // WHEN its ObjectCreated event comes
    let answered = core.on_s3_change(S3Change::Created { bucket: BUCKET.into(), key: "loose.txt".into(), at: None }, now()).await.unwrap();
    // THEN it is ignored: no asset, no file
    assert!(matches!(answered, EventResult::Ignored(_)), "{answered:?}");
    assert!(crate::ports::FileStore::find_by_object(&core.meta, BUCKET, "loose.txt").await.unwrap().is_none());
}
