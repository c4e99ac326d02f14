//! End to end on the host: microkafka-embassy on an embassy-net stack,
//! through an in-memory cable and a user-space relay, against the std mock
//! broker; std-net's Reader and Writer on the other side.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::Net;
use embassy_net::tcp::TcpSocket;
use microkafka_core::balancer::Murmur2;
use microkafka_embassy::{Consumer, ConsumerConfig, Producer, ProducerConfig, Record};
use microkafka_std::{Compression, Message, Reader, ReaderConfig, Writer, WriterConfig};

/// `(offset, key, value)` of every record of a partition, read by std-net's Reader.
fn read_back(net: &Net, topic: &str, partition: i32) -> Vec<(i64, Vec<u8>, Vec<u8>)> {
    let (_, end) = net.cluster.offsets(topic, partition).unwrap();
    let brokers = net.cluster.bootstrap_servers();
    common::tokio().block_on(async {
        let mut reader = Reader::new(ReaderConfig::new(&[&brokers], topic, partition)).unwrap();
        let mut out = Vec::new();
        while (out.len() as i64) < end {
            let m = tokio::time::timeout(Duration::from_secs(20), reader.fetch_message())
                .await
                .expect("reader timed out")
                .unwrap();
            out.push((
                m.offset,
                m.key.unwrap_or_default().to_vec(),
                m.value.unwrap_or_default().to_vec(),
            ));
        }
        reader.close().await.unwrap();
        out
    })
}

/// Another live broker than `node` (brokers are 1..=3).
fn other(node: i32) -> i32 {
    node % 3 + 1
}

#[test]
fn produces_1000_records_through_leader_move_and_broker_loss() {
    const N: usize = 1000;
    let net = Net::start(3);
    net.cluster.create_topic("telemetry", 3).unwrap();
    let brokers = net.bootstrap();
    let cluster = &net.cluster;

    let stats = net.run_device(|stack| async move {
        let (mut rx0, mut tx0) = ([0u8; 4096], [0u8; 4096]);
        let (mut rx1, mut tx1) = ([0u8; 4096], [0u8; 4096]);
        let sockets = [
            TcpSocket::new(stack, &mut rx0, &mut tx0),
            TcpSocket::new(stack, &mut rx1, &mut tx1),
        ];
        let (mut batches, mut responses) = ([0u8; 3 * 1024], [0u8; 1024]);
        let config = ProducerConfig {
            linger: embassy_time::Duration::from_millis(2),
            ..ProducerConfig::new(brokers, "telemetry")
        };
        let mut producer: Producer<'_, _, _, 2, 3> = Producer::new(
            sockets,
            common::resolver(),
            Murmur2::default(),
            &mut batches,
            &mut responses,
            config,
        )
        .unwrap();
        let mut downed = None;
        for i in 0..N {
            match i {
                300 => {
                    let leader = cluster.leader("telemetry", 0).unwrap();
                    cluster.move_leader("telemetry", 0, other(leader)).unwrap();
                }
                600 => {
                    let leader = cluster.leader("telemetry", 1).unwrap();
                    cluster.broker_down(leader).unwrap();
                    downed = Some(leader);
                }
                800 => cluster.broker_up(downed.unwrap()).unwrap(),
                _ => {}
            }
            let key = format!("sensor-{}", i % 13);
            let value = format!("record-{i}");
            let record = Record::new(value.as_bytes()).with_key(key.as_bytes());
            producer.send(&record).await.unwrap();
        }
        producer.close().await.unwrap();
        assert_eq!(producer.pending_records(), 0);
        producer.stats()
    });
    eprintln!("producer: {stats:?}");
    assert_eq!(stats.records as usize, N, "{stats:?}");
    assert_eq!(stats.failed_records, 0, "{stats:?}");
    assert!(
        stats.metadata_refreshes >= 2,
        "the moves were seen: {stats:?}"
    );

    // Exactly the records sent: none lost, none twice, each key on one
    // partition, in the order sent within a partition.
    let mut seen = BTreeSet::new();
    let mut key_partition = BTreeMap::new();
    for partition in 0..3 {
        let records = read_back(&net, "telemetry", partition);
        let mut last = None;
        for (offset, key, value) in records {
            let value = String::from_utf8(value).unwrap();
            let i: usize = value.strip_prefix("record-").unwrap().parse().unwrap();
            assert_eq!(key, format!("sensor-{}", i % 13).into_bytes());
            assert!(seen.insert(i), "record {i} twice (offset {offset})");
            assert!(last < Some(i), "partition {partition}: {i} after {last:?}");
            last = Some(i);
            let p = *key_partition.entry(key).or_insert(partition);
            assert_eq!(p, partition, "a key on two partitions");
        }
    }
    assert_eq!(seen.len(), N);
    assert_eq!(seen, (0..N).collect());
}

#[test]
fn consumes_what_a_std_writer_wrote_through_leader_move_and_dropped_connections() {
    const N: usize = 500;
    let net = Net::start(3);
    net.cluster.create_topic("commands", 1).unwrap();
    let brokers = net.bootstrap();
    let cluster = &net.cluster;

    // The std side writes N records, lz4-compressed, in several batches.
    common::tokio().block_on(async {
        let config = WriterConfig {
            compression: Compression::Lz4,
            batch_size: 16,
            ..WriterConfig::new(&[&cluster.bootstrap_servers()], "commands")
        };
        let writer = Writer::new(config).unwrap();
        let values: Vec<String> = (0..N).map(|i| format!("command-{i}")).collect();
        let messages: Vec<Message<'_>> =
            values.iter().map(|v| Message::new(v.as_bytes())).collect();
        for chunk in messages.chunks(16) {
            writer.write_messages(chunk).await.unwrap();
        }
        writer.close().await.unwrap();
    });
    assert_eq!(cluster.offsets("commands", 0), Some((0, N as i64)));

    let read = net.run_device(|stack| async move {
        let (mut rx, mut tx) = ([0u8; 4096], [0u8; 1024]);
        let socket = TcpSocket::new(stack, &mut rx, &mut tx);
        // Small fetches (many round trips), and room to inflate lz4 batches.
        let (mut fetch, mut scratch) = ([0u8; 1024], [0u8; 2048]);
        let config = ConsumerConfig::new(brokers, "commands", 0);
        let mut consumer: Consumer<'_, _> =
            Consumer::new(socket, common::resolver(), &mut fetch, &mut scratch, config).unwrap();
        let mut read = Vec::new();
        let (mut fetches, mut moved, mut dropped) = (0, false, false);
        while read.len() < N {
            if read.len() >= 100 && !moved {
                let leader = cluster.leader("commands", 0).unwrap();
                cluster.move_leader("commands", 0, other(leader)).unwrap();
                moved = true;
            }
            if read.len() >= 250 && !dropped {
                cluster.drop_all_connections();
                dropped = true;
            }
            fetches += 1;
            consumer.fetch().await.unwrap();
            while let Some(record) = consumer.next_record() {
                let record = record.unwrap();
                read.push((record.offset, record.value.unwrap().to_vec()));
            }
        }
        assert_eq!(consumer.offset(), Some(N as i64));
        assert_eq!(consumer.lag(), 0);
        assert!(
            fetches > 4 && dropped,
            "the faults happened mid-run ({fetches} fetches)"
        );
        read
    });
    assert_eq!(read.len(), N);
    for (i, (offset, value)) in read.iter().enumerate() {
        assert_eq!(*offset, i as i64);
        assert_eq!(value, format!("command-{i}").as_bytes());
    }
}

/// The port speaks one version of each API (ApiVersions 0, Metadata 4,
/// InitProducerId 0, Produce 3, Fetch below 13): a broker with Kafka 4.x's
/// ranges (KIP-896 floors) accepts them; records go through both ways.
#[test]
fn a_kafka4_broker_accepts_the_ports_versions() {
    const N: usize = 200;
    let net = Net::start_with(microkafka_mock_broker::Config {
        kafka4: true,
        ..microkafka_mock_broker::Config::with_brokers(1)
    });
    net.cluster.create_topic("k4", 1).unwrap();
    let brokers = net.bootstrap();

    let (stats, read) = net.run_device(|stack| async move {
        let (mut rx, mut tx) = ([0u8; 4096], [0u8; 4096]);
        let sockets = [TcpSocket::new(stack, &mut rx, &mut tx)];
        let (mut batches, mut responses) = ([0u8; 1024], [0u8; 1024]);
        let config = ProducerConfig::new(brokers, "k4");
        let mut producer: Producer<'_, _, _> = Producer::new(
            sockets,
            common::resolver(),
            Murmur2::default(),
            &mut batches,
            &mut responses,
            config,
        )
        .unwrap();
        for i in 0..N {
            let value = format!("k4-{i}");
            producer.send(&Record::new(value.as_bytes())).await.unwrap();
        }
        producer.close().await.unwrap();
        let stats = producer.stats();
        drop(producer);

        let (mut rx, mut tx) = ([0u8; 4096], [0u8; 1024]);
        let socket = TcpSocket::new(stack, &mut rx, &mut tx);
        let (mut fetch, mut scratch) = ([0u8; 2048], [0u8; 64]);
        let config = ConsumerConfig::new(brokers, "k4", 0);
        let mut consumer: Consumer<'_, _> =
            Consumer::new(socket, common::resolver(), &mut fetch, &mut scratch, config).unwrap();
        let mut read = Vec::new();
        while read.len() < N {
            consumer.fetch().await.unwrap();
            while let Some(record) = consumer.next_record() {
                read.push(record.unwrap().value.unwrap().to_vec());
            }
        }
        (stats, read)
    });
    assert_eq!((stats.records as usize, stats.failed_records), (N, 0));
    let expected: Vec<Vec<u8>> = (0..N).map(|i| format!("k4-{i}").into_bytes()).collect();
    assert_eq!(read, expected);
    let written: Vec<Vec<u8>> = read_back(&net, "k4", 0)
        .into_iter()
        .map(|(_, _, v)| v)
        .collect();
    assert_eq!(written, expected);
}
