//! Unit tests of requesting a task (`request_task`) and starting a queued one (`start_queued`)
//! on the in-memory adapters.

use super::Requested;
use crate::domain::hold::{HoldBody, HoldSubject};
use crate::domain::{Action, AssetState, RestoreTier, StorageClass, TaskId, TaskStatus};
use crate::error::{ErrorKind, Result};
use crate::ports::TaskStore;
use crate::service::testing::{ADMIN, MemoryCore, core, now};

const ARCHIVE: Action = Action::Archive { storage_class: StorageClass::Glacier };
const DEEP: Action = Action::Archive { storage_class: StorageClass::DeepArchive };
const RESTORE: Action = Action::Restore { days: 3, tier: RestoreTier::Bulk };
const EXPEDITED: Action = Action::Restore { days: 3, tier: RestoreTier::Expedited };

/// The origin of an API request of the administrator.
fn origin(request_id: &str) -> String {
    format!("request:{ADMIN}:{request_id}")
}

/// Requests `action` on the asset as it is now, as the administrator.
async fn ask(core: &MemoryCore, asset_id: &str, action: Action, request_id: &str) -> Result<Requested> {
    let asset = core.asset(asset_id).await;
    core.request_task(&asset, action, &origin(request_id), ADMIN, now()).await
}

/// Whether the request made a task (by the id it would have).
async fn made(core: &MemoryCore, asset_id: &str, action: Action, request_id: &str) -> bool {
    core.meta.get_task(&TaskId::derive(asset_id, &action, &origin(request_id))).await.unwrap().is_some()
}

/// A task doing `action` that holds the asset, claimed (RUNNING); its start taken.
async fn running(core: &MemoryCore, asset_id: &str, action: Action) -> TaskId {
    let task = core.request(asset_id, action, "running").await;
    assert!(core.meta.claim_task(&task.task_id));
    core.started();
    task.task_id
}

#[tokio::test]
async fn an_archive_request_moves_every_file_and_ends_succeeded() {
    // GIVEN an asset of seven STANDARD files
    let core = core();
    core.asset_of("cam-1", 7).await;
    // WHEN an archive to GLACIER is requested and run
    let task = core.request("cam-1", ARCHIVE, "r1").await;
    assert_eq!(core.started().len(), 1, "its execution is started");
    let outcome = core.drive(&task.task_id).await.expect("an archive ends without waiting");
    // THEN every file is in GLACIER, and the asset with them
    assert_eq!(outcome.status, TaskStatus::Succeeded, "{outcome:?}");
    let task = core.task(&task.task_id).await;
    assert_eq!((task.counters.planned, task.counters.succeeded, task.counters.failed, task.counters.outstanding), (7, 7, 0, 0));
    assert_eq!(core.asset("cam-1").await.storage_class, "GLACIER");
}

#[tokio::test]
async fn a_request_makes_a_pending_task_that_holds_the_asset_and_starts_its_execution() {
    // GIVEN an asset no task holds
    let core = core();
    core.asset_of("cam-1", 2).await;
    // WHEN an archive is requested
    let requested = ask(&core, "cam-1", ARCHIVE, "r1").await.unwrap();
    // THEN a new PENDING task holds the asset, and its execution was started with its input
    assert!(requested.created && requested.conflict.is_none(), "{requested:?}");
    let task = core.task(&requested.task.task_id).await;
    assert_eq!((task.status, task.action, task.requested_by.as_str()), (TaskStatus::Pending, ARCHIVE, ADMIN));
    let asset = core.asset("cam-1").await;
    assert_eq!((asset.active_task.as_deref(), asset.active_action.as_deref()), (Some(task.task_id.as_str()), Some("archive")));
    let started = core.started();
    assert_eq!(started.len(), 1);
    assert_eq!((started[0].task_id.as_str(), started[0].action.as_str(), started[0].asset_id.as_str()), (task.task_id.as_str(), "archive", "cam-1"));
}

#[tokio::test]
async fn the_same_request_again_returns_the_task_it_made_and_makes_nothing_new() {
    // GIVEN a task made by request r1
    let core = core();
    core.asset_of("cam-1", 2).await;
    let first = ask(&core, "cam-1", ARCHIVE, "r1").await.unwrap();
    core.started();
    // WHEN the same request (same origin) comes again
    let again = ask(&core, "cam-1", ARCHIVE, "r1").await.unwrap();
    // THEN it answers the same task, not created, and nothing more is started or queued
    assert!(!again.created, "{again:?}");
    assert_eq!(again.task, first.task);
    assert!(core.started().is_empty());
    let asset = core.asset("cam-1").await;
    assert_eq!((asset.active_task.as_deref(), asset.queued_task.as_deref()), (Some(first.task.task_id.as_str()), None));
}

#[tokio::test]
async fn an_invalid_action_is_refused_and_nothing_is_written() {
    // GIVEN an asset
    let core = core();
    core.asset_of("cam-1", 1).await;
    let before = core.asset("cam-1").await;
    for bad in [Action::Restore { days: 0, tier: RestoreTier::Bulk }, Action::Archive { storage_class: StorageClass::Standard }] {
        // WHEN an action no asset can take is requested
        let err = ask(&core, "cam-1", bad, "r1").await.unwrap_err();
        // THEN it is invalid input, and no task is made or started
        assert_eq!(err.kind(), ErrorKind::Validation, "{bad:?}: {err}");
        assert!(!made(&core, "cam-1", bad, "r1").await);
    }
    assert!(core.started().is_empty());
    assert_eq!(core.asset("cam-1").await, before);
}

#[tokio::test]
async fn a_request_on_a_purged_asset_is_a_conflict_and_makes_no_task() {
    // GIVEN an asset purged
    let core = core();
    core.asset_of("cam-1", 2).await;
    let purge = core.request("cam-1", Action::Purge, "p1").await;
    core.drive(&purge.task_id).await.unwrap();
    core.started();
    let before = core.asset("cam-1").await;
    assert_eq!(before.state, AssetState::Purged);
    // WHEN a restore is requested
    let err = ask(&core, "cam-1", RESTORE, "r1").await.unwrap_err();
    // THEN it is refused as a conflict, naming the purge, and nothing is made
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(err.to_string().contains("purged"), "{err}");
    assert!(!made(&core, "cam-1", RESTORE, "r1").await);
    assert!(core.started().is_empty());
    assert_eq!(core.asset("cam-1").await, before);
}

#[tokio::test]
async fn an_expedited_restore_of_a_deep_archive_or_mixed_asset_is_refused_as_invalid() {
    for (id, classes) in [("deep", vec![StorageClass::DeepArchive]), ("mixed", vec![StorageClass::Glacier, StorageClass::DeepArchive])] {
        // GIVEN an asset in DEEP_ARCHIVE, or partly (MIXED)
        let core = core();
        let before = core.asset_in(id, &classes).await;
        // WHEN an Expedited restore is requested
        let err = ask(&core, id, EXPEDITED, "r1").await.unwrap_err();
        // THEN it is invalid input that names the tiers to use, and nothing is made
        assert_eq!(err.kind(), ErrorKind::Validation, "{id}: {err}");
        assert!(err.to_string().contains("use Standard or Bulk"), "{err}");
        assert!(!made(&core, id, EXPEDITED, "r1").await);
        assert!(core.started().is_empty());
        assert_eq!(core.asset(id).await, before);
    }
}

#[tokio::test]
async fn an_expedited_restore_of_a_glacier_asset_is_accepted() {
    // GIVEN an asset in GLACIER
    let core = core();
    core.asset_in("cam-1", &[StorageClass::Glacier]).await;
    // WHEN an Expedited restore is requested
    let requested = ask(&core, "cam-1", EXPEDITED, "r1").await.unwrap();
    // THEN the task is made and started
    assert!(requested.created);
    assert_eq!(core.started().len(), 1);
}

#[tokio::test]
async fn a_purge_of_an_asset_under_legal_hold_is_refused_and_makes_no_task() {
    // GIVEN an asset under a legal hold
    let core = core();
    core.asset_of("cam-1", 2).await;
    core.place_hold(HoldSubject::asset("cam-1").unwrap(), HoldBody { reason: "case 42".into() }, ADMIN, now()).await.unwrap();
    let before = core.asset("cam-1").await;
    // WHEN its purge is requested
    let err = ask(&core, "cam-1", Action::Purge, "p1").await.unwrap_err();
    // THEN it is refused as a conflict naming the hold, and nothing is made
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(err.to_string().contains("legal hold (case 42"), "{err}");
    assert!(!made(&core, "cam-1", Action::Purge, "p1").await);
    assert!(core.started().is_empty());
    assert_eq!(core.asset("cam-1").await, before);
}

#[tokio::test]
async fn a_purge_of_an_asset_whose_title_is_under_legal_hold_is_refused() {
    // GIVEN an asset whose title is under a legal hold
    let core = core();
    core.asset_of("cam-1", 1).await;
    core.place_hold(HoldSubject::title("tln").unwrap(), HoldBody { reason: "case 7".into() }, ADMIN, now()).await.unwrap();
    // WHEN its purge is requested
    let err = ask(&core, "cam-1", Action::Purge, "p1").await.unwrap_err();
    // THEN it is refused, and nothing is made
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(!made(&core, "cam-1", Action::Purge, "p1").await);
}

#[tokio::test]
async fn a_request_for_what_the_running_task_does_joins_it() {
    // GIVEN an archive to GLACIER running
    let core = core();
    core.asset_of("cam-1", 2).await;
    let running = running(&core, "cam-1", ARCHIVE).await;
    // WHEN another request asks for the same archive
    let joined = ask(&core, "cam-1", ARCHIVE, "r2").await.unwrap();
    // THEN it gets the running task, says it joined it, and nothing new is made or started
    assert!(!joined.created);
    assert_eq!(joined.task.task_id, running);
    assert!(joined.conflict.as_deref().is_some_and(|c| c.starts_with("joined task")), "{joined:?}");
    assert!(!made(&core, "cam-1", ARCHIVE, "r2").await);
    assert!(core.started().is_empty());
    assert_eq!(core.asset("cam-1").await.queued_task, None);
}

#[tokio::test]
async fn a_restore_requested_while_an_archive_runs_is_queued_behind_it_and_not_started() {
    // GIVEN an archive running
    let core = core();
    core.asset_of("cam-1", 2).await;
    let running = running(&core, "cam-1", ARCHIVE).await;
    // WHEN a restore is requested
    let queued = ask(&core, "cam-1", RESTORE, "r2").await.unwrap();
    // THEN a QUEUED task takes the asset's queue slot, not started; the archive keeps the asset
    assert!(queued.created);
    assert!(queued.conflict.as_deref().is_some_and(|c| c.starts_with(&format!("queued behind task {running}"))), "{queued:?}");
    assert_eq!(core.task(&queued.task.task_id).await.status, TaskStatus::Queued);
    let asset = core.asset("cam-1").await;
    assert_eq!((asset.active_task.as_deref(), asset.queued_task.as_deref()), (Some(running.as_str()), Some(queued.task.task_id.as_str())));
    assert!(core.started().is_empty());
}

#[tokio::test]
async fn a_request_the_conflict_matrix_refuses_is_a_conflict_and_changes_nothing() {
    // running, then requested: each refused by domain::conflict
    for (run, new) in [(ARCHIVE, DEEP), (RESTORE, ARCHIVE), (RESTORE, Action::Purge), (Action::Purge, RESTORE)] {
        // GIVEN a task running
        let core = core();
        core.asset_in("cam-1", &[StorageClass::Glacier, StorageClass::Glacier]).await;
        let running = running(&core, "cam-1", run).await;
        let before = core.asset("cam-1").await;
        // WHEN the other action is requested
        let err = ask(&core, "cam-1", new, "r2").await.unwrap_err();
        // THEN it is a conflict naming the running task, and nothing is made, queued or started
        assert_eq!(err.kind(), ErrorKind::Conflict, "{new:?} while {run:?}: {err}");
        assert!(err.to_string().contains(running.as_str()), "{err}");
        assert!(!made(&core, "cam-1", new, "r2").await);
        assert!(core.started().is_empty());
        assert_eq!(core.asset("cam-1").await, before);
    }
}

#[tokio::test]
async fn with_the_queue_slot_taken_the_same_request_joins_the_queued_task_and_another_is_refused() {
    // GIVEN an archive running and a restore queued behind it
    let core = core();
    core.asset_of("cam-1", 2).await;
    running(&core, "cam-1", ARCHIVE).await;
    let queued = ask(&core, "cam-1", RESTORE, "r2").await.unwrap().task;
    let before = core.asset("cam-1").await;
    // WHEN the same restore is requested again, and then a purge
    let joined = ask(&core, "cam-1", RESTORE, "r3").await.unwrap();
    let refused = ask(&core, "cam-1", Action::Purge, "r4").await.unwrap_err();
    // THEN the restore joins the queued task; the purge is refused; the slot is unchanged
    assert!(!joined.created);
    assert_eq!(joined.task.task_id, queued.task_id);
    assert_eq!(refused.kind(), ErrorKind::Conflict, "{refused}");
    assert!(!made(&core, "cam-1", RESTORE, "r3").await && !made(&core, "cam-1", Action::Purge, "r4").await);
    assert_eq!(core.asset("cam-1").await, before);
}

#[tokio::test]
async fn a_restore_for_other_days_while_a_restore_runs_is_queued() {
    // GIVEN a 3-day restore running
    let core = core();
    core.asset_in("cam-1", &[StorageClass::Glacier]).await;
    running(&core, "cam-1", RESTORE).await;
    // WHEN a 10-day restore is requested
    let longer = Action::Restore { days: 10, tier: RestoreTier::Bulk };
    let queued = ask(&core, "cam-1", longer, "r2").await.unwrap();
    // THEN it waits in the queue slot
    assert!(queued.created);
    assert_eq!(core.asset("cam-1").await.queued_task.as_deref(), Some(queued.task.task_id.as_str()));
}

#[tokio::test]
async fn start_queued_starts_the_queued_task_once_the_running_one_released_the_asset() {
    // GIVEN a restore queued behind an archive that then ran to its end
    let core = core();
    core.asset_of("cam-1", 2).await;
    let archive = core.request("cam-1", ARCHIVE, "r1").await;
    let queued = ask(&core, "cam-1", RESTORE, "r2").await.unwrap().task;
    core.drive(&archive.task_id).await.unwrap();
    core.started();
    // WHEN the state machine asks for the queued task after the release
    let started = core.start_queued("cam-1").await.unwrap();
    // THEN the restore holds the asset, PENDING, and its execution is started
    assert_eq!(started, Some(queued.task_id.clone()));
    assert_eq!(core.task(&queued.task_id).await.status, TaskStatus::Pending);
    let asset = core.asset("cam-1").await;
    assert_eq!((asset.active_task.as_deref(), asset.active_action.as_deref(), asset.queued_task.as_deref()), (Some(queued.task_id.as_str()), Some("restore"), None));
    let inputs = core.started();
    assert_eq!(inputs.iter().map(|i| i.task_id.as_str()).collect::<Vec<_>>(), [queued.task_id.as_str()]);
}

#[tokio::test]
async fn start_queued_while_the_running_task_holds_the_asset_starts_nothing() {
    // GIVEN a restore queued behind an archive still running
    let core = core();
    core.asset_of("cam-1", 2).await;
    let archive = running(&core, "cam-1", ARCHIVE).await;
    let queued = ask(&core, "cam-1", RESTORE, "r2").await.unwrap().task;
    // WHEN the queued task is asked for
    let started = core.start_queued("cam-1").await.unwrap();
    // THEN nothing starts: the restore still waits, the archive holds the asset
    assert_eq!(started, None);
    assert_eq!(core.task(&queued.task_id).await.status, TaskStatus::Queued);
    assert_eq!(core.asset("cam-1").await.active_task.as_deref(), Some(archive.as_str()));
    assert!(core.started().is_empty());
}

#[tokio::test]
async fn start_queued_with_nothing_queued_or_no_such_asset_starts_nothing() {
    // GIVEN an asset whose task ended, with nothing queued
    let core = core();
    core.asset_of("cam-1", 2).await;
    let archive = core.request("cam-1", ARCHIVE, "r1").await;
    core.drive(&archive.task_id).await.unwrap();
    core.started();
    // WHEN the queued task is asked for, of it and of an asset never registered
    // THEN there is none
    assert_eq!(core.start_queued("cam-1").await.unwrap(), None);
    assert_eq!(core.start_queued("nobody").await.unwrap(), None);
    assert!(core.started().is_empty());
    assert_eq!(core.asset("cam-1").await.active_task, None);
}

#[tokio::test]
async fn start_queued_starts_a_task_whose_start_was_lost() {
    // GIVEN a request whose execution could not be started (Step Functions throttled)
    let core = core();
    core.asset_of("cam-1", 2).await;
    core.orchestrator.fail_next(crate::adapters::memory::Call::Start, 1);
    let err = ask(&core, "cam-1", ARCHIVE, "r1").await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(core.started().is_empty());
    let task_id = TaskId::derive("cam-1", &ARCHIVE, &origin("r1"));
    // WHEN the asset's task is asked for
    let started = core.start_queued("cam-1").await.unwrap();
    // THEN the PENDING task that holds the asset is started
    assert_eq!(started, Some(task_id.clone()));
    assert_eq!(core.started().iter().map(|i| i.task_id.clone()).collect::<Vec<_>>(), [task_id.to_string()]);
}
