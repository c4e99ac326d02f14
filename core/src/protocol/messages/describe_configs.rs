//! DescribeConfigs (key 32): the configuration of topics, brokers and
//! other resources, with where each value comes from.

use crate::wire::Array;
use crate::ErrorCode;

/// Resource type of a topic in the config APIs (`ConfigResource.Type.TOPIC`).
pub const CONFIG_RESOURCE_TOPIC: i8 = 2;
/// Resource type of a broker in the config APIs (`ConfigResource.Type.BROKER`).
pub const CONFIG_RESOURCE_BROKER: i8 = 4;

wire_struct! {
    /// One resource whose configuration is asked for.
    pub struct DescribeConfigsResource<'a> {
        /// The resource type (2 topic, 4 broker, 8 broker logger, ...).
        pub resource_type: i8 => 0..,
        /// The resource name (a topic name, a broker id in decimal).
        pub resource_name: &'a str => 0..,
        /// The configuration keys to list, or null to list every key.
        pub configuration_keys: Option<Array<'a, &'a str>> => 0..,
    }
}

wire_struct! {
    /// DescribeConfigs request.
    pub struct DescribeConfigsRequest<'a> {
        /// The resources to describe.
        pub resources: Array<'a, DescribeConfigsResource<'a>> => 0..,
        /// True to include every synonym of each key (v1+).
        pub include_synonyms: bool => 1..,
        /// True to include each key's documentation (v3+).
        pub include_documentation: bool => 3..,
    }
}

wire_struct! {
    /// A synonym of a configuration key (e.g. the broker's
    /// `log.retention.ms` behind a topic's `retention.ms`).
    pub struct DescribeConfigsSynonym<'a> {
        /// The synonym name.
        pub name: &'a str => 1..,
        /// The synonym value.
        pub value: Option<&'a str> => 1..,
        /// The synonym source.
        pub source: i8 => 1..,
    }
}

wire_struct! {
    /// One configuration key of a described resource.
    pub struct DescribeConfigsResourceResult<'a> {
        /// The configuration name.
        pub name: &'a str => 0..,
        /// The configuration value (null when sensitive).
        pub value: Option<&'a str> => 0..,
        /// True if the configuration is read-only.
        pub read_only: bool => 0..,
        /// True if the configuration is not set (v0 only; v1+ say it with
        /// `config_source`).
        pub is_default: bool => 0..=0,
        /// Where the value comes from (v1+): 1 dynamic topic config, 4
        /// static broker config, 5 default, ...
        pub config_source: i8 = -1 => 1..,
        /// True if this configuration is sensitive.
        pub is_sensitive: bool => 0..,
        /// The synonyms of this key, most specific first (v1+).
        pub synonyms: Array<'a, DescribeConfigsSynonym<'a>> => 1..,
        /// The data type (v3+): 1 boolean, 2 string, 3 int, 4 short, 5
        /// long, 6 double, 7 list, 8 class, 9 password; 0 unknown.
        pub config_type: i8 => 3..,
        /// The documentation (v3+).
        pub documentation: Option<&'a str> => 3..,
    }
}

wire_struct! {
    /// The configuration of one resource.
    pub struct DescribeConfigsResult<'a> {
        /// The error, or 0 if the resource was described.
        pub error_code: ErrorCode => 0..,
        /// The error message, or null.
        pub error_message: Option<&'a str> => 0..,
        /// The resource type.
        pub resource_type: i8 => 0..,
        /// The resource name.
        pub resource_name: &'a str => 0..,
        /// Each configuration key listed.
        pub configs: Array<'a, DescribeConfigsResourceResult<'a>> => 0..,
    }
}

wire_struct! {
    /// DescribeConfigs response.
    pub struct DescribeConfigsResponse<'a> {
        /// Throttle time in milliseconds.
        pub throttle_time_ms: i32 => 0..,
        /// The results for each resource.
        pub results: Array<'a, DescribeConfigsResult<'a>> => 0..,
    }
}

crate::protocol::api!(DescribeConfigs, versions 0..=4, flexible Some(4),
    DescribeConfigsRequest<'a> => DescribeConfigsResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    #[test]
    fn request_v1_all_keys_of_a_topic() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0, 0, 0, 1],              // resources: 1
            &[2],                       //   resource_type: topic
            &[0, 1], b"t",              //   resource_name: "t"
            &[0xff, 0xff, 0xff, 0xff],  //   configuration_keys: null
            &[1],                       // include_synonyms: true
        ]);
        let resources = [DescribeConfigsResource {
            resource_type: CONFIG_RESOURCE_TOPIC,
            resource_name: "t",
            configuration_keys: None,
        }];
        let expected = DescribeConfigsRequest {
            resources: Array::new(&resources),
            include_synonyms: true,
            include_documentation: false,
        };
        assert_golden(&bytes, 1, &expected);
    }

    #[test]
    fn response_v4_compact_with_synonym() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0, 0, 0, 0],              // throttle_time_ms
            &[2],                       // results: 1
            &[0, 0],                    //   error_code
            &[0],                       //   error_message: null
            &[2],                       //   resource_type: topic
            &[2], b"t",                 //   resource_name: "t"
            &[2],                       //   configs: 1
            &[13], b"retention.ms",     //     name
            &[4], b"100",               //     value: "100"
            &[0],                       //     read_only
            &[1],                       //     config_source: dynamic topic
            &[0],                       //     is_sensitive
            &[2],                       //     synonyms: 1
            &[13], b"retention.ms",     //       name
            &[4], b"100",               //       value
            &[1],                       //       source
            &[0],                       //       tagged fields
            &[5],                       //     config_type: long
            &[0],                       //     documentation: null
            &[0],                       //     tagged fields
            &[0],                       //   tagged fields
            &[0],                       // tagged fields
        ]);
        let synonyms = [DescribeConfigsSynonym {
            name: "retention.ms",
            value: Some("100"),
            source: 1,
        }];
        let configs = [DescribeConfigsResourceResult {
            name: "retention.ms",
            value: Some("100"),
            config_source: 1,
            synonyms: Array::new(&synonyms),
            config_type: 5,
            ..Default::default()
        }];
        let results = [DescribeConfigsResult {
            resource_type: CONFIG_RESOURCE_TOPIC,
            resource_name: "t",
            configs: Array::new(&configs),
            ..Default::default()
        }];
        let expected = DescribeConfigsResponse {
            throttle_time_ms: 0,
            results: Array::new(&results),
        };
        assert_golden(&bytes, 4, &expected);
    }

    #[test]
    fn response_v0_has_is_default_and_no_source() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0, 0, 0, 0],              // throttle_time_ms
            &[0, 0, 0, 1],              // results: 1
            &[0, 3],                    //   error_code: UNKNOWN_TOPIC_OR_PARTITION
            &[0, 1], b"x",              //   error_message: "x"
            &[2],                       //   resource_type
            &[0, 1], b"t",              //   resource_name
            &[0, 0, 0, 1],              //   configs: 1
            &[0, 1], b"k",              //     name
            &[0xff, 0xff],              //     value: null
            &[1],                       //     read_only
            &[1],                       //     is_default
            &[1],                       //     is_sensitive
        ]);
        let configs = [DescribeConfigsResourceResult {
            name: "k",
            value: None,
            read_only: true,
            is_default: true,
            is_sensitive: true,
            ..Default::default()
        }];
        let results = [DescribeConfigsResult {
            error_code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            error_message: Some("x"),
            resource_type: 2,
            resource_name: "t",
            configs: Array::new(&configs),
        }];
        let decoded = assert_golden(
            &bytes,
            0,
            &DescribeConfigsResponse {
                throttle_time_ms: 0,
                results: Array::new(&results),
            },
        );
        let c = decoded.results.iter().next().unwrap().configs.iter().next();
        assert_eq!(c.unwrap().config_source, -1, "absent before v1: default");
    }
}
