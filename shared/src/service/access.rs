//! Access statistics: accesses per asset per day, recorded by the applications that read the
//! assets. The last access is a policy anchor ("unless read in the last 30 days"), so a later
//! access moves the asset's due day.

use super::schedule::Titles;
use super::{Core, Metadata};
use crate::domain::title::parse_date;
use crate::domain::pricing::PriceTable;
use crate::domain::report::{AccessReport, AccessRow, TypeAssets, access_report};
use crate::domain::{Asset, AssetState, StorageClass};
use crate::ports::Scope;
use std::collections::{BTreeMap, HashMap};
use crate::error::{Error, Result};
use crate::ports::{ObjectStore, Orchestrator, Queues};
use chrono::{Days, NaiveDate};
use serde::Deserialize;

/// Most accesses one record may add.
pub const MAX_ACCESSES_PER_RECORD: u64 = 1_000_000;

/// What a caller records: `count` reads of the asset on `day`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessBody {
    pub day: String,
    pub count: u64,
}

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    /// Adds the accesses to `asset` (as the caller read it, to authorize the request) and, when
    /// they are its latest, puts it at its new due day.
    pub async fn record_access(&self, asset: &Asset, body: &AccessBody, today: NaiveDate) -> Result<Asset> {
        let asset_id = asset.asset_id.as_str();
        let day = parse_date("day", &body.day)?;
        // A day ahead is allowed for callers east of UTC; later is a mistake.
        if day > today + Days::new(1) {
            return Err(Error::validation(format!("day {day} is in the future (today is {today})")));
        }
        if body.count == 0 || body.count > MAX_ACCESSES_PER_RECORD {
            return Err(Error::validation(format!("count must be 1-{MAX_ACCESSES_PER_RECORD}, got {}", body.count)));
        }
        if asset.state == AssetState::Purged {
            return Err(Error::Conflict(format!("asset {asset_id} is purged; it cannot be read")));
        }
        let mut after = self.meta.record_access(asset, day, body.count).await?.ok_or_else(|| Error::NotFound(format!("asset {asset_id}")))?;
        if after.last_access_on != asset.last_access_on && after.active_task.is_none() {
            let due = self.reschedule(&after, &self.meta.current_policies().await?, &mut Titles::default()).await?;
            after.due_at = due.map(|d| d.to_string());
        }
        Ok(after)
    }

    /// The access report over every title, asset and recorded day (an analytics read: scans).
    /// Days count from each title's `anchor_date` (normally "launch"); titles without it are left out.
    pub async fn access_report(&self, anchor_date: &str, bin_days: i64, horizon_days: i64, threshold: f64, target: StorageClass, prices: &PriceTable) -> Result<AccessReport> {
        let threshold_ok = threshold > 0.0 && threshold.is_finite();
        if !(1..=365).contains(&bin_days) || !(bin_days..=3650).contains(&horizon_days) || !threshold_ok {
            return Err(Error::validation("bin_days must be 1-365, horizon_days bin_days-3650 and threshold positive"));
        }
        if !target.is_archive_target() {
            return Err(Error::validation("the target must be an archive class"));
        }
        let launches: HashMap<String, NaiveDate> =
            self.meta.all_titles().await?.into_iter().filter_map(|t| t.dates.get(anchor_date).map(|d| (t.title_id.clone(), *d))).collect();
        let rows: Vec<AccessRow> = self
            .meta
            .all_accesses()
            .await?
            .into_iter()
            .filter_map(|(title, asset_type, day, accesses)| launches.get(&title).map(|l| AccessRow { asset_type, days_since_launch: (day - *l).num_days(), accesses }))
            .collect();
        let mut by_type: BTreeMap<String, TypeAssets> = BTreeMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let (assets, next) = self.meta.assets_page(&Scope::All, cursor.as_deref(), 1000).await?;
            for a in assets.iter().filter(|a| launches.contains_key(&a.title_id) && a.state != AssetState::Purged) {
                let entry = by_type.entry(a.asset_type.clone()).or_default();
                entry.assets += 1;
                if a.storage_class == StorageClass::Standard.as_str() {
                    entry.standard += a.sizes();
                }
            }
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(access_report(&rows, &by_type, bin_days, horizon_days, threshold, target, prices)?)
    }
}
