//! Unit tests of the security use cases: callers identified, the application registry, legal
//! holds and the audit trail, on the in-memory adapters.

use super::MAX_AUDIT_PAGE;
use crate::domain::audit::{AuditEntry, AuditQuery, Decision};
use crate::domain::grant::{ApplicationBody, Grant, Permission, Scope};
use crate::domain::hold::{HoldBody, HoldSubject};
use crate::domain::PolicyDoc;
use crate::ErrorKind;
use crate::adapters::memory::Queue;
use crate::messages::ControlMessage;
use crate::ports::{ApplicationStore, DueGuard, DueIndex, HoldStore};
use crate::service::testing::{ADMIN, NOW, core, at, now};

const APP: &str = "arn:aws:iam::123456789012:role/post-production";
const APP_SESSION: &str = "arn:aws:sts::123456789012:assumed-role/post-production/session-7";

fn app_body(principal: &str, name: &str) -> ApplicationBody {
    ApplicationBody { principal: principal.into(), name: name.into(), grants: vec![Grant { actions: vec![Permission::Archive], asset_types: Some(vec!["editorial".into()]), title_ids: None }] }
}

fn reason(text: &str) -> HoldBody {
    HoldBody { reason: text.into() }
}

fn entry(subject: &str, at: &str, request_id: &str) -> AuditEntry {
    AuditEntry {
        subject: subject.into(),
        at: at.into(),
        request_id: request_id.into(),
        caller: APP.into(),
        principal: Some(APP.into()),
        application: Some("post".into()),
        action: "POST /assets/cam-1/tasks archive".into(),
        decision: Decision::Allowed,
        status: Some(202),
        reason: None,
        task_ids: vec![],
    }
}

/// Purges every asset 30 days after its creation (the test assets are created 2026-06-01).
const PURGE_AFTER_30_DAYS: &str = r#"{"policy_id": "purge-30", "anchor": "asset.created", "offset_days": 30, "action": {"action": "purge"}}"#;

// identify

#[tokio::test]
async fn the_admin_principal_of_the_configuration_is_the_administrator() {
    // GIVEN an empty registry
    let core = core();
    // WHEN the configured admin role, and a session of it, call
    let direct = core.identify(ADMIN).await.unwrap();
    let session = core.identify("arn:aws:sts::123456789012:assumed-role/slm-admin/ops").await.unwrap();
    // THEN both are the administrator, with every permission unscoped
    for caller in [direct, session] {
        assert_eq!(caller.principal.as_deref(), Some(ADMIN));
        let app = caller.application.expect("the administrator is known");
        assert_eq!(app.name, "administrator");
        assert!(Permission::ALL.iter().all(|p| app.allows(*p, &Scope::UNSCOPED)));
    }
}

#[tokio::test]
async fn a_registered_application_is_identified_by_any_session_of_its_role() {
    // GIVEN an application registered for a role
    let core = core();
    core.put_application(app_body(APP, "post"), ADMIN, now()).await.unwrap();
    // WHEN a session of that role calls
    let caller = core.identify(APP_SESSION).await.unwrap();
    // THEN it is that application, keyed by the role, as authenticated
    assert_eq!(caller.arn, APP_SESSION);
    assert_eq!(caller.principal.as_deref(), Some(APP));
    assert_eq!(caller.application.map(|a| a.name).as_deref(), Some("post"));
}

#[tokio::test]
async fn an_unregistered_role_is_a_principal_without_an_application() {
    // GIVEN an application registered for another role
    let core = core();
    core.put_application(app_body(APP, "post"), ADMIN, now()).await.unwrap();
    // WHEN an unregistered role calls
    let caller = core.identify("arn:aws:iam::123456789012:role/stranger").await.unwrap();
    // THEN it has a registry key but no application, and is refused what needs one
    assert_eq!(caller.principal.as_deref(), Some("arn:aws:iam::123456789012:role/stranger"));
    assert_eq!(caller.application, None);
    assert_eq!(caller.known().unwrap_err().kind(), ErrorKind::Forbidden);
}

#[tokio::test]
async fn an_arn_that_is_no_iam_principal_is_nobody() {
    // GIVEN the administrator configured
    let core = core();
    for arn in ["-", "arn:aws:s3:::media", "arn:aws:iam::123456789012:root", "arn:aws:sts::123456789012:federated-user/x"] {
        // WHEN something that is no IAM role, user or assumed role calls
        let caller = core.identify(arn).await.unwrap();
        // THEN it is nobody: no key, no application
        assert_eq!((caller.arn.as_str(), caller.principal, caller.application), (arn, None, None), "{arn}");
    }
}

// put_application

#[tokio::test]
async fn an_application_is_registered_then_replaced() {
    // GIVEN an application registered
    let core = core();
    let (first, replaced) = core.put_application(app_body(APP, "post"), ADMIN, now()).await.unwrap();
    assert!(!replaced, "the first registration replaces nothing");
    assert_eq!((first.updated_by.as_str(), first.updated_at.as_str()), (ADMIN, NOW));
    // WHEN it is registered again under another name
    let (second, replaced) = core.put_application(app_body(APP_SESSION, "post-v2"), ADMIN, now()).await.unwrap();
    // THEN it replaced the first, under the role's key, and the registry holds one
    assert!(replaced);
    assert_eq!(second.principal, APP);
    let apps = core.meta.applications().await.unwrap();
    assert_eq!(apps.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["post-v2"]);
}

#[tokio::test]
async fn the_admin_principal_is_refused_as_an_application_and_nothing_is_stored() {
    // GIVEN an empty registry
    let core = core();
    for admin in [ADMIN, "arn:aws:sts::123456789012:assumed-role/slm-admin/ops"] {
        // WHEN the configured administrator (or a session of it) is registered as an application
        let err = core.put_application(app_body(admin, "sneaky"), ADMIN, now()).await.unwrap_err();
        // THEN it is refused
        assert_eq!(err.kind(), ErrorKind::Validation, "{admin}: {err}");
    }
    // AND the registry stays empty
    assert!(core.meta.applications().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_application_body_that_is_not_valid_is_refused_and_nothing_is_stored() {
    // GIVEN an empty registry
    let core = core();
    for body in [app_body("arn:aws:s3:::media", "post"), app_body(APP, ""), ApplicationBody { grants: vec![], ..app_body(APP, "post") }] {
        // WHEN a bad body is registered
        let err = core.put_application(body.clone(), ADMIN, now()).await.unwrap_err();
        // THEN it is refused and nothing is stored
        assert_eq!(err.kind(), ErrorKind::Validation, "{body:?}");
    }
    assert!(core.meta.applications().await.unwrap().is_empty());
}

// remove_application

#[tokio::test]
async fn a_removed_application_is_no_longer_known() {
    // GIVEN a registered application
    let core = core();
    core.put_application(app_body(APP, "post"), ADMIN, now()).await.unwrap();
    // WHEN it is removed, named by a session of its role
    let removed = core.remove_application(APP_SESSION).await.unwrap();
    // THEN the removed one is answered, and its calls are nobody's
    assert_eq!(removed.name, "post");
    assert_eq!(core.identify(APP).await.unwrap().application, None);
}

#[tokio::test]
async fn removing_an_unknown_application_is_not_found_and_removes_nothing() {
    // GIVEN one registered application
    let core = core();
    core.put_application(app_body(APP, "post"), ADMIN, now()).await.unwrap();
    // WHEN another role is removed
    let err = core.remove_application("arn:aws:iam::123456789012:role/other").await.unwrap_err();
    // THEN that is NotFound and the registered one stays
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(core.meta.applications().await.unwrap().len(), 1);
}

#[tokio::test]
async fn removing_by_something_that_is_no_iam_principal_is_refused() {
    let core = core();
    core.put_application(app_body(APP, "post"), ADMIN, now()).await.unwrap();
    let err = core.remove_application("post-production").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation, "{err}");
    assert_eq!(core.meta.applications().await.unwrap().len(), 1);
}

// place_hold

#[tokio::test]
async fn a_hold_on_an_asset_is_placed_once_and_a_second_answers_the_first() {
    // GIVEN an asset
    let core = core();
    core.asset_of("cam-1", 1).await;
    let subject = HoldSubject::asset("cam-1").unwrap();
    // WHEN a hold is placed on it, then another with another reason
    let (first, placed) = core.place_hold(subject.clone(), reason("case 42"), ADMIN, now()).await.unwrap();
    let (second, placed_again) = core.place_hold(subject.clone(), reason("case 43"), APP, at("2027-01-05T00:00:00Z")).await.unwrap();
    // THEN the first is placed, the second answers the first and placed nothing
    assert!(placed);
    assert!(!placed_again);
    assert_eq!(second, first);
    assert_eq!((first.reason.as_str(), first.placed_by.as_str()), ("case 42", ADMIN));
    assert_eq!(core.meta.holds().await.unwrap(), [first]);
}

#[tokio::test]
async fn a_hold_on_an_unknown_asset_is_not_found_and_nothing_is_held() {
    let core = core();
    let err = core.place_hold(HoldSubject::asset("ghost").unwrap(), reason("case 42"), ADMIN, now()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(core.meta.holds().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_hold_without_a_reason_is_refused_and_nothing_is_held() {
    let core = core();
    core.asset_of("cam-1", 1).await;
    let err = core.place_hold(HoldSubject::asset("cam-1").unwrap(), reason("  "), ADMIN, now()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation, "{err}");
    assert!(core.meta.holds().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_hold_on_a_title_needs_no_asset_of_it() {
    let core = core();
    let (hold, placed) = core.place_hold(HoldSubject::title("tln").unwrap(), reason("case 42"), ADMIN, now()).await.unwrap();
    assert!(placed);
    assert_eq!(core.meta.holds().await.unwrap(), [hold]);
}

// release_hold

#[tokio::test]
async fn releasing_an_asset_hold_puts_the_asset_back_in_the_due_index() {
    // GIVEN an asset a purge policy makes due, held, and taken out of the due index (as the
    // evaluator does when it skips a held purge)
    let core = core();
    core.create_policy(PolicyDoc::parse(PURGE_AFTER_30_DAYS).unwrap(), ADMIN, now()).await.unwrap();
    core.asset_of("cam-1", 1).await;
    assert_eq!(core.asset("cam-1").await.due_at.as_deref(), Some("2026-07-01"), "registered at its due day");
    let subject = HoldSubject::asset("cam-1").unwrap();
    core.place_hold(subject.clone(), reason("case 42"), ADMIN, now()).await.unwrap();
    core.meta.set_due("cam-1", None, DueGuard::Idle).await.unwrap();
    // WHEN the hold is released
    let released = core.release_hold(&subject).await.unwrap();
    // THEN the hold is gone and the asset is due again on its day
    assert_eq!(released.reason, "case 42");
    assert!(core.meta.holds().await.unwrap().is_empty());
    assert_eq!(core.asset("cam-1").await.due_at.as_deref(), Some("2026-07-01"));
}

#[tokio::test]
async fn releasing_a_title_hold_queues_a_reschedule_of_the_title() {
    // GIVEN a hold on a title
    let core = core();
    let subject = HoldSubject::title("tln").unwrap();
    core.place_hold(subject.clone(), reason("case 42"), ADMIN, now()).await.unwrap();
    core.queues.take_control();
    // WHEN it is released
    core.release_hold(&subject).await.unwrap();
    // THEN the title's assets are rescheduled through the control queue, from the first page
    assert_eq!(core.queues.take_control(), [ControlMessage::Reschedule { title_id: Some("tln".into()), cursor: None }]);
    assert!(core.meta.holds().await.unwrap().is_empty());
}

#[tokio::test]
async fn releasing_a_hold_not_in_place_is_not_found_and_changes_nothing() {
    // GIVEN a hold on one title
    let core = core();
    core.place_hold(HoldSubject::title("tln").unwrap(), reason("case 42"), ADMIN, now()).await.unwrap();
    // WHEN a hold on another title is released
    let err = core.release_hold(&HoldSubject::title("other").unwrap()).await.unwrap_err();
    // THEN that is NotFound, no reschedule is queued and the hold in place stays
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(core.queues.take_control().is_empty());
    assert_eq!(core.meta.holds().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_release_whose_reschedule_failed_can_be_retried_until_the_reschedule_is_queued() {
    // GIVEN a hold on a title, and the control queue throttling the next send
    let core = core();
    let subject = HoldSubject::title("tln").unwrap();
    core.place_hold(subject.clone(), reason("case 42"), ADMIN, now()).await.unwrap();
    core.queues.fail_next(Queue::Control, 1);
    // WHEN the release fails on the reschedule, and the caller retries it as told (retryable)
    let err = core.release_hold(&subject).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let retried = core.release_hold(&subject).await;
    // THEN the retry completes the release: the title's assets are rescheduled
    assert!(retried.is_ok(), "{retried:?}");
    assert_eq!(core.queues.take_control(), [ControlMessage::Reschedule { title_id: Some("tln".into()), cursor: None }]);
}

// purge_blocked

#[tokio::test]
async fn an_asset_without_a_hold_may_be_purged() {
    // GIVEN holds on another asset and another title only
    let core = core();
    let asset = core.asset_of("cam-1", 1).await;
    core.asset_of("cam-2", 1).await;
    core.place_hold(HoldSubject::asset("cam-2").unwrap(), reason("case 42"), ADMIN, now()).await.unwrap();
    core.place_hold(HoldSubject::title("other").unwrap(), reason("case 43"), ADMIN, now()).await.unwrap();
    // WHEN whether the asset may be purged is asked
    // THEN nothing blocks it
    assert_eq!(core.purge_blocked(&asset).await.unwrap(), None);
}

#[tokio::test]
async fn a_hold_on_the_asset_or_on_its_title_blocks_its_purge_and_says_why() {
    for subject in [HoldSubject::asset("cam-1").unwrap(), HoldSubject::title("tln").unwrap()] {
        // GIVEN an asset held, or its title
        let core = core();
        let asset = core.asset_of("cam-1", 1).await;
        core.place_hold(subject.clone(), reason("case 42"), ADMIN, now()).await.unwrap();
        // WHEN whether it may be purged is asked
        let why = core.purge_blocked(&asset).await.unwrap().expect("the hold blocks the purge");
        // THEN the hold is named, with its reason
        assert!(why.contains(&subject.to_string()) && why.contains("case 42"), "{why}");
    }
}

// audit and audit_page

#[tokio::test]
async fn audit_entries_are_read_back_by_subject_newest_first_in_pages() {
    // GIVEN three entries on an asset and one on another
    let core = core();
    for (at, id) in [("2027-01-04T10:00:00.000Z", "r1"), ("2027-01-04T10:00:02.000Z", "r3"), ("2027-01-04T10:00:01.000Z", "r2")] {
        core.audit(&entry("asset#cam-1", at, id)).await.unwrap();
    }
    core.audit(&entry("asset#cam-2", "2027-01-04T10:00:03.000Z", "r4")).await.unwrap();
    let query = AuditQuery::Subject("asset#cam-1".into());
    // WHEN the asset's trail is read two entries a page
    let (first, cursor) = core.audit_page(&query, Some(2), None).await.unwrap();
    let (second, end) = core.audit_page(&query, Some(2), cursor.as_deref()).await.unwrap();
    // THEN its own entries come, newest first, each once
    let ids = |page: &[AuditEntry]| page.iter().map(|e| e.request_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&first), ["r3", "r2"]);
    assert_eq!(ids(&second), ["r1"]);
    assert_eq!(end, None);
}

#[tokio::test]
async fn audit_entries_are_found_by_their_caller() {
    let core = core();
    core.audit(&entry("asset#cam-1", "2027-01-04T10:00:00.000Z", "r1")).await.unwrap();
    core.audit(&AuditEntry { principal: None, caller: "-".into(), ..entry("asset#cam-1", "2027-01-04T10:00:01.000Z", "r2") }).await.unwrap();
    let (page, _) = core.audit_page(&AuditQuery::Caller(APP.into()), None, None).await.unwrap();
    assert_eq!(page, [entry("asset#cam-1", "2027-01-04T10:00:00.000Z", "r1")]);
}

#[tokio::test]
async fn an_audit_page_of_zero_or_more_than_a_thousand_entries_is_refused() {
    // GIVEN an entry
    let core = core();
    core.audit(&entry("asset#cam-1", "2027-01-04T10:00:00.000Z", "r1")).await.unwrap();
    let query = AuditQuery::Subject("asset#cam-1".into());
    for limit in [0, MAX_AUDIT_PAGE + 1] {
        // WHEN a page of that size is asked for
        let err = core.audit_page(&query, Some(limit), None).await.unwrap_err();
        // THEN it is refused, saying the bounds
        assert_eq!(err.kind(), ErrorKind::Validation, "{limit}");
        assert!(err.to_string().contains("1-1000"), "{err}");
    }
    // AND the bounds themselves are pages
    assert_eq!(core.audit_page(&query, Some(MAX_AUDIT_PAGE), None).await.unwrap().0.len(), 1);
    assert_eq!(core.audit_page(&query, Some(1), None).await.unwrap().0.len(), 1);
}

#[tokio::test]
async fn an_audit_cursor_this_api_did_not_give_is_refused() {
    let core = core();
    core.audit(&entry("asset#cam-1", "2027-01-04T10:00:00.000Z", "r1")).await.unwrap();
    for cursor in ["not-hex", "7b7d"] {
        let err = core.audit_page(&AuditQuery::Subject("asset#cam-1".into()), None, Some(cursor)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation, "{cursor}: {err}");
    }
}
