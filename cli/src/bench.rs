//! `slm bench`: figures for BENCHMARKS.md, measured on the local stack in one run each (the
//! pipeline against the raw emulator calls; requests per object or per due asset).

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::Args;
use serde_json::json;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use slm_core::adapters::{Clients, DynamoStore, RequestCounter, dynamo};
use slm_core::domain::policy::next_due;
use slm_core::domain::{Asset, AssetState, Policy, PolicyDoc, Title};
use slm_local::runner::function_config;
use slm_local::session::{Options, Session};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

mod lambda;
mod runtime_api;
mod show;

#[derive(Args)]
pub struct BenchArgs {
    /// Objects to archive.
    #[arg(long, default_value_t = 5000)]
    pub files: usize,
    /// Instead: policy evaluation over this many registered assets (a few percent of them due).
    #[arg(long)]
    pub evaluation_assets: Option<usize>,
    /// Tasks the measured evaluation run may start (its EVALUATION_MAX_STARTS); 50 with
    /// --evaluation-assets, the template's 200 with --show.
    #[arg(long)]
    pub evaluation_cap: Option<usize>,
    /// Instead: planning one archive of an asset of this many files (seeded in the metadata;
    /// the workers are paused, so no S3 call is made): planning time and peak memory.
    #[arg(long)]
    pub plan_files: Option<usize>,
    /// With --plan-files: stop after this many planned pages (of ten work batches) rather than
    /// planning every file (the emulator's queries walk the whole table: see BENCHMARKS.md).
    #[arg(long)]
    pub plan_pages: Option<usize>,
    /// Instead: this many API reads and writes, each authorized against the registry and
    /// audited, against the raw DynamoDB call each one needs at least.
    #[arg(long)]
    pub api_calls: Option<usize>,
    /// Instead: the reconciler's sweep of one asset of this many files (objects in the bucket,
    /// registered as they are, so nothing drifts), driven message by message: time, requests per
    /// file and peak memory, against the listing alone, in one run.
    #[arg(long)]
    pub sweep_files: Option<usize>,
    /// With --sweep-files: stop after this many messages (windows of the asset's keys) rather
    /// than sweeping every key (the emulator's queries walk the whole table: see BENCHMARKS.md).
    #[arg(long)]
    pub sweep_windows: Option<usize>,
    /// Instead: the whole lifecycle of an asset of --files files (archive, restore, purge)
    /// without faults and then under these, checked as the fault suite checks it
    /// (tests/faults.rs): a comma-separated list of runs, each a kind alone (s3-errors,
    /// dynamodb-throttling, service-errors, lost-answers, connections, crashes, notifications)
    /// or all of them at once (all); each is every kind alone and then all. With --show, one
    /// kind or all.
    #[arg(long)]
    pub faults: Option<String>,
    /// Instead: a whole show due at once, this many assets of one title whose archive policy
    /// falls due on one day, evaluated an hour apart until none is left (with --faults, under
    /// those faults): runs, time, peaks of tasks and requests, retries.
    #[arg(long)]
    pub show: Option<usize>,
    /// With --show: the evaluator's timeout in seconds (the template's 60 by default). The
    /// emulator takes most of a second a start where AWS takes milliseconds: a longer timeout
    /// lets each run stop at its cap, as on AWS.
    #[arg(long)]
    pub evaluation_seconds: Option<u64>,
    /// With --show: objects per asset.
    #[arg(long, default_value_t = 3)]
    pub files_per_asset: usize,
    /// Instead: each function's own release binary (target/release, or --functions-dir) run
    /// behind a Lambda Runtime API on its heaviest input: its peak resident memory against the
    /// template's MemorySize (BENCHMARKS.md, "Lambda size and memory").
    #[arg(long)]
    pub lambda_memory: bool,
    /// With --lambda-memory: where the functions' binaries are.
    #[arg(long)]
    pub functions_dir: Option<std::path::PathBuf>,
    /// With --faults: the share of attempts (invocations, notifications) faulted.
    #[arg(long, default_value_t = 0.05)]
    pub fault_rate: f64,
    /// With --faults: the seed of the faults' draws (the same seed replays a run's draws).
    #[arg(long, default_value_t = 13)]
    pub seed: u64,
}

pub async fn bench(args: BenchArgs) -> Result<()> {
    if args.lambda_memory {
        return lambda::lambda_memory(args.functions_dir).await;
    }
    if let Some(assets) = args.show {
        let kinds = match &args.faults {
            Some(k) => fault_kinds(k, args.fault_rate)?,
            None => vec![],
        };
        let cap = args.evaluation_cap.unwrap_or(200);
        let show = show::Show { assets, files: args.files_per_asset, cap, evaluation_seconds: args.evaluation_seconds, kinds, rate: args.fault_rate, seed: args.seed };
        return show::show(show).await;
    }
    if let Some(assets) = args.evaluation_assets {
        return evaluation(assets, args.evaluation_cap.unwrap_or(50)).await;
    }
    if let Some(files) = args.plan_files {
        return planning(files, args.plan_pages).await;
    }
    if let Some(calls) = args.api_calls {
        return api_calls(calls).await;
    }
    if let Some(files) = args.sweep_files {
        return sweep(files, args.sweep_windows).await;
    }
    if let Some(kinds) = &args.faults {
        return faults(args.files, kinds, args.fault_rate, args.seed).await;
    }
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
    let floors = call_floors(&s, &raw_keys).await?;

    let reg_start = Instant::now();
    s.api_ok("POST", "/assets", Some(json!({"asset_id": "bench-1", "title_id": "bench", "asset_type": "vfx_plate", "bucket": s.bucket, "prefix": "bench/pipeline/"}))).await?;
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
        let out = s.api_ok("POST", "/assets/bench-1/tasks", Some(body)).await?;
        let id = out["task"]["task_id"].as_str().context("task id")?.to_string();
        if label == "restore" {
            // The reads that make moto send ObjectRestore:Completed are a reader's (the
            // session's uncounted clients), not slm's.
            s.complete_restores("bench-1", &id, Duration::from_secs(900)).await?;
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
    println!("| sequential HeadObject loop (the same objects) | {:.1} s ({:.2} ms/object) |", floors.head, floors.head * 1000.0 / n as f64);
    println!("| sequential conditional UpdateItem loop (a file's transition, the same files registered) | {:.1} s ({:.2} ms/object) |", floors.transition, floors.transition * 1000.0 / n as f64);
    println!("| archive pipeline / (CopyObject + HeadObject + UpdateItem loops) | {:.2} |", timings[0].1 / (raw + floors.head + floors.transition));
    let prices = slm_core::domain::pricing::PriceTable::bundled();
    println!("\nper 1,000 objects, in USD at config/prices.json's prices (see \"Reading the dollars\" in BENCHMARKS.md)\n");
    println!("| action | S3 floor | S3 | DynamoDB | SQS | Step Functions | slm beyond the floor |\n| --- | --- | --- | --- | --- | --- | --- |");
    for (label, snapshot) in &counts {
        let cost = RequestCost::of(label, snapshot, n, prices)?;
        let per = |usd: f64| format!("{:.4}", usd * 1000.0 / n as f64);
        println!(
            "| {label} | {} | {} | {} | {} | {} | {} |",
            per(cost.s3_floor),
            per(cost.s3),
            per(cost.dynamodb),
            per(cost.sqs),
            per(cost.states),
            per(cost.s3 + cost.dynamodb + cost.sqs + cost.states - cost.s3_floor)
        );
    }
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

/// The calls an archive must make per object besides its copy, each timed as a sequential loop
/// from one client like the copy's floor.
struct CallFloors {
    /// HeadObject of each object (the read that gives the copy the object's encryption and
    /// guards its version).
    head: f64,
    /// One conditional UpdateItem per registered file, of the transition's shape (the file's
    /// step, task, version, ETag and class, applied only while the file is QUEUED for the task).
    transition: f64,
}

async fn call_floors(s: &Session, keys: &[String]) -> Result<CallFloors> {
    let start = Instant::now();
    for key in keys {
        s.clients.s3.head_object().bucket(&s.bucket).key(key).send().await?;
    }
    let head = start.elapsed().as_secs_f64();
    // The same objects registered (untimed), so that each update finds its item as a
    // transition does.
    s.api_ok("POST", "/assets", Some(json!({"asset_id": "bench-floor", "title_id": "bench", "asset_type": "vfx_plate", "bucket": s.bucket, "prefix": "bench/raw/"}))).await?;
    let files = s.stack.table("FilesTable")?.to_string();
    let mut items = Vec::new();
    let mut pages = s
        .clients
        .dynamodb
        .scan()
        .table_name(&files)
        .filter_expression("asset_id = :a")
        .expression_attribute_values(":a", AttributeValue::S("bench-floor".into()))
        .into_paginator()
        .items()
        .send();
    while let Some(item) = pages.next().await {
        let item = item?;
        items.push((item.get("pk").cloned().context("pk")?, item.get("object_key").cloned().context("object_key")?));
    }
    anyhow::ensure!(items.len() == keys.len(), "{} of {} floor files registered", items.len(), keys.len());
    let value = |v: &str| AttributeValue::S(v.to_string());
    let start = Instant::now();
    for (i, (pk, key)) in items.into_iter().enumerate() {
        s.clients
            .dynamodb
            .update_item()
            .table_name(&files)
            .key("pk", pk)
            .key("object_key", key)
            .update_expression("SET step = :to, task_id = :t, write_token = :wt, storage_class = :class, file_state = :state, version_id = :v, etag = :etag")
            .condition_expression("attribute_exists(pk) AND (attribute_not_exists(task_id) OR task_id <> :t OR step = :from)")
            .expression_attribute_values(":to", value("DONE"))
            .expression_attribute_values(":from", value("QUEUED"))
            .expression_attribute_values(":t", value("t-bench-floor"))
            .expression_attribute_values(":wt", value(&format!("wt-{i}")))
            .expression_attribute_values(":class", value("GLACIER"))
            .expression_attribute_values(":state", value("ARCHIVED"))
            .expression_attribute_values(":v", value("null"))
            .expression_attribute_values(":etag", value("\"0123456789abcdef0123456789abcdef\""))
            .send()
            .await?;
    }
    Ok(CallFloors { head, transition: start.elapsed().as_secs_f64() })
}

/// What one run's requests cost, by service, at the price table's prices. Approximations (in
/// BENCHMARKS.md): a DynamoDB request is one request unit (items here are under 1 KB), a
/// transaction two units for each of its two items, a BatchGetItem one read per object (the
/// worker reads each file's step once); S3's copies into GLACIER at its transition price,
/// restores at the Bulk tier's, reads at GET's, deletes free, the rest (lists) at PUT's; a
/// task's 10 state transitions.
#[derive(Debug, Default)]
struct RequestCost {
    /// What S3 charges at least: one copy (archive) or restore request per object; nothing for
    /// a purge (deletes are free).
    s3_floor: f64,
    s3: f64,
    dynamodb: f64,
    sqs: f64,
    states: f64,
}

impl RequestCost {
    fn of(action: &str, snapshot: &BTreeMap<String, u64>, objects: usize, prices: &slm_core::domain::pricing::PriceTable) -> Result<RequestCost> {
        use slm_core::domain::{RestoreTier, StorageClass};
        let services = &prices.services;
        let standard = prices.class(StorageClass::Standard)?;
        let put = standard.transition_per_1000.unwrap_or_default() / 1000.0;
        let restore = prices.class(StorageClass::Glacier)?.restore.get(RestoreTier::Bulk.as_str()).map_or(0.0, |r| r.per_1000) / 1000.0;
        let copy = prices.transition(StorageClass::Glacier, 1)?;
        let (write, read) = (services.dynamodb_write_per_million / 1e6, services.dynamodb_read_per_million / 1e6);
        let mut cost = RequestCost {
            s3_floor: match action {
                "archive" => copy * objects as f64,
                "restore" => restore * objects as f64,
                _ => 0.0,
            },
            states: slm_core::domain::savings::STATE_TRANSITIONS_PER_TASK / 1000.0 * services.states_per_1000_transitions,
            ..Default::default()
        };
        for (op, &count) in snapshot {
            let c = count as f64;
            match op.split_once(':').unwrap_or_default() {
                ("dynamodb", "TransactWriteItems") => cost.dynamodb += 4.0 * c * write,
                ("dynamodb", "BatchGetItem") => cost.dynamodb += objects as f64 * read,
                ("dynamodb", "PutItem" | "UpdateItem" | "DeleteItem") => cost.dynamodb += c * write,
                ("dynamodb", _) => cost.dynamodb += c * read,
                ("s3", "CopyObject") => cost.s3 += c * copy,
                ("s3", "RestoreObject") => cost.s3 += c * restore,
                ("s3", "HeadObject" | "GetObject") => cost.s3 += c * standard.get_per_1000 / 1000.0,
                // Deletes are free (docs/cost.md).
                ("s3", "DeleteObjects" | "DeleteObject") => {}
                ("s3", _) => cost.s3 += c * put,
                ("sqs", _) => cost.sqs += c * services.sqs_per_million / 1e6,
                _ => {}
            }
        }
        Ok(cost)
    }
}

/// `n` reads (`GET /assets/{id}`) and `n` writes (`POST /assets/{id}/accesses`) through the API
/// handler as a registered application, each authorized (a registry read) and audited (one entry
/// for a read, two for a write: before it acts and with its outcome), against the raw calls each
/// needs at least (the asset's GetItem; the day's counter UpdateItem), in one run.
async fn api_calls(n: usize) -> Result<()> {
    let s = Session::start_with("bench-api", Options::default()).await?;
    s.put_objects("bench/api/", 1, 32).await?;
    s.api_ok("POST", "/assets", Some(json!({"asset_id": "api-1", "title_id": "bench", "asset_type": "editorial", "bucket": s.bucket, "prefix": "bench/api/"}))).await?;
    println!("benchmark: {n} API reads and {n} writes, authorized and audited, on the local stack ({})", s.stack.endpoint);
    let table = s.stack.table("AssetsTable")?.to_string();
    let accesses = s.stack.table("AccessesTable")?.to_string();
    let mut rows = Vec::new();
    let mut counts = Vec::new();
    for (label, raw_label) in [("GET /assets/{id}", "GetItem of the asset"), ("POST /assets/{id}/accesses", "UpdateItem of the day's counter")] {
        let start = Instant::now();
        for i in 0..n {
            match label {
                "GET /assets/{id}" => {
                    s.clients.dynamodb.get_item().table_name(&table).key("asset_id", AttributeValue::S("api-1".into())).send().await?;
                }
                _ => {
                    s.clients
                        .dynamodb
                        .update_item()
                        .table_name(&accesses)
                        .key("asset_id", AttributeValue::S("raw-1".into()))
                        .key("day", AttributeValue::S(format!("2026-10-{:02}", 1 + i % 28)))
                        .update_expression("ADD accesses :n")
                        .expression_attribute_values(":n", AttributeValue::N("1".into()))
                        .send()
                        .await?;
                }
            }
        }
        let raw = start.elapsed().as_secs_f64();
        s.counter.reset();
        let start = Instant::now();
        for i in 0..n {
            match label {
                "GET /assets/{id}" => s.api_ok("GET", "/assets/api-1", None).await?,
                _ => s.api_ok("POST", "/assets/api-1/accesses", Some(json!({"day": format!("2026-10-{:02}", 1 + i % 28), "count": 1}))).await?,
            };
        }
        let ours = start.elapsed().as_secs_f64();
        rows.push((label, raw_label, raw, ours));
        counts.push((label, s.counter.snapshot()));
    }
    println!("\n| call | raw floor | raw ms/call | API ms/call | API / raw |\n| --- | --- | --- | --- | --- |");
    for (label, raw_label, raw, ours) in &rows {
        println!("| {label} | {raw_label} | {:.2} | {:.2} | {:.2} |", raw * 1000.0 / n as f64, ours * 1000.0 / n as f64, ours / raw);
    }
    for (label, snapshot) in counts {
        println!("\n{label}: DynamoDB requests per call\n\n| operation | per call |\n| --- | --- |");
        // The local runner's queue polling is not the API's.
        for (op, c) in snapshot.iter().filter(|(op, _)| op.starts_with("dynamodb:")) {
            println!("| {op} | {:.2} |", *c as f64 / n as f64);
        }
    }
    s.stop().await;
    Ok(())
}

/// Titles in the evaluation benchmark, and how many of them launched early enough to be due.
const TITLES: usize = 100;
const DUE_TITLES: usize = 3;

/// Writes asset items as they are, with their due days: seeding, not what a benchmark measures.
pub(crate) async fn put_assets(client: &aws_sdk_dynamodb::Client, tables: &slm_core::config::Tables, assets: &[(Asset, Option<NaiveDate>)]) -> Result<()> {
    let items = assets.iter().map(|(asset, due)| dynamo::asset_item(asset, *due));
    Ok(dynamo::batch_put(client, &tables.assets, "write assets", items).await?)
}

/// Policy evaluation over `n` registered assets of which 3% are due: items read per due asset
/// and wall time, for a dry-run (reads only) and a real run (creates up to its cap of tasks).
async fn evaluation(n: usize, cap: usize) -> Result<()> {
    let s = Session::start_with("bench-eval", Options::default()).await?;
    let config = function_config(s.stack.function("slm-api")?, &Default::default())?;
    let doc = json!({"policy_id": "archive-edit", "selector": {"asset_types": ["editorial"]}, "anchor": "title.launch", "offset_days": 30,
        "action": {"action": "archive", "storage_class": "GLACIER"}, "priority": 10});
    s.api_ok("POST", "/policies", Some(doc.clone())).await?;
    s.wait_rescheduled().await?;
    let policy = Policy { doc: serde_json::from_value::<PolicyDoc>(doc)?, version: 1, created_at: String::new(), created_by: String::new() };
    println!("benchmark: policy evaluation over {n} assets in {TITLES} titles ({DUE_TITLES} of them due) on the local stack ({})", s.stack.endpoint);

    let mut titles = Vec::new();
    for t in 0..TITLES {
        let launch = if t < DUE_TITLES { "2027-01-01" } else { "2028-06-01" };
        s.api_ok("PUT", &format!("/titles/show-{t:03}"), Some(json!({"dates": {"launch": launch}}))).await?;
        titles.push(Title { title_id: format!("show-{t:03}"), name: None, dates: BTreeMap::from([("launch".into(), launch.parse()?)]), updated_at: String::new() });
    }
    s.wait_rescheduled().await?;

    // The assets go straight into the table with the due day registration would give them (the
    // same domain function): registering 100,000 assets through S3 listings is not what is measured.
    let seed = Instant::now();
    let assets: Vec<(Asset, Option<NaiveDate>)> = (0..n)
        .map(|i| {
            let title = &titles[i % TITLES];
            let asset = seeded_asset(i, &title.title_id);
            let due = next_due(&asset, Some(title), std::slice::from_ref(&policy), None);
            (asset, due)
        })
        .collect();
    let due_count = assets.iter().filter(|(_, d)| d.is_some_and(|d| d <= "2027-06-01".parse().expect("date"))).count();
    for chunk in assets.chunks(2500) {
        put_assets(&s.clients.dynamodb, &config.tables, chunk).await?;
    }
    println!("seeded {n} asset items ({due_count} due on 2027-06-01) in {:.1}s", seed.elapsed().as_secs_f64());

    s.counter.reset();
    let start = Instant::now();
    let dry = s.api_ok("POST", "/dry-run", Some(json!({"at": "2027-06-01", "limit": 10}))).await?;
    let dry_secs = start.elapsed().as_secs_f64();
    let dry_requests = s.counter.snapshot();
    let read = dry["assets_read"].as_u64().context("assets_read")?;
    anyhow::ensure!(dry["totals"]["assets"].as_u64() == Some(due_count as u64), "dry-run found {} due, expected {due_count}", dry["totals"]["assets"]);

    // The floor: the same index queries, raw, with nothing decided; and what reading without the
    // index would take, a scan of the whole table.
    let table = s.stack.table("AssetsTable")?;
    let start = Instant::now();
    let mut raw_items = 0;
    for shard in 0..slm_core::domain::policy::DUE_SHARDS {
        let mut pages = s
            .clients
            .dynamodb
            .query()
            .table_name(table)
            .index_name("ByDue")
            .key_condition_expression("due_shard = :s AND due_at <= :d")
            .expression_attribute_values(":s", AttributeValue::S(format!("{shard:02}")))
            .expression_attribute_values(":d", AttributeValue::S("2027-06-01".into()))
            .limit(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            raw_items += page?.count();
        }
    }
    let raw_secs = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut scanned = 0;
    let mut pages = s.clients.dynamodb.scan().table_name(table).select(Select::Count).into_paginator().send();
    while let Some(page) = pages.next().await {
        scanned += page?.scanned_count();
    }
    let scan_secs = start.elapsed().as_secs_f64();

    // The evaluator on clients of its own, so its requests are counted apart from the pipeline
    // that runs the tasks it starts.
    let counter = RequestCounter::default();
    let overrides = BTreeMap::from([("EVALUATION_MAX_STARTS".to_string(), cap.to_string())]);
    let evaluator = slm_evaluator::Handler::new(
        &Clients::new(&slm_local::sdk_config(&s.stack.endpoint).await, Some(&counter)),
        function_config(s.stack.function("slm-evaluator")?, &overrides)?,
    );
    let mut event = aws_lambda_events::eventbridge::EventBridgeEvent::<serde_json::Value>::default();
    event.detail_type = "Scheduled Event".into();
    event.time = Some("2027-06-01T02:00:00Z".parse()?);
    let start = Instant::now();
    let run = serde_json::to_value(evaluator.handle(event, None).await?)?;
    let run_secs = start.elapsed().as_secs_f64();
    let run_requests = counter.snapshot();
    let created = run["tasks_created"].as_u64().context("tasks_created")?;

    println!("\n| measure | value |\n| --- | --- |");
    println!("| registered assets | {n} |");
    println!("| due on the evaluation day | {due_count} ({:.1}%) |", due_count as f64 * 100.0 / n as f64);
    println!("| dry-run: wall time | {dry_secs:.1} s |");
    println!("| floor: the same ByDue queries, raw ({raw_items} items) | {raw_secs:.1} s (dry-run / floor = {:.2}) |", dry_secs / raw_secs);
    println!("| without the index: a scan of the table | {scanned} items read ({:.1} per due asset), {scan_secs:.1} s |", scanned as f64 / due_count as f64);
    println!("| dry-run: asset items read | {read} ({:.3} per due asset) |", read as f64 / due_count as f64);
    println!("| dry-run: title items read | {} |", dry["titles_read"]);
    println!("| dry-run: DynamoDB requests | {} ({:.3} per due asset) |", dynamo(&dry_requests), dynamo(&dry_requests) as f64 / due_count as f64);
    println!("| evaluation (cap {cap}): tasks created and started | {created} |");
    println!("| evaluation: wall time | {run_secs:.1} s ({:.1} ms per task) |", run_secs * 1000.0 / created.max(1) as f64);
    println!("| evaluation: asset items read | {} |", run["assets_read"]);
    println!("| evaluation: requests per task created | {} |", per_op(&run_requests, created));
    let dry_dynamo: BTreeMap<String, u64> = dry_requests.into_iter().filter(|(op, _)| op.starts_with("dynamodb:")).collect();
    println!("| dry-run: DynamoDB requests by operation | {} |", per_op(&dry_dynamo, 1));
    s.wait_idle(&["ControlQueue", "WorkQueue"], Duration::from_secs(600)).await?;
    s.stop().await;
    Ok(())
}

fn dynamo(requests: &BTreeMap<String, u64>) -> u64 {
    requests.iter().filter(|(op, _)| op.starts_with("dynamodb:")).map(|(_, c)| c).sum()
}

fn per_op(requests: &BTreeMap<String, u64>, per: u64) -> String {
    requests.iter().map(|(op, c)| format!("{op} {:.2}", *c as f64 / per.max(1) as f64)).collect::<Vec<_>>().join(", ")
}

fn seeded_asset(i: usize, title_id: &str) -> Asset {
    Asset {
        asset_id: format!("asset-{i:07}"),
        title_id: title_id.to_string(),
        asset_type: if i % 10 < 7 { "editorial" } else { "camera_original" }.to_string(),
        phase: "final".into(),
        tags: BTreeMap::new(),
        created_on: "2026-06-01".parse().expect("date"),
        last_access_on: None,
        bucket: "media".into(),
        prefix: format!("{title_id}/asset-{i:07}/"),
        shards: 16,
        file_count: 1000,
        total_bytes: 1000 * (64 << 20),
        small_file_count: 0,
        small_file_bytes: 0,
        state: AssetState::Active,
        storage_class: slm_core::domain::StorageClass::Standard.into(),
        active_task: None,
        active_action: None,
        queued_task: None,
        registered_at: "2026-06-01T00:00:00Z".into(),
        due_at: None,
        backfill_cursor: None,
        sweep_cursor: None,
    }
}

/// The process's resident memory now and at its peak, in MiB (Linux /proc; 0 elsewhere).
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)).and_then(|kb| kb.parse::<f64>().ok()).unwrap_or(0.0) / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Planning one archive of an asset of `n` files: the file items are written straight into the
/// table (as a backfill would), then a task is requested with the workers paused and timed until
/// its planning is done. Memory is sampled while it plans; the seeding writes in bounded chunks.
async fn planning(n: usize, pages: Option<usize>) -> Result<()> {
    use futures::StreamExt;
    let s = Session::start_with("bench-plan", Options::default()).await?;
    s.runner().pause("slm-worker");
    let config = function_config(s.stack.function("slm-api")?, &Default::default())?;
    let store = DynamoStore::new(s.clients.dynamodb.clone(), config.tables.clone());
    let shards = slm_core::domain::shards_for(n as u64, config.file_shards);
    println!("benchmark: planning an archive of one asset of {n} files on the local stack ({}); {shards} shards", s.stack.endpoint);
    let mut asset = seeded_asset(0, "bench");
    asset.shards = shards;
    asset.asset_id = "million-1".into();
    asset.prefix = "bench/million/".into();
    asset.bucket = s.bucket.clone();
    asset.file_count = n as u64;
    asset.total_bytes = n as u64 * (48 << 20);
    put_assets(&s.clients.dynamodb, &config.tables, &[(asset.clone(), None)]).await?;

    let seed_start = Instant::now();
    let mut per_shard = vec![0u64; shards as usize];
    const CHUNK: usize = 10_000;
    let chunks = n.div_ceil(CHUNK);
    let mut seeded = futures::stream::iter(0..chunks)
        .map(|c| {
            let store = store.clone();
            let asset = asset.clone();
            async move {
                let files: Vec<slm_core::domain::FileRecord> = (c * CHUNK..((c + 1) * CHUNK).min(n))
                    .map(|i| {
                        let key = format!("bench/million/reel_{:04}/frame_{i:07}.exr", i / 1000);
                        slm_core::domain::FileRecord {
                            asset_id: asset.asset_id.clone(),
                            shard: slm_core::domain::shard_of(&key, asset.shards),
                            bucket: asset.bucket.clone(),
                            key,
                            version_id: "null".into(),
                            size: 48 << 20,
                            etag: "\"0123456789abcdef0123456789abcdef\"".into(),
                            storage_class: slm_core::domain::StorageClass::Standard,
                            state: slm_core::domain::FileState::Active,
                        }
                    })
                    .collect();
                let shards: Vec<u32> = files.iter().map(|f| f.shard).collect();
                slm_core::ports::FileStore::put_files(&store, &files).await.map(|()| shards)
            }
        })
        .buffer_unordered(4);
    let mut done = 0usize;
    while let Some(chunk) = seeded.next().await {
        for shard in chunk? {
            per_shard[shard as usize] += 1;
            done += 1;
        }
        if done % 100_000 < CHUNK {
            println!("  seeded {done} file items ({:.0} s)", seed_start.elapsed().as_secs_f64());
        }
    }
    drop(seeded);
    let seed = seed_start.elapsed().as_secs_f64();
    let mean = n as f64 / shards as f64;
    let max = *per_shard.iter().max().unwrap_or(&0) as f64;
    let min = *per_shard.iter().min().unwrap_or(&0) as f64;

    // The floor: the one query a planned page costs, raw, on the same table (three samples).
    let files_table = config.tables.files.clone();
    let raw_start = Instant::now();
    for shard in [0u32, shards / 2, shards - 1] {
        s.clients
            .dynamodb
            .query()
            .table_name(&files_table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(format!("million-1#{shard:03}")))
            .consistent_read(true)
            .limit((config.batch_size * 10) as i32)
            .send()
            .await?;
    }
    let raw_query = raw_start.elapsed().as_secs_f64() / 3.0;
    let target = pages.map_or(n as u64, |p| (p * config.batch_size * 10).min(n) as u64);

    let (rss_before, _) = memory_mib();
    s.counter.reset();
    let start = Instant::now();
    let task = s.request("million-1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "plan"})).await?;
    let mut peak_rss = rss_before;
    let mut last_print = Instant::now();
    let planned = loop {
        let t = s.api_ok("GET", &format!("/tasks/{task}"), None).await?;
        peak_rss = peak_rss.max(memory_mib().0);
        let so_far = t["counters"]["planned"].as_u64().unwrap_or(0);
        if t["planning_done"] == true || so_far >= target {
            s.runner().pause("slm-planner");
            break so_far;
        }
        if last_print.elapsed() > Duration::from_secs(30) {
            println!("  planned {} of {n} ({:.0} s, RSS {:.0} MiB)", t["counters"]["planned"], start.elapsed().as_secs_f64(), memory_mib().0);
            last_print = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let plan = start.elapsed().as_secs_f64();
    let requests = s.counter.snapshot();
    let invocations = requests.get("sqs:SendMessage").copied().unwrap_or(0);
    let (_, hwm) = memory_mib();
    println!();
    println!("| measure | value |");
    println!("| --- | --- |");
    println!("| files in the asset | {n} |");
    println!("| seeding the file items (BatchWriteItem, 4 at once) | {seed:.0} s |");
    println!("| files per partition key (`<asset>#<shard>`): min / mean / max | {min:.0} / {mean:.0} / {max:.0} (max {:.3} of the mean) |", max / mean);
    let page_files = (config.batch_size * 10) as f64;
    let per_page = plan / (planned as f64 / page_files);
    println!("| files planned (pages of {page_files:.0}) | {planned} of {n} |");
    println!("| planning: request to the last page counted | {plan:.0} s ({:.1} s per page, {:.0} files/s) |", per_page, planned as f64 / plan);
    println!("| floor: the page's one query, raw, on the same table | {raw_query:.1} s (planner per page / raw query = {:.2}) |", per_page / raw_query);
    println!("| every file at this rate | {:.0} pages, {:.1} h on the emulator |", n as f64 / page_files, n as f64 / page_files * per_page / 3600.0);
    println!("| process RSS before planning / peak while planning | {rss_before:.0} MiB / {peak_rss:.0} MiB |");
    println!("| process high-water mark (includes seeding) | {hwm:.0} MiB |");
    println!("| messages sent (work batches, continuations) | {invocations} |");
    println!("| requests while planning, by operation (functions and API; state machine calls not counted) | {} |", per_op(&requests, 1));
    println!("| requests per file planned | {} |", per_op(&requests, planned));
    // The work queue holds every batch: drop them rather than let a paused worker inherit them.
    s.clients.sqs.purge_queue().queue_url(&s.stack.queue("WorkQueue")?.url).send().await?;
    s.stop().await;
    Ok(())
}

unsafe extern "C" {
    /// glibc: gives the heap's free memory back to the system.
    fn malloc_trim(pad: usize) -> i32;
}

/// Gives freed heap back (so that what the seeding freed does not hide what is measured next),
/// then resets the process's peak resident memory (VmHWM) to its current size (Linux 4.0 and
/// later).
fn reset_peak_memory() {
    // SAFETY: malloc_trim only releases free pages of glibc's heap.
    unsafe { malloc_trim(0) };
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The reconciler's sweep of one asset of `n` files: the objects are put in the bucket and
/// registered as they are (the API's registration), then a sweep is started and its messages
/// are taken off the reconcile queue and handled one by one on clients of their own (counted
/// apart), until the queue is empty or `windows` messages were handled. Peak memory is the
/// process's high-water mark over the sweep alone (reset before it); the floor is the listing
/// of the same keys alone.
async fn sweep(n: usize, windows: Option<usize>) -> Result<()> {
    use slm_core::adapters::AwsCore;
use slm_core::service::ReconcileReport;
use slm_core::messages::ReconcileMessage;
    let s = Session::start_with("bench-sweep", Options::default()).await?;
    s.runner().pause("slm-reconciler");
    let prefix = "bench/sweep/";
    println!("benchmark: the reconciler's sweep of one asset of {n} files on the local stack ({})", s.stack.endpoint);
    let seed_start = Instant::now();
    s.put_objects(prefix, n, 1).await?;
    let put_secs = seed_start.elapsed().as_secs_f64();
    let reg_start = Instant::now();
    s.api_ok("POST", "/assets", Some(json!({"asset_id": "sweep-1", "title_id": "bench", "asset_type": "vfx_plate", "bucket": s.bucket, "prefix": prefix}))).await?;
    let reg_secs = reg_start.elapsed().as_secs_f64();
    let asset = s.api_ok("GET", "/assets/sweep-1", None).await?;
    let shards = asset["shards"].as_u64().context("shards")? as u32;
    let config = function_config(s.stack.function("slm-reconciler")?, &Default::default())?;
    let window = slm_core::domain::repair::window_keys(config.reconcile_keys_per_message, shards);
    println!("put {n} objects in {put_secs:.0} s, registered them in {reg_secs:.0} s; {shards} shards, windows of {window} keys");

    let counter = RequestCounter::default();
    let core = AwsCore::new(&Clients::new(&slm_local::sdk_config(&s.stack.endpoint).await, Some(&counter)), config.clone());
    let url = s.stack.queue("ReconcileQueue")?.url.clone();
    reset_peak_memory();
    let (rss_before, _) = memory_mib();
    let start = Instant::now();
    let run = core.reconcile(chrono::Utc::now()).await?;
    anyhow::ensure!(run.sweep.as_deref() == Some("started"), "no sweep started: {run:?}");
    // The scheduled run's own reads (the open tasks' index) are not the sweep's.
    counter.reset();
    let (mut handled, mut keys, mut repairs, mut stale) = (0usize, 0usize, 0usize, 0usize);
    let mut peak_sampled = rss_before;
    loop {
        let out = s.clients.sqs.receive_message().queue_url(&url).max_number_of_messages(1).wait_time_seconds(1).send().await?;
        let Some(m) = out.messages().first() else {
            if s.queue_depth("ReconcileQueue").await? == 0 {
                break;
            }
            continue;
        };
        let message: ReconcileMessage = serde_json::from_str(m.body().unwrap_or_default())?;
        if let ReconcileReport::Swept(r) = core.handle_reconcile(message).await? {
            keys += r.keys_compared;
            repairs += r.repairs.values().sum::<usize>();
            stale += usize::from(r.sweep.is_some());
        }
        s.clients.sqs.delete_message().queue_url(&url).receipt_handle(m.receipt_handle().unwrap_or_default()).send().await?;
        handled += 1;
        peak_sampled = peak_sampled.max(memory_mib().0);
        if handled % 5 == 0 {
            println!("  {handled} messages, {keys} keys compared ({:.0} s, RSS {:.0} MiB)", start.elapsed().as_secs_f64(), memory_mib().0);
        }
        if windows.is_some_and(|w| handled >= w) {
            break;
        }
    }
    let sweep_secs = start.elapsed().as_secs_f64();
    let (_, hwm) = memory_mib();
    let requests = counter.snapshot();
    anyhow::ensure!(repairs == 0 && stale == 0, "the sweep found {repairs} repairs and {stale} stale messages in an asset that did not drift");

    // The floor: the listing of the same keys alone (pages of 1,000 versions).
    let raw_start = Instant::now();
    let (mut listed, mut pages, mut marker): (usize, usize, Option<String>) = (0, 0, None);
    while listed < keys {
        let page = s.clients.s3.list_object_versions().bucket(&s.bucket).prefix(prefix).set_key_marker(marker.clone()).max_keys(1000).send().await?;
        pages += 1;
        listed += page.versions().len();
        marker = page.next_key_marker().map(str::to_string);
        if page.is_truncated() != Some(true) {
            break;
        }
    }
    let raw_secs = raw_start.elapsed().as_secs_f64();

    // What one message read before this change: the first 1,001 files of every shard, held at
    // once (raw queries, same table), and the memory that takes.
    let files_table = config.tables.files.clone();
    reset_peak_memory();
    let (rss_old_before, _) = memory_mib();
    let old_start = Instant::now();
    let mut held = Vec::new();
    for shard in 0..shards {
        let out = s
            .clients
            .dynamodb
            .query()
            .table_name(&files_table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(format!("sweep-1#{shard:03}")))
            .consistent_read(true)
            .limit(config.reconcile_keys_per_message as i32 + 1)
            .send()
            .await?;
        held.extend(out.items().iter().cloned());
    }
    let old_secs = old_start.elapsed().as_secs_f64();
    let (_, old_hwm) = memory_mib();
    let old_items = held.len();
    drop(held);

    let per_k = |secs: f64| secs * 1000.0 / keys.max(1) as f64;
    println!();
    println!("| measure | value |");
    println!("| --- | --- |");
    println!("| files in the asset | {n}, over {shards} shards (windows of {window} keys, at most {} files read a shard) |", slm_core::domain::repair::shard_read_limit(window, shards));
    println!("| messages handled | {handled} (the sweep's page of assets and the asset's own messages){} |", if windows.is_some() { ", stopped there" } else { "" });
    println!("| keys compared | {keys} (no drift: no repair) |");
    println!("| sweep: wall time | {sweep_secs:.1} s ({:.2} s per 1,000 keys) |", per_k(sweep_secs));
    println!("| floor: the listing of the same keys alone ({pages} ListObjectVersions) | {raw_secs:.1} s ({:.2} s per 1,000 keys; sweep / listing = {:.1}) |", per_k(raw_secs), sweep_secs / raw_secs.max(1e-9));
    let per_file = requests.iter().map(|(op, c)| format!("{op} {:.4}", *c as f64 / keys.max(1) as f64)).collect::<Vec<_>>().join(", ");
    println!("| requests per file compared | {per_file} |");
    println!("| requests | {} |", per_op(&requests, 1));
    println!("| process RSS before the sweep / peak during it (VmHWM, reset before; sampled {peak_sampled:.0}) | {rss_before:.0} MiB / {hwm:.0} MiB (+{:.0} MiB) |", hwm - rss_before);
    println!("| before this change, one message's read: every shard's first {} files, raw | {old_items} items held, {old_secs:.1} s, RSS {rss_old_before:.0} -> {old_hwm:.0} MiB (+{:.0} MiB) |", config.reconcile_keys_per_message + 1, old_hwm - rss_old_before);
    s.clients.sqs.purge_queue().queue_url(&url).send().await?;
    s.stop().await;
    Ok(())
}

/// The kinds `--faults` names (one, or all), refused with the list when unknown, and the rate.
fn fault_kinds(kinds: &str, rate: f64) -> Result<Vec<slm_local::faults::FaultKind>> {
    use slm_local::faults::FaultKind;
    anyhow::ensure!((0.0..=0.5).contains(&rate), "--fault-rate is a share of attempts, from 0 to 0.5, not {rate}");
    Ok(match kinds {
        "all" => FaultKind::ALL.to_vec(),
        one => vec![FaultKind::parse(one).with_context(|| format!("--faults: no fault kind {one:?}; one of all, {}", FaultKind::ALL.map(|k| k.name()).join(", ")))?],
    })
}

/// The runs `--faults` asks for after the run without faults: a comma-separated list of kinds
/// (each alone) and `all` (every kind at once); `each` is every kind alone and then all.
fn fault_runs(spec: &str, rate: f64) -> Result<Vec<(String, Vec<slm_local::faults::FaultKind>)>> {
    use slm_local::faults::FaultKind;
    let names: Vec<String> = match spec {
        "each" => FaultKind::ALL.iter().map(|k| k.name().to_string()).chain(["all".to_string()]).collect(),
        list => list.split(',').map(|n| n.trim().to_string()).collect(),
    };
    names.into_iter().map(|n| Ok((n.clone(), fault_kinds(&n, rate)?))).collect()
}

/// The lifecycle without faults and then under each of the runs `spec` names, one after the
/// other on fresh sessions of the same emulator: time, requests and retries, faults by kind,
/// redeliveries, and what the checks found broken.
async fn faults(files: usize, spec: &str, rate: f64, seed: u64) -> Result<()> {
    use slm_local::lifecycle::{Outcome, Plan, run};
    let runs = fault_runs(spec, rate)?;
    println!("benchmark: the lifecycle of {files} files without faults, then under {spec} at {:.1} % (seed {seed})", rate * 100.0);
    let wait = Duration::from_secs(7200);
    let mut outcomes: Vec<(String, Outcome)> = Vec::new();
    let clean = run(&Plan { name: "bench-clean".into(), files, kinds: vec![], rate, seed, wait }).await?;
    println!("without faults: {:.1} s, steps {:?}, {} requests, {} retries", clean.seconds, clean.steps, clean.requests, clean.retries);
    outcomes.push(("without faults".into(), clean));
    for (name, kinds) in runs {
        let outcome = run(&Plan { name: format!("bench-{name}"), files, kinds, rate, seed, wait }).await?;
        // Each run's figures as it ends, so that a long bench stopped early keeps the runs it finished.
        let o = &outcome;
        println!(
            "under {name}: {:.1} s ({:.1}x), steps {:?}, {} requests, {} retries, {} faults injected {:?}, {} redelivered, reconciler {} runs / {} repairs / {} failed, {} redriven, {} broken checks",
            o.seconds,
            o.seconds / outcomes[0].1.seconds,
            o.steps,
            o.requests,
            o.retries,
            o.injected_total(),
            o.injected,
            o.redeliveries,
            o.reconciler_runs,
            o.repairs,
            o.failed_runs,
            o.redriven,
            o.violations.len()
        );
        outcomes.push((format!("under {name}"), outcome));
    }
    let row = |measure: &str, cell: &dyn Fn(&Outcome) -> String| {
        println!("| {measure} | {} |", outcomes.iter().map(|(_, o)| cell(o)).collect::<Vec<_>>().join(" | "));
    };
    println!("\n| measure | {} |\n| --- |{}", outcomes.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(" | "), " --- |".repeat(outcomes.len()));
    for (i, (action, _, _)) in outcomes[0].1.steps.iter().enumerate() {
        row(action, &|o| o.steps.get(i).map_or("-".to_string(), |(_, status, s)| format!("{s:.1} s ({status})")));
    }
    let base = outcomes[0].1.seconds;
    row("whole run", &|o| format!("{:.1} s ({:.1}x)", o.seconds, o.seconds / base));
    row("requests (attempts) of slm's functions and of the runner's polling", &|o| o.requests.to_string());
    row("of them retries (attempts beyond an operation's first)", &|o| o.retries.to_string());
    row("faults injected", &|o| o.injected_total().to_string());
    row("messages redelivered (failed or killed)", &|o| o.redeliveries.to_string());
    row("reconciler runs (a task stood still) / repairs", &|o| format!("{} / {}", o.reconciler_runs, o.repairs));
    row("scheduled reconciler runs failed after Lambda's retries (the next one followed)", &|o| o.failed_runs.to_string());
    row("dead letters redriven", &|o| o.redriven.to_string());
    row("broken checks (objects lost or wrongly touched, counters, events)", &|o| o.violations.len().to_string());
    for (name, o) in &outcomes[1..] {
        let faults: Vec<String> = o.injected.iter().map(|(fault, n)| format!("{fault} {n}")).collect();
        println!("\n{name}, faults injected: {}", faults.join(", "));
    }
    let broken: Vec<&String> = outcomes.iter().flat_map(|(_, o)| &o.violations).collect();
    for v in &broken {
        println!("broken: {v}");
    }
    anyhow::ensure!(broken.is_empty(), "checks broke under faults (above)");
    Ok(())
}
