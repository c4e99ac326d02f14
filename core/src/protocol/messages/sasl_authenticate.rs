//! SaslAuthenticate (key 36): SASL authentication tokens, framed as Kafka messages.

use crate::ErrorCode;

wire_struct! {
    /// SaslAuthenticate request.
    pub struct SaslAuthenticateRequest<'a> {
        /// The client's SASL bytes, as defined by the mechanism.
        pub auth_bytes: &'a [u8] => 0..,
    }
}

wire_struct! {
    /// SaslAuthenticate response.
    pub struct SaslAuthenticateResponse<'a> {
        /// The error code, or 0 if there was no error.
        pub error_code: ErrorCode => 0..,
        /// The error message, or null if there was no error.
        pub error_message: Option<&'a str> => 0..,
        /// The server's SASL bytes, as defined by the mechanism.
        pub auth_bytes: &'a [u8] => 0..,
        /// Milliseconds until the session must re-authenticate, 0 for never (v1+).
        pub session_lifetime_ms: i64 => 1..,
    }
}

crate::protocol::api!(SaslAuthenticate, versions 0..=2, flexible Some(2),
    SaslAuthenticateRequest<'a> => SaslAuthenticateResponse<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::tests::{assert_golden, cat};

    /// SASL/PLAIN initial response: authzid "" NUL user NUL password.
    const PLAIN: &[u8] = b"\0alice\0secret";

    #[test]
    fn request_v1_classic_plain() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00, 0x00, 0x0d],  // auth_bytes: 13 bytes
            PLAIN,
        ]);
        let expected = SaslAuthenticateRequest { auth_bytes: PLAIN };
        assert_golden(&bytes, 1, &expected);
    }

    #[test]
    fn request_v2_flexible_plain() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x0e],                    // auth_bytes: compact, 13 bytes
            PLAIN,
            &[0x00],                    // tagged fields: none
        ]);
        let expected = SaslAuthenticateRequest { auth_bytes: PLAIN };
        assert_golden(&bytes, 2, &expected);
    }

    #[test]
    fn response_v1_failure() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x3a],              // error_code: 58 SASL_AUTHENTICATION_FAILED
            &[0x00, 0x03], b"bad",      // error_message: "bad"
            &[0x00, 0x00, 0x00, 0x00],  // auth_bytes: empty
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x00, 0x00],  // session_lifetime_ms: 0
        ]);
        let expected = SaslAuthenticateResponse {
            error_code: ErrorCode::SASL_AUTHENTICATION_FAILED,
            error_message: Some("bad"),
            auth_bytes: &[],
            session_lifetime_ms: 0,
        };
        assert_golden(&bytes, 1, &expected);
    }

    #[test]
    fn response_v2_flexible_success() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x00],              // error_code: 0
            &[0x00],                    // error_message: null
            &[0x01],                    // auth_bytes: compact, empty
            &[0x00, 0x00, 0x00, 0x00,
              0x00, 0x36, 0xee, 0x80],  // session_lifetime_ms: 3600000
            &[0x00],                    // tagged fields: none
        ]);
        let expected = SaslAuthenticateResponse {
            error_code: ErrorCode::NONE,
            error_message: None,
            auth_bytes: &[],
            session_lifetime_ms: 3_600_000,
        };
        assert_golden(&bytes, 2, &expected);
    }
}
