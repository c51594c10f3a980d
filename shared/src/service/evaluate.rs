//! Policy evaluation: which assets are due on a day, and what the policies do with them. It reads
//! the due index up to that day (never the assets with nothing due), decides each asset by the
//! conflict rule, and creates tasks idempotently (the policy version and due day name the task),
//! at most a configured number per run; the rest stay due for the next run. A dry-run reads the
//! same and writes nothing.

use super::schedule::Titles;
use super::security::own_entry;
use crate::domain::audit::Decision as Audited;
use super::{Core, Metadata};
use crate::domain::policy::{Decision, decide, due_shards_from, next_due};
use crate::domain::pricing::{Estimate, PriceTable};
use crate::domain::{Action, Asset, AssetState, Policy, Title};
use crate::error::Result;
use crate::ports::{DueGuard, ObjectStore, Orchestrator, Queues};
use crate::domain::{Created, PolicyRef};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// The caller tasks created by policy name as their requester.
pub const EVALUATOR: &str = "slm:policy-evaluator";

/// Due assets read per index query.
const PAGE: usize = 100;

/// Most due assets one dry-run reads (it answers an API call): beyond, it says `more_due`.
pub const DRY_RUN_MAX_READS: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Create and start tasks, at most this many, and none after `until` (the invocation's
    /// deadline less a margin; at least one asset is evaluated whatever it says).
    Run { max_starts: usize, until: Option<std::time::Instant> },
    /// Report what would happen, listing at most this many actions (the totals count all).
    DryRun { limit: usize },
}

/// One action the policies decided (or would decide) on one asset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedAction {
    pub asset_id: String,
    pub title_id: String,
    pub asset_type: String,
    #[serde(flatten)]
    pub action: Action,
    pub policy: PolicyRef,
    pub due: NaiveDate,
    pub files: u64,
    pub bytes: u64,
    /// None when it cannot be priced, and `no_estimate` says why.
    pub estimate: Option<Estimate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_estimate: Option<String>,
    /// Where the action loses money: small files, an early-deletion charge, a recent read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// created, exists (made by an earlier run), held (an earlier task for it ended without
    /// success: asked for again by request only), busy (another task holds the asset),
    /// would_create (dry-run), legal_hold (a purge the asset's or its title's legal hold
    /// blocks: skipped, and asked again each run until the hold is released).
    pub outcome: &'static str,
    pub task_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub assets: usize,
    pub files: u64,
    pub bytes: u64,
    pub monthly_saving: f64,
    pub transition_cost: f64,
    pub minimum_duration_charge: f64,
}

/// What one evaluation did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Evaluation {
    pub evaluated_at: String,
    pub day: String,
    pub dry_run: bool,
    pub policies: usize,
    /// Asset items read from the due index: only assets due (or marked to look at again).
    pub assets_read: usize,
    pub titles_read: usize,
    pub tasks_created: usize,
    /// Purges skipped for a legal hold (listed in `actions` with outcome legal_hold).
    pub legal_holds: usize,
    /// Assets read whose deciding policy was satisfied already or not due yet: moved on in the index.
    pub waiting: usize,
    /// True when the run stopped at its cap (tasks started, or a dry-run's reads) with due
    /// assets possibly left: for the next run, or beyond the dry-run's totals.
    pub more_due: bool,
    pub actions: Vec<PlannedAction>,
    pub totals: Totals,
}

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    pub async fn evaluate(&self, now: DateTime<Utc>, mode: Mode, prices: &PriceTable) -> Result<Evaluation> {
        let day = now.date_naive();
        let policies: Vec<Policy> = self.meta.current_policies().await?.into_iter().filter(|p| p.doc.enabled).collect();
        let mut e = Evaluation {
            evaluated_at: crate::domain::stamp(now),
            day: day.to_string(),
            dry_run: matches!(mode, Mode::DryRun { .. }),
            policies: policies.len(),
            ..Evaluation::default()
        };
        let mut titles = Titles::default();
        // Each hour starts at another shard, so a capped run does not always leave the same one.
        let first = (now.timestamp() / 3600).rem_euclid(i64::from(crate::domain::policy::DUE_SHARDS)) as u32;
        let mut evaluated = 0usize;
        'shards: for shard in due_shards_from(first) {
            let mut cursor: Option<String> = None;
            loop {
                let room = match mode {
                    Mode::Run { max_starts, .. } => max_starts.saturating_sub(e.tasks_created),
                    Mode::DryRun { .. } => DRY_RUN_MAX_READS.saturating_sub(e.assets_read),
                };
                if room == 0 {
                    e.more_due = true;
                    break 'shards;
                }
                let (assets, next) = self.meta.due_page(shard, day, cursor.as_deref(), room.min(PAGE)).await?;
                e.assets_read += assets.len();
                for asset in &assets {
                    if let Mode::Run { until: Some(until), .. } = mode
                        && evaluated > 0
                        && std::time::Instant::now() >= until
                    {
                        // Out of time: what is left stays due for the next run.
                        e.more_due = true;
                        break 'shards;
                    }
                    let title = titles.get(&self.meta, &asset.title_id).await?.cloned();
                    self.evaluate_asset(asset, title.as_ref(), &policies, now, mode, prices, &mut e).await?;
                    evaluated += 1;
                }
                match next {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        e.titles_read = titles.reads;
        if let Mode::Run { max_starts, .. } = mode {
            e.more_due |= e.tasks_created >= max_starts;
        }
        tracing::info!(day = %e.day, dry_run = e.dry_run, read = e.assets_read, created = e.tasks_created, more_due = e.more_due, "policy evaluation");
        Ok(e)
    }

    #[allow(clippy::too_many_arguments)]
    async fn evaluate_asset(&self, asset: &Asset, title: Option<&Title>, policies: &[Policy], now: DateTime<Utc>, mode: Mode, prices: &PriceTable, e: &mut Evaluation) -> Result<()> {
        let day = now.date_naive();
        let (policy, due) = match decide(asset, title, policies, day) {
            Decision::Act { policy, due } => (policy, due),
            Decision::Wait { next } => {
                e.waiting += 1;
                if matches!(mode, Mode::Run { .. }) {
                    // Stale or satisfied: the asset moves to the day something may act on it.
                    self.meta.set_due(&asset.asset_id, next, DueGuard::Idle).await?;
                }
                return Ok(());
            }
        };
        let action = policy.doc.action.to_action();
        let estimate = estimate(asset, title, policies, action, day, prices);
        let mut planned = PlannedAction {
            asset_id: asset.asset_id.clone(),
            title_id: asset.title_id.clone(),
            asset_type: asset.asset_type.clone(),
            action,
            policy: PolicyRef { policy_id: policy.id().to_string(), version: policy.version },
            due,
            files: asset.file_count,
            bytes: asset.total_bytes,
            no_estimate: estimate.as_ref().err().cloned(),
            warnings: crate::domain::savings::action_warnings(asset, action, estimate.as_ref().ok(), prices, day),
            estimate: estimate.ok(),
            outcome: "would_create",
            task_id: None,
            reason: None,
        };
        let held = match action {
            Action::Purge => self.purge_blocked(asset).await?,
            _ => None,
        };
        if let Some(why) = held {
            // Skipped, reported and audited once: the asset leaves the due index (a title held
            // for years is not read every hour), and releasing the hold puts it back.
            planned.outcome = "legal_hold";
            if let Mode::Run { .. } = mode {
                self.meta.set_due(&asset.asset_id, None, DueGuard::Idle).await?;
                let entry = own_entry(EVALUATOR, format!("asset#{}", asset.asset_id), format!("policy {} purge", planned.policy.policy_id), now, Audited::Refused, Some(why.clone()), vec![]);
                self.audit(&entry).await?;
            }
            planned.reason = Some(why);
            e.legal_holds += 1;
            if !matches!(mode, Mode::DryRun { limit } if e.actions.len() >= limit) {
                e.actions.push(planned);
            }
            return Ok(());
        }
        if let Mode::Run { .. } = mode {
            let created = self.start_task(asset, action, &policy.origin(due), EVALUATOR, now, Some(planned.policy.clone())).await?;
            let (outcome, task_id) = match created {
                Created::New(t) => ("created", Some(t.task_id.to_string())),
                Created::Existing(t) if t.status.is_final() => ("held", Some(t.task_id.to_string())),
                Created::Existing(t) => ("exists", Some(t.task_id.to_string())),
                Created::AssetBusy { active_task, .. } => ("busy", Some(active_task)),
            };
            if outcome == "held" {
                // Not retried by policy: it waits for its next policy day, or for a request.
                self.meta.set_due(&asset.asset_id, next_due(asset, title, policies, Some(day)), DueGuard::Idle).await?;
            } else {
                // Out of the index while a task holds it; the task's end puts it back.
                self.meta.set_due(&asset.asset_id, None, DueGuard::Busy).await?;
            }
            if outcome == "created" {
                let subject = format!("asset#{}", asset.asset_id);
                let entry = own_entry(EVALUATOR, subject, format!("policy {} {}", planned.policy.policy_id, action.name()), now, Audited::Allowed, None, task_id.iter().cloned().collect());
                self.audit(&entry).await?;
            }
            e.tasks_created += usize::from(outcome == "created");
            planned.outcome = outcome;
            planned.task_id = task_id;
        }
        let t = &mut e.totals;
        t.assets += 1;
        t.files += planned.files;
        t.bytes += planned.bytes;
        if let Some(est) = &planned.estimate {
            t.monthly_saving += est.monthly_saving;
            t.transition_cost += est.transition_cost;
            t.minimum_duration_charge += est.minimum_duration_charge;
        }
        let listed = match mode {
            Mode::Run { .. } => true,
            Mode::DryRun { limit } => e.actions.len() < limit,
        };
        if listed {
            e.actions.push(planned);
        }
        Ok(())
    }
}

/// The estimate of `action` done on `day`: what it saves each month, what the transition costs,
/// and the minimum-duration charge when the policies move the asset on before the target
/// class's minimum is over. Or why there is none.
fn estimate(asset: &Asset, title: Option<&Title>, policies: &[Policy], action: Action, day: NaiveDate, prices: &PriceTable) -> Result<Estimate, String> {
    let from = asset.class().ok_or("the asset's files are not in one class")?;
    let sizes = asset.sizes();
    let to = match action {
        Action::Archive { storage_class } => Some(storage_class),
        _ => None,
    };
    let days_in_target = to.and_then(|class| {
        let after = Asset { storage_class: class.into(), state: AssetState::Archived, ..asset.clone() };
        next_due(&after, title, policies, Some(day)).map(|next| (next - day).num_days())
    });
    prices.estimate(from, to, &sizes, days_in_target).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::StorageClass;
    use crate::domain::policy::tests::{asset, date};

    #[test]
    fn an_asset_the_price_table_cannot_price_gets_no_estimate_and_says_why() {
        let archive = Action::Archive { storage_class: StorageClass::Glacier };
        let at = |class: &str| estimate(&asset("editorial", "final", class), None, &[], archive, date("2027-03-01"), PriceTable::bundled());
        assert!(at("STANDARD").is_ok());
        assert!(at("INTELLIGENT_TIERING").is_ok());
        assert_eq!(at("OUTPOSTS").unwrap_err(), "no storage price for OUTPOSTS in the price table");
        assert_eq!(at("NEW_CLASS").unwrap_err(), "no storage price for NEW_CLASS in the price table");
        assert_eq!(at("MIXED").unwrap_err(), "the asset's files are not in one class");
    }

    // ---- evaluate, on the in-memory adapters ----

    use crate::domain::PolicyDoc;
    use crate::domain::hold::{Hold, HoldSubject};
    use crate::ports::{DueIndex, HoldStore, TaskStore};
    use crate::service::testing::{MemoryCore, NOW, config, core, core_with, policy_doc};

    /// Archives final assets to GLACIER 30 days after their creation (2026-06-01: due 2026-07-01).
    fn finals() -> PolicyDoc {
        policy_doc(r#"{"policy_id":"finals","selector":{"phases":["final"]},"anchor":"asset.created","offset_days":30,"action":{"action":"archive","storage_class":"GLACIER"}}"#)
    }

    fn purge_finals() -> PolicyDoc {
        policy_doc(r#"{"policy_id":"purge-finals","anchor":"asset.created","offset_days":30,"action":{"action":"purge"}}"#)
    }

    fn now() -> DateTime<Utc> {
        NOW.parse().unwrap()
    }

    fn run(core: &MemoryCore) -> Mode {
        Mode::Run { max_starts: core.config.evaluation_max_starts, until: None }
    }

    /// A core with the policy and `assets` assets of one file (cam-0, cam-1, ...), each due.
    async fn due_assets(core: MemoryCore, doc: PolicyDoc, assets: usize) -> MemoryCore {
        core.create_policy(doc, "tester", now()).await.unwrap();
        core.queues.take_control();
        for i in 0..assets {
            core.asset_of(&format!("cam-{i}"), 1).await;
        }
        core
    }

    async fn hold(core: &MemoryCore, subject: HoldSubject) {
        let hold = Hold { subject, reason: "litigation".into(), placed_by: "legal".into(), placed_at: NOW.into() };
        assert!(core.meta.place_hold(&hold).await.unwrap());
    }

    #[tokio::test]
    async fn a_dry_run_lists_the_due_action_and_starts_nothing() {
        // GIVEN an asset due for an archive since 2026-07-01
        let core = due_assets(core(), finals(), 1).await;
        // WHEN a dry-run evaluates
        let e = core.evaluate(now(), Mode::DryRun { limit: 10 }, PriceTable::bundled()).await.unwrap();
        // THEN it lists the archive it would create, and no task is made or started
        assert!(e.dry_run);
        let listed: Vec<_> = e.actions.iter().map(|a| (a.asset_id.as_str(), a.action, a.policy.policy_id.as_str(), a.due.to_string(), a.outcome)).collect();
        assert_eq!(listed, vec![("cam-0", Action::Archive { storage_class: StorageClass::Glacier }, "finals", "2026-07-01".to_string(), "would_create")]);
        assert_eq!((e.tasks_created, e.totals.assets, e.totals.files), (0, 1, 1));
        assert!(core.started().is_empty());
        let a = core.asset("cam-0").await;
        assert_eq!((a.active_task, a.due_at.as_deref()), (None, Some("2026-07-01")), "the asset is left as it was");
    }

    #[tokio::test]
    async fn a_dry_run_lists_at_most_its_limit_and_counts_every_due_asset() {
        // GIVEN three due assets
        let core = due_assets(core(), finals(), 3).await;
        // WHEN a dry-run listing one action evaluates
        let e = core.evaluate(now(), Mode::DryRun { limit: 1 }, PriceTable::bundled()).await.unwrap();
        // THEN it lists one and counts three
        assert_eq!((e.actions.len(), e.totals.assets, e.assets_read), (1, 3, 3));
    }

    #[tokio::test]
    async fn a_run_starts_a_task_for_each_due_asset_and_takes_it_out_of_the_due_index() {
        // GIVEN two due assets
        let core = due_assets(core(), finals(), 2).await;
        // WHEN the evaluation runs
        let e = core.evaluate(now(), run(&core), PriceTable::bundled()).await.unwrap();
        // THEN a task is created and started for each, by the evaluator for policy finals v1
        assert_eq!((e.tasks_created, e.more_due), (2, false));
        let mut started: Vec<_> = core.started().into_iter().map(|i| (i.asset_id, i.action)).collect();
        started.sort();
        assert_eq!(started, vec![("cam-0".to_string(), "archive".to_string()), ("cam-1".to_string(), "archive".to_string())]);
        for action in &e.actions {
            assert_eq!(action.outcome, "created");
            let task = core.meta.get_task(&crate::domain::TaskId::parse(action.task_id.as_deref().unwrap()).unwrap()).await.unwrap().unwrap();
            assert_eq!((task.requested_by.as_str(), task.policy.as_ref().map(|p| (p.policy_id.as_str(), p.version))), (EVALUATOR, Some(("finals", 1))));
            let a = core.asset(&action.asset_id).await;
            assert_eq!((a.active_task.as_deref(), a.due_at), (action.task_id.as_deref(), None));
        }
    }

    #[tokio::test]
    async fn a_run_starts_at_most_the_configured_number_and_leaves_the_rest_due() {
        // GIVEN three due assets and at most two starts a run
        let mut config = config();
        config.evaluation_max_starts = 2;
        let core = due_assets(core_with(config), finals(), 3).await;
        // WHEN the evaluation runs
        let e = core.evaluate(now(), run(&core), PriceTable::bundled()).await.unwrap();
        // THEN two tasks are started, it says more are due, and the third asset is still due
        assert_eq!((e.tasks_created, e.more_due), (2, true));
        assert_eq!(core.started().len(), 2);
        let mut due = Vec::new();
        for i in 0..3 {
            due.extend(core.asset(&format!("cam-{i}")).await.due_at);
        }
        assert_eq!(due, vec!["2026-07-01".to_string()]);
        // WHEN it runs again, THEN the third is started
        let e = core.evaluate(now(), run(&core), PriceTable::bundled()).await.unwrap();
        assert_eq!((e.tasks_created, e.more_due), (1, false));
        assert_eq!(core.started().len(), 1);
    }

    #[tokio::test]
    async fn an_asset_not_due_yet_is_not_read() {
        // GIVEN an asset due on 2026-07-01
        let core = due_assets(core(), finals(), 1).await;
        // WHEN the evaluation runs on 2026-06-30
        let e = core.evaluate("2026-06-30T10:00:00Z".parse().unwrap(), run(&core), PriceTable::bundled()).await.unwrap();
        // THEN it reads no asset and starts nothing
        assert_eq!((e.assets_read, e.tasks_created), (0, 0));
        assert!(core.started().is_empty());
    }

    #[tokio::test]
    async fn a_purge_of_an_asset_under_legal_hold_is_skipped_and_leaves_the_due_index() {
        // GIVEN an asset due for a purge, under legal hold
        let core = due_assets(core(), purge_finals(), 1).await;
        hold(&core, HoldSubject::asset("cam-0").unwrap()).await;
        // WHEN the evaluation runs
        let e = core.evaluate(now(), run(&core), PriceTable::bundled()).await.unwrap();
        // THEN the purge is listed as held, no task is created or started, and the asset leaves the index
        assert_eq!((e.legal_holds, e.tasks_created), (1, 0));
        assert_eq!(e.actions.iter().map(|a| a.outcome).collect::<Vec<_>>(), vec!["legal_hold"]);
        assert!(e.actions[0].reason.as_deref().unwrap().contains("litigation"));
        assert!(core.started().is_empty());
        let a = core.asset("cam-0").await;
        assert_eq!((a.active_task, a.due_at), (None, None));
    }

    #[tokio::test]
    async fn a_purge_of_an_asset_whose_title_is_held_is_skipped() {
        // GIVEN an asset due for a purge, its title under legal hold
        let core = due_assets(core(), purge_finals(), 1).await;
        hold(&core, HoldSubject::title("tln").unwrap()).await;
        // WHEN the evaluation runs
        let e = core.evaluate(now(), run(&core), PriceTable::bundled()).await.unwrap();
        // THEN nothing is started
        assert_eq!((e.legal_holds, e.tasks_created), (1, 0));
        assert!(core.started().is_empty());
    }

    #[tokio::test]
    async fn a_dry_run_reports_a_held_purge_and_leaves_the_asset_due() {
        // GIVEN an asset due for a purge, under legal hold
        let core = due_assets(core(), purge_finals(), 1).await;
        hold(&core, HoldSubject::asset("cam-0").unwrap()).await;
        // WHEN a dry-run evaluates
        let e = core.evaluate(now(), Mode::DryRun { limit: 10 }, PriceTable::bundled()).await.unwrap();
        // THEN the held purge is reported, and the asset is still due
        assert_eq!(e.actions.iter().map(|a| a.outcome).collect::<Vec<_>>(), vec!["legal_hold"]);
        assert_eq!(core.asset("cam-0").await.due_at.as_deref(), Some("2026-07-01"));
    }

    #[tokio::test]
    async fn a_disabled_policy_starts_nothing() {
        // GIVEN an asset due by policy finals, which is then disabled (its reschedule not run yet)
        let core = due_assets(core(), finals(), 1).await;
        core.set_policy_enabled("finals", false, "tester", now()).await.unwrap();
        // WHEN the evaluation runs
        let e = core.evaluate(now(), run(&core), PriceTable::bundled()).await.unwrap();
        // THEN no policy takes part, nothing is started, and the asset leaves the due index
        assert_eq!((e.policies, e.tasks_created, e.waiting), (0, 0, 1));
        assert!(e.actions.is_empty());
        assert!(core.started().is_empty());
        assert_eq!(core.asset("cam-0").await.due_at, None);
    }

    #[tokio::test]
    async fn a_run_on_an_asset_another_task_holds_reports_it_busy_and_starts_nothing() {
        // GIVEN a due asset on which an archive was requested and started
        let core = due_assets(core(), finals(), 1).await;
        let requested = core.request("cam-0", Action::Archive { storage_class: StorageClass::DeepArchive }, "r1").await;
        core.started();
        // The asset put back in the index while its task runs (a stale index entry).
        assert!(core.meta.set_due("cam-0", Some(date("2026-07-01")), crate::ports::DueGuard::Busy).await.unwrap());
        // WHEN the evaluation runs
        let e = core.evaluate(now(), run(&core), PriceTable::bundled()).await.unwrap();
        // THEN the asset is reported busy with the requested task, and nothing is started
        assert_eq!(e.actions.iter().map(|a| (a.outcome, a.task_id.clone())).collect::<Vec<_>>(), vec![("busy", Some(requested.task_id.to_string()))]);
        assert_eq!(e.tasks_created, 0);
        assert!(core.started().is_empty());
    }

    #[tokio::test]
    async fn a_run_out_of_time_evaluates_one_asset_and_leaves_the_rest_due() {
        // GIVEN three due assets, and a run whose deadline has passed already
        let core = due_assets(core(), finals(), 3).await;
        let mode = Mode::Run { max_starts: 10, until: Some(std::time::Instant::now()) };
        // WHEN the evaluation runs
        let e = core.evaluate(now(), mode, PriceTable::bundled()).await.unwrap();
        // THEN it started one task, and says more are due
        assert_eq!((e.tasks_created, e.more_due), (1, true));
        assert_eq!(core.started().len(), 1);
    }
}
