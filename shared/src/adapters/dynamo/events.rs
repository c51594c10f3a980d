//! Completion events kept on their task when the state machine could not publish them: the
//! task is put back in the sparse `Open` index under the partition `unpublished` with its event
//! (`kept_event`), and leaves it once the reconciler has published it.

use super::*;
use crate::ports::EventStore;
use repair::OPEN_INDEX;

/// The Open index partition of tasks whose event waits to be published (the state machine's
/// RecordUnpublished state writes it).
pub const UNPUBLISHED: &str = "unpublished";

impl EventStore for DynamoStore {
    async fn unpublished_events(&self, limit: usize) -> Result<Vec<(TaskId, String)>> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.tasks)
            .index_name(OPEN_INDEX)
            .key_condition_expression("open_shard = :u")
            .expression_attribute_values(":u", s(UNPUBLISHED))
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(|e| sdk_error("read unpublished events", e))?;
        out.items()
            .iter()
            .filter_map(|item| Some((get_s(item, "task_id"), opt_s(item, attr::KEPT_EVENT)?)))
            .map(|(id, event)| Ok((TaskId::parse(&id?)?, event)))
            .collect()
    }

    async fn event_published(&self, task_id: &TaskId, event: &str) -> Result<bool> {
        let res = self
            .client
            .update_item()
            .table_name(&self.tables.tasks)
            .key("task_id", s(task_id.as_str()))
            .update_expression("REMOVE kept_event, publish_error, open_shard")
            .condition_expression("open_shard = :u AND kept_event = :e")
            .expression_attribute_values(":u", s(UNPUBLISHED))
            .expression_attribute_values(":e", s(event))
            .send()
            .await;
        Ok(conditional("forget a published event", res)?.is_some())
    }
}
