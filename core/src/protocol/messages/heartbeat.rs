//! Heartbeat (key 12): a classic group member tells the coordinator it is alive.

use crate::ErrorCode;

wire_struct! {
    /// Heartbeat request.
    pub struct HeartbeatRequest<'a> {
        /// The group id.
        pub group_id: &'a str => 0..,
        /// The generation of the group.
        pub generation_id: i32 => 0..,
        /// The member id.
        pub member_id: &'a str => 0..,
        /// The static membership instance id, or null (v3+).
        pub group_instance_id: Option<&'a str> => 3..,
    }
}

wire_struct! {
    /// Heartbeat response.
    pub struct HeartbeatResponse {
        /// Throttle time in milliseconds (v1+).
        pub throttle_time_ms: i32 => 1..,
        /// The error code, or 0 if there was no error.
        pub error_code: ErrorCode => 0..,
    }
}

crate::protocol::api!(Heartbeat, versions 0..=4, flexible Some(4),
    HeartbeatRequest<'a> => HeartbeatResponse);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    #[test]
    fn request_v0_classic() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x02], b"g1",       // group_id: "g1"
            &[0x00, 0x00, 0x00, 0x05],  // generation_id: 5
            &[0x00, 0x02], b"m1",       // member_id: "m1"
        ]);
        let expected = HeartbeatRequest {
            group_id: "g1",
            generation_id: 5,
            member_id: "m1",
            group_instance_id: None,
        };
        assert_golden(&bytes, 0, &expected);
    }

    #[test]
    fn request_v4_flexible() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x03], b"g1",             // group_id: compact "g1"
            &[0x00, 0x00, 0x00, 0x05],  // generation_id: 5
            &[0x03], b"m1",             // member_id: "m1"
            &[0x03], b"i1",             // group_instance_id: "i1"
            &[0x00],                    // tagged fields: none
        ]);
        let expected = HeartbeatRequest {
            group_id: "g1",
            generation_id: 5,
            member_id: "m1",
            group_instance_id: Some("i1"),
        };
        assert_golden(&bytes, 4, &expected);
    }

    #[test]
    fn response_v0_and_v4() {
        // v0: error_code only: 27 REBALANCE_IN_PROGRESS.
        let expected = HeartbeatResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::REBALANCE_IN_PROGRESS,
        };
        assert_golden(&[0x00, 0x1b], 0, &expected);
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00, 0x00, 0x64],  // throttle_time_ms: 100
            &[0x00, 0x00],              // error_code: 0
            &[0x00],                    // tagged fields: none
        ]);
        let expected = HeartbeatResponse {
            throttle_time_ms: 100,
            error_code: ErrorCode::NONE,
        };
        assert_golden(&bytes, 4, &expected);
    }
}
