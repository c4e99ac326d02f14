//! [`Codecs`]: every codec compiled in, chosen by a batch's [`Compression`].

use crate::error::{Error, Result};
use crate::record::compression::{too_large, Codec, Compression, SelectCodec};

#[cfg(feature = "gzip")]
use super::Gzip;
#[cfg(feature = "lz4")]
use super::Lz4;
#[cfg(feature = "snappy")]
use super::Snappy;
#[cfg(feature = "zstd")]
use super::Zstd;

/// The identity codec ([`Compression::None`]): copies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoCompression;

impl Codec for NoCompression {
    fn compression(&self) -> Compression {
        Compression::None
    }

    fn compress(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize> {
        output
            .get_mut(..input.len())
            .ok_or(Error::BufferTooSmall)?
            .copy_from_slice(input);
        Ok(input.len())
    }

    fn decompress(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize> {
        let limit = output.len();
        output
            .get_mut(..input.len())
            .ok_or(too_large(crate::Limit::Decompressed, input.len(), limit))?
            .copy_from_slice(input);
        Ok(input.len())
    }
}

/// One instance of every codec compiled into this build, so callers hand a
/// batch's [`Compression`] over instead of matching by hand.
///
/// Each field exists only with its feature; configure a codec through its
/// field (e.g. `codecs.gzip = Gzip::with_level(1)`). A codec that is not
/// compiled in gives [`Error::UnsupportedCompression`].
///
/// Size: the sum of the codecs' own state (see the table in
/// [`compression`](super)): about 11 KiB with `gzip` (inflate tables), a few
/// bytes for the others. Keep one per consumer/producer and reuse it.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Codecs {
    /// The identity codec for uncompressed batches.
    pub none: NoCompression,
    /// gzip.
    #[cfg(feature = "gzip")]
    pub gzip: Gzip,
    /// snappy.
    #[cfg(feature = "snappy")]
    pub snappy: Snappy,
    /// lz4 (frame format).
    #[cfg(feature = "lz4")]
    pub lz4: Lz4,
    /// zstd.
    #[cfg(feature = "zstd")]
    pub zstd: Zstd,
}

impl Codecs {
    /// Every compiled-in codec with its default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when `compression` is compiled in (in at least one direction:
    /// see the availability table in [`compression`](super)).
    pub const fn is_available(compression: Compression) -> bool {
        match compression {
            Compression::None => true,
            Compression::Gzip => cfg!(feature = "gzip"),
            Compression::Snappy => cfg!(feature = "snappy"),
            Compression::Lz4 => cfg!(feature = "lz4"),
            Compression::Zstd => cfg!(feature = "zstd"),
        }
    }

    /// The codec for `compression`, or [`Error::UnsupportedCompression`] when
    /// it is not compiled in. Hand it to
    /// [`finish_compressed`](crate::record::RecordBatchBuilder::finish_compressed).
    pub fn codec(&mut self, compression: Compression) -> Result<&mut dyn Codec> {
        match compression {
            Compression::None => Ok(&mut self.none),
            #[cfg(feature = "gzip")]
            Compression::Gzip => Ok(&mut self.gzip),
            #[cfg(feature = "snappy")]
            Compression::Snappy => Ok(&mut self.snappy),
            #[cfg(feature = "lz4")]
            Compression::Lz4 => Ok(&mut self.lz4),
            #[cfg(feature = "zstd")]
            Compression::Zstd => Ok(&mut self.zstd),
            #[allow(unreachable_patterns)]
            other => Err(Error::UnsupportedCompression(other.id())),
        }
    }

    /// Compresses `input` with `compression` into `output`.
    pub fn compress(
        &mut self,
        compression: Compression,
        input: &[u8],
        output: &mut [u8],
    ) -> Result<usize> {
        self.codec(compression)?.compress(input, output)
    }

    /// Decompresses `input`, compressed with `compression`, into `output`
    /// (whose length is the limit).
    pub fn decompress(
        &mut self,
        compression: Compression,
        input: &[u8],
        output: &mut [u8],
    ) -> Result<usize> {
        self.codec(compression)?.decompress(input, output)
    }
}

impl SelectCodec for Codecs {
    fn codec(&mut self, compression: Compression) -> Result<&mut dyn Codec> {
        Codecs::codec(self, compression)
    }
}
