//! The idempotent firmware producer follows core's policy, as the tokio
//! Writer does (std-net/tests/idempotence.rs): a sequence gap costs a new
//! epoch, not the batch; a refused epoch fails the batch and the next one
//! takes a new epoch; what the broker stores runs from sequence 0 under
//! each epoch.

mod common;

use common::Net;
use embassy_net::tcp::TcpSocket;
use embassy_net::Stack;
use microkafka_core::balancer::RoundRobin;
use microkafka_core::record::{Batch, RecordSet};
use microkafka_embassy::{Producer, ProducerConfig, ProducerStats, Record};
use microkafka_mock_broker::{ApiKey, ErrorCode, Fault, MockCluster};

/// `(producer id, epoch, base sequence, records)` of every batch stored in
/// `topic`'s partition 0.
fn stored(c: &MockCluster, topic: &str) -> Vec<(i64, i16, i32, i32)> {
    let bytes = c.log_bytes(topic, 0, 0).unwrap();
    RecordSet::new(&bytes)
        .map(|b| match b.unwrap() {
            Batch::V2(b) => (
                b.producer_id(),
                b.producer_epoch(),
                b.base_sequence(),
                b.records_count(),
            ),
            Batch::Legacy(_) => panic!("a legacy message set"),
        })
        .collect()
}

/// Sends each group of values as one batch (sent, then flushed), with
/// `fault` injected before group `at`; returns each flush's error code (or
/// `None`) and the stats.
async fn produce(
    stack: Stack<'static>,
    cluster: &MockCluster,
    config: ProducerConfig<'static>,
    groups: &[&[&str]],
    (at, fault): (usize, ErrorCode),
) -> (Vec<Option<ErrorCode>>, ProducerStats) {
    let (mut rx, mut tx) = ([0u8; 4096], [0u8; 4096]);
    let socket = TcpSocket::new(stack, &mut rx, &mut tx);
    let (mut batches, mut responses) = ([0u8; 1024], [0u8; 1024]);
    let mut producer: Producer<'_, _, _> = Producer::new(
        [socket],
        common::resolver(),
        RoundRobin::default(),
        &mut batches,
        &mut responses,
        config,
    )
    .unwrap();
    let mut outcomes = Vec::new();
    for (i, group) in groups.iter().enumerate() {
        if i == at {
            cluster.inject(Fault::error(ApiKey::Produce, fault));
        }
        for v in group.iter() {
            producer.send(&Record::new(v.as_bytes())).await.unwrap();
        }
        outcomes.push(producer.flush().await.err().map(|e| e.code().unwrap()));
    }
    producer.close().await.unwrap();
    (outcomes, producer.stats())
}

fn config(net: &Net, topic: &'static str) -> ProducerConfig<'static> {
    ProducerConfig {
        // One batch per group: nothing is due before the flush.
        linger: embassy_time::Duration::from_secs(60),
        backoff: microkafka_embassy::Backoff::new(
            core::time::Duration::from_millis(1),
            core::time::Duration::from_millis(5),
        ),
        ..ProducerConfig::new(net.bootstrap(), topic)
    }
}

/// `OUT_OF_ORDER_SEQUENCE_NUMBER` on the batch right after the last one
/// acknowledged is a real gap: the producer takes the next epoch (locally,
/// no new producer id) and writes the batch from sequence 0.
#[test]
fn a_sequence_gap_takes_a_new_epoch_and_the_batch_is_written() {
    let net = Net::start(1);
    net.cluster.create_topic("gap", 1).unwrap();
    let groups: &[&[&str]] = &[&["a", "b"], &["c", "d", "e"], &["f"]];
    let fault = (1, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
    let (outcomes, stats) =
        net.run_device(|stack| produce(stack, &net.cluster, config(&net, "gap"), groups, fault));
    assert_eq!(outcomes, [None, None, None]);
    let batches = stored(&net.cluster, "gap");
    let pid = batches[0].0;
    assert!(pid >= 0);
    assert_eq!(
        batches,
        [(pid, 0, 0, 2), (pid, 1, 0, 3), (pid, 1, 3, 1)],
        "the gap's batch restarts at 0 under epoch 1"
    );
    assert_eq!((stats.retries, stats.failed_records), (1, 0), "{stats:?}");
}

/// `INVALID_PRODUCER_EPOCH` fails the batch, and its numbers being in
/// doubt, the next batch starts a new epoch instead of colliding with them.
#[test]
fn a_refused_epoch_fails_the_batch_and_the_next_one_takes_a_new_epoch() {
    let net = Net::start(1);
    net.cluster.create_topic("epoch", 1).unwrap();
    let groups: &[&[&str]] = &[&["a"], &["b", "c"], &["d"], &["e", "f"]];
    let fault = (1, ErrorCode::INVALID_PRODUCER_EPOCH);
    let (outcomes, stats) =
        net.run_device(|stack| produce(stack, &net.cluster, config(&net, "epoch"), groups, fault));
    assert_eq!(
        outcomes,
        [None, Some(ErrorCode::INVALID_PRODUCER_EPOCH), None, None]
    );
    let batches = stored(&net.cluster, "epoch");
    let pid = batches[0].0;
    assert_eq!(batches, [(pid, 0, 0, 1), (pid, 1, 0, 1), (pid, 1, 1, 2)]);
    assert_eq!(stats.failed_records, 2, "{stats:?}");
}
