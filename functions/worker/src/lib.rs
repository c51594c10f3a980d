//! The worker function: one SQS batch of work messages, each a batch of files of one task.

use slm_core::adapters::{AwsCore, Clients};
use slm_core::batch::{lambda::QueueFunction, process};
use slm_core::config::Config;
use slm_core::messages::WorkBatch;
use std::time::Instant;

pub struct Worker {
    core: AwsCore,
}

impl Worker {
    pub fn new(clients: &Clients, config: Config) -> Self {
        Worker { core: AwsCore::new(clients, config) }
    }
}

impl QueueFunction for Worker {
    type Message = WorkBatch;

    fn parse(&self, body: &str) -> slm_core::Result<WorkBatch> {
        slm_core::json::parse("work batch", body)
    }

    /// Runs the batches; no object action starts later than the configured margin before
    /// `deadline` (the invocation's).
    async fn handle(&self, messages: Vec<(String, WorkBatch)>, deadline: Option<Instant>) -> Vec<String> {
        // The invocation's time, read once (a restore S3 had done already ends its window from it).
        let now = chrono::Utc::now();
        process(messages, 4, |batch| async move {
            let report = self.core.run_batch(batch, now, deadline).await?;
            tracing::info!(?report, "batch done");
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::sqs::SqsEvent;
    use slm_core::batch::{lambda, parse};
    use slm_core::domain::{Action, StorageClass};

    #[test]
    fn the_sample_event_is_a_batch_of_two_files_to_archive() {
        let event: SqsEvent = serde_json::from_str(include_str!("../../../events/worker.json")).unwrap();
        let (_, body) = lambda::messages(event).remove(0);
        let batch: WorkBatch = parse("work batch", &body).unwrap();
        assert_eq!(batch.action, Action::Archive { storage_class: StorageClass::Glacier });
        assert_eq!(batch.files.len(), 2);
        assert_eq!(batch.files[1].version_id, "null");
    }

    #[test]
    fn a_batch_with_unknown_fields_is_refused() {
        let body = r#"{"task_id":"t-4565a251a70d939acb6e4f5ef0db1239","action":{"action":"purge"},"files":[],"delete_everything":true}"#;
        assert!(parse::<WorkBatch>("work batch", body).is_err());
    }

    #[test]
    fn unparseable_messages_are_reported_as_failures_of_their_own_id() {
        let mut event: SqsEvent = serde_json::from_str(include_str!("../../../events/worker.json")).unwrap();
        event.records[0].body = Some("not json".into());
        let messages = lambda::messages(event);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let failed = rt.block_on(process(messages, 1, |body| async move { parse::<WorkBatch>("work batch", &body).map(|_| ()) }));
        assert_eq!(failed, vec!["7b2c1e5a-3f0d-4b8e-9c61-0a2d5e4f8b13".to_string()]);
    }
}
