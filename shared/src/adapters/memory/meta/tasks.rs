//! Tasks: creation with the asset's lock or queue slot, planning, counters and completion.

use super::*;
use crate::domain::{Created, TaskCounters, TaskId, TaskStatus, Transition};
use crate::error::{Error, Result};
use crate::ports::{Committed, TaskStore};

impl TaskRow {
    /// A new task as its item holds it when put (`task_to_item`): counters at zero, planning not
    /// done, nothing of a run yet, in the Open index under its shard.
    fn new(t: &Task) -> Self {
        let task = Task {
            counters: TaskCounters::default(),
            planning_done: false,
            reason: None,
            task_token: None,
            plan_cursor: None,
            progress_at: None,
            checked: None,
            ..t.clone()
        };
        TaskRow { task, open_shard: Some(shard_key(t.task_id.as_str())), signalled: false, kept_event: None, publish_error: None }
    }
}

impl Tables {
    /// Puts the task and changes its asset (takes its lock, or its queue slot) when `free` says
    /// the asset allows it and the task is new; otherwise reads back why not: the same task made
    /// before, or another task holding (or waiting for) the asset.
    fn put_task_with(&mut self, task: &Task, free: impl Fn(&AssetRow) -> bool, take: impl FnOnce(&mut Asset)) -> Result<Created> {
        let id = task.task_id.as_str();
        if let Some(existing) = self.tasks.get(id) {
            return Ok(Created::Existing(existing.task.clone()));
        }
        match self.assets.get_mut(&task.asset_id).filter(|row| free(row)) {
            Some(row) => {
                take(&mut row.asset);
                self.tasks.insert(id.to_string(), TaskRow::new(task));
                Ok(Created::New(task.clone()))
            }
            None => self.busy(task),
        }
    }

    /// What stopped a task from taking (or queueing for) an asset (`DynamoStore::busy`).
    fn busy(&self, task: &Task) -> Result<Created> {
        match self.visible_asset(&task.asset_id) {
            Some(Asset { active_task: Some(active), active_action, queued_task, .. }) if active != task.task_id.as_str() => Ok(Created::AssetBusy {
                active_task: active.clone(),
                active_action: active_action.clone().unwrap_or_default(),
                queued_task: queued_task.clone(),
            }),
            // Between a task's end and its queued successor's start, the successor holds the asset.
            Some(Asset { active_task: None, queued_task: Some(queued), .. }) => {
                Ok(Created::AssetBusy { active_task: queued.clone(), active_action: String::new(), queued_task: Some(queued.clone()) })
            }
            None => Err(Error::NotFound(format!("asset {}", task.asset_id))),
            Some(_) => Err(Error::retryable("create task", "transaction cancelled by a concurrent change")),
        }
    }
}

impl TaskStore for MemoryMeta {
    async fn create_task(&self, task: &Task) -> Result<Created> {
        let id = task.task_id.as_str();
        // A queued task goes first: nothing else takes the asset while one waits.
        let free = |row: &AssetRow| !row.registering && row.asset.active_task.as_deref().is_none_or(|a| a == id) && row.asset.queued_task.is_none();
        let action = task.action.name();
        self.tables().put_task_with(task, free, |a| {
            a.active_task = Some(id.to_string());
            a.active_action = Some(action.to_string());
        })
    }

    async fn queue_task(&self, task: &Task) -> Result<Created> {
        let id = task.task_id.as_str();
        let free = |row: &AssetRow| row.asset.active_task.as_deref().is_some_and(|a| a != id) && row.asset.queued_task.is_none();
        self.tables().put_task_with(task, free, |a| a.queued_task = Some(id.to_string()))
    }

    async fn promote_queued(&self, asset_id: &str) -> Result<Option<Task>> {
        let mut t = self.tables();
        let Some(asset) = t.visible_asset(asset_id) else { return Ok(None) };
        let active = asset.active_task.as_deref().map(TaskId::parse).transpose()?;
        let queued = asset.queued_task.as_deref().map(TaskId::parse).transpose()?;
        let task_id = match (active, queued) {
            // A task holds the asset: start it only if its start was lost (still PENDING).
            (Some(active), _) => return Ok(t.tasks.get(active.as_str()).map(|row| row.task.clone()).filter(|task| task.status == TaskStatus::Pending)),
            (None, Some(queued)) => queued,
            (None, None) => return Ok(None),
        };
        let Some(row) = t.tasks.get_mut(task_id.as_str()) else {
            return Err(Error::dependency("promote queued task", format!("asset {asset_id} names queued task {task_id}, which does not exist")));
        };
        // The transaction's second condition (the first, the slot naming it on a free asset,
        // holds: it was read under the same lock).
        if row.task.status != TaskStatus::Queued {
            return Ok(None);
        }
        row.task.status = TaskStatus::Pending;
        let promoted = row.task.clone();
        let asset = &mut t.assets.get_mut(asset_id).expect("read above").asset;
        asset.active_task = Some(task_id.to_string());
        asset.active_action = Some(promoted.action.name().to_string());
        asset.queued_task = None;
        Ok(Some(promoted))
    }

    async fn get_task(&self, task_id: &TaskId) -> Result<Option<Task>> {
        Ok(self.tables().tasks.get(task_id.as_str()).map(|row| row.task.clone()))
    }

    async fn task_with_steps(&self, task_id: &TaskId, asset_id: &str, files: &[FileRecord]) -> Result<(Option<Task>, crate::ports::Registry)> {
        Ok((self.get_task(task_id).await?, crate::ports::FileStore::steps_of(self, asset_id, files).await?))
    }

    async fn store_token(&self, task_id: &TaskId, token: &str) -> Result<bool> {
        let mut t = self.tables();
        let Some(row) = t.tasks.get_mut(task_id.as_str()).filter(|row| row.task.status == TaskStatus::Running) else { return Ok(false) };
        row.task.task_token = Some(token.to_string());
        row.task.progress_at = Some(now());
        Ok(true)
    }

    /// On a task that does not exist DynamoDB's update (first page: `plan_cursor` absent) would
    /// make a bare item of the cursor and counts; here it is refused.
    async fn advance_plan(&self, task_id: &TaskId, prev: Option<&str>, next: &str, planned: i64) -> Result<bool> {
        let mut t = self.tables();
        let Some(row) = t.tasks.get_mut(task_id.as_str()).filter(|row| row.task.plan_cursor.as_deref() == prev) else { return Ok(false) };
        row.task.plan_cursor = Some(next.to_string());
        row.task.progress_at = Some(now());
        row.task.counters.planned += planned;
        row.task.counters.outstanding += planned;
        Ok(true)
    }

    async fn finish_planning(&self, task_id: &TaskId) -> Result<()> {
        if let Some(row) = self.tables().tasks.get_mut(task_id.as_str()) {
            row.task.planning_done = true;
        }
        Ok(())
    }

    async fn commit(&self, task_id: &TaskId, transitions: &[Transition]) -> Result<Committed> {
        let mut t = self.tables();
        let written: Vec<Option<FileRecord>> = transitions.iter().map(|tr| t.apply(task_id, tr)).collect();
        let missed: Vec<usize> = written.iter().enumerate().filter(|(_, w)| w.is_none()).map(|(i, _)| i).collect();
        let applied: Vec<&Transition> = transitions.iter().zip(&written).filter(|(_, w)| w.is_some()).map(|(tr, _)| tr).collect();
        // Only transitions that finish a file move the counters (from a step not final).
        let count = |step: FileStep| applied.iter().filter(|tr| tr.to == step && !tr.from.is_final()).count() as i64;
        let (done, failed, skipped) = (count(FileStep::Done), count(FileStep::Failed), count(FileStep::Skipped));
        let finished = done + failed + skipped;
        let kept = applied.iter().filter(|tr| tr.to == FileStep::Skipped && !tr.from.is_final() && tr.kept).count() as i64;
        if finished == 0 {
            // Nothing counted: the caller cannot tell, so it is worth a claim.
            return Ok(Committed { applied: applied.len(), missed, maybe_complete: true, written });
        }
        let maybe_complete = match t.tasks.get_mut(task_id.as_str()) {
            Some(row) => {
                let c = &mut row.task.counters;
                c.outstanding -= finished;
                c.succeeded += done;
                c.failed += failed;
                c.skipped += skipped;
                c.kept += kept;
                row.task.progress_at = Some(now());
                row.task.planning_done && row.task.counters.outstanding <= 0
            }
            // DynamoDB's update would make a bare item of the counters, planning not done.
            None => false,
        };
        Ok(Committed { applied: applied.len(), missed, maybe_complete, written })
    }

    async fn claim_signal(&self, task_id: &TaskId) -> Result<Option<Task>> {
        let mut t = self.tables();
        let claimable = |row: &&mut TaskRow| {
            let task = &row.task;
            task.planning_done && task.counters.outstanding == 0 && task.task_token.is_some() && !row.signalled && task.status == TaskStatus::Running
        };
        let Some(row) = t.tasks.get_mut(task_id.as_str()).filter(claimable) else { return Ok(None) };
        row.signalled = true;
        Ok(Some(row.task.clone()))
    }

    async fn release_signal(&self, task_id: &TaskId) -> Result<()> {
        if let Some(row) = self.tables().tasks.get_mut(task_id.as_str()) {
            row.signalled = false;
        }
        Ok(())
    }

    async fn failed_files(&self, task: &Task, limit: usize) -> Result<Vec<(String, String)>> {
        let t = self.tables();
        let Some(asset) = t.visible_asset(&task.asset_id) else { return Ok(vec![]) };
        let mut out = Vec::new();
        for shard in 0..asset.shards {
            let pk = file_pk(&asset.asset_id, shard);
            let failed = t
                .files
                .range((pk.clone(), String::new())..)
                .take_while(|((p, _), _)| *p == pk)
                .map(|(_, row)| row)
                .filter(|row| row.task_id.as_deref() == Some(task.task_id.as_str()) && row.step == Some(FileStep::Failed));
            for row in failed {
                out.push((row.file.key.clone(), row.reason.clone().unwrap_or_default()));
                // Checked after the push, as the DynamoDB adapter does (a limit of 0 gives one).
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }
}
