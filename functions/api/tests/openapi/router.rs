//! The router's routes, read from the source of `route` in src/routes.rs: each arm of its
//! `match (method, segments)` is a method (or `verb @ ("PUT" | "DELETE")`) and a slice of
//! segments, each a literal, a binding (a path parameter) or `name @ ("a" | "b")`.

use std::collections::BTreeSet;

/// A route: the method and the path, its parameters written `{}`.
pub type Route = (String, String);

/// The routes of the `route` function in `source`. An arm the reader does not understand is an
/// error naming it, so that a new kind of pattern cannot drop out of the comparison unseen.
pub fn router_routes(source: &str) -> Result<BTreeSet<Route>, String> {
    let start = source.find("async fn route(").ok_or("no `async fn route(` in the router's source")?;
    let body = &source[start..];
    let body = &body[..body.find("\n}\n").ok_or("the `route` function does not end")?];
    let (match_line, rest) = body
        .split_once("match (method.as_str(), segments.as_slice()) {\n")
        .ok_or("no `match (method.as_str(), segments.as_slice())` in `route`")?;
    let arm_indent = indent(match_line.rsplit('\n').next().unwrap_or_default()) + 4;
    let mut routes = BTreeSet::new();
    let mut fallback = false;
    for line in rest.lines() {
        let trimmed = line.trim();
        if indent(line) != arm_indent || trimmed.is_empty() || trimmed.starts_with('}') || trimmed.starts_with("//") {
            continue;
        }
        let (pattern, _) = trimmed.split_once(" => ").ok_or_else(|| format!("not a match arm: {trimmed}"))?;
        if pattern == "_" {
            fallback = true;
            continue;
        }
        routes.extend(arm_routes(pattern).map_err(|why| format!("{why}: {trimmed}"))?);
    }
    if routes.is_empty() || !fallback {
        return Err("no routes, or no `_` arm, found in `route`: has the match changed shape?".into());
    }
    Ok(routes)
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The routes one arm's pattern matches: every method alternative with every path alternative.
fn arm_routes(pattern: &str) -> Result<Vec<Route>, String> {
    let inner = pattern.strip_prefix('(').and_then(|p| p.strip_suffix(')')).ok_or("not a (method, segments) pattern")?;
    let [method, segments] = top_level(inner, ',')[..] else { return Err("not a (method, segments) pattern".into()) };
    let methods = literals(method);
    if methods.is_empty() {
        return Err("a method pattern without a literal method".into());
    }
    let segments = segments.trim().strip_prefix('[').and_then(|s| s.strip_suffix(']')).ok_or("segments are not a slice pattern")?;
    let mut paths = vec![String::new()];
    for segment in top_level(segments, ',') {
        let choices = match literals(segment) {
            none if none.is_empty() && is_binding(segment) => vec!["{}".to_string()],
            none if none.is_empty() => return Err(format!("a segment pattern the reader does not know: {segment:?}")),
            some => some,
        };
        paths = paths.iter().flat_map(|p| choices.iter().map(move |c| format!("{p}/{c}"))).collect();
    }
    Ok(methods.iter().flat_map(|m| paths.iter().map(move |p| (m.clone(), p.clone()))).collect())
}

/// `text` split at `separator` outside parentheses and brackets, each part trimmed.
fn top_level(text: &str, separator: char) -> Vec<&str> {
    let (mut depth, mut from, mut parts) = (0i32, 0, Vec::new());
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            c if c == separator && depth == 0 => {
                parts.push(text[from..i].trim());
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(text[from..].trim());
    parts.retain(|p| !p.is_empty());
    parts
}

/// The string literals of a pattern: `"GET"`, or the alternatives of `verb @ ("PUT" | "DELETE")`.
fn literals(pattern: &str) -> Vec<String> {
    pattern.split('"').skip(1).step_by(2).map(str::to_string).collect()
}

/// A binding that matches any one segment (`asset_id`, `_`); `..` would match several.
fn is_binding(pattern: &str) -> bool {
    !pattern.is_empty() && pattern.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(arms: &str) -> String {
        format!(
            "pub(crate) async fn route(call: &mut Call<'_>) -> Result<()> {{\n    match (method.as_str(), segments.as_slice()) {{\n{arms}        _ => {{\n            Err(nope())\n        }}\n    }}\n}}\n"
        )
    }

    fn routes(list: &[(&str, &str)]) -> BTreeSet<Route> {
        list.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect()
    }

    #[test]
    fn literals_bindings_and_alternatives_become_routes() {
        let arms = concat!(
            "        (\"POST\", [\"assets\"]) => {\n            let x = (1, 2);\n        }\n",
            "        (verb @ (\"PUT\" | \"DELETE\"), [\"assets\", asset_id, \"hold\"]) => {\n        }\n",
            "        (\"POST\", [\"policies\", policy_id, switch @ (\"enable\" | \"disable\")]) => {\n        }\n",
            "        (\"GET\", [\"audit\"]) => audit_route(call).await,\n",
        );
        let expected = routes(&[
            ("POST", "/assets"),
            ("PUT", "/assets/{}/hold"),
            ("DELETE", "/assets/{}/hold"),
            ("POST", "/policies/{}/enable"),
            ("POST", "/policies/{}/disable"),
            ("GET", "/audit"),
        ]);
        assert_eq!(router_routes(&source(arms)).unwrap(), expected);
    }

    #[test]
    fn an_arm_the_reader_does_not_understand_is_refused_by_name() {
        for arm in ["        (method, [\"assets\"]) => {\n        }\n", "        (\"GET\", [\"files\", ..]) => {\n        }\n"] {
            let err = router_routes(&source(arm)).unwrap_err();
            assert!(err.contains(arm.trim().trim_end_matches('}').trim()), "{err}");
        }
    }

    #[test]
    fn a_router_without_its_match_is_refused() {
        assert!(router_routes("pub(crate) async fn route() {\n    todo!()\n}\n").is_err());
    }
}
