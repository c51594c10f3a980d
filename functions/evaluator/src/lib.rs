//! The policy evaluator function, on an EventBridge schedule. It takes `now` from the event's
//! time, so any date can be evaluated. The Policy Manager (policies, due-asset index, paced task
//! creation) is the next piece of work; until it lands there are no policies to evaluate and the
//! evaluation reports that, having validated its input.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::Serialize;
use slm_core::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    pub evaluated_at: String,
    pub policies: usize,
    pub tasks_created: usize,
}

#[derive(Default)]
pub struct Handler;

impl Handler {
    pub fn new() -> Self {
        Handler
    }

    pub async fn handle(&self, event: EventBridgeEvent<serde_json::Value>) -> Result<Evaluation> {
        let now = evaluation_time(&event)?;
        tracing::info!(now = %now.to_rfc3339(), "policy evaluation");
        Ok(Evaluation { evaluated_at: now.to_rfc3339(), policies: 0, tasks_created: 0 })
    }
}

/// The scheduled event's time is the evaluation's `now`; an event without one is refused.
pub fn evaluation_time(event: &EventBridgeEvent<serde_json::Value>) -> Result<DateTime<Utc>> {
    if event.detail_type != "Scheduled Event" {
        return Err(Error::validation(format!("expected a Scheduled Event, got {:?}", event.detail_type)));
    }
    event.time.ok_or_else(|| Error::validation("scheduled event without a time"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn now_comes_from_the_scheduled_event() {
        let event: EventBridgeEvent<serde_json::Value> = serde_json::from_str(include_str!("../../../events/evaluator.json")).unwrap();
        let evaluation = Handler::new().handle(event).await.unwrap();
        assert_eq!(evaluation.evaluated_at, "2027-06-01T02:00:00+00:00");
    }

    #[test]
    fn events_other_than_schedules_are_refused() {
        let mut event: EventBridgeEvent<serde_json::Value> = serde_json::from_str(include_str!("../../../events/evaluator.json")).unwrap();
        event.detail_type = "Object Created".into();
        assert!(evaluation_time(&event).is_err());
        event.detail_type = "Scheduled Event".into();
        event.time = None;
        assert!(evaluation_time(&event).is_err());
    }
}
