//! The std client against a broker that is not microkafka's: librdkafka's
//! mock cluster (confluent-kafka). It answers an ApiVersions version it does
//! not support with a body that is not a valid v0 response; the client must
//! fall back (KIP-511) and then produce and consume as usual.
//!
//! Needs confluent-kafka: `.ci/install-capture-deps`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use microkafka_std::{Message, Reader, ReaderConfig, Writer, WriterConfig};

/// librdkafka's mock cluster in a child process; killed on drop.
struct MockCluster {
    child: Child,
    bootstrap: String,
}

impl MockCluster {
    fn start() -> MockCluster {
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/librdkafka_mock_cluster.py"
        );
        let mut child = Command::new(&python)
            .args([script, "3", "third-party"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python}: {e}; run .ci/install-capture-deps"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let bootstrap = line
            .trim()
            .strip_prefix("BOOTSTRAP ")
            .unwrap_or_else(|| {
                panic!("no bootstrap from the mock cluster ({line:?}): is confluent-kafka installed? run .ci/install-capture-deps")
            })
            .to_owned();
        MockCluster { child, bootstrap }
    }
}

impl Drop for MockCluster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstraps_produces_and_consumes_on_librdkafkas_mock_cluster() {
    let cluster = MockCluster::start();
    let writer = Writer::new(WriterConfig::new(
        &cluster.bootstrap.split(',').collect::<Vec<_>>(),
        "third-party",
    ))
    .unwrap();
    let values: Vec<String> = (0..200).map(|i| format!("v{i}")).collect();
    let msgs: Vec<Message<'_>> = values.iter().map(|v| Message::new(v.as_bytes())).collect();
    tokio::time::timeout(Duration::from_secs(30), writer.write_messages(&msgs))
        .await
        .expect("written in time")
        .unwrap();
    writer.close().await.unwrap();

    // The mock cluster chose the partition count; read every partition.
    let brokers: Vec<&str> = cluster.bootstrap.split(',').collect();
    let mut conn = microkafka_std::dial(brokers[0]).await.unwrap();
    let partitions = conn.read_partitions(&["third-party"]).await.unwrap();
    assert!(!partitions.is_empty());
    let mut read = Vec::new();
    for p in &partitions {
        let mut leader = microkafka_std::dial_leader(brokers[0], "third-party", p.id)
            .await
            .unwrap();
        let (_, end) = leader.read_offsets().await.unwrap();
        let mut reader = Reader::new(ReaderConfig::new(&brokers, "third-party", p.id)).unwrap();
        for _ in 0..end {
            let m = tokio::time::timeout(Duration::from_secs(30), reader.fetch_message())
                .await
                .expect("read in time")
                .unwrap();
            read.push(String::from_utf8(m.value.unwrap_or_default().to_vec()).unwrap());
        }
        reader.close().await.unwrap();
    }
    // The topic was created by a `seed` message (see the script).
    let mut want = values.clone();
    want.push("seed".to_owned());
    want.sort();
    read.sort();
    assert_eq!(read, want);
}
