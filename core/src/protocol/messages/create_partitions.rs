//! CreatePartitions (key 37): add partitions to existing topics.

use crate::wire::Array;
use crate::ErrorCode;

wire_struct! {
    /// The replica assignment of one new partition.
    pub struct CreatePartitionsAssignment<'a> {
        /// The assigned broker ids.
        pub broker_ids: Array<'a, i32> => 0..,
    }
}

wire_struct! {
    /// One topic to grow.
    pub struct CreatePartitionsTopic<'a> {
        /// The topic name.
        pub name: &'a str => 0..,
        /// The new partition count.
        pub count: i32 => 0..,
        /// The new partitions' assignments, or null for automatic assignment.
        pub assignments: Option<Array<'a, CreatePartitionsAssignment<'a>>> => 0..,
    }
}

wire_struct! {
    /// CreatePartitions request.
    pub struct CreatePartitionsRequest<'a> {
        /// Each topic to create new partitions in.
        pub topics: Array<'a, CreatePartitionsTopic<'a>> => 0..,
        /// How long to wait in milliseconds for the partitions to be created.
        pub timeout_ms: i32 => 0..,
        /// If true, only validate the request.
        pub validate_only: bool => 0..,
    }
}

wire_struct! {
    /// The result for one topic.
    pub struct CreatePartitionsTopicResult<'a> {
        /// The topic name.
        pub name: &'a str => 0..,
        /// The result error, or 0 if there was no error.
        pub error_code: ErrorCode => 0..,
        /// The result message, or null if there was no error.
        pub error_message: Option<&'a str> => 0..,
    }
}

wire_struct! {
    /// CreatePartitions response.
    pub struct CreatePartitionsResponse<'a> {
        /// Throttle time in milliseconds.
        pub throttle_time_ms: i32 => 0..,
        /// The result for each topic.
        pub results: Array<'a, CreatePartitionsTopicResult<'a>> => 0..,
    }
}

crate::protocol::api!(CreatePartitions, versions 0..=3, flexible Some(2),
    CreatePartitionsRequest<'a> => CreatePartitionsResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testing::golden;

    #[test]
    fn v0_request() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0x00, 0x00, 0x00, 0x02,     // topics: 2
            0x00, 0x03, b'f', b'o', b'o', //   name: "foo"
            0x00, 0x00, 0x00, 0x03,     //   count: 3
            0x00, 0x00, 0x00, 0x01,     //   assignments: 1
            0x00, 0x00, 0x00, 0x02,     //     broker_ids: 2
            0x00, 0x00, 0x00, 0x01,     //       1
            0x00, 0x00, 0x00, 0x02,     //       2
            0x00, 0x03, b'b', b'a', b'r', //   name: "bar"
            0x00, 0x00, 0x00, 0x06,     //   count: 6
            0xff, 0xff, 0xff, 0xff,     //   assignments: null
            0x00, 0x00, 0x75, 0x30,     // timeout_ms: 30000
            0x00,                       // validate_only: false
        ];
        let req: CreatePartitionsRequest = golden(BYTES, 0);
        let mut topics = req.topics.iter();
        let foo = topics.next().unwrap();
        assert_eq!((foo.name, foo.count), ("foo", 3));
        let a = foo.assignments.unwrap().iter().next().unwrap();
        assert!(a.broker_ids.iter().eq([1, 2]));
        let bar = topics.next().unwrap();
        assert_eq!((bar.name, bar.count, bar.assignments), ("bar", 6, None));
        assert_eq!(req.timeout_ms, 30000);
        assert!(!req.validate_only);
    }

    #[test]
    fn v2_response_compact() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0x00, 0x00, 0x00, 0x0a,     // throttle_time_ms: 10
            0x03,                       // results: 2 (compact)
            0x04, b'f', b'o', b'o',     //   name: "foo"
            0x00, 0x25,                 //   error_code: INVALID_PARTITIONS
            0x04, b'b', b'a', b'd',     //   error_message: "bad"
            0x00,                       //   tagged fields: none
            0x04, b'b', b'a', b'r',     //   name: "bar"
            0x00, 0x00,                 //   error_code: NONE
            0x00,                       //   error_message: null
            0x00,                       //   tagged fields: none
            0x00,                       // tagged fields: none
        ];
        let resp: CreatePartitionsResponse = golden(BYTES, 2);
        assert_eq!(resp.throttle_time_ms, 10);
        let mut results = resp.results.iter();
        assert_eq!(
            results.next(),
            Some(CreatePartitionsTopicResult {
                name: "foo",
                error_code: ErrorCode::INVALID_PARTITIONS,
                error_message: Some("bad"),
            })
        );
        assert_eq!(
            results.next(),
            Some(CreatePartitionsTopicResult {
                name: "bar",
                error_code: ErrorCode::NONE,
                error_message: None,
            })
        );
    }
}
