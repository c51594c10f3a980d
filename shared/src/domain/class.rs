//! S3 storage classes. Every class S3 can return is understood, and a name slm does not know (a
//! class S3 added later) is kept by its name: one such object must not fail the registration,
//! backfill, sweep or event of its neighbours. What people write (policies, API bodies, the CLI)
//! is parsed strictly, so a typo is still refused.

use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// An S3 storage class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StorageClass {
    Standard,
    StandardIa,
    OnezoneIa,
    IntelligentTiering,
    ReducedRedundancy,
    GlacierIr,
    Glacier,
    DeepArchive,
    /// S3 Express One Zone, which only directory buckets hold.
    ExpressOnezone,
    /// S3 on Outposts buckets.
    Outposts,
    /// S3 compatible storage on Snowball Edge devices.
    Snow,
    /// A class slm does not know, kept by its name.
    Other(ClassName),
}

use StorageClass::*;

impl StorageClass {
    /// Every class slm knows by name.
    pub const KNOWN: [StorageClass; 11] =
        [Standard, StandardIa, OnezoneIa, IntelligentTiering, ReducedRedundancy, GlacierIr, Glacier, DeepArchive, ExpressOnezone, Outposts, Snow];

    /// The classes an archive may move files to.
    pub const ARCHIVE_TARGETS: [StorageClass; 4] = [StandardIa, GlacierIr, Glacier, DeepArchive];

    pub fn as_str(&self) -> &str {
        match self {
            Standard => "STANDARD",
            StandardIa => "STANDARD_IA",
            OnezoneIa => "ONEZONE_IA",
            IntelligentTiering => "INTELLIGENT_TIERING",
            ReducedRedundancy => "REDUCED_REDUNDANCY",
            GlacierIr => "GLACIER_IR",
            Glacier => "GLACIER",
            DeepArchive => "DEEP_ARCHIVE",
            ExpressOnezone => "EXPRESS_ONEZONE",
            Outposts => "OUTPOSTS",
            Snow => "SNOW",
            Other(name) => name.as_str(),
        }
    }

    /// How cold a class is: an archive moves only warmer files, policies only to colder classes.
    /// The rank is the access a class gives and the storage price it trades for it:
    /// 0: read at once, no retrieval fee (STANDARD; REDUCED_REDUNDANCY and EXPRESS_ONEZONE cost
    ///    as much or more per GB, so nothing is saved by leaving them where they are);
    /// 1: read at once, priced for infrequent access (STANDARD_IA, ONEZONE_IA, and
    ///    INTELLIGENT_TIERING, whose objects S3 moves down to that price or below by itself but
    ///    which may sit in its frequent tier at STANDARD's price);
    /// 2: GLACIER_IR, read at once at archive prices; 3: GLACIER and 4: DEEP_ARCHIVE, restored
    ///    first, in minutes to hours and hours to days.
    /// None for classes outside that order: OUTPOSTS and SNOW (storage on the customer's
    /// hardware) and unknown classes.
    pub fn coldness(self) -> Option<u8> {
        match self {
            Standard | ReducedRedundancy | ExpressOnezone => Some(0),
            StandardIa | OnezoneIa | IntelligentTiering => Some(1),
            GlacierIr => Some(2),
            Glacier => Some(3),
            DeepArchive => Some(4),
            Outposts | Snow | Other(_) => None,
        }
    }

    /// Classes an archive may target.
    pub fn is_archive_target(self) -> bool {
        Self::ARCHIVE_TARGETS.contains(&self)
    }

    /// Why S3 cannot copy an object of this class to another class, for the classes that live
    /// in buckets holding no other class.
    pub fn immovable(self) -> Option<&'static str> {
        match self {
            ExpressOnezone => Some("EXPRESS_ONEZONE objects live in a directory bucket, which holds no other class: not moved"),
            Outposts => Some("OUTPOSTS objects live in an S3 on Outposts bucket, which holds no other class: not moved"),
            Snow => Some("SNOW objects live on a Snowball Edge device, which holds no other class: not moved"),
            _ => None,
        }
    }

    /// Why S3 would refuse to copy an object of this class whose HEAD says `archive_status`:
    /// an INTELLIGENT_TIERING object in its Archive Access or Deep Archive Access tier
    /// (`x-amz-archive-status`) answers a copy with 403 InvalidObjectState until it is restored.
    pub fn copy_blocked_by(self, archive_status: Option<&str>) -> Option<String> {
        archive_status.map(|tier| format!("{self} object in its {tier} tier must be restored before it can be copied: not moved"))
    }

    /// Objects in these classes must be restored before they can be read.
    pub fn needs_restore(self) -> bool {
        matches!(self, Glacier | DeepArchive)
    }

    /// The class as S3 reports it (or the registry, which keeps S3's names): absent means
    /// STANDARD (S3 omits it for STANDARD), and a name slm does not know is kept as it is. Only
    /// text that cannot be a class name is refused.
    pub fn from_s3(value: Option<&str>) -> Result<Self, ClassNameError> {
        match value {
            None | Some("") => Ok(Standard),
            Some(v) => match Self::known(v) {
                Some(c) => Ok(c),
                None => Ok(Other(ClassName::new(v)?)),
            },
        }
    }

    fn known(name: &str) -> Option<Self> {
        Self::KNOWN.into_iter().find(|c| c.as_str() == name)
    }

    /// The archive targets, as an error message lists them.
    pub fn targets_text() -> String {
        Self::ARCHIVE_TARGETS.map(|c| c.as_str().to_string()).join(", ")
    }

    /// Deserializes strictly, as [`FromStr`] parses: for documents people write.
    pub fn deserialize_strict<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for StorageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a person writes (a policy target, an API body, a CLI argument): only the classes slm
/// knows, so that a typo is refused instead of kept as an unknown class.
impl FromStr for StorageClass {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::known(s).ok_or_else(|| {
            Error::validation(format!("unknown storage class '{}' (archive targets: {})", shown(s), Self::targets_text()))
        })
    }
}

impl Serialize for StorageClass {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Leniently, as [`StorageClass::from_s3`]: serialized classes are what S3 and the registry said
/// (work batches, stored tasks); a document people write uses [`StorageClass::deserialize_strict`].
impl<'de> Deserialize<'de> for StorageClass {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        StorageClass::from_s3(Some(&String::deserialize(d)?)).map_err(serde::de::Error::custom)
    }
}

/// The name of a class slm does not know, held inline so that [`StorageClass`] stays `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClassName {
    bytes: [u8; ClassName::MAX],
    len: u8,
}

impl ClassName {
    /// Longest name kept; S3's longest so far, INTELLIGENT_TIERING, has 19 characters.
    pub const MAX: usize = 32;

    /// A class name: 1 to 32 of A-Z, 0-9 and _, as S3 names its classes.
    pub fn new(name: &str) -> Result<Self, ClassNameError> {
        if name.is_empty() {
            return Err(ClassNameError::Empty);
        }
        if name.len() > Self::MAX {
            return Err(ClassNameError::TooLong(shown(name)));
        }
        if !name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
            return Err(ClassNameError::NotAName(shown(name)));
        }
        let mut bytes = [0; Self::MAX];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        Ok(ClassName { bytes, len: name.len() as u8 })
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).expect("ASCII by construction")
    }
}

impl fmt::Debug for ClassName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// Text that cannot be a storage class name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassNameError {
    #[error("an empty storage class name")]
    Empty,
    #[error("storage class name '{0}' is longer than {max} characters", max = ClassName::MAX)]
    TooLong(String),
    #[error("storage class name '{0}' has characters other than A-Z, 0-9 and _")]
    NotAName(String),
}

impl From<ClassNameError> for Error {
    fn from(e: ClassNameError) -> Self {
        Error::validation(e.to_string())
    }
}

/// The start of untrusted text, for an error message.
fn shown(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_s3_names_round_trips_through_its_name() {
        for c in StorageClass::KNOWN {
            assert_eq!(c.as_str().parse::<StorageClass>().unwrap(), c);
            assert_eq!(StorageClass::from_s3(Some(c.as_str())).unwrap(), c);
            assert_eq!(serde_json::from_str::<StorageClass>(&serde_json::to_string(&c).unwrap()).unwrap(), c);
        }
        assert_eq!(StorageClass::from_s3(Some("INTELLIGENT_TIERING")).unwrap(), IntelligentTiering);
    }

    #[test]
    fn absent_s3_class_means_standard() {
        assert_eq!(StorageClass::from_s3(None).unwrap(), Standard);
        assert_eq!(StorageClass::from_s3(Some("")).unwrap(), Standard);
    }

    #[test]
    fn an_unknown_s3_class_is_kept_by_its_name_through_a_round_trip() {
        let c = StorageClass::from_s3(Some("FSX_OPENZFS")).unwrap();
        assert!(matches!(c, Other(_)));
        assert_eq!(c.as_str(), "FSX_OPENZFS");
        // as the registry stores and reads it, and as a work batch carries it
        assert_eq!(StorageClass::from_s3(Some(&c.to_string())).unwrap(), c);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#""FSX_OPENZFS""#);
        assert_eq!(serde_json::from_str::<StorageClass>(&json).unwrap(), c);
        assert_eq!(c.coldness(), None);
        assert!(!c.is_archive_target());
    }

    #[test]
    fn text_that_is_no_class_name_is_refused_clearly() {
        let long = "A".repeat(ClassName::MAX + 1);
        assert_eq!(StorageClass::from_s3(Some(&long)).unwrap_err(), ClassNameError::TooLong(long.clone()));
        assert!(StorageClass::from_s3(Some(&long)).unwrap_err().to_string().contains("longer than 32"));
        assert!(StorageClass::from_s3(Some(&"A".repeat(ClassName::MAX))).is_ok());
        for bad in ["glacier", "GLACIER IR", "GLACIER-IR", "É"] {
            let err = StorageClass::from_s3(Some(bad)).unwrap_err();
            assert!(err.to_string().contains("A-Z, 0-9 and _"), "{bad}: {err}");
        }
        assert!(serde_json::from_str::<StorageClass>(r#""glacier""#).is_err());
    }

    #[test]
    fn what_people_write_is_parsed_strictly_naming_the_archive_targets() {
        for typo in ["GLACIERR", "FSX_OPENZFS", "glacier", ""] {
            let err = typo.parse::<StorageClass>().unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Validation);
            let text = err.to_string();
            assert!(text.contains(&format!("'{typo}'")), "{text}");
            assert!(text.contains("STANDARD_IA, GLACIER_IR, GLACIER, DEEP_ARCHIVE"), "{text}");
        }
        #[derive(Debug, serde::Deserialize)]
        struct Doc {
            #[serde(deserialize_with = "StorageClass::deserialize_strict")]
            #[allow(dead_code)]
            class: StorageClass,
        }
        assert!(serde_json::from_str::<Doc>(r#"{"class":"GLACIERR"}"#).is_err());
        assert!(serde_json::from_str::<Doc>(r#"{"class":"GLACIER"}"#).is_ok());
    }

    #[test]
    fn coldness_orders_the_classes_by_access_and_price() {
        let rank = |c: StorageClass| c.coldness();
        for hot in [Standard, ReducedRedundancy, ExpressOnezone] {
            assert_eq!(rank(hot), Some(0), "{hot}");
        }
        for infrequent in [StandardIa, OnezoneIa, IntelligentTiering] {
            assert_eq!(rank(infrequent), Some(1), "{infrequent}");
        }
        assert!(rank(StandardIa) < rank(GlacierIr) && rank(GlacierIr) < rank(Glacier) && rank(Glacier) < rank(DeepArchive));
        for outside in [Outposts, Snow] {
            assert_eq!(rank(outside), None, "{outside}");
        }
    }

    #[test]
    fn an_intelligent_tiering_object_in_an_archive_tier_cannot_be_copied() {
        assert_eq!(IntelligentTiering.copy_blocked_by(None), None);
        let why = IntelligentTiering.copy_blocked_by(Some("DEEP_ARCHIVE_ACCESS")).unwrap();
        assert_eq!(why, "INTELLIGENT_TIERING object in its DEEP_ARCHIVE_ACCESS tier must be restored before it can be copied: not moved");
    }

    #[test]
    fn only_classes_in_buckets_of_their_own_are_immovable() {
        let immovable: Vec<StorageClass> = StorageClass::KNOWN.into_iter().filter(|c| c.immovable().is_some()).collect();
        assert_eq!(immovable, [ExpressOnezone, Outposts, Snow]);
        assert!(Outposts.immovable().unwrap().contains("Outposts bucket"));
    }
}
