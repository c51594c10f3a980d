//! Routes of the API: the request translated into a call of the core, the result into JSON.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use serde::{Deserialize, Serialize};
use slm_core::domain::pricing::PriceTable;
use slm_core::domain::title::parse_date;
use slm_core::domain::asset::validate_id;
use slm_core::domain::audit::{AuditEntry, AuditQuery, Decision, clip};
use slm_core::domain::grant::{ApplicationBody, Permission, Scope, principal_of};
use slm_core::domain::hold::{HoldBody, HoldSubject};
use slm_core::domain::{Action, Asset, AssetChange, NewAsset, PolicyDoc, TaskId, TitleBody};
use slm_core::ports::{AccessStore, ApplicationStore, AssetStore, HoldStore, Orchestrator, PolicyStore, TaskStore, TitleStore};
use slm_core::service::access::AccessBody;
use slm_core::adapters::AwsCore;
use slm_core::service::{Caller, Mode};
use slm_core::{Error, Result};

/// A task as `GET /tasks/{id}` answers it: with its execution's status when asked for.
#[derive(Debug, Serialize, Deserialize)]
pub struct TaskView {
    #[serde(flatten)]
    pub task: slm_core::domain::Task,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<Execution>,
}

/// A task's Step Functions execution: its status, None while it has none.
#[derive(Debug, Serialize, Deserialize)]
pub struct Execution {
    pub status: Option<String>,
}

/// The body of a task request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
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
pub(crate) fn now(request: &ApiGatewayV2httpRequest) -> String {
    let millis = request.request_context.time_epoch;
    chrono::DateTime::from_timestamp_millis(millis).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::dependency("encode response", e))
}

/// One request on its way through authorization: the caller identified, and its audit entry
/// filled in by the route (what it acts on, what it asked, the tasks it concerned).
pub(crate) struct Call<'a> {
    pub core: &'a AwsCore,
    pub request: &'a ApiGatewayV2httpRequest,
    pub caller: Caller,
    pub entry: AuditEntry,
}

impl Call<'_> {
    /// Authorizes a mutating request on `subject`: refused (403) unless the caller's grants
    /// allow `permission` on `scope`. An allowed request is written to the audit trail before it
    /// acts (if that write fails, nothing is done); the handler writes its outcome after.
    async fn allow(&mut self, permission: Permission, scope: Scope<'_>, subject: String) -> Result<String> {
        self.entry.subject = clip(&subject);
        let app = self.caller.require(permission, &scope)?;
        let who = app.principal.clone();
        self.entry.decision = Decision::Allowed;
        self.core.audit(&self.entry).await.map_err(|e| Error::retryable("audit", e.chain()))?;
        Ok(who)
    }

    /// Authorizes a read of `subject`: any registered application may read.
    fn read(&mut self, subject: String) -> Result<()> {
        self.entry.subject = clip(&subject);
        self.caller.known().map(|_| ())
    }

    /// The asset a request names, for its scope; 404 if it does not exist. Read only once the
    /// caller is known, so that nobody learns which assets exist.
    async fn asset(&mut self, asset_id: &str) -> Result<Asset> {
        self.entry.subject = clip(&format!("asset#{asset_id}"));
        self.caller.known()?;
        // An id no asset can have is a 400, not a lookup (nor a key DynamoDB would refuse).
        validate_id("asset_id", asset_id)?;
        self.core.meta.get_asset(asset_id).await?.ok_or_else(|| Error::NotFound(format!("asset {asset_id}")))
    }
}

fn query<'r>(request: &'r ApiGatewayV2httpRequest, name: &str) -> Option<&'r str> {
    request.query_string_parameters.first(name)
}

pub(crate) async fn route(call: &mut Call<'_>) -> Result<(i64, serde_json::Value)> {
    let request = call.request;
    let core = call.core;
    let method = request.request_context.http.method.as_str().to_string();
    let path = request.raw_path.clone().unwrap_or_default();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // One arm per route, its pattern on one line: the API's tests read them to hold
    // docs/openapi.yaml to the router.
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["assets"]) => {
            let new: NewAsset = body(request)?;
            call.allow(Permission::Register, Scope::asset(&new.asset_type, &new.title_id), format!("asset#{}", new.asset_id)).await?;
            let asset = core.register_asset(new, &now(request)).await?;
            Ok((201, json(&asset)?))
        }
        ("POST", ["backfills"]) => {
            let backfill: slm_core::service::BackfillRequest = body(request)?;
            // One asset is scoped by its type and title; a bucket's prefix or inventory may hold
            // any asset, so it needs an unscoped grant.
            let (scope, subject) = match (&backfill.asset, &backfill.bucket) {
                (Some(a), _) => (Scope::asset(&a.asset_type, &a.title_id), format!("asset#{}", a.asset_id)),
                (None, b) => (Scope::UNSCOPED, format!("bucket#{}", b.as_deref().unwrap_or("-"))),
            };
            call.allow(Permission::Register, scope, subject).await?;
            let started = core.start_backfill(backfill, &now(request)).await?;
            Ok((202, serde_json::json!({ "backfill": started })))
        }
        ("GET", ["assets", asset_id]) => {
            let asset = call.asset(asset_id).await?;
            Ok((200, json(&asset)?))
        }
        ("POST", ["assets", asset_id, "tasks"]) => {
            let task_body: TaskBody = body(request)?;
            let action = task_body.to_action()?;
            call.entry.action = format!("{} {}", call.entry.action, action.name());
            if task_body.request_id.is_empty() || task_body.request_id.len() > 128 || task_body.request_id.chars().any(char::is_control) {
                return Err(Error::validation("request_id must be 1-128 printable characters"));
            }
            let asset = call.asset(asset_id).await?;
            let permission = match action {
                Action::Archive { .. } => Permission::Archive,
                Action::Restore { .. } => Permission::Restore,
                Action::Purge => Permission::Purge,
            };
            let who = call.allow(permission, Scope::asset(&asset.asset_type, &asset.title_id), format!("asset#{asset_id}")).await?;
            // The idempotency key is the caller's own: two applications using the same key ask
            // for two tasks (the second then meets the first by the conflict matrix).
            let origin = format!("request:{who}:{}", task_body.request_id);
            let requested = core.request_task(&asset, action, &origin, &who, &now(request)).await?;
            call.entry.task_ids.push(requested.task.task_id.to_string());
            let status = if requested.created { 202 } else { 200 };
            Ok((status, serde_json::json!({ "task": json(&requested.task)?, "created": requested.created, "conflict": requested.conflict })))
        }
        ("GET", ["tasks", task_id]) => {
            call.read(format!("task#{task_id}"))?;
            let id = TaskId::parse(task_id)?;
            let task = core.meta.get_task(&id).await?.ok_or_else(|| Error::NotFound(format!("task {task_id}")))?;
            // Found under its asset, like the request that made it.
            call.entry.subject = format!("asset#{}", task.asset_id);
            call.entry.task_ids.push(task.task_id.to_string());
            // `?include=execution`: how its Step Functions execution stands, for a watcher to end
            // when the execution has ended though the task was never recorded final.
            let execution = match query(request, "include") {
                Some("execution") => Some(Execution { status: core.orchestrator.execution_status(&id).await? }),
                _ => None,
            };
            Ok((200, json(&TaskView { task, execution })?))
        }
        ("PATCH", ["assets", asset_id]) => {
            let change: AssetChange = body(request)?;
            let asset = call.asset(asset_id).await?;
            call.allow(Permission::Register, Scope::asset(&asset.asset_type, &asset.title_id), format!("asset#{asset_id}")).await?;
            Ok((200, json(&core.change_asset(asset_id, &change).await?)?))
        }
        ("POST", ["assets", asset_id, "accesses"]) => {
            let access: AccessBody = body(request)?;
            let asset = call.asset(asset_id).await?;
            call.allow(Permission::Access, Scope::asset(&asset.asset_type, &asset.title_id), format!("asset#{asset_id}")).await?;
            let today = chrono::DateTime::from_timestamp_millis(request.request_context.time_epoch).unwrap_or_default().date_naive();
            let asset = core.record_access(&asset, &access, today).await?;
            Ok((200, serde_json::json!({ "asset_id": asset.asset_id, "last_access_on": asset.last_access_on, "due_at": asset.due_at })))
        }
        ("GET", ["assets", asset_id, "repairs"]) => {
            call.asset(asset_id).await?;
            let repairs = slm_core::ports::RepairStore::repairs(&core.meta, asset_id).await?;
            Ok((200, serde_json::json!({ "asset_id": asset_id, "repairs": repairs })))
        }
        ("GET", ["assets", asset_id, "accesses"]) => {
            let from = match query(request, "from") {
                Some(d) => parse_date("from", d)?,
                None => parse_date("from", "1970-01-01")?,
            };
            call.asset(asset_id).await?;
            let days: Vec<_> = core.meta.accesses(asset_id, from).await?.into_iter().map(|(day, count)| serde_json::json!({"day": day, "count": count})).collect();
            Ok((200, serde_json::json!({ "asset_id": asset_id, "accesses": days })))
        }
        (verb @ ("PUT" | "DELETE"), ["assets", asset_id, "hold"]) => {
            let subject = HoldSubject::asset(asset_id)?;
            let hold_body: Option<HoldBody> = if verb == "PUT" { Some(body(request)?) } else { None };
            let asset = call.asset(asset_id).await?;
            let who = call.allow(Permission::Hold, Scope::asset(&asset.asset_type, &asset.title_id), subject.key()).await?;
            hold_route(core, subject, hold_body, &who, &now(request)).await
        }
        (verb @ ("PUT" | "DELETE"), ["titles", title_id, "hold"]) => {
            let subject = HoldSubject::title(title_id)?;
            let hold_body: Option<HoldBody> = if verb == "PUT" { Some(body(request)?) } else { None };
            let who = call.allow(Permission::Hold, Scope::title(title_id), subject.key()).await?;
            hold_route(core, subject, hold_body, &who, &now(request)).await
        }
        ("GET", ["holds"]) => {
            call.entry.subject = "holds".into();
            call.caller.require(Permission::Hold, &Scope::UNSCOPED)?;
            Ok((200, serde_json::json!({ "holds": json(&core.meta.holds().await?)? })))
        }
        ("PUT", ["titles", title_id]) => {
            let title: TitleBody = body(request)?;
            call.allow(Permission::Titles, Scope::title(title_id), format!("title#{title_id}")).await?;
            let (title, rescheduling) = core.put_title(title_id, title, &now(request)).await?;
            Ok((200, serde_json::json!({ "title": json(&title)?, "rescheduling": rescheduling })))
        }
        ("GET", ["titles", title_id]) => {
            call.read(format!("title#{title_id}"))?;
            validate_id("title_id", title_id)?;
            let title = core.meta.get_title(title_id).await?.ok_or_else(|| Error::NotFound(format!("title {title_id}")))?;
            Ok((200, json(&title)?))
        }
        ("POST", ["policies"]) => {
            let doc: PolicyDoc = body(request)?;
            let who = call.allow(Permission::Policies, Scope::UNSCOPED, format!("policy#{}", doc.policy_id)).await?;
            let policy = core.create_policy(doc, &who, &now(request)).await?;
            let warnings = core.policy_warnings(&policy, PriceTable::bundled()).await?;
            Ok((201, json(&slm_core::service::schedule::PolicyCreated { policy, warnings })?))
        }
        ("GET", ["policies"]) => {
            call.read("policies".into())?;
            Ok((200, serde_json::json!({ "policies": json(&core.meta.current_policies().await?)? })))
        }
        ("GET", ["policies", policy_id]) => {
            call.read(format!("policy#{policy_id}"))?;
            validate_id("policy_id", policy_id)?;
            let version = match query(request, "version") {
                Some(v) => Some(v.parse::<u32>().map_err(|_| Error::validation(format!("version must be a number, got {v:?}")))?),
                None => None,
            };
            let policy = core.meta.get_policy(policy_id, version).await?.ok_or_else(|| Error::NotFound(format!("policy {policy_id}")))?;
            Ok((200, json(&policy)?))
        }
        ("PUT", ["policies", policy_id]) => {
            let doc: PolicyDoc = body(request)?;
            let who = call.allow(Permission::Policies, Scope::UNSCOPED, format!("policy#{policy_id}")).await?;
            let change = core.edit_policy(policy_id, doc, &who, &now(request)).await?;
            let warnings = core.policy_warnings(&change.policy, PriceTable::bundled()).await?;
            Ok((200, serde_json::json!({ "policy": json(&change.policy)?, "changed": change.changed, "warnings": warnings })))
        }
        ("POST", ["policies", policy_id, switch @ ("enable" | "disable")]) => {
            let who = call.allow(Permission::Policies, Scope::UNSCOPED, format!("policy#{policy_id}")).await?;
            let change = core.set_policy_enabled(policy_id, *switch == "enable", &who, &now(request)).await?;
            let warnings = core.policy_warnings(&change.policy, PriceTable::bundled()).await?;
            Ok((200, serde_json::json!({ "policy": json(&change.policy)?, "changed": change.changed, "warnings": warnings })))
        }
        ("GET", ["savings"]) => {
            // Reads only: any registered application may ask what the policies would save.
            call.read("savings".into())?;
            let number = |name: &str, default: u64| -> Result<u64> {
                query(request, name).map_or(Ok(default), |v| v.parse().map_err(|_| Error::validation(format!("{name} must be a whole number, got {v:?}"))))
            };
            let q = slm_core::service::access::SavingsQuery {
                title: query(request, "title").map(str::to_string),
                months: u32::try_from(number("months", 36)?).map_err(|_| Error::validation("months is too large"))?,
                start: query(request, "start").map(|d| slm_core::domain::title::parse_date("start", d)).transpose()?,
                seed: number("seed", 7)?,
            };
            let today = chrono::DateTime::from_timestamp_millis(request.request_context.time_epoch).unwrap_or_default().date_naive();
            Ok((200, json(&core.assess_savings(&q, today, PriceTable::bundled()).await?)?))
        }
        ("POST", ["dry-run"]) => {
            // Reads only: any registered application may ask what the policies would do.
            let dry: DryRunBody = body(request)?;
            call.read("policies".into())?;
            let evaluation = core.evaluate(dry.time()?, dry.mode()?, PriceTable::bundled()).await?;
            Ok((200, json(&evaluation)?))
        }
        ("GET", ["applications"]) => {
            call.entry.subject = "applications".into();
            call.caller.require(Permission::Admin, &Scope::UNSCOPED)?;
            Ok((200, serde_json::json!({ "applications": json(&core.meta.applications().await?)? })))
        }
        ("PUT", ["applications"]) => {
            let app: ApplicationBody = body(request)?;
            let who = call.allow(Permission::Admin, Scope::UNSCOPED, format!("application#{}", app.principal)).await?;
            let (app, replaced) = core.put_application(app, &who, &now(request)).await?;
            Ok((if replaced { 200 } else { 201 }, serde_json::json!({ "application": json(&app)?, "replaced": replaced })))
        }
        ("DELETE", ["applications"]) => {
            let principal = query(request, "principal").ok_or_else(|| Error::validation("name the application: ?principal=<IAM ARN>"))?;
            call.allow(Permission::Admin, Scope::UNSCOPED, format!("application#{principal}")).await?;
            let removed = core.remove_application(principal).await?;
            Ok((200, serde_json::json!({ "removed": json(&removed)? })))
        }
        ("GET", ["audit"]) => audit_route(call).await,
        _ => {
            call.caller.known()?;
            Err(Error::NotFound(format!("no route {method} {path}")))
        }
    }
}

async fn hold_route(core: &AwsCore, subject: HoldSubject, body: Option<HoldBody>, who: &str, now: &str) -> Result<(i64, serde_json::Value)> {
    match body {
        Some(b) => {
            let (hold, placed) = core.place_hold(subject, b, who, now).await?;
            Ok((if placed { 201 } else { 200 }, serde_json::json!({ "hold": json(&hold)?, "placed": placed })))
        }
        None => Ok((200, serde_json::json!({ "released": json(&core.release_hold(&subject).await?)? }))),
    }
}

/// `GET /audit?asset=|title=|policy=|caller=` (exactly one), with `limit` and `after` (the
/// previous page's `next`). An asset's or title's trail needs an audit grant on it; a
/// caller's, a policy's or an unknown asset id's, an unscoped one.
async fn audit_route(call: &mut Call<'_>) -> Result<(i64, serde_json::Value)> {
    let request = call.request;
    call.entry.subject = "audit".into();
    let given: Vec<(&str, &str)> = ["asset", "title", "policy", "caller"].into_iter().filter_map(|k| query(request, k).map(|v| (k, v))).collect();
    let [(kind, value)] = given.as_slice() else {
        call.caller.known()?;
        return Err(Error::validation("name exactly one of asset, title, policy or caller"));
    };
    let (query_of, scope) = match *kind {
        "asset" => {
            validate_id("asset", value)?;
            // An asset's trail needs a grant on its type and title; the trail of an id no asset
            // has (requests that named it and were refused), an unscoped one.
            let asset = call.core.meta.get_asset(value).await?;
            (AuditQuery::Subject(format!("asset#{value}")), asset.map(|a| (a.asset_type, a.title_id)))
        }
        "title" => {
            validate_id("title", value)?;
            (AuditQuery::Subject(format!("title#{value}")), None)
        }
        "policy" => {
            validate_id("policy", value)?;
            (AuditQuery::Subject(format!("policy#{value}")), None)
        }
        // A caller that is no IAM principal is found as it was recorded (clipped).
        _ => (AuditQuery::Caller(principal_of(value).unwrap_or_else(|_| clip(value))), None),
    };
    let scope = match (&scope, *kind) {
        (Some((t, title)), _) => Scope::asset(t, title),
        (None, "title") => Scope::title(value),
        _ => Scope::UNSCOPED,
    };
    call.caller.require(Permission::Audit, &scope)?;
    let limit = match query(request, "limit") {
        Some(l) => Some(l.parse::<usize>().map_err(|_| Error::validation(format!("limit must be a number, got {l:?}")))?),
        None => None,
    };
    let (entries, next) = call.core.audit_page(&query_of, limit, query(request, "after")).await?;
    Ok((200, serde_json::json!({ "entries": json(&entries)?, "next": next })))
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
        assert_eq!(caller_arn(&request), "arn:aws:iam::123456789012:role/post-production-app");
        let b: TaskBody = body(&request).unwrap();
        assert_eq!(b.to_action().unwrap(), Action::Archive { storage_class: StorageClass::DeepArchive });
        assert_eq!(now(&request), "2026-11-26T06:00:00Z");
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
