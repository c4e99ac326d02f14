//! The member against a scripted coordinator: every request checked, every
//! answer encoded by hand, time passed in. No sockets, no clock.

extern crate std;

use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::group::{CooperativeSticky, Range};
use crate::protocol::messages::*;
use crate::protocol::{Message, Request};
use crate::wire::{Array, Reader, Wire, Writer};

type M = Member<2, 16>;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config<'a>(topics: &'a [&'a str]) -> MemberConfig<'a> {
    MemberConfig {
        session_timeout: ms(10_000),
        heartbeat_interval: ms(3_000),
        rebalance_timeout: ms(20_000),
        ..MemberConfig::new("g", topics)
    }
}

/// What a transmit carried, owned (the transmit borrows the scratch buffer).
#[derive(Debug)]
struct Sent {
    id: RequestId,
    api: ApiKey,
    node: Option<i32>,
    request: GroupRequest<'static>,
}

/// The next request: `None` when nothing is due.
fn poll(m: &mut M, now: Duration) -> Option<Sent> {
    let buf: &'static mut [u8] = vec![0u8; m.transmit_buf_len()].leak();
    let tx = m.poll_transmit(now, buf).unwrap()?;
    Some(Sent {
        id: tx.id,
        api: tx.request.api(),
        node: match tx.destination {
            Destination::AnyBroker => None,
            Destination::Coordinator { node_id, .. } => Some(node_id),
        },
        request: tx.request,
    })
}

/// The next request, which must be for `api`.
fn expect(m: &mut M, now: Duration, api: ApiKey) -> Sent {
    let sent = poll(m, now).unwrap_or_else(|| panic!("expected {api:?}, nothing was sent"));
    assert_eq!(sent.api, api, "{sent:?}");
    sent
}

/// Answers `id` with `response` encoded at `version`.
fn answer<'x, R: Message<'x>>(
    m: &mut M,
    now: Duration,
    id: RequestId,
    version: i16,
    response: &R,
) -> Result<()> {
    let v = R::wire_version(version).unwrap();
    let mut body = vec![0u8; response.encoded_len(v).unwrap()];
    response.encode(&mut Writer::new(&mut body), v).unwrap();
    let received = Received {
        api: R::API_KEY,
        version,
        correlation_id: 0,
        body: &body,
    };
    m.handle_response(now, id, &received)
}

fn events(m: &mut M) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(e) = m.poll_event() {
        out.push(match e {
            Event::Assigned {
                topic,
                partition,
                committed,
            } => std::format!("assigned {topic}-{partition} at {committed:?}"),
            Event::Revoked { topic, partition } => std::format!("revoked {topic}-{partition}"),
            Event::Lost { topic, partition } => std::format!("lost {topic}-{partition}"),
            Event::Committed {
                topic,
                partition,
                offset,
                error,
            } => std::format!("committed {topic}-{partition} {offset} {}", error.name()),
            Event::Joined { generation, leader } => {
                std::format!("joined {generation} leader={leader}")
            }
            Event::Error { api, error } => std::format!("error {api:?} {}", error.name()),
            Event::Left => "left".to_string(),
            Event::Fatal { api, error } => std::format!("fatal {api:?} {}", error.name()),
        });
    }
    out
}

fn find_coordinator(m: &mut M, now: Duration, node: i32) {
    let sent = expect(m, now, ApiKey::FindCoordinator);
    assert_eq!(sent.node, None, "FindCoordinator goes to any broker");
    let response = FindCoordinatorResponse {
        node_id: node,
        host: "127.0.0.1",
        port: 9090 + node,
        ..Default::default()
    };
    answer(m, now, sent.id, 3, &response).unwrap();
}

fn subscription(sent: &Sent) -> (i16, ConsumerProtocolSubscription<'static>) {
    let GroupRequest::JoinGroup(r) = sent.request else {
        panic!("not a JoinGroup: {sent:?}");
    };
    let first = r.protocols.iter().next().unwrap();
    decode_subscription(first.metadata).unwrap()
}

fn owned(s: &ConsumerProtocolSubscription<'_>) -> Vec<(String, i32)> {
    let mut out: Vec<(String, i32)> = s
        .owned_partitions
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.topic.to_string(), p)))
        .collect();
    out.sort();
    out
}

fn assignment_bytes(parts: &[(&str, &[i32])]) -> Vec<u8> {
    let topics: Vec<AssignmentTopicPartition<'_>> = parts
        .iter()
        .map(|(topic, ps)| AssignmentTopicPartition {
            topic,
            partitions: Array::new(ps),
        })
        .collect();
    let a = ConsumerProtocolAssignment {
        assigned_partitions: Array::new(&topics),
        user_data: None,
    };
    let mut buf = vec![0u8; 1024];
    let mut w = Writer::new(&mut buf);
    encode_assignment(&mut w, 0, &a).unwrap();
    let n = w.position();
    buf.truncate(n);
    buf
}

fn join_ok(
    member_id: &str,
    generation: i32,
    leader: &str,
    protocol: &str,
) -> JoinGroupResponse<'static> {
    JoinGroupResponse {
        generation_id: generation,
        protocol_name: Some(std::string::String::from(protocol).leak()),
        leader: std::string::String::from(leader).leak(),
        member_id: std::string::String::from(member_id).leak(),
        ..Default::default()
    }
}

/// FindCoordinator, JoinGroup (MEMBER_ID_REQUIRED, then the real join) and
/// SyncGroup as a follower getting `parts`; then OffsetFetch answering
/// `committed` for every new partition. Returns the time reached.
fn join_follower(
    m: &mut M,
    mut now: Duration,
    generation: i32,
    protocol: &str,
    parts: &[(&str, &[i32])],
    committed: i64,
) -> Duration {
    if m.coordinator().is_none() {
        find_coordinator(m, now, 2);
    }
    let mut join = expect(m, now, ApiKey::JoinGroup);
    if m.member_id().is_empty() {
        let required = JoinGroupResponse {
            error_code: ErrorCode::MEMBER_ID_REQUIRED,
            protocol_name: Some(""),
            member_id: "m-1",
            ..Default::default()
        };
        answer(m, now, join.id, 5, &required).unwrap();
        join = expect(m, now, ApiKey::JoinGroup);
        let GroupRequest::JoinGroup(r) = join.request else {
            unreachable!()
        };
        assert_eq!(r.member_id, "m-1", "the second join carries the member id");
    }
    assert_eq!(join.node, Some(m.coordinator().unwrap()));
    now += ms(5);
    answer(
        m,
        now,
        join.id,
        5,
        &join_ok("m-1", generation, "m-0", protocol),
    )
    .unwrap();
    assert!(!m.needs_assignment());
    let sync = expect(m, now, ApiKey::SyncGroup);
    let GroupRequest::SyncGroup(r) = sync.request else {
        unreachable!()
    };
    assert_eq!((r.generation_id, r.member_id), (generation, "m-1"));
    assert!(r.assignments.is_empty(), "followers send no assignment");
    let bytes = assignment_bytes(parts);
    let response = SyncGroupResponse {
        assignment: &bytes,
        ..Default::default()
    };
    answer(m, now, sync.id, 3, &response).unwrap();
    assert!(m.is_stable());
    if let Some(fetch) = poll(m, now) {
        assert_eq!(fetch.api, ApiKey::OffsetFetch);
        answer_fetch(m, now, &fetch, committed);
    }
    now
}

/// Answers an OffsetFetch (any version) with `committed` for every partition asked.
fn answer_fetch(m: &mut M, now: Duration, fetch: &Sent, committed: i64) {
    let GroupRequest::OffsetFetch(r) = fetch.request else {
        panic!("not an OffsetFetch: {fetch:?}");
    };
    let asked: Vec<(&str, Vec<i32>)> = r
        .topics
        .unwrap()
        .iter()
        .map(|t| (t.name, t.partition_indexes.iter().collect()))
        .collect();
    let parts: Vec<Vec<OffsetFetchResponsePartition<'_>>> = asked
        .iter()
        .map(|(_, ps)| {
            ps.iter()
                .map(|&p| OffsetFetchResponsePartition {
                    partition_index: p,
                    committed_offset: committed,
                    ..Default::default()
                })
                .collect()
        })
        .collect();
    let topics: Vec<OffsetFetchResponseTopic<'_>> = asked
        .iter()
        .zip(&parts)
        .map(|((name, _), ps)| OffsetFetchResponseTopic {
            name,
            partitions: Array::new(ps),
        })
        .collect();
    let response = OffsetFetchResponse {
        topics: Array::new(&topics),
        ..Default::default()
    };
    answer(m, now, fetch.id, 5, &response).unwrap();
}

fn heartbeat(m: &mut M, now: Duration, error: ErrorCode) -> Sent {
    let hb = expect(m, now, ApiKey::Heartbeat);
    let response = HeartbeatResponse {
        error_code: error,
        ..Default::default()
    };
    answer(m, now, hb.id, 4, &response).unwrap();
    hb
}

#[test]
fn follower_joins_syncs_fetches_offsets_and_heartbeats() {
    let mut m = M::new(&config(&["t"]), ms(0)).unwrap();
    assert_eq!(m.poll_timeout(), Some(ms(0)), "the lookup is due at once");
    let now = join_follower(&mut m, ms(0), 7, "range", &[("t", &[0, 2])], 42);
    assert_eq!(
        events(&mut m),
        [
            "joined 7 leader=false",
            "assigned t-0 at Some(42)",
            "assigned t-2 at Some(42)"
        ]
    );
    assert_eq!(m.generation(), Some(7));
    assert_eq!(m.protocol(), Some("range"));
    let mut assigned: Vec<_> = m.assignment().collect();
    assigned.sort();
    assert_eq!(assigned, [("t", 0), ("t", 2)]);
    // Nothing until the heartbeat interval passed.
    assert!(poll(&mut m, now + ms(2_999)).is_none());
    assert_eq!(m.poll_timeout(), Some(now + ms(3_000)));
    let hb = heartbeat(&mut m, now + ms(3_000), ErrorCode::NONE);
    let GroupRequest::Heartbeat(r) = hb.request else {
        unreachable!()
    };
    assert_eq!((r.generation_id, r.member_id, r.group_id), (7, "m-1", "g"));
    assert_eq!(m.poll_timeout(), Some(now + ms(6_000)));
    assert!(events(&mut m).is_empty());
}

#[test]
fn nothing_committed_means_no_offset() {
    let mut m = M::new(&config(&["t"]), ms(0)).unwrap();
    join_follower(&mut m, ms(0), 1, "range", &[("t", &[1])], -1);
    assert_eq!(
        events(&mut m),
        ["joined 1 leader=false", "assigned t-1 at None"]
    );
}

#[test]
fn subscription_carries_topics_and_no_owned_partitions_at_first() {
    let mut m = M::new(&config(&["a", "b"]), ms(0)).unwrap();
    find_coordinator(&mut m, ms(0), 1);
    let join = expect(&mut m, ms(0), ApiKey::JoinGroup);
    let GroupRequest::JoinGroup(r) = join.request else {
        unreachable!()
    };
    assert_eq!(r.protocol_type, "consumer");
    assert_eq!(r.session_timeout_ms, 10_000);
    assert_eq!(r.rebalance_timeout_ms, 20_000);
    assert_eq!(r.member_id, "");
    let names: Vec<_> = r.protocols.iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        ["range", "roundrobin"],
        "kafka-go's default balancers"
    );
    let (version, s) = subscription(&join);
    assert_eq!(version, 3);
    assert_eq!(s.topics.iter().collect::<Vec<_>>(), ["a", "b"]);
    assert!(s.owned_partitions.is_empty());
    assert_eq!(s.generation_id, -1);
}

/// The errors that end a generation, from a heartbeat of a stable member
/// owning t-0 and t-1: what the application hears and what is sent next.
#[test]
fn each_rejoin_error_from_a_heartbeat() {
    struct Case {
        error: ErrorCode,
        events: &'static [&'static str],
        next: ApiKey,
        member_id: &'static str,
    }
    let cases = [
        Case {
            error: ErrorCode::REBALANCE_IN_PROGRESS,
            events: &["revoked t-0", "revoked t-1"],
            next: ApiKey::JoinGroup,
            member_id: "m-1",
        },
        Case {
            error: ErrorCode::ILLEGAL_GENERATION,
            events: &["lost t-0", "lost t-1", "error Heartbeat ILLEGAL_GENERATION"],
            next: ApiKey::JoinGroup,
            member_id: "m-1",
        },
        Case {
            error: ErrorCode::UNKNOWN_MEMBER_ID,
            events: &["lost t-0", "lost t-1", "error Heartbeat UNKNOWN_MEMBER_ID"],
            next: ApiKey::JoinGroup,
            member_id: "",
        },
        Case {
            error: ErrorCode::NOT_COORDINATOR,
            events: &["error Heartbeat NOT_COORDINATOR"],
            next: ApiKey::FindCoordinator,
            member_id: "m-1",
        },
        Case {
            error: ErrorCode::COORDINATOR_NOT_AVAILABLE,
            events: &["error Heartbeat COORDINATOR_NOT_AVAILABLE"],
            next: ApiKey::FindCoordinator,
            member_id: "m-1",
        },
        Case {
            error: ErrorCode::FENCED_INSTANCE_ID,
            events: &["lost t-0", "lost t-1", "fatal Heartbeat FENCED_INSTANCE_ID"],
            next: ApiKey::ApiVersions, // nothing
            member_id: "m-1",
        },
    ];
    for case in cases {
        let mut m = M::new(&config(&["t"]), ms(0)).unwrap();
        let now = join_follower(&mut m, ms(0), 3, "range", &[("t", &[0, 1])], 10);
        events(&mut m);
        let now = now + ms(3_000);
        heartbeat(&mut m, now, case.error);
        assert_eq!(events(&mut m), case.events, "{:?}", case.error);
        let next = poll(&mut m, now);
        if case.next == ApiKey::ApiVersions {
            assert!(next.is_none() && m.is_closed(), "{:?}", case.error);
            continue;
        }
        let next = next.unwrap();
        assert_eq!(next.api, case.next, "{:?}", case.error);
        assert_eq!(m.member_id(), case.member_id, "{:?}", case.error);
        if let GroupRequest::JoinGroup(r) = next.request {
            assert_eq!(r.member_id, case.member_id);
        }
    }
}

#[test]
fn join_and_sync_errors() {
    // COORDINATOR_LOAD_IN_PROGRESS: the join is retried after the backoff.
    let mut m = M::new(&config(&["t"]), ms(0)).unwrap();
    find_coordinator(&mut m, ms(0), 1);
    let join = expect(&mut m, ms(0), ApiKey::JoinGroup);
    let loading = JoinGroupResponse {
        error_code: ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
        protocol_name: Some(""),
        ..Default::default()
    };
    answer(&mut m, ms(0), join.id, 5, &loading).unwrap();
    assert!(poll(&mut m, ms(99)).is_none());
    assert_eq!(m.poll_timeout(), Some(ms(100)));
    let join = expect(&mut m, ms(100), ApiKey::JoinGroup);

    // NOT_COORDINATOR on the join: look it up again, then join there.
    let moved = JoinGroupResponse {
        error_code: ErrorCode::NOT_COORDINATOR,
        protocol_name: Some(""),
        ..Default::default()
    };
    answer(&mut m, ms(100), join.id, 5, &moved).unwrap();
    find_coordinator(&mut m, ms(100), 3);
    let join = expect(&mut m, ms(100), ApiKey::JoinGroup);
    assert_eq!(join.node, Some(3));

    // A sync answered with REBALANCE_IN_PROGRESS rejoins at once.
    answer(
        &mut m,
        ms(100),
        join.id,
        5,
        &join_ok("m-1", 1, "m-0", "range"),
    )
    .unwrap();
    let sync = expect(&mut m, ms(100), ApiKey::SyncGroup);
    let rebalancing = SyncGroupResponse {
        error_code: ErrorCode::REBALANCE_IN_PROGRESS,
        ..Default::default()
    };
    answer(&mut m, ms(100), sync.id, 3, &rebalancing).unwrap();
    let join = expect(&mut m, ms(100), ApiKey::JoinGroup);
    let GroupRequest::JoinGroup(r) = join.request else {
        unreachable!()
    };
    assert_eq!(r.member_id, "m-1");

    // ILLEGAL_GENERATION on the sync: the member id is kept, the generation not.
    answer(
        &mut m,
        ms(100),
        join.id,
        5,
        &join_ok("m-1", 2, "m-0", "range"),
    )
    .unwrap();
    let sync = expect(&mut m, ms(100), ApiKey::SyncGroup);
    let illegal = SyncGroupResponse {
        error_code: ErrorCode::ILLEGAL_GENERATION,
        ..Default::default()
    };
    answer(&mut m, ms(100), sync.id, 3, &illegal).unwrap();
    assert_eq!(m.generation(), None);
    assert_eq!(m.member_id(), "m-1");
    let join = expect(&mut m, ms(100), ApiKey::JoinGroup);

    // A fatal join error ends the member.
    let bad = JoinGroupResponse {
        error_code: ErrorCode::INVALID_SESSION_TIMEOUT,
        protocol_name: Some(""),
        ..Default::default()
    };
    answer(&mut m, ms(100), join.id, 5, &bad).unwrap();
    assert!(m.is_closed());
    assert!(events(&mut m).contains(&"fatal JoinGroup INVALID_SESSION_TIMEOUT".to_string()));
    assert!(poll(&mut m, ms(10_000)).is_none());
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn coordinator_move_keeps_the_membership() {
    let mut m = M::new(&config(&["t"]), ms(0)).unwrap();
    let now = join_follower(&mut m, ms(0), 4, "range", &[("t", &[0, 1])], 0);
    events(&mut m);
    assert_eq!(m.coordinator(), Some(2));
    let now = now + ms(3_000);
    heartbeat(&mut m, now, ErrorCode::NOT_COORDINATOR);
    find_coordinator(&mut m, now, 3);
    let hb = heartbeat(&mut m, now, ErrorCode::NONE);
    assert_eq!(
        hb.node,
        Some(3),
        "the heartbeat goes to the new coordinator"
    );
    let GroupRequest::Heartbeat(r) = hb.request else {
        unreachable!()
    };
    assert_eq!((r.generation_id, r.member_id), (4, "m-1"));
    assert_eq!(events(&mut m), ["error Heartbeat NOT_COORDINATOR"]);
    assert_eq!(m.assignment().count(), 2, "no partition moved");
}

#[test]
fn unanswered_requests_time_out_and_the_coordinator_is_found_again() {
    let cfg = MemberConfig {
        session_timeout: ms(100_000),
        ..config(&["t"])
    };
    let mut m = M::new(&cfg, ms(0)).unwrap();
    let now = join_follower(&mut m, ms(0), 1, "range", &[("t", &[0])], 0);
    events(&mut m);
    let hb = expect(&mut m, now + ms(3_000), ApiKey::Heartbeat);
    assert_eq!(m.poll_timeout(), Some(now + ms(3_000) + ms(30_000)));
    m.handle_timeout(now + ms(33_000));
    assert_eq!(
        expect(&mut m, now + ms(33_000), ApiKey::FindCoordinator).node,
        None
    );
    // The late answer to the abandoned heartbeat changes nothing.
    let late = HeartbeatResponse {
        error_code: ErrorCode::UNKNOWN_MEMBER_ID,
        ..Default::default()
    };
    answer(&mut m, now + ms(33_001), hb.id, 4, &late).unwrap();
    assert_eq!(m.member_id(), "m-1");
    assert_eq!(m.assignment().count(), 1);

    // A transport failure on a heartbeat does the same at once.
    let mut m = M::new(&config(&["t"]), ms(0)).unwrap();
    let now = join_follower(&mut m, ms(0), 1, "range", &[("t", &[0])], 0);
    let hb = expect(&mut m, now + ms(3_000), ApiKey::Heartbeat);
    m.handle_failure(now + ms(3_001), hb.id);
    expect(&mut m, now + ms(3_001), ApiKey::FindCoordinator);
}

#[test]
fn session_expires_without_heartbeat_answers() {
    let mut m = M::new(&config(&["t"]), ms(0)).unwrap();
    let now = join_follower(&mut m, ms(0), 1, "range", &[("t", &[0])], 0);
    for i in 1..=3 {
        heartbeat(
            &mut m,
            now + ms(3_000 * i),
            ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
        );
    }
    assert_eq!(m.poll_timeout(), Some(now + ms(10_000)));
    m.handle_timeout(now + ms(10_000));
    expect(&mut m, now + ms(10_000), ApiKey::FindCoordinator);
}

#[test]
fn leader_runs_the_assignor() {
    let mut m = M::new(&config(&["t"]), ms(0)).unwrap();
    find_coordinator(&mut m, ms(0), 1);
    let join = expect(&mut m, ms(0), ApiKey::JoinGroup);
    // Our own metadata, and another member's on topics t and u.
    let GroupRequest::JoinGroup(r) = join.request else {
        unreachable!()
    };
    let ours = r.protocols.iter().next().unwrap().metadata;
    let theirs_topics = ["t", "u"];
    let theirs = ConsumerProtocolSubscription {
        topics: Array::new(&theirs_topics),
        ..Default::default()
    };
    let mut buf = vec![0u8; 256];
    let mut w = Writer::new(&mut buf);
    encode_subscription(&mut w, 1, &theirs).unwrap();
    let n = w.position();
    let members = [
        JoinGroupResponseMember {
            member_id: "m-1",
            group_instance_id: None,
            metadata: ours,
        },
        JoinGroupResponseMember {
            member_id: "m-2",
            group_instance_id: None,
            metadata: &buf[..n],
        },
    ];
    let response = JoinGroupResponse {
        generation_id: 1,
        protocol_name: Some("range"),
        leader: "m-1",
        member_id: "m-1",
        members: Array::new(&members),
        ..Default::default()
    };
    let v = JoinGroupResponse::wire_version(5).unwrap();
    let mut body = vec![0u8; response.encoded_len(v).unwrap()];
    response.encode(&mut Writer::new(&mut body), v).unwrap();
    let received = Received {
        api: ApiKey::JoinGroup,
        version: 5,
        correlation_id: 0,
        body: &body,
    };
    m.handle_response(ms(0), join.id, &received).unwrap();
    assert!(m.needs_assignment() && m.is_leader());
    assert!(
        poll(&mut m, ms(0)).is_none(),
        "the leader's sync waits for assign"
    );

    let view = LeaderJoin::parse(&received).unwrap();
    assert_eq!(view.protocol(), "range");
    let group: Vec<GroupMember<'_>> = view.members().map(Result::unwrap).collect();
    let mut wanted: Vec<&str> = view.topics().collect();
    wanted.sort();
    wanted.dedup();
    assert_eq!(wanted, ["t", "u"]);
    let topics = [
        TopicPartitions {
            topic: "t",
            partitions: 4,
        },
        TopicPartitions {
            topic: "u",
            partitions: 2,
        },
    ];
    let mut scratch = vec![0u32; leader_scratch_len(2, 2, 6)];
    let mut out = vec![0u8; 1024];
    assert!(
        m.assign(
            ms(0),
            &group,
            &topics,
            &CooperativeSticky,
            &mut scratch,
            &mut out
        )
        .is_err(),
        "only the chosen protocol's assignor"
    );
    let mut out = vec![0u8; 1024];
    let tx = m
        .assign(ms(1), &group, &topics, &Range, &mut scratch, &mut out)
        .unwrap();
    let GroupRequest::SyncGroup(r) = tx.request else {
        panic!("{tx:?}")
    };
    assert_eq!(
        (r.generation_id, r.member_id, r.protocol_name),
        (1, "m-1", Some("range"))
    );
    let mut got: Vec<(String, String, i32)> = Vec::new();
    for a in r.assignments.iter() {
        let (_, assignment) = decode_assignment(a.assignment).unwrap();
        for tp in assignment.assigned_partitions.iter() {
            for p in tp.partitions.iter() {
                got.push((a.member_id.to_string(), tp.topic.to_string(), p));
            }
        }
    }
    got.sort();
    let expected: Vec<(String, String, i32)> = [
        ("m-1", "t", 0),
        ("m-1", "t", 1),
        ("m-2", "t", 2),
        ("m-2", "t", 3),
        ("m-2", "u", 0),
        ("m-2", "u", 1),
    ]
    .iter()
    .map(|(m, t, p)| (m.to_string(), t.to_string(), *p))
    .collect();
    assert_eq!(got, expected);
    // The SyncGroup encodes at every version (assignments converted).
    for version in SyncGroupRequest::VERSIONS.min..=SyncGroupRequest::VERSIONS.max {
        let v = SyncGroupRequest::wire_version(version).unwrap();
        let mut bytes = vec![0u8; r.encoded_len(v).unwrap()];
        r.encode(&mut Writer::new(&mut bytes), v).unwrap();
        let back = SyncGroupRequest::decode(&mut Reader::new(&bytes), v).unwrap();
        assert_eq!(back.assignments, r.assignments, "v{version}");
    }
    // Its own assignment comes back like anyone's.
    let mine = r.assignments.iter().find(|a| a.member_id == "m-1").unwrap();
    let response = SyncGroupResponse {
        assignment: mine.assignment,
        ..Default::default()
    };
    answer(&mut m, ms(2), tx.id, 3, &response).unwrap();
    assert_eq!(events(&mut m), ["joined 1 leader=true"]);
    let fetch = expect(&mut m, ms(2), ApiKey::OffsetFetch);
    answer_fetch(&mut m, ms(2), &fetch, -1);
    assert_eq!(
        events(&mut m),
        ["assigned t-0 at None", "assigned t-1 at None"]
    );
}

/// KIP-429: a cooperative member keeps consuming through the rebalance,
/// tells the leader what it owns, revokes only what moved, commits it, and
/// rejoins at once.
#[test]
fn cooperative_revokes_only_what_moves_then_rejoins() {
    let assignors: &[&dyn Assignor] = &[&CooperativeSticky];
    let cfg = MemberConfig {
        assignors,
        ..config(&["t"])
    };
    let mut m = M::new(&cfg, ms(0)).unwrap();
    assert_eq!(m.rebalance_protocol(), RebalanceProtocol::Cooperative);
    let now = join_follower(
        &mut m,
        ms(0),
        1,
        "cooperative-sticky",
        &[("t", &[0, 1, 2, 3])],
        5,
    );
    assert_eq!(events(&mut m).len(), 5);
    for p in 0..4 {
        assert!(m.stage("t", p, 10 + i64::from(p)));
    }

    // A new member joins: the heartbeat says rebalance; nothing is revoked.
    let now = now + ms(3_000);
    heartbeat(&mut m, now, ErrorCode::REBALANCE_IN_PROGRESS);
    assert!(
        events(&mut m).is_empty(),
        "cooperative: nothing revoked yet"
    );
    let join = expect(&mut m, now, ApiKey::JoinGroup);
    let (_, s) = subscription(&join);
    assert_eq!(
        owned(&s),
        [
            ("t".into(), 0),
            ("t".into(), 1),
            ("t".into(), 2),
            ("t".into(), 3)
        ]
    );
    assert_eq!(s.generation_id, 1, "owned partitions are from generation 1");
    // Still consuming meanwhile: commits go on.
    m.commit(now);
    let commit = expect(&mut m, now, ApiKey::OffsetCommit);
    answer_commit(&mut m, now, &commit, ErrorCode::NONE);
    assert_eq!(
        events(&mut m),
        [
            "committed t-0 10 NONE",
            "committed t-1 11 NONE",
            "committed t-2 12 NONE",
            "committed t-3 13 NONE"
        ]
    );

    // The new assignment keeps 0 and 1: only 2 and 3 are revoked.
    answer(
        &mut m,
        now,
        join.id,
        5,
        &join_ok("m-1", 2, "m-0", "cooperative-sticky"),
    )
    .unwrap();
    let sync = expect(&mut m, now, ApiKey::SyncGroup);
    let bytes = assignment_bytes(&[("t", &[0, 1])]);
    let response = SyncGroupResponse {
        assignment: &bytes,
        ..Default::default()
    };
    answer(&mut m, now, sync.id, 3, &response).unwrap();
    assert_eq!(
        events(&mut m),
        ["revoked t-2", "revoked t-3", "joined 2 leader=false"]
    );
    // The application stages its last position of t-2 while handling the event.
    assert!(m.stage("t", 2, 20));
    assert!(!m.stage("t", 7, 1), "not ours");
    // First the revoked partition's commit, then the follow-up join.
    let commit = expect(&mut m, now, ApiKey::OffsetCommit);
    let GroupRequest::OffsetCommit(r) = commit.request else {
        unreachable!()
    };
    assert_eq!(r.generation_id_or_member_epoch, 2);
    assert!(poll(&mut m, now).is_none(), "the join waits for the commit");
    answer_commit(&mut m, now, &commit, ErrorCode::NONE);
    assert_eq!(events(&mut m), ["committed t-2 20 NONE"]);
    let join = expect(&mut m, now, ApiKey::JoinGroup);
    let (_, s) = subscription(&join);
    assert_eq!(owned(&s), [("t".into(), 0), ("t".into(), 1)]);
    assert_eq!(s.generation_id, 2);
    assert!(
        !m.stage("t", 2, 30),
        "revoked and committed: no longer ours"
    );
    assert!(m.stage("t", 0, 30), "kept partitions are still consumed");
}

/// Answers an OffsetCommit with `error` for every partition.
fn answer_commit(m: &mut M, now: Duration, commit: &Sent, error: ErrorCode) {
    let GroupRequest::OffsetCommit(r) = commit.request else {
        panic!("not an OffsetCommit: {commit:?}");
    };
    let asked: Vec<(&str, Vec<i32>)> = r
        .topics
        .iter()
        .map(|t| {
            (
                t.name,
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    let parts: Vec<Vec<OffsetCommitResponsePartition>> = asked
        .iter()
        .map(|(_, ps)| {
            ps.iter()
                .map(|&p| OffsetCommitResponsePartition {
                    partition_index: p,
                    error_code: error,
                })
                .collect()
        })
        .collect();
    let topics: Vec<OffsetCommitResponseTopic<'_>> = asked
        .iter()
        .zip(&parts)
        .map(|((name, _), ps)| OffsetCommitResponseTopic {
            name,
            partitions: Array::new(ps),
        })
        .collect();
    let response = OffsetCommitResponse {
        topics: Array::new(&topics),
        ..Default::default()
    };
    answer(m, now, commit.id, 7, &response).unwrap();
}

#[test]
fn eager_revokes_everything_and_commits_before_rejoining() {
    let mut m = M::new(&config(&["t"]), ms(0)).unwrap();
    let now = join_follower(&mut m, ms(0), 1, "range", &[("t", &[0, 1])], 0);
    events(&mut m);
    assert!(m.stage("t", 0, 5));
    let now = now + ms(3_000);
    heartbeat(&mut m, now, ErrorCode::REBALANCE_IN_PROGRESS);
    assert!(
        poll(&mut m, now).is_none(),
        "no join before the revocation is handled"
    );
    assert_eq!(events(&mut m), ["revoked t-0", "revoked t-1"]);
    assert!(m.stage("t", 1, 9));
    let commit = expect(&mut m, now, ApiKey::OffsetCommit);
    // The subscription of the join that follows owns nothing (eager).
    answer_commit(&mut m, now, &commit, ErrorCode::NONE);
    assert_eq!(
        events(&mut m),
        ["committed t-0 5 NONE", "committed t-1 9 NONE"]
    );
    let join = expect(&mut m, now, ApiKey::JoinGroup);
    assert!(owned(&subscription(&join).1).is_empty());
}

/// A periodic commit in flight when the partitions are revoked: what the
/// application read after it is committed by a second, final commit, not
/// dropped (the next owner would read it again). Found by the fault matrix
/// (`std-net/tests/fault_matrix.rs`, members joining and leaving).
#[test]
fn a_commit_in_flight_at_revocation_is_followed_by_the_final_one() {
    let mut m = M::new(&config(&["t"]), ms(0)).unwrap();
    let now = join_follower(&mut m, ms(0), 1, "range", &[("t", &[0])], 0);
    events(&mut m);
    assert!(m.stage("t", 0, 5));
    m.commit(now);
    let periodic = expect(&mut m, now, ApiKey::OffsetCommit);
    assert!(m.stage("t", 0, 7), "read while the commit is in flight");
    let now = now + ms(3_000);
    heartbeat(&mut m, now, ErrorCode::REBALANCE_IN_PROGRESS);
    assert_eq!(events(&mut m), ["revoked t-0"]);
    assert!(m.stage("t", 0, 9), "the last position before rejoining");
    answer_commit(&mut m, now, &periodic, ErrorCode::NONE);
    assert_eq!(events(&mut m), ["committed t-0 5 NONE"]);
    let last = expect(&mut m, now, ApiKey::OffsetCommit);
    let GroupRequest::OffsetCommit(r) = last.request else {
        unreachable!()
    };
    let offsets: Vec<i64> = r
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.committed_offset))
        .collect();
    assert_eq!(offsets, [9]);
    answer_commit(&mut m, now, &last, ErrorCode::NONE);
    assert_eq!(events(&mut m), ["committed t-0 9 NONE"]);
    assert!(
        !m.stage("t", 0, 10),
        "committed after its revocation: not ours"
    );
    expect(&mut m, now, ApiKey::JoinGroup);
}

#[test]
fn commits_retry_retriable_errors_and_drop_the_rest() {
    let cfg = MemberConfig {
        commit_interval: ms(1_000),
        ..config(&["t"])
    };
    let mut m = M::new(&cfg, ms(0)).unwrap();
    let now = join_follower(&mut m, ms(0), 1, "range", &[("t", &[0, 1])], 3);
    events(&mut m);
    assert!(!m.has_uncommitted());
    assert!(m.stage("t", 0, 7));
    assert!(
        m.stage("t", 1, 3),
        "equal to the committed offset: nothing to do"
    );
    assert!(m.has_uncommitted());
    assert!(poll(&mut m, now).is_none(), "the interval has not passed");
    let commit = expect(&mut m, ms(1_000), ApiKey::OffsetCommit);
    let GroupRequest::OffsetCommit(r) = commit.request else {
        unreachable!()
    };
    let sent: Vec<(i32, i64)> = r
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| (p.partition_index, p.committed_offset))
        .collect();
    assert_eq!(sent, [(0, 7)]);
    answer_commit(&mut m, ms(1_000), &commit, ErrorCode::REBALANCE_IN_PROGRESS);
    assert_eq!(events(&mut m), ["error OffsetCommit REBALANCE_IN_PROGRESS"]);
    assert_eq!(
        m.poll_timeout(),
        Some(ms(1_100)),
        "retried after the backoff"
    );
    let commit = expect(&mut m, ms(1_100), ApiKey::OffsetCommit);
    answer_commit(&mut m, ms(1_100), &commit, ErrorCode::NONE);
    assert_eq!(events(&mut m), ["committed t-0 7 NONE"]);
    assert_eq!(m.committed("t", 0), Some(7));
    assert!(!m.has_uncommitted());

    assert!(m.stage("t", 0, 8));
    m.commit(ms(1_200));
    let commit = expect(&mut m, ms(1_200), ApiKey::OffsetCommit);
    answer_commit(
        &mut m,
        ms(1_200),
        &commit,
        ErrorCode::OFFSET_METADATA_TOO_LARGE,
    );
    assert_eq!(
        events(&mut m),
        ["committed t-0 8 OFFSET_METADATA_TOO_LARGE"]
    );
    assert!(!m.has_uncommitted(), "a permanent failure is not retried");
}

#[test]
fn every_request_encodes_at_every_version() {
    fn check<'x, R: Request<'x> + PartialEq>(r: &R) {
        for version in R::VERSIONS.min..=R::VERSIONS.max {
            let v = R::wire_version(version).unwrap();
            let mut bytes = vec![0u8; r.encoded_len(v).unwrap()];
            r.encode(&mut Writer::new(&mut bytes), v).unwrap();
            // What decodes must encode to the same bytes again.
            let bytes: &'static [u8] = bytes.leak();
            let back = R::decode(&mut Reader::new(bytes), v);
            assert!(back.is_ok(), "{:?} v{version}", R::API_KEY);
        }
    }
    let mut m = M::new(
        &MemberConfig {
            group_instance_id: Some("i-1"),
            ..config(&["t", "u"])
        },
        ms(0),
    )
    .unwrap();
    let find = expect(&mut m, ms(0), ApiKey::FindCoordinator);
    let GroupRequest::FindCoordinator(r) = find.request else {
        unreachable!()
    };
    check(&r);
    assert_eq!(r.coordinator_keys.iter().collect::<Vec<_>>(), ["g"]);
    answer(
        &mut m,
        ms(0),
        find.id,
        3,
        &FindCoordinatorResponse::default(),
    )
    .unwrap();
    let now = join_follower(
        &mut m,
        ms(0),
        1,
        "range",
        &[("t", &[0]), ("u", &[1, 2])],
        -1,
    );
    events(&mut m);
    assert!(m.stage("u", 2, 4));
    m.commit(now);
    let commit = expect(&mut m, now, ApiKey::OffsetCommit);
    let GroupRequest::OffsetCommit(r) = commit.request else {
        unreachable!()
    };
    check(&r);
    assert_eq!(r.group_instance_id, Some("i-1"));
    let hb = expect(&mut m, now + ms(3_000), ApiKey::Heartbeat);
    let GroupRequest::Heartbeat(r) = hb.request else {
        unreachable!()
    };
    check(&r);
    m.handle_failure(now + ms(3_000), hb.id);
    find_coordinator(&mut m, now + ms(3_000), 1);
    let hb = expect(&mut m, now + ms(6_000), ApiKey::Heartbeat);
    m.handle_failure(now + ms(6_000), hb.id);
    find_coordinator(&mut m, now + ms(6_000), 1);
    heartbeat(&mut m, now + ms(6_000), ErrorCode::REBALANCE_IN_PROGRESS);
    events(&mut m);
    // The commit that was cut off goes again before the rejoin.
    let commit = expect(&mut m, now + ms(6_000), ApiKey::OffsetCommit);
    answer_commit(&mut m, now + ms(6_000), &commit, ErrorCode::NONE);
    events(&mut m);
    let join = expect(&mut m, now + ms(6_000), ApiKey::JoinGroup);
    let GroupRequest::JoinGroup(r) = join.request else {
        unreachable!()
    };
    check(&r);
    assert_eq!(r.group_instance_id, Some("i-1"));
    answer(&mut m, now, join.id, 5, &join_ok("m-1", 2, "m-0", "range")).unwrap();
    let sync = expect(&mut m, now, ApiKey::SyncGroup);
    let GroupRequest::SyncGroup(r) = sync.request else {
        unreachable!()
    };
    check(&r);
    let bytes = assignment_bytes(&[("t", &[3]), ("u", &[0])]);
    let response = SyncGroupResponse {
        assignment: &bytes,
        ..Default::default()
    };
    answer(&mut m, now, sync.id, 3, &response).unwrap();
    let fetch = expect(&mut m, now, ApiKey::OffsetFetch);
    let GroupRequest::OffsetFetch(r) = fetch.request else {
        unreachable!()
    };
    check(&r);
    let groups: Vec<_> = r.groups.iter().collect();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].group_id, "g");
    let v8: Vec<(&str, Vec<i32>)> = groups[0]
        .topics
        .unwrap()
        .iter()
        .map(|t| (t.name, t.partition_indexes.iter().collect()))
        .collect();
    assert_eq!(v8, [("t", vec![3]), ("u", vec![0])]);
}

#[test]
fn offset_fetch_v8_answers_by_group() {
    let mut m = M::new(&config(&["t"]), ms(0)).unwrap();
    find_coordinator(&mut m, ms(0), 1);
    let join = expect(&mut m, ms(0), ApiKey::JoinGroup);
    answer(
        &mut m,
        ms(0),
        join.id,
        5,
        &join_ok("m-1", 1, "m-0", "range"),
    )
    .unwrap();
    let sync = expect(&mut m, ms(0), ApiKey::SyncGroup);
    let bytes = assignment_bytes(&[("t", &[0])]);
    let response = SyncGroupResponse {
        assignment: &bytes,
        ..Default::default()
    };
    answer(&mut m, ms(0), sync.id, 3, &response).unwrap();
    let fetch = expect(&mut m, ms(0), ApiKey::OffsetFetch);
    let partitions = [OffsetFetchResponsePartitions {
        partition_index: 0,
        committed_offset: 99,
        ..Default::default()
    }];
    let topics = [OffsetFetchResponseTopics {
        name: "t",
        partitions: Array::new(&partitions),
    }];
    let groups = [OffsetFetchResponseGroup {
        group_id: "g",
        topics: Array::new(&topics),
        error_code: ErrorCode::NONE,
    }];
    let response = OffsetFetchResponse {
        groups: Array::new(&groups),
        ..Default::default()
    };
    answer(&mut m, ms(0), fetch.id, 8, &response).unwrap();
    assert_eq!(
        events(&mut m),
        ["joined 1 leader=false", "assigned t-0 at Some(99)"]
    );
}

#[test]
fn leaving_revokes_commits_and_says_goodbye() {
    let mut m = M::new(&config(&["t"]), ms(0)).unwrap();
    let now = join_follower(&mut m, ms(0), 1, "range", &[("t", &[0])], 0);
    events(&mut m);
    m.leave(now);
    assert_eq!(events(&mut m), ["revoked t-0"]);
    assert!(m.stage("t", 0, 3));
    let commit = expect(&mut m, now, ApiKey::OffsetCommit);
    assert!(poll(&mut m, now).is_none(), "LeaveGroup after the commit");
    answer_commit(&mut m, now, &commit, ErrorCode::NONE);
    assert_eq!(events(&mut m), ["committed t-0 3 NONE"]);
    let leave = expect(&mut m, now, ApiKey::LeaveGroup);
    let GroupRequest::LeaveGroup(r) = leave.request else {
        unreachable!()
    };
    assert_eq!(r.member_id, "m-1");
    assert_eq!(r.members.iter().next().unwrap().member_id, "m-1");
    answer(&mut m, now, leave.id, 3, &LeaveGroupResponse::default()).unwrap();
    assert_eq!(events(&mut m), ["left"]);
    assert!(m.is_closed());

    // A static member commits but does not leave: its partitions wait for it.
    let cfg = MemberConfig {
        group_instance_id: Some("box-7"),
        ..config(&["t"])
    };
    let mut m = M::new(&cfg, ms(0)).unwrap();
    find_coordinator(&mut m, ms(0), 1);
    let join = expect(&mut m, ms(0), ApiKey::JoinGroup);
    let GroupRequest::JoinGroup(r) = join.request else {
        unreachable!()
    };
    assert_eq!(r.group_instance_id, Some("box-7"));
    answer(
        &mut m,
        ms(0),
        join.id,
        5,
        &join_ok("box-7-x", 1, "m-0", "range"),
    )
    .unwrap();
    let sync = expect(&mut m, ms(0), ApiKey::SyncGroup);
    answer(&mut m, ms(0), sync.id, 3, &SyncGroupResponse::default()).unwrap();
    events(&mut m);
    m.leave(ms(1));
    assert!(poll(&mut m, ms(1)).is_none());
    assert_eq!(events(&mut m), ["left"]);
}

#[test]
fn an_assignment_too_large_leaves_the_group() {
    let mut m = Member::<1, 2>::new(&config(&["t"]), ms(0)).unwrap();
    let mut buf = vec![0u8; m.transmit_buf_len()];
    let tx = m.poll_transmit(ms(0), &mut buf).unwrap().unwrap();
    let response = FindCoordinatorResponse {
        node_id: 1,
        host: "h",
        port: 1,
        ..Default::default()
    };
    let v = FindCoordinatorResponse::wire_version(3).unwrap();
    let mut body = vec![0u8; response.encoded_len(v).unwrap()];
    response.encode(&mut Writer::new(&mut body), v).unwrap();
    let id = tx.id;
    m.handle_response(
        ms(0),
        id,
        &Received {
            api: ApiKey::FindCoordinator,
            version: 3,
            correlation_id: 0,
            body: &body,
        },
    )
    .unwrap();
    let tx = m.poll_transmit(ms(0), &mut buf).unwrap().unwrap();
    let id = tx.id;
    let join = join_ok("m-1", 1, "m-0", "range");
    let v = JoinGroupResponse::wire_version(5).unwrap();
    let mut body = vec![0u8; join.encoded_len(v).unwrap()];
    join.encode(&mut Writer::new(&mut body), v).unwrap();
    m.handle_response(
        ms(0),
        id,
        &Received {
            api: ApiKey::JoinGroup,
            version: 5,
            correlation_id: 0,
            body: &body,
        },
    )
    .unwrap();
    let tx = m.poll_transmit(ms(0), &mut buf).unwrap().unwrap();
    let id = tx.id;
    let bytes = assignment_bytes(&[("t", &[0, 1, 2])]);
    let sync = SyncGroupResponse {
        assignment: &bytes,
        ..Default::default()
    };
    let v = SyncGroupResponse::wire_version(3).unwrap();
    let mut body = vec![0u8; sync.encoded_len(v).unwrap()];
    sync.encode(&mut Writer::new(&mut body), v).unwrap();
    let e = m.handle_response(
        ms(0),
        id,
        &Received {
            api: ApiKey::SyncGroup,
            version: 3,
            correlation_id: 0,
            body: &body,
        },
    );
    assert!(matches!(e, Err(Error::TooLarge { .. })), "{e:?}");
    let tx = m.poll_transmit(ms(0), &mut buf).unwrap().unwrap();
    assert_eq!(tx.request.api(), ApiKey::LeaveGroup);
}

#[test]
fn config_limits_are_explicit() {
    assert!(M::new(&MemberConfig::new("", &["t"]), ms(0)).is_err());
    assert!(M::new(&MemberConfig::new("g", &[]), ms(0)).is_err());
    assert!(M::new(&MemberConfig::new("g", &["a", "b", "c"]), ms(0)).is_err());
    assert!(M::new(&MemberConfig::new("g", &["a", "a"]), ms(0)).is_err());
    let long = "x".repeat(250);
    assert!(M::new(&MemberConfig::new("g", &[&long]), ms(0)).is_err());
    let none: &[&dyn Assignor] = &[];
    assert!(M::new(
        &MemberConfig {
            assignors: none,
            ..MemberConfig::new("g", &["t"])
        },
        ms(0)
    )
    .is_err());
    let mixed: &[&dyn Assignor] = &[&CooperativeSticky, &Range];
    let m = M::new(
        &MemberConfig {
            assignors: mixed,
            ..MemberConfig::new("g", &["t"])
        },
        ms(0),
    )
    .unwrap();
    assert_eq!(
        m.rebalance_protocol(),
        RebalanceProtocol::Eager,
        "cooperative only when every assignor is (Java's rule)"
    );
}

#[test]
fn a_small_buffer_changes_nothing() {
    let mut m = M::new(&config(&["t"]), ms(0)).unwrap();
    let mut tiny = [0u8; 2];
    assert_eq!(
        m.poll_transmit(ms(0), &mut tiny).unwrap_err(),
        Error::BufferTooSmall
    );
    expect(&mut m, ms(0), ApiKey::FindCoordinator);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever bytes come back, at whatever point, the member never panics.
    #[test]
    fn hostile_answers_never_panic(
        seed in any::<u64>(),
        noise in proptest::collection::vec(any::<u8>(), 0..128),
        version in 0i16..10,
    ) {
        let assignors: &[&dyn Assignor] = &[&CooperativeSticky];
        let cfg = MemberConfig { assignors, ..config(&["t"]) };
        let mut m = M::new(&cfg, ms(0)).unwrap();
        let _ = join_follower(&mut m, ms(0), 1, "cooperative-sticky", &[("t", &[0, 1])], 0);
        let mut now = ms(0);
        for i in 0..6u64 {
            now += ms(3_000);
            events(&mut m);
            let _ = m.stage("t", 0, i as i64);
            m.commit(now);
            let Some(sent) = poll(&mut m, now) else { continue };
            let mut body = noise.clone();
            if !body.is_empty() {
                let at = (seed.wrapping_add(i) % body.len() as u64) as usize;
                body[at] ^= 0x5a;
            }
            let received = Received { api: sent.api, version, correlation_id: 0, body: &body };
            let _ = m.handle_response(now, sent.id, &received);
            m.handle_timeout(now);
            let _ = m.poll_timeout();
        }
    }
}

#[test]
fn huge_durations_saturate() {
    let cfg = MemberConfig {
        session_timeout: Duration::MAX,
        rebalance_timeout: Duration::MAX,
        heartbeat_interval: Duration::MAX,
        commit_interval: Duration::MAX,
        request_timeout: Duration::MAX,
        ..MemberConfig::new("g", &["t"])
    };
    let mut m = M::new(&cfg, ms(5)).unwrap();
    let now = join_follower(&mut m, ms(5), 1, "range", &[("t", &[0])], 0);
    m.handle_timeout(now);
    assert!(m.poll_timeout().is_some());
    assert!(poll(&mut m, now).is_none());
}

/// A coordinator whose JoinGroup answers cannot be read (or never come):
/// the member finds the coordinator again at once, but joins again only
/// after a growing backoff, not at every round trip (it re-sent
/// FindCoordinator and JoinGroup about every 50 ms with no backoff).
#[test]
fn unreadable_join_answers_back_off() {
    let topics = ["t"];
    let mut m = M::new(&config(&topics), ms(0)).unwrap();
    let mut now = ms(0);
    let mut joins = Vec::new();
    for round in 0..6 {
        find_coordinator(&mut m, now, 1);
        // The join is due now or later: step time until it is sent.
        let join = loop {
            match poll(&mut m, now) {
                Some(sent) => break sent,
                None => now += ms(10),
            }
        };
        assert_eq!(join.api, ApiKey::JoinGroup, "round {round}");
        joins.push(now);
        // An answer that does not decode as a JoinGroup response.
        let bad = Received {
            api: ApiKey::JoinGroup,
            version: 5,
            correlation_id: 0,
            body: &[0xff],
        };
        assert!(m.handle_response(now, join.id, &bad).is_err());
    }
    let gaps: Vec<u64> = joins
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis() as u64)
        .collect();
    // Backoff::default(): 100 ms doubling to 1 s (10 ms steps of the test clock).
    assert!(gaps[0] >= 100, "{gaps:?}");
    assert!(gaps.windows(2).all(|w| w[1] >= w[0]), "{gaps:?}");
    assert!(*gaps.last().unwrap() >= 800, "{gaps:?}");
}

/// `require_stable` (read_committed consumers, as Java's): OffsetFetch asks
/// for stable offsets; a partition whose offset an open transaction is
/// committing (`UNSTABLE_OFFSET_COMMIT`) is not started from its older
/// offset but asked again after the backoff.
#[test]
fn require_stable_asks_again_after_an_unstable_offset() {
    let cfg = MemberConfig {
        require_stable: true,
        ..config(&["t"])
    };
    let mut m = M::new(&cfg, ms(0)).unwrap();
    find_coordinator(&mut m, ms(0), 2);
    let join = expect(&mut m, ms(0), ApiKey::JoinGroup);
    answer(
        &mut m,
        ms(0),
        join.id,
        5,
        &join_ok("m-1", 3, "m-0", "range"),
    )
    .unwrap();
    let sync = expect(&mut m, ms(0), ApiKey::SyncGroup);
    let bytes = assignment_bytes(&[("t", &[0])]);
    let response = SyncGroupResponse {
        assignment: &bytes,
        ..Default::default()
    };
    answer(&mut m, ms(0), sync.id, 3, &response).unwrap();
    let fetch = expect(&mut m, ms(0), ApiKey::OffsetFetch);
    let GroupRequest::OffsetFetch(r) = fetch.request else {
        unreachable!()
    };
    assert!(r.require_stable, "read_committed asks for stable offsets");
    let partitions = [OffsetFetchResponsePartition {
        partition_index: 0,
        committed_offset: 10,
        error_code: ErrorCode::UNSTABLE_OFFSET_COMMIT,
        ..Default::default()
    }];
    let topics = [OffsetFetchResponseTopic {
        name: "t",
        partitions: Array::new(&partitions),
    }];
    let unstable = OffsetFetchResponse {
        topics: Array::new(&topics),
        ..Default::default()
    };
    answer(&mut m, ms(0), fetch.id, 5, &unstable).unwrap();
    let heard = events(&mut m);
    assert!(
        !heard.iter().any(|e| e.starts_with("assigned")),
        "not started from the older offset: {heard:?}"
    );
    // Asked again after the backoff (heartbeats may come first).
    let mut now = ms(0);
    let again = loop {
        now += ms(50);
        assert!(now < ms(5_000), "OffsetFetch not sent again");
        match poll(&mut m, now) {
            Some(s) if s.api == ApiKey::OffsetFetch => break s,
            Some(s) if s.api == ApiKey::Heartbeat => {
                let ok = HeartbeatResponse::default();
                answer(&mut m, now, s.id, 4, &ok).unwrap();
            }
            Some(s) => panic!("unexpected {s:?}"),
            None => {}
        }
    };
    answer_fetch(&mut m, now, &again, 12);
    assert!(events(&mut m).contains(&"assigned t-0 at Some(12)".to_string()));
}

/// Without `require_stable` (read_uncommitted) OffsetFetch does not ask.
#[test]
fn offsets_are_fetched_unstable_by_default() {
    let mut m = M::new(&config(&["t"]), ms(0)).unwrap();
    find_coordinator(&mut m, ms(0), 2);
    let join = expect(&mut m, ms(0), ApiKey::JoinGroup);
    answer(
        &mut m,
        ms(0),
        join.id,
        5,
        &join_ok("m-1", 3, "m-0", "range"),
    )
    .unwrap();
    let sync = expect(&mut m, ms(0), ApiKey::SyncGroup);
    let bytes = assignment_bytes(&[("t", &[0])]);
    let response = SyncGroupResponse {
        assignment: &bytes,
        ..Default::default()
    };
    answer(&mut m, ms(0), sync.id, 3, &response).unwrap();
    let fetch = expect(&mut m, ms(0), ApiKey::OffsetFetch);
    let GroupRequest::OffsetFetch(r) = fetch.request else {
        unreachable!()
    };
    assert!(!r.require_stable);
}
