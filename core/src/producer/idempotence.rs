//! The idempotent producer's policy, without I/O: producer id and epoch,
//! each partition's sequence numbers, and what to do with a batch after its
//! partition answered, as the Java client decides after KIP-360
//! (`TransactionManager.canRetry`, `handleFailedBatch`,
//! `Sender.completeBatch`).
//!
//! The inputs are error codes and counts, not typed responses, so a client
//! on the general codecs and a firmware on the fixed-version ones decide
//! alike.
//!
//! - A batch carries the producer's [`ProducerIdAndEpoch`] and a base
//!   sequence from its partition's [`PartitionSequence`]; numbers run from 0
//!   under each id and epoch and wrap from `i32::MAX` to 0, as the broker
//!   counts them.
//! - After an answer, [`ProduceRecovery::idempotent`] says what comes next:
//!   done (a duplicate too: the broker has the batch), send again (after a
//!   metadata refresh when the leader moved), start a new epoch and send
//!   the batch again from sequence 0 (the broker has a gap, or lost the
//!   producer's state), or give the batch up.
//! - A new epoch is taken locally ([`ProducerIdAndEpoch::bumped`]), as the
//!   Java idempotent producer does: a broker accepts a higher epoch of the
//!   same producer id from sequence 0. Only an exhausted epoch needs a new
//!   producer id (InitProducerId).
//! - A batch given up after it was sent leaves its partition's numbers in
//!   doubt (the broker may have it): the partition's next batch must start a
//!   new epoch (the Java client bumps the epoch for it too).

use super::retry::ProduceErrorAction;
use crate::ErrorCode;

/// An idempotent producer's id and epoch, as InitProducerId hands them out
/// (the Java client's `ProducerIdAndEpoch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ProducerIdAndEpoch {
    /// The producer id.
    pub id: i64,
    /// The producer epoch.
    pub epoch: i16,
}

impl ProducerIdAndEpoch {
    /// An id and epoch.
    pub const fn new(id: i64, epoch: i16) -> Self {
        ProducerIdAndEpoch { id, epoch }
    }

    /// The next epoch of the same id (KIP-360: an idempotent producer
    /// starts a new epoch itself); `None` when the epoch is exhausted
    /// (`i16::MAX`): then a new producer id is needed.
    pub const fn bumped(self) -> Option<Self> {
        match self.epoch.checked_add(1) {
            Some(epoch) => Some(ProducerIdAndEpoch { id: self.id, epoch }),
            None => None,
        }
    }
}

/// The sequence number after `count` records from `sequence`: sequences
/// wrap from `i32::MAX` to 0 (as the broker and the Java client count).
pub const fn next_sequence(sequence: i32, count: i32) -> i32 {
    sequence.wrapping_add(count) & i32::MAX
}

/// Where a batch stands among its partition's batches when its answer
/// comes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BatchPosition {
    /// The batch follows the last one acknowledged (or is the first under
    /// its epoch): nothing before it is unresolved, so an
    /// `OUT_OF_ORDER_SEQUENCE_NUMBER` is a real gap.
    Next,
    /// An earlier batch of the partition is not acknowledged yet (several
    /// in flight): an `OUT_OF_ORDER_SEQUENCE_NUMBER` may only mean that the
    /// broker has not seen it yet.
    Behind,
}

/// What to do with a batch after its partition answered (or the request
/// failed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ProduceRecovery {
    // The first four in the order of `ProduceErrorAction`'s, so that
    // `plain` is a plain copy (a firmware pays for no mapping).
    /// Written.
    Done,
    /// The leader moved or is unknown: refresh metadata, then send the same
    /// batch again to the (new) leader.
    RefreshMetadata,
    /// Send the same batch again after a backoff.
    Retry,
    /// Give the batch up. For an idempotent producer, a batch given up
    /// after it was sent leaves the partition's numbers in doubt: its next
    /// batch starts a new epoch.
    Fail,
    /// Written before: an idempotent retry of a batch the broker already
    /// has (`DUPLICATE_SEQUENCE_NUMBER`). Its offset is unknown.
    Duplicate,
    /// The broker has a gap in the producer's sequence or lost its state:
    /// take a new epoch ([`ProducerIdAndEpoch::bumped`]; a new producer id
    /// when it is exhausted), restart the partition's numbers at 0 with
    /// this batch ([`PartitionSequence::assign`] under the new epoch), and
    /// send it again.
    BumpEpoch,
}

impl ProduceRecovery {
    /// The decision for a batch without a producer id (idempotence off):
    /// the retry classes of [`ProduceErrorAction`].
    pub fn plain(code: ErrorCode) -> Self {
        match ProduceErrorAction::classify(code) {
            ProduceErrorAction::Done => ProduceRecovery::Done,
            ProduceErrorAction::RefreshMetadata => ProduceRecovery::RefreshMetadata,
            ProduceErrorAction::Retry => ProduceRecovery::Retry,
            ProduceErrorAction::Fail => ProduceRecovery::Fail,
        }
    }

    /// The decision for an idempotent producer's batch at `position`, as
    /// the Java client's after KIP-360:
    ///
    /// | error | decision |
    /// |---|---|
    /// | `NONE` | [`Done`](Self::Done) |
    /// | `DUPLICATE_SEQUENCE_NUMBER` | [`Duplicate`](Self::Duplicate) |
    /// | `OUT_OF_ORDER_SEQUENCE_NUMBER`, [`BatchPosition::Behind`] | [`Retry`](Self::Retry): an earlier batch is unresolved |
    /// | `OUT_OF_ORDER_SEQUENCE_NUMBER`, [`BatchPosition::Next`] | [`BumpEpoch`](Self::BumpEpoch): a real gap |
    /// | `UNKNOWN_PRODUCER_ID`, log start offset -1 | [`Retry`](Self::Retry): the broker does not know its log yet |
    /// | `UNKNOWN_PRODUCER_ID`, otherwise | [`BumpEpoch`](Self::BumpEpoch): the producer's state is gone |
    /// | `INVALID_PRODUCER_EPOCH`, `PRODUCER_FENCED` | [`Fail`](Self::Fail) (and a new epoch for the partition's next batch) |
    /// | others | as [`plain`](Self::plain) |
    ///
    /// `log_start_offset` is the partition's from the Produce answer
    /// (v5+); `None` when the answer's version has none (then the broker
    /// sending `UNKNOWN_PRODUCER_ID` has lost the state).
    pub fn idempotent(
        code: ErrorCode,
        position: BatchPosition,
        log_start_offset: Option<i64>,
    ) -> Self {
        match code {
            ErrorCode::DUPLICATE_SEQUENCE_NUMBER => ProduceRecovery::Duplicate,
            ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER => match position {
                BatchPosition::Behind => ProduceRecovery::Retry,
                BatchPosition::Next => ProduceRecovery::BumpEpoch,
            },
            ErrorCode::UNKNOWN_PRODUCER_ID if log_start_offset == Some(-1) => {
                ProduceRecovery::Retry
            }
            ErrorCode::UNKNOWN_PRODUCER_ID => ProduceRecovery::BumpEpoch,
            // Not retriable in the Java client (InvalidProducerEpochException,
            // ProducerFencedException): the batch fails.
            ErrorCode::INVALID_PRODUCER_EPOCH | ErrorCode::PRODUCER_FENCED => ProduceRecovery::Fail,
            code => Self::plain(code),
        }
    }

    /// True when the batch is written (or was before).
    pub const fn is_written(self) -> bool {
        matches!(self, ProduceRecovery::Done | ProduceRecovery::Duplicate)
    }

    /// True when the batch is to be sent again (after a backoff).
    pub const fn is_retriable(self) -> bool {
        matches!(
            self,
            ProduceRecovery::Retry | ProduceRecovery::RefreshMetadata | ProduceRecovery::BumpEpoch
        )
    }
}

/// One partition's sequence numbers under the producer's id and epoch:
/// small and `Copy`, for the caller to keep per partition (a map on a
/// host, a fixed table on a microcontroller).
///
/// [`assign`](Self::assign) numbers each new batch (from 0 again whenever
/// the producer's id or epoch changed since the partition's last batch);
/// [`acknowledged`](Self::acknowledged) records the batches written;
/// [`position`](Self::position) says where an answered batch stands for
/// [`ProduceRecovery::idempotent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PartitionSequence {
    // A fresh partition is all zeros (a firmware's table of them is then
    // cleared, not written entry by entry): not numbered yet, and the
    // numbers it would start from under any id and epoch.
    // The id and epoch apart rather than a `ProducerIdAndEpoch`, so that
    // `numbered` fits in their padding (24 bytes a partition, not 32).
    /// The producer id the numbers count under, once `numbered`.
    id: i64,
    /// The epoch the numbers count under, once `numbered`.
    epoch: i16,
    /// A batch was numbered (`id` and `epoch` are set).
    numbered: bool,
    /// The base sequence of the next new batch.
    next: i32,
    /// The base sequence the broker expects next: after the last batch
    /// acknowledged under the id and epoch (0 before any).
    expected: i32,
}

impl Default for PartitionSequence {
    fn default() -> Self {
        Self::new()
    }
}

impl PartitionSequence {
    /// A partition with no batch yet.
    pub const fn new() -> Self {
        PartitionSequence {
            id: 0,
            epoch: 0,
            numbered: false,
            next: 0,
            expected: 0,
        }
    }

    /// The id and epoch the numbers count under, once a batch was numbered.
    pub const fn producer(&self) -> Option<ProducerIdAndEpoch> {
        if self.numbered {
            Some(ProducerIdAndEpoch::new(self.id, self.epoch))
        } else {
            None
        }
    }

    /// The base sequence the next new batch gets under the same id and
    /// epoch.
    pub const fn next(&self) -> i32 {
        self.next
    }

    /// Numbers a new batch of `count` records under `producer` and returns
    /// its base sequence: 0 when `producer` differs from the id and epoch
    /// of the partition's earlier batches (a new producer, or a new epoch),
    /// else where the last batch ended.
    ///
    /// Also what [`ProduceRecovery::BumpEpoch`] asks for a batch being
    /// sent: assigned again under the new epoch, it starts at 0.
    pub fn assign(&mut self, producer: ProducerIdAndEpoch, count: i32) -> i32 {
        if !self.numbered || self.id != producer.id || self.epoch != producer.epoch {
            *self = PartitionSequence {
                id: producer.id,
                epoch: producer.epoch,
                numbered: true,
                next: 0,
                expected: 0,
            };
        }
        let base = self.next;
        self.next = next_sequence(base, count);
        base
    }

    /// The base sequence of the last batch numbered, which had `count`
    /// records: for a client that keeps one batch per partition in flight
    /// and sends it again (under the same id and epoch) with the number it
    /// was given, rather than keep that number itself.
    pub const fn last_base(&self, count: i32) -> i32 {
        self.next.wrapping_sub(count) & i32::MAX
    }

    /// Where a batch numbered `base` (under the current id and epoch)
    /// stands: [`BatchPosition::Next`] when it follows the last batch
    /// acknowledged, or is the first one.
    pub const fn position(&self, base: i32) -> BatchPosition {
        if base == self.expected {
            BatchPosition::Next
        } else {
            BatchPosition::Behind
        }
    }

    /// Records that the batch numbered `base` with `count` records was
    /// written (or was a duplicate of one written).
    pub fn acknowledged(&mut self, base: i32, count: i32) {
        if count > 0 {
            self.expected = next_sequence(base, count);
        }
    }
}
