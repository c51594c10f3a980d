//! A title (a film or a series) and its business dates: launch, end of post-production or any
//! other named date. Policies anchor on them, and when one moves, eligibility moves with it.

use super::asset::validate_id;
use crate::error::{Error, Result};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Business dates are accepted in this range: anything outside is a typo.
const FIRST_YEAR: i32 = 1970;
const LAST_YEAR: i32 = 2200;
const MAX_DATES: usize = 32;

/// A title as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Title {
    pub title_id: String,
    pub name: Option<String>,
    pub dates: BTreeMap<String, NaiveDate>,
    pub updated_at: String,
}

/// What a caller gives to create or update a title: the dates replace the stored ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TitleBody {
    pub name: Option<String>,
    pub dates: BTreeMap<String, String>,
}

impl TitleBody {
    pub fn into_title(self, title_id: &str, now: chrono::DateTime<chrono::Utc>) -> Result<Title> {
        validate_id("title_id", title_id)?;
        if let Some(name) = &self.name
            && (name.is_empty() || name.chars().count() > 256 || name.chars().any(char::is_control))
        {
            return Err(Error::validation("name must be 1-256 characters without control characters"));
        }
        if self.dates.len() > MAX_DATES {
            return Err(Error::validation(format!("a title has at most {MAX_DATES} dates, got {}", self.dates.len())));
        }
        let mut dates = BTreeMap::new();
        for (name, value) in &self.dates {
            validate_date_name(name)?;
            dates.insert(name.clone(), parse_date(&format!("dates.{name}"), value)?);
        }
        Ok(Title { title_id: title_id.to_string(), name: self.name, dates, updated_at: super::stamp(now) })
    }
}

/// Date names are what policies anchor on ("title.launch"): lower case, digits and '_'.
pub fn validate_date_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok { Ok(()) } else { Err(Error::validation(format!("date name {name:?} must be 1-64 characters of a-z 0-9 _"))) }
}

/// A calendar date as YYYY-MM-DD, between 1970 and 2200.
pub fn parse_date(field: &str, value: &str) -> Result<NaiveDate> {
    let date = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| Error::validation(format!("{field} must be a date as YYYY-MM-DD, got {value:?}")))?;
    if !(FIRST_YEAR..=LAST_YEAR).contains(&chrono::Datelike::year(&date)) {
        return Err(Error::validation(format!("{field} {value} is outside {FIRST_YEAR}-{LAST_YEAR}")));
    }
    Ok(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(dates: &[(&str, &str)]) -> TitleBody {
        TitleBody { name: Some("The Long Night".into()), dates: dates.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
    }

    #[test]
    fn named_dates_are_parsed() {
        let t = body(&[("launch", "2027-03-01"), ("festival_premiere", "2027-01-20")]).into_title("tln", chrono::DateTime::UNIX_EPOCH).unwrap();
        assert_eq!(t.dates["launch"], NaiveDate::from_ymd_opt(2027, 3, 1).unwrap());
        assert_eq!(t.dates.len(), 2);
    }

    #[test]
    fn malformed_or_out_of_range_dates_are_refused_naming_the_date() {
        for (name, value) in [("launch", "2027-13-01"), ("launch", "01/03/2027"), ("launch", "9999-01-01"), ("launch", "1900-01-01")] {
            let err = body(&[(name, value)]).into_title("tln", chrono::DateTime::UNIX_EPOCH).unwrap_err();
            assert!(err.to_string().contains("dates.launch"), "{err}");
        }
    }

    #[test]
    fn date_names_outside_the_alphabet_are_refused() {
        for name in ["Launch", "launch date", "", "a.b"] {
            assert!(body(&[(name, "2027-01-01")]).into_title("tln", chrono::DateTime::UNIX_EPOCH).is_err(), "{name:?} accepted");
        }
    }
}
