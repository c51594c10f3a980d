//! Access statistics: accesses per asset per day, recorded by the applications that read the
//! assets. The last access is a policy anchor ("unless read in the last 30 days"), so a later
//! access moves the asset's due day.

use super::schedule::Titles;
use super::{Core, Metadata};
use crate::domain::title::parse_date;
use crate::domain::pricing::PriceTable;
use crate::domain::report::{AccessReport, AccessRow, TypeAssets, access_report};
use crate::domain::savings::{AccessRates, Assumptions, Comparison, Footprint, Read, compare};
use crate::domain::{Asset, AssetState, RestoreTier, StorageClass, Title};
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
                if a.storage_class == StorageClass::Standard {
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

    /// The savings case on the registry: the assets (of `title`, or all), their titles' dates,
    /// the current policies and the recorded reads, priced month by month under each strategy
    /// (an analytics read: it scans the assets and the access statistics).
    pub async fn assess_savings(&self, query: &SavingsQuery, today: NaiveDate, prices: &PriceTable) -> Result<Comparison> {
        if !(1..=120).contains(&query.months) {
            return Err(Error::validation(format!("months must be between 1 and 120, got {}", query.months)));
        }
        if let Some(t) = &query.title {
            crate::domain::asset::validate_id("title", t)?;
        }
        let titles: BTreeMap<String, Title> = self.meta.all_titles().await?.into_iter().map(|t| (t.title_id.clone(), t)).collect();
        if let Some(t) = query.title.as_ref().filter(|t| !titles.contains_key(*t)) {
            return Err(Error::NotFound(format!("title {t}")));
        }
        let scope = Scope::of(query.title.clone());
        let mut assets = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let (page, next) = self.meta.assets_page(&scope, cursor.as_deref(), 1000).await?;
            assets.extend(page.into_iter().filter(|a| a.state != AssetState::Purged && query.title.as_ref().is_none_or(|t| &a.title_id == t)));
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        if assets.is_empty() {
            return Err(Error::NotFound(match &query.title {
                Some(t) => format!("assets of title {t}"),
                None => "assets".to_string(),
            }));
        }
        let reads: Vec<Read> = self.meta.all_accesses().await?.into_iter().map(|(title_id, asset_type, day, count)| Read { title_id, asset_type, day, count }).collect();
        let start = query.start.unwrap_or(today);
        // The registry has recorded reads up to today: a day without one is a day without reads.
        let observed_until = today;
        let launch_date = "launch".to_string();
        let launches: BTreeMap<String, NaiveDate> = titles.iter().filter_map(|(id, t)| t.dates.get(&launch_date).map(|d| (id.clone(), *d))).collect();
        let rates = AccessRates::observe(&assets, &launches, &reads, observed_until, 30);
        let policies: Vec<_> = self.meta.current_policies().await?.into_iter().filter(|p| p.doc.enabled).collect();
        let assumptions = Assumptions { start, months: query.months, launch_date, restore_tier: RestoreTier::Standard, restore_days: 7, seed: query.seed };
        Ok(compare(&Footprint { assets, titles }, &policies, &rates, prices, &assumptions)?)
    }
}

/// What `GET /savings` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavingsQuery {
    pub title: Option<String>,
    pub months: u32,
    /// The first day priced (default: today).
    pub start: Option<NaiveDate>,
    /// The seed of the reads drawn from the statistics.
    pub seed: u64,
}

impl Default for SavingsQuery {
    fn default() -> Self {
        SavingsQuery { title: None, months: 36, start: None, seed: 7 }
    }
}
