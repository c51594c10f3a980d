//! Registering: an asset and every object under its prefix at once (the API), or objects one
//! by one as they arrive (ObjectCreated events) or as a backfill lists them, each placed in its
//! asset by the key layout (or given asset) and recorded once.

use super::{Core, Metadata};
use crate::domain::pricing::Sizes;
use crate::domain::title::parse_date;
use crate::domain::layout::Placement;
use crate::domain::repair::KeyVersion;
use crate::domain::asset::class_of;
use crate::domain::{Asset, AssetClass, AssetState, FileRecord, FileState, NewAsset, shard_of, shards_for};
use chrono::NaiveDate;
use crate::error::{Error, Result};
use crate::ports::{ObjectStore, Orchestrator, Queues};

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    pub async fn register_asset(&self, new: NewAsset, now: &str) -> Result<Asset> {
        new.validate()?;
        self.check_bucket(&new.bucket)?;
        let listed = self.objects.list_latest(&new.bucket, &new.prefix).await?;
        if listed.is_empty() {
            return Err(Error::validation(format!("no objects under s3://{}/{}", new.bucket, new.prefix)));
        }
        let mut asset = self.new_asset(new, now)?;
        asset.shards = shards_for(listed.len() as u64, self.config.file_shards);
        if !self.meta.begin_registration(&asset).await? {
            return Err(Error::Conflict(format!("asset {} is registered already", asset.asset_id)));
        }
        let files: Vec<FileRecord> = listed.iter().map(|v| file_of(&asset, v)).collect();
        self.meta.put_files(&files).await?;
        let class = class_of(&files).unwrap_or_default();
        let sizes = Sizes::of(&files.iter().map(|f| f.size).collect::<Vec<_>>());
        asset.file_count = sizes.count;
        asset.total_bytes = sizes.bytes;
        asset.small_file_count = sizes.small_count;
        asset.small_file_bytes = sizes.small_bytes;
        self.meta.finish_registration(&asset, class).await?;
        asset.storage_class = class;
        self.reschedule(&asset, &self.meta.current_policies().await?, &mut super::schedule::Titles::default()).await?;
        tracing::info!(asset_id = %asset.asset_id, files = asset.file_count, bytes = asset.total_bytes, "asset registered");
        Ok(asset)
    }

    /// The asset a registration asks for, with no files yet.
    pub(crate) fn new_asset(&self, new: NewAsset, now: &str) -> Result<Asset> {
        new.validate()?;
        let shards = shards_for(new.expected_files.unwrap_or(0), self.config.file_shards);
        let created_on = match &new.created_on {
            Some(d) => parse_date("created_on", d)?,
            None => parse_date("registration time", now.get(..10).unwrap_or_default())?,
        };
        Ok(Asset {
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
            storage_class: AssetClass::Unknown,
            active_task: None,
            active_action: None,
            queued_task: None,
            registered_at: now.to_string(),
            due_at: None,
            backfill_cursor: None,
            sweep_cursor: None,
        })
    }

    /// Registers one object: placed by the key layout (or in `into`, a backfill for one asset),
    /// its asset created on its first object, the file recorded once. `known` is the listed
    /// version (a backfill); without it the object is read (an event names only the key).
    pub async fn register_object(&self, bucket: &str, key: &str, known: Option<KeyVersion>, today: NaiveDate, into: Option<&Asset>) -> Result<Registration> {
        let placement = match into {
            Some(_) => None,
            None => match self.config.asset_key_layout.place(key) {
                Ok(p) => Some(p),
                Err(why) => return Ok(Registration::Ignored(why)),
            },
        };
        if let Some(found) = self.meta.find_by_object(bucket, key).await? {
            return Ok(Registration::Ignored(format!("s3://{bucket}/{key} is registered already (asset {})", found.file.asset_id)));
        }
        let current = match known {
            Some(v) => v,
            None => match self.objects.head_current(bucket, key).await? {
                Some(v) => v,
                None => return Ok(Registration::Ignored(format!("s3://{bucket}/{key} is gone"))),
            },
        };
        let (asset, created) = match (into, placement) {
            (Some(a), _) => (a.clone(), false),
            (None, Some(p)) => match self.asset_for(bucket, &p, today).await? {
                Ok(found) => found,
                Err(why) => return Ok(Registration::Ignored(why)),
            },
            (None, None) => unreachable!("a placement is made when no asset is given"),
        };
        let file = file_of(&asset, &current);
        if !self.meta.register_file(&file).await? {
            return Ok(Registration::Ignored(format!("s3://{bucket}/{key} is registered already")));
        }
        Ok(Registration::Registered { asset_id: asset.asset_id, created_asset: created })
    }

    /// The asset a placement names, created (and scheduled) if it is new; Err(why) when the id
    /// belongs to another prefix or the asset is purged.
    async fn asset_for(&self, bucket: &str, p: &Placement, today: NaiveDate) -> Result<std::result::Result<(Asset, bool), String>> {
        for _ in 0..2 {
            if let Some(a) = self.meta.get_asset(&p.asset_id).await? {
                if a.bucket != bucket || a.prefix != p.prefix {
                    return Ok(Err(format!("asset {} is registered for s3://{}/{}, not s3://{bucket}/{}", a.asset_id, a.bucket, a.prefix, p.prefix)));
                }
                if a.state == AssetState::Purged {
                    return Ok(Err(format!("asset {} is purged", a.asset_id)));
                }
                return Ok(Ok((a, false)));
            }
            let new = NewAsset {
                asset_id: p.asset_id.clone(),
                title_id: p.title_id.clone(),
                asset_type: p.asset_type.clone(),
                bucket: bucket.to_string(),
                prefix: p.prefix.clone(),
                phase: crate::domain::asset::default_phase(),
                tags: Default::default(),
                created_on: Some(today.to_string()),
                expected_files: None,
            };
            let asset = self.new_asset(new, &format!("{today}T00:00:00Z"))?;
            if self.meta.create_asset(&asset).await? {
                self.reschedule(&asset, &self.meta.current_policies().await?, &mut super::schedule::Titles::default()).await?;
                tracing::info!(asset_id = %asset.asset_id, prefix = %asset.prefix, "asset created by its first object");
                return Ok(Ok((asset, true)));
            }
        }
        Err(Error::retryable("create asset", format!("asset {} changed while it was created", p.asset_id)))
    }
}

/// What registering one object did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    Registered { asset_id: String, created_asset: bool },
    Ignored(String),
}

/// The file item of an object of an asset, as S3 lists or reports it.
pub(crate) fn file_of(asset: &Asset, v: &KeyVersion) -> FileRecord {
    FileRecord {
        asset_id: asset.asset_id.clone(),
        shard: shard_of(&v.key, asset.shards),
        bucket: asset.bucket.clone(),
        key: v.key.clone(),
        version_id: v.version_id.clone(),
        size: v.size,
        etag: v.etag.clone(),
        storage_class: v.storage_class,
        state: FileState::of_class(v.storage_class),
    }
}
