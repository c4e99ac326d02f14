//! SaslHandshake (key 17): pick a SASL mechanism before authenticating.

use crate::wire::Array;
use crate::ErrorCode;

wire_struct! {
    /// SaslHandshake request.
    pub struct SaslHandshakeRequest<'a> {
        /// The SASL mechanism chosen by the client, e.g. `"PLAIN"`.
        pub mechanism: &'a str => 0..,
    }
}

wire_struct! {
    /// SaslHandshake response.
    pub struct SaslHandshakeResponse<'a> {
        /// The error code, or 0 if there was no error.
        pub error_code: ErrorCode => 0..,
        /// The mechanisms enabled in the server.
        pub mechanisms: Array<'a, &'a str> => 0..,
    }
}

crate::protocol::api!(SaslHandshake, versions 0..=1, flexible None,
    SaslHandshakeRequest<'a> => SaslHandshakeResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    #[test]
    fn request_v1() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x05], b"PLAIN",    // mechanism: "PLAIN"
        ]);
        let expected = SaslHandshakeRequest { mechanism: "PLAIN" };
        assert_golden(&bytes, 1, &expected);
    }

    #[test]
    fn response_v1_unsupported_mechanism() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x21],              // error_code: 33 UNSUPPORTED_SASL_MECHANISM
            &[0x00, 0x00, 0x00, 0x02],  // mechanisms: array of 2
            &[0x00, 0x0d], b"SCRAM-SHA-256", // "SCRAM-SHA-256"
            &[0x00, 0x0d], b"SCRAM-SHA-512", // "SCRAM-SHA-512"
        ]);
        let expected = SaslHandshakeResponse {
            error_code: ErrorCode::UNSUPPORTED_SASL_MECHANISM,
            mechanisms: Array::new(&["SCRAM-SHA-256", "SCRAM-SHA-512"]),
        };
        assert_golden(&bytes, 1, &expected);
    }
}
