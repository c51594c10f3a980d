//! The end-to-end harness: each test runs in a local-stack session of its own.

pub use slm_local::session::{CALLER, Options, Session as TestStack, dedupe, tally};
