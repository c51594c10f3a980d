//! The in-memory object store answers as S3 and the S3 adapter do.

use super::*;
use crate::domain::FileState;
use crate::ports::NotCopied;
use crate::domain::StorageClass::{DeepArchive, Glacier, GlacierIr, IntelligentTiering, Standard};
use chrono::{DateTime, Utc};

const B: &str = "media";
const MIB: u64 = 1024 * 1024;

fn store() -> MemoryObjects {
    let s = MemoryObjects::new();
    s.versioned_bucket(B);
    s
}

/// The registry's record of a listed version.
fn file(v: &KeyVersion) -> FileRecord {
    FileRecord {
        asset_id: "a".into(),
        shard: 0,
        bucket: B.into(),
        key: v.key.clone(),
        version_id: v.version_id.clone(),
        size: v.size,
        etag: v.etag.clone(),
        storage_class: v.storage_class,
        state: FileState::of_class(v.storage_class),
    }
}

fn at(t: &str) -> DateTime<Utc> {
    t.parse().unwrap()
}

/// The code of a refusal.
fn code<T: std::fmt::Debug>(r: Result<T, ObjectError>) -> String {
    match r {
        Err(ObjectError::Permanent { code, .. }) => code,
        other => panic!("not a refusal: {other:?}"),
    }
}

#[tokio::test]
async fn a_copy_makes_a_new_current_version_in_the_class() {
    // GIVEN an object in STANDARD
    let s = store();
    let v1 = s.put(B, "k", Put::body("hello"));
    // WHEN its registered version is copied to GLACIER
    let copied = s.copy_to_class(&file(&v1), Glacier).await.unwrap();
    // THEN a new current version holds it in GLACIER, with the same content's ETag
    let versions = s.versions(B, "k");
    let (new, old) = (&versions[0], &versions[1]);
    assert_eq!(versions.len(), 2);
    assert!(new.latest && !old.latest);
    assert_ne!(new.version_id, v1.version_id);
    assert_eq!((new.storage_class, old.storage_class), (Glacier, Standard));
    assert_eq!(copied, Copied { version_id: Some(new.version_id.clone()), etag: Some(v1.etag.clone()), skipped: None });
}

#[tokio::test]
async fn in_an_unversioned_bucket_a_copy_replaces_the_object_and_answers_no_version() {
    let s = MemoryObjects::new();
    s.unversioned_bucket(B);
    let v = s.put(B, "k", Put::body("hello"));
    let copied = s.copy_to_class(&file(&v), GlacierIr).await.unwrap();
    assert_eq!(copied.version_id, None);
    let versions = s.versions(B, "k");
    assert_eq!(versions.len(), 1);
    assert_eq!((versions[0].version_id.as_str(), versions[0].storage_class), ("null", GlacierIr));
}

#[tokio::test]
async fn a_copy_of_a_glacier_source_is_refused_with_invalid_object_state() {
    // GIVEN an object in GLACIER, not restored
    let s = store();
    let v = s.put(B, "k", Put::sized(10).class(Glacier));
    // WHEN it is copied to DEEP_ARCHIVE
    let r = s.copy_to_class(&file(&v), DeepArchive).await;
    // THEN S3 refuses, and nothing is written
    assert!(code(r).starts_with("InvalidObjectState"));
    assert_eq!(s.versions(B, "k").len(), 1);
}

#[tokio::test]
async fn a_copy_of_a_restored_glacier_source_is_made() {
    let s = store();
    let v = s.put(B, "k", Put::sized(10).class(Glacier));
    s.restore(&file(&v), 1, RestoreTier::Bulk).await.unwrap();
    s.complete_restores(at("2027-01-01T10:00:00Z"));
    let copied = s.copy_to_class(&file(&v), DeepArchive).await.unwrap();
    assert_eq!(copied.skipped, None);
    assert_eq!(s.versions(B, "k")[0].storage_class, DeepArchive);
}

#[tokio::test]
async fn a_copy_to_the_class_s3_holds_already_is_not_made() {
    // GIVEN an object a lifecycle rule moved to GLACIER_IR, registered in STANDARD
    let s = store();
    let v = s.put(B, "k", Put::body("x"));
    s.set_class(B, "k", &v.version_id, GlacierIr);
    // WHEN it is copied to GLACIER_IR
    let copied = s.copy_to_class(&file(&v), GlacierIr).await.unwrap();
    // THEN no copy is made, and the registered version is answered
    assert_eq!(copied, Copied { version_id: Some(v.version_id), etag: Some(v.etag), skipped: Some(NotCopied::InTargetClass) });
    assert_eq!(s.versions(B, "k").len(), 1);
}

#[tokio::test]
async fn an_intelligent_tiering_object_in_an_archive_tier_is_blocked() {
    let s = store();
    let v = s.put(B, "k", Put::sized(10).class(IntelligentTiering).archive_status("DEEP_ARCHIVE_ACCESS"));
    let copied = s.copy_to_class(&file(&v), Glacier).await.unwrap();
    assert!(matches!(copied.skipped, Some(NotCopied::Blocked(why)) if why.contains("DEEP_ARCHIVE_ACCESS")));
    assert_eq!(s.versions(B, "k").len(), 1);
}

#[tokio::test]
async fn a_copy_of_a_replaced_object_fails_as_precondition_failed_even_with_the_same_content() {
    let s = store();
    let changed = s.put(B, "changed", Put::body("one"));
    s.put(B, "changed", Put::body("two"));
    let rewritten = s.put(B, "rewritten", Put::body("one"));
    s.put(B, "rewritten", Put::body("one"));
    for v in [changed, rewritten] {
        assert!(code(s.copy_to_class(&file(&v), Glacier).await).starts_with("PreconditionFailed"), "{}", v.key);
        assert_eq!(s.versions(B, &v.key).len(), 2);
    }
}

#[tokio::test]
async fn a_copy_of_a_deleted_object_fails_as_no_such_key() {
    let s = store();
    let v = s.put(B, "k", Put::body("one"));
    s.delete(B, "k");
    assert!(code(s.copy_to_class(&file(&v), Glacier).await).starts_with("NoSuchKey"));
}

#[tokio::test]
async fn restore_then_complete_then_restored_until() {
    // GIVEN an object in GLACIER, asked to be restored for 3 days
    let s = store();
    let f = file(&s.put(B, "k", Put::sized(10).class(Glacier)));
    assert_eq!(s.restore(&f, 3, RestoreTier::Standard).await.unwrap(), RestoreStarted::InProgress);
    assert_eq!(s.restored_until(&f).await.unwrap(), None, "ongoing");
    // WHEN S3 completes it
    assert_eq!(s.complete_restores(at("2027-01-01T10:00:00Z")), 1);
    // THEN the window ends at midnight after the 3 days
    assert_eq!(s.restored_until(&f).await.unwrap().as_deref(), Some("2027-01-05T00:00:00Z"));
}

#[tokio::test]
async fn a_restore_asked_again_is_in_progress_until_done_then_already_restored_with_its_window_moved() {
    let s = store();
    let f = file(&s.put(B, "k", Put::sized(10).class(DeepArchive)));
    s.restore(&f, 3, RestoreTier::Bulk).await.unwrap();
    assert_eq!(s.restore(&f, 3, RestoreTier::Bulk).await.unwrap(), RestoreStarted::InProgress);
    s.complete_restores(at("2027-01-01T10:00:00Z"));
    s.set_now(at("2027-01-03T12:00:00Z"));
    assert_eq!(s.restore(&f, 2, RestoreTier::Bulk).await.unwrap(), RestoreStarted::AlreadyRestored);
    assert_eq!(s.restored_until(&f).await.unwrap().as_deref(), Some("2027-01-06T00:00:00Z"));
}

#[tokio::test]
async fn a_restore_of_an_object_in_no_archive_class_is_invalid_object_state() {
    let s = store();
    let f = file(&s.put(B, "k", Put::body("x").class(GlacierIr)));
    assert!(code(s.restore(&f, 1, RestoreTier::Bulk).await).starts_with("InvalidObjectState"));
}

#[tokio::test]
async fn a_restored_copy_is_gone_when_its_window_ends() {
    let s = store();
    let f = file(&s.put(B, "k", Put::sized(10).class(Glacier)));
    s.restore(&f, 1, RestoreTier::Bulk).await.unwrap();
    s.complete_restores(at("2027-01-01T10:00:00Z"));
    assert_eq!(s.expire_restores(at("2027-01-02T23:59:59Z")), 0);
    assert_eq!(s.expire_restores(at("2027-01-03T00:00:00Z")), 1);
    assert_eq!(s.restored_until(&f).await.unwrap(), None);
}

#[tokio::test]
async fn a_multipart_copy_continues_across_calls_and_completes() {
    // GIVEN an upload of 12 MiB (three parts of at least 5 MiB)
    let s = store();
    let f = file(&s.put(B, "big", Put::sized(12 * MIB)));
    let CopyStart::Upload(id) = s.start_multipart_copy(&f, Glacier).await.unwrap() else { panic!("no upload") };
    // WHEN each call has no time left (one part each)
    let late = Some(Instant::now());
    let first = s.continue_multipart_copy(&f, &id, MIB, late).await.unwrap();
    let second = s.continue_multipart_copy(&f, &id, MIB, late).await.unwrap();
    let third = s.continue_multipart_copy(&f, &id, MIB, late).await.unwrap();
    // THEN it goes on a part at a time, and the last completes it as the key's new version
    assert_eq!(first, CopyProgress::Unfinished { parts_done: 1, parts: 3 });
    assert_eq!(second, CopyProgress::Unfinished { parts_done: 2, parts: 3 });
    let CopyProgress::Done(copied) = third else { panic!("not done: {third:?}") };
    let current = s.current_object(&f).await.unwrap().unwrap();
    assert_eq!(copied.version_id.as_ref(), Some(&current.version_id));
    assert_eq!((current.storage_class, current.size), (Glacier, 12 * MIB));
    assert!(current.etag.ends_with("-3\""), "{}", current.etag);
    assert!(s.uploads().is_empty());
}

#[tokio::test]
async fn a_multipart_copy_carries_the_metadata_over() {
    let s = store();
    let f = file(&s.put(B, "big", Put::sized(6 * MIB).metadata("title", "show-1")));
    let CopyStart::Upload(id) = s.start_multipart_copy(&f, Glacier).await.unwrap() else { panic!("no upload") };
    let CopyProgress::Done(copied) = s.continue_multipart_copy(&f, &id, MIB, None).await.unwrap() else { panic!("not done") };
    let metadata = s.metadata(B, "big", &copied.version_id.unwrap()).unwrap();
    assert_eq!(metadata.get("title").map(String::as_str), Some("show-1"));
}

#[tokio::test]
async fn an_aborted_upload_is_gone() {
    let s = store();
    let f = file(&s.put(B, "big", Put::sized(6 * MIB)));
    let CopyStart::Upload(id) = s.start_multipart_copy(&f, Glacier).await.unwrap() else { panic!("no upload") };
    s.abort_multipart_copy(&f, &id).await.unwrap();
    assert_eq!(s.continue_multipart_copy(&f, &id, MIB, None).await.unwrap(), CopyProgress::Gone);
    assert_eq!(s.continue_multipart_copy(&f, "never-started", MIB, None).await.unwrap(), CopyProgress::Gone);
}

#[tokio::test]
async fn the_parts_of_a_glacier_source_are_refused_with_invalid_object_state() {
    let s = store();
    let f = file(&s.put(B, "big", Put::sized(6 * MIB).class(Glacier)));
    let CopyStart::Upload(id) = s.start_multipart_copy(&f, DeepArchive).await.unwrap() else { panic!("no upload") };
    assert!(code(s.continue_multipart_copy(&f, &id, MIB, None).await).starts_with("InvalidObjectState"));
}

#[tokio::test]
async fn delete_versions_removes_exactly_the_versions_given() {
    // GIVEN three versions and a delete marker
    let s = store();
    let v1 = s.put(B, "k", Put::body("1"));
    let v2 = s.put(B, "k", Put::body("2"));
    s.delete(B, "k");
    let v3 = s.put(B, "k", Put::body("3"));
    let marker = s.versions(B, "k")[1].clone();
    assert!(marker.delete_marker);
    // WHEN the first version and the marker are deleted
    let gone = [&v1, &marker].map(|v| ObjectVersion { key: "k".into(), version_id: v.version_id.clone(), delete_marker: v.delete_marker });
    let failures = s.delete_versions(B, &gone).await.unwrap();
    // THEN only those went
    assert!(failures.is_empty());
    let left: Vec<String> = s.versions(B, "k").into_iter().map(|v| v.version_id).collect();
    assert_eq!(left, [v3.version_id, v2.version_id]);
}

#[tokio::test]
async fn a_locked_key_keeps_its_versions_and_loses_its_delete_markers() {
    let s = store();
    let v = s.put(B, "k", Put::body("1"));
    s.delete(B, "k");
    s.lock(B, "k");
    let all = s.versions_of(B, "k").await.unwrap();
    let failures = s.delete_versions(B, &all).await.unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0.version_id, v.version_id);
    assert!(failures[0].1.starts_with("AccessDenied"), "{}", failures[0].1);
    assert_eq!(s.versions(B, "k"), [KeyVersion { latest: true, ..v }]);
}

#[tokio::test]
async fn an_injected_transient_error_is_transient_and_the_next_call_succeeds() {
    // GIVEN a copy armed to fail once as throttled
    let s = store();
    let f = file(&s.put(B, "k", Put::body("x")));
    s.fail_next(Op::Copy, "k", Fault::transient(), 1);
    // WHEN it is called twice
    let first = s.copy_to_class(&f, Glacier).await;
    let second = s.copy_to_class(&f, Glacier).await;
    // THEN the first is Transient and did nothing, the second copies; both were requests
    assert!(matches!(first, Err(ObjectError::Transient(ref e)) if e.is_retryable()), "{first:?}");
    assert!(second.is_ok());
    assert_eq!(s.versions(B, "k").len(), 2);
    assert_eq!(s.requests(Op::Copy), 2);
}

#[tokio::test]
async fn an_injected_refusal_is_named_as_the_adapter_names_it_and_only_on_its_key() {
    let s = store();
    let k = file(&s.put(B, "k", Put::sized(1).class(Glacier)));
    let other = file(&s.put(B, "other", Put::sized(1).class(Glacier)));
    s.fail_next(Op::Restore, "k", Fault::permanent("NoSuchKey", "gone"), 1);
    assert!(s.restore(&other, 1, RestoreTier::Bulk).await.is_ok());
    assert_eq!(code(s.restore(&k, 1, RestoreTier::Bulk).await), "NoSuchKey (the object is gone)");
}

#[tokio::test]
async fn a_copy_whose_answer_is_lost_is_made_all_the_same() {
    let s = store();
    let f = file(&s.put(B, "k", Put::body("x")));
    s.fail_next(Op::Copy, "k", Fault::permanent("PreconditionFailed", "read again after a reset").after_acting(), 1);
    assert!(code(s.copy_to_class(&f, Glacier).await).starts_with("PreconditionFailed"));
    assert_eq!(s.current_object(&f).await.unwrap().unwrap().storage_class, Glacier);
}

#[tokio::test]
async fn versions_after_counts_versions_and_markers_and_says_when_more_follow() {
    // GIVEN a: two versions; b: a version under a marker; c: one version
    let s = store();
    s.put(B, "a", Put::body("1"));
    s.put(B, "a", Put::body("2"));
    s.put(B, "b", Put::body("1"));
    s.delete(B, "b");
    s.put(B, "c", Put::body("1"));
    // WHEN listed three at a time, then after "b"
    let (page, more) = s.versions_after(B, "", None, 3).await.unwrap();
    let (rest, none) = s.versions_after(B, "", Some("b"), 3).await.unwrap();
    // THEN the first page ends in b's marker (b's version is left for the next), the rest is c
    let shown = |p: &[KeyVersion]| p.iter().map(|v| (v.key.clone(), v.latest, v.delete_marker)).collect::<Vec<_>>();
    assert_eq!(shown(&page), [("a".into(), true, false), ("a".into(), false, false), ("b".into(), true, true)]);
    assert!(more);
    assert_eq!(shown(&rest), [("c".into(), true, false)]);
    assert!(!none);
}

#[tokio::test]
async fn list_latest_and_head_leave_out_deleted_keys() {
    let s = store();
    let a = s.put(B, "show/a", Put::body("1"));
    s.put(B, "show/b", Put::body("1"));
    s.delete(B, "show/b");
    s.put(B, "other/c", Put::body("1"));
    assert_eq!(s.head_current(B, "show/b").await.unwrap(), None);
    assert_eq!(s.head_current(B, "show/a").await.unwrap().as_ref(), Some(&a));
    assert_eq!(s.list_latest(B, "show/").await.unwrap(), [a]);
}

#[tokio::test]
async fn read_range_reads_a_part_and_the_size_and_nothing_past_the_end() {
    let s = store();
    s.put(B, "inventory.csv", Put::body("hello world"));
    assert_eq!(s.read_range(B, "inventory.csv", 6, 5).await.unwrap(), (b"world".to_vec(), 11));
    assert_eq!(s.read_range(B, "inventory.csv", 6, 100).await.unwrap(), (b"world".to_vec(), 11));
    assert_eq!(s.read_range(B, "inventory.csv", 11, 5).await.unwrap(), (vec![], 11));
}
