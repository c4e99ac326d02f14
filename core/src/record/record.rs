//! Records inside a batch, borrowed from the (decompressed) records section.

use core::fmt;

use crate::error::{Error, Result};
use crate::wire::{LenPrefix, Reader};

/// One record of a magic-2 batch. Key, value and headers borrow the batch.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Record attributes (unused by Kafka today, kept for round trips).
    pub attributes: i8,
    /// Timestamp relative to the batch's base timestamp.
    pub timestamp_delta: i64,
    /// Offset relative to the batch's base offset.
    pub offset_delta: i32,
    /// The key; `None` is a null key.
    pub key: Option<&'a [u8]>,
    /// The value; `None` is a null value (a tombstone on compacted topics).
    pub value: Option<&'a [u8]>,
    /// The record headers.
    pub headers: Headers<'a>,
}

impl fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("offset_delta", &self.offset_delta)
            .field("timestamp_delta", &self.timestamp_delta)
            .field("key", &self.key)
            .field("value", &self.value)
            .field("headers", &self.headers)
            .finish()
    }
}

impl<'a> Record<'a> {
    /// Parses one record (length prefix included) from `r`.
    fn parse(r: &mut Reader<'a>) -> Result<Self> {
        let len = r.varint()?;
        let len = usize::try_from(len).map_err(|_| Error::InvalidLength)?;
        let body = r.bytes(len)?;
        let mut r = Reader::new(body);
        let record = Record {
            attributes: r.i8()?,
            timestamp_delta: r.varlong()?,
            offset_delta: r.varint()?,
            key: r.nullable_bytes_with(LenPrefix::Varint)?,
            value: r.nullable_bytes_with(LenPrefix::Varint)?,
            headers: Headers::parse(&mut r)?,
        };
        if !r.is_empty() {
            return Err(Error::Malformed("record length larger than its fields"));
        }
        Ok(record)
    }
}

/// A record header: a UTF-8 key and a nullable value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// The header key.
    pub key: &'a str,
    /// The header value; `None` is null.
    pub value: Option<&'a [u8]>,
}

/// The headers of a record, validated once and iterated lazily.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Headers<'a> {
    bytes: &'a [u8],
    count: usize,
}

impl<'a> Headers<'a> {
    fn parse(r: &mut Reader<'a>) -> Result<Self> {
        let count = usize::try_from(r.varint()?).map_err(|_| Error::InvalidLength)?;
        // Each header takes at least two bytes; a larger count is a lie.
        if count > r.remaining() / 2 {
            return Err(Error::Truncated);
        }
        let start = r.position();
        for _ in 0..count {
            Self::parse_one(r)?;
        }
        Ok(Headers {
            bytes: r.since(start),
            count,
        })
    }

    fn parse_one(r: &mut Reader<'a>) -> Result<Header<'a>> {
        Ok(Header {
            key: r.str_with(LenPrefix::Varint)?,
            value: r.nullable_bytes_with(LenPrefix::Varint)?,
        })
    }

    /// Number of headers.
    pub const fn len(&self) -> usize {
        self.count
    }

    /// True when there are no headers.
    pub const fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Iterates the headers.
    pub fn iter(&self) -> HeadersIter<'a> {
        HeadersIter {
            reader: Reader::new(self.bytes),
            left: self.count,
        }
    }

    /// The value of the first header named `key`.
    pub fn get(&self, key: &str) -> Option<Option<&'a [u8]>> {
        self.iter().find(|h| h.key == key).map(|h| h.value)
    }
}

impl fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for Headers<'a> {
    type Item = Header<'a>;
    type IntoIter = HeadersIter<'a>;
    fn into_iter(self) -> HeadersIter<'a> {
        self.iter()
    }
}

/// Iterator over [`Headers`].
#[derive(Clone, Debug)]
pub struct HeadersIter<'a> {
    reader: Reader<'a>,
    left: usize,
}

impl<'a> Iterator for HeadersIter<'a> {
    type Item = Header<'a>;
    fn next(&mut self) -> Option<Header<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // Validated in `Headers::parse`; a failure ends the iteration.
        Headers::parse_one(&mut self.reader).ok()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// Iterator over the records of a batch's (uncompressed) records section.
///
/// Yields `Err` once and then stops if a record is malformed, or if the
/// section holds fewer or more records than the batch header declares.
#[derive(Clone, Debug)]
pub struct Records<'a> {
    reader: Reader<'a>,
    left: i32,
    failed: bool,
}

impl<'a> Records<'a> {
    /// Records from a records section holding `count` records.
    pub fn new(section: &'a [u8], count: i32) -> Self {
        Records {
            reader: Reader::new(section),
            left: count.max(0),
            failed: false,
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.left == 0 {
            if self.reader.is_empty() {
                return None;
            }
            self.failed = true;
            return Some(Err(Error::Malformed(
                "bytes after the declared record count",
            )));
        }
        self.left -= 1;
        let record = Record::parse(&mut self.reader);
        self.failed = record.is_err();
        Some(record)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left as usize + 1))
    }
}
