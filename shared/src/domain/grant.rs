//! Who may do what: the application registry's entries, their per-action grants and scopes, and
//! the caller's identity as API Gateway's IAM authorizer gives it.

use super::asset::validate_id;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What an application may be granted. Each mutating route needs one; reads need a registered
/// application (any grant), the audit trail needs `audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Register assets (and backfill them), change their phase and tags.
    Register,
    /// Record reads of assets (access statistics).
    Access,
    Archive,
    Restore,
    Purge,
    /// Place and release legal holds.
    Hold,
    /// Set titles and their dates.
    Titles,
    /// Create, edit, enable and disable policies; dry-runs.
    Policies,
    /// Read the audit trail.
    Audit,
    /// Manage the application registry.
    Admin,
}

impl Permission {
    pub const ALL: [Permission; 10] = [
        Permission::Register,
        Permission::Access,
        Permission::Archive,
        Permission::Restore,
        Permission::Purge,
        Permission::Hold,
        Permission::Titles,
        Permission::Policies,
        Permission::Audit,
        Permission::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Register => "register",
            Permission::Access => "access",
            Permission::Archive => "archive",
            Permission::Restore => "restore",
            Permission::Purge => "purge",
            Permission::Hold => "hold",
            Permission::Titles => "titles",
            Permission::Policies => "policies",
            Permission::Audit => "audit",
            Permission::Admin => "admin",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Some permissions on some assets: those of the listed types and titles (absent: all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub actions: Vec<Permission>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_ids: Option<Vec<String>>,
}

/// What a request acts on, for matching scopes: an asset's type and title, a title alone, or
/// nothing scoped (policies, the registry, a backfill of a bucket): then only an unscoped grant
/// serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    pub asset_type: Option<&'a str>,
    pub title_id: Option<&'a str>,
}

impl<'a> Scope<'a> {
    pub const UNSCOPED: Scope<'static> = Scope { asset_type: None, title_id: None };

    pub fn asset(asset_type: &'a str, title_id: &'a str) -> Self {
        Scope { asset_type: Some(asset_type), title_id: Some(title_id) }
    }

    pub fn title(title_id: &'a str) -> Self {
        Scope { asset_type: None, title_id: Some(title_id) }
    }
}

impl fmt::Display for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.asset_type, self.title_id) {
            (Some(t), Some(title)) => write!(f, "assets of type {t} in title {title}"),
            (None, Some(title)) => write!(f, "title {title}"),
            (Some(t), None) => write!(f, "assets of type {t}"),
            (None, None) => f.write_str("everything (an unscoped grant)"),
        }
    }
}

impl Grant {
    /// Whether the grant gives `permission` on what `scope` names. A grant limited to some types
    /// (or titles) never serves a request that names no type (or title).
    pub fn allows(&self, permission: Permission, scope: &Scope) -> bool {
        let within = |limit: &Option<Vec<String>>, value: Option<&str>| match (limit, value) {
            (None, _) => true,
            (Some(list), Some(v)) => list.iter().any(|x| x == v),
            (Some(_), None) => false,
        };
        self.actions.contains(&permission) && within(&self.asset_types, scope.asset_type) && within(&self.title_ids, scope.title_id)
    }
}

/// Most grants per application, and most entries per scope list.
const MAX_GRANTS: usize = 20;
const MAX_SCOPE: usize = 100;

/// What an administrator gives to register (or replace) an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationBody {
    /// The IAM role or user ARN the application calls as.
    pub principal: String,
    pub name: String,
    pub grants: Vec<Grant>,
}

/// A registered application: an IAM principal with its grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub principal: String,
    pub name: String,
    pub grants: Vec<Grant>,
    pub updated_by: String,
    pub updated_at: String,
}

impl ApplicationBody {
    pub fn into_application(self, by: &str, now: chrono::DateTime<chrono::Utc>) -> Result<Application> {
        let principal = principal_of(&self.principal)?;
        if self.name.is_empty() || self.name.chars().count() > 64 || self.name.chars().any(char::is_control) {
            return Err(Error::validation("name must be 1-64 characters without control characters"));
        }
        if self.grants.is_empty() || self.grants.len() > MAX_GRANTS {
            return Err(Error::validation(format!("an application has 1-{MAX_GRANTS} grants, got {}", self.grants.len())));
        }
        for g in &self.grants {
            if g.actions.is_empty() {
                return Err(Error::validation("a grant names at least one action"));
            }
            for (field, list) in [("asset_types", &g.asset_types), ("title_ids", &g.title_ids)] {
                if let Some(list) = list {
                    if list.is_empty() || list.len() > MAX_SCOPE {
                        return Err(Error::validation(format!("{field} lists 1-{MAX_SCOPE} ids (leave it out for all)")));
                    }
                    for id in list {
                        validate_id(field, id)?;
                    }
                }
            }
        }
        Ok(Application { principal, name: self.name, grants: self.grants, updated_by: by.to_string(), updated_at: super::stamp(now) })
    }
}

impl Application {
    /// The first administrator (the template's AdminPrincipal): every permission, unscoped.
    pub fn administrator(principal: String) -> Self {
        Application {
            principal,
            name: "administrator".into(),
            grants: vec![Grant { actions: Permission::ALL.to_vec(), asset_types: None, title_ids: None }],
            updated_by: "template".into(),
            updated_at: String::new(),
        }
    }

    pub fn allows(&self, permission: Permission, scope: &Scope) -> bool {
        self.grants.iter().any(|g| g.allows(permission, scope))
    }
}

/// The registry's key for a caller: the IAM role or user ARN. API Gateway gives an assumed role
/// as `arn:aws:sts::<account>:assumed-role/<role>/<session>`; every session of a role is the role
/// (`arn:aws:iam::<account>:role/<role>`). A role's path is not in its sessions' ARNs, so roles
/// are registered without it. Anything that is not an IAM role, user or assumed role is refused.
pub fn principal_of(arn: &str) -> Result<String> {
    let bad = || Error::validation(format!("{arn:?} is not an IAM role, user or assumed-role ARN"));
    if arn.len() > 2048 || arn.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad());
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [ "arn", partition, service, "", account, resource] = parts.as_slice() else { return Err(bad()) };
    let partition_ok = matches!(*partition, "aws" | "aws-cn" | "aws-us-gov");
    if !partition_ok || account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let name_ok = |n: &str| !n.is_empty() && n.len() <= 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    let (kind, name) = match (*service, resource.split('/').collect::<Vec<_>>().as_slice()) {
        ("sts", ["assumed-role", role, session]) if name_ok(role) && !session.is_empty() => ("role", *role),
        ("iam", [kind @ ("role" | "user"), .., name]) if name_ok(name) => (*kind, *name),
        _ => return Err(bad()),
    };
    Ok(format!("arn:{partition}:iam::{account}:{kind}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(actions: &[Permission], types: Option<&[&str]>, titles: Option<&[&str]>) -> Grant {
        let list = |l: Option<&[&str]>| l.map(|l| l.iter().map(|s| s.to_string()).collect());
        Grant { actions: actions.to_vec(), asset_types: list(types), title_ids: list(titles) }
    }

    #[test]
    fn a_grant_serves_its_actions_within_its_scope_only() {
        let g = grant(&[Permission::Archive, Permission::Restore], Some(&["camera_original"]), Some(&["show"]));
        assert!(g.allows(Permission::Archive, &Scope::asset("camera_original", "show")));
        assert!(!g.allows(Permission::Purge, &Scope::asset("camera_original", "show")), "another action");
        assert!(!g.allows(Permission::Archive, &Scope::asset("vfx", "show")), "another type");
        assert!(!g.allows(Permission::Archive, &Scope::asset("camera_original", "other")), "another title");
        assert!(!g.allows(Permission::Archive, &Scope::UNSCOPED), "a scoped grant on nothing scoped");
        assert!(!g.allows(Permission::Archive, &Scope::title("show")), "a type-limited grant on a whole title");
        let unscoped = grant(&[Permission::Policies], None, None);
        assert!(unscoped.allows(Permission::Policies, &Scope::UNSCOPED));
        assert!(unscoped.allows(Permission::Policies, &Scope::asset("x", "y")));
        let titles_only = grant(&[Permission::Hold], None, Some(&["show"]));
        assert!(titles_only.allows(Permission::Hold, &Scope::title("show")));
        assert!(titles_only.allows(Permission::Hold, &Scope::asset("any", "show")));
    }

    #[test]
    fn the_administrator_may_do_everything() {
        let admin = Application::administrator("arn:aws:iam::123456789012:role/admin".into());
        for p in Permission::ALL {
            assert!(admin.allows(p, &Scope::UNSCOPED), "{p}");
        }
    }

    #[test]
    fn callers_are_keyed_by_their_role_or_user() {
        for (arn, key) in [
            ("arn:aws:sts::123456789012:assumed-role/post-production/session-1", "arn:aws:iam::123456789012:role/post-production"),
            ("arn:aws:iam::123456789012:role/post-production", "arn:aws:iam::123456789012:role/post-production"),
            ("arn:aws:iam::123456789012:role/apps/post-production", "arn:aws:iam::123456789012:role/post-production"),
            ("arn:aws:iam::123456789012:user/ops/alice", "arn:aws:iam::123456789012:user/alice"),
            ("arn:aws-cn:iam::123456789012:user/bob", "arn:aws-cn:iam::123456789012:user/bob"),
        ] {
            assert_eq!(principal_of(arn).unwrap(), key, "{arn}");
        }
        for bad in [
            "",
            "*",
            "arn:aws:iam::123456789012:root",
            "arn:aws:iam::12345678901:role/x",
            "arn:aws:s3:::bucket",
            "arn:aws:sts::123456789012:federated-user/x",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/a b",
            "arn:aws:iam::123456789012:role/é",
            "arn:aws:iam::123456789012:role/x\n",
            "arn:other:iam::123456789012:role/x",
        ] {
            assert!(principal_of(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn application_bodies_are_checked() {
        let ok = |body: serde_json::Value| serde_json::from_value::<ApplicationBody>(body).map_err(|e| e.to_string()).and_then(|b| b.into_application("admin", chrono::DateTime::UNIX_EPOCH).map_err(|e| e.to_string()));
        assert!(ok(serde_json::json!({"principal": "arn:aws:iam::123456789012:role/app", "name": "post", "grants": [{"actions": ["archive"], "asset_types": ["vfx"]}]})).is_ok());
        for bad in [
            serde_json::json!({"principal": "arn:aws:iam::123456789012:role/app", "name": "post", "grants": []}),
            serde_json::json!({"principal": "arn:aws:iam::123456789012:role/app", "name": "", "grants": [{"actions": ["archive"]}]}),
            serde_json::json!({"principal": "arn:aws:iam::123456789012:role/app", "name": "post", "grants": [{"actions": []}]}),
            serde_json::json!({"principal": "arn:aws:iam::123456789012:role/app", "name": "post", "grants": [{"actions": ["shred"]}]}),
            serde_json::json!({"principal": "arn:aws:iam::123456789012:role/app", "name": "post", "grants": [{"actions": ["archive"], "asset_types": []}]}),
            serde_json::json!({"principal": "arn:aws:iam::123456789012:role/app", "name": "post", "grants": [{"actions": ["archive"], "title_ids": ["../x"]}]}),
            serde_json::json!({"principal": "arn:aws:iam::123456789012:role/app", "name": "post", "grants": [{"actions": ["archive"], "scope": "all"}]}),
            serde_json::json!({"principal": "arn:aws:iam::123456789012:role/app", "name": "post", "grants": [{"actions": ["archive"]}], "admin": true}),
        ] {
            assert!(ok(bad.clone()).is_err(), "{bad} accepted");
        }
    }
}
