//! The ports in memory, beside the AWS adapters, so that each use case can be unit-tested in
//! milliseconds. [`MemoryMeta`] holds every metadata table in plain maps behind one mutex and
//! writes under the same conditions and fences as the DynamoDB adapter, so a use case meets the
//! same answers on both (where DynamoDB reads an eventually consistent index, the memory reads
//! are consistent: the modules say where). [`MemoryObjects`] is a small versioned S3 with storage
//! classes, restores and multipart copies, [`MemoryQueues`] keeps what was sent and
//! [`MemoryOrchestrator`] what was started and answered; each can be told to fail the next calls.
//! The end-to-end suite proves the AWS adapters and the wiring; these prove the rules.

mod meta;
mod objects;
mod orchestrator;
mod queues;

pub use meta::MemoryMeta;
pub use objects::{Fault, MemoryObjects, Op, Put};
pub use orchestrator::{Call, MemoryOrchestrator};
pub use queues::{MemoryQueues, Queue};
