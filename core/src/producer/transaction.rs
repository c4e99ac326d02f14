//! [`TransactionManager`]: a transactional producer's coordinator protocol
//! as a sans-IO state machine (Kafka's exactly-once, KIP-98 and KIP-447).
//!
//! ```text
//! Uninitialized --init--> Initializing --InitProducerId--> Ready
//! Ready --begin--> InTransaction --commit--> Committing --EndTxn--> Ready
//!                               \--abort--> Aborting  --EndTxn--> Ready
//! any abortable error -> AbortableError --abort--> Aborting --> Ready
//!                                      (or Initializing: a new epoch first)
//! any fatal error -> FatalError (close the producer)
//! ```
//!
//! The manager finds the transaction coordinator (FindCoordinator, key type
//! 1 with the transactional id), gets a producer id and epoch
//! (InitProducerId, which also fences older producers of the same
//! transactional id and ends their open transaction), adds each partition
//! to the transaction before its first batch goes out (AddPartitionsToTxn),
//! adds a consumer group's offsets (AddOffsetsToTxn to the transaction
//! coordinator, then TxnOffsetCommit to the group's coordinator, with the
//! group generation and member id so a zombie member is fenced, KIP-447),
//! and ends the transaction (EndTxn), once every batch sent in it has its
//! answer. It reads no clock and owns no socket, as the group
//! [`Member`](crate::group::Member):
//!
//! - [`poll_transmit`](TransactionManager::poll_transmit): the next request
//!   and where it goes (any broker, the transaction coordinator, the
//!   group's coordinator); one is in flight at a time, as in the Java client;
//! - [`handle_response`](TransactionManager::handle_response) /
//!   [`handle_failure`](TransactionManager::handle_failure): its outcome;
//! - [`poll_timeout`](TransactionManager::poll_timeout) /
//!   [`handle_timeout`](TransactionManager::handle_timeout): backoff and
//!   request deadlines;
//! - [`poll_event`](TransactionManager::poll_event): what the application
//!   hears (initialized or a new epoch, committed, aborted, errors).
//!
//! The producer's batches stay with the caller (an
//! [`Accumulator`](super::Accumulator)): it tells the manager a batch is
//! ready for a partition ([`batch_ready`](TransactionManager::batch_ready)),
//! sends it once [`may_send`](TransactionManager::may_send) says the
//! partition is in the transaction, and reports the batch's final outcome
//! ([`batch_done`](TransactionManager::batch_done)), marking it
//! transactional with the manager's producer id and epoch.
//!
//! ## Errors, classified as the Java client does
//!
//! - *Retriable*: `CONCURRENT_TRANSACTIONS` (the previous transaction's
//!   markers are still being written), `COORDINATOR_LOAD_IN_PROGRESS`,
//!   `UNKNOWN_TOPIC_OR_PARTITION` and other retriable codes: the same
//!   request again after the backoff. `NOT_COORDINATOR` and
//!   `COORDINATOR_NOT_AVAILABLE` (and a request that failed or timed out):
//!   look the coordinator up again first.
//! - *Abortable*: the transaction cannot commit, but the producer can abort
//!   it and go on. A batch that failed (any error not fatal below),
//!   `TRANSACTION_ABORTABLE` (KIP-890), topic or group authorization,
//!   `UNKNOWN_MEMBER_ID` / `ILLEGAL_GENERATION` / `FENCED_INSTANCE_ID` from
//!   TxnOffsetCommit (the consumer was rebalanced away). Lost producer
//!   state (`UNKNOWN_PRODUCER_ID`, `INVALID_PRODUCER_ID_MAPPING` from the
//!   coordinator; `UNKNOWN_PRODUCER_ID`, `OUT_OF_ORDER_SEQUENCE_NUMBER`,
//!   `INVALID_PRODUCER_EPOCH` or a timeout of a batch) also asks for a new
//!   epoch after the abort (KIP-360: InitProducerId v3+ with the current id
//!   and epoch), when [`TransactionConfig::epoch_bump`] allows; otherwise
//!   it is fatal.
//! - *Fatal*: `PRODUCER_FENCED` and `INVALID_PRODUCER_EPOCH` from the
//!   coordinator (a newer producer has the transactional id),
//!   `TRANSACTIONAL_ID_AUTHORIZATION_FAILED`, `CLUSTER_AUTHORIZATION_FAILED`,
//!   `INVALID_TXN_STATE`, `INVALID_TRANSACTION_TIMEOUT`,
//!   `UNSUPPORTED_VERSION`, a batch refused with `PRODUCER_FENCED` or an
//!   authorization error, and any code the coordinator is not expected to
//!   send: the producer must be closed.
//!
//! EndTxn v5 (transactions version 2) answers with a new epoch; the client
//! sends v0-4 (see [`client_ceiling`](crate::protocol::versions::client_ceiling))
//! but takes one if a broker sends it. Each new epoch is announced as
//! [`TxnEvent::Initialized`]: the caller restarts its sequence numbers.

use core::fmt;
use core::time::Duration;

use heapless::{Deque, String, Vec};

use crate::client::{Connection, Received, Sent};
use crate::error::{Error, Result};
use crate::group::member::{
    MAX_GROUP_ID_LEN, MAX_INSTANCE_ID_LEN, MAX_MEMBER_ID_LEN, MAX_TOPIC_NAME_LEN,
};
use crate::producer::Backoff;
use crate::protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, AddPartitionsToTxnTopic, EndTxnRequest, EndTxnResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse,
    TxnOffsetCommitRequest, TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    TxnOffsetCommitResponse,
};
use crate::protocol::ApiKey;
use crate::wire::{Array, Wire, WireVersion, Writer};
use crate::{ErrorCode, Limit};

/// Longest transactional id accepted.
pub const MAX_TRANSACTIONAL_ID_LEN: usize = 255;
/// Longest coordinator host name kept.
const MAX_HOST_LEN: usize = 255;
/// Events waiting to be polled (the oldest are dropped).
const EVENTS: usize = 8;

// Versions nested arrays are written at; the negotiated version converts
// them element by element (see `Array::from_encoded`).
const FIND_COORDINATOR_KEYS: WireVersion = WireVersion::new(4, true);
const CLASSIC: WireVersion = WireVersion::new(0, false);
const TXN_COMMIT: WireVersion = WireVersion::new(2, false);

/// How a [`TransactionManager`] works; build one with
/// [`TransactionConfig::new`] and change what you need.
#[derive(Clone, Copy, Debug)]
pub struct TransactionConfig<'a> {
    /// The transactional id (`transactional.id`), at most 255 bytes: one
    /// producer at a time holds it; a new one fences the older.
    pub transactional_id: &'a str,
    /// The coordinator aborts a transaction open longer than this
    /// (`transaction.timeout.ms`). Default 60 s, as Java.
    pub transaction_timeout: Duration,
    /// Wait between retries. Default 100 ms doubling to 1 s, no jitter.
    pub backoff: Backoff,
    /// A request unanswered after this long fails (the coordinator is
    /// looked up again). Default 30 s.
    pub request_timeout: Duration,
    /// Errors that lose the producer's state end in a new epoch (KIP-360,
    /// InitProducerId v3+, Kafka 2.5 and later); when false they are fatal.
    /// Default true.
    pub epoch_bump: bool,
}

impl<'a> TransactionConfig<'a> {
    /// A transactional producer named `transactional_id`, with the defaults.
    pub const fn new(transactional_id: &'a str) -> Self {
        TransactionConfig {
            transactional_id,
            transaction_timeout: Duration::from_secs(60),
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).jitter(0),
            request_timeout: Duration::from_secs(30),
            epoch_bump: true,
        }
    }
}

/// Where the producer's transaction stands (the Java client's states).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TxnState {
    /// [`init`](TransactionManager::init) not called yet.
    Uninitialized,
    /// Getting a producer id and epoch (first, or a new epoch after an
    /// abort).
    Initializing,
    /// No transaction open: [`begin`](TransactionManager::begin) may.
    Ready,
    /// A transaction is open.
    InTransaction,
    /// Committing: waiting for batches, partitions and offsets, then EndTxn.
    Committing,
    /// Aborting: waiting for batches in flight, then EndTxn.
    Aborting,
    /// The transaction failed: [`abort`](TransactionManager::abort) it.
    AbortableError,
    /// The producer cannot go on: close it.
    FatalError,
}

/// What the application hears from a [`TransactionManager`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TxnEvent {
    /// A producer id and epoch to stamp batches with: after
    /// [`init`](TransactionManager::init), and after every new epoch
    /// (sequence numbers start again at 0).
    Initialized {
        /// The producer id.
        producer_id: i64,
        /// Its epoch.
        producer_epoch: i16,
    },
    /// The offsets given to [`send_offsets`](TransactionManager::send_offsets)
    /// are in the transaction (visible when it commits).
    OffsetsAdded,
    /// The transaction committed.
    Committed,
    /// The transaction aborted.
    Aborted,
    /// A request failed and will be sent again.
    Retrying {
        /// The API that failed.
        api: ApiKey,
        /// Its error (`REQUEST_TIMED_OUT` for a lost or late answer).
        error: ErrorCode,
    },
    /// The transaction must be aborted.
    Abortable {
        /// The API that failed (Produce for a batch).
        api: ApiKey,
        /// Its error.
        error: ErrorCode,
    },
    /// The producer must be closed.
    Fatal {
        /// The API that failed.
        api: ApiKey,
        /// Its error.
        error: ErrorCode,
    },
}

/// Why a call on a [`TransactionManager`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TxnError {
    /// The call does not fit the state (commit before begin, ...).
    State {
        /// The state.
        state: TxnState,
        /// The call.
        call: &'static str,
    },
    /// The transaction failed: abort it.
    Abortable {
        /// The API that failed.
        api: ApiKey,
        /// Its error.
        error: ErrorCode,
    },
    /// The producer failed for good: close it.
    Fatal {
        /// The API that failed.
        api: ApiKey,
        /// Its error.
        error: ErrorCode,
    },
    /// A name or a count beyond what the manager keeps.
    Limit(Error),
}

impl fmt::Display for TxnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxnError::State { state, call } => write!(f, "{call} is not allowed in {state:?}"),
            TxnError::Abortable { api, error } => {
                write!(
                    f,
                    "the transaction must be aborted: {api} failed with {error}"
                )
            }
            TxnError::Fatal { api, error } => {
                write!(f, "the producer must be closed: {api} failed with {error}")
            }
            TxnError::Limit(e) => write!(f, "{e}"),
        }
    }
}

impl From<Error> for TxnError {
    fn from(e: Error) -> Self {
        TxnError::Limit(e)
    }
}

/// A consumer group's place, for offsets committed in a transaction
/// (Java's `ConsumerGroupMetadata`): with the generation and member id, the
/// group coordinator refuses the commit of a member rebalanced away
/// (KIP-447). [`GroupMetadata::new`] leaves them out (-1, ""), as a
/// producer before KIP-447 did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupMetadata<'a> {
    /// The group id.
    pub group_id: &'a str,
    /// The generation the consumer is in, or -1.
    pub generation_id: i32,
    /// The consumer's member id, or "".
    pub member_id: &'a str,
    /// The consumer's static instance id, if any.
    pub group_instance_id: Option<&'a str>,
}

impl<'a> GroupMetadata<'a> {
    /// A group without member details.
    pub const fn new(group_id: &'a str) -> Self {
        GroupMetadata {
            group_id,
            generation_id: -1,
            member_id: "",
            group_instance_id: None,
        }
    }
}

/// One consumed partition's offset to commit in a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnOffset<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition.
    pub partition: i32,
    /// The next offset to consume.
    pub offset: i64,
    /// The leader epoch of the last consumed record, or -1.
    pub leader_epoch: i32,
}

/// Names one request of a [`TransactionManager`]; give it back with its
/// outcome. Answers to requests given up on are recognised and ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TxnRequestId(u32);

/// Which broker a [`TxnTransmit`] goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TxnDestination<'b> {
    /// Any broker (FindCoordinator).
    AnyBroker,
    /// The transaction coordinator (InitProducerId, AddPartitionsToTxn,
    /// AddOffsetsToTxn, EndTxn).
    TransactionCoordinator {
        /// Its node id.
        node_id: i32,
        /// Its advertised host.
        host: &'b str,
        /// Its port.
        port: i32,
    },
    /// The consumer group's coordinator (TxnOffsetCommit).
    GroupCoordinator {
        /// Its node id.
        node_id: i32,
        /// Its advertised host.
        host: &'b str,
        /// Its port.
        port: i32,
    },
}

/// One request of the transaction protocol, ready to encode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TxnRequest<'b> {
    /// Looks up the transaction (key type 1) or group (key type 0) coordinator.
    FindCoordinator(FindCoordinatorRequest<'b>),
    /// Gets the producer id and epoch, or a new epoch.
    InitProducerId(InitProducerIdRequest<'b>),
    /// Adds partitions to the transaction.
    AddPartitionsToTxn(AddPartitionsToTxnRequest<'b>),
    /// Adds a group's offsets to the transaction.
    AddOffsetsToTxn(AddOffsetsToTxnRequest<'b>),
    /// Commits the group's offsets in the transaction.
    TxnOffsetCommit(TxnOffsetCommitRequest<'b>),
    /// Commits or aborts the transaction.
    EndTxn(EndTxnRequest<'b>),
}

impl TxnRequest<'_> {
    /// The request's API.
    pub fn api(&self) -> ApiKey {
        match self {
            TxnRequest::FindCoordinator(_) => ApiKey::FindCoordinator,
            TxnRequest::InitProducerId(_) => ApiKey::InitProducerId,
            TxnRequest::AddPartitionsToTxn(_) => ApiKey::AddPartitionsToTxn,
            TxnRequest::AddOffsetsToTxn(_) => ApiKey::AddOffsetsToTxn,
            TxnRequest::TxnOffsetCommit(_) => ApiKey::TxnOffsetCommit,
            TxnRequest::EndTxn(_) => ApiKey::EndTxn,
        }
    }

    /// Encodes the request at the version negotiated on `conn` into `buf`.
    pub fn encode<const N: usize>(&self, conn: &mut Connection<N>, buf: &mut [u8]) -> Result<Sent> {
        match self {
            TxnRequest::FindCoordinator(r) => conn.encode(buf, r),
            TxnRequest::InitProducerId(r) => conn.encode(buf, r),
            TxnRequest::AddPartitionsToTxn(r) => conn.encode(buf, r),
            TxnRequest::AddOffsetsToTxn(r) => conn.encode(buf, r),
            TxnRequest::TxnOffsetCommit(r) => conn.encode(buf, r),
            TxnRequest::EndTxn(r) => conn.encode(buf, r),
        }
    }
}

/// A request to send: what, where, and the id to answer with. It borrows
/// only the scratch buffer given to
/// [`poll_transmit`](TransactionManager::poll_transmit).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TxnTransmit<'b> {
    /// Give this back with the outcome.
    pub id: TxnRequestId,
    /// Where to send it.
    pub destination: TxnDestination<'b>,
    /// The request.
    pub request: TxnRequest<'b>,
}

/// Where a partition's (or the group's) addition to the transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Add {
    /// To send.
    Pending,
    /// Sent, unanswered.
    InFlight,
    /// Sent, its answer lost: sent again (also when aborting, so the
    /// coordinator's view and the abort agree).
    Unknown,
    /// In the transaction.
    Added,
}

#[derive(Clone, Copy, Debug)]
struct Part {
    topic: u16,
    partition: i32,
    add: Add,
}

#[derive(Clone, Copy, Debug)]
struct Offset {
    topic: u16,
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    /// `Added`: committed in the transaction.
    sent: Add,
}

#[derive(Clone, Debug)]
struct Coordinator {
    node_id: i32,
    host: String<MAX_HOST_LEN>,
    port: i32,
}

#[derive(Clone, Debug)]
struct Group {
    id: String<MAX_GROUP_ID_LEN>,
    member_id: String<MAX_MEMBER_ID_LEN>,
    generation: i32,
    instance_id: Option<String<MAX_INSTANCE_ID_LEN>>,
    /// AddOffsetsToTxn.
    add: Add,
    coordinator: Option<Coordinator>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    FindTxnCoordinator,
    FindGroupCoordinator,
    InitProducerId,
    AddPartitions,
    AddOffsets,
    TxnOffsetCommit,
    EndTxn,
}

impl Plan {
    fn api(self) -> ApiKey {
        match self {
            Plan::FindTxnCoordinator | Plan::FindGroupCoordinator => ApiKey::FindCoordinator,
            Plan::InitProducerId => ApiKey::InitProducerId,
            Plan::AddPartitions => ApiKey::AddPartitionsToTxn,
            Plan::AddOffsets => ApiKey::AddOffsetsToTxn,
            Plan::TxnOffsetCommit => ApiKey::TxnOffsetCommit,
            Plan::EndTxn => ApiKey::EndTxn,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    id: u32,
    plan: Plan,
    deadline: Duration,
}

/// What an error code means for the request that got it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    /// The same request again, after the backoff.
    Retry,
    /// The coordinator moved: look it up, then the same request again.
    Refind,
    /// Abort the transaction (and then take a new epoch, if `bump`).
    Abortable { bump: bool },
    /// Close the producer.
    Fatal,
}

/// Errors of the transaction coordinator's and the group coordinator's
/// transactional APIs, as the Java client's handlers classify them.
fn classify(plan: Plan, error: ErrorCode) -> Class {
    match error {
        ErrorCode::NOT_COORDINATOR | ErrorCode::COORDINATOR_NOT_AVAILABLE => Class::Refind,
        ErrorCode::REQUEST_TIMED_OUT if plan == Plan::TxnOffsetCommit => Class::Refind,
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
        | ErrorCode::CONCURRENT_TRANSACTIONS
        | ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
        | ErrorCode::OPERATION_NOT_ATTEMPTED => Class::Retry,
        ErrorCode::PRODUCER_FENCED
        | ErrorCode::INVALID_PRODUCER_EPOCH
        | ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        | ErrorCode::CLUSTER_AUTHORIZATION_FAILED
        | ErrorCode::INVALID_TXN_STATE
        | ErrorCode::INVALID_TRANSACTION_TIMEOUT
        | ErrorCode::UNSUPPORTED_VERSION => Class::Fatal,
        ErrorCode::UNKNOWN_PRODUCER_ID | ErrorCode::INVALID_PRODUCER_ID_MAPPING
            if plan != Plan::InitProducerId =>
        {
            Class::Abortable { bump: true }
        }
        ErrorCode::TRANSACTION_ABORTABLE
        | ErrorCode::TOPIC_AUTHORIZATION_FAILED
        | ErrorCode::GROUP_AUTHORIZATION_FAILED => Class::Abortable { bump: false },
        ErrorCode::UNKNOWN_MEMBER_ID
        | ErrorCode::ILLEGAL_GENERATION
        | ErrorCode::FENCED_INSTANCE_ID
            if plan == Plan::TxnOffsetCommit =>
        {
            Class::Abortable { bump: false }
        }
        e if e.is_retriable() => Class::Retry,
        _ => Class::Fatal,
    }
}

/// What a batch's final error means for the transaction (the Java client's
/// `maybeTransitionToErrorState`): fatal for a fenced or unauthorized
/// producer, else abortable; lost producer state also asks for a new epoch.
fn classify_batch(error: ErrorCode) -> Class {
    match error {
        ErrorCode::PRODUCER_FENCED
        | ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        | ErrorCode::CLUSTER_AUTHORIZATION_FAILED
        | ErrorCode::INVALID_PRODUCER_ID_MAPPING
        | ErrorCode::UNSUPPORTED_VERSION => Class::Fatal,
        ErrorCode::UNKNOWN_PRODUCER_ID
        | ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
        | ErrorCode::INVALID_PRODUCER_EPOCH
        | ErrorCode::REQUEST_TIMED_OUT => Class::Abortable { bump: true },
        _ => Class::Abortable { bump: false },
    }
}

/// A transactional producer's coordinator protocol, with room for `TOPICS`
/// topics and `PARTITIONS` partitions in one transaction (and as many
/// consumed partitions' offsets). Nothing allocates. See the
/// [module docs](self) for the states, the requests and how errors are
/// classified.
///
/// ```
/// use core::time::Duration;
/// use microkafka_core::producer::{TransactionConfig, TransactionManager, TxnState};
///
/// let now = Duration::ZERO;
/// let mut txn: TransactionManager<2, 8> =
///     TransactionManager::new(&TransactionConfig::new("payments-1"), now).unwrap();
/// txn.init(now).unwrap();
/// let mut scratch = [0u8; 4096];
/// let tx = txn.poll_transmit(now, &mut scratch).unwrap().unwrap();
/// assert_eq!(tx.request.api(), microkafka_core::protocol::ApiKey::FindCoordinator);
/// assert_eq!(txn.state(), TxnState::Initializing);
/// // Send it to `tx.destination`, give the answer to `handle_response`,
/// // poll again: InitProducerId, then `begin`, `batch_ready`, `commit`...
/// ```
#[derive(Debug)]
pub struct TransactionManager<const TOPICS: usize, const PARTITIONS: usize> {
    transactional_id: String<MAX_TRANSACTIONAL_ID_LEN>,
    timeout_ms: i32,
    backoff: Backoff,
    request_timeout: Duration,
    epoch_bump: bool,

    state: TxnState,
    producer_id: i64,
    producer_epoch: i16,
    /// The next InitProducerId sends the current id and epoch (KIP-360).
    bump: bool,
    /// An abortable error asked for a new epoch once the abort is done.
    bump_after_abort: bool,
    /// The coordinator knows this transaction (a partition or the group's
    /// offsets were added): EndTxn is needed to end it.
    started: bool,
    /// The error that made the state abortable or fatal.
    last_error: Option<(ApiKey, ErrorCode)>,
    /// Batches announced with `batch_ready`, not yet sent.
    unsent: u32,
    /// Batches sent, without their final outcome.
    in_flight_batches: u32,

    coordinator: Option<Coordinator>,
    topics: Vec<String<MAX_TOPIC_NAME_LEN>, TOPICS>,
    parts: Vec<Part, PARTITIONS>,
    offsets: Vec<Offset, PARTITIONS>,
    group: Option<Group>,

    in_flight: Option<InFlight>,
    next_id: u32,
    retry_at: Duration,
    attempts: u32,
    events: Deque<TxnEvent, EVENTS>,
}

fn too_large(what: Limit, size: usize, limit: usize) -> TxnError {
    TxnError::Limit(Error::TooLarge { what, size, limit })
}

fn ms_i32(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

impl<const TOPICS: usize, const PARTITIONS: usize> TransactionManager<TOPICS, PARTITIONS> {
    /// A manager for `config`, not initialized; `now` is the caller's
    /// monotonic clock (any epoch, the same in every later call).
    ///
    /// Errors: an empty transactional id, or one over 255 bytes.
    pub fn new(config: &TransactionConfig<'_>, now: Duration) -> Result<Self> {
        if config.transactional_id.is_empty() {
            return Err(Error::Malformed("the transactional id is empty"));
        }
        let transactional_id =
            String::try_from(config.transactional_id).map_err(|_| Error::TooLarge {
                what: Limit::TransactionalId,
                size: config.transactional_id.len(),
                limit: MAX_TRANSACTIONAL_ID_LEN,
            })?;
        Ok(TransactionManager {
            transactional_id,
            timeout_ms: ms_i32(config.transaction_timeout),
            backoff: config.backoff,
            request_timeout: config.request_timeout,
            epoch_bump: config.epoch_bump,
            state: TxnState::Uninitialized,
            producer_id: -1,
            producer_epoch: -1,
            bump: false,
            bump_after_abort: false,
            started: false,
            last_error: None,
            unsent: 0,
            in_flight_batches: 0,
            coordinator: None,
            topics: Vec::new(),
            parts: Vec::new(),
            offsets: Vec::new(),
            group: None,
            in_flight: None,
            next_id: 1,
            retry_at: now,
            attempts: 0,
            events: Deque::new(),
        })
    }

    // ---- what the manager knows ----

    /// The state.
    pub fn state(&self) -> TxnState {
        self.state
    }

    /// The transactional id (also sent in Produce requests).
    pub fn transactional_id(&self) -> &str {
        &self.transactional_id
    }

    /// The producer id and epoch to stamp batches with, once initialized.
    pub fn producer_id_and_epoch(&self) -> Option<(i64, i16)> {
        (self.producer_id >= 0).then_some((self.producer_id, self.producer_epoch))
    }

    /// [`BatchOptions`](crate::record::BatchOptions) for a batch of the open
    /// transaction starting at `base_sequence` (the caller's per-partition
    /// sequence, restarted at 0 with every new epoch): the producer id and
    /// epoch, marked transactional. `None` before initialization.
    pub fn batch_options(&self, base_sequence: i32) -> Option<crate::record::BatchOptions> {
        self.producer_id_and_epoch()
            .map(
                |(producer_id, producer_epoch)| crate::record::BatchOptions {
                    producer_id,
                    producer_epoch,
                    base_sequence,
                    transactional: true,
                    ..crate::record::BatchOptions::default()
                },
            )
    }

    /// The error that made the transaction abortable or the producer fatal.
    pub fn last_error(&self) -> Option<(ApiKey, ErrorCode)> {
        self.last_error
    }

    /// True when batches for `topic`/`partition` may be sent: the partition
    /// is in the open transaction.
    pub fn may_send(&self, topic: &str, partition: i32) -> bool {
        matches!(self.state, TxnState::InTransaction | TxnState::Committing)
            && self
                .find_part(topic, partition)
                .is_some_and(|i| self.parts[i].add == Add::Added)
    }

    /// Bytes of scratch buffer [`poll_transmit`](Self::poll_transmit) may
    /// need at most.
    pub const fn transmit_buf_len(&self) -> usize {
        // ids, names and the host, then an array entry per topic and partition.
        MAX_TRANSACTIONAL_ID_LEN
            + MAX_GROUP_ID_LEN
            + MAX_MEMBER_ID_LEN
            + MAX_INSTANCE_ID_LEN
            + MAX_HOST_LEN
            + 2 * (MAX_TRANSACTIONAL_ID_LEN + 2)
            + TOPICS * (MAX_TOPIC_NAME_LEN + 8)
            + PARTITIONS * 24
            + 64
    }

    // ---- what the application asks ----

    /// Starts initializing: the coordinator lookup and InitProducerId
    /// follow ([`TxnEvent::Initialized`] when done). Java's
    /// `initTransactions`.
    pub fn init(&mut self, now: Duration) -> core::result::Result<(), TxnError> {
        self.check_fatal()?;
        if self.state != TxnState::Uninitialized {
            return Err(self.state_error("init"));
        }
        self.state = TxnState::Initializing;
        self.bump = false;
        self.retry_at = now;
        Ok(())
    }

    /// Opens a transaction (local only: nothing is sent until a partition
    /// or offsets are added).
    pub fn begin(&mut self) -> core::result::Result<(), TxnError> {
        self.check_fatal()?;
        if self.state != TxnState::Ready {
            return Err(self.state_error("begin"));
        }
        self.state = TxnState::InTransaction;
        Ok(())
    }

    /// A batch for `topic`/`partition` is ready to go in the open
    /// transaction. The first for a partition adds it (AddPartitionsToTxn);
    /// true when it may be sent now (else wait for [`may_send`](Self::may_send)).
    /// A commit waits until every batch announced here is sent and answered.
    ///
    /// Errors: no open transaction; the transaction is abortable or the
    /// producer fatal; more topics or partitions than the manager keeps.
    pub fn batch_ready(
        &mut self,
        topic: &str,
        partition: i32,
    ) -> core::result::Result<bool, TxnError> {
        self.check_errors()?;
        if self.state != TxnState::InTransaction {
            return Err(self.state_error("batch_ready"));
        }
        let i = match self.find_part(topic, partition) {
            Some(i) => i,
            None => {
                let t = self.topic_index(topic)?;
                self.parts
                    .push(Part {
                        topic: t,
                        partition,
                        add: Add::Pending,
                    })
                    .map_err(|_| {
                        too_large(Limit::TransactionPartitions, PARTITIONS + 1, PARTITIONS)
                    })?;
                self.parts.len() - 1
            }
        };
        self.unsent = self.unsent.saturating_add(1);
        Ok(self.parts[i].add == Add::Added)
    }

    /// A batch announced with [`batch_ready`](Self::batch_ready) is sent.
    ///
    /// Errors: the partition is not in the transaction yet.
    pub fn batch_sent(
        &mut self,
        topic: &str,
        partition: i32,
    ) -> core::result::Result<(), TxnError> {
        self.check_fatal()?;
        if !self.may_send(topic, partition) {
            return Err(self.state_error("batch_sent before the partition was added"));
        }
        self.unsent = self.unsent.saturating_sub(1);
        self.in_flight_batches = self.in_flight_batches.saturating_add(1);
        Ok(())
    }

    /// A sent batch's final outcome (after the caller's own retries):
    /// `NONE`, or the error that failed it, which makes the transaction
    /// abortable (or the producer fatal, see the [module docs](self)).
    pub fn batch_done(&mut self, error: ErrorCode) {
        self.in_flight_batches = self.in_flight_batches.saturating_sub(1);
        if !error.is_ok() {
            self.fail(ApiKey::Produce, error, classify_batch(error));
        }
        self.settle_locally();
    }

    /// Adds a consumed group's `offsets` to the open transaction: committed
    /// with it, visible when it commits (Java's `sendOffsetsToTransaction`).
    /// AddOffsetsToTxn, then TxnOffsetCommit to the group's coordinator
    /// follow; [`TxnEvent::OffsetsAdded`] when done. Called again, the
    /// offsets are updated. One group per transaction.
    ///
    /// Errors: no open transaction, another group in this transaction, or
    /// limits (names, partitions).
    pub fn send_offsets(
        &mut self,
        group: &GroupMetadata<'_>,
        offsets: &[TxnOffset<'_>],
    ) -> core::result::Result<(), TxnError> {
        self.check_errors()?;
        if self.state != TxnState::InTransaction {
            return Err(self.state_error("send_offsets"));
        }
        if group.group_id.is_empty() {
            return Err(TxnError::Limit(Error::Malformed("the group id is empty")));
        }
        let long = |what, s: &str, limit| too_large(what, s.len(), limit);
        let id = String::try_from(group.group_id)
            .map_err(|_| long(Limit::GroupId, group.group_id, MAX_GROUP_ID_LEN))?;
        let member_id = String::try_from(group.member_id)
            .map_err(|_| long(Limit::GroupId, group.member_id, MAX_MEMBER_ID_LEN))?;
        let instance_id = match group.group_instance_id {
            Some(i) => Some(
                String::try_from(i)
                    .map_err(|_| long(Limit::GroupInstanceId, i, MAX_INSTANCE_ID_LEN))?,
            ),
            None => None,
        };
        match &mut self.group {
            Some(g) if g.id != id => {
                return Err(self.state_error("send_offsets for a second group"));
            }
            Some(g) => {
                g.member_id = member_id;
                g.generation = group.generation_id;
                g.instance_id = instance_id;
            }
            None => {
                self.group = Some(Group {
                    id,
                    member_id,
                    generation: group.generation_id,
                    instance_id,
                    add: Add::Pending,
                    coordinator: None,
                });
            }
        }
        for o in offsets {
            let t = self.topic_index(o.topic)?;
            let found = self
                .offsets
                .iter_mut()
                .find(|x| x.topic == t && x.partition == o.partition);
            match found {
                Some(x) => {
                    x.offset = o.offset;
                    x.leader_epoch = o.leader_epoch;
                    x.sent = Add::Pending;
                }
                None => self
                    .offsets
                    .push(Offset {
                        topic: t,
                        partition: o.partition,
                        offset: o.offset,
                        leader_epoch: o.leader_epoch,
                        sent: Add::Pending,
                    })
                    .map_err(|_| {
                        too_large(Limit::TransactionPartitions, PARTITIONS + 1, PARTITIONS)
                    })?,
            }
        }
        Ok(())
    }

    /// Commits the open transaction: once its partitions and offsets are
    /// added and every batch announced is sent and answered, EndTxn
    /// ([`TxnEvent::Committed`]). A transaction that added nothing ends
    /// without a request.
    ///
    /// Errors: no open transaction; an abortable error (abort instead); a
    /// fatal one.
    pub fn commit(&mut self, now: Duration) -> core::result::Result<(), TxnError> {
        self.check_errors()?;
        if self.state != TxnState::InTransaction {
            return Err(self.state_error("commit"));
        }
        self.state = TxnState::Committing;
        self.retry_at = self.retry_at.min(now);
        self.settle_locally();
        Ok(())
    }

    /// Aborts the open (or failed) transaction: batches announced but not
    /// sent are the caller's to drop; once the batches in flight are
    /// answered, EndTxn ([`TxnEvent::Aborted`]), and a new epoch when an
    /// error asked for one.
    ///
    /// Errors: nothing to abort; a fatal error.
    pub fn abort(&mut self, now: Duration) -> core::result::Result<(), TxnError> {
        self.check_fatal()?;
        if !matches!(
            self.state,
            TxnState::InTransaction | TxnState::AbortableError
        ) {
            return Err(self.state_error("abort"));
        }
        self.state = TxnState::Aborting;
        self.unsent = 0;
        // Partitions never sent are not in the transaction; those whose
        // answer was lost are added again so the abort covers them.
        self.parts.retain(|p| p.add != Add::Pending);
        for o in self.offsets.iter_mut() {
            if o.sent != Add::Added {
                o.sent = Add::Added; // dropped: not committed, not sent again
            }
        }
        if let Some(g) = &mut self.group {
            if g.add == Add::Pending {
                g.add = Add::Added; // never sent: nothing to undo
            }
        }
        self.retry_at = self.retry_at.min(now);
        self.settle_locally();
        Ok(())
    }

    // ---- the driver's loop ----

    /// The next request to send, written into `scratch` (see
    /// [`transmit_buf_len`](Self::transmit_buf_len)); `None` when nothing
    /// is due (see [`poll_timeout`](Self::poll_timeout)).
    pub fn poll_transmit<'b>(
        &mut self,
        now: Duration,
        scratch: &'b mut [u8],
    ) -> Result<Option<TxnTransmit<'b>>> {
        self.settle_locally();
        if self.in_flight.is_some() || now < self.retry_at {
            return Ok(None);
        }
        let Some(plan) = self.next_plan() else {
            return Ok(None);
        };
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let mut arena = Arena::new(scratch);
        let transmit = self.build(&mut arena, plan, TxnRequestId(id))?;
        // Mark what the request carries as sent.
        match plan {
            Plan::AddPartitions => {
                for p in self.parts.iter_mut() {
                    if matches!(p.add, Add::Pending | Add::Unknown) {
                        p.add = Add::InFlight;
                    }
                }
            }
            Plan::AddOffsets => {
                if let Some(g) = &mut self.group {
                    g.add = Add::InFlight;
                }
            }
            Plan::TxnOffsetCommit => {
                for o in self.offsets.iter_mut() {
                    if o.sent == Add::Pending {
                        o.sent = Add::InFlight;
                    }
                }
            }
            _ => {}
        }
        self.in_flight = Some(InFlight {
            id,
            plan,
            deadline: now.saturating_add(self.request_timeout),
        });
        Ok(Some(transmit))
    }

    /// The answer to request `id`. Answers to requests given up on are
    /// ignored.
    ///
    /// Errors: the body does not decode (the request is treated as failed).
    pub fn handle_response(
        &mut self,
        now: Duration,
        id: TxnRequestId,
        received: &Received<'_>,
    ) -> Result<()> {
        let Some(flight) = self.in_flight.filter(|f| f.id == id.0) else {
            return Ok(());
        };
        self.in_flight = None;
        let decoded = match flight.plan {
            Plan::FindTxnCoordinator | Plan::FindGroupCoordinator => received
                .decode::<FindCoordinatorResponse<'_>>()
                .map(|r| self.on_find_coordinator(now, flight.plan, received.version, &r)),
            Plan::InitProducerId => received
                .decode::<InitProducerIdResponse>()
                .map(|r| self.on_init_producer_id(now, &r)),
            Plan::AddPartitions => received
                .decode::<AddPartitionsToTxnResponse<'_>>()
                .map(|r| self.on_add_partitions(now, &r)),
            Plan::AddOffsets => received
                .decode::<AddOffsetsToTxnResponse>()
                .map(|r| self.on_add_offsets(now, &r)),
            Plan::TxnOffsetCommit => received
                .decode::<TxnOffsetCommitResponse<'_>>()
                .map(|r| self.on_txn_offset_commit(now, &r)),
            Plan::EndTxn => received
                .decode::<EndTxnResponse>()
                .map(|r| self.on_end_txn(now, &r)),
        };
        if let Err(e) = decoded {
            self.lost(now, flight.plan);
            return Err(e);
        }
        self.settle_locally();
        Ok(())
    }

    /// Request `id` failed without an answer (connection lost, not sent):
    /// the coordinator is looked up again and the request retried.
    pub fn handle_failure(&mut self, now: Duration, id: TxnRequestId) {
        if let Some(flight) = self.in_flight.filter(|f| f.id == id.0) {
            self.in_flight = None;
            self.lost(now, flight.plan);
        }
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) and
    /// [`poll_transmit`](Self::poll_transmit) again.
    pub fn poll_timeout(&self) -> Option<Duration> {
        match self.in_flight {
            Some(f) => Some(f.deadline),
            None => self.next_plan().map(|_| self.retry_at),
        }
    }

    /// Gives up on a request past its deadline.
    pub fn handle_timeout(&mut self, now: Duration) {
        if let Some(flight) = self.in_flight.filter(|f| now >= f.deadline) {
            self.in_flight = None;
            self.lost(now, flight.plan);
        }
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<TxnEvent> {
        self.events.pop_front()
    }

    // ---- internals ----

    fn event(&mut self, event: TxnEvent) {
        if self.events.is_full() {
            self.events.pop_front();
        }
        let _ = self.events.push_back(event);
    }

    fn state_error(&self, call: &'static str) -> TxnError {
        TxnError::State {
            state: self.state,
            call,
        }
    }

    fn check_fatal(&self) -> core::result::Result<(), TxnError> {
        if self.state == TxnState::FatalError {
            let (api, error) = self
                .last_error
                .unwrap_or((ApiKey::InitProducerId, ErrorCode::UNKNOWN_SERVER_ERROR));
            return Err(TxnError::Fatal { api, error });
        }
        Ok(())
    }

    fn check_errors(&self) -> core::result::Result<(), TxnError> {
        self.check_fatal()?;
        if self.state == TxnState::AbortableError {
            let (api, error) = self
                .last_error
                .unwrap_or((ApiKey::Produce, ErrorCode::UNKNOWN_SERVER_ERROR));
            return Err(TxnError::Abortable { api, error });
        }
        Ok(())
    }

    fn find_part(&self, topic: &str, partition: i32) -> Option<usize> {
        let t = self.topics.iter().position(|n| n == topic)?;
        self.parts
            .iter()
            .position(|p| usize::from(p.topic) == t && p.partition == partition)
    }

    fn topic_index(&mut self, topic: &str) -> core::result::Result<u16, TxnError> {
        if let Some(t) = self.topics.iter().position(|n| n == topic) {
            return Ok(t as u16);
        }
        if topic.is_empty() {
            return Err(TxnError::Limit(Error::Malformed("an empty topic name")));
        }
        let name = String::try_from(topic)
            .map_err(|_| too_large(Limit::TopicName, topic.len(), MAX_TOPIC_NAME_LEN))?;
        self.topics
            .push(name)
            .map_err(|_| too_large(Limit::Topics, TOPICS + 1, TOPICS))?;
        Ok((self.topics.len() - 1) as u16)
    }

    /// What to send next, if anything.
    fn next_plan(&self) -> Option<Plan> {
        let txn = |plan| {
            if self.coordinator.is_none() {
                Plan::FindTxnCoordinator
            } else {
                plan
            }
        };
        match self.state {
            TxnState::Initializing => Some(txn(Plan::InitProducerId)),
            TxnState::InTransaction | TxnState::Committing | TxnState::Aborting => {
                let aborting = self.state == TxnState::Aborting;
                if self
                    .parts
                    .iter()
                    .any(|p| matches!(p.add, Add::Pending | Add::Unknown))
                {
                    return Some(txn(Plan::AddPartitions));
                }
                if let Some(g) = &self.group {
                    if matches!(g.add, Add::Pending | Add::Unknown) {
                        return Some(txn(Plan::AddOffsets));
                    }
                    if !aborting
                        && g.add == Add::Added
                        && self.offsets.iter().any(|o| o.sent == Add::Pending)
                    {
                        return Some(if g.coordinator.is_none() {
                            Plan::FindGroupCoordinator
                        } else {
                            Plan::TxnOffsetCommit
                        });
                    }
                }
                let settled = self.in_flight_batches == 0
                    && (aborting || self.unsent == 0)
                    && self.parts.iter().all(|p| p.add == Add::Added)
                    && self.offsets.iter().all(|o| o.sent == Add::Added)
                    && self.group.as_ref().is_none_or(|g| g.add == Add::Added);
                if self.state != TxnState::InTransaction && settled && self.started {
                    return Some(txn(Plan::EndTxn));
                }
                None
            }
            _ => None,
        }
    }

    fn build<'b>(
        &mut self,
        a: &mut Arena<'b>,
        plan: Plan,
        id: TxnRequestId,
    ) -> Result<TxnTransmit<'b>> {
        let txn_id = a.str(&self.transactional_id)?;
        let destination = match plan {
            Plan::FindTxnCoordinator | Plan::FindGroupCoordinator => TxnDestination::AnyBroker,
            Plan::TxnOffsetCommit => {
                let c = self
                    .group
                    .as_ref()
                    .and_then(|g| g.coordinator.as_ref())
                    .ok_or(Error::Malformed("no group coordinator"))?;
                TxnDestination::GroupCoordinator {
                    node_id: c.node_id,
                    host: a.str(&c.host)?,
                    port: c.port,
                }
            }
            _ => {
                let c = self
                    .coordinator
                    .as_ref()
                    .ok_or(Error::Malformed("no transaction coordinator"))?;
                TxnDestination::TransactionCoordinator {
                    node_id: c.node_id,
                    host: a.str(&c.host)?,
                    port: c.port,
                }
            }
        };
        let group_id = match &self.group {
            Some(g) => a.str(&g.id)?,
            None => "",
        };
        let request = match plan {
            Plan::FindTxnCoordinator | Plan::FindGroupCoordinator => {
                let (key, key_type) = if plan == Plan::FindTxnCoordinator {
                    (txn_id, 1)
                } else {
                    (group_id, 0)
                };
                let keys = a.array(1, FIND_COORDINATOR_KEYS, |w| {
                    key.encode(w, FIND_COORDINATOR_KEYS)
                })?;
                TxnRequest::FindCoordinator(FindCoordinatorRequest {
                    key,
                    key_type,
                    coordinator_keys: keys,
                })
            }
            Plan::InitProducerId => TxnRequest::InitProducerId(InitProducerIdRequest {
                transactional_id: Some(txn_id),
                transaction_timeout_ms: self.timeout_ms,
                producer_id: if self.bump { self.producer_id } else { -1 },
                producer_epoch: if self.bump { self.producer_epoch } else { -1 },
            }),
            Plan::AddPartitions => {
                let topics = self.write_add_topics(a)?;
                TxnRequest::AddPartitionsToTxn(AddPartitionsToTxnRequest {
                    transactions: Array::default(),
                    v3_and_below_transactional_id: txn_id,
                    v3_and_below_producer_id: self.producer_id,
                    v3_and_below_producer_epoch: self.producer_epoch,
                    v3_and_below_topics: topics,
                })
            }
            Plan::AddOffsets => TxnRequest::AddOffsetsToTxn(AddOffsetsToTxnRequest {
                transactional_id: txn_id,
                producer_id: self.producer_id,
                producer_epoch: self.producer_epoch,
                group_id,
            }),
            Plan::TxnOffsetCommit => {
                let g = self.group.as_ref().ok_or(Error::Malformed("no group"))?;
                let member_id = a.str(&g.member_id)?;
                let instance = match &g.instance_id {
                    Some(i) => Some(a.str(i)?),
                    None => None,
                };
                let generation = g.generation;
                let topics = self.write_commit_topics(a)?;
                TxnRequest::TxnOffsetCommit(TxnOffsetCommitRequest {
                    transactional_id: txn_id,
                    group_id,
                    producer_id: self.producer_id,
                    producer_epoch: self.producer_epoch,
                    generation_id: generation,
                    member_id,
                    group_instance_id: instance,
                    topics,
                })
            }
            Plan::EndTxn => TxnRequest::EndTxn(EndTxnRequest {
                transactional_id: txn_id,
                producer_id: self.producer_id,
                producer_epoch: self.producer_epoch,
                committed: self.state == TxnState::Committing,
            }),
        };
        Ok(TxnTransmit {
            id,
            destination,
            request,
        })
    }

    /// The partitions to add, grouped by topic.
    fn write_add_topics<'b>(
        &self,
        a: &mut Arena<'b>,
    ) -> Result<Array<'b, AddPartitionsToTxnTopic<'b>>> {
        let to_add = |p: &&Part| matches!(p.add, Add::Pending | Add::Unknown);
        let topic_has = |t: usize| {
            self.parts
                .iter()
                .filter(to_add)
                .any(|p| usize::from(p.topic) == t)
        };
        let count = (0..self.topics.len()).filter(|&t| topic_has(t)).count();
        a.array(count, CLASSIC, |w| {
            for (t, name) in self.topics.iter().enumerate() {
                if !topic_has(t) {
                    continue;
                }
                let mine = || {
                    self.parts
                        .iter()
                        .filter(to_add)
                        .filter(move |p| usize::from(p.topic) == t)
                };
                w.string(name)?;
                w.i32(mine().count() as i32)?;
                for p in mine() {
                    w.i32(p.partition)?;
                }
            }
            Ok(())
        })
    }

    /// The offsets to commit, grouped by topic.
    fn write_commit_topics<'b>(
        &self,
        a: &mut Arena<'b>,
    ) -> Result<Array<'b, TxnOffsetCommitRequestTopic<'b>>> {
        let pending = |o: &&Offset| o.sent == Add::Pending;
        let topic_has = |t: usize| {
            self.offsets
                .iter()
                .filter(pending)
                .any(|o| usize::from(o.topic) == t)
        };
        // Each topic's partitions first (an array the topic entries borrow).
        let mut topics: Vec<(&str, Array<'b, TxnOffsetCommitRequestPartition<'b>>), TOPICS> =
            Vec::new();
        for (t, name) in self.topics.iter().enumerate() {
            if !topic_has(t) {
                continue;
            }
            let mine = || {
                self.offsets
                    .iter()
                    .filter(pending)
                    .filter(move |o| usize::from(o.topic) == t)
            };
            let partitions = a.array(mine().count(), TXN_COMMIT, |w| {
                for o in mine() {
                    TxnOffsetCommitRequestPartition {
                        partition_index: o.partition,
                        committed_offset: o.offset,
                        committed_leader_epoch: o.leader_epoch,
                        committed_metadata: Some(""),
                    }
                    .encode(w, TXN_COMMIT)?;
                }
                Ok(())
            })?;
            let name = a.str(name)?;
            // Cannot fail: at most TOPICS topics.
            let _ = topics.push((name, partitions));
        }
        a.array(topics.len(), TXN_COMMIT, |w| {
            for &(name, partitions) in &topics {
                TxnOffsetCommitRequestTopic { name, partitions }.encode(w, TXN_COMMIT)?;
            }
            Ok(())
        })
    }

    /// Applies the class of an error `api` got.
    fn fail(&mut self, api: ApiKey, error: ErrorCode, class: Class) {
        match class {
            Class::Fatal => {
                self.state = TxnState::FatalError;
                self.last_error = Some((api, error));
                self.event(TxnEvent::Fatal { api, error });
            }
            Class::Abortable { bump } => {
                if bump && !self.epoch_bump {
                    return self.fail(api, error, Class::Fatal);
                }
                if self.state == TxnState::FatalError {
                    return;
                }
                self.bump_after_abort |= bump;
                if self.state != TxnState::AbortableError {
                    self.last_error = Some((api, error));
                    self.event(TxnEvent::Abortable { api, error });
                }
                if matches!(
                    self.state,
                    TxnState::InTransaction | TxnState::Committing | TxnState::Aborting
                ) {
                    self.state = TxnState::AbortableError;
                }
            }
            Class::Retry | Class::Refind => {}
        }
    }

    /// A retry of `plan` after the backoff; the coordinator looked up first
    /// when `refind`.
    fn retry(&mut self, now: Duration, plan: Plan, error: ErrorCode, refind: bool) {
        if refind {
            if plan == Plan::TxnOffsetCommit || plan == Plan::FindGroupCoordinator {
                if let Some(g) = &mut self.group {
                    g.coordinator = None;
                }
            } else {
                self.coordinator = None;
            }
        }
        self.attempts = self.attempts.saturating_add(1);
        self.retry_at = now.saturating_add(self.backoff.delay(self.attempts));
        self.event(TxnEvent::Retrying {
            api: plan.api(),
            error,
        });
    }

    fn succeeded(&mut self, now: Duration) {
        self.attempts = 0;
        self.retry_at = now;
    }

    /// A request failed without an answer.
    fn lost(&mut self, now: Duration, plan: Plan) {
        match plan {
            Plan::AddPartitions => {
                for p in self.parts.iter_mut() {
                    if p.add == Add::InFlight {
                        p.add = Add::Unknown;
                    }
                }
            }
            Plan::AddOffsets => {
                if let Some(g) = &mut self.group {
                    if g.add == Add::InFlight {
                        g.add = Add::Unknown;
                    }
                }
            }
            _ => self.unsend(),
        }
        self.retry(now, plan, ErrorCode::REQUEST_TIMED_OUT, true);
    }

    /// Offsets in flight go back to pending (a TxnOffsetCommit is repeatable).
    fn unsend(&mut self) {
        for o in self.offsets.iter_mut() {
            if o.sent == Add::InFlight {
                o.sent = Add::Pending;
            }
        }
    }

    fn on_find_coordinator(
        &mut self,
        now: Duration,
        plan: Plan,
        version: i16,
        r: &FindCoordinatorResponse<'_>,
    ) {
        let key = match (plan, &self.group) {
            (Plan::FindGroupCoordinator, Some(g)) => g.id.as_str(),
            _ => self.transactional_id.as_str(),
        };
        let (error, node_id, host, port) = match r.answer_for(version, key) {
            Some(c) => (c.error_code, c.node_id, c.host, c.port),
            None => (ErrorCode::COORDINATOR_NOT_AVAILABLE, -1, "", -1),
        };
        if error.is_ok() {
            let Ok(host) = String::try_from(host) else {
                return self.retry(now, plan, ErrorCode::COORDINATOR_NOT_AVAILABLE, false);
            };
            let c = Coordinator {
                node_id,
                host,
                port,
            };
            if plan == Plan::FindTxnCoordinator {
                self.coordinator = Some(c);
            } else if let Some(g) = &mut self.group {
                g.coordinator = Some(c);
            }
            return self.succeeded(now);
        }
        match error {
            ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED => {
                self.fail(ApiKey::FindCoordinator, error, Class::Fatal)
            }
            ErrorCode::GROUP_AUTHORIZATION_FAILED => self.fail(
                ApiKey::FindCoordinator,
                error,
                Class::Abortable { bump: false },
            ),
            e if e.is_retriable() || e == ErrorCode::COORDINATOR_NOT_AVAILABLE => {
                self.retry(now, plan, e, false)
            }
            e => self.fail(ApiKey::FindCoordinator, e, Class::Fatal),
        }
    }

    fn on_init_producer_id(&mut self, now: Duration, r: &InitProducerIdResponse) {
        if r.error_code.is_ok() {
            self.producer_id = r.producer_id;
            self.producer_epoch = r.producer_epoch;
            self.bump = false;
            self.state = TxnState::Ready;
            self.succeeded(now);
            self.event(TxnEvent::Initialized {
                producer_id: r.producer_id,
                producer_epoch: r.producer_epoch,
            });
            return;
        }
        self.answer_error(now, Plan::InitProducerId, r.error_code);
    }

    /// Retries, refinds or fails after `plan` got `error` as a whole.
    fn answer_error(&mut self, now: Duration, plan: Plan, error: ErrorCode) {
        match classify(plan, error) {
            Class::Retry => self.retry(now, plan, error, false),
            Class::Refind => self.retry(now, plan, error, true),
            // No transaction to abort yet: InitProducerId again.
            Class::Abortable { .. } if self.state == TxnState::Initializing => {
                self.retry(now, plan, error, false)
            }
            class => self.fail(plan.api(), error, class),
        }
    }

    fn on_add_partitions(&mut self, now: Duration, r: &AddPartitionsToTxnResponse<'_>) {
        // The worst outcome of all partitions decides; the others are
        // added (no error) or sent again (OPERATION_NOT_ATTEMPTED).
        let mut worst: Option<(Class, ErrorCode)> = None;
        for topic in r.results_by_topic_v3_and_below.iter() {
            let Some(t) = self.topics.iter().position(|n| n == topic.name) else {
                continue;
            };
            for result in topic.results_by_partition.iter() {
                let Some(p) = self.parts.iter_mut().find(|p| {
                    usize::from(p.topic) == t
                        && p.partition == result.partition_index
                        && p.add == Add::InFlight
                }) else {
                    continue;
                };
                let error = result.partition_error_code;
                if error.is_ok() {
                    p.add = Add::Added;
                    self.started = true;
                    continue;
                }
                p.add = Add::Pending;
                let class = classify(Plan::AddPartitions, error);
                if worst.is_none_or(|(c, e)| {
                    class > c || (class == c && e == ErrorCode::OPERATION_NOT_ATTEMPTED)
                }) {
                    worst = Some((class, error));
                }
            }
        }
        // Partitions the answer left out: sent again.
        for p in self.parts.iter_mut() {
            if p.add == Add::InFlight {
                p.add = Add::Pending;
            }
        }
        match worst {
            None => self.succeeded(now),
            Some((class, error)) => {
                if matches!(class, Class::Abortable { .. } | Class::Fatal) {
                    // Not in the transaction: dropped (their batches too).
                    self.parts.retain(|p| p.add == Add::Added);
                }
                self.answer_error(now, Plan::AddPartitions, error);
            }
        }
    }

    fn on_add_offsets(&mut self, now: Duration, r: &AddOffsetsToTxnResponse) {
        let Some(g) = &mut self.group else {
            return;
        };
        if r.error_code.is_ok() {
            g.add = Add::Added;
            self.started = true;
            return self.succeeded(now);
        }
        g.add = Add::Pending;
        self.answer_error(now, Plan::AddOffsets, r.error_code);
    }

    fn on_txn_offset_commit(&mut self, now: Duration, r: &TxnOffsetCommitResponse<'_>) {
        let mut worst: Option<(Class, ErrorCode)> = None;
        for topic in r.topics.iter() {
            let Some(t) = self.topics.iter().position(|n| n == topic.name) else {
                continue;
            };
            for result in topic.partitions.iter() {
                let Some(o) = self.offsets.iter_mut().find(|o| {
                    usize::from(o.topic) == t
                        && o.partition == result.partition_index
                        && o.sent == Add::InFlight
                }) else {
                    continue;
                };
                if result.error_code.is_ok() {
                    o.sent = Add::Added;
                    continue;
                }
                o.sent = Add::Pending;
                let class = classify(Plan::TxnOffsetCommit, result.error_code);
                if worst.is_none_or(|(c, _)| class > c) {
                    worst = Some((class, result.error_code));
                }
            }
        }
        self.unsend();
        match worst {
            None => {
                self.succeeded(now);
                if self.state != TxnState::Aborting
                    && self.offsets.iter().all(|o| o.sent == Add::Added)
                {
                    self.event(TxnEvent::OffsetsAdded);
                }
            }
            Some((_, error)) => self.answer_error(now, Plan::TxnOffsetCommit, error),
        }
    }

    fn on_end_txn(&mut self, now: Duration, r: &EndTxnResponse) {
        let committed = self.state == TxnState::Committing;
        if !r.error_code.is_ok() {
            return self.answer_error(now, Plan::EndTxn, r.error_code);
        }
        self.succeeded(now);
        self.event(if committed {
            TxnEvent::Committed
        } else {
            TxnEvent::Aborted
        });
        self.reset_transaction();
        // EndTxn v5 (transactions version 2) hands out the next epoch.
        if r.producer_id >= 0 && r.producer_epoch >= 0 {
            let changed =
                (r.producer_id, r.producer_epoch) != (self.producer_id, self.producer_epoch);
            self.producer_id = r.producer_id;
            self.producer_epoch = r.producer_epoch;
            if changed && !self.bump_after_abort {
                self.event(TxnEvent::Initialized {
                    producer_id: r.producer_id,
                    producer_epoch: r.producer_epoch,
                });
            }
        }
        if self.bump_after_abort {
            self.bump_after_abort = false;
            self.bump = true;
            self.state = TxnState::Initializing;
        } else {
            self.state = TxnState::Ready;
        }
    }

    /// Forgets the ended transaction.
    fn reset_transaction(&mut self) {
        self.started = false;
        self.unsent = 0;
        self.in_flight_batches = 0;
        self.topics.clear();
        self.parts.clear();
        self.offsets.clear();
        self.group = None;
        self.last_error = None;
    }

    /// Runs once per `poll_transmit` before a plan: transactions that need
    /// no EndTxn end here.
    fn settle_locally(&mut self) {
        if !matches!(self.state, TxnState::Committing | TxnState::Aborting) || self.started {
            return;
        }
        let aborting = self.state == TxnState::Aborting;
        let idle = self.in_flight.is_none()
            && self.in_flight_batches == 0
            && (aborting || self.unsent == 0)
            && self
                .parts
                .iter()
                .all(|p| !matches!(p.add, Add::InFlight | Add::Unknown | Add::Pending))
            && self
                .group
                .as_ref()
                .is_none_or(|g| !matches!(g.add, Add::InFlight | Add::Unknown | Add::Pending));
        if !idle {
            return;
        }
        self.event(if aborting {
            TxnEvent::Aborted
        } else {
            TxnEvent::Committed
        });
        self.reset_transaction();
        if self.bump_after_abort {
            self.bump_after_abort = false;
            self.bump = true;
            self.state = TxnState::Initializing;
        } else {
            self.state = TxnState::Ready;
        }
    }
}

/// Cuts a caller's scratch buffer into the pieces a request borrows.
struct Arena<'b> {
    rest: &'b mut [u8],
}

impl<'b> Arena<'b> {
    fn new(buf: &'b mut [u8]) -> Self {
        Arena { rest: buf }
    }

    fn write(&mut self, f: impl FnOnce(&mut Writer<'_>) -> Result<()>) -> Result<&'b [u8]> {
        let buf = core::mem::take(&mut self.rest);
        let mut w = Writer::new(buf);
        let result = f(&mut w);
        let (buf, n) = w.into_inner();
        let buf = buf.unwrap_or_default();
        if let Err(e) = result {
            self.rest = buf;
            return Err(e);
        }
        let (used, rest) = buf.split_at_mut(n);
        self.rest = rest;
        Ok(used)
    }

    fn str(&mut self, s: &str) -> Result<&'b str> {
        let bytes = self.write(|w| w.put(s.as_bytes()))?;
        core::str::from_utf8(bytes).map_err(|_| Error::InvalidUtf8)
    }

    fn array<T: Wire<'b> + Copy>(
        &mut self,
        len: usize,
        v: WireVersion,
        f: impl FnOnce(&mut Writer<'_>) -> Result<()>,
    ) -> Result<Array<'b, T>> {
        let bytes = self.write(f)?;
        Array::from_encoded(bytes, len, v)
    }
}

#[cfg(test)]
#[path = "transaction_tests.rs"]
mod tests;
