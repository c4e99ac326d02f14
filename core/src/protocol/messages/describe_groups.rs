//! DescribeGroups (key 15): state, protocol and members of classic groups.

use crate::wire::Array;
use crate::ErrorCode;

wire_struct! {
    /// DescribeGroups request.
    pub struct DescribeGroupsRequest<'a> {
        /// The names of the groups to describe.
        pub groups: Array<'a, &'a str> => 0..,
        /// Whether to include authorized operations (v3+).
        pub include_authorized_operations: bool => 3..,
    }
}

wire_struct! {
    /// A member of a described group.
    pub struct DescribedGroupMember<'a> {
        /// The member id assigned by the coordinator.
        pub member_id: &'a str => 0..,
        /// The static membership instance id, or null (v4+).
        pub group_instance_id: Option<&'a str> => 4..,
        /// The client id from the member's latest JoinGroup.
        pub client_id: &'a str => 0..,
        /// The client host.
        pub client_host: &'a str => 0..,
        /// The member's metadata for the protocol in use.
        pub member_metadata: &'a [u8] => 0..,
        /// The member's current assignment from the leader.
        pub member_assignment: &'a [u8] => 0..,
    }
}

wire_struct! {
    /// One described group.
    pub struct DescribedGroup<'a> {
        /// The describe error, or 0 if there was no error.
        pub error_code: ErrorCode => 0..,
        /// The group id.
        pub group_id: &'a str => 0..,
        /// The group state, or "".
        pub group_state: &'a str => 0..,
        /// The group protocol type, or "".
        pub protocol_type: &'a str => 0..,
        /// The group protocol data (the chosen protocol's name), or "".
        pub protocol_data: &'a str => 0..,
        /// The group members.
        pub members: Array<'a, DescribedGroupMember<'a>> => 0..,
        /// Bitfield of authorized operations on the group (v3+).
        pub authorized_operations: i32 = i32::MIN => 3..,
    }
}

wire_struct! {
    /// DescribeGroups response.
    pub struct DescribeGroupsResponse<'a> {
        /// Throttle time in milliseconds (v1+).
        pub throttle_time_ms: i32 => 1..,
        /// Each described group.
        pub groups: Array<'a, DescribedGroup<'a>> => 0..,
    }
}

crate::protocol::api!(DescribeGroups, versions 0..=5, flexible Some(5),
    DescribeGroupsRequest<'a> => DescribeGroupsResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    #[test]
    fn request_v0_classic() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00, 0x00, 0x02],  // groups: array of 2
            &[0x00, 0x02], b"g1",       //   "g1"
            &[0x00, 0x02], b"g2",       //   "g2"
        ]);
        let expected = DescribeGroupsRequest {
            groups: Array::new(&["g1", "g2"]),
            include_authorized_operations: false,
        };
        assert_golden(&bytes, 0, &expected);
    }

    #[test]
    fn request_v5_flexible() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x02],                    // groups: compact array of 1
            &[0x03], b"g1",             //   "g1"
            &[0x01],                    // include_authorized_operations: true
            &[0x00],                    // tagged fields: none
        ]);
        let expected = DescribeGroupsRequest {
            groups: Array::new(&["g1"]),
            include_authorized_operations: true,
        };
        assert_golden(&bytes, 5, &expected);
    }

    #[test]
    fn response_v0_classic() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00, 0x00, 0x01],  // groups: array of 1
            &[0x00, 0x00],              //   error_code: 0
            &[0x00, 0x02], b"g1",       //   group_id: "g1"
            &[0x00, 0x06], b"Stable",   //   group_state: "Stable"
            &[0x00, 0x08], b"consumer", //   protocol_type: "consumer"
            &[0x00, 0x05], b"range",    //   protocol_data: "range"
            &[0x00, 0x00, 0x00, 0x01],  //   members: array of 1
            &[0x00, 0x02], b"m1",       //     member_id: "m1"
            &[0x00, 0x02], b"c1",       //     client_id: "c1"
            &[0x00, 0x0a], b"/127.0.0.1", //   client_host: "/127.0.0.1"
            &[0x00, 0x00, 0x00, 0x01],  //     member_metadata: 1 byte
            &[0x07],
            &[0x00, 0x00, 0x00, 0x00],  //     member_assignment: empty
        ]);
        let members = [DescribedGroupMember {
            member_id: "m1",
            group_instance_id: None,
            client_id: "c1",
            client_host: "/127.0.0.1",
            member_metadata: &[0x07],
            member_assignment: &[],
        }];
        let groups = [DescribedGroup {
            error_code: ErrorCode::NONE,
            group_id: "g1",
            group_state: "Stable",
            protocol_type: "consumer",
            protocol_data: "range",
            members: Array::new(&members),
            authorized_operations: i32::MIN, // absent before v3: schema default
        }];
        let expected = DescribeGroupsResponse {
            throttle_time_ms: 0,
            groups: Array::new(&groups),
        };
        assert_golden(&bytes, 0, &expected);
    }

    #[test]
    fn response_v5_flexible() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00, 0x00, 0x00],  // throttle_time_ms: 0
            &[0x02],                    // groups: compact array of 1
            &[0x00, 0x45],              //   error_code: 69 GROUP_ID_NOT_FOUND
            &[0x03], b"g9",             //   group_id: "g9"
            &[0x05], b"Dead",           //   group_state: "Dead"
            &[0x01],                    //   protocol_type: ""
            &[0x01],                    //   protocol_data: ""
            &[0x02],                    //   members: compact array of 1
            &[0x03], b"m1",             //     member_id: "m1"
            &[0x03], b"i1",             //     group_instance_id: "i1"
            &[0x03], b"c1",             //     client_id: "c1"
            &[0x03], b"h1",             //     client_host: "h1"
            &[0x01],                    //     member_metadata: empty
            &[0x02], &[0x09],           //     member_assignment: [09]
            &[0x00],                    //     tagged fields: none
            &[0x00, 0x00, 0x0f, 0xf8],  //   authorized_operations: 0x0ff8
            &[0x00],                    //   tagged fields: none
            &[0x00],                    // tagged fields: none
        ]);
        let members = [DescribedGroupMember {
            member_id: "m1",
            group_instance_id: Some("i1"),
            client_id: "c1",
            client_host: "h1",
            member_metadata: &[],
            member_assignment: &[0x09],
        }];
        let groups = [DescribedGroup {
            error_code: ErrorCode::GROUP_ID_NOT_FOUND,
            group_id: "g9",
            group_state: "Dead",
            protocol_type: "",
            protocol_data: "",
            members: Array::new(&members),
            authorized_operations: 0x0ff8,
        }];
        let expected = DescribeGroupsResponse {
            throttle_time_ms: 0,
            groups: Array::new(&groups),
        };
        assert_golden(&bytes, 5, &expected);
    }
}
