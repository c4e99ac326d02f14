//! Staging a message: balanced to a partition of its topic and copied into
//! that partition's open batch (a queue and its sender task made for a
//! partition the first time).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use microkafka_core::balancer::MessageRef;
use microkafka_core::record::RECORD_BATCH_OVERHEAD;

use super::batch::{too_large, Done};
use super::queue::PartitionQueue;
use super::sender;
use super::shared::{lock, Inner, TopicState};
use crate::error::{Error, ErrorKind, Result};
use crate::message::Message;

/// What staging one message came to.
pub(super) enum Staging {
    /// Copied into a batch whose outcome this is (`None` when the caller
    /// does not wait for it: holding it tells the sender someone will hear
    /// of the outcome).
    Queued(Option<Arc<Done>>),
    /// The partition's queue is full: wait for room, then try again.
    Full(Arc<PartitionQueue>),
    /// Metadata for the topic is needed first.
    NeedMetadata,
}

/// Balances `m` to a partition of `topic` and copies it into that
/// partition's open batch.
pub(super) fn stage(
    inner: &Arc<Inner>,
    topic: &str,
    m: &Message<'_>,
    now: i64,
    wait: bool,
) -> Result<Staging> {
    let mut topics = lock(&inner.topics);
    let generation = inner.brokers.generation();
    let stale = topics.get(topic).is_none_or(|t| t.generation != generation);
    if stale {
        let Some(meta) = inner
            .brokers
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
                        balancer: inner.config.balancer.build(),
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
        // A queue closes when the Writer does, or when its sender task
        // ended early (a panic): then a new sender takes over.
        Some(q) if !q.lock().closing => q.clone(),
        _ => {
            if inner.closed.load(Ordering::Acquire) {
                return Err(Error::new(ErrorKind::Closed));
            }
            let q = spawn_sender(inner, topic, partition);
            t.queues.insert(partition, q.clone());
            q
        }
    };
    drop(topics);
    stage_in(inner, &queue, m, now, wait).map_err(|e| e.with_partition(topic, partition))
}

fn stage_in(
    inner: &Inner,
    queue: &Arc<PartitionQueue>,
    m: &Message<'_>,
    now: i64,
    wait: bool,
) -> Result<Staging> {
    let cfg = &inner.config;
    let timestamp = m.timestamp_ms(now);
    let mut q = queue.lock();
    if q.closing {
        return Err(Error::new(ErrorKind::Closed));
    }
    loop {
        if q.open.is_none() {
            q.open = Some(inner.new_staged());
            queue.wake.notify_one();
        }
        let Some(open) = q.open.as_mut() else {
            continue;
        };
        let cost = open.cost(m, timestamp)?;
        if RECORD_BATCH_OVERHEAD + cost > cfg.batch_bytes {
            return Err(too_large(RECORD_BATCH_OVERHEAD + cost, cfg.batch_bytes));
        }
        let full = open.encoded + cost > cfg.batch_bytes || open.count as usize >= cfg.batch_size;
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
        let done = wait.then(|| open.done.clone());
        if open.count as usize >= cfg.batch_size && q.sealed.len() < cfg.max_buffered_batches {
            if let Some(b) = q.open.take() {
                q.sealed.push_back(b);
            }
            queue.wake.notify_one();
        }
        return Ok(Staging::Queued(done));
    }
}

/// A queue for `topic`'s `partition`, and the sender task that empties it.
fn spawn_sender(inner: &Arc<Inner>, topic: &str, partition: i32) -> Arc<PartitionQueue> {
    let closing = inner.closed.load(Ordering::Acquire);
    let queue = Arc::new(PartitionQueue::new(topic, partition, closing));
    lock(&inner.queues).push(queue.clone());
    let handle = tokio::spawn(sender::run(inner.clone(), queue.clone()));
    lock(&inner.senders).push(handle);
    queue
}
