//! AddPartitionsToTxn (key 24): add partitions to a producer's open transaction.
//!
//! Versions 0-3 are the client's form: one transaction, its fields prefixed
//! `v3_and_below_`. Versions 4+ are the brokers' batched form (a partition
//! leader verifying several transactions at once, KIP-890): `transactions`,
//! each with `verify_only`. A client sends v0-3 only.

use crate::wire::Array;
use crate::ErrorCode;

wire_struct! {
    /// One topic's partitions to add.
    pub struct AddPartitionsToTxnTopic<'a> {
        /// The topic name.
        pub name: &'a str => 0..,
        /// The partition indexes to add to the transaction.
        pub partitions: Array<'a, i32> => 0..,
    }
}

wire_struct! {
    /// One transaction in a broker's batched request (v4+).
    pub struct AddPartitionsToTxnTransaction<'a> {
        /// The transactional id.
        pub transactional_id: &'a str => 4..,
        /// The producer id in use by the transactional id.
        pub producer_id: i64 => 4..,
        /// The epoch of the producer id.
        pub producer_epoch: i16 => 4..,
        /// Only check that the partitions are in the transaction; do not add them.
        pub verify_only: bool => 4..,
        /// The partitions to add (or verify).
        pub topics: Array<'a, AddPartitionsToTxnTopic<'a>> => 4..,
    }
}

wire_struct! {
    /// AddPartitionsToTxn request.
    pub struct AddPartitionsToTxnRequest<'a> {
        /// The transactions to add partitions to (v4+, brokers only).
        pub transactions: Array<'a, AddPartitionsToTxnTransaction<'a>> => 4..,
        /// The transactional id (v0-3).
        pub v3_and_below_transactional_id: &'a str => 0..=3,
        /// The producer id in use by the transactional id (v0-3).
        pub v3_and_below_producer_id: i64 => 0..=3,
        /// The epoch of the producer id (v0-3).
        pub v3_and_below_producer_epoch: i16 => 0..=3,
        /// The partitions to add to the transaction (v0-3).
        pub v3_and_below_topics: Array<'a, AddPartitionsToTxnTopic<'a>> => 0..=3,
    }
}

wire_struct! {
    /// One partition's result.
    pub struct AddPartitionsToTxnPartitionResult {
        /// The partition index.
        pub partition_index: i32 => 0..,
        /// The error code, or 0 if there was no error.
        pub partition_error_code: ErrorCode => 0..,
    }
}

wire_struct! {
    /// One topic's results.
    pub struct AddPartitionsToTxnTopicResult<'a> {
        /// The topic name.
        pub name: &'a str => 0..,
        /// Each partition's result.
        pub results_by_partition: Array<'a, AddPartitionsToTxnPartitionResult> => 0..,
    }
}

wire_struct! {
    /// One transaction's results (v4+).
    pub struct AddPartitionsToTxnResult<'a> {
        /// The transactional id.
        pub transactional_id: &'a str => 4..,
        /// Each topic's results.
        pub topic_results: Array<'a, AddPartitionsToTxnTopicResult<'a>> => 4..,
    }
}

wire_struct! {
    /// AddPartitionsToTxn response.
    pub struct AddPartitionsToTxnResponse<'a> {
        /// Throttle time in milliseconds.
        pub throttle_time_ms: i32 => 0..,
        /// The top-level error code (v4+).
        pub error_code: ErrorCode => 4..,
        /// Each transaction's results (v4+).
        pub results_by_transaction: Array<'a, AddPartitionsToTxnResult<'a>> => 4..,
        /// Each topic's results (v0-3).
        pub results_by_topic_v3_and_below: Array<'a, AddPartitionsToTxnTopicResult<'a>> => 0..=3,
    }
}

crate::protocol::api!(AddPartitionsToTxn, versions 0..=5, flexible Some(3),
    AddPartitionsToTxnRequest<'a> => AddPartitionsToTxnResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    #[test]
    fn request_v0_client() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x03], b"tx1",      // transactional_id: "tx1"
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x03, 0xe8],  // producer_id: 1000
            &[0x00, 0x02],              // producer_epoch: 2
            &[0x00, 0x00, 0x00, 0x01],  // topics: array of 1
            &[0x00, 0x01], b"t",        //   name: "t"
            &[0x00, 0x00, 0x00, 0x02],  //   partitions: array of 2
            &[0x00, 0x00, 0x00, 0x00],  //     0
            &[0x00, 0x00, 0x00, 0x03],  //     3
        ]);
        let partitions = [0, 3];
        let topics = [AddPartitionsToTxnTopic {
            name: "t",
            partitions: Array::new(&partitions),
        }];
        let expected = AddPartitionsToTxnRequest {
            transactions: Array::default(),
            v3_and_below_transactional_id: "tx1",
            v3_and_below_producer_id: 1000,
            v3_and_below_producer_epoch: 2,
            v3_and_below_topics: Array::new(&topics),
        };
        assert_golden(&bytes, 0, &expected);
    }

    #[test]
    fn request_v3_flexible_client() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x04], b"tx1",            // transactional_id: compact "tx1"
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x03, 0xe8],  // producer_id: 1000
            &[0x00, 0x02],              // producer_epoch: 2
            &[0x02],                    // topics: compact array of 1
            &[0x02], b"t",              //   name: "t"
            &[0x02],                    //   partitions: compact array of 1
            &[0x00, 0x00, 0x00, 0x01],  //     1
            &[0x00],                    //   tagged fields: none
            &[0x00],                    // tagged fields: none
        ]);
        let partitions = [1];
        let topics = [AddPartitionsToTxnTopic {
            name: "t",
            partitions: Array::new(&partitions),
        }];
        let expected = AddPartitionsToTxnRequest {
            transactions: Array::default(),
            v3_and_below_transactional_id: "tx1",
            v3_and_below_producer_id: 1000,
            v3_and_below_producer_epoch: 2,
            v3_and_below_topics: Array::new(&topics),
        };
        assert_golden(&bytes, 3, &expected);
    }

    #[test]
    fn request_v4_batched_by_broker() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x02],                    // transactions: compact array of 1
            &[0x04], b"tx1",            //   transactional_id: "tx1"
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x03, 0xe8],  //   producer_id: 1000
            &[0x00, 0x02],              //   producer_epoch: 2
            &[0x01],                    //   verify_only: true
            &[0x02],                    //   topics: compact array of 1
            &[0x02], b"t",              //     name: "t"
            &[0x02],                    //     partitions: compact array of 1
            &[0x00, 0x00, 0x00, 0x01],  //       1
            &[0x00],                    //     tagged fields: none
            &[0x00],                    //   tagged fields: none
            &[0x00],                    // tagged fields: none
        ]);
        let partitions = [1];
        let topics = [AddPartitionsToTxnTopic {
            name: "t",
            partitions: Array::new(&partitions),
        }];
        let transactions = [AddPartitionsToTxnTransaction {
            transactional_id: "tx1",
            producer_id: 1000,
            producer_epoch: 2,
            verify_only: true,
            topics: Array::new(&topics),
        }];
        let expected = AddPartitionsToTxnRequest {
            transactions: Array::new(&transactions),
            ..Default::default()
        };
        assert_golden(&bytes, 4, &expected);
    }

    #[test]
    fn response_v2_and_v5() {
        #[rustfmt::skip]
        let v2 = cat(&[
            &[0x00, 0x00, 0x00, 0x00],  // throttle_time_ms: 0
            &[0x00, 0x00, 0x00, 0x01],  // results: array of 1
            &[0x00, 0x01], b"t",        //   name: "t"
            &[0x00, 0x00, 0x00, 0x01],  //   results_by_partition: array of 1
            &[0x00, 0x00, 0x00, 0x00],  //     partition_index: 0
            &[0x00, 0x33],              //     error: 51 CONCURRENT_TRANSACTIONS
        ]);
        let partitions = [AddPartitionsToTxnPartitionResult {
            partition_index: 0,
            partition_error_code: ErrorCode::CONCURRENT_TRANSACTIONS,
        }];
        let topics = [AddPartitionsToTxnTopicResult {
            name: "t",
            results_by_partition: Array::new(&partitions),
        }];
        let expected = AddPartitionsToTxnResponse {
            results_by_topic_v3_and_below: Array::new(&topics),
            ..Default::default()
        };
        assert_golden(&v2, 2, &expected);

        #[rustfmt::skip]
        let v5 = cat(&[
            &[0x00, 0x00, 0x00, 0x00],  // throttle_time_ms: 0
            &[0x00, 0x00],              // error_code: 0
            &[0x02],                    // results_by_transaction: compact array of 1
            &[0x04], b"tx1",            //   transactional_id: "tx1"
            &[0x02],                    //   topic_results: compact array of 1
            &[0x02], b"t",              //     name: "t"
            &[0x02],                    //     results_by_partition: compact array of 1
            &[0x00, 0x00, 0x00, 0x00],  //       partition_index: 0
            &[0x00, 0x78],              //       error: 120 TRANSACTION_ABORTABLE
            &[0x00],                    //       tagged fields: none
            &[0x00],                    //     tagged fields: none
            &[0x00],                    //   tagged fields: none
            &[0x00],                    // tagged fields: none
        ]);
        let partitions = [AddPartitionsToTxnPartitionResult {
            partition_index: 0,
            partition_error_code: ErrorCode::TRANSACTION_ABORTABLE,
        }];
        let topics = [AddPartitionsToTxnTopicResult {
            name: "t",
            results_by_partition: Array::new(&partitions),
        }];
        let transactions = [AddPartitionsToTxnResult {
            transactional_id: "tx1",
            topic_results: Array::new(&topics),
        }];
        let expected = AddPartitionsToTxnResponse {
            results_by_transaction: Array::new(&transactions),
            ..Default::default()
        };
        assert_golden(&v5, 5, &expected);
    }
}
