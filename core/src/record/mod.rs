//! Record batches: the unit of data Kafka stores and moves.
//!
//! - [`RecordBatch`]: a zero-copy view over a magic-2 batch (smoltcp-style:
//!   `new_checked` validates once, getters read fields, setters patch the
//!   fields outside the CRC such as the base offset a broker assigns).
//! - [`Record`] / [`Records`]: records borrowed from a batch, keys, values and
//!   headers as slices of the input.
//! - [`RecordBatchBuilder`]: appends records into a caller buffer and fills
//!   lengths, counts, deltas and the CRC-32C when finished.
//! - [`RecordSet`]: the `records` field of a Fetch/Produce partition, which may
//!   hold several batches, legacy (magic 0/1) messages, and a truncated tail.
//! - [`compression`]: the codecs (gzip, snappy, lz4, zstd behind features),
//!   the [`Codecs`](compression::Codecs) dispatcher and the hook they share.

mod batch;
mod builder;
pub mod compression;
mod control;
mod crc;
mod legacy;
#[allow(clippy::module_inception)]
mod record;
mod set;

pub use batch::{Attributes, RecordBatch, TimestampType, RECORD_BATCH_OVERHEAD};
pub use builder::{BatchOptions, RecordBatchBuilder, RecordHeader};
pub use compression::Compression;
pub use control::{ControlRecord, ControlRecordType};
pub use crc::{crc32_ieee, crc32c};
pub use legacy::{LegacyMessage, LegacyMessages};
pub use record::{Header, Headers, Record, Records};
pub use set::{Batch, RecordSet};

#[cfg(test)]
mod tests;
