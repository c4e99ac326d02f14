//! The client under hostile brokers: answers whose size prefix claims huge
//! sizes or whose inner lengths lie, brokers that accept and never answer
//! (ApiVersions included), answers with a wrong correlation id, and answers
//! trickled a byte at a time.
//!
//! For every public entry point (`Conn`, `Writer`, partition and group
//! `Reader`, admin `Client`) each scenario checks what a user relies on:
//!
//! - the call returns an error, never hangs, within the timeout it was
//!   configured with (plus a margin; see [`Op::bound`] for each call);
//! - the client's memory stays bounded: no single allocation grows with
//!   what a broker claims (a counting global allocator measures the
//!   client's thread only);
//! - a connection the client gave up on is closed at once (the broker sees
//!   it closed while the client is still alive), and after a wrong
//!   correlation id a retry on a fresh connection works;
//! - after `close`/drop no task of the client is left on its runtime (each
//!   scenario runs on a runtime of its own, counted with tokio's runtime
//!   metrics) and the broker sees every connection closed.
//!
//! The broker is microkafka's mock cluster driven through its sans-IO API
//! on plain threads (not on the client's runtime), with the hostile
//! behaviour applied to the answers of one API (or all of them).
#![allow(unsafe_code)] // the counting allocator: GlobalAlloc is an unsafe trait

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::io::{ErrorKind as IoErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use microkafka_core::protocol::{ApiKey, RequestHeader};
use microkafka_core::wire::Reader as WireReader;
use microkafka_mock_broker::{Cluster, Config, Outcome};
use microkafka_std::{
    Client, ClientConfig, Dialer, Error, Message, ReadBatchConfig, Reader, ReaderConfig,
    TopicConfig, Writer, WriterConfig,
};

// ---------------------------------------------------------------------------
// Memory: the largest single allocation made by the client's thread.

/// Counts per meter; meter 0 counts nothing.
const METERS: usize = 1024;
static LARGEST: [AtomicUsize; METERS] = [const { AtomicUsize::new(0) }; METERS];
static NEXT_METER: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    static METER: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let meter = METER.try_with(Cell::get).unwrap_or(0);
    if meter != 0 {
        LARGEST[meter].fetch_max(size, Ordering::Relaxed);
    }
}

struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; the
// wrapper only notes sizes (without allocating).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The most one allocation of the client may take in any scenario: its
/// own buffers (64 KiB reads, 16 KiB writes, the Reader's decompression
/// buffer, set to 64 KiB here) fit many times; what brokers claim (64 MiB
/// and more) does not.
const MEMORY_LIMIT: usize = 4 << 20;

// ---------------------------------------------------------------------------
// The hostile broker.

/// What the broker does with an answer.
#[derive(Clone, Debug)]
enum Act {
    /// The real answer.
    Pass,
    /// Nothing, and nothing more on this connection (it stays open and its
    /// requests are still read).
    Silence,
    /// The real answer with the correlation id plus one.
    WrongCorrelationId,
    /// The real answer, one byte per interval.
    Trickle(Duration),
    /// A size prefix claiming this many bytes, the correlation id and a few
    /// bytes, then silence.
    Claim(u32),
    /// A frame of the right size whose body, after the correlation id, is
    /// `7f ff ff ff` over and over: every length and count in it claims
    /// about 2^31 (as an int32 or a varint).
    Lie,
}

/// Which answers an [`Arm`] spoils.
#[derive(Clone, Copy, Debug)]
enum Target {
    Api(ApiKey),
    AllButApiVersions,
}

#[derive(Clone, Debug)]
struct Arm {
    target: Target,
    act: Act,
    /// Only the first answer matching is spoiled; the broker behaves after.
    first_only: bool,
}

impl Arm {
    fn matches(&self, api: ApiKey) -> bool {
        match self.target {
            Target::Api(a) => a == api,
            Target::AllButApiVersions => api != ApiKey::ApiVersions,
        }
    }
}

enum Out {
    Handled {
        seq: u64,
        act: Act,
        outcome: Outcome,
    },
    Completed {
        seq: u64,
        frame: Vec<u8>,
    },
}

struct State {
    cluster: Mutex<Cluster>,
    arm: Mutex<Option<Arm>>,
    routes: Mutex<HashMap<u64, mpsc::Sender<Out>>>,
    /// Connections the broker sees open.
    open: AtomicUsize,
    /// Open connections that got a spoiled answer.
    spoiled_open: AtomicUsize,
    stop: AtomicBool,
}

/// Stack of every thread of these tests (debug builds of the client's
/// futures and of the mock cluster are deep).
const STACK: usize = 32 << 20;

fn spawn(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .unwrap();
}

/// Runs a test's body on a thread with a [`STACK`] of its own.
fn on_big_stack(f: fn()) {
    let t = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .unwrap();
    if let Err(panic) = t.join() {
        std::panic::resume_unwind(panic);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A one-broker mock cluster on a thread of its own, serving topic `t`
/// (one partition), whose answers an [`Arm`] can spoil.
struct Broker {
    addr: SocketAddr,
    state: Arc<State>,
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Release);
    }
}

impl Broker {
    fn start() -> Broker {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let config = Config {
            seed: Some(7),
            default_replication_factor: 1,
            group_min_session_timeout: Duration::from_millis(100),
            ..Config::with_brokers(1)
        };
        let mut cluster = Cluster::new(config);
        cluster.set_broker_address(1, addr).unwrap();
        cluster.create_topic("t", 1).unwrap();
        let state = Arc::new(State {
            cluster: Mutex::new(cluster),
            arm: Mutex::new(None),
            routes: Mutex::new(HashMap::new()),
            open: AtomicUsize::new(0),
            spoiled_open: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let s = state.clone();
        spawn(move || accept_loop(&listener, &s));
        let s = state.clone();
        spawn(move || timers(&s));
        Broker { addr, state }
    }

    fn addr(&self) -> String {
        self.addr.to_string()
    }

    fn arm(&self, arm: Arm) {
        *lock(&self.state.arm) = Some(arm);
    }

    fn open(&self) -> usize {
        self.state.open.load(Ordering::Acquire)
    }

    fn spoiled_open(&self) -> usize {
        self.state.spoiled_open.load(Ordering::Acquire)
    }
}

fn accept_loop(listener: &TcpListener, state: &Arc<State>) {
    while !state.stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                state.open.fetch_add(1, Ordering::AcqRel);
                let state = state.clone();
                spawn(move || serve(s, &state));
            }
            Err(e) if e.kind() == IoErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(_) => return,
        }
    }
}

/// Fetch long-polls ending, group deadlines, answers that became ready.
fn timers(state: &State) {
    while !state.stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(2));
        let done = {
            let mut c = lock(&state.cluster);
            let now = Instant::now();
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
            }
            c.take_completions()
        };
        let routes = lock(&state.routes);
        for d in done {
            if let Some(tx) = routes.get(&d.conn) {
                let _ = tx.send(Out::Completed {
                    seq: d.seq,
                    frame: d.frame,
                });
            }
        }
    }
}

/// Reads requests until the client closes, hands them to the cluster and
/// the answers to the writer thread.
fn serve(mut s: TcpStream, state: &Arc<State>) {
    let mut session = lock(&state.cluster).open_session(1, s.peer_addr().ok());
    let (tx, rx) = mpsc::channel();
    lock(&state.routes).insert(session.id(), tx.clone());
    let out = s.try_clone().unwrap();
    spawn(move || write_loop(out, &rx));
    let mut spoiled = false;
    loop {
        let mut size = [0u8; 4];
        if s.read_exact(&mut size).is_err() {
            break;
        }
        let size = i32::from_be_bytes(size);
        if !(0..64 << 20).contains(&size) {
            break;
        }
        let mut body = vec![0u8; size as usize];
        if s.read_exact(&mut body).is_err() {
            break;
        }
        let Some(api) = RequestHeader::decode(&mut WireReader::new(&body))
            .ok()
            .and_then(|h| h.api())
        else {
            break;
        };
        let act = {
            let mut arm = lock(&state.arm);
            match arm.as_ref() {
                Some(a) if a.matches(api) => {
                    let act = a.act.clone();
                    if a.first_only {
                        *arm = None;
                    }
                    act
                }
                _ => Act::Pass,
            }
        };
        if !matches!(act, Act::Pass) && !spoiled {
            spoiled = true;
            state.spoiled_open.fetch_add(1, Ordering::AcqRel);
        }
        let handled = lock(&state.cluster).handle(&mut session, &body, Instant::now());
        let _ = tx.send(Out::Handled {
            seq: handled.seq,
            act,
            outcome: handled.outcome,
        });
    }
    lock(&state.routes).remove(&session.id());
    lock(&state.cluster).close_session(&session);
    let _ = s.shutdown(Shutdown::Both);
    if spoiled {
        state.spoiled_open.fetch_sub(1, Ordering::AcqRel);
    }
    state.open.fetch_sub(1, Ordering::AcqRel);
}

/// Sends the answers in request order, spoiled as their [`Act`] says.
fn write_loop(mut s: TcpStream, rx: &mpsc::Receiver<Out>) {
    let mut next = 0u64;
    let mut handled: BTreeMap<u64, (Act, Outcome)> = BTreeMap::new();
    let mut completed: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut mute = false;
    while let Ok(msg) = rx.recv() {
        match msg {
            Out::Handled { seq, act, outcome } => {
                handled.insert(seq, (act, outcome));
            }
            Out::Completed { seq, frame } => {
                completed.insert(seq, frame);
            }
        }
        while let Some((act, outcome)) = handled.remove(&next) {
            let frame = match outcome {
                Outcome::Respond(f) => Some(f),
                Outcome::Nothing => None,
                Outcome::Later => match completed.remove(&next) {
                    Some(f) => Some(f),
                    None => {
                        handled.insert(next, (act, Outcome::Later));
                        break;
                    }
                },
                Outcome::Close(f) => {
                    if let (Some(f), false) = (f, mute) {
                        let _ = s.write_all(&f);
                    }
                    let _ = s.shutdown(Shutdown::Both);
                    return;
                }
            };
            next += 1;
            if let (Some(f), false) = (frame, mute) {
                if send(&mut s, &act, f, &mut mute).is_err() {
                    return;
                }
            }
        }
    }
}

fn send(s: &mut TcpStream, act: &Act, mut f: Vec<u8>, mute: &mut bool) -> std::io::Result<()> {
    match act {
        Act::Pass => s.write_all(&f),
        Act::Silence => {
            *mute = true;
            Ok(())
        }
        Act::WrongCorrelationId => {
            let c = i32::from_be_bytes([f[4], f[5], f[6], f[7]]).wrapping_add(1);
            f[4..8].copy_from_slice(&c.to_be_bytes());
            s.write_all(&f)
        }
        Act::Trickle(every) => {
            for b in f {
                s.write_all(&[b])?;
                std::thread::sleep(*every);
            }
            Ok(())
        }
        Act::Claim(size) => {
            *mute = true;
            s.write_all(&size.to_be_bytes())?;
            s.write_all(&f[4..f.len().min(20)])
        }
        Act::Lie => {
            *mute = true;
            let mut body = f[4..8].to_vec();
            for _ in 0..16 {
                body.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
            }
            s.write_all(&(body.len() as u32).to_be_bytes())?;
            s.write_all(&body)
        }
    }
}

// ---------------------------------------------------------------------------
// The client's side.

/// Every configured timeout of the client in these tests.
const T: Duration = Duration::from_millis(300);
/// Attempts of the Writer and the Reader.
const ATTEMPTS: u32 = 2;
const BACKOFF: Duration = Duration::from_millis(50);
const MAX_WAIT: Duration = Duration::from_millis(100);
const JOIN_BACKOFF: Duration = Duration::from_millis(200);
/// Scheduling slack on top of a call's bound (two cores, many scenarios
/// side by side): a tenth of it, and this. Calls bounded by one timeout
/// end within a few milliseconds of it.
const MARGIN: Duration = Duration::from_millis(100);

fn dialer() -> Dialer {
    Dialer {
        timeout: T,
        request_timeout: T,
        ..Dialer::default()
    }
}

fn writer_config(addr: &str) -> WriterConfig {
    WriterConfig {
        max_attempts: ATTEMPTS,
        write_backoff_min: BACKOFF,
        write_backoff_max: BACKOFF,
        write_timeout: T,
        read_timeout: T,
        close_timeout: T,
        batch_timeout: Duration::from_millis(1),
        dialer: dialer(),
        ..WriterConfig::new(&[addr], "t")
    }
}

fn reader_config(addr: &str) -> ReaderConfig {
    ReaderConfig {
        max_attempts: ATTEMPTS,
        read_backoff_min: BACKOFF,
        read_backoff_max: BACKOFF,
        max_wait: MAX_WAIT,
        max_decompressed_bytes: 64 << 10,
        dialer: dialer(),
        ..ReaderConfig::new(&[addr], "t", 0)
    }
}

fn group_config(addr: &str, rebalance_timeout: Duration) -> ReaderConfig {
    ReaderConfig {
        topic: String::new(),
        group_id: Some("g".to_owned()),
        group_topics: vec!["t".to_owned()],
        heartbeat_interval: Duration::from_millis(200),
        session_timeout: Duration::from_secs(2),
        rebalance_timeout,
        join_group_backoff: JOIN_BACKOFF,
        ..reader_config(addr)
    }
}

fn client_config(addr: &str) -> ClientConfig {
    ClientConfig {
        brokers: vec![addr.to_owned()],
        timeout: T,
        dialer: dialer(),
    }
}

/// Writes `n` messages to `t` through a connection of its own.
async fn seed(addr: &str, n: usize) {
    let mut conn = dialer().dial_leader(addr, "t", 0).await.unwrap();
    let values: Vec<Vec<u8>> = (0..n).map(|i| format!("m{i}").into_bytes()).collect();
    let messages: Vec<Message<'_>> = values.iter().map(|v| Message::new(v)).collect();
    conn.write_messages(&messages).await.unwrap();
    conn.close();
}

/// One public call, set up against a behaving broker, then made against a
/// hostile one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// `Dialer::dial` (the ApiVersions exchange).
    ConnDial,
    /// `Conn::read_partitions`.
    ConnPartitions,
    /// `Conn::read_offsets`.
    ConnOffsets,
    /// `Conn::write_messages`.
    ConnWrite,
    /// `Conn::read_batch` with a read deadline.
    ConnReadBatch,
    /// `Conn::read_batch_with` a `max_wait`, no deadline.
    ConnReadBatchNoDeadline,
    /// `Conn::read_message` with a read deadline.
    ConnReadMessage,
    /// `Writer::write_messages`, nothing dialed yet.
    WriterCold,
    /// `Writer::write_messages`, its metadata request spoiled.
    WriterMetadata,
    /// `Writer::write_messages` after a first write went through.
    WriterProduce,
    /// `Writer::close` of an async Writer with a batch queued.
    WriterClose,
    /// `Reader::fetch_message`, nothing dialed yet.
    ReaderCold,
    /// `Reader::fetch_message` after a first message was read.
    ReaderFetch,
    /// Group `Reader::fetch_message`, nothing dialed yet.
    GroupCold,
    /// Group `Reader::fetch_message`, FindCoordinator spoiled.
    GroupFindCoordinator,
    /// Group `Reader::fetch_message`, JoinGroup (on the coordinator's
    /// connection) spoiled.
    GroupJoin,
    /// `Client::metadata`, nothing dialed yet.
    ClientCold,
    /// `Client::metadata`.
    ClientMetadata,
    /// `Client::offsets`.
    ClientOffsets,
    /// `Client::create_topics`.
    ClientCreate,
}

impl Op {
    const ALL: [Op; 20] = [
        Op::ConnDial,
        Op::ConnPartitions,
        Op::ConnOffsets,
        Op::ConnWrite,
        Op::ConnReadBatch,
        Op::ConnReadBatchNoDeadline,
        Op::ConnReadMessage,
        Op::WriterCold,
        Op::WriterMetadata,
        Op::WriterProduce,
        Op::WriterClose,
        Op::ReaderCold,
        Op::ReaderFetch,
        Op::GroupCold,
        Op::GroupFindCoordinator,
        Op::GroupJoin,
        Op::ClientCold,
        Op::ClientMetadata,
        Op::ClientOffsets,
        Op::ClientCreate,
    ];

    /// The API whose answers are spoiled.
    fn api(self) -> ApiKey {
        match self {
            Op::ConnDial | Op::WriterCold | Op::ReaderCold | Op::GroupCold | Op::ClientCold => {
                ApiKey::ApiVersions
            }
            Op::ConnPartitions | Op::WriterMetadata | Op::ClientMetadata => ApiKey::Metadata,
            Op::ConnOffsets | Op::ClientOffsets => ApiKey::ListOffsets,
            Op::ConnWrite | Op::WriterProduce | Op::WriterClose => ApiKey::Produce,
            Op::ConnReadBatch | Op::ConnReadBatchNoDeadline | Op::ConnReadMessage => ApiKey::Fetch,
            Op::ReaderFetch => ApiKey::Fetch,
            Op::GroupFindCoordinator => ApiKey::FindCoordinator,
            Op::GroupJoin => ApiKey::JoinGroup,
            Op::ClientCreate => ApiKey::CreateTopics,
        }
    }

    /// True for calls whose client keeps trying in the background after
    /// the call returned (so new connections may still be spoiled).
    fn retries_in_background(self) -> bool {
        matches!(
            self,
            Op::ReaderCold
                | Op::ReaderFetch
                | Op::GroupCold
                | Op::GroupFindCoordinator
                | Op::GroupJoin
        )
    }

    /// Longest the call may take against a broker that spoils answers, as
    /// the documentation of each call states it (`T` for every timeout).
    fn bound(self) -> Duration {
        let attempts = ATTEMPTS;
        match self {
            // The dial timeout; each request's timeout; the read deadline.
            Op::ConnDial
            | Op::ConnPartitions
            | Op::ConnOffsets
            | Op::ConnWrite
            | Op::ConnReadBatch
            | Op::ConnReadMessage => T,
            // Without a deadline: the request timeout after the broker's wait.
            Op::ConnReadBatchNoDeadline => T + MAX_WAIT,
            // Each attempt: a dial, the request, a metadata refresh, a
            // backoff; and one more for the producer id after a failure.
            Op::WriterCold | Op::WriterMetadata | Op::WriterProduce => {
                (T * 3 + BACKOFF) * (attempts + 1)
            }
            // The close timeout.
            Op::WriterClose => T,
            // Each attempt: a dial, the request (after `max_wait`), a
            // metadata refresh, a backoff.
            Op::ReaderCold | Op::ReaderFetch => (T * 3 + MAX_WAIT + BACKOFF) * attempts,
            // Each attempt: a dial, the request (JoinGroup: after the
            // rebalance timeout), the join backoff.
            Op::GroupCold | Op::GroupFindCoordinator | Op::GroupJoin => {
                (T * 3 + JOIN_BACKOFF) * attempts
            }
            // A dial, then requests of the client's timeout.
            Op::ClientCold | Op::ClientMetadata | Op::ClientOffsets | Op::ClientCreate => T * 3,
        }
    }
}

/// What happened to one call.
#[derive(Debug, Default)]
struct Report {
    call: Option<Result<(), Error>>,
    elapsed: Duration,
    /// Spoiled connections still open after the call (client alive).
    spoiled_left_open: Option<usize>,
    retry: Option<Result<(), Error>>,
}

async fn settle(mut done: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}

/// Times the call, then (client still alive) lets spoiled connections close.
async fn timed<F: std::future::Future<Output = Result<(), Error>>>(
    b: &Broker,
    op: Op,
    r: &mut Report,
    call: F,
) {
    let started = Instant::now();
    let result = call.await;
    r.elapsed = started.elapsed();
    r.call = Some(result);
    if !op.retries_in_background() {
        settle(|| b.spoiled_open() == 0).await;
        r.spoiled_left_open = Some(b.spoiled_open());
    }
}

fn first(e: microkafka_std::WriteErrors) -> Error {
    e.first().cloned().unwrap()
}

/// Sets `op` up, spoils answers as `arm` says, makes the call, and (when
/// only the first answer was spoiled) makes it again.
async fn run(op: Op, b: &Broker, arm: Arm) -> Report {
    let addr = b.addr();
    let addr = addr.as_str();
    let retry = arm.first_only;
    let mut r = Report::default();
    match op {
        Op::ConnDial => {
            b.arm(arm);
            let call = async { dialer().dial(addr).await.map(|c| c.close()) };
            timed(b, op, &mut r, call).await;
            if retry {
                r.retry = Some(dialer().dial(addr).await.map(|c| c.close()));
            }
        }
        Op::ConnPartitions | Op::ConnOffsets | Op::ConnWrite => {
            let mut conn = dialer().dial_leader(addr, "t", 0).await.unwrap();
            b.arm(arm);
            timed(b, op, &mut r, conn_call(op, &mut conn)).await;
            conn.close();
            if retry {
                let again = async {
                    let mut conn = dialer().dial_leader(addr, "t", 0).await?;
                    let result = conn_call(op, &mut conn).await;
                    conn.close();
                    result
                };
                r.retry = Some(again.await);
            }
        }
        Op::ConnReadBatch | Op::ConnReadBatchNoDeadline | Op::ConnReadMessage => {
            seed(addr, 1).await;
            let mut conn = dialer().dial_leader(addr, "t", 0).await.unwrap();
            b.arm(arm);
            timed(b, op, &mut r, conn_read(op, &mut conn)).await;
            conn.close();
            if retry {
                let again = async {
                    let mut conn = dialer().dial_leader(addr, "t", 0).await?;
                    let result = conn_read(op, &mut conn).await;
                    conn.close();
                    result
                };
                r.retry = Some(again.await);
            }
        }
        Op::WriterCold | Op::WriterMetadata | Op::WriterProduce => {
            let w = Writer::new(writer_config(addr)).unwrap();
            let m = [Message::new(b"x")];
            if op == Op::WriterProduce {
                w.write_messages(&m).await.unwrap();
            }
            b.arm(arm);
            timed(b, op, &mut r, async {
                w.write_messages(&m).await.map_err(first)
            })
            .await;
            if retry {
                r.retry = Some(w.write_messages(&m).await.map_err(first));
            }
            let _ = w.close().await;
        }
        Op::WriterClose => {
            let w = Writer::new(WriterConfig {
                async_: true,
                ..writer_config(addr)
            })
            .unwrap();
            w.write_messages(&[Message::new(b"x")]).await.unwrap();
            b.arm(arm);
            timed(b, op, &mut r, w.close()).await;
            if retry {
                let w = Writer::new(writer_config(addr)).unwrap();
                r.retry = Some(w.write_messages(&[Message::new(b"y")]).await.map_err(first));
                let _ = w.close().await;
            }
        }
        Op::ReaderCold | Op::ReaderFetch => {
            seed(addr, 1).await;
            let mut reader = Reader::new(reader_config(addr)).unwrap();
            if op == Op::ReaderFetch {
                reader.fetch_message().await.unwrap();
            }
            b.arm(arm);
            timed(b, op, &mut r, async {
                reader.fetch_message().await.map(drop)
            })
            .await;
            if retry {
                if op == Op::ReaderFetch {
                    seed(addr, 1).await;
                }
                r.retry = Some(reader.fetch_message().await.map(drop));
            }
            let _ = reader.close().await;
        }
        Op::GroupCold | Op::GroupFindCoordinator | Op::GroupJoin => {
            seed(addr, 1).await;
            let mut reader = Reader::new(group_config(addr, T)).unwrap();
            b.arm(arm);
            timed(b, op, &mut r, async {
                reader.fetch_message().await.map(drop)
            })
            .await;
            if retry && matches!(r.call, Some(Err(_))) {
                r.retry = Some(reader.fetch_message().await.map(drop));
            }
            let _ = reader.close().await;
        }
        Op::ClientCold | Op::ClientMetadata | Op::ClientOffsets | Op::ClientCreate => {
            let client = Client::with_config(client_config(addr)).unwrap();
            b.arm(arm);
            timed(b, op, &mut r, client_call(op, &client, "new-1")).await;
            if retry {
                r.retry = Some(client_call(op, &client, "new-2").await);
            }
            client.close();
        }
    }
    r
}

async fn conn_call(op: Op, conn: &mut microkafka_std::Conn) -> Result<(), Error> {
    match op {
        Op::ConnPartitions => conn.read_partitions(&["t"]).await.map(drop),
        Op::ConnOffsets => conn.read_offsets().await.map(drop),
        _ => conn.write_messages(&[Message::new(b"x")]).await.map(drop),
    }
}

async fn conn_read(op: Op, conn: &mut microkafka_std::Conn) -> Result<(), Error> {
    match op {
        Op::ConnReadBatchNoDeadline => {
            let config = ReadBatchConfig {
                max_wait: Some(MAX_WAIT),
                ..ReadBatchConfig::default()
            };
            let mut batch = conn.read_batch_with(config).await?;
            while let Some(m) = batch.next_message() {
                m?;
            }
            Ok(())
        }
        Op::ConnReadBatch => {
            conn.set_read_deadline(Some(Instant::now() + T));
            let mut batch = conn.read_batch(1, 1 << 20).await?;
            while let Some(m) = batch.next_message() {
                m?;
            }
            Ok(())
        }
        _ => {
            conn.set_read_deadline(Some(Instant::now() + T));
            conn.read_message(1 << 20).await.map(drop)
        }
    }
}

async fn client_call(op: Op, client: &Client, new_topic: &str) -> Result<(), Error> {
    match op {
        Op::ClientOffsets => client.offsets("t").await.map(drop),
        Op::ClientCreate => client
            .create_topics(&[TopicConfig::new(new_topic, 1)])
            .await
            .map(drop),
        _ => client.metadata(&["t"]).await.map(drop),
    }
}

/// What a scenario's call must come to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// An error of any kind.
    Error,
    /// A timeout.
    Timeout,
    /// An error (a group Reader may also recover and deliver), then a
    /// retry that works.
    ErrorThenRetryWorks,
}

/// Runs `op` against a broker of its own, spoiled by `arm`, on a runtime of
/// its own; returns what went wrong.
fn scenario(op: Op, arm: Arm, expect: Expect) -> Vec<String> {
    let what = format!("{op:?} with {:?} on {:?}", arm.act, arm.target);
    let broker = Broker::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let meter = NEXT_METER.fetch_add(1, Ordering::Relaxed);
    assert!(meter < METERS, "more scenarios than meters");
    METER.set(meter);
    let bound = op.bound() + op.bound() / 10 + MARGIN;
    let mut failures = rt.block_on(async {
        let patience = bound + Duration::from_secs(10);
        let Ok(r) = tokio::time::timeout(patience, run(op, &broker, arm)).await else {
            return vec![format!("{what}: hung (no answer in {patience:?})")];
        };
        let mut f = Vec::new();
        match (&r.call, expect) {
            (None, _) => f.push(format!("{what}: no call made")),
            (Some(Err(e)), Expect::Timeout) if !e.is_timeout() => {
                f.push(format!("{what}: {e} instead of a timeout"));
            }
            (Some(Err(e)), Expect::ErrorThenRetryWorks) if e.is_timeout() => {
                f.push(format!("{what}: {e} instead of failing at once"));
            }
            (Some(Ok(())), Expect::ErrorThenRetryWorks) if op.retries_in_background() => {}
            (Some(Ok(())), _) => f.push(format!("{what}: succeeded")),
            (Some(Err(_)), _) => {}
        }
        if r.elapsed > bound {
            f.push(format!(
                "{what}: took {:?} (bound {:?}, with the margin {bound:?})",
                r.elapsed,
                op.bound()
            ));
        }
        if let Some(n) = r.spoiled_left_open.filter(|n| *n > 0) {
            f.push(format!(
                "{what}: {n} connection(s) given up on left open by the live client"
            ));
        }
        if expect == Expect::ErrorThenRetryWorks && matches!(r.call, Some(Err(_))) {
            match &r.retry {
                Some(Ok(())) => {}
                Some(Err(e)) => f.push(format!("{what}: the retry failed: {e}")),
                None => f.push(format!("{what}: no retry made")),
            }
        }
        let metrics = tokio::runtime::Handle::current().metrics();
        if !settle(|| metrics.num_alive_tasks() == 0).await {
            f.push(format!(
                "{what}: {} task(s) left after close",
                metrics.num_alive_tasks()
            ));
        }
        if !settle(|| broker.open() == 0).await {
            f.push(format!(
                "{what}: the broker still sees {} connection(s) open after close",
                broker.open()
            ));
        }
        f
    });
    METER.set(0);
    drop(rt);
    let largest = LARGEST[meter].load(Ordering::Relaxed);
    if largest > MEMORY_LIMIT {
        failures.push(format!(
            "{what}: allocated {largest} bytes at once (limit {MEMORY_LIMIT})"
        ));
    }
    failures
}

/// Runs the scenarios side by side (each on a thread, broker and runtime
/// of its own) and fails with every failure. `HOSTILE_ONLY=ConnDial` (an
/// [`Op`]'s name) runs that call's scenarios only.
fn run_all(scenarios: Vec<(Op, Arm, Expect)>) {
    let only = std::env::var("HOSTILE_ONLY").ok();
    let scenarios: Vec<_> = scenarios
        .into_iter()
        .filter(|(op, _, _)| only.as_ref().is_none_or(|o| format!("{op:?}") == *o))
        .collect();
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = scenarios
            .into_iter()
            .map(|(op, arm, expect)| {
                std::thread::Builder::new()
                    .stack_size(STACK)
                    .spawn_scoped(s, move || scenario(op, arm, expect))
                    .unwrap()
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec!["a scenario panicked".into()])
            })
            .collect()
    });
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn every_op(act: Act, expect: Expect) -> Vec<(Op, Arm, Expect)> {
    Op::ALL
        .iter()
        .map(|&op| {
            let arm = Arm {
                target: Target::Api(op.api()),
                act: act.clone(),
                first_only: expect == Expect::ErrorThenRetryWorks,
            };
            (op, arm, expect)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The scenarios.

/// Size prefixes of 1 GiB and i32::MAX (over the default 100 MiB
/// `max_frame_size`) are refused before anything is allocated.
#[test]
fn huge_size_prefixes_are_refused_before_allocating() {
    let mut all = every_op(Act::Claim(1 << 30), Expect::Error);
    all.extend(every_op(Act::Claim(i32::MAX as u32), Expect::Error));
    run_all(all);
}

/// A size prefix under `max_frame_size` (64 MiB) followed by a few bytes
/// and silence costs memory for the bytes that came, not for the claim,
/// and the call times out.
#[test]
fn a_claimed_size_costs_only_the_bytes_that_came() {
    run_all(every_op(Act::Claim(64 << 20), Expect::Timeout));
}

/// A frame whose every inner length and count claims about 2^31 is an
/// error, with nothing allocated for the claims.
#[test]
fn lying_inner_lengths_are_errors() {
    run_all(every_op(Act::Lie, Expect::Error));
}

/// A broker that accepts and never answers: nothing after ApiVersions for
/// most calls, not even ApiVersions for those that dial. Every call times
/// out within its configured timeout.
#[test]
fn a_silent_broker_times_every_call_out() {
    let all = Op::ALL
        .iter()
        .map(|&op| {
            let target = match op.api() {
                ApiKey::ApiVersions => Target::Api(ApiKey::ApiVersions),
                _ => Target::AllButApiVersions,
            };
            let arm = Arm {
                target,
                act: Act::Silence,
                first_only: false,
            };
            (op, arm, Expect::Timeout)
        })
        .collect();
    run_all(all);
}

/// Answers trickled one byte every 20 ms (each byte well within the
/// timeout, the whole answer not): the deadline covers the whole answer.
#[test]
fn a_trickling_broker_times_every_call_out() {
    run_all(every_op(
        Act::Trickle(Duration::from_millis(20)),
        Expect::Timeout,
    ));
}

/// An answer with a wrong correlation id fails the call at once (no
/// mismatched answer reaches the caller), the connection is closed, and a
/// retry works once the broker behaves.
#[test]
fn a_wrong_correlation_id_drops_the_connection_and_a_retry_works() {
    run_all(every_op(
        Act::WrongCorrelationId,
        Expect::ErrorThenRetryWorks,
    ));
}

/// Closing or dropping a group Reader while a JoinGroup waits for its
/// answer (a long rebalance timeout) leaves no task behind and closes the
/// coordinator's connection; the same for a partition Reader whose Fetch
/// is unanswered.
#[test]
fn readers_closed_or_dropped_mid_request_leave_nothing_behind() {
    on_big_stack(readers_closed_or_dropped);
}

fn readers_closed_or_dropped() {
    let mut failures = Vec::new();
    for (group, close) in [(true, true), (true, false), (false, true), (false, false)] {
        let what = format!(
            "{} Reader {} while waiting",
            if group { "group" } else { "partition" },
            if close { "closed" } else { "dropped" }
        );
        let broker = Broker::start();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        failures.extend(rt.block_on(async {
            let addr = broker.addr();
            let mut f = Vec::new();
            seed(&addr, 1).await;
            let mut reader = if group {
                broker.arm(Arm {
                    target: Target::Api(ApiKey::JoinGroup),
                    act: Act::Silence,
                    first_only: false,
                });
                Reader::new(group_config(&addr, Duration::from_secs(20))).unwrap()
            } else {
                let mut r = Reader::new(reader_config(&addr)).unwrap();
                r.fetch_message().await.unwrap();
                broker.arm(Arm {
                    target: Target::Api(ApiKey::Fetch),
                    act: Act::Silence,
                    first_only: false,
                });
                r
            };
            let waited =
                tokio::time::timeout(Duration::from_millis(500), reader.fetch_message()).await;
            if waited.is_ok() {
                f.push(format!("{what}: fetch_message did not wait"));
            }
            if close {
                let closed = tokio::time::timeout(T * 2, reader.close()).await;
                if closed.is_err() {
                    f.push(format!("{what}: close took longer than {:?}", T * 2));
                }
            } else {
                drop(reader);
            }
            let metrics = tokio::runtime::Handle::current().metrics();
            if !settle(|| metrics.num_alive_tasks() == 0).await {
                f.push(format!(
                    "{what}: {} task(s) left",
                    metrics.num_alive_tasks()
                ));
            }
            if !settle(|| broker.open() == 0).await {
                f.push(format!(
                    "{what}: the broker still sees {} connection(s) open",
                    broker.open()
                ));
            }
            f
        }));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Zero timeouts mean the documented defaults, never "no limit": a dial
/// whose ApiVersions goes unanswered ends after the Dialer's 10 s, a
/// request on a `Conn` after the 30 s request timeout. (Time is paused and
/// jumps ahead while the client waits, so this takes no real time.)
#[test]
fn zero_timeouts_are_the_defaults_not_forever() {
    on_big_stack(zero_timeouts);
}

fn zero_timeouts() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let zero = Dialer {
            timeout: Duration::ZERO,
            request_timeout: Duration::ZERO,
            ..Dialer::default()
        };
        // A request on a dialed connection.
        let broker = Broker::start();
        let addr = broker.addr();
        let mut conn = zero.dial(&addr).await.unwrap();
        broker.arm(Arm {
            target: Target::AllButApiVersions,
            act: Act::Silence,
            first_only: false,
        });
        tokio::time::pause();
        let started = tokio::time::Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(3600), conn.read_partitions(&[]))
            .await
            .expect("a request with a zero request_timeout waits forever");
        let e = result.unwrap_err();
        assert!(e.is_timeout(), "{e}");
        assert_eq!(
            started.elapsed().as_secs(),
            30,
            "the default request timeout"
        );
        conn.close();
        tokio::time::resume();

        // The dial itself.
        let broker = Broker::start();
        broker.arm(Arm {
            target: Target::Api(ApiKey::ApiVersions),
            act: Act::Silence,
            first_only: false,
        });
        let addr = broker.addr();
        tokio::time::pause();
        let started = tokio::time::Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(3600), zero.dial(&addr))
            .await
            .expect("a dial with a zero timeout waits forever");
        let e = result.unwrap_err();
        assert!(e.is_timeout(), "{e}");
        assert_eq!(started.elapsed().as_secs(), 10, "the default dial timeout");
    });

    // The Reader and the Client use the same defaults.
    let reader = Reader::new(ReaderConfig {
        dialer: Dialer {
            timeout: Duration::ZERO,
            request_timeout: Duration::ZERO,
            ..Dialer::default()
        },
        ..ReaderConfig::new(&["127.0.0.1:9"], "t", 0)
    })
    .unwrap();
    let d = &reader.config().dialer;
    assert_eq!(
        (d.timeout, d.request_timeout),
        (Duration::from_secs(10), Duration::from_secs(30))
    );
}
