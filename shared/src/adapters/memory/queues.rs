//! The control, work and reconcile queues and the events topic in memory: what was sent, in
//! order, for a test to take.

use crate::error::{Error, Result};
use crate::messages::{ControlMessage, ReconcileMessage, TaskEvent, WorkBatch};
use crate::ports::Queues;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// One of slm's queues, or its events topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Queue {
    Work,
    Control,
    Reconcile,
    Events,
}

#[derive(Debug, Default)]
pub struct MemoryQueues {
    sent: Mutex<Sent>,
}

#[derive(Debug, Default)]
struct Sent {
    /// Each queue's message bodies, oldest first: JSON, as SQS and SNS carry them.
    bodies: HashMap<Queue, Vec<String>>,
    /// Sends still to fail, by queue.
    failing: HashMap<Queue, usize>,
}

impl MemoryQueues {
    pub fn new() -> Self {
        Self::default()
    }

    fn sent(&self) -> MutexGuard<'_, Sent> {
        self.sent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next `times` sends to `queue` fail as throttled (Retryable), sending nothing.
    pub fn fail_next(&self, queue: Queue, times: usize) {
        *self.sent().failing.entry(queue).or_default() += times;
    }

    /// The work batches sent since the last take, oldest first.
    pub fn take_work(&self) -> Vec<WorkBatch> {
        self.take(Queue::Work, "work batch")
    }

    pub fn take_control(&self) -> Vec<ControlMessage> {
        self.take(Queue::Control, "control message")
    }

    pub fn take_reconcile(&self) -> Vec<ReconcileMessage> {
        self.take(Queue::Reconcile, "reconcile message")
    }

    /// The completion events published since the last take.
    pub fn take_events(&self) -> Vec<TaskEvent> {
        self.take(Queue::Events, "task event")
    }

    /// Takes a queue's messages, each read back as the functions read it (unknown fields
    /// refused): a message they could not read fails the test here.
    fn take<T: DeserializeOwned>(&self, queue: Queue, what: &str) -> Vec<T> {
        let bodies = self.sent().bodies.remove(&queue).unwrap_or_default();
        bodies.iter().map(|b| crate::json::parse(what, b).unwrap_or_else(|e| panic!("{queue:?}: {e}: {b}"))).collect()
    }

    fn send(&self, queue: Queue, message: &impl Serialize, what: &'static str) -> Result<()> {
        let body = serde_json::to_string(message).map_err(|e| Error::dependency(what, e))?;
        let mut sent = self.sent();
        if let Some(n) = sent.failing.get_mut(&queue).filter(|n| **n > 0) {
            *n -= 1;
            return Err(Error::retryable(what, "ThrottlingException: injected"));
        }
        sent.bodies.entry(queue).or_default().push(body);
        Ok(())
    }
}

impl Queues for MemoryQueues {
    async fn publish_event(&self, event: &TaskEvent) -> Result<()> {
        self.send(Queue::Events, event, "publish task event")
    }

    async fn send_work(&self, batch: &WorkBatch) -> Result<()> {
        self.send(Queue::Work, batch, "send work batch")
    }

    async fn send_control(&self, message: &ControlMessage) -> Result<()> {
        self.send(Queue::Control, message, "send control message")
    }

    async fn send_reconcile(&self, message: &ReconcileMessage) -> Result<()> {
        self.send(Queue::Reconcile, message, "send reconcile message")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Action, TaskId};

    fn task() -> TaskId {
        TaskId::parse("t-0123456789abcdef0123456789abcdef").unwrap()
    }

    fn event(status: &str) -> TaskEvent {
        let id = task().as_str().to_string();
        TaskEvent {
            event_id: format!("{id}:TaskCompleted"),
            event_type: "TaskCompleted".into(),
            task_id: id,
            asset_id: "a".into(),
            title_id: "show".into(),
            asset_type: "editorial".into(),
            action: "purge".into(),
            status: status.into(),
            succeeded: 1,
            failed: 0,
            skipped: 0,
            reason: String::new(),
        }
    }

    #[tokio::test]
    async fn messages_are_kept_in_order_per_queue_and_taken_once() {
        // GIVEN two control messages and a work batch sent between them
        let q = MemoryQueues::new();
        let batch = WorkBatch { task_id: task(), action: Action::Purge, files: vec![] };
        q.send_control(&ControlMessage::Continue { task_id: task() }).await.unwrap();
        q.send_work(&batch).await.unwrap();
        q.send_control(&ControlMessage::StartQueued { asset_id: "a".into() }).await.unwrap();
        // WHEN they are taken, twice
        let control = q.take_control();
        // THEN each queue holds its own, in order, and a take drains it
        assert_eq!(control, [ControlMessage::Continue { task_id: task() }, ControlMessage::StartQueued { asset_id: "a".into() }]);
        assert_eq!(q.take_work(), [batch]);
        assert!(q.take_control().is_empty());
        assert!(q.take_reconcile().is_empty());
    }

    #[tokio::test]
    async fn published_events_are_taken_as_subscribers_read_them() {
        let q = MemoryQueues::new();
        q.publish_event(&event("SUCCEEDED")).await.unwrap();
        q.send_reconcile(&ReconcileMessage::BackfillAsset { asset_id: "a".into() }).await.unwrap();
        assert_eq!(q.take_events(), [event("SUCCEEDED")]);
        assert_eq!(q.take_reconcile(), [ReconcileMessage::BackfillAsset { asset_id: "a".into() }]);
    }

    #[tokio::test]
    async fn an_injected_failure_is_retryable_and_sends_nothing_then_the_next_send_goes() {
        // GIVEN the events topic armed to throttle once
        let q = MemoryQueues::new();
        q.fail_next(Queue::Events, 1);
        // WHEN an event is published twice
        let first = q.publish_event(&event("FAILED")).await;
        let second = q.publish_event(&event("SUCCEEDED")).await;
        // THEN the first is retryable and sent nothing; the second was sent
        assert!(first.is_err_and(|e| e.is_retryable()));
        assert!(second.is_ok());
        assert_eq!(q.take_events(), [event("SUCCEEDED")]);
    }
}
