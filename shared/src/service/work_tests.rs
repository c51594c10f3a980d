//! Unit tests of the worker (`run_batch`) on the in-memory adapters.

use crate::adapters::memory::{Fault, Op, Put};
use crate::domain::hold::{HoldBody, HoldSubject};
use crate::domain::{Action, FileState, FileStep, LocatedFile, RestoreTier, StorageClass, TaskId, TaskStatus};
use crate::error::ErrorKind;
use crate::messages::WorkBatch;
use crate::ports::TaskStore;
use crate::service::testing::{self, ADMIN, BUCKET, MemoryCore, new_asset, now};
use std::time::Instant;

const ARCHIVE: Action = Action::Archive { storage_class: StorageClass::Glacier };
const RESTORE: Action = Action::Restore { days: 3, tier: RestoreTier::Bulk };

/// The tests' core with one shard per asset, so that the planner sends a few files in one
/// batch (batches are per shard).
fn one_shard() -> MemoryCore {
    let mut config = testing::config();
    config.file_shards = 1;
    testing::core_with(config)
}

/// `action` requested on the asset, claimed and planned: its token and its work batches.
async fn planned(core: &MemoryCore, asset_id: &str, action: Action) -> (TaskId, String, Vec<WorkBatch>) {
    let task = core.request(asset_id, action, "r1").await;
    let token = core.plan(&task.task_id).await;
    (task.task_id, token, core.queues.take_work())
}

/// The registered file of a key.
async fn file(core: &MemoryCore, asset_id: &str, key: &str) -> LocatedFile {
    core.located_of(asset_id).await.into_iter().find(|l| l.file.key == key).expect("the file is registered")
}

/// Each version of a key, newest first: (version id, class).
fn versions(core: &MemoryCore, key: &str) -> Vec<(String, StorageClass)> {
    core.objects.versions(BUCKET, key).into_iter().map(|v| (v.version_id, v.storage_class)).collect()
}

fn keys(batch: &WorkBatch) -> Vec<String> {
    batch.files.iter().map(|f| f.key.clone()).collect()
}

#[tokio::test]
async fn an_archive_batch_copies_each_file_to_the_class_and_records_the_copy() {
    // GIVEN an archive to GLACIER planned for an asset of five STANDARD files
    let core = one_shard();
    core.asset_of("cam-1", 5).await;
    let (task_id, _, work) = planned(&core, "cam-1", ARCHIVE).await;
    let batch = work[0].clone();
    // WHEN the worker runs one batch
    let report = core.run_batch(batch.clone(), now(), None).await.unwrap();
    // THEN each of its files is a new GLACIER version in S3, and the registry names that version
    assert_eq!((report.done, report.recorded, report.stale, report.failed), (batch.files.len(), batch.files.len(), 0, 0));
    for key in keys(&batch) {
        let l = file(&core, "cam-1", &key).await;
        let current = core.objects.versions(BUCKET, &key).remove(0);
        assert_eq!(current.storage_class, StorageClass::Glacier, "{key}");
        assert_eq!((l.step, l.task_id.as_deref()), (Some(FileStep::Done), Some(task_id.as_str())), "{key}");
        assert_eq!((l.file.storage_class, l.file.state, &l.file.version_id, &l.file.etag), (StorageClass::Glacier, FileState::Archived, &current.version_id, &current.etag));
    }
    // AND the other files are untouched, and the task counts what moved
    for l in core.located_of("cam-1").await.into_iter().filter(|l| !batch.files.iter().any(|f| f.key == l.file.key)) {
        assert_eq!((l.step, l.file.storage_class), (None, StorageClass::Standard), "{}", l.file.key);
    }
    let c = core.task(&task_id).await.counters;
    assert_eq!((c.succeeded, c.outstanding), (batch.files.len() as i64, 5 - batch.files.len() as i64));
}

#[tokio::test]
async fn an_archive_in_a_versioned_bucket_deletes_the_version_its_copy_superseded() {
    // GIVEN an archive planned in the versioned media bucket
    let core = one_shard();
    core.asset_of("cam-1", 3).await;
    let (_, _, work) = planned(&core, "cam-1", ARCHIVE).await;
    let originals: Vec<String> = core.located_of("cam-1").await.into_iter().map(|l| l.file.version_id).collect();
    // WHEN the worker runs its batch
    let report = core.run_batch(work[0].clone(), now(), None).await.unwrap();
    // THEN each key keeps only its copy: the STANDARD original no longer bills
    assert_eq!(report.superseded_deleted, 3);
    for l in core.located_of("cam-1").await {
        assert_eq!(versions(&core, &l.file.key), [(l.file.version_id.clone(), StorageClass::Glacier)], "{}", l.file.key);
        assert!(!originals.contains(&l.file.version_id));
    }
}

#[tokio::test]
async fn the_batch_that_moves_the_last_file_signals_the_task_complete() {
    // GIVEN an archive planned in two batches
    let core = one_shard();
    core.asset_of("cam-1", 4).await;
    let (_, token, work) = planned(&core, "cam-1", ARCHIVE).await;
    assert_eq!(work.len(), 2);
    // WHEN the first batch runs, THEN the execution waits on
    core.run_batch(work[0].clone(), now(), None).await.unwrap();
    assert_eq!(core.orchestrator.outcome(&token), None);
    // WHEN the last runs, THEN the execution gets the outcome
    core.run_batch(work[1].clone(), now(), None).await.unwrap();
    let outcome = core.orchestrator.outcome(&token).expect("signalled");
    assert_eq!((outcome.status, outcome.succeeded, outcome.asset_class.as_str()), (TaskStatus::Succeeded, 4, "GLACIER"));
}

#[tokio::test]
async fn a_restore_batch_asks_s3_for_each_restore_and_marks_the_files_requested() {
    // GIVEN a restore planned for an asset of three GLACIER files
    let core = one_shard();
    core.asset_in("cam-1", &[StorageClass::Glacier; 3]).await;
    let (task_id, token, work) = planned(&core, "cam-1", RESTORE).await;
    // WHEN the worker runs its batch
    let report = core.run_batch(work[0].clone(), now(), None).await.unwrap();
    // THEN S3 was asked to restore each file, and each waits REQUESTED and RESTORING
    assert_eq!((report.requested, report.done), (3, 0));
    assert_eq!(core.objects.requests(Op::Restore), 3);
    for l in core.located_of("cam-1").await {
        assert_eq!((l.step, l.file.state, l.file.storage_class), (Some(FileStep::Requested), FileState::Restoring, StorageClass::Glacier), "{}", l.file.key);
    }
    assert_eq!(core.objects.complete_restores(chrono::Utc::now()), 3, "S3 holds three restores in progress");
    // AND the task waits for S3: nothing counted as finished, no completion
    let c = core.task(&task_id).await.counters;
    assert_eq!((c.succeeded, c.outstanding), (0, 3));
    assert_eq!(core.orchestrator.outcome(&token), None);
}

#[tokio::test]
async fn a_purge_batch_deletes_every_version_and_delete_marker_of_its_files() {
    // GIVEN files with older versions and a delete marker under their current version, and a
    // purge planned
    let core = one_shard();
    for i in 0..3 {
        let key = format!("cam-1/f{i:03}.exr");
        core.objects.put(BUCKET, &key, Put::body(b"old".to_vec()));
        core.objects.delete(BUCKET, &key);
        core.objects.put(BUCKET, &key, Put::body(b"new".to_vec()));
        assert_eq!(core.objects.versions(BUCKET, &key).len(), 3);
    }
    core.register_asset(new_asset("cam-1"), now()).await.unwrap();
    let (_, _, work) = planned(&core, "cam-1", Action::Purge).await;
    // WHEN the worker runs its batch
    let report = core.run_batch(work[0].clone(), now(), None).await.unwrap();
    // THEN nothing of the keys is left in S3, and the files are PURGED
    assert_eq!(report.done, 3);
    for l in core.located_of("cam-1").await {
        assert!(core.objects.versions(BUCKET, &l.file.key).is_empty(), "{}", l.file.key);
        assert_eq!((l.step, l.file.state), (Some(FileStep::Done), FileState::Purged));
    }
}

#[tokio::test]
async fn a_purge_batch_of_an_asset_put_under_hold_fails_its_files_and_deletes_nothing() {
    // GIVEN a purge planned, and then a legal hold on the asset
    let core = one_shard();
    core.asset_of("cam-1", 3).await;
    let (task_id, token, work) = planned(&core, "cam-1", Action::Purge).await;
    core.place_hold(HoldSubject::asset("cam-1").unwrap(), HoldBody { reason: "case 42".into() }, ADMIN, now()).await.unwrap();
    // WHEN the worker runs the batch
    let report = core.run_batch(work[0].clone(), now(), None).await.unwrap();
    // THEN no version is deleted, each file fails with the hold as its reason, and the task ends FAILED
    assert_eq!((report.failed, report.done), (3, 0));
    assert_eq!(core.objects.requests(Op::DeleteVersions), 0);
    for l in core.located_of("cam-1").await {
        assert_eq!(core.objects.versions(BUCKET, &l.file.key).len(), 1, "{}", l.file.key);
        assert_eq!((l.step, l.file.state), (Some(FileStep::Failed), FileState::Active));
    }
    let task = core.task(&task_id).await;
    let failed = core.meta.failed_files(&task, 10).await.unwrap();
    assert_eq!(failed.len(), 3);
    assert!(failed.iter().all(|(_, why)| why.starts_with("LegalHold") && why.contains("case 42")), "{failed:?}");
    assert_eq!(core.orchestrator.outcome(&token).map(|o| o.status), Some(TaskStatus::Failed));
}

#[tokio::test]
async fn a_transient_s3_failure_fails_the_batch_as_retryable_and_counts_nothing_for_its_file() {
    // GIVEN an archive planned, and S3 throttling the copy of one file of the batch
    let core = one_shard();
    core.asset_of("cam-1", 3).await;
    let (task_id, _, work) = planned(&core, "cam-1", ARCHIVE).await;
    let throttled = work[0].files[1].key.clone();
    core.objects.fail_next(Op::Copy, &throttled, Fault::transient(), 1);
    // WHEN the worker runs the batch
    let err = core.run_batch(work[0].clone(), now(), None).await.unwrap_err();
    // THEN the batch fails as retryable, the throttled file is neither moved nor counted
    assert_eq!(err.kind(), ErrorKind::Retryable, "{err}");
    let l = file(&core, "cam-1", &throttled).await;
    assert_eq!((l.step, l.file.storage_class), (None, StorageClass::Standard));
    assert_eq!(versions(&core, &throttled), [(l.file.version_id.clone(), StorageClass::Standard)]);
    let c = core.task(&task_id).await.counters;
    assert_eq!((c.failed, c.succeeded, c.outstanding), (0, 2, 1), "the others are recorded");
}

#[tokio::test]
async fn a_batch_delivered_again_after_a_transient_failure_moves_only_the_file_left() {
    // GIVEN a batch that failed on one file's throttled copy
    let core = one_shard();
    core.asset_of("cam-1", 3).await;
    let (task_id, token, work) = planned(&core, "cam-1", ARCHIVE).await;
    let throttled = work[0].files[1].key.clone();
    core.objects.fail_next(Op::Copy, &throttled, Fault::transient(), 1);
    core.run_batch(work[0].clone(), now(), None).await.unwrap_err();
    // WHEN SQS delivers it again
    let report = core.run_batch(work[0].clone(), now(), None).await.unwrap();
    // THEN only that file is copied; the task completes with every file archived once
    assert_eq!((report.stale, report.done), (2, 1));
    assert_eq!(core.objects.requests(Op::Copy), 4, "three copies and the throttled attempt");
    assert_eq!(file(&core, "cam-1", &throttled).await.file.storage_class, StorageClass::Glacier);
    assert_eq!(core.task(&task_id).await.counters.succeeded, 3);
    assert_eq!(core.orchestrator.outcome(&token).map(|o| o.status), Some(TaskStatus::Succeeded));
}

#[tokio::test]
async fn a_permanent_s3_refusal_fails_only_that_file_with_its_reason() {
    // GIVEN an archive planned, and S3 refusing one file's copy: its version is gone
    let core = one_shard();
    core.asset_of("cam-1", 3).await;
    let (task_id, _, work) = planned(&core, "cam-1", ARCHIVE).await;
    let refused = work[0].files[0].key.clone();
    core.objects.fail_next(Op::Copy, &refused, Fault::permanent("NoSuchVersion", "The specified version does not exist."), 1);
    // WHEN the worker runs the batch
    let report = core.run_batch(work[0].clone(), now(), None).await.unwrap();
    // THEN that file fails with S3's reason, the others are archived
    assert_eq!((report.failed, report.done), (1, 2));
    let l = file(&core, "cam-1", &refused).await;
    assert_eq!((l.step, l.file.storage_class), (Some(FileStep::Failed), StorageClass::Standard));
    let task = core.task(&task_id).await;
    assert_eq!(core.meta.failed_files(&task, 10).await.unwrap(), [(refused, "NoSuchVersion: The specified version does not exist.".to_string())]);
    assert_eq!((task.counters.failed, task.counters.succeeded, task.counters.outstanding), (1, 2, 0));
}

#[tokio::test]
async fn a_batch_delivered_again_after_it_ran_changes_nothing() {
    // GIVEN a batch of an archive that ran (and a file of another batch left)
    let core = one_shard();
    core.asset_of("cam-1", 4).await;
    let (task_id, _, work) = planned(&core, "cam-1", ARCHIVE).await;
    core.run_batch(work[0].clone(), now(), None).await.unwrap();
    let (files, task) = (core.located_of("cam-1").await, core.task(&task_id).await);
    let s3: Vec<_> = files.iter().map(|l| versions(&core, &l.file.key)).collect();
    let copies = core.objects.requests(Op::Copy);
    // WHEN SQS delivers it again
    let report = core.run_batch(work[0].clone(), now(), None).await.unwrap();
    // THEN each of its files is stale: nothing copied, recorded or counted
    assert_eq!(report, super::BatchReport { stale: work[0].files.len(), ..Default::default() });
    assert_eq!(core.objects.requests(Op::Copy), copies);
    assert_eq!(core.located_of("cam-1").await, files);
    assert_eq!(files.iter().map(|l| versions(&core, &l.file.key)).collect::<Vec<_>>(), s3);
    assert_eq!(core.task(&task_id).await, task);
}

#[tokio::test]
async fn a_batch_for_a_task_that_is_not_running_changes_nothing() {
    // GIVEN an archive requested but not yet claimed (PENDING), and a batch naming its files
    let core = one_shard();
    core.asset_of("cam-1", 3).await;
    let task = core.request("cam-1", ARCHIVE, "r1").await;
    let files = core.located_of("cam-1").await;
    let batch = WorkBatch { task_id: task.task_id.clone(), action: ARCHIVE, files: files.iter().map(|l| l.file.clone()).collect() };
    // WHEN the worker gets it
    let report = core.run_batch(batch, now(), None).await.unwrap();
    // THEN every file is stale and nothing is touched
    assert_eq!(report, super::BatchReport { stale: 3, ..Default::default() });
    assert_eq!(core.objects.requests(Op::Copy), 0);
    assert_eq!(core.located_of("cam-1").await, files);
    assert_eq!(core.task(&task.task_id).await.counters, Default::default());
}

#[tokio::test]
async fn a_batch_naming_files_of_another_asset_changes_nothing() {
    // GIVEN an archive of cam-1 running, and another asset cam-2
    let core = one_shard();
    core.asset_of("cam-1", 2).await;
    core.asset_of("cam-2", 2).await;
    let (task_id, _, _) = planned(&core, "cam-1", ARCHIVE).await;
    let theirs: Vec<_> = core.located_of("cam-2").await;
    // WHEN a batch of cam-1's task names cam-2's files, as they are and as if they were cam-1's
    let mut files: Vec<_> = theirs.iter().map(|l| l.file.clone()).collect();
    files.extend(theirs.iter().map(|l| crate::domain::FileRecord { asset_id: "cam-1".into(), ..l.file.clone() }));
    let report = core.run_batch(WorkBatch { task_id: task_id.clone(), action: ARCHIVE, files }, now(), None).await.unwrap();
    // THEN all are stale: nothing is copied, and neither asset's files change
    assert_eq!(report, super::BatchReport { stale: 4, ..Default::default() });
    assert_eq!(core.objects.requests(Op::Copy), 0);
    assert_eq!(core.located_of("cam-2").await, theirs);
    assert_eq!(core.task(&task_id).await.counters.succeeded, 0);
}

/// The core copying objects over 1 MiB in parts of 5 MiB (S3's least), with one object of
/// 12 MiB registered as cam-1 and its archive planned.
async fn large_archive() -> (MemoryCore, TaskId, WorkBatch) {
    let mut config = testing::config();
    config.file_shards = 1;
    config.multipart_threshold_bytes = 1 << 20;
    config.multipart_part_bytes = 5 << 20;
    let core = testing::core_with(config);
    core.objects.put(BUCKET, "cam-1/plate.exr", Put::sized(12 << 20));
    core.register_asset(new_asset("cam-1"), now()).await.unwrap();
    let (task_id, _, mut work) = planned(&core, "cam-1", ARCHIVE).await;
    (core, task_id, work.remove(0))
}

#[tokio::test]
async fn a_file_over_the_multipart_threshold_is_copied_in_parts() {
    // GIVEN a 12 MiB file over the threshold of 1 MiB
    let (core, _, batch) = large_archive().await;
    // WHEN the worker runs its batch
    let report = core.run_batch(batch, now(), None).await.unwrap();
    // THEN it is copied by a multipart upload of three parts, not by CopyObject
    assert_eq!(report.done, 1);
    assert_eq!((core.objects.requests(Op::Copy), core.objects.requests(Op::StartMultipart)), (0, 1));
    let current = core.objects.versions(BUCKET, "cam-1/plate.exr").remove(0);
    assert!(current.etag.trim_matches('"').ends_with("-3"), "{}", current.etag);
    assert_eq!((current.storage_class, current.size), (StorageClass::Glacier, 12 << 20));
    // AND the registry names the copy, no upload is left, and the original is deleted
    let l = file(&core, "cam-1", "cam-1/plate.exr").await;
    assert_eq!((l.step, &l.file.version_id, l.upload), (Some(FileStep::Done), &current.version_id, None));
    assert!(core.objects.uploads().is_empty());
    assert_eq!(core.objects.versions(BUCKET, "cam-1/plate.exr").len(), 1);
}

#[tokio::test]
async fn a_multipart_copy_out_of_time_goes_on_in_a_new_work_message_with_the_same_upload() {
    // GIVEN a 12 MiB file over the threshold, and an invocation with no time left
    let (core, task_id, batch) = large_archive().await;
    // WHEN the worker runs its batch
    let report = core.run_batch(batch.clone(), now(), Some(Instant::now())).await.unwrap();
    // THEN one part is copied and the file goes back to the work queue, its upload recorded
    assert_eq!((report.continued, report.done), (1, 0));
    let rest = core.queues.take_work();
    assert_eq!(rest, [batch]);
    let l = file(&core, "cam-1", "cam-1/plate.exr").await;
    assert_eq!(l.upload, Some((task_id.to_string(), core.objects.uploads()[0].clone())));
    assert_eq!(l.file.storage_class, StorageClass::Standard);
    // AND the next invocation completes that upload rather than starting another
    let report = core.run_batch(rest[0].clone(), now(), None).await.unwrap();
    assert_eq!(report.done, 1);
    assert_eq!(core.objects.requests(Op::StartMultipart), 1);
    assert!(core.objects.uploads().is_empty());
}

#[tokio::test]
async fn a_copy_whose_answer_was_lost_is_recognised_on_redelivery_and_not_made_again() {
    // GIVEN an archive (S3's clock after the task began), and S3 copying one file but the
    // answer lost to a reset
    let core = one_shard();
    core.objects.set_now("2027-01-04T11:00:00Z".parse().unwrap());
    core.asset_of("cam-1", 3).await;
    let (task_id, token, work) = planned(&core, "cam-1", ARCHIVE).await;
    let lost = work[0].files[2].key.clone();
    core.objects.fail_next(Op::Copy, &lost, Fault::transient().after_acting(), 1);
    core.run_batch(work[0].clone(), now(), None).await.unwrap_err();
    let copy = core.objects.versions(BUCKET, &lost).remove(0);
    assert_eq!(copy.storage_class, StorageClass::Glacier, "S3 made the copy");
    // WHEN the batch comes again
    let report = core.run_batch(work[0].clone(), now(), None).await.unwrap();
    // THEN that copy is recorded as the file's, no other is made, and the original is deleted
    assert_eq!((report.done, report.stale, report.superseded_deleted), (1, 2, 1));
    assert_eq!(versions(&core, &lost), [(copy.version_id.clone(), StorageClass::Glacier)]);
    assert_eq!(file(&core, "cam-1", &lost).await.file.version_id, copy.version_id);
    assert_eq!(core.task(&task_id).await.counters.succeeded, 3);
    assert_eq!(core.orchestrator.outcome(&token).map(|o| o.status), Some(TaskStatus::Succeeded));
}

#[tokio::test]
async fn a_file_overwritten_since_it_was_registered_fails_and_the_new_version_is_kept() {
    // GIVEN an archive planned, and one file uploaded again after its registration
    let core = one_shard();
    core.asset_of("cam-1", 3).await;
    let (task_id, _, work) = planned(&core, "cam-1", ARCHIVE).await;
    let changed = work[0].files[0].key.clone();
    let upload = core.objects.put(BUCKET, &changed, Put::body(b"a new take".to_vec()));
    // WHEN the worker runs the batch
    let report = core.run_batch(work[0].clone(), now(), None).await.unwrap();
    // THEN that file fails as changed, and S3 keeps the new upload as it is, in STANDARD
    assert_eq!((report.failed, report.done), (1, 2));
    let task = core.task(&task_id).await;
    let failed = core.meta.failed_files(&task, 10).await.unwrap();
    assert!(failed.len() == 1 && failed[0].0 == changed && failed[0].1.starts_with("PreconditionFailed"), "{failed:?}");
    let current = core.objects.versions(BUCKET, &changed).remove(0);
    assert_eq!((current.version_id, current.storage_class), (upload.version_id, StorageClass::Standard));
    assert_eq!(core.objects.versions(BUCKET, &changed).len(), 2, "the registered version is not deleted either");
}

#[tokio::test]
async fn a_purge_s3_refuses_for_one_key_fails_only_that_file() {
    // GIVEN a purge planned, and one key under object lock
    let core = one_shard();
    core.asset_of("cam-1", 3).await;
    let (task_id, token, work) = planned(&core, "cam-1", Action::Purge).await;
    let locked = work[0].files[1].key.clone();
    core.objects.lock(BUCKET, &locked);
    // WHEN the worker runs the batch
    let report = core.run_batch(work[0].clone(), now(), None).await.unwrap();
    // THEN the locked key's file fails with S3's error and keeps its version; the others are gone
    assert_eq!((report.failed, report.done), (1, 2));
    for l in core.located_of("cam-1").await {
        let left = core.objects.versions(BUCKET, &l.file.key).len();
        match l.file.key == locked {
            true => assert_eq!((l.step, l.file.state, left), (Some(FileStep::Failed), FileState::Active, 1)),
            false => assert_eq!((l.step, l.file.state, left), (Some(FileStep::Done), FileState::Purged, 0)),
        }
    }
    let failed = core.meta.failed_files(&core.task(&task_id).await, 10).await.unwrap();
    assert!(failed[0].1.contains("object lock"), "{failed:?}");
    assert_eq!(core.orchestrator.outcome(&token).map(|o| o.status), Some(TaskStatus::PartiallyFailed));
}

#[tokio::test]
async fn a_batch_that_names_another_action_acts_with_its_tasks_own() {
    // GIVEN an archive planned, and a batch of its files that says purge
    let core = one_shard();
    core.asset_of("cam-1", 3).await;
    let (_, _, work) = planned(&core, "cam-1", ARCHIVE).await;
    let batch = WorkBatch { action: Action::Purge, ..work[0].clone() };
    // WHEN the worker runs it
    let report = core.run_batch(batch, now(), None).await.unwrap();
    // THEN the files are archived, not deleted
    assert_eq!(report.done, 3);
    assert_eq!(core.objects.requests(Op::VersionsOf), 0);
    for l in core.located_of("cam-1").await {
        assert_eq!(versions(&core, &l.file.key), [(l.file.version_id.clone(), StorageClass::Glacier)]);
    }
}

#[tokio::test]
async fn an_archive_that_skips_files_in_a_colder_class_leaves_the_asset_mixed() {
    // GIVEN an asset of a STANDARD file and a DEEP_ARCHIVE one (MIXED)
    let core = one_shard();
    core.asset_in("cam-1", &[StorageClass::Standard, StorageClass::DeepArchive]).await;
    assert_eq!(core.asset("cam-1").await.storage_class, "MIXED");
    // WHEN it is archived to GLACIER and the task ends
    let task = core.request("cam-1", ARCHIVE, "r1").await;
    let outcome = core.drive(&task.task_id).await.unwrap();
    // THEN one file moved and the other, in a colder class, was skipped: the files are in two
    // classes, and the asset says so
    assert_eq!((outcome.status, outcome.succeeded, outcome.skipped), (TaskStatus::Succeeded, 1, 1));
    let classes: Vec<StorageClass> = core.located_of("cam-1").await.into_iter().map(|l| l.file.storage_class).collect();
    assert_eq!(classes, [StorageClass::Glacier, StorageClass::DeepArchive]);
    assert_eq!(core.asset("cam-1").await.storage_class, "MIXED");
}

#[tokio::test]
async fn an_archive_that_moves_no_file_leaves_the_asset_in_its_own_class() {
    // GIVEN an asset whose files are all in DEEP_ARCHIVE
    let core = one_shard();
    core.asset_in("cam-1", &[StorageClass::DeepArchive, StorageClass::DeepArchive]).await;
    // WHEN it is archived to GLACIER, warmer than its files
    let task = core.request("cam-1", ARCHIVE, "r1").await;
    let outcome = core.drive(&task.task_id).await.unwrap();
    // THEN every file is skipped, kept where it is, and so is the asset's class
    assert_eq!((outcome.status, outcome.succeeded, outcome.skipped), (TaskStatus::Succeeded, 0, 2));
    assert_eq!(core.task(&task.task_id).await.counters.kept, 2);
    assert_eq!(core.asset("cam-1").await.storage_class, StorageClass::DeepArchive);
}

#[tokio::test]
async fn an_archive_whose_skips_are_already_in_the_target_class_leaves_the_asset_in_it() {
    // GIVEN a MIXED asset of a STANDARD file and a GLACIER one
    let core = one_shard();
    core.asset_in("cam-1", &[StorageClass::Standard, StorageClass::Glacier]).await;
    // WHEN it is archived to GLACIER
    let task = core.request("cam-1", ARCHIVE, "r1").await;
    core.drive(&task.task_id).await.unwrap();
    // THEN the GLACIER file was skipped but is in the target: the asset is in GLACIER, and a
    // policy archiving MIXED assets has nothing more to do
    assert_eq!(core.task(&task.task_id).await.counters.kept, 0);
    assert_eq!(core.asset("cam-1").await.storage_class, StorageClass::Glacier);
}

#[tokio::test]
async fn a_batch_naming_a_file_twice_acts_on_it_once() {
    // GIVEN an archive planned, and a work message naming its first file twice
    let core = one_shard();
    core.asset_of("cam-1", 2).await;
    let (task_id, _, work) = planned(&core, "cam-1", ARCHIVE).await;
    let mut batch = work[0].clone();
    batch.files.push(batch.files[0].clone());
    // WHEN the worker runs it
    let report = core.run_batch(batch, now(), None).await.unwrap();
    // THEN each file is copied once, and the second naming counts as stale
    assert_eq!((report.done, report.stale), (2, 1), "{report:?}");
    assert_eq!(core.objects.requests(Op::Copy), 2);
    assert_eq!(core.task(&task_id).await.counters.succeeded, 2);
}

/// The tests' core whose media bucket never had versioning, with one shard per asset.
fn unversioned() -> MemoryCore {
    let core = one_shard();
    core.objects.unversioned_bucket(BUCKET);
    core
}

#[tokio::test]
async fn an_archive_in_an_unversioned_bucket_replaces_each_object_in_place() {
    // GIVEN an archive planned in a bucket without versioning
    let core = unversioned();
    core.asset_of("cam-1", 2).await;
    let (_, _, work) = planned(&core, "cam-1", ARCHIVE).await;
    // WHEN the worker runs its batch
    let report = core.run_batch(work[0].clone(), now(), None).await.unwrap();
    // THEN each key is its one "null" version, now in GLACIER, and nothing is deleted
    assert_eq!((report.done, report.superseded_deleted), (2, 0));
    assert_eq!(core.objects.requests(Op::DeleteVersions), 0);
    for l in core.located_of("cam-1").await {
        assert_eq!(versions(&core, &l.file.key), [("null".to_string(), StorageClass::Glacier)]);
        assert_eq!((l.file.version_id.as_str(), l.file.storage_class), ("null", StorageClass::Glacier));
    }
}

#[tokio::test]
async fn a_purge_in_an_unversioned_bucket_deletes_each_object_without_listing_it() {
    // GIVEN a purge planned in a bucket without versioning
    let core = unversioned();
    core.asset_of("cam-1", 2).await;
    let (_, _, work) = planned(&core, "cam-1", Action::Purge).await;
    // WHEN the worker runs its batch
    let report = core.run_batch(work[0].clone(), now(), None).await.unwrap();
    // THEN the objects are gone, deleted by their "null" version with no listing
    assert_eq!(report.done, 2);
    assert_eq!(core.objects.requests(Op::VersionsOf), 0);
    for l in core.located_of("cam-1").await {
        assert!(core.objects.versions(BUCKET, &l.file.key).is_empty());
        assert_eq!(l.file.state, FileState::Purged);
    }
}
