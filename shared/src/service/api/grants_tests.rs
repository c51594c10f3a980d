//! Unit tests of the API's use cases as calls: who is refused what, and that nothing changes
//! then; grants per permission and their scopes.

use super::tests::{POLICY, all_but, app, forbidden, grant, hold, origin, role, task_body, title_body, trail};
use super::super::{AccessBody, AuditFilter};
use crate::ErrorKind;
use crate::domain::audit::Decision;
use crate::adapters::memory::Put;
use crate::domain::grant::{ApplicationBody, Grant, Permission};
use crate::domain::hold::{HoldBody, HoldSubject};
use crate::domain::{NewAsset, PolicyDoc};
use crate::ports::{ApplicationStore, HoldStore, PolicyStore, TitleStore};
use crate::service::testing::{ADMIN, BUCKET, MemoryCore, core, new_asset, now};

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
    core.place_hold(HoldSubject::asset("cam-1").unwrap(), HoldBody { reason: "case 42".into() }, ADMIN, now()).await.unwrap();
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
    core.create_policy(PolicyDoc::parse(POLICY).unwrap(), ADMIN, now()).await.unwrap();
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
    core.register_asset(new, now()).await.unwrap();
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

// Reads, backfills and asset changes

#[tokio::test]
async fn reads_need_a_registered_application_of_any_grant() {
    // GIVEN an asset with a task, a title and a policy
    let core = core();
    core.asset_of("cam-1", 1).await;
    let task = core.request("cam-1", crate::domain::Action::Purge, "r1").await;
    core.put_title("tln", title_body(), now()).await.unwrap();
    core.create_policy(PolicyDoc::parse(POLICY).unwrap(), ADMIN, now()).await.unwrap();
    let reader = app(&core, "reader", vec![grant(&[Permission::Access])]).await;
    for (arn, known) in [("-", false), (reader.as_str(), true)] {
        // WHEN nobody, and an application with one unrelated grant, read them
        let mut call = core.begin_call(&origin(arn, "GET", "/tasks", "r1")).await.unwrap();
        let answers = [
            call.task(task.task_id.as_str(), false).await.map(|_| ()),
            call.title("tln").await.map(|_| ()),
            call.policies().await.map(|_| ()),
            call.policy("to-glacier", None).await.map(|_| ()),
            call.repairs("cam-1").await.map(|_| ()),
            call.accesses("cam-1", None).await.map(|_| ()),
            call.asset("cam-1").await.map(|_| ()),
        ];
        // THEN nobody is refused each, and the application reads each
        for (i, answer) in answers.into_iter().enumerate() {
            match known {
                true => assert!(answer.is_ok(), "read {i}: {answer:?}"),
                false => forbidden(answer),
            }
        }
    }
}

#[tokio::test]
async fn a_route_that_does_not_exist_is_refused_to_nobody_and_not_found_to_an_application() {
    let core = core();
    let reader = app(&core, "reader", vec![grant(&[Permission::Access])]).await;
    let call = core.begin_call(&origin("-", "GET", "/nothing", "r1")).await.unwrap();
    forbidden(call.no_route::<()>("GET", "/nothing"));
    let call = core.begin_call(&origin(&reader, "GET", "/nothing", "r2")).await.unwrap();
    assert_eq!(call.no_route::<()>("GET", "/nothing").unwrap_err().kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn a_backfill_of_a_bucket_needs_an_unscoped_register_grant() {
    // GIVEN an application that may register editorial assets only
    let core = core();
    let scoped = Grant { asset_types: Some(vec!["editorial".into()]), ..grant(&[Permission::Register]) };
    let arn = app(&core, "editorial", vec![scoped]).await;
    let mut call = core.begin_call(&origin(&arn, "POST", "/backfills", "r1")).await.unwrap();
    // WHEN it backfills a prefix of the bucket, which may hold any asset, then one editorial asset
    let prefix = crate::service::BackfillRequest { bucket: Some(BUCKET.into()), prefix: Some("cam-".into()), inventory_key: None, inventory_schema: None, asset: None };
    let refused = call.start_backfill(prefix).await;
    let one = crate::service::BackfillRequest { bucket: None, prefix: None, inventory_key: None, inventory_schema: None, asset: Some(new_asset("cam-1")) };
    let accepted = call.start_backfill(one).await;
    // THEN the prefix is refused and only the asset's backfill is sent
    forbidden(refused);
    assert!(accepted.is_ok(), "{accepted:?}");
    assert_eq!(core.queues.take_reconcile(), [crate::messages::ReconcileMessage::BackfillAsset { asset_id: "cam-1".into() }]);
}

#[tokio::test]
async fn changing_an_asset_needs_the_register_grant_on_it() {
    // GIVEN an asset, and an application without the register grant
    let core = core();
    core.asset_of("cam-1", 1).await;
    let arn = app(&core, "limited", vec![all_but(Permission::Register)]).await;
    // WHEN it changes the asset's phase
    let mut call = core.begin_call(&origin(&arn, "PATCH", "/assets/cam-1", "r1")).await.unwrap();
    let change = crate::domain::AssetChange { phase: Some("dailies".into()), tags: None };
    forbidden(call.change_asset("cam-1", change).await);
    // THEN the asset is as it was
    assert_eq!(core.asset("cam-1").await.phase, "final");
}

#[tokio::test]
async fn listing_every_hold_needs_an_unscoped_hold_grant() {
    let core = core();
    let arn = app(&core, "tln-legal", vec![Grant { title_ids: Some(vec!["tln".into()]), ..grant(&[Permission::Hold]) }]).await;
    let mut call = core.begin_call(&origin(&arn, "GET", "/holds", "r1")).await.unwrap();
    forbidden(call.holds().await);
    let mut call = core.begin_call(&origin(ADMIN, "GET", "/holds", "r2")).await.unwrap();
    assert!(call.holds().await.is_ok());
}
