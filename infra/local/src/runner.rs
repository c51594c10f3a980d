//! The event-source runner: for the local stack, what the Lambda service does on AWS. It polls
//! each queue a function is subscribed to in template.yaml and calls that function's handler with
//! a real SqsEvent (the template's batch size; concurrency up to its MaximumConcurrency, capped
//! locally), deletes what succeeded and lets the reported failures come back (after a short
//! visibility timeout, so that maxReceiveCount and the DLQ behave as on AWS, only sooner). It
//! also sends scheduled events, with any chosen time, to the scheduled functions.

use crate::faults::{Delivery, DeliveryFaults};
use crate::metrics_log::MetricsLog;
use crate::provision::{LocalFunction, LocalSqsSource, REGION, Stack};
use anyhow::{Context, Result, anyhow};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use chrono::{DateTime, Utc};
use slm_core::adapters::Clients;
use slm_core::batch::lambda::{self, QueueFunction};
use slm_core::config::Config;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// A queue-driven function as the runner calls it: any [`QueueFunction`], its future boxed.
trait Invoke: Send + Sync {
    fn invoke(&self, event: SqsEvent, deadline: Instant) -> std::pin::Pin<Box<dyn Future<Output = SqsBatchResponse> + Send + '_>>;
}

impl<F: QueueFunction> Invoke for F {
    fn invoke(&self, event: SqsEvent, deadline: Instant) -> std::pin::Pin<Box<dyn Future<Output = SqsBatchResponse> + Send + '_>> {
        Box::pin(lambda::run(self, event, Some(deadline)))
    }
}

/// Builds a fresh process of a queue-driven function (a cold start).
type MakeFunction = Arc<dyn Fn() -> Arc<dyn Invoke> + Send + Sync>;

/// How to start the queue-driven function built as `binary`.
fn queue_function(binary: &str, clients: Clients, config: Config) -> Result<MakeFunction> {
    fn make<F: QueueFunction + 'static>(new: fn(&Clients, Config) -> F, clients: Clients, config: Config) -> MakeFunction {
        Arc::new(move || Arc::new(new(&clients, config.clone())))
    }
    Ok(match binary {
        "slm-planner" => make(slm_planner::Planner::new, clients, config),
        "slm-worker" => make(slm_worker::Worker::new, clients, config),
        "slm-completion" => make(slm_completion::Completion::new, clients, config),
        "slm-reconciler" => make(slm_reconciler::Reconciler::new, clients, config),
        other => anyhow::bail!("no local handler for binary {other}"),
    })
}

#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Most pollers per event source, whatever the template allows (the emulator is one process).
    pub max_local_concurrency: usize,
    /// How long a failed message stays invisible before it is delivered again.
    pub retry_visibility_seconds: i32,
    /// Environment overrides applied to every function (for example a lower multipart threshold).
    pub env_overrides: BTreeMap<String, String>,
    /// Invocation timeouts other than the template's, by binary (a test of the worker's
    /// deadline, say). An invocation past its timeout is stopped where it is, as Lambda does.
    pub timeouts: BTreeMap<String, Duration>,
    /// Invocations killed mid-batch and S3 notifications lost, doubled or late (none by default).
    pub faults: DeliveryFaults,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            max_local_concurrency: 3,
            retry_visibility_seconds: 1,
            env_overrides: BTreeMap::new(),
            timeouts: BTreeMap::new(),
            faults: DeliveryFaults::default(),
        }
    }
}

/// The queue S3 sends the media buckets' notifications to.
const S3_EVENTS_QUEUE: &str = "S3EventsQueue";

/// Counts of what the runner delivered, for progress and tests.
#[derive(Debug, Default)]
pub struct RunnerStats {
    pub invocations: AtomicU64,
    pub messages: AtomicU64,
    pub failures: AtomicU64,
    /// Invocations stopped at their timeout.
    pub timeouts: AtomicU64,
}

pub struct Runner {
    stop: Arc<AtomicBool>,
    /// Functions whose event sources are disabled for now (binary names).
    paused: Arc<std::sync::Mutex<HashSet<String>>>,
    pollers: Vec<JoinHandle<()>>,
    pub stats: Arc<RunnerStats>,
    /// The functions' metrics (EMF lines), as their logs on AWS would hold them: in memory, and
    /// appended to the stack's metrics file (`slm report activity` reads it).
    pub metrics: MetricsLog,
    metrics_keeper: JoinHandle<()>,
    evaluator: Option<slm_evaluator::Handler>,
    reconciler: Option<slm_reconciler::Reconciler>,
    functions: Vec<LocalFunction>,
    timeouts: BTreeMap<String, Duration>,
}

/// The function's configuration from its template environment, with the overrides.
pub fn function_config(f: &LocalFunction, overrides: &BTreeMap<String, String>) -> Result<Config> {
    let mut env: HashMap<String, String> = f.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    // On Lambda each concurrent worker invocation is a process pacing itself at its share of
    // the stack-wide S3 rates; here one process runs all of them, so it takes the whole rate.
    if env.contains_key("WORKER_MAX_CONCURRENCY") {
        env.insert("WORKER_MAX_CONCURRENCY".into(), "1".into());
    }
    env.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    Config::from_lookup(|k| env.get(k).cloned()).map_err(|e| anyhow!("{}: {e}", f.logical_id))
}

impl Runner {
    /// Starts polling every SQS event source of the stack; every handler calls AWS with `clients`.
    pub fn start(stack: &Stack, clients: &Clients, options: RunnerOptions) -> Result<Runner> {
        Self::start_with(stack, clients, &|_| clients.clone(), options)
    }

    /// Starts polling every SQS event source of the stack with `clients` (the event sources'
    /// own calls, which the Lambda service makes on AWS); each function's handler calls AWS with
    /// the clients `function_clients` gives for its logical id.
    pub fn start_with(stack: &Stack, clients: &Clients, function_clients: &dyn Fn(&str) -> Clients, options: RunnerOptions) -> Result<Runner> {
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(std::sync::Mutex::new(HashSet::new()));
        let stats = Arc::new(RunnerStats::default());
        let metrics = MetricsLog::new(Some(crate::metrics_log::file_for(&stack.endpoint)));
        let metrics_keeper = tokio::spawn(metrics.clone().keep(stop.clone()));
        let mut pollers = Vec::new();
        for f in &stack.functions {
            if f.sqs.is_empty() {
                continue;
            }
            let config = function_config(f, &options.env_overrides)?;
            let make = queue_function(&f.binary, function_clients(&f.logical_id), config).with_context(|| f.logical_id.clone())?;
            let handler = Arc::new(Process { current: std::sync::RwLock::new(make()), make });
            let timeout = options.timeouts.get(&f.binary).copied().unwrap_or(Duration::from_secs(f.timeout_seconds.max(1)));
            for source in &f.sqs {
                let n = source.max_concurrency.clamp(1, options.max_local_concurrency.max(1));
                for _ in 0..n {
                    let poller = Poller {
                        sqs: clients.sqs.clone(),
                        source: source.clone(),
                        handler: handler.clone(),
                        stop: stop.clone(),
                        paused: paused.clone(),
                        binary: f.binary.clone(),
                        stats: stats.clone(),
                        retry_visibility: options.retry_visibility_seconds,
                        timeout,
                        faults: options.faults.clone(),
                    };
                    pollers.push(tokio::spawn(poller.run()));
                }
            }
        }
        let evaluator = match stack.functions.iter().find(|f| f.binary == "slm-evaluator") {
            Some(f) => Some(slm_evaluator::Handler::new(&function_clients(&f.logical_id), function_config(f, &options.env_overrides)?)),
            None => None,
        };
        let reconciler = match stack.functions.iter().find(|f| f.binary == "slm-reconciler") {
            Some(f) => Some(slm_reconciler::Reconciler::new(&function_clients(&f.logical_id), function_config(f, &options.env_overrides)?)),
            None => None,
        };
        Ok(Runner { stop, paused, pollers, stats, metrics, metrics_keeper, evaluator, reconciler, functions: stack.functions.clone(), timeouts: options.timeouts.clone() })
    }

    /// Sends a scheduled event at `time` to the function built as `binary`. EventBridge invokes
    /// it asynchronously, and Lambda retries a failed asynchronous invocation twice (after a
    /// minute, then two; here after one second, then two): a run that fails on an answer that
    /// never came, say, is run again before its error is the answer.
    pub async fn send_schedule(&self, binary: &str, time: DateTime<Utc>) -> Result<serde_json::Value> {
        let f = self.functions.iter().find(|f| f.binary == binary).ok_or_else(|| anyhow!("no function {binary}"))?;
        anyhow::ensure!(!f.schedules.is_empty(), "{} has no schedule in the template", f.logical_id);
        let mut retries = 0;
        loop {
            match self.invoke_scheduled(f, time).await {
                Err(e) if retries < ASYNC_RETRIES => {
                    retries += 1;
                    tracing::warn!(function = %f.logical_id, error = %format!("{e:#}"), retries, "scheduled invocation failed; Lambda retries it");
                    tokio::time::sleep(Duration::from_secs(retries as u64)).await;
                }
                answer => return answer,
            }
        }
    }

    async fn invoke_scheduled(&self, f: &LocalFunction, time: DateTime<Utc>) -> Result<serde_json::Value> {
        let mut event: EventBridgeEvent<serde_json::Value> = EventBridgeEvent::default();
        event.detail_type = "Scheduled Event".into();
        event.source = "aws.events".into();
        event.time = Some(time);
        event.region = Some(REGION.into());
        event.detail = serde_json::json!({});
        match f.binary.as_str() {
            "slm-evaluator" => {
                let handler = self.evaluator.as_ref().ok_or_else(|| anyhow!("no evaluator in the stack"))?;
                let timeout = self.timeout_of(f);
                let run = tokio::time::timeout(timeout, handler.handle(event, Some(Instant::now() + timeout)));
                Ok(serde_json::to_value(run.await.map_err(|_| anyhow!("the evaluator timed out after {timeout:?}"))??)?)
            }
            "slm-reconciler" => {
                let handler = self.reconciler.as_ref().ok_or_else(|| anyhow!("no reconciler in the stack"))?;
                Ok(serde_json::to_value(handler.handle_schedule(event).await?)?)
            }
            other => Err(anyhow!("no local scheduled handler for {other}")),
        }
    }

    /// The function's invocation timeout: the template's, or the runner's.
    fn timeout_of(&self, f: &LocalFunction) -> Duration {
        self.timeouts.get(&f.binary).copied().unwrap_or(Duration::from_secs(f.timeout_seconds.max(1)))
    }

    /// Disables the event sources of the function built as `binary` (as disabling its event source
    /// mappings would on AWS): messages wait in their queues. Invocations in flight finish.
    pub fn pause(&self, binary: &str) {
        self.paused.lock().expect("pause set").insert(binary.to_string());
    }

    /// Enables them again.
    pub fn resume(&self, binary: &str) {
        self.paused.lock().expect("pause set").remove(binary);
    }

    /// Stops polling and waits for in-flight invocations to finish.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for p in self.pollers {
            let _ = p.await;
        }
        let _ = self.metrics_keeper.await;
        if let Err(e) = self.metrics.flush() {
            tracing::warn!(error = %format!("{e:#}"), "metrics not kept");
        }
    }
}

/// Retries of a failed asynchronous invocation (Lambda's default MaximumRetryAttempts).
const ASYNC_RETRIES: usize = 2;

/// A function's handler as one process holds it: killed, it is made again (its memory gone).
struct Process {
    current: std::sync::RwLock<Arc<dyn Invoke>>,
    make: MakeFunction,
}

impl Process {
    fn handler(&self) -> Arc<dyn Invoke> {
        self.current.read().expect("process").clone()
    }

    fn restart(&self) {
        *self.current.write().expect("process") = (self.make)();
    }
}

struct Poller {
    sqs: aws_sdk_sqs::Client,
    source: LocalSqsSource,
    handler: Arc<Process>,
    stop: Arc<AtomicBool>,
    paused: Arc<std::sync::Mutex<HashSet<String>>>,
    binary: String,
    stats: Arc<RunnerStats>,
    retry_visibility: i32,
    timeout: Duration,
    faults: DeliveryFaults,
}

impl Poller {
    async fn run(self) {
        let mut idle = Duration::from_millis(10);
        while !self.stop.load(Ordering::Relaxed) {
            if self.paused.lock().expect("pause set").contains(&self.binary) {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            match self.poll_once().await {
                Ok(true) => idle = Duration::from_millis(10),
                Ok(false) => {
                    tokio::time::sleep(idle).await;
                    idle = (idle * 2).min(Duration::from_millis(200));
                }
                Err(e) => {
                    tracing::warn!(queue = %self.source.queue, error = %format!("{e:#}"), "poll failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// A receive of up to `max` messages, as the event source makes it.
    fn receive(&self, max: usize) -> aws_sdk_sqs::operation::receive_message::builders::ReceiveMessageFluentBuilder {
        let receive = self
            .sqs
            .receive_message()
            .queue_url(&self.source.queue_url)
            .max_number_of_messages(max as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All");
        match self.faults.any() {
            true => receive.visibility_timeout(self.faults.visibility_seconds),
            false => receive,
        }
    }

    /// One receive (more while the batching window gathers) and one invocation; false when the
    /// queue was empty.
    async fn poll_once(&self) -> Result<bool> {
        let batch = self.source.batch_size.clamp(1, 10);
        let mut messages = self.receive(batch).send().await.context("receive")?.messages.unwrap_or_default();
        // A batching window: Lambda gathers messages until the batch is full or the window ends.
        let gather_until = Instant::now() + self.source.batching_window;
        while !messages.is_empty() && messages.len() < batch && Instant::now() < gather_until {
            match self.receive(batch - messages.len()).wait_time_seconds(0).send().await.context("receive")?.messages {
                Some(more) if !more.is_empty() => messages.extend(more),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        if self.source.queue == S3_EVENTS_QUEUE && self.faults.any() {
            messages = self.deliver_notifications(messages).await;
        }
        if messages.is_empty() {
            return Ok(false);
        }
        let receipts: HashMap<String, String> =
            messages.iter().map(|m| (m.message_id().unwrap_or_default().to_string(), m.receipt_handle().unwrap_or_default().to_string())).collect();
        let mut event = SqsEvent::default();
        event.records = messages.iter().map(|m| self.to_record(m)).collect();
        self.stats.invocations.fetch_add(1, Ordering::Relaxed);
        self.stats.messages.fetch_add(messages.len() as u64, Ordering::Relaxed);
        let deadline = Instant::now() + self.timeout;
        let handler = self.handler.handler();
        let invocation = tokio::time::timeout(self.timeout, handler.invoke(event, deadline));
        // A killed invocation stops where it is, its messages neither deleted nor made visible:
        // they come back after the visibility timeout, to a process started afresh.
        let crash = self.faults.crash_after().unwrap_or(Duration::MAX);
        let answered = tokio::select! {
            answered = invocation => answered,
            _ = tokio::time::sleep(crash) => {
                tracing::warn!(queue = %self.source.queue, after = ?crash, "invocation killed");
                self.faults.stats.crashes.fetch_add(1, Ordering::Relaxed);
                self.handler.restart();
                return Ok(true);
            }
        };
        let failed: HashSet<String> = match answered {
            Ok(response) if self.source.report_batch_item_failures => response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect(),
            Ok(_) => HashSet::new(),
            // Lambda ends an invocation at its timeout wherever it is; every message of the
            // batch comes back.
            Err(_) => {
                tracing::warn!(queue = %self.source.queue, timeout = ?self.timeout, "invocation timed out");
                self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                receipts.keys().cloned().collect()
            }
        };
        self.stats.failures.fetch_add(failed.len() as u64, Ordering::Relaxed);
        let done: Vec<DeleteMessageBatchRequestEntry> = receipts
            .iter()
            .filter(|(id, _)| !failed.contains(*id))
            .enumerate()
            .map(|(i, (_, receipt))| DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(receipt).build())
            .collect::<Result<_, _>>()?;
        if !done.is_empty() {
            self.sqs.delete_message_batch().queue_url(&self.source.queue_url).set_entries(Some(done)).send().await.context("delete")?;
        }
        for id in &failed {
            if let Some(receipt) = receipts.get(id) {
                self.change_visibility(receipt, self.retry_visibility).await;
            }
        }
        Ok(true)
    }

    /// S3's delivery of its notifications, with the faults drawn for each: a lost one is
    /// deleted unseen, a doubled one is delivered and sent again to arrive later, a late one
    /// comes back after the messages behind it. Returns the ones delivered now.
    async fn deliver_notifications(&self, messages: Vec<aws_sdk_sqs::types::Message>) -> Vec<aws_sdk_sqs::types::Message> {
        let mut now = Vec::new();
        for m in messages {
            let receipt = m.receipt_handle().unwrap_or_default();
            match self.faults.notification() {
                Delivery::Once => now.push(m),
                Delivery::Lost => {
                    if self.sqs.delete_message().queue_url(&self.source.queue_url).receipt_handle(receipt).send().await.is_ok() {
                        self.faults.stats.lost.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Delivery::Twice => {
                    let late = self.faults.lateness().as_secs() as i32;
                    let copy = self.sqs.send_message().queue_url(&self.source.queue_url).message_body(m.body().unwrap_or_default()).delay_seconds(late);
                    if copy.send().await.is_ok() {
                        self.faults.stats.duplicated.fetch_add(1, Ordering::Relaxed);
                    }
                    now.push(m);
                }
                Delivery::Late => {
                    self.change_visibility(receipt, self.faults.lateness().as_secs() as i32).await;
                    self.faults.stats.delayed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        now
    }

    async fn change_visibility(&self, receipt: &str, seconds: i32) {
        let _ = self.sqs.change_message_visibility().queue_url(&self.source.queue_url).receipt_handle(receipt).visibility_timeout(seconds).send().await;
    }

    fn to_record(&self, m: &aws_sdk_sqs::types::Message) -> SqsMessage {
        sqs_record(m, &self.source.queue_arn)
    }
}

/// A received message as Lambda's SQS event source hands it to a function, in a record of its
/// SqsEvent.
pub fn sqs_record(m: &aws_sdk_sqs::types::Message, queue_arn: &str) -> SqsMessage {
    let mut r = SqsMessage::default();
    r.message_id = m.message_id().map(str::to_string);
    r.receipt_handle = m.receipt_handle().map(str::to_string);
    r.body = m.body().map(str::to_string);
    r.md5_of_body = m.md5_of_body().map(str::to_string);
    r.attributes = m.attributes().map(|a| a.iter().map(|(k, v)| (k.as_str().to_string(), v.clone())).collect()).unwrap_or_default();
    r.event_source = Some("aws:sqs".into());
    r.event_source_arn = Some(queue_arn.to_string());
    r.aws_region = Some(REGION.into());
    r
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The runner kills an invocation by dropping its handler's future, which stops all the
    /// invocation does only while nothing it started runs apart from that future (a spawned
    /// task or thread would go on after the kill, as no part of a SIGKILLed process does).
    #[test]
    fn slm_s_functions_and_core_start_nothing_that_outlives_their_invocation() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        sources(&root.join("shared/src"), &mut files);
        for f in std::fs::read_dir(root.join("functions")).unwrap() {
            sources(&f.unwrap().path().join("src"), &mut files);
        }
        assert!(files.len() > 20, "{} source files found", files.len());
        let spawns: Vec<String> = files
            .iter()
            .flat_map(|f| {
                let text = std::fs::read_to_string(f).unwrap();
                let found: Vec<String> = ["spawn(", "spawn_blocking(", "spawn_local(", "thread::scope("]
                    .iter()
                    .filter(|s| text.contains(*s))
                    .map(|s| format!("{} calls {s}", f.display()))
                    .collect();
                found
            })
            .collect();
        assert!(spawns.is_empty(), "{spawns:?}");
    }
}
