//! [`MemberConfig`]: what a group member is told once, with defaults.

use core::fmt;
use core::time::Duration;

use crate::group::{Assignor, Range, RoundRobin};
use crate::producer::Backoff;

/// The assignors a member offers when none are configured: kafka-go's
/// default `GroupBalancers` (`range`, then `roundrobin`).
pub const DEFAULT_ASSIGNORS: &[&dyn Assignor] = &[&Range, &RoundRobin];

/// How a [`Member`](super::Member) takes part in its group. Build one with
/// [`MemberConfig::new`] and change the fields you need; durations are
/// kafka-go's defaults.
#[derive(Clone, Copy)]
pub struct MemberConfig<'a> {
    /// The group id (`group.id`, kafka-go's `GroupID`). Required.
    pub group_id: &'a str,
    /// The topics to consume (kafka-go's `GroupTopics`), each at most 249
    /// bytes. Required; at most the member's `TOPICS` of them.
    pub topics: &'a [&'a str],
    /// Static membership (`group.instance.id`, KIP-345): a member that
    /// restarts with the same id within the session timeout gets its
    /// partitions back without a rebalance, and does not send LeaveGroup
    /// when it closes. Default `None` (dynamic membership).
    pub group_instance_id: Option<&'a str>,
    /// The assignors offered in JoinGroup, in order of preference
    /// (`partition.assignment.strategy`, kafka-go's `GroupBalancers`); the
    /// coordinator picks one every member supports. The member rebalances
    /// cooperatively (KIP-429) only when every assignor here is
    /// cooperative, as the Java client does. At most 4. Default
    /// [`DEFAULT_ASSIGNORS`].
    pub assignors: &'a [&'a dyn Assignor],
    /// The coordinator drops the member when no heartbeat arrives for this
    /// long (`session.timeout.ms`). Default 30 s (kafka-go).
    pub session_timeout: Duration,
    /// How long the coordinator waits for every member to rejoin during a
    /// rebalance (`max.poll.interval.ms` in the Java client). Default 30 s
    /// (kafka-go).
    pub rebalance_timeout: Duration,
    /// Time between heartbeats (`heartbeat.interval.ms`). Default 3 s.
    pub heartbeat_interval: Duration,
    /// Staged offsets are committed this often. Default zero: only when
    /// [`Member::commit`](super::Member::commit) asks (kafka-go's
    /// synchronous commits). Partitions being revoked are always committed
    /// before the member rejoins.
    pub commit_interval: Duration,
    /// How long the broker keeps committed offsets (kafka-go's
    /// `RetentionTime`; sent with OffsetCommit v2-4 only, newer brokers use
    /// their `offsets.retention.minutes`). Default `None`: the broker's.
    pub retention_time: Option<Duration>,
    /// Ask for stable offsets only (OffsetFetch `require_stable`, v7+, as
    /// the Java consumer does under `read_committed`): a partition whose
    /// offset an open transaction is committing gets
    /// `UNSTABLE_OFFSET_COMMIT` and is asked again after the backoff, so a
    /// consume-transform-produce member never starts from an offset a
    /// committing transaction is about to replace. Default false.
    pub require_stable: bool,
    /// Wait between failed coordinator lookups, joins and offset requests.
    /// Default 100 ms doubling to 1 s, no jitter.
    pub backoff: Backoff,
    /// A request the coordinator has not answered after this long fails
    /// (JoinGroup and SyncGroup get the rebalance timeout on top). Default 30 s.
    pub request_timeout: Duration,
}

impl<'a> MemberConfig<'a> {
    /// A member of `group_id` subscribed to `topics`, with the defaults.
    pub const fn new(group_id: &'a str, topics: &'a [&'a str]) -> Self {
        MemberConfig {
            group_id,
            topics,
            group_instance_id: None,
            assignors: DEFAULT_ASSIGNORS,
            session_timeout: Duration::from_secs(30),
            rebalance_timeout: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(3),
            commit_interval: Duration::ZERO,
            retention_time: None,
            require_stable: false,
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).jitter(0),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl fmt::Debug for MemberConfig<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Names<'x>(&'x [&'x dyn Assignor]);
        impl fmt::Debug for Names<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list()
                    .entries(self.0.iter().map(|a| a.name()))
                    .finish()
            }
        }
        f.debug_struct("MemberConfig")
            .field("group_id", &self.group_id)
            .field("topics", &self.topics)
            .field("group_instance_id", &self.group_instance_id)
            .field("assignors", &Names(self.assignors))
            .field("session_timeout", &self.session_timeout)
            .field("rebalance_timeout", &self.rebalance_timeout)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("commit_interval", &self.commit_interval)
            .field("retention_time", &self.retention_time)
            .field("require_stable", &self.require_stable)
            .field("backoff", &self.backoff)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}
