//! The end-to-end harness: each test runs in a local-stack session of its own.

pub use slm_local::session::{CALLER, Options, Session as TestStack, dedupe, tally};

/// A time `hours` from now (RFC 3339), for the schedules' events.
pub fn later(hours: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(hours)).to_rfc3339()
}

pub use slm_local::defects::{Defect, stopped_by};
