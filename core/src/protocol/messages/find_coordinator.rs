//! FindCoordinator (key 10): which broker coordinates a group or transactional id.

use crate::wire::Array;
use crate::ErrorCode;

wire_struct! {
    /// FindCoordinator request: the key(s) whose coordinator to look up.
    pub struct FindCoordinatorRequest<'a> {
        /// The coordinator key (v0-3).
        pub key: &'a str => 0..=3,
        /// The key type: 0 group, 1 transaction, 2 share (v1+).
        pub key_type: i8 => 1..,
        /// The coordinator keys, looked up in one batch (v4+).
        pub coordinator_keys: Array<'a, &'a str> => 4..,
    }
}

wire_struct! {
    /// One key's coordinator (v4+).
    pub struct FindCoordinatorCoordinator<'a> {
        /// The coordinator key.
        pub key: &'a str => 4..,
        /// The node id.
        pub node_id: i32 => 4..,
        /// The host name.
        pub host: &'a str => 4..,
        /// The port.
        pub port: i32 => 4..,
        /// The error code, or 0 if there was no error.
        pub error_code: ErrorCode => 4..,
        /// The error message, or null if there was no error.
        pub error_message: Option<&'a str> => 4..,
    }
}

wire_struct! {
    /// FindCoordinator response: one coordinator (v0-3) or one per key (v4+).
    pub struct FindCoordinatorResponse<'a> {
        /// Throttle time in milliseconds (v1+).
        pub throttle_time_ms: i32 => 1..,
        /// The error code, or 0 if there was no error (v0-3).
        pub error_code: ErrorCode => 0..=3,
        /// The error message, or null if there was no error (v1-3).
        pub error_message: Option<&'a str> => 1..=3,
        /// The node id (v0-3).
        pub node_id: i32 => 0..=3,
        /// The host name (v0-3).
        pub host: &'a str => 0..=3,
        /// The port (v0-3).
        pub port: i32 => 0..=3,
        /// Each key's coordinator (v4+).
        pub coordinators: Array<'a, FindCoordinatorCoordinator<'a>> => 4..,
    }
}

impl<'a> FindCoordinatorResponse<'a> {
    /// The coordinator this response names for `key`, at the response's
    /// wire `version`: v0-3 carry one answer at the top level, v4+ one entry
    /// per key looked up (KIP-699), taken for `key` or else the first.
    /// `None` when a v4+ response has no entry at all.
    pub fn answer_for<'k>(
        &self,
        version: i16,
        key: &'k str,
    ) -> Option<FindCoordinatorCoordinator<'k>>
    where
        'a: 'k,
    {
        if version < 4 {
            return Some(FindCoordinatorCoordinator {
                key,
                node_id: self.node_id,
                host: self.host,
                port: self.port,
                error_code: self.error_code,
                error_message: self.error_message,
            });
        }
        self.coordinators
            .iter()
            .find(|c| c.key == key)
            .or_else(|| self.coordinators.iter().next())
    }
}

crate::protocol::api!(FindCoordinator, versions 0..=6, flexible Some(3),
    FindCoordinatorRequest<'a> => FindCoordinatorResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    #[test]
    fn request_v1_classic() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x02], b"g1", // key: string "g1"
            &[0x00],              // key_type: 0 (group)
        ]);
        let expected = FindCoordinatorRequest {
            key: "g1",
            key_type: 0,
            coordinator_keys: Array::default(),
        };
        assert_golden(&bytes, 1, &expected);
    }

    #[test]
    fn request_v3_flexible() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x04], b"txn",      // key: compact string "txn"
            &[0x01],              // key_type: 1 (transaction)
            &[0x00],              // tagged fields: none
        ]);
        let expected = FindCoordinatorRequest {
            key: "txn",
            key_type: 1,
            coordinator_keys: Array::default(),
        };
        assert_golden(&bytes, 3, &expected);
    }

    #[test]
    fn request_v4_batched_keys() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00],              // key_type: 0 (key itself is gone in v4)
            &[0x03],              // coordinator_keys: compact array of 2
            &[0x03], b"g1",       //   "g1"
            &[0x03], b"g2",       //   "g2"
            &[0x00],              // tagged fields: none
        ]);
        let expected = FindCoordinatorRequest {
            key: "",
            key_type: 0,
            coordinator_keys: Array::new(&["g1", "g2"]),
        };
        assert_golden(&bytes, 4, &expected);
    }

    #[test]
    fn response_v1_classic() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00, 0x00, 0x00], // throttle_time_ms: 0
            &[0x00, 0x0f],             // error_code: 15 COORDINATOR_NOT_AVAILABLE
            &[0xff, 0xff],             // error_message: null
            &[0xff, 0xff, 0xff, 0xff], // node_id: -1
            &[0x00, 0x00],             // host: ""
            &[0xff, 0xff, 0xff, 0xff], // port: -1
        ]);
        let expected = FindCoordinatorResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::COORDINATOR_NOT_AVAILABLE,
            error_message: None,
            node_id: -1,
            host: "",
            port: -1,
            coordinators: Array::default(),
        };
        assert_golden(&bytes, 1, &expected);
    }

    #[test]
    fn response_v4_per_key() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00, 0x00, 0x00], // throttle_time_ms: 0
            &[0x02],                   // coordinators: compact array of 1
            &[0x03], b"g1",            //   key: "g1"
            &[0x00, 0x00, 0x00, 0x01], //   node_id: 1
            &[0x03], b"b1",            //   host: "b1"
            &[0x00, 0x00, 0x23, 0x84], //   port: 9092
            &[0x00, 0x00],             //   error_code: 0
            &[0x00],                   //   error_message: null
            &[0x00],                   //   tagged fields: none
            &[0x00],                   // tagged fields: none
        ]);
        let coordinators = [FindCoordinatorCoordinator {
            key: "g1",
            node_id: 1,
            host: "b1",
            port: 9092,
            error_code: ErrorCode::NONE,
            error_message: None,
        }];
        let expected = FindCoordinatorResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::NONE,
            error_message: None,
            node_id: 0,
            host: "",
            port: 0,
            coordinators: Array::new(&coordinators),
        };
        assert_golden(&bytes, 4, &expected);
    }

    #[test]
    fn answer_for_reads_the_top_level_before_v4_and_the_keys_entry_after() {
        let old = FindCoordinatorResponse {
            node_id: 3,
            host: "b3",
            port: 9093,
            ..Default::default()
        };
        let c = old.answer_for(3, "g1").unwrap();
        assert_eq!((c.key, c.node_id, c.host, c.port), ("g1", 3, "b3", 9093));

        let entries = [
            FindCoordinatorCoordinator {
                key: "other",
                node_id: 1,
                ..Default::default()
            },
            FindCoordinatorCoordinator {
                key: "g1",
                node_id: 2,
                error_code: ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
                ..Default::default()
            },
        ];
        let new = FindCoordinatorResponse {
            coordinators: Array::new(&entries),
            ..Default::default()
        };
        let c = new.answer_for(4, "g1").unwrap();
        assert_eq!(
            (c.node_id, c.error_code),
            (2, ErrorCode::COORDINATOR_LOAD_IN_PROGRESS)
        );
        assert_eq!(new.answer_for(4, "unasked").unwrap().node_id, 1);
        assert_eq!(FindCoordinatorResponse::default().answer_for(4, "g1"), None);
    }
}
