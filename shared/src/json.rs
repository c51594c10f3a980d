//! Parsing untrusted JSON (API bodies, policy documents, queue messages) with errors that name
//! the field that is wrong.

use crate::error::{Error, Result};

/// Parses `text` as a `what`; the error names the path of the offending field.
pub fn parse<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        match path.as_str() {
            "." | "" => Error::validation(format!("invalid {what}: {}", e.inner())),
            _ => Error::validation(format!("invalid {what}: {path}: {}", e.inner())),
        }
    })?;
    de.end().map_err(|e| Error::validation(format!("invalid {what}: {e}")))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Doc {
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        priority: u32,
    }

    #[test]
    fn a_wrong_type_is_named_by_its_path() {
        let err = parse::<Doc>("doc", r#"{"inner":{"priority":"high"}}"#).unwrap_err();
        assert!(err.to_string().contains("inner.priority"), "{err}");
    }

    #[test]
    fn trailing_garbage_is_refused() {
        assert!(parse::<Doc>("doc", r#"{"inner":{"priority":1}} x"#).is_err());
    }
}
