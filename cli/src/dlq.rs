//! `slm dlq`: what waits in the dead-letter queues, and sending it back. The queues are the
//! stack's source queues (a deployed stack's outputs, or the local stack's), their dead-letter
//! queues read from their redrive policies.

use crate::api::Target;
use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use serde_json::json;
use slm_core::adapters::sqs::{DeadLetters, dead_letters, redrive};

#[derive(Subcommand)]
pub enum DlqCommand {
    /// Each source queue's dead-letter queue and how many messages wait in it.
    List,
    /// Sends the dead letters back to their source queues, each sent before it is deleted. A
    /// work batch of a task that has ended is ignored when it comes back (it acts only for a
    /// running task), and a message that fails again returns to its dead-letter queue after the
    /// same bounded retries; the reconciler repairs tasks a lost message left stuck.
    Redrive {
        /// Only this source queue (its name, or its logical id: ControlQueue, WorkQueue,
        /// S3EventsQueue, ReconcileQueue).
        #[arg(long)]
        queue: Option<String>,
        /// At most this many messages per queue.
        #[arg(long, default_value_t = 100_000)]
        max: usize,
    },
}

/// The outputs of a deployed stack naming its source queues.
const SOURCE_OUTPUTS: [(&str, &str); 4] = [("ControlQueue", "ControlQueueUrl"), ("WorkQueue", "WorkQueueUrl"), ("S3EventsQueue", "S3EventsQueueUrl"), ("ReconcileQueue", "ReconcileQueueUrl")];

/// The SQS client and the source queues (logical id, URL) of the stack the command names.
async fn sources(target: &Target) -> Result<(aws_sdk_sqs::Client, Vec<(String, String)>)> {
    if target.is_local() {
        let saved = crate::local::load()?;
        let clients = crate::local::clients(&saved.stack.endpoint).await;
        let queues = SOURCE_OUTPUTS.iter().map(|(id, _)| Ok((id.to_string(), saved.stack.queue(id)?.url.clone()))).collect::<Result<_>>()?;
        return Ok((clients.sqs.clone(), queues));
    }
    let Some(stack) = &target.stack else {
        bail!("slm dlq needs --stack NAME: the queues come from the stack's outputs, not from its API");
    };
    let config = target.aws_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let out = cfn.describe_stacks().stack_name(stack).send().await.with_context(|| format!("reading stack {stack} from CloudFormation"))?;
    let outputs = out.stacks().first().map(|s| s.outputs()).unwrap_or_default();
    let queues = SOURCE_OUTPUTS
        .iter()
        .map(|(id, key)| {
            let url = outputs.iter().find(|o| o.output_key() == Some(key)).and_then(|o| o.output_value()).ok_or_else(|| anyhow!("stack {stack} has no {key} output"))?;
            Ok((id.to_string(), url.to_string()))
        })
        .collect::<Result<_>>()?;
    Ok((aws_sdk_sqs::Client::new(&config), queues))
}

fn name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or_default()
}

pub async fn run(command: DlqCommand, target: &Target) -> Result<()> {
    let (sqs, queues) = sources(target).await?;
    let chosen: Vec<(String, String)> = match &command {
        DlqCommand::Redrive { queue: Some(q), .. } => {
            let found: Vec<_> = queues.iter().filter(|(id, url)| id == q || name(url) == q).cloned().collect();
            if found.is_empty() {
                bail!("no source queue {q}: one of {}", queues.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>().join(", "));
            }
            found
        }
        _ => queues,
    };
    let urls: Vec<String> = chosen.iter().map(|(_, url)| url.clone()).collect();
    let letters = dead_letters(&sqs, &urls).await?;
    let id_of = |d: &DeadLetters| chosen.iter().find(|(_, url)| *url == d.source_url).map(|(id, _)| id.clone()).unwrap_or_default();
    match command {
        DlqCommand::List => {
            let rows: Vec<_> = letters.iter().map(|d| json!({"queue": id_of(d), "dead_letter_queue": name(&d.dlq_url), "waiting": d.waiting})).collect();
            crate::output::print(&json!(rows))
        }
        DlqCommand::Redrive { max, .. } => {
            let mut rows = Vec::new();
            for d in &letters {
                let moved = redrive(&sqs, d, max).await.with_context(|| format!("redriving {}", name(&d.dlq_url)))?;
                if !crate::output::json() {
                    eprintln!("{}: {moved} message(s) sent back to {}", name(&d.dlq_url), name(&d.source_url));
                }
                rows.push(json!({"queue": id_of(d), "dead_letter_queue": name(&d.dlq_url), "redriven": moved}));
            }
            crate::output::print(&json!(rows))
        }
    }
}
