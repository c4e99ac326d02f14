//! Exactly-once end to end, on the mock broker (the default) and on real
//! Apache Kafka (`MICROKAFKA_TARGET=kafka`, see [`microkafka_tests::target`]):
//!
//! - consume-transform-produce over 100,000 messages: a group Reader
//!   (read_committed, static member) on the input topic, a
//!   [`TransactionalWriter`] writing each message transformed to the output
//!   topic with the input offsets committed in the same transaction. The
//!   processing task is killed at random moments and restarted (the new
//!   instance, with the same transactional id, fences the old one and its
//!   open transaction is aborted); once the old instance is kept alive as a
//!   zombie, whose commit must fail; one transaction is aborted on
//!   purpose. On the mock broker a chaos task also drops connections,
//!   moves the transaction and group coordinators and partition leaders,
//!   and injects coordinator and produce errors at random times. A
//!   read_committed reader of the output sees every input exactly once, in
//!   order per key.
//! - a topic written by librdkafka's transactional producer (confluent-kafka,
//!   committed and aborted transactions interleaved): microkafka's
//!   read_committed Reader gets no aborted record, its read_uncommitted
//!   Reader all of them.
//!
//! ```sh
//! cargo test -p microkafka-tests --test transactions -- --nocapture          # mock broker
//! .ci/kafka start single
//! env MICROKAFKA_TARGET=kafka $(.ci/kafka env) cargo test -p microkafka-tests --test transactions -- --nocapture
//! ```
//! `MICROKAFKA_CTP_SEED=n` replays one run's random choices (printed).

use std::collections::{BTreeMap, HashMap};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use microkafka_core::protocol::ApiKey;
use microkafka_core::ErrorCode;
use microkafka_mock_broker::{Fault, MockCluster};
use microkafka_std::{
    BalancerKind, Compression, Error, ErrorKind, Message, Reader, ReaderConfig,
    TransactionalConfig, TransactionalWriter, Writer, WriterConfig,
};
use microkafka_tests::{Target, Topology, MIN_SESSION_TIMEOUT};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const MESSAGES: usize = 100_000;
const KEYS: usize = 97;
const INPUT_PARTITIONS: i32 = 4;
const OUTPUT_PARTITIONS: i32 = 4;
/// Most input messages one transaction takes.
const TXN_MAX: usize = 1_000;
/// Processing instances killed at a random moment.
const KILLS: usize = 3;

// ------------------------------------------------------------- randomness

/// xorshift64*: the run's random choices, replayable from its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn seed() -> u64 {
    std::env::var("MICROKAFKA_CTP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
        })
}

// ---------------------------------------------------------------- the run

/// Names of one run.
#[derive(Clone, Debug)]
struct Names {
    brokers: String,
    input: String,
    output: String,
    group: String,
    transactional_id: String,
}

/// What the processing instances and the harness count.
#[derive(Debug, Default)]
struct Tally {
    committed: AtomicU64,
    aborted_on_purpose: AtomicU64,
    aborted_after_error: AtomicU64,
    commit_timeouts: AtomicU64,
    produce_retries: AtomicU64,
    coordinator_retries: AtomicU64,
}

/// How one processing instance ended.
enum Exit {
    /// Told to stop: every input is in the output.
    Stopped,
    /// Left alive as a zombie, in the middle of a transaction.
    Zombie(Box<TransactionalWriter>),
}

/// Shared by the instances: what they are told and what they count.
struct Pipeline {
    names: Names,
    tally: Tally,
    stop: AtomicBool,
    /// Transactions begun, over all instances (numbers the plan's choices).
    begun: AtomicU64,
    /// From which transaction one is aborted on purpose, and one left to
    /// a zombie.
    abort_at: u64,
    zombie_at: u64,
    /// The zombie was left.
    zombie_left: AtomicBool,
    /// The last instance whose `init_transactions` returned.
    initialized: watch::Sender<u32>,
}

fn input_reader(names: &Names) -> Reader {
    Reader::new(ReaderConfig {
        read_committed: true,
        // A restarted instance takes its predecessor's place at once
        // (static membership), instead of waiting out its session.
        group_instance_id: Some("ctp-instance".to_owned()),
        session_timeout: MIN_SESSION_TIMEOUT,
        heartbeat_interval: Duration::from_millis(500),
        max_wait: Duration::from_millis(100),
        ..ReaderConfig::group(&[&names.brokers], &names.group, &[&names.input])
    })
    .expect("input reader")
}

fn transactional_writer(names: &Names) -> TransactionalWriter {
    let mut config =
        TransactionalConfig::new(&[&names.brokers], &names.output, &names.transactional_id);
    config.writer.balancer = BalancerKind::Hash;
    config.writer.compression = Compression::Lz4;
    config.writer.batch_size = 500;
    config.writer.write_backoff_min = Duration::from_millis(10);
    config.writer.write_backoff_max = Duration::from_millis(200);
    config.writer.max_attempts = 20;
    config.transaction_timeout = Duration::from_secs(20);
    config.max_block = Duration::from_secs(30);
    TransactionalWriter::new(config).expect("transactional writer")
}

/// One processing instance: consume, transform, produce, commit, until
/// told to stop (or left as a zombie).
async fn process(p: Arc<Pipeline>, instance: u32) -> Exit {
    let mut w = transactional_writer(&p.names);
    let mut attempts = 0;
    loop {
        attempts += 1;
        match w.init_transactions().await {
            Ok(()) => break,
            Err(e) if e.is_timeout() && attempts < 5 => continue,
            Err(e) => panic!("instance {instance}: init_transactions: {e}"),
        }
    }
    p.initialized.send_replace(instance);
    let mut reader = input_reader(&p.names);
    loop {
        if p.stop.load(Ordering::Acquire) {
            let _ = reader.close().await;
            let _ = w.close().await;
            return Exit::Stopped;
        }
        // Consume up to TXN_MAX messages (fewer when the input pauses).
        let mut taken: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut offsets: BTreeMap<(String, i32), i64> = BTreeMap::new();
        while taken.len() < TXN_MAX {
            let poll = Duration::from_millis(if taken.is_empty() { 500 } else { 50 });
            match tokio::time::timeout(poll, reader.fetch_message()).await {
                Ok(Ok(m)) => {
                    let key = m.key.unwrap_or_default().to_vec();
                    let mut value = m.value.unwrap_or_default().to_vec();
                    value.extend_from_slice(format!("@{}:{}", m.partition, m.offset).as_bytes());
                    offsets.insert((m.topic.to_owned(), m.partition), m.offset + 1);
                    taken.push((key, value));
                }
                // The Reader retries in the background; a fault it met
                // comes out here.
                Ok(Err(e)) => {
                    assert!(!e.is_fatal(), "instance {instance}: input: {e}");
                    break;
                }
                Err(_) => break,
            }
        }
        if taken.is_empty() {
            continue;
        }
        let n = p.begun.fetch_add(1, Ordering::AcqRel);
        w.begin_transaction()
            .unwrap_or_else(|e| panic!("instance {instance}: begin: {e}"));
        let messages: Vec<Message<'_>> = taken
            .iter()
            .map(|(k, v)| Message::new(v).with_key(k))
            .collect();
        let offsets: Vec<(&str, i32, i64)> = offsets
            .iter()
            .map(|((t, p), o)| (t.as_str(), *p, *o))
            .collect();
        let group = reader.group_metadata().expect("a group reader");
        let sent = async {
            for chunk in messages.chunks(250) {
                w.write_messages(chunk).await?;
            }
            w.send_offsets_to_transaction(&offsets, &group).await
        }
        .await;
        let outcome = match sent {
            Ok(()) if n >= p.zombie_at && !p.zombie_left.swap(true, Ordering::AcqRel) => {
                // Abandoned mid-transaction, alive: the harness starts the
                // next instance, then checks this one is fenced.
                drop(reader);
                return Exit::Zombie(Box::new(w));
            }
            // The first transaction from `abort_at` on that gets here (an
            // instance killed in its abort leaves it to the next).
            Ok(())
                if n >= p.abort_at && p.tally.aborted_on_purpose.load(Ordering::Acquire) == 0 =>
            {
                w.abort_transaction()
                    .await
                    .unwrap_or_else(|e| panic!("instance {instance}: abort: {e}"));
                p.tally.aborted_on_purpose.fetch_add(1, Ordering::Relaxed);
                Err(None)
            }
            Ok(()) => commit(&mut w, &p.tally).await,
            Err(e) => Err(Some(e)),
        };
        let stats = w.stats();
        p.tally
            .produce_retries
            .fetch_max(stats.produce_retries, Ordering::Relaxed);
        p.tally
            .coordinator_retries
            .fetch_max(stats.coordinator_retries, Ordering::Relaxed);
        match outcome {
            Ok(()) => {
                p.tally.committed.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                if let Some(e) = e {
                    assert!(e.is_abortable(), "instance {instance}: {e}");
                    w.abort_transaction()
                        .await
                        .unwrap_or_else(|e| panic!("instance {instance}: abort: {e}"));
                    p.tally.aborted_after_error.fetch_add(1, Ordering::Relaxed);
                }
                // Rewind the input to the committed offsets: a new Reader
                // takes the static member's place and starts from them.
                drop(reader);
                reader = input_reader(&p.names);
            }
        }
    }
}

/// Commits, calling again after a timeout (a commit stays a commit).
async fn commit(w: &mut TransactionalWriter, tally: &Tally) -> Result<(), Option<Error>> {
    for _ in 0..5 {
        match w.commit_transaction().await {
            Err(e) if matches!(e.kind(), ErrorKind::Timeout) => {
                tally.commit_timeouts.fetch_add(1, Ordering::Relaxed);
            }
            other => return other.map_err(Some),
        }
    }
    panic!("the commit timed out 5 times")
}

/// A zombie's end: its transaction was aborted when the next instance
/// started; committing fails, fatally (PRODUCER_FENCED from the
/// coordinator), or first as abortable (a batch refused with
/// INVALID_PRODUCER_EPOCH) and then fatally at the abort.
async fn check_fenced(mut zombie: Box<TransactionalWriter>) -> Error {
    match zombie.commit_transaction().await {
        Ok(()) => panic!("a fenced producer committed"),
        Err(e) if e.is_fatal() => e,
        Err(e) if e.is_abortable() => {
            let e = zombie
                .abort_transaction()
                .await
                .expect_err("a fenced producer aborted");
            assert!(e.is_fatal(), "{e}");
            e
        }
        Err(e) => panic!("the zombie's commit failed with {e}, not fenced"),
    }
}

/// Faults the mock broker injects while the pipeline runs, by kind.
#[derive(Debug, Default)]
struct Chaos {
    fired: BTreeMap<&'static str, u32>,
}

/// Fires a random fault every 50-300 ms until `stop`.
async fn chaos(c: &MockCluster, names: &Names, rng: &Mutex<Rng>, stop: &AtomicBool) -> Chaos {
    let mut out = Chaos::default();
    let node = |r: &mut Rng| 1 + r.below(3) as i32;
    while !stop.load(Ordering::Acquire) {
        let (wait, pick, a, b) = {
            let mut r = rng.lock().unwrap();
            (
                50 + r.below(250),
                r.below(10),
                node(&mut r),
                r.below(4) as i32,
            )
        };
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let kind = match pick {
            0 => {
                c.drop_all_connections();
                "connections dropped"
            }
            1 => {
                c.move_coordinator(&names.transactional_id, a).unwrap();
                "transaction coordinator moved"
            }
            2 => {
                c.move_coordinator(&names.group, a).unwrap();
                "group coordinator moved"
            }
            3 => {
                c.move_leader(&names.output, b % OUTPUT_PARTITIONS, a)
                    .unwrap();
                "output leader moved"
            }
            4 => {
                c.inject(Fault::error(
                    ApiKey::EndTxn,
                    ErrorCode::COORDINATOR_NOT_AVAILABLE,
                ));
                "EndTxn COORDINATOR_NOT_AVAILABLE"
            }
            5 => {
                c.inject(Fault::errors(
                    ApiKey::AddPartitionsToTxn,
                    [
                        ErrorCode::NOT_COORDINATOR,
                        ErrorCode::CONCURRENT_TRANSACTIONS,
                    ],
                ));
                "AddPartitionsToTxn NOT_COORDINATOR"
            }
            6 => {
                c.inject(Fault::lose_response(ApiKey::Produce, 1));
                "Produce answer lost"
            }
            7 => {
                c.inject(Fault::errors(
                    ApiKey::Produce,
                    [ErrorCode::NOT_LEADER_OR_FOLLOWER; 2],
                ));
                "Produce NOT_LEADER_OR_FOLLOWER"
            }
            8 => {
                c.inject(Fault::disconnect(ApiKey::TxnOffsetCommit, 1));
                "TxnOffsetCommit connection dropped"
            }
            _ => {
                c.inject(Fault::lose_response(ApiKey::EndTxn, 1));
                "EndTxn answer lost"
            }
        };
        *out.fired.entry(kind).or_default() += 1;
    }
    c.clear_faults();
    out
}

/// Reads the output with partition Readers (read_committed unless
/// `uncommitted`) as it is written, until `MESSAGES` arrived and nothing
/// more came for `quiet`. Returns the values per partition, in offset
/// order.
async fn read_output(
    names: &Names,
    uncommitted: bool,
    done: &AtomicBool,
    quiet: Duration,
) -> Vec<Vec<String>> {
    let seen = Arc::new(AtomicU64::new(0));
    let mut tasks: Vec<JoinHandle<Vec<String>>> = Vec::new();
    let all_in = Arc::new(AtomicBool::new(false));
    for partition in 0..OUTPUT_PARTITIONS {
        let mut reader = Reader::new(ReaderConfig {
            read_committed: !uncommitted,
            max_wait: Duration::from_millis(100),
            ..ReaderConfig::new(&[&names.brokers], &names.output, partition)
        })
        .unwrap();
        let (seen, all_in) = (seen.clone(), all_in.clone());
        tasks.push(tokio::spawn(async move {
            let mut values = Vec::new();
            let mut quiet_since: Option<Instant> = None;
            loop {
                match tokio::time::timeout(Duration::from_millis(100), reader.fetch_message()).await
                {
                    Ok(Ok(m)) => {
                        quiet_since = None;
                        values.push(String::from_utf8(m.value.unwrap().to_vec()).unwrap());
                        seen.fetch_add(1, Ordering::AcqRel);
                    }
                    Ok(Err(e)) => assert!(!e.is_fatal(), "output reader: {e}"),
                    Err(_) => {}
                }
                if all_in.load(Ordering::Acquire) {
                    let since = *quiet_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= quiet {
                        return values;
                    }
                }
            }
        }));
    }
    while seen.load(Ordering::Acquire) < MESSAGES as u64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done.store(true, Ordering::Release);
    all_in.store(true, Ordering::Release);
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// `k<key>:<seq>` → (key, seq).
fn parse(value: &str) -> (usize, usize) {
    let body = value.split('@').next().unwrap();
    let (k, seq) = body.split_once(':').unwrap();
    (k[1..].parse().unwrap(), seq.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consume_transform_produce_exactly_once() {
    let started = Instant::now();
    let t = Target::start(Topology::Single).await;
    let seed = seed();
    println!(
        "target: {}; seed {seed} (MICROKAFKA_CTP_SEED)",
        t.describe()
    );
    let rng = Arc::new(Mutex::new(Rng::new(seed)));
    let names = Names {
        brokers: t.bootstrap_servers(),
        input: t.unique("ctp-in"),
        output: t.unique("ctp-out"),
        group: t.unique("ctp-group"),
        transactional_id: t.unique("ctp-txn"),
    };
    t.create_topic(&names.input, INPUT_PARTITIONS).await;
    t.create_topic(&names.output, OUTPUT_PARTITIONS).await;

    // The input: keyed, with a sequence number per key.
    let input = Writer::new(WriterConfig {
        balancer: BalancerKind::Hash,
        compression: Compression::Lz4,
        batch_size: 2_000,
        ..WriterConfig::new(&[&names.brokers], &names.input)
    })
    .unwrap();
    let mut next_seq = vec![0usize; KEYS];
    let mut keys = Vec::with_capacity(MESSAGES);
    let mut values = Vec::with_capacity(MESSAGES);
    for i in 0..MESSAGES {
        let k = (i * 31 + i / 7) % KEYS;
        keys.push(format!("k{k}"));
        values.push(format!("k{k}:{}", next_seq[k]));
        next_seq[k] += 1;
    }
    for (ks, vs) in keys.chunks(10_000).zip(values.chunks(10_000)) {
        let messages: Vec<Message<'_>> = ks
            .iter()
            .zip(vs)
            .map(|(k, v)| Message::new(v.as_bytes()).with_key(k.as_bytes()))
            .collect();
        input.write_messages(&messages).await.unwrap();
    }
    input.close().await.unwrap();
    let written = started.elapsed();

    let (abort_at, zombie_at) = {
        let mut r = rng.lock().unwrap();
        (3 + r.below(10), 20 + r.below(20))
    };
    let (initialized, mut init_rx) = watch::channel(0u32);
    let p = Arc::new(Pipeline {
        names: names.clone(),
        tally: Tally::default(),
        stop: AtomicBool::new(false),
        begun: AtomicU64::new(0),
        abort_at,
        zombie_at,
        zombie_left: AtomicBool::new(false),
        initialized,
    });
    let chaos_stop = AtomicBool::new(false);
    // On the mock broker, faults at random moments, beside the harness.
    let chaos_run = async {
        match t.mock() {
            Some(c) => Some(chaos(c, &names, &rng, &chaos_stop).await),
            None => None,
        }
    };

    // The harness: instances run one at a time; some are killed at a
    // random moment, one is left as a zombie.
    let harness = async {
        let output_done = Arc::new(AtomicBool::new(false));
        let reading = {
            let (names, done) = (names.clone(), output_done.clone());
            tokio::spawn(
                async move { read_output(&names, false, &done, Duration::from_secs(2)).await },
            )
        };
        let mut kills = 0;
        let mut fenced: Vec<String> = Vec::new();
        let mut zombie: Option<Box<TransactionalWriter>> = None;
        let mut instance = 0u32;
        let deadline = Instant::now() + Duration::from_secs(if t.is_kafka() { 150 } else { 300 });
        loop {
            instance += 1;
            let mut task = tokio::spawn(process(p.clone(), instance));
            if let Some(z) = zombie.take() {
                // Once the new instance has the transactional id, the
                // zombie is fenced.
                while *init_rx.borrow_and_update() < instance {
                    tokio::time::timeout(Duration::from_secs(60), init_rx.changed())
                        .await
                        .expect("the next instance initialized")
                        .unwrap();
                }
                let e = check_fenced(z).await;
                fenced.push(e.to_string());
            }
            // Killed 50-650 ms after it initialized: a few transactions in.
            let kill_after = (kills < KILLS).then(|| {
                let mut r = rng.lock().unwrap();
                Duration::from_millis(50 + r.below(600))
            });
            let ended = tokio::select! {
                ended = &mut task => Some(ended.expect("a processing instance panicked")),
                _ = kill_timer(init_rx.clone(), instance, kill_after) => None,
                // Not before every kill happened: on a fast machine the
                // input can be done before the last kill timer fires, and
                // that instance is then killed idle, between transactions.
                _ = until_done(&output_done), if kills >= KILLS => {
                    p.stop.store(true, Ordering::Release);
                    Some((&mut task).await.expect("the last instance panicked"))
                }
            };
            let ended = match ended {
                Some(ended) => Some(ended),
                None => {
                    // Killed wherever it was: between transactions, in
                    // one, or in the middle of its commit. (Unless it had
                    // just ended: a zombie is still a zombie.)
                    task.abort();
                    match task.await {
                        Ok(Exit::Zombie(w)) => Some(Exit::Zombie(w)),
                        _ => None,
                    }
                }
            };
            match ended {
                None => kills += 1,
                Some(Exit::Zombie(w)) => zombie = Some(w),
                Some(Exit::Stopped) => break,
            }
            assert!(Instant::now() < deadline, "not done in time: {:?}", p.tally);
        }
        let output = reading.await.unwrap();
        chaos_stop.store(true, Ordering::Release);
        (instance, kills, fenced, output)
    };
    let ((instance, kills, fenced, output), chaos) = tokio::join!(harness, chaos_run);

    // Every input exactly once, in order per key.
    let mut per_key: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut total = 0;
    for values in &output {
        for v in values {
            let (k, seq) = parse(v);
            per_key.entry(k).or_default().push(seq);
            total += 1;
        }
    }
    for (k, seqs) in &per_key {
        let expected: Vec<usize> = (0..next_seq[*k]).collect();
        assert!(
            *seqs == expected,
            "key k{k}: {} values, {} expected; first difference at {:?}",
            seqs.len(),
            expected.len(),
            seqs.iter().zip(&expected).position(|(a, b)| a != b)
        );
    }
    assert_eq!(total, MESSAGES, "output records");
    // The log holds the aborted transactions' records too (killed
    // instances', the zombie's, the one aborted on purpose): without the
    // read_committed filter the checks above would see them.
    let everything = read_output(
        &names,
        true,
        &AtomicBool::new(false),
        Duration::from_secs(1),
    )
    .await;
    let uncommitted: usize = everything.iter().map(Vec::len).sum();
    assert!(
        uncommitted > MESSAGES,
        "read_uncommitted sees {uncommitted} records: no aborted ones in the log"
    );
    assert_eq!(per_key.len(), KEYS);
    assert_eq!(kills, KILLS, "instances killed (seed {seed})");
    assert_eq!(fenced.len(), 1, "zombies fenced");
    assert_eq!(p.tally.aborted_on_purpose.load(Ordering::Relaxed), 1);
    if let Some(c) = t.mock() {
        for partition in 0..INPUT_PARTITIONS {
            let (_, end) = c.offsets(&names.input, partition).unwrap();
            assert_eq!(
                c.committed_offset(&names.group, &names.input, partition),
                Some(end),
                "the group's committed offset of input partition {partition}"
            );
        }
    }
    println!(
        "consume-transform-produce on {}: {MESSAGES} messages ({KEYS} keys, {INPUT_PARTITIONS} -> \
         {OUTPUT_PARTITIONS} partitions) exactly once, in order per key, in {:.1} s (input \
         written in {:.1} s); {} instances, {kills} killed at random moments, 1 zombie fenced \
         ({}); transactions committed {}, aborted on purpose {}, aborted after an error {}; \
         read_uncommitted sees {uncommitted} records (aborted ones included); \
         commit timeouts {}; produce retries {}, coordinator retries {} (last instance); \
         faults: {:?}",
        t.describe(),
        started.elapsed().as_secs_f64(),
        written.as_secs_f64(),
        instance,
        fenced[0],
        p.tally.committed.load(Ordering::Relaxed),
        p.tally.aborted_on_purpose.load(Ordering::Relaxed),
        p.tally.aborted_after_error.load(Ordering::Relaxed),
        p.tally.commit_timeouts.load(Ordering::Relaxed),
        p.tally.produce_retries.load(Ordering::Relaxed),
        p.tally.coordinator_retries.load(Ordering::Relaxed),
        chaos.map(|c| c.fired).unwrap_or_default(),
    );
}

/// Ends `after` instance `instance` initialized; never without `after`.
async fn kill_timer(mut initialized: watch::Receiver<u32>, instance: u32, after: Option<Duration>) {
    let Some(after) = after else {
        return std::future::pending().await;
    };
    while *initialized.borrow_and_update() < instance {
        if initialized.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
    tokio::time::sleep(after).await;
}

async fn until_done(done: &AtomicBool) {
    while !done.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------- librdkafka's producer

/// Runs `script` (under mock-broker/tests/) with python3, at most `limit`.
fn python(script: &str, args: &[&str], limit: Duration) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../mock-broker/tests/");
    let mut child = Command::new("python3")
        .arg(format!("{path}{script}"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (with confluent-kafka: .ci/setup installs it)");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                status.success(),
                "{script} failed: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            return stdout;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("{script} took more than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// librdkafka's transactional producer writes committed and aborted
/// transactions interleaved over two partitions; microkafka's
/// read_committed Reader returns exactly the committed records (none of
/// the aborted ones), its read_uncommitted Reader all of them, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_transactions_read_by_microkafka() {
    const TXNS: usize = 8;
    const PER_PARTITION: usize = 3; // as in transactional_producer.py
    const PARTITIONS: i32 = 2;
    let t = Target::start(Topology::Single).await;
    let topic = t.unique("rdkafka-txn");
    t.create_topic(&topic, PARTITIONS).await;
    let brokers = t.bootstrap_servers();
    let group = t.unique("rdkafka-txn-group");
    let args: Vec<String> = vec![
        brokers.clone(),
        topic.clone(),
        PARTITIONS.to_string(),
        group,
        TXNS.to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        python("transactional_producer.py", &args, Duration::from_secs(180))
    })
    .await
    .unwrap();
    assert!(out.lines().any(|l| l == "DONE"), "{out}");
    for partition in 0..PARTITIONS {
        let expect = |aborted_too: bool| -> Vec<String> {
            let mut v = Vec::new();
            for txn in 0..TXNS {
                let commit = txn % 2 == 0;
                if commit || aborted_too {
                    let tag = if commit { "c" } else { "a" };
                    v.extend((0..PER_PARTITION).map(|k| format!("{tag}{txn}-{partition}-{k}")));
                }
            }
            v
        };
        for committed in [true, false] {
            let want = expect(!committed);
            let mut reader = Reader::new(ReaderConfig {
                read_committed: committed,
                max_wait: Duration::from_millis(100),
                ..ReaderConfig::new(&[&brokers], &topic, partition)
            })
            .unwrap();
            let mut got = Vec::new();
            while got.len() < want.len() {
                let m = tokio::time::timeout(Duration::from_secs(20), reader.fetch_message())
                    .await
                    .unwrap_or_else(|_| panic!("{partition}: only {got:?}"))
                    .unwrap();
                got.push(String::from_utf8(m.value.unwrap().to_vec()).unwrap());
            }
            // Nothing after (the markers are not records).
            let extra =
                tokio::time::timeout(Duration::from_millis(700), reader.fetch_message()).await;
            assert!(
                extra.is_err(),
                "partition {partition}: a record after {got:?}"
            );
            let isolation = if committed {
                "read_committed"
            } else {
                "read_uncommitted"
            };
            assert_eq!(got, want, "{isolation}, partition {partition}");
            reader.close().await.unwrap();
        }
    }
    println!(
        "librdkafka's transactional producer on {}: {TXNS} transactions (half aborted) read back \
         by microkafka: read_committed {} records, read_uncommitted {}",
        t.describe(),
        TXNS.div_ceil(2) * PER_PARTITION * PARTITIONS as usize,
        TXNS * PER_PARTITION * PARTITIONS as usize
    );
}
