//! Requesting a task on an asset: validated, persisted once, its execution started.

use super::{Metadata, Core, ExecutionInput};
use crate::domain::asset::validate_id;
use crate::domain::{Action, Asset, AssetState, RestoreTier, TaskCounters, TaskId, TaskStatus};
use crate::error::{Error, Result};
use crate::ports::{Created, ObjectStore, Orchestrator, PolicyRef, Queues, Task};

/// What became of a task request.
#[derive(Debug, Clone, PartialEq)]
pub struct Requested {
    pub task: Task,
    /// False when the same request was made before and this returns the task it made.
    pub created: bool,
}

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    /// `origin` names what asked: "request:<id>" for API calls; the same origin makes the same task.
    pub async fn request_task(&self, asset_id: &str, action: Action, origin: &str, caller: &str, now: &str) -> Result<Requested> {
        validate_id("asset_id", asset_id)?;
        action.validate()?;
        let asset = self.meta.get_asset(asset_id).await?.ok_or_else(|| Error::NotFound(format!("asset {asset_id}")))?;
        if asset.state == AssetState::Purged {
            return Err(Error::Conflict(format!("asset {asset_id} is purged; nothing is left to {}", action.name())));
        }
        if let Action::Restore { tier: RestoreTier::Expedited, .. } = action
            && (asset.storage_class == "DEEP_ARCHIVE" || asset.storage_class == "MIXED")
        {
            return Err(Error::validation(format!(
                "Expedited restores are not available for DEEP_ARCHIVE and asset {asset_id} is in {}; use Standard or Bulk",
                asset.storage_class
            )));
        }
        let created = self.start_task(&asset, action, origin, caller, now, None).await?;
        let (task, created) = match created {
            Created::New(t) => (t, true),
            Created::Existing(t) => (t, false),
            Created::AssetBusy { active_task, active_action } => {
                return Err(Error::Conflict(format!(
                    "asset {asset_id} has an active {active_action} task {active_task}; a {} request is refused until it ends",
                    action.name()
                )));
            }
        };
        tracing::info!(task_id = %task.task_id, asset_id, action = action.name(), created, "task requested");
        Ok(Requested { task, created })
    }

    /// Persists the task (once: the same origin names the same task) and starts its execution
    /// while it is PENDING, also for a task found existing: a crash may have come between.
    pub(crate) async fn start_task(&self, asset: &Asset, action: Action, origin: &str, caller: &str, now: &str, policy: Option<PolicyRef>) -> Result<Created> {
        let task = Task {
            task_id: TaskId::derive(&asset.asset_id, &action, origin),
            asset_id: asset.asset_id.clone(),
            title_id: asset.title_id.clone(),
            asset_type: asset.asset_type.clone(),
            action,
            status: TaskStatus::Pending,
            requested_by: caller.to_string(),
            origin: origin.to_string(),
            created_at: now.to_string(),
            counters: TaskCounters::default(),
            planning_done: false,
            reason: None,
            policy,
            task_token: None,
            plan_cursor: None,
        };
        let created = self.meta.create_task(&task).await?;
        if let Created::New(task) | Created::Existing(task) = &created
            && task.status == TaskStatus::Pending
        {
            let input = ExecutionInput {
                task_id: task.task_id.to_string(),
                asset_id: task.asset_id.clone(),
                action: task.action.name().to_string(),
                asset_type: task.asset_type.clone(),
                title_id: task.title_id.clone(),
            };
            let input = serde_json::to_string(&input).map_err(|e| Error::dependency("encode execution input", e))?;
            self.orchestrator.start(&task.task_id, input).await?;
        }
        Ok(created)
    }
}
