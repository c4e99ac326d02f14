//! A device and a host in one consumer group: microkafka-embassy's
//! GroupConsumer on an embassy-net stack (through the cable and relay) and
//! std-net's group Reader share a topic, each reading a disjoint share,
//! every message once; when the device leaves, the host takes everything.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Net;
use embassy_net::tcp::TcpSocket;
use microkafka_embassy::{GroupConsumer, GroupConsumerConfig};
use microkafka_std::{Message, Reader, ReaderConfig, Writer, WriterConfig};

const TOPIC: &str = "telemetry";
const PARTITIONS: i32 = 6;
const N: usize = 600;
const GROUP: &str = "fleet";

#[derive(Default)]
struct Host {
    got: Vec<(i32, String)>,
    assignment: BTreeSet<i32>,
}

/// The host member: a std group Reader joining once `go` is set, reading until `stop`.
fn host_member(
    bootstrap: String,
    log: Arc<Mutex<Host>>,
    go: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) {
    while !go.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(10));
    }
    common::tokio().block_on(async move {
        let config = ReaderConfig {
            heartbeat_interval: Duration::from_millis(200),
            session_timeout: Duration::from_secs(6),
            rebalance_timeout: Duration::from_secs(10),
            commit_interval: Duration::from_millis(100),
            max_wait: Duration::from_millis(100),
            ..ReaderConfig::group(&[&bootstrap], GROUP, &[TOPIC])
        };
        let mut reader = Reader::new(config).unwrap();
        while !stop.load(Ordering::Relaxed) {
            let read =
                tokio::time::timeout(Duration::from_millis(100), reader.read_message()).await;
            let mut log = log.lock().unwrap();
            if let Ok(Ok(m)) = read {
                let value = String::from_utf8_lossy(m.value.unwrap_or_default()).into_owned();
                log.got.push((m.partition, value));
            }
            log.assignment = reader.assignment().into_iter().map(|(_, p)| p).collect();
        }
        reader.close().await.unwrap();
    });
}

fn produce(bootstrap: &str, from: usize, to: usize) {
    common::tokio().block_on(async {
        let writer = Writer::new(WriterConfig {
            batch_timeout: Duration::from_millis(1),
            ..WriterConfig::new(&[bootstrap], TOPIC)
        })
        .unwrap();
        let values: Vec<String> = (from..to).map(|i| format!("t{i:05}")).collect();
        let messages: Vec<Message<'_>> =
            values.iter().map(|v| Message::new(v.as_bytes())).collect();
        writer.write_messages(&messages).await.unwrap();
        writer.close().await.unwrap();
    });
}

#[test]
fn a_device_and_a_host_share_a_group_then_the_device_leaves() {
    device_and_host(false);
}

#[test]
fn a_device_leads_a_group_a_host_joins() {
    device_and_host(true);
}

/// The device and the host read a topic as one group; the first to join
/// leads (and assigns).
fn device_and_host(device_first: bool) {
    let net = Net::start(3);
    net.cluster.create_topic(TOPIC, PARTITIONS).unwrap();
    let brokers = net.bootstrap();
    let bootstrap = net.cluster.bootstrap_servers();

    let host = Arc::new(Mutex::new(Host::default()));
    let (go_host, stop) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let host_task = {
        let (bootstrap, log) = (bootstrap.clone(), host.clone());
        let (go, stop) = (go_host.clone(), stop.clone());
        std::thread::spawn(move || host_member(bootstrap, log, go, stop))
    };
    if !device_first {
        // The host joins first and holds the whole topic.
        go_host.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(30);
        while host.lock().unwrap().assignment.len() != PARTITIONS as usize {
            assert!(Instant::now() < deadline, "the host never joined");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    // The producer writes once both members hold a share.
    let shared = Arc::new(AtomicBool::new(false));
    let producer = {
        let (bootstrap, shared) = (bootstrap.clone(), shared.clone());
        std::thread::spawn(move || {
            while !shared.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(10));
            }
            produce(&bootstrap, 0, N);
        })
    };

    let host_log = host.clone();
    let go_host_device = go_host.clone();
    let (device_got, device_share) = net.run_device(|stack| async move {
        let mut bufs = [[0u8; 2048]; 3];
        let mut txs = [[0u8; 1024]; 3];
        let [rx0, rx1, rx2] = &mut bufs;
        let [tx0, tx1, tx2] = &mut txs;
        let sockets = [
            TcpSocket::new(stack, rx0, tx0),
            TcpSocket::new(stack, rx1, tx1),
            TcpSocket::new(stack, rx2, tx2),
        ];
        let (mut fetch, mut scratch) = ([0u8; 4096], [0u8; 0]);
        let mut group_buffer = [0u8; 2048];
        let mut leader_scratch = [0u32; 64];
        let config = GroupConsumerConfig {
            heartbeat_interval: embassy_time::Duration::from_millis(200),
            session_timeout: embassy_time::Duration::from_secs(6),
            commit_interval: embassy_time::Duration::from_millis(100),
            max_wait: embassy_time::Duration::from_millis(100),
            ..GroupConsumerConfig::new(brokers, TOPIC, GROUP)
        };
        let mut consumer: GroupConsumer<'_, _, 3, 8> = GroupConsumer::new(
            sockets,
            common::resolver(),
            &mut fetch,
            &mut scratch,
            &mut group_buffer,
            &mut leader_scratch,
            config,
        )
        .unwrap();
        let mut got: Vec<(i32, String)> = Vec::new();
        let mut share = BTreeSet::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(Instant::now() < deadline, "the device never finished");
            consumer.fetch().await.unwrap();
            // Every record of one fetch comes from one partition.
            let partition = consumer.partition().unwrap_or(-1);
            while let Some(record) = consumer.next_record() {
                let record = record.unwrap();
                let value = String::from_utf8_lossy(record.value.unwrap_or_default()).into_owned();
                got.push((partition, value));
            }
            let mine: BTreeSet<i32> = consumer.assignment().collect();
            if mine.len() == PARTITIONS as usize {
                // The device formed the group alone: now the host joins.
                go_host_device.store(true, Ordering::Relaxed);
            }
            let host = host_log.lock().unwrap();
            let theirs = &host.assignment;
            let split = !mine.is_empty()
                && !theirs.is_empty()
                && mine.is_disjoint(theirs)
                && mine.len() + theirs.len() == PARTITIONS as usize;
            if split && !shared.load(Ordering::Relaxed) {
                assert_eq!(
                    consumer.is_leader(),
                    device_first,
                    "the first member to join leads"
                );
                share = mine;
                shared.store(true, Ordering::Relaxed);
            }
            if got.len() + host.got.len() >= N {
                break;
            }
        }
        consumer.commit().await.unwrap();
        consumer.close().await.unwrap();
        (got, share)
    });
    producer.join().unwrap();

    // Every message once, each read by the member owning its partition.
    let host_share: BTreeSet<i32> = (0..PARTITIONS)
        .filter(|p| !device_share.contains(p))
        .collect();
    {
        let host = host.lock().unwrap();
        let mut count: HashMap<&str, usize> = HashMap::new();
        for (p, v) in &device_got {
            assert!(device_share.contains(p), "the device read partition {p}");
            *count.entry(v.as_str()).or_default() += 1;
        }
        for (p, v) in &host.got {
            assert!(host_share.contains(p), "the host read partition {p}");
            *count.entry(v.as_str()).or_default() += 1;
        }
        assert_eq!(count.len(), N, "every message read");
        assert!(count.values().all(|n| *n == 1), "each once");
        assert!(!device_got.is_empty() && !host.got.is_empty());
        println!(
            "device read {} of partitions {device_share:?}, host read {} of {host_share:?}",
            device_got.len(),
            host.got.len()
        );
    }

    // The device left: the host takes its partitions, from the device's commits.
    let deadline = Instant::now() + Duration::from_secs(30);
    while host.lock().unwrap().assignment.len() != PARTITIONS as usize {
        assert!(Instant::now() < deadline, "the host never took over");
        std::thread::sleep(Duration::from_millis(20));
    }
    for p in &device_share {
        let (_, end) = net.cluster.offsets(TOPIC, *p).unwrap();
        assert_eq!(
            net.cluster.committed_offset(GROUP, TOPIC, *p),
            Some(end),
            "the device committed partition {p} before leaving"
        );
    }
    let before = host.lock().unwrap().got.len();
    produce(&bootstrap, N, N + 60);
    let deadline = Instant::now() + Duration::from_secs(30);
    while host.lock().unwrap().got.len() < before + 60 {
        assert!(Instant::now() < deadline, "the host did not read on");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        host.lock().unwrap().got.len(),
        before + 60,
        "nothing read twice"
    );
    stop.store(true, Ordering::Relaxed);
    host_task.join().unwrap();
}
