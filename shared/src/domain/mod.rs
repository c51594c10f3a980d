//! The lifecycle rules, free of AWS and Lambda types.

pub mod action;
pub mod asset;
pub mod file;
pub mod multipart;
pub mod pricing;
pub mod task;

pub use action::{Action, RestoreTier, StorageClass};
pub use asset::{Asset, AssetState, NewAsset};
pub use file::{FileDecision, FileRecord, FileState, FileStep, shard_of};
pub use task::{Outcome, TaskCounters, TaskId, TaskRequest, TaskStatus};
