//! The API's use cases. Each request is a [`Call`]: its caller identified, its audit entry begun;
//! each use case authorizes what it does (the permission an action needs, on the asset's type and
//! title), audits an allowed change before acting, then acts. The API function only reads the
//! HTTP request (path, query, body) into these calls and writes their answers.

mod bodies;
mod cases;

pub use super::access::{AccessBody, SavingsQuery};
pub use super::request::Requested;
pub use bodies::{AccessRecorded, AuditFilter, DryRunBody, Execution, HoldChange, PolicyEdited, TaskBody, TaskView};

use super::{Caller, Core, Metadata};
use crate::domain::asset::validate_id;
use crate::domain::audit::{AuditEntry, Decision, clip};
use crate::domain::grant::{Permission, Scope};
use crate::domain::Asset;
use crate::error::{Error, Result};
use crate::ports::{ObjectStore, Orchestrator, Queues};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// A request on its way: who asked, when, and its audit entry, which the use case fills in (what
/// it acts on, the tasks it concerned) and [`Call::end`] writes with the outcome.
pub struct Call<'a, M, O, Q, X> {
    core: &'a Core<M, O, Q, X>,
    pub caller: Caller,
    pub entry: AuditEntry,
    /// The request's time (API Gateway's): the core takes time as an input.
    pub at: DateTime<Utc>,
}

/// Where a request comes from, as the API function reads it.
pub struct Origin<'r> {
    /// The caller's ARN as the IAM authorizer authenticated it ("-" for none).
    pub arn: &'r str,
    pub at: DateTime<Utc>,
    /// API Gateway's request id.
    pub request_id: Option<&'r str>,
    pub method: &'r str,
    pub path: &'r str,
}

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    /// Begins a request: the caller identified, its audit entry begun (refused until a use case
    /// allows it).
    pub async fn begin_call<'a>(&'a self, origin: &Origin<'_>) -> Result<Call<'a, M, O, Q, X>> {
        let caller = self.identify(origin.arn).await?;
        let entry = entry(origin, &caller);
        Ok(Call { core: self, caller, entry, at: origin.at })
    }
}

/// The audit entry a request starts with: who, what, when; the use case names its subject more
/// precisely where the path does not (a new asset's id is in the body).
pub fn entry(origin: &Origin<'_>, caller: &Caller) -> AuditEntry {
    let segments: Vec<&str> = origin.path.trim_matches('/').split('/').collect();
    let subject = match segments.as_slice() {
        ["assets", id, ..] => format!("asset#{id}"),
        ["titles", id, ..] => format!("title#{id}"),
        ["policies", id, ..] => format!("policy#{id}"),
        ["tasks", id] => format!("task#{id}"),
        _ => "-".to_string(),
    };
    let request_id = origin.request_id.map_or_else(|| origin.at.timestamp_millis().to_string(), str::to_string);
    AuditEntry {
        subject: clip(&subject),
        at: origin.at.to_rfc3339_opts(SecondsFormat::Millis, true),
        request_id: clip(&request_id),
        caller: clip(&caller.arn),
        principal: caller.principal.clone(),
        application: caller.application.as_ref().map(|a| a.name.clone()),
        action: clip(&format!("{} {}", origin.method, origin.path)),
        decision: Decision::Refused,
        status: None,
        reason: None,
        task_ids: Vec::new(),
    }
}

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Call<'_, M, O, Q, X> {
    /// Writes the request's outcome to the audit trail: its HTTP status, and for a failure whether
    /// the caller was refused (below 500) or the service failed, with the reason the caller was
    /// told. An allowed change was recorded before it acted; a failure here loses only the
    /// outcome, and is logged.
    pub async fn end(mut self, status: i64, reason: Option<&str>) {
        self.entry.status = Some(status);
        self.entry.decision = match (reason, status) {
            (None, _) => Decision::Allowed,
            (Some(_), s) if s >= 500 => Decision::Failed,
            (Some(_), _) => Decision::Refused,
        };
        self.entry.reason = reason.map(clip);
        if let Err(e) = self.core.audit(&self.entry).await {
            tracing::error!(error = %e.chain(), subject = %self.entry.subject, request_id = %self.entry.request_id, "audit entry not written");
        }
    }

    fn today(&self) -> NaiveDate {
        self.at.date_naive()
    }

    /// Authorizes a change of `subject`: refused (403) unless the caller's grants allow
    /// `permission` on `scope`. An allowed change is written to the audit trail before it acts (if
    /// that write fails, nothing is done). Returns the caller's principal.
    async fn allow(&mut self, permission: Permission, scope: Scope<'_>, subject: String) -> Result<String> {
        self.entry.subject = clip(&subject);
        let who = self.caller.require(permission, &scope)?.principal.clone();
        self.entry.decision = Decision::Allowed;
        self.core.audit(&self.entry).await.map_err(|e| Error::retryable("audit", e.chain()))?;
        Ok(who)
    }

    /// Authorizes a read of `subject`: any registered application may read.
    fn read(&mut self, subject: String) -> Result<()> {
        self.entry.subject = clip(&subject);
        self.caller.known().map(|_| ())
    }

    /// Authorizes what only an unscoped `permission` allows, reads included.
    fn require_unscoped(&mut self, permission: Permission, subject: &str) -> Result<()> {
        self.entry.subject = subject.to_string();
        self.caller.require(permission, &Scope::UNSCOPED).map(|_| ())
    }

    /// The asset a request names, for its scope; 404 if it does not exist. Read only once the
    /// caller is known, so that nobody learns which assets exist.
    pub async fn asset(&mut self, asset_id: &str) -> Result<Asset> {
        self.entry.subject = clip(&format!("asset#{asset_id}"));
        self.caller.known()?;
        // An id no asset can have is a 400, not a lookup (nor a key DynamoDB would refuse).
        validate_id("asset_id", asset_id)?;
        self.core.meta.get_asset(asset_id).await?.ok_or_else(|| Error::NotFound(format!("asset {asset_id}")))
    }

    /// The asset a change names, the change authorized by `permission` on its type and title;
    /// with the caller's principal.
    async fn allow_on_asset(&mut self, permission: Permission, asset_id: &str) -> Result<(Asset, String)> {
        let asset = self.asset(asset_id).await?;
        let who = self.allow(permission, Scope::asset(&asset.asset_type, &asset.title_id), format!("asset#{asset_id}")).await?;
        Ok((asset, who))
    }

    /// A route no request may take: 404, once the caller is known.
    pub fn no_route<T>(&self, method: &str, path: &str) -> Result<T> {
        self.caller.known()?;
        Err(Error::NotFound(format!("no route {method} {path}")))
    }

}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_names_what_the_path_acts_on_and_stays_bounded() {
        let nobody = Caller { arn: "arn:aws:iam::123456789012:role/x\n".into(), principal: None, application: None };
        let at = "2026-11-26T06:00:00Z".parse().unwrap();
        let origin = |path| Origin { arn: "-", at, request_id: Some("r-1"), method: "POST", path };
        for (path, subject) in [
            ("/assets/cam-1/tasks", "asset#cam-1"),
            ("/assets/cam-1", "asset#cam-1"),
            ("/titles/show/hold", "title#show"),
            ("/policies/p1/enable", "policy#p1"),
            ("/tasks/t-1", "task#t-1"),
            ("/applications", "-"),
        ] {
            assert_eq!(entry(&origin(path), &nobody).subject, subject, "{path}");
        }
        let long = format!("/assets/{}", "é".repeat(2000));
        let e = entry(&origin(&long), &nobody);
        assert!(e.subject.len() <= 512 && e.action.len() <= 512, "{e:?}");
        assert_eq!(e.caller, "arn:aws:iam::123456789012:role/x\u{fffd}", "control characters do not reach the trail");
        assert_eq!((e.at.as_str(), e.request_id.as_str(), e.decision), ("2026-11-26T06:00:00.000Z", "r-1", Decision::Refused));
    }
}
