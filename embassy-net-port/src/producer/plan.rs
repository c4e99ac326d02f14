//! The producer's logic as one synchronous [`Plan`] ([`Run`]): append the
//! record (choosing its partition, fetching metadata first when needed),
//! then send the batches that are due, each until acknowledged or given up:
//! leader connection, producer id, Produce, answer, and on failure the
//! recovery core's idempotent producer policy decides
//! ([`ProduceRecovery`]: the same leader again, a metadata refresh first,
//! a new epoch, or give up; the same decision the tokio Writer makes) and
//! a backoff.

use embassy_time::{Duration, Instant};
use microkafka_core::balancer::{Balancer, MessageRef};
use microkafka_core::producer::{Appended, PartitionSequence, ProduceRecovery, ProducerIdAndEpoch};
use microkafka_core::protocol::fixed::{self, InitProducerIdV0, ProducedV3};
use microkafka_core::protocol::frame::extend_frame;
use microkafka_core::protocol::ApiKey;
use microkafka_core::record::BatchOptions;
use microkafka_core::wire::Writer;
use microkafka_core::ErrorCode;

use super::{Record, RequiredAcks, State};
use crate::cluster::Cluster;
use crate::error::{Error, ErrorKind, Failed, Fallible};
use crate::fmt::{debug, warning};
use crate::plan::{Io, Plan, Progress, Step};
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

/// The decision for an attempt that got no answer to decide on (no
/// leader, a lost connection, a timeout, a request that could not be
/// written), or whose error is not a Produce answer (InitProducerId), as
/// the tokio Writer decides it: a retriable failure refreshes metadata
/// first (the leader may have moved), anything else (protocol, TLS, SASL:
/// asking again does not help, and a storm of handshakes hurts) gives up.
fn unanswered(e: &Error) -> ProduceRecovery {
    // `Error::is_retriable` spelled out: as one match, it costs a firmware
    // no call.
    match e.kind {
        ErrorKind::Kafka(code) => ProduceRecovery::plain(code),
        ErrorKind::Protocol(_) => ProduceRecovery::Fail,
        #[cfg(feature = "tls")]
        ErrorKind::Tls(_) => ProduceRecovery::Fail,
        #[cfg(feature = "sasl")]
        ErrorKind::Sasl(_) => ProduceRecovery::Fail,
        _ => ProduceRecovery::RefreshMetadata,
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
        if !self.idempotent() || self.p.producer.is_some() {
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
        let options = match self.stamp(batch) {
            Ok(options) => options,
            Err(e) => return Step::Done(Err(cluster.fail(e))),
        };
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
        let unanswered_acks = self.p.config.acks == RequiredAcks::None;
        // The answer's error code, and the producer id it carries.
        let answer = result.map(|len| -> Result<_, Error> {
            if api == ApiKey::Produce && unanswered_acks {
                return Ok((ErrorCode::NONE, None));
            }
            let body = cluster.received(conn, len)?.body;
            if api == ApiKey::InitProducerId {
                let answer = InitProducerIdV0::decode(body)?;
                let pid = ProducerIdAndEpoch::new(answer.producer_id, answer.producer_epoch);
                return Ok((answer.error_code, Some(pid)));
            }
            let answer = ProducedV3::decode(body, topic, batch.partition)?;
            Ok((answer.error_code, None))
        });
        let decision = match answer {
            Ok(Ok((ErrorCode::NONE, Some(pid)))) => {
                debug!("microkafka: producer id {:?} epoch {:?}", pid.id, pid.epoch);
                self.p.producer = Some(pid);
                return;
            }
            Ok(Ok((code, None))) => {
                // Produce v3 carries no log start offset: core reads an
                // UNKNOWN_PRODUCER_ID as the broker having lost the state.
                let decision = match self.sent_sequence(batch) {
                    Some(sequence) => {
                        let base = sequence.last_base(batch.count);
                        ProduceRecovery::idempotent(code, sequence.position(base), None)
                    }
                    None => ProduceRecovery::plain(code),
                };
                if decision.is_written() {
                    return self.delivered(batch);
                }
                cluster.fail(ErrorKind::Kafka(code));
                Some(decision)
            }
            // InitProducerId refused.
            Ok(Ok((code, Some(_)))) => {
                cluster.fail(ErrorKind::Kafka(code));
                None
            }
            Ok(Err(e)) => {
                cluster.fail(e);
                None
            }
            Err(Failed) => None,
        };
        let decision = decision.unwrap_or_else(|| unanswered(&cluster.error));
        let partition = (api == ApiKey::Produce).then_some(batch.partition);
        cluster.error.add_context(Some(api), Some(node), partition);
        self.retry_or_fail(cluster, batch, decision);
    }

    /// The batch is written: its slot is free, its sequence numbers
    /// acknowledged.
    fn delivered(&mut self, batch: Batch) {
        if let Some(sequence) = self.sent_sequence(batch) {
            sequence.acknowledged(sequence.last_base(batch.count), batch.count);
        }
        let p = &mut *self.p;
        p.batches.release(batch.slot);
        p.stats.records = p.stats.records.wrapping_add(batch.count as u32);
        p.stats.batches = p.stats.batches.wrapping_add(1);
        self.job = Job::Next;
    }

    /// An attempt failed before an answer could be read (the error is in
    /// the cluster's slot).
    fn failed_attempt<R: Resolve, const CONNS: usize, const BROKERS: usize>(
        &mut self,
        cluster: &mut Cluster<'_, R, CONNS, BROKERS, PARTITIONS>,
        batch: Batch,
    ) {
        let decision = unanswered(&cluster.error);
        self.retry_or_fail(cluster, batch, decision);
    }

    /// Acts on `decision` for a failed attempt (the error is in the
    /// cluster's slot): recover and back off, or give the batch up (its
    /// slot freed) when the decision says so or after `max_attempts`.
    fn retry_or_fail<R: Resolve, const CONNS: usize, const BROKERS: usize>(
        &mut self,
        cluster: &mut Cluster<'_, R, CONNS, BROKERS, PARTITIONS>,
        batch: Batch,
        decision: ProduceRecovery,
    ) {
        let attempt = batch.attempt + 1;
        let error = &cluster.error;
        let p = &mut *self.p;
        if !decision.is_retriable() || attempt >= p.config.max_attempts.max(1) {
            warning!("microkafka: batch given up: {:?}", error);
            // Given up after it was sent: the broker may have it, so its
            // sequence numbers are in doubt; the partition's next batch
            // starts a new epoch.
            self.bump(batch);
            let p = &mut *self.p;
            p.batches.release(batch.slot);
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
        match decision {
            ProduceRecovery::RefreshMetadata => {
                cluster.metadata.invalidate();
                p.stats.metadata_refreshes = p.stats.metadata_refreshes.wrapping_add(1);
            }
            // A gap, or the broker lost the producer: a new epoch (or id),
            // this batch numbered anew from 0 when it is sent again.
            ProduceRecovery::BumpEpoch => self.bump(batch),
            _ => {}
        }
        self.job = Job::Batch(Batch {
            attempt,
            conn: None,
            ..batch
        });
        self.back_off(attempt);
    }

    /// The id and epoch `batch` was sent with can no longer be trusted:
    /// the next epoch (or, the epoch exhausted, a new producer id through
    /// InitProducerId). A batch never sent changes nothing. The producer
    /// cannot have moved on since the batch was sent (one batch is in
    /// flight, and only its answer changes the id), so the current id and
    /// epoch are the ones it carried; were they not, one more epoch is
    /// harmless.
    fn bump(&mut self, batch: Batch) {
        if self.sent_sequence(batch).is_some() {
            self.p.producer = self.p.producer.and_then(ProducerIdAndEpoch::bumped);
        }
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

    /// The options `batch`'s next attempt is sealed with: for an idempotent
    /// producer its id and epoch, and the batch's base sequence: numbered
    /// when first sent under this id and epoch (from 0 again under a new
    /// one), the same when sent again. The number is not kept here but is
    /// the partition's last ([`PartitionSequence::last_base`]): a partition
    /// has one batch in flight, sealed until acknowledged or given up, so
    /// a `send` cancelled half-way sends it again with its number.
    fn stamp(&mut self, batch: Batch) -> microkafka_core::Result<BatchOptions> {
        let mut options = BatchOptions::default();
        let (true, Some(producer)) = (self.idempotent(), self.p.producer) else {
            return Ok(options);
        };
        let resent = self.p.batches.is_sealed(batch.slot);
        let sequence = self
            .sequence(batch.partition)
            .ok_or(microkafka_core::Error::TooLarge {
                what: microkafka_core::Limit::Partitions,
                size: PARTITIONS + 1,
                limit: PARTITIONS,
            })?;
        options.base_sequence = if resent && sequence.producer() == Some(producer) {
            sequence.last_base(batch.count)
        } else {
            sequence.assign(producer, batch.count)
        };
        options.producer_id = producer.id;
        options.producer_epoch = producer.epoch;
        Ok(options)
    }

    /// The sequence numbers `batch` was sent with, when it was sent
    /// idempotently (sealed, by an idempotent producer).
    fn sent_sequence(&mut self, batch: Batch) -> Option<&mut PartitionSequence> {
        if !self.idempotent() || !self.p.batches.is_sealed(batch.slot) {
            return None;
        }
        self.sequence(batch.partition)
    }

    /// `partition`'s sequence numbers; `None` past the `PARTITIONS` the
    /// producer tracks (such a partition has no leader in its metadata,
    /// so no batch of it is sent).
    fn sequence(&mut self, partition: i32) -> Option<&mut PartitionSequence> {
        // A negative id wraps past any table (`None`): no separate check.
        self.p.sequences.get_mut(partition as usize)
    }
}
