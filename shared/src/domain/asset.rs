//! An asset: a named group of files of one title, the unit of a lifecycle task.

use super::StorageClass;
use crate::error::{Error, Result};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The asset's place in its storage life, as far as slm has moved it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AssetState {
    Active,
    Archived,
    Restored,
    Purged,
    /// Some files moved and some did not (a partly failed task).
    Mixed,
}

impl AssetState {
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Archived, Self::Restored, Self::Purged, Self::Mixed].into_iter().find(|a| a.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AssetState::Active => "ACTIVE",
            AssetState::Archived => "ARCHIVED",
            AssetState::Restored => "RESTORED",
            AssetState::Purged => "PURGED",
            AssetState::Mixed => "MIXED",
        }
    }
}

/// What a caller gives to register an asset from an S3 prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAsset {
    pub asset_id: String,
    pub title_id: String,
    pub asset_type: String,
    pub bucket: String,
    pub prefix: String,
    /// The production phase policies select on ("final", "temp", ...).
    #[serde(default = "default_phase")]
    pub phase: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The asset's creation date (YYYY-MM-DD), an anchor of policies; the registration day if absent.
    #[serde(default)]
    pub created_on: Option<String>,
    /// About how many files it has, for a backfill: its file items are spread over more
    /// partitions the larger it is (a registration that lists the prefix counts them itself).
    #[serde(default)]
    pub expected_files: Option<u64>,
}

/// What a caller may change on a registered asset (policies select on these).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetChange {
    pub phase: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
}

impl AssetChange {
    pub fn validate(&self) -> Result<()> {
        if self.phase.is_none() && self.tags.is_none() {
            return Err(Error::validation("nothing to change: give phase and/or tags"));
        }
        if let Some(phase) = &self.phase {
            validate_id("phase", phase)?;
        }
        self.tags.as_ref().map_or(Ok(()), |t| super::policy::validate_tags("tags", t))
    }
}

pub fn default_phase() -> String {
    "unspecified".to_string()
}

/// The longest id slm accepts for titles, assets and types.
const MAX_ID_LEN: usize = 128;

/// Ids appear in DynamoDB keys, execution names and SNS attributes: keep them to a safe alphabet.
pub fn validate_id(field: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= MAX_ID_LEN
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        // "." and ".." name directories in paths and keys.
        && value.chars().any(|c| c != '.');
    if ok {
        Ok(())
    } else {
        Err(Error::validation(format!(
            "{field} must be 1-{MAX_ID_LEN} characters of A-Z a-z 0-9 - _ . (got {value:?})"
        )))
    }
}

impl NewAsset {
    pub fn validate(&self) -> Result<()> {
        validate_id("asset_id", &self.asset_id)?;
        validate_id("title_id", &self.title_id)?;
        validate_id("asset_type", &self.asset_type)?;
        if self.bucket.len() < 3 || self.bucket.len() > 63 {
            return Err(Error::validation(format!("bucket name {:?} is not a valid S3 bucket name", self.bucket)));
        }
        if self.prefix.is_empty() || !self.prefix.ends_with('/') {
            // A prefix without a trailing slash would also match siblings ("show1/cam" matches "show1/camera2/").
            return Err(Error::validation(format!(
                "prefix must be non-empty and end with '/' (got {:?})",
                self.prefix
            )));
        }
        if self.prefix.split('/').any(|part| part == "..") || self.prefix.chars().any(char::is_control) {
            return Err(Error::validation(format!("prefix {:?} has '..' or control characters", self.prefix)));
        }
        validate_id("phase", &self.phase)?;
        super::policy::validate_tags("tags", &self.tags)?;
        if let Some(d) = &self.created_on {
            super::title::parse_date("created_on", d)?;
        }
        Ok(())
    }
}

/// A registered asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    pub asset_id: String,
    pub title_id: String,
    pub asset_type: String,
    pub phase: String,
    pub tags: BTreeMap<String, String>,
    pub created_on: NaiveDate,
    pub last_access_on: Option<NaiveDate>,
    pub bucket: String,
    pub prefix: String,
    /// How many partitions the asset's file items are spread over.
    pub shards: u32,
    pub file_count: u64,
    pub total_bytes: u64,
    /// Files under the 128 KiB billing minimum of some classes, and their bytes (for estimates).
    pub small_file_count: u64,
    pub small_file_bytes: u64,
    pub state: AssetState,
    /// The class all its files are in, or MIXED.
    pub storage_class: String,
    /// The task that holds the asset, if any: one active task per asset.
    pub active_task: Option<String>,
    pub active_action: Option<String>,
    /// The task waiting for the active one to end (see the conflict matrix), if any.
    pub queued_task: Option<String>,
    pub registered_at: String,
    /// The first day a policy may act on it ("0000-00-00": look again), as the due index holds it.
    pub due_at: Option<String>,
    /// The last key a backfill registered, while one is registering the asset's files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill_cursor: Option<String>,
    /// Where the reconciler's sweep of this asset stands while it takes more than one message
    /// (`<sweep>|<last key compared>`): the fence of its continuations.
    #[serde(skip)]
    pub sweep_cursor: Option<String>,
}

/// The class of an asset whose files are in several.
pub const MIXED: &str = "MIXED";

/// The class an asset of these files is in: their one class, or MIXED; None without files.
pub fn class_of(files: &[super::FileRecord]) -> Option<String> {
    let first = files.first()?.storage_class;
    Some(match files.iter().all(|f| f.storage_class == first) {
        true => first.to_string(),
        false => MIXED.to_string(),
    })
}

impl Asset {
    /// The one class all its files are in (a class slm does not know too); None when they are
    /// in several, or it has none.
    pub fn class(&self) -> Option<StorageClass> {
        match self.storage_class.as_str() {
            "" | MIXED => None,
            c => StorageClass::from_s3(Some(c)).ok(),
        }
    }

    /// Its files' sizes as prices need them, from the aggregates kept at registration.
    pub fn sizes(&self) -> super::pricing::Sizes {
        super::pricing::Sizes { count: self.file_count, bytes: self.total_bytes, small_count: self.small_file_count, small_bytes: self.small_file_bytes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_asset(prefix: &str) -> NewAsset {
        NewAsset {
            asset_id: "a-1".into(),
            title_id: "title-1".into(),
            asset_type: "camera_original".into(),
            bucket: "media".into(),
            prefix: prefix.into(),
            phase: "final".into(),
            tags: BTreeMap::new(),
            created_on: None,
            expected_files: None,
        }
    }

    #[test]
    fn prefix_must_end_with_a_slash_so_siblings_are_not_swept_in() {
        assert!(new_asset("show/cam").validate().is_err());
        assert!(new_asset("show/cam/").validate().is_ok());
    }

    #[test]
    fn prefix_with_dot_dot_is_refused() {
        assert!(new_asset("show/../other/").validate().is_err());
    }

    #[test]
    fn ids_with_separators_or_spaces_are_refused() {
        for bad in ["", "a#b", "a b", "a/b", &"x".repeat(129)] {
            assert!(validate_id("asset_id", bad).is_err(), "{bad:?} accepted");
        }
    }
}
