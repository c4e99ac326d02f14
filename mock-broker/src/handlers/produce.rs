//! Produce: validate each partition's batches, assign offsets, store the bytes.
//!
//! The work per batch is what a broker must do and no more: one CRC-32C
//! pass over the batch, a header check, a copy into the log and two patched
//! fields. Records are never iterated or decompressed, so the mock keeps up
//! with the clients it tests. Legacy (magic 0/1) message sets get their
//! offsets patched per message, which is how that format stores them (see
//! [`crate::legacy`] for compressed ones).

use microkafka_core::protocol::messages::{
    PartitionProduceResponse, ProduceLeaderIdAndEpoch, ProduceNodeEndpoint, ProduceRequest,
    ProduceResponse, TopicProduceResponse,
};
use microkafka_core::protocol::ApiKey;
use microkafka_core::record::{Compression, RecordBatch};
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;

use super::{Answer, Cx};
use crate::legacy;
use crate::log::LegacySet;
use crate::topics::Sequence;

/// Offset of the magic byte in both record formats.
const MAGIC_AT: usize = 16;

/// What producing to one partition gave.
struct Produced {
    error: ErrorCode,
    base_offset: i64,
    log_start: i64,
    leader: Option<(i32, i32)>,
}

impl Produced {
    fn error(error: ErrorCode) -> Self {
        Produced {
            error,
            base_offset: -1,
            log_start: -1,
            leader: None,
        }
    }
}

pub(crate) fn handle(cx: &mut Cx<'_>, req: ProduceRequest<'_>) -> Answer {
    let acks_ok = matches!(req.acks, -1..=1);
    let mut topics: Vec<(&str, Vec<Produced>, Vec<i32>)> = Vec::with_capacity(req.topic_data.len());
    let mut any_error = false;
    for topic in req.topic_data.iter() {
        let mut results = Vec::with_capacity(topic.partition_data.len());
        let mut indexes = Vec::with_capacity(topic.partition_data.len());
        for p in topic.partition_data.iter() {
            let result = if acks_ok {
                produce_partition(cx, topic.name, p.index, p.records.unwrap_or_default())
            } else {
                Produced::error(ErrorCode::INVALID_REQUIRED_ACKS)
            };
            any_error |= result.error.is_err();
            results.push(result);
            indexes.push(p.index);
        }
        topics.push((topic.name, results, indexes));
    }
    if req.acks == 0 {
        // No response; on error Kafka closes the connection, the only way an
        // acks=0 producer learns something went wrong.
        return if any_error {
            Answer::Close(None)
        } else {
            Answer::Nothing
        };
    }
    let partitions: Vec<Vec<PartitionProduceResponse<'_>>> = topics
        .iter()
        .map(|(_, results, indexes)| {
            results
                .iter()
                .zip(indexes)
                .map(|(r, &index)| PartitionProduceResponse {
                    index,
                    error_code: r.error,
                    base_offset: r.base_offset,
                    log_start_offset: r.log_start,
                    current_leader: r
                        .leader
                        .map(|(leader_id, leader_epoch)| ProduceLeaderIdAndEpoch {
                            leader_id,
                            leader_epoch,
                        })
                        .unwrap_or_default(),
                    ..Default::default()
                })
                .collect()
        })
        .collect();
    let responses: Vec<TopicProduceResponse<'_>> = topics
        .iter()
        .zip(&partitions)
        .map(|((name, _, _), parts)| TopicProduceResponse {
            name,
            partition_responses: Array::new(parts),
        })
        .collect();
    // v10+: where the leaders named in NOT_LEADER_OR_FOLLOWER answers are.
    let mut leaders: Vec<i32> = topics
        .iter()
        .flat_map(|(_, r, _)| r.iter().filter_map(|r| r.leader.map(|l| l.0)))
        .filter(|&l| l >= 0)
        .collect();
    leaders.sort_unstable();
    leaders.dedup();
    let endpoints: Vec<ProduceNodeEndpoint<'_>> = leaders
        .iter()
        .filter_map(|&id| cx.cluster.broker(id))
        .map(|b| ProduceNodeEndpoint {
            node_id: b.node_id,
            host: &b.host,
            port: b.port,
            rack: None,
        })
        .collect();
    let body = ProduceResponse {
        responses: Array::new(&responses),
        node_endpoints: Array::new(&endpoints),
        ..Default::default()
    };
    cx.respond(&body)
}

fn produce_partition(cx: &mut Cx<'_>, topic: &str, index: i32, records: &[u8]) -> Produced {
    if let Some(error) = cx.partition_fault(ApiKey::Produce, topic, index) {
        return Produced::error(error);
    }
    let broker = cx.broker;
    let version = cx.version;
    let Some(partition) = cx.cluster.topics.partition(topic, index) else {
        return Produced::error(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
    };
    if partition.leader != broker {
        return Produced {
            leader: Some((partition.leader, partition.leader_epoch)),
            ..Produced::error(ErrorCode::NOT_LEADER_OR_FOLLOWER)
        };
    }
    let stored = match records.get(MAGIC_AT).map(|&m| m as i8) {
        Some(2) => append_batches(cx, topic, index, records, version),
        Some(0 | 1) if version < 3 => append_legacy(cx, topic, index, records),
        // KIP-896 aside, Produce v3+ carries only magic 2 (Kafka: INVALID_RECORD).
        Some(0 | 1) => Err(ErrorCode::INVALID_RECORD),
        _ => Err(ErrorCode::CORRUPT_MESSAGE),
    };
    match stored {
        Ok(base_offset) => {
            cx.cluster.data_arrived = true;
            let log_start = cx
                .cluster
                .topics
                .partition(topic, index)
                .map_or(-1, |p| p.log.log_start());
            Produced {
                error: ErrorCode::NONE,
                base_offset,
                log_start,
                leader: None,
            }
        }
        Err(error) => Produced::error(error),
    }
}

/// Validates then stores every magic-2 batch of `records`; returns the first
/// base offset. Nothing is stored unless every batch is valid.
fn append_batches(
    cx: &mut Cx<'_>,
    topic: &str,
    index: i32,
    records: &[u8],
    version: i16,
) -> Result<i64, ErrorCode> {
    let mut batches = Vec::with_capacity(1);
    let mut rest = records;
    while !rest.is_empty() {
        let batch = RecordBatch::new_verified(rest).map_err(|_| ErrorCode::CORRUPT_MESSAGE)?;
        let attributes = batch.attributes();
        let compression = attributes
            .compression()
            .map_err(|_| ErrorCode::CORRUPT_MESSAGE)?;
        if compression == Compression::Zstd && version < 7 {
            return Err(ErrorCode::UNSUPPORTED_COMPRESSION_TYPE);
        }
        if attributes.is_control() || batch.last_offset_delta() < 0 {
            // Control batches are written by transaction coordinators, never by clients.
            return Err(ErrorCode::INVALID_RECORD);
        }
        let len = batch.total_len();
        batches.push((&rest[..len], batch));
        rest = &rest[len..];
    }
    if version >= 3 && batches.len() != 1 {
        return Err(ErrorCode::INVALID_RECORD);
    }
    let Some(partition) = cx.cluster.topics.partition_mut(topic, index) else {
        return Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
    };
    let epoch = partition.leader_epoch;
    let mut first = None;
    for (bytes, batch) in batches {
        let producer = batch.producer_id();
        let (seq_first, seq_last) = (
            batch.base_sequence(),
            batch
                .base_sequence()
                .wrapping_add(batch.last_offset_delta()),
        );
        if producer >= 0 {
            match partition.check_sequence(producer, batch.producer_epoch(), seq_first, seq_last) {
                Sequence::Append => {}
                Sequence::Duplicate(base) => {
                    first.get_or_insert(base);
                    continue;
                }
                Sequence::Reject(error) => return first.ok_or(error),
            }
        }
        let base = partition
            .log
            .append_batch(bytes, epoch)
            .ok_or(ErrorCode::CORRUPT_MESSAGE)?;
        if producer >= 0 {
            partition.record_sequence(producer, batch.producer_epoch(), seq_first, seq_last, base);
        }
        first.get_or_insert(base);
    }
    first.ok_or(ErrorCode::CORRUPT_MESSAGE)
}

/// Validates then stores a legacy message set (see [`crate::legacy`]).
fn append_legacy(
    cx: &mut Cx<'_>,
    topic: &str,
    index: i32,
    records: &[u8],
) -> Result<i64, ErrorCode> {
    let max_inflated = cx.cluster.config.max_frame_size;
    let partition = cx
        .cluster
        .topics
        .partition_mut(topic, index)
        .ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)?;
    let prepared = legacy::prepare(records, partition.log.end_offset(), max_inflated)?;
    Ok(partition.log.append_legacy(&LegacySet {
        bytes: &prepared.bytes,
        entries: &prepared.entries,
        max_timestamp: prepared.max_timestamp,
    }))
}
