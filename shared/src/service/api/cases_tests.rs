//! Unit tests of the API's use cases as calls: the audit trail written before a change acts and
//! completed by `Call::end`, the caller's own idempotency key, the checks of the audit query and
//! the request id; and the helpers of `grants_tests` (who is refused what).

use super::super::{AuditFilter, Origin, TaskBody};
use crate::ErrorKind;
use crate::domain::audit::{AuditEntry, AuditQuery, Decision};
use crate::domain::grant::{ApplicationBody, Grant, Permission};
use crate::domain::hold::{HoldBody, HoldSubject};
use crate::domain::{TaskStatus, TitleBody};
use crate::error::Result;
use crate::service::testing::{ADMIN, MemoryCore, NOW, core, now};
use crate::adapters::memory::Call as Sfn;

/// The role of the applications the tests register, by name.
pub(super) fn role(name: &str) -> String {
    format!("arn:aws:iam::123456789012:role/{name}")
}

pub(super) fn origin<'r>(arn: &'r str, method: &'r str, path: &'r str, request_id: &'r str) -> Origin<'r> {
    Origin { arn, at: NOW.parse().unwrap(), request_id: Some(request_id), method, path }
}

pub(super) fn grant(actions: &[Permission]) -> Grant {
    Grant { actions: actions.to_vec(), asset_types: None, title_ids: None }
}

/// Every permission but `missing`, unscoped.
pub(super) fn all_but(missing: Permission) -> Grant {
    grant(&Permission::ALL.into_iter().filter(|p| *p != missing).collect::<Vec<_>>())
}

/// Registers application `name` with `grants`; returns the role it calls as.
pub(super) async fn app(core: &MemoryCore, name: &str, grants: Vec<Grant>) -> String {
    let body = ApplicationBody { principal: role(name), name: name.into(), grants };
    core.put_application(body, ADMIN, now()).await.expect("the application registers");
    role(name)
}

pub(super) fn task_body(action: &str, request_id: &str) -> TaskBody {
    let (class, days, tier) = match action {
        "archive" => (Some("GLACIER".to_string()), None, None),
        "restore" => (None, Some(3), Some("Bulk".to_string())),
        _ => (None, None, None),
    };
    TaskBody { action: action.into(), storage_class: class, days, tier, request_id: request_id.into() }
}

pub(super) fn forbidden<T: std::fmt::Debug>(result: Result<T>) {
    let err = result.expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
}

/// The audit trail of `subject`, newest first.
pub(super) async fn trail(core: &MemoryCore, subject: &str) -> Vec<AuditEntry> {
    core.audit_page(&AuditQuery::Subject(subject.into()), None, None).await.unwrap().0
}

pub(super) fn hold(reason: &str) -> Option<HoldBody> {
    Some(HoldBody { reason: reason.into() })
}

pub(super) fn title_body() -> TitleBody {
    TitleBody { name: None, dates: [("launch".to_string(), "2027-03-01".to_string())].into() }
}

pub(super) const POLICY: &str = r#"{"policy_id": "to-glacier", "anchor": "asset.created", "offset_days": 30, "action": {"action": "archive", "storage_class": "GLACIER"}}"#;

// The audit trail of a call

#[tokio::test]
async fn an_allowed_change_is_audited_before_it_acts_even_when_it_then_fails() {
    // GIVEN an asset under legal hold, and an application with the purge grant
    let core = core();
    core.asset_of("cam-1", 1).await;
    core.place_hold(HoldSubject::asset("cam-1").unwrap(), HoldBody { reason: "case 42".into() }, ADMIN, now()).await.unwrap();
    let arn = app(&core, "purger", vec![grant(&[Permission::Purge])]).await;
    // WHEN it asks for a purge, which the hold refuses
    let mut call = core.begin_call(&origin(&arn, "POST", "/assets/cam-1/tasks", "r1")).await.unwrap();
    let err = call.request_task("cam-1", task_body("purge", "r1")).await.unwrap_err();
    // THEN the request was audited as allowed before it acted, with no outcome yet
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    let entries = trail(&core, "asset#cam-1").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!((entries[0].decision, entries[0].status, entries[0].application.as_deref()), (Decision::Allowed, None, Some("purger")));
    assert_eq!(entries[0].action, "POST /assets/cam-1/tasks purge");
    // AND ending the call records the refusal in that entry
    call.end(409, Some(&err.to_string())).await;
    let entries = trail(&core, "asset#cam-1").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!((entries[0].decision, entries[0].status), (Decision::Refused, Some(409)));
    assert!(entries[0].reason.as_deref().is_some_and(|r| r.contains("legal hold")), "{entries:?}");
}

#[tokio::test]
async fn a_call_that_failed_on_slms_side_ends_failed() {
    // GIVEN an application with the archive grant, and Step Functions throttling
    let core = core();
    core.asset_of("cam-1", 1).await;
    let arn = app(&core, "archiver", vec![grant(&[Permission::Archive])]).await;
    core.orchestrator.fail_next(Sfn::Start, 1);
    // WHEN it asks for an archive, which fails, and the call ends with a 503
    let mut call = core.begin_call(&origin(&arn, "POST", "/assets/cam-1/tasks", "r1")).await.unwrap();
    let err = call.request_task("cam-1", task_body("archive", "r1")).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    call.end(503, Some("try again")).await;
    // THEN the trail says it failed, with the reason the caller was told
    let entries = trail(&core, "asset#cam-1").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!((entries[0].decision, entries[0].status, entries[0].reason.as_deref()), (Decision::Failed, Some(503), Some("try again")));
}

#[tokio::test]
async fn an_accepted_call_ends_allowed_with_its_status_and_task() {
    // GIVEN an application with the archive grant
    let core = core();
    core.asset_of("cam-1", 1).await;
    let arn = app(&core, "archiver", vec![grant(&[Permission::Archive])]).await;
    // WHEN its archive is accepted and the call ends with a 202
    let mut call = core.begin_call(&origin(&arn, "POST", "/assets/cam-1/tasks", "api-7")).await.unwrap();
    let requested = call.request_task("cam-1", task_body("archive", "r1")).await.unwrap();
    call.end(202, None).await;
    // THEN the trail holds it allowed, with the status and the task, under the request's id
    let entries = trail(&core, "asset#cam-1").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = &entries[0];
    assert_eq!((e.decision, e.status, e.reason.as_deref()), (Decision::Allowed, Some(202), None));
    assert_eq!((e.request_id.as_str(), e.at.as_str()), ("api-7", "2027-01-04T10:00:00.000Z"));
    assert_eq!(e.task_ids, [requested.task.task_id.to_string()]);
    // AND the caller's trail finds it
    let (mine, _) = core.audit_page(&AuditQuery::Caller(arn), None, None).await.unwrap();
    assert_eq!(mine, entries);
}

// Idempotency keys

#[tokio::test]
async fn a_request_id_is_the_callers_own() {
    // GIVEN two applications with the archive grant, the first's archive done
    let core = core();
    core.asset_of("cam-1", 2).await;
    let first = app(&core, "first", vec![grant(&[Permission::Archive])]).await;
    let second = app(&core, "second", vec![grant(&[Permission::Archive])]).await;
    let ask = |arn: String, api_id: &'static str| {
        let core = &core;
        async move {
            let mut call = core.begin_call(&origin(&arn, "POST", "/assets/cam-1/tasks", api_id)).await.unwrap();
            call.request_task("cam-1", task_body("archive", "same-key")).await.unwrap()
        }
    };
    let done = ask(first.clone(), "api-1").await;
    assert_eq!(core.drive(&done.task.task_id).await.map(|o| o.status), Some(TaskStatus::Succeeded));
    // WHEN each asks again with the same request id
    let again = ask(first.clone(), "api-2").await;
    let other = ask(second.clone(), "api-3").await;
    // THEN the first gets its own task back, the second a task of its own
    assert_eq!((again.task.task_id.clone(), again.created), (done.task.task_id.clone(), false));
    assert!(other.created);
    assert_ne!(other.task.task_id, done.task.task_id);
    assert_eq!(other.task.origin, format!("request:{second}:same-key"));
    assert_eq!(other.task.requested_by, second);
}

#[tokio::test]
async fn another_applications_same_key_meets_the_running_task_by_the_conflict_matrix() {
    // GIVEN a first application's archive running
    let core = core();
    core.asset_of("cam-1", 1).await;
    let first = app(&core, "first", vec![grant(&[Permission::Archive])]).await;
    let second = app(&core, "second", vec![grant(&[Permission::Archive])]).await;
    let mut call = core.begin_call(&origin(&first, "POST", "/assets/cam-1/tasks", "api-1")).await.unwrap();
    let running = call.request_task("cam-1", task_body("archive", "same-key")).await.unwrap();
    // WHEN a second application asks for the same archive with the same key
    let mut call = core.begin_call(&origin(&second, "POST", "/assets/cam-1/tasks", "api-2")).await.unwrap();
    let met = call.request_task("cam-1", task_body("archive", "same-key")).await.unwrap();
    call.end(200, None).await;
    // THEN it is not taken for the first's retry: it joins the running task, saying so, and
    // its audit entry names that task
    assert!(!met.created);
    assert_eq!(met.task.task_id, running.task.task_id);
    assert!(met.conflict.as_deref().is_some_and(|c| c.starts_with("joined")), "{met:?}");
    let (entries, _) = core.audit_page(&AuditQuery::Caller(second), None, None).await.unwrap();
    assert_eq!(entries.iter().map(|e| e.task_ids.clone()).collect::<Vec<_>>(), [vec![running.task.task_id.to_string()]]);
}

#[tokio::test]
async fn a_task_read_is_audited_under_its_asset() {
    // GIVEN a task on an asset, and an application that reads
    let core = core();
    core.asset_of("cam-1", 1).await;
    let task = core.request("cam-1", crate::domain::Action::Purge, "r1").await;
    let reader = app(&core, "reader", vec![grant(&[Permission::Access])]).await;
    // WHEN it reads the task, with its execution's status, and the call ends
    let mut call = core.begin_call(&origin(&reader, "GET", &format!("/tasks/{}", task.task_id), "api-1")).await.unwrap();
    let view = call.task(task.task_id.as_str(), true).await.unwrap();
    call.end(200, None).await;
    // THEN it has the task and its running execution, and the read is in the asset's trail
    assert_eq!(view.task.task_id, task.task_id);
    assert_eq!(view.execution.and_then(|e| e.status).as_deref(), Some("RUNNING"));
    let entries = trail(&core, "asset#cam-1").await;
    assert_eq!(entries.iter().map(|e| (e.request_id.as_str(), e.task_ids.clone())).collect::<Vec<_>>(), [("api-1", vec![task.task_id.to_string()])]);
}

#[tokio::test]
async fn a_request_id_that_is_not_one_to_128_printable_characters_is_refused_before_anything() {
    // GIVEN an application with the archive grant
    let core = core();
    core.asset_of("cam-1", 1).await;
    let arn = app(&core, "archiver", vec![grant(&[Permission::Archive])]).await;
    for bad in [String::new(), "x".repeat(129), "a\u{7}b".into()] {
        // WHEN it asks with a bad request id
        let mut call = core.begin_call(&origin(&arn, "POST", "/assets/cam-1/tasks", "api-1")).await.unwrap();
        let err = call.request_task("cam-1", task_body("archive", &bad)).await.unwrap_err();
        // THEN that is refused as invalid, before any audit entry or task
        assert_eq!(err.kind(), ErrorKind::Validation, "{bad:?}: {err}");
    }
    assert!(trail(&core, "asset#cam-1").await.is_empty());
    assert_eq!(core.asset("cam-1").await.active_task, None);
    assert!(core.started().is_empty());
}

// The audit query

#[tokio::test]
async fn an_audit_query_naming_no_filter_or_two_is_refused() {
    // GIVEN an application with the audit grant
    let core = core();
    core.asset_of("cam-1", 1).await;
    let arn = app(&core, "auditor", vec![grant(&[Permission::Audit])]).await;
    let mut call = core.begin_call(&origin(&arn, "GET", "/audit", "r1")).await.unwrap();
    // WHEN it names no filter, or two
    for filter in [AuditFilter::default(), AuditFilter { asset: Some("cam-1"), title: Some("tln"), ..Default::default() }] {
        let err = call.audit(filter, None, None).await.unwrap_err();
        // THEN the query is refused as invalid
        assert_eq!(err.kind(), ErrorKind::Validation, "{err}");
        assert!(err.to_string().contains("exactly one"), "{err}");
    }
    // AND one filter is read
    assert!(call.audit(AuditFilter { asset: Some("cam-1"), ..Default::default() }, None, None).await.is_ok());
}

#[tokio::test]
async fn an_audit_query_with_a_bad_limit_is_refused() {
    let core = core();
    let arn = app(&core, "auditor", vec![grant(&[Permission::Audit])]).await;
    let mut call = core.begin_call(&origin(&arn, "GET", "/audit", "r1")).await.unwrap();
    for limit in ["ten", "0", "1001"] {
        let err = call.audit(AuditFilter { title: Some("tln"), ..Default::default() }, Some(limit), None).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation, "{limit}: {err}");
    }
}

#[tokio::test]
async fn an_audit_query_reads_the_trail_it_names() {
    // GIVEN an accepted call on an asset, audited
    let core = core();
    core.asset_of("cam-1", 1).await;
    let archiver = app(&core, "archiver", vec![grant(&[Permission::Archive])]).await;
    let mut call = core.begin_call(&origin(&archiver, "POST", "/assets/cam-1/tasks", "api-1")).await.unwrap();
    call.request_task("cam-1", task_body("archive", "r1")).await.unwrap();
    call.end(202, None).await;
    // WHEN an auditor reads the asset's trail and the archiver's (named by a session of its role)
    let auditor = app(&core, "auditor", vec![grant(&[Permission::Audit])]).await;
    let mut call = core.begin_call(&origin(&auditor, "GET", "/audit", "api-2")).await.unwrap();
    let (by_asset, _) = call.audit(AuditFilter { asset: Some("cam-1"), ..Default::default() }, None, None).await.unwrap();
    let session = "arn:aws:sts::123456789012:assumed-role/archiver/s1";
    let (by_caller, _) = call.audit(AuditFilter { caller: Some(session), ..Default::default() }, None, None).await.unwrap();
    // THEN both hold the archive request
    assert_eq!(by_asset.iter().map(|e| e.request_id.as_str()).collect::<Vec<_>>(), ["api-1"]);
    assert_eq!(by_caller, by_asset);
}

// The registry through calls

#[tokio::test]
async fn removing_an_application_without_naming_it_is_refused() {
    let core = core();
    let mut call = core.begin_call(&origin(ADMIN, "DELETE", "/applications", "r1")).await.unwrap();
    let err = call.remove_application(None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation, "{err}");
    assert!(trail(&core, "-").await.is_empty(), "not audited as allowed");
}

#[tokio::test]
async fn the_administrator_registers_an_application_audited_under_it() {
    // GIVEN the administrator
    let core = core();
    let mut call = core.begin_call(&origin(ADMIN, "POST", "/applications", "r1")).await.unwrap();
    // WHEN it registers an application
    let body = ApplicationBody { principal: role("post"), name: "post".into(), grants: vec![grant(&[Permission::Archive])] };
    let (registered, replaced) = call.put_application(body).await.unwrap();
    // THEN the application is registered by the administrator, and audited under it
    assert!(!replaced);
    assert_eq!(registered.updated_by, ADMIN);
    assert_eq!(core.identify(&role("post")).await.unwrap().application, Some(registered));
    assert_eq!(trail(&core, &format!("application#{}", role("post"))).await.len(), 1);
}
