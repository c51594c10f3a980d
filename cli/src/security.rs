//! `slm app|hold|audit`: the application registry, legal holds and the audit trail on the local
//! stack, through the API handler as the CLI's identity (`--as`), authorized as an application
//! would be.

use crate::api::Api;
use anyhow::{Result, bail};
use clap::{ArgGroup, Args, Subcommand};
use serde_json::{Value, json};

#[derive(Subcommand)]
pub enum AppCommand {
    /// Registers (or replaces) an application: an IAM role or user ARN with its grants.
    Put {
        /// The IAM role or user ARN the application calls as.
        #[arg(long)]
        principal: String,
        /// The application's name, as the audit trail shows it.
        #[arg(long)]
        name: String,
        /// A grant: actions, then optional scopes, e.g. "archive,restore types=vfx,editorial
        /// titles=show-1" (repeatable). Actions: register access archive restore purge hold
        /// titles policies audit admin.
        #[arg(long = "grant", required = true, value_parser = grant)]
        grants: Vec<Value>,
    },
    /// Every registered application.
    List,
    /// Removes an application: its calls are refused from then on.
    Remove {
        /// The application's IAM role or user ARN.
        #[arg(long)]
        principal: String,
    },
}

/// Parses a grant: "a,b types=x,y titles=z".
fn grant(text: &str) -> Result<Value, String> {
    let mut parts = text.split_whitespace();
    let actions: Vec<&str> = parts.next().ok_or("a grant names its actions")?.split(',').filter(|a| !a.is_empty()).collect();
    let mut g = json!({ "actions": actions });
    for part in parts {
        match part.split_once('=') {
            Some(("types", v)) => g["asset_types"] = json!(v.split(',').collect::<Vec<_>>()),
            Some(("titles", v)) => g["title_ids"] = json!(v.split(',').collect::<Vec<_>>()),
            _ => return Err(format!("expected types=... or titles=..., got {part:?}")),
        }
    }
    Ok(g)
}

/// An asset or a title, exactly one.
#[derive(Args)]
#[command(group(ArgGroup::new("subject").required(true).args(["asset_id", "title_id"])))]
pub struct HoldSubjectArgs {
    /// The asset the hold is on.
    #[arg(long)]
    asset_id: Option<String>,
    /// The title the hold is on (every asset of it).
    #[arg(long)]
    title_id: Option<String>,
}

impl HoldSubjectArgs {
    fn path(&self) -> String {
        match (&self.asset_id, &self.title_id) {
            (Some(a), _) => format!("/assets/{a}/hold"),
            (None, Some(t)) => format!("/titles/{t}/hold"),
            (None, None) => unreachable!("clap requires one"),
        }
    }
}

#[derive(Subcommand)]
pub enum HoldCommand {
    /// Places a legal hold on an asset or a whole title: no purge until it is released.
    Place {
        #[command(flatten)]
        subject: HoldSubjectArgs,
        /// Why: the case or matter.
        #[arg(long)]
        reason: String,
    },
    /// Releases the hold on an asset or a title.
    Release {
        #[command(flatten)]
        subject: HoldSubjectArgs,
    },
    /// Every hold in place.
    List,
}

/// The audit trail of one asset, title, policy or caller, newest first.
#[derive(Args)]
#[command(group(ArgGroup::new("query").required(true).args(["asset", "title", "policy", "caller_arn"])))]
pub struct AuditArgs {
    /// The trail of this asset.
    #[arg(long)]
    asset: Option<String>,
    /// The trail of this title.
    #[arg(long)]
    title: Option<String>,
    /// The trail of this policy.
    #[arg(long)]
    policy: Option<String>,
    /// A caller's IAM ARN (a role's sessions are found under the role).
    #[arg(long = "caller")]
    caller_arn: Option<String>,
    /// Most entries shown (pages are read until then).
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

pub async fn run_app(command: AppCommand, api: &Api) -> Result<()> {
    let out = match command {
        AppCommand::Put { principal, name, grants } => {
            api.call("PUT", "/applications", Some(json!({"principal": principal, "name": name, "grants": grants}))).await?
        }
        AppCommand::List => api.call("GET", "/applications", None).await?,
        AppCommand::Remove { principal } => {
            api.call("DELETE", &format!("/applications?principal={}", urlencoding::encode(&principal)), None).await?
        }
    };
    crate::output::print(&out)?;
    Ok(())
}

pub async fn run_hold(command: HoldCommand, api: &Api) -> Result<()> {
    let out = match command {
        HoldCommand::Place { subject, reason } => api.call("PUT", &subject.path(), Some(json!({"reason": reason}))).await?,
        HoldCommand::Release { subject } => api.call("DELETE", &subject.path(), None).await?,
        HoldCommand::List => api.call("GET", "/holds", None).await?,
    };
    crate::output::print(&out)?;
    Ok(())
}

pub async fn audit(args: AuditArgs, api: &Api) -> Result<()> {
    let (kind, value) = match (&args.asset, &args.title, &args.policy, &args.caller_arn) {
        (Some(a), ..) => ("asset", a),
        (_, Some(t), ..) => ("title", t),
        (_, _, Some(p), _) => ("policy", p),
        (_, _, _, Some(c)) => ("caller", c),
        _ => bail!("name an asset, a title, a policy or a caller"),
    };
    let mut entries: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    while entries.len() < args.limit {
        let page = (args.limit - entries.len()).min(1000);
        let mut path = format!("/audit?{kind}={}&limit={page}", urlencoding::encode(value));
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let out = api.call("GET", &path, None).await?;
        entries.extend(out["entries"].as_array().cloned().unwrap_or_default());
        match out["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => break,
        }
    }
    if crate::output::json() {
        return crate::output::print(&Value::Array(entries));
    }
    for e in &entries {
        println!("{}", line(e));
    }
    Ok(())
}

/// One entry on one line: when, the decision and status, who, what, and the tasks or the reason.
pub fn line(e: &Value) -> String {
    let s = |k: &str| e[k].as_str().unwrap_or("-").to_string();
    let who = match e["application"].as_str() {
        Some(app) => format!("{app} ({})", s("caller")),
        None => s("caller"),
    };
    let status = e["status"].as_i64().map(|n| n.to_string()).unwrap_or_else(|| "-".into());
    let tasks: Vec<&str> = e["task_ids"].as_array().map(|t| t.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let detail = match (e["reason"].as_str(), tasks.is_empty()) {
        (Some(r), _) => r.to_string(),
        (None, false) => format!("tasks {}", tasks.join(",")),
        (None, true) => String::new(),
    };
    format!("{}  {:<8} {:>3}  {}  {}  {}", s("at"), s("decision"), status, who, s("action"), detail)
}
