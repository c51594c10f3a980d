//! Storage classes, restore tiers and the three lifecycle actions with their validation.

pub use super::class::StorageClass;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

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
            Action::Archive { storage_class } if !storage_class.is_archive_target() => Err(Error::validation(format!(
                "archive needs one of the archive targets {}, not {storage_class}",
                StorageClass::targets_text()
            ))),
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
    fn expedited_is_refused_only_for_deep_archive() {
        assert!(!RestoreTier::Expedited.allowed_for(StorageClass::DeepArchive));
        assert!(RestoreTier::Expedited.allowed_for(StorageClass::Glacier));
        assert!(RestoreTier::Bulk.allowed_for(StorageClass::DeepArchive));
    }

    #[test]
    fn archive_to_a_class_other_than_the_targets_is_refused_naming_them() {
        let unknown = StorageClass::from_s3(Some("FSX_OPENZFS")).unwrap();
        for class in [StorageClass::Standard, StorageClass::IntelligentTiering, StorageClass::Outposts, unknown] {
            let err = Action::Archive { storage_class: class }.validate().unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Validation);
            assert!(err.to_string().contains(&format!("GLACIER, DEEP_ARCHIVE, not {class}")), "{err}");
        }
        for class in StorageClass::ARCHIVE_TARGETS {
            assert!(Action::Archive { storage_class: class }.validate().is_ok(), "{class}");
        }
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
