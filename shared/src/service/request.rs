//! Requesting a task on an asset: validated, persisted once, its execution started.

use super::{Metadata, Core};
use crate::messages::ExecutionInput;
use crate::domain::conflict::{self, Answer};
use crate::domain::{Action, Asset, AssetClass, AssetState, RestoreTier, StorageClass, TaskCounters, TaskId, TaskStatus};
use crate::error::{Error, Result};
use crate::ports::{ObjectStore, Orchestrator, Queues};
use crate::domain::{Created, PolicyRef, Task};

/// What became of a task request.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Requested {
    pub task: Task,
    /// False when this returns a task made before: by the same request, or one it joined.
    pub created: bool,
    /// Why a request that met another task got what it got (joined or queued), if it did.
    pub conflict: Option<String>,
}

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    /// Requests `action` on `asset` (as the caller read it, to authorize the request). `origin`
    /// names what asked: "request:<principal>:<id>" for API calls; the same origin makes the same
    /// task.
    pub async fn request_task(&self, asset: &Asset, action: Action, origin: &str, caller: &str, now: chrono::DateTime<chrono::Utc>) -> Result<Requested> {
        let asset_id = asset.asset_id.as_str();
        action.validate()?;
        if asset.state == AssetState::Purged {
            return Err(Error::Conflict(format!("asset {asset_id} is purged; nothing is left to {}", action.name())));
        }
        if let Action::Restore { tier: RestoreTier::Expedited, .. } = action
            && matches!(asset.storage_class, AssetClass::One(StorageClass::DeepArchive) | AssetClass::Mixed)
        {
            return Err(Error::validation(format!(
                "Expedited restores are not available for DEEP_ARCHIVE and asset {asset_id} is in {}; use Standard or Bulk",
                asset.storage_class
            )));
        }
        if action == Action::Purge
            && let Some(why) = self.purge_blocked(asset).await?
        {
            return Err(Error::Conflict(format!("purge refused: {why}")));
        }
        let requested = match self.start_task(asset, action, origin, caller, now, None).await? {
            Created::New(task) => Requested { task, created: true, conflict: None },
            Created::Existing(task) => Requested { task, created: false, conflict: None },
            Created::AssetBusy { active_task, queued_task, .. } => {
                let task = self.new_task(asset, action, origin, caller, now, None, TaskStatus::Queued);
                self.meet(task, &active_task, queued_task.as_deref()).await?
            }
        };
        tracing::info!(task_id = %requested.task.task_id, asset_id, action = action.name(), created = requested.created, conflict = ?requested.conflict, "task requested");
        Ok(requested)
    }

    /// A request that met a task holding the asset (and maybe one waiting): joined, queued or
    /// refused by the conflict matrix (`domain::conflict`).
    async fn meet(&self, task: Task, active: &str, queued: Option<&str>) -> Result<Requested> {
        let get = |id: &str| {
            let id = TaskId::parse(id);
            async move { self.meta.get_task(&id?).await?.ok_or_else(|| Error::retryable("request task", format!("task {active} ended; request again"))) }
        };
        let running = get(active).await?;
        let waiting = match queued.filter(|q| *q != active) {
            Some(q) => Some(get(q).await?),
            None => None,
        };
        let answer = match &waiting {
            Some(w) => conflict::answer_queued(&running.action, &w.action, &task.action),
            None => conflict::answer(&running.action, &task.action),
        };
        let refused = |why: &str| {
            Error::Conflict(format!(
                "asset {} has an active {} task {}: a {} request is refused: {why}",
                task.asset_id,
                running.action.fingerprint(),
                running.task_id,
                task.action.fingerprint()
            ))
        };
        match answer {
            Answer::Join => {
                let joined = waiting.filter(|w| w.action == task.action).unwrap_or(running.clone());
                let why = format!("joined task {} ({}), which does what was asked", joined.task_id, joined.status.as_str());
                Ok(Requested { task: joined, created: false, conflict: Some(why) })
            }
            Answer::Refuse(why) => Err(refused(why)),
            Answer::Queue(why) => match self.meta.queue_task(&task).await? {
                Created::New(t) => Ok(Requested { task: t, created: true, conflict: Some(format!("queued behind task {}: {why}", running.task_id)) }),
                Created::Existing(t) => Ok(Requested { task: t, created: false, conflict: None }),
                Created::AssetBusy { .. } => Err(refused("another task took the queue slot first; request again")),
            },
        }
    }

    /// Starts the asset's queued task once the task before it ended (the state machine asks after
    /// every Release), or a task whose start was lost. Returns the task started, if any.
    pub async fn start_queued(&self, asset_id: &str) -> Result<Option<TaskId>> {
        let Some(task) = self.meta.promote_queued(asset_id).await? else { return Ok(None) };
        self.start_execution(&task).await?;
        tracing::info!(task_id = %task.task_id, asset_id, "queued task started");
        Ok(Some(task.task_id))
    }

    /// Persists the task (once: the same origin names the same task) and starts its execution
    /// while it is PENDING, also for a task found existing: a crash may have come between.
    pub(crate) async fn start_task(&self, asset: &Asset, action: Action, origin: &str, caller: &str, now: chrono::DateTime<chrono::Utc>, policy: Option<PolicyRef>) -> Result<Created> {
        let task = self.new_task(asset, action, origin, caller, now, policy, TaskStatus::Pending);
        let created = self.meta.create_task(&task).await?;
        if let Created::New(task) | Created::Existing(task) = &created
            && task.status == TaskStatus::Pending
        {
            self.start_execution(task).await?;
        }
        Ok(created)
    }

    /// The task a request or a policy asks for; its id derives from the asset, action and origin.
    #[allow(clippy::too_many_arguments)]
    fn new_task(&self, asset: &Asset, action: Action, origin: &str, caller: &str, now: chrono::DateTime<chrono::Utc>, policy: Option<PolicyRef>, status: TaskStatus) -> Task {
        Task {
            task_id: TaskId::derive(&asset.asset_id, &action, origin),
            asset_id: asset.asset_id.clone(),
            title_id: asset.title_id.clone(),
            asset_type: asset.asset_type.clone(),
            action,
            status,
            requested_by: caller.to_string(),
            origin: origin.to_string(),
            created_at: crate::domain::stamp(now),
            counters: TaskCounters::default(),
            planning_done: false,
            reason: None,
            policy,
            task_token: None,
            plan_cursor: None,
            checked: None,
            progress_at: None,
        }
    }

    /// Starts the task's execution, named after the task: starting it twice is success.
    pub(crate) async fn start_execution(&self, task: &Task) -> Result<()> {
        self.orchestrator.start(task.task_id.as_str(), execution_input(task, None)?).await?;
        crate::metrics::task_started(&task.action);
        Ok(())
    }

    /// Ends a task whose execution ended without recording it (stopped from outside, or ended
    /// by a limit no state catches): a second execution, named after the task with `-ended`,
    /// takes the state machine's failure path with `why`, so the task is recorded FAILED, its
    /// asset released, a task queued behind it started and its end announced, as when its own
    /// execution fails. Starting it twice starts it once.
    pub(crate) async fn end_task(&self, task: &Task, why: String) -> Result<()> {
        self.orchestrator.start(&format!("{}-ended", task.task_id.as_str()), execution_input(task, Some(why))?).await
    }
}

fn execution_input(task: &Task, closing: Option<String>) -> Result<String> {
    let input = ExecutionInput {
        task_id: task.task_id.to_string(),
        asset_id: task.asset_id.clone(),
        action: task.action.name().to_string(),
        asset_type: task.asset_type.clone(),
        title_id: task.title_id.clone(),
        closing,
    };
    serde_json::to_string(&input).map_err(|e| Error::dependency("encode execution input", e))
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
