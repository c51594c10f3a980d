//! The whole lifecycle of one asset (archive, restore, purge) on the local stack under chosen
//! faults, checked from S3 and DynamoDB directly: the fault suite (tests/faults.rs) and
//! `slm bench --faults` run it. The reconciler runs as its schedule would, whenever a task stands
//! still and once after each task; after the last task the dead-letter queues are redriven, as
//! `slm dlq redrive` does.
//!
//! What must hold, whatever was injected (each broken one is a [`Outcome::violations`] line):
//! - every task ends SUCCEEDED (the faults are all transient), its execution too;
//! - its counters equal its files' states (planned, succeeded = n; failed, skipped, outstanding 0);
//! - after the archive each registered key has exactly one version, current, in GLACIER, the one
//!   its file item names (no superseded STANDARD version left billing, no second copy);
//! - after the restore each carries a completed restore; after the purge no version or delete
//!   marker of a registered key is left;
//! - objects no task selected (a neighbouring asset, keys beside the asset's prefix that
//!   it was registered) keep every version as it was;
//! - a subscriber received exactly one completion event (by event id) per task, none other;
//! - the dead-letter queues are empty once redriven;
//! - the metrics the functions wrote (EMF, `slm_core::metrics`) count the files and bytes each
//!   task moved, by action and class, and the tasks' starts and ends: exactly without faults; under
//!   faults never more (a count is made once, after the write it counts applied, and a count
//!   whose write's answer was lost is not made).

use crate::faults::{DeliveryFaults, FaultInjector, FaultKind};
use crate::runner::RunnerOptions;
use crate::session::{Options, Session, VersionRow, dedupe, tally};
use anyhow::{Context, Result};
use chrono::Utc;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// One run: the asset's size and the faults.
#[derive(Debug, Clone)]
pub struct Plan {
    /// A short name for the session's resources.
    pub name: String,
    pub files: usize,
    /// No kind: the run without faults.
    pub kinds: Vec<FaultKind>,
    /// Of each kind's attempts (or invocations, or notifications), the share faulted.
    pub rate: f64,
    pub seed: u64,
    /// How long one step may take before the run fails.
    pub wait: Duration,
}

/// What a run did and what broke.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Each task: action, status, seconds from request to end.
    pub steps: Vec<(String, String, f64)>,
    /// Faults injected, by service and fault, and the runner's, by kind.
    pub injected: BTreeMap<String, u64>,
    /// Messages the functions reported failed or did not finish (they came back).
    pub redeliveries: u64,
    /// Requests slm's functions and the event-source runner's polling made (attempts, retries
    /// included): the polling grows with the run's time.
    pub requests: u64,
    /// Of those, the attempts beyond each operation's first: the SDK's retries.
    pub retries: u64,
    /// Scheduled reconciler runs made because a task stood still, and the repairs recorded.
    pub reconciler_runs: usize,
    /// Scheduled reconciler runs after each task (its sweep deletes what a killed batch left).
    pub sweeps: usize,
    /// Scheduled reconciler runs that failed even after Lambda's retries (an emulator too busy
    /// to answer within the attempt timeout): the next scheduled run follows.
    pub failed_runs: usize,
    pub repairs: usize,
    /// Messages found in dead-letter queues and redriven.
    pub redriven: usize,
    pub seconds: f64,
    pub violations: Vec<String>,
}

impl Outcome {
    pub fn injected_total(&self) -> u64 {
        self.injected.values().sum()
    }
}

const ASSET: &str = "plates-1";
/// Bytes of each of the asset's objects.
const OBJECT_BYTES: usize = 32;
const PREFIX: &str = "show/plates/";
/// A neighbouring asset whose prefix starts like the asset's.
const NEIGHBOUR: &str = "plates-2";
const NEIGHBOUR_PREFIX: &str = "show/plates-b/";
/// Keys no asset holds, beside the asset's prefix: no task selects them.
const LOOSE_PREFIX: &str = "show/plates-unregistered/";
/// How long a task may stand still before the reconciler runs, as its schedule would.
const STILL: Duration = Duration::from_secs(20);

/// Runs the lifecycle under the plan's faults.
pub async fn run(plan: &Plan) -> Result<Outcome> {
    let rules: Vec<_> = plan.kinds.iter().flat_map(|k| k.rules(plan.rate)).collect();
    let injector = if plan.kinds.is_empty() { None } else { Some(FaultInjector::start(rules, plan.seed).await?) };
    let deliveries = DeliveryFaults::of(&plan.kinds, plan.rate, plan.seed);
    let options = Options {
        versioned: true,
        faults: injector.clone(),
        runner: RunnerOptions { faults: deliveries.clone(), ..RunnerOptions::default() },
        ..Options::default()
    };
    let s = Session::start_with(&plan.name, options).await?;
    let set_faults = |on: bool| {
        if let Some(i) = &injector {
            i.set_active(on);
        }
        deliveries.set_active(on);
    };
    set_faults(false);
    let result = Box::pin(lifecycle(&s, plan, &set_faults)).await;
    set_faults(false);
    let mut out = match result {
        Ok(out) => out,
        Err(e) => {
            s.stop().await;
            return Err(e);
        }
    };
    if let Some(i) = &injector {
        out.injected.extend(i.tally());
    }
    out.injected.extend(deliveries.stats.tally());
    out.redeliveries = s.runner().stats.failures.load(Ordering::Relaxed) + deliveries.stats.crashes.load(Ordering::Relaxed);
    s.stop().await;
    Ok(out)
}

async fn lifecycle(s: &Session, plan: &Plan, set_faults: &dyn Fn(bool)) -> Result<Outcome> {
    let n = plan.files;
    let mut out = Outcome::default();
    let started = Instant::now();
    let keys: BTreeSet<String> = s.put_objects(PREFIX, n, OBJECT_BYTES).await?.into_iter().collect();
    s.put_objects(NEIGHBOUR_PREFIX, 20, 32).await?;
    s.register(ASSET, PREFIX, "vfx_plate").await?;
    s.register(NEIGHBOUR, NEIGHBOUR_PREFIX, "vfx_plate").await?;
    s.put_objects(LOOSE_PREFIX, 10, 32).await?;
    let bystanders = versions(s, &[NEIGHBOUR_PREFIX, LOOSE_PREFIX]).await?;
    let neighbour = neighbour_files(s).await?;
    s.counter.reset();
    set_faults(true);

    let mut tasks = Vec::new();
    for (action, body) in [
        ("archive", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "archive-1"})),
        ("restore", json!({"action": "restore", "days": 30, "tier": "Bulk", "request_id": "restore-1"})),
        ("purge", json!({"action": "purge", "request_id": "purge-1"})),
    ] {
        let at = Instant::now();
        let id = request(s, body).await?;
        // A restore's objects are read once all are requested (on moto the read completes
        // them), while the task is watched (and the reconciler run if it stands still).
        let reads = async {
            if action == "restore" {
                s.complete_restores(ASSET, &id, plan.wait).await?;
            }
            Ok::<_, anyhow::Error>(())
        };
        let (_, task) = tokio::try_join!(reads, wait(s, &id, plan.wait, &mut out))?;
        out.steps.push((action.to_string(), task["status"].as_str().unwrap_or("?").to_string(), at.elapsed().as_secs_f64()));
        tasks.push((id.clone(), action));
        // A batch deletes the versions its copies superseded after recording its files, so the
        // deletions of the last batches can follow the task's end by seconds, and a batch
        // killed in between leaves them to the reconciler's sweep. The objects are looked at
        // once no work message is left or in flight and the sweep has run, as its schedule would.
        s.wait_idle(&["WorkQueue"], plan.wait).await?;
        out.sweeps += 1;
        let mut swept = false;
        for _ in 0..10 {
            if scheduled_reconcile(s, &mut out).await {
                swept = true;
                break;
            }
        }
        anyhow::ensure!(swept, "10 scheduled reconciler runs in a row failed");
        check_task(&task, action, n, &mut out.violations);
        check_objects(s, action, &keys, &mut out.violations).await?;
    }
    out.requests = s.counter.snapshot().values().sum();
    out.retries = out.requests.saturating_sub(s.counter.operations());

    // Whatever a queue gave up on is sent back, and must then be done with.
    out.redriven = redrive(s).await?;
    set_faults(false);
    s.wait_idle(&["ControlQueue", "WorkQueue", "S3EventsQueue", "ReconcileQueue"], Duration::from_secs(300)).await?;
    let left = redrive(s).await?;
    if left > 0 {
        out.violations.push(format!("{left} messages were dead letters again after a redrive"));
    }
    check_events(s, &tasks, &mut out.violations).await?;
    let after = versions(s, &[NEIGHBOUR_PREFIX, LOOSE_PREFIX]).await?;
    if after != bystanders {
        out.violations.push(format!("objects no task selected changed: before {bystanders:?}, after {after:?}"));
    }
    let now = neighbour_files(s).await?;
    if now != neighbour {
        out.violations.push(format!("the neighbouring asset's files changed: before {neighbour:?}, after {now:?}"));
    }
    check_metrics(s, n, !plan.kinds.is_empty(), &mut out.violations)?;
    out.repairs = s.repairs(ASSET).await?.len();
    out.seconds = started.elapsed().as_secs_f64();
    Ok(out)
}

/// The neighbouring asset's files: key, state, class, version.
async fn neighbour_files(s: &Session) -> Result<BTreeSet<[String; 4]>> {
    let field = |f: &HashMap<String, String>, k: &str| f.get(k).cloned().unwrap_or_default();
    let files = s.file_items(NEIGHBOUR).await?;
    Ok(files.iter().map(|(k, f)| [k.clone(), field(f, "file_state"), field(f, "storage_class"), field(f, "version_id")]).collect())
}

async fn request(s: &Session, body: Value) -> Result<String> {
    // The API's own calls meet the faults too; a 5xx is an answer to retry, as a client does.
    for _ in 0..10 {
        let (status, answer) = s.api("POST", &format!("/assets/{ASSET}/tasks"), Some(body.clone())).await;
        if status == 202 || status == 200 {
            return Ok(answer["task"]["task_id"].as_str().context("task id")?.to_string());
        }
        anyhow::ensure!(status >= 500, "request {body}: {status} {answer}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::bail!("request {body}: the API kept answering 5xx")
}

/// Waits for the task to end, running the reconciler whenever it stands still for [`STILL`], at
/// a time past the reconciler's grace and recheck intervals (as its schedule would, later).
async fn wait(s: &Session, id: &str, limit: Duration, out: &mut Outcome) -> Result<Value> {
    let start = Instant::now();
    let (mut seen, mut moved) = (Value::Null, Instant::now());
    loop {
        let (status, task) = s.api("GET", &format!("/tasks/{id}"), None).await;
        if status == 200 {
            let ended = matches!(task["status"].as_str(), Some("SUCCEEDED" | "PARTIALLY_FAILED" | "FAILED"));
            if ended && s.execution_status(id).await? != "RUNNING" {
                return Ok(task);
            }
            let progress = json!([task["status"], task["counters"], task["planning_done"]]);
            if progress != seen {
                (seen, moved) = (progress, Instant::now());
            }
        }
        if moved.elapsed() > STILL {
            out.reconciler_runs += 1;
            scheduled_reconcile(s, out).await;
            moved = Instant::now();
        }
        anyhow::ensure!(start.elapsed() < limit, "task {id} did not end within {limit:?}: {seen}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One scheduled reconciler run, hours after the last (each run has a time of its own). False
/// when it failed even after Lambda's retries: on AWS the next scheduled run is the answer, and
/// the caller runs it when it needs it.
async fn scheduled_reconcile(s: &Session, out: &mut Outcome) -> bool {
    let at = Utc::now() + chrono::Duration::hours(7 * (out.reconciler_runs + out.sweeps + out.failed_runs) as i64);
    match s.reconcile(&at.to_rfc3339()).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "a scheduled reconciler run failed after Lambda's retries; the next one follows");
            out.failed_runs += 1;
            false
        }
    }
}

/// The metrics against what the tasks moved (see the module's documentation).
fn check_metrics(s: &Session, n: usize, faulted: bool, violations: &mut Vec<String>) -> Result<()> {
    use crate::metrics_log::sum;
    let points = s.runner().metrics.points()?;
    let (files, bytes) = (n as f64, (n * OBJECT_BYTES) as f64);
    let mut expected = Vec::new();
    for (action, class) in [("archive", "GLACIER"), ("restore", "GLACIER"), ("purge", "GLACIER")] {
        let at = [("Action", action), ("Class", class)];
        expected.push((format!("Files {action} {class}"), sum(&points, slm_core::metrics::FILES.name, &at), files));
        expected.push((format!("Bytes {action} {class}"), sum(&points, slm_core::metrics::BYTES.name, &at), bytes));
        expected.push((format!("TasksEnded {action} SUCCEEDED"), sum(&points, slm_core::metrics::TASKS_ENDED.name, &[("Action", action), ("Status", "SUCCEEDED")]), 1.0));
        if !faulted {
            expected.push((format!("TasksStarted {action}"), sum(&points, slm_core::metrics::TASKS_STARTED.name, &[("Action", action)]), 1.0));
        }
    }
    expected.push(("Files of any action".into(), sum(&points, slm_core::metrics::FILES.name, &[]), 3.0 * files));
    for (what, got, want) in expected {
        if got > want || (!faulted && got != want) {
            violations.push(format!("metrics: {what} is {got}, the tasks moved {want}"));
        }
    }
    // Purged files stop billing: what they saved is what they cost.
    if !faulted && sum(&points, slm_core::metrics::SAVINGS.name, &[("Action", "purge")]) <= 0.0 {
        violations.push("metrics: the purge saved nothing".into());
    }
    Ok(())
}

fn check_task(task: &Value, action: &str, n: usize, violations: &mut Vec<String>) {
    if task["status"] != "SUCCEEDED" {
        violations.push(format!("{action}: the task ended {} ({})", task["status"], task["reason"]));
    }
    let c = &task["counters"];
    let counters: Vec<i64> = ["planned", "succeeded", "failed", "skipped", "outstanding"].iter().map(|k| c[k].as_i64().unwrap_or(-1)).collect();
    if counters != [n as i64, n as i64, 0, 0, 0] {
        violations.push(format!("{action}: counters (planned, succeeded, failed, skipped, outstanding) are {counters:?}, not [{n}, {n}, 0, 0, 0]"));
    }
}

/// Each registered key's versions and its file item against what the action must leave.
async fn check_objects(s: &Session, action: &str, keys: &BTreeSet<String>, violations: &mut Vec<String>) -> Result<()> {
    let files = s.file_items(ASSET).await?;
    let state = match action {
        "archive" => "ARCHIVED",
        "restore" => "RESTORED",
        _ => "PURGED",
    };
    let states = tally(files.values().map(|f| f.get("file_state").map(String::as_str).unwrap_or("-")));
    if files.len() != keys.len() || states != [(state.to_string(), keys.len())].into() {
        let odd = files.values().find(|f| f.get("file_state").map(String::as_str) != Some(state));
        violations.push(format!("{action}: file states {states:?}, not {} {state}; as {odd:?}", keys.len()));
    }
    let all = versions(s, &[PREFIX]).await?;
    let mut by_key: BTreeMap<&str, Vec<&VersionRow>> = BTreeMap::new();
    for v in all.iter().filter(|v| keys.contains(&v.key)) {
        by_key.entry(&v.key).or_default().push(v);
    }
    if action == "purge" {
        if !by_key.is_empty() {
            violations.push(format!("purge: {} registered keys keep versions or delete markers, as {:?}", by_key.len(), by_key.values().next()));
        }
        return Ok(());
    }
    let restores = if action == "restore" { s.restore_headers(&keys.iter().cloned().collect::<Vec<_>>()).await? } else { HashMap::new() };
    let mut wrong = Vec::new();
    for key in keys {
        let versions = by_key.get(key.as_str()).cloned().unwrap_or_default();
        let named = files.get(key).and_then(|f| f.get("version_id")).cloned().unwrap_or_default();
        let one_glacier = matches!(versions.as_slice(), [v] if v.latest && v.class == "GLACIER" && v.version_id == named);
        let restored = action != "restore" || restores.get(key).cloned().flatten().is_some_and(|h| h.contains("ongoing-request=\"false\""));
        if !one_glacier || !restored {
            wrong.push(format!("{key}: versions {versions:?}, file item names {named}, restore {:?}", restores.get(key)));
        }
    }
    if !wrong.is_empty() {
        violations.push(format!("{action}: {} keys not as they must be, as {}", wrong.len(), wrong[0]));
    }
    Ok(())
}

/// Every version and delete marker under the prefixes, sorted.
async fn versions(s: &Session, prefixes: &[&str]) -> Result<Vec<VersionRow>> {
    let mut out = Vec::new();
    for prefix in prefixes {
        out.extend(s.versions(prefix).await?);
    }
    out.sort();
    Ok(out)
}

/// Exactly one completion event per task, by event id, and none of another.
async fn check_events(s: &Session, tasks: &[(String, &str)], violations: &mut Vec<String>) -> Result<()> {
    let events = s.drain_events().await?;
    let distinct = dedupe(&events);
    let expected: BTreeSet<String> = tasks.iter().map(|(id, _)| format!("{id}:TaskCompleted")).collect();
    let got: BTreeSet<String> = distinct.iter().map(|e| e["event_id"].as_str().unwrap_or_default().to_string()).collect();
    if got != expected || distinct.len() != tasks.len() {
        violations.push(format!("completion events: expected {expected:?}, a subscriber received {got:?} ({} deliveries)", events.len()));
    }
    for e in &distinct {
        if e["status"] != "SUCCEEDED" {
            violations.push(format!("completion event {} says {}", e["event_id"], e["status"]));
        }
    }
    Ok(())
}

/// Redrives every dead-letter queue of the stack to its source; how many messages were there.
async fn redrive(s: &Session) -> Result<usize> {
    let sources: Vec<String> = s.stack.functions.iter().flat_map(|f| f.sqs.iter().map(|q| q.queue_url.clone())).collect::<BTreeSet<_>>().into_iter().collect();
    let mut moved = 0;
    for d in slm_core::adapters::sqs::dead_letters(&s.clients.sqs, &sources).await? {
        if d.waiting > 0 {
            moved += slm_core::adapters::sqs::redrive(&s.clients.sqs, &d, usize::MAX).await?;
        }
    }
    Ok(moved)
}
