//! SyncGroup (key 14): the leader hands out assignments; every member receives its own.

use crate::wire::Array;
use crate::ErrorCode;

wire_struct! {
    /// One member's assignment, sent by the leader.
    pub struct SyncGroupRequestAssignment<'a> {
        /// The id of the member to assign.
        pub member_id: &'a str => 0..,
        /// The member assignment (for consumers, a consumer-protocol assignment).
        pub assignment: &'a [u8] => 0..,
    }
}

wire_struct! {
    /// SyncGroup request.
    pub struct SyncGroupRequest<'a> {
        /// The group id.
        pub group_id: &'a str => 0..,
        /// The generation of the group.
        pub generation_id: i32 => 0..,
        /// The member id assigned by the group.
        pub member_id: &'a str => 0..,
        /// The static membership instance id, or null (v3+).
        pub group_instance_id: Option<&'a str> => 3..,
        /// The group protocol type, or null (v5+).
        pub protocol_type: Option<&'a str> => 5..,
        /// The group protocol name, or null (v5+).
        pub protocol_name: Option<&'a str> => 5..,
        /// Each member's assignment (leader only; empty for followers).
        pub assignments: Array<'a, SyncGroupRequestAssignment<'a>> => 0..,
    }
}

wire_struct! {
    /// SyncGroup response.
    pub struct SyncGroupResponse<'a> {
        /// Throttle time in milliseconds (v1+).
        pub throttle_time_ms: i32 => 1..,
        /// The error code, or 0 if there was no error.
        pub error_code: ErrorCode => 0..,
        /// The group protocol type, or null (v5+).
        pub protocol_type: Option<&'a str> => 5..,
        /// The group protocol name, or null (v5+).
        pub protocol_name: Option<&'a str> => 5..,
        /// This member's assignment.
        pub assignment: &'a [u8] => 0..,
    }
}

crate::protocol::api!(SyncGroup, versions 0..=5, flexible Some(4),
    SyncGroupRequest<'a> => SyncGroupResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    /// A consumer-protocol assignment v0: t1 → [0, 2], no user data.
    #[rustfmt::skip]
    const ASSIGNMENT: &[u8] = &[
        0x00, 0x00,             // version 0
        0x00, 0x00, 0x00, 0x01, // assigned_partitions: array of 1
        0x00, 0x02, b't', b'1', //   topic: "t1"
        0x00, 0x00, 0x00, 0x02, //   partitions: array of 2
        0x00, 0x00, 0x00, 0x00, //     0
        0x00, 0x00, 0x00, 0x02, //     2
        0xff, 0xff, 0xff, 0xff, // user_data: null
    ];

    #[test]
    fn response_v3_classic() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00, 0x00, 0x00],  // throttle_time_ms: 0
            &[0x00, 0x00],              // error_code: 0
            &[0x00, 0x00, 0x00, 0x1a],  // assignment: 26 bytes
            ASSIGNMENT,
        ]);
        let expected = SyncGroupResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::NONE,
            protocol_type: None,
            protocol_name: None,
            assignment: ASSIGNMENT,
        };
        let decoded = assert_golden(&bytes, 3, &expected);
        assert_eq!(decoded.assignment, ASSIGNMENT);
    }

    #[test]
    fn response_v5_flexible() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00, 0x00, 0x00],  // throttle_time_ms: 0
            &[0x00, 0x00],              // error_code: 0
            &[0x09], b"consumer",       // protocol_type: "consumer"
            &[0x06], b"range",          // protocol_name: "range"
            &[0x1b],                    // assignment: compact, 26 bytes
            ASSIGNMENT,
            &[0x00],                    // tagged fields: none
        ]);
        let expected = SyncGroupResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::NONE,
            protocol_type: Some("consumer"),
            protocol_name: Some("range"),
            assignment: ASSIGNMENT,
        };
        assert_golden(&bytes, 5, &expected);
    }

    #[test]
    fn request_v0_leader_assigns() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x02], b"g1",       // group_id: "g1"
            &[0x00, 0x00, 0x00, 0x01],  // generation_id: 1
            &[0x00, 0x02], b"m1",       // member_id: "m1"
            &[0x00, 0x00, 0x00, 0x01],  // assignments: array of 1
            &[0x00, 0x02], b"m1",       //   member_id: "m1"
            &[0x00, 0x00, 0x00, 0x1a],  //   assignment: 26 bytes
            ASSIGNMENT,
        ]);
        let assignments = [SyncGroupRequestAssignment {
            member_id: "m1",
            assignment: ASSIGNMENT,
        }];
        let expected = SyncGroupRequest {
            group_id: "g1",
            generation_id: 1,
            member_id: "m1",
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments: Array::new(&assignments),
        };
        assert_golden(&bytes, 0, &expected);
    }

    #[test]
    fn request_v5_flexible_follower() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x03], b"g1",             // group_id: compact "g1"
            &[0x00, 0x00, 0x00, 0x02],  // generation_id: 2
            &[0x03], b"m2",             // member_id: "m2"
            &[0x00],                    // group_instance_id: null
            &[0x09], b"consumer",       // protocol_type: "consumer"
            &[0x06], b"range",          // protocol_name: "range"
            &[0x01],                    // assignments: compact array of 0
            &[0x00],                    // tagged fields: none
        ]);
        let expected = SyncGroupRequest {
            group_id: "g1",
            generation_id: 2,
            member_id: "m2",
            group_instance_id: None,
            protocol_type: Some("consumer"),
            protocol_name: Some("range"),
            assignments: Array::default(),
        };
        assert_golden(&bytes, 5, &expected);
    }
}
