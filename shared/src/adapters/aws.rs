//! SDK clients, built once per process from the shared AWS configuration. Endpoints come from
//! AWS_ENDPOINT_URL (and its per-service variants), so the same code runs against AWS or an emulator.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_config::retry::RetryConfig;
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::interceptors::context::{BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sfn: aws_sdk_sfn::Client,
    /// Built on first use ([`Clients::sns`]): only the reconciler publishes.
    sns: Arc<LazySns>,
}

/// What the SNS client is built from, and the client once built.
#[derive(Debug)]
struct LazySns {
    config: aws_config::SdkConfig,
    timeouts: Timeouts,
    interceptors: Vec<SharedInterceptor>,
    client: std::sync::OnceLock<aws_sdk_sns::Client>,
}

/// A client of one SDK with slm's retries, time limits, answer metrics and the given
/// interceptors.
macro_rules! client {
    ($sdk:ident, $name:literal, $config:expr, $timeouts:expr, $interceptors:expr, $extra:expr) => {{
        let mut b = $sdk::config::Builder::from($config);
        // Throttling is retried with the client-side rate limiting of adaptive mode, and a few
        // more attempts than the default three: a burst of SlowDown or throughput errors slows
        // the client down instead of failing the call.
        b.set_retry_config(Some(RetryConfig::adaptive().with_max_attempts(RETRY_ATTEMPTS)));
        b.set_timeout_config(Some($timeouts.for_service($name)));
        $extra(&mut b);
        b.push_interceptor(SharedInterceptor::new(AnswerMetrics { service: $name }));
        for interceptor in $interceptors {
            b.push_interceptor(interceptor);
        }
        $sdk::Client::from_conf(b.build())
    }};
}

impl Clients {
    /// Loads the AWS configuration from the environment (region, credentials, endpoints).
    pub async fn from_env() -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(&config, None)
    }

    /// Builds every client from one configuration; with a counter, every request attempt is counted.
    pub fn new(config: &aws_config::SdkConfig, counter: Option<&RequestCounter>) -> Self {
        Self::instrumented(config, |service| counter.map(|c| c.for_service(service)).into_iter().collect())
    }

    /// Builds every client with the interceptors `extra` gives for each service (by its signing
    /// name): request counters for benchmarks, the local stack's fault injection.
    pub fn instrumented(config: &aws_config::SdkConfig, extra: impl Fn(&'static str) -> Vec<SharedInterceptor>) -> Self {
        Self::instrumented_with(config, Timeouts::AWS, extra)
    }

    /// [`Clients::instrumented`] with other time limits (the local stack's fault runs shorten
    /// them, so that a stalled answer costs seconds).
    pub fn instrumented_with(config: &aws_config::SdkConfig, timeouts: Timeouts, extra: impl Fn(&'static str) -> Vec<SharedInterceptor>) -> Self {
        // Path-style addressing only for an endpoint override (an emulator on a loopback port
        // has no bucket subdomains); on AWS, virtual-hosted style as S3 recommends.
        let path_style = config.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        Clients {
            s3: client!(aws_sdk_s3, "s3", config, timeouts, extra("s3"), |b: &mut aws_sdk_s3::config::Builder| {
                b.set_force_path_style(Some(path_style));
            }),
            dynamodb: client!(aws_sdk_dynamodb, "dynamodb", config, timeouts, extra("dynamodb"), |_b: &mut aws_sdk_dynamodb::config::Builder| {}),
            sqs: client!(aws_sdk_sqs, "sqs", config, timeouts, extra("sqs"), |_b: &mut aws_sdk_sqs::config::Builder| {}),
            sfn: client!(aws_sdk_sfn, "states", config, timeouts, extra("states"), |_b: &mut aws_sdk_sfn::config::Builder| {}),
            sns: Arc::new(LazySns { config: config.clone(), timeouts, interceptors: extra("sns"), client: Default::default() }),
        }
    }

    /// The SNS client, built the first time it is asked for.
    pub fn sns(&self) -> &aws_sdk_sns::Client {
        let lazy = &*self.sns;
        lazy.client.get_or_init(|| client!(aws_sdk_sns, "sns", &lazy.config, lazy.timeouts, lazy.interceptors.clone(), |_b: &mut aws_sdk_sns::config::Builder| {}))
    }
}

/// Attempts per SDK call, the first included.
pub const RETRY_ATTEMPTS: u32 = 5;

/// Time limits of each attempt: a connection that hangs (an answer lost on the way, a stalled
/// endpoint) fails its attempt, which is retried as a 5xx is, instead of holding the invocation
/// until Lambda ends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: std::time::Duration,
    /// S3: until the answer's first byte. Not the whole attempt: a CopyObject answers 200 at once
    /// and keeps the connection alive while it copies, and a GetObject streams its body.
    pub s3_first_byte: std::time::Duration,
    /// Every other service: the whole attempt (an SQS long poll lasts 20 s at most).
    pub attempt: std::time::Duration,
}

impl Timeouts {
    pub const AWS: Timeouts = Timeouts {
        connect: std::time::Duration::from_millis(3100),
        s3_first_byte: std::time::Duration::from_secs(60),
        attempt: std::time::Duration::from_secs(30),
    };

    /// The SDK's timeout configuration for one service (its signing name).
    pub fn for_service(&self, service: &str) -> aws_smithy_types::timeout::TimeoutConfig {
        let b = aws_smithy_types::timeout::TimeoutConfig::builder().connect_timeout(self.connect);
        match service {
            "s3" => b.read_timeout(self.s3_first_byte).build(),
            _ => b.operation_attempt_timeout(self.attempt).build(),
        }
    }
}

/// Counts request attempts per service and operation, for benchmarks (requests per object),
/// and the attempts in flight at once (their peak since the last reset).
#[derive(Clone, Debug, Default)]
pub struct RequestCounter {
    /// Attempts per service and operation.
    counts: Tally,
    in_flight: Arc<AtomicI64>,
    peak: Arc<AtomicI64>,
    /// Operations begun per service and operation (an operation's attempts beyond its first
    /// are its retries): what was asked, whatever the retries.
    asked: Tally,
}

/// "service:Operation" -> a count, shared by every clone of a counter.
type Tally = Arc<Mutex<BTreeMap<String, Arc<AtomicU64>>>>;

fn add(tally: &Tally, key: String) {
    let slot = tally.lock().expect("counter lock").entry(key).or_default().clone();
    slot.fetch_add(1, Ordering::Relaxed);
}

fn read(tally: &Tally) -> BTreeMap<String, u64> {
    tally.lock().expect("counter lock").iter().map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed))).collect()
}

/// One attempt on the wire: counted in flight until its answer is read, or until its operation
/// is dropped (an invocation killed or timed out), whichever comes first.
#[derive(Debug)]
struct InFlight(RequestCounter);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Storable for InFlight {
    type Storer = StoreReplace<Self>;
}

/// Marks an operation counted in [`RequestCounter::asked`], so that its retries are not.
#[derive(Debug)]
struct Asked;

impl Storable for Asked {
    type Storer = StoreReplace<Self>;
}

impl RequestCounter {
    /// The counting interceptor for one service's client.
    pub fn for_service(&self, service: &'static str) -> SharedInterceptor {
        SharedInterceptor::new(CountingInterceptor { service, counter: self.clone() })
    }

    /// "service:Operation" -> operations begun so far (each counted once, however many attempts
    /// it took): what slm asked for, which a retry under load does not change.
    pub fn asked(&self) -> BTreeMap<String, u64> {
        read(&self.asked)
    }

    /// "service:Operation" -> attempts so far.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        read(&self.counts)
    }

    pub fn reset(&self) {
        self.counts.lock().expect("counter lock").clear();
        self.asked.lock().expect("counter lock").clear();
        self.peak.store(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Operations begun since the last reset; their attempts are [`RequestCounter::snapshot`]'s.
    pub fn operations(&self) -> u64 {
        self.asked().values().sum()
    }

    /// Attempts in flight now, and the most at once since the last reset.
    pub fn in_flight(&self) -> (i64, i64) {
        (self.in_flight.load(Ordering::Relaxed), self.peak.load(Ordering::Relaxed))
    }
}

/// The name of the operation a request belongs to, from its configuration.
fn operation_name(cfg: &ConfigBag) -> String {
    cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>().map(|m| m.name().to_string()).unwrap_or_else(|| "unknown".to_string())
}

#[derive(Debug)]
struct CountingInterceptor {
    service: &'static str,
    counter: RequestCounter,
}

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "slm-request-counter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let key = format!("{}:{}", self.service, operation_name(cfg));
        // The operation's first attempt (its name is known from here on): what slm asked.
        if cfg.load::<Asked>().is_none() {
            add(&self.counter.asked, key.clone());
            cfg.interceptor_state().store_put(Asked);
        }
        add(&self.counter.counts, key);
        let now = self.counter.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.counter.peak.fetch_max(now, Ordering::Relaxed);
        cfg.interceptor_state().store_put(InFlight(self.counter.clone()));
        Ok(())
    }

    fn read_after_attempt(&self, _context: &FinalizerInterceptorContextRef<'_>, _components: &RuntimeComponents, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        cfg.interceptor_state().unset::<InFlight>();
        Ok(())
    }
}

/// Counts each attempt's transient answer ([`crate::metrics::REQUEST_ERRORS`], and
/// [`crate::metrics::THROTTLES`]): the SDK retries them out of slm's sight.
#[derive(Debug)]
struct AnswerMetrics {
    service: &'static str,
}

impl Intercept for AnswerMetrics {
    fn name(&self) -> &'static str {
        "slm-answer-metrics"
    }

    fn read_after_attempt(&self, context: &FinalizerInterceptorContextRef<'_>, _components: &RuntimeComponents, _cfg: &mut ConfigBag) -> Result<(), BoxError> {
        let failed = || context.output_or_error().and_then(|r| r.err());
        match context.response() {
            Some(answer) => {
                let status = answer.status().as_u16();
                if status >= 400 {
                    let code = answer_code(answer.headers(), answer.body().bytes());
                    if super::is_transient_answer(status, code.as_deref()) {
                        let throttled = super::is_throttling(status, code.as_deref());
                        crate::metrics::request_error(self.service, &code.unwrap_or_else(|| status.to_string()), throttled);
                    }
                }
            }
            None => match failed() {
                Some(e) if e.is_timeout_error() => crate::metrics::request_error(self.service, "Timeout", false),
                Some(e) if e.is_connector_error() => crate::metrics::request_error(self.service, "Connection", false),
                _ => {}
            },
        }
        Ok(())
    }
}

/// An error answer's code: from the headers the JSON and query protocols may set, or the body
/// (`__type` of a JSON error, `<Code>` of an XML one), without namespace or URI.
fn answer_code(headers: &aws_smithy_runtime_api::http::Headers, body: Option<&[u8]>) -> Option<String> {
    let bare = |c: &str| {
        let c = c.rsplit('#').next().unwrap_or(c);
        let c = c.split([':', ';']).next().unwrap_or(c).trim();
        (!c.is_empty()).then(|| c.to_string())
    };
    if let Some(c) = headers.get("x-amzn-query-error").or_else(|| headers.get("x-amzn-errortype")).and_then(bare) {
        return Some(c);
    }
    let body = body?;
    if body.first() == Some(&b'{') {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        return ["__type", "code", "Code"].iter().find_map(|k| v.get(k).and_then(|c| c.as_str())).and_then(bare);
    }
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = start + text[start..].find("</Code>")?;
    bare(&text[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::http::Headers;

    #[test]
    fn an_answer_s_error_code_is_read_from_its_headers_or_its_json_or_xml_body() {
        let none = Headers::new();
        let json = br#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}"#;
        assert_eq!(answer_code(&none, Some(json)).as_deref(), Some("ProvisionedThroughputExceededException"));
        let xml = b"<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Please reduce</Message></Error>";
        assert_eq!(answer_code(&none, Some(xml)).as_deref(), Some("SlowDown"));
        let mut sqs = Headers::new();
        sqs.insert("x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender");
        assert_eq!(answer_code(&sqs, Some(b"{}")).as_deref(), Some("AWS.SimpleQueueService.NonExistentQueue"));
        let mut typed = Headers::new();
        typed.insert("x-amzn-errortype", "ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/");
        assert_eq!(answer_code(&typed, None).as_deref(), Some("ThrottlingException"));
        assert_eq!(answer_code(&none, Some(b"")), None);
        assert_eq!(answer_code(&none, Some(b"<html>bad gateway</html>")), None);
    }
}
