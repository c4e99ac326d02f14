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
use crate::txn::Phase;

/// Offset of the magic byte in both record formats.
const MAGIC_AT: usize = 16;
/// Offset and length (base offset + length field) before a batch's body.
const LOG_OVERHEAD: usize = 12;
/// The smallest legacy message after the log overhead (Kafka's `RECORD_OVERHEAD_V0`).
const RECORD_OVERHEAD_V0: i64 = 14;

/// Kafka's default `message.max.bytes`, the `max.message.bytes` of topics
/// that do not set their own: 1 MiB plus the 12-byte log overhead.
pub(crate) const DEFAULT_MAX_MESSAGE_BYTES: usize = 1_048_588;

/// What producing to one partition gave.
struct Produced {
    error: ErrorCode,
    message: Option<&'static str>,
    base_offset: i64,
    log_append_time: i64,
    log_start: i64,
    leader: Option<(i32, i32)>,
}

impl Produced {
    fn error(error: ErrorCode) -> Self {
        Produced {
            error,
            message: None,
            base_offset: -1,
            log_append_time: -1,
            log_start: -1,
            leader: None,
        }
    }
}

/// Why a partition's records were refused: the error, the message Kafka
/// sends with it, and whether the answer carries the log start offset
/// (Kafka fills it for errors raised by the log itself, such as sequence
/// errors, not for request validation).
struct Refused {
    error: ErrorCode,
    message: Option<&'static str>,
    with_log_start: bool,
}

impl From<ErrorCode> for Refused {
    fn from(error: ErrorCode) -> Self {
        Refused {
            error,
            message: None,
            with_log_start: false,
        }
    }
}

/// Where a batch was stored: its base offset and, for a duplicate of a batch
/// already stored, the append time Kafka reports for it.
struct Stored {
    base_offset: i64,
    log_append_time: i64,
}

/// Kafka's batch iterator over a record set (`ByteBufferLogInputStream`),
/// in its order: whether the set starts with a whole entry. A set too short
/// for an entry header, or whose first entry is cut off, holds no batch at
/// all; a length field too small for any entry, or an unknown magic, is
/// corrupt (with Kafka's message).
fn holds_an_entry(records: &[u8]) -> Result<bool, Refused> {
    let corrupt = |message| Refused {
        error: ErrorCode::CORRUPT_MESSAGE,
        message: Some(message),
        with_log_start: false,
    };
    let Some(size) = records.get(8..LOG_OVERHEAD) else {
        return Ok(false);
    };
    let size = i64::from(i32::from_be_bytes([size[0], size[1], size[2], size[3]]));
    if size < RECORD_OVERHEAD_V0 {
        return Err(corrupt(
            "Record size is less than the minimum record overhead (14)",
        ));
    }
    let Some(&magic) = records.get(MAGIC_AT) else {
        return Ok(false);
    };
    if !(0..=2).contains(&(magic as i8)) {
        return Err(corrupt("Invalid magic found in record"));
    }
    Ok(records.len() as i64 >= LOG_OVERHEAD as i64 + size)
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
                produce_partition(
                    cx,
                    req.transactional_id,
                    topic.name,
                    p.index,
                    p.records.unwrap_or_default(),
                )
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
                    error_message: r.message,
                    base_offset: r.base_offset,
                    log_append_time_ms: r.log_append_time,
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
        throttle_time_ms: cx.throttle_ms,
    };
    cx.respond(&body)
}

fn produce_partition(
    cx: &mut Cx<'_>,
    transactional_id: Option<&str>,
    topic: &str,
    index: i32,
    records: &[u8],
) -> Produced {
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
    let before = partition.log.size_bytes();
    let log_start = partition.log.log_start();
    // Produce v3+ must carry exactly one batch: an empty, short or cut-off
    // record set has none (Kafka: INVALID_RECORD, before any other check).
    let stored = match holds_an_entry(records) {
        Err(refused) => Err(refused),
        Ok(false) if version >= 3 => Err(Refused::from(ErrorCode::INVALID_RECORD)),
        Ok(_) => match records.get(MAGIC_AT).map(|&m| m as i8) {
            Some(2) => verify_transactional(cx, transactional_id, topic, index, records)
                .and_then(|()| append_batches(cx, topic, index, records, version)),
            Some(0 | 1) if version < 3 => append_legacy(cx, topic, index, records)
                .map(|base_offset| Stored {
                    base_offset,
                    log_append_time: -1,
                })
                .map_err(Refused::from),
            // KIP-896 aside, Produce v3+ carries only magic 2 (Kafka: INVALID_RECORD).
            Some(0 | 1) => Err(Refused::from(ErrorCode::INVALID_RECORD)),
            // An unknown magic was refused above; what is left is too short (v0-2).
            _ => Err(Refused::from(ErrorCode::CORRUPT_MESSAGE)),
        },
    };
    match stored {
        Ok(Stored {
            base_offset,
            log_append_time,
        }) => {
            cx.cluster.arrivals.appended(topic, index);
            let after = cx
                .cluster
                .topics
                .partition(topic, index)
                .map_or(before, |p| p.log.size_bytes());
            let max = cx.cluster.config.limits.max_retained_bytes;
            cx.cluster.topics.log_changed(before, after, max);
            let log_start = cx
                .cluster
                .topics
                .partition(topic, index)
                .map_or(-1, |p| p.log.log_start());
            Produced {
                error: ErrorCode::NONE,
                message: None,
                base_offset,
                log_append_time,
                log_start,
                leader: None,
            }
        }
        Err(refused) => Produced {
            message: refused.message,
            log_start: if refused.with_log_start {
                log_start
            } else {
                -1
            },
            ..Produced::error(refused.error)
        },
    }
}

/// A transactional batch must come with the transactional id of an open
/// transaction this partition was added to, from its producer id and
/// epoch, as Kafka 4.x's leader verifies with the transaction coordinator
/// before appending (KIP-890): no transactional id in the request is
/// `TRANSACTIONAL_ID_AUTHORIZATION_FAILED`; an id the coordinator does not
/// know for this producer `INVALID_PRODUCER_ID_MAPPING`; an older epoch
/// `INVALID_PRODUCER_EPOCH`; a partition not in an open transaction
/// `TRANSACTION_ABORTABLE` (`INVALID_TXN_STATE` before Produce v11).
fn verify_transactional(
    cx: &mut Cx<'_>,
    transactional_id: Option<&str>,
    topic: &str,
    index: i32,
    records: &[u8],
) -> Result<(), Refused> {
    let Ok(first) = RecordBatch::new_checked(records) else {
        return Ok(()); // refused by the batch checks
    };
    if !first.attributes().is_transactional() {
        return Ok(());
    }
    let id = transactional_id.ok_or(ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)?;
    let max = cx.cluster.config.limits.max_producers_per_partition;
    if let Some(p) = cx.cluster.topics.partition_mut(topic, index) {
        p.start_verification(first.producer_id(), first.base_sequence(), max);
    }
    let meta = cx
        .cluster
        .txns
        .get(id)
        .filter(|m| m.producer_id == first.producer_id())
        .ok_or(ErrorCode::INVALID_PRODUCER_ID_MAPPING)?;
    if first.producer_epoch() != meta.epoch {
        return Err(ErrorCode::INVALID_PRODUCER_EPOCH.into());
    }
    let added = meta.phase == Phase::Ongoing
        && meta
            .partitions
            .iter()
            .any(|(t, p)| t == topic && *p == index);
    if !added {
        return Err(if cx.version >= 11 {
            ErrorCode::TRANSACTION_ABORTABLE
        } else {
            ErrorCode::INVALID_TXN_STATE
        }
        .into());
    }
    Ok(())
}

/// Validates then stores every magic-2 batch of `records`; returns the first
/// base offset. Nothing is stored unless every batch is valid, checked in
/// Kafka's order: one batch per request from v3, a zero base offset, the
/// topic's `max.message.bytes`, the CRC, the header (Kafka's `LogValidator`:
/// a record count that matches the offset range, no control batch from a
/// client) and, for idempotent producers, every sequence, checked as if the
/// earlier batches of the set were stored.
fn append_batches(
    cx: &mut Cx<'_>,
    topic: &str,
    index: i32,
    records: &[u8],
    version: i16,
) -> Result<Stored, Refused> {
    let max_message_bytes = cx
        .cluster
        .topics
        .get(topic)
        .and_then(|t| t.max_message_bytes)
        .unwrap_or(DEFAULT_MAX_MESSAGE_BYTES);
    let mut batches = Vec::with_capacity(1);
    let mut rest = records;
    while !rest.is_empty() {
        let batch = RecordBatch::new_checked(rest).map_err(|_| ErrorCode::CORRUPT_MESSAGE)?;
        if batch.base_offset() != 0 {
            // Kafka: "The baseOffset of the record batch in the append to ...
            // should be 0" (a client never assigns offsets). Raised by the
            // log, so the answer carries the log start offset.
            return Err(Refused {
                error: ErrorCode::INVALID_RECORD,
                message: None,
                with_log_start: true,
            });
        }
        if batch.total_len() > max_message_bytes {
            return Err(ErrorCode::MESSAGE_TOO_LARGE.into());
        }
        batch.verify_crc().map_err(|_| ErrorCode::CORRUPT_MESSAGE)?;
        let attributes = batch.attributes();
        let compression = attributes
            .compression()
            .map_err(|_| ErrorCode::CORRUPT_MESSAGE)?;
        if compression == Compression::Zstd && version < 7 {
            return Err(ErrorCode::UNSUPPORTED_COMPRESSION_TYPE.into());
        }
        if attributes.is_control() {
            // Control batches are written by transaction coordinators, never by clients.
            return Err(ErrorCode::INVALID_RECORD.into());
        }
        let count = batch.records_count();
        if count <= 0 || i64::from(batch.last_offset_delta()) + 1 != i64::from(count) {
            // Kafka: "Inconsistent batch offset range and count of records".
            return Err(ErrorCode::INVALID_RECORD.into());
        }
        let len = batch.total_len();
        batches.push((&rest[..len], batch));
        rest = &rest[len..];
    }
    if version >= 3 && batches.len() != 1 {
        return Err(ErrorCode::INVALID_RECORD.into());
    }
    let (now, keep) = (cx.now, cx.cluster.producer_retention());
    let Some(partition) = cx.cluster.topics.partition_mut(topic, index) else {
        return Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.into());
    };
    // Pass 1: decide every batch before storing any.
    let mut plan: Vec<Sequence> = Vec::with_capacity(batches.len());
    // Producers already seen in this set: (epoch, last sequence planned).
    let mut planned: Vec<(i64, i16, i32)> = Vec::new();
    for (_, batch) in &batches {
        let producer = batch.producer_id();
        if producer < 0 {
            plan.push(Sequence::Append);
            continue;
        }
        let (epoch, first) = (batch.producer_epoch(), batch.base_sequence());
        let last = first.wrapping_add(batch.last_offset_delta());
        let decision = match planned.iter_mut().find(|(id, _, _)| *id == producer) {
            Some((_, e, prev)) => {
                if epoch != *e {
                    Sequence::Reject(ErrorCode::INVALID_PRODUCER_EPOCH)
                } else if first != (prev.wrapping_add(1) & i32::MAX) {
                    Sequence::Reject(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
                } else {
                    *prev = last;
                    Sequence::Append
                }
            }
            None if !partition.verified_sequence(producer, first) => {
                Sequence::Reject(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
            }
            None => {
                let d = partition.check_sequence(producer, epoch, first, last);
                if d == Sequence::Append {
                    planned.push((producer, epoch, last));
                }
                d
            }
        };
        if let Sequence::Reject(error) = decision {
            // Raised by the log, so Kafka's answer carries the log start offset.
            return Err(Refused {
                error,
                message: None,
                with_log_start: true,
            });
        }
        plan.push(decision);
    }
    // Pass 2: store.
    let epoch = partition.leader_epoch;
    let mut first = None;
    for ((bytes, batch), decision) in batches.into_iter().zip(plan) {
        if let Sequence::Duplicate(base) = decision {
            // Kafka answers a duplicate with the batch's max timestamp in
            // log_append_time_ms, whatever the topic's timestamp type.
            first.get_or_insert(Stored {
                base_offset: base,
                log_append_time: batch.max_timestamp(),
            });
            continue;
        }
        let base = partition
            .log
            .append_batch(bytes, epoch)
            .ok_or(ErrorCode::CORRUPT_MESSAGE)?;
        let producer = batch.producer_id();
        if producer >= 0 && batch.attributes().is_transactional() {
            // The transaction's first batch here holds the last stable offset.
            partition.open_txns.entry(producer).or_insert(base);
        }
        if producer >= 0 {
            let seq_first = batch.base_sequence();
            let seq_last = seq_first.wrapping_add(batch.last_offset_delta());
            partition.record_sequence(
                producer,
                batch.producer_epoch(),
                seq_first,
                seq_last,
                base,
                now,
                keep,
            );
        }
        first.get_or_insert(Stored {
            base_offset: base,
            log_append_time: -1,
        });
    }
    first.ok_or_else(|| ErrorCode::CORRUPT_MESSAGE.into())
}

/// Validates then stores a legacy message set (see [`crate::legacy`]).
fn append_legacy(
    cx: &mut Cx<'_>,
    topic: &str,
    index: i32,
    records: &[u8],
) -> Result<i64, ErrorCode> {
    let max_inflated = cx.cluster.config.limits.max_inflated_bytes;
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
