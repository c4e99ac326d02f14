//! Produce and consume throughput of microkafka-std against the in-process
//! mock broker (3 brokers, 6 partitions, 100-byte values), and the heap
//! allocations the client makes per message in steady state.
//!
//! ```text
//! cargo bench -p microkafka-std --bench throughput
//! MICROKAFKA_BENCH_RUNS=9 MICROKAFKA_BENCH_MESSAGES=500000 cargo bench -p microkafka-std --bench throughput
//! ```
//!
//! Each scenario runs `MICROKAFKA_BENCH_RUNS` times (default 5); every run
//! is printed next to the median. Allocations are counted by a wrapper
//! around the system allocator, only on the client's threads (the mock
//! broker runs on a runtime of its own, whose allocations are its own).
#![allow(unsafe_code)] // the counting allocator: GlobalAlloc is an unsafe trait

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use microkafka_mock_broker::{Config, MockCluster};
use microkafka_std::{
    BalancerKind, Completion, Compression, Message, Reader, ReaderConfig, Writer, WriterConfig,
};

/// Counts allocations made on threads marked as client threads.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static CLIENT_THREAD: Cell<bool> = const { Cell::new(false) };
}

fn count(size: usize) {
    if CLIENT_THREAD.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(size as u64, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// wrapper only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counted() -> (u64, u64) {
    (
        ALLOCATIONS.load(Ordering::Relaxed),
        ALLOCATED_BYTES.load(Ordering::Relaxed),
    )
}

const PARTITIONS: i32 = 6;
const VALUE_LEN: usize = 100;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` values of 100 bytes and keys, built once: the bench measures the
/// client, not message construction.
struct Payload {
    values: Vec<Vec<u8>>,
    keys: Vec<Vec<u8>>,
}

impl Payload {
    fn new(n: usize) -> Self {
        Payload {
            values: (0..n)
                .map(|i| {
                    let mut v = format!("{i:09} {{\"sensor\":{},\"t\":", i % 977).into_bytes();
                    v.resize(VALUE_LEN, b'0' + (i % 10) as u8);
                    v
                })
                .collect(),
            keys: (0..n)
                .map(|i| format!("key-{}", i % 977).into_bytes())
                .collect(),
        }
    }

    fn messages(&self) -> Vec<Message<'_>> {
        self.values
            .iter()
            .zip(&self.keys)
            .map(|(v, k)| Message::new(v).with_key(k))
            .collect()
    }
}

/// An async writer whose completions count messages, to wait for a flush
/// without closing.
struct CountingWriter {
    writer: Writer,
    done: Arc<AtomicUsize>,
}

impl CountingWriter {
    fn new(brokers: &str, topic: &str, compression: Compression) -> Self {
        let done = Arc::new(AtomicUsize::new(0));
        let sink = done.clone();
        let writer = Writer::new(WriterConfig {
            async_: true,
            compression,
            balancer: BalancerKind::Hash,
            completion: Some(Arc::new(move |c: &Completion<'_>| {
                assert!(c.error.is_none(), "{:?}", c.error);
                sink.fetch_add(c.messages, Ordering::Relaxed);
            })),
            ..WriterConfig::new(&[brokers], topic)
        })
        .unwrap();
        CountingWriter { writer, done }
    }

    /// Writes every message in chunks of 1000 and waits until all are acknowledged.
    async fn write_all(&self, messages: &[Message<'_>]) {
        let target = self.done.load(Ordering::Relaxed) + messages.len();
        for chunk in messages.chunks(1000) {
            self.writer.write_messages(chunk).await.unwrap();
        }
        while self.done.load(Ordering::Relaxed) < target {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
}

/// Reads `n` messages from every partition's start with one Reader each;
/// returns the messages read.
async fn read_all(brokers: &str, topic: &str, per_partition: &[i64]) -> usize {
    let mut tasks = Vec::new();
    for (p, &n) in per_partition.iter().enumerate() {
        let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut reader = Reader::new(ReaderConfig::new(&[&brokers], &topic, p as i32)).unwrap();
            let mut read = 0;
            let mut bytes = 0;
            while read < n {
                let m = reader.fetch_message().await.unwrap();
                bytes += m.value.map_or(0, <[u8]>::len);
                read += 1;
            }
            assert!(bytes > 0);
            read as usize
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn report(what: &str, rates: &[f64]) {
    let runs: Vec<String> = rates.iter().map(|r| format!("{:.0}", r / 1000.0)).collect();
    println!(
        "{what:<34} median {:>8.0} k msgs/s ({:>6.1} MB/s)   runs: {} k",
        median(rates.to_vec()) / 1000.0,
        median(rates.to_vec()) * VALUE_LEN as f64 / 1e6,
        runs.join(" ")
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once, small.
    let quick = std::env::args().any(|a| a == "--test" || a == "--list")
        || !std::env::args().any(|a| a == "--bench");
    let runs = if quick {
        1
    } else {
        env("MICROKAFKA_BENCH_RUNS", 5)
    };
    let n = if quick {
        20_000
    } else {
        env("MICROKAFKA_BENCH_MESSAGES", 200_000)
    };

    CLIENT_THREAD.with(|c| c.set(true));
    let cluster = MockCluster::start_in_background(Config::with_brokers(3)).unwrap();
    let brokers = cluster.bootstrap_servers();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(|| CLIENT_THREAD.with(|c| c.set(true)))
        .enable_all()
        .build()
        .unwrap();
    let payload = Payload::new(n);
    let messages = payload.messages();
    println!("microkafka-std throughput: {n} messages x {VALUE_LEN} B, {PARTITIONS} partitions, 3 in-process mock brokers, {runs} runs");

    runtime.block_on(async {
        for codec in [Compression::None, Compression::Lz4]
            .into_iter()
            .filter(|_| runs > 0)
        {
            let mut produce = Vec::new();
            let mut consume = Vec::new();
            for run in 0..runs {
                let topic = format!("bench-{}-{run}", codec.name());
                cluster.create_topic(&topic, PARTITIONS).unwrap();
                let w = CountingWriter::new(&brokers, &topic, codec);
                let started = Instant::now();
                w.write_all(&messages).await;
                produce.push(n as f64 / started.elapsed().as_secs_f64());
                w.writer.close().await.unwrap();

                let ends: Vec<i64> = (0..PARTITIONS)
                    .map(|p| cluster.offsets(&topic, p).unwrap().1)
                    .collect();
                let started = Instant::now();
                let read = read_all(&brokers, &topic, &ends).await;
                consume.push(read as f64 / started.elapsed().as_secs_f64());
                assert_eq!(read, n);
            }
            report(
                &format!("produce (async, acks=all, {})", codec.name()),
                &produce,
            );
            report(&format!("consume (6 readers, {})", codec.name()), &consume);
        }

        // Steady-state allocations: warm up (pools, connections, metadata),
        // then count what writing / reading another `n` messages costs.
        for codec in [Compression::None, Compression::Lz4] {
            let topic = format!("alloc-{}", codec.name());
            cluster.create_topic(&topic, PARTITIONS).unwrap();
            let w = CountingWriter::new(&brokers, &topic, codec);
            w.write_all(&messages).await;
            w.write_all(&messages).await;
            let (a0, b0) = counted();
            w.write_all(&messages).await;
            let (a1, b1) = counted();
            println!(
                "allocations, produce {:<5} {:>8.4} per message ({} in {n} messages, {} bytes)",
                codec.name(),
                (a1 - a0) as f64 / n as f64,
                a1 - a0,
                b1 - b0
            );
            w.writer.close().await.unwrap();

            let mut reader = Reader::new(ReaderConfig::new(&[&brokers], &topic, 0)).unwrap();
            let available = cluster.offsets(&topic, 0).unwrap().1 as usize;
            let half = available / 2;
            for _ in 0..half {
                reader.fetch_message().await.unwrap();
            }
            let (a0, b0) = counted();
            for _ in half..available {
                reader.fetch_message().await.unwrap();
            }
            let (a1, b1) = counted();
            let read = available - half;
            println!(
                "allocations, consume {:<5} {:>8.4} per message ({} in {read} messages, {} bytes)",
                codec.name(),
                (a1 - a0) as f64 / read as f64,
                a1 - a0,
                b1 - b0
            );
            reader.close().await.unwrap();
        }
    });
}
