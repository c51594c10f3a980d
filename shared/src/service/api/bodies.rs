//! What the API's use cases read and answer: request bodies, checked, and answers.

use super::super::Mode;
use crate::domain::title::parse_date;
use crate::domain::hold::Hold;
use crate::domain::{Action, Policy, Task};
use crate::error::{Error, Result};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The body of a task request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    pub action: String,
    pub storage_class: Option<String>,
    pub days: Option<u32>,
    pub tier: Option<String>,
    /// The caller's idempotency key: the same key asks for the same task.
    pub request_id: String,
}

impl TaskBody {
    pub fn to_action(&self) -> Result<Action> {
        let unexpected = |field: &str, action: &str| Error::validation(format!("{field} does not apply to {action}"));
        match self.action.as_str() {
            "archive" => {
                if self.days.is_some() || self.tier.is_some() {
                    return Err(unexpected("days/tier", "archive"));
                }
                let class = self.storage_class.as_deref().ok_or_else(|| Error::validation("archive needs storage_class"))?;
                Ok(Action::Archive { storage_class: class.parse()? })
            }
            "restore" => {
                if self.storage_class.is_some() {
                    return Err(unexpected("storage_class", "restore"));
                }
                let days = self.days.ok_or_else(|| Error::validation("restore needs days"))?;
                let tier = self.tier.as_deref().ok_or_else(|| Error::validation("restore needs tier"))?.parse()?;
                Ok(Action::Restore { days, tier })
            }
            "purge" => {
                if self.storage_class.is_some() || self.days.is_some() || self.tier.is_some() {
                    return Err(unexpected("storage_class/days/tier", "purge"));
                }
                Ok(Action::Purge)
            }
            other => Err(Error::validation(format!("unknown action {other:?} (expected archive, restore or purge)"))),
        }
    }

    /// The caller's idempotency key, checked: 1-128 printable characters.
    pub(super) fn request_id(&self) -> Result<&str> {
        let id = self.request_id.as_str();
        if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
            return Err(Error::validation("request_id must be 1-128 printable characters"));
        }
        Ok(id)
    }
}

/// The body of a dry-run: the day (or time) to evaluate, and how many actions to list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRunBody {
    pub at: String,
    pub limit: Option<usize>,
}

/// Most actions a dry-run lists (its totals count all).
const MAX_DRY_RUN_LIST: usize = 1000;

impl DryRunBody {
    pub fn time(&self) -> Result<DateTime<Utc>> {
        if let Ok(t) = DateTime::parse_from_rfc3339(&self.at) {
            let t = t.with_timezone(&Utc);
            parse_date("at", &t.date_naive().to_string())?;
            return Ok(t);
        }
        let day = parse_date("at", &self.at)?;
        Ok(day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
    }

    pub fn mode(&self) -> Result<Mode> {
        match self.limit {
            Some(l) if l == 0 || l > MAX_DRY_RUN_LIST => Err(Error::validation(format!("limit must be 1-{MAX_DRY_RUN_LIST}, got {l}"))),
            l => Ok(Mode::DryRun { limit: l.unwrap_or(MAX_DRY_RUN_LIST) }),
        }
    }
}

/// A task as `GET /tasks/{id}` answers it: with its execution's status when asked for.
#[derive(Debug, Serialize, Deserialize)]
pub struct TaskView {
    #[serde(flatten)]
    pub task: Task,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<Execution>,
}

/// A task's Step Functions execution: its status, None while it has none.
#[derive(Debug, Serialize, Deserialize)]
pub struct Execution {
    pub status: Option<String>,
}

/// What `POST /assets/{id}/accesses` answers: where the asset stands after.
#[derive(Debug, Serialize)]
pub struct AccessRecorded {
    pub asset_id: String,
    pub last_access_on: Option<NaiveDate>,
    pub due_at: Option<String>,
}

/// What a hold request did: placed (or found in place) or released.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum HoldChange {
    Placed { hold: Hold, placed: bool },
    Released { released: Hold },
}

/// What an audit query names: exactly one of these.
#[derive(Debug, Default)]
pub struct AuditFilter<'a> {
    pub asset: Option<&'a str>,
    pub title: Option<&'a str>,
    pub policy: Option<&'a str>,
    pub caller: Option<&'a str>,
}

/// What an edit, an enable or a disable answers: the policy, whether it changed, and where it
/// loses money against the current policies.
#[derive(Debug, Serialize)]
pub struct PolicyEdited {
    pub policy: Policy,
    pub changed: bool,
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{RestoreTier, StorageClass};

    fn task(action: &str, class: Option<&str>, days: Option<u32>, tier: Option<&str>) -> TaskBody {
        TaskBody {
            action: action.into(),
            storage_class: class.map(Into::into),
            days,
            tier: tier.map(Into::into),
            request_id: "r1".into(),
        }
    }

    #[test]
    fn each_action_reads_its_own_fields() {
        assert_eq!(task("archive", Some("GLACIER"), None, None).to_action().unwrap(), Action::Archive { storage_class: StorageClass::Glacier });
        assert_eq!(task("restore", None, Some(3), Some("Bulk")).to_action().unwrap(), Action::Restore { days: 3, tier: RestoreTier::Bulk });
        assert_eq!(task("purge", None, None, None).to_action().unwrap(), Action::Purge);
    }

    #[test]
    fn fields_of_another_action_and_missing_fields_are_refused() {
        for bad in [
            task("archive", None, None, None),
            task("archive", Some("GLACIER"), Some(3), None),
            task("restore", None, Some(3), None),
            task("restore", Some("GLACIER"), Some(3), Some("Bulk")),
            task("purge", Some("GLACIER"), None, None),
            task("delete", None, None, None),
            task("archive", Some("GLACIER_DEEP"), None, None),
        ] {
            assert!(bad.to_action().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn unknown_fields_in_a_task_body_are_refused() {
        let err = serde_json::from_str::<TaskBody>(r#"{"action":"purge","request_id":"r","force":true}"#).unwrap_err();
        assert!(err.to_string().contains("force"), "{err}");
    }

    #[test]
    fn a_request_id_is_one_to_128_printable_characters() {
        let with = |id: &str| TaskBody { request_id: id.into(), ..task("purge", None, None, None) };
        assert_eq!(with("r-1").request_id().unwrap(), "r-1");
        for bad in [String::new(), "x".repeat(129), "a\nb".into()] {
            assert!(with(&bad).request_id().is_err(), "{bad:?} accepted");
        }
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any task-request body is an action or a validation error.
            #[test]
            fn fuzz_task_bodies(action in "(archive|restore|purge|x)", class in proptest::option::of(any::<String>()), days in proptest::option::of(any::<u32>()), tier in proptest::option::of(any::<String>()), extra in proptest::option::of("[a-z]{1,6}")) {
                let mut body = serde_json::json!({"action": action, "storage_class": class, "days": days, "tier": tier, "request_id": "r"});
                if let Some(k) = extra {
                    body[k] = serde_json::json!(1);
                }
                match crate::json::parse::<TaskBody>("request body", &body.to_string()).and_then(|b| b.to_action()) {
                    Ok(a) => { let _ = a.validate(); }
                    Err(e) => prop_assert_eq!(e.kind(), crate::ErrorKind::Validation),
                }
            }

            /// Any dry-run body is a day and a limit, or a validation error.
            #[test]
            fn fuzz_dry_run_bodies(at in any::<String>(), limit in proptest::option::of(any::<usize>())) {
                let body = serde_json::json!({"at": at, "limit": limit});
                if let Ok(b) = crate::json::parse::<DryRunBody>("request body", &body.to_string()) {
                    for r in [b.time().map(|_| ()), b.mode().map(|_| ())] {
                        if let Err(e) = r {
                            prop_assert_eq!(e.kind(), crate::ErrorKind::Validation);
                        }
                    }
                }
            }
        }
    }
}
