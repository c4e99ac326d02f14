//! A microkafka group Reader and a librdkafka consumer (confluent-kafka
//! 2.16, `mixed_group_member.py`) in one consumer group, with the same
//! assignor: each gets a disjoint share of the topic and together they read
//! every message exactly once. Run with each client leading the group.
//!
//! Needs confluent-kafka: `.ci/install-capture-deps`.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::require_confluent_kafka;
use microkafka_mock_broker::{Config, MockCluster};
use microkafka_std::{GroupBalancer, Message, Reader, ReaderConfig, Writer, WriterConfig};

const TOPIC: &str = "mixed";
const PARTITIONS: i32 = 12;
const TOTAL: usize = 1_200;

/// The librdkafka member, running, and what it printed so far.
struct Rdkafka {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Arc<Mutex<Vec<String>>>,
    errors: Arc<Mutex<String>>,
}

impl Rdkafka {
    fn start(bootstrap: &str, group: &str, strategy: &str) -> Rdkafka {
        let python = require_confluent_kafka();
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join("mixed_group_member.py");
        let mut child = Command::new(python)
            .arg(script)
            .args([bootstrap, TOPIC, group, strategy])
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the librdkafka member");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = BufReader::new(child.stdout.take().unwrap());
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let errors = Arc::new(Mutex::new(String::new()));
        let err = BufReader::new(child.stderr.take().unwrap());
        let sink = errors.clone();
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                let mut e = sink.lock().unwrap();
                e.push_str(&line);
                e.push('\n');
            }
        });
        Rdkafka {
            stdin: child.stdin.take(),
            child,
            lines,
            errors,
        }
    }

    /// Its last reported assignment.
    fn assignment(&self) -> BTreeSet<i32> {
        let lines = self.lines.lock().unwrap();
        let last = lines.iter().rev().find_map(|l| l.strip_prefix("ASSIGN "));
        last.map_or_else(BTreeSet::new, |parts| {
            parts
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|p| p.parse().unwrap())
                .collect()
        })
    }

    /// `(partition, offset, value)` of every message it read.
    fn messages(&self) -> Vec<(i32, i64, String)> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter_map(|l| l.strip_prefix("MSG "))
            .map(|m| {
                let f: Vec<&str> = m.split(' ').collect();
                (
                    f[0].parse().unwrap(),
                    f[1].parse().unwrap(),
                    f[2].to_owned(),
                )
            })
            .collect()
    }

    fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "the librdkafka member exited ({status})\nstdout:\n{}\nstderr:\n{}",
                self.lines.lock().unwrap().join("\n"),
                self.errors.lock().unwrap()
            );
        }
    }

    fn stop(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(
                    status.success(),
                    "librdkafka member failed: {}",
                    self.errors.lock().unwrap()
                );
                return;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the librdkafka member did not stop");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Rdkafka {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the microkafka member read, and its assignment.
#[derive(Default)]
struct Ours {
    messages: Vec<(i32, i64, String)>,
    assignment: BTreeSet<i32>,
}

async fn mixed_group(group: &str, strategy: &str, balancer: GroupBalancer, rdkafka_first: bool) {
    let c = MockCluster::start(Config {
        group_min_session_timeout: Duration::from_millis(100),
        ..Config::with_brokers(3)
    })
    .await
    .unwrap();
    c.create_topic(TOPIC, PARTITIONS).unwrap();
    let bootstrap = c.bootstrap_servers();

    let mut rdkafka = None;
    if rdkafka_first {
        rdkafka = Some(Rdkafka::start(&bootstrap, group, strategy));
        // Let it form the group alone, so it leads.
        let deadline = Instant::now() + Duration::from_secs(30);
        while rdkafka.as_ref().unwrap().assignment().len() != PARTITIONS as usize {
            rdkafka.as_mut().unwrap().check_alive();
            assert!(Instant::now() < deadline, "librdkafka never got the topic");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let ours = Arc::new(Mutex::new(Ours::default()));
    let config = ReaderConfig {
        group_balancers: vec![balancer],
        heartbeat_interval: Duration::from_millis(100),
        session_timeout: Duration::from_secs(6),
        rebalance_timeout: Duration::from_secs(10),
        max_wait: Duration::from_millis(100),
        ..ReaderConfig::group(&[&bootstrap], group, &[TOPIC])
    };
    let mut reader = Reader::new(config).unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let log = ours.clone();
    let task = tokio::spawn(async move {
        while !*stopped.borrow() {
            let read =
                tokio::time::timeout(Duration::from_millis(100), reader.read_message()).await;
            let mut log = log.lock().unwrap();
            match read {
                Ok(Ok(m)) => log.messages.push((
                    m.partition,
                    m.offset,
                    String::from_utf8_lossy(m.value.unwrap_or_default()).into_owned(),
                )),
                Ok(Err(e)) => eprintln!("microkafka member: {e}"),
                Err(_) => {}
            }
            log.assignment = reader.assignment().into_iter().map(|(_, p)| p).collect();
        }
        reader
    });
    if !rdkafka_first {
        let deadline = Instant::now() + Duration::from_secs(30);
        while ours.lock().unwrap().assignment.len() != PARTITIONS as usize {
            assert!(Instant::now() < deadline, "microkafka never got the topic");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        rdkafka = Some(Rdkafka::start(&bootstrap, group, strategy));
    }
    let mut rdkafka = rdkafka.unwrap();

    // Both hold a share; the shares are disjoint and cover the topic, for a while.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut stable_since: Option<(Instant, BTreeSet<i32>, BTreeSet<i32>)> = None;
    let (mine, theirs) = loop {
        rdkafka.check_alive();
        let mine = ours.lock().unwrap().assignment.clone();
        let theirs = rdkafka.assignment();
        let full = !mine.is_empty()
            && !theirs.is_empty()
            && mine.is_disjoint(&theirs)
            && mine.len() + theirs.len() == PARTITIONS as usize;
        match &stable_since {
            Some((at, m, t)) if full && *m == mine && *t == theirs => {
                if at.elapsed() > Duration::from_millis(1_000) {
                    break (mine, theirs);
                }
            }
            _ => stable_since = full.then(|| (Instant::now(), mine.clone(), theirs.clone())),
        }
        assert!(
            Instant::now() < deadline,
            "never shared: microkafka {mine:?}, librdkafka {theirs:?}\n{}",
            rdkafka.errors.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!("{strategy}: microkafka {mine:?}, librdkafka {theirs:?}");

    // Then the messages: each read once, by the member owning its partition.
    let writer = Writer::new(WriterConfig {
        batch_timeout: Duration::from_millis(1),
        ..WriterConfig::new(&[&bootstrap], TOPIC)
    })
    .unwrap();
    let values: Vec<String> = (0..TOTAL).map(|i| format!("v{i:05}")).collect();
    let messages: Vec<Message<'_>> = values.iter().map(|v| Message::new(v.as_bytes())).collect();
    writer.write_messages(&messages).await.unwrap();
    writer.close().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        rdkafka.check_alive();
        let n = ours.lock().unwrap().messages.len() + rdkafka.messages().len();
        if n >= TOTAL {
            break;
        }
        assert!(Instant::now() < deadline, "only {n} of {TOTAL} read");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A moment for anything read twice to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop.send(true);
    let reader = task.await.unwrap();
    reader.close().await.unwrap();
    let theirs_read = rdkafka.messages();
    rdkafka.stop();

    let ours = ours.lock().unwrap();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (p, _, v) in &ours.messages {
        assert!(
            mine.contains(p),
            "microkafka read partition {p} it does not own"
        );
        *count.entry(v.as_str()).or_default() += 1;
    }
    for (p, _, v) in &theirs_read {
        assert!(
            theirs.contains(p),
            "librdkafka read partition {p} it does not own"
        );
        *count.entry(v.as_str()).or_default() += 1;
    }
    assert_eq!(count.len(), TOTAL, "every message read");
    let twice: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "read more than once: {twice:?}");
    assert!(!ours.messages.is_empty() && !theirs_read.is_empty());
    println!(
        "{strategy}: microkafka read {}, librdkafka read {}",
        ours.messages.len(),
        theirs_read.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_with_microkafka_leading() {
    mixed_group("mixed-range", "range", GroupBalancer::Range, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_with_librdkafka_leading() {
    mixed_group(
        "mixed-coop",
        "cooperative-sticky",
        GroupBalancer::CooperativeSticky,
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_with_microkafka_leading() {
    mixed_group(
        "mixed-coop-mk",
        "cooperative-sticky",
        GroupBalancer::CooperativeSticky,
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_with_librdkafka_leading() {
    mixed_group("mixed-range-rd", "range", GroupBalancer::Range, true).await;
}
