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

#[cfg(test)]
mod tests {
    use super::{AccessBody, SavingsQuery};
    use crate::adapters::memory::Put;
    use crate::domain::pricing::PriceTable;
    use crate::domain::{AssetState, NewAsset, StorageClass, TitleBody};
    use crate::error::Error;
    use crate::ports::AccessStore;
    use crate::service::testing::{BUCKET, MemoryCore, core, new_asset, policy_doc, now};
    use chrono::NaiveDate;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn today() -> NaiveDate {
        date("2027-01-04")
    }

    fn reads(day: &str, count: u64) -> AccessBody {
        AccessBody { day: day.into(), count }
    }

    /// Every access recorded on the asset, by day.
    async fn accesses(core: &MemoryCore, asset_id: &str) -> Vec<(NaiveDate, u64)> {
        core.meta.accesses(asset_id, NaiveDate::MIN).await.unwrap()
    }

    /// Archives an asset to GLACIER once it has not been read for 30 days (never read: 30 days
    /// after its creation on 2026-06-01, so due 2026-07-01).
    async fn core_with_quiet_policy() -> MemoryCore {
        let core = core();
        let doc = policy_doc(r#"{"policy_id":"cold","anchor":"asset.created","offset_days":0,"not_accessed_days":30,"action":{"action":"archive","storage_class":"GLACIER"}}"#);
        core.create_policy(doc, "tester", now()).await.unwrap();
        core
    }

    async fn launch(core: &MemoryCore, title_id: &str, day: &str) {
        let body = TitleBody { name: None, dates: [("launch".to_string(), day.to_string())].into() };
        core.put_title(title_id, body, now()).await.unwrap();
    }

    #[tokio::test]
    async fn accesses_recorded_on_one_day_add_up() {
        // GIVEN a registered asset
        let core = core();
        let asset = core.asset_of("cam-1", 1).await;
        // WHEN 2 and then 3 reads on 2027-01-02 and 4 on 2027-01-03 are recorded
        core.record_access(&asset, &reads("2027-01-02", 2), today()).await.unwrap();
        let asset = core.asset("cam-1").await;
        core.record_access(&asset, &reads("2027-01-02", 3), today()).await.unwrap();
        core.record_access(&asset, &reads("2027-01-03", 4), today()).await.unwrap();
        // THEN the statistics hold 5 reads on the 2nd and 4 on the 3rd
        assert_eq!(accesses(&core, "cam-1").await, vec![(date("2027-01-02"), 5), (date("2027-01-03"), 4)]);
        assert_eq!(core.asset("cam-1").await.last_access_on, Some(date("2027-01-03")));
    }

    #[tokio::test]
    async fn an_earlier_access_is_counted_but_does_not_move_the_last_access_back() {
        // GIVEN an asset last read on 2027-01-03
        let core = core();
        let asset = core.asset_of("cam-1", 1).await;
        core.record_access(&asset, &reads("2027-01-03", 1), today()).await.unwrap();
        // WHEN a read on 2026-12-01 is recorded late
        let asset = core.asset("cam-1").await;
        let after = core.record_access(&asset, &reads("2026-12-01", 1), today()).await.unwrap();
        // THEN it is counted, and the last access stays on 2027-01-03
        assert_eq!(accesses(&core, "cam-1").await.len(), 2);
        assert_eq!(after.last_access_on, Some(date("2027-01-03")));
        assert_eq!(core.asset("cam-1").await.last_access_on, Some(date("2027-01-03")));
    }

    #[tokio::test]
    async fn a_later_access_moves_the_due_day_of_an_unless_read_policy() {
        // GIVEN an asset due on 2026-07-01 by a policy acting on 30 days without reads
        let core = core_with_quiet_policy().await;
        let asset = core.asset_of("cam-1", 1).await;
        assert_eq!(core.asset("cam-1").await.due_at.as_deref(), Some("2026-07-01"));
        // WHEN a read on 2026-12-01 is recorded
        let after = core.record_access(&asset, &reads("2026-12-01", 1), today()).await.unwrap();
        // THEN the asset is due 30 days after it, in the answer and in the index
        assert_eq!(after.due_at.as_deref(), Some("2026-12-31"));
        assert_eq!(core.asset("cam-1").await.due_at.as_deref(), Some("2026-12-31"));
    }

    #[tokio::test]
    async fn an_earlier_access_leaves_the_due_day_where_it_is() {
        // GIVEN an asset last read on 2026-12-01, due 2026-12-31
        let core = core_with_quiet_policy().await;
        let asset = core.asset_of("cam-1", 1).await;
        core.record_access(&asset, &reads("2026-12-01", 1), today()).await.unwrap();
        // WHEN a read on 2026-11-01 is recorded
        let asset = core.asset("cam-1").await;
        core.record_access(&asset, &reads("2026-11-01", 1), today()).await.unwrap();
        // THEN it is still due on 2026-12-31
        assert_eq!(core.asset("cam-1").await.due_at.as_deref(), Some("2026-12-31"));
    }

    #[tokio::test]
    async fn a_read_of_tomorrow_is_accepted_for_callers_east_of_utc() {
        // GIVEN a registered asset
        let core = core();
        let asset = core.asset_of("cam-1", 1).await;
        // WHEN a read of tomorrow is recorded
        core.record_access(&asset, &reads("2027-01-05", 1), today()).await.unwrap();
        // THEN it is counted
        assert_eq!(accesses(&core, "cam-1").await, vec![(date("2027-01-05"), 1)]);
    }

    #[tokio::test]
    async fn a_record_with_a_bad_day_or_count_is_refused_and_nothing_is_counted() {
        // GIVEN a registered asset
        let core = core();
        let asset = core.asset_of("cam-1", 1).await;
        for body in [reads("2027-01-06", 1), reads("2027-02-30", 1), reads("yesterday", 1), reads("2027-01-03", 0), reads("2027-01-03", super::MAX_ACCESSES_PER_RECORD + 1)] {
            // WHEN each is recorded
            let err = core.record_access(&asset, &body, today()).await.unwrap_err();
            // THEN it is refused
            assert!(matches!(err, Error::Validation(_)), "{body:?}: {err:?}");
        }
        // AND nothing was counted, nor the last access moved
        assert!(accesses(&core, "cam-1").await.is_empty());
        assert_eq!(core.asset("cam-1").await.last_access_on, None);
    }

    #[tokio::test]
    async fn a_read_of_a_purged_asset_is_a_conflict_and_nothing_is_counted() {
        // GIVEN an asset the caller read as purged
        let core = core();
        let asset = core.asset_of("cam-1", 1).await;
        let purged = crate::domain::Asset { state: AssetState::Purged, ..asset };
        // WHEN a read of it is recorded
        let err = core.record_access(&purged, &reads("2027-01-03", 1), today()).await.unwrap_err();
        // THEN it is refused as a conflict, and nothing is counted
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
        assert!(accesses(&core, "cam-1").await.is_empty());
    }

    #[tokio::test]
    async fn the_access_report_bins_reads_per_asset_per_day_since_launch() {
        // GIVEN two editorial assets of tln launched 2026-12-01, one read 14 times on day 3
        let core = core();
        launch(&core, "tln", "2026-12-01").await;
        let asset = core.asset_of("cam-1", 1).await;
        core.asset_of("cam-2", 1).await;
        core.record_access(&asset, &reads("2026-12-04", 14), today()).await.unwrap();
        // WHEN the report is asked in weeks over four weeks
        let report = core.access_report("launch", 7, 28, 0.5, StorageClass::Glacier, PriceTable::bundled()).await.unwrap();
        // THEN the editorial type has two assets and a first week of one read per asset per day
        assert_eq!(report.types.len(), 1);
        let t = &report.types[0];
        assert_eq!((t.asset_type.as_str(), t.assets), ("editorial", 2));
        assert_eq!(t.points.len(), 4);
        assert_eq!(t.points[0], (0, 1.0));
        assert_eq!(t.points[1], (7, 0.0));
    }

    #[tokio::test]
    async fn the_access_report_leaves_out_titles_without_the_anchor_date() {
        // GIVEN an asset of tln (launched) and one of a title with no launch date, both read
        let core = core();
        launch(&core, "tln", "2026-12-01").await;
        let asset = core.asset_of("cam-1", 1).await;
        core.objects.put(BUCKET, "other-1/f.exr", Put::body(vec![b'x'; 1000]));
        let other = core.register_asset(NewAsset { title_id: "other".into(), ..new_asset("other-1") }, now()).await.unwrap();
        core.put_title("other", TitleBody { name: None, dates: Default::default() }, now()).await.unwrap();
        core.record_access(&asset, &reads("2026-12-04", 7), today()).await.unwrap();
        core.record_access(&other, &reads("2026-12-04", 700), today()).await.unwrap();
        // WHEN the report is asked
        let report = core.access_report("launch", 7, 28, 0.5, StorageClass::Glacier, PriceTable::bundled()).await.unwrap();
        // THEN only tln's asset and reads count
        let t = &report.types[0];
        assert_eq!((t.assets, t.points[0]), (1, (0, 1.0)));
    }

    #[tokio::test]
    async fn an_access_report_with_bad_bins_threshold_or_target_is_refused() {
        // GIVEN any registry
        let core = core();
        let prices = PriceTable::bundled();
        for (bin, horizon, threshold, target) in [
            (0, 28, 0.5, StorageClass::Glacier),
            (366, 400, 0.5, StorageClass::Glacier),
            (7, 6, 0.5, StorageClass::Glacier),
            (7, 3651, 0.5, StorageClass::Glacier),
            (7, 28, 0.0, StorageClass::Glacier),
            (7, 28, f64::NAN, StorageClass::Glacier),
            (7, 28, 0.5, StorageClass::Standard),
        ] {
            // WHEN the report is asked so
            let err = core.access_report("launch", bin, horizon, threshold, target, prices).await.unwrap_err();
            // THEN it is refused
            assert!(matches!(err, Error::Validation(_)), "{bin} {horizon} {threshold} {target:?}: {err:?}");
        }
    }

    #[tokio::test]
    async fn the_savings_case_prices_each_strategy_month_by_month() {
        // GIVEN an asset of a launched title
        let core = core();
        launch(&core, "tln", "2026-12-01").await;
        core.asset_of("cam-1", 3).await;
        // WHEN the savings over 12 months are assessed
        let c = core.assess_savings(&SavingsQuery { months: 12, ..Default::default() }, today(), PriceTable::bundled()).await.unwrap();
        // THEN the asset's three files are priced, each strategy for 12 months
        assert_eq!((c.assets, c.files, c.bytes), (1, 3, 3000));
        assert!(!c.strategies.is_empty());
        assert!(c.strategies.iter().all(|s| s.monthly.len() == 12), "{:?}", c.strategies.iter().map(|s| s.monthly.len()).collect::<Vec<_>>());
        assert_eq!(c.assumptions.start, today());
    }

    #[tokio::test]
    async fn savings_over_a_month_count_outside_1_to_120_are_refused() {
        // GIVEN an asset of a launched title
        let core = core();
        launch(&core, "tln", "2026-12-01").await;
        core.asset_of("cam-1", 1).await;
        for months in [0, 121] {
            // WHEN the savings over that many months are assessed
            let err = core.assess_savings(&SavingsQuery { months, ..Default::default() }, today(), PriceTable::bundled()).await.unwrap_err();
            // THEN it is refused
            assert!(matches!(&err, Error::Validation(m) if m.contains("months")), "{months}: {err:?}");
        }
        // AND the bounds themselves are accepted
        for months in [1, 120] {
            core.assess_savings(&SavingsQuery { months, ..Default::default() }, today(), PriceTable::bundled()).await.unwrap();
        }
    }

    #[tokio::test]
    async fn savings_of_an_unknown_title_or_of_no_asset_are_not_found() {
        // GIVEN title tln with no asset, and no title "ghost"
        let core = core();
        launch(&core, "tln", "2026-12-01").await;
        let ask = |title: Option<&str>| SavingsQuery { title: title.map(str::to_string), ..Default::default() };
        // WHEN the savings of ghost, of tln, and of all are assessed
        let ghost = core.assess_savings(&ask(Some("ghost")), today(), PriceTable::bundled()).await.unwrap_err();
        let empty = core.assess_savings(&ask(Some("tln")), today(), PriceTable::bundled()).await.unwrap_err();
        let all = core.assess_savings(&ask(None), today(), PriceTable::bundled()).await.unwrap_err();
        let invalid = core.assess_savings(&ask(Some("t l n")), today(), PriceTable::bundled()).await.unwrap_err();
        // THEN each is not found, and an invalid title id is refused
        for err in [&ghost, &empty, &all] {
            assert!(matches!(err, Error::NotFound(_)), "{err:?}");
        }
        assert!(matches!(invalid, Error::Validation(_)), "{invalid:?}");
    }
}
