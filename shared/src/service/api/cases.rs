//! The API's use cases, one method of [`Call`] each: what it needs of the caller's grants, then
//! what the core does.

use super::bodies::{AccessRecorded, AuditFilter, DryRunBody, Execution, HoldChange, PolicyEdited, TaskBody, TaskView};
use super::{AccessBody, Call, Requested, SavingsQuery};
use crate::domain::asset::validate_id;
use crate::domain::audit::{AuditEntry, AuditQuery, clip};
use crate::domain::grant::{Application, ApplicationBody, Permission, Scope, principal_of};
use crate::domain::hold::{Hold, HoldBody, HoldSubject};
use crate::domain::pricing::PriceTable;
use crate::domain::repair::Repair;
use crate::domain::title::parse_date;
use crate::domain::{Action, Asset, AssetChange, NewAsset, Policy, PolicyDoc, TaskId, Title, TitleBody};
use crate::error::{Error, Result};
use crate::ports::{ObjectStore, Orchestrator, Queues};
use crate::service::schedule::{PolicyChange, PolicyCreated};
use crate::service::{BackfillRequest, BackfillStarted, Evaluation, Metadata};
use chrono::NaiveDate;

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Call<'_, M, O, Q, X> {
    pub async fn register_asset(&mut self, new: NewAsset) -> Result<Asset> {
        self.allow(Permission::Register, Scope::asset(&new.asset_type, &new.title_id), format!("asset#{}", new.asset_id)).await?;
        self.core.register_asset(new, self.at).await
    }

    /// One asset is scoped by its type and title; a bucket's prefix or inventory may hold any
    /// asset, so it needs an unscoped grant.
    pub async fn start_backfill(&mut self, backfill: BackfillRequest) -> Result<BackfillStarted> {
        let (scope, subject) = match (&backfill.asset, &backfill.bucket) {
            (Some(a), _) => (Scope::asset(&a.asset_type, &a.title_id), format!("asset#{}", a.asset_id)),
            (None, b) => (Scope::UNSCOPED, format!("bucket#{}", b.as_deref().unwrap_or("-"))),
        };
        self.allow(Permission::Register, scope, subject).await?;
        self.core.start_backfill(backfill, self.at).await
    }

    /// Requests a task: the permission its action needs on the asset, and the caller's own
    /// idempotency key (two applications using the same key ask for two tasks; the second then
    /// meets the first by the conflict matrix).
    pub async fn request_task(&mut self, asset_id: &str, body: TaskBody) -> Result<Requested> {
        let action = body.to_action()?;
        self.entry.action = clip(&format!("{} {}", self.entry.action, action.name()));
        let request_id = body.request_id()?;
        let permission = match action {
            Action::Archive { .. } => Permission::Archive,
            Action::Restore { .. } => Permission::Restore,
            Action::Purge => Permission::Purge,
        };
        let (asset, who) = self.allow_on_asset(permission, asset_id).await?;
        let origin = format!("request:{who}:{request_id}");
        let requested = self.core.request_task(&asset, action, &origin, &who, self.at).await?;
        self.entry.task_ids.push(requested.task.task_id.to_string());
        Ok(requested)
    }

    /// A task, found under its asset like the request that made it; with `execution`, how its
    /// Step Functions execution stands (for a watcher to end when the execution has ended though
    /// the task was never recorded final).
    pub async fn task(&mut self, task_id: &str, execution: bool) -> Result<TaskView> {
        self.read(format!("task#{task_id}"))?;
        let id = TaskId::parse(task_id)?;
        let task = self.core.meta.get_task(&id).await?.ok_or_else(|| Error::NotFound(format!("task {task_id}")))?;
        self.entry.subject = clip(&format!("asset#{}", task.asset_id));
        self.entry.task_ids.push(task.task_id.to_string());
        let execution = match execution {
            true => Some(Execution { status: self.core.orchestrator.execution_status(&id).await? }),
            false => None,
        };
        Ok(TaskView { task, execution })
    }

    pub async fn change_asset(&mut self, asset_id: &str, change: AssetChange) -> Result<Asset> {
        self.allow_on_asset(Permission::Register, asset_id).await?;
        self.core.change_asset(asset_id, &change).await
    }

    pub async fn record_access(&mut self, asset_id: &str, access: AccessBody) -> Result<AccessRecorded> {
        let (asset, _) = self.allow_on_asset(Permission::Access, asset_id).await?;
        let asset = self.core.record_access(&asset, &access, self.today()).await?;
        Ok(AccessRecorded { asset_id: asset.asset_id, last_access_on: asset.last_access_on, due_at: asset.due_at })
    }

    pub async fn repairs(&mut self, asset_id: &str) -> Result<Vec<Repair>> {
        self.asset(asset_id).await?;
        crate::ports::RepairStore::repairs(&self.core.meta, asset_id).await
    }

    /// An asset's accesses per day, from `from` (a date; default: all).
    pub async fn accesses(&mut self, asset_id: &str, from: Option<&str>) -> Result<Vec<(NaiveDate, u64)>> {
        let from = parse_date("from", from.unwrap_or("1970-01-01"))?;
        self.asset(asset_id).await?;
        crate::ports::AccessStore::accesses(&self.core.meta, asset_id, from).await
    }

    /// Places (`body` given) or releases the legal hold on an asset, with a hold grant on it.
    pub async fn hold_asset(&mut self, asset_id: &str, body: Option<HoldBody>) -> Result<HoldChange> {
        let subject = HoldSubject::asset(asset_id)?;
        let asset = self.asset(asset_id).await?;
        let who = self.allow(Permission::Hold, Scope::asset(&asset.asset_type, &asset.title_id), subject.key()).await?;
        self.hold(subject, body, &who).await
    }

    /// Places (`body` given) or releases the legal hold on a title, with a hold grant on it.
    pub async fn hold_title(&mut self, title_id: &str, body: Option<HoldBody>) -> Result<HoldChange> {
        let subject = HoldSubject::title(title_id)?;
        let who = self.allow(Permission::Hold, Scope::title(title_id), subject.key()).await?;
        self.hold(subject, body, &who).await
    }

    async fn hold(&self, subject: HoldSubject, body: Option<HoldBody>, who: &str) -> Result<HoldChange> {
        Ok(match body {
            Some(b) => {
                let (hold, placed) = self.core.place_hold(subject, b, who, self.at).await?;
                HoldChange::Placed { hold, placed }
            }
            None => HoldChange::Released { released: self.core.release_hold(&subject).await? },
        })
    }

    pub async fn holds(&mut self) -> Result<Vec<Hold>> {
        self.require_unscoped(Permission::Hold, "holds")?;
        crate::ports::HoldStore::holds(&self.core.meta).await
    }

    /// Creates or replaces a title; true when its assets are being rescheduled.
    pub async fn put_title(&mut self, title_id: &str, body: TitleBody) -> Result<(Title, bool)> {
        self.allow(Permission::Titles, Scope::title(title_id), format!("title#{title_id}")).await?;
        self.core.put_title(title_id, body, self.at).await
    }

    pub async fn title(&mut self, title_id: &str) -> Result<Title> {
        self.read(format!("title#{title_id}"))?;
        validate_id("title_id", title_id)?;
        crate::ports::TitleStore::get_title(&self.core.meta, title_id).await?.ok_or_else(|| Error::NotFound(format!("title {title_id}")))
    }

    pub async fn create_policy(&mut self, doc: PolicyDoc) -> Result<PolicyCreated> {
        let who = self.allow(Permission::Policies, Scope::UNSCOPED, format!("policy#{}", doc.policy_id)).await?;
        let (policy, created) = self.core.create_policy(doc, &who, self.at).await?;
        let warnings = self.core.policy_warnings(&policy, PriceTable::bundled()).await?;
        Ok(PolicyCreated { policy, warnings, created })
    }

    pub async fn policies(&mut self) -> Result<Vec<Policy>> {
        self.read("policies".into())?;
        crate::ports::PolicyStore::current_policies(&self.core.meta).await
    }

    /// A policy's latest version, or the `version` given (a number).
    pub async fn policy(&mut self, policy_id: &str, version: Option<&str>) -> Result<Policy> {
        self.read(format!("policy#{policy_id}"))?;
        validate_id("policy_id", policy_id)?;
        let version = version.map(|v| v.parse::<u32>().map_err(|_| Error::validation(format!("version must be a number, got {v:?}")))).transpose()?;
        crate::ports::PolicyStore::get_policy(&self.core.meta, policy_id, version).await?.ok_or_else(|| Error::NotFound(format!("policy {policy_id}")))
    }

    /// Edits a policy: a new version unless the document is the same.
    pub async fn edit_policy(&mut self, policy_id: &str, doc: PolicyDoc) -> Result<PolicyEdited> {
        let who = self.allow(Permission::Policies, Scope::UNSCOPED, format!("policy#{policy_id}")).await?;
        let change = self.core.edit_policy(policy_id, doc, &who, self.at).await?;
        self.with_warnings(change).await
    }

    /// Enables or disables a policy.
    pub async fn switch_policy(&mut self, policy_id: &str, enabled: bool) -> Result<PolicyEdited> {
        let who = self.allow(Permission::Policies, Scope::UNSCOPED, format!("policy#{policy_id}")).await?;
        let change = self.core.set_policy_enabled(policy_id, enabled, &who, self.at).await?;
        self.with_warnings(change).await
    }

    async fn with_warnings(&self, change: PolicyChange) -> Result<PolicyEdited> {
        let warnings = self.core.policy_warnings(&change.policy, PriceTable::bundled()).await?;
        Ok(PolicyEdited { policy: change.policy, changed: change.changed, warnings })
    }

    /// What the policies would save (reads only: any registered application may ask).
    pub async fn savings(&mut self, query: SavingsQuery) -> Result<crate::domain::savings::Comparison> {
        self.read("savings".into())?;
        self.core.assess_savings(&query, self.today(), PriceTable::bundled()).await
    }

    /// What the policies would do (reads only: any registered application may ask).
    pub async fn dry_run(&mut self, body: DryRunBody) -> Result<Evaluation> {
        self.read("policies".into())?;
        self.core.evaluate(body.time()?, body.mode()?, PriceTable::bundled()).await
    }

    pub async fn applications(&mut self) -> Result<Vec<Application>> {
        self.require_unscoped(Permission::Admin, "applications")?;
        crate::ports::ApplicationStore::applications(&self.core.meta).await
    }

    /// Registers (or replaces) an application; true when it replaced one.
    pub async fn put_application(&mut self, body: ApplicationBody) -> Result<(Application, bool)> {
        let who = self.allow(Permission::Admin, Scope::UNSCOPED, format!("application#{}", body.principal)).await?;
        self.core.put_application(body, &who, self.at).await
    }

    pub async fn remove_application(&mut self, principal: Option<&str>) -> Result<Application> {
        let principal = principal.ok_or_else(|| Error::validation("name the application: ?principal=<IAM ARN>"))?;
        self.allow(Permission::Admin, Scope::UNSCOPED, format!("application#{principal}")).await?;
        self.core.remove_application(principal).await
    }

    /// A page of the audit trail of exactly one asset, title, policy or caller. An asset's or
    /// title's trail needs an audit grant on it; a caller's, a policy's or an unknown asset id's,
    /// an unscoped one.
    pub async fn audit(&mut self, filter: AuditFilter<'_>, limit: Option<&str>, after: Option<&str>) -> Result<(Vec<AuditEntry>, Option<String>)> {
        self.entry.subject = "audit".into();
        let given: Vec<(&str, &str)> = [("asset", filter.asset), ("title", filter.title), ("policy", filter.policy), ("caller", filter.caller)]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        let [(kind, value)] = given.as_slice() else {
            self.caller.known()?;
            return Err(Error::validation("name exactly one of asset, title, policy or caller"));
        };
        let (query, scope) = match *kind {
            "asset" => {
                validate_id("asset", value)?;
                // The trail of an id no asset has (requests that named it and were refused) needs
                // an unscoped grant.
                let asset = self.core.meta.get_asset(value).await?;
                (AuditQuery::Subject(format!("asset#{value}")), asset.map(|a| (a.asset_type, a.title_id)))
            }
            "title" | "policy" => {
                validate_id(kind, value)?;
                (AuditQuery::Subject(format!("{kind}#{value}")), None)
            }
            // A caller that is no IAM principal is found as it was recorded (clipped).
            _ => (AuditQuery::Caller(principal_of(value).unwrap_or_else(|_| clip(value))), None),
        };
        let scope = match (&scope, *kind) {
            (Some((t, title)), _) => Scope::asset(t, title),
            (None, "title") => Scope::title(value),
            _ => Scope::UNSCOPED,
        };
        self.caller.require(Permission::Audit, &scope)?;
        let limit = limit.map(|l| l.parse::<usize>().map_err(|_| Error::validation(format!("limit must be a number, got {l:?}")))).transpose()?;
        self.core.audit_page(&query, limit, after).await
    }
}

#[cfg(test)]
#[path = "cases_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "grants_tests.rs"]
mod grants_tests;
