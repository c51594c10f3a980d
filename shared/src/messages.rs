//! Every message slm's parts send each other, and the event subscribers receive: the control,
//! work and reconcile queues' messages, a task execution's input and the completion event on the
//! SNS topic. The [`crate::ports::Queues`] port takes them typed and its adapter writes them;
//! the functions read them back with [`crate::json::parse`] (unknown fields refused).

use crate::domain::{Action, FileRecord, TaskId};
use serde::{Deserialize, Serialize};

/// A message on the control queue, read by the planner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ControlMessage {
    /// Sent by the state machine: plan the task and hold its token until the task completes.
    Plan { task_id: TaskId, task_token: String },
    /// Sent by the planner to itself: go on planning from the stored cursor.
    Continue { task_id: TaskId },
    /// Sent when a title's dates (`title_id`) or a policy (no title: every asset) changed: put
    /// the assets at their new due day, a page at a time from `cursor`.
    Reschedule { title_id: Option<String>, cursor: Option<String> },
    /// Sent by the state machine after a task released its asset: start the task queued for it.
    StartQueued { asset_id: String },
}

/// A message on the work queue: one batch of files of one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkBatch {
    pub task_id: TaskId,
    pub action: Action,
    pub files: Vec<FileRecord>,
}

/// The input of a task's execution: what the state machine needs to record and announce it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionInput {
    pub task_id: String,
    pub asset_id: String,
    pub action: String,
    pub asset_type: String,
    pub title_id: String,
    /// Set only on the execution that ends a task whose own execution ended without recording
    /// it: why, and the state machine takes its failure path at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closing: Option<String>,
}

/// A message on the reconcile queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReconcileMessage {
    /// A page of assets of the sweep `at` (its id) from `cursor`, each compared with S3 from its
    /// first key; acted on only while the sweep's cursor is `<at>|<cursor>`.
    Assets { at: String, cursor: Option<String> },
    /// One asset of the sweep `at`, from after the key `after`; acted on only while the asset's
    /// sweep cursor is `<at>|<after>`.
    Asset { at: String, asset_id: String, after: Option<String> },
    /// A backfill of a prefix by the key layout, from after the key `after`.
    Backfill { bucket: String, prefix: String, after: Option<String>, today: String },
    /// A backfill of one registering asset, from its stored cursor.
    BackfillAsset { asset_id: String },
    /// A backfill from an inventory CSV in S3, from the byte `offset`.
    Inventory { bucket: String, key: String, schema: String, offset: u64, today: String },
}

/// The completion event subscribers receive on the SNS topic: one per task, with a stable
/// `event_id` to deduplicate on (delivery is at least once) and message attributes for filter
/// policies. The state machine builds it (its Announce state); when it cannot publish it, the
/// event is kept on the task and the reconciler publishes this same document. Described for
/// subscribers in docs/openapi.yaml (webhook `taskCompleted`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskEvent {
    pub event_id: String,
    pub event_type: String,
    pub task_id: String,
    pub asset_id: String,
    pub title_id: String,
    pub asset_type: String,
    pub action: String,
    pub status: String,
    pub succeeded: i64,
    pub failed: i64,
    pub skipped: i64,
    pub reason: String,
}

impl TaskEvent {
    /// The SNS message attributes subscribers filter on, as the state machine sets them.
    pub fn attributes(&self) -> [(&'static str, &str); 5] {
        [
            ("event_type", &self.event_type),
            ("action", &self.action),
            ("asset_type", &self.asset_type),
            ("title_id", &self.title_id),
            ("status", &self.status),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;


    #[test]
    fn the_event_the_state_machine_keeps_reads_back_with_its_attributes() {
        let kept = r#"{"event_id":"t-1:TaskCompleted","event_type":"TaskCompleted","task_id":"t-1","asset_id":"a","title_id":"show","asset_type":"editorial","action":"archive","status":"SUCCEEDED","succeeded":3,"failed":0,"skipped":1,"reason":""}"#;
        let e: TaskEvent = serde_json::from_str(kept).unwrap();
        assert_eq!(e.attributes()[0], ("event_type", "TaskCompleted"));
        assert_eq!(e.attributes()[4], ("status", "SUCCEEDED"));
        assert_eq!(serde_json::to_value(&e).unwrap(), serde_json::from_str::<serde_json::Value>(kept).unwrap());
    }

    #[test]
    fn an_event_with_fields_it_does_not_know_is_refused() {
        assert!(serde_json::from_str::<TaskEvent>(r#"{"event_id":"x","extra":1}"#).is_err());
    }
}
