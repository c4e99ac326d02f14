//! [`ProducerConfig`], [`RequiredAcks`] and [`Record`].

use embassy_time::Duration;
use microkafka_core::producer::Backoff;
use microkafka_core::record::RecordHeader;

/// How many replicas must have a batch before the broker answers
/// (Kafka's `acks`, kafka-go's `RequiredAcks`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RequiredAcks {
    /// `acks = 0`: the broker does not answer. Fastest; a batch lost on the
    /// way (or refused) goes unnoticed, and nothing is retried.
    None,
    /// `acks = 1`: the leader has written it.
    Leader,
    /// `acks = -1` (default): every in-sync replica has it. Needed for
    /// idempotence.
    #[default]
    All,
}

impl RequiredAcks {
    /// The value of the Produce request's `acks` field.
    pub const fn value(self) -> i16 {
        match self {
            RequiredAcks::None => 0,
            RequiredAcks::Leader => 1,
            RequiredAcks::All => -1,
        }
    }
}

/// How a [`Producer`](crate::Producer) talks to the cluster. Every field has
/// a default (see [`ProducerConfig::new`]); what zero means is said per field.
#[derive(Clone, Copy, Debug)]
pub struct ProducerConfig<'a> {
    /// Bootstrap brokers, `host:port` each (IP literals, or names the
    /// resolver knows). Asked for metadata when no known broker answers.
    pub brokers: &'a [&'a str],
    /// The topic every record goes to.
    pub topic: &'a str,
    /// The client id in request headers. Default `Some("microkafka")`.
    /// Together with the topic name it must fit about 140 bytes
    /// ([`REQUEST_BUFFER_LEN`](crate::REQUEST_BUFFER_LEN)).
    pub client_id: Option<&'a str>,
    /// Acknowledgements to wait for. Default [`RequiredAcks::All`].
    pub acks: RequiredAcks,
    /// Idempotent producing (Kafka's `enable.idempotence`): batches carry a
    /// producer id and sequence numbers, so a retry after a lost answer is
    /// not written twice. Default `true`; only with [`RequiredAcks::All`]
    /// (ignored otherwise, as Kafka requires).
    pub idempotent: bool,
    /// How long a batch waits for more records after its first one
    /// (kafka-go's `BatchTimeout`, Java's `linger.ms`). Default 5 ms. Zero
    /// sends every record as soon as it is appended.
    pub linger: Duration,
    /// A batch holding this many bytes is sent without waiting for
    /// `linger`. Default `usize::MAX`: the batch slot's size (a batch is
    /// sent when the next record does not fit).
    pub batch_bytes: usize,
    /// Attempts per batch before its records are given up (kafka-go's
    /// `MaxAttempts`). Default 10. Zero is treated as 1.
    pub max_attempts: u32,
    /// Wait between attempts. Default 100 ms doubling to 1 s, 20 % jitter.
    pub backoff: Backoff,
    /// Time allowed to open a connection and agree API versions. Default 5 s.
    pub connect_timeout: Duration,
    /// Time the broker may take to answer a request (also the Produce
    /// request's `timeout_ms`). Default 10 s.
    pub request_timeout: Duration,
}

impl<'a> ProducerConfig<'a> {
    /// The defaults, for `topic` on the cluster reachable at `brokers`.
    pub const fn new(brokers: &'a [&'a str], topic: &'a str) -> Self {
        ProducerConfig {
            brokers,
            topic,
            client_id: Some("microkafka"),
            acks: RequiredAcks::All,
            idempotent: true,
            linger: Duration::from_millis(5),
            batch_bytes: usize::MAX,
            max_attempts: 10,
            backoff: Backoff::new(
                core::time::Duration::from_millis(100),
                core::time::Duration::from_secs(1),
            ),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// One record to produce. Fields borrow the caller's data: they are copied
/// into the batch buffer when the record is sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Record<'r> {
    /// The key (routes the record with keyed balancers); `None` is null.
    pub key: Option<&'r [u8]>,
    /// The value; `None` is null (a tombstone).
    pub value: Option<&'r [u8]>,
    /// Headers.
    pub headers: &'r [RecordHeader<'r>],
    /// Create time, ms since the Unix epoch. `None`: the producer's clock
    /// (see [`Producer::set_unix_time`](crate::Producer::set_unix_time)), or
    /// -1 (no timestamp) when it was never set.
    pub timestamp: Option<i64>,
    /// The partition, bypassing the balancer. Default `None`.
    pub partition: Option<i32>,
}

impl<'r> Record<'r> {
    /// A record with this value and nothing else.
    pub const fn new(value: &'r [u8]) -> Self {
        Record {
            key: None,
            value: Some(value),
            headers: &[],
            timestamp: None,
            partition: None,
        }
    }

    /// The same record with a key.
    pub const fn with_key(mut self, key: &'r [u8]) -> Self {
        self.key = Some(key);
        self
    }

    /// The same record with headers.
    pub const fn with_headers(mut self, headers: &'r [RecordHeader<'r>]) -> Self {
        self.headers = headers;
        self
    }

    /// The same record with a create time (ms since the Unix epoch).
    pub const fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// The same record for a given partition.
    pub const fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }
}
