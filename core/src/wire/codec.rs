//! The [`Wire`] trait: how one Rust field type is encoded at a message version.

use crate::error::{Error, Result};
use crate::wire::{LenPrefix, Reader, Uuid, Writer};

/// The version a message is being encoded or decoded at, and whether that
/// version is *flexible* (KIP-482: compact strings/arrays and tagged fields).
///
/// Nested structures inherit their message's `WireVersion`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WireVersion {
    /// The message version.
    pub version: i16,
    /// True when this version uses the flexible (compact, tagged) encoding.
    pub flexible: bool,
}

impl WireVersion {
    /// A version with its flexibility.
    pub const fn new(version: i16, flexible: bool) -> Self {
        WireVersion { version, flexible }
    }
}

/// A type that can be read from and written to the Kafka wire at a given version.
///
/// Decoding borrows from the input (`'a`): strings and bytes are slices of the
/// frame, arrays are lazy views over it.
pub trait Wire<'a>: Sized {
    /// Reads a value.
    fn decode(r: &mut Reader<'a>, v: WireVersion) -> Result<Self>;
    /// Writes the value.
    fn encode(&self, w: &mut Writer<'_>, v: WireVersion) -> Result<()>;

    /// The number of bytes [`encode`](Self::encode) writes.
    fn encoded_len(&self, v: WireVersion) -> Result<usize> {
        let mut w = Writer::counting();
        self.encode(&mut w, v)?;
        Ok(w.position())
    }
}

macro_rules! wire_fixed {
    ($($ty:ty => $method:ident),* $(,)?) => {$(
        impl<'a> Wire<'a> for $ty {
            #[inline]
            fn decode(r: &mut Reader<'a>, _: WireVersion) -> Result<Self> {
                r.$method()
            }
            #[inline]
            fn encode(&self, w: &mut Writer<'_>, _: WireVersion) -> Result<()> {
                w.$method(*self)
            }
        }
    )*};
}

wire_fixed! {
    i8 => i8, i16 => i16, u16 => u16, i32 => i32, u32 => u32, i64 => i64,
    f64 => f64, bool => bool, Uuid => uuid,
}

impl<'a> Wire<'a> for &'a str {
    #[inline]
    fn decode(r: &mut Reader<'a>, v: WireVersion) -> Result<Self> {
        r.str_with(LenPrefix::string(v.flexible))
    }
    #[inline]
    fn encode(&self, w: &mut Writer<'_>, v: WireVersion) -> Result<()> {
        w.bytes_with(LenPrefix::string(v.flexible), self.as_bytes())
    }
}

impl<'a> Wire<'a> for Option<&'a str> {
    #[inline]
    fn decode(r: &mut Reader<'a>, v: WireVersion) -> Result<Self> {
        r.nullable_str_with(LenPrefix::string(v.flexible))
    }
    #[inline]
    fn encode(&self, w: &mut Writer<'_>, v: WireVersion) -> Result<()> {
        w.nullable_bytes_with(LenPrefix::string(v.flexible), self.map(str::as_bytes))
    }
}

impl<'a> Wire<'a> for &'a [u8] {
    #[inline]
    fn decode(r: &mut Reader<'a>, v: WireVersion) -> Result<Self> {
        r.bytes_with(LenPrefix::bytes(v.flexible))
    }
    #[inline]
    fn encode(&self, w: &mut Writer<'_>, v: WireVersion) -> Result<()> {
        w.bytes_with(LenPrefix::bytes(v.flexible), self)
    }
}

/// Nullable `bytes`, and `records` fields (a record batch or legacy message set).
impl<'a> Wire<'a> for Option<&'a [u8]> {
    #[inline]
    fn decode(r: &mut Reader<'a>, v: WireVersion) -> Result<Self> {
        r.nullable_bytes_with(LenPrefix::bytes(v.flexible))
    }
    #[inline]
    fn encode(&self, w: &mut Writer<'_>, v: WireVersion) -> Result<()> {
        w.nullable_bytes_with(LenPrefix::bytes(v.flexible), *self)
    }
}

/// Writes one tagged field: tag, size, value.
pub(crate) fn encode_tagged<'a, T: Wire<'a>>(
    w: &mut Writer<'_>,
    tag: u32,
    value: &T,
    v: WireVersion,
) -> Result<()> {
    let size = value.encoded_len(v)?;
    w.uvarint(tag)?;
    w.uvarint(u32::try_from(size).map_err(|_| Error::TooLarge {
        what: crate::Limit::TaggedField,
        size,
        limit: u32::MAX as usize,
    })?)?;
    value.encode(w, v)
}

impl<'a> Wire<'a> for crate::ErrorCode {
    #[inline]
    fn decode(r: &mut Reader<'a>, _: WireVersion) -> Result<Self> {
        r.i16().map(crate::ErrorCode)
    }
    #[inline]
    fn encode(&self, w: &mut Writer<'_>, _: WireVersion) -> Result<()> {
        w.i16(self.0)
    }
}
