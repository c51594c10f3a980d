//! Files: registration once, pages, steps, uploads and restore windows.

use super::*;
use crate::domain::asset::MIXED;
use crate::domain::pricing::SMALL_OBJECT_BYTES;

#[tokio::test]
async fn a_file_is_registered_once_and_counted_once() {
    // GIVEN an asset with no files
    let meta = with_files("a", &[]).await;
    let f = file("a", "k1");
    // WHEN the same small file is registered twice
    let first = meta.register_file(&f).await.unwrap();
    let second = meta.register_file(&f).await.unwrap();
    // THEN the second is refused and the asset counts it once, small, in its class
    assert!(first && !second);
    let a = meta.get_asset("a").await.unwrap().unwrap();
    assert_eq!((a.file_count, a.total_bytes, a.small_file_count, a.small_file_bytes), (1, 1000, 1, 1000));
    assert_eq!(a.storage_class, "STANDARD");
}

#[tokio::test]
async fn a_file_of_another_class_makes_the_asset_mixed_and_it_stays_mixed() {
    // GIVEN an asset of STANDARD files
    let meta = with_files("a", &[]).await;
    meta.register_file(&file("a", "k1")).await.unwrap();
    // WHEN a large GLACIER file and another STANDARD one arrive
    let cold = FileRecord { storage_class: StorageClass::Glacier, size: SMALL_OBJECT_BYTES, ..file("a", "k2") };
    meta.register_file(&cold).await.unwrap();
    meta.register_file(&file("a", "k3")).await.unwrap();
    // THEN the asset is MIXED; the large file is not counted small
    let a = meta.get_asset("a").await.unwrap().unwrap();
    assert_eq!((a.storage_class.as_str(), a.file_count, a.small_file_count), (MIXED, 3, 2));
}

#[tokio::test]
async fn a_shards_files_page_in_key_order_and_a_full_last_page_has_a_cursor() {
    // GIVEN four files of one shard
    let keys: Vec<String> = (0..).map(|i| format!("k{i}")).filter(|k| shard_of(k, SHARDS) == 0).take(4).collect();
    let meta = with_files("a", &keys.iter().map(String::as_str).collect::<Vec<_>>()).await;
    // WHEN the shard is read two at a time
    let (first, cursor) = meta.files_page("a", 0, None, 2).await.unwrap();
    let (second, last) = meta.files_page("a", 0, cursor.as_deref(), 2).await.unwrap();
    let (empty, end) = meta.files_page("a", 0, last.as_deref(), 2).await.unwrap();
    // THEN the keys come in order, and a page that fills its limit has a cursor, as DynamoDB's
    let mut sorted = keys.clone();
    sorted.sort();
    let read: Vec<String> = first.iter().chain(&second).map(|f| f.file.key.clone()).collect();
    assert_eq!(read, sorted);
    assert_eq!(last.as_deref(), Some(sorted[3].as_str()));
    assert!(empty.is_empty() && end.is_none());
}

#[tokio::test]
async fn steps_are_read_by_the_asset_given_not_the_files_claim() {
    // GIVEN a file of asset a and none of asset b
    let meta = with_files("a", &["k1"]).await;
    // WHEN the steps of a's file are read under a, and under b
    let under_a = meta.steps_of("a", &[file("a", "k1")]).await.unwrap();
    let under_b = meta.steps_of("b", &[file("a", "k1")]).await.unwrap();
    // THEN it is found only under a
    assert_eq!(under_a.keys().collect::<Vec<_>>(), vec!["k1"]);
    assert!(under_b.is_empty());
}

#[tokio::test]
async fn a_task_records_one_upload_per_file_and_replaces_only_its_own() {
    // GIVEN a file with an upload recorded by a task
    let meta = with_files("a", &["k1"]).await;
    let (t, f) = (TaskId::derive("a", &ARCHIVE, "r"), file("a", "k1"));
    assert!(meta.record_upload(&t, &f, "up-1", None).await.unwrap());
    // WHEN a racing delivery records its own, and a retry replaces another upload than the recorded one
    let racing = meta.record_upload(&t, &f, "up-2", None).await.unwrap();
    let wrong = meta.record_upload(&t, &f, "up-3", Some("up-2")).await.unwrap();
    // THEN both are refused; replacing the recorded one is not
    assert!(!racing && !wrong);
    assert!(meta.record_upload(&t, &f, "up-3", Some("up-1")).await.unwrap());
    let steps = meta.steps_of("a", &[f]).await.unwrap();
    assert_eq!(steps["k1"].upload, Some((t.to_string(), "up-3".to_string())));
}

#[tokio::test]
async fn no_upload_is_recorded_once_the_task_moved_the_file_and_a_final_step_clears_it() {
    // GIVEN a file with an upload whose task then finished it
    let meta = with_files("a", &["k1"]).await;
    let (t, f) = (TaskId::derive("a", &ARCHIVE, "r"), file("a", "k1"));
    meta.record_upload(&t, &f, "up-1", None).await.unwrap();
    meta.commit(&t, &[archived(&f)]).await.unwrap();
    assert_eq!(meta.steps_of("a", std::slice::from_ref(&f)).await.unwrap()["k1"].upload, None);
    // WHEN a late delivery records another upload
    let late = meta.record_upload(&t, &f, "up-2", None).await.unwrap();
    // THEN it is refused
    assert!(!late);
}

#[tokio::test]
async fn a_restore_window_ends_once_and_takes_a_restored_asset_back_to_archived() {
    // GIVEN a restored file of a restored asset
    let meta = with_files("a", &["k1"]).await;
    let f = file("a", "k1");
    let t = TaskId::derive("a", &PURGE, "r");
    let restored = Transition { new_state: Some(FileState::Restored), restore_expiry: Some("2027-01-02T00:00:00Z".into()), ..step(&f, FileStep::Queued, FileStep::Done) };
    meta.commit(&t, &[restored]).await.unwrap();
    let holder = task("a", ARCHIVE, "x");
    meta.create_task(&holder).await.unwrap();
    meta.claim_task(&holder.task_id);
    let outcome = crate::domain::Outcome { asset_state: "RESTORED".into(), ..crate::domain::Outcome::refused(&holder.task_id, String::new(), "", StorageClass::Glacier.into()) };
    assert!(meta.release_asset("a", &holder.task_id, &outcome).unwrap());
    // WHEN its window ends, twice
    let first = meta.restore_expired(&f).await.unwrap();
    let second = meta.restore_expired(&f).await.unwrap();
    // THEN the first archives the file (its window gone) and the asset; the second finds nothing
    assert!(first && !second);
    let located = meta.find_by_object("media", "k1").await.unwrap().unwrap();
    assert_eq!((located.file.state, located.restore_expiry), (FileState::Archived, None));
    assert_eq!(meta.get_asset("a").await.unwrap().unwrap().state, AssetState::Archived);
}

#[tokio::test]
async fn a_batch_put_replaces_a_files_task_and_step() {
    // GIVEN a file a task moved
    let meta = with_files("a", &["k1"]).await;
    meta.commit(&TaskId::derive("a", &ARCHIVE, "r"), &[archived(&file("a", "k1"))]).await.unwrap();
    // WHEN the file is put again (a registration page written again)
    meta.put_files(&[file("a", "k1")]).await.unwrap();
    // THEN it is as put: no task, no step, its old class
    let located = meta.find_by_object("media", "k1").await.unwrap().unwrap();
    assert_eq!((located.task_id, located.step, located.file.storage_class), (None, None, StorageClass::Standard));
    assert_eq!(meta.find_by_object("other-bucket", "k1").await.unwrap(), None);
}
