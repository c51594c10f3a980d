//! Adapters: one module per AWS service, each implementing the ports it serves.

pub mod aws;
pub mod dynamo;
pub mod s3;
pub mod sfn;
pub mod sqs;

pub use aws::{Clients, RequestCounter};
pub use dynamo::DynamoStore;
pub use s3::S3Objects;
pub use sfn::SfnOrchestrator;
pub use sqs::SqsQueues;

use crate::error::Error;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::result::SdkError;

/// Maps an SDK error to the core's error classes: throttling, timeouts and 5xx are retryable,
/// the rest is a dependency failure that keeps its source.
pub(crate) fn sdk_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if is_transient(&err) {
        Error::retryable(operation, err)
    } else {
        Error::dependency(operation, err)
    }
}

pub(crate) fn is_transient<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or_default();
            const TRANSIENT: [&str; 9] = [
                "SlowDown",
                "ThrottlingException",
                "Throttling",
                "ProvisionedThroughputExceededException",
                "RequestLimitExceeded",
                "InternalError",
                "InternalServerError",
                "ServiceUnavailable",
                "RequestTimeout",
            ];
            TRANSIENT.contains(&code)
        }
        _ => false,
    }
}
