//! One partition's Fetch and ListOffsets requests, and that partition's
//! answer in their responses.

use core::slice;

use crate::error::{Error, Result};
use crate::protocol::messages::{
    FetchAbortedTransaction, FetchPartition, FetchRequest, FetchResponse, FetchTopic,
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopic,
};
use crate::wire::{Array, Uuid};
use crate::ErrorCode;

/// How much a fetch asks for and how long the broker may hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FetchLimits {
    /// Longest the broker waits for `min_bytes`, in ms.
    pub max_wait_ms: i32,
    /// Bytes the broker waits for before answering.
    pub min_bytes: i32,
    /// Most bytes to return, for the partition and the response (the
    /// first batch comes whole even if larger, KIP-74).
    pub max_bytes: i32,
    /// Read only committed transactional records (isolation level 1).
    pub read_committed: bool,
}

/// A Fetch of one partition. The request borrows it, in two steps (the
/// topic entry, then the request over it), both kept in locals:
///
/// ```
/// # use microkafka_core::consumer::partition::{FetchLimits, PartitionFetch};
/// # use microkafka_core::wire::Uuid;
/// let limits = FetchLimits { max_wait_ms: 500, min_bytes: 1, max_bytes: 1 << 20, read_committed: false };
/// let fetch = PartitionFetch::new("events", Uuid::ZERO, 3, 1200, -1, limits);
/// let topic = fetch.topic();
/// let request = fetch.request(&topic);
/// assert_eq!(request.topics.len(), 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PartitionFetch<'t> {
    topic: &'t str,
    topic_id: Uuid,
    partition: FetchPartition,
    limits: FetchLimits,
}

impl<'t> PartitionFetch<'t> {
    /// A fetch of `topic`'s `partition` from `offset`, carrying
    /// `leader_epoch` (-1: not checked). `topic_id` names the topic from
    /// Fetch v13 ([`FETCH_TOPIC_ID_VERSION`](crate::protocol::messages::FETCH_TOPIC_ID_VERSION)) on; [`Uuid::ZERO`] below.
    pub fn new(
        topic: &'t str,
        topic_id: Uuid,
        partition: i32,
        offset: i64,
        leader_epoch: i32,
        limits: FetchLimits,
    ) -> Self {
        PartitionFetch {
            topic,
            topic_id,
            partition: FetchPartition {
                partition,
                current_leader_epoch: leader_epoch,
                fetch_offset: offset,
                last_fetched_epoch: -1,
                log_start_offset: -1,
                partition_max_bytes: limits.max_bytes.max(1),
                ..Default::default()
            },
            limits,
        }
    }

    /// The partition fetched.
    pub const fn partition(&self) -> i32 {
        self.partition.partition
    }

    /// The offset the fetch starts at.
    pub const fn offset(&self) -> i64 {
        self.partition.fetch_offset
    }

    /// The request's one topic entry (keep it in a local for
    /// [`request`](Self::request)).
    pub fn topic(&self) -> FetchTopic<'_> {
        FetchTopic {
            topic: self.topic,
            topic_id: self.topic_id,
            partitions: Array::new(slice::from_ref(&self.partition)),
        }
    }

    /// The request over `topic` (from [`topic`](Self::topic)): a consumer's
    /// (replica -1), outside a fetch session.
    pub fn request<'a>(&self, topic: &'a FetchTopic<'a>) -> FetchRequest<'a> {
        FetchRequest {
            max_wait_ms: self.limits.max_wait_ms.max(0),
            min_bytes: self.limits.min_bytes.max(0),
            max_bytes: self.limits.max_bytes.max(1),
            isolation_level: i8::from(self.limits.read_committed),
            session_id: 0,
            session_epoch: -1,
            topics: Array::new(slice::from_ref(topic)),
            ..Default::default()
        }
    }
}

/// One partition's answer in a Fetch response.
#[derive(Clone, Copy, Debug)]
pub struct FetchedPartition<'a> {
    /// The response's error code (v7+) when it has one, else the
    /// partition's.
    pub error: ErrorCode,
    /// The partition's high watermark (-1 with an error).
    pub high_watermark: i64,
    /// The last stable offset (v4+; -1 when unknown).
    pub last_stable_offset: i64,
    /// The log start offset (v5+; -1 when unknown).
    pub log_start_offset: i64,
    /// The aborted transactions in the fetched range (`read_committed`).
    pub aborted_transactions: Option<Array<'a, FetchAbortedTransaction>>,
    /// The records (empty with an error, or when there were none).
    pub records: &'a [u8],
}

impl<'a> FetchedPartition<'a> {
    /// Finds `partition` in a Fetch response decoded at `version`: by
    /// `topic_id` from v13, by `topic` name before. A response-level error
    /// (v7+) is the answer for every partition.
    ///
    /// Errors: [`Error::Malformed`] when the response does not mention the
    /// partition.
    pub fn find(
        response: &FetchResponse<'a>,
        version: i16,
        topic: &str,
        topic_id: Uuid,
        partition: i32,
    ) -> Result<Self> {
        if response.error_code.is_err() {
            return Ok(FetchedPartition {
                error: response.error_code,
                high_watermark: -1,
                last_stable_offset: -1,
                log_start_offset: -1,
                aborted_transactions: None,
                records: &[],
            });
        }
        let p = response
            .partition(version, topic, topic_id, partition)
            .ok_or(Error::Malformed(
                "the Fetch response does not mention the partition",
            ))?;
        Ok(FetchedPartition {
            error: p.error_code,
            high_watermark: p.high_watermark,
            last_stable_offset: p.last_stable_offset,
            log_start_offset: p.log_start_offset,
            aborted_transactions: p.aborted_transactions,
            records: if p.error_code.is_err() {
                &[]
            } else {
                p.records.unwrap_or_default()
            },
        })
    }
}

/// A ListOffsets request for one partition, built like [`PartitionFetch`]
/// (the topic entry, then the request over it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PartitionListOffsets<'t> {
    topic: &'t str,
    partition: ListOffsetsPartition,
    read_committed: bool,
    timeout_ms: i32,
}

impl<'t> PartitionListOffsets<'t> {
    /// The offset of `topic`'s `partition` at `timestamp` (ms, or -1
    /// latest / -2 earliest), carrying `leader_epoch` (-1: not checked).
    /// `timeout_ms` bounds a lookup in remote storage (v10+).
    pub fn new(
        topic: &'t str,
        partition: i32,
        timestamp: i64,
        leader_epoch: i32,
        read_committed: bool,
        timeout_ms: i32,
    ) -> Self {
        PartitionListOffsets {
            topic,
            partition: ListOffsetsPartition {
                partition_index: partition,
                current_leader_epoch: leader_epoch,
                timestamp,
                max_num_offsets: 1,
            },
            read_committed,
            timeout_ms,
        }
    }

    /// The partition looked up.
    pub const fn partition(&self) -> i32 {
        self.partition.partition_index
    }

    /// The request's one topic entry (keep it in a local for
    /// [`request`](Self::request)).
    pub fn topic(&self) -> ListOffsetsTopic<'_> {
        ListOffsetsTopic {
            name: self.topic,
            partitions: Array::new(slice::from_ref(&self.partition)),
        }
    }

    /// The request over `topic` (from [`topic`](Self::topic)): a
    /// consumer's (replica -1).
    pub fn request<'a>(&self, topic: &'a ListOffsetsTopic<'a>) -> ListOffsetsRequest<'a> {
        ListOffsetsRequest {
            replica_id: -1,
            isolation_level: i8::from(self.read_committed),
            topics: Array::new(slice::from_ref(topic)),
            timeout_ms: self.timeout_ms,
        }
    }
}

/// One partition's answer in a ListOffsets response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ListedOffset {
    /// The partition's error code.
    pub error: ErrorCode,
    /// The offset found (-1: none, e.g. a timestamp after the last record).
    pub offset: i64,
    /// The timestamp of that offset's record (v1+; -1 when unknown).
    pub timestamp: i64,
    /// The leader epoch of that record (v4+; -1 when unknown).
    pub leader_epoch: i32,
}

impl ListedOffset {
    /// Finds `topic`'s `partition` in a ListOffsets response decoded at
    /// `version` (v0's offset list is read as its first offset).
    ///
    /// Errors: [`Error::Malformed`] when the response does not mention the
    /// partition.
    pub fn find(
        response: &ListOffsetsResponse<'_>,
        version: i16,
        topic: &str,
        partition: i32,
    ) -> Result<Self> {
        let p = response
            .topics
            .iter()
            .filter(|t| t.name == topic)
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == partition)
            .ok_or(Error::Malformed(
                "the ListOffsets response does not mention the partition",
            ))?;
        let offset = if version == 0 {
            p.old_style_offsets.iter().next().unwrap_or(-1)
        } else {
            p.offset
        };
        Ok(ListedOffset {
            error: p.error_code,
            offset,
            timestamp: p.timestamp,
            leader_epoch: p.leader_epoch,
        })
    }
}
