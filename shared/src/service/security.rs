//! Who may do what, and what may not be purged: callers identified against the application
//! registry, legal holds placed and released, and the audit trail written and read.

use super::{Core, Metadata};
use crate::domain::audit::{AuditEntry, AuditQuery, Decision, clip};
use crate::domain::grant::{Application, ApplicationBody, Permission, Scope, principal_of};
use crate::domain::hold::{Hold, HoldBody, HoldSubject};
use crate::domain::Asset;
use crate::error::{Error, Result};
use crate::ports::{ObjectStore, Orchestrator, Queues};
use super::schedule::Titles;

/// The caller of a request, identified.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// As authenticated (the IAM ARN from the request context).
    pub arn: String,
    /// The registry's key, when the ARN is an IAM role, user or assumed role.
    pub principal: Option<String>,
    /// The registered application (or the first administrator), if the caller is one.
    pub application: Option<Application>,
}

impl Caller {
    /// The application, for a request any registered application may make (reads).
    pub fn known(&self) -> Result<&Application> {
        self.application.as_ref().ok_or_else(|| Error::Forbidden(format!("{} is not a registered application", clip(&self.arn))))
    }

    /// The application, if its grants allow `permission` on `scope`.
    pub fn require(&self, permission: Permission, scope: &Scope) -> Result<&Application> {
        let app = self.known()?;
        if app.allows(permission, scope) {
            Ok(app)
        } else {
            Err(Error::Forbidden(format!("application {} ({}) has no {permission} grant on {scope}", app.name, app.principal)))
        }
    }
}

/// Most entries one audit query returns.
pub const MAX_AUDIT_PAGE: usize = 1000;

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    /// Identifies the caller: the first administrator (the template's AdminPrincipal), a
    /// registered application, or nobody known (an ARN that is not an IAM principal is nobody).
    pub async fn identify(&self, arn: &str) -> Result<Caller> {
        let Ok(principal) = principal_of(arn) else {
            return Ok(Caller { arn: arn.to_string(), principal: None, application: None });
        };
        let application = if self.config.admin_principal.as_deref() == Some(principal.as_str()) {
            Some(Application::administrator(principal.clone()))
        } else {
            self.meta.get_application(&principal).await?
        };
        Ok(Caller { arn: arn.to_string(), principal: Some(principal), application })
    }

    /// Registers (or replaces) an application; returns it and whether it replaced one.
    pub async fn put_application(&self, body: ApplicationBody, by: &str, now: chrono::DateTime<chrono::Utc>) -> Result<(Application, bool)> {
        let app = body.into_application(by, now)?;
        if self.config.admin_principal.as_deref() == Some(app.principal.as_str()) {
            return Err(Error::validation("the first administrator comes from the template (AdminPrincipal) and is not in the registry"));
        }
        let replaced = self.meta.put_application(&app).await?;
        tracing::info!(principal = %app.principal, name = %app.name, by, "application registered");
        Ok((app, replaced.is_some()))
    }

    pub async fn remove_application(&self, principal: &str) -> Result<Application> {
        let principal = principal_of(principal)?;
        self.meta.delete_application(&principal).await?.ok_or_else(|| Error::NotFound(format!("application {principal}")))
    }

    /// Places a legal hold; true when placed now, false when the subject was held already (the
    /// hold in place is kept and returned).
    pub async fn place_hold(&self, subject: HoldSubject, body: HoldBody, by: &str, now: chrono::DateTime<chrono::Utc>) -> Result<(Hold, bool)> {
        let hold = body.into_hold(subject, by, now)?;
        if let HoldSubject::Asset(id) = &hold.subject {
            self.meta.get_asset(id).await?.ok_or_else(|| Error::NotFound(format!("asset {id}")))?;
        }
        if self.meta.place_hold(&hold).await? {
            tracing::info!(subject = %hold.subject, by, "legal hold placed");
            return Ok((hold, true));
        }
        let held = self.meta.holds().await?.into_iter().find(|h| h.subject == hold.subject);
        held.map(|h| (h, false)).ok_or_else(|| Error::retryable("place hold", "the hold was released meanwhile; place it again"))
    }

    /// Releases a hold and puts what it held back in the due index (the evaluator took held
    /// assets out when it skipped their purge). The reschedule comes first: when it fails the
    /// hold is still in place, and the caller's retry finds it and completes the release.
    pub async fn release_hold(&self, subject: &HoldSubject) -> Result<Hold> {
        let not_held = || Error::NotFound(format!("legal hold on {subject}"));
        let hold = self.meta.get_hold(subject).await?.ok_or_else(not_held)?;
        match subject {
            HoldSubject::Asset(id) => {
                if let Some(asset) = self.meta.get_asset(id).await? {
                    self.reschedule(&asset, &self.meta.current_policies().await?, &mut Titles::default()).await?;
                }
            }
            HoldSubject::Title(id) => self.queue_reschedule(crate::ports::Scope::Title { title_id: id.clone() }, None).await?,
        }
        // Gone meanwhile: another release of it came first.
        let hold = self.meta.release_hold(subject).await?.unwrap_or(hold);
        tracing::info!(subject = %subject, "legal hold released");
        Ok(hold)
    }

    /// Why the asset may not be purged (a legal hold on it or its title), None if it may.
    pub async fn purge_blocked(&self, asset: &Asset) -> Result<Option<String>> {
        self.purge_blocked_by_id(&asset.asset_id, &asset.title_id).await
    }

    pub(crate) async fn purge_blocked_by_id(&self, asset_id: &str, title_id: &str) -> Result<Option<String>> {
        let holds = self.meta.holds_on(asset_id, title_id).await?;
        Ok(holds.first().map(Hold::blocks))
    }

    /// Writes an audit entry for its retention period.
    pub async fn audit(&self, entry: &AuditEntry) -> Result<()> {
        self.meta.record_audit(entry, self.config.audit_retention_days).await
    }

    /// A page of the audit trail, newest first.
    pub async fn audit_page(&self, query: &AuditQuery, limit: Option<usize>, cursor: Option<&str>) -> Result<(Vec<AuditEntry>, Option<String>)> {
        let limit = match limit {
            Some(l) if l == 0 || l > MAX_AUDIT_PAGE => return Err(Error::validation(format!("limit must be 1-{MAX_AUDIT_PAGE}, got {l}"))),
            l => l.unwrap_or(100),
        };
        self.meta.audit_page(query, limit, cursor).await
    }
}

/// An audit entry for something slm did on its own (a policy's task, or a refusal of one).
pub fn own_entry(caller: &str, subject: String, action: String, at: chrono::DateTime<chrono::Utc>, decision: Decision, reason: Option<String>, task_ids: Vec<String>) -> AuditEntry {
    AuditEntry {
        request_id: format!("{caller}:{action}:{subject}"),
        subject,
        // As the API's entries: milliseconds, so that entries sort by time.
        at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        caller: caller.to_string(),
        principal: None,
        application: None,
        action,
        decision,
        status: None,
        reason,
        task_ids,
    }
}

#[cfg(test)]
#[path = "security_tests.rs"]
mod tests;
