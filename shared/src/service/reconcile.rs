//! The reconciler (anti-entropy). On its schedule it looks at every open task that stopped
//! moving and repairs what a lost message or a crash left (a queued task not started, an
//! execution not started, counters short, work or planning lost, restore completions lost),
//! then sweeps the assets through the reconcile queue: each asset's files are compared with S3
//! key by key, in key order, a bounded number of keys a message. Every repair is recorded.

use super::{Core, ControlMessage, Metadata, WorkBatch};
use crate::domain::action::StorageClass;
use crate::domain::repair::{Drift, KeyVersion, Registered, Repair, RepairKind, compare, whole_keys};
use crate::domain::{Action, Asset, AssetState, FileRecord, FileState};
use crate::error::{Error, Result};
use crate::ports::{LocatedFile, ObjectStore, ObjectVersion, Orchestrator, Queues, Scope, Task, Transition};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A message on the reconcile queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReconcileMessage {
    /// A page of assets from `cursor`, each compared with S3 from its first key.
    Assets { at: String, cursor: Option<String> },
    /// One asset, from after the key `after`.
    Asset { at: String, asset_id: String, after: Option<String> },
    /// A backfill of a prefix by the key layout, from after the key `after`.
    Backfill { bucket: String, prefix: String, after: Option<String>, today: String },
    /// A backfill of one registering asset, from its stored cursor.
    BackfillAsset { asset_id: String },
    /// A backfill from an inventory CSV in S3, from the byte `offset`.
    Inventory { bucket: String, key: String, schema: String, offset: u64, today: String },
}

/// What one reconcile-queue message did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ReconcileReport {
    Swept(Reconciliation),
    Backfilled(super::backfill::BackfillStep),
}

/// What one reconciler invocation looked at and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    pub at: String,
    pub tasks_checked: usize,
    pub assets_checked: usize,
    pub keys_compared: usize,
    /// Repairs by kind.
    pub repairs: BTreeMap<String, usize>,
    /// Completion events the state machine could not publish, published now.
    pub events_published: usize,
}

/// Assets compared per reconcile message; an asset with more keys than a message takes hands
/// its rest to a message of its own.
const ASSETS_PER_MESSAGE: usize = 25;
/// Files of a stuck task re-sent or checked with S3 per run.
const STUCK_FILES_PER_RUN: usize = 1000;

fn rfc3339(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    /// The scheduled run at `now`: open tasks first, then the asset sweep is started.
    pub async fn reconcile(&self, now: DateTime<Utc>) -> Result<Reconciliation> {
        let at = rfc3339(now);
        let before = rfc3339(now - chrono::Duration::seconds(self.config.reconcile_grace_seconds));
        let mut out = Reconciliation { at: at.clone(), ..Default::default() };
        for shard in 0..crate::domain::policy::DUE_SHARDS {
            let mut cursor: Option<String> = None;
            loop {
                let (tasks, next) = self.meta.open_tasks(shard, &before, cursor.as_deref()).await?;
                for task in tasks {
                    out.tasks_checked += 1;
                    self.reconcile_task(&task, &before, &mut out).await?;
                }
                match next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
        }
        out.events_published = self.publish_kept_events().await?;
        self.send_reconcile(&ReconcileMessage::Assets { at, cursor: None }).await?;
        Ok(out)
    }

    /// One message of the reconcile queue: a step of the asset sweep or of a backfill.
    pub async fn handle_reconcile(&self, message: ReconcileMessage) -> Result<ReconcileReport> {
        Ok(match message {
            ReconcileMessage::Assets { at, cursor } => {
                let mut out = Reconciliation { at: at.clone(), ..Default::default() };
                let (assets, next) = self.meta.assets_page(&Scope::All, cursor.as_deref(), ASSETS_PER_MESSAGE).await?;
                if let Some(next) = next {
                    self.send_reconcile(&ReconcileMessage::Assets { at: at.clone(), cursor: Some(next) }).await?;
                }
                for asset in assets {
                    self.reconcile_asset(&asset, None, &at, &mut out).await?;
                }
                ReconcileReport::Swept(out)
            }
            ReconcileMessage::Asset { at, asset_id, after } => {
                crate::domain::asset::validate_id("asset_id", &asset_id)?;
                let mut out = Reconciliation { at: at.clone(), ..Default::default() };
                if let Some(asset) = self.meta.get_asset(&asset_id).await? {
                    self.reconcile_asset(&asset, after.as_deref(), &at, &mut out).await?;
                }
                ReconcileReport::Swept(out)
            }
            ReconcileMessage::Backfill { bucket, prefix, after, today } => {
                ReconcileReport::Backfilled(self.backfill_prefix(&bucket, &prefix, after.as_deref(), &today).await?)
            }
            ReconcileMessage::BackfillAsset { asset_id } => {
                crate::domain::asset::validate_id("asset_id", &asset_id)?;
                ReconcileReport::Backfilled(self.backfill_asset(&asset_id).await?)
            }
            ReconcileMessage::Inventory { bucket, key, schema, offset, today } => {
                ReconcileReport::Backfilled(self.backfill_inventory(&bucket, &key, &schema, offset, &today).await?)
            }
        })
    }

    pub(crate) async fn send_reconcile(&self, m: &ReconcileMessage) -> Result<()> {
        self.queues.send_reconcile(serde_json::to_string(m).map_err(|e| Error::dependency("encode reconcile message", e))?).await
    }

    async fn repaired(&self, out: &mut Reconciliation, asset_id: &str, kind: RepairKind, subject: &str, detail: String) -> Result<()> {
        tracing::info!(asset_id, kind = kind.as_str(), subject, detail, "repaired");
        let repair = Repair { asset_id: asset_id.to_string(), kind, subject: subject.to_string(), detail, at: out.at.clone() };
        self.meta.record_repair(&repair).await?;
        *out.repairs.entry(kind.as_str().to_string()).or_default() += 1;
        Ok(())
    }

    /// An open task older than the grace period: started if its start was lost, and if it is
    /// RUNNING but stopped moving, recounted, re-driven and signalled as its files say.
    async fn reconcile_task(&self, task: &Task, before: &str, out: &mut Reconciliation) -> Result<()> {
        let (id, asset_id) = (task.task_id.as_str(), task.asset_id.as_str());
        match task.status {
            crate::domain::TaskStatus::Queued => {
                if let Some(started) = self.start_queued(asset_id).await? {
                    self.repaired(out, asset_id, RepairKind::StartedQueued, started.as_str(), "the asset was free and its queued task waited".into()).await?;
                }
            }
            crate::domain::TaskStatus::Pending => {
                self.start_execution(task).await?;
                self.repaired(out, asset_id, RepairKind::StartedExecution, id, format!("PENDING since {}", task.created_at)).await?;
            }
            crate::domain::TaskStatus::Running => {
                if task.progress_at.as_deref().unwrap_or(&task.created_at) >= before {
                    return Ok(());
                }
                let Some(asset) = self.meta.get_asset(asset_id).await? else { return Ok(()) };
                if !task.planning_done {
                    let m = serde_json::to_string(&ControlMessage::Continue { task_id: task.task_id.clone() }).map_err(|e| Error::dependency("encode continue", e))?;
                    self.queues.send_control(m).await?;
                    self.repaired(out, asset_id, RepairKind::ContinuedPlanning, id, format!("no progress since {}", task.progress_at.as_deref().unwrap_or(&task.created_at))).await?;
                    return Ok(());
                }
                let recount = self.meta.recount(task, &asset, STUCK_FILES_PER_RUN).await?;
                if recount.counters != task.counters && self.meta.set_counters(&task.task_id, &task.counters, &recount.counters).await? {
                    self.repaired(out, asset_id, RepairKind::Recounted, id, format!("{:?} -> {:?}", task.counters, recount.counters)).await?;
                }
                if !recount.queued.is_empty() {
                    for files in recount.queued.chunks(self.config.batch_size.max(1)) {
                        let batch = WorkBatch { task_id: task.task_id.clone(), action: task.action, files: files.to_vec() };
                        self.queues.send_work(serde_json::to_string(&batch).map_err(|e| Error::dependency("encode work batch", e))?).await?;
                    }
                    self.repaired(out, asset_id, RepairKind::Redrove, id, format!("{} files still QUEUED sent to the workers again", recount.queued.len())).await?;
                }
                let completed = self.complete_lost_restores(task, &recount.requested).await?;
                if completed > 0 {
                    self.repaired(out, asset_id, RepairKind::CompletedRestore, id, format!("{completed} files restored by S3 without a recorded completion")).await?;
                }
                if self.signal_if_complete(&task.task_id).await? {
                    self.repaired(out, asset_id, RepairKind::Signalled, id, "complete by its files; its execution told".into()).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// REQUESTED restore files that S3 reports restored: their completion event was lost.
    async fn complete_lost_restores(&self, task: &Task, requested: &[FileRecord]) -> Result<usize> {
        if !matches!(task.action, Action::Restore { .. }) || requested.is_empty() {
            return Ok(0);
        }
        let mut transitions = Vec::new();
        for f in requested {
            match self.objects.restored_until(f).await {
                Ok(Some(end)) => transitions.push(Transition::restored(f.clone(), Some(end))),
                Ok(None) => {}
                Err(e) => tracing::warn!(key = %f.key, error = %e, "restore status unknown"),
            }
        }
        Ok(self.meta.commit(&task.task_id, &transitions).await?.applied)
    }

    /// Compares an asset's files with S3 from after `after`, a bounded number of keys; hands the
    /// rest to a message of its own.
    async fn reconcile_asset(&self, asset: &Asset, after: Option<&str>, at: &str, out: &mut Reconciliation) -> Result<()> {
        // A task's files are in flux, and a purged asset has nothing left to compare.
        if asset.active_task.is_some() || asset.state == AssetState::Purged {
            return Ok(());
        }
        out.assets_checked += 1;
        let limit = self.config.reconcile_keys_per_message.max(2);
        let (files, files_more) = self.meta.files_after(asset, after, limit).await?;
        let (versions, listing_more) = self.objects.versions_after(&asset.bucket, &asset.prefix, after, limit).await?;
        // Compare up to the first key either side may not have shown in full.
        let (listed, listing_upper) = whole_keys(&versions, listing_more);
        let files_upper = files_more.then(|| files.last().map(|f| f.file.key.clone())).flatten();
        let upper = match (files_upper, listing_upper) {
            (Some(a), Some(b)) => Some(if a.as_bytes() < b.as_bytes() { a } else { b }),
            (a, b) => a.or(b),
        };
        let within = |k: &str| upper.as_deref().is_none_or(|u| k.as_bytes() <= u.as_bytes());
        let by_key: HashMap<&str, &LocatedFile> = files.iter().map(|f| (f.file.key.as_str(), f)).collect();
        let keys: BTreeSet<&str> = by_key.keys().copied().chain(listed.keys().copied()).filter(|k| within(k)).collect();
        for key in keys {
            out.keys_compared += 1;
            let located = by_key.get(key).copied();
            let registered = located.map(|l| Registered {
                version_id: l.file.version_id.clone(),
                etag: l.file.etag.clone(),
                storage_class: l.file.storage_class,
                state: l.file.state,
                restore_expiry: l.restore_expiry.clone(),
                in_flight: l.step.is_some_and(|s| !s.is_final()),
            });
            let vs: Vec<KeyVersion> = listed.get(key).into_iter().flatten().map(|v| (*v).clone()).collect();
            for drift in compare(registered.as_ref(), &vs, at) {
                self.repair_drift(asset, key, located.map(|l| &l.file), drift, out).await?;
            }
        }
        if let Some(upper) = upper {
            self.send_reconcile(&ReconcileMessage::Asset { at: at.to_string(), asset_id: asset.asset_id.clone(), after: Some(upper) }).await?;
        }
        Ok(())
    }

    async fn repair_drift(&self, asset: &Asset, key: &str, file: Option<&FileRecord>, drift: Drift, out: &mut Reconciliation) -> Result<()> {
        let kind = drift.kind();
        let id = asset.asset_id.as_str();
        let taken = |f: &FileRecord, class: StorageClass, v: Option<&KeyVersion>, state: FileState| FileRecord {
            version_id: v.map_or(f.version_id.clone(), |v| v.version_id.clone()),
            etag: v.map_or(f.etag.clone(), |v| v.etag.clone()),
            size: v.map_or(f.size, |v| v.size),
            storage_class: class,
            state,
            ..f.clone()
        };
        let detail = match (drift, file) {
            (Drift::Unregistered(v), _) => {
                // An object another asset registered (prefixes that overlap) is that asset's.
                if self.meta.find_by_object(&asset.bucket, key).await?.is_some() {
                    return Ok(());
                }
                if !self.meta.register_file(&super::register::file_of(asset, &v)).await? {
                    return Ok(());
                }
                format!("{} bytes in {}, version {}", v.size, v.storage_class, v.version_id)
            }
            (Drift::Missing, Some(f)) => {
                if !self.meta.take_s3_state(f, &taken(f, f.storage_class, None, FileState::Missing)).await? {
                    return Ok(());
                }
                format!("version {} is gone from S3", f.version_id)
            }
            (Drift::Changed(v), Some(f)) => {
                if !self.meta.take_s3_state(f, &taken(f, v.storage_class, Some(&v), FileState::of_class(v.storage_class))).await? {
                    return Ok(());
                }
                format!("version {} ({}) replaced by {} ({}, {} bytes)", f.version_id, f.etag, v.version_id, v.etag, v.size)
            }
            (Drift::ClassChanged(class), Some(f)) => {
                if !self.meta.take_s3_state(f, &taken(f, class, None, FileState::of_class(class))).await? {
                    return Ok(());
                }
                format!("{} -> {class}", f.storage_class)
            }
            (Drift::WindowEnded, Some(f)) => {
                if !self.meta.restore_expired(f).await? {
                    return Ok(());
                }
                "the restore window ended".to_string()
            }
            (Drift::Superseded(vs), Some(_)) => {
                // A held asset keeps every version, duplicates of its content too.
                if let Some(why) = self.purge_blocked(asset).await? {
                    tracing::info!(key, why, "superseded versions kept: legal hold");
                    return Ok(());
                }
                let versions: Vec<ObjectVersion> = vs.iter().map(|v| ObjectVersion { key: v.key.clone(), version_id: v.version_id.clone(), delete_marker: false }).collect();
                let failures = match self.objects.delete_versions(&asset.bucket, &versions).await {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::warn!(key, error = %e, "superseded versions not deleted");
                        return Ok(());
                    }
                };
                if failures.len() == versions.len() {
                    return Ok(());
                }
                format!("{} STANDARD versions with the registered content deleted", versions.len() - failures.len())
            }
            (_, None) => return Ok(()),
        };
        self.repaired(out, id, kind, key, detail).await
    }
}
