//! The fault matrix (issue 13): for each fault, 100,000 keyed messages
//! written by the idempotent Writer (acks=all) while the fault fires again
//! and again, then read back: nothing lost, nothing duplicated, each
//! partition in the order written. Then a consumer group reads them while
//! its coordinator moves, members join and leave, and connections drop:
//! nothing skipped, duplicates only inside the uncommitted window.
//!
//! Every row prints (fault, client, messages, times the fault fired, lost,
//! duplicated, order kept, retries, time); the whole table comes out of
//!
//! ```sh
//! cargo test -p microkafka-std --test fault_matrix -- --nocapture
//! ```
//!
//! (about 50 s in a debug build on 2 cores; `--release` changes little, the
//! time goes to the faults). The count is `MICROKAFKA_FAULT_MATRIX_MESSAGES`
//! (default 100,000, what the README's table is for);
//! `MICROKAFKA_FAULT_MATRIX_ROWS=group` runs only the rows whose function
//! names contain `group`.
//!
//! The uncommitted window of a group member (`commit_interval` 50 ms
//! here): a message is delivered again only when its partition changes
//! hands before the offset read is committed. The member commits what it
//! has read every interval and, synchronously, on every revocation and on
//! close, so a clean rebalance (members joining or leaving) redelivers
//! nothing but, at most, the one message handed out while its partition was
//! being revoked. What can come twice is what a member read after its last
//! successful commit when it lost a partition without revoking it: a member
//! that crashed (no final commit, no LeaveGroup) loses up to
//! `commit_interval` of reading per partition, read again by the next
//! owner. The test checks that every message delivered twice was first
//! delivered inside that window (at most `commit_interval` plus
//! [`WINDOW_SLACK`] for a commit's retries before its first owner's last
//! delivery of the partition), and only across a change of member or
//! generation; and that no member ever jumps past offsets nobody delivered
//! (a skip), even when the gap is filled later.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use microkafka_core::protocol::ApiKey;
use microkafka_core::ErrorCode;
use microkafka_mock_broker::{Fault, MockCluster};
use microkafka_std::{
    BalancerKind, CompletionFn, Message, Reader, ReaderConfig, RequiredAcks, Writer, WriterConfig,
};

/// Partitions of the topic each row writes.
const PARTITIONS: i32 = 6;

/// Messages per `write_messages` call.
const CHUNK: usize = 1000;

/// How much longer than `commit_interval` a failed commit may take to be
/// retried (finding the coordinator again, a dropped connection redialled).
const WINDOW_SLACK: Duration = Duration::from_secs(1);

/// Messages per row: `MICROKAFKA_FAULT_MATRIX_MESSAGES`, else 100,000.
fn messages() -> usize {
    std::env::var("MICROKAFKA_FAULT_MATRIX_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000)
}

/// Message `i`'s value: its number, so that reading it back says which it is.
fn value(i: usize) -> Vec<u8> {
    format!("{i:09}").into_bytes()
}

fn key(i: usize) -> Vec<u8> {
    format!("key-{}", i % 997).into_bytes()
}

fn index_of(value: &[u8]) -> usize {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a message of this test: {value:?}"))
}

/// One line of the table.
#[derive(Debug)]
struct Row {
    fault: &'static str,
    client: &'static str,
    messages: usize,
    /// Times the fault was made to happen.
    fired: usize,
    lost: usize,
    duplicated: usize,
    order_kept: bool,
    /// Writer: batches sent again. Group: failed reads and commits the
    /// members went through, and the generations they saw.
    retries: String,
    /// Messages the client reported as failed (given up after its
    /// attempts): none may be.
    failed: u64,
    /// Group rows: duplicates are allowed inside the uncommitted window;
    /// these are the ones outside it (none may be).
    outside_window: Option<usize>,
    time: Duration,
}

impl Row {
    fn print(&self) {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.1} s |",
            self.fault,
            self.client,
            self.messages,
            self.fired,
            self.lost,
            match self.outside_window {
                None | Some(0) => self.duplicated.to_string(),
                Some(n) => format!("{} (**{n} outside the window**)", self.duplicated),
            },
            if self.order_kept { "yes" } else { "**no**" },
            match self.failed {
                0 => self.retries.clone(),
                n => format!("{} (**{n} reported failed**)", self.retries),
            },
            self.time.as_secs_f64()
        );
    }

    fn assert_clean(&self) {
        // The Writer: no duplicate at all. A group: only inside the window.
        let duplicated = self.outside_window.unwrap_or(self.duplicated);
        assert_eq!(
            (self.lost, duplicated, self.order_kept, self.failed),
            (0, 0, true, 0),
            "{}: {self:?}",
            self.fault
        );
    }
}

async fn cluster(topic: &str) -> Arc<MockCluster> {
    let c = Arc::new(common::cluster().await);
    c.create_topic(topic, PARTITIONS).unwrap();
    c
}

/// Puts the cluster back in order after a row: no faults left, every
/// broker up, no latency.
fn heal(c: &MockCluster) {
    c.clear_faults();
    for b in 1..=3 {
        c.broker_up(b).unwrap();
        c.set_latency(b, Duration::ZERO).unwrap();
    }
}

/// How a fault fires during a row: `disturb(cluster, k)` is called for
/// the k-th time after every `every`-th chunk of [`CHUNK`] messages is
/// queued, and the writer waits `pace` after each chunk, so that the
/// faults spread over the whole run (100 chunks for 100,000 messages).
struct Firing<F> {
    every: usize,
    pace: Duration,
    disturb: F,
}

/// Writes `n` keyed messages to `topic` with an idempotent, acks=all,
/// asynchronous Writer (`tune` adjusts its config) while the fault fires;
/// then reads everything back and fills a row.
async fn produce_under(
    fault: &'static str,
    topic: &str,
    tune: impl FnOnce(&mut WriterConfig),
    mut firing: Firing<impl FnMut(&MockCluster, usize)>,
) -> (Row, Arc<MockCluster>) {
    let c = cluster(topic).await;
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
    let mut config = WriterConfig {
        balancer: BalancerKind::Hash,
        required_acks: RequiredAcks::All,
        idempotent: true,
        async_: true,
        completion: Some(completion),
        batch_size: 500,
        write_backoff_min: Duration::from_millis(5),
        write_backoff_max: Duration::from_millis(100),
        write_timeout: Duration::from_secs(2),
        ..WriterConfig::new(&[&c.bootstrap_servers()], topic)
    };
    tune(&mut config);
    let writer = Writer::new(config).unwrap();
    let started = Instant::now();
    let (keys, values): (Vec<Vec<u8>>, Vec<Vec<u8>>) = (0..n).map(|i| (key(i), value(i))).unzip();
    let mut fired = 0;
    for (chunk, (ks, vs)) in keys.chunks(CHUNK).zip(values.chunks(CHUNK)).enumerate() {
        let msgs: Vec<Message<'_>> = ks
            .iter()
            .zip(vs)
            .map(|(k, v)| Message::new(v).with_key(k))
            .collect();
        writer.write_messages(&msgs).await.unwrap();
        if chunk.is_multiple_of(firing.every) {
            (firing.disturb)(&c, fired);
            fired += 1;
        }
        tokio::time::sleep(firing.pace).await;
    }
    writer.close().await.unwrap();
    let time = started.elapsed();
    heal(&c);
    let retries = writer.stats().retries;
    let (lost, duplicated, order_kept) = read_back(&c, topic, n).await;
    let row = Row {
        fault,
        client: "Writer",
        messages: n,
        fired,
        lost,
        duplicated,
        order_kept,
        retries: retries.to_string(),
        failed: failed.load(Ordering::Relaxed),
        outside_window: None,
        time,
    };
    (row, c)
}

/// Reads every partition of `topic` from the start: `(lost, duplicated,
/// order kept)` against messages `0..n` written in order.
async fn read_back(c: &MockCluster, topic: &str, n: usize) -> (usize, usize, bool) {
    let all = common::read_all(c, topic, PARTITIONS).await;
    let mut seen = vec![0u32; n];
    let mut order_kept = true;
    for read in all.values() {
        let mut last = None;
        for (_, _, v) in read {
            let i = index_of(v);
            seen[i] += 1;
            // One writer wrote 0, 1, 2, ... in order: a partition holds an
            // increasing subsequence (a duplicate breaks it too).
            order_kept &= last.is_none_or(|l| l < i);
            last = Some(i);
        }
    }
    let lost = seen.iter().filter(|&&s| s == 0).count();
    let duplicated = seen.iter().map(|&s| s.saturating_sub(1) as usize).sum();
    (lost, duplicated, order_kept)
}

/// Chunks between faults, and the wait after each chunk, of most rows:
/// a fault every 2,000 messages.
const OFTEN: (usize, Duration) = (2, Duration::from_millis(5));

async fn writer_connection_dropped_mid_request() -> Row {
    let firing = Firing {
        every: OFTEN.0,
        pace: OFTEN.1,
        disturb: |c: &MockCluster, k: usize| match k % 3 {
            // The broker closes instead of answering (nothing stored)...
            0 => c.inject(Fault::disconnect(ApiKey::Produce, 1)),
            // ...or every connection drops, requests in flight or not...
            1 => c.drop_all_connections(),
            // ...or one broker's.
            _ => c.drop_connections(k as i32 % 3 + 1),
        },
    };
    let topic = "drop";
    produce_under("connection dropped mid-request", topic, |_| {}, firing)
        .await
        .0
}

async fn writer_response_lost_after_apply() -> Row {
    let firing = Firing {
        every: OFTEN.0,
        pace: OFTEN.1,
        disturb: |c: &MockCluster, _| c.inject(Fault::lose_response(ApiKey::Produce, 1)),
    };
    let fault = "response lost after the broker applied it";
    produce_under(fault, "lost", |_| {}, firing).await.0
}

async fn writer_not_leader_and_leader_moved() -> Row {
    let firing = Firing {
        every: OFTEN.0,
        pace: OFTEN.1,
        disturb: |c: &MockCluster, k: usize| match k % 2 {
            0 => c.inject(Fault::errors(
                ApiKey::Produce,
                [ErrorCode::NOT_LEADER_OR_FOLLOWER; 2],
            )),
            _ => {
                let p = (k / 2) as i32 % PARTITIONS;
                let leader = c.leader("leader", p).unwrap();
                c.move_leader("leader", p, leader % 3 + 1).unwrap();
            }
        },
    };
    let fault = "NOT_LEADER_OR_FOLLOWER / leader moved";
    produce_under(fault, "leader", |_| {}, firing).await.0
}

async fn writer_broker_down_then_up() -> Row {
    // Broker 1, 2, 3 in turn: down for 4 chunks (about 100 ms), then up
    // for 4.
    let firing = Firing {
        every: 4,
        pace: Duration::from_millis(25),
        disturb: |c: &MockCluster, k: usize| {
            let b = (k / 2) as i32 % 3 + 1;
            match k % 2 {
                0 => c.broker_down(b).unwrap(),
                _ => c.broker_up(b).unwrap(),
            }
        },
    };
    produce_under("broker down, then up", "down", |_| {}, firing)
        .await
        .0
}

async fn writer_request_timeout() -> Row {
    // The broker stores the batch, then stalls its answer past the
    // Writer's timeout: the Writer gives the connection up and sends the
    // batch again, which the broker must recognise as a duplicate.
    let timeout = Duration::from_millis(300);
    let firing = Firing {
        every: 10,
        pace: OFTEN.1,
        disturb: move |c: &MockCluster, _| c.inject(Fault::stall(ApiKey::Produce, 1, timeout * 3)),
    };
    let fault = "request timeout (stored, answer stalled past the timeout)";
    produce_under(fault, "stall", |w| w.write_timeout = timeout, firing)
        .await
        .0
}

async fn writer_throttled() -> Row {
    // Long enough that requests already on their way when the throttle
    // came (the mock's grace is half of it) are not counted on a loaded
    // machine.
    let throttle = Duration::from_millis(150);
    let firing = Firing {
        every: 5,
        pace: OFTEN.1,
        disturb: move |c: &MockCluster, _| c.inject(Fault::throttle(ApiKey::Produce, 1, throttle)),
    };
    let fault = "throttling (throttle_time_ms honoured)";
    let (mut row, c) = produce_under(fault, "throttle", |_| {}, firing).await;
    let violations = c.throttle_violations();
    row.retries = format!("{} (sent while throttled: {violations})", row.retries);
    // A request sent during a throttle is a failure of the row.
    row.order_kept &= violations == 0;
    row
}

async fn writer_sequence_errors() -> Row {
    let firing = Firing {
        every: OFTEN.0,
        pace: OFTEN.1,
        disturb: |c: &MockCluster, k: usize| {
            let code = match k % 2 {
                0 => ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
                _ => ErrorCode::UNKNOWN_PRODUCER_ID,
            };
            c.inject(Fault::error(ApiKey::Produce, code));
        },
    };
    let fault = "OUT_OF_ORDER_SEQUENCE_NUMBER / UNKNOWN_PRODUCER_ID";
    produce_under(fault, "sequence", |_| {}, firing).await.0
}

async fn writer_storage_errors() -> Row {
    let firing = Firing {
        every: OFTEN.0,
        pace: OFTEN.1,
        disturb: |c: &MockCluster, k: usize| {
            let code = match k % 2 {
                0 => ErrorCode::KAFKA_STORAGE_ERROR,
                _ => ErrorCode::NOT_ENOUGH_REPLICAS,
            };
            c.inject(Fault::errors(ApiKey::Produce, [code; 2]));
        },
    };
    let fault = "KAFKA_STORAGE_ERROR / NOT_ENOUGH_REPLICAS";
    produce_under(fault, "storage", |_| {}, firing).await.0
}

// ----- the consumer group -----

/// How often members commit what they read (the uncommitted window).
const COMMIT_INTERVAL: Duration = Duration::from_millis(50);

/// Members' session timeout: a member that stops heartbeating (crashed)
/// loses its partitions after this long.
const SESSION_TIMEOUT: Duration = Duration::from_secs(1);

/// One message handed to the application by a member.
#[derive(Clone, Copy, Debug)]
struct Delivery {
    member: usize,
    /// The member's generation when it asked for the message, and when it
    /// had it: a rebalance may complete in between.
    generation: (i32, i32),
    partition: i32,
    offset: i64,
    index: usize,
    at: Instant,
}

/// What every member of a group row shares.
struct GroupRun {
    n: usize,
    /// In the order handed out (a member records under the lock, so the
    /// order across members is the real one).
    deliveries: Mutex<Vec<Delivery>>,
    distinct: Mutex<(Vec<bool>, usize)>,
    done: AtomicBool,
    /// Errors members got from `read_message` (and retried past).
    errors: AtomicU64,
}

impl GroupRun {
    fn record(&self, d: Delivery) {
        let mut deliveries = self.deliveries.lock().unwrap();
        deliveries.push(d);
        let mut distinct = self.distinct.lock().unwrap();
        if !std::mem::replace(&mut distinct.0[d.index], true) {
            distinct.1 += 1;
            if distinct.1 == self.n {
                self.done.store(true, Ordering::Release);
            }
        }
    }
}

/// A running group member.
struct Member {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Member {
    /// Stops reading, commits and leaves the group (`Reader::close`).
    async fn leave(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.task.await;
    }

    /// Dies on the spot: no commit, no LeaveGroup; the coordinator notices
    /// when its session times out.
    fn crash(self) {
        self.task.abort();
    }
}

fn spawn_member(run: &Arc<GroupRun>, brokers: &str, group: &str, topic: &str, id: usize) -> Member {
    let stop = Arc::new(AtomicBool::new(false));
    let mut reader = Reader::new(ReaderConfig {
        commit_interval: COMMIT_INTERVAL,
        heartbeat_interval: Duration::from_millis(100),
        session_timeout: SESSION_TIMEOUT,
        rebalance_timeout: Duration::from_secs(5),
        join_group_backoff: Duration::from_millis(200),
        max_wait: Duration::from_millis(100),
        read_backoff_min: Duration::from_millis(10),
        read_backoff_max: Duration::from_millis(100),
        ..ReaderConfig::group(&[brokers], group, &[topic])
    })
    .unwrap();
    let task = tokio::spawn({
        let (run, stop) = (run.clone(), stop.clone());
        async move {
            let mut count = 0u64;
            while !stop.load(Ordering::Acquire) && !run.done.load(Ordering::Acquire) {
                // Bounded, to look at `stop` now and then (reading is
                // cancel-safe with a commit interval).
                let before = reader.generation();
                let read = tokio::time::timeout(Duration::from_millis(100), reader.read_message());
                let got = match read.await {
                    Ok(Ok(m)) => {
                        Some((m.partition, m.offset, index_of(m.value.unwrap_or_default())))
                    }
                    Ok(Err(_)) => {
                        run.errors.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                    Err(_) => None,
                };
                if let Some((partition, offset, index)) = got {
                    run.record(Delivery {
                        member: id,
                        generation: (before, reader.generation()),
                        partition,
                        offset,
                        index,
                        at: Instant::now(),
                    });
                    count += 1;
                    // The application's work: spreads the reading over
                    // time, for the faults to hit it.
                    if count.is_multiple_of(100) {
                        tokio::time::sleep(Duration::from_millis(8)).await;
                    }
                }
            }
            if let Err(e) = reader.close().await {
                eprintln!("member {id} closed with {e}");
            }
        }
    });
    Member { stop, task }
}

/// The members of a running group, for the faults to add and remove.
struct Members {
    run: Arc<GroupRun>,
    brokers: String,
    group: String,
    topic: String,
    live: std::collections::VecDeque<Member>,
    next_id: usize,
}

impl Members {
    fn join(&mut self) {
        let m = spawn_member(
            &self.run,
            &self.brokers,
            &self.group,
            &self.topic,
            self.next_id,
        );
        self.next_id += 1;
        self.live.push_back(m);
    }
}

/// Fills `topic` with `n` messages (no faults), then has a group of 3
/// members read them while `disturb(cluster, members, k)` runs every
/// `period`; checks every delivery and fills a row.
async fn consume_under(
    fault: &'static str,
    topic: &str,
    period: Duration,
    mut disturb: impl AsyncFnMut(&MockCluster, &mut Members, usize),
) -> Row {
    let c = Arc::new(
        MockCluster::start(microkafka_mock_broker::Config {
            group_min_session_timeout: Duration::from_millis(500),
            ..microkafka_mock_broker::Config::with_brokers(3)
        })
        .await
        .unwrap(),
    );
    c.create_topic(topic, PARTITIONS).unwrap();
    let n = messages();
    let brokers = c.bootstrap_servers();
    let writer = Writer::new(WriterConfig {
        balancer: BalancerKind::Hash,
        ..WriterConfig::new(&[&brokers], topic)
    })
    .unwrap();
    let (keys, values): (Vec<Vec<u8>>, Vec<Vec<u8>>) = (0..n).map(|i| (key(i), value(i))).unzip();
    for (ks, vs) in keys.chunks(10 * CHUNK).zip(values.chunks(10 * CHUNK)) {
        let msgs: Vec<Message<'_>> = ks
            .iter()
            .zip(vs)
            .map(|(k, v)| Message::new(v).with_key(k))
            .collect();
        writer.write_messages(&msgs).await.unwrap();
    }
    writer.close().await.unwrap();

    let run = Arc::new(GroupRun {
        n,
        deliveries: Mutex::new(Vec::with_capacity(n + n / 10)),
        distinct: Mutex::new((vec![false; n], 0)),
        done: AtomicBool::new(false),
        errors: AtomicU64::new(0),
    });
    let mut members = Members {
        run: run.clone(),
        brokers,
        group: format!("{topic}-group"),
        topic: topic.to_owned(),
        live: Default::default(),
        next_id: 0,
    };
    let started = Instant::now();
    for _ in 0..3 {
        members.join();
    }
    let deadline = started + Duration::from_secs(120);
    let mut fired = 0;
    while !run.done.load(Ordering::Acquire) && Instant::now() < deadline {
        tokio::time::sleep(period).await;
        if !run.done.load(Ordering::Acquire) {
            disturb(&c, &mut members, fired).await;
            fired += 1;
        }
    }
    let time = started.elapsed();
    heal(&c);
    for m in members.live.drain(..) {
        m.leave().await;
    }
    let deliveries = std::mem::take(&mut *run.deliveries.lock().unwrap());
    let check = check_deliveries(&deliveries, n);
    let generations: std::collections::BTreeSet<i32> =
        deliveries.iter().map(|d| d.generation.1).collect();
    Row {
        fault,
        client: "group Reader",
        messages: n,
        fired,
        lost: check.lost + check.skipped,
        duplicated: check.redelivered,
        order_kept: check.order_kept,
        retries: format!(
            "{} read errors, {} generations, window {} ms",
            run.errors.load(Ordering::Relaxed),
            generations.len(),
            check.widest_window.as_millis()
        ),
        failed: 0,
        outside_window: Some(check.outside_window),
        time,
    }
}

/// What the deliveries of a group row show.
#[derive(Debug, Default)]
struct GroupCheck {
    /// Messages never delivered.
    lost: usize,
    /// Deliveries that jumped past offsets nobody had delivered yet.
    skipped: usize,
    /// Deliveries of a message delivered before (inside the window).
    redelivered: usize,
    /// Redeliveries outside the uncommitted window (see the module's doc).
    outside_window: usize,
    /// Each member read each partition in offset order within a
    /// generation.
    order_kept: bool,
    /// The longest time between a redelivered message's first delivery
    /// and its first owner's last delivery of the partition.
    widest_window: Duration,
}

fn check_deliveries(deliveries: &[Delivery], n: usize) -> GroupCheck {
    let mut check = GroupCheck {
        order_kept: true,
        ..Default::default()
    };
    // Per partition: the offsets delivered so far (by anyone), and the
    // first delivery of each.
    let mut delivered: HashMap<i32, BTreeMap<i64, usize>> = HashMap::new();
    // Per (member, partition): its last delivery.
    let mut last: HashMap<(usize, i32), usize> = HashMap::new();
    let mut seen = vec![false; n];
    for (k, d) in deliveries.iter().enumerate() {
        seen[d.index] = true;
        let offsets = delivered.entry(d.partition).or_default();
        if let Some(&prev) = last.get(&(d.member, d.partition)) {
            let p = &deliveries[prev];
            if d.offset > p.offset + 1 {
                // Skipped ahead: fine only if others delivered the gap
                // already (the partition went away and came back).
                let covered = offsets.range(p.offset + 1..d.offset).count() as i64;
                if covered != d.offset - p.offset - 1 {
                    check.skipped += 1;
                }
            } else if d.offset <= p.offset && p.generation.0 == d.generation.1 {
                // Back in the same generation: no hand-over explains it.
                check.order_kept = false;
            }
        }
        match offsets.get(&d.offset) {
            None => {
                offsets.insert(d.offset, k);
            }
            Some(&first) => {
                check.redelivered += 1;
                let f = &deliveries[first];
                // The first owner's last delivery of the partition before
                // this one: the message was read at most the window before.
                let owner_last = deliveries[..k]
                    .iter()
                    .rev()
                    .find(|x| x.member == f.member && x.partition == d.partition)
                    .map_or(f.at, |x| x.at);
                let window = owner_last.saturating_duration_since(f.at);
                check.widest_window = check.widest_window.max(window);
                let handed_over = f.member != d.member || f.generation.0 != d.generation.1;

                if !handed_over || window > COMMIT_INTERVAL + WINDOW_SLACK {
                    check.outside_window += 1;
                }
            }
        }
        last.insert((d.member, d.partition), k);
    }
    check.lost = seen.iter().filter(|s| !**s).count();
    check
}

async fn group_coordinator_moved() -> Row {
    consume_under(
        "coordinator moved",
        "coordinator",
        Duration::from_millis(150),
        async |c: &MockCluster, m: &mut Members, k: usize| {
            c.move_coordinator(&m.group, k as i32 % 3 + 1).unwrap();
        },
    )
    .await
}

async fn group_rebalance_mid_consume() -> Row {
    consume_under(
        "rebalance mid-consume (members join and leave)",
        "rebalance",
        Duration::from_millis(300),
        async |_: &MockCluster, m: &mut Members, k: usize| match k % 2 {
            0 => m.join(),
            _ => {
                if let Some(oldest) = m.live.pop_front() {
                    oldest.leave().await;
                }
            }
        },
    )
    .await
}

async fn group_member_crashed() -> Row {
    consume_under(
        "member crashed (no commit, no LeaveGroup), another joins",
        "crash",
        Duration::from_millis(1200),
        async |_: &MockCluster, m: &mut Members, _| {
            if let Some(oldest) = m.live.pop_front() {
                oldest.crash();
            }
            m.join();
        },
    )
    .await
}

async fn group_connections_dropped() -> Row {
    consume_under(
        "connections dropped (fetch, commit, heartbeat, all)",
        "group-drop",
        Duration::from_millis(100),
        async |c: &MockCluster, _: &mut Members, k: usize| match k % 4 {
            0 => c.inject(Fault::disconnect(ApiKey::OffsetCommit, 1)),
            1 => c.inject(Fault::disconnect(ApiKey::Heartbeat, 1)),
            2 => c.inject(Fault::disconnect(ApiKey::Fetch, 1)),
            _ => c.drop_all_connections(),
        },
    )
    .await
}

const HEADER: &str = "| fault | client | messages | fired | lost | duplicated | order kept | retries | time |\n|---|---|---|---|---|---|---|---|---|";

/// Every row, one after the other (each on its own cluster), then the
/// table; fails if any row lost, duplicated or reordered a message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix() {
    println!("{HEADER}");
    let mut rows = Vec::new();
    // MICROKAFKA_FAULT_MATRIX_ROWS=rebalance runs only the rows whose
    // function names contain it.
    let only = std::env::var("MICROKAFKA_FAULT_MATRIX_ROWS").unwrap_or_default();
    macro_rules! row {
        ($f:ident) => {{
            if stringify!($f).contains(only.as_str()) {
                // Boxed: the rows inline make a future too big for a test
                // thread's stack.
                let row = Box::pin($f()).await;
                row.print();
                rows.push(row);
            }
        }};
    }
    row!(writer_connection_dropped_mid_request);
    row!(writer_response_lost_after_apply);
    row!(writer_not_leader_and_leader_moved);
    row!(writer_broker_down_then_up);
    row!(writer_request_timeout);
    row!(writer_throttled);
    row!(writer_sequence_errors);
    row!(writer_storage_errors);
    row!(group_coordinator_moved);
    row!(group_rebalance_mid_consume);
    row!(group_member_crashed);
    row!(group_connections_dropped);
    println!("\n{HEADER}");
    for row in &rows {
        row.print();
    }
    for row in &rows {
        row.assert_clean();
    }
}
