//! Unit tests of the API's use cases as calls: who is refused what (and that nothing changes
//! then), scopes, the audit trail written before a change acts and completed by `Call::end`,
//! the caller's own idempotency key, and the checks of the audit query and the request id.

use super::super::{AuditFilter, Origin, TaskBody};
use crate::ErrorKind;
use crate::domain::audit::{AuditEntry, AuditQuery, Decision};
use crate::domain::grant::{ApplicationBody, Grant, Permission};
use crate::domain::hold::{HoldBody, HoldSubject};
use crate::domain::{NewAsset, PolicyDoc, TaskStatus, TitleBody};
use crate::error::Result;
use crate::ports::{ApplicationStore, HoldStore, PolicyStore, TitleStore};
use crate::service::testing::{ADMIN, BUCKET, MemoryCore, NOW, core, new_asset};
use crate::adapters::memory::{Call as Sfn, Put};
use super::super::AccessBody;

/// The role of the applications the tests register, by name.
fn role(name: &str) -> String {
    format!("arn:aws:iam::123456789012:role/{name}")
}

fn origin<'r>(arn: &'r str, method: &'r str, path: &'r str, request_id: &'r str) -> Origin<'r> {
    Origin { arn, at: NOW.parse().unwrap(), request_id: Some(request_id), method, path }
}

fn grant(actions: &[Permission]) -> Grant {
    Grant { actions: actions.to_vec(), asset_types: None, title_ids: None }
}

/// Every permission but `missing`, unscoped.
fn all_but(missing: Permission) -> Grant {
    grant(&Permission::ALL.into_iter().filter(|p| *p != missing).collect::<Vec<_>>())
}

/// Registers application `name` with `grants`; returns the role it calls as.
async fn app(core: &MemoryCore, name: &str, grants: Vec<Grant>) -> String {
    let body = ApplicationBody { principal: role(name), name: name.into(), grants };
    core.put_application(body, ADMIN, NOW).await.expect("the application registers");
    role(name)
}

fn task_body(action: &str, request_id: &str) -> TaskBody {
    let (class, days, tier) = match action {
        "archive" => (Some("GLACIER".to_string()), None, None),
        "restore" => (None, Some(3), Some("Bulk".to_string())),
        _ => (None, None, None),
    };
    TaskBody { action: action.into(), storage_class: class, days, tier, request_id: request_id.into() }
}

fn forbidden<T: std::fmt::Debug>(result: Result<T>) {
    let err = result.expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
}

/// The audit trail of `subject`, newest first.
async fn trail(core: &MemoryCore, subject: &str) -> Vec<AuditEntry> {
    core.audit_page(&AuditQuery::Subject(subject.into()), None, None).await.unwrap().0
}

fn hold(reason: &str) -> Option<HoldBody> {
    Some(HoldBody { reason: reason.into() })
}

fn title_body() -> TitleBody {
    TitleBody { name: None, dates: [("launch".to_string(), "2027-03-01".to_string())].into() }
}

const POLICY: &str = r#"{"policy_id": "to-glacier", "anchor": "asset.created", "offset_days": 30, "action": {"action": "archive", "storage_class": "GLACIER"}}"#;

// An unknown caller

#[tokio::test]
async fn an_unknown_caller_is_refused_every_change_and_nothing_changes() {
    // GIVEN an asset, and callers that are no registered application
    let core = core();
    core.asset_of("cam-1", 2).await;
    for arn in ["-", "arn:aws:iam::123456789012:role/stranger"] {
        // WHEN they ask for changes
        let mut call = core.begin_call(&origin(arn, "POST", "/assets/cam-1/tasks", "r1")).await.unwrap();
        forbidden(call.request_task("cam-1", task_body("archive", "r1")).await);
        forbidden(call.hold_asset("cam-1", hold("case 42")).await);
        forbidden(call.hold_title("tln", hold("case 42")).await);
        forbidden(call.register_asset(new_asset("cam-2")).await);
        forbidden(call.put_title("tln", title_body()).await);
        forbidden(call.create_policy(PolicyDoc::parse(POLICY).unwrap()).await);
        forbidden(call.put_application(ApplicationBody { principal: arn.into(), name: "me".into(), grants: vec![grant(&Permission::ALL)] }).await);
        forbidden(call.audit(AuditFilter { asset: Some("cam-1"), ..Default::default() }, None, None).await);
        forbidden(call.asset("cam-1").await);
    }
    // THEN nothing changed, and nothing was audited as allowed
    assert_eq!(core.asset("cam-1").await.active_task, None);
    assert!(core.started().is_empty());
    assert!(core.meta.holds().await.unwrap().is_empty());
    assert_eq!(core.meta.get_title("tln").await.unwrap(), None);
    assert!(core.meta.current_policies().await.unwrap().is_empty());
    assert!(core.meta.applications().await.unwrap().is_empty());
    assert!(trail(&core, "asset#cam-1").await.is_empty());
}

#[tokio::test]
async fn an_unknown_caller_does_not_learn_whether_an_asset_exists() {
    let core = core();
    let mut call = core.begin_call(&origin("-", "GET", "/assets/ghost", "r1")).await.unwrap();
    forbidden(call.asset("ghost").await);
}

#[tokio::test]
async fn an_unknown_callers_refusal_is_audited_when_the_call_ends() {
    // GIVEN an unknown caller refused a task
    let core = core();
    core.asset_of("cam-1", 1).await;
    let stranger = role("stranger");
    let mut call = core.begin_call(&origin(&stranger, "POST", "/assets/cam-1/tasks", "r1")).await.unwrap();
    let err = call.request_task("cam-1", task_body("archive", "r1")).await.unwrap_err();
    // WHEN the call ends with the refusal
    call.end(403, Some(&err.to_string())).await;
    // THEN the trail has the refusal, under the asset and the caller's key, without an application
    let entries = trail(&core, "asset#cam-1").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = &entries[0];
    assert_eq!((e.decision, e.status, e.application.as_deref(), e.principal.as_deref()), (Decision::Refused, Some(403), None, Some(stranger.as_str())));
    assert!(e.reason.as_deref().is_some_and(|r| r.contains("not a registered application")), "{e:?}");
    assert_eq!(e.action, "POST /assets/cam-1/tasks archive");
}

// Grants: each permission refused without it

#[tokio::test]
async fn each_task_action_needs_its_own_grant() {
    for (action, permission) in [("archive", Permission::Archive), ("restore", Permission::Restore), ("purge", Permission::Purge)] {
        // GIVEN an asset, and an application with every permission but the action's
        let core = core();
        core.asset_of("cam-1", 1).await;
        let arn = app(&core, "limited", vec![all_but(permission)]).await;
        // WHEN it asks for the action
        let mut call = core.begin_call(&origin(&arn, "POST", "/assets/cam-1/tasks", "r1")).await.unwrap();
        let err = call.request_task("cam-1", task_body(action, "r1")).await.unwrap_err();
        // THEN it is refused, naming the grant, and no task is made
        assert_eq!(err.kind(), ErrorKind::Forbidden, "{action}: {err}");
        assert!(err.to_string().contains(&format!("no {permission} grant")), "{err}");
        assert_eq!(core.asset("cam-1").await.active_task, None, "{action}");
        assert!(core.started().is_empty());
        // AND with only that permission, it is accepted
        let arn = app(&core, "allowed", vec![grant(&[permission])]).await;
        let mut call = core.begin_call(&origin(&arn, "POST", "/assets/cam-1/tasks", "r2")).await.unwrap();
        let requested = call.request_task("cam-1", task_body(action, "r1")).await.expect(action);
        assert_eq!(core.asset("cam-1").await.active_task.as_deref(), Some(requested.task.task_id.as_str()));
    }
}

#[tokio::test]
async fn registering_an_asset_needs_the_register_grant() {
    // GIVEN objects under a prefix, and an application without the register grant
    let core = core();
    core.objects.put(BUCKET, "cam-9/f.exr", Put::body(vec![b'x'; 10]));
    let arn = app(&core, "limited", vec![all_but(Permission::Register)]).await;
    // WHEN it registers an asset of them
    let mut call = core.begin_call(&origin(&arn, "POST", "/assets", "r1")).await.unwrap();
    forbidden(call.register_asset(new_asset("cam-9")).await);
    // THEN no asset is registered
    assert!(crate::ports::AssetStore::get_asset(&core.meta, "cam-9").await.unwrap().is_none());
}

#[tokio::test]
async fn holds_need_the_hold_grant() {
    let core = core();
    core.asset_of("cam-1", 1).await;
    let arn = app(&core, "limited", vec![all_but(Permission::Hold)]).await;
    let mut call = core.begin_call(&origin(&arn, "PUT", "/assets/cam-1/hold", "r1")).await.unwrap();
    forbidden(call.hold_asset("cam-1", hold("case 42")).await);
    forbidden(call.hold_title("tln", hold("case 42")).await);
    forbidden(call.holds().await);
    assert!(core.meta.holds().await.unwrap().is_empty());
}

#[tokio::test]
async fn releasing_a_hold_needs_the_hold_grant() {
    // GIVEN a hold on an asset, and an application without the hold grant
    let core = core();
    core.asset_of("cam-1", 1).await;
    core.place_hold(HoldSubject::asset("cam-1").unwrap(), HoldBody { reason: "case 42".into() }, ADMIN, NOW).await.unwrap();
    let arn = app(&core, "limited", vec![all_but(Permission::Hold)]).await;
    // WHEN it releases the hold
    let mut call = core.begin_call(&origin(&arn, "DELETE", "/assets/cam-1/hold", "r1")).await.unwrap();
    forbidden(call.hold_asset("cam-1", None).await);
    // THEN the hold stays
    assert_eq!(core.meta.holds().await.unwrap().len(), 1);
}

#[tokio::test]
async fn titles_need_the_titles_grant() {
    let core = core();
    let arn = app(&core, "limited", vec![all_but(Permission::Titles)]).await;
    let mut call = core.begin_call(&origin(&arn, "PUT", "/titles/tln", "r1")).await.unwrap();
    forbidden(call.put_title("tln", title_body()).await);
    assert_eq!(core.meta.get_title("tln").await.unwrap(), None);
    assert!(core.queues.take_control().is_empty(), "no reschedule");
}

#[tokio::test]
async fn policies_need_the_policies_grant() {
    // GIVEN a policy, and an application without the policies grant
    let core = core();
    core.create_policy(PolicyDoc::parse(POLICY).unwrap(), ADMIN, NOW).await.unwrap();
    let arn = app(&core, "limited", vec![all_but(Permission::Policies)]).await;
    let other = PolicyDoc { policy_id: "other".into(), ..PolicyDoc::parse(POLICY).unwrap() };
    // WHEN it creates, edits or disables one
    let mut call = core.begin_call(&origin(&arn, "POST", "/policies", "r1")).await.unwrap();
    forbidden(call.create_policy(other).await);
    forbidden(call.edit_policy("to-glacier", PolicyDoc { offset_days: 60, ..PolicyDoc::parse(POLICY).unwrap() }).await);
    forbidden(call.switch_policy("to-glacier", false).await);
    // THEN the policies are as they were
    let policies = core.meta.current_policies().await.unwrap();
    assert_eq!(policies.iter().map(|p| (p.id(), p.version, p.doc.enabled)).collect::<Vec<_>>(), [("to-glacier", 1, true)]);
}

#[tokio::test]
async fn the_registry_needs_the_admin_grant() {
    // GIVEN an application without the admin grant
    let core = core();
    let arn = app(&core, "limited", vec![all_but(Permission::Admin)]).await;
    let mut call = core.begin_call(&origin(&arn, "POST", "/applications", "r1")).await.unwrap();
    // WHEN it grants itself everything, lists the registry or removes itself
    let me_all = ApplicationBody { principal: arn.clone(), name: "limited".into(), grants: vec![grant(&Permission::ALL)] };
    forbidden(call.put_application(me_all).await);
    forbidden(call.applications().await);
    forbidden(call.remove_application(Some(&arn)).await);
    // THEN its grants are unchanged
    let apps = core.meta.applications().await.unwrap();
    assert_eq!(apps.len(), 1);
    assert!(!apps[0].grants.iter().any(|g| g.actions.contains(&Permission::Admin)));
}

#[tokio::test]
async fn the_audit_trail_needs_the_audit_grant() {
    let core = core();
    core.asset_of("cam-1", 1).await;
    let arn = app(&core, "limited", vec![all_but(Permission::Audit)]).await;
    let mut call = core.begin_call(&origin(&arn, "GET", "/audit", "r1")).await.unwrap();
    forbidden(call.audit(AuditFilter { asset: Some("cam-1"), ..Default::default() }, None, None).await);
    forbidden(call.audit(AuditFilter { caller: Some(&arn), ..Default::default() }, None, None).await);
}

#[tokio::test]
async fn recording_accesses_needs_the_access_grant() {
    let core = core();
    core.asset_of("cam-1", 1).await;
    let arn = app(&core, "limited", vec![all_but(Permission::Access)]).await;
    let mut call = core.begin_call(&origin(&arn, "POST", "/assets/cam-1/accesses", "r1")).await.unwrap();
    forbidden(call.record_access("cam-1", AccessBody { day: "2027-01-03".into(), count: 2 }).await);
    assert_eq!(core.asset("cam-1").await.last_access_on, None);
}

// Grants: scopes

/// Registers an asset of one file of type `asset_type` in title `title_id`.
async fn typed_asset(core: &MemoryCore, id: &str, asset_type: &str, title_id: &str) {
    core.objects.put(BUCKET, &format!("{id}/f.exr"), Put::body(vec![b'x'; 10]));
    let new = NewAsset { asset_type: asset_type.into(), title_id: title_id.into(), ..new_asset(id) };
    core.register_asset(new, NOW).await.unwrap();
}

#[tokio::test]
async fn a_grant_limited_to_asset_types_serves_those_types_only() {
    // GIVEN an editorial and a vfx asset, and an archive grant on editorial assets
    let core = core();
    typed_asset(&core, "ed-1", "editorial", "tln").await;
    typed_asset(&core, "fx-1", "vfx", "tln").await;
    let arn = app(&core, "editorial", vec![Grant { asset_types: Some(vec!["editorial".into()]), ..grant(&[Permission::Archive]) }]).await;
    // WHEN it archives each
    let mut call = core.begin_call(&origin(&arn, "POST", "/assets/ed-1/tasks", "r1")).await.unwrap();
    let ok = call.request_task("ed-1", task_body("archive", "r1")).await;
    let mut call = core.begin_call(&origin(&arn, "POST", "/assets/fx-1/tasks", "r2")).await.unwrap();
    let refused = call.request_task("fx-1", task_body("archive", "r1")).await;
    // THEN the editorial one is accepted, the vfx one refused and left alone
    assert!(ok.is_ok(), "{ok:?}");
    forbidden(refused);
    assert!(core.asset("ed-1").await.active_task.is_some());
    assert_eq!(core.asset("fx-1").await.active_task, None);
}

#[tokio::test]
async fn a_grant_limited_to_titles_serves_those_titles_only() {
    // GIVEN assets in two titles, and hold and titles grants on one title
    let core = core();
    typed_asset(&core, "a-1", "editorial", "tln").await;
    typed_asset(&core, "b-1", "editorial", "other").await;
    let arn = app(&core, "tln-legal", vec![Grant { title_ids: Some(vec!["tln".into()]), ..grant(&[Permission::Hold, Permission::Titles]) }]).await;
    let mut call = core.begin_call(&origin(&arn, "PUT", "/titles/tln/hold", "r1")).await.unwrap();
    // WHEN it holds and sets each title, and holds each title's asset
    call.hold_title("tln", hold("case 42")).await.expect("its title");
    call.hold_asset("a-1", hold("case 42")).await.expect("an asset of its title");
    call.put_title("tln", title_body()).await.expect("its title");
    forbidden(call.hold_title("other", hold("case 42")).await);
    forbidden(call.hold_asset("b-1", hold("case 42")).await);
    forbidden(call.put_title("other", title_body()).await);
    // THEN only its title and its title's asset changed
    let held: Vec<HoldSubject> = core.meta.holds().await.unwrap().into_iter().map(|h| h.subject).collect();
    assert_eq!(held, [HoldSubject::asset("a-1").unwrap(), HoldSubject::title("tln").unwrap()]);
    assert!(core.meta.get_title("tln").await.unwrap().is_some());
    assert_eq!(core.meta.get_title("other").await.unwrap(), None);
}

#[tokio::test]
async fn an_audit_grant_on_a_title_reads_its_trails_and_nothing_unscoped() {
    // GIVEN an asset in a title, and an audit grant on that title
    let core = core();
    core.asset_of("cam-1", 1).await;
    let arn = app(&core, "auditor", vec![Grant { title_ids: Some(vec!["tln".into()]), ..grant(&[Permission::Audit]) }]).await;
    let mut call = core.begin_call(&origin(&arn, "GET", "/audit", "r1")).await.unwrap();
    // WHEN it reads the trails of the title, its asset, a caller and an id no asset has
    // THEN the title's and its asset's are read; the others need an unscoped grant
    assert!(call.audit(AuditFilter { title: Some("tln"), ..Default::default() }, None, None).await.is_ok());
    assert!(call.audit(AuditFilter { asset: Some("cam-1"), ..Default::default() }, None, None).await.is_ok());
    forbidden(call.audit(AuditFilter { title: Some("other"), ..Default::default() }, None, None).await);
    forbidden(call.audit(AuditFilter { caller: Some(ADMIN), ..Default::default() }, None, None).await);
    forbidden(call.audit(AuditFilter { asset: Some("ghost"), ..Default::default() }, None, None).await);
    forbidden(call.audit(AuditFilter { policy: Some("to-glacier"), ..Default::default() }, None, None).await);
}

// The audit trail of a call

#[tokio::test]
async fn an_allowed_change_is_audited_before_it_acts_even_when_it_then_fails() {
    // GIVEN an asset under legal hold, and an application with the purge grant
    let core = core();
    core.asset_of("cam-1", 1).await;
    core.place_hold(HoldSubject::asset("cam-1").unwrap(), HoldBody { reason: "case 42".into() }, ADMIN, NOW).await.unwrap();
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
