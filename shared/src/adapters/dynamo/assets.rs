//! Assets: registration, changes, the due index and access records.

use super::*;
use crate::ports::{AccessStore, AssetStore, DueGuard, DueIndex, Scope};
use crate::domain::asset::MIXED;
use crate::domain::{Asset, AssetChange, AssetClass};
use chrono::NaiveDate;

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

    async fn backfill_step(&self, asset_id: &str, prev: Option<&str>, next: Option<&str>, sizes: &crate::domain::pricing::Sizes, class: Option<AssetClass>) -> Result<bool> {
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
            step.values.push((":class".into(), s(class.as_str())));
        }
        let moved = self.move_cursor(&self.tables.assets, ("asset_id", asset_id), fence::Fence { attr: "backfill_cursor", prev, next }, step).await?;
        let Some(out) = moved else { return Ok(false) };
        if let Some(class) = class {
            self.mark_mixed(asset_id, stored_class(out.attributes())?, class).await?;
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

    async fn finish_registration(&self, asset: &Asset, class: AssetClass) -> Result<()> {
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
            .expression_attribute_values(":k", s(class.as_str()))
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

impl DynamoStore {
    /// The asset's class is its files' while they share one: files of another class than the
    /// one `stored` make it MIXED.
    pub(super) async fn mark_mixed(&self, asset_id: &str, stored: AssetClass, class: AssetClass) -> Result<()> {
        if stored.and(class) == stored {
            return Ok(());
        }
        self.client
            .update_item()
            .table_name(&self.tables.assets)
            .key("asset_id", s(asset_id))
            .update_expression("SET storage_class = :m")
            .expression_attribute_values(":m", s(MIXED))
            .send()
            .await
            .map_err(|e| sdk_error("mark asset class mixed", e))?;
        Ok(())
    }


    pub(super) async fn asset_item(&self, asset_id: &str) -> Result<Option<Item>> {
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
}
