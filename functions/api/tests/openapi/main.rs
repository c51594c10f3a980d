//! docs/openapi.yaml against the code: the router and the description have the same routes (and
//! the template gives API Gateway each of them), every example fits its schema, request examples
//! are bodies the API accepts, response examples are what the code's types write, error examples
//! carry the kind their status answers, and the completion event is the one the state machine
//! publishes. The last tests break a copy of the description to show that the checks fail.

mod describe;
mod router;
mod samples;
mod schemas;

use describe::{bodies, dangling_refs, described_routes, operations, path_parameter_mismatches, route_differences};
use serde_json::{Value, json};
use slm_core::ErrorKind;
use std::collections::BTreeSet;

fn read(relative: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn description() -> Value {
    describe::parse(&read("../../docs/openapi.yaml"))
}

fn router_routes() -> BTreeSet<router::Route> {
    router::router_routes(&read("src/routes.rs")).expect("the router's routes read")
}

fn none(problems: Vec<String>) {
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn the_router_and_the_description_have_the_same_routes() {
    none(route_differences(&router_routes(), &described_routes(&description())));
}

#[test]
fn the_template_gives_api_gateway_every_described_route() {
    let template: serde_yaml_ng::Value = serde_yaml_ng::from_str(&read("../../template.yaml")).expect("template.yaml is YAML");
    let template = serde_json::to_value(template).expect("the template as JSON");
    let events = template["Resources"].as_object().into_iter().flatten().flat_map(|(_, r)| r["Properties"]["Events"].as_object().into_iter().flatten());
    let gateway: BTreeSet<router::Route> = events
        .filter(|(_, e)| e["Type"] == "HttpApi")
        .map(|(_, e)| (e["Properties"]["Method"].as_str().unwrap_or_default().to_uppercase(), describe::normalize(e["Properties"]["Path"].as_str().unwrap_or_default())))
        .collect();
    none(route_differences(&gateway, &described_routes(&description())));
}

#[test]
fn every_body_has_an_example_and_every_example_fits_its_schema() {
    let doc = description();
    assert!(bodies(&doc).unwrap().len() > operations(&doc, "paths").len(), "the bodies were not all found");
    none(schemas::example_failures(&doc));
}

#[test]
fn every_reference_resolves_every_placeholder_is_a_parameter_and_every_operation_answers_a_body() {
    let doc = description();
    assert_eq!(doc["openapi"], "3.1.0");
    none(dangling_refs(&doc));
    none(path_parameter_mismatches(&doc));
    let silent: Vec<String> = operations(&doc, "paths")
        .iter()
        .filter(|op| !op.op["responses"].as_object().unwrap().iter().any(|(status, r)| status.starts_with('2') && r.get("content").is_some()))
        .map(|op| op.name())
        .collect();
    assert!(silent.is_empty(), "operations without a success body: {silent:?}");
    let ids: Vec<&str> = operations(&doc, "paths").iter().filter_map(|op| op.op["operationId"].as_str()).collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), operations(&doc, "paths").len(), "every operation has its own operationId: {ids:?}");
}

#[test]
fn the_security_scheme_is_iam_sigv4_and_covers_every_operation() {
    let doc = description();
    let scheme = &doc["components"]["securitySchemes"]["sigv4"];
    assert_eq!((&scheme["type"], &scheme["in"], &scheme["name"]), (&json!("apiKey"), &json!("header"), &json!("Authorization")));
    assert_eq!(scheme["x-amazon-apigateway-authtype"], "awsSigv4");
    assert_eq!(doc["security"], json!([{ "sigv4": [] }]));
    let open: Vec<String> = operations(&doc, "paths").iter().filter(|op| op.op.get("security").is_some()).map(|op| op.name()).collect();
    assert!(open.is_empty(), "operations that set their own security: {open:?}");
}

#[test]
fn every_request_example_is_a_body_the_api_accepts() {
    let doc = description();
    let mut problems = Vec::new();
    let requests = bodies(&doc).unwrap().into_iter().filter_map(|b| Some((b.at.strip_suffix(" request")?.to_string(), b.examples)));
    // The webhook's body is the event, which has a test of its own.
    for (operation, examples) in requests.filter(|(op, _)| op != "POST taskCompleted") {
        for (name, example) in examples {
            if let Err(why) = samples::accepted(&operation, example) {
                problems.push(format!("{operation} request {name}: {why}"));
            }
        }
    }
    none(problems);
}

/// Success bodies the route writes with `json!` from values that are not one of the core's
/// types: their schemas alone describe them (the dry-run has a test of its own).
const SCHEMA_ONLY: [&str; 3] = ["POST /assets/{asset_id}/accesses 200", "GET /assets/{asset_id}/accesses 200", "POST /dry-run 200"];

#[test]
fn every_success_example_is_what_the_code_writes() {
    let doc = description();
    let mut problems = Vec::new();
    for body in bodies(&doc).unwrap().iter().filter(|b| b.status.as_deref().is_some_and(|s| s.starts_with('2'))) {
        let Some((pointer, check)) = samples::response_parts(&body.at) else {
            if !SCHEMA_ONLY.contains(&body.at.as_str()) {
                problems.push(format!("{}: no Rust type is named for it", body.at));
            }
            continue;
        };
        for (name, example) in &body.examples {
            let parts = samples::parts(example, pointer);
            if parts.is_empty() {
                problems.push(format!("{} {name}: nothing at {pointer}", body.at));
            }
            problems.extend(parts.into_iter().filter_map(|part| check(part).err()).map(|why| format!("{} {name}: {why}", body.at)));
        }
    }
    none(problems);
}

#[test]
fn the_dry_run_example_is_the_evaluation_the_code_writes() {
    let doc = description();
    let example = &doc["paths"]["/dry-run"]["post"]["responses"]["200"]["content"]["application/json"]["examples"]["due"]["value"];
    assert_eq!(&serde_json::to_value(samples::dry_run()).unwrap(), example);
}

fn error_kinds() -> [ErrorKind; 7] {
    use ErrorKind::*;
    let all = [Validation, NotFound, Forbidden, Conflict, Retryable, Dependency, Config];
    // Does not compile once the core has a kind this list lacks.
    all.map(|k| match k {
        Validation | NotFound | Forbidden | Conflict | Retryable | Dependency | Config => k,
    })
}

#[test]
fn the_error_kinds_are_the_core_s_and_each_example_answers_with_its_kind_s_status() {
    let doc = description();
    let described: BTreeSet<&str> = doc["components"]["schemas"]["Error"]["properties"]["error"]["enum"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(described, error_kinds().iter().map(|k| k.as_str()).collect());
    let mut problems = Vec::new();
    for body in bodies(&doc).unwrap() {
        let Some(Ok(status)) = body.status.as_deref().map(str::parse::<i64>) else { continue };
        for (name, example) in &body.examples {
            let Some(kind) = example["error"].as_str() else { continue };
            let answers = error_kinds().into_iter().find(|k| k.as_str() == kind).map(slm_api::status_of);
            if answers != Some(status) {
                problems.push(format!("{} {name}: {kind} is answered with {answers:?}", body.at));
            }
        }
    }
    none(problems);
}

/// The state machine's definition as JSON: the template's `${...}` substitutions read as 0.
fn state_machine() -> Value {
    let text = read("../../infra/statemachine/task.asl.json");
    let mut json = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("${") {
        let end = start + rest[start..].find('}').expect("a substitution ends");
        json.push_str(&rest[..start]);
        json.push('0');
        rest = &rest[end + 1..];
    }
    json.push_str(rest);
    serde_json::from_str(&json).expect("the state machine's definition reads as JSON")
}

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().into_iter().flatten().map(|(k, _)| k.trim_end_matches(".$").to_string()).collect()
}

#[test]
fn the_event_is_the_one_the_state_machine_announces_and_publishes() {
    let doc = description();
    let schemas = &doc["components"]["schemas"];
    let asl = state_machine();
    assert_eq!(keys(&asl["States"]["Announce"]["Parameters"]), keys(&schemas["TaskEvent"]["properties"]), "the Announce state's event");
    assert_eq!(keys(&asl["States"]["Publish"]["Parameters"]["MessageAttributes"]), keys(&schemas["TaskEventAttributes"]["properties"]), "the Publish state's attributes");
    let event: slm_core::messages::TaskEvent = serde_json::from_value(event_examples(&doc)["completed"]["value"].clone()).unwrap();
    let kept: BTreeSet<String> = event.attributes().iter().map(|(name, _)| name.to_string()).collect();
    assert_eq!(kept, keys(&schemas["TaskEventAttributes"]["properties"]), "the attributes the reconciler publishes a kept event with");
    let required: BTreeSet<String> = schemas["TaskEventAttributes"]["required"].as_array().unwrap().iter().filter_map(Value::as_str).map(String::from).collect();
    assert_eq!(required, kept);
}

fn event_examples(doc: &Value) -> &serde_json::Map<String, Value> {
    doc["webhooks"]["taskCompleted"]["post"]["requestBody"]["content"]["application/json"]["examples"].as_object().expect("the event's examples")
}

#[test]
fn every_event_example_is_what_a_task_s_outcome_publishes() {
    let doc = description();
    let examples = event_examples(&doc);
    assert!(examples.len() >= 3, "an example of each end: {examples:?}");
    none(examples.iter().filter_map(|(name, e)| samples::event(&e["value"]).err().map(|why| format!("example {name}: {why}"))).collect());
}

#[test]
fn the_refusal_examples_are_the_messages_the_core_writes() {
    use slm_core::domain::grant::{Application, Grant, Permission, Scope};
    use slm_core::service::Caller;
    let doc = description();
    let example = |response: &str, name: &str| doc["components"]["responses"][response]["content"]["application/json"]["examples"][name]["value"]["message"].clone();
    let refused = |body: Value| samples::accepted("POST /assets/{asset_id}/tasks", &body).unwrap_err();
    assert_eq!(example("BadRequest", "missing"), refused(json!({ "action": "archive", "request_id": "r" })));
    assert_eq!(example("BadRequest", "unknown_field"), refused(json!({ "action": "purge", "request_id": "r", "force": true })));
    let app = Application {
        principal: "arn:aws:iam::123456789012:role/post-production-app".into(),
        name: "post-production".into(),
        grants: vec![Grant { actions: vec![Permission::Archive], asset_types: None, title_ids: Some(vec!["show-1".into()]) }],
        updated_by: "admin".into(),
        updated_at: "2026-11-20T09:00:00Z".into(),
    };
    let caller = |arn: &str, application| Caller { arn: arn.into(), principal: None, application };
    let no_grant = caller("x", Some(app)).require(Permission::Purge, &Scope::asset("camera_original", "show-1")).unwrap_err();
    assert_eq!(example("Forbidden", "no_grant"), no_grant.to_string());
    let unknown = caller("arn:aws:sts::123456789012:assumed-role/unknown-app/session-1", None).known().unwrap_err();
    assert_eq!(example("Forbidden", "unregistered"), unknown.to_string());
}

// The checks fail when the description and the code part.

#[test]
fn a_route_the_description_lacks_is_named() {
    let mut doc = description();
    doc["paths"]["/assets/{asset_id}/hold"].as_object_mut().unwrap().remove("delete");
    assert_eq!(route_differences(&router_routes(), &described_routes(&doc)), ["DELETE /assets/{}/hold is routed but not described"]);
}

#[test]
fn a_route_only_the_description_has_is_named() {
    let mut doc = description();
    doc["paths"]["/assets/{asset_id}/copies"] = json!({ "post": { "responses": {} } });
    assert_eq!(route_differences(&router_routes(), &described_routes(&doc)), ["POST /assets/{}/copies is described but not routed"]);
}

#[test]
fn an_example_that_breaks_its_schema_is_named_with_the_field() {
    let mut doc = description();
    doc["paths"]["/assets"]["post"]["requestBody"]["content"]["application/json"]["examples"]["camera"]["value"]["asset_id"] = json!(42);
    let failures = schemas::example_failures(&doc);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].starts_with("POST /assets request example camera: at \"/asset_id\""), "{failures:?}");
}

#[test]
fn a_response_example_missing_a_field_or_with_a_stray_one_is_named() {
    let mut doc = description();
    let example = &mut doc["paths"]["/tasks/{task_id}"]["get"]["responses"]["200"]["content"]["application/json"]["examples"]["succeeded"]["value"];
    example.as_object_mut().unwrap().remove("counters");
    example["colour"] = json!("blue");
    let failures = schemas::example_failures(&doc);
    assert!(failures.iter().any(|f| f.starts_with("GET /tasks/{task_id} 200 example succeeded") && f.contains("counters")), "{failures:?}");
    assert!(failures.iter().any(|f| f.contains("colour")), "{failures:?}");
}

#[test]
fn a_body_without_an_example_is_named() {
    let mut doc = description();
    doc["paths"]["/holds"]["get"]["responses"]["200"]["content"]["application/json"].as_object_mut().unwrap().remove("examples");
    assert_eq!(schemas::example_failures(&doc), ["GET /holds 200: no example"]);
}

#[test]
fn a_request_example_the_api_refuses_is_named() {
    let archive_with_a_tier = json!({ "action": "archive", "storage_class": "GLACIER", "tier": "Bulk", "request_id": "r-1" });
    let err = samples::accepted("POST /assets/{asset_id}/tasks", &archive_with_a_tier).unwrap_err();
    assert!(err.contains("days/tier does not apply to archive"), "{err}");
    assert!(samples::accepted("POST /assets/{asset_id}/copies", &archive_with_a_tier).unwrap_err().contains("no Rust type"));
}

#[test]
fn a_task_example_the_code_would_not_write_is_named() {
    let doc = description();
    let mut task = doc["paths"]["/tasks/{task_id}"]["get"]["responses"]["200"]["content"]["application/json"]["examples"]["succeeded"]["value"].clone();
    let (_, check) = samples::response_parts("GET /tasks/{task_id} 200").unwrap();
    task["origin"] = json!("request:arn:aws:iam::123456789012:role/post-production-app:another-request");
    assert!(check(&task).unwrap_err().contains("is not the one its request derives"));
    task.as_object_mut().unwrap().remove("planning_done");
    assert!(check(&task).unwrap_err().contains("planning_done"));
}
