//! The reconciler (anti-entropy). On its schedule it looks at every open task that stopped
//! moving and repairs what a lost message or a crash left (a queued task not started, an
//! execution not started, counters short, work or planning lost, restore completions lost),
//! then sweeps the assets through the reconcile queue: each asset's files are compared with S3
//! key by key, in key order, a bounded number of keys a message. Every repair is recorded.
//!
//! One sweep runs at a time (its record in the tasks table; a scheduled run starts one only when
//! the last ended, or stood still for the lease). Each message does its page first, then moves
//! the page's fenced cursor (the sweep's, or the asset's for an asset's own messages) and only the
//! delivery that moved it sends the next message: a redelivered message finds the cursor moved
//! and sends nothing.

use super::{Core, Metadata};
use crate::messages::{ControlMessage, ReconcileMessage, WorkBatch};
use crate::domain::action::StorageClass;
use crate::domain::repair::{
    Drift, KeyVersion, Registered, Repair, RepairKind, SweepStart, compare, recheck_due, shard_read_limit, sweep_cursor, sweep_start, whole_keys, window_keys, window_upper,
};
use crate::domain::{Action, Asset, AssetState, FileRecord, FileState};
use crate::error::Result;
use crate::ports::{ObjectStore, ObjectVersion, Orchestrator, Queues, Scope};
use crate::domain::{LocatedFile, Task, Transition};
use chrono::{DateTime, Utc};
use serde::Serialize;
use futures::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, BTreeSet, HashMap};

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
    /// Tasks standing still that were not read again: nothing moved since the last full look,
    /// within the recheck interval (a restore waiting for S3).
    pub tasks_waiting: usize,
    pub assets_checked: usize,
    pub keys_compared: usize,
    /// Assets whose comparison failed (logged; the next sweep compares them again).
    pub assets_failed: usize,
    /// The scheduled run: whether it `started` a sweep, `taken_over` a dead one, or left one
    /// `running`. A message: `stale` when its page was done by another delivery or its sweep
    /// is no longer the current one (it did nothing more).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<String>,
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
/// Shard queries of one message in flight at once.
const SHARD_QUERIES_AT_ONCE: usize = 16;

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
                    self.reconcile_task(&task, &before, now, &mut out).await?;
                }
                match next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
        }
        out.events_published = self.publish_kept_events().await?;
        let current = self.meta.sweep().await?;
        let decision = sweep_start(current.as_ref(), now, self.config.reconcile_sweep_lease_seconds);
        let done = match decision {
            SweepStart::Running => decision,
            _ if self.meta.start_sweep(current.as_ref(), &at).await? => {
                if let (SweepStart::TakeOver, Some(dead)) = (decision, &current) {
                    tracing::warn!(sweep = dead.at, progress_at = dead.progress_at, "the last sweep stood still for its lease: a new one starts");
                }
                self.send_reconcile(&ReconcileMessage::Assets { at: at.clone(), cursor: None }).await?;
                decision
            }
            // Another run started one meanwhile.
            _ => SweepStart::Running,
        };
        out.sweep = Some(done.as_str().to_string());
        Ok(out)
    }

    /// One message of the reconcile queue: a step of the asset sweep or of a backfill.
    pub async fn handle_reconcile(&self, message: ReconcileMessage) -> Result<ReconcileReport> {
        Ok(match message {
            ReconcileMessage::Assets { at, cursor } => ReconcileReport::Swept(self.sweep_page(at, cursor).await?),
            ReconcileMessage::Asset { at, asset_id, after } => {
                crate::domain::asset::validate_id("asset_id", &asset_id)?;
                ReconcileReport::Swept(self.sweep_asset(at, &asset_id, after).await?)
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

    /// A page of assets of the sweep `at`: each compared from its first key; those with more
    /// keys than a message takes are handed to messages of their own. The page done, its fenced
    /// cursor moves, and only the delivery that moved it starts those and the next page.
    async fn sweep_page(&self, at: String, cursor: Option<String>) -> Result<Reconciliation> {
        let mut out = Reconciliation { at: at.clone(), ..Default::default() };
        let prev = sweep_cursor(&at, cursor.as_deref());
        // A page done already, or of a sweep that is no longer the current one.
        if self.meta.sweep().await?.and_then(|s| s.cursor).as_deref() != Some(prev.as_str()) {
            tracing::info!(at, cursor, "sweep page stale: nothing to do");
            out.sweep = Some("stale".into());
            return Ok(out);
        }
        let (assets, next) = self.meta.assets_page(&Scope::All, cursor.as_deref(), ASSETS_PER_MESSAGE).await?;
        let mut chains = Vec::new();
        for asset in assets {
            match self.reconcile_window(&asset, None, &at, &mut out).await {
                Ok(Some(upper)) => chains.push((asset.asset_id, upper)),
                Ok(None) => {}
                // One asset that cannot be compared does not hold the sweep up: the next sweep
                // tries it again.
                Err(e) => {
                    tracing::warn!(asset_id = asset.asset_id, error = %e, "asset not compared");
                    out.assets_failed += 1;
                }
            }
        }
        let next_cursor = next.as_deref().map(|n| sweep_cursor(&at, Some(n)));
        if !self.meta.sweep_page(&at, &prev, next_cursor.as_deref(), chains.len()).await? {
            tracing::info!(at, cursor, "sweep page done by another delivery: nothing sent");
            out.sweep = Some("stale".into());
            return Ok(out);
        }
        for (asset_id, upper) in chains {
            self.meta.start_asset_sweep(&asset_id, &sweep_cursor(&at, Some(&upper))).await?;
            self.send_reconcile(&ReconcileMessage::Asset { at: at.clone(), asset_id, after: Some(upper) }).await?;
        }
        if let Some(next) = next {
            self.send_reconcile(&ReconcileMessage::Assets { at, cursor: Some(next) }).await?;
        }
        Ok(out)
    }

    /// One message of an asset's own sweep: the keys after `after`, then the asset's fenced
    /// cursor moves and only the delivery that moved it sends the next message.
    async fn sweep_asset(&self, at: String, asset_id: &str, after: Option<String>) -> Result<Reconciliation> {
        let mut out = Reconciliation { at: at.clone(), ..Default::default() };
        let prev = sweep_cursor(&at, after.as_deref());
        let asset = match self.meta.get_asset(asset_id).await? {
            Some(a) if a.sweep_cursor.as_deref() == Some(prev.as_str()) => a,
            _ => {
                tracing::info!(at, asset_id, after, "asset sweep message stale: nothing to do");
                out.sweep = Some("stale".into());
                return Ok(out);
            }
        };
        let upper = self.reconcile_window(&asset, after.as_deref(), &at, &mut out).await?;
        let next = upper.as_deref().map(|u| sweep_cursor(&at, Some(u)));
        if !self.meta.asset_sweep_step(asset_id, &prev, next.as_deref()).await? {
            tracing::info!(at, asset_id, after, "asset sweep step done by another delivery: nothing sent");
            out.sweep = Some("stale".into());
            return Ok(out);
        }
        // The sweep moved (its lease); a sweep that is no longer the current one stops here.
        if !self.meta.sweep_moved(&at, upper.is_none()).await? {
            out.sweep = Some("stale".into());
            return Ok(out);
        }
        if let Some(upper) = upper {
            self.send_reconcile(&ReconcileMessage::Asset { at, asset_id: asset_id.to_string(), after: Some(upper) }).await?;
        }
        Ok(out)
    }

    pub(crate) async fn send_reconcile(&self, m: &ReconcileMessage) -> Result<()> {
        self.queues.send_reconcile(m).await
    }

    /// Ends a task whose execution ended (`status`) without recording it (see
    /// [`Core::end_task`]).
    async fn end_unrecorded(&self, task: &Task, status: &str, out: &mut Reconciliation) -> Result<()> {
        let why = format!("its execution ended {status} without recording the task (stopped from outside, or past a time limit); no file is acted on after this");
        self.end_task(task, why).await?;
        crate::metrics::task_ended(&task.action, "FAILED");
        self.repaired(out, &task.asset_id, RepairKind::EndedTask, task.task_id.as_str(), format!("execution {status}")).await
    }

    async fn repaired(&self, out: &mut Reconciliation, asset_id: &str, kind: RepairKind, subject: &str, detail: String) -> Result<()> {
        tracing::info!(asset_id, kind = kind.as_str(), subject, detail, "repaired");
        let repair = Repair { asset_id: asset_id.to_string(), kind, subject: subject.to_string(), detail, at: out.at.clone() };
        self.meta.record_repair(&repair).await?;
        crate::metrics::repair(kind.as_str());
        *out.repairs.entry(kind.as_str().to_string()).or_default() += 1;
        Ok(())
    }

    /// An open task older than the grace period: started if its start was lost, and if it is
    /// RUNNING but stopped moving, recounted, re-driven and signalled as its files say.
    async fn reconcile_task(&self, task: &Task, before: &str, now: DateTime<Utc>, out: &mut Reconciliation) -> Result<()> {
        let (id, asset_id) = (task.task_id.as_str(), task.asset_id.as_str());
        match task.status {
            crate::domain::TaskStatus::Queued => {
                if let Some(started) = self.start_queued(asset_id).await? {
                    self.repaired(out, asset_id, RepairKind::StartedQueued, started.as_str(), "the asset was free and its queued task waited".into()).await?;
                }
            }
            crate::domain::TaskStatus::Pending => match self.orchestrator.execution_status(&task.task_id).await? {
                None => {
                    self.start_execution(task).await?;
                    self.repaired(out, asset_id, RepairKind::StartedExecution, id, format!("PENDING since {}", task.created_at)).await?;
                }
                // Its start was not lost: it claims the task in a moment.
                Some(status) if status == "RUNNING" => {}
                // Stopped before it claimed the task.
                Some(status) => self.end_unrecorded(task, &status, out).await?,
            },
            crate::domain::TaskStatus::Running => {
                let progress = task.progress_at.as_deref().unwrap_or(&task.created_at);
                if progress >= before {
                    return Ok(());
                }
                // Looked at in full already and nothing moved since: not read again before the
                // recheck interval (a restore waits hours for S3 by design).
                if task.planning_done && !recheck_due(task.checked.as_ref(), progress, now, self.config.reconcile_recheck_seconds) {
                    out.tasks_waiting += 1;
                    return Ok(());
                }
                // The execution ended without recording the task (stopped from outside, or ended
                // by a limit no state catches; after 90 days Step Functions forgets it): nothing
                // is waiting for the task, so it is ended here rather than driven on.
                match self.orchestrator.execution_status(&task.task_id).await? {
                    Some(status) if status == "RUNNING" => {}
                    status => return self.end_unrecorded(task, status.as_deref().unwrap_or("gone"), out).await,
                }
                let Some(asset) = self.meta.get_asset(asset_id).await? else { return Ok(()) };
                if !task.planning_done {
                    self.queues.send_control(&ControlMessage::Continue { task_id: task.task_id.clone() }).await?;
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
                        self.queues.send_work(&batch).await?;
                    }
                    self.repaired(out, asset_id, RepairKind::Redrove, id, format!("{} files still QUEUED sent to the workers again", recount.queued.len())).await?;
                }
                let completed = self.complete_lost_restores(task, &recount.requested).await?;
                if completed > 0 {
                    self.repaired(out, asset_id, RepairKind::CompletedRestore, id, format!("{completed} files restored by S3 without a recorded completion")).await?;
                }
                if self.signal_if_complete(&task.task_id, now).await? {
                    self.repaired(out, asset_id, RepairKind::Signalled, id, "complete by its files; its execution told".into()).await?;
                }
                self.meta.mark_checked(&task.task_id, &out.at, progress).await?;
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
        Ok(self.commit(&task.task_id, task.action.name(), &transitions).await?.applied)
    }

    /// Compares an asset's files with S3 from after `after`, one window of keys: S3's listing in
    /// key order for up to [`window_keys`] keys, and each shard's files in that key range (a shard
    /// holds its files in key order), at most [`shard_read_limit`] a shard. The window ends at the
    /// listing's last whole key or the last key read of a shard that was cut, whichever is first:
    /// every key up to there is seen in full on both sides, whatever the asset's size. Returns that
    /// end when keys follow it (the next window starts after it).
    async fn reconcile_window(&self, asset: &Asset, after: Option<&str>, at: &str, out: &mut Reconciliation) -> Result<Option<String>> {
        // A task's files are in flux, and a purged asset has nothing left to compare.
        if asset.active_task.is_some() || asset.state == AssetState::Purged {
            return Ok(None);
        }
        out.assets_checked += 1;
        let shards = asset.shards.max(1);
        let window = window_keys(self.config.reconcile_keys_per_message, shards);
        // S3's side: listing pages up to the window, each kept up to its last whole key.
        let mut versions: Vec<KeyVersion> = Vec::new();
        let mut from = after.map(str::to_string);
        let listing_upper: Option<String> = loop {
            // One more than needed: a page's last key may be cut, and is kept for the next.
            let want = (window.saturating_sub(versions.len()) + 1).clamp(2, 1000);
            let (page, truncated) = self.objects.versions_after(&asset.bucket, &asset.prefix, from.as_deref(), want).await?;
            let (_, upper) = whole_keys(&page, truncated);
            let Some(u) = upper else {
                versions.extend(page);
                break None;
            };
            versions.extend(page.into_iter().filter(|v| v.key.as_bytes() <= u.as_bytes()));
            if versions.len() >= window {
                break Some(u);
            }
            from = Some(u);
        };
        // The registry's side: each shard's files in the listing's key range.
        let limit = shard_read_limit(window, shards);
        let upto = listing_upper.as_deref();
        let reads: Vec<(Vec<LocatedFile>, bool)> = futures::stream::iter(0..shards)
            .map(|shard| self.meta.shard_files(asset, shard, after, upto, limit))
            .buffer_unordered(SHARD_QUERIES_AT_ONCE)
            .try_collect()
            .await?;
        let cut = reads.iter().filter(|(_, more)| *more).filter_map(|(files, _)| files.last().map(|f| f.file.key.clone()));
        let upper = window_upper(listing_upper.clone(), cut);
        let files: Vec<LocatedFile> = reads.into_iter().flat_map(|(files, _)| files).collect();
        let (listed, _) = whole_keys(&versions, false);
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
        Ok(upper)
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
                format!("{} versions with the registered content deleted", versions.len() - failures.len())
            }
            (_, None) => return Ok(()),
        };
        self.repaired(out, id, kind, key, detail).await
    }
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "reconcile_sweep_tests.rs"]
mod sweep_tests;
