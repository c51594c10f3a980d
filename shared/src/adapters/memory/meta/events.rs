//! Completion events kept on their task when the state machine could not publish them (see
//! [`MemoryMeta::keep_event`]), in the `Open` index's `unpublished` partition until published.

use super::*;
use crate::adapters::dynamo::UNPUBLISHED;
use crate::domain::TaskId;
use crate::error::Result;
use crate::ports::EventStore;

impl EventStore for MemoryMeta {
    /// The `Open` index is eventually consistent on DynamoDB; consistent here. In its order:
    /// `created_at`, then the task id.
    async fn unpublished_events(&self, limit: usize) -> Result<Vec<(TaskId, String)>> {
        let t = self.tables();
        let mut kept: Vec<&TaskRow> = t.tasks.values().filter(|row| row.open_shard.as_deref() == Some(UNPUBLISHED)).collect();
        kept.sort_by(|a, b| (&a.task.created_at, &a.task.task_id).cmp(&(&b.task.created_at, &b.task.task_id)));
        Ok(kept
            .into_iter()
            .take(clamp(limit))
            .filter_map(|row| Some((row.task.task_id.clone(), row.kept_event.clone()?)))
            .collect())
    }

    async fn event_published(&self, task_id: &TaskId, event: &str) -> Result<bool> {
        let mut t = self.tables();
        let kept = |row: &&mut TaskRow| row.open_shard.as_deref() == Some(UNPUBLISHED) && row.kept_event.as_deref() == Some(event);
        let Some(row) = t.tasks.get_mut(task_id.as_str()).filter(kept) else { return Ok(false) };
        (row.kept_event, row.publish_error, row.open_shard) = (None, None, None);
        Ok(true)
    }
}
