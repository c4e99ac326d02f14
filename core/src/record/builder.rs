//! Builds a magic-2 record batch into a caller buffer.

use crate::error::{Error, Result};
use crate::record::batch::{field, Attributes, TimestampType, RECORD_BATCH_OVERHEAD};
use crate::record::compression::{Codec, Compression};
use crate::record::crc::crc32c;
use crate::wire::varint::{varint_len, varlong_len};
use crate::wire::{LenPrefix, Writer};

/// A header to attach to a record being built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader<'a> {
    /// The header key (UTF-8).
    pub key: &'a str,
    /// The header value; `None` writes a null value.
    pub value: Option<&'a [u8]>,
}

/// Batch-level settings fixed when the builder starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchOptions {
    /// Producer id for idempotence/transactions; -1 (default) when not used.
    pub producer_id: i64,
    /// Producer epoch; -1 (default) when not used.
    pub producer_epoch: i16,
    /// Sequence number of the first record; -1 (default) when not used.
    pub base_sequence: i32,
    /// Partition leader epoch; -1 (default) from producers (the broker sets it).
    pub partition_leader_epoch: i32,
    /// Base offset; 0 (default) from producers (the broker assigns offsets).
    pub base_offset: i64,
    /// Mark the batch transactional. Default false.
    pub transactional: bool,
    /// Timestamp type. Default [`TimestampType::CreateTime`].
    pub timestamp_type: TimestampType,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            partition_leader_epoch: -1,
            base_offset: 0,
            transactional: false,
            timestamp_type: TimestampType::CreateTime,
        }
    }
}

/// Appends records into a caller-provided buffer and finishes them into a
/// valid record batch (lengths, counts, offset deltas and CRC-32C filled in).
///
/// A record that does not fit is refused with [`Error::BufferTooSmall`] and
/// nothing is written: send the batch you have and start a new one.
///
/// ```
/// use microkafka_core::record::{BatchOptions, RecordBatch, RecordBatchBuilder, RecordHeader};
/// let mut buf = [0u8; 256];
/// let mut b = RecordBatchBuilder::new(&mut buf, BatchOptions::default()).unwrap();
/// b.append(1_700_000_000_000, Some(b"k"), Some(b"hello"), &[RecordHeader { key: "h", value: Some(b"v") }]).unwrap();
/// let bytes = b.finish().unwrap();
/// let batch = RecordBatch::new_verified(&*bytes).unwrap();
/// assert_eq!(batch.records_count(), 1);
/// ```
#[derive(Debug)]
pub struct RecordBatchBuilder<'b> {
    buf: &'b mut [u8],
    len: usize,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    options: BatchOptions,
}

impl<'b> RecordBatchBuilder<'b> {
    /// Starts a batch in `buf`; fails when `buf` cannot hold even the header.
    pub fn new(buf: &'b mut [u8], options: BatchOptions) -> Result<Self> {
        if buf.len() < RECORD_BATCH_OVERHEAD {
            return Err(Error::BufferTooSmall);
        }
        Ok(RecordBatchBuilder {
            buf,
            len: RECORD_BATCH_OVERHEAD,
            count: 0,
            base_timestamp: 0,
            max_timestamp: 0,
            options,
        })
    }

    /// Records appended so far.
    pub fn record_count(&self) -> i32 {
        self.count
    }

    /// True when no record has been appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the batch would take if finished now (uncompressed).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes left in the buffer.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.len
    }

    /// The bytes a record would take in a batch (length prefix included),
    /// given its timestamp delta and offset delta.
    pub fn encoded_record_len(
        timestamp_delta: i64,
        offset_delta: i32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> Result<usize> {
        let body = record_body_len(timestamp_delta, offset_delta, key, value, headers)?;
        Ok(varint_len(as_i32(body)?) + body)
    }

    /// True when the record would fit in the space left.
    pub fn fits(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> bool {
        let (ts_delta, _) = self.timestamp_delta(timestamp);
        Self::encoded_record_len(ts_delta, self.count, key, value, headers)
            .is_ok_and(|n| n <= self.remaining())
    }

    fn timestamp_delta(&self, timestamp: i64) -> (i64, i64) {
        let base = if self.count == 0 {
            timestamp
        } else {
            self.base_timestamp
        };
        (timestamp.wrapping_sub(base), base)
    }

    /// Appends a record with a create-time `timestamp` (ms since the epoch).
    ///
    /// Errors: [`Error::BufferTooSmall`] when it does not fit (nothing is
    /// written), [`Error::TooLarge`] when a field exceeds the protocol limits or
    /// the batch already holds `i32::MAX` records.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> Result<()> {
        if self.count == i32::MAX {
            return Err(Error::TooLarge {
                what: crate::Limit::RecordCount,
                size: i32::MAX as usize,
                limit: i32::MAX as usize - 1,
            });
        }
        let (ts_delta, base) = self.timestamp_delta(timestamp);
        let body = record_body_len(ts_delta, self.count, key, value, headers)?;
        let total = varint_len(as_i32(body)?) + body;
        if total > self.remaining() {
            return Err(Error::BufferTooSmall);
        }
        let mut w = Writer::new(&mut self.buf[self.len..self.len + total]);
        w.varint(as_i32(body)?)?;
        w.i8(0)?;
        w.varlong(ts_delta)?;
        w.varint(self.count)?;
        w.nullable_bytes_with(LenPrefix::Varint, key)?;
        w.nullable_bytes_with(LenPrefix::Varint, value)?;
        w.varint(as_i32(headers.len())?)?;
        for h in headers {
            w.bytes_with(LenPrefix::Varint, h.key.as_bytes())?;
            w.nullable_bytes_with(LenPrefix::Varint, h.value)?;
        }
        debug_assert_eq!(w.position(), total);
        self.len += total;
        self.max_timestamp = if self.count == 0 {
            timestamp
        } else {
            self.max_timestamp.max(timestamp)
        };
        self.base_timestamp = base;
        self.count += 1;
        Ok(())
    }

    /// Finishes an uncompressed batch; returns its bytes (a prefix of the buffer).
    ///
    /// An empty batch is refused: brokers reject batches without records.
    pub fn finish(self) -> Result<&'b mut [u8]> {
        self.seal(Compression::None)
    }

    /// Seals the batch where it is, without giving up the buffer: fills the
    /// header (lengths, counts, timestamps, options, CRC-32C) and returns the
    /// batch bytes (a prefix of the buffer), uncompressed.
    ///
    /// The builder stays usable: records appended later are part of the
    /// batch the next seal returns, and sealing again without appending
    /// returns the same bytes, so a producer can keep a batch in its own
    /// buffer until the broker acknowledges it and resend it unchanged. Use
    /// [`reset`](Self::reset) to start the next batch in the same buffer.
    ///
    /// An empty batch is refused, as in [`finish`](Self::finish).
    pub fn seal_in_place(&mut self) -> Result<&mut [u8]> {
        let len = self.write_header(Compression::None)?;
        Ok(&mut self.buf[..len])
    }

    /// The batch-level settings the next seal writes.
    pub fn options(&self) -> BatchOptions {
        self.options
    }

    /// Changes the batch-level settings (producer id, epoch, base sequence,
    /// ...) the next seal writes; the records are untouched.
    pub fn set_options(&mut self, options: BatchOptions) {
        self.options = options;
    }

    /// Drops every record and starts a new, empty batch with `options` in
    /// the same buffer.
    pub fn reset(&mut self, options: BatchOptions) {
        self.len = RECORD_BATCH_OVERHEAD;
        self.count = 0;
        self.base_timestamp = 0;
        self.max_timestamp = 0;
        self.options = options;
    }

    /// The whole buffer back (the batch, if any, is not sealed).
    pub fn into_inner(self) -> &'b mut [u8] {
        self.buf
    }

    /// Compresses the records with `codec` (through `scratch`, which must hold
    /// the compressed form) and finishes the batch.
    ///
    /// `scratch` of [`Compression::max_compressed_len`]`(self.len())` bytes
    /// is always enough; [`Codecs::codec`](crate::record::compression::Codecs::codec)
    /// gives the codec for a [`Compression`]. A codec that cannot compress in
    /// this build (e.g. gzip without `alloc`) gives
    /// [`Error::UnsupportedCompression`]; a compressed form that does not fit
    /// `scratch` or this builder's buffer, [`Error::BufferTooSmall`].
    pub fn finish_compressed(
        mut self,
        codec: &mut dyn Codec,
        scratch: &mut [u8],
    ) -> Result<&'b mut [u8]> {
        let compression = codec.compression();
        if compression == Compression::None {
            return self.finish();
        }
        let n = codec.compress(&self.buf[RECORD_BATCH_OVERHEAD..self.len], scratch)?;
        let end = RECORD_BATCH_OVERHEAD + n;
        self.buf
            .get_mut(RECORD_BATCH_OVERHEAD..end)
            .ok_or(Error::BufferTooSmall)?
            .copy_from_slice(&scratch[..n]);
        self.len = end;
        self.seal(compression)
    }

    fn seal(mut self, compression: Compression) -> Result<&'b mut [u8]> {
        let len = self.write_header(compression)?;
        let buf = self.buf;
        Ok(&mut buf[..len])
    }

    /// Fills the batch header for the records written so far; returns the
    /// batch length.
    fn write_header(&mut self, compression: Compression) -> Result<usize> {
        if self.count == 0 {
            return Err(Error::Malformed("a record batch needs at least one record"));
        }
        let o = self.options;
        let attributes = Attributes::default()
            .with_compression(compression)
            .with_transactional(o.transactional)
            .with_timestamp_type(o.timestamp_type);
        let b = &mut self.buf[..self.len];
        let batch_length = as_i32(self.len - field::LENGTH_BASE)?;
        b[field::BASE_OFFSET].copy_from_slice(&o.base_offset.to_be_bytes());
        b[field::BATCH_LENGTH].copy_from_slice(&batch_length.to_be_bytes());
        b[field::PARTITION_LEADER_EPOCH].copy_from_slice(&o.partition_leader_epoch.to_be_bytes());
        b[field::MAGIC] = 2;
        b[field::ATTRIBUTES].copy_from_slice(&attributes.0.to_be_bytes());
        b[field::LAST_OFFSET_DELTA].copy_from_slice(&(self.count - 1).to_be_bytes());
        b[field::BASE_TIMESTAMP].copy_from_slice(&self.base_timestamp.to_be_bytes());
        b[field::MAX_TIMESTAMP].copy_from_slice(&self.max_timestamp.to_be_bytes());
        b[field::PRODUCER_ID].copy_from_slice(&o.producer_id.to_be_bytes());
        b[field::PRODUCER_EPOCH].copy_from_slice(&o.producer_epoch.to_be_bytes());
        b[field::BASE_SEQUENCE].copy_from_slice(&o.base_sequence.to_be_bytes());
        b[field::RECORDS_COUNT].copy_from_slice(&self.count.to_be_bytes());
        let crc = crc32c(&b[field::CRC_START..]);
        b[field::CRC].copy_from_slice(&crc.to_be_bytes());
        Ok(self.len)
    }
}

fn as_i32(n: usize) -> Result<i32> {
    i32::try_from(n).map_err(|_| Error::TooLarge {
        what: crate::Limit::RecordField,
        size: n,
        limit: i32::MAX as usize,
    })
}

fn nullable_len(field: Option<&[u8]>) -> Result<usize> {
    match field {
        None => Ok(varint_len(-1)),
        Some(b) => Ok(varint_len(as_i32(b.len())?) + b.len()),
    }
}

fn record_body_len(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[RecordHeader<'_>],
) -> Result<usize> {
    let mut n = 1 + varlong_len(timestamp_delta) + varint_len(offset_delta);
    n += nullable_len(key)? + nullable_len(value)?;
    n += varint_len(as_i32(headers.len())?);
    for h in headers {
        n += nullable_len(Some(h.key.as_bytes()))? + nullable_len(h.value)?;
    }
    Ok(n)
}
