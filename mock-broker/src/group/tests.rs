//! The group coordinator driven without sockets, on a fake clock.

use std::time::{Duration, Instant};

use microkafka_core::ErrorCode;

use super::*;

const SESSION_MS: i32 = 10_000;
const REBALANCE_MS: i32 = 30_000;

struct Harness {
    groups: Groups,
    ids: Ids,
    now: Instant,
    seq: u64,
}

impl Harness {
    fn new() -> Self {
        Harness {
            groups: Groups::new(GroupLimits {
                min_session_timeout: Duration::from_millis(1),
                max_session_timeout: Duration::from_secs(300),
                initial_rebalance_delay: Duration::ZERO,
                ..GroupLimits::of(&crate::Config::default())
            }),
            ids: Ids::new(Some(7)),
            now: Instant::now(),
            seq: 0,
        }
    }

    fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.groups.handle_timeout(self.now, &mut self.ids);
    }

    fn reply_to(&mut self) -> ReplyTo {
        self.seq += 1;
        ReplyTo {
            conn: 1,
            seq: self.seq,
            correlation_id: self.seq as i32,
            version: 5,
        }
    }

    /// Sends a JoinGroup (v5 rules: member id required first); returns its
    /// sequence number.
    fn join(&mut self, member: &str, instance: Option<&str>, metadata: &[u8]) -> u64 {
        let req = JoinRequest {
            group_id: "g",
            member_id: member,
            instance_id: instance,
            session_timeout_ms: SESSION_MS,
            rebalance_timeout_ms: REBALANCE_MS,
            protocol_type: "consumer",
            protocols: vec![("range", metadata), ("roundrobin", metadata)],
            client_id: "test",
            client_host: "/127.0.0.1",
            require_known_member_id: true,
            supports_skip_assignment: false,
        };
        let to = self.reply_to();
        self.groups.join(&req, to, &mut self.ids, self.now);
        to.seq
    }

    fn sync(&mut self, member: &str, generation: i32, assignments: &[(&str, &[u8])]) -> u64 {
        let req = SyncRequest {
            group_id: "g",
            generation,
            member_id: member,
            instance_id: None,
            protocol_type: Some("consumer"),
            protocol_name: None,
            assignments: assignments.to_vec(),
        };
        let to = self.reply_to();
        self.groups.sync(&req, to, &mut self.ids, self.now);
        to.seq
    }

    fn heartbeat(&mut self, member: &str, generation: i32) -> ErrorCode {
        self.groups
            .heartbeat("g", generation, member, None, &mut self.ids, self.now)
    }

    /// The replies ready now, by request sequence number.
    fn replies(&mut self) -> Vec<(u64, GroupReply)> {
        self.groups
            .take_replies()
            .into_iter()
            .map(|(to, r)| (to.seq, r))
            .collect()
    }

    fn join_reply(&mut self, seq: u64) -> JoinResult {
        let replies = self.replies();
        match replies.into_iter().find(|(s, _)| *s == seq) {
            Some((_, GroupReply::Join(r))) => r,
            other => panic!("no join reply for {seq}: {other:?}"),
        }
    }

    /// Joins a new member through both steps; returns its join sequence number and member id.
    fn join_new(&mut self, metadata: &[u8]) -> (u64, String) {
        let first = self.join("", None, metadata);
        let r = self.join_reply(first);
        assert_eq!(r.error, ErrorCode::MEMBER_ID_REQUIRED);
        assert!(r.member_id.starts_with("test-"));
        let seq = self.join(&r.member_id, None, metadata);
        (seq, r.member_id)
    }

    fn state(&self) -> GroupState {
        self.groups.get("g").unwrap().state
    }
}

#[test]
fn two_step_join_elects_a_leader_and_syncs() {
    let mut h = Harness::new();
    let (seq, a) = h.join_new(b"meta-a");
    let r = h.join_reply(seq);
    assert_eq!(r.error, ErrorCode::NONE);
    assert_eq!(
        (r.generation, r.leader.as_str(), r.member_id.as_str()),
        (1, a.as_str(), a.as_str())
    );
    assert_eq!(r.protocol_name.as_deref(), Some("range"));
    assert_eq!(r.members, [(a.clone(), None, b"meta-a".to_vec())]);
    assert_eq!(h.state(), GroupState::CompletingRebalance);
    let s = h.sync(&a, 1, &[(&a, b"assign-a")]);
    assert_eq!(
        h.replies(),
        [(
            s,
            GroupReply::Sync(SyncResult {
                error: ErrorCode::NONE,
                protocol_type: Some("consumer".into()),
                protocol_name: Some("range".into()),
                assignment: b"assign-a".to_vec(),
            })
        )]
    );
    assert_eq!(h.state(), GroupState::Stable);
    assert_eq!(h.heartbeat(&a, 1), ErrorCode::NONE);
}

/// Joins A, then B, and completes the rebalance to generation 2 (A leads).
fn two_members(h: &mut Harness) -> (String, String) {
    let (seq, a) = h.join_new(b"a");
    h.join_reply(seq);
    let s = h.sync(&a, 1, &[(&a, b"0-5")]);
    assert!(matches!(&h.replies()[..], [(x, GroupReply::Sync(_))] if *x == s));
    let (b_join, b) = h.join_new(b"b");
    assert!(h.replies().is_empty(), "B waits for A to rejoin");
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    assert_eq!(h.heartbeat(&a, 1), ErrorCode::REBALANCE_IN_PROGRESS);
    let a_join = h.join(&a, None, b"a");
    let replies = h.replies();
    assert_eq!(replies.len(), 2);
    for (seq, reply) in replies {
        let GroupReply::Join(r) = reply else { panic!() };
        assert_eq!(
            (r.error, r.generation, r.leader.as_str()),
            (ErrorCode::NONE, 2, a.as_str())
        );
        if seq == a_join {
            let ids: Vec<&str> = r.members.iter().map(|(id, _, _)| id.as_str()).collect();
            assert_eq!(
                ids,
                [a.as_str(), b.as_str()],
                "the leader gets every member"
            );
        } else {
            assert_eq!(seq, b_join);
            assert!(r.members.is_empty(), "followers get no member list");
        }
    }
    // The follower asks first and waits for the leader's assignment.
    let b_sync = h.sync(&b, 2, &[]);
    assert!(h.replies().is_empty());
    let a_sync = h.sync(&a, 2, &[(&a, b"0-2"), (&b, b"3-5")]);
    let mut got: Vec<(u64, Vec<u8>)> = h
        .replies()
        .into_iter()
        .map(|(s, r)| match r {
            GroupReply::Sync(r) => (s, r.assignment),
            GroupReply::Join(_) => panic!(),
        })
        .collect();
    got.sort();
    assert_eq!(got, [(b_sync, b"3-5".to_vec()), (a_sync, b"0-2".to_vec())]);
    assert_eq!(h.state(), GroupState::Stable);
    (a, b)
}

#[test]
fn a_second_member_triggers_a_rebalance() {
    let mut h = Harness::new();
    let (a, b) = two_members(&mut h);
    assert_eq!(h.heartbeat(&a, 2), ErrorCode::NONE);
    assert_eq!(h.heartbeat(&b, 1), ErrorCode::ILLEGAL_GENERATION);
    assert_eq!(h.heartbeat("nobody", 2), ErrorCode::UNKNOWN_MEMBER_ID);
    // Stable: a follower rejoining unchanged gets the current generation back.
    let again = h.join(&b, None, b"b");
    let r = h.join_reply(again);
    assert_eq!((r.error, r.generation), (ErrorCode::NONE, 2));
    assert_eq!(h.state(), GroupState::Stable);
}

#[test]
fn a_member_missing_its_session_timeout_is_evicted() {
    let mut h = Harness::new();
    let (a, b) = two_members(&mut h);
    // A keeps heartbeating, B goes silent.
    for _ in 0..3 {
        h.advance(4_000);
        if h.state() == GroupState::Stable {
            assert_eq!(h.heartbeat(&a, 2), ErrorCode::NONE);
        }
    }
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    assert_eq!(h.heartbeat(&b, 2), ErrorCode::UNKNOWN_MEMBER_ID);
    assert_eq!(h.heartbeat(&a, 2), ErrorCode::REBALANCE_IN_PROGRESS);
    let seq = h.join(&a, None, b"a");
    let r = h.join_reply(seq);
    assert_eq!((r.generation, r.members.len()), (3, 1));
}

#[test]
fn members_that_do_not_rejoin_in_time_are_dropped() {
    let mut h = Harness::new();
    let (a, b) = two_members(&mut h);
    // B changes its subscription: rebalance; A keeps heartbeating but never rejoins.
    let seq = h.join(&b, None, b"b2");
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    for _ in 0..5 {
        h.advance(5_000);
        assert_eq!(h.heartbeat(&a, 2), ErrorCode::REBALANCE_IN_PROGRESS);
    }
    h.advance(REBALANCE_MS as u64 - 25_001);
    assert!(h.replies().is_empty());
    h.advance(1);
    let r = h.join_reply(seq);
    assert_eq!(
        (r.generation, r.leader.as_str()),
        (3, b.as_str()),
        "B leads what is left"
    );
    assert_eq!(r.members, [(b.clone(), None, b"b2".to_vec())]);
    assert_eq!(h.heartbeat(&a, 2), ErrorCode::UNKNOWN_MEMBER_ID);
}

#[test]
fn leaving_rebalances_the_rest() {
    let mut h = Harness::new();
    let (a, b) = two_members(&mut h);
    let left = h.groups.leave(
        "g",
        &[LeaveMember {
            member_id: &a,
            instance_id: None,
        }],
        &mut h.ids,
        h.now,
    );
    assert_eq!(left, Ok(vec![ErrorCode::NONE]));
    assert_eq!(h.heartbeat(&b, 2), ErrorCode::REBALANCE_IN_PROGRESS);
    let seq = h.join(&b, None, b"b");
    let r = h.join_reply(seq);
    assert_eq!((r.generation, r.leader.as_str()), (3, b.as_str()));
    let left = h.groups.leave(
        "g",
        &[LeaveMember {
            member_id: &b,
            instance_id: None,
        }],
        &mut h.ids,
        h.now,
    );
    assert_eq!(left, Ok(vec![ErrorCode::NONE]));
    assert_eq!(h.state(), GroupState::Empty);
    assert_eq!(
        h.groups.leave(
            "g",
            &[LeaveMember {
                member_id: &b,
                instance_id: None
            }],
            &mut h.ids,
            h.now
        ),
        Ok(vec![ErrorCode::UNKNOWN_MEMBER_ID])
    );
    // An unknown group: each member is unknown, the request itself fine (as Kafka).
    let nobody = [LeaveMember {
        member_id: "m",
        instance_id: None,
    }];
    assert_eq!(
        h.groups.leave("nope", &nobody, &mut h.ids, h.now),
        Ok(vec![ErrorCode::UNKNOWN_MEMBER_ID])
    );
}

#[test]
fn sync_checks_generation_and_state() {
    let mut h = Harness::new();
    let (a, b) = two_members(&mut h);
    let s = h.sync(&b, 1, &[]);
    let replies = h.replies();
    assert!(
        matches!(&replies[..], [(x, GroupReply::Sync(r))] if *x == s && r.error == ErrorCode::ILLEGAL_GENERATION)
    );
    // A rejoins (leader asks to reassign): B's sync during the rebalance is refused.
    h.join(&a, None, b"a");
    let s = h.sync(&b, 2, &[]);
    let replies = h.replies();
    assert!(
        matches!(&replies[..], [(x, GroupReply::Sync(r))] if *x == s && r.error == ErrorCode::REBALANCE_IN_PROGRESS)
    );
}

#[test]
fn static_member_restart_keeps_the_assignment_without_rebalance() {
    let mut h = Harness::new();
    // Static members join in one step.
    let seq = h.join("", Some("pod-1"), b"s");
    let r = h.join_reply(seq);
    assert_eq!((r.error, r.generation), (ErrorCode::NONE, 1));
    let old = r.member_id.clone();
    assert!(old.starts_with("pod-1-"));
    h.sync(&old, 1, &[(&old, b"all")]);
    h.replies();
    assert_eq!(h.state(), GroupState::Stable);
    // The process restarts: same instance id, no member id.
    let seq = h.join("", Some("pod-1"), b"s");
    let r = h.join_reply(seq);
    assert_eq!(r.error, ErrorCode::NONE);
    assert_eq!(r.generation, 1, "no rebalance");
    assert_ne!(r.member_id, old);
    assert_eq!(
        r.leader, old,
        "a leader that cannot skip the assignment is told the old id"
    );
    assert_eq!(h.state(), GroupState::Stable);
    let fenced = h
        .groups
        .heartbeat("g", 1, &old, Some("pod-1"), &mut h.ids, h.now);
    assert_eq!(fenced, ErrorCode::FENCED_INSTANCE_ID);
    let ok = h
        .groups
        .heartbeat("g", 1, &r.member_id, Some("pod-1"), &mut h.ids, h.now);
    assert_eq!(ok, ErrorCode::NONE);
    // Its assignment survived.
    let s = h.sync(&r.member_id, 1, &[]);
    let replies = h.replies();
    assert!(
        matches!(&replies[..], [(x, GroupReply::Sync(sr))] if *x == s && sr.assignment == b"all")
    );
}

#[test]
fn old_join_versions_join_in_one_step_and_protocols_must_match() {
    let mut h = Harness::new();
    let mut req = JoinRequest {
        group_id: "g",
        member_id: "",
        instance_id: None,
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: -1,
        protocol_type: "consumer",
        protocols: vec![("range", b"m")],
        client_id: "old",
        client_host: "/127.0.0.1",
        require_known_member_id: false,
        supports_skip_assignment: false,
    };
    let to = h.reply_to();
    h.groups.join(&req, to, &mut h.ids, h.now);
    let r = h.join_reply(to.seq);
    assert_eq!((r.error, r.generation), (ErrorCode::NONE, 1));
    req.protocol_type = "connect";
    let to = h.reply_to();
    h.groups.join(&req, to, &mut h.ids, h.now);
    assert_eq!(
        h.join_reply(to.seq).error,
        ErrorCode::INCONSISTENT_GROUP_PROTOCOL
    );
    req.protocol_type = "consumer";
    req.protocols = vec![("sticky", b"m")];
    let to = h.reply_to();
    h.groups.join(&req, to, &mut h.ids, h.now);
    assert_eq!(
        h.join_reply(to.seq).error,
        ErrorCode::INCONSISTENT_GROUP_PROTOCOL
    );
    req.session_timeout_ms = 0;
    let to = h.reply_to();
    h.groups.join(&req, to, &mut h.ids, h.now);
    assert_eq!(
        h.join_reply(to.seq).error,
        ErrorCode::INVALID_SESSION_TIMEOUT
    );
}

#[test]
fn protocol_vote_follows_member_preferences() {
    let mut h = Harness::new();
    let (a_seq, a) = h.join_new(b"x");
    h.join_reply(a_seq);
    h.sync(&a, 1, &[]);
    h.replies();
    // B prefers roundrobin; A prefers range; with a tie the first member's choice wins.
    let req = JoinRequest {
        group_id: "g",
        member_id: "",
        instance_id: Some("b"),
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: REBALANCE_MS,
        protocol_type: "consumer",
        protocols: vec![("roundrobin", b"y"), ("range", b"y")],
        client_id: "test",
        client_host: "/127.0.0.1",
        require_known_member_id: true,
        supports_skip_assignment: false,
    };
    let to = h.reply_to();
    h.groups.join(&req, to, &mut h.ids, h.now);
    let a_again = h.join(&a, None, b"x");
    let r = h.join_reply(a_again);
    assert_eq!(r.protocol_name.as_deref(), Some("range"));
    assert_eq!(
        r.members[1].1.as_deref(),
        Some("b"),
        "static ids go to the leader"
    );
}

#[test]
fn offset_commits_respect_membership() {
    let mut h = Harness::new();
    let simple = Commit {
        group_id: "solo",
        generation: -1,
        member_id: "",
        instance_id: None,
    };
    assert_eq!(h.groups.check_commit(&simple, &mut h.ids, h.now), Ok(()));
    let c = Committed {
        offset: 42,
        leader_epoch: -1,
        metadata: None,
    };
    assert_eq!(
        h.groups.store_offset("solo", "t", 0, c.clone()),
        ErrorCode::NONE
    );
    assert_eq!(h.groups.committed("solo", "t", 0), Some(&c));
    let (a, b) = two_members(&mut h);
    let by = |member: &'static str, generation| Commit {
        group_id: "g",
        generation,
        member_id: member,
        instance_id: None,
    };
    let leak = |s: &String| -> &'static str { Box::leak(s.clone().into_boxed_str()) };
    assert_eq!(
        h.groups.check_commit(&by(leak(&a), 2), &mut h.ids, h.now),
        Ok(())
    );
    assert_eq!(
        h.groups.check_commit(&by(leak(&b), 1), &mut h.ids, h.now),
        Err(ErrorCode::ILLEGAL_GENERATION)
    );
    assert_eq!(
        h.groups.check_commit(&by("ghost", 2), &mut h.ids, h.now),
        Err(ErrorCode::UNKNOWN_MEMBER_ID)
    );
    assert_eq!(
        h.groups.check_commit(&by("", -1), &mut h.ids, h.now),
        Err(ErrorCode::UNKNOWN_MEMBER_ID),
        "a live group's offsets belong to its members"
    );
    let big = Committed {
        metadata: Some("x".repeat(5000)),
        ..c
    };
    assert_eq!(
        h.groups.store_offset("g", "t", 0, big),
        ErrorCode::OFFSET_METADATA_TOO_LARGE
    );
}

#[test]
fn initial_rebalance_delay_waits_for_more_members() {
    let mut h = Harness::new();
    h.groups.limits.initial_rebalance_delay = Duration::from_millis(3_000);
    let (a_seq, _) = h.join_new(b"a");
    assert!(h.replies().is_empty(), "the first join waits for the delay");
    let (b_seq, _) = h.join_new(b"b");
    assert!(h.replies().is_empty());
    h.advance(3_000);
    let replies = h.replies();
    let seqs: Vec<u64> = replies.iter().map(|(s, _)| *s).collect();
    assert!(seqs.contains(&a_seq) && seqs.contains(&b_seq), "{seqs:?}");
    for (_, r) in replies {
        let GroupReply::Join(r) = r else { panic!() };
        assert_eq!(r.generation, 1, "one rebalance for both");
    }
    assert!(h.groups.poll_timeout().is_some());
}

/// A harness whose coordinator has small limits.
fn limited(max_groups: usize, max_members: usize, max_metadata: usize) -> Harness {
    let mut h = Harness::new();
    h.groups.limits.max_groups = max_groups;
    h.groups.limits.max_members = max_members;
    h.groups.limits.max_metadata_bytes = max_metadata;
    h.groups.limits.offsets_retention = Duration::from_secs(60);
    h
}

#[test]
fn members_past_group_max_size_are_refused() {
    let mut h = limited(10, 2, 1 << 20);
    let (s1, _) = h.join_new(b"m");
    let _ = h.join_reply(s1);
    let first = h.join("", None, b"m");
    assert_eq!(h.join_reply(first).error, ErrorCode::MEMBER_ID_REQUIRED);
    // Two places taken (a member and a pending id): the third is refused, and
    // a flood of them leaves no state behind.
    for _ in 0..1000 {
        let seq = h.join("", None, b"m");
        assert_eq!(h.join_reply(seq).error, ErrorCode::GROUP_MAX_SIZE_REACHED);
    }
    let g = h.groups.get("g").unwrap();
    assert_eq!(g.members.len() + g.pending.len(), 2);
}

#[test]
fn oversized_member_metadata_and_assignments_are_invalid() {
    let mut h = limited(10, 10, 64);
    let seq = h.join("", None, &[0; 100]);
    assert_eq!(h.join_reply(seq).error, ErrorCode::INVALID_REQUEST);
    assert!(h.groups.get("g").is_none(), "nothing created");
    let (seq, a) = h.join_new(b"m");
    let r = h.join_reply(seq);
    let big = [0u8; 65];
    let s = h.sync(&a, r.generation, &[(&a, &big)]);
    let replies = h.replies();
    assert!(
        matches!(&replies[..], [(q, GroupReply::Sync(r))] if *q == s && r.error == ErrorCode::INVALID_REQUEST),
        "{replies:?}"
    );
}

#[test]
fn groups_are_bounded_and_empty_ones_expire() {
    let mut h = limited(2, 10, 1 << 20);
    let commit = |h: &mut Harness, group: &'static str| {
        let c = Commit {
            group_id: group,
            generation: -1,
            member_id: "",
            instance_id: None,
        };
        h.groups.check_commit(&c, &mut h.ids, h.now)
    };
    assert_eq!(commit(&mut h, "a"), Ok(()));
    h.now += Duration::from_secs(1);
    assert_eq!(commit(&mut h, "b"), Ok(()));
    // A third group evicts the longest-unused empty one ("a").
    assert_eq!(commit(&mut h, "c"), Ok(()));
    assert!(h.groups.get("a").is_none());
    assert!(h.groups.get("b").is_some() && h.groups.get("c").is_some());
    // With every group in use (members), a new one is refused.
    let mut h = limited(1, 10, 1 << 20);
    let (seq, _) = h.join_new(b"m");
    assert_eq!(h.join_reply(seq).error, ErrorCode::NONE);
    assert_eq!(
        commit(&mut h, "other"),
        Err(ErrorCode::COORDINATOR_NOT_AVAILABLE)
    );
    // An empty group expires after offsets retention, offsets and all.
    let mut h = limited(10, 10, 1 << 20);
    assert_eq!(commit(&mut h, "old"), Ok(()));
    assert!(
        h.groups.poll_timeout().is_some(),
        "the timer will come back"
    );
    h.advance(59_000);
    assert!(h.groups.get("old").is_some());
    h.advance(2_000);
    assert!(h.groups.get("old").is_none());
}
