//! Applying the coordinator's answers: what each error code means for the
//! membership, the assignment, and the offsets.

use core::time::Duration;

use heapless::String;

use super::slots::{Slot, Stage};
use super::{
    commit_retriable, is_coordinator_gone, is_fatal, too_large, Coordinator, InFlight, Member,
    Notice, Phase, Rejoin, MAX_HOST_LEN, REVOKED_COMMIT_ATTEMPTS,
};
use crate::error::{Error, Result};
use crate::protocol::messages::{
    decode_assignment, FindCoordinatorResponse, HeartbeatResponse, JoinGroupResponse,
    OffsetCommitResponse, OffsetFetchResponse, SyncGroupResponse,
};
use crate::protocol::ApiKey;
use crate::ErrorCode;

impl<const TOPICS: usize, const PARTITIONS: usize> Member<TOPICS, PARTITIONS> {
    pub(super) fn on_find_coordinator(
        &mut self,
        now: Duration,
        version: i16,
        r: &FindCoordinatorResponse<'_>,
    ) -> Result<()> {
        let c = r
            .answer_for(version, self.group_id.as_str())
            .ok_or(Error::Malformed("FindCoordinator named no coordinator"))?;
        let (error, node_id, host, port) = (c.error_code, c.node_id, c.host, c.port);
        if error.is_ok() {
            let host = String::try_from(host)
                .map_err(|_| too_large(crate::Limit::HostName, host.len(), MAX_HOST_LEN))?;
            self.coordinator = Some(Coordinator {
                node_id,
                host,
                port,
            });
            self.find_attempts = 0;
            self.heartbeat_at = now;
            self.heartbeat_ok = now;
            return Ok(());
        }
        if error == ErrorCode::GROUP_AUTHORIZATION_FAILED {
            self.fatal(ApiKey::FindCoordinator, error);
            return Ok(());
        }
        self.find_attempts = self.find_attempts.saturating_add(1);
        self.find_at = now.saturating_add(self.backoff.delay(self.find_attempts));
        self.notice(Notice::Error {
            api: ApiKey::FindCoordinator,
            error,
        });
        Ok(())
    }

    pub(super) fn on_join(&mut self, now: Duration, r: &JoinGroupResponse<'_>) {
        let api = ApiKey::JoinGroup;
        match r.error_code {
            ErrorCode::NONE => {
                let Ok(member_id) = String::try_from(r.member_id) else {
                    return self.fatal(api, ErrorCode::INVALID_REQUEST);
                };
                let chosen = r
                    .protocol_name
                    .and_then(|n| self.assignors.iter().position(|a| *a == n));
                let Some(protocol) = chosen else {
                    return self.fatal(api, ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
                };
                self.member_id = member_id;
                self.generation = r.generation_id;
                self.protocol = protocol;
                self.leader = r.leader == r.member_id && !r.skip_assignment;
                self.join_attempts = 0;
                self.phase = if self.leader {
                    Phase::Assigning
                } else {
                    Phase::Syncing
                };
            }
            ErrorCode::MEMBER_ID_REQUIRED => match String::try_from(r.member_id) {
                Ok(id) => {
                    self.member_id = id;
                    self.rejoin_with(now, Rejoin::Keep, "joining with the member id given", false);
                }
                Err(_) => self.fatal(api, ErrorCode::INVALID_REQUEST),
            },
            e => self.on_rebalance_error(now, api, e),
        }
    }

    /// A JoinGroup or SyncGroup error: how the member rejoins.
    pub(super) fn on_rebalance_error(&mut self, now: Duration, api: ApiKey, error: ErrorCode) {
        match error {
            ErrorCode::REBALANCE_IN_PROGRESS => {
                self.rejoin_with(now, Rejoin::Keep, "a rebalance is in progress", false)
            }
            ErrorCode::UNKNOWN_MEMBER_ID => {
                self.notice(Notice::Error { api, error });
                self.rejoin_with(now, Rejoin::NewMember, "the member id was unknown", false);
            }
            ErrorCode::ILLEGAL_GENERATION => {
                self.notice(Notice::Error { api, error });
                let reason = "the generation was illegal";
                self.rejoin_with(now, Rejoin::NewGeneration, reason, false);
            }
            e if is_coordinator_gone(e) => {
                self.rejoin_with(now, Rejoin::Keep, "the coordinator moved", false);
                self.coordinator_lost(now, api, e);
            }
            e if is_fatal(e) => self.fatal(api, e),
            e => {
                self.notice(Notice::Error { api, error: e });
                self.rejoin_with(now, Rejoin::Keep, "retrying the join", true);
            }
        }
    }

    pub(super) fn on_sync(&mut self, now: Duration, r: &SyncGroupResponse<'_>) -> Result<()> {
        match r.error_code {
            ErrorCode::NONE => {
                self.apply_assignment(r.assignment)?;
                self.phase = Phase::Stable;
                self.owned_generation = self.generation;
                self.heartbeat_at = now.saturating_add(self.heartbeat_interval);
                self.heartbeat_ok = now;
                self.notice(Notice::Joined {
                    generation: self.generation,
                    leader: self.leader,
                });
                if self.slots.iter().any(|s| s.stage == Stage::Revoking) {
                    // KIP-429: what was revoked goes to its new owner in a
                    // follow-up rebalance, as soon as it is committed.
                    self.rejoin_with(now, Rejoin::Keep, "partitions were revoked", false);
                }
            }
            e => self.on_rebalance_error(now, ApiKey::SyncGroup, e),
        }
        Ok(())
    }

    /// Takes the new assignment: partitions kept stay as they are, those
    /// left out are revoked, new ones wait for their committed offsets.
    pub(super) fn apply_assignment(&mut self, bytes: &[u8]) -> Result<()> {
        // Members the leader gave nothing may get no bytes at all.
        let assignment = if bytes.is_empty() {
            None
        } else {
            Some(decode_assignment(bytes)?.1)
        };
        for s in self.slots.iter_mut() {
            s.kept = false;
        }
        let each = || {
            assignment
                .iter()
                .flat_map(|a| a.assigned_partitions.iter())
                .flat_map(|tp| tp.partitions.iter().map(move |p| (tp.topic, p)))
        };
        for (topic, partition) in each() {
            let Some(t) = self.topic_index(topic) else {
                continue;
            };
            if let Some(s) = self
                .slots
                .iter_mut()
                .find(|s| s.owned() && s.topic == t && s.partition == partition)
            {
                s.kept = true;
            }
        }
        self.slots
            .retain(|s| s.kept || !matches!(s.stage, Stage::Fetching | Stage::Ready));
        for s in self.slots.iter_mut() {
            if !s.kept && s.stage == Stage::Active {
                s.stage = Stage::Revoking;
            }
        }
        for (i, (topic, partition)) in each().enumerate() {
            let Some(t) = self.topic_index(topic) else {
                continue;
            };
            if partition < 0
                || self
                    .slots
                    .iter()
                    .any(|s| s.owned() && s.topic == t && s.partition == partition)
            {
                continue;
            }
            self.slots
                .push(Slot::new(t, partition))
                .map_err(|_| too_large(crate::Limit::AssignedPartitions, i + 1, PARTITIONS))?;
        }
        Ok(())
    }

    pub(super) fn on_heartbeat(&mut self, now: Duration, f: InFlight, r: &HeartbeatResponse) {
        let api = ApiKey::Heartbeat;
        let current = f.generation == self.generation;
        match r.error_code {
            ErrorCode::NONE => self.heartbeat_ok = now,
            ErrorCode::REBALANCE_IN_PROGRESS => {
                self.heartbeat_ok = now;
                if current && self.phase == Phase::Stable {
                    self.rejoin_with(now, Rejoin::Keep, "the group is rebalancing", false);
                }
            }
            ErrorCode::ILLEGAL_GENERATION if current => {
                self.notice(Notice::Error {
                    api,
                    error: r.error_code,
                });
                self.rejoin_with(
                    now,
                    Rejoin::NewGeneration,
                    "the generation was illegal",
                    false,
                );
            }
            ErrorCode::UNKNOWN_MEMBER_ID if current => {
                self.notice(Notice::Error {
                    api,
                    error: r.error_code,
                });
                self.rejoin_with(now, Rejoin::NewMember, "the member id was unknown", false);
            }
            ErrorCode::FENCED_INSTANCE_ID => self.fatal(api, r.error_code),
            e if is_coordinator_gone(e) => self.coordinator_lost(now, api, e),
            e => self.notice(Notice::Error { api, error: e }),
        }
    }

    pub(super) fn on_commit(&mut self, now: Duration, r: &OffsetCommitResponse<'_>) {
        let mut retry = None;
        let mut moved = None;
        let give_up_revoked = self.offsets_attempts + 1 >= REVOKED_COMMIT_ATTEMPTS;
        for topic in r.topics.iter() {
            let Some(t) = self.topic_index(topic.name) else {
                continue;
            };
            for p in topic.partitions.iter() {
                let Some(s) = self.slots.iter_mut().find(|s| {
                    s.topic == t && s.partition == p.partition_index && s.committing >= 0
                }) else {
                    continue;
                };
                let offset = s.committing;
                s.committing = -1;
                let error = p.error_code;
                if error.is_ok() {
                    s.committed = offset;
                    s.result = Some((offset, error));
                } else if commit_retriable(error) {
                    if is_coordinator_gone(error) {
                        moved = Some(error);
                    }
                    retry = Some(error);
                    if s.stage == Stage::Revoked && give_up_revoked {
                        s.result = Some((offset, error));
                    }
                } else {
                    // Not retried: the next staged position is.
                    s.result = Some((offset, error));
                    if s.position == offset {
                        s.position = s.committed;
                    }
                }
            }
        }
        for s in self.slots.iter_mut() {
            s.committing = -1;
        }
        match retry {
            Some(error) => {
                self.offsets_attempts = self.offsets_attempts.saturating_add(1);
                self.offsets_at = now.saturating_add(self.backoff.delay(self.offsets_attempts));
                self.commit_requested = true;
                self.notice(Notice::Error {
                    api: ApiKey::OffsetCommit,
                    error,
                });
            }
            None => {
                self.offsets_attempts = 0;
                if !self.has_uncommitted() {
                    self.commit_requested = false;
                }
            }
        }
        if let Some(error) = moved {
            self.coordinator_lost(now, ApiKey::OffsetCommit, error);
        }
    }

    pub(super) fn on_offset_fetch(
        &mut self,
        now: Duration,
        version: i16,
        r: &OffsetFetchResponse<'_>,
    ) {
        let mut retry = None;
        let mut group_error = ErrorCode::NONE;
        let mut apply = |this: &mut Self,
                         topic: &str,
                         partition: i32,
                         offset: i64,
                         error: ErrorCode| {
            let Some(t) = this.topic_index(topic) else {
                return;
            };
            let Some(s) = this.slots.iter_mut().find(|s| {
                s.topic == t && s.partition == partition && s.stage == Stage::Fetching && s.fetching
            }) else {
                return;
            };
            s.fetching = false;
            if error.is_ok() {
                s.committed = offset.max(-1);
                s.stage = Stage::Ready;
            } else {
                retry = Some(error);
            }
        };
        if version >= 8 {
            match r
                .groups
                .iter()
                .find(|g| g.group_id == self.group_id.as_str())
            {
                Some(g) if g.error_code.is_err() => group_error = g.error_code,
                Some(g) => {
                    for t in g.topics.iter() {
                        for p in t.partitions.iter() {
                            apply(
                                self,
                                t.name,
                                p.partition_index,
                                p.committed_offset,
                                p.error_code,
                            );
                        }
                    }
                }
                None => group_error = ErrorCode::UNKNOWN_SERVER_ERROR,
            }
        } else if r.error_code.is_err() {
            group_error = r.error_code;
        } else {
            for t in r.topics.iter() {
                for p in t.partitions.iter() {
                    apply(
                        self,
                        t.name,
                        p.partition_index,
                        p.committed_offset,
                        p.error_code,
                    );
                }
            }
        }
        let mut unanswered = false;
        for s in self.slots.iter_mut().filter(|s| s.fetching) {
            s.fetching = false;
            unanswered = true;
        }
        let error = if group_error.is_err() {
            Some(group_error)
        } else {
            retry.or(unanswered.then_some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION))
        };
        match error {
            Some(error) => {
                self.offsets_attempts = self.offsets_attempts.saturating_add(1);
                self.offsets_at = now.saturating_add(self.backoff.delay(self.offsets_attempts));
                if is_coordinator_gone(error) {
                    self.coordinator_lost(now, ApiKey::OffsetFetch, error);
                } else {
                    self.notice(Notice::Error {
                        api: ApiKey::OffsetFetch,
                        error,
                    });
                }
            }
            None => self.offsets_attempts = 0,
        }
    }
}
