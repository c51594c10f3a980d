//! Files: registration, steps, uploads, restore windows and each file's transition.

use super::*;
use crate::ports::{FileStore, Registry};
use crate::domain::{LocatedFile, Transition};
use crate::domain::{FileRecord, FileStep};
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;

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
        self.mark_mixed(&file.asset_id, stored_class(out.attributes())?, file.storage_class.into()).await?;
        Ok(true)
    }

    async fn put_files(&self, files: &[FileRecord]) -> Result<()> {
        batch_put(&self.client, &self.tables.files, "register files", files.iter().map(file_to_item)).await
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
    pub(super) async fn get_file_item(&self, pk: &str, key: &str) -> Result<Option<LocatedFile>> {
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
    pub(super) async fn read_steps(&self, asset_id: &str, files: &[FileRecord]) -> Result<Registry> {
        let keys = files.iter().map(|f| (self.tables.files.clone(), file_key(asset_id, f))).collect();
        registry(self.batch_get(keys, "read file steps").await?.remove(&self.tables.files).unwrap_or_default())
    }

    /// Marks a restored file archived again when its restore window ended.
    pub(super) async fn end_restore(&self, file: &FileRecord) -> Result<bool> {
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
    pub(super) fn transition_request(&self, task_id: &TaskId, t: &Transition, token: &str) -> UpdateItemFluentBuilder {
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
    pub(super) fn counter_request(&self, task_id: &TaskId, transitions: &[&Transition], token: &str, spent: &[String]) -> Option<UpdateItemFluentBuilder> {
        let count = |step: FileStep| transitions.iter().filter(|t| t.to == step && !t.from.is_final()).count() as i64;
        let (done, failed, skipped) = (count(FileStep::Done), count(FileStep::Failed), count(FileStep::Skipped));
        let finished = done + failed + skipped;
        if finished == 0 {
            return None;
        }
        let kept = transitions.iter().filter(|t| t.to == FileStep::Skipped && !t.from.is_final() && t.kept).count() as i64;
        let mut expression = "SET #ct = :ct, progress_at = :now ADD outstanding :o, succeeded :d, failed :f, skipped :s, kept :k".to_string();
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
            .expression_attribute_values(":s", n(skipped))
            .expression_attribute_values(":k", n(kept));
        if !spent.is_empty() {
            let names: Vec<String> = (0..spent.len()).map(|i| format!("#spent{i}")).collect();
            expression.push_str(&format!(" REMOVE {}", names.join(", ")));
            for (name, t) in names.iter().zip(spent) {
                request = request.expression_attribute_names(name, format!("count_token_{t}"));
            }
        }
        Some(request.update_expression(expression))
    }

    /// Applies one transition; the file as it left it when this call applied it. Each call
    /// writes a token of its own: when an attempt was applied but its answer lost (a 5xx or a
    /// reset after the write), the SDK's retry fails the condition, and the item, returned with
    /// the failure, still carrying this call's token says the transition was this call's after
    /// all. Another delivery's transition carries another token and is not counted twice.
    pub(super) async fn apply(&self, task_id: &TaskId, t: &Transition) -> Result<Option<FileRecord>> {
        let token = write_token();
        let request = self.transition_request(task_id, t, &token).return_values(ReturnValue::AllNew);
        own_write(request, "record file transition", "write_token", &token).await?.as_ref().map(item_to_file).transpose()
    }
}

/// A file item's key, under `asset_id` (not the file's own claim) and the file's shard.
pub(super) fn file_key(asset_id: &str, f: &FileRecord) -> Item {
    Item::from([("pk".into(), s(file_pk(asset_id, f.shard))), ("object_key".into(), s(&f.key))])
}

/// File items by key.
pub(super) fn registry(items: Vec<Item>) -> Result<Registry> {
    items.iter().map(|item| Ok((get_s(item, "object_key")?, located(item)?))).collect()
}

pub(super) fn located(item: &Item) -> Result<LocatedFile> {
    Ok(LocatedFile {
        file: item_to_file(item)?,
        task_id: opt_s(item, "task_id"),
        step: opt_s(item, "step").and_then(|v| FileStep::parse(&v)),
        restore_expiry: opt_s(item, "restore_expiry"),
        upload: opt_s(item, "upload_task").zip(opt_s(item, "upload_id")),
    })
}
