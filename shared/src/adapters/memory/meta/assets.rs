//! Assets: registration, changes, the due index and access records.

use super::*;
use crate::domain::AssetClass;
use crate::domain::pricing::Sizes;
use crate::domain::AssetChange;
use crate::error::{Error, Result};
use crate::ports::{AccessStore, AssetStore, DueGuard, DueIndex, Scope};

/// The asset as its item holds it when put: what the put item carries (`asset_to_item`), none of
/// the attributes other writes add (the active action, the queue slot, the due day, cursors).
fn stored(a: &Asset) -> Asset {
    Asset { active_action: None, queued_task: None, due_at: None, backfill_cursor: None, sweep_cursor: None, ..a.clone() }
}

/// The asset's class is its files' while they share one: files of another class than the one
/// it has make it MIXED (`DynamoStore::mark_mixed`, after `if_not_exists` gave it the first).
pub(super) fn take_class(asset: &mut Asset, class: AssetClass) {
    asset.storage_class = asset.storage_class.and(class);
}

pub(super) fn add_sizes(asset: &mut Asset, sizes: &Sizes) {
    asset.file_count += sizes.count;
    asset.total_bytes += sizes.bytes;
    asset.small_file_count += sizes.small_count;
    asset.small_file_bytes += sizes.small_bytes;
}

impl AssetStore for MemoryMeta {
    async fn begin_registration(&self, asset: &Asset) -> Result<bool> {
        let mut t = self.tables();
        // A registration that stopped half way may be resumed (its item put again, whole); a
        // finished one may not be redone.
        if t.assets.get(&asset.asset_id).is_some_and(|row| !row.registering) {
            return Ok(false);
        }
        t.assets.insert(asset.asset_id.clone(), AssetRow { asset: stored(asset), registering: true });
        Ok(true)
    }

    async fn finish_registration(&self, asset: &Asset, class: AssetClass) -> Result<()> {
        let mut t = self.tables();
        // DynamoDB answers a failed condition of this update as an error, not as a decision.
        let Some(row) = t.assets.get_mut(&asset.asset_id).filter(|row| row.registering) else {
            return Err(Error::dependency("finish registration", "the conditional request failed (the asset is not registering)"));
        };
        let a = &mut row.asset;
        (a.file_count, a.total_bytes, a.small_file_count, a.small_file_bytes) = (asset.file_count, asset.total_bytes, asset.small_file_count, asset.small_file_bytes);
        a.storage_class = class;
        row.registering = false;
        Ok(())
    }

    async fn get_asset(&self, asset_id: &str) -> Result<Option<Asset>> {
        Ok(self.tables().visible_asset(asset_id).cloned())
    }

    async fn get_registering(&self, asset_id: &str) -> Result<Option<Asset>> {
        Ok(self.tables().assets.get(asset_id).filter(|row| row.registering).map(|row| row.asset.clone()))
    }

    async fn backfill_step(&self, asset_id: &str, prev: Option<&str>, next: Option<&str>, sizes: &Sizes, class: Option<AssetClass>) -> Result<bool> {
        let mut t = self.tables();
        // Fenced on the stored cursor (absent for the first page), only while registering.
        let Some(row) = t.assets.get_mut(asset_id).filter(|row| row.registering && row.asset.backfill_cursor.as_deref() == prev) else {
            return Ok(false);
        };
        add_sizes(&mut row.asset, sizes);
        row.asset.backfill_cursor = next.map(str::to_string);
        row.registering = next.is_some();
        if let Some(class) = class {
            take_class(&mut row.asset, class);
        }
        Ok(true)
    }

    async fn create_asset(&self, asset: &Asset) -> Result<bool> {
        let mut t = self.tables();
        if t.assets.contains_key(&asset.asset_id) {
            return Ok(false);
        }
        t.assets.insert(asset.asset_id.clone(), AssetRow { asset: stored(asset), registering: false });
        Ok(true)
    }

    async fn change_asset(&self, asset_id: &str, change: &AssetChange) -> Result<Option<Asset>> {
        if change.phase.is_none() && change.tags.is_none() {
            // DynamoDB refuses the update expression `SET ` with nothing to set.
            return Err(Error::dependency("change asset", "invalid UpdateExpression: nothing to set"));
        }
        let mut t = self.tables();
        let Some(row) = t.assets.get_mut(asset_id).filter(|row| !row.registering) else { return Ok(None) };
        if let Some(phase) = &change.phase {
            row.asset.phase = phase.clone();
        }
        if let Some(tags) = &change.tags {
            row.asset.tags = tags.clone();
        }
        Ok(Some(row.asset.clone()))
    }
}

impl DueIndex for MemoryMeta {
    /// The `ByDue` index is a global secondary index, eventually consistent on DynamoDB: here a
    /// due day written is read at once.
    async fn due_page(&self, shard: u32, day: NaiveDate, cursor: Option<&str>, limit: usize) -> Result<(Vec<Asset>, Option<String>)> {
        let t = self.tables();
        let (shard, day) = (format!("{shard:02}"), day.to_string());
        let mut index: Vec<((&str, &str), &AssetRow)> = t
            .assets
            .values()
            .filter_map(|row| Some(((row.asset.due_at.as_deref()?, row.asset.asset_id.as_str()), row)))
            .filter(|((due, id), _)| shard_key(id) == shard && *due <= day.as_str())
            .collect();
        index.sort_by(|a, b| a.0.cmp(&b.0));
        // A cursor without its separator is read as none, as the DynamoDB adapter reads it.
        let after = cursor.and_then(|c| c.split_once('|'));
        let (rows, last) = page(index.into_iter().filter(|(key, _)| after.is_none_or(|a| *key > a)), clamp(limit));
        let assets = rows.into_iter().filter(|row| !row.registering).map(|row| row.asset.clone()).collect();
        Ok((assets, last.map(|(due, id)| format!("{due}|{id}"))))
    }

    async fn set_due(&self, asset_id: &str, due: Option<NaiveDate>, guard: DueGuard) -> Result<bool> {
        let mut t = self.tables();
        let Some(row) = t.assets.get_mut(asset_id) else { return Ok(false) };
        let holds = match guard {
            DueGuard::Idle => !row.registering && row.asset.active_task.is_none(),
            DueGuard::Busy => row.asset.active_task.is_some(),
        };
        if holds {
            row.asset.due_at = due.map(|d| d.to_string());
        }
        Ok(holds)
    }

    /// A title's assets come through the `ByTitle` index, every asset through a scan: both
    /// eventually consistent on DynamoDB, consistent here. A scan's order there is the keys'
    /// hashes'; here it is the ids'.
    async fn assets_page(&self, scope: &Scope, cursor: Option<&str>, limit: usize) -> Result<(Vec<Asset>, Option<String>)> {
        let t = self.tables();
        let in_scope = |row: &&AssetRow| match scope {
            Scope::Title { title_id } => row.asset.title_id == *title_id,
            Scope::All => true,
        };
        let entries = t
            .assets
            .iter()
            .filter(|(id, _)| cursor.is_none_or(|c| id.as_str() > c))
            .filter(|(_, row)| in_scope(row))
            .map(|(id, row)| (id.clone(), row));
        let (rows, last) = page(entries, clamp(limit));
        Ok((rows.into_iter().filter(|row| !row.registering).map(|row| row.asset.clone()).collect(), last))
    }
}

impl AccessStore for MemoryMeta {
    async fn record_access(&self, asset: &Asset, day: NaiveDate, count: u64) -> Result<Option<Asset>> {
        let mut t = self.tables();
        let entry = t.accesses.entry((asset.asset_id.clone(), day)).or_insert_with(|| AccessRow { accesses: 0, title_id: String::new(), asset_type: String::new() });
        entry.accesses += count;
        entry.title_id = asset.title_id.clone();
        entry.asset_type = asset.asset_type.clone();
        // The last access moves only forward, on any asset item (one registering too).
        match t.assets.get_mut(&asset.asset_id) {
            Some(row) if row.asset.last_access_on.is_none_or(|last| last < day) => {
                row.asset.last_access_on = Some(day);
                Ok(Some(row.asset.clone()))
            }
            // An earlier access than the last one: the asset is as it was.
            _ => Ok(t.visible_asset(&asset.asset_id).cloned()),
        }
    }

    async fn accesses(&self, asset_id: &str, from: NaiveDate) -> Result<Vec<(NaiveDate, u64)>> {
        let t = self.tables();
        let range = (asset_id.to_string(), from)..=(asset_id.to_string(), NaiveDate::MAX);
        Ok(t.accesses.range(range).map(|((_, day), row)| (*day, row.accesses)).collect())
    }

    async fn all_accesses(&self) -> Result<Vec<(String, String, NaiveDate, u64)>> {
        let t = self.tables();
        Ok(t.accesses.iter().map(|((_, day), row)| (row.title_id.clone(), row.asset_type.clone(), *day, row.accesses)).collect())
    }
}
