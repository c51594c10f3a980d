//! The API as the CLI calls it: over HTTP, signed with SigV4, one code path for a deployed stack
//! (`--api-url`, or `--stack` and its ApiUrl output; credentials from the AWS chain) and for the
//! local stack (its API served in-process on loopback as API Gateway would, signed with the key
//! the local stack issued the `--as` principal).

use crate::local::{Saved, load};
use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;
use slm_local::http_api::{ApiClient, ApiServer, Keys};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// Where the CLI's calls go, from its global options (by default, the local stack).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Target {
    /// The deployed API's URL (the stack's ApiUrl output). Without it and without --stack, the
    /// CLI calls the local stack.
    #[arg(long, global = true, env = "SLM_API_URL")]
    pub api_url: Option<String>,
    /// A deployed stack's name: its ApiUrl output is read from CloudFormation.
    #[arg(long, global = true, env = "SLM_STACK")]
    pub stack: Option<String>,
    /// The AWS profile whose credentials sign the calls to a deployed stack (else the standard
    /// chain: environment, profiles, SSO, credential_process, instance roles).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// The deployed stack's region (else the profile's or AWS_REGION).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// The local stack only: the IAM principal the CLI calls as, with the key the local stack
    /// issued it (`slm local credentials`); by default the local stack's first administrator.
    #[arg(long = "as", global = true, env = "SLM_AS")]
    pub caller: Option<String>,
}

impl Target {
    pub fn is_local(&self) -> bool {
        self.api_url.is_none() && self.stack.is_none()
    }

    /// The AWS configuration for a deployed stack: the standard chain, `--profile`, `--region`.
    pub async fn aws_config(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(p) = &self.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &self.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        loader.load().await
    }
}

/// The local stack's keys: the administrator's from `slm local up`, the applications' from
/// `slm local credentials`.
pub fn keys_path() -> PathBuf {
    slm_local::files::data_dir().join("credentials.json")
}

/// A connection to the API.
pub struct Api {
    client: ApiClient,
    local: Option<Saved>,
    /// The local stack's API, served while the command runs.
    _server: Option<ApiServer>,
}

impl Api {
    pub async fn connect(target: &Target) -> Result<Api> {
        if target.is_local() {
            return Self::local(target.caller.as_deref().unwrap_or(crate::local::LOCAL_ADMIN)).await;
        }
        if let Some(caller) = &target.caller {
            bail!("--as {caller} is for the local stack only: a deployed stack's calls are signed with your AWS credentials (--profile)");
        }
        let config = target.aws_config().await;
        let region = config.region().map(|r| r.to_string()).ok_or_else(|| anyhow!("no region for the deployed stack: pass --region or set AWS_REGION"))?;
        let url = match (&target.api_url, &target.stack) {
            (Some(url), _) => url.clone(),
            (None, Some(stack)) => stack_api_url(&config, stack).await?,
            (None, None) => unreachable!("the local stack is handled above"),
        };
        use aws_credential_types::provider::ProvideCredentials;
        let provider = config.credentials_provider().ok_or_else(|| anyhow!("no AWS credentials: configure a profile, SSO or the environment"))?;
        let credentials = provider.provide_credentials().await.context("reading AWS credentials")?;
        Ok(Api { client: ApiClient::new(&url, credentials, &region)?, local: None, _server: None })
    }

    async fn local(caller: &str) -> Result<Api> {
        let saved = load()?;
        let keys = Keys::load(&keys_path())?;
        let key = keys
            .of(caller)
            .ok_or_else(|| anyhow!("the local stack issued no key to {caller}: run `slm local credentials --principal {caller}` (or `slm local up` for the administrator)"))?;
        let clients = crate::local::clients(&saved.stack.endpoint).await;
        let config = slm_local::runner::function_config(saved.stack.function("slm-api")?, &Default::default())?;
        let handler = Arc::new(slm_api::Handler::new(&clients, config));
        let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let server = slm_local::http_api::serve(loopback, handler, Arc::new(RwLock::new(keys)), slm_local::provision::REGION, &saved.stack.account).await?;
        let client = ApiClient::local(&server.url, key, slm_local::provision::REGION)?;
        Ok(Api { client, local: Some(saved), _server: Some(server) })
    }

    /// Calls the API; a refusal is an error carrying the API's answer.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        self.client.call_ok(method, path, body.as_ref()).await
    }

    /// The local stack, for what only it has (its runner, its bucket).
    pub fn local_stack(&self, what: &str) -> Result<&Saved> {
        self.local.as_ref().ok_or_else(|| anyhow!("{what} is for the local stack only"))
    }

    /// The media bucket: the one given, or the local stack's.
    pub fn bucket(&self, given: Option<String>) -> Result<String> {
        match (given, &self.local) {
            (Some(b), _) => Ok(b),
            (None, Some(saved)) => Ok(saved.bucket.clone()),
            (None, None) => bail!("name the media bucket (--bucket) when calling a deployed stack"),
        }
    }
}

/// The ApiUrl output of a deployed stack.
async fn stack_api_url(config: &aws_config::SdkConfig, stack: &str) -> Result<String> {
    let cfn = aws_sdk_cloudformation::Client::new(config);
    let out = cfn.describe_stacks().stack_name(stack).send().await.with_context(|| format!("reading stack {stack} from CloudFormation"))?;
    let outputs = out.stacks().first().map(|s| s.outputs()).unwrap_or_default();
    outputs
        .iter()
        .find(|o| o.output_key() == Some("ApiUrl"))
        .and_then(|o| o.output_value())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("stack {stack} has no ApiUrl output"))
}
