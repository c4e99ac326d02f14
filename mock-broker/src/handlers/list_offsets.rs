//! ListOffsets: earliest, latest, by timestamp, max timestamp.

use std::collections::{HashMap, HashSet};

use microkafka_core::protocol::messages::{
    ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopicResponse,
};
use microkafka_core::protocol::ApiKey;
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;

use super::{Answer, Cx};

/// Special timestamps of ListOffsets.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
/// KIP-405 (tiered storage): nothing is tiered here, so both mean "earliest".
const EARLIEST_LOCAL: i64 = -4;
const EARLIEST_PENDING_UPLOAD: i64 = -5;

/// One partition's answer: `(error, timestamp, offset, leader epoch)`.
type Found = (ErrorCode, i64, i64, i32);

pub(crate) fn handle(cx: &mut Cx<'_>, req: ListOffsetsRequest<'_>) -> Answer {
    // A partition named more than once gets one INVALID_REQUEST answer, at
    // its first mention, as Kafka answers (so repeats cannot multiply the work).
    let mut named: HashMap<(&str, i32), usize> = HashMap::new();
    for t in req.topics.iter() {
        for p in t.partitions.iter() {
            *named.entry((t.name, p.partition_index)).or_insert(0) += 1;
        }
    }
    let mut found: Vec<Vec<(i32, Found)>> = Vec::new();
    let mut answered: HashSet<(&str, i32)> = HashSet::new();
    for t in req.topics.iter() {
        let mut parts = Vec::new();
        for p in t.partitions.iter() {
            if named[&(t.name, p.partition_index)] > 1 {
                if answered.insert((t.name, p.partition_index)) {
                    parts.push((p.partition_index, (ErrorCode::INVALID_REQUEST, -1, -1, -1)));
                }
                continue;
            }
            parts.push((
                p.partition_index,
                lookup(
                    cx,
                    t.name,
                    p.partition_index,
                    p.timestamp,
                    p.current_leader_epoch,
                    req.isolation_level == 1 && cx.version >= 2,
                ),
            ));
        }
        found.push(parts);
    }
    let old_style: Vec<Vec<[i64; 1]>> = found
        .iter()
        .map(|parts| parts.iter().map(|(_, f)| [f.2]).collect())
        .collect();
    let v0 = cx.version == 0;
    let partitions: Vec<Vec<ListOffsetsPartitionResponse<'_>>> = found
        .iter()
        .zip(&old_style)
        .map(|(parts, olds)| {
            parts
                .iter()
                .zip(olds)
                .map(
                    |(&(index, (error, timestamp, offset, leader_epoch)), old)| {
                        ListOffsetsPartitionResponse {
                            partition_index: index,
                            error_code: error,
                            // v0 answers a list of offsets; none on error.
                            old_style_offsets: if v0 && error.is_ok() && offset >= 0 {
                                Array::new(old)
                            } else {
                                Array::default()
                            },
                            timestamp,
                            offset,
                            leader_epoch,
                        }
                    },
                )
                .collect()
        })
        .collect();
    let topics: Vec<ListOffsetsTopicResponse<'_>> = req
        .topics
        .iter()
        .zip(&partitions)
        .map(|(t, parts)| ListOffsetsTopicResponse {
            name: t.name,
            partitions: Array::new(parts),
        })
        .collect();
    let body = ListOffsetsResponse {
        topics: Array::new(&topics),
        ..Default::default()
    };
    cx.respond(&body)
}

fn lookup(
    cx: &mut Cx<'_>,
    topic: &str,
    index: i32,
    timestamp: i64,
    leader_epoch: i32,
    read_committed: bool,
) -> Found {
    let err = |e| (e, -1, -1, -1);
    if let Some(error) = cx.partition_fault(ApiKey::ListOffsets, topic, index) {
        return err(error);
    }
    let Some(p) = cx.cluster.topics.partition(topic, index) else {
        return err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
    };
    if p.leader != cx.broker {
        return err(ErrorCode::NOT_LEADER_OR_FOLLOWER);
    }
    if leader_epoch >= 0 && leader_epoch < p.leader_epoch {
        return err(ErrorCode::FENCED_LEADER_EPOCH);
    }
    if leader_epoch > p.leader_epoch {
        return err(ErrorCode::UNKNOWN_LEADER_EPOCH);
    }
    let epoch = p.leader_epoch;
    let log = &p.log;
    let max_inflated = cx.cluster.config.limits.max_inflated_bytes;
    match timestamp {
        // read_committed: the last stable offset.
        LATEST if read_committed => (ErrorCode::NONE, -1, p.last_stable_offset(), epoch),
        LATEST => (ErrorCode::NONE, -1, log.end_offset(), epoch),
        EARLIEST | EARLIEST_LOCAL | EARLIEST_PENDING_UPLOAD => {
            (ErrorCode::NONE, -1, log.log_start(), epoch)
        }
        // Nothing found: Kafka answers no leader epoch either.
        MAX_TIMESTAMP => match log.max_timestamp_offset(max_inflated) {
            Some((offset, ts)) => (ErrorCode::NONE, ts, offset, epoch),
            None => (ErrorCode::NONE, -1, -1, -1),
        },
        ts if ts >= 0 => match log.offset_for_timestamp(ts, max_inflated) {
            Some((offset, ts)) => (ErrorCode::NONE, ts, offset, epoch),
            None => (ErrorCode::NONE, -1, -1, -1),
        },
        // A special timestamp this broker does not know (Kafka: UNSUPPORTED_VERSION).
        _ => err(ErrorCode::UNSUPPORTED_VERSION),
    }
}
