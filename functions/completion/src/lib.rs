//! The completion function: S3 event notifications from the S3-events queue, turned into file
//! state and task progress by the core.

mod s3_event;

use slm_core::adapters::{AwsCore, Clients};
use slm_core::batch::lambda::QueueFunction;
use slm_core::config::Config;
use slm_core::service::{RestorePlaces, S3Change};
use std::time::Instant;

pub use s3_event::{parse_body, Notification};

pub struct Completion {
    core: AwsCore,
    /// Where the files of assets under restore are, while this function is warm.
    places: RestorePlaces,
}

impl Completion {
    pub fn new(clients: &Clients, config: Config) -> Self {
        Completion { core: AwsCore::new(clients, config), places: RestorePlaces::default() }
    }
}

impl QueueFunction for Completion {
    type Message = Notification;

    fn parse(&self, body: &str) -> slm_core::Result<Notification> {
        parse_body(body)
    }

    /// The batch's changes are handled together (restores completed of one task are counted in
    /// one update); a message fails when one of its changes failed.
    async fn handle(&self, messages: Vec<(String, Notification)>, _: Option<Instant>) -> Vec<String> {
        let mut changes = Vec::new();
        for (id, notification) in messages {
            match notification {
                Notification::Test => tracing::info!(message_id = %id, "S3 test event"),
                Notification::Changes(of_message) => changes.extend(of_message.into_iter().map(|c| (id.clone(), c))),
            }
        }
        let (ids, batch): (Vec<String>, Vec<S3Change>) = changes.into_iter().unzip();
        // The invocation's time, read once: what an event without a time of its own is given.
        let now = chrono::Utc::now();
        // Boxed: the layout of the whole future, inline, is deeper than the compiler computes.
        let results = Box::pin(self.core.on_s3_changes(batch.clone(), &self.places, now)).await;
        let mut failed = Vec::new();
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
        failed
    }
}
