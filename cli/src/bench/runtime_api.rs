//! A minimal Lambda Runtime API (version 2018-06-01), on loopback, for one function process:
//! `GET /2018-06-01/runtime/invocation/next` answers the next event with Lambda's headers
//! (request id, deadline, function ARN, trace id), `POST .../invocation/{id}/response` and
//! `.../invocation/{id}/error` answer it, `POST .../runtime/init/error` reports a failed init.
//! What the Lambda service serves a custom runtime, so the function's own binary runs as it does
//! on provided.al2023.

use anyhow::{Context, Result, anyhow};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// How an invocation ended.
#[derive(Debug)]
pub enum Answer {
    Response(serde_json::Value),
    /// The runtime's error: its type (Lambda-Runtime-Function-Error-Type, or the body's
    /// errorType) and body.
    Error(String, serde_json::Value),
}

struct Invocation {
    id: String,
    event: Bytes,
    deadline: SystemTime,
    answer: oneshot::Sender<Answer>,
}

struct State {
    function_arn: String,
    next: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    /// Invocations handed to the runtime and not answered yet, by request id.
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    /// Whether the runtime has asked for an event (its init is done).
    polled: std::sync::atomic::AtomicBool,
    /// What the runtime reported when its init failed.
    init_error: Mutex<Option<serde_json::Value>>,
}

/// The server, until dropped.
pub struct RuntimeApi {
    /// `host:port`, the value of AWS_LAMBDA_RUNTIME_API.
    pub address: String,
    invocations: mpsc::Sender<Invocation>,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
    sent: std::sync::atomic::AtomicU64,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Reply = hyper::Response<Full<Bytes>>;

impl RuntimeApi {
    /// Serves the API on a free loopback port for the function `function_arn`.
    pub async fn start(function_arn: &str) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.context("binding the Runtime API")?;
        let address = listener.local_addr()?.to_string();
        let (invocations, next) = mpsc::channel(1);
        let state = Arc::new(State { function_arn: function_arn.to_string(), next: tokio::sync::Mutex::new(next), waiting: Mutex::default(), polled: Default::default(), init_error: Mutex::default() });
        let serving = state.clone();
        let task = tokio::spawn(async move {
            let state = serving;
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(serve(request, &state).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(RuntimeApi { address, invocations, state, task, sent: Default::default() })
    }

    /// Hands `event` to the runtime's next `GET .../next` with a deadline `timeout` from now, and
    /// waits for its answer. (The caller watches the process: one that exits answers nothing.)
    pub async fn invoke(&self, event: &serde_json::Value, timeout: Duration) -> Result<Answer> {
        let n = self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{:08x}-0000-4000-8000-{n:012x}", std::process::id());
        let (answer, answered) = oneshot::channel();
        let invocation = Invocation { id, event: Bytes::from(event.to_string()), deadline: SystemTime::now() + timeout, answer };
        self.invocations.send(invocation).await.map_err(|_| anyhow!("the Runtime API stopped"))?;
        answered.await.context("the invocation was dropped unanswered")
    }

    /// Whether the runtime has asked for its first event: its init is done.
    pub fn polled(&self) -> bool {
        self.state.polled.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What the runtime reported at `POST /runtime/init/error`, if it did.
    pub fn init_error(&self) -> Option<serde_json::Value> {
        self.state.init_error.lock().expect("init error lock").clone()
    }
}

async fn serve(request: hyper::Request<Incoming>, state: &State) -> Reply {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let json = || serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into_owned()));
    let Some(route) = path.strip_prefix("/2018-06-01/runtime/") else {
        return reply(404, r#"{"errorMessage":"unknown path","errorType":"NotFound"}"#);
    };
    match (parts.method.as_str(), route) {
        ("GET", "invocation/next") => {
            state.polled.store(true, std::sync::atomic::Ordering::Relaxed);
            let Some(invocation) = state.next.lock().await.recv().await else {
                return reply(500, r#"{"errorMessage":"no more invocations","errorType":"ServiceException"}"#);
            };
            state.waiting.lock().expect("waiting lock").insert(invocation.id.clone(), invocation.answer);
            let deadline_ms = invocation.deadline.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
            hyper::Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .header("Lambda-Runtime-Aws-Request-Id", &invocation.id)
                .header("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string())
                .header("Lambda-Runtime-Invoked-Function-Arn", &state.function_arn)
                .header("Lambda-Runtime-Trace-Id", format!("Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0", deadline_ms / 1000, deadline_ms, deadline_ms))
                .body(Full::new(invocation.event))
                .expect("a well-formed answer")
        }
        ("POST", "init/error") => {
            *state.init_error.lock().expect("init error lock") = Some(json());
            reply(202, r#"{"status":"OK"}"#)
        }
        ("POST", route) => {
            let Some((id, kind)) = route.strip_prefix("invocation/").and_then(|r| r.rsplit_once('/')) else {
                return reply(404, r#"{"errorMessage":"unknown path","errorType":"NotFound"}"#);
            };
            let Some(tx) = state.waiting.lock().expect("waiting lock").remove(id) else {
                return reply(400, r#"{"errorMessage":"unknown or answered request id","errorType":"InvalidRequestID"}"#);
            };
            let answer = match kind {
                "response" => Answer::Response(json()),
                _ => {
                    let body = json();
                    let header = parts.headers.get("Lambda-Runtime-Function-Error-Type").and_then(|v| v.to_str().ok()).map(str::to_string);
                    let kind = header.or_else(|| body["errorType"].as_str().map(str::to_string)).unwrap_or_default();
                    Answer::Error(kind, body)
                }
            };
            let _ = tx.send(answer);
            reply(202, r#"{"status":"OK"}"#)
        }
        _ => reply(405, r#"{"errorMessage":"method not allowed","errorType":"MethodNotAllowed"}"#),
    }
}

fn reply(status: u16, body: &'static str) -> Reply {
    hyper::Response::builder().status(status).header("content-type", "application/json").body(Full::new(Bytes::from_static(body.as_bytes()))).expect("a well-formed answer")
}
