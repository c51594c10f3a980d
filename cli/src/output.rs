//! What every command prints: a table (or text) for a person, JSON for a script
//! (`--output json`, or `SLM_OUTPUT=json`).

use anyhow::Result;
use serde_json::Value;
use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Tables and text, for reading.
    #[default]
    Table,
    /// The API's JSON as it is, for scripts.
    Json,
}

static OUTPUT: OnceLock<Output> = OnceLock::new();

/// Set once, from the command line.
pub fn set(output: Output) {
    let _ = OUTPUT.set(output);
}

/// Does the command print JSON?
pub fn json() -> bool {
    OUTPUT.get().copied().unwrap_or_default() == Output::Json
}

/// Prints a value as the command line asked: JSON, or a table.
pub fn print(v: &Value) -> Result<()> {
    match json() {
        true => println!("{}", serde_json::to_string_pretty(v)?),
        false => print!("{}", table(v)),
    }
    Ok(())
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Rows of objects under their keys' union, in first-seen order.
fn rows(items: &[Value]) -> String {
    let mut columns: Vec<String> = Vec::new();
    for item in items {
        for k in item.as_object().into_iter().flatten().map(|(k, _)| k) {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    let cells: Vec<Vec<String>> = items.iter().map(|i| columns.iter().map(|c| cell(&i[c.as_str()])).collect()).collect();
    let widths: Vec<usize> = columns.iter().enumerate().map(|(n, c)| cells.iter().map(|r| r[n].chars().count()).chain([c.chars().count()]).max().unwrap_or(0)).collect();
    let line = |values: Vec<&str>| values.iter().zip(&widths).map(|(v, w)| format!("{v:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_string() + "\n";
    let mut out = line(columns.iter().map(String::as_str).collect());
    for r in &cells {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// A value as a person reads it: an object's fields one per line, a list of objects as a table
/// (also when it is an object's only list of objects, under its other fields).
pub fn table(v: &Value) -> String {
    let objects = |v: &Value| v.as_array().filter(|a| !a.is_empty() && a.iter().all(Value::is_object)).cloned();
    match v {
        Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => rows(items),
        Value::Object(m) => {
            let lists: Vec<&String> = m.iter().filter(|(_, v)| objects(v).is_some()).map(|(k, _)| k).collect();
            let fields: Vec<(&String, &Value)> = m.iter().filter(|(k, _)| lists.len() != 1 || !lists.contains(k)).collect();
            let width = fields.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
            let mut out = String::new();
            for (k, value) in fields {
                out.push_str(&format!("{k:<width$}  {}\n", cell(value)));
            }
            if let [list] = lists.as_slice() {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&rows(&objects(&m[list.as_str()]).unwrap_or_default()));
            }
            out
        }
        other => format!("{}\n", cell(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_objects_fields_are_lines_and_its_one_list_a_table() {
        let v = json!({"day": "2027-06-01", "actions": [{"asset": "a", "bytes": 5}, {"asset": "bb", "bytes": 10, "note": null}]});
        assert_eq!(table(&v), "day  2027-06-01\n\nasset  bytes  note\na      5      -\nbb     10     -\n");
        assert_eq!(table(&json!({"task": {"id": "t"}, "created": true})), "created  true\ntask     {\"id\":\"t\"}\n");
        assert_eq!(table(&json!([{"k": 1}])), "k\n1\n");
        assert_eq!(table(&json!("done")), "done\n");
    }
}
