//! Security: holds, the audit trail's pages and the application registry.

use super::*;
use crate::domain::audit::{AuditEntry, AuditQuery, Decision};
use crate::domain::grant::Application;
use crate::domain::hold::{Hold, HoldSubject};
use crate::error::ErrorKind;
use crate::ports::{ApplicationStore, AuditStore, HoldStore};

fn hold(subject: HoldSubject, reason: &str) -> Hold {
    Hold { subject, reason: reason.into(), placed_by: "legal".into(), placed_at: "2027-01-01T00:00:00Z".into() }
}

fn entry(subject: &str, at: &str, caller: &str) -> AuditEntry {
    AuditEntry {
        subject: subject.into(),
        at: at.into(),
        request_id: format!("req-{at}"),
        caller: caller.into(),
        principal: None,
        application: None,
        action: "GET /assets/{asset_id}".into(),
        decision: Decision::Allowed,
        status: None,
        reason: None,
        task_ids: vec![],
    }
}

#[tokio::test]
async fn a_hold_is_placed_once_and_the_first_is_kept() {
    // GIVEN an asset on hold
    let meta = MemoryMeta::new();
    assert!(meta.place_hold(&hold(HoldSubject::Asset("a".into()), "case 1")).await.unwrap());
    // WHEN another hold is placed on it
    let second = meta.place_hold(&hold(HoldSubject::Asset("a".into()), "case 2")).await.unwrap();
    // THEN it is refused and the first stays
    assert!(!second);
    assert_eq!(meta.holds().await.unwrap().iter().map(|h| h.reason.as_str()).collect::<Vec<_>>(), vec!["case 1"]);
}

#[tokio::test]
async fn the_holds_on_an_asset_are_its_own_and_its_titles() {
    // GIVEN holds on an asset's title, on another asset, and on the asset itself
    let meta = MemoryMeta::new();
    meta.place_hold(&hold(HoldSubject::Title("tln".into()), "title")).await.unwrap();
    meta.place_hold(&hold(HoldSubject::Asset("b".into()), "other")).await.unwrap();
    meta.place_hold(&hold(HoldSubject::Asset("a".into()), "asset")).await.unwrap();
    // WHEN the holds on the asset are read, then the asset's is released
    let on = meta.holds_on("a", "tln").await.unwrap();
    let released = meta.release_hold(&HoldSubject::Asset("a".into())).await.unwrap();
    // THEN they are the asset's and the title's, asset first; the release returns it
    assert_eq!(on.iter().map(|h| h.reason.as_str()).collect::<Vec<_>>(), vec!["asset", "title"]);
    assert_eq!(released.map(|h| h.reason), Some("asset".to_string()));
    assert_eq!(meta.holds_on("a", "tln").await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_subjects_audit_trail_pages_newest_first_with_a_cursor() {
    // GIVEN three entries on an asset and one on another
    let meta = MemoryMeta::new();
    for at in ["2027-01-02T00:00:00Z", "2027-01-03T00:00:00Z", "2027-01-01T00:00:00Z"] {
        meta.record_audit(&entry("asset#a", at, "arn:me"), 90).await.unwrap();
    }
    meta.record_audit(&entry("asset#b", "2027-01-04T00:00:00Z", "arn:me"), 90).await.unwrap();
    let query = AuditQuery::Subject("asset#a".into());
    // WHEN it is read two at a time
    let (first, cursor) = meta.audit_page(&query, 2, None).await.unwrap();
    let (second, end) = meta.audit_page(&query, 2, cursor.as_deref()).await.unwrap();
    // THEN the asset's entries come newest first across both pages
    let days: Vec<&str> = first.iter().chain(&second).map(|e| &e.at[..10]).collect();
    assert_eq!(days, vec!["2027-01-03", "2027-01-02", "2027-01-01"]);
    assert_eq!(end, None);
}

#[tokio::test]
async fn a_callers_audit_trail_spans_subjects_and_the_same_entry_again_replaces_the_first() {
    // GIVEN a caller's entries on two subjects, one written again with its outcome
    let meta = MemoryMeta::new();
    meta.record_audit(&entry("asset#a", "2027-01-01T00:00:00Z", "arn:me"), 90).await.unwrap();
    meta.record_audit(&entry("title#t", "2027-01-02T00:00:00Z", "arn:me"), 90).await.unwrap();
    meta.record_audit(&entry("asset#a", "2027-01-03T00:00:00Z", "arn:other"), 90).await.unwrap();
    let done = AuditEntry { status: Some(200), ..entry("asset#a", "2027-01-01T00:00:00Z", "arn:me") };
    meta.record_audit(&done, 90).await.unwrap();
    // WHEN the caller's trail is read one at a time
    let (first, cursor) = meta.audit_page(&AuditQuery::Caller("arn:me".into()), 1, None).await.unwrap();
    let (second, _) = meta.audit_page(&AuditQuery::Caller("arn:me".into()), 1, cursor.as_deref()).await.unwrap();
    // THEN its two entries come newest first, the replaced one with its outcome
    assert_eq!((first[0].subject.as_str(), second[0].subject.as_str()), ("title#t", "asset#a"));
    assert_eq!(second, vec![done]);
}

#[tokio::test]
async fn an_audit_cursor_the_api_did_not_give_is_refused() {
    // GIVEN an audit trail
    let meta = MemoryMeta::new();
    meta.record_audit(&entry("asset#a", "2027-01-01T00:00:00Z", "arn:me"), 90).await.unwrap();
    // WHEN it is read from a forged cursor
    let forged = meta.audit_page(&AuditQuery::Subject("asset#a".into()), 10, Some("not-hex")).await.unwrap_err();
    // THEN it is a validation error
    assert_eq!(forged.kind(), ErrorKind::Validation);
}

#[tokio::test]
async fn putting_and_deleting_an_application_return_the_entry_they_replaced() {
    // GIVEN an application
    let meta = MemoryMeta::new();
    let app = |name: &str| Application { principal: "arn:app".into(), name: name.into(), grants: vec![], updated_by: "admin".into(), updated_at: String::new() };
    assert_eq!(meta.put_application(&app("one")).await.unwrap(), None);
    // WHEN it is replaced, then deleted
    let replaced = meta.put_application(&app("two")).await.unwrap();
    let deleted = meta.delete_application("arn:app").await.unwrap();
    // THEN each returns what was there; none is left
    assert_eq!((replaced, deleted), (Some(app("one")), Some(app("two"))));
    assert_eq!(meta.get_application("arn:app").await.unwrap(), None);
}
