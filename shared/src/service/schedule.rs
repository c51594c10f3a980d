//! Titles, policies and the due index that connects them to assets. Each asset a policy will act
//! on carries the first day one may (`due_at`); whatever moves that day (a title's dates, a
//! policy, an asset's phase or tags, the end of a task) puts the asset back in the right place.
//! Changes that touch many assets reschedule them in pages through the control queue.

use super::{Core, Metadata};
use crate::messages::ControlMessage;
use crate::domain::policy::next_due;
use crate::domain::{Asset, AssetChange, Policy, PolicyDoc, Title, TitleBody};
use crate::error::{Error, Result};
use crate::ports::{DueGuard, ObjectStore, Orchestrator, Queues, Scope, TitleStore};
use chrono::NaiveDate;
use std::collections::HashMap;

/// Assets rescheduled per control message.
const RESCHEDULE_PAGE: usize = 200;

/// Titles read during one evaluation or reschedule, each once.
#[derive(Debug, Default)]
pub struct Titles {
    cache: HashMap<String, Option<Title>>,
    pub reads: usize,
}

impl Titles {
    pub async fn get<M: TitleStore>(&mut self, meta: &M, title_id: &str) -> Result<Option<&Title>> {
        if !self.cache.contains_key(title_id) {
            let title = meta.get_title(title_id).await?;
            self.reads += 1;
            self.cache.insert(title_id.to_string(), title);
        }
        Ok(self.cache[title_id].as_ref())
    }
}

/// A policy created, as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyCreated {
    #[serde(flatten)]
    pub policy: Policy,
    /// Where it loses money against the current policies (`Core::policy_warnings`).
    pub warnings: Vec<String>,
    /// False when the create repeated one that made the policy (its retry): answered 200.
    #[serde(skip)]
    pub created: bool,
}

/// What an edit, an enable or a disable did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyChange {
    pub policy: Policy,
    /// False when the edit changed nothing (no new version).
    pub changed: bool,
}

/// How long after a change the same change again is taken for its retry. A change is written
/// before its reschedule is sent; when the send fails the caller is told to retry, and the retry,
/// finding the change made, sends the reschedule again instead of doing nothing.
pub const RETRY_WINDOW: chrono::Duration = chrono::Duration::hours(1);

/// Whether a change written `at` is repeated at `now` within [`RETRY_WINDOW`].
fn repeats(at: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
    chrono::DateTime::parse_from_rfc3339(at).is_ok_and(|at| now >= at && now - at.with_timezone(&chrono::Utc) <= RETRY_WINDOW)
}

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    /// Puts the asset at its next due day in the index (or out of it), unless a task holds it:
    /// the end of that task marks it for a fresh look.
    pub(crate) async fn reschedule(&self, asset: &Asset, policies: &[Policy], titles: &mut Titles) -> Result<Option<NaiveDate>> {
        if asset.active_task.is_some() {
            return Ok(None);
        }
        let title = titles.get(&self.meta, &asset.title_id).await?;
        let due = next_due(asset, title, policies, None);
        if asset.due_at.as_deref() != due.map(|d| d.to_string()).as_deref() {
            self.meta.set_due(&asset.asset_id, due, DueGuard::Idle).await?;
        }
        Ok(due)
    }

    /// One page of a reschedule; hands the rest to the next control message.
    pub async fn reschedule_page(&self, scope: &Scope, cursor: Option<&str>) -> Result<(usize, bool)> {
        let policies = self.meta.current_policies().await?;
        let (assets, next) = self.meta.assets_page(scope, cursor, RESCHEDULE_PAGE).await?;
        let mut titles = Titles::default();
        for asset in &assets {
            self.reschedule(asset, &policies, &mut titles).await?;
        }
        if let Some(cursor) = &next {
            self.queue_reschedule(scope.clone(), Some(cursor.clone())).await?;
        }
        Ok((assets.len(), next.is_some()))
    }

    pub(crate) async fn queue_reschedule(&self, scope: Scope, cursor: Option<String>) -> Result<()> {
        let message = ControlMessage::Reschedule { title_id: scope.title_id(), cursor };
        self.queues.send_control(&message).await
    }

    /// Creates or replaces a title's dates; when they changed, its assets are rescheduled. So
    /// are they when the same dates come again within [`RETRY_WINDOW`] of the put they repeat:
    /// the write comes before the reschedule is sent, and a put whose send failed is retried.
    pub async fn put_title(&self, title_id: &str, body: TitleBody, now: chrono::DateTime<chrono::Utc>) -> Result<(Title, bool)> {
        let title = body.into_title(title_id, now)?;
        let previous = self.meta.put_title(&title).await?;
        let rescheduling = previous.is_none_or(|p| p.dates != title.dates || repeats(&p.updated_at, now));
        if rescheduling {
            self.queue_reschedule(Scope::Title { title_id: title.title_id.clone() }, None).await?;
            tracing::info!(title_id, "title dates put: its assets are rescheduled");
        }
        Ok((title, rescheduling))
    }

    /// Changes an asset's phase or tags and puts it at its new due day.
    pub async fn change_asset(&self, asset_id: &str, change: &AssetChange) -> Result<Asset> {
        crate::domain::asset::validate_id("asset_id", asset_id)?;
        change.validate()?;
        let asset = self.meta.change_asset(asset_id, change).await?.ok_or_else(|| Error::NotFound(format!("asset {asset_id}")))?;
        self.reschedule(&asset, &self.meta.current_policies().await?, &mut Titles::default()).await?;
        Ok(asset)
    }

    /// Creates a policy (version 1) and reschedules every asset; true when made now. The same
    /// create again, by the same caller within [`RETRY_WINDOW`], is its retry: it answers the
    /// policy it made (false) and sends the reschedule again (the first may have failed to send
    /// after the write).
    pub async fn create_policy(&self, doc: PolicyDoc, caller: &str, now: chrono::DateTime<chrono::Utc>) -> Result<(Policy, bool)> {
        doc.validate()?;
        let policy = Policy { doc, version: 1, created_at: crate::domain::stamp(now), created_by: caller.to_string() };
        if !self.meta.put_policy(&policy).await? {
            let made = self.meta.get_policy(policy.id(), None).await?;
            let Some(made) = made.filter(|m| m.version == 1 && m.doc == policy.doc && m.created_by == caller && repeats(&m.created_at, now)) else {
                return Err(Error::Conflict(format!("policy {} exists; edit it to make a new version", policy.id())));
            };
            self.queue_reschedule(Scope::All, None).await?;
            return Ok((made, false));
        }
        self.queue_reschedule(Scope::All, None).await?;
        Ok((policy, true))
    }

    /// Stores `doc` as the next version of the policy (nothing when it is the same document).
    pub async fn edit_policy(&self, policy_id: &str, doc: PolicyDoc, caller: &str, now: chrono::DateTime<chrono::Utc>) -> Result<PolicyChange> {
        doc.validate()?;
        if doc.policy_id != policy_id {
            return Err(Error::validation(format!("policy_id {:?} in the body does not match {policy_id:?} in the path", doc.policy_id)));
        }
        let current = self.meta.get_policy(policy_id, None).await?.ok_or_else(|| Error::NotFound(format!("policy {policy_id}")))?;
        if current.doc == doc {
            // The retry of the edit that made this version may find its reschedule unsent.
            if repeats(&current.created_at, now) {
                self.queue_reschedule(Scope::All, None).await?;
            }
            return Ok(PolicyChange { policy: current, changed: false });
        }
        let policy = Policy { doc, version: current.version + 1, created_at: crate::domain::stamp(now), created_by: caller.to_string() };
        if !self.meta.put_policy(&policy).await? {
            return Err(Error::Conflict(format!("policy {policy_id} changed while it was edited (now past version {}); read it and edit again", current.version)));
        }
        self.queue_reschedule(Scope::All, None).await?;
        tracing::info!(policy_id, version = policy.version, "policy edited");
        Ok(PolicyChange { policy, changed: true })
    }

    /// Where `policy` loses money against the current policies (an early-deletion charge, a copy
    /// out of an archive class): what the create and edit answers carry.
    pub async fn policy_warnings(&self, policy: &Policy, prices: &crate::domain::pricing::PriceTable) -> Result<Vec<String>> {
        let others = self.meta.current_policies().await?;
        Ok(crate::domain::savings::policy_warnings(policy, &others, prices))
    }

    pub async fn set_policy_enabled(&self, policy_id: &str, enabled: bool, caller: &str, now: chrono::DateTime<chrono::Utc>) -> Result<PolicyChange> {
        crate::domain::asset::validate_id("policy_id", policy_id)?;
        let current = self.meta.get_policy(policy_id, None).await?.ok_or_else(|| Error::NotFound(format!("policy {policy_id}")))?;
        let doc = PolicyDoc { enabled, ..current.doc };
        self.edit_policy(policy_id, doc, caller, now).await
    }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
