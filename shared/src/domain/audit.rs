//! The audit trail: one entry per request to the API (accepted or refused) and per task a
//! policy started or was refused, queryable by what it acted on and by who asked.

use serde::{Deserialize, Serialize};

/// What became of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Authorized and carried out; `status` says how it ended (absent while it runs, or if it
    /// never finished).
    Allowed,
    /// Refused, and nothing changed: an unknown caller, beyond its grants, bad input, a legal
    /// hold, a conflict (`status` 4xx, `reason` says which).
    Refused,
    /// Authorized, then failed on slm's side (`status` 5xx): it may have partly happened; the
    /// caller repeats it (requests are idempotent).
    Failed,
}

/// One audited request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// What it acted on: `asset#<id>`, `title#<id>`, `policy#<id>`, `application#<principal>`,
    /// `task#<id>`, `bucket#<name>`, or `-`.
    pub subject: String,
    /// When (RFC 3339 with milliseconds) and which request: the entry's sort key.
    pub at: String,
    pub request_id: String,
    /// The caller as authenticated (the IAM ARN), or slm's own name for the evaluator.
    pub caller: String,
    /// The registry's key for the caller, when it is an IAM principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The registered application's name, when the caller is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    /// What was asked: the route (`POST /assets/{asset_id}/tasks`) and, for tasks, the action.
    pub action: String,
    pub decision: Decision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_ids: Vec<String>,
}

/// Longest text kept in an entry's fields (callers and paths come from outside).
const MAX_FIELD: usize = 512;

/// `text` cut to at most `MAX_FIELD` bytes on a character boundary, control characters replaced.
pub fn clip(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_FIELD));
    for c in text.chars() {
        if out.len() + c.len_utf8() > MAX_FIELD {
            break;
        }
        out.push(if c.is_control() { '\u{fffd}' } else { c });
    }
    out
}

/// Which entries a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditQuery {
    /// Everything done to one subject (`asset#<id>`, ...).
    Subject(String),
    /// Everything one caller (its registry key, or the ARN as given) asked.
    Caller(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipped_text_is_short_printable_and_whole_characters() {
        assert_eq!(clip("a\nb"), "a\u{fffd}b");
        let long = "é".repeat(400);
        let c = clip(&long);
        assert!(c.len() <= MAX_FIELD && c.chars().all(|ch| ch == 'é'));
    }
}
