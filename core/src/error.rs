//! The core's own error type: small, `Copy`, never allocates.

use core::fmt;

use crate::protocol::api_key::ApiKey;

/// Everything that can go wrong while encoding or decoding in `microkafka-core`.
///
/// Kafka error codes returned by a broker are not this type: they are data in a
/// response ([`crate::ErrorCode`]). This enum covers local failures: bytes that do not
/// parse, buffers that are too small, limits that were hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The input ended before the value being read was complete.
    Truncated,
    /// The caller's output buffer has no room for what was being written.
    BufferTooSmall,
    /// A length or count exceeds a limit (the protocol's, or one the caller configured).
    TooLarge {
        /// Which limit.
        what: Limit,
        /// The size that was declared or needed.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A length prefix was negative where the protocol does not allow null.
    InvalidLength,
    /// A string field is not valid UTF-8.
    InvalidUtf8,
    /// A variable-length integer ran over its maximum width.
    VarintOverflow,
    /// The bytes are structurally wrong; the text says what was expected.
    Malformed(&'static str),
    /// A record batch CRC-32C (or legacy message CRC-32) does not match its contents.
    BadCrc {
        /// The checksum stored in the bytes.
        expected: u32,
        /// The checksum computed over the bytes.
        actual: u32,
    },
    /// This message version is outside what microkafka can encode or decode.
    UnsupportedVersion {
        /// The API whose version is unsupported.
        api: ApiKey,
        /// The version asked for.
        version: i16,
    },
    /// The broker and microkafka share no version of this API (after applying the
    /// Kafka 4.x version floor).
    NoCommonVersion {
        /// The API for which no version could be agreed.
        api: ApiKey,
    },
    /// The broker does not support this API at all.
    ApiNotSupported {
        /// The missing API.
        api: ApiKey,
    },
    /// An API key that microkafka does not know.
    UnknownApiKey(i16),
    /// A record batch or message set with a magic byte other than 0, 1 or 2.
    UnsupportedMagic(i8),
    /// A batch uses a compression codec that is not compiled in (or unknown).
    UnsupportedCompression(u8),
}

/// Which limit an [`Error::TooLarge`] hit: what was too large, or too many.
///
/// An enum rather than text: matchable, and it keeps [`Error`] at 12 bytes
/// on 32-bit targets (a `&str` made it 20, and the extra bytes moved with
/// every `Result` cost a microcontroller firmware 1.2 KiB of flash).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Limit {
    /// A request or response frame: the protocol's 2 GiB or a configured
    /// maximum frame size.
    Frame,
    /// A request frame larger than the buffer it is written into.
    RequestFrame,
    /// A response frame larger than the buffer it is read into.
    ResponseFrame,
    /// A record larger than a batch can hold.
    Record,
    /// A record's key, value or header beyond the protocol's lengths.
    RecordField,
    /// Records in one batch.
    RecordCount,
    /// The bytes of a request's records (a batch or several).
    Records,
    /// A record batch larger than the buffer it is fetched into.
    RecordBatch,
    /// A fetch buffer too small for a Fetch response's own fields.
    FetchBuffer,
    /// A batch slot too small for a batch header.
    BatchSlot,
    /// A string, bytes or array beyond its length prefix's range.
    Field,
    /// A tagged field beyond its length prefix's range.
    TaggedField,
    /// Requests in flight on one connection.
    InFlight,
    /// Data decompressed beyond the buffer given (a "zip bomb" guard).
    Decompressed,
    /// A zstd frame's window beyond what the decoder may allocate.
    ZstdWindow,
    /// A broker host name longer than a table entry holds.
    HostName,
    /// A topic's partitions beyond what a table holds.
    Partitions,
    /// Partitions assigned to a group member beyond what it tracks.
    AssignedPartitions,
    /// A client id beyond the length kept.
    ClientId,
    /// A group id beyond the length kept.
    GroupId,
    /// A group instance id beyond the length kept.
    GroupInstanceId,
    /// A topic name beyond the length kept.
    TopicName,
    /// Subscribed topics beyond what a group member tracks.
    Topics,
    /// Assignors beyond what a group member offers.
    Assignors,
    /// Group members beyond what the assignor handles.
    GroupMembers,
    /// A group leader's scratch buffer too small for the assignment.
    Scratch,
    /// Broker connections: at least one socket is needed.
    Connections,
    /// Producers with an aborted transaction open at one place in a
    /// fetched partition, beyond what a `read_committed` cursor tracks.
    AbortedProducers,
    /// Partitions (and group offsets) in one transaction, beyond what a
    /// transactional producer tracks.
    TransactionPartitions,
    /// A transactional id beyond the length kept.
    TransactionalId,
}

impl Limit {
    /// What the limit is about, in words (`"record"`, `"response frame"`).
    pub const fn describe(self) -> &'static str {
        match self {
            Limit::Frame => "frame",
            Limit::RequestFrame => "request frame",
            Limit::ResponseFrame => "response frame",
            Limit::Record => "record",
            Limit::RecordField => "record field",
            Limit::RecordCount => "record count",
            Limit::Records => "records",
            Limit::RecordBatch => "record batch",
            Limit::FetchBuffer => "fetch buffer",
            Limit::BatchSlot => "batch slot",
            Limit::Field => "length-prefixed field",
            Limit::TaggedField => "tagged field",
            Limit::InFlight => "requests in flight",
            Limit::Decompressed => "decompressed data",
            Limit::ZstdWindow => "zstd window",
            Limit::HostName => "broker host name",
            Limit::Partitions => "topic partitions",
            Limit::AssignedPartitions => "assigned partitions",
            Limit::ClientId => "client id",
            Limit::GroupId => "group id",
            Limit::GroupInstanceId => "group instance id",
            Limit::TopicName => "topic name",
            Limit::Topics => "subscribed topics",
            Limit::Assignors => "assignors",
            Limit::GroupMembers => "group members",
            Limit::Scratch => "scratch buffer",
            Limit::Connections => "broker connections",
            Limit::AbortedProducers => "open aborted transactions",
            Limit::TransactionPartitions => "partitions in a transaction",
            Limit::TransactionalId => "transactional id",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

// The size `Limit` is for: three words (12 bytes on a microcontroller).
const _: () = assert!(core::mem::size_of::<Error>() <= 3 * core::mem::size_of::<usize>());

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated => f.write_str("input truncated"),
            Error::BufferTooSmall => f.write_str("output buffer too small"),
            Error::TooLarge { what, size, limit } => {
                write!(f, "{what} of {size} bytes exceeds the limit of {limit}")
            }
            Error::InvalidLength => f.write_str("negative length for a non-nullable field"),
            Error::InvalidUtf8 => f.write_str("string is not valid UTF-8"),
            Error::VarintOverflow => f.write_str("variable-length integer too long"),
            Error::Malformed(why) => write!(f, "malformed input: {why}"),
            Error::BadCrc { expected, actual } => {
                write!(
                    f,
                    "CRC mismatch: stored {expected:#010x}, computed {actual:#010x}"
                )
            }
            Error::UnsupportedVersion { api, version } => {
                write!(
                    f,
                    "{} version {version} is not supported by microkafka",
                    api.name()
                )
            }
            Error::NoCommonVersion { api } => write!(
                f,
                "no version of {} is supported by both the broker and microkafka",
                api.name()
            ),
            Error::ApiNotSupported { api } => {
                write!(f, "the broker does not support {}", api.name())
            }
            Error::UnknownApiKey(key) => write!(f, "unknown API key {key}"),
            Error::UnsupportedMagic(m) => write!(f, "unsupported record batch magic {m}"),
            Error::UnsupportedCompression(c) => {
                write!(f, "compression codec {c} is not available in this build")
            }
        }
    }
}

impl core::error::Error for Error {}
