//! The metadata store on DynamoDB: assets, files and tasks. Key design and access patterns are in
//! docs/architecture.md. Every state change is a conditional write.

use super::sdk_error;
use crate::config::Tables;
use crate::domain::policy::due_shard;
use crate::domain::{Action, Asset, AssetChange, AssetState, FileRecord, FileState, FileStep, Policy, RestoreTier, StorageClass, TaskCounters, TaskId, TaskStatus, Title};
use crate::error::{Error, Result};
use crate::ports::{
    AccessStore, AssetStore, Committed, Created, DueGuard, DueIndex, FileStore, LocatedFile, PolicyRef, PolicyStore, Registry, Scope, Task, TaskStore, TitleStore, Transition,
};
use chrono::NaiveDate;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue as AV, KeysAndAttributes, Put, PutRequest, ReturnValue, TransactWriteItem, Update, WriteRequest};
use std::collections::HashMap;


type Item = HashMap<String, AV>;

/// Name of the files table's index from S3 location to file item.
pub const BY_LOCATION_INDEX: &str = "ByLocation";
/// The assets table's sparse due index: (due_shard, due_at), only assets with a due day.
pub const BY_DUE_INDEX: &str = "ByDue";
/// The assets table's index by title: (title_id, asset_id).
pub const BY_TITLE_INDEX: &str = "ByTitle";

mod events;
mod fence;
mod repair;
mod security;
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

/// Spent count tokens one counter update removes at most.
const COUNT_TOKENS_REMOVED: usize = 8;
/// Tasks whose spent count tokens one store remembers: a warm function counts for many tasks in
/// its life, and holds no more than these.
const TASKS_REMEMBERED: usize = 256;

/// By task, the tokens of this store's counter updates that applied and are still on the task.
/// Past [`TASKS_REMEMBERED`] tasks the one counted longest ago is forgotten: its tokens stay on
/// its item, a few bytes each.
#[derive(Clone, Debug, Default)]
struct SpentTokens(std::sync::Arc<std::sync::Mutex<SpentByTask>>);

#[derive(Debug, Default)]
struct SpentByTask {
    /// Task -> (when last counted, its tokens oldest first).
    tasks: HashMap<String, (u64, Vec<String>)>,
    clock: u64,
}

impl SpentTokens {
    /// The task's oldest tokens, at most [`COUNT_TOKENS_REMOVED`], taken to be removed.
    fn take(&self, task: &str) -> Vec<String> {
        let mut all = self.0.lock().expect("count tokens");
        let Some((_, mine)) = all.tasks.get_mut(task) else { return vec![] };
        let n = mine.len().min(COUNT_TOKENS_REMOVED);
        mine.drain(..n).collect()
    }

    /// Tokens left on the task (new ones, or taken ones an update did not remove).
    fn put_back(&self, task: &str, tokens: Vec<String>) {
        let mut all = self.0.lock().expect("count tokens");
        all.clock += 1;
        let now = all.clock;
        let entry = all.tasks.entry(task.to_string()).or_default();
        entry.0 = now;
        entry.1.extend(tokens);
        if all.tasks.len() > TASKS_REMEMBERED {
            let oldest = all.tasks.iter().min_by_key(|(_, (at, _))| *at).map(|(t, _)| t.clone());
            if let Some(oldest) = oldest {
                all.tasks.remove(&oldest);
            }
        }
    }
}

// ---- attribute helpers ----

fn s(v: impl Into<String>) -> AV {
    AV::S(v.into())
}

fn n(v: impl ToString) -> AV {
    AV::N(v.to_string())
}

fn get_s(item: &Item, name: &str) -> Result<String> {
    match item.get(name) {
        Some(AV::S(v)) => Ok(v.clone()),
        _ => Err(Error::dependency("read item", format!("attribute {name} missing or not a string"))),
    }
}

/// The item a PutItem or DeleteItem replaced (`ReturnValues: ALL_OLD`): none when the answer
/// omits `Attributes`, as DynamoDB does, or carries an empty map, as some emulators do (an item
/// always has its key, so an empty one is no item).
fn old_item(attributes: Option<&Item>) -> Option<&Item> {
    attributes.filter(|a| !a.is_empty())
}

fn opt_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AV::S(v)) => Some(v.clone()),
        _ => None,
    }
}

fn get_n<T: std::str::FromStr + Default>(item: &Item, name: &str) -> T {
    match item.get(name) {
        Some(AV::N(v)) => v.parse().unwrap_or_default(),
        _ => T::default(),
    }
}

fn get_bool(item: &Item, name: &str) -> bool {
    matches!(item.get(name), Some(AV::Bool(true)))
}

/// A token unique to one write call (its SDK retries resend the same one).
fn write_token() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:x}-{:x}-{n:x}", std::process::id(), nanos)
}

/// Sends a conditional update that writes `token` to `attribute`, and says whether the write is
/// this call's: Some(the item after it) when applied, Some(the item as found) when the condition
/// failed on an item already carrying this call's token (an attempt applied whose answer was lost,
/// then retried by the SDK), None when the condition failed for another reason.
async fn own_write(request: UpdateItemFluentBuilder, operation: &'static str, attribute: &str, token: &str) -> Result<Option<Item>> {
    let res = request
        .return_values_on_condition_check_failure(aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    match res {
        Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
        Err(e) => match e.as_service_error() {
            Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(failed)) => {
                Ok(failed.item().filter(|item| opt_s(item, attribute).is_some_and(|w| w == token)).cloned())
            }
            _ => Err(sdk_error(operation, e)),
        },
    }
}

/// The wall-clock time of a write, for `progress_at`.
fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn file_pk(asset_id: &str, shard: u32) -> String {
    format!("{asset_id}#{shard:03}")
}

fn location(bucket: &str, key: &str) -> String {
    format!("{bucket}/{key}")
}

fn is_conditional_failure<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

/// The result of a conditional write: None when its condition did not hold.
fn conditional<T, E>(operation: &'static str, res: std::result::Result<T, SdkError<E, HttpResponse>>) -> Result<Option<T>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match res {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.as_service_error().is_some_and(is_conditional_failure) => Ok(None),
        Err(e) => Err(sdk_error(operation, e)),
    }
}

// ---- item mapping ----

fn asset_to_item(a: &Asset) -> Item {
    let mut item = Item::from([
        ("asset_id".into(), s(&a.asset_id)),
        ("title_id".into(), s(&a.title_id)),
        ("asset_type".into(), s(&a.asset_type)),
        ("bucket".into(), s(&a.bucket)),
        ("prefix".into(), s(&a.prefix)),
        ("shards".into(), n(a.shards)),
        ("file_count".into(), n(a.file_count)),
        ("total_bytes".into(), n(a.total_bytes)),
        ("asset_state".into(), s(a.state.as_str())),
        ("registered_at".into(), s(&a.registered_at)),
        ("phase".into(), s(&a.phase)),
        ("tags".into(), AV::M(a.tags.iter().map(|(k, v)| (k.clone(), s(v))).collect())),
        ("created_on".into(), s(a.created_on.to_string())),
        ("small_file_count".into(), n(a.small_file_count)),
        ("small_file_bytes".into(), n(a.small_file_bytes)),
        ("due_shard".into(), s(format!("{:02}", due_shard(&a.asset_id)))),
    ]);
    if let Some(t) = &a.active_task {
        item.insert("active_task".into(), s(t));
    }
    // Absent until known: an asset registered file by file takes its first file's class.
    if !a.storage_class.is_empty() {
        item.insert("storage_class".into(), s(&a.storage_class));
    }
    if let Some(d) = a.last_access_on {
        item.insert("last_access_on".into(), s(d.to_string()));
    }
    item
}

fn get_date(item: &Item, name: &str) -> Result<Option<NaiveDate>> {
    opt_s(item, name)
        .map(|v| v.parse().map_err(|e| Error::dependency("read date", format!("{name}={v}: {e}"))))
        .transpose()
}

fn string_map(item: &Item, name: &str) -> std::collections::BTreeMap<String, String> {
    match item.get(name) {
        Some(AV::M(m)) => m.iter().filter_map(|(k, v)| v.as_s().ok().map(|v| (k.clone(), v.clone()))).collect(),
        _ => Default::default(),
    }
}

fn item_to_asset(item: &Item) -> Result<Asset> {
    let state = get_s(item, "asset_state")?;
    Ok(Asset {
        asset_id: get_s(item, "asset_id")?,
        title_id: get_s(item, "title_id")?,
        asset_type: get_s(item, "asset_type")?,
        phase: opt_s(item, "phase").unwrap_or_else(crate::domain::asset::default_phase),
        tags: string_map(item, "tags"),
        created_on: get_date(item, "created_on")?.ok_or_else(|| Error::dependency("read asset", "created_on missing"))?,
        last_access_on: get_date(item, "last_access_on")?,
        bucket: get_s(item, "bucket")?,
        prefix: get_s(item, "prefix")?,
        shards: get_n(item, "shards"),
        file_count: get_n(item, "file_count"),
        total_bytes: get_n(item, "total_bytes"),
        small_file_count: get_n(item, "small_file_count"),
        small_file_bytes: get_n(item, "small_file_bytes"),
        state: AssetState::parse(&state).ok_or_else(|| Error::dependency("read asset", format!("unknown asset state {state}")))?,
        storage_class: opt_s(item, "storage_class").unwrap_or_default(),
        active_task: opt_s(item, "active_task"),
        active_action: opt_s(item, "active_action"),
        queued_task: opt_s(item, "queued_task"),
        backfill_cursor: opt_s(item, "backfill_cursor"),
        sweep_cursor: opt_s(item, "sweep_cursor"),
        registered_at: get_s(item, "registered_at")?,
        due_at: opt_s(item, "due_at"),
    })
}

fn file_to_item(f: &FileRecord) -> Item {
    Item::from([
        ("pk".into(), s(file_pk(&f.asset_id, f.shard))),
        ("object_key".into(), s(&f.key)),
        ("location".into(), s(location(&f.bucket, &f.key))),
        ("asset_id".into(), s(&f.asset_id)),
        ("shard".into(), n(f.shard)),
        ("bucket".into(), s(&f.bucket)),
        ("version_id".into(), s(&f.version_id)),
        ("size_bytes".into(), n(f.size)),
        ("etag".into(), s(&f.etag)),
        ("storage_class".into(), s(f.storage_class.as_str())),
        ("file_state".into(), s(f.state.as_str())),
    ])
}

fn item_to_file(item: &Item) -> Result<FileRecord> {
    let state = get_s(item, "file_state")?;
    Ok(FileRecord {
        asset_id: get_s(item, "asset_id")?,
        shard: get_n(item, "shard"),
        bucket: get_s(item, "bucket")?,
        key: get_s(item, "object_key")?,
        version_id: get_s(item, "version_id")?,
        size: get_n(item, "size_bytes"),
        etag: get_s(item, "etag")?,
        // The registry keeps S3's names, of classes slm does not know too.
        storage_class: StorageClass::from_s3(Some(&get_s(item, "storage_class")?))?,
        state: FileState::parse(&state).ok_or_else(|| Error::dependency("read file", format!("unknown file state {state}")))?,
    })
}

fn task_to_item(t: &Task) -> Item {
    let mut item = Item::from([
        ("task_id".into(), s(t.task_id.as_str())),
        ("asset_id".into(), s(&t.asset_id)),
        ("title_id".into(), s(&t.title_id)),
        ("asset_type".into(), s(&t.asset_type)),
        ("action".into(), s(t.action.name())),
        ("task_status".into(), s(t.status.as_str())),
        ("requested_by".into(), s(&t.requested_by)),
        ("origin".into(), s(&t.origin)),
        ("created_at".into(), s(&t.created_at)),
        ("planned".into(), n(0)),
        ("outstanding".into(), n(0)),
        ("succeeded".into(), n(0)),
        ("failed".into(), n(0)),
        ("skipped".into(), n(0)),
        ("planning_done".into(), AV::Bool(false)),
        // In the sparse Open index until the state machine records the task's end.
        ("open_shard".into(), s(format!("{:02}", due_shard(t.task_id.as_str())))),
    ]);
    if let Some(p) = &t.policy {
        item.insert("policy_id".into(), s(&p.policy_id));
        item.insert("policy_version".into(), n(p.version));
    }
    match t.action {
        Action::Archive { storage_class } => {
            item.insert("storage_class".into(), s(storage_class.as_str()));
        }
        Action::Restore { days, tier } => {
            item.insert("days".into(), n(days));
            item.insert("tier".into(), s(tier.as_str()));
        }
        Action::Purge => {}
    }
    item
}

fn item_to_task(item: &Item) -> Result<Task> {
    let action = match get_s(item, "action")?.as_str() {
        "archive" => Action::Archive { storage_class: get_s(item, "storage_class")?.parse()? },
        "restore" => Action::Restore { days: get_n(item, "days"), tier: get_s(item, "tier")?.parse::<RestoreTier>()? },
        "purge" => Action::Purge,
        other => return Err(Error::dependency("read task", format!("unknown action {other}"))),
    };
    Ok(Task {
        task_id: TaskId::parse(&get_s(item, "task_id")?)?,
        asset_id: get_s(item, "asset_id")?,
        title_id: get_s(item, "title_id")?,
        asset_type: get_s(item, "asset_type")?,
        action,
        status: TaskStatus::parse(&get_s(item, "task_status")?)?,
        requested_by: get_s(item, "requested_by")?,
        origin: get_s(item, "origin")?,
        created_at: get_s(item, "created_at")?,
        counters: TaskCounters {
            planned: get_n(item, "planned"),
            outstanding: get_n(item, "outstanding"),
            succeeded: get_n(item, "succeeded"),
            failed: get_n(item, "failed"),
            skipped: get_n(item, "skipped"),
        },
        planning_done: get_bool(item, "planning_done"),
        reason: opt_s(item, "reason"),
        policy: opt_s(item, "policy_id").map(|policy_id| PolicyRef { policy_id, version: get_n(item, "policy_version") }),
        task_token: opt_s(item, "task_token"),
        plan_cursor: opt_s(item, "plan_cursor"),
        progress_at: opt_s(item, "progress_at"),
        checked: opt_s(item, "checked_at").zip(opt_s(item, "checked_progress")),
    })
}

impl AssetStore for DynamoStore {
    async fn begin_registration(&self, asset: &Asset) -> Result<bool> {
        let mut item = asset_to_item(asset);
        item.insert("registering".into(), AV::Bool(true));
        let res = self
            .client
            .put_item()
            .table_name(&self.tables.assets)
            .set_item(Some(item))
            // A registration that stopped half way may be resumed; a finished one may not be redone.
            .condition_expression("attribute_not_exists(asset_id) OR registering = :t")
            .expression_attribute_values(":t", AV::Bool(true))
            .send()
            .await;
        Ok(conditional("register asset", res)?.is_some())
    }

    async fn backfill_step(&self, asset_id: &str, prev: Option<&str>, next: Option<&str>, sizes: &crate::domain::pricing::Sizes, class: Option<&str>) -> Result<bool> {
        let mut step = fence::Step {
            add: vec!["file_count :c".into(), "total_bytes :b".into(), "small_file_count :sc".into(), "small_file_bytes :sb".into()],
            condition: vec!["registering = :t".into()],
            values: vec![
                (":c".into(), n(sizes.count)),
                (":b".into(), n(sizes.bytes)),
                (":sc".into(), n(sizes.small_count)),
                (":sb".into(), n(sizes.small_bytes)),
                (":t".into(), AV::Bool(true)),
            ],
            return_new: true,
            ..Default::default()
        };
        if next.is_none() {
            step.remove.push("registering".into());
        }
        if let Some(class) = class {
            step.set.push("storage_class = if_not_exists(storage_class, :class)".into());
            step.values.push((":class".into(), s(class)));
        }
        let moved = self.move_cursor(&self.tables.assets, ("asset_id", asset_id), fence::Fence { attr: "backfill_cursor", prev, next }, step).await?;
        let Some(out) = moved else { return Ok(false) };
        let stored = out.attributes().and_then(|a| opt_s(a, "storage_class"));
        if let (Some(class), Some(stored)) = (class, stored)
            && stored != class
            && stored != "MIXED"
        {
            self.client
                .update_item()
                .table_name(&self.tables.assets)
                .key("asset_id", s(asset_id))
                .update_expression("SET storage_class = :m")
                .expression_attribute_values(":m", s("MIXED"))
                .send()
                .await
                .map_err(|e| sdk_error("mark asset class mixed", e))?;
        }
        Ok(true)
    }

    async fn create_asset(&self, asset: &Asset) -> Result<bool> {
        let item = asset_to_item(asset);
        let res = self
            .client
            .put_item()
            .table_name(&self.tables.assets)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(asset_id)")
            .send()
            .await;
        Ok(conditional("create asset", res)?.is_some())
    }

    async fn finish_registration(&self, asset: &Asset, class: &str) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.tables.assets)
            .key("asset_id", s(&asset.asset_id))
            .update_expression("SET file_count = :c, total_bytes = :b, small_file_count = :sc, small_file_bytes = :sb, storage_class = :k REMOVE registering")
            .condition_expression("registering = :t")
            .expression_attribute_values(":c", n(asset.file_count))
            .expression_attribute_values(":b", n(asset.total_bytes))
            .expression_attribute_values(":sc", n(asset.small_file_count))
            .expression_attribute_values(":sb", n(asset.small_file_bytes))
            .expression_attribute_values(":k", s(class))
            .expression_attribute_values(":t", AV::Bool(true))
            .send()
            .await
            .map_err(|e| sdk_error("finish registration", e))?;
        Ok(())
    }

    async fn get_asset(&self, asset_id: &str) -> Result<Option<Asset>> {
        match self.asset_item(asset_id).await? {
            Some(item) if !get_bool(&item, "registering") => item_to_asset(&item).map(Some),
            _ => Ok(None),
        }
    }

    async fn get_registering(&self, asset_id: &str) -> Result<Option<Asset>> {
        match self.asset_item(asset_id).await? {
            Some(item) if get_bool(&item, "registering") => item_to_asset(&item).map(Some),
            _ => Ok(None),
        }
    }

    async fn change_asset(&self, asset_id: &str, change: &AssetChange) -> Result<Option<Asset>> {
        let mut set = Vec::new();
        let mut req = self.client.update_item().table_name(&self.tables.assets).key("asset_id", s(asset_id));
        if let Some(phase) = &change.phase {
            set.push("phase = :phase");
            req = req.expression_attribute_values(":phase", s(phase));
        }
        if let Some(tags) = &change.tags {
            set.push("tags = :tags");
            req = req.expression_attribute_values(":tags", AV::M(tags.iter().map(|(k, v)| (k.clone(), s(v))).collect()));
        }
        let res = req
            .update_expression(format!("SET {}", set.join(", ")))
            .condition_expression("attribute_exists(asset_id) AND attribute_not_exists(registering)")
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match conditional("change asset", res)? {
            Some(out) => out.attributes.as_ref().map(item_to_asset).transpose(),
            None => Ok(None),
        }
    }
}

impl DueIndex for DynamoStore {
    async fn due_page(&self, shard: u32, day: NaiveDate, cursor: Option<&str>, limit: usize) -> Result<(Vec<Asset>, Option<String>)> {
        let shard_key = format!("{shard:02}");
        let mut q = self
            .client
            .query()
            .table_name(&self.tables.assets)
            .index_name(BY_DUE_INDEX)
            .key_condition_expression("due_shard = :s AND due_at <= :day")
            .expression_attribute_values(":s", s(&shard_key))
            .expression_attribute_values(":day", s(day.to_string()))
            .limit(limit.clamp(1, 1000) as i32);
        if let Some((due_at, asset_id)) = cursor.and_then(|c| c.split_once('|')) {
            q = q
                .exclusive_start_key("due_shard", s(&shard_key))
                .exclusive_start_key("due_at", s(due_at))
                .exclusive_start_key("asset_id", s(asset_id));
        }
        let out = q.send().await.map_err(|e| sdk_error("read due assets", e))?;
        let assets = out.items().iter().filter(|i| !get_bool(i, "registering")).map(item_to_asset).collect::<Result<Vec<_>>>()?;
        let next = out.last_evaluated_key().and_then(|k| Some(format!("{}|{}", opt_s(k, "due_at")?, opt_s(k, "asset_id")?)));
        Ok((assets, next))
    }

    async fn set_due(&self, asset_id: &str, due: Option<NaiveDate>, guard: DueGuard) -> Result<bool> {
        let mut req = self.client.update_item().table_name(&self.tables.assets).key("asset_id", s(asset_id));
        req = match due {
            Some(d) => req.update_expression("SET due_at = :d").expression_attribute_values(":d", s(d.to_string())),
            None => req.update_expression("REMOVE due_at"),
        };
        let condition = match guard {
            DueGuard::Idle => "attribute_exists(asset_id) AND attribute_not_exists(registering) AND attribute_not_exists(active_task)",
            DueGuard::Busy => "attribute_exists(active_task)",
        };
        Ok(conditional("set due day", req.condition_expression(condition).send().await)?.is_some())
    }

    async fn assets_page(&self, scope: &Scope, cursor: Option<&str>, limit: usize) -> Result<(Vec<Asset>, Option<String>)> {
        let limit = limit.clamp(1, 1000) as i32;
        let (items, last) = match scope {
            Scope::Title { title_id } => {
                let mut q = self
                    .client
                    .query()
                    .table_name(&self.tables.assets)
                    .index_name(BY_TITLE_INDEX)
                    .key_condition_expression("title_id = :t")
                    .expression_attribute_values(":t", s(title_id))
                    .limit(limit);
                if let Some(after) = cursor {
                    q = q.exclusive_start_key("title_id", s(title_id)).exclusive_start_key("asset_id", s(after));
                }
                let out = q.send().await.map_err(|e| sdk_error("read assets of a title", e))?;
                (out.items.unwrap_or_default(), out.last_evaluated_key)
            }
            Scope::All => {
                let mut q = self.client.scan().table_name(&self.tables.assets).limit(limit);
                if let Some(after) = cursor {
                    q = q.exclusive_start_key("asset_id", s(after));
                }
                let out = q.send().await.map_err(|e| sdk_error("read assets", e))?;
                (out.items.unwrap_or_default(), out.last_evaluated_key)
            }
        };
        let assets = items.iter().filter(|i| !get_bool(i, "registering")).map(item_to_asset).collect::<Result<Vec<_>>>()?;
        Ok((assets, last.as_ref().and_then(|k| opt_s(k, "asset_id"))))
    }
}

impl DynamoStore {
    /// Writes asset items as they are (for seeding benchmarks).
    pub async fn put_assets(&self, assets: &[(Asset, Option<NaiveDate>)]) -> Result<()> {
        let items = assets.iter().map(|(a, due)| {
            let mut item = asset_to_item(a);
            if let Some(d) = due {
                item.insert("due_at".into(), s(d.to_string()));
            }
            item
        });
        self.batch_put(&self.tables.assets, "write assets", items).await
    }

    /// Puts items 25 to a BatchWriteItem, retrying unprocessed items with backoff.
    async fn batch_put(&self, table: &str, operation: &'static str, items: impl Iterator<Item = Item>) -> Result<()> {
        let requests: Vec<WriteRequest> = items
            .map(|item| WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(item)).build().expect("item is set")).build())
            .collect();
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let out = self.client.batch_write_item().request_items(table, pending).send().await.map_err(|e| sdk_error(operation, e))?;
                pending = out.unprocessed_items.unwrap_or_default().remove(table).unwrap_or_default();
                if !pending.is_empty() {
                    attempt += 1;
                    if attempt > 8 {
                        return Err(Error::retryable(operation, "unprocessed items after 8 attempts"));
                    }
                    tokio::time::sleep(jittered_backoff(attempt)).await;
                }
            }
        }
        Ok(())
    }
}

impl DynamoStore {
    /// Writes the items in one transaction: true when it was applied, false when a condition
    /// cancelled it. A cancellation for a conflicting transaction or throttling is retried here,
    /// with backoff and jitter, then answered as retryable.
    async fn transact<const N: usize>(&self, items: [TransactWriteItem; N], operation: &'static str) -> Result<bool> {
        const ATTEMPTS: u32 = 5;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let res = self.client.transact_write_items().set_transact_items(Some(items.to_vec())).send().await;
            let err = match res {
                Ok(_) => return Ok(true),
                Err(e) => e,
            };
            match cancellation(&err) {
                Some(Cancellation::Condition) => return Ok(false),
                Some(Cancellation::Transient) if attempt < ATTEMPTS => {
                    tracing::debug!(operation, attempt, "transaction cancelled by a conflict or throttling; retrying");
                    tokio::time::sleep(jittered_backoff(attempt)).await;
                }
                Some(Cancellation::Transient) => return Err(Error::retryable(operation, err)),
                Some(Cancellation::Refused) | None => return Err(sdk_error(operation, err)),
            }
        }
    }
}

/// Why DynamoDB cancelled a transaction, read from its CancellationReasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancellation {
    /// One of its conditions did not hold: a decision, not a failure.
    Condition,
    /// Another transaction on the same items, or throttling: retry.
    Transient,
    /// Anything else (ValidationError, ItemCollectionSizeLimitExceeded): retrying cannot help.
    Refused,
}

/// None when the error is not a cancellation at all.
fn cancellation(e: &SdkError<TransactWriteItemsError, HttpResponse>) -> Option<Cancellation> {
    let Some(TransactWriteItemsError::TransactionCanceledException(c)) = e.as_service_error() else { return None };
    Some(cancellation_by_reasons(c.cancellation_reasons().iter().filter_map(|r| r.code())))
}

/// A failed condition decides whatever else happened to the other items; with none, a conflict
/// or throttling makes the whole transaction worth retrying. A cancellation without reasons
/// (AWS always gives them; an emulator may not) is read as a condition, as before reasons
/// were read.
fn cancellation_by_reasons<'a>(codes: impl Iterator<Item = &'a str>) -> Cancellation {
    let codes: Vec<&str> = codes.filter(|c| *c != "None").collect();
    if codes.is_empty() || codes.contains(&"ConditionalCheckFailed") {
        Cancellation::Condition
    } else if codes.iter().all(|c| matches!(*c, "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded" | "RequestLimitExceeded")) {
        Cancellation::Transient
    } else {
        Cancellation::Refused
    }
}

pub(crate) use crate::pace::jittered_backoff;

impl AccessStore for DynamoStore {
    async fn record_access(&self, asset: &Asset, day: NaiveDate, count: u64) -> Result<Option<Asset>> {
        self.client
            .update_item()
            .table_name(&self.tables.accesses)
            .key("asset_id", s(&asset.asset_id))
            .key("day", s(day.to_string()))
            .update_expression("ADD accesses :n SET title_id = :t, asset_type = :k")
            .expression_attribute_values(":n", n(count))
            .expression_attribute_values(":t", s(&asset.title_id))
            .expression_attribute_values(":k", s(&asset.asset_type))
            .send()
            .await
            .map_err(|e| sdk_error("record accesses", e))?;
        let res = self
            .client
            .update_item()
            .table_name(&self.tables.assets)
            .key("asset_id", s(&asset.asset_id))
            .update_expression("SET last_access_on = :d")
            .condition_expression("attribute_exists(asset_id) AND (attribute_not_exists(last_access_on) OR last_access_on < :d)")
            .expression_attribute_values(":d", s(day.to_string()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match conditional("record last access", res)? {
            Some(out) => out.attributes.as_ref().map(item_to_asset).transpose(),
            // An earlier access than the last one: the asset is as it was.
            None => self.get_asset(&asset.asset_id).await,
        }
    }

    async fn accesses(&self, asset_id: &str, from: NaiveDate) -> Result<Vec<(NaiveDate, u64)>> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.tables.accesses)
            .key_condition_expression("asset_id = :a AND #day >= :from")
            .expression_attribute_names("#day", "day")
            .expression_attribute_values(":a", s(asset_id))
            .expression_attribute_values(":from", s(from.to_string()))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| sdk_error("read accesses", e))?;
            let day = get_date(&item, "day")?.ok_or_else(|| Error::dependency("read accesses", "day missing"))?;
            out.push((day, get_n(&item, "accesses")));
        }
        Ok(out)
    }

    async fn all_accesses(&self) -> Result<Vec<(String, String, NaiveDate, u64)>> {
        let mut pages = self.client.scan().table_name(&self.tables.accesses).into_paginator().items().send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| sdk_error("read accesses", e))?;
            let day = get_date(&item, "day")?.ok_or_else(|| Error::dependency("read accesses", "day missing"))?;
            out.push((get_s(&item, "title_id")?, get_s(&item, "asset_type")?, day, get_n(&item, "accesses")));
        }
        Ok(out)
    }
}

fn title_to_item(t: &Title) -> Item {
    let mut item = Item::from([
        ("title_id".into(), s(&t.title_id)),
        ("dates".into(), AV::M(t.dates.iter().map(|(k, v)| (k.clone(), s(v.to_string()))).collect())),
        ("updated_at".into(), s(&t.updated_at)),
    ]);
    if let Some(name) = &t.name {
        item.insert("title_name".into(), s(name));
    }
    item
}

fn item_to_title(item: &Item) -> Result<Title> {
    let dates = string_map(item, "dates")
        .into_iter()
        .map(|(k, v)| v.parse().map(|d| (k.clone(), d)).map_err(|e| Error::dependency("read title", format!("date {k}={v}: {e}"))))
        .collect::<Result<_>>()?;
    Ok(Title { title_id: get_s(item, "title_id")?, name: opt_s(item, "title_name"), dates, updated_at: get_s(item, "updated_at")? })
}

impl TitleStore for DynamoStore {
    async fn put_title(&self, title: &Title) -> Result<Option<Title>> {
        let out = self
            .client
            .put_item()
            .table_name(&self.tables.titles)
            .set_item(Some(title_to_item(title)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_error("put title", e))?;
        old_item(out.attributes.as_ref()).map(item_to_title).transpose()
    }

    async fn get_title(&self, title_id: &str) -> Result<Option<Title>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.titles)
            .key("title_id", s(title_id))
            .send()
            .await
            .map_err(|e| sdk_error("get title", e))?;
        out.item.as_ref().map(item_to_title).transpose()
    }

    async fn all_titles(&self) -> Result<Vec<Title>> {
        let mut pages = self.client.scan().table_name(&self.tables.titles).into_paginator().items().send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(item_to_title(&item.map_err(|e| sdk_error("read titles", e))?)?);
        }
        Ok(out)
    }
}

/// A policy version item; version 0 is the head, a copy of the latest version.
fn policy_to_item(p: &Policy, version: u32) -> Result<Item> {
    let doc = serde_json::to_string(&p.doc).map_err(|e| Error::dependency("encode policy", e))?;
    Ok(Item::from([
        ("policy_id".into(), s(p.id())),
        ("version".into(), n(version)),
        ("latest".into(), n(p.version)),
        ("enabled".into(), AV::Bool(p.doc.enabled)),
        ("doc".into(), s(doc)),
        ("created_at".into(), s(&p.created_at)),
        ("created_by".into(), s(&p.created_by)),
    ]))
}

fn item_to_policy(item: &Item) -> Result<Policy> {
    let doc = serde_json::from_str(&get_s(item, "doc")?).map_err(|e| Error::dependency("read policy", e))?;
    Ok(Policy { doc, version: get_n(item, "latest"), created_at: get_s(item, "created_at")?, created_by: get_s(item, "created_by")? })
}

impl PolicyStore for DynamoStore {
    async fn put_policy(&self, policy: &Policy) -> Result<bool> {
        // Policies change rarely: a transaction keeps the head and the version together.
        let head = Put::builder().table_name(&self.tables.policies).set_item(Some(policy_to_item(policy, 0)?));
        let head = if policy.version == 1 {
            head.condition_expression("attribute_not_exists(policy_id)")
        } else {
            head.condition_expression("latest = :prev").expression_attribute_values(":prev", n(policy.version - 1))
        }
        .build()
        .map_err(|e| Error::dependency("build policy head", e))?;
        let version = Put::builder()
            .table_name(&self.tables.policies)
            .set_item(Some(policy_to_item(policy, policy.version)?))
            .condition_expression("attribute_not_exists(policy_id)")
            .build()
            .map_err(|e| Error::dependency("build policy version", e))?;
        self.transact([TransactWriteItem::builder().put(head).build(), TransactWriteItem::builder().put(version).build()], "store policy").await
    }

    async fn get_policy(&self, policy_id: &str, version: Option<u32>) -> Result<Option<Policy>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.policies)
            .key("policy_id", s(policy_id))
            .key("version", n(version.unwrap_or(0)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get policy", e))?;
        out.item.as_ref().map(item_to_policy).transpose()
    }

    async fn current_policies(&self) -> Result<Vec<Policy>> {
        // The table holds a few hundred items at most (policies and their versions): one
        // paginated scan for the heads is cheaper than an index kept for it.
        let mut pages = self
            .client
            .scan()
            .table_name(&self.tables.policies)
            .filter_expression("version = :head")
            .expression_attribute_values(":head", n(0))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut policies = Vec::new();
        while let Some(item) = pages.next().await {
            policies.push(item_to_policy(&item.map_err(|e| sdk_error("read policies", e))?)?);
        }
        policies.sort_by(|a, b| a.id().cmp(b.id()));
        Ok(policies)
    }
}

impl FileStore for DynamoStore {
    async fn register_file(&self, file: &FileRecord) -> Result<bool> {
        let res = self
            .client
            .put_item()
            .table_name(&self.tables.files)
            .set_item(Some(file_to_item(file)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        if conditional("register file", res)?.is_none() {
            return Ok(false);
        }
        let small = file.size < crate::domain::pricing::SMALL_OBJECT_BYTES;
        let out = self
            .client
            .update_item()
            .table_name(&self.tables.assets)
            .key("asset_id", s(&file.asset_id))
            // The asset's class: the first file's, MIXED once files differ.
            .update_expression("SET storage_class = if_not_exists(storage_class, :c) ADD file_count :one, total_bytes :b, small_file_count :sc, small_file_bytes :sb")
            .expression_attribute_values(":c", s(file.storage_class.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":b", n(file.size))
            .expression_attribute_values(":sc", n(u64::from(small)))
            .expression_attribute_values(":sb", n(if small { file.size } else { 0 }))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| sdk_error("count registered file", e))?;
        let class = out.attributes().and_then(|a| opt_s(a, "storage_class")).unwrap_or_default();
        if class != file.storage_class.as_str() && class != "MIXED" {
            self.client
                .update_item()
                .table_name(&self.tables.assets)
                .key("asset_id", s(&file.asset_id))
                .update_expression("SET storage_class = :m")
                .expression_attribute_values(":m", s("MIXED"))
                .send()
                .await
                .map_err(|e| sdk_error("mark asset class mixed", e))?;
        }
        Ok(true)
    }

    async fn put_files(&self, files: &[FileRecord]) -> Result<()> {
        self.batch_put(&self.tables.files, "register files", files.iter().map(file_to_item)).await
    }

    async fn files_page(&self, asset_id: &str, shard: u32, cursor: Option<&str>, limit: usize) -> Result<(Vec<LocatedFile>, Option<String>)> {
        let pk = file_pk(asset_id, shard);
        let mut q = self
            .client
            .query()
            .table_name(&self.tables.files)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(&pk))
            .consistent_read(true)
            .limit(limit as i32);
        if let Some(after) = cursor {
            q = q.exclusive_start_key("pk", s(&pk)).exclusive_start_key("object_key", s(after));
        }
        let out = q.send().await.map_err(|e| sdk_error("read asset files", e))?;
        let files = out.items().iter().map(located).collect::<Result<Vec<_>>>()?;
        let next = out.last_evaluated_key().and_then(|k| opt_s(k, "object_key"));
        Ok((files, next))
    }

    async fn steps_of(&self, asset_id: &str, files: &[FileRecord]) -> Result<Registry> {
        self.read_steps(asset_id, files).await
    }

    async fn record_upload(&self, task_id: &TaskId, file: &FileRecord, upload_id: &str, replacing: Option<&str>) -> Result<bool> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.tables.files)
            .key("pk", s(file_pk(&file.asset_id, file.shard)))
            .key("object_key", s(&file.key))
            .update_expression("SET upload_id = :u, upload_task = :t")
            .expression_attribute_values(":u", s(upload_id))
            .expression_attribute_values(":t", s(task_id.as_str()))
            .expression_attribute_values(":queued", s(FileStep::Queued.as_str()));
        // Not moved by the task yet (as a transition from QUEUED requires), and no upload of
        // this task recorded but the one this replaces.
        let not_moved = "attribute_exists(pk) AND (attribute_not_exists(task_id) OR task_id <> :t OR step = :queued)";
        request = match replacing {
            Some(old) => request
                .condition_expression(format!("{not_moved} AND upload_task = :t AND upload_id = :old"))
                .expression_attribute_values(":old", s(old)),
            None => request.condition_expression(format!("{not_moved} AND (attribute_not_exists(upload_task) OR upload_task <> :t)")),
        };
        Ok(conditional("record multipart upload", request.send().await)?.is_some())
    }

    async fn restore_expired(&self, file: &FileRecord) -> Result<bool> {
        if !self.end_restore(file).await? {
            return Ok(false);
        }
        // A restored asset is one whose every file can be read: the first window to end ends that.
        let res = self
            .client
            .update_item()
            .table_name(&self.tables.assets)
            .key("asset_id", s(&file.asset_id))
            .update_expression("SET asset_state = :archived")
            .condition_expression("asset_state = :restored")
            .expression_attribute_values(":archived", s(AssetState::Archived.as_str()))
            .expression_attribute_values(":restored", s(AssetState::Restored.as_str()))
            .send()
            .await;
        conditional("end asset restore", res)?;
        Ok(true)
    }

    async fn find_by_object(&self, bucket: &str, key: &str) -> Result<Option<LocatedFile>> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.files)
            .index_name(BY_LOCATION_INDEX)
            .key_condition_expression("#loc = :loc")
            .expression_attribute_names("#loc", "location")
            .expression_attribute_values(":loc", s(location(bucket, key)))
            .send()
            .await
            .map_err(|e| sdk_error("find file by location", e))?;
        let Some(keys) = out.items().first() else { return Ok(None) };
        self.get_file_item(&get_s(keys, "pk")?, &get_s(keys, "object_key")?).await
    }
}

impl DynamoStore {
    async fn get_file_item(&self, pk: &str, key: &str) -> Result<Option<LocatedFile>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.files)
            .key("pk", s(pk))
            .key("object_key", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get file", e))?;
        out.item.as_ref().map(located).transpose()
    }

    /// The current task and step of each file, in one or a few BatchGetItem calls.
    async fn read_steps(&self, asset_id: &str, files: &[FileRecord]) -> Result<Registry> {
        let mut found = HashMap::new();
        for chunk in files.chunks(100) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|f| Item::from([("pk".into(), s(file_pk(asset_id, f.shard))), ("object_key".into(), s(&f.key))]))
                .collect();
            let mut request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| Error::dependency("build file read", e))?;
            let mut attempt = 0u32;
            loop {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.tables.files, request)
                    .send()
                    .await
                    .map_err(|e| sdk_error("read file steps", e))?;
                for item in out.responses.unwrap_or_default().remove(&self.tables.files).unwrap_or_default() {
                    found.insert(get_s(&item, "object_key")?, located(&item)?);
                }
                match out.unprocessed_keys.unwrap_or_default().remove(&self.tables.files) {
                    Some(rest) if !rest.keys().is_empty() => {
                        attempt += 1;
                        if attempt > 8 {
                            return Err(Error::retryable("read file steps", "unprocessed keys after 8 attempts"));
                        }
                        tokio::time::sleep(jittered_backoff(attempt)).await;
                        request = rest;
                    }
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    /// Marks a restored file archived again when its restore window ended.
    async fn end_restore(&self, file: &FileRecord) -> Result<bool> {
        let res = self
            .client
            .update_item()
            .table_name(&self.tables.files)
            .key("pk", s(file_pk(&file.asset_id, file.shard)))
            .key("object_key", s(&file.key))
            .update_expression("SET file_state = :archived REMOVE restore_expiry")
            .condition_expression("file_state = :restored")
            .expression_attribute_values(":archived", s(FileState::Archived.as_str()))
            .expression_attribute_values(":restored", s(FileState::Restored.as_str()))
            .send()
            .await;
        Ok(conditional("end restore window", res)?.is_some())
    }

    /// One file's transition as a conditional UpdateItem: it applies only while the file is
    /// still at `from` in this task.
    fn transition_request(&self, task_id: &TaskId, t: &Transition, token: &str) -> UpdateItemFluentBuilder {
        let mut set = vec!["step = :to", "task_id = :t", "write_token = :wt"];
        let mut values: Item = Item::from([
            (":to".into(), s(t.to.as_str())),
            (":from".into(), s(t.from.as_str())),
            (":t".into(), s(task_id.as_str())),
            (":wt".into(), s(token)),
        ]);
        let mut optional = |expr: &'static str, name: &str, value: Option<AV>| {
            if let Some(v) = value {
                set.push(expr);
                values.insert(name.into(), v);
            }
        };
        optional("storage_class = :class", ":class", t.new_class.map(|c| s(c.as_str())));
        optional("file_state = :state", ":state", t.new_state.map(|st| s(st.as_str())));
        optional("version_id = :v", ":v", t.new_version_id.clone().map(s));
        optional("etag = :etag", ":etag", t.new_etag.clone().map(s));
        optional("restore_expiry = :exp", ":exp", t.restore_expiry.clone().map(s));
        optional("reason = :reason", ":reason", t.reason.clone().map(s));
        // A file the task moved has no multipart copy under way any more.
        let remove = if t.to.is_final() { " REMOVE upload_id, upload_task" } else { "" };
        self.client
            .update_item()
            .table_name(&self.tables.files)
            .key("pk", s(file_pk(&t.file.asset_id, t.file.shard)))
            .key("object_key", s(&t.file.key))
            .update_expression(format!("SET {}{remove}", set.join(", ")))
            // A file is QUEUED for a task until the task first moves it: planned files are not
            // written, so "not yet this task's" (another task's, or none) counts as QUEUED.
            .condition_expression(match t.from {
                FileStep::Queued => "attribute_exists(pk) AND (attribute_not_exists(task_id) OR task_id <> :t OR step = :from)",
                _ => "task_id = :t AND step = :from",
            })
            .set_expression_attribute_values(Some(values))
    }

    /// The update that counts `transitions` on the task once: it leaves `token` in an attribute
    /// of its own (`count_token_<token>`), applies only where the task has no such attribute,
    /// and removes the attributes of the `spent` tokens. None when nothing finished.
    fn counter_request(&self, task_id: &TaskId, transitions: &[&Transition], token: &str, spent: &[String]) -> Option<UpdateItemFluentBuilder> {
        let count = |step: FileStep| transitions.iter().filter(|t| t.to == step && !t.from.is_final()).count() as i64;
        let (done, failed, skipped) = (count(FileStep::Done), count(FileStep::Failed), count(FileStep::Skipped));
        let finished = done + failed + skipped;
        if finished == 0 {
            return None;
        }
        let mut expression = "SET #ct = :ct, progress_at = :now ADD outstanding :o, succeeded :d, failed :f, skipped :s".to_string();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.tables.tasks)
            .key("task_id", s(task_id.as_str()))
            .condition_expression("attribute_not_exists(#ct)")
            .expression_attribute_names("#ct", format!("count_token_{token}"))
            .expression_attribute_values(":ct", s(token))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .expression_attribute_values(":o", n(-finished))
            .expression_attribute_values(":d", n(done))
            .expression_attribute_values(":f", n(failed))
            .expression_attribute_values(":s", n(skipped));
        if !spent.is_empty() {
            let names: Vec<String> = (0..spent.len()).map(|i| format!("#spent{i}")).collect();
            expression.push_str(&format!(" REMOVE {}", names.join(", ")));
            for (name, t) in names.iter().zip(spent) {
                request = request.expression_attribute_names(name, format!("count_token_{t}"));
            }
        }
        Some(request.update_expression(expression))
    }

    /// Applies one transition; true when this call applied it. Each call writes a token of its
    /// own: when an attempt was applied but its answer lost (a 5xx or a reset after the write),
    /// the SDK's retry fails the condition, and the item, returned with the failure, still
    /// carrying this call's token says the transition was this call's after all. Another
    /// delivery's transition carries another token and is not counted twice.
    async fn apply(&self, task_id: &TaskId, t: &Transition) -> Result<bool> {
        let token = write_token();
        Ok(own_write(self.transition_request(task_id, t, &token), "record file transition", "write_token", &token).await?.is_some())
    }
}

fn located(item: &Item) -> Result<LocatedFile> {
    Ok(LocatedFile {
        file: item_to_file(item)?,
        task_id: opt_s(item, "task_id"),
        step: opt_s(item, "step").and_then(|v| FileStep::parse(&v)),
        restore_expiry: opt_s(item, "restore_expiry"),
        upload: opt_s(item, "upload_task").zip(opt_s(item, "upload_id")),
    })
}

impl DynamoStore {
    /// Puts a new task and changes its asset (takes its lock, or its queue slot) in one
    /// transaction. When a condition stops it, reads back why: the same task made before, or
    /// another task holding (or waiting for) the asset.
    async fn put_task_with(&self, task: &Task, asset: Update, what: &'static str) -> Result<Created> {
        let put = Put::builder()
            .table_name(&self.tables.tasks)
            .set_item(Some(task_to_item(task)))
            .condition_expression("attribute_not_exists(task_id)")
            .build()
            .map_err(|e| Error::dependency("build task put", e))?;
        if self.transact([TransactWriteItem::builder().put(put).build(), TransactWriteItem::builder().update(asset).build()], what).await? {
            return Ok(Created::New(task.clone()));
        }
        if let Some(existing) = self.get_task(&task.task_id).await? {
            return Ok(Created::Existing(existing));
        }
        self.busy(task).await
    }

    async fn asset_item(&self, asset_id: &str) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.assets)
            .key("asset_id", s(asset_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get asset", e))?;
        Ok(out.item)
    }

    /// What stopped a task from taking (or queueing for) an asset, read back.
    async fn busy(&self, task: &Task) -> Result<Created> {
        match self.get_asset(&task.asset_id).await? {
            Some(Asset { active_task: Some(active), active_action, queued_task, .. }) if active != task.task_id.as_str() => {
                Ok(Created::AssetBusy { active_task: active, active_action: active_action.unwrap_or_default(), queued_task })
            }
            // Between a task's end and its queued successor's start, the successor holds the asset.
            Some(Asset { active_task: None, queued_task: Some(queued), .. }) => {
                Ok(Created::AssetBusy { active_task: queued.clone(), active_action: String::new(), queued_task: Some(queued) })
            }
            None => Err(Error::NotFound(format!("asset {}", task.asset_id))),
            Some(_) => Err(Error::retryable("create task", "transaction cancelled by a concurrent change")),
        }
    }
}

impl TaskStore for DynamoStore {
    async fn create_task(&self, task: &Task) -> Result<Created> {
        let lock = Update::builder()
            .table_name(&self.tables.assets)
            .key("asset_id", s(&task.asset_id))
            .update_expression("SET active_task = :t, active_action = :a")
            // A queued task goes first: nothing else takes the asset while one waits.
            .condition_expression(
                "attribute_exists(asset_id) AND attribute_not_exists(registering) AND (attribute_not_exists(active_task) OR active_task = :t) AND attribute_not_exists(queued_task)",
            )
            .expression_attribute_values(":t", s(task.task_id.as_str()))
            .expression_attribute_values(":a", s(task.action.name()))
            .build()
            .map_err(|e| Error::dependency("build asset lock", e))?;
        self.put_task_with(task, lock, "create task").await
    }

    async fn queue_task(&self, task: &Task) -> Result<Created> {
        let slot = Update::builder()
            .table_name(&self.tables.assets)
            .key("asset_id", s(&task.asset_id))
            .update_expression("SET queued_task = :t")
            .condition_expression("attribute_exists(active_task) AND active_task <> :t AND attribute_not_exists(queued_task)")
            .expression_attribute_values(":t", s(task.task_id.as_str()))
            .build()
            .map_err(|e| Error::dependency("build queue slot", e))?;
        self.put_task_with(task, slot, "queue task").await
    }

    async fn promote_queued(&self, asset_id: &str) -> Result<Option<Task>> {
        let Some(asset) = self.get_asset(asset_id).await? else { return Ok(None) };
        let (active, queued) = (asset.active_task.as_deref().map(TaskId::parse).transpose()?, asset.queued_task.as_deref().map(TaskId::parse).transpose()?);
        let task_id = match (active, queued) {
            (Some(active), _) => {
                // A task holds the asset: start it only if its start was lost (still PENDING).
                return Ok(self.get_task(&active).await?.filter(|t| t.status == TaskStatus::Pending));
            }
            (None, Some(queued)) => queued,
            (None, None) => return Ok(None),
        };
        let Some(task) = self.get_task(&task_id).await? else {
            return Err(Error::dependency("promote queued task", format!("asset {asset_id} names queued task {task_id}, which does not exist")));
        };
        let take = Update::builder()
            .table_name(&self.tables.assets)
            .key("asset_id", s(asset_id))
            .update_expression("SET active_task = :t, active_action = :a REMOVE queued_task")
            .condition_expression("queued_task = :t AND attribute_not_exists(active_task)")
            .expression_attribute_values(":t", s(task_id.as_str()))
            .expression_attribute_values(":a", s(task.action.name()))
            .build()
            .map_err(|e| Error::dependency("build promotion", e))?;
        let pending = Update::builder()
            .table_name(&self.tables.tasks)
            .key("task_id", s(task_id.as_str()))
            .update_expression("SET task_status = :pending")
            .condition_expression("task_status = :queued")
            .expression_attribute_values(":pending", s(TaskStatus::Pending.as_str()))
            .expression_attribute_values(":queued", s(TaskStatus::Queued.as_str()))
            .build()
            .map_err(|e| Error::dependency("build promotion", e))?;
        let items = [TransactWriteItem::builder().update(take).build(), TransactWriteItem::builder().update(pending).build()];
        // Cancelled: another promotion won, or a task took the asset first: nothing for this caller.
        Ok(self.transact(items, "promote queued task").await?.then_some(Task { status: TaskStatus::Pending, ..task }))
    }

    async fn get_task(&self, task_id: &TaskId) -> Result<Option<Task>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.tasks)
            .key("task_id", s(task_id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get task", e))?;
        out.item.as_ref().map(item_to_task).transpose()
    }

    async fn store_token(&self, task_id: &TaskId, token: &str) -> Result<bool> {
        let res = self
            .client
            .update_item()
            .table_name(&self.tables.tasks)
            .key("task_id", s(task_id.as_str()))
            .update_expression("SET task_token = :tok, progress_at = :now")
            .condition_expression("task_status = :running")
            .expression_attribute_values(":tok", s(token))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .expression_attribute_values(":running", s(TaskStatus::Running.as_str()))
            .send()
            .await;
        Ok(conditional("store task token", res)?.is_some())
    }

    async fn advance_plan(&self, task_id: &TaskId, prev: Option<&str>, next: &str, planned: i64) -> Result<bool> {
        let token = write_token();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.tables.tasks)
            .key("task_id", s(task_id.as_str()))
            .update_expression("SET plan_cursor = :next, plan_token = :pt, progress_at = :now ADD planned :n, outstanding :n")
            .expression_attribute_values(":next", s(next))
            .expression_attribute_values(":pt", s(&token))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .expression_attribute_values(":n", n(planned));
        req = match prev {
            Some(p) => req.condition_expression("plan_cursor = :prev").expression_attribute_values(":prev", s(p)),
            None => req.condition_expression("attribute_not_exists(plan_cursor)"),
        };
        // Applied with its answer lost, the SDK's retry fails the fence it moved itself: the
        // token says so, and planning goes on (without it, planning stopped until the
        // reconciler continued it).
        Ok(own_write(req, "advance plan", "plan_token", &token).await?.is_some())
    }

    async fn finish_planning(&self, task_id: &TaskId) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.tables.tasks)
            .key("task_id", s(task_id.as_str()))
            .update_expression("SET planning_done = :t")
            .expression_attribute_values(":t", AV::Bool(true))
            .send()
            .await
            .map_err(|e| sdk_error("finish planning", e))?;
        Ok(())
    }

    async fn commit(&self, task_id: &TaskId, transitions: &[Transition]) -> Result<Committed> {
        // Each file moves by its own conditional write; the task's counters then move once for
        // the transitions that really happened (a redelivery or duplicate event finds its files
        // moved already and counts nothing). See docs/architecture.md for why this is not one
        // transaction, and how the reconciler closes the gap a crash between the two can leave.
        let mut results = Vec::with_capacity(transitions.len());
        for chunk in transitions.chunks(16) {
            let pending: Vec<_> = chunk.iter().map(|t| self.apply(task_id, t)).collect();
            results.extend(futures::future::try_join_all(pending).await?);
        }
        let missed: Vec<usize> = results.iter().enumerate().filter(|(_, ok)| !**ok).map(|(i, _)| i).collect();
        let applied: Vec<&Transition> = transitions.iter().zip(results).filter(|(_, ok)| *ok).map(|(t, _)| t).collect();
        // ADD is not idempotent: an attempt applied but answered with an error would count
        // twice on the SDK's retry. The update leaves a token in an attribute of its own name
        // and applies only where the task has no such attribute; a retry that finds it was
        // applied already. (One attribute shared by every update would not do: another
        // delivery's update in between replaces the token, and the retry counts again.) The
        // tokens this store left on the task before are removed by the same update.
        let token = write_token();
        let spent = self.spent_tokens.take(task_id.as_str());
        let Some(counter) = self.counter_request(task_id, &applied, &token, &spent) else {
            self.spent_tokens.put_back(task_id.as_str(), spent);
            return Ok(Committed { applied: applied.len(), missed, maybe_complete: true });
        };
        // The condition fails only where this call's own token is: the item is the one it counted.
        let attribute = format!("count_token_{token}");
        let written = own_write(counter.return_values(ReturnValue::AllNew), "count file transitions", &attribute, &token).await;
        match &written {
            Ok(_) => self.spent_tokens.put_back(task_id.as_str(), vec![token]),
            // Not removed: they are removed by a later update (or stay, a few bytes each).
            Err(_) => self.spent_tokens.put_back(task_id.as_str(), spent),
        }
        let task = written?.unwrap_or_default();
        let maybe_complete = get_bool(&task, "planning_done") && get_n::<i64>(&task, "outstanding") <= 0;
        Ok(Committed { applied: applied.len(), missed, maybe_complete })
    }

    async fn claim_signal(&self, task_id: &TaskId) -> Result<Option<Task>> {
        let token = write_token();
        let request = self
            .client
            .update_item()
            .table_name(&self.tables.tasks)
            .key("task_id", s(task_id.as_str()))
            .update_expression("SET signalled = :claim")
            .condition_expression(
                "planning_done = :t AND outstanding = :zero AND attribute_exists(task_token) AND attribute_not_exists(signalled) AND task_status = :running",
            )
            .expression_attribute_values(":t", AV::Bool(true))
            .expression_attribute_values(":claim", s(&token))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":running", s(TaskStatus::Running.as_str()))
            .return_values(ReturnValue::AllNew);
        // The claim is this call's when its write applied, even if the answer was lost and the
        // SDK's retry then found the claim taken: by this call's token.
        own_write(request, "claim completion", "signalled", &token).await?.as_ref().map(item_to_task).transpose()
    }

    async fn release_signal(&self, task_id: &TaskId) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.tables.tasks)
            .key("task_id", s(task_id.as_str()))
            .update_expression("REMOVE signalled")
            .send()
            .await
            .map_err(|e| sdk_error("release completion claim", e))?;
        Ok(())
    }

    async fn failed_files(&self, task: &Task, limit: usize) -> Result<Vec<(String, String)>> {
        let Some(asset) = self.get_asset(&task.asset_id).await? else { return Ok(vec![]) };
        let mut out = Vec::new();
        for shard in 0..asset.shards {
            let mut pages = self
                .client
                .query()
                .table_name(&self.tables.files)
                .key_condition_expression("pk = :pk")
                .filter_expression("task_id = :t AND step = :failed")
                .expression_attribute_values(":pk", s(file_pk(&asset.asset_id, shard)))
                .expression_attribute_values(":t", s(task.task_id.as_str()))
                .expression_attribute_values(":failed", s(FileStep::Failed.as_str()))
                .into_paginator()
                .items()
                .send();
            while let Some(item) = pages.next().await {
                let item = item.map_err(|e| sdk_error("read failed files", e))?;
                out.push((get_s(&item, "object_key")?, opt_s(&item, "reason").unwrap_or_default()));
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_without_attributes_or_with_an_empty_map_replaced_no_item() {
        let empty = Item::new();
        let item: Item = [("title_id".to_string(), AV::S("t".into()))].into();
        assert_eq!(old_item(None), None);
        assert_eq!(old_item(Some(&empty)), None);
        assert_eq!(old_item(Some(&item)), Some(&item));
    }

    #[test]
    fn a_store_removes_its_spent_count_tokens_a_few_at_a_time_and_remembers_a_bounded_number_of_tasks() {
        let spent = SpentTokens::default();
        let tokens = |n: usize, tag: &str| (0..n).map(|i| format!("{tag}{i}")).collect::<Vec<_>>();
        // A task's tokens come back oldest first, at most the number one update removes
        spent.put_back("task-0", tokens(10, "a"));
        assert_eq!(spent.take("task-0"), tokens(8, "a"));
        assert_eq!(spent.take("task-0"), vec!["a8".to_string(), "a9".to_string()]);
        assert_eq!(spent.take("task-0"), Vec::<String>::new());
        assert_eq!(spent.take("never-counted"), Vec::<String>::new());
        // Past the bound, the task counted longest ago is forgotten, not the busy one
        spent.put_back("task-0", tokens(1, "b"));
        for t in 1..=TASKS_REMEMBERED {
            spent.put_back(&format!("task-{t}"), tokens(1, "c"));
            spent.put_back("task-1", tokens(1, "d"));
        }
        let held = spent.0.lock().unwrap().tasks.len();
        assert_eq!(held, TASKS_REMEMBERED);
        assert_eq!(spent.take("task-0"), Vec::<String>::new(), "the oldest task is forgotten");
        assert_eq!(spent.take("task-1").len(), COUNT_TOKENS_REMOVED, "the busy task is kept");
    }

    fn read(codes: &[&'static str]) -> Cancellation {
        cancellation_by_reasons(codes.iter().copied())
    }

    #[test]
    fn a_failed_condition_is_a_decision_whatever_the_other_items_say() {
        assert_eq!(read(&["None", "ConditionalCheckFailed"]), Cancellation::Condition);
        assert_eq!(read(&["TransactionConflict", "ConditionalCheckFailed"]), Cancellation::Condition);
    }

    #[test]
    fn conflicts_and_throttling_are_retried() {
        assert_eq!(read(&["None", "TransactionConflict"]), Cancellation::Transient);
        assert_eq!(read(&["ThrottlingError", "ProvisionedThroughputExceeded"]), Cancellation::Transient);
    }

    #[test]
    fn other_reasons_are_refusals_and_no_reasons_a_condition() {
        assert_eq!(read(&["ValidationError"]), Cancellation::Refused);
        assert_eq!(read(&["TransactionConflict", "ItemCollectionSizeLimitExceeded"]), Cancellation::Refused);
        assert_eq!(read(&[]), Cancellation::Condition);
    }

    #[test]
    fn backoff_stays_under_its_cap() {
        for attempt in 1..20 {
            assert!(jittered_backoff(attempt) <= std::time::Duration::from_secs(5));
        }
    }
}
