//! The planner: reads an asset's files from the metadata store (never from an S3 listing), locks
//! them for the task and sends them to the work queue in batches. It plans a bounded number of
//! pages per invocation and hands over to its next invocation through the control queue, so an
//! asset of any size plans in steps; a cursor fenced by a conditional write keeps two planners of
//! the same task from counting a page twice.

use super::{Metadata, Core};
use crate::messages::{ControlMessage, WorkBatch};
use crate::domain::{Asset, FileRecord, FileStep, Outcome, TaskId, TaskStatus};
use crate::error::{Error, Result};
use crate::ports::{ObjectStore, Orchestrator, Queues};
use crate::domain::{LocatedFile, Task};
use serde::{Deserialize, Serialize};

/// Where planning stands: the shard being read and the last key planned in it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct PlanCursor {
    shard: u32,
    after: Option<String>,
}

/// What one planner invocation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanReport {
    /// Every file is planned.
    Planned { files: usize },
    /// A page budget was used up; a continuation message carries on.
    Continued { files: usize },
    /// Nothing to do: the message is stale (task unknown, ended, or another planner moved on).
    Ignored(String),
    /// The task cannot run; the execution was told why.
    Refused(String),
    /// A page of assets was put at their due days (`more`: a message carries on).
    Rescheduled { assets: usize, more: bool },
    /// The task queued for an asset was started (None: none was waiting, or the asset is busy).
    StartedQueued(Option<TaskId>),
}

/// Work batches one planned page holds.
const BATCHES_PER_PAGE: usize = 10;

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    pub async fn handle_control(&self, message: ControlMessage, now: chrono::DateTime<chrono::Utc>) -> Result<PlanReport> {
        let (task_id, new_token) = match message {
            ControlMessage::Plan { task_id, task_token } => (task_id, Some(task_token)),
            ControlMessage::Continue { task_id } => (task_id, None),
            ControlMessage::Reschedule { title_id, cursor } => {
                let (assets, more) = self.reschedule_page(&crate::ports::Scope::of(title_id), cursor.as_deref()).await?;
                return Ok(PlanReport::Rescheduled { assets, more });
            }
            ControlMessage::StartQueued { asset_id } => {
                crate::domain::asset::validate_id("asset_id", &asset_id)?;
                return Ok(PlanReport::StartedQueued(self.start_queued(&asset_id).await?));
            }
        };
        let span = crate::telemetry::task_span(&task_id);
        tracing::Instrument::instrument(self.plan_task(task_id, new_token, now), span).await
    }

    async fn plan_task(&self, task_id: TaskId, new_token: Option<String>, now: chrono::DateTime<chrono::Utc>) -> Result<PlanReport> {
        let Some(task) = self.meta.get_task(&task_id).await? else {
            return Ok(PlanReport::Ignored(format!("task {task_id} does not exist")));
        };
        if task.status != TaskStatus::Running {
            return Ok(PlanReport::Ignored(format!("task {task_id} is {}", task.status.as_str())));
        }
        if let Some(token) = &new_token
            && !self.meta.store_token(&task_id, token).await?
        {
            return Ok(PlanReport::Ignored(format!("task {task_id} stopped running")));
        }
        let Some(token) = new_token.or(task.task_token.clone()) else {
            return Err(Error::validation(format!("task {task_id} has no execution token to continue with")));
        };
        let asset = self.meta.get_asset(&task.asset_id).await?;
        // A legal hold placed after the purge was asked for (or while it waited in the queue
        // slot) stops it before anything is deleted.
        let held = match (&asset, task.action) {
            (Some(a), crate::domain::Action::Purge) => self.purge_blocked(a).await?,
            _ => None,
        };
        if let (Some(why), Some(a)) = (&held, &asset)
            && task.plan_cursor.is_some()
            && a.active_task.as_deref() == Some(task_id.as_str())
        {
            // Pages went out before the hold: the workers' own gate fails those files with the
            // hold as their reason (so the counters tell what happened to each), and no more
            // pages are sent.
            self.meta.finish_planning(&task_id).await?;
            self.signal_if_complete(&task_id, now).await?;
            return Ok(PlanReport::Refused(format!("planning stopped: {why}")));
        }
        let asset = match asset {
            Some(a) if a.active_task.as_deref() == Some(task_id.as_str()) && held.is_none() => a,
            other => {
                let reason = match &other {
                    Some(_) if held.is_some() => format!("purge refused: {}", held.unwrap_or_default()),
                    None => format!("asset {} is not registered", task.asset_id),
                    Some(a) => format!("asset {} is held by task {:?}, not {task_id}", a.asset_id, a.active_task),
                };
                let (state, class) = other.map(|a| (a.state.as_str().to_string(), a.storage_class)).unwrap_or_default();
                let outcome = Outcome::refused(&task_id, reason.clone(), &state, class);
                self.orchestrator.succeed(&token, &outcome).await?;
                crate::metrics::task_ended(&task.action, outcome.status.as_str());
                return Ok(PlanReport::Refused(reason));
            }
        };
        self.plan_pages(&task, &asset, now).await
    }

    async fn plan_pages(&self, task: &Task, asset: &Asset, now: chrono::DateTime<chrono::Utc>) -> Result<PlanReport> {
        let task_id = &task.task_id;
        let mut prev = task.plan_cursor.clone();
        let mut cursor: PlanCursor = match &prev {
            Some(text) => serde_json::from_str(text).map_err(|e| Error::dependency("read plan cursor", e))?,
            None => PlanCursor::default(),
        };
        let mut planned = 0;
        for _ in 0..self.config.plan_pages_per_invocation {
            if cursor.shard >= asset.shards {
                break;
            }
            // A page is several work batches: one query reads them all (a query's cost grows
            // with the page far less than the number of queries does).
            let (files, next) = self
                .meta
                .files_page(&asset.asset_id, cursor.shard, cursor.after.as_deref(), self.config.batch_size * BATCHES_PER_PAGE)
                .await?;
            // Every file of the page is in the task; those this task moved already (a page planned
            // again after a crash) are not sent again.
            let owned = files.len();
            let queued: Vec<FileRecord> = files.into_iter().filter(|l| !moved_by(l, task_id)).map(|l| l.file).collect();
            for files in queued.chunks(self.config.batch_size) {
                let batch = WorkBatch { task_id: task_id.clone(), action: task.action, files: files.to_vec() };
                // Sent before the cursor moves: a crash in between re-sends the page (the workers'
                // conditional transitions make that harmless) rather than losing it.
                self.queues.send_work(&batch).await?;
            }
            let next_cursor = match next {
                Some(after) => PlanCursor { shard: cursor.shard, after: Some(after) },
                None => PlanCursor { shard: cursor.shard + 1, after: None },
            };
            let next_text = serde_json::to_string(&next_cursor).map_err(|e| Error::dependency("encode plan cursor", e))?;
            if !self.meta.advance_plan(task_id, prev.as_deref(), &next_text, owned as i64).await? {
                return Ok(PlanReport::Ignored(format!("another planner advanced task {task_id}")));
            }
            planned += owned;
            prev = Some(next_text);
            cursor = next_cursor;
        }
        if cursor.shard < asset.shards {
            self.queues.send_control(&ControlMessage::Continue { task_id: task_id.clone() }).await?;
            return Ok(PlanReport::Continued { files: planned });
        }
        self.meta.finish_planning(task_id).await?;
        self.signal_if_complete(task_id, now).await?;
        Ok(PlanReport::Planned { files: planned })
    }
}

/// Whether the task moved the file past QUEUED already (a planned file is QUEUED until then).
pub(crate) fn moved_by(l: &LocatedFile, task_id: &TaskId) -> bool {
    l.task_id.as_deref() == Some(task_id.as_str()) && l.step.is_some_and(|s| s != FileStep::Queued)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
