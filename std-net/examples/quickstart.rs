//! microkafka end to end: start a 3-broker Kafka (in-process, in memory),
//! create a topic, write 100 000 messages through a Writer (lz4, keyed with
//! the Hash balancer), read them back with one Reader per partition, check
//! every one, and print what it took.
//!
//! ```text
//! cargo run --release -p microkafka-std --example quickstart
//! MICROKAFKA_BROKERS=localhost:9092 cargo run --release -p microkafka-std --example quickstart
//! ```
//!
//! With `MICROKAFKA_BROKERS` set it runs against that cluster instead
//! (creating, then deleting, a topic of its own). `MICROKAFKA_MESSAGES`
//! changes the count.

use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use microkafka_core::balancer::{Balancer, Hash, MessageRef};
use microkafka_mock_broker::{Config, MockCluster};
use microkafka_std::{
    BalancerKind, Client, Completion, Compression, Message, Reader, ReaderConfig, ReaderStats,
    TopicConfig, Writer, WriterConfig,
};

const PARTITIONS: i32 = 6;
const KEYS: usize = 1000;
const VALUE_LEN: usize = 100;

/// The value of message `i`: its number, then filler that compresses like
/// typical JSON-ish payloads (repetitive, not constant).
fn value(i: usize, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(format!("{i:09} {{\"device\":{},\"reading\":", i % KEYS).as_bytes());
    while out.len() < VALUE_LEN {
        out.push(b'0' + (i.wrapping_mul(31).wrapping_add(out.len()) % 10) as u8);
    }
    out.truncate(VALUE_LEN);
}

fn key(i: usize) -> String {
    format!("device-{:04}", i % KEYS)
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{what:>5} [{{bar:40.cyan/blue}}] {{pos:>7}}/{{len:7}} {{per_sec:>14}} {{elapsed_precise}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let count: usize = std::env::var("MICROKAFKA_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    // A cluster: the one named, or three brokers in this process.
    let (_mock, brokers) = match std::env::var("MICROKAFKA_BROKERS") {
        Ok(b) if !b.is_empty() => (None, b),
        _ => {
            let mock = MockCluster::start(Config::with_brokers(3)).await?;
            let b = mock.bootstrap_servers();
            (Some(mock), b)
        }
    };
    let where_ = if _mock.is_some() {
        "in-process mock cluster"
    } else {
        "cluster"
    };
    println!("microkafka quickstart: {count} messages of {VALUE_LEN} bytes, {where_} at {brokers}");

    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let topic = format!("microkafka-quickstart-{stamp}");
    let client = Client::new(&[&brokers])?;
    client
        .create_topics(&[TopicConfig::new(&topic, PARTITIONS)])
        .await?;
    println!("created topic {topic} with {PARTITIONS} partitions");

    // Write: asynchronous Writer, lz4, keys placed by the Hash balancer.
    let written = bar(count as u64, "write");
    let failures = Arc::new(Mutex::new(Vec::new()));
    let writer = Writer::new(WriterConfig {
        balancer: BalancerKind::Hash,
        compression: Compression::Lz4,
        async_: true,
        completion: Some(Arc::new({
            let written = written.clone();
            let failures = failures.clone();
            move |c: &Completion<'_>| match c.error {
                None => written.inc(c.messages as u64),
                Some(e) => failures.lock().unwrap().push(e.to_string()),
            }
        })),
        ..WriterConfig::new(&[&brokers], &topic)
    })?;
    let started = Instant::now();
    let mut values: Vec<Vec<u8>> = (0..1000).map(|_| Vec::with_capacity(VALUE_LEN)).collect();
    let mut keys = vec![String::new(); 1000];
    for chunk_start in (0..count).step_by(1000) {
        let n = (count - chunk_start).min(1000);
        for j in 0..n {
            value(chunk_start + j, &mut values[j]);
            keys[j] = key(chunk_start + j);
        }
        let msgs: Vec<Message<'_>> = (0..n)
            .map(|j| Message::new(&values[j]).with_key(keys[j].as_bytes()))
            .collect();
        writer.write_messages(&msgs).await?;
    }
    writer.close().await?;
    let write_time = started.elapsed();
    written.finish();
    let writer_stats = writer.stats();
    let failures = failures.lock().unwrap().clone();
    if let Some(first) = failures.first() {
        return Err(format!("{} batches failed; first: {first}", failures.len()).into());
    }

    // Read back: one Reader per partition, all at once.
    let offsets = client.offsets(&topic).await?;
    let total: i64 = offsets.iter().map(|(_, first, last)| last - first).sum();
    let read = bar(total as u64, "read");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (partition, first, last) in offsets {
        let (brokers, topic, read) = (brokers.clone(), topic.clone(), read.clone());
        tasks.push(tokio::spawn(async move {
            let mut reader = Reader::new(ReaderConfig::new(&[&brokers], &topic, partition))?;
            reader.set_offset(first)?;
            let mut seen = Vec::with_capacity((last - first) as usize);
            let mut expected = Vec::with_capacity(VALUE_LEN);
            let mut balancer = Hash::default();
            let ids: Vec<i32> = (0..PARTITIONS).collect();
            while reader.offset() < last {
                let m = reader.fetch_message().await?;
                let v = m.value.unwrap_or_default();
                let i: usize = std::str::from_utf8(&v[..9.min(v.len())])?.parse()?;
                value(i, &mut expected);
                let k = key(i);
                if v != expected.as_slice() || m.key != Some(k.as_bytes()) {
                    return Err(format!("{topic}[{partition}]@{}: wrong message", m.offset).into());
                }
                let home = balancer.balance(&MessageRef::new(m.key, None), &ids);
                if home != Some(partition) {
                    return Err(
                        format!("{k} is on partition {partition}, Hash says {home:?}").into(),
                    );
                }
                seen.push(i);
                read.inc(1);
            }
            let stats = reader.stats();
            reader.close().await?;
            Ok::<_, Box<dyn Error + Send + Sync>>((partition, seen, stats))
        }));
    }
    let mut per_partition: Vec<(i32, usize, ReaderStats)> = Vec::new();
    let mut seen = vec![false; count];
    for t in tasks {
        let (partition, got, stats) = t.await?.map_err(|e| e.to_string())?;
        for i in &got {
            if *i >= count || std::mem::replace(&mut seen[*i], true) {
                return Err(format!("message {i} read twice or out of range").into());
            }
        }
        per_partition.push((partition, got.len(), stats));
    }
    let read_time = started.elapsed();
    read.finish();
    let missing = seen.iter().filter(|s| !**s).count();
    if missing > 0 {
        return Err(format!("{missing} messages missing").into());
    }
    println!("verified: all {count} messages read back, each on its key's partition, none twice");

    // What it took.
    let mb = (count * VALUE_LEN) as f64 / 1e6;
    let rate = |d: Duration| count as f64 / d.as_secs_f64();
    println!();
    println!(
        "{:<8} {:>10} {:>10} {:>14} {:>10}",
        "", "messages", "seconds", "messages/s", "MB/s"
    );
    for (what, d) in [("write", write_time), ("read", read_time)] {
        println!(
            "{what:<8} {count:>10} {:>10.3} {:>14.0} {:>10.1}",
            d.as_secs_f64(),
            rate(d),
            mb / d.as_secs_f64()
        );
    }
    let w = &writer_stats;
    println!();
    println!("writer: {} produce requests, {} batches of {} messages on average ({} max), {} bytes on average after lz4 ({:.1}x smaller), {} retries, {} errors",
        w.writes, w.batch_size.count, w.batch_size.avg, w.batch_size.max, w.batch_bytes.avg,
        (w.batch_size.avg as f64 * (VALUE_LEN + 11) as f64) / w.batch_bytes.avg.max(1) as f64,
        w.retries, w.errors);
    println!(
        "writer: batch time {:?} avg (linger {:?}), write time {:?} avg / {:?} max",
        w.batch_time.avg_duration(),
        w.batch_timeout,
        w.write_time.avg_duration(),
        w.write_time.max_duration()
    );
    println!();
    println!(
        "{:<10} {:>9} {:>8} {:>12} {:>13} {:>6}",
        "partition", "messages", "fetches", "msgs/fetch", "fetch time", "lag"
    );
    per_partition.sort_by_key(|p| p.0);
    for (p, n, s) in &per_partition {
        println!(
            "{p:<10} {n:>9} {:>8} {:>12} {:>13?} {:>6}",
            s.fetches,
            s.fetch_size.avg,
            s.read_time.avg_duration(),
            s.lag
        );
    }
    client.delete_topics(&[&topic]).await?;
    client.close();
    Ok(())
}
