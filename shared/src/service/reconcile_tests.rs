//! Unit tests of the reconciler's scheduled run on open tasks: stuck tasks repaired, tasks whose
//! execution ended from outside ended; and the helpers of `sweep_tests` (drift, one sweep at a
//! time).

use super::{ReconcileReport, Reconciliation};
use crate::adapters::memory::Call;
use crate::domain::repair::RepairKind;
use crate::domain::{Action, RestoreTier, StorageClass, Task, TaskCounters, TaskStatus};
use crate::messages::{ControlMessage, ExecutionInput, WorkBatch};
use crate::ports::RepairStore;
use crate::service::testing::{MemoryCore, NOW, core, now};
use chrono::{DateTime, Duration, Utc};

const ARCHIVE: Action = Action::Archive { storage_class: StorageClass::Glacier };

/// A scheduled run's time past the grace period of the tasks requested at [`NOW`] and of the
/// tasks' `progress_at`, which the in-memory tables stamp with the clock.
pub(super) fn later() -> DateTime<Utc> {
    let requested: DateTime<Utc> = NOW.parse().unwrap();
    requested.max(Utc::now()) + Duration::hours(1)
}

/// A scheduled run's time within the sweep's lease of its moves, which the tables stamp with the
/// clock as DynamoDB's adapter does (a run's `now` is its event's time, about the clock's).
pub(super) fn soon() -> DateTime<Utc> {
    Utc::now() + Duration::minutes(1)
}

/// A task requested and claimed, and planned with a token: the work batches its planning sent,
/// which the test delivers or loses.
pub(super) async fn planned(core: &MemoryCore, asset_id: &str, files: usize) -> (Task, Vec<WorkBatch>) {
    core.asset_of(asset_id, files).await;
    let task = core.request(asset_id, ARCHIVE, "r1").await;
    assert!(core.meta.claim_task(&task.task_id));
    let token = core.orchestrator.token(task.task_id.as_str());
    let mut control = vec![ControlMessage::Plan { task_id: task.task_id.clone(), task_token: token }];
    while !control.is_empty() {
        for message in control {
            core.handle_control(message, now()).await.unwrap();
        }
        control = core.queues.take_control();
    }
    let task = core.task(&task.task_id).await;
    assert!(task.planning_done && task.counters.planned == files as i64, "{task:?}");
    (task, core.queues.take_work())
}

pub(super) fn kinds(out: &Reconciliation) -> Vec<(&str, usize)> {
    out.repairs.iter().map(|(k, n)| (k.as_str(), *n)).collect()
}

pub(super) fn swept(report: ReconcileReport) -> Reconciliation {
    match report {
        ReconcileReport::Swept(r) => r,
        other => panic!("not a sweep: {other:?}"),
    }
}

/// Delivers every reconcile message sent, and those they send, until none is left.
pub(super) async fn run_sweep(core: &MemoryCore) -> Vec<Reconciliation> {
    let mut out = Vec::new();
    loop {
        let messages = core.queues.take_reconcile();
        if messages.is_empty() {
            return out;
        }
        for m in messages {
            out.push(swept(core.handle_reconcile(m).await.unwrap()));
        }
    }
}

// Stuck tasks

#[tokio::test]
async fn a_stalled_task_whose_work_was_lost_has_its_queued_files_sent_again() {
    // GIVEN a planned task of seven files whose work batches were all lost
    let core = core();
    let (task, lost) = planned(&core, "cam-1", 7).await;
    assert!(!lost.is_empty());
    // WHEN the reconciler runs past the grace period
    let out = core.reconcile(later()).await.unwrap();
    // THEN its seven QUEUED files are sent to the workers again, in batches, and that is recorded
    assert_eq!(out.tasks_checked, 1);
    assert_eq!(kinds(&out), [("redrove", 1)]);
    let resent = core.queues.take_work();
    let mut keys: Vec<String> = resent.iter().flat_map(|b| b.files.iter().map(|f| f.key.clone())).collect();
    keys.sort();
    assert_eq!(keys, (0..7).map(|i| format!("cam-1/f{i:03}.exr")).collect::<Vec<_>>());
    assert!(resent.iter().all(|b| b.task_id == task.task_id && b.files.len() <= 3));
    let repairs = core.meta.repairs("cam-1").await.unwrap();
    assert_eq!(repairs.iter().map(|r| (r.kind, r.subject.as_str())).collect::<Vec<_>>(), [(RepairKind::Redrove, task.task_id.as_str())]);
    // AND the batches sent again end the task
    for batch in resent {
        core.run_batch(batch, now(), None).await.unwrap();
    }
    let task = core.task(&task.task_id).await;
    assert_eq!((task.counters.succeeded, task.counters.outstanding), (7, 0));
}

#[tokio::test]
async fn a_stalled_task_with_counters_short_is_recounted_from_its_files() {
    // GIVEN a planned task whose first batch moved its files but whose counters a crash left as
    // they were before, and whose other batches were lost
    let core = core();
    let (task, mut batches) = planned(&core, "cam-1", 7).await;
    let first = batches.remove(0);
    let moved = first.files.len() as i64;
    core.run_batch(first, now(), None).await.unwrap();
    let after = core.task(&task.task_id).await.counters;
    assert!(core.meta.set_counters(&task.task_id, &after, &task.counters).await.unwrap());
    // WHEN the reconciler runs past the grace period
    let out = core.reconcile(later()).await.unwrap();
    // THEN the counters are those of its files, and only the files still QUEUED are sent again
    assert_eq!(kinds(&out), [("recounted", 1), ("redrove", 1)]);
    let counters = core.task(&task.task_id).await.counters;
    assert_eq!(counters, TaskCounters { planned: 7, succeeded: moved, outstanding: 7 - moved, ..TaskCounters::default() });
    let resent: usize = core.queues.take_work().iter().map(|b| b.files.len()).sum();
    assert_eq!(resent as i64, 7 - moved);
}

#[tokio::test]
async fn a_task_within_the_grace_period_is_not_looked_at() {
    // GIVEN a planned task whose work was lost
    let core = core();
    let (task, _) = planned(&core, "cam-1", 4).await;
    // WHEN the reconciler runs within the grace period of its request
    let requested: DateTime<Utc> = NOW.parse().unwrap();
    let out = core.reconcile(requested + Duration::minutes(5)).await.unwrap();
    // THEN it is not read, and nothing is sent or recorded
    assert_eq!((out.tasks_checked, out.repairs.len()), (0, 0));
    assert!(core.queues.take_work().is_empty());
    assert!(core.meta.repairs("cam-1").await.unwrap().is_empty());
    assert_eq!(core.task(&task.task_id).await.status, TaskStatus::Running);
}

#[tokio::test]
async fn a_stalled_task_looked_at_in_full_is_left_waiting_until_it_moves() {
    // GIVEN a stalled task the reconciler looked at in full once
    let core = core();
    planned(&core, "cam-1", 4).await;
    core.reconcile(later()).await.unwrap();
    core.queues.take_work();
    // WHEN it runs again before the recheck interval, nothing having moved
    let out = core.reconcile(later() + Duration::minutes(10)).await.unwrap();
    // THEN the task is counted waiting, and nothing is sent again
    assert_eq!((out.tasks_checked, out.tasks_waiting, out.repairs.len()), (1, 1, 0));
    assert!(core.queues.take_work().is_empty());
}

#[tokio::test]
async fn a_pending_task_whose_execution_start_was_lost_is_started() {
    // GIVEN a task written but whose execution's start failed
    let core = core();
    core.asset_of("cam-1", 2).await;
    core.orchestrator.fail_next(Call::Start, 1);
    let asset = core.asset("cam-1").await;
    assert!(core.request_task(&asset, ARCHIVE, "request:x:r1", "x", now()).await.is_err());
    let task = core.asset("cam-1").await.active_task.expect("the task holds the asset");
    assert!(core.started().is_empty());
    // WHEN the reconciler runs past the grace period
    let out = core.reconcile(later()).await.unwrap();
    // THEN its execution is started, and that is recorded
    assert_eq!(kinds(&out), [("started_execution", 1)]);
    assert_eq!(core.started().iter().map(|i| i.task_id.clone()).collect::<Vec<_>>(), [task]);
}

#[tokio::test]
async fn a_running_task_whose_planning_stood_still_is_continued() {
    // GIVEN a task claimed whose planning message was lost
    let core = core();
    core.asset_of("cam-1", 2).await;
    let task = core.request("cam-1", ARCHIVE, "r1").await;
    assert!(core.meta.claim_task(&task.task_id));
    // WHEN the reconciler runs past the grace period
    let out = core.reconcile(later()).await.unwrap();
    // THEN the planner is asked to continue it, and that is recorded
    assert_eq!(kinds(&out), [("continued_planning", 1)]);
    assert_eq!(core.queues.take_control(), [ControlMessage::Continue { task_id: task.task_id }]);
}

#[tokio::test]
async fn a_queued_task_on_a_free_asset_is_started() {
    // GIVEN a restore queued behind an archive, the archive ended, and the message that would
    // have started the restore lost
    let core = core();
    core.asset_of("cam-1", 2).await;
    let archive = core.request("cam-1", ARCHIVE, "r1").await;
    let restore = core.request("cam-1", Action::Restore { days: 3, tier: RestoreTier::Bulk }, "r2").await;
    assert_eq!(restore.status, TaskStatus::Queued);
    core.drive(&archive.task_id).await.expect("the archive ends");
    core.started();
    // WHEN the reconciler runs past the grace period
    let out = core.reconcile(later()).await.unwrap();
    // THEN the restore is started and holds the asset, and that is recorded
    assert_eq!(kinds(&out), [("started_queued", 1)]);
    assert_eq!(core.started().iter().map(|i| i.task_id.clone()).collect::<Vec<_>>(), [restore.task_id.to_string()]);
    assert_eq!(core.asset("cam-1").await.active_task.as_deref(), Some(restore.task_id.as_str()));
    assert_eq!(core.task(&restore.task_id).await.status, TaskStatus::Pending);
}

#[tokio::test]
async fn a_stalled_restore_whose_completions_were_lost_is_completed_from_s3_and_signalled() {
    // GIVEN an archived asset, a restore of it waiting on S3, and S3's completions done but
    // their events lost
    let core = core();
    core.asset_of("cam-1", 2).await;
    let archive = core.request("cam-1", ARCHIVE, "r1").await;
    core.drive(&archive.task_id).await.expect("the archive ends");
    let restore = core.request("cam-1", Action::Restore { days: 3, tier: RestoreTier::Bulk }, "r2").await;
    assert_eq!(core.drive(&restore.task_id).await, None, "the restore waits on S3");
    assert_eq!(core.objects.complete_restores(Utc::now()), 2);
    // WHEN the reconciler runs past the grace period
    let out = core.reconcile(later()).await.unwrap();
    // THEN both files are recorded restored, and the execution is told the task is complete
    assert_eq!(kinds(&out), [("completed_restore", 1), ("signalled", 1)]);
    let task = core.task(&restore.task_id).await;
    assert_eq!((task.counters.succeeded, task.counters.outstanding), (2, 0));
}

// Tasks whose execution ended from outside

#[tokio::test]
async fn a_task_whose_execution_was_aborted_is_ended_failed_once() {
    // GIVEN a running task whose execution an operator stopped
    let core = core();
    let (task, _) = planned(&core, "cam-1", 4).await;
    core.started();
    core.orchestrator.set_status(task.task_id.as_str(), "ABORTED");
    // WHEN the reconciler runs, twice, before the state machine took the task's failure path
    let first = core.reconcile(later()).await.unwrap();
    core.reconcile(later() + Duration::hours(7)).await.unwrap();
    // THEN one closing execution is started, whose input sends it down the failure path with why
    assert_eq!(kinds(&first), [("ended_task", 1)]);
    let closing: Vec<ExecutionInput> = core.started();
    assert_eq!(closing.len(), 1, "{closing:?}");
    assert_eq!(closing[0].task_id, task.task_id.to_string());
    let why = closing[0].closing.as_deref().expect("a closing execution says why");
    assert!(why.contains("ABORTED"), "{why}");
    // AND no file is sent to the workers again
    assert!(core.queues.take_work().is_empty());
}

#[tokio::test]
async fn a_task_ended_by_its_closing_execution_frees_its_asset_and_is_not_looked_at_again() {
    // GIVEN a running task whose execution ended from outside, ended by the reconciler
    let core = core();
    let (task, _) = planned(&core, "cam-1", 4).await;
    core.orchestrator.set_status(task.task_id.as_str(), "TIMED_OUT");
    core.reconcile(later()).await.unwrap();
    let why = core.started().pop().and_then(|i| i.closing).expect("a closing execution");
    // WHEN the closing execution takes the state machine's failure path
    assert!(core.meta.record_failure(&task.task_id, &why));
    assert!(core.meta.release_after_failure("cam-1", &task.task_id));
    // THEN the task is FAILED with the reason, its asset free, and the next run repairs nothing
    let ended = core.task(&task.task_id).await;
    assert_eq!((ended.status, ended.reason.as_deref()), (TaskStatus::Failed, Some(why.as_str())));
    assert_eq!(core.asset("cam-1").await.active_task, None);
    let out = core.reconcile(later() + Duration::hours(1)).await.unwrap();
    assert_eq!((out.tasks_checked, out.repairs.len()), (0, 0));
    assert!(core.started().is_empty());
}

#[tokio::test]
async fn a_task_whose_execution_step_functions_forgot_is_ended() {
    // GIVEN a running task whose execution Step Functions no longer knows (90 days after it ended)
    let core = core();
    let (task, _) = planned(&core, "cam-1", 2).await;
    core.started();
    core.orchestrator.forget(task.task_id.as_str());
    // WHEN the reconciler runs
    let out = core.reconcile(later()).await.unwrap();
    // THEN a closing execution ends it, saying its execution is gone
    assert_eq!(kinds(&out), [("ended_task", 1)]);
    let closing = core.started().pop().and_then(|i| i.closing).expect("a closing execution");
    assert!(closing.contains("gone"), "{closing}");
}

#[tokio::test]
async fn a_pending_task_whose_execution_stopped_before_claiming_it_is_ended() {
    // GIVEN a task whose execution was aborted before it claimed the task
    let core = core();
    core.asset_of("cam-1", 1).await;
    let task = core.request("cam-1", ARCHIVE, "r1").await;
    core.started();
    core.orchestrator.set_status(task.task_id.as_str(), "ABORTED");
    // WHEN the reconciler runs
    let out = core.reconcile(later()).await.unwrap();
    // THEN it is ended by a closing execution, not started again
    assert_eq!(kinds(&out), [("ended_task", 1)]);
    let started = core.started();
    assert_eq!(started.len(), 1);
    assert!(started[0].closing.as_deref().is_some_and(|why| why.contains("ABORTED")), "{started:?}");
}
