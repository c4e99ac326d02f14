//! [`Client`]: cluster administration (kafka-go's `Client`): topics,
//! partitions, offsets, groups. Each request goes where Kafka wants it:
//! topic changes to the controller, offsets to partition leaders, group
//! descriptions to group coordinators, group listings to every broker.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use microkafka_core::protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreatePartitionsTopic,
    DescribeGroupsRequest, DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse,
    ListGroupsRequest, ListGroupsResponse, ListOffsetsPartition, ListOffsetsRequest,
    ListOffsetsResponse, ListOffsetsTopic,
};
use microkafka_core::protocol::ApiKey;
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;

use crate::broker::BrokerConn;
use crate::cluster::Cluster;
use crate::conn::{create_topics, delete_topics, duration_ms, TopicConfig};
use crate::dialer::{metadata_request, Dialer};
use crate::error::{Error, ErrorKind, Result};
use crate::metadata::{Broker, Partition};

/// Configuration of a [`Client`].
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Bootstrap brokers, `host:port` (one entry may hold several,
    /// comma-separated). Required.
    pub brokers: Vec<String>,
    /// Limit for each request; also the `timeout_ms` brokers get for topic
    /// creation and deletion. Default 30 s. Zero: the default.
    pub timeout: Duration,
    /// How connections are made (client id, TLS, dial timeout).
    pub dialer: Dialer,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            brokers: Vec::new(),
            timeout: Duration::from_secs(30),
            dialer: Dialer::default(),
        }
    }
}

/// One offset to look up: the first offset whose timestamp is at or after
/// `timestamp` (ms), or [`FIRST_OFFSET`](crate::FIRST_OFFSET) (-2) /
/// [`LAST_OFFSET`](crate::LAST_OFFSET) (-1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetRequest {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// A timestamp in ms, or -2 (first offset) / -1 (last offset).
    pub timestamp: i64,
}

/// The answer to one [`OffsetRequest`].
#[derive(Clone, Debug)]
pub struct PartitionOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The timestamp asked for.
    pub timestamp: i64,
    /// The offset found (-1 when none: a timestamp after the last message).
    pub offset: i64,
    /// Why there is no offset, if so.
    pub error: Option<Error>,
}

/// The metadata of a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicMetadata {
    /// The topic name.
    pub name: String,
    /// The topic id (all zero when the broker does not say).
    pub id: [u8; 16],
    /// Its partitions.
    pub partitions: Vec<Partition>,
    /// The topic's error, if any (e.g. `UNKNOWN_TOPIC_OR_PARTITION`).
    pub error: Option<ErrorCode>,
}

/// A snapshot of the cluster's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterMetadata {
    /// The brokers, by id.
    pub brokers: Vec<Broker>,
    /// The controller's id.
    pub controller: i32,
    /// The topics asked for (every topic when none was named).
    pub topics: Vec<TopicMetadata>,
}

/// A consumer group as listed by its coordinator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    /// The group id.
    pub group_id: String,
    /// The protocol type (`"consumer"` for consumer groups).
    pub protocol_type: String,
    /// The group state when the broker says (ListGroups v4+), else empty.
    pub state: String,
    /// The coordinator's node id.
    pub coordinator: i32,
}

/// A member of a described group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMember {
    /// The member id.
    pub member_id: String,
    /// The static membership instance id, if any.
    pub group_instance_id: Option<String>,
    /// The member's client id.
    pub client_id: String,
    /// The member's host.
    pub client_host: String,
    /// The member's protocol metadata (for consumers: its subscription).
    pub metadata: Vec<u8>,
    /// The member's assignment.
    pub assignment: Vec<u8>,
}

/// A described consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// The group state (`"Stable"`, `"Empty"`, `"Dead"`...).
    pub state: String,
    /// The protocol type.
    pub protocol_type: String,
    /// The chosen protocol (the assignor's name for consumer groups).
    pub protocol: String,
    /// The members.
    pub members: Vec<GroupMember>,
    /// The coordinator's node id.
    pub coordinator: i32,
    /// The group's error, if any.
    pub error: Option<ErrorCode>,
}

/// Administration of a cluster (kafka-go's `Client`).
///
/// ```no_run
/// # async fn demo() -> microkafka_std::Result<()> {
/// use microkafka_std::{Client, TopicConfig};
/// let client = Client::new(&["localhost:9092"])?;
/// client.create_topics(&[TopicConfig::new("orders", 6)]).await?;
/// for (partition, first, last) in client.offsets("orders").await? {
///     println!("orders[{partition}]: {first}..{last}");
/// }
/// # Ok(()) }
/// ```
pub struct Client {
    cluster: Arc<Cluster>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("cluster", &self.cluster)
            .finish()
    }
}

impl Client {
    /// A client for `brokers` with the default configuration.
    pub fn new(brokers: &[&str]) -> Result<Client> {
        Self::with_config(ClientConfig {
            brokers: brokers.iter().map(|b| (*b).to_owned()).collect(),
            ..Default::default()
        })
    }

    /// A client for `config`.
    pub fn with_config(config: ClientConfig) -> Result<Client> {
        let timeout = if config.timeout.is_zero() {
            ClientConfig::default().timeout
        } else {
            config.timeout
        };
        let mut dialer = config.dialer;
        dialer.request_timeout = timeout;
        Ok(Client {
            cluster: Cluster::new(dialer, &config.brokers, false)?,
            timeout,
        })
    }

    /// The metadata of `topics` (every topic when empty).
    pub async fn metadata(&self, topics: &[&str]) -> Result<ClusterMetadata> {
        let conn = self.cluster.any_conn().await?;
        let wanted = (!topics.is_empty()).then_some(topics);
        let snapshot = metadata_request(&conn, wanted, false, self.timeout).await?;
        let mut brokers: Vec<Broker> = snapshot.brokers.values().cloned().collect();
        brokers.sort_by_key(|b| b.id);
        let mut by_topic: BTreeMap<String, TopicMetadata> = BTreeMap::new();
        for (name, t) in &snapshot.topics {
            by_topic.insert(
                name.clone(),
                TopicMetadata {
                    name: name.clone(),
                    id: t.id.0,
                    partitions: Vec::new(),
                    error: t.error.is_err().then_some(t.error),
                },
            );
        }
        for p in snapshot.partitions {
            if let Some(t) = by_topic.get_mut(&p.topic) {
                t.partitions.push(p);
            }
        }
        for t in by_topic.values_mut() {
            t.partitions.sort_by_key(|p| p.id);
        }
        Ok(ClusterMetadata {
            brokers,
            controller: snapshot.controller,
            topics: by_topic.into_values().collect(),
        })
    }

    /// The controller, found through the metadata.
    async fn controller(&self) -> Result<Arc<BrokerConn>> {
        self.cluster.refresh(&[], None).await?;
        let id = self.cluster.controller();
        if id < 0 {
            return Err(Error::new(ErrorKind::NotFound("controller")).with_api(ApiKey::Metadata));
        }
        self.cluster.conn(id).await
    }

    /// Runs `op` on the controller, again on the new one if it moved.
    async fn on_controller(&self, op: ControllerOp<'_>) -> Result<()> {
        let mut last = None;
        for _ in 0..3 {
            let conn = self.controller().await?;
            let result = match op {
                ControllerOp::Create(topics) => create_topics(&conn, topics, self.timeout).await,
                ControllerOp::Delete(topics) => delete_topics(&conn, topics, self.timeout).await,
                ControllerOp::Grow(topic, count) => {
                    create_partitions(&conn, topic, count, self.timeout).await
                }
            };
            match result {
                Err(e) if e.code() == Some(ErrorCode::NOT_CONTROLLER) => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| Error::new(ErrorKind::NotFound("controller"))))
    }

    /// Creates topics; fails on the first topic the controller refused
    /// (`TOPIC_ALREADY_EXISTS` included).
    pub async fn create_topics(&self, topics: &[TopicConfig]) -> Result<()> {
        self.on_controller(ControllerOp::Create(topics)).await
    }

    /// Deletes topics.
    pub async fn delete_topics(&self, topics: &[&str]) -> Result<()> {
        self.on_controller(ControllerOp::Delete(topics)).await
    }

    /// Grows `topic` to `count` partitions (partitions cannot be removed).
    pub async fn create_partitions(&self, topic: &str, count: i32) -> Result<()> {
        self.on_controller(ControllerOp::Grow(topic, count)).await
    }

    /// Looks offsets up on each partition's leader.
    pub async fn list_offsets(&self, requests: &[OffsetRequest]) -> Result<Vec<PartitionOffset>> {
        let topics: Vec<&str> = requests.iter().map(|r| r.topic.as_str()).collect();
        self.cluster.refresh(&topics, None).await?;
        let mut by_leader: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
        let mut out: Vec<PartitionOffset> = requests
            .iter()
            .map(|r| PartitionOffset {
                topic: r.topic.clone(),
                partition: r.partition,
                timestamp: r.timestamp,
                offset: -1,
                error: None,
            })
            .collect();
        for (i, r) in requests.iter().enumerate() {
            match self.cluster.leader(&r.topic, r.partition) {
                Some((leader, _)) if leader >= 0 => by_leader.entry(leader).or_default().push(i),
                Some(_) => out[i].error = Some(Error::new(ErrorKind::NoLeader)),
                None => out[i].error = Some(Error::new(ErrorKind::NotFound("partition"))),
            }
        }
        for (leader, indexes) in by_leader {
            // One request per leader per round; a partition appears once per request.
            let mut rounds: Vec<Vec<usize>> = Vec::new();
            for i in indexes {
                let key = (&requests[i].topic, requests[i].partition);
                let round = rounds.iter_mut().find(|round| {
                    !round
                        .iter()
                        .any(|&j| (&requests[j].topic, requests[j].partition) == key)
                });
                match round {
                    Some(round) => round.push(i),
                    None => rounds.push(vec![i]),
                }
            }
            for round in rounds {
                let result = self.list_offsets_on(leader, requests, &round).await;
                match result {
                    Ok(found) => {
                        for (i, found) in round.into_iter().zip(found) {
                            match found {
                                Ok(offset) => out[i].offset = offset,
                                Err(e) => out[i].error = Some(e),
                            }
                        }
                    }
                    Err(e) => {
                        for i in round {
                            out[i].error = Some(e.clone());
                        }
                    }
                }
            }
        }
        for o in &mut out {
            if let Some(e) = o.error.take() {
                o.error = Some(
                    e.with_api(ApiKey::ListOffsets)
                        .with_partition(&o.topic, o.partition),
                );
            }
        }
        Ok(out)
    }

    async fn list_offsets_on(
        &self,
        leader: i32,
        requests: &[OffsetRequest],
        round: &[usize],
    ) -> Result<Vec<Result<i64>>> {
        let conn = self.cluster.conn(leader).await?;
        let mut names: Vec<&str> = round.iter().map(|&i| requests[i].topic.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let partitions: Vec<Vec<ListOffsetsPartition>> = names
            .iter()
            .map(|name| {
                round
                    .iter()
                    .filter(|&&i| requests[i].topic == *name)
                    .map(|&i| ListOffsetsPartition {
                        partition_index: requests[i].partition,
                        timestamp: requests[i].timestamp,
                        ..Default::default()
                    })
                    .collect()
            })
            .collect();
        let topics: Vec<ListOffsetsTopic<'_>> = names
            .iter()
            .zip(&partitions)
            .map(|(name, parts)| ListOffsetsTopic {
                name,
                partitions: Array::new(parts),
            })
            .collect();
        let request = ListOffsetsRequest {
            replica_id: -1,
            topics: Array::new(&topics),
            timeout_ms: duration_ms(self.timeout),
            ..Default::default()
        };
        let response = conn.request(&request, self.timeout).await?;
        let decoded: ListOffsetsResponse<'_> = response.decode()?;
        Ok(round
            .iter()
            .map(|&i| {
                let r = &requests[i];
                let p = decoded
                    .topics
                    .iter()
                    .filter(|t| t.name == r.topic)
                    .flat_map(|t| t.partitions.iter())
                    .find(|p| p.partition_index == r.partition);
                match p {
                    Some(p) if p.error_code.is_ok() => Ok(p.offset),
                    Some(p) => Err(Error::kafka(p.error_code, None).with_broker(conn.broker())),
                    None => Err(Error::from(microkafka_core::Error::Malformed(
                        "the ListOffsets response does not mention the partition",
                    ))
                    .with_broker(conn.broker())),
                }
            })
            .collect())
    }

    /// `(partition, first offset, last offset)` of every partition of
    /// `topic`, the last offset being the one the next message will get.
    pub async fn offsets(&self, topic: &str) -> Result<Vec<(i32, i64, i64)>> {
        let meta = self.cluster.topic_meta(topic).await?;
        let requests: Vec<OffsetRequest> = meta
            .ids
            .iter()
            .flat_map(|&p| {
                [-2, -1].map(|timestamp| OffsetRequest {
                    topic: topic.to_owned(),
                    partition: p,
                    timestamp,
                })
            })
            .collect();
        let found = self.list_offsets(&requests).await?;
        let mut out = Vec::with_capacity(meta.ids.len());
        for pair in found.chunks(2) {
            for o in pair {
                if let Some(e) = &o.error {
                    return Err(e.clone());
                }
            }
            out.push((pair[0].partition, pair[0].offset, pair[1].offset));
        }
        Ok(out)
    }

    /// Every group of the cluster (asks every broker: each lists the groups
    /// it coordinates).
    pub async fn list_groups(&self) -> Result<Vec<GroupInfo>> {
        self.cluster.refresh(&[], None).await?;
        let mut out = Vec::new();
        for broker in self.cluster.brokers() {
            let conn = self.cluster.conn(broker.id).await?;
            let response = conn
                .request(&ListGroupsRequest::default(), self.timeout)
                .await?;
            let decoded: ListGroupsResponse<'_> = response.decode()?;
            if decoded.error_code.is_err() {
                return Err(Error::kafka(decoded.error_code, None)
                    .with_api(ApiKey::ListGroups)
                    .with_broker(conn.broker()));
            }
            out.extend(decoded.groups.iter().map(|g| GroupInfo {
                group_id: g.group_id.to_owned(),
                protocol_type: g.protocol_type.to_owned(),
                state: g.group_state.to_owned(),
                coordinator: broker.id,
            }));
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(out)
    }

    /// Describes groups, each asked of its coordinator.
    pub async fn describe_groups(&self, groups: &[&str]) -> Result<Vec<GroupDescription>> {
        self.cluster.refresh(&[], None).await?;
        let mut out = Vec::with_capacity(groups.len());
        for group in groups {
            let coordinator = self.find_coordinator(group).await?;
            let conn = self.cluster.conn(coordinator).await?;
            let names = [*group];
            let request = DescribeGroupsRequest {
                groups: Array::new(&names),
                include_authorized_operations: false,
            };
            let response = conn.request(&request, self.timeout).await?;
            let decoded: DescribeGroupsResponse<'_> = response.decode()?;
            for g in decoded.groups.iter() {
                out.push(GroupDescription {
                    group_id: g.group_id.to_owned(),
                    state: g.group_state.to_owned(),
                    protocol_type: g.protocol_type.to_owned(),
                    protocol: g.protocol_data.to_owned(),
                    members: g
                        .members
                        .iter()
                        .map(|m| GroupMember {
                            member_id: m.member_id.to_owned(),
                            group_instance_id: m.group_instance_id.map(str::to_owned),
                            client_id: m.client_id.to_owned(),
                            client_host: m.client_host.to_owned(),
                            metadata: m.member_metadata.to_vec(),
                            assignment: m.member_assignment.to_vec(),
                        })
                        .collect(),
                    coordinator,
                    error: g.error_code.is_err().then_some(g.error_code),
                });
            }
        }
        Ok(out)
    }

    /// The node id of the broker coordinating `group`.
    pub async fn find_coordinator(&self, group: &str) -> Result<i32> {
        let conn = self.cluster.any_conn().await?;
        let keys = [group];
        let request = FindCoordinatorRequest {
            key: group,
            key_type: 0,
            coordinator_keys: Array::new(&keys),
        };
        let response = conn.request(&request, self.timeout).await?;
        let decoded: FindCoordinatorResponse<'_> = response.decode()?;
        let ctx = |e: Error| {
            e.with_api(ApiKey::FindCoordinator)
                .with_broker(conn.broker())
        };
        let (code, message, node) = match decoded.coordinators.iter().next() {
            Some(c) if response.version() >= 4 => (c.error_code, c.error_message, c.node_id),
            _ => (decoded.error_code, decoded.error_message, decoded.node_id),
        };
        if code.is_err() {
            return Err(ctx(Error::kafka(code, message)));
        }
        Ok(node)
    }

    /// Closes the connections.
    pub fn close(self) {
        self.cluster.close();
    }
}

/// What only the controller does.
#[derive(Clone, Copy)]
enum ControllerOp<'a> {
    Create(&'a [TopicConfig]),
    Delete(&'a [&'a str]),
    Grow(&'a str, i32),
}

async fn create_partitions(
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
