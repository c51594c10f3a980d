//! The completion function: S3 event notifications from the S3-events queue, turned into file
//! state and task progress by the core.

mod s3_event;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use slm_core::adapters::Clients;
use slm_core::batch::lambda;
use slm_core::config::Config;
use slm_core::adapters::AwsCore;
use slm_core::service::{RestorePlaces, S3Change};

pub use s3_event::{parse_body, Notification};

pub struct Handler {
    core: AwsCore,
    /// Where the files of assets under restore are, while this function is warm.
    places: RestorePlaces,
}

impl Handler {
    pub fn new(clients: &Clients, config: Config) -> Self {
        Handler { core: AwsCore::new(clients, config), places: RestorePlaces::default() }
    }

    /// The batch's changes are handled together (restores completed of one task are counted in
    /// one update); a message fails when one of its changes failed, or it is no S3 event.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut failed = Vec::new();
        let mut changes = Vec::new();
        for (id, body) in lambda::messages(event) {
            match parse_body(&body) {
                Ok(Notification::Test) => tracing::info!(message_id = %id, "S3 test event"),
                Ok(Notification::Changes(of_message)) => changes.extend(of_message.into_iter().map(|c| (id.clone(), c))),
                Err(e) => {
                    tracing::error!(message_id = %id, error = %e.chain(), kind = e.kind().as_str(), "message failed");
                    failed.push(id);
                }
            }
        }
        let (ids, batch): (Vec<String>, Vec<S3Change>) = changes.into_iter().unzip();
        // Boxed: the layout of the whole future, inline, is deeper than the compiler computes.
        let results = Box::pin(self.core.on_s3_changes(batch.clone(), &self.places)).await;
        for ((id, change), result) in ids.into_iter().zip(batch).zip(results) {
            match result {
                Ok(result) => tracing::info!(message_id = %id, ?change, ?result, "S3 event"),
                Err(e) => {
                    match e.is_retryable() {
                        true => tracing::warn!(message_id = %id, ?change, error = %e.chain(), kind = e.kind().as_str(), "message failed; it will be delivered again"),
                        false => tracing::error!(message_id = %id, ?change, error = %e.chain(), kind = e.kind().as_str(), "message failed"),
                    }
                    if !failed.contains(&id) {
                        failed.push(id);
                    }
                }
            }
        }
        lambda::response(failed)
    }
}
