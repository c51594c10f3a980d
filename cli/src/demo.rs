//! `slm demo` and `slm bench`: a production on the local stack, end to end.

use crate::local::watch;
use crate::report::{self, Line};
use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};
use slm_core::domain::StorageClass;
use slm_local::session::{Options, Session};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct DemoArgs {
    /// Scale the files per asset (1 = about 1,100 files in all).
    #[arg(long, default_value_t = 1)]
    pub scale: usize,
}

#[derive(Args)]
pub struct BenchArgs {
    /// Objects to archive.
    #[arg(long, default_value_t = 5000)]
    pub files: usize,
}

struct DemoAsset {
    id: &'static str,
    kind: &'static str,
    files: usize,
    bytes: usize,
}

const PRODUCTION: [DemoAsset; 4] = [
    DemoAsset { id: "tln-camera-a001", kind: "camera_original", files: 400, bytes: 8192 },
    DemoAsset { id: "tln-editorial-reel1", kind: "editorial", files: 150, bytes: 2048 },
    DemoAsset { id: "tln-vfx-plates-sq10", kind: "vfx_plate", files: 300, bytes: 4096 },
    DemoAsset { id: "tln-temp-renders", kind: "temp_render", files: 250, bytes: 4096 },
];

async fn api(s: &Session, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
    let (status, out) = s.api(method, path, body).await;
    if status >= 400 {
        bail!("{method} {path}: {status} {out}");
    }
    Ok(out)
}

async fn run_task(s: &Session, asset: &str, body: Value, label: &str) -> Result<Value> {
    let out = api(s, "POST", &format!("/assets/{asset}/tasks"), Some(body)).await?;
    let task_id = out["task"]["task_id"].as_str().context("task id")?.to_string();
    watch(&|p: String| async move { api(s, "GET", &p, None).await }, &task_id, label).await
}

pub async fn demo(args: DemoArgs) -> Result<()> {
    let started = Instant::now();
    println!("slm demo: the title \"The Long Night\" after launch, on the local stack");
    let s = Session::start_with("demo", Options { versioned: true, ..Default::default() }).await?;
    println!("local stack {} up: tables, queues, topic and state machine from template.yaml", s.stack.prefix);
    for a in &PRODUCTION {
        let prefix = format!("the-long-night/{}/{}/", a.kind, a.id);
        s.put_objects(&prefix, a.files * args.scale, a.bytes).await?;
        let body = json!({"asset_id": a.id, "title_id": "the-long-night", "asset_type": a.kind, "bucket": s.bucket, "prefix": prefix});
        let asset = api(&s, "POST", "/assets", Some(body)).await?;
        println!("registered {:<22} {:>5} files of {}", a.id, asset["file_count"], a.kind);
    }
    println!("\narchive, restore and purge through the pipeline (API -> Step Functions -> SQS -> workers -> S3 -> events):");
    let plan = [
        ("tln-camera-a001", json!({"action": "archive", "storage_class": "DEEP_ARCHIVE", "request_id": "demo-1"}), "archive camera -> DEEP_ARCHIVE"),
        ("tln-editorial-reel1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "demo-2"}), "archive editorial -> GLACIER"),
        ("tln-vfx-plates-sq10", json!({"action": "archive", "storage_class": "GLACIER_IR", "request_id": "demo-3"}), "archive plates -> GLACIER_IR"),
        ("tln-temp-renders", json!({"action": "purge", "request_id": "demo-4"}), "purge temp renders"),
    ];
    for (asset, body, label) in plan {
        let task = run_task(&s, asset, body, label).await?;
        anyhow::ensure!(task["status"] == "SUCCEEDED", "{label}: {task}");
    }
    // A restore finishes when S3 says so: on AWS hours later; the emulator says so when the
    // object is next read, so the demo reads the files back as an editor would.
    let out = api(&s, "POST", "/assets/tln-editorial-reel1/tasks", Some(json!({"action": "restore", "days": 7, "tier": "Bulk", "request_id": "demo-5"}))).await?;
    let restore_id = out["task"]["task_id"].as_str().context("task id")?.to_string();
    s.wait_files("tln-editorial-reel1", Duration::from_secs(300), |f| f.values().all(|i| i.get("step").map(String::as_str) == Some("REQUESTED"))).await?;
    let keys: Vec<String> = s.file_items("tln-editorial-reel1").await?.into_keys().collect();
    s.restore_headers(&keys).await?;
    let task = watch(&|p: String| { let s = &s; async move { api(s, "GET", &p, None).await } }, &restore_id, "restore editorial, 7 days").await?;
    anyhow::ensure!(task["status"] == "SUCCEEDED", "restore: {task}");

    let events = slm_local::session::dedupe(&s.drain_events().await?);
    println!("\ncompletion events received by a subscriber: {}", events.len());
    for e in &events {
        println!("  {} {:<8} {:<22} {}", e["event_type"].as_str().unwrap_or("?"), e["action"].as_str().unwrap_or("?"), e["asset_id"].as_str().unwrap_or("?"), e["status"].as_str().unwrap_or("?"));
    }
    let mut lines = Vec::new();
    for a in &PRODUCTION {
        let asset = api(&s, "GET", &format!("/assets/{}", a.id), None).await?;
        let files = s.file_items(a.id).await?;
        let sizes: Vec<u64> = files.values().map(|f| f.get("size_bytes").and_then(|v| v.parse().ok()).unwrap_or(0)).collect();
        let state = asset["state"].as_str().unwrap_or("?").to_string();
        let after = if state == "PURGED" { None } else { Some(asset["storage_class"].as_str().unwrap_or("STANDARD").parse::<StorageClass>()?) };
        lines.push(Line { asset_id: a.id.into(), asset_type: a.kind.into(), sizes, before: StorageClass::Standard, after, state });
    }
    report::print(&lines, &report::prices()?, 300.0 * 1024f64.powi(4));
    println!("\ndone in {:.1}s", started.elapsed().as_secs_f64());
    s.stop().await;
    Ok(())
}

pub async fn bench(args: BenchArgs) -> Result<()> {
    let s = Session::start_with("bench", Options::default()).await?;
    let n = args.files;
    println!("benchmark: archive of {n} objects to GLACIER on the local stack ({})", s.stack.endpoint);
    s.put_objects("bench/pipeline/", n, 32).await?;
    let raw_keys = s.put_objects("bench/raw/", n, 32).await?;

    // The floor: one CopyObject per object, one after the other, from one client.
    let start = Instant::now();
    for key in &raw_keys {
        s.clients
            .s3
            .copy_object()
            .bucket(&s.bucket)
            .key(key)
            .copy_source(format!("{}/{key}", s.bucket))
            .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
            .send()
            .await?;
    }
    let raw = start.elapsed().as_secs_f64();

    let reg_start = Instant::now();
    api(&s, "POST", "/assets", Some(json!({"asset_id": "bench-1", "title_id": "bench", "asset_type": "vfx_plate", "bucket": s.bucket, "prefix": "bench/pipeline/"}))).await?;
    let register = reg_start.elapsed().as_secs_f64();

    let mut counts = Vec::new();
    let mut timings = Vec::new();
    for (label, body) in [
        ("archive", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "b1"})),
        ("restore", json!({"action": "restore", "days": 1, "tier": "Bulk", "request_id": "b2"})),
        ("purge", json!({"action": "purge", "request_id": "b3"})),
    ] {
        s.counter.reset();
        let start = Instant::now();
        let out = api(&s, "POST", "/assets/bench-1/tasks", Some(body)).await?;
        let id = out["task"]["task_id"].as_str().context("task id")?.to_string();
        if label == "restore" {
            s.wait_files("bench-1", Duration::from_secs(900), |f| f.values().all(|i| i.get("step").map(String::as_str) == Some("REQUESTED"))).await?;
            // The reads that make the emulator send ObjectRestore:Completed are a reader's (the
            // session's uncounted clients), not slm's.
            let keys: Vec<String> = s.file_items("bench-1").await?.into_keys().collect();
            s.restore_headers(&keys).await?;
        }
        let task = s.wait_task(&id, Duration::from_secs(1800)).await?;
        anyhow::ensure!(task["status"] == "SUCCEEDED", "{label}: {task}");
        timings.push((label, start.elapsed().as_secs_f64()));
        counts.push((label, s.counter.snapshot()));
    }
    println!("\n| measure | value |\n| --- | --- |");
    println!("| objects | {n} |");
    println!("| sequential CopyObject loop (raw emulator floor) | {raw:.1} s ({:.2} ms/object) |", raw * 1000.0 / n as f64);
    println!("| register (list + write file items) | {register:.1} s |");
    for (label, secs) in &timings {
        println!("| {label} through the pipeline | {secs:.1} s |");
    }
    println!("| archive pipeline / raw loop | {:.2} |", timings[0].1 / raw);
    for (label, snapshot) in counts {
        println!("\n{label}: requests per object by service and operation (slm's functions and API only)\n\n| service:operation | requests | per object |\n| --- | --- | --- |");
        let mut by_service = std::collections::BTreeMap::<String, u64>::new();
        for (op, c) in &snapshot {
            println!("| {op} | {c} | {:.3} |", *c as f64 / n as f64);
            *by_service.entry(op.split(':').next().unwrap_or("?").to_string()).or_default() += c;
        }
        for (svc, c) in by_service {
            println!("| **{svc} total** | {c} | {:.3} |", c as f64 / n as f64);
        }
    }
    s.stop().await;
    Ok(())
}
