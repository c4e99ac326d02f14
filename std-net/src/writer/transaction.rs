//! [`TransactionalWriter`]: a transactional producer (exactly-once, KIP-98
//! and KIP-447) in the Java client's shape — `init_transactions`,
//! `begin_transaction`, `send_offsets_to_transaction`,
//! `commit_transaction`, `abort_transaction` — since kafka-go has none.
//!
//! Every protocol decision is core's [`TransactionManager`]: when to look
//! the coordinator up, which partitions and offsets to add, when EndTxn may
//! go, what each error means (retry, abort the transaction, close the
//! producer). This file moves its requests to the broker it names and its
//! clock, and sends the record batches it allows: each partition's batches
//! go one at a time, in order, stamped with the manager's producer id and
//! epoch and the partition's sequence numbers
//! ([`PartitionSequence`]), retried as core's [`ProduceRecovery`] decides.
//! Batches go as soon as their partition is in the transaction and has
//! nothing in flight (while one is in flight the next one fills), and every
//! open batch at commit.
//!
//! The manager is driven from the calling task: the methods of the Writer
//! run it until their answer is known (a commit until EndTxn is answered),
//! at most [`TransactionalConfig::max_block`]. Batches are sent by tasks of
//! their own meanwhile; dropping the Writer ends them (its open
//! transaction is then aborted by the coordinator, when the transaction
//! times out or a new producer with the same transactional id starts).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use microkafka_core::balancer::{Balancer, MessageRef};
use microkafka_core::producer::{
    Backoff, GroupMetadata, PartitionSequence, ProduceRecovery, ProducerIdAndEpoch,
    TransactionConfig, TransactionManager, TxnDestination, TxnError, TxnEvent, TxnOffset,
    TxnRequest, TxnState,
};
use microkafka_core::protocol::ApiKey;
use microkafka_core::record::{BatchOptions, RECORD_BATCH_OVERHEAD};
use microkafka_core::ErrorCode;
use tokio::task::JoinSet;

use super::batch::{too_large, Staged};
use super::config::WriterConfig;
use crate::broker::{BrokerConn, Response, Slot};
use crate::error::{Error, ErrorKind, Result};
use crate::message::{now_ms, Message};
use crate::pool::BrokerPool;
use crate::requests::produce::{produce_as, BatchBuffers, RequiredAcks};
use crate::requests::PartitionAt;

/// Topics one transaction may write to (and read offsets of).
pub const MAX_TRANSACTION_TOPICS: usize = 64;
/// Partitions one transaction may write to (and, separately, consumed
/// partitions whose offsets it commits).
pub const MAX_TRANSACTION_PARTITIONS: usize = 1024;

type Manager = TransactionManager<MAX_TRANSACTION_TOPICS, MAX_TRANSACTION_PARTITIONS>;

/// A consumer group's place, for offsets committed in a transaction (the
/// Java client's `ConsumerGroupMetadata`): with the generation and member
/// id, the group coordinator refuses the offsets of a member that was
/// rebalanced away, so a zombie cannot commit (KIP-447). A group
/// [`Reader`](crate::Reader) gives its own with
/// [`group_metadata`](crate::Reader::group_metadata).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConsumerGroupMetadata {
    /// The group id.
    pub group_id: String,
    /// The generation the member is in; -1 for none (offsets of a group
    /// with no active member, as before KIP-447).
    pub generation_id: i32,
    /// The member id; "" for none.
    pub member_id: String,
    /// The static member's instance id, if any.
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// A group without member details (generation -1, no member id): the
    /// coordinator accepts these offsets only while the group has no
    /// active members.
    pub fn new(group_id: &str) -> Self {
        ConsumerGroupMetadata {
            group_id: group_id.to_owned(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// How a [`TransactionalWriter`] works.
#[derive(Clone, Debug)]
pub struct TransactionalConfig {
    /// Brokers, topic, balancer, batching, compression, timeouts, retries
    /// and the dialer, as for a [`Writer`](crate::Writer). A transactional
    /// producer is always idempotent with `required_acks` all; `async_`,
    /// `completion` and `batch_timeout` do not apply (a batch goes when its
    /// partition is ready for it, and every one at commit).
    pub writer: WriterConfig,
    /// The transactional id (`transactional.id`), 1 to 255 bytes. One
    /// producer at a time holds it:
    /// [`init_transactions`](TransactionalWriter::init_transactions) of a
    /// new one fences the
    /// older and aborts its open transaction. Keep it stable per input
    /// shard of a consume-transform-produce application (a restarted
    /// instance must use the one it had).
    pub transactional_id: String,
    /// The coordinator aborts a transaction open longer than this
    /// (`transaction.timeout.ms`). Default 60 s, as Java. It cannot exceed
    /// the broker's `transaction.max.timeout.ms` (15 min by default).
    pub transaction_timeout: Duration,
    /// Longest a call waits for its answer (`max.block.ms`): past it the
    /// call fails with [`ErrorKind::Timeout`] and may be called again to
    /// keep waiting (a commit stays a commit). Default 60 s.
    pub max_block: Duration,
}

impl TransactionalConfig {
    /// A transactional producer for `topic` on `brokers`, named
    /// `transactional_id`, with the defaults.
    pub fn new(brokers: &[&str], topic: &str, transactional_id: &str) -> Self {
        TransactionalConfig {
            writer: WriterConfig::new(brokers, topic),
            transactional_id: transactional_id.to_owned(),
            transaction_timeout: Duration::from_secs(60),
            max_block: Duration::from_secs(60),
        }
    }
}

/// What a [`TransactionalWriter`] did since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransactionStats {
    /// Transactions committed.
    pub committed: u64,
    /// Transactions aborted.
    pub aborted: u64,
    /// Producer ids and epochs taken (the first, and every new epoch).
    pub epochs: u64,
    /// Messages written in committed transactions.
    pub messages: u64,
    /// Batches sent (retries not counted).
    pub batches: u64,
    /// Produce requests sent again after a retriable error.
    pub produce_retries: u64,
    /// Coordinator requests sent again (a moved coordinator, a dropped
    /// connection, `CONCURRENT_TRANSACTIONS`...).
    pub coordinator_retries: u64,
}

/// A transactional producer: messages written between
/// [`begin_transaction`](Self::begin_transaction) and
/// [`commit_transaction`](Self::commit_transaction) become visible to
/// `read_committed` readers together, with the consumer offsets sent in
/// the transaction, or not at all.
///
/// ```no_run
/// # async fn demo() -> microkafka_std::Result<()> {
/// use microkafka_std::{Message, Reader, ReaderConfig, TransactionalConfig, TransactionalWriter};
/// let mut input = Reader::new(ReaderConfig {
///     read_committed: true,
///     ..ReaderConfig::group(&["localhost:9092"], "enricher", &["orders"])
/// })?;
/// let mut writer =
///     TransactionalWriter::new(TransactionalConfig::new(&["localhost:9092"], "enriched", "enricher-0"))?;
/// writer.init_transactions().await?; // fences an older "enricher-0"
/// loop {
///     writer.begin_transaction()?;
///     let m = input.fetch_message().await?;
///     let (topic, partition, next) = (m.topic.to_owned(), m.partition, m.offset + 1);
///     let value = m.value.unwrap_or_default().to_ascii_uppercase();
///     let key = m.key.map(<[u8]>::to_vec);
///     let out = Message { key: key.as_deref(), ..Message::new(&value) };
///     let done = async {
///         writer.write_messages(&[out]).await?;
///         let group = input.group_metadata().unwrap_or_default();
///         writer.send_offsets_to_transaction(&[(&topic, partition, next)], &group).await?;
///         writer.commit_transaction().await
///     };
///     match done.await {
///         Ok(()) => {}
///         Err(e) if e.is_abortable() => {
///             writer.abort_transaction().await?;
///             // rewind the input to its committed offsets (a new Reader)
///         }
///         Err(e) => return Err(e), // fenced or fatal: stop
///     }
/// }
/// # }
/// ```
///
/// Errors say what to do next: [`Error::is_abortable`] — abort the
/// transaction and run it again; [`Error::is_fatal`] — the producer is
/// fenced (a newer one has the transactional id) or failed for good: drop
/// it; [`ErrorKind::Timeout`] — the call took longer than `max_block`:
/// call it again.
pub struct TransactionalWriter {
    config: WriterConfig,
    transactional_id: Arc<str>,
    max_block: Duration,
    brokers: Arc<BrokerPool>,
    txn: Box<Manager>,
    scratch: Vec<u8>,
    /// Core's clock counts from here.
    epoch: Instant,
    topics: HashMap<String, Box<dyn Balancer + Send>>,
    parts: HashMap<(Arc<str>, i32), Part>,
    /// Batches being sent, a task each.
    flights: JoinSet<Flight>,
    /// Each send task's partition (to free it even if the task panicked).
    flight_parts: HashMap<tokio::task::Id, (Arc<str>, i32)>,
    /// What the produce tasks share.
    send: Arc<SendContext>,
    /// The id and epoch batches carry (from the manager's events).
    producer: Option<ProducerIdAndEpoch>,
    /// Connections to coordinators the metadata does not list.
    extra: HashMap<i32, Arc<BrokerConn>>,
    /// What the manager said since the current call started.
    heard: Heard,
    /// Messages staged in the open transaction.
    staged_messages: u64,
    stats: TransactionStats,
    spare: Vec<(Vec<u8>, BatchBuffers)>,
}

impl fmt::Debug for TransactionalWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransactionalWriter")
            .field("transactional_id", &self.transactional_id)
            .field("state", &self.txn.state())
            .field("producer", &self.producer)
            .finish_non_exhaustive()
    }
}

/// Events of the manager a call waits for.
#[derive(Clone, Copy, Debug, Default)]
struct Heard {
    committed: bool,
    aborted: bool,
    offsets_added: bool,
}

/// One partition's batches in the open transaction.
#[derive(Default)]
struct Part {
    /// The batch being filled (announced to the manager already).
    open: Option<Staged>,
    /// Full batches, oldest first.
    ready: VecDeque<Staged>,
    /// The partition's sequence numbers (held by the task sending a batch).
    sequence: PartitionSequence,
    /// A batch of the partition is being sent.
    busy: bool,
}

/// What every produce task needs.
struct SendContext {
    brokers: Arc<BrokerPool>,
    config: WriterConfig,
    transactional_id: Arc<str>,
    backoff: Backoff,
}

/// A sent batch's outcome, with what its task borrowed.
struct Flight {
    topic: Arc<str>,
    partition: i32,
    staged: Staged,
    sequence: PartitionSequence,
    buffers: BatchBuffers,
    /// `NONE`, or the error that failed the batch (for the manager).
    code: ErrorCode,
    /// Retriable errors met on the way.
    retries: u64,
}

impl TransactionalWriter {
    /// A transactional producer for `config`; nothing is sent before
    /// [`init_transactions`](Self::init_transactions).
    ///
    /// Errors: no brokers, a compression codec not compiled in, an empty or
    /// too long transactional id.
    pub fn new(config: TransactionalConfig) -> Result<TransactionalWriter> {
        let mut writer = config.writer.normalized();
        if !microkafka_core::record::compression::Codecs::is_available(writer.compression) {
            return Err(Error::config(format!(
                "compression {} is not compiled in (enable the `{}` feature)",
                writer.compression.name(),
                writer.compression.name()
            )));
        }
        writer.required_acks = RequiredAcks::All;
        writer.idempotent = true;
        let brokers = BrokerPool::new(
            writer.dialer.connector(),
            &writer.brokers,
            writer.allow_auto_topic_creation,
        )?;
        let backoff = Backoff::new(writer.write_backoff_min, writer.write_backoff_max);
        let manager_config = TransactionConfig {
            transaction_timeout: config.transaction_timeout,
            backoff: Backoff::new(
                writer.write_backoff_min,
                writer.write_backoff_max.max(writer.write_backoff_min),
            )
            .jitter(0),
            request_timeout: writer.read_timeout,
            ..TransactionConfig::new(&config.transactional_id)
        };
        let txn = Box::new(
            Manager::new(&manager_config, Duration::ZERO)
                .map_err(|e| Error::config(format!("transactional id: {e}")))?,
        );
        let transactional_id: Arc<str> = Arc::from(config.transactional_id.as_str());
        let scratch = vec![0; txn.transmit_buf_len()];
        let send = Arc::new(SendContext {
            brokers: brokers.clone(),
            config: writer.clone(),
            transactional_id: transactional_id.clone(),
            backoff,
        });
        Ok(TransactionalWriter {
            config: writer,
            transactional_id,
            max_block: if config.max_block.is_zero() {
                Duration::from_secs(60)
            } else {
                config.max_block
            },
            brokers,
            txn,
            scratch,
            epoch: Instant::now(),
            topics: HashMap::new(),
            parts: HashMap::new(),
            flights: JoinSet::new(),
            flight_parts: HashMap::new(),
            send,
            producer: None,
            extra: HashMap::new(),
            heard: Heard::default(),
            staged_messages: 0,
            stats: TransactionStats::default(),
            spare: Vec::new(),
        })
    }

    /// The transactional id.
    pub fn transactional_id(&self) -> &str {
        &self.transactional_id
    }

    /// The producer id and epoch batches carry, once initialized.
    pub fn producer_id_and_epoch(&self) -> Option<(i64, i16)> {
        self.producer.map(|p| (p.id, p.epoch))
    }

    /// Where the transaction stands (core's state).
    pub fn state(&self) -> TxnState {
        self.txn.state()
    }

    /// What the writer did since it was made.
    pub fn stats(&self) -> TransactionStats {
        self.stats
    }

    /// Finds the transaction coordinator and takes the producer id and
    /// epoch for the transactional id (Java's `initTransactions`). A
    /// producer that held the id before is fenced (its requests fail with
    /// `PRODUCER_FENCED`), and its open transaction is aborted first (the
    /// call waits for that: the coordinator answers
    /// `CONCURRENT_TRANSACTIONS` until the abort is written).
    ///
    /// Errors: fatal ones (not authorized, an invalid transaction timeout);
    /// [`ErrorKind::Timeout`] after `max_block` (call it again).
    pub async fn init_transactions(&mut self) -> Result<()> {
        if self.txn.state() != TxnState::Initializing {
            let now = self.now();
            self.txn
                .init(now)
                .map_err(|e| txn_error(e, ApiKey::InitProducerId))?;
        }
        self.drive(|w| match w.txn.state() {
            TxnState::Ready => Some(Ok(())),
            TxnState::FatalError => Some(Err(w.failure())),
            _ => None,
        })
        .await
    }

    /// Opens a transaction (Java's `beginTransaction`): nothing is sent
    /// until a message is written or offsets are sent.
    ///
    /// Errors: not initialized, a transaction open already, a fatal error.
    pub fn begin_transaction(&mut self) -> Result<()> {
        self.txn
            .begin()
            .map_err(|e| txn_error(e, ApiKey::AddPartitionsToTxn))?;
        self.heard = Heard::default();
        self.staged_messages = 0;
        Ok(())
    }

    /// Writes messages in the open transaction: each is balanced to a
    /// partition (as the [`Writer`](crate::Writer) does) and copied into
    /// that partition's batch; the partition is added to the transaction
    /// and batches are sent as it allows. Returns once the messages are
    /// staged (and the batches that could go are on their way); their
    /// outcome is known at [`commit_transaction`](Self::commit_transaction),
    /// which fails if any of them failed.
    ///
    /// Waits while a partition has `max_buffered_batches` full batches
    /// unsent.
    ///
    /// Errors: no open transaction; the transaction failed already
    /// ([`Error::is_abortable`]: abort it) or the producer did
    /// ([`Error::is_fatal`]); a message too large, an unknown topic (these
    /// leave the transaction open: the messages before were staged).
    pub async fn write_messages(&mut self, messages: &[Message<'_>]) -> Result<()> {
        let now = now_ms();
        for m in messages {
            let topic = self.topic_of(m)?;
            let partition = self.balance(&topic, m).await?;
            self.stage(&topic, partition, m, now)?;
        }
        let limit = self.config.max_buffered_batches;
        self.drive(move |w| {
            if let Some(e) = w.check_failed() {
                return Some(Err(e));
            }
            let backlog = w.parts.values().map(|p| p.ready.len()).max().unwrap_or(0);
            (backlog < limit).then_some(Ok(()))
        })
        .await
    }

    /// Adds consumed offsets to the open transaction (Java's
    /// `sendOffsetsToTransaction`): `offsets` are `(topic, partition, next
    /// offset to read)`, committed for `group` when the transaction
    /// commits, and never if it aborts. Returns once the group coordinator
    /// has them (AddOffsetsToTxn, then TxnOffsetCommit). Called again in
    /// the same transaction, the offsets are updated; one group per
    /// transaction.
    ///
    /// With a group [`Reader`](crate::Reader)'s
    /// [`group_metadata`](crate::Reader::group_metadata), offsets of a
    /// member rebalanced away are refused (the transaction becomes
    /// abortable): the partitions' new owner reads them again.
    ///
    /// Errors: no open transaction, another group in this transaction, an
    /// abortable or fatal error, [`ErrorKind::Timeout`] after `max_block`.
    pub async fn send_offsets_to_transaction(
        &mut self,
        offsets: &[(&str, i32, i64)],
        group: &ConsumerGroupMetadata,
    ) -> Result<()> {
        let meta = GroupMetadata {
            group_id: &group.group_id,
            generation_id: group.generation_id,
            member_id: &group.member_id,
            group_instance_id: group.group_instance_id.as_deref(),
        };
        let list: Vec<TxnOffset<'_>> = offsets
            .iter()
            .map(|&(topic, partition, offset)| TxnOffset {
                topic,
                partition,
                offset,
                leader_epoch: -1,
            })
            .collect();
        self.heard.offsets_added = false;
        self.txn
            .send_offsets(&meta, &list)
            .map_err(|e| txn_error(e, ApiKey::TxnOffsetCommit))?;
        self.drive(|w| {
            if let Some(e) = w.check_failed() {
                return Some(Err(e));
            }
            w.heard.offsets_added.then_some(Ok(()))
        })
        .await
    }

    /// Commits the open transaction (Java's `commitTransaction`): sends
    /// every batch, waits for their outcomes and for the offsets, then
    /// EndTxn. Returns once the coordinator has the commit: the messages
    /// and offsets are then visible to `read_committed` readers (as soon
    /// as the markers are written, which the coordinator does next).
    ///
    /// Errors: [`Error::is_abortable`] — a batch or the offsets failed:
    /// call [`abort_transaction`](Self::abort_transaction);
    /// [`Error::is_fatal`] — fenced or failed for good;
    /// [`ErrorKind::Timeout`] — call it again.
    pub async fn commit_transaction(&mut self) -> Result<()> {
        if self.txn.state() != TxnState::Committing {
            for part in self.parts.values_mut() {
                if let Some(open) = part.open.take() {
                    part.ready.push_back(open);
                }
            }
            let now = self.now();
            self.heard.committed = false;
            self.txn
                .commit(now)
                .map_err(|e| txn_error(e, ApiKey::EndTxn))?;
        }
        self.drive(|w| {
            if w.heard.committed {
                return Some(Ok(()));
            }
            match w.txn.state() {
                TxnState::AbortableError | TxnState::FatalError => Some(Err(w.failure())),
                _ => None,
            }
        })
        .await?;
        self.stats.committed += 1;
        self.stats.messages += self.staged_messages;
        self.staged_messages = 0;
        Ok(())
    }

    /// Aborts the open transaction, or the one that failed (Java's
    /// `abortTransaction`): messages not sent yet are dropped, those sent
    /// are answered first, then EndTxn; readers with `read_committed`
    /// never see any of them, and the offsets sent are not committed.
    /// After errors that lost the producer's state the writer also takes a
    /// new epoch (KIP-360) before returning. Then
    /// [`begin_transaction`](Self::begin_transaction) may start the next.
    ///
    /// Errors: no transaction to abort, a fatal error,
    /// [`ErrorKind::Timeout`] (call it again).
    pub async fn abort_transaction(&mut self) -> Result<()> {
        if self.txn.state() != TxnState::Aborting {
            let now = self.now();
            self.txn
                .abort(now)
                .map_err(|e| txn_error(e, ApiKey::EndTxn))?;
            self.heard.aborted = false;
            // Not sent: dropped (the manager forgot them too).
            let mut dropped = Vec::new();
            for part in self.parts.values_mut() {
                dropped.extend(part.open.take());
                dropped.extend(part.ready.drain(..));
            }
            for staged in dropped {
                self.recycle(staged, BatchBuffers::default());
            }
            self.staged_messages = 0;
        }
        self.drive(|w| match w.txn.state() {
            TxnState::Ready if w.heard.aborted => Some(Ok(())),
            TxnState::FatalError => Some(Err(w.failure())),
            _ => None,
        })
        .await?;
        self.stats.aborted += 1;
        Ok(())
    }

    /// Aborts an open transaction (best effort, within `max_block`) and
    /// closes the connections.
    pub async fn close(mut self) -> Result<()> {
        let open = matches!(
            self.txn.state(),
            TxnState::InTransaction | TxnState::AbortableError | TxnState::Aborting
        );
        let result = if open {
            self.abort_transaction().await
        } else {
            Ok(())
        };
        self.flights.abort_all();
        self.brokers.close();
        result
    }

    // ---- staging ----

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    fn topic_of(&self, m: &Message<'_>) -> Result<Arc<str>> {
        match (&self.config.topic, m.topic) {
            (Some(t), None) => Ok(Arc::from(t.as_str())),
            (None, Some(t)) => Ok(Arc::from(t)),
            (Some(_), Some(_)) => Err(Error::config(
                "the Writer has a topic, so messages must not name one",
            )),
            (None, None) => Err(Error::config(
                "neither the Writer nor the message names a topic",
            )),
        }
    }

    /// The partition of `topic` that `m` goes to.
    async fn balance(&mut self, topic: &str, m: &Message<'_>) -> Result<i32> {
        let meta = match self.brokers.topic(topic) {
            Some(t) if t.error.is_ok() && !t.ids.is_empty() => t,
            _ => self.brokers.topic_meta(topic).await?,
        };
        let balancer = match self.topics.get_mut(topic) {
            Some(b) => b,
            None => self
                .topics
                .entry(topic.to_owned())
                .or_insert_with(|| self.config.balancer.build()),
        };
        balancer
            .balance(&MessageRef::new(m.key, m.value), &meta.ids)
            .ok_or_else(|| Error::new(ErrorKind::NotFound("partition")).with_topic(topic))
    }

    /// Copies `m` into its partition's open batch (a full one is sealed
    /// first; a new one is announced to the manager, which adds the
    /// partition to the transaction).
    fn stage(&mut self, topic: &Arc<str>, partition: i32, m: &Message<'_>, now: i64) -> Result<()> {
        let ctx = |e: Error| e.with_partition(topic, partition);
        let timestamp = m.timestamp_ms(now);
        let key = (topic.clone(), partition);
        let (batch_bytes, batch_size) = (self.config.batch_bytes, self.config.batch_size);
        loop {
            let has_open = self.parts.get(&key).is_some_and(|p| p.open.is_some());
            if !has_open {
                self.txn
                    .batch_ready(topic, partition)
                    .map_err(|e| ctx(txn_error(e, ApiKey::Produce)))?;
                let staged = self.new_staged();
                self.parts.entry(key.clone()).or_default().open = Some(staged);
            }
            let Some(part) = self.parts.get_mut(&key) else {
                continue;
            };
            let Some(open) = part.open.as_mut() else {
                continue;
            };
            let cost = open.cost(m, timestamp).map_err(ctx)?;
            if RECORD_BATCH_OVERHEAD + cost > batch_bytes {
                return Err(ctx(too_large(RECORD_BATCH_OVERHEAD + cost, batch_bytes)));
            }
            let full = open.encoded + cost > batch_bytes || open.count as usize >= batch_size;
            if open.count > 0 && full {
                if let Some(b) = part.open.take() {
                    part.ready.push_back(b);
                }
                continue;
            }
            open.push(m, timestamp, cost);
            self.staged_messages += 1;
            return Ok(());
        }
    }

    fn new_staged(&mut self) -> Staged {
        let (records, _) = self.spare.pop().unwrap_or_default();
        Staged::new(records, Arc::default())
    }

    fn recycle(&mut self, staged: Staged, buffers: BatchBuffers) {
        if self.spare.len() < 64 {
            let (records, _) = staged.into_parts();
            self.spare.push((records, buffers));
        }
    }

    // ---- the driver ----

    /// The error of the failed transaction or producer.
    fn failure(&self) -> Error {
        let (api, error) = self
            .txn
            .last_error()
            .unwrap_or((ApiKey::EndTxn, ErrorCode::UNKNOWN_SERVER_ERROR));
        let e = match self.txn.state() {
            TxnState::FatalError => TxnError::Fatal { api, error },
            _ => TxnError::Abortable { api, error },
        };
        Error::new(ErrorKind::Transaction(e)).with_api(api)
    }

    /// The transaction's error once it failed.
    fn check_failed(&self) -> Option<Error> {
        matches!(
            self.txn.state(),
            TxnState::AbortableError | TxnState::FatalError
        )
        .then(|| self.failure())
    }

    /// Runs the manager (its requests, the batches it allows, their
    /// outcomes) until `done` answers, at most `max_block`.
    async fn drive(&mut self, mut done: impl FnMut(&mut Self) -> Option<Result<()>>) -> Result<()> {
        let deadline = tokio::time::Instant::now() + self.max_block;
        loop {
            while let Some(joined) = self.flights.try_join_next_with_id() {
                self.landed(joined);
            }
            self.events();
            self.dispatch();
            let now = self.now();
            self.txn.handle_timeout(now);
            if self.transmit(now).await? {
                continue;
            }
            self.events();
            if let Some(result) = done(self) {
                return result;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::new(ErrorKind::Timeout).with_api(self.waiting_for()));
            }
            // Nothing due: wait for a batch, the manager's timer or the
            // deadline.
            let wake = match self.txn.poll_timeout() {
                Some(at) => {
                    let wait = at.saturating_sub(self.now());
                    (tokio::time::Instant::now() + wait).min(deadline)
                }
                None => deadline,
            };
            if self.flights.is_empty() {
                tokio::time::sleep_until(wake).await;
            } else {
                tokio::select! {
                    joined = self.flights.join_next_with_id() => {
                        if let Some(joined) = joined {
                            self.landed(joined);
                        }
                    }
                    _ = tokio::time::sleep_until(wake) => {}
                }
            }
        }
    }

    /// The API a timed-out call was waiting on, for its error.
    fn waiting_for(&self) -> ApiKey {
        match self.txn.state() {
            TxnState::Initializing => ApiKey::InitProducerId,
            TxnState::Committing | TxnState::Aborting => ApiKey::EndTxn,
            _ => ApiKey::AddPartitionsToTxn,
        }
    }

    /// Takes in what the manager said.
    fn events(&mut self) {
        while let Some(event) = self.txn.poll_event() {
            match event {
                TxnEvent::Initialized {
                    producer_id,
                    producer_epoch,
                } => {
                    self.producer = Some(ProducerIdAndEpoch::new(producer_id, producer_epoch));
                    self.stats.epochs += 1;
                }
                TxnEvent::OffsetsAdded => self.heard.offsets_added = true,
                TxnEvent::Committed => self.heard.committed = true,
                TxnEvent::Aborted => self.heard.aborted = true,
                TxnEvent::Retrying { .. } => self.stats.coordinator_retries += 1,
                TxnEvent::Abortable { .. } | TxnEvent::Fatal { .. } => {}
            }
        }
    }

    /// Sends the manager's next request, if one is due, and hands it the
    /// outcome. True when one was sent.
    async fn transmit(&mut self, now: Duration) -> Result<bool> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let polled = self.txn.poll_transmit(now, &mut scratch);
        let tx = match polled {
            Ok(Some(tx)) => tx,
            Ok(None) => {
                self.scratch = scratch;
                return Ok(false);
            }
            Err(e) => {
                self.scratch = scratch;
                return Err(Error::from(e).with_api(ApiKey::EndTxn));
            }
        };
        let id = tx.id;
        let answered = self.exchange(tx.destination, &tx.request).await;
        let now = self.now();
        match answered {
            Ok(response) => {
                // An answer that does not decode counts as lost (the
                // manager retries after looking the coordinator up).
                let _ = self.txn.handle_response(now, id, &response.received());
            }
            Err(_) => self.txn.handle_failure(now, id),
        }
        self.scratch = scratch;
        Ok(true)
    }

    /// Sends `request` to `destination` and waits for the answer.
    async fn exchange(
        &mut self,
        destination: TxnDestination<'_>,
        request: &TxnRequest<'_>,
    ) -> Result<Response> {
        let conn = match destination {
            TxnDestination::AnyBroker => self.brokers.any_conn().await?,
            TxnDestination::TransactionCoordinator {
                node_id,
                host,
                port,
            }
            | TxnDestination::GroupCoordinator {
                node_id,
                host,
                port,
            } => self.coordinator(node_id, host, port).await?,
        };
        let timeout = self.config.read_timeout;
        let answered = match request {
            TxnRequest::FindCoordinator(r) => conn.request(r, timeout).await,
            TxnRequest::InitProducerId(r) => conn.request(r, timeout).await,
            TxnRequest::AddPartitionsToTxn(r) => conn.request(r, timeout).await,
            TxnRequest::AddOffsetsToTxn(r) => conn.request(r, timeout).await,
            TxnRequest::TxnOffsetCommit(r) => conn.request(r, timeout).await,
            TxnRequest::EndTxn(r) => conn.request(r, timeout).await,
        };
        if let Err(e) = &answered {
            // A connection that failed a request is not trusted again.
            conn.close(e.clone());
        }
        answered
    }

    /// The connection to coordinator `node_id`: the pool's when the
    /// metadata lists it, else dialed at the address FindCoordinator gave.
    async fn coordinator(
        &mut self,
        node_id: i32,
        host: &str,
        port: i32,
    ) -> Result<Arc<BrokerConn>> {
        match self.brokers.conn(node_id).await {
            Err(e) if matches!(e.kind(), ErrorKind::NotFound(_)) => {}
            other => return other,
        }
        if let Some(c) = self.extra.get(&node_id).filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let conn = Arc::new(
            self.brokers
                .dial(&format!("{host}:{port}"), node_id)
                .await?,
        );
        self.extra.insert(node_id, conn.clone());
        Ok(conn)
    }

    /// Starts sending the next batch of every partition the manager lets
    /// send and that has none in flight.
    fn dispatch(&mut self) {
        let Some(producer) = self.producer else {
            return;
        };
        let keys: Vec<(Arc<str>, i32)> = self
            .parts
            .iter()
            .filter(|(_, p)| !p.busy && (!p.ready.is_empty() || p.open.is_some()))
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            let (topic, partition) = (&key.0, key.1);
            if !self.txn.may_send(topic, partition) {
                continue;
            }
            let Some(part) = self.parts.get_mut(&key) else {
                continue;
            };
            // Nothing in flight: the open batch goes now rather than wait
            // (while it is in flight the next one fills).
            let staged = match part.ready.pop_front() {
                Some(s) => s,
                None => match part.open.take() {
                    Some(s) => s,
                    None => continue,
                },
            };
            if self.txn.batch_sent(topic, partition).is_err() {
                part.ready.push_front(staged);
                continue;
            }
            part.busy = true;
            let sequence = part.sequence;
            let buffers = self.spare.pop().map(|(_, b)| b).unwrap_or_default();
            self.stats.batches += 1;
            let send = self.send.clone();
            let task_topic = topic.clone();
            let handle = self.flights.spawn(async move {
                send_batch(
                    send, task_topic, partition, staged, sequence, producer, buffers,
                )
                .await
            });
            self.flight_parts.insert(handle.id(), key.clone());
        }
    }

    /// A batch's task ended: its outcome to the manager, its partition
    /// free for the next.
    fn landed(
        &mut self,
        joined: std::result::Result<(tokio::task::Id, Flight), tokio::task::JoinError>,
    ) {
        let id = match &joined {
            Ok((id, _)) => *id,
            Err(e) => e.id(),
        };
        let key = self.flight_parts.remove(&id);
        let flight = match joined {
            Ok((_, f)) => f,
            Err(_) => {
                // The task panicked: the batch's outcome is unknown, so
                // the transaction cannot commit (and the partition's
                // sequence is in doubt: the abort takes a new epoch).
                if let Some(part) = key.and_then(|k| self.parts.get_mut(&k)) {
                    part.busy = false;
                }
                self.txn.batch_done(ErrorCode::REQUEST_TIMED_OUT);
                return;
            }
        };
        self.stats.produce_retries += flight.retries;
        if let Some(part) = self
            .parts
            .get_mut(&(flight.topic.clone(), flight.partition))
        {
            part.busy = false;
            part.sequence = flight.sequence;
        }
        self.txn.batch_done(flight.code);
        self.recycle(flight.staged, flight.buffers);
    }
}

impl Drop for TransactionalWriter {
    fn drop(&mut self) {
        // The open transaction, if any, is the coordinator's to abort (at
        // its timeout, or when the next producer with this id starts).
        self.flights.abort_all();
        self.brokers.close();
    }
}

/// A call the manager refused, as an [`Error`] naming `api`.
fn txn_error(e: TxnError, api: ApiKey) -> Error {
    let api = match e {
        TxnError::Abortable { api, .. } | TxnError::Fatal { api, .. } => api,
        _ => api,
    };
    match e {
        TxnError::Limit(e) => Error::from(e).with_api(api),
        e => Error::new(ErrorKind::Transaction(e)).with_api(api),
    }
}

/// Sends one batch until it is written or fails for good (core's
/// [`ProduceRecovery`] decides), and returns its outcome.
async fn send_batch(
    send: Arc<SendContext>,
    topic: Arc<str>,
    partition: i32,
    staged: Staged,
    mut sequence: PartitionSequence,
    producer: ProducerIdAndEpoch,
    mut buffers: BatchBuffers,
) -> Flight {
    let cfg = &send.config;
    // A batch the broker answered with a refusal took no sequence numbers:
    // the partition's next batch gets them (else it would leave a gap).
    let before = sequence;
    let base = sequence.assign(producer, staged.count);
    let options = BatchOptions {
        producer_id: producer.id,
        producer_epoch: producer.epoch,
        base_sequence: base,
        transactional: true,
        ..BatchOptions::default()
    };
    let mut retries = 0;
    let code = match buffers.build(cfg.compression, options, staged.encoded, |b| {
        staged.append_to(b)
    }) {
        // Not sent: the transaction cannot commit without it.
        Err(_) => ErrorCode::UNKNOWN_SERVER_ERROR,
        Ok(bytes) => {
            let at = PartitionAt {
                topic: &topic,
                partition,
            };
            let slot = Slot::new();
            let mut buf = Vec::new();
            let mut attempt = 0;
            loop {
                attempt += 1;
                let seen = send.brokers.generation();
                let answer = match send.brokers.leader(&topic, partition) {
                    Some((leader, _)) if leader >= 0 => match send.brokers.conn(leader).await {
                        Ok(conn) => {
                            produce_as(
                                &conn,
                                Some(&send.transactional_id),
                                at,
                                bytes,
                                RequiredAcks::All,
                                cfg.write_timeout,
                                &slot,
                                &mut buf,
                            )
                            .await
                        }
                        Err(e) => Err(e),
                    },
                    _ => Err(Error::new(ErrorKind::NoLeader)),
                };
                let answered = answer.is_ok();
                let (decision, code) = match answer {
                    Ok(a) => (
                        ProduceRecovery::idempotent(
                            a.error,
                            sequence.position(base),
                            a.log_start_offset,
                        ),
                        a.error,
                    ),
                    // No answer: the broker may have the batch (a retry is
                    // deduplicated by its sequence) or the leader moved.
                    Err(e) if e.is_retriable() => (
                        ProduceRecovery::RefreshMetadata,
                        ErrorCode::REQUEST_TIMED_OUT,
                    ),
                    Err(e) => (
                        ProduceRecovery::Fail,
                        e.code().unwrap_or(ErrorCode::UNKNOWN_SERVER_ERROR),
                    ),
                };
                if decision.is_written() {
                    sequence.acknowledged(base, staged.count);
                    break ErrorCode::NONE;
                }
                // A new epoch is the transaction's to take (after an
                // abort), not this batch's: BumpEpoch fails it and the
                // manager classifies the code.
                let retry = matches!(
                    decision,
                    ProduceRecovery::Retry | ProduceRecovery::RefreshMetadata
                );
                if !retry || attempt >= cfg.max_attempts {
                    if answered && decision == ProduceRecovery::Fail && retries == 0 {
                        // Refused on its only send: never written.
                        sequence = before;
                    }
                    break code;
                }
                retries += 1;
                if decision == ProduceRecovery::RefreshMetadata {
                    let _ = send.brokers.refresh(&[&topic], Some(seen)).await;
                }
                tokio::time::sleep(send.backoff.delay(attempt)).await;
            }
        }
    };
    Flight {
        topic,
        partition,
        staged,
        sequence,
        buffers,
        code,
        retries,
    }
}
