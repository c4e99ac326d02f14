//! TxnOffsetCommit (key 28): commit a group's offsets inside a transaction
//! (sent to the group coordinator; visible when the transaction commits).

use crate::wire::Array;
use crate::ErrorCode;

wire_struct! {
    /// One partition's offset to commit in the transaction.
    pub struct TxnOffsetCommitRequestPartition<'a> {
        /// The partition index.
        pub partition_index: i32 => 0..,
        /// The offset to commit (the next offset to consume).
        pub committed_offset: i64 => 0..,
        /// The leader epoch of the last consumed record, or -1 (v2+).
        pub committed_leader_epoch: i32 = -1 => 2..,
        /// Metadata the client wants to keep with the offset, or null.
        pub committed_metadata: Option<&'a str> => 0..,
    }
}

wire_struct! {
    /// One topic's offsets to commit in the transaction.
    pub struct TxnOffsetCommitRequestTopic<'a> {
        /// The topic name.
        pub name: &'a str => 0..,
        /// Each partition to commit.
        pub partitions: Array<'a, TxnOffsetCommitRequestPartition<'a>> => 0..,
    }
}

wire_struct! {
    /// TxnOffsetCommit request.
    pub struct TxnOffsetCommitRequest<'a> {
        /// The transactional id.
        pub transactional_id: &'a str => 0..,
        /// The group id.
        pub group_id: &'a str => 0..,
        /// The producer id in use by the transactional id.
        pub producer_id: i64 => 0..,
        /// The epoch of the producer id.
        pub producer_epoch: i16 => 0..,
        /// The generation of the consumer, or -1 (v3+, KIP-447).
        pub generation_id: i32 = -1 => 3..,
        /// The member id assigned by the group coordinator, or "" (v3+).
        pub member_id: &'a str => 3..,
        /// The static membership instance id, or null (v3+).
        pub group_instance_id: Option<&'a str> => 3..,
        /// The topics to commit offsets for.
        pub topics: Array<'a, TxnOffsetCommitRequestTopic<'a>> => 0..,
    }
}

wire_struct! {
    /// One partition's result.
    pub struct TxnOffsetCommitResponsePartition {
        /// The partition index.
        pub partition_index: i32 => 0..,
        /// The error code, or 0 if there was no error.
        pub error_code: ErrorCode => 0..,
    }
}

wire_struct! {
    /// One topic's results.
    pub struct TxnOffsetCommitResponseTopic<'a> {
        /// The topic name.
        pub name: &'a str => 0..,
        /// Each partition's result.
        pub partitions: Array<'a, TxnOffsetCommitResponsePartition> => 0..,
    }
}

wire_struct! {
    /// TxnOffsetCommit response.
    pub struct TxnOffsetCommitResponse<'a> {
        /// Throttle time in milliseconds.
        pub throttle_time_ms: i32 => 0..,
        /// Each topic's results.
        pub topics: Array<'a, TxnOffsetCommitResponseTopic<'a>> => 0..,
    }
}

crate::protocol::api!(TxnOffsetCommit, versions 0..=4, flexible Some(3),
    TxnOffsetCommitRequest<'a> => TxnOffsetCommitResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    #[test]
    fn request_v0() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x03], b"tx1",      // transactional_id: "tx1"
            &[0x00, 0x02], b"g1",       // group_id: "g1"
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x00, 0x07],  // producer_id: 7
            &[0x00, 0x01],              // producer_epoch: 1
            &[0x00, 0x00, 0x00, 0x01],  // topics: array of 1
            &[0x00, 0x01], b"t",        //   name: "t"
            &[0x00, 0x00, 0x00, 0x01],  //   partitions: array of 1
            &[0x00, 0x00, 0x00, 0x02],  //     partition_index: 2
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x00, 0x2a],  //     committed_offset: 42
            &[0xff, 0xff],              //     committed_metadata: null
        ]);
        let partitions = [TxnOffsetCommitRequestPartition {
            partition_index: 2,
            committed_offset: 42,
            committed_leader_epoch: -1,
            committed_metadata: None,
        }];
        let topics = [TxnOffsetCommitRequestTopic {
            name: "t",
            partitions: Array::new(&partitions),
        }];
        let expected = TxnOffsetCommitRequest {
            transactional_id: "tx1",
            group_id: "g1",
            producer_id: 7,
            producer_epoch: 1,
            generation_id: -1,
            member_id: "",
            group_instance_id: None,
            topics: Array::new(&topics),
        };
        assert_golden(&bytes, 0, &expected);
    }

    #[test]
    fn request_v3_flexible_with_generation() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x04], b"tx1",            // transactional_id: compact "tx1"
            &[0x03], b"g1",             // group_id: compact "g1"
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x00, 0x07],  // producer_id: 7
            &[0x00, 0x01],              // producer_epoch: 1
            &[0x00, 0x00, 0x00, 0x04],  // generation_id: 4
            &[0x03], b"m1",             // member_id: "m1"
            &[0x00],                    // group_instance_id: null
            &[0x02],                    // topics: compact array of 1
            &[0x02], b"t",              //   name: "t"
            &[0x02],                    //   partitions: compact array of 1
            &[0x00, 0x00, 0x00, 0x02],  //     partition_index: 2
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x00, 0x2a],  //     committed_offset: 42
            &[0x00, 0x00, 0x00, 0x03],  //     committed_leader_epoch: 3
            &[0x01],                    //     committed_metadata: ""
            &[0x00],                    //     tagged fields: none
            &[0x00],                    //   tagged fields: none
            &[0x00],                    // tagged fields: none
        ]);
        let partitions = [TxnOffsetCommitRequestPartition {
            partition_index: 2,
            committed_offset: 42,
            committed_leader_epoch: 3,
            committed_metadata: Some(""),
        }];
        let topics = [TxnOffsetCommitRequestTopic {
            name: "t",
            partitions: Array::new(&partitions),
        }];
        let expected = TxnOffsetCommitRequest {
            transactional_id: "tx1",
            group_id: "g1",
            producer_id: 7,
            producer_epoch: 1,
            generation_id: 4,
            member_id: "m1",
            group_instance_id: None,
            topics: Array::new(&topics),
        };
        assert_golden(&bytes, 3, &expected);
    }

    #[test]
    fn response_v0_and_v4() {
        #[rustfmt::skip]
        let v0 = cat(&[
            &[0x00, 0x00, 0x00, 0x00],  // throttle_time_ms: 0
            &[0x00, 0x00, 0x00, 0x01],  // topics: array of 1
            &[0x00, 0x01], b"t",        //   name: "t"
            &[0x00, 0x00, 0x00, 0x01],  //   partitions: array of 1
            &[0x00, 0x00, 0x00, 0x02],  //     partition_index: 2
            &[0x00, 0x16],              //     error_code: 22 ILLEGAL_GENERATION
        ]);
        let partitions = [TxnOffsetCommitResponsePartition {
            partition_index: 2,
            error_code: ErrorCode::ILLEGAL_GENERATION,
        }];
        let topics = [TxnOffsetCommitResponseTopic {
            name: "t",
            partitions: Array::new(&partitions),
        }];
        let expected = TxnOffsetCommitResponse {
            throttle_time_ms: 0,
            topics: Array::new(&topics),
        };
        assert_golden(&v0, 0, &expected);
        #[rustfmt::skip]
        let v4 = cat(&[
            &[0x00, 0x00, 0x00, 0x00],  // throttle_time_ms: 0
            &[0x02],                    // topics: compact array of 1
            &[0x02], b"t",              //   name: "t"
            &[0x02],                    //   partitions: compact array of 1
            &[0x00, 0x00, 0x00, 0x02],  //     partition_index: 2
            &[0x00, 0x16],              //     error_code: 22 ILLEGAL_GENERATION
            &[0x00],                    //     tagged fields: none
            &[0x00],                    //   tagged fields: none
            &[0x00],                    // tagged fields: none
        ]);
        assert_golden(&v4, 4, &expected);
    }
}
