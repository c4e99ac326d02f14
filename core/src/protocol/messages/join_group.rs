//! JoinGroup (key 11): join a classic consumer group, or rejoin it on rebalance.

use crate::wire::Array;
use crate::ErrorCode;

wire_struct! {
    /// One group protocol (assignor) the member supports, with its metadata.
    pub struct JoinGroupRequestProtocol<'a> {
        /// The protocol name, e.g. `"range"`.
        pub name: &'a str => 0..,
        /// The protocol metadata (for consumers, a consumer-protocol subscription).
        pub metadata: &'a [u8] => 0..,
    }
}

wire_struct! {
    /// JoinGroup request.
    pub struct JoinGroupRequest<'a> {
        /// The group identifier.
        pub group_id: &'a str => 0..,
        /// The member is dead if no heartbeat arrives within this many milliseconds.
        pub session_timeout_ms: i32 => 0..,
        /// How long the coordinator waits for members to rejoin on rebalance, in ms (v1+).
        pub rebalance_timeout_ms: i32 = -1 => 1..,
        /// The member id assigned by the coordinator ("" on first join).
        pub member_id: &'a str => 0..,
        /// The static membership instance id, or null (v5+).
        pub group_instance_id: Option<&'a str> => 5..,
        /// The protocol class implemented by the group, e.g. `"consumer"`.
        pub protocol_type: &'a str => 0..,
        /// The protocols the member supports.
        pub protocols: Array<'a, JoinGroupRequestProtocol<'a>> => 0..,
        /// Why the member (re-)joins, or null (v8+).
        pub reason: Option<&'a str> => 8..,
    }
}

wire_struct! {
    /// A group member, as sent to the leader.
    pub struct JoinGroupResponseMember<'a> {
        /// The member id.
        pub member_id: &'a str => 0..,
        /// The member's static instance id, or null (v5+).
        pub group_instance_id: Option<&'a str> => 5..,
        /// The member's metadata for the chosen protocol.
        pub metadata: &'a [u8] => 0..,
    }
}

wire_struct! {
    /// JoinGroup response.
    pub struct JoinGroupResponse<'a> {
        /// Throttle time in milliseconds (v2+).
        pub throttle_time_ms: i32 => 2..,
        /// The error code, or 0 if there was no error.
        pub error_code: ErrorCode => 0..,
        /// The generation id of the group.
        pub generation_id: i32 = -1 => 0..,
        /// The group protocol type, or null (v7+).
        pub protocol_type: Option<&'a str> => 7..,
        /// The protocol chosen by the coordinator (nullable from v7).
        pub protocol_name: Option<&'a str> => 0..; null 7..,
        /// The member id of the group leader.
        pub leader: &'a str => 0..,
        /// True if the leader must skip running the assignment (v9+).
        pub skip_assignment: bool => 9..,
        /// The member id assigned by the coordinator.
        pub member_id: &'a str => 0..,
        /// The group members (only sent to the leader).
        pub members: Array<'a, JoinGroupResponseMember<'a>> => 0..,
    }
}

crate::protocol::api!(JoinGroup, versions 0..=9, flexible Some(6),
    JoinGroupRequest<'a> => JoinGroupResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    /// A consumer-protocol subscription v0 to `["t1"]`, no user data.
    #[rustfmt::skip]
    const SUBSCRIPTION: &[u8] = &[
        0x00, 0x00, // version 0
        0x00, 0x00, 0x00, 0x01, // topics: array of 1
        0x00, 0x02, b't', b'1', //   "t1"
        0xff, 0xff, 0xff, 0xff, // user_data: null
    ];

    #[test]
    fn request_v5_classic() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x02], b"g1",       // group_id: "g1"
            &[0x00, 0x00, 0x75, 0x30],  // session_timeout_ms: 30000
            &[0x00, 0x04, 0x93, 0xe0],  // rebalance_timeout_ms: 300000
            &[0x00, 0x00],              // member_id: ""
            &[0xff, 0xff],              // group_instance_id: null
            &[0x00, 0x08], b"consumer", // protocol_type: "consumer"
            &[0x00, 0x00, 0x00, 0x01],  // protocols: array of 1
            &[0x00, 0x05], b"range",    //   name: "range"
            &[0x00, 0x00, 0x00, 0x0e],  //   metadata: 14 bytes
            SUBSCRIPTION,
        ]);
        let protocols = [JoinGroupRequestProtocol {
            name: "range",
            metadata: SUBSCRIPTION,
        }];
        let expected = JoinGroupRequest {
            group_id: "g1",
            session_timeout_ms: 30_000,
            rebalance_timeout_ms: 300_000,
            member_id: "",
            group_instance_id: None,
            protocol_type: "consumer",
            protocols: Array::new(&protocols),
            reason: None,
        };
        let decoded = assert_golden(&bytes, 5, &expected);
        let protocol = decoded.protocols.iter().next().unwrap();
        assert_eq!(protocol.name, "range");
        assert_eq!(protocol.metadata, SUBSCRIPTION);
    }

    #[test]
    fn request_v8_flexible_with_reason() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x03], b"g1",             // group_id: compact "g1"
            &[0x00, 0x00, 0x27, 0x10],  // session_timeout_ms: 10000
            &[0xff, 0xff, 0xff, 0xff],  // rebalance_timeout_ms: -1
            &[0x03], b"m1",             // member_id: "m1"
            &[0x03], b"i1",             // group_instance_id: "i1"
            &[0x09], b"consumer",       // protocol_type: "consumer"
            &[0x02],                    // protocols: compact array of 1
            &[0x06], b"range",          //   name: "range"
            &[0x03], &[0xaa, 0xbb],     //   metadata: compact bytes [aa bb]
            &[0x00],                    //   tagged fields: none
            &[0x05], b"poll",           // reason: "poll"
            &[0x00],                    // tagged fields: none
        ]);
        let protocols = [JoinGroupRequestProtocol {
            name: "range",
            metadata: &[0xaa, 0xbb],
        }];
        let expected = JoinGroupRequest {
            group_id: "g1",
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: -1,
            member_id: "m1",
            group_instance_id: Some("i1"),
            protocol_type: "consumer",
            protocols: Array::new(&protocols),
            reason: Some("poll"),
        };
        assert_golden(&bytes, 8, &expected);
    }

    #[test]
    fn request_v0_has_no_rebalance_timeout() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x02], b"g1",       // group_id: "g1"
            &[0x00, 0x00, 0x75, 0x30],  // session_timeout_ms: 30000
            &[0x00, 0x00],              // member_id: ""
            &[0x00, 0x08], b"consumer", // protocol_type: "consumer"
            &[0x00, 0x00, 0x00, 0x00],  // protocols: empty
        ]);
        let expected = JoinGroupRequest {
            group_id: "g1",
            session_timeout_ms: 30_000,
            rebalance_timeout_ms: -1, // absent: schema default
            member_id: "",
            group_instance_id: None,
            protocol_type: "consumer",
            protocols: Array::default(),
            reason: None,
        };
        assert_golden(&bytes, 0, &expected);
    }

    #[test]
    fn response_v5_leader_sees_members() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00, 0x00, 0x00],  // throttle_time_ms: 0
            &[0x00, 0x00],              // error_code: 0
            &[0x00, 0x00, 0x00, 0x03],  // generation_id: 3
            &[0x00, 0x05], b"range",    // protocol_name: "range"
            &[0x00, 0x02], b"m1",       // leader: "m1"
            &[0x00, 0x02], b"m1",       // member_id: "m1"
            &[0x00, 0x00, 0x00, 0x01],  // members: array of 1
            &[0x00, 0x02], b"m1",       //   member_id: "m1"
            &[0xff, 0xff],              //   group_instance_id: null
            &[0x00, 0x00, 0x00, 0x02],  //   metadata: 2 bytes
            &[0x01, 0x02],
        ]);
        let members = [JoinGroupResponseMember {
            member_id: "m1",
            group_instance_id: None,
            metadata: &[0x01, 0x02],
        }];
        let expected = JoinGroupResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::NONE,
            generation_id: 3,
            protocol_type: None,
            protocol_name: Some("range"),
            leader: "m1",
            skip_assignment: false,
            member_id: "m1",
            members: Array::new(&members),
        };
        assert_golden(&bytes, 5, &expected);
    }

    #[test]
    fn response_v9_flexible() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00, 0x00, 0x00],  // throttle_time_ms: 0
            &[0x00, 0x00],              // error_code: 0
            &[0x00, 0x00, 0x00, 0x01],  // generation_id: 1
            &[0x09], b"consumer",       // protocol_type: "consumer"
            &[0x06], b"range",          // protocol_name: "range"
            &[0x03], b"m1",             // leader: "m1"
            &[0x01],                    // skip_assignment: true
            &[0x03], b"m2",             // member_id: "m2"
            &[0x01],                    // members: compact array of 0
            &[0x00],                    // tagged fields: none
        ]);
        let expected = JoinGroupResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::NONE,
            generation_id: 1,
            protocol_type: Some("consumer"),
            protocol_name: Some("range"),
            leader: "m1",
            skip_assignment: true,
            member_id: "m2",
            members: Array::default(),
        };
        assert_golden(&bytes, 9, &expected);
    }

    #[test]
    fn response_v7_null_protocol_name() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00, 0x00, 0x00],  // throttle_time_ms: 0
            &[0x00, 0x4f],              // error_code: 79 MEMBER_ID_REQUIRED
            &[0xff, 0xff, 0xff, 0xff],  // generation_id: -1
            &[0x00],                    // protocol_type: null
            &[0x00],                    // protocol_name: null
            &[0x01],                    // leader: ""
            &[0x0c], b"m-1234-5678",    // member_id: "m-1234-5678"
            &[0x01],                    // members: compact array of 0
            &[0x00],                    // tagged fields: none
        ]);
        let expected = JoinGroupResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::MEMBER_ID_REQUIRED,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: "",
            skip_assignment: false,
            member_id: "m-1234-5678",
            members: Array::default(),
        };
        assert_golden(&bytes, 7, &expected);
    }
}
