//! A group's committed offsets read, written and deleted by an admin (on
//! the group's coordinator), and groups deleted.

use std::collections::BTreeMap;
use std::time::Duration;

use microkafka_core::protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, OffsetCommitRequest, OffsetCommitRequestPartition,
    OffsetCommitRequestTopic, OffsetCommitResponse, OffsetDeleteRequest,
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
    OffsetFetchResponse,
};
use microkafka_core::protocol::ApiKey;
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;

use crate::broker::BrokerConn;
use crate::error::{Error, Result};

/// A group's committed offset of one partition (kafka-go's
/// `OffsetFetchPartition`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The committed offset; -1 when the group has none for the partition.
    pub offset: i64,
    /// The metadata committed with it.
    pub metadata: String,
    /// The partition's error, if any.
    pub error: Option<ErrorCode>,
}

/// One partition's lag in a group: how far its committed offset is behind
/// the partition's end (`kafka-consumer-groups.sh --describe`'s `LAG`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionLag {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The committed offset, -1 when none.
    pub committed: i64,
    /// The partition's high watermark (the offset the next message gets).
    pub high_watermark: i64,
    /// `high_watermark - committed`; `None` without a committed offset
    /// (Kafka's tool prints `-`).
    pub lag: Option<i64>,
}

/// Where [`Client::reset_offsets`](crate::Client::reset_offsets) moves a
/// group's offsets (`kafka-consumer-groups.sh --reset-offsets`'s
/// `--to-earliest`, `--to-latest`, `--to-datetime`, `--to-offset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetReset {
    /// The first offset still in each partition.
    Earliest,
    /// The end of each partition (skip everything there is).
    Latest,
    /// The first offset whose timestamp (ms since the epoch) is at or after
    /// this one; the end for a partition with nothing that recent.
    Time(i64),
    /// This offset, clamped into each partition's `[earliest, latest]`
    /// (as Kafka's tool does).
    Offset(i64),
}

/// Reads `group`'s committed offsets of `topics` (`None`: every partition
/// with a committed offset) from its coordinator `conn`.
pub(crate) async fn offset_fetch(
    conn: &BrokerConn,
    group: &str,
    topics: Option<&[(&str, Vec<i32>)]>,
    timeout: Duration,
) -> Result<Vec<CommittedOffset>> {
    let old: Option<Vec<OffsetFetchRequestTopic<'_>>> = topics.map(|ts| {
        ts.iter()
            .map(|(name, parts)| OffsetFetchRequestTopic {
                name,
                partition_indexes: Array::new(parts),
            })
            .collect()
    });
    let new: Option<Vec<OffsetFetchRequestTopics<'_>>> = topics.map(|ts| {
        ts.iter()
            .map(|(name, parts)| OffsetFetchRequestTopics {
                name,
                partition_indexes: Array::new(parts),
            })
            .collect()
    });
    // Both forms are filled: the negotiated version writes the one it has
    // (v0-7 name the group at the top, v8+ in a list of groups).
    let groups = [OffsetFetchRequestGroup {
        group_id: group,
        topics: new.as_deref().map(Array::new),
        ..Default::default()
    }];
    let request = OffsetFetchRequest {
        group_id: group,
        topics: old.as_deref().map(Array::new),
        groups: Array::new(&groups),
        require_stable: false,
    };
    let response = conn.request(&request, timeout).await?;
    let decoded: OffsetFetchResponse<'_> = response.decode()?;
    let ctx = |e: Error| e.with_api(ApiKey::OffsetFetch).with_broker(conn.broker());
    let mut out = Vec::new();
    if response.version() >= 8 {
        for g in decoded.groups.iter() {
            if g.error_code.is_err() {
                return Err(ctx(Error::kafka(g.error_code, None)));
            }
            for t in g.topics.iter() {
                for p in t.partitions.iter() {
                    out.push(CommittedOffset {
                        topic: t.name.to_owned(),
                        partition: p.partition_index,
                        offset: p.committed_offset,
                        metadata: p.metadata.unwrap_or_default().to_owned(),
                        error: p.error_code.is_err().then_some(p.error_code),
                    });
                }
            }
        }
    } else {
        if decoded.error_code.is_err() {
            return Err(ctx(Error::kafka(decoded.error_code, None)));
        }
        for t in decoded.topics.iter() {
            for p in t.partitions.iter() {
                out.push(CommittedOffset {
                    topic: t.name.to_owned(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    metadata: p.metadata.unwrap_or_default().to_owned(),
                    error: p.error_code.is_err().then_some(p.error_code),
                });
            }
        }
    }
    Ok(out)
}

/// Commits `offsets` (`(topic, partition, offset)`) for `group` as an admin
/// (generation -1, no member: the coordinator accepts it only while the
/// group has no members). The first partition error fails the call.
pub(crate) async fn offset_commit(
    conn: &BrokerConn,
    group: &str,
    offsets: &[(String, i32, i64)],
    timeout: Duration,
) -> Result<()> {
    let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition<'_>>> = BTreeMap::new();
    for (topic, partition, offset) in offsets {
        by_topic
            .entry(topic)
            .or_default()
            .push(OffsetCommitRequestPartition {
                partition_index: *partition,
                committed_offset: *offset,
                committed_metadata: Some(""),
                ..Default::default()
            });
    }
    let topics: Vec<OffsetCommitRequestTopic<'_>> = by_topic
        .iter()
        .map(|(name, parts)| OffsetCommitRequestTopic {
            name,
            partitions: Array::new(parts),
        })
        .collect();
    let request = OffsetCommitRequest {
        group_id: group,
        generation_id_or_member_epoch: -1,
        member_id: "",
        topics: Array::new(&topics),
        ..Default::default()
    };
    let response = conn.request(&request, timeout).await?;
    let decoded: OffsetCommitResponse<'_> = response.decode()?;
    for t in decoded.topics.iter() {
        for p in t.partitions.iter() {
            if p.error_code.is_err() {
                return Err(Error::kafka(p.error_code, None)
                    .with_api(ApiKey::OffsetCommit)
                    .with_broker(conn.broker())
                    .with_partition(t.name, p.partition_index));
            }
        }
    }
    Ok(())
}

/// Deletes `group`'s committed offsets of `partitions` of `topic`
/// (OffsetDelete). The group's error, or the first partition's
/// (`GROUP_SUBSCRIBED_TO_TOPIC` while a member consumes the topic), fails
/// the call.
pub(crate) async fn offset_delete(
    conn: &BrokerConn,
    group: &str,
    topic: &str,
    partitions: &[i32],
    timeout: Duration,
) -> Result<()> {
    let parts: Vec<OffsetDeleteRequestPartition> = partitions
        .iter()
        .map(|&partition_index| OffsetDeleteRequestPartition { partition_index })
        .collect();
    let topics = [OffsetDeleteRequestTopic {
        name: topic,
        partitions: Array::new(&parts),
    }];
    let request = OffsetDeleteRequest {
        group_id: group,
        topics: Array::new(&topics),
    };
    let response = conn.request(&request, timeout).await?;
    let decoded: OffsetDeleteResponse<'_> = response.decode()?;
    let ctx = |e: Error| e.with_api(ApiKey::OffsetDelete).with_broker(conn.broker());
    if decoded.error_code.is_err() {
        return Err(ctx(Error::kafka(decoded.error_code, None)));
    }
    for t in decoded.topics.iter() {
        for p in t.partitions.iter() {
            if p.error_code.is_err() {
                return Err(
                    ctx(Error::kafka(p.error_code, None)).with_partition(t.name, p.partition_index)
                );
            }
        }
    }
    Ok(())
}

/// Deletes `group` (DeleteGroups, on its coordinator).
pub(crate) async fn delete_group(conn: &BrokerConn, group: &str, timeout: Duration) -> Result<()> {
    let names = [group];
    let request = DeleteGroupsRequest {
        groups_names: Array::new(&names),
    };
    let response = conn.request(&request, timeout).await?;
    let decoded: DeleteGroupsResponse<'_> = response.decode()?;
    for r in decoded.results.iter() {
        if r.error_code.is_err() {
            return Err(Error::kafka(r.error_code, None)
                .with_api(ApiKey::DeleteGroups)
                .with_broker(conn.broker()));
        }
    }
    Ok(())
}
