//! The reconciler's store: open tasks, the sweep's fences, counters, S3's state, repairs, and
//! kept events.

use super::*;
use crate::domain::repair::{Repair, RepairKind, sweep_cursor};
use crate::domain::{Outcome, TaskStatus};
use crate::ports::{EventStore, RepairStore};

#[tokio::test]
async fn open_tasks_are_a_shards_tasks_created_before_until_recorded() {
    // GIVEN two open tasks of one shard, created at two times, and one ended
    let meta = MemoryMeta::new();
    let mut tasks = Vec::new();
    for (id, at) in [("a", "2027-01-02T00:00:00Z"), ("b", "2027-01-01T00:00:00Z"), ("c", "2027-01-01T00:00:00Z")] {
        meta.create_asset(&asset(id)).await.unwrap();
        let t = Task { created_at: at.into(), ..task(id, ARCHIVE, "r") };
        meta.create_task(&t).await.unwrap();
        tasks.push(t);
    }
    assert!(meta.record_failure(&tasks[2].task_id, "stopped"));
    // WHEN each open task's shard is read for tasks created before a time after both
    let mut found = Vec::new();
    for t in &tasks {
        let shard = crate::domain::policy::due_shard(t.task_id.as_str());
        let (page, _) = meta.open_tasks(shard, "2027-01-03T00:00:00Z", None).await.unwrap();
        found.extend(page.into_iter().map(|p| p.asset_id));
    }
    found.sort();
    found.dedup();
    // THEN the open ones are found, not the recorded one; nothing is before their creation
    assert_eq!(found, vec!["a".to_string(), "b".to_string()]);
    let shard = crate::domain::policy::due_shard(tasks[1].task_id.as_str());
    assert!(meta.open_tasks(shard, "2027-01-01T00:00:00Z", None).await.unwrap().0.is_empty());
}

#[tokio::test]
async fn a_sweep_starts_once_from_the_record_as_read() {
    // GIVEN no sweep, then one started
    let meta = MemoryMeta::new();
    assert!(meta.start_sweep(None, "2027-01-01T00:00:00Z").await.unwrap());
    let read = meta.sweep().await.unwrap().unwrap();
    // WHEN a second run starts one from no record, and another takes over from the record as read
    let racing = meta.start_sweep(None, "2027-01-01T01:00:00Z").await.unwrap();
    let takeover = meta.start_sweep(Some(&read), "2027-01-01T02:00:00Z").await.unwrap();
    // THEN only the take-over applies, with its first page's cursor and no chains
    assert!(!racing && takeover);
    let now = meta.sweep().await.unwrap().unwrap();
    assert_eq!((now.at.as_str(), now.cursor, now.chains), ("2027-01-01T02:00:00Z", Some(sweep_cursor("2027-01-01T02:00:00Z", None)), 0));
    assert!(!meta.start_sweep(Some(&read), "2027-01-01T03:00:00Z").await.unwrap(), "the record as read is stale now");
}

#[tokio::test]
async fn a_sweep_page_moves_its_cursor_once_and_only_in_its_own_sweep() {
    // GIVEN a sweep at its first page
    let meta = MemoryMeta::new();
    let at = "2027-01-01T00:00:00Z";
    meta.start_sweep(None, at).await.unwrap();
    let first = sweep_cursor(at, None);
    // WHEN the page is done twice (a redelivery), and by an older sweep's message
    let done = meta.sweep_page(at, &first, Some(&sweep_cursor(at, Some("m"))), 2).await.unwrap();
    let again = meta.sweep_page(at, &first, Some(&sweep_cursor(at, Some("m"))), 2).await.unwrap();
    let older = meta.sweep_page("2026-12-31T00:00:00Z", &sweep_cursor(at, Some("m")), None, 1).await.unwrap();
    // THEN only the first moves it, counting its chains once
    assert_eq!((done, again, older), (true, false, false));
    let sweep = meta.sweep().await.unwrap().unwrap();
    assert_eq!((sweep.cursor, sweep.chains), (Some(sweep_cursor(at, Some("m"))), 2));
}

#[tokio::test]
async fn an_ended_chain_is_counted_out_of_its_own_sweep_only() {
    // GIVEN a sweep whose last page handed one asset to its own messages
    let meta = MemoryMeta::new();
    let at = "2027-01-01T00:00:00Z";
    meta.start_sweep(None, at).await.unwrap();
    meta.sweep_page(at, &sweep_cursor(at, None), None, 1).await.unwrap();
    // WHEN the chain moves, ends, and a message of another sweep ends one
    assert!(meta.sweep_moved(at, false).await.unwrap());
    assert!(meta.sweep_moved(at, true).await.unwrap());
    let stale = meta.sweep_moved("2026-12-31T00:00:00Z", true).await.unwrap();
    // THEN the sweep has ended, and the stale message changed nothing
    assert!(!stale);
    assert!(meta.sweep().await.unwrap().unwrap().ended());
}

#[tokio::test]
async fn an_assets_sweep_step_is_fenced_on_its_cursor() {
    // GIVEN an asset handed to its own sweep messages
    let meta = with_files("a", &[]).await;
    meta.start_asset_sweep("a", "s|k1").await.unwrap();
    // WHEN its window is done, twice, then the last one
    let moved = meta.asset_sweep_step("a", "s|k1", Some("s|k2")).await.unwrap();
    let again = meta.asset_sweep_step("a", "s|k1", Some("s|k2")).await.unwrap();
    let last = meta.asset_sweep_step("a", "s|k2", None).await.unwrap();
    // THEN the redelivery fails the fence and the last step removes the cursor
    assert_eq!((moved, again, last), (true, false, true));
    assert_eq!(meta.get_asset("a").await.unwrap().unwrap().sweep_cursor, None);
}

#[tokio::test]
async fn counters_are_set_only_while_they_are_still_the_ones_read() {
    // GIVEN a running task whose counters the reconciler read, then a commit moved them
    let meta = with_files("a", &["k1", "k2"]).await;
    let t = task("a", ARCHIVE, "r");
    running(&meta, &t).await;
    planned(&meta, &t, 2).await;
    let read = counters(&meta, &t).await;
    meta.commit(&t.task_id, &[archived(&file("a", "k1"))]).await.unwrap();
    let recount = TaskCounters { planned: 2, outstanding: 0, succeeded: 2, failed: 0, skipped: 0, kept: 0 };
    // WHEN it sets them from what it read, then from what they are
    let stale = meta.set_counters(&t.task_id, &read, &recount).await.unwrap();
    let current = counters(&meta, &t).await;
    let fresh = meta.set_counters(&t.task_id, &current, &recount).await.unwrap();
    // THEN only the second applies
    assert!(!stale && fresh);
    assert_eq!(counters(&meta, &t).await, recount);
}

#[tokio::test]
async fn s3s_state_is_not_taken_for_a_file_a_task_acts_on() {
    // GIVEN a file a running restore requested
    let meta = with_files("a", &["k1"]).await;
    let f = file("a", "k1");
    meta.commit(&TaskId::derive("a", &PURGE, "r"), &[step(&f, FileStep::Queued, FileStep::Requested)]).await.unwrap();
    // WHEN the reconciler takes S3's new version for it
    let taken = meta.take_s3_state(&f, &FileRecord { version_id: "v2".into(), ..f.clone() }).await.unwrap();
    // THEN it is refused: the task's steps are the truth
    assert!(!taken);
    assert_eq!(meta.find_by_object("media", "k1").await.unwrap().unwrap().file.version_id, "v1");
}

#[tokio::test]
async fn s3s_state_is_taken_for_an_idle_file_and_moves_the_assets_bytes() {
    // GIVEN a registered file of 1,000 bytes
    let meta = with_files("a", &[]).await;
    let f = file("a", "k1");
    meta.register_file(&f).await.unwrap();
    // WHEN S3 holds a replaced object of 4,000 bytes in another class
    let now = FileRecord { version_id: "v2".into(), size: 4000, storage_class: StorageClass::StandardIa, state: FileState::Archived, ..f.clone() };
    assert!(meta.take_s3_state(&f, &now).await.unwrap());
    // THEN the registry holds S3's version and the asset's bytes moved by the difference
    assert_eq!(meta.find_by_object("media", "k1").await.unwrap().unwrap().file, now);
    assert_eq!(meta.get_asset("a").await.unwrap().unwrap().total_bytes, 4000);
}

#[tokio::test]
async fn a_shards_files_between_two_keys_come_in_order_with_whether_more_follow() {
    // GIVEN five files of one shard
    let keys: Vec<String> = (0..).map(|i| format!("k{i:02}")).filter(|k| shard_of(k, SHARDS) == 1).take(5).collect();
    let meta = with_files("a", &keys.iter().map(String::as_str).collect::<Vec<_>>()).await;
    // WHEN the keys after the first and up to the fourth are read two at a time
    let (files, more) = meta.shard_files(&asset("a"), 1, Some(&keys[0]), Some(&keys[3]), 2).await.unwrap();
    let (rest, after) = meta.shard_files(&asset("a"), 1, Some(&keys[2]), Some(&keys[3]), 2).await.unwrap();
    // THEN the second and third come with more to follow; then the fourth alone
    assert_eq!((files.iter().map(|f| f.file.key.as_str()).collect::<Vec<_>>(), more), (vec![keys[1].as_str(), keys[2].as_str()], true));
    assert_eq!((rest.len(), after), (1, false));
}

#[tokio::test]
async fn a_recount_counts_each_file_by_its_step_for_the_task() {
    // GIVEN a task that did one file, requested one, and has not reached a third
    let meta = with_files("a", &["k1", "k2", "k3"]).await;
    let t = task("a", RESTORE, "r");
    meta.commit(&t.task_id, &[step(&file("a", "k1"), FileStep::Queued, FileStep::Done), step(&file("a", "k2"), FileStep::Queued, FileStep::Requested)]).await.unwrap();
    // WHEN it is recounted, keeping at most one file of each kind
    let recount = meta.recount(&t, &asset("a"), 1).await.unwrap();
    // THEN the files are counted by step, the waiting ones listed
    assert_eq!(recount.counters, TaskCounters { planned: 3, outstanding: 2, succeeded: 1, failed: 0, skipped: 0, kept: 0 });
    assert_eq!((recount.queued, recount.requested), (vec![file("a", "k3")], vec![file("a", "k2")]));
}

#[tokio::test]
async fn a_recount_of_an_archive_counts_the_skips_it_left_in_another_class() {
    // GIVEN an archive that skipped a DEEP_ARCHIVE file and one already in its target
    let meta = with_files("a", &["k1", "k2"]).await;
    let t = task("a", ARCHIVE, "r");
    let in_class = |k: &str, class: StorageClass| FileRecord { storage_class: class, ..file("a", k) };
    meta.put_files(&[in_class("k1", StorageClass::DeepArchive), in_class("k2", StorageClass::Glacier)]).await.unwrap();
    let skips = [step(&in_class("k1", StorageClass::DeepArchive), FileStep::Queued, FileStep::Skipped), step(&in_class("k2", StorageClass::Glacier), FileStep::Queued, FileStep::Skipped)];
    meta.commit(&t.task_id, &skips).await.unwrap();
    // WHEN it is recounted
    let recount = meta.recount(&t, &asset("a"), 1).await.unwrap();
    // THEN both are skipped, and only the one outside the target is kept
    assert_eq!(recount.counters, TaskCounters { planned: 2, outstanding: 0, succeeded: 0, failed: 0, skipped: 2, kept: 1 });
}

#[tokio::test]
async fn an_assets_repairs_come_oldest_first() {
    // GIVEN repairs of an asset recorded out of order, and one of another asset
    let meta = MemoryMeta::new();
    let repair = |asset: &str, at: &str| Repair { asset_id: asset.into(), kind: RepairKind::MarkedMissing, subject: "k".into(), detail: String::new(), at: at.into() };
    for at in ["2027-01-02T00:00:00Z", "2027-01-01T00:00:00Z"] {
        meta.record_repair(&repair("a", at)).await.unwrap();
    }
    meta.record_repair(&repair("b", "2027-01-03T00:00:00Z")).await.unwrap();
    // WHEN the asset's repairs are read
    let repairs = meta.repairs("a").await.unwrap();
    // THEN they are its own, oldest first
    assert_eq!(repairs, vec![repair("a", "2027-01-01T00:00:00Z"), repair("a", "2027-01-02T00:00:00Z")]);
}

#[tokio::test]
async fn a_kept_event_is_unpublished_until_it_is_published_once() {
    // GIVEN an ended task whose event SNS did not take
    let meta = with_files("a", &[]).await;
    let t = task("a", ARCHIVE, "r");
    meta.create_task(&t).await.unwrap();
    meta.claim_task(&t.task_id);
    assert!(meta.record_outcome(&t.task_id, &Outcome::refused(&t.task_id, "gone".into(), "ACTIVE", StorageClass::Standard.into())));
    assert!(meta.unpublished_events(10).await.unwrap().is_empty());
    meta.keep_event(&t.task_id, "{\"event\":1}", "SNS.Throttled: slow down");
    // WHEN the reconciler reads it and publishes it, twice
    let kept = meta.unpublished_events(10).await.unwrap();
    let first = meta.event_published(&t.task_id, "{\"event\":1}").await.unwrap();
    let second = meta.event_published(&t.task_id, "{\"event\":1}").await.unwrap();
    // THEN it was kept, is forgotten once, and is not read again
    assert_eq!(kept, vec![(t.task_id.clone(), "{\"event\":1}".to_string())]);
    assert!(first && !second);
    assert!(meta.unpublished_events(10).await.unwrap().is_empty());
    assert_eq!(meta.get_task(&t.task_id).await.unwrap().unwrap().status, TaskStatus::Failed);
}

#[tokio::test]
async fn a_kept_event_is_forgotten_only_by_the_event_kept() {
    // GIVEN a task whose event was kept twice (the second replacing the first)
    let meta = with_files("a", &[]).await;
    let t = task("a", ARCHIVE, "r");
    meta.create_task(&t).await.unwrap();
    meta.keep_event(&t.task_id, "first", "error");
    meta.keep_event(&t.task_id, "second", "error");
    // WHEN the first is reported published
    let stale = meta.event_published(&t.task_id, "first").await.unwrap();
    // THEN nothing is forgotten: the second still waits
    assert!(!stale);
    assert_eq!(meta.unpublished_events(10).await.unwrap(), vec![(t.task_id.clone(), "second".to_string())]);
}
