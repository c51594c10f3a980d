//! `slm policy|title|dry-run|evaluate`: the Policy Manager on the local stack, through the API
//! handler (as a caller with an IAM identity) and the evaluator's scheduled handler.

use crate::api::Api;
use crate::local::{Saved, clients, load};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use slm_local::runner::{Runner, RunnerOptions};
use std::path::PathBuf;

/// Parses `key=value`.
pub fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| format!("expected key=value, got {s:?}"))
}

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Creates a policy from a JSON document (see docs/architecture.md, "Policies").
    Create {
        /// A JSON file with the policy (see docs/architecture.md, "Policies").
        #[arg(long)]
        file: PathBuf,
    },
    /// Stores a changed document as the policy's next version.
    Edit {
        /// A JSON file with the policy's new version.
        #[arg(long)]
        file: PathBuf,
    },
    /// The current version of every policy.
    List,
    /// One policy, its current or a given version.
    Show {
        /// The policy's id.
        policy_id: String,
        #[arg(long)]
        version: Option<u32>,
    },
    /// Disables a policy (a new version that acts on nothing).
    Disable {
        /// The policy's id.
        policy_id: String,
    },
    /// Enables a disabled policy (a new version).
    Enable {
        /// The policy's id.
        policy_id: String,
    },
}

#[derive(Subcommand)]
pub enum TitleCommand {
    /// Creates a title or replaces its dates; its assets follow the new dates.
    Set {
        /// The title's id.
        title_id: String,
        /// The title's name.
        #[arg(long)]
        name: Option<String>,
        /// A business date as name=YYYY-MM-DD (repeatable): launch, post_production_end, ...
        #[arg(long = "date", value_parser = key_value)]
        dates: Vec<(String, String)>,
    },
    /// Shows a title: its name and business dates.
    Show {
        /// The title's id.
        title_id: String,
    },
}

#[derive(Args)]
pub struct DryRunArgs {
    /// The day to evaluate, YYYY-MM-DD (or an RFC 3339 time).
    #[arg(long)]
    pub at: String,
    /// Most actions listed (the totals count all).
    #[arg(long)]
    pub limit: Option<usize>,
}

#[derive(Args)]
pub struct EvaluateArgs {
    /// The scheduled event's time, e.g. 2027-06-01T02:00:00Z.
    #[arg(long)]
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Args)]
pub struct AccessReportArgs {
    /// The title date days are counted from.
    #[arg(long, default_value = "launch")]
    pub anchor: String,
    /// The width of the report's bins, in days since launch.
    #[arg(long, default_value_t = 7)]
    pub bin_days: i64,
    /// How many days after launch the report covers.
    #[arg(long, default_value_t = 364)]
    pub horizon_days: i64,
    /// Reads per asset per day under which an asset type counts as cold.
    #[arg(long, default_value_t = 0.01)]
    pub threshold: f64,
    /// The class the projected savings archive to.
    #[arg(long, default_value = "GLACIER_IR")]
    pub target: String,
    /// Also write the chart (SVG) here.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

/// The access report: reads per asset per day by days since launch, by asset type, with the
/// recommended archive offset and its saving. It reads the tables directly (an analytics job).
pub async fn access_report(args: AccessReportArgs) -> Result<()> {
    let saved = load()?;
    let clients = clients(&saved.stack.endpoint).await;
    let config = slm_local::runner::function_config(saved.stack.function("slm-api")?, &Default::default())?;
    let core = slm_core::adapters::AwsCore::new(&clients, config);
    let prices = slm_core::domain::pricing::PriceTable::bundled();
    let report = core.access_report(&args.anchor, args.bin_days, args.horizon_days, args.threshold, args.target.parse()?, prices).await?;
    if let Some(path) = &args.svg {
        std::fs::write(path, slm_local::charts::access(&report)?).with_context(|| format!("writing {}", path.display()))?;
    }
    if crate::output::json() {
        return print_json(&serde_json::to_value(&report)?);
    }
    print!("{}", report.text());
    if let Some(path) = &args.svg {
        println!("chart: {}", path.display());
    }
    Ok(())
}

fn read_doc(file: &PathBuf) -> Result<Value> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))
}

fn print_json(v: &Value) -> Result<()> {
    crate::output::print(v)
}

pub async fn run_policy(command: PolicyCommand, api: &Api) -> Result<()> {
    match command {
        PolicyCommand::Create { file } => print_json(&api.call("POST", "/policies", Some(read_doc(&file)?)).await?),
        PolicyCommand::Edit { file } => {
            let doc = read_doc(&file)?;
            let id = doc["policy_id"].as_str().context("the document has no policy_id")?.to_string();
            print_json(&api.call("PUT", &format!("/policies/{id}"), Some(doc)).await?)
        }
        PolicyCommand::List => {
            let out = api.call("GET", "/policies", None).await?;
            if crate::output::json() {
                return print_json(&out);
            }
            println!("{:<24} {:>3} {:<8} {:>4} {:<28} {:>6}  action", "policy", "v", "enabled", "prio", "anchor", "days");
            for p in out["policies"].as_array().into_iter().flatten() {
                println!(
                    "{:<24} {:>3} {:<8} {:>4} {:<28} {:>6}  {}",
                    p["policy_id"].as_str().unwrap_or("?"),
                    p["version"].to_string(),
                    p["enabled"].to_string(),
                    p["priority"].to_string(),
                    p["anchor"].as_str().unwrap_or("?"),
                    p["offset_days"].to_string(),
                    action_text(&p["action"])
                );
            }
            Ok(())
        }
        PolicyCommand::Show { policy_id, version } => {
            let path = match version {
                Some(v) => format!("/policies/{policy_id}?version={v}"),
                None => format!("/policies/{policy_id}"),
            };
            print_json(&api.call("GET", &path, None).await?)
        }
        PolicyCommand::Disable { policy_id } => print_json(&api.call("POST", &format!("/policies/{policy_id}/disable"), None).await?),
        PolicyCommand::Enable { policy_id } => print_json(&api.call("POST", &format!("/policies/{policy_id}/enable"), None).await?),
    }
}

pub async fn run_title(command: TitleCommand, api: &Api) -> Result<()> {
    match command {
        TitleCommand::Set { title_id, name, dates } => {
            let dates: serde_json::Map<String, Value> = dates.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            let body = crate::local::strip_nulls(json!({"name": name, "dates": dates}));
            print_json(&api.call("PUT", &format!("/titles/{title_id}"), Some(body)).await?)
        }
        TitleCommand::Show { title_id } => print_json(&api.call("GET", &format!("/titles/{title_id}"), None).await?),
    }
}

pub async fn dry_run(args: DryRunArgs, api: &Api) -> Result<()> {
    let body = crate::local::strip_nulls(json!({"at": args.at, "limit": args.limit}));
    let out = api.call("POST", "/dry-run", Some(body)).await?;
    if crate::output::json() {
        return print_json(&out);
    }
    println!("dry-run for {} ({} policies): nothing was created", out["day"].as_str().unwrap_or("?"), out["policies"]);
    print_actions(&out);
    Ok(())
}

pub async fn reconcile(args: EvaluateArgs) -> Result<()> {
    let saved: Saved = load()?;
    let clients = clients(&saved.stack.endpoint).await;
    let runner = Runner::start(&saved.stack, &clients, RunnerOptions::default())?;
    let out = runner.send_schedule("slm-reconciler", args.at).await;
    let swept = match &out {
        Ok(_) => crate::local::wait_drained(&clients, &saved.stack.queue("ReconcileQueue")?.url, std::time::Duration::from_secs(600), "reconciler's sweep").await,
        Err(_) => Ok(()),
    };
    runner.stop().await;
    let out = out?;
    swept?;
    if crate::output::json() {
        return print_json(&out);
    }
    println!("reconciliation at {}: {} open tasks checked, asset sweep done", out["at"].as_str().unwrap_or("?"), out["tasks_checked"]);
    for (kind, n) in out["repairs"].as_object().into_iter().flatten() {
        println!("  {kind}: {n}");
    }
    println!("each asset's repairs: slm asset repairs <asset>");
    Ok(())
}

pub async fn evaluate(args: EvaluateArgs) -> Result<()> {
    let saved: Saved = load()?;
    let clients = clients(&saved.stack.endpoint).await;
    let runner = Runner::start(&saved.stack, &clients, RunnerOptions::default())?;
    let out = runner.send_schedule("slm-evaluator", args.at).await;
    runner.stop().await;
    let out = out?;
    if crate::output::json() {
        return print_json(&out);
    }
    println!("evaluation at {}: {} tasks created, {} due assets read", out["evaluated_at"].as_str().unwrap_or("?"), out["tasks_created"], out["assets_read"]);
    print_actions(&out);
    Ok(())
}

fn action_text(a: &Value) -> String {
    match a["storage_class"].as_str() {
        Some(class) => format!("{} -> {class}", a["action"].as_str().unwrap_or("?")),
        None => a["action"].as_str().unwrap_or("?").to_string(),
    }
}

fn usd(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{x:.6}"))
}

fn size(v: &Value) -> String {
    let b = v.as_f64().unwrap_or(0.0);
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let i = (b.max(1.0).log(1024.0).floor() as usize).min(units.len() - 1);
    format!("{:.1} {}", b / 1024f64.powi(i as i32), units[i])
}

/// An evaluation's (or dry-run's) actions and totals as a table.
pub fn print_actions(e: &Value) {
    let actions = e["actions"].as_array().cloned().unwrap_or_default();
    if actions.is_empty() {
        println!("  nothing due");
        return;
    }
    println!("  {:<22} {:<24} {:<10} {:<28} {:>7} {:>10} {:>11} {:>10}  outcome", "asset", "action", "due", "policy", "files", "size", "saves $/mo", "transition");
    for a in &actions {
        let est = &a["estimate"];
        println!(
            "  {:<22} {:<24} {:<10} {:<28} {:>7} {:>10} {:>11} {:>10}  {}",
            a["asset_id"].as_str().unwrap_or("?"),
            action_text(a),
            a["due"].as_str().unwrap_or("?"),
            format!("{} v{}", a["policy"]["policy_id"].as_str().unwrap_or("?"), a["policy"]["version"]),
            a["files"].to_string(),
            size(&a["bytes"]),
            usd(&est["monthly_saving"]),
            usd(&est["transition_cost"]),
            a["outcome"].as_str().unwrap_or("?")
        );
        if let Some(reason) = a["reason"].as_str() {
            println!("  {:<22} {reason}", "");
        }
        if let Some(why) = a["no_estimate"].as_str() {
            println!("  {:<22} no estimate: {why}", "");
        }
        for w in a["warnings"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            println!("  {:<22} warning: {w}", "");
        }
    }
    let t = &e["totals"];
    println!(
        "  total: {} assets, {} files, {}; saves ${}/month for ${} of transitions (+${} minimum-duration charges)",
        t["assets"], t["files"], size(&t["bytes"]), usd(&t["monthly_saving"]), usd(&t["transition_cost"]), usd(&t["minimum_duration_charge"])
    );
}
