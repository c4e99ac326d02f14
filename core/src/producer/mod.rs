//! Producer-side protocol logic, without I/O: what a Produce error means and
//! how long to wait before trying again.
//!
//! - [`ProduceErrorAction`]: the retry class of a partition's error code in a
//!   Produce response (retry on the same leader, refresh metadata first, or
//!   give up), following the Java client's exception hierarchy.
//! - [`Backoff`]: capped exponential backoff with optional jitter from a
//!   caller-supplied random number, so firmware and hosts retry alike.
//!
//! Records are batched with [`RecordBatchBuilder`](crate::record::RecordBatchBuilder);
//! keys are routed with [`balancer`](crate::balancer).

mod retry;

pub use retry::{Backoff, ProduceErrorAction};

#[cfg(test)]
mod tests;
