//! One Fetch and one ListOffsets for one partition, over the cluster's
//! connections: what the partition [`Consumer`](crate::Consumer) and the
//! [`GroupConsumer`](crate::GroupConsumer) both do.

use core::ops::Range;

use embassy_time::Duration;
use microkafka_core::consumer::{ConsumedRecord, FetchCursor, StartOffset};
use microkafka_core::protocol::messages::{
    FetchPartition, FetchRequest, FetchResponse, FetchTopic, ListOffsetsPartition,
    ListOffsetsRequest, ListOffsetsTopic, FETCH_TOPIC_ID_VERSION,
};
use microkafka_core::protocol::ApiKey;
use microkafka_core::record::compression::Codecs;
use microkafka_core::wire::{Array, Uuid};
use microkafka_core::ErrorCode;

use crate::cluster::Cluster;
use crate::error::{Error, ErrorKind, Result};
use crate::resolve::Resolve;

/// Room left in the response buffer for everything around the records
/// (headers, topic and partition fields, aborted transactions...).
pub(crate) const FETCH_RESPONSE_OVERHEAD: usize = 256;

/// What one Fetch brought.
#[derive(Clone, Debug)]
pub(crate) struct Fetched {
    /// Where the records lie in the response buffer.
    pub(crate) records: Range<usize>,
    /// The partition's high watermark.
    pub(crate) high_watermark: i64,
}

/// How long the broker may wait and for how much.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FetchWait {
    pub(crate) max_wait: Duration,
    pub(crate) min_bytes: i32,
}

/// Fetches `partition` of the cluster's topic from `offset` into the
/// response buffer, from its leader.
pub(crate) async fn fetch_partition<
    R: Resolve,
    const CONNS: usize,
    const BROKERS: usize,
    const PARTITIONS: usize,
>(
    cluster: &mut Cluster<'_, R, CONNS, BROKERS, PARTITIONS>,
    partition: i32,
    offset: i64,
    wait: FetchWait,
) -> Result<Fetched> {
    let conn = cluster.leader_connection(partition).await?;
    // Metadata is read at v4 (core's fixed version), which carries no topic
    // ids: Fetch names the topic, so it stays below v13 (every broker from
    // 0.11 to 4.x accepts v4..=v12 between them).
    let version = cluster.conns[conn]
        .version(ApiKey::Fetch)?
        .min(FETCH_TOPIC_ID_VERSION - 1);
    let topic_id = Uuid::ZERO;
    let max_bytes = cluster.rx.len().saturating_sub(FETCH_RESPONSE_OVERHEAD);
    let max_bytes = i32::try_from(max_bytes).unwrap_or(i32::MAX);
    let leader_epoch = cluster
        .metadata
        .partition(partition)
        .map_or(-1, |p| p.leader_epoch);
    let partitions = [FetchPartition {
        partition,
        current_leader_epoch: leader_epoch,
        fetch_offset: offset,
        last_fetched_epoch: -1,
        log_start_offset: -1,
        partition_max_bytes: max_bytes,
        ..Default::default()
    }];
    let topic = cluster.config.topic;
    let topics = [FetchTopic {
        topic,
        topic_id,
        partitions: Array::new(&partitions),
    }];
    let request = FetchRequest {
        max_wait_ms: i32::try_from(wait.max_wait.as_millis()).unwrap_or(i32::MAX),
        min_bytes: wait.min_bytes,
        max_bytes,
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics: Array::new(&topics),
        ..Default::default()
    };
    let node = cluster.conns[conn].node();
    let base = cluster.rx.as_ptr() as usize;
    let timeout = cluster.config.request_timeout + wait.max_wait;
    let response: FetchResponse<'_> = cluster
        .request_at(conn, &request, Some(version), timeout)
        .await?;
    let context = |e: Error| e.with_api(ApiKey::Fetch).with_broker(node);
    if response.error_code != ErrorCode::NONE {
        return Err(context(ErrorKind::Kafka(response.error_code).into()));
    }
    let data = response
        .partition(version, topic, topic_id, partition)
        .ok_or(context(
            microkafka_core::Error::Malformed("the Fetch response does not mention the partition")
                .into(),
        ))?;
    if data.error_code != ErrorCode::NONE {
        return Err(context(ErrorKind::Kafka(data.error_code).into()));
    }
    let records = data.records.unwrap_or_default();
    // Where the records lie in the response buffer: kept as a range so
    // records can be handed out borrowing that buffer later.
    let start = (records.as_ptr() as usize).wrapping_sub(base);
    Ok(Fetched {
        records: if records.is_empty() {
            0..0
        } else {
            start..start + records.len()
        },
        high_watermark: data.high_watermark,
    })
}

/// Asks `partition`'s leader for its first or last offset.
pub(crate) async fn list_offset<
    R: Resolve,
    const CONNS: usize,
    const BROKERS: usize,
    const PARTITIONS: usize,
>(
    cluster: &mut Cluster<'_, R, CONNS, BROKERS, PARTITIONS>,
    partition: i32,
    start: StartOffset,
) -> Result<i64> {
    let conn = cluster.leader_connection(partition).await?;
    let node = cluster.conns[conn].node();
    let partitions = [ListOffsetsPartition {
        partition_index: partition,
        current_leader_epoch: -1,
        timestamp: start.list_offsets_timestamp(),
        max_num_offsets: 1,
    }];
    let topics = [ListOffsetsTopic {
        name: cluster.config.topic,
        partitions: Array::new(&partitions),
    }];
    let request = ListOffsetsRequest {
        replica_id: -1,
        isolation_level: 0,
        topics: Array::new(&topics),
        timeout_ms: 0,
    };
    let response = cluster.request(conn, &request).await?;
    let found = response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .ok_or(
            Error::from(microkafka_core::Error::Malformed(
                "the ListOffsets response does not mention the partition",
            ))
            .with_api(ApiKey::ListOffsets),
        )?;
    if found.error_code != ErrorCode::NONE {
        return Err(Error::new(ErrorKind::Kafka(found.error_code))
            .with_api(ApiKey::ListOffsets)
            .with_broker(node));
    }
    Ok(found.offset)
}

/// Checks that a fetch buffer has room for records besides the response's
/// other fields.
pub(crate) fn check_fetch_buffer(len: usize) -> Result<()> {
    if len <= FETCH_RESPONSE_OVERHEAD {
        return Err(microkafka_core::Error::TooLarge {
            what: microkafka_core::Limit::FetchBuffer,
            size: FETCH_RESPONSE_OVERHEAD + 1,
            limit: len,
        }
        .into());
    }
    Ok(())
}

/// The next record of a fetch's `records` (partition `partition`), with
/// errors in context; `progressed` says whether the fetch gave a record
/// yet. `None` and errors end the fetch: the caller drops its records.
pub(crate) fn next_fetched<'b>(
    cursor: &mut FetchCursor,
    records: &'b [u8],
    codecs: &mut Codecs,
    scratch: &'b mut [u8],
    progressed: &mut bool,
    partition: i32,
) -> Option<Result<ConsumedRecord<'b>>> {
    match cursor.next(records, codecs, scratch) {
        Some(Ok(record)) => {
            *progressed = true;
            Some(Ok(record))
        }
        Some(Err(e)) => Some(Err(Error::from(e)
            .with_api(ApiKey::Fetch)
            .with_partition(partition))),
        None if cursor.truncated_tail() && !*progressed && records.len() >= 12 => {
            // A batch the fetch buffer cannot hold: fetching again would
            // return the same part of it forever.
            let size = records.get(8..12).map_or(0, |b| {
                i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize + 12
            });
            Some(Err(Error::from(microkafka_core::Error::TooLarge {
                what: microkafka_core::Limit::RecordBatch,
                size,
                limit: records.len(),
            })
            .with_partition(partition)))
        }
        None => None,
    }
}
