//! Examples against their schemas, with a JSON Schema 2020-12 validator (OpenAPI 3.1's schema
//! dialect), formats asserted.

use super::describe::bodies;
use serde_json::{Value, json};

/// A validator for `schema` as it stands in the description: compiled as a document of its own
/// with the description's component schemas beside it, where `#/components/schemas/...` finds
/// them.
pub fn validator(doc: &Value, schema: &Value) -> Result<jsonschema::Validator, String> {
    let components = doc.pointer("/components/schemas").cloned().unwrap_or_else(|| json!({}));
    let root = json!({ "allOf": [schema], "components": { "schemas": components } });
    jsonschema::draft202012::options().should_validate_formats(true).build(&root).map_err(|e| format!("schema does not compile: {e}"))
}

/// What is wrong with `value` against `schema`, one line per error (none: it is valid).
pub fn errors(doc: &Value, schema: &Value, value: &Value) -> Vec<String> {
    match validator(doc, schema) {
        Ok(v) => v.iter_errors(value).map(|e| format!("at {:?}: {e}", e.instance_path().to_string())).collect(),
        Err(why) => vec![why],
    }
}

/// Every body without an example, and every example that breaks its schema (the bodies'
/// and parameters', and the component schemas' own `examples`), named by where it is.
pub fn example_failures(doc: &Value) -> Vec<String> {
    let bodies = match bodies(doc) {
        Ok(b) => b,
        Err(why) => return vec![why],
    };
    let mut out = Vec::new();
    for body in &bodies {
        if body.examples.is_empty() {
            out.push(format!("{}: no example", body.at));
        }
        for (name, value) in &body.examples {
            out.extend(errors(doc, body.schema, value).into_iter().map(|e| format!("{} {name}: {e}", body.at)));
        }
    }
    for (name, schema) in doc.pointer("/components/schemas").and_then(Value::as_object).into_iter().flatten() {
        let reference = json!({ "$ref": format!("#/components/schemas/{name}") });
        for (i, value) in schema.get("examples").and_then(Value::as_array).into_iter().flatten().enumerate() {
            out.extend(errors(doc, &reference, value).into_iter().map(|e| format!("components.schemas.{name} example {i}: {e}")));
        }
    }
    out
}
