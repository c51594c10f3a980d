//! Completion: S3 event notifications turned into file state. A restore finishes hours after the
//! worker asked for it, when S3 reports ObjectRestore:Completed; a restore window that ends is
//! reported as ObjectRestore:Delete. New objects (ObjectCreated) are registered by the key
//! layout. Duplicate and unknown events change nothing.

use super::{Core, Metadata};
use crate::domain::action::restore_window_end;
use crate::domain::{Action, FileRecord, FileState, FileStep, StorageClass, TaskId, Transition, shard_of};
use crate::error::{Error, Result};
use crate::ports::{ObjectStore, Orchestrator, Queues};
use tracing::Instrument;

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
    pub async fn on_s3_change(&self, change: S3Change, now: chrono::DateTime<chrono::Utc>) -> Result<EventResult> {
        match change {
            S3Change::RestoreCompleted { bucket, key, expiry, at } => {
                let event = RestoreEvent { index: 0, bucket, key, expiry, at };
                let mut answered = self.restores_completed(vec![event], &RestorePlaces::default(), now).await;
                answered.pop().map_or_else(|| Err(Error::dependency("complete restore", "the event was left unanswered")), |(_, result)| result)
            }
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
                    .map_or_else(|| now.date_naive(), |a| a.with_timezone(&chrono::Utc).date_naive());
                Ok(match self.register_object(&bucket, &key, None, today, None).await? {
                    super::register::Registration::Registered { .. } => EventResult::Applied,
                    super::register::Registration::Ignored(why) => EventResult::Ignored(why),
                })
            }
            S3Change::Other { name, .. } => Ok(EventResult::Ignored(format!("{name} needs no action"))),
        }
    }

    /// The changes of one batch of messages, answered in order: restores completed go
    /// together (each task read once, its files counted in one update), the rest one by one.
    pub async fn on_s3_changes(&self, changes: Vec<S3Change>, places: &RestorePlaces, now: chrono::DateTime<chrono::Utc>) -> Vec<Result<EventResult>> {
        use futures::StreamExt;
        let mut results: Vec<Option<Result<EventResult>>> = (0..changes.len()).map(|_| None).collect();
        let mut restores = Vec::new();
        let mut others = Vec::new();
        for (index, change) in changes.into_iter().enumerate() {
            match change {
                S3Change::RestoreCompleted { bucket, key, expiry, at } => restores.push(RestoreEvent { index, bucket, key, expiry, at }),
                other => others.push((index, other)),
            }
        }
        // The others (new objects, restore windows ended) one by one, a few at once, as before.
        let done: Vec<(usize, Result<EventResult>)> =
            futures::stream::iter(others).map(|(index, change)| async move { (index, self.on_s3_change(change, now).await) }).buffer_unordered(OTHERS_AT_ONCE).collect().await;
        for (index, result) in done {
            results[index] = Some(result);
        }
        for (index, result) in self.restores_completed(restores, places, now).await {
            results[index] = Some(result);
        }
        results.into_iter().map(|r| r.unwrap_or_else(|| Err(Error::dependency("complete restore", "an event was left unanswered")))).collect()
    }

    /// Restores S3 completed: each file found (by the place of its asset when this function knows
    /// it, else through the registry's location index), the files of a task moved in one commit.
    async fn restores_completed(&self, events: Vec<RestoreEvent>, places: &RestorePlaces, now: chrono::DateTime<chrono::Utc>) -> Vec<(usize, Result<EventResult>)> {
        let mut answered = Vec::new();
        let mut events = events;
        // A file placed by its asset's place whose transition misses is found again through the
        // index: the place may be stale (another task, or a key of another asset).
        for by_place in [true, false] {
            let mut by_task: std::collections::BTreeMap<TaskId, Vec<Pending>> = Default::default();
            for event in std::mem::take(&mut events) {
                if let Some((task_id, file)) = places.find(&event.bucket, &event.key).filter(|_| by_place) {
                    by_task.entry(task_id).or_default().push(Pending { event, file, placed: true });
                    continue;
                }
                match self.locate_restore(&event.bucket, &event.key).await {
                    Ok(Located::Awaiting(task_id, file)) => {
                        self.learn_place(&task_id, &file, places).await;
                        by_task.entry(task_id).or_default().push(Pending { event, file, placed: false });
                    }
                    Ok(Located::Answered(result)) => answered.push((event.index, Ok(result))),
                    Err(e) => answered.push((event.index, Err(e))),
                }
            }
            for (task_id, pending) in by_task {
                let span = tracing::info_span!("task", task_id = %task_id);
                match self.complete_restores(&task_id, &pending, places, now).instrument(span).await {
                    Ok(results) => {
                        for (p, result) in pending.into_iter().zip(results) {
                            match result {
                                Some(result) => answered.push((p.event.index, Ok(result))),
                                None => {
                                    places.forget(&p.file.asset_id);
                                    events.push(p.event);
                                }
                            }
                        }
                    }
                    Err(e) => answered.extend(pending.iter().map(|p| (p.event.index, Err(e.again("complete restore"))))),
                }
            }
            if events.is_empty() {
                break;
            }
        }
        answered
    }

    /// Moves a task's restored files in one commit; per file, what it did, or None for a file
    /// placed by its asset's place that was not where the place said (to be found again).
    async fn complete_restores(&self, task_id: &TaskId, pending: &[Pending], places: &RestorePlaces, now: chrono::DateTime<chrono::Utc>) -> Result<Vec<Option<EventResult>>> {
        // The window's end: S3's, or (an emulator's events carry none) the task's days from the
        // event's time.
        let days = match pending.iter().any(|p| p.event.expiry.is_none()) {
            false => None,
            true => match places.days(task_id) {
                Some(days) => Some(days),
                None => match self.meta.get_task(task_id).await?.map(|t| t.action) {
                    Some(Action::Restore { days, .. }) => {
                        places.set_days(task_id, days);
                        Some(days)
                    }
                    _ => return Ok(pending.iter().map(|_| Some(EventResult::Ignored(format!("task {task_id} is not a restore")))).collect()),
                },
            },
        };
        let transitions: Vec<Transition> = pending
            .iter()
            .map(|p| {
                let expiry = p.event.expiry.clone().or_else(|| {
                    let completed = p.event.at.as_deref().and_then(|a| chrono::DateTime::parse_from_rfc3339(a).ok()).map_or(now, |a| a.with_timezone(&chrono::Utc));
                    days.map(|days| restore_window_end(completed, days))
                });
                Transition::restored(p.file.clone(), expiry)
            })
            .collect();
        let committed = self.commit(task_id, "restore", &transitions).await?;
        if committed.maybe_complete {
            self.signal_if_complete(task_id, now).await?;
        }
        Ok(pending
            .iter()
            .zip(&committed.written)
            .map(|(p, written)| match (written, p.placed) {
                (Some(_), _) => Some(EventResult::Applied),
                (None, true) => None,
                (None, false) => Some(EventResult::Ignored("restore already recorded".into())),
            })
            .collect())
    }

    /// A restored file found through the location index, with the task awaiting it; or what
    /// the event is when no restore awaits it.
    async fn locate_restore(&self, bucket: &str, key: &str) -> Result<Located> {
        let Some(located) = self.meta.find_by_object(bucket, key).await? else {
            return Ok(Located::Answered(EventResult::Ignored(format!("s3://{bucket}/{key} is not registered"))));
        };
        let not_yet = || Error::retryable("complete restore", format!("restore of {key} completed before its request was recorded"));
        let task_id = located.task_id.as_deref().map(TaskId::parse).transpose()?;
        match (task_id, located.step) {
            (Some(t), Some(FileStep::Requested)) => Ok(Located::Awaiting(t, located.file)),
            (Some(_), Some(FileStep::Queued)) => Err(not_yet()),
            (task_id, _) => {
                // The file's step is an earlier task's (or none): if a restore holds its asset,
                // the worker has not recorded this file's request yet; let the message come back.
                let asset = self.meta.get_asset(&located.file.asset_id).await?;
                let waiting = asset.is_some_and(|a| a.active_action.as_deref() == Some("restore") && a.active_task.as_deref() != task_id.as_ref().map(TaskId::as_str));
                match waiting {
                    true => Err(not_yet()),
                    false => Ok(Located::Answered(EventResult::Ignored("no restore awaits this completion, or it is recorded already".into()))),
                }
            }
        }
    }

    /// Remembers where the files of a restoring asset are, from its item, when this function
    /// does not know it yet: one read per asset while the function is warm.
    async fn learn_place(&self, task_id: &TaskId, file: &FileRecord, places: &RestorePlaces) {
        if places.knows(&file.asset_id, task_id) {
            return;
        }
        match self.meta.get_asset(&file.asset_id).await {
            Ok(Some(asset)) if asset.active_task.as_deref() == Some(task_id.as_str()) && asset.bucket == file.bucket => {
                places.remember(Place { bucket: asset.bucket, prefix: asset.prefix, asset_id: asset.asset_id, shards: asset.shards, task_id: task_id.clone(), days: None });
            }
            Ok(_) => {}
            // Only a shortcut is lost: the next event of this asset is found through the index.
            Err(e) => tracing::warn!(asset_id = %file.asset_id, error = %e.chain(), "could not read the asset's place"),
        }
    }
}

/// Changes other than restores completed handled at once in one batch.
const OTHERS_AT_ONCE: usize = 4;

/// One restore-completed event of a batch, by its position in the batch.
#[derive(Debug)]
struct RestoreEvent {
    index: usize,
    bucket: String,
    key: String,
    expiry: Option<String>,
    at: Option<String>,
}

/// An event whose file and task are known: `placed` when by its asset's place (the file's
/// record then has only its place: asset, shard, bucket and key).
struct Pending {
    event: RestoreEvent,
    file: FileRecord,
    placed: bool,
}

enum Located {
    Awaiting(TaskId, FileRecord),
    Answered(EventResult),
}

/// Where the files of an asset under restore are: its bucket and prefix, its shard count, and
/// the task restoring it. A key under the prefix names its file's item (the asset and the key's
/// shard), so its transition needs no lookup: the transition's condition (this task, REQUESTED)
/// holds only for a file of that asset this task requested, and a miss is found the long way.
#[derive(Debug, Clone)]
struct Place {
    bucket: String,
    prefix: String,
    asset_id: String,
    shards: u32,
    task_id: TaskId,
    days: Option<u32>,
}

/// The places a warm completion function knows, most recently learnt first.
#[derive(Debug, Default)]
pub struct RestorePlaces(std::sync::Mutex<Vec<Place>>);

/// Places one function remembers (assets restoring at once, most of them).
const PLACES: usize = 64;

impl RestorePlaces {
    fn find(&self, bucket: &str, key: &str) -> Option<(TaskId, FileRecord)> {
        let places = self.0.lock().expect("places");
        let place = places.iter().filter(|p| p.bucket == bucket && key.starts_with(&p.prefix)).max_by_key(|p| p.prefix.len())?;
        let file = FileRecord {
            asset_id: place.asset_id.clone(),
            shard: shard_of(key, place.shards),
            bucket: bucket.to_string(),
            key: key.to_string(),
            version_id: String::new(),
            size: 0,
            etag: String::new(),
            storage_class: StorageClass::Glacier,
            state: FileState::Archived,
        };
        Some((place.task_id.clone(), file))
    }

    fn knows(&self, asset_id: &str, task_id: &TaskId) -> bool {
        self.0.lock().expect("places").iter().any(|p| p.asset_id == asset_id && &p.task_id == task_id)
    }

    fn remember(&self, place: Place) {
        let mut places = self.0.lock().expect("places");
        places.retain(|p| p.asset_id != place.asset_id);
        places.insert(0, place);
        places.truncate(PLACES);
    }

    fn forget(&self, asset_id: &str) {
        self.0.lock().expect("places").retain(|p| p.asset_id != asset_id);
    }

    fn days(&self, task_id: &TaskId) -> Option<u32> {
        self.0.lock().expect("places").iter().find(|p| &p.task_id == task_id).and_then(|p| p.days)
    }

    fn set_days(&self, task_id: &TaskId, days: u32) {
        for p in self.0.lock().expect("places").iter_mut().filter(|p| &p.task_id == task_id) {
            p.days = Some(days);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(n: u8) -> TaskId {
        TaskId::parse(&format!("t-{:032x}", n)).unwrap()
    }

    fn place(asset: &str, prefix: &str, task_id: TaskId) -> Place {
        Place { bucket: "media".into(), prefix: prefix.into(), asset_id: asset.into(), shards: 16, task_id, days: None }
    }

    #[test]
    fn a_key_under_a_known_prefix_names_its_file_by_the_longest_prefix_in_its_bucket() {
        let places = RestorePlaces::default();
        places.remember(place("show", "show/", task(1)));
        places.remember(place("vfx", "show/vfx/", task(2)));
        let (t, file) = places.find("media", "show/vfx/shot-1.exr").unwrap();
        assert_eq!((t, file.asset_id.as_str(), file.shard), (task(2), "vfx", shard_of("show/vfx/shot-1.exr", 16)));
        assert_eq!(places.find("media", "show/edit/cut.mov").unwrap().0, task(1));
        assert!(places.find("other-bucket", "show/edit/cut.mov").is_none(), "another bucket's key is no file of these assets");
        assert!(places.find("media", "film/reel.mov").is_none());
    }

    #[test]
    fn a_forgotten_or_replaced_place_is_not_used_and_the_number_held_is_bounded() {
        let places = RestorePlaces::default();
        places.remember(place("show", "show/", task(1)));
        assert!(places.knows("show", &task(1)));
        places.remember(place("show", "show/", task(3)));
        assert!(!places.knows("show", &task(1)), "a new task of the asset replaces the old place");
        places.set_days(&task(3), 7);
        assert_eq!(places.days(&task(3)), Some(7));
        places.forget("show");
        assert!(places.find("media", "show/a").is_none());
        for i in 0..(PLACES + 10) {
            places.remember(place(&format!("a{i}"), &format!("p{i}/"), task(4)));
        }
        assert_eq!(places.0.lock().unwrap().len(), PLACES);
        assert!(places.find("media", &format!("p{}/x", PLACES + 9)).is_some(), "the latest is kept");
        assert!(places.find("media", "p0/x").is_none(), "the oldest is forgotten");
    }

    #[test]
    fn an_error_again_keeps_its_kind_and_its_message() {
        let e = Error::retryable("commit", "throttled");
        let again = e.again("complete restore");
        assert!(again.is_retryable());
        assert!(again.chain().contains("throttled"), "{}", again.chain());
        assert_eq!(Error::validation("bad").again("x").kind(), crate::ErrorKind::Validation);
    }
}

#[cfg(test)]
#[path = "complete_tests.rs"]
mod use_case_tests;
