//! Lifecycle policies: for assets matching a selector, an action due when an anchor date plus an
//! offset has passed. Which of several due policies decides is written in
//! docs/architecture.md ("Policies: which one decides") and pinned by the table below.

use super::action::{Action, StorageClass};
use super::asset::{Asset, AssetState, validate_id};
use super::title::{Title, validate_date_name};
use crate::error::{Error, Result};
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

pub const MAX_OFFSET_DAYS: i64 = 36_500;
/// Partitions of the due index: spreads its writes, and an evaluation reads them in turn.
pub const DUE_SHARDS: u32 = 16;

/// The due-index partition of an asset.
pub fn due_shard(asset_id: &str) -> u32 {
    super::file::shard_of(asset_id, DUE_SHARDS)
}

/// The shards of the due index, in an order that starts at `first`, so that no shard always
/// goes last when an evaluation stops at its cap.
pub fn due_shards_from(first: u32) -> impl Iterator<Item = u32> {
    (0..DUE_SHARDS).map(move |i| (first + i) % DUE_SHARDS)
}
pub const MAX_PRIORITY: u32 = 1000;
const MAX_SELECTOR_VALUES: usize = 100;

/// The date a policy counts its offset from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Anchor {
    /// A named business date of the asset's title ("title.launch", "title.post_production_end").
    TitleDate(String),
    /// The asset's creation date.
    AssetCreated,
    /// The asset's last recorded access (its creation when it was never read).
    AssetLastAccess,
}

impl FromStr for Anchor {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "asset.created" => Ok(Anchor::AssetCreated),
            "asset.last_access" => Ok(Anchor::AssetLastAccess),
            _ => match s.strip_prefix("title.") {
                Some(name) => validate_date_name(name).map(|()| Anchor::TitleDate(name.to_string())),
                None => Err(Error::validation(format!(
                    "unknown anchor {s:?} (expected title.<date name>, asset.created or asset.last_access)"
                ))),
            },
        }
    }
}

impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Anchor::TitleDate(name) => write!(f, "title.{name}"),
            Anchor::AssetCreated => f.write_str("asset.created"),
            Anchor::AssetLastAccess => f.write_str("asset.last_access"),
        }
    }
}

impl TryFrom<String> for Anchor {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Anchor> for String {
    fn from(a: Anchor) -> String {
        a.to_string()
    }
}

impl Anchor {
    /// The anchor's date for this asset, if the asset (or its title) has one.
    pub fn date(&self, asset: &Asset, title: Option<&Title>) -> Option<NaiveDate> {
        match self {
            Anchor::TitleDate(name) => title.filter(|t| t.title_id == asset.title_id).and_then(|t| t.dates.get(name).copied()),
            Anchor::AssetCreated => Some(asset.created_on),
            Anchor::AssetLastAccess => Some(asset.last_access_on.unwrap_or(asset.created_on)),
        }
    }
}

/// What a policy does. Restores are asked for, never scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum PolicyAction {
    Archive {
        /// Parsed strictly: a policy's typo is refused, not kept as a class slm does not know.
        #[serde(deserialize_with = "StorageClass::deserialize_strict")]
        storage_class: StorageClass,
    },
    Purge,
}

impl PolicyAction {
    pub fn to_action(self) -> Action {
        match self {
            PolicyAction::Archive { storage_class } => Action::Archive { storage_class },
            PolicyAction::Purge => Action::Purge,
        }
    }

    /// Whether the asset is where this action would put it already (or further: an asset in
    /// DEEP_ARCHIVE satisfies "archive to GLACIER"; slm never moves an asset to a warmer class).
    pub fn satisfied_by(self, asset: &Asset) -> bool {
        if asset.state == AssetState::Purged {
            return true;
        }
        match self {
            PolicyAction::Purge => false,
            PolicyAction::Archive { storage_class } => match (asset.class().and_then(StorageClass::coldness), storage_class.coldness()) {
                (Some(now), Some(target)) => now >= target,
                // Mixed, or in a class outside the order: a task decides file by file.
                _ => false,
            },
        }
    }
}


/// Which assets a policy applies to: every listed dimension must match (an empty one matches
/// all); tags must all be present with the given values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Selector {
    pub asset_types: Vec<String>,
    pub phases: Vec<String>,
    pub titles: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

impl Selector {
    pub fn matches(&self, asset: &Asset) -> bool {
        let within = |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        within(&self.asset_types, &asset.asset_type)
            && within(&self.phases, &asset.phase)
            && within(&self.titles, &asset.title_id)
            && self.tags.iter().all(|(k, v)| asset.tags.get(k) == Some(v))
    }

    /// Whether some asset could match both selectors.
    pub fn may_overlap(&self, other: &Selector) -> bool {
        let meet = |a: &[String], b: &[String]| a.is_empty() || b.is_empty() || a.iter().any(|v| b.contains(v));
        meet(&self.asset_types, &other.asset_types)
            && meet(&self.phases, &other.phases)
            && meet(&self.titles, &other.titles)
            && self.tags.iter().all(|(k, v)| other.tags.get(k).is_none_or(|w| w == v))
    }

    /// How narrow the selector is: one point per constrained dimension and per tag.
    pub fn specificity(&self) -> usize {
        [&self.asset_types, &self.phases, &self.titles].iter().filter(|l| !l.is_empty()).count() + self.tags.len()
    }

    fn validate(&self) -> Result<()> {
        for (field, list) in [("selector.asset_types", &self.asset_types), ("selector.phases", &self.phases), ("selector.titles", &self.titles)] {
            if list.len() > MAX_SELECTOR_VALUES {
                return Err(Error::validation(format!("{field} has more than {MAX_SELECTOR_VALUES} values")));
            }
            list.iter().try_for_each(|v| validate_id(field, v))?;
        }
        validate_tags("selector.tags", &self.tags)
    }
}

/// Tags: at most 50, keys 1-128 and values 0-256 characters, no control characters.
pub fn validate_tags(field: &str, tags: &BTreeMap<String, String>) -> Result<()> {
    if tags.len() > 50 {
        return Err(Error::validation(format!("{field} has more than 50 tags")));
    }
    for (k, v) in tags {
        let bad = k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 || k.chars().chain(v.chars()).any(char::is_control);
        if bad {
            return Err(Error::validation(format!("{field}: tag {k:?} must have a 1-128 character key and a value of at most 256, without control characters")));
        }
    }
    Ok(())
}

/// A policy as written by a caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDoc {
    pub policy_id: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub selector: Selector,
    pub anchor: Anchor,
    /// Signed so that a negative offset gets an error that says so, not a type error.
    pub offset_days: i64,
    /// "Unless read in the last N days": the policy is not due before the asset's last access
    /// (its creation when never read) plus this many days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_accessed_days: Option<i64>,
    pub action: PolicyAction,
    #[serde(default)]
    pub priority: u32,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

impl PolicyDoc {
    /// Parses and validates a policy document, with errors that name what is wrong.
    pub fn parse(text: &str) -> Result<Self> {
        let doc: PolicyDoc = crate::json::parse("policy", text)?;
        doc.validate()?;
        Ok(doc)
    }

    pub fn validate(&self) -> Result<()> {
        validate_id("policy_id", &self.policy_id)?;
        if self.description.chars().count() > 1024 || self.description.chars().any(char::is_control) {
            return Err(Error::validation("description must be at most 1024 characters without control characters"));
        }
        if !(0..=MAX_OFFSET_DAYS).contains(&self.offset_days) {
            return Err(Error::validation(format!("offset_days must be between 0 and {MAX_OFFSET_DAYS}, got {}", self.offset_days)));
        }
        if let Some(quiet) = self.not_accessed_days
            && !(0..=MAX_OFFSET_DAYS).contains(&quiet)
        {
            return Err(Error::validation(format!("not_accessed_days must be between 0 and {MAX_OFFSET_DAYS}, got {quiet}")));
        }
        if self.priority > MAX_PRIORITY {
            return Err(Error::validation(format!("priority must be between 0 and {MAX_PRIORITY}, got {}", self.priority)));
        }
        self.action.to_action().validate()?;
        self.selector.validate()
    }
}

/// A stored version of a policy. Editing makes a new version; tasks name the version that
/// caused them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    #[serde(flatten)]
    pub doc: PolicyDoc,
    pub version: u32,
    pub created_at: String,
    pub created_by: String,
}

impl Policy {
    pub fn id(&self) -> &str {
        &self.doc.policy_id
    }

    /// The day this policy is due for the asset, if it applies to it and its anchor is known.
    pub fn due_date(&self, asset: &Asset, title: Option<&Title>) -> Option<NaiveDate> {
        if !self.doc.enabled || !self.doc.selector.matches(asset) {
            return None;
        }
        let anchor = self.doc.anchor.date(asset, title)?;
        let due = anchor.checked_add_days(Days::new(self.doc.offset_days as u64))?;
        match self.doc.not_accessed_days {
            None => Some(due),
            Some(quiet) => {
                let accessed = Anchor::AssetLastAccess.date(asset, title)?;
                Some(due.max(accessed.checked_add_days(Days::new(quiet as u64))?))
            }
        }
    }

    /// The task origin for this policy's action on an asset: the same policy version and due
    /// date name the same task, so evaluating twice creates nothing new.
    pub fn origin(&self, due: NaiveDate) -> String {
        format!("policy:{}:v{}:{due}", self.doc.policy_id, self.version)
    }

    /// The order in which due policies decide: higher priority, then the more specific
    /// selector, then purge before archive, then the colder class, then the policy id.
    pub(crate) fn rank_key(&self) -> (Reverse<u32>, Reverse<usize>, u8, Reverse<Option<u8>>, &str) {
        let (kind, cold) = match self.doc.action {
            PolicyAction::Purge => (0, None),
            PolicyAction::Archive { storage_class } => (1, storage_class.coldness()),
        };
        (Reverse(self.doc.priority), Reverse(self.doc.selector.specificity()), kind, Reverse(cold), self.id())
    }
}

/// What the policies say about one asset on one day.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision<'a> {
    /// The deciding policy's action is to be done now.
    Act { policy: &'a Policy, due: NaiveDate },
    /// The deciding policy is satisfied already (or none is due): nothing to do until `next`.
    Wait { next: Option<NaiveDate> },
}

/// Resolves the policies due for `asset` on `today` (see [`Policy::rank_key`]): the first in
/// that order decides alone. When it is satisfied already, lower-ranked policies do not act:
/// a higher-priority archive holds a lower-priority purge back for as long as it is due.
pub fn decide<'a>(asset: &Asset, title: Option<&Title>, policies: &'a [Policy], today: NaiveDate) -> Decision<'a> {
    let winner = policies
        .iter()
        .filter_map(|p| p.due_date(asset, title).filter(|d| *d <= today).map(|d| (p, d)))
        .min_by(|(a, _), (b, _)| a.rank_key().cmp(&b.rank_key()));
    match winner {
        Some((policy, due)) if !policy.doc.action.satisfied_by(asset) => Decision::Act { policy, due },
        _ => Decision::Wait { next: next_due(asset, title, policies, Some(today)) },
    }
}

/// The first day (after `after`, if given) on which a policy not yet satisfied by the asset is
/// due: the date the due index holds for it. None when no policy will ever act on it.
pub fn next_due(asset: &Asset, title: Option<&Title>, policies: &[Policy], after: Option<NaiveDate>) -> Option<NaiveDate> {
    policies
        .iter()
        .filter(|p| !p.doc.action.satisfied_by(asset))
        .filter_map(|p| p.due_date(asset, title))
        .filter(|d| after.is_none_or(|a| *d > a))
        .min()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    pub fn asset(asset_type: &str, phase: &str, class: &str) -> Asset {
        Asset {
            asset_id: format!("{asset_type}-1"),
            title_id: "tln".into(),
            asset_type: asset_type.into(),
            phase: phase.into(),
            tags: BTreeMap::new(),
            created_on: date("2026-06-01"),
            last_access_on: None,
            bucket: "media".into(),
            prefix: "p/".into(),
            shards: 16,
            file_count: 10,
            total_bytes: 10 << 30,
            small_file_count: 0,
            small_file_bytes: 0,
            state: if class == "STANDARD" { AssetState::Active } else { AssetState::Archived },
            storage_class: class.parse().expect("a class"),
            active_task: None,
            active_action: None,
            queued_task: None,
            registered_at: "2026-06-01T00:00:00Z".into(),
            due_at: None,
            backfill_cursor: None,
            sweep_cursor: None,
        }
    }

    pub fn title() -> Title {
        Title {
            title_id: "tln".into(),
            name: None,
            dates: BTreeMap::from([("launch".into(), date("2027-03-01")), ("post_production_end".into(), date("2027-01-15"))]),
            updated_at: String::new(),
        }
    }

    pub fn policy(id: &str, json: &str) -> Policy {
        let doc: PolicyDoc = serde_json::from_str(&json.replace("ID", id)).unwrap();
        doc.validate().unwrap();
        Policy { doc, version: 1, created_at: String::new(), created_by: String::new() }
    }

    fn archive_finals() -> Policy {
        policy("ID", r#"{"policy_id":"archive-finals","selector":{"phases":["final"]},"anchor":"title.post_production_end","offset_days":30,"action":{"action":"archive","storage_class":"GLACIER"},"priority":10}"#)
    }

    fn purge_temps() -> Policy {
        policy("ID", r#"{"policy_id":"purge-temps","selector":{"asset_types":["temp_render"]},"anchor":"title.launch","offset_days":180,"action":{"action":"purge"},"priority":50}"#)
    }

    #[test]
    fn a_title_anchor_adds_the_offset_to_the_titles_date() {
        let p = archive_finals();
        assert_eq!(p.due_date(&asset("editorial", "final", "STANDARD"), Some(&title())), Some(date("2027-02-14")));
    }

    #[test]
    fn a_title_without_the_named_date_leaves_the_policy_undue() {
        let mut t = title();
        t.dates.remove("post_production_end");
        assert_eq!(archive_finals().due_date(&asset("editorial", "final", "STANDARD"), Some(&t)), None);
        assert_eq!(archive_finals().due_date(&asset("editorial", "final", "STANDARD"), None), None);
    }

    #[test]
    fn asset_anchors_use_creation_and_last_access() {
        let created = policy("c", r#"{"policy_id":"ID","anchor":"asset.created","offset_days":10,"action":{"action":"purge"}}"#);
        let accessed = policy("a", r#"{"policy_id":"ID","anchor":"asset.last_access","offset_days":30,"action":{"action":"archive","storage_class":"GLACIER_IR"}}"#);
        let mut a = asset("editorial", "final", "STANDARD");
        assert_eq!(created.due_date(&a, None), Some(date("2026-06-11")));
        assert_eq!(accessed.due_date(&a, None), Some(date("2026-07-01")), "never read: counts from creation");
        a.last_access_on = Some(date("2026-09-01"));
        assert_eq!(accessed.due_date(&a, None), Some(date("2026-10-01")));
    }

    #[test]
    fn unless_read_recently_holds_the_due_day_back_until_the_asset_is_quiet() {
        // Archive 90 days after launch unless read in the last 30 days.
        let p = policy("q", r#"{"policy_id":"ID","anchor":"title.launch","offset_days":90,"not_accessed_days":30,"action":{"action":"archive","storage_class":"GLACIER"}}"#);
        let mut a = asset("editorial", "final", "STANDARD");
        assert_eq!(p.due_date(&a, Some(&title())), Some(date("2027-05-30")), "never read: launch + 90");
        a.last_access_on = Some(date("2027-05-20"));
        assert_eq!(p.due_date(&a, Some(&title())), Some(date("2027-06-19")), "read on May 20: 30 quiet days after it");
        a.last_access_on = Some(date("2027-03-02"));
        assert_eq!(p.due_date(&a, Some(&title())), Some(date("2027-05-30")), "an old read does not move it");
    }

    #[test]
    fn selectors_match_on_every_listed_dimension() {
        let p = policy("p", r#"{"policy_id":"ID","selector":{"asset_types":["vfx_plate"],"phases":["final"],"titles":["tln"],"tags":{"hero":"yes"}},"anchor":"asset.created","offset_days":0,"action":{"action":"purge"}}"#);
        let mut a = asset("vfx_plate", "final", "STANDARD");
        assert!(!p.doc.selector.matches(&a), "tag missing");
        a.tags.insert("hero".into(), "yes".into());
        assert!(p.doc.selector.matches(&a));
        for (field, value) in [("type", "editorial"), ("phase", "temp"), ("title", "other")] {
            let mut b = a.clone();
            match field {
                "type" => b.asset_type = value.into(),
                "phase" => b.phase = value.into(),
                _ => b.title_id = value.into(),
            }
            assert!(!p.doc.selector.matches(&b), "{field} {value} matched");
        }
        assert_eq!(p.doc.selector.specificity(), 4);
    }

    #[test]
    fn a_disabled_policy_is_never_due() {
        let mut p = archive_finals();
        p.doc.enabled = false;
        assert_eq!(p.due_date(&asset("editorial", "final", "STANDARD"), Some(&title())), None);
    }

    /// The conflict rule, one row per case: the policies (by their JSON), the asset's class,
    /// the day, and which policy acts (or none).
    #[test]
    fn which_policy_decides() {
        let archive = |id: &str, class: &str, prio: u32, selector: &str| {
            policy(id, &format!(r#"{{"policy_id":"ID","selector":{selector},"anchor":"title.launch","offset_days":0,"action":{{"action":"archive","storage_class":"{class}"}},"priority":{prio}}}"#))
        };
        let purge = |id: &str, prio: u32, selector: &str| {
            policy(id, &format!(r#"{{"policy_id":"ID","selector":{selector},"anchor":"title.launch","offset_days":0,"action":{{"action":"purge"}},"priority":{prio}}}"#))
        };
        let any = "{}";
        let typed = r#"{"asset_types":["editorial"]}"#;
        let cases: Vec<(&str, Vec<Policy>, &str, Option<&str>)> = vec![
            ("higher priority wins over a purge", vec![archive("keep", "GLACIER", 90, any), purge("purge", 10, any)], "STANDARD", Some("keep")),
            ("higher priority purge wins over an archive", vec![archive("arch", "GLACIER", 10, any), purge("purge", 90, any)], "STANDARD", Some("purge")),
            ("same priority: the more specific selector", vec![archive("narrow", "GLACIER_IR", 10, typed), archive("broad", "DEEP_ARCHIVE", 10, any)], "STANDARD", Some("narrow")),
            ("same priority and specificity: purge before archive", vec![archive("arch", "DEEP_ARCHIVE", 10, any), purge("purge", 10, any)], "STANDARD", Some("purge")),
            ("same everything but class: the colder class", vec![archive("ir", "GLACIER_IR", 10, any), archive("deep", "DEEP_ARCHIVE", 10, any)], "STANDARD", Some("deep")),
            ("a full tie: the policy id decides", vec![archive("b", "GLACIER", 10, any), archive("a", "GLACIER", 10, any)], "STANDARD", Some("a")),
            ("the winner satisfied already holds the purge back", vec![archive("keep", "GLACIER", 90, any), purge("purge", 10, any)], "GLACIER", None),
            ("a colder class satisfies an archive", vec![archive("arch", "GLACIER", 10, any)], "DEEP_ARCHIVE", None),
            ("a warmer class does not", vec![archive("arch", "GLACIER", 10, any)], "GLACIER_IR", Some("arch")),
            ("a mixed asset is archived again", vec![archive("arch", "GLACIER", 10, any)], "MIXED", Some("arch")),
            ("an equally cold class satisfies an archive", vec![archive("arch", "STANDARD_IA", 10, any)], "INTELLIGENT_TIERING", None),
            ("intelligent tiering is warmer than GLACIER_IR", vec![archive("arch", "GLACIER_IR", 10, any)], "INTELLIGENT_TIERING", Some("arch")),
            ("a class outside the order is looked at file by file", vec![archive("arch", "GLACIER", 10, any)], "OUTPOSTS", Some("arch")),
            ("so is a class slm does not know", vec![archive("arch", "GLACIER", 10, any)], "NEW_CLASS", Some("arch")),
        ];
        for (name, policies, class, expected) in cases {
            let decision = decide(&asset("editorial", "final", class), Some(&title()), &policies, date("2027-03-01"));
            let acted = match decision {
                Decision::Act { policy, .. } => Some(policy.id()),
                Decision::Wait { .. } => None,
            };
            assert_eq!(acted, expected, "{name}");
        }
    }

    #[test]
    fn nothing_acts_before_its_day_and_the_next_day_is_known() {
        let policies = vec![archive_finals(), purge_temps()];
        let a = asset("editorial", "final", "STANDARD");
        assert_eq!(decide(&a, Some(&title()), &policies, date("2027-02-13")), Decision::Wait { next: Some(date("2027-02-14")) });
        assert!(matches!(decide(&a, Some(&title()), &policies, date("2027-02-14")), Decision::Act { .. }));
    }

    #[test]
    fn after_an_archive_the_next_due_is_the_next_unsatisfied_policy() {
        let deep = policy("d", r#"{"policy_id":"ID","selector":{"phases":["final"]},"anchor":"title.launch","offset_days":365,"action":{"action":"archive","storage_class":"DEEP_ARCHIVE"},"priority":10}"#);
        let policies = vec![archive_finals(), deep];
        let archived = asset("editorial", "final", "GLACIER");
        assert_eq!(next_due(&archived, Some(&title()), &policies, None), Some(date("2028-02-29")));
        let deep_archived = asset("editorial", "final", "DEEP_ARCHIVE");
        assert_eq!(next_due(&deep_archived, Some(&title()), &policies, None), None);
    }

    #[test]
    fn a_purged_asset_has_nothing_due() {
        let mut a = asset("temp_render", "temp", "STANDARD");
        a.state = AssetState::Purged;
        assert_eq!(next_due(&a, Some(&title()), &[purge_temps()], None), None);
    }

    #[test]
    fn the_origin_names_policy_version_and_due_day() {
        assert_eq!(archive_finals().origin(date("2027-02-14")), "policy:archive-finals:v1:2027-02-14");
    }

    #[test]
    fn bad_policies_get_errors_that_say_what_is_wrong() {
        let base = r#"{"policy_id":"p","anchor":"title.launch","offset_days":30,"action":{"action":"archive","storage_class":"GLACIER"}}"#;
        let cases = [
            (base.replace(r#""offset_days":30"#, r#""offset_days":-5"#), "offset_days"),
            (base.replace("GLACIER", "GLACIERR"), "GLACIERR"),
            (base.replace("GLACIER", "STANDARD"), "STANDARD"),
            (base.replace("title.launch", "asset.modified"), "asset.modified"),
            (base.replace("title.launch", "title.Launch Day"), "Launch Day"),
            (base.replace(r#""policy_id":"p""#, r#""policy_id":"p","colour":"red""#), "colour"),
            (base.replace(r#""storage_class":"GLACIER""#, r#""storage_class":"GLACIER","days":3"#), "days"),
            (base.replace(r#""action":"archive","storage_class":"GLACIER""#, r#""action":"restore","days":3,"tier":"Bulk""#), "restore"),
            (base.replace(r#""offset_days":30"#, r#""offset_days":30,"priority":5000"#), "priority"),
            (base.replace(r#""offset_days":30"#, r#""offset_days":30,"selector":{"asset_types":["a b"]}"#), "asset_types"),
            (base.replace(r#""offset_days":30"#, r#""offset_days":30,"selector":{"kinds":["x"]}"#), "kinds"),
            (base.replace(r#""policy_id":"p","#, ""), "policy_id"),
            (base.replace(r#""offset_days":30"#, r#""offset_days":30,"not_accessed_days":-1"#), "not_accessed_days"),
        ];
        for (text, needle) in cases {
            let err = PolicyDoc::parse(&text).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Validation, "{text}");
            assert!(err.to_string().contains(needle), "{text}: {err} does not name {needle}");
        }
        assert!(PolicyDoc::parse(base).unwrap().enabled, "enabled by default");
    }
}
