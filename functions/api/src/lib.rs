//! The API function: the only way for applications to register assets and request tasks.
//! Behind API Gateway (HTTP API, IAM auth); the caller is the IAM principal of the request.

mod routes;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::HeaderMap;
use aws_lambda_events::http::header::{CONTENT_TYPE, HeaderValue};
use slm_core::adapters::Clients;
use slm_core::config::Config;
use slm_core::domain::audit::{AuditEntry, Decision, clip};
use slm_core::adapters::AwsCore;
use slm_core::service::Caller;
use slm_core::{Error, ErrorKind, Result};

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
        let result = match self.core.identify(&arn).await {
            Ok(caller) => {
                let entry = entry(&request, &caller, &method, &path);
                let mut call = routes::Call { core: &self.core, request: &request, caller, entry };
                // Nobody unknown gets further than this, whatever the route.
                let result = match call.caller.known() {
                    // Boxed: the routes make a large future, kept off the caller's stack.
                    Ok(_) => Box::pin(routes::route(&mut call)).await,
                    Err(e) => Err(e),
                };
                self.record(call.entry, &result).await;
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

    /// Writes the request's outcome to the audit trail. An allowed mutating request was
    /// recorded before it acted; a failure here loses only the outcome, and is logged.
    async fn record(&self, mut entry: AuditEntry, result: &Result<(i64, serde_json::Value)>) {
        match result {
            Ok((status, _)) => {
                entry.decision = Decision::Allowed;
                entry.status = Some(*status);
            }
            Err(e) => {
                let status = status_of(e.kind());
                entry.decision = if status >= 500 { Decision::Failed } else { Decision::Refused };
                entry.status = Some(status);
                entry.reason = Some(clip(&error_message(e)));
            }
        }
        if let Err(e) = self.core.audit(&entry).await {
            tracing::error!(error = %e.chain(), subject = %entry.subject, request_id = %entry.request_id, "audit entry not written");
        }
    }
}

/// The audit entry a request starts with: who, what, when; the route names its subject more
/// precisely where the path does not (a new asset's id is in the body).
fn entry(request: &ApiGatewayV2httpRequest, caller: &Caller, method: &str, path: &str) -> AuditEntry {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let subject = match segments.as_slice() {
        ["assets", id, ..] => format!("asset#{id}"),
        ["titles", id, ..] => format!("title#{id}"),
        ["policies", id, ..] => format!("policy#{id}"),
        ["tasks", id] => format!("task#{id}"),
        _ => "-".to_string(),
    };
    let millis = request.request_context.time_epoch;
    let at = chrono::DateTime::from_timestamp_millis(millis).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let request_id = request.request_context.request_id.clone().unwrap_or_else(|| format!("{millis}"));
    AuditEntry {
        subject: clip(&subject),
        at,
        request_id: clip(&request_id),
        caller: clip(&caller.arn),
        principal: caller.principal.clone(),
        application: caller.application.as_ref().map(|a| a.name.clone()),
        action: clip(&format!("{method} {path}")),
        decision: Decision::Refused,
        status: None,
        reason: None,
        task_ids: Vec::new(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str) -> ApiGatewayV2httpRequest {
        let mut r: ApiGatewayV2httpRequest = serde_json::from_str(include_str!("../../../events/api.json")).unwrap();
        r.raw_path = Some(path.to_string());
        r
    }

    #[test]
    fn an_entry_names_what_the_path_acts_on_and_stays_bounded() {
        let nobody = Caller { arn: "arn:aws:iam::123456789012:role/x\n".into(), principal: None, application: None };
        for (path, subject) in [
            ("/assets/cam-1/tasks", "asset#cam-1"),
            ("/assets/cam-1", "asset#cam-1"),
            ("/titles/show/hold", "title#show"),
            ("/policies/p1/enable", "policy#p1"),
            ("/tasks/t-1", "task#t-1"),
            ("/applications", "-"),
        ] {
            assert_eq!(entry(&request(path), &nobody, "POST", path).subject, subject, "{path}");
        }
        let long = format!("/assets/{}", "é".repeat(2000));
        let e = entry(&request(&long), &nobody, "GET", &long);
        assert!(e.subject.len() <= 512 && e.action.len() <= 512, "{e:?}");
        assert_eq!(e.caller, "arn:aws:iam::123456789012:role/x\u{fffd}", "control characters do not reach the trail");
        assert_eq!((e.at.as_str(), e.decision), ("2026-11-26T06:00:00.000Z", Decision::Refused));
    }
}
