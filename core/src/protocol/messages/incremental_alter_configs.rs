//! IncrementalAlterConfigs (key 44): set, delete, append to or subtract
//! from single configuration keys, leaving the others as they are.

use crate::wire::Array;

/// The result for one resource: the same fields as AlterConfigs' answer.
pub type IncrementalAlterConfigsResourceResponse<'a> = super::AlterConfigsResourceResponse<'a>;

/// `config_operation`: set the key to the value.
pub const CONFIG_OP_SET: i8 = 0;
/// `config_operation`: remove the key (back to its default).
pub const CONFIG_OP_DELETE: i8 = 1;
/// `config_operation`: add the value to a list-typed key.
pub const CONFIG_OP_APPEND: i8 = 2;
/// `config_operation`: remove the value from a list-typed key.
pub const CONFIG_OP_SUBTRACT: i8 = 3;

wire_struct! {
    /// One change to one configuration key.
    pub struct IncrementalAlterableConfig<'a> {
        /// The configuration key name.
        pub name: &'a str => 0..,
        /// The operation: [`CONFIG_OP_SET`], [`CONFIG_OP_DELETE`],
        /// [`CONFIG_OP_APPEND`] or [`CONFIG_OP_SUBTRACT`].
        pub config_operation: i8 => 0..,
        /// The value (null for a delete).
        pub value: Option<&'a str> => 0..,
    }
}

wire_struct! {
    /// The changes to one resource.
    pub struct IncrementalAlterConfigsResource<'a> {
        /// The resource type (2 topic, 4 broker, ...).
        pub resource_type: i8 => 0..,
        /// The resource name.
        pub resource_name: &'a str => 0..,
        /// The changes.
        pub configs: Array<'a, IncrementalAlterableConfig<'a>> => 0..,
    }
}

wire_struct! {
    /// IncrementalAlterConfigs request.
    pub struct IncrementalAlterConfigsRequest<'a> {
        /// The changes for each resource.
        pub resources: Array<'a, IncrementalAlterConfigsResource<'a>> => 0..,
        /// True to validate the request without changing anything.
        pub validate_only: bool => 0..,
    }
}

wire_struct! {
    /// IncrementalAlterConfigs response.
    pub struct IncrementalAlterConfigsResponse<'a> {
        /// Throttle time in milliseconds.
        pub throttle_time_ms: i32 => 0..,
        /// The responses for each resource.
        pub responses: Array<'a, IncrementalAlterConfigsResourceResponse<'a>> => 0..,
    }
}

crate::protocol::api!(IncrementalAlterConfigs, versions 0..=1, flexible Some(1),
    IncrementalAlterConfigsRequest<'a> => IncrementalAlterConfigsResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};
    use crate::ErrorCode;

    #[test]
    fn request_v1_set_and_delete() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[2],                       // resources: 1
            &[2], &[2], b"t",           //   topic "t"
            &[3],                       //   configs: 2
            &[15], b"cleanup.policy", &[0], &[8], b"compact", &[0],
            &[13], b"retention.ms", &[1], &[0], &[0],
            &[0],                       //   tagged fields
            &[0],                       // validate_only
            &[0],                       // tagged fields
        ]);
        let configs = [
            IncrementalAlterableConfig {
                name: "cleanup.policy",
                config_operation: CONFIG_OP_SET,
                value: Some("compact"),
            },
            IncrementalAlterableConfig {
                name: "retention.ms",
                config_operation: CONFIG_OP_DELETE,
                value: None,
            },
        ];
        let resources = [IncrementalAlterConfigsResource {
            resource_type: 2,
            resource_name: "t",
            configs: Array::new(&configs),
        }];
        let expected = IncrementalAlterConfigsRequest {
            resources: Array::new(&resources),
            validate_only: false,
        };
        assert_golden(&bytes, 1, &expected);
    }

    #[test]
    fn response_v0() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0, 0, 0, 0], &[0, 0, 0, 1],
            &[0, 0], &[0xff, 0xff], &[2], &[0, 1], b"t",
        ]);
        let responses = [IncrementalAlterConfigsResourceResponse {
            error_code: ErrorCode::NONE,
            error_message: None,
            resource_type: 2,
            resource_name: "t",
        }];
        let expected = IncrementalAlterConfigsResponse {
            throttle_time_ms: 0,
            responses: Array::new(&responses),
        };
        assert_golden(&bytes, 0, &expected);
    }
}
