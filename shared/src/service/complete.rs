//! Completion: S3 event notifications turned into file state. A restore finishes hours after the
//! worker asked for it, when S3 reports ObjectRestore:Completed; a restore window that ends is
//! reported as ObjectRestore:Delete. New objects (ObjectCreated) are registered by the key
//! layout. Duplicate and unknown events change nothing.

use super::{Core, Metadata};
use crate::domain::action::restore_window_end;
use crate::domain::{Action, FileStep, TaskId};
use crate::error::{Error, Result};
use crate::ports::{ObjectStore, Orchestrator, Queues};
use crate::domain::Transition;

/// An S3 event, reduced to what slm acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Change {
    /// `expiry`: the window's end as S3 reports it; `at`: the event's time, from which the end
    /// is computed when S3 (or an emulator) leaves it out.
    RestoreCompleted { bucket: String, key: String, expiry: Option<String>, at: Option<String> },
    RestoreExpired { bucket: String, key: String },
    /// A new object (ObjectCreated): registered if the key layout places it in an asset.
    Created { bucket: String, key: String, at: Option<String> },
    /// Anything else S3 reports (creates, copies, deletes, restore requests): noted, not acted on.
    Other { name: String, bucket: String, key: String },
}

/// What an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventResult {
    Applied,
    Ignored(String),
}

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    pub async fn on_s3_change(&self, change: S3Change) -> Result<EventResult> {
        match change {
            S3Change::RestoreCompleted { bucket, key, expiry, at } => self.restore_completed(&bucket, &key, expiry, at).await,
            S3Change::RestoreExpired { bucket, key } => {
                let Some(located) = self.meta.find_by_object(&bucket, &key).await? else {
                    return Ok(EventResult::Ignored(format!("s3://{bucket}/{key} is not registered")));
                };
                Ok(match self.meta.restore_expired(&located.file).await? {
                    true => EventResult::Applied,
                    false => EventResult::Ignored("file was not restored".into()),
                })
            }
            S3Change::Created { bucket, key, at } => {
                let today = at
                    .as_deref()
                    .and_then(|a| chrono::DateTime::parse_from_rfc3339(a).ok())
                    .map_or_else(|| chrono::Utc::now().date_naive(), |a| a.with_timezone(&chrono::Utc).date_naive());
                Ok(match self.register_object(&bucket, &key, None, today, None).await? {
                    super::register::Registration::Registered { .. } => EventResult::Applied,
                    super::register::Registration::Ignored(why) => EventResult::Ignored(why),
                })
            }
            S3Change::Other { name, .. } => Ok(EventResult::Ignored(format!("{name} needs no action"))),
        }
    }

    #[tracing::instrument(name = "task", skip_all, fields(task_id = tracing::field::Empty))]
    async fn restore_completed(&self, bucket: &str, key: &str, expiry: Option<String>, at: Option<String>) -> Result<EventResult> {
        let Some(located) = self.meta.find_by_object(bucket, key).await? else {
            return Ok(EventResult::Ignored(format!("s3://{bucket}/{key} is not registered")));
        };
        let not_yet = || Error::retryable("complete restore", format!("restore of {key} completed before its request was recorded"));
        let task_id = located.task_id.as_deref().map(TaskId::parse).transpose()?;
        let task_id = match (task_id, located.step) {
            (Some(t), Some(FileStep::Requested)) => {
                tracing::Span::current().record("task_id", t.as_str());
                t
            }
            (Some(_), Some(FileStep::Queued)) => return Err(not_yet()),
            (task_id, _) => {
                // The file's step is an earlier task's (or none): if a restore holds its asset,
                // the worker has not recorded this file's request yet; let the message come back.
                let asset = self.meta.get_asset(&located.file.asset_id).await?;
                let waiting = asset.is_some_and(|a| a.active_action.as_deref() == Some("restore") && a.active_task.as_deref() != task_id.as_ref().map(TaskId::as_str));
                return match waiting {
                    true => Err(not_yet()),
                    false => Ok(EventResult::Ignored("no restore awaits this completion, or it is recorded already".into())),
                };
            }
        };
        let expiry = match expiry {
            Some(e) => Some(e),
            None => {
                let days = match self.meta.get_task(&task_id).await?.map(|t| t.action) {
                    Some(Action::Restore { days, .. }) => days,
                    _ => return Ok(EventResult::Ignored(format!("task {task_id} is not a restore"))),
                };
                let completed = at
                    .as_deref()
                    .and_then(|a| chrono::DateTime::parse_from_rfc3339(a).ok())
                    .map_or_else(chrono::Utc::now, |a| a.with_timezone(&chrono::Utc));
                Some(restore_window_end(completed, days))
            }
        };
        let t = Transition::restored(located.file, expiry);
        let committed = self.commit(&task_id, "restore", std::slice::from_ref(&t)).await?;
        if committed.maybe_complete {
            self.signal_if_complete(&task_id).await?;
        }
        Ok(if committed.applied == 1 { EventResult::Applied } else { EventResult::Ignored("restore already recorded".into()) })
    }
}
