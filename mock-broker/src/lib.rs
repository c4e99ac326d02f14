//! # microkafka-mock-broker
//!
//! An in-memory Kafka cluster that real clients accept, to start inside
//! tests (or as the `microkafka-broker` binary): several brokers on
//! `127.0.0.1`, real partition logs, classic consumer groups with committed
//! offsets, admin APIs, listeners of every security protocol (TLS, SASL
//! PLAIN, SCRAM-SHA-256/512 and OAUTHBEARER: see [`Security`]), and a
//! control surface to make things go wrong on purpose: errors for the next
//! requests of an API, latency, dropped connections, brokers going down,
//! leaders and coordinators moving.
//!
//! ```no_run
//! use microkafka_mock_broker::{Config, MockCluster};
//!
//! let cluster = MockCluster::start_in_background(Config::default()).unwrap();
//! cluster.create_topic("events", 3).unwrap();
//! // kcat -b <this> -L, librdkafka, the Java client, microkafka...
//! println!("{}", cluster.bootstrap_servers());
//! ```
//!
//! ## Layout
//!
//! - [`Cluster`] is the whole broker logic without I/O (sans-IO, as
//!   quinn-proto): frames in, frames out, time passed in. The group
//!   coordinator (`group`), partition logs (`log`), topics (`topics`) and
//!   one handler module per API (`handlers`) live under it, unit-tested
//!   without sockets.
//! - [`MockCluster`] is the tokio driver: listeners, connections with
//!   in-order responses (one request handled at a time per connection, as
//!   Kafka does; pipelined requests answered at once are handled back to
//!   back), the timer for long-polls and session timeouts, and the control
//!   methods.
//! - [`Limits`] bounds everything a client can make the broker hold
//!   (connections, frames, topics, partitions, groups, retained bytes,
//!   handshakes, failed logins, ...); past a bound the broker answers as
//!   Kafka would, or closes that one connection.
//! - [`Security`] (in [`Config::security`]) is the listeners' security
//!   protocol, TLS settings ([`TlsConfig`], certificates given or generated
//!   by a [`TestCa`]) and SASL settings ([`SaslConfig`]).
//!
//! ## What is served
//!
//! ApiVersions, Metadata, Produce (acks 0/1/-1), Fetch (long-poll, size
//! limits, topic ids), ListOffsets, FindCoordinator, JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, CreateTopics,
//! DeleteTopics, CreatePartitions, DescribeGroups, ListGroups,
//! InitProducerId, SaslHandshake, SaslAuthenticate, the admin APIs
//! (DescribeConfigs, AlterConfigs and IncrementalAlterConfigs with Kafka
//! 4.4's topic configs, acted on where a broker acts on them:
//! `retention.ms`, `retention.bytes`, `max.message.bytes`, `segment.ms`,
//! `cleanup.policy=compact`; DeleteRecords, DeleteGroups, OffsetDelete,
//! ElectLeaders, DescribeCluster), and transactions
//! (AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit: a
//! transaction coordinator with fencing, timeouts, markers, read_committed
//! fetches and offsets pending until the commit) — at every version of
//! Kafka's schemas (a Kafka 3.x broker's ranges), or only those Kafka 4.x
//! accepts with [`Config::kafka4`] (which, as Kafka 4.x, still lists Produce
//! v0-2 but does not serve them). ApiVersions at an unknown version gets the
//! KIP-511 v0 answer. A request for an API key outside this set, a version
//! the broker does not serve, a body that does not parse or a frame over
//! [`Config::max_frame_size`] closes that connection (Kafka does the same:
//! there is no response a client could parse); the broker and every other
//! connection go on.
//!
//! Listeners speak `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`
//! ([`SecurityProtocol`]): TLS 1.2 and 1.3 by rustls (ring), with a
//! certificate given as PEM or generated for the test, and optionally client
//! certificates (required or requested; the client's principal is then its
//! certificate's subject). SASL mechanisms: PLAIN, SCRAM-SHA-256 and
//! SCRAM-SHA-512 (users configured with a password, from which the broker
//! derives salted keys and keeps only those), OAUTHBEARER with unsecured JWTs
//! validated as Kafka's default handler does; SaslHandshake v0 (raw tokens)
//! and v1, SaslAuthenticate v0-2 with KIP-368 session lifetimes and
//! re-authentication. Before authentication only ApiVersions, SaslHandshake
//! and SaslAuthenticate are served; a failed authentication is answered with
//! Kafka's error and message after a delay and closes the connection; the
//! TLS handshake and SASL authentication have a deadline; failed logins are
//! counted per address and in total ([`MockCluster::security_stats`]) and an
//! address that fails too often is refused for a while. [`Security`] lists
//! the Kafka behaviours matched.
//!
//! ## Not served (yet)
//!
//! The KIP-848 consumer group protocol, fetch sessions (every Fetch is a
//! full fetch), down-conversion (magic-2 data is served as stored to v0-3
//! fetchers), and transactions version 2's implicit partition additions
//! (Produce v12+; EndTxn v5's epoch bump is served).
//!
//! Compressed magic-2 batches are stored and served as received: every
//! codec works without the broker decompressing anything. Legacy (magic
//! 0/1) message sets from old producers are stored with one offset per
//! message; their compressed wrappers are decompressed to count (and for
//! magic 0, renumber and re-compress) the inner messages, as Kafka 0.9/0.10
//! did.
#![forbid(unsafe_code)]

mod cluster;
mod compaction;
mod config;
mod faults;
mod group;
mod handlers;
mod ids;
mod inflate;
mod legacy;
mod limits;
mod log;
mod security;
mod server;
mod topic_config;
mod topics;
mod txn;
mod versions;

pub use cluster::{
    BrokerInfo, Cluster, Completion, ConnId, ControlError, Handled, Outcome, Session,
};
pub use config::{Config, SaslUser};
pub use faults::{Fault, FaultAction, RequestRecord};
pub use limits::Limits;
/// Re-exported so faults and assertions need no direct dependency on the core.
pub use microkafka_core::{protocol::ApiKey, ErrorCode};
pub use security::oauthbearer::{unsecured_jwt, unsecured_jwt_at};
pub use security::{
    CertifiedKeyPem, ClientAuth, OAuthBearerValidation, SaslConfig, SaslMechanism, Security,
    SecurityProtocol, SecurityStats, TestCa, TlsConfig,
};
pub use server::MockCluster;
pub use txn::TransactionState;
pub use versions::advertised;
