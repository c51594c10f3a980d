//! Unit tests of the planner (`handle_control`) on the in-memory adapters.

use super::PlanReport;
use crate::adapters::memory::Op;
use crate::domain::hold::{HoldBody, HoldSubject};
use crate::domain::{Action, FileRecord, PolicyDoc, StorageClass, TaskId, TaskStatus};
use crate::error::ErrorKind;
use crate::messages::{ControlMessage, WorkBatch};
use crate::ports::TaskStore;
use crate::service::testing::{ADMIN, BUCKET, MemoryCore, core, new_asset, now};

const ARCHIVE: Action = Action::Archive { storage_class: StorageClass::Glacier };

/// Files of the test asset: enough for more than one batch in each of its two shards.
const FILES: usize = 12;

fn plan(task_id: &TaskId, token: &str) -> ControlMessage {
    ControlMessage::Plan { task_id: task_id.clone(), task_token: token.to_string() }
}

fn next(task_id: &TaskId) -> ControlMessage {
    ControlMessage::Continue { task_id: task_id.clone() }
}

/// The keys of the asset's files in `shard`, in order.
async fn keys_in(core: &MemoryCore, asset_id: &str, shard: u32) -> Vec<String> {
    core.located_of(asset_id).await.into_iter().filter(|l| l.file.shard == shard).map(|l| l.file.key).collect()
}

/// The keys the batches name, in order.
fn keys_of(batches: &[WorkBatch]) -> Vec<String> {
    let mut keys: Vec<String> = batches.iter().flat_map(|b| b.files.iter().map(|f| f.key.clone())).collect();
    keys.sort();
    keys
}

/// An archive of an asset of FILES files, requested and claimed, with a token for its planner.
async fn claimed(core: &MemoryCore, action: Action) -> (TaskId, String) {
    core.asset_of("cam-1", FILES).await;
    let task = core.request("cam-1", action, "r1").await;
    assert!(core.meta.claim_task(&task.task_id));
    let token = core.orchestrator.token(task.task_id.as_str());
    (task.task_id, token)
}

#[tokio::test]
async fn a_plan_stores_the_token_and_sends_the_first_page_in_batches_of_batch_size_then_hands_over() {
    // GIVEN an archive claimed, of an asset of two shards (one page planned per invocation)
    let core = core();
    let (task_id, token) = claimed(&core, ARCHIVE).await;
    let shard0 = keys_in(&core, "cam-1", 0).await;
    assert!(shard0.len() > 3 && shard0.len() < FILES, "the test needs several batches in each shard");
    // WHEN the planner gets the Plan message
    let report = core.handle_control(plan(&task_id, &token), now()).await.unwrap();
    // THEN it keeps the token, sends the first shard in batches of 3 of the archive, and hands
    // the rest to a Continue message
    assert_eq!(report, PlanReport::Continued { files: shard0.len() });
    let task = core.task(&task_id).await;
    assert_eq!(task.task_token.as_deref(), Some(token.as_str()));
    assert_eq!((task.counters.planned, task.counters.outstanding, task.planning_done), (shard0.len() as i64, shard0.len() as i64, false));
    let work = core.queues.take_work();
    let sizes: Vec<usize> = work.iter().map(|b| b.files.len()).collect();
    let expected: Vec<usize> = shard0.chunks(3).map(<[String]>::len).collect();
    assert_eq!(sizes, expected);
    assert!(work.iter().all(|b| b.task_id == task_id && b.action == ARCHIVE));
    assert_eq!(keys_of(&work), shard0);
    assert_eq!(core.queues.take_control(), [next(&task_id)]);
}

#[tokio::test]
async fn continue_goes_on_from_the_cursor_and_ends_planning_with_every_file_sent_once() {
    // GIVEN an archive whose first page was planned
    let core = core();
    let (task_id, token) = claimed(&core, ARCHIVE).await;
    core.handle_control(plan(&task_id, &token), now()).await.unwrap();
    let first = core.queues.take_work();
    core.queues.take_control();
    // WHEN the Continue message comes
    let report = core.handle_control(next(&task_id), now()).await.unwrap();
    // THEN the second shard is sent, planning is done, and nothing more is handed over
    let shard1 = keys_in(&core, "cam-1", 1).await;
    assert_eq!(report, PlanReport::Planned { files: shard1.len() });
    let second = core.queues.take_work();
    assert_eq!(keys_of(&second), shard1);
    assert!(second.iter().all(|b| b.files.len() <= 3));
    assert!(core.queues.take_control().is_empty());
    let all: Vec<WorkBatch> = first.into_iter().chain(second).collect();
    assert_eq!(keys_of(&all).len(), FILES);
    let task = core.task(&task_id).await;
    assert_eq!((task.counters.planned, task.counters.outstanding, task.planning_done), (FILES as i64, FILES as i64, true));
    assert_eq!(core.orchestrator.outcome(&token), None, "files are outstanding: no completion yet");
}

#[tokio::test]
async fn a_shard_larger_than_a_page_is_planned_page_by_page_from_the_cursor() {
    // GIVEN an archive claimed of an asset whose shards hold more than a page (30 files) each
    let core = core();
    core.asset_of("cam-1", 70).await;
    let task = core.request("cam-1", ARCHIVE, "r1").await;
    assert!(core.meta.claim_task(&task.task_id));
    let token = core.orchestrator.token(task.task_id.as_str());
    assert!(keys_in(&core, "cam-1", 0).await.len() > 30 && keys_in(&core, "cam-1", 1).await.len() > 30);
    // WHEN the planner gets the Plan message and each Continue it hands over
    let mut reports = vec![core.handle_control(plan(&task.task_id, &token), now()).await.unwrap()];
    let mut work = core.queues.take_work();
    while let Some(message) = core.queues.take_control().pop() {
        reports.push(core.handle_control(message, now()).await.unwrap());
        work.extend(core.queues.take_work());
    }
    // THEN it took more than one invocation per shard, and sent every file once
    assert!(reports.len() > 3, "{reports:?}");
    assert!(matches!(reports.last(), Some(PlanReport::Planned { .. })), "{reports:?}");
    let mut all: Vec<String> = core.located_of("cam-1").await.into_iter().map(|l| l.file.key).collect();
    all.sort();
    assert_eq!(keys_of(&work), all);
    assert_eq!(core.task(&task.task_id).await.counters.planned, 70);
}

#[tokio::test]
async fn a_page_planned_again_after_a_crash_does_not_send_the_files_already_moved() {
    // GIVEN a planner that stored its token and sent the first shard, whose first batch the
    // workers ran, and that died before it moved the cursor
    let core = core();
    let (task_id, token) = claimed(&core, ARCHIVE).await;
    assert!(core.meta.store_token(&task_id, &token).await.unwrap());
    let shard0: Vec<FileRecord> = core.located_of("cam-1").await.into_iter().filter(|l| l.file.shard == 0).map(|l| l.file).collect();
    let moved = WorkBatch { task_id: task_id.clone(), action: ARCHIVE, files: shard0[..3].to_vec() };
    assert_eq!(core.run_batch(moved, now(), None).await.unwrap().done, 3);
    // WHEN its message comes again
    let report = core.handle_control(plan(&task_id, &token), now()).await.unwrap();
    // THEN the page is planned again without the files moved, each file counted once
    assert_eq!(report, PlanReport::Continued { files: shard0.len() });
    let rest: Vec<String> = shard0[3..].iter().map(|f| f.key.clone()).collect();
    let replanned = core.queues.take_work();
    assert_eq!(keys_of(&replanned), rest);
    let c = core.task(&task_id).await.counters;
    assert_eq!((c.planned, c.succeeded, c.outstanding), (shard0.len() as i64, 3, shard0.len() as i64 - 3));
    // AND run to its end, the task copies each file once
    for batch in replanned {
        core.run_batch(batch, now(), None).await.unwrap();
    }
    core.handle_control(next(&task_id), now()).await.unwrap();
    core.run_work().await;
    assert_eq!(core.objects.requests(Op::Copy), FILES);
    let outcome = core.orchestrator.outcome(&token).expect("the task completed");
    assert_eq!((outcome.status, outcome.succeeded), (TaskStatus::Succeeded, FILES as i64));
}

#[tokio::test]
async fn a_plan_for_a_task_not_running_is_ignored_and_sends_nothing() {
    // GIVEN a task requested but not claimed (PENDING)
    let core = core();
    core.asset_of("cam-1", FILES).await;
    let task = core.request("cam-1", ARCHIVE, "r1").await;
    // WHEN a Plan message comes for it
    let report = core.handle_control(plan(&task.task_id, "token-x"), now()).await.unwrap();
    // THEN it is ignored: no token kept, nothing planned or sent
    assert!(matches!(&report, PlanReport::Ignored(why) if why.contains("PENDING")), "{report:?}");
    let after = core.task(&task.task_id).await;
    assert_eq!((after.task_token, after.plan_cursor, after.counters.planned), (None, None, 0));
    assert!(core.queues.take_work().is_empty() && core.queues.take_control().is_empty());
}

#[tokio::test]
async fn a_plan_for_a_task_that_ended_or_never_was_is_ignored() {
    // GIVEN a task that ran to its end
    let core = core();
    core.asset_of("cam-1", 2).await;
    let task = core.request("cam-1", ARCHIVE, "r1").await;
    core.drive(&task.task_id).await.unwrap();
    let ended = core.task(&task.task_id).await;
    // WHEN a Plan comes again for it, and one for a task never made
    let again = core.handle_control(plan(&task.task_id, "token-late"), now()).await.unwrap();
    let unknown = TaskId::derive("cam-1", &ARCHIVE, "nobody");
    let never = core.handle_control(plan(&unknown, "token-x"), now()).await.unwrap();
    // THEN both are ignored and nothing is sent or changed
    assert!(matches!(&again, PlanReport::Ignored(why) if why.contains("SUCCEEDED")), "{again:?}");
    assert!(matches!(&never, PlanReport::Ignored(why) if why.contains("does not exist")), "{never:?}");
    assert_eq!(core.task(&task.task_id).await, ended);
    assert!(core.queues.take_work().is_empty() && core.queues.take_control().is_empty());
    assert_eq!(core.orchestrator.outcome("token-late"), None);
}

#[tokio::test]
async fn a_continue_for_a_task_without_a_token_is_refused_and_plans_nothing() {
    // GIVEN a task claimed whose Plan never came (no token)
    let core = core();
    let (task_id, _) = claimed(&core, ARCHIVE).await;
    // WHEN a Continue message comes for it
    let err = core.handle_control(next(&task_id), now()).await.unwrap_err();
    // THEN it is invalid, and nothing is planned or sent
    assert_eq!(err.kind(), ErrorKind::Validation, "{err}");
    let task = core.task(&task_id).await;
    assert_eq!((task.plan_cursor, task.counters.planned), (None, 0));
    assert!(core.queues.take_work().is_empty() && core.queues.take_control().is_empty());
}

#[tokio::test]
async fn a_purge_put_under_legal_hold_before_its_plan_fails_without_sending_a_file() {
    // GIVEN a purge claimed, and then a legal hold placed on its asset
    let core = core();
    let (task_id, token) = claimed(&core, Action::Purge).await;
    core.place_hold(HoldSubject::asset("cam-1").unwrap(), HoldBody { reason: "case 42".into() }, ADMIN, now()).await.unwrap();
    // WHEN its Plan message comes
    let report = core.handle_control(plan(&task_id, &token), now()).await.unwrap();
    // THEN the execution is told the task failed for the hold, and no file is sent
    assert!(matches!(&report, PlanReport::Refused(why) if why.starts_with("purge refused") && why.contains("case 42")), "{report:?}");
    let outcome = core.orchestrator.outcome(&token).expect("the execution was answered");
    assert_eq!((outcome.status, outcome.asset_state.as_str(), outcome.asset_class.as_str()), (TaskStatus::Failed, "ACTIVE", "STANDARD"));
    assert!(outcome.reason.contains("legal hold"), "{}", outcome.reason);
    assert!(core.queues.take_work().is_empty() && core.queues.take_control().is_empty());
    assert_eq!(core.task(&task_id).await.counters.planned, 0);
}

#[tokio::test]
async fn a_hold_placed_while_a_purge_plans_stops_planning_after_the_pages_sent() {
    // GIVEN a purge whose first page was sent, and then a legal hold on its title
    let core = core();
    let (task_id, token) = claimed(&core, Action::Purge).await;
    core.handle_control(plan(&task_id, &token), now()).await.unwrap();
    let sent = core.queues.take_work();
    core.queues.take_control();
    core.place_hold(HoldSubject::title("tln").unwrap(), HoldBody { reason: "case 7".into() }, ADMIN, now()).await.unwrap();
    // WHEN its Continue message comes
    let report = core.handle_control(next(&task_id), now()).await.unwrap();
    // THEN planning ends there: no more files are sent, and what was sent stays to be failed
    assert!(matches!(&report, PlanReport::Refused(why) if why.starts_with("planning stopped")), "{report:?}");
    assert!(core.queues.take_work().is_empty() && core.queues.take_control().is_empty());
    let task = core.task(&task_id).await;
    assert_eq!((task.planning_done, task.counters.planned), (true, keys_of(&sent).len() as i64));
    assert_eq!(core.orchestrator.outcome(&token), None, "the files sent are outstanding");
}

/// A policy that purges assets ten days after their creation (2026-06-01).
fn purge_policy() -> PolicyDoc {
    PolicyDoc::parse(r#"{"policy_id":"purge-late","anchor":"asset.created","offset_days":10,"action":{"action":"purge"}}"#).unwrap()
}

#[tokio::test]
async fn a_reschedule_puts_every_asset_at_its_due_day() {
    // GIVEN two assets of two titles, and a policy created after them
    let core = core();
    core.asset_of("cam-1", 1).await;
    core.objects.put(BUCKET, "cam-2/f.exr", crate::adapters::memory::Put::body(vec![1]));
    core.register_asset(crate::domain::NewAsset { title_id: "other".into(), ..new_asset("cam-2") }, now()).await.unwrap();
    core.create_policy(purge_policy(), ADMIN, now()).await.unwrap();
    let message = core.queues.take_control();
    assert_eq!(message, [ControlMessage::Reschedule { title_id: None, cursor: None }]);
    assert_eq!(core.asset("cam-1").await.due_at, None);
    // WHEN the planner gets the Reschedule message the policy sent
    let report = core.handle_control(message[0].clone(), now()).await.unwrap();
    // THEN both assets are due on the policy's day, in one page
    assert_eq!(report, PlanReport::Rescheduled { assets: 2, more: false });
    for id in ["cam-1", "cam-2"] {
        assert_eq!(core.asset(id).await.due_at.as_deref(), Some("2026-06-11"), "{id}");
    }
    assert!(core.queues.take_control().is_empty());
}

#[tokio::test]
async fn a_reschedule_of_a_title_moves_only_its_assets() {
    // GIVEN two assets of two titles, and a policy put without a reschedule
    let core = core();
    core.asset_of("cam-1", 1).await;
    core.objects.put(BUCKET, "cam-2/f.exr", crate::adapters::memory::Put::body(vec![1]));
    core.register_asset(crate::domain::NewAsset { title_id: "other".into(), ..new_asset("cam-2") }, now()).await.unwrap();
    core.create_policy(purge_policy(), ADMIN, now()).await.unwrap();
    core.queues.take_control();
    // WHEN one title is rescheduled
    let report = core.handle_control(ControlMessage::Reschedule { title_id: Some("other".into()), cursor: None }, now()).await.unwrap();
    // THEN only its asset is at the policy's day
    assert_eq!(report, PlanReport::Rescheduled { assets: 1, more: false });
    assert_eq!(core.asset("cam-2").await.due_at.as_deref(), Some("2026-06-11"));
    assert_eq!(core.asset("cam-1").await.due_at, None);
}

#[tokio::test]
async fn start_queued_starts_the_task_waiting_for_a_released_asset() {
    // GIVEN a restore queued behind an archive that ran to its end
    let core = core();
    core.asset_of("cam-1", 2).await;
    let archive = core.request("cam-1", ARCHIVE, "r1").await;
    let restore = Action::Restore { days: 3, tier: crate::domain::RestoreTier::Bulk };
    let queued = core.request("cam-1", restore, "r2").await;
    core.drive(&archive.task_id).await.unwrap();
    core.started();
    // WHEN the StartQueued message the state machine sends after the release comes
    let report = core.handle_control(ControlMessage::StartQueued { asset_id: "cam-1".into() }, now()).await.unwrap();
    // THEN the restore is started
    assert_eq!(report, PlanReport::StartedQueued(Some(queued.task_id.clone())));
    assert_eq!(core.task(&queued.task_id).await.status, TaskStatus::Pending);
    assert_eq!(core.started().len(), 1);
}

#[tokio::test]
async fn start_queued_with_an_invalid_asset_id_is_refused() {
    // GIVEN the core
    let core = core();
    // WHEN a StartQueued message names no valid asset id
    let err = core.handle_control(ControlMessage::StartQueued { asset_id: "../x".into() }, now()).await.unwrap_err();
    // THEN it is invalid, and nothing is started
    assert_eq!(err.kind(), ErrorKind::Validation, "{err}");
    assert!(core.started().is_empty());
}
