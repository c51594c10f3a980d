//! The fault suite: the whole lifecycle of one asset (archive, restore, purge) under each kind of
//! fault on its own and under all of them at once, checked from S3 and DynamoDB directly
//! (`slm_local::lifecycle`: every task ends SUCCEEDED with counters equal to its files' states,
//! every object in its expected class and version, nothing touched that no task selected, one
//! completion event per task, the dead-letter queues empty once redriven).
//!
//! Sizes: each kind on its own at SLM_FAULT_FILES files (60 unless set), all at once at 5 % at
//! SLM_FAULT_ALL_FILES (100 unless set), so that the test command keeps within its 40 minutes
//! (at 200 files, with answers lost after applying among the faults, it took 765 s of a 39.7-minute
//! test command);
//! 1,000 files and more, with the same run without faults beside them, through
//! `cargo run --bin slm -- bench --faults all --files 1000` (BENCHMARKS.md).

use slm_local::faults::FaultKind;
use slm_local::lifecycle::{Plan, run};

fn size(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn lifecycle_under(kinds: &[FaultKind], rate: f64, files: usize) {
    let name = if kinds.len() == 1 { kinds[0].name() } else { "all-faults" };
    // A step's limit within the test runner's.
    let plan = Plan { name: name.to_string(), files, kinds: kinds.to_vec(), rate, seed: 13, wait: std::time::Duration::from_secs(600) };
    let outcome = run(&plan).await.unwrap();
    println!("{name}: {outcome:#?}");
    // The faults happened: every fault of every kind was met at least once...
    let missing: Vec<&String> = outcome.injected.iter().filter(|(k, n)| **n == 0 && expected(kinds, k)).map(|(k, _)| k).collect();
    assert!(missing.is_empty(), "faults never injected: {missing:?} ({:?})", outcome.injected);
    // ...and nothing they could break is broken
    assert_eq!(outcome.violations, Vec::<String>::new(), "seed {}", plan.seed);
    assert_eq!(outcome.steps.iter().map(|(a, s, _)| (a.as_str(), s.as_str())).collect::<Vec<_>>(), [("archive", "SUCCEEDED"), ("restore", "SUCCEEDED"), ("purge", "SUCCEEDED")]);
}

/// Whether a tally line is one the kinds must have injected at this size: every request fault of
/// the kinds, and the runner's of theirs.
fn expected(kinds: &[FaultKind], line: &str) -> bool {
    match line.split(':').next() {
        Some("runner") => kinds.contains(&FaultKind::Crashes),
        Some("s3-events") => kinds.contains(&FaultKind::Notifications),
        _ => true,
    }
}

macro_rules! alone {
    ($($test:ident: $kind:expr,)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $test() {
            lifecycle_under(&[$kind], 0.05, size("SLM_FAULT_FILES", 60)).await;
        }
    )*};
}

alone! {
    a_lifecycle_under_s3_errors_loses_nothing: FaultKind::S3Errors,
    a_lifecycle_under_dynamodb_throttling_loses_nothing: FaultKind::DynamoThrottling,
    a_lifecycle_under_service_errors_loses_nothing: FaultKind::ServiceErrors,
    a_lifecycle_whose_answers_are_lost_after_applying_loses_nothing: FaultKind::LostAnswers,
    a_lifecycle_under_dropped_and_stalled_connections_loses_nothing: FaultKind::Connections,
    a_lifecycle_whose_functions_are_killed_mid_batch_loses_nothing: FaultKind::Crashes,
    a_lifecycle_whose_s3_notifications_are_lost_doubled_and_late_loses_nothing: FaultKind::Notifications,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lifecycle_under_every_fault_at_once_loses_nothing() {
    lifecycle_under(&FaultKind::ALL, 0.05, size("SLM_FAULT_ALL_FILES", 100)).await;
}
