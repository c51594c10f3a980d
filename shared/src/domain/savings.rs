//! The savings case: what a footprint of assets costs month by month under each strategy, priced
//! from one price table with everything S3 bills for them.
//!
//! - **Status quo**: every object stays in its class (new productions: STANDARD).
//! - **slm**: the policies, decided as the evaluator decides them (`policy::decide`) on the
//!   titles' business dates, each action priced with its requests and slm's own running cost.
//! - **S3 Intelligent-Tiering**, moved in by a lifecycle rule on the first day: Frequent Access,
//!   Infrequent after 30 days without a read, Archive Instant after 90, or with the optional
//!   archive tiers, Archive Access after 90 and Deep Archive Access after 180; a monitoring fee per
//!   object of 128 KB or more; smaller objects are never transitioned (they would not tier).
//! - **The best age-only lifecycle rule**: one transition (class and days after creation) for the
//!   whole footprint, the one that costs least over the horizon among those S3 accepts, searched
//!   as a team without business dates would configure it. Objects under 128 KB stay where they are,
//!   S3's default for lifecycle transitions.
//!
//! Reads come from access statistics (reads per asset per day by type and days since launch),
//! drawn per asset with a seed, the same draws for every strategy: a read of an archived asset
//! restores it (requests, retrieval per GB, and the restored copy in STANDARD for the restore's
//! days), a read of an infrequent class pays its retrieval per GB, Intelligent-Tiering brings the
//! object back to Frequent Access (its Standard retrievals are free). GET requests cost the same in
//! every strategy and are left out. A month is 30 days.

use super::action::{Action, RestoreTier, StorageClass};
use super::asset::{Asset, AssetClass, AssetState};
use super::policy::{Decision, Policy, PolicyAction, decide};
use super::pricing::{Estimate, NoPrice, PriceTable, Sizes};
use super::title::Title;
use crate::draws::SplitMix64;
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const DAYS_PER_MONTH: i64 = 30;
const GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Reads per asset per day, by asset type: one rate before launch, then one per bin of
/// `bin_days` days since launch; after the last bin, the last bin's rate.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AccessRates {
    pub bin_days: i64,
    pub by_type: BTreeMap<String, TypeRates>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TypeRates {
    pub before_launch: f64,
    pub bins: Vec<f64>,
}

impl TypeRates {
    fn at(&self, since_launch: i64, bin_days: i64) -> f64 {
        if since_launch < 0 {
            return self.before_launch;
        }
        let bin = (since_launch / bin_days.max(1)) as usize;
        self.bins.get(bin).or(self.bins.last()).copied().unwrap_or(0.0)
    }
}

/// (reads, asset-days observed) before launch, and per bin since launch.
type Observed = ((f64, f64), Vec<(f64, f64)>);

/// Observed reads (one or several on one day) of the assets of one type and title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub title_id: String,
    pub asset_type: String,
    pub day: NaiveDate,
    pub count: u64,
}

impl AccessRates {
    /// Rates from observed reads: each bin's reads of a type divided by the asset-days observed
    /// in it, from each asset's creation to `observed_until` (an asset of a title launched 40 days
    /// before is observed in the first 40 days since launch only). A bin nobody was observed in
    /// keeps the rate before it.
    /// Assets of titles without a launch date are left out.
    pub fn observe(assets: &[Asset], launches: &BTreeMap<String, NaiveDate>, reads: &[Read], observed_until: NaiveDate, bin_days: i64) -> Self {
        let bin_days = bin_days.max(1);
        let mut sums: BTreeMap<&str, Observed> = BTreeMap::new();
        for a in assets {
            let Some(launch) = launches.get(&a.title_id) else { continue };
            let entry = sums.entry(a.asset_type.as_str()).or_default();
            // Days since launch the asset existed and was observed: from its creation to the end.
            let (from, to) = ((a.created_on - *launch).num_days(), (observed_until - *launch).num_days() + 1);
            entry.0.1 += (to.min(0) - from).max(0) as f64;
            let bins = (to.max(0) / bin_days + 1) as usize;
            if entry.1.len() < bins {
                entry.1.resize(bins, (0.0, 0.0));
            }
            for (b, bin) in entry.1.iter_mut().enumerate().take(bins) {
                let (start, end) = (b as i64 * bin_days, (b as i64 + 1) * bin_days);
                bin.1 += (end.min(to) - start.max(from)).max(0) as f64;
            }
        }
        for r in reads.iter().filter(|r| r.day <= observed_until) {
            let (Some(launch), Some(entry)) = (launches.get(&r.title_id), sums.get_mut(r.asset_type.as_str())) else { continue };
            let since = (r.day - *launch).num_days();
            if since < 0 {
                entry.0.0 += r.count as f64;
            } else if let Some(bin) = entry.1.get_mut((since / bin_days) as usize) {
                bin.0 += r.count as f64;
            }
        }
        let by_type = sums
            .into_iter()
            .map(|(t, ((before_reads, before_days), bins))| {
                let mut last = 0.0;
                let bins = bins
                    .into_iter()
                    .map(|(reads, days)| {
                        if days > 0.0 {
                            last = reads / days;
                        }
                        last
                    })
                    .collect();
                let before_launch = if before_days > 0.0 { before_reads / before_days } else { 0.0 };
                (t.to_string(), TypeRates { before_launch, bins })
            })
            .collect();
        AccessRates { bin_days, by_type }
    }

    /// Reads per asset per day of a type `since_launch` days after its title's launch.
    pub fn rate(&self, asset_type: &str, since_launch: i64) -> f64 {
        self.by_type.get(asset_type).map_or(0.0, |t| t.at(since_launch, self.bin_days))
    }

    /// The days (from `start`, below `days`) on which an asset is read: a Poisson process at the
    /// type's rate, a day counted once however many reads fall on it.
    fn draw(&self, asset_type: &str, launch: Option<NaiveDate>, start: NaiveDate, days: i64, draws: &mut SplitMix64) -> Vec<i64> {
        let (Some(launch), Some(rates)) = (launch, self.by_type.get(asset_type)) else { return Vec::new() };
        let offset = (start - launch).num_days();
        let mut out = Vec::new();
        let mut wait = draws.exponential();
        for day in 0..days {
            // The day's hazard: reads fall where the exponential waits run out within it.
            let mut left = rates.at(offset + day, self.bin_days);
            while wait < left {
                if out.last() != Some(&day) {
                    out.push(day);
                }
                left -= wait;
                wait = draws.exponential();
            }
            wait -= left;
        }
        out
    }
}

/// What an assessment assumes beyond the footprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assumptions {
    /// The first day priced.
    pub start: NaiveDate,
    pub months: u32,
    /// The title date that reads are counted from ("launch").
    pub launch_date: String,
    /// How slm and the lifecycle rule restore an archived asset that is read.
    pub restore_tier: RestoreTier,
    pub restore_days: u32,
    /// The seed of the reads drawn from the rates.
    pub seed: u64,
}

impl Assumptions {
    pub fn days(&self) -> i64 {
        i64::from(self.months) * DAYS_PER_MONTH
    }
}

/// What a strategy costs, by what S3 (or slm) bills for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Costs {
    pub storage: f64,
    /// Intelligent-Tiering's monitoring and automation fee.
    pub monitoring: f64,
    /// Lifecycle transitions and copies into a class (and the HEAD before slm's copy).
    pub transitions: f64,
    /// Restore requests and retrieval per GB (the restored copies' days are storage).
    pub retrieval: f64,
    /// What a class's minimum storage duration bills when an object leaves it sooner.
    pub early_deletion: f64,
    /// slm's own requests: DynamoDB, SQS, Lambda, Step Functions, SNS, and its registry at rest.
    pub running: f64,
}

impl Costs {
    pub fn total(&self) -> f64 {
        self.storage + self.monitoring + self.transitions + self.retrieval + self.early_deletion + self.running
    }

    fn add(&mut self, o: &Costs) {
        self.storage += o.storage;
        self.monitoring += o.monitoring;
        self.transitions += o.transitions;
        self.retrieval += o.retrieval;
        self.early_deletion += o.early_deletion;
        self.running += o.running;
    }
}

/// Costs month by month.
#[derive(Debug, Clone, PartialEq)]
struct Ledger {
    months: Vec<Costs>,
}

impl Ledger {
    fn new(months: u32) -> Self {
        Ledger { months: vec![Costs::default(); months as usize] }
    }

    fn days(&self) -> i64 {
        self.months.len() as i64 * DAYS_PER_MONTH
    }

    /// A monthly charge held from day `from` to day `to`, spread over the months it covers.
    fn spread(&mut self, from: i64, to: i64, per_month: f64, field: fn(&mut Costs) -> &mut f64) {
        let (from, to) = (from.max(0), to.min(self.days()));
        let mut day = from;
        while day < to {
            let m = day / DAYS_PER_MONTH;
            let end = ((m + 1) * DAYS_PER_MONTH).min(to);
            *field(&mut self.months[m as usize]) += per_month * (end - day) as f64 / DAYS_PER_MONTH as f64;
            day = end;
        }
    }

    fn once(&mut self, day: i64, amount: f64, field: fn(&mut Costs) -> &mut f64) {
        if (0..self.days()).contains(&day) {
            *field(&mut self.months[(day / DAYS_PER_MONTH) as usize]) += amount;
        }
    }

    fn total(&self) -> f64 {
        self.months.iter().map(Costs::total).sum()
    }
}

/// slm's own requests per file and per task, by action: the counts measured in BENCHMARKS.md
/// ("Requests per object, by service and action", 5,000 files), DynamoDB requests converted to
/// capacity units (a BatchGetItem or a planner's page reads about one unit per item), and the
/// Lambda time assumed, not measured (docs/cost.md): a worker of 256 MB copies 16 files at once,
/// a server-side copy taking about 8 s per GiB.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RunningRequests {
    pub dynamodb_writes: f64,
    pub dynamodb_reads: f64,
    pub sqs: f64,
    pub lambda_invocations: f64,
    pub lambda_gb_seconds: f64,
    /// Lambda GB-seconds per GiB of the files (the copies' time).
    pub lambda_gb_seconds_per_gib: f64,
}

/// Per file.
pub const ARCHIVE_PER_FILE: RunningRequests =
    RunningRequests { dynamodb_writes: 1.016, dynamodb_reads: 1.1, sqs: 0.172, lambda_invocations: 0.011, lambda_gb_seconds: 0.0025, lambda_gb_seconds_per_gib: 0.125 };
pub const RESTORE_PER_FILE: RunningRequests =
    RunningRequests { dynamodb_writes: 2.117, dynamodb_reads: 1.02, sqs: 0.993, lambda_invocations: 0.111, lambda_gb_seconds: 0.0033, lambda_gb_seconds_per_gib: 0.0 };
pub const PURGE_PER_FILE: RunningRequests =
    RunningRequests { dynamodb_writes: 1.016, dynamodb_reads: 1.15, sqs: 0.118, lambda_invocations: 0.011, lambda_gb_seconds: 0.0008, lambda_gb_seconds_per_gib: 0.0 };
/// Per task: the state machine's happy path (Begin, Claim, PlanAndWait, Record, Release,
/// StartQueued, Announce, Publish, Ended, TaskEnded), its own DynamoDB and SQS calls, the task's
/// transaction (2 units an item, 2 items) and audit writes, the planner's first invocation, and
/// one SNS publish.
pub const STATE_TRANSITIONS_PER_TASK: f64 = 10.0;
pub const PER_TASK: RunningRequests =
    RunningRequests { dynamodb_writes: 9.0, dynamodb_reads: 3.0, sqs: 2.0, lambda_invocations: 1.0, lambda_gb_seconds: 0.1, lambda_gb_seconds_per_gib: 0.0 };
/// The registry at rest: a file's item and its index entry.
pub const REGISTRY_BYTES_PER_FILE: f64 = 600.0;

impl RunningRequests {
    pub fn per_file(action: &str) -> RunningRequests {
        match action {
            "archive" => ARCHIVE_PER_FILE,
            "restore" => RESTORE_PER_FILE,
            _ => PURGE_PER_FILE,
        }
    }
}

/// What slm's own requests cost per service for `action` on `sizes`, in tasks of
/// `files_per_task` files: (service, USD).
pub fn running_by_service(prices: &PriceTable, action: &str, sizes: &Sizes, files_per_task: u64) -> Vec<(&'static str, f64)> {
    let s = &prices.services;
    let f = RunningRequests::per_file(action);
    let t = PER_TASK;
    let tasks = sizes.count.div_ceil(files_per_task.max(1)) as f64;
    let n = sizes.count as f64;
    let gib = sizes.bytes as f64 / GB;
    let m = 1e6;
    vec![
        ("DynamoDB", (f.dynamodb_writes * n + t.dynamodb_writes * tasks) / m * s.dynamodb_write_per_million + (f.dynamodb_reads * n + t.dynamodb_reads * tasks) / m * s.dynamodb_read_per_million),
        ("SQS", (f.sqs * n + t.sqs * tasks) / m * s.sqs_per_million),
        ("Lambda", (f.lambda_invocations * n + t.lambda_invocations * tasks) / m * s.lambda_per_million + (f.lambda_gb_seconds * n + t.lambda_gb_seconds * tasks + f.lambda_gb_seconds_per_gib * gib) * s.lambda_gb_second),
        ("Step Functions", STATE_TRANSITIONS_PER_TASK * tasks / 1000.0 * s.states_per_1000_transitions),
        ("SNS", tasks / m * s.sns_per_million),
    ]
}

/// What slm costs to run for one task of `action` on an asset of `sizes`.
pub fn running_cost(prices: &PriceTable, action: &str, sizes: &Sizes) -> f64 {
    running_by_service(prices, action, sizes, sizes.count.max(1)).iter().map(|(_, v)| v).sum()
}

/// slm's registry of `files` files for a month.
pub fn registry_month(prices: &PriceTable, files: u64) -> f64 {
    files as f64 * REGISTRY_BYTES_PER_FILE / GB * prices.services.dynamodb_gb_month
}

/// A footprint: the assets (with their files' sizes and class) and their titles' dates.
#[derive(Debug, Clone, Default)]
pub struct Footprint {
    pub assets: Vec<Asset>,
    pub titles: BTreeMap<String, Title>,
}

impl Footprint {
    pub fn sizes(&self) -> Sizes {
        let mut all = Sizes::default();
        for a in &self.assets {
            all += a.sizes();
        }
        all
    }
}

/// A strategy's line in the comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyCost {
    pub strategy: String,
    /// What it does, in a line ("GLACIER_IR 90 days after creation").
    pub detail: String,
    /// Cost per month, months in order.
    pub monthly: Vec<f64>,
    pub costs: Costs,
    pub total: f64,
    /// Reads of an asset that had to wait hours for a restore (GLACIER, DEEP_ARCHIVE, or
    /// Intelligent-Tiering's archive tiers): what the cheaper storage costs in time.
    pub restores: u64,
}

impl StrategyCost {
    fn new(strategy: &str, detail: String, priced: &Priced) -> Self {
        let ledger = &priced.ledger;
        let mut costs = Costs::default();
        ledger.months.iter().for_each(|m| costs.add(m));
        StrategyCost { strategy: strategy.to_string(), detail, monthly: ledger.months.iter().map(Costs::total).collect(), costs, total: ledger.total(), restores: priced.restores }
    }

    /// The cost of the first `months` months.
    pub fn cumulative(&self, months: usize) -> f64 {
        self.monthly.iter().take(months).sum()
    }
}

/// Where a policy loses money, and how much.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    pub policy_id: String,
    /// "small_files", "early_deletion", "restores", "archived_in_archive" or "read_after_purge".
    pub kind: String,
    pub assets: u64,
    pub files: u64,
    /// What it costs over the horizon (for small files: what archiving them costs more per month).
    pub cost: f64,
    pub message: String,
}

/// The comparison: every strategy on the same footprint and the same reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub assumptions: Assumptions,
    pub prices: String,
    pub assets: u64,
    pub files: u64,
    pub bytes: u64,
    pub reads: u64,
    pub strategies: Vec<StrategyCost>,
    pub warnings: Vec<Warning>,
}

impl Comparison {
    pub fn strategy(&self, name: &str) -> Option<&StrategyCost> {
        self.strategies.iter().find(|s| s.strategy == name)
    }

    /// The share of the status quo's cost over the first `months` months a strategy saves.
    pub fn saved(&self, name: &str, months: usize) -> Option<f64> {
        let base = self.strategy(STATUS_QUO)?.cumulative(months);
        let cost = self.strategy(name)?.cumulative(months);
        (base > 0.0).then(|| 1.0 - cost / base)
    }
}

pub const STATUS_QUO: &str = "status quo";
pub const SLM: &str = "slm";
pub const INTELLIGENT_TIERING: &str = "Intelligent-Tiering";
pub const INTELLIGENT_TIERING_ARCHIVE: &str = "Intelligent-Tiering with archive tiers";
pub const AGE_RULE: &str = "best age-only lifecycle rule";
pub const INSTANT_AGE_RULE: &str = "best age-only rule, reads instant";

/// The age-only rules searched: every transition S3 Lifecycle accepts (STANDARD_IA and
/// ONEZONE_IA no sooner than 30 days after creation) to the archive targets, at these ages.
pub const RULE_AGES: [i64; 11] = [0, 30, 60, 90, 120, 180, 270, 365, 545, 730, 1095];

/// One asset priced under one strategy.
struct Pricer<'a> {
    prices: &'a PriceTable,
    assumptions: &'a Assumptions,
    ledger: Ledger,
    restores: u64,
}

/// A strategy applied to one asset and its reads.
type PerAsset<'f> = dyn FnMut(&mut Pricer, &Asset, &[i64]) -> Result<(), NoPrice> + 'f;

/// A strategy priced over the footprint.
struct Priced {
    ledger: Ledger,
    restores: u64,
}

fn storage(c: &mut Costs) -> &mut f64 {
    &mut c.storage
}
fn monitoring(c: &mut Costs) -> &mut f64 {
    &mut c.monitoring
}
fn transitions(c: &mut Costs) -> &mut f64 {
    &mut c.transitions
}
fn retrieval(c: &mut Costs) -> &mut f64 {
    &mut c.retrieval
}
fn early_deletion(c: &mut Costs) -> &mut f64 {
    &mut c.early_deletion
}
fn running(c: &mut Costs) -> &mut f64 {
    &mut c.running
}

impl<'a> Pricer<'a> {
    fn new(prices: &'a PriceTable, assumptions: &'a Assumptions) -> Self {
        Pricer { prices, assumptions, ledger: Ledger::new(assumptions.months), restores: 0 }
    }

    fn hold(&mut self, class: StorageClass, sizes: &Sizes, from: i64, to: i64) -> Result<(), NoPrice> {
        if sizes.count > 0 {
            let month = self.prices.month(class, sizes)?;
            self.ledger.spread(from, to, month, storage);
        }
        Ok(())
    }

    fn transition(&mut self, class: StorageClass, sizes: &Sizes, day: i64) -> Result<(), NoPrice> {
        let cost = self.prices.transition(class, sizes.count)?;
        self.ledger.once(day, cost, transitions);
        Ok(())
    }

    /// Leaving `class` (deleted or replaced) `days_in` days after entering it.
    fn leave(&mut self, class: StorageClass, sizes: &Sizes, days_in: i64, day: i64) -> Result<f64, NoPrice> {
        let short = (i64::from(self.prices.class(class)?.min_days) - days_in.max(0)).max(0);
        let cost = self.prices.month(class, sizes)? * short as f64 / DAYS_PER_MONTH as f64;
        self.ledger.once(day, cost, early_deletion);
        Ok(cost)
    }

    /// A read of `sizes` in `class` on `day`; `restored_until` is the end of the last restored
    /// copy. Returns whether a restore was asked for.
    fn read(&mut self, class: StorageClass, sizes: &Sizes, day: i64, restored_until: &mut i64) -> Result<bool, NoPrice> {
        if class.needs_restore() {
            if day < *restored_until {
                return Ok(false);
            }
            let cost = self.prices.restore(class, self.assumptions.restore_tier, sizes)?;
            self.ledger.once(day, cost, retrieval);
            let days = i64::from(self.assumptions.restore_days);
            self.hold(StorageClass::Standard, sizes, day, day + days)?;
            *restored_until = day + days;
            self.restores += 1;
            return Ok(true);
        }
        let cost = self.prices.retrieval(class, sizes.bytes)?;
        self.ledger.once(day, cost, retrieval);
        Ok(false)
    }
}

fn date_of(start: NaiveDate, day: i64) -> NaiveDate {
    start.checked_add_days(Days::new(day.max(0) as u64)).unwrap_or(start)
}

/// The asset's current class; STANDARD for a MIXED one.
fn class_now(asset: &Asset) -> StorageClass {
    asset.class().unwrap_or(StorageClass::Standard)
}

fn status_quo(p: &mut Pricer, asset: &Asset, reads: &[i64]) -> Result<(), NoPrice> {
    let class = class_now(asset);
    let sizes = asset.sizes();
    p.hold(class, &sizes, 0, p.ledger.days())?;
    let mut restored = 0;
    for &r in reads {
        p.read(class, &sizes, r, &mut restored)?;
    }
    Ok(())
}

/// Intelligent-Tiering's tier `idle` days after the last read (or the move into the class).
fn tier(idle: i64, archive: bool) -> &'static str {
    match (idle, archive) {
        (..30, _) => "FREQUENT",
        (30..90, _) => "INFREQUENT",
        (_, false) => "ARCHIVE_INSTANT",
        (90..180, true) => "ARCHIVE",
        (_, true) => "DEEP_ARCHIVE",
    }
}

/// Days without a read at which Intelligent-Tiering moves an object to its next tier.
const TIER_STEPS: [i64; 3] = [30, 90, 180];

fn intelligent_tiering(p: &mut Pricer, asset: &Asset, reads: &[i64], archive: bool) -> Result<(), NoPrice> {
    let from = class_now(asset);
    let (large, small) = (asset.sizes().large(), asset.sizes().small());
    if from != StorageClass::Standard || large.count == 0 {
        // The rule moves objects of 128 KB or more from STANDARD only.
        return status_quo(p, asset, reads);
    }
    let days = p.ledger.days();
    p.hold(from, &small, 0, days)?;
    p.transition(StorageClass::IntelligentTiering, &large, 0)?;
    let monitor = large.count as f64 / 1000.0 * p.prices.class(StorageClass::IntelligentTiering)?.monitoring_per_1000;
    p.ledger.spread(0, days, monitor, monitoring);
    let gb = large.bytes as f64 / GB;
    let mut last = 0;
    for &r in reads {
        if matches!(tier(r - last, archive), "ARCHIVE" | "DEEP_ARCHIVE") {
            // Its Standard retrieval is free, but the read waits hours.
            p.restores += 1;
        }
        last = r;
    }
    last = 0;
    for end in reads.iter().copied().chain(std::iter::once(days)) {
        // Tiers from `last` (a read or the move) to `end`, cut at the tier steps.
        let mut cuts: Vec<i64> = TIER_STEPS.iter().map(|s| last + s).filter(|c| *c < end).collect();
        cuts.insert(0, last);
        cuts.push(end);
        for w in cuts.windows(2) {
            let rate = p.prices.tiering(tier(w[0] - last, archive))?;
            p.ledger.spread(w[0], w[1], gb * rate, storage);
        }
        last = end;
    }
    Ok(())
}

/// One transition of every object of 128 KB or more to `class`, `age` days after creation.
fn age_rule(p: &mut Pricer, asset: &Asset, reads: &[i64], class: StorageClass, age: i64) -> Result<(), NoPrice> {
    let from = class_now(asset);
    let (large, small) = (asset.sizes().large(), asset.sizes().small());
    let days = p.ledger.days();
    p.hold(from, &small, 0, days)?;
    let at = (age - (p.assumptions.start - asset.created_on).num_days()).max(0);
    let moves = from == StorageClass::Standard && at < days && large.count > 0;
    let until = if moves { at } else { days };
    p.hold(from, &large, 0, until)?;
    if moves {
        p.transition(class, &large, at)?;
        p.hold(class, &large, at, days)?;
    }
    let mut restored = 0;
    for &r in reads {
        let now = if moves && r >= at { class } else { from };
        p.read(now, &large, r, &mut restored)?;
        if small.count > 0 {
            p.read(from, &small, r, &mut 0)?;
        }
    }
    Ok(())
}

/// What slm did to one asset, for the warnings.
#[derive(Default)]
struct Effects {
    /// (policy, kind) -> (files, cost)
    found: BTreeMap<(String, &'static str), (u64, f64)>,
}

impl Effects {
    fn note(&mut self, policy: &str, kind: &'static str, files: u64, cost: f64) {
        let e = self.found.entry((policy.to_string(), kind)).or_default();
        e.0 += files;
        e.1 += cost;
    }
}

fn slm(p: &mut Pricer, asset: &Asset, title: Option<&Title>, policies: &[Policy], reads: &[i64], effects: &mut Effects) -> Result<(), NoPrice> {
    let start = p.assumptions.start;
    let days = p.ledger.days();
    let sizes = asset.sizes();
    let mut asset = asset.clone();
    let mut class = class_now(&asset);
    // (day it entered its class, the policy that moved it there)
    let mut since = (-(start - asset.created_on).num_days(), String::new());
    let mut restored = 0;
    let mut stopped = false;
    let mut reads = reads.iter().copied().peekable();
    let mut day = 0;
    p.ledger.spread(0, days, registry_month(p.prices, sizes.count), running);
    loop {
        // Reads up to the day the policies are looked at.
        while let Some(r) = reads.next_if(|r| *r <= day) {
            asset.last_access_on = Some(date_of(start, r));
            if asset.state == AssetState::Purged {
                effects.note(&since.1, "read_after_purge", sizes.count, 0.0);
                continue;
            }
            if p.read(class, &sizes, r, &mut restored)? {
                let run = running_cost(p.prices, "restore", &sizes);
                p.ledger.once(r, run, running);
                effects.note(&since.1, "restores", sizes.count, run + p.prices.restore(class, p.assumptions.restore_tier, &sizes)?);
            }
        }
        if day >= days || asset.state == AssetState::Purged {
            break;
        }
        // Once a policy cannot act, only the reads are left to price.
        let decision = if stopped { Decision::Wait { next: None } } else { decide(&asset, title, policies, date_of(start, day)) };
        let next = match decision {
            Decision::Act { policy, .. } => {
                match policy.doc.action {
                    PolicyAction::Archive { .. } if class.needs_restore() => {
                        // S3 refuses to copy an archived object: the task's files would fail.
                        effects.note(policy.id(), "archived_in_archive", sizes.count, 0.0);
                        stopped = true;
                    }
                    PolicyAction::Archive { storage_class } => {
                        p.hold(class, &sizes, 0.max(since.0), day)?;
                        let early = p.leave(class, &sizes, day - since.0, day)?;
                        if early > 0.0 {
                            effects.note(&since.1, "early_deletion", sizes.count, early);
                        }
                        p.transition(storage_class, &sizes, day)?;
                        let head = sizes.count as f64 / 1000.0 * p.prices.class(class)?.get_per_1000;
                        p.ledger.once(day, head, transitions);
                        p.ledger.once(day, running_cost(p.prices, "archive", &sizes), running);
                        let loss = p.prices.small_objects_loss(class, storage_class, &sizes)?;
                        if loss > 0.0 {
                            effects.note(policy.id(), "small_files", sizes.small_count, loss);
                        }
                        class = storage_class;
                        since = (day, policy.id().to_string());
                        asset.storage_class = class.into();
                    }
                    PolicyAction::Purge => {
                        p.hold(class, &sizes, 0.max(since.0), day)?;
                        let early = p.leave(class, &sizes, day - since.0, day)?;
                        if early > 0.0 {
                            effects.note(policy.id(), "early_deletion", sizes.count, early);
                        }
                        p.ledger.once(day, running_cost(p.prices, "purge", &sizes), running);
                        p.ledger.spread(day, days, -registry_month(p.prices, sizes.count), running);
                        asset.state = AssetState::Purged;
                        since = (day, policy.id().to_string());
                    }
                }
                day
            }
            Decision::Wait { next } => next.map_or(days, |n| (n - start).num_days().clamp(day + 1, days)),
        };
        // Reads before the next decision day are handled first; the loop comes back to `next`.
        day = match reads.peek() {
            Some(r) if *r < next => *r,
            _ => next,
        };
    }
    if asset.state != AssetState::Purged {
        p.hold(class, &sizes, 0.max(since.0), days)?;
    }
    Ok(())
}

/// Compares the strategies on a footprint. Reads are drawn once per asset from `rates` (seeded)
/// and shared by every strategy.
pub fn compare(footprint: &Footprint, policies: &[Policy], rates: &AccessRates, prices: &PriceTable, assumptions: &Assumptions) -> Result<Comparison, NoPrice> {
    let days = assumptions.days();
    let launch = |a: &Asset| footprint.titles.get(&a.title_id).and_then(|t| t.dates.get(&assumptions.launch_date).copied());
    // Each asset draws from its own sequence (the seed and its id): its reads do not depend on
    // the other assets or on the horizon, so a shorter horizon sees the same first months.
    let reads: Vec<Vec<i64>> = footprint
        .assets
        .iter()
        .map(|a| {
            let id = a.asset_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
            rates.draw(&a.asset_type, launch(a), assumptions.start, days, &mut SplitMix64::new(assumptions.seed ^ id))
        })
        .collect();
    // One pricer per strategy: its ledger adds up the assets as they are priced.
    let each = |f: &mut PerAsset| -> Result<Priced, NoPrice> {
        let mut p = Pricer::new(prices, assumptions);
        for (a, r) in footprint.assets.iter().zip(&reads) {
            f(&mut p, a, r)?;
        }
        Ok(Priced { ledger: p.ledger, restores: p.restores })
    };
    let mut strategies = vec![StrategyCost::new(STATUS_QUO, "every object stays in its class".into(), &each(&mut |p, a, r| status_quo(p, a, r))?)];
    let mut effects = Effects::default();
    let mut assets_by: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
    let slm_ledger = each(&mut |p, a, r| {
        let mut one = Effects::default();
        slm(p, a, footprint.titles.get(&a.title_id), policies, r, &mut one)?;
        for (k, (files, cost)) in one.found {
            *assets_by.entry(k.clone()).or_default() += 1;
            effects.note(&k.0, k.1, files, cost);
        }
        Ok(())
    })?;
    let n = policies.iter().filter(|p| p.doc.enabled).count();
    strategies.push(StrategyCost::new(SLM, format!("{n} {} on the titles' dates", if n == 1 { "policy" } else { "policies" }), &slm_ledger));
    for (name, archive, detail) in [
        (INTELLIGENT_TIERING, false, "moved in on day 0; Infrequent after 30 days unread, Archive Instant after 90"),
        (INTELLIGENT_TIERING_ARCHIVE, true, "moved in on day 0; Infrequent after 30 days unread, Archive Access after 90, Deep Archive Access after 180"),
    ] {
        strategies.push(StrategyCost::new(name, detail.into(), &each(&mut |p, a, r| intelligent_tiering(p, a, r, archive))?));
    }
    // The cheapest rule of all, and the cheapest that keeps every read instant (no restore).
    let (mut best, mut instant): (Option<StrategyCost>, Option<StrategyCost>) = (None, None);
    for class in StorageClass::ARCHIVE_TARGETS.into_iter().chain([StorageClass::OnezoneIa]) {
        for age in RULE_AGES {
            if matches!(class, StorageClass::StandardIa | StorageClass::OnezoneIa) && age < 30 {
                continue;
            }
            if prices.class(class).and_then(|_| prices.transition(class, 0)).is_err() {
                continue;
            }
            let priced = each(&mut |p, a, r| age_rule(p, a, r, class, age))?;
            let total = priced.ledger.total();
            let detail = format!("{class} {age} days after creation");
            if best.as_ref().is_none_or(|b| total < b.total) {
                best = Some(StrategyCost::new(AGE_RULE, detail.clone(), &priced));
            }
            if !class.needs_restore() && instant.as_ref().is_none_or(|b| total < b.total) {
                instant = Some(StrategyCost::new(INSTANT_AGE_RULE, detail, &priced));
            }
        }
    }
    strategies.extend(best);
    strategies.extend(instant);
    let sizes = footprint.sizes();
    let warnings = effects
        .found
        .into_iter()
        .map(|((policy_id, kind), (files, cost))| {
            let assets = assets_by.get(&(policy_id.clone(), kind)).copied().unwrap_or(0);
            let message = match kind {
                "small_files" => format!("{files} files under 128 KB cost ${cost:.4} a month more archived than where they were (the 40 KB index of GLACIER and DEEP_ARCHIVE, the 128 KB minimum of GLACIER_IR and the infrequent classes)"),
                "early_deletion" => format!("{assets} assets leave their class before its minimum duration: ${cost:.2} of early-deletion charges"),
                "restores" => format!("the reads predicted restore {assets} archived assets: ${cost:.2} in restores"),
                "archived_in_archive" => format!("{assets} assets are archived already in GLACIER or DEEP_ARCHIVE: S3 does not copy an archived object, the task would fail its files"),
                _ => format!("the reads predicted read {assets} assets after they were purged"),
            };
            Warning { policy_id, kind: kind.to_string(), assets, files, cost, message }
        })
        .collect();
    Ok(Comparison {
        assumptions: assumptions.clone(),
        prices: format!("{} ({})", prices.region, prices.version),
        assets: footprint.assets.len() as u64,
        files: sizes.count,
        bytes: sizes.bytes,
        reads: reads.iter().map(|r| r.len() as u64).sum(),
        strategies,
        warnings,
    })
}

/// Reads this recent make an archive to GLACIER or DEEP_ARCHIVE a likely restore.
pub const RECENT_READ_DAYS: i64 = 30;

/// Where one action on one asset loses money, as the dry-run says it: files under 128 KB that
/// cost more in the target class, the early-deletion charge of an estimate, and a read so recent
/// that archiving to a class that must be restored is likely to cost a restore.
pub fn action_warnings(asset: &Asset, action: Action, estimate: Option<&Estimate>, prices: &PriceTable, day: NaiveDate) -> Vec<String> {
    let Action::Archive { storage_class: to } = action else { return Vec::new() };
    let mut out = Vec::new();
    let sizes = asset.sizes();
    if let Some(from) = asset.class()
        && let Ok(loss) = prices.small_objects_loss(from, to, &sizes)
        && loss > 0.0
    {
        let even = prices.break_even_bytes(from, to).map_or(String::new(), |b| format!(", break-even {:.1} KiB", b as f64 / 1024.0));
        out.push(format!("{} files under 128 KB cost ${loss:.4} a month more in {to} than in {from}{even}", sizes.small_count));
    }
    if let Some(e) = estimate.filter(|e| e.minimum_duration_charge > 0.0) {
        let min = prices.class(to).map_or(0, |c| c.min_days);
        out.push(format!("the next policy moves it before {to}'s minimum of {min} days: ${:.2} of early-deletion charge", e.minimum_duration_charge));
    }
    if let Some(read) = asset.last_access_on.filter(|r| to.needs_restore() && (day - *r).num_days() <= RECENT_READ_DAYS) {
        let restore = prices.restore(to, RestoreTier::Standard, &sizes).map_or(String::new(), |c| format!(" and ${c:.2} (Standard tier)"));
        out.push(format!("read on {read}, {} days before: in {to} a read waits hours for a restore{restore}", (day - read).num_days()));
    }
    out
}

/// Where a policy, as written, loses money: the size under which its target class costs more
/// than STANDARD, and against the others on the same anchor, an asset it archives that a
/// higher-ranked policy moves on or purges before the class's minimum duration (an
/// early-deletion charge), or that a colder archive would have to copy out of GLACIER or
/// DEEP_ARCHIVE (which S3 refuses); and the same with the roles swapped.
pub fn policy_warnings(policy: &Policy, others: &[Policy], prices: &PriceTable) -> Vec<String> {
    let mut out = Vec::new();
    if !policy.doc.enabled {
        // A disabled policy does nothing, and costs nothing.
        return out;
    }
    if let PolicyAction::Archive { storage_class: to } = policy.doc.action
        && let Some(even) = prices.break_even_bytes(StorageClass::Standard, to)
    {
        let why = if to.needs_restore() { "its 40 KB index per object" } else { "its 128 KB minimum per object" };
        out.push(format!("files under {:.1} KiB cost more in {to} than in STANDARD ({why}): the dry-run names the assets that have them", even as f64 / 1024.0));
    }
    for other in others.iter().filter(|o| o.id() != policy.id() && o.doc.enabled) {
        for (first, second) in [(policy, other), (other, policy)] {
            out.extend(follows(first, second, prices));
        }
    }
    out
}

/// What `second` does to the assets `first` archived, if it acts on them before `first`'s class
/// has been paid for.
fn follows(first: &Policy, second: &Policy, prices: &PriceTable) -> Option<String> {
    let PolicyAction::Archive { storage_class: class } = first.doc.action else { return None };
    let (a, b) = (&first.doc, &second.doc);
    if !a.enabled || a.anchor != b.anchor || b.offset_days <= a.offset_days || !a.selector.may_overlap(&b.selector) || second.rank_key() >= first.rank_key() {
        return None;
    }
    let gap = b.offset_days - a.offset_days;
    let min = i64::from(prices.class(class).ok()?.min_days);
    match b.action {
        PolicyAction::Archive { storage_class: to } if to.coldness() > class.coldness() && class.needs_restore() => Some(format!(
            "policy {} archives to {to} what policy {} archived to {class} {gap} days before: S3 does not copy objects out of {class}, those files would fail",
            second.id(),
            first.id()
        )),
        PolicyAction::Archive { storage_class: to } if to.coldness() > class.coldness() && gap < min => Some(format!(
            "policy {} moves to {to} what policy {} archived to {class} {gap} days before, within {class}'s minimum of {min} days: {} days of early-deletion charge",
            second.id(),
            first.id(),
            min - gap
        )),
        PolicyAction::Purge if gap < min => Some(format!(
            "policy {} purges what policy {} archived to {class} {gap} days before, within {class}'s minimum of {min} days: {} days of early-deletion charge",
            second.id(),
            first.id(),
            min - gap
        )),
        _ => None,
    }
}

/// An asset as an assessment sees it: what an inventory or the registry says of its files.
pub fn footprint_asset(asset_id: &str, title_id: &str, asset_type: &str, created_on: NaiveDate, class: AssetClass, sizes: Sizes) -> Asset {
    Asset {
        asset_id: asset_id.into(),
        title_id: title_id.into(),
        asset_type: asset_type.into(),
        phase: super::asset::default_phase(),
        tags: BTreeMap::new(),
        created_on,
        last_access_on: None,
        bucket: String::new(),
        prefix: String::new(),
        shards: 1,
        file_count: sizes.count,
        total_bytes: sizes.bytes,
        small_file_count: sizes.small_count,
        small_file_bytes: sizes.small_bytes,
        state: if class == StorageClass::Standard { AssetState::Active } else { AssetState::Archived },
        storage_class: class,
        active_task: None,
        active_action: None,
        queued_task: None,
        registered_at: String::new(),
        due_at: None,
        backfill_cursor: None,
        sweep_cursor: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::tests::{date, policy};

    const GIB: u64 = 1 << 30;

    fn prices() -> &'static PriceTable {
        PriceTable::bundled()
    }

    fn assumptions(months: u32) -> Assumptions {
        Assumptions { start: date("2026-01-01"), months, launch_date: "launch".into(), restore_tier: RestoreTier::Standard, restore_days: 7, seed: 1 }
    }

    /// 1,000 files of 1 GiB, created 200 days before the start.
    fn camera() -> Asset {
        footprint_asset("cam-1", "tln", "camera_original", date("2025-06-15"), StorageClass::Standard.into(), Sizes::of(&vec![GIB; 1000]))
    }

    fn title() -> Title {
        Title {
            title_id: "tln".into(),
            name: None,
            dates: BTreeMap::from([("launch".into(), date("2026-01-01")), ("post_production_end".into(), date("2025-12-01"))]),
            updated_at: String::new(),
        }
    }

    fn priced(f: impl FnOnce(&mut Pricer) -> Result<(), NoPrice>, months: u32) -> Costs {
        let a = assumptions(months);
        let mut p = Pricer::new(prices(), &a);
        f(&mut p).unwrap();
        let mut c = Costs::default();
        p.ledger.months.iter().for_each(|m| c.add(m));
        c
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn leaving_a_class_bills_only_the_rest_of_its_minimum() {
        let sizes = camera().sizes();
        let c = priced(|p| p.leave(StorageClass::Standard, &sizes, -178, 10).map(drop), 12);
        assert_eq!(c.early_deletion, 0.0, "STANDARD has no minimum, whatever the days");
        let c = priced(|p| p.leave(StorageClass::Glacier, &sizes, 30, 10).map(drop), 12);
        let glacier = prices().month(StorageClass::Glacier, &sizes).unwrap();
        assert!(close(c.early_deletion, glacier * 2.0), "60 of 90 days left: {c:?}");
    }

    #[test]
    fn the_status_quo_bills_standard_for_every_month() {
        let c = priced(|p| status_quo(p, &camera(), &[10, 100]), 12);
        assert!(close(c.storage, 1000.0 * 0.023 * 12.0), "{c:?}");
        assert_eq!(c.total(), c.storage, "reads of STANDARD cost nothing but their GETs, the same in every strategy");
    }

    #[test]
    fn intelligent_tiering_walks_the_tiers_between_reads_and_a_read_brings_the_object_back() {
        // 360 days, one read on day 100: Frequent 0-30, Infrequent 30-90, Archive Instant
        // 90-100, then Frequent 100-130, Infrequent 130-190, Archive Instant 190-360.
        let c = priced(|p| intelligent_tiering(p, &camera(), &[100], false), 12);
        let storage = 23.0 + 2.0 * 12.5 + 4.0 * 10.0 / 30.0 + 23.0 + 2.0 * 12.5 + 4.0 * 170.0 / 30.0;
        assert!(close(c.storage, storage), "{} against {storage}", c.storage);
        assert!(close(c.monitoring, 0.0025 * 12.0), "1,000 objects monitored for 12 months: {c:?}");
        assert!(close(c.transitions, 0.01), "the lifecycle rule moves 1,000 objects in");
        assert_eq!(c.retrieval, 0.0);
        // With the archive tiers: Archive Access 90-100 and 190-280, Deep Archive Access after.
        let c = priced(|p| intelligent_tiering(p, &camera(), &[100], true), 12);
        let storage = 23.0 + 25.0 + 3.6 * 10.0 / 30.0 + 23.0 + 25.0 + 3.6 * 3.0 + 0.99 * 80.0 / 30.0;
        assert!(close(c.storage, storage), "{} against {storage}", c.storage);
    }

    #[test]
    fn objects_under_128k_never_tier_and_are_not_monitored() {
        let tiny = footprint_asset("t", "tln", "sidecar", date("2025-01-01"), StorageClass::Standard.into(), Sizes::of(&vec![10 * 1024; 1000]));
        let it = priced(|p| intelligent_tiering(p, &tiny, &[], true), 12);
        let quo = priced(|p| status_quo(p, &tiny, &[]), 12);
        assert_eq!(it, quo);
        let rule = priced(|p| age_rule(p, &tiny, &[], StorageClass::Glacier, 0), 12);
        assert_eq!(rule, quo, "S3 Lifecycle does not transition objects under 128 KB by default");
    }

    #[test]
    fn an_age_rule_moves_objects_once_old_enough_and_pays_for_reads_of_the_colder_class() {
        // Created 200 days before the start: 90 days old already, moved on day 0.
        let c = priced(|p| age_rule(p, &camera(), &[100], StorageClass::GlacierIr, 90), 12);
        assert!(close(c.storage, 4.0 * 12.0) && close(c.transitions, 0.02) && close(c.retrieval, 30.0), "{c:?}");
        // 365 days after creation is day 165: STANDARD before, GLACIER after; a read on day 200
        // restores 1,000 GiB (Standard tier: $0.05 per 1,000 and $0.01 per GB) and keeps the copy
        // in STANDARD for 7 days.
        let c = priced(|p| age_rule(p, &camera(), &[100, 200, 203], StorageClass::Glacier, 365), 12);
        let glacier_month = prices().month(StorageClass::Glacier, &camera().sizes()).unwrap();
        let storage = 23.0 * 165.0 / 30.0 + glacier_month * 195.0 / 30.0 + 23.0 * 7.0 / 30.0;
        assert!(close(c.storage, storage), "{} against {storage}", c.storage);
        assert!(close(c.retrieval, 0.05 + 10.0), "one restore: the read on day 203 finds the copy: {c:?}");
        assert!(close(c.transitions, 0.03));
    }

    #[test]
    fn slm_archives_on_the_business_date_pays_its_requests_and_running_cost_and_purges() {
        let archive = policy("ID", r#"{"policy_id":"cam-deep","selector":{"asset_types":["camera_original"]},"anchor":"title.launch","offset_days":30,"action":{"action":"archive","storage_class":"DEEP_ARCHIVE"}}"#);
        let purge = policy("ID", r#"{"policy_id":"cam-purge","selector":{"asset_types":["camera_original"]},"anchor":"title.launch","offset_days":120,"action":{"action":"purge"},"priority":5}"#);
        let t = title();
        let mut effects = Effects::default();
        let c = priced(|p| slm(p, &camera(), Some(&t), &[archive, purge], &[], &mut effects), 12);
        let deep = prices().month(StorageClass::DeepArchive, &camera().sizes()).unwrap();
        // STANDARD for 30 days, DEEP_ARCHIVE for 90, then purged: 90 of the 180 days' minimum billed.
        assert!(close(c.storage, 23.0 + deep * 3.0), "{c:?}");
        assert!(close(c.early_deletion, deep * 3.0), "{c:?}");
        assert!(close(c.transitions, 0.05 + 0.0004), "1,000 copies into DEEP_ARCHIVE and 1,000 HEADs: {c:?}");
        let registry = registry_month(prices(), 1000);
        let sizes = camera().sizes();
        let running = running_cost(prices(), "archive", &sizes) + running_cost(prices(), "purge", &sizes) + registry * 4.0;
        assert!(close(c.running, running), "{} against {running}", c.running);
        let (files, cost) = effects.found[&("cam-purge".to_string(), "early_deletion")];
        assert!(files == 1000 && close(cost, deep * 3.0));
    }

    #[test]
    fn slm_restores_an_archived_asset_when_it_is_read_and_says_so() {
        let archive = policy("ID", r#"{"policy_id":"cam-glacier","selector":{},"anchor":"title.launch","offset_days":0,"action":{"action":"archive","storage_class":"GLACIER"}}"#);
        let t = title();
        let mut effects = Effects::default();
        let c = priced(|p| slm(p, &camera(), Some(&t), &[archive], &[50], &mut effects), 6);
        assert!(close(c.retrieval, 0.05 + 10.0), "{c:?}");
        let (files, cost) = effects.found[&("cam-glacier".to_string(), "restores")];
        assert_eq!(files, 1000);
        assert!(close(cost, 10.05 + running_cost(prices(), "restore", &camera().sizes())));
    }

    #[test]
    fn an_archive_of_an_asset_in_glacier_is_warned_about_and_its_reads_are_still_restores() {
        let deep = policy("ID", r#"{"policy_id":"deep","selector":{},"anchor":"title.launch","offset_days":0,"action":{"action":"archive","storage_class":"DEEP_ARCHIVE"}}"#);
        let glacier = footprint_asset("g", "tln", "camera_original", date("2025-06-15"), StorageClass::Glacier.into(), Sizes::of(&vec![GIB; 1000]));
        let mut effects = Effects::default();
        let c = priced(|p| slm(p, &glacier, Some(&title()), &[deep], &[40], &mut effects), 3);
        assert_eq!(effects.found[&("deep".to_string(), "archived_in_archive")].0, 1000);
        assert!(close(c.retrieval, 10.05), "the read on day 40 restores from GLACIER: {c:?}");
        assert!(c.transitions == 0.0, "nothing was copied");
    }

    #[test]
    fn a_policy_that_waits_for_quiet_is_postponed_by_each_read() {
        let quiet = policy("ID", r#"{"policy_id":"quiet","selector":{},"anchor":"title.launch","offset_days":0,"not_accessed_days":60,"action":{"action":"archive","storage_class":"GLACIER_IR"}}"#);
        let t = title();
        let never_read = priced(|p| slm(p, &camera(), Some(&t), std::slice::from_ref(&quiet), &[], &mut Effects::default()), 12);
        assert!(close(never_read.storage, 4.0 * 12.0), "unread for 200 days: archived on the first day");
        // Read 5 days before the start, then on days 10 and 50: due on day 55, 70, then 110.
        let mut read = camera();
        read.last_access_on = Some(date("2025-12-27"));
        let c = priced(|p| slm(p, &read, Some(&t), std::slice::from_ref(&quiet), &[10, 50], &mut Effects::default()), 12);
        let storage = 23.0 * 110.0 / 30.0 + 4.0 * 250.0 / 30.0;
        assert!(close(c.storage, storage), "{} against {storage}", c.storage);
        assert_eq!(c.retrieval, 0.0, "both reads were of STANDARD");
    }

    #[test]
    fn rates_divide_reads_by_the_asset_days_observed_and_draws_follow_them() {
        let t = title();
        let launches = BTreeMap::from([("tln".to_string(), date("2026-01-01"))]);
        let assets: Vec<Asset> = (0..10).map(|i| footprint_asset(&format!("a{i}"), "tln", "editorial", date("2025-12-01"), StorageClass::Standard.into(), Sizes::of(&[GIB]))).collect();
        // 41 days observed from launch to 2026-02-10 inclusive: bin 0 (30 days) and 11 of bin 1.
        let read = |day: &str, count| Read { title_id: "tln".into(), asset_type: "editorial".into(), day: date(day), count };
        let reads: Vec<Read> = (0..10).map(|_| read("2026-01-05", 3)).chain([read("2026-02-03", 5)]).collect();
        let rates = AccessRates::observe(&assets, &launches, &reads, date("2026-02-10"), 30);
        assert!(close(rates.rate("editorial", 0), 30.0 / 300.0));
        assert!(close(rates.rate("editorial", 35), 5.0 / 110.0), "5 reads in 11 days of 10 assets");
        assert!(close(rates.rate("editorial", 400), 5.0 / 110.0), "the last bin's rate after it");
        assert_eq!(rates.rate("editorial", -3), 0.0, "31 days before launch observed, none read");
        // An asset created after launch is observed from its creation only.
        let mut late = assets.clone();
        late.push(footprint_asset("late", "tln", "editorial", date("2026-02-05"), StorageClass::Standard.into(), Sizes::of(&[GIB])));
        let rates = AccessRates::observe(&late, &launches, &reads, date("2026-02-10"), 30);
        assert!(close(rates.rate("editorial", 35), 5.0 / 116.0), "6 more asset-days: {rates:?}");
        assert!(close(rates.rate("editorial", 0), 30.0 / 300.0), "the late asset was not there in bin 0");
        assert_eq!(rates.rate("stills", 0), 0.0);
        let mut d = SplitMix64::new(7);
        let n = 2000;
        let drawn: usize = (0..n).map(|_| rates.draw("editorial", t.dates.get("launch").copied(), date("2026-01-01"), 30, &mut d).len()).sum();
        let expected = n as f64 * 30.0 * (1.0 - (-0.1f64).exp());
        assert!((drawn as f64 - expected).abs() < 0.05 * expected, "{drawn} read days against {expected}");
    }

    #[test]
    fn running_slm_is_priced_from_its_requests_per_file_and_per_task() {
        let s = prices().services;
        // 1,000 files of 1 GiB archived in one task, by hand from the constants.
        let sizes = camera().sizes();
        let by: BTreeMap<&str, f64> = running_by_service(prices(), "archive", &sizes, 1000).into_iter().collect();
        let dynamo = (1016.0 + 9.0) / 1e6 * s.dynamodb_write_per_million + (1100.0 + 3.0) / 1e6 * s.dynamodb_read_per_million;
        let lambda = 12.0 / 1e6 * s.lambda_per_million + (2.5 + 0.1 + 125.0) * s.lambda_gb_second;
        assert!(close(by["DynamoDB"], dynamo) && close(by["Lambda"], lambda), "{by:?}");
        assert!(close(by["Step Functions"], 10.0 / 1000.0 * s.states_per_1000_transitions));
        assert!(close(running_cost(prices(), "archive", &sizes), by.values().sum()));
        // Smaller tasks cost more per file: each adds its state machine and its writes.
        let small: f64 = running_by_service(prices(), "archive", &sizes, 10).iter().map(|(_, v)| v).sum();
        assert!(small > running_cost(prices(), "archive", &sizes));
    }

    #[test]
    fn a_policy_that_a_higher_ranked_one_follows_within_the_minimum_duration_is_warned_about() {
        let archive = policy("ID", r#"{"policy_id":"cam-glacier","selector":{"asset_types":["camera_original"]},"anchor":"title.launch","offset_days":30,"action":{"action":"archive","storage_class":"GLACIER"},"priority":10}"#);
        let purge = |days: i64, priority: u32, selector: &str| {
            policy("ID", &format!(r#"{{"policy_id":"purge","selector":{selector},"anchor":"title.launch","offset_days":{days},"action":{{"action":"purge"}},"priority":{priority}}}"#))
        };
        let small = "files under 15.4 KiB cost more in GLACIER than in STANDARD (its 40 KB index per object): the dry-run names the assets that have them";
        assert_eq!(policy_warnings(&archive, &[], prices()), [small]);
        let early = "policy purge purges what policy cam-glacier archived to GLACIER 30 days before, within GLACIER's minimum of 90 days: 60 days of early-deletion charge";
        assert_eq!(policy_warnings(&archive, &[purge(60, 20, "{}")], prices()), [small, early]);
        // The same from the purge's side, when it is the one created.
        assert_eq!(policy_warnings(&purge(60, 20, "{}"), std::slice::from_ref(&archive), prices()), [early]);
        let mut disabled = purge(60, 20, "{}");
        disabled.doc.enabled = false;
        assert!(policy_warnings(&disabled, std::slice::from_ref(&archive), prices()).is_empty());
        assert_eq!(policy_warnings(&archive, &[disabled], prices()), [small], "nor does it warn about others");
        // Not when the minimum has passed, when the archive outranks the purge (it holds it
        // back), on another anchor's days, or on assets the two cannot share.
        assert_eq!(policy_warnings(&archive, &[purge(120, 20, "{}")], prices()), [small]);
        assert_eq!(policy_warnings(&archive, &[purge(60, 5, "{}")], prices()), [small]);
        assert_eq!(policy_warnings(&archive, &[purge(60, 20, r#"{"asset_types":["editorial"]}"#)], prices()), [small]);
        let deep = policy("ID", r#"{"policy_id":"deep","selector":{},"anchor":"title.launch","offset_days":400,"action":{"action":"archive","storage_class":"DEEP_ARCHIVE"},"priority":30}"#);
        let w = policy_warnings(&archive, &[deep], prices());
        assert!(w.len() == 2 && w[1].contains("S3 does not copy objects out of GLACIER"), "{w:?}");
        let ir = policy("ID", r#"{"policy_id":"ir","selector":{},"anchor":"title.launch","offset_days":0,"action":{"action":"archive","storage_class":"GLACIER_IR"}}"#);
        assert_eq!(policy_warnings(&ir, &[], prices()), ["files under 22.3 KiB cost more in GLACIER_IR than in STANDARD (its 128 KB minimum per object): the dry-run names the assets that have them"]);
    }

    #[test]
    fn an_action_on_small_files_or_a_recently_read_asset_is_warned_about() {
        let small = footprint_asset("s", "tln", "stills", date("2025-01-01"), StorageClass::Standard.into(), Sizes::of(&[2048, 4096, GIB]));
        let archive = Action::Archive { storage_class: StorageClass::Glacier };
        let w = action_warnings(&small, archive, None, prices(), date("2026-01-01"));
        assert!(w.len() == 1 && w[0].starts_with("2 files under 128 KB cost $") && w[0].contains("break-even 15.4 KiB"), "{w:?}");
        let mut read = camera();
        read.last_access_on = Some(date("2025-12-20"));
        let w = action_warnings(&read, archive, None, prices(), date("2026-01-01"));
        assert_eq!(w, ["read on 2025-12-20, 12 days before: in GLACIER a read waits hours for a restore and $10.05 (Standard tier)"]);
        assert!(action_warnings(&read, Action::Archive { storage_class: StorageClass::GlacierIr }, None, prices(), date("2026-01-01")).is_empty(), "GLACIER_IR reads at once");
        assert!(action_warnings(&camera(), Action::Purge, None, prices(), date("2026-01-01")).is_empty());
        let early = Estimate { minimum_duration_charge: 1.5, ..Estimate::default() };
        let w = action_warnings(&camera(), archive, Some(&early), prices(), date("2026-01-01"));
        assert_eq!(w, ["the next policy moves it before GLACIER's minimum of 90 days: $1.50 of early-deletion charge"]);
    }

    #[test]
    fn the_comparison_searches_the_cheapest_age_rule_and_shares_reads_between_strategies() {
        let archive = policy("ID", r#"{"policy_id":"cam-deep","selector":{"asset_types":["camera_original"]},"anchor":"title.launch","offset_days":30,"action":{"action":"archive","storage_class":"DEEP_ARCHIVE"}}"#);
        let footprint = Footprint { assets: vec![camera()], titles: BTreeMap::from([("tln".to_string(), title())]) };
        let c = compare(&footprint, &[archive], &AccessRates::default(), prices(), &assumptions(36)).unwrap();
        let names: Vec<&str> = c.strategies.iter().map(|s| s.strategy.as_str()).collect();
        assert_eq!(names, [STATUS_QUO, SLM, INTELLIGENT_TIERING, INTELLIGENT_TIERING_ARCHIVE, AGE_RULE, INSTANT_AGE_RULE]);
        assert_eq!(c.strategy(INSTANT_AGE_RULE).unwrap().detail, "GLACIER_IR 0 days after creation");
        // Never read: the cheapest rule is DEEP_ARCHIVE at once, cheaper than slm's 30 days' wait.
        assert_eq!(c.strategy(AGE_RULE).unwrap().detail, "DEEP_ARCHIVE 0 days after creation");
        assert!(c.saved(AGE_RULE, 36).unwrap() > c.saved(SLM, 36).unwrap());
        assert!(c.saved(SLM, 36).unwrap() > 0.9, "{:?}", c.saved(SLM, 36));
        assert_eq!(c.strategy(STATUS_QUO).unwrap().monthly.len(), 36);
        assert!(close(c.strategy(STATUS_QUO).unwrap().total, 23.0 * 36.0));
        assert_eq!(c.reads, 0);
    }

    #[test]
    fn an_asset_s_reads_do_not_depend_on_the_horizon_or_the_other_assets() {
        let footprint = |n: usize| Footprint {
            assets: (0..n).map(|i| footprint_asset(&format!("e{i}"), "tln", "editorial", date("2025-06-15"), StorageClass::Standard.into(), Sizes::of(&[GIB]))).collect(),
            titles: BTreeMap::from([("tln".to_string(), title())]),
        };
        let rates = AccessRates { bin_days: 30, by_type: BTreeMap::from([("editorial".to_string(), TypeRates { before_launch: 0.0, bins: vec![0.2] })]) };
        let six = compare(&footprint(20), &[], &rates, prices(), &assumptions(6)).unwrap();
        let long = compare(&footprint(20), &[], &rates, prices(), &assumptions(36)).unwrap();
        let more = compare(&footprint(40), &[], &rates, prices(), &assumptions(6)).unwrap();
        assert!(six.reads > 0);
        for name in [STATUS_QUO, INTELLIGENT_TIERING] {
            assert_eq!(six.strategy(name).unwrap().monthly[..], long.strategy(name).unwrap().monthly[..6], "{name}");
        }
        assert!(more.strategy(INTELLIGENT_TIERING).unwrap().total > six.strategy(INTELLIGENT_TIERING).unwrap().total);
    }
}
