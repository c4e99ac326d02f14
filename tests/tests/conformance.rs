//! The conformance suite: the end-to-end behaviour users rely on, written
//! once and run against the in-process mock broker (the default) and real
//! Apache Kafka 4.x (`MICROKAFKA_TARGET=kafka`; see
//! [`microkafka_tests::target`]):
//!
//! - produce/consume in every codec: every message back exactly once, in
//!   order per partition, with its key, headers and timestamp, stored with
//!   the codec asked for;
//! - keyed placement: each key on one partition, the one sarama's hash /
//!   the Java client's murmur2 / librdkafka's CRC-32 picks;
//! - idempotent writes (acks=all) through a leader move (the leader broker
//!   stopped mid-write, then started again): nothing lost, nothing twice;
//! - consumer groups of 3 members, range and cooperative-sticky: disjoint
//!   assignments covering the topic, every message once, commits resume
//!   where the group left;
//! - static membership: a member restarting within its session timeout
//!   keeps its partitions and the others see no rebalance;
//! - admin: create/delete topics, create partitions, list offsets by time;
//! - the negotiated version of every API, printed, none below Kafka 4.x's floor.
//!
//! ```sh
//! cargo test -p microkafka-tests --test conformance                  # mock broker
//! .ci/kafka start single && .ci/kafka start cluster
//! env MICROKAFKA_TARGET=kafka $(.ci/kafka env) cargo test -p microkafka-tests --test conformance
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use microkafka_core::balancer::{fnv1a32, murmur2};
use microkafka_core::protocol::messages::decode_assignment;
use microkafka_core::protocol::versions::{client_versions, kafka4_floor};
use microkafka_core::record::crc32_ieee;
use microkafka_core::ErrorCode;
use microkafka_std::{
    dial, dial_leader, AlterConfigOp, BalancerKind, Client, Compression, ConfigResource,
    ConfigSource, ElectionType, GroupBalancer, Header, Message, OffsetRequest, OffsetReset, Reader,
    ReaderConfig, RebalanceEvent, RebalanceListener, RequiredAcks, TopicConfig, Writer,
    WriterConfig, FIRST_OFFSET, LAST_OFFSET,
};
use microkafka_tests::{StoredBatch, Target, Topology, MIN_SESSION_TIMEOUT};
use tokio::task::JoinHandle;

// ---------------------------------------------------------------- helpers

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn at_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms as u64)
}

// ---------------------------------------------------------------- codecs

/// Writes 600 keyed messages with headers and create times in `codec`
/// (Hash balancer, several batches per partition) and reads every partition
/// back: each message exactly once, in the order written within its
/// partition, key, value, headers and timestamp intact, and the batches
/// stored with the codec asked for.
async fn round_trip(codec: Compression) {
    const N: usize = 600;
    const PARTITIONS: i32 = 3;
    let t = Target::start(Topology::Single).await;
    let topic = t.unique(&format!("codec-{codec:?}").to_lowercase());
    t.create_topic(&topic, PARTITIONS).await;
    let writer = Writer::new(WriterConfig {
        balancer: BalancerKind::Hash,
        compression: codec,
        batch_size: 40,
        ..WriterConfig::new(&[&t.bootstrap_servers()], &topic)
    })
    .unwrap();
    let base = now_ms() - 60_000;
    let keys: Vec<String> = (0..N).map(|i| format!("user-{}", i % 23)).collect();
    // Compressible values of varying size.
    let values: Vec<String> = (0..N)
        .map(|i| format!("{i:05}:{}", "payload ".repeat(1 + i % 7)))
        .collect();
    let indexes: Vec<[u8; 4]> = (0..N).map(|i| (i as u32).to_be_bytes()).collect();
    let headers: Vec<[Header<'_>; 2]> = indexes
        .iter()
        .map(|i| {
            [
                Header {
                    key: "index",
                    value: Some(&i[..]),
                },
                Header {
                    key: "empty",
                    value: None,
                },
            ]
        })
        .collect();
    let messages: Vec<Message<'_>> = (0..N)
        .map(|i| {
            Message::new(values[i].as_bytes())
                .with_key(keys[i].as_bytes())
                .with_headers(&headers[i])
                .with_time(at_ms(base + i as i64))
        })
        .collect();
    for chunk in messages.chunks(100) {
        writer.write_messages(chunk).await.unwrap();
    }
    writer.close().await.unwrap();

    let mut seen = vec![0usize; N];
    for p in 0..PARTITIONS {
        let read = t.read_partition(&topic, p).await;
        let mut last: Option<usize> = None;
        for (n, r) in read.iter().enumerate() {
            assert_eq!(r.offset, n as i64, "{topic}[{p}]: offsets are dense from 0");
            let value = String::from_utf8(r.value.clone().unwrap()).unwrap();
            let i: usize = value[..5].parse().unwrap();
            assert_eq!(value, values[i]);
            assert_eq!(r.key.as_deref(), Some(keys[i].as_bytes()));
            assert_eq!(
                r.headers,
                [
                    ("index".to_owned(), Some(indexes[i].to_vec())),
                    ("empty".to_owned(), None)
                ]
            );
            assert_eq!(r.timestamp_ms, base + i as i64, "message {i}'s create time");
            assert!(
                last < Some(i),
                "{topic}[{p}]: message {i} after {last:?}: out of order"
            );
            last = Some(i);
            seen[i] += 1;
        }
        let stored = t.stored_batches(&topic, p).await;
        assert!(
            stored.iter().all(|b| b.codec == codec),
            "{topic}[{p}] stored batches: {stored:?}"
        );
    }
    let wrong: Vec<(usize, usize)> = seen
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, n)| *n != 1)
        .collect();
    assert!(
        wrong.is_empty(),
        "(message, times read) not exactly once: {wrong:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codec_none_round_trips() {
    round_trip(Compression::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codec_gzip_round_trips() {
    round_trip(Compression::Gzip).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codec_snappy_round_trips() {
    round_trip(Compression::Snappy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codec_lz4_round_trips() {
    round_trip(Compression::Lz4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codec_zstd_round_trips() {
    round_trip(Compression::Zstd).await;
}

// ---------------------------------------------------------------- keys

/// Where a keyed balancer puts `key` among `n` partitions, by each
/// client's published formula.
fn expected_partition(kind: &BalancerKind, key: &[u8], n: i32) -> i32 {
    match kind {
        // sarama's HashPartitioner: int32(fnv1a) % n, made positive.
        BalancerKind::Hash => (fnv1a32(key) as i32 % n).abs(),
        // Java's BuiltInPartitioner: toPositive(murmur2(key)) % n.
        BalancerKind::Murmur2 => ((murmur2(key) & 0x7fff_ffff) % n as u32) as i32,
        // librdkafka's consistent_random: crc32(key) % n.
        BalancerKind::Crc32 => (crc32_ieee(key) % n as u32) as i32,
        other => unreachable!("{other:?} is not a keyed balancer"),
    }
}

/// Keyed balancers: every message of a key lands on one partition, the one
/// the matching client (sarama/kafka-go, Java, librdkafka) would pick, and
/// a key's messages stay in the order written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_land_on_the_partition_other_clients_pick() {
    const PARTITIONS: i32 = 6;
    // The hashes under the formulas are the other clients' own: the Java
    // client's Utils.murmur2 test vectors and FNV-1a reference values.
    assert_eq!(murmur2(b"21") as i32, -973_932_308);
    assert_eq!(murmur2(b"foobar") as i32, -790_332_482);
    assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985_981_536);
    assert_eq!(murmur2(b"abc") as i32, 479_470_107);
    assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    assert_eq!(crc32_ieee(b"123456789"), 0xcbf4_3926);
    // So the Java client puts "foobar" on partition 0 of 6 and "abc" on 3.
    assert_eq!(expected_partition(&BalancerKind::Murmur2, b"foobar", 6), 0);
    assert_eq!(expected_partition(&BalancerKind::Murmur2, b"abc", 6), 3);

    let t = Target::start(Topology::Single).await;
    for kind in [
        BalancerKind::Hash,
        BalancerKind::Murmur2,
        BalancerKind::Crc32,
    ] {
        let topic = t.unique(&format!("keys-{kind:?}").to_lowercase());
        t.create_topic(&topic, PARTITIONS).await;
        let writer = Writer::new(WriterConfig {
            balancer: kind.clone(),
            ..WriterConfig::new(&[&t.bootstrap_servers()], &topic)
        })
        .unwrap();
        let mut keys: Vec<String> = (0..60).map(|k| format!("customer-{k}")).collect();
        keys.extend(["21", "foobar", "abc"].map(str::to_owned));
        // Three rounds over every key: each key gets three messages, in order.
        let sent: Vec<(String, String)> = (0..3)
            .flat_map(|round| {
                keys.iter()
                    .map(move |k| (k.clone(), format!("{k}#{round}")))
            })
            .collect();
        let messages: Vec<Message<'_>> = sent
            .iter()
            .map(|(k, v)| Message::new(v.as_bytes()).with_key(k.as_bytes()))
            .collect();
        writer.write_messages(&messages).await.unwrap();
        writer.close().await.unwrap();

        let mut placed: BTreeMap<String, Vec<(i32, String)>> = BTreeMap::new();
        for p in 0..PARTITIONS {
            for r in t.read_partition(&topic, p).await {
                let key = String::from_utf8(r.key.unwrap()).unwrap();
                let value = String::from_utf8(r.value.unwrap()).unwrap();
                placed.entry(key).or_default().push((p, value));
            }
        }
        assert_eq!(placed.len(), keys.len(), "{kind:?}: every key came back");
        let mut used = BTreeSet::new();
        for (key, got) in &placed {
            let want = expected_partition(&kind, key.as_bytes(), PARTITIONS);
            let values: Vec<String> = (0..3).map(|round| format!("{key}#{round}")).collect();
            assert_eq!(
                got,
                &values.iter().map(|v| (want, v.clone())).collect::<Vec<_>>(),
                "{kind:?}: key {key:?} belongs on partition {want}, in order"
            );
            used.insert(want);
        }
        assert!(
            used.len() >= 4,
            "{kind:?}: 63 keys spread over partitions {used:?} only"
        );
    }
}

// ---------------------------------------------------------------- leader move

/// The batches of one partition carry a producer id, and their sequence
/// numbers run without a gap or repeat from 0 (per producer id and epoch):
/// the broker deduplicated retries by them.
fn idempotent_sequences(topic: &str, partition: i32, batches: &[StoredBatch]) {
    let mut next: BTreeMap<(i64, i16), i32> = BTreeMap::new();
    for b in batches {
        assert!(
            b.producer_id >= 0 && b.producer_epoch >= 0,
            "{topic}[{partition}]: a batch without a producer id: {b:?}"
        );
        let expected = next.entry((b.producer_id, b.producer_epoch)).or_insert(0);
        assert_eq!(
            b.base_sequence, *expected,
            "{topic}[{partition}]: sequence gap or repeat at {b:?}"
        );
        *expected += b.records;
    }
}

/// The idempotent Writer (acks=all) keeps writing while the leader of a
/// partition is stopped (on Kafka: `.ci/kafka stop-node`, a controlled
/// shutdown) and started again: every write succeeds, and the log holds
/// every message exactly once, in the order written per partition, in
/// batches whose producer sequence numbers run without a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_writes_survive_the_leader_stopping_and_returning() {
    const PARTITIONS: i32 = 3;
    const CHUNK: usize = 30;
    let t = Target::start(Topology::Cluster).await;
    let topic = t.unique("leader-move");
    t.create_topic(&topic, PARTITIONS).await;
    let writer = Arc::new(
        Writer::new(WriterConfig {
            required_acks: RequiredAcks::All,
            idempotent: true,
            max_attempts: 30,
            write_backoff_max: Duration::from_millis(500),
            metadata_refresh_interval: Duration::from_secs(1),
            ..WriterConfig::new(&[&t.bootstrap_servers()], &topic)
        })
        .unwrap(),
    );

    // One writer task: chunk after chunk, each acknowledged before the next.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let acked = Arc::new(Mutex::new(Vec::<(usize, Instant)>::new()));
    let writing: JoinHandle<usize> = {
        let (writer, acked) = (writer.clone(), acked.clone());
        tokio::spawn(async move {
            let mut next = 0usize;
            while !*stopped.borrow() {
                let values: Vec<String> =
                    (next..next + CHUNK).map(|i| format!("m{i:06}")).collect();
                let messages: Vec<Message<'_>> =
                    values.iter().map(|v| Message::new(v.as_bytes())).collect();
                if let Err(e) = writer.write_messages(&messages).await {
                    panic!("chunk at {next}: {e}");
                }
                next += CHUNK;
                acked.lock().unwrap().push((next, Instant::now()));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            next
        })
    };
    let acked_by = |at: Instant| {
        acked
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, when)| *when <= at)
            .map(|(n, _)| *n)
            .max()
            .unwrap_or(0)
    };
    tokio::time::sleep(Duration::from_secs(1)).await;

    let old = t.leader(&topic, 0).await;
    let stopping = Instant::now();
    let down = t.stop_broker(old).await;
    let stopped_at = Instant::now();
    let new = t.leader(&topic, 0).await;
    assert_ne!(
        new, old,
        "{topic}[0]'s leadership moved off the stopped broker"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let restarting = Instant::now();
    down.start().await;
    t.wait_for_brokers(3).await;
    let restarted = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = stop.send(true);
    let total = writing.await.unwrap();
    writer.close().await.unwrap();
    eprintln!(
        "{}: leader {old} -> {new}; acknowledged {} before the stop, {} while it was down, {} in all \
         (stop took {:.1} s, restart {:.1} s)",
        t.describe(),
        acked_by(stopping),
        acked_by(restarting) - acked_by(stopped_at),
        total,
        (stopped_at - stopping).as_secs_f64(),
        (restarted - restarting).as_secs_f64(),
    );
    assert!(
        acked_by(restarting) > acked_by(stopped_at),
        "writes were acknowledged while the broker was down"
    );
    assert!(
        total > acked_by(restarted),
        "writes were acknowledged after it came back"
    );

    let mut count = vec![0usize; total];
    for p in 0..PARTITIONS {
        idempotent_sequences(&topic, p, &t.stored_batches(&topic, p).await);
        let read = t.read_partition(&topic, p).await;
        let mut last = None;
        for r in read {
            let value = String::from_utf8(r.value.unwrap()).unwrap();
            let i: usize = value[1..].parse().unwrap();
            assert!(i < total, "{value}: never written");
            assert!(
                last < Some(i),
                "{topic}[{p}]: m{i:06} at offset {} after {last:?}",
                r.offset
            );
            last = Some(i);
            count[i] += 1;
        }
    }
    let lost: Vec<usize> = (0..total).filter(|&i| count[i] == 0).collect();
    let twice: Vec<usize> = (0..total).filter(|&i| count[i] > 1).collect();
    assert!(
        lost.is_empty() && twice.is_empty(),
        "of {total}: lost {} (e.g. {:?}), duplicated {} (e.g. {:?})",
        lost.len(),
        &lost[..lost.len().min(5)],
        twice.len(),
        &twice[..twice.len().min(5)]
    );
}

// ---------------------------------------------------------------- groups

/// One consumed message: who, where, what.
#[derive(Clone, Debug)]
struct Got {
    member: usize,
    partition: i32,
    offset: i64,
    value: String,
}

/// What the member tasks report.
#[derive(Default)]
struct Log {
    got: Vec<Got>,
    assignment: HashMap<usize, BTreeSet<i32>>,
    /// (member, when, event)
    events: Vec<(usize, Instant, Event)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    Joined { generation: i32, leader: bool },
    Assigned(i32, Option<i64>),
    Revoked(i32),
    Lost(i32),
}

type Shared = Arc<Mutex<Log>>;

/// A group member reading in a task until stopped.
struct Member {
    task: JoinHandle<Reader>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Member {
    fn start(id: usize, mut config: ReaderConfig, log: &Shared) -> Member {
        let events = log.clone();
        config.on_rebalance = Some(RebalanceListener::new(move |e| {
            let event = match e {
                RebalanceEvent::Joined {
                    generation, leader, ..
                } => Event::Joined { generation, leader },
                RebalanceEvent::Assigned {
                    partition, offset, ..
                } => Event::Assigned(partition, offset),
                RebalanceEvent::Revoked { partition, .. } => Event::Revoked(partition),
                RebalanceEvent::Lost { partition, .. } => Event::Lost(partition),
            };
            events
                .lock()
                .unwrap()
                .events
                .push((id, Instant::now(), event));
        }));
        let mut reader = Reader::new(config).unwrap();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let log = log.clone();
        let task = tokio::spawn(async move {
            loop {
                if *stopped.borrow() {
                    return reader;
                }
                let read =
                    tokio::time::timeout(Duration::from_millis(100), reader.read_message()).await;
                let mut log = log.lock().unwrap();
                match read {
                    Ok(Ok(m)) => log.got.push(Got {
                        member: id,
                        partition: m.partition,
                        offset: m.offset,
                        value: String::from_utf8_lossy(m.value.unwrap_or_default()).into_owned(),
                    }),
                    Ok(Err(e)) => eprintln!("member {id}: {e}"),
                    Err(_) => {}
                }
                let assignment = reader.assignment().into_iter().map(|(_, p)| p).collect();
                log.assignment.insert(id, assignment);
            }
        });
        Member { task, stop }
    }

    /// Closes the Reader: commits what it read; a dynamic member leaves
    /// the group, a static one does not.
    async fn close(self) {
        let _ = self.stop.send(true);
        let reader = self.task.await.unwrap();
        reader.close().await.unwrap();
    }
}

/// Waits until the members `ids` each hold a share, the shares are disjoint
/// and cover partitions `0..partitions`, and that lasts 500 ms.
async fn settled(log: &Shared, ids: &[usize], partitions: i32) -> BTreeMap<usize, BTreeSet<i32>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut since: Option<(Instant, BTreeMap<usize, BTreeSet<i32>>)> = None;
    loop {
        {
            let log = log.lock().unwrap();
            let shares: BTreeMap<usize, BTreeSet<i32>> = ids
                .iter()
                .map(|i| (*i, log.assignment.get(i).cloned().unwrap_or_default()))
                .collect();
            let total: usize = shares.values().map(BTreeSet::len).sum();
            let union: BTreeSet<i32> = shares.values().flatten().copied().collect();
            let full = union == (0..partitions).collect()
                && total == union.len()
                && shares.values().all(|s| !s.is_empty());
            match &since {
                Some((at, seen)) if full && *seen == shares => {
                    if at.elapsed() >= Duration::from_millis(500) {
                        return shares;
                    }
                }
                _ => since = full.then(|| (Instant::now(), shares.clone())),
            }
            assert!(Instant::now() < deadline, "never settled: {shares:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A group as its coordinator describes it (DescribeGroups, through the
/// admin Client), once it is stable.
#[derive(Debug)]
struct Described {
    protocol: String,
    /// Each member's partitions of the topic, decoded from its assignment.
    shares: BTreeSet<BTreeSet<i32>>,
    /// Each member's `group.instance.id`.
    instances: BTreeSet<Option<String>>,
}

async fn describe(t: &Target, group: &str, topic: &str) -> Described {
    let client = t.client();
    let listed = client.list_groups().await.unwrap();
    assert!(
        listed
            .iter()
            .any(|g| g.group_id == group && g.protocol_type == "consumer"),
        "{group} not listed: {listed:?}"
    );
    let found = client.describe_groups(&[group]).await.unwrap();
    client.close();
    assert_eq!(found.len(), 1, "{found:?}");
    let d = &found[0];
    assert_eq!(
        (
            d.group_id.as_str(),
            d.state.as_str(),
            d.protocol_type.as_str(),
            d.error
        ),
        (group, "Stable", "consumer", None),
        "{d:?}"
    );
    let shares = d
        .members
        .iter()
        .map(|m| {
            let (_, assignment) = decode_assignment(&m.assignment).unwrap();
            assignment
                .assigned_partitions
                .iter()
                .filter(|a| a.topic == topic)
                .flat_map(|a| a.partitions.iter())
                .collect()
        })
        .collect();
    Described {
        protocol: d.protocol.clone(),
        shares,
        instances: d
            .members
            .iter()
            .map(|m| m.group_instance_id.clone())
            .collect(),
    }
}

fn value(i: usize) -> String {
    format!("v{i:06}")
}

/// Writes values `from..to`, round-robin over the partitions.
async fn produce(t: &Target, topic: &str, from: usize, to: usize) {
    let writer = Writer::new(WriterConfig {
        batch_timeout: Duration::from_millis(1),
        ..WriterConfig::new(&[&t.bootstrap_servers()], topic)
    })
    .unwrap();
    let values: Vec<String> = (from..to).map(value).collect();
    let messages: Vec<Message<'_>> = values.iter().map(|v| Message::new(v.as_bytes())).collect();
    writer.write_messages(&messages).await.unwrap();
    writer.close().await.unwrap();
}

/// Waits until every value `from..to` was consumed.
async fn consumed(log: &Shared, from: usize, to: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        {
            let log = log.lock().unwrap();
            let seen: BTreeSet<&str> = log.got.iter().map(|g| g.value.as_str()).collect();
            let missing: Vec<String> = (from..to)
                .map(value)
                .filter(|v| !seen.contains(v.as_str()))
                .collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {} never consumed, e.g. {:?}",
                missing.len(),
                to - from,
                &missing[..missing.len().min(5)]
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every message in `got` was read once, and each partition's offsets were
/// read in order, without gaps, from `first[p]`.
fn exactly_once_in_order(got: &[Got], expected: &BTreeSet<String>, first: &BTreeMap<i32, i64>) {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for g in got {
        *count.entry(g.value.as_str()).or_default() += 1;
    }
    let twice: Vec<(&&str, &usize)> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} messages read more than once, e.g. {:?}",
        twice.len(),
        &twice[..twice.len().min(5)]
    );
    let read: BTreeSet<String> = count.keys().map(|v| (*v).to_owned()).collect();
    assert_eq!(&read, expected, "read exactly the messages written");
    let mut next: BTreeMap<i32, i64> = first.clone();
    for g in got {
        let want = next.entry(g.partition).or_insert(0);
        assert_eq!(
            g.offset, *want,
            "partition {}: offset {} read when {} was next (member {})",
            g.partition, g.offset, want, g.member
        );
        *want += 1;
    }
}

/// Three members of one group, with `balancer`: two start, messages flow,
/// a third joins mid-stream. The assignment is disjoint and covers the
/// topic at each step, every message is read exactly once and in order per
/// partition, and after every member closed a new incarnation of the group
/// resumes exactly where it left.
async fn group_of_three(balancer: GroupBalancer) {
    const PARTITIONS: i32 = 6;
    let t = Target::start(Topology::Single).await;
    let topic = t.unique("group");
    let group = t.unique("members");
    t.create_topic(&topic, PARTITIONS).await;
    let config = ReaderConfig {
        group_balancers: vec![balancer],
        commit_interval: Duration::from_millis(200),
        heartbeat_interval: Duration::from_millis(500),
        session_timeout: MIN_SESSION_TIMEOUT,
        rebalance_timeout: Duration::from_secs(15),
        join_group_backoff: Duration::from_millis(500),
        max_wait: Duration::from_millis(200),
        ..ReaderConfig::group(&[&t.bootstrap_servers()], &group, &[&topic])
    };
    let log = Shared::default();
    let a = Member::start(0, config.clone(), &log);
    let b = Member::start(1, config.clone(), &log);
    let two = settled(&log, &[0, 1], PARTITIONS).await;
    assert_eq!(two.values().map(BTreeSet::len).collect::<Vec<_>>(), [3, 3]);

    // Messages keep coming while the third member joins.
    const ROUNDS: usize = 30;
    const PER_ROUND: usize = 24;
    let producing = {
        let (brokers, topic) = (t.bootstrap_servers(), topic.clone());
        tokio::spawn(async move {
            let writer = Writer::new(WriterConfig {
                batch_timeout: Duration::from_millis(1),
                ..WriterConfig::new(&[&brokers], &topic)
            })
            .unwrap();
            for round in 0..ROUNDS {
                let values: Vec<String> = (round * PER_ROUND..(round + 1) * PER_ROUND)
                    .map(value)
                    .collect();
                let messages: Vec<Message<'_>> =
                    values.iter().map(|v| Message::new(v.as_bytes())).collect();
                writer.write_messages(&messages).await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            writer.close().await.unwrap();
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let joined_at = Instant::now();
    let c = Member::start(2, config.clone(), &log);
    let three = settled(&log, &[0, 1, 2], PARTITIONS).await;
    assert_eq!(
        three.values().map(BTreeSet::len).collect::<Vec<_>>(),
        [2, 2, 2],
        "{three:?}"
    );
    let described = describe(&t, &group, &topic).await;
    assert_eq!(
        (described.protocol.as_str(), described.shares.clone()),
        (balancer.name(), three.values().cloned().collect()),
        "the coordinator's view of the group: {described:?}"
    );
    match balancer {
        // Range: each member a run of consecutive partitions.
        GroupBalancer::Range => {
            for share in three.values() {
                let (lo, hi) = (share.first().unwrap(), share.last().unwrap());
                assert_eq!(hi - lo + 1, share.len() as i32, "range share {share:?}");
            }
        }
        // Cooperative-sticky (KIP-429): the two first members keep four of
        // their partitions and only ever revoke the ones that moved.
        GroupBalancer::CooperativeSticky => {
            let log = log.lock().unwrap();
            for m in [0, 1] {
                let kept: BTreeSet<i32> = two[&m].intersection(&three[&m]).copied().collect();
                assert_eq!(
                    kept, three[&m],
                    "member {m} only keeps partitions: {two:?} -> {three:?}"
                );
                let revoked: BTreeSet<i32> = log
                    .events
                    .iter()
                    .filter(|(who, at, _)| *who == m && *at >= joined_at)
                    .filter_map(|(_, _, e)| match e {
                        Event::Revoked(p) | Event::Lost(p) => Some(*p),
                        _ => None,
                    })
                    .collect();
                let moved: BTreeSet<i32> = two[&m].difference(&three[&m]).copied().collect();
                assert_eq!(revoked, moved, "member {m} revoked exactly what moved");
            }
        }
        GroupBalancer::RoundRobin => {}
    }
    producing.await.unwrap();
    let total = ROUNDS * PER_ROUND;
    consumed(&log, 0, total).await;
    for m in [a, b, c] {
        m.close().await;
    }
    {
        let log = log.lock().unwrap();
        let expected: BTreeSet<String> = (0..total).map(value).collect();
        exactly_once_in_order(&log.got, &expected, &BTreeMap::new());
    }

    // A new incarnation of the group resumes from the committed offsets:
    // it reads only what was written since, each message once.
    let offsets_before: BTreeMap<i32, i64> = t
        .offsets(&topic)
        .await
        .into_iter()
        .enumerate()
        .map(|(p, (_, end))| (p as i32, end))
        .collect();
    produce(&t, &topic, total, total + 300).await;
    let before = log.lock().unwrap().got.len();
    let resumed: Vec<Member> = (3..6)
        .map(|i| Member::start(i, config.clone(), &log))
        .collect();
    settled(&log, &[3, 4, 5], PARTITIONS).await;
    consumed(&log, total, total + 300).await;
    // Time for anything read twice to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for m in resumed {
        m.close().await;
    }
    {
        let log = log.lock().unwrap();
        let again = &log.got[before..];
        let expected: BTreeSet<String> = (total..total + 300).map(value).collect();
        exactly_once_in_order(again, &expected, &offsets_before);
        // Each partition was first handed out at the offset the group committed.
        let mut first_assigned: BTreeMap<i32, (usize, Option<i64>)> = BTreeMap::new();
        for (m, _, e) in &log.events {
            if let (3..=5, Event::Assigned(p, offset)) = (m, e) {
                first_assigned.entry(*p).or_insert((*m, *offset));
            }
        }
        assert_eq!(first_assigned.len(), PARTITIONS as usize);
        for (p, (m, offset)) in first_assigned {
            assert_eq!(
                offset,
                Some(offsets_before[&p]),
                "member {m} resumed partition {p} at the committed offset"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_group_of_three_shares_reads_once_and_resumes() {
    group_of_three(GroupBalancer::Range).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooperative_sticky_group_of_three_shares_reads_once_and_resumes() {
    group_of_three(GroupBalancer::CooperativeSticky).await;
}

/// Static membership (KIP-345): static members that close and come back as
/// the same instance within their session timeout get the same partitions
/// back, and the member that never restarted sees no rebalance at all (not
/// even when the old incarnations' sessions would have expired). Both the
/// group leader and a follower restart (a returning leader must not
/// reassign: JoinGroup v9's `skip_assignment`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_members_restarting_within_their_session_keep_their_partitions() {
    const PARTITIONS: i32 = 6;
    let t = Target::start(Topology::Single).await;
    let topic = t.unique("static");
    let group = t.unique("static-group");
    t.create_topic(&topic, PARTITIONS).await;
    let config = |name: &str| ReaderConfig {
        group_instance_id: Some(format!("{group}-{name}")),
        group_balancers: vec![GroupBalancer::Range],
        commit_interval: Duration::from_millis(200),
        heartbeat_interval: Duration::from_millis(500),
        session_timeout: MIN_SESSION_TIMEOUT,
        rebalance_timeout: Duration::from_secs(15),
        join_group_backoff: Duration::from_millis(500),
        max_wait: Duration::from_millis(200),
        ..ReaderConfig::group(&[&t.bootstrap_servers()], &group, &[&topic])
    };
    let log = Shared::default();
    let names = ["a", "b", "c"];
    let mut members: Vec<Option<Member>> = (0..3)
        .map(|i| Some(Member::start(i, config(names[i]), &log)))
        .collect();
    let before = settled(&log, &[0, 1, 2], PARTITIONS).await;
    let described = describe(&t, &group, &topic).await;
    assert_eq!(
        (described.shares.clone(), described.instances.clone()),
        (
            before.values().cloned().collect(),
            names.iter().map(|n| Some(format!("{group}-{n}"))).collect()
        ),
        "the coordinator's view of the group: {described:?}"
    );
    produce(&t, &topic, 0, 300).await;
    consumed(&log, 0, 300).await;
    let last_join = |m: usize| {
        log.lock()
            .unwrap()
            .events
            .iter()
            .filter(|(who, _, _)| *who == m)
            .filter_map(|(_, _, e)| match e {
                Event::Joined { generation, leader } => Some((*generation, *leader)),
                _ => None,
            })
            .next_back()
            .expect("joined")
    };
    let leader = (0..3).find(|&m| last_join(m).1).expect("one member leads");
    let follower = (leader + 1) % 3;
    let bystander = (leader + 2) % 3;
    let generation = last_join(bystander).0;

    // The leader closes (a static member does not leave) and comes back at
    // once as member 3, then a follower as member 4.
    let first_closed = Instant::now();
    members[leader].take().unwrap().close().await;
    members.push(Some(Member::start(3, config(names[leader]), &log)));
    let mut ids = [0, 1, 2];
    ids[leader] = 3;
    let after = settled(&log, &ids, PARTITIONS).await;
    assert_eq!(
        after[&3], before[&leader],
        "the leader got its partitions back"
    );
    let last_closed = Instant::now();
    members[follower].take().unwrap().close().await;
    members.push(Some(Member::start(4, config(names[follower]), &log)));
    ids[follower] = 4;
    let after = settled(&log, &ids, PARTITIONS).await;
    let back_in = last_closed.elapsed();
    assert!(
        first_closed.elapsed() < MIN_SESSION_TIMEOUT,
        "both restarted within the session timeout ({:?})",
        first_closed.elapsed()
    );
    assert_eq!(after[&3], before[&leader], "the leader kept its partitions");
    assert_eq!(
        after[&4], before[&follower],
        "the follower got its partitions back"
    );
    assert_eq!(after[&bystander], before[&bystander]);
    produce(&t, &topic, 300, 600).await;
    consumed(&log, 300, 600).await;
    // Past the old incarnations' session timeout: still no rebalance.
    let until = last_closed + MIN_SESSION_TIMEOUT + Duration::from_secs(2);
    tokio::time::sleep_until(until.into()).await;
    {
        let log = log.lock().unwrap();
        let seen: Vec<&(usize, Instant, Event)> = log
            .events
            .iter()
            .filter(|(who, at, _)| *who == bystander && *at >= first_closed)
            .collect();
        assert!(
            seen.is_empty(),
            "the member that stayed saw a rebalance: {seen:?}"
        );
        for m in [3, 4] {
            let events: Vec<&Event> = log
                .events
                .iter()
                .filter(|(who, _, _)| *who == m)
                .map(|(_, _, e)| e)
                .collect();
            eprintln!("restarted member {m}: {events:?} (follower back in {back_in:?})");
            assert!(
                !events
                    .iter()
                    .any(|e| matches!(e, Event::Revoked(_) | Event::Lost(_))),
                "member {m} lost partitions: {events:?}"
            );
        }
        let expected: BTreeSet<String> = (0..600).map(value).collect();
        exactly_once_in_order(&log.got, &expected, &BTreeMap::new());
    }
    assert_eq!(
        last_join(bystander).0,
        generation,
        "the generation never moved"
    );
    for m in members.into_iter().flatten() {
        m.close().await;
    }
}

// ---------------------------------------------------------------- admin

/// The admin Client: topics created (and refused when they exist), grown,
/// looked up by time, deleted (and refused when missing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_creates_grows_lists_offsets_by_time_and_deletes() {
    let t = Target::start(Topology::Single).await;
    let client = t.client();
    let topic = t.unique("admin");

    client
        .create_topics(&[TopicConfig::new(&topic, 2)])
        .await
        .unwrap();
    t.wait_for_partitions(&topic, 2).await;
    // Creating an existing topic is no error (kafka-go skips
    // TOPIC_ALREADY_EXISTS); the partition count stays as it was.
    client
        .create_topics(&[TopicConfig::new(&topic, 2)])
        .await
        .expect("creating an existing topic is idempotent");
    let meta = client.metadata(&[&topic]).await.unwrap();
    assert_eq!(meta.topics[0].partitions.len(), 2);

    client.create_partitions(&topic, 4).await.unwrap();
    t.wait_for_partitions(&topic, 4).await;
    let meta = client.metadata(&[&topic]).await.unwrap();
    let ids: Vec<i32> = meta.topics[0].partitions.iter().map(|p| p.id).collect();
    assert_eq!(ids, [0, 1, 2, 3]);
    let shrink = client
        .create_partitions(&topic, 3)
        .await
        .expect_err("partitions cannot be removed");
    assert_eq!(
        shrink.code(),
        Some(ErrorCode::INVALID_PARTITIONS),
        "{shrink}"
    );

    // Ten messages one second apart (create time), in two batches, on partition 0.
    let base = (now_ms() - 120_000) / 1000 * 1000;
    let mut conn = dial_leader(&t.bootstrap()[0], &topic, 0).await.unwrap();
    let values: Vec<String> = (0..10).map(|i| format!("tick-{i}")).collect();
    let messages: Vec<Message<'_>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Message::new(v.as_bytes()).with_time(at_ms(base + 1000 * i as i64)))
        .collect();
    conn.write_messages(&messages[..5]).await.unwrap();
    conn.write_messages(&messages[5..]).await.unwrap();
    conn.close();

    let ask = |timestamp: i64| OffsetRequest {
        topic: topic.clone(),
        partition: 0,
        timestamp,
    };
    let cases: Vec<(i64, i64)> = vec![
        (base - 60_000, 0), // before everything: the first message
        (base, 0),          // exactly the first
        (base + 1, 1),      // just after it: the next one
        (base + 4_500, 5),  // between batches: the first of the second batch
        (base + 7_000, 7),  // exactly one in the second batch
        (base + 8_999, 9),  // the last
        (base + 9_001, -1), // after the last: none
        (FIRST_OFFSET, 0),  // the first offset
        (LAST_OFFSET, 10),  // the next offset to be written
    ];
    let requests: Vec<OffsetRequest> = cases.iter().map(|(ts, _)| ask(*ts)).collect();
    let found = client.list_offsets(&requests).await.unwrap();
    for ((ts, want), got) in cases.iter().zip(&found) {
        assert!(got.error.is_none(), "at {ts}: {:?}", got.error);
        assert_eq!(
            got.offset,
            *want,
            "list offsets at {} (base {base}{:+})",
            ts,
            ts - base
        );
    }
    // A new partition is empty.
    let empty = client
        .list_offsets(&[OffsetRequest {
            topic: topic.clone(),
            partition: 3,
            timestamp: LAST_OFFSET,
        }])
        .await
        .unwrap();
    assert_eq!((empty[0].offset, empty[0].error.is_none()), (0, true));

    client.delete_topics(&[&topic]).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let meta = client.metadata(&[&topic]).await.unwrap();
        let gone = meta
            .topics
            .iter()
            .all(|m| m.error == Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
        if gone {
            break;
        }
        assert!(Instant::now() < deadline, "{topic} still listed: {meta:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let missing = client
        .delete_topics(&[&topic])
        .await
        .expect_err("deleting a missing topic fails");
    assert_eq!(
        missing.code(),
        Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
        "{missing}"
    );
    client.close();
}

/// Waits until DescribeConfigs shows `key` = `value` on `topic`: Kafka
/// applies an alteration once its metadata reaches the broker, a moment
/// after the answer.
async fn wait_config(client: &Client, topic: &str, key: &str, value: &str) -> ConfigSource {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let described = client
            .describe_configs(&[ConfigResource::topic(topic)], &[key])
            .await
            .unwrap();
        if let Some(e) = described[0].entries.iter().find(|e| e.name == key) {
            if e.value.as_deref() == Some(value) {
                return e.source;
            }
        }
        assert!(Instant::now() < deadline, "{topic}: {key} never {value}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The admin Client's group offsets (commit, fetch, lag, resets refused
/// while a member is active, OffsetDelete, DeleteGroups), topic configs
/// (IncrementalAlterConfigs, DescribeConfigs), DeleteRecords,
/// DescribeCluster and ElectLeaders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_group_offsets_configs_records_and_cluster() {
    let t = Target::start(Topology::Single).await;
    let client = t.client();
    let topic = t.unique("admin-ops");
    let group = t.unique("admin-ops-group");
    client
        .create_topics(&[TopicConfig::new(&topic, 2)])
        .await
        .unwrap();
    t.wait_for_partitions(&topic, 2).await;
    let mut conn = dial_leader(&t.bootstrap()[0], &topic, 0).await.unwrap();
    let values: Vec<String> = (0..10).map(|i| format!("op-{i}")).collect();
    let messages: Vec<Message<'_>> = values.iter().map(|v| Message::new(v.as_bytes())).collect();
    conn.write_messages(&messages).await.unwrap();
    conn.close();

    // Group offsets, as an admin of an inactive group.
    client
        .offset_commit(&group, &[(&topic, 0, 4)])
        .await
        .unwrap();
    let committed = client.offset_fetch(&group, None).await.unwrap();
    assert_eq!(
        committed
            .iter()
            .map(|c| (c.topic.as_str(), c.partition, c.offset))
            .collect::<Vec<_>>(),
        [(topic.as_str(), 0, 4)]
    );
    let lag = client.group_lag(&group).await.unwrap();
    let lags: Vec<(i32, Option<i64>)> = lag.iter().map(|l| (l.partition, l.lag)).collect();
    assert_eq!(lags, [(0, Some(6)), (1, None)]);
    let reset = client
        .reset_offsets(&group, &[&topic], OffsetReset::Latest)
        .await
        .unwrap();
    assert_eq!(reset.iter().map(|r| r.offset).collect::<Vec<_>>(), [10, 0]);
    client
        .reset_offsets(&group, &[&topic], OffsetReset::Offset(2))
        .await
        .unwrap();
    let committed = client.offset_fetch(&group, Some(&[&topic])).await.unwrap();
    assert_eq!(
        committed.iter().map(|c| c.offset).collect::<Vec<_>>(),
        [2, 0],
        "clamped into each partition's range"
    );

    // A member: resets and DeleteGroups are refused.
    let mut reader = Reader::new(ReaderConfig {
        heartbeat_interval: Duration::from_millis(200),
        max_wait: Duration::from_millis(100),
        ..ReaderConfig::group(&[&t.bootstrap_servers()], &group, &[&topic])
    })
    .unwrap();
    tokio::time::timeout(Duration::from_secs(30), reader.fetch_message())
        .await
        .expect("the member reads")
        .unwrap();
    let e = client
        .reset_offsets(&group, &[&topic], OffsetReset::Earliest)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NON_EMPTY_GROUP), "{e}");
    let e = client.delete_groups(&[&group]).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NON_EMPTY_GROUP), "{e}");
    let e = client
        .delete_offsets(&group, &topic, &[0])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC), "{e}");
    reader.close().await.unwrap();
    client.delete_offsets(&group, &topic, &[1]).await.unwrap();
    client.delete_groups(&[&group]).await.unwrap();
    let e = client.delete_groups(&[&group]).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::GROUP_ID_NOT_FOUND), "{e}");

    // Topic configs.
    let resource = ConfigResource::topic(&topic);
    client
        .incremental_alter_configs(&resource, &[AlterConfigOp::set("retention.ms", "3600000")])
        .await
        .unwrap();
    let source = wait_config(&client, &topic, "retention.ms", "3600000").await;
    assert_eq!(source, ConfigSource::DynamicTopic);
    client
        .incremental_alter_configs(&resource, &[AlterConfigOp::delete("retention.ms")])
        .await
        .unwrap();
    let source = wait_config(&client, &topic, "retention.ms", "604800000").await;
    assert_eq!(source, ConfigSource::Default);
    let e = client
        .incremental_alter_configs(&resource, &[AlterConfigOp::set("no.such.key", "1")])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::INVALID_CONFIG), "{e}");

    // DeleteRecords moves the log start.
    let low = client.delete_records(&[(&topic, 0, 4)]).await.unwrap();
    assert_eq!(low, [(topic.clone(), 0, 4)]);
    let offsets = client.offsets(&topic).await.unwrap();
    assert_eq!(offsets[0], (0, 4, 10));

    // The cluster, and an election with nothing to do.
    let cluster = client.describe_cluster().await.unwrap();
    assert!(!cluster.brokers.is_empty());
    assert!(!cluster.cluster_id.is_empty());
    let elected = client
        .elect_leaders(Some(&[(&topic, vec![0])]), ElectionType::Preferred)
        .await
        .unwrap();
    assert_eq!(elected[0].error, Some(ErrorCode::ELECTION_NOT_NEEDED));
    client.delete_topics(&[&topic]).await.unwrap();
    client.close();
}

// ---------------------------------------------------------------- versions

/// The version of each API the client negotiated with each broker, printed;
/// every API microkafka has is available, none is below what Kafka 4.x
/// accepts (KIP-896) and none is outside microkafka's codecs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiated_versions_respect_the_kafka4_floor() {
    let t = Target::start(Topology::Single).await;
    let mut below = Vec::new();
    for addr in t.bootstrap() {
        let conn = dial(&addr).await.unwrap();
        eprintln!("negotiated with {} ({}):", conn.broker(), t.describe());
        for (api, version) in conn.api_versions() {
            let floor = kafka4_floor(api);
            let ours = client_versions(api);
            match version {
                Some(v) => {
                    eprintln!(
                        "  {api:?} (key {}): v{v}  (microkafka {}..={}, 4.x floor {floor})",
                        api as i16, ours.min, ours.max
                    );
                    if v < floor || !ours.contains(v) {
                        below.push((addr.clone(), api, v));
                    }
                }
                None => {
                    eprintln!("  {api:?} (key {}): none", api as i16);
                    below.push((addr.clone(), api, -1));
                }
            }
        }
        conn.close();
    }
    assert!(
        below.is_empty(),
        "outside microkafka's 4.x range: {below:?}"
    );
}
