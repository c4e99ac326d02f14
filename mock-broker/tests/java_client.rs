//! Apache Kafka's Java client (kafka-clients 4.4.0, the reference client)
//! against the mock cluster: an idempotent producer in every codec, classic
//! consumer groups (range and cooperative-sticky) splitting a topic,
//! committing and resuming, and the AdminClient (topics, partitions, offsets,
//! groups). The program is `tests/java-client` (Maven), built and run by
//! `.ci/java-client`; it prints `OK <check>` or `FAIL <check>: <why>` lines.
//!
//! Needs Java 17 and Maven: `.ci/java-client install`.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{cluster, run};
use microkafka_core::record::{Batch, Compression, RecordSet};
use microkafka_mock_broker::{ApiKey, Config};

const INSTALL: &str =
    ".ci/java-client install (installs openjdk-17-jdk-headless and maven from apt)";

/// The checks JavaClientCheck prints, in order; each must be `OK`.
const CHECKS: &[&str] = &[
    "describeCluster",
    "createTopics",
    "createTopics duplicate",
    "describeTopics",
    "createPartitions",
    "produce none",
    "produce gzip",
    "produce snappy",
    "produce lz4",
    "produce zstd",
    "group range describe",
    "group range split",
    "group range consume",
    "group range commit",
    "group range resume",
    "group cooperative-sticky describe",
    "group cooperative-sticky split",
    "group cooperative-sticky consume",
    "group cooperative-sticky commit",
    "group cooperative-sticky resume",
    "listOffsets earliest",
    "listOffsets latest",
    "listOffsets timestamp compressed",
    "produce timestamps",
    "listOffsets timestamp",
    "listOffsets max-timestamp",
    "listConsumerGroups",
    "describeConsumerGroups",
    "describeConsumerGroups unknown",
    "listConsumerGroupOffsets",
    "deleteTopics",
    "deleteTopics unknown",
];

/// The program's names (its default prefix "java").
const ORDERS: &str = "java-orders";
const PARTITIONS: i32 = 6;
const MESSAGES_PER_CODEC: i64 = 2000;
const GROUPS: [&str; 2] = ["java-group-range", "java-group-cooperative-sticky"];

fn java_client_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.ci/java-client")
}

/// Fails the test unless a JDK and Maven are installed.
fn require_java() {
    for (tool, arg) in [("java", "-version"), ("javac", "-version"), ("mvn", "-v")] {
        let ok = Command::new(tool)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "{tool} is not installed; run {INSTALL}");
    }
}

/// Runs `.ci/java-client ARGS` with a deadline.
fn java_client(args: &[&str], timeout: Duration) -> common::Output {
    let mut cmd = Command::new("bash");
    cmd.arg(java_client_script()).args(args);
    run(&mut cmd, b"", timeout)
}

/// Whether `out` has the line `OK <check>` or `OK <check>: detail`.
fn passed(out: &str, check: &str) -> bool {
    out.lines().any(|l| {
        l.strip_prefix("OK ")
            .and_then(|rest| rest.strip_prefix(check))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(": "))
    })
}

#[test]
fn java_client_produces_consumes_and_administers() {
    require_java();
    // Built first, with its own deadline: a cold build downloads the client
    // from Maven Central.
    let build = java_client(&["build"], Duration::from_secs(600));
    assert!(
        build.success,
        ".ci/java-client build failed\nstdout:\n{}\nstderr:\n{}",
        build.stdout, build.stderr
    );

    let c = cluster(Config::with_brokers(3));
    let out = java_client(&["run", &c.bootstrap_servers()], Duration::from_secs(240));
    let missing: Vec<&str> = CHECKS
        .iter()
        .copied()
        .filter(|check| !passed(&out.stdout, check))
        .collect();
    let failed: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAIL "))
        .collect();
    assert!(
        out.success && missing.is_empty() && failed.is_empty(),
        "the Java client failed checks {missing:?}:\n{}\n\nstdout:\n{}\nstderr:\n{}",
        failed.join("\n"),
        out.stdout,
        out.stderr
    );

    // Stored as the producers sent them: idempotent batches (a producer id),
    // each codec in turn, every partition written by all five producers.
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    let mut total = 0;
    for p in 0..PARTITIONS {
        let (start, end) = c.offsets(ORDERS, p).unwrap();
        assert_eq!(start, 0, "partition {p}");
        total += end;
        let stored = c.log_bytes(ORDERS, p, 0).unwrap();
        let mut seen: Vec<Compression> = Vec::new();
        for batch in RecordSet::new(&stored) {
            let Batch::V2(batch) = batch.unwrap() else {
                panic!("the Java client writes magic 2")
            };
            assert!(batch.producer_id() >= 0, "partition {p}: not idempotent");
            let codec = batch.attributes().compression().unwrap();
            if seen.last() != Some(&codec) {
                seen.push(codec);
            }
        }
        assert_eq!(seen, codecs, "partition {p}: codecs in produce order");
    }
    assert_eq!(total, MESSAGES_PER_CODEC * codecs.len() as i64);

    // Both groups committed the end of every partition and are empty now.
    for group in GROUPS {
        for p in 0..PARTITIONS {
            assert_eq!(
                c.committed_offset(group, ORDERS, p),
                Some(c.offsets(ORDERS, p).unwrap().1),
                "{group} partition {p}"
            );
        }
        let (state, _, members) = c.with_cluster(|c| c.group(group)).unwrap();
        assert_eq!((state.as_str(), members.len()), ("Empty", 0), "{group}");
    }
    assert_eq!(
        c.with_cluster(|c| c.topic_names()),
        ["java-orders", "java-times"],
        "java-grow deleted"
    );

    // The classic group protocol and the admin APIs, end to end.
    let apis: BTreeSet<ApiKey> = c.requests().iter().filter_map(|r| r.api()).collect();
    for api in [
        ApiKey::InitProducerId,
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::FindCoordinator,
        ApiKey::JoinGroup,
        ApiKey::SyncGroup,
        ApiKey::OffsetCommit,
        ApiKey::OffsetFetch,
        ApiKey::LeaveGroup,
        ApiKey::ListOffsets,
        ApiKey::CreateTopics,
        ApiKey::CreatePartitions,
        ApiKey::DeleteTopics,
        ApiKey::DescribeGroups,
        ApiKey::ListGroups,
    ] {
        assert!(apis.contains(&api), "{api} never sent: {apis:?}");
    }
}
