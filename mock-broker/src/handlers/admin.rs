//! CreateTopics, DeleteTopics, CreatePartitions.
//!
//! Any broker accepts them (a KRaft broker forwards them to the controller;
//! the mock's state is shared, so there is nothing to forward).

use std::collections::{HashMap, HashSet};

use microkafka_core::protocol::messages::{
    CreatableTopicConfigs, CreatableTopicResult, CreatePartitionsRequest, CreatePartitionsResponse,
    CreatePartitionsTopicResult, CreateTopicsRequest, CreateTopicsResponse, DeletableTopicResult,
    DeleteTopicsRequest, DeleteTopicsResponse,
};
use microkafka_core::wire::{Array, Uuid};
use microkafka_core::ErrorCode;

use super::{Answer, Cx};
use crate::topic_config::{self, TopicConfigs};

/// The result of creating one topic.
struct Created<'a> {
    name: &'a str,
    id: Uuid,
    error: ErrorCode,
    message: Option<String>,
    partitions: i32,
    replication: i16,
}

pub(crate) fn create_topics(cx: &mut Cx<'_>, req: CreateTopicsRequest<'_>) -> Answer {
    // Counted once (a HashMap, not a scan per topic: 40k names took 26 s).
    let mut named: HashMap<&str, usize> = HashMap::new();
    for t in req.topics.iter() {
        *named.entry(t.name).or_insert(0) += 1;
    }
    let mut results = Vec::with_capacity(named.len());
    let mut answered: HashSet<&str> = HashSet::new();
    for t in req.topics.iter() {
        // Kafka answers a name given more than once once, with INVALID_REQUEST.
        if named.get(t.name).is_some_and(|&n| n > 1) && !answered.insert(t.name) {
            continue;
        }
        let fail = |error: ErrorCode, message: &str| Created {
            name: t.name,
            id: Uuid::ZERO,
            error,
            message: Some(message.to_owned()),
            partitions: -1,
            replication: -1,
        };
        if let Some(error) = cx.forced {
            results.push(fail(error, error.description()));
            continue;
        }
        if named.get(t.name).is_some_and(|&n| n > 1) {
            results.push(fail(
                ErrorCode::INVALID_REQUEST,
                "topic named more than once in the request",
            ));
            continue;
        }
        // Every config is checked as Kafka's `LogConfig` does (unknown keys
        // and bad values are INVALID_CONFIG), then stored with the topic.
        let mut configs = TopicConfigs::default();
        let mut bad_config = None;
        for c in t.configs.iter() {
            match c.value {
                // A null value leaves the key at its default.
                None if topic_config::lookup(c.name).is_some() => {}
                None => bad_config = Some(format!("Unknown topic config name: {}", c.name)),
                Some(v) => match topic_config::validate(c.name, v) {
                    Ok(()) => configs.set(c.name, v),
                    Err(message) => bad_config = Some(message),
                },
            }
        }
        if let Some(message) = bad_config {
            results.push(fail(ErrorCode::INVALID_CONFIG, &message));
            continue;
        }
        let mut assignments: Vec<(i32, Vec<i32>)> = t
            .assignments
            .iter()
            .map(|a| (a.partition_index, a.broker_ids.iter().collect()))
            .collect();
        assignments.sort_by_key(|(p, _)| *p);
        if assignments
            .iter()
            .enumerate()
            .any(|(i, (p, _))| *p != i as i32)
        {
            results.push(fail(
                ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                "assignments must cover partitions 0..n",
            ));
            continue;
        }
        if !assignments.is_empty() && (t.num_partitions != -1 || t.replication_factor != -1) {
            results.push(fail(
                ErrorCode::INVALID_REQUEST,
                "both assignments and partitions or replication factor given",
            ));
            continue;
        }
        let assignments: Vec<Vec<i32>> = assignments.into_iter().map(|(_, r)| r).collect();
        let assigned = (!assignments.is_empty()).then_some(assignments.as_slice());
        let created = cx.cluster.create_topic_checked(
            t.name,
            t.num_partitions,
            t.replication_factor,
            assigned,
            None,
            req.validate_only,
        );
        if created.is_ok() && !req.validate_only {
            let default_retention = cx.cluster.config.retention_bytes;
            cx.cluster
                .topics
                .set_configs(t.name, configs, default_retention);
        }
        results.push(match created {
            Ok(id) => {
                let (partitions, replication) = match cx.cluster.topics.get(t.name) {
                    Some(topic) => (
                        topic.partitions.len() as i32,
                        topic
                            .partitions
                            .first()
                            .map_or(0, |p| p.replicas.len() as i16),
                    ),
                    // validate_only: what it would have been.
                    None => (t.num_partitions, t.replication_factor),
                };
                Created {
                    name: t.name,
                    id,
                    error: ErrorCode::NONE,
                    message: None,
                    partitions,
                    replication,
                }
            }
            Err((error, message)) => fail(error, message),
        });
    }
    let no_configs: [CreatableTopicConfigs<'_>; 0] = [];
    let topics: Vec<CreatableTopicResult<'_>> = results
        .iter()
        .map(|r| CreatableTopicResult {
            name: r.name,
            topic_id: r.id,
            error_code: r.error,
            error_message: r.message.as_deref(),
            num_partitions: r.partitions,
            replication_factor: r.replication,
            // Kafka sends a list, empty on error (the mock lists no configs:
            // see tests/differential.rs).
            configs: Some(Array::new(&no_configs)),
            ..Default::default()
        })
        .collect();
    cx.respond(&CreateTopicsResponse {
        topics: Array::new(&topics),
        ..Default::default()
    })
}

pub(crate) fn delete_topics(cx: &mut Cx<'_>, req: DeleteTopicsRequest<'_>) -> Answer {
    // v0-5 name topics; v6 names or ids.
    let wanted: Vec<(Option<&str>, Uuid)> = if cx.version >= 6 {
        req.topics.iter().map(|t| (t.name, t.topic_id)).collect()
    } else {
        req.topic_names
            .iter()
            .map(|n| (Some(n), Uuid::ZERO))
            .collect()
    };
    let mut results: Vec<(Option<String>, Uuid, ErrorCode)> = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        if let Some(error) = cx.forced {
            results.push((name.map(str::to_owned), id, error));
            continue;
        }
        let name = match name {
            Some(n) => Some(n.to_owned()),
            None => cx.cluster.topics.name_of(id).map(str::to_owned),
        };
        let result = match name {
            None => (None, id, ErrorCode::UNKNOWN_TOPIC_ID),
            Some(n) => match cx.cluster.delete_topic(&n) {
                Some(deleted) => (Some(n), deleted, ErrorCode::NONE),
                None => (Some(n), id, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
            },
        };
        results.push(result);
    }
    let v = cx.version;
    let responses: Vec<DeletableTopicResult<'_>> = results
        .iter()
        .map(|(name, id, error)| DeletableTopicResult {
            // Not nullable before v6.
            name: name.as_deref().or((v < 6).then_some("")),
            topic_id: *id,
            error_code: *error,
            error_message: error.is_err().then(|| error.description()),
        })
        .collect();
    cx.respond(&DeleteTopicsResponse {
        responses: Array::new(&responses),
        ..Default::default()
    })
}

pub(crate) fn create_partitions(cx: &mut Cx<'_>, req: CreatePartitionsRequest<'_>) -> Answer {
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics.iter() {
        let outcome = match cx.forced {
            Some(error) => Err((error, error.description())),
            None => {
                let assignments: Option<Vec<Vec<i32>>> = t
                    .assignments
                    .map(|a| a.iter().map(|a| a.broker_ids.iter().collect()).collect());
                cx.cluster
                    .grow_topic(t.name, t.count, assignments.as_deref(), req.validate_only)
            }
        };
        results.push(match outcome {
            Ok(()) => CreatePartitionsTopicResult {
                name: t.name,
                error_code: ErrorCode::NONE,
                error_message: None,
            },
            Err((error, message)) => CreatePartitionsTopicResult {
                name: t.name,
                error_code: error,
                // Kafka sends no message for an unknown topic.
                error_message: (error != ErrorCode::UNKNOWN_TOPIC_OR_PARTITION).then_some(message),
            },
        });
    }
    cx.respond(&CreatePartitionsResponse {
        results: Array::new(&results),
        ..Default::default()
    })
}
