//! [`Writer`]: batching, balancing, retrying producer (kafka-go's `Writer`).
//!
//! Messages are balanced to partitions and copied into that partition's
//! open batch as `write_messages` is called. One sender task per partition
//! sends its batches one at a time, in order: a batch leaves when it is
//! full (`batch_size` messages or `batch_bytes`), when it has lingered
//! `batch_timeout`, or at `close`. Meanwhile the next batch fills, so a busy
//! partition always has a full batch ready when its request returns.
//!
//! Each answer is judged by core's policy (`ProduceRecovery`): retriable
//! failures (leader moved, no leader, timeouts, dropped connections)
//! refresh the metadata and send the same batch again to the new leader
//! after a backoff, up to `max_attempts`; with idempotence a sequence gap
//! (`OUT_OF_ORDER_SEQUENCE_NUMBER` on the next expected batch) or a broker
//! that lost the producer starts a new epoch and sends the batch again from
//! sequence 0; anything else fails the batch's messages with an error that
//! names the topic, partition and broker.
//!
//! Every message handed to the Writer gets exactly one outcome. A batch's
//! outcome is set before its `completion` callback runs (a panicking
//! callback is caught), and whatever a sender task still holds when it ends
//! (the Writer closing past `close_timeout`, the runtime shutting down, a
//! panic) fails with an error instead of vanishing. Errors nobody heard of
//! (no caller waiting, no callback) are kept for `close` to return.

//!
//! Files: `queue` (a partition's batches), `stage` (a message into its
//! partition's batch), `sender` (a partition's sender task and retries),
//! `idempotence` (the producer id and epoch), `shared` (what they share),
//! `transaction` (the transactional producer, [`TransactionalWriter`]),
//! `batch` (a batch being filled), `config`.
mod batch;
mod config;
mod idempotence;
mod queue;
mod sender;
mod shared;
mod stage;
mod transaction;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use microkafka_core::balancer::Random;
use microkafka_core::producer::Backoff;
use microkafka_core::record::compression::Codecs;
use tokio::task::JoinHandle;

use crate::error::{Error, ErrorKind, Result};
use crate::message::{now_ms, Message};
use crate::pool::BrokerPool;
use crate::requests::produce::RequiredAcks;
use crate::stats::Summary;

pub use config::{BalancerKind, Completion, CompletionFn, WriterConfig};
pub use transaction::{
    ConsumerGroupMetadata, TransactionStats, TransactionalConfig, TransactionalWriter,
    MAX_TRANSACTION_PARTITIONS, MAX_TRANSACTION_TOPICS,
};

use batch::Done;
use idempotence::Idempotence;
use shared::{lock, Counters, Inner, Pool};
use stage::{stage, Staging};

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
        let brokers = BrokerPool::new(
            config.dialer.connector(),
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
                brokers,
                backoff,
                topics: Mutex::new(HashMap::new()),
                queues: Mutex::new(Vec::new()),
                senders: Mutex::new(Vec::new()),
                pool: Mutex::new(Pool::default()),
                random: Mutex::new(Random::new(seed)),
                closed: AtomicBool::new(false),
                close_expired: AtomicBool::new(false),
                unreported: Mutex::new(None),
                refreshing: AtomicBool::new(false),
                refresher: Mutex::new(None),
                idempotence: Idempotence::new(idempotent),
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
    ///
    /// Every request is bounded in time (by `read_timeout`, `write_timeout`
    /// and the dialer's `timeout`; zero means their defaults, never
    /// forever), so against a broker that stops answering or trickles its
    /// answers, a synchronous call fails after at most about `max_attempts`
    /// × (dial + request + metadata refresh + backoff).
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
            match stage(inner, topic, m, now, sync) {
                Ok(Staging::Queued(done)) => {
                    if sync {
                        waits.push(done);
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
                        match inner.brokers.topic_meta(topic).await {
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
            dials: inner.brokers.dials.swap(0, Ordering::Relaxed),
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
    ///
    /// Waits at most `close_timeout`: batches still unwritten then fail with
    /// a timeout error (each message still gets its one outcome).
    ///
    /// Returns the first error the Writer hit that nobody was told about (as
    /// kafka-go's `Close` returns the errors of the last flush): a batch that
    /// failed with no `write_messages` waiting for it and no `completion`
    /// callback to take it, or a panic (of a `completion` callback, or of a
    /// sender task) as [`ErrorKind::Panicked`]. Errors already returned by
    /// `write_messages` or passed to `completion` are not repeated.
    pub async fn close(&self) -> Result<()> {
        let inner = &self.inner;
        inner.closed.store(true, Ordering::Release);
        for q in lock(&inner.queues).iter() {
            q.close();
        }
        let senders: Vec<JoinHandle<()>> = std::mem::take(&mut *lock(&inner.senders));
        let deadline = tokio::time::Instant::now() + inner.config.close_timeout;
        for mut s in senders {
            let joined = match tokio::time::timeout_at(deadline, &mut s).await {
                Ok(joined) => joined,
                Err(_) => {
                    // The task fails what it still holds as it is dropped.
                    inner.close_expired.store(true, Ordering::Release);
                    s.abort();
                    s.await
                }
            };
            if let Err(e) = joined {
                if e.is_panic() {
                    let panic = e.into_panic();
                    inner.report(Error::panicked("a Writer sender task", &*panic));
                }
            }
        }
        if let Some(task) = lock(&inner.refresher).take() {
            task.abort();
        }
        inner.brokers.close();
        match lock(&inner.unreported).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
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
