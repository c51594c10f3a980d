//! The worker: acts on one batch of files of one task (copy, restore or delete) within its
//! invocation's time, recording each file's transition by its own conditional write and the
//! task's counters once per group of transitions (see docs/architecture.md).

use super::plan::moved_by;
use super::{Metadata, Core};
use crate::messages::WorkBatch;
use crate::domain::action::restore_window_end;
use crate::domain::{Action, FileDecision, FileRecord, FileState, FileStep, StorageClass, TaskStatus};
use crate::error::{Error, Result};
use crate::ports::{Copied, CopyProgress, CopyStart, CurrentObject, NotCopied, ObjectError, ObjectStore, ObjectVersion, Orchestrator, Queues, RestoreStarted};
use crate::domain::{LocatedFile, Task, Transition};
use chrono::{DateTime, Utc};
use std::time::{Duration, Instant};
use crate::pace::Paces;
use futures::{FutureExt, StreamExt};
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
    /// Copies this batch made that another delivery of it had recorded the file's move before
    /// (with a copy of its own), deleted.
    pub duplicates_deleted: usize,
    /// Files handed to a new work message (out of time, or a multipart copy under way).
    pub continued: usize,
}

/// What acting on one file came to: a transition to record now, or more to do in a later
/// invocation (a multipart copy under way, or no time left to start).
#[allow(clippy::large_enum_variant, reason = "one per file, moved into the batch's list at once: boxing would only add an allocation")]
enum Acted {
    Now(Transition),
    Later,
}

/// The result of acting on one file.
type FileResult = (FileRecord, Result<Transition, ObjectError>);

/// Transitions are recorded at least this often while a batch runs, so that an invocation
/// that runs out of time (or dies) loses little work.
const COMMIT_EVERY: Duration = Duration::from_secs(10);

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
        kept: false,
    }
}

/// A skip: `kept` when an archive leaves the file in another class than its target.
fn skipped(file: &FileRecord, action: &Action, why: impl Into<String>) -> Transition {
    let mut t = with_reason(transition(file, FileStep::Skipped), why);
    t.kept = file.kept_from(action);
    t
}

fn with_reason(mut t: Transition, reason: impl Into<String>) -> Transition {
    t.reason = Some(reason.into());
    t
}

fn archived(file: &FileRecord, class: StorageClass, copied: Copied) -> Transition {
    let mut t = match copied.skipped {
        None => transition(file, FileStep::Done),
        Some(NotCopied::InTargetClass) => with_reason(transition(file, FileStep::Skipped), "already in the target class in S3"),
        // The file stays as it is, in its class.
        Some(NotCopied::Blocked(why)) => return skipped(file, &Action::Archive { storage_class: class }, why),
    };
    t.new_class = Some(class);
    t.new_state = Some(FileState::Archived);
    t.new_version_id = copied.version_id;
    t.new_etag = copied.etag;
    t
}

/// Whether the key's current version is the copy a task made of the registered version, whose
/// record was lost (the invocation timed out or died between the copy and its record): a newer
/// version in the target class, of the registered size, written since the task began; a
/// multipart copy's ETag also ends in its part count. Anything else changed the object.
fn is_own_copy(file: &FileRecord, current: &CurrentObject, class: StorageClass, task_began: Option<DateTime<Utc>>, parts: Option<usize>) -> bool {
    let since_task = matches!((current.last_modified, task_began), (Some(m), Some(b)) if m >= b);
    let etag_fits = parts.is_none_or(|n| current.etag.trim_matches('"').ends_with(&format!("-{n}")));
    // Without versioning the copy replaces the registered object in place: its ETag tells.
    let replaced = current.version_id != file.version_id || (file.version_id == "null" && current.etag != file.etag);
    replaced && current.storage_class == class && current.size == file.size && since_task && etag_fits
}

/// A metadata failure inside an object action: the batch is retried, the file not failed.
fn transient(e: Error) -> ObjectError {
    ObjectError::Transient(e)
}

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    /// Acts on the batch until `deadline` (the invocation's) less the configured margin, and
    /// records transitions as it goes. Files it had no time for, and multipart copies still
    /// under way, go back to the work queue as a new message; a transient S3 failure (throttling,
    /// 5xx) on any file fails the message after recording the others, so it is redelivered and
    /// the files already recorded are skipped as no longer QUEUED.
    pub async fn run_batch(&self, batch: WorkBatch, now: DateTime<Utc>, deadline: Option<Instant>) -> Result<BatchReport> {
        let span = crate::telemetry::task_span(&batch.task_id);
        tracing::Instrument::instrument(self.run_task_batch(batch, now, deadline), span).await
    }

    async fn run_task_batch(&self, batch: WorkBatch, now: DateTime<Utc>, deadline: Option<Instant>) -> Result<BatchReport> {
        let task_id = batch.task_id.clone();
        // Only a running task's batch acts, with the task's own action, on files registered to
        // the task's asset that the task has not moved yet, as the registry holds them: a batch
        // redelivered late, or one slm did not write, changes nothing.
        // The task and the files' items in one read, the items under the asset the batch names;
        // a batch naming another asset than its task's finds nothing of the task's.
        let claimed = batch.files.first().map(|f| f.asset_id.clone()).unwrap_or_default();
        let (task, registry) = self.meta.task_with_steps(&task_id, &claimed, &batch.files).await?;
        let task = match task {
            Some(t) if t.status == TaskStatus::Running && t.asset_id == claimed => t,
            _ => return Ok(BatchReport { stale: batch.files.len(), ..Default::default() }),
        };
        let asked = batch.files.len();
        // A key the batch names twice is acted on once.
        let mut named = std::collections::HashSet::new();
        let todo: Vec<LocatedFile> = batch
            .files
            .iter()
            .filter(|f| named.insert(f.key.as_str()))
            .filter_map(|f| registry.get(&f.key))
            .filter(|l| l.file.asset_id == task.asset_id && !moved_by(l, &task_id))
            .cloned()
            .collect();
        let mut report = BatchReport { stale: asked - todo.len(), ..Default::default() };
        if todo.is_empty() {
            return Ok(report);
        }
        let stop_at = deadline.map(|d| d.checked_sub(self.config.work_deadline_margin).unwrap_or(d));
        if task.action == Action::Purge {
            // The last gate before deleting: a hold placed while the purge ran fails the files
            // it has not deleted yet.
            let todo = todo.into_iter().map(|l| l.file).collect();
            let results = match self.purge_blocked_by_id(&task.asset_id, &task.title_id).await? {
                Some(why) => fail_all(todo, &ObjectError::Permanent { code: "LegalHold".into(), message: why }),
                None => self.purge(todo).await,
            };
            let mut transient = None;
            let transitions = results.into_iter().filter_map(|(f, r)| settle(&f, r, &mut transient)).collect();
            self.record(&task, transitions, now, &mut report).await?;
            return transient.map_or(Ok(report), Err);
        }
        let action = task.action;
        let task = &task;
        let mut acting = futures::stream::iter(todo.into_iter().enumerate())
            .map(|(i, l)| async move {
                // The first file always starts, so that every invocation moves the task on
                // whatever its margin.
                let r = match i > 0 && stop_at.is_some_and(|t| Instant::now() >= t) {
                    true => Ok(Acted::Later),
                    false => self.act_one(task, &l, &action, now, stop_at).await,
                };
                (l.file, r)
            })
            .buffer_unordered(self.config.worker_concurrency);
        let (mut pending, mut later, mut transient_error) = (Vec::new(), Vec::new(), None);
        let mut last_commit = Instant::now();
        while let Some((file, result)) = acting.next().await {
            match result {
                Ok(Acted::Later) => later.push(file),
                Ok(Acted::Now(t)) => pending.push(t),
                Err(e) => pending.extend(settle(&file, Err(e), &mut transient_error)),
            }
            if !pending.is_empty() && last_commit.elapsed() >= COMMIT_EVERY {
                self.record(task, std::mem::take(&mut pending), now, &mut report).await?;
                last_commit = Instant::now();
            }
        }
        self.record(task, pending, now, &mut report).await?;
        // The rest continues in a new invocation with a deadline of its own; after a transient
        // failure the whole message comes back instead, with the rest in it.
        if !later.is_empty() && transient_error.is_none() {
            report.continued = later.len();
            let rest = WorkBatch { task_id: task_id.clone(), action, files: later };
            self.queues.send_work(&rest).await?;
        }
        transient_error.map_or(Ok(report), Err)
    }

    /// Records transitions and the task's counters, deletes the versions archives superseded,
    /// and signals the task's end when these were its last files.
    async fn record(&self, task: &Task, transitions: Vec<Transition>, now: DateTime<Utc>, report: &mut BatchReport) -> Result<()> {
        if transitions.is_empty() {
            return Ok(());
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
        let committed = self.commit(&task.task_id, task.action.name(), &transitions).await?;
        report.recorded += committed.applied;
        // Only a recorded copy supersedes its original: a copy whose record found the file moved
        // already is the one left over.
        let (mut superseded, mut missed) = (Vec::new(), Vec::new());
        for (i, t) in transitions.iter().enumerate() {
            match committed.missed.contains(&i) {
                false => superseded.extend(copied_over(t).map(|(old, _)| old)),
                true => missed.push(t),
            }
        }
        let duplicates = self.unrecorded_copies(task, &missed).await;
        if let Some(bucket) = transitions.first().map(|t| t.file.bucket.as_str()) {
            report.superseded_deleted += self.delete_left_over(task, bucket, superseded, "superseded").await;
            report.duplicates_deleted += self.delete_left_over(task, bucket, duplicates, "duplicate copy").await;
        }
        if committed.maybe_complete {
            self.signal_if_complete(&task.task_id, now).await?;
        }
        Ok(())
    }

    async fn act_one(&self, task: &Task, l: &LocatedFile, action: &Action, now: DateTime<Utc>, stop_at: Option<Instant>) -> Result<Acted, ObjectError> {
        let file = &l.file;
        match file.decide(action) {
            FileDecision::Skip(why) => return Ok(Acted::Now(skipped(file, action, why))),
            FileDecision::Refuse(why) => return Ok(Acted::Now(with_reason(transition(file, FileStep::Failed), why))),
            FileDecision::Act => {}
        }
        match *action {
            Action::Archive { storage_class } if file.size > self.config.multipart_threshold_bytes => {
                self.archive_in_parts(task, l, storage_class, stop_at).await
            }
            Action::Archive { storage_class } => match Paces::take(&self.paces.copy, 1).then(|_| self.objects.copy_to_class(file, storage_class)).await {
                Ok(copied) => Ok(Acted::Now(archived(file, storage_class, copied))),
                Err(ObjectError::Permanent { code, message }) if code.starts_with("PreconditionFailed") => {
                    match self.own_copy(task, file, storage_class, None).await? {
                        Some(copied) => Ok(Acted::Now(archived(file, storage_class, copied))),
                        None => Err(ObjectError::Permanent { code, message }),
                    }
                }
                Err(e) => Err(e),
            },
            Action::Restore { days, tier } => {
                Paces::take(&self.paces.restore, 1).await;
                let started = self.objects.restore(file, days, tier).await?;
                Ok(Acted::Now(match started {
                    RestoreStarted::InProgress => {
                        let mut t = transition(file, FileStep::Requested);
                        t.new_state = Some(FileState::Restoring);
                        t
                    }
                    RestoreStarted::AlreadyRestored => {
                        // S3 moved the window's end: from now, by the days asked.
                        let mut t = transition(file, FileStep::Done);
                        t.new_state = Some(FileState::Restored);
                        t.restore_expiry = Some(restore_window_end(now, days));
                        t
                    }
                }))
            }
            Action::Purge => unreachable!("purges run per batch"),
        }
    }

    /// A multipart copy, resumable: its upload is recorded on the file before any part is
    /// copied, each invocation copies the parts the upload lacks until its time is up, and the
    /// one that has them all completes it.
    async fn archive_in_parts(&self, task: &Task, l: &LocatedFile, class: StorageClass, stop_at: Option<Instant>) -> Result<Acted, ObjectError> {
        let file = &l.file;
        let recorded = l.upload.as_ref().filter(|(t, _)| t == task.task_id.as_str()).map(|(_, u)| u.clone());
        let upload = match recorded {
            Some(u) => u,
            None => match self.begin_upload(task, file, class, None).await? {
                Ok(u) => u,
                Err(acted) => return Ok(acted),
            },
        };
        // The parts of one invocation count as one paced copy: a part is the size of many files.
        Paces::take(&self.paces.copy, 1).await;
        match self.objects.continue_multipart_copy(file, &upload, self.config.multipart_part_bytes, stop_at).await {
            Ok(CopyProgress::Done(copied)) => Ok(Acted::Now(archived(file, class, copied))),
            Ok(CopyProgress::Unfinished { parts_done, parts }) => {
                tracing::info!(key = %file.key, parts_done, parts, "multipart copy continues in the next invocation");
                Ok(Acted::Later)
            }
            Ok(CopyProgress::Gone) => {
                let parts = crate::domain::multipart::plan_parts(file.size, self.config.multipart_part_bytes).map(|p| p.len());
                match self.own_copy(task, file, class, parts).await? {
                    Some(copied) => Ok(Acted::Now(archived(file, class, copied))),
                    // Aborted (the bucket's rule for incomplete uploads, say): start again.
                    None => Ok(self.begin_upload(task, file, class, Some(&upload)).await?.err().unwrap_or(Acted::Later)),
                }
            }
            Err(e @ ObjectError::Permanent { .. }) => {
                // Nothing more will be copied to this upload: leave no parts billing.
                if let Err(abort) = self.objects.abort_multipart_copy(file, &upload).await {
                    tracing::warn!(key = %file.key, error = %abort, "incomplete multipart copy not aborted; the bucket's rule will");
                }
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Starts an upload and records it on the file (in place of `replacing`). Err: what to do
    /// instead (no copy needed, or another invocation's upload was recorded first).
    async fn begin_upload(&self, task: &Task, file: &FileRecord, class: StorageClass, replacing: Option<&str>) -> Result<Result<String, Acted>, ObjectError> {
        let upload = match self.objects.start_multipart_copy(file, class).await? {
            CopyStart::Nothing(copied) => return Ok(Err(Acted::Now(archived(file, class, copied)))),
            CopyStart::Upload(u) => u,
        };
        if self.meta.record_upload(&task.task_id, file, &upload, replacing).await.map_err(transient)? {
            return Ok(Ok(upload));
        }
        // A duplicate delivery recorded its own upload first: that one goes on, this one goes.
        self.objects.abort_multipart_copy(file, &upload).await?;
        Ok(Err(Acted::Later))
    }

    /// The copy this task made of the file, when the current version is one (see
    /// [`is_own_copy`]).
    async fn own_copy(&self, task: &Task, file: &FileRecord, class: StorageClass, parts: Option<usize>) -> Result<Option<Copied>, ObjectError> {
        let began = DateTime::parse_from_rfc3339(&task.created_at).ok().map(|t| t.with_timezone(&Utc));
        Ok(self.objects.current_object(file).await?.filter(|c| is_own_copy(file, c, class, began, parts)).map(|c| {
            tracing::info!(key = %file.key, version = %c.version_id, "the current version is this task's own copy");
            Copied { version_id: Some(c.version_id), etag: Some(c.etag), skipped: None }
        }))
    }

    /// The copies among transitions that did not apply whose file the registry names another
    /// version of: two deliveries of one batch (a planner that sent it twice, a redelivery while
    /// the first still ran) each copied the file, and the other's record came first. Never the
    /// version the registry names, nor any when the registry cannot be read (the copy then
    /// bills until someone deletes it: logged).
    async fn unrecorded_copies(&self, task: &Task, missed: &[&Transition]) -> Vec<ObjectVersion> {
        let copies: Vec<(&FileRecord, &str)> = missed.iter().filter_map(|t| copied_over(t).map(|(_, new)| (&t.file, new))).collect();
        if copies.is_empty() {
            return vec![];
        }
        let files: Vec<FileRecord> = copies.iter().map(|(f, _)| (*f).clone()).collect();
        let registry = match self.meta.steps_of(&task.asset_id, &files).await {
            Ok(r) => r,
            Err(e) => {
                for (f, v) in &copies {
                    tracing::warn!(key = %f.key, version = v, error = %e.chain(), "a copy another delivery superseded is kept: the registry cannot be read");
                }
                return vec![];
            }
        };
        copies
            .into_iter()
            .filter(|(f, v)| registry.get(&f.key).is_some_and(|l| l.file.version_id != *v))
            .map(|(f, v)| ObjectVersion { key: f.key.clone(), version_id: v.to_string(), delete_marker: false })
            .collect()
    }

    /// Deletes versions this batch's copies left billing (the versions they superseded, or a
    /// copy another delivery superseded) and returns how many went. Only versions the caller
    /// knows no registry entry names; a failure is logged, and a superseded original is found
    /// by the reconciler's sweep (registered keys with a superseded version left).
    async fn delete_left_over(&self, task: &Task, bucket: &str, versions: Vec<ObjectVersion>, what: &str) -> usize {
        if versions.is_empty() {
            return 0;
        }
        // Under a legal hold no version is deleted, not even a copy's identical predecessor
        // (nor when the hold cannot be read): it bills until the hold is released and the
        // reconciler's sweep deletes it.
        match self.purge_blocked_by_id(&task.asset_id, &task.title_id).await {
            Ok(None) => {}
            Ok(Some(why)) => {
                tracing::info!(versions = versions.len(), what, why, "versions left over kept: legal hold");
                return 0;
            }
            Err(e) => {
                tracing::warn!(error = %e.chain(), versions = versions.len(), what, "versions left over kept: holds unreadable");
                return 0;
            }
        }
        // Once the registry names the new versions, these are known nowhere else: a transient
        // failure is retried here, not by the message (its files are recorded).
        let (mut left, mut deleted) = (versions, 0);
        for attempt in 1..=LEFT_OVER_ATTEMPTS {
            match self.objects.delete_versions(bucket, &left).await {
                Ok(failures) => {
                    deleted += left.len() - failures.len();
                    left = failures.iter().map(|(v, _)| v.clone()).collect();
                    if failures.is_empty() || attempt == LEFT_OVER_ATTEMPTS {
                        for (v, why) in &failures {
                            tracing::warn!(key = %v.key, version = %v.version_id, what, why, "version left over not deleted");
                        }
                        return deleted;
                    }
                }
                Err(e) if attempt == LEFT_OVER_ATTEMPTS => {
                    tracing::warn!(error = %e, versions = left.len(), what, "versions left over not deleted");
                    return deleted;
                }
                Err(_) => {}
            }
            tokio::time::sleep(crate::pace::jittered_backoff(attempt)).await;
        }
        deleted
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
            false => match Paces::take(&self.paces.delete, versions.len() as u32).then(|_| self.objects.delete_versions(&bucket, &versions)).await {
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

/// Attempts at deleting the versions a batch's copies left over.
const LEFT_OVER_ATTEMPTS: u32 = 5;

/// The version an archive's copy was made from (the registered one) and the new version it
/// made, when it made one (a versioned bucket; an unversioned bucket's copy replaces the
/// object, with no version id).
fn copied_over(t: &Transition) -> Option<(ObjectVersion, &str)> {
    let new = t.new_version_id.as_deref().filter(|v| *v != "null")?;
    (t.to == FileStep::Done && t.new_class.is_some() && new != t.file.version_id)
        .then(|| (ObjectVersion { key: t.file.key.clone(), version_id: t.file.version_id.clone(), delete_marker: false }, new))
}

/// The transition a file's result records; a transient failure records none (the message
/// comes back) and is kept as the batch's error.
fn settle(file: &FileRecord, result: Result<Transition, ObjectError>, transient: &mut Option<Error>) -> Option<Transition> {
    match result {
        Ok(t) => Some(t),
        Err(ObjectError::Permanent { code, message }) => Some(with_reason(transition(file, FileStep::Failed), format!("{code}: {message}"))),
        Err(ObjectError::Transient(e)) => {
            tracing::warn!(key = %file.key, error = %e.chain(), "transient failure, batch will be retried");
            transient.get_or_insert(e);
            None
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::FileState;

    fn file() -> FileRecord {
        FileRecord {
            asset_id: "a".into(),
            shard: 0,
            bucket: "media".into(),
            key: "k".into(),
            version_id: "v1".into(),
            size: 100,
            etag: "\"e1\"".into(),
            storage_class: StorageClass::Standard,
            state: FileState::Active,
        }
    }

    fn began() -> Option<DateTime<Utc>> {
        Some("2027-01-01T10:00:00Z".parse().unwrap())
    }

    fn copy() -> CurrentObject {
        CurrentObject {
            version_id: "v2".into(),
            etag: "\"e2-8\"".into(),
            size: 100,
            storage_class: StorageClass::Glacier,
            last_modified: Some("2027-01-01T10:05:00Z".parse().unwrap()),
        }
    }

    #[test]
    fn a_newer_version_in_the_target_class_of_the_same_size_since_the_task_began_is_its_own_copy() {
        assert!(is_own_copy(&file(), &copy(), StorageClass::Glacier, began(), None));
        assert!(is_own_copy(&file(), &copy(), StorageClass::Glacier, began(), Some(8)));
    }

    #[test]
    fn any_other_change_of_the_object_is_not() {
        let f = file();
        assert!(!is_own_copy(&f, &CurrentObject { version_id: "v1".into(), ..copy() }, StorageClass::Glacier, began(), None), "the registered version itself");
        assert!(!is_own_copy(&f, &CurrentObject { size: 99, ..copy() }, StorageClass::Glacier, began(), None), "another size");
        assert!(!is_own_copy(&f, &copy(), StorageClass::DeepArchive, began(), None), "another class");
        assert!(!is_own_copy(&f, &CurrentObject { storage_class: StorageClass::Standard, ..copy() }, StorageClass::Glacier, began(), None), "a new upload");
        let before = CurrentObject { last_modified: Some("2027-01-01T09:59:59Z".parse().unwrap()), ..copy() };
        assert!(!is_own_copy(&f, &before, StorageClass::Glacier, began(), None), "written before the task began");
        assert!(!is_own_copy(&f, &CurrentObject { last_modified: None, ..copy() }, StorageClass::Glacier, began(), None), "no time to compare");
        assert!(!is_own_copy(&f, &copy(), StorageClass::Glacier, None, None), "no task start to compare");
        assert!(!is_own_copy(&f, &copy(), StorageClass::Glacier, began(), Some(7)), "another number of parts");
    }

    #[test]
    fn without_versioning_a_copy_in_place_is_told_by_its_etag() {
        let f = FileRecord { version_id: "null".into(), ..file() };
        let in_place = CurrentObject { version_id: "null".into(), ..copy() };
        assert!(is_own_copy(&f, &in_place, StorageClass::Glacier, began(), None));
        let unchanged = CurrentObject { etag: f.etag.clone(), ..in_place };
        assert!(!is_own_copy(&f, &unchanged, StorageClass::Glacier, began(), None), "the registered object itself");
    }
}

#[cfg(test)]
#[path = "work_tests.rs"]
mod use_case_tests;
