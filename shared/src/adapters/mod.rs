//! Adapters: one module per AWS service, each implementing the ports it serves.

pub mod aws;
pub mod dynamo;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod s3;
pub mod sfn;
pub mod sqs;

pub use aws::{Clients, RequestCounter, Timeouts};
pub use dynamo::DynamoStore;
pub use s3::S3Objects;
pub use sfn::SfnOrchestrator;
pub use sqs::SqsQueues;

use crate::error::Error;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

/// Maps an SDK error to the core's error classes: throttling, timeouts and 5xx are retryable,
/// the rest is a dependency failure that keeps its source.
pub(crate) fn sdk_error<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if is_transient(&err) {
        Error::retryable(operation, err)
    } else {
        Error::dependency(operation, err)
    }
}

/// Error codes the services document as throttling (S3, DynamoDB, SQS, Step Functions, SNS),
/// the list the SDK's retry classifier keeps.
const THROTTLING_CODES: [&str; 15] = [
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "PriorRequestNotComplete",
    "TransactionInProgressException",
    "KMS.ThrottlingException",
    "KmsThrottled",
];

/// Other codes the services document as transient, and DynamoDB's TransactionConflict.
const OTHER_TRANSIENT_CODES: [&str; 9] = [
    "TransactionConflictException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServerErrorException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Whether an answer throttled the request: a 429, or a throttling code.
pub(crate) fn is_throttling(status: u16, code: Option<&str>) -> bool {
    status == 429 || code.is_some_and(|c| THROTTLING_CODES.contains(&c))
}

/// Whether an answer (its status and error code) says the same request can succeed later: 5xx
/// and 429 whatever their body says (an emulator's 500 may carry no code at all), and the
/// documented throttling and transient codes.
pub(crate) fn is_transient_answer(status: u16, code: Option<&str>) -> bool {
    status >= 500 || is_throttling(status, code) || code.is_some_and(|c| OTHER_TRANSIENT_CODES.contains(&c))
}

/// Whether retrying the same call later can succeed: timeouts, connection failures, unreadable
/// answers, and transient answers ([`is_transient_answer`]).
pub(crate) fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(se) => is_transient_answer(se.raw().status().as_u16(), se.err().code()),
        _ => false,
    }
}

/// The core on AWS (or anything that speaks its APIs).
pub type AwsCore = crate::service::Core<DynamoStore, S3Objects, SqsQueues, SfnOrchestrator>;

impl AwsCore {
    pub fn new(clients: &Clients, config: crate::config::Config) -> Self {
        crate::service::Core {
            meta: DynamoStore::new(clients.dynamodb.clone(), config.tables.clone()),
            objects: S3Objects::new(clients.s3.clone()),
            queues: SqsQueues::new(clients, &config),
            orchestrator: SfnOrchestrator::new(clients.sfn.clone(), config.state_machine_arn.clone()),
            paces: std::sync::Arc::new(crate::pace::Paces::share(&config.rates)),
            config,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn answer(status: u16, code: Option<&str>) -> SdkError<ListObjectVersionsError, HttpResponse> {
        let mut meta = ErrorMetadata::builder();
        if let Some(c) = code {
            meta = meta.code(c);
        }
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(ListObjectVersionsError::generic(meta.build()), raw)
    }

    #[test]
    fn a_5xx_without_a_code_is_transient() {
        assert!(is_transient(&answer(500, None)));
        assert!(is_transient(&answer(503, Some("SlowDown"))));
        assert!(is_transient(&answer(429, None)));
    }

    #[test]
    fn throttling_and_transaction_conflicts_are_transient_whatever_their_status() {
        assert!(is_transient(&answer(400, Some("ThrottlingException"))));
        assert!(is_transient(&answer(400, Some("ProvisionedThroughputExceededException"))));
        assert!(is_transient(&answer(400, Some("TransactionConflictException"))));
    }

    #[test]
    fn refusals_are_permanent() {
        assert!(!is_transient(&answer(403, Some("AccessDenied"))));
        assert!(!is_transient(&answer(404, Some("NoSuchKey"))));
        assert!(!is_transient(&answer(412, None)));
        assert!(!is_transient(&answer(400, Some("ConditionalCheckFailedException"))));
    }
}
