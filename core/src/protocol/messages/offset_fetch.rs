//! OffsetFetch (key 9): read a group's committed offsets (several groups from v8).

use crate::wire::Array;
use crate::ErrorCode;

wire_struct! {
    /// One topic to fetch offsets for (v0-7).
    pub struct OffsetFetchRequestTopic<'a> {
        /// The topic name.
        pub name: &'a str => 0..=7,
        /// The partition indexes to fetch offsets for.
        pub partition_indexes: Array<'a, i32> => 0..=7,
    }
}

wire_struct! {
    /// One topic to fetch offsets for, within a group (v8+).
    pub struct OffsetFetchRequestTopics<'a> {
        /// The topic name.
        pub name: &'a str => 8..,
        /// The partition indexes to fetch offsets for.
        pub partition_indexes: Array<'a, i32> => 8..,
    }
}

wire_struct! {
    /// One group to fetch offsets for (v8+).
    pub struct OffsetFetchRequestGroup<'a> {
        /// The group id.
        pub group_id: &'a str => 8..,
        /// The member id, for the consumer protocol (KIP-848), or null (v9+).
        pub member_id: Option<&'a str> => 9..,
        /// The member epoch, for the consumer protocol (KIP-848), or -1 (v9+).
        pub member_epoch: i32 = -1 => 9..,
        /// The topics to fetch, or null for all topics.
        pub topics: Option<Array<'a, OffsetFetchRequestTopics<'a>>> => 8..,
    }
}

wire_struct! {
    /// OffsetFetch request.
    pub struct OffsetFetchRequest<'a> {
        /// The group to fetch offsets for (v0-7).
        pub group_id: &'a str => 0..=7,
        /// The topics to fetch, or null for all topics (null allowed from v2) (v0-7).
        pub topics: Option<Array<'a, OffsetFetchRequestTopic<'a>>> => 0..=7; null 2..=7,
        /// The groups to fetch offsets for (v8+).
        pub groups: Array<'a, OffsetFetchRequestGroup<'a>> => 8..,
        /// Whether the broker should wait for unstable (transactional) offsets to settle (v7+).
        pub require_stable: bool => 7..,
    }
}

wire_struct! {
    /// One partition's committed offset (v0-7).
    pub struct OffsetFetchResponsePartition<'a> {
        /// The partition index.
        pub partition_index: i32 => 0..=7,
        /// The committed offset, or -1 if none.
        pub committed_offset: i64 => 0..=7,
        /// The leader epoch, or -1 (v5-7).
        pub committed_leader_epoch: i32 = -1 => 5..=7,
        /// The partition metadata, or null.
        pub metadata: Option<&'a str> => 0..=7,
        /// The error code, or 0 if there was no error.
        pub error_code: ErrorCode => 0..=7,
    }
}

wire_struct! {
    /// One topic's committed offsets (v0-7).
    pub struct OffsetFetchResponseTopic<'a> {
        /// The topic name.
        pub name: &'a str => 0..=7,
        /// Each partition's offset.
        pub partitions: Array<'a, OffsetFetchResponsePartition<'a>> => 0..=7,
    }
}

wire_struct! {
    /// One partition's committed offset, within a group (v8+).
    pub struct OffsetFetchResponsePartitions<'a> {
        /// The partition index.
        pub partition_index: i32 => 8..,
        /// The committed offset, or -1 if none.
        pub committed_offset: i64 => 8..,
        /// The leader epoch, or -1.
        pub committed_leader_epoch: i32 = -1 => 8..,
        /// The partition metadata, or null.
        pub metadata: Option<&'a str> => 8..,
        /// The partition-level error code, or 0 if there was no error.
        pub error_code: ErrorCode => 8..,
    }
}

wire_struct! {
    /// One topic's committed offsets, within a group (v8+).
    pub struct OffsetFetchResponseTopics<'a> {
        /// The topic name.
        pub name: &'a str => 8..,
        /// Each partition's offset.
        pub partitions: Array<'a, OffsetFetchResponsePartitions<'a>> => 8..,
    }
}

wire_struct! {
    /// One group's committed offsets (v8+).
    pub struct OffsetFetchResponseGroup<'a> {
        /// The group id.
        pub group_id: &'a str => 8..,
        /// Each topic's offsets.
        pub topics: Array<'a, OffsetFetchResponseTopics<'a>> => 8..,
        /// The group-level error code, or 0 if there was no error.
        pub error_code: ErrorCode => 8..,
    }
}

wire_struct! {
    /// OffsetFetch response.
    pub struct OffsetFetchResponse<'a> {
        /// Throttle time in milliseconds (v3+).
        pub throttle_time_ms: i32 => 3..,
        /// Each topic's offsets (v0-7).
        pub topics: Array<'a, OffsetFetchResponseTopic<'a>> => 0..=7,
        /// The top-level error code, or 0 if there was no error (v2-7).
        pub error_code: ErrorCode => 2..=7,
        /// Each group's offsets (v8+).
        pub groups: Array<'a, OffsetFetchResponseGroup<'a>> => 8..,
    }
}

crate::protocol::api!(OffsetFetch, versions 0..=9, flexible Some(6),
    OffsetFetchRequest<'a> => OffsetFetchResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    #[test]
    fn request_v1_classic() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x02], b"g1",       // group_id: "g1"
            &[0x00, 0x00, 0x00, 0x01],  // topics: array of 1
            &[0x00, 0x02], b"t1",       //   name: "t1"
            &[0x00, 0x00, 0x00, 0x02],  //   partition_indexes: array of 2
            &[0x00, 0x00, 0x00, 0x00],  //     0
            &[0x00, 0x00, 0x00, 0x02],  //     2
        ]);
        let topics = [OffsetFetchRequestTopic {
            name: "t1",
            partition_indexes: Array::new(&[0, 2]),
        }];
        let expected = OffsetFetchRequest {
            group_id: "g1",
            topics: Some(Array::new(&topics)),
            groups: Array::default(),
            require_stable: false,
        };
        assert_golden(&bytes, 1, &expected);
    }

    #[test]
    fn request_v7_flexible_all_topics() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x03], b"g1",             // group_id: compact "g1"
            &[0x00],                    // topics: null (all topics)
            &[0x01],                    // require_stable: true
            &[0x00],                    // tagged fields: none
        ]);
        let expected = OffsetFetchRequest {
            group_id: "g1",
            topics: None,
            groups: Array::default(),
            require_stable: true,
        };
        assert_golden(&bytes, 7, &expected);
    }

    #[test]
    fn request_v8_groups() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x03],                    // groups: compact array of 2
            &[0x03], b"g1",             //   group_id: "g1"
            &[0x02],                    //   topics: compact array of 1
            &[0x03], b"t1",             //     name: "t1"
            &[0x03],                    //     partition_indexes: compact array of 2
            &[0x00, 0x00, 0x00, 0x00],  //       0
            &[0x00, 0x00, 0x00, 0x02],  //       2
            &[0x00],                    //     tagged fields: none
            &[0x00],                    //   tagged fields: none
            &[0x03], b"g2",             //   group_id: "g2"
            &[0x00],                    //   topics: null (all topics)
            &[0x00],                    //   tagged fields: none
            &[0x00],                    // require_stable: false
            &[0x00],                    // tagged fields: none
        ]);
        let g1_topics = [OffsetFetchRequestTopics {
            name: "t1",
            partition_indexes: Array::new(&[0, 2]),
        }];
        let groups = [
            OffsetFetchRequestGroup {
                group_id: "g1",
                member_id: None,
                member_epoch: -1,
                topics: Some(Array::new(&g1_topics)),
            },
            OffsetFetchRequestGroup {
                group_id: "g2",
                member_id: None,
                member_epoch: -1,
                topics: None,
            },
        ];
        let expected = OffsetFetchRequest {
            group_id: "",
            topics: None,
            groups: Array::new(&groups),
            require_stable: false,
        };
        let decoded = assert_golden(&bytes, 8, &expected);
        let mut groups = decoded.groups.iter();
        let g1 = groups.next().unwrap();
        let t1 = g1.topics.unwrap().iter().next().unwrap();
        assert_eq!(
            t1.partition_indexes
                .iter()
                .collect::<heapless::Vec<i32, 2>>(),
            [0, 2]
        );
        assert_eq!(groups.next().unwrap().topics, None);
    }

    #[test]
    fn request_v9_member() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x02],                    // groups: compact array of 1
            &[0x03], b"g1",             //   group_id: "g1"
            &[0x03], b"m1",             //   member_id: "m1"
            &[0x00, 0x00, 0x00, 0x05],  //   member_epoch: 5
            &[0x01],                    //   topics: compact array of 0
            &[0x00],                    //   tagged fields: none
            &[0x01],                    // require_stable: true
            &[0x00],                    // tagged fields: none
        ]);
        let groups = [OffsetFetchRequestGroup {
            group_id: "g1",
            member_id: Some("m1"),
            member_epoch: 5,
            topics: Some(Array::default()),
        }];
        let expected = OffsetFetchRequest {
            group_id: "",
            topics: None,
            groups: Array::new(&groups),
            require_stable: true,
        };
        assert_golden(&bytes, 9, &expected);
    }

    #[test]
    fn response_v5_classic() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00, 0x00, 0x00],  // throttle_time_ms: 0
            &[0x00, 0x00, 0x00, 0x01],  // topics: array of 1
            &[0x00, 0x02], b"t1",       //   name: "t1"
            &[0x00, 0x00, 0x00, 0x02],  //   partitions: array of 2
            &[0x00, 0x00, 0x00, 0x00],  //     partition_index: 0
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x00, 0x2a],  //     committed_offset: 42
            &[0x00, 0x00, 0x00, 0x03],  //     committed_leader_epoch: 3
            &[0x00, 0x00],              //     metadata: ""
            &[0x00, 0x00],              //     error_code: 0
            &[0x00, 0x00, 0x00, 0x02],  //     partition_index: 2
            &[0xff, 0xff, 0xff, 0xff,
              0xff, 0xff, 0xff, 0xff],  //     committed_offset: -1 (none)
            &[0xff, 0xff, 0xff, 0xff],  //     committed_leader_epoch: -1
            &[0xff, 0xff],              //     metadata: null
            &[0x00, 0x03],              //     error_code: 3 UNKNOWN_TOPIC_OR_PARTITION
            &[0x00, 0x00],              // error_code: 0
        ]);
        let partitions = [
            OffsetFetchResponsePartition {
                partition_index: 0,
                committed_offset: 42,
                committed_leader_epoch: 3,
                metadata: Some(""),
                error_code: ErrorCode::NONE,
            },
            OffsetFetchResponsePartition {
                partition_index: 2,
                committed_offset: -1,
                committed_leader_epoch: -1,
                metadata: None,
                error_code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            },
        ];
        let topics = [OffsetFetchResponseTopic {
            name: "t1",
            partitions: Array::new(&partitions),
        }];
        let expected = OffsetFetchResponse {
            throttle_time_ms: 0,
            topics: Array::new(&topics),
            error_code: ErrorCode::NONE,
            groups: Array::default(),
        };
        assert_golden(&bytes, 5, &expected);
    }

    #[test]
    fn response_v8_groups() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00, 0x00, 0x00],  // throttle_time_ms: 0
            &[0x03],                    // groups: compact array of 2
            &[0x03], b"g1",             //   group_id: "g1"
            &[0x02],                    //   topics: compact array of 1
            &[0x03], b"t1",             //     name: "t1"
            &[0x02],                    //     partitions: compact array of 1
            &[0x00, 0x00, 0x00, 0x00],  //       partition_index: 0
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x00, 0x2a],  //       committed_offset: 42
            &[0xff, 0xff, 0xff, 0xff],  //       committed_leader_epoch: -1
            &[0x00],                    //       metadata: null
            &[0x00, 0x00],              //       error_code: 0
            &[0x00],                    //       tagged fields: none
            &[0x00],                    //     tagged fields: none
            &[0x00, 0x00],              //   error_code: 0
            &[0x00],                    //   tagged fields: none
            &[0x03], b"g2",             //   group_id: "g2"
            &[0x01],                    //   topics: compact array of 0
            &[0x00, 0x1e],              //   error_code: 30 GROUP_AUTHORIZATION_FAILED
            &[0x00],                    //   tagged fields: none
            &[0x00],                    // tagged fields: none
        ]);
        let partitions = [OffsetFetchResponsePartitions {
            partition_index: 0,
            committed_offset: 42,
            committed_leader_epoch: -1,
            metadata: None,
            error_code: ErrorCode::NONE,
        }];
        let topics = [OffsetFetchResponseTopics {
            name: "t1",
            partitions: Array::new(&partitions),
        }];
        let groups = [
            OffsetFetchResponseGroup {
                group_id: "g1",
                topics: Array::new(&topics),
                error_code: ErrorCode::NONE,
            },
            OffsetFetchResponseGroup {
                group_id: "g2",
                topics: Array::default(),
                error_code: ErrorCode::GROUP_AUTHORIZATION_FAILED,
            },
        ];
        let expected = OffsetFetchResponse {
            throttle_time_ms: 0,
            topics: Array::default(),
            error_code: ErrorCode::NONE,
            groups: Array::new(&groups),
        };
        assert_golden(&bytes, 8, &expected);
    }
}
