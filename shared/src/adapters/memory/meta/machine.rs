//! The writes the state machine makes itself (its DynamoDB states in
//! infra/statemachine/task.asl.json), under the same conditions: what an in-memory orchestrator
//! and the tests do in its place. The conditional ones answer whether their condition held
//! (where the state machine catches ConditionalCheckFailed).

use super::*;
use crate::adapters::dynamo::{RECHECK, UNPUBLISHED};
use crate::domain::{AssetState, Outcome, TaskId, TaskStatus};
use crate::error::{Error, Result};

impl MemoryMeta {
    /// `Claim`: PENDING -> RUNNING, once.
    pub fn claim_task(&self, task_id: &TaskId) -> bool {
        self.end_or_run(task_id, &[TaskStatus::Pending], |row| row.task.status = TaskStatus::Running)
    }

    /// `Record`: RUNNING -> the outcome's status, with its reason; the task leaves the `Open`
    /// index and its token goes.
    pub fn record_outcome(&self, task_id: &TaskId, outcome: &Outcome) -> bool {
        self.end_or_run(task_id, &[TaskStatus::Running], |row| ended(row, outcome.status, &outcome.reason))
    }

    /// `RecordFailure`: PENDING or RUNNING -> FAILED with the reason.
    pub fn record_failure(&self, task_id: &TaskId, reason: &str) -> bool {
        self.end_or_run(task_id, &[TaskStatus::Pending, TaskStatus::Running], |row| ended(row, TaskStatus::Failed, reason))
    }

    /// `Release`: frees the asset the task holds, records its state and class after the task,
    /// and marks it to be looked at again by the evaluator (`due_at` [`RECHECK`]). (Its
    /// `last_task`, which no port reads, is not kept.)
    pub fn release_asset(&self, asset_id: &str, task_id: &TaskId, outcome: &Outcome) -> Result<bool> {
        let state = AssetState::parse(&outcome.asset_state).ok_or_else(|| Error::validation(format!("unknown asset state {}", outcome.asset_state)))?;
        Ok(self.release(asset_id, task_id, |a| {
            a.state = state;
            a.storage_class = outcome.asset_class;
        }))
    }

    /// `ReleaseAfterFailure`: frees the asset the task holds; its state stays what it was.
    pub fn release_after_failure(&self, asset_id: &str, task_id: &TaskId) -> bool {
        self.release(asset_id, task_id, |_| {})
    }

    /// `KeepEvent`: SNS did not take the event; it is kept on the task (unconditionally) in the
    /// `Open` index's `unpublished` partition, for the reconciler to publish.
    pub fn keep_event(&self, task_id: &TaskId, event: &str, error: &str) {
        let mut t = self.tables();
        // An update of a task that does not exist would make a bare item DynamoDB's index holds
        // but no task can be read from; here it changes nothing.
        if let Some(row) = t.tasks.get_mut(task_id.as_str()) {
            row.kept_event = Some(event.to_string());
            row.publish_error = Some(error.to_string());
            row.open_shard = Some(UNPUBLISHED.to_string());
        }
    }

    fn end_or_run(&self, task_id: &TaskId, from: &[TaskStatus], change: impl FnOnce(&mut TaskRow)) -> bool {
        let mut t = self.tables();
        let Some(row) = t.tasks.get_mut(task_id.as_str()).filter(|row| from.contains(&row.task.status)) else { return false };
        change(row);
        true
    }

    fn release(&self, asset_id: &str, task_id: &TaskId, change: impl FnOnce(&mut Asset)) -> bool {
        let mut t = self.tables();
        let holder = |row: &&mut AssetRow| row.asset.active_task.as_deref() == Some(task_id.as_str());
        let Some(row) = t.assets.get_mut(asset_id).filter(holder) else { return false };
        change(&mut row.asset);
        (row.asset.active_task, row.asset.active_action) = (None, None);
        row.asset.due_at = Some(RECHECK.to_string());
        true
    }
}

fn ended(row: &mut TaskRow, status: TaskStatus, reason: &str) {
    row.task.status = status;
    row.task.reason = Some(reason.to_string());
    row.task.task_token = None;
    row.open_shard = None;
}
