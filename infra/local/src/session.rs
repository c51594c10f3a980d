//! A session on the local stack: a stack of its own (resources created from template.yaml under a
//! unique prefix on the shared emulator), a media bucket connected to it, the event-source runner
//! calling the real handlers, and helpers that act and look through the real SDK. The demo, the
//! benchmark and the end-to-end tests all run in sessions.

use anyhow::{Context, Result, bail};
use aws_sdk_s3::primitives::ByteStream;
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use slm_core::adapters::{Clients, RequestCounter};
use crate::faults::FaultInjector;
use crate::iam::UsageRecorder;
use crate::runner::RunnerOptions;
use crate::{Runner, Stack, Template};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The identity a session calls the API as: an application the session registers with every
/// grant but the registry's (see [`Session::start_with`]).
pub const CALLER: &str = "arn:aws:iam::123456789012:role/post-production-app";

/// The first administrator of every local stack (the template's AdminPrincipal).
pub const ADMIN: &str = "arn:aws:iam::123456789012:role/slm-local-admin";

pub struct Session {
    pub stack: Stack,
    /// The emulator under the session (its behaviours differ where AWS's cannot be had locally).
    pub emulator: crate::Emulator,
    pub clients: Clients,
    pub bucket: String,
    pub counter: RequestCounter,
    /// slm's own requests only (the functions' and the API's), without the event sources'
    /// polling: what is in flight at once, and the retries.
    pub calls: RequestCounter,
    runner: Option<Runner>,
    api: Arc<slm_api::Handler>,
    /// The API on uncounted clients (its calls still recorded as the API's), for polling.
    reader: slm_api::Handler,
    /// The API over HTTP, as API Gateway serves it: every call of [`Session::api_as`] is signed.
    http: crate::http_api::ApiServer,
    /// The keys the session issued, one per caller.
    keys: Arc<RwLock<crate::http_api::Keys>>,
    /// A client of `http`, whose connections every caller's client shares.
    client: crate::http_api::ApiClient,
}

#[derive(Default)]
pub struct Options {
    pub versioned: bool,
    /// The bucket sends ObjectCreated events, so new objects are registered by the key layout.
    pub register_new: bool,
    pub runner: RunnerOptions,
    pub parameters: BTreeMap<String, String>,
    /// Faults injected into the functions' (and the API's) requests, not the session's own.
    pub faults: Option<FaultInjector>,
}


/// Makes sure the emulator answers, starting it (and installing it) if needed, once per process;
/// its endpoint and which emulator it is.
pub async fn emulator() -> Result<(String, crate::Emulator)> {
    static STARTED: tokio::sync::OnceCell<crate::Emulator> = tokio::sync::OnceCell::const_new();
    let endpoint = crate::endpoint();
    let emulator = STARTED
        .get_or_try_init(|| async {
            tokio::task::spawn_blocking(crate::start_emulator).await??;
            crate::Emulator::detect(&endpoint).await
        })
        .await?;
    Ok((endpoint, *emulator))
}

impl Session {
    pub async fn start(name: &str) -> Result<Self> {
        Self::start_with(name, Options::default()).await
    }

    pub async fn start_with(name: &str, options: Options) -> Result<Self> {
        Box::pin(Self::start_boxed(name, options)).await
    }

    async fn start_boxed(name: &str, options: Options) -> Result<Self> {
        tracing_init();
        let (endpoint, emulator) = emulator().await?;
        let (counter, calls) = (RequestCounter::default(), RequestCounter::default());
        let config = crate::sdk_config(&endpoint).await;
        // The event sources' polling counts its requests; the session's own looking does not.
        // Neither meets the injected faults: the polling is the Lambda service's, whose faults
        // slm never sees (the runner's own faults are its crashes and lost deliveries).
        let timeouts = if options.faults.is_some() { crate::faults::TIMEOUTS } else { slm_core::adapters::Timeouts::AWS };
        let counted = crate::local_clients(&config, slm_core::adapters::Timeouts::AWS, |service| vec![counter.for_service(service)]);
        let clients = crate::local_clients(&config, slm_core::adapters::Timeouts::AWS, |_| vec![]);
        let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let prefix = format!("{name}-{id}");
        let mut parameters = options.parameters.clone();
        let bucket = format!("media-{prefix}").to_lowercase().replace('_', "-");
        parameters.entry("MediaBucketNames".into()).or_insert_with(|| bucket.clone());
        parameters.entry("AdminPrincipal".into()).or_insert_with(|| ADMIN.to_string());
        let stack = crate::provision(&Template::load_default()?, &clients, &endpoint, &prefix, &parameters).await?;
        clients.s3.create_bucket().bucket(&bucket).send().await.context("create bucket")?;
        if options.versioned {
            clients
                .s3
                .put_bucket_versioning()
                .bucket(&bucket)
                .versioning_configuration(
                    aws_sdk_s3::types::VersioningConfiguration::builder().status(aws_sdk_s3::types::BucketVersioningStatus::Enabled).build(),
                )
                .send()
                .await?;
        }
        let how = slm_core::adapters::s3::Connection { keep_existing: false, register_new: options.register_new, abort_incomplete_uploads_days: Some(7) };
        slm_core::adapters::s3::connect_bucket(&clients.s3, &bucket, &stack.queue("S3EventsQueue")?.arn, how).await?;
        // Each function (the API too) calls AWS with clients of its own, which count its
        // requests, inject the session's faults and record the IAM permissions its calls need,
        // by its logical id (see crate::iam).
        let usage = UsageRecorder::new(&stack, &crate::iam::usage_dir());
        let function_clients = |logical_id: &str, counted: bool| {
            crate::local_clients(&config, timeouts, |service| {
                let mut interceptors = vec![usage.interceptor(logical_id, service)];
                if counted {
                    interceptors.push(counter.for_service(service));
                    interceptors.push(calls.for_service(service));
                    interceptors.extend(options.faults.as_ref().map(|f| f.for_service(service)));
                }
                interceptors
            })
        };
        let api_function = stack.function("slm-api")?;
        let api_config = crate::runner::function_config(api_function, &options.runner.env_overrides)?;
        let api = Arc::new(slm_api::Handler::new(&function_clients(&api_function.logical_id, true), api_config.clone()));
        let keys = Arc::new(RwLock::new(crate::http_api::Keys::default()));
        let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let http = crate::http_api::serve(loopback, api.clone(), keys.clone(), crate::provision::REGION, &stack.account).await?;
        let client = crate::http_api::ApiClient::local(&http.url, keys.write().expect("keys lock").issue(CALLER), crate::provision::REGION)?;
        // The API as the session polls it: its calls are the API's (recorded), not counted.
        let reader = slm_api::Handler::new(&function_clients(&api_function.logical_id, false), api_config);
        let runner = Runner::start_with(&stack, &counted, &|logical_id| function_clients(logical_id, true), options.runner)?;
        let session = Session { stack, emulator, clients, bucket, counter, calls, runner: Some(runner), api, reader, http, keys, client };
        // The administrator registers the session's application, as on a new deployment.
        let grants: Vec<&str> = slm_core::domain::grant::Permission::ALL.iter().map(|p| p.as_str()).filter(|p| *p != "admin").collect();
        let app = serde_json::json!({"principal": CALLER, "name": "post-production", "grants": [{"actions": grants}]});
        let (status, out) = session.api_as(ADMIN, "PUT", "/applications", Some(app)).await;
        anyhow::ensure!(status == 201, "registering the session's application: {status} {out}");
        Ok(session)
    }

    /// Calls the API handler as API Gateway would, as `CALLER`.
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (i64, Value) {
        self.api_as(CALLER, method, path, body).await
    }

    /// Calls the API over HTTP as `caller`, signed with the key the session issued it.
    pub async fn api_as(&self, caller: &str, method: &str, path: &str, body: Option<Value>) -> (i64, Value) {
        let answered = self.client_as(caller).call(method, path, body.as_ref()).await;
        let (status, value) = answered.unwrap_or_else(|e| panic!("{method} {path} as {caller}: {e:#}"));
        (i64::from(status), value)
    }

    /// Calls the API with a body of any text (malformed JSON, say), as `caller`.
    pub async fn raw_api(&self, caller: &str, method: &str, path: &str, body: Option<String>) -> (i64, Value) {
        let answered = self.client_as(caller).send(method, path, body.map(|b| ("application/json", b.into_bytes()))).await;
        let answered = answered.unwrap_or_else(|e| panic!("{method} {path} as {caller}: {e:#}"));
        (i64::from(answered.status), answered.json())
    }

    /// A client of the session's HTTP API signing as `caller` (a key is issued on first use, as
    /// `slm local credentials` does).
    pub fn client_as(&self, caller: &str) -> crate::http_api::ApiClient {
        self.client.with_key(self.key_of(caller))
    }

    /// The key the session issued `caller` (access key id, secret), issuing it if needed.
    pub fn key_of(&self, caller: &str) -> (String, String) {
        self.keys.write().expect("keys lock").issue(caller)
    }

    /// Where the session serves its HTTP API.
    pub fn api_url(&self) -> &str {
        &self.http.url
    }

    /// Calls the API handler in-process as if at `now` (API Gateway's request time), for
    /// travelling in time: a signed request must be signed within minutes of the server's clock.
    pub async fn api_at(&self, now: chrono::DateTime<Utc>, method: &str, path: &str, body: Option<Value>) -> (i64, Value) {
        call(&self.api, CALLER, &self.stack.account, method, path, body, now).await
    }

    /// Calls the API and fails on a 4xx or 5xx answer, naming the call.
    pub async fn api_ok(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let (status, out) = self.api(method, path, body).await;
        if status >= 400 {
            bail!("{method} {path}: {status} {out}");
        }
        Ok(out)
    }

    /// Runs the policy evaluator as its EventBridge schedule would at `at` (RFC 3339).
    pub async fn evaluate(&self, at: &str) -> Result<Value> {
        let time = chrono::DateTime::parse_from_rfc3339(at).with_context(|| format!("time {at}"))?.with_timezone(&Utc);
        Box::pin(self.runner().send_schedule("slm-evaluator", time)).await
    }

    /// Runs the reconciler as its schedule would at `at` (RFC 3339) and waits for its asset
    /// sweep to finish. Returns the scheduled run's report (the stuck tasks it repaired).
    pub async fn reconcile(&self, at: &str) -> Result<Value> {
        let time = chrono::DateTime::parse_from_rfc3339(at).with_context(|| format!("time {at}"))?.with_timezone(&Utc);
        let report = Box::pin(self.runner().send_schedule("slm-reconciler", time)).await?;
        self.wait_idle(&["ReconcileQueue"], Duration::from_secs(120)).await?;
        Ok(report)
    }

    /// An asset's recorded repairs, as (kind, subject), in the order recorded.
    pub async fn repairs(&self, asset_id: &str) -> Result<Vec<(String, String)>> {
        let out = self.api_ok("GET", &format!("/assets/{asset_id}/repairs"), None).await?;
        Ok(out["repairs"].as_array().into_iter().flatten().map(|r| (r["kind"].as_str().unwrap_or_default().to_string(), r["subject"].as_str().unwrap_or_default().to_string())).collect())
    }

    /// Waits until the reschedules that title and policy changes sent are done.
    pub async fn wait_rescheduled(&self) -> Result<()> {
        self.wait_idle(&["ControlQueue"], Duration::from_secs(120)).await
    }

    /// Everything slm could have changed: every item of every table of the stack and every
    /// object version (with its class) in the media bucket, in a stable order. The audit trail
    /// is left out: every request, refused or not, adds to it (see [`Session::audit`]).
    pub async fn snapshot(&self) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        for (logical, table) in self.stack.tables.iter().filter(|(logical, _)| *logical != "AuditTable") {
            let mut items = self.clients.dynamodb.scan().table_name(table).into_paginator().items().send();
            while let Some(item) = items.next().await {
                let item: BTreeMap<_, _> = item?.into_iter().map(|(k, v)| (k, canonical(&v))).collect();
                lines.push(format!("{logical} {item:?}"));
            }
        }
        let out = self.clients.s3.list_object_versions().bucket(&self.bucket).send().await?;
        for v in out.versions() {
            lines.push(format!("s3 {:?} {:?} {:?} {:?}", v.key(), v.version_id(), v.storage_class(), v.e_tag()));
        }
        lines.sort();
        Ok(lines)
    }

    /// The audit trail of a query (`asset=a-1`, `caller=<arn>`, ...), newest first, every page,
    /// read as the administrator.
    pub async fn audit(&self, query: &str) -> Result<Vec<Value>> {
        let mut entries = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let target = match &after {
                Some(a) => format!("/audit?{query}&limit=50&after={a}"),
                None => format!("/audit?{query}&limit=50"),
            };
            let (status, out) = call(&self.reader, ADMIN, &self.stack.account, "GET", &target, None, Utc::now()).await;
            anyhow::ensure!(status == 200, "GET {target}: {status} {out}");
            entries.extend(out["entries"].as_array().cloned().unwrap_or_default());
            match out["next"].as_str() {
                Some(next) => after = Some(next.to_string()),
                None => return Ok(entries),
            }
        }
    }

    /// Puts `count` objects of `size` bytes under `prefix`, with metadata and a tag on each.
    pub async fn put_objects(&self, prefix: &str, count: usize, size: usize) -> Result<Vec<String>> {
        let keys: Vec<String> = (0..count).map(|i| format!("{prefix}frame_{i:06}.exr")).collect();
        futures::stream::iter(keys.clone())
            .map(|key| async move {
                let body = vec![(key.len() % 251) as u8; size];
                self.clients
                    .s3
                    .put_object()
                    .bucket(&self.bucket)
                    .key(&key)
                    .body(ByteStream::from(body))
                    .content_type("image/x-exr")
                    .metadata("camera", "A")
                    .tagging("show=demo")
                    .send()
                    .await
                    .with_context(|| format!("put {key}"))
            })
            .buffer_unordered(16)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(keys)
    }

    pub async fn register(&self, asset_id: &str, prefix: &str, asset_type: &str) -> Result<Value> {
        let body = serde_json::json!({
            "asset_id": asset_id, "title_id": "title-1", "asset_type": asset_type,
            "bucket": self.bucket, "prefix": prefix
        });
        let (status, out) = self.api("POST", "/assets", Some(body)).await;
        if status != 201 {
            bail!("register {asset_id}: {status} {out}");
        }
        Ok(out)
    }

    /// Requests a task and returns its id.
    pub async fn request(&self, asset_id: &str, body: Value) -> Result<String> {
        let (status, out) = self.api("POST", &format!("/assets/{asset_id}/tasks"), Some(body)).await;
        if status != 202 && status != 200 {
            bail!("request on {asset_id}: {status} {out}");
        }
        Ok(out["task"]["task_id"].as_str().unwrap_or_default().to_string())
    }

    /// Waits until the task's status is final and its execution has ended.
    pub async fn wait_task(&self, task_id: &str, timeout: Duration) -> Result<Value> {
        let start = Instant::now();
        loop {
            let (_, task) = call(&self.reader, CALLER, &self.stack.account, "GET", &format!("/tasks/{task_id}"), None, Utc::now()).await;
            let status = task["status"].as_str().unwrap_or_default().to_string();
            if matches!(status.as_str(), "SUCCEEDED" | "PARTIALLY_FAILED" | "FAILED") && self.execution_ended(task_id).await? {
                return Ok(task);
            }
            if start.elapsed() > timeout {
                bail!("task {task_id} did not end within {timeout:?}: {task}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn execution_status(&self, task_id: &str) -> Result<String> {
        let arn = self.stack.state_machines.values().next().context("no state machine")?.replace(":stateMachine:", ":execution:");
        let out = self.clients.sfn.describe_execution().execution_arn(format!("{arn}:{task_id}")).send().await?;
        Ok(out.status().as_str().to_string())
    }

    async fn execution_ended(&self, task_id: &str) -> Result<bool> {
        Ok(self.execution_status(task_id).await? != "RUNNING")
    }

    /// Every SNS event the observer queue has received so far, parsed, removed from the queue.
    pub async fn drain_events(&self) -> Result<Vec<Value>> {
        let mut events = Vec::new();
        loop {
            let out = self.clients.sqs.receive_message().queue_url(&self.stack.observer.url).max_number_of_messages(10).send().await?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return Ok(events);
            }
            for m in messages {
                let envelope: Value = serde_json::from_str(m.body().unwrap_or_default())?;
                let mut event: Value = serde_json::from_str(envelope["Message"].as_str().unwrap_or("null"))?;
                event["_attributes"] = envelope["MessageAttributes"].clone();
                events.push(event);
                self.clients.sqs.delete_message().queue_url(&self.stack.observer.url).receipt_handle(m.receipt_handle().unwrap_or_default()).send().await?;
            }
        }
    }

    /// Storage class of every object under a prefix (STANDARD where S3 omits it).
    pub async fn classes(&self, prefix: &str) -> Result<HashMap<String, String>> {
        let mut pages = self.clients.s3.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        let mut out = HashMap::new();
        while let Some(page) = pages.next().await {
            for o in page?.contents() {
                let class = o.storage_class().map(|c| c.as_str().to_string()).unwrap_or_else(|| "STANDARD".into());
                out.insert(o.key().unwrap_or_default().to_string(), class);
            }
        }
        Ok(out)
    }

    /// All file items of an asset, by key.
    pub async fn file_items(&self, asset_id: &str) -> Result<HashMap<String, HashMap<String, String>>> {
        let table = self.stack.table("FilesTable")?;
        let mut out = HashMap::new();
        for shard in 0..16 {
            let mut pages = self
                .clients
                .dynamodb
                .query()
                .table_name(table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("{asset_id}#{shard:03}")))
                .into_paginator()
                .items()
                .send();
            while let Some(item) = pages.next().await {
                let item = item?;
                let flat: HashMap<String, String> = item
                    .iter()
                    .map(|(k, v)| {
                        let text = match v {
                            aws_sdk_dynamodb::types::AttributeValue::S(s) => s.clone(),
                            aws_sdk_dynamodb::types::AttributeValue::N(n) => n.clone(),
                            other => format!("{other:?}"),
                        };
                        (k.clone(), text)
                    })
                    .collect();
                out.insert(flat["object_key"].clone(), flat);
            }
        }
        Ok(out)
    }

    pub async fn queue_depth(&self, logical_id: &str) -> Result<usize> {
        crate::queue_depth(&self.clients.sqs, &self.stack.queue(logical_id)?.url).await
    }

    pub fn runner(&self) -> &Runner {
        self.runner.as_ref().expect("the runner runs until stop")
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.runner.take() {
            r.stop().await;
        }
    }
}

async fn call(api: &slm_api::Handler, caller: &str, account: &str, method: &str, path: &str, body: Option<Value>, now: chrono::DateTime<Utc>) -> (i64, Value) {
    answer(api, crate::api_request(method, path, body.as_ref(), caller, account, now)).await
}

async fn answer(api: &slm_api::Handler, request: aws_lambda_events::apigw::ApiGatewayV2httpRequest) -> (i64, Value) {
    // Boxed, as the schedules below: a test awaits many calls, and each unboxed handler future
    // would grow the test's own future (kept on its thread's stack) by its size.
    let response = Box::pin(api.handle(request)).await;
    let text = match response.body {
        Some(aws_lambda_events::encodings::Body::Text(t)) => t,
        _ => String::new(),
    };
    (response.status_code, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn tracing_init() {
    slm_core::telemetry::init_text_logs("warn");
}

/// One version or delete marker of an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct VersionRow {
    pub key: String,
    pub version_id: String,
    pub latest: bool,
    /// The storage class, or DELETE_MARKER.
    pub class: String,
}

/// Counts per value of one field.
pub fn tally<'a>(values: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for v in values {
        *out.entry(v.to_string()).or_default() += 1;
    }
    out
}

impl Session {
    /// Completes the S3 restores of a restore task as the emulator does, and returns each
    /// object's `x-amz-restore` header: waits until every file of the asset has had its restore
    /// requested by the task (or is past it), then reads every object's head, as a studio
    /// application reading the restored files would. On moto that read completes the restore
    /// and sends ObjectRestore:Completed; LocalStack completed it at once; on AWS it takes hours.
    ///
    /// The task may have ended before the files are looked at (LocalStack's restores complete at
    /// once, and a task queued behind it may have taken the files since): then its restores are
    /// complete too.
    pub async fn complete_restores(&self, asset_id: &str, task_id: &str, timeout: Duration) -> Result<HashMap<String, Option<String>>> {
        let requested = |f: &HashMap<String, HashMap<String, String>>| {
            f.values().all(|i| {
                i.get("task_id").map(String::as_str) == Some(task_id) && i.get("step").is_some_and(|s| ["REQUESTED", "DONE", "SKIPPED", "FAILED"].contains(&s.as_str()))
            })
        };
        let start = Instant::now();
        let files = loop {
            let files = self.file_items(asset_id).await?;
            let (_, task) = call(&self.reader, CALLER, &self.stack.account, "GET", &format!("/tasks/{task_id}"), None, Utc::now()).await;
            let ended = matches!(task["status"].as_str(), Some("SUCCEEDED" | "PARTIALLY_FAILED" | "FAILED"));
            if ended || requested(&files) {
                break files;
            }
            if start.elapsed() > timeout {
                bail!("the restores of task {task_id} were not all requested within {timeout:?}: {task}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let keys: Vec<String> = files.into_keys().collect();
        self.restore_headers(&keys).await
    }

    /// Reads every object's head, as a studio application reading restored files would; returns
    /// each key's `x-amz-restore` header (None where S3 sent none).
    ///
    /// Reads go in chunks, each after the S3-events queue has drained (or two minutes passed):
    /// the emulator's SQS gets slow as a queue gets deep, and each read makes it send one event.
    pub async fn restore_headers(&self, keys: &[String]) -> Result<HashMap<String, Option<String>>> {
        let mut out = HashMap::new();
        for chunk in keys.chunks(250) {
            let heads: Vec<(String, Option<String>)> = futures::stream::iter(chunk.iter().cloned())
                .map(|key| async move {
                    let head = self.clients.s3.head_object().bucket(&self.bucket).key(&key).send().await.with_context(|| format!("head {key}"))?;
                    Ok::<_, anyhow::Error>((key, head.restore().map(str::to_string)))
                })
                .buffer_unordered(8)
                .try_collect()
                .await?;
            out.extend(heads);
            // Pacing, not a condition: under injected faults (killed invocations, late events)
            // the queue may take longer, and the reads go on.
            if let Err(e) = self.wait_idle(&["S3EventsQueue"], Duration::from_secs(120)).await {
                tracing::warn!(error = %e, "reading restored objects on before the S3-events queue drained");
            }
        }
        Ok(out)
    }

    /// Every version and delete marker under a prefix, as (key, version id).
    pub async fn all_versions(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        Ok(self.versions(prefix).await?.into_iter().map(|v| (v.key, v.version_id)).collect())
    }

    /// Every version and delete marker under a prefix, in S3's order (key, then newest first).
    pub async fn versions(&self, prefix: &str) -> Result<Vec<VersionRow>> {
        let mut out = Vec::new();
        let (mut km, mut vm) = (None::<String>, None::<String>);
        loop {
            let page = self
                .clients
                .s3
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(km.take())
                .set_version_id_marker(vm.take())
                .send()
                .await?;
            for v in page.versions() {
                let class = v.storage_class().map(|c| c.as_str().to_string()).unwrap_or_else(|| "STANDARD".into());
                out.push(VersionRow { key: v.key().unwrap_or_default().into(), version_id: v.version_id().unwrap_or_default().into(), latest: v.is_latest() == Some(true), class });
            }
            for m in page.delete_markers() {
                let (key, version_id) = (m.key().unwrap_or_default().into(), m.version_id().unwrap_or_default().into());
                out.push(VersionRow { key, version_id, latest: m.is_latest() == Some(true), class: "DELETE_MARKER".into() });
            }
            if page.is_truncated() != Some(true) {
                return Ok(out);
            }
            km = page.next_key_marker().map(str::to_string);
            vm = page.next_version_id_marker().map(str::to_string);
        }
    }

    /// Waits until `check` holds on the file items of an asset.
    pub async fn wait_files(&self, asset_id: &str, timeout: Duration, check: impl Fn(&HashMap<String, HashMap<String, String>>) -> bool) -> Result<()> {
        let start = Instant::now();
        loop {
            if check(&self.file_items(asset_id).await?) {
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!("files of {asset_id} did not reach the expected state within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until `count` files of an asset are registered, then until the S3-events queue is
    /// idle: S3 sends its events after the write returns (LocalStack too; moto before it
    /// answers), so an idle queue alone may not have received them yet.
    pub async fn wait_registered(&self, asset_id: &str, count: usize, timeout: Duration) -> Result<()> {
        self.wait_files(asset_id, timeout, |f| f.len() >= count).await?;
        self.wait_idle(&["S3EventsQueue"], timeout).await
    }

    /// Waits until the named queues are empty (nothing visible or in flight).
    pub async fn wait_idle(&self, queues: &[&str], timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            let mut total = 0;
            for q in queues {
                total += self.queue_depth(q).await?;
            }
            if total == 0 {
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!("queues {queues:?} still hold {total} messages after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn send(&self, queue_logical_id: &str, body: &str) -> Result<()> {
        self.clients.sqs.send_message().queue_url(&self.stack.queue(queue_logical_id)?.url).message_body(body).send().await?;
        Ok(())
    }

    /// Items in a table (a scan; test tables are small).
    pub async fn count_items(&self, table_logical_id: &str) -> Result<usize> {
        let out = self.clients.dynamodb.scan().table_name(self.stack.table(table_logical_id)?).select(aws_sdk_dynamodb::types::Select::Count).send().await?;
        Ok(out.count() as usize)
    }
}

/// An attribute value as text, maps in key order (a snapshot must not depend on hash order).
fn canonical(v: &aws_sdk_dynamodb::types::AttributeValue) -> String {
    use aws_sdk_dynamodb::types::AttributeValue as AV;
    match v {
        AV::M(m) => format!("{:?}", m.iter().map(|(k, v)| (k, canonical(v))).collect::<BTreeMap<_, _>>()),
        AV::L(l) => format!("{:?}", l.iter().map(canonical).collect::<Vec<_>>()),
        other => format!("{other:?}"),
    }
}

/// Events deduplicated by their event id, as a consumer must (delivery is at least once).
pub fn dedupe(events: &[Value]) -> Vec<Value> {
    let mut seen = std::collections::HashSet::new();
    events.iter().filter(|e| seen.insert(e["event_id"].as_str().unwrap_or_default().to_string())).cloned().collect()
}
