//! Client-side protocol state, without I/O.
//!
//! [`Connection`] is what one TCP connection to one broker knows: the
//! correlation ids in flight (Kafka answers in order, so pipelining is a FIFO),
//! and the API versions agreed with that broker. [`Deframer`] cuts the
//! connection's byte stream into response frames, and [`Negotiator`] runs
//! the ApiVersions exchange that opens it (with the KIP-511 fallback).
//! [`MetadataCache`] is what a one-topic client keeps from Metadata: broker
//! addresses and partition leaders, in fixed tables.
//! [`client_throttle_ms`] says how long a connection stays quiet after a
//! throttled answer (KIP-219). Transports (tokio, embassy) move the bytes;
//! this module decides what they are.

mod connection;
mod deframer;
mod metadata;
mod negotiator;
mod throttle;

pub use connection::{Connection, Received, Sent, CLIENT_SOFTWARE_NAME, CLIENT_SOFTWARE_VERSION};
pub use deframer::Deframer;
pub use metadata::{BrokerAddress, MetadataCache, PartitionState};
pub use negotiator::Negotiator;
pub use throttle::{client_throttle_ms, client_throttle_version};

#[cfg(test)]
mod deframer_tests;
