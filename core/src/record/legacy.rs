//! Legacy messages (magic 0 and 1), read-only.
//!
//! Kafka 4.x no longer accepts them on Produce, but Fetch may still return
//! data stored in this format long ago, so consumers must read them.

use crate::error::{Error, Result};
use crate::record::compression::{Compression, SelectCodec};
use crate::record::crc::crc32_ieee;
use crate::record::TimestampType;
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

    /// How the timestamp was set (attribute bit 3; magic 1 only, magic 0
    /// messages have no timestamp and say `CreateTime`).
    pub fn timestamp_type(&self) -> TimestampType {
        if self.magic >= 1 && self.attributes & 0x08 != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// The messages this entry stands for: the message itself when it is not
    /// compressed, otherwise the inner messages of the wrapper, decompressed
    /// with the codec `codecs` picks into `scratch` (whose length is the
    /// limit, as for [`RecordBatch::records_decompressed`]).
    ///
    /// Inner messages come out as the broker meant them: with absolute
    /// offsets (a magic-1 wrapper stores relative ones and its own offset is
    /// the last inner one's, KIP-31), and with the wrapper's timestamp when the
    /// wrapper says log-append time. Their CRCs are checked; an inner message
    /// that is itself compressed is an error.
    ///
    /// [`RecordBatch::records_decompressed`]: crate::record::RecordBatch::records_decompressed
    pub fn messages<'s, S: SelectCodec + ?Sized>(
        &'s self,
        codecs: &mut S,
        scratch: &'s mut [u8],
    ) -> Result<LegacyMessages<'s>> {
        let compression = self.compression()?;
        if compression == Compression::None {
            return Ok(LegacyMessages {
                single: Some(*self),
                rest: &[],
                offset_shift: 0,
                log_append_time: None,
                failed: false,
            });
        }
        let value = self.value.ok_or(Error::Malformed(
            "compressed legacy message without a value",
        ))?;
        let n = codecs
            .codec(compression)?
            .decompress_legacy(self.magic, value, scratch)?;
        let inner = &scratch[..n];
        let offset_shift = if self.magic >= 1 {
            // Relative inner offsets: the wrapper carries the last one's absolute offset.
            let mut last = None;
            let mut rest = inner;
            while !rest.is_empty() {
                let (message, used) = LegacyMessage::parse(rest)?;
                last = Some(message.offset);
                rest = &rest[used..];
            }
            let last = last.ok_or(Error::Malformed("empty compressed legacy message set"))?;
            self.offset.wrapping_sub(last)
        } else {
            0
        };
        let log_append_time = match self.timestamp_type() {
            TimestampType::LogAppendTime => self.timestamp,
            TimestampType::CreateTime => None,
        };
        Ok(LegacyMessages {
            single: None,
            rest: inner,
            offset_shift,
            log_append_time,
            failed: false,
        })
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

/// The messages of a legacy entry: see [`LegacyMessage::messages`].
///
/// Yields `Err` once and then stops on a malformed inner message.
#[derive(Clone, Debug)]
pub struct LegacyMessages<'a> {
    single: Option<LegacyMessage<'a>>,
    rest: &'a [u8],
    offset_shift: i64,
    log_append_time: Option<i64>,
    failed: bool,
}

impl<'a> LegacyMessages<'a> {
    fn next_inner(&mut self) -> Result<LegacyMessage<'a>> {
        let (mut message, used) = LegacyMessage::parse(self.rest)?;
        self.rest = &self.rest[used..];
        message.verify_crc()?;
        if message.compression()? != Compression::None {
            return Err(Error::Malformed("nested compressed legacy message"));
        }
        message.offset = message.offset.wrapping_add(self.offset_shift);
        if let Some(ts) = self.log_append_time {
            message.timestamp = Some(ts);
        }
        Ok(message)
    }
}

impl<'a> Iterator for LegacyMessages<'a> {
    type Item = Result<LegacyMessage<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(single) = self.single.take() {
            return Some(Ok(single));
        }
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let message = self.next_inner();
        self.failed = message.is_err();
        Some(message)
    }
}
