//! `slm local|asset|task`: the local stack for a developer, kept between commands in stack.json
//! in the data directory (see `slm_local::files`), and the asset and task commands, which call
//! the API over HTTP, signed (see [`crate::api`]): the local stack's or a deployed one's.

use anyhow::{Context, Result};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use slm_core::adapters::Clients;
use slm_local::runner::{Runner, RunnerOptions, function_config};
use slm_local::{Stack, Template};
use crate::api::Api;
use slm_local::http_api::Keys;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The identity local commands use unless `--as` names another: the local stack's first
/// administrator (its AdminPrincipal).
pub const LOCAL_ADMIN: &str = slm_local::session::ADMIN;

#[derive(Subcommand)]
pub enum LocalCommand {
    /// Starts the emulator (installing it on first use) and creates the stack's resources.
    Up,
    /// Stops the emulator (its state goes with it).
    Down,
    /// Says whether the emulator answers, which stack is saved, where the local stack keeps its
    /// state and where the project's files (template.yaml, ...) are read from.
    Status,
    /// Runs the event-source runner in the foreground (the functions' handlers on their queues)
    /// and serves the HTTP API on loopback as API Gateway would, SigV4 and all.
    Run {
        /// The loopback port the API is served on.
        #[arg(long, default_value_t = 5150)]
        api_port: u16,
    },
    /// Issues the key an application signs its calls to the local API with (as IAM would give
    /// its role one), or shows the one issued already.
    Credentials {
        /// The application's IAM role or user ARN.
        #[arg(long)]
        principal: String,
    },
    /// Sends a scheduled event with a chosen time to a scheduled function (as EventBridge would).
    Schedule {
        /// The scheduled function to send the event to (slm-evaluator or slm-reconciler).
        #[arg(long, default_value = "slm-evaluator")]
        function: String,
        /// RFC 3339 time, e.g. 2027-06-01T02:00:00Z
        #[arg(long)]
        time: chrono::DateTime<chrono::Utc>,
    },
}

#[derive(Subcommand)]
pub enum AssetCommand {
    /// Registers every object under a prefix of the stack's media bucket as one asset.
    Register {
        /// The asset's id (a new one).
        #[arg(long)]
        asset_id: String,
        /// The title (production) the asset belongs to.
        #[arg(long)]
        title_id: String,
        /// The asset's type, which policies select on (camera_original, vfx_plate, editorial, temp_render, ...).
        #[arg(long)]
        asset_type: String,
        /// The media bucket (the local stack's by default).
        #[arg(long)]
        bucket: Option<String>,
        /// The key prefix every object of the asset lies under (ending in /).
        #[arg(long)]
        prefix: String,
        /// The production phase policies select on (final, temp, ...).
        #[arg(long, default_value = "unspecified")]
        phase: String,
        /// A tag policies select on, as key=value (repeatable).
        #[arg(long = "tag", value_parser = crate::policy::key_value)]
        tags: Vec<(String, String)>,
        /// The asset's creation date (YYYY-MM-DD), an anchor of policies; today if absent.
        #[arg(long)]
        created_on: Option<String>,
    },
    /// Shows an asset: its files' count, bytes and class, its state and any task on it.
    Show {
        /// The asset's id.
        asset_id: String,
    },
    /// Registers what the bucket holds already, in steps on the reconcile queue: every object
    /// under a prefix (placed by the key layout), an inventory CSV's objects, or one asset of
    /// any size (`--asset-id` with --title-id, --asset-type and its --prefix).
    Backfill {
        /// The media bucket (the local stack's by default).
        #[arg(long)]
        bucket: Option<String>,
        /// Every object under this prefix, placed by the key layout (or, with --asset-id, the asset's prefix).
        #[arg(long)]
        prefix: Option<String>,
        /// The key of an S3 Inventory CSV (uncompressed) in the bucket.
        #[arg(long)]
        inventory_key: Option<String>,
        /// The inventory's fileSchema, from its manifest.json.
        #[arg(long)]
        inventory_schema: Option<String>,
        /// One asset of any size: its id (with --title-id, --asset-type and --prefix).
        #[arg(long)]
        asset_id: Option<String>,
        /// With --asset-id: the asset's title.
        #[arg(long)]
        title_id: Option<String>,
        /// With --asset-id: the asset's type.
        #[arg(long)]
        asset_type: Option<String>,
    },
    /// What the reconciler repaired on an asset (kept 90 days).
    Repairs {
        /// The asset's id.
        asset_id: String,
    },
    /// Records reads of an asset on a day (access statistics; the last access is a policy anchor).
    Access {
        /// The asset's id.
        asset_id: String,
        /// YYYY-MM-DD
        #[arg(long)]
        day: String,
        /// How many reads that day.
        #[arg(long, default_value_t = 1)]
        count: u64,
    },
    /// An asset's accesses per day.
    Accesses {
        /// The asset's id.
        asset_id: String,
        /// From this day on (YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
    },
    /// Changes the phase or tags of an asset (its due day follows).
    Change {
        /// The asset's id.
        asset_id: String,
        /// The new production phase (final, temp, ...).
        #[arg(long)]
        phase: Option<String>,
        /// Replaces the tags, as key=value (repeatable).
        #[arg(long = "tag", value_parser = crate::policy::key_value)]
        tags: Vec<(String, String)>,
    },
}

#[derive(Subcommand)]
pub enum TaskCommand {
    /// Requests archive (--class), restore (--days, --tier) or purge of an asset.
    Request {
        /// The asset's id.
        #[arg(long)]
        asset_id: String,
        /// What to do with the asset.
        #[arg(long, value_parser = ["archive", "restore", "purge"])]
        action: String,
        /// For archive: the class to move its files to.
        #[arg(long, value_parser = ["STANDARD_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"])]
        class: Option<String>,
        /// For restore: how many days the restored copies stay readable.
        #[arg(long)]
        days: Option<u32>,
        /// For restore: S3's retrieval tier (Expedited: minutes, Standard: hours, Bulk: up to 48 hours, cheapest).
        #[arg(long, value_parser = ["Expedited", "Standard", "Bulk"])]
        tier: Option<String>,
        /// Idempotency key: the same key asks for the same task (default: a new one).
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Shows a task: its action, status and counters.
    Show {
        /// The task's id (t-...).
        task_id: String,
    },
    /// Shows a task's progress until it ends.
    Watch {
        /// The task's id (t-...).
        task_id: String,
        /// Also run the functions in this process while watching (no separate `slm local run`).
        #[arg(long)]
        run: bool,
    },
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Saved {
    pub stack: Stack,
    pub bucket: String,
}

fn saved_path() -> PathBuf {
    slm_local::files::data_dir().join("stack.json")
}

pub(crate) async fn clients(endpoint: &str) -> Clients {
    slm_local::local_clients(&slm_local::sdk_config(endpoint).await, slm_core::adapters::Timeouts::AWS, |_| vec![])
}

pub(crate) fn load() -> Result<Saved> {
    let text = std::fs::read_to_string(saved_path()).context("no local stack: run `slm local up` first")?;
    Ok(serde_json::from_str(&text)?)
}

pub async fn run_local(command: LocalCommand) -> Result<()> {
    match command {
        LocalCommand::Up => {
            tokio::task::spawn_blocking(slm_local::start_emulator).await??;
            let endpoint = slm_local::endpoint();
            let clients = clients(&endpoint).await;
            if let Ok(saved) = load() {
                let tasks = saved.stack.table("TasksTable")?;
                if clients.dynamodb.describe_table().table_name(tasks).send().await.is_ok() {
                    issue_key(LOCAL_ADMIN)?;
                    println!("local stack {} is up on {endpoint}; media bucket s3://{}", saved.stack.prefix, saved.bucket);
                    return Ok(());
                }
            }
            let prefix = "slm";
            let bucket = "slm-local-media".to_string();
            let params = [("MediaBucketNames".to_string(), bucket.clone()), ("AdminPrincipal".to_string(), LOCAL_ADMIN.to_string())].into();
            let stack = slm_local::provision(&Template::load_default()?, &clients, &endpoint, prefix, &params).await?;
            clients.s3.create_bucket().bucket(&bucket).send().await.context("create media bucket")?;
            let how = slm_core::adapters::s3::Connection { keep_existing: false, register_new: true, abort_incomplete_uploads_days: Some(7) };
            slm_core::adapters::s3::connect_bucket(&clients.s3, &bucket, &stack.queue("S3EventsQueue")?.arn, how).await?;
            std::fs::create_dir_all(slm_local::files::data_dir())?;
            std::fs::write(saved_path(), serde_json::to_string_pretty(&Saved { stack, bucket: bucket.clone() })?)?;
            // A new stack: keys of an earlier one mean nothing to it.
            let _ = std::fs::remove_file(crate::api::keys_path());
            issue_key(LOCAL_ADMIN)?;
            println!("local stack is up on {endpoint}; media bucket s3://{bucket}; run `slm local run` to start the functions");
            Ok(())
        }
        LocalCommand::Down => {
            let status = slm_local::emulator("stop")?;
            let _ = std::fs::remove_file(saved_path());
            anyhow::ensure!(status.success(), "stopping the emulator failed");
            println!("local stack stopped");
            Ok(())
        }
        LocalCommand::Status => {
            let status = slm_local::emulator("status")?;
            match load() {
                Ok(s) => println!("saved stack {} (bucket s3://{})", s.stack.prefix, s.bucket),
                Err(_) => println!("no saved stack"),
            }
            println!("data directory: {}", slm_local::files::data_dir().display());
            match slm_local::files::checkout() {
                Some(dir) => println!("project files: from the checkout {}", dir.display()),
                None => println!("project files: embedded in slm"),
            }
            anyhow::ensure!(status.success(), "the emulator is not running");
            Ok(())
        }
        LocalCommand::Schedule { function, time } => {
            let saved = load()?;
            let clients = clients(&saved.stack.endpoint).await;
            let runner = Runner::start(&saved.stack, &clients, RunnerOptions::default())?;
            let out = runner.send_schedule(&function, time).await;
            runner.stop().await;
            crate::output::print(&out?)?;
            Ok(())
        }
        LocalCommand::Run { api_port } => {
            let saved = load()?;
            let clients = clients(&saved.stack.endpoint).await;
            let runner = Runner::start(&saved.stack, &clients, RunnerOptions::default())?;
            let config = function_config(saved.stack.function("slm-api")?, &Default::default())?;
            let keys = Arc::new(RwLock::new(Keys::load(&crate::api::keys_path())?));
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], api_port));
            let region = slm_local::provision::REGION;
            let server = slm_local::http_api::serve(addr, Arc::new(slm_api::Handler::new(&clients, config)), keys.clone(), region, &saved.stack.account).await?;
            // Keys issued while it runs (`slm local credentials`) are honoured from then on.
            let reload = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    if let Ok(fresh) = Keys::load(&crate::api::keys_path()) {
                        *keys.write().expect("keys lock") = fresh;
                    }
                }
            });
            println!("running the functions of {} (Ctrl-C to stop)", saved.stack.prefix);
            println!("the API: {} (SigV4, service execute-api, region {region}; keys from `slm local credentials`)", server.url);
            tokio::signal::ctrl_c().await?;
            reload.abort();
            drop(server);
            runner.stop().await;
            Ok(())
        }
        LocalCommand::Credentials { principal } => {
            slm_core::domain::grant::principal_of(&principal)?;
            let (id, secret) = issue_key(&principal)?;
            let out = json!({"principal": principal, "aws_access_key_id": id, "aws_secret_access_key": secret, "region": slm_local::provision::REGION});
            crate::output::print(&out)?;
            Ok(())
        }
    }
}

/// The local stack's key for `principal`, issued (and saved) if it has none.
fn issue_key(principal: &str) -> Result<(String, String)> {
    let path = crate::api::keys_path();
    let mut keys = Keys::load(&path)?;
    let key = keys.issue(principal);
    keys.save(&path)?;
    Ok(key)
}

pub async fn run_asset(command: AssetCommand, api: &Api) -> Result<()> {
    let out = match command {
        AssetCommand::Register { asset_id, title_id, asset_type, bucket, prefix, phase, tags, created_on } => {
            let tags: serde_json::Map<String, Value> = tags.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            let body = json!({"asset_id": asset_id, "title_id": title_id, "asset_type": asset_type, "bucket": api.bucket(bucket)?, "prefix": prefix,
                "phase": phase, "tags": tags, "created_on": created_on});
            api.call("POST", "/assets", Some(strip_nulls(body))).await?
        }
        AssetCommand::Access { asset_id, day, count } => {
            api.call("POST", &format!("/assets/{asset_id}/accesses"), Some(json!({"day": day, "count": count}))).await?
        }
        AssetCommand::Accesses { asset_id, from } => {
            let query = from.map(|f| format!("?from={f}")).unwrap_or_default();
            api.call("GET", &format!("/assets/{asset_id}/accesses{query}"), None).await?
        }
        AssetCommand::Change { asset_id, phase, tags } => {
            let tags: Option<serde_json::Map<String, Value>> =
                (!tags.is_empty()).then(|| tags.into_iter().map(|(k, v)| (k, Value::String(v))).collect());
            let body = strip_nulls(json!({"phase": phase, "tags": tags}));
            api.call("PATCH", &format!("/assets/{asset_id}"), Some(body)).await?
        }
        AssetCommand::Show { asset_id } => api.call("GET", &format!("/assets/{asset_id}"), None).await?,
        AssetCommand::Backfill { bucket, prefix, inventory_key, inventory_schema, asset_id, title_id, asset_type } => {
            let bucket = api.bucket(bucket)?;
            let body = match asset_id {
                Some(asset_id) => json!({"asset": {"asset_id": asset_id, "title_id": title_id, "asset_type": asset_type, "bucket": bucket, "prefix": prefix}}),
                None => json!({"bucket": bucket, "prefix": prefix, "inventory_key": inventory_key, "inventory_schema": inventory_schema}),
            };
            let started = api.call("POST", "/backfills", Some(strip_nulls(body))).await?;
            let Ok(saved) = api.local_stack("waiting for a backfill") else {
                crate::output::print(&json!({"started": started["backfill"], "done": false}))?;
                return Ok(());
            };
            let clients = clients(&saved.stack.endpoint).await;
            let runner = Runner::start(&saved.stack, &clients, RunnerOptions::default())?;
            let done = wait_drained(&clients, &saved.stack.queue("ReconcileQueue")?.url, Duration::from_secs(3600), "backfill").await;
            runner.stop().await;
            done?;
            json!({"started": started["backfill"], "done": true})
        }
        AssetCommand::Repairs { asset_id } => api.call("GET", &format!("/assets/{asset_id}/repairs"), None).await?,
    };
    crate::output::print(&out)?;
    Ok(())
}

pub async fn run_task(command: TaskCommand, api: &Api) -> Result<()> {
    match command {
        TaskCommand::Request { asset_id, action, class, days, tier, request_id } => {
            let request_id = request_id.unwrap_or_else(uuid_like);
            let body = json!({"action": action, "storage_class": class, "days": days, "tier": tier, "request_id": request_id});
            let out = api.call("POST", &format!("/assets/{asset_id}/tasks"), Some(strip_nulls(body))).await?;
            crate::output::print(&out)?;
        }
        TaskCommand::Show { task_id } => {
            let out = api.call("GET", &format!("/tasks/{task_id}"), None).await?;
            crate::output::print(&out)?;
        }
        TaskCommand::Watch { task_id, run } => {
            let runner = match run {
                true => {
                    let saved = api.local_stack("--run")?;
                    Some(Runner::start(&saved.stack, &clients(&saved.stack.endpoint).await, RunnerOptions::default())?)
                }
                false => None,
            };
            let task = watch(&|path: String| async move { api.call("GET", &path, None).await }, &task_id, "").await;
            if let Some(r) = runner {
                r.stop().await;
            }
            let task = task?;
            let status = task["status"].as_str().unwrap_or("?").to_string();
            match crate::output::json() {
                true => crate::output::print(&task)?,
                false => println!("{} {}: {}", task_id, status, task["counters"]),
            }
            if status != "SUCCEEDED" {
                return Err(crate::TaskNotSucceeded { task_id, status }.into());
            }
        }
    }
    Ok(())
}

pub(crate) fn strip_nulls(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.retain(|_, x| !x.is_null());
    }
    v
}

fn uuid_like() -> String {
    format!("cli-{}", chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default())
}

/// Waits until a queue is empty (nothing visible or in flight), showing how much is left.
pub(crate) async fn wait_drained(clients: &Clients, url: &str, timeout: Duration, label: &str) -> Result<()> {
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(ProgressStyle::with_template("{spinner} {prefix}: {msg} ({elapsed})").expect("static template"));
    spinner.set_prefix(label.to_string());
    let started = std::time::Instant::now();
    loop {
        let depth = slm_local::queue_depth(&clients.sqs, url).await?;
        if depth == 0 {
            spinner.finish_with_message("done");
            return Ok(());
        }
        spinner.set_message(format!("{depth} steps to go"));
        spinner.tick();
        anyhow::ensure!(started.elapsed() < timeout, "{label}: {depth} steps still queued after {timeout:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Shows a task's progress (files final out of files planned) until its status is final, or
/// until its execution has ended without the task being recorded final (an execution that could
/// not write its end: the reconciler repairs the task), which is a task not succeeded.
pub async fn watch<F, Fut>(get: &F, task_id: &str, label: &str) -> Result<Value>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Value>>,
{
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>28} [{bar:40.cyan/blue}] {pos}/{len} files {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    let path = format!("/tasks/{task_id}?include=execution");
    // The state machine records the task before its execution ends, so an ended execution is
    // looked at twice before the task is taken for unrecorded.
    let mut ended_unrecorded = 0;
    loop {
        let task = get(path.clone()).await?;
        let c = &task["counters"];
        let n = |k: &str| c[k].as_u64().unwrap_or(0);
        bar.set_length(n("planned").max(1));
        bar.set_position(n("succeeded") + n("failed") + n("skipped"));
        let status = task["status"].as_str().unwrap_or("?").to_string();
        bar.set_message(status.to_lowercase());
        if matches!(status.as_str(), "SUCCEEDED" | "PARTIALLY_FAILED" | "FAILED") {
            bar.finish();
            return Ok(task);
        }
        match task["execution"]["status"].as_str() {
            Some(execution) if execution != "RUNNING" => {
                ended_unrecorded += 1;
                if ended_unrecorded > 1 {
                    bar.abandon();
                    let status = format!("{status} in the registry, its execution {execution} (the task never recorded its end; the reconciler repairs it)");
                    return Err(crate::TaskNotSucceeded { task_id: task_id.to_string(), status }.into());
                }
            }
            _ => ended_unrecorded = 0,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
