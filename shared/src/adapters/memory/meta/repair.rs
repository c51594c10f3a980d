//! The reconciler's reads and writes: open tasks through the sparse `Open` index, an asset's
//! files in key order, the sweep record and its fences, recounts, and the record of repairs.

use super::*;
use crate::domain::repair::sweep_cursor;
use crate::domain::{TaskCounters, TaskId, TaskStatus};
use crate::error::{Error, Result};
use crate::ports::{Recount, RepairStore};

/// Open tasks one page of the `Open` index holds (the adapter's Limit).
const OPEN_PAGE: usize = 100;

impl RepairStore for MemoryMeta {
    /// The `Open` index is eventually consistent on DynamoDB; consistent here. Its order:
    /// `created_at`, then the task id.
    async fn open_tasks(&self, shard: u32, before: &str, cursor: Option<&str>) -> Result<(Vec<Task>, Option<String>)> {
        let after = match cursor {
            Some(c) => Some(c.split_once('|').ok_or_else(|| Error::validation(format!("bad open-task cursor {c:?}")))?),
            None => None,
        };
        let t = self.tables();
        let shard = format!("{shard:02}");
        let mut open: Vec<((&str, &str), &Task)> = t
            .tasks
            .values()
            .filter(|row| row.open_shard.as_deref() == Some(shard.as_str()) && row.task.created_at.as_str() < before)
            .map(|row| ((row.task.created_at.as_str(), row.task.task_id.as_str()), &row.task))
            .collect();
        open.sort_by(|a, b| a.0.cmp(&b.0));
        let (tasks, last) = page(open.into_iter().filter(|(key, _)| after.is_none_or(|a| *key > a)), OPEN_PAGE);
        Ok((tasks.into_iter().cloned().collect(), last.map(|(created, id)| format!("{created}|{id}"))))
    }

    async fn shard_files(&self, asset: &Asset, shard: u32, after: Option<&str>, upto: Option<&str>, limit: usize) -> Result<(Vec<LocatedFile>, bool)> {
        // The adapter's range is BETWEEN `after` and a NUL, and `upto`: DynamoDB refuses one whose
        // lower bound is above its upper one.
        if let (Some(after), Some(upto)) = (after, upto)
            && format!("{after}\u{0}").as_str() > upto
        {
            return Err(Error::dependency("read a shard's files in order", "BETWEEN requires its upper bound to be at least its lower bound"));
        }
        let t = self.tables();
        let pk = file_pk(&asset.asset_id, shard);
        let mut files: Vec<LocatedFile> = t
            .files
            .range((pk.clone(), String::new())..)
            .take_while(|((p, _), _)| *p == pk)
            .filter(|((_, key), _)| after.is_none_or(|a| key.as_str() > a) && upto.is_none_or(|u| key.as_str() <= u))
            .take(limit + 1)
            .map(|(_, row)| row.located())
            .collect();
        let more = files.len() > limit;
        files.truncate(limit);
        Ok((files, more))
    }

    async fn sweep(&self) -> Result<Option<Sweep>> {
        Ok(self.tables().sweep.clone())
    }

    async fn start_sweep(&self, prev: Option<&Sweep>, at: &str) -> Result<bool> {
        let mut t = self.tables();
        // Fenced on the record as read: its id and its last move.
        let holds = match (prev, &t.sweep) {
            (None, current) => current.is_none(),
            (Some(p), Some(current)) => current.at == p.at && current.progress_at == p.progress_at,
            (Some(_), None) => false,
        };
        if holds {
            let now = now();
            t.sweep = Some(Sweep { at: at.to_string(), started_at: now.clone(), progress_at: now, cursor: Some(sweep_cursor(at, None)), chains: 0 });
        }
        Ok(holds)
    }

    async fn sweep_page(&self, at: &str, prev: &str, next: Option<&str>, chains: usize) -> Result<bool> {
        let mut t = self.tables();
        let Some(sweep) = t.sweep.as_mut().filter(|s| s.at == at && s.cursor.as_deref() == Some(prev)) else { return Ok(false) };
        sweep.cursor = next.map(str::to_string);
        sweep.progress_at = now();
        sweep.chains += chains as i64;
        Ok(true)
    }

    async fn sweep_moved(&self, at: &str, ended: bool) -> Result<bool> {
        let mut t = self.tables();
        let Some(sweep) = t.sweep.as_mut().filter(|s| s.at == at) else { return Ok(false) };
        sweep.progress_at = now();
        sweep.chains -= i64::from(ended);
        Ok(true)
    }

    async fn start_asset_sweep(&self, asset_id: &str, cursor: &str) -> Result<()> {
        // Only on an asset that exists (registering or not); a missing one is no error.
        if let Some(row) = self.tables().assets.get_mut(asset_id) {
            row.asset.sweep_cursor = Some(cursor.to_string());
        }
        Ok(())
    }

    async fn asset_sweep_step(&self, asset_id: &str, prev: &str, next: Option<&str>) -> Result<bool> {
        let mut t = self.tables();
        let Some(row) = t.assets.get_mut(asset_id).filter(|row| row.asset.sweep_cursor.as_deref() == Some(prev)) else { return Ok(false) };
        row.asset.sweep_cursor = next.map(str::to_string);
        Ok(true)
    }

    async fn mark_checked(&self, task_id: &TaskId, at: &str, progress: &str) -> Result<()> {
        if let Some(row) = self.tables().tasks.get_mut(task_id.as_str()).filter(|row| row.task.status == TaskStatus::Running) {
            row.task.checked = Some((at.to_string(), progress.to_string()));
        }
        Ok(())
    }

    async fn recount(&self, task: &Task, asset: &Asset, keep: usize) -> Result<Recount> {
        let t = self.tables();
        let mut out = Recount::default();
        for shard in 0..asset.shards.max(1) {
            let pk = file_pk(&asset.asset_id, shard);
            for (_, f) in t.files.range((pk.clone(), String::new())..).take_while(|((p, _), _)| *p == pk) {
                out.count(task, f.located(), keep);
            }
        }
        Ok(out)
    }

    async fn set_counters(&self, task_id: &TaskId, from: &TaskCounters, to: &TaskCounters) -> Result<bool> {
        let mut t = self.tables();
        let Some(row) = t.tasks.get_mut(task_id.as_str()).filter(|row| row.task.status == TaskStatus::Running && row.task.counters == *from) else {
            return Ok(false);
        };
        row.task.counters = *to;
        Ok(true)
    }

    async fn take_s3_state(&self, file: &FileRecord, now: &FileRecord) -> Result<bool> {
        let mut t = self.tables();
        // Only while no task acts on it: a task's own steps are the truth while it runs.
        let idle = |row: &&mut FileRow| row.step.is_none_or(FileStep::is_final);
        let Some(row) = t.files.get_mut(&file_key(&file.asset_id, file.shard, &file.key)).filter(idle) else { return Ok(false) };
        let f = &mut row.file;
        (f.version_id, f.etag, f.size, f.storage_class, f.state) = (now.version_id.clone(), now.etag.clone(), now.size, now.storage_class, now.state);
        row.restore_expiry = None;
        if now.size != file.size
            && let Some(row) = t.assets.get_mut(&file.asset_id)
        {
            // By the sizes given, as the adapter's ADD. DynamoDB's number may go below zero,
            // which the asset then reads as 0; here it stops at 0.
            let total = i128::from(row.asset.total_bytes) + i128::from(now.size) - i128::from(file.size);
            row.asset.total_bytes = total.max(0) as u64;
        }
        Ok(true)
    }

    async fn record_repair(&self, repair: &Repair) -> Result<()> {
        let id = format!("{}#{}#{}", repair.at, repair.kind.as_str(), repair.subject);
        self.tables().repairs.insert((repair.asset_id.clone(), id), repair.clone());
        Ok(())
    }

    /// Oldest first (by `repair_id`, its time first); kept for good (DynamoDB's TTL removes them
    /// after 90 days in its own time).
    async fn repairs(&self, asset_id: &str) -> Result<Vec<Repair>> {
        let t = self.tables();
        let from = (asset_id.to_string(), String::new());
        Ok(t.repairs.range(from..).take_while(|((a, _), _)| a == asset_id).map(|(_, r)| r.clone()).collect())
    }
}
