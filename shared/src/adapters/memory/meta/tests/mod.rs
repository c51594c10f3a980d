//! Tests of the in-memory metadata store: each pins one condition or fence of the DynamoDB
//! adapter that the memory one must answer the same way.

mod assets;
mod catalog;
mod commit;
mod files;
mod machine;
mod repair;
mod security;
mod tasks;

use super::MemoryMeta;
use crate::domain::policy::tests::asset as policy_asset;
pub(super) use crate::domain::policy::tests::date;
use crate::domain::{Action, Asset, AssetState, FileRecord, FileState, FileStep, StorageClass, Task, TaskCounters, TaskId, TaskStatus, Transition, shard_of};
use crate::ports::{AssetStore, FileStore, TaskStore};

/// Shards of the test assets.
const SHARDS: u32 = 2;

const ARCHIVE: Action = Action::Archive { storage_class: StorageClass::Glacier };
const PURGE: Action = Action::Purge;
const RESTORE: Action = Action::Restore { days: 1, tier: crate::domain::RestoreTier::Bulk };

/// An asset with no files yet, of no class.
fn asset(id: &str) -> Asset {
    Asset {
        asset_id: id.into(),
        shards: SHARDS,
        file_count: 0,
        total_bytes: 0,
        storage_class: crate::domain::AssetClass::Unknown,
        state: AssetState::Active,
        ..policy_asset("editorial", "final", "STANDARD")
    }
}

/// A STANDARD file of 1,000 bytes, in its key's shard.
fn file(asset_id: &str, key: &str) -> FileRecord {
    FileRecord {
        asset_id: asset_id.into(),
        shard: shard_of(key, SHARDS),
        bucket: "media".into(),
        key: key.into(),
        version_id: "v1".into(),
        size: 1000,
        etag: "\"e\"".into(),
        storage_class: StorageClass::Standard,
        state: FileState::Active,
    }
}

fn task(asset_id: &str, action: Action, origin: &str) -> Task {
    Task {
        task_id: TaskId::derive(asset_id, &action, origin),
        asset_id: asset_id.into(),
        title_id: "tln".into(),
        asset_type: "editorial".into(),
        action,
        status: TaskStatus::Pending,
        requested_by: "tester".into(),
        origin: origin.into(),
        created_at: "2027-01-01T00:00:00Z".into(),
        counters: TaskCounters::default(),
        planning_done: false,
        reason: None,
        policy: None,
        task_token: None,
        plan_cursor: None,
        progress_at: None,
        checked: None,
    }
}

fn queued(asset_id: &str, action: Action, origin: &str) -> Task {
    Task { status: TaskStatus::Queued, ..task(asset_id, action, origin) }
}

/// A transition of `file` in the step it has to `to`.
fn step(file: &FileRecord, from: FileStep, to: FileStep) -> Transition {
    Transition { file: file.clone(), from, to, new_class: None, new_state: None, new_version_id: None, new_etag: None, restore_expiry: None, reason: None, kept: false }
}

/// An archive's copy of `file` done: in GLACIER, archived.
fn archived(file: &FileRecord) -> Transition {
    Transition { new_class: Some(StorageClass::Glacier), new_state: Some(FileState::Archived), ..step(file, FileStep::Queued, FileStep::Done) }
}

/// A store holding the asset `id` (registered, visible) with `keys` as its files.
async fn with_files(id: &str, keys: &[&str]) -> MemoryMeta {
    let meta = MemoryMeta::new();
    assert!(meta.create_asset(&asset(id)).await.unwrap());
    let files: Vec<FileRecord> = keys.iter().map(|k| file(id, k)).collect();
    meta.put_files(&files).await.unwrap();
    meta
}

/// The task created on its asset, claimed (RUNNING) and its token stored, as a task is once its
/// execution plans.
async fn running(meta: &MemoryMeta, t: &Task) {
    assert!(matches!(meta.create_task(t).await.unwrap(), crate::domain::Created::New(_)));
    assert!(meta.claim_task(&t.task_id));
    assert!(meta.store_token(&t.task_id, "token").await.unwrap());
}

/// Planned: `files` files counted as one page, planning done.
async fn planned(meta: &MemoryMeta, t: &Task, files: i64) {
    assert!(meta.advance_plan(&t.task_id, None, "end", files).await.unwrap());
    meta.finish_planning(&t.task_id).await.unwrap();
}

async fn counters(meta: &MemoryMeta, t: &Task) -> TaskCounters {
    meta.get_task(&t.task_id).await.unwrap().expect("task").counters
}
