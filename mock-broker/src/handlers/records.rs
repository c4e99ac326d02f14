//! DeleteRecords: move partitions' log start offsets (on their leaders).

use microkafka_core::protocol::messages::{
    DeleteRecordsPartitionResult, DeleteRecordsRequest, DeleteRecordsResponse,
    DeleteRecordsTopicResult,
};
use microkafka_core::protocol::ApiKey;
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;

use super::{Answer, Cx};

pub(crate) fn delete_records(cx: &mut Cx<'_>, req: DeleteRecordsRequest<'_>) -> Answer {
    let mut results: Vec<Vec<DeleteRecordsPartitionResult>> = Vec::new();
    for t in req.topics.iter() {
        let mut parts = Vec::new();
        for p in t.partitions.iter() {
            let index = p.partition_index;
            let outcome = match cx.partition_fault(ApiKey::DeleteRecords, t.name, index) {
                Some(error) => Err(error),
                None => delete_one(cx, t.name, index, p.offset),
            };
            parts.push(match outcome {
                Ok(low) => DeleteRecordsPartitionResult {
                    partition_index: index,
                    low_watermark: low,
                    error_code: ErrorCode::NONE,
                },
                Err(error) => DeleteRecordsPartitionResult {
                    partition_index: index,
                    low_watermark: -1,
                    error_code: error,
                },
            });
        }
        results.push(parts);
    }
    let topics: Vec<DeleteRecordsTopicResult<'_>> = req
        .topics
        .iter()
        .zip(&results)
        .map(|(t, parts)| DeleteRecordsTopicResult {
            name: t.name,
            partitions: Array::new(parts),
        })
        .collect();
    cx.respond(&DeleteRecordsResponse {
        topics: Array::new(&topics),
        ..Default::default()
    })
}

/// One partition, checked in the order of Kafka's
/// `ReplicaManager.deleteRecordsOnLocalLog`: known partition, this broker
/// leads it, the topic's policy allows deletion, the offset is at most the
/// high watermark.
fn delete_one(cx: &mut Cx<'_>, topic: &str, index: i32, offset: i64) -> Result<i64, ErrorCode> {
    let broker = cx.broker;
    let topics = &mut cx.cluster.topics;
    let compact_only = topics.get(topic).is_some_and(|t| !t.configs.delete());
    let p = topics
        .partition_mut(topic, index)
        .ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)?;
    if p.leader != broker {
        return Err(ErrorCode::NOT_LEADER_OR_FOLLOWER);
    }
    if compact_only {
        return Err(ErrorCode::POLICY_VIOLATION);
    }
    let before = p.log.size_bytes();
    let low = p.log.delete_records(offset)?;
    let after = p.log.size_bytes();
    topics.shrunk(before, after);
    Ok(low)
}
