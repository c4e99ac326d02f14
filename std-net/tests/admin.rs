//! The admin Client's group, config, record and cluster operations against
//! the in-process mock broker (3 brokers): what each call returns, what the
//! broker then does (retention, compaction, `max.message.bytes`, log start
//! offsets), and the refusals Kafka makes.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{cluster, read_partition};
use microkafka_core::ErrorCode;
use microkafka_mock_broker::MockCluster;
use microkafka_std::{
    AlterConfigOp, Client, ConfigResource, ConfigSource, ElectionType, Message, OffsetReset,
    Reader, ReaderConfig, TopicConfig, Writer, WriterConfig,
};

/// Writes `values` to `partition` of `topic` (keys when given).
async fn write(c: &MockCluster, topic: &str, messages: &[Message<'_>]) {
    let writer = Writer::new(WriterConfig {
        batch_timeout: Duration::from_millis(1),
        ..WriterConfig::new(&[&c.bootstrap_servers()], topic)
    })
    .unwrap();
    writer.write_messages(messages).await.unwrap();
    writer.close().await.unwrap();
}

/// Waits up to 10 s for `check`.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_offsets_lag_reset_and_deletion() {
    let c = cluster().await;
    let client = Client::new(&[&c.bootstrap_servers()]).unwrap();
    client
        .create_topics(&[TopicConfig::new("ledger", 2)])
        .await
        .unwrap();
    let values: Vec<String> = (0..20).map(|i| format!("v{i}")).collect();
    let msgs: Vec<Message<'_>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Message::new(v.as_bytes()).with_key(if i % 2 == 0 { b"a" } else { b"b" }))
        .collect();
    write(&c, "ledger", &msgs).await;
    let ends: Vec<i64> = (0..2).map(|p| c.offsets("ledger", p).unwrap().1).collect();
    assert_eq!(ends.iter().sum::<i64>(), 20);

    // An admin commit creates the (empty) group.
    client
        .offset_commit("billing", &[("ledger", 0, 3)])
        .await
        .unwrap();
    let committed = client.offset_fetch("billing", None).await.unwrap();
    assert_eq!(committed.len(), 1);
    assert_eq!(
        (
            committed[0].topic.as_str(),
            committed[0].partition,
            committed[0].offset
        ),
        ("ledger", 0, 3)
    );
    // Asked by topic: every partition, -1 where nothing is committed.
    let by_topic = client
        .offset_fetch("billing", Some(&["ledger"]))
        .await
        .unwrap();
    let offsets: Vec<(i32, i64)> = by_topic.iter().map(|c| (c.partition, c.offset)).collect();
    assert_eq!(offsets, [(0, 3), (1, -1)]);

    let lag = client.group_lag("billing").await.unwrap();
    assert_eq!(lag.len(), 2);
    assert_eq!((lag[0].committed, lag[0].lag), (3, Some(ends[0] - 3)));
    assert_eq!((lag[1].committed, lag[1].lag), (-1, None));
    assert_eq!(lag[1].high_watermark, ends[1]);

    // Resets, every partition of the topic.
    let reset = client
        .reset_offsets("billing", &["ledger"], OffsetReset::Latest)
        .await
        .unwrap();
    assert_eq!(reset.iter().map(|r| r.offset).collect::<Vec<_>>(), ends);
    let lag = client.group_lag("billing").await.unwrap();
    assert!(lag.iter().all(|l| l.lag == Some(0)), "{lag:?}");
    client
        .reset_offsets("billing", &["ledger"], OffsetReset::Earliest)
        .await
        .unwrap();
    let committed = client.offset_fetch("billing", None).await.unwrap();
    assert!(committed.iter().all(|c| c.offset == 0), "{committed:?}");
    let reset = client
        .reset_offsets("billing", &["ledger"], OffsetReset::Offset(1_000_000))
        .await
        .unwrap();
    assert_eq!(
        reset.iter().map(|r| r.offset).collect::<Vec<_>>(),
        ends,
        "clamped to the end, as Kafka's tool"
    );
    let future = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 3_600_000;
    let reset = client
        .reset_offsets("billing", &["ledger"], OffsetReset::Time(future))
        .await
        .unwrap();
    assert_eq!(reset.iter().map(|r| r.offset).collect::<Vec<_>>(), ends);
    let reset = client
        .reset_offsets("billing", &["ledger"], OffsetReset::Time(0))
        .await
        .unwrap();
    assert!(reset.iter().all(|r| r.offset == 0));

    // OffsetDelete of an inactive group's offsets.
    client
        .delete_offsets("billing", "ledger", &[1])
        .await
        .unwrap();
    let committed = client.offset_fetch("billing", None).await.unwrap();
    assert_eq!(
        committed.iter().map(|c| c.partition).collect::<Vec<_>>(),
        [0]
    );
    let e = client
        .delete_offsets("nobody", "ledger", &[0])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::GROUP_ID_NOT_FOUND), "{e}");

    // A member joins: resets, OffsetDelete of its topic and DeleteGroups are refused.
    let mut reader = Reader::new(ReaderConfig {
        heartbeat_interval: Duration::from_millis(100),
        max_wait: Duration::from_millis(100),
        ..ReaderConfig::group(&[&c.bootstrap_servers()], "billing", &["ledger"])
    })
    .unwrap();
    tokio::time::timeout(Duration::from_secs(20), reader.fetch_message())
        .await
        .unwrap()
        .unwrap();
    let e = client
        .reset_offsets("billing", &["ledger"], OffsetReset::Earliest)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NON_EMPTY_GROUP), "{e}");
    assert!(
        e.to_string()
            .contains("Assignments can only be reset if the group 'billing' is inactive"),
        "{e}"
    );
    let e = client
        .delete_offsets("billing", "ledger", &[0])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC), "{e}");
    let e = client.delete_groups(&["billing"]).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NON_EMPTY_GROUP), "{e}");
    reader.close().await.unwrap();

    // Empty again: deleted with its offsets.
    client.delete_groups(&["billing"]).await.unwrap();
    assert!(client
        .offset_fetch("billing", None)
        .await
        .unwrap()
        .is_empty());
    let e = client.delete_groups(&["billing"]).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::GROUP_ID_NOT_FOUND), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_configs_described_altered_and_honoured() {
    let c = cluster().await;
    let client = Client::new(&[&c.bootstrap_servers()]).unwrap();
    let mut config = TopicConfig::new("settings", 1);
    config
        .config_entries
        .push(("retention.ms".into(), "3600000".into()));
    client.create_topics(&[config]).await.unwrap();
    let topic = ConfigResource::topic("settings");

    let all = client
        .describe_configs(std::slice::from_ref(&topic), &[])
        .await
        .unwrap();
    assert_eq!(all[0].entries.len(), 37, "Kafka 4.4's topic configs");
    let retention = all[0]
        .entries
        .iter()
        .find(|e| e.name == "retention.ms")
        .unwrap();
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);
    let policy = all[0]
        .entries
        .iter()
        .find(|e| e.name == "cleanup.policy")
        .unwrap();
    assert_eq!(
        (policy.value.as_deref(), policy.source),
        (Some("delete"), ConfigSource::Default)
    );
    assert_eq!(policy.synonyms[0].0, "log.cleanup.policy");

    client
        .incremental_alter_configs(
            &topic,
            &[
                AlterConfigOp::delete("retention.ms"),
                AlterConfigOp::Append("cleanup.policy".into(), "compact".into()),
                AlterConfigOp::set("max.message.bytes", "200"),
            ],
        )
        .await
        .unwrap();
    let some = client
        .describe_configs(
            std::slice::from_ref(&topic),
            &["retention.ms", "cleanup.policy"],
        )
        .await
        .unwrap();
    assert_eq!(some[0].entries.len(), 2);
    assert_eq!(some[0].get("retention.ms"), Some("604800000"));
    assert_eq!(some[0].get("cleanup.policy"), Some("delete,compact"));

    // max.message.bytes is honoured by Produce.
    let big = vec![b'x'; 500];
    let writer = Writer::new(WriterConfig {
        max_attempts: 1,
        ..WriterConfig::new(&[&c.bootstrap_servers()], "settings")
    })
    .unwrap();
    let e = writer
        .write_messages(&[Message::new(&big).with_key(b"k")])
        .await
        .unwrap_err();
    let e = e.first().unwrap();
    assert_eq!(e.code(), Some(ErrorCode::MESSAGE_TOO_LARGE), "{e}");
    let _ = writer.close().await;

    // AlterConfigs replaces everything: max.message.bytes is back to its default.
    client
        .alter_configs(&topic, &[("retention.bytes", "1048576")])
        .await
        .unwrap();
    let after = client
        .describe_configs(std::slice::from_ref(&topic), &[])
        .await
        .unwrap();
    assert_eq!(after[0].get("max.message.bytes"), Some("1048588"));
    assert_eq!(after[0].get("retention.bytes"), Some("1048576"));
    assert_eq!(after[0].get("cleanup.policy"), Some("delete"));
    write(&c, "settings", &[Message::new(&big).with_key(b"k")]).await;

    // Refusals, as Kafka.
    for (op, code) in [
        (
            AlterConfigOp::set("no.such.key", "1"),
            ErrorCode::INVALID_CONFIG,
        ),
        (
            AlterConfigOp::set("retention.ms", "soon"),
            ErrorCode::INVALID_CONFIG,
        ),
        (
            AlterConfigOp::Append("retention.ms".into(), "1".into()),
            ErrorCode::INVALID_CONFIG,
        ),
    ] {
        let e = client
            .incremental_alter_configs(&topic, &[op])
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(code), "{e}");
    }
    let e = client
        .describe_configs(&[ConfigResource::topic("missing")], &[])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION), "{e}");
    let e = client
        .create_topics(&[TopicConfig {
            config_entries: vec![("retention.ms".into(), "x".into())],
            ..TopicConfig::new("bad-config", 1)
        }])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::INVALID_CONFIG), "{e}");

    // A broker's own settings, asked of that broker.
    let broker = client
        .describe_configs(&[ConfigResource::Broker(2)], &["num.partitions"])
        .await
        .unwrap();
    assert_eq!(broker[0].entries.len(), 1);
    assert_eq!(broker[0].entries[0].source, ConfigSource::StaticBroker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_records_and_time_retention_move_the_log_start() {
    let c = cluster().await;
    let client = Client::new(&[&c.bootstrap_servers()]).unwrap();
    client
        .create_topics(&[TopicConfig::new("trimmed", 1)])
        .await
        .unwrap();
    let values: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    let msgs: Vec<Message<'_>> = values.iter().map(|v| Message::new(v.as_bytes())).collect();
    write(&c, "trimmed", &msgs).await;

    let low = client.delete_records(&[("trimmed", 0, 4)]).await.unwrap();
    assert_eq!(low, [("trimmed".to_owned(), 0, 4)]);
    assert_eq!(client.offsets("trimmed").await.unwrap(), [(0, 4, 10)]);
    let read = read_partition(&c.bootstrap_servers(), "trimmed", 0, 6).await;
    assert_eq!(
        read[0].2, b"v4",
        "reading from the first offset starts at the new start"
    );
    // Below the log start: nothing changes; past the end: refused.
    let low = client.delete_records(&[("trimmed", 0, 2)]).await.unwrap();
    assert_eq!(low[0].2, 4);
    let e = client
        .delete_records(&[("trimmed", 0, 11)])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::OFFSET_OUT_OF_RANGE), "{e}");
    let low = client.delete_records(&[("trimmed", 0, -1)]).await.unwrap();
    assert_eq!(low[0].2, 10, "-1: up to the high watermark");

    // retention.ms: records older than it go on the log cleaner's next pass.
    write(&c, "trimmed", &msgs).await;
    assert_eq!(c.offsets("trimmed", 0), Some((10, 20)));
    client
        .incremental_alter_configs(
            &ConfigResource::topic("trimmed"),
            &[AlterConfigOp::set("retention.ms", "100")],
        )
        .await
        .unwrap();
    eventually("retention.ms expires the records", || {
        c.offsets("trimmed", 0) == Some((20, 20))
    })
    .await;

    // A compacted topic refuses DeleteRecords.
    let mut compacted = TopicConfig::new("kept", 1);
    compacted
        .config_entries
        .push(("cleanup.policy".into(), "compact".into()));
    client.create_topics(&[compacted]).await.unwrap();
    let e = client.delete_records(&[("kept", 0, 0)]).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::POLICY_VIOLATION), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_the_latest_record_per_key() {
    let c = cluster().await;
    let client = Client::new(&[&c.bootstrap_servers()]).unwrap();
    let mut config = TopicConfig::new("accounts", 1);
    for (k, v) in [
        ("cleanup.policy", "compact"),
        ("segment.ms", "100"),
        ("delete.retention.ms", "0"),
    ] {
        config.config_entries.push((k.into(), v.into()));
    }
    client.create_topics(&[config]).await.unwrap();
    let writes: Vec<(&[u8], Option<&[u8]>)> = vec![
        (b"alice", Some(b"1")),
        (b"bob", Some(b"1")),
        (b"alice", Some(b"2")),
        (b"carol", Some(b"1")),
        (b"bob", None), // tombstone
        (b"alice", Some(b"3")),
    ];
    // One batch per message, so compaction works inside and across batches.
    for (key, value) in &writes {
        let m = Message {
            key: Some(key),
            value: *value,
            ..Default::default()
        };
        write(&c, "accounts", &[m]).await;
    }
    assert_eq!(c.offsets("accounts", 0), Some((0, 6)));
    // The cleaner rolls the segment once it is older than segment.ms,
    // then compacts it: alice@5 and carol@3 stay, bob's tombstone goes
    // (delete.retention.ms 0).
    let brokers = c.bootstrap_servers();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut reader = Reader::new(ReaderConfig::new(&[&brokers], "accounts", 0)).unwrap();
        let mut read = Vec::new();
        while let Ok(Ok(m)) =
            tokio::time::timeout(Duration::from_millis(300), reader.fetch_message()).await
        {
            read.push((
                m.offset,
                m.key.map(<[u8]>::to_vec),
                m.value.map(<[u8]>::to_vec),
            ));
            if m.offset == 5 {
                break;
            }
        }
        reader.close().await.unwrap();
        let offsets: Vec<i64> = read.iter().map(|r| r.0).collect();
        if offsets == [3, 5] {
            assert_eq!(read[1].2.as_deref(), Some(&b"3"[..]));
            break;
        }
        assert!(Instant::now() < deadline, "not compacted: {read:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Offsets stay as they were.
    assert_eq!(c.offsets("accounts", 0).map(|o| o.1), Some(6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_cluster_and_preferred_leader_election() {
    let c = cluster().await;
    let client = Client::new(&[&c.bootstrap_servers()]).unwrap();
    let described = client.describe_cluster().await.unwrap();
    assert_eq!(described.brokers.len(), 3);
    assert!(!described.cluster_id.is_empty());
    assert!(described
        .brokers
        .iter()
        .any(|b| b.id == described.controller));

    let mut config = TopicConfig::new("elected", 1);
    config.replication_factor = 3;
    client.create_topics(&[config]).await.unwrap();
    let meta = client.metadata(&["elected"]).await.unwrap();
    let p = &meta.topics[0].partitions[0];
    let preferred = p.replicas[0].id;
    assert_eq!(p.leader.id, preferred);
    let results = client
        .elect_leaders(Some(&[("elected", vec![0])]), ElectionType::Preferred)
        .await
        .unwrap();
    assert_eq!(results[0].error, Some(ErrorCode::ELECTION_NOT_NEEDED));

    let other = p.replicas[1].id;
    c.move_leader("elected", 0, other).unwrap();
    assert_eq!(c.leader("elected", 0), Some(other));
    let results = client
        .elect_leaders(Some(&[("elected", vec![0])]), ElectionType::Preferred)
        .await
        .unwrap();
    assert_eq!(results[0].error, None, "{results:?}");
    assert_eq!(c.leader("elected", 0), Some(preferred));
    let results = client
        .elect_leaders(Some(&[("elected", vec![7])]), ElectionType::Preferred)
        .await
        .unwrap();
    assert_eq!(
        results[0].error,
        Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
    );
    let results = client
        .elect_leaders(Some(&[("elected", vec![0])]), ElectionType::Unclean)
        .await
        .unwrap();
    assert_eq!(results[0].error, Some(ErrorCode::ELECTION_NOT_NEEDED));
}
