//! DeleteRecords (key 21): move partitions' log start offsets forward,
//! deleting every record below.

use crate::wire::Array;
use crate::ErrorCode;

wire_struct! {
    /// One partition to delete records from.
    pub struct DeleteRecordsPartition {
        /// The partition index.
        pub partition_index: i32 => 0..,
        /// The new log start offset: records below it are deleted; -1 means
        /// the high watermark (everything).
        pub offset: i64 => 0..,
    }
}

wire_struct! {
    /// One topic to delete records from.
    pub struct DeleteRecordsTopic<'a> {
        /// The topic name.
        pub name: &'a str => 0..,
        /// Each partition.
        pub partitions: Array<'a, DeleteRecordsPartition> => 0..,
    }
}

wire_struct! {
    /// DeleteRecords request (sent to each partition's leader).
    pub struct DeleteRecordsRequest<'a> {
        /// Each topic.
        pub topics: Array<'a, DeleteRecordsTopic<'a>> => 0..,
        /// How long to wait for the deletion to complete, in milliseconds.
        pub timeout_ms: i32 => 0..,
    }
}

wire_struct! {
    /// The result for one partition.
    pub struct DeleteRecordsPartitionResult {
        /// The partition index.
        pub partition_index: i32 => 0..,
        /// The partition's log start offset after the deletion (-1 on error).
        pub low_watermark: i64 => 0..,
        /// The error, or 0 if the deletion succeeded.
        pub error_code: ErrorCode => 0..,
    }
}

wire_struct! {
    /// The results for one topic.
    pub struct DeleteRecordsTopicResult<'a> {
        /// The topic name.
        pub name: &'a str => 0..,
        /// Each partition.
        pub partitions: Array<'a, DeleteRecordsPartitionResult> => 0..,
    }
}

wire_struct! {
    /// DeleteRecords response.
    pub struct DeleteRecordsResponse<'a> {
        /// Throttle time in milliseconds.
        pub throttle_time_ms: i32 => 0..,
        /// Each topic.
        pub topics: Array<'a, DeleteRecordsTopicResult<'a>> => 0..,
    }
}

crate::protocol::api!(DeleteRecords, versions 0..=2, flexible Some(2),
    DeleteRecordsRequest<'a> => DeleteRecordsResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    #[test]
    fn request_v0_and_v2() {
        let partitions = [DeleteRecordsPartition {
            partition_index: 1,
            offset: 5,
        }];
        let topics = [DeleteRecordsTopic {
            name: "t",
            partitions: Array::new(&partitions),
        }];
        let expected = DeleteRecordsRequest {
            topics: Array::new(&topics),
            timeout_ms: 1000,
        };
        #[rustfmt::skip]
        let v0 = cat(&[
            &[0, 0, 0, 1], &[0, 1], b"t",
            &[0, 0, 0, 1], &[0, 0, 0, 1], &[0, 0, 0, 0, 0, 0, 0, 5],
            &[0, 0, 0x03, 0xe8],
        ]);
        assert_golden(&v0, 0, &expected);
        #[rustfmt::skip]
        let v2 = cat(&[
            &[2], &[2], b"t",
            &[2], &[0, 0, 0, 1], &[0, 0, 0, 0, 0, 0, 0, 5], &[0],
            &[0],
            &[0, 0, 0x03, 0xe8], &[0],
        ]);
        assert_golden(&v2, 2, &expected);
    }

    #[test]
    fn response_v1() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0, 0, 0, 0],
            &[0, 0, 0, 1], &[0, 1], b"t",
            &[0, 0, 0, 1], &[0, 0, 0, 0], &[0xff; 8], &[0, 1],
        ]);
        let partitions = [DeleteRecordsPartitionResult {
            partition_index: 0,
            low_watermark: -1,
            error_code: ErrorCode::OFFSET_OUT_OF_RANGE,
        }];
        let topics = [DeleteRecordsTopicResult {
            name: "t",
            partitions: Array::new(&partitions),
        }];
        let expected = DeleteRecordsResponse {
            throttle_time_ms: 0,
            topics: Array::new(&topics),
        };
        assert_golden(&bytes, 1, &expected);
    }
}
