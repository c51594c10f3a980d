//! The API function: the only way for applications to register assets and request tasks.
//! Behind API Gateway (HTTP API, IAM auth); the caller is the IAM principal of the request.

mod routes;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::HeaderMap;
use aws_lambda_events::http::header::{CONTENT_TYPE, HeaderValue};
use slm_core::adapters::{AwsCore, Clients};
use slm_core::config::Config;
use slm_core::service::api::Origin;
use slm_core::{Error, ErrorKind};

pub use routes::{DryRunBody, Execution, TaskBody, TaskView};

/// Request bodies above this are refused before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct Handler {
    core: AwsCore,
}

impl Handler {
    pub fn new(clients: &Clients, config: Config) -> Self {
        Handler { core: AwsCore::new(clients, config) }
    }

    pub async fn handle(&self, request: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let method = request.request_context.http.method.as_str().to_string();
        let path = request.raw_path.clone().unwrap_or_default();
        let span = tracing::info_span!("request", %method, %path);
        let _enter = span.enter();
        let arn = routes::caller_arn(&request);
        let origin = Origin { arn: &arn, at: routes::time(&request), request_id: request.request_context.request_id.as_deref(), method: &method, path: &path };
        let result = match self.core.begin_call(&origin).await {
            Ok(mut call) => {
                // Nobody unknown gets further than this, whatever the route.
                let result = match call.caller.known() {
                    // Boxed: the routes make a large future, kept off the caller's stack.
                    Ok(_) => Box::pin(routes::route(&mut call, &request)).await,
                    Err(e) => Err(e),
                };
                match &result {
                    Ok((status, _)) => call.end(*status, None).await,
                    Err(e) => call.end(status_of(e.kind()), Some(&error_message(e))).await,
                }
                result
            }
            Err(e) => Err(e),
        };
        match result {
            Ok((status, body)) => respond(status, &body),
            Err(e) => {
                // The caller's mistakes are in the audit trail; the service's own failures are
                // worth a warning.
                if status_of(e.kind()) >= 500 {
                    tracing::warn!(error = %e.chain(), kind = e.kind().as_str(), "request failed");
                } else {
                    tracing::info!(error = %e.chain(), kind = e.kind().as_str(), "request refused");
                }
                error_response(&e)
            }
        }
    }
}

pub fn status_of(kind: ErrorKind) -> i64 {
    match kind {
        ErrorKind::Validation => 400,
        ErrorKind::NotFound => 404,
        ErrorKind::Forbidden => 403,
        ErrorKind::Conflict => 409,
        ErrorKind::Retryable => 503,
        ErrorKind::Dependency | ErrorKind::Config => 500,
    }
}

/// What the caller is told: internal causes stay in the logs.
fn error_message(e: &Error) -> String {
    match e.kind() {
        ErrorKind::Dependency | ErrorKind::Config => "internal error".to_string(),
        _ => e.to_string(),
    }
}

fn error_response(e: &Error) -> ApiGatewayV2httpResponse {
    respond(status_of(e.kind()), &serde_json::json!({ "error": e.kind().as_str(), "message": error_message(e) }))
}

fn respond(status: i64, body: &serde_json::Value) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = status;
    response.headers = headers;
    response.body = Some(Body::Text(body.to_string()));
    response
}
