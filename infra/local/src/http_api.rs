//! The HTTP API as API Gateway's HTTP API with IAM authorization serves it, on loopback, and the
//! signed client that calls it (the CLI's, local or deployed alike).
//!
//! The server verifies each request's SigV4 signature (service `execute-api`) against the keys
//! the local stack issued ([`Keys`]), refuses unsigned, badly signed, expired and unknown-key
//! requests with API Gateway's 403 answers (they never reach the function, as on AWS), and passes
//! the payload-v2 event (query string, headers, base64 bodies, the caller in
//! `requestContext.authorizer.iam`) to the same handler Lambda runs.

use anyhow::{Context, Result, anyhow};
use aws_credential_types::Credentials;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use base64::Engine;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// The service name requests to API Gateway are signed for.
pub const SERVICE: &str = "execute-api";
/// API Gateway's HTTP API takes payloads of up to 10 MB.
pub const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;
/// How far a request's signing time may be from the server's clock (SigV4's 5 minutes).
pub const SKEW: Duration = Duration::from_secs(5 * 60);

/// A key the local stack issued: its secret and the caller it stands for, as API Gateway's IAM
/// authorizer presents it (`userArn`: a role session's `assumed-role` ARN, a user's ARN; given
/// a role's ARN, the local stack presents that).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    pub secret: String,
    pub principal: String,
}

/// The keys the local stack issued, by access key id (as IAM would for roles and users).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keys {
    pub keys: BTreeMap<String, Key>,
}

impl Keys {
    /// The principal's key, issuing one if it has none: (access key id, secret).
    pub fn issue(&mut self, principal: &str) -> (String, String) {
        if let Some(found) = self.of(principal) {
            return found;
        }
        let hex = |n: usize| uuid::Uuid::new_v4().simple().to_string().to_uppercase()[..n].to_string();
        let id = format!("AKIALOCAL{}", hex(11));
        let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
        self.keys.insert(id.clone(), Key { secret: secret.clone(), principal: principal.to_string() });
        (id, secret)
    }

    /// The principal's key, if it has one.
    pub fn of(&self, principal: &str) -> Option<(String, String)> {
        self.keys.iter().find(|(_, k)| k.principal == principal).map(|(id, k)| (id.clone(), k.secret.clone()))
    }

    pub fn load(path: &Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).with_context(|| format!("reading {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Keys::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Saves the keys where only their owner may read them (they hold secrets).
    pub fn save(&self, path: &Path) -> Result<()> {
        use std::io::Write;
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).with_context(|| format!("writing {}", path.display()))?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(serde_json::to_string_pretty(self)?.as_bytes()).with_context(|| format!("writing {}", path.display()))
    }
}

/// Why API Gateway refused a request before it reached the function: its 403 answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No Authorization header (or not SigV4).
    Unsigned,
    /// An Authorization header that does not parse, or a scope for another region or service.
    Malformed(String),
    /// A key nobody issued.
    UnknownKey,
    /// Signed more than [`SKEW`] away from now.
    Expired(String),
    /// The signature does not match the request.
    BadSignature,
}

impl Refusal {
    /// API Gateway's message for it.
    pub fn message(&self) -> String {
        match self {
            Refusal::Unsigned => "Forbidden".into(),
            Refusal::Malformed(why) => format!("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header, and a valid SigV4 scope: {why}"),
            Refusal::UnknownKey => "The security token included in the request is invalid.".into(),
            Refusal::Expired(when) => format!("Signature expired: {when} is now earlier or later than the server's time by more than 5 minutes."),
            Refusal::BadSignature => {
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.".into()
            }
        }
    }
}

/// The parts of a SigV4 Authorization header.
struct Authorization {
    key_id: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
}

fn parse_authorization(value: &str) -> Result<Authorization, Refusal> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ").ok_or(Refusal::Unsigned)?;
    let mut fields = BTreeMap::new();
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or_else(|| Refusal::Malformed(format!("{part:?}")))?;
        fields.insert(k.to_string(), v.to_string());
    }
    let field = |k: &str| fields.get(k).cloned().ok_or_else(|| Refusal::Malformed(format!("no {k}")));
    let credential = field("Credential")?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(Refusal::Malformed(format!("credential scope {credential:?}")));
    };
    Ok(Authorization {
        key_id: key_id.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers: field("SignedHeaders")?.split(';').map(str::to_string).collect(),
        signature: field("Signature")?,
    })
}

/// Checks a request's SigV4 signature as API Gateway does; the caller's (key id, principal).
pub fn verify(keys: &Keys, region: &str, method: &str, uri: &str, headers: &http::HeaderMap, body: &[u8], now: SystemTime) -> Result<(String, String), Refusal> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let auth = parse_authorization(header("authorization").ok_or(Refusal::Unsigned)?)?;
    if auth.region != region || auth.service != SERVICE {
        return Err(Refusal::Malformed(format!("scope {}/{} is not {region}/{SERVICE}", auth.region, auth.service)));
    }
    let stamp = header("x-amz-date").ok_or_else(|| Refusal::Malformed("no X-Amz-Date".into()))?;
    let signed_at = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").map_err(|_| Refusal::Malformed(format!("X-Amz-Date {stamp:?}")))?.and_utc();
    if !stamp.starts_with(&auth.date) {
        return Err(Refusal::Malformed(format!("X-Amz-Date {stamp} is not of the scope's day {}", auth.date)));
    }
    let signed_at: SystemTime = signed_at.into();
    let skew = now.duration_since(signed_at).or_else(|e| Ok::<_, ()>(e.duration())).unwrap_or_default();
    if skew > SKEW {
        return Err(Refusal::Expired(stamp.to_string()));
    }
    let key = keys.keys.get(&auth.key_id).ok_or(Refusal::UnknownKey)?;
    let signed: Vec<(&str, &str)> = auth
        .signed_headers
        .iter()
        .map(|name| Ok((name.as_str(), header(name).ok_or(Refusal::BadSignature)?)))
        .collect::<Result<_, Refusal>>()?;
    let credentials = Credentials::new(&auth.key_id, &key.secret, None, None, "slm-local");
    let (_, expected) = sigv4(&credentials, region, method, uri, signed.into_iter(), body, signed_at).map_err(|_| Refusal::BadSignature)?;
    match expected == auth.signature {
        true => Ok((auth.key_id, key.principal.clone())),
        false => Err(Refusal::BadSignature),
    }
}

/// SigV4 for a request, by the SDK's signer: the instructions that sign it (the client's) and
/// the signature (what the server compares).
#[allow(clippy::too_many_arguments)]
fn sigv4<'a>(
    credentials: &Credentials,
    region: &str,
    method: &'a str,
    uri: &'a str,
    headers: impl Iterator<Item = (&'a str, &'a str)>,
    body: &'a [u8],
    at: SystemTime,
) -> Result<(aws_sigv4::http_request::SigningInstructions, String)> {
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder().identity(&identity).region(region).name(SERVICE).time(at).settings(SigningSettings::default()).build()?.into();
    let request = SignableRequest::new(method, uri, headers, SignableBody::Bytes(body))?;
    Ok(sign(request, &params)?.into_parts())
}

/// Is a body of this content type text, which API Gateway passes as it is (else base64)?
fn is_text(content_type: Option<&str>) -> bool {
    let essence = content_type.unwrap_or_default().split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence.starts_with("text/") || matches!(essence.as_str(), "application/json" | "application/xml" | "application/javascript") || essence.ends_with("+json")
}

/// The payload-v2 event API Gateway's HTTP API sends the function for a request.
pub struct Request<'a> {
    pub method: &'a str,
    /// The path and query string, as sent.
    pub target: &'a str,
    /// Header names and values (names lowercased and repeated values joined, as API Gateway does).
    pub headers: Vec<(String, String)>,
    pub body: Option<&'a [u8]>,
    /// The caller's (access key id, caller ARN), from the IAM authorizer.
    pub iam: Option<(&'a str, &'a str)>,
    pub account: &'a str,
    pub now: chrono::DateTime<chrono::Utc>,
}

pub fn event(r: Request<'_>) -> Result<ApiGatewayV2httpRequest> {
    let (path, query) = r.target.split_once('?').unwrap_or((r.target, ""));
    // API Gateway decodes the query's parameters and joins repeated ones with commas.
    let mut parameters: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in query.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, ""))) {
        let decode = |s: &str| urlencoding::decode(&s.replace('+', " ")).map(|c| c.into_owned()).map_err(|e| anyhow!("query {s:?}: {e}"));
        let (k, v) = (decode(k)?, decode(v)?);
        parameters.entry(k).and_modify(|e| *e = format!("{e},{v}")).or_insert(v);
    }
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &r.headers {
        headers.entry(k.to_ascii_lowercase()).and_modify(|e| *e = format!("{e},{v}")).or_insert_with(|| v.clone());
    }
    let text = is_text(headers.get("content-type").map(String::as_str));
    let (body, base64) = match r.body {
        None => (None, false),
        Some(b) if text => (Some(String::from_utf8(b.to_vec()).map_err(|_| anyhow!("a text body that is not UTF-8"))?), false),
        Some(b) => (Some(base64::engine::general_purpose::STANDARD.encode(b)), true),
    };
    let iam = r.iam.map(|(key, arn)| serde_json::json!({"accessKey": key, "accountId": r.account, "callerId": key, "userArn": arn, "userId": key}));
    let event = serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "queryStringParameters": parameters,
        "headers": headers,
        "requestContext": {
            "accountId": r.account,
            "apiId": "local",
            "authorizer": iam.map(|i| serde_json::json!({"iam": i})),
            "domainName": headers.get("host").cloned().unwrap_or_else(|| "localhost".into()),
            "http": {"method": r.method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": headers.get("user-agent").cloned().unwrap_or_default()},
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": r.now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": r.now.timestamp_millis()
        },
        "body": body,
        "isBase64Encoded": base64
    });
    Ok(serde_json::from_value(event)?)
}

/// The local HTTP API: a server on loopback until dropped.
pub struct ApiServer {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Answer = hyper::Response<Full<Bytes>>;

fn json_answer(status: u16, body: serde_json::Value, headers: &[(&str, &str)]) -> Answer {
    let mut response = hyper::Response::builder().status(status).header("content-type", "application/json");
    for (k, v) in headers {
        response = response.header(*k, *v);
    }
    response.body(Full::new(Bytes::from(body.to_string()))).expect("a well-formed answer")
}

/// Serves the API on `addr` (port 0: any free one) with `api`, for the holders of `keys`.
pub async fn serve(addr: std::net::SocketAddr, api: Arc<slm_api::Handler>, keys: Arc<RwLock<Keys>>, region: &str, account: &str) -> Result<ApiServer> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding the local API to {addr}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    let (region, account) = (region.to_string(), account.to_string());
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (api, keys, region, account) = (api.clone(), keys.clone(), region.clone(), account.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let (api, keys, region, account) = (api.clone(), keys.clone(), region.clone(), account.clone());
                    async move { Ok::<_, std::convert::Infallible>(answer(request, &api, &keys, &region, &account).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(ApiServer { url, task })
}

async fn answer(request: hyper::Request<Incoming>, api: &slm_api::Handler, keys: &RwLock<Keys>, region: &str, account: &str) -> Answer {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_PAYLOAD_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return json_answer(413, serde_json::json!({"message": "Request Entity Too Large"}), &[]),
    };
    let target = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let host = parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_string();
    let method = parts.method.as_str();
    let verified = verify(&keys.read().expect("keys lock"), region, method, &format!("http://{host}{target}"), &parts.headers, &body, SystemTime::now());
    let (key_id, principal) = match verified {
        Ok(found) => found,
        Err(refusal) => {
            tracing::warn!(%method, %target, ?refusal, "local API: refused before the function, as API Gateway would");
            return json_answer(403, serde_json::json!({"message": refusal.message()}), &[("x-amzn-errortype", "ForbiddenException")]);
        }
    };
    let headers: Vec<(String, String)> = parts.headers.iter().filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))).collect();
    let event = event(Request {
        method,
        target: &target,
        headers,
        body: (!body.is_empty()).then_some(&body[..]),
        iam: Some((&key_id, &principal)),
        account,
        now: chrono::Utc::now(),
    });
    let event = match event {
        Ok(e) => e,
        Err(e) => return json_answer(400, serde_json::json!({"message": format!("Bad Request: {e}")}), &[]),
    };
    let response = Box::pin(api.handle(event)).await;
    let body = match response.body {
        Some(aws_lambda_events::encodings::Body::Text(t)) => Bytes::from(t),
        Some(aws_lambda_events::encodings::Body::Binary(b)) => Bytes::from(b),
        _ => Bytes::new(),
    };
    let mut answer = hyper::Response::builder().status(u16::try_from(response.status_code).unwrap_or(500));
    for (k, v) in response.headers.iter() {
        answer = answer.header(k, v);
    }
    answer.body(Full::new(body)).unwrap_or_else(|_| json_answer(500, serde_json::json!({"message": "Internal Server Error"}), &[]))
}

/// A client of the API, signing each request with SigV4 (service `execute-api`) with the
/// credentials it holds: the AWS credential chain's for a deployed stack, a local key for the
/// local stack.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    credentials: Credentials,
    region: String,
    http: hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, Full<Bytes>>,
}

/// A refusal or failure the API answered (4xx, 5xx), with its error and message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {error}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub error: String,
    pub message: String,
}

/// An answer of the API: its status and body.
#[derive(Debug, Clone)]
pub struct Answered {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answered {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

impl ApiClient {
    pub fn new(base: &str, credentials: Credentials, region: &str) -> Result<Self> {
        // The system's certificate roots, or Mozilla's where the system has none.
        let connector = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
            Ok(b) => b.https_or_http().enable_http1().build(),
            Err(_) => hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots().https_or_http().enable_http1().build(),
        };
        let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
        Ok(ApiClient { base: base.trim_end_matches('/').to_string(), credentials, region: region.to_string(), http })
    }

    /// A client with a local key (access key id, secret).
    pub fn local(base: &str, key: (String, String), region: &str) -> Result<Self> {
        Self::new(base, Credentials::new(key.0, key.1, None, None, "slm-local"), region)
    }

    /// The same client (its connections too) signing with another local key.
    pub fn with_key(&self, key: (String, String)) -> Self {
        ApiClient { credentials: Credentials::new(key.0, key.1, None, None, "slm-local"), ..self.clone() }
    }

    /// Signs a request as at `at` with the client's credentials (SigV4, service `execute-api`).
    pub fn sign(&self, request: &mut http::Request<Vec<u8>>, at: SystemTime) -> Result<()> {
        let (method, uri) = (request.method().as_str().to_string(), request.uri().to_string());
        let headers = request.headers().iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
        let (instructions, _) = sigv4(&self.credentials, &self.region, &method, &uri, headers, request.body(), at)?;
        instructions.apply_to_request_http1x(request);
        Ok(())
    }

    /// Sends a request signed at `at` (now, but for tests of expired signatures).
    pub async fn send_at(&self, method: &str, target: &str, body: Option<(&str, Vec<u8>)>, at: SystemTime) -> Result<Answered> {
        let (content_type, bytes) = body.unwrap_or(("application/json", Vec::new()));
        let mut request = http::Request::builder().method(method).uri(format!("{}{target}", self.base)).header("content-type", content_type).body(bytes)?;
        self.sign(&mut request, at)?;
        self.send_signed(request).await
    }

    /// Sends a request as it is (signed or not).
    pub async fn send_signed(&self, request: http::Request<Vec<u8>>) -> Result<Answered> {
        let request = request.map(|b| Full::new(Bytes::from(b)));
        let what = format!("{} {}", request.method(), request.uri());
        let response = self.http.request(request).await.with_context(|| format!("calling {what}"))?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.with_context(|| format!("reading the answer of {what}"))?.to_bytes().to_vec();
        Ok(Answered { status, body })
    }

    pub async fn send(&self, method: &str, target: &str, body: Option<(&str, Vec<u8>)>) -> Result<Answered> {
        self.send_at(method, target, body, SystemTime::now()).await
    }

    /// Calls the API with a JSON body; its status and JSON answer.
    pub async fn call(&self, method: &str, target: &str, body: Option<&serde_json::Value>) -> Result<(u16, serde_json::Value)> {
        let answered = self.send(method, target, body.map(|b| ("application/json", b.to_string().into_bytes()))).await?;
        Ok((answered.status, answered.json()))
    }

    /// Calls the API and fails on a 4xx or 5xx answer with an [`ApiError`].
    pub async fn call_ok(&self, method: &str, target: &str, body: Option<&serde_json::Value>) -> Result<serde_json::Value> {
        let (status, value) = self.call(method, target, body).await?;
        if status >= 400 {
            let message = value["message"].as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
            let error = value["error"].as_str().unwrap_or(if status == 403 { "Forbidden" } else { "Error" }).to_string();
            return Err(ApiError { status, error, message }.into());
        }
        Ok(value)
    }

    pub fn base(&self) -> &str {
        &self.base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (Keys, (String, String)) {
        let mut keys = Keys::default();
        let key = keys.issue("arn:aws:iam::123456789012:role/post-production-app");
        (keys, key)
    }

    /// A request signed by the SDK's signer as the client signs it, as the server receives it.
    fn signed(key: &(String, String), method: &str, uri: &str, body: &[u8], at: SystemTime) -> http::HeaderMap {
        let mut request = http::Request::builder().method(method).uri(uri).header("content-type", "application/json").body(body.to_vec()).unwrap();
        ApiClient::local("http://unused", key.clone(), "us-east-1").unwrap().sign(&mut request, at).unwrap();
        let mut headers = request.headers().clone();
        headers.insert("host", http::Uri::try_from(uri).unwrap().authority().unwrap().as_str().parse().unwrap());
        headers
    }

    #[test]
    fn a_request_signed_with_an_issued_key_is_its_principals() {
        let (keys, key) = keys();
        let uri = "http://127.0.0.1:5150/assets/a-1/tasks?dry=1";
        let headers = signed(&key, "POST", uri, b"{}", SystemTime::now());
        let (id, principal) = verify(&keys, "us-east-1", "POST", uri, &headers, b"{}", SystemTime::now()).unwrap();
        assert_eq!((id, principal.as_str()), (key.0, "arn:aws:iam::123456789012:role/post-production-app"));
    }

    #[test]
    fn unsigned_tampered_expired_and_unknown_requests_are_refused_as_api_gateway_does() {
        let (keys, key) = keys();
        let uri = "http://127.0.0.1:5150/policies";
        let now = SystemTime::now();
        let check = |headers: &http::HeaderMap, method: &str, target: &str, body: &[u8]| verify(&keys, "us-east-1", method, target, headers, body, now);
        let good = signed(&key, "POST", uri, b"{\"a\":1}", now);
        assert!(check(&good, "POST", uri, b"{\"a\":1}").is_ok());
        assert_eq!(check(&http::HeaderMap::new(), "POST", uri, b""), Err(Refusal::Unsigned));
        assert_eq!(check(&good, "POST", uri, b"{\"a\":2}"), Err(Refusal::BadSignature), "another body");
        assert_eq!(check(&good, "PUT", uri, b"{\"a\":1}"), Err(Refusal::BadSignature), "another method");
        assert_eq!(check(&good, "POST", "http://127.0.0.1:5150/holds", b"{\"a\":1}"), Err(Refusal::BadSignature), "another path");
        let old = signed(&key, "POST", uri, b"{}", now - Duration::from_secs(6 * 60));
        assert!(matches!(check(&old, "POST", uri, b"{}"), Err(Refusal::Expired(_))));
        let stranger = signed(&("AKIALOCALNOBODY0000".into(), "secret".into()), "POST", uri, b"{}", now);
        assert_eq!(check(&stranger, "POST", uri, b"{}"), Err(Refusal::UnknownKey));
        let forged = signed(&(key.0.clone(), "not-the-secret".into()), "POST", uri, b"{}", now);
        assert_eq!(check(&forged, "POST", uri, b"{}"), Err(Refusal::BadSignature));
        let mut other_region = good.clone();
        let auth = other_region["authorization"].to_str().unwrap().replace("/us-east-1/", "/eu-west-1/");
        other_region.insert("authorization", auth.parse().unwrap());
        assert!(matches!(check(&other_region, "POST", uri, b"{\"a\":1}"), Err(Refusal::Malformed(_))));
        for refusal in [Refusal::Unsigned, Refusal::UnknownKey, Refusal::BadSignature, Refusal::Expired("x".into())] {
            assert!(!refusal.message().is_empty());
        }
    }

    #[test]
    fn saved_keys_are_readable_by_their_owner_only_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let (keys, _) = keys();
        let path = std::env::temp_dir().join(format!("slm-keys-{}.json", uuid::Uuid::new_v4().simple()));
        keys.save(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(Keys::load(&path).unwrap(), keys);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(Keys::load(&path).unwrap(), Keys::default(), "no file: no keys");
    }

    #[test]
    fn the_event_decodes_the_query_and_base64_encodes_a_binary_body() {
        let now = chrono::Utc::now();
        let event = |content_type: &str, body: &[u8]| {
            event(Request {
                method: "POST",
                target: "/backfills?prefix=show%2Fcam+1%2F&tag=a&tag=b",
                headers: vec![("Content-Type".into(), content_type.into()), ("X-Thing".into(), "1".into()), ("x-thing".into(), "2".into())],
                body: Some(body),
                iam: Some(("AKIALOCALX", "arn:aws:sts::123456789012:assumed-role/app/slm-local")),
                account: "123456789012",
                now,
            })
            .unwrap()
        };
        let text = event("application/json", b"{\"a\":1}");
        assert_eq!(text.query_string_parameters.first("prefix"), Some("show/cam 1/"));
        assert_eq!(text.query_string_parameters.all("tag"), Some(vec!["a", "b"]), "repeated, joined with a comma as API Gateway does");
        assert_eq!(text.headers.get("x-thing").and_then(|v| v.to_str().ok()), Some("1,2"));
        assert_eq!((text.body.as_deref(), text.is_base64_encoded), (Some("{\"a\":1}"), false));
        let binary = event("application/octet-stream", &[0, 159, 146, 150]);
        assert_eq!((binary.body.as_deref(), binary.is_base64_encoded), (Some("AJ+Slg=="), true));
        let iam = text.request_context.authorizer.and_then(|a| a.iam).unwrap();
        assert_eq!(iam.user_arn.as_deref(), Some("arn:aws:sts::123456789012:assumed-role/app/slm-local"));
    }
}
