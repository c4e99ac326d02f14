//! DeleteTopics (key 20): delete topics by name or (v6+) by id.

use crate::wire::{Array, Uuid};
use crate::ErrorCode;

wire_struct! {
    /// One topic to delete, by name or id (v6+).
    pub struct DeleteTopicState<'a> {
        /// The topic name, or null to delete by id.
        pub name: Option<&'a str> => 6..,
        /// The topic id.
        pub topic_id: Uuid => 6..,
    }
}

wire_struct! {
    /// DeleteTopics request.
    pub struct DeleteTopicsRequest<'a> {
        /// The topics to delete, by name or id (v6+).
        pub topics: Array<'a, DeleteTopicState<'a>> => 6..,
        /// The names of the topics to delete (v0-5).
        pub topic_names: Array<'a, &'a str> => 0..=5,
        /// How long to wait in milliseconds for the deletions to complete.
        pub timeout_ms: i32 => 0..,
    }
}

wire_struct! {
    /// The result of deleting one topic.
    pub struct DeletableTopicResult<'a> {
        /// The topic name (null when deleted by id, v6+).
        pub name: Option<&'a str> => 0..; null 6..,
        /// The topic id (v6+).
        pub topic_id: Uuid => 6..,
        /// The deletion error, or 0 if the deletion succeeded.
        pub error_code: ErrorCode => 0..,
        /// The error message, or null.
        pub error_message: Option<&'a str> => 5..,
    }
}

wire_struct! {
    /// DeleteTopics response.
    pub struct DeleteTopicsResponse<'a> {
        /// Throttle time in milliseconds (v1+).
        pub throttle_time_ms: i32 => 1..,
        /// The result for each topic.
        pub responses: Array<'a, DeletableTopicResult<'a>> => 0..,
    }
}

crate::protocol::api!(DeleteTopics, versions 0..=6, flexible Some(4),
    DeleteTopicsRequest<'a> => DeleteTopicsResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testing::golden;

    const ID: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];

    #[test]
    fn v1_request_by_name() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0x00, 0x00, 0x00, 0x02,     // topic_names: 2
            0x00, 0x03, b'f', b'o', b'o', //   "foo"
            0x00, 0x03, b'b', b'a', b'r', //   "bar"
            0x00, 0x00, 0x75, 0x30,     // timeout_ms: 30000
        ];
        let req: DeleteTopicsRequest = golden(BYTES, 1);
        assert!(req.topic_names.iter().eq(["foo", "bar"]));
        assert!(req.topics.is_empty());
        assert_eq!(req.timeout_ms, 30000);
    }

    #[test]
    fn v6_request_by_id_and_name() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0x03,                       // topics: 2 (compact)
            0x00,                       //   name: null
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, // topic_id
            0x00,                       //   tagged fields: none
            0x04, b'f', b'o', b'o',     //   name: "foo"
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // topic_id: zero
            0x00,                       //   tagged fields: none
            0x00, 0x00, 0x75, 0x30,     // timeout_ms: 30000
            0x00,                       // tagged fields: none
        ];
        let req: DeleteTopicsRequest = golden(BYTES, 6);
        let mut topics = req.topics.iter();
        assert_eq!(
            topics.next(),
            Some(DeleteTopicState {
                name: None,
                topic_id: Uuid(ID)
            })
        );
        assert_eq!(
            topics.next(),
            Some(DeleteTopicState {
                name: Some("foo"),
                topic_id: Uuid::ZERO
            })
        );
        assert!(req.topic_names.is_empty(), "absent from v6");
        assert_eq!(req.timeout_ms, 30000);
    }

    #[test]
    fn v0_response() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0x00, 0x00, 0x00, 0x01,     // responses: 1
            0x00, 0x03, b'f', b'o', b'o', //   name: "foo"
            0x00, 0x00,                 //   error_code: NONE
        ];
        let resp: DeleteTopicsResponse = golden(BYTES, 0);
        let r = resp.responses.iter().next().unwrap();
        assert_eq!(
            (r.name, r.error_code, r.error_message),
            (Some("foo"), ErrorCode::NONE, None)
        );
    }

    #[test]
    fn v6_response_compact() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0x00, 0x00, 0x00, 0x00,     // throttle_time_ms: 0
            0x02,                       // responses: 1 (compact)
            0x00,                       //   name: null
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, // topic_id
            0x00, 0x64,                 //   error_code: 100 (UNKNOWN_TOPIC_ID)
            0x08, b'u', b'n', b'k', b'n', b'o', b'w', b'n', // error_message: "unknown"
            0x00,                       //   tagged fields: none
            0x00,                       // tagged fields: none
        ];
        let resp: DeleteTopicsResponse = golden(BYTES, 6);
        let r = resp.responses.iter().next().unwrap();
        assert_eq!(r.name, None);
        assert_eq!(r.topic_id, Uuid(ID));
        assert_eq!(r.error_code, ErrorCode(100));
        assert_eq!(r.error_message, Some("unknown"));
    }
}
