//! The cluster driven through its sans-IO API: frames in, frames out, time
//! passed in. No sockets, no sleeping: every test is deterministic.

mod common;

use std::time::{Duration, Instant};

use common::wire::{batch, legacy_v1, produce_frame, request, response, FetchOne};
use microkafka_core::protocol::messages::*;
use microkafka_core::protocol::versions::codec_versions;
use microkafka_core::protocol::ApiKey;
use microkafka_core::record::{Batch, RecordSet};
use microkafka_core::sasl::{ClientMechanism, ScramClient, ScramHash};
use microkafka_core::wire::{Array, Uuid};
use microkafka_core::ErrorCode;
use microkafka_mock_broker::{
    Cluster, Config, Fault, FaultAction, Outcome, SaslConfig, SaslUser, Security, Session,
};

/// ApiVersions v3+ must name the client software (Kafka answers
/// INVALID_REQUEST to an empty name, and so does the mock).
const API_VERSIONS: ApiVersionsRequest<'static> = ApiVersionsRequest {
    client_software_name: "microkafka-test",
    client_software_version: "1.0",
};

fn config(brokers: usize) -> Config {
    Config {
        seed: Some(42),
        ..Config::with_brokers(brokers)
    }
}

/// Handles a whole frame (size prefix included) and returns the outcome.
fn send(c: &mut Cluster, s: &mut Session, frame: &[u8], now: Instant) -> Outcome {
    c.handle(s, &frame[4..], now).outcome
}

/// Handles a frame that must be answered at once; returns the response frame.
fn call(c: &mut Cluster, s: &mut Session, frame: &[u8], now: Instant) -> Vec<u8> {
    match send(c, s, frame, now) {
        Outcome::Respond(frame) => frame,
        other => panic!("expected a response, got {other:?}"),
    }
}

/// Produces `records` to `topic`/`partition` at `version` (acks=-1); returns
/// `(error, base offset)`.
fn produce(
    c: &mut Cluster,
    s: &mut Session,
    version: i16,
    topic: &str,
    partition: i32,
    records: &[u8],
) -> (ErrorCode, i64) {
    let frame = call(
        c,
        s,
        &produce_frame(1, version, topic, partition, -1, records),
        Instant::now(),
    );
    let (_, resp): (_, ProduceResponse) = response(&frame, version);
    let p = resp
        .responses
        .iter()
        .next()
        .unwrap()
        .partition_responses
        .iter()
        .next()
        .unwrap();
    (p.error_code, p.base_offset)
}

/// `(error, high watermark, records)` of one partition of a Fetch response frame.
fn fetched(frame: &[u8], version: i16) -> (ErrorCode, i64, Vec<u8>) {
    let (_, resp): (_, FetchResponse) = response(frame, version);
    let p = resp
        .responses
        .iter()
        .next()
        .unwrap()
        .partitions
        .iter()
        .next()
        .unwrap();
    (
        p.error_code,
        p.high_watermark,
        p.records.unwrap_or_default().to_vec(),
    )
}

fn fetch(
    c: &mut Cluster,
    s: &mut Session,
    topic: &str,
    partition: i32,
    offset: i64,
    max: i32,
) -> (ErrorCode, i64, Vec<u8>) {
    let fetch = FetchOne {
        partition,
        partition_max_bytes: max,
        ..FetchOne::new(topic, offset)
    };
    let frame = call(c, s, &fetch.frame(2, 11), Instant::now());
    fetched(&frame, 11)
}

fn bases(records: &[u8]) -> Vec<i64> {
    RecordSet::new(records)
        .map(|b| match b.unwrap() {
            Batch::V2(b) => b.base_offset(),
            Batch::Legacy(m) => m.offset,
        })
        .collect()
}

fn list_offset(
    c: &mut Cluster,
    s: &mut Session,
    topic: &str,
    timestamp: i64,
) -> (ErrorCode, i64, i64) {
    let parts = [ListOffsetsPartition {
        partition_index: 0,
        timestamp,
        ..Default::default()
    }];
    let topics = [ListOffsetsTopic {
        name: topic,
        partitions: Array::new(&parts),
    }];
    let req = ListOffsetsRequest {
        replica_id: -1,
        topics: Array::new(&topics),
        ..Default::default()
    };
    let frame = call(c, s, &request(3, 7, &req), Instant::now());
    let (_, resp): (_, ListOffsetsResponse) = response(&frame, 7);
    let p = resp
        .topics
        .iter()
        .next()
        .unwrap()
        .partitions
        .iter()
        .next()
        .unwrap();
    (p.error_code, p.offset, p.timestamp)
}

fn metadata(c: &mut Cluster, s: &mut Session, version: i16) -> Vec<u8> {
    call(
        c,
        s,
        &request(4, version, &MetadataRequest::default()),
        Instant::now(),
    )
}

#[test]
fn api_versions_default_kafka4_and_unknown_version() {
    let mut c = Cluster::new(config(1));
    let mut s = c.open_session(1, None);
    let frame = call(
        &mut c,
        &mut s,
        &request(7, 3, &API_VERSIONS),
        Instant::now(),
    );
    let (corr, resp): (_, ApiVersionsResponse) = response(&frame, 3);
    assert_eq!((corr, resp.error_code), (7, ErrorCode::NONE));
    assert_eq!(resp.api_keys.len(), ApiKey::ALL.len());
    let produce = resp.api_keys.iter().find(|k| k.api_key == 0).unwrap();
    assert_eq!((produce.min_version, produce.max_version), (0, 11));

    // KIP-511: a version the broker does not know gets a v0 answer listing ApiVersions.
    let mut frame = request(8, 3, &API_VERSIONS);
    frame[6..8].copy_from_slice(&99i16.to_be_bytes());
    let answer = call(&mut c, &mut s, &frame, Instant::now());
    let (corr, resp): (_, ApiVersionsResponse) = response(&answer, 0);
    assert_eq!((corr, resp.error_code), (8, ErrorCode::UNSUPPORTED_VERSION));
    let keys: Vec<_> = resp
        .api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect();
    assert_eq!(keys, [(18, 0, 4)]);

    let mut c = Cluster::new(Config {
        kafka4: true,
        ..config(1)
    });
    let mut s = c.open_session(1, None);
    let frame = call(
        &mut c,
        &mut s,
        &request(1, 0, &API_VERSIONS),
        Instant::now(),
    );
    let (_, resp): (_, ApiVersionsResponse) = response(&frame, 0);
    let range = |key: i16| {
        let k = resp.api_keys.iter().find(|k| k.api_key == key).unwrap();
        (k.min_version, k.max_version)
    };
    assert_eq!(range(0), (0, 11), "Produce: listed from v0, served from v3");
    assert_eq!(range(1), (4, 17), "Fetch");
    assert_eq!(range(3), (0, 12), "Metadata");
}

#[test]
fn produce_fetch_and_list_offsets() {
    let mut c = Cluster::new(config(1));
    c.create_topic("t", 1).unwrap();
    let mut s = c.open_session(1, None);
    let a = batch(&[b"a0", b"a1", b"a2"], 1000);
    let b = batch(&[b"b0", b"b1"], 2000);
    assert_eq!(produce(&mut c, &mut s, 9, "t", 0, &a), (ErrorCode::NONE, 0));
    assert_eq!(produce(&mut c, &mut s, 3, "t", 0, &b), (ErrorCode::NONE, 3));
    assert_eq!(c.offsets("t", 0), Some((0, 5)));

    let (error, hw, records) = fetch(&mut c, &mut s, "t", 0, 0, 1 << 20);
    assert_eq!(
        (error, hw, bases(&records)),
        (ErrorCode::NONE, 5, vec![0, 3])
    );
    // Partition max bytes below the first batch: that batch all the same (KIP-74).
    let (_, _, records) = fetch(&mut c, &mut s, "t", 0, 0, 10);
    assert_eq!(bases(&records), [0]);
    let (_, _, records) = fetch(&mut c, &mut s, "t", 0, 4, 1 << 20);
    assert_eq!(bases(&records), [3], "the batch holding offset 4");
    let (error, _, records) = fetch(&mut c, &mut s, "t", 0, 5, 1 << 20);
    assert_eq!(
        (error, records.len()),
        (ErrorCode::NONE, 0),
        "at the end: empty"
    );
    // As Kafka: out of range answers no offsets (-1), not the high watermark.
    let (error, hw, _) = fetch(&mut c, &mut s, "t", 0, 6, 1 << 20);
    assert_eq!((error, hw), (ErrorCode::OFFSET_OUT_OF_RANGE, -1));
    let (error, _, _) = fetch(&mut c, &mut s, "nope", 0, 0, 1 << 20);
    assert_eq!(error, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);

    assert_eq!(
        list_offset(&mut c, &mut s, "t", -2),
        (ErrorCode::NONE, 0, -1)
    );
    assert_eq!(
        list_offset(&mut c, &mut s, "t", -1),
        (ErrorCode::NONE, 5, -1)
    );
    assert_eq!(
        list_offset(&mut c, &mut s, "t", 1001),
        (ErrorCode::NONE, 1, 1001)
    );
    assert_eq!(
        list_offset(&mut c, &mut s, "t", 1500),
        (ErrorCode::NONE, 3, 2000)
    );
    assert_eq!(
        list_offset(&mut c, &mut s, "t", -3),
        (ErrorCode::NONE, 4, 2001)
    );
    assert_eq!(
        list_offset(&mut c, &mut s, "t", 9999),
        (ErrorCode::NONE, -1, -1)
    );
}

#[test]
fn produce_validation() {
    let mut c = Cluster::new(config(1));
    c.create_topic("t", 1).unwrap();
    let mut s = c.open_session(1, None);
    let mut bad = batch(&[b"x"], 0);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert_eq!(
        produce(&mut c, &mut s, 9, "t", 0, &bad).0,
        ErrorCode::CORRUPT_MESSAGE
    );
    // Too short to hold a batch: v3+ needs exactly one (Kafka: INVALID_RECORD).
    assert_eq!(
        produce(&mut c, &mut s, 9, "t", 0, b"junk").0,
        ErrorCode::INVALID_RECORD
    );
    let legacy = legacy_v1(5, None, b"old");
    assert_eq!(
        produce(&mut c, &mut s, 3, "t", 0, &legacy).0,
        ErrorCode::INVALID_RECORD,
        "v3+ is magic 2 only"
    );
    let two = [batch(&[b"a"], 0), batch(&[b"b"], 0)].concat();
    assert_eq!(
        produce(&mut c, &mut s, 3, "t", 0, &two).0,
        ErrorCode::INVALID_RECORD,
        "v3+ carries one batch"
    );
    assert_eq!(
        produce(&mut c, &mut s, 2, "t", 0, &two),
        (ErrorCode::NONE, 0),
        "older versions may carry several"
    );
    assert_eq!(
        produce(&mut c, &mut s, 9, "t", 7, &batch(&[b"x"], 0)).0,
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        c.offsets("t", 0),
        Some((0, 2)),
        "only the valid request was stored"
    );
}

#[test]
fn legacy_magic1_is_stored_with_offsets_per_message() {
    let mut c = Cluster::new(config(1));
    c.create_topic("old", 1).unwrap();
    let mut s = c.open_session(1, None);
    produce(&mut c, &mut s, 9, "old", 0, &batch(&[b"new"], 1));
    let set = [
        legacy_v1(10, Some(b"k"), b"v0"),
        legacy_v1(11, None, b"v1"),
        legacy_v1(12, None, b"v2"),
    ]
    .concat();
    assert_eq!(
        produce(&mut c, &mut s, 2, "old", 0, &set),
        (ErrorCode::NONE, 1)
    );
    // An old consumer (Fetch v2) gets the messages back with their offsets.
    let frame = call(
        &mut c,
        &mut s,
        &FetchOne::new("old", 1).frame(5, 2),
        Instant::now(),
    );
    let (error, hw, records) = fetched(&frame, 2);
    assert_eq!((error, hw), (ErrorCode::NONE, 4));
    let values: Vec<(i64, Vec<u8>)> = RecordSet::new(&records)
        .map(|b| match b.unwrap() {
            Batch::Legacy(m) => (m.offset, m.value.unwrap().to_vec()),
            Batch::V2(_) => panic!("stored as magic 1"),
        })
        .collect();
    assert_eq!(
        values,
        [
            (1, b"v0".to_vec()),
            (2, b"v1".to_vec()),
            (3, b"v2".to_vec())
        ]
    );
    assert_eq!(
        list_offset(&mut c, &mut s, "old", 11),
        (ErrorCode::NONE, 1, 12),
        "legacy sets answer with their first offset"
    );
}

#[test]
fn acks_zero_gets_no_response_unless_it_fails() {
    let mut c = Cluster::new(config(1));
    c.create_topic("t", 1).unwrap();
    let mut s = c.open_session(1, None);
    let records = batch(&[b"fire-and-forget"], 0);
    let handled = c.handle(
        &mut s,
        &produce_frame(1, 9, "t", 0, 0, &records)[4..],
        Instant::now(),
    );
    assert_eq!((handled.seq, handled.outcome), (0, Outcome::Nothing));
    assert_eq!(c.offsets("t", 0), Some((0, 1)));
    let handled = c.handle(
        &mut s,
        &produce_frame(2, 9, "t", 0, 0, b"garbage")[4..],
        Instant::now(),
    );
    assert_eq!(
        (handled.seq, handled.outcome),
        (1, Outcome::Close(None)),
        "Kafka closes on an acks=0 error"
    );
}

#[test]
fn fetch_waits_for_data_or_max_wait() {
    let mut c = Cluster::new(config(1));
    c.create_topic("t", 1).unwrap();
    let now = Instant::now();
    let mut consumer = c.open_session(1, None);
    let mut producer = c.open_session(1, None);
    let wait = |offset, max_wait_ms| FetchOne {
        max_wait_ms,
        min_bytes: 1,
        ..FetchOne::new("t", offset)
    };
    let frame = wait(0, 5_000).frame(9, 11);
    let h = c.handle(&mut consumer, &frame[4..], now);
    assert_eq!(h.outcome, Outcome::Later);
    assert_eq!(c.poll_timeout(), Some(now + Duration::from_millis(5_000)));
    produce(&mut c, &mut producer, 9, "t", 0, &batch(&[b"wake up"], 0));
    let done = c.take_completions();
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].conn, done[0].seq), (consumer.id(), h.seq));
    let (error, hw, records) = fetched(&done[0].frame, 11);
    assert_eq!((error, hw, bases(&records)), (ErrorCode::NONE, 1, vec![0]));

    // Nothing arrives: answered empty when max wait passes, not before.
    let frame = wait(1, 500).frame(10, 11);
    assert_eq!(send(&mut c, &mut consumer, &frame, now), Outcome::Later);
    c.handle_timeout(now + Duration::from_millis(499));
    assert!(c.take_completions().is_empty());
    c.handle_timeout(now + Duration::from_millis(500));
    let done = c.take_completions();
    assert_eq!(done.len(), 1);
    let (error, _, records) = fetched(&done[0].frame, 11);
    assert_eq!((error, records.len()), (ErrorCode::NONE, 0));
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn fetch_by_topic_id_from_v13() {
    let mut c = Cluster::new(config(1));
    let id = c.create_topic("t", 1).unwrap();
    let mut s = c.open_session(1, None);
    produce(&mut c, &mut s, 9, "t", 0, &batch(&[b"x"], 0));
    let meta = metadata(&mut c, &mut s, 12);
    let (_, resp): (_, MetadataResponse) = response(&meta, 12);
    assert_eq!(resp.topics.iter().next().unwrap().topic_id, id);
    for (topic_id, want) in [
        (id, ErrorCode::NONE),
        (Uuid([9; 16]), ErrorCode::UNKNOWN_TOPIC_ID),
    ] {
        let by_id = FetchOne {
            topic_id,
            ..FetchOne::new("", 0)
        };
        let frame = call(&mut c, &mut s, &by_id.frame(1, 16), Instant::now());
        let (_, resp): (_, FetchResponse) = response(&frame, 16);
        let t = resp.responses.iter().next().unwrap();
        assert_eq!(t.topic_id, topic_id);
        assert_eq!(t.partitions.iter().next().unwrap().error_code, want);
    }
}

#[test]
fn metadata_auto_creates_and_leaves_down_brokers_out() {
    let mut c = Cluster::new(Config {
        default_partitions: 4,
        ..config(3)
    });
    let mut s = c.open_session(1, None);
    let topics = [MetadataRequestTopic {
        name: Some("auto"),
        ..Default::default()
    }];
    let req = MetadataRequest {
        topics: Some(Array::new(&topics)),
        ..Default::default()
    };
    // As Kafka 4.x: the request that creates the topic is answered
    // UNKNOWN_TOPIC_OR_PARTITION; the next one finds it.
    let frame = call(&mut c, &mut s, &request(1, 9, &req), Instant::now());
    let (_, resp): (_, MetadataResponse) = response(&frame, 9);
    assert_eq!(resp.brokers.len(), 3);
    let t = resp.topics.iter().next().unwrap();
    assert_eq!(
        (t.error_code, t.partitions.len()),
        (ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, 0)
    );
    let frame = call(&mut c, &mut s, &request(2, 9, &req), Instant::now());
    let (_, resp): (_, MetadataResponse) = response(&frame, 9);
    let t = resp.topics.iter().next().unwrap();
    assert_eq!((t.error_code, t.partitions.len()), (ErrorCode::NONE, 4));

    let led_by_2: Vec<i32> = (0..4).filter(|&p| c.leader("auto", p) == Some(2)).collect();
    assert!(!led_by_2.is_empty());
    c.set_broker_up(2, false).unwrap();
    let frame = metadata(&mut c, &mut s, 9);
    let (_, resp): (_, MetadataResponse) = response(&frame, 9);
    let nodes: Vec<i32> = resp.brokers.iter().map(|b| b.node_id).collect();
    assert_eq!(nodes, [1, 3]);
    for p in resp.topics.iter().next().unwrap().partitions.iter() {
        assert_ne!(p.leader_id, 2);
        assert!(!p.isr_nodes.iter().any(|n| n == 2));
        if led_by_2.contains(&p.partition_index) {
            assert_eq!(p.leader_epoch, 1, "a new leader, a new epoch");
            assert!(p.offline_replicas.iter().any(|n| n == 2));
        }
    }
    // A client still connected to the down broker is cut off.
    let mut stale = c.open_session(2, None);
    assert_eq!(
        send(
            &mut c,
            &mut stale,
            &request(1, 9, &MetadataRequest::default()),
            Instant::now()
        ),
        Outcome::Close(None)
    );
    c.set_broker_up(2, true).unwrap();
    let frame = metadata(&mut c, &mut s, 9);
    let (_, resp): (_, MetadataResponse) = response(&frame, 9);
    assert_eq!(resp.brokers.len(), 3);
}

#[test]
fn moved_leader_and_coordinator_redirect_clients() {
    let mut c = Cluster::new(config(3));
    c.create_topic("t", 1).unwrap();
    let old = c.leader("t", 0).unwrap();
    let new = old % 3 + 1;
    c.move_leader("t", 0, new).unwrap();
    let mut at_old = c.open_session(old, None);
    let frame = call(
        &mut c,
        &mut at_old,
        &produce_frame(1, 10, "t", 0, 1, &batch(&[b"x"], 0)),
        Instant::now(),
    );
    let (_, resp): (_, ProduceResponse) = response(&frame, 10);
    let p = resp
        .responses
        .iter()
        .next()
        .unwrap()
        .partition_responses
        .iter()
        .next()
        .unwrap();
    assert_eq!(p.error_code, ErrorCode::NOT_LEADER_OR_FOLLOWER);
    assert_eq!(
        (p.current_leader.leader_id, p.current_leader.leader_epoch),
        (new, 1)
    );
    assert_eq!(resp.node_endpoints.iter().next().unwrap().node_id, new);

    let coordinator = c.coordinator("g").unwrap();
    let other = coordinator % 3 + 1;
    c.move_coordinator("g", other).unwrap();
    let mut s = c.open_session(coordinator, None);
    let find = FindCoordinatorRequest {
        key: "g",
        ..Default::default()
    };
    let frame = call(&mut c, &mut s, &request(1, 3, &find), Instant::now());
    let (_, resp): (_, FindCoordinatorResponse) = response(&frame, 3);
    assert_eq!((resp.error_code, resp.node_id), (ErrorCode::NONE, other));
    let hb = HeartbeatRequest {
        group_id: "g",
        ..Default::default()
    };
    let frame = call(&mut c, &mut s, &request(2, 3, &hb), Instant::now());
    let (_, resp): (_, HeartbeatResponse) = response(&frame, 3);
    assert_eq!(resp.error_code, ErrorCode::NOT_COORDINATOR);
    // v4+ batched lookups.
    let keys = ["g", "h"];
    let find = FindCoordinatorRequest {
        coordinator_keys: Array::new(&keys),
        ..Default::default()
    };
    let frame = call(&mut c, &mut s, &request(3, 4, &find), Instant::now());
    let (_, resp): (_, FindCoordinatorResponse) = response(&frame, 4);
    let found: Vec<(&str, i32)> = resp
        .coordinators
        .iter()
        .map(|c| (c.key, c.node_id))
        .collect();
    assert_eq!(found[0], ("g", other));
    assert_eq!(found.len(), 2);
}

#[test]
fn injected_faults_hit_the_named_requests_only() {
    let mut c = Cluster::new(config(1));
    c.create_topic("t", 2).unwrap();
    let mut s = c.open_session(1, None);
    c.inject(Fault::error(ApiKey::Produce, ErrorCode::NOT_ENOUGH_REPLICAS).on_partition("t", 1));
    let records = batch(&[b"x"], 0);
    let parts = [
        PartitionProduceData {
            index: 0,
            records: Some(&records),
        },
        PartitionProduceData {
            index: 1,
            records: Some(&records),
        },
    ];
    let topics = [TopicProduceData {
        name: "t",
        partition_data: Array::new(&parts),
    }];
    let req = request(
        1,
        9,
        &ProduceRequest {
            acks: -1,
            topic_data: Array::new(&topics),
            ..Default::default()
        },
    );
    let errors = |frame: &[u8]| -> Vec<ErrorCode> {
        let (_, resp): (_, ProduceResponse) = response(frame, 9);
        resp.responses
            .iter()
            .next()
            .unwrap()
            .partition_responses
            .iter()
            .map(|p| p.error_code)
            .collect()
    };
    assert_eq!(
        errors(&call(&mut c, &mut s, &req, Instant::now())),
        [ErrorCode::NONE, ErrorCode::NOT_ENOUGH_REPLICAS]
    );
    assert_eq!(
        errors(&call(&mut c, &mut s, &req, Instant::now())),
        [ErrorCode::NONE, ErrorCode::NONE],
        "used up"
    );
    assert_eq!(
        c.offsets("t", 1),
        Some((0, 1)),
        "the failed produce stored nothing"
    );

    c.inject(Fault::errors(ApiKey::Produce, [ErrorCode::REQUEST_TIMED_OUT; 2]).on_broker(1));
    assert_eq!(
        errors(&call(&mut c, &mut s, &req, Instant::now())),
        [ErrorCode::REQUEST_TIMED_OUT; 2]
    );
    assert_eq!(
        errors(&call(&mut c, &mut s, &req, Instant::now())),
        [ErrorCode::REQUEST_TIMED_OUT; 2]
    );
    assert_eq!(
        errors(&call(&mut c, &mut s, &req, Instant::now())),
        [ErrorCode::NONE; 2]
    );

    c.inject(Fault::actions(
        ApiKey::Metadata,
        [FaultAction::NoResponse, FaultAction::Disconnect],
    ));
    let meta = request(1, 9, &MetadataRequest::default());
    assert_eq!(send(&mut c, &mut s, &meta, Instant::now()), Outcome::Later);
    assert!(c.take_completions().is_empty(), "never answered");
    assert_eq!(
        send(&mut c, &mut s, &meta, Instant::now()),
        Outcome::Close(None)
    );
    metadata(&mut c, &mut s, 9);
}

/// A stalled Produce is stored at once and answered after the stall (the
/// connection waits for it); a throttled one is answered at once with
/// `throttle_time_ms`, and requests arriving in the throttle's second half
/// are counted.
#[test]
fn stalled_and_throttled_answers() {
    let mut c = Cluster::new(config(1));
    c.create_topic("t", 1).unwrap();
    let mut s = c.open_session(1, None);
    let t0 = Instant::now();
    let stall = Duration::from_secs(3);
    c.inject(Fault::stall(ApiKey::Produce, 1, stall));
    let records = batch(&[b"x"], 0);
    let frame = produce_frame(1, 9, "t", 0, -1, &records);
    assert_eq!(send(&mut c, &mut s, &frame, t0), Outcome::Later);
    assert_eq!(c.offsets("t", 0), Some((0, 1)), "applied before the answer");
    assert_eq!(c.poll_timeout(), Some(t0 + stall));
    c.handle_timeout(t0 + stall - Duration::from_millis(1));
    assert!(c.take_completions().is_empty(), "still stalled");
    c.handle_timeout(t0 + stall);
    let done = c.take_completions();
    assert_eq!((done.len(), done[0].conn), (1, s.id()));
    let (_, resp): (_, ProduceResponse) = response(&done[0].frame, 9);
    let p = resp.responses.iter().next().unwrap();
    assert_eq!(
        p.partition_responses.iter().next().unwrap().error_code,
        ErrorCode::NONE
    );
    // A closed connection's stalled answer is dropped.
    c.inject(Fault::stall(ApiKey::Produce, 1, stall));
    assert_eq!(send(&mut c, &mut s, &frame, t0), Outcome::Later);
    c.close_session(&s);
    assert_eq!(c.poll_timeout(), None);

    let mut s = c.open_session(1, None);
    let throttle = Duration::from_millis(400);
    c.inject(Fault::throttle(ApiKey::Produce, 1, throttle));
    let throttled = |frame: &[u8]| -> i32 {
        let (_, resp): (_, ProduceResponse) = response(frame, 9);
        resp.throttle_time_ms
    };
    assert_eq!(throttled(&call(&mut c, &mut s, &frame, t0)), 400);
    let later = t0 + Duration::from_millis(100);
    assert_eq!(
        throttled(&call(&mut c, &mut s, &frame, later)),
        0,
        "used up"
    );
    assert_eq!(c.throttle_violations(), 0, "on its way before the answer");
    call(&mut c, &mut s, &frame, t0 + Duration::from_millis(300));
    assert_eq!(c.throttle_violations(), 1, "sent during the throttle");
    call(&mut c, &mut s, &frame, t0 + throttle);
    assert_eq!(c.throttle_violations(), 1, "after the throttle");
}

#[test]
fn versions_outside_the_advertised_range() {
    let mut c = Cluster::new(Config {
        kafka4: true,
        ..config(1)
    });
    c.create_topic("t", 1).unwrap();
    let mut s = c.open_session(1, None);
    // Produce v2 is in the codec, and Kafka 4.x still advertises it, but
    // below its floor: Kafka 4.4 closes the connection (tests/differential.rs).
    let legacy = legacy_v1(0, None, b"x");
    assert_eq!(
        send(
            &mut c,
            &mut s,
            &produce_frame(1, 2, "t", 0, -1, &legacy),
            Instant::now()
        ),
        Outcome::Close(None)
    );
    assert_eq!(c.offsets("t", 0), Some((0, 0)));
    // So does a version it does not advertise (Fetch v3).
    let mut s = c.open_session(1, None);
    assert_eq!(
        send(
            &mut c,
            &mut s,
            &FetchOne::new("t", 0).frame(1, 3),
            Instant::now()
        ),
        Outcome::Close(None)
    );
    let mut s = c.open_session(1, None);
    // Versions no schema describes, and unknown API keys: the connection closes.
    let mut frame = request(1, 9, &MetadataRequest::default());
    frame[6..8].copy_from_slice(&77i16.to_be_bytes());
    assert_eq!(
        send(&mut c, &mut s, &frame, Instant::now()),
        Outcome::Close(None)
    );
    frame[4..6].copy_from_slice(&32i16.to_be_bytes()); // DescribeConfigs: not served
    assert_eq!(
        send(&mut c, &mut s, &frame, Instant::now()),
        Outcome::Close(None)
    );
}

#[test]
fn sasl_plain_gates_every_other_api() {
    let mut c = Cluster::new(Config {
        sasl_users: vec![SaslUser::new("alice", "secret")],
        ..config(1)
    });
    let meta = request(1, 9, &MetadataRequest::default());
    let mut s = c.open_session(1, None);
    assert_eq!(
        send(&mut c, &mut s, &meta, Instant::now()),
        Outcome::Close(None),
        "before authentication"
    );

    let mut s = c.open_session(1, None);
    call(
        &mut c,
        &mut s,
        &request(1, 3, &API_VERSIONS),
        Instant::now(),
    );
    let hs = SaslHandshakeRequest { mechanism: "PLAIN" };
    let frame = call(&mut c, &mut s, &request(2, 1, &hs), Instant::now());
    let (_, resp): (_, SaslHandshakeResponse) = response(&frame, 1);
    assert_eq!(resp.error_code, ErrorCode::NONE);
    assert!(resp.mechanisms.iter().eq(["PLAIN"]));
    let auth = SaslAuthenticateRequest {
        auth_bytes: b"\0alice\0secret",
    };
    let frame = call(&mut c, &mut s, &request(3, 2, &auth), Instant::now());
    let (_, resp): (_, SaslAuthenticateResponse) = response(&frame, 2);
    assert_eq!(resp.error_code, ErrorCode::NONE);
    metadata(&mut c, &mut s, 9);

    // A wrong password is answered, then the connection closes.
    let mut s = c.open_session(1, None);
    call(&mut c, &mut s, &request(2, 1, &hs), Instant::now());
    let bad = SaslAuthenticateRequest {
        auth_bytes: b"\0alice\0guess",
    };
    let Outcome::Close(Some(frame)) = send(&mut c, &mut s, &request(3, 2, &bad), Instant::now())
    else {
        panic!("a failed authentication closes the connection")
    };
    let (_, resp): (_, SaslAuthenticateResponse) = response(&frame, 2);
    assert_eq!(resp.error_code, ErrorCode::SASL_AUTHENTICATION_FAILED);

    // SaslHandshake v0: the token follows as a bare frame, answered by an empty bare frame.
    let mut s = c.open_session(1, None);
    call(&mut c, &mut s, &request(2, 0, &hs), Instant::now());
    let h = c.handle(&mut s, b"\0alice\0secret", Instant::now());
    assert_eq!(h.outcome, Outcome::Respond(vec![0, 0, 0, 0]));
    metadata(&mut c, &mut s, 9);
}

/// SCRAM over SaslHandshake v0 (bare frames both ways), KIP-368 expiry on
/// the caller's clock, a request out of turn mid-exchange, and the
/// principal in the request record, all without I/O.
#[test]
fn sasl_sessions_without_io() {
    let mut c = Cluster::new(Config {
        security: Security::sasl_plaintext(
            SaslConfig::all()
                .user("alice", "secret")
                .reauth_after(Duration::from_secs(10)),
        ),
        ..config(1)
    });
    let t0 = Instant::now();
    let meta = request(4, 9, &MetadataRequest::default());
    let mut s = c.open_session(1, None);
    assert!(s.awaiting_authentication() && !s.authenticated());
    let hs = SaslHandshakeRequest {
        mechanism: "SCRAM-SHA-256",
    };
    call(&mut c, &mut s, &request(1, 0, &hs), t0);
    let mut client = ScramClient::new(ScramHash::Sha256, "alice", "secret", &[9; 24]).unwrap();
    let mut buf = [0u8; 512];
    for _ in 0..2 {
        let n = client.message(&mut buf).unwrap();
        let Outcome::Respond(answer) = c.handle(&mut s, &buf[..n], t0).outcome else {
            panic!("a bare answer")
        };
        let len = u32::from_be_bytes([answer[0], answer[1], answer[2], answer[3]]) as usize;
        assert_eq!(len + 4, answer.len());
        client.receive(&answer[4..]).unwrap();
    }
    assert!(client.is_complete());
    assert!(s.authenticated() && !s.awaiting_authentication());
    assert_eq!(s.principal(), "alice");
    call(&mut c, &mut s, &meta, t0 + Duration::from_secs(9));
    assert_eq!(
        send(&mut c, &mut s, &meta, t0 + Duration::from_secs(10)),
        Outcome::Close(None),
        "the session expired"
    );
    let principals: Vec<(Option<ApiKey>, String)> = c
        .take_requests()
        .into_iter()
        .map(|r| (r.api(), r.principal))
        .collect();
    assert_eq!(
        principals,
        [
            (Some(ApiKey::SaslHandshake), "ANONYMOUS".to_owned()),
            (Some(ApiKey::Metadata), "alice".to_owned()),
            (Some(ApiKey::Metadata), "alice".to_owned()),
        ]
    );

    // Mid-exchange a second SaslHandshake is ILLEGAL_SASL_STATE, the
    // connection closes, and it counts as a failed authentication.
    let mut s = c.open_session(1, None);
    let plain = SaslHandshakeRequest { mechanism: "PLAIN" };
    call(&mut c, &mut s, &request(1, 1, &plain), t0);
    let Outcome::Close(Some(frame)) = send(&mut c, &mut s, &request(2, 1, &plain), t0) else {
        panic!("answered, then closed")
    };
    let (_, resp): (_, SaslHandshakeResponse) = response(&frame, 1);
    assert_eq!(resp.error_code, ErrorCode::ILLEGAL_SASL_STATE);
    assert!(s.take_authentication_failure());
    assert!(!s.take_authentication_failure(), "reported once");
    assert_eq!(send(&mut c, &mut s, &meta, t0), Outcome::Close(None));
}

#[test]
fn requests_are_recorded() {
    let mut c = Cluster::new(config(2));
    let mut s = c.open_session(2, None);
    metadata(&mut c, &mut s, 9);
    call(
        &mut c,
        &mut s,
        &request(5, 3, &API_VERSIONS),
        Instant::now(),
    );
    let recorded = c.take_requests();
    let seen: Vec<_> = recorded
        .iter()
        .map(|r| {
            (
                r.broker,
                r.api(),
                r.api_version,
                r.correlation_id,
                r.client_id.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (2, Some(ApiKey::Metadata), 9, 4, Some("test-client")),
            (2, Some(ApiKey::ApiVersions), 3, 5, Some("test-client")),
        ]
    );
    assert!(c.requests().is_empty());
}

/// Every request type at every version with default fields, encoded by the core.
fn seed_frames() -> Vec<Vec<u8>> {
    macro_rules! frames {
        ($($api:ident => $ty:ty),* $(,)?) => {{
            let mut out = Vec::new();
            $(
                let r = codec_versions(ApiKey::$api);
                for v in r.min..=r.max {
                    let mut buf = vec![0u8; 4096];
                    let body = <$ty>::default();
                    if let Ok(n) = microkafka_core::protocol::frame::encode_request(&mut buf, 1, Some("fuzz"), v, &body) {
                        buf.truncate(n);
                        out.push(buf);
                    }
                }
            )*
            out
        }};
    }
    let mut out = frames! {
        Produce => ProduceRequest, Fetch => FetchRequest, ListOffsets => ListOffsetsRequest,
        Metadata => MetadataRequest, OffsetCommit => OffsetCommitRequest, OffsetFetch => OffsetFetchRequest,
        FindCoordinator => FindCoordinatorRequest, JoinGroup => JoinGroupRequest, Heartbeat => HeartbeatRequest,
        LeaveGroup => LeaveGroupRequest, SyncGroup => SyncGroupRequest, DescribeGroups => DescribeGroupsRequest,
        ListGroups => ListGroupsRequest, SaslHandshake => SaslHandshakeRequest, ApiVersions => ApiVersionsRequest,
        CreateTopics => CreateTopicsRequest, DeleteTopics => DeleteTopicsRequest,
        InitProducerId => InitProducerIdRequest, SaslAuthenticate => SaslAuthenticateRequest,
        CreatePartitions => CreatePartitionsRequest, AddPartitionsToTxn => AddPartitionsToTxnRequest,
        AddOffsetsToTxn => AddOffsetsToTxnRequest, EndTxn => EndTxnRequest,
        TxnOffsetCommit => TxnOffsetCommitRequest,
    };
    out.extend(rich_frames());
    out
}

/// Requests that name real partitions, members and configs, so mutations
/// reach deep into the handlers.
fn rich_frames() -> Vec<Vec<u8>> {
    let records = batch(&[b"v0", b"v1"], 1);
    let legacy = [legacy_v1(1, Some(b"k"), b"v"), legacy_v1(2, None, b"w")].concat();
    let mut out = Vec::new();
    for (version, records) in [(2, &legacy), (3, &records), (9, &records)] {
        out.push(produce_frame(1, version, "t", 1, 1, records));
    }
    let fetch = FetchOne {
        partition: 1,
        partition_max_bytes: 100,
        max_wait_ms: 10,
        min_bytes: 1,
        ..FetchOne::new("t", 0)
    };
    for version in [1, 4, 12, 13] {
        out.push(fetch.frame(1, version));
    }
    let protocols = [JoinGroupRequestProtocol {
        name: "range",
        metadata: b"meta",
    }];
    let join = JoinGroupRequest {
        group_id: "g",
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        protocol_type: "consumer",
        protocols: Array::new(&protocols),
        ..Default::default()
    };
    for version in [0, 5, 9] {
        out.push(request(1, version, &join));
    }
    let commits = [OffsetCommitRequestPartition {
        partition_index: 1,
        committed_offset: 1,
        committed_metadata: Some("m"),
        ..Default::default()
    }];
    let commit_topics = [OffsetCommitRequestTopic {
        name: "t",
        partitions: Array::new(&commits),
    }];
    let commit = OffsetCommitRequest {
        group_id: "g",
        topics: Array::new(&commit_topics),
        ..Default::default()
    };
    out.push(request(1, 8, &commit));
    let configs = [CreatableTopicConfig {
        name: "retention.bytes",
        value: Some("1000"),
    }];
    let create = [CreatableTopic {
        name: "new",
        num_partitions: 2,
        replication_factor: 1,
        configs: Array::new(&configs),
        ..Default::default()
    }];
    out.push(request(
        1,
        5,
        &CreateTopicsRequest {
            topics: Array::new(&create),
            ..Default::default()
        },
    ));
    out
}

/// Mutated real requests and random bytes never panic the cluster, and it
/// answers well-formed requests afterwards.
#[test]
fn random_and_mutated_frames_never_panic() {
    let seeds = seed_frames();
    assert!(seeds.len() > 150, "{}", seeds.len());
    let mut c = Cluster::new(config(3));
    c.create_topic("t", 3).unwrap();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let now = Instant::now();
    for i in 0..30_000u64 {
        let mut frame = seeds[(next() as usize) % seeds.len()][4..].to_vec();
        match next() % 4 {
            0 => {
                for _ in 0..1 + next() % 4 {
                    let at = (next() as usize) % frame.len();
                    frame[at] = next() as u8;
                }
            }
            1 => frame.truncate((next() as usize) % frame.len()),
            2 => {
                let at = 8 + (next() as usize) % (frame.len().saturating_sub(8).max(1));
                let at = at.min(frame.len());
                for _ in 0..next() % 16 {
                    frame.insert(at, next() as u8);
                }
            }
            _ => frame = (0..next() % 64).map(|_| next() as u8).collect(),
        }
        let mut s = c.open_session(1 + (i % 3) as i32, None);
        let _ = c.handle(&mut s, &frame, now + Duration::from_millis(i));
        c.handle_timeout(now + Duration::from_millis(i));
        let _ = c.take_completions();
        c.close_session(&s);
    }
    let mut s = c.open_session(1, None);
    metadata(&mut c, &mut s, 12);
    call(&mut c, &mut s, &request(1, 3, &API_VERSIONS), now);
}

#[test]
fn offsets_commit_and_fetch_single_and_multi_group() {
    let mut c = Cluster::new(config(1));
    c.create_topic("t", 2).unwrap();
    let mut s = c.open_session(1, None);
    // A client outside any group (generation -1, no member) commits for two groups.
    for (group, offset) in [("g1", 10), ("g2", 20)] {
        let parts = [OffsetCommitRequestPartition {
            partition_index: 1,
            committed_offset: offset,
            committed_metadata: Some("meta"),
            ..Default::default()
        }];
        let topics = [OffsetCommitRequestTopic {
            name: "t",
            partitions: Array::new(&parts),
        }];
        let commit = OffsetCommitRequest {
            group_id: group,
            topics: Array::new(&topics),
            ..Default::default()
        };
        let frame = call(&mut c, &mut s, &request(1, 8, &commit), Instant::now());
        let (_, resp): (_, OffsetCommitResponse) = response(&frame, 8);
        let p = resp
            .topics
            .iter()
            .next()
            .unwrap()
            .partitions
            .iter()
            .next()
            .unwrap();
        assert_eq!(p.error_code, ErrorCode::NONE);
    }
    assert_eq!(c.committed_offset("g2", "t", 1), Some(20));

    // v1: one group, named partitions; nothing committed is -1.
    let indexes = [0, 1];
    let topics = [OffsetFetchRequestTopic {
        name: "t",
        partition_indexes: Array::new(&indexes),
    }];
    let fetch = OffsetFetchRequest {
        group_id: "g1",
        topics: Some(Array::new(&topics)),
        ..Default::default()
    };
    let frame = call(&mut c, &mut s, &request(2, 1, &fetch), Instant::now());
    let (_, resp): (_, OffsetFetchResponse) = response(&frame, 1);
    let got: Vec<(i32, i64)> = resp
        .topics
        .iter()
        .next()
        .unwrap()
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.committed_offset))
        .collect();
    assert_eq!(got, [(0, -1), (1, 10)]);

    // v8: several groups at once, null topics meaning "everything committed".
    let groups = [
        OffsetFetchRequestGroup {
            group_id: "g1",
            topics: None,
            ..Default::default()
        },
        OffsetFetchRequestGroup {
            group_id: "g2",
            topics: None,
            ..Default::default()
        },
        OffsetFetchRequestGroup {
            group_id: "none",
            topics: None,
            ..Default::default()
        },
    ];
    let fetch = OffsetFetchRequest {
        groups: Array::new(&groups),
        ..Default::default()
    };
    let frame = call(&mut c, &mut s, &request(3, 8, &fetch), Instant::now());
    let (_, resp): (_, OffsetFetchResponse) = response(&frame, 8);
    type Committed<'a> = (i32, i64, Option<&'a str>);
    let got: Vec<(&str, Vec<Committed<'_>>)> = resp
        .groups
        .iter()
        .map(|g| {
            let parts = g
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(|p| (p.partition_index, p.committed_offset, p.metadata))
                })
                .collect();
            (g.group_id, parts)
        })
        .collect();
    assert_eq!(
        got,
        [
            ("g1", vec![(1, 10, Some("meta"))]),
            ("g2", vec![(1, 20, Some("meta"))]),
            ("none", vec![]),
        ]
    );
    // Committing to a partition that does not exist.
    let parts = [OffsetCommitRequestPartition {
        partition_index: 9,
        committed_offset: 1,
        ..Default::default()
    }];
    let topics = [OffsetCommitRequestTopic {
        name: "t",
        partitions: Array::new(&parts),
    }];
    let commit = OffsetCommitRequest {
        group_id: "g1",
        topics: Array::new(&topics),
        ..Default::default()
    };
    let frame = call(&mut c, &mut s, &request(4, 2, &commit), Instant::now());
    let (_, resp): (_, OffsetCommitResponse) = response(&frame, 2);
    let p = resp
        .topics
        .iter()
        .next()
        .unwrap()
        .partitions
        .iter()
        .next()
        .unwrap();
    assert_eq!(p.error_code, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
}

#[test]
fn absurd_partition_counts_are_refused() {
    let mut c = Cluster::new(config(1));
    let mut s = c.open_session(1, None);
    let topics = [CreatableTopic {
        name: "huge",
        num_partitions: i32::MAX,
        replication_factor: 1,
        ..Default::default()
    }];
    let req = CreateTopicsRequest {
        topics: Array::new(&topics),
        ..Default::default()
    };
    let frame = call(&mut c, &mut s, &request(1, 5, &req), Instant::now());
    let (_, resp): (_, CreateTopicsResponse) = response(&frame, 5);
    assert_eq!(
        resp.topics.iter().next().unwrap().error_code,
        ErrorCode::INVALID_PARTITIONS
    );
    assert!(c.topic_names().is_empty());
}
