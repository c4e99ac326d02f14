//! Topics and partitions created and deleted (on the controller).

use std::time::Duration;

use microkafka_core::protocol::messages::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig, CreatePartitionsRequest,
    CreatePartitionsResponse, CreatePartitionsTopic, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicState, DeleteTopicsRequest, DeleteTopicsResponse,
};
use microkafka_core::protocol::ApiKey;
use microkafka_core::wire::{Array, Uuid};
use microkafka_core::ErrorCode;

use super::duration_ms;
use crate::broker::BrokerConn;
use crate::error::{Error, Result};

/// A topic to create (kafka-go's `TopicConfig`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicConfig {
    /// The topic name.
    pub topic: String,
    /// Partitions; -1 (or 0) uses the broker's `num.partitions`.
    pub num_partitions: i32,
    /// Copies of each partition; -1 (or 0) uses the broker's
    /// `default.replication.factor`.
    pub replication_factor: i16,
    /// Explicit placement: `(partition, brokers)`; empty lets the broker choose.
    pub replica_assignments: Vec<(i32, Vec<i32>)>,
    /// Topic configs such as `("cleanup.policy", "compact")`.
    pub config_entries: Vec<(String, String)>,
}

impl TopicConfig {
    /// A topic with `partitions` partitions and the broker's default replication.
    pub fn new(topic: impl Into<String>, partitions: i32) -> Self {
        TopicConfig {
            topic: topic.into(),
            num_partitions: partitions,
            replication_factor: -1,
            ..Default::default()
        }
    }
}

/// Sends CreateTopics; the first topic error fails the call, except
/// `TOPIC_ALREADY_EXISTS`: creating is idempotent, as kafka-go's
/// `CreateTopics` (which skips that code), so a program can create what it
/// needs at every start.
pub(crate) async fn create_topics(
    conn: &BrokerConn,
    topics: &[TopicConfig],
    timeout: Duration,
) -> Result<()> {
    let assignments: Vec<Vec<CreatableReplicaAssignment<'_>>> = topics
        .iter()
        .map(|t| {
            t.replica_assignments
                .iter()
                .map(|(p, brokers)| CreatableReplicaAssignment {
                    partition_index: *p,
                    broker_ids: Array::new(brokers),
                })
                .collect()
        })
        .collect();
    let configs: Vec<Vec<CreatableTopicConfig<'_>>> = topics
        .iter()
        .map(|t| {
            t.config_entries
                .iter()
                .map(|(k, v)| CreatableTopicConfig {
                    name: k,
                    value: Some(v),
                })
                .collect()
        })
        .collect();
    let creatable: Vec<CreatableTopic<'_>> = topics
        .iter()
        .enumerate()
        .map(|(i, t)| CreatableTopic {
            name: &t.topic,
            num_partitions: if t.num_partitions <= 0 {
                -1
            } else {
                t.num_partitions
            },
            replication_factor: if t.replication_factor <= 0 {
                -1
            } else {
                t.replication_factor
            },
            assignments: Array::new(&assignments[i]),
            configs: Array::new(&configs[i]),
        })
        .collect();
    let request = CreateTopicsRequest {
        topics: Array::new(&creatable),
        timeout_ms: duration_ms(timeout),
        validate_only: false,
    };
    let response = conn.request(&request, timeout).await?;
    let decoded: CreateTopicsResponse<'_> = response.decode()?;
    for t in decoded.topics.iter() {
        if t.error_code.is_err() && t.error_code != ErrorCode::TOPIC_ALREADY_EXISTS {
            return Err(Error::kafka(t.error_code, t.error_message)
                .with_api(ApiKey::CreateTopics)
                .with_broker(conn.broker())
                .with_topic(t.name));
        }
    }
    Ok(())
}

/// Sends DeleteTopics; the first topic error fails the call.
pub(crate) async fn delete_topics(
    conn: &BrokerConn,
    topics: &[&str],
    timeout: Duration,
) -> Result<()> {
    let states: Vec<DeleteTopicState<'_>> = topics
        .iter()
        .map(|t| DeleteTopicState {
            name: Some(t),
            topic_id: Uuid::ZERO,
        })
        .collect();
    let request = DeleteTopicsRequest {
        topics: Array::new(&states),
        topic_names: Array::new(topics),
        timeout_ms: duration_ms(timeout),
    };
    let response = conn.request(&request, timeout).await?;
    let decoded: DeleteTopicsResponse<'_> = response.decode()?;
    for t in decoded.responses.iter() {
        if t.error_code.is_err() {
            return Err(Error::kafka(t.error_code, t.error_message)
                .with_api(ApiKey::DeleteTopics)
                .with_broker(conn.broker())
                .with_topic(t.name.unwrap_or_default()));
        }
    }
    Ok(())
}

/// Sends CreatePartitions: grows `topic` to `count` partitions.
pub(crate) async fn create_partitions(
    conn: &BrokerConn,
    topic: &str,
    count: i32,
    timeout: Duration,
) -> Result<()> {
    let topics = [CreatePartitionsTopic {
        name: topic,
        count,
        assignments: None,
    }];
    let request = CreatePartitionsRequest {
        topics: Array::new(&topics),
        timeout_ms: duration_ms(timeout),
        validate_only: false,
    };
    let response = conn.request(&request, timeout).await?;
    let decoded: CreatePartitionsResponse<'_> = response.decode()?;
    for r in decoded.results.iter() {
        if r.error_code.is_err() {
            return Err(Error::kafka(r.error_code, r.error_message)
                .with_api(ApiKey::CreatePartitions)
                .with_broker(conn.broker())
                .with_topic(r.name));
        }
    }
    Ok(())
}
