//! The group coordinator: classic consumer groups (JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup) and their committed offsets.
//!
//! Plain state machines with no I/O and no clock: every call takes `now`,
//! [`Groups::poll_timeout`] says when the next session or rebalance deadline
//! falls, and [`Groups::handle_timeout`] applies it. JoinGroup and SyncGroup
//! answers may wait for other members, so they are not returned but queued
//! in [`Groups::take_replies`] with the [`ReplyTo`] they answer, possibly
//! long after the request arrived; the caller encodes and routes them.
//!
//! The rules follow Kafka's `GroupCoordinator` (the classic protocol):
//! two-phase join with `MEMBER_ID_REQUIRED` from JoinGroup v4, rebalance
//! when members join, leave, change metadata or miss their session timeout,
//! generation and member checks, a leader chosen among the members and sent
//! their metadata, and static membership (`group.instance.id`) with fencing.

mod admin;
mod membership;
mod offsets;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use microkafka_core::ErrorCode;

use crate::cluster::ReplyTo;
use crate::ids::Ids;

pub(crate) use membership::{JoinRequest, LeaveMember, SyncRequest};
pub(crate) use offsets::{Commit, Committed};

/// The state of a classic group, named as Kafka names them in DescribeGroups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GroupState {
    /// No members (offsets may still be stored).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Waiting for the leader's SyncGroup with the assignment.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
}

impl GroupState {
    /// Kafka's name for the state.
    pub(crate) fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// A group member.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocol_type: String,
    /// `(name, metadata)` in the member's order of preference.
    protocols: Vec<(String, Vec<u8>)>,
    pub(crate) assignment: Vec<u8>,
    /// A JoinGroup waiting for the rebalance to complete.
    awaiting_join: Option<ReplyTo>,
    /// A SyncGroup waiting for the leader's assignment.
    awaiting_sync: Option<ReplyTo>,
    /// Whether the member's JoinGroup version knows `skip_assignment` (v9+).
    supports_skip_assignment: bool,
    /// The member is dead when no heartbeat comes by then.
    heartbeat_deadline: Instant,
}

impl Member {
    /// The member's metadata for `protocol`, empty if it does not support it.
    pub(crate) fn metadata(&self, protocol: &str) -> &[u8] {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map_or(&[][..], |(_, m)| m.as_slice())
    }
}

/// A classic group and its committed offsets.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) id: String,
    pub(crate) state: GroupState,
    pub(crate) generation: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol: Option<String>,
    pub(crate) leader: Option<String>,
    /// In join order: the first member becomes leader when there is none.
    pub(crate) members: Vec<Member>,
    /// Member ids handed out with `MEMBER_ID_REQUIRED`, not joined yet, with
    /// the time they are forgotten.
    pending: HashMap<String, Instant>,
    /// `group.instance.id` → member id of static members.
    statics: HashMap<String, String>,
    /// When the current rebalance phase gives up waiting: the join phase
    /// completes with whoever rejoined, the sync phase drops members that
    /// never synced.
    deadline: Option<Instant>,
    /// Set while an empty group waits `group.initial.rebalance.delay.ms`.
    initial_delay: bool,
    pub(crate) offsets: BTreeMap<(String, i32), Committed>,
    /// Offsets committed in open transactions (TxnOffsetCommit), by
    /// producer id: stored when the transaction commits, dropped when it
    /// aborts.
    pub(crate) pending_txn: BTreeMap<i64, BTreeMap<(String, i32), Committed>>,
    /// The last request that named the group: an empty group expires
    /// `offsets_retention` after it, offsets and all.
    last_used: Instant,
}

impl Group {
    fn new(id: &str, now: Instant) -> Self {
        Group {
            id: id.to_owned(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: Vec::new(),
            pending: HashMap::new(),
            statics: HashMap::new(),
            deadline: None,
            initial_delay: false,
            offsets: BTreeMap::new(),
            pending_txn: BTreeMap::new(),
            last_used: now,
        }
    }

    /// When an empty group (and its offsets) expires; `None` while it has members.
    fn expires_at(&self, retention: Duration) -> Option<Instant> {
        (self.state == GroupState::Empty && self.members.is_empty() && self.pending_txn.is_empty())
            .then(|| self.last_used + retention)
    }

    pub(crate) fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    fn is_leader(&self, id: &str) -> bool {
        self.leader.as_deref() == Some(id)
    }
}

/// The answer to a JoinGroup, owned so it can wait for the rebalance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct JoinResult {
    pub(crate) error: ErrorCode,
    pub(crate) generation: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader: String,
    pub(crate) skip_assignment: bool,
    pub(crate) member_id: String,
    /// Sent to the leader only: `(member id, instance id, metadata)`.
    pub(crate) members: Vec<(String, Option<String>, Vec<u8>)>,
}

impl JoinResult {
    fn error(error: ErrorCode, member_id: &str) -> Self {
        JoinResult {
            error,
            generation: -1,
            member_id: member_id.to_owned(),
            ..JoinResult::default()
        }
    }
}

/// The answer to a SyncGroup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SyncResult {
    pub(crate) error: ErrorCode,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) assignment: Vec<u8>,
}

impl SyncResult {
    fn error(error: ErrorCode) -> Self {
        SyncResult {
            error,
            ..SyncResult::default()
        }
    }
}

/// A deferred group answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum GroupReply {
    Join(JoinResult),
    Sync(SyncResult),
}

/// Limits the coordinator enforces.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GroupLimits {
    pub(crate) min_session_timeout: Duration,
    pub(crate) max_session_timeout: Duration,
    pub(crate) initial_rebalance_delay: Duration,
    /// Groups held at most (see [`crate::Limits::max_groups`]).
    pub(crate) max_groups: usize,
    /// Members (and pending member ids) of one group (`group.max.size`).
    pub(crate) max_members: usize,
    /// Bytes of a member's protocol metadata, and of one assignment.
    pub(crate) max_metadata_bytes: usize,
    /// How long an empty group keeps its offsets (`offsets.retention.minutes`).
    pub(crate) offsets_retention: Duration,
}

impl GroupLimits {
    /// The coordinator's limits from the broker's configuration.
    pub(crate) fn of(config: &crate::Config) -> Self {
        GroupLimits {
            min_session_timeout: config.group_min_session_timeout,
            max_session_timeout: config.group_max_session_timeout,
            initial_rebalance_delay: config.group_initial_rebalance_delay,
            max_groups: config.limits.max_groups,
            max_members: config.limits.max_members_per_group,
            max_metadata_bytes: config.limits.max_member_metadata_bytes,
            offsets_retention: config.limits.offsets_retention,
        }
    }
}

/// Every group of the cluster.
#[derive(Debug)]
pub(crate) struct Groups {
    groups: BTreeMap<String, Group>,
    limits: GroupLimits,
    replies: Vec<(ReplyTo, GroupReply)>,
}

impl Groups {
    pub(crate) fn new(limits: GroupLimits) -> Self {
        Groups {
            groups: BTreeMap::new(),
            limits,
            replies: Vec::new(),
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Group> {
        self.groups.get(id)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// JoinGroup and SyncGroup answers that are ready, oldest first.
    pub(crate) fn take_replies(&mut self) -> Vec<(ReplyTo, GroupReply)> {
        std::mem::take(&mut self.replies)
    }

    /// The next instant at which [`handle_timeout`](Self::handle_timeout) has work.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.groups
            .values()
            .flat_map(|g| {
                let members = g
                    .members
                    .iter()
                    .filter(|m| m.awaiting_join.is_none() && m.awaiting_sync.is_none())
                    .map(|m| m.heartbeat_deadline);
                g.deadline
                    .into_iter()
                    .chain(g.pending.values().copied())
                    .chain(members)
                    .chain(g.expires_at(self.limits.offsets_retention))
            })
            .min()
    }

    /// Makes room for a group about to be created: drops expired empty
    /// groups, then, at the limit, the longest-unused empty one. False when
    /// every group is in use (the caller answers `COORDINATOR_NOT_AVAILABLE`).
    fn make_room(&mut self, now: Instant) -> bool {
        let retention = self.limits.offsets_retention;
        if self.groups.len() < self.limits.max_groups {
            return true;
        }
        self.groups
            .retain(|_, g| g.expires_at(retention).is_none_or(|at| at > now));
        if self.groups.len() < self.limits.max_groups {
            return true;
        }
        let oldest = self
            .groups
            .values()
            .filter(|g| g.expires_at(retention).is_some())
            .min_by_key(|g| g.last_used)
            .map(|g| g.id.clone());
        match oldest {
            Some(id) => {
                self.groups.remove(&id);
                true
            }
            None => false,
        }
    }

    /// Applies every deadline that has passed: expired sessions leave their
    /// group, and rebalance phases that waited long enough complete.
    pub(crate) fn handle_timeout(&mut self, now: Instant, ids: &mut Ids) {
        let Groups {
            groups,
            limits,
            replies,
        } = self;
        for group in groups.values_mut() {
            let mut cx = membership::Cx {
                group,
                limits: *limits,
                replies,
                ids,
                now,
            };
            cx.expire();
        }
        // Empty groups past offsets retention go, with their offsets (Kafka's
        // offset expiration, then the removal of the empty group).
        let retention = limits.offsets_retention;
        groups.retain(|_, g| g.expires_at(retention).is_none_or(|at| at > now));
    }

    /// Removes committed offsets of a deleted topic from every group.
    pub(crate) fn forget_topic(&mut self, topic: &str) {
        for g in self.groups.values_mut() {
            g.offsets.retain(|(t, _), _| t != topic);
            for pending in g.pending_txn.values_mut() {
                pending.retain(|(t, _), _| t != topic);
            }
        }
    }
}

#[cfg(test)]
mod tests;
