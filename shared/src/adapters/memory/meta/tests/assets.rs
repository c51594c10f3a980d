//! Assets: registration, backfill pages, the class rule, the due index and accesses.

use super::*;
use crate::domain::asset::MIXED;
use crate::domain::policy::due_shard;
use crate::domain::pricing::Sizes;
use crate::domain::AssetChange;
use crate::ports::{AccessStore, DueGuard, DueIndex, Scope};

/// `n` asset ids in the due shard `shard`.
fn ids_in_shard(shard: u32, n: usize) -> Vec<String> {
    (0..).map(|i| format!("a-{i}")).filter(|id| due_shard(id) == shard).take(n).collect()
}

fn sizes(count: u64, bytes: u64) -> Sizes {
    Sizes { count, bytes, small_count: count, small_bytes: bytes }
}

#[tokio::test]
async fn a_registering_asset_is_hidden_until_finished_and_a_finished_one_is_not_begun_again() {
    // GIVEN an asset whose registration began
    let meta = MemoryMeta::new();
    assert!(meta.begin_registration(&asset("a")).await.unwrap());
    assert_eq!(meta.get_asset("a").await.unwrap(), None);
    assert!(meta.get_registering("a").await.unwrap().is_some());
    assert!(meta.begin_registration(&asset("a")).await.unwrap(), "a stopped registration may be resumed");
    // WHEN it is finished with its files' sizes and class
    let listed = Asset { file_count: 3, total_bytes: 300, ..asset("a") };
    meta.finish_registration(&listed, StorageClass::Standard.into()).await.unwrap();
    // THEN it is visible with them, and may not be begun again
    let a = meta.get_asset("a").await.unwrap().unwrap();
    assert_eq!((a.file_count, a.total_bytes, a.storage_class.as_str()), (3, 300, "STANDARD"));
    assert!(!meta.begin_registration(&asset("a")).await.unwrap());
    assert!(meta.finish_registration(&listed, StorageClass::Standard.into()).await.is_err(), "finishing twice is DynamoDB's failed condition");
}

#[tokio::test]
async fn a_backfill_page_is_counted_once_behind_its_cursor() {
    // GIVEN a registering asset whose first page was counted
    let meta = MemoryMeta::new();
    meta.begin_registration(&asset("a")).await.unwrap();
    assert!(meta.backfill_step("a", None, Some("k10"), &sizes(10, 100), Some(StorageClass::Standard.into())).await.unwrap());
    // WHEN a second delivery of the first page comes
    let again = meta.backfill_step("a", None, Some("k10"), &sizes(10, 100), Some(StorageClass::Standard.into())).await.unwrap();
    // THEN the fence fails and the page counts once
    assert!(!again);
    let a = meta.get_registering("a").await.unwrap().unwrap();
    assert_eq!((a.file_count, a.total_bytes, a.small_file_count, a.backfill_cursor.as_deref()), (10, 100, 10, Some("k10")));
}

#[tokio::test]
async fn the_last_backfill_page_releases_the_asset() {
    // GIVEN a registering asset one page in
    let meta = MemoryMeta::new();
    meta.begin_registration(&asset("a")).await.unwrap();
    meta.backfill_step("a", None, Some("k10"), &sizes(10, 100), Some(StorageClass::Standard.into())).await.unwrap();
    // WHEN the last page is counted
    assert!(meta.backfill_step("a", Some("k10"), None, &sizes(5, 50), Some(StorageClass::Standard.into())).await.unwrap());
    // THEN the asset is registered, its cursor gone, its totals both pages'
    assert_eq!(meta.get_registering("a").await.unwrap(), None);
    let a = meta.get_asset("a").await.unwrap().unwrap();
    assert_eq!((a.file_count, a.total_bytes, a.backfill_cursor, a.storage_class.as_str()), (15, 150, None, "STANDARD"));
}

#[tokio::test]
async fn a_backfill_page_of_another_class_makes_the_asset_mixed() {
    // GIVEN a registering asset whose first page was STANDARD
    let meta = MemoryMeta::new();
    meta.begin_registration(&asset("a")).await.unwrap();
    meta.backfill_step("a", None, Some("k1"), &sizes(1, 1), Some(StorageClass::Standard.into())).await.unwrap();
    // WHEN a page in GLACIER follows, then a STANDARD one again
    meta.backfill_step("a", Some("k1"), Some("k2"), &sizes(1, 1), Some(StorageClass::Glacier.into())).await.unwrap();
    meta.backfill_step("a", Some("k2"), None, &sizes(1, 1), Some(StorageClass::Standard.into())).await.unwrap();
    // THEN the asset is MIXED, and stays so
    assert_eq!(meta.get_asset("a").await.unwrap().unwrap().storage_class, MIXED);
}

#[tokio::test]
async fn create_asset_refuses_an_id_that_exists() {
    // GIVEN an asset
    let meta = MemoryMeta::new();
    assert!(meta.create_asset(&asset("a")).await.unwrap());
    // WHEN it is created again, of another title
    let again = meta.create_asset(&Asset { title_id: "other".into(), ..asset("a") }).await.unwrap();
    // THEN it is refused and the first kept
    assert!(!again);
    assert_eq!(meta.get_asset("a").await.unwrap().unwrap().title_id, "tln");
}

#[tokio::test]
async fn a_change_applies_only_to_a_registered_asset() {
    // GIVEN a registered and a registering asset
    let meta = with_files("a", &[]).await;
    meta.begin_registration(&asset("reg")).await.unwrap();
    let change = AssetChange { phase: Some("temp".into()), tags: None };
    // WHEN both are changed
    let changed = meta.change_asset("a", &change).await.unwrap();
    let registering = meta.change_asset("reg", &change).await.unwrap();
    // THEN only the registered one changes
    assert_eq!(changed.map(|a| a.phase).as_deref(), Some("temp"));
    assert_eq!(registering, None);
    assert_eq!(meta.get_registering("reg").await.unwrap().unwrap().phase, "final");
}

#[tokio::test]
async fn due_page_returns_only_the_due_assets_of_the_shard() {
    // GIVEN two assets of shard 3 (one due, one due later), one of another shard due, one not in the index
    let meta = MemoryMeta::new();
    let ids = ids_in_shard(3, 3);
    let other = ids_in_shard(4, 1).remove(0);
    for id in ids.iter().chain([&other]) {
        meta.create_asset(&asset(id)).await.unwrap();
    }
    meta.set_due(&ids[0], Some(date("2027-01-01")), DueGuard::Idle).await.unwrap();
    meta.set_due(&ids[1], Some(date("2027-06-01")), DueGuard::Idle).await.unwrap();
    meta.set_due(&other, Some(date("2027-01-01")), DueGuard::Idle).await.unwrap();
    // WHEN shard 3 is read for the assets due by March
    let (due, next) = meta.due_page(3, date("2027-03-01"), None, 10).await.unwrap();
    // THEN only the first comes, and the page is the last
    assert_eq!(due.iter().map(|a| a.asset_id.as_str()).collect::<Vec<_>>(), vec![ids[0].as_str()]);
    assert_eq!(next, None);
}

#[tokio::test]
async fn due_page_goes_in_due_day_order_and_continues_from_its_cursor() {
    // GIVEN three assets of one shard, due on three days (ids in another order)
    let meta = MemoryMeta::new();
    let ids = ids_in_shard(5, 3);
    for (id, day) in ids.iter().zip(["2027-03-01", "2027-01-01", "2027-02-01"]) {
        meta.create_asset(&asset(id)).await.unwrap();
        meta.set_due(id, Some(date(day)), DueGuard::Idle).await.unwrap();
    }
    // WHEN it is read two at a time
    let (first, cursor) = meta.due_page(5, date("2027-12-31"), None, 2).await.unwrap();
    let (second, end) = meta.due_page(5, date("2027-12-31"), cursor.as_deref(), 2).await.unwrap();
    // THEN the assets come by due day across both pages
    let order: Vec<String> = first.iter().chain(&second).map(|a| a.asset_id.clone()).collect();
    assert_eq!(order, vec![ids[1].clone(), ids[2].clone(), ids[0].clone()]);
    assert!(cursor.is_some_and(|c| c.starts_with("2027-02-01|")));
    assert_eq!(end, None);
}

#[tokio::test]
async fn a_due_day_is_written_while_idle_or_taken_out_while_busy_only() {
    // GIVEN an asset a task holds
    let meta = with_files("a", &[]).await;
    let t = task("a", ARCHIVE, "r1");
    meta.create_task(&t).await.unwrap();
    // WHEN a reschedule (idle guard) and the evaluator (busy guard) write its due day
    let idle = meta.set_due("a", Some(date("2027-01-01")), DueGuard::Idle).await.unwrap();
    let busy = meta.set_due("a", None, DueGuard::Busy).await.unwrap();
    // THEN only the busy write applies; once released, the reverse
    assert!(!idle && busy);
    assert!(meta.claim_task(&t.task_id) && meta.release_after_failure("a", &t.task_id));
    assert!(!meta.set_due("a", None, DueGuard::Busy).await.unwrap());
    assert!(meta.set_due("a", Some(date("2027-01-01")), DueGuard::Idle).await.unwrap());
}

#[tokio::test]
async fn a_titles_assets_page_in_id_order_without_registering_ones() {
    // GIVEN three assets of the title (one registering) and one of another title
    let meta = MemoryMeta::new();
    for id in ["c", "a", "b"] {
        meta.create_asset(&asset(id)).await.unwrap();
    }
    meta.begin_registration(&asset("ab")).await.unwrap();
    meta.create_asset(&Asset { title_id: "other".into(), ..asset("aa") }).await.unwrap();
    let scope = Scope::Title { title_id: "tln".into() };
    // WHEN the title's assets are read two at a time
    let (first, cursor) = meta.assets_page(&scope, None, 2).await.unwrap();
    let (second, _) = meta.assets_page(&scope, cursor.as_deref(), 2).await.unwrap();
    // THEN the registering one counts towards the page but is not given
    let ids = |v: &[Asset]| v.iter().map(|a| a.asset_id.clone()).collect::<Vec<_>>();
    assert_eq!((ids(&first), cursor.as_deref()), (vec!["a".to_string()], Some("ab")));
    assert_eq!(ids(&second), vec!["b".to_string(), "c".to_string()]);
}

#[tokio::test]
async fn the_last_access_moves_only_forward_and_accesses_add_up_by_day() {
    // GIVEN an asset accessed on a day
    let meta = with_files("a", &[]).await;
    let a = asset("a");
    meta.record_access(&a, date("2027-02-01"), 2).await.unwrap();
    // WHEN an earlier day and the same day are recorded
    let earlier = meta.record_access(&a, date("2027-01-01"), 1).await.unwrap().unwrap();
    meta.record_access(&a, date("2027-02-01"), 3).await.unwrap();
    // THEN the last access stays, and each day holds its sum
    assert_eq!(earlier.last_access_on, Some(date("2027-02-01")));
    assert_eq!(meta.accesses("a", date("2027-01-15")).await.unwrap(), vec![(date("2027-02-01"), 5)]);
    assert_eq!(meta.all_accesses().await.unwrap().len(), 2);
}
