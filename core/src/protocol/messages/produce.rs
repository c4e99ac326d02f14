//! Produce (key 0): append record batches to partitions.

use crate::wire::Array;
use crate::ErrorCode;

wire_struct! {
    /// The records to append to one partition.
    pub struct PartitionProduceData<'a> {
        /// The partition index.
        pub index: i32 => 0..,
        /// The record data to produce (raw record batch bytes), or null.
        pub records: Option<&'a [u8]> => 0..,
    }
}

wire_struct! {
    /// One topic to produce to.
    pub struct TopicProduceData<'a> {
        /// The topic name.
        pub name: &'a str => 0..,
        /// Each partition to produce to.
        pub partition_data: Array<'a, PartitionProduceData<'a>> => 0..,
    }
}

wire_struct! {
    /// Produce request.
    pub struct ProduceRequest<'a> {
        /// The transactional id, or null if the producer is not transactional.
        pub transactional_id: Option<&'a str> => 3..,
        /// Acknowledgments required: 0 none, 1 the leader, -1 the full ISR.
        pub acks: i16 => 0..,
        /// The timeout to await a response in milliseconds.
        pub timeout_ms: i32 => 0..,
        /// Each topic to produce to.
        pub topic_data: Array<'a, TopicProduceData<'a>> => 0..,
    }
}

wire_struct! {
    /// A record that caused its batch to be dropped.
    pub struct BatchIndexAndErrorMessage<'a> {
        /// The batch index of the record.
        pub batch_index: i32 => 8..,
        /// The error message for that record, or null.
        pub batch_index_error_message: Option<&'a str> => 8..,
    }
}

wire_struct! {
    /// The current leader of a partition (tagged, v10+).
    pub struct ProduceLeaderIdAndEpoch {
        /// The current leader's id, or -1 if unknown.
        pub leader_id: i32 = -1 => 10..,
        /// The latest known leader epoch.
        pub leader_epoch: i32 = -1 => 10..,
    }
}

wire_struct! {
    /// The result of producing to one partition.
    pub struct PartitionProduceResponse<'a> {
        /// The partition index.
        pub index: i32 => 0..,
        /// The error code, or 0 if there was no error.
        pub error_code: ErrorCode => 0..,
        /// The base offset.
        pub base_offset: i64 => 0..,
        /// The append timestamp for LogAppendTime topics, else -1.
        pub log_append_time_ms: i64 = -1 => 2..,
        /// The log start offset.
        pub log_start_offset: i64 = -1 => 5..,
        /// The records that caused the batch to be dropped.
        pub record_errors: Array<'a, BatchIndexAndErrorMessage<'a>> => 8..,
        /// The summarizing error message for dropped records, or null.
        pub error_message: Option<&'a str> => 8..,
        /// The current leader, sent with `NOT_LEADER_OR_FOLLOWER`.
        @tag 0 pub current_leader: ProduceLeaderIdAndEpoch => 10..,
    }
}

wire_struct! {
    /// The results for one topic.
    pub struct TopicProduceResponse<'a> {
        /// The topic name.
        pub name: &'a str => 0..,
        /// Each partition produced to.
        pub partition_responses: Array<'a, PartitionProduceResponse<'a>> => 0..,
    }
}

wire_struct! {
    /// The endpoint of a current leader named in the response (v10+).
    pub struct ProduceNodeEndpoint<'a> {
        /// The node id.
        pub node_id: i32 => 10..,
        /// The node's hostname.
        pub host: &'a str => 10..,
        /// The node's port.
        pub port: i32 => 10..,
        /// The node's rack, or null.
        pub rack: Option<&'a str> => 10..,
    }
}

wire_struct! {
    /// Produce response.
    pub struct ProduceResponse<'a> {
        /// Each topic's results.
        pub responses: Array<'a, TopicProduceResponse<'a>> => 0..,
        /// Throttle time in milliseconds (v1+).
        pub throttle_time_ms: i32 => 1..,
        /// Endpoints of the current leaders named in partitions with
        /// `NOT_LEADER_OR_FOLLOWER`.
        @tag 0 pub node_endpoints: Array<'a, ProduceNodeEndpoint<'a>> => 10..,
    }
}

crate::protocol::api!(Produce, versions 0..=11, flexible Some(9),
    ProduceRequest<'a> => ProduceResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testing::golden;

    #[test]
    fn v3_request() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0xff, 0xff,                 // transactional_id: null
            0xff, 0xff,                 // acks: -1
            0x00, 0x00, 0x75, 0x30,     // timeout_ms: 30000
            0x00, 0x00, 0x00, 0x01,     // topic_data: 1 topic
            0x00, 0x03, b'f', b'o', b'o', //   name: "foo"
            0x00, 0x00, 0x00, 0x01,     //   partition_data: 1 partition
            0x00, 0x00, 0x00, 0x02,     //     index: 2
            0x00, 0x00, 0x00, 0x04,     //     records: 4 bytes
            0xde, 0xad, 0xbe, 0xef,
        ];
        let req: ProduceRequest = golden(BYTES, 3);
        assert_eq!(req.transactional_id, None);
        assert_eq!(req.acks, -1);
        assert_eq!(req.timeout_ms, 30000);
        let topic = req.topic_data.iter().next().unwrap();
        assert_eq!(req.topic_data.len(), 1);
        assert_eq!(topic.name, "foo");
        let part = topic.partition_data.iter().next().unwrap();
        assert_eq!(topic.partition_data.len(), 1);
        assert_eq!(part.index, 2);
        assert_eq!(part.records, Some(&[0xde, 0xad, 0xbe, 0xef][..]));
    }

    #[test]
    fn v9_request_compact() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0x03, b't', b'x',           // transactional_id: "tx" (compact)
            0x00, 0x01,                 // acks: 1
            0x00, 0x00, 0x03, 0xe8,     // timeout_ms: 1000
            0x02,                       // topic_data: 1 topic (compact)
            0x04, b'f', b'o', b'o',     //   name: "foo"
            0x02,                       //   partition_data: 1 partition
            0x00, 0x00, 0x00, 0x00,     //     index: 0
            0x03, 0x01, 0x02,           //     records: 2 bytes (compact)
            0x00,                       //     tagged fields: none
            0x00,                       //   tagged fields: none
            0x00,                       // tagged fields: none
        ];
        let req: ProduceRequest = golden(BYTES, 9);
        assert_eq!(req.transactional_id, Some("tx"));
        assert_eq!(req.acks, 1);
        assert_eq!(req.timeout_ms, 1000);
        let topic = req.topic_data.iter().next().unwrap();
        assert_eq!(topic.name, "foo");
        let part = topic.partition_data.iter().next().unwrap();
        assert_eq!(part.index, 0);
        assert_eq!(part.records, Some(&[1, 2][..]));
    }

    #[test]
    fn v10_response_with_tagged_leader_and_endpoints() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0x02,                       // responses: 1 topic
            0x04, b'f', b'o', b'o',     //   name: "foo"
            0x02,                       //   partition_responses: 1
            0x00, 0x00, 0x00, 0x00,     //     index: 0
            0x00, 0x06,                 //     error_code: NOT_LEADER_OR_FOLLOWER
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // base_offset: -1
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log_append_time_ms: -1
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, // log_start_offset: 5
            0x01,                       //     record_errors: empty
            0x00,                       //     error_message: null
            0x01,                       //     tagged fields: 1
            0x00, 0x09,                 //       tag 0 (current_leader), 9 bytes
            0x00, 0x00, 0x00, 0x02,     //         leader_id: 2
            0x00, 0x00, 0x00, 0x07,     //         leader_epoch: 7
            0x00,                       //         tagged fields: none
            0x00,                       //   tagged fields: none
            0x00, 0x00, 0x00, 0x00,     // throttle_time_ms: 0
            0x01,                       // tagged fields: 1
            0x00, 0x0e,                 //   tag 0 (node_endpoints), 14 bytes
            0x02,                       //     1 endpoint
            0x00, 0x00, 0x00, 0x02,     //       node_id: 2
            0x03, b'b', b'2',           //       host: "b2"
            0x00, 0x00, 0x23, 0x84,     //       port: 9092
            0x00,                       //       rack: null
            0x00,                       //       tagged fields: none
        ];
        let resp: ProduceResponse = golden(BYTES, 10);
        assert_eq!(resp.throttle_time_ms, 0);
        let topic = resp.responses.iter().next().unwrap();
        assert_eq!(topic.name, "foo");
        let p = topic.partition_responses.iter().next().unwrap();
        assert_eq!(p.index, 0);
        assert_eq!(p.error_code, ErrorCode::NOT_LEADER_OR_FOLLOWER);
        assert_eq!(p.base_offset, -1);
        assert_eq!(p.log_append_time_ms, -1);
        assert_eq!(p.log_start_offset, 5);
        assert!(p.record_errors.is_empty());
        assert_eq!(p.error_message, None);
        assert_eq!(
            p.current_leader,
            ProduceLeaderIdAndEpoch {
                leader_id: 2,
                leader_epoch: 7
            }
        );
        let node = resp.node_endpoints.iter().next().unwrap();
        assert_eq!(resp.node_endpoints.len(), 1);
        assert_eq!(
            node,
            ProduceNodeEndpoint {
                node_id: 2,
                host: "b2",
                port: 9092,
                rack: None
            }
        );
    }

    #[test]
    fn v8_response_record_errors() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0x00, 0x00, 0x00, 0x01,     // responses: 1 topic
            0x00, 0x01, b't',           //   name: "t"
            0x00, 0x00, 0x00, 0x01,     //   partition_responses: 1
            0x00, 0x00, 0x00, 0x01,     //     index: 1
            0x00, 0x57,                 //     error_code: 87 (INVALID_RECORD)
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // base_offset: 0
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log_append_time_ms: -1
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // log_start_offset: 0
            0x00, 0x00, 0x00, 0x01,     //     record_errors: 1
            0x00, 0x00, 0x00, 0x03,     //       batch_index: 3
            0x00, 0x03, b'b', b'a', b'd', //     batch_index_error_message: "bad"
            0xff, 0xff,                 //     error_message: null
            0x00, 0x00, 0x00, 0x0a,     // throttle_time_ms: 10
        ];
        let resp: ProduceResponse = golden(BYTES, 8);
        assert_eq!(resp.throttle_time_ms, 10);
        let p = resp
            .responses
            .iter()
            .next()
            .unwrap()
            .partition_responses
            .iter()
            .next()
            .unwrap();
        assert_eq!(p.error_code, ErrorCode(87));
        assert_eq!(p.log_append_time_ms, -1);
        assert_eq!(p.log_start_offset, 0);
        assert_eq!(p.current_leader, ProduceLeaderIdAndEpoch::default());
        let e = p.record_errors.iter().next().unwrap();
        assert_eq!(e.batch_index, 3);
        assert_eq!(e.batch_index_error_message, Some("bad"));
        assert_eq!(p.error_message, None);
    }
}
