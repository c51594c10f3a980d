//! The metadata store in memory, one module per aggregate as in the DynamoDB adapter
//! (`adapters/dynamo/`): assets (with the due index and accesses), files, tasks, the catalog,
//! security, repairs and kept events, and `machine`, the writes the state machine makes itself.
//! One map per table, keyed as the table is, so that pages come in its key order; every
//! condition and fence of the DynamoDB adapter is checked under the one lock. Reads DynamoDB
//! answers eventually consistent (its indexes, scans, the reads the adapter does not ask to be
//! consistent) are consistent here. Where an unconditional DynamoDB update of a missing key
//! would make a bare item no port can read back, nothing is made here.

use crate::domain::policy::due_shard;
use crate::domain::repair::{Repair, Sweep};
use crate::domain::{Asset, FileRecord, FileStep, LocatedFile, Policy, Task, Title};
use crate::domain::audit::AuditEntry;
use crate::domain::grant::Application;
use crate::domain::hold::Hold;
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

mod assets;
mod catalog;
mod events;
mod files;
mod machine;
mod repair;
mod security;
mod tasks;
#[cfg(test)]
mod tests;

/// Every metadata port in memory. Clones share their tables: a test keeps one and gives the
/// core another.
#[derive(Clone, Debug, Default)]
pub struct MemoryMeta {
    tables: Arc<Mutex<Tables>>,
}

/// It plugs into the core wherever the DynamoDB adapter does.
fn _plugs_into_the_core(meta: MemoryMeta) -> impl crate::service::Metadata + Clone + std::fmt::Debug {
    meta
}

impl MemoryMeta {
    pub fn new() -> Self {
        Self::default()
    }

    /// The tables, locked for one port call (never held across an await: there is none).
    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().expect("memory tables")
    }
}

/// The tables, by their DynamoDB keys.
#[derive(Debug, Default)]
struct Tables {
    assets: BTreeMap<String, AssetRow>,
    /// (asset id, day).
    accesses: BTreeMap<(String, NaiveDate), AccessRow>,
    titles: BTreeMap<String, Title>,
    /// (policy id, version); version 0 is the head, a copy of the latest.
    policies: BTreeMap<(String, u32), Policy>,
    /// (`<asset>#<shard 000-999>`, object key).
    files: BTreeMap<(String, String), FileRow>,
    tasks: BTreeMap<String, TaskRow>,
    /// The tasks table's `reconciler-sweep` item.
    sweep: Option<Sweep>,
    applications: BTreeMap<String, Application>,
    /// (subject, `<time>#<request id>`).
    audit: BTreeMap<(String, String), AuditEntry>,
    /// By [`crate::domain::hold::HoldSubject::key`].
    holds: BTreeMap<String, Hold>,
    /// (asset id, `<time>#<kind>#<subject>`).
    repairs: BTreeMap<(String, String), Repair>,
}

#[derive(Debug, Clone)]
struct AssetRow {
    /// `storage_class` empty where the item has none (an asset registered file by file,
    /// before its first file).
    asset: Asset,
    registering: bool,
}

#[derive(Debug, Clone)]
struct AccessRow {
    accesses: u64,
    title_id: String,
    asset_type: String,
}

#[derive(Debug, Clone)]
struct FileRow {
    file: FileRecord,
    task_id: Option<String>,
    step: Option<FileStep>,
    reason: Option<String>,
    restore_expiry: Option<String>,
    /// (upload task, upload id).
    upload: Option<(String, String)>,
}

impl FileRow {
    fn new(file: &FileRecord) -> Self {
        FileRow { file: file.clone(), task_id: None, step: None, reason: None, restore_expiry: None, upload: None }
    }

    fn located(&self) -> LocatedFile {
        LocatedFile {
            file: self.file.clone(),
            task_id: self.task_id.clone(),
            step: self.step,
            restore_expiry: self.restore_expiry.clone(),
            upload: self.upload.clone(),
        }
    }
}

#[derive(Debug, Clone)]
struct TaskRow {
    task: Task,
    /// The sparse Open index's partition: the task's shard while it is open, `unpublished`
    /// while its event waits.
    open_shard: Option<String>,
    signalled: bool,
    kept_event: Option<String>,
    publish_error: Option<String>,
}

impl Tables {
    /// A registered asset: None while it is registering, as `get_asset` reads it.
    fn visible_asset(&self, asset_id: &str) -> Option<&Asset> {
        self.assets.get(asset_id).filter(|row| !row.registering).map(|row| &row.asset)
    }
}

/// A file item's key: `<asset>#<shard>` and the object key.
fn file_key(asset_id: &str, shard: u32, key: &str) -> (String, String) {
    (file_pk(asset_id, shard), key.to_string())
}

fn file_pk(asset_id: &str, shard: u32) -> String {
    format!("{asset_id}#{shard:03}")
}

/// The due index's and the Open index's partition of an id.
fn shard_key(id: &str) -> String {
    format!("{:02}", due_shard(id))
}

/// The wall-clock time of a write, for `progress_at` (as the DynamoDB adapter writes it).
fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A page as DynamoDB answers a query or scan with a Limit: the first `limit` entries (of those
/// after the cursor, in key order) and the last one's key when the limit was reached, whether or
/// not more follow (the next page is then empty). What a caller filters out of a page after
/// reading it still counts towards the limit, as it does there.
fn page<K, V>(entries: impl Iterator<Item = (K, V)>, limit: usize) -> (Vec<V>, Option<K>) {
    let mut out = Vec::new();
    let mut last = None;
    for (key, value) in entries.take(limit) {
        out.push(value);
        last = Some(key);
    }
    let next = if out.len() == limit { last } else { None };
    (out, next)
}

/// DynamoDB's bounds of a page size: a Limit is at least 1, and the adapter asks for at most 1,000.
fn clamp(limit: usize) -> usize {
    limit.clamp(1, 1000)
}
