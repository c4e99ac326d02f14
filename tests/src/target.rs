//! The broker a conformance test runs against: the in-process mock broker
//! (the default) or a real Apache Kafka (`MICROKAFKA_TARGET=kafka`).
//!
//! A test asks for a [`Topology`] and gets a [`Target`]; everything it does
//! to the brokers goes through the Target, with the same client code on both
//! (microkafka-std's admin [`Client`] creates topics and reads leaders), so a
//! test passes on the mock only if it would pass on Kafka:
//!
//! | | mock (default) | real Kafka (`MICROKAFKA_TARGET=kafka`) |
//! |---|---|---|
//! | brokers | a 3-broker [`MockCluster`] per Target, `kafka4: true` (Kafka 4.x's version floors) | `MICROKAFKA_KAFKA` (single node), `MICROKAFKA_KAFKA_CLUSTER` (3 nodes) |
//! | stop / start a broker | `broker_down` / `broker_up` | `.ci/kafka stop-node cluster N` / `start-node cluster N` |
//! | names | any | unique per run ([`Target::unique`]): topics and groups persist on Kafka |
//!
//! With `MICROKAFKA_TARGET=kafka` and an address variable missing, a Target
//! panics with the commands that start Kafka: a test never falls back to the
//! mock silently.
//!
//! The file is self-contained (it only uses microkafka-std, the mock broker
//! and tokio), so `microkafka-embassy`'s conformance test includes it with
//! `#[path]` and selects its broker the same way.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use microkafka_core::protocol::frame::{decode_response, encode_request, split_frame};
use microkafka_core::protocol::messages::{
    FetchPartition, FetchRequest, FetchResponse, FetchTopic,
};
use microkafka_core::record::compression::Compression;
use microkafka_core::record::{Batch, RecordSet};
use microkafka_core::wire::Array;
use microkafka_mock_broker::{Config, MockCluster};
use microkafka_std::{Client, ClientConfig, Reader, ReaderConfig, TopicConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Selects the broker: unset or `mock` for the mock broker, `kafka` for real Kafka.
pub const TARGET_VAR: &str = "MICROKAFKA_TARGET";
/// A single-node Kafka's bootstrap address (`.ci/kafka start single`).
pub const KAFKA_VAR: &str = "MICROKAFKA_KAFKA";
/// The 3-node Kafka cluster's bootstrap addresses, node 1 first (`.ci/kafka start cluster`).
pub const KAFKA_CLUSTER_VAR: &str = "MICROKAFKA_KAFKA_CLUSTER";

/// The lowest session timeout a group member may ask for: Kafka's
/// `group.min.session.timeout.ms` default (6 s), which the mock broker
/// enforces too. Static-membership tests restart a member within it.
pub const MIN_SESSION_TIMEOUT: Duration = Duration::from_secs(6);

/// How to start real Kafka, for the panic when its variables are missing.
const START_KAFKA: &str =
    ".ci/kafka start single && .ci/kafka start cluster && export $(.ci/kafka env)";

/// What a test needs of the brokers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// Any cluster: Kafka's single node, or a 3-broker mock.
    Single,
    /// Three brokers (node ids 1, 2, 3) a test may stop and start: Kafka's
    /// 3-node cluster (replication 3, min ISR 2), or a 3-broker mock.
    Cluster,
}

/// One broker cluster a test runs against. Dropping it stops a mock cluster;
/// real Kafka keeps running (its topics persist, hence [`Target::unique`]).
pub struct Target {
    backend: Backend,
    topology: Topology,
}

enum Backend {
    Mock(MockCluster),
    Kafka { brokers: Vec<String> },
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Which broker the environment selects; panics on a bad selection.
fn kafka_brokers(topology: Topology) -> Option<Vec<String>> {
    select(topology, &|name| std::env::var(name).ok())
}

/// The Kafka brokers `env` (a variable lookup) selects for `topology`, or
/// `None` for the mock broker. Panics, with what to run, when it selects
/// Kafka without saying where it is.
pub(crate) fn select(
    topology: Topology,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<Vec<String>> {
    let target = env(TARGET_VAR).unwrap_or_default();
    match target.as_str() {
        "" | "mock" => None,
        "kafka" => {
            let var = match topology {
                Topology::Single => KAFKA_VAR,
                Topology::Cluster => KAFKA_CLUSTER_VAR,
            };
            let value = env(var).unwrap_or_default();
            let brokers: Vec<String> = value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if brokers.is_empty() {
                panic!(
                    "{TARGET_VAR}=kafka but {var} is not set: start real Kafka and export its \
                     addresses first, from the repository root:\n    {START_KAFKA}"
                );
            }
            if topology == Topology::Cluster && brokers.len() != 3 {
                panic!(
                    "{var}={value}: the cluster tests need the 3 nodes of \
                     `.ci/kafka start cluster`, node 1 first"
                );
            }
            Some(brokers)
        }
        other => panic!("{TARGET_VAR}={other}: use `kafka` (real Kafka) or `mock` (the default)"),
    }
}

fn mock_config() -> Config {
    Config {
        kafka4: true,
        ..Config::with_brokers(3)
    }
}

impl Target {
    /// The Target the environment selects, on the current tokio runtime
    /// (the mock cluster runs on it).
    pub async fn start(topology: Topology) -> Target {
        let backend = match kafka_brokers(topology) {
            Some(brokers) => Backend::Kafka { brokers },
            None => Backend::Mock(
                MockCluster::start(mock_config())
                    .await
                    .expect("start the mock cluster"),
            ),
        };
        Target { backend, topology }
    }

    /// The Target the environment selects, for tests that are not async: a
    /// mock cluster gets a runtime of its own. Neither call it nor drop the
    /// Target inside an async context.
    pub fn start_blocking(topology: Topology) -> Target {
        let backend = match kafka_brokers(topology) {
            Some(brokers) => Backend::Kafka { brokers },
            None => Backend::Mock(
                MockCluster::start_in_background(mock_config()).expect("start the mock cluster"),
            ),
        };
        Target { backend, topology }
    }

    /// True on real Kafka.
    pub fn is_kafka(&self) -> bool {
        matches!(self.backend, Backend::Kafka { .. })
    }

    /// The mock cluster, for its fault hooks (`inject`, `move_coordinator`,
    /// `drop_all_connections`...); `None` on real Kafka, which has none: a
    /// test injects what it can on both and the rest on the mock only.
    pub fn mock(&self) -> Option<&MockCluster> {
        match &self.backend {
            Backend::Mock(c) => Some(c),
            Backend::Kafka { .. } => None,
        }
    }

    /// What runs, for messages: `mock broker` or `Kafka at host:port,...`.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Mock(c) => format!("mock broker (kafka4) at {}", c.bootstrap_servers()),
            Backend::Kafka { brokers } => format!("Kafka at {}", brokers.join(",")),
        }
    }

    /// Every broker's `host:port` (node 1 first on the 3-node cluster).
    pub fn bootstrap(&self) -> Vec<String> {
        match &self.backend {
            Backend::Mock(c) => c.addrs().iter().map(SocketAddr::to_string).collect(),
            Backend::Kafka { brokers } => brokers.clone(),
        }
    }

    /// [`bootstrap`](Self::bootstrap) as one comma-separated string, the
    /// form client configs take as a single entry.
    pub fn bootstrap_servers(&self) -> String {
        self.bootstrap().join(",")
    }

    /// Every broker's socket address (what a relay or bridge forwards to).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.bootstrap()
            .iter()
            .map(|a| {
                a.parse()
                    .unwrap_or_else(|e| panic!("{a} is not an IP:port address ({e})"))
            })
            .collect()
    }

    /// A name no earlier run used: `prefix` with the time and a counter
    /// (topics and groups persist on a real Kafka between runs).
    pub fn unique(&self, prefix: &str) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}-{:x}-{}-{n}", nanos, std::process::id())
    }

    /// An admin client for this Target.
    pub fn client(&self) -> Client {
        Client::with_config(ClientConfig {
            brokers: vec![self.bootstrap_servers()],
            timeout: Duration::from_secs(30),
            ..Default::default()
        })
        .expect("admin client")
    }

    /// Creates `topic` with `partitions` partitions and the cluster's default
    /// replication (through microkafka-std's admin Client, on both targets),
    /// then waits until every broker's metadata shows each partition with a
    /// leader: on Kafka, creation reaches the brokers asynchronously.
    pub async fn create_topic(&self, topic: &str, partitions: i32) {
        let client = self.client();
        client
            .create_topics(&[TopicConfig::new(topic, partitions)])
            .await
            .unwrap_or_else(|e| panic!("create topic {topic} on {}: {e}", self.describe()));
        client.close();
        self.wait_for_partitions(topic, partitions).await;
    }

    /// Waits (up to 60 s) until every broker's metadata lists `partitions`
    /// partitions of `topic`, each with a leader.
    pub async fn wait_for_partitions(&self, topic: &str, partitions: i32) {
        let deadline = Instant::now() + Duration::from_secs(60);
        for addr in self.bootstrap() {
            let client = Client::new(&[&addr]).expect("admin client");
            loop {
                let seen = match client.metadata(&[topic]).await {
                    Ok(m) => m
                        .topics
                        .iter()
                        .find(|t| t.name == topic && t.error.is_none())
                        .map(|t| {
                            t.partitions
                                .iter()
                                .filter(|p| p.leader.id >= 0 && p.error.is_none())
                                .count()
                        })
                        .unwrap_or(0),
                    Err(_) => 0,
                };
                if seen == partitions as usize {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{topic}: broker {addr} shows {seen} of {partitions} partitions with a leader"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            client.close();
        }
    }

    /// The node id leading `topic`/`partition` now, from the metadata
    /// (microkafka-std's Client); waits up to 30 s while it has none.
    pub async fn leader(&self, topic: &str, partition: i32) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let client = self.client();
            let leader = client.metadata(&[topic]).await.ok().and_then(|m| {
                m.topics
                    .iter()
                    .find(|t| t.name == topic)?
                    .partitions
                    .iter()
                    .find(|p| p.id == partition)
                    .map(|p| p.leader.id)
            });
            client.close();
            match leader {
                Some(id) if id >= 0 => return id,
                _ => {
                    assert!(
                        Instant::now() < deadline,
                        "{topic}[{partition}] has no leader ({leader:?})"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// `(first, next)` offsets of every partition of `topic`, by partition.
    pub async fn offsets(&self, topic: &str) -> Vec<(i64, i64)> {
        let client = self.client();
        let mut found = client
            .offsets(topic)
            .await
            .unwrap_or_else(|e| panic!("offsets of {topic}: {e}"));
        client.close();
        found.sort_by_key(|(p, _, _)| *p);
        found
            .into_iter()
            .map(|(_, first, end)| (first, end))
            .collect()
    }

    /// Every message of `topic`\[`partition`\] from the first offset to the
    /// end the broker reports now, read with microkafka-std's Reader.
    pub async fn read_partition(&self, topic: &str, partition: i32) -> Vec<Read> {
        let (first, end) = self.offsets(topic).await[partition as usize];
        let mut reader = Reader::new(ReaderConfig {
            max_wait: Duration::from_millis(200),
            ..ReaderConfig::new(&[&self.bootstrap_servers()], topic, partition)
        })
        .expect("reader");
        let mut out = Vec::new();
        let mut next = first;
        while next < end {
            let m = tokio::time::timeout(Duration::from_secs(30), reader.fetch_message())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "{topic}[{partition}]: stuck at offset {next} of {first}..{end} ({} read)",
                        out.len()
                    )
                })
                .unwrap_or_else(|e| panic!("{topic}[{partition}]: {e}"));
            next = m.offset + 1;
            out.push(Read {
                offset: m.offset,
                key: m.key.map(<[u8]>::to_vec),
                value: m.value.map(<[u8]>::to_vec),
                headers: m
                    .headers
                    .iter()
                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                    .collect(),
                timestamp_ms: m.timestamp_ms,
            });
        }
        reader.close().await.expect("close the reader");
        out
    }

    /// The record batches stored in `topic`\[`partition`\], as the broker
    /// holds them (not as a client decodes them): read with a raw Fetch v4
    /// (the Kafka 4.x floor) from the partition's leader, from the first
    /// offset to the end.
    pub async fn stored_batches(&self, topic: &str, partition: i32) -> Vec<StoredBatch> {
        let leader = self.leader(topic, partition).await;
        let client = self.client();
        let meta = client.metadata(&[topic]).await.expect("metadata");
        client.close();
        let addr = meta
            .brokers
            .iter()
            .find(|b| b.id == leader)
            .expect("the leader is listed")
            .addr();
        let mut stream = tokio::net::TcpStream::connect(&addr)
            .await
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        let (mut offset, end) = self.offsets(topic).await[partition as usize];
        let mut batches = Vec::new();
        let mut frame = vec![0u8; 1024];
        while offset < end {
            let partitions = [FetchPartition {
                partition,
                fetch_offset: offset,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }];
            let topics = [FetchTopic {
                topic,
                partitions: Array::new(&partitions),
                ..Default::default()
            }];
            let request = FetchRequest {
                max_wait_ms: 100,
                min_bytes: 1,
                max_bytes: 1 << 20,
                topics: Array::new(&topics),
                ..Default::default()
            };
            let n = encode_request(&mut frame, 1, Some("conformance"), 4, &request)
                .expect("encode Fetch");
            stream.write_all(&frame[..n]).await.expect("send Fetch");
            let mut size = [0u8; 4];
            stream.read_exact(&mut size).await.expect("Fetch answer");
            let mut body = vec![0u8; 4 + i32::from_be_bytes(size) as usize];
            body[..4].copy_from_slice(&size);
            stream
                .read_exact(&mut body[4..])
                .await
                .expect("Fetch answer");
            let (frame_body, _) = split_frame(&body, usize::MAX)
                .expect("frame")
                .expect("whole frame");
            let (_, response) =
                decode_response::<FetchResponse<'_>>(frame_body, 4).expect("decode Fetch");
            let data = response
                .responses
                .iter()
                .flat_map(|t| t.partitions.iter())
                .next()
                .expect("the partition in the Fetch response");
            assert!(data.error_code.is_ok(), "Fetch: {:?}", data.error_code);
            let before = offset;
            for entry in RecordSet::new(data.records.unwrap_or_default()) {
                match entry {
                    Ok(Batch::V2(b)) => {
                        offset = offset.max(b.next_offset());
                        batches.push(StoredBatch {
                            base_offset: b.base_offset(),
                            records: b.records_count(),
                            codec: b.attributes().compression().expect("a known codec"),
                            producer_id: b.producer_id(),
                            producer_epoch: b.producer_epoch(),
                            base_sequence: b.base_sequence(),
                        });
                    }
                    Ok(_) => panic!("{topic}[{partition}]: a legacy (magic 0/1) entry"),
                    Err(_) => break, // a batch cut at the end of the response
                }
            }
            assert!(
                offset > before,
                "{topic}[{partition}]: no progress at {offset}"
            );
        }
        batches
    }

    /// Stops broker `node` (1, 2 or 3): a mock broker goes down at once; a
    /// Kafka node of the 3-node cluster gets `.ci/kafka stop-node cluster
    /// N` (a controlled shutdown: its leaderships move first). The returned
    /// guard starts it again ([`Stopped::start`], or when dropped, so a
    /// failing test leaves the cluster whole).
    pub async fn stop_broker(&self, node: i32) -> Stopped<'_> {
        match &self.backend {
            Backend::Mock(c) => c
                .broker_down(node)
                .unwrap_or_else(|e| panic!("broker_down({node}): {e}")),
            Backend::Kafka { .. } => {
                self.require_cluster();
                let arg = node.to_string();
                tokio::task::spawn_blocking(move || ci_kafka(&["stop-node", "cluster", &arg]))
                    .await
                    .expect("stop-node")
            }
        }
        Stopped {
            target: self,
            node,
            started: false,
        }
    }

    fn require_cluster(&self) {
        assert_eq!(
            self.topology,
            Topology::Cluster,
            "only the 3-node cluster's brokers are stopped and started"
        );
    }

    fn start_broker_blocking(&self, node: i32) {
        match &self.backend {
            Backend::Mock(c) => c
                .broker_up(node)
                .unwrap_or_else(|e| panic!("broker_up({node}): {e}")),
            Backend::Kafka { .. } => ci_kafka(&["start-node", "cluster", &node.to_string()]),
        }
    }

    /// Waits until the metadata lists `count` brokers.
    pub async fn wait_for_brokers(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let client = self.client();
            let ids: BTreeSet<i32> = client
                .metadata(&[])
                .await
                .map(|m| m.brokers.iter().map(|b| b.id).collect())
                .unwrap_or_default();
            client.close();
            if ids.len() == count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the metadata lists brokers {ids:?}, not {count}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// One message as read back: what a test compares with what it wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    /// Its offset.
    pub offset: i64,
    /// Its key (`None`: null).
    pub key: Option<Vec<u8>>,
    /// Its value (`None`: null).
    pub value: Option<Vec<u8>>,
    /// Its headers, in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Its timestamp (ms since the epoch).
    pub timestamp_ms: i64,
}

/// A record batch as the broker stores it ([`Target::stored_batches`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredBatch {
    /// The offset of its first record.
    pub base_offset: i64,
    /// Records in it.
    pub records: i32,
    /// The codec it is compressed with.
    pub codec: Compression,
    /// The idempotent producer's id (-1: not idempotent).
    pub producer_id: i64,
    /// The producer's epoch (-1: not idempotent).
    pub producer_epoch: i16,
    /// The sequence number of its first record (-1: not idempotent).
    pub base_sequence: i32,
}

/// A broker [`Target::stop_broker`] stopped; started again by
/// [`start`](Self::start) or when dropped.
pub struct Stopped<'a> {
    target: &'a Target,
    node: i32,
    started: bool,
}

impl std::fmt::Debug for Stopped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stopped(node {})", self.node)
    }
}

impl Stopped<'_> {
    /// The stopped node's id.
    pub fn node(&self) -> i32 {
        self.node
    }

    /// Starts the broker again (on Kafka: waits until it answers Metadata).
    pub async fn start(mut self) {
        self.started = true;
        match &self.target.backend {
            Backend::Mock(c) => c
                .broker_up(self.node)
                .unwrap_or_else(|e| panic!("broker_up({}): {e}", self.node)),
            Backend::Kafka { .. } => {
                let arg = self.node.to_string();
                tokio::task::spawn_blocking(move || ci_kafka(&["start-node", "cluster", &arg]))
                    .await
                    .expect("start-node")
            }
        }
    }
}

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        if !self.started {
            self.target.start_broker_blocking(self.node);
        }
    }
}

/// Runs `.ci/kafka ARGS...` (from the repository root); panics with its
/// output unless it succeeds.
fn ci_kafka(args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../.ci/kafka");
    let started = Instant::now();
    let out = Command::new(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert!(
        out.status.success(),
        ".ci/kafka {} failed ({}):\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        ".ci/kafka {} took {:.1} s",
        args.join(" "),
        started.elapsed().as_secs_f64()
    );
}
