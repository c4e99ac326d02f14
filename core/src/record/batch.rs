//! A zero-copy view over a magic-2 record batch.

use crate::error::{Error, Result};
use crate::record::compression::{Compression, SelectCodec};
use crate::record::crc::crc32c;
use crate::record::Records;

/// Byte ranges of the batch header (KIP-98 layout).
pub(crate) mod field {
    use core::ops::Range;
    pub(crate) const BASE_OFFSET: Range<usize> = 0..8;
    pub(crate) const BATCH_LENGTH: Range<usize> = 8..12;
    pub(crate) const PARTITION_LEADER_EPOCH: Range<usize> = 12..16;
    pub(crate) const MAGIC: usize = 16;
    pub(crate) const CRC: Range<usize> = 17..21;
    pub(crate) const ATTRIBUTES: Range<usize> = 21..23;
    pub(crate) const LAST_OFFSET_DELTA: Range<usize> = 23..27;
    pub(crate) const BASE_TIMESTAMP: Range<usize> = 27..35;
    pub(crate) const MAX_TIMESTAMP: Range<usize> = 35..43;
    pub(crate) const PRODUCER_ID: Range<usize> = 43..51;
    pub(crate) const PRODUCER_EPOCH: Range<usize> = 51..53;
    pub(crate) const BASE_SEQUENCE: Range<usize> = 53..57;
    pub(crate) const RECORDS_COUNT: Range<usize> = 57..61;
    pub(crate) const RECORDS: usize = 61;
    /// The CRC covers everything from the attributes to the end.
    pub(crate) const CRC_START: usize = ATTRIBUTES.start;
    /// `batchLength` counts the bytes after itself.
    pub(crate) const LENGTH_BASE: usize = BATCH_LENGTH.end;
}

/// Bytes of batch header before the first record (61).
pub const RECORD_BATCH_OVERHEAD: usize = field::RECORDS;

/// How a batch's timestamps were set (attribute bit 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TimestampType {
    /// Set by the producer when the record was created.
    CreateTime,
    /// Set by the broker when the batch was appended.
    LogAppendTime,
}

/// The batch attributes (`int16`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Attributes(pub i16);

impl Attributes {
    const COMPRESSION_MASK: i16 = 0x07;
    const TIMESTAMP_TYPE: i16 = 0x08;
    const TRANSACTIONAL: i16 = 0x10;
    const CONTROL: i16 = 0x20;
    const DELETE_HORIZON: i16 = 0x40;

    /// The compression codec (bits 0-2).
    pub const fn compression(self) -> Result<Compression> {
        Compression::from_id((self.0 & Self::COMPRESSION_MASK) as u8)
    }
    /// The timestamp type (bit 3).
    pub const fn timestamp_type(self) -> TimestampType {
        if self.0 & Self::TIMESTAMP_TYPE != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
    /// Part of a transaction (bit 4).
    pub const fn is_transactional(self) -> bool {
        self.0 & Self::TRANSACTIONAL != 0
    }
    /// A control batch holding transaction markers (bit 5); consumers skip it.
    pub const fn is_control(self) -> bool {
        self.0 & Self::CONTROL != 0
    }
    /// The base timestamp is a delete horizon (bit 6, compacted topics).
    pub const fn has_delete_horizon(self) -> bool {
        self.0 & Self::DELETE_HORIZON != 0
    }
    /// These attributes with the codec set.
    pub const fn with_compression(self, c: Compression) -> Self {
        Attributes((self.0 & !Self::COMPRESSION_MASK) | c.id() as i16)
    }
    /// These attributes with the transactional bit set or cleared.
    pub const fn with_transactional(self, on: bool) -> Self {
        Attributes(if on {
            self.0 | Self::TRANSACTIONAL
        } else {
            self.0 & !Self::TRANSACTIONAL
        })
    }
    /// These attributes with the timestamp type set.
    pub const fn with_timestamp_type(self, t: TimestampType) -> Self {
        match t {
            TimestampType::CreateTime => Attributes(self.0 & !Self::TIMESTAMP_TYPE),
            TimestampType::LogAppendTime => Attributes(self.0 | Self::TIMESTAMP_TYPE),
        }
    }
}

/// A view over one magic-2 record batch in a buffer.
///
/// [`new_checked`](Self::new_checked) validates the header and length once;
/// after that getters index without re-checking. The view covers exactly the
/// batch: bytes after it in the buffer are ignored (see
/// [`total_len`](Self::total_len)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordBatch<T: AsRef<[u8]>> {
    buffer: T,
}

macro_rules! be_getters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty = $range:expr;)*) => {$(
        $(#[$doc])*
        #[inline]
        pub fn $name(&self) -> $ty {
            let b = &self.buffer.as_ref()[$range];
            <$ty>::from_be_bytes(b.try_into().unwrap_or_default())
        }
    )*};
}

impl<T: AsRef<[u8]>> RecordBatch<T> {
    /// Wraps a buffer holding a batch at its start, checking that the header
    /// is complete, the magic is 2, and `batchLength` fits in the buffer.
    /// The CRC is not checked: see [`verify_crc`](Self::verify_crc).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < RECORD_BATCH_OVERHEAD {
            return Err(Error::Truncated);
        }
        if b[field::MAGIC] as i8 != 2 {
            return Err(Error::UnsupportedMagic(b[field::MAGIC] as i8));
        }
        let batch = RecordBatch { buffer };
        let length = batch.batch_length();
        let total = usize::try_from(length).map_err(|_| Error::InvalidLength)? + field::LENGTH_BASE;
        if total < RECORD_BATCH_OVERHEAD {
            return Err(Error::Malformed(
                "batchLength shorter than the batch header",
            ));
        }
        if total > batch.buffer.as_ref().len() {
            return Err(Error::Truncated);
        }
        if batch.records_count() < 0 {
            return Err(Error::Malformed("negative record count"));
        }
        Ok(batch)
    }

    /// [`new_checked`](Self::new_checked) plus a CRC-32C check.
    pub fn new_verified(buffer: T) -> Result<Self> {
        let batch = Self::new_checked(buffer)?;
        batch.verify_crc()?;
        Ok(batch)
    }

    /// Checks the stored CRC-32C against the batch contents.
    pub fn verify_crc(&self) -> Result<()> {
        let actual = self.compute_crc();
        let expected = self.crc();
        if actual == expected {
            Ok(())
        } else {
            Err(Error::BadCrc { expected, actual })
        }
    }

    /// The CRC-32C of the batch from the attributes to the end.
    pub fn compute_crc(&self) -> u32 {
        crc32c(&self.as_bytes()[field::CRC_START..])
    }

    /// The batch's bytes (exactly `total_len` of them).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.total_len()]
    }

    /// Bytes the batch occupies: `batchLength` + 12.
    pub fn total_len(&self) -> usize {
        self.batch_length() as usize + field::LENGTH_BASE
    }

    /// Gives back the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    be_getters! {
        /// Offset of the first record (assigned by the broker).
        base_offset: i64 = field::BASE_OFFSET;
        /// Bytes after the `batchLength` field.
        batch_length: i32 = field::BATCH_LENGTH;
        /// The leader epoch of the partition when the batch was appended.
        partition_leader_epoch: i32 = field::PARTITION_LEADER_EPOCH;
        /// The stored CRC-32C.
        crc: u32 = field::CRC;
        /// Offset of the last record relative to the base offset.
        last_offset_delta: i32 = field::LAST_OFFSET_DELTA;
        /// Timestamp of the first record (or the delete horizon).
        base_timestamp: i64 = field::BASE_TIMESTAMP;
        /// Largest timestamp in the batch.
        max_timestamp: i64 = field::MAX_TIMESTAMP;
        /// Producer id, -1 without idempotence.
        producer_id: i64 = field::PRODUCER_ID;
        /// Producer epoch, -1 without idempotence.
        producer_epoch: i16 = field::PRODUCER_EPOCH;
        /// Sequence number of the first record, -1 without idempotence.
        base_sequence: i32 = field::BASE_SEQUENCE;
        /// Number of records in the batch.
        records_count: i32 = field::RECORDS_COUNT;
    }

    /// The magic byte (always 2 for a checked batch).
    pub fn magic(&self) -> i8 {
        self.buffer.as_ref()[field::MAGIC] as i8
    }

    /// The attributes.
    pub fn attributes(&self) -> Attributes {
        let b = &self.buffer.as_ref()[field::ATTRIBUTES];
        Attributes(i16::from_be_bytes([b[0], b[1]]))
    }

    /// Offset of the last record in the batch.
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .saturating_add(self.last_offset_delta().into())
    }

    /// Offset the next batch starts at.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    /// The records section as stored (compressed when the batch is).
    pub fn records_bytes(&self) -> &[u8] {
        &self.as_bytes()[field::RECORDS..]
    }

    /// Iterates the records of an uncompressed batch.
    ///
    /// A compressed batch gives [`Error::UnsupportedCompression`]; use
    /// [`records_decompressed`](Self::records_decompressed), which reads both.
    pub fn records(&self) -> Result<Records<'_>> {
        match self.attributes().compression()? {
            Compression::None => Ok(Records::new(self.records_bytes(), self.records_count())),
            other => Err(Error::UnsupportedCompression(other.id())),
        }
    }

    /// Iterates the records of any batch: an uncompressed one in place, a
    /// compressed one decompressed into `scratch` by the codec `codecs` picks
    /// for it (a [`Codecs`](crate::record::compression::Codecs), or a single
    /// codec).
    ///
    /// `scratch.len()` is the largest records section accepted: a batch that
    /// would decompress to more is refused with [`Error::TooLarge`] (a "zip
    /// bomb" guard), a codec that is not compiled in with
    /// [`Error::UnsupportedCompression`]. An uncompressed batch does not touch
    /// `scratch`, so an empty one will do when no codec is compiled in.
    pub fn records_decompressed<'s, S: SelectCodec + ?Sized>(
        &'s self,
        codecs: &mut S,
        scratch: &'s mut [u8],
    ) -> Result<Records<'s>> {
        let compression = self.attributes().compression()?;
        if compression == Compression::None {
            return self.records();
        }
        let n = codecs
            .codec(compression)?
            .decompress(self.records_bytes(), scratch)?;
        Ok(Records::new(&scratch[..n], self.records_count()))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RecordBatch<T> {
    /// Sets the base offset. Outside the CRC: a broker assigns offsets without
    /// re-checksumming.
    pub fn set_base_offset(&mut self, offset: i64) {
        self.buffer.as_mut()[field::BASE_OFFSET].copy_from_slice(&offset.to_be_bytes());
    }

    /// Sets the partition leader epoch (also outside the CRC).
    pub fn set_partition_leader_epoch(&mut self, epoch: i32) {
        self.buffer.as_mut()[field::PARTITION_LEADER_EPOCH].copy_from_slice(&epoch.to_be_bytes());
    }
}
