//! The planner function: control messages (plan a task, or go on planning it).

use slm_core::adapters::{AwsCore, Clients};
use slm_core::batch::{lambda::QueueFunction, process};
use slm_core::config::Config;
use slm_core::messages::ControlMessage;
use std::time::Instant;

pub struct Planner {
    core: AwsCore,
}

impl Planner {
    pub fn new(clients: &Clients, config: Config) -> Self {
        Planner { core: AwsCore::new(clients, config) }
    }
}

impl QueueFunction for Planner {
    type Message = ControlMessage;

    fn parse(&self, body: &str) -> slm_core::Result<ControlMessage> {
        slm_core::json::parse("control message", body)
    }

    async fn handle(&self, messages: Vec<(String, ControlMessage)>, _: Option<Instant>) -> Vec<String> {
        // The invocation's time, read once (a task it finds complete is timed by it).
        let now = chrono::Utc::now();
        process(messages, 2, |message| async move {
            let report = self.core.handle_control(message, now).await?;
            tracing::info!(?report, "control message done");
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slm_core::batch::{lambda, parse};
    use aws_lambda_events::sqs::SqsEvent;

    #[test]
    fn the_sample_event_carries_a_plan_message_with_its_token() {
        let event: SqsEvent = serde_json::from_str(include_str!("../../../events/planner.json")).unwrap();
        let (_, body) = lambda::messages(event).remove(0);
        match parse::<ControlMessage>("control message", &body).unwrap() {
            ControlMessage::Plan { task_id, task_token } => {
                assert_eq!(task_id.as_str(), "t-4565a251a70d939acb6e4f5ef0db1239");
                assert!(!task_token.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn reschedule_messages_name_a_title_or_every_asset() {
        let m = parse::<ControlMessage>("control message", r#"{"kind":"reschedule","title_id":"tln","cursor":null}"#).unwrap();
        assert_eq!(m, ControlMessage::Reschedule { title_id: Some("tln".into()), cursor: None });
        assert!(parse::<ControlMessage>("control message", r#"{"kind":"reschedule","scope":"all"}"#).is_err(), "unknown fields are refused");
    }

    #[test]
    fn a_control_message_with_a_forged_task_id_is_refused() {
        let err = parse::<ControlMessage>("control message", r#"{"kind":"continue","task_id":"../../etc"}"#).unwrap_err();
        assert_eq!(err.kind(), slm_core::ErrorKind::Validation);
    }
}
