//! A bounds-checked writer into a caller-provided buffer, with a counting mode.

use crate::error::{Error, Result};
use crate::wire::reader::LenPrefix;
use crate::wire::varint;
use crate::wire::Uuid;

/// Writes Kafka wire primitives into a caller-provided `&mut [u8]`.
///
/// A write that does not fit returns [`Error::BufferTooSmall`] and leaves the
/// position unchanged, so the caller can send what it has and start again.
/// [`Writer::counting`] makes a writer that stores nothing and only measures,
/// which is how lengths that precede a value (tagged fields) are computed
/// without a second buffer.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: Option<&'a mut [u8]>,
    pos: usize,
}

macro_rules! write_be {
    ($($(#[$doc:meta])* $name:ident($ty:ty);)*) => {$(
        $(#[$doc])*
        #[inline]
        pub fn $name(&mut self, v: $ty) -> Result<()> {
            self.put(&v.to_be_bytes())
        }
    )*};
}

impl<'a> Writer<'a> {
    /// A writer that fills `buf` from its start.
    #[inline]
    pub fn new(buf: &'a mut [u8]) -> Self {
        Writer {
            buf: Some(buf),
            pos: 0,
        }
    }

    /// A writer that stores nothing and only counts the bytes written.
    #[inline]
    pub const fn counting() -> Writer<'static> {
        Writer { buf: None, pos: 0 }
    }

    /// Bytes written so far.
    #[inline]
    pub const fn position(&self) -> usize {
        self.pos
    }

    /// Room left in the buffer (`usize::MAX` when counting).
    #[inline]
    pub fn remaining(&self) -> usize {
        match &self.buf {
            Some(b) => b.len() - self.pos,
            None => usize::MAX - self.pos,
        }
    }

    /// The bytes written so far (empty when counting).
    #[inline]
    pub fn written(&self) -> &[u8] {
        match &self.buf {
            Some(b) => &b[..self.pos],
            None => &[],
        }
    }

    /// The bytes written so far, mutably (empty when counting).
    #[inline]
    pub fn written_mut(&mut self) -> &mut [u8] {
        match &mut self.buf {
            Some(b) => &mut b[..self.pos],
            None => &mut [],
        }
    }

    /// Gives back the underlying buffer and the number of bytes written.
    #[inline]
    pub fn into_inner(self) -> (Option<&'a mut [u8]>, usize) {
        (self.buf, self.pos)
    }

    /// Appends raw bytes.
    #[inline]
    pub fn put(&mut self, bytes: &[u8]) -> Result<()> {
        let end = self
            .pos
            .checked_add(bytes.len())
            .ok_or(Error::BufferTooSmall)?;
        if let Some(buf) = &mut self.buf {
            buf.get_mut(self.pos..end)
                .ok_or(Error::BufferTooSmall)?
                .copy_from_slice(bytes);
        }
        self.pos = end;
        Ok(())
    }

    /// Reserves `n` zeroed bytes to be filled in later with [`patch`](Self::patch);
    /// returns their position.
    #[inline]
    pub fn reserve(&mut self, n: usize) -> Result<usize> {
        let at = self.pos;
        let end = at.checked_add(n).ok_or(Error::BufferTooSmall)?;
        if let Some(buf) = &mut self.buf {
            buf.get_mut(at..end).ok_or(Error::BufferTooSmall)?.fill(0);
        }
        self.pos = end;
        Ok(at)
    }

    /// Overwrites bytes already written at `at` (e.g. a length known only at the end).
    #[inline]
    pub fn patch(&mut self, at: usize, bytes: &[u8]) -> Result<()> {
        let end = at.checked_add(bytes.len()).filter(|&e| e <= self.pos);
        let end = end.ok_or(Error::Malformed("patch outside written bytes"))?;
        if let Some(buf) = &mut self.buf {
            buf[at..end].copy_from_slice(bytes);
        }
        Ok(())
    }

    write_be! {
        /// Writes a big-endian `int8`.
        i8(i8);
        /// Writes a big-endian `int16`.
        i16(i16);
        /// Writes a big-endian `uint16`.
        u16(u16);
        /// Writes a big-endian `int32`.
        i32(i32);
        /// Writes a big-endian `uint32`.
        u32(u32);
        /// Writes a big-endian `int64`.
        i64(i64);
        /// Writes a big-endian `float64`.
        f64(f64);
    }

    /// Writes a `boolean`.
    #[inline]
    pub fn bool(&mut self, v: bool) -> Result<()> {
        self.put(&[u8::from(v)])
    }

    /// Writes a `uuid`.
    #[inline]
    pub fn uuid(&mut self, v: Uuid) -> Result<()> {
        self.put(&v.0)
    }

    /// Writes an `unsigned_varint` (up to 64 bits).
    #[inline]
    pub fn uvarlong(&mut self, mut v: u64) -> Result<()> {
        let mut tmp = [0u8; varint::MAX_VARLONG_LEN];
        let mut n = 0;
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                tmp[n] = byte;
                n += 1;
                break;
            }
            tmp[n] = byte | 0x80;
            n += 1;
        }
        self.put(&tmp[..n])
    }

    /// Writes an `unsigned_varint`.
    #[inline]
    pub fn uvarint(&mut self, v: u32) -> Result<()> {
        self.uvarlong(v.into())
    }

    /// Writes a zig-zag `varint`.
    #[inline]
    pub fn varint(&mut self, v: i32) -> Result<()> {
        self.uvarlong(varint::zigzag32(v).into())
    }

    /// Writes a zig-zag `varlong`.
    #[inline]
    pub fn varlong(&mut self, v: i64) -> Result<()> {
        self.uvarlong(varint::zigzag64(v))
    }

    /// Writes a length prefix in the given form; `None` writes null.
    pub fn len_prefix(&mut self, prefix: LenPrefix, len: Option<usize>) -> Result<()> {
        let too_large = |limit: usize| Error::TooLarge {
            what: crate::Limit::Field,
            size: len.unwrap_or(0),
            limit,
        };
        match (prefix, len) {
            (LenPrefix::I16, None) => self.i16(-1),
            (LenPrefix::I16, Some(n)) => {
                self.i16(i16::try_from(n).map_err(|_| too_large(i16::MAX as usize))?)
            }
            (LenPrefix::I32, None) => self.i32(-1),
            (LenPrefix::I32, Some(n)) => {
                self.i32(i32::try_from(n).map_err(|_| too_large(i32::MAX as usize))?)
            }
            (LenPrefix::Varint, None) => self.varint(-1),
            (LenPrefix::Varint, Some(n)) => {
                self.varint(i32::try_from(n).map_err(|_| too_large(i32::MAX as usize))?)
            }
            (LenPrefix::Compact, None) => self.uvarint(0),
            (LenPrefix::Compact, Some(n)) => {
                let n = u32::try_from(n).ok().and_then(|n| n.checked_add(1));
                self.uvarint(n.ok_or_else(|| too_large(u32::MAX as usize - 1))?)
            }
        }
    }

    /// Writes nullable bytes with the given length prefix.
    #[inline]
    pub fn nullable_bytes_with(&mut self, prefix: LenPrefix, v: Option<&[u8]>) -> Result<()> {
        let start = self.pos;
        self.len_prefix(prefix, v.map(<[u8]>::len))?;
        if let Some(b) = v {
            // Roll back the prefix so a failed write leaves nothing behind.
            self.put(b).inspect_err(|_| self.pos = start)?;
        }
        Ok(())
    }

    /// Writes non-null bytes with the given length prefix.
    #[inline]
    pub fn bytes_with(&mut self, prefix: LenPrefix, v: &[u8]) -> Result<()> {
        self.nullable_bytes_with(prefix, Some(v))
    }

    /// Writes a `string` (`int16` length).
    #[inline]
    pub fn string(&mut self, v: &str) -> Result<()> {
        self.bytes_with(LenPrefix::I16, v.as_bytes())
    }

    /// Writes a `nullable_string` (`int16` length, -1 = null).
    #[inline]
    pub fn nullable_string(&mut self, v: Option<&str>) -> Result<()> {
        self.nullable_bytes_with(LenPrefix::I16, v.map(str::as_bytes))
    }

    /// Writes an array length (`int32`, or compact `unsigned_varint` + 1); `None` = null.
    #[inline]
    pub fn array_len(&mut self, compact: bool, len: Option<usize>) -> Result<()> {
        self.len_prefix(LenPrefix::bytes(compact), len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_refuses_overflow_without_moving() {
        let mut buf = [0u8; 5];
        let mut w = Writer::new(&mut buf);
        w.i32(0x01020304).unwrap();
        assert_eq!(w.i16(7), Err(Error::BufferTooSmall));
        assert_eq!(w.position(), 4);
        w.i8(-1).unwrap();
        assert_eq!(w.written(), &[1, 2, 3, 4, 0xff]);
    }

    #[test]
    fn failed_string_leaves_no_prefix() {
        let mut buf = [0u8; 4];
        let mut w = Writer::new(&mut buf);
        assert_eq!(w.string("hello"), Err(Error::BufferTooSmall));
        assert_eq!(w.position(), 0);
    }

    #[test]
    fn varints_and_compact_lengths() {
        let mut buf = [0u8; 16];
        let mut w = Writer::new(&mut buf);
        w.uvarint(300).unwrap();
        w.varint(-1).unwrap();
        w.len_prefix(LenPrefix::Compact, None).unwrap();
        w.len_prefix(LenPrefix::Compact, Some(2)).unwrap();
        assert_eq!(w.written(), &[0xac, 0x02, 0x01, 0x00, 0x03]);
    }

    #[test]
    fn counting_writer_measures() {
        let mut w = Writer::counting();
        w.string("abc").unwrap();
        w.uvarint(u32::MAX).unwrap();
        assert_eq!(w.position(), 2 + 3 + 5);
        assert!(w.written().is_empty());
    }

    #[test]
    fn string_longer_than_i16_is_refused() {
        let long = [b'a'; 40_000];
        let s = core::str::from_utf8(&long).unwrap();
        let mut w = Writer::counting();
        assert!(matches!(w.string(s), Err(Error::TooLarge { .. })));
    }
}
