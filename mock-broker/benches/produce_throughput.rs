//! Produce throughput into the mock broker, and its cold start.
//!
//! `cargo bench -p microkafka-mock-broker --bench produce_throughput`
//!
//! 1. librdkafka producers into a running broker: confluent-kafka (Python,
//!    librdkafka 2.16) timed inside the script from the first `produce()` to
//!    the end of `flush()`, and `kcat -P` (librdkafka 2.0.2) timed around the
//!    whole process. These are what a test suite sees.
//! 2. The broker alone, without a client: pre-encoded Produce frames
//!    handed to the sans-IO `Cluster`, which shows how far it outruns the
//!    clients it tests (CRC check, offset patch, copy; no per-record work).
//! 3. Cold start: `MockCluster::start` to accepting connections.
//!
//! Needs kcat and confluent-kafka (`.ci/install-capture-deps`); a missing
//! client skips its line with a note, the other numbers still print.
//! `MESSAGES=n` changes the client message count (default 500 000).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use microkafka_core::protocol::frame::encode_request;
use microkafka_core::protocol::messages::{PartitionProduceData, ProduceRequest, TopicProduceData};
use microkafka_core::record::{BatchOptions, RecordBatchBuilder};
use microkafka_core::wire::Array;
use microkafka_mock_broker::{Cluster, Config, MockCluster, Outcome};

const VALUE_BYTES: usize = 100;

fn messages() -> usize {
    std::env::var("MESSAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500_000)
}

fn python_producer(bootstrap: &str, topic: &str, n: usize, compression: &str) -> Option<String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/produce.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let out = Command::new(python)
        .arg(script)
        .args([
            bootstrap,
            topic,
            &n.to_string(),
            &VALUE_BYTES.to_string(),
            compression,
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "  confluent-kafka producer failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn kcat_producer(bootstrap: &str, topic: &str, n: usize) -> Option<Duration> {
    let line = format!("{}\n", "x".repeat(VALUE_BYTES));
    let input = line.repeat(n);
    let start = Instant::now();
    let mut child = Command::new("kcat")
        .args([
            "-b",
            bootstrap,
            "-P",
            "-t",
            topic,
            "-X",
            "linger.ms=5",
            "-X",
            "batch.size=1000000",
        ])
        .args(["-X", "queue.buffering.max.messages=2000000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(input.as_bytes()).ok()?;
    child.wait().ok()?.success().then(|| start.elapsed())
}

/// One Produce v9 frame body (no size prefix) with a batch of `records` values.
fn produce_frame(topic: &str, records: usize) -> (Vec<u8>, usize) {
    let mut buf = vec![0u8; records * (VALUE_BYTES + 16) + 128];
    let mut b = RecordBatchBuilder::new(&mut buf, BatchOptions::default()).expect("batch buffer");
    let value = vec![b'x'; VALUE_BYTES];
    for i in 0..records {
        b.append(1_700_000_000_000 + i as i64, None, Some(&value), &[])
            .expect("fits");
    }
    let batch = b.finish().expect("batch").to_vec();
    let parts = [PartitionProduceData {
        index: 0,
        records: Some(&batch),
    }];
    let topics = [TopicProduceData {
        name: topic,
        partition_data: Array::new(&parts),
    }];
    let req = ProduceRequest {
        acks: 1,
        timeout_ms: 1000,
        topic_data: Array::new(&topics),
        ..Default::default()
    };
    let mut frame = vec![0u8; batch.len() + 256];
    let n = encode_request(&mut frame, 1, Some("bench"), 9, &req).expect("encode");
    frame.truncate(n);
    (frame[4..].to_vec(), batch.len())
}

fn broker_alone() {
    // librdkafka's batches are up to batch.size (1 MB here); 10 000 x 100 B is about that.
    let per_batch = 10_000;
    let (frame, batch_len) = produce_frame("bench", per_batch);
    let mut cluster = Cluster::new(Config {
        brokers: 1,
        retention_bytes: 256 << 20,
        ..Config::default()
    });
    cluster.create_topic("bench", 1).expect("topic");
    let mut session = cluster.open_session(1, None);
    let rounds = 400;
    let start = Instant::now();
    for _ in 0..rounds {
        let handled = cluster.handle(&mut session, &frame, Instant::now());
        assert!(matches!(handled.outcome, Outcome::Respond(_)));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let msgs = (rounds * per_batch) as f64;
    println!(
        "broker alone (sans-IO Cluster::handle, Produce v9, {per_batch} x {VALUE_BYTES} B per batch): \
         {:.0} msgs/s, {:.0} MB/s of batches",
        msgs / elapsed,
        (rounds * batch_len) as f64 / elapsed / 1e6
    );
}

fn cold_start(runtime: &tokio::runtime::Runtime) {
    let mut best = Duration::MAX;
    for _ in 0..20 {
        let start = Instant::now();
        let cluster = runtime
            .block_on(MockCluster::start(Config::with_brokers(3)))
            .expect("start");
        let stream = std::net::TcpStream::connect(cluster.addrs()[0]).expect("connect");
        best = best.min(start.elapsed());
        drop(stream);
        runtime.block_on(async move { cluster.shutdown() });
    }
    println!(
        "cold start, 3 brokers, MockCluster::start to a connected client: best of 20 {best:?}"
    );
}

/// One broker with room for every message of a run, and the bench topic.
fn bench_cluster(runtime: &tokio::runtime::Runtime) -> MockCluster {
    let cluster = runtime.block_on(MockCluster::start(Config {
        brokers: 1,
        retention_bytes: 1 << 30,
        segment_bytes: 16 << 20,
        ..Config::default()
    }));
    let cluster = cluster.expect("start");
    cluster.create_topic("bench", 1).expect("topic");
    cluster
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    cold_start(&runtime);
    broker_alone();

    let n = messages();
    for compression in ["none", "lz4"] {
        let cluster = bench_cluster(&runtime);
        match python_producer(&cluster.bootstrap_servers(), "bench", n, compression) {
            Some(line) => {
                println!("confluent-kafka 2.16 (compression {compression}, acks=1): {line}")
            }
            None => {
                println!("confluent-kafka: not available (install with .ci/install-capture-deps)")
            }
        }
        let stored = cluster.offsets("bench", 0).map_or(0, |o| o.1);
        assert!(stored == 0 || stored == n as i64, "stored {stored} of {n}");
        runtime.block_on(async move { cluster.shutdown() });
    }

    let cluster = bench_cluster(&runtime);
    match kcat_producer(&cluster.bootstrap_servers(), "bench", n) {
        Some(elapsed) => println!(
            "kcat -P (librdkafka 2.0.2, whole process incl. start-up and stdin): {n} messages of {VALUE_BYTES} B in {:.3} s: {:.0} msgs/s",
            elapsed.as_secs_f64(),
            n as f64 / elapsed.as_secs_f64()
        ),
        None => println!("kcat: not available (install with .ci/install-capture-deps)"),
    }
    let stored = cluster.offsets("bench", 0).map_or(0, |o| o.1);
    assert!(stored == 0 || stored == n as i64, "stored {stored} of {n}");
    runtime.block_on(async move { cluster.shutdown() });
}
