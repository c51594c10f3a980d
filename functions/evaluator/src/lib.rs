//! The policy evaluator function, on an EventBridge schedule. It takes `now` from the event's
//! time, so any date can be evaluated, reads the assets due by then through the due index and
//! creates their tasks, at most EVALUATION_MAX_STARTS a run (see slm_core::service::evaluate).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use slm_core::adapters::Clients;
use slm_core::config::Config;
use slm_core::domain::pricing::PriceTable;
use slm_core::adapters::AwsCore;
use slm_core::service::{Evaluation, Mode};
use slm_core::{Error, Result};
use std::time::Instant;

pub struct Handler {
    core: AwsCore,
}

impl Handler {
    pub fn new(clients: &Clients, config: Config) -> Self {
        Handler { core: AwsCore::new(clients, config) }
    }

    /// Evaluates at the event's time; no task starts later than the configured margin before
    /// `deadline` (the invocation's): the rest stays due for the next run.
    pub async fn handle(&self, event: EventBridgeEvent<serde_json::Value>, deadline: Option<Instant>) -> Result<Evaluation> {
        let now = evaluation_time(&event)?;
        let span = tracing::info_span!("evaluation", now = %now.to_rfc3339());
        let _enter = span.enter();
        let until = deadline.map(|d| d.checked_sub(self.core.config.evaluation_deadline_margin).unwrap_or(d));
        let mode = Mode::Run { max_starts: self.core.config.evaluation_max_starts, until };
        self.core.evaluate(now, mode, PriceTable::bundled()).await
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

    fn sample() -> EventBridgeEvent<serde_json::Value> {
        serde_json::from_str(include_str!("../../../events/evaluator.json")).unwrap()
    }

    #[test]
    fn now_comes_from_the_scheduled_event() {
        assert_eq!(evaluation_time(&sample()).unwrap().to_rfc3339(), "2027-06-01T02:00:00+00:00");
    }

    #[test]
    fn events_other_than_schedules_are_refused() {
        let mut event = sample();
        event.detail_type = "Object Created".into();
        assert!(evaluation_time(&event).is_err());
        event.detail_type = "Scheduled Event".into();
        event.time = None;
        assert!(evaluation_time(&event).is_err());
    }
}
