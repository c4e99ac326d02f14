//! [`Error`]: what went wrong, and where (API, broker, partition).

use core::fmt;

use embassy_net::tcp::ConnectError;
use microkafka_core::protocol::ApiKey;
use microkafka_core::ErrorCode;

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorKind {
    /// The TCP connection to a broker could not be opened.
    Connect(ConnectError),
    /// The broker closed or reset the connection.
    ConnectionLost,
    /// No answer within the configured timeout (connect or request).
    Timeout,
    /// A broker host name could not be resolved to an address.
    Resolve,
    /// None of the bootstrap or known brokers could be reached.
    NoBroker,
    /// The partition has no leader (after refreshing metadata).
    NoLeader,
    /// The topic has no partition to send to (unknown, or being created).
    NoPartitions,
    /// The broker answered with this Kafka error code.
    Kafka(ErrorCode),
    /// Bytes could not be encoded or decoded, or a configured limit was hit
    /// (buffer sizes, partitions tracked, host name length...).
    Protocol(microkafka_core::Error),
    /// The TLS handshake with a broker failed (`tls` feature). Not retried:
    /// the operation fails at once.
    #[cfg(feature = "tls")]
    Tls(crate::tls_failure::TlsFailure),
    /// SASL authentication with a broker failed (`sasl` feature). Not
    /// retried: the operation fails at once.
    #[cfg(feature = "sasl")]
    Sasl(crate::sasl_failure::SaslFailure),
}

/// An error of the producer or consumer, with the context it happened in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The request being made, if any.
    pub api: Option<ApiKey>,
    /// The broker's node id, when known (negative: a bootstrap address).
    pub broker: Option<i32>,
    /// The partition concerned, if any.
    pub partition: Option<i32>,
}

impl Error {
    /// An error without context.
    pub const fn new(kind: ErrorKind) -> Self {
        Error {
            kind,
            api: None,
            broker: None,
            partition: None,
        }
    }

    /// The same error, saying which request failed.
    pub const fn with_api(mut self, api: ApiKey) -> Self {
        self.api = Some(api);
        self
    }

    /// The same error, saying which broker failed (if not already said).
    pub const fn with_broker(mut self, broker: i32) -> Self {
        if self.broker.is_none() {
            self.broker = Some(broker);
        }
        self
    }

    /// The same error, saying which partition failed.
    pub const fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// The Kafka error code, if the broker sent one.
    pub const fn code(&self) -> Option<ErrorCode> {
        match self.kind {
            ErrorKind::Kafka(code) => Some(code),
            _ => None,
        }
    }

    /// True when trying again later (after a metadata refresh) may succeed:
    /// network failures, timeouts, missing leaders, retriable Kafka codes.
    /// TLS and SASL failures are not (a wrong password or an untrusted
    /// broker does not get better by asking again).
    pub fn is_retriable(&self) -> bool {
        match self.kind {
            ErrorKind::Connect(_)
            | ErrorKind::ConnectionLost
            | ErrorKind::Timeout
            | ErrorKind::Resolve
            | ErrorKind::NoBroker
            | ErrorKind::NoLeader
            | ErrorKind::NoPartitions => true,
            ErrorKind::Kafka(code) => code.is_retriable(),
            ErrorKind::Protocol(_) => false,
            #[cfg(feature = "tls")]
            ErrorKind::Tls(_) => false,
            #[cfg(feature = "sasl")]
            ErrorKind::Sasl(_) => false,
        }
    }
}

impl Error {
    /// Adds context in place: the request (if given), the broker (if not
    /// already said), the partition (if given).
    pub(crate) fn add_context(
        &mut self,
        api: Option<ApiKey>,
        broker: Option<i32>,
        partition: Option<i32>,
    ) {
        if api.is_some() {
            self.api = api;
        }
        if self.broker.is_none() {
            self.broker = broker;
        }
        if partition.is_some() {
            self.partition = partition;
        }
    }
}

/// An internal failure whose [`Error`] was recorded where the caller will
/// read it (the cluster's error slot, `Cluster::fail`). The synchronous
/// plans pass this zero-sized marker up instead of the error itself: moving
/// a 44-byte `Error` through every layer measured about 3 KiB of a
/// firmware's flash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Failed;

/// A result whose error, if any, was recorded (see [`Failed`]).
pub(crate) type Fallible<T> = core::result::Result<T, Failed>;

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

impl From<microkafka_core::Error> for Error {
    fn from(e: microkafka_core::Error) -> Self {
        Error::new(ErrorKind::Protocol(e))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::Connect(e) => write!(f, "connect failed: {e:?}")?,
            ErrorKind::ConnectionLost => f.write_str("connection lost")?,
            ErrorKind::Timeout => f.write_str("timed out")?,
            ErrorKind::Resolve => f.write_str("host name not resolved")?,
            ErrorKind::NoBroker => f.write_str("no broker reachable")?,
            ErrorKind::NoLeader => f.write_str("partition has no leader")?,
            ErrorKind::NoPartitions => f.write_str("topic has no partitions")?,
            ErrorKind::Kafka(code) => write!(f, "broker error {} ({})", code.name(), code.0)?,
            ErrorKind::Protocol(e) => write!(f, "{e}")?,
            #[cfg(feature = "tls")]
            ErrorKind::Tls(failure) => write!(f, "TLS handshake failed: {failure}")?,
            #[cfg(feature = "sasl")]
            ErrorKind::Sasl(failure) => write!(f, "SASL authentication failed: {failure}")?,
        }
        if let Some(api) = self.api {
            write!(f, " [{}]", api.name())?;
        }
        if let Some(broker) = self.broker {
            write!(f, " [broker {broker}]")?;
        }
        if let Some(partition) = self.partition {
            write!(f, " [partition {partition}]")?;
        }
        Ok(())
    }
}

impl core::error::Error for Error {}

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
