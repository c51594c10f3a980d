//! The reconciler function (anti-entropy). On its EventBridge schedule it repairs open tasks that
//! stopped moving and starts the asset sweep; on its queue it compares assets with S3, a bounded
//! number of keys a message (see slm_core::service::reconcile). `now` is the event's time.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::SqsEvent;
use slm_core::adapters::{AwsCore, Clients};
use slm_core::batch::{lambda::QueueFunction, process};
use slm_core::config::Config;
use slm_core::service::Reconciliation;
use slm_core::messages::ReconcileMessage;
use slm_core::{Error, Result};

pub struct Reconciler {
    core: AwsCore,
}

/// What the function is invoked with: its schedule or its queue.
pub enum Invocation {
    Schedule(EventBridgeEvent<serde_json::Value>),
    Queue(SqsEvent),
}

impl Invocation {
    /// Tells the two apart by shape: SQS events carry `Records`.
    pub fn parse(payload: serde_json::Value) -> Result<Self> {
        let queue = payload.get("Records").is_some();
        let invalid = |e: serde_json::Error| Error::validation(format!("not a reconciler event: {e}"));
        Ok(match queue {
            true => Invocation::Queue(serde_json::from_value(payload).map_err(invalid)?),
            false => Invocation::Schedule(serde_json::from_value(payload).map_err(invalid)?),
        })
    }
}

impl Reconciler {
    pub fn new(clients: &Clients, config: Config) -> Self {
        Reconciler { core: AwsCore::new(clients, config) }
    }

    pub async fn handle_schedule(&self, event: EventBridgeEvent<serde_json::Value>) -> Result<Reconciliation> {
        if event.detail_type != "Scheduled Event" {
            return Err(Error::validation(format!("expected a Scheduled Event, got {:?}", event.detail_type)));
        }
        let now = event.time.ok_or_else(|| Error::validation("scheduled event without a time"))?;
        let report = self.core.reconcile(now).await?;
        tracing::info!(?report, "reconciliation started");
        Ok(report)
    }

}

impl QueueFunction for Reconciler {
    type Message = ReconcileMessage;

    fn parse(&self, body: &str) -> Result<ReconcileMessage> {
        slm_core::json::parse("reconcile message", body)
    }

    async fn handle(&self, messages: Vec<(String, ReconcileMessage)>, _: Option<std::time::Instant>) -> Vec<String> {
        process(messages, 2, |message| async move {
            let report = self.core.handle_reconcile(message).await?;
            tracing::info!(?report, "reconcile message done");
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slm_core::batch::parse;

    #[test]
    fn the_schedule_and_the_queue_are_told_apart() {
        let schedule = serde_json::from_str(include_str!("../../../events/reconciler.json")).unwrap();
        assert!(matches!(Invocation::parse(schedule).unwrap(), Invocation::Schedule(e) if e.time.is_some()));
        let queue = serde_json::json!({"Records": [{"messageId": "1", "body": "{}"}]});
        assert!(matches!(Invocation::parse(queue).unwrap(), Invocation::Queue(_)));
        assert!(Invocation::parse(serde_json::json!({"Records": "nope"})).is_err());
    }

    #[test]
    fn reconcile_messages_are_validated() {
        let m = parse::<ReconcileMessage>("reconcile message", r#"{"kind":"asset","at":"2027-01-01T00:00:00Z","asset_id":"a","after":"k"}"#).unwrap();
        assert!(matches!(m, ReconcileMessage::Asset { .. }));
        assert!(parse::<ReconcileMessage>("reconcile message", r#"{"kind":"assets","at":"x","cursor":null,"extra":1}"#).is_err());
    }
}
