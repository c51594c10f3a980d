//! slm's metrics: the one list of their names, units and dimensions ([`ALL`]), which the code
//! records through the `metrics` facade, the dashboard in template.yaml names (a template test
//! checks every widget against it) and docs/operations.md describes. Each function writes what
//! an invocation recorded as CloudWatch Embedded Metric Format lines on its log when the
//! invocation ends ([`flush`]); CloudWatch turns them into metrics of the stack's namespace. The
//! local runner keeps the same lines for `slm report activity`.
//!
//! Recording is at most once: a count is made after the write it counts applied, and an
//! invocation that dies before its flush loses its counts (the registry's counters stay exact).

use crate::domain::pricing::PriceTable;
use crate::domain::{Action, FileRecord, FileState, FileStep, StorageClass};
use crate::ports::Committed;
use crate::domain::Transition;
use metrics::Unit;
use metrics_cloudwatch_embedded::Collector;
use std::sync::OnceLock;

/// How a metric is recorded: a count added to (summed per invocation), or values kept one by
/// one (for percentiles, or amounts that are not whole numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Count,
    Values,
}

/// One metric: its name in CloudWatch, its dimensions (every data point carries all of them),
/// its unit and what it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub unit: Option<Unit>,
    pub dimensions: &'static [&'static str],
    /// Also recorded without dimensions, as one total an alarm can watch (an alarm cannot sum
    /// over dimension values it does not name).
    pub total: bool,
    pub about: &'static str,
}

impl Metric {
    /// A count: added to, summed per invocation.
    const fn count(name: &'static str, unit: Option<Unit>, dimensions: &'static [&'static str], about: &'static str) -> Self {
        Metric { name, kind: Kind::Count, unit, dimensions, total: false, about }
    }

    /// Values kept one by one.
    const fn values(name: &'static str, unit: Option<Unit>, dimensions: &'static [&'static str], about: &'static str) -> Self {
        Metric { name, kind: Kind::Values, unit, dimensions, total: false, about }
    }

    /// Also recorded without dimensions, as one total.
    const fn with_total(self) -> Self {
        Metric { total: true, ..self }
    }
}

pub const TASKS_STARTED: Metric = Metric::count("TasksStarted", Some(Unit::Count), &["Action"], "tasks whose execution was started, by a policy or a request");
pub const TASKS_ENDED: Metric = Metric::count("TasksEnded", Some(Unit::Count), &["Action", "Status"], "tasks ended by their files (SUCCEEDED, PARTIALLY_FAILED, FAILED) or by the reconciler (FAILED: an execution stopped or timed out); the state machine's own failures are Step Functions' ExecutionsFailed");
pub const FILES: Metric = Metric::count("Files", Some(Unit::Count), &["Action", "Class"], "files archived (Class: the class they went to), restored or purged (Class: the class they were in)");
pub const BYTES: Metric = Metric::count("Bytes", Some(Unit::Bytes), &["Action", "Class"], "bytes of the files counted in Files");
pub const FILES_FAILED: Metric = Metric::count("FilesFailed", Some(Unit::Count), &["Action", "Kind"], "files failed for good (Kind: S3's error code, LegalHold, or Refused for a file no action applies to)");
pub const RESTORE_LATENCY: Metric = Metric::values("RestoreLatency", Some(Unit::Seconds), &["Tier"], "seconds from a restore task's start to its last file readable, one value per task");
pub const REQUEST_ERRORS: Metric = Metric::count("RequestErrors", Some(Unit::Count), &["Service", "Kind"], "request attempts answered with a transient error (Kind: the error code, the HTTP status, Timeout or Connection), each retried by the SDK or by a redelivery");
pub const THROTTLES: Metric = Metric::count("Throttles", Some(Unit::Count), &["Service"], "request attempts the service throttled (SlowDown, throughput exceeded, throttling, 429), also counted in RequestErrors");
pub const REPAIRS: Metric = Metric::count("Repairs", Some(Unit::Count), &["Kind"], "repairs the reconciler recorded, by kind (docs/architecture.md, the reconciler)").with_total();
pub const SAVINGS: Metric = Metric::values("EstimatedMonthlySavings", None, &["Action"], "US dollars a month the files moved stop costing (archive: their class's price less the target's; purge: all of it), from config/prices.json; sum it");

/// Every metric slm records.
pub const ALL: [Metric; 10] = [TASKS_STARTED, TASKS_ENDED, FILES, BYTES, FILES_FAILED, RESTORE_LATENCY, REQUEST_ERRORS, THROTTLES, REPAIRS, SAVINGS];

/// The namespace when the environment names none (`METRICS_NAMESPACE`, a template parameter).
pub const DEFAULT_NAMESPACE: &str = "slm";

static COLLECTOR: OnceLock<Option<&'static Collector>> = OnceLock::new();

/// Installs the process's recorder (once; later calls change nothing) in `namespace`.
pub fn init(namespace: &str) {
    COLLECTOR.get_or_init(|| {
        let collector = metrics_cloudwatch_embedded::Builder::new().cloudwatch_namespace(namespace.to_string()).init();
        match collector {
            Ok(c) => {
                for m in ALL {
                    let unit = m.unit.unwrap_or(Unit::Count);
                    match (m.kind, m.unit) {
                        (Kind::Count, _) => metrics::describe_counter!(m.name, unit, m.about),
                        (Kind::Values, Some(u)) => metrics::describe_histogram!(m.name, u, m.about),
                        (Kind::Values, None) => metrics::describe_histogram!(m.name, m.about),
                    }
                }
                Some(c)
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics recorder not installed: no metrics are written");
                None
            }
        }
    });
}

/// [`init`] with the namespace of the environment.
pub fn init_from_env() {
    init(&std::env::var("METRICS_NAMESPACE").unwrap_or_else(|_| DEFAULT_NAMESPACE.to_string()));
}

/// Writes what was recorded since the last flush as EMF lines, one per set of dimension values.
pub fn flush_into(out: impl std::io::Write) -> std::io::Result<()> {
    match COLLECTOR.get().copied().flatten() {
        Some(c) => c.flush(out),
        None => Ok(()),
    }
}

/// [`flush_into`] the process's standard output, where Lambda's log (and CloudWatch's EMF
/// extraction) reads it.
pub fn flush() {
    let stdout = std::io::stdout();
    if let Err(e) = flush_into(stdout.lock()) {
        tracing::warn!(error = %e, "metrics not written");
    }
}

fn count(m: Metric, labels: &[(&'static str, String)], n: u64) {
    debug_assert_eq!(m.kind, Kind::Count);
    debug_assert!(labels.iter().map(|(k, _)| *k).eq(m.dimensions.iter().copied()), "{} takes {:?}", m.name, m.dimensions);
    metrics::counter!(m.name, labels).increment(n);
}

fn value(m: Metric, labels: &[(&'static str, String)], v: f64) {
    debug_assert_eq!(m.kind, Kind::Values);
    debug_assert!(labels.iter().map(|(k, _)| *k).eq(m.dimensions.iter().copied()), "{} takes {:?}", m.name, m.dimensions);
    metrics::histogram!(m.name, labels).record(v);
}

pub fn task_started(action: &Action) {
    count(TASKS_STARTED, &[("Action", action.name().into())], 1);
}

pub fn task_ended(action: &Action, status: &str) {
    count(TASKS_ENDED, &[("Action", action.name().into()), ("Status", status.into())], 1);
}

/// A restore task ended `seconds` after it began.
pub fn restore_latency(action: &Action, seconds: f64) {
    if let Action::Restore { tier, .. } = action {
        value(RESTORE_LATENCY, &[("Tier", tier.as_str().into())], seconds.max(0.0));
    }
}

pub fn repair(kind: &str) {
    count(REPAIRS, &[("Kind", kind.into())], 1);
    metrics::counter!(REPAIRS.name).increment(1);
}

/// A request attempt's transient answer (see [`REQUEST_ERRORS`]).
pub fn request_error(service: &str, kind: &str, throttled: bool) {
    count(REQUEST_ERRORS, &[("Service", service.into()), ("Kind", kind.into())], 1);
    if throttled {
        count(THROTTLES, &[("Service", service.into())], 1);
    }
}

/// What a file's transition moved: the action and the class it names (see [`FILES`]), None
/// for a transition that moved nothing (a request, a skip, a failure). `file` is the file whose
/// class a restore or purge names (the transition's, or as written).
pub fn moved<'a>(t: &'a Transition, file: &'a FileRecord) -> Option<(&'static str, &'a StorageClass)> {
    if t.to != FileStep::Done {
        return None;
    }
    match (&t.new_state, &t.new_class) {
        (Some(FileState::Archived), Some(class)) => Some(("archive", class)),
        (Some(FileState::Restored), _) => Some(("restore", &file.storage_class)),
        (Some(FileState::Purged), _) => Some(("purge", &file.storage_class)),
        _ => None,
    }
}

/// The kind of a failed transition's reason: S3's error code ("AccessDenied: ..."), or Refused.
fn failure_kind(reason: Option<&str>) -> String {
    let code = reason.and_then(|r| r.split_once(':')).map(|(c, _)| c).filter(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric()));
    code.unwrap_or("Refused").to_string()
}

/// Counts the transitions a commit applied: files and bytes moved by action and class, files
/// failed by kind, and the monthly savings of what moved.
pub fn committed(action: &str, transitions: &[Transition], committed: &Committed, prices: &PriceTable) {
    let mut moved_by: std::collections::BTreeMap<(&'static str, String), (u64, u64)> = Default::default();
    let mut failed: std::collections::BTreeMap<String, u64> = Default::default();
    let mut saved = 0.0;
    for (i, t) in transitions.iter().enumerate() {
        if committed.missed.contains(&i) {
            continue;
        }
        if t.to == FileStep::Failed {
            *failed.entry(failure_kind(t.reason.as_deref())).or_default() += 1;
        }
        // A transition that sets no class leaves the file's size and class as written: what a
        // transition given only the file's place (a restore completed) knows of it.
        let file = match (&t.new_class, committed.written.get(i).and_then(Option::as_ref)) {
            (None, Some(written)) => written,
            _ => &t.file,
        };
        let Some((act, class)) = moved(t, file) else { continue };
        let slot = moved_by.entry((act, class.as_str().to_string())).or_default();
        slot.0 += 1;
        slot.1 += file.size;
        let before = prices.object_month(file.storage_class, file.size).unwrap_or(0.0);
        saved += match act {
            "archive" => before - prices.object_month(*class, file.size).unwrap_or(before),
            "purge" => before,
            _ => 0.0,
        };
    }
    for ((act, class), (files, bytes)) in moved_by {
        let labels = [("Action", act.to_string()), ("Class", class)];
        count(FILES, &labels, files);
        count(BYTES, &labels, bytes);
    }
    for (kind, n) in failed {
        count(FILES_FAILED, &[("Action", action.into()), ("Kind", kind)], n);
    }
    if saved != 0.0 {
        value(SAVINGS, &[("Action", action.into())], saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_a_unique_name_and_dimensions_cloudwatch_takes() {
        let names: std::collections::BTreeSet<_> = ALL.iter().map(|m| m.name).collect();
        assert_eq!(names.len(), ALL.len());
        for m in ALL {
            // EMF allows at most 30 dimensions; names are ASCII, at most 255 characters.
            assert!(!m.dimensions.is_empty() && m.dimensions.len() <= 30, "{}", m.name);
            assert!(m.name.is_ascii() && m.name.len() <= 255 && !m.about.is_empty());
        }
    }

    #[test]
    fn docs_operations_lists_every_metric_with_its_dimensions_and_no_other() {
        let docs = include_str!("../../docs/operations.md");
        let table = docs.split_once("| metric | dimensions | unit | what it counts |").expect("the table of metrics").1;
        let listed: Vec<(String, String)> = table
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| {
                let (name, rest) = l.split_once("` | ")?;
                let dims = rest.split(" | ").next()?;
                Some((name.to_string(), dims.to_string()))
            })
            .collect();
        let recorded: Vec<(String, String)> = ALL.iter().map(|m| (m.name.to_string(), m.dimensions.join(", "))).collect();
        assert_eq!(listed, recorded, "docs/operations.md's table of metrics");
    }

    #[test]
    fn a_failure_s_kind_is_its_error_code_or_refused() {
        assert_eq!(failure_kind(Some("AccessDenied: Access Denied")), "AccessDenied");
        assert_eq!(failure_kind(Some("LegalHold: held by case 7")), "LegalHold");
        assert_eq!(failure_kind(Some("restore tier Expedited is not allowed for DEEP_ARCHIVE")), "Refused");
        assert_eq!(failure_kind(Some("purge refused: held")), "Refused");
        assert_eq!(failure_kind(None), "Refused");
    }
}
