//! What can go wrong in a SASL exchange, on each side.

use core::fmt;

use super::Mechanism;
use crate::wire::Array;
use crate::{Error, ErrorCode};

/// Why a SASL exchange failed on the client side.
///
/// What the broker said (its error message, its mechanism list) is borrowed
/// from the response frame `'b`, as everything decoded in the core is: copy
/// it out before reusing the frame buffer. Errors of the mechanisms alone
/// are `SaslError<'static>`.
///
/// None of these is worth retrying on the same connection with the same
/// credentials except a retriable [`Broker`](Self::Broker) code
/// ([`is_retriable`](Self::is_retriable)).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum SaslError<'b> {
    /// A local failure from the core: a buffer too small, a response or
    /// server message that does not parse, a value over a limit
    /// ([`Error::TooLarge`] with [`Limit::Field`](crate::Limit::Field)), or a
    /// call out of order ([`Error::Malformed`]).
    Core(Error),
    /// UNSUPPORTED_SASL_MECHANISM: the broker does not enable the mechanism
    /// asked for. `enabled` is the broker's list.
    UnsupportedMechanism {
        /// The mechanism the client asked for.
        requested: Mechanism,
        /// The mechanisms the broker enables.
        enabled: EnabledMechanisms<'b>,
    },
    /// ILLEGAL_SASL_STATE: the broker did not expect this request now.
    IllegalState,
    /// SASL_AUTHENTICATION_FAILED: the broker refused the credentials. Not
    /// retriable: the same credentials fail again.
    AuthenticationFailed {
        /// The broker's error message, if it sent one.
        message: Option<&'b str>,
    },
    /// The server failed one of the client's own checks.
    Rejected(Rejection),
    /// Another error code in a SaslHandshake or SaslAuthenticate response.
    Broker(ErrorCode),
}

impl SaslError<'_> {
    /// True only for a retriable broker error code: everything else fails
    /// again the same way.
    pub fn is_retriable(&self) -> bool {
        matches!(self, SaslError::Broker(code) if code.is_retriable())
    }

    /// The Kafka error code this error stands for, when it came from one.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            SaslError::UnsupportedMechanism { .. } => Some(ErrorCode::UNSUPPORTED_SASL_MECHANISM),
            SaslError::IllegalState => Some(ErrorCode::ILLEGAL_SASL_STATE),
            SaslError::AuthenticationFailed { .. } => Some(ErrorCode::SASL_AUTHENTICATION_FAILED),
            SaslError::Broker(code) => Some(*code),
            SaslError::Core(_) | SaslError::Rejected(_) => None,
        }
    }
}

impl From<Error> for SaslError<'_> {
    fn from(e: Error) -> Self {
        SaslError::Core(e)
    }
}

impl fmt::Display for SaslError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaslError::Core(e) => write!(f, "SASL: {e}"),
            SaslError::UnsupportedMechanism { requested, enabled } => write!(
                f,
                "the broker does not enable SASL mechanism {requested} (it enables: {enabled})"
            ),
            SaslError::IllegalState => {
                f.write_str("the broker's SASL state does not allow this request")
            }
            SaslError::AuthenticationFailed { message: None } => {
                f.write_str("SASL authentication failed")
            }
            SaslError::AuthenticationFailed {
                message: Some(message),
            } => write!(f, "SASL authentication failed: {message}"),
            SaslError::Rejected(r) => write!(f, "SASL server rejected: {r}"),
            SaslError::Broker(code) => {
                write!(f, "SASL exchange failed with broker error {}", code.name())
            }
        }
    }
}

impl core::error::Error for SaslError<'_> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            SaslError::Core(e) => Some(e),
            _ => None,
        }
    }
}

/// A check the client makes on the server's messages, failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Rejection {
    /// SCRAM: the server's signature (`v=`) is not the one the password
    /// gives: the server does not know the credentials (or the messages were
    /// altered).
    ServerSignature,
    /// SCRAM: the server ended the exchange with `e=` (RFC 5802 server-error).
    ServerError(ScramError),
    /// SCRAM: an iteration count outside Kafka's range
    /// ([`MIN_ITERATIONS`](super::MIN_ITERATIONS)..=[`MAX_ITERATIONS`](super::MAX_ITERATIONS));
    /// a low one weakens the password hash, a high one costs a small device
    /// seconds of CPU per attempt.
    IterationCount(u32),
    /// SCRAM: the server's nonce does not start with the client's nonce, or
    /// adds nothing to it.
    Nonce,
    /// Server data where the mechanism expects none (PLAIN, or after the
    /// exchange ended).
    UnexpectedServerData,
    /// OAUTHBEARER: the server answered the client's `%x01` acknowledgement
    /// of its error with anything but a failure.
    OAuthBearerError,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::ServerSignature => f.write_str("SCRAM server signature does not match"),
            Rejection::ServerError(e) => write!(f, "SCRAM server error {}", e.as_str()),
            Rejection::IterationCount(n) => write!(
                f,
                "SCRAM iteration count {n} outside {}..={}",
                super::MIN_ITERATIONS,
                super::MAX_ITERATIONS
            ),
            Rejection::Nonce => f.write_str("SCRAM server nonce does not extend the client nonce"),
            Rejection::UnexpectedServerData => f.write_str("unexpected server data"),
            Rejection::OAuthBearerError => {
                f.write_str("OAUTHBEARER server went on after reporting an error")
            }
        }
    }
}

/// RFC 5802's `server-error-value`s, sent as `e=<value>` in a SCRAM server-final message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ScramError {
    /// `invalid-encoding`
    InvalidEncoding,
    /// `extensions-not-supported`
    ExtensionsNotSupported,
    /// `invalid-proof`
    InvalidProof,
    /// `channel-bindings-dont-match`
    ChannelBindingsDontMatch,
    /// `server-does-support-channel-binding`
    ServerDoesSupportChannelBinding,
    /// `channel-binding-not-supported`
    ChannelBindingNotSupported,
    /// `unsupported-channel-binding-type`
    UnsupportedChannelBindingType,
    /// `unknown-user`
    UnknownUser,
    /// `invalid-username-encoding`
    InvalidUsernameEncoding,
    /// `no-resources`
    NoResources,
    /// `other-error`, and any value RFC 5802 does not list (as it says to
    /// treat them).
    OtherError,
}

impl ScramError {
    /// Every value RFC 5802 lists.
    pub const ALL: [ScramError; 11] = [
        ScramError::InvalidEncoding,
        ScramError::ExtensionsNotSupported,
        ScramError::InvalidProof,
        ScramError::ChannelBindingsDontMatch,
        ScramError::ServerDoesSupportChannelBinding,
        ScramError::ChannelBindingNotSupported,
        ScramError::UnsupportedChannelBindingType,
        ScramError::UnknownUser,
        ScramError::InvalidUsernameEncoding,
        ScramError::NoResources,
        ScramError::OtherError,
    ];

    /// The value as written after `e=`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ScramError::InvalidEncoding => "invalid-encoding",
            ScramError::ExtensionsNotSupported => "extensions-not-supported",
            ScramError::InvalidProof => "invalid-proof",
            ScramError::ChannelBindingsDontMatch => "channel-bindings-dont-match",
            ScramError::ServerDoesSupportChannelBinding => "server-does-support-channel-binding",
            ScramError::ChannelBindingNotSupported => "channel-binding-not-supported",
            ScramError::UnsupportedChannelBindingType => "unsupported-channel-binding-type",
            ScramError::UnknownUser => "unknown-user",
            ScramError::InvalidUsernameEncoding => "invalid-username-encoding",
            ScramError::NoResources => "no-resources",
            ScramError::OtherError => "other-error",
        }
    }

    /// Reads an `e=` value; unknown values are [`OtherError`](Self::OtherError).
    pub fn parse(value: &[u8]) -> ScramError {
        ScramError::ALL
            .into_iter()
            .find(|e| e.as_str().as_bytes() == value)
            .unwrap_or(ScramError::OtherError)
    }
}

/// Why a SASL server refused a client (the server side's answer, not an error
/// of the caller's): see [`ServerStep::Failure`](super::ServerStep::Failure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The client's message does not parse, breaks the mechanism's syntax or
    /// is over a limit; the error says which.
    Invalid(Error),
    /// PLAIN: the user name is empty.
    MissingUser,
    /// PLAIN: the password is empty.
    MissingPassword,
    /// No credentials are known for the user.
    UnknownUser,
    /// The password (PLAIN) or the proof (SCRAM) is wrong.
    BadCredentials,
    /// The client asked to act as another identity (an authorization id
    /// other than its user name), which Kafka refuses.
    AuthorizationId,
    /// SCRAM: the channel binding (`c=`) does not repeat the client's GS2 header.
    ChannelBinding,
    /// SCRAM: the client-final nonce is not the one the server sent.
    Nonce,
    /// OAUTHBEARER: the caller rejected the token, and the client
    /// acknowledged the error.
    InvalidToken,
    /// A client message after the exchange had ended.
    IllegalState,
}

impl Failure {
    /// The RFC 5802 `e=` value a SCRAM server sends for this failure.
    pub const fn scram_error(self) -> ScramError {
        match self {
            Failure::Invalid(_) | Failure::Nonce | Failure::MissingUser => {
                ScramError::InvalidEncoding
            }
            Failure::UnknownUser => ScramError::UnknownUser,
            Failure::BadCredentials | Failure::MissingPassword => ScramError::InvalidProof,
            Failure::ChannelBinding => ScramError::ChannelBindingsDontMatch,
            Failure::AuthorizationId | Failure::InvalidToken | Failure::IllegalState => {
                ScramError::OtherError
            }
        }
    }

    /// The SASL_AUTHENTICATION_FAILED message a Kafka broker sends for this
    /// failure of `mechanism` (its `SaslServerAuthenticator`): the text of a
    /// `SaslAuthenticationException`, or, for the `SaslException`s that
    /// could reveal whether a user exists (SCRAM's unknown user and bad
    /// proof, malformed messages), the same generic sentence for all.
    pub const fn kafka_message(self, mechanism: Mechanism) -> &'static str {
        const AUTHZID: &str =
            "Authentication failed: Client requested an authorization id that is different from username";
        match (self, mechanism) {
            (Failure::MissingUser, Mechanism::Plain) => {
                "Authentication failed: username not specified"
            }
            (Failure::MissingPassword, Mechanism::Plain) => {
                "Authentication failed: password not specified"
            }
            (Failure::UnknownUser | Failure::BadCredentials, Mechanism::Plain) => {
                "Authentication failed: Invalid username or password"
            }
            (
                Failure::AuthorizationId,
                Mechanism::Plain | Mechanism::ScramSha256 | Mechanism::ScramSha512,
            ) => AUTHZID,
            (Failure::InvalidToken, Mechanism::OAuthBearer) => super::INVALID_TOKEN_ERROR,
            (_, m) => generic_failure(m),
        }
    }
}

/// Kafka's message for a `SaslException`, which names only the mechanism.
const fn generic_failure(mechanism: Mechanism) -> &'static str {
    macro_rules! generic {
        ($name:literal) => {
            concat!(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism ",
                $name
            )
        };
    }
    match mechanism {
        Mechanism::Plain => generic!("PLAIN"),
        Mechanism::ScramSha256 => generic!("SCRAM-SHA-256"),
        Mechanism::ScramSha512 => generic!("SCRAM-SHA-512"),
        Mechanism::OAuthBearer => generic!("OAUTHBEARER"),
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Invalid(e) => write!(f, "invalid client message: {e}"),
            Failure::MissingUser => f.write_str("user name not specified"),
            Failure::MissingPassword => f.write_str("password not specified"),
            Failure::UnknownUser => f.write_str("unknown user"),
            Failure::BadCredentials => f.write_str("invalid credentials"),
            Failure::AuthorizationId => f.write_str("authorization id differs from the user name"),
            Failure::ChannelBinding => f.write_str("channel binding does not match"),
            Failure::Nonce => f.write_str("nonce does not match"),
            Failure::InvalidToken => f.write_str("invalid token"),
            Failure::IllegalState => f.write_str("message after the exchange ended"),
        }
    }
}

/// The mechanisms a broker enables: its SaslHandshake response's list,
/// borrowed from the response frame.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EnabledMechanisms<'b> {
    names: Array<'b, &'b str>,
}

impl<'b> EnabledMechanisms<'b> {
    /// The mechanisms listed in `names`.
    pub fn new(names: Array<'b, &'b str>) -> Self {
        EnabledMechanisms { names }
    }

    /// The broker's names, in its order (`"GSSAPI"`, `"PLAIN"`, …).
    pub fn names(&self) -> impl Iterator<Item = &'b str> {
        self.names.iter()
    }

    /// True when the broker enables `mechanism`.
    pub fn contains(&self, mechanism: Mechanism) -> bool {
        self.names().any(|n| n == mechanism.name())
    }

    /// The enabled mechanisms microkafka knows, in the broker's order.
    pub fn known(&self) -> impl Iterator<Item = Mechanism> + 'b {
        self.names.iter().filter_map(Mechanism::from_name)
    }
}

impl fmt::Display for EnabledMechanisms<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}
