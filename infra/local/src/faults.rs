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
    rng: Arc<Mutex<u64>>,
    server: String,
    active: Arc<std::sync::atomic::AtomicBool>,
}

impl FaultInjector {
    /// Starts the fault server on a loopback port; `seed` makes a rate's draws replayable.
    pub async fn start(rules: Vec<FaultRule>, seed: u64) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let server = format!("http://{}", listener.local_addr()?);
        tokio::spawn(serve(listener));
        let rules = rules.into_iter().map(|rule| RuleState { rule, matched: AtomicU64::new(0), injected: AtomicU64::new(0) }).collect();
        Ok(FaultInjector { rules: Arc::new(rules), rng: Arc::new(Mutex::new(seed)), server, active: Arc::new(true.into()) })
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

    #[cfg(test)]
    fn decide(&self, service: &str, operation: &str) -> Option<Fault> {
        self.decide_rule(service, operation).map(|(f, _)| f)
    }

    fn decide_rule(&self, service: &str, operation: &str) -> Option<(Fault, bool)> {
        if !self.active.load(Ordering::Relaxed) {
            return None;
        }
        let rule = self.rules.iter().find(|r| r.rule.service == service && (r.rule.operation == "*" || r.rule.operation == operation))?;
        let n = rule.matched.fetch_add(1, Ordering::Relaxed);
        let hit = match rule.rule.times {
            Times::First(k) => n < k,
            Times::Rate(p) => self.draw() < p,
        };
        hit.then(|| {
            rule.injected.fetch_add(1, Ordering::Relaxed);
            (rule.rule.fault, rule.rule.after_applied)
        })
    }

    /// A uniform draw in [0, 1) from a splitmix64 sequence.
    fn draw(&self) -> f64 {
        let mut state = self.rng.lock().expect("fault rng");
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
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
}
