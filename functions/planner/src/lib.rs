//! The planner function: control messages (plan a task, or go on planning it).

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use slm_core::adapters::Clients;
use slm_core::batch::{lambda, parse, process};
use slm_core::config::Config;
use slm_core::service::{AwsCore, ControlMessage};

pub struct Handler {
    core: AwsCore,
}

impl Handler {
    pub fn new(clients: &Clients, config: Config) -> Self {
        Handler { core: AwsCore::new(clients, config) }
    }

    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let failed = process(lambda::messages(event), 2, |body| async move {
            let message: ControlMessage = parse("control message", &body)?;
            let report = self.core.handle_control(message).await?;
            tracing::info!(?report, "control message done");
            Ok(())
        })
        .await;
        lambda::response(failed)
    }
}
