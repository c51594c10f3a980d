//! Reading the description: its routes, its bodies with their schemas and examples, and the
//! local `$ref`s between them.

use super::router::Route;
use serde_json::Value;
use std::collections::BTreeSet;

pub const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

/// The description as JSON.
pub fn parse(yaml: &str) -> Value {
    serde_yaml_ng::from_str(yaml).expect("docs/openapi.yaml is YAML")
}

/// `value`, or what its `$ref` (a local JSON pointer) points at.
pub fn resolve<'a>(doc: &'a Value, value: &'a Value) -> Result<&'a Value, String> {
    match value.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').ok_or_else(|| format!("{r}: only local references are read"))?;
            doc.pointer(pointer).ok_or_else(|| format!("{r} points at nothing"))
        }
        None => Ok(value),
    }
}

/// `/assets/{asset_id}/hold` as `/assets/{}/hold`: placeholders may be named differently.
pub fn normalize(path: &str) -> String {
    path.split('/').map(|s| if s.starts_with('{') && s.ends_with('}') { "{}" } else { s }).collect::<Vec<_>>().join("/")
}

/// Every (method, path) the description has under `paths`, placeholders normalized.
pub fn described_routes(doc: &Value) -> BTreeSet<Route> {
    operations(doc, "paths").into_iter().map(|op| (op.method.to_uppercase(), normalize(&op.path))).collect()
}

/// What one side has and the other lacks, each named.
pub fn route_differences(router: &BTreeSet<Route>, described: &BTreeSet<Route>) -> Vec<String> {
    let missing = router.difference(described).map(|(m, p)| format!("{m} {p} is routed but not described"));
    let extra = described.difference(router).map(|(m, p)| format!("{m} {p} is described but not routed"));
    missing.chain(extra).collect()
}

/// One operation of the description: under `paths` or `webhooks`.
pub struct Operation<'a> {
    pub method: String,
    pub path: String,
    pub item: &'a Value,
    pub op: &'a Value,
}

impl Operation<'_> {
    /// How messages name it: `POST /assets`.
    pub fn name(&self) -> String {
        format!("{} {}", self.method.to_uppercase(), self.path)
    }
}

pub fn operations<'a>(doc: &'a Value, section: &str) -> Vec<Operation<'a>> {
    let Some(items) = doc.get(section).and_then(Value::as_object) else { return Vec::new() };
    let mut out = Vec::new();
    for (path, item) in items {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push(Operation { method: method.to_string(), path: path.clone(), item, op });
            }
        }
    }
    out
}

/// One body (or parameter) with its schema and examples.
pub struct Body<'a> {
    /// Where it is: `POST /assets request`, `POST /assets 201`, `GET /audit parameter limit`;
    /// a shared response once, by its name: `components/responses/NotFound as 404`.
    pub at: String,
    /// The status a response body answers with.
    pub status: Option<String>,
    pub schema: &'a Value,
    pub examples: Vec<(String, &'a Value)>,
}

/// Every request and response body of the operations, and every parameter with a schema.
pub fn bodies(doc: &Value) -> Result<Vec<Body<'_>>, String> {
    let mut out = Vec::new();
    let mut shared_seen = BTreeSet::new();
    for op in operations(doc, "paths").into_iter().chain(operations(doc, "webhooks")) {
        if let Some(request) = op.op.get("requestBody") {
            media(doc, resolve(doc, request)?, &format!("{} request", op.name()), None, &mut out)?;
        }
        for (status, response) in op.op.get("responses").and_then(Value::as_object).into_iter().flatten() {
            let at = match response.get("$ref").and_then(Value::as_str) {
                Some(shared) => format!("{} as {status}", shared.trim_start_matches("#/")),
                None => format!("{} {status}", op.name()),
            };
            if shared_seen.insert(at.clone()) {
                media(doc, resolve(doc, response)?, &at, Some(status), &mut out)?;
            }
        }
        let shared = op.item.get("parameters").and_then(Value::as_array).into_iter().flatten();
        for parameter in shared.chain(op.op.get("parameters").and_then(Value::as_array).into_iter().flatten()) {
            let parameter = resolve(doc, parameter)?;
            let name = parameter.get("name").and_then(Value::as_str).unwrap_or("?");
            if let Some(schema) = parameter.get("schema") {
                let at = format!("{} parameter {name}", op.name());
                out.push(Body { at, status: None, schema, examples: examples_of(doc, parameter)? });
            }
        }
    }
    Ok(out)
}

/// The bodies of a request or response: one per media type.
fn media<'a>(doc: &'a Value, holder: &'a Value, at: &str, status: Option<&str>, out: &mut Vec<Body<'a>>) -> Result<(), String> {
    for (media_type, content) in holder.get("content").and_then(Value::as_object).into_iter().flatten() {
        let schema = content.get("schema").ok_or_else(|| format!("{at} {media_type} has no schema"))?;
        out.push(Body { at: at.to_string(), status: status.map(String::from), schema, examples: examples_of(doc, content)? });
    }
    Ok(())
}

/// The `example` and each of the `examples` (an Example Object's `value`) of a media type or
/// parameter, named.
fn examples_of<'a>(doc: &'a Value, holder: &'a Value) -> Result<Vec<(String, &'a Value)>, String> {
    let mut out = Vec::new();
    if let Some(example) = holder.get("example") {
        out.push(("example".to_string(), example));
    }
    for (name, example) in holder.get("examples").and_then(Value::as_object).into_iter().flatten() {
        let value = resolve(doc, example)?.get("value").ok_or_else(|| format!("example {name} has no value"))?;
        out.push((format!("example {name}"), value));
    }
    Ok(out)
}

/// Every local `$ref` in the document that points at nothing.
pub fn dangling_refs(doc: &Value) -> Vec<String> {
    fn walk(doc: &Value, value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if map.contains_key("$ref")
                    && let Err(why) = resolve(doc, value)
                {
                    out.push(why);
                }
                map.values().for_each(|v| walk(doc, v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(doc, v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(doc, doc, &mut out);
    out
}

/// Path templates whose placeholders and declared path parameters differ.
pub fn path_parameter_mismatches(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for op in operations(doc, "paths") {
        let placeholders: BTreeSet<&str> =
            op.path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
        let shared = op.item.get("parameters").and_then(Value::as_array).into_iter().flatten();
        let declared: BTreeSet<&str> = shared
            .chain(op.op.get("parameters").and_then(Value::as_array).into_iter().flatten())
            .filter_map(|p| resolve(doc, p).ok())
            .filter(|p| p.get("in").and_then(Value::as_str) == Some("path"))
            .filter_map(|p| p.get("name").and_then(Value::as_str))
            .collect();
        if placeholders != declared {
            out.push(format!("{}: placeholders {placeholders:?}, path parameters {declared:?}", op.name()));
        }
    }
    out
}
