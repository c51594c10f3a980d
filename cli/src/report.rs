//! What moved and what it saves, priced from config/prices.json (as built into the functions:
//! `PriceTable::bundled`).

use anyhow::Result;
use slm_core::domain::StorageClass;
use slm_core::domain::pricing::PriceTable;

/// One asset's line in the report: its files' sizes and classes before and after.
pub struct Line {
    pub asset_id: String,
    pub asset_type: String,
    pub sizes: Vec<u64>,
    pub before: StorageClass,
    /// None when the asset was purged.
    pub after: Option<StorageClass>,
    pub state: String,
}

fn month(prices: &PriceTable, class: Option<StorageClass>, sizes: &[u64], scale: f64) -> Result<f64> {
    match class {
        None => Ok(0.0),
        Some(c) => Ok(sizes.iter().map(|&s| prices.object_month(c, (s as f64 * scale) as u64)).sum::<Result<f64, _>>()?),
    }
}

fn human(bytes: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", units[i])
}

/// Prints the table of what moved and the monthly cost before and after, at the demo's size and
/// scaled to `project_bytes` (the same files, each scaled up: media files are large, so the
/// per-object overheads that dominate tiny demo files fade).
pub fn print(lines: &[Line], prices: &PriceTable, project_bytes: f64) -> Result<()> {
    println!("\n{:<22} {:<16} {:>6} {:>10}  {:<13} {:<13} state", "asset", "type", "files", "bytes", "before", "after");
    for l in lines {
        let bytes: u64 = l.sizes.iter().sum();
        let after = l.after.as_ref().map_or("(purged)", StorageClass::as_str);
        println!("{:<22} {:<16} {:>6} {:>10}  {:<13} {:<13} {}", l.asset_id, l.asset_type, l.sizes.len(), human(bytes as f64), l.before.as_str(), after, l.state);
    }
    let total: u64 = lines.iter().flat_map(|l| l.sizes.iter()).sum();
    let scale = project_bytes / total.max(1) as f64;
    for (label, k) in [("this demo", 1.0), ("scaled to a title of", scale)] {
        let before: f64 = lines.iter().map(|l| month(prices, Some(l.before), &l.sizes, k)).sum::<Result<f64>>()?;
        let after: f64 = lines.iter().map(|l| month(prices, l.after, &l.sizes, k)).sum::<Result<f64>>()?;
        let one_off: f64 = lines
            .iter()
            .filter(|l| l.after.is_some_and(|a| a != l.before))
            .map(|l| prices.transition(l.after.expect("filtered"), l.sizes.len() as u64))
            .sum::<Result<f64, _>>()?;
        let size = human(total as f64 * k);
        let saved = if before > 0.0 { 100.0 * (before - after) / before } else { 0.0 };
        println!(
            "{label:>22} {size:>10}: ${before:>12.4}/month before, ${after:>12.4}/month after ({saved:.0}% saved), one-off transitions ${one_off:.4}"
        );
    }
    println!("(tiny files cost more archived: 40 KiB of index per GLACIER/DEEP_ARCHIVE object and GLACIER_IR's 128 KiB minimum outweigh them; media files are large)");
    println!("(prices: config/prices.json, {}; minimum storage durations apply to early deletion or re-archive)", prices.region);
    Ok(())
}
