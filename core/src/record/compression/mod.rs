//! Compression: codec ids, the [`Codec`] hook, the codecs, and [`Codecs`].
//!
//! Kafka compresses a whole batch's records section with one codec, named by
//! the low three bits of the batch attributes (and, in legacy magic-0/1
//! message sets, a *wrapper* message whose value is a compressed inner
//! message set). Every codec here works between caller buffers: the builder
//! compresses the records section into a scratch buffer when a batch is
//! finished ([`RecordBatchBuilder::finish_compressed`]), and the batch view
//! decompresses into a scratch buffer when iterating
//! ([`RecordBatch::records_decompressed`]). **The scratch buffer's length is
//! the decompression limit**: a batch that would inflate past it (a
//! "zip bomb", or simply a batch larger than this consumer accepts) is
//! refused with [`Error::TooLarge`], never an allocation or a panic.
//!
//! [`Codecs`] holds one instance of every codec compiled in and picks the
//! right one for a batch; a single codec (e.g. [`Lz4`]) can be used wherever
//! `Codecs` can, when only one is wanted.
//!
//! ```
//! # #[cfg(feature = "lz4")] {
//! use microkafka_core::record::compression::{Codecs, Compression};
//! use microkafka_core::record::{BatchOptions, RecordBatch, RecordBatchBuilder};
//!
//! let mut codecs = Codecs::new();
//! let (mut buf, mut scratch) = ([0u8; 1024], [0u8; 1024]);
//! let mut builder = RecordBatchBuilder::new(&mut buf, BatchOptions::default()).unwrap();
//! builder.append(1_700_000_000_000, None, Some(b"hello hello hello"), &[]).unwrap();
//! let batch = builder
//!     .finish_compressed(codecs.codec(Compression::Lz4).unwrap(), &mut scratch)
//!     .unwrap();
//!
//! let batch = RecordBatch::new_verified(&*batch).unwrap();
//! let mut records_buf = [0u8; 1024]; // at most 1 KiB of records accepted
//! for record in batch.records_decompressed(&mut codecs, &mut records_buf).unwrap() {
//!     assert_eq!(record.unwrap().value, Some(&b"hello hello hello"[..]));
//! }
//! # }
//! ```
//!
//! # Availability
//!
//! One cargo feature per codec, plus `alloc` / `std` where a codec needs them.
//! "no alloc" means `#![no_std]` with no global allocator (the
//! microcontroller path); everything in that column is heap-free.
//!
//! | codec (feature) | no_std, no alloc | no_std + `alloc` | `std` |
//! |---|---|---|---|
//! | gzip (`gzip`) | decompress | decompress, compress | decompress, compress |
//! | snappy (`snappy`) | decompress | decompress | decompress, compress |
//! | lz4 (`lz4`) | decompress, compress | decompress, compress | decompress, compress |
//! | zstd (`zstd`, implies `alloc`) | — | decompress, compress (Fastest level) | decompress, compress (Fastest level) |
//!
//! Where a direction is missing, the codec returns
//! [`Error::UnsupportedCompression`] for it.
//!
//! Memory each needs (flash and stack measured on thumbv7em-none-eabihf,
//! heap on x86_64; `core/COMPRESSION.md` says how). "State" is the codec value
//! itself, kept wherever the caller keeps it; no codec keeps a window of its
//! own, output goes straight into the caller's buffer.
//!
//! | codec | flash | state | decompress: stack / heap | compress: stack / heap |
//! |---|---|---|---|---|
//! | lz4 | 8.7 KiB (both directions) | 0 | 0.2 KiB / 0 | 16.6 KiB (hash table) / 0 |
//! | gzip | 7.2 KiB (decompress) | 10.3 KiB (inflate tables) | 0.5 KiB / 0 | `alloc`: 312 KiB heap, once per [`Gzip`] |
//! | snappy | 2.8 KiB (decompress) | 0 (2 KiB with `std`) | 0.2 KiB / 0 | `std`: 32 KiB heap |
//! | zstd | — | 0.8 KiB | heap grows with the output (42 KiB for a 12.5 KB batch), at most the frame's window once reused | 0.5-3.7 MiB heap |
//!
//! Per-message codecs are not Kafka's model: the codec is per batch. See
//! `core/COMPRESSION.md` for what the Writer does with a per-message codec.
//!
//! [`RecordBatchBuilder::finish_compressed`]: crate::record::RecordBatchBuilder::finish_compressed
//! [`RecordBatch::records_decompressed`]: crate::record::RecordBatch::records_decompressed

use crate::error::{Error, Result};

mod codecs;
#[cfg(feature = "gzip")]
mod gzip;
#[cfg(feature = "lz4")]
mod lz4;
#[cfg(feature = "snappy")]
mod snappy;
#[cfg(feature = "snappy")]
mod snappy_raw;
#[cfg(feature = "zstd")]
mod zstd;

pub use codecs::{Codecs, NoCompression};
#[cfg(feature = "gzip")]
pub use gzip::Gzip;
#[cfg(feature = "lz4")]
pub use lz4::Lz4;
#[cfg(feature = "snappy")]
pub use snappy::{Snappy, SnappyFraming};
#[cfg(feature = "zstd")]
pub use zstd::Zstd;

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
    /// Every codec Kafka defines, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

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

    /// The largest output microkafka's compressor for this codec can produce
    /// from `input_len` bytes: size the scratch buffer of
    /// [`finish_compressed`](crate::record::RecordBatchBuilder::finish_compressed)
    /// with it. Incompressible input grows by a few bytes per block; every
    /// codec here stores such blocks uncompressed.
    pub const fn max_compressed_len(self, input_len: usize) -> usize {
        let n = input_len;
        match self {
            Compression::None => n,
            // gzip header + trailer, deflate stored-block headers (5 bytes per
            // block, miniz_oxide's blocks hold at least 16 KiB), end block.
            Compression::Gzip => 18 + n + 5 * (n / 16_384 + 1) + 8,
            // xerial header + per 32 KiB chunk: length prefix and snappy's
            // own bound (32 + len + len / 6).
            Compression::Snappy => 16 + (n / 32_768 + 1) * 36 + n + n / 6,
            // frame header (7) + per 64 KiB block a 4-byte size + end mark
            // and content checksum (8), plus the room lz4_flex wants free for
            // a block's worst case (it checks before compressing).
            Compression::Lz4 => {
                let block = if n < 65_536 { n } else { 65_536 };
                7 + (n / 65_536 + 1) * 4 + n + 8 + block / 10 + 21
            }
            // frame header (at most 18) + per 128 KiB block a 3-byte header
            // + content checksum.
            Compression::Zstd => 18 + (n / 131_072 + 1) * 3 + n + 4,
        }
    }
}

/// A compression codec working between caller buffers.
///
/// Implementations bound their output by `output.len()` and return
/// [`Error::BufferTooSmall`] (compress) or [`Error::TooLarge`] (decompress, a
/// "zip bomb" guard) rather than allocate past it. Corrupt or truncated input
/// is an error ([`Error::Malformed`], [`Error::Truncated`], [`Error::BadCrc`]),
/// never a panic.
pub trait Codec {
    /// Which codec this is (written into the batch attributes).
    fn compression(&self) -> Compression;
    /// Compresses `input` into `output`; returns the bytes written.
    fn compress(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize>;
    /// Decompresses `input` into `output`; returns the bytes written.
    fn decompress(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize>;
    /// Decompresses the value of a legacy (magic 0 or 1) wrapper message.
    ///
    /// The same as [`decompress`](Self::decompress) except for codecs whose
    /// old framing differed (lz4 before magic 2 may carry the wrong header
    /// checksum of KAFKA-3160).
    fn decompress_legacy(&mut self, magic: i8, input: &[u8], output: &mut [u8]) -> Result<usize> {
        let _ = magic;
        self.decompress(input, output)
    }
}

/// Finds the codec for a batch: implemented by [`Codecs`] (every codec
/// compiled in) and by each single [`Codec`] (itself, for its own id).
pub trait SelectCodec {
    /// The codec that handles `compression`, or
    /// [`Error::UnsupportedCompression`] when there is none.
    fn codec(&mut self, compression: Compression) -> Result<&mut dyn Codec>;
}

impl<C: Codec> SelectCodec for C {
    fn codec(&mut self, compression: Compression) -> Result<&mut dyn Codec> {
        if self.compression() == compression {
            Ok(self)
        } else {
            Err(Error::UnsupportedCompression(compression.id()))
        }
    }
}

impl SelectCodec for dyn Codec + '_ {
    fn codec(&mut self, compression: Compression) -> Result<&mut dyn Codec> {
        if self.compression() == compression {
            Ok(self)
        } else {
            Err(Error::UnsupportedCompression(compression.id()))
        }
    }
}

/// `TooLarge` for decompressed data that would not fit in `limit` bytes.
pub(crate) const fn too_large(what: crate::Limit, size: usize, limit: usize) -> Error {
    Error::TooLarge { what, size, limit }
}

#[cfg(test)]
mod tests;
