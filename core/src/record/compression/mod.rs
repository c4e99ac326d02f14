//! Compression codec ids and the hook codecs implement.
//!
//! Kafka compresses a whole batch's records section with one codec, named by
//! the low three bits of the batch attributes. The codecs themselves live
//! behind features (see the compression issue); this module defines the ids
//! and the [`Codec`] trait the builder and the batch view call, so a codec can
//! be plugged in without either of them changing.

use crate::error::{Error, Result};

/// The compression codec of a record batch (attribute bits 0-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Compression {
    /// No compression.
    #[default]
    None = 0,
    /// gzip (RFC 1952).
    Gzip = 1,
    /// Snappy (xerial framing from Java clients, raw snappy accepted).
    Snappy = 2,
    /// LZ4 frame format.
    Lz4 = 3,
    /// Zstandard (Produce v7+ / Fetch v10+).
    Zstd = 4,
}

impl Compression {
    /// The codec for attribute bits 0-2; an error for ids 5-7.
    pub const fn from_id(id: u8) -> Result<Self> {
        Ok(match id & 0x07 {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            _ => return Err(Error::UnsupportedCompression(id & 0x07)),
        })
    }

    /// The id stored in attribute bits 0-2.
    pub const fn id(self) -> u8 {
        self as u8
    }

    /// The codec's name as Kafka's `compression.type` spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// A compression codec working between caller buffers.
///
/// Implementations must bound their output by `output.len()` and return
/// [`Error::BufferTooSmall`] (compress) or [`Error::TooLarge`] (decompress, a
/// "zip bomb" guard) rather than allocate past it.
pub trait Codec {
    /// Which codec this is (written into the batch attributes).
    fn compression(&self) -> Compression;
    /// Compresses `input` into `output`; returns the bytes written.
    fn compress(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize>;
    /// Decompresses `input` into `output`; returns the bytes written.
    fn decompress(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            assert_eq!(Compression::from_id(c.id()), Ok(c));
        }
        assert_eq!(
            Compression::from_id(5),
            Err(Error::UnsupportedCompression(5))
        );
        // Only the low three bits name the codec.
        assert_eq!(Compression::from_id(0x0b), Ok(Compression::Lz4));
    }
}
