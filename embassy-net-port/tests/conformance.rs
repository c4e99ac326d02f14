//! The conformance suite for the firmware port: microkafka-embassy's
//! producer (idempotent, acks=all) and partition consumer on an embassy-net
//! stack, over the host cable and bridge, against the broker the
//! environment selects (the same [`target`] as `microkafka-tests`'
//! conformance suite): the in-process mock broker by default (3 brokers,
//! Kafka 4.x version floors), real Apache Kafka with `MICROKAFKA_TARGET=kafka`.
//! What one side writes, the other reads back exactly, with std-net's
//! Reader and Writer on the host side.
//!
//! ```sh
//! cargo test -p microkafka-embassy --test conformance
//! env MICROKAFKA_TARGET=kafka $(.ci/kafka env) cargo test -p microkafka-embassy --test conformance
//! ```

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../../tests/src/target.rs"]
mod target;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::bridge::{Bridge, BRIDGE_IP};
use common::cable::{Cable, DeviceEnd};
use embassy_futures::select::{select, Either};
use embassy_net::tcp::TcpSocket;
use embassy_net::{Ipv4Address, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use microkafka_core::balancer::{murmur2, Murmur2};
use microkafka_embassy::{
    Consumer, ConsumerConfig, Producer, ProducerConfig, Record, RecordHeader, RequiredAcks,
};
use microkafka_std::{Compression, Message, Writer, WriterConfig};
use target::{Target, Topology};

/// A Target with the bridge from the device's cable to its brokers.
struct Device {
    target: Target,
    cable: Arc<Cable>,
    _bridge: Bridge,
}

impl Device {
    fn start() -> Device {
        let target = Target::start_blocking(Topology::Single);
        let cable = Cable::new();
        let bridge = Bridge::start(cable.clone(), &target.addrs());
        Device {
            target,
            cable,
            _bridge: bridge,
        }
    }

    /// The bootstrap list as `&'static str`s (configs borrow it).
    fn bootstrap(&self) -> &'static [&'static str] {
        let v: Vec<&'static str> = self
            .target
            .bootstrap()
            .into_iter()
            .map(|s| &*Box::leak(s.into_boxed_str()))
            .collect();
        Box::leak(v.into_boxed_slice())
    }

    /// Runs `body` on an embassy-net stack at 10.0.0.2 on the cable (as
    /// `common::Net::run_device` does for a mock cluster).
    fn run<F, Fut>(&self, body: F) -> Fut::Output
    where
        F: FnOnce(Stack<'static>) -> Fut,
        Fut: Future,
    {
        let resources: &'static mut StackResources<8> = Box::leak(Box::new(StackResources::new()));
        let config = embassy_net::Config::ipv4_static(StaticConfigV4 {
            address: Ipv4Cidr::new(Ipv4Address::new(10, 0, 0, 2), 24),
            gateway: Some(BRIDGE_IP),
            dns_servers: Default::default(),
        });
        let (stack, mut runner) = embassy_net::new(
            DeviceEnd(self.cable.clone()),
            config,
            resources,
            0x5eed_4321,
        );
        common::block_on(async move {
            match select(runner.run(), body(stack)).await {
                Either::First(never) => never,
                Either::Second(out) => out,
            }
        })
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The Java client's partition for `key`: `toPositive(murmur2(key)) % n`.
fn java_partition(key: &[u8], n: u32) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) % n) as i32
}

/// The idempotent producer (acks=all) writes 600 keyed records with a
/// header and a create time; std-net's Reader reads every partition back:
/// each record exactly once, in the order sent per partition, on the
/// partition the Java client would pick for its key, with its key, value,
/// header and timestamp.
#[test]
fn the_embassy_producer_writes_exactly_what_std_reads_back() {
    const N: usize = 600;
    const PARTITIONS: i32 = 3;
    let device = Device::start();
    let rt = common::tokio();
    let topic: &'static str = Box::leak(device.target.unique("embassy-produce").into_boxed_str());
    rt.block_on(device.target.create_topic(topic, PARTITIONS));
    let brokers = device.bootstrap();
    let base = now_ms() - 30_000;

    let stats = device.run(|stack| async move {
        let (mut rx0, mut tx0) = ([0u8; 4096], [0u8; 4096]);
        let (mut rx1, mut tx1) = ([0u8; 4096], [0u8; 4096]);
        let (mut rx2, mut tx2) = ([0u8; 4096], [0u8; 4096]);
        let sockets = [
            TcpSocket::new(stack, &mut rx0, &mut tx0),
            TcpSocket::new(stack, &mut rx1, &mut tx1),
            TcpSocket::new(stack, &mut rx2, &mut tx2),
        ];
        let (mut batches, mut responses) = ([0u8; 3 * 1024], [0u8; 1024]);
        let config = ProducerConfig {
            acks: RequiredAcks::All,
            idempotent: true,
            linger: embassy_time::Duration::from_millis(2),
            ..ProducerConfig::new(brokers, topic)
        };
        let mut producer: Producer<'_, _, _, 3, 3> = Producer::new(
            sockets,
            common::resolver(),
            Murmur2::default(),
            &mut batches,
            &mut responses,
            config,
        )
        .unwrap();
        for i in 0..N {
            let key = format!("sensor-{}", i % 17);
            let value = format!("record-{i:04}");
            let index = (i as u32).to_be_bytes();
            let headers = [RecordHeader {
                key: "index",
                value: Some(&index),
            }];
            let record = Record::new(value.as_bytes())
                .with_key(key.as_bytes())
                .with_headers(&headers)
                .with_timestamp(base + i as i64);
            producer.send(&record).await.unwrap();
        }
        producer.close().await.unwrap();
        assert_eq!(producer.pending_records(), 0);
        producer.stats()
    });
    eprintln!("{}: producer {stats:?}", device.target.describe());
    assert_eq!((stats.records as usize, stats.failed_records), (N, 0));

    let mut count = vec![0usize; N];
    let mut key_partition = BTreeMap::new();
    for p in 0..PARTITIONS {
        // Idempotent batches: one producer id, sequences from 0 without a gap.
        let batches = rt.block_on(device.target.stored_batches(topic, p));
        let mut sequence = 0;
        for b in &batches {
            assert!(b.producer_id >= 0, "{topic}[{p}]: not idempotent: {b:?}");
            assert_eq!(b.producer_id, batches[0].producer_id, "{topic}[{p}]");
            assert_eq!(b.base_sequence, sequence, "{topic}[{p}]: {b:?}");
            sequence += b.records;
        }
        let read = rt.block_on(device.target.read_partition(topic, p));
        let mut last = None;
        for r in read {
            let value = String::from_utf8(r.value.unwrap()).unwrap();
            let i: usize = value.strip_prefix("record-").unwrap().parse().unwrap();
            let key = format!("sensor-{}", i % 17);
            assert_eq!(r.key.as_deref(), Some(key.as_bytes()), "record {i}'s key");
            assert_eq!(
                r.headers,
                [("index".to_owned(), Some((i as u32).to_be_bytes().to_vec()))]
            );
            assert_eq!(r.timestamp_ms, base + i as i64, "record {i}'s create time");
            assert!(last < Some(i), "{topic}[{p}]: record {i} after {last:?}");
            last = Some(i);
            count[i] += 1;
            assert_eq!(
                p,
                java_partition(key.as_bytes(), PARTITIONS as u32),
                "{key} on the Java client's partition"
            );
            assert_eq!(*key_partition.entry(key).or_insert(p), p);
        }
    }
    let wrong: Vec<(usize, usize)> = count
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, n)| *n != 1)
        .collect();
    assert!(
        wrong.is_empty(),
        "(record, times stored) not once: {wrong:?}"
    );
}

/// A std-net Writer writes 500 records, lz4-compressed, in many batches;
/// the embassy consumer reads the partition from the first offset: every
/// record, in order, each once, with its key and value.
#[test]
fn the_embassy_consumer_reads_exactly_what_a_std_writer_wrote() {
    const N: usize = 500;
    let device = Device::start();
    let rt = common::tokio();
    let topic: &'static str = Box::leak(device.target.unique("embassy-consume").into_boxed_str());
    rt.block_on(async {
        device.target.create_topic(topic, 1).await;
        let writer = Writer::new(WriterConfig {
            compression: Compression::Lz4,
            batch_size: 16,
            ..WriterConfig::new(&[&device.target.bootstrap_servers()], topic)
        })
        .unwrap();
        let values: Vec<String> = (0..N).map(|i| format!("command-{i:04}")).collect();
        let keys: Vec<String> = (0..N).map(|i| format!("device-{}", i % 5)).collect();
        let messages: Vec<Message<'_>> = values
            .iter()
            .zip(&keys)
            .map(|(v, k)| Message::new(v.as_bytes()).with_key(k.as_bytes()))
            .collect();
        for chunk in messages.chunks(16) {
            writer.write_messages(chunk).await.unwrap();
        }
        writer.close().await.unwrap();
    });
    let brokers = device.bootstrap();

    let read = device.run(|stack| async move {
        let (mut rx, mut tx) = ([0u8; 4096], [0u8; 1024]);
        let socket = TcpSocket::new(stack, &mut rx, &mut tx);
        let (mut fetch, mut scratch) = ([0u8; 2048], [0u8; 2048]);
        let config = ConsumerConfig::new(brokers, topic, 0);
        let mut consumer: Consumer<'_, _> =
            Consumer::new(socket, common::resolver(), &mut fetch, &mut scratch, config).unwrap();
        let mut read = Vec::new();
        let started = std::time::Instant::now();
        while read.len() < N {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "only {} of {N} records in 60 s",
                read.len()
            );
            consumer.fetch().await.unwrap();
            while let Some(record) = consumer.next_record() {
                let record = record.unwrap();
                read.push((
                    record.offset,
                    record.key.unwrap().to_vec(),
                    record.value.unwrap().to_vec(),
                ));
            }
        }
        assert_eq!(consumer.offset(), Some(N as i64));
        assert_eq!(consumer.lag(), 0);
        consumer.close().await;
        read
    });
    assert_eq!(read.len(), N, "no record twice");
    for (i, (offset, key, value)) in read.iter().enumerate() {
        assert_eq!(*offset, i as i64);
        assert_eq!(key, format!("device-{}", i % 5).as_bytes());
        assert_eq!(value, format!("command-{i:04}").as_bytes());
    }
}
