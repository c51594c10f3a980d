//! The control, work and reconcile queues on SQS, and the events topic on SNS.

use super::sdk_error;
use crate::config::Config;
use crate::messages::{ControlMessage, ReconcileMessage, TaskEvent, WorkBatch};
use crate::error::{Error, Result};
use crate::ports::Queues;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sqs::Client;

#[derive(Clone, Debug)]
pub struct SqsQueues {
    client: Client,
    /// For the SNS client, built only when an event is published (the reconciler's path).
    clients: super::Clients,
    control_url: String,
    work_url: String,
    reconcile_url: String,
    events_topic_arn: Option<String>,
}

impl SqsQueues {
    pub fn new(clients: &super::Clients, config: &Config) -> Self {
        SqsQueues {
            client: clients.sqs.clone(),
            clients: clients.clone(),
            control_url: config.control_queue_url.clone(),
            work_url: config.work_queue_url.clone(),
            reconcile_url: config.reconcile_queue_url.clone(),
            events_topic_arn: config.events_topic_arn.clone(),
        }
    }

    /// Sends a message as its JSON document.
    async fn send(&self, url: &str, message: &impl serde::Serialize, what: &'static str) -> Result<()> {
        let body = serde_json::to_string(message).map_err(|e| Error::dependency(what, e))?;
        self.client.send_message().queue_url(url).message_body(body).send().await.map_err(|e| sdk_error(what, e))?;
        Ok(())
    }
}

impl Queues for SqsQueues {
    async fn send_work(&self, batch: &WorkBatch) -> Result<()> {
        self.send(&self.work_url, batch, "send work batch").await
    }

    async fn send_control(&self, message: &ControlMessage) -> Result<()> {
        self.send(&self.control_url, message, "send control message").await
    }

    async fn send_reconcile(&self, message: &ReconcileMessage) -> Result<()> {
        self.send(&self.reconcile_url, message, "send reconcile message").await
    }

    async fn publish_event(&self, event: &TaskEvent) -> Result<()> {
        let topic = self.events_topic_arn.as_deref().ok_or_else(|| Error::Config("EVENTS_TOPIC_ARN is not set".into()))?;
        let message = serde_json::to_string(event).map_err(|e| Error::dependency("encode task event", e))?;
        let mut publish = self.clients.sns().publish().topic_arn(topic).message(message);
        for (name, value) in event.attributes() {
            let attribute = MessageAttributeValue::builder().data_type("String").string_value(value).build().map_err(|e| Error::dependency("build event attribute", e))?;
            publish = publish.message_attributes(name, attribute);
        }
        publish.send().await.map_err(|e| sdk_error("publish task event", e))?;
        Ok(())
    }
}

/// A dead-letter queue and the queue whose failed messages it keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetters {
    pub source_url: String,
    pub dlq_url: String,
    /// Messages waiting in the dead-letter queue (SQS's approximate count).
    pub waiting: u64,
}

fn queue_name(url_or_arn: &str) -> &str {
    url_or_arn.rsplit(['/', ':']).next().unwrap_or_default()
}

/// The dead-letter queue of each of `sources` (from its redrive policy), with its depth; a
/// queue without a redrive policy is left out.
pub async fn dead_letters(client: &Client, sources: &[String]) -> Result<Vec<DeadLetters>> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let mut out = Vec::new();
    for source_url in sources {
        let attrs = client.get_queue_attributes().queue_url(source_url).attribute_names(A::RedrivePolicy).send().await.map_err(|e| sdk_error("read a redrive policy", e))?;
        let Some(policy) = attrs.attributes().and_then(|a| a.get(&A::RedrivePolicy)) else { continue };
        let policy: serde_json::Value = serde_json::from_str(policy).map_err(|e| Error::dependency("read a redrive policy", e))?;
        let arn = policy["deadLetterTargetArn"].as_str().ok_or_else(|| Error::Config(format!("{source_url}: a redrive policy without deadLetterTargetArn")))?;
        let account = arn.split(':').nth(4).unwrap_or_default();
        let dlq = client.get_queue_url().queue_name(queue_name(arn)).queue_owner_aws_account_id(account).send().await.map_err(|e| sdk_error("find a dead-letter queue", e))?;
        let dlq_url = dlq.queue_url().unwrap_or_default().to_string();
        let depth = client.get_queue_attributes().queue_url(&dlq_url).attribute_names(A::ApproximateNumberOfMessages).send().await.map_err(|e| sdk_error("read a queue's depth", e))?;
        let waiting = depth.attributes().and_then(|a| a.get(&A::ApproximateNumberOfMessages)).and_then(|n| n.parse().ok()).unwrap_or(0);
        out.push(DeadLetters { source_url: source_url.clone(), dlq_url, waiting });
    }
    Ok(out)
}

/// Moves up to `limit` messages of `d`'s dead-letter queue back to its source queue, body and
/// attributes as they were, and returns how many moved. Each is sent before it is deleted: a
/// crash in between delivers it twice (every consumer of slm's queues is idempotent), never
/// loses it. Messages are received with a long poll, so an empty answer means an empty queue.
pub async fn redrive(client: &Client, d: &DeadLetters, limit: usize) -> Result<usize> {
    use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
    let mut moved = 0;
    while moved < limit {
        let batch = (limit - moved).min(10) as i32;
        let got = client
            .receive_message()
            .queue_url(&d.dlq_url)
            .max_number_of_messages(batch)
            .wait_time_seconds(1)
            .visibility_timeout(60)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| sdk_error("receive dead letters", e))?;
        let messages = got.messages();
        if messages.is_empty() {
            break;
        }
        let mut sends = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(m.body().unwrap_or_default())
                .set_message_attributes(m.message_attributes().cloned())
                .build()
                .map_err(|e| Error::dependency("build a redriven message", e))?;
            sends.push(entry);
        }
        let sent = client.send_message_batch().queue_url(&d.source_url).set_entries(Some(sends)).send().await.map_err(|e| sdk_error("send dead letters back", e))?;
        // Only what was sent is deleted; a message whose send failed stays to be redriven again.
        let mut deletes = Vec::new();
        for ok in sent.successful() {
            let Some(m) = ok.id().parse::<usize>().ok().and_then(|i| messages.get(i)) else { continue };
            let entry = DeleteMessageBatchRequestEntry::builder()
                .id(ok.id())
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .build()
                .map_err(|e| Error::dependency("build a dead-letter delete", e))?;
            deletes.push(entry);
        }
        let count = deletes.len();
        if count > 0 {
            client.delete_message_batch().queue_url(&d.dlq_url).set_entries(Some(deletes)).send().await.map_err(|e| sdk_error("delete redriven dead letters", e))?;
        }
        moved += count;
        if let Some(failed) = sent.failed().first() {
            let why = format!("{} of them to {}: {} {}", sent.failed().len(), queue_name(&d.source_url), failed.code(), failed.message().unwrap_or_default());
            return Err(Error::dependency("send dead letters back", why));
        }
    }
    Ok(moved)
}
