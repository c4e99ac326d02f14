//! SASL authentication as state machines: no I/O, no heap, no clock, no randomness.
//!
//! What is here:
//!
//! - The mechanisms Kafka brokers offer, on both sides of the exchange:
//!   [`Mechanism::Plain`] (RFC 4616), [`Mechanism::ScramSha256`] and
//!   [`Mechanism::ScramSha512`] (RFC 5802 / RFC 7677, with Kafka's iteration
//!   limits) and [`Mechanism::OAuthBearer`] (RFC 7628, with a token the caller
//!   obtained). Clients ([`ClientMechanism`]): [`PlainClient`],
//!   [`ScramClient`], [`OAuthBearerClient`], or any of them as a
//!   [`SaslClient`]. Servers (what
//!   the mock broker uses): [`SaslServer`] over caller-provided
//!   [`ServerCredentials`], or [`verify_plain`], [`ScramServer`],
//!   [`OAuthBearerServer`] one by one.
//! - The Kafka exchange: [`Authenticator`] encodes SaslHandshake v1 and the
//!   SaslAuthenticate requests (v0–2) carrying each client message through a
//!   [`Connection`](crate::client::Connection), reads their answers, and
//!   reports the session lifetime (KIP-368) with [`Session::reauthenticate_at`],
//!   the moment the Java client would re-authenticate.
//!
//! Why it looks like this: the core runs on microcontrollers without an
//! allocator, so every message is written into a caller's buffer and every
//! piece of state has a fixed size with an explicit limit ([`MAX_USER_LEN`],
//! [`MAX_NONCE_LEN`], [`MAX_SALT_LEN`], …; going over is
//! [`Error::TooLarge`](crate::Error::TooLarge) with
//! [`Limit::Field`](crate::Limit::Field)). Credentials and tokens are
//! borrowed, never copied. The core has no source of randomness or time:
//! SCRAM nonces are built from random bytes the caller supplies, and times
//! are the caller's milliseconds. All of it sits behind the `sasl` cargo
//! feature, so firmware that does not authenticate links none of the SHA-2,
//! HMAC, PBKDF2 and base64 code.
//!
//! Driving a client by hand (the [`Authenticator`] does this inside Kafka
//! frames): write [`ClientMechanism::message`], send it, feed the server's
//! answer to [`ClientMechanism::receive`]; repeat while it answers
//! [`Progress::Continue`].
//!
//! Not done: SASLprep (RFC 4013) normalisation of SCRAM names and passwords
//! (Kafka does not do it either), SCRAM channel binding (Kafka has none), GSSAPI.

mod authenticator;
mod crypto;
mod error;
mod oauthbearer;
mod plain;
mod scram;
mod server;
#[cfg(test)]
mod tests;

pub use authenticator::{Authenticator, Session, Step};
pub use error::{EnabledMechanisms, Failure, Rejection, SaslError, ScramError};
pub use oauthbearer::{
    Extensions, OAuthBearerClient, OAuthBearerMessage, OAuthBearerServer, INVALID_TOKEN_ERROR,
};
pub use plain::{verify_plain, PlainClient};
pub use scram::{
    ScramClient, ScramCredential, ScramHash, ScramServer, MAX_ITERATIONS, MAX_NONCE_LEN,
    MAX_NONCE_RANDOM_LEN, MAX_OWN_NONCE_LEN, MAX_SALT_LEN, MIN_ITERATIONS, MIN_NONCE_RANDOM_LEN,
};
pub use server::{SaslServer, ServerCredentials, ServerStep};

/// Longest user name a SASL server keeps, in bytes (after SCRAM's `=2C`/`=3D`
/// unescaping). Clients refuse longer names up front.
pub const MAX_USER_LEN: usize = 255;

/// A SASL mechanism, by the name Kafka's `sasl.mechanism` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Mechanism {
    /// `PLAIN` (RFC 4616): user name and password in clear; use over TLS.
    Plain,
    /// `SCRAM-SHA-256` (RFC 5802, RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-512` (RFC 5802 with SHA-512, as Kafka defines it).
    ScramSha512,
    /// `OAUTHBEARER` (RFC 7628) with a bearer token the caller obtained.
    OAuthBearer,
}

impl Mechanism {
    /// Every mechanism, in a fixed order.
    pub const ALL: [Mechanism; 4] = [
        Mechanism::Plain,
        Mechanism::ScramSha256,
        Mechanism::ScramSha512,
        Mechanism::OAuthBearer,
    ];

    /// Kafka's name for the mechanism (`"SCRAM-SHA-256"`), as sent in SaslHandshake.
    pub const fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The mechanism Kafka calls `name` (exact, case-sensitive, as brokers compare).
    pub fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The SCRAM hash of a SCRAM mechanism.
    pub const fn scram_hash(self) -> Option<ScramHash> {
        match self {
            Mechanism::ScramSha256 => Some(ScramHash::Sha256),
            Mechanism::ScramSha512 => Some(ScramHash::Sha512),
            _ => None,
        }
    }
}

impl core::fmt::Display for Mechanism {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a client mechanism says after reading a server message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Progress {
    /// Another client message is due: write it with `message` and send it.
    Continue,
    /// The client is satisfied: the exchange succeeded on its side.
    Complete,
}

/// The client side of one SASL exchange: what the [`Authenticator`] drives.
///
/// Call [`message`](Self::message) to write the message due now, send it, and
/// pass the server's answer to [`receive`](Self::receive); repeat while it
/// answers [`Progress::Continue`]. `message` does not change the state, so a
/// message can be written again (into a larger buffer after
/// [`Error::BufferTooSmall`](crate::Error::BufferTooSmall)). After any error
/// from `receive` the exchange has failed for good.
///
/// Implemented by each mechanism's client ([`PlainClient`], [`ScramClient`],
/// [`OAuthBearerClient`]), which links only that mechanism's code (PLAIN
/// needs no SHA-2), and by [`SaslClient`], any of them chosen at run time.
pub trait ClientMechanism {
    /// The mechanism this client speaks.
    fn mechanism(&self) -> Mechanism;

    /// Writes the client message due now into `out`; returns its length.
    ///
    /// Errors: [`Error::BufferTooSmall`](crate::Error::BufferTooSmall) (the
    /// state is unchanged), or [`Error::Malformed`](crate::Error::Malformed)
    /// when no message is due (the exchange is over).
    fn message(&self, out: &mut [u8]) -> Result<usize, SaslError<'static>>;

    /// Reads the server's answer to the last message.
    ///
    /// Errors: [`SaslError::Rejected`] when the server fails a check (SCRAM
    /// server signature, iteration count, nonce; data where none is
    /// expected), [`SaslError::Core`] when its message does not parse or is
    /// over a limit.
    fn receive(&mut self, server: &[u8]) -> Result<Progress, SaslError<'static>>;

    /// True once the client has accepted the server's last message.
    fn is_complete(&self) -> bool;
}

/// A client of any mechanism, chosen at run time (configuration).
#[derive(Clone, Debug)]
// The SCRAM state is a few hundred bytes and there is no heap to box it into.
#[allow(clippy::large_enum_variant)]
pub enum SaslClient<'a> {
    /// `PLAIN`.
    Plain(PlainClient<'a>),
    /// `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    Scram(ScramClient<'a>),
    /// `OAUTHBEARER`.
    OAuthBearer(OAuthBearerClient<'a>),
}

impl ClientMechanism for SaslClient<'_> {
    fn mechanism(&self) -> Mechanism {
        match self {
            SaslClient::Plain(c) => c.mechanism(),
            SaslClient::Scram(c) => c.mechanism(),
            SaslClient::OAuthBearer(c) => c.mechanism(),
        }
    }

    fn message(&self, out: &mut [u8]) -> Result<usize, SaslError<'static>> {
        match self {
            SaslClient::Plain(c) => c.message(out),
            SaslClient::Scram(c) => c.message(out),
            SaslClient::OAuthBearer(c) => c.message(out),
        }
    }

    fn receive(&mut self, server: &[u8]) -> Result<Progress, SaslError<'static>> {
        match self {
            SaslClient::Plain(c) => c.receive(server),
            SaslClient::Scram(c) => c.receive(server),
            SaslClient::OAuthBearer(c) => c.receive(server),
        }
    }

    fn is_complete(&self) -> bool {
        match self {
            SaslClient::Plain(c) => c.is_complete(),
            SaslClient::Scram(c) => c.is_complete(),
            SaslClient::OAuthBearer(c) => c.is_complete(),
        }
    }
}

impl<'a> From<PlainClient<'a>> for SaslClient<'a> {
    fn from(c: PlainClient<'a>) -> Self {
        SaslClient::Plain(c)
    }
}

impl<'a> From<ScramClient<'a>> for SaslClient<'a> {
    fn from(c: ScramClient<'a>) -> Self {
        SaslClient::Scram(c)
    }
}

impl<'a> From<OAuthBearerClient<'a>> for SaslClient<'a> {
    fn from(c: OAuthBearerClient<'a>) -> Self {
        SaslClient::OAuthBearer(c)
    }
}

/// The error for a client call made when the exchange has no such step.
pub(crate) const OUT_OF_ORDER: crate::Error =
    crate::Error::Malformed("SASL exchange is not at a step that allows this");
