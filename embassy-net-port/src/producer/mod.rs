//! [`Producer`]: records into per-partition batches in the caller's buffer,
//! sent on linger or size, acknowledged, retried, following leaders.

mod config;
mod plan;

use embassy_time::Instant;
use microkafka_core::balancer::Balancer;
use microkafka_core::client::MetadataCache;
use microkafka_core::producer::{Accumulator, PartitionSequence, ProducerIdAndEpoch};

pub use config::{ProducerConfig, Record, RequiredAcks};

use crate::cluster::{Cluster, ClusterConfig};
use crate::connection::BrokerSocket;
use crate::error::Result;
use crate::resolve::Resolve;
use plan::{Goal, Run};

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
    state: State<'a, B, SLOTS, PARTITIONS>,
}

/// Everything of the producer but the cluster: what its plans work on.
pub(crate) struct State<'a, B, const SLOTS: usize, const PARTITIONS: usize> {
    batches: Accumulator<'a, SLOTS>,
    balancer: B,
    config: ProducerConfig<'a>,
    /// Producer id and epoch, once InitProducerId answered (idempotence;
    /// `None` again when a new id is needed).
    producer: Option<ProducerIdAndEpoch>,
    /// Each partition's sequence numbers (idempotence), by partition id:
    /// a topic's ids are 0 to its partition count, which metadata bounds
    /// by `PARTITIONS`.
    sequences: [PartitionSequence; PARTITIONS],
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
    /// unconnected: `TcpSocket`s, or with the `tls` feature `&mut TlsSocket`s
    /// for `with_security`), resolving broker names with `resolver`, batching in
    /// `batch_buffer` and reading answers into `response_buffer`. Nothing
    /// is sent until the first record.
    ///
    /// Errors: [`ErrorKind::Protocol`](crate::ErrorKind::Protocol) when a slot of `batch_buffer` cannot
    /// hold a batch header, or `CONNS` is zero.
    pub fn new<S: Into<BrokerSocket<'a>>>(
        sockets: [S; CONNS],
        resolver: R,
        balancer: B,
        batch_buffer: &'a mut [u8],
        response_buffer: &'a mut [u8],
        config: ProducerConfig<'a>,
    ) -> Result<Self> {
        let batches =
            Accumulator::new(batch_buffer, config.linger.as_millis(), config.batch_bytes)?;
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
            state: State {
                batches,
                balancer,
                config,
                producer: None,
                sequences: [PartitionSequence::new(); PARTITIONS],
                clock_offset_ms: None,
                random: (Instant::now().as_ticks() as u32) | 1,
                stats: ProducerStats::default(),
            },
        })
    }

    /// Secures every broker connection with TLS and/or SASL (`tls`, `sasl`
    /// features): TCP, TLS handshake, ApiVersions, SASL, then requests.
    /// With TLS the sockets given must be `TlsSocket`s.
    ///
    /// Errors: TLS options with plain sockets, or TLS sockets without them.
    #[cfg(any(feature = "tls", feature = "sasl"))]
    pub fn with_security(mut self, security: crate::Security<'a>) -> Result<Self> {
        self.cluster.set_security(security)?;
        Ok(self)
    }

    /// The configuration.
    pub fn config(&self) -> &ProducerConfig<'a> {
        &self.state.config
    }

    /// Counters since creation.
    pub fn stats(&self) -> ProducerStats {
        self.state.stats
    }

    /// Records waiting in batches (not yet acknowledged).
    pub fn pending_records(&self) -> usize {
        self.state.batches.pending_records()
    }

    /// The largest record (key, value and headers, encoded) a batch slot takes.
    pub fn max_record_len(&self) -> usize {
        self.state.batches.max_record_len()
    }

    /// Tells the producer the wall-clock time (ms since the Unix epoch, from
    /// SNTP, an RTC...): records without a timestamp get `unix_ms` plus the
    /// time elapsed since. Until it is set they carry -1 (no timestamp; a
    /// broker with `LogAppendTime` stamps them itself).
    /// With the `tls` feature it also sets the clock TLS checks certificate
    /// validity with (`tls::set_unix_time`).
    pub fn set_unix_time(&mut self, unix_ms: i64) {
        #[cfg(feature = "tls")]
        crate::tls::set_unix_time(unix_ms);
        self.state.clock_offset_ms = Some(unix_ms - Instant::now().as_millis() as i64);
    }

    /// The topic's partition ids, once metadata was fetched.
    pub fn partitions(&self) -> &[i32] {
        self.cluster.metadata.partitions()
    }

    /// When a lingering batch becomes due: call [`flush_due`](Self::flush_due)
    /// then. `None` when no batch is open.
    pub fn deadline(&self) -> Option<Instant> {
        self.state.batches.deadline().map(Instant::from_millis)
    }

    /// Appends `record` to its partition's batch, then sends every batch
    /// that is due (full, or lingered long enough). Returns once the record
    /// is in a batch; batches sent meanwhile were acknowledged.
    ///
    /// When the topic's partitions are not known yet, metadata is fetched
    /// first (retried while the topic is being created or no broker
    /// answers, up to [`ProducerConfig::max_attempts`]).
    ///
    /// Errors: a batch that failed (see [`ProducerConfig::max_attempts`]);
    /// its records are dropped, and if it was sent to make room, `record`
    /// was not added. [`ErrorKind::Protocol`](crate::ErrorKind::Protocol)
    /// (`TooLarge`) for a record that cannot fit a batch slot.
    pub async fn send(&mut self, record: &Record<'_>) -> Result<()> {
        self.run(Goal::Send(record)).await
    }

    /// Sends every batch that is due now.
    pub async fn flush_due(&mut self) -> Result<()> {
        self.run(Goal::FlushDue).await
    }

    /// Sends every batch, due or not, and waits for the acknowledgements.
    /// On an error the other batches are still held: call again.
    pub async fn flush(&mut self) -> Result<()> {
        self.run(Goal::FlushAll).await
    }

    /// Flushes, then closes the broker connections once what was written
    /// has reached the brokers (with `acks = 0`, nothing else says so). The
    /// producer reconnects if used again.
    pub async fn close(&mut self) -> Result<()> {
        let flushed = self.flush().await;
        self.cluster.close().await;
        flushed
    }

    async fn run(&mut self, goal: Goal<'_>) -> Result<()> {
        self.cluster
            .drive(&mut Run::new(&mut self.state, goal))
            .await
    }
}
