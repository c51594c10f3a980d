//! Anti-entropy: what the reconciler finds when it compares a registered file with what S3 holds
//! under its key, and the record it keeps of each repair. Deciding is here; acting is the
//! reconcile service's.

use super::action::StorageClass;
use super::file::FileState;
use serde::{Deserialize, Serialize};

/// One version or delete marker of a key, as S3 lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVersion {
    pub key: String,
    pub version_id: String,
    pub etag: String,
    pub size: u64,
    pub storage_class: StorageClass,
    pub latest: bool,
    pub delete_marker: bool,
    /// When it was written, where the listing says.
    pub last_modified: Option<chrono::DateTime<chrono::Utc>>,
}

/// A page of listed versions grouped by key, and the last key whose versions are all in it:
/// when the listing goes on, its last key may continue on the next page, so the page is whole
/// only up to the key before it (or the last key, when the page holds no other).
pub fn whole_keys(versions: &[KeyVersion], truncated: bool) -> (std::collections::BTreeMap<&str, Vec<&KeyVersion>>, Option<String>) {
    let mut keys: std::collections::BTreeMap<&str, Vec<&KeyVersion>> = std::collections::BTreeMap::new();
    for v in versions {
        keys.entry(v.key.as_str()).or_default().push(v);
    }
    let upper = match (truncated, keys.keys().next_back().copied()) {
        (true, Some(last)) if keys.len() > 1 => {
            keys.remove(last);
            keys.keys().next_back().map(|k| k.to_string())
        }
        (true, Some(last)) => Some(last.to_string()),
        _ => None,
    };
    (keys, upper)
}

/// The current version of a key among its listed versions (none when a delete marker is).
pub fn current<'a>(versions: &[&'a KeyVersion]) -> Option<&'a KeyVersion> {
    versions.iter().copied().find(|v| v.latest && !v.delete_marker)
}

/// What the registry says of one file, as the comparison needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub version_id: String,
    pub etag: String,
    pub storage_class: StorageClass,
    pub state: FileState,
    pub restore_expiry: Option<String>,
    /// A task is acting on the file (its step is not final): it is left alone.
    pub in_flight: bool,
}

/// A difference between the registry and S3 for one key, and what repairs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// An object under the asset's prefix that is not registered (its ObjectCreated notification
    /// was lost): register it.
    Unregistered(KeyVersion),
    /// The registered object is gone (deleted outside slm): the file is marked MISSING.
    Missing,
    /// The object was replaced outside slm: the registry takes what S3 holds now.
    Changed(KeyVersion),
    /// Same version, another class (a bucket lifecycle rule moved it): the registry follows.
    ClassChanged(StorageClass),
    /// The restore window ended and its ObjectRestore:Delete event was lost: archived again.
    WindowEnded,
    /// Versions with the registered content left billing after an archive: the copied-from one
    /// in STANDARD (its delete failed), or a second copy in the archive class (two deliveries of
    /// one batch each copied the file, and the one whose record came second died before deleting
    /// its own): deleted. The content stays, in the registered version.
    Superseded(Vec<KeyVersion>),
}

impl Drift {
    pub fn kind(&self) -> RepairKind {
        match self {
            Drift::Unregistered(_) => RepairKind::Registered,
            Drift::Missing => RepairKind::MarkedMissing,
            Drift::Changed(_) => RepairKind::TookChange,
            Drift::ClassChanged(_) => RepairKind::TookClass,
            Drift::WindowEnded => RepairKind::EndedRestoreWindow,
            Drift::Superseded(_) => RepairKind::DeletedSuperseded,
        }
    }
}

/// Compares one key: the registered file (None: not registered) against its listed versions.
/// `today` is the reconciliation's time (RFC 3339), for restore windows.
pub fn compare(file: Option<&Registered>, versions: &[KeyVersion], now: &str) -> Vec<Drift> {
    let current = versions.iter().find(|v| v.latest && !v.delete_marker);
    let Some(f) = file else {
        return current.map(|c| vec![Drift::Unregistered(c.clone())]).unwrap_or_default();
    };
    if f.in_flight {
        return vec![];
    }
    let Some(c) = current else {
        return match f.state {
            FileState::Purged | FileState::Missing => vec![],
            _ => vec![Drift::Missing],
        };
    };
    if c.version_id != f.version_id || c.etag != f.etag || matches!(f.state, FileState::Purged | FileState::Missing) {
        return vec![Drift::Changed(c.clone())];
    }
    let mut drifts = Vec::new();
    if c.storage_class != f.storage_class {
        drifts.push(Drift::ClassChanged(c.storage_class));
    } else if f.state == FileState::Restored && f.restore_expiry.as_deref().is_some_and(|end| end <= now) {
        drifts.push(Drift::WindowEnded);
    }
    let superseded: Vec<KeyVersion> = versions
        .iter()
        .filter(|v| !v.latest && !v.delete_marker && v.etag == f.etag && v.size == c.size && c.storage_class != StorageClass::Standard)
        .filter(|v| v.storage_class == StorageClass::Standard || is_twin_copy(v, c))
        .cloned()
        .collect();
    if !superseded.is_empty() {
        drifts.push(Drift::Superseded(superseded));
    }
    drifts
}

/// Whether a noncurrent version is a second copy made beside the current one: the same class,
/// written within [`TWIN_WINDOW`] of it. Two deliveries of one work batch copy at once (each
/// within one invocation of the other); an owner who wrote the same content twice into an
/// archive class did so at other times, and keeps both.
fn is_twin_copy(v: &KeyVersion, current: &KeyVersion) -> bool {
    let close = matches!((v.last_modified, current.last_modified), (Some(a), Some(b)) if (a - b).abs() <= TWIN_WINDOW);
    v.storage_class == current.storage_class && close
}

/// The longest a Lambda invocation runs (15 minutes): two copies of one file made by two
/// deliveries of its batch at once were written no further apart.
const TWIN_WINDOW: chrono::Duration = chrono::Duration::minutes(15);

/// What the reconciler repaired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepairKind {
    Registered,
    MarkedMissing,
    TookChange,
    TookClass,
    EndedRestoreWindow,
    DeletedSuperseded,
    /// A stuck task's counters did not match its files' steps: set from the files.
    Recounted,
    /// Files still QUEUED for a stuck task (their work message lost): sent to the workers again.
    Redrove,
    /// A stuck task's planning stopped (its continuation lost): continued.
    ContinuedPlanning,
    /// A restore S3 completed whose ObjectRestore:Completed event was lost: recorded.
    CompletedRestore,
    /// A queued task on a free asset (its start message lost): started.
    StartedQueued,
    /// A task still PENDING (its execution start lost): started.
    StartedExecution,
    /// A stuck task complete by its files: its execution told.
    Signalled,
    /// An open task whose execution ended without recording it (stopped from outside, or past
    /// a time limit): ended FAILED through the state machine's failure path.
    EndedTask,
}

impl RepairKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RepairKind::Registered => "registered",
            RepairKind::MarkedMissing => "marked_missing",
            RepairKind::TookChange => "took_change",
            RepairKind::TookClass => "took_class",
            RepairKind::EndedRestoreWindow => "ended_restore_window",
            RepairKind::DeletedSuperseded => "deleted_superseded",
            RepairKind::Recounted => "recounted",
            RepairKind::Redrove => "redrove",
            RepairKind::ContinuedPlanning => "continued_planning",
            RepairKind::EndedTask => "ended_task",
            RepairKind::CompletedRestore => "completed_restore",
            RepairKind::StartedQueued => "started_queued",
            RepairKind::StartedExecution => "started_execution",
            RepairKind::Signalled => "signalled",
        }
    }
}

/// One repair, as recorded (kept 90 days).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repair {
    pub asset_id: String,
    pub kind: RepairKind,
    /// The object key or the task id it concerns.
    pub subject: String,
    pub detail: String,
    /// The reconciliation's time (RFC 3339).
    pub at: String,
}

/// The reconciler's sweep of every asset, as its record holds it: one at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sweep {
    /// The sweep's id: the time of the scheduled run that started it (RFC 3339), which is also
    /// the `now` its comparisons use (restore windows).
    pub at: String,
    /// When it started and last moved (wall clock: every page and every step of an asset's own
    /// messages moves it).
    pub started_at: String,
    pub progress_at: String,
    /// The fenced cursor of its pages of assets (see [`sweep_cursor`]); None once the last page
    /// is done.
    pub cursor: Option<String>,
    /// Assets with more keys than a message takes, whose own messages still run.
    pub chains: i64,
}

impl Sweep {
    /// Every page of assets done and every asset's own messages ended.
    pub fn ended(&self) -> bool {
        self.cursor.is_none() && self.chains <= 0
    }
}

/// What a scheduled run does about the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepStart {
    /// No sweep yet, or the last one ended: start one.
    Start,
    /// The last one has not moved for the lease: it died (its messages were lost or
    /// dead-lettered); start a new one in its place.
    TakeOver,
    /// The last one is still moving: leave it.
    Running,
}

impl SweepStart {
    pub fn as_str(self) -> &'static str {
        match self {
            SweepStart::Start => "started",
            SweepStart::TakeOver => "taken_over",
            SweepStart::Running => "running",
        }
    }
}

/// Whether a scheduled run at `now` starts a sweep: only when none runs, or the one that runs
/// has not moved for `lease_seconds`.
pub fn sweep_start(current: Option<&Sweep>, now: chrono::DateTime<chrono::Utc>, lease_seconds: i64) -> SweepStart {
    let Some(s) = current else { return SweepStart::Start };
    if s.ended() {
        return SweepStart::Start;
    }
    match chrono::DateTime::parse_from_rfc3339(&s.progress_at) {
        Ok(p) if p.with_timezone(&chrono::Utc) + chrono::Duration::seconds(lease_seconds) > now => SweepStart::Running,
        // Not moved for the lease (or unreadable): dead.
        _ => SweepStart::TakeOver,
    }
}

/// The value a fenced sweep cursor holds: the sweep's id and the position in it (the last asset
/// of a page, or the last key of an asset compared; empty before the first).
pub fn sweep_cursor(sweep: &str, position: Option<&str>) -> String {
    format!("{sweep}|{}", position.unwrap_or_default())
}

/// Whether a task that stands still is looked at in full again (recounted, its QUEUED files
/// re-driven, its REQUESTED restores checked with HEAD): always the first time; after that only
/// once it moved since (its `progress_at` is not the one the last look saw) or `recheck_seconds`
/// after the last look. A restore waiting hours for S3 is then read every `recheck_seconds`, not
/// every run.
pub fn recheck_due(checked: Option<&(String, String)>, progress: &str, now: chrono::DateTime<chrono::Utc>, recheck_seconds: i64) -> bool {
    let Some((at, seen)) = checked else { return true };
    if seen != progress {
        return true;
    }
    match chrono::DateTime::parse_from_rfc3339(at) {
        Ok(at) => at.with_timezone(&chrono::Utc) + chrono::Duration::seconds(recheck_seconds) <= now,
        Err(_) => true,
    }
}

/// Keys one message of an asset's sweep compares: at least `keys_per_message`, and enough that
/// each of the asset's shards holds about [`KEYS_PER_SHARD_QUERY`] of them, so a query per
/// shard per message costs about 1/KEYS_PER_SHARD_QUERY query per file (a million-file asset's
/// 1,000 shards: 10,000 keys a message, 0.1 query per file). Shards are at most 1,000, so a
/// message holds at most 10,000 listed keys whatever the asset's size.
pub fn window_keys(keys_per_message: usize, shards: u32) -> usize {
    keys_per_message.max(2).max(KEYS_PER_SHARD_QUERY * shards.max(1) as usize)
}

/// See [`window_keys`].
pub const KEYS_PER_SHARD_QUERY: usize = 10;

/// Files read from one shard for a window of `window` keys: twice its share and a few more, so
/// a shard is rarely cut; one that is cut ends the window at its last key read. The registry side
/// of a message then holds at most `shards` times this, about twice the window.
pub fn shard_read_limit(window: usize, shards: u32) -> usize {
    2 * window.div_ceil(shards.max(1) as usize) + 4
}

/// The last key a window compares in full: the smallest of the listing's last whole key and
/// the last key of each shard that was cut (None: every side was read to the end).
pub fn window_upper(listing: Option<String>, cut_shards: impl IntoIterator<Item = String>) -> Option<String> {
    listing.into_iter().chain(cut_shards).min_by(|a, b| a.as_bytes().cmp(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(version: &str, etag: &str, class: StorageClass, latest: bool) -> KeyVersion {
        let last_modified = Some("2027-01-01T00:00:00Z".parse().unwrap());
        KeyVersion { key: "k".into(), version_id: version.into(), etag: etag.into(), size: 1, storage_class: class, latest, delete_marker: false, last_modified }
    }

    fn reg(version: &str, etag: &str, class: StorageClass, state: FileState) -> Registered {
        Registered { version_id: version.into(), etag: etag.into(), storage_class: class, state, restore_expiry: None, in_flight: false }
    }

    const NOW: &str = "2027-01-10T00:00:00Z";
    use StorageClass::{Glacier, Standard};

    #[test]
    fn a_page_is_whole_up_to_the_key_before_its_last_when_the_listing_goes_on() {
        let page = [KeyVersion { key: "a".into(), ..v("1", "e", Standard, true) }, KeyVersion { key: "b".into(), ..v("2", "e", Standard, false) }];
        let (keys, upper) = whole_keys(&page, true);
        assert_eq!((keys.keys().copied().collect::<Vec<_>>(), upper.as_deref()), (vec!["a"], Some("a")));
        let (keys, upper) = whole_keys(&page, false);
        assert_eq!((keys.len(), upper), (2, None));
        let (keys, upper) = whole_keys(&page[1..], true);
        assert_eq!((keys.len(), upper.as_deref()), (1, Some("b")), "a key of more versions than a page still makes progress");
    }

    #[test]
    fn drift_by_case() {
        let kinds = |d: Vec<Drift>| d.iter().map(|d| d.kind().as_str()).collect::<Vec<_>>().join(",");
        let marker = KeyVersion { delete_marker: true, ..v("m", "", Standard, true) };
        let mut restored = reg("1", "e", Glacier, FileState::Restored);
        restored.restore_expiry = Some("2027-01-09T00:00:00Z".into());
        let mut still = restored.clone();
        still.restore_expiry = Some("2027-01-11T00:00:00Z".into());
        let busy = Registered { in_flight: true, ..reg("1", "e", Standard, FileState::Active) };
        let archived = reg("2", "e", Glacier, FileState::Archived);
        let cases: Vec<(&str, Option<Registered>, Vec<KeyVersion>, &str)> = vec![
            ("in sync", Some(reg("1", "e", Standard, FileState::Active)), vec![v("1", "e", Standard, true)], ""),
            ("lost notification", None, vec![v("1", "e", Standard, true)], "registered"),
            ("not registered, deleted", None, vec![marker.clone()], ""),
            ("deleted outside slm", Some(reg("1", "e", Standard, FileState::Active)), vec![v("1", "e", Standard, false), marker.clone()], "marked_missing"),
            ("gone entirely", Some(reg("1", "e", Standard, FileState::Archived)), vec![], "marked_missing"),
            ("purged stays purged", Some(reg("1", "e", Standard, FileState::Purged)), vec![], ""),
            ("missing stays missing", Some(reg("1", "e", Standard, FileState::Missing)), vec![], ""),
            ("replaced outside slm", Some(reg("1", "e", Standard, FileState::Active)), vec![v("1", "e", Standard, false), v("2", "f", Standard, true)], "took_change"),
            ("rewritten in place", Some(reg("null", "e", Standard, FileState::Active)), vec![v("null", "f", Standard, true)], "took_change"),
            ("back after missing", Some(reg("1", "e", Standard, FileState::Missing)), vec![v("1", "e", Standard, true)], "took_change"),
            ("moved by a lifecycle rule", Some(reg("1", "e", Standard, FileState::Active)), vec![v("1", "e", Glacier, true)], "took_class"),
            ("window ended", Some(restored), vec![v("1", "e", Glacier, true)], "ended_restore_window"),
            ("window open", Some(still), vec![v("1", "e", Glacier, true)], ""),
            ("a task acts on it", Some(busy), vec![], ""),
            ("superseded left", Some(archived.clone()), vec![v("2", "e", Glacier, true), v("1", "e", Standard, false)], "deleted_superseded"),
            ("a second copy left", Some(archived.clone()), vec![v("2", "e", Glacier, true), v("3", "e", Glacier, false), v("1", "e", Standard, false)], "deleted_superseded"),
            ("older content kept", Some(archived.clone()), vec![v("2", "e", Glacier, true), v("0", "old", Standard, false), v("4", "old", Glacier, false)], ""),
            ("another size kept", Some(archived.clone()), vec![v("2", "e", Glacier, true), KeyVersion { size: 99, ..v("3", "e", Glacier, false) }], ""),
            ("the same content written an hour apart kept", Some(archived.clone()), vec![v("2", "e", Glacier, true), KeyVersion { last_modified: Some("2026-12-31T23:00:00Z".parse().unwrap()), ..v("3", "e", Glacier, false) }], ""),
            ("no time to compare kept", Some(archived), vec![v("2", "e", Glacier, true), KeyVersion { last_modified: None, ..v("3", "e", Glacier, false) }], ""),
            ("a standard file's twin kept", Some(reg("2", "e", Standard, FileState::Active)), vec![v("2", "e", Standard, true), v("1", "e", Standard, false)], ""),
        ];
        for (name, file, versions, expected) in cases {
            assert_eq!(kinds(compare(file.as_ref(), &versions, NOW)), expected, "{name}");
        }
    }

    #[test]
    fn one_sweep_at_a_time_and_a_dead_one_is_taken_over_after_its_lease() {
        let now: chrono::DateTime<chrono::Utc> = "2027-01-10T12:00:00Z".parse().unwrap();
        let sweep = |progress: &str, cursor: Option<&str>, chains: i64| Sweep {
            at: "2027-01-10T11:00:00Z".into(),
            started_at: "2027-01-10T11:00:00Z".into(),
            progress_at: progress.into(),
            cursor: cursor.map(str::to_string),
            chains,
        };
        assert_eq!(sweep_start(None, now, 7200), SweepStart::Start, "the first");
        assert_eq!(sweep_start(Some(&sweep("2027-01-10T11:59:00Z", None, 0)), now, 7200), SweepStart::Start, "the last one ended");
        assert_eq!(sweep_start(Some(&sweep("2027-01-10T11:59:00Z", Some("x|a"), 0)), now, 7200), SweepStart::Running, "pages left");
        assert_eq!(sweep_start(Some(&sweep("2027-01-10T11:59:00Z", None, 2)), now, 7200), SweepStart::Running, "assets of their own left");
        assert_eq!(sweep_start(Some(&sweep("2027-01-10T10:00:01Z", None, 1)), now, 7200), SweepStart::Running, "inside the lease");
        assert_eq!(sweep_start(Some(&sweep("2027-01-10T10:00:00Z", None, 1)), now, 7200), SweepStart::TakeOver, "not moved for the lease");
        assert_eq!(sweep_start(Some(&sweep("garbage", Some("x|"), 0)), now, 7200), SweepStart::TakeOver);
        assert_eq!(sweep_cursor("2027-01-10T11:00:00Z", None), "2027-01-10T11:00:00Z|");
        assert_eq!(sweep_cursor("s", Some("a/b|c")), "s|a/b|c");
    }

    #[test]
    fn a_task_standing_still_is_read_again_only_when_it_moved_or_after_the_recheck_interval() {
        let now: chrono::DateTime<chrono::Utc> = "2027-01-10T12:00:00Z".parse().unwrap();
        let checked = ("2027-01-10T11:00:00Z".to_string(), "2027-01-10T08:00:00Z".to_string());
        assert!(recheck_due(None, "2027-01-10T08:00:00Z", now, 21_600), "never looked at");
        assert!(!recheck_due(Some(&checked), "2027-01-10T08:00:00Z", now, 21_600), "nothing moved since the last look, an hour ago");
        assert!(recheck_due(Some(&checked), "2027-01-10T11:30:00Z", now, 21_600), "it moved since");
        assert!(recheck_due(Some(&checked), "2027-01-10T08:00:00Z", "2027-01-10T17:00:00Z".parse().unwrap(), 21_600), "six hours after the last look");
    }

    #[test]
    fn a_window_is_bounded_whatever_the_asset_and_ends_where_a_side_was_cut() {
        assert_eq!(window_keys(1000, 16), 1000);
        assert_eq!(window_keys(1000, 1000), 10_000, "a million-file asset: 0.1 query per file");
        assert_eq!(shard_read_limit(10_000, 1000), 24);
        assert_eq!(shard_read_limit(1000, 16), 130);
        assert!(shard_read_limit(window_keys(1000, 1000), 1000) * 1000 <= 3 * window_keys(1000, 1000));
        assert_eq!(window_upper(None, []), None, "both sides read to the end");
        assert_eq!(window_upper(Some("k/5".into()), ["k/7".to_string(), "k/3".to_string()]).as_deref(), Some("k/3"));
        assert_eq!(window_upper(None, ["k/7".to_string()]).as_deref(), Some("k/7"));
    }
}
