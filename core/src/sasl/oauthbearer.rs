//! OAUTHBEARER (RFC 7628) with a bearer token the caller obtained.
//!
//! ```text
//! client  n,,\x01auth=Bearer <token>\x01[key=value\x01...]\x01
//! server  (empty: success) or an error JSON such as {"status":"invalid_token"}
//! client  \x01   (after an error; the server then fails the exchange)
//! ```
//!
//! Getting and refreshing the token (and, on a server, validating it: a JWT's
//! signature, expiry, audience) is the caller's business.

use core::fmt;

use super::{
    ClientMechanism, Failure, Mechanism, Progress, Rejection, SaslError, ServerStep, OUT_OF_ORDER,
};
use crate::error::{Error, Result};
use crate::wire::Writer;

/// The error a server sends for a token it refuses (RFC 7628 §3.2.2), which
/// Kafka's broker also reports as the SASL_AUTHENTICATION_FAILED message.
pub const INVALID_TOKEN_ERROR: &str = r#"{"status":"invalid_token"}"#;

const SEPARATOR: u8 = 0x01;

/// An RFC 6750 `b64token`: `1*(ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/") *"="`.
fn is_b64token(token: &[u8]) -> bool {
    let body_len = token.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
    body_len > 0
        && token[..body_len]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// An RFC 7628 extension key: `1*ALPHA`.
fn is_key(key: &[u8]) -> bool {
    !key.is_empty() && key.iter().all(u8::is_ascii_alphabetic)
}

/// An extension value as Kafka accepts it: `1*(VCHAR / SP / HTAB / CR / LF)`.
fn is_value(value: &[u8]) -> bool {
    !value.is_empty()
        && value
            .iter()
            .all(|&b| (0x21..=0x7e).contains(&b) || matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// OAUTHBEARER's client side: a token and optional SASL extensions, borrowed.
#[derive(Clone, Copy)]
pub struct OAuthBearerClient<'a> {
    token: &'a str,
    extensions: &'a [(&'a str, &'a str)],
    state: ClientState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientState {
    Initial,
    /// The server sent an error: `%x01` is due, then the server fails.
    Acknowledge,
    Complete,
    Failed,
}

impl<'a> OAuthBearerClient<'a> {
    /// A client sending `token` (an RFC 6750 `b64token`, e.g. a JWT).
    ///
    /// Errors: [`Error::Malformed`] when the token has other characters.
    pub fn new(token: &'a str) -> Result<Self> {
        if !is_b64token(token.as_bytes()) {
            return Err(Error::Malformed(
                "OAUTHBEARER token is not an RFC 6750 b64token",
            ));
        }
        Ok(OAuthBearerClient {
            token,
            extensions: &[],
            state: ClientState::Initial,
        })
    }

    /// Adds SASL extensions (KIP-342), sent as `key=value` pairs in order.
    ///
    /// Errors: [`Error::Malformed`] for a key that is not letters only, the
    /// reserved key `auth`, or an empty value or one with control characters
    /// other than tab, CR and LF.
    pub fn with_extensions(mut self, extensions: &'a [(&'a str, &'a str)]) -> Result<Self> {
        for (key, value) in extensions {
            if !is_key(key.as_bytes()) || *key == "auth" || !is_value(value.as_bytes()) {
                return Err(Error::Malformed(
                    "OAUTHBEARER extension key or value not allowed",
                ));
            }
        }
        self.extensions = extensions;
        Ok(self)
    }
}

impl ClientMechanism for OAuthBearerClient<'_> {
    fn mechanism(&self) -> Mechanism {
        Mechanism::OAuthBearer
    }

    /// True once the server accepted the token.
    fn is_complete(&self) -> bool {
        self.state == ClientState::Complete
    }

    /// Writes the initial client response, or `%x01` after a server error;
    /// returns its length.
    ///
    /// Errors: [`Error::BufferTooSmall`], or [`Error::Malformed`] when no message is due.
    fn message(&self, out: &mut [u8]) -> Result<usize, SaslError<'static>> {
        let mut w = Writer::new(out);
        match self.state {
            ClientState::Initial => {
                w.put(b"n,,\x01auth=Bearer ")?;
                w.put(self.token.as_bytes())?;
                for (key, value) in self.extensions {
                    w.put(&[SEPARATOR])?;
                    w.put(key.as_bytes())?;
                    w.put(b"=")?;
                    w.put(value.as_bytes())?;
                }
                w.put(&[SEPARATOR, SEPARATOR])?;
            }
            ClientState::Acknowledge => w.put(&[SEPARATOR])?,
            ClientState::Complete | ClientState::Failed => return Err(OUT_OF_ORDER.into()),
        }
        Ok(w.position())
    }

    /// Reads the server's answer: empty is success ([`Progress::Complete`]);
    /// anything else is the server's error (RFC 7628 JSON), after which
    /// `%x01` is due ([`Progress::Continue`]) and the server will fail the
    /// exchange. A server that answers that `%x01` is
    /// [`Rejection::OAuthBearerError`].
    fn receive(&mut self, server: &[u8]) -> Result<Progress, SaslError<'static>> {
        match self.state {
            ClientState::Initial if server.is_empty() => {
                self.state = ClientState::Complete;
                Ok(Progress::Complete)
            }
            ClientState::Initial => {
                self.state = ClientState::Acknowledge;
                Ok(Progress::Continue)
            }
            ClientState::Acknowledge => {
                self.state = ClientState::Failed;
                Err(SaslError::Rejected(Rejection::OAuthBearerError))
            }
            ClientState::Complete | ClientState::Failed => Err(OUT_OF_ORDER.into()),
        }
    }
}

impl fmt::Debug for OAuthBearerClient<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBearerClient")
            .field("token", &"<redacted>")
            .field("extensions", &self.extensions)
            .field("state", &self.state)
            .finish()
    }
}

/// A client's initial OAUTHBEARER response, parsed (borrowing the message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OAuthBearerMessage<'a> {
    authzid: Option<&'a str>,
    token: &'a str,
    /// `key=value` pairs separated by `%x01`, `auth` included, validated.
    pairs: &'a [u8],
}

const MALFORMED: Error = Error::Malformed(
    "OAUTHBEARER message is not n,[a=<authzid>],%x01auth=Bearer <token>%x01[key=value%x01]...%x01",
);

impl<'a> OAuthBearerMessage<'a> {
    /// Parses `gs2-header %x01 auth=Bearer <token> %x01 *(key=value %x01) %x01`.
    ///
    /// Errors: [`Error::Malformed`] for anything else: a channel-binding GS2
    /// flag (`p=`), a missing or repeated `auth`, a scheme other than
    /// Bearer, a token that is not a `b64token`, keys or values Kafka does
    /// not accept. [`Error::InvalidUtf8`] for an authorization id that is not UTF-8.
    pub fn parse(message: &'a [u8]) -> Result<Self> {
        let rest = match message {
            [b'n' | b'y', b',', rest @ ..] => rest,
            _ => return Err(MALFORMED),
        };
        let comma = rest.iter().position(|&b| b == b',').ok_or(MALFORMED)?;
        let authzid = match &rest[..comma] {
            [] => None,
            [b'a', b'=', name @ ..] if !name.is_empty() => {
                Some(core::str::from_utf8(name).map_err(|_| Error::InvalidUtf8)?)
            }
            _ => return Err(MALFORMED),
        };
        let body = rest[comma + 1..]
            .strip_prefix(&[SEPARATOR])
            .and_then(|b| b.strip_suffix(&[SEPARATOR]))
            .ok_or(MALFORMED)?;
        // `body` is `*(key=value %x01)`: drop the last separator to split.
        let pairs = body.strip_suffix(&[SEPARATOR]).ok_or(MALFORMED)?;
        let mut token = None;
        for pair in pairs.split(|&b| b == SEPARATOR) {
            let (key, value) = split_pair(pair).ok_or(MALFORMED)?;
            if key == b"auth" {
                if token.is_some() {
                    return Err(MALFORMED);
                }
                token = Some(bearer_token(value).ok_or(MALFORMED)?);
            } else if !is_key(key) || !is_value(value) {
                return Err(MALFORMED);
            }
        }
        let token = token.ok_or(MALFORMED)?;
        Ok(OAuthBearerMessage {
            authzid,
            // Cannot fail: the token is ASCII.
            token: core::str::from_utf8(token).map_err(|_| Error::InvalidUtf8)?,
            pairs,
        })
    }

    /// The authorization id from the GS2 header, as sent (`=2C`/`=3D` escapes kept).
    pub fn authzid(&self) -> Option<&'a str> {
        self.authzid
    }

    /// The bearer token.
    pub fn token(&self) -> &'a str {
        self.token
    }

    /// The SASL extensions (every pair but `auth`), in order.
    pub fn extensions(&self) -> Extensions<'a> {
        Extensions {
            rest: Some(self.pairs),
        }
    }
}

fn split_pair(pair: &[u8]) -> Option<(&[u8], &[u8])> {
    let eq = pair.iter().position(|&b| b == b'=')?;
    Some((&pair[..eq], &pair[eq + 1..]))
}

/// The token of `Bearer <token>` (scheme case-insensitive, one or more spaces).
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let scheme_end = value.iter().position(|&b| b == b' ')?;
    if !value[..scheme_end].eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let token_start = scheme_end + value[scheme_end..].iter().position(|&b| b != b' ')?;
    let token = &value[token_start..];
    is_b64token(token).then_some(token)
}

/// The extensions of an [`OAuthBearerMessage`]: `(key, value)` pairs.
#[derive(Clone, Copy, Debug)]
pub struct Extensions<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for Extensions<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest = self.rest?;
            let (pair, after) = match rest.iter().position(|&b| b == SEPARATOR) {
                Some(i) => (&rest[..i], Some(&rest[i + 1..])),
                None => (rest, None),
            };
            self.rest = after;
            let (key, value) = split_pair(pair)?;
            if key == b"auth" {
                continue;
            }
            // Validated as ASCII when parsed.
            return Some((
                core::str::from_utf8(key).ok()?,
                core::str::from_utf8(value).ok()?,
            ));
        }
    }
}

/// OAUTHBEARER's server side: parses the client's message and hands it to
/// the caller to validate.
#[derive(Clone, Copy, Debug, Default)]
pub struct OAuthBearerServer {
    state: ServerState,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum ServerState {
    #[default]
    Initial,
    /// The error was sent; the client's `%x01` is awaited.
    AwaitingAcknowledgement,
    Complete,
    Failed,
}

impl OAuthBearerServer {
    /// A server awaiting the client's initial response.
    pub fn new() -> Self {
        Self::default()
    }

    /// True once a token was accepted.
    pub fn is_complete(&self) -> bool {
        self.state == ServerState::Complete
    }

    /// Reads the client's message and writes the answer into `out`.
    ///
    /// The initial response is parsed and given to `validate` (checking the
    /// token, and the authorization id and extensions if it cares): `true`
    /// is [`ServerStep::Success`] with nothing to send; `false` is
    /// [`ServerStep::Challenge`] with [`INVALID_TOKEN_ERROR`], and the
    /// client's `%x01` that follows is [`ServerStep::Failure`] with
    /// [`Failure::InvalidToken`]. A message that does not parse is a failure
    /// at once ([`Failure::Invalid`]), as it is for Kafka's `OAuthBearerSaslServer`.
    ///
    /// Errors (the caller's, the exchange is unchanged): [`Error::BufferTooSmall`].
    pub fn step(
        &mut self,
        client: &[u8],
        out: &mut [u8],
        validate: impl FnOnce(&OAuthBearerMessage<'_>) -> bool,
    ) -> Result<ServerStep> {
        let failure = match self.state {
            ServerState::Initial => match OAuthBearerMessage::parse(client) {
                Ok(message) if validate(&message) => {
                    self.state = ServerState::Complete;
                    return Ok(ServerStep::Success(0));
                }
                Ok(_) => {
                    let mut w = Writer::new(out);
                    w.put(INVALID_TOKEN_ERROR.as_bytes())?;
                    self.state = ServerState::AwaitingAcknowledgement;
                    return Ok(ServerStep::Challenge(w.position()));
                }
                Err(e) => Failure::Invalid(e),
            },
            ServerState::AwaitingAcknowledgement if client == [SEPARATOR] => Failure::InvalidToken,
            ServerState::AwaitingAcknowledgement => Failure::Invalid(Error::Malformed(
                "OAUTHBEARER client must answer a server error with %x01",
            )),
            ServerState::Complete | ServerState::Failed => Failure::IllegalState,
        };
        self.state = ServerState::Failed;
        Ok(ServerStep::Failure { failure, len: 0 })
    }
}
