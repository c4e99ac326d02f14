//! Fetch (key 1): read record batches from partitions.

use crate::wire::{Array, Uuid};
use crate::ErrorCode;

wire_struct! {
    /// The fetching follower's identity (tagged, v15+).
    pub struct FetchReplicaState {
        /// The follower's replica id, or -1 for a consumer.
        pub replica_id: i32 = -1 => 15..,
        /// The follower's broker epoch, or -1 if not available.
        pub replica_epoch: i64 = -1 => 15..,
    }
}

wire_struct! {
    /// One partition to fetch.
    pub struct FetchPartition {
        /// The partition index.
        pub partition: i32 => 0..,
        /// The current leader epoch of the partition.
        pub current_leader_epoch: i32 = -1 => 9..,
        /// The offset to fetch from.
        pub fetch_offset: i64 => 0..,
        /// The epoch of the last fetched record, or -1 if there is none.
        pub last_fetched_epoch: i32 = -1 => 12..,
        /// The follower's earliest available offset (followers only).
        pub log_start_offset: i64 = -1 => 5..,
        /// The maximum bytes to fetch from this partition (see KIP-74).
        pub partition_max_bytes: i32 => 0..,
        /// The directory id of the fetching follower.
        @tag 0 pub replica_directory_id: Uuid => 17..,
    }
}

wire_struct! {
    /// One topic to fetch.
    pub struct FetchTopic<'a> {
        /// The topic name (v0-12).
        pub topic: &'a str => 0..=12,
        /// The topic id (v13+).
        pub topic_id: Uuid => 13..,
        /// The partitions to fetch.
        pub partitions: Array<'a, FetchPartition> => 0..,
    }
}

wire_struct! {
    /// A topic's partitions to remove from an incremental fetch session.
    pub struct FetchForgottenTopic<'a> {
        /// The topic name (v7-12).
        pub topic: &'a str => 7..=12,
        /// The topic id (v13+).
        pub topic_id: Uuid => 13..,
        /// The partition indexes to forget.
        pub partitions: Array<'a, i32> => 7..,
    }
}

wire_struct! {
    /// Fetch request.
    pub struct FetchRequest<'a> {
        /// The cluster id if known, or null.
        @tag 0 pub cluster_id: Option<&'a str> => 12..,
        /// The follower's broker id, or -1 for a consumer (v0-14).
        pub replica_id: i32 = -1 => 0..=14,
        /// The follower's identity (v15+).
        @tag 1 pub replica_state: FetchReplicaState => 15..,
        /// The maximum time in milliseconds to wait for the response.
        pub max_wait_ms: i32 => 0..,
        /// The minimum bytes to accumulate in the response.
        pub min_bytes: i32 => 0..,
        /// The maximum bytes to fetch (see KIP-74).
        pub max_bytes: i32 = 0x7fff_ffff => 3..,
        /// 0 = READ_UNCOMMITTED, 1 = READ_COMMITTED.
        pub isolation_level: i8 => 4..,
        /// The fetch session id.
        pub session_id: i32 => 7..,
        /// The fetch session epoch.
        pub session_epoch: i32 = -1 => 7..,
        /// The topics to fetch.
        pub topics: Array<'a, FetchTopic<'a>> => 0..,
        /// In an incremental fetch, the partitions to remove.
        pub forgotten_topics_data: Array<'a, FetchForgottenTopic<'a>> => 7..,
        /// The rack id of the consumer.
        pub rack_id: &'a str => 11..,
    }
}

wire_struct! {
    /// The largest epoch and its end offset when divergence is detected.
    pub struct FetchEpochEndOffset {
        /// The epoch.
        pub epoch: i32 = -1 => 12..,
        /// The end offset of that epoch.
        pub end_offset: i64 = -1 => 12..,
    }
}

wire_struct! {
    /// The current leader of a partition (tagged, v12+).
    pub struct FetchLeaderIdAndEpoch {
        /// The current leader's id, or -1 if unknown.
        pub leader_id: i32 = -1 => 12..,
        /// The latest known leader epoch.
        pub leader_epoch: i32 = -1 => 12..,
    }
}

wire_struct! {
    /// The snapshot to fetch instead when the offset is below the log start.
    pub struct FetchSnapshotId {
        /// The snapshot's end offset.
        pub end_offset: i64 = -1 => 0..,
        /// The snapshot's epoch.
        pub epoch: i32 = -1 => 0..,
    }
}

wire_struct! {
    /// An aborted transaction in the fetched range.
    pub struct FetchAbortedTransaction {
        /// The producer id of the aborted transaction.
        pub producer_id: i64 => 4..,
        /// The first offset in the aborted transaction.
        pub first_offset: i64 => 4..,
    }
}

wire_struct! {
    /// The data fetched from one partition.
    pub struct FetchPartitionData<'a> {
        /// The partition index.
        pub partition_index: i32 => 0..,
        /// The error code, or 0 if there was no fetch error.
        pub error_code: ErrorCode => 0..,
        /// The current high watermark.
        pub high_watermark: i64 => 0..,
        /// The last stable offset (LSO).
        pub last_stable_offset: i64 = -1 => 4..,
        /// The current log start offset.
        pub log_start_offset: i64 = -1 => 5..,
        /// Where the log diverges from the fetcher's `LastFetchedEpoch`.
        @tag 0 pub diverging_epoch: FetchEpochEndOffset => 12..,
        /// The current leader.
        @tag 1 pub current_leader: FetchLeaderIdAndEpoch => 12..,
        /// The snapshot to fetch when the offset is below the log start.
        @tag 2 pub snapshot_id: FetchSnapshotId => 12..,
        /// The aborted transactions, or null.
        pub aborted_transactions: Option<Array<'a, FetchAbortedTransaction>> => 4..,
        /// The preferred read replica for the next fetch, or -1.
        pub preferred_read_replica: i32 = -1 => 11..,
        /// The record data (raw record batch bytes), or null.
        pub records: Option<&'a [u8]> => 0..,
    }
}

wire_struct! {
    /// The fetched data of one topic.
    pub struct FetchableTopicResponse<'a> {
        /// The topic name (v0-12).
        pub topic: &'a str => 0..=12,
        /// The topic id (v13+).
        pub topic_id: Uuid => 13..,
        /// The topic partitions.
        pub partitions: Array<'a, FetchPartitionData<'a>> => 0..,
    }
}

wire_struct! {
    /// The endpoint of a current leader named in the response (v16+).
    pub struct FetchNodeEndpoint<'a> {
        /// The node id.
        pub node_id: i32 => 16..,
        /// The node's hostname.
        pub host: &'a str => 16..,
        /// The node's port.
        pub port: i32 => 16..,
        /// The node's rack, or null.
        pub rack: Option<&'a str> => 16..,
    }
}

wire_struct! {
    /// Fetch response.
    pub struct FetchResponse<'a> {
        /// Throttle time in milliseconds (v1+).
        pub throttle_time_ms: i32 => 1..,
        /// The top-level error code (v7+).
        pub error_code: ErrorCode => 7..,
        /// The fetch session id, or 0 outside a fetch session.
        pub session_id: i32 => 7..,
        /// The response topics.
        pub responses: Array<'a, FetchableTopicResponse<'a>> => 0..,
        /// Endpoints of the current leaders named in partitions with
        /// `NOT_LEADER_OR_FOLLOWER` or `FENCED_LEADER_EPOCH`.
        @tag 0 pub node_endpoints: Array<'a, FetchNodeEndpoint<'a>> => 16..,
    }
}

crate::protocol::api!(Fetch, versions 0..=17, flexible Some(12),
    FetchRequest<'a> => FetchResponse<'a>);

/// The first version whose responses name topics by id instead of by name.
pub const FETCH_TOPIC_ID_VERSION: i16 = 13;

impl<'a> FetchResponse<'a> {
    /// The data for one partition of a response decoded at `version`: topics
    /// are matched by `topic_id` from v13 (the broker sends ids only) and by
    /// `topic` name before. `None` when the response does not mention it.
    pub fn partition(
        &self,
        version: i16,
        topic: &str,
        topic_id: Uuid,
        partition: i32,
    ) -> Option<FetchPartitionData<'a>> {
        let by_id = version >= FETCH_TOPIC_ID_VERSION;
        self.responses
            .iter()
            .filter(|t| {
                if by_id {
                    t.topic_id == topic_id
                } else {
                    t.topic == topic
                }
            })
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testing::golden;

    #[test]
    fn v4_response() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0x00, 0x00, 0x00, 0x05,     // throttle_time_ms: 5
            0x00, 0x00, 0x00, 0x01,     // responses: 1 topic
            0x00, 0x03, b'f', b'o', b'o', //   topic: "foo"
            0x00, 0x00, 0x00, 0x01,     //   partitions: 1
            0x00, 0x00, 0x00, 0x00,     //     partition_index: 0
            0x00, 0x00,                 //     error_code: NONE
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, // high_watermark: 10
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, // last_stable_offset: 8
            0x00, 0x00, 0x00, 0x01,     //     aborted_transactions: 1
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, // producer_id: 7
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, // first_offset: 3
            0x00, 0x00, 0x00, 0x03,     //     records: 3 bytes
            0x01, 0x02, 0x03,
        ];
        let resp: FetchResponse = golden(BYTES, 4);
        assert_eq!(resp.throttle_time_ms, 5);
        assert_eq!(resp.error_code, ErrorCode::NONE);
        assert_eq!(resp.session_id, 0);
        let topic = resp.responses.iter().next().unwrap();
        assert_eq!(topic.topic, "foo");
        let p = topic.partitions.iter().next().unwrap();
        assert_eq!(p.partition_index, 0);
        assert_eq!(p.error_code, ErrorCode::NONE);
        assert_eq!(p.high_watermark, 10);
        assert_eq!(p.last_stable_offset, 8);
        assert_eq!(p.log_start_offset, -1, "absent before v5");
        assert_eq!(p.preferred_read_replica, -1, "absent before v11");
        let aborted = p.aborted_transactions.unwrap();
        assert_eq!(
            aborted.iter().next().unwrap(),
            FetchAbortedTransaction {
                producer_id: 7,
                first_offset: 3
            }
        );
        assert_eq!(p.records, Some(&[1, 2, 3][..]));
    }

    #[test]
    fn v12_request_with_cluster_id() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0xff, 0xff, 0xff, 0xff,     // replica_id: -1
            0x00, 0x00, 0x01, 0xf4,     // max_wait_ms: 500
            0x00, 0x00, 0x00, 0x01,     // min_bytes: 1
            0x7f, 0xff, 0xff, 0xff,     // max_bytes: 0x7fffffff
            0x01,                       // isolation_level: READ_COMMITTED
            0x00, 0x00, 0x00, 0x00,     // session_id: 0
            0xff, 0xff, 0xff, 0xff,     // session_epoch: -1
            0x02,                       // topics: 1 (compact)
            0x04, b'f', b'o', b'o',     //   topic: "foo"
            0x02,                       //   partitions: 1
            0x00, 0x00, 0x00, 0x00,     //     partition: 0
            0x00, 0x00, 0x00, 0x05,     //     current_leader_epoch: 5
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64, // fetch_offset: 100
            0x00, 0x00, 0x00, 0x04,     //     last_fetched_epoch: 4
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log_start_offset: -1
            0x00, 0x10, 0x00, 0x00,     //     partition_max_bytes: 1 MiB
            0x00,                       //     tagged fields: none
            0x00,                       //   tagged fields: none
            0x02,                       // forgotten_topics_data: 1
            0x04, b'b', b'a', b'r',     //   topic: "bar"
            0x03,                       //   partitions: 2
            0x00, 0x00, 0x00, 0x01,     //     1
            0x00, 0x00, 0x00, 0x02,     //     2
            0x00,                       //   tagged fields: none
            0x01,                       // rack_id: ""
            0x01,                       // tagged fields: 1
            0x00, 0x05,                 //   tag 0 (cluster_id), 5 bytes
            0x05, b'a', b'b', b'c', b'd', //   "abcd"
        ];
        let req: FetchRequest = golden(BYTES, 12);
        assert_eq!(req.cluster_id, Some("abcd"));
        assert_eq!(req.replica_id, -1);
        assert_eq!(req.replica_state, FetchReplicaState::default());
        assert_eq!(req.max_wait_ms, 500);
        assert_eq!(req.min_bytes, 1);
        assert_eq!(req.max_bytes, 0x7fff_ffff);
        assert_eq!(req.isolation_level, 1);
        assert_eq!(req.session_id, 0);
        assert_eq!(req.session_epoch, -1);
        let topic = req.topics.iter().next().unwrap();
        assert_eq!(topic.topic, "foo");
        assert_eq!(
            topic.partitions.iter().next().unwrap(),
            FetchPartition {
                partition: 0,
                current_leader_epoch: 5,
                fetch_offset: 100,
                last_fetched_epoch: 4,
                log_start_offset: -1,
                partition_max_bytes: 1 << 20,
                replica_directory_id: Uuid::ZERO,
            }
        );
        let forgotten = req.forgotten_topics_data.iter().next().unwrap();
        assert_eq!(forgotten.topic, "bar");
        assert!(forgotten.partitions.iter().eq([1, 2]));
        assert_eq!(req.rack_id, "");
    }

    #[test]
    fn v15_request_with_replica_state() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            // replica_id: absent from v15
            0x00, 0x00, 0x01, 0xf4,     // max_wait_ms: 500
            0x00, 0x00, 0x00, 0x01,     // min_bytes: 1
            0x00, 0x10, 0x00, 0x00,     // max_bytes: 1 MiB
            0x00,                       // isolation_level: READ_UNCOMMITTED
            0x00, 0x00, 0x00, 0x2a,     // session_id: 42
            0x00, 0x00, 0x00, 0x03,     // session_epoch: 3
            0x01,                       // topics: empty
            0x01,                       // forgotten_topics_data: empty
            0x03, b'r', b'1',           // rack_id: "r1"
            0x02,                       // tagged fields: 2
            0x00, 0x02,                 //   tag 0 (cluster_id), 2 bytes
            0x02, b'c',                 //     "c"
            0x01, 0x0d,                 //   tag 1 (replica_state), 13 bytes
            0x00, 0x00, 0x00, 0x03,     //     replica_id: 3
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, // replica_epoch: 9
            0x00,                       //     tagged fields: none
        ];
        let req: FetchRequest = golden(BYTES, 15);
        assert_eq!(req.cluster_id, Some("c"));
        assert_eq!(req.replica_id, -1, "absent from v15");
        assert_eq!(
            req.replica_state,
            FetchReplicaState {
                replica_id: 3,
                replica_epoch: 9
            }
        );
        assert_eq!(req.max_bytes, 1 << 20);
        assert_eq!(req.session_id, 42);
        assert_eq!(req.session_epoch, 3);
        assert!(req.topics.is_empty());
        assert!(req.forgotten_topics_data.is_empty());
        assert_eq!(req.rack_id, "r1");
    }

    #[test]
    fn v13_response_with_topic_id_and_tagged_partition_fields() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0x00, 0x00, 0x00, 0x00,     // throttle_time_ms: 0
            0x00, 0x00,                 // error_code: NONE
            0x00, 0x00, 0x00, 0x07,     // session_id: 7
            0x02,                       // responses: 1 (compact)
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // topic_id
            0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
            0x02,                       //   partitions: 1
            0x00, 0x00, 0x00, 0x01,     //     partition_index: 1
            0x00, 0x4a,                 //     error_code: 74 (FENCED_LEADER_EPOCH)
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, // high_watermark: 20
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, // last_stable_offset: 20
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // log_start_offset: 0
            0x00,                       //     aborted_transactions: null
            0x00, 0x00, 0x00, 0x02,     //     preferred_read_replica: 2
            0x00,                       //     records: null
            0x02,                       //     tagged fields: 2
            0x00, 0x0d,                 //       tag 0 (diverging_epoch), 13 bytes
            0x00, 0x00, 0x00, 0x03,     //         epoch: 3
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, // end_offset: 15
            0x00,                       //         tagged fields: none
            0x01, 0x09,                 //       tag 1 (current_leader), 9 bytes
            0x00, 0x00, 0x00, 0x02,     //         leader_id: 2
            0x00, 0x00, 0x00, 0x04,     //         leader_epoch: 4
            0x00,                       //         tagged fields: none
            0x00,                       //   tagged fields: none
            0x00,                       // tagged fields: none
        ];
        let resp: FetchResponse = golden(BYTES, 13);
        assert_eq!(resp.session_id, 7);
        let topic = resp.responses.iter().next().unwrap();
        assert_eq!(topic.topic, "", "absent from v13");
        assert_eq!(topic.topic_id.0[0], 1);
        assert_eq!(topic.topic_id.0[15], 0x10);
        let p = topic.partitions.iter().next().unwrap();
        assert_eq!(p.partition_index, 1);
        assert_eq!(p.error_code, ErrorCode(74));
        assert_eq!(p.high_watermark, 20);
        assert_eq!(p.last_stable_offset, 20);
        assert_eq!(p.log_start_offset, 0);
        assert_eq!(p.aborted_transactions, None);
        assert_eq!(p.preferred_read_replica, 2);
        assert_eq!(p.records, None);
        assert_eq!(
            p.diverging_epoch,
            FetchEpochEndOffset {
                epoch: 3,
                end_offset: 15
            }
        );
        assert_eq!(
            p.current_leader,
            FetchLeaderIdAndEpoch {
                leader_id: 2,
                leader_epoch: 4
            }
        );
        assert_eq!(p.snapshot_id, FetchSnapshotId::default());
        assert_eq!(p.snapshot_id.end_offset, -1);
    }

    #[test]
    fn partition_lookup_by_name_then_by_id() {
        use crate::wire::Array;
        let a = [FetchPartitionData {
            partition_index: 0,
            high_watermark: 5,
            ..Default::default()
        }];
        let b = [FetchPartitionData {
            partition_index: 1,
            high_watermark: 7,
            ..Default::default()
        }];
        let topics = [
            FetchableTopicResponse {
                topic: "a",
                topic_id: Uuid([1; 16]),
                partitions: Array::new(&a),
            },
            FetchableTopicResponse {
                topic: "b",
                topic_id: Uuid([2; 16]),
                partitions: Array::new(&b),
            },
        ];
        let r = FetchResponse {
            responses: Array::new(&topics),
            ..Default::default()
        };
        assert_eq!(
            r.partition(12, "b", Uuid::ZERO, 1)
                .map(|p| p.high_watermark),
            Some(7)
        );
        assert_eq!(
            r.partition(13, "", Uuid([1; 16]), 0)
                .map(|p| p.high_watermark),
            Some(5)
        );
        assert_eq!(
            r.partition(13, "b", Uuid::ZERO, 1),
            None,
            "v13+ ignores names"
        );
        assert_eq!(r.partition(12, "b", Uuid::ZERO, 0), None);
    }
}
