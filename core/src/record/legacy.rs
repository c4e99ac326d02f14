//! Legacy messages (magic 0 and 1), read-only.
//!
//! Kafka 4.x no longer accepts them on Produce, but Fetch may still return
//! data stored in this format long ago, so consumers must read them.

use crate::error::{Error, Result};
use crate::record::compression::Compression;
use crate::record::crc::crc32_ieee;
use crate::wire::{LenPrefix, Reader};

/// Bytes of a legacy entry before the message itself: offset + message size.
pub(crate) const LOG_OVERHEAD: usize = 12;

/// One magic-0/1 message with its offset, borrowed from a message set.
///
/// A compressed message (`compression() != None`) is a *wrapper*: its value
/// holds a whole inner message set, compressed. For magic 1 wrappers the inner
/// offsets are relative and the wrapper's offset is that of the last inner
/// message (KIP-31).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegacyMessage<'a> {
    /// The message offset (absolute, or the last inner offset for a magic-1 wrapper).
    pub offset: i64,
    /// The stored CRC-32 (IEEE).
    pub crc: u32,
    /// 0 or 1.
    pub magic: i8,
    /// Attributes: bits 0-2 compression, bit 3 timestamp type (magic 1).
    pub attributes: i8,
    /// The timestamp (magic 1 only).
    pub timestamp: Option<i64>,
    /// The key; `None` is null.
    pub key: Option<&'a [u8]>,
    /// The value; `None` is null.
    pub value: Option<&'a [u8]>,
    /// The bytes covered by the CRC (magic to the end of the value).
    checked: &'a [u8],
}

impl<'a> LegacyMessage<'a> {
    /// Parses one entry (offset, size, message) from the start of `bytes`;
    /// returns the message and the bytes it took.
    pub fn parse(bytes: &'a [u8]) -> Result<(Self, usize)> {
        let mut r = Reader::new(bytes);
        let offset = r.i64()?;
        let size = usize::try_from(r.i32()?).map_err(|_| Error::InvalidLength)?;
        let body = r.bytes(size)?;
        let mut m = Reader::new(body);
        let crc = m.u32()?;
        let checked = m.rest();
        let magic = m.i8()?;
        if !matches!(magic, 0 | 1) {
            return Err(Error::UnsupportedMagic(magic));
        }
        let attributes = m.i8()?;
        let timestamp = if magic == 1 { Some(m.i64()?) } else { None };
        let key = m.nullable_bytes_with(LenPrefix::I32)?;
        let value = m.nullable_bytes_with(LenPrefix::I32)?;
        if !m.is_empty() {
            return Err(Error::Malformed(
                "legacy message size larger than its fields",
            ));
        }
        let message = LegacyMessage {
            offset,
            crc,
            magic,
            attributes,
            timestamp,
            key,
            value,
            checked,
        };
        Ok((message, LOG_OVERHEAD + size))
    }

    /// The compression codec of this message (a wrapper when not `None`).
    pub fn compression(&self) -> Result<Compression> {
        Compression::from_id(self.attributes as u8 & 0x07)
    }

    /// Checks the stored CRC-32 against the message.
    pub fn verify_crc(&self) -> Result<()> {
        let actual = crc32_ieee(self.checked);
        if actual == self.crc {
            Ok(())
        } else {
            Err(Error::BadCrc {
                expected: self.crc,
                actual,
            })
        }
    }
}
