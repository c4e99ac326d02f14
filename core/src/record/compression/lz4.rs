//! The LZ4 frame format (what Kafka calls lz4) around `lz4_flex`'s block codec.
//!
//! `lz4_flex`'s own frame module needs `std`, so the frame is parsed and
//! written here, heap-free:
//!
//! ```text
//! magic 04 22 4D 18 | FLG | BD | [content size u64] | [dict id u32] | HC
//! blocks: size u32 LE (high bit = stored uncompressed) | data | [xxh32 of data]
//! end mark 00000000 | [content checksum: xxh32 of the decompressed frame]
//! ```
//!
//! HC is `(xxh32(FLG..=last descriptor byte) >> 8) & 0xff`. Kafka before
//! message format 1 hashed from the magic instead (KAFKA-3160); legacy
//! wrappers are read with either value.

use lz4_flex::block::{
    compress_into, decompress_into, decompress_into_with_dict, get_maximum_output_size,
    DecompressError,
};
use xxhash_rust::xxh32::xxh32;

use crate::error::{Error, Result};
use crate::record::compression::{too_large, Codec, Compression};

const MAGIC: u32 = 0x184D_2204;
/// Skippable frames: 0x184D2A50 ..= 0x184D2A5F.
const SKIPPABLE: u32 = 0x184D_2A50;
const SKIPPABLE_MASK: u32 = 0xFFFF_FFF0;

/// FLG bits.
mod flg {
    pub(super) const VERSION_MASK: u8 = 0xC0;
    pub(super) const VERSION_01: u8 = 0x40;
    pub(super) const BLOCK_INDEPENDENCE: u8 = 0x20;
    pub(super) const BLOCK_CHECKSUM: u8 = 0x10;
    pub(super) const CONTENT_SIZE: u8 = 0x08;
    pub(super) const CONTENT_CHECKSUM: u8 = 0x04;
    pub(super) const RESERVED: u8 = 0x02;
    pub(super) const DICT_ID: u8 = 0x01;
}

/// BD: bits 4-6 name the maximum block size; the others are reserved.
const BD_RESERVED: u8 = 0x8F;
/// The block size microkafka writes, as Java and librdkafka do: 64 KiB (BD 0x40).
const BLOCK_SIZE: usize = 64 * 1024;
const BD_64K: u8 = 4 << 4;
const UNCOMPRESSED_BIT: u32 = 0x8000_0000;
/// How far back a linked block may reach.
const WINDOW: usize = 64 * 1024;

/// lz4 (LZ4 frame format): both directions, heap-free.
///
/// Writes what the Java client (`KafkaLZ4BlockOutputStream`) and librdkafka
/// write: FLG `0x60` (version 1, independent blocks, no checksums, no content
/// size), BD `0x40` (64 KiB blocks), a block stored uncompressed when
/// compressing does not shrink it. Reads any LZ4 frame: linked or independent
/// blocks, block and content checksums (verified), content size (a declared
/// size over the limit is refused before decoding), skippable frames and
/// concatenated frames; dictionaries (dict id) are refused.
///
/// Compression builds lz4_flex's hash table on the stack: 8 KiB for inputs
/// under 64 KiB (all of microkafka's blocks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lz4 {
    content_checksum: bool,
}

impl Lz4 {
    /// Writes frames like Java and librdkafka (no content checksum).
    pub const fn new() -> Self {
        Lz4 {
            content_checksum: false,
        }
    }

    /// Also writes a content checksum (xxh32 of the uncompressed records):
    /// every reader checks it; it costs a hash pass when compressing.
    pub const fn with_content_checksum(mut self, on: bool) -> Self {
        self.content_checksum = on;
        self
    }

    fn decode(&self, input: &[u8], output: &mut [u8], legacy: bool) -> Result<usize> {
        if input.is_empty() {
            return Err(Error::Truncated);
        }
        let mut pos = 0;
        let mut written = 0;
        while pos < input.len() {
            let magic = le_u32(input, pos)?;
            if magic & SKIPPABLE_MASK == SKIPPABLE {
                let size = le_u32(input, pos + 4)? as usize;
                pos = (pos + 8)
                    .checked_add(size)
                    .filter(|&end| end <= input.len())
                    .ok_or(Error::Truncated)?;
                continue;
            }
            if magic != MAGIC {
                return Err(Error::Malformed("lz4: bad frame magic"));
            }
            let (used, n) = decode_frame(&input[pos..], output, written, legacy)?;
            pos += used;
            written += n;
        }
        Ok(written)
    }
}

fn le_u32(b: &[u8], at: usize) -> Result<u32> {
    let s = b.get(at..at + 4).ok_or(Error::Truncated)?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn header_checksum(descriptor: &[u8]) -> u8 {
    (xxh32(descriptor, 0) >> 8) as u8
}

fn limit_error(size: usize, limit: usize) -> Error {
    too_large(crate::Limit::Decompressed, size, limit)
}

/// Decodes one frame starting at `frame[0]` into `output[start..]`; returns the
/// bytes of input it took and the bytes it wrote.
fn decode_frame(
    frame: &[u8],
    output: &mut [u8],
    start: usize,
    legacy: bool,
) -> Result<(usize, usize)> {
    let descriptor = frame.get(4..6).ok_or(Error::Truncated)?;
    let (flags, bd) = (descriptor[0], descriptor[1]);
    if flags & flg::VERSION_MASK != flg::VERSION_01 {
        return Err(Error::Malformed("lz4: unsupported frame version"));
    }
    if flags & flg::RESERVED != 0 || bd & BD_RESERVED != 0 {
        return Err(Error::Malformed("lz4: reserved frame descriptor bit set"));
    }
    if flags & flg::DICT_ID != 0 {
        return Err(Error::Malformed(
            "lz4: frames with a dictionary are not supported",
        ));
    }
    let block_max = match bd >> 4 {
        4 => 64 << 10,
        5 => 256 << 10,
        6 => 1 << 20,
        7 => 4 << 20,
        _ => return Err(Error::Malformed("lz4: bad block maximum size")),
    };
    let mut pos = 6;
    let content_size = if flags & flg::CONTENT_SIZE != 0 {
        let b = frame.get(pos..pos + 8).ok_or(Error::Truncated)?;
        pos += 8;
        Some(u64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    } else {
        None
    };
    let hc = *frame.get(pos).ok_or(Error::Truncated)?;
    let expected = header_checksum(&frame[4..pos]);
    // KAFKA-3160: old producers hashed the magic too.
    if hc != expected && !(legacy && hc == header_checksum(&frame[..pos])) {
        return Err(Error::BadCrc {
            expected: expected.into(),
            actual: hc.into(),
        });
    }
    pos += 1;
    let limit = output.len();
    if let Some(size) = content_size {
        if size > (limit - start) as u64 {
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            return Err(limit_error(start.saturating_add(size), limit));
        }
    }

    let mut written = start;
    loop {
        let word = le_u32(frame, pos)?;
        pos += 4;
        if word == 0 {
            break;
        }
        let len = (word & !UNCOMPRESSED_BIT) as usize;
        if len > block_max {
            return Err(Error::Malformed(
                "lz4: block larger than the frame's maximum",
            ));
        }
        let data = frame.get(pos..pos + len).ok_or(Error::Truncated)?;
        pos += len;
        if flags & flg::BLOCK_CHECKSUM != 0 {
            let expected = le_u32(frame, pos)?;
            pos += 4;
            let actual = xxh32(data, 0);
            if expected != actual {
                return Err(Error::BadCrc { expected, actual });
            }
        }
        let room = limit - written;
        if word & UNCOMPRESSED_BIT != 0 {
            if len > room {
                return Err(limit_error(written + len, limit));
            }
            output[written..written + len].copy_from_slice(data);
            written += len;
            continue;
        }
        let cap = block_max.min(room);
        let decoded = if flags & flg::BLOCK_INDEPENDENCE != 0 {
            decompress_into(data, &mut output[written..written + cap])
        } else {
            // Linked blocks may copy from the previous 64 KiB of this frame.
            let (before, after) = output.split_at_mut(written);
            let dict = &before[start.max(written.saturating_sub(WINDOW))..];
            decompress_into_with_dict(data, &mut after[..cap], dict)
        };
        match decoded {
            Ok(n) => written += n,
            Err(DecompressError::OutputTooSmall { .. }) if cap < block_max => {
                return Err(limit_error(limit + 1, limit))
            }
            Err(_) => return Err(Error::Malformed("lz4: corrupt block")),
        }
    }
    if flags & flg::CONTENT_CHECKSUM != 0 {
        let expected = le_u32(frame, pos)?;
        pos += 4;
        let actual = xxh32(&output[start..written], 0);
        if expected != actual {
            return Err(Error::BadCrc { expected, actual });
        }
    }
    if let Some(size) = content_size {
        if size != (written - start) as u64 {
            return Err(Error::Malformed(
                "lz4: content size does not match the frame",
            ));
        }
    }
    Ok((pos, written - start))
}

impl Codec for Lz4 {
    fn compression(&self) -> Compression {
        Compression::Lz4
    }

    fn compress(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize> {
        let mut flags = flg::VERSION_01 | flg::BLOCK_INDEPENDENCE;
        if self.content_checksum {
            flags |= flg::CONTENT_CHECKSUM;
        }
        let header = output.get_mut(..7).ok_or(Error::BufferTooSmall)?;
        header[..4].copy_from_slice(&MAGIC.to_le_bytes());
        header[4] = flags;
        header[5] = BD_64K;
        header[6] = header_checksum(&header[4..6]);
        let mut pos = 7;
        for block in input.chunks(BLOCK_SIZE) {
            let body = pos + 4;
            if output.len() < body + get_maximum_output_size(block.len()) {
                return Err(Error::BufferTooSmall);
            }
            let word = match compress_into(block, &mut output[body..]) {
                Ok(n) if n < block.len() => n as u32,
                // Not smaller (or not compressible at all): store it.
                _ => {
                    output[body..body + block.len()].copy_from_slice(block);
                    block.len() as u32 | UNCOMPRESSED_BIT
                }
            };
            output[pos..body].copy_from_slice(&word.to_le_bytes());
            pos = body + (word & !UNCOMPRESSED_BIT) as usize;
        }
        let trailer = if self.content_checksum { 8 } else { 4 };
        let end = output
            .get_mut(pos..pos + trailer)
            .ok_or(Error::BufferTooSmall)?;
        end[..4].copy_from_slice(&0u32.to_le_bytes());
        if self.content_checksum {
            end[4..].copy_from_slice(&xxh32(input, 0).to_le_bytes());
        }
        Ok(pos + trailer)
    }

    fn decompress(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize> {
        self.decode(input, output, false)
    }

    fn decompress_legacy(&mut self, _magic: i8, input: &[u8], output: &mut [u8]) -> Result<usize> {
        self.decode(input, output, true)
    }
}
