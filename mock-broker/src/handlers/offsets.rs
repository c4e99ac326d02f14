//! OffsetCommit and OffsetFetch (including the v8+ multi-group form).

use microkafka_core::protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetCommitResponsePartition,
    OffsetCommitResponseTopic, OffsetFetchRequest, OffsetFetchResponse, OffsetFetchResponseGroup,
    OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use microkafka_core::protocol::ApiKey;
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;

use super::{Answer, Cx};
use crate::group::{Commit, Committed};

pub(crate) fn commit(cx: &mut Cx<'_>, req: OffsetCommitRequest<'_>) -> Answer {
    let who = Commit {
        group_id: req.group_id,
        // v0 commits outside any group.
        generation: if cx.version == 0 {
            -1
        } else {
            req.generation_id_or_member_epoch
        },
        member_id: req.member_id,
        instance_id: req.group_instance_id,
    };
    // Kafka drops unknown topics and partitions (UNKNOWN_TOPIC_OR_PARTITION)
    // before asking the coordinator; with nothing left, it asks nothing, so
    // no group is created or checked.
    let any_known = req.topics.iter().any(|t| {
        t.partitions.iter().any(|p| {
            cx.cluster
                .topics
                .partition(t.name, p.partition_index)
                .is_some()
        })
    });
    let version = cx.version;
    let request_error = cx.forced.or_else(|| {
        if !any_known {
            return None;
        }
        cx.check_coordinator(req.group_id).or_else(|| {
            let cluster = &mut *cx.cluster;
            match cluster.groups.check_commit(&who, &mut cluster.ids, cx.now) {
                Ok(()) => None,
                // Before v9 Kafka answers an unknown group ILLEGAL_GENERATION.
                Err(ErrorCode::GROUP_ID_NOT_FOUND) if version < 9 => {
                    Some(ErrorCode::ILLEGAL_GENERATION)
                }
                Err(error) => Some(error),
            }
        })
    });
    let mut results: Vec<Vec<OffsetCommitResponsePartition>> = Vec::new();
    for t in req.topics.iter() {
        let mut parts = Vec::new();
        for p in t.partitions.iter() {
            let unknown = cx
                .cluster
                .topics
                .partition(t.name, p.partition_index)
                .is_none();
            let error = cx
                .forced
                .or(unknown.then_some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION))
                .or(request_error)
                .or_else(|| cx.partition_fault(ApiKey::OffsetCommit, t.name, p.partition_index))
                .unwrap_or_else(|| {
                    let committed = Committed {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.committed_metadata.map(str::to_owned),
                    };
                    cx.cluster.groups.store_offset(
                        req.group_id,
                        t.name,
                        p.partition_index,
                        committed,
                    )
                });
            parts.push(OffsetCommitResponsePartition {
                partition_index: p.partition_index,
                error_code: error,
            });
        }
        results.push(parts);
    }
    let topics: Vec<OffsetCommitResponseTopic<'_>> = req
        .topics
        .iter()
        .zip(&results)
        .map(|(t, parts)| OffsetCommitResponseTopic {
            name: t.name,
            partitions: Array::new(parts),
        })
        .collect();
    cx.respond(&OffsetCommitResponse {
        topics: Array::new(&topics),
        ..Default::default()
    })
}

/// One partition's committed offset, as OffsetFetch reports it.
struct Row {
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: Option<String>,
    error: ErrorCode,
}

impl Row {
    /// No committed offset: -1 and Kafka's empty metadata (`None` with an error).
    fn missing(partition: i32, error: ErrorCode) -> Self {
        Row {
            partition,
            offset: -1,
            leader_epoch: -1,
            metadata: error.is_ok().then(String::new),
            error,
        }
    }

    /// An offset an open transaction commits, asked with `require_stable`
    /// (Kafka's `UNSTABLE_OFFSET_COMMIT`: the client retries).
    fn unstable(partition: i32) -> Self {
        Row {
            partition,
            offset: -1,
            leader_epoch: -1,
            metadata: Some(String::new()),
            error: ErrorCode::UNSTABLE_OFFSET_COMMIT,
        }
    }

    fn committed(partition: i32, c: &Committed) -> Self {
        Row {
            partition,
            offset: c.offset,
            leader_epoch: c.leader_epoch,
            metadata: c.metadata.clone(),
            error: ErrorCode::NONE,
        }
    }
}

/// The rows of one group, by topic.
type TopicRows = Vec<(String, Vec<Row>)>;

/// Reads a group's offsets for `topics` (`None`: every committed one);
/// with `require_stable` (v7+), offsets an open transaction commits are
/// `UNSTABLE_OFFSET_COMMIT` (without it, the last committed ones show).
fn read_group(
    cx: &mut Cx<'_>,
    group: &str,
    topics: Option<Vec<(&str, Vec<i32>)>>,
    require_stable: bool,
) -> Result<TopicRows, ErrorCode> {
    if let Some(error) = cx.forced.or_else(|| cx.check_coordinator(group)) {
        return Err(error);
    }
    let Some(topics) = topics else {
        let mut rows: TopicRows = Vec::new();
        let groups = &cx.cluster.groups;
        for (topic, partition, c) in groups.all_committed(group) {
            let row = if require_stable && groups.has_pending(group, topic, partition) {
                Row::unstable(partition)
            } else {
                Row::committed(partition, c)
            };
            match rows.last_mut() {
                Some((t, parts)) if t == topic => parts.push(row),
                _ => rows.push((topic.to_owned(), vec![row])),
            }
        }
        return Ok(rows);
    };
    Ok(topics
        .into_iter()
        .map(|(topic, partitions)| {
            let rows = partitions
                .into_iter()
                .map(|partition| {
                    let fault = cx.partition_fault(ApiKey::OffsetFetch, topic, partition);
                    let groups = &cx.cluster.groups;
                    let committed = groups.committed(group, topic, partition);
                    let unstable = require_stable && groups.has_pending(group, topic, partition);
                    match (fault, committed) {
                        (Some(error), _) => Row::missing(partition, error),
                        (None, _) if unstable => Row::unstable(partition),
                        (None, Some(c)) => Row::committed(partition, c),
                        (None, None) => Row::missing(partition, ErrorCode::NONE),
                    }
                })
                .collect();
            (topic.to_owned(), rows)
        })
        .collect())
}

pub(crate) fn fetch(cx: &mut Cx<'_>, req: OffsetFetchRequest<'_>) -> Answer {
    if cx.version >= 8 {
        return fetch_groups(cx, &req);
    }
    let requested: Option<Vec<(&str, Vec<i32>)>> = req.topics.map(|ts| {
        ts.iter()
            .map(|t| (t.name, t.partition_indexes.iter().collect()))
            .collect()
    });
    let stable = req.require_stable && cx.version >= 7;
    let (error, rows) = match read_group(cx, req.group_id, requested.clone(), stable) {
        Ok(rows) => (ErrorCode::NONE, rows),
        // v2+ carry a group error at the top; v0-1 only per partition.
        Err(error) if cx.version >= 2 => (error, Vec::new()),
        Err(error) => {
            let rows = requested
                .unwrap_or_default()
                .into_iter()
                .map(|(t, parts)| {
                    let rows = parts
                        .into_iter()
                        .map(|partition| Row::missing(partition, error))
                        .collect();
                    (t.to_owned(), rows)
                })
                .collect();
            (ErrorCode::NONE, rows)
        }
    };
    let partitions: Vec<Vec<OffsetFetchResponsePartition<'_>>> = rows
        .iter()
        .map(|(_, rows)| {
            rows.iter()
                .map(|r| OffsetFetchResponsePartition {
                    partition_index: r.partition,
                    committed_offset: r.offset,
                    committed_leader_epoch: r.leader_epoch,
                    metadata: r.metadata.as_deref(),
                    error_code: r.error,
                })
                .collect()
        })
        .collect();
    let topics: Vec<OffsetFetchResponseTopic<'_>> = rows
        .iter()
        .zip(&partitions)
        .map(|((name, _), parts)| OffsetFetchResponseTopic {
            name,
            partitions: Array::new(parts),
        })
        .collect();
    cx.respond(&OffsetFetchResponse {
        topics: Array::new(&topics),
        error_code: error,
        ..Default::default()
    })
}

fn fetch_groups(cx: &mut Cx<'_>, req: &OffsetFetchRequest<'_>) -> Answer {
    let mut groups: Vec<(&str, ErrorCode, TopicRows)> = Vec::new();
    for g in req.groups.iter() {
        let requested = g.topics.map(|ts| {
            ts.iter()
                .map(|t| (t.name, t.partition_indexes.iter().collect()))
                .collect()
        });
        match read_group(cx, g.group_id, requested, req.require_stable) {
            Ok(rows) => groups.push((g.group_id, ErrorCode::NONE, rows)),
            Err(error) => groups.push((g.group_id, error, Vec::new())),
        }
    }
    let partitions: Vec<Vec<Vec<OffsetFetchResponsePartitions<'_>>>> = groups
        .iter()
        .map(|(_, _, topics)| {
            topics
                .iter()
                .map(|(_, rows)| {
                    rows.iter()
                        .map(|r| OffsetFetchResponsePartitions {
                            partition_index: r.partition,
                            committed_offset: r.offset,
                            committed_leader_epoch: r.leader_epoch,
                            metadata: r.metadata.as_deref(),
                            error_code: r.error,
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let topics: Vec<Vec<OffsetFetchResponseTopics<'_>>> = groups
        .iter()
        .zip(&partitions)
        .map(|((_, _, topics), parts)| {
            topics
                .iter()
                .zip(parts)
                .map(|((name, _), parts)| OffsetFetchResponseTopics {
                    name,
                    partitions: Array::new(parts),
                })
                .collect()
        })
        .collect();
    let body_groups: Vec<OffsetFetchResponseGroup<'_>> = groups
        .iter()
        .zip(&topics)
        .map(|((id, error, _), topics)| OffsetFetchResponseGroup {
            group_id: id,
            topics: Array::new(topics),
            error_code: *error,
        })
        .collect();
    cx.respond(&OffsetFetchResponse {
        groups: Array::new(&body_groups),
        ..Default::default()
    })
}
