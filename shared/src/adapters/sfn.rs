//! Task executions on Step Functions: started by name, resumed by task token.

use super::sdk_error;
use crate::domain::{Outcome, TaskId};
use crate::error::{Error, Result};
use crate::ports::Orchestrator;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::ProvideErrorMetadata;

#[derive(Clone, Debug)]
pub struct SfnOrchestrator {
    client: Client,
    state_machine_arn: String,
}

impl SfnOrchestrator {
    pub fn new(client: Client, state_machine_arn: String) -> Self {
        SfnOrchestrator { client, state_machine_arn }
    }
}

/// The token was answered already or its wait timed out: the execution has moved on.
fn token_spent(code: Option<&str>) -> bool {
    matches!(code, Some("TaskTimedOut") | Some("InvalidToken") | Some("TaskDoesNotExist"))
}

impl Orchestrator for SfnOrchestrator {
    async fn start(&self, name: &str, input: String) -> Result<()> {
        let res = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input)
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            // Executions are named after their task: it exists, so it is running or ran.
            Err(e) if e.as_service_error().and_then(|se| se.code()) == Some("ExecutionAlreadyExists") => Ok(()),
            Err(e) => Err(sdk_error("start execution", e)),
        }
    }

    async fn succeed(&self, token: &str, outcome: &Outcome) -> Result<()> {
        let output = serde_json::to_string(outcome).map_err(|e| Error::dependency("encode outcome", e))?;
        let res = self.client.send_task_success().task_token(token).output(output).send().await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if token_spent(e.as_service_error().and_then(|se| se.code())) => {
                tracing::warn!(error = %e, "completion token already spent");
                Ok(())
            }
            Err(e) => Err(sdk_error("signal task success", e)),
        }
    }

    async fn execution_status(&self, task_id: &TaskId) -> Result<Option<String>> {
        let arn = format!("{}:{}", self.state_machine_arn.replacen(":stateMachine:", ":execution:", 1), task_id.as_str());
        match self.client.describe_execution().execution_arn(arn).send().await {
            Ok(out) => Ok(Some(out.status().as_str().to_string())),
            Err(e) if e.as_service_error().and_then(|se| se.code()) == Some("ExecutionDoesNotExist") => Ok(None),
            Err(e) => Err(sdk_error("describe execution", e)),
        }
    }
}
