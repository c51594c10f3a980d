//! A registered file (one S3 object of an asset) and the per-file rules of each action.

use super::action::{Action, StorageClass};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where a file is in its storage life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FileState {
    Active,
    Archived,
    Restoring,
    Restored,
    Purged,
    /// Deleted outside slm (found by the reconciler): kept in the registry, never acted on.
    Missing,
}

impl FileState {
    /// The state of a file S3 holds in `class`, as registration records it: archived from the
    /// infrequent-access classes on (see [`StorageClass::coldness`]).
    pub fn of_class(class: StorageClass) -> Self {
        if class.coldness().is_some_and(|c| c > 0) { FileState::Archived } else { FileState::Active }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Archived, Self::Restoring, Self::Restored, Self::Purged, Self::Missing].into_iter().find(|f| f.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FileState::Active => "ACTIVE",
            FileState::Archived => "ARCHIVED",
            FileState::Restoring => "RESTORING",
            FileState::Restored => "RESTORED",
            FileState::Purged => "PURGED",
            FileState::Missing => "MISSING",
        }
    }
}

/// Where a file is in its current task. Moves only forward:
/// QUEUED -> (REQUESTED ->) DONE | FAILED | SKIPPED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FileStep {
    Queued,
    Requested,
    Done,
    Failed,
    Skipped,
}

impl FileStep {
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Requested, Self::Done, Self::Failed, Self::Skipped].into_iter().find(|f| f.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FileStep::Queued => "QUEUED",
            FileStep::Requested => "REQUESTED",
            FileStep::Done => "DONE",
            FileStep::Failed => "FAILED",
            FileStep::Skipped => "SKIPPED",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, FileStep::Done | FileStep::Failed | FileStep::Skipped)
    }
}

/// One registered file, as held in the metadata store and carried in work batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub asset_id: String,
    pub shard: u32,
    pub bucket: String,
    pub key: String,
    /// "null" in a bucket that never had versioning.
    pub version_id: String,
    pub size: u64,
    pub etag: String,
    pub storage_class: StorageClass,
    pub state: FileState,
}

/// What to do with one file for one action, decided before touching S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileDecision {
    Act,
    /// Nothing to do, or nothing S3 can do: the file is SKIPPED with the reason.
    Skip(String),
    /// The file FAILS with the reason.
    Refuse(String),
}

impl FileRecord {
    /// Whether an archive by `action` that skipped this file (as it is now) left it in another
    /// class than its target; a purged or deleted file is in none.
    pub fn kept_from(&self, action: &Action) -> bool {
        matches!(action, Action::Archive { storage_class } if self.storage_class != *storage_class)
            && !matches!(self.state, FileState::Purged | FileState::Missing)
    }

    pub fn decide(&self, action: &Action) -> FileDecision {
        if self.state == FileState::Purged {
            return FileDecision::Skip("already purged".into());
        }
        if self.state == FileState::Missing {
            return FileDecision::Skip("deleted outside slm".into());
        }
        match *action {
            Action::Archive { storage_class } => self.decide_archive(storage_class),
            // S3's other classes are readable as they are; an unknown one is not slm's to guess.
            Action::Restore { .. } if matches!(self.storage_class, StorageClass::Other(_)) => {
                FileDecision::Skip(format!("unknown storage class {}: not restored", self.storage_class))
            }
            Action::Restore { .. } if !self.storage_class.needs_restore() => {
                FileDecision::Skip("readable without a restore".into())
            }
            Action::Restore { tier, .. } if !tier.allowed_for(self.storage_class) => FileDecision::Refuse(format!(
                "{} restores are not available for {}",
                tier.as_str(),
                self.storage_class
            )),
            Action::Restore { .. } => FileDecision::Act,
            Action::Purge => FileDecision::Act,
        }
    }

    /// An archive moves every file in a warmer class to the target. What S3 cannot move, and a
    /// class slm does not know, is skipped with the reason: it never fails its neighbours.
    fn decide_archive(&self, target: StorageClass) -> FileDecision {
        let class = self.storage_class;
        if class == target {
            return FileDecision::Skip("already in the target class".into());
        }
        if let Some(why) = class.immovable() {
            return FileDecision::Skip(why.into());
        }
        match (class.coldness(), target.coldness()) {
            (None, _) => FileDecision::Skip(format!("unknown storage class {class}: not moved")),
            (_, None) => FileDecision::Refuse(format!("{target} is not an archive target")),
            (Some(from), Some(to)) if from > to => FileDecision::Skip("already in a colder class".into()),
            (Some(from), Some(to)) if from == to => FileDecision::Skip("already in a class as cold as the target".into()),
            // S3 copies an object in GLACIER or DEEP_ARCHIVE only from a restored copy.
            _ if class.needs_restore() && self.state != FileState::Restored => {
                FileDecision::Refuse(format!("{class} must be restored before it can be copied to {target}"))
            }
            _ => FileDecision::Act,
        }
    }
}

/// Files per partition key an asset is sized for: its shard count grows with its size, so
/// that no partition key holds (and takes the writes of) much more than this many files.
pub const FILES_PER_SHARD: u64 = 1000;
/// Most shards an asset has (keys `<asset>#000` to `<asset>#999`).
pub const MAX_SHARDS: u32 = 1000;

/// The shards of an asset of `files` files: at least `min` (FILE_SHARDS), one per
/// FILES_PER_SHARD files, at most MAX_SHARDS.
pub fn shards_for(files: u64, min: u32) -> u32 {
    (files.div_ceil(FILES_PER_SHARD).min(u64::from(MAX_SHARDS)) as u32).max(min).min(MAX_SHARDS)
}

/// The shard of a key: a stable hash, so the planner and the registry agree without a lookup.
pub fn shard_of(key: &str, shards: u32) -> u32 {
    let digest = Sha256::digest(key.as_bytes());
    let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    n % shards.max(1)
}

/// One file's move to a new step in a task, with the attributes it sets.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub file: FileRecord,
    pub from: FileStep,
    pub to: FileStep,
    /// New storage class / state / version after the action, for DONE transitions.
    pub new_class: Option<StorageClass>,
    pub new_state: Option<FileState>,
    pub new_version_id: Option<String>,
    pub new_etag: Option<String>,
    pub restore_expiry: Option<String>,
    pub reason: Option<String>,
    /// A skip of an archive that leaves the file in another class than the target (colder, or
    /// one S3 cannot move): counted, so that the asset is not said to be in the target class.
    pub kept: bool,
}

impl Transition {
    /// A restore S3 completed: REQUESTED -> DONE, the file RESTORED until `expiry`.
    pub fn restored(file: FileRecord, expiry: Option<String>) -> Self {
        Transition {
            file,
            from: FileStep::Requested,
            to: FileStep::Done,
            new_class: None,
            new_state: Some(FileState::Restored),
            new_version_id: None,
            new_etag: None,
            restore_expiry: expiry,
            reason: None,
            kept: false,
        }
    }
}

/// A file found by its S3 location, with its task step.
#[derive(Debug, Clone, PartialEq)]
pub struct LocatedFile {
    pub file: FileRecord,
    pub task_id: Option<String>,
    pub step: Option<FileStep>,
    pub restore_expiry: Option<String>,
    /// A multipart copy under way for a task: (task id, upload id).
    pub upload: Option<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::action::RestoreTier;

    fn file(class: StorageClass) -> FileRecord {
        FileRecord {
            asset_id: "a".into(),
            shard: 0,
            bucket: "b".into(),
            key: "k".into(),
            version_id: "null".into(),
            size: 1,
            etag: "\"e\"".into(),
            storage_class: class,
            state: FileState::Active,
        }
    }

    fn skip(why: &str) -> FileDecision {
        FileDecision::Skip(why.into())
    }

    fn archive(class: StorageClass) -> Action {
        Action::Archive { storage_class: class }
    }

    #[test]
    fn archive_skips_a_file_already_in_the_target_class() {
        let a = archive(StorageClass::Glacier);
        assert_eq!(file(StorageClass::Glacier).decide(&a), skip("already in the target class"));
        assert_eq!(file(StorageClass::Standard).decide(&a), FileDecision::Act);
    }

    #[test]
    fn archive_moves_every_warmer_class_and_skips_colder_and_equally_cold_ones() {
        use StorageClass::*;
        let ir = archive(GlacierIr);
        for warmer in [Standard, ReducedRedundancy, StandardIa, OnezoneIa, IntelligentTiering] {
            assert_eq!(file(warmer).decide(&ir), FileDecision::Act, "{warmer}");
        }
        for colder in [Glacier, DeepArchive] {
            assert_eq!(file(colder).decide(&ir), skip("already in a colder class"), "{colder}");
        }
        let ia = archive(StandardIa);
        for equal in [OnezoneIa, IntelligentTiering] {
            assert_eq!(file(equal).decide(&ia), skip("already in a class as cold as the target"), "{equal}");
        }
        assert_eq!(file(ReducedRedundancy).decide(&ia), FileDecision::Act);
    }

    #[test]
    fn archive_skips_what_s3_cannot_move_and_unknown_classes_with_the_reason() {
        use StorageClass::*;
        for target in StorageClass::ARCHIVE_TARGETS {
            for immovable in [ExpressOnezone, Outposts, Snow] {
                let d = file(immovable).decide(&archive(target));
                assert!(matches!(&d, FileDecision::Skip(why) if why.starts_with(immovable.as_str()) && why.ends_with("not moved")), "{immovable}: {d:?}");
            }
            let unknown = StorageClass::from_s3(Some("FSX_ONTAP")).unwrap();
            assert_eq!(file(unknown).decide(&archive(target)), skip("unknown storage class FSX_ONTAP: not moved"));
        }
    }

    #[test]
    fn an_unknown_class_is_not_restored_but_may_be_purged() {
        let unknown = file(StorageClass::from_s3(Some("FSX_ONTAP")).unwrap());
        let r = Action::Restore { days: 1, tier: RestoreTier::Standard };
        assert_eq!(unknown.decide(&r), skip("unknown storage class FSX_ONTAP: not restored"));
        assert_eq!(unknown.decide(&Action::Purge), FileDecision::Act);
        assert_eq!(file(StorageClass::Outposts).decide(&r), skip("readable without a restore"));
    }

    #[test]
    fn registration_records_infrequent_and_colder_classes_as_archived() {
        use StorageClass::*;
        for active in [Standard, ReducedRedundancy, ExpressOnezone, Outposts, Snow, StorageClass::from_s3(Some("NEW_CLASS")).unwrap()] {
            assert_eq!(FileState::of_class(active), FileState::Active, "{active}");
        }
        for archived in [StandardIa, OnezoneIa, IntelligentTiering, GlacierIr, Glacier, DeepArchive] {
            assert_eq!(FileState::of_class(archived), FileState::Archived, "{archived}");
        }
    }

    #[test]
    fn archive_never_warms_a_file_and_copies_glacier_only_when_restored() {
        let deep = archive(StorageClass::DeepArchive);
        let ir = archive(StorageClass::GlacierIr);
        assert_eq!(file(StorageClass::Glacier).decide(&ir), skip("already in a colder class"));
        assert!(matches!(file(StorageClass::Glacier).decide(&deep), FileDecision::Refuse(_)));
        let restored = FileRecord { state: FileState::Restored, ..file(StorageClass::Glacier) };
        assert_eq!(restored.decide(&deep), FileDecision::Act);
        assert_eq!(file(StorageClass::GlacierIr).decide(&deep), FileDecision::Act);
    }

    #[test]
    fn restore_skips_classes_readable_without_restore() {
        let r = Action::Restore { days: 1, tier: RestoreTier::Standard };
        for c in [StorageClass::Standard, StorageClass::StandardIa, StorageClass::GlacierIr] {
            assert!(matches!(file(c).decide(&r), FileDecision::Skip(_)), "{c}");
        }
        assert_eq!(file(StorageClass::DeepArchive).decide(&r), FileDecision::Act);
    }

    #[test]
    fn expedited_restore_of_deep_archive_is_refused_per_file() {
        let r = Action::Restore { days: 1, tier: RestoreTier::Expedited };
        assert!(matches!(file(StorageClass::DeepArchive).decide(&r), FileDecision::Refuse(_)));
    }

    #[test]
    fn shards_grow_with_the_asset() {
        assert_eq!(shards_for(0, 16), 16);
        assert_eq!(shards_for(5_000, 16), 16);
        assert_eq!(shards_for(100_000, 16), 100);
        assert_eq!(shards_for(1_000_000, 16), 1000);
        assert_eq!(shards_for(50_000_000, 16), 1000);
    }

    #[test]
    fn shards_are_stable_and_in_range() {
        for key in ["a", "show/cam/0001.ari", "ü/ß"] {
            let s = shard_of(key, 16);
            assert!(s < 16);
            assert_eq!(s, shard_of(key, 16));
        }
        assert_eq!(shard_of("x", 0), 0);
    }

    #[test]
    fn shards_spread_keys_evenly() {
        let mut counts = [0u32; 16];
        for i in 0..16_000 {
            counts[shard_of(&format!("show/plates/frame.{i:07}.exr"), 16) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (800..1200).contains(&c)), "{counts:?}");
    }
}
