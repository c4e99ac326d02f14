//! Failure paths against the mock broker's fault injection: lost answers
//! (idempotence), retriable and fatal error codes, acks 0 and 1, offsets
//! out of range and a broker lost under the consumer.

mod common;

use std::time::{Duration, Instant};

use common::Net;
use embassy_net::tcp::TcpSocket;
use embassy_net::Stack;
use microkafka_core::balancer::RoundRobin;
use microkafka_embassy::{
    Consumer, ConsumerConfig, ErrorKind, Producer, ProducerConfig, ProducerStats, Record,
    RequiredAcks, StartOffset,
};
use microkafka_mock_broker::{ApiKey, ErrorCode, Fault};
use microkafka_std::{Message, Writer, WriterConfig};

/// Sends `values` with one connection and one batch slot; returns the
/// stats and the first error, if any.
async fn produce(
    stack: Stack<'static>,
    config: ProducerConfig<'static>,
    values: &[String],
) -> (ProducerStats, Option<microkafka_embassy::Error>) {
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
    let mut first_error = None;
    for v in values {
        if let Err(e) = producer.send(&Record::new(v.as_bytes())).await {
            first_error.get_or_insert(e);
        }
    }
    if let Err(e) = producer.close().await {
        first_error.get_or_insert(e);
    }
    (producer.stats(), first_error)
}

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// The values stored in partition 0, read straight from the mock's log.
fn stored(net: &Net, topic: &str) -> Vec<String> {
    let (_, end) = net.cluster.offsets(topic, 0).unwrap();
    let brokers = net.cluster.bootstrap_servers();
    common::tokio().block_on(async {
        let config = microkafka_std::ReaderConfig::new(&[&brokers], topic, 0);
        let mut reader = microkafka_std::Reader::new(config).unwrap();
        let mut out = Vec::new();
        while (out.len() as i64) < end {
            let m = tokio::time::timeout(Duration::from_secs(20), reader.fetch_message())
                .await
                .unwrap()
                .unwrap();
            out.push(String::from_utf8(m.value.unwrap_or_default().to_vec()).unwrap());
        }
        out
    })
}

#[test]
fn lost_answers_are_written_once_with_idempotence_and_twice_without() {
    let net = Net::start(1);
    let brokers = net.bootstrap();
    for topic in ["exactly", "at-least"] {
        net.cluster.create_topic(topic, 1).unwrap();
    }
    let sent = values("v", 60);

    // The broker stores three batches but the answers are lost on the way.
    net.cluster.inject(Fault::lose_response(ApiKey::Produce, 3));
    let (stats, error) =
        net.run_device(|stack| produce(stack, ProducerConfig::new(brokers, "exactly"), &sent));
    assert!(error.is_none(), "{error:?}");
    assert!(stats.retries >= 3, "{stats:?}");
    assert_eq!(
        stored(&net, "exactly"),
        sent,
        "retries deduplicated by sequence"
    );

    net.cluster.inject(Fault::lose_response(ApiKey::Produce, 3));
    let config = ProducerConfig {
        idempotent: false,
        ..ProducerConfig::new(brokers, "at-least")
    };
    let (_, error) = net.run_device(|stack| produce(stack, config, &sent));
    assert!(error.is_none(), "{error:?}");
    let stored = stored(&net, "at-least");
    assert!(
        stored.len() > sent.len(),
        "without idempotence a retry duplicates"
    );
    let mut unique = stored.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), sent.len(), "nothing lost");
}

#[test]
fn retriable_codes_are_retried_and_fatal_ones_reported_with_context() {
    let net = Net::start(3);
    let brokers = net.bootstrap();
    net.cluster.create_topic("retried", 1).unwrap();
    net.cluster.create_topic("refused", 1).unwrap();
    let sent = values("r", 40);

    net.cluster.inject(Fault::errors(
        ApiKey::Produce,
        [
            ErrorCode::NOT_LEADER_OR_FOLLOWER,
            ErrorCode::REQUEST_TIMED_OUT,
            ErrorCode::NOT_ENOUGH_REPLICAS,
        ],
    ));
    let (stats, error) =
        net.run_device(|stack| produce(stack, ProducerConfig::new(brokers, "retried"), &sent));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(stats.retries, 3, "{stats:?}");
    assert!(
        stats.metadata_refreshes >= 2,
        "NOT_LEADER refreshes: {stats:?}"
    );
    assert_eq!(stored(&net, "retried"), sent);

    let leader = net.cluster.leader("refused", 0).unwrap();
    net.cluster.inject(Fault::error(
        ApiKey::Produce,
        ErrorCode::TOPIC_AUTHORIZATION_FAILED,
    ));
    let one = values("x", 1);
    let (stats, error) =
        net.run_device(|stack| produce(stack, ProducerConfig::new(brokers, "refused"), &one));
    let error = error.expect("a fatal code is reported");
    assert_eq!(
        error.kind,
        ErrorKind::Kafka(ErrorCode::TOPIC_AUTHORIZATION_FAILED)
    );
    assert_eq!(
        (error.api, error.broker, error.partition),
        (Some(ApiKey::Produce), Some(leader), Some(0))
    );
    assert!(!error.is_retriable());
    assert_eq!((stats.failed_records, stats.retries), (1, 0), "{stats:?}");
    assert!(
        error.to_string().contains("TOPIC_AUTHORIZATION_FAILED"),
        "{error}"
    );
}

#[test]
fn acks_leader_and_acks_none() {
    let net = Net::start(3);
    let brokers = net.bootstrap();
    net.cluster.create_topic("leader-acked", 1).unwrap();
    net.cluster.create_topic("unacked", 1).unwrap();
    let sent = values("a", 50);

    let config = ProducerConfig {
        acks: RequiredAcks::Leader,
        ..ProducerConfig::new(brokers, "leader-acked")
    };
    let (stats, error) = net.run_device(|stack| produce(stack, config, &sent));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(stats.records, 50);
    assert_eq!(stored(&net, "leader-acked"), sent);

    let config = ProducerConfig {
        acks: RequiredAcks::None,
        ..ProducerConfig::new(brokers, "unacked")
    };
    let (stats, error) = net.run_device(|stack| produce(stack, config, &sent));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(stats.records, 50, "counted as sent");
    // Nothing acknowledges acks = 0 batches: wait for the broker to have them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while net.cluster.offsets("unacked", 0) != Some((0, 50)) {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            net.cluster.offsets("unacked", 0)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(stored(&net, "unacked"), sent);
}

/// Writes `values` to partition 0 of `topic` with std-net's Writer.
fn std_write(net: &Net, topic: &str, values: &[String]) {
    common::tokio().block_on(async {
        let writer = Writer::new(WriterConfig::new(
            &[&net.cluster.bootstrap_servers()],
            topic,
        ))
        .unwrap();
        let messages: Vec<Message<'_>> =
            values.iter().map(|v| Message::new(v.as_bytes())).collect();
        writer.write_messages(&messages).await.unwrap();
        writer.close().await.unwrap();
    });
}

#[test]
fn consumer_starts_at_the_end_resets_out_of_range_and_survives_a_lost_broker() {
    let net = Net::start(3);
    let brokers = net.bootstrap();
    net.cluster.create_topic("log", 1).unwrap();
    std_write(&net, "log", &values("old", 10));
    let net_ref = &net;

    net.run_device(|stack| async move {
        let (mut rx, mut tx) = ([0u8; 4096], [0u8; 1024]);
        let socket = TcpSocket::new(stack, &mut rx, &mut tx);
        let (mut fetch, mut scratch) = ([0u8; 4096], [0u8; 0]);
        let config = ConsumerConfig {
            start: StartOffset::Last,
            max_wait: embassy_time::Duration::from_millis(50),
            ..ConsumerConfig::new(brokers, "log", 0)
        };
        let mut consumer: Consumer<'_, _> =
            Consumer::new(socket, common::resolver(), &mut fetch, &mut scratch, config).unwrap();
        assert_eq!(consumer.offset(), None);
        consumer.fetch().await.unwrap();
        assert!(
            consumer.next_record().is_none(),
            "starts after the old records"
        );
        assert_eq!(consumer.offset(), Some(10));

        std_write(net_ref, "log", &values("new", 5));
        let mut read = Vec::new();
        while read.len() < 5 {
            consumer.fetch().await.unwrap();
            while let Some(r) = consumer.next_record() {
                let r = r.unwrap();
                read.push((r.offset, r.value.unwrap().to_vec()));
            }
        }
        assert_eq!(read[0], (10, b"new-0".to_vec()));
        assert_eq!(consumer.offset(), Some(15));

        // Out of range: back to the configured start (the end).
        consumer.seek(1_000);
        consumer.fetch().await.unwrap();
        assert!(consumer.next_record().is_none());
        assert_eq!(consumer.offset(), Some(15));

        // The leader's broker goes away: the next fetch finds the new leader.
        consumer.seek_to(StartOffset::First);
        let leader = net_ref.cluster.leader("log", 0).unwrap();
        net_ref.cluster.broker_down(leader).unwrap();
        let mut all = Vec::new();
        while all.len() < 15 {
            consumer.fetch().await.unwrap();
            while let Some(r) = consumer.next_record() {
                all.push(r.unwrap().offset);
            }
        }
        assert_eq!(all, (0..15).collect::<Vec<i64>>());
        assert_ne!(net_ref.cluster.leader("log", 0), Some(leader));
        net_ref.cluster.broker_up(leader).unwrap();
    });
}
