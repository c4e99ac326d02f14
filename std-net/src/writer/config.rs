//! [`WriterConfig`]: every knob of the [`Writer`](super::Writer), with its
//! default and what zero means.
//!
//! No Writer timeout means "wait forever": as in kafka-go, a zero timeout is
//! the default one, so a broker that stops answering costs a bounded wait,
//! never a hung `write_messages` or `close`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use microkafka_core::balancer::{
    Balancer, Crc32, Hash, LeastBytes, Murmur2, Random, ReferenceHash, RoundRobin,
};
use microkafka_core::record::compression::Compression;

use crate::dialer::Dialer;
use crate::error::Error;
use crate::requests::produce::RequiredAcks;

/// Which partition each message goes to (kafka-go's `Balancer`).
///
/// Every keyed balancer matches another client byte for byte (see
/// [`microkafka_core::balancer`]), so mixed producers agree on where a key
/// lives. The Writer makes one balancer per topic.
#[derive(Clone, Default)]
pub enum BalancerKind {
    /// One partition after another, ignoring keys. kafka-go's default.
    #[default]
    RoundRobin,
    /// The partition that received the fewest bytes so far.
    LeastBytes,
    /// FNV-1a of the key, like sarama and kafka-go's `Hash`; null keys
    /// round-robin. Keeps each key's messages in order on one partition.
    Hash,
    /// sarama's reference-compatible FNV-1a (`ReferenceHash`).
    ReferenceHash,
    /// CRC-32 of the key, like librdkafka's default partitioner.
    Crc32,
    /// murmur2 of the key, like the Java client's default partitioner.
    Murmur2,
    /// A random partition per message.
    Random,
    /// Your own: a factory called once per topic.
    Custom(Arc<dyn Fn() -> Box<dyn Balancer + Send> + Send + Sync>),
}

impl BalancerKind {
    /// A fresh balancer of this kind (random ones seeded from the clock).
    pub fn build(&self) -> Box<dyn Balancer + Send> {
        let seed = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        };
        match self {
            BalancerKind::RoundRobin => Box::new(RoundRobin::default()),
            BalancerKind::LeastBytes => Box::new(LeastBytes::<64>::default()),
            BalancerKind::Hash => Box::new(Hash::default()),
            BalancerKind::ReferenceHash => {
                Box::new(ReferenceHash::with_random(Random::new(seed())))
            }
            BalancerKind::Crc32 => Box::new(Crc32::new(false, Random::new(seed()))),
            BalancerKind::Murmur2 => Box::new(Murmur2::new(false, Random::new(seed()))),
            BalancerKind::Random => Box::new(Random::new(seed())),
            BalancerKind::Custom(make) => make(),
        }
    }
}

impl fmt::Debug for BalancerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            BalancerKind::RoundRobin => "RoundRobin",
            BalancerKind::LeastBytes => "LeastBytes",
            BalancerKind::Hash => "Hash",
            BalancerKind::ReferenceHash => "ReferenceHash",
            BalancerKind::Crc32 => "Crc32",
            BalancerKind::Murmur2 => "Murmur2",
            BalancerKind::Random => "Random",
            BalancerKind::Custom(_) => "Custom",
        };
        f.write_str(name)
    }
}

/// What happened to one batch (what an async Writer reports).
#[derive(Debug)]
pub struct Completion<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition.
    pub partition: i32,
    /// Messages in the batch.
    pub messages: usize,
    /// Key and value bytes in the batch.
    pub bytes: usize,
    /// The offset of the first message (-1 with `RequiredAcks::None`, or on error).
    pub base_offset: i64,
    /// Attempts made (1 when the first one succeeded).
    pub attempts: u32,
    /// Why the batch was not written, after every retry.
    pub error: Option<&'a Error>,
}

/// Called once per batch when it is written or has failed for good.
///
/// It runs on the partition's sender task, after the batch's outcome was
/// handed to any `write_messages` waiting for it. A panic in it is caught:
/// the Writer keeps going and [`Writer::close`](super::Writer::close)
/// reports the panic.
pub type CompletionFn = Arc<dyn Fn(&Completion<'_>) + Send + Sync>;

/// Configuration of a [`Writer`](super::Writer), mirroring kafka-go's
/// `WriterConfig`. Every field has a default (`WriterConfig::default()`);
/// "zero" below means `0` or `Duration::ZERO`.
#[derive(Clone)]
pub struct WriterConfig {
    /// Bootstrap brokers, `host:port` (one entry may hold several,
    /// comma-separated). Tried in turn until one answers; the rest of the
    /// cluster comes from its metadata. Required.
    pub brokers: Vec<String>,
    /// The topic every message goes to. `None` (the default): each message
    /// names its topic in [`Message::topic`](crate::Message::topic). Set
    /// exactly one of the two, as in kafka-go.
    pub topic: Option<String>,
    /// Which partition each message goes to. Default
    /// [`BalancerKind::RoundRobin`] (kafka-go's); use `Hash` (or `Murmur2`
    /// to match Java clients) to keep each key on one partition.
    pub balancer: BalancerKind,
    /// Attempts per batch before its messages fail: the first try plus
    /// retries of retriable errors (leader moved, timeouts, dropped
    /// connections...). Default 10 (kafka-go's). Zero: the default.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles per retry. Default 100 ms
    /// (kafka-go's `WriteBackoffMin`). Zero: the default.
    pub write_backoff_min: Duration,
    /// Longest backoff between retries. Default 1 s (kafka-go's
    /// `WriteBackoffMax`). Zero: the default.
    pub write_backoff_max: Duration,
    /// Messages per batch (per partition) before it is sent without waiting
    /// for `batch_timeout`. Default 10 000 (librdkafka's; kafka-go's 100
    /// caps throughput at 100 messages per round trip). Zero: the default.
    pub batch_size: usize,
    /// Largest batch in bytes (as encoded, before compression): a batch is
    /// sent when the next message would not fit, and a single message larger
    /// than this fails with `MESSAGE_TOO_LARGE`. Keep it below the topic's
    /// `max.message.bytes` (1 MiB by default). Default 1 MiB (kafka-go's
    /// 1 048 576). Zero: the default.
    pub batch_bytes: usize,
    /// Linger: how long a batch that is not full waits for more messages
    /// before it is sent.
    ///
    /// Default **5 ms**, as librdkafka's `linger.ms` (since 1.5; the Java
    /// client moved to 5 ms in 4.0). kafka-go's default is 1 s, and it is
    /// that client's most reported surprise: a synchronous `WriteMessages`
    /// of one message takes a full second. 5 ms keeps a lone message's
    /// latency imperceptible while still filling batches under load (and
    /// while a request is in flight, messages pile up anyway: each
    /// partition sends one batch at a time).
    ///
    /// Zero: no lingering; a batch goes as soon as its partition is free.
    pub batch_timeout: Duration,
    /// Batches queued per partition (sealed and waiting for the one in
    /// flight) before `write_messages` waits for room: bounds memory when
    /// messages come faster than the broker takes them. Default 8. Zero:
    /// the default.
    pub max_buffered_batches: usize,
    /// Limit for each Produce request, and the `timeout_ms` the broker gets
    /// for replication. Default 10 s (kafka-go's `WriteTimeout`). Zero: the
    /// default (as kafka-go; there is no "no limit").
    pub write_timeout: Duration,
    /// Limit for metadata and InitProducerId requests. Default 10 s
    /// (kafka-go's `ReadTimeout`). Zero: the default (as kafka-go). It
    /// replaces the dialer's `request_timeout`.
    pub read_timeout: Duration,
    /// Longest [`close`](super::Writer::close) waits for queued batches to
    /// be written. When it passes, the batches still queued or in flight
    /// fail with a timeout (reported to their callers, `completion`, or by
    /// `close`). Default 30 s. Zero: the default.
    pub close_timeout: Duration,
    /// Acknowledgements each Produce waits for. Default
    /// [`RequiredAcks::All`] — unlike kafka-go's `Writer`, whose default of
    /// none loses messages silently when a broker fails.
    pub required_acks: RequiredAcks,
    /// Idempotent writes (KIP-98): the writer gets a producer id and numbers
    /// each partition's batches, so a batch sent again after a lost answer
    /// or a dropped connection is recognised by the broker and stored once.
    /// Default true (as the Java client since 3.0; kafka-go has no
    /// idempotence and duplicates on every such retry). Only with
    /// [`RequiredAcks::All`]; ignored otherwise. Brokers without
    /// InitProducerId get plain at-least-once writes.
    pub idempotent: bool,
    /// Asynchronous mode: `write_messages` returns once the messages are
    /// queued (copied into batches); outcomes go to `completion`. Default
    /// false: `write_messages` waits for every message's batch.
    pub async_: bool,
    /// Called once per batch when it is written or failed for good (both
    /// modes). Default `None`. To receive outcomes on a channel, send from
    /// the callback.
    pub completion: Option<CompletionFn>,
    /// The codec batches are compressed with. Default
    /// [`Compression::None`]. Codecs are compiled in by crate features
    /// (`gzip`, `lz4`, `snappy`, `zstd`); one that is not fails `Writer::new`.
    pub compression: Compression,
    /// How old metadata (leaders, partitions) may get before a write
    /// refreshes it; errors refresh it at once. Default 6 s (kafka-go's
    /// `MetadataTTL`). Zero: refresh only on errors.
    pub metadata_refresh_interval: Duration,
    /// Let a Metadata request create a missing topic (when the broker
    /// allows it). Default false (kafka-go's `AllowAutoTopicCreation`).
    pub allow_auto_topic_creation: bool,
    /// How connections are made (client id, TLS, dial timeout, keep-alive).
    /// A zero dial `timeout` means the [`Dialer`]'s default (10 s), not
    /// "no limit"; `request_timeout` is replaced by `read_timeout`.
    pub dialer: Dialer,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            brokers: Vec::new(),
            topic: None,
            balancer: BalancerKind::RoundRobin,
            max_attempts: 10,
            write_backoff_min: Duration::from_millis(100),
            write_backoff_max: Duration::from_secs(1),
            batch_size: 10_000,
            batch_bytes: 1 << 20,
            batch_timeout: Duration::from_millis(5),
            max_buffered_batches: 8,
            write_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(30),
            required_acks: RequiredAcks::All,
            idempotent: true,
            async_: false,
            completion: None,
            compression: Compression::None,
            metadata_refresh_interval: Duration::from_secs(6),
            allow_auto_topic_creation: false,
            dialer: Dialer::default(),
        }
    }
}

impl fmt::Debug for WriterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriterConfig")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("balancer", &self.balancer)
            .field("max_attempts", &self.max_attempts)
            .field("batch_size", &self.batch_size)
            .field("batch_bytes", &self.batch_bytes)
            .field("batch_timeout", &self.batch_timeout)
            .field("required_acks", &self.required_acks)
            .field("idempotent", &self.idempotent)
            .field("async_", &self.async_)
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

impl WriterConfig {
    /// A config for `brokers` and one `topic`, defaults elsewhere.
    pub fn new(brokers: &[&str], topic: &str) -> Self {
        WriterConfig {
            brokers: brokers.iter().map(|b| (*b).to_owned()).collect(),
            topic: Some(topic.to_owned()),
            ..Default::default()
        }
    }

    /// Zero fields replaced by their defaults.
    pub(crate) fn normalized(mut self) -> Self {
        let d = WriterConfig::default();
        if self.max_attempts == 0 {
            self.max_attempts = d.max_attempts;
        }
        if self.write_backoff_min.is_zero() {
            self.write_backoff_min = d.write_backoff_min;
        }
        if self.write_backoff_max.is_zero() {
            self.write_backoff_max = d.write_backoff_max;
        }
        if self.batch_size == 0 {
            self.batch_size = d.batch_size;
        }
        if self.batch_bytes == 0 {
            self.batch_bytes = d.batch_bytes;
        }
        if self.max_buffered_batches == 0 {
            self.max_buffered_batches = d.max_buffered_batches;
        }
        // No timeout of a Writer is "forever": a silent broker must not hang
        // `write_messages` or `close`.
        if self.write_timeout.is_zero() {
            self.write_timeout = d.write_timeout;
        }
        if self.read_timeout.is_zero() {
            self.read_timeout = d.read_timeout;
        }
        if self.close_timeout.is_zero() {
            self.close_timeout = d.close_timeout;
        }
        self.dialer.request_timeout = self.read_timeout;
        self.dialer = self.dialer.normalized();
        self
    }
}
