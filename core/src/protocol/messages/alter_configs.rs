//! AlterConfigs (key 33): replace the whole dynamic configuration of
//! resources (keys not listed go back to their defaults).

use crate::wire::Array;
use crate::ErrorCode;

wire_struct! {
    /// One configuration key to set.
    pub struct AlterableConfig<'a> {
        /// The configuration key name.
        pub name: &'a str => 0..,
        /// The value to set, or null to remove the key.
        pub value: Option<&'a str> => 0..,
    }
}

wire_struct! {
    /// The new configuration of one resource.
    pub struct AlterConfigsResource<'a> {
        /// The resource type (2 topic, 4 broker, ...).
        pub resource_type: i8 => 0..,
        /// The resource name.
        pub resource_name: &'a str => 0..,
        /// The configuration: every key to keep set.
        pub configs: Array<'a, AlterableConfig<'a>> => 0..,
    }
}

wire_struct! {
    /// AlterConfigs request.
    pub struct AlterConfigsRequest<'a> {
        /// The updates for each resource.
        pub resources: Array<'a, AlterConfigsResource<'a>> => 0..,
        /// True to validate the request without changing anything.
        pub validate_only: bool => 0..,
    }
}

wire_struct! {
    /// The result for one resource of AlterConfigs or
    /// IncrementalAlterConfigs.
    pub struct AlterConfigsResourceResponse<'a> {
        /// The error, or 0 if the resource was changed.
        pub error_code: ErrorCode => 0..,
        /// The error message, or null.
        pub error_message: Option<&'a str> => 0..,
        /// The resource type.
        pub resource_type: i8 => 0..,
        /// The resource name.
        pub resource_name: &'a str => 0..,
    }
}

wire_struct! {
    /// AlterConfigs response.
    pub struct AlterConfigsResponse<'a> {
        /// Throttle time in milliseconds.
        pub throttle_time_ms: i32 => 0..,
        /// The responses for each resource.
        pub responses: Array<'a, AlterConfigsResourceResponse<'a>> => 0..,
    }
}

crate::protocol::api!(AlterConfigs, versions 0..=2, flexible Some(2),
    AlterConfigsRequest<'a> => AlterConfigsResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    #[test]
    fn request_v0_and_v2() {
        let configs = [AlterableConfig {
            name: "retention.ms",
            value: Some("1000"),
        }];
        let resources = [AlterConfigsResource {
            resource_type: 2,
            resource_name: "t",
            configs: Array::new(&configs),
        }];
        let expected = AlterConfigsRequest {
            resources: Array::new(&resources),
            validate_only: true,
        };
        #[rustfmt::skip]
        let v0 = cat(&[
            &[0, 0, 0, 1], &[2], &[0, 1], b"t",
            &[0, 0, 0, 1], &[0, 12], b"retention.ms", &[0, 4], b"1000",
            &[1],
        ]);
        assert_golden(&v0, 0, &expected);
        #[rustfmt::skip]
        let v2 = cat(&[
            &[2], &[2], &[2], b"t",
            &[2], &[13], b"retention.ms", &[5], b"1000", &[0],
            &[0],
            &[1], &[0],
        ]);
        assert_golden(&v2, 2, &expected);
    }

    #[test]
    fn response_v1() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0, 0, 0, 5],              // throttle_time_ms
            &[0, 0, 0, 1],              // responses: 1
            &[0, 40],                   //   error_code: INVALID_CONFIG
            &[0, 3], b"bad",            //   error_message
            &[2], &[0, 1], b"t",        //   resource
        ]);
        let responses = [AlterConfigsResourceResponse {
            error_code: ErrorCode::INVALID_CONFIG,
            error_message: Some("bad"),
            resource_type: 2,
            resource_name: "t",
        }];
        let expected = AlterConfigsResponse {
            throttle_time_ms: 5,
            responses: Array::new(&responses),
        };
        assert_golden(&bytes, 1, &expected);
    }
}
