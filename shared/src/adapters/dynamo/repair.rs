//! The reconciler's reads and writes: open tasks through the sparse `Open` index, an asset's
//! files in key order across its shards, recounts, idempotent registration of one file, and
//! the record of repairs (kept 90 days by TTL).

use super::*;
use crate::domain::repair::{Repair, Sweep, sweep_cursor};
use crate::ports::{Recount, RepairStore};

/// The sparse index of tasks not yet ended (`open_shard`, `created_at`).
pub const OPEN_INDEX: &str = "Open";
/// The key of the sweep record in the tasks table (not a task id: those are `t-` and 32 hex
/// digits, so no API call can name it, and it is not in the `Open` index).
pub const SWEEP_ITEM: &str = "reconciler-sweep";
/// How long repairs are kept.
const REPAIR_TTL_DAYS: i64 = 90;

fn repair_to_item(r: &Repair) -> Item {
    let expires = chrono::DateTime::parse_from_rfc3339(&r.at).map(|t| t.timestamp()).unwrap_or_else(|_| chrono::Utc::now().timestamp())
        + REPAIR_TTL_DAYS * 86_400;
    Item::from([
        ("asset_id".into(), s(&r.asset_id)),
        // Unique per repair and in time order: the time, then what it concerns.
        ("repair_id".into(), s(format!("{}#{}#{}", r.at, r.kind.as_str(), r.subject))),
        ("kind".into(), s(r.kind.as_str())),
        ("subject".into(), s(&r.subject)),
        ("detail".into(), s(&r.detail)),
        ("at".into(), s(&r.at)),
        ("expires_at".into(), n(expires)),
    ])
}

fn item_to_repair(item: &Item) -> Result<Repair> {
    let kind = get_s(item, "kind")?;
    Ok(Repair {
        asset_id: get_s(item, "asset_id")?,
        kind: serde_json::from_value(serde_json::Value::String(kind.clone()))
            .map_err(|_| Error::dependency("read repair", format!("unknown repair kind {kind}")))?,
        subject: get_s(item, "subject")?,
        detail: get_s(item, "detail")?,
        at: get_s(item, "at")?,
    })
}

impl RepairStore for DynamoStore {
    async fn open_tasks(&self, shard: u32, before: &str, cursor: Option<&str>) -> Result<(Vec<Task>, Option<String>)> {
        let shard = format!("{shard:02}");
        let mut q = self
            .client
            .query()
            .table_name(&self.tables.tasks)
            .index_name(OPEN_INDEX)
            .key_condition_expression("open_shard = :s AND created_at < :before")
            .expression_attribute_values(":s", s(&shard))
            .expression_attribute_values(":before", s(before))
            .limit(100);
        if let Some(c) = cursor {
            let (created_at, task_id) = c.split_once('|').ok_or_else(|| Error::validation(format!("bad open-task cursor {c:?}")))?;
            q = q
                .exclusive_start_key(attr::OPEN_SHARD, s(&shard))
                .exclusive_start_key("created_at", s(created_at))
                .exclusive_start_key("task_id", s(task_id));
        }
        let out = q.send().await.map_err(|e| sdk_error("read open tasks", e))?;
        let tasks = out.items().iter().map(item_to_task).collect::<Result<Vec<_>>>()?;
        let next = out.last_evaluated_key().and_then(|k| Some(format!("{}|{}", opt_s(k, "created_at")?, opt_s(k, "task_id")?)));
        Ok((tasks, next))
    }

    async fn shard_files(&self, asset: &Asset, shard: u32, after: Option<&str>, upto: Option<&str>, limit: usize) -> Result<(Vec<LocatedFile>, bool)> {
        let pk = file_pk(&asset.asset_id, shard);
        // One more than the limit tells whether more follow without a second page.
        let mut q = self.client.query().table_name(&self.tables.files).consistent_read(true).limit(limit as i32 + 1).expression_attribute_values(":pk", s(&pk));
        // The smallest key after `after` is `after` and a NUL: BETWEEN is inclusive.
        let lower = after.map(|a| format!("{a}\u{0}"));
        q = match (lower, upto) {
            (Some(lo), Some(hi)) => q
                .key_condition_expression("pk = :pk AND object_key BETWEEN :lo AND :hi")
                .expression_attribute_values(":lo", s(lo))
                .expression_attribute_values(":hi", s(hi)),
            (Some(lo), None) => q.key_condition_expression("pk = :pk AND object_key >= :lo").expression_attribute_values(":lo", s(lo)),
            (None, Some(hi)) => q.key_condition_expression("pk = :pk AND object_key <= :hi").expression_attribute_values(":hi", s(hi)),
            (None, None) => q.key_condition_expression("pk = :pk"),
        };
        let out = q.send().await.map_err(|e| sdk_error("read a shard's files in order", e))?;
        let mut files = out.items().iter().map(located).collect::<Result<Vec<_>>>()?;
        let more = files.len() > limit;
        files.truncate(limit);
        Ok((files, more))
    }

    async fn sweep(&self) -> Result<Option<Sweep>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.tasks)
            .key("task_id", s(SWEEP_ITEM))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("read the sweep", e))?;
        let Some(item) = out.item() else { return Ok(None) };
        Ok(Some(Sweep {
            at: get_s(item, "sweep_at")?,
            started_at: get_s(item, "started_at")?,
            progress_at: get_s(item, "progress_at")?,
            cursor: opt_s(item, "sweep_cursor"),
            chains: get_n(item, "chains"),
        }))
    }

    async fn start_sweep(&self, prev: Option<&Sweep>, at: &str) -> Result<bool> {
        let now = now_rfc3339();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.tables.tasks)
            .key("task_id", s(SWEEP_ITEM))
            .update_expression("SET sweep_at = :at, started_at = :now, progress_at = :now, sweep_cursor = :c, chains = :zero")
            .expression_attribute_values(":at", s(at))
            .expression_attribute_values(":now", s(&now))
            .expression_attribute_values(":c", s(sweep_cursor(at, None)))
            .expression_attribute_values(":zero", n(0));
        req = match prev {
            None => req.condition_expression("attribute_not_exists(task_id)"),
            Some(p) => req
                .condition_expression("sweep_at = :pat AND progress_at = :pprogress")
                .expression_attribute_values(":pat", s(&p.at))
                .expression_attribute_values(":pprogress", s(&p.progress_at)),
        };
        Ok(conditional("start a sweep", req.send().await)?.is_some())
    }

    async fn sweep_page(&self, at: &str, prev: &str, next: Option<&str>, chains: usize) -> Result<bool> {
        let step = fence::Step {
            set: vec!["progress_at = :now".into()],
            add: vec!["chains :n".into()],
            condition: vec!["sweep_at = :at".into()],
            values: vec![(":now".into(), s(now_rfc3339())), (":n".into(), n(chains)), (":at".into(), s(at))],
            ..Default::default()
        };
        let fence = fence::Fence { attr: "sweep_cursor", prev: Some(prev), next };
        Ok(self.move_cursor(&self.tables.tasks, ("task_id", SWEEP_ITEM), fence, step).await?.is_some())
    }

    async fn sweep_moved(&self, at: &str, ended: bool) -> Result<bool> {
        let res = self
            .client
            .update_item()
            .table_name(&self.tables.tasks)
            .key("task_id", s(SWEEP_ITEM))
            .update_expression("SET progress_at = :now ADD chains :n")
            .condition_expression("sweep_at = :at")
            .expression_attribute_values(":now", s(now_rfc3339()))
            .expression_attribute_values(":n", n(if ended { -1 } else { 0 }))
            .expression_attribute_values(":at", s(at))
            .send()
            .await;
        Ok(conditional("move the sweep", res)?.is_some())
    }

    async fn start_asset_sweep(&self, asset_id: &str, cursor: &str) -> Result<()> {
        let res = self
            .client
            .update_item()
            .table_name(&self.tables.assets)
            .key("asset_id", s(asset_id))
            .update_expression("SET sweep_cursor = :c")
            .condition_expression("attribute_exists(asset_id)")
            .expression_attribute_values(":c", s(cursor))
            .send()
            .await;
        conditional("start an asset's sweep", res)?;
        Ok(())
    }

    async fn asset_sweep_step(&self, asset_id: &str, prev: &str, next: Option<&str>) -> Result<bool> {
        let fence = fence::Fence { attr: "sweep_cursor", prev: Some(prev), next };
        Ok(self.move_cursor(&self.tables.assets, ("asset_id", asset_id), fence, fence::Step::default()).await?.is_some())
    }

    async fn mark_checked(&self, task_id: &TaskId, at: &str, progress: &str) -> Result<()> {
        let res = self
            .client
            .update_item()
            .table_name(&self.tables.tasks)
            .key("task_id", s(task_id.as_str()))
            .update_expression("SET checked_at = :at, checked_progress = :p")
            .condition_expression("task_status = :running")
            .expression_attribute_values(":at", s(at))
            .expression_attribute_values(":p", s(progress))
            .expression_attribute_values(":running", s(TaskStatus::Running.as_str()))
            .send()
            .await;
        conditional("mark a task checked", res)?;
        Ok(())
    }

    async fn recount(&self, task: &Task, asset: &Asset, keep: usize) -> Result<Recount> {
        let mut out = Recount::default();
        for shard in 0..asset.shards.max(1) {
            let mut cursor: Option<String> = None;
            loop {
                let (page, next) = FileStore::files_page(self, &asset.asset_id, shard, cursor.as_deref(), 1000).await?;
                for f in page {
                    out.count(task, f, keep);
                }
                match next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
        }
        Ok(out)
    }

    async fn set_counters(&self, task_id: &TaskId, from: &TaskCounters, to: &TaskCounters) -> Result<bool> {
        let res = self
            .client
            .update_item()
            .table_name(&self.tables.tasks)
            .key("task_id", s(task_id.as_str()))
            .update_expression("SET planned = :p, outstanding = :o, succeeded = :d, failed = :f, skipped = :s, kept = :k")
            // A task created before `kept` was counted has none: read as 0.
            .condition_expression(
                "task_status = :running AND planned = :p0 AND outstanding = :o0 AND succeeded = :d0 AND failed = :f0 AND skipped = :s0 \
                 AND (kept = :k0 OR (attribute_not_exists(kept) AND :k0 = :zero))",
            )
            .expression_attribute_values(":k", n(to.kept))
            .expression_attribute_values(":k0", n(from.kept))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":running", s(TaskStatus::Running.as_str()))
            .expression_attribute_values(":p", n(to.planned))
            .expression_attribute_values(":o", n(to.outstanding))
            .expression_attribute_values(":d", n(to.succeeded))
            .expression_attribute_values(":f", n(to.failed))
            .expression_attribute_values(":s", n(to.skipped))
            .expression_attribute_values(":p0", n(from.planned))
            .expression_attribute_values(":o0", n(from.outstanding))
            .expression_attribute_values(":d0", n(from.succeeded))
            .expression_attribute_values(":f0", n(from.failed))
            .expression_attribute_values(":s0", n(from.skipped))
            .send()
            .await;
        Ok(conditional("set task counters", res)?.is_some())
    }

    async fn take_s3_state(&self, file: &FileRecord, now: &FileRecord) -> Result<bool> {
        let res = self
            .client
            .update_item()
            .table_name(&self.tables.files)
            .key("pk", s(file_pk(&file.asset_id, file.shard)))
            .key("object_key", s(&file.key))
            .update_expression("SET version_id = :v, etag = :e, size_bytes = :z, storage_class = :c, file_state = :st REMOVE restore_expiry")
            // Only while no task acts on it: a task's own steps are the truth while it runs.
            .condition_expression("attribute_exists(pk) AND (attribute_not_exists(step) OR step IN (:done, :failed, :skipped))")
            .expression_attribute_values(":v", s(&now.version_id))
            .expression_attribute_values(":e", s(&now.etag))
            .expression_attribute_values(":z", n(now.size))
            .expression_attribute_values(":c", s(now.storage_class.as_str()))
            .expression_attribute_values(":st", s(now.state.as_str()))
            .expression_attribute_values(":done", s(FileStep::Done.as_str()))
            .expression_attribute_values(":failed", s(FileStep::Failed.as_str()))
            .expression_attribute_values(":skipped", s(FileStep::Skipped.as_str()))
            .send()
            .await;
        if conditional("take S3 state", res)?.is_none() {
            return Ok(false);
        }
        if now.size != file.size {
            self.client
                .update_item()
                .table_name(&self.tables.assets)
                .key("asset_id", s(&file.asset_id))
                .update_expression("ADD total_bytes :d")
                .expression_attribute_values(":d", n(now.size as i128 - file.size as i128))
                .send()
                .await
                .map_err(|e| sdk_error("move asset bytes", e))?;
        }
        Ok(true)
    }

    async fn record_repair(&self, repair: &Repair) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.tables.repairs)
            .set_item(Some(repair_to_item(repair)))
            .send()
            .await
            .map_err(|e| sdk_error("record repair", e))?;
        Ok(())
    }

    async fn repairs(&self, asset_id: &str) -> Result<Vec<Repair>> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.tables.repairs)
            .key_condition_expression("asset_id = :a")
            .expression_attribute_values(":a", s(asset_id))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(item_to_repair(&item.map_err(|e| sdk_error("read repairs", e))?)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::repair::RepairKind;

    #[test]
    fn repairs_round_trip_through_their_items_and_expire_after_90_days() {
        let r = Repair { asset_id: "a".into(), kind: RepairKind::MarkedMissing, subject: "k/1".into(), detail: "gone".into(), at: "2027-01-01T00:00:00Z".into() };
        let item = repair_to_item(&r);
        assert_eq!(item_to_repair(&item).unwrap(), r);
        assert_eq!(get_n::<i64>(&item, "expires_at"), 1_798_761_600 + 90 * 86_400);
    }
}
