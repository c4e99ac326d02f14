//! [`Event`]: what a [`Member`](super::Member) tells the application.

use crate::protocol::ApiKey;
use crate::ErrorCode;

/// Something the application must know or act on, from
/// [`Member::poll_event`](super::Member::poll_event).
///
/// Per-partition events come in this order: `Lost` and `Revoked` first,
/// then commit results, then `Joined`, then `Assigned`. Partition events
/// hold back the protocol: a member does not rejoin (eager), or follow up a
/// cooperative revocation, before its `Revoked` and `Lost` events were
/// polled, so handling them is the application's rebalance callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event<'a> {
    /// The partition is the member's: consume it from `committed` (the
    /// group's committed offset), or per the application's start-offset
    /// policy when `None` (nothing committed yet).
    Assigned {
        /// The topic.
        topic: &'a str,
        /// The partition.
        partition: i32,
        /// The group's committed offset (the next offset to consume).
        committed: Option<i64>,
    },
    /// The member gives the partition up in a rebalance (eager: everything
    /// before rejoining; cooperative: only what moves). Stop consuming it
    /// and stage its last position now: the member commits it before it
    /// rejoins.
    Revoked {
        /// The topic.
        topic: &'a str,
        /// The partition.
        partition: i32,
    },
    /// The partition was taken away without a chance to commit (the
    /// membership ended: session expired, unknown member, illegal
    /// generation, fenced). Another member may already be consuming it;
    /// stop at once. Staged positions are dropped.
    Lost {
        /// The topic.
        topic: &'a str,
        /// The partition.
        partition: i32,
    },
    /// An OffsetCommit answered for this partition: `offset` is committed
    /// when `error` is `NONE`; otherwise committing it failed for good (or
    /// the partition was revoked before a retry). Retriable failures are
    /// retried after the backoff without an event.
    Committed {
        /// The topic.
        topic: &'a str,
        /// The partition.
        partition: i32,
        /// The offset sent (the next offset to consume).
        offset: i64,
        /// `NONE`, or why the commit failed.
        error: ErrorCode,
    },
    /// A rebalance completed: the member has its assignment for `generation`
    /// (its new partitions follow as `Assigned` events).
    Joined {
        /// The group generation.
        generation: i32,
        /// True when this member computed the assignment.
        leader: bool,
    },
    /// A recoverable error the member handles by itself (retry, rediscover
    /// the coordinator, rejoin); for logs and metrics.
    Error {
        /// The request that failed.
        api: ApiKey,
        /// The error (`NETWORK_EXCEPTION` when the request got no answer).
        error: ErrorCode,
    },
    /// The member left the group (after [`Member::leave`](super::Member::leave)).
    Left,
    /// The group refused the member for good (`FENCED_INSTANCE_ID`: another
    /// process has this `group.instance.id`; `INVALID_SESSION_TIMEOUT`,
    /// `GROUP_AUTHORIZATION_FAILED`, `INCONSISTENT_GROUP_PROTOCOL`...). The
    /// member does nothing more.
    Fatal {
        /// The request that was refused.
        api: ApiKey,
        /// Why.
        error: ErrorCode,
    },
}
