//! The examples against the code: a request example is a body the API accepts (parsed into its
//! Rust type and through that type's validation), and a response example is what the code's
//! types serialize (read into the type and written back unchanged).

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use slm_api::{DryRunBody, TaskBody};
use slm_core::domain::audit::AuditEntry;
use slm_core::messages::TaskEvent;
use slm_core::domain::grant::{Application, ApplicationBody};
use slm_core::domain::hold::{Hold, HoldBody, HoldSubject};
use slm_core::domain::repair::Repair;
use slm_core::domain::title::parse_date;
use slm_core::domain::{Asset, AssetChange, NewAsset, Outcome, Policy, PolicyDoc, TaskCounters, TaskId, Title, TitleBody};
use slm_core::domain::Task;
use slm_core::service::{BackfillRequest, BackfillStarted};
use slm_core::service::access::AccessBody;

fn parse<T: DeserializeOwned>(body: &Value) -> Result<T, String> {
    slm_core::json::parse("request body", &body.to_string()).map_err(|e| e.to_string())
}

/// Whether the API takes `body` as the request body of `operation` (`POST /assets`).
pub fn accepted(operation: &str, body: &Value) -> Result<(), String> {
    let done = |r: slm_core::Result<()>| r.map_err(|e| e.to_string());
    match operation {
        "POST /assets" => done(parse::<NewAsset>(body)?.validate()),
        "POST /backfills" => parse::<BackfillRequest>(body).map(drop),
        "PATCH /assets/{asset_id}" => done(parse::<AssetChange>(body)?.validate()),
        "POST /assets/{asset_id}/tasks" => done(parse::<TaskBody>(body)?.to_action().and_then(|a| a.validate())),
        "POST /assets/{asset_id}/accesses" => done(parse_date("day", &parse::<AccessBody>(body)?.day).map(drop)),
        "PUT /assets/{asset_id}/hold" => done(parse::<HoldBody>(body)?.into_hold(HoldSubject::Asset("a".into()), "by", chrono::DateTime::UNIX_EPOCH).map(drop)),
        "PUT /titles/{title_id}/hold" => done(parse::<HoldBody>(body)?.into_hold(HoldSubject::Title("t".into()), "by", chrono::DateTime::UNIX_EPOCH).map(drop)),
        "PUT /titles/{title_id}" => done(parse::<TitleBody>(body)?.into_title("show-1", chrono::DateTime::UNIX_EPOCH).map(drop)),
        "POST /policies" | "PUT /policies/{policy_id}" => done(PolicyDoc::parse(&body.to_string()).map(drop)),
        "POST /dry-run" => {
            let dry: DryRunBody = parse(body)?;
            done(dry.time().and_then(|_| dry.mode()).map(drop))
        }
        "PUT /applications" => done(parse::<ApplicationBody>(body)?.into_application("by", chrono::DateTime::UNIX_EPOCH).map(drop)),
        other => Err(format!("no Rust type is named for the request body of {other}")),
    }
}

/// A check of one part of an example against the code.
pub type Check = fn(&Value) -> Result<(), String>;

/// Which parts of a success response are which of the code's types: the parts at `pointer`
/// (`*` stands for each item of an array), read and written back by `check`.
pub fn response_parts(response: &str) -> Option<(&'static str, Check)> {
    Some(match response {
        "POST /assets 201" | "GET /assets/{asset_id} 200" | "PATCH /assets/{asset_id} 200" => ("", same::<Asset>),
        "POST /assets/{asset_id}/tasks 202" | "POST /assets/{asset_id}/tasks 200" => ("/task", task),
        "GET /tasks/{task_id} 200" => ("", task_view),
        "GET /assets/{asset_id}/repairs 200" => ("/repairs/*", same::<Repair>),
        "PUT /assets/{asset_id}/hold 201" | "PUT /assets/{asset_id}/hold 200" => ("/hold", same::<Hold>),
        "PUT /titles/{title_id}/hold 201" | "PUT /titles/{title_id}/hold 200" => ("/hold", same::<Hold>),
        "DELETE /assets/{asset_id}/hold 200" | "DELETE /titles/{title_id}/hold 200" => ("/released", same::<Hold>),
        "GET /holds 200" => ("/holds/*", same::<Hold>),
        "PUT /titles/{title_id} 200" => ("/title", same::<Title>),
        "GET /titles/{title_id} 200" => ("", same::<Title>),
        "POST /policies 201" | "POST /policies 200" => ("", same::<slm_core::service::schedule::PolicyCreated>),
        "GET /policies/{policy_id} 200" => ("", same::<Policy>),
        "GET /policies 200" => ("/policies/*", same::<Policy>),
        "PUT /policies/{policy_id} 200" | "POST /policies/{policy_id}/enable 200" | "POST /policies/{policy_id}/disable 200" => {
            ("/policy", same::<Policy>)
        }
        "GET /applications 200" => ("/applications/*", same::<Application>),
        "PUT /applications 201" | "PUT /applications 200" => ("/application", same::<Application>),
        "DELETE /applications 200" => ("/removed", same::<Application>),
        "GET /audit 200" => ("/entries/*", same::<AuditEntry>),
        "POST /backfills 202" => ("/backfill", backfill),
        "GET /savings 200" => ("", same::<slm_core::domain::savings::Comparison>),
        _ => return None,
    })
}

/// The parts of `value` at `pointer`, `*` standing for each item of an array.
pub fn parts<'a>(value: &'a Value, pointer: &str) -> Vec<&'a Value> {
    match pointer.split_once("/*") {
        None => value.pointer(pointer).into_iter().collect(),
        Some((array, rest)) => value.pointer(array).and_then(Value::as_array).into_iter().flatten().flat_map(|item| parts(item, rest)).collect(),
    }
}

/// `value` read as a `T` and written back is `value` itself: the same fields, none missing,
/// none extra, none of another type.
pub fn same<T: DeserializeOwned + Serialize>(value: &Value) -> Result<(), String> {
    let read: T = serde_json::from_value(value.clone()).map_err(|e| format!("does not read as {}: {e}", short::<T>()))?;
    let written = serde_json::to_value(&read).map_err(|e| e.to_string())?;
    if &written == value {
        Ok(())
    } else {
        Err(format!("{} writes it back as {written}", short::<T>()))
    }
}

fn short<T>() -> &'static str {
    std::any::type_name::<T>().rsplit("::").next().unwrap_or_default()
}

/// What a backfill request started, as the core writes it.
fn backfill(value: &Value) -> Result<(), String> {
    let field = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
    let kind = ["asset", "prefix", "inventory"].into_iter().find(|k| *k == field("kind")).ok_or("an unknown kind")?;
    let started = BackfillStarted { kind, bucket: field("bucket"), source: field("source") };
    let written = serde_json::to_value(&started).map_err(|e| e.to_string())?;
    if &written == value { Ok(()) } else { Err(format!("BackfillStarted writes it as {written}")) }
}

/// A task, whose id (when an API request made it) derives from its asset, action and origin.
/// A task as `GET /tasks/{id}` answers it, the execution's status with it when asked for.
fn task_view(value: &Value) -> Result<(), String> {
    same::<slm_api::TaskView>(value)?;
    let mut task = value.clone();
    task.as_object_mut().map(|t| t.remove("execution"));
    self::task(&task)
}

fn task(value: &Value) -> Result<(), String> {
    same::<Task>(value)?;
    let task: Task = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    let derived = TaskId::derive(&task.asset_id, &task.action, &task.origin);
    if task.origin.starts_with("request:") && derived != task.task_id {
        return Err(format!("task id {} is not the one its request derives: {derived}", task.task_id));
    }
    Ok(())
}

/// A completion event as the state machine builds it from the task's outcome.
pub fn event(value: &Value) -> Result<(), String> {
    same::<TaskEvent>(value)?;
    let e: TaskEvent = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    let id = TaskId::parse(&e.task_id).map_err(|e| e.to_string())?;
    let counters = TaskCounters { planned: e.succeeded + e.failed + e.skipped, outstanding: 0, succeeded: e.succeeded, failed: e.failed, skipped: e.skipped, kept: 0 };
    let action = match e.action.as_str() {
        "purge" => slm_core::domain::Action::Purge,
        "restore" => slm_core::domain::Action::Restore { days: 1, tier: slm_core::domain::RestoreTier::Bulk },
        _ => slm_core::domain::Action::Archive { storage_class: slm_core::domain::StorageClass::Glacier },
    };
    let outcome = match counters.planned {
        // A task that could not run at all fails with its reason.
        0 if e.status == "FAILED" => Outcome::refused(&id, e.reason.clone(), "ACTIVE", slm_core::domain::StorageClass::Standard.into()),
        _ => Outcome::from_counters(&id, &action, &counters, "ACTIVE", slm_core::domain::StorageClass::Standard.into()),
    };
    let expected = (outcome.status.as_str(), outcome.event_type.as_str(), outcome.event_id.as_str(), outcome.reason.as_str());
    let given = (e.status.as_str(), e.event_type.as_str(), e.event_id.as_str(), e.reason.as_str());
    if expected != given {
        return Err(format!("its outcome would be {expected:?}, not {given:?}"));
    }
    Ok(())
}

/// The evaluation a dry-run on 2027-06-01 writes for the description's example: a camera
/// original in STANDARD due for GLACIER, and a render whose purge its title's legal hold stops
/// (listed, and out of the totals). The estimates are the bundled price table's.
pub fn dry_run() -> slm_core::service::Evaluation {
    use slm_core::domain::pricing::{PriceTable, Sizes};
    use slm_core::domain::{Action, StorageClass};
    use slm_core::domain::PolicyRef;
    use slm_core::service::evaluate::{PlannedAction, Totals};
    let prices = PriceTable::bundled();
    let day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
    let camera = Sizes { count: 1240, bytes: 1_932_735_283_200, small_count: 0, small_bytes: 0 };
    let renders = Sizes { count: 310, bytes: 214_748_364_800, small_count: 0, small_bytes: 0 };
    let archive = prices.estimate(StorageClass::Standard, Some(StorageClass::Glacier), &camera, None).unwrap();
    let purge = prices.estimate(StorageClass::Standard, None, &renders, None).unwrap();
    let planned = |asset_id: &str, asset_type: &str, action, policy: (&str, u32), due, sizes: Sizes, estimate| PlannedAction {
        asset_id: asset_id.into(),
        title_id: "show-1".into(),
        asset_type: asset_type.into(),
        action,
        policy: PolicyRef { policy_id: policy.0.into(), version: policy.1 },
        due,
        files: sizes.count,
        bytes: sizes.bytes,
        estimate: Some(estimate),
        no_estimate: None,
        warnings: vec![],
        outcome: "would_create",
        task_id: None,
        reason: None,
    };
    let camera_action = PlannedAction {
        warnings: vec!["read on 2027-05-20, 12 days before: in GLACIER a read waits hours for a restore and $18.06 (Standard tier)".into()],
        ..planned("show-1-camera-A001", "camera_original", Action::Archive { storage_class: StorageClass::Glacier }, ("camera-originals-to-glacier", 1), day("2027-05-30"), camera, archive)
    };
    let held = PlannedAction {
        outcome: "legal_hold",
        reason: Some("title show-1 is under legal hold (litigation hold, matter 77-B, placed by arn:aws:iam::123456789012:role/legal-team at 2026-11-02T14:00:00Z)".into()),
        ..planned("show-1-temp-render-07", "render", Action::Purge, ("temp-renders-purge", 4), day("2027-01-25"), renders, purge)
    };
    slm_core::service::Evaluation {
        evaluated_at: "2027-06-01T00:00:00Z".into(),
        day: "2027-06-01".into(),
        dry_run: true,
        policies: 2,
        assets_read: 3,
        titles_read: 1,
        tasks_created: 0,
        legal_holds: 1,
        waiting: 1,
        more_due: false,
        actions: vec![camera_action, held],
        totals: Totals {
            assets: 1,
            files: camera.count,
            bytes: camera.bytes,
            monthly_saving: archive.monthly_saving,
            transition_cost: archive.transition_cost,
            minimum_duration_charge: archive.minimum_duration_charge,
        },
    }
}
