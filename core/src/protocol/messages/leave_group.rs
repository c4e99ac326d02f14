//! LeaveGroup (key 13): members leave a classic group (batched from v3).

use crate::wire::Array;
use crate::ErrorCode;

wire_struct! {
    /// A member leaving the group (v3+).
    pub struct LeaveGroupMemberIdentity<'a> {
        /// The member id to remove.
        pub member_id: &'a str => 3..,
        /// The group instance id to remove, or null.
        pub group_instance_id: Option<&'a str> => 3..,
        /// Why the member left, or null (v5+).
        pub reason: Option<&'a str> => 5..,
    }
}

wire_struct! {
    /// LeaveGroup request.
    pub struct LeaveGroupRequest<'a> {
        /// The id of the group to leave.
        pub group_id: &'a str => 0..,
        /// The member id to remove (v0-2).
        pub member_id: &'a str => 0..=2,
        /// The leaving members (v3+).
        pub members: Array<'a, LeaveGroupMemberIdentity<'a>> => 3..,
    }
}

wire_struct! {
    /// The outcome for one leaving member (v3+).
    pub struct LeaveGroupMemberResponse<'a> {
        /// The member id removed.
        pub member_id: &'a str => 3..,
        /// The group instance id removed, or null.
        pub group_instance_id: Option<&'a str> => 3..,
        /// The error code, or 0 if there was no error.
        pub error_code: ErrorCode => 3..,
    }
}

wire_struct! {
    /// LeaveGroup response.
    pub struct LeaveGroupResponse<'a> {
        /// Throttle time in milliseconds (v1+).
        pub throttle_time_ms: i32 => 1..,
        /// The error code, or 0 if there was no error.
        pub error_code: ErrorCode => 0..,
        /// Per-member outcomes (v3+).
        pub members: Array<'a, LeaveGroupMemberResponse<'a>> => 3..,
    }
}

crate::protocol::api!(LeaveGroup, versions 0..=5, flexible Some(4),
    LeaveGroupRequest<'a> => LeaveGroupResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    #[test]
    fn request_v0_single_member() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x02], b"g1",       // group_id: "g1"
            &[0x00, 0x02], b"m1",       // member_id: "m1"
        ]);
        let expected = LeaveGroupRequest {
            group_id: "g1",
            member_id: "m1",
            members: Array::default(),
        };
        assert_golden(&bytes, 0, &expected);
    }

    #[test]
    fn request_v5_flexible_with_reason() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x03], b"g1",             // group_id: compact "g1"
            &[0x02],                    // members: compact array of 1
            &[0x03], b"m1",             //   member_id: "m1"
            &[0x00],                    //   group_instance_id: null
            &[0x05], b"bye!",           //   reason: "bye!"
            &[0x00],                    //   tagged fields: none
            &[0x00],                    // tagged fields: none
        ]);
        let members = [LeaveGroupMemberIdentity {
            member_id: "m1",
            group_instance_id: None,
            reason: Some("bye!"),
        }];
        let expected = LeaveGroupRequest {
            group_id: "g1",
            member_id: "",
            members: Array::new(&members),
        };
        assert_golden(&bytes, 5, &expected);
    }

    #[test]
    fn response_v3_classic_members() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00, 0x00, 0x00],  // throttle_time_ms: 0
            &[0x00, 0x00],              // error_code: 0
            &[0x00, 0x00, 0x00, 0x02],  // members: array of 2
            &[0x00, 0x02], b"m1",       //   member_id: "m1"
            &[0xff, 0xff],              //   group_instance_id: null
            &[0x00, 0x00],              //   error_code: 0
            &[0x00, 0x00],              //   member_id: ""
            &[0x00, 0x02], b"i2",       //   group_instance_id: "i2"
            &[0x00, 0x19],              //   error_code: 25 UNKNOWN_MEMBER_ID
        ]);
        let members = [
            LeaveGroupMemberResponse {
                member_id: "m1",
                group_instance_id: None,
                error_code: ErrorCode::NONE,
            },
            LeaveGroupMemberResponse {
                member_id: "",
                group_instance_id: Some("i2"),
                error_code: ErrorCode::UNKNOWN_MEMBER_ID,
            },
        ];
        let expected = LeaveGroupResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::NONE,
            members: Array::new(&members),
        };
        assert_golden(&bytes, 3, &expected);
    }

    #[test]
    fn response_v4_flexible() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00, 0x00, 0x00],  // throttle_time_ms: 0
            &[0x00, 0x00],              // error_code: 0
            &[0x02],                    // members: compact array of 1
            &[0x03], b"m1",             //   member_id: "m1"
            &[0x03], b"i1",             //   group_instance_id: "i1"
            &[0x00, 0x00],              //   error_code: 0
            &[0x00],                    //   tagged fields: none
            &[0x00],                    // tagged fields: none
        ]);
        let members = [LeaveGroupMemberResponse {
            member_id: "m1",
            group_instance_id: Some("i1"),
            error_code: ErrorCode::NONE,
        }];
        let expected = LeaveGroupResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::NONE,
            members: Array::new(&members),
        };
        assert_golden(&bytes, 4, &expected);
    }
}
