//! [`MetadataCache`]: what one topic's producer or consumer keeps from a
//! Metadata response, in fixed tables.

use heapless::{String, Vec};

use crate::error::{Error, Result};
use crate::protocol::fixed::MetadataV4;
use crate::protocol::messages::MetadataResponse;
use crate::wire::Uuid;
use crate::ErrorCode;

/// A broker's address as Metadata gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerAddress<const HOST_LEN: usize = 64> {
    /// The broker's node id.
    pub node_id: i32,
    /// Host name or IP literal, as the broker advertises it.
    pub host: String<HOST_LEN>,
    /// TCP port.
    pub port: u16,
}

/// One partition's leadership as last seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PartitionState {
    /// The partition index.
    pub partition: i32,
    /// The leader's node id; -1 when the partition has no leader.
    pub leader_id: i32,
    /// The leader epoch (-1 when the broker does not say).
    pub leader_epoch: i32,
    /// The partition's error code in the response (`LEADER_NOT_AVAILABLE`...).
    pub error_code: ErrorCode,
}

/// The brokers and one topic's partition leaders, from Metadata responses,
/// in fixed-capacity tables: `BROKERS` broker addresses (host names up to
/// `HOST_LEN` bytes) and `PARTITIONS` partitions.
///
/// Limits are explicit: a topic with more than `PARTITIONS` partitions is
/// refused with [`Error::TooLarge`] (routing keys over a subset would put
/// them on other partitions than every other client does), unless the cache
/// tracks a single partition ([`for_partition`](Self::for_partition), for a
/// partition consumer). Brokers beyond `BROKERS` are dropped, the leaders of
/// tracked partitions first kept; a host name longer than `HOST_LEN` is an
/// error.
///
/// ```
/// use microkafka_core::client::MetadataCache;
/// use microkafka_core::protocol::messages::{
///     MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
/// };
/// use microkafka_core::wire::Array;
///
/// let brokers = [MetadataResponseBroker { node_id: 2, host: "10.0.0.7", port: 9092, rack: None }];
/// let partitions = [MetadataResponsePartition { partition_index: 0, leader_id: 2, ..Default::default() }];
/// let topics = [MetadataResponseTopic { name: Some("events"), partitions: Array::new(&partitions), ..Default::default() }];
/// let response = MetadataResponse { brokers: Array::new(&brokers), topics: Array::new(&topics), ..Default::default() };
///
/// let mut cache = MetadataCache::<3, 4>::new();
/// cache.update(&response, "events").unwrap();
/// assert_eq!(cache.partitions(), &[0]);
/// let leader = cache.leader(0).unwrap();
/// assert_eq!((leader.node_id, leader.host.as_str(), leader.port), (2, "10.0.0.7", 9092));
/// ```
#[derive(Clone, Debug)]
pub struct MetadataCache<const BROKERS: usize, const PARTITIONS: usize, const HOST_LEN: usize = 64>
{
    brokers: Vec<BrokerAddress<HOST_LEN>, BROKERS>,
    states: Vec<PartitionState, PARTITIONS>,
    ids: Vec<i32, PARTITIONS>,
    topic_id: Uuid,
    only: Option<i32>,
    known: bool,
}

impl<const BROKERS: usize, const PARTITIONS: usize, const HOST_LEN: usize> Default
    for MetadataCache<BROKERS, PARTITIONS, HOST_LEN>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const BROKERS: usize, const PARTITIONS: usize, const HOST_LEN: usize>
    MetadataCache<BROKERS, PARTITIONS, HOST_LEN>
{
    /// An empty cache tracking every partition of the topic.
    pub const fn new() -> Self {
        MetadataCache {
            brokers: Vec::new(),
            states: Vec::new(),
            ids: Vec::new(),
            topic_id: Uuid::ZERO,
            only: None,
            known: false,
        }
    }

    /// An empty cache tracking only `partition` of the topic.
    pub const fn for_partition(partition: i32) -> Self {
        let mut cache = Self::new();
        cache.only = Some(partition);
        cache
    }

    /// True once a response listed the topic with at least one partition.
    pub fn is_known(&self) -> bool {
        self.known
    }

    /// Forgets the partitions (brokers are kept as bootstrap candidates):
    /// the next lookups ask for a refresh.
    pub fn invalidate(&mut self) {
        self.known = false;
        self.states.clear();
        self.ids.clear();
    }

    /// Replaces what is known with `response`'s brokers and `topic`'s
    /// partitions. Returns the topic's error code (`NONE`, or e.g.
    /// `UNKNOWN_TOPIC_OR_PARTITION` / `LEADER_NOT_AVAILABLE` while a topic is
    /// being created, in which case no partition is known).
    ///
    /// Errors: [`Error::Malformed`] when the topic is not in the response,
    /// [`Error::TooLarge`] past the limits (see the type's documentation);
    /// the cache is then left invalidated, brokers kept.
    // One copy however many async paths of a client refresh metadata.
    #[inline(never)]
    pub fn update(&mut self, response: &MetadataResponse<'_>, topic: &str) -> Result<ErrorCode> {
        let found = response
            .topics
            .iter()
            .find(|t| t.name == Some(topic))
            .ok_or(Error::Malformed(
                "the topic is not in the Metadata response",
            ));
        self.invalidate();
        let t = found?;
        let partitions = t.partitions.iter().map(|p| PartitionState {
            partition: p.partition_index,
            leader_id: p.leader_id,
            leader_epoch: p.leader_epoch,
            error_code: p.error_code,
        });
        let brokers = || {
            let brokers = response.brokers.iter();
            brokers.map(|b| (b.node_id, b.host.as_bytes(), b.port))
        };
        self.apply(
            t.error_code,
            t.topic_id,
            t.partitions.len(),
            partitions,
            brokers,
        )
    }

    /// Like [`update`](Self::update), from a
    /// [fixed-version](crate::protocol::fixed) Metadata v4 answer (already
    /// seen through the topic): no leader epochs (they came in v7) and no
    /// topic id (v10).
    #[inline(never)]
    pub fn update_fixed(&mut self, response: &MetadataV4<'_>) -> Result<ErrorCode> {
        self.invalidate();
        let partitions = response.partitions().map(|p| PartitionState {
            partition: p.partition_index,
            leader_id: p.leader_id,
            leader_epoch: -1,
            error_code: p.error_code,
        });
        let brokers = || response.brokers().map(|b| (b.node_id, b.host, b.port));
        let total = response.partition_count();
        self.apply(response.error_code, Uuid::ZERO, total, partitions, brokers)
    }

    /// Replaces the tables with `partitions` (`total` in the topic) and the
    /// brokers `brokers` yields as `(node id, host, port)`, leaders first.
    fn apply<'r, B: Iterator<Item = (i32, &'r [u8], i32)>>(
        &mut self,
        error_code: ErrorCode,
        topic_id: Uuid,
        total: usize,
        partitions: impl Iterator<Item = PartitionState>,
        brokers: impl Fn() -> B,
    ) -> Result<ErrorCode> {
        let mut states: Vec<PartitionState, PARTITIONS> = Vec::new();
        for state in partitions {
            if self.only.is_some_and(|only| only != state.partition) {
                continue;
            }
            states.push(state).map_err(|_| Error::TooLarge {
                what: crate::Limit::Partitions,
                size: total,
                limit: PARTITIONS,
            })?;
        }
        // Insertion sort: brokers list partitions in order already and the
        // table is small; a firmware links no general sort for it.
        for i in 1..states.len() {
            let mut j = i;
            while j > 0 && states[j - 1].partition > states[j].partition {
                states.swap(j - 1, j);
                j -= 1;
            }
        }

        // Leaders first, so they are kept if the table is too small for all.
        let mut kept: Vec<BrokerAddress<HOST_LEN>, BROKERS> = Vec::new();
        for leaders_pass in [true, false] {
            for (node_id, host, port) in brokers() {
                let leads = states.iter().any(|s| s.leader_id == node_id);
                if leads != leaders_pass || kept.is_full() {
                    continue;
                }
                let host = ascii_string(host)?;
                let port = u16::try_from(port)
                    .map_err(|_| Error::Malformed("broker port out of range"))?;
                let _ = kept.push(BrokerAddress {
                    node_id,
                    host,
                    port,
                });
            }
        }
        if !kept.is_empty() {
            self.brokers = kept;
        }
        self.topic_id = topic_id;
        for s in &states {
            // Cannot fail: `ids` has the capacity of `states`.
            let _ = self.ids.push(s.partition);
        }
        self.known = !states.is_empty();
        self.states = states;
        Ok(error_code)
    }

    /// The partition ids tracked, ascending (what a
    /// [`Balancer`](crate::balancer::Balancer) chooses from).
    pub fn partitions(&self) -> &[i32] {
        &self.ids
    }

    /// A partition's leadership as last seen.
    pub fn partition(&self, partition: i32) -> Option<&PartitionState> {
        self.states.iter().find(|s| s.partition == partition)
    }

    /// The address of a partition's leader; `None` when unknown or leaderless.
    pub fn leader(&self, partition: i32) -> Option<&BrokerAddress<HOST_LEN>> {
        let leader = self.partition(partition)?.leader_id;
        self.broker(leader)
    }

    /// A broker's address by node id.
    pub fn broker(&self, node_id: i32) -> Option<&BrokerAddress<HOST_LEN>> {
        self.brokers.iter().find(|b| b.node_id == node_id)
    }

    /// Every broker known, in response order (leaders of tracked partitions first).
    pub fn brokers(&self) -> &[BrokerAddress<HOST_LEN>] {
        &self.brokers
    }

    /// The topic id (zero when the broker does not send ids: Metadata < v10).
    pub fn topic_id(&self) -> Uuid {
        self.topic_id
    }
}

/// A host name (or IP literal) as a string: ASCII only, as host names are
/// (RFC 1123; internationalised names travel as punycode). Copying ASCII
/// bytes as chars needs no UTF-8 validation, whose code and 256-byte table a
/// firmware would otherwise link for this alone (540 bytes of flash).
fn ascii_string<const N: usize>(host: &[u8]) -> Result<String<N>> {
    let mut s = String::new();
    for &b in host {
        if !b.is_ascii() {
            return Err(Error::Malformed("broker host name is not ASCII"));
        }
        s.push(char::from(b)).map_err(|_| Error::TooLarge {
            what: crate::Limit::HostName,
            size: host.len(),
            limit: N,
        })?;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use crate::wire::Array;

    const BROKERS: [MetadataResponseBroker<'static>; 3] = [
        MetadataResponseBroker {
            node_id: 1,
            host: "b1",
            port: 9092,
            rack: None,
        },
        MetadataResponseBroker {
            node_id: 2,
            host: "b2",
            port: 9093,
            rack: None,
        },
        MetadataResponseBroker {
            node_id: 3,
            host: "b3",
            port: 9094,
            rack: None,
        },
    ];

    fn partition(index: i32, leader: i32) -> MetadataResponsePartition<'static> {
        MetadataResponsePartition {
            partition_index: index,
            leader_id: leader,
            leader_epoch: 4,
            ..Default::default()
        }
    }

    fn with<R>(
        brokers: &[MetadataResponseBroker<'_>],
        parts: &[MetadataResponsePartition<'_>],
        f: impl FnOnce(&MetadataResponse<'_>) -> R,
    ) -> R {
        let topics = [MetadataResponseTopic {
            name: Some("t"),
            topic_id: Uuid([7; 16]),
            partitions: Array::new(parts),
            ..Default::default()
        }];
        f(&MetadataResponse {
            brokers: Array::new(brokers),
            topics: Array::new(&topics),
            ..Default::default()
        })
    }

    #[test]
    fn tracks_leaders_sorted_and_follows_a_move() {
        let mut cache = MetadataCache::<3, 4>::new();
        assert!(!cache.is_known() && cache.leader(0).is_none());
        let parts = [partition(2, 3), partition(0, 1), partition(1, 2)];
        let code = with(&BROKERS, &parts, |r| cache.update(r, "t")).unwrap();
        assert_eq!(code, ErrorCode::NONE);
        assert!(cache.is_known());
        assert_eq!(cache.partitions(), &[0, 1, 2]);
        assert_eq!(cache.leader(2).unwrap().port, 9094);
        assert_eq!(cache.partition(1).unwrap().leader_epoch, 4);
        assert_eq!(cache.topic_id(), Uuid([7; 16]));

        let moved = [partition(0, 1), partition(1, 2), partition(2, 1)];
        with(&BROKERS, &moved, |r| cache.update(r, "t")).unwrap();
        assert_eq!(cache.leader(2).unwrap().node_id, 1);

        let leaderless = [partition(0, -1)];
        with(&BROKERS, &leaderless, |r| cache.update(r, "t")).unwrap();
        assert!(cache.leader(0).is_none());
        assert_eq!(cache.partitions(), &[0]);
    }

    #[test]
    fn limits_are_errors_or_keep_the_leaders() {
        let parts = [partition(0, 3), partition(1, 3)];
        let mut one = MetadataCache::<1, 1>::new();
        assert!(matches!(
            with(&BROKERS, &parts, |r| one.update(r, "t")),
            Err(Error::TooLarge {
                what: crate::Limit::Partitions,
                ..
            })
        ));
        assert!(!one.is_known());

        // One partition tracked: fits, and the one broker kept is its leader.
        let mut single = MetadataCache::<1, 1>::for_partition(1);
        with(&BROKERS, &parts, |r| single.update(r, "t")).unwrap();
        assert_eq!(single.partitions(), &[1]);
        assert_eq!(single.brokers().len(), 1);
        assert_eq!(single.leader(1).unwrap().host.as_str(), "b3");

        let long = [MetadataResponseBroker {
            node_id: 3,
            host: "a-host-name-longer-than-sixteen",
            port: 1,
            rack: None,
        }];
        let mut short = MetadataCache::<3, 4, 16>::new();
        assert!(matches!(
            with(&long, &parts, |r| short.update(r, "t")),
            Err(Error::TooLarge {
                what: crate::Limit::HostName,
                ..
            })
        ));
    }

    #[test]
    fn a_missing_or_failed_topic_leaves_no_partitions() {
        let mut cache = MetadataCache::<3, 4>::new();
        let parts = [partition(0, 1)];
        with(&BROKERS, &parts, |r| cache.update(r, "t")).unwrap();
        assert!(with(&BROKERS, &parts, |r| cache.update(r, "other")).is_err());
        assert!(!cache.is_known());
        assert_eq!(
            cache.brokers().len(),
            3,
            "brokers kept for the next bootstrap"
        );

        let topics = [MetadataResponseTopic {
            error_code: ErrorCode::LEADER_NOT_AVAILABLE,
            name: Some("t"),
            ..Default::default()
        }];
        let response = MetadataResponse {
            brokers: Array::new(&BROKERS),
            topics: Array::new(&topics),
            ..Default::default()
        };
        assert_eq!(
            cache.update(&response, "t"),
            Ok(ErrorCode::LEADER_NOT_AVAILABLE)
        );
        assert!(!cache.is_known());
    }

    #[test]
    fn fixed_v4_bytes_fill_the_cache_as_the_general_codec_does() {
        extern crate std;
        use crate::protocol::{fixed, Message};
        use crate::wire::{Wire, Writer};

        let parts = [partition(2, 3), partition(0, 1), partition(1, 2)];
        let mut general = MetadataCache::<2, 4>::new();
        let mut from_bytes = MetadataCache::<2, 4>::new();
        with(&BROKERS, &parts, |r| {
            general.update(r, "t").unwrap();
            let v = MetadataResponse::wire_version(fixed::METADATA).unwrap();
            let mut buf = std::vec![0u8; r.encoded_len(v).unwrap()];
            r.encode(&mut Writer::new(&mut buf), v).unwrap();
            let view = fixed::MetadataV4::decode(&buf, "t").unwrap();
            from_bytes.update_fixed(&view).unwrap();
        });
        assert_eq!(from_bytes.partitions(), general.partitions());
        assert_eq!(from_bytes.brokers(), general.brokers());
        for p in 0..3 {
            assert_eq!(from_bytes.leader(p), general.leader(p));
            // v4 carries no leader epochs: unknown, not the general codec's 4.
            assert_eq!(from_bytes.partition(p).unwrap().leader_epoch, -1);
        }
        assert_eq!(from_bytes.topic_id(), Uuid::ZERO);
    }

    #[test]
    fn host_names_must_be_ascii_and_fit() {
        let parts = [partition(0, 1)];
        let named = |host| {
            let brokers = [MetadataResponseBroker { host, ..BROKERS[0] }];
            let mut cache = MetadataCache::<1, 1, 8>::new();
            with(&brokers, &parts, |r| cache.update(r, "t")).map(|_| cache)
        };
        let ok = named("10.0.0.1").unwrap();
        assert_eq!(ok.leader(0).unwrap().host.as_str(), "10.0.0.1");
        assert_eq!(
            named("k\u{e4}fka").map(|_| ()),
            Err(Error::Malformed("broker host name is not ASCII"))
        );
        assert_eq!(
            named("kafka.example").map(|_| ()),
            Err(Error::TooLarge {
                what: crate::Limit::HostName,
                size: 13,
                limit: 8
            })
        );
    }
}
