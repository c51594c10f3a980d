//! template.yaml read as data: the resources, parameters and function wiring that the local stack
//! creates on the emulator, so that both run from one definition.

use anyhow::{Context, Result, anyhow, bail};
use serde_yaml_ng::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Resource {
    pub kind: String,
    pub properties: Value,
    pub metadata: Value,
}

#[derive(Debug, Clone)]
pub struct Template {
    /// The directory of a template read from a file, whose DefinitionUri files lie beside it;
    /// None for the project's template, whose files are the project's (see [`crate::files`]).
    pub root: Option<PathBuf>,
    pub parameters: BTreeMap<String, Value>,
    /// The parameters that are lists (`CommaDelimitedList`, `List<...>`): a `!Ref` to one is a list.
    pub list_parameters: BTreeSet<String>,
    pub resources: BTreeMap<String, Resource>,
    pub globals_env: BTreeMap<String, Value>,
    /// Globals.Function.Timeout, seconds.
    pub globals_timeout: Option<u64>,
    /// Globals.Function.MemorySize, MB.
    pub globals_memory: Option<u64>,
}

/// An SQS event source of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsSource {
    pub queue: String,
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds`: how long Lambda gathers messages before it invokes
    /// with a batch that is not full (0: at once).
    pub batching_window_seconds: u64,
    pub max_concurrency: Option<Value>,
    pub report_batch_item_failures: bool,
}

/// A function as the template declares it.
#[derive(Debug, Clone)]
pub struct FunctionDef {
    pub logical_id: String,
    pub binary: String,
    pub env: BTreeMap<String, Value>,
    pub sqs: Vec<SqsSource>,
    pub schedules: Vec<Value>,
    /// Seconds an invocation may run (the function's Timeout, or the Globals', or Lambda's 3).
    pub timeout_seconds: u64,
    /// The function's memory, MB (its MemorySize, or the Globals', or Lambda's 128).
    pub memory_mb: u64,
}

/// The resource kinds that act with a role of their own.
pub const PRINCIPAL_KINDS: [&str; 2] = ["AWS::Serverless::Function", "AWS::Serverless::StateMachine"];

/// Short-form tags (`!Ref X`) and long-form maps (`Ref: X`) read the same.
pub fn intrinsic(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((t.tag.to_string().trim_start_matches('!').to_string(), &t.value)),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, v) = m.iter().next()?;
            let k = k.as_str()?;
            (k == "Ref" || k.starts_with("Fn::")).then(|| (k.trim_start_matches("Fn::").to_string(), v))
        }
        _ => None,
    }
}

pub(crate) fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping()?.get(key)
}

/// A YAML list, or a single value as a list of one.
pub(crate) fn list(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Sequence(s)) => s.iter().collect(),
        Some(other) => vec![other],
        None => vec![],
    }
}

/// A policy statement, or the statement an `!If [Condition, statement, !Ref AWS::NoValue]` makes
/// when its condition holds (a grant that exists only with some parameters is still a grant);
/// None for another intrinsic in a statement's place.
pub(crate) fn statement(v: &Value) -> Option<&Value> {
    match intrinsic(v) {
        Some((f, arg)) if f == "If" => arg.as_sequence().and_then(|s| s.get(1)).and_then(statement),
        Some(_) => None,
        None => Some(v),
    }
}

impl Template {
    /// The project's template.yaml (the checkout's or the embedded one, see [`crate::files`]).
    pub fn load_default() -> Result<Self> {
        let text = crate::files::TEMPLATE.text()?;
        Self::parse_in(&text, None).context("parsing template.yaml")
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text, path).with_context(|| format!("parsing {}", path.display()))
    }

    /// A template from its text; `path` names where it lives (files it refers to are beside it).
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        Self::parse_in(text, Some(path.parent().map(Path::to_path_buf).unwrap_or_default()))
    }

    /// A file the template refers to (a DefinitionUri), relative to where the template lives.
    pub fn read_relative(&self, uri: &str) -> Result<String> {
        match &self.root {
            Some(dir) => std::fs::read_to_string(dir.join(uri)).with_context(|| format!("reading {uri}")),
            None => Ok(crate::files::named(uri).ok_or_else(|| anyhow!("{uri} is not one of the project's files (files::ALL)"))?.text()?.into_owned()),
        }
    }

    fn parse_in(text: &str, root: Option<PathBuf>) -> Result<Self> {
        let doc: Value = serde_yaml_ng::from_str(text)?;
        let mapping = |key: &str| get(&doc, key).and_then(Value::as_mapping).cloned().unwrap_or_default();
        let parameters = mapping("Parameters")
            .into_iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), get(&v, "Default").cloned().unwrap_or(Value::Null))))
            .collect();
        let list_parameters = mapping("Parameters")
            .into_iter()
            .filter(|(_, v)| get(v, "Type").and_then(Value::as_str).is_some_and(|t| t == "CommaDelimitedList" || t.starts_with("List<")))
            .filter_map(|(k, _)| Some(k.as_str()?.to_string()))
            .collect();
        let resources = mapping("Resources")
            .into_iter()
            .map(|(k, v)| {
                let id = k.as_str().ok_or_else(|| anyhow!("resource id is not a string"))?.to_string();
                let kind = get(&v, "Type").and_then(Value::as_str).ok_or_else(|| anyhow!("{id} has no Type"))?.to_string();
                let properties = get(&v, "Properties").cloned().unwrap_or(Value::Null);
                let metadata = get(&v, "Metadata").cloned().unwrap_or(Value::Null);
                Ok((id, Resource { kind, properties, metadata }))
            })
            .collect::<Result<_>>()?;
        let globals_env = get(&doc, "Globals")
            .and_then(|g| get(g, "Function"))
            .and_then(|f| get(f, "Environment"))
            .and_then(|e| get(e, "Variables"))
            .and_then(Value::as_mapping)
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.clone()))).collect())
            .unwrap_or_default();
        let globals_timeout = get(&doc, "Globals").and_then(|g| get(g, "Function")).and_then(|f| get(f, "Timeout")).and_then(Value::as_u64);
        let globals_memory = get(&doc, "Globals").and_then(|g| get(g, "Function")).and_then(|f| get(f, "MemorySize")).and_then(Value::as_u64);
        Ok(Template { root, parameters, list_parameters, resources, globals_env, globals_timeout, globals_memory })
    }

    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a String, &'a Resource)> + 'a {
        self.resources.iter().filter(move |(_, r)| r.kind == kind)
    }

    /// The principals of the stack: its functions and state machines, each with the logical id
    /// of the role its `Role: !GetAtt <Role>.Arn` names (None: no role of the template).
    pub fn principals(&self) -> impl Iterator<Item = (&String, Option<&str>)> + '_ {
        self.resources.iter().filter(|(_, r)| PRINCIPAL_KINDS.contains(&r.kind.as_str())).map(|(id, r)| {
            let role = get(&r.properties, "Role")
                .and_then(intrinsic)
                .filter(|(f, _)| f == "GetAtt")
                .and_then(|(_, arg)| getatt_target(arg))
                .and_then(|role| self.resources.get_key_value(&role))
                .filter(|(_, res)| res.kind == "AWS::IAM::Role")
                .map(|(role, _)| role.as_str());
            (id, role)
        })
    }

    /// The inline policies of role `role`: (policy name, statements as written; an `!If` in a
    /// statement's place is read with [`statement`]).
    pub fn role_policies(&self, role: &str) -> Vec<(String, Option<&Value>)> {
        let Some(r) = self.resources.get(role) else { return vec![] };
        list(get(&r.properties, "Policies"))
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let name = get(p, "PolicyName").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| format!("policy {i}"));
                (name, get(p, "PolicyDocument").and_then(|d| get(d, "Statement")))
            })
            .collect()
    }

    pub fn functions(&self) -> Result<Vec<FunctionDef>> {
        self.of_kind("AWS::Serverless::Function").map(|(id, r)| function_def(self, id, r)).collect()
    }
}

fn function_def(t: &Template, id: &str, r: &Resource) -> Result<FunctionDef> {
    let binary = get(&r.metadata, "BuildProperties")
        .and_then(|b| get(b, "Binary"))
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("{id} has no Metadata.BuildProperties.Binary"))?
        .to_string();
    let mut env = t.globals_env.clone();
    if let Some(vars) = get(&r.properties, "Environment").and_then(|e| get(e, "Variables")).and_then(Value::as_mapping) {
        for (k, v) in vars {
            env.insert(k.as_str().unwrap_or_default().to_string(), v.clone());
        }
    }
    let mut sqs = Vec::new();
    let mut schedules = Vec::new();
    for (name, event) in get(&r.properties, "Events").and_then(Value::as_mapping).into_iter().flatten() {
        let props = get(event, "Properties").cloned().unwrap_or(Value::Null);
        match get(event, "Type").and_then(Value::as_str) {
            Some("SQS") => {
                let queue = get(&props, "Queue").and_then(intrinsic).and_then(|(f, v)| match f.as_str() {
                    "GetAtt" => getatt_target(v),
                    _ => None,
                });
                let queue = queue.ok_or_else(|| anyhow!("{id}.{name:?}: Queue must be !GetAtt <Queue>.Arn"))?;
                let batch_size = get(&props, "BatchSize").and_then(Value::as_u64).unwrap_or(10) as usize;
                let batching_window_seconds = get(&props, "MaximumBatchingWindowInSeconds").and_then(Value::as_u64).unwrap_or(0);
                let report = get(&props, "FunctionResponseTypes")
                    .and_then(Value::as_sequence)
                    .is_some_and(|s| s.iter().any(|v| v.as_str() == Some("ReportBatchItemFailures")));
                let max_concurrency = get(&props, "ScalingConfig").and_then(|s| get(s, "MaximumConcurrency")).cloned();
                sqs.push(SqsSource { queue, batch_size, batching_window_seconds, max_concurrency, report_batch_item_failures: report });
            }
            Some("Schedule") | Some("ScheduleV2") => schedules.push(get(&props, "Schedule").cloned().unwrap_or(Value::Null)),
            Some("HttpApi") | Some("Api") => {}
            other => bail!("{id}: event type {other:?} is not supported by the local stack"),
        }
    }
    let timeout_seconds = get(&r.properties, "Timeout").and_then(Value::as_u64).or(t.globals_timeout).unwrap_or(3);
    let memory_mb = get(&r.properties, "MemorySize").and_then(Value::as_u64).or(t.globals_memory).unwrap_or(128);
    Ok(FunctionDef { logical_id: id.to_string(), binary, env, sqs, schedules, timeout_seconds, memory_mb })
}

/// `!GetAtt Queue.Arn` or `Fn::GetAtt: [Queue, Arn]` -> "Queue".
pub fn getatt_target(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => s.split('.').next().map(str::to_string),
        Value::Sequence(seq) => seq.first()?.as_str().map(str::to_string),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        serde_yaml_ng::from_str(&crate::files::TEMPLATE.text().unwrap()).unwrap()
    }

    fn number(v: Option<&Value>) -> Option<u64> {
        v.and_then(Value::as_u64)
    }

    #[test]
    fn every_queue_a_function_reads_stays_invisible_six_times_its_timeout() {
        // Lambda's guide for SQS event sources: at least six times the function's timeout, so a
        // batch is not delivered to a second invocation while the first still works on it.
        let t = Template::load_default().unwrap();
        let mut checked = 0;
        for f in t.functions().unwrap() {
            let timeout = f.timeout_seconds;
            for source in &f.sqs {
                let visibility = number(get(&t.resources[&source.queue].properties, "VisibilityTimeout")).unwrap_or(30);
                assert!(visibility >= 6 * timeout, "{}: {} visibility {visibility}s < 6 x {timeout}s", f.logical_id, source.queue);
                checked += 1;
            }
        }
        assert!(checked >= 4, "only {checked} event sources found");
    }

    #[test]
    fn the_registry_survives_the_deletion_or_replacement_of_the_stack() {
        let doc = doc();
        let resources = get(&doc, "Resources").and_then(Value::as_mapping).unwrap();
        let tables: Vec<_> = resources.iter().filter(|(_, r)| get(r, "Type").and_then(Value::as_str) == Some("AWS::DynamoDB::Table")).collect();
        assert!(tables.len() >= 10);
        for (id, r) in tables {
            for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
                assert_eq!(get(r, policy).and_then(Value::as_str), Some("Retain"), "{id:?} {policy}");
            }
        }
    }

    #[test]
    fn no_arn_names_a_partition() {
        // China and GovCloud are partitions of their own (aws-cn, aws-us-gov): an ARN written
        // with `arn:aws:` grants nothing there. Only the administrator's pattern names them all.
        let text = crate::files::TEMPLATE.text().unwrap();
        let literal: Vec<_> = text.lines().filter(|l| l.contains("arn:aws") && !l.contains("arn:aws(-cn|-us-gov)?:iam::")).collect();
        assert_eq!(literal, Vec::<&str>::new());
    }

    /// The metrics a dashboard widget names: (namespace, metric, dimension names), from its
    /// metric arrays and its SEARCH expressions.
    fn widget_metrics(widget: &serde_json::Value) -> Vec<(String, String, Vec<String>)> {
        let mut out = Vec::new();
        for m in widget["properties"]["metrics"].as_array().expect("a metric widget lists metrics") {
            let items = m.as_array().expect("a metric entry is an array");
            match items.first() {
                Some(serde_json::Value::String(namespace)) => {
                    let names: Vec<&str> = items.iter().take_while(|v| v.is_string()).filter_map(|v| v.as_str()).collect();
                    let dims = names[2..].chunks(2).map(|pair| pair[0].to_string()).collect();
                    out.push((namespace.clone(), names[1].to_string(), dims));
                }
                Some(serde_json::Value::Object(e)) => {
                    let expression = e["expression"].as_str().expect("an expression");
                    let mut rest = expression;
                    while let Some(at) = rest.find("SEARCH('{") {
                        rest = &rest[at + "SEARCH('{".len()..];
                        let schema: Vec<String> = rest[..rest.find('}').unwrap()].split(',').map(str::to_string).collect();
                        let name_at = rest.find("MetricName=\"").unwrap() + "MetricName=\"".len();
                        let name = &rest[name_at..name_at + rest[name_at..].find('"').unwrap()];
                        out.push((schema[0].clone(), name.to_string(), schema[1..].to_vec()));
                    }
                    assert!(expression.contains("SEARCH("), "an expression that searches nothing: {expression}");
                }
                other => panic!("a metric entry {other:?}"),
            }
        }
        out
    }

    #[test]
    fn every_dashboard_widget_and_alarm_names_a_metric_slm_records_or_aws_publishes_and_every_metric_is_shown() {
        let t = Template::load_default().unwrap();
        let body = get(&t.resources["Dashboard"].properties, "DashboardBody").and_then(intrinsic).and_then(|(f, v)| (f == "Sub").then_some(v)).and_then(Value::as_str).unwrap();
        // The namespace parameter becomes a marker, every other substitution a name.
        let mut text = body.replace("${MetricsNamespace}", "SLM-NAMESPACE");
        while let Some(at) = text.find("${") {
            let end = at + text[at..].find('}').unwrap();
            text.replace_range(at..=end, "name");
        }
        let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard body is JSON");
        let aws: BTreeMap<&str, &[&str]> = BTreeMap::from([
            ("AWS/SQS", &["ApproximateNumberOfMessagesVisible"][..]),
            ("AWS/States", &["ExecutionsFailed", "ExecutionsTimedOut"][..]),
            ("AWS/Lambda", &["Errors", "Throttles"][..]),
        ]);
        let check = |namespace: &str, name: &str, dims: &[String], at: &str| {
            if namespace == "SLM-NAMESPACE" {
                let m = slm_core::metrics::ALL.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("{at}: slm records no metric {name}"));
                let dims: Vec<&str> = dims.iter().map(String::as_str).collect();
                assert!(dims == m.dimensions || (dims.is_empty() && m.total), "{at}: {name} is recorded with {:?}, not {dims:?}", m.dimensions);
            } else {
                assert!(aws.get(namespace).is_some_and(|names| names.contains(&name)), "{at}: {namespace} {name} is not a metric AWS publishes for slm's resources");
            }
        };
        let mut shown = BTreeSet::new();
        let widgets = dashboard["widgets"].as_array().unwrap();
        assert!(widgets.len() >= 8);
        for w in widgets {
            let title = w["properties"]["title"].as_str().unwrap().to_string();
            let metrics = widget_metrics(w);
            assert!(!metrics.is_empty(), "{title}: no metric");
            for (namespace, name, dims) in metrics {
                check(&namespace, &name, &dims, &title);
                shown.insert(name);
            }
        }
        for m in slm_core::metrics::ALL {
            assert!(shown.contains(m.name), "{} is recorded but not on the dashboard", m.name);
        }
        let mut alarms = 0;
        for (id, alarm) in t.of_kind("AWS::CloudWatch::Alarm") {
            let props = &alarm.properties;
            let stats: Vec<&Value> = match get(props, "Metrics").and_then(Value::as_sequence) {
                Some(queries) => queries.iter().filter_map(|q| get(q, "MetricStat").and_then(|s| get(s, "Metric"))).collect(),
                None => vec![props],
            };
            for m in stats {
                let namespace = match get(m, "Namespace") {
                    Some(v) if intrinsic(v).is_some_and(|(f, a)| f == "Ref" && a.as_str() == Some("MetricsNamespace")) => "SLM-NAMESPACE".to_string(),
                    Some(v) => v.as_str().unwrap_or_default().to_string(),
                    None => panic!("{id}: no namespace"),
                };
                let dims: Vec<String> = list(get(m, "Dimensions")).iter().filter_map(|d| get(d, "Name").and_then(Value::as_str)).map(str::to_string).collect();
                check(&namespace, get(m, "MetricName").and_then(Value::as_str).unwrap(), &dims, id);
                alarms += 1;
            }
            let actions = list(get(props, "AlarmActions"));
            assert!(actions.iter().any(|a| intrinsic(a).is_some_and(|(f, v)| f == "Ref" && v.as_str() == Some("AlarmTopic"))), "{id} does not tell the alarm topic");
        }
        // Four dead-letter queues, two of the state machine, six functions twice, the reconciler.
        assert_eq!(alarms, 4 + 2 + 12 + 1, "alarm metrics");
    }
}
