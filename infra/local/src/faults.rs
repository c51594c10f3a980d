//! Fault injection for the local stack: the errors AWS answers under load (S3 500 InternalError
//! and 503 SlowDown, DynamoDB throttling and transaction conflicts, SQS and Step Functions 5xx),
//! injected between the functions' SDK clients and the emulator, never inside slm's code paths.
//!
//! An interceptor on each client decides, per attempt, whether a rule matches; a matching
//! attempt is sent to the injector's own loopback server instead of the emulator, which answers
//! with the fault as the service would. The emulator never sees the request, so the fault is
//! one that happened before the service acted (a throttle, a 5xx at the front door).

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use slm_core::draws::SplitMix64;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A fault as the service answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// S3: 500 InternalError.
    S3InternalError,
    /// S3: 503 SlowDown.
    S3SlowDown,
    /// A 500 with no error code at all (an HTML page), as the emulator answers its own faults.
    BareInternalError,
    /// DynamoDB: 400 ProvisionedThroughputExceededException.
    DynamoThroughput,
    /// DynamoDB: 400 ThrottlingException.
    DynamoThrottling,
    /// DynamoDB: a TransactWriteItems cancelled for a conflicting transaction.
    DynamoTransactionConflict,
    /// Any JSON-protocol service (SQS, Step Functions, SNS): 500 InternalFailure.
    ServiceUnavailable,
    /// The connection is dropped once the request is read: no answer at all (the client reads
    /// the end of the connection where an answer should be, as after a reset).
    ConnectionDropped,
    /// No answer for longer than the SDK waits ([`STALL`]): the attempt times out.
    Stall,
}

/// How long a [`Fault::Stall`] keeps its connection without answering: past [`TIMEOUTS`].
pub const STALL: std::time::Duration = std::time::Duration::from_secs(8);

/// The functions' time limits under injected faults: AWS's in kind, shorter, so that a stalled
/// answer costs seconds rather than a minute.
pub const TIMEOUTS: slm_core::adapters::Timeouts = slm_core::adapters::Timeouts {
    connect: std::time::Duration::from_millis(3100),
    s3_first_byte: std::time::Duration::from_secs(5),
    attempt: std::time::Duration::from_secs(5),
};

impl Fault {
    fn answer(self, head_request: bool) -> (u16, &'static str, String) {
        let xml = |code: &str, message: &str| {
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>slm-fault</RequestId></Error>")
        };
        let json = |ty: &str, extra: &str| format!("{{\"__type\":\"com.amazonaws.dynamodb.v20120810#{ty}\",\"message\":\"injected by the local stack\"{extra}}}");
        // HEAD answers carry no body: the status alone says what happened, as on S3.
        let body = |b: String| if head_request { String::new() } else { b };
        match self {
            Fault::S3InternalError => (500, "application/xml", body(xml("InternalError", "We encountered an internal error. Please try again."))),
            Fault::S3SlowDown => (503, "application/xml", body(xml("SlowDown", "Please reduce your request rate."))),
            Fault::BareInternalError => (500, "text/html", body("<html><body>Internal Server Error</body></html>".to_string())),
            Fault::DynamoThroughput => (400, "application/x-amz-json-1.0", json("ProvisionedThroughputExceededException", "")),
            Fault::DynamoThrottling => (400, "application/x-amz-json-1.0", json("ThrottlingException", "")),
            Fault::DynamoTransactionConflict => (
                400,
                "application/x-amz-json-1.0",
                json(
                    "TransactionCanceledException",
                    r#","CancellationReasons":[{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"},{"Code":"None"}]"#,
                ),
            ),
            // Never sent: the server drops or stalls instead (`serve`); a 500 if it were.
            Fault::ServiceUnavailable | Fault::ConnectionDropped | Fault::Stall => {
                (500, "application/x-amz-json-1.0", r#"{"__type":"InternalFailure","message":"injected by the local stack"}"#.to_string())
            }
        }
    }
}

/// Which attempts a rule faults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Times {
    /// The first n matching attempts, then none.
    First(u64),
    /// Each matching attempt with this probability, drawn from the injector's seed.
    Rate(f64),
}

/// Faults `fault` on attempts of `service` (its signing name: s3, dynamodb, sqs, states, sns)
/// and `operation` ("*" for every operation).
#[derive(Debug, Clone)]
pub struct FaultRule {
    pub service: &'static str,
    pub operation: String,
    pub fault: Fault,
    pub times: Times,
    /// The request reaches the emulator and is applied; only its answer is the fault (a 5xx
    /// or a lost connection after the service acted). Otherwise the emulator never sees it.
    pub after_applied: bool,
}

impl FaultRule {
    pub fn first(n: u64, service: &'static str, operation: &str, fault: Fault) -> Self {
        FaultRule { service, operation: operation.to_string(), fault, times: Times::First(n), after_applied: false }
    }

    pub fn rate(rate: f64, service: &'static str, operation: &str, fault: Fault) -> Self {
        FaultRule { service, operation: operation.to_string(), fault, times: Times::Rate(rate), after_applied: false }
    }

    /// The same rule, with the request applied before its answer is lost.
    pub fn after_applied(mut self) -> Self {
        self.after_applied = true;
        self
    }
}

#[derive(Debug)]
struct RuleState {
    rule: FaultRule,
    matched: AtomicU64,
    injected: AtomicU64,
}

/// The injector: its rules, its seed, and the loopback server that answers faulted attempts.
#[derive(Debug, Clone)]
pub struct FaultInjector {
    rules: Arc<Vec<RuleState>>,
    draws: Draws,
    server: String,
    active: Arc<std::sync::atomic::AtomicBool>,
}

/// A seeded sequence of uniform draws in [0, 1), shared by its clones: a run with the same seed
/// and the same order of decisions draws the same faults.
#[derive(Debug, Clone)]
pub struct Draws(Arc<Mutex<SplitMix64>>);

impl Draws {
    pub fn new(seed: u64) -> Self {
        Draws(Arc::new(Mutex::new(SplitMix64::new(seed))))
    }

    pub fn draw(&self) -> f64 {
        self.0.lock().expect("fault draws").uniform()
    }

    /// True with probability `p`.
    pub fn hit(&self, p: f64) -> bool {
        p > 0.0 && self.draw() < p
    }
}

impl FaultInjector {
    /// Starts the fault server on a loopback port; `seed` makes a rate's draws replayable.
    pub async fn start(rules: Vec<FaultRule>, seed: u64) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let server = format!("http://{}", listener.local_addr()?);
        tokio::spawn(serve(listener));
        let rules = rules.into_iter().map(|rule| RuleState { rule, matched: AtomicU64::new(0), injected: AtomicU64::new(0) }).collect();
        Ok(FaultInjector { rules: Arc::new(rules), draws: Draws::new(seed), server, active: Arc::new(true.into()) })
    }

    /// The interceptor for one service's client.
    pub fn for_service(&self, service: &'static str) -> SharedInterceptor {
        SharedInterceptor::new(FaultInterceptor { service, injector: self.clone() })
    }

    /// Turns injection on or off (on from the start); a test sets the scene without faults.
    pub fn set_active(&self, active: bool) {
        self.active.store(active, Ordering::Relaxed);
    }

    /// Faults injected so far, by rule (in the order given).
    pub fn injected(&self) -> Vec<u64> {
        self.rules.iter().map(|r| r.injected.load(Ordering::Relaxed)).collect()
    }

    /// Faults injected so far, by fault and whether the request was applied first, with the
    /// attempts the rules were asked about.
    pub fn tally(&self) -> std::collections::BTreeMap<String, u64> {
        let mut out = std::collections::BTreeMap::new();
        for r in self.rules.iter() {
            let name = format!("{}:{:?}{}", r.rule.service, r.rule.fault, if r.rule.after_applied { " (after applied)" } else { "" });
            *out.entry(name).or_default() += r.injected.load(Ordering::Relaxed);
        }
        out
    }

    #[cfg(test)]
    fn decide(&self, service: &str, operation: &str) -> Option<Fault> {
        self.decide_rule(service, operation).map(|(f, _)| f)
    }

    fn decide_rule(&self, service: &str, operation: &str) -> Option<(Fault, bool)> {
        if !self.active.load(Ordering::Relaxed) {
            return None;
        }
        // Every rule that matches is asked in the order given; the first that hits decides.
        let matching = self.rules.iter().filter(|r| r.rule.service == service && (r.rule.operation == "*" || r.rule.operation == operation));
        for rule in matching {
            let n = rule.matched.fetch_add(1, Ordering::Relaxed);
            let hit = match rule.rule.times {
                Times::First(k) => n < k,
                Times::Rate(p) => self.draws.hit(p),
            };
            if hit {
                rule.injected.fetch_add(1, Ordering::Relaxed);
                return Some((rule.rule.fault, rule.rule.after_applied));
            }
        }
        None
    }
}

/// The kinds of fault the fault suite runs one at a time and all at once (tests/faults.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// S3 500 InternalError, 503 SlowDown and a bare 500, on every S3 operation.
    S3Errors,
    /// DynamoDB ProvisionedThroughputExceeded and ThrottlingException on every operation, and
    /// transaction conflicts on TransactWriteItems.
    DynamoThrottling,
    /// SQS and Step Functions 500s.
    ServiceErrors,
    /// Requests applied whose answer is a 5xx (S3, DynamoDB, SQS, Step Functions): the retry
    /// repeats what was done.
    LostAnswers,
    /// Connections dropped, and answers that never come (past the clients' timeouts), on every
    /// service.
    Connections,
    /// Function invocations killed at a random point of their batch, their messages back after
    /// the (shortened) visibility timeout.
    Crashes,
    /// S3 event notifications lost, delivered twice, and delivered late (out of order).
    Notifications,
}

impl FaultKind {
    pub const ALL: [FaultKind; 7] = [
        FaultKind::S3Errors,
        FaultKind::DynamoThrottling,
        FaultKind::ServiceErrors,
        FaultKind::LostAnswers,
        FaultKind::Connections,
        FaultKind::Crashes,
        FaultKind::Notifications,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::S3Errors => "s3-errors",
            FaultKind::DynamoThrottling => "dynamodb-throttling",
            FaultKind::ServiceErrors => "service-errors",
            FaultKind::LostAnswers => "lost-answers",
            FaultKind::Connections => "connections",
            FaultKind::Crashes => "crashes",
            FaultKind::Notifications => "notifications",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The request faults of this kind, each attempt faulted with probability `rate` (split
    /// between the kind's faults). Crashes and notifications are the runner's ([`DeliveryFaults`]).
    ///
    /// Step Functions and DynamoDB's transactions are called a few times a task (a task's
    /// creation, its execution's start and end), SQS once a batch: each of their faults is
    /// injected on the first call as well, so that a small run meets it. SNS is the state machine's to call, not a
    /// function's (tests/unpublished.rs takes its topic away).
    pub fn rules(self, rate: f64) -> Vec<FaultRule> {
        let mut rules = self.rate_rules(rate);
        let rare = |r: &&FaultRule| ["states", "sqs"].contains(&r.service) || r.operation == "TransactWriteItems";
        let first: Vec<FaultRule> = rules.iter().filter(rare).map(|r| FaultRule { times: Times::First(1), ..r.clone() }).collect();
        rules.splice(0..0, first);
        rules
    }

    fn rate_rules(self, rate: f64) -> Vec<FaultRule> {
        let services: [&'static str; 4] = ["s3", "dynamodb", "sqs", "states"];
        match self {
            FaultKind::S3Errors => [Fault::S3InternalError, Fault::S3SlowDown, Fault::BareInternalError].map(|f| FaultRule::rate(rate / 3.0, "s3", "*", f)).to_vec(),
            FaultKind::DynamoThrottling => vec![
                FaultRule::rate(rate, "dynamodb", "TransactWriteItems", Fault::DynamoTransactionConflict),
                FaultRule::rate(rate / 2.0, "dynamodb", "*", Fault::DynamoThroughput),
                FaultRule::rate(rate / 2.0, "dynamodb", "*", Fault::DynamoThrottling),
            ],
            FaultKind::ServiceErrors => ["sqs", "states"].map(|s| FaultRule::rate(rate, s, "*", Fault::ServiceUnavailable)).to_vec(),
            FaultKind::LostAnswers => services
                .map(|s| FaultRule::rate(rate, s, "*", if s == "s3" { Fault::S3InternalError } else { Fault::ServiceUnavailable }).after_applied())
                .to_vec(),
            FaultKind::Connections => {
                services.iter().flat_map(|s| [FaultRule::rate(rate / 2.0, s, "*", Fault::ConnectionDropped), FaultRule::rate(rate / 2.0, s, "*", Fault::Stall)]).collect()
            }
            FaultKind::Crashes | FaultKind::Notifications => vec![],
        }
    }

    /// The runner's faults of this kind at `rate`.
    pub fn deliveries(self, rate: f64) -> DeliveryFaults {
        match self {
            FaultKind::Crashes => DeliveryFaults { crash: rate, ..DeliveryFaults::default() },
            FaultKind::Notifications => DeliveryFaults { lose: rate / 3.0, duplicate: rate / 3.0, delay: rate / 3.0, ..DeliveryFaults::default() },
            _ => DeliveryFaults::default(),
        }
    }
}

/// Faults of delivery, which the runner (the local Lambda service and S3's notification
/// delivery) injects: invocations killed mid-batch, S3 notifications lost, twice delivered or late.
#[derive(Debug, Clone)]
pub struct DeliveryFaults {
    /// Of invocations, the share killed at a random point within [`DeliveryFaults::crash_within`]
    /// of their start (an invocation that ends first is not killed).
    pub crash: f64,
    pub crash_within: std::time::Duration,
    /// Of S3 notifications (the S3-events queue's messages), the shares lost, delivered twice
    /// (the copy up to [`DeliveryFaults::late_by`] later) and delivered late.
    pub lose: f64,
    pub duplicate: f64,
    pub delay: f64,
    pub late_by: std::time::Duration,
    /// The queues' visibility timeout while these faults are on: a killed invocation's messages
    /// come back after it, as on AWS after the queue's (minutes there).
    pub visibility_seconds: i32,
    pub draws: Draws,
    pub stats: Arc<DeliveryStats>,
    /// Off, nothing is injected (a test sets its scene without faults).
    active: Arc<std::sync::atomic::AtomicBool>,
}

impl Default for DeliveryFaults {
    fn default() -> Self {
        DeliveryFaults {
            crash: 0.0,
            crash_within: std::time::Duration::from_secs(3),
            lose: 0.0,
            duplicate: 0.0,
            delay: 0.0,
            late_by: std::time::Duration::from_secs(5),
            visibility_seconds: 20,
            draws: Draws::new(0),
            stats: Arc::default(),
            active: Arc::new(true.into()),
        }
    }
}

impl DeliveryFaults {
    /// Whether any delivery fault is on: the queues' visibility timeouts are then short.
    pub fn any(&self) -> bool {
        self.crash > 0.0 || self.lose > 0.0 || self.duplicate > 0.0 || self.delay > 0.0
    }

    /// Turns injection on or off (on from the start).
    pub fn set_active(&self, active: bool) {
        self.active.store(active, Ordering::Relaxed);
    }

    fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// The faults of `kinds` at `rate`, drawn from `seed`.
    pub fn of(kinds: &[FaultKind], rate: f64, seed: u64) -> Self {
        let mut out = DeliveryFaults { draws: Draws::new(seed ^ 0xD311_7E5A), ..DeliveryFaults::default() };
        for k in kinds {
            let d = k.deliveries(rate);
            out.crash += d.crash;
            out.lose += d.lose;
            out.duplicate += d.duplicate;
            out.delay += d.delay;
        }
        out
    }

    /// What the draws decide for one S3 notification. Of the kinds on, the first notifications
    /// are lost, doubled and late in that order, so that a small run meets each.
    pub fn notification(&self) -> Delivery {
        if !self.active() {
            return Delivery::Once;
        }
        let first = [(self.lose, Delivery::Lost), (self.duplicate, Delivery::Twice), (self.delay, Delivery::Late)];
        let on: Vec<Delivery> = first.iter().filter(|(p, _)| *p > 0.0).map(|(_, d)| *d).collect();
        let n = self.stats.notifications.fetch_add(1, Ordering::Relaxed) as usize;
        if let Some(d) = on.get(n) {
            return *d;
        }
        let x = self.draws.draw();
        if x < self.lose {
            Delivery::Lost
        } else if x < self.lose + self.duplicate {
            Delivery::Twice
        } else if x < self.lose + self.duplicate + self.delay {
            Delivery::Late
        } else {
            Delivery::Once
        }
    }

    /// Whether to kill this invocation, and when. Until one was killed, each is, so that a
    /// small run meets a crash.
    pub fn crash_after(&self) -> Option<std::time::Duration> {
        let none_yet = self.crash > 0.0 && self.stats.crashes.load(Ordering::Relaxed) == 0;
        (self.active() && (none_yet || self.draws.hit(self.crash))).then(|| self.crash_within.mul_f64(self.draws.draw()))
    }

    /// A delay up to `late_by`, at least a second.
    pub fn lateness(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1).max(self.late_by.mul_f64(self.draws.draw()))
    }
}

/// What happens to one S3 notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Once,
    Lost,
    Twice,
    Late,
}

/// The delivery faults injected so far.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// Notifications the faults were drawn for.
    pub notifications: AtomicU64,
    pub crashes: AtomicU64,
    pub lost: AtomicU64,
    pub duplicated: AtomicU64,
    pub delayed: AtomicU64,
}

impl DeliveryStats {
    pub fn tally(&self) -> std::collections::BTreeMap<String, u64> {
        [("runner:crash", &self.crashes), ("s3-events:lost", &self.lost), ("s3-events:duplicated", &self.duplicated), ("s3-events:late", &self.delayed)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.load(Ordering::Relaxed)))
            .collect()
    }
}

#[derive(Debug)]
struct FaultInterceptor {
    service: &'static str,
    injector: FaultInjector,
}

const FAULT_HEADER: &str = "x-slm-local-fault";

impl Intercept for FaultInterceptor {
    fn name(&self) -> &'static str {
        "slm-local-faults"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>().map(|m| m.name().to_string()).unwrap_or_default();
        let decided = self.injector.decide_rule(self.service, &operation);
        let head = context.request().method() == "HEAD";
        cfg.interceptor_state().store_put(AnswerLost(decided.filter(|(_, after)| *after).map(|(f, _)| (f, head))));
        let Some((fault, false)) = decided else { return Ok(()) };
        let request = context.request_mut();
        request.headers_mut().insert(FAULT_HEADER, format!("{fault:?}"));
        request.set_uri(format!("{}/{}", self.injector.server, operation).as_str())?;
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(lost) = self.lost_answer(cfg) {
            *context.response_mut() = lost;
        }
        Ok(())
    }
}

/// The fault to answer in place of the emulator's answer to this attempt, if any.
#[derive(Debug, Clone)]
struct AnswerLost(Option<(Fault, bool)>);

impl Storable for AnswerLost {
    type Storer = StoreReplace<Self>;
}

impl FaultInterceptor {
    fn lost_answer(&self, cfg: &ConfigBag) -> Option<HttpResponse> {
        let (fault, head) = cfg.load::<AnswerLost>()?.0?;
        let (status, content_type, body) = fault.answer(head);
        let mut response = HttpResponse::new(StatusCode::try_from(status).ok()?, SdkBody::from(body));
        response.headers_mut().insert("content-type", content_type);
        Some(response)
    }
}

const ALL: [Fault; 9] = [
    Fault::S3InternalError,
    Fault::S3SlowDown,
    Fault::BareInternalError,
    Fault::DynamoThroughput,
    Fault::DynamoThrottling,
    Fault::DynamoTransactionConflict,
    Fault::ServiceUnavailable,
    Fault::ConnectionDropped,
    Fault::Stall,
];

/// Answers every request with the fault its header names, one request per connection.
async fn serve(listener: tokio::net::TcpListener) {
    while let Ok((mut stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let Some(head) = read_request(&mut stream).await else { return };
            let named = head.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case(FAULT_HEADER)).map(|(_, v)| v.trim().to_string()));
            let fault = ALL.into_iter().find(|f| Some(format!("{f:?}")) == named).unwrap_or(Fault::ServiceUnavailable);
            match fault {
                Fault::ConnectionDropped => return,
                Fault::Stall => {
                    tokio::time::sleep(STALL).await;
                    return;
                }
                _ => {}
            }
            let (status, content_type, body) = fault.answer(head.starts_with("HEAD "));
            let reply = format!(
                "HTTP/1.1 {status} Fault\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// The request's head; its body (by content-length) is read and dropped.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case("content-length")).and_then(|(_, v)| v.trim().parse().ok()))
        .unwrap_or(0);
    let mut left = length.saturating_sub(buf.len() - end);
    while left > 0 {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        left = left.saturating_sub(n);
    }
    Some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_n_attempts_of_an_operation_are_faulted_and_no_other() {
        let injector = FaultInjector::start(vec![FaultRule::first(2, "s3", "ListObjectVersions", Fault::S3InternalError)], 1).await.unwrap();
        let decisions: Vec<_> = (0..4).map(|_| injector.decide("s3", "ListObjectVersions")).collect();
        assert_eq!(decisions, vec![Some(Fault::S3InternalError), Some(Fault::S3InternalError), None, None]);
        assert_eq!(injector.decide("s3", "HeadObject"), None);
        assert_eq!(injector.injected(), vec![2]);
    }

    #[tokio::test]
    async fn a_rate_is_replayable_from_its_seed() {
        let draws = |seed| async move {
            let i = FaultInjector::start(vec![FaultRule::rate(0.3, "dynamodb", "*", Fault::DynamoThrottling)], seed).await.unwrap();
            (0..200).map(|_| i.decide("dynamodb", "PutItem").is_some()).collect::<Vec<_>>()
        };
        let (a, b) = (draws(7).await, draws(7).await);
        assert_eq!(a, b);
        let hits = a.iter().filter(|h| **h).count();
        assert!((30..90).contains(&hits), "{hits} of 200 at 30 %");
    }

    #[tokio::test]
    async fn each_fault_of_a_rarely_called_service_is_met_on_its_first_calls() {
        let injector = FaultInjector::start(FaultKind::Connections.rules(0.0), 1).await.unwrap();
        let states: Vec<_> = (0..3).map(|_| injector.decide("states", "StartExecution")).collect();
        assert_eq!(states, vec![Some(Fault::ConnectionDropped), Some(Fault::Stall), None]);
        assert_eq!(injector.decide("sqs", "SendMessage"), Some(Fault::ConnectionDropped));
        assert_eq!(injector.decide("s3", "CopyObject"), None, "at a rate of 0, only the first calls of rare services");
    }

    #[test]
    fn the_first_notifications_are_lost_doubled_and_late_in_turn_then_drawn() {
        let d = DeliveryFaults::of(&[FaultKind::Notifications], 1e-9, 1);
        let seen: Vec<_> = (0..5).map(|_| d.notification()).collect();
        assert_eq!(seen, vec![Delivery::Lost, Delivery::Twice, Delivery::Late, Delivery::Once, Delivery::Once]);
        d.set_active(false);
        assert_eq!(d.notification(), Delivery::Once);
        assert!(d.crash_after().is_none(), "no crash without the kind");
    }
}
