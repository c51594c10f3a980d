//! The control, work and reconcile queues on SQS, and the events topic on SNS.

use super::sdk_error;
use crate::config::Config;
use crate::domain::event::TaskEvent;
use crate::error::{Error, Result};
use crate::ports::Queues;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sqs::Client;

#[derive(Clone, Debug)]
pub struct SqsQueues {
    client: Client,
    sns: aws_sdk_sns::Client,
    control_url: String,
    work_url: String,
    reconcile_url: String,
    events_topic_arn: Option<String>,
}

impl SqsQueues {
    pub fn new(clients: &super::Clients, config: &Config) -> Self {
        SqsQueues {
            client: clients.sqs.clone(),
            sns: clients.sns.clone(),
            control_url: config.control_queue_url.clone(),
            work_url: config.work_queue_url.clone(),
            reconcile_url: config.reconcile_queue_url.clone(),
            events_topic_arn: config.events_topic_arn.clone(),
        }
    }

    async fn send(&self, url: &str, body: String, what: &'static str) -> Result<()> {
        self.client.send_message().queue_url(url).message_body(body).send().await.map_err(|e| sdk_error(what, e))?;
        Ok(())
    }
}

impl Queues for SqsQueues {
    async fn send_work(&self, body: String) -> Result<()> {
        self.send(&self.work_url, body, "send work batch").await
    }

    async fn send_control(&self, body: String) -> Result<()> {
        self.send(&self.control_url, body, "send control message").await
    }

    async fn send_reconcile(&self, body: String) -> Result<()> {
        self.send(&self.reconcile_url, body, "send reconcile message").await
    }

    async fn publish_event(&self, event: &TaskEvent) -> Result<()> {
        let topic = self.events_topic_arn.as_deref().ok_or_else(|| Error::Config("EVENTS_TOPIC_ARN is not set".into()))?;
        let message = serde_json::to_string(event).map_err(|e| Error::dependency("encode task event", e))?;
        let mut publish = self.sns.publish().topic_arn(topic).message(message);
        for (name, value) in event.attributes() {
            let attribute = MessageAttributeValue::builder().data_type("String").string_value(value).build().map_err(|e| Error::dependency("build event attribute", e))?;
            publish = publish.message_attributes(name, attribute);
        }
        publish.send().await.map_err(|e| sdk_error("publish task event", e))?;
        Ok(())
    }
}
