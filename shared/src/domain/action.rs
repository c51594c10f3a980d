//! Storage classes, restore tiers and the three lifecycle actions with their validation.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The S3 storage classes slm reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StorageClass {
    Standard,
    StandardIa,
    GlacierIr,
    Glacier,
    DeepArchive,
}

impl StorageClass {
    pub const ALL: [StorageClass; 5] = [
        StorageClass::Standard,
        StorageClass::StandardIa,
        StorageClass::GlacierIr,
        StorageClass::Glacier,
        StorageClass::DeepArchive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StorageClass::Standard => "STANDARD",
            StorageClass::StandardIa => "STANDARD_IA",
            StorageClass::GlacierIr => "GLACIER_IR",
            StorageClass::Glacier => "GLACIER",
            StorageClass::DeepArchive => "DEEP_ARCHIVE",
        }
    }

    /// How cold a class is: policies only move assets to a colder class.
    pub fn coldness(self) -> u8 {
        match self {
            StorageClass::Standard => 0,
            StorageClass::StandardIa => 1,
            StorageClass::GlacierIr => 2,
            StorageClass::Glacier => 3,
            StorageClass::DeepArchive => 4,
        }
    }

    /// Classes an archive may target.
    pub fn is_archive_target(self) -> bool {
        self != StorageClass::Standard
    }

    /// Objects in these classes must be restored before they can be read.
    pub fn needs_restore(self) -> bool {
        matches!(self, StorageClass::Glacier | StorageClass::DeepArchive)
    }

    /// S3 reports STANDARD by omitting the class; treat absence as STANDARD.
    pub fn from_s3(value: Option<&str>) -> Result<Self> {
        match value {
            None | Some("") => Ok(StorageClass::Standard),
            Some(v) => v.parse(),
        }
    }
}

impl fmt::Display for StorageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StorageClass {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        StorageClass::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                Error::validation(format!(
                    "unknown storage class '{s}' (expected one of STANDARD_IA, GLACIER_IR, GLACIER, DEEP_ARCHIVE)"
                ))
            })
    }
}

/// Retrieval tier of a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestoreTier {
    Expedited,
    Standard,
    Bulk,
}

impl RestoreTier {
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreTier::Expedited => "Expedited",
            RestoreTier::Standard => "Standard",
            RestoreTier::Bulk => "Bulk",
        }
    }

    /// Whether S3 accepts this tier for an object in `class`.
    pub fn allowed_for(self, class: StorageClass) -> bool {
        !(self == RestoreTier::Expedited && class == StorageClass::DeepArchive)
    }
}

impl FromStr for RestoreTier {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "Expedited" => Ok(RestoreTier::Expedited),
            "Standard" => Ok(RestoreTier::Standard),
            "Bulk" => Ok(RestoreTier::Bulk),
            other => Err(Error::validation(format!(
                "unknown restore tier '{other}' (expected Expedited, Standard or Bulk)"
            ))),
        }
    }
}

/// When a restore window ends, as S3 computes it: the completion time plus the days, rounded up
/// to the next midnight UTC. A restore of an object already restored moves its end the same way.
pub fn restore_window_end(completed: chrono::DateTime<chrono::Utc>, days: u32) -> String {
    let end = completed + chrono::Duration::days(i64::from(days));
    let midnight = end.date_naive().and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
    let end = if midnight == end { end } else { midnight + chrono::Duration::days(1) };
    end.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Longest restore window S3 accepts, in days.
pub const MAX_RESTORE_DAYS: u32 = 30_000;

/// One lifecycle action on an asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Archive { storage_class: StorageClass },
    Restore { days: u32, tier: RestoreTier },
    Purge,
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Archive { .. } => "archive",
            Action::Restore { .. } => "restore",
            Action::Purge => "purge",
        }
    }

    /// Checks what can be checked without looking at the asset.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Action::Archive { storage_class } if !storage_class.is_archive_target() => Err(
                Error::validation("archive needs a target class other than STANDARD"),
            ),
            Action::Restore { days, .. } if days == 0 || days > MAX_RESTORE_DAYS => Err(
                Error::validation(format!("restore days must be between 1 and {MAX_RESTORE_DAYS}, got {days}")),
            ),
            _ => Ok(()),
        }
    }

    /// A stable text form of the action and its parameters, part of a task's identity.
    pub fn fingerprint(&self) -> String {
        match self {
            Action::Archive { storage_class } => format!("archive:{storage_class}"),
            Action::Restore { days, tier } => format!("restore:{days}:{}", tier.as_str()),
            Action::Purge => "purge".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_class_round_trips_through_its_s3_name() {
        for c in StorageClass::ALL {
            assert_eq!(c.as_str().parse::<StorageClass>().unwrap(), c);
        }
    }

    #[test]
    fn unknown_storage_class_is_a_validation_error_naming_it() {
        let err = "GLACIERR".parse::<StorageClass>().unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Validation);
        assert!(err.to_string().contains("GLACIERR"));
    }

    #[test]
    fn absent_s3_class_means_standard() {
        assert_eq!(StorageClass::from_s3(None).unwrap(), StorageClass::Standard);
    }

    #[test]
    fn expedited_is_refused_only_for_deep_archive() {
        assert!(!RestoreTier::Expedited.allowed_for(StorageClass::DeepArchive));
        assert!(RestoreTier::Expedited.allowed_for(StorageClass::Glacier));
        assert!(RestoreTier::Bulk.allowed_for(StorageClass::DeepArchive));
    }

    #[test]
    fn archive_to_standard_is_refused() {
        let a = Action::Archive { storage_class: StorageClass::Standard };
        assert_eq!(a.validate().unwrap_err().kind(), crate::ErrorKind::Validation);
    }

    #[test]
    fn restore_days_out_of_range_are_refused() {
        for days in [0, MAX_RESTORE_DAYS + 1] {
            let a = Action::Restore { days, tier: RestoreTier::Bulk };
            assert!(a.validate().is_err(), "{days} days accepted");
        }
        assert!(Action::Restore { days: 7, tier: RestoreTier::Bulk }.validate().is_ok());
    }

    #[test]
    fn a_restore_window_ends_at_the_next_midnight_utc_after_its_days() {
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc);
        assert_eq!(restore_window_end(at("2026-11-26T13:45:00Z"), 3), "2026-11-30T00:00:00Z");
        assert_eq!(restore_window_end(at("2026-11-26T00:00:00Z"), 1), "2026-11-27T00:00:00Z");
        assert_eq!(restore_window_end(at("2026-12-31T23:59:59Z"), 30), "2027-01-31T00:00:00Z");
    }

    #[test]
    fn action_json_has_the_documented_shape() {
        let a: Action = serde_json::from_str(r#"{"action":"archive","storage_class":"DEEP_ARCHIVE"}"#).unwrap();
        assert_eq!(a, Action::Archive { storage_class: StorageClass::DeepArchive });
        let r: Action = serde_json::from_str(r#"{"action":"restore","days":3,"tier":"Bulk"}"#).unwrap();
        assert_eq!(r, Action::Restore { days: 3, tier: RestoreTier::Bulk });
    }
}
