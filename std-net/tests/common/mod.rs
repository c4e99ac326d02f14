//! Shared helpers: a 3-broker mock cluster and reading partitions back.

#![allow(dead_code)] // each test file uses its own subset

use std::collections::HashMap;
use std::time::Duration;

use microkafka_mock_broker::{Config, MockCluster};
use microkafka_std::{Reader, ReaderConfig};

/// A 3-broker in-process cluster.
pub(crate) async fn cluster() -> MockCluster {
    MockCluster::start(Config::with_brokers(3)).await.unwrap()
}

/// `(offset, key, value)` of each message read.
pub(crate) type Read = Vec<(i64, Option<Vec<u8>>, Vec<u8>)>;

/// Reads `partition` from the first offset until `count` messages are in;
/// returns `(offset, key, value)`.
pub(crate) async fn read_partition(
    brokers: &str,
    topic: &str,
    partition: i32,
    count: usize,
) -> Read {
    let mut reader = Reader::new(ReaderConfig::new(&[brokers], topic, partition)).unwrap();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let m = tokio::time::timeout(Duration::from_secs(20), reader.fetch_message())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{topic}[{partition}]: only {} of {count} messages",
                    out.len()
                )
            })
            .unwrap();
        out.push((
            m.offset,
            m.key.map(<[u8]>::to_vec),
            m.value.unwrap_or_default().to_vec(),
        ));
    }
    reader.close().await.unwrap();
    out
}

/// Every message of every partition, by partition.
pub(crate) async fn read_all(
    cluster: &MockCluster,
    topic: &str,
    partitions: i32,
) -> HashMap<i32, Read> {
    let brokers = cluster.bootstrap_servers();
    let mut out = HashMap::new();
    for p in 0..partitions {
        let (_, end) = cluster.offsets(topic, p).unwrap();
        out.insert(p, read_partition(&brokers, topic, p, end as usize).await);
    }
    out
}

/// How to install kcat: tests need it and fail (not skip) without it.
pub(crate) const INSTALL: &str = ".ci/install-capture-deps (installs kcat from apt)";

/// Fails the test unless kcat is installed.
pub(crate) fn require_kcat() {
    let ok = std::process::Command::new("kcat")
        .arg("-V")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    assert!(ok, "kcat is not installed; run {INSTALL}");
}

/// Runs kcat against `brokers` with `stdin` (off the async runtime, with a
/// deadline); panics with its output unless it succeeds.
pub(crate) async fn kcat(brokers: &str, args: &[&str], stdin: Vec<u8>) -> String {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    let mut cmd = Command::new("kcat");
    cmd.arg("-b").arg(brokers).args(args);
    let shown = format!("{cmd:?}");
    tokio::task::spawn_blocking(move || {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {shown}: {e}; run {INSTALL}"));
        let mut input = child.stdin.take().unwrap();
        let feeder = std::thread::spawn(move || {
            let _ = input.write_all(&stdin);
        });
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let out = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = feeder.join();
        let (stdout, stderr) = (
            out.join().unwrap_or_default(),
            err.join().unwrap_or_default(),
        );
        match status {
            Some(s) if s.success() => stdout,
            _ => panic!("{shown} failed ({status:?})\nstdout:\n{stdout}\nstderr:\n{stderr}"),
        }
    })
    .await
    .unwrap()
}

/// How to install confluent-kafka: tests need it and fail (not skip) without it.
pub(crate) const INSTALL_CONFLUENT: &str =
    ".ci/install-capture-deps (installs confluent-kafka==2.16.1 from pip)";

/// The Python interpreter, after checking that confluent-kafka imports.
pub(crate) fn require_confluent_kafka() -> String {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let ok = std::process::Command::new(&python)
        .args(["-c", "import confluent_kafka"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{python} cannot import confluent_kafka; run {INSTALL_CONFLUENT}"
    );
    python
}
