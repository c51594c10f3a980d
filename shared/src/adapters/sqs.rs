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
}

impl SqsQueues {
    pub fn new(client: Client, control_url: String, work_url: String) -> Self {
        SqsQueues { client, control_url, work_url }
    }
}

impl Queues for SqsQueues {
    async fn send_work(&self, body: String) -> Result<()> {
        self.client.send_message().queue_url(&self.work_url).message_body(body).send().await.map_err(|e| sdk_error("send work batch", e))?;
        Ok(())
    }

    async fn send_control(&self, body: String) -> Result<()> {
        self.client
            .send_message()
            .queue_url(&self.control_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| sdk_error("send control message", e))?;
        Ok(())
    }
}
