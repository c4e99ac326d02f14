//! ListOffsets (key 2): look up offsets by timestamp (earliest, latest, ...).

use crate::wire::Array;
use crate::ErrorCode;

wire_struct! {
    /// One partition to look up.
    pub struct ListOffsetsPartition {
        /// The partition index.
        pub partition_index: i32 => 0..,
        /// The current leader epoch.
        pub current_leader_epoch: i32 = -1 => 4..,
        /// The timestamp to look up (-1 latest, -2 earliest, ...).
        pub timestamp: i64 => 0..,
        /// The maximum number of offsets to report (v0 only).
        pub max_num_offsets: i32 = 1 => 0..=0,
    }
}

wire_struct! {
    /// One topic to look up.
    pub struct ListOffsetsTopic<'a> {
        /// The topic name.
        pub name: &'a str => 0..,
        /// Each partition in the request.
        pub partitions: Array<'a, ListOffsetsPartition> => 0..,
    }
}

wire_struct! {
    /// ListOffsets request.
    pub struct ListOffsetsRequest<'a> {
        /// The requesting broker's id, or -1 for a normal consumer.
        pub replica_id: i32 => 0..,
        /// 0 = READ_UNCOMMITTED, 1 = READ_COMMITTED.
        pub isolation_level: i8 => 2..,
        /// Each topic in the request.
        pub topics: Array<'a, ListOffsetsTopic<'a>> => 0..,
        /// Timeout in milliseconds for lookups in remote (tiered) storage.
        pub timeout_ms: i32 => 10..,
    }
}

wire_struct! {
    /// The offset found for one partition.
    pub struct ListOffsetsPartitionResponse<'a> {
        /// The partition index.
        pub partition_index: i32 => 0..,
        /// The partition error code, or 0 if there was no error.
        pub error_code: ErrorCode => 0..,
        /// The result offsets (v0 only).
        pub old_style_offsets: Array<'a, i64> => 0..=0,
        /// The timestamp associated with the returned offset.
        pub timestamp: i64 = -1 => 1..,
        /// The returned offset.
        pub offset: i64 = -1 => 1..,
        /// The leader epoch of the returned offset.
        pub leader_epoch: i32 = -1 => 4..,
    }
}

wire_struct! {
    /// The offsets found for one topic.
    pub struct ListOffsetsTopicResponse<'a> {
        /// The topic name.
        pub name: &'a str => 0..,
        /// Each partition in the response.
        pub partitions: Array<'a, ListOffsetsPartitionResponse<'a>> => 0..,
    }
}

wire_struct! {
    /// ListOffsets response.
    pub struct ListOffsetsResponse<'a> {
        /// Throttle time in milliseconds (v2+).
        pub throttle_time_ms: i32 => 2..,
        /// Each topic in the response.
        pub topics: Array<'a, ListOffsetsTopicResponse<'a>> => 0..,
    }
}

crate::protocol::api!(ListOffsets, versions 0..=10, flexible Some(6),
    ListOffsetsRequest<'a> => ListOffsetsResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testing::golden;

    #[test]
    fn v1_request() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0xff, 0xff, 0xff, 0xff,     // replica_id: -1
            0x00, 0x00, 0x00, 0x01,     // topics: 1
            0x00, 0x03, b'f', b'o', b'o', //   name: "foo"
            0x00, 0x00, 0x00, 0x01,     //   partitions: 1
            0x00, 0x00, 0x00, 0x02,     //     partition_index: 2
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, // timestamp: -2 (earliest)
        ];
        let req: ListOffsetsRequest = golden(BYTES, 1);
        assert_eq!(req.replica_id, -1);
        assert_eq!(req.isolation_level, 0);
        let topic = req.topics.iter().next().unwrap();
        assert_eq!(topic.name, "foo");
        assert_eq!(
            topic.partitions.iter().next().unwrap(),
            ListOffsetsPartition {
                partition_index: 2,
                current_leader_epoch: -1,
                timestamp: -2,
                max_num_offsets: 1, // v0 only: the default
            }
        );
    }

    #[test]
    fn v0_response_old_style_offsets() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0x00, 0x00, 0x00, 0x01,     // topics: 1
            0x00, 0x03, b'f', b'o', b'o', //   name: "foo"
            0x00, 0x00, 0x00, 0x01,     //   partitions: 1
            0x00, 0x00, 0x00, 0x00,     //     partition_index: 0
            0x00, 0x00,                 //     error_code: NONE
            0x00, 0x00, 0x00, 0x02,     //     old_style_offsets: 2
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, // 10
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0
        ];
        let resp: ListOffsetsResponse = golden(BYTES, 0);
        let p = resp
            .topics
            .iter()
            .next()
            .unwrap()
            .partitions
            .iter()
            .next()
            .unwrap();
        assert_eq!(p.error_code, ErrorCode::NONE);
        assert!(p.old_style_offsets.iter().eq([10, 0]));
        assert_eq!((p.timestamp, p.offset, p.leader_epoch), (-1, -1, -1));
    }

    #[test]
    fn v10_request_compact() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0xff, 0xff, 0xff, 0xff,     // replica_id: -1
            0x01,                       // isolation_level: READ_COMMITTED
            0x02,                       // topics: 1 (compact)
            0x04, b'f', b'o', b'o',     //   name: "foo"
            0x02,                       //   partitions: 1
            0x00, 0x00, 0x00, 0x00,     //     partition_index: 0
            0x00, 0x00, 0x00, 0x03,     //     current_leader_epoch: 3
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // timestamp: -1 (latest)
            0x00,                       //     tagged fields: none
            0x00,                       //   tagged fields: none
            0x00, 0x00, 0x75, 0x30,     // timeout_ms: 30000
            0x00,                       // tagged fields: none
        ];
        let req: ListOffsetsRequest = golden(BYTES, 10);
        assert_eq!(req.isolation_level, 1);
        assert_eq!(req.timeout_ms, 30000);
        let topic = req.topics.iter().next().unwrap();
        assert_eq!(topic.name, "foo");
        let p = topic.partitions.iter().next().unwrap();
        assert_eq!(
            (p.partition_index, p.current_leader_epoch, p.timestamp),
            (0, 3, -1)
        );
    }

    #[test]
    fn v6_response_skips_unknown_tags() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0x00, 0x00, 0x00, 0x00,     // throttle_time_ms: 0
            0x02,                       // topics: 1 (compact)
            0x02, b't',                 //   name: "t"
            0x02,                       //   partitions: 1
            0x00, 0x00, 0x00, 0x01,     //     partition_index: 1
            0x00, 0x00,                 //     error_code: NONE
            0x00, 0x00, 0x01, 0x80, 0x00, 0x00, 0x00, 0x00, // timestamp
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // offset: 42
            0x00, 0x00, 0x00, 0x05,     //     leader_epoch: 5
            0x00,                       //     tagged fields: none
            0x00,                       //   tagged fields: none
            0x00,                       // tagged fields: none
        ];
        let resp: ListOffsetsResponse = golden(BYTES, 6);
        let p = resp
            .topics
            .iter()
            .next()
            .unwrap()
            .partitions
            .iter()
            .next()
            .unwrap();
        assert_eq!(p.timestamp, 0x0180_0000_0000);
        assert_eq!((p.offset, p.leader_epoch), (42, 5));

        // ListOffsets has no tagged fields; an unknown one (tag 7, 2 bytes)
        // in the top-level section is skipped.
        let mut with_tag = [0u8; BYTES.len() + 4];
        with_tag[..BYTES.len()].copy_from_slice(BYTES);
        let n = BYTES.len();
        with_tag[n - 1..].copy_from_slice(&[0x01, 0x07, 0x02, 0xab, 0xcd]);
        let v = <ListOffsetsResponse as crate::protocol::Message>::wire_version(6).unwrap();
        let mut r = crate::wire::Reader::new(&with_tag);
        let again = <ListOffsetsResponse as crate::wire::Wire>::decode(&mut r, v).unwrap();
        assert!(r.is_empty());
        assert_eq!(again, resp);
    }
}
