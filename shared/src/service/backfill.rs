//! Backfills: registering what a bucket holds already, in bounded steps on the reconcile queue.
//!
//! - A prefix: every object under it is placed by the key layout and registered once (the same
//!   path as an ObjectCreated event), a page of keys a message.
//! - An inventory listing (S3 Inventory's CSV, uncompressed): the same for each current object
//!   it lists, a chunk of the file a message, from the byte offset the message carries.
//! - One asset of any size (`asset`): created as registering, its files written a page at a
//!   time with BatchWriteItem, each page counted once on the asset behind a stored cursor
//!   (as the planner's plan cursor), and the asset released for tasks and policies at the end.

use super::reconcile::ReconcileMessage;
use super::register::{Registration, file_of};
use super::{Core, Metadata};
use crate::domain::pricing::Sizes;
use crate::domain::repair::{KeyVersion, current, whole_keys};
use crate::domain::title::parse_date;
use crate::domain::asset::class_of;
use crate::domain::{NewAsset, StorageClass};
use crate::error::{Error, Result};
use crate::ports::{ObjectStore, Orchestrator, Queues};
use serde::{Deserialize, Serialize};

/// What a caller asks to backfill: exactly one of a prefix, an inventory file or an asset.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillRequest {
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    /// The key of an S3 Inventory CSV data file in `bucket`.
    pub inventory_key: Option<String>,
    /// The inventory's `fileSchema` (from its manifest); the default fields if absent.
    pub inventory_schema: Option<String>,
    pub asset: Option<NewAsset>,
}

/// The fields an inventory lists when none are named: S3 Inventory's default order.
pub const DEFAULT_INVENTORY_SCHEMA: &str = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass";

/// What a backfill request started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackfillStarted {
    pub kind: &'static str,
    pub bucket: String,
    pub source: String,
}

/// What one backfill message did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BackfillStep {
    pub registered: usize,
    pub ignored: usize,
    pub assets_created: usize,
    pub more: bool,
}

fn check_key_text(field: &str, v: &str) -> Result<()> {
    if v.split('/').any(|p| p == "..") || v.chars().any(char::is_control) || v.len() > 1024 {
        return Err(Error::validation(format!("{field} {v:?} has '..', control characters or more than 1024 bytes")));
    }
    Ok(())
}

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    /// Validates a backfill request and sends its first message.
    pub async fn start_backfill(&self, request: BackfillRequest, now: &str) -> Result<BackfillStarted> {
        let today = parse_date("today", now.get(..10).unwrap_or_default())?.to_string();
        let started = match request {
            BackfillRequest { asset: Some(new), bucket: None, prefix: None, inventory_key: None, inventory_schema: None } => {
                let asset = self.new_asset(new, now)?;
                self.check_bucket(&asset.bucket)?;
                if !self.meta.begin_registration(&asset).await? {
                    return Err(Error::Conflict(format!("asset {} is registered already", asset.asset_id)));
                }
                self.send_reconcile(&ReconcileMessage::BackfillAsset { asset_id: asset.asset_id.clone() }).await?;
                BackfillStarted { kind: "asset", bucket: asset.bucket, source: asset.prefix }
            }
            BackfillRequest { asset: None, bucket: Some(bucket), prefix: Some(prefix), inventory_key: None, inventory_schema: None } => {
                self.check_bucket(&bucket)?;
                check_key_text("prefix", &prefix)?;
                self.send_reconcile(&ReconcileMessage::Backfill { bucket: bucket.clone(), prefix: prefix.clone(), after: None, today }).await?;
                BackfillStarted { kind: "prefix", bucket, source: prefix }
            }
            BackfillRequest { asset: None, bucket: Some(bucket), prefix: None, inventory_key: Some(key), inventory_schema } => {
                self.check_bucket(&bucket)?;
                check_key_text("inventory_key", &key)?;
                if key.ends_with(".gz") {
                    return Err(Error::validation(format!("{key}: compressed inventory files are not read; give the uncompressed CSV")));
                }
                let schema = inventory_schema.unwrap_or_else(|| DEFAULT_INVENTORY_SCHEMA.to_string());
                InventorySchema::parse(&schema)?;
                self.send_reconcile(&ReconcileMessage::Inventory { bucket: bucket.clone(), key: key.clone(), schema, offset: 0, today }).await?;
                BackfillStarted { kind: "inventory", bucket, source: key }
            }
            _ => {
                return Err(Error::validation(
                    "a backfill names exactly one source: {\"asset\": {...}}, {\"bucket\", \"prefix\"} or {\"bucket\", \"inventory_key\"[, \"inventory_schema\"]}",
                ));
            }
        };
        tracing::info!(?started, "backfill started");
        Ok(started)
    }

    pub(crate) fn check_bucket(&self, bucket: &str) -> Result<()> {
        let managed = &self.config.media_buckets;
        if !managed.is_empty() && !managed.iter().any(|b| b == bucket) {
            return Err(Error::validation(format!("bucket {bucket:?} is not one of the media buckets slm manages")));
        }
        Ok(())
    }

    /// A page of a prefix: each current object placed by the layout and registered once.
    pub(crate) async fn backfill_prefix(&self, bucket: &str, prefix: &str, after: Option<&str>, today: &str) -> Result<BackfillStep> {
        let today = parse_date("today", today)?;
        let (versions, truncated) = self.objects.versions_after(bucket, prefix, after, self.config.reconcile_keys_per_message).await?;
        let (keys, upper) = whole_keys(&versions, truncated);
        let mut step = BackfillStep { more: upper.is_some(), ..Default::default() };
        if let Some(upper) = &upper {
            let next = ReconcileMessage::Backfill { bucket: bucket.into(), prefix: prefix.into(), after: Some(upper.clone()), today: today.to_string() };
            self.send_reconcile(&next).await?;
        }
        for (key, vs) in keys {
            let Some(v) = current(&vs) else { continue };
            self.tally(&mut step, self.register_object(bucket, key, Some(v.clone()), today, None).await?);
        }
        Ok(step)
    }

    fn tally(&self, step: &mut BackfillStep, r: Registration) {
        match r {
            Registration::Registered { created_asset, .. } => {
                step.registered += 1;
                step.assets_created += usize::from(created_asset);
            }
            Registration::Ignored(why) => {
                tracing::debug!(why, "not registered");
                step.ignored += 1;
            }
        }
    }

    /// A page of one registering asset: its files written, counted once behind the asset's
    /// backfill cursor; the last page releases the asset and schedules it.
    pub(crate) async fn backfill_asset(&self, asset_id: &str) -> Result<BackfillStep> {
        let Some(asset) = self.meta.get_registering(asset_id).await? else {
            // Registered already (a redelivery after the last page), or never begun.
            return Ok(BackfillStep::default());
        };
        let after = asset.backfill_cursor.clone();
        let (versions, truncated) = self.objects.versions_after(&asset.bucket, &asset.prefix, after.as_deref(), self.config.reconcile_keys_per_message).await?;
        let (keys, upper) = whole_keys(&versions, truncated);
        let files: Vec<_> = keys.values().filter_map(|vs| current(vs)).map(|v| file_of(&asset, v)).collect();
        // Rewriting a page after a redelivery writes the same items: the asset is registering,
        // so no task has touched them.
        self.meta.put_files(&files).await?;
        let sizes = Sizes::of(&files.iter().map(|f| f.size).collect::<Vec<_>>());
        let class = class_of(&files);
        if !self.meta.backfill_step(asset_id, after.as_deref(), upper.as_deref(), &sizes, class.as_deref()).await? {
            tracing::info!(asset_id, "backfill page counted by another delivery");
            return Ok(BackfillStep { ignored: files.len(), ..Default::default() });
        }
        let step = BackfillStep { registered: files.len(), more: upper.is_some(), ..Default::default() };
        match upper {
            Some(_) => self.send_reconcile(&ReconcileMessage::BackfillAsset { asset_id: asset_id.into() }).await?,
            None => {
                if let Some(done) = self.meta.get_asset(asset_id).await? {
                    self.reschedule(&done, &self.meta.current_policies().await?, &mut super::schedule::Titles::default()).await?;
                    tracing::info!(asset_id, files = done.file_count, bytes = done.total_bytes, "asset backfilled");
                }
            }
        }
        Ok(step)
    }

    /// A chunk of an inventory file from `offset`: each current object it lists registered.
    pub(crate) async fn backfill_inventory(&self, bucket: &str, key: &str, schema: &str, offset: u64, today: &str) -> Result<BackfillStep> {
        let today = parse_date("today", today)?;
        let schema = InventorySchema::parse(schema)?;
        let (chunk, total) = self.objects.read_range(bucket, key, offset, self.config.inventory_chunk_bytes).await?;
        let end = offset + chunk.len() as u64;
        // Whole lines only: the rest of a cut line is read again by the next message.
        let usable = match end >= total {
            true => chunk.len(),
            false => chunk.iter().rposition(|b| *b == b'\n').map(|i| i + 1).ok_or_else(|| {
                Error::validation(format!("s3://{bucket}/{key}: a line at byte {offset} is longer than {} bytes", self.config.inventory_chunk_bytes))
            })?,
        };
        let next = offset + usable as u64;
        let mut step = BackfillStep { more: next < total, ..Default::default() };
        if step.more {
            let m = ReconcileMessage::Inventory { bucket: bucket.into(), key: key.into(), schema: schema.text.clone(), offset: next, today: today.to_string() };
            self.send_reconcile(&m).await?;
        }
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&chunk[..usable]);
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| Error::validation(format!("s3://{bucket}/{key}: line {} after byte {offset}: {e}", i + 1)))?;
            let row = match schema.row(&record) {
                Ok(Some(row)) => row,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "inventory line skipped");
                    step.ignored += 1;
                    continue;
                }
            };
            let (line_bucket, v) = row;
            if line_bucket != bucket && self.check_bucket(&line_bucket).is_err() {
                step.ignored += 1;
                continue;
            }
            let key = v.key.clone();
            self.tally(&mut step, self.register_object(&line_bucket, &key, Some(v), today, None).await?);
        }
        Ok(step)
    }
}

/// Where each field sits in an inventory line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventorySchema {
    text: String,
    bucket: usize,
    key: usize,
    version: Option<usize>,
    latest: Option<usize>,
    marker: Option<usize>,
    size: usize,
    etag: usize,
    class: usize,
}

impl InventorySchema {
    pub fn parse(text: &str) -> Result<Self> {
        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
        let at = |name: &str| fields.iter().position(|f| *f == name);
        let need = |name: &str| at(name).ok_or_else(|| Error::validation(format!("inventory schema {text:?} has no {name} field")));
        Ok(InventorySchema {
            text: text.to_string(),
            bucket: need("Bucket")?,
            key: need("Key")?,
            version: at("VersionId"),
            latest: at("IsLatest"),
            marker: at("IsDeleteMarker"),
            size: need("Size")?,
            etag: need("ETag")?,
            class: need("StorageClass")?,
        })
    }

    /// One line as (bucket, current version); None for older versions and delete markers.
    pub fn row(&self, r: &csv::StringRecord) -> std::result::Result<Option<(String, KeyVersion)>, String> {
        let get = |i: usize| r.get(i).ok_or_else(|| format!("line has {} fields, the schema more", r.len()));
        let flag = |i: Option<usize>| i.and_then(|i| r.get(i)).map(|v| v.eq_ignore_ascii_case("true"));
        if flag(self.latest) == Some(false) || flag(self.marker) == Some(true) {
            return Ok(None);
        }
        // Inventory keys are URL-encoded.
        let key = urlencoding::decode(get(self.key)?).map_err(|e| format!("key not UTF-8: {e}"))?.into_owned();
        check_key_text("key", &key).map_err(|e| e.to_string())?;
        let etag = get(self.etag)?.trim_matches('"');
        Ok(Some((
            get(self.bucket)?.to_string(),
            KeyVersion {
                key,
                version_id: self.version.and_then(|i| r.get(i)).filter(|v| !v.is_empty()).unwrap_or("null").to_string(),
                etag: format!("\"{etag}\""),
                size: get(self.size)?.parse().map_err(|_| format!("size {:?} is not a number", r.get(self.size)))?,
                // An empty class is STANDARD, and a class slm does not know is kept by its name.
                storage_class: StorageClass::from_s3(Some(get(self.class)?)).map_err(|e| e.to_string())?,
                latest: true,
                delete_marker: false,
                last_modified: None,
            },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(line: &str) -> csv::StringRecord {
        csv::ReaderBuilder::new().has_headers(false).from_reader(line.as_bytes()).records().next().unwrap().unwrap()
    }

    #[test]
    fn inventory_lines_by_the_default_schema() {
        let s = InventorySchema::parse(DEFAULT_INVENTORY_SCHEMA).unwrap();
        let (bucket, v) = s.row(&record(r#""media","t1/cam/a1/reel%201/f.ari","v3","true","false","52428800","2026-11-01T00:00:00.000Z","d41d8cd98f00b204e9800998ecf8427e","GLACIER""#)).unwrap().unwrap();
        assert_eq!((bucket.as_str(), v.key.as_str(), v.version_id.as_str(), v.size, v.storage_class), ("media", "t1/cam/a1/reel 1/f.ari", "v3", 52_428_800, StorageClass::Glacier));
        assert_eq!(v.etag, "\"d41d8cd98f00b204e9800998ecf8427e\"");
        assert_eq!(s.row(&record(r#""media","k","v2","false","false","1","x","e","STANDARD""#)).unwrap(), None, "an older version");
        assert_eq!(s.row(&record(r#""media","k","v4","true","true","","x","","""#)).unwrap(), None, "a delete marker");
        assert!(s.row(&record(r#""media","a%2F..%2Fb","","true","false","1","x","e","STANDARD""#)).is_err(), "a key with ..");
        assert!(s.row(&record(r#""media","k","","true","false","big","x","e","STANDARD""#)).is_err());
    }

    #[test]
    fn a_schema_needs_the_fields_slm_registers() {
        assert!(InventorySchema::parse("Bucket, Key, Size, ETag").is_err());
        let s = InventorySchema::parse("Bucket, Key, Size, ETag, StorageClass").unwrap();
        let (_, v) = s.row(&record(r#""b","k","3","e","STANDARD_IA""#)).unwrap().unwrap();
        assert_eq!((v.version_id.as_str(), v.storage_class), ("null", StorageClass::StandardIa));
    }

    #[test]
    fn inventory_lines_of_every_class_are_registered_with_it() {
        let s = InventorySchema::parse("Bucket, Key, Size, ETag, StorageClass").unwrap();
        let class = |c: &str| s.row(&record(&format!(r#""b","k","3","e","{c}""#))).unwrap().unwrap().1.storage_class;
        assert_eq!(class("INTELLIGENT_TIERING"), StorageClass::IntelligentTiering);
        assert_eq!(class("ONEZONE_IA"), StorageClass::OnezoneIa);
        assert_eq!(class("FSX_OPENZFS").as_str(), "FSX_OPENZFS");
        assert!(s.row(&record(r#""b","k","3","e","not a class""#)).unwrap_err().contains("A-Z"));
    }
}
