//! `slm bench --lambda-memory`: each function's own release binary, run as Lambda runs it (a
//! process behind the Runtime API, with the function's environment as the local stack provisions
//! it), fed its heaviest input on the local stack; its peak resident memory (VmHWM) after the
//! invocations answered, beside the template's MemorySize. Every invocation must answer without
//! error and with no batch item failure, and the work it did is checked where it shows (tasks
//! SUCCEEDED, assets registered, a sweep with nothing to repair).

use super::runtime_api::{Answer, RuntimeApi};
use anyhow::{Context, Result, bail};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use chrono::Utc;
use serde_json::{Value, json};
use slm_local::provision::{LocalFunction, REGION};
use slm_local::session::{CALLER, Options, Session};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The functions, by binary.
const BINARIES: [&str; 6] = ["slm-api", "slm-planner", "slm-worker", "slm-completion", "slm-evaluator", "slm-reconciler"];

/// Each invocation's deadline: wider than the template's timeouts, because the emulator takes
/// most of a second for what AWS does in milliseconds, so that each function does all of its
/// input's work (the evaluator reaches its cap, the worker acts on every file of its batch).
const DEADLINE: Duration = Duration::from_secs(900);

/// One function's process and its Runtime API.
struct Function {
    binary: String,
    api: RuntimeApi,
    child: tokio::process::Child,
    log: PathBuf,
    memory_mb: u64,
    init_kib: u64,
    invocations: usize,
}

impl Function {
    /// Starts `dir/<binary>` with the function's environment, the emulator's endpoint and test
    /// credentials, and waits until its runtime asks for its first event (its init is done).
    async fn start(dir: &Path, f: &LocalFunction, memory_mb: u64, endpoint: &str) -> Result<Self> {
        let arn = format!("arn:aws:lambda:{REGION}:123456789012:function:{}", f.logical_id);
        let api = RuntimeApi::start(&arn).await?;
        let logs = slm_local::files::data_dir().join("lambda-memory");
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        let log = logs.join(format!("{}.log", f.binary));
        let out = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let binary = dir.join(&f.binary);
        let child = tokio::process::Command::new(&binary)
            .env_clear()
            .envs(&f.env)
            .envs([
                ("AWS_LAMBDA_RUNTIME_API", api.address.as_str()),
                ("AWS_LAMBDA_FUNCTION_NAME", &f.logical_id),
                ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", &memory_mb.to_string()),
                ("AWS_LAMBDA_LOG_GROUP_NAME", &format!("/aws/lambda/{}", f.logical_id)),
                ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
                ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
                ("AWS_REGION", REGION),
                ("AWS_DEFAULT_REGION", REGION),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("AWS_ENDPOINT_URL", endpoint),
            ])
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut function = Function { binary: f.binary.clone(), api, child, log, memory_mb, init_kib: 0, invocations: 0 };
        let start = Instant::now();
        while !function.api.polled() {
            if let Some(status) = function.child.try_wait()? {
                bail!("{} exited during its init ({status}; init error {:?}); its log: {}", function.binary, function.api.init_error(), function.log.display());
            }
            anyhow::ensure!(start.elapsed() < Duration::from_secs(30), "{} did not ask for an event within 30 s; its log: {}", function.binary, function.log.display());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        function.init_kib = function.peak_kib()?;
        Ok(function)
    }

    /// One invocation with `event`; its response, or an error if it answered with an error or
    /// the process exited.
    async fn invoke(&mut self, event: &Value) -> Result<Value> {
        let Function { api, child, binary, log, .. } = self;
        let start = Instant::now();
        let answer = tokio::select! {
            answer = tokio::time::timeout(DEADLINE + Duration::from_secs(60), api.invoke(event, DEADLINE)) => answer.with_context(|| format!("{binary} did not answer"))??,
            status = child.wait() => bail!("{binary} exited during an invocation ({:?}); its log: {}", status?, log.display()),
        };
        self.invocations += 1;
        match answer {
            Answer::Response(response) => {
                println!("  {} invocation {} answered in {:.1} s; peak RSS so far {:.1} MiB", self.binary, self.invocations, start.elapsed().as_secs_f64(), self.peak_kib()? as f64 / 1024.0);
                Ok(response)
            }
            Answer::Error(kind, body) => bail!("{} answered invocation {} with an error {kind}: {body}; its log: {}", self.binary, self.invocations, self.log.display()),
        }
    }

    /// Invokes it with an SQS event and fails on any batch item failure.
    async fn invoke_sqs(&mut self, event: &Value) -> Result<()> {
        let response = self.invoke(event).await?;
        let failures = response["batchItemFailures"].as_array().map_or(0, Vec::len);
        anyhow::ensure!(failures == 0, "{} reported {failures} of the batch's messages failed: {response}; its log: {}", self.binary, self.log.display());
        Ok(())
    }

    /// The process's peak resident memory so far (VmHWM), KiB.
    fn peak_kib(&self) -> Result<u64> {
        let pid = self.child.id().context("the process has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading the process's status (Linux /proc)")?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("no VmHWM in /proc/<pid>/status")?;
        line.split_whitespace().nth(1).and_then(|kb| kb.parse().ok()).context("VmHWM")
    }

    /// The process's CPU time so far (user and system), seconds.
    fn cpu_seconds(&self) -> Result<f64> {
        let pid = self.child.id().context("the process has exited")?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).context("reading the process's stat (Linux /proc)")?;
        // After the command's name in parentheses: state is field 3, utime and stime 14 and 15,
        // in clock ticks (USER_HZ, 100 a second on Linux).
        let fields: Vec<&str> = stat.rsplit_once(')').context("/proc/<pid>/stat")?.1.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<f64>().ok()).context("utime and stime in /proc/<pid>/stat");
        Ok((ticks(14)? + ticks(15)?) / 100.0)
    }

    /// The figures, and the process stopped.
    async fn finish(mut self, input: String) -> Result<Row> {
        let (peak_kib, cpu_seconds) = (self.peak_kib()?, self.cpu_seconds()?);
        let _ = self.child.kill().await;
        Ok(Row { binary: self.binary, input, invocations: self.invocations, init_kib: self.init_kib, peak_kib, cpu_seconds, memory_mb: self.memory_mb })
    }
}

struct Row {
    binary: String,
    input: String,
    invocations: usize,
    init_kib: u64,
    peak_kib: u64,
    cpu_seconds: f64,
    memory_mb: u64,
}

/// The bench's session and where the binaries are.
struct Bench {
    s: Session,
    dir: PathBuf,
    memory: std::collections::BTreeMap<String, u64>,
}

impl Bench {
    async fn start(&self, binary: &str) -> Result<Function> {
        let f = self.s.stack.function(binary)?;
        Function::start(&self.dir, f, self.memory.get(&f.logical_id).copied().unwrap_or(128), &self.s.stack.endpoint).await
    }

    /// Up to `max` messages of a queue (fewer once `patience` passed without another), hidden
    /// from other readers for an hour (the bench's own handling of them).
    async fn receive(&self, queue: &str, max: usize, patience: Duration) -> Result<Vec<Message>> {
        let url = &self.s.stack.queue(queue)?.url;
        let mut got: Vec<Message> = Vec::new();
        let mut last = Instant::now();
        while got.len() < max && last.elapsed() < patience {
            let out = self
                .s
                .clients
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages((max - got.len()).min(10) as i32)
                .visibility_timeout(3600)
                .wait_time_seconds(1)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await?;
            let messages = out.messages.unwrap_or_default();
            if !messages.is_empty() {
                last = Instant::now();
            }
            got.extend(messages);
        }
        Ok(got)
    }

    /// The SqsEvent Lambda's event source would send with these messages.
    fn event(&self, queue: &str, messages: &[Message]) -> Result<Value> {
        let arn = &self.s.stack.queue(queue)?.arn;
        let mut event = aws_lambda_events::sqs::SqsEvent::default();
        event.records = messages.iter().map(|m| slm_local::runner::sqs_record(m, arn)).collect();
        Ok(serde_json::to_value(event)?)
    }

    /// Deletes handled messages, as the event source does after a successful invocation.
    async fn delete(&self, queue: &str, messages: &[Message]) -> Result<()> {
        let url = &self.s.stack.queue(queue)?.url;
        for m in messages {
            self.s.clients.sqs.delete_message().queue_url(url).receipt_handle(m.receipt_handle().unwrap_or_default()).send().await?;
        }
        Ok(())
    }

    /// Feeds a function every message of its queue, in batches of its event source's size, the
    /// largest first by what `size` counts (so the heaviest batch the queue allows is one of
    /// them), until the queue stays empty; the heaviest batch's messages and size.
    async fn drain(&self, function: &mut Function, queue: &str, batch: usize, size: impl Fn(&Message) -> usize) -> Result<(usize, usize)> {
        let mut heaviest = (0, 0);
        loop {
            let mut messages = self.receive(queue, usize::MAX, Duration::from_secs(3)).await?;
            if messages.is_empty() {
                return Ok(heaviest);
            }
            messages.sort_by_key(|m| std::cmp::Reverse(size(m)));
            for chunk in messages.chunks(batch) {
                function.invoke_sqs(&self.event(queue, chunk)?).await?;
                self.delete(queue, chunk).await?;
                let weight = chunk.iter().map(&size).sum::<usize>();
                if (weight, chunk.len()) > (heaviest.1, heaviest.0) {
                    heaviest = (chunk.len(), weight);
                }
            }
        }
    }

    fn batch_size(&self, binary: &str) -> Result<usize> {
        Ok(self.s.stack.function(binary)?.sqs.first().context("no SQS event source")?.batch_size)
    }
}

/// Assets of the purge, each of `files` objects; the heaviest planner input is two pages at
/// once (the planner plans two messages of its batch at a time).
const PURGED: [&str; 2] = ["purge-1", "purge-2"];
/// Objects of the restored asset: one completion batch (the template's BatchSize of 10).
const RESTORED: usize = 10;
/// Titles of the evaluator's assets, and how many of them launched early enough to be due.
const TITLES: usize = 20;
const DUE_TITLES: usize = 3;

/// Objects in each purged asset: enough that its work messages are full (99 files, the
/// template's largest BatchSize) in most of its 16 shards, so that a worker batch of five holds
/// the most keys the template allows.
const PURGE_FILES: usize = 2000;

pub async fn lambda_memory(dir: Option<PathBuf>) -> Result<()> {
    let dir = match dir {
        Some(d) => d,
        None => slm_local::files::checkout().context("not run from a checkout: name the binaries' directory with --functions-dir")?.join("target/release"),
    };
    let missing: Vec<&str> = BINARIES.iter().copied().filter(|b| !dir.join(b).is_file()).collect();
    anyhow::ensure!(
        missing.is_empty(),
        "no {} in {}: build the functions first (cargo build --release {})",
        missing.join(", "),
        dir.display(),
        BINARIES.map(|b| format!("-p {b}")).join(" ")
    );
    let memory = slm_local::Template::load_default()?.functions()?.into_iter().map(|f| (f.logical_id, f.memory_mb)).collect();
    // An unversioned bucket: on moto a versioned purge lists each key's versions by walking the
    // whole bucket, which at these sizes takes minutes a batch and gigabytes of the emulator.
    let s = Session::start_with("bench-lambda", Options::default()).await?;
    println!("benchmark: each function's release binary ({}) on its heaviest input, on the local stack ({})", dir.display(), s.stack.endpoint);
    let b = Bench { s, dir, memory };
    let rows = run(&b, PURGE_FILES).await;
    b.s.stop().await;
    let rows = rows?;
    println!("\n| function | input | invocations | RSS after init | peak RSS (VmHWM) | CPU time (init and invocations) | MemorySize |\n| --- | --- | --- | --- | --- | --- | --- |");
    for r in &rows {
        let mib = |kib: u64| kib as f64 / 1024.0;
        println!("| {} | {} | {} | {:.1} MiB | {:.1} MiB | {:.2} s | {} MB |", r.binary, r.input, r.invocations, mib(r.init_kib), mib(r.peak_kib), r.cpu_seconds, r.memory_mb);
    }
    let over: Vec<&str> = rows.iter().filter(|r| r.peak_kib / 1024 >= r.memory_mb).map(|r| r.binary.as_str()).collect();
    anyhow::ensure!(over.is_empty(), "{} peaked at or above the MemorySize the template gives them", over.join(", "));
    Ok(())
}

async fn run(b: &Bench, files: usize) -> Result<Vec<Row>> {
    // The evaluator's policy and titles first, while the planner runs the reschedules they send.
    let doc = json!({"policy_id": "archive-edit", "selector": {"asset_types": ["editorial"]}, "anchor": "title.launch", "offset_days": 30,
        "action": {"action": "archive", "storage_class": "GLACIER"}, "priority": 10});
    b.s.api_ok("POST", "/policies", Some(doc.clone())).await?;
    for t in 0..TITLES {
        let launch = if t < DUE_TITLES { "2027-01-01" } else { "2028-06-01" };
        b.s.api_ok("PUT", &format!("/titles/show-{t:03}"), Some(json!({"dates": {"launch": launch}}))).await?;
    }
    b.s.wait_rescheduled().await?;
    let mut rows = vec![completion(b).await?];
    for binary in ["slm-planner", "slm-worker", "slm-reconciler"] {
        b.s.runner().pause(binary);
    }
    rows.extend(purge(b, files).await?);
    rows.push(evaluation(b, doc).await?);
    Ok(rows)
}

/// The completion function on one batch of ObjectRestore:Completed notifications, the last
/// files of a restore task: file transitions, the task's counters and its completion.
async fn completion(b: &Bench) -> Result<Row> {
    let s = &b.s;
    let prefix = "bench/restored/";
    let keys = s.put_objects(prefix, RESTORED, 32).await?;
    s.api_ok("POST", "/assets", Some(json!({"asset_id": "restored-1", "title_id": "bench", "asset_type": "camera_original", "bucket": s.bucket, "prefix": prefix}))).await?;
    let archive = s.request("restored-1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "lm-archive"})).await?;
    let task = s.wait_task(&archive, Duration::from_secs(600)).await?;
    anyhow::ensure!(task["status"] == "SUCCEEDED", "archive: {task}");
    let restore = s.request("restored-1", json!({"action": "restore", "days": 1, "tier": "Bulk", "request_id": "lm-restore"})).await?;
    s.wait_files("restored-1", Duration::from_secs(600), |f| f.values().all(|i| i.get("task_id") == Some(&restore) && i.get("step").map(String::as_str) == Some("REQUESTED"))).await?;
    s.wait_idle(&["S3EventsQueue"], Duration::from_secs(120)).await?;
    s.runner().pause("slm-completion");
    // On moto a read of a restored object completes its restore and sends the notification.
    for key in &keys {
        s.clients.s3.head_object().bucket(&s.bucket).key(key).send().await?;
    }
    let messages = b.receive("S3EventsQueue", RESTORED, Duration::from_secs(10)).await?;
    anyhow::ensure!(messages.len() == RESTORED, "{} notifications of completed restores, not {RESTORED}", messages.len());
    let mut f = b.start("slm-completion").await?;
    f.invoke_sqs(&b.event("S3EventsQueue", &messages)?).await?;
    b.delete("S3EventsQueue", &messages).await?;
    let task = s.wait_task(&restore, Duration::from_secs(300)).await?;
    anyhow::ensure!(task["status"] == "SUCCEEDED", "restore after the completion batch: {task}");
    f.finish(format!("{RESTORED} ObjectRestore:Completed notifications, the last files of a restore task (which completes)")).await
}

/// The purge of two assets of `files` objects each: the API registers
/// them, the reconciler sweeps them, the planner plans them, the worker deletes them.
async fn purge(b: &Bench, files: usize) -> Result<Vec<Row>> {
    let s = &b.s;
    let mut api = b.start("slm-api").await?;
    for asset in PURGED {
        let prefix = format!("bench/{asset}/");
        s.put_objects(&prefix, files, 32).await?;
        let body = json!({"asset_id": asset, "title_id": "bench", "asset_type": "vfx_plate", "bucket": s.bucket, "prefix": prefix});
        let request = slm_local::api_request("POST", "/assets", Some(&body), CALLER, &s.stack.account, Utc::now());
        let response = api.invoke(&serde_json::to_value(request)?).await?;
        anyhow::ensure!(response["statusCode"] == 201, "POST /assets {asset}: {response}");
    }
    let mut rows = vec![api.finish(format!("POST /assets of an asset of {files} objects (listed and written in the invocation), twice")).await?];

    let mut reconciler = b.start("slm-reconciler").await?;
    let run = reconciler.invoke(&schedule_event(Utc::now())).await?;
    anyhow::ensure!(run["sweep"] == "started", "the scheduled run started no sweep: {run}");
    let mut sweeps = 0;
    loop {
        let messages = b.receive("ReconcileQueue", 1, Duration::from_secs(3)).await?;
        if messages.is_empty() {
            break;
        }
        reconciler.invoke_sqs(&b.event("ReconcileQueue", &messages)?).await?;
        b.delete("ReconcileQueue", &messages).await?;
        sweeps += 1;
    }
    let repairs = s.repairs(PURGED[0]).await?.len() + s.repairs(PURGED[1]).await?.len();
    anyhow::ensure!(repairs == 0, "the sweep repaired {repairs} files of assets that did not drift");
    rows.push(reconciler.finish(format!("a scheduled run, then its sweep of {} files message by message ({sweeps} message{})", 2 * files + RESTORED, if sweeps == 1 { "" } else { "s" })).await?);

    let tasks: Vec<String> = futures::future::try_join_all(PURGED.map(|a| s.request(a, json!({"action": "purge", "request_id": format!("lm-{a}")})))).await?;
    let start = Instant::now();
    while s.queue_depth("ControlQueue").await? < PURGED.len() {
        anyhow::ensure!(start.elapsed() < Duration::from_secs(120), "the purges' plan messages did not arrive");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut planner = b.start("slm-planner").await?;
    let (largest, _) = b.drain(&mut planner, "ControlQueue", b.batch_size("slm-planner")?, |_| 1).await?;
    rows.push(planner.finish(format!("the purges' plan messages and their continuations, {largest} at a time, {} files planned", 2 * files)).await?);

    let mut worker = b.start("slm-worker").await?;
    let keys = |m: &Message| serde_json::from_str::<Value>(m.body().unwrap_or_default()).ok().and_then(|v| v["files"].as_array().map(Vec::len)).unwrap_or(0);
    let (messages, most) = b.drain(&mut worker, "WorkQueue", b.batch_size("slm-worker")?, keys).await?;
    for task in &tasks {
        let t = s.wait_task(task, Duration::from_secs(300)).await?;
        anyhow::ensure!(t["status"] == "SUCCEEDED", "purge: {t}");
    }
    rows.push(worker.finish(format!("purge batches of work messages, the heaviest {messages} messages of {most} keys, {} keys in all", 2 * files)).await?);
    Ok(rows)
}

/// The evaluator's scheduled run over assets of which more are due than its cap: it creates and
/// starts its cap of tasks.
async fn evaluation(b: &Bench, doc: Value) -> Result<Row> {
    use slm_core::domain::policy::next_due;
    use slm_core::domain::{Policy, PolicyDoc, Title};
    let s = &b.s;
    let f = s.stack.function("slm-evaluator")?;
    let config = slm_local::runner::function_config(f, &Default::default())?;
    let cap: usize = f.env.get("EVALUATION_MAX_STARTS").and_then(|c| c.parse().ok()).context("EVALUATION_MAX_STARTS")?;
    let policy = Policy { doc: serde_json::from_value::<PolicyDoc>(doc)?, version: 1, created_at: String::new(), created_by: String::new() };
    let n = cap * 10;
    let titles: Vec<Title> = (0..TITLES)
        .map(|t| {
            let launch = if t < DUE_TITLES { "2027-01-01" } else { "2028-06-01" };
            Title { title_id: format!("show-{t:03}"), name: None, dates: [("launch".to_string(), launch.parse().expect("date"))].into(), updated_at: String::new() }
        })
        .collect();
    let assets: Vec<_> = (0..n)
        .map(|i| {
            let title = &titles[i % TITLES];
            let asset = super::seeded_asset(i, &title.title_id);
            let due = next_due(&asset, Some(title), std::slice::from_ref(&policy), None);
            (asset, due)
        })
        .collect();
    for chunk in assets.chunks(2500) {
        super::put_assets(&s.clients.dynamodb, &config.tables, chunk).await?;
    }
    let mut evaluator = b.start("slm-evaluator").await?;
    let run = evaluator.invoke(&schedule_event("2027-06-01T02:00:00Z".parse()?)).await?;
    let created = run["tasks_created"].as_u64().context("tasks_created")?;
    anyhow::ensure!(created == cap as u64, "the evaluator created {created} tasks, not its cap of {cap}: {run}");
    evaluator.finish(format!("a scheduled run over {n} assets, more due than its cap: {created} tasks created and started")).await
}

/// The event EventBridge's schedule sends at `time`.
fn schedule_event(time: chrono::DateTime<Utc>) -> Value {
    let mut event = aws_lambda_events::eventbridge::EventBridgeEvent::<Value>::default();
    event.detail_type = "Scheduled Event".into();
    event.source = "aws.events".into();
    event.time = Some(time);
    event.region = Some(REGION.into());
    event.detail = json!({});
    serde_json::to_value(event).expect("an event")
}
