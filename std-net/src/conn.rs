//! [`Conn`]: one connection to one broker with kafka-go's low-level
//! operations.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use microkafka_core::consumer::partition::{FetchLimits, PartitionFetch};
use microkafka_core::consumer::{FetchCursor, ListOffsetsTimestamp, ReadCommitted};
use microkafka_core::protocol::messages::FETCH_TOPIC_ID_VERSION;
use microkafka_core::protocol::ApiKey;
use microkafka_core::record::compression::{Codecs, Compression};
use microkafka_core::record::{BatchOptions, RECORD_BATCH_OVERHEAD};
use microkafka_core::wire::Uuid;

use crate::broker::{BrokerConn, Slot};
use crate::error::{BrokerRef, Error, ErrorKind, Result};
use crate::message::{now_ms, system_time_ms, FetchedMessage, Message};
use crate::metadata::{Broker, Partition};
use crate::requests::admin::{create_topics, delete_topics, TopicConfig};
use crate::requests::fetch::{fetch_on, Fetched};
use crate::requests::metadata::metadata_request;
use crate::requests::offsets::list_offset_on;
use crate::requests::produce::{produce_on, BatchBuffers, RequiredAcks};
use crate::requests::{duration_ms, PartitionAt};

/// Where [`Conn::seek`] counts from (kafka-go's `SeekStart`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeekWhence {
    /// From the first offset in the log.
    Start,
    /// The offset itself.
    Absolute,
    /// Back from the last offset (the high watermark): `seek(n, End)` goes
    /// to `last - n`, as kafka-go's `SeekEnd` (so `seek(0, End)` waits for
    /// the next message and `seek(10, End)` rereads the last ten).
    End,
    /// From the current offset.
    Current,
}

/// Options of one fetch (kafka-go's `ReadBatchConfig`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadBatchConfig {
    /// The broker waits until this many bytes are available (or `max_wait`
    /// passes). Default 1.
    pub min_bytes: i32,
    /// Most bytes to return; the first batch is returned whole even if
    /// larger (KIP-74), so a consumer never stalls. Default 1 MiB.
    pub max_bytes: i32,
    /// Longest the broker waits for `min_bytes`. Default: what is left of
    /// the read deadline (less a tenth, for the answer to arrive), else
    /// 10 s (kafka-go's default `MaxWait`). With a read deadline it is cut
    /// to fit: the deadline bounds the whole call. Without one the call
    /// waits at most this plus the dialer's `request_timeout`.
    pub max_wait: Option<Duration>,
    /// Read only committed transactional messages. Default false
    /// (read uncommitted, as kafka-go).
    pub read_committed: bool,
}

impl Default for ReadBatchConfig {
    fn default() -> Self {
        ReadBatchConfig {
            min_bytes: 1,
            max_bytes: 1 << 20,
            max_wait: None,
            read_committed: false,
        }
    }
}

/// What a [`Conn::write_messages`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// Messages written.
    pub messages: usize,
    /// Key and value bytes written.
    pub bytes: usize,
    /// The offset of the first message (-1 with [`RequiredAcks::None`]).
    pub base_offset: i64,
}

/// A connection to one broker with kafka-go's low-level operations: write
/// messages to a partition, read batches, seek, read offsets and partitions,
/// create and delete topics.
///
/// Get one from a [`Dialer`](crate::Dialer) ([`dial_leader`](crate::Dialer::dial_leader) binds it
/// to a partition, which the partition methods need). Requests are pipelined
/// on the connection (correlation ids, responses matched in order); API
/// versions were negotiated once when it was dialed.
///
/// Every call is bounded in time, whatever the broker does (answers
/// nothing, trickles its answer a byte at a time): by the read or write
/// deadline when one is set ([`set_deadline`](Self::set_deadline)), else
/// by the dialer's `request_timeout` per request (30 s by default; a fetch
/// also gets its `max_wait` on top, 10 s by default, since the broker may
/// hold it that long). A call that times out fails with
/// [`ErrorKind::Timeout`] and closes the connection (a late answer would
/// come before the next one): dial again.
pub struct Conn {
    conn: Arc<BrokerConn>,
    /// The dialer's `request_timeout`: each request's limit without a deadline.
    request_timeout: Duration,
    topic: String,
    partition: i32,
    topic_id: Option<Uuid>,
    offset: i64,
    required_acks: RequiredAcks,
    read_deadline: Option<Instant>,
    write_deadline: Option<Instant>,
    slot: Arc<Slot>,
    /// The last Fetch response and the cursor over its records.
    fetched: Option<Fetched>,
    /// A response buffer to reuse for the next fetch.
    fetch_buf: Vec<u8>,
    high_water_mark: i64,
    cursor: FetchCursor,
    /// The last fetch was `read_committed`: core's filter for its records.
    committed: Option<ReadCommitted<64>>,
    codecs: Codecs,
    scratch: Vec<u8>,
    batches: BatchBuffers,
    produce_buf: Vec<u8>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("broker", self.conn.broker())
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("offset", &self.offset)
            .finish()
    }
}

impl Conn {
    /// A connection whose requests are bounded by `request_timeout`
    /// without a deadline.
    pub(crate) fn new(conn: Arc<BrokerConn>, request_timeout: Duration) -> Self {
        Conn {
            conn,
            request_timeout,
            topic: String::new(),
            partition: -1,
            topic_id: None,
            offset: 0,
            required_acks: RequiredAcks::All,
            read_deadline: None,
            write_deadline: None,
            slot: Slot::new(),
            fetched: None,
            fetch_buf: Vec::new(),
            high_water_mark: -1,
            cursor: FetchCursor::new(0),
            committed: None,
            codecs: Codecs::new(),
            scratch: Vec::new(),
            batches: BatchBuffers::default(),
            produce_buf: Vec::new(),
        }
    }

    pub(crate) fn bind(&mut self, topic: &str, partition: i32, topic_id: Option<Uuid>) {
        self.topic = topic.to_owned();
        self.partition = partition;
        self.topic_id = topic_id.filter(|id| *id != Uuid::ZERO);
    }

    /// The broker at the other end.
    pub fn broker(&self) -> &BrokerRef {
        self.conn.broker()
    }

    /// The version each API is sent at on this connection (`None` when the
    /// broker does not support it, or shares no version with microkafka).
    pub fn api_versions(&self) -> Vec<(ApiKey, Option<i16>)> {
        ApiKey::ALL
            .iter()
            .map(|&api| (api, self.conn.versions().version(api).ok()))
            .collect()
    }

    /// How many times this connection re-authenticated with SASL because
    /// the broker limits sessions (KIP-368, `connections.max.reauth.ms`):
    /// each happened on the same connection, pausing its requests briefly.
    pub fn reauthentications(&self) -> u64 {
        self.conn.reauthentications()
    }

    /// Sets the read and write deadlines.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.read_deadline = deadline;
        self.write_deadline = deadline;
    }

    /// Sets the deadline of reads (fetches, offset and metadata requests).
    pub fn set_read_deadline(&mut self, deadline: Option<Instant>) {
        self.read_deadline = deadline;
    }

    /// Sets the deadline of writes (produce, create/delete topics).
    pub fn set_write_deadline(&mut self, deadline: Option<Instant>) {
        self.write_deadline = deadline;
    }

    /// Sets the acknowledgements [`write_messages`](Self::write_messages)
    /// waits for. Default [`RequiredAcks::All`].
    pub fn set_required_acks(&mut self, acks: RequiredAcks) {
        self.required_acks = acks;
    }

    /// The offset the next read starts at.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Closes the connection.
    pub fn close(self) {
        self.conn.close(Error::new(ErrorKind::Closed));
    }

    fn timeout(&self, deadline: Option<Instant>) -> Result<Duration> {
        match deadline {
            None => Ok(self.request_timeout),
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Ok(left),
                _ => Err(Error::new(ErrorKind::Timeout).with_broker(self.broker())),
            },
        }
    }

    fn require_partition(&self) -> Result<()> {
        if self.partition < 0 {
            return Err(Error::config(
                "this Conn is not bound to a partition: use Dialer::dial_leader",
            ));
        }
        Ok(())
    }

    fn context(&self, e: Error, api: ApiKey) -> Error {
        let e = e.with_api(api).with_broker(self.broker());
        if self.partition >= 0 {
            e.with_partition(&self.topic, self.partition)
        } else {
            e
        }
    }

    /// Writes messages to the bound partition as one record batch.
    pub async fn write_messages(&mut self, messages: &[Message<'_>]) -> Result<Written> {
        self.write_compressed_messages(Compression::None, messages)
            .await
    }

    /// Writes messages to the bound partition as one batch compressed with
    /// `codec` (which must be compiled in: see the crate features).
    pub async fn write_compressed_messages(
        &mut self,
        codec: Compression,
        messages: &[Message<'_>],
    ) -> Result<Written> {
        self.require_partition()?;
        if messages.is_empty() {
            return Ok(Written {
                messages: 0,
                bytes: 0,
                base_offset: -1,
            });
        }
        let timeout = self.timeout(self.write_deadline)?;
        let now = now_ms();
        let estimate = messages.iter().fold(RECORD_BATCH_OVERHEAD, |n, m| {
            n + m.size() + m.headers.iter().map(|h| h.key.len() + 8).sum::<usize>() + 24
        });
        let batch = self
            .batches
            .build(codec, BatchOptions::default(), estimate, |b| {
                messages
                    .iter()
                    .try_for_each(|m| b.append(m.timestamp_ms(now), m.key, m.value, m.headers))
            });
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => return Err(self.context(e, ApiKey::Produce)),
        };
        let at = PartitionAt {
            topic: &self.topic,
            partition: self.partition,
        };
        let mut response_buf = std::mem::take(&mut self.produce_buf);
        let answer = produce_on(
            &self.conn,
            at,
            batch,
            self.required_acks,
            timeout,
            &self.slot,
            &mut response_buf,
        )
        .await;
        self.produce_buf = response_buf;
        let answer = answer.map_err(|e| self.context(e, ApiKey::Produce))?;
        if answer.error.is_err() {
            let e = Error::kafka(answer.error, answer.message.as_deref());
            return Err(self.context(e, ApiKey::Produce));
        }
        Ok(Written {
            messages: messages.len(),
            bytes: messages.iter().map(Message::size).sum(),
            base_offset: answer.base_offset,
        })
    }

    /// Moves the read position (kafka-go's `Seek`); returns the new offset.
    ///
    /// `Start` counts forward from the first offset of the log and `End`
    /// back from the last (both looked up; kafka-go computes `last - offset`
    /// for `SeekEnd`); `Absolute` and `Current` are checked to fall inside
    /// it.
    pub async fn seek(&mut self, offset: i64, whence: SeekWhence) -> Result<i64> {
        let (first, last) = self.read_offsets().await?;
        let target = match whence {
            SeekWhence::Start => first.saturating_add(offset),
            SeekWhence::Absolute => offset,
            SeekWhence::End => last.saturating_sub(offset),
            SeekWhence::Current => self.offset.saturating_add(offset),
        };
        if target < first || target > last {
            let e = Error::kafka(
                microkafka_core::ErrorCode::OFFSET_OUT_OF_RANGE,
                Some(&format!("offset {target} is outside {first}..={last}")),
            );
            return Err(self.context(e, ApiKey::ListOffsets));
        }
        self.set_offset(target);
        Ok(target)
    }

    /// Sets the read position without checking it against the log.
    pub fn set_offset(&mut self, offset: i64) {
        self.offset = offset;
        self.drop_fetched();
    }

    /// Drops the last fetch's records, keeping the buffer for the next.
    fn drop_fetched(&mut self) {
        if let Some(f) = self.fetched.take() {
            self.fetch_buf = f.response.into_buf();
        }
    }

    /// The first offset still in the bound partition's log.
    pub async fn read_first_offset(&mut self) -> Result<i64> {
        self.list_offset(ListOffsetsTimestamp::EARLIEST).await
    }

    /// The last offset of the bound partition: the one the next message
    /// will get (the high watermark).
    pub async fn read_last_offset(&mut self) -> Result<i64> {
        self.list_offset(ListOffsetsTimestamp::LATEST).await
    }

    /// `(first, last)`: see [`read_first_offset`](Self::read_first_offset)
    /// and [`read_last_offset`](Self::read_last_offset).
    pub async fn read_offsets(&mut self) -> Result<(i64, i64)> {
        Ok((
            self.read_first_offset().await?,
            self.read_last_offset().await?,
        ))
    }

    /// The first offset whose timestamp is at or after `time` (the last
    /// offset when there is none).
    pub async fn read_offset(&mut self, time: SystemTime) -> Result<i64> {
        match self.list_offset(system_time_ms(time)).await? {
            -1 => self.read_last_offset().await,
            offset => Ok(offset),
        }
    }

    async fn list_offset(&mut self, timestamp: i64) -> Result<i64> {
        self.require_partition()?;
        let timeout = self.timeout(self.read_deadline)?;
        let at = PartitionAt {
            topic: &self.topic,
            partition: self.partition,
        };
        list_offset_on(&self.conn, at, timestamp, -1, false, timeout)
            .await
            .map_err(|e| self.context(e, ApiKey::ListOffsets))
    }

    /// The partitions of `topics` (every topic when empty), as this broker
    /// knows them.
    pub async fn read_partitions(&mut self, topics: &[&str]) -> Result<Vec<Partition>> {
        let timeout = self.timeout(self.read_deadline)?;
        let wanted = (!topics.is_empty()).then_some(topics);
        let snapshot = metadata_request(&self.conn, wanted, false, timeout).await?;
        Ok(snapshot.partitions())
    }

    /// The brokers of the cluster.
    pub async fn brokers(&mut self) -> Result<Vec<Broker>> {
        let timeout = self.timeout(self.read_deadline)?;
        let snapshot = metadata_request(&self.conn, Some(&[]), false, timeout).await?;
        let mut brokers: Vec<Broker> = snapshot.brokers.into_values().collect();
        brokers.sort_by_key(|b| b.id);
        Ok(brokers)
    }

    /// The cluster's controller (where topics are created and deleted).
    pub async fn controller(&mut self) -> Result<Broker> {
        let timeout = self.timeout(self.read_deadline)?;
        let snapshot = metadata_request(&self.conn, Some(&[]), false, timeout).await?;
        snapshot
            .brokers
            .get(&snapshot.controller)
            .cloned()
            .ok_or_else(|| Error::new(ErrorKind::NotFound("controller")).with_api(ApiKey::Metadata))
    }

    /// Creates topics (this broker must be the controller; the admin
    /// [`Client`](crate::Client) finds it for you).
    pub async fn create_topics(&mut self, topics: &[TopicConfig]) -> Result<()> {
        let timeout = self.timeout(self.write_deadline)?;
        create_topics(&self.conn, topics, timeout).await
    }

    /// Deletes topics (this broker must be the controller).
    pub async fn delete_topics(&mut self, topics: &[&str]) -> Result<()> {
        let timeout = self.timeout(self.write_deadline)?;
        delete_topics(&self.conn, topics, timeout).await
    }

    async fn topic_id(&mut self, timeout: Duration) -> Result<Uuid> {
        if let Some(id) = self.topic_id {
            return Ok(id);
        }
        let snapshot = metadata_request(&self.conn, Some(&[&self.topic]), false, timeout).await?;
        let id = snapshot
            .topics
            .get(&self.topic)
            .map_or(Uuid::ZERO, |t| t.id);
        if id == Uuid::ZERO {
            let e = Error::new(ErrorKind::NotFound("topic id"));
            return Err(self.context(e, ApiKey::Fetch));
        }
        self.topic_id = Some(id);
        Ok(id)
    }

    /// Fetches a batch of messages from the current offset with
    /// `min_bytes`/`max_bytes` (kafka-go's `ReadBatch`).
    pub async fn read_batch(&mut self, min_bytes: i32, max_bytes: i32) -> Result<Batch<'_>> {
        self.read_batch_with(ReadBatchConfig {
            min_bytes,
            max_bytes,
            ..Default::default()
        })
        .await
    }

    /// Fetches a batch of messages from the current offset.
    pub async fn read_batch_with(&mut self, config: ReadBatchConfig) -> Result<Batch<'_>> {
        self.fetch(config).await?;
        Ok(Batch { conn: self })
    }

    /// Reads the message at the current offset, then moves past it
    /// (kafka-go's `ReadMessage`); fetches at most `max_bytes`.
    pub async fn read_message(&mut self, max_bytes: i32) -> Result<FetchedMessage<'_>> {
        loop {
            let have = match &self.fetched {
                Some(f) => f.advance(
                    self.committed.as_mut(),
                    &mut self.cursor,
                    &mut self.codecs,
                    &mut self.scratch,
                ),
                None => Ok(false),
            };
            match have {
                Ok(true) => break,
                Ok(false) => {
                    self.fetch(ReadBatchConfig {
                        max_bytes,
                        ..Default::default()
                    })
                    .await?
                }
                Err(e) => {
                    self.drop_fetched();
                    return Err(self.context(e.into(), ApiKey::Fetch));
                }
            }
        }
        self.current_message()
            .ok_or_else(|| Error::from(microkafka_core::Error::Truncated))
    }

    fn current_message(&mut self) -> Option<FetchedMessage<'_>> {
        let f = self.fetched.as_ref()?;
        let record = self.cursor.current(f.records(), &self.scratch)?;
        self.offset = record.offset.saturating_add(1);
        Some(FetchedMessage {
            topic: &self.topic,
            partition: self.partition,
            offset: record.offset,
            high_water_mark: self.high_water_mark,
            key: record.key,
            value: record.value,
            headers: record.headers,
            timestamp_ms: record.timestamp,
        })
    }

    async fn fetch(&mut self, config: ReadBatchConfig) -> Result<()> {
        self.require_partition()?;
        let version = self.conn.version(ApiKey::Fetch)?;
        let topic_id = if version >= FETCH_TOPIC_ID_VERSION {
            let timeout = self.timeout(self.read_deadline)?;
            self.topic_id(timeout).await?
        } else {
            Uuid::ZERO
        };
        // What is left of the deadline after the topic id lookup.
        let timeout = self.timeout(self.read_deadline)?;
        let (max_wait, limit) = match self.read_deadline {
            // The deadline bounds the whole call: the broker's wait is cut
            // to leave the answer time to arrive before it, and the answer
            // gets no more than what is left (not that plus `max_wait`).
            Some(_) => {
                let room = timeout.saturating_sub(timeout / 10);
                (config.max_wait.map_or(room, |w| w.min(room)), timeout)
            }
            None => {
                let max_wait = config.max_wait.unwrap_or(Duration::from_secs(10));
                (max_wait, timeout.saturating_add(max_wait))
            }
        };
        let limits = FetchLimits {
            max_wait_ms: duration_ms(max_wait),
            min_bytes: config.min_bytes,
            max_bytes: config.max_bytes,
            read_committed: config.read_committed,
        };
        self.drop_fetched();
        let fetch = PartitionFetch::new(
            &self.topic,
            topic_id,
            self.partition,
            self.offset,
            -1,
            limits,
        );
        let fetched = fetch_on(&self.conn, &fetch, &self.slot, &mut self.fetch_buf, limit).await;
        let fetched = fetched.map_err(|e| self.context(e, ApiKey::Fetch))?;
        self.high_water_mark = fetched.high_water_mark;
        self.cursor = FetchCursor::new(self.offset);
        self.committed = config.read_committed.then(|| fetched.read_committed());
        self.fetched = Some(fetched);
        Ok(())
    }
}

/// Messages fetched by [`Conn::read_batch`] (kafka-go's `Batch`): read them
/// with [`next_message`](Self::next_message); each moves the connection's
/// offset past it.
pub struct Batch<'c> {
    conn: &'c mut Conn,
}

impl Batch<'_> {
    /// The partition's high watermark when the batch was fetched.
    pub fn high_water_mark(&self) -> i64 {
        self.conn.high_water_mark
    }

    /// The offset of the next message to read.
    pub fn offset(&self) -> i64 {
        self.conn.offset
    }

    /// The next message, `None` at the end of the batch.
    pub fn next_message(&mut self) -> Option<Result<FetchedMessage<'_>>> {
        let conn = &mut *self.conn;
        let f = conn.fetched.as_ref()?;
        match f.advance(
            conn.committed.as_mut(),
            &mut conn.cursor,
            &mut conn.codecs,
            &mut conn.scratch,
        ) {
            Ok(true) => conn.current_message().map(Ok),
            Ok(false) => {
                conn.offset = conn.offset.max(conn.cursor.next_offset());
                None
            }
            Err(e) => Some(Err(conn.context(e.into(), ApiKey::Fetch))),
        }
    }
}
