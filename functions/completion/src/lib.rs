//! The completion function: S3 event notifications from the S3-events queue, turned into file
//! state and task progress by the core.

mod s3_event;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use slm_core::adapters::Clients;
use slm_core::batch::{lambda, process};
use slm_core::config::Config;
use slm_core::adapters::AwsCore;

pub use s3_event::{parse_body, Notification};

pub struct Handler {
    core: AwsCore,
}

impl Handler {
    pub fn new(clients: &Clients, config: Config) -> Self {
        Handler { core: AwsCore::new(clients, config) }
    }

    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let failed = process(lambda::messages(event), 4, |body| async move {
            let changes = match parse_body(&body)? {
                Notification::Test => {
                    tracing::info!("S3 test event");
                    return Ok(());
                }
                Notification::Changes(changes) => changes,
            };
            for change in changes {
                let result = self.core.on_s3_change(change.clone()).await?;
                tracing::info!(?change, ?result, "S3 event");
            }
            Ok(())
        })
        .await;
        lambda::response(failed)
    }
}
