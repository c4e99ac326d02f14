//! [`Reader`]: a prefetching partition consumer (kafka-go's `Reader`).
//!
//! A fetch task keeps up to `queue_capacity` Fetch responses ahead of the
//! application, each in a reused buffer, on a connection of its own to the
//! partition leader (a Fetch long-polls, and would hold up anything
//! pipelined behind it). It finds the next fetch offset from batch headers
//! alone ([`next_fetch_offset`](microkafka_core::consumer::next_fetch_offset)), so fetching and reading overlap. The
//! application side walks each response with core's [`FetchCursor`] and
//! hands out messages that borrow the buffer: nothing is copied or
//! allocated per message; a compressed batch is decompressed once into a
//! reused buffer.
//!
//! Leader changes and dropped connections are retried with backoff after a
//! metadata refresh; an offset out of range is reset per `start_offset`.
//!
//! The fetch task is `fetcher`'s. With a `group_id` the Reader is a
//! consumer group member (`group`: the application side; `group_task`: the
//! member and its coordinator): the same fetch task runs for each
//! partition the group assigns it.

mod config;
mod fetcher;
mod group;
mod group_task;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use microkafka_core::consumer::FetchCursor;
use microkafka_core::protocol::ApiKey;
use microkafka_core::record::compression::Codecs;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{Error, ErrorKind, Result};
use crate::message::{FetchedMessage, OwnedMessage};
use crate::pool::BrokerPool;
use crate::stats::Summary;
use crate::writer::ConsumerGroupMetadata;

use fetcher::{list_offset, Chunk, Fetcher, Queued, Shared};
use group::GroupConsumer;

pub use config::{GroupBalancer, ReaderConfig, RebalanceEvent, RebalanceListener, StartOffset};

/// [`Reader::set_offset`] to the first offset in the log (kafka-go's `FirstOffset`).
pub const FIRST_OFFSET: i64 = -2;
/// [`Reader::set_offset`] to the end of the log (kafka-go's `LastOffset`).
pub const LAST_OFFSET: i64 = -1;

/// A snapshot of what a [`Reader`] did since the previous snapshot
/// (kafka-go's `ReaderStats`; durations in microseconds in the summaries).
#[derive(Clone, Debug, Default)]
pub struct ReaderStats {
    /// Connections made.
    pub dials: u64,
    /// Fetch requests answered.
    pub fetches: u64,
    /// Messages handed to the application.
    pub messages: u64,
    /// Key and value bytes handed to the application.
    pub bytes: u64,
    /// Fetches that failed (and were retried).
    pub errors: u64,
    /// Fetches that timed out.
    pub timeouts: u64,
    /// Times the offset was reset after `OFFSET_OUT_OF_RANGE`.
    pub offset_resets: u64,
    /// Connecting to the leader, µs.
    pub dial_time: Summary,
    /// Fetch round trips, µs.
    pub read_time: Summary,
    /// How long `fetch_message` waited for a fetch, µs.
    pub wait_time: Summary,
    /// Offsets covered per fetch (messages, plus any control records or
    /// compacted gaps).
    pub fetch_size: Summary,
    /// Bytes per fetch response.
    pub fetch_bytes: Summary,
    /// The offset of the next message the application will get.
    pub offset: i64,
    /// Messages between that offset and the end of the log, as of the last fetch.
    pub lag: i64,
    /// Configuration: `min_bytes`.
    pub min_bytes: i32,
    /// Configuration: `max_bytes`.
    pub max_bytes: i32,
    /// Configuration: `max_wait`.
    pub max_wait: Duration,
    /// Fetch responses waiting in the queue.
    pub queue_length: usize,
    /// Configuration: `queue_capacity`.
    pub queue_capacity: usize,
    /// Configuration: the client id.
    pub client_id: String,
    /// Configuration: `topic`.
    pub topic: String,
    /// Configuration: `partition`.
    pub partition: i32,
}

/// A partition consumer or a consumer group member (kafka-go's `Reader`):
/// prefetches, survives leader moves and reconnects, and hands out
/// messages that borrow its buffers.
///
/// ```no_run
/// # async fn demo() -> microkafka_std::Result<()> {
/// use microkafka_std::{Reader, ReaderConfig};
/// let mut reader = Reader::new(ReaderConfig::new(&["localhost:9092"], "orders", 0))?;
/// loop {
///     let m = reader.fetch_message().await?;
///     println!("{}@{}: {:?}", m.partition, m.offset, m.value);
/// }
/// # }
/// ```
///
/// In a group (kafka-go's `GroupID`), with cooperative rebalancing and
/// offsets committed every second:
///
/// ```no_run
/// # async fn demo() -> microkafka_std::Result<()> {
/// use std::time::Duration;
/// use microkafka_std::{GroupBalancer, Reader, ReaderConfig};
/// let mut reader = Reader::new(ReaderConfig {
///     group_balancers: vec![GroupBalancer::CooperativeSticky],
///     commit_interval: Duration::from_secs(1),
///     ..ReaderConfig::group(&["localhost:9092"], "billing", &["orders"])
/// })?;
/// loop {
///     let m = reader.read_message().await?; // marked for the next commit
///     println!("{}[{}]@{}", m.topic, m.partition, m.offset);
/// }
/// # }
/// ```
pub struct Reader {
    config: ReaderConfig,
    brokers: Arc<BrokerPool>,
    shared: Arc<Shared>,
    rx: Option<mpsc::Receiver<Queued>>,
    task: Option<JoinHandle<()>>,
    /// Set in group mode (`group_id`): everything goes through it.
    group: Option<GroupConsumer>,
    current: Option<Chunk>,
    cursor: FetchCursor,
    codecs: Codecs,
    scratch: Vec<u8>,
    /// The offset of the next message to hand out (or `FIRST_OFFSET`/`LAST_OFFSET`).
    offset: i64,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("topic", &self.config.topic)
            .field("partition", &self.config.partition)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Reader {
    /// A reader for `config`; nothing is fetched (and no group joined)
    /// until the first read.
    ///
    /// Errors: no brokers; no topic; with a group: an empty group id, a
    /// partition other than 0, or more than 64 topics.
    pub fn new(config: ReaderConfig) -> Result<Reader> {
        if config.group_id.is_none() && !config.group_topics.is_empty() {
            return Err(Error::config("group_topics needs a group_id"));
        }
        if config.group_id.is_none() && config.topic.is_empty() {
            return Err(Error::config("the Reader needs a topic"));
        }
        let config = config.normalized();
        let brokers = BrokerPool::new(config.dialer.connector(), &config.brokers, false)?;
        let offset = match config.start_offset {
            StartOffset::First => FIRST_OFFSET,
            StartOffset::Last => LAST_OFFSET,
        };
        let shared = Arc::new(Shared::default());
        let group = match config.group_id {
            Some(_) => Some(GroupConsumer::new(
                config.clone(),
                brokers.clone(),
                shared.clone(),
            )?),
            None => None,
        };
        Ok(Reader {
            cursor: FetchCursor::new(0),
            codecs: Codecs::new(),
            scratch: Vec::new(),
            shared,
            rx: None,
            task: None,
            group,
            current: None,
            offset,
            brokers,
            config,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ReaderConfig {
        &self.config
    }

    /// The offset of the next message [`fetch_message`](Self::fetch_message)
    /// returns ([`FIRST_OFFSET`] or [`LAST_OFFSET`] until the first fetch
    /// resolved it). -1 in group mode (partitions move; as kafka-go).
    pub fn offset(&self) -> i64 {
        if self.group.is_some() {
            return -1;
        }
        self.offset
    }

    /// Moves the reader: the next message is the one at `offset`, or the
    /// first ([`FIRST_OFFSET`]) or next-to-be-written ([`LAST_OFFSET`]) one.
    /// Prefetched messages are dropped.
    ///
    /// Errors in group mode ([`ErrorKind::NotAvailableWithGroup`]), as
    /// kafka-go's `SetOffset`: the group's committed
    /// offsets say where each partition starts; reset them with the admin
    /// [`Client`](crate::Client) while the group is inactive.
    pub fn set_offset(&mut self, offset: i64) -> Result<()> {
        if self.group.is_some() {
            return Err(not_with_group("set_offset"));
        }
        self.reposition(offset);
        Ok(())
    }

    /// Moves the reader to the first message whose timestamp is at or after
    /// `at` (kafka-go's `SetOffsetAt`), asking the partition's leader; past
    /// the last message it goes to the end ([`LAST_OFFSET`]: the next one
    /// written). Errors in group mode, as [`set_offset`](Self::set_offset).
    pub async fn set_offset_at(&mut self, at: std::time::SystemTime) -> Result<()> {
        if self.group.is_some() {
            return Err(not_with_group("set_offset_at"));
        }
        let ms = at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let offset = list_offset(&self.brokers, &self.config, ms).await?;
        // Kafka answers -1 when no message is that recent: the end of the
        // log, which is what LAST_OFFSET (-1) means here too.
        self.reposition(if offset < 0 { LAST_OFFSET } else { offset });
        Ok(())
    }

    fn reposition(&mut self, offset: i64) {
        self.stop();
        self.offset = offset;
    }

    /// Group mode: the partitions assigned to this member now (empty
    /// before it joined, or without a group).
    pub fn assignment(&self) -> Vec<(String, i32)> {
        self.group
            .as_ref()
            .map_or_else(Vec::new, GroupConsumer::assignment)
    }

    /// Group mode: the generation this member is in (-1 before it joined,
    /// or without a group).
    pub fn generation(&self) -> i32 {
        self.group.as_ref().map_or(-1, GroupConsumer::generation)
    }

    /// Group mode: the group's metadata as of now (group id, generation,
    /// member id, instance id), for
    /// [`TransactionalWriter::send_offsets_to_transaction`](crate::TransactionalWriter::send_offsets_to_transaction)
    /// (Java's `groupMetadata()`, KIP-447): the group coordinator refuses
    /// those offsets if this member was rebalanced away since, so a zombie
    /// cannot commit. `None` without a group.
    pub fn group_metadata(&self) -> Option<ConsumerGroupMetadata> {
        self.group.as_ref().map(GroupConsumer::group_metadata)
    }

    fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.rx = None;
        if let Some(chunk) = self.current.take() {
            self.shared.give_buffer(chunk.into_buf());
        }
    }

    /// Messages between the reader's offset and the end of the log, as of
    /// the last fetch (kafka-go's `Lag`); 0 before the first fetch, -1 in
    /// group mode.
    pub fn lag(&self) -> i64 {
        if self.group.is_some() {
            return -1;
        }
        let hwm = self.shared.high_water_mark.load(Ordering::Relaxed);
        if hwm < 0 || self.offset < 0 {
            return 0;
        }
        (hwm - self.offset).max(0)
    }

    /// Asks the leader for the end of the log and returns the lag from the
    /// reader's offset (kafka-go's `ReadLag`).
    /// Errors in group mode ([`ErrorKind::NotAvailableWithGroup`]), as
    /// kafka-go's `ReadLag`.
    pub async fn read_lag(&mut self) -> Result<i64> {
        if self.group.is_some() {
            return Err(not_with_group("read_lag"));
        }
        let last = list_offset(&self.brokers, &self.config, LAST_OFFSET).await?;
        let offset = if self.offset < 0 {
            list_offset(&self.brokers, &self.config, self.offset).await?
        } else {
            self.offset
        };
        Ok(last.saturating_sub(offset).max(0))
    }

    /// The next message, waiting for one if needed (kafka-go's
    /// `FetchMessage`). It borrows the reader until the next call. In group
    /// mode it comes from any assigned partition and is not committed: see
    /// [`commit_messages`](Self::commit_messages).
    ///
    /// It waits as long as the log has nothing new, but not on a broker
    /// that cannot be reached, stops answering or answers garbage: after
    /// `max_attempts` failed attempts in a row (each bounded by the
    /// dialer's timeouts) it returns the error, and keeps trying in the
    /// background for the next call (see [`ReaderConfig::max_attempts`]).
    pub async fn fetch_message(&mut self) -> Result<FetchedMessage<'_>> {
        match self.group.is_some() {
            true => self.group_mut()?.fetch_message().await,
            false => self.fetch_partition_message().await,
        }
    }

    fn group_mut(&mut self) -> Result<&mut GroupConsumer> {
        self.group
            .as_mut()
            .ok_or_else(|| Error::new(ErrorKind::Closed))
    }

    async fn fetch_partition_message(&mut self) -> Result<FetchedMessage<'_>> {
        let mut waited: Option<Instant> = None;
        loop {
            if let Some(chunk) = &mut self.current {
                match chunk.advance(&mut self.cursor, &mut self.codecs, &mut self.scratch) {
                    Ok(true) => break,
                    Ok(false) => self.finish_chunk(),
                    Err(e) => {
                        // The bytes cannot be trusted: fetch again from here.
                        let resume = self.cursor.next_offset();
                        self.reposition(resume);
                        return Err(self.context(e.into()));
                    }
                }
                continue;
            }
            if self.rx.is_none() {
                self.start();
            }
            let Some(rx) = self.rx.as_mut() else {
                return Err(Error::new(ErrorKind::Closed));
            };
            let started = *waited.get_or_insert_with(Instant::now);
            match rx.recv().await {
                Some((_, Ok(chunk))) => {
                    self.shared
                        .counters
                        .wait_time
                        .observe_duration(started.elapsed());
                    waited = None;
                    self.cursor = FetchCursor::new(chunk.fetch_offset);
                    self.offset = chunk.fetch_offset;
                    self.current = Some(chunk);
                }
                Some((_, Err(e))) => {
                    if e.is_fatal() {
                        // The task ended after it: the next call starts
                        // another (one more dial), not a retry loop.
                        self.rx = None;
                    }
                    return Err(e);
                }
                None => {
                    // The task ended (it only does on a fatal error already reported).
                    self.rx = None;
                    return Err(Error::new(ErrorKind::Closed)
                        .with_partition(&self.config.topic, self.config.partition));
                }
            }
        }
        let Some(chunk) = &self.current else {
            return Err(Error::new(ErrorKind::Closed));
        };
        let Some(record) = self.cursor.current(chunk.records(), &self.scratch) else {
            return Err(Error::from(microkafka_core::Error::Truncated));
        };
        self.offset = record.offset.saturating_add(1);
        let c = &self.shared.counters;
        c.messages.add(1);
        c.bytes
            .add((record.key.map_or(0, <[u8]>::len) + record.value.map_or(0, <[u8]>::len)) as u64);
        Ok(FetchedMessage {
            topic: &self.config.topic,
            partition: self.config.partition,
            offset: record.offset,
            high_water_mark: chunk.high_water_mark(),
            key: record.key,
            value: record.value,
            headers: record.headers,
            timestamp_ms: record.timestamp,
        })
    }

    /// The next message (kafka-go's `ReadMessage`). In group mode its
    /// offset is committed: before it is returned when `commit_interval` is
    /// zero, else with the next periodic commit. Without a group there is
    /// nothing to commit, so this is [`fetch_message`](Self::fetch_message).
    pub async fn read_message(&mut self) -> Result<FetchedMessage<'_>> {
        match self.group.is_some() {
            true => self.group_mut()?.read_message().await,
            false => self.fetch_partition_message().await,
        }
    }

    /// Group mode: commits these messages (each one's offset + 1, the next
    /// to read; kafka-go's `CommitMessages`). With a zero `commit_interval`
    /// it returns once the broker has them; otherwise they are committed
    /// with the next periodic commit. Messages of partitions no longer
    /// assigned are refused with an error, since committing them could undo
    /// the progress of their new owner.
    ///
    /// Errors without a group ([`ErrorKind::OnlyAvailableWithGroup`]), as
    /// kafka-go's `CommitMessages`.
    pub async fn commit_messages(&mut self, messages: &[OwnedMessage]) -> Result<()> {
        match &mut self.group {
            Some(g) => g.commit_messages(messages).await,
            None => Err(Error::new(ErrorKind::OnlyAvailableWithGroup(
                "commit_messages",
            ))),
        }
    }

    /// Group mode: commits `offsets` — `(topic, partition, next offset to
    /// read)` — as [`commit_messages`](Self::commit_messages) does.
    pub async fn commit_offsets(&mut self, offsets: &[(&str, i32, i64)]) -> Result<()> {
        let messages: Vec<OwnedMessage> = offsets
            .iter()
            .map(|&(topic, partition, next)| OwnedMessage {
                topic: topic.to_owned(),
                partition,
                offset: next.saturating_sub(1),
                high_water_mark: -1,
                key: None,
                value: None,
                headers: Vec::new(),
                timestamp_ms: -1,
            })
            .collect();
        self.commit_messages(&messages).await
    }

    fn finish_chunk(&mut self) {
        if let Some(chunk) = self.current.take() {
            self.offset = self.offset.max(self.cursor.next_offset());
            self.shared.give_buffer(chunk.into_buf());
        }
    }

    fn context(&self, e: Error) -> Error {
        e.with_api(ApiKey::Fetch)
            .with_partition(&self.config.topic, self.config.partition)
    }

    fn start(&mut self) {
        let (tx, rx) = mpsc::channel(self.config.queue_capacity);
        if self.scratch.len() < self.config.max_decompressed_bytes {
            // Zeroed pages come lazily from the OS: untouched bytes cost nothing.
            self.scratch = vec![0; self.config.max_decompressed_bytes];
        }
        let fetcher = Fetcher {
            brokers: self.brokers.clone(),
            config: self.config.clone(),
            shared: self.shared.clone(),
            tx,
            claim: None,
        };
        self.task = Some(tokio::spawn(fetcher.run(self.offset)));
        self.rx = Some(rx);
    }

    /// What the reader did since the previous call.
    pub fn stats(&self) -> ReaderStats {
        let c = &self.shared.counters;
        let cfg = &self.config;
        ReaderStats {
            dials: c.dials.take(),
            fetches: c.fetches.take(),
            messages: c.messages.take(),
            bytes: c.bytes.take(),
            errors: c.errors.take(),
            timeouts: c.timeouts.take(),
            offset_resets: c.offset_resets.take(),
            dial_time: c.dial_time.take(),
            read_time: c.read_time.take(),
            wait_time: c.wait_time.take(),
            fetch_size: c.fetch_size.take(),
            fetch_bytes: c.fetch_bytes.take(),
            offset: self.offset(),
            lag: self.lag(),
            min_bytes: cfg.min_bytes,
            max_bytes: cfg.max_bytes,
            max_wait: cfg.max_wait,
            queue_length: match &self.group {
                Some(g) => g.queue_length(),
                None => self.rx.as_ref().map_or(0, mpsc::Receiver::len),
            },
            queue_capacity: cfg.queue_capacity,
            client_id: cfg.dialer.client_id.clone(),
            topic: match &self.group {
                Some(g) => g.topics().join(","),
                None => cfg.topic.clone(),
            },
            partition: if self.group.is_some() {
                -1
            } else {
                cfg.partition
            },
        }
    }

    /// Stops fetching and closes the connections. In group mode it first
    /// commits what is marked and leaves the group (static members do not
    /// leave: their partitions wait for them for `session_timeout`).
    pub async fn close(mut self) -> Result<()> {
        let left = match &mut self.group {
            Some(g) => g.close().await,
            None => Ok(()),
        };
        self.stop();
        self.brokers.close();
        left
    }
}

/// kafka-go's `errNotAvailableWithGroup` for `call`.
fn not_with_group(call: &'static str) -> Error {
    Error::new(ErrorKind::NotAvailableWithGroup(call))
}
