//! Joining, syncing, heartbeating and leaving: the classic rebalance protocol.

use std::time::{Duration, Instant};

use microkafka_core::ErrorCode;

use super::{Group, GroupLimits, GroupReply, GroupState, Groups, JoinResult, Member, SyncResult};
use crate::cluster::ReplyTo;
use crate::ids::Ids;

/// A JoinGroup, as the coordinator needs it.
#[derive(Clone, Debug)]
pub(crate) struct JoinRequest<'a> {
    pub(crate) group_id: &'a str,
    pub(crate) member_id: &'a str,
    pub(crate) instance_id: Option<&'a str>,
    pub(crate) session_timeout_ms: i32,
    /// -1 (v0) means "the session timeout".
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) protocol_type: &'a str,
    pub(crate) protocols: Vec<(&'a str, &'a [u8])>,
    pub(crate) client_id: &'a str,
    pub(crate) client_host: &'a str,
    /// JoinGroup v4+: an unknown member first gets `MEMBER_ID_REQUIRED`.
    pub(crate) require_known_member_id: bool,
    /// JoinGroup v9+: the leader may be told to skip the assignment.
    pub(crate) supports_skip_assignment: bool,
}

/// A SyncGroup, as the coordinator needs it.
#[derive(Clone, Debug)]
pub(crate) struct SyncRequest<'a> {
    pub(crate) group_id: &'a str,
    pub(crate) generation: i32,
    pub(crate) member_id: &'a str,
    pub(crate) instance_id: Option<&'a str>,
    pub(crate) protocol_type: Option<&'a str>,
    pub(crate) protocol_name: Option<&'a str>,
    /// The leader's assignment per member (empty from followers).
    pub(crate) assignments: Vec<(&'a str, &'a [u8])>,
}

/// One member leaving (LeaveGroup v3+ batches them).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeaveMember<'a> {
    pub(crate) member_id: &'a str,
    pub(crate) instance_id: Option<&'a str>,
}

/// A group being worked on, with what its rules need around it.
pub(super) struct Cx<'g> {
    pub(super) group: &'g mut Group,
    pub(super) limits: GroupLimits,
    pub(super) replies: &'g mut Vec<(ReplyTo, GroupReply)>,
    pub(super) ids: &'g mut Ids,
    pub(super) now: Instant,
}

fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl Groups {
    /// The group to work on, created if `create` and unknown:
    /// `UNKNOWN_MEMBER_ID` when unknown and not created,
    /// `COORDINATOR_NOT_AVAILABLE` when the coordinator holds all the groups
    /// it may (see [`crate::Limits::max_groups`]).
    pub(super) fn cx<'g>(
        &'g mut self,
        group_id: &str,
        ids: &'g mut Ids,
        now: Instant,
        create: bool,
    ) -> Result<Cx<'g>, ErrorCode> {
        if create && !self.groups.contains_key(group_id) {
            if !self.make_room(now) {
                return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
            }
            self.groups
                .insert(group_id.to_owned(), Group::new(group_id, now));
        }
        let group = self
            .groups
            .get_mut(group_id)
            .ok_or(ErrorCode::UNKNOWN_MEMBER_ID)?;
        group.last_used = now;
        Ok(Cx {
            group,
            limits: self.limits,
            replies: &mut self.replies,
            ids,
            now,
        })
    }

    /// Handles a JoinGroup. The answer is queued for `reply`, now or when the
    /// rebalance completes.
    pub(crate) fn join(
        &mut self,
        req: &JoinRequest<'_>,
        reply: ReplyTo,
        ids: &mut Ids,
        now: Instant,
    ) {
        let fail = |groups: &mut Groups, error| {
            groups.replies.push((
                reply,
                GroupReply::Join(JoinResult::error(error, req.member_id)),
            ));
        };
        if req.group_id.is_empty() {
            return fail(self, ErrorCode::INVALID_GROUP_ID);
        }
        let session = millis(req.session_timeout_ms);
        if req.session_timeout_ms < 0
            || session < self.limits.min_session_timeout
            || session > self.limits.max_session_timeout
        {
            return fail(self, ErrorCode::INVALID_SESSION_TIMEOUT);
        }
        if req.protocol_type.is_empty() || req.protocols.is_empty() {
            return fail(self, ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
        }
        let metadata: usize = req.protocols.iter().map(|(n, m)| n.len() + m.len()).sum();
        if metadata > self.limits.max_metadata_bytes {
            return fail(self, ErrorCode::INVALID_REQUEST);
        }
        // A known member id for a group that does not exist is stale.
        let create = req.member_id.is_empty();
        match self.cx(req.group_id, ids, now, create) {
            Ok(mut cx) => cx.join(req, reply),
            Err(error) => fail(self, error),
        }
    }

    /// Handles a SyncGroup; the answer is queued for `reply`.
    pub(crate) fn sync(
        &mut self,
        req: &SyncRequest<'_>,
        reply: ReplyTo,
        ids: &mut Ids,
        now: Instant,
    ) {
        let oversized = req
            .assignments
            .iter()
            .any(|(_, a)| a.len() > self.limits.max_metadata_bytes);
        if oversized {
            let error = SyncResult::error(ErrorCode::INVALID_REQUEST);
            return self.replies.push((reply, GroupReply::Sync(error)));
        }
        match self.cx(req.group_id, ids, now, false) {
            Ok(mut cx) => cx.sync(req, reply),
            Err(error) => self
                .replies
                .push((reply, GroupReply::Sync(SyncResult::error(error)))),
        }
    }

    /// Handles a Heartbeat.
    pub(crate) fn heartbeat(
        &mut self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        ids: &mut Ids,
        now: Instant,
    ) -> ErrorCode {
        match self.cx(group_id, ids, now, false) {
            Ok(mut cx) => cx.heartbeat(generation, member_id, instance_id),
            Err(error) => error,
        }
    }

    /// Handles a LeaveGroup: one error per member, in order. Kafka answers
    /// each member of an unknown group `UNKNOWN_MEMBER_ID`, the request
    /// itself without error (from v3; before, the one member's error is the
    /// request's).
    pub(crate) fn leave(
        &mut self,
        group_id: &str,
        members: &[LeaveMember<'_>],
        ids: &mut Ids,
        now: Instant,
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        match self.cx(group_id, ids, now, false) {
            Ok(mut cx) => Ok(members.iter().map(|m| cx.leave(m)).collect()),
            Err(ErrorCode::UNKNOWN_MEMBER_ID) => {
                Ok(vec![ErrorCode::UNKNOWN_MEMBER_ID; members.len()])
            }
            Err(error) => Err(error),
        }
    }
}

impl Cx<'_> {
    fn reply_join(&mut self, to: ReplyTo, result: JoinResult) {
        self.replies.push((to, GroupReply::Join(result)));
    }

    fn reply_sync(&mut self, to: ReplyTo, result: SyncResult) {
        self.replies.push((to, GroupReply::Sync(result)));
    }

    /// Fenced when `instance_id` is registered to another member id.
    pub(super) fn fenced(&self, member_id: &str, instance_id: Option<&str>) -> bool {
        instance_id
            .and_then(|i| self.group.statics.get(i))
            .is_some_and(|owner| owner != member_id)
    }

    fn join(&mut self, req: &JoinRequest<'_>, reply: ReplyTo) {
        let g = &*self.group;
        // A non-empty group only admits members speaking its protocol type
        // and sharing at least one protocol with every current member.
        if !g.members.is_empty() || g.state != GroupState::Empty {
            let same_type = g.protocol_type.as_deref() == Some(req.protocol_type);
            let shared = req.protocols.iter().any(|(name, _)| {
                g.members
                    .iter()
                    .filter(|m| m.id != req.member_id)
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            });
            if !same_type || !shared {
                let result =
                    JoinResult::error(ErrorCode::INCONSISTENT_GROUP_PROTOCOL, req.member_id);
                return self.reply_join(reply, result);
            }
        }
        if req.member_id.is_empty() {
            self.join_new(req, reply);
        } else {
            self.join_known(req, reply);
        }
    }

    fn new_member(&self, id: String, req: &JoinRequest<'_>, reply: ReplyTo) -> Member {
        let session = millis(req.session_timeout_ms);
        Member {
            id,
            instance_id: req.instance_id.map(str::to_owned),
            client_id: req.client_id.to_owned(),
            client_host: req.client_host.to_owned(),
            session_timeout: session,
            rebalance_timeout: if req.rebalance_timeout_ms < 0 {
                session
            } else {
                millis(req.rebalance_timeout_ms)
            },
            protocol_type: req.protocol_type.to_owned(),
            protocols: req
                .protocols
                .iter()
                .map(|(n, m)| ((*n).to_owned(), m.to_vec()))
                .collect(),
            assignment: Vec::new(),
            awaiting_join: Some(reply),
            awaiting_sync: None,
            supports_skip_assignment: req.supports_skip_assignment,
            heartbeat_deadline: self.now + session,
        }
    }

    /// Refreshes a known member's metadata from its JoinGroup; true if its
    /// protocols changed (which needs a rebalance).
    fn update_member(member: &mut Member, req: &JoinRequest<'_>) -> bool {
        let changed = member.protocols.len() != req.protocols.len()
            || member
                .protocols
                .iter()
                .zip(&req.protocols)
                .any(|((n, m), (rn, rm))| n != rn || m.as_slice() != *rm);
        if changed {
            member.protocols = req
                .protocols
                .iter()
                .map(|(n, m)| ((*n).to_owned(), m.to_vec()))
                .collect();
        }
        member.client_id = req.client_id.to_owned();
        member.session_timeout = millis(req.session_timeout_ms);
        if req.rebalance_timeout_ms >= 0 {
            member.rebalance_timeout = millis(req.rebalance_timeout_ms);
        }
        member.supports_skip_assignment = req.supports_skip_assignment;
        changed
    }

    fn join_new(&mut self, req: &JoinRequest<'_>, reply: ReplyTo) {
        let replacing = req
            .instance_id
            .is_some_and(|i| self.group.statics.contains_key(i));
        let size = self.group.members.len() + self.group.pending.len();
        if !replacing && size >= self.limits.max_members {
            // Kafka's group.max.size.
            let result = JoinResult::error(ErrorCode::GROUP_MAX_SIZE_REACHED, req.member_id);
            return self.reply_join(reply, result);
        }
        if let Some(instance) = req.instance_id {
            let id = self.ids.member_id(instance);
            if let Some(old) = self.group.statics.get(instance).cloned() {
                return self.replace_static(&old, id, req, reply);
            }
            // A static member joins in one step: its identity is the instance id.
            self.group.statics.insert(instance.to_owned(), id.clone());
            return self.add_and_rebalance(id, req, reply);
        }
        let id = self.ids.member_id(req.client_id);
        if req.require_known_member_id {
            // KIP-394: the client must come back with this id, so a client that
            // dies between the two steps leaves no member behind.
            let expires = self.now + millis(req.session_timeout_ms);
            self.group.pending.insert(id.clone(), expires);
            let result = JoinResult::error(ErrorCode::MEMBER_ID_REQUIRED, &id);
            return self.reply_join(reply, result);
        }
        self.add_and_rebalance(id, req, reply);
    }

    fn join_known(&mut self, req: &JoinRequest<'_>, reply: ReplyTo) {
        if self.group.pending.remove(req.member_id).is_some() {
            return self.add_and_rebalance(req.member_id.to_owned(), req, reply);
        }
        if self.fenced(req.member_id, req.instance_id) {
            let result = JoinResult::error(ErrorCode::FENCED_INSTANCE_ID, req.member_id);
            return self.reply_join(reply, result);
        }
        let now = self.now;
        let state = self.group.state;
        let is_leader = self.group.is_leader(req.member_id);
        let Some(member) = self.group.member_mut(req.member_id) else {
            let result = JoinResult::error(ErrorCode::UNKNOWN_MEMBER_ID, req.member_id);
            return self.reply_join(reply, result);
        };
        let changed = Self::update_member(member, req);
        member.heartbeat_deadline = now + member.session_timeout;
        match state {
            GroupState::PreparingRebalance => {
                member.awaiting_join = Some(reply);
                self.maybe_complete_join();
            }
            GroupState::CompletingRebalance if !changed => {
                // A retried JoinGroup of this generation: the same answer again.
                let result = self.join_result(req.member_id);
                self.reply_join(reply, result);
            }
            GroupState::Stable if !changed && !is_leader => {
                let result = self.join_result(req.member_id);
                self.reply_join(reply, result);
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                // A changed member, or the leader asking to reassign.
                member.awaiting_join = Some(reply);
                self.prepare_rebalance();
            }
            GroupState::Empty => {
                let result = JoinResult::error(ErrorCode::UNKNOWN_MEMBER_ID, req.member_id);
                self.reply_join(reply, result);
            }
        }
    }

    /// A static member restarted (unknown member id, known instance id): the
    /// new member id takes the old one's place, and the old one is fenced.
    fn replace_static(&mut self, old: &str, id: String, req: &JoinRequest<'_>, reply: ReplyTo) {
        let now = self.now;
        let Some(member) = self.group.member_mut(old) else {
            // Registered but gone (expired): join as new.
            self.group
                .statics
                .insert(req.instance_id.unwrap_or_default().to_owned(), id.clone());
            return self.add_and_rebalance(id, req, reply);
        };
        let stale_join = member.awaiting_join.take();
        let stale_sync = member.awaiting_sync.take();
        member.id = id.clone();
        let changed = Self::update_member(member, req);
        member.heartbeat_deadline = now + member.session_timeout;
        let supports_skip = member.supports_skip_assignment;
        if let Some(to) = stale_join {
            self.reply_join(to, JoinResult::error(ErrorCode::FENCED_INSTANCE_ID, old));
        }
        if let Some(to) = stale_sync {
            self.reply_sync(to, SyncResult::error(ErrorCode::FENCED_INSTANCE_ID));
        }
        let was_leader = self.group.is_leader(old);
        if was_leader {
            self.group.leader = Some(id.clone());
        }
        self.group
            .statics
            .insert(req.instance_id.unwrap_or_default().to_owned(), id.clone());
        match self.group.state {
            GroupState::Stable if !changed => {
                // Nothing to reassign: answer at once with the current
                // generation. A leader that cannot skip the assignment is told
                // the old leader id, so it does not recompute an assignment a
                // stable group would never distribute (as Kafka does).
                let mut result = self.join_result(&id);
                result.members.clear();
                if was_leader {
                    if supports_skip {
                        result = self.join_result(&id);
                        result.skip_assignment = true;
                    } else {
                        result.leader = old.to_owned();
                    }
                }
                self.reply_join(reply, result);
            }
            GroupState::PreparingRebalance => {
                if let Some(m) = self.group.member_mut(&id) {
                    m.awaiting_join = Some(reply);
                }
                self.maybe_complete_join();
            }
            _ => {
                if let Some(m) = self.group.member_mut(&id) {
                    m.awaiting_join = Some(reply);
                }
                self.prepare_rebalance();
            }
        }
    }

    fn add_and_rebalance(&mut self, id: String, req: &JoinRequest<'_>, reply: ReplyTo) {
        let member = self.new_member(id, req, reply);
        if self.group.members.is_empty() {
            self.group.protocol_type = Some(member.protocol_type.clone());
        }
        self.group.members.push(member);
        if self.group.state == GroupState::PreparingRebalance {
            self.maybe_complete_join();
        } else {
            self.prepare_rebalance();
        }
    }

    /// Starts a rebalance: members must rejoin within the rebalance timeout.
    fn prepare_rebalance(&mut self) {
        if self.group.state == GroupState::CompletingRebalance {
            // Members waiting for an assignment of this generation will not
            // get one; every assignment is reset (Kafka's
            // resetAndPropagateAssignmentWithError).
            let waiting: Vec<ReplyTo> = self
                .group
                .members
                .iter_mut()
                .filter_map(|m| {
                    m.assignment.clear();
                    m.awaiting_sync.take()
                })
                .collect();
            for to in waiting {
                self.reply_sync(to, SyncResult::error(ErrorCode::REBALANCE_IN_PROGRESS));
            }
        }
        let rebalance_timeout = self
            .group
            .members
            .iter()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        let delay = self.limits.initial_rebalance_delay;
        self.group.initial_delay = self.group.state == GroupState::Empty && !delay.is_zero();
        let wait = if self.group.initial_delay {
            delay.min(rebalance_timeout)
        } else {
            rebalance_timeout
        };
        self.group.state = GroupState::PreparingRebalance;
        self.group.deadline = Some(self.now + wait);
        self.maybe_complete_join();
    }

    fn maybe_complete_join(&mut self) {
        let g = &self.group;
        let all_joined =
            g.members.iter().all(|m| m.awaiting_join.is_some()) && g.pending.is_empty();
        if g.state == GroupState::PreparingRebalance && all_joined && !g.initial_delay {
            self.complete_join();
        }
    }

    /// Ends the join phase: members that did not rejoin are dropped, the
    /// generation advances, a protocol and a leader are chosen, and every
    /// waiting JoinGroup is answered (the leader with the member list).
    fn complete_join(&mut self) {
        let now = self.now;
        let g = &mut *self.group;
        g.initial_delay = false;
        let gone: Vec<String> = g
            .members
            .iter()
            .filter(|m| m.awaiting_join.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in &gone {
            remove_member(g, id);
        }
        g.generation += 1;
        if g.members.is_empty() {
            // The protocol type stays (Kafka's initNextGeneration clears only
            // the protocol name): an emptied consumer group is still listed
            // and described as a consumer group, not a "simple" one.
            g.state = GroupState::Empty;
            g.protocol = None;
            g.leader = None;
            g.deadline = None;
            return;
        }
        g.protocol = select_protocol(&g.members);
        if g.leader.as_deref().is_none_or(|l| g.member(l).is_none()) {
            g.leader = g.members.first().map(|m| m.id.clone());
        }
        g.state = GroupState::CompletingRebalance;
        let sync_timeout = g
            .members
            .iter()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        g.deadline = Some(now + sync_timeout);
        let waiting: Vec<(String, ReplyTo)> = g
            .members
            .iter_mut()
            .filter_map(|m| {
                // The assignment of the last generation stays until the
                // leader sends the next (DescribeGroups shows it, as Kafka's).
                m.heartbeat_deadline = now + m.session_timeout;
                m.awaiting_join.take().map(|to| (m.id.clone(), to))
            })
            .collect();
        for (id, to) in waiting {
            let result = self.join_result(&id);
            self.reply_join(to, result);
        }
    }

    /// The JoinGroup answer for `member_id` in the current generation.
    fn join_result(&self, member_id: &str) -> JoinResult {
        let g = &*self.group;
        let protocol = g.protocol.clone().unwrap_or_default();
        let leader = g.leader.clone().unwrap_or_default();
        let members = if leader == member_id {
            g.members
                .iter()
                .map(|m| {
                    (
                        m.id.clone(),
                        m.instance_id.clone(),
                        m.metadata(&protocol).to_vec(),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinResult {
            error: ErrorCode::NONE,
            generation: g.generation,
            protocol_type: g.protocol_type.clone(),
            protocol_name: g.protocol.clone(),
            leader,
            skip_assignment: false,
            member_id: member_id.to_owned(),
            members,
        }
    }

    fn sync(&mut self, req: &SyncRequest<'_>, reply: ReplyTo) {
        let error = self.check_member(req.member_id, req.instance_id, req.generation);
        let g = &*self.group;
        let error = error.or_else(|| {
            let type_ok = req
                .protocol_type
                .is_none_or(|t| g.protocol_type.as_deref() == Some(t));
            let name_ok = req
                .protocol_name
                .is_none_or(|n| g.protocol.as_deref() == Some(n));
            (!type_ok || !name_ok).then_some(ErrorCode::INCONSISTENT_GROUP_PROTOCOL)
        });
        if let Some(error) = error {
            return self.reply_sync(reply, SyncResult::error(error));
        }
        let now = self.now;
        match self.group.state {
            GroupState::Empty => {
                self.reply_sync(reply, SyncResult::error(ErrorCode::UNKNOWN_MEMBER_ID))
            }
            GroupState::PreparingRebalance => {
                self.reply_sync(reply, SyncResult::error(ErrorCode::REBALANCE_IN_PROGRESS));
            }
            GroupState::CompletingRebalance => {
                let is_leader = self.group.is_leader(req.member_id);
                if let Some(m) = self.group.member_mut(req.member_id) {
                    m.awaiting_sync = Some(reply);
                    m.heartbeat_deadline = now + m.session_timeout;
                }
                if is_leader {
                    for m in &mut self.group.members {
                        m.assignment = req
                            .assignments
                            .iter()
                            .find(|(id, _)| *id == m.id)
                            .map(|(_, a)| a.to_vec())
                            .unwrap_or_default();
                    }
                    self.group.state = GroupState::Stable;
                    self.group.deadline = None;
                    let waiting: Vec<(ReplyTo, Vec<u8>)> = self
                        .group
                        .members
                        .iter_mut()
                        .filter_map(|m| m.awaiting_sync.take().map(|to| (to, m.assignment.clone())))
                        .collect();
                    for (to, assignment) in waiting {
                        let result = self.sync_result(assignment);
                        self.reply_sync(to, result);
                    }
                }
            }
            GroupState::Stable => {
                let assignment = self
                    .group
                    .member(req.member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                let result = self.sync_result(assignment);
                self.reply_sync(reply, result);
            }
        }
    }

    fn sync_result(&self, assignment: Vec<u8>) -> SyncResult {
        SyncResult {
            error: ErrorCode::NONE,
            protocol_type: self.group.protocol_type.clone(),
            protocol_name: self.group.protocol.clone(),
            assignment,
        }
    }

    /// Member, fencing and generation checks shared by SyncGroup, Heartbeat
    /// and OffsetCommit, in Kafka's order.
    pub(super) fn check_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Option<ErrorCode> {
        if self.fenced(member_id, instance_id) {
            Some(ErrorCode::FENCED_INSTANCE_ID)
        } else if self.group.member(member_id).is_none() {
            Some(ErrorCode::UNKNOWN_MEMBER_ID)
        } else if generation != self.group.generation {
            Some(ErrorCode::ILLEGAL_GENERATION)
        } else {
            None
        }
    }

    fn heartbeat(
        &mut self,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> ErrorCode {
        if self.group.state == GroupState::Empty {
            return ErrorCode::UNKNOWN_MEMBER_ID;
        }
        if let Some(error) = self.check_member(member_id, instance_id, generation) {
            return error;
        }
        let now = self.now;
        if let Some(m) = self.group.member_mut(member_id) {
            m.heartbeat_deadline = now + m.session_timeout;
        }
        match self.group.state {
            // Tells the member to rejoin.
            GroupState::PreparingRebalance => ErrorCode::REBALANCE_IN_PROGRESS,
            _ => ErrorCode::NONE,
        }
    }

    fn leave(&mut self, who: &LeaveMember<'_>) -> ErrorCode {
        let id = match who.instance_id {
            Some(instance) => match self.group.statics.get(instance) {
                // A static member may leave by instance id alone.
                Some(owner) if who.member_id.is_empty() || who.member_id == owner => owner.clone(),
                Some(_) => return ErrorCode::FENCED_INSTANCE_ID,
                None => return ErrorCode::UNKNOWN_MEMBER_ID,
            },
            None => who.member_id.to_owned(),
        };
        if self.group.pending.remove(&id).is_some() {
            self.maybe_complete_join();
            return ErrorCode::NONE;
        }
        if self.group.member(&id).is_none() {
            return ErrorCode::UNKNOWN_MEMBER_ID;
        }
        self.remove_and_rebalance(&id);
        ErrorCode::NONE
    }

    /// Removes a member (left or expired) and rebalances the rest.
    fn remove_and_rebalance(&mut self, id: &str) {
        if let Some(m) = self.group.members.iter_mut().find(|m| m.id == id) {
            if let Some(to) = m.awaiting_join.take() {
                let result = JoinResult::error(ErrorCode::UNKNOWN_MEMBER_ID, id);
                self.replies.push((to, GroupReply::Join(result)));
            }
            if let Some(to) = m.awaiting_sync.take() {
                let result = SyncResult::error(ErrorCode::UNKNOWN_MEMBER_ID);
                self.replies.push((to, GroupReply::Sync(result)));
            }
        }
        remove_member(self.group, id);
        match self.group.state {
            GroupState::PreparingRebalance => self.maybe_complete_join(),
            GroupState::Stable | GroupState::CompletingRebalance => self.prepare_rebalance(),
            GroupState::Empty => {}
        }
    }

    /// Applies the deadlines that have passed.
    pub(super) fn expire(&mut self) {
        let now = self.now;
        let before = self.group.pending.len();
        self.group.pending.retain(|_, expires| *expires > now);
        if self.group.pending.len() != before {
            self.maybe_complete_join();
        }
        let expired: Vec<String> = self
            .group
            .members
            .iter()
            .filter(|m| {
                m.awaiting_join.is_none()
                    && m.awaiting_sync.is_none()
                    && m.heartbeat_deadline <= now
            })
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            self.remove_and_rebalance(&id);
        }
        if self.group.deadline.is_some_and(|d| d <= now) {
            match self.group.state {
                GroupState::PreparingRebalance => self.complete_join(),
                GroupState::CompletingRebalance => {
                    // The leader never sent the assignment (or members never
                    // asked for it): drop those who did not sync, start over.
                    let lagging: Vec<String> = self
                        .group
                        .members
                        .iter()
                        .filter(|m| m.awaiting_sync.is_none())
                        .map(|m| m.id.clone())
                        .collect();
                    for id in &lagging {
                        remove_member(self.group, id);
                    }
                    self.prepare_rebalance();
                }
                GroupState::Stable | GroupState::Empty => self.group.deadline = None,
            }
        }
    }
}

fn remove_member(g: &mut Group, id: &str) {
    g.members.retain(|m| m.id != id);
    g.statics.retain(|_, owner| owner != id);
    if g.leader.as_deref() == Some(id) {
        g.leader = None;
    }
}

/// Kafka's vote: among the protocols every member supports, each member votes
/// for the first one in its own order; the most votes win (ties go to the
/// first member's preference).
fn select_protocol(members: &[Member]) -> Option<String> {
    let first = members.first()?;
    let candidates: Vec<&str> = first
        .protocols
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| {
            members
                .iter()
                .all(|m| m.protocols.iter().any(|(p, _)| p == n))
        })
        .collect();
    let votes = |c: &str| {
        members
            .iter()
            .filter(|m| {
                m.protocols
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .find(|n| candidates.contains(n))
                    == Some(c)
            })
            .count()
    };
    let mut best: Option<(&str, usize)> = None;
    for c in &candidates {
        let v = votes(c);
        if best.is_none_or(|(_, bv)| v > bv) {
            best = Some((c, v));
        }
    }
    best.map(|(c, _)| c.to_owned())
}
