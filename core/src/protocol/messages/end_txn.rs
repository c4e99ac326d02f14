//! EndTxn (key 26): commit or abort a producer's transaction.

use crate::ErrorCode;

wire_struct! {
    /// EndTxn request.
    pub struct EndTxnRequest<'a> {
        /// The transactional id.
        pub transactional_id: &'a str => 0..,
        /// The producer id.
        pub producer_id: i64 => 0..,
        /// The current epoch of the producer.
        pub producer_epoch: i16 => 0..,
        /// True to commit the transaction, false to abort it.
        pub committed: bool => 0..,
    }
}

wire_struct! {
    /// EndTxn response.
    pub struct EndTxnResponse {
        /// Throttle time in milliseconds.
        pub throttle_time_ms: i32 => 0..,
        /// The error code, or 0 if there was no error.
        pub error_code: ErrorCode => 0..,
        /// The producer id for the next transaction, or -1 (v5+: the epoch
        /// is bumped at every transaction's end, KIP-890 part 2).
        pub producer_id: i64 = -1 => 5..,
        /// The producer epoch for the next transaction, or -1 (v5+).
        pub producer_epoch: i16 = -1 => 5..,
    }
}

crate::protocol::api!(EndTxn, versions 0..=5, flexible Some(3),
    EndTxnRequest<'a> => EndTxnResponse);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    #[test]
    fn request_v0_and_v3() {
        #[rustfmt::skip]
        let v0 = cat(&[
            &[0x00, 0x03], b"tx1",      // transactional_id: "tx1"
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x00, 0x07],  // producer_id: 7
            &[0x00, 0x01],              // producer_epoch: 1
            &[0x01],                    // committed: true
        ]);
        let expected = EndTxnRequest {
            transactional_id: "tx1",
            producer_id: 7,
            producer_epoch: 1,
            committed: true,
        };
        assert_golden(&v0, 0, &expected);
        #[rustfmt::skip]
        let v3 = cat(&[
            &[0x04], b"tx1",            // transactional_id: compact "tx1"
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x00, 0x07],  // producer_id: 7
            &[0x00, 0x01],              // producer_epoch: 1
            &[0x00],                    // committed: false
            &[0x00],                    // tagged fields: none
        ]);
        let abort = EndTxnRequest {
            committed: false,
            ..expected
        };
        assert_golden(&v3, 3, &abort);
    }

    #[test]
    fn response_v2_and_v5() {
        #[rustfmt::skip]
        let v2 = cat(&[
            &[0x00, 0x00, 0x00, 0x00],  // throttle_time_ms: 0
            &[0x00, 0x30],              // error_code: 48 INVALID_TXN_STATE
        ]);
        let expected = EndTxnResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::INVALID_TXN_STATE,
            producer_id: -1,
            producer_epoch: -1,
        };
        assert_golden(&v2, 2, &expected);
        #[rustfmt::skip]
        let v5 = cat(&[
            &[0x00, 0x00, 0x00, 0x00],  // throttle_time_ms: 0
            &[0x00, 0x00],              // error_code: 0
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x00, 0x07],  // producer_id: 7
            &[0x00, 0x02],              // producer_epoch: 2 (bumped)
            &[0x00],                    // tagged fields: none
        ]);
        let expected = EndTxnResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::NONE,
            producer_id: 7,
            producer_epoch: 2,
        };
        assert_golden(&v5, 5, &expected);
    }
}
