//! ListOffsets: earliest, latest, by timestamp, max timestamp.

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
    let mut found: Vec<Vec<(i32, Found)>> = Vec::new();
    for t in req.topics.iter() {
        let mut parts = Vec::new();
        for p in t.partitions.iter() {
            parts.push((
                p.partition_index,
                lookup(
                    cx,
                    t.name,
                    p.partition_index,
                    p.timestamp,
                    p.current_leader_epoch,
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

fn lookup(cx: &mut Cx<'_>, topic: &str, index: i32, timestamp: i64, leader_epoch: i32) -> Found {
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
    match timestamp {
        LATEST => (ErrorCode::NONE, -1, log.end_offset(), epoch),
        EARLIEST | EARLIEST_LOCAL | EARLIEST_PENDING_UPLOAD => {
            (ErrorCode::NONE, -1, log.log_start(), epoch)
        }
        MAX_TIMESTAMP => match log.max_timestamp_offset() {
            Some((offset, ts)) => (ErrorCode::NONE, ts, offset, epoch),
            None => (ErrorCode::NONE, -1, -1, epoch),
        },
        ts if ts >= 0 => match log.offset_for_timestamp(ts) {
            Some((offset, ts)) => (ErrorCode::NONE, ts, offset, epoch),
            None => (ErrorCode::NONE, -1, -1, epoch),
        },
        _ => err(ErrorCode::INVALID_REQUEST),
    }
}
