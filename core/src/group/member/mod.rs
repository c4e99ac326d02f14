//! [`Member`]: a classic consumer-group member as a sans-IO state machine.
//!
//! The member finds its coordinator, joins (with `MEMBER_ID_REQUIRED`'s
//! second step from JoinGroup v4), syncs (as leader it runs an
//! [`Assignor`] over the members JoinGroup lists), heartbeats, fetches the
//! committed offsets of partitions it is given, commits the offsets the
//! application stages, and leaves. It reads no clock and owns no socket:
//!
//! - [`poll_transmit`](Member::poll_transmit) says what to send next and
//!   where (FindCoordinator goes to any broker, the rest to the coordinator);
//! - [`handle_response`](Member::handle_response) and
//!   [`handle_failure`](Member::handle_failure) take the outcome;
//! - [`poll_timeout`](Member::poll_timeout) says when to call
//!   [`handle_timeout`](Member::handle_timeout) and `poll_transmit` again;
//! - [`poll_event`](Member::poll_event) hands out what the application must
//!   act on: partitions assigned, revoked or lost, commit results.
//!
//! Two requests may be in flight: one for the membership (FindCoordinator,
//! JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and one for offsets
//! (OffsetFetch, OffsetCommit), so heartbeats never wait behind a commit.
//!
//! ## Rebalances
//!
//! Errors that end the membership's generation force a rejoin:
//! `REBALANCE_IN_PROGRESS` (rejoin, keeping the member id and, when
//! cooperative, the partitions), `ILLEGAL_GENERATION` (partitions lost, the
//! member id kept), `UNKNOWN_MEMBER_ID` (partitions lost, a new member id).
//! `NOT_COORDINATOR` and `COORDINATOR_NOT_AVAILABLE` make the member look
//! the coordinator up again (the coordinator moved) and carry on with the
//! same membership; `COORDINATOR_LOAD_IN_PROGRESS` is retried after the
//! backoff. `FENCED_INSTANCE_ID` is fatal, as in the Java client and
//! librdkafka: another process owns the `group.instance.id`, and rejoining
//! would fence it in turn.
//!
//! With eager assignors (`range`, `roundrobin`) every partition is revoked
//! before the member rejoins. With `cooperative-sticky` alone (KIP-429) the
//! member keeps consuming through the rebalance, announces its owned
//! partitions and their generation in its subscription (consumer protocol
//! v3), revokes only what the new assignment leaves out, and then rejoins at
//! once so those partitions can go to their new owner. Revoked partitions'
//! staged offsets are committed before the member rejoins.

mod answers;
mod config;
mod encode;
mod event;
mod leader;
mod slots;
mod transmit;

#[cfg(test)]
mod tests;

pub use config::{MemberConfig, DEFAULT_ASSIGNORS};
pub use event::Event;
pub use leader::{leader_scratch_len, LeaderJoin, Members};
pub use transmit::{Destination, GroupRequest, RequestId, Transmit};

use core::time::Duration;

use heapless::{Deque, String, Vec};

use crate::client::Received;
use crate::error::{Error, Result};
use crate::group::{Assignor, GroupMember, RebalanceProtocol, TopicPartitions};
use crate::producer::Backoff;
use crate::protocol::messages::LeaveGroupResponse;
use crate::protocol::ApiKey;
use crate::wire::Array;
use crate::ErrorCode;

use slots::{Slot, Stage};
use transmit::Arena;

/// Longest group id accepted.
pub const MAX_GROUP_ID_LEN: usize = 255;
/// Longest member id kept (the coordinator makes them: `client.id` or
/// `group.instance.id`, a dash and a UUID).
pub const MAX_MEMBER_ID_LEN: usize = 255;
/// Longest `group.instance.id` accepted (room for the coordinator's suffix).
pub const MAX_INSTANCE_ID_LEN: usize = 200;
/// Longest topic name (Kafka's own limit).
pub const MAX_TOPIC_NAME_LEN: usize = 249;
/// Most assignors a member offers.
pub const MAX_ASSIGNORS: usize = 4;

/// Longest coordinator host name kept.
const MAX_HOST_LEN: usize = 255;
/// Non-partition events waiting to be polled (the oldest are dropped).
const NOTICES: usize = 8;
/// How often a revoked partition's final commit is tried.
const REVOKED_COMMIT_ATTEMPTS: u32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not in a generation (or leaving one): JoinGroup is next.
    Unjoined,
    /// JoinGroup in flight.
    Joining,
    /// Leader: waiting for [`Member::assign`].
    Assigning,
    /// SyncGroup to send or in flight.
    Syncing,
    /// In a generation, heartbeating.
    Stable,
    /// Revoking everything, committing, then LeaveGroup.
    Leaving,
    /// Done.
    Left,
    /// Refused for good.
    Fatal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    FindCoordinator,
    JoinGroup,
    SyncGroup,
    Heartbeat,
    LeaveGroup,
    OffsetCommit,
    OffsetFetch,
}

impl Plan {
    fn api(self) -> ApiKey {
        match self {
            Plan::FindCoordinator => ApiKey::FindCoordinator,
            Plan::JoinGroup => ApiKey::JoinGroup,
            Plan::SyncGroup => ApiKey::SyncGroup,
            Plan::Heartbeat => ApiKey::Heartbeat,
            Plan::LeaveGroup => ApiKey::LeaveGroup,
            Plan::OffsetCommit => ApiKey::OffsetCommit,
            Plan::OffsetFetch => ApiKey::OffsetFetch,
        }
    }
}

/// A request in flight.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    id: u32,
    api: ApiKey,
    deadline: Duration,
    /// The generation when it was sent (late errors about an older one are stale).
    generation: i32,
}

#[derive(Clone, Debug)]
struct Coordinator {
    node_id: i32,
    host: String<MAX_HOST_LEN>,
    port: i32,
}

/// How a rejoin treats the current membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rejoin {
    /// Same member id and generation; eager members revoke everything.
    Keep,
    /// The generation is gone (`ILLEGAL_GENERATION`): partitions are lost.
    NewGeneration,
    /// The member id is gone (`UNKNOWN_MEMBER_ID`): partitions are lost.
    NewMember,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Notice {
    Joined { generation: i32, leader: bool },
    Error { api: ApiKey, error: ErrorCode },
    Left,
    Fatal { api: ApiKey, error: ErrorCode },
}

/// A classic consumer-group member, with room for `TOPICS` subscribed
/// topics and `PARTITIONS` assigned partitions (partitions being revoked
/// count until their final commit). Nothing allocates; a `Member<1, 16>`
/// takes 2.8 KiB (mostly the ids and names it keeps).
///
/// See the [module docs](self) for the protocol; the loop a transport runs:
///
/// ```
/// use core::time::Duration;
/// use microkafka_core::group::{Member, MemberConfig};
///
/// let mut member: Member<1, 16> =
///     Member::new(&MemberConfig::new("orders-app", &["orders"]), Duration::ZERO).unwrap();
/// let mut scratch = [0u8; 1024];
/// let now = Duration::from_millis(5);
/// let tx = member.poll_transmit(now, &mut scratch).unwrap().unwrap();
/// assert_eq!(tx.request.api(), microkafka_core::protocol::ApiKey::FindCoordinator);
/// // Send `tx.request` to `tx.destination`; feed the answer to
/// // `member.handle_response(now, tx.id, &received)`, or
/// // `member.handle_failure(now, tx.id)`; drain `member.poll_event()`;
/// // sleep until `member.poll_timeout()`, then `member.handle_timeout(now)`.
/// ```
#[derive(Debug)]
pub struct Member<const TOPICS: usize, const PARTITIONS: usize> {
    group_id: String<MAX_GROUP_ID_LEN>,
    instance_id: Option<String<MAX_INSTANCE_ID_LEN>>,
    topics: Vec<String<MAX_TOPIC_NAME_LEN>, TOPICS>,
    assignors: Vec<&'static str, MAX_ASSIGNORS>,
    rebalance: RebalanceProtocol,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    heartbeat_interval: Duration,
    commit_interval: Duration,
    retention_ms: i64,
    /// OffsetFetch asks for stable offsets (`require_stable`).
    require_stable: bool,
    backoff: Backoff,
    request_timeout: Duration,

    phase: Phase,
    member_id: String<MAX_MEMBER_ID_LEN>,
    /// The generation joined (-1: none).
    generation: i32,
    /// The generation the owned partitions were assigned in (-1: none).
    owned_generation: i32,
    leader: bool,
    /// Index in `assignors` of the protocol the coordinator chose.
    protocol: usize,
    join_reason: &'static str,

    coordinator: Option<Coordinator>,
    group_lane: Option<InFlight>,
    offsets_lane: Option<InFlight>,
    next_id: u32,

    find_at: Duration,
    find_attempts: u32,
    join_at: Duration,
    join_attempts: u32,
    offsets_at: Duration,
    offsets_attempts: u32,
    heartbeat_at: Duration,
    heartbeat_ok: Duration,
    commit_at: Duration,
    commit_requested: bool,

    slots: Vec<Slot, PARTITIONS>,
    notices: Deque<Notice, NOTICES>,
}

fn too_large(what: crate::Limit, size: usize, limit: usize) -> Error {
    Error::TooLarge { what, size, limit }
}

/// Errors no retry or rejoin can fix.
fn is_fatal(error: ErrorCode) -> bool {
    matches!(
        error,
        ErrorCode::FENCED_INSTANCE_ID
            | ErrorCode::INVALID_SESSION_TIMEOUT
            | ErrorCode::INCONSISTENT_GROUP_PROTOCOL
            | ErrorCode::GROUP_AUTHORIZATION_FAILED
            | ErrorCode::INVALID_GROUP_ID
            | ErrorCode::GROUP_MAX_SIZE_REACHED
            | ErrorCode::UNSUPPORTED_VERSION
    )
}

/// The coordinator moved or is not there: look it up again.
fn is_coordinator_gone(error: ErrorCode) -> bool {
    matches!(
        error,
        ErrorCode::NOT_COORDINATOR | ErrorCode::COORDINATOR_NOT_AVAILABLE
    )
}

/// Commit errors worth another try (the membership errors included: the
/// heartbeat settles the membership, a later commit uses the new generation).
fn commit_retriable(error: ErrorCode) -> bool {
    error.is_retriable()
        || matches!(
            error,
            ErrorCode::REBALANCE_IN_PROGRESS
                | ErrorCode::ILLEGAL_GENERATION
                | ErrorCode::UNKNOWN_MEMBER_ID
        )
}

impl<const TOPICS: usize, const PARTITIONS: usize> Member<TOPICS, PARTITIONS> {
    /// A member for `config`, not yet in the group; `now` is the caller's
    /// monotonic clock (any epoch, the same in every later call).
    ///
    /// Errors: an empty group id or topic list, no assignor, or a limit
    /// exceeded (ids, topic names, `TOPICS`, [`MAX_ASSIGNORS`]); a topic
    /// listed twice.
    pub fn new(config: &MemberConfig<'_>, now: Duration) -> Result<Self> {
        if config.group_id.is_empty() {
            return Err(Error::Malformed("the group id is empty"));
        }
        if config.topics.is_empty() {
            return Err(Error::Malformed("a group member needs topics"));
        }
        if config.assignors.is_empty() {
            return Err(Error::Malformed("a group member needs an assignor"));
        }
        let group_id = String::try_from(config.group_id).map_err(|_| {
            too_large(
                crate::Limit::GroupId,
                config.group_id.len(),
                MAX_GROUP_ID_LEN,
            )
        })?;
        let instance_id = match config.group_instance_id {
            None => None,
            Some("") => return Err(Error::Malformed("the group instance id is empty")),
            Some(i) => Some(String::try_from(i).map_err(|_| {
                too_large(crate::Limit::GroupInstanceId, i.len(), MAX_INSTANCE_ID_LEN)
            })?),
        };
        let mut topics = Vec::new();
        for (i, &t) in config.topics.iter().enumerate() {
            if t.is_empty() || config.topics[..i].contains(&t) {
                return Err(Error::Malformed("topics must be named once each"));
            }
            let name = String::try_from(t)
                .map_err(|_| too_large(crate::Limit::TopicName, t.len(), MAX_TOPIC_NAME_LEN))?;
            topics
                .push(name)
                .map_err(|_| too_large(crate::Limit::Topics, config.topics.len(), TOPICS))?;
        }
        let mut assignors = Vec::new();
        for a in config.assignors {
            assignors.push(a.name()).map_err(|_| {
                too_large(
                    crate::Limit::Assignors,
                    config.assignors.len(),
                    MAX_ASSIGNORS,
                )
            })?;
        }
        let cooperative = config
            .assignors
            .iter()
            .all(|a| a.protocol() == RebalanceProtocol::Cooperative);
        Ok(Member {
            group_id,
            instance_id,
            topics,
            assignors,
            rebalance: if cooperative {
                RebalanceProtocol::Cooperative
            } else {
                RebalanceProtocol::Eager
            },
            session_timeout: config.session_timeout,
            rebalance_timeout: config.rebalance_timeout,
            heartbeat_interval: config.heartbeat_interval,
            commit_interval: config.commit_interval,
            retention_ms: config
                .retention_time
                .map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            require_stable: config.require_stable,
            backoff: config.backoff,
            request_timeout: config.request_timeout,
            phase: Phase::Unjoined,
            member_id: String::new(),
            generation: -1,
            owned_generation: -1,
            leader: false,
            protocol: 0,
            join_reason: "joining",
            coordinator: None,
            group_lane: None,
            offsets_lane: None,
            next_id: 1,
            find_at: now,
            find_attempts: 0,
            join_at: now,
            join_attempts: 0,
            offsets_at: now,
            offsets_attempts: 0,
            heartbeat_at: now,
            heartbeat_ok: now,
            commit_at: now.saturating_add(config.commit_interval),
            commit_requested: false,
            slots: Vec::new(),
            notices: Deque::new(),
        })
    }

    // ---- what the member knows ----

    /// The group id.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// The member id the coordinator gave (empty before the first join).
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The subscribed topics.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.topics.iter().map(String::as_str)
    }

    /// The generation joined, if any.
    pub fn generation(&self) -> Option<i32> {
        (self.generation >= 0).then_some(self.generation)
    }

    /// True when this member computes the assignment of the current
    /// generation.
    pub fn is_leader(&self) -> bool {
        self.leader
    }

    /// The protocol (assignor) the coordinator chose for the current
    /// generation.
    pub fn protocol(&self) -> Option<&'static str> {
        (self.generation >= 0)
            .then(|| self.assignors.get(self.protocol).copied())
            .flatten()
    }

    /// Eager or cooperative: cooperative only when every configured
    /// assignor is.
    pub fn rebalance_protocol(&self) -> RebalanceProtocol {
        self.rebalance
    }

    /// True when the member is in a generation with its assignment and no
    /// rebalance is under way.
    pub fn is_stable(&self) -> bool {
        self.phase == Phase::Stable
    }

    /// True when the leader must call [`assign`](Self::assign).
    pub fn needs_assignment(&self) -> bool {
        self.phase == Phase::Assigning
    }

    /// True once the member left or was refused for good: it sends nothing more.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Left | Phase::Fatal)
    }

    /// The coordinator's node id, when known.
    pub fn coordinator(&self) -> Option<i32> {
        self.coordinator.as_ref().map(|c| c.node_id)
    }

    /// The partitions assigned in the current generation (announced or not yet).
    pub fn assignment(&self) -> impl Iterator<Item = (&str, i32)> {
        self.slots
            .iter()
            .filter(|s| s.owned())
            .map(|s| (self.topic_name(s.topic), s.partition))
    }

    /// The group's committed offset of a partition the member holds, as
    /// last read or written.
    pub fn committed(&self, topic: &str, partition: i32) -> Option<i64> {
        self.slot(topic, partition)
            .map(|s| s.committed)
            .filter(|&c| c >= 0)
    }

    /// The position staged for a partition, if any.
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        self.slot(topic, partition)
            .map(|s| s.position)
            .filter(|&p| p >= 0)
    }

    /// True when a staged position waits to be committed.
    pub fn has_uncommitted(&self) -> bool {
        self.slots.iter().any(|s| self.commit_candidate(s))
    }

    /// Room the scratch buffer of [`poll_transmit`](Self::poll_transmit)
    /// needs at most (the leader's [`assign`](Self::assign) needs more: the
    /// whole group's assignment).
    pub fn transmit_buf_len(&self) -> usize {
        let names: usize = self.topics.iter().map(|t| t.len() + 8).sum();
        let strings =
            2 * (MAX_GROUP_ID_LEN + MAX_MEMBER_ID_LEN + MAX_INSTANCE_ID_LEN + MAX_HOST_LEN);
        let protocols = self.assignors.len() + 1;
        strings + protocols * (64 + names + 4 * PARTITIONS) + 2 * names + 48 * PARTITIONS
    }

    fn topic_name(&self, topic: u16) -> &str {
        self.topics
            .get(usize::from(topic))
            .map_or("", String::as_str)
    }

    fn topic_index(&self, name: &str) -> Option<u16> {
        self.topics
            .iter()
            .position(|t| t == name)
            .and_then(|i| u16::try_from(i).ok())
    }

    fn slot(&self, topic: &str, partition: i32) -> Option<&Slot> {
        let t = self.topic_index(topic)?;
        self.slots
            .iter()
            .find(|s| s.topic == t && s.partition == partition && s.stage != Stage::Lost)
    }

    /// A staged position the next OffsetCommit carries.
    fn commit_candidate(&self, s: &Slot) -> bool {
        matches!(s.stage, Stage::Active | Stage::Revoking | Stage::Revoked)
            && s.dirty()
            && s.committing < 0
    }

    // ---- what the application asks ----

    /// Stages `offset` (the next offset to consume: the last processed
    /// message's offset plus one) for committing. Returns false when the
    /// partition is not the member's (never assigned, lost, or already
    /// committed after its revocation): committing it could overwrite the
    /// progress of its new owner.
    pub fn stage(&mut self, topic: &str, partition: i32, offset: i64) -> bool {
        let Some(t) = self.topic_index(topic) else {
            return false;
        };
        // A revoked partition takes positions until its final commit is
        // answered, even while an earlier commit is in flight (a periodic
        // one, sent before the revocation): what the application read
        // since then is committed after it (see `poll_event`), not lost
        // to be read again by the partition's next owner.
        let slot = self.slots.iter_mut().find(|s| {
            s.topic == t
                && s.partition == partition
                && match s.stage {
                    Stage::Active | Stage::Revoking => true,
                    Stage::Revoked => s.result.is_none(),
                    _ => false,
                }
        });
        match slot {
            Some(s) if offset >= 0 => {
                s.position = offset;
                true
            }
            _ => false,
        }
    }

    /// Commits the staged positions as soon as possible (and retries
    /// retriable failures until they are committed).
    pub fn commit(&mut self, now: Duration) {
        self.commit_requested = true;
        self.offsets_at = self.offsets_at.min(now);
    }

    /// Rejoins the group, e.g. because a subscribed topic gained partitions
    /// (the leader assigns what metadata says when it assigns), or because
    /// the leader cannot compute an assignment (no metadata): the group
    /// re-forms without waiting for the coordinator's rebalance timeout.
    pub fn rejoin(&mut self, now: Duration) {
        if matches!(self.phase, Phase::Stable | Phase::Assigning) {
            self.rejoin_with(now, Rejoin::Keep, "the application asked to rejoin", false);
        }
    }

    /// Leaves the group: every partition is revoked (poll the `Revoked`
    /// events and stage final positions), staged positions are committed,
    /// then LeaveGroup is sent (not by static members, whose partitions
    /// wait for them through the session timeout). [`Event::Left`] ends it.
    pub fn leave(&mut self, now: Duration) {
        if matches!(self.phase, Phase::Leaving | Phase::Left | Phase::Fatal) {
            return;
        }
        self.group_lane = None;
        self.revoke_owned();
        self.phase = Phase::Leaving;
        self.offsets_at = self.offsets_at.min(now);
    }

    // ---- what to send ----

    /// The next request to send, if one is due: strings and nested arrays
    /// are written into `buf` (see [`transmit_buf_len`](Self::transmit_buf_len)),
    /// which the returned request borrows. Call it until it returns `None`
    /// after every other call.
    ///
    /// Errors: [`Error::BufferTooSmall`] (nothing changed: call again with
    /// a larger buffer).
    pub fn poll_transmit<'b>(
        &mut self,
        now: Duration,
        buf: &'b mut [u8],
    ) -> Result<Option<Transmit<'b>>> {
        self.tidy();
        let Some(plan) = self.plan(now) else {
            return Ok(None);
        };
        let id = RequestId(self.next_id);
        let mut arena = Arena::new(buf);
        let tx = match plan {
            Plan::SyncGroup => self.build_sync(&mut arena, id, Array::default())?,
            _ => self.build(&mut arena, plan, id)?,
        };
        self.start(now, plan, id);
        Ok(Some(tx))
    }

    /// The leader's SyncGroup: runs `assignor` (the one named by
    /// [`LeaderJoin::protocol`]) over `members` (from
    /// [`LeaderJoin::members`]) and `topics` (every topic they subscribe
    /// to with its partition count, sorted by name; topics left out are not
    /// assigned), and writes the assignment into `buf`. `scratch` needs
    /// [`leader_scratch_len`] words.
    pub fn assign<'b>(
        &mut self,
        now: Duration,
        members: &[GroupMember<'_>],
        topics: &[TopicPartitions<'_>],
        assignor: &dyn Assignor,
        scratch: &mut [u32],
        buf: &'b mut [u8],
    ) -> Result<Transmit<'b>> {
        if self.phase != Phase::Assigning || self.group_lane.is_some() {
            return Err(Error::Malformed("the member is not leading a rebalance"));
        }
        if self.assignors.get(self.protocol) != Some(&assignor.name()) {
            return Err(Error::Malformed(
                "the assignor is not the protocol the coordinator chose",
            ));
        }
        let id = RequestId(self.next_id);
        let mut arena = Arena::new(buf);
        let assignments =
            leader::encode_assignments(&mut arena, members, topics, assignor, scratch)?;
        let tx = self.build_sync(&mut arena, id, assignments)?;
        self.phase = Phase::Syncing;
        self.start(now, Plan::SyncGroup, id);
        Ok(tx)
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) and
    /// [`poll_transmit`](Self::poll_transmit) next (`None`: only after a
    /// response, a failure or an application call). A time already past
    /// means now.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let mut at: Option<Duration> = None;
        let mut consider = |t: Duration| at = Some(at.map_or(t, |a| a.min(t)));
        for lane in [self.group_lane, self.offsets_lane].into_iter().flatten() {
            consider(lane.deadline);
        }
        if self.group_lane.is_none() {
            match (self.phase, &self.coordinator) {
                (Phase::Left | Phase::Fatal | Phase::Assigning | Phase::Leaving, _) => {}
                (_, None) => consider(self.find_at),
                (Phase::Unjoined, Some(_)) => {
                    if self.cleanup_done() {
                        consider(self.join_at);
                    }
                    if self.generation >= 0 {
                        consider(self.heartbeat_at);
                    }
                }
                (Phase::Syncing, Some(_)) => consider(Duration::ZERO),
                (Phase::Stable, Some(_)) => consider(self.heartbeat_at),
                (Phase::Joining, Some(_)) => {}
            }
        }
        if self.phase == Phase::Stable && self.coordinator.is_some() {
            consider(self.heartbeat_ok.saturating_add(self.session_timeout));
        }
        if self.offsets_lane.is_none() && self.coordinator.is_some() && !self.is_closed() {
            if self.slots.iter().any(|s| {
                (s.stage == Stage::Fetching && !s.fetching)
                    || (s.stage == Stage::Revoked && self.commit_candidate(s))
            }) {
                consider(self.offsets_at);
            }
            if self.has_uncommitted() {
                if self.commit_requested {
                    consider(self.offsets_at);
                } else if !self.commit_interval.is_zero() {
                    consider(self.commit_at.max(self.offsets_at));
                }
            }
        }
        at
    }

    /// Applies the deadlines that passed: requests unanswered for too long
    /// fail, and a stable member without a successful heartbeat for the
    /// session timeout looks its coordinator up again.
    pub fn handle_timeout(&mut self, now: Duration) {
        if let Some(f) = self.group_lane.filter(|f| now >= f.deadline) {
            self.group_lane = None;
            self.on_failure(now, f);
        }
        if let Some(f) = self.offsets_lane.filter(|f| now >= f.deadline) {
            self.offsets_lane = None;
            self.on_failure(now, f);
        }
        if self.phase == Phase::Stable
            && self.coordinator.is_some()
            && now >= self.heartbeat_ok.saturating_add(self.session_timeout)
        {
            self.heartbeat_ok = now;
            self.coordinator_lost(now, ApiKey::Heartbeat, ErrorCode::REQUEST_TIMED_OUT);
        }
    }

    // ---- what came back ----

    /// Applies the answer to request `id`. Answers to requests the member
    /// gave up on are ignored.
    ///
    /// Errors: the answer does not decode (or answers another API): the
    /// request counts as failed; close the connection it came on. An
    /// assignment larger than `PARTITIONS`: the member leaves the group
    /// (its partitions go to members with room).
    pub fn handle_response(
        &mut self,
        now: Duration,
        id: RequestId,
        received: &Received<'_>,
    ) -> Result<()> {
        let Some(f) = self.take_lane(id) else {
            return Ok(());
        };
        if received.api != f.api {
            self.on_failure(now, f);
            return Err(Error::Malformed("the answer is to another API"));
        }
        let outcome = match f.api {
            ApiKey::FindCoordinator => received
                .decode()
                .and_then(|r| self.on_find_coordinator(now, received.version, &r)),
            ApiKey::JoinGroup => received.decode().map(|r| self.on_join(now, &r)),
            ApiKey::SyncGroup => received.decode().and_then(|r| self.on_sync(now, &r)),
            ApiKey::Heartbeat => received.decode().map(|r| self.on_heartbeat(now, f, &r)),
            ApiKey::LeaveGroup => received
                .decode::<LeaveGroupResponse<'_>>()
                .map(|_| self.left()),
            ApiKey::OffsetCommit => received.decode().map(|r| self.on_commit(now, &r)),
            ApiKey::OffsetFetch => received
                .decode()
                .map(|r| self.on_offset_fetch(now, received.version, &r)),
            _ => Err(Error::Malformed("not a group API")),
        };
        match outcome {
            Err(e @ Error::TooLarge { .. }) if f.api == ApiKey::SyncGroup => {
                self.leave(now);
                Err(e)
            }
            Err(e) => {
                self.on_failure(now, f);
                Err(e)
            }
            Ok(()) => Ok(()),
        }
    }

    /// Request `id` got no answer (connection lost, timed out).
    pub fn handle_failure(&mut self, now: Duration, id: RequestId) {
        if let Some(f) = self.take_lane(id) {
            self.on_failure(now, f);
        }
    }

    /// The next thing the application must know (see [`Event`] for the
    /// order). Topic names borrow the member.
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        if let Some(i) = self.slots.iter().position(|s| s.stage == Stage::Lost) {
            let s = self.slots.swap_remove(i);
            return Some(Event::Lost {
                topic: self.topic_name(s.topic),
                partition: s.partition,
            });
        }
        if let Some(i) = self.slots.iter().position(|s| s.stage == Stage::Revoking) {
            self.slots[i].stage = Stage::Revoked;
            let s = self.slots[i];
            return Some(Event::Revoked {
                topic: self.topic_name(s.topic),
                partition: s.partition,
            });
        }
        if let Some(i) = self.slots.iter().position(|s| s.result.is_some()) {
            let s = self.slots[i];
            // A revoked partition goes once its last position is committed
            // (or its commit given up); a commit that succeeded behind the
            // position (sent before the application staged more) is not
            // the final one: the partition stays for the next.
            let superseded = s.result.is_some_and(|(_, e)| e.is_ok()) && s.dirty();
            if s.stage == Stage::Revoked && !superseded {
                self.slots.swap_remove(i);
            } else {
                self.slots[i].result = None;
            }
            let (offset, error) = s.result.unwrap_or_default();
            return Some(Event::Committed {
                topic: self.topic_name(s.topic),
                partition: s.partition,
                offset,
                error,
            });
        }
        if let Some(n) = self.notices.pop_front() {
            return Some(match n {
                Notice::Joined { generation, leader } => Event::Joined { generation, leader },
                Notice::Error { api, error } => Event::Error { api, error },
                Notice::Left => Event::Left,
                Notice::Fatal { api, error } => Event::Fatal { api, error },
            });
        }
        if let Some(i) = self.slots.iter().position(|s| s.stage == Stage::Ready) {
            self.slots[i].stage = Stage::Active;
            let s = self.slots[i];
            return Some(Event::Assigned {
                topic: self.topic_name(s.topic),
                partition: s.partition,
                committed: (s.committed >= 0).then_some(s.committed),
            });
        }
        None
    }

    // ---- internals: deciding ----

    fn notice(&mut self, n: Notice) {
        if self.notices.is_full() {
            self.notices.pop_front();
        }
        let _ = self.notices.push_back(n);
    }

    fn take_lane(&mut self, id: RequestId) -> Option<InFlight> {
        if self.group_lane.is_some_and(|f| f.id == id.0) {
            return self.group_lane.take();
        }
        if self.offsets_lane.is_some_and(|f| f.id == id.0) {
            return self.offsets_lane.take();
        }
        None
    }

    /// No revocation or loss waits for the application or a final commit.
    fn cleanup_done(&self) -> bool {
        !self.slots.iter().any(Slot::holds_rejoin)
    }

    fn is_member(&self) -> bool {
        self.generation >= 0 && !self.member_id.is_empty()
    }

    /// Drops revoked partitions with nothing (more) to commit, and ends a
    /// leave that cannot send LeaveGroup.
    fn tidy(&mut self) {
        let can_commit = self.is_member()
            && (self.coordinator.is_some() || self.phase != Phase::Leaving)
            && !self.is_closed();
        self.slots.retain(|s| {
            !(s.stage == Stage::Revoked
                && s.result.is_none()
                && s.committing < 0
                && (!s.dirty() || !can_commit))
        });
        if self.phase == Phase::Leaving
            && self.group_lane.is_none()
            && self.offsets_lane.is_none()
            && self.cleanup_done()
            && !self.can_send_leave()
        {
            self.left();
        }
    }

    fn can_send_leave(&self) -> bool {
        self.coordinator.is_some() && !self.member_id.is_empty() && self.instance_id.is_none()
    }

    fn plan(&self, now: Duration) -> Option<Plan> {
        if self.group_lane.is_none() {
            if let Some(plan) = self.plan_membership(now) {
                return Some(plan);
            }
        }
        if self.offsets_lane.is_none() {
            return self.plan_offsets(now);
        }
        None
    }

    fn plan_membership(&self, now: Duration) -> Option<Plan> {
        match self.phase {
            Phase::Left | Phase::Fatal | Phase::Assigning => return None,
            Phase::Leaving => {
                let ready = self.cleanup_done() && self.offsets_lane.is_none();
                return (ready && self.can_send_leave()).then_some(Plan::LeaveGroup);
            }
            _ => {}
        }
        if self.coordinator.is_none() {
            return (now >= self.find_at).then_some(Plan::FindCoordinator);
        }
        match self.phase {
            Phase::Unjoined if now >= self.join_at && self.cleanup_done() => Some(Plan::JoinGroup),
            // Still a member while revocations finish: keep the session alive.
            Phase::Unjoined | Phase::Stable if self.is_member() && now >= self.heartbeat_at => {
                Some(Plan::Heartbeat)
            }
            Phase::Syncing => Some(Plan::SyncGroup),
            _ => None,
        }
    }

    fn plan_offsets(&self, now: Duration) -> Option<Plan> {
        if self.coordinator.is_none() || self.is_closed() || now < self.offsets_at {
            return None;
        }
        let member = self.is_member();
        let candidates = |revoked_only: bool| {
            self.slots
                .iter()
                .any(|s| self.commit_candidate(s) && (!revoked_only || s.stage == Stage::Revoked))
        };
        if member && candidates(true) {
            return Some(Plan::OffsetCommit);
        }
        if self
            .slots
            .iter()
            .any(|s| s.stage == Stage::Fetching && !s.fetching)
        {
            return Some(Plan::OffsetFetch);
        }
        let due =
            self.commit_requested || (!self.commit_interval.is_zero() && now >= self.commit_at);
        (member && due && candidates(false)).then_some(Plan::OffsetCommit)
    }

    /// Records that `plan` was sent as `id`.
    fn start(&mut self, now: Duration, plan: Plan, id: RequestId) {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let wait = match plan {
            Plan::JoinGroup | Plan::SyncGroup => {
                self.rebalance_timeout.saturating_add(self.request_timeout)
            }
            _ => self.request_timeout,
        };
        let f = InFlight {
            id: id.0,
            api: plan.api(),
            deadline: now.saturating_add(wait),
            generation: self.generation,
        };
        match plan {
            Plan::OffsetCommit => {
                for i in 0..self.slots.len() {
                    if self.commit_candidate(&self.slots[i]) {
                        self.slots[i].committing = self.slots[i].position;
                    }
                }
                self.commit_at = now.saturating_add(self.commit_interval);
                self.offsets_lane = Some(f);
            }
            Plan::OffsetFetch => {
                for s in self.slots.iter_mut().filter(|s| s.stage == Stage::Fetching) {
                    s.fetching = true;
                }
                self.offsets_lane = Some(f);
            }
            Plan::JoinGroup => {
                self.phase = Phase::Joining;
                self.group_lane = Some(f);
            }
            Plan::Heartbeat => {
                self.heartbeat_at = now.saturating_add(self.heartbeat_interval);
                self.group_lane = Some(f);
            }
            Plan::FindCoordinator | Plan::SyncGroup | Plan::LeaveGroup => self.group_lane = Some(f),
        }
    }

    // ---- internals: membership changes ----

    /// Eager revocation: announced partitions are revoked, unannounced ones dropped.
    fn revoke_owned(&mut self) {
        self.slots
            .retain(|s| !matches!(s.stage, Stage::Fetching | Stage::Ready));
        for s in self.slots.iter_mut().filter(|s| s.stage == Stage::Active) {
            s.stage = Stage::Revoking;
        }
    }

    /// The membership ended: announced partitions are lost, nothing is committed.
    fn lose_owned(&mut self) {
        self.slots
            .retain(|s| !matches!(s.stage, Stage::Fetching | Stage::Ready));
        for s in self.slots.iter_mut() {
            match s.stage {
                Stage::Active | Stage::Revoking => s.stage = Stage::Lost,
                // Its final commit cannot succeed any more.
                Stage::Revoked => s.position = s.committed,
                _ => {}
            }
        }
    }

    fn rejoin_with(&mut self, now: Duration, how: Rejoin, reason: &'static str, delay: bool) {
        match how {
            Rejoin::Keep => {}
            Rejoin::NewGeneration | Rejoin::NewMember => {
                self.lose_owned();
                self.generation = -1;
                self.owned_generation = -1;
                if how == Rejoin::NewMember {
                    self.member_id.clear();
                }
            }
        }
        self.leader = false;
        if matches!(self.phase, Phase::Leaving | Phase::Left | Phase::Fatal) {
            return;
        }
        if self.rebalance == RebalanceProtocol::Eager {
            // Nothing owned survives an eager rejoin, whatever asked for it.
            self.revoke_owned();
        }
        self.phase = Phase::Unjoined;
        self.join_reason = reason;
        self.join_at = if delay {
            self.join_attempts = self.join_attempts.saturating_add(1);
            now.saturating_add(self.backoff.delay(self.join_attempts))
        } else {
            now
        };
    }

    fn fatal(&mut self, api: ApiKey, error: ErrorCode) {
        self.lose_owned();
        self.group_lane = None;
        self.offsets_lane = None;
        self.leader = false;
        self.phase = Phase::Fatal;
        self.notice(Notice::Fatal { api, error });
    }

    fn left(&mut self) {
        if self.phase != Phase::Left {
            self.phase = Phase::Left;
            self.group_lane = None;
            self.notice(Notice::Left);
        }
    }

    /// An offsets request failed as a whole: back off, and after a few
    /// tries give up the final commits of revoked partitions (a rejoin waits
    /// for them).
    fn offsets_failed(&mut self, now: Duration, error: ErrorCode) {
        self.offsets_attempts = self.offsets_attempts.saturating_add(1);
        self.offsets_at = now.saturating_add(self.backoff.delay(self.offsets_attempts));
        if self.offsets_attempts >= REVOKED_COMMIT_ATTEMPTS {
            for s in self.slots.iter_mut() {
                if s.stage == Stage::Revoked && s.committing >= 0 {
                    s.result = Some((s.committing, error));
                }
            }
        }
    }

    /// Requests in the offsets lane are given up: clear their marks.
    fn abandon_offsets(&mut self) {
        self.offsets_lane = None;
        for s in self.slots.iter_mut() {
            s.committing = -1;
            s.fetching = false;
        }
    }

    /// The coordinator moved or stopped answering: look it up again; the
    /// membership (member id, generation, partitions) is kept.
    fn coordinator_lost(&mut self, now: Duration, api: ApiKey, error: ErrorCode) {
        self.coordinator = None;
        self.find_at = now;
        self.notice(Notice::Error { api, error });
        if let Some(f) = self
            .group_lane
            .take_if(|f| f.api != ApiKey::FindCoordinator)
        {
            if f.api == ApiKey::LeaveGroup {
                self.left();
            }
        }
        self.abandon_offsets();
        match self.phase {
            Phase::Joining | Phase::Syncing => {
                self.rejoin_with(now, Rejoin::Keep, "the coordinator moved", false)
            }
            Phase::Leaving => self.tidy(),
            _ => {}
        }
    }

    fn on_failure(&mut self, now: Duration, f: InFlight) {
        match f.api {
            ApiKey::FindCoordinator => {
                self.find_attempts = self.find_attempts.saturating_add(1);
                self.find_at = now.saturating_add(self.backoff.delay(self.find_attempts));
                self.notice(Notice::Error {
                    api: f.api,
                    error: ErrorCode::NETWORK_EXCEPTION,
                });
            }
            ApiKey::LeaveGroup => self.left(),
            ApiKey::OffsetCommit | ApiKey::OffsetFetch => {
                self.offsets_failed(now, ErrorCode::NETWORK_EXCEPTION);
                self.coordinator_lost(now, f.api, ErrorCode::NETWORK_EXCEPTION);
            }
            api => {
                if matches!(api, ApiKey::JoinGroup | ApiKey::SyncGroup) {
                    // With a backoff: a coordinator that keeps failing (or
                    // answering what cannot be read) is found again at once
                    // but not joined at every round trip.
                    let reason = "the coordinator did not answer";
                    self.rejoin_with(now, Rejoin::Keep, reason, true);
                }
                self.coordinator_lost(now, api, ErrorCode::NETWORK_EXCEPTION);
            }
        }
    }
}
