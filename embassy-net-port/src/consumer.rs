//! [`Consumer`]: one partition, fetched into the caller's buffer, records
//! handed out zero-copy (decompressed into a caller scratch buffer).

use core::ops::Range;

use crate::connection::BrokerSocket;
use embassy_time::{Duration, Timer};
use microkafka_core::client::MetadataCache;
use microkafka_core::consumer::partition::Position;
use microkafka_core::consumer::{ConsumedRecord, FetchCursor, FetchErrorAction, StartOffset};
use microkafka_core::producer::Backoff;
use microkafka_core::record::compression::Codecs;

use crate::cluster::{Cluster, ClusterConfig};
use crate::error::Result;
use crate::fetch::{check_fetch_buffer, fetch_failed, fetch_partition, next_fetched, FetchWait};
use crate::fmt::debug;
use crate::resolve::Resolve;

/// How a [`Consumer`] reads its partition. Every field has a default (see
/// [`ConsumerConfig::new`]).
#[derive(Clone, Copy, Debug)]
pub struct ConsumerConfig<'a> {
    /// Bootstrap brokers, `host:port` each.
    pub brokers: &'a [&'a str],
    /// The topic.
    pub topic: &'a str,
    /// The partition.
    pub partition: i32,
    /// The client id in request headers. Default `Some("microkafka")`.
    pub client_id: Option<&'a str>,
    /// Where to start without an offset (see [`Consumer::seek`]), and where
    /// to go when the offset falls out of the log. Default [`StartOffset::First`].
    pub start: StartOffset,
    /// How long the broker may hold a fetch waiting for `min_bytes`
    /// (kafka-go's `MaxWait`). Default 500 ms.
    pub max_wait: Duration,
    /// Bytes the broker waits for before answering (kafka-go's `MinBytes`).
    /// Default 1.
    pub min_bytes: i32,
    /// Attempts per fetch before an error is returned. Default 10; zero is 1.
    pub max_attempts: u32,
    /// Wait between attempts. Default 100 ms doubling to 1 s.
    pub backoff: Backoff,
    /// Time allowed to open a connection and agree versions. Default 5 s.
    pub connect_timeout: Duration,
    /// Time a broker may take to answer, on top of `max_wait`. Default 10 s.
    pub request_timeout: Duration,
}

impl<'a> ConsumerConfig<'a> {
    /// The defaults, for `topic`'s `partition` on the cluster at `brokers`.
    pub const fn new(brokers: &'a [&'a str], topic: &'a str, partition: i32) -> Self {
        ConsumerConfig {
            brokers,
            topic,
            partition,
            client_id: Some("microkafka"),
            start: StartOffset::First,
            max_wait: Duration::from_millis(500),
            min_bytes: 1,
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

/// A consumer of one partition, with no heap (kafka-go's `Reader` with a
/// `Partition`, without a group).
///
/// [`fetch`](Self::fetch) reads a Fetch response into the caller's fetch
/// buffer; [`next_record`](Self::next_record) then hands out its records one
/// by one, borrowing keys and values from that buffer (or, for a compressed
/// batch, from the scratch buffer it was decompressed into), and advances
/// the [`offset`](Self::offset).
///
/// Limits, chosen by the caller:
/// - the fetch buffer's size bounds a fetch (the request asks for what fits);
///   a single batch larger than that cannot be read (an error says so);
/// - the scratch buffer's size is the largest decompressed batch accepted
///   (`lz4`, `gzip`, `snappy` features; with none, it may be empty);
/// - `BROKERS`: broker addresses kept from metadata. One connection, one
///   request in flight.
///
/// ```no_run
/// # async fn run(stack: embassy_net::Stack<'_>) -> Result<(), microkafka_embassy::Error> {
/// use embassy_net::tcp::TcpSocket;
/// use microkafka_embassy::{Consumer, ConsumerConfig, StackResolver};
///
/// let (mut rx, mut tx) = ([0u8; 4096], [0u8; 512]);
/// let (mut fetch, mut scratch) = ([0u8; 4096], [0u8; 0]);
/// let socket = TcpSocket::new(stack, &mut rx, &mut tx);
/// let config = ConsumerConfig::new(&["10.0.0.1:9092"], "commands", 0);
/// let mut consumer: Consumer<'_, _> =
///     Consumer::new(socket, StackResolver::new(stack), &mut fetch, &mut scratch, config)?;
/// loop {
///     consumer.fetch().await?;
///     while let Some(record) = consumer.next_record() {
///         let record = record?;
///         let _ = (record.offset, record.value);
///     }
/// }
/// # }
/// ```
pub struct Consumer<'a, R, const BROKERS: usize = 4> {
    cluster: Cluster<'a, R, 1, BROKERS, 1>,
    config: ConsumerConfig<'a>,
    position: Position,
    cursor: FetchCursor,
    /// The current fetch's records, in the response buffer.
    records: Range<usize>,
    scratch: &'a mut [u8],
    codecs: Codecs,
    high_watermark: i64,
    /// Whether the current fetch returned a record yet.
    progressed: bool,
}

impl<'a, R: Resolve, const BROKERS: usize> Consumer<'a, R, BROKERS> {
    /// A consumer over `socket` (unconnected, with its buffers), resolving
    /// with `resolver`, fetching into `fetch_buffer` and decompressing into
    /// `scratch`. Nothing is sent until the first fetch.
    pub fn new(
        socket: impl Into<BrokerSocket<'a>>,
        resolver: R,
        fetch_buffer: &'a mut [u8],
        scratch: &'a mut [u8],
        config: ConsumerConfig<'a>,
    ) -> Result<Self> {
        check_fetch_buffer(fetch_buffer.len())?;
        let cluster = Cluster::new(
            [socket.into()],
            resolver,
            MetadataCache::for_partition(config.partition),
            fetch_buffer,
            ClusterConfig {
                brokers: config.brokers,
                topic: config.topic,
                client_id: config.client_id,
                connect_timeout: config.connect_timeout,
                request_timeout: config.request_timeout,
            },
        )?;
        Ok(Consumer {
            cluster,
            config,
            position: Position::new(config.start),
            cursor: FetchCursor::new(0),
            records: 0..0,
            scratch,
            codecs: Codecs::new(),
            high_watermark: -1,
            progressed: false,
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
    pub fn config(&self) -> &ConsumerConfig<'a> {
        &self.config
    }

    /// The offset of the next record to read; `None` until the start offset
    /// was looked up.
    pub fn offset(&self) -> Option<i64> {
        self.position.offset()
    }

    /// The partition's high watermark at the last fetch (-1 before).
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// Records between the position and the high watermark at the last fetch.
    pub fn lag(&self) -> i64 {
        self.position.lag(self.high_watermark)
    }

    /// Continues from `offset` (records of the current fetch are dropped).
    /// As kafka-go's `FirstOffset` and `LastOffset`, -2 and -1 are the
    /// first and the last offset, looked up at the next fetch.
    pub fn seek(&mut self, offset: i64) {
        self.position.seek(offset);
        self.records = 0..0;
    }

    /// Continues from the first or the last offset, looked up at the next fetch.
    pub fn seek_to(&mut self, start: StartOffset) {
        self.position.seek_to(start);
        self.records = 0..0;
    }

    /// Closes the broker connection (the position is kept; the next fetch
    /// reconnects).
    pub async fn close(&mut self) {
        self.cluster.close().await;
    }

    /// Fetches records from the current offset, waiting up to `max_wait`
    /// on the broker for some to arrive; read them with
    /// [`next_record`](Self::next_record). Leader changes, lost connections
    /// and retriable errors are retried (`max_attempts`); an offset out of
    /// range moves to the configured [`StartOffset`].
    pub async fn fetch(&mut self) -> Result<()> {
        self.records = 0..0;
        let max_attempts = self.config.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            let error = match self.try_fetch().await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let partition = self.config.partition;
            let action = fetch_failed(&mut self.position, &error);
            attempt += 1;
            if action == FetchErrorAction::Fail || attempt >= max_attempts {
                return Err(error.with_partition(partition));
            }
            debug!(
                "microkafka: fetch attempt {:?} failed: {:?}",
                attempt, error
            );
            match action {
                // The position moved to its reset lookup: fetch from there.
                FetchErrorAction::ResetOffset => continue,
                FetchErrorAction::RefreshMetadata => self.cluster.metadata.invalidate(),
                _ => {}
            }
            let delay = self.config.backoff.delay(attempt);
            Timer::after_millis(delay.as_secs() * 1_000 + u64::from(delay.subsec_millis())).await;
        }
    }

    async fn try_fetch(&mut self) -> Result<()> {
        let partition = self.config.partition;
        let wait = FetchWait {
            max_wait: self.config.max_wait,
            min_bytes: self.config.min_bytes,
        };
        let fetched =
            fetch_partition(&mut self.cluster, partition, &mut self.position, wait).await?;
        self.high_watermark = fetched.high_watermark;
        self.records = fetched.records;
        self.cursor = FetchCursor::new(fetched.offset);
        self.progressed = false;
        Ok(())
    }

    /// The next record of the last fetch, or `None` when it is exhausted
    /// (fetch again). Its key and value borrow the consumer's buffers.
    ///
    /// Errors: a corrupt batch, a codec not compiled in, a batch larger
    /// than the scratch buffer (decompressed) or than the fetch buffer
    /// (nothing could be read from it). After an error, fetch again: the
    /// position stays at the record that could not be read.
    pub fn next_record(&mut self) -> Option<Result<ConsumedRecord<'_>>> {
        let records = self.cluster.rx.get(self.records.clone())?;
        let partition = self.config.partition;
        let next = next_fetched(
            &mut self.cursor,
            records,
            &mut self.codecs,
            self.scratch,
            &mut self.progressed,
            partition,
        );
        self.position.advance(self.cursor.next_offset());
        if !matches!(next, Some(Ok(_))) {
            self.records = 0..0;
        }
        next
    }
}
