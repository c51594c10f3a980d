//! Item codecs: attribute helpers and the mapping of assets, files and tasks to items and back.

use super::*;
use crate::domain::AssetClass;
use crate::domain::policy::due_shard;
use chrono::NaiveDate;

// ---- attribute helpers ----

/// The names of the attributes the state machine reads or writes too (its DynamoDB states in
/// infra/statemachine/task.asl.json); a test checks the definition against them.
pub mod attr {
    // The tasks table
    pub const TASK_ID: &str = "task_id";
    pub const TASK_STATUS: &str = "task_status";
    pub const EXECUTION_NAME: &str = "execution_name";
    pub const REASON: &str = "reason";
    pub const TASK_TOKEN: &str = "task_token";
    /// The sparse Open index's partition: a task's shard while it runs, `unpublished` while its
    /// event waits to be published.
    pub const OPEN_SHARD: &str = "open_shard";
    pub const KEPT_EVENT: &str = "kept_event";
    pub const PUBLISH_ERROR: &str = "publish_error";
    // The assets table
    pub const ASSET_ID: &str = "asset_id";
    pub const ASSET_STATE: &str = "asset_state";
    pub const STORAGE_CLASS: &str = "storage_class";
    pub const LAST_TASK: &str = "last_task";
    pub const DUE_AT: &str = "due_at";
    pub const ACTIVE_TASK: &str = "active_task";
    pub const ACTIVE_ACTION: &str = "active_action";

    /// What the state machine may name in each table's expressions.
    pub const TASKS: [&str; 8] = [TASK_ID, TASK_STATUS, EXECUTION_NAME, REASON, TASK_TOKEN, OPEN_SHARD, KEPT_EVENT, PUBLISH_ERROR];
    pub const ASSETS: [&str; 7] = [ASSET_ID, ASSET_STATE, STORAGE_CLASS, LAST_TASK, DUE_AT, ACTIVE_TASK, ACTIVE_ACTION];
}

pub(super) fn s(v: impl Into<String>) -> AV {
    AV::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AV {
    AV::N(v.to_string())
}

pub(super) fn get_s(item: &Item, name: &str) -> Result<String> {
    match item.get(name) {
        Some(AV::S(v)) => Ok(v.clone()),
        _ => Err(Error::dependency("read item", format!("attribute {name} missing or not a string"))),
    }
}

/// The item a PutItem or DeleteItem replaced (`ReturnValues: ALL_OLD`): none when the answer
/// omits `Attributes`, as DynamoDB does, or carries an empty map, as some emulators do (an item
/// always has its key, so an empty one is no item).
pub(super) fn old_item(attributes: Option<&Item>) -> Option<&Item> {
    attributes.filter(|a| !a.is_empty())
}

pub(super) fn opt_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AV::S(v)) => Some(v.clone()),
        _ => None,
    }
}

pub(super) fn get_n<T: std::str::FromStr + Default>(item: &Item, name: &str) -> T {
    match item.get(name) {
        Some(AV::N(v)) => v.parse().unwrap_or_default(),
        _ => T::default(),
    }
}

pub(super) fn get_bool(item: &Item, name: &str) -> bool {
    matches!(item.get(name), Some(AV::Bool(true)))
}

pub(super) fn file_pk(asset_id: &str, shard: u32) -> String {
    format!("{asset_id}#{shard:03}")
}

pub(super) fn location(bucket: &str, key: &str) -> String {
    format!("{bucket}/{key}")
}

// ---- item mapping ----

/// An asset's item, with its due day when it has one (the state machine and the evaluator
/// write it; benchmarks seed it).
pub fn asset_item(a: &Asset, due: Option<NaiveDate>) -> Item {
    let mut item = asset_to_item(a);
    if let Some(d) = due {
        item.insert(attr::DUE_AT.into(), s(d.to_string()));
    }
    item
}

pub(super) fn asset_to_item(a: &Asset) -> Item {
    let mut item = Item::from([
        (attr::ASSET_ID.into(), s(&a.asset_id)),
        ("title_id".into(), s(&a.title_id)),
        ("asset_type".into(), s(&a.asset_type)),
        ("bucket".into(), s(&a.bucket)),
        ("prefix".into(), s(&a.prefix)),
        ("shards".into(), n(a.shards)),
        ("file_count".into(), n(a.file_count)),
        ("total_bytes".into(), n(a.total_bytes)),
        (attr::ASSET_STATE.into(), s(a.state.as_str())),
        ("registered_at".into(), s(&a.registered_at)),
        ("phase".into(), s(&a.phase)),
        ("tags".into(), AV::M(a.tags.iter().map(|(k, v)| (k.clone(), s(v))).collect())),
        ("created_on".into(), s(a.created_on.to_string())),
        ("small_file_count".into(), n(a.small_file_count)),
        ("small_file_bytes".into(), n(a.small_file_bytes)),
        ("due_shard".into(), s(format!("{:02}", due_shard(&a.asset_id)))),
    ]);
    if let Some(t) = &a.active_task {
        item.insert(attr::ACTIVE_TASK.into(), s(t));
    }
    // Absent until known: an asset registered file by file takes its first file's class.
    if a.storage_class != AssetClass::Unknown {
        item.insert(attr::STORAGE_CLASS.into(), s(a.storage_class.as_str()));
    }
    if let Some(d) = a.last_access_on {
        item.insert("last_access_on".into(), s(d.to_string()));
    }
    item
}

pub(super) fn get_date(item: &Item, name: &str) -> Result<Option<NaiveDate>> {
    opt_s(item, name)
        .map(|v| v.parse().map_err(|e| Error::dependency("read date", format!("{name}={v}: {e}"))))
        .transpose()
}

pub(super) fn string_map(item: &Item, name: &str) -> std::collections::BTreeMap<String, String> {
    match item.get(name) {
        Some(AV::M(m)) => m.iter().filter_map(|(k, v)| v.as_s().ok().map(|v| (k.clone(), v.clone()))).collect(),
        _ => Default::default(),
    }
}

pub(super) fn item_to_asset(item: &Item) -> Result<Asset> {
    let state = get_s(item, attr::ASSET_STATE)?;
    Ok(Asset {
        asset_id: get_s(item, attr::ASSET_ID)?,
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
        storage_class: stored_class(Some(item))?,
        active_task: opt_s(item, attr::ACTIVE_TASK),
        active_action: opt_s(item, attr::ACTIVE_ACTION),
        queued_task: opt_s(item, "queued_task"),
        backfill_cursor: opt_s(item, "backfill_cursor"),
        sweep_cursor: opt_s(item, "sweep_cursor"),
        registered_at: get_s(item, "registered_at")?,
        due_at: opt_s(item, attr::DUE_AT),
    })
}

pub(super) fn file_to_item(f: &FileRecord) -> Item {
    Item::from([
        ("pk".into(), s(file_pk(&f.asset_id, f.shard))),
        ("object_key".into(), s(&f.key)),
        ("location".into(), s(location(&f.bucket, &f.key))),
        (attr::ASSET_ID.into(), s(&f.asset_id)),
        ("shard".into(), n(f.shard)),
        ("bucket".into(), s(&f.bucket)),
        ("version_id".into(), s(&f.version_id)),
        ("size_bytes".into(), n(f.size)),
        ("etag".into(), s(&f.etag)),
        (attr::STORAGE_CLASS.into(), s(f.storage_class.as_str())),
        ("file_state".into(), s(f.state.as_str())),
    ])
}

pub(super) fn item_to_file(item: &Item) -> Result<FileRecord> {
    let state = get_s(item, "file_state")?;
    Ok(FileRecord {
        asset_id: get_s(item, attr::ASSET_ID)?,
        shard: get_n(item, "shard"),
        bucket: get_s(item, "bucket")?,
        key: get_s(item, "object_key")?,
        version_id: get_s(item, "version_id")?,
        size: get_n(item, "size_bytes"),
        etag: get_s(item, "etag")?,
        // The registry keeps S3's names, of classes slm does not know too.
        storage_class: StorageClass::from_s3(Some(&get_s(item, attr::STORAGE_CLASS)?))?,
        state: FileState::parse(&state).ok_or_else(|| Error::dependency("read file", format!("unknown file state {state}")))?,
    })
}

pub(super) fn task_to_item(t: &Task) -> Item {
    let mut item = Item::from([
        (attr::TASK_ID.into(), s(t.task_id.as_str())),
        (attr::ASSET_ID.into(), s(&t.asset_id)),
        ("title_id".into(), s(&t.title_id)),
        ("asset_type".into(), s(&t.asset_type)),
        ("action".into(), s(t.action.name())),
        (attr::TASK_STATUS.into(), s(t.status.as_str())),
        ("requested_by".into(), s(&t.requested_by)),
        ("origin".into(), s(&t.origin)),
        ("created_at".into(), s(&t.created_at)),
        ("planned".into(), n(0)),
        ("outstanding".into(), n(0)),
        ("succeeded".into(), n(0)),
        ("failed".into(), n(0)),
        ("skipped".into(), n(0)),
        ("kept".into(), n(0)),
        ("planning_done".into(), AV::Bool(false)),
        // In the sparse Open index until the state machine records the task's end.
        (attr::OPEN_SHARD.into(), s(format!("{:02}", due_shard(t.task_id.as_str())))),
    ]);
    if let Some(p) = &t.policy {
        item.insert("policy_id".into(), s(&p.policy_id));
        item.insert("policy_version".into(), n(p.version));
    }
    match t.action {
        Action::Archive { storage_class } => {
            item.insert(attr::STORAGE_CLASS.into(), s(storage_class.as_str()));
        }
        Action::Restore { days, tier } => {
            item.insert("days".into(), n(days));
            item.insert("tier".into(), s(tier.as_str()));
        }
        Action::Purge => {}
    }
    item
}

pub(super) fn item_to_task(item: &Item) -> Result<Task> {
    let action = match get_s(item, "action")?.as_str() {
        "archive" => Action::Archive { storage_class: get_s(item, attr::STORAGE_CLASS)?.parse()? },
        "restore" => Action::Restore { days: get_n(item, "days"), tier: get_s(item, "tier")?.parse::<RestoreTier>()? },
        "purge" => Action::Purge,
        other => return Err(Error::dependency("read task", format!("unknown action {other}"))),
    };
    Ok(Task {
        task_id: TaskId::parse(&get_s(item, attr::TASK_ID)?)?,
        asset_id: get_s(item, attr::ASSET_ID)?,
        title_id: get_s(item, "title_id")?,
        asset_type: get_s(item, "asset_type")?,
        action,
        status: TaskStatus::parse(&get_s(item, attr::TASK_STATUS)?)?,
        requested_by: get_s(item, "requested_by")?,
        origin: get_s(item, "origin")?,
        created_at: get_s(item, "created_at")?,
        counters: TaskCounters {
            planned: get_n(item, "planned"),
            outstanding: get_n(item, "outstanding"),
            succeeded: get_n(item, "succeeded"),
            failed: get_n(item, "failed"),
            skipped: get_n(item, "skipped"),
            kept: get_n(item, "kept"),
        },
        planning_done: get_bool(item, "planning_done"),
        reason: opt_s(item, attr::REASON),
        policy: opt_s(item, "policy_id").map(|policy_id| PolicyRef { policy_id, version: get_n(item, "policy_version") }),
        task_token: opt_s(item, attr::TASK_TOKEN),
        plan_cursor: opt_s(item, "plan_cursor"),
        progress_at: opt_s(item, "progress_at"),
        checked: opt_s(item, "checked_at").zip(opt_s(item, "checked_progress")),
    })
}

/// The wall-clock time of a write, for `progress_at`.
pub(super) fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// An asset item's class as stored (absent: none yet); a stored name that is no class is a
/// corrupt item.
pub(super) fn stored_class(item: Option<&Item>) -> Result<AssetClass> {
    let stored = item.and_then(|i| opt_s(i, attr::STORAGE_CLASS)).unwrap_or_default();
    AssetClass::parse(&stored).map_err(|e| Error::dependency("read asset class", e))
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
}
