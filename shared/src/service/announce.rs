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

#[cfg(test)]
mod tests {
    use crate::adapters::memory::Queue;
    use crate::domain::{Action, StorageClass, Task};
    use crate::messages::TaskEvent;
    use crate::ports::EventStore;
    use crate::service::testing::{MemoryCore, core};

    /// A task whose completion event SNS did not take: kept on it by the state machine.
    async fn kept(core: &MemoryCore, asset_id: &str) -> (Task, TaskEvent) {
        core.asset_of(asset_id, 1).await;
        let task = core.request(asset_id, Action::Archive { storage_class: StorageClass::Glacier }, "r1").await;
        let id = task.task_id.to_string();
        let event = TaskEvent {
            event_id: format!("{id}:TaskCompleted"),
            event_type: "TaskCompleted".into(),
            task_id: id,
            asset_id: asset_id.into(),
            title_id: "tln".into(),
            asset_type: "editorial".into(),
            action: "archive".into(),
            status: "SUCCEEDED".into(),
            succeeded: 1,
            failed: 0,
            skipped: 0,
            reason: String::new(),
        };
        core.meta.keep_event(&task.task_id, &serde_json::to_string(&event).unwrap(), "SNS: throttled");
        (task, event)
    }

    #[tokio::test]
    async fn kept_events_are_published_once_and_forgotten() {
        // GIVEN two tasks whose events were kept
        let core = core();
        let (_, first) = kept(&core, "cam-1").await;
        let (_, second) = kept(&core, "cam-2").await;
        // WHEN the kept events are published, twice
        let published = core.publish_kept_events().await.unwrap();
        let again = core.publish_kept_events().await.unwrap();
        // THEN each was published once, as kept, and none is kept any more
        assert_eq!((published, again), (2, 0));
        let mut events = core.queues.take_events();
        events.sort_by(|a, b| a.asset_id.cmp(&b.asset_id));
        assert_eq!(events, [first, second]);
        assert!(core.meta.unpublished_events(10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failing_publish_keeps_the_event_for_the_next_run() {
        // GIVEN a kept event, and SNS throttling the next publish
        let core = core();
        let (task, event) = kept(&core, "cam-1").await;
        core.queues.fail_next(Queue::Events, 1);
        // WHEN the kept events are published
        let err = core.publish_kept_events().await.unwrap_err();
        // THEN the run fails retryable, nothing was published, and the event is still kept
        assert!(err.is_retryable(), "{err}");
        assert!(core.queues.take_events().is_empty());
        assert_eq!(core.meta.unpublished_events(10).await.unwrap().len(), 1);
        // AND the next run publishes it
        assert_eq!(core.publish_kept_events().await.unwrap(), 1);
        assert_eq!(core.queues.take_events(), [event]);
        assert!(core.meta.unpublished_events(10).await.unwrap().iter().all(|(id, _)| *id != task.task_id));
    }

    #[tokio::test]
    async fn a_kept_event_that_does_not_read_as_one_is_left_kept_and_the_others_are_published() {
        // GIVEN a kept event, and another task kept with something that is no event
        let core = core();
        let (_, event) = kept(&core, "cam-1").await;
        let (broken, _) = kept(&core, "cam-2").await;
        core.meta.keep_event(&broken.task_id, "{\"not\": \"an event\"}", "SNS: throttled");
        // WHEN the kept events are published
        let published = core.publish_kept_events().await.unwrap();
        // THEN the event is published, and the broken one stays kept
        assert_eq!(published, 1);
        assert_eq!(core.queues.take_events(), [event]);
        let left: Vec<_> = core.meta.unpublished_events(10).await.unwrap().into_iter().map(|(id, _)| id).collect();
        assert_eq!(left, [broken.task_id]);
    }
}
