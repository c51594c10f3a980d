//! In-memory adapters beside the AWS ones, so that each use case is unit-tested in milliseconds.

mod objects;

pub use objects::{Fault, MemoryObjects, Op, Put};
