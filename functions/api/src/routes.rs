//! Routes of the API: the request translated into a call of the core, the result into JSON.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use serde::Deserialize;
use slm_core::domain::pricing::PriceTable;
use slm_core::domain::title::parse_date;
use slm_core::domain::{Action, AssetChange, NewAsset, PolicyDoc, TaskId, TitleBody};
use slm_core::ports::{AccessStore, AssetStore, PolicyStore, TaskStore, TitleStore};
use slm_core::service::access::AccessBody;
use slm_core::service::{AwsCore, Mode};
use slm_core::{Error, Result};

/// The body of a task request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    pub action: String,
    pub storage_class: Option<String>,
    pub days: Option<u32>,
    pub tier: Option<String>,
    /// The caller's idempotency key: the same key asks for the same task.
    pub request_id: String,
}

impl TaskBody {
    pub fn to_action(&self) -> Result<Action> {
        let unexpected = |field: &str, action: &str| Error::validation(format!("{field} does not apply to {action}"));
        match self.action.as_str() {
            "archive" => {
                if self.days.is_some() || self.tier.is_some() {
                    return Err(unexpected("days/tier", "archive"));
                }
                let class = self.storage_class.as_deref().ok_or_else(|| Error::validation("archive needs storage_class"))?;
                Ok(Action::Archive { storage_class: class.parse()? })
            }
            "restore" => {
                if self.storage_class.is_some() {
                    return Err(unexpected("storage_class", "restore"));
                }
                let days = self.days.ok_or_else(|| Error::validation("restore needs days"))?;
                let tier = self.tier.as_deref().ok_or_else(|| Error::validation("restore needs tier"))?.parse()?;
                Ok(Action::Restore { days, tier })
            }
            "purge" => {
                if self.storage_class.is_some() || self.days.is_some() || self.tier.is_some() {
                    return Err(unexpected("storage_class/days/tier", "purge"));
                }
                Ok(Action::Purge)
            }
            other => Err(Error::validation(format!("unknown action {other:?} (expected archive, restore or purge)"))),
        }
    }
}

/// The body of a dry-run: the day (or time) to evaluate, and how many actions to list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRunBody {
    pub at: String,
    pub limit: Option<usize>,
}

/// Most actions a dry-run lists (its totals count all).
const MAX_DRY_RUN_LIST: usize = 1000;

impl DryRunBody {
    pub fn time(&self) -> Result<chrono::DateTime<chrono::Utc>> {
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&self.at) {
            let t = t.with_timezone(&chrono::Utc);
            parse_date("at", &t.date_naive().to_string())?;
            return Ok(t);
        }
        let day = parse_date("at", &self.at)?;
        Ok(day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
    }

    pub fn mode(&self) -> Result<Mode> {
        match self.limit {
            Some(l) if l == 0 || l > MAX_DRY_RUN_LIST => Err(Error::validation(format!("limit must be 1-{MAX_DRY_RUN_LIST}, got {l}"))),
            l => Ok(Mode::DryRun { limit: l.unwrap_or(MAX_DRY_RUN_LIST) }),
        }
    }
}

fn body<T: serde::de::DeserializeOwned>(request: &ApiGatewayV2httpRequest) -> Result<T> {
    let raw = request.body.as_deref().unwrap_or_default();
    if raw.len() > crate::MAX_BODY_BYTES {
        return Err(Error::validation(format!("body is larger than {} bytes", crate::MAX_BODY_BYTES)));
    }
    if request.is_base64_encoded {
        return Err(Error::validation("body must be JSON text, not base64"));
    }
    slm_core::json::parse("request body", raw)
}

/// The caller: the IAM principal API Gateway authenticated.
fn caller(request: &ApiGatewayV2httpRequest) -> Result<String> {
    request
        .request_context
        .authorizer
        .as_ref()
        .and_then(|a| a.iam.as_ref())
        .and_then(|iam| iam.user_arn.clone())
        .filter(|arn| !arn.is_empty())
        .ok_or_else(|| Error::validation("request carries no IAM caller"))
}

/// The request's time, from API Gateway: the core takes time as an input.
fn now(request: &ApiGatewayV2httpRequest) -> String {
    let millis = request.request_context.time_epoch;
    chrono::DateTime::from_timestamp_millis(millis).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::dependency("encode response", e))
}

pub async fn route(core: &AwsCore, request: ApiGatewayV2httpRequest) -> Result<(i64, serde_json::Value)> {
    let method = request.request_context.http.method.as_str().to_string();
    let path = request.raw_path.clone().unwrap_or_default();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["assets"]) => {
            caller(&request)?;
            let new: NewAsset = body(&request)?;
            let asset = core.register_asset(new, &now(&request)).await?;
            Ok((201, json(&asset)?))
        }
        ("POST", ["backfills"]) => {
            caller(&request)?;
            let backfill: slm_core::service::BackfillRequest = body(&request)?;
            let started = core.start_backfill(backfill, &now(&request)).await?;
            Ok((202, serde_json::json!({ "backfill": started })))
        }
        ("GET", ["assets", asset_id]) => {
            let asset = core.meta.get_asset(asset_id).await?.ok_or_else(|| Error::NotFound(format!("asset {asset_id}")))?;
            Ok((200, json(&asset)?))
        }
        ("POST", ["assets", asset_id, "tasks"]) => {
            let who = caller(&request)?;
            let task_body: TaskBody = body(&request)?;
            let action = task_body.to_action()?;
            if task_body.request_id.is_empty() || task_body.request_id.len() > 128 || task_body.request_id.chars().any(char::is_control) {
                return Err(Error::validation("request_id must be 1-128 printable characters"));
            }
            let origin = format!("request:{}", task_body.request_id);
            let requested = core.request_task(asset_id, action, &origin, &who, &now(&request)).await?;
            let status = if requested.created { 202 } else { 200 };
            Ok((status, serde_json::json!({ "task": json(&requested.task)?, "created": requested.created, "conflict": requested.conflict })))
        }
        ("GET", ["tasks", task_id]) => {
            let id = TaskId::parse(task_id)?;
            let task = core.meta.get_task(&id).await?.ok_or_else(|| Error::NotFound(format!("task {task_id}")))?;
            Ok((200, json(&task)?))
        }
        ("PATCH", ["assets", asset_id]) => {
            caller(&request)?;
            let change: AssetChange = body(&request)?;
            Ok((200, json(&core.change_asset(asset_id, &change).await?)?))
        }
        ("POST", ["assets", asset_id, "accesses"]) => {
            caller(&request)?;
            let access: AccessBody = body(&request)?;
            let today = chrono::DateTime::from_timestamp_millis(request.request_context.time_epoch).unwrap_or_default().date_naive();
            let asset = core.record_access(asset_id, &access, today).await?;
            Ok((200, serde_json::json!({ "asset_id": asset.asset_id, "last_access_on": asset.last_access_on, "due_at": asset.due_at })))
        }
        ("GET", ["assets", asset_id, "repairs"]) => {
            core.meta.get_asset(asset_id).await?.ok_or_else(|| Error::NotFound(format!("asset {asset_id}")))?;
            let repairs = slm_core::ports::RepairStore::repairs(&core.meta, asset_id).await?;
            Ok((200, serde_json::json!({ "asset_id": asset_id, "repairs": repairs })))
        }
        ("GET", ["assets", asset_id, "accesses"]) => {
            let from = match request.query_string_parameters.first("from") {
                Some(d) => parse_date("from", d)?,
                None => parse_date("from", "1970-01-01")?,
            };
            core.meta.get_asset(asset_id).await?.ok_or_else(|| Error::NotFound(format!("asset {asset_id}")))?;
            let days: Vec<_> = core.meta.accesses(asset_id, from).await?.into_iter().map(|(day, count)| serde_json::json!({"day": day, "count": count})).collect();
            Ok((200, serde_json::json!({ "asset_id": asset_id, "accesses": days })))
        }
        ("PUT", ["titles", title_id]) => {
            caller(&request)?;
            let title: TitleBody = body(&request)?;
            let (title, rescheduling) = core.put_title(title_id, title, &now(&request)).await?;
            Ok((200, serde_json::json!({ "title": json(&title)?, "rescheduling": rescheduling })))
        }
        ("GET", ["titles", title_id]) => {
            let title = core.meta.get_title(title_id).await?.ok_or_else(|| Error::NotFound(format!("title {title_id}")))?;
            Ok((200, json(&title)?))
        }
        ("POST", ["policies"]) => {
            let who = caller(&request)?;
            let doc: PolicyDoc = body(&request)?;
            Ok((201, json(&core.create_policy(doc, &who, &now(&request)).await?)?))
        }
        ("GET", ["policies"]) => Ok((200, serde_json::json!({ "policies": json(&core.meta.current_policies().await?)? }))),
        ("GET", ["policies", policy_id]) => {
            let version = match request.query_string_parameters.first("version") {
                Some(v) => Some(v.parse::<u32>().map_err(|_| Error::validation(format!("version must be a number, got {v:?}")))?),
                None => None,
            };
            let policy = core.meta.get_policy(policy_id, version).await?.ok_or_else(|| Error::NotFound(format!("policy {policy_id}")))?;
            Ok((200, json(&policy)?))
        }
        ("PUT", ["policies", policy_id]) => {
            let who = caller(&request)?;
            let doc: PolicyDoc = body(&request)?;
            let change = core.edit_policy(policy_id, doc, &who, &now(&request)).await?;
            Ok((200, serde_json::json!({ "policy": json(&change.policy)?, "changed": change.changed })))
        }
        ("POST", ["policies", policy_id, switch @ ("enable" | "disable")]) => {
            let who = caller(&request)?;
            let change = core.set_policy_enabled(policy_id, *switch == "enable", &who, &now(&request)).await?;
            Ok((200, serde_json::json!({ "policy": json(&change.policy)?, "changed": change.changed })))
        }
        ("POST", ["dry-run"]) => {
            caller(&request)?;
            let dry: DryRunBody = body(&request)?;
            let evaluation = core.evaluate(dry.time()?, dry.mode()?, PriceTable::bundled()).await?;
            Ok((200, json(&evaluation)?))
        }
        _ => Err(Error::NotFound(format!("no route {method} {path}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slm_core::domain::{RestoreTier, StorageClass};

    fn task(action: &str, class: Option<&str>, days: Option<u32>, tier: Option<&str>) -> TaskBody {
        TaskBody {
            action: action.into(),
            storage_class: class.map(Into::into),
            days,
            tier: tier.map(Into::into),
            request_id: "r1".into(),
        }
    }

    #[test]
    fn each_action_reads_its_own_fields() {
        assert_eq!(task("archive", Some("GLACIER"), None, None).to_action().unwrap(), Action::Archive { storage_class: StorageClass::Glacier });
        assert_eq!(task("restore", None, Some(3), Some("Bulk")).to_action().unwrap(), Action::Restore { days: 3, tier: RestoreTier::Bulk });
        assert_eq!(task("purge", None, None, None).to_action().unwrap(), Action::Purge);
    }

    #[test]
    fn fields_of_another_action_and_missing_fields_are_refused() {
        for bad in [
            task("archive", None, None, None),
            task("archive", Some("GLACIER"), Some(3), None),
            task("restore", None, Some(3), None),
            task("restore", Some("GLACIER"), Some(3), Some("Bulk")),
            task("purge", Some("GLACIER"), None, None),
            task("delete", None, None, None),
            task("archive", Some("GLACIER_DEEP"), None, None),
        ] {
            assert!(bad.to_action().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn unknown_fields_in_a_task_body_are_refused() {
        let err = serde_json::from_str::<TaskBody>(r#"{"action":"purge","request_id":"r","force":true}"#).unwrap_err();
        assert!(err.to_string().contains("force"), "{err}");
    }

    #[test]
    fn the_sample_event_is_a_task_request_with_an_iam_caller() {
        let request: ApiGatewayV2httpRequest = serde_json::from_str(include_str!("../../../events/api.json")).unwrap();
        assert_eq!(caller(&request).unwrap(), "arn:aws:iam::123456789012:role/post-production-app");
        let b: TaskBody = body(&request).unwrap();
        assert_eq!(b.to_action().unwrap(), Action::Archive { storage_class: StorageClass::DeepArchive });
        assert_eq!(now(&request), "2026-11-26T06:00:00Z");
    }

    #[test]
    fn oversized_bodies_are_refused_before_parsing() {
        let mut request: ApiGatewayV2httpRequest = serde_json::from_str(include_str!("../../../events/api.json")).unwrap();
        request.body = Some(format!("{{\"action\":\"{}\"}}", "x".repeat(crate::MAX_BODY_BYTES)));
        let err = body::<TaskBody>(&request).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any task-request body is an action or a validation error.
            #[test]
            fn fuzz_task_bodies(action in "(archive|restore|purge|x)", class in proptest::option::of(any::<String>()), days in proptest::option::of(any::<u32>()), tier in proptest::option::of(any::<String>()), extra in proptest::option::of("[a-z]{1,6}")) {
                let mut body = serde_json::json!({"action": action, "storage_class": class, "days": days, "tier": tier, "request_id": "r"});
                if let Some(k) = extra {
                    body[k] = serde_json::json!(1);
                }
                match slm_core::json::parse::<TaskBody>("request body", &body.to_string()).and_then(|b| b.to_action()) {
                    Ok(a) => { let _ = a.validate(); }
                    Err(e) => prop_assert_eq!(e.kind(), slm_core::ErrorKind::Validation),
                }
            }

            /// Any dry-run body is a day and a limit, or a validation error.
            #[test]
            fn fuzz_dry_run_bodies(at in any::<String>(), limit in proptest::option::of(any::<usize>())) {
                let body = serde_json::json!({"at": at, "limit": limit});
                if let Ok(b) = slm_core::json::parse::<DryRunBody>("request body", &body.to_string()) {
                    for r in [b.time().map(|_| ()), b.mode().map(|_| ())] {
                        if let Err(e) = r {
                            prop_assert_eq!(e.kind(), slm_core::ErrorKind::Validation);
                        }
                    }
                }
            }
        }
    }
}
