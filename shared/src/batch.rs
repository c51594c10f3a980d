//! Processing the messages of one SQS batch: each on its own, concurrently, in a span named by
//! its message id, reporting the ids that failed so that only those are redelivered. The function
//! crates say what their messages are; [`lambda`] maps the Lambda event and the response.

use crate::error::Result;
use futures::StreamExt;
use tracing::Instrument;

/// Runs `handle` on every message (a body, or what it was parsed into); returns the ids of the
/// messages that failed.
///
/// A body that cannot be parsed fails like any other message: it is redelivered until the queue's
/// maxReceiveCount moves it to the dead-letter queue, where it stays for inspection. It never
/// blocks the rest of the batch.
pub async fn process<T, F, Fut>(messages: Vec<(String, T)>, concurrency: usize, handle: F) -> Vec<String>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    futures::stream::iter(messages)
        .map(|(id, body)| {
            let span = tracing::info_span!("message", message_id = %id);
            let fut = handle(body);
            async move {
                match fut.await {
                    Ok(()) => None,
                    // A transient failure is expected under load and comes back by itself.
                    Err(e) if e.is_retryable() => {
                        tracing::warn!(error = %e.chain(), kind = e.kind().as_str(), "message failed; it will be delivered again");
                        Some(id)
                    }
                    Err(e) => {
                        tracing::error!(error = %e.chain(), kind = e.kind().as_str(), "message failed");
                        Some(id)
                    }
                }
            }
            .instrument(span)
        })
        .buffer_unordered(concurrency.max(1))
        .filter_map(|failed| async move { failed })
        .collect()
        .await
}

pub use crate::json::parse;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_failed_messages_are_reported() {
        let messages: Vec<(String, String)> = vec![("1".into(), "ok".into()), ("2".into(), "bad".into()), ("3".into(), "ok".into())];
        let failed = process(messages, 2, |body| async move {
            if body == "ok" { Ok(()) } else { Err(crate::Error::validation("bad body")) }
        })
        .await;
        assert_eq!(failed, vec!["2".to_string()]);
    }

    #[test]
    fn an_unparseable_body_is_a_validation_error_that_says_what_was_expected() {
        let err = parse::<crate::messages::WorkBatch>("work batch", "{\"nope\":1}").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Validation);
        assert!(err.to_string().contains("work batch"), "{err}");
    }
}

/// The Lambda side of a batch: one runner for every queue-driven function. A function says what
/// its messages are and what it does with a batch of them ([`lambda::QueueFunction`]); the runner
/// parses the event's bodies, runs the batch, answers with the ids that failed (Lambda's partial
/// batch response) and serves it in the runtime.
#[cfg(feature = "lambda")]
pub mod lambda {
    use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
    use std::time::Instant;

    /// A function fed by an SQS event source.
    pub trait QueueFunction: Send + Sync {
        type Message: Send;
        /// Parses one body. A body that cannot be parsed fails alone: it is delivered again until
        /// the queue's maxReceiveCount moves it to the dead-letter queue, where it stays for
        /// inspection.
        fn parse(&self, body: &str) -> crate::Result<Self::Message>;
        /// Handles the parsed messages, (message id, message) each, none starting an action past
        /// `deadline` (the invocation's); returns the ids of those that failed.
        fn handle(&self, messages: Vec<(String, Self::Message)>, deadline: Option<Instant>) -> impl Future<Output = Vec<String>> + Send;
    }

    /// Runs one SQS event through `function`: the partial-batch response names the messages that
    /// failed to parse or to be handled.
    pub async fn run<F: QueueFunction>(function: &F, event: SqsEvent, deadline: Option<Instant>) -> SqsBatchResponse {
        let mut failed = Vec::new();
        let mut parsed = Vec::new();
        for (id, body) in messages(event) {
            match function.parse(&body) {
                Ok(message) => parsed.push((id, message)),
                Err(e) => {
                    tracing::error!(message_id = %id, error = %e.chain(), kind = e.kind().as_str(), "message failed");
                    failed.push(id);
                }
            }
        }
        failed.extend(function.handle(parsed, deadline).await);
        response(failed)
    }

    /// Serves `function` in Lambda's runtime, each invocation's deadline taken from its context.
    pub async fn serve<F: QueueFunction>(function: F) -> Result<(), lambda_runtime::Error> {
        let function = &function;
        crate::telemetry::serve(move |e: lambda_runtime::LambdaEvent<SqsEvent>| async move {
            Ok::<_, crate::Error>(run(function, e.payload, Some(deadline(e.context.deadline))).await)
        })
        .await
    }

    /// The invocation's deadline (the Lambda context's, milliseconds since the epoch) on the
    /// monotonic clock.
    pub fn deadline(deadline_ms: u64) -> Instant {
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        Instant::now() + std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
    }

    pub fn messages(event: SqsEvent) -> Vec<(String, String)> {
        event.records.into_iter().map(|r| (r.message_id.unwrap_or_default(), r.body.unwrap_or_default())).collect()
    }

    pub fn response(failed_ids: Vec<String>) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failed_ids
            .into_iter()
            .map(|id| {
                let mut f = BatchItemFailure::default();
                f.item_identifier = id;
                f
            })
            .collect();
        response
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// Accepts bodies that are numbers; fails the odd ones.
        struct Evens;

        impl QueueFunction for Evens {
            type Message = u32;
            fn parse(&self, body: &str) -> crate::Result<u32> {
                crate::json::parse("number", body)
            }
            async fn handle(&self, messages: Vec<(String, u32)>, _: Option<Instant>) -> Vec<String> {
                super::super::process(messages, 2, |n| async move { if n % 2 == 0 { Ok(()) } else { Err(crate::Error::validation("odd")) } }).await
            }
        }

        #[tokio::test]
        async fn the_response_names_the_messages_that_did_not_parse_and_those_that_failed() {
            let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
                {"messageId": "a", "body": "2"}, {"messageId": "b", "body": "two"}, {"messageId": "c", "body": "3"}, {"messageId": "d", "body": "4"}
            ]}))
            .unwrap();
            let mut failed: Vec<String> = run(&Evens, event, None).await.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
            failed.sort();
            assert_eq!(failed, ["b", "c"]);
        }
    }
}
