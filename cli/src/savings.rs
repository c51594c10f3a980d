//! `slm report savings` and `slm generate`: the savings case on an S3 Inventory report (a bucket
//! slm has not registered yet), and a synthetic production to make it on.

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use slm_core::domain::inventory::{Manifest, Objects};
use slm_core::domain::layout::{DEFAULT_LAYOUT, KeyLayout};
use slm_core::domain::pricing::PriceTable;
use slm_core::domain::savings::{self, AccessRates, Assumptions, Comparison, Footprint, Read};
use slm_core::domain::{Policy, PolicyDoc, RestoreTier, Title};
use slm_core::draws::SplitMix64;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use crate::report::human;

#[derive(Clone, clap::Args)]
pub struct SavingsArgs {
    /// The S3 Inventory report's manifest.json: a file (its data files are found under the
    /// directory that holds the inventory's destination keys) or s3://bucket/key.
    #[arg(long, value_name = "KEY")]
    pub inventory_manifest: Option<String>,
    /// A production written by `slm generate`: its inventory, titles, reads and policies. Without
    /// this or --inventory-manifest, the registry's assets through the API.
    #[arg(long, value_name = "DIR", conflicts_with = "inventory_manifest")]
    pub production: Option<PathBuf>,
    /// The titles' business dates: {"title": {"launch": "2026-03-31", ...}, ...}.
    #[arg(long)]
    pub titles: Option<PathBuf>,
    /// Reads per asset and day (CSV asset_id,date,reads; gzipped when the name ends in .gz).
    #[arg(long)]
    pub access: Option<PathBuf>,
    /// The policies slm would run: a JSON array of policy documents.
    #[arg(long)]
    pub policies: Option<PathBuf>,
    /// Only this title's assets.
    #[arg(long)]
    pub title: Option<String>,
    /// The horizon, in months of 30 days.
    #[arg(long, default_value_t = 36)]
    pub months: u32,
    /// The first day priced (default: a generated production's assessment day, else the day after
    /// the last read recorded, else today).
    #[arg(long)]
    pub start: Option<NaiveDate>,
    /// How keys name their title, asset type and asset.
    #[arg(long, default_value = DEFAULT_LAYOUT)]
    pub layout: String,
    /// Another price table (another region's), in the format of config/prices.json.
    #[arg(long)]
    pub prices: Option<PathBuf>,
    /// The seed of the reads drawn from the access statistics.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// The tier slm and the lifecycle rule restore with when an archived asset is read.
    #[arg(long, default_value = "Standard")]
    pub restore_tier: String,
    /// How long a restored copy stays (billed at STANDARD's rate; reads within it restore nothing).
    #[arg(long, default_value_t = 7)]
    pub restore_days: u32,
    /// Also write the chart of the cumulative costs (SVG) here.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Print the comparison as JSON (as `--output json`).
    #[arg(long)]
    pub json: bool,
}

impl SavingsArgs {
    /// The defaults, on a production written by `slm generate`.
    pub fn for_production(dir: &Path) -> Self {
        SavingsArgs {
            inventory_manifest: None,
            production: Some(dir.to_path_buf()),
            titles: None,
            access: None,
            policies: None,
            title: None,
            months: 36,
            start: None,
            layout: DEFAULT_LAYOUT.into(),
            prices: None,
            seed: 7,
            restore_tier: "Standard".into(),
            restore_days: 7,
            svg: None,
            json: false,
        }
    }
}

/// Where a production's parts are, as `slm generate` writes them.
struct Parts {
    /// The production's assessment day (`slm generate` writes it).
    start: Option<NaiveDate>,
    manifest: String,
    titles: PathBuf,
    access: PathBuf,
    policies: PathBuf,
}

/// The inventory's destination bucket is the production's `inventory` directory: the report of
/// source bucket `media`, configuration `daily`.
const MANIFEST_KEY: &str = "inventory/media/daily/2026-02-01T01-00Z/manifest.json";
const DATA_KEYS: &str = "media/daily/data/north-star";


fn parts(args: &SavingsArgs) -> Result<Parts> {
    let given = |p: &Option<PathBuf>, what: &str| p.clone().with_context(|| format!("--{what} is needed with --inventory-manifest (or use --production)"));
    match &args.production {
        Some(dir) => Ok(Parts {
            start: production_start(dir)?,
            manifest: dir.join(MANIFEST_KEY).display().to_string(),
            titles: args.titles.clone().unwrap_or_else(|| dir.join("titles.json")),
            access: args.access.clone().unwrap_or_else(|| dir.join("access.csv.gz")),
            policies: args.policies.clone().unwrap_or_else(|| dir.join("policies.json")),
        }),
        None => Ok(Parts {
            start: None,
            manifest: args.inventory_manifest.clone().context("give --inventory-manifest (with --titles, --access and --policies) or --production")?,
            titles: given(&args.titles, "titles")?,
            access: given(&args.access, "access")?,
            policies: given(&args.policies, "policies")?,
        }),
    }
}

/// Whether `dir` holds the whole production `slm generate` writes for this seed and size, by
/// this version of the generator (its assessment.json is written last).
pub fn is_production(dir: &Path, assets: u64, seed: u64) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("assessment.json")) else { return false };
    let v: Value = serde_json::from_str(&text).unwrap_or_default();
    v["generator"] == GENERATOR_VERSION && v["assets"] == assets && v["seed"] == seed
}

fn production_start(dir: &Path) -> Result<Option<NaiveDate>> {
    let path = dir.join("assessment.json");
    if !path.exists() {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path)?).with_context(|| format!("{} is not JSON", path.display()))?;
    Ok(Some(v["start"].as_str().and_then(|s| s.parse().ok()).with_context(|| format!("{} has no start date", path.display()))?))
}

/// Reads an object of the inventory: a local file, or s3://bucket/key with `s3` (by default a
/// client of the usual AWS environment: profile, region, AWS_ENDPOINT_URL).
async fn fetch(location: &str, s3: &mut Option<aws_sdk_s3::Client>) -> Result<Vec<u8>> {
    match location.strip_prefix("s3://") {
        Some(rest) => {
            let (bucket, key) = rest.split_once('/').with_context(|| format!("{location} names no key"))?;
            if s3.is_none() {
                *s3 = Some(slm_core::adapters::aws::Clients::from_env().await.s3);
            }
            let client = s3.as_ref().expect("set above");
            let out = client.get_object().bucket(bucket).key(key).send().await.with_context(|| format!("reading {location}"))?;
            Ok(out.body.collect().await.with_context(|| format!("reading {location}"))?.into_bytes().to_vec())
        }
        None => std::fs::read(location).with_context(|| format!("reading {location}")),
    }
}

/// Where a data file the manifest lists is: beside an s3:// manifest, the destination bucket's
/// key; beside a local one, that key under the first directory above the manifest that holds it.
fn data_location(manifest: &str, key: &str) -> Result<String> {
    if let Some(rest) = manifest.strip_prefix("s3://") {
        let bucket = rest.split('/').next().unwrap_or_default();
        return Ok(format!("s3://{bucket}/{key}"));
    }
    Path::new(manifest)
        .ancestors()
        .skip(1)
        .map(|dir| dir.join(key))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
        .with_context(|| format!("the data file {key} the manifest lists is not under any directory above {manifest}"))
}

async fn read_inventory(manifest_at: &str, layout: &KeyLayout, s3: &mut Option<aws_sdk_s3::Client>) -> Result<Objects> {
    let text = String::from_utf8(fetch(manifest_at, s3).await?).context("the manifest is not UTF-8")?;
    let manifest = Manifest::parse(&text)?;
    let schema = manifest.schema()?;
    let mut objects = Objects::default();
    for f in &manifest.files {
        let at = data_location(manifest_at, &f.key)?;
        let bytes = fetch(&at, s3).await?;
        if bytes.len() as u64 != f.size {
            bail!("{at} has {} bytes, the manifest says {}: the report is incomplete or was rewritten", bytes.len(), f.size);
        }
        objects.read(&schema, layout, GzDecoder::new(bytes.as_slice()), &f.key)?;
    }
    Ok(objects)
}

/// The price table of `--prices`, else the bundled one (config/prices.json).
fn prices(path: Option<&Path>) -> Result<PriceTable> {
    match path {
        Some(p) => Ok(PriceTable::from_json(&std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)?),
        None => Ok(PriceTable::bundled().clone()),
    }
}

fn read_titles(path: &Path) -> Result<BTreeMap<String, Title>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let raw: BTreeMap<String, BTreeMap<String, String>> = serde_json::from_str(&text).with_context(|| format!("{}: expected {{\"title\": {{\"launch\": \"YYYY-MM-DD\"}}}}", path.display()))?;
    // The titles were last changed when their file was.
    let written: chrono::DateTime<chrono::Utc> = std::fs::metadata(path).and_then(|m| m.modified()).with_context(|| format!("reading {}", path.display()))?.into();
    raw.into_iter()
        .map(|(id, dates)| {
            let title = slm_core::domain::TitleBody { name: None, dates }.into_title(&id, written)?;
            Ok((id, title))
        })
        .collect()
}

fn lines(path: &Path) -> Result<Box<dyn BufRead>> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(match path.extension().and_then(|e| e.to_str()) {
        Some("gz") => Box::new(BufReader::new(GzDecoder::new(file))),
        _ => Box::new(BufReader::new(file)),
    })
}

/// Reads per asset and day: (asset, day, reads).
fn read_access(path: &Path) -> Result<Vec<(String, NaiveDate, u64)>> {
    let mut reads = Vec::new();
    for (n, line) in lines(path)?.lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if n == 0 && line.starts_with("asset_id") || line.is_empty() {
            continue;
        }
        let bad = || anyhow::anyhow!("{}, line {}: expected asset_id,YYYY-MM-DD,reads, got {line:?}", path.display(), n + 1);
        let mut f = line.split(',');
        let (Some(asset_id), Some(day), Some(count), None) = (f.next(), f.next(), f.next(), f.next()) else { return Err(bad()) };
        reads.push((asset_id.to_string(), day.parse().map_err(|_| bad())?, count.parse().map_err(|_| bad())?));
    }
    Ok(reads)
}

fn read_policies(path: &Path) -> Result<Vec<Policy>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let docs: Vec<Value> = serde_json::from_str(&text).with_context(|| format!("{} is not a JSON array of policies", path.display()))?;
    docs.into_iter()
        .map(|d| {
            let doc = PolicyDoc::parse(&d.to_string()).with_context(|| format!("{}: policy {}", path.display(), d["policy_id"]))?;
            Ok(Policy { doc, version: 1, created_at: String::new(), created_by: String::new() })
        })
        .collect()
}

/// The comparison of registered assets, as the API makes it (`GET /savings`).
async fn registered(args: &SavingsArgs, target: &crate::api::Target) -> Result<Comparison> {
    let mut path = format!("/savings?months={}&seed={}", args.months, args.seed);
    if let Some(t) = &args.title {
        path.push_str(&format!("&title={}", urlencoding::encode(t)));
    }
    if let Some(d) = args.start {
        path.push_str(&format!("&start={d}"));
    }
    let given = [
        ("--titles", args.titles.is_some()),
        ("--access", args.access.is_some()),
        ("--policies", args.policies.is_some()),
        ("--prices", args.prices.is_some()),
        ("--restore-tier", args.restore_tier != "Standard"),
        ("--restore-days", args.restore_days != 7),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, set)| *set) {
        bail!("{flag} goes with --inventory-manifest or --production; the registry's assessment uses its own titles, reads, policies and prices");
    }
    let out = crate::api::Api::connect(target).await?.call("GET", &path, None).await?;
    serde_json::from_value(out).context("the API's answer is not a savings comparison")
}

/// The comparison for the arguments: the footprint from the inventory, the rates from the reads.
pub async fn assess(args: &SavingsArgs) -> Result<Comparison> {
    assess_with(args, None).await
}

/// [`assess`], reading an s3:// report with this client.
async fn assess_with(args: &SavingsArgs, mut s3: Option<aws_sdk_s3::Client>) -> Result<Comparison> {
    let parts = parts(args)?;
    let layout: KeyLayout = args.layout.parse()?;
    let prices = prices(args.prices.as_deref())?;
    let titles = read_titles(&parts.titles)?;
    let policies = read_policies(&parts.policies)?;
    let objects = read_inventory(&parts.manifest, &layout, &mut s3).await?;
    let (outside, not_current) = (objects.outside_layout, objects.not_current);
    let mut assets = objects.into_assets();
    if let Some(t) = &args.title {
        assets.retain(|a| &a.title_id == t);
        if assets.is_empty() {
            bail!("the inventory holds no asset of title {t}");
        }
    }
    if assets.is_empty() {
        bail!("no object of the inventory fits the layout {}", args.layout);
    }
    if outside.0 > 0 || not_current > 0 {
        eprintln!("left out: {} objects ({}) outside the layout, {not_current} noncurrent versions and delete markers", outside.0, human(outside.1 as f64));
    }
    // Each asset's reads count for its type and title; reads of assets not in the footprint
    // (another title, or gone) are left out.
    let placed: BTreeMap<&str, &slm_core::domain::Asset> = assets.iter().map(|a| (a.asset_id.as_str(), a)).collect();
    let reads: Vec<Read> = read_access(&parts.access)?
        .into_iter()
        .filter_map(|(id, day, count)| placed.get(id.as_str()).map(|a| Read { title_id: a.title_id.clone(), asset_type: a.asset_type.clone(), day, count }))
        .collect();
    let observed_until = reads.iter().map(|r| r.day).max();
    let start = match (args.start, parts.start, observed_until) {
        (Some(s), _, _) | (None, Some(s), _) => s,
        (None, None, Some(last)) => last.succ_opt().unwrap_or(last),
        (None, None, None) => chrono::Utc::now().date_naive(),
    };
    let launch_date = "launch".to_string();
    let launches: BTreeMap<String, NaiveDate> = titles.iter().filter_map(|(id, t)| t.dates.get(&launch_date).map(|d| (id.clone(), *d))).collect();
    let rates = AccessRates::observe(&assets, &launches, &reads, observed_until.unwrap_or(start), 30);
    let restore_tier: RestoreTier = args.restore_tier.parse()?;
    let assumptions = Assumptions { start, months: args.months, launch_date, restore_tier, restore_days: args.restore_days, seed: args.seed };
    if args.months == 0 || args.months > 120 {
        bail!("--months must be between 1 and 120, got {}", args.months);
    }
    Ok(savings::compare(&Footprint { assets, titles }, &policies, &rates, &prices, &assumptions)?)
}

pub async fn report(args: SavingsArgs, target: &crate::api::Target) -> Result<()> {
    let c = match (&args.inventory_manifest, &args.production) {
        (None, None) => registered(&args, target).await?,
        _ => assess(&args).await?,
    };
    if let Some(path) = &args.svg {
        std::fs::write(path, slm_local::charts::savings(&c)?).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json || crate::output::json() {
        println!("{}", serde_json::to_string_pretty(&c)?);
        return Ok(());
    }
    print!("{}", text(&c));
    if let Some(path) = &args.svg {
        println!("chart: {}", path.display());
    }
    Ok(())
}

fn usd(v: f64) -> String {
    if v != 0.0 && v.abs() < 1.0 {
        return format!("{}${:.4}", if v < 0.0 { "-" } else { "" }, v.abs());
    }
    let whole = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    format!("{}${out}", if v < 0.0 { "-" } else { "" })
}

/// The percentages a platform team quotes: what each strategy saves against the status quo at
/// 6 months and at the horizon.
pub fn headline(c: &Comparison) -> String {
    let months = c.assumptions.months as usize;
    let pct = |name: &str, m: usize| c.saved(name, m).map_or("-".into(), |p| format!("{:.0} %", p * 100.0));
    let mut out = format!("slm saves {} of the status quo's cost over 6 months and {} over {months}", pct(savings::SLM, 6), pct(savings::SLM, months));
    for other in [savings::INTELLIGENT_TIERING, savings::INTELLIGENT_TIERING_ARCHIVE, savings::AGE_RULE, savings::INSTANT_AGE_RULE] {
        if let Some(s) = c.strategy(other) {
            out.push_str(&format!("; {other}: {} and {} ({} reads waited for a restore)", pct(other, 6), pct(other, months), s.restores));
        }
    }
    out
}

/// The comparison as text: the strategies side by side at 6 months and at the horizon, what
/// each pays for, and the warnings.
pub fn text(c: &Comparison) -> String {
    use std::fmt::Write;
    let a = &c.assumptions;
    let months = a.months as usize;
    let short = 6.min(months);
    let mut out = String::new();
    let _ = writeln!(out, "savings on {} files in {} assets ({}), {} months from {}, prices {}", c.files, c.assets, human(c.bytes as f64), a.months, a.start, c.prices);
    let _ = writeln!(out, "reads drawn from the access statistics: {} asset-days (seed {}); an archived asset read is restored ({}, {} days)\n", c.reads, a.seed, a.restore_tier.as_str(), a.restore_days);
    let _ = writeln!(out, "{:<40} {:>12} {:>7} {:>13} {:>7}  what it does", "strategy", format!("{short} months"), "saved", format!("{months} months"), "saved");
    for s in &c.strategies {
        let pct = |m| c.saved(&s.strategy, m).map_or("-".to_string(), |p| format!("{:.1}%", p * 100.0));
        let _ = writeln!(out, "{:<40} {:>12} {:>7} {:>13} {:>7}  {}", s.strategy, usd(s.cumulative(short)), pct(short), usd(s.cumulative(months)), pct(months), s.detail);
    }
    let _ = writeln!(out, "\nwhat each pays over {months} months:");
    let _ = writeln!(out, "{:<40} {:>12} {:>11} {:>11} {:>11} {:>11} {:>11} {:>9}", "strategy", "storage", "monitoring", "transitions", "retrieval", "early del.", "slm itself", "restores");
    for s in &c.strategies {
        let k = &s.costs;
        let _ = writeln!(out, "{:<40} {:>12} {:>11} {:>11} {:>11} {:>11} {:>11} {:>9}", s.strategy, usd(k.storage), usd(k.monitoring), usd(k.transitions), usd(k.retrieval), usd(k.early_deletion), usd(k.running), s.restores);
    }
    let _ = writeln!(out, "(restores: reads of an asset that waited hours for it to be restored)");
    if c.warnings.is_empty() {
        let _ = writeln!(out, "\nno policy loses money on this footprint");
    } else {
        let _ = writeln!(out, "\nwhere a policy loses money:");
        for w in &c.warnings {
            let _ = writeln!(out, "  {} ({}): {}", w.policy_id, w.kind, w.message);
        }
    }
    out
}

#[derive(clap::Args)]
pub struct CostArgs {
    /// Files per task (an asset's files: a task is one asset's action).
    #[arg(long, default_value_t = 100)]
    pub files_per_task: u64,
    /// Another price table (another region's), in the format of config/prices.json.
    #[arg(long)]
    pub prices: Option<PathBuf>,
}

/// What running slm costs per million files archived, restored and purged, by service, and its
/// registry at rest: the measured requests per file priced by the table (docs/cost.md).
pub fn cost(args: CostArgs) -> Result<()> {
    use slm_core::domain::StorageClass;
    use slm_core::domain::pricing::Sizes;
    let prices = prices(args.prices.as_deref())?;
    const MILLION: u64 = 1_000_000;
    let services = ["DynamoDB", "SQS", "Lambda", "Step Functions", "SNS"];
    let mut rows: Vec<(String, Vec<f64>, f64)> = Vec::new();
    let gib = Sizes { count: MILLION, bytes: MILLION << 30, small_count: 0, small_bytes: 0 };
    for (label, action, s3) in [
        ("archive to GLACIER", "archive", prices.transition(StorageClass::Glacier, MILLION)? + MILLION as f64 / 1000.0 * prices.class(StorageClass::Standard)?.get_per_1000),
        ("archive to DEEP_ARCHIVE", "archive", prices.transition(StorageClass::DeepArchive, MILLION)? + MILLION as f64 / 1000.0 * prices.class(StorageClass::Standard)?.get_per_1000),
        ("restore from GLACIER, Bulk", "restore", prices.restore(StorageClass::Glacier, RestoreTier::Bulk, &gib)?),
        ("restore from GLACIER, Standard", "restore", prices.restore(StorageClass::Glacier, RestoreTier::Standard, &gib)?),
        ("purge", "purge", 0.0),
    ] {
        let by = savings::running_by_service(&prices, action, &gib, args.files_per_task);
        rows.push((label.to_string(), by.iter().map(|(_, v)| *v).collect(), s3));
    }
    if crate::output::json() {
        let out: Vec<Value> = rows.iter().map(|(label, by, s3)| json!({"action": label, "slm": services.iter().zip(by).map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(), "s3": s3})).collect();
        return crate::output::print(&json!({"per_million_files": out, "files_per_task": args.files_per_task, "registry_per_million_files_month": savings::registry_month(&prices, MILLION), "prices": format!("{} ({})", prices.region, prices.version)}));
    }
    println!("running slm per 1,000,000 files of 1 GiB, tasks of {} files, prices {} ({}), USD", args.files_per_task, prices.region, prices.version);
    println!("{:<32} {:>9} {:>9} {:>9} {:>15} {:>9} {:>10} {:>12}", "action", services[0], services[1], services[2], services[3], services[4], "slm total", "S3 (1 GiB)");
    for (label, by, s3) in &rows {
        let total: f64 = by.iter().sum();
        println!("{:<32} {:>9.2} {:>9.2} {:>9.2} {:>15.2} {:>9.2} {:>10.2} {:>12.2}", label, by[0], by[1], by[2], by[3], by[4], total, s3);
    }
    println!("(files of 1 GiB; Lambda's copy time is assumed: 8 s per GiB, 16 copies at once in 256 MB)");
    println!("(S3: the requests the action makes: a copy or transition and a HEAD, a restore's requests and retrieval; purge's DeleteObjects are free)");
    println!("at rest: the registry of 1,000,000 files costs ${:.2} a month in DynamoDB storage", savings::registry_month(&prices, MILLION));
    Ok(())
}

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// The directory to write the production into (created; must be empty if it exists).
    #[arg(long)]
    pub out: PathBuf,
    /// How many assets.
    #[arg(long, default_value_t = 50_000)]
    pub assets: u64,
    /// The seed of the sizes, dates and reads drawn: the same seed writes the same production.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Rows per data file of the inventory (S3 splits a large report into several).
    #[arg(long, default_value_t = 250_000)]
    pub rows_per_file: u64,
}

/// One asset type of the synthetic production.
pub struct Kind {
    pub name: &'static str,
    /// Per mille of the assets.
    pub share: u64,
    pub files: u64,
    pub mib: f64,
    /// Small sidecar files per asset and their size in KiB.
    pub small: (u64, u64),
    /// Created between these days after the shoot begins.
    pub created: (i64, i64),
    /// Reads per asset per day before launch, then peak × e^(-days/tau) + floor.
    pub before: f64,
    pub peak: f64,
    pub tau: f64,
    pub floor: f64,
}

/// A live-action feature: shot from 2025-03-01 for four months, in post-production until
/// 2026-01-31, launched 2026-03-31. Sizes and reads are documented in docs/savings.md.
pub const KINDS: [Kind; 8] = [
    Kind { name: "camera_original", share: 120, files: 12, mib: 1536.0, small: (1, 6), created: (0, 120), before: 0.02, peak: 0.01, tau: 20.0, floor: 0.0002 },
    Kind { name: "dailies", share: 80, files: 4, mib: 2048.0, small: (0, 0), created: (1, 121), before: 0.01, peak: 0.005, tau: 15.0, floor: 0.00005 },
    Kind { name: "vfx_plate", share: 160, files: 50, mib: 48.0, small: (0, 0), created: (120, 300), before: 0.03, peak: 0.01, tau: 20.0, floor: 0.0002 },
    Kind { name: "vfx_render", share: 160, files: 50, mib: 64.0, small: (0, 0), created: (150, 330), before: 0.03, peak: 0.02, tau: 30.0, floor: 0.0005 },
    Kind { name: "editorial", share: 200, files: 10, mib: 600.0, small: (0, 0), created: (0, 330), before: 0.05, peak: 0.05, tau: 45.0, floor: 0.001 },
    Kind { name: "audio", share: 100, files: 8, mib: 300.0, small: (0, 0), created: (120, 330), before: 0.04, peak: 0.03, tau: 60.0, floor: 0.002 },
    Kind { name: "temp_render", share: 120, files: 20, mib: 250.0, small: (0, 0), created: (150, 330), before: 0.02, peak: 0.0, tau: 1.0, floor: 0.0 },
    Kind { name: "stills", share: 60, files: 2, mib: 20.0, small: (20, 30), created: (0, 330), before: 0.04, peak: 0.05, tau: 90.0, floor: 0.005 },
];

pub const TITLE: &str = "north-star";
const SHOOT: &str = "2025-03-01";
const POST_END: &str = "2026-01-31";
const LAUNCH: &str = "2026-03-31";
/// The day the assessment starts: post-production is over, nothing is archived yet.
pub const START: &str = "2026-02-01";
/// Changes when the generator writes another production for the same seed: a production written
/// by another version is written again by the demo, not reused.
pub const GENERATOR_VERSION: u32 = 1;
/// The reads stand for the studio's statistics of its earlier titles: drawn here from the same
/// shape, from each asset's creation to three years after launch.
const HISTORY_DAYS: i64 = 3 * 365;

/// The policies a team would write for this production from the access report.
fn production_policies() -> Value {
    let p = |id: &str, types: &[&str], anchor: &str, days: u32, action: Value, priority: u32| {
        json!({"policy_id": id, "selector": {"asset_types": types}, "anchor": anchor, "offset_days": days, "action": action, "priority": priority})
    };
    let archive = |class: &str| json!({"action": "archive", "storage_class": class});
    json!([
        p("dailies-to-deep-archive", &["dailies"], "title.post_production_end", 0, archive("DEEP_ARCHIVE"), 10),
        p("camera-to-deep-archive", &["camera_original"], "title.launch", 30, archive("DEEP_ARCHIVE"), 10),
        p("plates-to-deep-archive", &["vfx_plate"], "title.launch", 30, archive("DEEP_ARCHIVE"), 10),
        p("renders-to-glacier-ir", &["vfx_render"], "title.launch", 0, archive("GLACIER_IR"), 10),
        p("renders-to-deep-archive", &["vfx_render"], "title.launch", 180, archive("DEEP_ARCHIVE"), 20),
        p("editorial-to-glacier-ir", &["editorial"], "title.launch", 30, archive("GLACIER_IR"), 10),
        p("editorial-to-deep-archive", &["editorial"], "title.launch", 365, archive("DEEP_ARCHIVE"), 20),
        p("audio-to-glacier-ir", &["audio"], "title.launch", 30, archive("GLACIER_IR"), 10),
        p("purge-temp-renders", &["temp_render"], "title.launch", 0, json!({"action": "purge"}), 50),
    ])
}

fn day(s: &str) -> NaiveDate {
    s.parse().expect("a date of the production")
}

/// Writes the synthetic production: an S3 Inventory report (manifest and gzipped CSV), the
/// title's dates, the reads per asset and day, and the policies.
pub fn generate(args: GenerateArgs) -> Result<()> {
    if args.assets == 0 || args.assets > 1_000_000 {
        bail!("--assets must be between 1 and 1,000,000, got {}", args.assets);
    }
    if args.out.exists() && std::fs::read_dir(&args.out)?.next().is_some() {
        bail!("{} is not empty: give a new directory", args.out.display());
    }
    let mut draws = SplitMix64::new(args.seed);
    let (shoot, launch) = (day(SHOOT), day(LAUNCH));
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut csv = GzEncoder::new(Vec::new(), Compression::fast());
    let mut access = GzEncoder::new(Vec::new(), Compression::fast());
    writeln!(access, "asset_id,date,reads")?;
    let (mut files, mut bytes, mut reads) = (0u64, 0u64, 0u64);
    let counts: Vec<u64> = KINDS.iter().map(|k| args.assets * k.share / 1000).collect();
    let mut n = 0;
    for (k, kind) in KINDS.iter().enumerate() {
        // The first kind takes what the shares leave over.
        let count = counts[k] + if k == 0 { args.assets - counts.iter().sum::<u64>() } else { 0 };
        let after: Vec<f64> = (0..=HISTORY_DAYS).map(|d| kind.peak * (-(d as f64) / kind.tau).exp() + kind.floor).collect();
        for i in 0..count {
            n += 1;
            let asset = format!("ns-{}-{i:05}", kind.name.replace('_', "-"));
            let created = shoot + chrono::Duration::days(draws.between(kind.created.0 as u64, kind.created.1 as u64 + 1) as i64);
            for f in 0..kind.files + kind.small.0 {
                let size = if f < kind.files {
                    (kind.mib * 1024.0 * 1024.0 * (0.5 + draws.uniform())) as u64
                } else {
                    (kind.small.1 as f64 * 1024.0 * (0.5 + draws.uniform())) as u64
                };
                let modified = created + chrono::Duration::days(draws.between(0, 3) as i64);
                let ext = if f < kind.files { "mxf" } else { "xml" };
                writeln!(csv, "\"media\",\"{TITLE}/{}/{asset}/{f:04}.{ext}\",\"{size}\",\"{}T12:00:00.000Z\",\"STANDARD\"", kind.name, modified)?;
                files += 1;
                bytes += size;
                if files % args.rows_per_file.max(1) == 0 {
                    parts.push(std::mem::replace(&mut csv, GzEncoder::new(Vec::new(), Compression::fast())).finish()?);
                }
            }
            // Reads from creation to three years after launch, a Poisson process at the kind's rate.
            let mut wait = draws.exponential();
            for since in (created - launch).num_days()..=HISTORY_DAYS {
                let mut left = if since < 0 { kind.before } else { after[since as usize] };
                let mut today = 0;
                while wait < left {
                    today += 1;
                    left -= wait;
                    wait = draws.exponential();
                }
                wait -= left;
                if today > 0 {
                    writeln!(access, "{asset},{},{today}", launch + chrono::Duration::days(since))?;
                    reads += today;
                }
            }
        }
    }
    if files % args.rows_per_file.max(1) != 0 {
        parts.push(csv.finish()?);
    }
    let dir = &args.out;
    let write = |rel: &str, body: &[u8]| -> Result<()> {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("a parent"))?;
        std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))
    };
    let mut listed = Vec::new();
    for (i, data) in parts.iter().enumerate() {
        let key = format!("{DATA_KEYS}-{i}.csv.gz");
        write(&format!("inventory/{key}"), data)?;
        listed.push(json!({"key": key, "size": data.len(), "MD5checksum": ""}));
    }
    let manifest = json!({
        "sourceBucket": "media",
        "destinationBucket": "arn:aws:s3:::inventory",
        "version": "2016-11-30",
        "creationTimestamp": "1769907600000",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size, LastModifiedDate, StorageClass",
        "files": listed,
    });
    write(MANIFEST_KEY, serde_json::to_string_pretty(&manifest)?.as_bytes())?;
    write("titles.json", serde_json::to_string_pretty(&json!({TITLE: {"post_production_end": POST_END, "launch": LAUNCH}}))?.as_bytes())?;
    write("access.csv.gz", &access.finish()?)?;
    write("policies.json", serde_json::to_string_pretty(&production_policies())?.as_bytes())?;
    write("assessment.json", serde_json::to_string_pretty(&json!({"start": START, "seed": args.seed, "generator": GENERATOR_VERSION, "assets": args.assets}))?.as_bytes())?;
    println!("{}: {n} assets, {files} files, {} in STANDARD, {reads} reads recorded (seed {})", dir.display(), human(bytes as f64), args.seed);
    println!("assess it: slm report savings --production {}", dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn production(assets: u64) -> (PathBuf, SavingsArgs) {
        let dir = std::env::temp_dir().join(format!("slm-production-{}-{assets}-{}", std::process::id(), uuid::Uuid::new_v4()));
        generate(GenerateArgs { out: dir.clone(), assets, seed: 3, rows_per_file: 10_000 }).unwrap();
        let args = SavingsArgs::for_production(&dir);
        (dir, args)
    }

    #[tokio::test]
    async fn a_generated_production_is_assessed_from_every_data_file_its_manifest_lists() {
        let (dir, args) = production(1000);
        let manifest: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(MANIFEST_KEY)).unwrap()).unwrap();
        let files = manifest["files"].as_array().unwrap().len();
        assert_eq!(files, 3, "24,400 rows, 10,000 a file");
        assert!(is_production(&dir, 1000, 3) && !is_production(&dir, 1000, 4) && !is_production(&dir, 999, 3));
        let c = assess(&args).await.unwrap();
        assert_eq!((c.assets, c.files), (1000, 24_400), "every row of every data file");
        assert_eq!(c.assumptions.start, day(START));
        // The same production and seed give the same figures.
        let again = assess(&args).await.unwrap();
        assert_eq!(c, again);
        let text = text(&c);
        for s in &c.strategies {
            assert!(text.contains(&s.strategy), "{text}");
        }
        let svg = slm_local::charts::savings(&c).unwrap();
        assert!(svg.contains("slm, ") && svg.contains("status quo"), "the legend names the strategies");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// The same production as an S3 Inventory report in a bucket of the local stack: the
    /// manifest and every data file read from S3, and the same figures as from the files.
    #[tokio::test]
    async fn a_report_in_s3_is_read_from_its_manifest_and_data_files() {
        let (dir, args) = production(300);
        let session = slm_local::session::Session::start_with("savings-s3", Default::default()).await.unwrap();
        let s3 = session.clients.s3.clone();
        let root = dir.join("inventory");
        let mut keys = vec![MANIFEST_KEY.trim_start_matches("inventory/").to_string()];
        let manifest: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(MANIFEST_KEY)).unwrap()).unwrap();
        keys.extend(manifest["files"].as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap().to_string()));
        for key in &keys {
            let body = std::fs::read(root.join(key)).unwrap();
            s3.put_object().bucket(&session.bucket).key(key).body(body.into()).send().await.unwrap();
        }
        let from_files = assess(&args).await.unwrap();
        let mut in_s3 = args.clone();
        in_s3.production = None;
        in_s3.inventory_manifest = Some(format!("s3://{}/{}", session.bucket, keys[0]));
        in_s3.titles = Some(dir.join("titles.json"));
        in_s3.access = Some(dir.join("access.csv.gz"));
        in_s3.policies = Some(dir.join("policies.json"));
        in_s3.start = Some(day(START));
        let from_s3 = assess_with(&in_s3, Some(s3.clone())).await.unwrap();
        assert_eq!(from_s3, from_files);
        // A data file the manifest lists and the bucket lacks is an error, not a smaller footprint.
        s3.delete_object().bucket(&session.bucket).key(&keys[1]).send().await.unwrap();
        let err = format!("{:#}", assess_with(&in_s3, Some(s3)).await.unwrap_err());
        assert!(err.contains(&format!("reading s3://{}/{}", session.bucket, keys[1])), "{err}");
        session.stop().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn an_incomplete_or_rewritten_report_is_refused() {
        let (dir, args) = production(40);
        let data = dir.join("inventory").join(format!("{DATA_KEYS}-0.csv.gz"));
        let bytes = std::fs::read(&data).unwrap();
        std::fs::write(&data, &bytes[..bytes.len() - 1]).unwrap();
        let err = assess(&args).await.unwrap_err().to_string();
        assert!(err.contains("bytes, the manifest says"), "{err}");
        std::fs::remove_file(&data).unwrap();
        let err = assess(&args).await.unwrap_err().to_string();
        assert!(err.contains("is not under any directory above"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn the_registry_s_assessment_refuses_what_only_an_inventory_s_takes() {
        let mut args = SavingsArgs::for_production(Path::new("unused"));
        args.production = None;
        args.restore_days = 3;
        let err = registered(&args, &Default::default()).await.unwrap_err().to_string();
        assert!(err.starts_with("--restore-days goes with --inventory-manifest or --production"), "{err}");
    }

    #[tokio::test]
    async fn bad_arguments_and_inputs_get_a_clear_error() {
        let (dir, mut args) = production(40);
        args.title = Some("another-title".into());
        assert_eq!(assess(&args).await.unwrap_err().to_string(), "the inventory holds no asset of title another-title");
        args.title = None;
        args.months = 0;
        assert!(assess(&args).await.unwrap_err().to_string().contains("--months must be between 1 and 120"));
        args.months = 36;
        args.restore_tier = "Slow".into();
        assert!(assess(&args).await.unwrap_err().to_string().contains("unknown restore tier"));
        args.restore_tier = "Standard".into();
        std::fs::write(dir.join("policies.json"), r#"[{"policy_id":"x","anchor":"title.launch","offset_days":-1,"action":{"action":"purge"}}]"#).unwrap();
        let err = format!("{:#}", assess(&args).await.unwrap_err());
        assert!(err.contains("offset_days must be between 0"), "{err}");
        let err = generate(GenerateArgs { out: dir.clone(), assets: 10, seed: 1, rows_per_file: 10 }).unwrap_err().to_string();
        assert!(err.contains("is not empty"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
