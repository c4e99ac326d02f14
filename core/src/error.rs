//! The core's own error type: small, `Copy`, never allocates.

use core::fmt;

use crate::protocol::ApiKey;

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
        /// What was too large, e.g. `"frame"`.
        what: &'static str,
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
