//! Metadata: live brokers, topics and partition leaders; auto-creates topics.

use microkafka_core::protocol::messages::{
    MetadataRequest, MetadataResponse, MetadataResponseBroker, MetadataResponsePartition,
    MetadataResponseTopic,
};
use microkafka_core::wire::{Array, Uuid};
use microkafka_core::ErrorCode;

use super::{Answer, Cx};
use crate::cluster::Cluster;
use crate::topics::{valid_topic_name, Topic};

/// Every operation an ACL can allow on a topic (READ, WRITE, CREATE, DELETE,
/// ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS): the mock authorizes all.
const ALL_TOPIC_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

/// One partition's row, owned until the response borrows it.
struct PartitionRow {
    error: ErrorCode,
    index: i32,
    leader: i32,
    epoch: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    offline: Vec<i32>,
}

/// One topic's row.
struct TopicRow {
    error: ErrorCode,
    name: Option<String>,
    id: Uuid,
    partitions: Vec<PartitionRow>,
}

impl TopicRow {
    fn error(error: ErrorCode, name: Option<&str>, id: Uuid) -> Self {
        TopicRow {
            error,
            name: name.map(str::to_owned),
            id,
            partitions: Vec::new(),
        }
    }

    fn of(topic: &Topic, cluster: &Cluster) -> Self {
        let partitions = topic
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (isr, offline) = p.replicas.iter().partition(|r| cluster.is_up(**r));
                PartitionRow {
                    error: if p.leader < 0 {
                        ErrorCode::LEADER_NOT_AVAILABLE
                    } else {
                        ErrorCode::NONE
                    },
                    index: i as i32,
                    leader: p.leader,
                    epoch: p.leader_epoch,
                    replicas: p.replicas.clone(),
                    isr,
                    offline,
                }
            })
            .collect();
        TopicRow {
            error: ErrorCode::NONE,
            name: Some(topic.name.clone()),
            id: topic.id,
            partitions,
        }
    }
}

pub(crate) fn handle(cx: &mut Cx<'_>, req: MetadataRequest<'_>) -> Answer {
    // v0: an empty list means every topic; from v1 that is null.
    let all = match req.topics {
        None => true,
        Some(t) => cx.version == 0 && t.is_empty(),
    };
    let mut rows = Vec::new();
    if all {
        if cx.forced.is_none() {
            rows.extend(
                cx.cluster
                    .topics
                    .iter()
                    .map(|t| TopicRow::of(t, cx.cluster)),
            );
        }
    } else {
        let create = cx.cluster.config.auto_create_topics && req.allow_auto_topic_creation;
        for t in req.topics.unwrap_or_default().iter() {
            rows.push(topic_row(cx, t.name, t.topic_id, create));
        }
    }
    let cluster = &*cx.cluster;
    let brokers: Vec<MetadataResponseBroker<'_>> = if cx.forced.is_some() {
        Vec::new()
    } else {
        cluster
            .brokers
            .iter()
            .filter(|b| b.up)
            .map(|b| MetadataResponseBroker {
                node_id: b.node_id,
                host: &b.host,
                port: b.port,
                rack: None,
            })
            .collect()
    };
    let partitions: Vec<Vec<MetadataResponsePartition<'_>>> = rows
        .iter()
        .map(|t| {
            t.partitions
                .iter()
                .map(|p| MetadataResponsePartition {
                    error_code: p.error,
                    partition_index: p.index,
                    leader_id: p.leader,
                    leader_epoch: p.epoch,
                    replica_nodes: Array::new(&p.replicas),
                    isr_nodes: Array::new(&p.isr),
                    offline_replicas: Array::new(&p.offline),
                })
                .collect()
        })
        .collect();
    let operations = if req.include_topic_authorized_operations {
        ALL_TOPIC_OPERATIONS
    } else {
        i32::MIN
    };
    let topics: Vec<MetadataResponseTopic<'_>> = rows
        .iter()
        .zip(&partitions)
        .map(|(t, parts)| MetadataResponseTopic {
            error_code: t.error,
            // Nullable from v12 (an unknown topic id); before that, "".
            name: match (&t.name, cx.version >= 12) {
                (Some(n), _) => Some(n.as_str()),
                (None, true) => None,
                (None, false) => Some(""),
            },
            topic_id: t.id,
            is_internal: false,
            partitions: Array::new(parts),
            topic_authorized_operations: operations,
        })
        .collect();
    let body = MetadataResponse {
        brokers: Array::new(&brokers),
        cluster_id: Some(&cluster.config.cluster_id),
        controller_id: cluster.controller(),
        topics: Array::new(&topics),
        ..Default::default()
    };
    cx.respond(&body)
}

/// The row for one requested topic (by name, or by id from v10), creating
/// it when allowed.
fn topic_row(cx: &mut Cx<'_>, name: Option<&str>, id: Uuid, create: bool) -> TopicRow {
    if let Some(error) = cx.forced {
        return TopicRow::error(error, name, id);
    }
    let topics = &cx.cluster.topics;
    let Some(name) = name else {
        return match topics.name_of(id).and_then(|n| topics.get(n)) {
            Some(t) => TopicRow::of(t, cx.cluster),
            None => TopicRow::error(ErrorCode::UNKNOWN_TOPIC_ID, None, id),
        };
    };
    if topics.get(name).is_none() {
        if !valid_topic_name(name) {
            return TopicRow::error(ErrorCode::INVALID_TOPIC_EXCEPTION, Some(name), Uuid::ZERO);
        }
        if !create {
            return TopicRow::error(
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                Some(name),
                Uuid::ZERO,
            );
        }
        if let Err((error, _)) = cx
            .cluster
            .create_topic_checked(name, -1, -1, None, None, false)
        {
            // Over a broker limit the topic just stays unknown.
            let error = if error == ErrorCode::POLICY_VIOLATION {
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            } else {
                error
            };
            return TopicRow::error(error, Some(name), Uuid::ZERO);
        }
        // Kafka 4.x (KRaft) creates the topic through its controller and
        // answers this request UNKNOWN_TOPIC_OR_PARTITION, without
        // partitions; clients ask again and find it.
        return TopicRow::error(
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            Some(name),
            Uuid::ZERO,
        );
    }
    match cx.cluster.topics.get(name) {
        Some(t) => TopicRow::of(t, cx.cluster),
        None => TopicRow::error(
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            Some(name),
            Uuid::ZERO,
        ),
    }
}
