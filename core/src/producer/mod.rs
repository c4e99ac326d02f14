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
//!
//! Records are batched with [`RecordBatchBuilder`](crate::record::RecordBatchBuilder);
//! keys are routed with [`balancer`](crate::balancer).

mod accumulator;
mod retry;
mod spliced;

pub use accumulator::{Accumulator, Appended};
pub(crate) use retry::stale_metadata;
pub use retry::{Backoff, ProduceErrorAction};
pub use spliced::{splice_records, SplicedProduce};

#[cfg(test)]
mod tests;
