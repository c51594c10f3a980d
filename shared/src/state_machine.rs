//! The state machine's contract with the Rust code, checked: infra/statemachine/task.asl.json
//! names attributes, writes status strings and a recheck day, reads the execution's input and the
//! outcome the functions send back, sends control messages and publishes the completion event.
//! Each of those is defined once in Rust; these tests fail when the definition says otherwise.

use crate::adapters::dynamo::{RECHECK, UNPUBLISHED, attr};
use crate::messages::TaskEvent;
use crate::domain::{Outcome, TaskId, TaskStatus};
use crate::messages::{ControlMessage, ExecutionInput};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

const DEFINITION: &str = include_str!("../../infra/statemachine/task.asl.json");

/// The definition as SAM substitutes it: each `${Name}` a value of the right type.
fn definition() -> Value {
    let text = DEFINITION.replace("${TaskTimeoutSeconds}", "86400");
    let text = substitute(&text);
    serde_json::from_str(&text).expect("the definition is JSON once substituted")
}

/// Replaces the remaining `${Name}` (all inside strings) with `Name`.
fn substitute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').expect("a closed substitution") + start;
        out.push_str(&rest[..start]);
        out.push_str(&rest[start + 2..end]);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Every state, with the names of nested ones.
fn states(definition: &Value) -> Vec<(String, &Value)> {
    definition["States"].as_object().expect("States").iter().map(|(name, state)| (name.clone(), state)).collect()
}

fn state<'a>(definition: &'a Value, name: &str) -> &'a Value {
    definition["States"].get(name).unwrap_or_else(|| panic!("no state {name}"))
}

/// The keys of an object, with the `.$` of a path-valued key taken off.
fn keys(params: &Value) -> BTreeSet<String> {
    params.as_object().expect("an object").keys().map(|k| k.trim_end_matches(".$").to_string()).collect()
}

fn keys_of<T: serde::Serialize>(value: &T) -> BTreeSet<String> {
    keys(&serde_json::to_value(value).expect("serializes"))
}

fn sample_task() -> TaskId {
    TaskId::parse("t-0123456789abcdef0123456789abcdef").expect("a task id")
}

fn sample_outcome() -> Outcome {
    Outcome::refused(&sample_task(), "why".into(), "ACTIVE", crate::domain::StorageClass::Standard.into())
}

/// Every JSONPath the definition reads (values of `*.$` keys and Choice variables), recursively.
fn paths(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(p) if k.ends_with(".$") || k == "Variable" => out.push(p.clone()),
                    _ => paths(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| paths(v, out)),
        _ => {}
    }
}

/// The attribute names an update or condition expression names: words that are not keywords,
/// functions or `:values`.
fn expression_names(expression: &str) -> BTreeSet<String> {
    const WORDS: [&str; 9] = ["SET", "REMOVE", "ADD", "DELETE", "AND", "OR", "NOT", "IN", "attribute_exists"];
    expression
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| !w.is_empty() && !w.starts_with(':') && !WORDS.contains(w) && w.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_dynamodb_states_name_only_attributes_the_rust_code_defines() {
    let definition = definition();
    let mut checked = 0;
    for (name, state) in states(&definition) {
        if state["Resource"] != "arn:aws:states:::dynamodb:updateItem" {
            continue;
        }
        let params = &state["Parameters"];
        let known: &[&str] = match params["TableName"].as_str() {
            Some("TasksTable") => &attr::TASKS,
            Some("AssetsTable") => &attr::ASSETS,
            other => panic!("{name}: an unknown table {other:?}"),
        };
        let mut named = keys(&params["Key"]);
        for field in ["UpdateExpression", "ConditionExpression"] {
            named.extend(params[field].as_str().map(expression_names).unwrap_or_default());
        }
        for attribute in &named {
            assert!(known.contains(&attribute.as_str()), "{name} names {attribute:?}, which is not among the Rust constants {known:?}");
        }
        checked += 1;
    }
    assert_eq!(checked, 6, "Claim, Record, Release, RecordFailure, ReleaseAfterFailure and KeepEvent");
}

#[test]
fn the_values_the_state_machine_writes_are_the_rust_constants() {
    let definition = definition();
    let expected = |placeholder: &str| -> Option<&'static str> {
        Some(match placeholder {
            ":running" => TaskStatus::Running.as_str(),
            ":pending" => TaskStatus::Pending.as_str(),
            ":failed" => TaskStatus::Failed.as_str(),
            ":recheck" => RECHECK,
            ":unpublished" => UNPUBLISHED,
            _ => return None,
        })
    };
    let mut checked = BTreeSet::new();
    for (name, state) in states(&definition) {
        let Some(values) = state["Parameters"]["ExpressionAttributeValues"].as_object() else { continue };
        for (placeholder, value) in values {
            let Some(literal) = value.get("S").and_then(Value::as_str) else { continue };
            let want = expected(placeholder).unwrap_or_else(|| panic!("{name} writes {placeholder} = {literal:?}, which no Rust constant defines"));
            assert_eq!(literal, want, "{name}: {placeholder}");
            checked.insert(placeholder.clone());
        }
    }
    assert_eq!(checked.len(), 5, "every constant is written somewhere: {checked:?}");
    // The failure path's outcome and the final choice speak the Rust status and event type.
    let failed = &state(&definition, "Failed")["Parameters"];
    let refused = sample_outcome();
    assert_eq!(failed["status"], refused.status.as_str());
    assert_eq!(failed["event_type"], refused.event_type.as_str());
    assert_eq!(refused.event_id, format!("{}:{}", sample_task(), refused.event_type), "the event id the Failed state formats");
    assert_eq!(failed["event_id.$"], "States.Format('{}:TaskFailed', $.task_id)");
    let ended = &state(&definition, "Ended")["Choices"][0];
    assert_eq!(ended["StringEquals"], TaskStatus::Failed.as_str());
}

#[test]
fn the_failure_path_builds_the_outcome_the_functions_send() {
    let definition = definition();
    assert_eq!(keys(&state(&definition, "Failed")["Parameters"]), keys_of(&sample_outcome()));
    let mut read = Vec::new();
    paths(&definition, &mut read);
    let fields = keys_of(&sample_outcome());
    for path in read.iter().filter_map(|p| p.strip_prefix("$.outcome.")) {
        assert!(fields.contains(path), "the definition reads $.outcome.{path}, which Outcome does not have");
    }
}

#[test]
fn the_definition_reads_only_fields_of_the_execution_input() {
    let definition = definition();
    let input = ExecutionInput {
        task_id: sample_task().to_string(),
        asset_id: "a".into(),
        action: "archive".into(),
        asset_type: "editorial".into(),
        title_id: "t".into(),
        closing: Some("why".into()),
    };
    let fields = keys_of(&input);
    // What the definition itself puts into its state: the outcome, errors, the event.
    let own = ["outcome", "error", "publish_error", "event"];
    let mut read = Vec::new();
    paths(&definition, &mut read);
    let mut roots = BTreeSet::new();
    for path in &read {
        // Intrinsic functions: their path arguments.
        for part in path.split(['(', ')', ',', ' ']).filter(|p| p.starts_with("$.")) {
            let root = part[2..].split('.').next().unwrap_or_default().to_string();
            if !own.contains(&root.as_str()) {
                roots.insert(root);
            }
        }
    }
    assert!(!roots.is_empty());
    for root in &roots {
        assert!(fields.contains(root), "the definition reads $.{root}, which ExecutionInput does not have");
    }
    assert!(roots.contains("closing"), "the closing execution's marker is read");
}

#[test]
fn the_messages_the_state_machine_sends_are_control_messages() {
    let definition = definition();
    let task = sample_task();
    let sample = |path: &str| -> Value {
        match path {
            "$.task_id" => json!(task.as_str()),
            "$$.Task.Token" => json!("token"),
            "$.asset_id" => json!("asset-1"),
            other => panic!("a message reads {other}, which this test does not know"),
        }
    };
    let mut sent = Vec::new();
    for (name, state) in states(&definition) {
        let Some(body) = state["Parameters"]["MessageBody"].as_object() else { continue };
        let message: Map<String, Value> = body
            .iter()
            .map(|(k, v)| match k.strip_suffix(".$") {
                Some(k) => (k.to_string(), sample(v.as_str().expect("a path"))),
                None => (k.clone(), v.clone()),
            })
            .collect();
        let parsed: ControlMessage = serde_json::from_value(Value::Object(message)).unwrap_or_else(|e| panic!("{name}'s message is no control message: {e}"));
        sent.push(parsed);
    }
    assert_eq!(
        sent,
        vec![
            ControlMessage::Plan { task_id: task.clone(), task_token: "token".into() },
            ControlMessage::StartQueued { asset_id: "asset-1".into() },
        ]
    );
}

#[test]
fn the_published_event_is_the_task_event_with_its_attributes() {
    let definition = definition();
    let event = TaskEvent {
        event_id: "e".into(),
        event_type: "TaskCompleted".into(),
        task_id: sample_task().to_string(),
        asset_id: "a".into(),
        title_id: "t".into(),
        asset_type: "editorial".into(),
        action: "archive".into(),
        status: "SUCCEEDED".into(),
        succeeded: 1,
        failed: 0,
        skipped: 0,
        reason: String::new(),
    };
    assert_eq!(keys(&state(&definition, "Announce")["Parameters"]), keys_of(&event));
    let publish = &state(&definition, "Publish")["Parameters"];
    assert_eq!(publish["Message.$"], "$.event");
    let attributes = publish["MessageAttributes"].as_object().expect("MessageAttributes");
    let names: BTreeSet<&str> = attributes.keys().map(String::as_str).collect();
    assert_eq!(names, event.attributes().iter().map(|(n, _)| *n).collect());
    for (name, attribute) in attributes {
        assert_eq!(attribute["StringValue.$"], format!("$.event.{name}"), "the attribute {name} is the event's field");
    }
    // The event the reconciler publishes when SNS refused it: the same document, kept as text.
    let keep = &state(&definition, "KeepEvent")["Parameters"]["ExpressionAttributeValues"][":event"];
    assert_eq!(keep["S.$"], "States.JsonToString($.event)");
}

#[test]
fn the_expression_reader_finds_names_and_skips_values_and_keywords() {
    let names = expression_names("SET task_status = :s, reason = :r REMOVE task_token, open_shard");
    assert_eq!(names, ["open_shard", "reason", "task_status", "task_token"].map(String::from).into());
    assert_eq!(expression_names("task_status IN (:pending, :running)"), ["task_status".to_string()].into());
}
