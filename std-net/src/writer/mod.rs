//! [`Writer`]: batching, balancing, retrying producer (kafka-go's `Writer`).
//!
//! Messages are balanced to partitions and copied into that partition's
//! open batch as `write_messages` is called. One sender task per partition
//! sends its batches one at a time, in order: a batch leaves when it is
//! full (`batch_size` messages or `batch_bytes`), when it has lingered
//! `batch_timeout`, or at `close`. Meanwhile the next batch fills, so a busy
//! partition always has a full batch ready when its request returns.
//!
//! Retriable failures (leader moved, no leader, timeouts, dropped
//! connections) refresh the metadata and send the same batch again to the
//! new leader after a backoff, up to `max_attempts`; anything else fails the
//! batch's messages with an error that names the topic, partition and broker.

mod batch;
mod config;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use microkafka_core::balancer::{Balancer, MessageRef, Random};
use microkafka_core::producer::{Backoff, ProduceErrorAction};
use microkafka_core::protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};
use microkafka_core::protocol::ApiKey;
use microkafka_core::record::compression::Codecs;
use microkafka_core::record::{BatchOptions, RECORD_BATCH_OVERHEAD};
use microkafka_core::ErrorCode;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::broker::Slot;
use crate::cluster::Cluster;
use crate::conn::PartitionAt;
use crate::error::{Error, ErrorKind, Result};
use crate::message::{now_ms, Message};
use crate::metadata::TopicMeta;
use crate::produce::{produce_on, BatchBuffers, RequiredAcks};
use crate::stats::{Counter, Series, Summary};

pub use config::{BalancerKind, Completion, CompletionFn, WriterConfig};

use batch::{too_large, Done, Staged};

/// The per-message outcome of a failed [`Writer::write_messages`]: one entry
/// per message given, `None` for those that were written (kafka-go's
/// `WriteErrors`).
#[derive(Clone, Debug)]
pub struct WriteErrors {
    errors: Vec<Option<Error>>,
}

impl WriteErrors {
    fn all(n: usize, e: &Error) -> Self {
        WriteErrors {
            errors: vec![Some(e.clone()); n],
        }
    }

    /// The error of message `i` (`None`: it was written).
    pub fn get(&self, i: usize) -> Option<&Error> {
        self.errors.get(i).and_then(Option::as_ref)
    }

    /// How many messages failed.
    pub fn count(&self) -> usize {
        self.errors.iter().filter(|e| e.is_some()).count()
    }

    /// One entry per message, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = Option<&Error>> {
        self.errors.iter().map(Option::as_ref)
    }

    /// The first error.
    pub fn first(&self) -> Option<&Error> {
        self.errors.iter().flatten().next()
    }
}

impl fmt::Display for WriteErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} messages failed",
            self.count(),
            self.errors.len()
        )?;
        if let Some(e) = self.first() {
            write!(f, "; first: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for WriteErrors {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.first().map(|e| e as _)
    }
}

/// A snapshot of what a [`Writer`] did since the previous snapshot
/// (kafka-go's `WriterStats`; durations in microseconds in the summaries).
#[derive(Clone, Debug, Default)]
pub struct WriterStats {
    /// Produce requests sent (retries included).
    pub writes: u64,
    /// Messages written.
    pub messages: u64,
    /// Key and value bytes written.
    pub bytes: u64,
    /// Messages that failed for good.
    pub errors: u64,
    /// Batches sent again after a retriable error.
    pub retries: u64,
    /// Connections made.
    pub dials: u64,
    /// From a batch's first message to its first send (linger and queueing), µs.
    pub batch_time: Summary,
    /// From a batch's first send to its outcome (retries included), µs.
    pub write_time: Summary,
    /// How long synchronous `write_messages` calls waited, µs.
    pub wait_time: Summary,
    /// Messages per batch.
    pub batch_size: Summary,
    /// Bytes per batch as sent (compressed).
    pub batch_bytes: Summary,
    /// Configuration: `max_attempts`.
    pub max_attempts: u32,
    /// Configuration: `write_backoff_min`.
    pub write_backoff_min: Duration,
    /// Configuration: `write_backoff_max`.
    pub write_backoff_max: Duration,
    /// Configuration: `batch_size`.
    pub max_batch_size: usize,
    /// Configuration: `batch_bytes`.
    pub max_batch_bytes: usize,
    /// Configuration: `batch_timeout`.
    pub batch_timeout: Duration,
    /// Configuration: `read_timeout`.
    pub read_timeout: Duration,
    /// Configuration: `write_timeout`.
    pub write_timeout: Duration,
    /// Configuration: `required_acks`.
    pub required_acks: RequiredAcks,
    /// Configuration: `async_`.
    pub async_: bool,
    /// Configuration: `topic`.
    pub topic: Option<String>,
    /// Configuration: the client id.
    pub client_id: String,
}

#[derive(Debug, Default)]
struct Counters {
    writes: Counter,
    messages: Counter,
    bytes: Counter,
    errors: Counter,
    retries: Counter,
    batch_time: Series,
    write_time: Series,
    wait_time: Series,
    batch_size: Series,
    batch_bytes: Series,
}

struct Queue {
    open: Option<Staged>,
    sealed: VecDeque<Staged>,
    closing: bool,
}

/// One partition's batches and the sender task's wake-ups.
struct PartitionQueue {
    topic: String,
    partition: i32,
    q: Mutex<Queue>,
    /// Wakes the sender: a batch was opened or sealed, or the writer closes.
    wake: Notify,
    /// Wakes writers waiting for room in `sealed`.
    space: Notify,
}

impl PartitionQueue {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.q.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn close(&self) {
        self.lock().closing = true;
        self.wake.notify_one();
        self.space.notify_waiters();
    }

    /// Waits until `sealed` has room (or the writer closes).
    async fn wait_for_space(&self, max: usize) {
        loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let q = self.lock();
                if q.sealed.len() < max || q.closing {
                    return;
                }
            }
            notified.await;
        }
    }
}

struct TopicState {
    balancer: Box<dyn Balancer + Send>,
    meta: Arc<TopicMeta>,
    generation: u64,
    queues: HashMap<i32, Arc<PartitionQueue>>,
}

/// Buffers kept for reuse, so steady-state writing allocates nothing.
#[derive(Default)]
struct Pool {
    staging: Vec<Vec<u8>>,
    done: Vec<Arc<Done>>,
    buffers: Vec<BatchBuffers>,
}

struct Inner {
    config: WriterConfig,
    cluster: Arc<Cluster>,
    backoff: Backoff,
    topics: Mutex<HashMap<String, TopicState>>,
    queues: Mutex<Vec<Arc<PartitionQueue>>>,
    senders: Mutex<Vec<JoinHandle<()>>>,
    pool: Mutex<Pool>,
    random: Mutex<Random>,
    closed: AtomicBool,
    refreshing: AtomicBool,
    /// The producer id and epoch of idempotent writes, once obtained.
    producer: tokio::sync::Mutex<ProducerState>,
    counters: Counters,
}

/// Idempotence state shared by every partition's sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProducerState {
    /// Not asked for yet.
    Unknown,
    /// Plain at-least-once writes (not configured, or the broker cannot).
    Disabled,
    /// Batches carry this id and epoch; each partition numbers its batches
    /// from 0 for every new epoch.
    Id { id: i64, epoch: i16 },
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What staging one message came to.
enum Staging {
    /// Copied into a batch whose outcome this is.
    Queued(Arc<Done>),
    /// The partition's queue is full: wait for room, then try again.
    Full(Arc<PartitionQueue>),
    /// Metadata for the topic is needed first.
    NeedMetadata,
}

/// A producer that batches messages per partition, balances them, retries
/// what can be retried, and reports per message (kafka-go's `Writer`).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use microkafka_std::{BalancerKind, Message, Writer, WriterConfig};
/// let writer = Writer::new(WriterConfig {
///     balancer: BalancerKind::Hash,
///     ..WriterConfig::new(&["localhost:9092"], "orders")
/// })?;
/// writer
///     .write_messages(&[
///         Message::new(b"one").with_key(b"customer-1"),
///         Message::new(b"two").with_key(b"customer-2"),
///     ])
///     .await?;
/// writer.close().await?;
/// # Ok(()) }
/// ```
///
/// A `Writer` is safe to share between tasks (`&self` methods; wrap it in
/// an `Arc`). It must be used inside a tokio runtime.
pub struct Writer {
    inner: Arc<Inner>,
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// A writer for `config` (no connection is made until the first write).
    ///
    /// Errors: no brokers, or a compression codec not compiled in.
    pub fn new(config: WriterConfig) -> Result<Writer> {
        let config = config.normalized();
        if !Codecs::is_available(config.compression) {
            return Err(Error::config(format!(
                "compression {} is not compiled in (enable the `{}` feature)",
                config.compression.name(),
                config.compression.name()
            )));
        }
        let cluster = Cluster::new(
            config.dialer.clone(),
            &config.brokers,
            config.allow_auto_topic_creation,
        )?;
        let backoff = Backoff::new(config.write_backoff_min, config.write_backoff_max);
        let idempotent = config.idempotent && config.required_acks == RequiredAcks::All;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(7, |d| d.as_nanos() as u64);
        Ok(Writer {
            inner: Arc::new(Inner {
                config,
                cluster,
                backoff,
                topics: Mutex::new(HashMap::new()),
                queues: Mutex::new(Vec::new()),
                senders: Mutex::new(Vec::new()),
                pool: Mutex::new(Pool::default()),
                random: Mutex::new(Random::new(seed)),
                closed: AtomicBool::new(false),
                refreshing: AtomicBool::new(false),
                producer: tokio::sync::Mutex::new(if idempotent {
                    ProducerState::Unknown
                } else {
                    ProducerState::Disabled
                }),
                counters: Counters::default(),
            }),
        })
    }

    /// The configuration in use (zero fields replaced by their defaults).
    pub fn config(&self) -> &WriterConfig {
        &self.inner.config
    }

    /// Writes messages: balances each to a partition and queues it in that
    /// partition's batch.
    ///
    /// Synchronous mode (the default) returns once every message's batch
    /// was written or failed for good; `Err` then says, per message, which
    /// failed and why (topic, partition, broker, Kafka error). In `async_`
    /// mode it returns once the messages are queued; only messages that
    /// could not be queued (unknown topic, too large, writer closed) are
    /// reported here, the rest through `completion`.
    ///
    /// The messages' bytes are copied; nothing is allocated per message.
    ///
    /// Cancelling the call (dropping its future) does not unqueue what was
    /// already queued: those messages are still sent.
    pub async fn write_messages(&self, messages: &[Message<'_>]) -> Result<(), WriteErrors> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(WriteErrors::all(
                messages.len(),
                &Error::new(ErrorKind::Closed),
            ));
        }
        let started = Instant::now();
        let now = now_ms();
        let sync = !inner.config.async_;
        let mut waits: Vec<Option<Arc<Done>>> = if sync {
            Vec::with_capacity(messages.len())
        } else {
            Vec::new()
        };
        let mut errors: Option<Vec<Option<Error>>> = None;
        let mut fail = |i: usize, e: Error| {
            errors.get_or_insert_with(|| vec![None; messages.len()])[i] = Some(e);
        };
        inner.maybe_refresh_in_background();
        let mut missing: Vec<(&str, Error)> = Vec::new();
        let mut i = 0;
        while i < messages.len() {
            let m = &messages[i];
            let topic = match inner.topic_of(m) {
                Ok(t) => t,
                Err(e) => {
                    fail(i, e);
                    waits.push(None);
                    i += 1;
                    continue;
                }
            };
            match inner.stage(topic, m, now) {
                Ok(Staging::Queued(done)) => {
                    if sync {
                        waits.push(Some(done));
                    }
                    i += 1;
                }
                Ok(Staging::Full(queue)) => {
                    queue
                        .wait_for_space(inner.config.max_buffered_batches)
                        .await;
                }
                Ok(Staging::NeedMetadata) => {
                    // A topic that failed already in this call fails at once.
                    if let Some((_, e)) = missing.iter().find(|(t, _)| *t == topic) {
                        fail(i, e.clone());
                        waits.push(None);
                        i += 1;
                        continue;
                    }
                    // A topic just created may not be in every broker's
                    // metadata yet: retriable errors are retried.
                    let mut attempt = 0;
                    let found = loop {
                        attempt += 1;
                        match inner.cluster.topic_meta(topic).await {
                            Err(e) if e.is_retriable() && attempt < inner.config.max_attempts => {
                                let delay =
                                    inner.backoff.delay_with_jitter(attempt, inner.jitter());
                                tokio::time::sleep(delay).await;
                            }
                            other => break other,
                        }
                    };
                    if let Err(e) = found {
                        let e = e.with_topic(topic);
                        missing.push((topic, e.clone()));
                        fail(i, e);
                        waits.push(None);
                        i += 1;
                    }
                }
                Err(e) => {
                    fail(i, e.with_topic(topic));
                    waits.push(None);
                    i += 1;
                }
            }
        }
        if sync {
            for (i, done) in waits.iter().enumerate() {
                if let Some(done) = done {
                    if let Err(e) = done.wait().await {
                        fail(i, e);
                    }
                }
            }
            inner.counters.wait_time.observe_duration(started.elapsed());
        }
        match errors {
            None => Ok(()),
            Some(errors) => Err(WriteErrors { errors }),
        }
    }

    /// What the writer did since the previous call.
    pub fn stats(&self) -> WriterStats {
        let inner = &self.inner;
        let c = &inner.counters;
        let cfg = &inner.config;
        WriterStats {
            writes: c.writes.take(),
            messages: c.messages.take(),
            bytes: c.bytes.take(),
            errors: c.errors.take(),
            retries: c.retries.take(),
            dials: inner.cluster.dials.swap(0, Ordering::Relaxed),
            batch_time: c.batch_time.take(),
            write_time: c.write_time.take(),
            wait_time: c.wait_time.take(),
            batch_size: c.batch_size.take(),
            batch_bytes: c.batch_bytes.take(),
            max_attempts: cfg.max_attempts,
            write_backoff_min: cfg.write_backoff_min,
            write_backoff_max: cfg.write_backoff_max,
            max_batch_size: cfg.batch_size,
            max_batch_bytes: cfg.batch_bytes,
            batch_timeout: cfg.batch_timeout,
            read_timeout: cfg.read_timeout,
            write_timeout: cfg.write_timeout,
            required_acks: cfg.required_acks,
            async_: cfg.async_,
            topic: cfg.topic.clone(),
            client_id: cfg.dialer.client_id.clone(),
        }
    }

    /// Flushes every queued message (sending batches at once, without
    /// lingering), waits for their outcomes, and closes the connections.
    /// Later writes fail with [`ErrorKind::Closed`].
    pub async fn close(&self) -> Result<()> {
        let inner = &self.inner;
        inner.closed.store(true, Ordering::Release);
        for q in lock(&inner.queues).iter() {
            q.close();
        }
        let senders: Vec<JoinHandle<()>> = std::mem::take(&mut *lock(&inner.senders));
        for s in senders {
            let _ = s.await;
        }
        inner.cluster.close();
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Senders flush what is queued and stop; nobody waits for them.
        if !self.inner.closed.swap(true, Ordering::AcqRel) {
            for q in lock(&self.inner.queues).iter() {
                q.close();
            }
        }
    }
}

impl Inner {
    fn topic_of<'m>(&'m self, m: &Message<'m>) -> Result<&'m str> {
        match (&self.config.topic, m.topic) {
            (Some(t), None) => Ok(t),
            (None, Some(t)) => Ok(t),
            (Some(_), Some(_)) => Err(Error::config(
                "the Writer has a topic, so messages must not name one",
            )),
            (None, None) => Err(Error::config(
                "neither the Writer nor the message names a topic",
            )),
        }
    }

    /// Starts a metadata refresh in the background when the cache is older
    /// than `metadata_refresh_interval`.
    fn maybe_refresh_in_background(self: &Arc<Self>) {
        let interval = self.config.metadata_refresh_interval;
        if interval.is_zero() || self.cluster.age().is_none_or(|age| age <= interval) {
            return;
        }
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let topics: Vec<String> = lock(&self.topics).keys().cloned().collect();
        let inner = self.clone();
        tokio::spawn(async move {
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            let _ = inner.cluster.refresh(&names, None).await;
            inner.refreshing.store(false, Ordering::Release);
        });
    }

    /// Balances `m` to a partition of `topic` and copies it into that
    /// partition's open batch.
    fn stage(self: &Arc<Self>, topic: &str, m: &Message<'_>, now: i64) -> Result<Staging> {
        let mut topics = lock(&self.topics);
        let generation = self.cluster.generation();
        let stale = topics.get(topic).is_none_or(|t| t.generation != generation);
        if stale {
            let Some(meta) = self
                .cluster
                .topic(topic)
                .filter(|t| t.error.is_ok() && !t.ids.is_empty())
            else {
                return Ok(Staging::NeedMetadata);
            };
            match topics.get_mut(topic) {
                Some(t) => {
                    t.meta = meta;
                    t.generation = generation;
                }
                None => {
                    topics.insert(
                        topic.to_owned(),
                        TopicState {
                            balancer: self.config.balancer.build(),
                            meta,
                            generation,
                            queues: HashMap::new(),
                        },
                    );
                }
            }
        }
        let Some(t) = topics.get_mut(topic) else {
            return Ok(Staging::NeedMetadata);
        };
        let partition = t
            .balancer
            .balance(&MessageRef::new(m.key, m.value), &t.meta.ids)
            .ok_or_else(|| Error::new(ErrorKind::NotFound("partition")))?;
        let queue = match t.queues.get(&partition) {
            Some(q) => q.clone(),
            None => {
                let q = self.spawn_sender(topic, partition);
                t.queues.insert(partition, q.clone());
                q
            }
        };
        drop(topics);
        self.stage_in(&queue, m, now)
            .map_err(|e| e.with_partition(topic, partition))
    }

    fn stage_in(&self, queue: &Arc<PartitionQueue>, m: &Message<'_>, now: i64) -> Result<Staging> {
        let cfg = &self.config;
        let timestamp = m.timestamp_ms(now);
        let mut q = queue.lock();
        if q.closing {
            return Err(Error::new(ErrorKind::Closed));
        }
        loop {
            if q.open.is_none() {
                q.open = Some(self.new_staged());
                queue.wake.notify_one();
            }
            let Some(open) = q.open.as_mut() else {
                continue;
            };
            let cost = open.cost(m, timestamp)?;
            if RECORD_BATCH_OVERHEAD + cost > cfg.batch_bytes {
                return Err(too_large(RECORD_BATCH_OVERHEAD + cost, cfg.batch_bytes));
            }
            let full =
                open.encoded + cost > cfg.batch_bytes || open.count as usize >= cfg.batch_size;
            if open.count > 0 && full {
                if q.sealed.len() >= cfg.max_buffered_batches {
                    return Ok(Staging::Full(queue.clone()));
                }
                if let Some(b) = q.open.take() {
                    q.sealed.push_back(b);
                }
                queue.wake.notify_one();
                continue;
            }
            open.push(m, timestamp, cost);
            let done = open.done.clone();
            if open.count as usize >= cfg.batch_size && q.sealed.len() < cfg.max_buffered_batches {
                if let Some(b) = q.open.take() {
                    q.sealed.push_back(b);
                }
                queue.wake.notify_one();
            }
            return Ok(Staging::Queued(done));
        }
    }

    fn new_staged(&self) -> Staged {
        let mut pool = lock(&self.pool);
        let records = pool.staging.pop().unwrap_or_default();
        // A batch outcome no caller holds any more can be reused.
        let free = pool.done.iter().position(|d| Arc::strong_count(d) == 1);
        let done = match free {
            Some(i) => {
                let done = pool.done.swap_remove(i);
                done.reset();
                done
            }
            None => Arc::default(),
        };
        Staged::new(records, done)
    }

    fn recycle(&self, staged: Staged, buffers: BatchBuffers) {
        let (records, done) = staged.into_parts();
        let mut pool = lock(&self.pool);
        pool.staging.push(records);
        pool.buffers.push(buffers);
        // Kept for reuse once no caller waits on it any more (bounded: a
        // caller that holds outcomes forever costs allocations, not memory).
        if pool.done.len() < 64 {
            pool.done.push(done);
        }
    }

    fn spawn_sender(self: &Arc<Self>, topic: &str, partition: i32) -> Arc<PartitionQueue> {
        let queue = Arc::new(PartitionQueue {
            topic: topic.to_owned(),
            partition,
            q: Mutex::new(Queue {
                open: None,
                sealed: VecDeque::new(),
                closing: self.closed.load(Ordering::Acquire),
            }),
            wake: Notify::new(),
            space: Notify::new(),
        });
        lock(&self.queues).push(queue.clone());
        let handle = tokio::spawn(sender(self.clone(), queue.clone()));
        lock(&self.senders).push(handle);
        queue
    }

    fn jitter(&self) -> u32 {
        lock(&self.random).next_u32()
    }

    /// The producer id and epoch for idempotent batches, obtained with
    /// InitProducerId the first time.
    async fn producer(&self) -> Result<ProducerState> {
        let mut state = self.producer.lock().await;
        if *state == ProducerState::Unknown {
            *state = self.init_producer_id(None).await?;
        }
        Ok(*state)
    }

    /// After a batch failed for good its sequence numbers are in doubt:
    /// bump the epoch (KIP-360), so every partition starts again from 0.
    async fn bump_epoch(&self, failed: ProducerState) {
        let mut state = self.producer.lock().await;
        if *state != failed {
            return; // already bumped by another partition
        }
        let current = match failed {
            ProducerState::Id { id, epoch } => Some((id, epoch)),
            _ => None,
        };
        *state = self
            .init_producer_id(current)
            .await
            .unwrap_or(ProducerState::Unknown);
    }

    async fn init_producer_id(&self, current: Option<(i64, i16)>) -> Result<ProducerState> {
        let conn = self.cluster.any_conn().await?;
        let version = match conn.version(ApiKey::InitProducerId) {
            Ok(v) => v,
            Err(_) => return Ok(ProducerState::Disabled),
        };
        let (producer_id, producer_epoch) = match current {
            // Epoch bumps need v3+; older brokers hand out a new id.
            Some(pid) if version >= 3 => pid,
            _ => (-1, -1),
        };
        let timeout = self.cluster.request_timeout();
        let request = InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: i32::MAX,
            producer_id,
            producer_epoch,
        };
        let response = conn.request(&request, timeout).await?;
        let decoded: InitProducerIdResponse = response.decode()?;
        if decoded.error_code.is_err() {
            return Err(Error::kafka(decoded.error_code, None)
                .with_api(ApiKey::InitProducerId)
                .with_broker(conn.broker()));
        }
        Ok(ProducerState::Id {
            id: decoded.producer_id,
            epoch: decoded.producer_epoch,
        })
    }
}

/// What the sender does next.
enum Next {
    Send(Staged),
    Wait(Option<Instant>),
    Exit,
}

/// Sends one partition's batches, one at a time, in order.
async fn sender(inner: Arc<Inner>, queue: Arc<PartitionQueue>) {
    let slot = Slot::new();
    let mut response_buf = Vec::new();
    let mut sequence = Sequence::default();
    let linger = inner.config.batch_timeout;
    loop {
        let next = {
            let mut q = queue.lock();
            if let Some(b) = q.sealed.pop_front() {
                Next::Send(b)
            } else if let Some(open) = &q.open {
                // A linger too long to add up never expires.
                let due = open.opened.checked_add(linger);
                if open.count == 0 {
                    if q.closing {
                        q.open = None;
                        Next::Exit
                    } else {
                        Next::Wait(None)
                    }
                } else if q.closing || due.is_some_and(|due| Instant::now() >= due) {
                    q.open.take().map_or(Next::Wait(None), Next::Send)
                } else {
                    Next::Wait(due)
                }
            } else if q.closing {
                Next::Exit
            } else {
                Next::Wait(None)
            }
        };
        match next {
            Next::Send(staged) => {
                queue.space.notify_waiters();
                send_batch(
                    &inner,
                    &queue,
                    staged,
                    &slot,
                    &mut response_buf,
                    &mut sequence,
                )
                .await;
            }
            Next::Wait(Some(due)) => {
                tokio::select! {
                    _ = queue.wake.notified() => {}
                    _ = tokio::time::sleep_until(due.into()) => {}
                }
            }
            Next::Wait(None) => queue.wake.notified().await,
            Next::Exit => break,
        }
    }
}

/// A partition's idempotence numbering: the next sequence number, for
/// the producer id and epoch it counts under.
#[derive(Debug, Default)]
struct Sequence {
    under: Option<(i64, i16)>,
    next: i32,
}

/// Builds, sends (with retries) and completes one batch.
async fn send_batch(
    inner: &Inner,
    queue: &PartitionQueue,
    staged: Staged,
    slot: &Arc<Slot>,
    response_buf: &mut Vec<u8>,
    sequence: &mut Sequence,
) {
    let c = &inner.counters;
    c.batch_time.observe_duration(staged.opened.elapsed());
    let started = Instant::now();
    let mut buffers = lock(&inner.pool).buffers.pop().unwrap_or_default();
    let (result, attempts) = match producer_with_retries(inner).await {
        Err(e) => (Err(e), 0),
        Ok(producer) => {
            let mut options = BatchOptions::default();
            if let ProducerState::Id { id, epoch } = producer {
                if sequence.under != Some((id, epoch)) {
                    *sequence = Sequence {
                        under: Some((id, epoch)),
                        next: 0,
                    };
                }
                options.producer_id = id;
                options.producer_epoch = epoch;
                options.base_sequence = sequence.next;
            }
            let built = buffers.build(inner.config.compression, options, staged.encoded, |b| {
                staged.append_to(b)
            });
            let outcome = match built {
                Ok(batch) => {
                    c.batch_bytes.observe(batch.len() as u64);
                    produce_with_retries(inner, queue, batch, slot, response_buf).await
                }
                Err(e) => (Err(e), 0),
            };
            if matches!(producer, ProducerState::Id { .. }) {
                match &outcome.0 {
                    // Sequences wrap at i32::MAX, as the broker counts them.
                    Ok(_) => sequence.next = sequence.next.wrapping_add(staged.count) & i32::MAX,
                    Err(_) if outcome.1 > 0 => inner.bump_epoch(producer).await,
                    Err(_) => {}
                }
            }
            outcome
        }
    };
    let result = result.map_err(|e| {
        e.with_api(ApiKey::Produce)
            .with_partition(&queue.topic, queue.partition)
    });
    c.write_time.observe_duration(started.elapsed());
    c.batch_size.observe(staged.count as u64);
    match &result {
        Ok(_) => {
            c.messages.add(staged.count as u64);
            c.bytes.add(staged.bytes as u64);
        }
        Err(_) => c.errors.add(staged.count as u64),
    }
    if let Some(callback) = &inner.config.completion {
        callback(&Completion {
            topic: &queue.topic,
            partition: queue.partition,
            messages: staged.count as usize,
            bytes: staged.bytes,
            base_offset: *result.as_ref().unwrap_or(&-1),
            attempts,
            error: result.as_ref().err(),
        });
    }
    staged.done.set(result);
    inner.recycle(staged, buffers);
}

/// The idempotence state, retrying retriable failures to get it.
async fn producer_with_retries(inner: &Inner) -> Result<ProducerState> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match inner.producer().await {
            Err(e) if e.is_retriable() && attempt < inner.config.max_attempts => {
                let delay = inner.backoff.delay_with_jitter(attempt, inner.jitter());
                tokio::time::sleep(delay).await;
            }
            result => return result,
        }
    }
}

async fn produce_with_retries(
    inner: &Inner,
    queue: &PartitionQueue,
    batch: &[u8],
    slot: &Arc<Slot>,
    response_buf: &mut Vec<u8>,
) -> (Result<i64>, u32) {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let seen = inner.cluster.generation();
        let result = produce_once(inner, queue, batch, slot, response_buf).await;
        let e = match result {
            Ok(offset) => return (Ok(offset), attempt),
            Err(e) => e,
        };
        if !e.is_retriable() || attempt >= inner.config.max_attempts {
            return (Err(e), attempt);
        }
        inner.counters.retries.add(1);
        let same_leader = e
            .code()
            .is_some_and(|c| ProduceErrorAction::classify(c) == ProduceErrorAction::Retry);
        if !same_leader {
            let _ = inner.cluster.refresh(&[&queue.topic], Some(seen)).await;
        }
        let delay = inner.backoff.delay_with_jitter(attempt, inner.jitter());
        tokio::time::sleep(delay).await;
    }
}

async fn produce_once(
    inner: &Inner,
    queue: &PartitionQueue,
    batch: &[u8],
    slot: &Arc<Slot>,
    response_buf: &mut Vec<u8>,
) -> Result<i64> {
    let cluster = &inner.cluster;
    let leader = match cluster.leader(&queue.topic, queue.partition) {
        Some((leader, _)) if leader >= 0 => leader,
        Some(_) => return Err(Error::new(ErrorKind::NoLeader)),
        None => return Err(Error::new(ErrorKind::NotFound("partition"))),
    };
    let conn = cluster.conn(leader).await?;
    inner.counters.writes.add(1);
    let at = PartitionAt {
        topic: &queue.topic,
        partition: queue.partition,
    };
    let answer = produce_on(
        &conn,
        at,
        batch,
        inner.config.required_acks,
        inner.config.write_timeout,
        slot,
        response_buf,
    )
    .await?;
    match ProduceErrorAction::classify(answer.error) {
        ProduceErrorAction::Done => Ok(answer.base_offset),
        // An idempotent retry of a batch already stored: written, offset unknown.
        _ if answer.error == ErrorCode::DUPLICATE_SEQUENCE_NUMBER => Ok(-1),
        _ => Err(Error::kafka(answer.error, answer.message.as_deref()).with_broker(conn.broker())),
    }
}
