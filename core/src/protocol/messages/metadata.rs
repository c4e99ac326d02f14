//! Metadata (key 3): brokers, topics, partitions and their leaders.

use crate::wire::{Array, Uuid};
use crate::ErrorCode;

wire_struct! {
    /// One topic to fetch metadata for.
    pub struct MetadataRequestTopic<'a> {
        /// The topic id (v10+).
        pub topic_id: Uuid => 10..,
        /// The topic name (null when querying by id, v10+).
        pub name: Option<&'a str> => 0..; null 10..,
    }
}

wire_struct! {
    /// Metadata request.
    pub struct MetadataRequest<'a> {
        /// The topics to fetch metadata for; null (v1+) means all topics.
        /// In v0 an empty array means all topics.
        pub topics: Option<Array<'a, MetadataRequestTopic<'a>>> => 0..; null 1..,
        /// Whether the broker may auto-create requested topics.
        pub allow_auto_topic_creation: bool = true => 4..,
        /// Whether to include cluster authorized operations (v8-10).
        pub include_cluster_authorized_operations: bool => 8..=10,
        /// Whether to include topic authorized operations.
        pub include_topic_authorized_operations: bool => 8..,
    }
}

wire_struct! {
    /// A broker in the cluster.
    pub struct MetadataResponseBroker<'a> {
        /// The broker id.
        pub node_id: i32 => 0..,
        /// The broker hostname.
        pub host: &'a str => 0..,
        /// The broker port.
        pub port: i32 => 0..,
        /// The broker's rack, or null.
        pub rack: Option<&'a str> => 1..,
    }
}

wire_struct! {
    /// One partition of a topic.
    pub struct MetadataResponsePartition<'a> {
        /// The partition error, or 0 if there was no error.
        pub error_code: ErrorCode => 0..,
        /// The partition index.
        pub partition_index: i32 => 0..,
        /// The leader broker's id.
        pub leader_id: i32 => 0..,
        /// The leader epoch of this partition.
        pub leader_epoch: i32 = -1 => 7..,
        /// All nodes that host this partition.
        pub replica_nodes: Array<'a, i32> => 0..,
        /// The nodes in sync with the leader.
        pub isr_nodes: Array<'a, i32> => 0..,
        /// The offline replicas of this partition.
        pub offline_replicas: Array<'a, i32> => 5..,
    }
}

wire_struct! {
    /// One topic in the response.
    pub struct MetadataResponseTopic<'a> {
        /// The topic error, or 0 if there was no error.
        pub error_code: ErrorCode => 0..,
        /// The topic name; null (v12+) for unknown topics queried by id.
        pub name: Option<&'a str> => 0..; null 12..,
        /// The topic id; zero for unknown topics queried by name.
        pub topic_id: Uuid => 10..,
        /// True if the topic is internal.
        pub is_internal: bool => 1..,
        /// Each partition in the topic.
        pub partitions: Array<'a, MetadataResponsePartition<'a>> => 0..,
        /// Bitfield of the operations authorized on this topic.
        pub topic_authorized_operations: i32 = i32::MIN => 8..,
    }
}

wire_struct! {
    /// Metadata response.
    pub struct MetadataResponse<'a> {
        /// Throttle time in milliseconds (v3+).
        pub throttle_time_ms: i32 => 3..,
        /// The brokers in the cluster.
        pub brokers: Array<'a, MetadataResponseBroker<'a>> => 0..,
        /// The cluster id, or null.
        pub cluster_id: Option<&'a str> => 2..,
        /// The controller broker's id.
        pub controller_id: i32 = -1 => 1..,
        /// Each topic in the response.
        pub topics: Array<'a, MetadataResponseTopic<'a>> => 0..,
        /// Bitfield of the operations authorized on the cluster (v8-10).
        pub cluster_authorized_operations: i32 = i32::MIN => 8..=10,
    }
}

crate::protocol::api!(Metadata, versions 0..=12, flexible Some(9),
    MetadataRequest<'a> => MetadataResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testing::golden;

    #[test]
    fn v1_request_two_topics() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0x00, 0x00, 0x00, 0x02,     // topics: 2
            0x00, 0x03, b'f', b'o', b'o', //   name: "foo"
            0x00, 0x03, b'b', b'a', b'r', //   name: "bar"
        ];
        let req: MetadataRequest = golden(BYTES, 1);
        let topics = req.topics.unwrap();
        assert!(topics.iter().map(|t| t.name).eq([Some("foo"), Some("bar")]));
        assert!(req.allow_auto_topic_creation, "absent before v4: true");
    }

    #[test]
    fn v1_request_all_topics() {
        const BYTES: &[u8] = &[0xff, 0xff, 0xff, 0xff]; // topics: null
        let req: MetadataRequest = golden(BYTES, 1);
        assert_eq!(req.topics, None);
    }

    #[test]
    fn v12_request_by_id() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0x02,                       // topics: 1 (compact)
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // topic_id
            0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
            0x00,                       //   name: null
            0x00,                       //   tagged fields: none
            0x00,                       // allow_auto_topic_creation: false
            0x01,                       // include_topic_authorized_operations: true
            0x00,                       // tagged fields: none
        ];
        let req: MetadataRequest = golden(BYTES, 12);
        let t = req.topics.unwrap().iter().next().unwrap();
        assert_eq!(t.topic_id.0[0], 1);
        assert_eq!(t.name, None);
        assert!(!req.allow_auto_topic_creation);
        assert!(!req.include_cluster_authorized_operations);
        assert!(req.include_topic_authorized_operations);
    }

    #[test]
    fn v12_response() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0x00, 0x00, 0x00, 0x00,     // throttle_time_ms: 0
            0x02,                       // brokers: 1 (compact)
            0x00, 0x00, 0x00, 0x01,     //   node_id: 1
            0x0a, b'l', b'o', b'c', b'a', b'l', b'h', b'o', b's', b't', // host
            0x00, 0x00, 0x23, 0x84,     //   port: 9092
            0x00,                       //   rack: null
            0x00,                       //   tagged fields: none
            0x04, b'a', b'b', b'c',     // cluster_id: "abc"
            0x00, 0x00, 0x00, 0x01,     // controller_id: 1
            0x02,                       // topics: 1
            0x00, 0x00,                 //   error_code: NONE
            0x04, b'f', b'o', b'o',     //   name: "foo"
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // topic_id
            0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
            0x00,                       //   is_internal: false
            0x02,                       //   partitions: 1
            0x00, 0x00,                 //     error_code: NONE
            0x00, 0x00, 0x00, 0x00,     //     partition_index: 0
            0x00, 0x00, 0x00, 0x01,     //     leader_id: 1
            0x00, 0x00, 0x00, 0x00,     //     leader_epoch: 0
            0x02, 0x00, 0x00, 0x00, 0x01, // replica_nodes: [1]
            0x02, 0x00, 0x00, 0x00, 0x01, // isr_nodes: [1]
            0x01,                       //     offline_replicas: []
            0x00,                       //     tagged fields: none
            0x80, 0x00, 0x00, 0x00,     //   topic_authorized_operations: i32::MIN
            0x00,                       //   tagged fields: none
            0x00,                       // tagged fields: none
        ];
        let resp: MetadataResponse = golden(BYTES, 12);
        assert_eq!(resp.throttle_time_ms, 0);
        assert_eq!(
            resp.brokers.iter().next().unwrap(),
            MetadataResponseBroker {
                node_id: 1,
                host: "localhost",
                port: 9092,
                rack: None
            }
        );
        assert_eq!(resp.cluster_id, Some("abc"));
        assert_eq!(resp.controller_id, 1);
        assert_eq!(
            resp.cluster_authorized_operations,
            i32::MIN,
            "absent from v11"
        );
        let t = resp.topics.iter().next().unwrap();
        assert_eq!(t.error_code, ErrorCode::NONE);
        assert_eq!(t.name, Some("foo"));
        assert_eq!(t.topic_id.0[15], 0x10);
        assert!(!t.is_internal);
        assert_eq!(t.topic_authorized_operations, i32::MIN);
        let p = t.partitions.iter().next().unwrap();
        assert_eq!(p.error_code, ErrorCode::NONE);
        assert_eq!((p.partition_index, p.leader_id, p.leader_epoch), (0, 1, 0));
        assert!(p.replica_nodes.iter().eq([1]));
        assert!(p.isr_nodes.iter().eq([1]));
        assert!(p.offline_replicas.is_empty());

        // MetadataResponse has no tagged fields: an unknown one in the topic's
        // tagged section (tag 5, 1 byte) is skipped and the value is unchanged.
        let at = BYTES.len() - 2; // the topic's tagged-field count
        let mut with_tag = [0u8; BYTES.len() + 3];
        with_tag[..at].copy_from_slice(&BYTES[..at]);
        with_tag[at..at + 4].copy_from_slice(&[0x01, 0x05, 0x01, 0xee]);
        with_tag[at + 4] = 0x00;
        let v = <MetadataResponse as crate::protocol::Message>::wire_version(12).unwrap();
        let mut r = crate::wire::Reader::new(&with_tag);
        let again = <MetadataResponse as crate::wire::Wire>::decode(&mut r, v).unwrap();
        assert!(r.is_empty());
        assert_eq!(again, resp);
    }

    #[test]
    fn v0_response() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0x00, 0x00, 0x00, 0x01,     // brokers: 1
            0x00, 0x00, 0x00, 0x00,     //   node_id: 0
            0x00, 0x01, b'h',           //   host: "h"
            0x00, 0x00, 0x23, 0x84,     //   port: 9092
            0x00, 0x00, 0x00, 0x01,     // topics: 1
            0x00, 0x03,                 //   error_code: UNKNOWN_TOPIC_OR_PARTITION
            0x00, 0x01, b'x',           //   name: "x"
            0x00, 0x00, 0x00, 0x00,     //   partitions: empty
        ];
        let resp: MetadataResponse = golden(BYTES, 0);
        let b = resp.brokers.iter().next().unwrap();
        assert_eq!((b.node_id, b.host, b.port, b.rack), (0, "h", 9092, None));
        assert_eq!(resp.cluster_id, None);
        assert_eq!(resp.controller_id, -1, "absent in v0");
        let t = resp.topics.iter().next().unwrap();
        assert_eq!(t.error_code, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
        assert_eq!(t.name, Some("x"));
        assert!(t.partitions.is_empty());
    }
}
