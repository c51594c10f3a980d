//! The use cases: what each function does, written once against the ports. The function crates,
//! the local stack and the CLI all call these.

pub mod access;
pub mod api;
mod announce;
mod complete;
pub mod evaluate;
mod backfill;
mod plan;
pub mod reconcile;
mod register;
mod request;
pub mod security;
pub mod schedule;
mod work;

#[cfg(test)]
pub(crate) mod testing;

pub use complete::{EventResult, RestorePlaces, S3Change};
pub use evaluate::{Evaluation, Mode};
pub use plan::PlanReport;
pub use backfill::{BackfillRequest, BackfillStarted, BackfillStep};
pub use reconcile::{ReconcileReport, Reconciliation};
pub use security::Caller;
pub use work::BatchReport;

use crate::config::Config;
use crate::domain::{Outcome, TaskId};
use crate::error::Result;
use crate::ports::{AccessStore, ApplicationStore, AssetStore, AuditStore, DueIndex, EventStore, FileStore, HoldStore, ObjectStore, Orchestrator, PolicyStore, Queues, RepairStore, TaskStore, TitleStore};

/// The metadata ports, as one bound.
pub trait Metadata: ApplicationStore + AuditStore + HoldStore + AssetStore + FileStore + TaskStore + DueIndex + TitleStore + PolicyStore + AccessStore + RepairStore + EventStore + Sync {}

impl<T: ApplicationStore + AuditStore + HoldStore + AssetStore + FileStore + TaskStore + DueIndex + TitleStore + PolicyStore + AccessStore + RepairStore + EventStore + Sync> Metadata for T {}

/// The core with its ports plugged in.
#[derive(Clone, Debug)]
pub struct Core<M, O, Q, X> {
    pub meta: M,
    pub objects: O,
    pub queues: Q,
    pub orchestrator: X,
    pub config: Config,
    /// The worker's S3 request paces (its share of the stack-wide rates).
    pub paces: std::sync::Arc<crate::pace::Paces>,
}

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    /// Signals the waiting execution when the task is complete: planning done and no file
    /// outstanding. Called by whichever side moves last; the claim makes it happen once.
    #[tracing::instrument(name = "task", skip_all, fields(task_id = %task_id))]
    pub async fn signal_if_complete(&self, task_id: &TaskId, now: chrono::DateTime<chrono::Utc>) -> Result<bool> {
        let Some(task) = self.meta.claim_signal(task_id).await? else { return Ok(false) };
        let asset = self.meta.get_asset(&task.asset_id).await?;
        let (state, class) = asset.map(|a| (a.state.as_str().to_string(), a.storage_class)).unwrap_or_default();
        let outcome = Outcome::from_counters(task_id, &task.action, &task.counters, &state, class);
        let token = task.task_token.as_deref().unwrap_or_default();
        match self.orchestrator.succeed(token, &outcome).await {
            Ok(()) => {
                tracing::info!(task_id = %task_id, status = outcome.status.as_str(), "task complete");
                crate::metrics::task_ended(&task.action, outcome.status.as_str());
                if let Ok(began) = chrono::DateTime::parse_from_rfc3339(&task.created_at) {
                    let seconds = (now - began.with_timezone(&chrono::Utc)).num_milliseconds() as f64 / 1000.0;
                    crate::metrics::restore_latency(&task.action, seconds);
                }
                Ok(true)
            }
            Err(e) => {
                self.meta.release_signal(task_id).await?;
                Err(e)
            }
        }
    }

    /// Records transitions (see [`crate::ports::TaskStore::commit`]) and counts what they moved
    /// ([`crate::metrics::committed`]); `action` names the task's action.
    pub(crate) async fn commit(&self, task_id: &TaskId, action: &str, transitions: &[crate::domain::Transition]) -> Result<crate::ports::Committed> {
        let committed = self.meta.commit(task_id, transitions).await?;
        crate::metrics::committed(action, transitions, &committed, crate::domain::pricing::PriceTable::bundled());
        Ok(committed)
    }
}
