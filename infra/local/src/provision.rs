//! Creates the template's resources on the emulator under a name prefix, so several stacks (the
//! demo, each end-to-end test) live side by side on one emulator. Returns the [`Stack`]: the
//! physical names of everything and each function's resolved environment.

use crate::template::{FunctionDef, Template, intrinsic};
use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, PointInTimeRecoverySpecification, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;
use slm_core::adapters::Clients;
use std::collections::BTreeMap;

pub const REGION: &str = "us-east-1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRef {
    pub name: String,
    pub url: String,
    pub arn: String,
}

/// A function wired as on Lambda: its environment and its event sources, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalFunction {
    pub logical_id: String,
    pub binary: String,
    pub env: BTreeMap<String, String>,
    pub sqs: Vec<LocalSqsSource>,
    pub schedules: Vec<String>,
    #[serde(default)]
    pub timeout_seconds: u64,
}

/// The longest a local event source gathers a batch (the template's window may be longer).
pub const LOCAL_BATCHING_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalSqsSource {
    pub queue: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: usize,
    /// The template's batching window, at most [`LOCAL_BATCHING_WINDOW`]: locally a batch
    /// gathers for a second at most, as failed messages come back after one (tests wait less).
    pub batching_window: std::time::Duration,
    pub max_concurrency: usize,
    pub report_batch_item_failures: bool,
}

/// Everything created for one local stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stack {
    pub prefix: String,
    pub endpoint: String,
    /// The emulator's account for the local stack's credentials (sts:GetCallerIdentity): moto
    /// answers 123456789012, LocalStack 000000000000, and LocalStack runs a state machine's
    /// service calls in its role's account, so nothing may assume one.
    pub account: String,
    pub tables: BTreeMap<String, String>,
    pub queues: BTreeMap<String, QueueRef>,
    pub topics: BTreeMap<String, String>,
    pub state_machines: BTreeMap<String, String>,
    /// EventBridge rules on the default bus, by logical id: their ARNs.
    #[serde(default)]
    pub rules: BTreeMap<String, String>,
    pub functions: Vec<LocalFunction>,
    /// A queue subscribed to every topic, standing in for a studio application's subscription.
    pub observer: QueueRef,
    pub parameters: BTreeMap<String, String>,
}

impl Stack {
    pub fn function(&self, binary: &str) -> Result<&LocalFunction> {
        self.functions.iter().find(|f| f.binary == binary).ok_or_else(|| anyhow!("no function {binary} in the stack"))
    }

    pub fn queue(&self, logical_id: &str) -> Result<&QueueRef> {
        self.queues.get(logical_id).ok_or_else(|| anyhow!("no queue {logical_id} in the stack"))
    }

    pub fn table(&self, logical_id: &str) -> Result<&str> {
        self.tables.get(logical_id).map(String::as_str).ok_or_else(|| anyhow!("no table {logical_id} in the stack"))
    }
}

/// Physical names known so far, for resolving intrinsics.
struct Names<'a> {
    template: &'a Template,
    prefix: &'a str,
    parameters: BTreeMap<String, String>,
    stack: &'a Stack,
}

impl Names<'_> {
    fn physical(&self, logical: &str) -> String {
        format!("{}-{}", self.prefix, logical)
    }

    fn reference(&self, name: &str) -> Result<String> {
        if let Some(p) = self.parameters.get(name) {
            return Ok(p.clone());
        }
        match name {
            "AWS::Region" => return Ok(REGION.into()),
            "AWS::AccountId" => return Ok(self.stack.account.clone()),
            "AWS::Partition" => return Ok("aws".into()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".into()),
            _ => {}
        }
        let kind = self.template.resources.get(name).map(|r| r.kind.as_str()).ok_or_else(|| anyhow!("!Ref {name}: no such resource"))?;
        match kind {
            "AWS::DynamoDB::Table" => self.stack.tables.get(name).cloned(),
            "AWS::SQS::Queue" => self.stack.queues.get(name).map(|q| q.url.clone()),
            "AWS::SNS::Topic" => self.stack.topics.get(name).cloned(),
            "AWS::Serverless::StateMachine" => self.stack.state_machines.get(name).cloned(),
            "AWS::Serverless::HttpApi" => Some(self.physical(name)),
            _ => None,
        }
        .ok_or_else(|| anyhow!("!Ref {name} ({kind}) is not created yet or not supported locally"))
    }

    fn attribute(&self, target: &str, attr: &str) -> Result<String> {
        match attr {
            "Arn" => {
                if let Some(q) = self.stack.queues.get(target) {
                    return Ok(q.arn.clone());
                }
                if let Some(t) = self.stack.tables.get(target) {
                    return Ok(format!("arn:aws:dynamodb:{REGION}:{}:table/{t}", self.stack.account));
                }
                if let Some(r) = self.stack.rules.get(target) {
                    return Ok(r.clone());
                }
                bail!("!GetAtt {target}.Arn: not created yet")
            }
            _ => bail!("!GetAtt {target}.{attr} is not supported locally"),
        }
    }

    fn resolve(&self, v: &Value) -> Result<String> {
        if let Some((f, arg)) = intrinsic(v) {
            return match f.as_str() {
                "Ref" => self.reference(arg.as_str().ok_or_else(|| anyhow!("!Ref needs a name"))?),
                "GetAtt" => {
                    let (target, attr) = match arg {
                        Value::String(s) => s.split_once('.').ok_or_else(|| anyhow!("!GetAtt {s}: expected X.Attr"))?,
                        Value::Sequence(seq) => (seq[0].as_str().unwrap_or_default(), seq[1].as_str().unwrap_or_default()),
                        _ => bail!("!GetAtt: unexpected form"),
                    };
                    self.attribute(target, attr)
                }
                "Sub" => {
                    let text = arg.as_str().ok_or_else(|| anyhow!("only the one-argument !Sub is supported locally"))?;
                    self.substitute(text)
                }
                "Join" => {
                    let (sep, list) = match arg {
                        Value::Sequence(seq) if seq.len() == 2 => (seq[0].as_str().unwrap_or_default(), &seq[1]),
                        _ => bail!("!Join needs [delimiter, list]"),
                    };
                    let parts: Vec<String> = match list {
                        Value::Sequence(items) => items.iter().map(|i| self.resolve(i)).collect::<Result<_>>()?,
                        // A list parameter (CommaDelimitedList) resolves to its comma-separated text.
                        other => self.resolve(other)?.split(',').map(str::to_string).collect(),
                    };
                    Ok(parts.join(sep))
                }
                other => bail!("intrinsic {other} is not supported locally"),
            };
        }
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => bail!("cannot use {other:?} as a value"),
        }
    }

    /// A property as JSON, its intrinsics resolved; a `!Ref` to a list parameter is a list.
    fn json(&self, v: &Value) -> Result<serde_json::Value> {
        use serde_json::Value as Json;
        if let Some((f, arg)) = intrinsic(v) {
            let name = arg.as_str().unwrap_or_default();
            if f == "Ref" && self.template.list_parameters.contains(name) {
                return Ok(Json::Array(self.reference(name)?.split(',').map(|s| Json::String(s.trim().to_string())).collect()));
            }
            return self.resolve(v).map(Json::String);
        }
        Ok(match v {
            Value::Mapping(m) => Json::Object(m.iter().map(|(k, v)| Ok((k.as_str().ok_or_else(|| anyhow!("key {k:?} is not a string"))?.to_string(), self.json(v)?))).collect::<Result<_>>()?),
            Value::Sequence(items) => Json::Array(items.iter().map(|i| self.json(i)).collect::<Result<_>>()?),
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(_) | Value::String(_) => Json::String(self.resolve(v)?),
            other => bail!("cannot use {other:?} as a value"),
        })
    }

    fn substitute(&self, text: &str) -> Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').ok_or_else(|| anyhow!("unclosed ${{ in {text}"))? + start;
            let name = &rest[start + 2..end];
            out.push_str(&match name.split_once('.') {
                Some((target, attr)) => self.attribute(target, attr)?,
                None => self.reference(name)?,
            });
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn prop<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping()?.get(key)
}

fn key_schema(v: Option<&Value>) -> Result<Vec<KeySchemaElement>> {
    v.and_then(Value::as_sequence)
        .ok_or_else(|| anyhow!("KeySchema missing"))?
        .iter()
        .map(|k| {
            let name = prop(k, "AttributeName").and_then(Value::as_str).unwrap_or_default();
            let kind = match prop(k, "KeyType").and_then(Value::as_str) {
                Some("HASH") => KeyType::Hash,
                Some("RANGE") => KeyType::Range,
                other => bail!("KeyType {other:?}"),
            };
            Ok(KeySchemaElement::builder().attribute_name(name).key_type(kind).build()?)
        })
        .collect()
}

/// Creates the stack. `parameters` override the template's defaults (as `sam deploy
/// --parameter-overrides` would).
pub async fn provision(template: &Template, clients: &Clients, endpoint: &str, prefix: &str, parameters: &BTreeMap<String, String>) -> Result<Stack> {
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &template.parameters {
        let default = match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        // As `sam deploy`: a parameter without a default must be given.
        let value = parameters.get(k).cloned().or(default).ok_or_else(|| anyhow!("parameter {k} has no default and was not given"))?;
        params.insert(k.clone(), value);
    }
    let config = crate::sdk_config(endpoint).await;
    let identity = aws_sdk_sts::Client::new(&config).get_caller_identity().send().await.context("sts:GetCallerIdentity")?;
    let mut stack = Stack {
        prefix: prefix.to_string(),
        endpoint: endpoint.to_string(),
        account: identity.account().ok_or_else(|| anyhow!("sts:GetCallerIdentity answered no account"))?.to_string(),
        tables: BTreeMap::new(),
        queues: BTreeMap::new(),
        topics: BTreeMap::new(),
        state_machines: BTreeMap::new(),
        rules: BTreeMap::new(),
        functions: Vec::new(),
        observer: QueueRef { name: String::new(), url: String::new(), arn: String::new() },
        parameters: params.clone(),
    };

    for (id, r) in template.of_kind("AWS::DynamoDB::Table") {
        let name = format!("{prefix}-{id}");
        create_table(clients, &name, &r.properties).await.with_context(|| format!("creating table {id}"))?;
        stack.tables.insert(id.clone(), name);
    }
    for (id, _) in template.of_kind("AWS::SQS::Queue") {
        let q = create_queue(clients, &format!("{prefix}-{id}")).await.with_context(|| format!("creating queue {id}"))?;
        stack.queues.insert(id.clone(), q);
    }
    // Queue attributes next: a redrive policy names its DLQ, which now exists.
    for (id, r) in template.of_kind("AWS::SQS::Queue") {
        let names = Names { template, prefix, parameters: params.clone(), stack: &stack };
        let mut attrs = BTreeMap::new();
        if let Some(v) = prop(&r.properties, "VisibilityTimeout") {
            attrs.insert(QueueAttributeName::VisibilityTimeout, names.resolve(v)?);
        }
        if let Some(v) = prop(&r.properties, "MessageRetentionPeriod") {
            attrs.insert(QueueAttributeName::MessageRetentionPeriod, names.resolve(v)?);
        }
        if let Some(rp) = prop(&r.properties, "RedrivePolicy") {
            let dlq = names.resolve(prop(rp, "deadLetterTargetArn").ok_or_else(|| anyhow!("{id}: redrive without target"))?)?;
            let max = names.resolve(prop(rp, "maxReceiveCount").ok_or_else(|| anyhow!("{id}: redrive without maxReceiveCount"))?)?;
            let policy = serde_json::json!({ "deadLetterTargetArn": dlq, "maxReceiveCount": max.parse::<u32>()? });
            attrs.insert(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let url = &stack.queues[id].url;
        clients.sqs.set_queue_attributes().queue_url(url).set_attributes(Some(attrs.into_iter().collect())).send().await?;
    }
    for (id, _) in template.of_kind("AWS::SNS::Topic") {
        let out = clients.sns().create_topic().name(format!("{prefix}-{id}")).send().await?;
        stack.topics.insert(id.clone(), out.topic_arn().unwrap_or_default().to_string());
    }
    for (id, r) in template.of_kind("AWS::Serverless::StateMachine") {
        let names = Names { template, prefix, parameters: params.clone(), stack: &stack };
        let definition = state_machine_definition(template, &names, &r.properties).with_context(|| format!("definition of {id}"))?;
        let out = clients
            .sfn
            .create_state_machine()
            .name(format!("{prefix}-{id}"))
            .definition(definition)
            .role_arn(format!("arn:aws:iam::{}:role/{prefix}-{id}", stack.account))
            .r#type(aws_sdk_sfn::types::StateMachineType::Standard)
            .send()
            .await
            .with_context(|| format!("creating state machine {id}"))?;
        stack.state_machines.insert(id.clone(), out.state_machine_arn().to_string());
    }
    // EventBridge rules on the default bus, after the queues they target.
    let events = aws_sdk_eventbridge::Client::new(&config);
    for (id, r) in template.of_kind("AWS::Events::Rule") {
        let names = Names { template, prefix, parameters: params.clone(), stack: &stack };
        let pattern = names.json(prop(&r.properties, "EventPattern").ok_or_else(|| anyhow!("{id}: only rules with an EventPattern are supported locally"))?)?;
        let state = prop(&r.properties, "State").map(|s| names.resolve(s)).transpose()?.unwrap_or_else(|| "ENABLED".into());
        let out = events
            .put_rule()
            .name(format!("{prefix}-{id}"))
            .event_pattern(pattern.to_string())
            .state(state.as_str().into())
            .send()
            .await
            .with_context(|| format!("creating rule {id}"))?;
        let mut targets = Vec::new();
        for t in prop(&r.properties, "Targets").and_then(Value::as_sequence).into_iter().flatten() {
            let field = |k: &str| prop(t, k).ok_or_else(|| anyhow!("{id}: a target without {k}")).and_then(|v| names.resolve(v));
            targets.push(aws_sdk_eventbridge::types::Target::builder().id(field("Id")?).arn(field("Arn")?).build()?);
        }
        events.put_targets().rule(format!("{prefix}-{id}")).set_targets(Some(targets)).send().await.with_context(|| format!("targets of rule {id}"))?;
        stack.rules.insert(id.clone(), out.rule_arn().unwrap_or_default().to_string());
    }
    stack.observer = create_queue(clients, &format!("{prefix}-Observer")).await?;
    for arn in stack.topics.values() {
        clients.sns().subscribe().topic_arn(arn).protocol("sqs").endpoint(&stack.observer.arn).send().await?;
    }
    let functions = template.functions()?;
    let names = Names { template, prefix, parameters: params.clone(), stack: &stack };
    let resolved = functions.iter().map(|f| local_function(&names, f)).collect::<Result<Vec<_>>>()?;
    stack.functions = resolved;
    Ok(stack)
}

/// The ASL file with the template's DefinitionSubstitutions applied, as SAM does.
pub fn state_machine_definition(template: &Template, names: &impl Resolve, properties: &Value) -> Result<String> {
    let uri = prop(properties, "DefinitionUri").and_then(Value::as_str).ok_or_else(|| anyhow!("DefinitionUri missing"))?;
    let mut text = template.read_relative(uri)?;
    for (k, v) in prop(properties, "DefinitionSubstitutions").and_then(Value::as_mapping).into_iter().flatten() {
        let key = k.as_str().unwrap_or_default();
        text = text.replace(&format!("${{{key}}}"), &names.resolve_value(v)?);
    }
    serde_json::from_str::<serde_json::Value>(&text).with_context(|| format!("{uri} is not JSON after substitution"))?;
    Ok(text)
}

/// Resolves template values to local physical values.
pub trait Resolve {
    fn resolve_value(&self, v: &Value) -> Result<String>;
}

impl Resolve for Names<'_> {
    fn resolve_value(&self, v: &Value) -> Result<String> {
        self.resolve(v)
    }
}

impl Stack {
    /// A resolver over this stack's names, for reading the template against what was created.
    pub fn resolver<'a>(&'a self, template: &'a Template) -> impl Resolve + 'a {
        Names { template, prefix: &self.prefix, parameters: self.parameters.clone(), stack: self }
    }
}

fn local_function(names: &Names<'_>, f: &FunctionDef) -> Result<LocalFunction> {
    let env = f.env.iter().map(|(k, v)| Ok((k.clone(), names.resolve(v).with_context(|| format!("{}: {k}", f.logical_id))?))).collect::<Result<_>>()?;
    let sqs = f
        .sqs
        .iter()
        .map(|s| {
            let q = names.stack.queues.get(&s.queue).ok_or_else(|| anyhow!("{}: no queue {}", f.logical_id, s.queue))?;
            let max_concurrency = match &s.max_concurrency {
                Some(v) => names.resolve(v)?.parse()?,
                None => 1000,
            };
            Ok(LocalSqsSource {
                queue: s.queue.clone(),
                queue_url: q.url.clone(),
                queue_arn: q.arn.clone(),
                batch_size: s.batch_size,
                batching_window: std::time::Duration::from_secs(s.batching_window_seconds).min(LOCAL_BATCHING_WINDOW),
                max_concurrency,
                report_batch_item_failures: s.report_batch_item_failures,
            })
        })
        .collect::<Result<_>>()?;
    let schedules = f.schedules.iter().map(|v| names.resolve(v)).collect::<Result<_>>()?;
    Ok(LocalFunction { logical_id: f.logical_id.clone(), binary: f.binary.clone(), env, sqs, schedules, timeout_seconds: f.timeout_seconds })
}

async fn create_queue(clients: &Clients, name: &str) -> Result<QueueRef> {
    let out = clients.sqs.create_queue().queue_name(name).send().await?;
    let url = out.queue_url().unwrap_or_default().to_string();
    let attrs = clients.sqs.get_queue_attributes().queue_url(&url).attribute_names(QueueAttributeName::QueueArn).send().await?;
    let arn = attrs.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).cloned().unwrap_or_default();
    Ok(QueueRef { name: name.to_string(), url, arn })
}

async fn create_table(clients: &Clients, name: &str, p: &Value) -> Result<()> {
    let attrs = prop(p, "AttributeDefinitions")
        .and_then(Value::as_sequence)
        .ok_or_else(|| anyhow!("AttributeDefinitions missing"))?
        .iter()
        .map(|a| {
            let n = prop(a, "AttributeName").and_then(Value::as_str).unwrap_or_default();
            let t = match prop(a, "AttributeType").and_then(Value::as_str) {
                Some("S") => ScalarAttributeType::S,
                Some("N") => ScalarAttributeType::N,
                Some("B") => ScalarAttributeType::B,
                other => bail!("AttributeType {other:?}"),
            };
            Ok(AttributeDefinition::builder().attribute_name(n).attribute_type(t).build()?)
        })
        .collect::<Result<Vec<_>>>()?;
    let billing = match prop(p, "BillingMode").and_then(Value::as_str) {
        Some("PAY_PER_REQUEST") => BillingMode::PayPerRequest,
        other => bail!("the local stack creates on-demand tables only (BillingMode {other:?})"),
    };
    let mut req = clients
        .dynamodb
        .create_table()
        .table_name(name)
        .set_attribute_definitions(Some(attrs))
        .set_key_schema(Some(key_schema(prop(p, "KeySchema"))?))
        .billing_mode(billing);
    for g in prop(p, "GlobalSecondaryIndexes").and_then(Value::as_sequence).into_iter().flatten() {
        let projection = match prop(g, "Projection").and_then(|x| prop(x, "ProjectionType")).and_then(Value::as_str) {
            Some("KEYS_ONLY") => ProjectionType::KeysOnly,
            Some("INCLUDE") => ProjectionType::Include,
            _ => ProjectionType::All,
        };
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(prop(g, "IndexName").and_then(Value::as_str).unwrap_or_default())
                .set_key_schema(Some(key_schema(prop(g, "KeySchema"))?))
                .projection(Projection::builder().projection_type(projection).build())
                .build()?,
        );
    }
    req.send().await?;
    let pitr = prop(p, "PointInTimeRecoverySpecification")
        .and_then(|x| prop(x, "PointInTimeRecoveryEnabled"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if pitr {
        clients
            .dynamodb
            .update_continuous_backups()
            .table_name(name)
            .point_in_time_recovery_specification(PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(true).build()?)
            .send()
            .await?;
    }
    Ok(())
}
