//! [`ReaderConfig`]: every knob of the [`Reader`](super::Reader), with its
//! default and what zero means.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use microkafka_core::consumer::StartOffset;
use microkafka_core::group::{Assignor, CooperativeSticky, Range, RoundRobin};

use crate::dialer::Dialer;

/// A partition assignment strategy a consumer group member offers
/// (kafka-go's `GroupBalancer`), with the protocol names every other
/// client uses, so microkafka, Java and librdkafka members can share a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupBalancer {
    /// `"range"`: per topic, consecutive ranges of partitions (eager).
    Range,
    /// `"roundrobin"`: all partitions dealt in turn (eager).
    RoundRobin,
    /// `"cooperative-sticky"`: balanced, sticky, and incremental (KIP-429):
    /// members keep consuming what they keep during a rebalance. Offer it
    /// alone: a member rebalances cooperatively only when every balancer it
    /// offers is cooperative.
    CooperativeSticky,
}

impl GroupBalancer {
    /// The core assignor.
    pub fn assignor(self) -> &'static (dyn Assignor + Send + Sync) {
        match self {
            GroupBalancer::Range => &Range,
            GroupBalancer::RoundRobin => &RoundRobin,
            GroupBalancer::CooperativeSticky => &CooperativeSticky,
        }
    }

    /// The protocol name sent in JoinGroup.
    pub fn name(self) -> &'static str {
        self.assignor().name()
    }
}

/// What a group [`Reader`](super::Reader) tells its
/// [`RebalanceListener`]. Called from the reader's group task, in order:
/// `Revoked`/`Lost` before `Assigned`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RebalanceEvent<'a> {
    /// A rebalance completed; the member is in `generation`.
    Joined {
        /// The group generation.
        generation: i32,
        /// The member id the coordinator gave.
        member_id: &'a str,
        /// True when this member computed the assignment.
        leader: bool,
    },
    /// The partition is read from now on, from `offset` (the committed
    /// offset; `None`: from `start_offset`).
    Assigned {
        /// The topic.
        topic: &'a str,
        /// The partition.
        partition: i32,
        /// The group's committed offset.
        offset: Option<i64>,
    },
    /// The partition is given up in a rebalance; what was marked or
    /// committed for it is committed before the member rejoins.
    Revoked {
        /// The topic.
        topic: &'a str,
        /// The partition.
        partition: i32,
    },
    /// The partition was taken away (the membership ended: session
    /// expired, fenced...); nothing more is committed for it.
    Lost {
        /// The topic.
        topic: &'a str,
        /// The partition.
        partition: i32,
    },
}

/// A callback for [`RebalanceEvent`]s (Java's `ConsumerRebalanceListener`).
/// It runs on the reader's group task: keep it short.
#[derive(Clone)]
pub struct RebalanceListener(pub Arc<dyn Fn(RebalanceEvent<'_>) + Send + Sync>);

impl RebalanceListener {
    /// A listener calling `f`.
    pub fn new(f: impl Fn(RebalanceEvent<'_>) + Send + Sync + 'static) -> Self {
        RebalanceListener(Arc::new(f))
    }
}

impl fmt::Debug for RebalanceListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RebalanceListener")
    }
}

/// Configuration of a [`Reader`](super::Reader), mirroring kafka-go's
/// `ReaderConfig`. Every field has a default (`ReaderConfig::default()`);
/// "zero" below means `0` or `Duration::ZERO`.
///
/// With `group_id` set, the Reader is a consumer group member: it reads
/// the partitions the group assigns it among `group_topics` (or `topic`),
/// starting from the group's committed offsets, and commits what
/// [`read_message`](super::Reader::read_message) returns or
/// [`commit_messages`](super::Reader::commit_messages) is given.
#[derive(Clone, Debug)]
pub struct ReaderConfig {
    /// Bootstrap brokers, `host:port` (one entry may hold several,
    /// comma-separated). Required.
    pub brokers: Vec<String>,
    /// The topic to read. Required without a group; with one, the topic
    /// subscribed when `group_topics` is empty.
    pub topic: String,
    /// The partition to read. Default 0. Must be 0 with a group (the group
    /// assigns partitions).
    pub partition: i32,
    /// Consumer group id (kafka-go's `GroupID`): the Reader joins the group
    /// and reads what it is assigned. Default `None`: one partition, no group.
    pub group_id: Option<String>,
    /// Topics of a consumer group (kafka-go's `GroupTopics`). Default empty:
    /// `topic`.
    pub group_topics: Vec<String>,
    /// Static membership (`group.instance.id`, KIP-345): a member restarting
    /// with the same id within `session_timeout` gets its partitions back
    /// without a rebalance; it does not leave the group on close. Default
    /// `None`.
    pub group_instance_id: Option<String>,
    /// The assignment strategies offered, by preference (kafka-go's
    /// `GroupBalancers`). Default `[Range, RoundRobin]` (kafka-go's).
    /// Empty: the default.
    pub group_balancers: Vec<GroupBalancer>,
    /// How often offsets are committed (kafka-go's `CommitInterval`).
    /// Default zero: commits are synchronous, `read_message` and
    /// `commit_messages` return once the broker has them. Otherwise they
    /// are marked and committed in the background at this interval (and
    /// always when partitions are revoked and when the Reader closes).
    pub commit_interval: Duration,
    /// Time between heartbeats to the group coordinator (kafka-go's
    /// `HeartbeatInterval`). Default 3 s. Zero: the default.
    pub heartbeat_interval: Duration,
    /// The coordinator drops a member whose heartbeats stop for this long
    /// (kafka-go's `SessionTimeout`). Default 30 s. Zero: the default.
    pub session_timeout: Duration,
    /// How long the coordinator waits for members to rejoin during a
    /// rebalance (kafka-go's `RebalanceTimeout`). Default 30 s. Zero: the
    /// default.
    pub rebalance_timeout: Duration,
    /// Longest wait between failed attempts to join the group (kafka-go's
    /// `JoinGroupBackoff`); the first retry waits 100 ms. Default 5 s.
    /// Zero: the default.
    pub join_group_backoff: Duration,
    /// How long the broker keeps committed offsets (kafka-go's
    /// `RetentionTime`; sent with OffsetCommit v2-4, newer brokers use their
    /// own setting). Default 24 h. Zero: the broker's default.
    pub retention_time: Duration,
    /// Called when partitions are assigned, revoked or lost. Default none.
    pub on_rebalance: Option<RebalanceListener>,
    /// The broker answers a fetch once this many bytes are available (or
    /// `max_wait` passed). Default 1: every message is delivered as soon as
    /// it is written. Zero: the broker answers at once, even empty-handed.
    pub min_bytes: i32,
    /// Most bytes one fetch returns. A first batch larger than this is
    /// still returned whole (KIP-74), so nothing stalls. Default 1 MiB
    /// (kafka-go's 1 MB). Zero: the default.
    pub max_bytes: i32,
    /// Longest a fetch waits at the broker for `min_bytes`. Default 500 ms
    /// (the Java client's `fetch.max.wait.ms`; kafka-go's 10 s only delays
    /// lag updates and shutdown, since data is delivered as soon as
    /// `min_bytes` is there anyway). Zero: the broker does not wait.
    pub max_wait: Duration,
    /// Fetch responses read ahead of the application (prefetch): while you
    /// process one, this many more may be fetched and queued. Default 4.
    /// Zero: the default. (kafka-go counts this in messages; a fetch holds
    /// up to `max_bytes` of them.)
    pub queue_capacity: usize,
    /// Where to start when no offset was set, and where to go when the
    /// offset falls out of the log (retention deleted it, or it is past
    /// the end): the first or the last offset. Default
    /// [`StartOffset::First`] (kafka-go's `FirstOffset`).
    pub start_offset: StartOffset,
    /// Consecutive failed fetches (leader gone, connection refused, no
    /// answer in time...) before the error is returned by `fetch_message`;
    /// the reader keeps retrying afterwards. In group mode, while no
    /// partition is assigned, the same for requests to the group
    /// coordinator (it cannot be found, reached, or does not answer). So
    /// against a broker that stops answering, `fetch_message` returns an
    /// error after this many attempts, each bounded by the dialer's
    /// timeouts (see `dialer`), plus the backoffs between them. Default 3
    /// (kafka-go's `MaxAttempts`). Zero: the default.
    pub max_attempts: u32,
    /// Backoff after the first failed fetch; doubles per failure. Default
    /// 100 ms (kafka-go's `ReadBackoffMin`). Zero: the default.
    pub read_backoff_min: Duration,
    /// Longest backoff between failed fetches. Default 1 s (kafka-go's
    /// `ReadBackoffMax`). Zero: the default.
    pub read_backoff_max: Duration,
    /// Read only committed transactional messages (Kafka's
    /// `isolation.level=read_committed`): records of aborted transactions
    /// are never handed out, nor anything at or past the partition's last
    /// stable offset (the first offset of a transaction still open), so a
    /// partition with an open transaction waits for it to end. The
    /// isolation level also goes to ListOffsets: the last offset
    /// ([`StartOffset::Last`], [`LAST_OFFSET`](crate::LAST_OFFSET),
    /// `read_lag`) is the last stable offset, as Kafka answers it. In group
    /// mode committed offsets are fetched stable (`require_stable`):
    /// offsets a transaction is still committing are waited for.
    /// Default false (`read_uncommitted`, as kafka-go): every record,
    /// aborted ones included, up to the high watermark.
    pub read_committed: bool,
    /// Largest decompressed records section of one batch accepted (the
    /// decompression buffer's size; a guard against zip bombs). Default
    /// 16 MiB. Zero: the default.
    pub max_decompressed_bytes: usize,
    /// How connections are made (client id, TLS, timeouts). Its
    /// `timeout` bounds each dial and its `request_timeout` each request
    /// (a Fetch: `max_wait` plus `request_timeout`); zero means the
    /// [`Dialer`]'s defaults (10 s and 30 s), not "no limit".
    pub dialer: Dialer,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        ReaderConfig {
            brokers: Vec::new(),
            topic: String::new(),
            partition: 0,
            group_id: None,
            group_topics: Vec::new(),
            group_instance_id: None,
            group_balancers: vec![GroupBalancer::Range, GroupBalancer::RoundRobin],
            commit_interval: Duration::ZERO,
            heartbeat_interval: Duration::from_secs(3),
            session_timeout: Duration::from_secs(30),
            rebalance_timeout: Duration::from_secs(30),
            join_group_backoff: Duration::from_secs(5),
            retention_time: Duration::from_secs(24 * 3600),
            on_rebalance: None,
            min_bytes: 1,
            max_bytes: 1 << 20,
            max_wait: Duration::from_millis(500),
            queue_capacity: 4,
            start_offset: StartOffset::First,
            max_attempts: 3,
            read_backoff_min: Duration::from_millis(100),
            read_backoff_max: Duration::from_secs(1),
            read_committed: false,
            max_decompressed_bytes: 16 << 20,
            dialer: Dialer::default(),
        }
    }
}

impl ReaderConfig {
    /// A config for one partition of `topic` through `brokers`.
    pub fn new(brokers: &[&str], topic: &str, partition: i32) -> Self {
        ReaderConfig {
            brokers: brokers.iter().map(|b| (*b).to_owned()).collect(),
            topic: topic.to_owned(),
            partition,
            ..Default::default()
        }
    }

    /// A config for consumer group `group_id` reading `topics` through `brokers`.
    pub fn group(brokers: &[&str], group_id: &str, topics: &[&str]) -> Self {
        ReaderConfig {
            brokers: brokers.iter().map(|b| (*b).to_owned()).collect(),
            group_id: Some(group_id.to_owned()),
            group_topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            ..Default::default()
        }
    }

    /// Zero fields replaced by their defaults.
    pub(crate) fn normalized(mut self) -> Self {
        let d = ReaderConfig::default();
        if self.group_balancers.is_empty() {
            self.group_balancers = d.group_balancers.clone();
        }
        if self.heartbeat_interval.is_zero() {
            self.heartbeat_interval = d.heartbeat_interval;
        }
        if self.session_timeout.is_zero() {
            self.session_timeout = d.session_timeout;
        }
        if self.rebalance_timeout.is_zero() {
            self.rebalance_timeout = d.rebalance_timeout;
        }
        if self.join_group_backoff.is_zero() {
            self.join_group_backoff = d.join_group_backoff;
        }
        if self.max_bytes <= 0 {
            self.max_bytes = d.max_bytes;
        }
        if self.queue_capacity == 0 {
            self.queue_capacity = d.queue_capacity;
        }
        if self.max_attempts == 0 {
            self.max_attempts = d.max_attempts;
        }
        if self.read_backoff_min.is_zero() {
            self.read_backoff_min = d.read_backoff_min;
        }
        if self.read_backoff_max.is_zero() {
            self.read_backoff_max = d.read_backoff_max;
        }
        if self.max_decompressed_bytes == 0 {
            self.max_decompressed_bytes = d.max_decompressed_bytes;
        }
        self.min_bytes = self.min_bytes.max(0);
        // Zero timeouts are the dialer's defaults, never "no limit" (and
        // never an instant timeout either).
        self.dialer = self.dialer.normalized();
        self
    }
}
