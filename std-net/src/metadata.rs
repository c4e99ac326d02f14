//! Cluster metadata as users see it (kafka-go's `Broker` and `Partition`),
//! and the cache the Writer, Reader and Client share.
//!
//! A Metadata response is a broker's word, and a hostile or spoofed broker
//! can make it say a lot with few bytes: one long host name referred to by
//! thousands of replica ids, one long topic name over thousands of
//! partitions. So names are held once and shared ([`Arc<str>`]), the
//! snapshot keeps replica lists as ids, and the kafka-go-shaped
//! [`Partition`] descriptions (a [`Broker`] per replica) are built only for
//! the callers that ask for them: memory stays proportional to the
//! response, a few machine words per id on the wire.

use std::collections::HashMap;
use std::sync::Arc;

use microkafka_core::protocol::messages::MetadataResponse;
use microkafka_core::wire::{Array, Uuid};
use microkafka_core::ErrorCode;

/// A broker of the cluster (kafka-go's `Broker`).
///
/// Cloning is cheap: the host and rack names are shared, not copied.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Broker {
    /// The node id; -1 when the broker is unknown (a leaderless partition).
    pub id: i32,
    /// Host name or IP it advertises (empty when the broker is unknown).
    pub host: Arc<str>,
    /// Port it listens on.
    pub port: i32,
    /// Its rack, when configured.
    pub rack: Option<Arc<str>>,
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
}

/// A partition and where it lives (kafka-go's `Partition`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// The topic (shared by every partition of the topic).
    pub topic: Arc<str>,
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

/// A partition as the response describes it: brokers by id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PartitionIds {
    pub(crate) topic: Arc<str>,
    pub(crate) id: i32,
    pub(crate) leader: i32,
    pub(crate) leader_epoch: i32,
    pub(crate) replicas: Vec<i32>,
    pub(crate) isr: Vec<i32>,
    pub(crate) offline_replicas: Vec<i32>,
    pub(crate) error: Option<ErrorCode>,
}

/// One Metadata response, owned: every string once, replicas as ids.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) brokers: HashMap<i32, Broker>,
    pub(crate) controller: i32,
    pub(crate) topics: HashMap<String, TopicMeta>,
    /// Every partition, in response order.
    pub(crate) partitions: Vec<PartitionIds>,
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
                        host: Arc::from(b.host),
                        port: b.port,
                        rack: b.rack.map(Arc::from),
                    },
                )
            })
            .collect();
        let mut topics = HashMap::new();
        let mut partitions = Vec::new();
        for t in r.topics.iter() {
            let Some(name) = t.name else { continue };
            let shared: Arc<str> = Arc::from(name);
            let mut metas: Vec<PartitionMeta> = Vec::with_capacity(t.partitions.len());
            partitions.reserve(t.partitions.len());
            for p in t.partitions.iter() {
                metas.push(PartitionMeta {
                    id: p.partition_index,
                    leader: p.leader_id,
                    leader_epoch: p.leader_epoch,
                });
                partitions.push(PartitionIds {
                    topic: shared.clone(),
                    id: p.partition_index,
                    leader: p.leader_id,
                    leader_epoch: p.leader_epoch,
                    replicas: ids(&p.replica_nodes),
                    isr: ids(&p.isr_nodes),
                    offline_replicas: ids(&p.offline_replicas),
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

    /// Every partition in kafka-go's shape, in response order.
    pub(crate) fn partitions(&self) -> Vec<Partition> {
        self.partitions_where(|_| true)
    }

    /// The partitions of `topic` in kafka-go's shape, in response order.
    pub(crate) fn topic_partitions(&self, topic: &str) -> Vec<Partition> {
        self.partitions_where(|p| &*p.topic == topic)
    }

    /// Partition `id` of `topic` in kafka-go's shape.
    pub(crate) fn partition(&self, topic: &str, id: i32) -> Option<Partition> {
        let unknown = Arc::from("");
        self.partitions
            .iter()
            .find(|p| &*p.topic == topic && p.id == id)
            .map(|p| self.describe(p, &unknown))
    }

    fn partitions_where(&self, keep: impl Fn(&PartitionIds) -> bool) -> Vec<Partition> {
        // One empty host for every broker the response does not list.
        let unknown: Arc<str> = Arc::from("");
        let mut out = Vec::with_capacity(self.partitions.iter().filter(|p| keep(p)).count());
        out.extend(
            self.partitions
                .iter()
                .filter(|p| keep(p))
                .map(|p| self.describe(p, &unknown)),
        );
        out
    }

    fn describe(&self, p: &PartitionIds, unknown: &Arc<str>) -> Partition {
        let broker = |id: &i32| match self.brokers.get(id) {
            Some(b) => b.clone(),
            None => Broker {
                id: *id,
                host: unknown.clone(),
                port: -1,
                rack: None,
            },
        };
        Partition {
            topic: p.topic.clone(),
            id: p.id,
            leader: broker(&p.leader),
            leader_epoch: p.leader_epoch,
            replicas: p.replicas.iter().map(broker).collect(),
            isr: p.isr.iter().map(broker).collect(),
            offline_replicas: p.offline_replicas.iter().map(broker).collect(),
            error: p.error,
        }
    }
}

/// The ids of a decoded array, in one allocation of the right size.
fn ids(a: &Array<'_, i32>) -> Vec<i32> {
    let mut out = Vec::with_capacity(a.len());
    out.extend(a.iter());
    out
}
