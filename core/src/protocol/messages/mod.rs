//! Request and response bodies, one file per API, declared as field tables.
//!
//! Field names, order, types and version ranges follow Apache Kafka's JSON
//! message schemas. Every type here is `Copy` and borrows the bytes it was
//! decoded from.

mod api_versions;

pub use api_versions::*;

#[cfg(test)]
mod tests;
