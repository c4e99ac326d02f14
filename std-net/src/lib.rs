//! # microkafka-std
//!
//! An Apache Kafka client for tokio, shaped like segmentio/kafka-go, on
//! microkafka-core's sans-IO protocol. No C, no OpenSSL, no librdkafka.
//!
//! | kafka-go | here | what |
//! |---|---|---|
//! | `kafka.NewWriter(WriterConfig{...})` | [`Writer::new`]`(`[`WriterConfig`]`)` | batching, balancing, retrying, idempotent producer |
//! | `kafka.NewReader(ReaderConfig{...})` | [`Reader::new`]`(`[`ReaderConfig`]`)` | prefetching partition consumer, or consumer group member (`GroupID`) |
//! | `kafka.Dialer`, `kafka.DialLeader` | [`Dialer`], [`dial_leader`] | connections: timeouts, keep-alive, TLS, SASL, client id |
//! | `Dialer.TLS` (`*tls.Config`) | [`Dialer::tls`], [`TlsConfig`] | rustls: CA roots, client certificate (mTLS), host name check |
//! | `Dialer.SASLMechanism` | [`Dialer::sasl_mechanism`], [`SaslMechanism`] | PLAIN, SCRAM-SHA-256/512, OAUTHBEARER; re-authentication (KIP-368) |
//! | `kafka.Conn` | [`Conn`] | one broker connection, low-level operations |
//! | `kafka.Client` | [`Client`] | topics, partitions, offsets, groups |
//! | `Balancer` | [`BalancerKind`] | `Hash`, `Murmur2`, `Crc32`... byte-compatible with other clients |
//! | `Stats()` | [`Writer::stats`], [`Reader::stats`] | counters since the last call |
//! | (none; Java's transactional `KafkaProducer`) | [`TransactionalWriter`] | transactions, offsets committed in them (exactly-once); `read_committed` Readers |
//!
//! ```no_run
//! use microkafka_std::{BalancerKind, Compression, Message, Reader, ReaderConfig, Writer, WriterConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let writer = Writer::new(WriterConfig {
//!     balancer: BalancerKind::Hash,
//!     compression: Compression::Lz4,
//!     ..WriterConfig::new(&["localhost:9092"], "events")
//! })?;
//! writer.write_messages(&[Message::new(b"hello").with_key(b"user-1")]).await?;
//! writer.close().await?;
//!
//! let mut reader = Reader::new(ReaderConfig::new(&["localhost:9092"], "events", 0))?;
//! let m = reader.fetch_message().await?;
//! println!("{}[{}]@{}: {:?}", m.topic, m.partition, m.offset, m.value);
//! # Ok(()) }
//! ```
//!
//! ## Design
//!
//! The protocol lives in `microkafka-core`, shared with the firmware port:
//! request encoding, correlation ids and version negotiation
//! ([`microkafka_core::client::Connection`]), record batches and codecs,
//! reading fetched records in offset order
//! ([`microkafka_core::consumer::FetchCursor`]), error classes and retry
//! backoff ([`microkafka_core::producer`]), balancers. This crate moves
//! bytes and time: one TCP connection per broker with requests pipelined
//! (a reader task matches responses in order), one sender task per
//! partition for the Writer, one fetch task per Reader.
//!
//! Messages are borrowed both ways: [`Message`] borrows your bytes (they are
//! copied into a batch), and [`FetchedMessage`] borrows the Reader's buffer.
//! Buffers are pooled, so steady-state producing and consuming allocate
//! nothing per message.
//!
//! Errors say where they happened: [`Error::context`] names the API,
//! broker, topic and partition, [`Error::code`] the Kafka error code.
//!
//! ## Security
//!
//! TLS and SASL are set on the [`Dialer`] (kafka-go's `TLS` and
//! `SASLMechanism`; librdkafka's `security.protocol`, `ssl.*` and `sasl.*`
//! through [`Dialer::with_properties`]) and apply to every connection
//! the Writer, Reader and Client open:
//!
//! ```no_run
//! # fn demo() -> microkafka_std::Result<()> {
//! use microkafka_std::{Dialer, SaslMechanism, TlsConfig, WriterConfig};
//! let dialer = Dialer {
//!     tls: Some(TlsConfig::default().with_ca_file("ca.pem")?.connector()?),
//!     sasl_mechanism: Some(SaslMechanism::scram_sha512("alice", "alice-secret")),
//!     ..Dialer::default()
//! };
//! let config = WriterConfig { dialer, ..WriterConfig::new(&["kafka-1:9093"], "events") };
//! # Ok(()) }
//! ```
//!
//! Authentication and certificate failures are [`Error::is_fatal`]:
//! reported at once, never retried.
//!
//! ## Features
//!
//! `gzip`, `lz4`, `snappy`, `zstd` (all on by default): the compression
//! codecs, all pure Rust. A Reader meeting a batch whose codec is not
//! compiled in fails with an error naming it.
//!
//! `tls` (on by default): [`TlsConfig`] and [`RustlsConnector`] (rustls
//! with the ring provider, tokio-rustls, system roots through
//! rustls-native-certs). Without it, [`Dialer::tls`] takes a
//! [`TlsConnector`] of your own.
#![forbid(unsafe_code)]

mod broker;
mod client;
mod conn;
mod dialer;
mod error;
mod message;
mod metadata;
mod pool;
mod reader;
mod requests;
mod sasl;
mod stats;
#[cfg(feature = "tls")]
mod tls;
mod tls_failure;
mod transport;
mod writer;

pub use client::{
    Client, ClientConfig, ClusterMetadata, GroupDescription, GroupInfo, GroupMember, OffsetRequest,
    PartitionOffset, TopicMetadata,
};
pub use conn::{Batch, Conn, ReadBatchConfig, SeekWhence, Written};
pub use dialer::{dial, dial_leader, Dialer, DEFAULT_CLIENT_ID};
pub use error::{BrokerRef, Context, Error, ErrorKind, Handshake, Result};
pub use message::{FetchedMessage, Header, Headers, Message, OwnedMessage};
pub use metadata::{Broker, Partition};
pub use microkafka_core::producer::{TxnError, TxnState};
pub use microkafka_core::record::compression::Compression;
pub use reader::{
    GroupBalancer, Reader, ReaderConfig, ReaderStats, RebalanceEvent, RebalanceListener,
    StartOffset, FIRST_OFFSET, LAST_OFFSET,
};
pub use requests::admin::TopicConfig;
pub use requests::cluster_admin::{ClusterDescription, ElectionResult, ElectionType};
pub use requests::configs::{
    AlterConfigOp, ConfigEntry, ConfigResource, ConfigSource, ResourceConfig,
};
pub use requests::group_admin::{CommittedOffset, OffsetReset, PartitionLag};
pub use requests::produce::RequiredAcks;
pub use sasl::{BoxError, OAuthToken, SaslMechanism, TokenProvider};
pub use stats::Summary;
#[cfg(feature = "tls")]
pub use tls::{ClientCert, RustlsConnector, TlsConfig, TlsRoots};
pub use tls_failure::TlsFailure;
pub use transport::{AsyncStream, BoxFuture, TlsConnector};
pub use writer::{
    BalancerKind, Completion, CompletionFn, ConsumerGroupMetadata, TransactionStats,
    TransactionalConfig, TransactionalWriter, WriteErrors, Writer, WriterConfig, WriterStats,
    MAX_TRANSACTION_PARTITIONS, MAX_TRANSACTION_TOPICS,
};
