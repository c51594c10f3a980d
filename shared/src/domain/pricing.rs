//! What storage costs: a price table read from configuration (config/prices.json), never prices
//! in code. Per-object rules: the 128 KiB billing minimum of STANDARD_IA, ONEZONE_IA and
//! GLACIER_IR, the 40 KiB index overhead of GLACIER and DEEP_ARCHIVE (32 KiB at the archive rate,
//! 8 KiB at STANDARD's), and INTELLIGENT_TIERING's monitoring charge per object of 128 KiB or
//! more. A class the table has no price for (OUTPOSTS and SNOW have no public one) is answered
//! with [`NoPrice`], never priced at zero.

use super::action::{RestoreTier, StorageClass};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Objects under this size are "small": billed as this size in classes with a minimum. An
/// asset keeps their count and bytes, so estimates need no file reads.
pub const SMALL_OBJECT_BYTES: u64 = 128 * 1024;

/// The sizes of a set of objects, as far as prices care.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sizes {
    pub count: u64,
    pub bytes: u64,
    pub small_count: u64,
    pub small_bytes: u64,
}

impl std::ops::AddAssign for Sizes {
    fn add_assign(&mut self, other: Sizes) {
        self.count += other.count;
        self.bytes += other.bytes;
        self.small_count += other.small_count;
        self.small_bytes += other.small_bytes;
    }
}

impl Sizes {
    pub fn of(sizes: &[u64]) -> Self {
        let small: Vec<u64> = sizes.iter().copied().filter(|s| *s < SMALL_OBJECT_BYTES).collect();
        Sizes { count: sizes.len() as u64, bytes: sizes.iter().sum(), small_count: small.len() as u64, small_bytes: small.iter().sum() }
    }

    /// Its objects under 128 KiB.
    pub fn small(&self) -> Sizes {
        Sizes { count: self.small_count, bytes: self.small_bytes, small_count: self.small_count, small_bytes: self.small_bytes }
    }

    /// Its objects of 128 KiB or more.
    pub fn large(&self) -> Sizes {
        Sizes { count: self.count - self.small_count, bytes: self.bytes - self.small_bytes, small_count: 0, small_bytes: 0 }
    }
}

/// What one action on a set of objects costs and saves, in USD.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Estimate {
    pub monthly_before: f64,
    pub monthly_after: f64,
    pub monthly_saving: f64,
    /// The one-off cost of the transition requests.
    pub transition_cost: f64,
    /// What the target class's minimum duration bills when the next action comes sooner.
    pub minimum_duration_charge: f64,
}

/// A month in estimates is 30 days.
const DAYS_PER_MONTH: f64 = 30.0;

impl PriceTable {
    /// Moving `sizes` from `from` to `to` (None: purged). `days_in_target` is how long the
    /// objects stay there before the next action, if one is scheduled.
    pub fn estimate(&self, from: StorageClass, to: Option<StorageClass>, sizes: &Sizes, days_in_target: Option<i64>) -> Result<Estimate, NoPrice> {
        let before = self.month(from, sizes)?;
        let Some(to) = to else {
            return Ok(Estimate { monthly_before: before, monthly_saving: before, ..Estimate::default() });
        };
        let after = self.month(to, sizes)?;
        let min_days = i64::from(self.class(to)?.min_days);
        let short = days_in_target.map_or(0, |d| (min_days - d.max(0)).max(0));
        Ok(Estimate {
            monthly_before: before,
            monthly_after: after,
            monthly_saving: before - after,
            transition_cost: self.transition(to, sizes.count)?,
            minimum_duration_charge: after * short as f64 / DAYS_PER_MONTH,
        })
    }
}

/// A class's prices. Only the storage price is required: what a class does not charge (or slm
/// never does with it, such as moving files into INTELLIGENT_TIERING) is left out.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ClassPrice {
    pub gb_month: f64,
    /// Moving 1,000 objects into the class; absent for classes slm never moves files into.
    #[serde(default)]
    pub transition_per_1000: Option<f64>,
    #[serde(default)]
    pub min_days: u32,
    #[serde(default)]
    pub min_object_bytes: u64,
    #[serde(default)]
    pub archive_overhead_bytes: u64,
    #[serde(default)]
    pub standard_overhead_bytes: u64,
    /// A month of monitoring 1,000 objects of 128 KiB or more (INTELLIGENT_TIERING).
    #[serde(default)]
    pub monitoring_per_1000: f64,
    /// 1,000 GET or HEAD requests on objects in the class.
    #[serde(default)]
    pub get_per_1000: f64,
    /// Reading one GB of the class (STANDARD_IA, ONEZONE_IA, GLACIER_IR).
    #[serde(default)]
    pub retrieval_per_gb: f64,
    /// Restoring from the class, by retrieval tier (GLACIER, DEEP_ARCHIVE).
    #[serde(default)]
    pub restore: BTreeMap<String, RestorePrice>,
    /// INTELLIGENT_TIERING's tiers below Frequent Access, per GB-month: INFREQUENT,
    /// ARCHIVE_INSTANT, ARCHIVE, DEEP_ARCHIVE.
    #[serde(default)]
    pub tiers: BTreeMap<String, f64>,
}

/// A restore from an archive class at one retrieval tier.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestorePrice {
    pub per_gb: f64,
    pub per_1000: f64,
}

/// What slm's own requests cost (the services it runs on), for the cost of running it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePrices {
    pub dynamodb_write_per_million: f64,
    pub dynamodb_read_per_million: f64,
    pub sqs_per_million: f64,
    pub lambda_per_million: f64,
    pub lambda_gb_second: f64,
    pub states_per_1000_transitions: f64,
    pub sns_per_million: f64,
    /// A GB-month of DynamoDB storage (the registry at rest).
    pub dynamodb_gb_month: f64,
}

/// What the price table cannot price: a class it lists no price for (OUTPOSTS and SNOW are
/// billed with their hardware, and S3 may name classes the table does not know yet), or a move
/// into a class it has no transition price for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no {what} price for {class} in the price table")]
pub struct NoPrice {
    pub class: StorageClass,
    /// "storage", "transition", "restore" or "tier".
    pub what: &'static str,
}

impl From<NoPrice> for Error {
    fn from(e: NoPrice) -> Self {
        Error::validation(e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PriceTable {
    pub region: String,
    /// The date the figures were read from the sources.
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub sources: Vec<String>,
    classes: BTreeMap<String, ClassPrice>,
    #[serde(default)]
    pub services: ServicePrices,
}

impl PriceTable {
    pub fn from_json(text: &str) -> Result<Self> {
        let table: PriceTable = serde_json::from_str(text).map_err(|e| Error::Config(format!("price table: {e}")))?;
        // Estimates move files from STANDARD (whose rate also bills archive overheads) to the
        // archive targets: those must be priced. Other classes are priced when listed.
        for c in std::iter::once(StorageClass::Standard).chain(StorageClass::ARCHIVE_TARGETS) {
            if table.class(c).is_err() || table.transition(c, 0).is_err() {
                return Err(Error::Config(format!("price table has no storage or transition price for {c}")));
            }
        }
        Ok(table)
    }

    /// The table in config/prices.json, built into the functions (change the file and deploy),
    /// parsed once per process.
    pub fn bundled() -> &'static Self {
        static TABLE: std::sync::OnceLock<PriceTable> = std::sync::OnceLock::new();
        TABLE.get_or_init(|| Self::from_json(include_str!("../../../config/prices.json")).expect("config/prices.json is checked by the unit tests"))
    }

    pub fn class(&self, class: StorageClass) -> Result<&ClassPrice, NoPrice> {
        self.classes.get(class.as_str()).ok_or(NoPrice { class, what: "storage" })
    }

    /// Monthly storage cost of one object of `size` bytes in `class`.
    pub fn object_month(&self, class: StorageClass, size: u64) -> Result<f64, NoPrice> {
        self.month(class, &Sizes::of(&[size]))
    }

    /// Monthly storage cost of a set of objects in `class`: small objects billed at the class's
    /// minimum, the per-object index overhead partly at the archive rate, partly at STANDARD's,
    /// and the monitoring of objects not small. INTELLIGENT_TIERING is priced at its Frequent
    /// Access rate: what S3 bills until an object goes unread, the most it can cost.
    pub fn month(&self, class: StorageClass, sizes: &Sizes) -> Result<f64, NoPrice> {
        let p = self.class(class)?;
        let billed = if p.min_object_bytes > 0 {
            sizes.bytes - sizes.small_bytes + sizes.small_count * p.min_object_bytes.max(SMALL_OBJECT_BYTES)
        } else {
            sizes.bytes
        } + sizes.count * p.archive_overhead_bytes;
        let standard = self.class(StorageClass::Standard)?.gb_month;
        let monitored = (sizes.count - sizes.small_count) as f64 / 1000.0 * p.monitoring_per_1000;
        Ok(billed as f64 / GB * p.gb_month + (sizes.count * p.standard_overhead_bytes) as f64 / GB * standard + monitored)
    }

    /// Restoring `sizes` from `class` at `tier`: requests and retrieval, not the restored copy's
    /// storage (billed at STANDARD's rate for the restore's days).
    pub fn restore(&self, class: StorageClass, tier: RestoreTier, sizes: &Sizes) -> Result<f64, NoPrice> {
        let p = self.class(class)?.restore.get(tier.as_str()).ok_or(NoPrice { class, what: "restore" })?;
        Ok(sizes.count as f64 / 1000.0 * p.per_1000 + sizes.bytes as f64 / GB * p.per_gb)
    }

    /// Reading `bytes` from `class` once (zero for classes without a retrieval fee).
    pub fn retrieval(&self, class: StorageClass, bytes: u64) -> Result<f64, NoPrice> {
        Ok(bytes as f64 / GB * self.class(class)?.retrieval_per_gb)
    }

    /// A GB-month in one of INTELLIGENT_TIERING's tiers ("FREQUENT" is its class price).
    pub fn tiering(&self, tier: &str) -> Result<f64, NoPrice> {
        let p = self.class(StorageClass::IntelligentTiering)?;
        match tier {
            "FREQUENT" => Ok(p.gb_month),
            t => p.tiers.get(t).copied().ok_or(NoPrice { class: StorageClass::IntelligentTiering, what: "tier" }),
        }
    }

    /// The size under which one object costs more a month in `to` than in `from`: the 128 KB
    /// minimum of the infrequent classes and GLACIER_IR, the 40 KB index of GLACIER and
    /// DEEP_ARCHIVE. None when no size does (or a class is not priced).
    pub fn break_even_bytes(&self, from: StorageClass, to: StorageClass) -> Option<u64> {
        let cost = |class, size| self.object_month(class, size).ok();
        let (mut lo, mut hi) = (0u64, 1u64 << 40);
        if cost(to, hi)? >= cost(from, hi)? {
            return None;
        }
        if cost(to, 0)? <= cost(from, 0)? {
            return None;
        }
        // Costs grow with size in both classes and `to` is cheaper per byte: bisect.
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if cost(to, mid)? > cost(from, mid)? { lo = mid } else { hi = mid }
        }
        Some(hi)
    }

    /// What the objects under 128 KiB of `sizes` cost more a month in `to` than in `from` (zero
    /// or less when they do not).
    pub fn small_objects_loss(&self, from: StorageClass, to: StorageClass, sizes: &Sizes) -> Result<f64, NoPrice> {
        let small = sizes.small();
        Ok(self.month(to, &small)? - self.month(from, &small)?)
    }

    /// One-off cost of moving `objects` objects into `class`.
    pub fn transition(&self, class: StorageClass, objects: u64) -> Result<f64, NoPrice> {
        let per_1000 = self.class(class)?.transition_per_1000.ok_or(NoPrice { class, what: "transition" })?;
        Ok(objects as f64 / 1000.0 * per_1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices() -> PriceTable {
        PriceTable::from_json(include_str!("../../../config/prices.json")).unwrap()
    }

    fn month(class: StorageClass, size: u64) -> f64 {
        prices().object_month(class, size).unwrap()
    }

    #[test]
    fn a_gib_in_standard_costs_the_listed_rate() {
        assert!((month(StorageClass::Standard, 1 << 30) - 0.023).abs() < 1e-9);
    }

    #[test]
    fn small_objects_are_billed_at_the_128k_minimum_in_glacier_ir_and_one_zone_ia() {
        for class in [StorageClass::GlacierIr, StorageClass::OnezoneIa] {
            assert_eq!(month(class, 1), month(class, 128 * 1024), "{class}");
        }
    }

    #[test]
    fn deep_archive_adds_40k_per_object_partly_at_the_standard_rate() {
        let expected = 32768.0 / GB * 0.00099 + 8192.0 / GB * 0.023;
        assert!((month(StorageClass::DeepArchive, 0) - expected).abs() < 1e-15);
    }

    #[test]
    fn intelligent_tiering_adds_monitoring_for_objects_of_128k_or_more() {
        let small = month(StorageClass::IntelligentTiering, 1024);
        assert!((small - 1024.0 / GB * 0.023).abs() < 1e-15, "small objects are not monitored");
        let large = month(StorageClass::IntelligentTiering, 1 << 30);
        assert!((large - (0.023 + 0.0025 / 1000.0)).abs() < 1e-12);
    }

    #[test]
    fn every_class_with_a_public_price_is_priced_and_the_others_say_so() {
        use StorageClass::*;
        let p = prices();
        for class in [Standard, StandardIa, OnezoneIa, IntelligentTiering, GlacierIr, Glacier, DeepArchive, ExpressOnezone] {
            assert!(p.object_month(class, 1 << 30).unwrap() > 0.0, "{class}");
        }
        let unknown = StorageClass::from_s3(Some("NEW_CLASS")).unwrap();
        for class in [Outposts, Snow, ReducedRedundancy, unknown] {
            let err = p.object_month(class, 1 << 30).unwrap_err();
            assert_eq!(err.to_string(), format!("no storage price for {class} in the price table"));
            assert!(p.estimate(class, Some(Glacier), &Sizes::of(&[1]), None).is_err());
        }
        // slm never moves files into these: no transition price, and an estimate says so
        let err = p.estimate(Standard, Some(ExpressOnezone), &Sizes::of(&[1]), None).unwrap_err();
        assert_eq!(err.to_string(), "no transition price for EXPRESS_ONEZONE in the price table");
    }

    #[test]
    fn a_target_without_a_transition_price_is_refused() {
        let p = PriceTable::from_json(r#"{"region":"x","classes":{
            "STANDARD": {"gb_month": 0.023, "transition_per_1000": 0.005}, "STANDARD_IA": {"gb_month": 0.0125, "transition_per_1000": 0.01},
            "GLACIER_IR": {"gb_month": 0.004, "transition_per_1000": 0.02}, "GLACIER": {"gb_month": 0.0036, "transition_per_1000": 0.03},
            "DEEP_ARCHIVE": {"gb_month": 0.00099}}}"#);
        assert_eq!(p.unwrap_err().to_string(), "configuration: price table has no storage or transition price for DEEP_ARCHIVE");
    }

    #[test]
    fn a_table_missing_a_class_is_refused() {
        let err = PriceTable::from_json(r#"{"region":"x","classes":{}}"#).unwrap_err();
        assert!(err.to_string().contains("STANDARD"), "{err}");
    }

    #[test]
    fn asset_sizes_bill_small_objects_at_the_minimum_without_reading_files() {
        let p = prices();
        let files = [1024, 4096, 1 << 20, 3 << 30];
        for class in [StorageClass::GlacierIr, StorageClass::IntelligentTiering] {
            let one_by_one: f64 = files.iter().map(|s| month(class, *s)).sum();
            assert!((p.month(class, &Sizes::of(&files)).unwrap() - one_by_one).abs() < 1e-12, "{class}");
        }
    }

    #[test]
    fn an_archive_estimate_saves_the_difference_and_pays_transitions() {
        let p = prices();
        let sizes = Sizes::of(&vec![1 << 30; 1000]);
        let e = p.estimate(StorageClass::Standard, Some(StorageClass::Glacier), &sizes, None).unwrap();
        assert!((e.monthly_before - 23.0).abs() < 1e-9);
        assert!((e.monthly_saving - (e.monthly_before - e.monthly_after)).abs() < 1e-12);
        assert!((e.transition_cost - 0.03).abs() < 1e-12);
        assert_eq!(e.minimum_duration_charge, 0.0);
    }

    #[test]
    fn leaving_a_class_before_its_minimum_duration_bills_the_rest() {
        let p = prices();
        let sizes = Sizes::of(&[1 << 30]);
        let e = p.estimate(StorageClass::Standard, Some(StorageClass::DeepArchive), &sizes, Some(60)).unwrap();
        // 180 days minimum, 60 spent: 120 days (4 months) of the DEEP_ARCHIVE price.
        assert!((e.minimum_duration_charge - 4.0 * e.monthly_after).abs() < 1e-12);
        assert_eq!(p.estimate(StorageClass::Standard, Some(StorageClass::DeepArchive), &sizes, Some(200)).unwrap().minimum_duration_charge, 0.0);
    }

    #[test]
    fn a_purge_saves_everything_it_cost() {
        let p = prices();
        let sizes = Sizes::of(&[5 << 30]);
        let e = p.estimate(StorageClass::Glacier, None, &sizes, None).unwrap();
        assert_eq!(e.monthly_after, 0.0);
        assert!((e.monthly_saving - p.month(StorageClass::Glacier, &sizes).unwrap()).abs() < 1e-12);
    }

    #[test]
    fn restores_and_retrievals_are_priced_per_request_and_per_gb_and_a_tier_without_a_price_says_so() {
        let p = prices();
        let sizes = Sizes::of(&vec![1 << 30; 2000]);
        // 2 × $0.05 in requests and 2,000 GB × $0.01
        assert!((p.restore(StorageClass::Glacier, RestoreTier::Standard, &sizes).unwrap() - 20.1).abs() < 1e-9);
        assert_eq!(p.restore(StorageClass::Glacier, RestoreTier::Bulk, &sizes).unwrap(), 0.0);
        assert!((p.restore(StorageClass::DeepArchive, RestoreTier::Bulk, &sizes).unwrap() - (0.05 + 5.0)).abs() < 1e-9);
        let err = p.restore(StorageClass::DeepArchive, RestoreTier::Expedited, &sizes).unwrap_err();
        assert_eq!(err.to_string(), "no restore price for DEEP_ARCHIVE in the price table");
        assert!((p.retrieval(StorageClass::GlacierIr, 1 << 30).unwrap() - 0.03).abs() < 1e-12);
        assert_eq!(p.retrieval(StorageClass::Standard, 1 << 30).unwrap(), 0.0);
        assert_eq!(p.tiering("FREQUENT").unwrap(), 0.023);
        assert_eq!(p.tiering("DEEP_ARCHIVE").unwrap(), 0.00099);
        assert!(p.tiering("WARM").is_err());
        assert_eq!(p.version, "2026-12-01");
        assert!(p.services.dynamodb_write_per_million > 0.0 && p.services.lambda_gb_second > 0.0);
    }

    #[test]
    fn break_even_sizes_are_where_the_per_object_minimums_stop_costing_more() {
        use StorageClass::*;
        let p = prices();
        // GLACIER: s × 0.023 = (s + 32 KiB) × 0.0036 + 8 KiB × 0.023
        let glacier = (32768.0 * 0.0036 + 8192.0 * 0.023) / (0.023 - 0.0036);
        let be = p.break_even_bytes(Standard, Glacier).unwrap() as f64;
        assert!((be - glacier).abs() <= 1.0, "{be} against {glacier}");
        // GLACIER_IR: s × 0.023 = 128 KiB × 0.004
        let gir = p.break_even_bytes(Standard, GlacierIr).unwrap() as f64;
        assert!((gir - 131072.0 * 0.004 / 0.023).abs() <= 1.0, "{gir}");
        let deep = p.break_even_bytes(Standard, DeepArchive).unwrap();
        assert!((9_000..11_000).contains(&deep), "{deep}");
        assert_eq!(p.break_even_bytes(Glacier, Standard), None, "STANDARD is never cheaper per byte");
        assert_eq!(p.break_even_bytes(Standard, Outposts), None);
        let sizes = Sizes::of(&[1024, 1024, 1 << 30]);
        assert!(p.small_objects_loss(Standard, Glacier, &sizes).unwrap() > 0.0);
        assert!(p.small_objects_loss(Standard, Glacier, &Sizes::of(&[1 << 30])).unwrap() == 0.0);
    }

    #[test]
    fn transitions_are_priced_per_thousand_objects() {
        assert!((prices().transition(StorageClass::Glacier, 2000).unwrap() - 0.06).abs() < 1e-12);
    }
}
