//! gzip (RFC 1952): members parsed here, DEFLATE by `miniz_oxide`.
//!
//! Inflation needs no allocator: `miniz_oxide`'s inflater writes straight into
//! the caller's output buffer (no 32 KiB window of its own, since the whole
//! output is addressable) and keeps only its Huffman tables (~11 KiB) in
//! [`Gzip`]. Deflation needs `alloc` (miniz_oxide's compressor state).

#[cfg(feature = "alloc")]
use alloc::boxed::Box;
use core::fmt;

#[cfg(feature = "alloc")]
use miniz_oxide::deflate::core::{
    compress as deflate, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush,
    TDEFLStatus,
};
use miniz_oxide::inflate::core::inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
use miniz_oxide::inflate::core::{decompress as inflate, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

use crate::error::{Error, Result};
use crate::record::compression::{too_large, Codec, Compression};
use crate::record::crc::crc32_ieee;

const MAGIC: [u8; 2] = [0x1f, 0x8b];
const CM_DEFLATE: u8 = 8;
const HEADER_LEN: usize = 10;
const TRAILER_LEN: usize = 8;

/// Header flag bits (FLG).
mod flag {
    pub(super) const FHCRC: u8 = 0x02;
    pub(super) const FEXTRA: u8 = 0x04;
    pub(super) const FNAME: u8 = 0x08;
    pub(super) const FCOMMENT: u8 = 0x10;
    pub(super) const RESERVED: u8 = 0xe0;
}

/// gzip: decompression everywhere, compression with `alloc`.
///
/// Reads every member of a (possibly multi-member) gzip stream, honouring the
/// optional header fields (FEXTRA, FNAME, FCOMMENT, FHCRC, whose CRC-16 is
/// checked) and checking each member's CRC-32 and ISIZE trailer. Writes one
/// member with mtime 0, no name, XFL as zlib sets it and OS 255 (unknown),
/// like librdkafka (zlib) and the Java client (`GZIPOutputStream`) apart from
/// the OS byte.
pub struct Gzip {
    inflater: DecompressorOxide,
    level: u8,
    #[cfg(feature = "alloc")]
    deflater: Option<Box<CompressorOxide>>,
}

impl Gzip {
    /// zlib's (and so librdkafka's and Java's) default level.
    pub const DEFAULT_LEVEL: u8 = 6;

    /// A gzip codec compressing at [`DEFAULT_LEVEL`](Self::DEFAULT_LEVEL).
    pub fn new() -> Self {
        Self::with_level(Self::DEFAULT_LEVEL)
    }

    /// A gzip codec compressing at `level` (0 = stored ... 9 = smallest;
    /// larger values are taken as 9). Kafka's `compression.gzip.level` has the
    /// same range.
    pub fn with_level(level: u8) -> Self {
        Gzip {
            inflater: DecompressorOxide::new(),
            level: level.min(9),
            #[cfg(feature = "alloc")]
            deflater: None,
        }
    }

    /// The compression level.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// Inflates one member from the start of `input` into `output`; returns
    /// the bytes of input it took and the bytes written, or `None` when the
    /// output is full before the member ends.
    fn member(&mut self, input: &[u8], output: &mut [u8]) -> Result<Option<(usize, usize)>> {
        let header = parse_header(input)?;
        self.inflater.init();
        let (status, used, written) = inflate(
            &mut self.inflater,
            &input[header..],
            output,
            0,
            TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
        );
        match status {
            TINFLStatus::Done => {}
            TINFLStatus::HasMoreOutput => return Ok(None),
            TINFLStatus::FailedCannotMakeProgress | TINFLStatus::NeedsMoreInput => {
                return Err(Error::Truncated)
            }
            _ => return Err(Error::Malformed("gzip: corrupt deflate data")),
        }
        let end = header + used;
        let trailer = input.get(end..end + TRAILER_LEN).ok_or(Error::Truncated)?;
        let expected = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let actual = crc32(&output[..written]);
        if expected != actual {
            return Err(Error::BadCrc { expected, actual });
        }
        let isize = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        // ISIZE is the length modulo 2^32.
        if isize != written as u32 {
            return Err(Error::Malformed(
                "gzip: ISIZE does not match the decompressed length",
            ));
        }
        Ok(Some((end + TRAILER_LEN, written)))
    }
}

impl Default for Gzip {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Gzip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gzip").field("level", &self.level).finish()
    }
}

/// The CRC-32 (IEEE) of member data, as the trailer stores it: with `std`,
/// `crc32fast` (carry-less multiply where the CPU has it, ~10x the table
/// version: without it gzip reading spends a quarter of its time here);
/// otherwise the core's 1 KiB-table CRC (16 KiB with `crc-slice16`).
fn crc32(data: &[u8]) -> u32 {
    #[cfg(feature = "std")]
    {
        crc32fast::hash(data)
    }
    #[cfg(not(feature = "std"))]
    {
        crc32_ieee(data)
    }
}

/// Checks a member header and returns its length.
fn parse_header(input: &[u8]) -> Result<usize> {
    let h = input.get(..HEADER_LEN).ok_or(Error::Truncated)?;
    if h[..2] != MAGIC {
        return Err(Error::Malformed("gzip: bad magic"));
    }
    if h[2] != CM_DEFLATE {
        return Err(Error::Malformed("gzip: compression method is not deflate"));
    }
    let flg = h[3];
    if flg & flag::RESERVED != 0 {
        return Err(Error::Malformed("gzip: reserved header flag set"));
    }
    let mut pos = HEADER_LEN;
    if flg & flag::FEXTRA != 0 {
        let xlen = input.get(pos..pos + 2).ok_or(Error::Truncated)?;
        pos += 2 + usize::from(u16::from_le_bytes([xlen[0], xlen[1]]));
    }
    for f in [flag::FNAME, flag::FCOMMENT] {
        if flg & f != 0 {
            let field = input.get(pos..).ok_or(Error::Truncated)?;
            let nul = field.iter().position(|&b| b == 0).ok_or(Error::Truncated)?;
            pos += nul + 1;
        }
    }
    if flg & flag::FHCRC != 0 {
        let stored = input.get(pos..pos + 2).ok_or(Error::Truncated)?;
        let expected = u32::from(u16::from_le_bytes([stored[0], stored[1]]));
        let actual = crc32_ieee(&input[..pos]) & 0xffff;
        if expected != actual {
            return Err(Error::BadCrc { expected, actual });
        }
        pos += 2;
    }
    if pos > input.len() {
        return Err(Error::Truncated);
    }
    Ok(pos)
}

impl Codec for Gzip {
    fn compression(&self) -> Compression {
        Compression::Gzip
    }

    #[cfg(feature = "alloc")]
    fn compress(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize> {
        if output.len() < HEADER_LEN + TRAILER_LEN {
            return Err(Error::BufferTooSmall);
        }
        let level = self.level;
        let deflater = self.deflater.get_or_insert_with(|| {
            // Negative window bits: a raw DEFLATE stream (no zlib wrapper).
            Box::new(CompressorOxide::new(create_comp_flags_from_zip_params(
                i32::from(level),
                -15,
                0,
            )))
        });
        deflater.reset();
        // XFL as zlib writes it: 2 = slowest/best, 4 = fastest.
        let xfl = match level {
            9 => 2,
            0 | 1 => 4,
            _ => 0,
        };
        output[..HEADER_LEN]
            .copy_from_slice(&[MAGIC[0], MAGIC[1], CM_DEFLATE, 0, 0, 0, 0, 0, xfl, 0xff]);
        let body_end = output.len() - TRAILER_LEN;
        let (status, used, written) = deflate(
            deflater,
            input,
            &mut output[HEADER_LEN..body_end],
            TDEFLFlush::Finish,
        );
        if status != TDEFLStatus::Done || used != input.len() {
            return Err(Error::BufferTooSmall);
        }
        let end = HEADER_LEN + written;
        output[end..end + 4].copy_from_slice(&crc32(input).to_le_bytes());
        output[end + 4..end + 8].copy_from_slice(&(input.len() as u32).to_le_bytes());
        Ok(end + TRAILER_LEN)
    }

    #[cfg(not(feature = "alloc"))]
    fn compress(&mut self, _input: &[u8], _output: &mut [u8]) -> Result<usize> {
        // miniz_oxide's deflate state lives on the heap.
        Err(Error::UnsupportedCompression(Compression::Gzip.id()))
    }

    fn decompress(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize> {
        let mut rest = input;
        let mut written = 0;
        loop {
            match self.member(rest, &mut output[written..])? {
                Some((used, n)) => {
                    written += n;
                    rest = &rest[used..];
                }
                None => {
                    return Err(too_large(
                        crate::Limit::Decompressed,
                        output.len() + 1,
                        output.len(),
                    ))
                }
            }
            // Further members are concatenated (RFC 1952 2.2); Java's
            // GZIPInputStream reads them too.
            if rest.is_empty() {
                return Ok(written);
            }
        }
    }
}
