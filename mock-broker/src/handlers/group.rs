//! JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups, ListGroups:
//! the wire side of the group coordinator in [`crate::group`].

use microkafka_core::protocol::messages::{
    DescribeGroupsRequest, DescribeGroupsResponse, DescribedGroup, DescribedGroupMember,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
    JoinGroupResponseMember, LeaveGroupMemberResponse, LeaveGroupRequest, LeaveGroupResponse,
    ListGroupsRequest, ListGroupsResponse, ListedGroup, SyncGroupRequest, SyncGroupResponse,
};
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;

use super::{encode, Answer, Cx};
use crate::cluster::ReplyTo;
use crate::group::{
    GroupReply, GroupState, JoinRequest, JoinResult, LeaveMember, SyncRequest, SyncResult,
};

pub(crate) fn join(cx: &mut Cx<'_>, req: JoinGroupRequest<'_>) -> Answer {
    if let Some(error) = cx.forced.or_else(|| cx.check_coordinator(req.group_id)) {
        let result = JoinResult {
            error,
            generation: -1,
            member_id: req.member_id.to_owned(),
            ..JoinResult::default()
        };
        return encode_join(&cx.reply_to(), &result).map_or(Answer::Close(None), Answer::Frame);
    }
    let join = JoinRequest {
        group_id: req.group_id,
        member_id: req.member_id,
        instance_id: req.group_instance_id,
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        protocol_type: req.protocol_type,
        protocols: req.protocols.iter().map(|p| (p.name, p.metadata)).collect(),
        client_id: cx.client_id,
        client_host: cx.client_host,
        require_known_member_id: cx.version >= 4,
        supports_skip_assignment: cx.version >= 9,
    };
    let reply = cx.reply_to();
    let cluster = &mut *cx.cluster;
    cluster.groups.join(&join, reply, &mut cluster.ids, cx.now);
    Answer::Later
}

pub(crate) fn sync(cx: &mut Cx<'_>, req: SyncGroupRequest<'_>) -> Answer {
    if let Some(error) = cx.forced.or_else(|| cx.check_coordinator(req.group_id)) {
        let result = SyncResult {
            error,
            ..SyncResult::default()
        };
        return encode_sync(&cx.reply_to(), &result).map_or(Answer::Close(None), Answer::Frame);
    }
    let sync = SyncRequest {
        group_id: req.group_id,
        generation: req.generation_id,
        member_id: req.member_id,
        instance_id: req.group_instance_id,
        protocol_type: req.protocol_type,
        protocol_name: req.protocol_name,
        assignments: req
            .assignments
            .iter()
            .map(|a| (a.member_id, a.assignment))
            .collect(),
    };
    let reply = cx.reply_to();
    let cluster = &mut *cx.cluster;
    cluster.groups.sync(&sync, reply, &mut cluster.ids, cx.now);
    Answer::Later
}

pub(crate) fn heartbeat(cx: &mut Cx<'_>, req: HeartbeatRequest<'_>) -> Answer {
    let error = match cx.forced.or_else(|| cx.check_coordinator(req.group_id)) {
        Some(error) => error,
        None => {
            let cluster = &mut *cx.cluster;
            cluster.groups.heartbeat(
                req.group_id,
                req.generation_id,
                req.member_id,
                req.group_instance_id,
                &mut cluster.ids,
                cx.now,
            )
        }
    };
    cx.respond(&HeartbeatResponse {
        error_code: error,
        ..Default::default()
    })
}

pub(crate) fn leave(cx: &mut Cx<'_>, req: LeaveGroupRequest<'_>) -> Answer {
    // v0-2 name one member; v3+ a batch.
    let members: Vec<LeaveMember<'_>> = if cx.version < 3 {
        vec![LeaveMember {
            member_id: req.member_id,
            instance_id: None,
        }]
    } else {
        req.members
            .iter()
            .map(|m| LeaveMember {
                member_id: m.member_id,
                instance_id: m.group_instance_id,
            })
            .collect()
    };
    let outcome = match cx.forced.or_else(|| cx.check_coordinator(req.group_id)) {
        Some(error) => Err(error),
        None => {
            let cluster = &mut *cx.cluster;
            cluster
                .groups
                .leave(req.group_id, &members, &mut cluster.ids, cx.now)
        }
    };
    let (top, per_member) = match (&outcome, cx.version < 3) {
        (Err(error), _) => (*error, vec![*error; members.len()]),
        // v0-2 carry the single member's error at the top.
        (Ok(errors), true) => (errors.first().copied().unwrap_or_default(), errors.clone()),
        (Ok(errors), false) => (ErrorCode::NONE, errors.clone()),
    };
    let responses: Vec<LeaveGroupMemberResponse<'_>> = members
        .iter()
        .zip(&per_member)
        .map(|(m, &error)| LeaveGroupMemberResponse {
            member_id: m.member_id,
            group_instance_id: m.instance_id,
            error_code: error,
        })
        .collect();
    cx.respond(&LeaveGroupResponse {
        error_code: top,
        members: Array::new(&responses),
        ..Default::default()
    })
}

pub(crate) fn describe(cx: &mut Cx<'_>, req: DescribeGroupsRequest<'_>) -> Answer {
    let ids: Vec<&str> = req.groups.iter().collect();
    let members: Vec<Vec<DescribedGroupMember<'_>>> = ids
        .iter()
        .map(|id| {
            match (
                cx.forced,
                cx.check_coordinator(id),
                cx.cluster.groups.get(id),
            ) {
                (None, None, Some(g)) if g.state == GroupState::Stable => {
                    let protocol = g.protocol.as_deref().unwrap_or_default();
                    g.members
                        .iter()
                        .map(|m| DescribedGroupMember {
                            member_id: &m.id,
                            group_instance_id: m.instance_id.as_deref(),
                            client_id: &m.client_id,
                            client_host: &m.client_host,
                            member_metadata: m.metadata(protocol),
                            member_assignment: &m.assignment,
                        })
                        .collect()
                }
                // Outside Stable, Kafka lists members without metadata, but
                // with the assignment they last received.
                (None, None, Some(g)) => g
                    .members
                    .iter()
                    .map(|m| DescribedGroupMember {
                        member_id: &m.id,
                        group_instance_id: m.instance_id.as_deref(),
                        client_id: &m.client_id,
                        client_host: &m.client_host,
                        member_metadata: &[],
                        member_assignment: &m.assignment,
                    })
                    .collect(),
                _ => Vec::new(),
            }
        })
        .collect();
    let groups: Vec<DescribedGroup<'_>> = ids
        .iter()
        .zip(&members)
        .map(|(id, members)| {
            let error = cx.forced.or_else(|| cx.check_coordinator(id));
            match (error, cx.cluster.groups.get(id)) {
                (Some(error), _) => DescribedGroup {
                    error_code: error,
                    group_id: id,
                    ..Default::default()
                },
                // An unknown group is described as Dead, without error (v0-5).
                (None, None) => DescribedGroup {
                    group_id: id,
                    group_state: "Dead",
                    ..Default::default()
                },
                (None, Some(g)) => DescribedGroup {
                    error_code: ErrorCode::NONE,
                    group_id: id,
                    group_state: g.state.name(),
                    protocol_type: g.protocol_type.as_deref().unwrap_or_default(),
                    protocol_data: if g.state == GroupState::Stable {
                        g.protocol.as_deref().unwrap_or_default()
                    } else {
                        ""
                    },
                    members: Array::new(members),
                    authorized_operations: i32::MIN,
                },
            }
        })
        .collect();
    cx.respond(&DescribeGroupsResponse {
        groups: Array::new(&groups),
        ..Default::default()
    })
}

pub(crate) fn list(cx: &mut Cx<'_>, req: ListGroupsRequest<'_>) -> Answer {
    let states: Vec<&str> = req.states_filter.iter().collect();
    let types: Vec<&str> = req.types_filter.iter().collect();
    let listed: Vec<ListedGroup<'_>> = if cx.forced.is_some() {
        Vec::new()
    } else {
        cx.cluster
            .groups
            .iter()
            .filter(|g| cx.cluster.coordinator_for(&g.id) == Some(cx.broker))
            .filter(|g| {
                states.is_empty()
                    || states
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(g.state.name()))
            })
            .filter(|_| types.is_empty() || types.iter().any(|t| t.eq_ignore_ascii_case("classic")))
            .map(|g| ListedGroup {
                group_id: &g.id,
                protocol_type: g.protocol_type.as_deref().unwrap_or_default(),
                group_state: g.state.name(),
                group_type: "classic",
            })
            .collect()
    };
    cx.respond(&ListGroupsResponse {
        error_code: cx.forced.unwrap_or(ErrorCode::NONE),
        groups: Array::new(&listed),
        ..Default::default()
    })
}

/// Encodes a deferred JoinGroup or SyncGroup answer for its request's version.
pub(crate) fn encode_reply(to: &ReplyTo, reply: &GroupReply) -> Option<Vec<u8>> {
    match reply {
        GroupReply::Join(result) => encode_join(to, result),
        GroupReply::Sync(result) => encode_sync(to, result),
    }
}

fn encode_join(to: &ReplyTo, r: &JoinResult) -> Option<Vec<u8>> {
    let members: Vec<JoinGroupResponseMember<'_>> = r
        .members
        .iter()
        .map(|(id, instance, metadata)| JoinGroupResponseMember {
            member_id: id,
            group_instance_id: instance.as_deref(),
            metadata,
        })
        .collect();
    let body = JoinGroupResponse {
        error_code: r.error,
        generation_id: r.generation,
        protocol_type: r.protocol_type.as_deref(),
        // Not nullable before v7.
        protocol_name: Some(r.protocol_name.as_deref().unwrap_or_default())
            .filter(|n| to.version < 7 || !n.is_empty()),
        leader: &r.leader,
        skip_assignment: r.skip_assignment,
        member_id: &r.member_id,
        members: Array::new(&members),
        ..Default::default()
    };
    encode(to.correlation_id, to.version, &body)
}

fn encode_sync(to: &ReplyTo, r: &SyncResult) -> Option<Vec<u8>> {
    let body = SyncGroupResponse {
        error_code: r.error,
        protocol_type: r.protocol_type.as_deref(),
        protocol_name: r.protocol_name.as_deref(),
        assignment: &r.assignment,
        ..Default::default()
    };
    encode(to.correlation_id, to.version, &body)
}
