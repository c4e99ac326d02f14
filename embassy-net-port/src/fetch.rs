//! One partition's fetch over the cluster's connections, with core's
//! partition consumer policy: its [`Position`] (the offset, or the
//! ListOffsets lookup that finds it; the leader epoch fetches carry; what
//! an error code does to it), its requests ([`PartitionFetch`],
//! [`PartitionListOffsets`]) and answers ([`FetchedPartition`],
//! [`ListedOffset`]). What the partition [`Consumer`](crate::Consumer) and
//! the [`GroupConsumer`](crate::GroupConsumer) both do.

use core::ops::Range;

use embassy_time::Duration;
use microkafka_core::consumer::partition::{
    FetchLimits, FetchedPartition, ListedOffset, PartitionFetch, PartitionListOffsets, Position,
};
use microkafka_core::consumer::{ConsumedRecord, FetchCursor, FetchErrorAction};
use microkafka_core::protocol::messages::{FetchResponse, FETCH_TOPIC_ID_VERSION};
use microkafka_core::protocol::ApiKey;
use microkafka_core::record::compression::Codecs;
use microkafka_core::wire::Uuid;

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
    /// The offset the fetch started at (the first record's, or before it).
    pub(crate) offset: i64,
    /// The partition's high watermark.
    pub(crate) high_watermark: i64,
}

/// How long the broker may wait and for how much.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FetchWait {
    pub(crate) max_wait: Duration,
    pub(crate) min_bytes: i32,
}

/// Fetches `partition` of the cluster's topic at `position` into the
/// response buffer, from its leader: the position takes the leader epoch
/// metadata knows, and an offset still to be looked up is asked of the
/// leader first (ListOffsets) and kept.
pub(crate) async fn fetch_partition<
    R: Resolve,
    const CONNS: usize,
    const BROKERS: usize,
    const PARTITIONS: usize,
>(
    cluster: &mut Cluster<'_, R, CONNS, BROKERS, PARTITIONS>,
    partition: i32,
    position: &mut Position,
    wait: FetchWait,
) -> Result<Fetched> {
    let conn = cluster.leader_connection(partition).await?;
    if let Some(p) = cluster.metadata.partition(partition) {
        position.set_leader_epoch(p.leader_epoch);
    }
    if let Some(timestamp) = position.lookup() {
        let offset =
            list_offset(cluster, conn, partition, timestamp, position.leader_epoch()).await?;
        position.found(offset);
    }
    let offset = position.value();
    // Metadata is read at v4 (core's fixed version), which carries no topic
    // ids: Fetch names the topic, so it stays below v13 (every broker from
    // 0.11 to 4.x accepts v4..=v12 between them).
    let version = cluster.conns[conn]
        .version(ApiKey::Fetch)?
        .min(FETCH_TOPIC_ID_VERSION - 1);
    let max_bytes = cluster.rx.len().saturating_sub(FETCH_RESPONSE_OVERHEAD);
    let limits = FetchLimits {
        max_wait_ms: i32::try_from(wait.max_wait.as_millis()).unwrap_or(i32::MAX),
        min_bytes: wait.min_bytes,
        max_bytes: i32::try_from(max_bytes).unwrap_or(i32::MAX),
        // The firmware cursor does not filter aborted transactions.
        read_committed: false,
    };
    let topic = cluster.config.topic;
    let fetch = PartitionFetch::new(
        topic,
        Uuid::ZERO,
        partition,
        offset,
        position.leader_epoch(),
        limits,
    );
    let entry = fetch.topic();
    let request = fetch.request(&entry);
    let node = cluster.conns[conn].node();
    let base = cluster.rx.as_ptr() as usize;
    let timeout = cluster.config.request_timeout + wait.max_wait;
    let response: FetchResponse<'_> = cluster
        .request_at(conn, &request, Some(version), timeout)
        .await?;
    let context = |e: Error| e.with_api(ApiKey::Fetch).with_broker(node);
    let data = FetchedPartition::find(&response, version, topic, Uuid::ZERO, partition)
        .map_err(|e| context(e.into()))?;
    if data.error.is_err() {
        return Err(context(ErrorKind::Kafka(data.error).into()));
    }
    // Where the records lie in the response buffer: kept as a range so
    // records can be handed out borrowing that buffer later.
    let start = (data.records.as_ptr() as usize).wrapping_sub(base);
    Ok(Fetched {
        records: if data.records.is_empty() {
            0..0
        } else {
            start..start + data.records.len()
        },
        offset,
        high_watermark: data.high_watermark,
    })
}

/// Asks `partition`'s leader (on `conn`) for the offset at `timestamp`
/// (-2 first, -1 last).
async fn list_offset<
    R: Resolve,
    const CONNS: usize,
    const BROKERS: usize,
    const PARTITIONS: usize,
>(
    cluster: &mut Cluster<'_, R, CONNS, BROKERS, PARTITIONS>,
    conn: usize,
    partition: i32,
    timestamp: i64,
    leader_epoch: i32,
) -> Result<i64> {
    let node = cluster.conns[conn].node();
    let version = cluster.conns[conn].version(ApiKey::ListOffsets)?;
    let topic = cluster.config.topic;
    let lookup = PartitionListOffsets::new(topic, partition, timestamp, leader_epoch, false, 0);
    let entry = lookup.topic();
    let request = lookup.request(&entry);
    let response = cluster.request(conn, &request).await?;
    let context = |e: Error| e.with_api(ApiKey::ListOffsets).with_broker(node);
    let found =
        ListedOffset::find(&response, version, topic, partition).map_err(|e| context(e.into()))?;
    if found.error.is_err() {
        return Err(context(ErrorKind::Kafka(found.error).into()));
    }
    Ok(found.offset)
}

/// What to do after a failed fetch of the partition at `position`: core's
/// decision for a Kafka error code ([`Position::on_error`], which moves an
/// offset out of range to its reset lookup); a lost connection or a
/// timeout refreshes metadata (the leader may have moved); protocol, TLS
/// and SASL failures fail (asking again does not help).
pub(crate) fn fetch_failed(position: &mut Position, error: &Error) -> FetchErrorAction {
    match error.kind {
        ErrorKind::Kafka(code) => position.on_error(code),
        _ if !error.is_retriable() => FetchErrorAction::Fail,
        _ => FetchErrorAction::RefreshMetadata,
    }
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
