//! Producer-side protocol logic, without I/O: what a Produce error means, how
//! long to wait before trying again, and heap-free batching.
//!
//! - [`ProduceErrorAction`]: the retry class of a partition's error code in a
//!   Produce response (retry on the same leader, refresh metadata first, or
//!   give up), following the Java client's exception hierarchy.
//! - [`Backoff`]: capped exponential backoff with optional jitter from a
//!   caller-supplied random number, so firmware and hosts retry alike.
//! - [`Accumulator`]: per-partition batches in fixed slots of one caller
//!   buffer, due on linger or size, kept in place until acknowledged (the
//!   heap-free producer's batching).
//! - [`splice_records`]: a Produce request written around a batch that stays
//!   in its buffer, so a firmware producer needs no frame-sized copy.
//! - [`ProduceRecovery`], [`PartitionSequence`], [`ProducerIdAndEpoch`]:
//!   the idempotent producer's policy (KIP-98, KIP-360) as the Java client
//!   has it: per-partition sequence numbers that wrap at `i32::MAX`, and one
//!   decision per error code and batch position (retry, refresh metadata,
//!   new epoch, fail); [`ProducedPartition`] reads one partition's answer.
//! - [`TransactionManager`]: a transactional producer's coordinator
//!   protocol (init, partitions and offsets added, commit, abort, fencing)
//!   as a sans-IO state machine, errors classified as the Java client does.
//!
//! Records are batched with [`RecordBatchBuilder`](crate::record::RecordBatchBuilder);
//! keys are routed with [`balancer`](crate::balancer).

mod accumulator;
mod answer;
mod idempotence;
mod retry;
mod spliced;
pub mod transaction;

pub use accumulator::{Accumulator, Appended};
pub use answer::ProducedPartition;
pub use idempotence::{
    next_sequence, BatchPosition, PartitionSequence, ProduceRecovery, ProducerIdAndEpoch,
};
pub(crate) use retry::stale_metadata;
pub use retry::{Backoff, ProduceErrorAction};
pub use spliced::{splice_records, SplicedProduce};
pub use transaction::{
    GroupMetadata, TransactionConfig, TransactionManager, TxnDestination, TxnError, TxnEvent,
    TxnOffset, TxnRequest, TxnRequestId, TxnState, TxnTransmit, MAX_TRANSACTIONAL_ID_LEN,
};

#[cfg(test)]
mod idempotence_tests;
#[cfg(test)]
mod tests;
