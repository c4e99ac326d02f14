//! Writer and Reader end to end against the in-process mock broker (3 brokers).

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{cluster, read_all};
use microkafka_std::{
    BalancerKind, Compression, ErrorKind, Header, Message, Reader, ReaderConfig, Writer,
    WriterConfig, FIRST_OFFSET, LAST_OFFSET,
};

fn payloads(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("key-{}", i % 37), format!("value-{i:06}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_and_reads_back_every_message() {
    let c = cluster().await;
    c.create_topic("wr-basic", 3).unwrap();
    let writer = Writer::new(WriterConfig {
        balancer: BalancerKind::RoundRobin,
        batch_size: 50,
        ..WriterConfig::new(&[&c.bootstrap_servers()], "wr-basic")
    })
    .unwrap();
    let data = payloads(1000);
    let headers = [Header {
        key: "source",
        value: Some(b"test"),
    }];
    for chunk in data.chunks(100) {
        let msgs: Vec<Message<'_>> = chunk
            .iter()
            .map(|(k, v)| {
                Message::new(v.as_bytes())
                    .with_key(k.as_bytes())
                    .with_headers(&headers)
            })
            .collect();
        writer.write_messages(&msgs).await.unwrap();
    }
    let stats = writer.stats();
    assert_eq!(stats.messages, 1000);
    assert!(stats.writes >= 20, "{stats:?}");
    assert_eq!(stats.errors, 0);
    writer.close().await.unwrap();

    let all = read_all(&c, "wr-basic", 3).await;
    let mut seen = HashSet::new();
    for (p, msgs) in &all {
        assert!(
            msgs.len() >= 300,
            "round robin spreads: {p} has {}",
            msgs.len()
        );
        for (i, (offset, key, value)) in msgs.iter().enumerate() {
            assert_eq!(*offset, i as i64);
            assert!(seen.insert(value.clone()));
            let n: usize = std::str::from_utf8(&value[6..]).unwrap().parse().unwrap();
            assert_eq!(key.as_deref(), Some(data[n].0.as_bytes()));
        }
    }
    assert_eq!(seen.len(), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_offsets_lag_and_headers() {
    let c = cluster().await;
    c.create_topic("wr-reader", 1).unwrap();
    let brokers = c.bootstrap_servers();
    let writer = Writer::new(WriterConfig::new(&[&brokers], "wr-reader")).unwrap();
    let headers = [
        Header {
            key: "h",
            value: Some(b"v"),
        },
        Header {
            key: "null",
            value: None,
        },
    ];
    let values: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    let msgs: Vec<Message<'_>> = values
        .iter()
        .map(|v| Message::new(v.as_bytes()).with_headers(&headers))
        .collect();
    writer.write_messages(&msgs).await.unwrap();

    // Consumer groups are configured like kafka-go's (tests/group.rs): no
    // single offset or lag in group mode.
    let grouped = Reader::new(ReaderConfig {
        group_id: Some("g".into()),
        ..ReaderConfig::new(&[&brokers], "wr-reader", 0)
    })
    .unwrap();
    assert_eq!((grouped.offset(), grouped.lag()), (-1, -1));
    // kafka-go refuses partition-mode calls on a group Reader
    // (errNotAvailableWithGroup) instead of ignoring them.
    let mut grouped = grouped;
    for e in [
        grouped.set_offset(3).unwrap_err(),
        grouped.set_offset_at(SystemTime::now()).await.unwrap_err(),
        grouped.read_lag().await.unwrap_err(),
    ] {
        assert!(
            matches!(e.kind(), ErrorKind::NotAvailableWithGroup(_)),
            "{e}"
        );
    }
    grouped.close().await.unwrap();

    let mut reader = Reader::new(ReaderConfig::new(&[&brokers], "wr-reader", 0)).unwrap();
    assert_eq!(reader.offset(), FIRST_OFFSET);
    assert_eq!(reader.read_lag().await.unwrap(), 20);
    let m = reader.fetch_message().await.unwrap();
    assert_eq!(
        (m.offset, m.value, m.high_water_mark),
        (0, Some(&b"m0"[..]), 20)
    );
    assert_eq!(m.headers.get("h"), Some(Some(&b"v"[..])));
    assert_eq!(m.headers.get("null"), Some(None));
    assert!(m.time().is_some());
    assert_eq!(reader.lag(), 19);

    // And group calls on a partition Reader (errOnlyAvailableWithGroup).
    let e = reader
        .commit_offsets(&[("wr-reader", 0, 1)])
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::OnlyAvailableWithGroup(_)),
        "{e}"
    );

    reader.set_offset(15).unwrap();
    let m = reader.read_message().await.unwrap();
    assert_eq!(m.offset, 15);
    let m = reader.read_message().await.unwrap().to_owned();
    assert_eq!(m.value.as_deref(), Some(&b"m16"[..]));

    // By time (kafka-go's SetOffsetAt): the epoch is before every message.
    reader.set_offset_at(UNIX_EPOCH).await.unwrap();
    assert_eq!(reader.offset(), 0);
    assert_eq!(reader.read_message().await.unwrap().offset, 0);
    reader.set_offset(LAST_OFFSET).unwrap();
    assert_eq!(reader.offset(), LAST_OFFSET);

    // From the end: only what is written afterwards. A time after the last
    // message means the end too.
    reader
        .set_offset_at(SystemTime::now() + Duration::from_secs(3600))
        .await
        .unwrap();
    let late = tokio::spawn({
        let brokers = brokers.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let w = Writer::new(WriterConfig::new(&[&brokers], "wr-reader")).unwrap();
            w.write_messages(&[Message::new(b"late")]).await.unwrap();
            w.close().await.unwrap();
        }
    });
    let m = reader.fetch_message().await.unwrap();
    assert_eq!((m.offset, m.value), (20, Some(&b"late"[..])));
    late.await.unwrap();
    let stats = reader.stats();
    assert!(stats.fetches >= 2 && stats.messages == 5, "{stats:?}");
    reader.close().await.unwrap();
    writer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_mode_reports_through_the_completion_callback() {
    let c = cluster().await;
    c.create_topic("wr-async", 2).unwrap();
    let done = Arc::new(Mutex::new(Vec::new()));
    let sink = done.clone();
    let writer = Writer::new(WriterConfig {
        async_: true,
        batch_size: 10,
        completion: Some(Arc::new(move |c: &microkafka_std::Completion<'_>| {
            assert!(c.error.is_none(), "{:?}", c.error);
            sink.lock()
                .unwrap()
                .push((c.partition, c.base_offset, c.messages));
        })),
        ..WriterConfig::new(&[&c.bootstrap_servers()], "wr-async")
    })
    .unwrap();
    let values: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    let msgs: Vec<Message<'_>> = values.iter().map(|v| Message::new(v.as_bytes())).collect();
    writer.write_messages(&msgs).await.unwrap();
    writer.close().await.unwrap();
    let done = done.lock().unwrap();
    assert_eq!(done.iter().map(|d| d.2).sum::<usize>(), 100);
    assert_eq!(
        c.offsets("wr-async", 0).unwrap().1 + c.offsets("wr-async", 1).unwrap().1,
        100
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_message_errors_name_topic_and_partition() {
    let c = cluster().await;
    c.create_topic("wr-errors", 1).unwrap();
    let writer = Writer::new(WriterConfig {
        batch_bytes: 1024,
        ..WriterConfig::new(&[&c.bootstrap_servers()], "wr-errors")
    })
    .unwrap();
    let big = vec![b'x'; 4096];
    let e = writer
        .write_messages(&[
            Message::new(b"ok"),
            Message::new(&big),
            Message::new(b"ok too"),
        ])
        .await
        .unwrap_err();
    assert_eq!(e.count(), 1);
    assert!(e.get(0).is_none() && e.get(2).is_none());
    let too_big = e.get(1).unwrap();
    assert_eq!(
        too_big.code(),
        Some(microkafka_core::ErrorCode::MESSAGE_TOO_LARGE)
    );
    assert_eq!(too_big.context().topic.as_deref(), Some("wr-errors"));
    assert_eq!(too_big.context().partition, Some(0));

    // A message naming a topic on a writer that has one.
    let e = writer
        .write_messages(&[Message::new(b"x").with_topic("other")])
        .await
        .unwrap_err();
    assert!(matches!(e.get(0).unwrap().kind(), ErrorKind::Config(_)));
    writer.close().await.unwrap();
    let e = writer
        .write_messages(&[Message::new(b"late")])
        .await
        .unwrap_err();
    assert!(matches!(e.get(0).unwrap().kind(), ErrorKind::Closed));

    // Per-message topics, one of them missing.
    let multi = Writer::new(WriterConfig {
        brokers: vec![c.bootstrap_servers()],
        max_attempts: 2,
        ..Default::default()
    })
    .unwrap();
    let e = multi
        .write_messages(&[
            Message::new(b"a").with_topic("wr-errors"),
            Message::new(b"b").with_topic("wr-missing"),
        ])
        .await
        .unwrap_err();
    assert!(e.get(0).is_none());
    let missing = e.get(1).unwrap();
    assert_eq!(
        missing.context().topic.as_deref(),
        Some("wr-missing"),
        "{missing}"
    );
    assert!(
        missing.to_string().contains("UNKNOWN_TOPIC_OR_PARTITION"),
        "{missing}"
    );
    multi.close().await.unwrap();
    let _ = Compression::None;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_one_broker_are_pipelined_on_one_connection() {
    let c = cluster().await;
    c.create_topic("wr-pipelined", 6).unwrap();
    for p in 0..6 {
        c.move_leader("wr-pipelined", p, 1).unwrap();
    }
    let writer = Writer::new(WriterConfig {
        balancer: BalancerKind::RoundRobin,
        batch_timeout: Duration::ZERO,
        ..WriterConfig::new(&[&c.bootstrap_servers()], "wr-pipelined")
    })
    .unwrap();
    writer
        .write_messages(&[Message::new(b"warm-up")])
        .await
        .unwrap();
    c.set_latency(1, Duration::from_millis(200)).unwrap();
    c.take_requests();
    let values: Vec<String> = (0..6).map(|i| i.to_string()).collect();
    let msgs: Vec<Message<'_>> = values.iter().map(|v| Message::new(v.as_bytes())).collect();
    let started = std::time::Instant::now();
    writer.write_messages(&msgs).await.unwrap();
    let elapsed = started.elapsed();
    // Six Produce requests, one per partition, in flight together on the
    // same connection: about one round trip, not six.
    let produces: Vec<_> = c
        .take_requests()
        .into_iter()
        .filter(|r| r.api() == Some(microkafka_core::protocol::ApiKey::Produce))
        .collect();
    assert_eq!(produces.len(), 6, "{produces:?}");
    assert!(produces
        .iter()
        .all(|r| r.connection == produces[0].connection && r.broker == 1));
    assert!(
        elapsed < Duration::from_millis(600),
        "{elapsed:?}: not pipelined"
    );
    writer.close().await.unwrap();
}
