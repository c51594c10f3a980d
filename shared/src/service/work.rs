//! The worker: acts on one batch of files of one task (copy, restore or delete), then records
//! each file's transition and the task's counters in one conditional transaction per batch.

use super::plan::moved_by;
use super::{Metadata, Core, WorkBatch};
use crate::domain::action::restore_window_end;
use crate::domain::{Action, FileDecision, FileRecord, FileState, FileStep, StorageClass, TaskStatus};
use crate::error::{Error, Result};
use crate::ports::{ObjectError, ObjectStore, ObjectVersion, Orchestrator, Queues, RestoreStarted, Transition};
use futures::StreamExt;
use std::collections::HashMap;

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Files the batch named that were not QUEUED for its task (redelivered or stale).
    pub stale: usize,
    pub done: usize,
    pub requested: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Transitions recorded (the rest had been recorded before).
    pub recorded: usize,
    /// Versions an archive's copies superseded, deleted.
    pub superseded_deleted: usize,
}

/// The result of acting on one file.
type FileResult = (FileRecord, Result<Transition, ObjectError>);

fn transition(file: &FileRecord, to: FileStep) -> Transition {
    Transition {
        file: file.clone(),
        from: FileStep::Queued,
        to,
        new_class: None,
        new_state: None,
        new_version_id: None,
        new_etag: None,
        restore_expiry: None,
        reason: None,
    }
}

fn with_reason(mut t: Transition, reason: impl Into<String>) -> Transition {
    t.reason = Some(reason.into());
    t
}

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    /// Acts on the batch. A transient S3 failure (throttling, 5xx) on any file fails the whole
    /// message after recording the others, so it is redelivered; the files already recorded are
    /// then skipped as no longer QUEUED.
    pub async fn run_batch(&self, batch: WorkBatch) -> Result<BatchReport> {
        let task_id = batch.task_id.clone();
        // Only a running task's batch acts, with the task's own action, on files registered to
        // the task's asset that the task has not moved yet, as the registry holds them: a batch
        // redelivered late, or one slm did not write, changes nothing.
        let task = match self.meta.get_task(&task_id).await? {
            Some(t) if t.status == TaskStatus::Running => t,
            _ => return Ok(BatchReport { stale: batch.files.len(), ..Default::default() }),
        };
        let registry = self.meta.steps_of(&task.asset_id, &batch.files).await?;
        let asked = batch.files.len();
        let todo: Vec<FileRecord> = batch
            .files
            .iter()
            .filter_map(|f| registry.get(&f.key))
            .filter(|l| l.file.asset_id == task.asset_id && !moved_by(l, &task_id))
            .map(|l| l.file.clone())
            .collect();
        let mut report = BatchReport { stale: asked - todo.len(), ..Default::default() };
        if todo.is_empty() {
            return Ok(report);
        }
        let results = match task.action {
            Action::Purge => match self.purge_blocked_by_id(&task.asset_id, &task.title_id).await? {
                // The last gate before deleting: a hold placed while the purge ran fails the
                // files it has not deleted yet.
                Some(why) => todo.into_iter().map(|f| (f, Err(ObjectError::Permanent { code: "LegalHold".into(), message: why.clone() }))).collect(),
                None => self.purge(todo).await,
            },
            action => {
                futures::stream::iter(todo)
                    .map(|f| async move {
                        let r = self.act_one(&f, &action).await;
                        (f, r)
                    })
                    .buffer_unordered(self.config.worker_concurrency)
                    .collect()
                    .await
            }
        };
        let mut transitions = Vec::with_capacity(results.len());
        let mut transient: Option<Error> = None;
        for (file, result) in results {
            match result {
                Ok(t) => transitions.push(t),
                Err(ObjectError::Permanent { code, message }) => {
                    transitions.push(with_reason(transition(&file, FileStep::Failed), format!("{code}: {message}")))
                }
                Err(ObjectError::Transient(e)) => {
                    tracing::warn!(key = %file.key, error = %e.chain(), "transient failure, batch will be retried");
                    transient.get_or_insert(e);
                }
            }
        }
        for t in &transitions {
            match t.to {
                FileStep::Done => report.done += 1,
                FileStep::Requested => report.requested += 1,
                FileStep::Skipped => report.skipped += 1,
                FileStep::Failed => report.failed += 1,
                FileStep::Queued => {}
            }
        }
        let committed = self.meta.commit(&task_id, &transitions).await?;
        report.recorded = committed.applied;
        self.delete_superseded(&task, &transitions, &mut report).await;
        if committed.maybe_complete {
            self.signal_if_complete(&task_id).await?;
        }
        match transient {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    async fn act_one(&self, file: &FileRecord, action: &Action) -> Result<Transition, ObjectError> {
        match file.decide(action) {
            FileDecision::Skip(why) => return Ok(with_reason(transition(file, FileStep::Skipped), why)),
            FileDecision::Refuse(why) => return Ok(with_reason(transition(file, FileStep::Failed), why)),
            FileDecision::Act => {}
        }
        match *action {
            Action::Archive { storage_class } => self.archive_one(file, storage_class).await,
            Action::Restore { days, tier } => {
                let started = self.objects.restore(file, days, tier).await?;
                Ok(match started {
                    RestoreStarted::InProgress => {
                        let mut t = transition(file, FileStep::Requested);
                        t.new_state = Some(FileState::Restoring);
                        t
                    }
                    RestoreStarted::AlreadyRestored => {
                        // S3 moved the window's end: from now, by the days asked.
                        let mut t = transition(file, FileStep::Done);
                        t.new_state = Some(FileState::Restored);
                        t.restore_expiry = Some(restore_window_end(chrono::Utc::now(), days));
                        t
                    }
                })
            }
            Action::Purge => unreachable!("purges run per batch"),
        }
    }

    async fn archive_one(&self, file: &FileRecord, class: StorageClass) -> Result<Transition, ObjectError> {
        let copied = if file.size > self.config.multipart_threshold_bytes {
            self.objects.multipart_copy_to_class(file, class, self.config.multipart_part_bytes).await?
        } else {
            self.objects.copy_to_class(file, class).await?
        };
        let mut t = match copied.skipped {
            true => with_reason(transition(file, FileStep::Skipped), "already in the target class in S3"),
            false => transition(file, FileStep::Done),
        };
        t.new_class = Some(class);
        t.new_state = Some(FileState::Archived);
        t.new_version_id = copied.version_id;
        t.new_etag = copied.etag;
        Ok(t)
    }

    /// In a versioned bucket an archive's copy is a new version, and the version it was copied
    /// from would go on billing in its old class: delete those, once the registry names the new
    /// versions. Only versions slm registered and copied; a failure is logged and left to the
    /// reconciler, which finds registered keys with a superseded version left.
    async fn delete_superseded(&self, task: &crate::ports::Task, transitions: &[Transition], report: &mut BatchReport) {
        let superseded: Vec<ObjectVersion> = transitions.iter().filter_map(superseded).collect();
        let Some(bucket) = transitions.first().map(|t| t.file.bucket.as_str()) else { return };
        if superseded.is_empty() {
            return;
        }
        // Under a legal hold no version is deleted, not even a copy's identical predecessor
        // (nor when the hold cannot be read): it bills until the hold is released and the
        // reconciler's sweep deletes it.
        match self.purge_blocked_by_id(&task.asset_id, &task.title_id).await {
            Ok(None) => {}
            Ok(Some(why)) => {
                tracing::info!(versions = superseded.len(), why, "superseded versions kept: legal hold");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e.chain(), versions = superseded.len(), "superseded versions kept: holds unreadable");
                return;
            }
        }
        match self.objects.delete_versions(bucket, &superseded).await {
            Ok(failures) => {
                for (v, why) in &failures {
                    tracing::warn!(key = %v.key, version = %v.version_id, why, "superseded version not deleted");
                }
                report.superseded_deleted += superseded.len() - failures.len();
            }
            Err(e) => tracing::warn!(error = %e, versions = superseded.len(), "superseded versions not deleted"),
        }
    }

    /// Deletes every version and delete marker of each file, in as few DeleteObjects calls as
    /// 1,000 keys a request allow; a file fails if any of its versions could not be deleted.
    async fn purge(&self, files: Vec<FileRecord>) -> Vec<FileResult> {
        let Some(bucket) = files.first().map(|f| f.bucket.clone()) else { return vec![] };
        // A file registered (or last rewritten by slm) with version "null" was written without
        // versioning: that one version is the file, deleted without a listing. A file with a
        // version id lives in a versioned bucket: every version and delete marker of its key goes.
        let listed: Vec<(FileRecord, Result<Vec<ObjectVersion>, ObjectError>)> = futures::stream::iter(files)
            .map(|f| async move {
                let v = match f.version_id.as_str() {
                    "null" => Ok(vec![ObjectVersion { key: f.key.clone(), version_id: "null".into(), delete_marker: false }]),
                    _ => self.objects.versions_of(&f.bucket, &f.key).await,
                };
                (f, v)
            })
            .buffer_unordered(self.config.worker_concurrency)
            .collect()
            .await;
        let mut results = Vec::new();
        let mut to_delete = Vec::new();
        for (f, v) in listed {
            match v {
                Ok(v) => to_delete.push((f, v)),
                Err(e) => results.push((f, Err(e))),
            }
        }
        let mut versions: Vec<ObjectVersion> = to_delete.iter().flat_map(|(_, v)| v.iter().cloned()).collect();
        // Delete markers first: the emulator errors when a key's last deletion is its marker,
        // and the order does not matter to S3.
        versions.sort_by_key(|v| !v.delete_marker);
        let failures = match versions.is_empty() {
            true => Vec::new(),
            false => match self.objects.delete_versions(&bucket, &versions).await {
                Ok(f) => f,
                Err(e) => return results.into_iter().chain(fail_all(to_delete.into_iter().map(|(f, _)| f).collect(), &e)).collect(),
            },
        };
        let failed_keys: HashMap<&str, &str> = failures.iter().map(|(v, why)| (v.key.as_str(), why.as_str())).collect();
        for (f, _) in &to_delete {
            let r = match failed_keys.get(f.key.as_str()) {
                Some(why) => Err(ObjectError::Permanent { code: "DeleteFailed".into(), message: why.to_string() }),
                None => {
                    let mut t = transition(f, FileStep::Done);
                    t.new_state = Some(FileState::Purged);
                    Ok(t)
                }
            };
            results.push((f.clone(), r));
        }
        results
    }
}

/// The version an archive's copy left behind: the registered one, when the copy made a new
/// version (versioned bucket). An unversioned bucket's copy replaces the object (no version id).
fn superseded(t: &Transition) -> Option<ObjectVersion> {
    let new = t.new_version_id.as_deref().filter(|v| *v != "null")?;
    (t.to == FileStep::Done && t.new_class.is_some() && new != t.file.version_id)
        .then(|| ObjectVersion { key: t.file.key.clone(), version_id: t.file.version_id.clone(), delete_marker: false })
}

/// The same failure for every file of a batch.
fn fail_all(files: Vec<FileRecord>, e: &ObjectError) -> Vec<FileResult> {
    files
        .into_iter()
        .map(|f| {
            let err = match e {
                ObjectError::Transient(err) => ObjectError::Transient(Error::retryable("purge batch", err.chain())),
                ObjectError::Permanent { code, message } => ObjectError::Permanent { code: code.clone(), message: message.clone() },
            };
            (f, Err(err))
        })
        .collect()
}
