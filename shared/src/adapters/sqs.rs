//! The control and work queues on SQS.

use super::sdk_error;
use crate::error::Result;
use crate::ports::Queues;
use aws_sdk_sqs::Client;

#[derive(Clone, Debug)]
pub struct SqsQueues {
    client: Client,
    control_url: String,
    work_url: String,
    reconcile_url: String,
}

impl SqsQueues {
    pub fn new(client: Client, control_url: String, work_url: String, reconcile_url: String) -> Self {
        SqsQueues { client, control_url, work_url, reconcile_url }
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
}
