//! Client-side protocol state, without I/O.
//!
//! [`Connection`] is what one TCP connection to one broker knows: the
//! correlation ids in flight (Kafka answers in order, so pipelining is a FIFO),
//! and the API versions agreed with that broker. [`MetadataCache`] is what a
//! one-topic client keeps from Metadata: broker addresses and partition
//! leaders, in fixed tables. Transports (tokio, embassy)
//! move the bytes; this module decides what they are.

mod connection;
#[cfg(feature = "async-client")]
mod io;
mod metadata;

pub use connection::{Connection, Received, Sent, CLIENT_SOFTWARE_NAME, CLIENT_SOFTWARE_VERSION};
#[cfg(feature = "async-client")]
pub use io::{AsyncConnection, IoError};
pub use metadata::{BrokerAddress, MetadataCache, PartitionState};
