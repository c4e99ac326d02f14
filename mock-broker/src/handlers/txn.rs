//! AddPartitionsToTxn, AddOffsetsToTxn, EndTxn (the transaction
//! coordinator) and TxnOffsetCommit (the group coordinator), with Kafka
//! 4.x's answers (checked by `tests/differential.rs` against Kafka 4.4).

use microkafka_core::protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnPartitionResult,
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, AddPartitionsToTxnResult,
    AddPartitionsToTxnTopicResult, EndTxnRequest, EndTxnResponse, TxnOffsetCommitRequest,
    TxnOffsetCommitResponse, TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use microkafka_core::protocol::ApiKey;
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;

use super::{Answer, Cx};
use crate::group::{Commit, Committed};
use crate::txn::{Phase, TxnMeta};

/// `(topic, partition, error)` in answer order.
type Results<'a> = Vec<(&'a str, i32, ErrorCode)>;
/// Results grouped by topic.
type ByTopic<'a> = Vec<(&'a str, Vec<AddPartitionsToTxnPartitionResult>)>;

/// Groups results by topic, topics in order of first appearance.
fn by_topic<'a>(results: &Results<'a>) -> ByTopic<'a> {
    let mut out: ByTopic<'a> = Vec::new();
    for &(topic, partition, error) in results {
        let entry = AddPartitionsToTxnPartitionResult {
            partition_index: partition,
            partition_error_code: error,
        };
        match out.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, parts)) => parts.push(entry),
            None => out.push((topic, vec![entry])),
        }
    }
    out
}

/// Adds (or, `verify_only`, checks) partitions of one transaction, as
/// Kafka: an empty transactional id is `INVALID_REQUEST`; unknown topics
/// and partitions are refused before the coordinator is asked
/// (`UNKNOWN_TOPIC_OR_PARTITION`, the others `OPERATION_NOT_ATTEMPTED`,
/// errors listed first); then the coordinator's producer checks.
#[allow(clippy::too_many_arguments)]
fn add<'a>(
    cx: &mut Cx<'_>,
    id: &str,
    producer_id: i64,
    epoch: i16,
    requested: &[(&'a str, i32)],
    verify_only: bool,
) -> Results<'a> {
    let mut wanted: Vec<(&str, i32)> = Vec::with_capacity(requested.len());
    for &tp in requested {
        if !wanted.contains(&tp) {
            wanted.push(tp);
        }
    }
    let all = |e: ErrorCode| {
        wanted
            .iter()
            .map(|&(t, p)| (t, p, e))
            .collect::<Results<'a>>()
    };
    if let Some(error) = cx.forced {
        return all(error);
    }
    if id.is_empty() {
        return all(ErrorCode::INVALID_REQUEST);
    }
    let known = |cx: &Cx<'_>, t: &str, p: i32| cx.cluster.topics.partition(t, p).is_some();
    if wanted.iter().any(|&(t, p)| !known(cx, t, p)) {
        let mut out: Results<'a> = wanted
            .iter()
            .filter(|&&(t, p)| !known(cx, t, p))
            .map(|&(t, p)| (t, p, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION))
            .collect();
        out.extend(
            wanted
                .iter()
                .filter(|&&(t, p)| known(cx, t, p))
                .map(|&(t, p)| (t, p, ErrorCode::OPERATION_NOT_ATTEMPTED)),
        );
        return out;
    }
    if let Some(error) = cx.check_coordinator(id) {
        return all(error);
    }
    let (now, version) = (cx.now, cx.version);
    let meta = match cx
        .cluster
        .txns
        .check(id, producer_id, epoch, version >= 2, now)
    {
        Ok(meta) => meta,
        Err(error) => return all(error),
    };
    if verify_only {
        let open = meta.phase == Phase::Ongoing;
        return wanted
            .iter()
            .map(|&(t, p)| {
                let added = open && meta.partitions.iter().any(|(n, i)| n == t && *i == p);
                let error = match (added, version >= 5) {
                    (true, _) => ErrorCode::NONE,
                    (false, true) => ErrorCode::TRANSACTION_ABORTABLE,
                    (false, false) => ErrorCode::INVALID_TXN_STATE,
                };
                (t, p, error)
            })
            .collect();
    }
    if let Err(error) = cx.cluster.begin_transaction(id, now) {
        return all(error);
    }
    if let Some(meta) = cx.cluster.txns.get_mut(id) {
        for &(t, p) in &wanted {
            if !meta.partitions.iter().any(|(n, i)| n == t && *i == p) {
                meta.partitions.push((t.to_owned(), p));
            }
        }
    }
    all(ErrorCode::NONE)
}

pub(crate) fn add_partitions(cx: &mut Cx<'_>, req: AddPartitionsToTxnRequest<'_>) -> Answer {
    if cx.version >= 4 {
        return add_partitions_batched(cx, &req);
    }
    let requested: Vec<(&str, i32)> = req
        .v3_and_below_topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.name, p)))
        .collect();
    let results = add(
        cx,
        req.v3_and_below_transactional_id,
        req.v3_and_below_producer_id,
        req.v3_and_below_producer_epoch,
        &requested,
        false,
    );
    let grouped = by_topic(&results);
    let topics: Vec<AddPartitionsToTxnTopicResult<'_>> = grouped
        .iter()
        .map(|(name, parts)| AddPartitionsToTxnTopicResult {
            name,
            results_by_partition: Array::new(parts),
        })
        .collect();
    cx.respond(&AddPartitionsToTxnResponse {
        results_by_topic_v3_and_below: Array::new(&topics),
        ..Default::default()
    })
}

/// v4+: a partition leader's batch of transactions (KIP-890), each added
/// or verified (`verify_only`).
fn add_partitions_batched(cx: &mut Cx<'_>, req: &AddPartitionsToTxnRequest<'_>) -> Answer {
    let mut per_txn: Vec<(&str, Results<'_>)> = Vec::new();
    for t in req.transactions.iter() {
        let requested: Vec<(&str, i32)> = t
            .topics
            .iter()
            .flat_map(|topic| topic.partitions.iter().map(move |p| (topic.name, p)))
            .collect();
        let results = add(
            cx,
            t.transactional_id,
            t.producer_id,
            t.producer_epoch,
            &requested,
            t.verify_only,
        );
        per_txn.push((t.transactional_id, results));
    }
    let grouped: Vec<(&str, ByTopic<'_>)> = per_txn
        .iter()
        .map(|(id, results)| (*id, by_topic(results)))
        .collect();
    let topics: Vec<Vec<AddPartitionsToTxnTopicResult<'_>>> = grouped
        .iter()
        .map(|(_, topics)| {
            topics
                .iter()
                .map(|(name, parts)| AddPartitionsToTxnTopicResult {
                    name,
                    results_by_partition: Array::new(parts),
                })
                .collect()
        })
        .collect();
    let results: Vec<AddPartitionsToTxnResult<'_>> = grouped
        .iter()
        .zip(&topics)
        .map(|((id, _), topics)| AddPartitionsToTxnResult {
            transactional_id: id,
            topic_results: Array::new(topics),
        })
        .collect();
    cx.respond(&AddPartitionsToTxnResponse {
        error_code: cx.forced.unwrap_or(ErrorCode::NONE),
        results_by_transaction: Array::new(&results),
        ..Default::default()
    })
}

pub(crate) fn add_offsets(cx: &mut Cx<'_>, req: AddOffsetsToTxnRequest<'_>) -> Answer {
    let error = add_group(cx, &req).err().unwrap_or(ErrorCode::NONE);
    cx.respond(&AddOffsetsToTxnResponse {
        error_code: error,
        ..Default::default()
    })
}

fn add_group(cx: &mut Cx<'_>, req: &AddOffsetsToTxnRequest<'_>) -> Result<(), ErrorCode> {
    let now = cx.now;
    let max_groups = cx.cluster.config.limits.max_groups_per_transaction;
    let meta = checked_txn(
        cx,
        req.transactional_id,
        req.producer_id,
        req.producer_epoch,
    )?;
    let known = meta.groups.iter().any(|g| g == req.group_id);
    let open = meta.phase == Phase::Ongoing;
    if !known && open && meta.groups.len() >= max_groups {
        return Err(ErrorCode::INVALID_REQUEST);
    }
    cx.cluster.begin_transaction(req.transactional_id, now)?;
    if let Some(meta) = cx.cluster.txns.get_mut(req.transactional_id) {
        if !meta.groups.iter().any(|g| g == req.group_id) {
            meta.groups.push(req.group_id.to_owned());
        }
    }
    Ok(())
}

/// The checks AddOffsetsToTxn and EndTxn pass first, in Kafka's order: an
/// injected error, an empty transactional id, this broker not its
/// coordinator, then the producer id and epoch.
fn checked_txn<'c>(
    cx: &'c mut Cx<'_>,
    id: &str,
    producer_id: i64,
    epoch: i16,
) -> Result<&'c mut TxnMeta, ErrorCode> {
    if let Some(error) = cx.forced {
        return Err(error);
    }
    if id.is_empty() {
        return Err(ErrorCode::INVALID_REQUEST);
    }
    if let Some(error) = cx.check_coordinator(id) {
        return Err(error);
    }
    let (now, knows_fenced) = (cx.now, cx.version >= 2);
    cx.cluster
        .txns
        .check(id, producer_id, epoch, knows_fenced, now)
}

pub(crate) fn end(cx: &mut Cx<'_>, req: EndTxnRequest<'_>) -> Answer {
    let (error, producer_id, producer_epoch) = match end_txn(cx, &req) {
        Ok((id, epoch)) => (ErrorCode::NONE, id, epoch),
        Err(error) => (error, -1, -1),
    };
    cx.respond(&EndTxnResponse {
        error_code: error,
        producer_id,
        producer_epoch,
        ..Default::default()
    })
}

/// Ends the transaction; `(producer id, epoch)` for EndTxn v5's answer.
fn end_txn(cx: &mut Cx<'_>, req: &EndTxnRequest<'_>) -> Result<(i64, i16), ErrorCode> {
    let (now, version) = (cx.now, cx.version);
    let meta = checked_txn(
        cx,
        req.transactional_id,
        req.producer_id,
        req.producer_epoch,
    )?;
    let (producer_id, epoch) = (meta.producer_id, meta.epoch);
    match (meta.phase, req.committed) {
        (Phase::Ongoing, commit) => {
            // Transactions version 2 (EndTxn v5, KIP-890): the epoch is
            // bumped at every transaction's end, markers carry the new one.
            let marker_epoch = if version >= 5 {
                epoch.saturating_add(1)
            } else {
                epoch
            };
            cx.cluster
                .complete_transaction(req.transactional_id, commit, marker_epoch, now);
            Ok((producer_id, marker_epoch))
        }
        // A retry of the end that already happened.
        (Phase::CompleteCommit, true) | (Phase::CompleteAbort, false) => Ok((producer_id, epoch)),
        _ => Err(ErrorCode::INVALID_TXN_STATE),
    }
}

pub(crate) fn commit_offsets(cx: &mut Cx<'_>, req: TxnOffsetCommitRequest<'_>) -> Answer {
    let any_known = req.topics.iter().any(|t| {
        t.partitions.iter().any(|p| {
            cx.cluster
                .topics
                .partition(t.name, p.partition_index)
                .is_some()
        })
    });
    let request_error = cx.forced.or_else(|| {
        cx.check_coordinator(req.group_id).or_else(|| {
            if any_known {
                check_txn_commit(cx, &req).err()
            } else {
                None
            }
        })
    });
    let mut results: Vec<Vec<TxnOffsetCommitResponsePartition>> = Vec::new();
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
                .or(request_error.filter(|e| {
                    *e == ErrorCode::NOT_COORDINATOR || *e == ErrorCode::COORDINATOR_NOT_AVAILABLE
                }))
                .or(unknown.then_some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION))
                .or(request_error)
                .or_else(|| cx.partition_fault(ApiKey::TxnOffsetCommit, t.name, p.partition_index))
                .unwrap_or_else(|| {
                    let committed = Committed {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.committed_metadata.map(str::to_owned),
                    };
                    cx.cluster.groups.store_txn_offset(
                        req.group_id,
                        req.producer_id,
                        t.name,
                        p.partition_index,
                        committed,
                    )
                });
            parts.push(TxnOffsetCommitResponsePartition {
                partition_index: p.partition_index,
                error_code: error,
            });
        }
        results.push(parts);
    }
    let topics: Vec<TxnOffsetCommitResponseTopic<'_>> = req
        .topics
        .iter()
        .zip(&results)
        .map(|(t, parts)| TxnOffsetCommitResponseTopic {
            name: t.name,
            partitions: Array::new(parts),
        })
        .collect();
    cx.respond(&TxnOffsetCommitResponse {
        topics: Array::new(&topics),
        ..Default::default()
    })
}

/// Kafka 4.x's checks of a TxnOffsetCommit: the transaction must be open
/// with the group added (verified with the transaction coordinator,
/// KIP-890: `TRANSACTION_ABORTABLE`, `INVALID_TXN_STATE` before v4), the
/// producer's epoch current; then the member checks of an OffsetCommit
/// (generation -1 commits outside any group; an unknown group is
/// `ILLEGAL_GENERATION`).
fn check_txn_commit(cx: &mut Cx<'_>, req: &TxnOffsetCommitRequest<'_>) -> Result<(), ErrorCode> {
    let meta = cx
        .cluster
        .txns
        .get(req.transactional_id)
        .filter(|m| m.producer_id == req.producer_id)
        .ok_or(ErrorCode::INVALID_PRODUCER_ID_MAPPING)?;
    if req.producer_epoch < meta.epoch {
        return Err(ErrorCode::INVALID_PRODUCER_EPOCH);
    }
    if req.producer_epoch > meta.epoch {
        return Err(ErrorCode::PRODUCER_FENCED);
    }
    if meta.phase != Phase::Ongoing || !meta.groups.iter().any(|g| g == req.group_id) {
        return Err(if cx.version >= 4 {
            ErrorCode::TRANSACTION_ABORTABLE
        } else {
            ErrorCode::INVALID_TXN_STATE
        });
    }
    let who = Commit {
        group_id: req.group_id,
        generation: req.generation_id,
        member_id: req.member_id,
        instance_id: req.group_instance_id,
    };
    let cluster = &mut *cx.cluster;
    match cluster.groups.check_commit(&who, &mut cluster.ids, cx.now) {
        Ok(()) => Ok(()),
        Err(ErrorCode::GROUP_ID_NOT_FOUND) => Err(ErrorCode::ILLEGAL_GENERATION),
        Err(error) => Err(error),
    }
}
