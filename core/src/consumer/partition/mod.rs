//! One partition's consumer, as both clients' partition readers (and a
//! group member's, per assigned partition) drive it: its [`Position`] (the
//! next offset, the leader epoch fetches carry, what an offset out of range
//! and a fenced epoch do), and its single-partition Fetch and ListOffsets
//! requests ([`PartitionFetch`], [`PartitionListOffsets`]) and answers
//! ([`FetchedPartition`], [`ListedOffset`]).
//!
//! Inputs are offsets, epochs and error codes; the requests are built over
//! a local the caller keeps (the request borrows it), and the answers are
//! read from responses decoded with the general codecs.

mod position;
mod requests;

pub use position::Position;
pub use requests::{
    FetchLimits, FetchedPartition, ListedOffset, PartitionFetch, PartitionListOffsets,
};

#[cfg(test)]
mod tests;
