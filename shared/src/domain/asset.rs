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
    pub storage_class: AssetClass,
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

/// The class of an asset whose files are in several, as it is written.
pub const MIXED: &str = "MIXED";

/// The class of an asset's files: none yet (an asset registered file by file, before its
/// first), the one class they are all in, or several. Written as the class's name, "MIXED", or
/// "" for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssetClass {
    #[default]
    Unknown,
    One(StorageClass),
    Mixed,
}

impl AssetClass {
    /// Reads a class as written (a class S3 added later is kept by its name).
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "" => AssetClass::Unknown,
            MIXED => AssetClass::Mixed,
            c => AssetClass::One(StorageClass::from_s3(Some(c)).map_err(|e| Error::validation(format!("asset class: {e}")))?),
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            AssetClass::Unknown => "",
            AssetClass::One(c) => c.as_str(),
            AssetClass::Mixed => MIXED,
        }
    }

    /// The class of an asset with more files of class `more` (one file's class, or a page's):
    /// the first class it gets, MIXED once they differ.
    pub fn and(self, more: AssetClass) -> Self {
        match (self, more) {
            (AssetClass::Unknown, c) | (c, AssetClass::Unknown) => c,
            (AssetClass::One(a), AssetClass::One(b)) if a == b => self,
            _ => AssetClass::Mixed,
        }
    }
}

impl From<StorageClass> for AssetClass {
    fn from(class: StorageClass) -> Self {
        AssetClass::One(class)
    }
}

impl std::str::FromStr for AssetClass {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        AssetClass::parse(s)
    }
}

impl std::fmt::Display for AssetClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for AssetClass {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<StorageClass> for AssetClass {
    fn eq(&self, other: &StorageClass) -> bool {
        *self == AssetClass::One(*other)
    }
}

impl Serialize for AssetClass {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AssetClass {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        AssetClass::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The class an asset of these files is in: their one class, or MIXED; None without files.
pub fn class_of(files: &[super::FileRecord]) -> Option<AssetClass> {
    let first = files.first()?.storage_class;
    Some(files.iter().fold(AssetClass::One(first), |class, f| class.and(f.storage_class.into())))
}

impl Asset {
    /// The one class all its files are in (a class slm does not know too); None when they are
    /// in several, or it has none.
    pub fn class(&self) -> Option<StorageClass> {
        match self.storage_class {
            AssetClass::One(c) => Some(c),
            AssetClass::Unknown | AssetClass::Mixed => None,
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
    fn an_asset_s_class_is_its_files_one_class_or_mixed_and_reads_back_as_written() {
        use StorageClass::{Glacier, Standard};
        assert_eq!(AssetClass::Unknown.and(Glacier.into()).and(Glacier.into()), AssetClass::One(Glacier));
        assert_eq!(AssetClass::One(Glacier).and(AssetClass::Unknown), AssetClass::One(Glacier));
        assert_eq!(AssetClass::One(Glacier).and(Standard.into()), AssetClass::Mixed);
        assert_eq!(AssetClass::Mixed.and(Glacier.into()), AssetClass::Mixed, "mixed stays mixed");
        assert_eq!(AssetClass::One(Glacier).and(AssetClass::Mixed), AssetClass::Mixed, "a mixed page makes it mixed");
        for class in [AssetClass::Unknown, AssetClass::Mixed, Glacier.into(), AssetClass::parse("FUTURE_CLASS").unwrap()] {
            assert_eq!(AssetClass::parse(class.as_str()).unwrap(), class, "{class}");
            assert_eq!(serde_json::from_value::<AssetClass>(serde_json::to_value(class).unwrap()).unwrap(), class);
        }
        assert!(AssetClass::parse("not a class!").is_err());
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
