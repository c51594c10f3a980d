//! SDK clients, built once per process from the shared AWS configuration. Endpoints come from
//! AWS_ENDPOINT_URL (and its per-service variants), so the same code runs against AWS or an emulator.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub sns: aws_sdk_sns::Client,
}

impl Clients {
    /// Loads the AWS configuration from the environment (region, credentials, endpoints).
    pub async fn from_env() -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(&config, None)
    }

    /// Builds every client from one configuration; with a counter, every request attempt is counted.
    pub fn new(config: &aws_config::SdkConfig, counter: Option<&RequestCounter>) -> Self {
        macro_rules! client {
            ($sdk:ident, $name:literal, $extra:expr) => {{
                let mut b = $sdk::config::Builder::from(config);
                $extra(&mut b);
                if let Some(c) = counter {
                    b = b.interceptor(c.for_service($name));
                }
                $sdk::Client::from_conf(b.build())
            }};
        }
        Clients {
            // Path-style addressing: emulators on a loopback port have no bucket subdomains.
            s3: client!(aws_sdk_s3, "s3", |b: &mut aws_sdk_s3::config::Builder| {
                b.set_force_path_style(Some(true));
            }),
            dynamodb: client!(aws_sdk_dynamodb, "dynamodb", |_b: &mut aws_sdk_dynamodb::config::Builder| {}),
            sqs: client!(aws_sdk_sqs, "sqs", |_b: &mut aws_sdk_sqs::config::Builder| {}),
            sfn: client!(aws_sdk_sfn, "states", |_b: &mut aws_sdk_sfn::config::Builder| {}),
            sns: client!(aws_sdk_sns, "sns", |_b: &mut aws_sdk_sns::config::Builder| {}),
        }
    }
}

/// Counts request attempts per service and operation, for benchmarks (requests per object).
#[derive(Clone, Debug, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<String, Arc<AtomicU64>>>>,
}

impl RequestCounter {
    fn for_service(&self, service: &'static str) -> CountingInterceptor {
        CountingInterceptor { service, counter: self.clone() }
    }

    fn bump(&self, key: String) {
        let slot = self.counts.lock().expect("counter lock").entry(key).or_default().clone();
        slot.fetch_add(1, Ordering::Relaxed);
    }

    /// "service:Operation" -> attempts so far.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        let counts = self.counts.lock().expect("counter lock");
        counts.iter().map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed))).collect()
    }

    pub fn reset(&self) {
        self.counts.lock().expect("counter lock").clear();
    }
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
        let operation = cfg
            .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .map(|m| m.name().to_string())
            .unwrap_or_else(|| "unknown".to_string());
        self.counter.bump(format!("{}:{}", self.service, operation));
        Ok(())
    }
}
