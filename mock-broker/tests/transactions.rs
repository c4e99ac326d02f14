//! The transaction coordinator through the sans-IO API: timeouts that
//! abort and fence, faults, a moved coordinator, offsets pending until the
//! commit, the limits, and core's read_committed cursor over what the mock
//! serves. Time is passed in: no sleeping.

mod common;

use std::time::{Duration, Instant};

use common::wire::{request, response};
use microkafka_core::consumer::{FetchCursor, ReadCommitted};
use microkafka_core::protocol::messages::*;
use microkafka_core::protocol::ApiKey;
use microkafka_core::record::compression::Codecs;
use microkafka_core::record::{BatchOptions, RecordBatchBuilder};
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;
use microkafka_mock_broker::{Cluster, Config, Fault, Limits, Outcome, Session};

fn call(c: &mut Cluster, s: &mut Session, frame: &[u8], now: Instant) -> Vec<u8> {
    match c.handle(s, &frame[4..], now).outcome {
        Outcome::Respond(frame) => frame,
        other => panic!("expected a response, got {other:?}"),
    }
}

/// A transactional producer driven by hand.
struct Producer<'a> {
    id: &'a str,
    pid: i64,
    epoch: i16,
    seq: i32,
}

fn init(
    c: &mut Cluster,
    s: &mut Session,
    id: &str,
    timeout_ms: i32,
    now: Instant,
) -> (ErrorCode, i64, i16) {
    let body = InitProducerIdRequest {
        transactional_id: Some(id),
        transaction_timeout_ms: timeout_ms,
        producer_id: -1,
        producer_epoch: -1,
    };
    let f = call(c, s, &request(1, 4, &body), now);
    let (_, r): (_, InitProducerIdResponse) = response(&f, 4);
    (r.error_code, r.producer_id, r.producer_epoch)
}

fn producer<'a>(
    c: &mut Cluster,
    s: &mut Session,
    id: &'a str,
    timeout_ms: i32,
    now: Instant,
) -> Producer<'a> {
    let (error, pid, epoch) = init(c, s, id, timeout_ms, now);
    assert_eq!(error, ErrorCode::NONE, "init {id}");
    Producer {
        id,
        pid,
        epoch,
        seq: 0,
    }
}

fn add(
    c: &mut Cluster,
    s: &mut Session,
    p: &Producer<'_>,
    topic: &str,
    parts: &[i32],
    now: Instant,
) -> Vec<ErrorCode> {
    let topics = [AddPartitionsToTxnTopic {
        name: topic,
        partitions: Array::new(parts),
    }];
    let body = AddPartitionsToTxnRequest {
        v3_and_below_transactional_id: p.id,
        v3_and_below_producer_id: p.pid,
        v3_and_below_producer_epoch: p.epoch,
        v3_and_below_topics: Array::new(&topics),
        ..Default::default()
    };
    let f = call(c, s, &request(2, 3, &body), now);
    let (_, r): (_, AddPartitionsToTxnResponse) = response(&f, 3);
    r.results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| {
            t.results_by_partition
                .iter()
                .map(|p| p.partition_error_code)
        })
        .collect()
}

/// Produces one transactional record; returns the error.
fn produce(
    c: &mut Cluster,
    s: &mut Session,
    p: &mut Producer<'_>,
    topic: &str,
    partition: i32,
    value: &[u8],
    now: Instant,
) -> ErrorCode {
    let mut buf = vec![0u8; 256];
    let options = BatchOptions {
        producer_id: p.pid,
        producer_epoch: p.epoch,
        base_sequence: p.seq,
        transactional: true,
        ..Default::default()
    };
    let mut b = RecordBatchBuilder::new(&mut buf, options).unwrap();
    b.append(1_700_000_000_000, None, Some(value), &[]).unwrap();
    let records = b.finish().unwrap().to_vec();
    let parts = [PartitionProduceData {
        index: partition,
        records: Some(&records),
    }];
    let topics = [TopicProduceData {
        name: topic,
        partition_data: Array::new(&parts),
    }];
    let body = ProduceRequest {
        transactional_id: Some(p.id),
        acks: -1,
        timeout_ms: 1000,
        topic_data: Array::new(&topics),
    };
    let f = call(c, s, &request(3, 9, &body), now);
    let (_, r): (_, ProduceResponse) = response(&f, 9);
    let error = r
        .responses
        .iter()
        .next()
        .unwrap()
        .partition_responses
        .iter()
        .next()
        .unwrap()
        .error_code;
    if error.is_ok() {
        p.seq += 1;
    }
    error
}

fn end(
    c: &mut Cluster,
    s: &mut Session,
    p: &Producer<'_>,
    commit: bool,
    now: Instant,
) -> ErrorCode {
    let body = EndTxnRequest {
        transactional_id: p.id,
        producer_id: p.pid,
        producer_epoch: p.epoch,
        committed: commit,
    };
    let f = call(c, s, &request(4, 3, &body), now);
    response::<EndTxnResponse>(&f, 3).1.error_code
}

/// `(last stable offset, high watermark, aborted list, records)`.
type Fetched = (i64, i64, Option<Vec<(i64, i64)>>, Vec<u8>);

/// A read_committed (or not) Fetch of one partition from 0: `(last stable
/// offset, high watermark, aborted list, records)`.
fn fetch(
    c: &mut Cluster,
    s: &mut Session,
    topic: &str,
    partition: i32,
    committed: bool,
    now: Instant,
) -> Fetched {
    let parts = [FetchPartition {
        partition,
        fetch_offset: 0,
        partition_max_bytes: 1 << 20,
        ..Default::default()
    }];
    let topics = [FetchTopic {
        topic,
        partitions: Array::new(&parts),
        ..Default::default()
    }];
    let body = FetchRequest {
        max_wait_ms: 0,
        isolation_level: i8::from(committed),
        topics: Array::new(&topics),
        ..Default::default()
    };
    let f = call(c, s, &request(5, 11, &body), now);
    let (_, r): (_, FetchResponse) = response(&f, 11);
    let p = r
        .responses
        .iter()
        .next()
        .unwrap()
        .partitions
        .iter()
        .next()
        .unwrap();
    (
        p.last_stable_offset,
        p.high_watermark,
        p.aborted_transactions
            .map(|a| a.iter().map(|t| (t.producer_id, t.first_offset)).collect()),
        p.records.unwrap_or_default().to_vec(),
    )
}

/// The values core's read_committed cursor returns from a Fetch answer.
fn committed_values(
    c: &mut Cluster,
    s: &mut Session,
    topic: &str,
    partition: i32,
    now: Instant,
) -> Vec<String> {
    let (lso, _, aborted, records) = fetch(c, s, topic, partition, true, now);
    let aborted: Vec<FetchAbortedTransaction> = aborted
        .unwrap_or_default()
        .into_iter()
        .map(|(producer_id, first_offset)| FetchAbortedTransaction {
            producer_id,
            first_offset,
        })
        .collect();
    let mut cursor = FetchCursor::new(0);
    let mut txn = ReadCommitted::<4>::new(lso);
    let (mut codecs, mut scratch) = (Codecs::new(), [0u8; 0]);
    let mut out = Vec::new();
    while let Some(r) = cursor.next_committed(
        &records,
        Some(Array::new(&aborted)),
        &mut txn,
        &mut codecs,
        &mut scratch,
    ) {
        out.push(String::from_utf8(r.unwrap().value.unwrap().to_vec()).unwrap());
    }
    out
}

fn setup(brokers: usize, limits: Limits) -> (Cluster, Instant) {
    let mut c = Cluster::new(Config {
        seed: Some(7),
        limits,
        ..Config::with_brokers(brokers)
    });
    c.create_topic("t", 1).unwrap();
    (c, Instant::now())
}

/// Node 1 leads `t`-0 and coordinates whatever the tests name (one broker).
fn session(c: &mut Cluster, node: i32) -> Session {
    c.open_session(node, None)
}

#[test]
fn a_transaction_past_its_timeout_is_aborted_and_its_producer_fenced() {
    let (mut c, t0) = setup(1, Limits::default());
    let mut s = session(&mut c, 1);
    let mut p = producer(&mut c, &mut s, "slow", 1_000, t0);
    assert_eq!(c.poll_timeout(), None, "nothing open");
    assert_eq!(
        add(
            &mut c,
            &mut s,
            &p,
            "t",
            &[0],
            t0 + Duration::from_millis(100)
        ),
        [ErrorCode::NONE]
    );
    assert_eq!(
        produce(
            &mut c,
            &mut s,
            &mut p,
            "t",
            0,
            b"late",
            t0 + Duration::from_millis(200)
        ),
        ErrorCode::NONE
    );
    let (lso, hw, _, _) = fetch(&mut c, &mut s, "t", 0, true, t0);
    assert_eq!(
        (lso, hw),
        (0, 1),
        "the open transaction holds the last stable offset"
    );
    // The timer runs from the first AddPartitionsToTxn.
    let deadline = t0 + Duration::from_millis(1_100);
    assert_eq!(c.poll_timeout(), Some(deadline));
    c.handle_timeout(deadline - Duration::from_millis(1));
    assert!(c.transaction("slow").unwrap().open, "still open");
    c.handle_timeout(deadline);
    let state = c.transaction("slow").unwrap();
    assert_eq!(
        (state.producer_id, state.producer_epoch, state.open),
        (p.pid, p.epoch + 1, false),
        "aborted with a bumped epoch"
    );
    let (lso, hw, aborted, _) = fetch(&mut c, &mut s, "t", 0, true, deadline);
    assert_eq!((lso, hw), (2, 2), "the marker written, everything stable");
    assert_eq!(aborted, Some(vec![(p.pid, 0)]));
    assert!(committed_values(&mut c, &mut s, "t", 0, deadline).is_empty());
    // The producer is fenced: its requests are refused.
    assert_eq!(
        end(&mut c, &mut s, &p, true, deadline),
        ErrorCode::PRODUCER_FENCED
    );
    assert_eq!(
        add(&mut c, &mut s, &p, "t", &[0], deadline),
        [ErrorCode::PRODUCER_FENCED]
    );
    assert_eq!(
        produce(&mut c, &mut s, &mut p, "t", 0, b"later", deadline),
        ErrorCode::INVALID_PRODUCER_EPOCH
    );
    // A new producer with the id goes on.
    let mut q = producer(&mut c, &mut s, "slow", 1_000, deadline);
    assert_eq!(q.epoch, p.epoch + 2);
    assert_eq!(
        add(&mut c, &mut s, &q, "t", &[0], deadline),
        [ErrorCode::NONE]
    );
    assert_eq!(
        produce(&mut c, &mut s, &mut q, "t", 0, b"fresh", deadline),
        ErrorCode::NONE
    );
    assert_eq!(end(&mut c, &mut s, &q, true, deadline), ErrorCode::NONE);
    assert_eq!(
        committed_values(&mut c, &mut s, "t", 0, deadline),
        ["fresh"]
    );
}

#[test]
fn faults_and_a_moved_coordinator() {
    let (mut c, now) = setup(3, Limits::default());
    let home = c.coordinator("moving").unwrap();
    let mut s = session(&mut c, home);
    let leader = c.leader("t", 0).unwrap();
    let mut ls = session(&mut c, leader);
    let mut p = producer(&mut c, &mut s, "moving", 60_000, now);
    assert_eq!(add(&mut c, &mut s, &p, "t", &[0], now), [ErrorCode::NONE]);
    assert_eq!(
        produce(&mut c, &mut ls, &mut p, "t", 0, b"v", now),
        ErrorCode::NONE
    );
    // A failing EndTxn changes nothing.
    c.inject(Fault::error(
        ApiKey::EndTxn,
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
    ));
    assert_eq!(
        end(&mut c, &mut s, &p, true, now),
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
    );
    assert!(c.transaction("moving").unwrap().open, "still open");
    // The coordinator moves: the old one says so, FindCoordinator names the new one.
    let other = (1..=3).find(|&n| n != home).unwrap();
    c.move_coordinator("moving", other).unwrap();
    assert_eq!(
        end(&mut c, &mut s, &p, true, now),
        ErrorCode::NOT_COORDINATOR
    );
    let keys = ["moving"];
    let body = FindCoordinatorRequest {
        key: "moving",
        key_type: 1,
        coordinator_keys: Array::new(&keys),
    };
    let f = call(&mut c, &mut s, &request(6, 4, &body), now);
    let (_, r): (_, FindCoordinatorResponse) = response(&f, 4);
    assert_eq!(r.coordinators.iter().next().unwrap().node_id, other);
    let mut moved = session(&mut c, other);
    assert_eq!(end(&mut c, &mut moved, &p, true, now), ErrorCode::NONE);
    assert_eq!(committed_values(&mut c, &mut ls, "t", 0, now), ["v"]);
}

#[test]
fn offsets_committed_in_a_transaction_wait_for_its_commit() {
    let (mut c, now) = setup(1, Limits::default());
    let mut s = session(&mut c, 1);
    let offset_fetch = |c: &mut Cluster, s: &mut Session| {
        let parts = [0];
        let topics = [OffsetFetchRequestTopic {
            name: "t",
            partition_indexes: Array::new(&parts),
        }];
        let body = OffsetFetchRequest {
            group_id: "g",
            topics: Some(Array::new(&topics)),
            require_stable: true,
            ..Default::default()
        };
        let f = call(c, s, &request(7, 7, &body), now);
        let (_, r): (_, OffsetFetchResponse) = response(&f, 7);
        let p = r
            .topics
            .iter()
            .next()
            .unwrap()
            .partitions
            .iter()
            .next()
            .unwrap();
        (p.error_code, p.committed_offset)
    };
    for commit in [false, true] {
        let p = producer(&mut c, &mut s, "offsets", 60_000, now);
        let body = AddOffsetsToTxnRequest {
            transactional_id: p.id,
            producer_id: p.pid,
            producer_epoch: p.epoch,
            group_id: "g",
        };
        let f = call(&mut c, &mut s, &request(8, 3, &body), now);
        assert_eq!(
            response::<AddOffsetsToTxnResponse>(&f, 3).1.error_code,
            ErrorCode::NONE
        );
        let parts = [TxnOffsetCommitRequestPartition {
            partition_index: 0,
            committed_offset: 42,
            committed_leader_epoch: -1,
            committed_metadata: None,
        }];
        let topics = [TxnOffsetCommitRequestTopic {
            name: "t",
            partitions: Array::new(&parts),
        }];
        let body = TxnOffsetCommitRequest {
            transactional_id: p.id,
            group_id: "g",
            producer_id: p.pid,
            producer_epoch: p.epoch,
            generation_id: -1,
            member_id: "",
            group_instance_id: None,
            topics: Array::new(&topics),
        };
        let f = call(&mut c, &mut s, &request(9, 3, &body), now);
        let (_, r): (_, TxnOffsetCommitResponse) = response(&f, 3);
        let e = r
            .topics
            .iter()
            .next()
            .unwrap()
            .partitions
            .iter()
            .next()
            .unwrap()
            .error_code;
        assert_eq!(e, ErrorCode::NONE);
        assert_eq!(
            offset_fetch(&mut c, &mut s),
            (ErrorCode::UNSTABLE_OFFSET_COMMIT, -1)
        );
        assert_eq!(c.committed_offset("g", "t", 0), None);
        assert_eq!(end(&mut c, &mut s, &p, commit, now), ErrorCode::NONE);
        let want = if commit {
            (ErrorCode::NONE, 42)
        } else {
            (ErrorCode::NONE, -1)
        };
        assert_eq!(offset_fetch(&mut c, &mut s), want, "commit={commit}");
    }
    assert_eq!(c.committed_offset("g", "t", 0), Some(42));
}

#[test]
fn read_committed_through_core_cursor_hides_interleaved_aborts() {
    let (mut c, now) = setup(1, Limits::default());
    let mut s = session(&mut c, 1);
    let mut a = producer(&mut c, &mut s, "a", 60_000, now);
    let mut b = producer(&mut c, &mut s, "b", 60_000, now);
    for round in 0..3 {
        assert_eq!(add(&mut c, &mut s, &a, "t", &[0], now), [ErrorCode::NONE]);
        assert_eq!(add(&mut c, &mut s, &b, "t", &[0], now), [ErrorCode::NONE]);
        for k in 0..2 {
            let va = format!("a{round}-{k}");
            let vb = format!("b{round}-{k}");
            assert_eq!(
                produce(&mut c, &mut s, &mut a, "t", 0, va.as_bytes(), now),
                ErrorCode::NONE
            );
            assert_eq!(
                produce(&mut c, &mut s, &mut b, "t", 0, vb.as_bytes(), now),
                ErrorCode::NONE
            );
        }
        // a commits even rounds, b odd ones.
        assert_eq!(
            end(&mut c, &mut s, &a, round % 2 == 0, now),
            ErrorCode::NONE
        );
        let mid = committed_values(&mut c, &mut s, "t", 0, now);
        assert!(
            mid.iter().all(|v| !v.starts_with(&format!("b{round}"))),
            "b's open transaction hidden: {mid:?}"
        );
        assert_eq!(
            end(&mut c, &mut s, &b, round % 2 == 1, now),
            ErrorCode::NONE
        );
    }
    assert_eq!(
        committed_values(&mut c, &mut s, "t", 0, now),
        ["a0-0", "a0-1", "b1-0", "b1-1", "a2-0", "a2-1"]
    );
    let (lso, hw, aborted, _) = fetch(&mut c, &mut s, "t", 0, true, now);
    assert_eq!(lso, hw);
    assert_eq!(aborted.unwrap().len(), 3, "b's round 0 and 2, a's round 1");
    let (_, _, uncommitted_list, _) = fetch(&mut c, &mut s, "t", 0, false, now);
    assert_eq!(
        uncommitted_list, None,
        "read_uncommitted has no aborted list"
    );
}

#[test]
fn transactional_ids_and_open_transactions_are_bounded() {
    let limits = Limits {
        max_transactional_ids: 2,
        max_open_transactions: 1,
        max_groups_per_transaction: 1,
        ..Limits::default()
    };
    let (mut c, now) = setup(1, limits);
    let mut s = session(&mut c, 1);
    let first = producer(&mut c, &mut s, "one", 60_000, now);
    let second = producer(
        &mut c,
        &mut s,
        "two",
        60_000,
        now + Duration::from_millis(1),
    );
    // A third id: the longest-unused one without an open transaction goes.
    let third = producer(
        &mut c,
        &mut s,
        "three",
        60_000,
        now + Duration::from_millis(2),
    );
    assert!(c.transaction("one").is_none(), "forgotten");
    assert_eq!(
        add(&mut c, &mut s, &first, "t", &[0], now),
        [ErrorCode::INVALID_PRODUCER_ID_MAPPING]
    );
    // One open transaction at a time.
    assert_eq!(
        add(&mut c, &mut s, &second, "t", &[0], now),
        [ErrorCode::NONE]
    );
    assert_eq!(
        add(&mut c, &mut s, &third, "t", &[0], now),
        [ErrorCode::COORDINATOR_NOT_AVAILABLE]
    );
    // Every id has an open transaction... or is the only room: the third
    // id's transaction is not open, so a fourth id evicts it.
    let (error, _, _) = init(
        &mut c,
        &mut s,
        "four",
        60_000,
        now + Duration::from_millis(3),
    );
    assert_eq!(error, ErrorCode::NONE);
    assert!(c.transaction("three").is_none());
    let (error, _, _) = init(
        &mut c,
        &mut s,
        "five",
        60_000,
        now + Duration::from_millis(4),
    );
    assert_eq!(error, ErrorCode::NONE, "'four' is idle");
    // Now "two" (open) and "five": "two" stays, a new id takes "five"'s place.
    assert!(c.transaction("two").is_some());
    // Groups per transaction.
    let add_group = |c: &mut Cluster, s: &mut Session, group: &str| {
        let body = AddOffsetsToTxnRequest {
            transactional_id: second.id,
            producer_id: second.pid,
            producer_epoch: second.epoch,
            group_id: group,
        };
        let f = call(c, s, &request(10, 3, &body), now);
        response::<AddOffsetsToTxnResponse>(&f, 3).1.error_code
    };
    assert_eq!(add_group(&mut c, &mut s, "g1"), ErrorCode::NONE);
    assert_eq!(
        add_group(&mut c, &mut s, "g1"),
        ErrorCode::NONE,
        "the same group again"
    );
    assert_eq!(add_group(&mut c, &mut s, "g2"), ErrorCode::INVALID_REQUEST);
    assert_eq!(end(&mut c, &mut s, &second, false, now), ErrorCode::NONE);
    // With "two" closed, the table (two, five) is full of idle ids: a new
    // one evicts the longest unused.
    let (error, _, _) = init(
        &mut c,
        &mut s,
        "six",
        60_000,
        now + Duration::from_millis(5),
    );
    assert_eq!(error, ErrorCode::NONE);
}

#[test]
fn with_every_id_in_a_transaction_a_new_id_waits() {
    let limits = Limits {
        max_transactional_ids: 1,
        ..Limits::default()
    };
    let (mut c, now) = setup(1, limits);
    let mut s = session(&mut c, 1);
    let p = producer(&mut c, &mut s, "busy", 60_000, now);
    assert_eq!(add(&mut c, &mut s, &p, "t", &[0], now), [ErrorCode::NONE]);
    let (error, _, _) = init(&mut c, &mut s, "newcomer", 60_000, now);
    assert_eq!(error, ErrorCode::COORDINATOR_NOT_AVAILABLE);
    // Idle ids expire (transactional.id.expiration.ms).
    assert_eq!(end(&mut c, &mut s, &p, true, now), ErrorCode::NONE);
    let later = now + Limits::default().transactional_id_expiration;
    let (error, _, _) = init(&mut c, &mut s, "newcomer", 60_000, later);
    assert_eq!(error, ErrorCode::NONE);
    assert!(c.transaction("busy").is_none());
}
