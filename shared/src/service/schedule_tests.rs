//! Tests of scheduling: titles, asset changes, policies and reschedule pages, on the in-memory adapters.

use crate::domain::pricing::PriceTable;
use crate::domain::{AssetChange, NewAsset, PolicyDoc, TitleBody};
use crate::error::Error;
use crate::messages::ControlMessage;
use crate::ports::{PolicyStore, Scope, TitleStore};
use crate::service::testing::{MemoryCore, NOW, core, new_asset, policy_doc, at, now};
use std::collections::BTreeMap;

const LATER: &str = "2027-01-05T10:00:00Z";

fn titled(dates: &[(&str, &str)]) -> TitleBody {
    TitleBody { name: Some("The Long Night".into()), dates: dates.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
}

/// Archives to GLACIER ten days after the title's launch.
fn after_launch() -> PolicyDoc {
    policy_doc(r#"{"policy_id":"after-launch","anchor":"title.launch","offset_days":10,"action":{"action":"archive","storage_class":"GLACIER"}}"#)
}

/// Archives final assets to GLACIER 30 days after their creation (2026-06-01: due 2026-07-01).
fn finals() -> PolicyDoc {
    policy_doc(r#"{"policy_id":"finals","selector":{"phases":["final"]},"anchor":"asset.created","offset_days":30,"action":{"action":"archive","storage_class":"GLACIER"}}"#)
}

fn reschedule(title_id: Option<&str>, cursor: Option<String>) -> ControlMessage {
    ControlMessage::Reschedule { title_id: title_id.map(str::to_string), cursor }
}

/// A core with the policy created and the reschedule message it sent taken.
async fn core_with_policy(doc: PolicyDoc) -> MemoryCore {
    let core = core();
    core.create_policy(doc, "tester", now()).await.unwrap();
    core.queues.take_control();
    core
}

#[tokio::test]
async fn a_new_title_is_stored_and_its_assets_are_queued_for_a_reschedule() {
    // GIVEN no title
    let core = core();
    // WHEN title tln is put with a launch date
    let (title, moved) = core.put_title("tln", titled(&[("launch", "2027-03-01")]), now()).await.unwrap();
    // THEN it is stored, and one reschedule of its assets is queued
    assert!(moved);
    assert_eq!(core.meta.get_title("tln").await.unwrap(), Some(title));
    assert_eq!(core.queues.take_control(), vec![reschedule(Some("tln"), None)]);
}

#[tokio::test]
async fn a_title_put_again_with_the_same_dates_reschedules_nothing() {
    // GIVEN a title with a launch date
    let core = core();
    core.put_title("tln", titled(&[("launch", "2027-03-01")]), now()).await.unwrap();
    core.queues.take_control();
    // WHEN it is put again with another name and the same dates
    let body = TitleBody { name: Some("Renamed".into()), ..titled(&[("launch", "2027-03-01")]) };
    let (_, moved) = core.put_title("tln", body, at(LATER)).await.unwrap();
    // THEN the name is stored, and no reschedule is queued
    assert!(!moved);
    assert_eq!(core.meta.get_title("tln").await.unwrap().unwrap().name.as_deref(), Some("Renamed"));
    assert!(core.queues.take_control().is_empty());
}

#[tokio::test]
async fn a_title_whose_date_moves_queues_a_reschedule_of_its_assets() {
    // GIVEN a title with a launch date
    let core = core();
    core.put_title("tln", titled(&[("launch", "2027-03-01")]), now()).await.unwrap();
    core.queues.take_control();
    // WHEN its launch moves
    let (_, moved) = core.put_title("tln", titled(&[("launch", "2027-04-01")]), at(LATER)).await.unwrap();
    // THEN a reschedule of its assets is queued
    assert!(moved);
    assert_eq!(core.queues.take_control(), vec![reschedule(Some("tln"), None)]);
}

#[tokio::test]
async fn a_title_with_an_invalid_date_is_refused_and_changes_nothing() {
    // GIVEN a title with a launch date
    let core = core();
    let (before, _) = core.put_title("tln", titled(&[("launch", "2027-03-01")]), now()).await.unwrap();
    core.queues.take_control();
    // WHEN it is put with a thirteenth month
    let err = core.put_title("tln", titled(&[("launch", "2027-13-01")]), at(LATER)).await.unwrap_err();
    // THEN it is refused naming the date, the title is as it was, and nothing is queued
    assert!(matches!(&err, Error::Validation(m) if m.contains("dates.launch")), "{err:?}");
    assert_eq!(core.meta.get_title("tln").await.unwrap(), Some(before));
    assert!(core.queues.take_control().is_empty());
}

#[tokio::test]
async fn a_reschedule_page_puts_a_titles_assets_at_their_due_day_and_leaves_others() {
    // GIVEN a policy ten days after launch, two assets of tln and one of another title, and tln's launch put since
    let core = core_with_policy(after_launch()).await;
    core.asset_of("cam-1", 1).await;
    core.asset_of("cam-2", 1).await;
    core.objects.put(crate::service::testing::BUCKET, "other-1/f.exr", crate::adapters::memory::Put::body(vec![b'x'; 10]));
    core.register_asset(NewAsset { title_id: "other".into(), ..new_asset("other-1") }, now()).await.unwrap();
    core.put_title("tln", titled(&[("launch", "2027-03-01")]), now()).await.unwrap();
    core.put_title("other", titled(&[("launch", "2027-05-01")]), now()).await.unwrap();
    assert_eq!(core.asset("cam-1").await.due_at, None, "not due before the reschedule runs");
    // WHEN the reschedule of tln runs
    let (count, more) = core.reschedule_page(&Scope::Title { title_id: "tln".into() }, None).await.unwrap();
    // THEN both of its assets are due ten days after its launch, and the other title's is not moved
    assert_eq!((count, more), (2, false));
    assert_eq!(core.asset("cam-1").await.due_at.as_deref(), Some("2027-03-11"));
    assert_eq!(core.asset("cam-2").await.due_at.as_deref(), Some("2027-03-11"));
    assert_eq!(core.asset("other-1").await.due_at, None);
}

#[tokio::test]
async fn a_reschedule_of_more_assets_than_a_page_hands_the_rest_to_the_next_message() {
    // GIVEN 201 assets of tln, a policy after its launch, and the launch put
    let core = core_with_policy(after_launch()).await;
    for i in 0..201 {
        core.asset_of(&format!("a{i:03}"), 1).await;
    }
    core.put_title("tln", titled(&[("launch", "2027-03-01")]), now()).await.unwrap();
    core.queues.take_control();
    // WHEN the reschedule of every asset runs its first page
    let (count, more) = core.reschedule_page(&Scope::All, None).await.unwrap();
    // THEN it did 200 and queued the rest, which the next message does
    assert_eq!((count, more), (200, true));
    let control = core.queues.take_control();
    assert_eq!(control, vec![reschedule(None, Some("a199".into()))]);
    assert_eq!(core.asset("a200").await.due_at, None);
    let (count, more) = core.reschedule_page(&Scope::All, Some("a199")).await.unwrap();
    assert_eq!((count, more), (1, false));
    assert_eq!(core.asset("a200").await.due_at.as_deref(), Some("2027-03-11"));
    assert!(core.queues.take_control().is_empty());
}

#[tokio::test]
async fn changing_an_assets_phase_moves_it_out_of_a_policy_and_back() {
    // GIVEN a final asset due by the finals policy
    let core = core_with_policy(finals()).await;
    core.asset_of("cam-1", 1).await;
    assert_eq!(core.asset("cam-1").await.due_at.as_deref(), Some("2026-07-01"));
    // WHEN its phase is changed to wip
    let changed = core.change_asset("cam-1", &AssetChange { phase: Some("wip".into()), tags: None }).await.unwrap();
    // THEN it is stored in phase wip, and out of the due index
    assert_eq!(changed.phase, "wip");
    let a = core.asset("cam-1").await;
    assert_eq!((a.phase.as_str(), a.due_at), ("wip", None));
    // WHEN it is changed back to final, THEN it is due again
    core.change_asset("cam-1", &AssetChange { phase: Some("final".into()), tags: None }).await.unwrap();
    assert_eq!(core.asset("cam-1").await.due_at.as_deref(), Some("2026-07-01"));
}

#[tokio::test]
async fn changing_an_asset_that_does_not_exist_is_not_found() {
    // GIVEN no asset cam-9
    let core = core();
    // WHEN its phase is changed
    let err = core.change_asset("cam-9", &AssetChange { phase: Some("wip".into()), tags: None }).await.unwrap_err();
    // THEN it is not found
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn a_change_with_nothing_or_something_invalid_is_refused_and_the_asset_is_unchanged() {
    // GIVEN a registered asset
    let core = core_with_policy(finals()).await;
    core.asset_of("cam-1", 1).await;
    let before = core.asset("cam-1").await;
    let bad_tags = AssetChange { phase: None, tags: Some(BTreeMap::from([(String::new(), "x".to_string())])) };
    for change in [AssetChange { phase: None, tags: None }, AssetChange { phase: Some("bad phase".into()), tags: None }, bad_tags] {
        // WHEN it is changed so
        let err = core.change_asset("cam-1", &change).await.unwrap_err();
        // THEN it is refused, and the asset is as it was
        assert!(matches!(err, Error::Validation(_)), "{change:?}: {err:?}");
        assert_eq!(core.asset("cam-1").await, before);
    }
    // AND an invalid asset id is refused as well
    let err = core.change_asset("cam 1", &AssetChange { phase: Some("wip".into()), tags: None }).await.unwrap_err();
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
}

#[tokio::test]
async fn a_created_policy_is_version_1_and_queues_a_reschedule_of_every_asset() {
    // GIVEN no policy
    let core = core();
    // WHEN one is created
    let (policy, created) = core.create_policy(finals(), "alice", now()).await.unwrap();
    assert!(created);
    // THEN it is stored as version 1 by its creator, and every asset is queued for a reschedule
    assert_eq!((policy.version, policy.created_by.as_str(), policy.created_at.as_str()), (1, "alice", NOW));
    assert_eq!(core.meta.get_policy("finals", None).await.unwrap(), Some(policy.clone()));
    assert_eq!(core.meta.get_policy("finals", Some(1)).await.unwrap(), Some(policy));
    assert_eq!(core.queues.take_control(), vec![reschedule(None, None)]);
}

#[tokio::test]
async fn creating_a_policy_whose_id_exists_is_a_conflict_and_keeps_the_first() {
    // GIVEN policy finals created
    let core = core_with_policy(finals()).await;
    // WHEN another document with the same id is created
    let other = PolicyDoc { offset_days: 60, ..finals() };
    let err = core.create_policy(other, "bob", at(LATER)).await.unwrap_err();
    // THEN it is refused as a conflict, the first stays the only version, and nothing is queued
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    let stored = core.meta.get_policy("finals", None).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.doc.offset_days, stored.created_by.as_str()), (1, 30, "tester"));
    assert!(core.meta.get_policy("finals", Some(2)).await.unwrap().is_none());
    assert!(core.queues.take_control().is_empty());
}

#[tokio::test]
async fn an_invalid_policy_is_refused_and_nothing_is_stored() {
    // GIVEN a document with a negative offset (parsed, not validated)
    let core = core();
    let doc: PolicyDoc = serde_json::from_str(r#"{"policy_id":"bad","anchor":"asset.created","offset_days":-1,"action":{"action":"purge"}}"#).unwrap();
    // WHEN it is created
    let err = core.create_policy(doc, "alice", now()).await.unwrap_err();
    // THEN it is refused naming the field, and nothing is stored or queued
    assert!(matches!(&err, Error::Validation(m) if m.contains("offset_days")), "{err:?}");
    assert!(core.meta.get_policy("bad", None).await.unwrap().is_none());
    assert!(core.queues.take_control().is_empty());
}

#[tokio::test]
async fn an_edit_stores_the_next_version_and_keeps_the_first() {
    // GIVEN policy finals at version 1
    let core = core_with_policy(finals()).await;
    // WHEN its offset is edited
    let change = core.edit_policy("finals", PolicyDoc { offset_days: 60, ..finals() }, "bob", at(LATER)).await.unwrap();
    // THEN version 2 is the current one, version 1 is kept, and every asset is queued for a reschedule
    assert!(change.changed);
    assert_eq!((change.policy.version, change.policy.created_by.as_str()), (2, "bob"));
    assert_eq!(core.meta.get_policy("finals", None).await.unwrap().unwrap().doc.offset_days, 60);
    assert_eq!(core.meta.get_policy("finals", Some(1)).await.unwrap().unwrap().doc.offset_days, 30);
    assert_eq!(core.queues.take_control(), vec![reschedule(None, None)]);
}

#[tokio::test]
async fn an_edit_with_the_same_document_changes_nothing() {
    // GIVEN policy finals at version 1
    let core = core_with_policy(finals()).await;
    // WHEN it is edited with the same document
    let change = core.edit_policy("finals", finals(), "bob", at(LATER)).await.unwrap();
    // THEN no version is made, and nothing is queued
    assert!(!change.changed);
    assert_eq!(change.policy.version, 1);
    assert!(core.meta.get_policy("finals", Some(2)).await.unwrap().is_none());
    assert!(core.queues.take_control().is_empty());
}

#[tokio::test]
async fn an_edit_whose_body_names_another_policy_is_refused_and_changes_nothing() {
    // GIVEN policy finals at version 1
    let core = core_with_policy(finals()).await;
    // WHEN it is edited with a body naming policy other
    let doc = PolicyDoc { policy_id: "other".into(), offset_days: 60, ..finals() };
    let err = core.edit_policy("finals", doc, "bob", at(LATER)).await.unwrap_err();
    // THEN it is refused, no version is made, and nothing is queued
    assert!(matches!(&err, Error::Validation(m) if m.contains("does not match")), "{err:?}");
    assert_eq!(core.meta.get_policy("finals", None).await.unwrap().unwrap().version, 1);
    assert!(core.meta.get_policy("other", None).await.unwrap().is_none());
    assert!(core.queues.take_control().is_empty());
}

#[tokio::test]
async fn editing_a_policy_that_does_not_exist_is_not_found() {
    // GIVEN no policy
    let core = core();
    // WHEN finals is edited
    let err = core.edit_policy("finals", finals(), "bob", at(LATER)).await.unwrap_err();
    // THEN it is not found, and nothing is stored
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert!(core.meta.get_policy("finals", None).await.unwrap().is_none());
}

#[tokio::test]
async fn disabling_a_policy_makes_a_disabled_version_and_takes_its_assets_out_of_the_due_index() {
    // GIVEN an asset due by policy finals
    let core = core_with_policy(finals()).await;
    core.asset_of("cam-1", 1).await;
    // WHEN the policy is disabled and the reschedule it queued runs
    let change = core.set_policy_enabled("finals", false, "bob", at(LATER)).await.unwrap();
    assert_eq!(core.queues.take_control(), vec![reschedule(None, None)]);
    core.reschedule_page(&Scope::All, None).await.unwrap();
    // THEN version 2 is disabled, and the asset is no longer due
    assert!(change.changed);
    let stored = core.meta.get_policy("finals", None).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.doc.enabled), (2, false));
    assert_eq!(core.asset("cam-1").await.due_at, None);
}

#[tokio::test]
async fn enabling_an_enabled_policy_changes_nothing() {
    // GIVEN policy finals, enabled
    let core = core_with_policy(finals()).await;
    // WHEN it is enabled
    let change = core.set_policy_enabled("finals", true, "bob", at(LATER)).await.unwrap();
    // THEN no version is made, and nothing is queued
    assert!(!change.changed);
    assert_eq!(core.meta.get_policy("finals", None).await.unwrap().unwrap().version, 1);
    assert!(core.queues.take_control().is_empty());
}

#[tokio::test]
async fn enabling_a_policy_that_does_not_exist_or_with_an_invalid_id_is_refused() {
    // GIVEN no policy
    let core = core();
    // WHEN one is disabled by an unknown id, and by an invalid id
    let missing = core.set_policy_enabled("finals", false, "bob", at(LATER)).await.unwrap_err();
    let invalid = core.set_policy_enabled("fin als", false, "bob", at(LATER)).await.unwrap_err();
    // THEN the first is not found and the second invalid
    assert!(matches!(missing, Error::NotFound(_)), "{missing:?}");
    assert!(matches!(invalid, Error::Validation(_)), "{invalid:?}");
}

#[tokio::test]
async fn a_policy_archiving_what_a_stored_purge_deletes_soon_after_is_warned_of_the_early_deletion_charge() {
    // GIVEN a purge 40 days after creation
    let purge = policy_doc(r#"{"policy_id":"purge-40","anchor":"asset.created","offset_days":40,"action":{"action":"purge"}}"#);
    let core = core_with_policy(purge).await;
    // WHEN the warnings of an archive to GLACIER 30 days after creation are asked
    let archive = crate::domain::Policy { doc: PolicyDoc { selector: Default::default(), ..finals() }, version: 1, created_at: NOW.into(), created_by: "bob".into() };
    let warnings = core.policy_warnings(&archive, PriceTable::bundled()).await.unwrap();
    // THEN one says the purge comes within GLACIER's minimum duration
    assert!(warnings.iter().any(|w| w.contains("policy purge-40 purges what policy finals archived to GLACIER 10 days before")), "{warnings:?}");
}

#[tokio::test]
async fn a_policy_with_no_stored_policy_on_its_anchor_gets_no_early_deletion_warning() {
    // GIVEN no policy stored
    let core = core();
    // WHEN the warnings of an archive to GLACIER are asked
    let archive = crate::domain::Policy { doc: finals(), version: 1, created_at: NOW.into(), created_by: "bob".into() };
    let warnings = core.policy_warnings(&archive, PriceTable::bundled()).await.unwrap();
    // THEN none speaks of another policy
    assert!(!warnings.iter().any(|w| w.contains("early-deletion")), "{warnings:?}");
}

#[tokio::test]
async fn a_title_put_retried_after_its_reschedule_failed_to_send_still_reschedules_its_assets() {
    // GIVEN a title launched 2027-03-01 and the control queue failing once
    let core = core();
    core.put_title("tln", titled(&[("launch", "2027-03-01")]), now()).await.unwrap();
    core.queues.take_control();
    core.queues.fail_next(crate::adapters::memory::Queue::Control, 1);
    // WHEN its launch is moved, the call fails as retryable, and the caller retries it
    let err = core.put_title("tln", titled(&[("launch", "2027-02-01")]), at(LATER)).await.unwrap_err();
    assert!(matches!(err, Error::Retryable { .. }), "{err:?}");
    core.put_title("tln", titled(&[("launch", "2027-02-01")]), at(LATER)).await.unwrap();
    // THEN a reschedule of its assets is queued
    assert_eq!(core.queues.take_control(), vec![reschedule(Some("tln"), None)]);
}

#[tokio::test]
async fn a_policy_create_retried_after_its_reschedule_failed_to_send_still_reschedules_every_asset() {
    // GIVEN a registered final asset and the control queue failing once
    let core = core();
    core.asset_of("cam-1", 1).await;
    core.queues.fail_next(crate::adapters::memory::Queue::Control, 1);
    // WHEN policy finals is created, the call fails as retryable, and the caller retries it
    let err = core.create_policy(finals(), "alice", now()).await.unwrap_err();
    assert!(matches!(err, Error::Retryable { .. }), "{err:?}");
    let (policy, created) = core.create_policy(finals(), "alice", now()).await.unwrap();
    // THEN the retry answers the policy made (not made again), a reschedule of every asset is
    // queued, and running it puts the asset at its due day
    assert_eq!((policy.version, created), (1, false));
    assert_eq!(core.queues.take_control(), vec![reschedule(None, None)]);
    core.reschedule_page(&Scope::All, None).await.unwrap();
    assert_eq!(core.asset("cam-1").await.due_at.as_deref(), Some("2026-07-01"));
}

#[tokio::test]
async fn a_reschedule_leaves_an_asset_a_task_holds_for_the_tasks_end() {
    // GIVEN an asset due by policy finals, on which an archive task runs
    let core = core_with_policy(finals()).await;
    core.asset_of("cam-1", 1).await;
    core.request("cam-1", crate::domain::Action::Archive { storage_class: crate::domain::StorageClass::DeepArchive }, "r1").await;
    let before = core.asset("cam-1").await.due_at;
    assert_eq!(before.as_deref(), Some("2026-07-01"), "a request leaves the index as it was");
    // WHEN its phase is changed out of the policy, and every asset is rescheduled
    let changed = core.change_asset("cam-1", &AssetChange { phase: Some("wip".into()), tags: None }).await.unwrap();
    core.reschedule_page(&Scope::All, None).await.unwrap();
    // THEN the phase is stored, but its due day is left for the task's end to move
    assert_eq!(changed.phase, "wip");
    assert!(core.asset("cam-1").await.active_task.is_some());
    assert_eq!(core.asset("cam-1").await.due_at, before);
}

#[tokio::test]
async fn an_edit_retried_within_the_window_sends_its_reschedule_again_and_makes_no_version() {
    // GIVEN policy finals edited to version 2, whose reschedule failed to send
    let core = core_with_policy(finals()).await;
    let disabled = PolicyDoc { enabled: false, ..finals() };
    core.queues.take_control();
    core.queues.fail_next(crate::adapters::memory::Queue::Control, 1);
    assert!(core.edit_policy("finals", disabled.clone(), "bob", at(LATER)).await.unwrap_err().is_retryable());
    // WHEN the same edit is retried a minute later
    let change = core.edit_policy("finals", disabled, "bob", at("2027-01-05T10:01:00Z")).await.unwrap();
    // THEN no third version is made, and the reschedule is queued
    assert_eq!((change.changed, change.policy.version), (false, 2));
    assert_eq!(core.queues.take_control(), vec![reschedule(None, None)]);
}
