//! Completion events the state machine could not publish (SNS refused or was unreachable after
//! its retries): the execution keeps the event on its task, and the reconciler publishes it.

use super::{Core, Metadata};
use crate::messages::TaskEvent;
use crate::error::Result;
use crate::ports::{ObjectStore, Orchestrator, Queues};

/// Kept events one reconciler run publishes.
const EVENTS_PER_RUN: usize = 500;

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    /// Publishes the kept events and forgets each once published; returns how many. An event
    /// that does not read as one is left kept and logged (it is the state machine's own).
    pub async fn publish_kept_events(&self) -> Result<usize> {
        let mut published = 0;
        for (task_id, kept) in self.meta.unpublished_events(EVENTS_PER_RUN).await? {
            let event: TaskEvent = match serde_json::from_str(&kept) {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(task_id = %task_id, error = %e, "a kept completion event does not read as one");
                    continue;
                }
            };
            self.queues.publish_event(&event).await?;
            if self.meta.event_published(&task_id, &kept).await? {
                tracing::info!(task_id = %task_id, event_id = %event.event_id, "kept completion event published");
                published += 1;
            }
        }
        Ok(published)
    }
}
