//! The completion event subscribers receive on the SNS topic: one per task, with a stable
//! `event_id` to deduplicate on (delivery is at least once) and message attributes for filter
//! policies. The state machine builds it (its Announce state); when it cannot publish it, the
//! event is kept on the task and the reconciler publishes this same document.

use serde::{Deserialize, Serialize};

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
