//! ListGroups (key 16): the groups a broker coordinates.

use crate::wire::Array;
use crate::ErrorCode;

wire_struct! {
    /// ListGroups request: optional state and type filters.
    pub struct ListGroupsRequest<'a> {
        /// Only list groups in these states; empty lists all (v4+).
        pub states_filter: Array<'a, &'a str> => 4..,
        /// Only list groups of these types; empty lists all (v5+).
        pub types_filter: Array<'a, &'a str> => 5..,
    }
}

wire_struct! {
    /// One listed group.
    pub struct ListedGroup<'a> {
        /// The group id.
        pub group_id: &'a str => 0..,
        /// The group protocol type.
        pub protocol_type: &'a str => 0..,
        /// The group state name (v4+).
        pub group_state: &'a str => 4..,
        /// The group type name (v5+).
        pub group_type: &'a str => 5..,
    }
}

wire_struct! {
    /// ListGroups response.
    pub struct ListGroupsResponse<'a> {
        /// Throttle time in milliseconds (v1+).
        pub throttle_time_ms: i32 => 1..,
        /// The error code, or 0 if there was no error.
        pub error_code: ErrorCode => 0..,
        /// Each group.
        pub groups: Array<'a, ListedGroup<'a>> => 0..,
    }
}

crate::protocol::api!(ListGroups, versions 0..=5, flexible Some(3),
    ListGroupsRequest<'a> => ListGroupsResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    #[test]
    fn request_v0_and_v3_are_empty_bodies() {
        assert_golden(&[], 0, &ListGroupsRequest::default());
        // v3: flexible, so just an empty tagged-field section.
        assert_golden(&[0x00], 3, &ListGroupsRequest::default());
    }

    #[test]
    fn request_v5_filters() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x02],                    // states_filter: compact array of 1
            &[0x07], b"Stable",         //   "Stable"
            &[0x02],                    // types_filter: compact array of 1
            &[0x08], b"classic",        //   "classic"
            &[0x00],                    // tagged fields: none
        ]);
        let expected = ListGroupsRequest {
            states_filter: Array::new(&["Stable"]),
            types_filter: Array::new(&["classic"]),
        };
        assert_golden(&bytes, 5, &expected);
    }

    #[test]
    fn response_v0_classic() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00],              // error_code: 0
            &[0x00, 0x00, 0x00, 0x01],  // groups: array of 1
            &[0x00, 0x02], b"g1",       //   group_id: "g1"
            &[0x00, 0x08], b"consumer", //   protocol_type: "consumer"
        ]);
        let groups = [ListedGroup {
            group_id: "g1",
            protocol_type: "consumer",
            group_state: "",
            group_type: "",
        }];
        let expected = ListGroupsResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::NONE,
            groups: Array::new(&groups),
        };
        assert_golden(&bytes, 0, &expected);
    }

    #[test]
    fn response_v5_flexible() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00, 0x00, 0x00],  // throttle_time_ms: 0
            &[0x00, 0x00],              // error_code: 0
            &[0x02],                    // groups: compact array of 1
            &[0x03], b"g1",             //   group_id: "g1"
            &[0x09], b"consumer",       //   protocol_type: "consumer"
            &[0x07], b"Stable",         //   group_state: "Stable"
            &[0x08], b"classic",        //   group_type: "classic"
            &[0x00],                    //   tagged fields: none
            &[0x00],                    // tagged fields: none
        ]);
        let groups = [ListedGroup {
            group_id: "g1",
            protocol_type: "consumer",
            group_state: "Stable",
            group_type: "classic",
        }];
        let expected = ListGroupsResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::NONE,
            groups: Array::new(&groups),
        };
        assert_golden(&bytes, 5, &expected);
    }
}
