//! slm core: the lifecycle rules, the ports they need, the AWS adapters behind those ports,
//! typed configuration and errors. Nothing here knows about Lambda event types; the function
//! crates translate events into calls of [`service`].

pub mod adapters;
pub mod batch;
pub mod config;
pub mod domain;
pub mod draws;
pub mod error;
pub mod json;
pub mod messages;
pub mod metrics;
pub mod pace;
pub mod ports;
pub mod service;
#[cfg(test)]
mod state_machine;
pub mod telemetry;

pub use error::{Error, ErrorKind, Result};
