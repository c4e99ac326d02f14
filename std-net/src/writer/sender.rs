//! A partition's sender task: sends its batches one at a time, in order,
//! each until written or given up, retrying as core's policy decides
//! ([`ProduceRecovery`]: the same leader again, a metadata refresh first,
//! or, for idempotent writes, a new epoch with the batch renumbered from 0).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use microkafka_core::producer::{PartitionSequence, ProduceRecovery, ProducerIdAndEpoch};
use microkafka_core::protocol::ApiKey;
use microkafka_core::record::BatchOptions;

use super::batch::Staged;
use super::config::Completion;
use super::queue::PartitionQueue;
use super::shared::{lock, Inner};
use crate::broker::{BrokerConn, Slot};
use crate::error::{Error, ErrorKind, Result};
use crate::requests::produce::{produce_on, BatchBuffers, ProduceAnswer};
use crate::requests::PartitionAt;

/// What the sender does next.
enum Next {
    Send(Staged),
    Wait(Option<Instant>),
    Exit,
}

/// What a sender task holds: the batch being sent. When the task ends,
/// however it ends (done, aborted by `close`, dropped by a runtime shutting
/// down, unwinding from a panic), its drop closes the queue and fails every
/// batch left, so each message gets an outcome.
struct SenderGuard {
    inner: Arc<Inner>,
    queue: Arc<PartitionQueue>,
    in_flight: Option<Staged>,
}

impl Drop for SenderGuard {
    fn drop(&mut self) {
        let mut left: Vec<Staged> = self.in_flight.take().into_iter().collect();
        {
            // Closed under the lock: nothing is queued after this.
            let mut q = self.queue.lock();
            q.closing = true;
            left.extend(q.sealed.drain(..));
            left.extend(q.open.take());
        }
        self.queue.space.notify_waiters();
        let kind = if self.inner.close_expired.load(Ordering::Acquire) {
            ErrorKind::Timeout
        } else {
            ErrorKind::Closed
        };
        for staged in left.iter().filter(|s| s.count > 0) {
            let e = Error::new(kind.clone())
                .with_api(ApiKey::Produce)
                .with_partition(&self.queue.topic, self.queue.partition);
            self.inner.counters.errors.add(staged.count as u64);
            complete(&self.inner, &self.queue, staged, Err(e), 0);
        }
    }
}

/// Sends one partition's batches, one at a time, in order.
pub(super) async fn run(inner: Arc<Inner>, queue: Arc<PartitionQueue>) {
    let mut guard = SenderGuard {
        inner: inner.clone(),
        queue: queue.clone(),
        in_flight: None,
    };
    let mut answers = Answers {
        slot: Slot::new(),
        buf: Vec::new(),
    };
    // The partition's sequence numbers (idempotent writes).
    let mut sequence = PartitionSequence::new();
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
                let staged = guard.in_flight.insert(staged);
                let (result, attempts, buffers) =
                    send_batch(&inner, &queue, staged, &mut answers, &mut sequence).await;
                if let Some(staged) = guard.in_flight.take() {
                    complete(&inner, &queue, &staged, result, attempts);
                    inner.recycle(staged, buffers);
                }
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

/// Where a sender's answers come: reused for every request.
struct Answers {
    slot: Arc<Slot>,
    buf: Vec<u8>,
}

/// Builds and sends (with retries) one batch: its result, the attempts
/// made, and the buffers to reuse.
async fn send_batch(
    inner: &Inner,
    queue: &PartitionQueue,
    staged: &Staged,
    answers: &mut Answers,
    sequence: &mut PartitionSequence,
) -> (Result<i64>, u32, BatchBuffers) {
    let c = &inner.counters;
    c.batch_time.observe_duration(staged.opened.elapsed());
    let started = Instant::now();
    let mut buffers = lock(&inner.pool).buffers.pop().unwrap_or_default();
    let (result, attempts) = match producer_with_retries(inner).await {
        Err(e) => (Err(e), 0),
        Ok(producer) => {
            let stamp = producer.map(|p| (p, sequence.assign(p, staged.count)));
            produce_with_retries(inner, queue, staged, &mut buffers, stamp, sequence, answers).await
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
    (result, attempts, buffers)
}

/// Gives a batch its outcome: first to the `write_messages` calls waiting
/// for it, then to the `completion` callback (a panic in it is caught and
/// kept for `close`). An error neither took is kept for `close` too.
fn complete(
    inner: &Inner,
    queue: &PartitionQueue,
    staged: &Staged,
    result: Result<i64>,
    attempts: u32,
) {
    // Synchronous callers hold the outcome until they have read it.
    let mut told = Arc::strong_count(&staged.done) > 1;
    staged.done.set(result.clone());
    if let Some(callback) = &inner.config.completion {
        let completion = Completion {
            topic: &queue.topic,
            partition: queue.partition,
            messages: staged.count as usize,
            bytes: staged.bytes,
            base_offset: *result.as_ref().unwrap_or(&-1),
            attempts,
            error: result.as_ref().err(),
        };
        match catch_unwind(AssertUnwindSafe(|| callback(&completion))) {
            Ok(()) => told = true,
            Err(panic) => inner.report(
                Error::panicked("the Writer's completion callback", &*panic)
                    .with_partition(&queue.topic, queue.partition),
            ),
        }
    }
    if let Err(e) = result {
        if !told {
            inner.report(e);
        }
    }
}

/// The producer id and epoch for idempotent batches (`None`: plain
/// writes), retrying retriable failures to get it.
async fn producer_with_retries(inner: &Inner) -> Result<Option<ProducerIdAndEpoch>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match inner.idempotence.producer(&inner.brokers).await {
            Err(e) if e.is_retriable() && attempt < inner.config.max_attempts => {
                let delay = inner.backoff.delay_with_jitter(attempt, inner.jitter());
                tokio::time::sleep(delay).await;
            }
            result => return result,
        }
    }
}

/// The id, epoch and base sequence an idempotent batch carries.
type Stamp = Option<(ProducerIdAndEpoch, i32)>;

/// `staged`'s record batch built into `buffers`, stamped with `stamp`.
fn build<'b>(
    inner: &Inner,
    buffers: &'b mut BatchBuffers,
    staged: &Staged,
    stamp: Stamp,
) -> Result<&'b [u8]> {
    let mut options = BatchOptions::default();
    if let Some((producer, base)) = stamp {
        options.producer_id = producer.id;
        options.producer_epoch = producer.epoch;
        options.base_sequence = base;
    }
    let built = buffers.build(inner.config.compression, options, staged.encoded, |b| {
        staged.append_to(b)
    })?;
    inner.counters.batch_bytes.observe(built.len() as u64);
    Ok(built)
}

/// Sends `staged` (stamped with `stamp`) until it is written, given up,
/// or out of attempts, as core's [`ProduceRecovery`] decides for each
/// answer.
async fn produce_with_retries(
    inner: &Inner,
    queue: &PartitionQueue,
    staged: &Staged,
    buffers: &mut BatchBuffers,
    mut stamp: Stamp,
    sequence: &mut PartitionSequence,
    answers: &mut Answers,
) -> (Result<i64>, u32) {
    let count = staged.count;
    let mut attempt = 0;
    let mut bytes = match build(inner, buffers, staged, stamp) {
        Ok(bytes) => bytes,
        Err(e) => return (Err(e), 0),
    };
    loop {
        attempt += 1;
        let seen = inner.brokers.generation();
        let (decision, error) = match produce_once(inner, queue, bytes, answers).await {
            Ok((answer, conn)) => {
                let decision = match stamp {
                    Some((_, base)) => ProduceRecovery::idempotent(
                        answer.error,
                        sequence.position(base),
                        answer.log_start_offset,
                    ),
                    None => ProduceRecovery::plain(answer.error),
                };
                if decision.is_written() {
                    if let Some((_, base)) = stamp {
                        sequence.acknowledged(base, count);
                    }
                    // A duplicate's offset is unknown.
                    let offset = match decision {
                        ProduceRecovery::Done => answer.base_offset,
                        _ => -1,
                    };
                    return (Ok(offset), attempt);
                }
                let e = Error::kafka(answer.error, answer.message.as_deref());
                (decision, e.with_broker(conn.broker()))
            }
            // No answer (no leader, a dropped connection, a timeout): the
            // leader may have moved.
            Err(e) if e.is_retriable() => (ProduceRecovery::RefreshMetadata, e),
            Err(e) => (ProduceRecovery::Fail, e),
        };
        if !decision.is_retriable() || attempt >= inner.config.max_attempts {
            // Given up after it was sent: the broker may have it, so its
            // sequence numbers are in doubt; the partition's next batch
            // starts a new epoch.
            if let Some((producer, _)) = stamp {
                inner.idempotence.bump(producer).await;
            }
            return (Err(error), attempt);
        }
        inner.counters.retries.add(1);
        match decision {
            ProduceRecovery::RefreshMetadata => {
                let _ = inner.brokers.refresh(&[&queue.topic], Some(seen)).await;
            }
            ProduceRecovery::BumpEpoch => {
                // A gap, or the broker lost the producer: a new epoch (or
                // id), this batch renumbered from 0.
                if let Some((producer, _)) = stamp {
                    inner.idempotence.bump(producer).await;
                }
                if let Ok(Some(producer)) = inner.idempotence.producer(&inner.brokers).await {
                    stamp = Some((producer, sequence.assign(producer, count)));
                    bytes = match build(inner, buffers, staged, stamp) {
                        Ok(rebuilt) => rebuilt,
                        Err(e) => return (Err(e), attempt),
                    };
                }
            }
            _ => {}
        }
        let delay = inner.backoff.delay_with_jitter(attempt, inner.jitter());
        tokio::time::sleep(delay).await;
    }
}

/// Sends the batch to the partition's leader: its answer, and the
/// connection it came on.
async fn produce_once(
    inner: &Inner,
    queue: &PartitionQueue,
    batch: &[u8],
    answers: &mut Answers,
) -> Result<(ProduceAnswer, Arc<BrokerConn>)> {
    let brokers = &inner.brokers;
    let leader = match brokers.leader(&queue.topic, queue.partition) {
        Some((leader, _)) if leader >= 0 => leader,
        Some(_) => return Err(Error::new(ErrorKind::NoLeader)),
        None => return Err(Error::new(ErrorKind::NotFound("partition"))),
    };
    let conn = brokers.conn(leader).await?;
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
        &answers.slot,
        &mut answers.buf,
    )
    .await?;
    Ok((answer, conn))
}
