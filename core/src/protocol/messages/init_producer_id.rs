//! InitProducerId (key 22): obtain a producer id and epoch (idempotence, transactions).

use crate::ErrorCode;

wire_struct! {
    /// InitProducerId request.
    pub struct InitProducerIdRequest<'a> {
        /// The transactional id, or null for a non-transactional producer.
        pub transactional_id: Option<&'a str> => 0..,
        /// How long before an idle transaction is aborted, in ms (transactional only).
        pub transaction_timeout_ms: i32 => 0..,
        /// The current producer id, to re-initialise after expiry, or -1 (v3+).
        pub producer_id: i64 = -1 => 3..,
        /// The current producer epoch, checked by the broker, or -1 (v3+).
        pub producer_epoch: i16 = -1 => 3..,
    }
}

wire_struct! {
    /// InitProducerId response.
    pub struct InitProducerIdResponse {
        /// Throttle time in milliseconds.
        pub throttle_time_ms: i32 => 0..,
        /// The error code, or 0 if there was no error.
        pub error_code: ErrorCode => 0..,
        /// The producer id.
        pub producer_id: i64 = -1 => 0..,
        /// The epoch of the producer id.
        pub producer_epoch: i16 => 0..,
    }
}

crate::protocol::api!(InitProducerId, versions 0..=5, flexible Some(2),
    InitProducerIdRequest<'a> => InitProducerIdResponse);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    #[test]
    fn request_v0_idempotent() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0xff, 0xff],              // transactional_id: null
            &[0x7f, 0xff, 0xff, 0xff],  // transaction_timeout_ms: i32::MAX
        ]);
        let expected = InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: i32::MAX,
            producer_id: -1,
            producer_epoch: -1,
        };
        assert_golden(&bytes, 0, &expected);
    }

    #[test]
    fn request_v4_flexible_transactional() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x04], b"tx1",            // transactional_id: compact "tx1"
            &[0x00, 0x00, 0xea, 0x60],  // transaction_timeout_ms: 60000
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x03, 0xe8],  // producer_id: 1000
            &[0x00, 0x07],              // producer_epoch: 7
            &[0x00],                    // tagged fields: none
        ]);
        let expected = InitProducerIdRequest {
            transactional_id: Some("tx1"),
            transaction_timeout_ms: 60_000,
            producer_id: 1000,
            producer_epoch: 7,
        };
        assert_golden(&bytes, 4, &expected);
    }

    #[test]
    fn response_v0_and_v4() {
        #[rustfmt::skip]
        let fields: &[&[u8]] = &[
            &[0x00, 0x00, 0x00, 0x00],  // throttle_time_ms: 0
            &[0x00, 0x00],              // error_code: 0
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x10, 0x00],  // producer_id: 4096
            &[0x00, 0x00],              // producer_epoch: 0
        ];
        let expected = InitProducerIdResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::NONE,
            producer_id: 4096,
            producer_epoch: 0,
        };
        assert_golden(&cat(fields), 0, &expected);
        // v4: the same fields plus an empty tagged-field section.
        let mut flexible = cat(fields);
        flexible.push(0x00);
        assert_golden(&flexible, 4, &expected);
    }
}
