//! A bounds-checked, zero-copy reader over a byte slice.

use crate::error::{Error, Result};
use crate::wire::Uuid;

/// Reads Kafka wire primitives from a borrowed buffer.
///
/// Every method checks bounds and returns [`Error::Truncated`] instead of
/// panicking; strings and byte fields are returned as slices of the input
/// (`'a`), never copied.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

macro_rules! read_be {
    ($($(#[$doc:meta])* $name:ident -> $ty:ty;)*) => {$(
        $(#[$doc])*
        #[inline]
        pub fn $name(&mut self) -> Result<$ty> {
            let bytes = self.array::<{ core::mem::size_of::<$ty>() }>()?;
            Ok(<$ty>::from_be_bytes(bytes))
        }
    )*};
}

impl<'a> Reader<'a> {
    /// A reader positioned at the start of `buf`.
    #[inline]
    pub const fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    #[inline]
    pub const fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    #[inline]
    pub const fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when every byte has been read.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread part of the input.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// The part of the input between `start` (an earlier [`position`](Self::position)) and now.
    #[inline]
    pub fn since(&self, start: usize) -> &'a [u8] {
        &self.buf[start.min(self.pos)..self.pos]
    }

    /// Takes the next `n` bytes.
    #[inline]
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let out = rest.get(..n).ok_or(Error::Truncated)?;
        self.pos += n;
        Ok(out)
    }

    /// Skips the next `n` bytes.
    #[inline]
    pub fn skip(&mut self, n: usize) -> Result<()> {
        self.bytes(n).map(|_| ())
    }

    /// Takes the next `N` bytes as an array.
    #[inline]
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        // `first_chunk` rather than `bytes` and a copy: that copy, and the
        // error passed up through `bytes`, made each primitive read about
        // 100 bytes of a microcontroller's flash; this is about 50.
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let out = *rest.first_chunk::<N>().ok_or(Error::Truncated)?;
        self.pos += N;
        Ok(out)
    }

    read_be! {
        /// Reads a big-endian `int8`.
        i8 -> i8;
        /// Reads a big-endian `int16`.
        i16 -> i16;
        /// Reads a big-endian `uint16`.
        u16 -> u16;
        /// Reads a big-endian `int32`.
        i32 -> i32;
        /// Reads a big-endian `uint32`.
        u32 -> u32;
        /// Reads a big-endian `int64`.
        i64 -> i64;
        /// Reads a big-endian `float64`.
        f64 -> f64;
    }

    /// Reads a `boolean` (any non-zero byte is true, as the Java client does).
    #[inline]
    pub fn bool(&mut self) -> Result<bool> {
        Ok(self.array::<1>()?[0] != 0)
    }

    /// Reads a 16-byte `uuid`.
    #[inline]
    pub fn uuid(&mut self) -> Result<Uuid> {
        Ok(Uuid(self.array::<16>()?))
    }

    /// Reads an `unsigned_varint` of at most 64 bits.
    #[inline]
    pub fn uvarlong(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for i in 0..super::varint::MAX_VARLONG_LEN {
            let byte = self.array::<1>()?[0];
            // The tenth byte may only carry the top bit of a u64.
            if i == 9 && byte > 1 {
                return Err(Error::VarintOverflow);
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Error::VarintOverflow)
    }

    /// Reads an `unsigned_varint` of at most 32 bits.
    #[inline]
    pub fn uvarint(&mut self) -> Result<u32> {
        let mut value = 0u32;
        for i in 0..super::varint::MAX_VARINT_LEN {
            let byte = self.array::<1>()?[0];
            if i == 4 && byte > 0x0f {
                return Err(Error::VarintOverflow);
            }
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Error::VarintOverflow)
    }

    /// Reads a zig-zag `varint`.
    #[inline]
    pub fn varint(&mut self) -> Result<i32> {
        self.uvarint().map(super::varint::unzigzag32)
    }

    /// Reads a zig-zag `varlong`.
    #[inline]
    pub fn varlong(&mut self) -> Result<i64> {
        self.uvarlong().map(super::varint::unzigzag64)
    }

    /// Reads the length prefix of a nullable field: `None` means null.
    ///
    /// Classic fields carry an `int16`/`int32` length with -1 for null; compact
    /// fields carry `unsigned_varint` length + 1 with 0 for null.
    #[inline]
    fn nullable_len(&mut self, prefix: LenPrefix) -> Result<Option<usize>> {
        let len: i64 = match prefix {
            LenPrefix::I16 => self.i16()?.into(),
            LenPrefix::I32 => self.i32()?.into(),
            LenPrefix::Compact => i64::from(self.uvarint()?) - 1,
            LenPrefix::Varint => self.varint()?.into(),
        };
        match len {
            -1 => Ok(None),
            n if n < -1 => Err(Error::InvalidLength),
            n => Ok(Some(n as usize)),
        }
    }

    /// Reads nullable bytes with the given length prefix; `None` means null.
    #[inline]
    pub fn nullable_bytes_with(&mut self, prefix: LenPrefix) -> Result<Option<&'a [u8]>> {
        match self.nullable_len(prefix)? {
            None => Ok(None),
            Some(n) => self.bytes(n).map(Some),
        }
    }

    /// Reads non-null bytes with the given length prefix.
    #[inline]
    pub fn bytes_with(&mut self, prefix: LenPrefix) -> Result<&'a [u8]> {
        self.nullable_bytes_with(prefix)?
            .ok_or(Error::InvalidLength)
    }

    /// Reads a nullable UTF-8 string with the given length prefix.
    #[inline]
    pub fn nullable_str_with(&mut self, prefix: LenPrefix) -> Result<Option<&'a str>> {
        match self.nullable_bytes_with(prefix)? {
            None => Ok(None),
            Some(b) => core::str::from_utf8(b)
                .map(Some)
                .map_err(|_| Error::InvalidUtf8),
        }
    }

    /// Reads a non-null UTF-8 string with the given length prefix.
    #[inline]
    pub fn str_with(&mut self, prefix: LenPrefix) -> Result<&'a str> {
        self.nullable_str_with(prefix)?.ok_or(Error::InvalidLength)
    }

    /// Reads a `string` (`int16` length).
    #[inline]
    pub fn string(&mut self) -> Result<&'a str> {
        self.str_with(LenPrefix::I16)
    }

    /// Reads a `nullable_string` (`int16` length, -1 = null).
    #[inline]
    pub fn nullable_string(&mut self) -> Result<Option<&'a str>> {
        self.nullable_str_with(LenPrefix::I16)
    }

    /// Reads an array length: `int32` (classic) or `unsigned_varint` + 1 (compact);
    /// `None` means a null array.
    #[inline]
    pub fn array_len(&mut self, compact: bool) -> Result<Option<usize>> {
        self.nullable_len(if compact {
            LenPrefix::Compact
        } else {
            LenPrefix::I32
        })
    }

    /// Skips a tagged-field section, returning how many fields it held.
    pub fn skip_tagged_fields(&mut self) -> Result<u32> {
        let count = self.uvarint()?;
        for _ in 0..count {
            let _tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.skip(size)?;
        }
        Ok(count)
    }
}

/// How a length-prefixed field states its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LenPrefix {
    /// `int16` length, -1 for null (classic strings).
    I16,
    /// `int32` length, -1 for null (classic bytes, arrays).
    I32,
    /// `unsigned_varint` of length + 1, 0 for null (compact forms in flexible versions).
    Compact,
    /// zig-zag `varint` length, -1 for null (record keys, values and headers).
    Varint,
}

impl LenPrefix {
    /// The prefix for strings at a classic or flexible version.
    #[inline]
    pub const fn string(flexible: bool) -> Self {
        if flexible {
            LenPrefix::Compact
        } else {
            LenPrefix::I16
        }
    }

    /// The prefix for bytes and arrays at a classic or flexible version.
    #[inline]
    pub const fn bytes(flexible: bool) -> Self {
        if flexible {
            LenPrefix::Compact
        } else {
            LenPrefix::I32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_and_reports_truncation() {
        let mut r = Reader::new(&[0x00, 0x01, 0xff, 0xff, 0xff, 0xfe, 0x7f]);
        assert_eq!(r.i16(), Ok(1));
        assert_eq!(r.i32(), Ok(-2));
        assert_eq!(r.i16(), Err(Error::Truncated));
        // A failed read consumes nothing.
        assert_eq!(r.i8(), Ok(0x7f));
        assert!(r.is_empty());
    }

    #[test]
    fn varints_from_the_spec() {
        // 300 = 0b1_0010_1100 -> ac 02 (protobuf guide).
        assert_eq!(Reader::new(&[0xac, 0x02]).uvarint(), Ok(300));
        assert_eq!(Reader::new(&[0x01]).varint(), Ok(-1));
        assert_eq!(Reader::new(&[0x80]).uvarint(), Err(Error::Truncated));
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x1f]).uvarint(),
            Err(Error::VarintOverflow)
        );
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f]).uvarint(),
            Ok(u32::MAX)
        );
        assert_eq!(
            Reader::new(&[0xff; 11]).uvarlong(),
            Err(Error::VarintOverflow)
        );
    }

    #[test]
    fn strings_nullable_and_compact() {
        let mut r = Reader::new(&[0x00, 0x02, b'h', b'i', 0xff, 0xff, 0x03, b'o', b'k', 0x00]);
        assert_eq!(r.string(), Ok("hi"));
        assert_eq!(r.nullable_string(), Ok(None));
        assert_eq!(r.str_with(LenPrefix::Compact), Ok("ok"));
        assert_eq!(r.nullable_str_with(LenPrefix::Compact), Ok(None));
        assert_eq!(
            Reader::new(&[0xff, 0xfe]).nullable_string(),
            Err(Error::InvalidLength)
        );
        assert_eq!(
            Reader::new(&[0xff, 0xff]).string(),
            Err(Error::InvalidLength)
        );
        assert_eq!(
            Reader::new(&[0x00, 0x05, b'a']).string(),
            Err(Error::Truncated)
        );
        assert_eq!(
            Reader::new(&[0x00, 0x01, 0xff]).string(),
            Err(Error::InvalidUtf8)
        );
    }

    #[test]
    fn skips_unknown_tagged_fields() {
        // two fields: tag 0 size 2, tag 5 size 0; then a trailing byte.
        let mut r = Reader::new(&[0x02, 0x00, 0x02, 0xaa, 0xbb, 0x05, 0x00, 0x42]);
        assert_eq!(r.skip_tagged_fields(), Ok(2));
        assert_eq!(r.i8(), Ok(0x42));
        assert_eq!(
            Reader::new(&[0x01, 0x00, 0x09, 0x00]).skip_tagged_fields(),
            Err(Error::Truncated)
        );
    }
}
