//! Backfills: registering what a bucket holds already, in bounded steps on the reconcile queue.
//!
//! - A prefix: every object under it is placed by the key layout and registered once (the same
//!   path as an ObjectCreated event), a page of keys a message.
//! - An inventory listing (S3 Inventory's CSV, uncompressed): the same for each current object
//!   it lists, a chunk of the file a message, from the byte offset the message carries.
//! - One asset of any size (`asset`): created as registering, its files written a page at a
//!   time with BatchWriteItem, each page counted once on the asset behind a stored cursor
//!   (as the planner's plan cursor), and the asset released for tasks and policies at the end.

use crate::messages::ReconcileMessage;
use super::register::{Registration, file_of};
use super::{Core, Metadata};
use crate::domain::pricing::Sizes;
use crate::domain::inventory::{DEFAULT_INVENTORY_SCHEMA, InventorySchema, REGISTERED_FIELDS, check_key_text};
use crate::domain::repair::{current, whole_keys};
use crate::domain::title::parse_date;
use crate::domain::asset::class_of;
use crate::domain::NewAsset;
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

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    /// Validates a backfill request and sends its first message.
    pub async fn start_backfill(&self, request: BackfillRequest, now: chrono::DateTime<chrono::Utc>) -> Result<BackfillStarted> {
        let today = now.date_naive().to_string();
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
                InventorySchema::parse(&schema, REGISTERED_FIELDS)?;
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
        if !self.meta.backfill_step(asset_id, after.as_deref(), upper.as_deref(), &sizes, class).await? {
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
        let schema = InventorySchema::parse(schema, REGISTERED_FIELDS)?;
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
            let m = ReconcileMessage::Inventory { bucket: bucket.into(), key: key.into(), schema: schema.text().to_string(), offset: next, today: today.to_string() };
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

#[cfg(test)]
#[path = "backfill_tests.rs"]
mod tests;
