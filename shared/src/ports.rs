//! Ports: the capabilities the lifecycle rules need, one small trait each. The AWS adapters in
//! [`crate::adapters`] implement them; unit tests may implement them in memory.

use crate::domain::{Asset, AssetChange, Created, FileRecord, LocatedFile, Outcome, Policy, StorageClass, Task, TaskCounters, TaskId, Title, Transition};
use chrono::NaiveDate;
use crate::error::Result;
use crate::messages::{ControlMessage, ReconcileMessage, TaskEvent, WorkBatch};

/// What a commit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Transitions that really happened.
    pub applied: usize,
    /// The positions (in the transitions given) of those that did not: their files had moved
    /// already (another delivery of the same batch recorded them first).
    pub missed: Vec<usize>,
    /// Whether the task may be complete now (planning done, nothing outstanding), or could not be
    /// told (nothing applied: a redelivery may follow a crash before the signal): worth a claim.
    pub maybe_complete: bool,
    /// By position, the file as the applied transition left it (None where it missed): what a
    /// transition given only the file's place (its key) learns of the file's size and class.
    pub written: Vec<Option<FileRecord>>,
}

/// A task's files counted by step (the reconciler's recount), with the files still waiting for
/// a worker (QUEUED) or for S3 (REQUESTED), at most a bounded number of each.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recount {
    pub counters: TaskCounters,
    pub queued: Vec<FileRecord>,
    pub requested: Vec<FileRecord>,
}

impl Recount {
    /// Counts one of the asset's files for `task` by its step, keeping at most `keep` QUEUED and
    /// REQUESTED files. A file the task has not moved yet is QUEUED for it (planned files are not
    /// written; the reconciler recounts only tasks whose planning is done).
    pub fn count(&mut self, task: &Task, f: LocatedFile, keep: usize) {
        use crate::domain::FileStep;
        let c = &mut self.counters;
        c.planned += 1;
        let step = match f.task_id.as_deref() == Some(task.task_id.as_str()) {
            true => f.step,
            false => Some(FileStep::Queued),
        };
        let waiting = match step {
            Some(FileStep::Done) => return c.succeeded += 1,
            Some(FileStep::Failed) => return c.failed += 1,
            Some(FileStep::Skipped) => {
                c.skipped += 1;
                return c.kept += i64::from(f.file.kept_from(&task.action));
            }
            Some(FileStep::Queued) => &mut self.queued,
            Some(FileStep::Requested) => &mut self.requested,
            None => return,
        };
        c.outstanding += 1;
        if waiting.len() < keep {
            waiting.push(f.file);
        }
    }
}

/// What the reconciler reads and writes beyond the other stores.
pub trait RepairStore {
    /// Open tasks (QUEUED, PENDING or RUNNING) of one shard created before `before`, a page.
    fn open_tasks(&self, shard: u32, before: &str, cursor: Option<&str>) -> impl Future<Output = Result<(Vec<Task>, Option<String>)>> + Send;
    /// One shard's files with keys after `after` and up to `upto` (inclusive; None: no end), in
    /// key order, strongly consistent: the first `limit`, and whether more follow.
    fn shard_files(&self, asset: &Asset, shard: u32, after: Option<&str>, upto: Option<&str>, limit: usize)
        -> impl Future<Output = Result<(Vec<LocatedFile>, bool)>> + Send;
    /// The sweep record (strongly consistent), None before the first sweep.
    fn sweep(&self) -> impl Future<Output = Result<Option<crate::domain::repair::Sweep>>> + Send;
    /// Starts the sweep `at` in place of `prev` (the record as read: two runs cannot both start
    /// one); false when the record changed meanwhile.
    fn start_sweep(&self, prev: Option<&crate::domain::repair::Sweep>, at: &str) -> impl Future<Output = Result<bool>> + Send;
    /// A page of the sweep `at` done: its fenced cursor moved from `prev` to `next` (None: the last
    /// page), `chains` assets handed to messages of their own counted, its progress time moved.
    /// False when the fence failed (another delivery did the page, or another sweep runs).
    fn sweep_page(&self, at: &str, prev: &str, next: Option<&str>, chains: usize) -> impl Future<Output = Result<bool>> + Send;
    /// A step of one asset's own messages in the sweep `at` done: its progress time moved, and the
    /// asset's chain counted out when it `ended`. False when the sweep is no longer `at`.
    fn sweep_moved(&self, at: &str, ended: bool) -> impl Future<Output = Result<bool>> + Send;
    /// Hands an asset to messages of its own: its sweep cursor set to `cursor` (only the page's
    /// one fenced delivery does this).
    fn start_asset_sweep(&self, asset_id: &str, cursor: &str) -> impl Future<Output = Result<()>> + Send;
    /// A message of an asset's sweep done: its cursor moved from `prev` to `next` (None: removed,
    /// the asset's sweep ended), fenced on `prev`. False when the fence failed.
    fn asset_sweep_step(&self, asset_id: &str, prev: &str, next: Option<&str>) -> impl Future<Output = Result<bool>> + Send;
    /// Records the reconciler's full look at a task standing still: the run's time and the
    /// `progress_at` it saw (see [`crate::domain::repair::recheck_due`]).
    fn mark_checked(&self, task_id: &TaskId, at: &str, progress: &str) -> impl Future<Output = Result<()>> + Send;
    /// Counts a task's files by step, keeping at most `keep` QUEUED and REQUESTED files.
    fn recount(&self, task: &Task, asset: &Asset, keep: usize) -> impl Future<Output = Result<Recount>> + Send;
    /// Sets a task's counters to `to`, only while they are still `from`.
    fn set_counters(&self, task_id: &TaskId, from: &TaskCounters, to: &TaskCounters) -> impl Future<Output = Result<bool>> + Send;
    /// Records what S3 holds now for a file no task acts on (new version, ETag, size, class,
    /// state); false when a task took it meanwhile.
    fn take_s3_state(&self, file: &FileRecord, now: &FileRecord) -> impl Future<Output = Result<bool>> + Send;
    fn record_repair(&self, repair: &crate::domain::repair::Repair) -> impl Future<Output = Result<()>> + Send;
    /// An asset's repairs, oldest first.
    fn repairs(&self, asset_id: &str) -> impl Future<Output = Result<Vec<crate::domain::repair::Repair>>> + Send;
}

pub trait AssetStore {
    /// Claims the asset id for registration; false if it exists and is fully registered.
    fn begin_registration(&self, asset: &Asset) -> impl Future<Output = Result<bool>> + Send;
    /// Records the listed files' count, sizes and class, and makes the asset visible.
    fn finish_registration(&self, asset: &Asset, class: crate::domain::AssetClass) -> impl Future<Output = Result<()>> + Send;
    /// A registered asset (None while it is still being registered).
    fn get_asset(&self, asset_id: &str) -> impl Future<Output = Result<Option<Asset>>> + Send;
    /// An asset whose registration is under way (a backfill), None otherwise.
    fn get_registering(&self, asset_id: &str) -> impl Future<Output = Result<Option<Asset>>> + Send;
    /// One page of a backfill of a registering asset: adds the page's sizes and moves the
    /// stored cursor from `prev` to `next` (fenced on `prev`, so two deliveries of a message
    /// cannot both count a page); `next` None ends the registration. The asset's class becomes
    /// `class` if it has none, MIXED if it differs. False when the fence failed.
    fn backfill_step(&self, asset_id: &str, prev: Option<&str>, next: Option<&str>, sizes: &crate::domain::pricing::Sizes, class: Option<crate::domain::AssetClass>)
        -> impl Future<Output = Result<bool>> + Send;
    /// Creates an asset that files are then registered to one by one (on arrival, by a
    /// backfill); false if the id exists.
    fn create_asset(&self, asset: &Asset) -> impl Future<Output = Result<bool>> + Send;
    /// Changes what policies select on; the changed asset, or None if it does not exist.
    fn change_asset(&self, asset_id: &str, change: &AssetChange) -> impl Future<Output = Result<Option<Asset>>> + Send;
}

/// Which assets a reschedule goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The assets of one title (its dates changed).
    Title { title_id: String },
    /// Every asset (a policy changed).
    All,
}

impl Scope {
    /// A title's assets, or (None) every asset: the form a reschedule message carries.
    pub fn of(title_id: Option<String>) -> Self {
        title_id.map_or(Scope::All, |title_id| Scope::Title { title_id })
    }

    pub fn title_id(self) -> Option<String> {
        match self {
            Scope::Title { title_id } => Some(title_id),
            Scope::All => None,
        }
    }
}

/// When a change of an asset's due day may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueGuard {
    /// Only while no task holds the asset: the end of a task sets it to be checked again.
    Idle,
    /// Only while a task holds it (taking a busy asset out of the index).
    Busy,
}

/// The due index: each asset that a policy will act on carries the first day one may, in a
/// sparse index sharded to spread its writes; assets with nothing due are not in it.
pub trait DueIndex {
    /// Assets due on or before `day` in one shard, after `cursor`.
    fn due_page(&self, shard: u32, day: NaiveDate, cursor: Option<&str>, limit: usize)
        -> impl Future<Output = Result<(Vec<Asset>, Option<String>)>> + Send;
    /// Sets the asset's due day (None takes it out of the index); false when the guard failed.
    fn set_due(&self, asset_id: &str, due: Option<NaiveDate>, guard: DueGuard) -> impl Future<Output = Result<bool>> + Send;
    /// One page of the assets in `scope`, after `cursor`.
    fn assets_page(&self, scope: &Scope, cursor: Option<&str>, limit: usize) -> impl Future<Output = Result<(Vec<Asset>, Option<String>)>> + Send;
}

/// Accesses per asset per day (the access statistics) and each asset's last access.
pub trait AccessStore {
    /// Adds `count` accesses on `day`; moves the asset's last access to `day` if it is later.
    /// Returns the asset as it is after (None when it does not exist).
    fn record_access(&self, asset: &Asset, day: NaiveDate, count: u64) -> impl Future<Output = Result<Option<Asset>>> + Send;
    /// The asset's accesses per day, from `from` on, in day order.
    fn accesses(&self, asset_id: &str, from: NaiveDate) -> impl Future<Output = Result<Vec<(NaiveDate, u64)>>> + Send;
    /// Every day of every asset, for reports: (title, asset type, day, accesses).
    fn all_accesses(&self) -> impl Future<Output = Result<Vec<(String, String, NaiveDate, u64)>>> + Send;
}

pub trait TitleStore {
    /// Creates or replaces a title; returns the one it replaced.
    fn put_title(&self, title: &Title) -> impl Future<Output = Result<Option<Title>>> + Send;
    fn get_title(&self, title_id: &str) -> impl Future<Output = Result<Option<Title>>> + Send;
    /// Every title, for reports.
    fn all_titles(&self) -> impl Future<Output = Result<Vec<Title>>> + Send;
}

pub trait PolicyStore {
    /// Stores a policy version: version 1 only if the id is new, version n+1 only if n is the
    /// latest. False when that does not hold (a concurrent edit, or the id exists).
    fn put_policy(&self, policy: &Policy) -> impl Future<Output = Result<bool>> + Send;
    /// The latest version, or the given one.
    fn get_policy(&self, policy_id: &str, version: Option<u32>) -> impl Future<Output = Result<Option<Policy>>> + Send;
    /// The latest version of every policy, enabled or not.
    fn current_policies(&self) -> impl Future<Output = Result<Vec<Policy>>> + Send;
}

/// Registered files with their current task id and step, by key.
pub type Registry = std::collections::HashMap<String, LocatedFile>;

pub trait FileStore {
    fn put_files(&self, files: &[FileRecord]) -> impl Future<Output = Result<()>> + Send;
    /// Registers one more file of an asset, once (a conditional put; the asset's totals and
    /// class move only when the put happened). False when it was registered already.
    fn register_file(&self, file: &FileRecord) -> impl Future<Output = Result<bool>> + Send;
    /// One page of an asset's files in one shard, strongly consistent, after `cursor`, each
    /// with its current task and step.
    fn files_page(&self, asset_id: &str, shard: u32, cursor: Option<&str>, limit: usize)
        -> impl Future<Output = Result<(Vec<LocatedFile>, Option<String>)>> + Send;
    /// The registered items of these files of an asset (by the asset given, not the files' own
    /// claim), with their current task and step, by key; files not registered are absent.
    fn steps_of(&self, asset_id: &str, files: &[FileRecord]) -> impl Future<Output = Result<Registry>> + Send;
    /// A restored file's window ended: it is archived again, and its asset too if it was
    /// RESTORED (it is no longer readable as a whole). False if the file was not RESTORED.
    fn restore_expired(&self, file: &FileRecord) -> impl Future<Output = Result<bool>> + Send;
    fn find_by_object(&self, bucket: &str, key: &str) -> impl Future<Output = Result<Option<LocatedFile>>> + Send;
    /// Records the multipart upload a task's copy of the file started (or started again in
    /// place of `replacing`), while the task has not moved the file. False when another upload
    /// was recorded first or the file moved on: the caller's upload is not the file's.
    fn record_upload(&self, task_id: &TaskId, file: &FileRecord, upload_id: &str, replacing: Option<&str>) -> impl Future<Output = Result<bool>> + Send;
}

pub trait TaskStore {
    /// Persists a task that holds the asset, unless another task holds it or waits for it.
    fn create_task(&self, task: &Task) -> impl Future<Output = Result<Created>> + Send;
    /// Persists a QUEUED task in the asset's queue slot: only while another task holds the
    /// asset and the slot is free. AssetBusy when that does not hold.
    fn queue_task(&self, task: &Task) -> impl Future<Output = Result<Created>> + Send;
    /// Moves the asset's queued task into the active slot (QUEUED -> PENDING) once no task holds
    /// it. Returns the task to start: the promoted one, or the active one still PENDING (its
    /// start may have been lost); None when there is nothing to start.
    fn promote_queued(&self, asset_id: &str) -> impl Future<Output = Result<Option<Task>>> + Send;
    fn get_task(&self, task_id: &TaskId) -> impl Future<Output = Result<Option<Task>>> + Send;
    /// A task and, in the same reads, the registered items of these files under `asset_id`
    /// (as [`FileStore::steps_of`] reads them): what a work batch reads before it acts.
    fn task_with_steps(&self, task_id: &TaskId, asset_id: &str, files: &[FileRecord]) -> impl Future<Output = Result<(Option<Task>, Registry)>> + Send;
    /// Stores the execution's task token on a RUNNING task; false if the task is not RUNNING.
    fn store_token(&self, task_id: &TaskId, token: &str) -> impl Future<Output = Result<bool>> + Send;
    /// Moves the plan cursor from `prev` to `next` and adds `planned` files, fenced on `prev`.
    fn advance_plan(&self, task_id: &TaskId, prev: Option<&str>, next: &str, planned: i64) -> impl Future<Output = Result<bool>> + Send;
    fn finish_planning(&self, task_id: &TaskId) -> impl Future<Output = Result<()>> + Send;
    /// Applies the transitions whose `from` still holds and moves the task's counters by those.
    fn commit(&self, task_id: &TaskId, transitions: &[Transition]) -> impl Future<Output = Result<Committed>> + Send;
    /// Claims the right to signal completion: true once, when planning is done, nothing is outstanding.
    fn claim_signal(&self, task_id: &TaskId) -> impl Future<Output = Result<Option<Task>>> + Send;
    fn release_signal(&self, task_id: &TaskId) -> impl Future<Output = Result<()>> + Send;
    /// Failed files of a task, for the report (at most `limit`).
    fn failed_files(&self, task: &Task, limit: usize) -> impl Future<Output = Result<Vec<(String, String)>>> + Send;
}

/// An object version or delete marker, for purges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    pub key: String,
    pub version_id: String,
    pub delete_marker: bool,
}

/// The failure of one S3 call on one object.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// Throttling, timeouts, 5xx: the whole batch is retried later, nothing is counted.
    #[error(transparent)]
    Transient(crate::Error),
    /// S3 refused this object (changed, missing, wrong state...): the file fails with this reason.
    #[error("{code}: {message}")]
    Permanent { code: String, message: String },
}

/// What copying an object to a class produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub version_id: Option<String>,
    pub etag: Option<String>,
    /// No copy was made, and why (the version and ETag are then the registered ones).
    pub skipped: Option<NotCopied>,
}

/// Why an archive's copy was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotCopied {
    /// S3 holds the object in the target class already (it knew better than the registry).
    InTargetClass,
    /// S3 cannot copy the object as it is (see [`crate::domain::StorageClass::copy_blocked_by`]).
    Blocked(String),
}


/// The current version of a key as HEAD answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentObject {
    pub version_id: String,
    pub etag: String,
    pub size: u64,
    pub storage_class: StorageClass,
    pub last_modified: Option<chrono::DateTime<chrono::Utc>>,
}

/// How a multipart copy began: an upload to continue, or nothing to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyStart {
    Upload(String),
    /// The object needs no copy (in the target class already, or not movable): as a single
    /// copy would have answered.
    Nothing(Copied),
}

/// Where a multipart copy stands after an invocation worked on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyProgress {
    Done(Copied),
    /// Parts remain; the next invocation continues the same upload.
    Unfinished { parts_done: usize, parts: usize },
    /// S3 knows no such upload: it completed (and its record was lost) or it was aborted.
    Gone,
}

/// What a restore request found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreStarted {
    /// S3 accepted a new restore (202) or one is in progress already (409 RestoreAlreadyInProgress).
    InProgress,
    /// The object is restored already (200): the window was extended.
    AlreadyRestored,
}

pub trait ObjectStore {
    /// Versions and delete markers under `prefix` after the key `after`, in key order, for at
    /// most about `max_keys` keys; true when more follow. The last key may be cut short (the
    /// next call after it returns the rest is the caller's concern: see the reconciler).
    fn versions_after(&self, bucket: &str, prefix: &str, after: Option<&str>, max_keys: usize)
        -> impl Future<Output = Result<(Vec<crate::domain::repair::KeyVersion>, bool)>> + Send;
    /// The end of the object's restore window when a restore has completed (HEAD's Restore
    /// header), None while it is ongoing or there is none.
    fn restored_until(&self, file: &FileRecord) -> impl Future<Output = Result<Option<String>, ObjectError>> + Send;
    /// Up to `len` bytes of an object from `start`, and the object's size.
    fn read_range(&self, bucket: &str, key: &str, start: u64, len: u64) -> impl Future<Output = Result<(Vec<u8>, u64)>> + Send;
    /// The current version of a key (HEAD), None when there is none.
    fn head_current(&self, bucket: &str, key: &str) -> impl Future<Output = Result<Option<crate::domain::repair::KeyVersion>>> + Send;
    /// The current version of every object under a prefix.
    fn list_latest(&self, bucket: &str, prefix: &str) -> impl Future<Output = Result<Vec<crate::domain::repair::KeyVersion>>> + Send;
    fn copy_to_class(&self, file: &FileRecord, class: StorageClass) -> impl Future<Output = Result<Copied, ObjectError>> + Send;
    /// Starts a multipart copy of the registered version to `class` (for objects too large for
    /// one CopyObject, or one invocation): metadata, tags and encryption carried over.
    fn start_multipart_copy(&self, file: &FileRecord, class: StorageClass) -> impl Future<Output = Result<CopyStart, ObjectError>> + Send;
    /// Copies the parts the upload lacks, starting none after `stop_at`, and completes the
    /// upload when it has them all.
    fn continue_multipart_copy(&self, file: &FileRecord, upload_id: &str, part_bytes: u64, stop_at: Option<std::time::Instant>)
        -> impl Future<Output = Result<CopyProgress, ObjectError>> + Send;
    fn abort_multipart_copy(&self, file: &FileRecord, upload_id: &str) -> impl Future<Output = Result<(), ObjectError>> + Send;
    /// The key's current version (HEAD, unconditional), None when it has none.
    fn current_object(&self, file: &FileRecord) -> impl Future<Output = Result<Option<CurrentObject>, ObjectError>> + Send;
    fn restore(&self, file: &FileRecord, days: u32, tier: crate::domain::RestoreTier) -> impl Future<Output = Result<RestoreStarted, ObjectError>> + Send;
    /// Every version and delete marker of exactly this key.
    fn versions_of(&self, bucket: &str, key: &str) -> impl Future<Output = Result<Vec<ObjectVersion>, ObjectError>> + Send;
    /// Deletes up to 1,000 versions in one request; returns the per-key errors.
    fn delete_versions(&self, bucket: &str, versions: &[ObjectVersion]) -> impl Future<Output = Result<Vec<(ObjectVersion, String)>, ObjectError>> + Send;
}

/// Completion events the state machine could not publish, kept on their task (the Open index's
/// `unpublished` partition) until the reconciler publishes them.
pub trait EventStore {
    /// Up to `limit` kept events: (task id, the event document as the state machine built it).
    fn unpublished_events(&self, limit: usize) -> impl Future<Output = Result<Vec<(TaskId, String)>>> + Send;
    /// Forgets a kept event once it is published; false when it was not kept (any more).
    fn event_published(&self, task_id: &TaskId, event: &str) -> impl Future<Output = Result<bool>> + Send;
}

/// The control queue (planner), work queue (workers) and reconcile queue (reconciler), and the
/// events topic.
pub trait Queues {
    /// Publishes a completion event with its filter attributes (the reconciler's path; the
    /// state machine publishes the others itself).
    fn publish_event(&self, event: &TaskEvent) -> impl Future<Output = Result<()>> + Send;
    fn send_work(&self, batch: &WorkBatch) -> impl Future<Output = Result<()>> + Send;
    fn send_control(&self, message: &ControlMessage) -> impl Future<Output = Result<()>> + Send;
    fn send_reconcile(&self, message: &ReconcileMessage) -> impl Future<Output = Result<()>> + Send;
}

pub trait Orchestrator {
    /// Starts the task's execution; an execution of that name already existing is success.
    fn start(&self, name: &str, input: String) -> impl Future<Output = Result<()>> + Send;
    fn succeed(&self, token: &str, outcome: &Outcome) -> impl Future<Output = Result<()>> + Send;
    /// The status of the task's execution (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED,
    /// PENDING_REDRIVE); None when it has none (a queued task's starts when its turn comes).
    fn execution_status(&self, task_id: &TaskId) -> impl Future<Output = Result<Option<String>>> + Send;
}

/// The application registry: which IAM principals may call the API, with what grants.
pub trait ApplicationStore {
    fn get_application(&self, principal: &str) -> impl Future<Output = Result<Option<crate::domain::grant::Application>>> + Send;
    /// Creates or replaces the principal's entry; returns the one it replaced.
    fn put_application(&self, app: &crate::domain::grant::Application) -> impl Future<Output = Result<Option<crate::domain::grant::Application>>> + Send;
    /// Removes the principal's entry; returns it (None if there was none).
    fn delete_application(&self, principal: &str) -> impl Future<Output = Result<Option<crate::domain::grant::Application>>> + Send;
    fn applications(&self) -> impl Future<Output = Result<Vec<crate::domain::grant::Application>>> + Send;
}

/// The audit trail.
pub trait AuditStore {
    /// Writes the entry, kept `keep_days` (a second write of the same entry, with its outcome,
    /// replaces the first).
    fn record_audit(&self, entry: &crate::domain::audit::AuditEntry, keep_days: i64) -> impl Future<Output = Result<()>> + Send;
    /// Entries newest first, a page of at most `limit` after `cursor`; the next page's cursor.
    fn audit_page(&self, query: &crate::domain::audit::AuditQuery, limit: usize, cursor: Option<&str>)
        -> impl Future<Output = Result<(Vec<crate::domain::audit::AuditEntry>, Option<String>)>> + Send;
}

/// Legal holds on assets and titles.
pub trait HoldStore {
    /// Places the hold; false (and the hold in place kept) when the subject is held already.
    fn place_hold(&self, hold: &crate::domain::hold::Hold) -> impl Future<Output = Result<bool>> + Send;
    /// Releases the subject's hold; returns it (None if there was none).
    fn release_hold(&self, subject: &crate::domain::hold::HoldSubject) -> impl Future<Output = Result<Option<crate::domain::hold::Hold>>> + Send;
    /// The hold on one subject (strongly consistent), None if there is none.
    fn get_hold(&self, subject: &crate::domain::hold::HoldSubject) -> impl Future<Output = Result<Option<crate::domain::hold::Hold>>> + Send;
    /// The holds on an asset and on its title (strongly consistent).
    fn holds_on(&self, asset_id: &str, title_id: &str) -> impl Future<Output = Result<Vec<crate::domain::hold::Hold>>> + Send;
    /// Every hold in place.
    fn holds(&self) -> impl Future<Output = Result<Vec<crate::domain::hold::Hold>>> + Send;
}
