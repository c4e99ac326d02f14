//! Consumer-side protocol logic, without I/O: reading fetched records in
//! offset order, and deciding what a fetch error means.
//!
//! - [`FetchCursor`]: walks a Fetch partition's `records` bytes record by
//!   record, across batches and formats, decompressing each compressed batch
//!   once into a caller buffer, skipping control batches and records below
//!   the fetch offset, and keeping the offset the next fetch must start at.
//!   It holds positions, not borrows, so it can live next to the buffers it
//!   reads (in a struct, across `await`s) on any target. In `read_committed`
//!   ([`FetchCursor::next_committed`], [`ReadCommitted`]) it also hides the
//!   batches of aborted transactions and stops at the last stable offset.
//! - [`next_fetch_offset`]: where the fetch after this one starts, read from
//!   batch headers alone (no decompression), so a prefetching consumer can
//!   send its next Fetch before the application has read the records.
//! - [`StartOffset`] and [`FetchErrorAction`]: what to do when the position
//!   is out of range, or a partition answers with an error.
//! - [`partition`]: one partition's consumer as both clients drive it: its
//!   [`Position`](partition::Position) (offset, leader epoch, the fetch-error
//!   decision) and its single-partition Fetch and ListOffsets requests and
//!   answers.

mod cursor;
pub mod partition;

pub use cursor::{next_fetch_offset, ConsumedRecord, FetchCursor, ReadCommitted};

use crate::producer::stale_metadata;
use crate::ErrorCode;

/// Where a consumer starts when it has no position, or when its position
/// fell out of the log (Kafka's `auto.offset.reset`; kafka-go's `StartOffset`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StartOffset {
    /// The oldest offset still in the log (`earliest`, kafka-go `FirstOffset`).
    #[default]
    First,
    /// The offset the next produced message will get (`latest`, kafka-go `LastOffset`).
    Last,
}

impl StartOffset {
    /// The ListOffsets timestamp that asks for this offset: -2 (earliest) or -1 (latest).
    pub const fn list_offsets_timestamp(self) -> i64 {
        match self {
            StartOffset::First => ListOffsetsTimestamp::EARLIEST,
            StartOffset::Last => ListOffsetsTimestamp::LATEST,
        }
    }
}

/// The special timestamps of a ListOffsets request.
#[derive(Clone, Copy, Debug)]
pub struct ListOffsetsTimestamp;

impl ListOffsetsTimestamp {
    /// The offset after the last message (the high watermark).
    pub const LATEST: i64 = -1;
    /// The log start offset.
    pub const EARLIEST: i64 = -2;
}

/// What a consumer should do about a partition-level error in a Fetch or
/// ListOffsets response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FetchErrorAction {
    /// No error: use the data.
    Proceed,
    /// The position is outside the log: reset it per the [`StartOffset`] policy.
    ResetOffset,
    /// Leadership moved or is unknown: refresh metadata, reconnect to the
    /// leader, and fetch again after a backoff.
    RefreshMetadata,
    /// A transient broker condition: fetch again after a backoff.
    Retry,
    /// Not recoverable by retrying (authorization, corrupt data...): surface it.
    Fail,
}

impl FetchErrorAction {
    /// Classifies a partition's error code.
    pub fn classify(code: ErrorCode) -> Self {
        match code {
            ErrorCode::NONE => FetchErrorAction::Proceed,
            ErrorCode::OFFSET_OUT_OF_RANGE => FetchErrorAction::ResetOffset,
            code if stale_metadata(code) || code == ErrorCode::OFFSET_NOT_AVAILABLE => {
                FetchErrorAction::RefreshMetadata
            }
            code if code.is_retriable() => FetchErrorAction::Retry,
            _ => FetchErrorAction::Fail,
        }
    }
}

#[cfg(test)]
mod read_committed_tests;
#[cfg(test)]
mod tests;
