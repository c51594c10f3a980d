//! The local stack: the template's resources on an emulator (moto in server mode), and the
//! event-source runner that does for it what the Lambda service does on AWS.

pub mod archive_tiers;
pub mod charts;
pub mod defects;
pub mod deploy;
pub mod faults;
pub mod files;
pub mod http_api;
pub mod iam;
pub mod lifecycle;
pub mod metrics_log;
pub mod provision;
pub mod runner;
pub mod session;
pub mod template;
pub mod least_privilege;

pub use provision::{Stack, provision};
pub use runner::Runner;
pub use template::Template;

/// The emulators the local stack runs on. They differ from AWS, and from each other, in ways the
/// local stack fills in or the tests must know (docs/architecture.md, "Emulators").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emulator {
    /// moto in server mode, with the corrections of infra/local/moto_server.py (the default).
    Moto,
    /// LocalStack's runtime, its DynamoDB served by moto (infra/local/localstack).
    LocalStack,
}

impl Emulator {
    /// The one SLM_EMULATOR names (`moto`, the default, or `localstack`).
    pub fn configured() -> anyhow::Result<Self> {
        match std::env::var("SLM_EMULATOR").ok().as_deref() {
            None | Some("") | Some("moto") => Ok(Self::Moto),
            Some("localstack") => Ok(Self::LocalStack),
            Some(other) => anyhow::bail!("SLM_EMULATOR is moto or localstack, not {other:?}"),
        }
    }

    /// The emulator answering at `endpoint`: LocalStack answers `/_localstack/health`, moto
    /// does not. For an endpoint given by AWS_ENDPOINT_URL without SLM_EMULATOR.
    pub async fn detect(endpoint: &str) -> anyhow::Result<Self> {
        if std::env::var_os("SLM_EMULATOR").is_some() {
            return Self::configured();
        }
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<http_body_util::Empty<hyper::body::Bytes>>();
        let uri: http::Uri = format!("{}/_localstack/health", endpoint.trim_end_matches('/')).parse()?;
        let answer = tokio::time::timeout(std::time::Duration::from_secs(5), client.get(uri)).await;
        Ok(match answer {
            Ok(Ok(response)) if response.status().is_success() => Self::LocalStack,
            _ => Self::Moto,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Moto => "moto",
            Self::LocalStack => "LocalStack",
        }
    }

    /// Where the local stack starts it unless SLM_LOCAL_PORT says otherwise.
    fn default_port(self) -> u16 {
        match self {
            Self::Moto => 5140,
            Self::LocalStack => 4566,
        }
    }

    /// How a restore completes. On AWS, hours after the request, when S3 sends
    /// ObjectRestore:Completed. moto completes it when the object is next read (HeadObject or
    /// GetObject) and sends the event then; LocalStack completes it at once.
    pub fn restore_completes_on_read(self) -> bool {
        self == Self::Moto
    }
}

/// The emulator's endpoint: AWS_ENDPOINT_URL if set, else the local stack's port for the
/// configured emulator (SLM_LOCAL_PORT, or the emulator's default).
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        let default = Emulator::configured().map(Emulator::default_port).unwrap_or(5140);
        let port = std::env::var("SLM_LOCAL_PORT").unwrap_or_else(|_| default.to_string());
        format!("http://127.0.0.1:{port}")
    })
}

/// SDK configuration for the emulator: its endpoint, a fixed region and test credentials.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(provision::REGION))
        .credentials_provider(aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "slm-local"))
        .load()
        .await
}

/// SDK clients for the local stack: the emulator's gaps filled in (see [`archive_tiers`]), with
/// the interceptors `extra` gives for each service (request counters, injected faults) and the
/// time limits `timeouts` (AWS's, or [`faults::TIMEOUTS`] under injected faults).
pub fn local_clients(
    config: &aws_config::SdkConfig,
    timeouts: slm_core::adapters::Timeouts,
    extra: impl Fn(&'static str) -> Vec<aws_smithy_runtime_api::client::interceptors::SharedInterceptor>,
) -> slm_core::adapters::Clients {
    use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
    let tiers = archive_tiers::ArchiveTiers::default();
    slm_core::adapters::Clients::instrumented_with(config, timeouts, |service| {
        let mut interceptors = extra(service);
        if service == "s3" {
            interceptors.push(SharedInterceptor::new(tiers.clone()));
        }
        interceptors
    })
}

/// Starts the emulator SLM_EMULATOR names with infra/local/stack.sh (installing it on first
/// use), unless AWS_ENDPOINT_URL names one that is already running.
pub fn start_emulator() -> anyhow::Result<()> {
    if std::env::var_os("AWS_ENDPOINT_URL").is_some() {
        return Ok(());
    }
    anyhow::ensure!(emulator("start")?.success(), "starting the emulator failed");
    Ok(())
}

/// Runs the emulator's script (`install`, `start`, `stop` or `status`; see infra/local/stack.sh)
/// with its state in the data directory (see [`files`]).
pub fn emulator(command: &str) -> anyhow::Result<std::process::ExitStatus> {
    use anyhow::Context;
    let script = files::emulator_script()?;
    std::process::Command::new("bash")
        .arg(&script)
        .arg(command)
        .env("SLM_DATA_DIR", files::data_dir())
        .status()
        .with_context(|| format!("running {}", script.display()))
}

/// An API Gateway (HTTP API, IAM auth) request as the API function receives it, for calling
/// the API handler in-process with a chosen caller identity (see [`http_api`] for the API over
/// HTTP, signed).
pub fn api_request(method: &str, target: &str, body: Option<&serde_json::Value>, caller_arn: &str, account: &str, now: chrono::DateTime<chrono::Utc>) -> aws_lambda_events::apigw::ApiGatewayV2httpRequest {
    let body = body.map(|b| b.to_string().into_bytes());
    http_api::event(http_api::Request {
        method,
        target,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.as_deref(),
        iam: Some(("AKIALOCALINPROCESS", caller_arn)),
        account,
        now,
    })
    .expect("a well-formed API Gateway event")
}

/// Messages in a queue, visible or in flight.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<usize> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await?;
    let attrs = out.attributes().cloned().unwrap_or_default();
    let n = |a: A| attrs.get(&a).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    Ok(n(A::ApproximateNumberOfMessages) + n(A::ApproximateNumberOfMessagesNotVisible))
}

/// Waits until a queue is empty (nothing visible or in flight).
pub async fn wait_empty(sqs: &aws_sdk_sqs::Client, url: &str, timeout: std::time::Duration) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    loop {
        let depth = queue_depth(sqs, url).await?;
        if depth == 0 {
            return Ok(());
        }
        anyhow::ensure!(start.elapsed() < timeout, "{url} still holds {depth} messages after {timeout:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
