//! The server side of any mechanism, over the caller's credential store.

use heapless::String;

use super::oauthbearer::{OAuthBearerMessage, OAuthBearerServer};
use super::plain::verify_plain;
use super::scram::{ScramCredential, ScramHash, ScramServer};
use super::{Failure, Mechanism, MAX_USER_LEN};
use crate::error::{Error, Result};

/// What a SASL server answers to one client message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerStep {
    /// Send the first `len` bytes of the output buffer; the exchange goes on.
    Challenge(usize),
    /// The client is authenticated; send the first `len` bytes of the output
    /// buffer (possibly none) as the last server message.
    Success(usize),
    /// The client is refused. A Kafka broker answers SaslAuthenticate with
    /// SASL_AUTHENTICATION_FAILED and [`Failure::kafka_message`]; a SCRAM
    /// server outside Kafka sends the first `len` bytes of the output buffer
    /// (`e=<error>`; `len` is 0 for the other mechanisms).
    Failure {
        /// Why.
        failure: Failure,
        /// Bytes of the output buffer to send, outside Kafka.
        len: usize,
    },
}

/// A SASL server's view of its users (the mock broker's configuration, say).
///
/// Each method has a default that knows nobody, so a store implements only
/// the mechanisms it enables.
pub trait ServerCredentials {
    /// PLAIN: `user`'s password, if the user exists.
    fn plain_password(&self, user: &str) -> Option<&[u8]> {
        let _ = user;
        None
    }

    /// SCRAM: `user`'s credential for `hash`, if any (see [`ScramCredential::derive`]).
    fn scram_credential(&self, hash: ScramHash, user: &str) -> Option<ScramCredential> {
        let _ = (hash, user);
        None
    }

    /// OAUTHBEARER: whether to accept the token (and the authorization id
    /// and extensions) of `message`.
    fn validate_token(&self, message: &OAuthBearerMessage<'_>) -> bool {
        let _ = message;
        false
    }
}

/// The server side of one SASL exchange, whichever the mechanism.
#[derive(Clone, Debug)]
pub struct SaslServer {
    inner: Inner,
}

#[derive(Clone, Debug)]
// SCRAM's pending state is a few hundred bytes; there is no heap to box it into.
#[allow(clippy::large_enum_variant)]
enum Inner {
    Plain {
        user: Option<String<MAX_USER_LEN>>,
        failed: bool,
    },
    Scram(ScramServer),
    OAuthBearer(OAuthBearerServer),
}

impl SaslServer {
    /// A server for `mechanism`. `random` makes SCRAM's server nonce
    /// ([`MIN_NONCE_RANDOM_LEN`](super::MIN_NONCE_RANDOM_LEN)..=[`MAX_NONCE_RANDOM_LEN`](super::MAX_NONCE_RANDOM_LEN)
    /// fresh random bytes); the other mechanisms ignore it.
    ///
    /// Errors: as [`ScramServer::new`] for SCRAM.
    pub fn new(mechanism: Mechanism, random: &[u8]) -> Result<Self> {
        let inner = match mechanism {
            Mechanism::Plain => Inner::Plain {
                user: None,
                failed: false,
            },
            Mechanism::ScramSha256 => Inner::Scram(ScramServer::new(ScramHash::Sha256, random)?),
            Mechanism::ScramSha512 => Inner::Scram(ScramServer::new(ScramHash::Sha512, random)?),
            Mechanism::OAuthBearer => Inner::OAuthBearer(OAuthBearerServer::new()),
        };
        Ok(SaslServer { inner })
    }

    /// The mechanism served.
    pub fn mechanism(&self) -> Mechanism {
        match &self.inner {
            Inner::Plain { .. } => Mechanism::Plain,
            Inner::Scram(s) => s.hash().mechanism(),
            Inner::OAuthBearer(_) => Mechanism::OAuthBearer,
        }
    }

    /// True once the client is authenticated.
    pub fn is_complete(&self) -> bool {
        match &self.inner {
            Inner::Plain { user, .. } => user.is_some(),
            Inner::Scram(s) => s.is_complete(),
            Inner::OAuthBearer(s) => s.is_complete(),
        }
    }

    /// The authenticated user (PLAIN and SCRAM; an OAUTHBEARER principal is
    /// whatever the caller's token validation decided).
    pub fn user(&self) -> Option<&str> {
        match &self.inner {
            Inner::Plain { user, .. } => user.as_deref(),
            Inner::Scram(s) => s.user(),
            Inner::OAuthBearer(_) => None,
        }
    }

    /// Reads one client message (a SaslAuthenticate request's bytes) and
    /// writes the answer into `out`; the caller's `credentials` decide who
    /// is who. See [`ServerStep`] for what to send.
    ///
    /// Errors (the caller's; the exchange is unchanged): [`Error::BufferTooSmall`].
    pub fn step<C: ServerCredentials + ?Sized>(
        &mut self,
        client: &[u8],
        out: &mut [u8],
        credentials: &C,
    ) -> Result<ServerStep> {
        match &mut self.inner {
            Inner::Plain { user, failed } => {
                if user.is_some() || *failed {
                    *failed = true;
                    *user = None;
                    return Ok(ServerStep::Failure {
                        failure: Failure::IllegalState,
                        len: 0,
                    });
                }
                match verify_plain(client, |name| credentials.plain_password(name)) {
                    Ok(name) => {
                        *user = Some(String::try_from(name).map_err(|_| Error::TooLarge {
                            what: crate::Limit::Field,
                            size: name.len(),
                            limit: MAX_USER_LEN,
                        })?);
                        Ok(ServerStep::Success(0))
                    }
                    Err(failure) => {
                        *failed = true;
                        Ok(ServerStep::Failure { failure, len: 0 })
                    }
                }
            }
            Inner::Scram(s) => {
                let hash = s.hash();
                s.step(client, out, |user| credentials.scram_credential(hash, user))
            }
            Inner::OAuthBearer(s) => {
                s.step(client, out, |message| credentials.validate_token(message))
            }
        }
    }
}
