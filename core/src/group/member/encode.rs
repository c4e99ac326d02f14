//! Writing the member's requests: strings and nested arrays go into the
//! caller's scratch buffer ([`Arena`]), at a fixed source version that
//! another negotiated version converts element by element.

use heapless::Vec;

use super::transmit::Arena;
use super::{Destination, GroupRequest, Member, Plan, RequestId, Stage, Transmit};
use crate::error::{Error, Result};
use crate::protocol::messages::{
    FindCoordinatorRequest, HeartbeatRequest, JoinGroupRequest, JoinGroupRequestProtocol,
    LeaveGroupMemberIdentity, LeaveGroupRequest, OffsetCommitRequest, OffsetCommitRequestPartition,
    OffsetCommitRequestTopic, OffsetFetchRequest, OffsetFetchRequestGroup, OffsetFetchRequestTopic,
    OffsetFetchRequestTopics, SyncGroupRequest, SyncGroupRequestAssignment,
};
use crate::wire::{Array, Wire, WireVersion};

/// The JoinGroup protocol type of consumers.
const PROTOCOL_TYPE: &str = "consumer";
/// The subscription version sent: v3 carries owned partitions (v1),
/// their generation (v2) and a rack (v3, null here).
const SUBSCRIPTION_VERSION: i16 = 3;

// Versions the nested arrays are written at; another negotiated version
// converts them element by element (see `Array::from_encoded`).
const CLASSIC: WireVersion = WireVersion::new(0, false);
const FIND_COORDINATOR_KEYS: WireVersion = WireVersion::new(4, true);
const LEAVE_MEMBERS: WireVersion = WireVersion::new(5, true);
const COMMIT_TOPICS: WireVersion = WireVersion::new(7, false);
const FETCH_TOPICS: WireVersion = WireVersion::new(5, false);
const FETCH_GROUPS: WireVersion = WireVersion::new(8, true);

fn ms_i32(d: core::time::Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

impl<const TOPICS: usize, const PARTITIONS: usize> Member<TOPICS, PARTITIONS> {
    pub(super) fn build<'b>(
        &self,
        a: &mut Arena<'b>,
        plan: Plan,
        id: RequestId,
    ) -> Result<Transmit<'b>> {
        let destination = self.destination(a, plan)?;
        let group_id = a.str(&self.group_id)?;
        let member_id = a.str(&self.member_id)?;
        let instance = match &self.instance_id {
            Some(i) => Some(a.str(i)?),
            None => None,
        };
        let request = match plan {
            Plan::FindCoordinator => {
                let keys = a.array(1, FIND_COORDINATOR_KEYS, |w| {
                    group_id.encode(w, FIND_COORDINATOR_KEYS)
                })?;
                GroupRequest::FindCoordinator(FindCoordinatorRequest {
                    key: group_id,
                    key_type: 0,
                    coordinator_keys: keys,
                })
            }
            Plan::JoinGroup => {
                let metadata = self.write_subscription(a)?;
                let protocols = a.array(self.assignors.len(), CLASSIC, |w| {
                    for &name in &self.assignors {
                        JoinGroupRequestProtocol { name, metadata }.encode(w, CLASSIC)?;
                    }
                    Ok(())
                })?;
                GroupRequest::JoinGroup(JoinGroupRequest {
                    group_id,
                    session_timeout_ms: ms_i32(self.session_timeout),
                    rebalance_timeout_ms: ms_i32(self.rebalance_timeout),
                    member_id,
                    group_instance_id: instance,
                    protocol_type: PROTOCOL_TYPE,
                    protocols,
                    reason: Some(self.join_reason),
                })
            }
            Plan::Heartbeat => GroupRequest::Heartbeat(HeartbeatRequest {
                group_id,
                generation_id: self.generation,
                member_id,
                group_instance_id: instance,
            }),
            Plan::LeaveGroup => {
                let members = a.array(1, LEAVE_MEMBERS, |w| {
                    LeaveGroupMemberIdentity {
                        member_id,
                        group_instance_id: instance,
                        reason: Some("the consumer is closing"),
                    }
                    .encode(w, LEAVE_MEMBERS)
                })?;
                GroupRequest::LeaveGroup(LeaveGroupRequest {
                    group_id,
                    member_id,
                    members,
                })
            }
            Plan::OffsetCommit => {
                let topics = self.write_commit_topics(a)?;
                GroupRequest::OffsetCommit(OffsetCommitRequest {
                    group_id,
                    generation_id_or_member_epoch: self.generation,
                    member_id,
                    group_instance_id: instance,
                    retention_time_ms: self.retention_ms,
                    topics,
                })
            }
            Plan::OffsetFetch => {
                let (topics, groups) = self.write_fetch_topics(a, group_id)?;
                GroupRequest::OffsetFetch(OffsetFetchRequest {
                    group_id,
                    topics: Some(topics),
                    groups,
                    require_stable: self.require_stable,
                })
            }
            Plan::SyncGroup => return Err(Error::Malformed("SyncGroup is built by build_sync")),
        };
        Ok(Transmit {
            id,
            destination,
            request,
        })
    }

    pub(super) fn destination<'b>(&self, a: &mut Arena<'b>, plan: Plan) -> Result<Destination<'b>> {
        if plan == Plan::FindCoordinator {
            return Ok(Destination::AnyBroker);
        }
        let c = self
            .coordinator
            .as_ref()
            .ok_or(Error::Malformed("no coordinator"))?;
        Ok(Destination::Coordinator {
            node_id: c.node_id,
            host: a.str(&c.host)?,
            port: c.port,
        })
    }

    pub(super) fn build_sync<'b>(
        &self,
        a: &mut Arena<'b>,
        id: RequestId,
        assignments: Array<'b, SyncGroupRequestAssignment<'b>>,
    ) -> Result<Transmit<'b>> {
        let destination = self.destination(a, Plan::SyncGroup)?;
        let group_id = a.str(&self.group_id)?;
        let member_id = a.str(&self.member_id)?;
        let instance = match &self.instance_id {
            Some(i) => Some(a.str(i)?),
            None => None,
        };
        let protocol = self.assignors.get(self.protocol).copied();
        Ok(Transmit {
            id,
            destination,
            request: GroupRequest::SyncGroup(SyncGroupRequest {
                group_id,
                generation_id: self.generation,
                member_id,
                group_instance_id: instance,
                protocol_type: Some(PROTOCOL_TYPE),
                protocol_name: protocol,
                assignments,
            }),
        })
    }

    /// The member's `ConsumerProtocolSubscription` (v3): its topics, and
    /// the partitions it owns with their generation (KIP-429).
    pub(super) fn write_subscription<'b>(&self, a: &mut Arena<'b>) -> Result<&'b [u8]> {
        a.write(|w| {
            w.i16(SUBSCRIPTION_VERSION)?;
            w.i32(self.topics.len() as i32)?;
            for t in &self.topics {
                w.string(t)?;
            }
            w.i32(-1)?; // user_data: null
            let owned = |t: usize| {
                self.slots
                    .iter()
                    .filter(move |s| s.owned() && usize::from(s.topic) == t)
            };
            let with_owned = (0..self.topics.len())
                .filter(|&t| owned(t).next().is_some())
                .count();
            w.i32(with_owned as i32)?;
            for (t, name) in self.topics.iter().enumerate() {
                let n = owned(t).count();
                if n > 0 {
                    w.string(name)?;
                    w.i32(n as i32)?;
                    for s in owned(t) {
                        w.i32(s.partition)?;
                    }
                }
            }
            let any_owned = with_owned > 0;
            w.i32(if any_owned { self.owned_generation } else { -1 })?;
            w.i16(-1) // rack_id: null
        })
    }

    pub(super) fn write_commit_topics<'b>(
        &self,
        a: &mut Arena<'b>,
    ) -> Result<Array<'b, OffsetCommitRequestTopic<'b>>> {
        let mut topics: Vec<OffsetCommitRequestTopic<'b>, TOPICS> = Vec::new();
        for (t, name) in self.topics.iter().enumerate() {
            let mine = || {
                self.slots
                    .iter()
                    .filter(move |s| usize::from(s.topic) == t && self.commit_candidate(s))
            };
            let n = mine().count();
            if n == 0 {
                continue;
            }
            let partitions = a.array(n, COMMIT_TOPICS, |w| {
                for s in mine() {
                    OffsetCommitRequestPartition {
                        partition_index: s.partition,
                        committed_offset: s.position,
                        committed_leader_epoch: -1,
                        commit_timestamp: -1,
                        committed_metadata: None,
                    }
                    .encode(w, COMMIT_TOPICS)?;
                }
                Ok(())
            })?;
            let name = a.str(name)?;
            let _ = topics.push(OffsetCommitRequestTopic { name, partitions });
        }
        a.array(topics.len(), COMMIT_TOPICS, |w| {
            topics.iter().try_for_each(|t| t.encode(w, COMMIT_TOPICS))
        })
    }

    #[allow(clippy::type_complexity)]
    pub(super) fn write_fetch_topics<'b>(
        &self,
        a: &mut Arena<'b>,
        group_id: &'b str,
    ) -> Result<(
        Array<'b, OffsetFetchRequestTopic<'b>>,
        Array<'b, OffsetFetchRequestGroup<'b>>,
    )> {
        let mut old: Vec<OffsetFetchRequestTopic<'b>, TOPICS> = Vec::new();
        let mut new: Vec<OffsetFetchRequestTopics<'b>, TOPICS> = Vec::new();
        for (t, name) in self.topics.iter().enumerate() {
            let mine = || {
                self.slots
                    .iter()
                    .filter(move |s| usize::from(s.topic) == t && s.stage == Stage::Fetching)
            };
            let n = mine().count();
            if n == 0 {
                continue;
            }
            let partition_indexes =
                a.array(n, CLASSIC, |w| mine().try_for_each(|s| w.i32(s.partition)))?;
            let name = a.str(name)?;
            let _ = old.push(OffsetFetchRequestTopic {
                name,
                partition_indexes,
            });
            let _ = new.push(OffsetFetchRequestTopics {
                name,
                partition_indexes,
            });
        }
        let topics = a.array(old.len(), FETCH_TOPICS, |w| {
            old.iter().try_for_each(|t| t.encode(w, FETCH_TOPICS))
        })?;
        let new_topics = a.array(new.len(), FETCH_GROUPS, |w| {
            new.iter().try_for_each(|t| t.encode(w, FETCH_GROUPS))
        })?;
        let groups = a.array(1, FETCH_GROUPS, |w| {
            OffsetFetchRequestGroup {
                group_id,
                member_id: None,
                member_epoch: -1,
                topics: Some(new_topics),
            }
            .encode(w, FETCH_GROUPS)
        })?;
        Ok((topics, groups))
    }
}
