//! snappy: xerial framing (Java) and raw snappy (librdkafka).
//!
//! Raw blocks are decompressed by `snap` with `std` and by
//! [`snappy_raw`](super::snappy_raw) (no_std, heap-free) without: `snap`'s
//! decoder is ~1.5x faster (it copies with unaligned 16-byte `unsafe` moves)
//! and the two are property-tested to agree. Compression uses `snap`, so it
//! needs `std`.
//!
//! xerial framing, as snappy-java's `SnappyOutputStream` writes it:
//!
//! ```text
//! 82 53 4E 41 50 50 59 00 | version i32 BE (1) | compatible version i32 BE (1)
//! then chunks: length i32 BE | raw snappy block (each of at most 32 KiB uncompressed)
//! ```

use crate::error::{Error, Result};
use crate::record::compression::{snappy_raw, too_large, Codec, Compression};

/// The xerial stream magic.
pub(crate) const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_LEN: usize = 16;
/// snappy-java's `SnappyOutputStream` default block size, which Kafka uses.
#[cfg(feature = "std")]
const XERIAL_BLOCK: usize = 32 * 1024;

/// Which snappy framing to write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SnappyFraming {
    /// xerial framing in 32 KiB chunks, as the Java client writes (default).
    #[default]
    Xerial,
    /// One raw snappy block, as librdkafka writes.
    Raw,
}

/// snappy: decompression everywhere (raw and xerial, told apart by the xerial
/// magic, which a raw block cannot start with), compression with `std`.
#[derive(Debug)]
pub struct Snappy {
    framing: SnappyFraming,
    #[cfg(feature = "std")]
    encoder: snap::raw::Encoder,
}

impl Snappy {
    /// A snappy codec writing the xerial framing (like the Java client).
    pub fn new() -> Self {
        Self::with_framing(SnappyFraming::Xerial)
    }

    /// A snappy codec writing `framing`.
    pub fn with_framing(framing: SnappyFraming) -> Self {
        Snappy {
            framing,
            #[cfg(feature = "std")]
            encoder: snap::raw::Encoder::new(),
        }
    }

    /// The framing this codec writes.
    pub fn framing(&self) -> SnappyFraming {
        self.framing
    }

    #[cfg(feature = "std")]
    fn raw_block(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize> {
        if output.len() < snap::raw::max_compress_len(input.len()) {
            return Err(Error::BufferTooSmall);
        }
        self.encoder
            .compress(input, output)
            .map_err(|_| Error::BufferTooSmall)
    }
}

impl Default for Snappy {
    fn default() -> Self {
        Self::new()
    }
}

/// Decompresses an xerial stream (after checking its magic).
fn decompress_xerial(input: &[u8], output: &mut [u8]) -> Result<usize> {
    let header = input.get(..XERIAL_HEADER_LEN).ok_or(Error::Truncated)?;
    // snappy-java refuses versions below its minimum compatible one (1) and
    // ignores the "compatible version" field; so do we.
    let version = i32::from_be_bytes([header[8], header[9], header[10], header[11]]);
    if version < 1 {
        return Err(Error::Malformed("snappy: unsupported xerial version"));
    }
    let mut pos = XERIAL_HEADER_LEN;
    let mut written = 0;
    while pos < input.len() {
        let len = input.get(pos..pos + 4).ok_or(Error::Truncated)?;
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        let len = usize::try_from(len).map_err(|_| Error::InvalidLength)?;
        pos += 4;
        let chunk = input.get(pos..pos + len).ok_or(Error::Truncated)?;
        pos += len;
        written += decompress_raw(chunk, &mut output[written..]).map_err(|e| match e {
            // Report the limit of the whole output, not of what was left.
            Error::TooLarge { what, size, .. } => too_large(what, written + size, output.len()),
            e => e,
        })?;
    }
    Ok(written)
}

impl Codec for Snappy {
    fn compression(&self) -> Compression {
        Compression::Snappy
    }

    #[cfg(feature = "std")]
    fn compress(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize> {
        if self.framing == SnappyFraming::Raw {
            return self.raw_block(input, output);
        }
        let header = output
            .get_mut(..XERIAL_HEADER_LEN)
            .ok_or(Error::BufferTooSmall)?;
        header[..8].copy_from_slice(&XERIAL_MAGIC);
        header[8..12].copy_from_slice(&1i32.to_be_bytes());
        header[12..16].copy_from_slice(&1i32.to_be_bytes());
        let mut pos = XERIAL_HEADER_LEN;
        for chunk in input.chunks(XERIAL_BLOCK) {
            let body = pos + 4;
            let n = self.raw_block(chunk, output.get_mut(body..).ok_or(Error::BufferTooSmall)?)?;
            output[pos..body].copy_from_slice(&(n as i32).to_be_bytes());
            pos = body + n;
        }
        Ok(pos)
    }

    #[cfg(not(feature = "std"))]
    fn compress(&mut self, _input: &[u8], _output: &mut [u8]) -> Result<usize> {
        // `snap` needs std.
        Err(Error::UnsupportedCompression(Compression::Snappy.id()))
    }

    fn decompress(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize> {
        if input.starts_with(&XERIAL_MAGIC) {
            decompress_xerial(input, output)
        } else {
            decompress_raw(input, output)
        }
    }
}

/// One raw snappy block into `output` (whose length is the limit).
#[cfg(feature = "std")]
fn decompress_raw(input: &[u8], output: &mut [u8]) -> Result<usize> {
    // The declared length first: a block declaring more than the limit is
    // refused as too large (snap would only say "buffer too small").
    let (len, _) = snappy_raw::decompressed_len(input)?;
    if len > output.len() {
        return Err(too_large(crate::Limit::Decompressed, len, output.len()));
    }
    snap::raw::Decoder::new()
        .decompress(input, &mut output[..len])
        .map_err(|e| match e {
            snap::Error::Empty
            | snap::Error::HeaderMismatch { .. }
            | snap::Error::Literal { .. }
            | snap::Error::CopyRead { .. } => Error::Truncated,
            _ => Error::Malformed("snappy: corrupt block"),
        })
}

/// One raw snappy block into `output` (whose length is the limit).
#[cfg(not(feature = "std"))]
fn decompress_raw(input: &[u8], output: &mut [u8]) -> Result<usize> {
    snappy_raw::decompress(input, output)
}
