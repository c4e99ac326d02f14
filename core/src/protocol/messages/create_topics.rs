//! CreateTopics (key 19): create topics with partitions, replicas and configs.

use crate::wire::{Array, Uuid};
use crate::ErrorCode;

wire_struct! {
    /// A manual replica assignment for one partition.
    pub struct CreatableReplicaAssignment<'a> {
        /// The partition index.
        pub partition_index: i32 => 0..,
        /// The brokers to place the partition on.
        pub broker_ids: Array<'a, i32> => 0..,
    }
}

wire_struct! {
    /// A custom topic configuration to set.
    pub struct CreatableTopicConfig<'a> {
        /// The configuration name.
        pub name: &'a str => 0..,
        /// The configuration value, or null.
        pub value: Option<&'a str> => 0..,
    }
}

wire_struct! {
    /// One topic to create.
    pub struct CreatableTopic<'a> {
        /// The topic name.
        pub name: &'a str => 0..,
        /// The number of partitions, or -1 for a manual assignment or the default.
        pub num_partitions: i32 => 0..,
        /// The replication factor, or -1 for a manual assignment or the default.
        pub replication_factor: i16 => 0..,
        /// The manual partition assignment, or empty for automatic assignment.
        pub assignments: Array<'a, CreatableReplicaAssignment<'a>> => 0..,
        /// The custom topic configurations to set.
        pub configs: Array<'a, CreatableTopicConfig<'a>> => 0..,
    }
}

wire_struct! {
    /// CreateTopics request.
    pub struct CreateTopicsRequest<'a> {
        /// The topics to create.
        pub topics: Array<'a, CreatableTopic<'a>> => 0..,
        /// How long to wait in milliseconds before timing out the request.
        pub timeout_ms: i32 = 60000 => 0..,
        /// If true, only validate the request without creating anything.
        pub validate_only: bool => 1..,
    }
}

wire_struct! {
    /// One configuration of a created topic (v5+).
    pub struct CreatableTopicConfigs<'a> {
        /// The configuration name.
        pub name: &'a str => 5..,
        /// The configuration value, or null.
        pub value: Option<&'a str> => 5..,
        /// True if the configuration is read-only.
        pub read_only: bool => 5..,
        /// The configuration source.
        pub config_source: i8 = -1 => 5..,
        /// True if the configuration is sensitive.
        pub is_sensitive: bool => 5..,
    }
}

wire_struct! {
    /// The result of creating one topic.
    pub struct CreatableTopicResult<'a> {
        /// The topic name.
        pub name: &'a str => 0..,
        /// The topic id (v7+).
        pub topic_id: Uuid => 7..,
        /// The error code, or 0 if there was no error.
        pub error_code: ErrorCode => 0..,
        /// The error message, or null if there was no error.
        pub error_message: Option<&'a str> => 1..,
        /// The topic config error, when configs are not returned.
        @tag 0 pub topic_config_error_code: ErrorCode => 5..,
        /// The number of partitions of the topic.
        pub num_partitions: i32 = -1 => 5..,
        /// The replication factor of the topic.
        pub replication_factor: i16 = -1 => 5..,
        /// The configuration of the topic, or null.
        pub configs: Option<Array<'a, CreatableTopicConfigs<'a>>> => 5..,
    }
}

wire_struct! {
    /// CreateTopics response.
    pub struct CreateTopicsResponse<'a> {
        /// Throttle time in milliseconds (v2+).
        pub throttle_time_ms: i32 => 2..,
        /// Results for each topic.
        pub topics: Array<'a, CreatableTopicResult<'a>> => 0..,
    }
}

crate::protocol::api!(CreateTopics, versions 0..=7, flexible Some(5),
    CreateTopicsRequest<'a> => CreateTopicsResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testing::golden;

    #[test]
    fn v1_request() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0x00, 0x00, 0x00, 0x01,     // topics: 1
            0x00, 0x03, b'f', b'o', b'o', //   name: "foo"
            0xff, 0xff, 0xff, 0xff,     //   num_partitions: -1
            0xff, 0xff,                 //   replication_factor: -1
            0x00, 0x00, 0x00, 0x01,     //   assignments: 1
            0x00, 0x00, 0x00, 0x00,     //     partition_index: 0
            0x00, 0x00, 0x00, 0x02,     //     broker_ids: 2
            0x00, 0x00, 0x00, 0x01,     //       1
            0x00, 0x00, 0x00, 0x02,     //       2
            0x00, 0x00, 0x00, 0x01,     //   configs: 1
            0x00, 0x0e, b'c', b'l', b'e', b'a', b'n', b'u', b'p', b'.',
            b'p', b'o', b'l', b'i', b'c', b'y', //   name: "cleanup.policy"
            0x00, 0x07, b'c', b'o', b'm', b'p', b'a', b'c', b't', // value: "compact"
            0x00, 0x00, 0xea, 0x60,     // timeout_ms: 60000
            0x01,                       // validate_only: true
        ];
        let req: CreateTopicsRequest = golden(BYTES, 1);
        assert_eq!(req.timeout_ms, 60000);
        assert!(req.validate_only);
        let t = req.topics.iter().next().unwrap();
        assert_eq!(
            (t.name, t.num_partitions, t.replication_factor),
            ("foo", -1, -1)
        );
        let a = t.assignments.iter().next().unwrap();
        assert_eq!(a.partition_index, 0);
        assert!(a.broker_ids.iter().eq([1, 2]));
        let c = t.configs.iter().next().unwrap();
        assert_eq!((c.name, c.value), ("cleanup.policy", Some("compact")));
    }

    #[test]
    fn v5_response_with_tagged_config_error() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0x00, 0x00, 0x00, 0x00,     // throttle_time_ms: 0
            0x02,                       // topics: 1 (compact)
            0x04, b'f', b'o', b'o',     //   name: "foo"
            0x00, 0x00,                 //   error_code: NONE
            0x00,                       //   error_message: null
            0x00, 0x00, 0x00, 0x03,     //   num_partitions: 3
            0x00, 0x01,                 //   replication_factor: 1
            0x02,                       //   configs: 1
            0x0f, b'c', b'l', b'e', b'a', b'n', b'u', b'p', b'.',
            b'p', b'o', b'l', b'i', b'c', b'y', //   name: "cleanup.policy"
            0x07, b'd', b'e', b'l', b'e', b't', b'e', // value: "delete"
            0x00,                       //     read_only: false
            0x05,                       //     config_source: 5 (DEFAULT_CONFIG)
            0x00,                       //     is_sensitive: false
            0x00,                       //     tagged fields: none
            0x01,                       //   tagged fields: 1
            0x00, 0x02,                 //     tag 0 (topic_config_error_code), 2 bytes
            0x00, 0x1d,                 //       TOPIC_AUTHORIZATION_FAILED
            0x00,                       // tagged fields: none
        ];
        let resp: CreateTopicsResponse = golden(BYTES, 5);
        let t = resp.topics.iter().next().unwrap();
        assert_eq!(t.name, "foo");
        assert_eq!(t.topic_id, Uuid::ZERO, "absent before v7");
        assert_eq!(t.error_code, ErrorCode::NONE);
        assert_eq!(t.error_message, None);
        assert_eq!(
            t.topic_config_error_code,
            ErrorCode::TOPIC_AUTHORIZATION_FAILED
        );
        assert_eq!((t.num_partitions, t.replication_factor), (3, 1));
        let c = t.configs.unwrap().iter().next().unwrap();
        assert_eq!(
            c,
            CreatableTopicConfigs {
                name: "cleanup.policy",
                value: Some("delete"),
                read_only: false,
                config_source: 5,
                is_sensitive: false,
            }
        );
    }

    #[test]
    fn v0_response() {
        #[rustfmt::skip]
        const BYTES: &[u8] = &[
            0x00, 0x00, 0x00, 0x01,     // topics: 1
            0x00, 0x01, b'x',           //   name: "x"
            0x00, 0x24,                 //   error_code: 36 (TOPIC_ALREADY_EXISTS)
        ];
        let resp: CreateTopicsResponse = golden(BYTES, 0);
        let t = resp.topics.iter().next().unwrap();
        assert_eq!(t.error_code, ErrorCode(36));
        assert_eq!(t.error_message, None);
        assert_eq!((t.num_partitions, t.replication_factor), (-1, -1));
        assert_eq!(t.configs, None);
    }
}
