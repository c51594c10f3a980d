//! In-memory adapters beside the AWS ones, so that each use case is unit-tested in milliseconds.

mod objects;
mod orchestrator;
mod queues;

pub use objects::{Fault, MemoryObjects, Op, Put};
pub use orchestrator::{Call, MemoryOrchestrator};
pub use queues::{MemoryQueues, Queue};
