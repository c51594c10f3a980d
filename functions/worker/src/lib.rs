//! The worker function: one SQS batch of work messages, each a batch of files of one task.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use slm_core::adapters::Clients;
use slm_core::batch::{lambda, parse, process};
use slm_core::config::Config;
use slm_core::service::{AwsCore, WorkBatch};

pub struct Handler {
    core: AwsCore,
}

impl Handler {
    pub fn new(clients: &Clients, config: Config) -> Self {
        Handler { core: AwsCore::new(clients, config) }
    }

    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let failed = process(lambda::messages(event), 4, |body| async move {
            let batch: WorkBatch = parse("work batch", &body)?;
            let report = self.core.run_batch(batch).await?;
            tracing::info!(?report, "batch done");
            Ok(())
        })
        .await;
        lambda::response(failed)
    }
}
