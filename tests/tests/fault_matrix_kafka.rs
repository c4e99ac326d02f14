//! The rows of the fault matrix (issue 13; the mock broker's are in
//! `std-net/tests/fault_matrix.rs`) that Apache Kafka's 3-node cluster can
//! make happen itself: a broker stopped and started again while the
//! idempotent Writer (acks=all) writes 100,000 keyed messages, its
//! partitions' leadership moving off it (Kafka's controlled shutdown) and
//! back. Read back: nothing lost, nothing twice, each partition in the
//! order written.
//!
//! It runs against the mock broker by default (as in `cargo test
//! --workspace`) and against Kafka with `MICROKAFKA_TARGET=kafka`
//! (`.ci/test-kafka` does):
//!
//! ```sh
//! .ci/kafka start cluster
//! env MICROKAFKA_TARGET=kafka $(.ci/kafka env) \
//!     cargo test -p microkafka-tests --test fault_matrix_kafka -- --nocapture --test-threads 1
//! ```
//!
//! The count is `MICROKAFKA_FAULT_MATRIX_MESSAGES` (default 100,000).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use microkafka_std::{BalancerKind, CompletionFn, Message, RequiredAcks, Writer, WriterConfig};
use microkafka_tests::{Target, Topology};

const PARTITIONS: i32 = 3;
const CHUNK: usize = 1000;

fn messages() -> usize {
    std::env::var("MICROKAFKA_FAULT_MATRIX_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000)
}

/// Writes `messages()` keyed messages while `disturb` runs (started after
/// the first tenth), waits for it, reads everything back and prints the
/// row; panics unless nothing was lost, duplicated or reordered.
async fn write_through<'t>(
    t: &'t Target,
    fault: &str,
    topic: &str,
    disturb: impl std::future::Future<Output = ()> + 't,
) {
    let n = messages();
    let failed = Arc::new(AtomicU64::new(0));
    let completion: CompletionFn = {
        let failed = failed.clone();
        Arc::new(move |done| {
            if let Some(e) = done.error {
                failed.fetch_add(done.messages as u64, Ordering::Relaxed);
                eprintln!("{}[{}]: {e}", done.topic, done.partition);
            }
        })
    };
    let writer = Writer::new(WriterConfig {
        balancer: BalancerKind::Hash,
        required_acks: RequiredAcks::All,
        idempotent: true,
        async_: true,
        completion: Some(completion),
        batch_size: 500,
        max_attempts: 30,
        write_backoff_max: Duration::from_millis(500),
        metadata_refresh_interval: Duration::from_secs(1),
        ..WriterConfig::new(&[&t.bootstrap_servers()], topic)
    })
    .unwrap();
    let started = Instant::now();
    let mut disturb = std::pin::pin!(disturb);
    let mut disturbing = false;
    let mut disturbed = false;
    // Slower while the fault runs (a Kafka node takes seconds to stop and
    // start), so that most messages are written through it.
    let (pace, slow) = (Duration::from_millis(30), Duration::from_millis(300));
    for start in (0..n).step_by(CHUNK) {
        let keys: Vec<String> = (start..n.min(start + CHUNK))
            .map(|i| format!("key-{}", i % 997))
            .collect();
        let values: Vec<String> = (start..n.min(start + CHUNK))
            .map(|i| format!("{i:09}"))
            .collect();
        let msgs: Vec<Message<'_>> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| Message::new(v.as_bytes()).with_key(k.as_bytes()))
            .collect();
        writer.write_messages(&msgs).await.unwrap();
        disturbing |= start >= n / 10;
        // Drive the fault between chunks, for `pace` each time.
        if disturbing && !disturbed {
            disturbed = tokio::time::timeout(slow, disturb.as_mut()).await.is_ok();
        } else {
            tokio::time::sleep(pace).await;
        }
    }
    if !disturbed {
        disturb.await;
    }
    writer.close().await.unwrap();
    let time = started.elapsed();
    let retries = writer.stats().retries;

    let mut seen = vec![0u32; n];
    let mut order_kept = true;
    for p in 0..PARTITIONS {
        let mut last = None;
        for r in t.read_partition(topic, p).await {
            let i: usize = std::str::from_utf8(r.value.as_deref().unwrap())
                .unwrap()
                .parse()
                .unwrap();
            seen[i] += 1;
            order_kept &= last.is_none_or(|l| l < i);
            last = Some(i);
        }
    }
    let lost = seen.iter().filter(|&&s| s == 0).count();
    let duplicated: usize = seen.iter().map(|&s| s.saturating_sub(1) as usize).sum();
    let failed = failed.load(Ordering::Relaxed);
    println!(
        "| {fault} | Writer ({}) | {n} | {lost} | {duplicated} | {} | {retries} | {:.1} s |",
        t.describe(),
        if order_kept { "yes" } else { "**no**" },
        time.as_secs_f64()
    );
    assert_eq!(
        (lost, duplicated, order_kept, failed),
        (0, 0, true, 0),
        "{fault}: lost, duplicated, order kept, reported failed"
    );
}

/// The leader of partition 0 is stopped mid-write (its leaderships move to
/// the other nodes), then started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_stopped_then_restarted() {
    let t = Target::start(Topology::Cluster).await;
    let topic = t.unique("matrix-leader");
    t.create_topic(&topic, PARTITIONS).await;
    let disturb = async {
        let old = t.leader(&topic, 0).await;
        let down = t.stop_broker(old).await;
        let new = t.leader(&topic, 0).await;
        assert_ne!(new, old, "the leadership moved off the stopped broker");
        tokio::time::sleep(Duration::from_secs(1)).await;
        down.start().await;
        t.wait_for_brokers(3).await;
    };
    write_through(
        &t,
        "broker down, then up; leader moved (the leader stopped)",
        &topic,
        disturb,
    )
    .await;
}

/// Every node in turn is stopped and started again (a rolling restart):
/// each partition's leadership moves at least once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart() {
    let t = Target::start(Topology::Cluster).await;
    let topic = t.unique("matrix-rolling");
    t.create_topic(&topic, PARTITIONS).await;
    let disturb = async {
        for node in 1..=3 {
            let down = t.stop_broker(node).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            down.start().await;
            t.wait_for_brokers(3).await;
        }
    };
    write_through(&t, "rolling restart of all 3 brokers", &topic, disturb).await;
}
