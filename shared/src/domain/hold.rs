//! Legal holds: an asset or a whole title that must not be purged until the hold is released.

use super::asset::validate_id;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// What a hold is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum HoldSubject {
    Asset(String),
    Title(String),
}

impl HoldSubject {
    pub fn asset(id: &str) -> Result<Self> {
        validate_id("asset_id", id)?;
        Ok(HoldSubject::Asset(id.to_string()))
    }

    pub fn title(id: &str) -> Result<Self> {
        validate_id("title_id", id)?;
        Ok(HoldSubject::Title(id.to_string()))
    }

    /// The key a hold is stored under.
    pub fn key(&self) -> String {
        match self {
            HoldSubject::Asset(id) => format!("asset#{id}"),
            HoldSubject::Title(id) => format!("title#{id}"),
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        match key.split_once('#')? {
            ("asset", id) => Some(HoldSubject::Asset(id.to_string())),
            ("title", id) => Some(HoldSubject::Title(id.to_string())),
            _ => None,
        }
    }
}

impl std::fmt::Display for HoldSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HoldSubject::Asset(id) => write!(f, "asset {id}"),
            HoldSubject::Title(id) => write!(f, "title {id}"),
        }
    }
}

/// A legal hold as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub subject: HoldSubject,
    pub reason: String,
    pub placed_by: String,
    pub placed_at: String,
}

impl Hold {
    /// Why a purge stops here, for refusals, skipped actions and failed files.
    pub fn blocks(&self) -> String {
        format!("{} is under legal hold ({}, placed by {} at {})", self.subject, self.reason, self.placed_by, self.placed_at)
    }
}

/// What a caller gives to place a hold: why (a case or matter reference).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    pub reason: String,
}

impl HoldBody {
    pub fn into_hold(self, subject: HoldSubject, by: &str, now: chrono::DateTime<chrono::Utc>) -> Result<Hold> {
        let reason = self.reason.trim();
        if reason.is_empty() || reason.chars().count() > 512 || reason.chars().any(char::is_control) {
            return Err(Error::validation("reason must be 1-512 characters without control characters"));
        }
        Ok(Hold { subject, reason: reason.to_string(), placed_by: by.to_string(), placed_at: super::stamp(now) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_round_trip_through_their_keys() {
        for s in [HoldSubject::asset("a-1").unwrap(), HoldSubject::title("show.s01").unwrap()] {
            assert_eq!(HoldSubject::from_key(&s.key()), Some(s));
        }
        assert_eq!(HoldSubject::from_key("policy#x"), None);
        assert!(HoldSubject::asset("..").is_err());
        assert!(HoldSubject::title("a/b").is_err());
    }

    #[test]
    fn a_hold_needs_a_printable_reason() {
        let subject = HoldSubject::asset("a").unwrap();
        assert!(HoldBody { reason: "case 42".into() }.into_hold(subject.clone(), "me", chrono::DateTime::UNIX_EPOCH).is_ok());
        for bad in ["", "  ", "line\nbreak", &"x".repeat(513)] {
            assert!(HoldBody { reason: bad.into() }.into_hold(subject.clone(), "me", chrono::DateTime::UNIX_EPOCH).is_err(), "{bad:?}");
        }
    }
}
