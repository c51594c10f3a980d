//! Tests of the in-memory metadata store.
