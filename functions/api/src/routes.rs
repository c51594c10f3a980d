//! Routes of the API: a route table. Each route reads the request (path, query, body) into a
//! use case of the core's [`slm_core::service::api::Call`] and its answer into a status and JSON.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use slm_core::adapters::{DynamoStore, S3Objects, SfnOrchestrator, SqsQueues};
use slm_core::domain::title::parse_date;
use slm_core::service::api::{AuditFilter, HoldChange, SavingsQuery};
use slm_core::{Error, Result};

pub use slm_core::service::api::{DryRunBody, Execution, TaskBody, TaskView};

/// A request of the AWS-backed core.
pub(crate) type Call<'a> = slm_core::service::api::Call<'a, DynamoStore, S3Objects, SqsQueues, SfnOrchestrator>;

type Answer = Result<(i64, serde_json::Value)>;

fn body<T: serde::de::DeserializeOwned>(request: &ApiGatewayV2httpRequest) -> Result<T> {
    let raw = body_text(request)?;
    slm_core::json::parse("request body", &raw)
}

/// The body as text. API Gateway's payload v2 base64-encodes a body whose content type is not
/// text or JSON (`isBase64Encoded`); the JSON inside is the same.
fn body_text(request: &ApiGatewayV2httpRequest) -> Result<std::borrow::Cow<'_, str>> {
    use base64::Engine;
    let raw = request.body.as_deref().unwrap_or_default();
    // Base64 is 4/3 of its content: bound the encoded length before decoding anything.
    let limit = if request.is_base64_encoded { crate::MAX_BODY_BYTES.div_ceil(3) * 4 } else { crate::MAX_BODY_BYTES };
    if raw.len() > limit {
        return Err(Error::validation(format!("body is larger than {} bytes", crate::MAX_BODY_BYTES)));
    }
    if !request.is_base64_encoded {
        return Ok(std::borrow::Cow::Borrowed(raw));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .map_err(|e| Error::validation(format!("body is marked base64 but is not: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| Error::validation("body must be UTF-8 JSON"))?;
    if text.len() > crate::MAX_BODY_BYTES {
        return Err(Error::validation(format!("body is larger than {} bytes", crate::MAX_BODY_BYTES)));
    }
    Ok(std::borrow::Cow::Owned(text))
}

/// The caller as API Gateway's IAM authorizer authenticated it ("-" when the request carries
/// none: API Gateway never sends such a request to this function, so it is nobody).
pub(crate) fn caller_arn(request: &ApiGatewayV2httpRequest) -> String {
    request
        .request_context
        .authorizer
        .as_ref()
        .and_then(|a| a.iam.as_ref())
        .and_then(|iam| iam.user_arn.clone())
        .filter(|arn| !arn.is_empty())
        .unwrap_or_else(|| "-".to_string())
}

/// The request's time, from API Gateway: the core takes time as an input.
pub(crate) fn time(request: &ApiGatewayV2httpRequest) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(request.request_context.time_epoch).unwrap_or_default()
}

fn json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::dependency("encode response", e))
}

fn ok<T: serde::Serialize>(value: &T) -> Answer {
    Ok((200, json(value)?))
}

fn query<'r>(request: &'r ApiGatewayV2httpRequest, name: &str) -> Option<&'r str> {
    request.query_string_parameters.first(name)
}

/// A whole number from the query, or `default` when it is absent.
fn number(request: &ApiGatewayV2httpRequest, name: &str, default: u64) -> Result<u64> {
    query(request, name).map_or(Ok(default), |v| v.parse().map_err(|_| Error::validation(format!("{name} must be a whole number, got {v:?}"))))
}

fn savings_query(request: &ApiGatewayV2httpRequest) -> Result<SavingsQuery> {
    Ok(SavingsQuery {
        title: query(request, "title").map(str::to_string),
        months: u32::try_from(number(request, "months", 36)?).map_err(|_| Error::validation("months is too large"))?,
        start: query(request, "start").map(|d| parse_date("start", d)).transpose()?,
        seed: number(request, "seed", 7)?,
    })
}

fn audit_filter(request: &ApiGatewayV2httpRequest) -> AuditFilter<'_> {
    AuditFilter { asset: query(request, "asset"), title: query(request, "title"), policy: query(request, "policy"), caller: query(request, "caller") }
}

/// A hold's body: PUT places one, DELETE releases.
fn hold_body(request: &ApiGatewayV2httpRequest, verb: &str) -> Result<Option<slm_core::domain::hold::HoldBody>> {
    if verb == "PUT" { body(request).map(Some) } else { Ok(None) }
}

fn hold_answer(change: HoldChange) -> Answer {
    let status = if matches!(change, HoldChange::Placed { placed: true, .. }) { 201 } else { 200 };
    Ok((status, json(&change)?))
}

pub(crate) async fn route(call: &mut Call<'_>, request: &ApiGatewayV2httpRequest) -> Answer {
    let method = request.request_context.http.method.as_str().to_string();
    let path = request.raw_path.clone().unwrap_or_default();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // One arm per route, its pattern on one line: the API's tests read them to hold
    // docs/openapi.yaml to the router.
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["assets"]) => Ok((201, json(&call.register_asset(body(request)?).await?)?)),
        ("POST", ["backfills"]) => Ok((202, serde_json::json!({ "backfill": call.start_backfill(body(request)?).await? }))),
        ("GET", ["assets", asset_id]) => ok(&call.asset(asset_id).await?),
        ("POST", ["assets", asset_id, "tasks"]) => {
            let requested = call.request_task(asset_id, body(request)?).await?;
            Ok((if requested.created { 202 } else { 200 }, json(&requested)?))
        }
        ("GET", ["tasks", task_id]) => ok(&call.task(task_id, query(request, "include") == Some("execution")).await?),
        ("PATCH", ["assets", asset_id]) => ok(&call.change_asset(asset_id, body(request)?).await?),
        ("POST", ["assets", asset_id, "accesses"]) => ok(&call.record_access(asset_id, body(request)?).await?),
        ("GET", ["assets", asset_id, "repairs"]) => ok(&serde_json::json!({ "asset_id": asset_id, "repairs": call.repairs(asset_id).await? })),
        ("GET", ["assets", asset_id, "accesses"]) => {
            let days = call.accesses(asset_id, query(request, "from")).await?;
            let days: Vec<_> = days.into_iter().map(|(day, count)| serde_json::json!({"day": day, "count": count})).collect();
            ok(&serde_json::json!({ "asset_id": asset_id, "accesses": days }))
        }
        (verb @ ("PUT" | "DELETE"), ["assets", asset_id, "hold"]) => hold_answer(call.hold_asset(asset_id, hold_body(request, verb)?).await?),
        (verb @ ("PUT" | "DELETE"), ["titles", title_id, "hold"]) => hold_answer(call.hold_title(title_id, hold_body(request, verb)?).await?),
        ("GET", ["holds"]) => ok(&serde_json::json!({ "holds": call.holds().await? })),
        ("PUT", ["titles", title_id]) => {
            let (title, rescheduling) = call.put_title(title_id, body(request)?).await?;
            ok(&serde_json::json!({ "title": title, "rescheduling": rescheduling }))
        }
        ("GET", ["titles", title_id]) => ok(&call.title(title_id).await?),
        ("POST", ["policies"]) => {
            let created = call.create_policy(body(request)?).await?;
            Ok((if created.created { 201 } else { 200 }, json(&created)?))
        }
        ("GET", ["policies"]) => ok(&serde_json::json!({ "policies": call.policies().await? })),
        ("GET", ["policies", policy_id]) => ok(&call.policy(policy_id, query(request, "version")).await?),
        ("PUT", ["policies", policy_id]) => ok(&call.edit_policy(policy_id, body(request)?).await?),
        ("POST", ["policies", policy_id, switch @ ("enable" | "disable")]) => ok(&call.switch_policy(policy_id, *switch == "enable").await?),
        ("GET", ["savings"]) => ok(&call.savings(savings_query(request)?).await?),
        ("POST", ["dry-run"]) => ok(&call.dry_run(body(request)?).await?),
        ("GET", ["applications"]) => ok(&serde_json::json!({ "applications": call.applications().await? })),
        ("PUT", ["applications"]) => {
            let (app, replaced) = call.put_application(body(request)?).await?;
            Ok((if replaced { 200 } else { 201 }, serde_json::json!({ "application": app, "replaced": replaced })))
        }
        ("DELETE", ["applications"]) => ok(&serde_json::json!({ "removed": call.remove_application(query(request, "principal")).await? })),
        ("GET", ["audit"]) => {
            let (entries, next) = call.audit(audit_filter(request), query(request, "limit"), query(request, "after")).await?;
            ok(&serde_json::json!({ "entries": entries, "next": next }))
        }
        _ => call.no_route(&method, &path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slm_core::domain::{Action, StorageClass};

    #[test]
    fn the_sample_event_is_a_task_request_with_an_iam_caller() {
        let request: ApiGatewayV2httpRequest = serde_json::from_str(include_str!("../../../events/api.json")).unwrap();
        assert_eq!(caller_arn(&request), "arn:aws:iam::123456789012:role/post-production-app");
        let b: TaskBody = body(&request).unwrap();
        assert_eq!(b.to_action().unwrap(), Action::Archive { storage_class: StorageClass::DeepArchive });
        assert_eq!(time(&request).to_rfc3339(), "2026-11-26T06:00:00+00:00");
    }

    #[test]
    fn a_base64_body_is_decoded_as_api_gateway_sends_it() {
        use base64::Engine;
        let mut request: ApiGatewayV2httpRequest = serde_json::from_str(include_str!("../../../events/api.json")).unwrap();
        let json = request.body.clone().unwrap();
        request.body = Some(base64::engine::general_purpose::STANDARD.encode(&json));
        request.is_base64_encoded = true;
        let b: TaskBody = body(&request).unwrap();
        assert_eq!(b.to_action().unwrap(), Action::Archive { storage_class: StorageClass::DeepArchive });
    }

    #[test]
    fn a_body_marked_base64_that_is_not_or_is_not_utf8_is_refused() {
        use base64::Engine;
        let mut request: ApiGatewayV2httpRequest = serde_json::from_str(include_str!("../../../events/api.json")).unwrap();
        request.is_base64_encoded = true;
        request.body = Some("{not base64}".into());
        assert!(body::<TaskBody>(&request).unwrap_err().to_string().contains("not"));
        request.body = Some(base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, b'{']));
        assert!(body::<TaskBody>(&request).unwrap_err().to_string().contains("UTF-8"));
        request.body = Some(base64::engine::general_purpose::STANDARD.encode(vec![b' '; crate::MAX_BODY_BYTES + 1]));
        assert!(body::<TaskBody>(&request).unwrap_err().to_string().contains("larger"));
    }

    #[test]
    fn oversized_bodies_are_refused_before_parsing() {
        let mut request: ApiGatewayV2httpRequest = serde_json::from_str(include_str!("../../../events/api.json")).unwrap();
        request.body = Some(format!("{{\"action\":\"{}\"}}", "x".repeat(crate::MAX_BODY_BYTES)));
        let err = body::<TaskBody>(&request).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
    }
}
