//! The tokio layer over real sockets: bad input, pipelining, long-polls,
//! latency, dropped connections, brokers going down and up, cold start.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::net::{closed, connect, read_frame};
use common::wire::{batch, produce_frame, request, response, FetchOne};
use microkafka_core::protocol::messages::*;
use microkafka_core::ErrorCode;
use microkafka_mock_broker::{Config, MockCluster};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// ApiVersions v3+ must name the client software (Kafka answers
/// INVALID_REQUEST to an empty name, and so does the mock).
const API_VERSIONS: ApiVersionsRequest<'static> = ApiVersionsRequest {
    client_software_name: "microkafka-test",
    client_software_version: "1.0",
};

async fn api_versions_ok(addr: SocketAddr) {
    let mut s = connect(addr).await;
    s.write_all(&request(77, 3, &API_VERSIONS)).await.unwrap();
    let frame = read_frame(&mut s).await.expect("an ApiVersions answer");
    let (corr, resp): (_, ApiVersionsResponse) = response(&frame, 3);
    assert_eq!((corr, resp.error_code), (77, ErrorCode::NONE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_close_only_their_connection() {
    let cluster = MockCluster::start(Config {
        max_frame_size: 64 * 1024,
        ..Config::with_brokers(1)
    })
    .await
    .unwrap();
    cluster.create_topic("t", 1).unwrap();
    let addr = cluster.addrs()[0];
    let mut steady = connect(addr).await;
    steady
        .write_all(&request(1, 3, &API_VERSIONS))
        .await
        .unwrap();
    read_frame(&mut steady).await.unwrap();

    let mut unknown_api = request(1, 9, &MetadataRequest::default());
    unknown_api[4..6].copy_from_slice(&32i16.to_be_bytes());
    let produce = produce_frame(1, 9, "t", 0, 1, b"not a batch at all");
    let mut truncated = produce[..produce.len() - 6].to_vec();
    let size = (truncated.len() - 4) as i32;
    truncated[..4].copy_from_slice(&size.to_be_bytes());
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("over the frame limit", (1i32 << 30).to_be_bytes().to_vec()),
        ("negative size", (-5i32).to_be_bytes().to_vec()),
        (
            "garbage header",
            [&10i32.to_be_bytes()[..], &[0xff; 10]].concat(),
        ),
        ("unknown API key", unknown_api),
        ("truncated body", truncated),
    ];
    for (what, bytes) in bad {
        let mut s = connect(addr).await;
        s.write_all(&bytes).await.unwrap();
        assert!(closed(&mut s).await, "{what}");
        api_versions_ok(addr).await;
    }
    // A Produce with a bad batch is an error answer, not a closed connection.
    let mut s = connect(addr).await;
    s.write_all(&produce).await.unwrap();
    let frame = read_frame(&mut s).await.expect("answered");
    let (_, resp): (_, ProduceResponse) = response(&frame, 9);
    let p = resp
        .responses
        .iter()
        .next()
        .unwrap()
        .partition_responses
        .iter()
        .next()
        .unwrap();
    assert_eq!(p.error_code, ErrorCode::CORRUPT_MESSAGE);
    // The first connection never noticed.
    steady
        .write_all(&request(2, 9, &MetadataRequest::default()))
        .await
        .unwrap();
    let frame = read_frame(&mut steady).await.unwrap();
    let (corr, _): (_, MetadataResponse) = response(&frame, 9);
    assert_eq!(corr, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_from_many_clients() {
    let cluster = MockCluster::start(Config::with_brokers(2)).await.unwrap();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for i in 0..200 {
        let addr = cluster.addrs()[i % 2];
        let mut s = connect(addr).await;
        let len = (next() % 200) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 2 == 0 && len >= 8 {
            // A plausible size and a known API key, so the header parser is reached.
            bytes[..4].copy_from_slice(&((len - 4) as i32).to_be_bytes());
            bytes[4..6].copy_from_slice(&((next() % 40) as i16).to_be_bytes());
            bytes[6..8].copy_from_slice(&((next() % 14) as i16).to_be_bytes());
        }
        let _ = s.write_all(&bytes).await;
        let _ = s.shutdown().await;
    }
    for addr in cluster.addrs() {
        api_versions_ok(addr).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    let cluster = MockCluster::start(Config::with_brokers(1)).await.unwrap();
    cluster.create_topic("t", 1).unwrap();
    let mut s = connect(cluster.addrs()[0]).await;
    // A long-poll first, then two requests answerable at once, then an
    // acks=0 Produce (no answer) and one more.
    let bytes = [
        FetchOne {
            max_wait_ms: 300,
            min_bytes: 1,
            ..FetchOne::new("t", 0)
        }
        .frame(1, 11),
        request(2, 3, &API_VERSIONS),
        request(3, 9, &MetadataRequest::default()),
        produce_frame(4, 9, "t", 0, 0, &batch(&[b"quiet"], 0)),
        request(5, 3, &API_VERSIONS),
    ]
    .concat();
    let start = Instant::now();
    s.write_all(&bytes).await.unwrap();
    let mut order = Vec::new();
    for _ in 0..4 {
        let frame = read_frame(&mut s).await.unwrap();
        order.push(i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]));
    }
    assert_eq!(order, [1, 2, 3, 5]);
    assert!(start.elapsed() < Duration::from_millis(3000));
    assert_eq!(
        cluster.offsets("t", 0),
        Some((0, 1)),
        "the acks=0 produce was stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_wakes_when_data_arrives() {
    let cluster = MockCluster::start(Config::with_brokers(1)).await.unwrap();
    cluster.create_topic("t", 1).unwrap();
    let addr = cluster.addrs()[0];
    let mut consumer = connect(addr).await;
    let start = Instant::now();
    consumer
        .write_all(
            &FetchOne {
                max_wait_ms: 10_000,
                min_bytes: 1,
                ..FetchOne::new("t", 0)
            }
            .frame(1, 11),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut producer = connect(addr).await;
    producer
        .write_all(&produce_frame(1, 9, "t", 0, 1, &batch(&[b"hello"], 0)))
        .await
        .unwrap();
    read_frame(&mut producer).await.unwrap();
    let frame = read_frame(&mut consumer).await.unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "woken by the produce, not the 10 s wait"
    );
    let (_, resp): (_, FetchResponse) = response(&frame, 11);
    let p = resp
        .responses
        .iter()
        .next()
        .unwrap()
        .partitions
        .iter()
        .next()
        .unwrap();
    assert_eq!(p.high_watermark, 1);
    assert!(!p.records.unwrap_or_default().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_and_dropped_connections() {
    let cluster = MockCluster::start(Config::with_brokers(2)).await.unwrap();
    let addr = cluster.addrs()[0];
    cluster.set_latency(1, Duration::from_millis(200)).unwrap();
    let start = Instant::now();
    api_versions_ok(addr).await;
    assert!(start.elapsed() >= Duration::from_millis(200));
    cluster.set_latency(1, Duration::ZERO).unwrap();

    let mut s1 = connect(addr).await;
    let mut s2 = connect(cluster.addrs()[1]).await;
    s1.write_all(&request(1, 3, &API_VERSIONS)).await.unwrap();
    read_frame(&mut s1).await.unwrap();
    cluster.drop_connections(1);
    assert!(closed(&mut s1).await);
    s2.write_all(&request(1, 3, &API_VERSIONS)).await.unwrap();
    assert!(
        read_frame(&mut s2).await.is_some(),
        "broker 2's connections stay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_goes_down_and_comes_back_on_its_port() {
    let cluster = MockCluster::start(Config::with_brokers(2)).await.unwrap();
    let addr = cluster.addrs()[1];
    let mut s = connect(addr).await;
    s.write_all(&request(1, 3, &API_VERSIONS)).await.unwrap();
    read_frame(&mut s).await.unwrap();
    cluster.broker_down(2).unwrap();
    assert!(closed(&mut s).await, "its connections close");
    let refused = TcpStream::connect(addr).await;
    assert!(refused.is_err(), "its listener is gone");
    cluster.broker_up(2).unwrap();
    api_versions_ok(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_to_accepting_connections() {
    let start = Instant::now();
    let cluster = MockCluster::start(Config::with_brokers(3)).await.unwrap();
    let mut s = connect(cluster.addrs()[0]).await;
    let accepting = start.elapsed();
    s.write_all(&request(1, 3, &API_VERSIONS)).await.unwrap();
    read_frame(&mut s).await.unwrap();
    let answered = start.elapsed();
    println!("cold start (3 brokers): accepting after {accepting:?}, first ApiVersions answered after {answered:?}");
    assert!(accepting < Duration::from_millis(50), "{accepting:?}");
}
