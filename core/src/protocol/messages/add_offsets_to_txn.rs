//! AddOffsetsToTxn (key 25): add a consumer group's offsets to a transaction
//! (sent to the transaction coordinator before TxnOffsetCommit).

use crate::ErrorCode;

wire_struct! {
    /// AddOffsetsToTxn request.
    pub struct AddOffsetsToTxnRequest<'a> {
        /// The transactional id.
        pub transactional_id: &'a str => 0..,
        /// The producer id in use by the transactional id.
        pub producer_id: i64 => 0..,
        /// The epoch of the producer id.
        pub producer_epoch: i16 => 0..,
        /// The group whose offsets the transaction will commit.
        pub group_id: &'a str => 0..,
    }
}

wire_struct! {
    /// AddOffsetsToTxn response.
    pub struct AddOffsetsToTxnResponse {
        /// Throttle time in milliseconds.
        pub throttle_time_ms: i32 => 0..,
        /// The error code, or 0 if there was no error.
        pub error_code: ErrorCode => 0..,
    }
}

crate::protocol::api!(AddOffsetsToTxn, versions 0..=4, flexible Some(3),
    AddOffsetsToTxnRequest<'a> => AddOffsetsToTxnResponse);

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
            &[0x00, 0x02], b"g1",       // group_id: "g1"
        ]);
        let expected = AddOffsetsToTxnRequest {
            transactional_id: "tx1",
            producer_id: 7,
            producer_epoch: 1,
            group_id: "g1",
        };
        assert_golden(&v0, 0, &expected);
        #[rustfmt::skip]
        let v3 = cat(&[
            &[0x04], b"tx1",            // transactional_id: compact "tx1"
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x00, 0x07],  // producer_id: 7
            &[0x00, 0x01],              // producer_epoch: 1
            &[0x03], b"g1",             // group_id: compact "g1"
            &[0x00],                    // tagged fields: none
        ]);
        assert_golden(&v3, 3, &expected);
    }

    #[test]
    fn response_v1_and_v4() {
        #[rustfmt::skip]
        let fields: &[&[u8]] = &[
            &[0x00, 0x00, 0x00, 0x05],  // throttle_time_ms: 5
            &[0x00, 0x5a],              // error_code: 90 PRODUCER_FENCED
        ];
        let expected = AddOffsetsToTxnResponse {
            throttle_time_ms: 5,
            error_code: ErrorCode::PRODUCER_FENCED,
        };
        assert_golden(&cat(fields), 1, &expected);
        let mut flexible = cat(fields);
        flexible.push(0x00);
        assert_golden(&flexible, 4, &expected);
    }
}
