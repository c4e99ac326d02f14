//! The Kafka side of SASL: SaslHandshake v1, then SaslAuthenticate (v0–2)
//! requests carrying the mechanism's messages, over a [`Connection`].

use crate::client::{Connection, Received, Sent};
use crate::error::Error;
use crate::protocol::frame::extend_frame;
use crate::protocol::messages::{
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use crate::protocol::versions::codec_flexible_from;
use crate::protocol::ApiKey;
use crate::wire::LenPrefix;
use crate::ErrorCode;

use super::{ClientMechanism, EnabledMechanisms, Mechanism, Progress, SaslError};

/// Room kept at the start of the caller's buffer for a SaslAuthenticate
/// request's header while the mechanism writes its message after it: size
/// prefix 4, api key, version, correlation id 8, client id 2 + 64 (the
/// longest a [`Connection`] keeps), tagged fields 1, the bytes' length prefix
/// at most 5.
const HEADROOM: usize = 96;

/// The SaslHandshake version sent: v1, after which tokens travel in
/// SaslAuthenticate requests (v0's raw tokens are not supported; Kafka 4
/// removed them too).
const HANDSHAKE_VERSION: i16 = 1;

/// An authenticated session: what the broker granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Session {
    /// The mechanism used.
    pub mechanism: Mechanism,
    /// Milliseconds the broker keeps the session (SaslAuthenticate v1+,
    /// KIP-368; the broker's `connections.max.reauth.ms`, capped by a token's
    /// lifetime); 0 when it does not expire or the broker does not say (v0).
    pub lifetime_ms: u64,
}

impl Session {
    /// True when the broker will close the connection after
    /// [`lifetime_ms`](Self::lifetime_ms) unless the client re-authenticates.
    pub fn expires(&self) -> bool {
        self.lifetime_ms > 0
    }

    /// How long after authentication to re-authenticate, as the Java client
    /// does (KIP-368): at a random point between 85% and 95% of the
    /// lifetime, leaving room for latency and clock drift and spreading many
    /// connections' re-authentications apart. `random` is any uniformly
    /// random number from the caller (0 gives 85%, `u32::MAX` just under 95%).
    /// `None` when the session does not expire.
    pub fn reauthenticate_after_ms(&self, random: u32) -> Option<u64> {
        if !self.expires() {
            return None;
        }
        // lifetime × (0.85 + 0.10 × random / 2^32), in integers.
        let fraction = (85u128 << 32) + 10 * u128::from(random);
        let after = u128::from(self.lifetime_ms) * fraction / (100u128 << 32);
        Some(u64::try_from(after).unwrap_or(u64::MAX))
    }

    /// When to re-authenticate, on the caller's millisecond clock, for a
    /// session whose SaslAuthenticate response arrived at
    /// `authenticated_at_ms` (see [`reauthenticate_after_ms`](Self::reauthenticate_after_ms)).
    pub fn reauthenticate_at(&self, authenticated_at_ms: u64, random: u32) -> Option<u64> {
        self.reauthenticate_after_ms(random)
            .map(|after| authenticated_at_ms.saturating_add(after))
    }
}

/// What [`Authenticator::receive`] says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Step {
    /// Another request is due: call [`Authenticator::encode`].
    Continue,
    /// Authenticated: other requests may now be sent on the connection.
    Authenticated(Session),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// SaslHandshake is due.
    Handshake,
    /// SaslHandshake is in flight.
    AwaitHandshake,
    /// A SaslAuthenticate request is due.
    Authenticate,
    /// A SaslAuthenticate request is in flight, at this version.
    AwaitAuthenticate(i16),
    Done(Session),
    Failed,
}

/// One SASL authentication (or KIP-368 re-authentication) of one connection,
/// without I/O.
///
/// Once the connection's versions are agreed (ApiVersions), loop:
/// [`encode`](Self::encode) writes the next request through the
/// [`Connection`] into a buffer; send it; pass the response the connection
/// [received](Connection::receive) to [`receive`](Self::receive), until it
/// answers [`Step::Authenticated`]. The first request is SaslHandshake v1
/// naming the mechanism; each SaslAuthenticate request (the highest version
/// agreed, 0–2) carries the client's next message, and each response's bytes
/// go back to the mechanism. To re-authenticate before
/// [`Session::reauthenticate_at`], run a new `Authenticator` (with fresh
/// nonce bytes for SCRAM) on the same connection.
///
/// `C` is the client: one mechanism's ([`PlainClient`](super::PlainClient),
/// [`ScramClient`](super::ScramClient),
/// [`OAuthBearerClient`](super::OAuthBearerClient)), which links only that
/// mechanism's code, or a [`SaslClient`](super::SaslClient) chosen at run time.
///
/// Errors from `receive` end the exchange (the broker closes the connection
/// after a failed authentication); errors from `encode` leave it as it was
/// (retry with a larger buffer after [`Error::BufferTooSmall`]).
#[derive(Clone, Debug)]
pub struct Authenticator<C> {
    client: C,
    state: State,
}

impl<C: ClientMechanism> Authenticator<C> {
    /// An exchange for `client` that has not sent anything yet.
    pub fn new(client: C) -> Self {
        Authenticator {
            client,
            state: State::Handshake,
        }
    }

    /// The client (to inspect it; it is driven through `encode` and `receive`).
    pub fn client(&self) -> &C {
        &self.client
    }

    /// The mechanism asked for.
    pub fn mechanism(&self) -> Mechanism {
        self.client.mechanism()
    }

    /// True when [`encode`](Self::encode) has a request to write.
    pub fn wants_to_send(&self) -> bool {
        matches!(self.state, State::Handshake | State::Authenticate)
    }

    /// The session, once authenticated.
    pub fn session(&self) -> Option<Session> {
        match self.state {
            State::Done(session) => Some(session),
            _ => None,
        }
    }

    /// True once authenticated.
    pub fn is_authenticated(&self) -> bool {
        self.session().is_some()
    }

    /// True after an error from [`receive`](Self::receive).
    pub fn has_failed(&self) -> bool {
        self.state == State::Failed
    }

    /// Encodes the next request into `buf` through `conn` (which assigns the
    /// correlation id and records it in flight): SaslHandshake v1, or a
    /// SaslAuthenticate request with the mechanism's next message, written
    /// in place (no second buffer: the message goes behind the header's room).
    ///
    /// Errors: [`Error::Malformed`] when no request is due (one is in
    /// flight, or the exchange is over) or the versions are not agreed;
    /// [`Error::NoCommonVersion`] when the broker does not take SaslHandshake
    /// v1, [`Error::ApiNotSupported`] when it has no SASL;
    /// [`Error::BufferTooSmall`]; [`Error::TooLarge`] when the connection has
    /// no room for another request in flight.
    pub fn encode<const N: usize>(
        &mut self,
        conn: &mut Connection<N>,
        buf: &mut [u8],
    ) -> Result<Sent, SaslError<'static>> {
        match self.state {
            State::Handshake => {
                let request = SaslHandshakeRequest {
                    mechanism: self.client.mechanism().name(),
                };
                let sent = conn.encode_at(buf, &request, HANDSHAKE_VERSION)?;
                self.state = State::AwaitHandshake;
                Ok(sent)
            }
            State::Authenticate => {
                let sent = self.encode_authenticate(conn, buf)?;
                self.state = State::AwaitAuthenticate(sent.version);
                Ok(sent)
            }
            _ => Err(super::OUT_OF_ORDER.into()),
        }
    }

    fn encode_authenticate<const N: usize>(
        &self,
        conn: &mut Connection<N>,
        buf: &mut [u8],
    ) -> Result<Sent, SaslError<'static>> {
        let api = ApiKey::SaslAuthenticate;
        let version = conn
            .versions()
            .ok_or(Error::Malformed("API versions are not negotiated yet"))?
            .version(api)?;
        let flexible = codec_flexible_from(api).is_some_and(|from| version >= from);
        // A flexible body ends with an empty tagged-field section.
        let trailer = usize::from(flexible);
        let (head, tail) = buf
            .split_at_mut_checked(HEADROOM)
            .ok_or(Error::BufferTooSmall)?;
        let len = self.client.message(tail)?;
        if tail.len() < len + trailer {
            return Err(Error::BufferTooSmall.into());
        }
        let sent = conn.encode_with(head, api, version, true, &mut |w| {
            w.len_prefix(LenPrefix::bytes(flexible), Some(len))
        })?;
        // The header and the bytes' length prefix are at the start; the
        // message goes right behind them, then the trailer.
        buf.copy_within(HEADROOM..HEADROOM + len, sent.len);
        if flexible {
            buf[sent.len + len] = 0;
        }
        extend_frame(buf, len + trailer)?;
        Ok(Sent {
            len: sent.len + len + trailer,
            ..sent
        })
    }

    /// Reads the response to the request in flight (from
    /// [`Connection::receive`]).
    ///
    /// Errors: [`SaslError::UnsupportedMechanism`] with the broker's list,
    /// [`SaslError::AuthenticationFailed`] with the broker's message,
    /// [`SaslError::IllegalState`], [`SaslError::Broker`] for other codes,
    /// the mechanism's own checks ([`SaslError::Rejected`]), and
    /// [`SaslError::Core`] when the response does not decode. Each ends the
    /// exchange, except a response to another API (a request of the caller's
    /// in flight during re-authentication) or one when none is awaited,
    /// which are [`Error::Malformed`] and change nothing.
    pub fn receive<'b>(&mut self, received: &Received<'b>) -> Result<Step, SaslError<'b>> {
        let expected = match self.state {
            State::AwaitHandshake => ApiKey::SaslHandshake,
            State::AwaitAuthenticate(_) => ApiKey::SaslAuthenticate,
            _ => return Err(super::OUT_OF_ORDER.into()),
        };
        if received.api != expected {
            return Err(Error::Malformed("response is not the SASL exchange's").into());
        }
        let result = match self.state {
            State::AwaitHandshake => self.handshake_response(received),
            _ => self.authenticate_response(received),
        };
        match result {
            Ok(step) => {
                self.state = match step {
                    Step::Continue => State::Authenticate,
                    Step::Authenticated(session) => State::Done(session),
                };
                Ok(step)
            }
            Err(e) => {
                self.state = State::Failed;
                Err(e)
            }
        }
    }

    fn handshake_response<'b>(&self, received: &Received<'b>) -> Result<Step, SaslError<'b>> {
        let response: SaslHandshakeResponse<'b> = received.decode()?;
        match response.error_code {
            ErrorCode::NONE => Ok(Step::Continue),
            ErrorCode::UNSUPPORTED_SASL_MECHANISM => Err(SaslError::UnsupportedMechanism {
                requested: self.client.mechanism(),
                enabled: EnabledMechanisms::new(response.mechanisms),
            }),
            code => Err(broker_error(code, None)),
        }
    }

    fn authenticate_response<'b>(
        &mut self,
        received: &Received<'b>,
    ) -> Result<Step, SaslError<'b>> {
        let response: SaslAuthenticateResponse<'b> = received.decode()?;
        if response.error_code != ErrorCode::NONE {
            return Err(broker_error(response.error_code, response.error_message));
        }
        match self.client.receive(response.auth_bytes)? {
            Progress::Continue => Ok(Step::Continue),
            Progress::Complete => Ok(Step::Authenticated(Session {
                mechanism: self.client.mechanism(),
                // Absent before v1 (decoded as 0); a negative one means none.
                lifetime_ms: u64::try_from(response.session_lifetime_ms).unwrap_or(0),
            })),
        }
    }
}

fn broker_error(code: ErrorCode, message: Option<&str>) -> SaslError<'_> {
    match code {
        ErrorCode::SASL_AUTHENTICATION_FAILED => SaslError::AuthenticationFailed { message },
        ErrorCode::ILLEGAL_SASL_STATE => SaslError::IllegalState,
        code => SaslError::Broker(code),
    }
}
