//! The producer's logic as one synchronous [`Plan`] ([`Run`]): append the
//! record (choosing its partition, fetching metadata first when needed),
//! then send the batches that are due, each until acknowledged or given up:
//! leader connection, producer id, Produce, answer, and on failure the
//! recovery (metadata refresh, new producer id) and a backoff.

use embassy_time::{Duration, Instant};
use microkafka_core::balancer::{Balancer, MessageRef};
use microkafka_core::producer::{Appended, ProduceErrorAction};
use microkafka_core::protocol::fixed::{self, InitProducerIdV0, ProducedV3};
use microkafka_core::protocol::frame::extend_frame;
use microkafka_core::protocol::ApiKey;
use microkafka_core::record::BatchOptions;
use microkafka_core::wire::Writer;
use microkafka_core::ErrorCode;

use super::{Record, RequiredAcks, State};
use crate::cluster::Cluster;
use crate::drive::{Io, Plan, Progress, Step};
use crate::error::{Error, ErrorKind, Failed, Fallible};
use crate::fmt::{debug, warning};
use crate::resolve::Resolve;

/// What a call to the producer is for.
#[derive(Clone, Copy)]
pub(crate) enum Goal<'r> {
    /// Append this record, then send what is due.
    Send(&'r Record<'r>),
    /// Send the batches that are due.
    FlushDue,
    /// Send every batch.
    FlushAll,
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recovery {
    /// Refresh metadata (the leader moved or its broker is gone), then retry.
    Refresh,
    /// Retry after the backoff.
    Retry,
    /// Get a new producer id (the broker lost our sequence state), then retry.
    NewProducerId,
    /// Give up.
    Fail,
}

fn recovery(e: &Error) -> Recovery {
    match e.kind {
        ErrorKind::Kafka(
            ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
            | ErrorCode::UNKNOWN_PRODUCER_ID
            | ErrorCode::INVALID_PRODUCER_EPOCH,
        ) => Recovery::NewProducerId,
        ErrorKind::Kafka(code) => match ProduceErrorAction::classify(code) {
            ProduceErrorAction::RefreshMetadata => Recovery::Refresh,
            ProduceErrorAction::Retry => Recovery::Retry,
            ProduceErrorAction::Done | ProduceErrorAction::Fail => Recovery::Fail,
        },
        ErrorKind::Protocol(_) => Recovery::Fail,
        _ => Recovery::Refresh,
    }
}

/// A batch being sent.
#[derive(Clone, Copy)]
struct Batch {
    slot: usize,
    partition: i32,
    count: i32,
    /// Failed attempts so far.
    attempt: u32,
    /// The leader's connection, once found (this attempt).
    conn: Option<usize>,
}

/// What the plan is doing.
#[derive(Clone, Copy)]
enum Job {
    /// Deciding: the record to append, or the next batch to send.
    Next,
    /// Fetching metadata to choose the record's partition (`attempt`
    /// failures so far).
    Partition { attempt: u32 },
    /// Sending a batch.
    Batch(Batch),
}

/// The answer the plan waits for.
#[derive(Clone, Copy)]
enum Awaiting {
    Nothing,
    ProducerId { conn: usize },
    Produce { conn: usize },
}

/// A batch's next step.
enum BatchStep {
    Io(Io<'static>),
    /// Send the Produce request on this connection.
    Produce(usize),
    /// The state changed: decide again.
    Again,
}

/// One call to the producer (`send`, `flush_due`, `flush`) as a plan.
pub(crate) struct Run<'s, 'a, 'r, B, const SLOTS: usize, const PARTITIONS: usize> {
    p: &'s mut State<'a, B, SLOTS, PARTITIONS>,
    goal: Goal<'r>,
    /// The record's partition, once chosen.
    partition: Option<i32>,
    timestamp: i64,
    job: Job,
    awaiting: Awaiting,
    /// A backoff to sleep before going on.
    wake: Option<Instant>,
    /// The goal failed (its error in the cluster's slot; reported at the
    /// next step).
    failed: bool,
}

/// The monotonic clock as core's batching counts it (ms resolution).
fn now() -> u64 {
    Instant::now().as_millis()
}

impl<
        R,
        B,
        const CONNS: usize,
        const SLOTS: usize,
        const PARTITIONS: usize,
        const BROKERS: usize,
    > Plan<Cluster<'_, R, CONNS, BROKERS, PARTITIONS>> for Run<'_, '_, '_, B, SLOTS, PARTITIONS>
where
    R: Resolve,
    B: Balancer,
{
    fn step(
        &mut self,
        cluster: &mut Cluster<'_, R, CONNS, BROKERS, PARTITIONS>,
        outcome: Option<Fallible<usize>>,
    ) -> Step<'_> {
        if let Some(result) = outcome {
            self.answered(cluster, result);
        }
        let (batch, conn) = loop {
            if core::mem::take(&mut self.failed) {
                return Step::Done(Err(Failed));
            }
            if let Some(at) = self.wake.take() {
                return Step::Io(Io::Sleep(at));
            }
            match self.job {
                Job::Next => {
                    if let Some(done) = self.next_job(cluster) {
                        return Step::Done(done);
                    }
                }
                Job::Partition { attempt } => {
                    if let Some(io) = self.find_partition(cluster, attempt) {
                        return Step::Io(io);
                    }
                }
                Job::Batch(batch) => match self.batch_step(cluster, batch) {
                    BatchStep::Io(io) => return Step::Io(io),
                    BatchStep::Produce(conn) => break (batch, conn),
                    BatchStep::Again => {}
                },
            }
        };
        self.produce(cluster, batch, conn)
    }
}

impl<'s, 'a, 'r, B: Balancer, const SLOTS: usize, const PARTITIONS: usize>
    Run<'s, 'a, 'r, B, SLOTS, PARTITIONS>
{
    /// A plan for `goal`.
    pub(crate) fn new(p: &'s mut State<'a, B, SLOTS, PARTITIONS>, goal: Goal<'r>) -> Self {
        let (partition, timestamp) = match goal {
            Goal::Send(record) => {
                let now = Instant::now().as_millis() as i64;
                let stamp = p.clock_offset_ms.map_or(-1, |offset| offset + now);
                (record.partition, record.timestamp.unwrap_or(stamp))
            }
            Goal::FlushDue | Goal::FlushAll => (None, -1),
        };
        Run {
            p,
            goal,
            partition,
            timestamp,
            job: Job::Next,
            awaiting: Awaiting::Nothing,
            wake: None,
            failed: false,
        }
    }

    /// The record's append, or the next batch to send; `Some` when the goal
    /// is reached (or failed).
    fn next_job<R: Resolve, const CONNS: usize, const BROKERS: usize>(
        &mut self,
        cluster: &mut Cluster<'_, R, CONNS, BROKERS, PARTITIONS>,
    ) -> Option<Fallible<()>> {
        let slot = match self.goal {
            Goal::Send(record) => {
                let metadata = &cluster.metadata;
                let message = MessageRef::new(record.key, record.value);
                let chosen = self.partition.or_else(|| {
                    let known = metadata.is_known().then_some(metadata.partitions());
                    self.p.balancer.balance(&message, known?)
                });
                let Some(partition) = chosen else {
                    self.job = Job::Partition { attempt: 0 };
                    return None;
                };
                self.partition = Some(partition);
                let appended = self.p.batches.append(
                    now(),
                    partition,
                    self.timestamp,
                    record.key,
                    record.value,
                    record.headers,
                );
                match appended {
                    Ok(Appended::Added { .. }) => {
                        self.goal = Goal::FlushDue;
                        return None;
                    }
                    Ok(Appended::SendFirst { slot }) => slot,
                    Err(e) => {
                        cluster.fail(e);
                        cluster.error.add_context(None, None, Some(partition));
                        return Some(Err(Failed));
                    }
                }
            }
            Goal::FlushDue | Goal::FlushAll => {
                let next = match self.goal {
                    Goal::FlushAll => self.p.batches.oldest(),
                    _ => self.p.batches.due(now()),
                };
                match next {
                    Some(slot) => slot,
                    None => return Some(Ok(())),
                }
            }
        };
        let Some(partition) = self.p.batches.partition(slot) else {
            let free = microkafka_core::Error::Malformed("no batch in this slot");
            return Some(Err(cluster.fail(free)));
        };
        self.job = Job::Batch(Batch {
            slot,
            partition,
            count: self.p.batches.record_count(slot),
            attempt: 0,
            conn: None,
        });
        None
    }

    /// Refreshes metadata until the record's partition can be chosen,
    /// retrying while the topic is being created or no broker answers.
    fn find_partition<R: Resolve, const CONNS: usize, const BROKERS: usize>(
        &mut self,
        cluster: &mut Cluster<'_, R, CONNS, BROKERS, PARTITIONS>,
        attempt: u32,
    ) -> Option<Io<'static>> {
        let result = match cluster.poll_refresh() {
            Progress::Io(io) => return Some(io),
            Progress::Done(result) => result,
        };
        let stats = &mut self.p.stats;
        stats.metadata_refreshes = stats.metadata_refreshes.wrapping_add(1);
        let kind = match result {
            Ok(ErrorCode::NONE) if cluster.metadata.is_known() => {
                self.job = Job::Next;
                return None;
            }
            Ok(ErrorCode::NONE) => Some(ErrorKind::NoPartitions),
            Ok(code) => Some(ErrorKind::Kafka(code)),
            Err(Failed) => None,
        };
        if let Some(kind) = kind {
            cluster.fail(kind);
            cluster
                .error
                .add_context(Some(ApiKey::Metadata), None, None);
        }
        let attempt = attempt + 1;
        if !cluster.error.is_retriable() || attempt >= self.p.config.max_attempts.max(1) {
            self.failed = true;
        } else {
            self.job = Job::Partition { attempt };
            self.back_off(attempt);
        }
        None
    }

    /// The leader's connection, then a producer id: what a batch needs
    /// before its Produce request.
    fn batch_step<R: Resolve, const CONNS: usize, const BROKERS: usize>(
        &mut self,
        cluster: &mut Cluster<'_, R, CONNS, BROKERS, PARTITIONS>,
        batch: Batch,
    ) -> BatchStep {
        let Some(conn) = batch.conn else {
            match cluster.poll_leader(batch.partition) {
                Progress::Io(io) => return BatchStep::Io(io),
                Progress::Done(Ok(conn)) => {
                    let conn = Some(conn);
                    self.job = Job::Batch(Batch { conn, ..batch });
                }
                Progress::Done(Err(Failed)) => self.failed_attempt(cluster, batch),
            }
            return BatchStep::Again;
        };
        if !self.idempotent() || self.p.producer_id.is_some() {
            return BatchStep::Produce(conn);
        }
        let api = (ApiKey::InitProducerId, fixed::INIT_PRODUCER_ID);
        let body = &mut fixed::encode_init_producer_id_request;
        match cluster.encode_fixed(conn, api, true, body) {
            Ok(len) => {
                self.awaiting = Awaiting::ProducerId { conn };
                BatchStep::Io(cluster.exchange(conn, len))
            }
            Err(e) => {
                cluster.fail(e);
                cluster.error.add_context(Some(api.0), None, None);
                self.failed_attempt(cluster, batch);
                BatchStep::Again
            }
        }
    }

    /// Writes the Produce request around the sealed batch (sent from where
    /// it lies) and asks for it to be sent.
    fn produce<R: Resolve, const CONNS: usize, const BROKERS: usize>(
        &mut self,
        cluster: &mut Cluster<'_, R, CONNS, BROKERS, PARTITIONS>,
        batch: Batch,
        conn: usize,
    ) -> Step<'_> {
        let acks = self.p.config.acks.value();
        let topic = self.p.config.topic;
        let timeout = cluster.config.request_timeout;
        let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        let len = self.p.batches.batch_len(batch.slot);
        let partition = batch.partition;
        let body = &mut |w: &mut Writer<'_>| {
            fixed::encode_produce_request_head(w, acks, timeout_ms, topic, partition, len)
        };
        let encoded = cluster
            .encode_fixed(conn, (ApiKey::Produce, fixed::PRODUCE), acks != 0, body)
            .and_then(|head| extend_frame(&mut cluster.head, len).map(|()| head));
        let head = match encoded {
            Ok(head) => head,
            Err(e) => {
                cluster.fail(e);
                let api = Some(ApiKey::Produce);
                cluster.error.add_context(api, None, Some(partition));
                self.failed_attempt(cluster, batch);
                return self.step(cluster, None);
            }
        };
        let options = self.batch_options(partition);
        self.awaiting = Awaiting::Produce { conn };
        match self.p.batches.seal(batch.slot, options) {
            // The broker waits up to `timeout` for replicas: give it a moment more.
            Ok(records) => Step::Io(Io::Exchange {
                conn,
                head,
                tail: records,
                answered: acks != 0,
                timeout: timeout + Duration::from_secs(1),
            }),
            Err(e) => Step::Done(Err(cluster.fail(e))),
        }
    }

    /// Takes the answer (or failure) of the request in flight.
    fn answered<R: Resolve, const CONNS: usize, const BROKERS: usize>(
        &mut self,
        cluster: &mut Cluster<'_, R, CONNS, BROKERS, PARTITIONS>,
        result: Fallible<usize>,
    ) {
        let awaiting = core::mem::replace(&mut self.awaiting, Awaiting::Nothing);
        let Job::Batch(batch) = self.job else {
            return;
        };
        let (conn, api) = match awaiting {
            Awaiting::Nothing => return,
            Awaiting::ProducerId { conn } => (conn, ApiKey::InitProducerId),
            Awaiting::Produce { conn } => (conn, ApiKey::Produce),
        };
        let node = cluster.conns.get(conn).map_or(-1, |c| c.node());
        let topic = self.p.config.topic;
        let unanswered = self.p.config.acks == RequiredAcks::None;
        // The answer's error code, and the producer id it carries.
        let answer = result.map(|len| -> Result<_, Error> {
            if api == ApiKey::Produce && unanswered {
                return Ok((ErrorCode::NONE, None));
            }
            let body = cluster.received(conn, len)?.body;
            if api == ApiKey::InitProducerId {
                let answer = InitProducerIdV0::decode(body)?;
                let pid = (answer.producer_id, answer.producer_epoch);
                return Ok((answer.error_code, Some(pid)));
            }
            let answer = ProducedV3::decode(body, topic, batch.partition)?;
            Ok((answer.error_code, None))
        });
        match answer {
            Ok(Ok((ErrorCode::NONE, Some(pid)))) => {
                debug!("microkafka: producer id {:?} epoch {:?}", pid.0, pid.1);
                self.p.producer_id = Some(pid);
                self.p.sequences.clear();
                return;
            }
            Ok(Ok((ErrorCode::NONE, None))) => return self.delivered(batch),
            // The broker has this batch already (our retry of a lost answer).
            Ok(Ok((ErrorCode::DUPLICATE_SEQUENCE_NUMBER, None))) if self.idempotent() => {
                return self.delivered(batch)
            }
            Ok(Ok((code, _))) => _ = cluster.fail(ErrorKind::Kafka(code)),
            Ok(Err(e)) => _ = cluster.fail(e),
            Err(Failed) => {}
        }
        let partition = (api == ApiKey::Produce).then_some(batch.partition);
        cluster.error.add_context(Some(api), Some(node), partition);
        self.failed_attempt(cluster, batch);
    }

    /// The batch is written: its slot is free, its sequence numbers used.
    fn delivered(&mut self, batch: Batch) {
        self.advance_sequence(batch.partition, batch.count);
        let p = &mut *self.p;
        p.batches.release(batch.slot);
        p.stats.records = p.stats.records.wrapping_add(batch.count as u32);
        p.stats.batches = p.stats.batches.wrapping_add(1);
        self.job = Job::Next;
    }

    /// An attempt failed (the error is in the cluster's slot): recover and
    /// back off, or give the batch up (its slot freed) after `max_attempts`
    /// or a fatal error.
    fn failed_attempt<R: Resolve, const CONNS: usize, const BROKERS: usize>(
        &mut self,
        cluster: &mut Cluster<'_, R, CONNS, BROKERS, PARTITIONS>,
        batch: Batch,
    ) {
        let attempt = batch.attempt + 1;
        let error = &cluster.error;
        let recovery = recovery(error);
        let p = &mut *self.p;
        if recovery == Recovery::Fail || attempt >= p.config.max_attempts.max(1) {
            warning!("microkafka: batch given up: {:?}", error);
            p.batches.release(batch.slot);
            // The broker may have written it: the next batch must not reuse
            // its sequence numbers (it would be taken for a duplicate), so
            // start over with a new producer id.
            p.producer_id = None;
            p.sequences.clear();
            p.stats.failed_records = p.stats.failed_records.wrapping_add(batch.count as u32);
            self.failed = true;
            self.job = Job::Next;
            return;
        }
        debug!(
            "microkafka: produce attempt {:?} failed: {:?}",
            attempt, error
        );
        p.stats.retries = p.stats.retries.wrapping_add(1);
        match recovery {
            Recovery::Refresh => {
                cluster.metadata.invalidate();
                p.stats.metadata_refreshes = p.stats.metadata_refreshes.wrapping_add(1);
            }
            Recovery::NewProducerId => {
                p.producer_id = None;
                p.sequences.clear();
            }
            Recovery::Retry | Recovery::Fail => {}
        }
        self.job = Job::Batch(Batch {
            attempt,
            conn: None,
            ..batch
        });
        self.back_off(attempt);
    }

    /// Sleeps before retry number `attempt` (capped exponential, with jitter).
    fn back_off(&mut self, attempt: u32) {
        let p = &mut *self.p;
        p.random ^= p.random << 13;
        p.random ^= p.random >> 17;
        p.random ^= p.random << 5;
        let ms = p.config.backoff.delay_ms_with_jitter(attempt, p.random);
        self.wake = Some(Instant::now() + Duration::from_millis(u64::from(ms)));
    }

    fn idempotent(&self) -> bool {
        self.p.config.idempotent && self.p.config.acks == RequiredAcks::All
    }

    /// The producer id, epoch and base sequence `partition`'s batch carries.
    fn batch_options(&self, partition: i32) -> BatchOptions {
        let mut options = BatchOptions::default();
        if let (true, Some((id, epoch))) = (self.idempotent(), self.p.producer_id) {
            options.producer_id = id;
            options.producer_epoch = epoch;
            options.base_sequence = self
                .p
                .sequences
                .iter()
                .find(|(p, _)| *p == partition)
                .map_or(0, |(_, s)| *s);
        }
        options
    }

    fn advance_sequence(&mut self, partition: i32, count: i32) {
        if !self.idempotent() {
            return;
        }
        // Sequence numbers wrap from i32::MAX to 0 (as the Java client's).
        let next = |s: i32| ((i64::from(s) + i64::from(count)) % (i64::from(i32::MAX) + 1)) as i32;
        let sequences = &mut self.p.sequences;
        if let Some(entry) = sequences.iter_mut().find(|(p, _)| *p == partition) {
            entry.1 = next(entry.1);
        } else {
            // The table holds PARTITIONS entries, as many as metadata allows.
            let _ = sequences.push((partition, next(0)));
        }
    }
}
