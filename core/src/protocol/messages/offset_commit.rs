//! OffsetCommit (key 8): commit consumed offsets for a group.

use crate::wire::Array;
use crate::ErrorCode;

wire_struct! {
    /// One partition's offset to commit.
    pub struct OffsetCommitRequestPartition<'a> {
        /// The partition index.
        pub partition_index: i32 => 0..,
        /// The offset to commit (the next offset to consume).
        pub committed_offset: i64 => 0..,
        /// The leader epoch of the last consumed record, or -1 (v6+).
        pub committed_leader_epoch: i32 = -1 => 6..,
        /// The commit timestamp (v1 only).
        pub commit_timestamp: i64 = -1 => 1..=1,
        /// Metadata the client wants to keep with the offset, or null.
        pub committed_metadata: Option<&'a str> => 0..,
    }
}

wire_struct! {
    /// One topic's offsets to commit.
    pub struct OffsetCommitRequestTopic<'a> {
        /// The topic name.
        pub name: &'a str => 0..,
        /// Each partition to commit.
        pub partitions: Array<'a, OffsetCommitRequestPartition<'a>> => 0..,
    }
}

wire_struct! {
    /// OffsetCommit request.
    pub struct OffsetCommitRequest<'a> {
        /// The group id.
        pub group_id: &'a str => 0..,
        /// The group generation (classic protocol) or member epoch (consumer protocol) (v1+).
        pub generation_id_or_member_epoch: i32 = -1 => 1..,
        /// The member id assigned by the coordinator (v1+).
        pub member_id: &'a str => 1..,
        /// The static membership instance id, or null (v7+).
        pub group_instance_id: Option<&'a str> => 7..,
        /// How long to retain the offsets in ms, -1 for the broker default (v2-4).
        pub retention_time_ms: i64 = -1 => 2..=4,
        /// The topics to commit offsets for.
        pub topics: Array<'a, OffsetCommitRequestTopic<'a>> => 0..,
    }
}

wire_struct! {
    /// One partition's commit result.
    pub struct OffsetCommitResponsePartition {
        /// The partition index.
        pub partition_index: i32 => 0..,
        /// The error code, or 0 if there was no error.
        pub error_code: ErrorCode => 0..,
    }
}

wire_struct! {
    /// One topic's commit results.
    pub struct OffsetCommitResponseTopic<'a> {
        /// The topic name.
        pub name: &'a str => 0..,
        /// Each partition's result.
        pub partitions: Array<'a, OffsetCommitResponsePartition> => 0..,
    }
}

wire_struct! {
    /// OffsetCommit response.
    pub struct OffsetCommitResponse<'a> {
        /// Throttle time in milliseconds (v3+).
        pub throttle_time_ms: i32 => 3..,
        /// Each topic's results.
        pub topics: Array<'a, OffsetCommitResponseTopic<'a>> => 0..,
    }
}

crate::protocol::api!(OffsetCommit, versions 0..=9, flexible Some(8),
    OffsetCommitRequest<'a> => OffsetCommitResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    #[test]
    fn request_v2_classic() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x02], b"g1",       // group_id: "g1"
            &[0x00, 0x00, 0x00, 0x04],  // generation_id_or_member_epoch: 4
            &[0x00, 0x02], b"m1",       // member_id: "m1"
            &[0xff, 0xff, 0xff, 0xff,
              0xff, 0xff, 0xff, 0xff],  // retention_time_ms: -1
            &[0x00, 0x00, 0x00, 0x01],  // topics: array of 1
            &[0x00, 0x02], b"t1",       //   name: "t1"
            &[0x00, 0x00, 0x00, 0x02],  //   partitions: array of 2
            &[0x00, 0x00, 0x00, 0x00],  //     partition_index: 0
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x00, 0x2a],  //     committed_offset: 42
            &[0xff, 0xff],              //     committed_metadata: null
            &[0x00, 0x00, 0x00, 0x02],  //     partition_index: 2
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x01, 0x00],  //     committed_offset: 256
            &[0x00, 0x02], b"md",       //     committed_metadata: "md"
        ]);
        let partitions = [
            OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: 42,
                committed_leader_epoch: -1,
                commit_timestamp: -1,
                committed_metadata: None,
            },
            OffsetCommitRequestPartition {
                partition_index: 2,
                committed_offset: 256,
                committed_leader_epoch: -1,
                commit_timestamp: -1,
                committed_metadata: Some("md"),
            },
        ];
        let topics = [OffsetCommitRequestTopic {
            name: "t1",
            partitions: Array::new(&partitions),
        }];
        let expected = OffsetCommitRequest {
            group_id: "g1",
            generation_id_or_member_epoch: 4,
            member_id: "m1",
            group_instance_id: None,
            retention_time_ms: -1,
            topics: Array::new(&topics),
        };
        let decoded = assert_golden(&bytes, 2, &expected);
        let topic = decoded.topics.iter().next().unwrap();
        let offsets: heapless::Vec<(i32, i64), 2> = topic
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.committed_offset))
            .collect();
        assert_eq!(offsets, [(0, 42), (2, 256)]);
    }

    #[test]
    fn request_v1_has_commit_timestamp() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x02], b"g1",       // group_id: "g1"
            &[0x00, 0x00, 0x00, 0x04],  // generation_id_or_member_epoch: 4
            &[0x00, 0x02], b"m1",       // member_id: "m1"
            &[0x00, 0x00, 0x00, 0x01],  // topics: array of 1
            &[0x00, 0x02], b"t1",       //   name: "t1"
            &[0x00, 0x00, 0x00, 0x01],  //   partitions: array of 1
            &[0x00, 0x00, 0x00, 0x01],  //     partition_index: 1
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x00, 0x07],  //     committed_offset: 7
            &[0x00, 0x00, 0x01, 0x8b,
              0xcf, 0xe5, 0x68, 0x00],  //     commit_timestamp: 1700000000000
            &[0x00, 0x00],              //     committed_metadata: ""
        ]);
        let partitions = [OffsetCommitRequestPartition {
            partition_index: 1,
            committed_offset: 7,
            committed_leader_epoch: -1,
            commit_timestamp: 1_700_000_000_000,
            committed_metadata: Some(""),
        }];
        let topics = [OffsetCommitRequestTopic {
            name: "t1",
            partitions: Array::new(&partitions),
        }];
        let expected = OffsetCommitRequest {
            group_id: "g1",
            generation_id_or_member_epoch: 4,
            member_id: "m1",
            group_instance_id: None,
            retention_time_ms: -1,
            topics: Array::new(&topics),
        };
        assert_golden(&bytes, 1, &expected);
    }

    #[test]
    fn request_v8_flexible() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x03], b"g1",             // group_id: compact "g1"
            &[0x00, 0x00, 0x00, 0x04],  // generation_id_or_member_epoch: 4
            &[0x03], b"m1",             // member_id: "m1"
            &[0x03], b"i1",             // group_instance_id: "i1"
            &[0x02],                    // topics: compact array of 1
            &[0x03], b"t1",             //   name: "t1"
            &[0x02],                    //   partitions: compact array of 1
            &[0x00, 0x00, 0x00, 0x00],  //     partition_index: 0
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x00, 0x2a],  //     committed_offset: 42
            &[0x00, 0x00, 0x00, 0x03],  //     committed_leader_epoch: 3
            &[0x01],                    //     committed_metadata: ""
            &[0x00],                    //     tagged fields: none
            &[0x00],                    //   tagged fields: none
            &[0x00],                    // tagged fields: none
        ]);
        let partitions = [OffsetCommitRequestPartition {
            partition_index: 0,
            committed_offset: 42,
            committed_leader_epoch: 3,
            commit_timestamp: -1,
            committed_metadata: Some(""),
        }];
        let topics = [OffsetCommitRequestTopic {
            name: "t1",
            partitions: Array::new(&partitions),
        }];
        let expected = OffsetCommitRequest {
            group_id: "g1",
            generation_id_or_member_epoch: 4,
            member_id: "m1",
            group_instance_id: Some("i1"),
            retention_time_ms: -1,
            topics: Array::new(&topics),
        };
        assert_golden(&bytes, 8, &expected);
    }

    #[test]
    fn response_v2_classic() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00, 0x00, 0x01],  // topics: array of 1
            &[0x00, 0x02], b"t1",       //   name: "t1"
            &[0x00, 0x00, 0x00, 0x02],  //   partitions: array of 2
            &[0x00, 0x00, 0x00, 0x00],  //     partition_index: 0
            &[0x00, 0x00],              //     error_code: 0
            &[0x00, 0x00, 0x00, 0x02],  //     partition_index: 2
            &[0x00, 0x16],              //     error_code: 22 ILLEGAL_GENERATION
        ]);
        let partitions = [
            OffsetCommitResponsePartition {
                partition_index: 0,
                error_code: ErrorCode::NONE,
            },
            OffsetCommitResponsePartition {
                partition_index: 2,
                error_code: ErrorCode::ILLEGAL_GENERATION,
            },
        ];
        let topics = [OffsetCommitResponseTopic {
            name: "t1",
            partitions: Array::new(&partitions),
        }];
        let expected = OffsetCommitResponse {
            throttle_time_ms: 0,
            topics: Array::new(&topics),
        };
        assert_golden(&bytes, 2, &expected);
    }

    #[test]
    fn response_v8_flexible() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00, 0x00, 0x0a],  // throttle_time_ms: 10
            &[0x02],                    // topics: compact array of 1
            &[0x03], b"t1",             //   name: "t1"
            &[0x02],                    //   partitions: compact array of 1
            &[0x00, 0x00, 0x00, 0x00],  //     partition_index: 0
            &[0x00, 0x00],              //     error_code: 0
            &[0x00],                    //     tagged fields: none
            &[0x00],                    //   tagged fields: none
            &[0x00],                    // tagged fields: none
        ]);
        let partitions = [OffsetCommitResponsePartition {
            partition_index: 0,
            error_code: ErrorCode::NONE,
        }];
        let topics = [OffsetCommitResponseTopic {
            name: "t1",
            partitions: Array::new(&partitions),
        }];
        let expected = OffsetCommitResponse {
            throttle_time_ms: 10,
            topics: Array::new(&topics),
        };
        assert_golden(&bytes, 8, &expected);
    }
}
