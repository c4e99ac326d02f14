//! The broker's limits, each against the hostile input it exists for: small
//! requests that asked for huge work, floods, stalls, and resources a client
//! could make the broker hold forever. See `Limits` and the README's table.

mod common;

use std::time::{Duration, Instant};

use common::net::{closed, connect, read_frame, WAIT};
use common::wire::{batch, legacy_v1, produce_frame, request, response, FetchOne};
use microkafka_core::protocol::frame::encode_request;
use microkafka_core::protocol::messages::*;
use microkafka_core::protocol::Request;
use microkafka_core::record::compression::{Codecs, Compression};
use microkafka_core::record::{crc32_ieee, BatchOptions, RecordBatchBuilder};
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;
use microkafka_mock_broker::{Cluster, Config, Limits, MockCluster, Outcome, SaslUser, Session};
use tokio::io::AsyncWriteExt;

/// ApiVersions v3+ must name the client software (Kafka answers
/// INVALID_REQUEST to an empty name, and so does the mock).
const API_VERSIONS: ApiVersionsRequest<'static> = ApiVersionsRequest {
    client_software_name: "microkafka-test",
    client_software_version: "1.0",
};

fn config(limits: Limits) -> Config {
    Config {
        seed: Some(1),
        limits,
        ..Config::with_brokers(1)
    }
}

/// A whole request frame, however large.
fn big_request<'a, R: Request<'a>>(correlation_id: i32, version: i16, body: &R) -> Vec<u8> {
    let mut buf = vec![0u8; 64 << 20];
    let n = encode_request(&mut buf, correlation_id, Some("hostile"), version, body).unwrap();
    buf.truncate(n);
    buf
}

fn call(c: &mut Cluster, s: &mut Session, frame: &[u8]) -> Vec<u8> {
    match c.handle(s, &frame[4..], Instant::now()).outcome {
        Outcome::Respond(frame) => frame,
        other => panic!("expected a response, got {other:?}"),
    }
}

/// Stores `n` batches of `size`-byte values in `topic`/`partition`.
fn fill(c: &mut Cluster, s: &mut Session, topic: &str, partition: i32, n: usize, size: usize) {
    let value = vec![b'x'; size];
    for _ in 0..n {
        let frame = call(
            c,
            s,
            &produce_frame(1, 9, topic, partition, 1, &batch(&[&value], 0)),
        );
        let (_, resp): (_, ProduceResponse) = response(&frame, 9);
        let p = resp.responses.iter().next().unwrap();
        let e = p.partition_responses.iter().next().unwrap().error_code;
        assert_eq!(e, ErrorCode::NONE);
    }
}

/// Bytes of records in a Fetch response, and its partition entries.
fn fetched_bytes(frame: &[u8], version: i16) -> (usize, usize) {
    let (_, resp): (_, FetchResponse) = response(frame, version);
    let mut bytes = 0;
    let mut entries = 0;
    for t in resp.responses.iter() {
        for p in t.partitions.iter() {
            entries += 1;
            bytes += p.records.unwrap_or_default().len();
        }
    }
    (bytes, entries)
}

/// Regression: a 13 KB Fetch v2 naming one partition 800 times was answered
/// with 800 copies of its data (96 MB); repeats are now served once.
#[test]
fn fetch_repeats_of_a_partition_are_served_once() {
    let mut c = Cluster::new(config(Limits::default()));
    c.create_topic("t", 1).unwrap();
    let mut s = c.open_session(1, None);
    fill(&mut c, &mut s, "t", 0, 4, 30_000);
    let parts: Vec<FetchPartition> = (0..800)
        .map(|_| FetchPartition {
            partition: 0,
            fetch_offset: 0,
            partition_max_bytes: i32::MAX,
            ..Default::default()
        })
        .collect();
    let topics = [FetchTopic {
        topic: "t",
        partitions: Array::new(&parts),
        ..Default::default()
    }];
    let req = FetchRequest {
        max_bytes: i32::MAX,
        topics: Array::new(&topics),
        ..Default::default()
    };
    let frame = request(1, 2, &req);
    assert!(frame.len() < 16_000, "a small request: {} B", frame.len());
    let (bytes, entries) = fetched_bytes(&call(&mut c, &mut s, &frame), 2);
    assert_eq!(entries, 1);
    assert!(bytes < 130_000, "{bytes} B");
}

/// Fetch v0-2 have no request-wide byte limit; the broker's fetch_max_bytes
/// bounds them (and every version) anyway, keeping KIP-74's first batch.
#[test]
fn fetch_responses_are_bounded_by_fetch_max_bytes() {
    let mut c = Cluster::new(config(Limits {
        fetch_max_bytes: 200_000,
        ..Limits::default()
    }));
    c.create_topic("t", 8).unwrap();
    let mut s = c.open_session(1, None);
    for p in 0..8 {
        // Partitions are led by broker 1 (the only one).
        fill(&mut c, &mut s, "t", p, 2, 50_000);
    }
    let parts: Vec<FetchPartition> = (0..8)
        .map(|p| FetchPartition {
            partition: p,
            partition_max_bytes: i32::MAX,
            ..Default::default()
        })
        .collect();
    let topics = [FetchTopic {
        topic: "t",
        partitions: Array::new(&parts),
        ..Default::default()
    }];
    for (version, max_bytes) in [(2, 0), (11, i32::MAX)] {
        let req = FetchRequest {
            max_bytes,
            topics: Array::new(&topics),
            ..Default::default()
        };
        let (bytes, entries) =
            fetched_bytes(&call(&mut c, &mut s, &request(1, version, &req)), version);
        assert_eq!(entries, 8);
        assert!(
            (150_000..=200_000).contains(&bytes),
            "v{version}: {bytes} B against a 200 kB limit"
        );
    }
}

/// CreateTopics: duplicate names are INVALID_REQUEST (found by a hash, not a
/// scan per name: 40k names took 26.6 s), and the topic and partition limits
/// answer POLICY_VIOLATION / INVALID_PARTITIONS without creating anything.
#[test]
fn create_topics_duplicates_and_limits() {
    let mut c = Cluster::new(config(Limits {
        max_topics: 5,
        max_partitions_per_topic: 100,
        max_partitions: 150,
        ..Limits::default()
    }));
    let mut s = c.open_session(1, None);
    let names: Vec<String> = (0..20_000).map(|i| format!("t{}", i % 10_000)).collect();
    let topics: Vec<CreatableTopic> = names
        .iter()
        .map(|n| CreatableTopic {
            name: n,
            num_partitions: 1,
            replication_factor: 1,
            ..Default::default()
        })
        .collect();
    let req = CreateTopicsRequest {
        topics: Array::new(&topics),
        timeout_ms: 1000,
        validate_only: true,
    };
    let frame = call(&mut c, &mut s, &big_request(1, 5, &req));
    let (_, resp): (_, CreateTopicsResponse) = response(&frame, 5);
    // As Kafka: one INVALID_REQUEST answer per repeated name.
    assert_eq!(resp.topics.len(), 10_000);
    assert!(resp
        .topics
        .iter()
        .all(|t| t.error_code == ErrorCode::INVALID_REQUEST));

    let create = |c: &mut Cluster, s: &mut Session, name: &str, partitions: i32| {
        let topics = [CreatableTopic {
            name,
            num_partitions: partitions,
            replication_factor: 1,
            ..Default::default()
        }];
        let req = CreateTopicsRequest {
            topics: Array::new(&topics),
            timeout_ms: 1000,
            validate_only: false,
        };
        let frame = call(c, s, &request(1, 5, &req));
        let (_, resp): (_, CreateTopicsResponse) = response(&frame, 5);
        let e = resp.topics.iter().next().unwrap().error_code;
        e
    };
    assert_eq!(
        create(&mut c, &mut s, "a", 101),
        ErrorCode::INVALID_PARTITIONS
    );
    assert_eq!(create(&mut c, &mut s, "a", 100), ErrorCode::NONE);
    assert_eq!(create(&mut c, &mut s, "b", 51), ErrorCode::POLICY_VIOLATION);
    for name in ["b", "c", "d", "e"] {
        assert_eq!(create(&mut c, &mut s, name, 1), ErrorCode::NONE);
    }
    assert_eq!(create(&mut c, &mut s, "f", 1), ErrorCode::POLICY_VIOLATION);
    assert_eq!(c.topic_names().len(), 5);
}

/// ListOffsets by timestamp naming a partition more than once: each mention
/// gets INVALID_REQUEST, as Kafka answers (each repeat once decompressed a
/// stored batch into a fresh 64 MiB buffer).
#[test]
fn list_offsets_repeats_are_invalid() {
    let mut c = Cluster::new(config(Limits::default()));
    c.create_topic("t", 2).unwrap();
    let mut s = c.open_session(1, None);
    fill(&mut c, &mut s, "t", 0, 1, 10);
    let mut parts: Vec<ListOffsetsPartition> = (0..1000)
        .map(|_| ListOffsetsPartition {
            partition_index: 0,
            timestamp: 0,
            ..Default::default()
        })
        .collect();
    parts.push(ListOffsetsPartition {
        partition_index: 1,
        timestamp: -1,
        ..Default::default()
    });
    let topics = [ListOffsetsTopic {
        name: "t",
        partitions: Array::new(&parts),
    }];
    let req = ListOffsetsRequest {
        replica_id: -1,
        topics: Array::new(&topics),
        ..Default::default()
    };
    let frame = call(&mut c, &mut s, &request(1, 5, &req));
    let (_, resp): (_, ListOffsetsResponse) = response(&frame, 5);
    let got: Vec<(i32, ErrorCode)> = resp
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (p.partition_index, p.error_code))
        })
        .collect();
    // As Kafka: the repeated partition is answered once, INVALID_REQUEST.
    assert_eq!(got, [(0, ErrorCode::INVALID_REQUEST), (1, ErrorCode::NONE)]);
}

/// A gzip magic-1 wrapper around one message of `inner_len` bytes.
fn gzip_wrapper(inner_len: usize) -> Vec<u8> {
    let inner = legacy_v1(1_600_000_000_000, None, &vec![0u8; inner_len]);
    let mut codecs = Codecs::new();
    let mut value = vec![0u8; inner.len() + 1024];
    let n = codecs
        .codec(Compression::Gzip)
        .unwrap()
        .compress(&inner, &mut value)
        .unwrap();
    value.truncate(n);
    let mut body = vec![1u8, 1]; // magic 1, gzip
    body.extend_from_slice(&1_600_000_000_000i64.to_be_bytes());
    body.extend_from_slice(&(-1i32).to_be_bytes());
    body.extend_from_slice(&(value.len() as i32).to_be_bytes());
    body.extend_from_slice(&value);
    let mut m = 0i64.to_be_bytes().to_vec();
    m.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    m.extend_from_slice(&crc32_ieee(&body).to_be_bytes());
    m.extend_from_slice(&body);
    m
}

/// Legacy compressed wrappers inflate into a buffer sized by the data (it
/// was a max-frame 100 MiB buffer per wrapper), bounded by max_inflated_bytes.
#[test]
fn legacy_wrappers_inflate_within_the_limit() {
    let mut c = Cluster::new(config(Limits {
        max_inflated_bytes: 1 << 20,
        ..Limits::default()
    }));
    c.create_topic("t", 1).unwrap();
    let mut s = c.open_session(1, None);
    let produce = |c: &mut Cluster, s: &mut Session, records: &[u8]| {
        let frame = call(c, s, &produce_frame(1, 2, "t", 0, 1, records));
        let (_, resp): (_, ProduceResponse) = response(&frame, 2);
        let p = resp.responses.iter().next().unwrap();
        let e = p.partition_responses.iter().next().unwrap().error_code;
        e
    };
    assert_eq!(
        produce(&mut c, &mut s, &gzip_wrapper(500_000)),
        ErrorCode::NONE
    );
    let bomb = gzip_wrapper(4 << 20);
    assert!(bomb.len() < 10_000, "{} B inflating to 4 MiB", bomb.len());
    assert_eq!(produce(&mut c, &mut s, &bomb), ErrorCode::CORRUPT_MESSAGE);
    assert_eq!(c.offsets("t", 0), Some((0, 1)));
}

/// An idempotent magic-2 batch.
fn idempotent_batch(producer_id: i64, base_sequence: i32, values: &[&[u8]]) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let options = BatchOptions {
        producer_id,
        producer_epoch: 0,
        base_sequence,
        ..Default::default()
    };
    let mut b = RecordBatchBuilder::new(&mut buf, options).unwrap();
    for v in values {
        b.append(0, None, Some(v), &[]).unwrap();
    }
    b.finish().unwrap().to_vec()
}

/// Produce v0-2 may carry several batches for a partition: when a later one
/// is refused, none is stored (it answered success after storing the first).
/// And a batch whose last offset delta disagrees with its record count is
/// INVALID_RECORD, as Kafka's LogValidator says.
#[test]
fn several_batches_are_stored_all_or_none_and_counts_must_match() {
    let mut c = Cluster::new(config(Limits::default()));
    c.create_topic("t", 1).unwrap();
    let mut s = c.open_session(1, None);
    let produce = |c: &mut Cluster, s: &mut Session, version: i16, records: &[u8]| {
        let frame = call(c, s, &produce_frame(1, version, "t", 0, 1, records));
        let (_, resp): (_, ProduceResponse) = response(&frame, version);
        let p = resp.responses.iter().next().unwrap();
        let p = p.partition_responses.iter().next().unwrap();
        (p.error_code, p.base_offset)
    };
    // Sequences 0-1 then 5: out of order; nothing stored.
    let mut two = idempotent_batch(7, 0, &[b"a", b"b"]);
    two.extend_from_slice(&idempotent_batch(7, 5, &[b"c"]));
    assert_eq!(
        produce(&mut c, &mut s, 2, &two).0,
        ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(c.offsets("t", 0), Some((0, 0)), "nothing stored");
    // In order: both stored.
    let mut two = idempotent_batch(7, 0, &[b"a", b"b"]);
    two.extend_from_slice(&idempotent_batch(7, 2, &[b"c"]));
    assert_eq!(produce(&mut c, &mut s, 2, &two), (ErrorCode::NONE, 0));
    assert_eq!(c.offsets("t", 0), Some((0, 3)));
    // last_offset_delta 5 over 2 records (CRC fixed up: the header is valid).
    let mut bad = batch(&[b"x", b"y"], 0);
    bad[23..27].copy_from_slice(&5i32.to_be_bytes());
    let crc = microkafka_core::record::crc32c(&bad[21..]);
    bad[17..21].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(
        produce(&mut c, &mut s, 9, &bad).0,
        ErrorCode::INVALID_RECORD
    );
    assert_eq!(c.offsets("t", 0), Some((0, 3)));
}

/// Appends past max_retained_bytes drop the oldest closed segments of the
/// largest partitions: the total stays bounded across partitions.
#[test]
fn retained_bytes_are_bounded_across_partitions() {
    let mut c = Cluster::new(Config {
        segment_bytes: 100_000,
        ..config(Limits {
            max_retained_bytes: 1_000_000,
            ..Limits::default()
        })
    });
    c.create_topic("t", 10).unwrap();
    let mut s = c.open_session(1, None);
    for round in 0..30 {
        for p in 0..10 {
            fill(&mut c, &mut s, "t", p, 1, 10_000 + round);
        }
        assert!(c.retained_bytes() <= 1_000_000, "{}", c.retained_bytes());
    }
    // Every partition still has its newest data.
    for p in 0..10 {
        let (start, end) = c.offsets("t", p).unwrap();
        assert_eq!(end, 30);
        assert!(start > 0 && start < end, "partition {p}: {start}..{end}");
    }
}

/// A parked fetch is woken by data on its own partitions only.
#[test]
fn a_parked_fetch_wakes_only_for_its_partitions() {
    let mut c = Cluster::new(config(Limits::default()));
    c.create_topic("t", 2).unwrap();
    let mut consumer = c.open_session(1, None);
    let mut producer = c.open_session(1, None);
    let fetch = FetchOne {
        max_wait_ms: 10_000,
        min_bytes: 1,
        ..FetchOne::new("t", 0)
    }
    .frame(1, 11);
    let now = Instant::now();
    assert_eq!(
        c.handle(&mut consumer, &fetch[4..], now).outcome,
        Outcome::Later
    );
    fill(&mut c, &mut producer, "t", 1, 1, 10);
    assert!(
        c.take_completions().is_empty(),
        "partition 1 is not its concern"
    );
    fill(&mut c, &mut producer, "t", 0, 1, 10);
    let done = c.take_completions();
    assert_eq!(done.len(), 1);
    assert_eq!(fetched_bytes(&done[0].frame, 11).1, 1);
}

// ----- over sockets -----

/// Like Kafka (which mutes a channel until its response is sent), a
/// connection handles one request at a time: 1,500 Metadata requests behind
/// a parked Fetch are not handled (nor their answers queued: +57 MiB before)
/// until the Fetch is answered, then all are, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_behind_a_parked_fetch_wait_their_turn() {
    let cluster = MockCluster::start(config(Limits::default())).await.unwrap();
    cluster.create_topic("t", 1).unwrap();
    let mut s = connect(cluster.addrs()[0]).await;
    let fetch = FetchOne {
        max_wait_ms: 1_000,
        min_bytes: i32::MAX,
        ..FetchOne::new("t", 0)
    }
    .frame(0, 11);
    s.write_all(&fetch).await.unwrap();
    let metadata = MetadataRequest {
        topics: None,
        ..Default::default()
    };
    let mut burst = Vec::new();
    for i in 1..=1500 {
        burst.extend_from_slice(&request(i, 9, &metadata));
    }
    s.write_all(&burst).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let handled = cluster.requests().len();
    assert_eq!(handled, 1, "only the Fetch has been handled");
    for i in 0..=1500 {
        let frame = read_frame(&mut s).await.expect("an answer");
        assert_eq!(i32::from_be_bytes(frame[4..8].try_into().unwrap()), i);
    }
}

/// Connections over max_connections (or per address) are closed at once;
/// the ones admitted are served, and closing one makes room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_limited_in_total_and_per_address() {
    for limits in [
        Limits {
            max_connections: 3,
            ..Limits::default()
        },
        Limits {
            max_connections_per_address: 3,
            ..Limits::default()
        },
    ] {
        let cluster = MockCluster::start(config(limits)).await.unwrap();
        let addr = cluster.addrs()[0];
        let mut admitted = Vec::new();
        for _ in 0..3 {
            let mut s = connect(addr).await;
            s.write_all(&request(1, 3, &API_VERSIONS)).await.unwrap();
            assert!(read_frame(&mut s).await.is_some());
            admitted.push(s);
        }
        let mut refused = connect(addr).await;
        assert!(closed(&mut refused).await, "the fourth is closed");
        assert_eq!(cluster.open_connections(), 3);
        drop(admitted.pop());
        let deadline = Instant::now() + WAIT;
        while cluster.open_connections() > 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut again = connect(addr).await;
        again
            .write_all(&request(1, 3, &API_VERSIONS))
            .await
            .unwrap();
        assert!(read_frame(&mut again).await.is_some(), "room again");
    }
}

/// A client that sends part of a frame and stalls (or trickles it) is closed
/// after the idle timeout; an active one is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_partial_frame_is_closed_after_the_idle_timeout() {
    let cluster = MockCluster::start(config(Limits {
        connection_idle_timeout: Duration::from_millis(300),
        ..Limits::default()
    }))
    .await
    .unwrap();
    let addr = cluster.addrs()[0];
    let mut stalled = connect(addr).await;
    let frame = request(1, 3, &API_VERSIONS);
    stalled.write_all(&frame[..6]).await.unwrap();
    let mut trickle = connect(addr).await;
    let start = Instant::now();
    // One byte every 50 ms of a frame announced as 1 MB: never completes.
    let trickler = tokio::spawn(async move {
        trickle.write_all(&1_000_000i32.to_be_bytes()).await.ok()?;
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            trickle.write_all(&[0]).await.ok()?;
        }
        #[allow(unreachable_code)]
        Some(())
    });
    assert!(closed(&mut stalled).await);
    assert!(start.elapsed() >= Duration::from_millis(250));
    assert!(
        tokio::time::timeout(WAIT, trickler).await.is_ok(),
        "the trickler's writes fail once it is closed"
    );
    let mut active = connect(addr).await;
    for _ in 0..5 {
        active.write_all(&frame).await.unwrap();
        assert!(read_frame(&mut active).await.is_some());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Before authentication a frame may be at most 512 KiB (Kafka's
/// sasl.server.max.receive.size): a larger size prefix closes the
/// connection without the broker reserving or reading the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_frames_are_small() {
    let cluster = MockCluster::start(Config {
        sasl_users: vec![SaslUser::new("u", "p")],
        ..config(Limits::default())
    })
    .await
    .unwrap();
    let mut s = connect(cluster.addrs()[0]).await;
    s.write_all(&(100i32 << 20).to_be_bytes()).await.unwrap();
    assert!(closed(&mut s).await);
}
