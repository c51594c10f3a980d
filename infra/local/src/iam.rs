//! The IAM each call needs, checked against what the code really calls (the two-sided check).
//!
//! The emulator enforces no IAM, so a missing grant only shows on AWS. Here, every request a
//! function's SDK clients make on the local stack is recorded with the resource it names, by
//! the function's logical id ([`UsageRecorder`], one interceptor per client); [`needs`] maps
//! each recorded request to the IAM actions and resources it needs (the table is in that one
//! function); [`granted`] reads what template.yaml's roles grant each function and the state
//! machine (whose calls come from its ASL definition, [`state_machine_uses`]; Lambda's own calls
//! for the SQS event sources from the functions' events, [`event_source_uses`]); and [`compare`] fails on
//! any use that is not granted (action and resource) and on any grant nothing uses, but for the
//! few deliberate [`EXCEPTIONS`].
//!
//! Resources are named by their logical ids, as the template names them: `table/AssetsTable`,
//! `table/FilesTable/index/ByLocation`, `queue/ControlQueue`, `stateMachine/TaskStateMachine`,
//! `topic/EventsTopic`, `bucket/MediaBucketNames` and `object/MediaBucketNames` (the media
//! buckets and their objects), `key/MediaKmsKeyArns` (the media buckets' KMS keys).

use crate::provision::Resolve;
use crate::template::{Template, get, getatt_target, intrinsic, list, statement};
use crate::least_privilege::MEDIA_ARN_PREFIX;
use crate::Stack;
use anyhow::{Context, Result, anyhow, bail};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The media buckets, as the template names them (the `MediaBucketNames` parameter).
pub const MEDIA_BUCKETS: &str = "MediaBucketNames";
/// The media buckets' customer-managed KMS keys (the `MediaKmsKeyArns` parameter).
pub const MEDIA_KEYS: &str = "MediaKmsKeyArns";

/// One IAM permission a principal used: an action on a resource, and the call that needed it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Use {
    /// The logical id of the function or state machine whose role makes the call.
    pub principal: String,
    pub action: String,
    pub resource: String,
    /// The call, `service:Operation` (`asl:<State>` for the state machine's tasks).
    pub operation: String,
}

/// A call a principal made, as recorded: what its request names. The IAM it needs is worked
/// out by the check ([`needs`]), so the records stay valid when the table changes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Call {
    /// The logical id of the function whose clients made the call.
    pub principal: String,
    pub request: Request,
}

impl Call {
    /// The permissions the call needs.
    pub fn uses(&self) -> Vec<Use> {
        let operation = format!("{}:{}", self.request.service, self.request.operation);
        needs(&self.request).into_iter().map(|(action, resource)| Use { principal: self.principal.clone(), action, resource, operation: operation.clone() }).collect()
    }
}

/// What a request names, in the template's terms: the facts [`needs`] maps to IAM.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Request {
    /// The client's signing name: s3, dynamodb, sqs, states, sns.
    pub service: String,
    pub operation: String,
    /// DynamoDB: the tables or indexes named (`table/X`, `table/X/index/Y`), each with the
    /// action a transaction's item needs (`PutItem` for a Put, ...) or None for the operation's own.
    pub tables: Vec<(Option<String>, String)>,
    /// SQS, Step Functions, SNS: the queue, state machine or topic (`queue/X`, ...).
    pub target: Option<String>,
    /// S3: the bucket (`MediaBucketNames` for a media bucket, else its name).
    pub bucket: Option<String>,
    /// S3: the request names an object (a key follows the bucket).
    pub key: bool,
    /// S3: the request names a version (`versionId`).
    pub version: bool,
    /// S3: a copy's source bucket and whether it names a version.
    pub copy_source: Option<(String, bool)>,
    /// S3: the request writes tags (`x-amz-tagging`, or a copy's tagging directive).
    pub tagging: bool,
    /// S3 DeleteObjects: whether its objects name versions (each kind once: with, without).
    pub deletes: Vec<bool>,
}

/// The IAM (action, resource) pairs a request needs. One table for every call slm makes; S3's
/// from "Required permissions for Amazon S3 API operations" (S3 User Guide).
pub fn needs(r: &Request) -> Vec<(String, String)> {
    let pair = |a: &str, res: &str| (a.to_string(), res.to_string());
    let mut out = Vec::new();
    let target = r.target.clone().unwrap_or_else(|| "*".to_string());
    match r.service.as_str() {
        "dynamodb" => {
            // A transaction's items are authorized each by its own action (a Put needs
            // dynamodb:PutItem on its table), a batch by the batch's action, per table.
            let own = match r.operation.as_str() {
                "TransactGetItems" => "GetItem",
                op => op,
            };
            for (item, table) in &r.tables {
                out.push(pair(&format!("dynamodb:{}", item.as_deref().unwrap_or(own)), table));
            }
        }
        "s3" => {
            let bucket = r.bucket.clone().unwrap_or_else(|| "*".to_string());
            let bucket_res = format!("bucket/{bucket}");
            let object = format!("object/{bucket}");
            let versioned = |plain: &str, version: &str, v: bool| if v { version.to_string() } else { plain.to_string() };
            // Object content in a media bucket may be encrypted with a media key (the bucket
            // owner's choice): reading it needs kms:Decrypt, writing it kms:GenerateDataKey.
            let key = |b: &str| (b == MEDIA_BUCKETS).then(|| format!("key/{MEDIA_KEYS}"));
            let source = |out: &mut Vec<(String, String)>| {
                let (b, v) = r.copy_source.clone().unwrap_or((bucket.clone(), false));
                out.push(pair(&versioned("s3:GetObject", "s3:GetObjectVersion", v), &format!("object/{b}")));
                out.extend(key(&b).map(|k| pair("kms:Decrypt", &k)));
            };
            match r.operation.as_str() {
                // Without s3:ListBucket, a missing key answers 403, not 404: every read of an
                // object that may be gone needs it to tell "gone" from "denied".
                "HeadObject" => {
                    out.push(pair(&versioned("s3:GetObject", "s3:GetObjectVersion", r.version), &object));
                    out.push(pair("s3:ListBucket", &bucket_res));
                }
                "GetObject" => {
                    out.push(pair(&versioned("s3:GetObject", "s3:GetObjectVersion", r.version), &object));
                    out.push(pair("s3:ListBucket", &bucket_res));
                    out.extend(key(&bucket).map(|k| pair("kms:Decrypt", &k)));
                }
                "CopyObject" => {
                    source(&mut out);
                    out.push(pair("s3:PutObject", &object));
                    if r.tagging {
                        out.push(pair("s3:PutObjectTagging", &object));
                    }
                    out.extend(key(&bucket).map(|k| pair("kms:GenerateDataKey", &k)));
                }
                "UploadPartCopy" => {
                    source(&mut out);
                    out.push(pair("s3:PutObject", &object));
                    out.extend(key(&bucket).map(|k| pair("kms:GenerateDataKey", &k)));
                }
                "CreateMultipartUpload" | "PutObject" => {
                    out.push(pair("s3:PutObject", &object));
                    if r.tagging {
                        out.push(pair("s3:PutObjectTagging", &object));
                    }
                    out.extend(key(&bucket).map(|k| pair("kms:GenerateDataKey", &k)));
                }
                "CompleteMultipartUpload" => {
                    out.push(pair("s3:PutObject", &object));
                    out.extend(key(&bucket).map(|k| pair("kms:Decrypt", &k)));
                }
                "UploadPart" => {
                    out.push(pair("s3:PutObject", &object));
                    out.extend(key(&bucket).map(|k| pair("kms:GenerateDataKey", &k)));
                }
                "AbortMultipartUpload" => out.push(pair("s3:AbortMultipartUpload", &object)),
                "ListParts" => out.push(pair("s3:ListMultipartUploadParts", &object)),
                "GetBucketLifecycleConfiguration" => out.push(pair("s3:GetLifecycleConfiguration", &bucket_res)),
                "PutBucketLifecycleConfiguration" => out.push(pair("s3:PutLifecycleConfiguration", &bucket_res)),
                "GetObjectTagging" => out.push(pair(&versioned("s3:GetObjectTagging", "s3:GetObjectVersionTagging", r.version), &object)),
                "PutObjectTagging" => out.push(pair(&versioned("s3:PutObjectTagging", "s3:PutObjectVersionTagging", r.version), &object)),
                "RestoreObject" => out.push(pair("s3:RestoreObject", &object)),
                "DeleteObject" => out.push(pair(&versioned("s3:DeleteObject", "s3:DeleteObjectVersion", r.version), &object)),
                "DeleteObjects" => {
                    for v in &r.deletes {
                        out.push(pair(&versioned("s3:DeleteObject", "s3:DeleteObjectVersion", *v), &object));
                    }
                }
                "ListObjectVersions" => out.push(pair("s3:ListBucketVersions", &bucket_res)),
                "ListObjects" | "ListObjectsV2" | "HeadBucket" => out.push(pair("s3:ListBucket", &bucket_res)),
                "GetBucketNotificationConfiguration" => out.push(pair("s3:GetBucketNotification", &bucket_res)),
                "PutBucketNotificationConfiguration" => out.push(pair("s3:PutBucketNotification", &bucket_res)),
                "GetBucketVersioning" => out.push(pair("s3:GetBucketVersioning", &bucket_res)),
                "PutBucketVersioning" => out.push(pair("s3:PutBucketVersioning", &bucket_res)),
                // Not in the table: the check fails on it until the table says what it needs.
                other => out.push(pair(&format!("s3:{other} (not in the IAM table)"), if r.key { &object } else { &bucket_res })),
            }
        }
        "sqs" => {
            let action = match r.operation.as_str() {
                "SendMessageBatch" => "SendMessage",
                "DeleteMessageBatch" => "DeleteMessage",
                "ChangeMessageVisibilityBatch" => "ChangeMessageVisibility",
                op => op,
            };
            out.push(pair(&format!("sqs:{action}"), &target));
        }
        // A task token names no resource: the grant is on the state machine that issued it.
        "states" => out.push(pair(&format!("states:{}", r.operation), &target)),
        "sns" => out.push(pair(&format!("sns:{}", r.operation), &target)),
        other => out.push(pair(&format!("{other}:{}", r.operation), &target)),
    }
    out
}

/// The stack's physical names, by what the template calls them.
#[derive(Debug, Clone, Default)]
pub struct Names {
    tables: HashMap<String, String>,
    queues: HashMap<String, String>,
    state_machines: HashMap<String, String>,
    topics: HashMap<String, String>,
    media_buckets: BTreeSet<String>,
}

impl Names {
    pub fn of(stack: &Stack) -> Self {
        let flip = |m: &BTreeMap<String, String>| m.iter().map(|(logical, physical)| (physical.clone(), logical.clone())).collect();
        Names {
            tables: flip(&stack.tables),
            queues: stack.queues.iter().map(|(logical, q)| (q.name.clone(), logical.clone())).collect(),
            state_machines: flip(&stack.state_machines),
            topics: flip(&stack.topics),
            media_buckets: stack.parameters.get(MEDIA_BUCKETS).map(|b| b.split(',').map(|s| s.trim().to_string()).collect()).unwrap_or_default(),
        }
    }

    /// A physical name that is none of the stack's stays as it is, marked: nothing grants it.
    fn logical(map: &HashMap<String, String>, kind: &str, physical: &str) -> String {
        match map.get(physical) {
            Some(l) => format!("{kind}/{l}"),
            None => format!("{kind}/?{physical}"),
        }
    }

    fn table(&self, physical: &str) -> String {
        Self::logical(&self.tables, "table", physical)
    }

    fn bucket(&self, physical: &str) -> String {
        if self.media_buckets.contains(physical) { MEDIA_BUCKETS.to_string() } else { format!("?{physical}") }
    }
}

/// What a request names: its service and operation, and the resource its URI, headers or
/// body name, as the template names them.
pub fn parse_request(service: &str, operation: &str, uri: &str, header: impl Fn(&str) -> Option<String>, body: &[u8], names: &Names) -> Request {
    let mut r = Request { service: service.to_string(), operation: operation.to_string(), ..Default::default() };
    let json = || serde_json::from_slice::<serde_json::Value>(body).unwrap_or(serde_json::Value::Null);
    match service {
        "dynamodb" => {
            let j = json();
            let table = |t: &serde_json::Value, index: Option<&serde_json::Value>| {
                let base = names.table(t.as_str().unwrap_or_default());
                match index.and_then(|i| i.as_str()) {
                    Some(i) => format!("{base}/index/{i}"),
                    None => base,
                }
            };
            if let Some(t) = j.get("TableName") {
                r.tables.push((None, table(t, j.get("IndexName"))));
            }
            if let Some(items) = j.get("RequestItems").and_then(|i| i.as_object()) {
                r.tables.extend(items.keys().map(|t| (None, names.table(t))));
            }
            for item in j.get("TransactItems").and_then(|i| i.as_array()).into_iter().flatten() {
                for (kind, action) in [("Put", "PutItem"), ("Update", "UpdateItem"), ("Delete", "DeleteItem"), ("ConditionCheck", "ConditionCheckItem"), ("Get", "GetItem")] {
                    if let Some(t) = item.get(kind).and_then(|k| k.get("TableName")) {
                        r.tables.push((Some(action.to_string()), table(t, None)));
                    }
                }
            }
            r.tables.sort();
            r.tables.dedup();
        }
        "sqs" => {
            let url = json().get("QueueUrl").and_then(|u| u.as_str()).map(str::to_string).unwrap_or_default();
            let name = url.rsplit('/').next().unwrap_or_default();
            r.target = Some(Names::logical(&names.queues, "queue", name));
        }
        "states" => {
            let j = json();
            // An execution's ARN is its state machine's with `execution` for `stateMachine` and
            // the execution's name after it.
            let execution = j.get("executionArn").and_then(|a| a.as_str()).and_then(|a| a.rsplit_once(':')).map(|(machine, _)| machine.replacen(":execution:", ":stateMachine:", 1));
            if let Some(machine) = execution {
                r.target = Some(Names::logical(&names.state_machines, "execution", &machine));
                return r;
            }
            r.target = match (j.get("stateMachineArn").and_then(|a| a.as_str()), j.get("taskToken")) {
                (Some(arn), _) => Some(Names::logical(&names.state_machines, "stateMachine", arn)),
                // A token is the state machine's: the stack has one (with several, the token
                // cannot say whose, and the check fails on "?").
                (None, Some(_)) if names.state_machines.len() == 1 => names.state_machines.values().next().map(|l| format!("stateMachine/{l}")),
                (None, Some(_)) => Some("stateMachine/?token".to_string()),
                (None, None) => None,
            };
        }
        "sns" => {
            // Query protocol: a form body.
            let form = String::from_utf8_lossy(body);
            let topic = form.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == "TopicArn").map(|(_, v)| urlencoding::decode(v).map(|v| v.into_owned()).unwrap_or_default());
            r.target = topic.map(|t| Names::logical(&names.topics, "topic", &t));
        }
        "s3" => {
            let (path, query) = path_and_query(uri);
            let mut segments = path.trim_start_matches('/').splitn(2, '/');
            let first = segments.next().unwrap_or_default();
            let rest = segments.next().unwrap_or_default();
            let bucket = urlencoding::decode(first).map(|b| b.into_owned()).unwrap_or_default();
            r.bucket = Some(names.bucket(&bucket));
            r.key = !rest.is_empty();
            r.version = query.split('&').any(|kv| kv.starts_with("versionId="));
            if let Some(src) = header("x-amz-copy-source") {
                let src = urlencoding::decode(&src).map(|s| s.into_owned()).unwrap_or(src);
                let b = src.trim_start_matches('/').split('/').next().unwrap_or_default().to_string();
                r.copy_source = Some((names.bucket(&b), src.contains("?versionId=")));
            }
            r.tagging = header("x-amz-tagging").is_some_and(|t| !t.is_empty()) || header("x-amz-tagging-directive").is_some_and(|d| d.eq_ignore_ascii_case("COPY"));
            if operation == "DeleteObjects" {
                let text = String::from_utf8_lossy(body);
                r.deletes = text.split("<Object>").skip(1).map(|o| o.split("</Object>").next().unwrap_or_default().contains("<VersionId>")).collect();
                r.deletes.sort();
                r.deletes.dedup();
            }
        }
        _ => {}
    }
    r
}

/// The path and query of a URI (`http://host:port/path?query`).
fn path_and_query(uri: &str) -> (&str, &str) {
    let after_scheme = uri.split_once("://").map(|(_, rest)| rest).unwrap_or(uri);
    let path = after_scheme.find('/').map(|i| &after_scheme[i..]).unwrap_or("/");
    path.split_once('?').unwrap_or((path, ""))
}

/// Records, per principal, the permissions its calls need, and appends each new one to a file
/// of JSON lines as it is first seen (a session that ends early keeps what it recorded).
#[derive(Clone)]
pub struct UsageRecorder {
    inner: Arc<Inner>,
}

struct Inner {
    names: Names,
    seen: Mutex<BTreeSet<Call>>,
    path: PathBuf,
}

impl std::fmt::Debug for UsageRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageRecorder").field("path", &self.inner.path).finish()
    }
}

/// Where sessions write what they used: SLM_IAM_USAGE_DIR, or iam-usage in the data directory
/// (.local/iam-usage in the checkout).
pub fn usage_dir() -> PathBuf {
    std::env::var_os("SLM_IAM_USAGE_DIR").map(PathBuf::from).unwrap_or_else(|| crate::files::data_dir().join("iam-usage"))
}

impl UsageRecorder {
    /// A recorder for one session's stack, writing to `<dir>/<stack prefix>.jsonl`.
    pub fn new(stack: &Stack, dir: &Path) -> Self {
        let path = dir.join(format!("{}.jsonl", stack.prefix));
        UsageRecorder { inner: Arc::new(Inner { names: Names::of(stack), seen: Mutex::new(BTreeSet::new()), path }) }
    }

    /// The interceptor for one client (its signing name) of the principal's (logical id).
    pub fn interceptor(&self, principal: &str, service: &'static str) -> SharedInterceptor {
        SharedInterceptor::new(Recording { recorder: self.clone(), principal: principal.to_string(), service })
    }

    /// Every distinct call recorded so far.
    pub fn calls(&self) -> BTreeSet<Call> {
        self.inner.seen.lock().expect("usage lock").clone()
    }

    fn record(&self, principal: &str, request: Request) {
        let call = Call { principal: principal.to_string(), request };
        let mut seen = self.inner.seen.lock().expect("usage lock");
        if seen.contains(&call) {
            return;
        }
        // Under the lock: lines of concurrent calls do not interleave.
        let line = serde_json::to_string(&call).expect("a call is JSON") + "\n";
        seen.insert(call);
        let written = std::fs::create_dir_all(self.inner.path.parent().unwrap_or(Path::new("."))).and_then(|_| {
            std::fs::OpenOptions::new().create(true).append(true).open(&self.inner.path)?.write_all(line.as_bytes())
        });
        if let Err(e) = written {
            tracing::warn!(path = %self.inner.path.display(), error = %e, "cannot record IAM usage");
        }
    }
}

#[derive(Debug)]
struct Recording {
    recorder: UsageRecorder,
    principal: String,
    service: &'static str,
}

impl Intercept for Recording {
    fn name(&self) -> &'static str {
        "slm-local-iam-usage"
    }

    // Before signing: the request as serialized, with its endpoint, before any fault injector
    // sends it elsewhere.
    fn read_before_signing(&self, context: &BeforeTransmitInterceptorContextRef<'_>, _components: &RuntimeComponents, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        let operation = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>().map(|m| m.name().to_string()).unwrap_or_default();
        let request = context.request();
        let headers = request.headers();
        let parsed = parse_request(self.service, &operation, request.uri(), |h| headers.get(h).map(str::to_string), request.body().bytes().unwrap_or_default(), &self.recorder.inner.names);
        self.recorder.record(&self.principal, parsed);
        Ok(())
    }
}

/// Every call recorded under `dir` (all sessions' files), and how many files there were.
pub fn read_usage(dir: &Path) -> Result<(BTreeSet<Call>, usize)> {
    let mut calls = BTreeSet::new();
    let mut files = 0;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((calls, 0)),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            calls.insert(serde_json::from_str(line).with_context(|| format!("{}:{}", path.display(), i + 1))?);
        }
    }
    Ok((calls, files))
}

/// An (action, resource) pair a principal's role grants.
pub type Grant = (String, String);

/// A grant's resource in the check's terms (see the module's documentation); anything else is
/// kept as written, so that it matches no use and fails the check.
pub fn logical_resource(t: &Template, v: &Value) -> String {
    let kind_of = |id: &str| t.resources.get(id).map(|r| r.kind.as_str()).unwrap_or_default();
    let arn_of = |id: &str| arn_of(t, id);
    match intrinsic(v) {
        Some((f, arg)) if f == "GetAtt" => {
            let attr = match arg {
                Value::String(s) => s.split_once('.').map(|(_, a)| a.to_string()).unwrap_or_default(),
                Value::Sequence(seq) => seq.get(1).and_then(Value::as_str).unwrap_or_default().to_string(),
                _ => String::new(),
            };
            match (getatt_target(arg), attr.as_str()) {
                (Some(id), "Arn") => arn_of(&id),
                _ => format!("literal/{v:?}"),
            }
        }
        Some((f, arg)) if f == "Ref" => {
            let name = arg.as_str().unwrap_or_default();
            match kind_of(name) {
                // !Ref of a state machine or topic is its ARN; of a queue its URL (not an ARN).
                "AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine" | "AWS::SNS::Topic" => arn_of(name),
                "" if name == MEDIA_KEYS => format!("key/{MEDIA_KEYS}"),
                _ => format!("ref/{name}"),
            }
        }
        Some((f, arg)) if f == "Sub" => match arg.as_str() {
            Some(text) if let Some(machine) = crate::least_privilege::executions_of(t, text) => format!("execution/{machine}"),
            Some(text) => match text.strip_prefix("${").and_then(|r| r.split_once(".Arn}")) {
                Some((id, "")) => arn_of(id),
                Some((id, rest)) if rest.starts_with("/index/") && kind_of(id) == "AWS::DynamoDB::Table" => format!("table/{id}{rest}"),
                _ => format!("literal/{text}"),
            },
            None => format!("literal/{v:?}"),
        },
        // The media buckets: !Split [",", !Sub ["arn:*:s3:::${Buckets}[/*]", {Buckets: !Join [..., !Ref MediaBucketNames]}]]
        Some((f, arg)) if f == "Split" => {
            let sub = arg.as_sequence().and_then(|s| s.get(1)).and_then(intrinsic).filter(|(f, _)| f == "Sub").map(|(_, a)| a);
            let text = sub.and_then(|a| a.as_sequence()).and_then(|s| s.first()).and_then(Value::as_str).unwrap_or_default();
            let media = sub.is_some_and(|a| format!("{a:?}").contains(MEDIA_BUCKETS));
            match (media, text.strip_prefix(MEDIA_ARN_PREFIX)) {
                (true, Some("${Buckets}")) => format!("bucket/{MEDIA_BUCKETS}"),
                (true, Some("${Buckets}/*")) => format!("object/{MEDIA_BUCKETS}"),
                _ => format!("literal/{v:?}"),
            }
        }
        _ => format!("literal/{}", v.as_str().map(str::to_string).unwrap_or_else(|| format!("{v:?}"))),
    }
}

/// The ARN of the template's resource `id`, in the check's terms.
fn arn_of(t: &Template, id: &str) -> String {
    match t.resources.get(id).map(|r| r.kind.as_str()).unwrap_or_default() {
        "AWS::DynamoDB::Table" => format!("table/{id}"),
        "AWS::SQS::Queue" => format!("queue/{id}"),
        "AWS::SNS::Topic" => format!("topic/{id}"),
        "AWS::KMS::Key" => format!("key/{id}"),
        "AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine" => format!("stateMachine/{id}"),
        other => format!("arn/{id} ({other})"),
    }
}

/// What template.yaml grants each function and state machine, by logical id: the inline
/// policies of the role it acts with, less the delivery of its own logs and traces by the
/// service that runs it ([`crate::least_privilege::TELEMETRY_ACTIONS`]), which slm's code never
/// calls.
pub fn granted(t: &Template) -> Result<BTreeMap<String, BTreeSet<Grant>>> {
    let mut out: BTreeMap<String, BTreeSet<Grant>> = BTreeMap::new();
    for (id, role) in t.principals() {
        let grants = out.entry(id.clone()).or_default();
        let role = role.ok_or_else(|| anyhow!("{id}: no Role naming an AWS::IAM::Role of the template"))?;
        for (name, statements) in t.role_policies(role) {
            let statements = statements.ok_or_else(|| anyhow!("{role} policy {name}: not an inline statement list"))?;
            for s in list(Some(statements)).into_iter().filter_map(statement) {
                if get(s, "Effect").and_then(Value::as_str) != Some("Allow") {
                    continue;
                }
                if get(s, "NotAction").is_some() || get(s, "NotResource").is_some() {
                    bail!("{role}: NotAction and NotResource are not checked");
                }
                for action in list(get(s, "Action")).into_iter().filter(|a| !a.as_str().is_some_and(|a| crate::least_privilege::TELEMETRY_ACTIONS.contains(&a))) {
                    for resource in list(get(s, "Resource")) {
                        grants.insert((action.as_str().unwrap_or_default().to_string(), logical_resource(t, resource)));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The calls Lambda makes with a function's role for each of its SQS event sources (Lambda's SQS
/// guide: the execution role needs sqs:ReceiveMessage, sqs:DeleteMessage and
/// sqs:GetQueueAttributes on the queue). The local runner polls with its own client, so these
/// are read from the template, as [`state_machine_uses`] reads the state machine's.
pub fn event_source_uses(t: &Template) -> Result<BTreeSet<Use>> {
    let mut out = BTreeSet::new();
    for f in t.functions()? {
        for source in &f.sqs {
            for action in ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"] {
                out.insert(Use { principal: f.logical_id.clone(), action: action.into(), resource: arn_of(t, &source.queue), operation: "lambda:sqs-event-source".into() });
            }
        }
    }
    Ok(out)
}

/// Resolves the state machine's DefinitionSubstitutions to the template's logical names
/// (`@@X@@` for a resource X), and parameters to their defaults.
struct LogicalNames<'a>(&'a Template);

impl Resolve for LogicalNames<'_> {
    fn resolve_value(&self, v: &Value) -> Result<String> {
        match intrinsic(v) {
            Some((f, arg)) if f == "Ref" => {
                let name = arg.as_str().unwrap_or_default();
                if self.0.resources.contains_key(name) {
                    return Ok(format!("@@{name}@@"));
                }
                match self.0.parameters.get(name) {
                    Some(Value::Number(n)) => Ok(n.to_string()),
                    Some(Value::String(s)) => Ok(s.clone()),
                    _ => Ok("0".to_string()),
                }
            }
            Some((f, arg)) if f == "GetAtt" => Ok(format!("@@{}@@", getatt_target(arg).unwrap_or_default())),
            Some((f, arg)) if f == "Join" => {
                let (delimiter, items) = match arg.as_sequence().map(Vec::as_slice) {
                    Some([d, Value::Sequence(items)]) => (d.as_str().unwrap_or_default(), items),
                    _ => bail!("a substitution of {v:?} is not understood"),
                };
                Ok(items.iter().map(|i| self.resolve_value(i)).collect::<Result<Vec<_>>>()?.join(delimiter))
            }
            Some(_) => bail!("a substitution of {v:?} is not understood"),
            None => Ok(v.as_str().map(str::to_string).unwrap_or_else(|| format!("{v:?}"))),
        }
    }
}

/// What each state machine's service integrations call, from its ASL definition: a Task state
/// `arn:aws:states:::dynamodb:updateItem` on `TableName` needs dynamodb:UpdateItem on that
/// table, `sqs:sendMessage[.waitForTaskToken]` sqs:SendMessage on `QueueUrl`, `sns:publish`
/// sns:Publish on `TopicArn`, `states:startExecution` states:StartExecution on `StateMachineArn`.
pub fn state_machine_uses(t: &Template) -> Result<BTreeSet<Use>> {
    let mut out = BTreeSet::new();
    for (id, r) in t.resources.iter().filter(|(_, r)| r.kind == "AWS::Serverless::StateMachine") {
        let text = crate::provision::state_machine_definition(t, &LogicalNames(t), &r.properties).with_context(|| format!("definition of {id}"))?;
        let asl: serde_json::Value = serde_json::from_str(&text)?;
        let mut tasks = Vec::new();
        collect_tasks(&asl, "", &mut tasks);
        for (state, task) in tasks {
            let resource = task.get("Resource").and_then(|r| r.as_str()).unwrap_or_default();
            let integration = resource.strip_prefix("arn:aws:states:::").ok_or_else(|| anyhow!("{id}.{state}: resource {resource} is not a service integration"))?;
            let integration = integration.strip_prefix("aws-sdk:").unwrap_or(integration);
            let (service, api) = integration.split_once(':').ok_or_else(|| anyhow!("{id}.{state}: {resource}"))?;
            let api = api.split('.').next().unwrap_or_default();
            let mut letters = api.chars();
            let first = letters.next().ok_or_else(|| anyhow!("{id}.{state}: {resource} names no API"))?;
            let action = format!("{service}:{}{}", first.to_uppercase(), letters.as_str());
            let field = match service {
                "dynamodb" => "TableName",
                "sqs" => "QueueUrl",
                "sns" => "TopicArn",
                "states" => "StateMachineArn",
                "lambda" => "FunctionName",
                other => bail!("{id}.{state}: the check does not know the {other} integration"),
            };
            let params = task.get("Parameters").or_else(|| task.get("Arguments"));
            let named = params.and_then(|p| p.get(field)).and_then(|v| v.as_str()).ok_or_else(|| anyhow!("{id}.{state}: {field} is not a fixed substitution"))?;
            let target = named.strip_prefix("@@").and_then(|n| n.strip_suffix("@@")).ok_or_else(|| anyhow!("{id}.{state}: {field} {named} is not a resource of the template"))?;
            let resource = arn_of(t, target);
            out.insert(Use { principal: id.clone(), action, resource, operation: format!("asl:{state}") });
        }
    }
    Ok(out)
}

fn collect_tasks<'a>(v: &'a serde_json::Value, name: &str, out: &mut Vec<(String, &'a serde_json::Value)>) {
    match v {
        serde_json::Value::Object(m) => {
            if m.get("Type").and_then(|t| t.as_str()) == Some("Task") {
                out.push((name.to_string(), v));
            }
            for (k, child) in m {
                collect_tasks(child, k, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|c| collect_tasks(c, name, out)),
        _ => {}
    }
}

/// A grant nothing in the suite uses, kept on purpose.
#[derive(Debug, Clone, Copy)]
pub struct Exception {
    pub principal: &'static str,
    pub action: &'static str,
    pub resource: &'static str,
    pub why: &'static str,
}

/// The deliberate exceptions: grants the code needs on paths the end-to-end suite cannot reach
/// on the emulator. Each must be granted and unused, or the check says the list is stale.
///
/// Not listed: the SQS event sources' calls, which are uses read from the template
/// ([`event_source_uses`]), and the API's invocation by API Gateway (a resource policy on the
/// function, not a grant of its role).
pub const EXCEPTIONS: &[Exception] = &[
    Exception {
        principal: "WorkerFunction",
        action: "s3:AbortMultipartUpload",
        resource: "object/MediaBucketNames",
        why: "a multipart copy that fails after CreateMultipartUpload aborts its upload, so no incomplete upload is left billing; the suite's multipart copies succeed",
    },
];

/// What the check found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// (principal, action, resource) used and not granted, with the calls that needed it.
    pub missing: Vec<(String, String, String, Vec<String>)>,
    /// (principal, action, resource) granted and not used.
    pub unused: Vec<(String, String, String)>,
    /// Exceptions that no longer hold (not granted, or used after all).
    pub stale: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.missing.is_empty() && self.unused.is_empty() && self.stale.is_empty()
    }

    /// One line per finding.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (p, a, r, ops) in &self.missing {
            out.push(format!("MISSING  {p}: {a} on {r} (needed by {})", ops.join(", ")));
        }
        for (p, a, r) in &self.unused {
            out.push(format!("UNUSED   {p}: {a} on {r} (no call needs it: remove it, or list it in EXCEPTIONS with why)"));
        }
        for s in &self.stale {
            out.push(format!("STALE    {s}"));
        }
        out
    }
}

/// Compares what was used with what is granted: every use must be granted to its principal
/// (action and resource), every grant used by its principal or listed in `exceptions`.
pub fn compare(used: &BTreeSet<Use>, granted: &BTreeMap<String, BTreeSet<Grant>>, exceptions: &[Exception]) -> Report {
    let mut report = Report::default();
    let mut needed: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    for u in used {
        let ops = needed.entry((u.principal.clone(), u.action.clone(), u.resource.clone())).or_default();
        if !ops.contains(&u.operation) {
            ops.push(u.operation.clone());
        }
    }
    for ((p, a, r), ops) in &needed {
        let ok = granted.get(p).is_some_and(|g| g.contains(&(a.clone(), r.clone())));
        if !ok {
            report.missing.push((p.clone(), a.clone(), r.clone(), ops.clone()));
        }
    }
    let excepted = |p: &str, a: &str, r: &str| exceptions.iter().any(|e| e.principal == p && e.action == a && e.resource == r);
    for (p, grants) in granted {
        for (a, r) in grants {
            let is_used = needed.contains_key(&(p.clone(), a.clone(), r.clone()));
            if !is_used && !excepted(p, a, r) {
                report.unused.push((p.clone(), a.clone(), r.clone()));
            }
        }
    }
    for e in exceptions {
        let key = (e.principal.to_string(), e.action.to_string(), e.resource.to_string());
        if !granted.get(e.principal).is_some_and(|g| g.contains(&(key.1.clone(), key.2.clone()))) {
            report.stale.push(format!("exception {}: {} on {} is not granted any more", e.principal, e.action, e.resource));
        } else if needed.contains_key(&key) {
            report.stale.push(format!("exception {}: {} on {} is used now: drop the exception", e.principal, e.action, e.resource));
        }
    }
    report
}

/// The whole check: the uses recorded under `dir` and the state machines' ASL against
/// template.yaml. Returns the report and a summary line.
pub fn check(t: &Template, dir: &Path) -> Result<(Report, String)> {
    let (calls, files) = read_usage(dir)?;
    anyhow::ensure!(files > 0, "no IAM usage recorded under {}: run the end-to-end suite first (infra/test-all.sh)", dir.display());
    let functions: BTreeSet<String> = calls.iter().map(|c| c.principal.clone()).collect();
    let mut used: BTreeSet<Use> = calls.iter().flat_map(Call::uses).collect();
    used.extend(state_machine_uses(t)?);
    used.extend(event_source_uses(t)?);
    let granted = granted(t)?;
    let report = compare(&used, &granted, EXCEPTIONS);
    let grants: usize = granted.values().map(BTreeSet::len).sum();
    let summary = format!(
        "{} grants of {} principals against {} distinct calls ({} permissions) recorded in {files} sessions (functions seen: {})",
        grants,
        granted.len(),
        calls.len(),
        used.len(),
        functions.into_iter().collect::<Vec<_>>().join(", ")
    );
    Ok((report, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        let mut n = Names::default();
        n.tables.insert("p-FilesTable".into(), "FilesTable".into());
        n.tables.insert("p-TasksTable".into(), "TasksTable".into());
        n.tables.insert("p-AssetsTable".into(), "AssetsTable".into());
        n.queues.insert("p-WorkQueue".into(), "WorkQueue".into());
        n.state_machines.insert("arn:aws:states:us-east-1:123456789012:stateMachine:p-TaskStateMachine".into(), "TaskStateMachine".into());
        n.topics.insert("arn:aws:sns:us-east-1:123456789012:p-EventsTopic".into(), "EventsTopic".into());
        n.media_buckets.insert("media-p".into());
        n
    }

    fn s3(operation: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> Request {
        let headers: HashMap<String, String> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse_request("s3", operation, uri, |h| headers.get(h).cloned(), body.as_bytes(), &names())
    }

    fn json(service: &str, operation: &str, body: serde_json::Value) -> Request {
        parse_request(service, operation, "http://127.0.0.1:5140/", |_| None, body.to_string().as_bytes(), &names())
    }

    fn pairs(r: &Request) -> BTreeSet<(String, String)> {
        needs(r).into_iter().collect()
    }

    fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
        items.iter().map(|(a, r)| (a.to_string(), r.to_string())).collect()
    }

    #[test]
    fn a_head_or_get_needs_list_bucket_to_tell_a_missing_key_from_a_denied_one() {
        let head = s3("HeadObject", "http://127.0.0.1:5140/media-p/show/a%20b.exr?x-id=HeadObject", &[], "");
        assert_eq!(pairs(&head), set(&[("s3:GetObject", "object/MediaBucketNames"), ("s3:ListBucket", "bucket/MediaBucketNames")]));
        let versioned = s3("HeadObject", "http://127.0.0.1:5140/media-p/k?versionId=v1", &[], "");
        assert!(pairs(&versioned).contains(&("s3:GetObjectVersion".to_string(), "object/MediaBucketNames".to_string())));
        let get = s3("GetObject", "http://127.0.0.1:5140/media-p/inventory.csv?x-id=GetObject", &[("range", "bytes=0-9")], "");
        assert_eq!(
            pairs(&get),
            set(&[("s3:GetObject", "object/MediaBucketNames"), ("s3:ListBucket", "bucket/MediaBucketNames"), ("kms:Decrypt", "key/MediaKmsKeyArns")])
        );
    }

    #[test]
    fn a_copy_needs_the_source_version_the_destination_its_tags_and_the_media_keys() {
        let copy = s3(
            "CopyObject",
            "http://127.0.0.1:5140/media-p/show/k.exr?x-id=CopyObject",
            &[("x-amz-copy-source", "media-p/show/k.exr?versionId=v1"), ("x-amz-tagging-directive", "COPY")],
            "",
        );
        assert_eq!(copy.copy_source, Some((MEDIA_BUCKETS.to_string(), true)));
        assert_eq!(
            pairs(&copy),
            set(&[
                ("s3:GetObjectVersion", "object/MediaBucketNames"),
                ("s3:PutObject", "object/MediaBucketNames"),
                ("s3:PutObjectTagging", "object/MediaBucketNames"),
                ("kms:Decrypt", "key/MediaKmsKeyArns"),
                ("kms:GenerateDataKey", "key/MediaKmsKeyArns"),
            ])
        );
        let part = s3("UploadPartCopy", "http://127.0.0.1:5140/media-p/k?partNumber=1&uploadId=u", &[("x-amz-copy-source", "media-p/k")], "");
        assert_eq!(
            pairs(&part),
            set(&[("s3:GetObject", "object/MediaBucketNames"), ("s3:PutObject", "object/MediaBucketNames"), ("kms:Decrypt", "key/MediaKmsKeyArns"), ("kms:GenerateDataKey", "key/MediaKmsKeyArns")])
        );
        let create = s3("CreateMultipartUpload", "http://127.0.0.1:5140/media-p/k?uploads", &[("x-amz-tagging", "show=demo")], "");
        assert!(pairs(&create).contains(&("s3:PutObjectTagging".to_string(), "object/MediaBucketNames".to_string())));
        // A bucket that is not a media bucket is named as it is, and needs no media key.
        let other = s3("GetObject", "http://127.0.0.1:5140/elsewhere/k", &[], "");
        assert_eq!(pairs(&other), set(&[("s3:GetObject", "object/?elsewhere"), ("s3:ListBucket", "bucket/?elsewhere")]));
    }

    #[test]
    fn deletes_listings_tags_and_restores_map_to_their_own_actions() {
        let body = "<Delete><Object><Key>a</Key><VersionId>v1</VersionId></Object><Object><Key>b</Key><VersionId>null</VersionId></Object><Quiet>true</Quiet></Delete>";
        let delete = s3("DeleteObjects", "http://127.0.0.1:5140/media-p?delete", &[], body);
        assert_eq!(delete.deletes, vec![true]);
        assert_eq!(pairs(&delete), set(&[("s3:DeleteObjectVersion", "object/MediaBucketNames")]));
        let plain = s3("DeleteObjects", "http://127.0.0.1:5140/media-p?delete", &[], "<Delete><Object><Key>a</Key></Object></Delete>");
        assert_eq!(pairs(&plain), set(&[("s3:DeleteObject", "object/MediaBucketNames")]));
        let list = s3("ListObjectVersions", "http://127.0.0.1:5140/media-p?versions&prefix=show%2F", &[], "");
        assert!(!list.key);
        assert_eq!(pairs(&list), set(&[("s3:ListBucketVersions", "bucket/MediaBucketNames")]));
        let tags = s3("GetObjectTagging", "http://127.0.0.1:5140/media-p/k?tagging&versionId=v1", &[], "");
        assert_eq!(pairs(&tags), set(&[("s3:GetObjectVersionTagging", "object/MediaBucketNames")]));
        let restore = s3("RestoreObject", "http://127.0.0.1:5140/media-p/k?restore&versionId=v1", &[], "<RestoreRequest/>");
        assert_eq!(pairs(&restore), set(&[("s3:RestoreObject", "object/MediaBucketNames")]));
        let abort = s3("AbortMultipartUpload", "http://127.0.0.1:5140/media-p/k?uploadId=u", &[], "");
        assert_eq!(pairs(&abort), set(&[("s3:AbortMultipartUpload", "object/MediaBucketNames")]));
    }

    #[test]
    fn dynamodb_calls_name_their_tables_and_indexes_and_transactions_each_items_action() {
        let query = json("dynamodb", "Query", serde_json::json!({"TableName": "p-FilesTable", "IndexName": "ByLocation"}));
        assert_eq!(pairs(&query), set(&[("dynamodb:Query", "table/FilesTable/index/ByLocation")]));
        let batch = json("dynamodb", "BatchGetItem", serde_json::json!({"RequestItems": {"p-FilesTable": {"Keys": []}}}));
        assert_eq!(pairs(&batch), set(&[("dynamodb:BatchGetItem", "table/FilesTable")]));
        let transaction = json(
            "dynamodb",
            "TransactWriteItems",
            serde_json::json!({"TransactItems": [
                {"Put": {"TableName": "p-TasksTable"}},
                {"Update": {"TableName": "p-AssetsTable"}},
                {"ConditionCheck": {"TableName": "p-AssetsTable"}}
            ]}),
        );
        assert_eq!(
            pairs(&transaction),
            set(&[("dynamodb:PutItem", "table/TasksTable"), ("dynamodb:UpdateItem", "table/AssetsTable"), ("dynamodb:ConditionCheckItem", "table/AssetsTable")])
        );
        let stranger = json("dynamodb", "GetItem", serde_json::json!({"TableName": "someone-elses"}));
        assert_eq!(pairs(&stranger), set(&[("dynamodb:GetItem", "table/?someone-elses")]));
    }

    #[test]
    fn queues_state_machines_tokens_and_topics_are_named_by_logical_id() {
        let send = json("sqs", "SendMessageBatch", serde_json::json!({"QueueUrl": "http://127.0.0.1:5140/123456789012/p-WorkQueue"}));
        assert_eq!(pairs(&send), set(&[("sqs:SendMessage", "queue/WorkQueue")]));
        let start = json("states", "StartExecution", serde_json::json!({"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:p-TaskStateMachine"}));
        assert_eq!(pairs(&start), set(&[("states:StartExecution", "stateMachine/TaskStateMachine")]));
        let success = json("states", "SendTaskSuccess", serde_json::json!({"taskToken": "opaque", "output": "{}"}));
        assert_eq!(pairs(&success), set(&[("states:SendTaskSuccess", "stateMachine/TaskStateMachine")]));
        let publish = parse_request("sns", "Publish", "http://127.0.0.1:5140/", |_| None, b"Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3Ap-EventsTopic&Message=x", &names());
        assert_eq!(pairs(&publish), set(&[("sns:Publish", "topic/EventsTopic")]));
    }

    fn grants(items: &[(&str, &str, &str)]) -> BTreeMap<String, BTreeSet<Grant>> {
        let mut out: BTreeMap<String, BTreeSet<Grant>> = BTreeMap::new();
        for (p, a, r) in items {
            out.entry(p.to_string()).or_default().insert((a.to_string(), r.to_string()));
        }
        out
    }

    fn used(items: &[(&str, &str, &str)]) -> BTreeSet<Use> {
        items.iter().map(|(p, a, r)| Use { principal: p.to_string(), action: a.to_string(), resource: r.to_string(), operation: "test:Op".into() }).collect()
    }

    #[test]
    fn a_used_and_granted_permission_passes() {
        let report = compare(&used(&[("F", "dynamodb:GetItem", "table/T")]), &grants(&[("F", "dynamodb:GetItem", "table/T")]), &[]);
        assert!(report.passed(), "{report:?}");
    }

    #[test]
    fn a_used_permission_not_granted_fails_with_principal_action_and_resource() {
        // Granted on another table, or to another function: not to this one on this table.
        let report = compare(
            &used(&[("F", "dynamodb:GetItem", "table/T")]),
            &grants(&[("F", "dynamodb:GetItem", "table/U"), ("G", "dynamodb:GetItem", "table/T")]),
            &[Exception { principal: "F", action: "dynamodb:GetItem", resource: "table/U", why: "test" }, Exception { principal: "G", action: "dynamodb:GetItem", resource: "table/T", why: "test" }],
        );
        assert_eq!(report.missing, vec![("F".to_string(), "dynamodb:GetItem".to_string(), "table/T".to_string(), vec!["test:Op".to_string()])]);
        assert!(report.unused.is_empty() && report.stale.is_empty(), "{report:?}");
        assert!(report.lines()[0].contains("MISSING  F: dynamodb:GetItem on table/T"), "{:?}", report.lines());
    }

    #[test]
    fn a_grant_nothing_uses_fails_unless_it_is_a_listed_exception() {
        let granted = grants(&[("F", "dynamodb:GetItem", "table/T"), ("F", "s3:AbortMultipartUpload", "object/MediaBucketNames")]);
        let uses = used(&[("F", "dynamodb:GetItem", "table/T")]);
        let report = compare(&uses, &granted, &[]);
        assert_eq!(report.unused, vec![("F".to_string(), "s3:AbortMultipartUpload".to_string(), "object/MediaBucketNames".to_string())]);
        let excepted = [Exception { principal: "F", action: "s3:AbortMultipartUpload", resource: "object/MediaBucketNames", why: "test" }];
        assert!(compare(&uses, &granted, &excepted).passed());
    }

    #[test]
    fn an_exception_that_is_used_or_no_longer_granted_is_stale() {
        let granted = grants(&[("F", "dynamodb:GetItem", "table/T")]);
        let uses = used(&[("F", "dynamodb:GetItem", "table/T")]);
        let exceptions = [
            Exception { principal: "F", action: "dynamodb:GetItem", resource: "table/T", why: "test" },
            Exception { principal: "F", action: "dynamodb:PutItem", resource: "table/T", why: "test" },
        ];
        let report = compare(&uses, &granted, &exceptions);
        assert_eq!(report.stale.len(), 2, "{report:?}");
    }

    #[test]
    fn the_template_side_reads_conditional_statements_indexes_media_buckets_and_keys() {
        let text = r#"
Parameters:
  MediaBucketNames:
    Type: CommaDelimitedList
  MediaKmsKeyArns:
    Type: CommaDelimitedList
    Default: ""
Resources:
  Tbl:
    Type: AWS::DynamoDB::Table
  Q:
    Type: AWS::SQS::Queue
  SM:
    Type: AWS::Serverless::StateMachine
    Properties:
      Role: !GetAtt SMRole.Arn
  SMRole:
    Type: AWS::IAM::Role
  F:
    Type: AWS::Serverless::Function
    Properties:
      Role: !GetAtt FRole.Arn
  FRole:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
            - Effect: Allow
              Action: [dynamodb:Query, dynamodb:GetItem]
              Resource: [!GetAtt Tbl.Arn, !Sub "${Tbl.Arn}/index/ByX"]
            - Effect: Allow
              Action: s3:ListBucket
              Resource: !Split [",", !Sub ["arn:*:s3:::${Buckets}", {Buckets: !Join [",arn:*:s3:::", !Ref MediaBucketNames]}]]
            - Effect: Allow
              Action: s3:GetObject
              Resource: !Split [",", !Sub ["arn:*:s3:::${Buckets}/*", {Buckets: !Join ["/*,arn:*:s3:::", !Ref MediaBucketNames]}]]
            - Effect: Allow
              Action: [sqs:SendMessage, states:StartExecution]
              Resource: [!GetAtt Q.Arn, !Ref SM, !Ref Q]
            - !If
              - HasMediaKmsKeys
              - Effect: Allow
                Action: kms:Decrypt
                Resource: !Ref MediaKmsKeyArns
              - !Ref AWS::NoValue
"#;
        let t = Template::parse(text, Path::new("template.yaml")).unwrap();
        let g = &granted(&t).unwrap()["F"];
        for (a, r) in [
            ("dynamodb:Query", "table/Tbl"),
            ("dynamodb:Query", "table/Tbl/index/ByX"),
            ("s3:ListBucket", "bucket/MediaBucketNames"),
            ("s3:GetObject", "object/MediaBucketNames"),
            ("sqs:SendMessage", "queue/Q"),
            ("states:StartExecution", "stateMachine/SM"),
            // !Ref of a queue is its URL: a grant on it matches no call.
            ("sqs:SendMessage", "ref/Q"),
            ("kms:Decrypt", "key/MediaKmsKeyArns"),
        ] {
            assert!(g.contains(&(a.to_string(), r.to_string())), "{a} on {r} not in {g:?}");
        }
    }

    #[test]
    fn the_state_machines_calls_come_from_its_definition() {
        let t = Template::load_default().unwrap();
        let uses: BTreeSet<(String, String, String)> = state_machine_uses(&t).unwrap().into_iter().map(|u| (u.principal, u.action, u.resource)).collect();
        for (a, r) in [
            ("dynamodb:UpdateItem", "table/TasksTable"),
            ("dynamodb:UpdateItem", "table/AssetsTable"),
            ("sqs:SendMessage", "queue/ControlQueue"),
            ("sns:Publish", "topic/EventsTopic"),
        ] {
            assert!(uses.contains(&("TaskStateMachine".to_string(), a.to_string(), r.to_string())), "{a} on {r} not in {uses:?}");
        }
    }

    #[test]
    fn the_template_grants_are_all_understood() {
        // Every grant of template.yaml reads as an action on a resource the check can match.
        let t = Template::load_default().unwrap();
        let odd: Vec<String> = granted(&t)
            .unwrap()
            .into_iter()
            .flat_map(|(p, g)| g.into_iter().map(move |(a, r)| format!("{p}: {a} on {r}")))
            .filter(|line| line.contains(" on literal/") || line.contains(" on ref/") || line.contains(" on arn/"))
            .collect();
        assert_eq!(odd, Vec::<String>::new());
    }

    #[test]
    fn every_exception_says_why() {
        for e in EXCEPTIONS {
            assert!(e.why.len() > 20, "{e:?}");
        }
    }

    #[test]
    fn lambda_reads_each_event_source_queue_with_its_functions_role() {
        let t = Template::load_default().unwrap();
        let uses: BTreeSet<(String, String, String)> = event_source_uses(&t).unwrap().into_iter().map(|u| (u.principal, u.action, u.resource)).collect();
        for (f, q) in [("PlannerFunction", "ControlQueue"), ("WorkerFunction", "WorkQueue"), ("CompletionFunction", "S3EventsQueue"), ("ReconcilerFunction", "ReconcileQueue")] {
            for a in ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"] {
                assert!(uses.contains(&(f.to_string(), a.to_string(), format!("queue/{q}"))), "{f}: {a} on {q} not in {uses:?}");
            }
        }
        assert_eq!(uses.len(), 12, "{uses:?}");
    }
}
