//! # microkafka-mock-broker
//!
//! An in-memory Kafka cluster that real clients accept, to start inside
//! tests (or as the `microkafka-broker` binary): several brokers on
//! `127.0.0.1`, real partition logs, classic consumer groups with committed
//! offsets, admin APIs, SASL/PLAIN, and a control surface to make things go
//! wrong on purpose: errors for the next requests of an API, latency, dropped
//! connections, brokers going down, leaders and coordinators moving.
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
//!   in-order (pipelined) responses, the timer for long-polls and session
//!   timeouts, and the control methods.
//!
//! ## What is served
//!
//! ApiVersions, Metadata, Produce (acks 0/1/-1), Fetch (long-poll, size
//! limits, topic ids), ListOffsets, FindCoordinator, JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, CreateTopics,
//! DeleteTopics, CreatePartitions, DescribeGroups, ListGroups,
//! InitProducerId, SaslHandshake, SaslAuthenticate — at every version of
//! Kafka's schemas (a Kafka 3.x broker's ranges), or only those Kafka 4.x
//! accepts with [`Config::kafka4`]. A version outside the advertised range
//! gets `UNSUPPORTED_VERSION` in the API's own response shape; ApiVersions at
//! an unknown version gets the KIP-511 v0 answer. A request for an API key
//! outside this set, a version no schema describes, a body that does not
//! parse or a frame over [`Config::max_frame_size`] closes that connection
//! (Kafka does the same: there is no response a client could parse); the
//! broker and every other connection go on.
//!
//! ## Not served (yet)
//!
//! Transactions (AddPartitionsToTxn, EndTxn, ...), the KIP-848 consumer
//! group protocol, fetch sessions (every Fetch is a full fetch), and
//! down-conversion (magic-2 data is served as stored to v0-3 fetchers).
//!
//! Compressed magic-2 batches are stored and served as received: every
//! codec works without the broker decompressing anything. Legacy (magic
//! 0/1) message sets from old producers are stored with one offset per
//! message; their compressed wrappers are decompressed to count (and for
//! magic 0, renumber and re-compress) the inner messages, as Kafka 0.9/0.10
//! did.
#![forbid(unsafe_code)]

mod cluster;
mod config;
mod faults;
mod group;
mod handlers;
mod ids;
mod legacy;
mod log;
mod server;
mod topics;
mod versions;

pub use cluster::{
    BrokerInfo, Cluster, Completion, ConnId, ControlError, Handled, Outcome, Session,
};
pub use config::{Config, SaslUser};
pub use faults::{Fault, FaultAction, RequestRecord};
/// Re-exported so faults and assertions need no direct dependency on the core.
pub use microkafka_core::{protocol::ApiKey, ErrorCode};
pub use server::MockCluster;
pub use versions::advertised;
