//! OffsetDelete (key 47): delete a group's committed offsets of partitions
//! it no longer consumes.

use crate::wire::Array;
use crate::ErrorCode;

wire_struct! {
    /// One partition whose offset to delete.
    pub struct OffsetDeleteRequestPartition {
        /// The partition index.
        pub partition_index: i32 => 0..,
    }
}

wire_struct! {
    /// One topic whose offsets to delete.
    pub struct OffsetDeleteRequestTopic<'a> {
        /// The topic name.
        pub name: &'a str => 0..,
        /// Each partition.
        pub partitions: Array<'a, OffsetDeleteRequestPartition> => 0..,
    }
}

wire_struct! {
    /// OffsetDelete request (to the group's coordinator).
    pub struct OffsetDeleteRequest<'a> {
        /// The group id.
        pub group_id: &'a str => 0..,
        /// The topics.
        pub topics: Array<'a, OffsetDeleteRequestTopic<'a>> => 0..,
    }
}

wire_struct! {
    /// The result for one partition.
    pub struct OffsetDeleteResponsePartition {
        /// The partition index.
        pub partition_index: i32 => 0..,
        /// The error, or 0 (`GROUP_SUBSCRIBED_TO_TOPIC` while the group
        /// consumes the topic).
        pub error_code: ErrorCode => 0..,
    }
}

wire_struct! {
    /// The results for one topic.
    pub struct OffsetDeleteResponseTopic<'a> {
        /// The topic name.
        pub name: &'a str => 0..,
        /// Each partition.
        pub partitions: Array<'a, OffsetDeleteResponsePartition> => 0..,
    }
}

wire_struct! {
    /// OffsetDelete response.
    pub struct OffsetDeleteResponse<'a> {
        /// The top-level error (`GROUP_ID_NOT_FOUND`, `NON_EMPTY_GROUP`, ...).
        pub error_code: ErrorCode => 0..,
        /// Throttle time in milliseconds.
        pub throttle_time_ms: i32 => 0..,
        /// The results by topic.
        pub topics: Array<'a, OffsetDeleteResponseTopic<'a>> => 0..,
    }
}

crate::protocol::api!(OffsetDelete, versions 0..=0, flexible None,
    OffsetDeleteRequest<'a> => OffsetDeleteResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    #[test]
    fn request_and_response_v0() {
        #[rustfmt::skip]
        let req = cat(&[
            &[0, 1], b"g",
            &[0, 0, 0, 1], &[0, 1], b"t", &[0, 0, 0, 1], &[0, 0, 0, 3],
        ]);
        let partitions = [OffsetDeleteRequestPartition { partition_index: 3 }];
        let topics = [OffsetDeleteRequestTopic {
            name: "t",
            partitions: Array::new(&partitions),
        }];
        assert_golden(
            &req,
            0,
            &OffsetDeleteRequest {
                group_id: "g",
                topics: Array::new(&topics),
            },
        );
        #[rustfmt::skip]
        let resp = cat(&[
            &[0, 0], &[0, 0, 0, 0],
            &[0, 0, 0, 1], &[0, 1], b"t", &[0, 0, 0, 1], &[0, 0, 0, 3], &[0, 86],
        ]);
        let partitions = [OffsetDeleteResponsePartition {
            partition_index: 3,
            error_code: ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC,
        }];
        let topics = [OffsetDeleteResponseTopic {
            name: "t",
            partitions: Array::new(&partitions),
        }];
        assert_golden(
            &resp,
            0,
            &OffsetDeleteResponse {
                error_code: ErrorCode::NONE,
                throttle_time_ms: 0,
                topics: Array::new(&topics),
            },
        );
    }
}
