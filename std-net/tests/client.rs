//! The admin Client against the in-process mock broker (3 brokers); group
//! listings with a real group member (kcat, installed by
//! `.ci/install-capture-deps`).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster;
use microkafka_core::ErrorCode;
use microkafka_std::{Client, Message, OffsetRequest, TopicConfig, Writer, WriterConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_partitions_and_offsets() {
    let c = cluster().await;
    let client = Client::new(&[&c.bootstrap_servers()]).unwrap();
    let mut config = TopicConfig::new("admin-orders", 2);
    config
        .config_entries
        .push(("cleanup.policy".into(), "delete".into()));
    client.create_topics(&[config.clone()]).await.unwrap();
    // Idempotent, as kafka-go: the topic exists, no error.
    client.create_topics(&[config]).await.unwrap();
    let e = client
        .create_topics(&[TopicConfig::new("", 1)])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::INVALID_TOPIC_EXCEPTION), "{e}");

    client.create_partitions("admin-orders", 4).await.unwrap();
    let meta = client.metadata(&["admin-orders"]).await.unwrap();
    assert_eq!(meta.brokers.len(), 3);
    assert!(meta.brokers.iter().any(|b| b.id == meta.controller));
    let topic = &meta.topics[0];
    assert_eq!(
        (topic.name.as_str(), topic.partitions.len(), topic.error),
        ("admin-orders", 4, None)
    );
    assert_ne!(topic.id, [0; 16]);

    let writer = Writer::new(WriterConfig::new(&[&c.bootstrap_servers()], "admin-orders")).unwrap();
    let before = std::time::SystemTime::now();
    let values: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    let msgs: Vec<Message<'_>> = values.iter().map(|v| Message::new(v.as_bytes())).collect();
    writer.write_messages(&msgs).await.unwrap();
    writer.close().await.unwrap();

    let offsets = client.offsets("admin-orders").await.unwrap();
    assert_eq!(offsets.len(), 4);
    assert_eq!(
        offsets
            .iter()
            .map(|(_, first, last)| last - first)
            .sum::<i64>(),
        40
    );
    for (p, first, last) in &offsets {
        assert_eq!((c.offsets("admin-orders", *p).unwrap()), (*first, *last));
    }
    let ms = before
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let found = client
        .list_offsets(&[
            OffsetRequest {
                topic: "admin-orders".into(),
                partition: 0,
                timestamp: ms - 60_000,
            },
            OffsetRequest {
                topic: "admin-orders".into(),
                partition: 0,
                timestamp: -1,
            },
            OffsetRequest {
                topic: "admin-orders".into(),
                partition: 9,
                timestamp: -1,
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        found[0].offset, 0,
        "every message is newer than a minute ago"
    );
    assert_eq!(found[1].offset, offsets[0].2);
    let missing = found[2].error.as_ref().unwrap();
    assert_eq!(missing.context().partition, Some(9), "{missing}");

    client.delete_topics(&["admin-orders"]).await.unwrap();
    let meta = client.metadata(&["admin-orders"]).await.unwrap();
    assert_eq!(
        meta.topics[0].error,
        Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
    );
    client.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_listed_and_described() {
    let ok = Command::new("kcat")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok();
    assert!(ok, "kcat is not installed; run .ci/install-capture-deps");
    let c = cluster().await;
    c.create_topic("admin-grouped", 1).unwrap();
    let client = Client::new(&[&c.bootstrap_servers()]).unwrap();
    let mut member = Command::new("kcat")
        .args([
            "-b",
            &c.bootstrap_servers(),
            "-G",
            "admin-group",
            "admin-grouped",
            "-q",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let described = loop {
        let d = client.describe_groups(&["admin-group"]).await.unwrap();
        if d[0].state == "Stable" || Instant::now() > deadline {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    member.kill().unwrap();
    member.wait().unwrap();
    let g = &described[0];
    assert_eq!(
        (
            g.group_id.as_str(),
            g.state.as_str(),
            g.protocol_type.as_str()
        ),
        ("admin-group", "Stable", "consumer")
    );
    assert_eq!(g.members.len(), 1);
    assert!(
        g.members[0].client_id.contains("rdkafka"),
        "{:?}",
        g.members[0].client_id
    );
    assert_eq!(
        Some(g.coordinator),
        c.with_cluster(|cl| cl.coordinator("admin-group"))
    );
    assert_eq!(
        client.find_coordinator("admin-group").await.unwrap(),
        g.coordinator
    );
    let groups = client.list_groups().await.unwrap();
    let listed = groups.iter().find(|l| l.group_id == "admin-group").unwrap();
    assert_eq!(
        (listed.protocol_type.as_str(), listed.coordinator),
        ("consumer", g.coordinator)
    );
    client.close();
}
