//! [`Client`]: cluster administration (kafka-go's `Client`): topics,
//! partitions, offsets, groups. Each request goes where Kafka wants it:
//! topic changes to the controller, offsets to partition leaders, group
//! descriptions to group coordinators, group listings to every broker.
//!
//! Group administration (committed offsets, lag, resets, OffsetDelete,
//! DeleteGroups) goes to the group's coordinator; configurations
//! (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs) to any broker
//! for topics and to the broker itself for broker configs; DeleteRecords to
//! partition leaders; ElectLeaders and DescribeCluster to any broker.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use microkafka_core::consumer::partition::ListedOffset;
use microkafka_core::protocol::messages::{
    DescribeGroupsRequest, DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse,
    ListGroupsRequest, ListGroupsResponse, ListOffsetsPartition, ListOffsetsRequest,
    ListOffsetsResponse, ListOffsetsTopic,
};
use microkafka_core::protocol::ApiKey;
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;

use crate::broker::BrokerConn;
use crate::dialer::Dialer;
use crate::error::{Error, ErrorKind, Result};
use crate::metadata::{Broker, Partition};
use crate::pool::BrokerPool;
use crate::requests::admin::{create_partitions, create_topics, delete_topics, TopicConfig};
use crate::requests::cluster_admin::{self, ClusterDescription, ElectionResult, ElectionType};
use crate::requests::configs::{self, AlterConfigOp, ConfigResource, ResourceConfig};
use crate::requests::duration_ms;
use crate::requests::group_admin::{self, CommittedOffset, OffsetReset, PartitionLag};
use crate::requests::metadata::metadata_request;

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
    brokers: Arc<BrokerPool>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("brokers", &self.brokers)
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
            brokers: BrokerPool::new(dialer.connector(), &config.brokers, false)?,
            timeout,
        })
    }

    /// The metadata of `topics` (every topic when empty).
    pub async fn metadata(&self, topics: &[&str]) -> Result<ClusterMetadata> {
        let conn = self.brokers.any_conn().await?;
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
                    partitions: Vec::with_capacity(t.partitions.len()),
                    error: t.error.is_err().then_some(t.error),
                },
            );
        }
        for p in snapshot.partitions() {
            if let Some(t) = by_topic.get_mut(&*p.topic) {
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
        self.brokers.refresh(&[], None).await?;
        let id = self.brokers.controller();
        if id < 0 {
            return Err(Error::new(ErrorKind::NotFound("controller")).with_api(ApiKey::Metadata));
        }
        self.brokers.conn(id).await
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

    /// Creates topics; fails on the first topic the controller refused.
    /// A topic that already exists is no error (kafka-go skips
    /// `TOPIC_ALREADY_EXISTS`), whatever its partition count.
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
        self.brokers.refresh(&topics, None).await?;
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
            match self.brokers.leader(&r.topic, r.partition) {
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
        let conn = self.brokers.conn(leader).await?;
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
                let found = ListedOffset::find(&decoded, response.version(), &r.topic, r.partition)
                    .map_err(Error::from)
                    .and_then(|p| match p.error.is_err() {
                        false => Ok(p.offset),
                        true => Err(Error::kafka(p.error, None)),
                    });
                found.map_err(|e| e.with_broker(conn.broker()))
            })
            .collect())
    }

    /// `(partition, first offset, last offset)` of every partition of
    /// `topic`, the last offset being the one the next message will get.
    pub async fn offsets(&self, topic: &str) -> Result<Vec<(i32, i64, i64)>> {
        let meta = self.brokers.topic_meta(topic).await?;
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
        self.brokers.refresh(&[], None).await?;
        let mut out = Vec::new();
        for broker in self.brokers.brokers() {
            let conn = self.brokers.conn(broker.id).await?;
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
        self.brokers.refresh(&[], None).await?;
        let mut out = Vec::with_capacity(groups.len());
        for group in groups {
            let coordinator = self.find_coordinator(group).await?;
            let conn = self.brokers.conn(coordinator).await?;
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
        let conn = self.brokers.any_conn().await?;
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
        let Some(c) = decoded.answer_for(response.version(), group) else {
            return Err(ctx(Error::kafka(
                ErrorCode::COORDINATOR_NOT_AVAILABLE,
                None,
            )));
        };
        if c.error_code.is_err() {
            return Err(ctx(Error::kafka(c.error_code, c.error_message)));
        }
        Ok(c.node_id)
    }

    /// A connection to `group`'s coordinator.
    async fn coordinator_conn(&self, group: &str) -> Result<Arc<BrokerConn>> {
        self.brokers.refresh(&[], None).await?;
        let coordinator = self.find_coordinator(group).await?;
        self.brokers.conn(coordinator).await
    }

    /// `group`'s committed offsets (kafka-go's `OffsetFetch`): of `topics`
    /// (every partition of each), or of every partition with a committed
    /// offset when `topics` is `None`. A partition without one has offset -1.
    pub async fn offset_fetch(
        &self,
        group: &str,
        topics: Option<&[&str]>,
    ) -> Result<Vec<CommittedOffset>> {
        let wanted: Option<Vec<(&str, Vec<i32>)>> = match topics {
            None => None,
            Some(topics) => {
                let mut wanted = Vec::with_capacity(topics.len());
                for topic in topics {
                    let meta = self.brokers.topic_meta(topic).await?;
                    wanted.push((*topic, meta.ids.clone()));
                }
                Some(wanted)
            }
        };
        let conn = self.coordinator_conn(group).await?;
        let mut out =
            group_admin::offset_fetch(&conn, group, wanted.as_deref(), self.timeout).await?;
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }

    /// Commits `offsets` (`(topic, partition, offset)`) for `group` as an
    /// admin (kafka-go's `OffsetCommit` outside a generation): the
    /// coordinator accepts it only while the group has no members
    /// (`UNKNOWN_MEMBER_ID` otherwise). Fails on the first refused partition.
    pub async fn offset_commit(&self, group: &str, offsets: &[(&str, i32, i64)]) -> Result<()> {
        let owned: Vec<(String, i32, i64)> = offsets
            .iter()
            .map(|&(t, p, o)| (t.to_owned(), p, o))
            .collect();
        let conn = self.coordinator_conn(group).await?;
        group_admin::offset_commit(&conn, group, &owned, self.timeout).await
    }

    /// The lag of `group` on every partition of each topic it has committed
    /// offsets for (`kafka-consumer-groups.sh --describe`): the committed
    /// offset, the partition's high watermark and their difference.
    pub async fn group_lag(&self, group: &str) -> Result<Vec<PartitionLag>> {
        let committed = self.offset_fetch(group, None).await?;
        let mut topics: Vec<&str> = committed.iter().map(|c| c.topic.as_str()).collect();
        topics.dedup();
        let mut out = Vec::new();
        for topic in topics {
            for (partition, _, high_watermark) in self.offsets(topic).await? {
                let committed = committed
                    .iter()
                    .find(|c| c.topic == topic && c.partition == partition)
                    .map_or(-1, |c| c.offset);
                out.push(PartitionLag {
                    topic: topic.to_owned(),
                    partition,
                    committed,
                    high_watermark,
                    lag: (committed >= 0).then(|| (high_watermark - committed).max(0)),
                });
            }
        }
        Ok(out)
    }

    /// Moves `group`'s offsets of every partition of `topics` to `to`
    /// (`kafka-consumer-groups.sh --reset-offsets --execute`); returns the
    /// offsets committed. Refused while the group has members, as Kafka's
    /// tool refuses: the error has code `NON_EMPTY_GROUP` and the tool's
    /// message ("Assignments can only be reset if the group '...' is
    /// inactive, but the current state is Stable.").
    pub async fn reset_offsets(
        &self,
        group: &str,
        topics: &[&str],
        to: OffsetReset,
    ) -> Result<Vec<CommittedOffset>> {
        if let Some(g) = self.describe_groups(&[group]).await?.into_iter().next() {
            let inactive = g.members.is_empty() && matches!(g.state.as_str(), "Empty" | "Dead");
            if !inactive {
                let message = format!(
                    "Assignments can only be reset if the group '{group}' is inactive, \
                     but the current state is {}.",
                    g.state
                );
                return Err(Error::kafka(ErrorCode::NON_EMPTY_GROUP, Some(&message))
                    .with_api(ApiKey::OffsetCommit));
            }
        }
        let mut requests = Vec::new();
        for topic in topics {
            let meta = self.brokers.topic_meta(topic).await?;
            for &partition in meta.ids.iter() {
                for timestamp in [-2, -1] {
                    requests.push(OffsetRequest {
                        topic: (*topic).to_owned(),
                        partition,
                        timestamp,
                    });
                }
                if let OffsetReset::Time(ts) = to {
                    requests.push(OffsetRequest {
                        topic: (*topic).to_owned(),
                        partition,
                        timestamp: ts,
                    });
                }
            }
        }
        let found = self.list_offsets(&requests).await?;
        if let Some(e) = found.iter().find_map(|o| o.error.clone()) {
            return Err(e);
        }
        let per = if matches!(to, OffsetReset::Time(_)) {
            3
        } else {
            2
        };
        let targets: Vec<(String, i32, i64)> = found
            .chunks(per)
            .map(|c| {
                let (earliest, latest) = (c[0].offset, c[1].offset);
                let offset = match to {
                    OffsetReset::Earliest => earliest,
                    OffsetReset::Latest => latest,
                    // Nothing that recent: the end, as Kafka's tool.
                    OffsetReset::Time(_) if c[2].offset < 0 => latest,
                    OffsetReset::Time(_) => c[2].offset,
                    OffsetReset::Offset(o) => o.clamp(earliest, latest),
                };
                (c[0].topic.clone(), c[0].partition, offset)
            })
            .collect();
        let conn = self.coordinator_conn(group).await?;
        group_admin::offset_commit(&conn, group, &targets, self.timeout).await?;
        Ok(targets
            .into_iter()
            .map(|(topic, partition, offset)| CommittedOffset {
                topic,
                partition,
                offset,
                metadata: String::new(),
                error: None,
            })
            .collect())
    }

    /// Deletes `group`'s committed offsets of `partitions` of `topic`
    /// (OffsetDelete). Refused for a topic a member of the group consumes
    /// (`GROUP_SUBSCRIBED_TO_TOPIC`) and for an unknown group
    /// (`GROUP_ID_NOT_FOUND`).
    pub async fn delete_offsets(&self, group: &str, topic: &str, partitions: &[i32]) -> Result<()> {
        let conn = self.coordinator_conn(group).await?;
        group_admin::offset_delete(&conn, group, topic, partitions, self.timeout).await
    }

    /// Deletes groups and their committed offsets (kafka-go's
    /// `DeleteGroups`), each on its coordinator; fails on the first refused
    /// group (`NON_EMPTY_GROUP` while it has members, `GROUP_ID_NOT_FOUND`).
    pub async fn delete_groups(&self, groups: &[&str]) -> Result<()> {
        for group in groups {
            let conn = self.coordinator_conn(group).await?;
            group_admin::delete_group(&conn, group, self.timeout).await?;
        }
        Ok(())
    }

    /// A connection to the broker that answers for `resource`.
    async fn config_conn(&self, resource: &ConfigResource) -> Result<Arc<BrokerConn>> {
        match resource.broker() {
            Some(id) => {
                self.brokers.refresh(&[], None).await?;
                self.brokers.conn(id).await
            }
            None => self.brokers.any_conn().await,
        }
    }

    /// The configuration of each resource (kafka-go's `DescribeConfigs`):
    /// only `keys` when not empty, with each key's synonyms.
    pub async fn describe_configs(
        &self,
        resources: &[ConfigResource],
        keys: &[&str],
    ) -> Result<Vec<ResourceConfig>> {
        let mut out = Vec::with_capacity(resources.len());
        for resource in resources {
            let conn = self.config_conn(resource).await?;
            out.push(configs::describe_configs(&conn, resource, keys, true, self.timeout).await?);
        }
        Ok(out)
    }

    /// Replaces `resource`'s whole configuration with `entries` (kafka-go's
    /// `AlterConfigs`): keys not listed go back to their defaults. Prefer
    /// [`incremental_alter_configs`](Self::incremental_alter_configs).
    pub async fn alter_configs(
        &self,
        resource: &ConfigResource,
        entries: &[(&str, &str)],
    ) -> Result<()> {
        let conn = self.config_conn(resource).await?;
        configs::alter_configs(&conn, resource, entries, false, self.timeout).await
    }

    /// Sets, deletes, appends to or subtracts from single keys of
    /// `resource`'s configuration (kafka-go's `IncrementalAlterConfigs`).
    pub async fn incremental_alter_configs(
        &self,
        resource: &ConfigResource,
        ops: &[AlterConfigOp],
    ) -> Result<()> {
        let conn = self.config_conn(resource).await?;
        configs::incremental_alter_configs(&conn, resource, ops, false, self.timeout).await
    }

    /// Deletes the records below each `(topic, partition, offset)` (-1: all
    /// records), on each partition's leader; returns the new log start
    /// offsets as `(topic, partition, low watermark)`. A partition of a
    /// topic whose `cleanup.policy` lacks `delete` is `POLICY_VIOLATION`.
    pub async fn delete_records(
        &self,
        offsets: &[(&str, i32, i64)],
    ) -> Result<Vec<(String, i32, i64)>> {
        let mut topics: Vec<&str> = offsets.iter().map(|o| o.0).collect();
        topics.sort_unstable();
        topics.dedup();
        self.brokers.refresh(&topics, None).await?;
        let mut by_leader: BTreeMap<(i32, &str), Vec<(i32, i64)>> = BTreeMap::new();
        for &(topic, partition, offset) in offsets {
            match self.brokers.leader(topic, partition) {
                Some((leader, _)) if leader >= 0 => by_leader
                    .entry((leader, topic))
                    .or_default()
                    .push((partition, offset)),
                Some(_) => {
                    return Err(Error::new(ErrorKind::NoLeader)
                        .with_api(ApiKey::DeleteRecords)
                        .with_partition(topic, partition))
                }
                None => {
                    return Err(Error::new(ErrorKind::NotFound("partition"))
                        .with_api(ApiKey::DeleteRecords)
                        .with_partition(topic, partition))
                }
            }
        }
        let mut out = Vec::with_capacity(offsets.len());
        for ((leader, topic), parts) in by_leader {
            let conn = self.brokers.conn(leader).await?;
            for (partition, low) in
                cluster_admin::delete_records(&conn, topic, &parts, self.timeout).await?
            {
                out.push((topic.to_owned(), partition, low));
            }
        }
        Ok(out)
    }

    /// Elects leaders of `partitions` (`(topic, partitions)`; `None`: every
    /// partition whose wanted replica does not lead), as
    /// `kafka-leader-election.sh`.
    pub async fn elect_leaders(
        &self,
        partitions: Option<&[(&str, Vec<i32>)]>,
        election: ElectionType,
    ) -> Result<Vec<ElectionResult>> {
        let conn = self.brokers.any_conn().await?;
        cluster_admin::elect_leaders(&conn, partitions, election, self.timeout).await
    }

    /// The cluster id, controller and brokers (DescribeCluster).
    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        let conn = self.brokers.any_conn().await?;
        cluster_admin::describe_cluster(&conn, self.timeout).await
    }

    /// Closes the connections.
    pub fn close(self) {
        self.brokers.close();
    }
}

/// What only the controller does.
#[derive(Clone, Copy)]
enum ControllerOp<'a> {
    Create(&'a [TopicConfig]),
    Delete(&'a [&'a str]),
    Grow(&'a str, i32),
}
