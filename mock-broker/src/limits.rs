//! Every resource a client can make the broker hold, with its bound.
//!
//! The mock broker runs inside test suites and CI jobs, next to code that
//! may be buggy or hostile on purpose (fuzzers, fault tests). Nothing a
//! client sends may make it hold memory or time without bound, so each
//! resource has a limit here, and exceeding it gets the answer Apache Kafka
//! gives for the nearest case (or, where Kafka has no such limit, the one a
//! Kafka client handles best). The README's "Broker limits" table lists them
//! with their tests.

use std::time::Duration;

/// The broker's resource limits. `Limits::default()` is generous enough for
/// any test suite (thousands of connections, topics and groups) and small
/// enough that a run of hostile clients cannot exhaust a CI machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Open client connections across all brokers (Kafka's `max.connections`).
    /// A connection over the limit is closed as soon as it is accepted.
    /// Default 4096.
    pub max_connections: usize,
    /// Open connections from one client IP address (Kafka's
    /// `max.connections.per.ip`). Default 4096 (tests connect from 127.0.0.1).
    pub max_connections_per_address: usize,
    /// A connection that completes no request for this long, while none of
    /// its requests awaits an answer, is closed (Kafka's
    /// `connections.max.idle.ms`). This also ends a client that sends part of
    /// a frame and stalls, or trickles it byte by byte. Default 10 minutes.
    pub connection_idle_timeout: Duration,
    /// Largest frame accepted before the connection has authenticated, when
    /// SASL is required (Kafka's `sasl.server.max.receive.size`); a larger one
    /// closes the connection. Default 512 KiB.
    pub max_unauthenticated_frame_size: usize,
    /// Bytes of response data one Fetch may carry in total, whatever the
    /// request asks (Kafka's `fetch.max.bytes`; also applied to Fetch v0-2,
    /// which have no request-wide limit). The first batch of the first
    /// partition with data is always returned whole (KIP-74). Default 55 MiB.
    pub fetch_max_bytes: usize,
    /// Topics in the cluster. CreateTopics over the limit answers
    /// `POLICY_VIOLATION`; Metadata auto-creation is skipped (the topic stays
    /// unknown). Default 10,000.
    pub max_topics: usize,
    /// Partitions of one topic (CreateTopics or CreatePartitions over it
    /// answer `INVALID_PARTITIONS`). Default 10,000.
    pub max_partitions_per_topic: usize,
    /// Partitions across every topic (`POLICY_VIOLATION` over it). Default 100,000.
    pub max_partitions: usize,
    /// Log bytes kept across every partition. When appends take the total
    /// over it, the oldest closed segments of the largest partitions are
    /// dropped (retention), as `retention.bytes` does per partition.
    /// Default 1 GiB.
    pub max_retained_bytes: usize,
    /// Consumer groups the coordinator holds (groups with members or
    /// committed offsets). A new group over the limit first evicts the
    /// longest-empty group; if every group is in use, JoinGroup and
    /// OffsetCommit answer `COORDINATOR_NOT_AVAILABLE`. Default 10,000.
    pub max_groups: usize,
    /// Members of one group (Kafka's `group.max.size`; over it JoinGroup
    /// answers `GROUP_MAX_SIZE_REACHED`). Default 1,000.
    pub max_members_per_group: usize,
    /// Bytes of protocol metadata (all protocols together) a JoinGroup
    /// member may send, and of one SyncGroup assignment. Over it the request
    /// answers `INVALID_REQUEST` (Kafka bounds these by its frame size only).
    /// Default 1 MiB.
    pub max_member_metadata_bytes: usize,
    /// Producer ids whose sequence state a partition keeps; the least
    /// recently used one is forgotten beyond it (its next batch is accepted
    /// as a new producer's, as after Kafka's producer-id expiry). Default 10,000.
    pub max_producers_per_partition: usize,
    /// An idle producer's sequence state is forgotten after this long
    /// (Kafka's `producer.id.expiration.ms`). Default 1 day.
    pub producer_id_expiration: Duration,
    /// Transactional ids the transaction coordinator keeps (with their
    /// producer id and epoch). A new one over the limit first forgets ids
    /// idle past [`transactional_id_expiration`](Self::transactional_id_expiration),
    /// then the longest-unused id without an open transaction; if every id
    /// has one, InitProducerId answers `COORDINATOR_NOT_AVAILABLE`. Default 10,000.
    pub max_transactional_ids: usize,
    /// A transactional id unused this long is forgotten (Kafka's
    /// `transactional.id.expiration.ms`). Default 7 days.
    pub transactional_id_expiration: Duration,
    /// Transactions open at once across the cluster. AddPartitionsToTxn or
    /// AddOffsetsToTxn that would open one more answer
    /// `COORDINATOR_NOT_AVAILABLE` (Kafka has no such limit; each open
    /// transaction ends by its timeout, at most 15 minutes). Default 1,000.
    pub max_open_transactions: usize,
    /// Groups whose offsets one transaction commits (AddOffsetsToTxn names
    /// any group id); past it AddOffsetsToTxn answers `INVALID_REQUEST`.
    /// Partitions need no limit: only existing ones are added. Default 100.
    pub max_groups_per_transaction: usize,
    /// Committed offsets of a group without members are dropped after this
    /// long, and the empty group with them (Kafka's `offsets.retention.minutes`).
    /// Default 7 days.
    pub offsets_retention: Duration,
    /// Largest decompressed size the broker inflates when it must look inside
    /// a compressed batch (legacy wrappers, ListOffsets by timestamp); a batch
    /// that inflates beyond it is `CORRUPT_MESSAGE`. Default 64 MiB.
    pub max_inflated_bytes: usize,
    /// On a TLS or SASL listener, a connection must have completed its TLS
    /// handshake and its SASL authentication this long after it was accepted,
    /// or it is closed (a client that stops mid-handshake, or never starts).
    /// Handshaking connections count against the connection limits. Kafka
    /// has only its idle timeout here. Default 10 s.
    pub handshake_timeout: Duration,
    /// A failed authentication (SASL, or a failed TLS handshake) is answered
    /// and its connection closed after this delay, which slows down password
    /// guessing (Kafka's `connection.failed.authentication.delay.ms`).
    /// Default 100 ms, as Kafka.
    pub failed_authentication_delay: Duration,
    /// Failed authentications from one client address within
    /// [`failed_authentication_window`](Self::failed_authentication_window)
    /// after which new connections from that address are closed at accept
    /// until the window ends (a brute-force guard; Kafka has none). Zero
    /// disables the guard. Default 100.
    pub max_failed_authentications_per_address: usize,
    /// The window failed authentications are counted in, from an address's
    /// first failure. Default 60 s.
    pub failed_authentication_window: Duration,
    /// Client addresses whose failures are counted at once: beyond it the
    /// windows that are over are forgotten, then the oldest, so the guard's
    /// memory is bounded whatever the number of attacking addresses.
    /// Default 10,000.
    pub max_tracked_addresses: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            max_connections_per_address: 4096,
            connection_idle_timeout: Duration::from_secs(600),
            max_unauthenticated_frame_size: 512 << 10,
            fetch_max_bytes: 55 << 20,
            max_topics: 10_000,
            max_partitions_per_topic: 10_000,
            max_partitions: 100_000,
            max_retained_bytes: 1 << 30,
            max_groups: 10_000,
            max_members_per_group: 1_000,
            max_member_metadata_bytes: 1 << 20,
            max_producers_per_partition: 10_000,
            producer_id_expiration: Duration::from_secs(24 * 3600),
            max_transactional_ids: 10_000,
            transactional_id_expiration: Duration::from_secs(7 * 24 * 3600),
            max_open_transactions: 1_000,
            max_groups_per_transaction: 100,
            offsets_retention: Duration::from_secs(7 * 24 * 3600),
            max_inflated_bytes: 64 << 20,
            handshake_timeout: Duration::from_secs(10),
            failed_authentication_delay: Duration::from_millis(100),
            max_failed_authentications_per_address: 100,
            failed_authentication_window: Duration::from_secs(60),
            max_tracked_addresses: 10_000,
        }
    }
}
