//! [`Producer`]: records into per-partition batches in the caller's buffer,
//! sent on linger or size, acknowledged, retried, following leaders.

mod config;

use embassy_net::tcp::TcpSocket;
use embassy_time::{Instant, Timer};
use heapless::Vec;
use microkafka_core::balancer::{Balancer, MessageRef};
use microkafka_core::client::MetadataCache;
use microkafka_core::producer::{Accumulator, Appended, ProduceErrorAction};
use microkafka_core::protocol::fixed::{self, InitProducerIdV0};
use microkafka_core::protocol::ApiKey;
use microkafka_core::record::BatchOptions;
use microkafka_core::ErrorCode;

pub use config::{ProducerConfig, Record, RequiredAcks};

use crate::cluster::{Cluster, ClusterConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::fmt::{debug, warning};
use crate::resolve::Resolve;

/// Counters since the producer was created (kafka-go's `WriterStats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ProducerStats {
    /// Records the brokers acknowledged (or, with `acks = 0`, that were sent).
    pub records: u32,
    /// Batches acknowledged (or sent).
    pub batches: u32,
    /// Attempts that failed and were retried.
    pub retries: u32,
    /// Records given up (their batch failed `max_attempts` times, or for good).
    pub failed_records: u32,
    /// Metadata refreshes after a leader change or a lost broker.
    pub metadata_refreshes: u32,
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

/// A Kafka producer for one topic, with no heap: records are copied into
/// batches in a buffer the caller owns, and requests are written around
/// them (no frame-sized copy).
///
/// Limits, all chosen by the caller:
/// - `CONNS`: broker connections (one `TcpSocket` each, with its own
///   socket buffers). One is enough: the producer reconnects to whichever
///   broker leads the partition it sends to. Give one per broker that leads
///   a partition you write to, to avoid reconnecting.
/// - `SLOTS`: batches filling at once; the batch buffer is cut into `SLOTS`
///   equal slots, each holding one partition's batch, so a slot's size is
///   the largest batch (and record) this producer sends. A record for a
///   partition without a slot sends the oldest batch first.
/// - `PARTITIONS`: partitions of the topic tracked (a larger topic is an
///   error). `BROKERS`: broker addresses kept from metadata.
/// - In-flight requests: one per producer. A batch is sent and acknowledged
///   before the next one leaves, which keeps records in order through
///   retries (Kafka's `max.in.flight.requests.per.connection = 1`) and lets
///   a batch stay in its slot until acknowledged, ready to be resent.
///
/// Memory: the batch buffer, the response buffer (answers to Metadata,
/// Produce, ApiVersions: 1 KiB is plenty for a topic of a few partitions
/// and brokers) and [`REQUEST_BUFFER_LEN`](crate::REQUEST_BUFFER_LEN) bytes
/// inside the producer.
///
/// Sending: [`send`](Self::send) appends a record and sends whatever batch
/// is due; batches that wait for their linger are sent by the next `send`,
/// by [`flush_due`](Self::flush_due) (call it at [`deadline`](Self::deadline),
/// e.g. with `select`), or by [`flush`](Self::flush).
pub struct Producer<
    'a,
    R,
    B,
    const CONNS: usize = 1,
    const SLOTS: usize = 1,
    const PARTITIONS: usize = 16,
    const BROKERS: usize = 4,
> {
    cluster: Cluster<'a, R, CONNS, BROKERS, PARTITIONS>,
    batches: Accumulator<'a, SLOTS>,
    balancer: B,
    config: ProducerConfig<'a>,
    /// Producer id and epoch, once InitProducerId answered (idempotence).
    producer_id: Option<(i64, i16)>,
    /// Next sequence number per partition (idempotence).
    sequences: Vec<(i32, i32), PARTITIONS>,
    /// Unix time minus the monotonic clock, in ms, once set.
    clock_offset_ms: Option<i64>,
    random: u32,
    stats: ProducerStats,
}

impl<
        'a,
        R: Resolve,
        B: Balancer,
        const CONNS: usize,
        const SLOTS: usize,
        const PARTITIONS: usize,
        const BROKERS: usize,
    > Producer<'a, R, B, CONNS, SLOTS, PARTITIONS, BROKERS>
{
    /// A producer over `sockets` (created by the caller with their buffers,
    /// unconnected), resolving broker names with `resolver`, batching in
    /// `batch_buffer` and reading answers into `response_buffer`. Nothing
    /// is sent until the first record.
    ///
    /// Errors: [`ErrorKind::Protocol`] when a slot of `batch_buffer` cannot
    /// hold a batch header, or `CONNS` is zero.
    pub fn new(
        sockets: [TcpSocket<'a>; CONNS],
        resolver: R,
        balancer: B,
        batch_buffer: &'a mut [u8],
        response_buffer: &'a mut [u8],
        config: ProducerConfig<'a>,
    ) -> Result<Self> {
        let batches = Accumulator::new(
            batch_buffer,
            core::time::Duration::from_millis(config.linger.as_millis()),
            config.batch_bytes,
        )?;
        let cluster = Cluster::new(
            sockets,
            resolver,
            MetadataCache::new(),
            response_buffer,
            ClusterConfig {
                brokers: config.brokers,
                topic: config.topic,
                client_id: config.client_id,
                connect_timeout: config.connect_timeout,
                request_timeout: config.request_timeout,
            },
        )?;
        Ok(Producer {
            cluster,
            batches,
            balancer,
            config,
            producer_id: None,
            sequences: Vec::new(),
            clock_offset_ms: None,
            random: (Instant::now().as_ticks() as u32) | 1,
            stats: ProducerStats::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ProducerConfig<'a> {
        &self.config
    }

    /// Counters since creation.
    pub fn stats(&self) -> ProducerStats {
        self.stats
    }

    /// Records waiting in batches (not yet acknowledged).
    pub fn pending_records(&self) -> usize {
        self.batches.pending_records()
    }

    /// The largest record (key, value and headers, encoded) a batch slot takes.
    pub fn max_record_len(&self) -> usize {
        self.batches.max_record_len()
    }

    /// Tells the producer the wall-clock time (ms since the Unix epoch, from
    /// SNTP, an RTC...): records without a timestamp get `unix_ms` plus the
    /// time elapsed since. Until it is set they carry -1 (no timestamp; a
    /// broker with `LogAppendTime` stamps them itself).
    pub fn set_unix_time(&mut self, unix_ms: i64) {
        self.clock_offset_ms = Some(unix_ms - Instant::now().as_millis() as i64);
    }

    /// The topic's partition ids, once metadata was fetched.
    pub fn partitions(&self) -> &[i32] {
        self.cluster.metadata.partitions()
    }

    /// The monotonic clock as core's batching counts it (ms resolution).
    fn now() -> core::time::Duration {
        core::time::Duration::from_millis(Instant::now().as_millis())
    }

    /// When a lingering batch becomes due: call [`flush_due`](Self::flush_due)
    /// then. `None` when no batch is open.
    pub fn deadline(&self) -> Option<Instant> {
        self.batches
            .deadline()
            .map(|d| Instant::from_millis(d.as_secs() * 1_000 + u64::from(d.subsec_millis())))
    }

    /// Appends `record` to its partition's batch, then sends every batch
    /// that is due (full, or lingered long enough). Returns once the record
    /// is in a batch; batches sent meanwhile were acknowledged.
    ///
    /// Errors: a batch that failed (see [`ProducerConfig::max_attempts`]);
    /// its records are dropped, and if it was sent to make room, `record`
    /// was not added. [`ErrorKind::Protocol`] (`TooLarge`) for a record
    /// that cannot fit a batch slot.
    pub async fn send(&mut self, record: &Record<'_>) -> Result<()> {
        let partition = match record.partition {
            Some(p) => p,
            None => self.choose_partition(record).await?,
        };
        let timestamp = record.timestamp.unwrap_or_else(|| {
            self.clock_offset_ms
                .map_or(-1, |offset| offset + Instant::now().as_millis() as i64)
        });
        loop {
            let appended = self.batches.append(
                Self::now(),
                partition,
                timestamp,
                record.key,
                record.value,
                record.headers,
            );
            match appended.map_err(|e| Error::from(e).with_partition(partition))? {
                Appended::Added { .. } => break,
                Appended::SendFirst { slot } => self.send_batch(slot).await?,
            }
        }
        self.flush_due().await
    }

    /// The balancer's partition for `record`, fetching metadata first when
    /// the topic's partitions are not known (retried while the topic is
    /// being created or no broker answers, up to `max_attempts`).
    async fn choose_partition(&mut self, record: &Record<'_>) -> Result<i32> {
        let message = MessageRef::new(record.key, record.value);
        let mut attempt = 0;
        loop {
            if self.cluster.metadata.is_known() {
                let partitions = self.cluster.metadata.partitions();
                if let Some(p) = self.balancer.balance(&message, partitions) {
                    return Ok(p);
                }
            }
            let error = match self.refresh().await {
                Ok(()) if self.cluster.metadata.is_known() => continue,
                Ok(()) => Error::new(ErrorKind::NoPartitions).with_api(ApiKey::Metadata),
                Err(e) => e,
            };
            attempt += 1;
            if !error.is_retriable() || attempt >= self.config.max_attempts.max(1) {
                return Err(error);
            }
            self.back_off(attempt).await;
        }
    }

    /// Waits before retry number `attempt` (capped exponential, with jitter).
    async fn back_off(&mut self, attempt: u32) {
        self.random ^= self.random << 13;
        self.random ^= self.random >> 17;
        self.random ^= self.random << 5;
        let delay = self.config.backoff.delay_with_jitter(attempt, self.random);
        Timer::after_millis(delay.as_secs() * 1_000 + u64::from(delay.subsec_millis())).await;
    }

    /// Sends every batch that is due now.
    pub async fn flush_due(&mut self) -> Result<()> {
        while let Some(slot) = self.batches.due(Self::now()) {
            self.send_batch(slot).await?;
        }
        Ok(())
    }

    /// Sends every batch, due or not, and waits for the acknowledgements.
    /// On an error the other batches are still held: call again.
    pub async fn flush(&mut self) -> Result<()> {
        while let Some(slot) = self.batches.oldest() {
            self.send_batch(slot).await?;
        }
        Ok(())
    }

    /// Flushes, then closes the broker connections once what was written
    /// has reached the brokers (with `acks = 0`, nothing else says so). The
    /// producer reconnects if used again.
    pub async fn close(&mut self) -> Result<()> {
        let flushed = self.flush().await;
        self.cluster.close().await;
        flushed
    }

    async fn refresh(&mut self) -> Result<()> {
        self.stats.metadata_refreshes = self.stats.metadata_refreshes.wrapping_add(1);
        match self.cluster.refresh_metadata().await? {
            ErrorCode::NONE => Ok(()),
            code => Err(Error::new(ErrorKind::Kafka(code)).with_api(ApiKey::Metadata)),
        }
    }

    /// Sends the batch in `slot` until acknowledged or given up; the slot is
    /// free afterwards either way.
    async fn send_batch(&mut self, slot: usize) -> Result<()> {
        let Some(partition) = self.batches.partition(slot) else {
            return Ok(());
        };
        let count = self.batches.record_count(slot);
        let max_attempts = self.config.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            let result = self.try_send(slot, partition).await;
            let error = match result {
                Ok(()) => {
                    self.advance_sequence(partition, count);
                    self.batches.release(slot);
                    self.stats.records = self.stats.records.wrapping_add(count as u32);
                    self.stats.batches = self.stats.batches.wrapping_add(1);
                    return Ok(());
                }
                Err(e) => e,
            };
            attempt += 1;
            let recovery = recovery(&error);
            if recovery == Recovery::Fail || attempt >= max_attempts {
                warning!("microkafka: batch given up: {:?}", error);
                self.batches.release(slot);
                // The broker may have written it: the next batch must not
                // reuse its sequence numbers (it would be taken for a
                // duplicate), so start over with a new producer id.
                self.producer_id = None;
                self.sequences.clear();
                self.stats.failed_records = self.stats.failed_records.wrapping_add(count as u32);
                return Err(error);
            }
            debug!(
                "microkafka: produce attempt {:?} failed: {:?}",
                attempt, error
            );
            self.stats.retries = self.stats.retries.wrapping_add(1);
            match recovery {
                Recovery::Refresh => {
                    self.cluster.metadata.invalidate();
                    self.stats.metadata_refreshes = self.stats.metadata_refreshes.wrapping_add(1);
                }
                Recovery::NewProducerId => {
                    self.producer_id = None;
                    self.sequences.clear();
                }
                Recovery::Retry | Recovery::Fail => {}
            }
            self.back_off(attempt).await;
        }
    }

    fn idempotent(&self) -> bool {
        self.config.idempotent && self.config.acks == RequiredAcks::All
    }

    fn sequence(&self, partition: i32) -> i32 {
        self.sequences
            .iter()
            .find(|(p, _)| *p == partition)
            .map_or(0, |(_, s)| *s)
    }

    fn advance_sequence(&mut self, partition: i32, count: i32) {
        if !self.idempotent() {
            return;
        }
        // Sequence numbers wrap from i32::MAX to 0 (as the Java client's).
        let next = |s: i32| ((i64::from(s) + i64::from(count)) % (i64::from(i32::MAX) + 1)) as i32;
        if let Some(entry) = self.sequences.iter_mut().find(|(p, _)| *p == partition) {
            entry.1 = next(entry.1);
        } else {
            // The table holds PARTITIONS entries, as many as metadata allows.
            let _ = self.sequences.push((partition, next(0)));
        }
    }

    /// One attempt: leader connection, producer id, seal, send, answer.
    async fn try_send(&mut self, slot: usize, partition: i32) -> Result<()> {
        let conn = self.cluster.leader_connection(partition).await?;
        let mut options = BatchOptions::default();
        if self.idempotent() {
            let (id, epoch) = match self.producer_id {
                Some(pid) => pid,
                None => self.init_producer_id(conn).await?,
            };
            options.producer_id = id;
            options.producer_epoch = epoch;
            options.base_sequence = self.sequence(partition);
        }
        let batch = self
            .batches
            .seal(slot, options)
            .map_err(|e| Error::from(e).with_partition(partition))?;
        let cluster = &mut self.cluster;
        let timeout = cluster.config.request_timeout;
        let connection = &mut cluster.conns[conn];
        let produced = connection
            .produce(
                &mut cluster.head,
                cluster.rx,
                self.config.topic,
                partition,
                batch,
                self.config.acks.value(),
                timeout,
            )
            .await?;
        let node = connection.node();
        match produced.map(|p| p.error_code) {
            None | Some(ErrorCode::NONE) => Ok(()),
            // The broker has this batch already (our retry of a lost answer).
            Some(ErrorCode::DUPLICATE_SEQUENCE_NUMBER) if self.idempotent() => Ok(()),
            Some(code) => Err(Error::new(ErrorKind::Kafka(code))
                .with_api(ApiKey::Produce)
                .with_broker(node)
                .with_partition(partition)),
        }
    }

    async fn init_producer_id(&mut self, conn: usize) -> Result<(i64, i16)> {
        let node = self.cluster.conns[conn].node();
        let api = (ApiKey::InitProducerId, fixed::INIT_PRODUCER_ID);
        let body = self
            .cluster
            .request_fixed(conn, api, &mut fixed::encode_init_producer_id_request)
            .await?;
        let context = |e: Error| e.with_api(ApiKey::InitProducerId).with_broker(node);
        let response = InitProducerIdV0::decode(body).map_err(|e| context(e.into()))?;
        if response.error_code != ErrorCode::NONE {
            return Err(context(ErrorKind::Kafka(response.error_code).into()));
        }
        let pid = (response.producer_id, response.producer_epoch);
        debug!("microkafka: producer id {:?} epoch {:?}", pid.0, pid.1);
        self.producer_id = Some(pid);
        self.sequences.clear();
        Ok(pid)
    }
}
