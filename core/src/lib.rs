//! # microkafka-core
//!
//! The heap-free heart of microkafka: the Apache Kafka wire protocol for
//! `#![no_std]` targets, with no allocator.
//!
//! - [`wire`]: bounds-checked readers/writers over caller buffers, and the
//!   [`wire::Wire`] trait every field type implements.
//! - [`protocol`]: the request/response messages (generated from field tables
//!   by one macro), headers, framing and version negotiation.
//! - [`record`]: record batches (magic 2) as zero-copy views and a builder
//!   into a caller buffer; legacy message sets (magic 0/1) read-only.
//! - [`consumer`] / [`producer`]: client logic without I/O (reading fetched
//!   records in offset order, error classes, retry backoff).
//! - [`ErrorCode`]: the Kafka error-code table; [`Error`]: the core's own errors.
//!
//! Nothing here performs I/O or reads a clock: callers hand in bytes and get
//! bytes back (see the std and embassy crates for transports).
#![no_std]
#![forbid(unsafe_code)]

// Only codecs that cannot work without a heap use it (see `record::compression`).
#[cfg(feature = "alloc")]
extern crate alloc;
// `std` only exists for `snap` (snappy compression); nothing here uses it.

#[macro_use]
pub mod wire;
pub mod balancer;
pub mod client;
pub mod consumer;
mod error;
mod error_code;
pub mod group;
pub mod producer;
pub mod protocol;
pub mod record;
#[cfg(feature = "sasl")]
pub mod sasl;

pub use error::{Error, Limit, Result};
pub use error_code::ErrorCode;
