//! The access report: by asset type, reads per asset per day against days since launch, the
//! day after which an asset type is (almost) never read again, and what archiving it from that
//! day would save. It is how recommended policies are derived from the statistics.

use super::action::StorageClass;
use super::pricing::{Estimate, NoPrice, PriceTable, Sizes};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Accesses of one asset type on one day, counted from its title's launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRow {
    pub asset_type: String,
    pub days_since_launch: i64,
    pub accesses: u64,
}

/// The assets of one type: how many (in launched titles) and their sizes still in STANDARD.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeAssets {
    pub assets: u64,
    pub standard: Sizes,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeCurve {
    pub asset_type: String,
    pub assets: u64,
    /// (first day of the bin since launch, reads per asset per day in it).
    pub points: Vec<(i64, f64)>,
    /// The first bin after which reads per asset per day stay under the threshold.
    pub recommended_offset_days: Option<i64>,
    /// Archiving the type's STANDARD assets to the target class.
    pub projected: Option<Estimate>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessReport {
    pub bin_days: i64,
    pub horizon_days: i64,
    /// Reads per asset per day under which a type counts as cold.
    pub threshold: f64,
    pub target: StorageClass,
    pub types: Vec<TypeCurve>,
}

/// Builds the report from the access rows and the assets by type; a target the price table
/// cannot price is an error, not a saving of zero.
pub fn access_report(rows: &[AccessRow], assets: &BTreeMap<String, TypeAssets>, bin_days: i64, horizon_days: i64, threshold: f64, target: StorageClass, prices: &PriceTable) -> Result<AccessReport, NoPrice> {
    let bins = (horizon_days / bin_days).max(1) as usize;
    let mut sums: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for r in rows.iter().filter(|r| (0..bins as i64 * bin_days).contains(&r.days_since_launch)) {
        sums.entry(r.asset_type.as_str()).or_insert_with(|| vec![0; bins])[(r.days_since_launch / bin_days) as usize] += r.accesses;
    }
    let types = assets
        .iter()
        .filter(|(_, a)| a.assets > 0)
        .map(|(asset_type, a)| {
            let zero = vec![0; bins];
            let counts = sums.get(asset_type.as_str()).unwrap_or(&zero);
            let points: Vec<(i64, f64)> = counts.iter().enumerate().map(|(i, c)| (i as i64 * bin_days, *c as f64 / a.assets as f64 / bin_days as f64)).collect();
            // The last bin at or over the threshold; the next one starts the cold period.
            let recommended = match points.iter().rposition(|(_, rate)| *rate >= threshold) {
                Some(last_hot) if last_hot + 1 < points.len() => Some(points[last_hot + 1].0),
                Some(_) => None,
                None => Some(0),
            };
            let projected = (a.standard.count > 0 && recommended.is_some()).then(|| prices.estimate(StorageClass::Standard, Some(target), &a.standard, None)).transpose()?;
            Ok(TypeCurve { asset_type: asset_type.clone(), assets: a.assets, points, recommended_offset_days: recommended, projected })
        })
        .collect::<Result<_, NoPrice>>()?;
    Ok(AccessReport { bin_days, horizon_days: bins as i64 * bin_days, threshold, target, types })
}

impl AccessReport {
    /// The report as text: one line per type with its recommendation and saving.
    pub fn text(&self) -> String {
        let mut out = format!(
            "reads per asset per day by days since launch ({}-day bins, cold below {} reads per asset per day)\n\n",
            self.bin_days, self.threshold
        );
        let _ = writeln!(out, "{:<20} {:>7}  {:<34} {:>14} {:>14} {:>12}", "asset type", "assets", "first bins (reads/asset/day)", "archive after", "saves $/month", "transitions");
        for t in &self.types {
            let head: Vec<String> = t.points.iter().take(5).map(|(_, r)| format!("{r:.2}")).collect();
            let after = t.recommended_offset_days.map_or("never cold".to_string(), |d| format!("{d} days"));
            let (saving, transitions) = t.projected.map_or(("-".to_string(), "-".to_string()), |e| (format!("{:.2}", e.monthly_saving), format!("{:.2}", e.transition_cost)));
            let _ = writeln!(out, "{:<20} {:>7}  {:<34} {:>14} {:>14} {:>12}", t.asset_type, t.assets, head.join(" "), after, saving, transitions);
        }
        let _ = writeln!(out, "\nsavings: the type's assets now in STANDARD archived to {}; the recommendation as a policy: anchor title.launch, offset_days = archive after", self.target);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices() -> &'static PriceTable {
        PriceTable::bundled()
    }

    fn rows(asset_type: &str, days: &[(i64, u64)]) -> Vec<AccessRow> {
        days.iter().map(|(d, c)| AccessRow { asset_type: asset_type.into(), days_since_launch: *d, accesses: *c }).collect()
    }

    fn assets(types: &[(&str, u64)]) -> BTreeMap<String, TypeAssets> {
        types.iter().map(|(t, n)| (t.to_string(), TypeAssets { assets: *n, standard: Sizes::of(&vec![1 << 30; *n as usize]) })).collect()
    }

    #[test]
    fn the_recommended_offset_starts_the_first_bin_that_stays_cold() {
        // Editorial is read for 3 weeks, then not; a late read in week 10 keeps plates warm until then.
        let mut r = rows("editorial", &[(0, 70), (8, 70), (15, 70)]);
        r.extend(rows("vfx_plate", &[(0, 70), (70, 70)]));
        let report = access_report(&r, &assets(&[("editorial", 10), ("vfx_plate", 10)]), 7, 182, 0.01, StorageClass::GlacierIr, prices()).unwrap();
        let by: BTreeMap<&str, &TypeCurve> = report.types.iter().map(|t| (t.asset_type.as_str(), t)).collect();
        assert_eq!(by["editorial"].recommended_offset_days, Some(21));
        assert_eq!(by["vfx_plate"].recommended_offset_days, Some(77));
        assert!((by["editorial"].points[0].1 - 1.0).abs() < 1e-12, "70 reads / 10 assets / 7 days");
    }

    #[test]
    fn a_type_never_read_is_cold_from_launch_and_one_read_to_the_end_is_never_cold() {
        let r = rows("audio", &[(180, 100)]);
        let report = access_report(&r, &assets(&[("audio", 1), ("stills", 5)]), 7, 182, 0.01, StorageClass::Glacier, prices()).unwrap();
        let by: BTreeMap<&str, &TypeCurve> = report.types.iter().map(|t| (t.asset_type.as_str(), t)).collect();
        assert_eq!(by["stills"].recommended_offset_days, Some(0));
        assert_eq!(by["audio"].recommended_offset_days, None);
        assert!(by["audio"].projected.is_none(), "no saving is projected for a type that never goes cold");
    }

    #[test]
    fn the_projected_saving_archives_the_types_standard_assets() {
        let report = access_report(&[], &assets(&[("stills", 1000)]), 7, 182, 0.01, StorageClass::GlacierIr, prices()).unwrap();
        let e = report.types[0].projected.unwrap();
        assert!((e.monthly_before - 23.0).abs() < 1e-9, "1,000 GiB in STANDARD");
        assert!((e.monthly_after - 4.0).abs() < 1e-9, "in GLACIER_IR");
        assert!((e.transition_cost - 0.02).abs() < 1e-12);
    }
}
