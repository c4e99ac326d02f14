//! [`ReaderConfig`]: every knob of the [`Reader`](super::Reader), with its
//! default and what zero means.

use std::time::Duration;

pub use microkafka_core::consumer::StartOffset;

use crate::dialer::Dialer;

/// Configuration of a [`Reader`](super::Reader), mirroring kafka-go's
/// `ReaderConfig`. Every field has a default (`ReaderConfig::default()`);
/// "zero" below means `0` or `Duration::ZERO`.
///
/// Consumer groups come in a later release: `group_id` and `group_topics`
/// are here so configurations can be written for them already, and a
/// Reader refuses them with [`ErrorKind::Unsupported`](crate::ErrorKind)
/// until then.
#[derive(Clone, Debug)]
pub struct ReaderConfig {
    /// Bootstrap brokers, `host:port` (one entry may hold several,
    /// comma-separated). Required.
    pub brokers: Vec<String>,
    /// The topic to read. Required.
    pub topic: String,
    /// The partition to read. Default 0.
    pub partition: i32,
    /// Consumer group id (kafka-go's `GroupID`). Not supported yet: must be
    /// `None` (the default).
    pub group_id: Option<String>,
    /// Topics of a consumer group (kafka-go's `GroupTopics`). Not supported
    /// yet: must be empty (the default).
    pub group_topics: Vec<String>,
    /// The broker answers a fetch once this many bytes are available (or
    /// `max_wait` passed). Default 1: every message is delivered as soon as
    /// it is written. Zero: the broker answers at once, even empty-handed.
    pub min_bytes: i32,
    /// Most bytes one fetch returns. A first batch larger than this is
    /// still returned whole (KIP-74), so nothing stalls. Default 1 MiB
    /// (kafka-go's 1 MB). Zero: the default.
    pub max_bytes: i32,
    /// Longest a fetch waits at the broker for `min_bytes`. Default 500 ms
    /// (the Java client's `fetch.max.wait.ms`; kafka-go's 10 s only delays
    /// lag updates and shutdown, since data is delivered as soon as
    /// `min_bytes` is there anyway). Zero: the broker does not wait.
    pub max_wait: Duration,
    /// Fetch responses read ahead of the application (prefetch): while you
    /// process one, this many more may be fetched and queued. Default 4.
    /// Zero: the default. (kafka-go counts this in messages; a fetch holds
    /// up to `max_bytes` of them.)
    pub queue_capacity: usize,
    /// Where to start when no offset was set, and where to go when the
    /// offset falls out of the log (retention deleted it, or it is past
    /// the end): the first or the last offset. Default
    /// [`StartOffset::First`] (kafka-go's `FirstOffset`).
    pub start_offset: StartOffset,
    /// Consecutive failed fetches (leader gone, connection refused...)
    /// before the error is returned by `fetch_message`; the reader keeps
    /// retrying afterwards. Default 3 (kafka-go's `MaxAttempts`). Zero: the
    /// default.
    pub max_attempts: u32,
    /// Backoff after the first failed fetch; doubles per failure. Default
    /// 100 ms (kafka-go's `ReadBackoffMin`). Zero: the default.
    pub read_backoff_min: Duration,
    /// Longest backoff between failed fetches. Default 1 s (kafka-go's
    /// `ReadBackoffMax`). Zero: the default.
    pub read_backoff_max: Duration,
    /// Read only committed transactional messages (`read_committed`).
    /// Default false (`read_uncommitted`, as kafka-go).
    pub read_committed: bool,
    /// Largest decompressed records section of one batch accepted (the
    /// decompression buffer's size; a guard against zip bombs). Default
    /// 16 MiB. Zero: the default.
    pub max_decompressed_bytes: usize,
    /// How connections are made (client id, TLS, timeouts).
    pub dialer: Dialer,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        ReaderConfig {
            brokers: Vec::new(),
            topic: String::new(),
            partition: 0,
            group_id: None,
            group_topics: Vec::new(),
            min_bytes: 1,
            max_bytes: 1 << 20,
            max_wait: Duration::from_millis(500),
            queue_capacity: 4,
            start_offset: StartOffset::First,
            max_attempts: 3,
            read_backoff_min: Duration::from_millis(100),
            read_backoff_max: Duration::from_secs(1),
            read_committed: false,
            max_decompressed_bytes: 16 << 20,
            dialer: Dialer::default(),
        }
    }
}

impl ReaderConfig {
    /// A config for one partition of `topic` through `brokers`.
    pub fn new(brokers: &[&str], topic: &str, partition: i32) -> Self {
        ReaderConfig {
            brokers: brokers.iter().map(|b| (*b).to_owned()).collect(),
            topic: topic.to_owned(),
            partition,
            ..Default::default()
        }
    }

    /// Zero fields replaced by their defaults.
    pub(crate) fn normalized(mut self) -> Self {
        let d = ReaderConfig::default();
        if self.max_bytes <= 0 {
            self.max_bytes = d.max_bytes;
        }
        if self.queue_capacity == 0 {
            self.queue_capacity = d.queue_capacity;
        }
        if self.max_attempts == 0 {
            self.max_attempts = d.max_attempts;
        }
        if self.read_backoff_min.is_zero() {
            self.read_backoff_min = d.read_backoff_min;
        }
        if self.read_backoff_max.is_zero() {
            self.read_backoff_max = d.read_backoff_max;
        }
        if self.max_decompressed_bytes == 0 {
            self.max_decompressed_bytes = d.max_decompressed_bytes;
        }
        self.min_bytes = self.min_bytes.max(0);
        self
    }
}
