//! Registering an asset: every object under its prefix becomes a file item.

use super::{Core, Metadata};
use crate::domain::pricing::Sizes;
use crate::domain::title::parse_date;
use crate::domain::{Asset, AssetState, FileRecord, FileState, NewAsset, shard_of};
use crate::error::{Error, Result};
use crate::ports::{ObjectStore, Orchestrator, Queues};

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    pub async fn register_asset(&self, new: NewAsset, now: &str) -> Result<Asset> {
        new.validate()?;
        let listed = self.objects.list_latest(&new.bucket, &new.prefix).await?;
        if listed.is_empty() {
            return Err(Error::validation(format!("no objects under s3://{}/{}", new.bucket, new.prefix)));
        }
        let shards = self.config.file_shards;
        let created_on = match &new.created_on {
            Some(d) => parse_date("created_on", d)?,
            None => parse_date("registration time", now.get(..10).unwrap_or_default())?,
        };
        let mut asset = Asset {
            asset_id: new.asset_id,
            title_id: new.title_id,
            asset_type: new.asset_type,
            phase: new.phase,
            tags: new.tags,
            created_on,
            last_access_on: None,
            bucket: new.bucket,
            prefix: new.prefix,
            shards,
            file_count: 0,
            total_bytes: 0,
            small_file_count: 0,
            small_file_bytes: 0,
            state: AssetState::Active,
            storage_class: String::new(),
            active_task: None,
            active_action: None,
            queued_task: None,
            registered_at: now.to_string(),
            due_at: None,
        };
        if !self.meta.begin_registration(&asset).await? {
            return Err(Error::Conflict(format!("asset {} is registered already", asset.asset_id)));
        }
        let files: Vec<FileRecord> = listed
            .into_iter()
            .map(|o| FileRecord {
                asset_id: asset.asset_id.clone(),
                shard: shard_of(&o.key, shards),
                bucket: asset.bucket.clone(),
                state: if o.storage_class.is_archive_target() { FileState::Archived } else { FileState::Active },
                key: o.key,
                version_id: o.version_id,
                size: o.size,
                etag: o.etag,
                storage_class: o.storage_class,
            })
            .collect();
        self.meta.put_files(&files).await?;
        let first = files[0].storage_class;
        let class = if files.iter().all(|f| f.storage_class == first) { first.as_str() } else { "MIXED" };
        let sizes = Sizes::of(&files.iter().map(|f| f.size).collect::<Vec<_>>());
        asset.file_count = sizes.count;
        asset.total_bytes = sizes.bytes;
        asset.small_file_count = sizes.small_count;
        asset.small_file_bytes = sizes.small_bytes;
        asset.storage_class = class.to_string();
        self.meta.finish_registration(&asset, class).await?;
        self.reschedule(&asset, &self.meta.current_policies().await?, &mut super::schedule::Titles::default()).await?;
        tracing::info!(asset_id = %asset.asset_id, files = asset.file_count, bytes = asset.total_bytes, "asset registered");
        Ok(asset)
    }
}
