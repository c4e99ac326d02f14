//! Conn and Dialer against the in-process mock broker (3 brokers).

use std::time::{Duration, Instant};

use microkafka_mock_broker::{Config, MockCluster};
use microkafka_std::{Dialer, ErrorKind, Header, Message, RequiredAcks, SeekWhence, TopicConfig};

async fn cluster() -> MockCluster {
    MockCluster::start(Config::with_brokers(3)).await.unwrap()
}

fn first_addr(c: &MockCluster) -> String {
    c.addrs()[0].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_then_read_back_on_the_leader() {
    let c = cluster().await;
    c.create_topic("conn-rw", 3).unwrap();
    let dialer = Dialer::default();
    let mut conn = dialer
        .dial_leader(&first_addr(&c), "conn-rw", 2)
        .await
        .unwrap();
    assert_eq!(conn.broker().id, c.leader("conn-rw", 2).unwrap());
    let headers = [Header {
        key: "h",
        value: Some(b"1"),
    }];
    let values: Vec<String> = (0..10).map(|i| format!("value-{i}")).collect();
    let messages: Vec<Message<'_>> = values
        .iter()
        .map(|v| {
            Message::new(v.as_bytes())
                .with_key(b"k")
                .with_headers(&headers)
        })
        .collect();
    let written = conn.write_messages(&messages).await.unwrap();
    assert_eq!((written.messages, written.base_offset), (10, 0));
    let written = conn.write_messages(&messages[..3]).await.unwrap();
    assert_eq!(written.base_offset, 10);
    assert_eq!(conn.read_offsets().await.unwrap(), (0, 13));

    conn.seek(8, SeekWhence::Start).await.unwrap();
    let mut batch = conn.read_batch(1, 1 << 20).await.unwrap();
    assert_eq!(batch.high_water_mark(), 13);
    let mut got = Vec::new();
    while let Some(m) = batch.next_message() {
        let m = m.unwrap();
        assert_eq!(
            (m.topic, m.partition, m.key),
            ("conn-rw", 2, Some(&b"k"[..]))
        );
        assert_eq!(m.headers.get("h"), Some(Some(&b"1"[..])));
        got.push((
            m.offset,
            String::from_utf8(m.value.unwrap().to_vec()).unwrap(),
        ));
    }
    let want: Vec<(i64, String)> = (8..13)
        .map(|o| (o, values[(o % 10) as usize].clone()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(conn.offset(), 13);

    // kafka-go's SeekEnd counts back from the end: 2 before offset 13.
    assert_eq!(conn.seek(2, SeekWhence::End).await.unwrap(), 11);
    let m = conn.read_message(1 << 20).await.unwrap();
    assert_eq!(m.offset, 11);
    let m = conn.read_message(1 << 20).await.unwrap();
    assert_eq!(m.offset, 12);
    assert!(conn.seek(99, SeekWhence::Absolute).await.is_err());
    // Past the end either way is out of range, not a silent move.
    assert!(conn.seek(-2, SeekWhence::End).await.is_err());
    assert!(conn.seek(14, SeekWhence::End).await.is_err());
    assert_eq!(conn.seek(0, SeekWhence::End).await.unwrap(), 13);
    assert_eq!(conn.seek(13, SeekWhence::End).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_and_topic_admin() {
    let c = cluster().await;
    let dialer = Dialer::default();
    let addr = first_addr(&c);
    let mut conn = dialer.dial(&addr).await.unwrap();
    let controller = conn.controller().await.unwrap();
    let mut admin = dialer.dial(&controller.addr()).await.unwrap();
    admin
        .create_topics(&[TopicConfig::new("conn-admin", 4)])
        .await
        .unwrap();
    // Creating a topic that exists is no error (kafka-go skips
    // TOPIC_ALREADY_EXISTS); other refusals still fail, naming the topic.
    admin
        .create_topics(&[
            TopicConfig::new("conn-admin", 4),
            TopicConfig::new("conn-admin-2", 1),
        ])
        .await
        .unwrap();
    let refused = admin
        .create_topics(&[TopicConfig {
            replication_factor: 9,
            ..TopicConfig::new("conn-admin-3", 1)
        }])
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Some(microkafka_core::ErrorCode::INVALID_REPLICATION_FACTOR)
    );
    assert_eq!(refused.context().topic.as_deref(), Some("conn-admin-3"));
    let partitions = dialer.lookup_partitions(&addr, "conn-admin").await.unwrap();
    assert_eq!(partitions.len(), 4);
    for p in &partitions {
        let leader = dialer
            .lookup_leader(&addr, "conn-admin", p.id)
            .await
            .unwrap();
        assert_eq!(leader.id, c.leader("conn-admin", p.id).unwrap());
        assert_eq!(leader, p.leader);
    }
    assert_eq!(conn.brokers().await.unwrap().len(), 3);
    admin.delete_topics(&["conn-admin"]).await.unwrap();
    let gone = dialer
        .lookup_partitions(&addr, "conn-admin")
        .await
        .unwrap_err();
    assert!(gone.to_string().contains("conn-admin"), "{gone}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_acks_and_unbound_conns() {
    let c = cluster().await;
    c.create_topic("conn-acks", 1).unwrap();
    let dialer = Dialer::default();
    let mut conn = dialer.dial(&first_addr(&c)).await.unwrap();
    let e = conn
        .write_messages(&[Message::new(b"x")])
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Config(_)), "{e}");

    let mut conn = dialer
        .dial_leader(&first_addr(&c), "conn-acks", 0)
        .await
        .unwrap();
    conn.set_required_acks(RequiredAcks::None);
    let w = conn
        .write_messages(&[Message::new(b"fire"), Message::new(b"forget")])
        .await
        .unwrap();
    assert_eq!(w.base_offset, -1);
    conn.set_required_acks(RequiredAcks::One);
    let w = conn
        .write_messages(&[Message::new(b"acked")])
        .await
        .unwrap();
    assert_eq!(
        w.base_offset, 2,
        "the acks=0 batch went first on the same connection"
    );

    // A fetch at the end waits for data; the read deadline cuts it short.
    conn.set_offset(3);
    conn.set_read_deadline(Some(Instant::now() + Duration::from_millis(300)));
    let started = Instant::now();
    let batch = conn.read_batch(1, 1 << 20).await;
    let mut batch = batch.unwrap();
    assert!(batch.next_message().is_none(), "nothing past the end");
    assert!(started.elapsed() < Duration::from_secs(2));
    conn.set_read_deadline(Some(Instant::now() - Duration::from_millis(1)));
    assert!(conn.read_last_offset().await.unwrap_err().is_timeout());
}

/// A request larger than `max_frame_size` fails before it is sent, and
/// gives its in-flight slot back: the connection takes only 32 requests in
/// flight, and 40 refused ones must not use them up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_give_their_in_flight_slot_back() {
    let c = cluster().await;
    c.create_topic("conn-oversized", 1).unwrap();
    let dialer = Dialer {
        max_frame_size: 64 * 1024,
        request_timeout: Duration::from_secs(5),
        ..Dialer::default()
    };
    let mut conn = dialer
        .dial_leader(&first_addr(&c), "conn-oversized", 0)
        .await
        .unwrap();
    let big = vec![7u8; 100 * 1024];
    for i in 0..40 {
        let e = conn
            .write_messages(&[Message::new(&big)])
            .await
            .unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::Protocol(microkafka_core::Error::TooLarge { .. })
            ),
            "request {i}: {e}"
        );
    }
    let w = tokio::time::timeout(
        Duration::from_secs(10),
        conn.write_messages(&[Message::new(b"small")]),
    )
    .await
    .expect("the connection is not stalled")
    .unwrap();
    assert_eq!(w.base_offset, 0);
    assert_eq!(conn.read_offsets().await.unwrap(), (0, 1));
}

/// Requests cancelled at any point (here: before or right after being
/// sent, to a broker that answers late) give their in-flight slot back, and
/// the connection keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_requests_give_their_in_flight_slot_back() {
    let c = cluster().await;
    c.create_topic("conn-cancelled", 1).unwrap();
    let leader = c.leader("conn-cancelled", 0).unwrap();
    let dialer = Dialer {
        request_timeout: Duration::from_secs(5),
        ..Dialer::default()
    };
    let mut conn = dialer
        .dial_leader(&first_addr(&c), "conn-cancelled", 0)
        .await
        .unwrap();
    c.set_latency(leader, Duration::from_millis(200)).unwrap();
    for _ in 0..40 {
        let cancelled = tokio::time::timeout(Duration::ZERO, conn.read_offsets()).await;
        assert!(cancelled.is_err(), "the broker answers late");
    }
    c.set_latency(leader, Duration::ZERO).unwrap();
    let w = tokio::time::timeout(
        Duration::from_secs(10),
        conn.write_messages(&[Message::new(b"after")]),
    )
    .await
    .expect("the connection is not stalled")
    .unwrap();
    assert_eq!(w.base_offset, 0);
    assert_eq!(conn.read_offsets().await.unwrap(), (0, 1));
}
