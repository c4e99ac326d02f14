//! SASL on every broker connection (`sasl` feature): PLAIN and
//! SCRAM-SHA-256/512 with core's heap-free clients, after ApiVersions, in
//! fixed-version requests as the rest of the port (SaslHandshake v1 and
//! SaslAuthenticate v1, which every broker from Kafka 2.2 through 4.x
//! accepts), written and read here without core's general codecs.
//!
//! Sessions the broker limits (KIP-368, `connections.max.reauth.ms`) are
//! not re-authenticated in place: the connection is dropped and made anew
//! (TCP, TLS, ApiVersions, SASL) before the session ends, at a random point
//! between 85% and 95% of its lifetime (the Java client's window), the next
//! time it is about to be used. Simpler on a device with one request in
//! flight, at the price of a new handshake per session.

use core::fmt;

use microkafka_core::protocol::ApiKey;
use microkafka_core::sasl::{
    ClientMechanism, Mechanism, PlainClient, Progress, SaslClient, SaslError, ScramClient,
};
use microkafka_core::wire::{LenPrefix, Writer};
use microkafka_core::ErrorCode;
use rand_core::CryptoRngCore;

use crate::error::ErrorKind;
use crate::fmt::warning;
pub use crate::sasl_failure::{Mechanisms, SaslFailure};

/// The SaslHandshake version sent.
pub(crate) const HANDSHAKE_VERSION: i16 = 1;
/// The SaslAuthenticate version sent (v1: non-flexible, with the session lifetime).
pub(crate) const AUTHENTICATE_VERSION: i16 = 1;

/// Random bytes in a SCRAM client nonce (base64: 32 characters).
const NONCE_RANDOM_LEN: usize = 24;

/// Largest client message: a SCRAM-SHA-512 client-final message with the
/// longest nonce core accepts (`c=biws,r=` + 128 + `,p=` + 88).
pub(crate) const MAX_CLIENT_MESSAGE_LEN: usize = 240;

/// Credentials for SASL authentication (`sasl` feature).
#[derive(Clone, Copy)]
pub struct Sasl<'a> {
    mechanism: Mechanism,
    user: &'a str,
    password: &'a str,
}

impl<'a> Sasl<'a> {
    /// `PLAIN`: the password travels as it is (use it over TLS).
    pub const fn plain(user: &'a str, password: &'a str) -> Self {
        Sasl {
            mechanism: Mechanism::Plain,
            user,
            password,
        }
    }

    /// `SCRAM-SHA-256`.
    pub const fn scram_sha256(user: &'a str, password: &'a str) -> Self {
        Sasl {
            mechanism: Mechanism::ScramSha256,
            user,
            password,
        }
    }

    /// `SCRAM-SHA-512`.
    pub const fn scram_sha512(user: &'a str, password: &'a str) -> Self {
        Sasl {
            mechanism: Mechanism::ScramSha512,
            user,
            password,
        }
    }

    /// The mechanism.
    pub const fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The user name.
    pub const fn user(&self) -> &'a str {
        self.user
    }

    /// A client for one exchange (SCRAM: with a fresh nonce from `rng`).
    pub(crate) fn client(
        &self,
        rng: &mut dyn CryptoRngCore,
    ) -> microkafka_core::Result<SaslClient<'a>> {
        Ok(match self.mechanism.scram_hash() {
            None => SaslClient::Plain(PlainClient::new(self.user, self.password)?),
            Some(hash) => {
                let mut random = [0u8; NONCE_RANDOM_LEN];
                rng.fill_bytes(&mut random);
                SaslClient::Scram(ScramClient::new(hash, self.user, self.password, &random)?)
            }
        })
    }
}

impl fmt::Debug for Sasl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sasl")
            .field("mechanism", &self.mechanism)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Writes the body of a SaslHandshake v1 request.
pub(crate) fn encode_handshake(
    w: &mut Writer<'_>,
    mechanism: Mechanism,
) -> microkafka_core::Result<()> {
    w.string(mechanism.name())
}

/// Writes the body of a SaslAuthenticate v1 request carrying `message`.
pub(crate) fn encode_authenticate(
    w: &mut Writer<'_>,
    message: &[u8],
) -> microkafka_core::Result<()> {
    w.bytes_with(LenPrefix::bytes(false), message)
}

/// A fixed-version reader: reads past the end yield nothing and fail the
/// whole decode once (as core's fixed-version decoders).
struct Scan<'b> {
    buf: &'b [u8],
    ok: bool,
}

impl<'b> Scan<'b> {
    fn take(&mut self, n: usize) -> &'b [u8] {
        match self.buf.split_at_checked(n) {
            Some((taken, rest)) => {
                self.buf = rest;
                taken
            }
            None => {
                self.ok = false;
                self.buf = &[];
                &[]
            }
        }
    }

    fn int<const N: usize>(&mut self) -> [u8; N] {
        self.take(N).first_chunk().copied().unwrap_or([0; N])
    }

    /// A length-prefixed field (`I` bytes of big-endian length, -1 null).
    fn sized(&mut self, len: i64) -> &'b [u8] {
        if len < -1 {
            self.ok = false;
        }
        self.take(usize::try_from(len).unwrap_or(0))
    }

    fn string(&mut self) -> &'b [u8] {
        let len = i16::from_be_bytes(self.int());
        self.sized(len.into())
    }

    fn finish<T>(self, value: T) -> Result<T, ErrorKind> {
        if self.ok {
            Ok(value)
        } else {
            Err(ErrorKind::Protocol(microkafka_core::Error::Truncated))
        }
    }
}

/// Reads a SaslHandshake v1 response: `Ok` when the mechanism is enabled.
pub(crate) fn read_handshake(body: &[u8]) -> Result<(), ErrorKind> {
    let mut r = Scan {
        buf: body,
        ok: true,
    };
    let code = ErrorCode(i16::from_be_bytes(r.int()));
    let mut offered = Mechanisms::default();
    let count = i32::from_be_bytes(r.int());
    for _ in 0..count.clamp(0, 64) {
        let name = r.string();
        let known = core::str::from_utf8(name)
            .ok()
            .and_then(Mechanism::from_name);
        if let Some(m) = known {
            offered.insert(m);
        }
    }
    r.finish(())?;
    match code {
        ErrorCode::NONE => Ok(()),
        ErrorCode::UNSUPPORTED_SASL_MECHANISM => {
            Err(ErrorKind::Sasl(SaslFailure::UnsupportedMechanism {
                offered,
            }))
        }
        code => Err(ErrorKind::Kafka(code)),
    }
}

/// A SaslAuthenticate v1 response that succeeded.
pub(crate) struct Authenticated<'b> {
    /// The server's message for the mechanism.
    pub(crate) auth_bytes: &'b [u8],
    /// Milliseconds the session lasts (0: it does not expire).
    pub(crate) session_lifetime_ms: u64,
}

/// Reads a SaslAuthenticate v1 response.
pub(crate) fn read_authenticate(body: &[u8]) -> Result<Authenticated<'_>, ErrorKind> {
    let mut r = Scan {
        buf: body,
        ok: true,
    };
    let code = ErrorCode(i16::from_be_bytes(r.int()));
    let message = r.string();
    let len = i32::from_be_bytes(r.int());
    let auth_bytes = r.sized(len.into());
    let lifetime = i64::from_be_bytes(r.int());
    let answer = r.finish(Authenticated {
        auth_bytes,
        session_lifetime_ms: u64::try_from(lifetime).unwrap_or(0),
    })?;
    match code {
        ErrorCode::NONE => Ok(answer),
        ErrorCode::SASL_AUTHENTICATION_FAILED => {
            let message = core::str::from_utf8(message).unwrap_or("");
            warning!("microkafka: SASL authentication failed: {}", message);
            Err(ErrorKind::Sasl(SaslFailure::AuthenticationFailed))
        }
        code => Err(ErrorKind::Kafka(code)),
    }
}

/// Hands the server's message to the client: `true` when it is satisfied.
pub(crate) fn receive(client: &mut SaslClient<'_>, server: &[u8]) -> Result<bool, ErrorKind> {
    match client.receive(server) {
        Ok(Progress::Complete) => Ok(true),
        Ok(Progress::Continue) => Ok(false),
        Err(SaslError::Core(e)) => Err(ErrorKind::Protocol(e)),
        Err(_) => Err(ErrorKind::Sasl(SaslFailure::ServerRejected)),
    }
}

/// The API each step of the exchange uses, for error context.
pub(crate) const fn api(handshake: bool) -> ApiKey {
    if handshake {
        ApiKey::SaslHandshake
    } else {
        ApiKey::SaslAuthenticate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use microkafka_core::protocol::messages::{SaslAuthenticateResponse, SaslHandshakeResponse};
    use microkafka_core::wire::Writer;

    /// Encodes a body with core's general codec at `version` (non-flexible).
    fn general<'r, R: microkafka_core::wire::Wire<'r>>(
        message: &R,
        version: i16,
    ) -> std::vec::Vec<u8> {
        let mut buf = [0u8; 512];
        let mut w = Writer::new(&mut buf);
        let v = microkafka_core::wire::WireVersion::new(version, false);
        message.encode(&mut w, v).unwrap();
        w.written().to_vec()
    }

    #[test]
    fn authenticate_v1_read_as_core_writes_it() {
        let ok = SaslAuthenticateResponse {
            error_code: ErrorCode::NONE,
            error_message: None,
            auth_bytes: b"r=abc,s=c2FsdA==,i=4096",
            session_lifetime_ms: 6000,
        };
        let body = general(&ok, AUTHENTICATE_VERSION);
        let read = read_authenticate(&body).ok().unwrap();
        assert_eq!(read.auth_bytes, ok.auth_bytes);
        assert_eq!(read.session_lifetime_ms, 6000);

        let failed = SaslAuthenticateResponse {
            error_code: ErrorCode::SASL_AUTHENTICATION_FAILED,
            error_message: Some("Authentication failed"),
            auth_bytes: b"",
            session_lifetime_ms: 0,
        };
        let body = general(&failed, AUTHENTICATE_VERSION);
        assert_eq!(
            read_authenticate(&body).err(),
            Some(ErrorKind::Sasl(SaslFailure::AuthenticationFailed))
        );
        assert!(read_authenticate(&body[..body.len() - 1]).is_err());
    }

    #[test]
    fn handshake_v1_read_as_core_writes_it() {
        let names = ["PLAIN", "SCRAM-SHA-512", "GSSAPI"];
        let refused = SaslHandshakeResponse {
            error_code: ErrorCode::UNSUPPORTED_SASL_MECHANISM,
            mechanisms: microkafka_core::wire::Array::from(&names),
        };
        let body = general(&refused, HANDSHAKE_VERSION);
        let Err(ErrorKind::Sasl(SaslFailure::UnsupportedMechanism { offered })) =
            read_handshake(&body)
        else {
            panic!("not refused");
        };
        assert!(offered.contains(Mechanism::Plain) && offered.contains(Mechanism::ScramSha512));
        assert!(!offered.contains(Mechanism::ScramSha256));
        let accepted = SaslHandshakeResponse {
            error_code: ErrorCode::NONE,
            mechanisms: microkafka_core::wire::Array::from(&names),
        };
        assert_eq!(
            read_handshake(&general(&accepted, HANDSHAKE_VERSION)),
            Ok(())
        );
    }

    #[test]
    fn requests_match_core() {
        use microkafka_core::protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf);
        encode_handshake(&mut w, Mechanism::ScramSha256).unwrap();
        let ours = w.written().to_vec();
        let request = SaslHandshakeRequest {
            mechanism: "SCRAM-SHA-256",
        };
        assert_eq!(ours, general(&request, HANDSHAKE_VERSION));

        let mut w = Writer::new(&mut buf);
        encode_authenticate(&mut w, b"n,,n=alice,r=abc").unwrap();
        let ours = w.written().to_vec();
        let request = SaslAuthenticateRequest {
            auth_bytes: b"n,,n=alice,r=abc",
        };
        assert_eq!(ours, general(&request, AUTHENTICATE_VERSION));
    }
}
