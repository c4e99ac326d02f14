//! [`Inner`]: what a Writer, its sender tasks and its metadata refresh
//! share: configuration, topics and partition queues, pooled buffers,
//! counters, the producer id, and errors nobody was told of.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use microkafka_core::balancer::{Balancer, Random};
use microkafka_core::producer::Backoff;
use tokio::task::JoinHandle;

use super::batch::{Done, Staged};
use super::config::WriterConfig;
use super::idempotence::Idempotence;
use super::queue::PartitionQueue;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::metadata::TopicMeta;
use crate::pool::BrokerPool;
use crate::requests::produce::BatchBuffers;
use crate::stats::{Counter, Series};

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) writes: Counter,
    pub(super) messages: Counter,
    pub(super) bytes: Counter,
    pub(super) errors: Counter,
    pub(super) retries: Counter,
    pub(super) batch_time: Series,
    pub(super) write_time: Series,
    pub(super) wait_time: Series,
    pub(super) batch_size: Series,
    pub(super) batch_bytes: Series,
}

/// What the Writer keeps of a topic: its balancer, metadata and partition queues.
pub(super) struct TopicState {
    pub(super) balancer: Box<dyn Balancer + Send>,
    pub(super) meta: Arc<TopicMeta>,
    pub(super) generation: u64,
    pub(super) queues: HashMap<i32, Arc<PartitionQueue>>,
}

/// Buffers kept for reuse, so steady-state writing allocates nothing.
#[derive(Default)]
pub(super) struct Pool {
    pub(super) staging: Vec<Vec<u8>>,
    pub(super) done: Vec<Arc<Done>>,
    pub(super) buffers: Vec<BatchBuffers>,
}

/// What the Writer, its sender tasks and its refresh share.
pub(super) struct Inner {
    pub(super) config: WriterConfig,
    pub(super) brokers: Arc<BrokerPool>,
    pub(super) backoff: Backoff,
    pub(super) topics: Mutex<HashMap<String, TopicState>>,
    pub(super) queues: Mutex<Vec<Arc<PartitionQueue>>>,
    pub(super) senders: Mutex<Vec<JoinHandle<()>>>,
    pub(super) pool: Mutex<Pool>,
    pub(super) random: Mutex<Random>,
    pub(super) closed: AtomicBool,
    /// Set when `close` gave up waiting (`close_timeout`): what the sender
    /// tasks still hold fails with a timeout.
    pub(super) close_expired: AtomicBool,
    /// The first error no caller was told about (no synchronous caller
    /// waited for it, no `completion` callback took it), for `close`.
    pub(super) unreported: Mutex<Option<Error>>,
    pub(super) refreshing: AtomicBool,
    /// The background metadata refresh, if one was started (aborted by
    /// `close`, so no task of the Writer outlives it).
    pub(super) refresher: Mutex<Option<JoinHandle<()>>>,
    /// The producer id and epoch of idempotent writes.
    pub(super) idempotence: Idempotence,
    pub(super) counters: Counters,
}

/// Locks `m`, also after a panic elsewhere (the data stays consistent).
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    /// Keeps `e` for `close` unless an earlier error is kept already.
    pub(super) fn report(&self, e: Error) {
        lock(&self.unreported).get_or_insert(e);
    }

    pub(super) fn topic_of<'m>(&'m self, m: &Message<'m>) -> Result<&'m str> {
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
    pub(super) fn maybe_refresh_in_background(self: &Arc<Self>) {
        let interval = self.config.metadata_refresh_interval;
        if interval.is_zero() || self.brokers.age().is_none_or(|age| age <= interval) {
            return;
        }
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let topics: Vec<String> = lock(&self.topics).keys().cloned().collect();
        let inner = self.clone();
        let task = tokio::spawn(async move {
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            let _ = inner.brokers.refresh(&names, None).await;
            inner.refreshing.store(false, Ordering::Release);
        });
        *lock(&self.refresher) = Some(task);
    }

    /// An empty batch, from pooled buffers.
    pub(super) fn new_staged(&self) -> Staged {
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

    /// Pools a sent batch's buffers.
    pub(super) fn recycle(&self, staged: Staged, buffers: BatchBuffers) {
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

    /// A random number for backoff jitter.
    pub(super) fn jitter(&self) -> u32 {
        lock(&self.random).next_u32()
    }
}
