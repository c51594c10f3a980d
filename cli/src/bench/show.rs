//! `slm bench --show N`: a whole show due at once. A title of N assets whose archive policy falls
//! due on one day (the mass archival after a show concludes) is evaluated as the EventBridge
//! schedule would, an hour apart, until nothing is left due; each run starts at most its cap of
//! tasks. Measured: the runs, the time, the peak of tasks running at once, of slm's requests in
//! flight and per second, and the retries, against the AWS quotas they meet (BENCHMARKS.md).

use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use slm_core::adapters::{DynamoStore, RequestCounter};
use slm_core::domain::file::{shard_of, shards_for};
use slm_core::domain::policy::next_due;
use slm_core::domain::{Asset, FileRecord, FileState, Policy, PolicyDoc, StorageClass, Title};
use slm_core::ports::FileStore;
use slm_local::runner::function_config;
use slm_local::faults::{DeliveryFaults, FaultInjector, FaultKind};
use slm_local::runner::RunnerOptions;
use slm_local::session::{Options, Session, tally};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The show's shape.
pub struct Show {
    pub assets: usize,
    pub files: usize,
    /// Tasks one evaluation run may start (EVALUATION_MAX_STARTS).
    pub cap: usize,
    /// The evaluator's invocation timeout (the template's 60 s when None). On AWS a start takes
    /// milliseconds and a run stops at its cap; on the emulator it takes most of a second, and a
    /// longer timeout lets the cap bind as it would there.
    pub evaluation_seconds: Option<u64>,
    /// Request and delivery faults during the runs (none: an empty list).
    pub kinds: Vec<FaultKind>,
    pub rate: f64,
    pub seed: u64,
}

/// The day the show's assets are due, and the first scheduled run on it.
const FIRST_RUN: &str = "2027-02-01T02:00:00Z";

/// How long one run's tasks may take to end before the bench gives up.
const RUN_LIMIT: Duration = Duration::from_secs(3600);

/// What the sampler saw, once a second.
#[derive(Default)]
struct Peaks {
    tasks_open: usize,
    requests_per_second: u64,
    /// The busiest second of each operation.
    per_operation: BTreeMap<String, u64>,
}

pub async fn show(plan: Show) -> Result<()> {
    anyhow::ensure!(plan.assets > 0 && plan.files > 0 && plan.cap > 0, "--show, --files-per-asset and --evaluation-cap must be positive");
    let rules: Vec<_> = plan.kinds.iter().flat_map(|k| k.rules(plan.rate)).collect();
    let injector = if plan.kinds.is_empty() { None } else { Some(FaultInjector::start(rules, plan.seed).await?) };
    let deliveries = DeliveryFaults::of(&plan.kinds, plan.rate, plan.seed);
    let mut runner = RunnerOptions { faults: deliveries.clone(), ..RunnerOptions::default() };
    runner.env_overrides.insert("EVALUATION_MAX_STARTS".into(), plan.cap.to_string());
    if let Some(seconds) = plan.evaluation_seconds {
        anyhow::ensure!((1..=900).contains(&seconds), "--evaluation-seconds is a Lambda timeout, from 1 to 900, not {seconds}");
        runner.timeouts.insert("slm-evaluator".into(), Duration::from_secs(seconds));
    }
    let session = Session::start_with("bench-show", Options { faults: injector.clone(), runner, ..Options::default() }).await?;
    let s = &session;
    let set_faults = |on: bool| {
        if let Some(i) = &injector {
            i.set_active(on);
        }
        deliveries.set_active(on);
    };
    set_faults(false);
    let faults = match plan.kinds.is_empty() {
        true => "no faults".to_string(),
        false => format!("{} at {:.1} % (seed {})", plan.kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "), plan.rate * 100.0, plan.seed),
    };
    println!(
        "benchmark: a show of {} assets of {} files each, all due on one day, evaluation cap {} in {}, {faults}, on the local stack ({})",
        plan.assets,
        plan.files,
        plan.cap,
        plan.evaluation_seconds.map_or("the template's timeout".to_string(), |t| format!("{t} s")),
        s.stack.endpoint
    );

    // The show: one title launched a month before the day, an archive policy 30 days after launch.
    let policy = json!({"policy_id": "archive-plates", "selector": {"asset_types": ["vfx_plate"]}, "anchor": "title.launch", "offset_days": 30,
        "action": {"action": "archive", "storage_class": "GLACIER"}, "priority": 10});
    s.api_ok("POST", "/policies", Some(policy.clone())).await?;
    s.api_ok("PUT", "/titles/show-1", Some(json!({"dates": {"launch": "2027-01-01"}}))).await?;
    s.wait_rescheduled().await?;
    let setup = Instant::now();
    futures::stream::iter(0..plan.assets)
        .map(|i| async move { s.put_objects(&prefix(i), plan.files, 32).await })
        .buffer_unordered(4)
        .try_collect::<Vec<_>>()
        .await?;
    // The assets and their files go straight into the tables, as registration would write them
    // (the same domain functions): registering through the emulator's version listings, slower
    // with every object the bucket holds, is not what is measured.
    let pages = s.clients.s3.list_objects_v2().bucket(&s.bucket).prefix("show/").into_paginator().send().try_collect().await?;
    let listed: Vec<_> = pages.iter().flat_map(|p| p.contents()).collect();
    let config = function_config(s.stack.function("slm-api")?, &Default::default())?;
    let store = DynamoStore::new(s.clients.dynamodb.clone(), config.tables.clone());
    let title = Title { title_id: "show-1".into(), name: None, dates: BTreeMap::from([("launch".into(), "2027-01-01".parse()?)]), updated_at: String::new() };
    let policy = Policy { doc: serde_json::from_value::<PolicyDoc>(policy)?, version: 1, created_at: String::new(), created_by: String::new() };
    let mut assets = Vec::new();
    let mut files = Vec::new();
    for i in 0..plan.assets {
        let mut asset = show_asset(i, &s.bucket, config.file_shards, plan.files);
        let of_asset: Vec<FileRecord> = listed
            .iter()
            .filter(|o| o.key().is_some_and(|k| k.starts_with(&asset.prefix)))
            .map(|o| {
                let key = o.key().unwrap_or_default().to_string();
                let size = o.size().unwrap_or(0).max(0) as u64;
                FileRecord {
                    shard: shard_of(&key, asset.shards),
                    asset_id: asset.asset_id.clone(),
                    bucket: s.bucket.clone(),
                    version_id: "null".into(),
                    etag: o.e_tag().unwrap_or_default().to_string(),
                    storage_class: StorageClass::Standard,
                    state: FileState::Active,
                    size,
                    key,
                }
            })
            .collect();
        asset.total_bytes = of_asset.iter().map(|f| f.size).sum();
        let due = next_due(&asset, Some(&title), std::slice::from_ref(&policy), None);
        files.extend(of_asset);
        assets.push((asset, due));
    }
    anyhow::ensure!(files.len() == plan.assets * plan.files, "{} objects listed, {} put", files.len(), plan.assets * plan.files);
    anyhow::ensure!(assets.iter().all(|(_, due)| due.is_some_and(|d| d <= FIRST_RUN[..10].parse().expect("date"))), "every asset is due on the day");
    super::put_assets(&s.clients.dynamodb, &config.tables, &assets).await?;
    for chunk in files.chunks(1000) {
        store.put_files(chunk).await?;
    }
    println!("{} objects put and {} assets registered in {:.1} s", files.len(), plan.assets, setup.elapsed().as_secs_f64());

    // A sampler, once a second: tasks open (PENDING or RUNNING), slm's requests that second.
    let tasks_table = s.stack.table("TasksTable")?.to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample(s.clients.dynamodb.clone(), tasks_table.clone(), s.calls.clone(), stop.clone()));

    s.calls.reset();
    set_faults(true);
    let first: chrono::DateTime<chrono::Utc> = FIRST_RUN.parse()?;
    let start = Instant::now();
    let mut runs: Vec<(u64, f64, f64)> = Vec::new();
    loop {
        let at = first + chrono::Duration::hours(runs.len() as i64);
        let evaluated = Instant::now();
        let report = s.evaluate(&at.to_rfc3339()).await?;
        let evaluation = evaluated.elapsed().as_secs_f64();
        let created = report["tasks_created"].as_u64().context("tasks_created")?;
        // Until the next hour's run, the tasks this one started go their way.
        let waited = Instant::now();
        while open_tasks(&s.clients.dynamodb, &tasks_table).await? > 0 {
            anyhow::ensure!(waited.elapsed() < RUN_LIMIT, "run {} left tasks open after {RUN_LIMIT:?}", runs.len() + 1);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        runs.push((created, evaluation, waited.elapsed().as_secs_f64()));
        println!("run {} at {at}: {created} tasks started in {evaluation:.1} s, all ended {:.1} s later", runs.len(), waited.elapsed().as_secs_f64());
        if report["more_due"] != true {
            break;
        }
        // A run bounded by its time (the evaluator's deadline less its margin) or its cap starts
        // at least one task: one that starts none while assets are due is stuck.
        anyhow::ensure!(created > 0, "run {} started no task while assets were due: {report}", runs.len());
    }
    let total = start.elapsed().as_secs_f64();
    s.wait_idle(&["WorkQueue", "ControlQueue", "S3EventsQueue"], RUN_LIMIT).await?;
    set_faults(false);
    stop.store(true, Ordering::Relaxed);
    let peaks = sampler.await??;
    let (_, peak_in_flight) = s.calls.in_flight();
    let attempts: u64 = s.calls.snapshot().values().sum();
    let operations = s.calls.operations();

    // Every asset's task ended SUCCEEDED, once, and every object is in GLACIER.
    let statuses = task_statuses(&s.clients.dynamodb, &tasks_table).await?;
    let classes = s.classes("show/").await?;
    let mut broken = Vec::new();
    if statuses != BTreeMap::from([("SUCCEEDED".to_string(), plan.assets)]) {
        broken.push(format!("tasks by status: {statuses:?}"));
    }
    let class_tally = tally(classes.values().map(String::as_str));
    if class_tally != BTreeMap::from([("GLACIER".to_string(), plan.assets * plan.files)]) {
        broken.push(format!("objects by class: {class_tally:?}"));
    }
    for dlq in ["WorkDLQ", "ControlDLQ", "S3EventsDLQ"] {
        match s.queue_depth(dlq).await? {
            0 => {}
            n => broken.push(format!("{dlq} holds {n} messages")),
        }
    }

    println!("\n| measure | value |\n| --- | --- |");
    println!("| assets (files each) | {} ({}) |", plan.assets, plan.files);
    println!("| evaluation cap (EVALUATION_MAX_STARTS) / the evaluator's timeout | {} / {} |", plan.cap, plan.evaluation_seconds.map_or("the template's".to_string(), |t| format!("{t} s")));
    println!("| faults | {faults} |");
    println!("| scheduled runs | {} (tasks started: {}) |", runs.len(), runs.iter().map(|r| r.0.to_string()).collect::<Vec<_>>().join(", "));
    println!("| evaluation time per run | {} s |", runs.iter().map(|r| format!("{:.1}", r.1)).collect::<Vec<_>>().join(", "));
    println!("| time from a run to its last task's end | {} s |", runs.iter().map(|r| format!("{:.1}", r.2)).collect::<Vec<_>>().join(", "));
    println!("| whole show, runs back to back | {total:.1} s ({:.1} ms per file) |", total * 1000.0 / (plan.assets * plan.files) as f64);
    println!("| on AWS, runs an hour apart | {} hours |", runs.len());
    println!("| peak tasks open at once (PENDING or RUNNING) | {} |", peaks.tasks_open);
    println!("| peak slm requests in flight at once | {peak_in_flight} |");
    println!("| peak slm requests in one second | {} |", peaks.requests_per_second);
    for op in ["states:StartExecution", "states:SendTaskSuccess", "s3:CopyObject", "s3:HeadObject", "sqs:SendMessage", "dynamodb:UpdateItem", "dynamodb:TransactWriteItems"] {
        println!("| peak {op} in one second | {} |", peaks.per_operation.get(op).copied().unwrap_or(0));
    }
    println!("| requests (attempts) / operations | {attempts} / {operations} ({} retried) |", attempts.saturating_sub(operations));
    if let Some(i) = &injector {
        println!("| faults injected | {} |", i.tally().values().sum::<u64>());
    }
    println!("| broken checks (a task not SUCCEEDED or twice, an object not archived, a dead letter) | {} |", broken.len());
    for b in &broken {
        println!("broken: {b}");
    }
    session.stop().await;
    anyhow::ensure!(broken.is_empty(), "the show did not end as it must");
    Ok(())
}

/// Samples once a second until `stop`: tasks open, and slm's requests in that second.
async fn sample(ddb: aws_sdk_dynamodb::Client, table: String, calls: RequestCounter, stop: Arc<AtomicBool>) -> Result<Peaks> {
    let mut peaks = Peaks::default();
    let mut last = calls.snapshot();
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = calls.snapshot();
        let mut second = 0;
        for (op, n) in &now {
            // The counter is reset between runs: a count below the last one started again.
            let before = last.get(op).copied().unwrap_or(0);
            let d = if *n >= before { n - before } else { *n };
            second += d;
            let peak = peaks.per_operation.entry(op.clone()).or_default();
            *peak = (*peak).max(d);
        }
        peaks.requests_per_second = peaks.requests_per_second.max(second);
        last = now;
        peaks.tasks_open = peaks.tasks_open.max(open_tasks(&ddb, &table).await?);
    }
    Ok(peaks)
}

/// Tasks PENDING or RUNNING.
async fn open_tasks(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<usize> {
    let mut pages = ddb
        .scan()
        .table_name(table)
        .select(Select::Count)
        .filter_expression("task_status IN (:p, :r)")
        .expression_attribute_values(":p", AttributeValue::S("PENDING".into()))
        .expression_attribute_values(":r", AttributeValue::S("RUNNING".into()))
        .into_paginator()
        .send();
    let mut n = 0;
    while let Some(page) = pages.next().await {
        n += page?.count() as usize;
    }
    Ok(n)
}

/// Tasks by status.
async fn task_statuses(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<BTreeMap<String, usize>> {
    let mut items = ddb.scan().table_name(table).projection_expression("task_status").filter_expression("attribute_exists(task_status)").into_paginator().items().send();
    let mut out = BTreeMap::new();
    while let Some(item) = items.next().await {
        let status = item?.get("task_status").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        *out.entry(status).or_default() += 1;
    }
    Ok(out)
}

fn prefix(i: usize) -> String {
    format!("show/a{i:05}/")
}

/// Asset `i` of the show, registered as registration would leave it (its files written apart).
fn show_asset(i: usize, bucket: &str, min_shards: u32, files: usize) -> Asset {
    Asset {
        asset_id: format!("a{i:05}"),
        asset_type: "vfx_plate".into(),
        bucket: bucket.into(),
        prefix: prefix(i),
        shards: shards_for(files as u64, min_shards),
        file_count: files as u64,
        total_bytes: 0,
        small_file_count: files as u64,
        ..super::seeded_asset(i, "show-1")
    }
}
