//! Cluster metadata as users see it (kafka-go's `Broker` and `Partition`),
//! and the cache the Writer, Reader and Client share.

use std::collections::HashMap;

use microkafka_core::protocol::messages::MetadataResponse;
use microkafka_core::wire::Uuid;
use microkafka_core::ErrorCode;

/// A broker of the cluster (kafka-go's `Broker`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Broker {
    /// The node id; -1 when the broker is unknown (a leaderless partition).
    pub id: i32,
    /// Host name or IP it advertises.
    pub host: String,
    /// Port it listens on.
    pub port: i32,
    /// Its rack, when configured.
    pub rack: Option<String>,
}

impl Broker {
    /// `host:port`, the address to dial.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn unknown(id: i32) -> Broker {
        Broker {
            id,
            host: String::new(),
            port: -1,
            rack: None,
        }
    }
}

/// A partition and where it lives (kafka-go's `Partition`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// The topic.
    pub topic: String,
    /// The partition id.
    pub id: i32,
    /// The leader (id -1 when there is none right now).
    pub leader: Broker,
    /// The leader epoch (-1 when the broker does not say).
    pub leader_epoch: i32,
    /// Every replica.
    pub replicas: Vec<Broker>,
    /// The replicas in sync with the leader.
    pub isr: Vec<Broker>,
    /// The replicas that are offline.
    pub offline_replicas: Vec<Broker>,
    /// The partition's error in the metadata, if any (e.g.
    /// `LEADER_NOT_AVAILABLE` during an election).
    pub error: Option<ErrorCode>,
}

/// What the cache keeps of a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PartitionMeta {
    pub(crate) id: i32,
    pub(crate) leader: i32,
    pub(crate) leader_epoch: i32,
}

/// What the cache keeps of a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TopicMeta {
    pub(crate) id: Uuid,
    pub(crate) error: ErrorCode,
    /// Sorted by id.
    pub(crate) partitions: Vec<PartitionMeta>,
    /// The partition ids, ascending (what balancers choose from).
    pub(crate) ids: Vec<i32>,
}

impl TopicMeta {
    pub(crate) fn partition(&self, id: i32) -> Option<&PartitionMeta> {
        self.partitions
            .binary_search_by_key(&id, |p| p.id)
            .ok()
            .map(|i| &self.partitions[i])
    }
}

/// One Metadata response, owned.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) brokers: HashMap<i32, Broker>,
    pub(crate) controller: i32,
    pub(crate) topics: HashMap<String, TopicMeta>,
    /// Full partition descriptions, in response order.
    pub(crate) partitions: Vec<Partition>,
}

impl Snapshot {
    /// Copies what matters out of a decoded Metadata response.
    pub(crate) fn from_response(r: &MetadataResponse<'_>) -> Snapshot {
        let brokers: HashMap<i32, Broker> = r
            .brokers
            .iter()
            .map(|b| {
                (
                    b.node_id,
                    Broker {
                        id: b.node_id,
                        host: b.host.to_owned(),
                        port: b.port,
                        rack: b.rack.map(str::to_owned),
                    },
                )
            })
            .collect();
        let broker = |id: i32| {
            brokers
                .get(&id)
                .cloned()
                .unwrap_or_else(|| Broker::unknown(id))
        };
        let mut topics = HashMap::new();
        let mut partitions = Vec::new();
        for t in r.topics.iter() {
            let Some(name) = t.name else { continue };
            let mut metas: Vec<PartitionMeta> = Vec::with_capacity(t.partitions.len());
            for p in t.partitions.iter() {
                metas.push(PartitionMeta {
                    id: p.partition_index,
                    leader: p.leader_id,
                    leader_epoch: p.leader_epoch,
                });
                partitions.push(Partition {
                    topic: name.to_owned(),
                    id: p.partition_index,
                    leader: broker(p.leader_id),
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes.iter().map(broker).collect(),
                    isr: p.isr_nodes.iter().map(broker).collect(),
                    offline_replicas: p.offline_replicas.iter().map(broker).collect(),
                    error: p.error_code.is_err().then_some(p.error_code),
                });
            }
            metas.sort_by_key(|p| p.id);
            let ids = metas.iter().map(|p| p.id).collect();
            topics.insert(
                name.to_owned(),
                TopicMeta {
                    id: t.topic_id,
                    error: t.error_code,
                    partitions: metas,
                    ids,
                },
            );
        }
        Snapshot {
            brokers,
            controller: r.controller_id,
            topics,
            partitions,
        }
    }
}
