//! The use cases: what each function does, written once against the ports. The function crates,
//! the local stack and the CLI all call these.

pub mod access;
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

pub use complete::{EventResult, RestorePlaces, S3Change};
pub use evaluate::{Evaluation, Mode};
pub use plan::PlanReport;
pub use backfill::{BackfillRequest, BackfillStarted, BackfillStep};
pub use reconcile::{ReconcileMessage, ReconcileReport, Reconciliation};
pub use security::Caller;
pub use work::BatchReport;

use crate::config::Config;
use crate::domain::{Action, FileRecord, Outcome, TaskId};
use crate::error::Result;
use crate::ports::{AccessStore, ApplicationStore, AssetStore, AuditStore, DueIndex, EventStore, FileStore, HoldStore, ObjectStore, Orchestrator, PolicyStore, Queues, RepairStore, TaskStore, TitleStore};
use serde::{Deserialize, Serialize};

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

/// A message on the control queue, read by the planner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ControlMessage {
    /// Sent by the state machine: plan the task and hold its token until the task completes.
    Plan { task_id: TaskId, task_token: String },
    /// Sent by the planner to itself: go on planning from the stored cursor.
    Continue { task_id: TaskId },
    /// Sent when a title's dates (`title_id`) or a policy (no title: every asset) changed: put
    /// the assets at their new due day, a page at a time from `cursor`.
    Reschedule { title_id: Option<String>, cursor: Option<String> },
    /// Sent by the state machine after a task released its asset: start the task queued for it.
    StartQueued { asset_id: String },
}

/// A message on the work queue: one batch of files of one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkBatch {
    pub task_id: TaskId,
    pub action: Action,
    pub files: Vec<FileRecord>,
}

/// The input of a task's execution: what the state machine needs to record and announce it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionInput {
    pub task_id: String,
    pub asset_id: String,
    pub action: String,
    pub asset_type: String,
    pub title_id: String,
    /// Set only on the execution that ends a task whose own execution ended without recording
    /// it: why, and the state machine takes its failure path at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closing: Option<String>,
}

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    /// Signals the waiting execution when the task is complete: planning done and no file
    /// outstanding. Called by whichever side moves last; the claim makes it happen once.
    #[tracing::instrument(name = "task", skip_all, fields(task_id = %task_id))]
    pub async fn signal_if_complete(&self, task_id: &TaskId) -> Result<bool> {
        let Some(task) = self.meta.claim_signal(task_id).await? else { return Ok(false) };
        let asset = self.meta.get_asset(&task.asset_id).await?;
        let (state, class) = asset.map(|a| (a.state.as_str().to_string(), a.storage_class)).unwrap_or_default();
        let outcome = Outcome::from_counters(task_id, &task.action, &task.counters, &state, &class);
        let token = task.task_token.as_deref().unwrap_or_default();
        match self.orchestrator.succeed(token, &outcome).await {
            Ok(()) => {
                tracing::info!(task_id = %task_id, status = outcome.status.as_str(), "task complete");
                crate::metrics::task_ended(&task.action, outcome.status.as_str());
                if let Ok(began) = chrono::DateTime::parse_from_rfc3339(&task.created_at) {
                    let seconds = (chrono::Utc::now() - began.with_timezone(&chrono::Utc)).num_milliseconds() as f64 / 1000.0;
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
