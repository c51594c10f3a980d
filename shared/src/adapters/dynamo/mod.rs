//! The metadata store on DynamoDB, one module per aggregate: assets, files, tasks, the catalog
//! (titles and policies), security, repairs and kept events; `codec` maps items and `write` holds
//! the conditional-write helpers. Key design and access patterns are in docs/architecture.md.
//! Every state change is a conditional write.

use super::sdk_error;
use crate::config::Tables;
use crate::domain::{Action, Asset, AssetState, FileRecord, FileState, FileStep, RestoreTier, StorageClass, TaskCounters, TaskId, TaskStatus};
use crate::error::{Error, Result};
use crate::ports::FileStore;
use crate::domain::{LocatedFile, PolicyRef, Task};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue as AV, ReturnValue};
use std::collections::HashMap;
use tasks::SpentTokens;

/// A DynamoDB item.
pub type Item = HashMap<String, AV>;

/// Name of the files table's index from S3 location to file item.
pub const BY_LOCATION_INDEX: &str = "ByLocation";
/// The assets table's sparse due index: (due_shard, due_at), only assets with a due day.
pub const BY_DUE_INDEX: &str = "ByDue";
/// The assets table's index by title: (title_id, asset_id).
pub const BY_TITLE_INDEX: &str = "ByTitle";

mod assets;
mod catalog;
mod codec;
mod events;
mod fence;
mod files;
mod repair;
mod security;
mod tasks;
mod write;
use crate::pace::jittered_backoff;
use codec::*;
use files::located;
use write::*;
pub use codec::{asset_item, attr};
pub use events::UNPUBLISHED;
pub use write::batch_put;
pub use repair::{OPEN_INDEX, SWEEP_ITEM};
pub use security::BY_CALLER_INDEX;
/// The due day the state machine writes when a task ends: "look at this asset again".
pub const RECHECK: &str = "0000-00-00";

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    tables: Tables,
    /// By task, the tokens of this store's counter updates that applied, each left on the task
    /// as an attribute of its own: the next update of that task removes them (see `commit`).
    spent_tokens: SpentTokens,
}

impl DynamoStore {
    pub fn new(client: Client, tables: Tables) -> Self {
        DynamoStore { client, tables, spent_tokens: SpentTokens::default() }
    }
}
