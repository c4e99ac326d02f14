//! zstd frames via `ruzstd` (needs `alloc` both ways).
//!
//! Decoding is driven block by block so the output never exceeds the caller's
//! buffer: `ruzstd` keeps at most the frame's window plus one block (≤ 128 KiB)
//! of its own, the window is refused above [`Zstd::max_window`] before
//! anything is allocated for it, and the decoder is only reused (which makes
//! it reserve the whole window) when the window fits the caller's limit. Encoding uses `ruzstd`'s only implemented
//! level, `Fastest` (about zstd level 1), and reuses its match buffers between
//! batches.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
use ruzstd::encoding::{CompressionLevel, FrameCompressor, MatchGeneratorDriver};
use ruzstd::io::Read;

use crate::error::{Error, Result};
use crate::record::compression::{too_large, Codec, Compression};

/// zstd: both directions with `alloc`.
///
/// Reads any zstd frame without a dictionary (skippable and concatenated
/// frames too) and checks the content checksum when the frame has one. Writes
/// one frame at `ruzstd`'s Fastest level with a 128 KiB window and a content
/// checksum.
pub struct Zstd {
    decoder: FrameDecoder,
    compressor: Option<Box<FrameCompressor<Source, Vec<u8>, MatchGeneratorDriver>>>,
    max_window: u64,
}

impl Zstd {
    /// The default [`max_window`](Self::max_window): 8 MiB, the window every
    /// zstd decoder is expected to support (RFC 8878 3.1.1.1.2). Java and
    /// librdkafka producers declare 2 MiB at their default level.
    pub const DEFAULT_MAX_WINDOW: u64 = 8 << 20;

    /// A zstd codec accepting windows up to [`DEFAULT_MAX_WINDOW`](Self::DEFAULT_MAX_WINDOW).
    pub fn new() -> Self {
        Zstd {
            decoder: FrameDecoder::new(),
            compressor: None,
            max_window: Self::DEFAULT_MAX_WINDOW,
        }
    }

    /// Refuses frames declaring a window larger than `bytes` (with
    /// [`Error::TooLarge`]): the decoder allocates the whole window, so this
    /// bounds its heap use. Producers at very high levels (19+) declare 8 MiB
    /// or more.
    pub fn with_max_window(mut self, bytes: u64) -> Self {
        self.max_window = bytes;
        self
    }

    /// The largest window accepted.
    pub fn max_window(&self) -> u64 {
        self.max_window
    }

    /// Decodes one frame whose header has been read into `output`; returns the
    /// bytes written.
    fn frame(&mut self, rest: &mut &[u8], output: &mut [u8]) -> Result<usize> {
        let declared = self.decoder.content_size();
        if declared > output.len() as u64 {
            let size = usize::try_from(declared).unwrap_or(usize::MAX);
            return Err(too_large(crate::Limit::Decompressed, size, output.len()));
        }
        let mut written = 0;
        loop {
            let finished = self
                .decoder
                .decode_blocks(&mut *rest, BlockDecodingStrategy::UptoBlocks(1))
                .map_err(|e| decode_error(&e, rest))?;
            written += self
                .decoder
                .read(&mut output[written..])
                .map_err(|_| Error::Malformed("zstd: corrupt frame"))?;
            if self.decoder.can_collect() > 0 {
                return Err(too_large(
                    crate::Limit::Decompressed,
                    written + self.decoder.can_collect(),
                    output.len(),
                ));
            }
            if finished {
                break;
            }
        }
        if let (Some(expected), Some(actual)) = (
            self.decoder.get_checksum_from_data(),
            self.decoder.get_calculated_checksum(),
        ) {
            if expected != actual {
                return Err(Error::BadCrc { expected, actual });
            }
        }
        Ok(written)
    }
}

impl Default for Zstd {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Zstd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zstd")
            .field("max_window", &self.max_window)
            .finish()
    }
}

/// The window a zstd frame header declares (RFC 8878 3.1.1.1), or `None`
/// when `frame` does not start with a readable frame header.
pub(super) fn declared_window(frame: &[u8]) -> Option<u64> {
    if frame.get(..4)? != [0x28, 0xb5, 0x2f, 0xfd] {
        return None;
    }
    let descriptor = *frame.get(4)?;
    if descriptor & 0x20 == 0 {
        // Window descriptor: exponent and mantissa.
        let wd = *frame.get(5)?;
        let base = 1u64 << (10 + (wd >> 3));
        return Some(base + (base / 8) * u64::from(wd & 7));
    }
    // Single segment: the window is the content size.
    let dict_len = [0, 1, 2, 4][usize::from(descriptor & 3)];
    let at = 5 + dict_len;
    let size = match descriptor >> 6 {
        0 => u64::from(*frame.get(at)?),
        1 => u64::from(u16::from_le_bytes(frame.get(at..at + 2)?.try_into().ok()?)) + 256,
        2 => u64::from(u32::from_le_bytes(frame.get(at..at + 4)?.try_into().ok()?)),
        _ => u64::from_le_bytes(frame.get(at..at + 8)?.try_into().ok()?),
    };
    Some(size)
}

/// Input that ran out mid-frame is truncated; anything else is corrupt.
fn decode_error(e: &FrameDecoderError, rest: &[u8]) -> Error {
    match *e {
        FrameDecoderError::WindowSizeTooBig { requested, max } => too_large(
            crate::Limit::ZstdWindow,
            usize::try_from(requested).unwrap_or(usize::MAX),
            usize::try_from(max).unwrap_or(usize::MAX),
        ),
        FrameDecoderError::DictNotProvided { .. } => {
            Error::Malformed("zstd: frames with a dictionary are not supported")
        }
        _ if rest.is_empty() => Error::Truncated,
        _ => Error::Malformed("zstd: corrupt frame"),
    }
}

/// The batch being compressed. ruzstd's compressor is generic over its
/// source type, so keeping it (and its match buffers) between batches needs a
/// source without a lifetime: the input is copied in (a memcpy, small next to
/// compressing it).
#[derive(Default)]
struct Source {
    buf: Vec<u8>,
    pos: usize,
}

impl Read for Source {
    fn read(&mut self, out: &mut [u8]) -> core::result::Result<usize, ruzstd::io::Error> {
        let rest = &self.buf[self.pos..];
        let n = rest.len().min(out.len());
        out[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl Codec for Zstd {
    fn compression(&self) -> Compression {
        Compression::Zstd
    }

    fn compress(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize> {
        let compressor = self
            .compressor
            .get_or_insert_with(|| Box::new(FrameCompressor::new(CompressionLevel::Fastest)));
        let mut source = compressor.take_source().unwrap_or_default();
        source.buf.clear();
        source.buf.extend_from_slice(input);
        source.pos = 0;
        compressor.set_source(source);
        let mut drain = compressor.take_drain().unwrap_or_default();
        drain.clear();
        compressor.set_drain(drain);
        compressor.compress();
        let frame = compressor.drain().map_or(&[][..], Vec::as_slice);
        output
            .get_mut(..frame.len())
            .ok_or(Error::BufferTooSmall)?
            .copy_from_slice(frame);
        Ok(frame.len())
    }

    fn decompress(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize> {
        if input.is_empty() {
            return Err(Error::Truncated);
        }
        let mut rest = input;
        let mut written = 0;
        while !rest.is_empty() {
            // A reused decoder reserves the frame's whole declared window up
            // front and keeps it (2 MiB for librdkafka's and Java's default
            // level); a fresh one grows with the output. Reuse it only when
            // the window is no larger than the output the caller accepts, so
            // the decoder never holds more than that.
            let limit = (output.len() - written) as u64;
            if declared_window(rest).is_none_or(|w| w > limit) {
                self.decoder = FrameDecoder::new();
            }
            self.decoder.set_max_window_size(self.max_window);
            match self.decoder.reset(&mut rest) {
                Ok(()) => {}
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    rest = rest.get(length as usize..).ok_or(Error::Truncated)?;
                    continue;
                }
                Err(e) => return Err(decode_error(&e, rest)),
            }
            written += self
                .frame(&mut rest, &mut output[written..])
                .map_err(|e| match e {
                    Error::TooLarge {
                        what: crate::Limit::Decompressed,
                        size,
                        ..
                    } => too_large(
                        crate::Limit::Decompressed,
                        written.saturating_add(size),
                        output.len(),
                    ),
                    e => e,
                })?;
        }
        Ok(written)
    }
}
