//! `slm demo` and `slm bench`: a production on the local stack, end to end.

use crate::local::watch;
use crate::report::{self, Line};
use anyhow::{Context, Result};
use clap::Args;
use serde_json::{Value, json};
use slm_core::domain::StorageClass;
use slm_local::session::{ADMIN, CALLER, Options, Session};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct DemoArgs {
    /// Scale the files per asset (1 = about 1,100 files in all).
    #[arg(long, default_value_t = 1)]
    pub scale: usize,
}

struct DemoAsset {
    id: &'static str,
    kind: &'static str,
    phase: &'static str,
    files: usize,
    bytes: usize,
}

const TITLE: &str = "the-long-night";
const EDITORIAL_APP: &str = "arn:aws:iam::123456789012:role/editorial-app";
const LEGAL_APP: &str = "arn:aws:iam::123456789012:role/legal-app";

/// Grants as "restore on editorial in the-long-night; hold".
fn grants_text(grants: &Value) -> String {
    let list = |v: &Value| v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","));
    grants
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            let mut text = list(&g["actions"]).unwrap_or_default();
            if let Some(t) = list(&g["asset_types"]) {
                text.push_str(&format!(" on {t}"));
            }
            if let Some(t) = list(&g["title_ids"]) {
                text.push_str(&format!(" in {t}"));
            }
            text
        })
        .collect::<Vec<_>>()
        .join("; ")
}

const PRODUCTION: [DemoAsset; 4] = [
    DemoAsset { id: "tln-camera-a001", kind: "camera_original", phase: "final", files: 400, bytes: 8192 },
    DemoAsset { id: "tln-editorial-reel1", kind: "editorial", phase: "final", files: 150, bytes: 2048 },
    DemoAsset { id: "tln-vfx-plates-sq10", kind: "vfx_plate", phase: "final", files: 300, bytes: 4096 },
    DemoAsset { id: "tln-temp-renders", kind: "temp_render", phase: "temp", files: 250, bytes: 4096 },
];

/// The production's policies: (id, selector, anchor, offset, action, priority).
fn policies() -> Vec<Value> {
    let p = |id: &str, selector: Value, anchor: &str, days: u32, action: Value, priority: u32| {
        json!({"policy_id": id, "selector": selector, "anchor": anchor, "offset_days": days, "action": action, "priority": priority})
    };
    vec![
        p("finals-to-glacier", json!({"phases": ["final"]}), "title.post_production_end", 30, json!({"action": "archive", "storage_class": "GLACIER"}), 10),
        p("camera-to-deep-archive", json!({"asset_types": ["camera_original"]}), "title.post_production_end", 30, json!({"action": "archive", "storage_class": "DEEP_ARCHIVE"}), 20),
        p("plates-to-glacier-ir", json!({"asset_types": ["vfx_plate"], "phases": ["final"]}), "title.post_production_end", 30, json!({"action": "archive", "storage_class": "GLACIER_IR"}), 10),
        p("purge-temp-renders", json!({"asset_types": ["temp_render"]}), "title.launch", 180, json!({"action": "purge"}), 50),
    ]
}

/// The savings case the demo's small files cannot make: a synthetic live-action production of
/// 50,000 assets (written once into the data directory, the same for a given seed), assessed
/// as `slm report savings` assesses an S3 Inventory report.
async fn savings_case() -> Result<()> {
    let dir = slm_local::files::data_dir().join("north-star");
    let (assets, seed) = (50_000, 7);
    if !crate::savings::is_production(&dir, assets, seed) {
        let _ = std::fs::remove_dir_all(&dir);
        println!("\nthe savings case: writing a synthetic production (slm generate --out {})", dir.display());
        crate::savings::generate(crate::savings::GenerateArgs { out: dir.clone(), assets, seed, rows_per_file: 250_000 })?;
    }
    let c = crate::savings::assess(&crate::savings::SavingsArgs::for_production(&dir)).await?;
    println!("\nthe savings case, on that production (slm report savings --production {}):", dir.display());
    print!("{}", crate::savings::text(&c));
    let chart = slm_local::files::data_dir().join("demo-savings.svg");
    std::fs::write(&chart, slm_local::charts::savings(&c)?).with_context(|| format!("writing {}", chart.display()))?;
    println!("\n{}\nchart: {}", crate::savings::headline(&c), chart.display());
    Ok(())
}

/// Runs the evaluator at `at`, prints what it did and follows its tasks to their end.
async fn evaluate(s: &Session, at: &str, why: &str) -> Result<Value> {
    println!("\n{at}  {why}");
    let start = Instant::now();
    let e = s.evaluate(at).await?;
    crate::policy::print_actions(&e);
    for a in e["actions"].as_array().into_iter().flatten().filter(|a| a["outcome"] == "created") {
        let task_id = a["task_id"].as_str().context("task id")?;
        let label = format!("{} {}", a["action"].as_str().unwrap_or("?"), a["asset_id"].as_str().unwrap_or("?"));
        let task = watch(&|p: String| async move { s.api_ok("GET", &p, None).await }, task_id, &label).await?;
        anyhow::ensure!(task["status"] == "SUCCEEDED", "{label}: {task}");
    }
    println!("  ({:.1}s)", start.elapsed().as_secs_f64());
    Ok(e)
}

pub async fn demo(args: DemoArgs) -> Result<()> {
    let started = Instant::now();
    println!("slm demo: the title \"The Long Night\", driven by its business dates and policies, on the local stack");
    let s = Session::start_with("demo", Options { versioned: true, ..Default::default() }).await?;
    println!("local stack {} up: tables, queues, topic and state machine from template.yaml", s.stack.prefix);
    s.api_ok("PUT", &format!("/titles/{TITLE}"), Some(json!({"name": "The Long Night", "dates": {"post_production_end": "2027-01-15", "launch": "2027-03-01"}}))).await?;
    println!("title {TITLE}: post-production ends 2027-01-15, launch 2027-03-01");
    for a in &PRODUCTION {
        let prefix = format!("{TITLE}/{}/{}/", a.kind, a.id);
        s.put_objects(&prefix, a.files * args.scale, a.bytes).await?;
        let body = json!({"asset_id": a.id, "title_id": TITLE, "asset_type": a.kind, "phase": a.phase, "bucket": s.bucket, "prefix": prefix});
        let asset = s.api_ok("POST", "/assets", Some(body)).await?;
        println!("registered {:<22} {:>5} files of {} ({})", a.id, asset["file_count"], a.kind, a.phase);
    }
    println!("\npolicies (the higher priority decides, then the more specific selector; see docs/architecture.md):");
    for p in policies() {
        let p = s.api_ok("POST", "/policies", Some(p)).await?;
        let action = &p["action"];
        println!(
            "  {:<24} v{} priority {:>2}: {}{} {} days after {}",
            p["policy_id"].as_str().unwrap_or("?"),
            p["version"],
            p["priority"],
            action["action"].as_str().unwrap_or("?"),
            action["storage_class"].as_str().map(|c| format!(" to {c}")).unwrap_or_default(),
            p["offset_days"],
            p["anchor"].as_str().unwrap_or("?")
        );
    }
    s.wait_rescheduled().await?;

    // Only designated applications: the administrator (the template's AdminPrincipal) registers
    // an editorial app that may restore editorial assets, and a legal app that may place holds.
    println!("\napplications (registered by the administrator; every call is authorized by its IAM principal):");
    for (principal, name, grants) in [
        (EDITORIAL_APP, "editorial", json!([{"actions": ["restore"], "asset_types": ["editorial"], "title_ids": [TITLE]}])),
        (LEGAL_APP, "legal", json!([{"actions": ["hold"]}])),
    ] {
        let (status, out) = s.api_as(ADMIN, "PUT", "/applications", Some(json!({"principal": principal, "name": name, "grants": grants}))).await;
        anyhow::ensure!(status == 201, "register {name}: {status} {out}");
        println!("  {name:<16} {principal}: {}", grants_text(&out["application"]["grants"]));
    }
    println!("  post-production  {CALLER}: everything but the registry");

    let dry = s.api_ok("POST", "/dry-run", Some(json!({"at": "2027-09-01"}))).await?;
    println!("\ndry-run for 2027-09-01: what the policies would have done by then (nothing is created)");
    crate::policy::print_actions(&dry);

    println!("\ntravelling in time: the evaluator's schedule fires on chosen days");
    evaluate(&s, "2026-12-01T02:00:00Z", "during post-production").await?;
    evaluate(&s, "2027-02-14T02:00:00Z", "30 days after post-production ended").await?;

    // A restore finishes when S3 says so: on AWS hours later; moto says so when the object is
    // next read, so the demo reads the files back as an editor would (Session::complete_restores).
    println!("\n2027-05-10  an editor asks for the reel back for 7 days (a request of the editorial app, not a policy)");
    let (status, out) = s.api_as(EDITORIAL_APP, "POST", "/assets/tln-editorial-reel1/tasks", Some(json!({"action": "purge", "request_id": "demo-oops"}))).await;
    anyhow::ensure!(status == 403, "the editorial app purged: {status} {out}");
    println!("  its purge of the reel is refused ({status}): {}", out["message"].as_str().unwrap_or("?"));
    let (status, out) = s.api_as(EDITORIAL_APP, "POST", "/assets/tln-editorial-reel1/tasks", Some(json!({"action": "restore", "days": 7, "tier": "Bulk", "request_id": "demo-restore"}))).await;
    anyhow::ensure!(status == 202, "restore: {status} {out}");
    let restore_id = out["task"]["task_id"].as_str().context("task id")?.to_string();
    s.complete_restores("tln-editorial-reel1", &restore_id, Duration::from_secs(300)).await?;
    let task = watch(&|p: String| { let s = &s; async move { s.api_ok("GET", &p, None).await } }, &restore_id, "restore editorial, 7 days").await?;
    anyhow::ensure!(task["status"] == "SUCCEEDED", "restore: {task}");

    println!("\n2027-06-01  the launch moves from 2027-03-01 to 2027-04-01: the purge moves with it");
    s.api_ok("PUT", &format!("/titles/{TITLE}"), Some(json!({"name": "The Long Night", "dates": {"post_production_end": "2027-01-15", "launch": "2027-04-01"}}))).await?;
    s.wait_rescheduled().await?;
    evaluate(&s, "2027-08-28T02:00:00Z", "180 days after the old launch date").await?;
    println!("\n2027-09-20  legal places a hold on the title (a dispute over the cut): nothing of it may be purged");
    let (status, out) = s.api_as(LEGAL_APP, "PUT", &format!("/titles/{TITLE}/hold"), Some(json!({"reason": "matter 2027-114, dispute over the cut"}))).await;
    anyhow::ensure!(status == 201, "hold: {status} {out}");
    let held = evaluate(&s, "2027-09-28T02:00:00Z", "180 days after the new launch date, under the hold").await?;
    anyhow::ensure!(held["legal_holds"] == 1, "the purge was not held: {held}");
    println!("\n2027-10-04  the matter is settled: legal releases the hold");
    let (status, out) = s.api_as(LEGAL_APP, "DELETE", &format!("/titles/{TITLE}/hold"), None).await;
    anyhow::ensure!(status == 200, "release: {status} {out}");
    // The release puts the title's assets back in the due index, through the control queue.
    s.wait_rescheduled().await?;
    let purged = evaluate(&s, "2027-10-05T02:00:00Z", "the next evaluation after the release").await?;
    anyhow::ensure!(purged["tasks_created"] == 1, "the purge did not follow the release: {purged}");

    println!("\naudit trail of tln-temp-renders (every request and policy decision on it, newest first):");
    for e in s.audit("asset=tln-temp-renders").await?.iter().filter(|e| !e["action"].as_str().unwrap_or_default().starts_with("GET ")) {
        println!("  {}", crate::security::line(e));
    }

    let events = slm_local::session::dedupe(&s.drain_events().await?);
    println!("\ncompletion events received by a subscriber: {}", events.len());
    for e in &events {
        println!("  {} {:<8} {:<22} {}", e["event_type"].as_str().unwrap_or("?"), e["action"].as_str().unwrap_or("?"), e["asset_id"].as_str().unwrap_or("?"), e["status"].as_str().unwrap_or("?"));
    }
    let mut lines = Vec::new();
    for a in &PRODUCTION {
        let asset = s.api_ok("GET", &format!("/assets/{}", a.id), None).await?;
        let files = s.file_items(a.id).await?;
        let sizes: Vec<u64> = files.values().map(|f| f.get("size_bytes").and_then(|v| v.parse().ok()).unwrap_or(0)).collect();
        let state = asset["state"].as_str().unwrap_or("?").to_string();
        let after = if state == "PURGED" { None } else { Some(asset["storage_class"].as_str().unwrap_or("STANDARD").parse::<StorageClass>()?) };
        lines.push(Line { asset_id: a.id.into(), asset_type: a.kind.into(), sizes, before: StorageClass::Standard, after, state });
    }
    report::print(&lines, slm_core::domain::pricing::PriceTable::bundled())?;
    savings_case().await?;
    // The days above are the title's; the metrics are stamped with the time the functions ran.
    println!("\nwhat moved today, by the functions' metrics (the deployed stack's dashboard; here `slm report activity`):");
    let rows = slm_local::metrics_log::activity(&s.runner().metrics.points()?);
    report::print_activity(&rows);
    report::write_activity_chart(&rows, &slm_local::files::data_dir().join("demo-activity.svg"))?;
    println!("\ndone in {:.1}s", started.elapsed().as_secs_f64());
    s.stop().await;
    Ok(())
}
