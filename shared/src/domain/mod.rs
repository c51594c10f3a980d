//! The lifecycle rules, free of AWS and Lambda types.

pub mod action;
pub mod asset;
pub mod audit;
pub mod class;
pub mod conflict;
pub mod file;
pub mod grant;
pub mod hold;
pub mod inventory;
pub mod layout;
pub mod multipart;
pub mod policy;
pub mod pricing;
pub mod repair;
pub mod report;
pub mod savings;
pub mod task;
pub mod title;

pub use action::{Action, RestoreTier, StorageClass};
pub use asset::{Asset, AssetChange, AssetClass, AssetState, NewAsset};
pub use policy::{Anchor, Decision, Policy, PolicyAction, PolicyDoc, Selector};
pub use file::{FileDecision, FileRecord, FileState, FileStep, LocatedFile, Transition, shard_of, shards_for};
pub use task::{Created, Outcome, PolicyRef, Task, TaskCounters, TaskId, TaskRequest, TaskStatus};
pub use title::{Title, TitleBody};

/// A time as slm's items and answers write it (RFC 3339, seconds, UTC): the one form a time
/// takes when it becomes a string.
pub fn stamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
