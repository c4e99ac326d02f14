//! ElectLeaders (key 43): make the preferred (or any live, "unclean")
//! replica the leader of partitions.

use crate::wire::Array;
use crate::ErrorCode;

/// `election_type`: the preferred (first) replica leads.
pub const ELECTION_PREFERRED: i8 = 0;
/// `election_type`: any live replica leads when none is in sync.
pub const ELECTION_UNCLEAN: i8 = 1;

wire_struct! {
    /// The partitions of one topic to elect leaders for.
    pub struct ElectLeadersTopicPartitions<'a> {
        /// The topic name.
        pub topic: &'a str => 0..,
        /// The partitions.
        pub partitions: Array<'a, i32> => 0..,
    }
}

wire_struct! {
    /// ElectLeaders request (to the controller, through any broker).
    pub struct ElectLeadersRequest<'a> {
        /// [`ELECTION_PREFERRED`] or [`ELECTION_UNCLEAN`] (v1+; v0 is preferred).
        pub election_type: i8 => 1..,
        /// The partitions, or null for every partition.
        pub topic_partitions: Option<Array<'a, ElectLeadersTopicPartitions<'a>>> => 0..,
        /// How long to wait for the election, in milliseconds.
        pub timeout_ms: i32 = 60_000 => 0..,
    }
}

wire_struct! {
    /// The result for one partition.
    pub struct ElectLeadersPartitionResult<'a> {
        /// The partition id.
        pub partition_id: i32 => 0..,
        /// The error, or 0 if the leader was elected.
        pub error_code: ErrorCode => 0..,
        /// The error message, or null.
        pub error_message: Option<&'a str> => 0..,
    }
}

wire_struct! {
    /// The results for one topic.
    pub struct ReplicaElectionResult<'a> {
        /// The topic name.
        pub topic: &'a str => 0..,
        /// Each partition.
        pub partition_result: Array<'a, ElectLeadersPartitionResult<'a>> => 0..,
    }
}

wire_struct! {
    /// ElectLeaders response.
    pub struct ElectLeadersResponse<'a> {
        /// Throttle time in milliseconds.
        pub throttle_time_ms: i32 => 0..,
        /// The top-level error (v1+).
        pub error_code: ErrorCode => 1..,
        /// The results by topic.
        pub replica_election_results: Array<'a, ReplicaElectionResult<'a>> => 0..,
    }
}

crate::protocol::api!(ElectLeaders, versions 0..=2, flexible Some(2),
    ElectLeadersRequest<'a> => ElectLeadersResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    #[test]
    fn request_v0_all_partitions_and_v2() {
        #[rustfmt::skip]
        let v0 = cat(&[&[0xff, 0xff, 0xff, 0xff], &[0, 0, 0xea, 0x60]]);
        let all = ElectLeadersRequest::default();
        assert_eq!(all.timeout_ms, 60_000);
        assert_golden(&v0, 0, &all);
        let topics = [ElectLeadersTopicPartitions {
            topic: "t",
            partitions: Array::new(&[0, 2]),
        }];
        #[rustfmt::skip]
        let v2 = cat(&[
            &[1],                       // election_type: unclean
            &[2], &[2], b"t", &[3], &[0, 0, 0, 0], &[0, 0, 0, 2], &[0],
            &[0, 0, 0x03, 0xe8],
            &[0],
        ]);
        let expected = ElectLeadersRequest {
            election_type: ELECTION_UNCLEAN,
            topic_partitions: Some(Array::new(&topics)),
            timeout_ms: 1000,
        };
        assert_golden(&v2, 2, &expected);
    }

    #[test]
    fn response_v1() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0, 0, 0, 0], &[0, 0],
            &[0, 0, 0, 1], &[0, 1], b"t",
            &[0, 0, 0, 1], &[0, 0, 0, 0], &[0, 84], &[0xff, 0xff],
        ]);
        let partitions = [ElectLeadersPartitionResult {
            partition_id: 0,
            error_code: ErrorCode::ELECTION_NOT_NEEDED,
            error_message: None,
        }];
        let results = [ReplicaElectionResult {
            topic: "t",
            partition_result: Array::new(&partitions),
        }];
        let expected = ElectLeadersResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::NONE,
            replica_election_results: Array::new(&results),
        };
        assert_golden(&bytes, 1, &expected);
    }
}
