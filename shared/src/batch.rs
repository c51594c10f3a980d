//! Processing the messages of one SQS batch: each on its own, concurrently, in a span named by
//! its message id, reporting the ids that failed so that only those are redelivered. The function
//! crates map their Lambda event into (message id, body) pairs and the ids back into a response.

use crate::error::Result;
use futures::StreamExt;
use tracing::Instrument;

/// Runs `handle` on every message body; returns the ids of the messages that failed.
///
/// A body that cannot be parsed fails like any other message: it is redelivered until the queue's
/// maxReceiveCount moves it to the dead-letter queue, where it stays for inspection. It never
/// blocks the rest of the batch.
pub async fn process<F, Fut>(messages: Vec<(String, String)>, concurrency: usize, handle: F) -> Vec<String>
where
    F: Fn(String) -> Fut,
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
        let messages = vec![("1".into(), "ok".into()), ("2".into(), "bad".into()), ("3".into(), "ok".into())];
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

/// The Lambda side of a batch: the messages of an SQS event and the partial-failure response.
#[cfg(feature = "lambda")]
pub mod lambda {
    use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

    /// Parses each message as `T` (a failure names `what` was expected) and runs `handle` on it;
    /// answers with the ids of the messages that failed.
    pub async fn handle<T, F, Fut>(event: SqsEvent, concurrency: usize, what: &str, handle: F) -> SqsBatchResponse
    where
        T: serde::de::DeserializeOwned,
        F: Fn(T) -> Fut,
        Fut: Future<Output = crate::Result<()>>,
    {
        let failed = super::process(messages(event), concurrency, |body| {
            let work = super::parse::<T>(what, &body).map(&handle);
            async move { work?.await }
        })
        .await;
        response(failed)
    }

    /// The invocation's deadline (the Lambda context's, milliseconds since the epoch) on the
    /// monotonic clock.
    pub fn deadline(deadline_ms: u64) -> std::time::Instant {
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        std::time::Instant::now() + std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
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
}
