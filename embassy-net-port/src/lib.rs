//! # microkafka-embassy
//!
//! A Kafka producer and partition consumer for firmware on
//! [embassy-net](https://docs.embassy.dev/embassy-net): `no_std`, no
//! allocator, every buffer the caller's. The protocol, batching, metadata
//! and retry decisions are `microkafka-core`'s (sans-IO, shared with the
//! tokio client); this crate moves their bytes over `TcpSocket`s and their
//! time over `embassy-time`.
//!
//! - [`Producer`]: records into per-partition batches in a caller buffer
//!   (core's [`Accumulator`](microkafka_core::producer::Accumulator)),
//!   sent on linger or size with `acks` 0, 1 or all, idempotent by default,
//!   retried on retriable errors, following leader changes (metadata
//!   refresh, reconnect), partitioned by core's
//!   [balancers](microkafka_core::balancer). Requests are written around the
//!   batch where it lies, so records are never copied into a frame buffer.
//! - [`Consumer`]: one partition, fetched into a caller buffer, records
//!   borrowed from it one at a time (core's
//!   [`FetchCursor`](microkafka_core::consumer::FetchCursor)), compressed
//!   batches (`lz4`, `gzip`, `snappy` features) inflated into a caller
//!   scratch buffer, offsets tracked.
//! - [`GroupConsumer`]: a consumer group member (core's sans-IO group
//!   [`Member`](microkafka_core::group::Member)): the partitions the group
//!   assigns it fetched in turn, offsets committed, rebalances (eager or
//!   cooperative) and coordinator moves handled inside `fetch`, static
//!   membership for devices that reboot; fixed limits.
//! - Brokers are reached by IP, by [`StaticHosts`], or by DNS through the
//!   stack ([`StackResolver`] with the `dns` feature).
//! - Security (`with_security`, features `tls` and `sasl`, off by default):
//!   TLS 1.3 with embedded-tls over caller buffers (`TlsSocket`; what is
//!   verified is listed in the `tls` module), SASL PLAIN and
//!   SCRAM-SHA-256/512 (core's heap-free clients) on every connection;
//!   failures named (`ErrorKind::Tls`, `ErrorKind::Sasl`) and not retried.
//!
//! ```no_run
//! # async fn run(stack: embassy_net::Stack<'_>) -> Result<(), microkafka_embassy::Error> {
//! use embassy_net::tcp::TcpSocket;
//! use microkafka_core::balancer::Murmur2;
//! use microkafka_embassy::{Producer, ProducerConfig, Record, StackResolver};
//!
//! let (mut rx, mut tx) = ([0u8; 1024], [0u8; 4096]);
//! let (mut batches, mut responses) = ([0u8; 4096], [0u8; 1024]);
//! let socket = TcpSocket::new(stack, &mut rx, &mut tx);
//! let config = ProducerConfig::new(&["10.0.0.1:9092"], "telemetry");
//! // One connection, 2 batch slots of 2 KiB (two partitions fill at once).
//! let mut producer: Producer<'_, _, _, 1, 2> = Producer::new(
//!     [socket], StackResolver::new(stack), Murmur2::default(),
//!     &mut batches, &mut responses, config,
//! )?;
//! producer.send(&Record::new(b"21.5").with_key(b"sensor-1")).await?;
//! producer.flush().await?;
//! # Ok(()) }
//! ```
#![no_std]
// Without TLS, no unsafe code at all. With it, one function lends the TLS
// record buffers to each new session (`TlsSocket::lend`, which says why).
#![cfg_attr(not(feature = "tls"), forbid(unsafe_code))]
#![cfg_attr(feature = "tls", deny(unsafe_code))]

#[cfg(test)]
extern crate std;

mod fmt;

mod cluster;
mod connection;
mod consumer;
mod drive;
mod error;
mod fetch;
mod group;
mod plan;
mod producer;
mod resolve;
#[cfg(feature = "sasl")]
pub mod sasl;
#[cfg(feature = "sasl")]
mod sasl_failure;
#[cfg(any(feature = "tls", feature = "sasl"))]
mod security;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "tls")]
mod tls_failure;

pub use cluster::{MAX_HOST_LEN, REQUEST_BUFFER_LEN};
pub use connection::BrokerSocket;
pub use consumer::{Consumer, ConsumerConfig};
pub use error::{Error, ErrorKind, Result};
pub use group::{GroupConsumer, GroupConsumerConfig, MAX_GROUP_MEMBERS};
pub use microkafka_core::consumer::{ConsumedRecord, StartOffset};
pub use microkafka_core::producer::Backoff;
pub use microkafka_core::record::RecordHeader;
pub use producer::{Producer, ProducerConfig, ProducerStats, Record, RequiredAcks};
pub use resolve::{Resolve, StackResolver, StaticHosts};
#[cfg(feature = "sasl")]
pub use sasl::{Sasl, SaslFailure};
#[cfg(any(feature = "tls", feature = "sasl"))]
pub use security::Security;
#[cfg(feature = "tls")]
pub use tls::{TlsFailure, TlsOptions, TlsSocket};
