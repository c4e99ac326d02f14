//! Errors that say where they happened: API, broker, topic, partition.

use std::fmt;
use std::io;
use std::sync::Arc;

use microkafka_core::producer::TxnError;
use microkafka_core::protocol::ApiKey;
use microkafka_core::ErrorCode;

use crate::tls_failure::TlsFailure;
#[cfg(feature = "tls")]
use crate::tls_failure::{classify_io, TlsIoFailure};

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A broker as errors name it: its node id (-1 for a bootstrap address not
/// yet matched to a node) and the address dialed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BrokerRef {
    /// The node id, or -1 when unknown (a bootstrap address).
    pub id: i32,
    /// `host:port`.
    pub addr: String,
}

impl fmt::Display for BrokerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.id >= 0 {
            write!(f, "broker {} ({})", self.id, self.addr)
        } else {
            write!(f, "broker {}", self.addr)
        }
    }
}

/// Where an error happened. Every field is optional: an error knows what
/// the code that raised it knew, and callers up the stack add the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// The API of the request that failed.
    pub api: Option<ApiKey>,
    /// The broker the request went to.
    pub broker: Option<BrokerRef>,
    /// The topic concerned.
    pub topic: Option<String>,
    /// The partition concerned.
    pub partition: Option<i32>,
}

impl Context {
    fn is_empty(&self) -> bool {
        *self == Context::default()
    }
}

/// What went wrong.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Dialing failed, or the connection broke while in use.
    Io(Arc<io::Error>),
    /// A deadline passed (dial, request, or a configured timeout).
    Timeout,
    /// The broker closed the connection, or it was closed after an earlier
    /// failure on it (a request in flight on it cannot be answered).
    ConnectionClosed,
    /// The broker answered with a Kafka error code.
    Kafka {
        /// The error code.
        code: ErrorCode,
        /// The broker's error message, when it sent one.
        message: Option<String>,
    },
    /// Bytes could not be encoded or decoded, or a protocol limit was hit.
    Protocol(microkafka_core::Error),
    /// The topic, partition or broker is not in the cluster metadata.
    NotFound(&'static str),
    /// The partition has no leader right now.
    NoLeader,
    /// Invalid configuration or arguments; the text says which.
    Config(String),
    /// A partition-mode call (e.g. `set_offset`, `read_lag`) on a group
    /// Reader, where partitions move between members: kafka-go's
    /// `errNotAvailableWithGroup`. The text names the call.
    NotAvailableWithGroup(&'static str),
    /// A group call (e.g. `commit_messages`) on a Reader without a
    /// `group_id`: kafka-go's `errOnlyAvailableWithGroup`. The text names
    /// the call.
    OnlyAvailableWithGroup(&'static str),
    /// A transactional call failed or was refused
    /// ([`TransactionalWriter`](crate::TransactionalWriter)), as core's
    /// transaction manager classified it:
    /// [`TxnError::Abortable`] — the transaction cannot commit, abort it
    /// and run it again ([`Error::is_abortable`]);
    /// [`TxnError::Fatal`] — the producer must be closed (`PRODUCER_FENCED`:
    /// a newer producer took the transactional id; [`Error::is_fatal`]);
    /// [`TxnError::State`] — a call out of order (commit without begin).
    Transaction(TxnError),
    /// The Writer or Reader was closed.
    Closed,
    /// Code run by the client panicked: one of its tasks, or a callback of
    /// yours it ran (e.g. a Writer's `completion`). The text is the panic's
    /// message.
    Panicked(String),
    /// SASL_AUTHENTICATION_FAILED: the broker refused the credentials (a
    /// wrong password, an unknown user, an invalid or expired OAUTHBEARER
    /// token). Never retried: the same credentials fail the same way, so
    /// the Writer and Reader report it at once ([`Error::is_fatal`]).
    AuthenticationFailed {
        /// The SASL mechanism used (`"SCRAM-SHA-512"`).
        mechanism: &'static str,
        /// The broker's error message, when it sent one.
        message: Option<String>,
    },
    /// UNSUPPORTED_SASL_MECHANISM: the broker does not enable the mechanism
    /// asked for on this listener. Never retried.
    UnsupportedMechanism {
        /// The mechanism asked for.
        requested: &'static str,
        /// The mechanisms the broker enables there, in its order.
        enabled: Vec<String>,
    },
    /// Another SASL failure: the broker failed one of the client's own
    /// checks (a SCRAM server signature that does not match: it does not
    /// know the password), the listener does not take SASL
    /// (ILLEGAL_SASL_STATE), or the OAUTHBEARER token provider failed. The
    /// text says which. Never retried.
    Sasl {
        /// The SASL mechanism used.
        mechanism: &'static str,
        /// What failed.
        message: String,
    },
    /// The TLS handshake failed, or the broker ended TLS with an alert.
    /// `failure` says why in one word; `message` in rustls' (or the
    /// broker's alert's) words.
    Tls {
        /// Why, as a kind to match on.
        failure: TlsFailure,
        /// The details.
        message: String,
    },
    /// Opening a connection took longer than the dialer's `timeout`;
    /// `stage` is the step it was at (a TLS handshake or a SASL exchange the
    /// broker never finished, say).
    HandshakeTimeout {
        /// The step that was running when the time ran out.
        stage: Handshake,
    },
}

/// The steps of opening a connection, as [`ErrorKind::HandshakeTimeout`]
/// names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Handshake {
    /// Resolving the name and connecting TCP.
    Connect,
    /// The TLS handshake.
    Tls,
    /// The ApiVersions exchange (version negotiation).
    ApiVersions,
    /// The SASL exchange (SaslHandshake and SaslAuthenticate), including
    /// getting an OAUTHBEARER token.
    Sasl,
}

impl fmt::Display for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Handshake::Connect => "connecting",
            Handshake::Tls => "the TLS handshake",
            Handshake::ApiVersions => "the ApiVersions exchange",
            Handshake::Sasl => "SASL authentication",
        })
    }
}

/// An error of the microkafka host client, with where it happened.
///
/// ```
/// # use microkafka_std::{Error, ErrorKind};
/// # use microkafka_core::{protocol::ApiKey, ErrorCode};
/// let e = Error::kafka(ErrorCode::NOT_LEADER_OR_FOLLOWER, None)
///     .with_api(ApiKey::Produce)
///     .with_partition("orders", 3);
/// assert_eq!(e.code(), Some(ErrorCode::NOT_LEADER_OR_FOLLOWER));
/// assert!(e.is_retriable());
/// assert!(e.to_string().contains("orders[3]"), "{e}");
/// ```
#[derive(Clone, Debug)]
pub struct Error {
    kind: ErrorKind,
    context: Box<Context>,
}

impl Error {
    /// An error of this kind, without context yet.
    pub fn new(kind: ErrorKind) -> Self {
        Error {
            kind,
            context: Box::default(),
        }
    }

    /// A Kafka error code from a response.
    pub fn kafka(code: ErrorCode, message: Option<&str>) -> Self {
        Self::new(ErrorKind::Kafka {
            code,
            message: message.map(str::to_owned),
        })
    }

    /// An I/O error. One that carries a TLS failure (rustls reports
    /// certificate problems and the broker's alerts as I/O errors of the
    /// stream, also after the handshake: TLS 1.3 brokers refuse a client
    /// certificate then) is [`ErrorKind::Tls`].
    pub fn io(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::TimedOut {
            return Self::new(ErrorKind::Timeout);
        }
        #[cfg(feature = "tls")]
        match classify_io(&e) {
            Some(TlsIoFailure::BadServerName(why)) => return Self::new(ErrorKind::Config(why)),
            Some(TlsIoFailure::Tls { failure, message }) => {
                return Self::new(ErrorKind::Tls { failure, message })
            }
            None => {}
        }
        Self::new(ErrorKind::Io(Arc::new(e)))
    }

    /// A panic caught by the client: `what` panicked with `payload`.
    pub(crate) fn panicked(what: &str, payload: &(dyn std::any::Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(a panic without a message)");
        Self::new(ErrorKind::Panicked(format!("{what}: {message}")))
    }

    /// An invalid configuration or argument.
    pub fn config(why: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config(why.into()))
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Where it went wrong.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The Kafka error code, when the broker sent one
    /// ([`ErrorKind::AuthenticationFailed`] is SASL_AUTHENTICATION_FAILED,
    /// [`ErrorKind::UnsupportedMechanism`] UNSUPPORTED_SASL_MECHANISM).
    pub fn code(&self) -> Option<ErrorCode> {
        match self.kind {
            ErrorKind::Kafka { code, .. } => Some(code),
            ErrorKind::AuthenticationFailed { .. } => Some(ErrorCode::SASL_AUTHENTICATION_FAILED),
            ErrorKind::UnsupportedMechanism { .. } => Some(ErrorCode::UNSUPPORTED_SASL_MECHANISM),
            ErrorKind::Transaction(
                TxnError::Abortable { error, .. } | TxnError::Fatal { error, .. },
            ) => Some(error),
            _ => None,
        }
    }

    /// True for a timeout (of a request, or of opening a connection).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Timeout | ErrorKind::HandshakeTimeout { .. }
        )
    }

    /// True when retrying cannot help until the configuration changes: the
    /// broker refused the credentials or the SASL mechanism, the TLS
    /// handshake failed on a certificate (not trusted, another host's,
    /// expired, the client's refused) or on the protocol, the
    /// configuration is invalid, or a transactional producer failed for
    /// good ([`TxnError::Fatal`] in [`ErrorKind::Transaction`]: fenced by a
    /// newer producer with its transactional id, not authorized, ...).
    ///
    /// The Writer, the Reader (partition and group) and the admin Client
    /// report these at once instead of retrying, and a Writer, Reader or
    /// Client that met one dials no broker again for a second (every call
    /// in that second gets the same error): a wrong password costs one
    /// connection, not a storm of them.
    pub fn is_fatal(&self) -> bool {
        match &self.kind {
            ErrorKind::AuthenticationFailed { .. }
            | ErrorKind::UnsupportedMechanism { .. }
            | ErrorKind::Sasl { .. }
            | ErrorKind::Config(_)
            | ErrorKind::Transaction(TxnError::Fatal { .. }) => true,
            ErrorKind::Tls { failure, .. } => *failure != TlsFailure::ConnectionClosed,
            _ => false,
        }
    }

    /// True when a transaction failed but the producer can go on: abort
    /// the transaction, then run it again (the Java client's
    /// `TransactionAbortableException` and the errors it treats alike:
    /// a batch that failed, a consumer rebalanced away, ...).
    pub fn is_abortable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Transaction(TxnError::Abortable { .. })
        )
    }

    /// True when trying again (after refreshing metadata, on a new
    /// connection) may succeed: retriable Kafka codes, timeouts, broken
    /// connections, missing leaders.
    pub fn is_retriable(&self) -> bool {
        match &self.kind {
            ErrorKind::Kafka { code, .. } => code.is_retriable(),
            ErrorKind::Io(_)
            | ErrorKind::Timeout
            | ErrorKind::HandshakeTimeout { .. }
            | ErrorKind::ConnectionClosed
            | ErrorKind::NoLeader => true,
            ErrorKind::Tls { failure, .. } => *failure == TlsFailure::ConnectionClosed,
            ErrorKind::NotFound(_) => true,
            _ => false,
        }
    }

    /// Names the API (kept if already set).
    pub fn with_api(mut self, api: ApiKey) -> Self {
        self.context.api.get_or_insert(api);
        self
    }

    /// Names the broker (kept if already set).
    pub fn with_broker(mut self, broker: &BrokerRef) -> Self {
        if self.context.broker.is_none() {
            self.context.broker = Some(broker.clone());
        }
        self
    }

    /// Names the topic (kept if already set).
    pub fn with_topic(mut self, topic: &str) -> Self {
        if self.context.topic.is_none() {
            self.context.topic = Some(topic.to_owned());
        }
        self
    }

    /// Names the topic and partition (kept if already set).
    pub fn with_partition(mut self, topic: &str, partition: i32) -> Self {
        self = self.with_topic(topic);
        self.context.partition.get_or_insert(partition);
        self
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Io(e) => write!(f, "I/O error: {e}"),
            ErrorKind::Timeout => f.write_str("timed out"),
            ErrorKind::ConnectionClosed => f.write_str("connection closed"),
            ErrorKind::Kafka { code, message } => match message {
                Some(m) if !m.is_empty() => write!(f, "{code:?}: {m}"),
                _ => write!(f, "{code}"),
            },
            ErrorKind::Protocol(e) => write!(f, "protocol error: {e}"),
            ErrorKind::NotFound(what) => write!(f, "{what} not found in the cluster metadata"),
            ErrorKind::NoLeader => f.write_str("the partition has no leader"),
            ErrorKind::Config(why) => write!(f, "invalid configuration: {why}"),
            ErrorKind::NotAvailableWithGroup(call) => {
                write!(f, "{call}: not available when group_id is set")
            }
            ErrorKind::OnlyAvailableWithGroup(call) => {
                write!(f, "{call}: only available when group_id is set")
            }
            ErrorKind::Transaction(e) => write!(f, "{e}"),
            ErrorKind::Closed => f.write_str("closed"),
            ErrorKind::Panicked(what) => write!(f, "panicked: {what}"),
            ErrorKind::AuthenticationFailed { mechanism, message } => match message {
                Some(m) if !m.is_empty() => write!(
                    f,
                    "SASL authentication failed (SASL_AUTHENTICATION_FAILED, {mechanism}): {m}"
                ),
                _ => write!(
                    f,
                    "SASL authentication failed (SASL_AUTHENTICATION_FAILED, {mechanism})"
                ),
            },
            ErrorKind::UnsupportedMechanism { requested, enabled } => {
                write!(
                    f,
                    "the broker does not enable SASL mechanism {requested} (UNSUPPORTED_SASL_MECHANISM); it enables: "
                )?;
                if enabled.is_empty() {
                    f.write_str("none")
                } else {
                    f.write_str(&enabled.join(", "))
                }
            }
            ErrorKind::Sasl { mechanism, message } => write!(f, "SASL {mechanism}: {message}"),
            ErrorKind::Tls { failure, message } => write!(f, "{failure}: {message}"),
            ErrorKind::HandshakeTimeout { stage } => {
                write!(f, "timed out opening the connection, during {stage}")
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.context;
        if !c.is_empty() {
            let mut sep = "";
            if let Some(api) = c.api {
                write!(f, "{}", api.name())?;
                sep = " ";
            }
            match (&c.topic, c.partition) {
                (Some(t), Some(p)) => write!(f, "{sep}{t}[{p}]")?,
                (Some(t), None) => write!(f, "{sep}{t}")?,
                (None, Some(p)) => write!(f, "{sep}partition {p}")?,
                (None, None) => {}
            }
            if let Some(b) = &c.broker {
                let sep = if c.api.is_some() || c.topic.is_some() {
                    " on "
                } else {
                    ""
                };
                write!(f, "{sep}{b}")?;
            }
            f.write_str(": ")?;
        }
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => Some(&**e),
            ErrorKind::Protocol(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::io(e)
    }
}

impl From<microkafka_core::Error> for Error {
    fn from(e: microkafka_core::Error) -> Self {
        Error::new(ErrorKind::Protocol(e))
    }
}

impl From<ErrorCode> for Error {
    fn from(code: ErrorCode) -> Self {
        Error::kafka(code, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_everything_known() {
        let broker = BrokerRef {
            id: 2,
            addr: "127.0.0.1:9093".into(),
        };
        let e = Error::kafka(ErrorCode::MESSAGE_TOO_LARGE, Some("batch of 2 MB"))
            .with_api(ApiKey::Produce)
            .with_partition("orders", 3)
            .with_broker(&broker);
        assert_eq!(
            e.to_string(),
            "Produce orders[3] on broker 2 (127.0.0.1:9093): MESSAGE_TOO_LARGE(10): batch of 2 MB"
        );
        assert!(!e.is_retriable());
        let e = Error::new(ErrorKind::Timeout).with_broker(&BrokerRef {
            id: -1,
            addr: "kafka:9092".into(),
        });
        assert_eq!(e.to_string(), "broker kafka:9092: timed out");
        assert!(e.is_timeout() && e.is_retriable());
        // Context set first wins: the innermost code knows best.
        let e = Error::from(ErrorCode::NOT_LEADER_OR_FOLLOWER)
            .with_partition("a", 1)
            .with_partition("b", 2);
        assert_eq!(
            (e.context().topic.as_deref(), e.context().partition),
            (Some("a"), Some(1))
        );
    }
}
