//! What moved and what it saves, priced from config/prices.json (as built into the functions:
//! `PriceTable::bundled`), and what the functions' metrics say moved, day by day.

use anyhow::{Context, Result};
use slm_local::metrics_log::ActivityRow;
use std::path::PathBuf;
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

fn month(prices: &PriceTable, class: Option<StorageClass>, sizes: &[u64]) -> Result<f64> {
    match class {
        None => Ok(0.0),
        Some(c) => Ok(prices.month(c, &slm_core::domain::pricing::Sizes::of(sizes))?),
    }
}

pub fn human(bytes: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", units[i])
}

/// Prints the table of what moved and the monthly cost before and after, at the demo's size: the
/// proof that the mechanism works. Its tiny files cost more archived (the per-object overheads
/// outweigh them); what slm saves on a real production is the savings case that follows it.
pub fn print(lines: &[Line], prices: &PriceTable) -> Result<()> {
    println!("\n{:<22} {:<16} {:>6} {:>10}  {:<13} {:<13} state", "asset", "type", "files", "bytes", "before", "after");
    for l in lines {
        let bytes: u64 = l.sizes.iter().sum();
        let after = l.after.as_ref().map_or("(purged)", StorageClass::as_str);
        println!("{:<22} {:<16} {:>6} {:>10}  {:<13} {:<13} {}", l.asset_id, l.asset_type, l.sizes.len(), human(bytes as f64), l.before.as_str(), after, l.state);
    }
    let before: f64 = lines.iter().map(|l| month(prices, Some(l.before), &l.sizes)).sum::<Result<f64>>()?;
    let after: f64 = lines.iter().map(|l| month(prices, l.after, &l.sizes)).sum::<Result<f64>>()?;
    let one_off: f64 = lines
        .iter()
        .filter(|l| l.after.is_some_and(|a| a != l.before))
        .map(|l| prices.transition(l.after.expect("filtered"), l.sizes.len() as u64))
        .sum::<Result<f64, _>>()?;
    let total: u64 = lines.iter().flat_map(|l| l.sizes.iter()).sum();
    println!("{:>22} {:>10}: ${before:.6}/month before, ${after:.6}/month after, one-off transitions ${one_off:.4}", "this demo", human(total as f64));
    println!("(tiny files cost more archived: 40 KiB of index per GLACIER/DEEP_ARCHIVE object and GLACIER_IR's 128 KiB minimum outweigh them; media files are large)");
    Ok(())
}

#[derive(clap::Args)]
pub struct ActivityArgs {
    /// Read these metrics (EMF lines, or a function's log holding them) instead of the local
    /// stack's.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Also write the chart (SVG) here.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

/// Files and bytes moved per day by action and class, from the functions' metrics: the local
/// stack's at the configured endpoint (`slm_local::metrics_log`), or a file of them.
pub fn activity(args: ActivityArgs) -> Result<()> {
    let path = match &args.file {
        Some(p) => p.clone(),
        // The stack at the configured endpoint, whether `slm local up` or the demo made it.
        None => slm_local::metrics_log::file_for(&slm_local::endpoint()),
    };
    if args.file.is_some() && !path.exists() {
        anyhow::bail!("{} does not exist", path.display());
    }
    let rows = slm_local::metrics_log::activity(&slm_local::metrics_log::read(&path)?);
    if crate::output::json() {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print_activity(&rows);
    }
    if let Some(svg) = &args.svg {
        write_activity_chart(&rows, svg)?;
    }
    Ok(())
}

/// The activity as a table, with each action's totals.
pub fn print_activity(rows: &[ActivityRow]) {
    if rows.is_empty() {
        println!("no files moved yet (the functions' metrics hold no Files data point)");
        return;
    }
    println!("{:<10}  {:<8} {:<20} {:>10} {:>10}", "day", "action", "class", "files", "bytes");
    for r in rows {
        println!("{:<10}  {:<8} {:<20} {:>10} {:>10}", r.day, r.action, r.class, r.files, human(r.bytes as f64));
    }
    let mut totals: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
    for r in rows {
        let t = totals.entry(r.action.as_str()).or_default();
        t.0 += r.files;
        t.1 += r.bytes;
    }
    for (action, (files, bytes)) in totals {
        println!("{:<10}  {action:<8} {:<20} {files:>10} {:>10}", "total", "(every class)", human(bytes as f64));
    }
}

pub fn write_activity_chart(rows: &[ActivityRow], path: &std::path::Path) -> Result<()> {
    std::fs::write(path, slm_local::charts::activity(rows)?).with_context(|| format!("writing {}", path.display()))?;
    if !crate::output::json() {
        println!("chart: {}", path.display());
    }
    Ok(())
}
