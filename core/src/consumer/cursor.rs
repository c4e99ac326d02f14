//! [`FetchCursor`]: one fetched partition's records, one at a time, in offset order.

use heapless::vec::VecView;

use crate::error::{Error, Result};
use crate::protocol::messages::FetchAbortedTransaction;
use crate::record::compression::{Compression, SelectCodec};
use crate::record::{
    Batch, ControlRecord, ControlRecordType, Headers, LegacyMessage, RecordBatch, RecordSet,
    Records, TimestampType, RECORD_BATCH_OVERHEAD,
};
use crate::wire::{Array, Reader};

/// One record as a consumer sees it: absolute offset and timestamp, key,
/// value and headers borrowed from the fetched bytes (or from the scratch
/// buffer a compressed batch was decompressed into).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsumedRecord<'a> {
    /// The record's offset in its partition.
    pub offset: i64,
    /// Milliseconds since the Unix epoch; -1 when unknown (magic-0 messages).
    pub timestamp: i64,
    /// Whether the producer or the broker set the timestamp.
    pub timestamp_type: TimestampType,
    /// The key; `None` is a null key.
    pub key: Option<&'a [u8]>,
    /// The value; `None` is a null value (a tombstone).
    pub value: Option<&'a [u8]>,
    /// The headers (always empty for magic-0/1 messages).
    pub headers: Headers<'a>,
    /// The partition leader epoch of the batch; -1 for magic-0/1 messages.
    pub leader_epoch: i32,
}

/// A magic-2 batch being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BatchState {
    /// Records are at `at..end` of the fetched bytes, or of the scratch
    /// buffer when the batch was compressed.
    in_scratch: bool,
    at: usize,
    end: usize,
    /// Records not located yet.
    left: i32,
    base_offset: i64,
    base_timestamp: i64,
    /// The batch's max timestamp when the broker set the timestamps.
    log_append_time: Option<i64>,
    leader_epoch: i32,
    /// The offset after the batch.
    next_offset: i64,
}

/// Magic-0/1 messages being read: one uncompressed message in the fetched
/// bytes, or the inner messages of a compressed wrapper in the scratch buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LegacyState {
    in_scratch: bool,
    at: usize,
    end: usize,
    /// Added to inner offsets (magic-1 inner offsets are relative).
    shift: i64,
    /// The wrapper's timestamp when the broker set the timestamps.
    log_append_time: Option<i64>,
    /// The offset after the entry (the wrapper's offset is the last inner one's).
    next_offset: i64,
}

/// Where the cursor is inside the current entry of the record set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    /// Between entries: the next call opens the entry at `FetchCursor::pos`.
    Between,
    Batch(BatchState),
    Legacy(LegacyState),
}

/// A record located (and validated) by [`FetchCursor::advance`], parsed
/// again for [`FetchCursor::current`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Found {
    V2 {
        in_scratch: bool,
        at: usize,
        len: usize,
        offset: i64,
        batch: BatchState,
    },
    Legacy {
        in_scratch: bool,
        at: usize,
        len: usize,
        offset: i64,
        log_append_time: Option<i64>,
    },
}

/// The `read_committed` state of one fetched partition (one Fetch
/// response's partition), for [`FetchCursor::next_committed`]: its last
/// stable offset and the producers whose aborted transaction is open at
/// the cursor's position, at most `N` of them.
///
/// It follows the Java consumer (`CompletedFetch`): the partition's
/// `aborted_transactions` (producer id, first offset) become active when
/// the cursor reaches a batch whose last offset is at or past their first
/// offset; a transactional batch of an active producer is skipped; that
/// producer's ABORT marker ends it. Records at or above the last stable
/// offset are not returned, and the next fetch starts at most there.
///
/// Make a new one for every Fetch response (the broker lists, in each, the
/// aborted transactions that overlap the fetched range, so a transaction
/// spanning two fetches is listed in both).
///
/// `N` bounds the producers with an aborted transaction open at the same
/// place in the log: the (N+1)th gives [`Error::TooLarge`] with
/// [`Limit::AbortedProducers`](crate::Limit::AbortedProducers), and the
/// cursor stops there (fetch again from [`FetchCursor::next_offset`] with
/// a larger `N`). 16 bytes plus 8 per producer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadCommitted<const N: usize> {
    last_stable_offset: i64,
    /// Aborted transactions whose first offset is at or below this are
    /// already in `active` (or were ended by their marker).
    consumed_to: i64,
    active: heapless::Vec<i64, N>,
}

impl<const N: usize> ReadCommitted<N> {
    /// The state for a partition whose Fetch response gave
    /// `last_stable_offset` (-1, as Fetch v0-3 have none: no cut).
    pub const fn new(last_stable_offset: i64) -> Self {
        ReadCommitted {
            last_stable_offset,
            consumed_to: i64::MIN,
            active: heapless::Vec::new(),
        }
    }

    /// The last stable offset: records from here on are not returned.
    pub const fn last_stable_offset(&self) -> i64 {
        self.last_stable_offset
    }

    /// The producers whose aborted transaction is open at the cursor.
    pub fn aborted_producers(&self) -> &[i64] {
        &self.active
    }
}

/// What the cursor consults in `read_committed` (the non-generic half of
/// [`ReadCommitted`], so the cursor's code is not repeated for every `N`).
struct Committed<'s, 'l> {
    aborted: Option<Array<'l, FetchAbortedTransaction>>,
    /// Records at or above are not returned (`i64::MAX`: no cut).
    stable_end: i64,
    consumed_to: &'s mut i64,
    active: &'s mut VecView<i64>,
}

impl Committed<'_, '_> {
    /// Activates the aborted transactions that start at or before `last`.
    fn consume_up_to(&mut self, last: i64) -> Result<()> {
        if last <= *self.consumed_to {
            return Ok(());
        }
        if let Some(aborted) = self.aborted {
            for t in aborted.iter() {
                if t.first_offset > *self.consumed_to
                    && t.first_offset <= last
                    && !self.active.contains(&t.producer_id)
                {
                    self.active
                        .push(t.producer_id)
                        .map_err(|_| Error::TooLarge {
                            what: crate::Limit::AbortedProducers,
                            size: self.active.capacity() + 1,
                            limit: self.active.capacity(),
                        })?;
                }
            }
        }
        *self.consumed_to = last;
        Ok(())
    }

    /// Whether `batch` is to be read: false for a batch of an open aborted
    /// transaction (and for control batches, whose ABORT marker ends one).
    fn admits(&mut self, batch: &RecordBatch<&[u8]>) -> Result<bool> {
        let attributes = batch.attributes();
        let producer = batch.producer_id();
        if producer < 0 {
            return Ok(!attributes.is_control());
        }
        self.consume_up_to(batch.last_offset())?;
        if attributes.is_control() {
            if attributes.compression()? != Compression::None {
                return Err(Error::Malformed("compressed control batch"));
            }
            let marker = batch
                .records()?
                .next()
                .ok_or(Error::Malformed("empty control batch"))??;
            let key = marker
                .key
                .ok_or(Error::Malformed("control record without a key"))?;
            if ControlRecord::parse(key)?.kind == ControlRecordType::Abort {
                self.active.retain(|&p| p != producer);
            }
            return Ok(false);
        }
        Ok(!(attributes.is_transactional() && self.active.contains(&producer)))
    }
}

/// Reads one fetched partition's `records` bytes record by record.
///
/// The cursor stores positions, never borrows: every call to
/// [`next`](Self::next) takes the same fetched bytes and a scratch buffer,
/// and the record it returns borrows one of them. That lets a consumer keep
/// the cursor beside its buffers (in a struct, or across `await`s) and hand
/// out records without copying them.
///
/// - Batches of every codec `codecs` can open are read; each compressed batch
///   is decompressed once, into `scratch`, whose length is the largest
///   records section accepted ([`Error::TooLarge`] past it).
/// - Records below the fetch offset are skipped: a broker returns whole
///   batches, so the first one may start before the offset asked for.
/// - Control batches (transaction markers) are skipped.
/// - [`next`](Self::next) reads uncommitted (every batch, as
///   `read_uncommitted`); [`next_committed`](Self::next_committed) hides
///   aborted transactions and stops at the last stable offset
///   (`read_committed`, see [`ReadCommitted`]).
/// - Legacy magic-0/1 messages, compressed or not, come out like records.
/// - A partial last batch (the broker cut it to honour `max_bytes`) ends the
///   iteration without error; [`truncated_tail`](Self::truncated_tail) says so.
/// - CRCs are verified. After an error the cursor yields nothing more: the
///   bytes cannot be trusted, fetch again from [`next_offset`](Self::next_offset).
///
/// [`next_offset`](Self::next_offset) is where the next Fetch must start:
/// one past the last record returned or skipped, and past the end of every
/// batch fully read (so compacted-away offsets and control batches are not
/// fetched again).
///
/// ```
/// use microkafka_core::consumer::FetchCursor;
/// use microkafka_core::record::compression::Codecs;
/// use microkafka_core::record::{BatchOptions, RecordBatchBuilder};
///
/// let mut buf = [0u8; 256];
/// let mut b = RecordBatchBuilder::new(&mut buf, BatchOptions { base_offset: 40, ..Default::default() }).unwrap();
/// for v in [b"a", b"b", b"c"] {
///     b.append(1_700_000_000_000, None, Some(v), &[]).unwrap();
/// }
/// let fetched = b.finish().unwrap();
///
/// // The consumer asked for offset 41: the batch starts at 40.
/// let mut cursor = FetchCursor::new(41);
/// let (mut codecs, mut scratch) = (Codecs::new(), [0u8; 0]);
/// let mut values = Vec::new();
/// while let Some(record) = cursor.next(fetched, &mut codecs, &mut scratch) {
///     let record = record.unwrap();
///     values.push((record.offset, record.value.unwrap()[0]));
/// }
/// assert_eq!(values, [(41, b'b'), (42, b'c')]);
/// assert_eq!(cursor.next_offset(), 43);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchCursor {
    pos: usize,
    entry: Entry,
    found: Option<Found>,
    next_offset: i64,
    verify_crc: bool,
    truncated: bool,
    failed: bool,
}

impl FetchCursor {
    /// A cursor for bytes fetched from `fetch_offset`.
    pub const fn new(fetch_offset: i64) -> Self {
        FetchCursor {
            pos: 0,
            entry: Entry::Between,
            found: None,
            next_offset: fetch_offset,
            verify_crc: true,
            truncated: false,
            failed: false,
        }
    }

    /// Skips CRC verification (the data was verified already).
    pub const fn without_crc_check(mut self) -> Self {
        self.verify_crc = false;
        self
    }

    /// The offset the next Fetch must start at.
    pub const fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// True once iteration stopped at a partial last batch.
    pub const fn truncated_tail(&self) -> bool {
        self.truncated
    }

    /// True after an error: nothing more will be returned.
    pub const fn failed(&self) -> bool {
        self.failed
    }

    /// The next record at or above the fetch offset, or `None` at the end:
    /// [`advance`](Self::advance) then [`current`](Self::current).
    ///
    /// `records` must be the same bytes on every call; `scratch` must keep
    /// its contents between calls (a compressed batch is decompressed into
    /// it once, when the cursor enters the batch).
    pub fn next<'a, S: SelectCodec + ?Sized>(
        &mut self,
        records: &'a [u8],
        codecs: &mut S,
        scratch: &'a mut [u8],
    ) -> Option<Result<ConsumedRecord<'a>>> {
        match self.advance(records, codecs, scratch) {
            Ok(true) => self.current(records, scratch).map(Ok),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// The next committed record (`read_committed`): as [`next`](Self::next),
    /// but batches of aborted transactions are skipped and nothing at or
    /// above the last stable offset is returned. `aborted` is the
    /// partition's `aborted_transactions` from the same Fetch response, and
    /// `txn` the state made for it ([`ReadCommitted::new`]); pass the same
    /// ones on every call.
    ///
    /// Errors: as [`next`](Self::next), and [`Error::TooLarge`] when more
    /// than `N` producers' aborted transactions are open at once.
    pub fn next_committed<'a, S: SelectCodec + ?Sized, const N: usize>(
        &mut self,
        records: &'a [u8],
        aborted: Option<Array<'_, FetchAbortedTransaction>>,
        txn: &mut ReadCommitted<N>,
        codecs: &mut S,
        scratch: &'a mut [u8],
    ) -> Option<Result<ConsumedRecord<'a>>> {
        match self.advance_committed(records, aborted, txn, codecs, scratch) {
            Ok(true) => self.current(records, scratch).map(Ok),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// [`advance`](Self::advance) in `read_committed`: see
    /// [`next_committed`](Self::next_committed).
    pub fn advance_committed<S: SelectCodec + ?Sized, const N: usize>(
        &mut self,
        records: &[u8],
        aborted: Option<Array<'_, FetchAbortedTransaction>>,
        txn: &mut ReadCommitted<N>,
        codecs: &mut S,
        scratch: &mut [u8],
    ) -> Result<bool> {
        let mut committed = Committed {
            aborted,
            stable_end: if txn.last_stable_offset < 0 {
                i64::MAX
            } else {
                txn.last_stable_offset
            },
            consumed_to: &mut txn.consumed_to,
            active: txn.active.as_mut_view(),
        };
        self.step(records, codecs, scratch, Some(&mut committed))
    }

    /// Moves to the next record at or above the fetch offset and validates
    /// it; false at the end (or after an error). Read it with
    /// [`current`](Self::current).
    ///
    /// The two steps exist for callers that hand records out from a loop
    /// which refills the buffers (an async consumer): `advance` needs the
    /// scratch buffer mutably, `current` only shares it.
    pub fn advance<S: SelectCodec + ?Sized>(
        &mut self,
        records: &[u8],
        codecs: &mut S,
        scratch: &mut [u8],
    ) -> Result<bool> {
        self.step(records, codecs, scratch, None)
    }

    fn step<S: SelectCodec + ?Sized>(
        &mut self,
        records: &[u8],
        codecs: &mut S,
        scratch: &mut [u8],
        mut committed: Option<&mut Committed<'_, '_>>,
    ) -> Result<bool> {
        self.found = None;
        if self.failed {
            return Ok(false);
        }
        match self.locate(records, codecs, scratch, &mut committed) {
            Ok(found) => {
                self.found = found;
                Ok(found.is_some())
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// The record the last successful [`advance`](Self::advance) moved to,
    /// read from the same `records` and `scratch`; `None` before that, at
    /// the end, or when handed other bytes than `advance` validated.
    pub fn current<'a>(&self, records: &'a [u8], scratch: &'a [u8]) -> Option<ConsumedRecord<'a>> {
        Self::read(self.found?, records, scratch).ok()
    }

    /// Moves to the next record to return and says where it is.
    fn locate<S: SelectCodec + ?Sized>(
        &mut self,
        records: &[u8],
        codecs: &mut S,
        scratch: &mut [u8],
        committed: &mut Option<&mut Committed<'_, '_>>,
    ) -> Result<Option<Found>> {
        let stable_end = committed.as_ref().map_or(i64::MAX, |c| c.stable_end);
        loop {
            match self.entry {
                Entry::Between => {
                    if !self.open(records, codecs, scratch, committed)? {
                        return Ok(None);
                    }
                }
                Entry::Batch(mut b) => {
                    let section = if b.in_scratch { &*scratch } else { records };
                    let rest = section.get(b.at..b.end).ok_or(Error::Truncated)?;
                    if b.left == 0 {
                        if !rest.is_empty() {
                            return Err(Error::Malformed("bytes after the declared record count"));
                        }
                        self.finish_entry(b.next_offset);
                        continue;
                    }
                    // length varint, then attributes, timestamp delta, offset delta.
                    let mut r = Reader::new(rest);
                    let body = usize::try_from(r.varint()?).map_err(|_| Error::InvalidLength)?;
                    let len = r.position().checked_add(body).ok_or(Error::InvalidLength)?;
                    if len > rest.len() {
                        return Err(Error::Truncated);
                    }
                    r.i8()?;
                    r.varlong()?;
                    let offset = b.base_offset.wrapping_add(i64::from(r.varint()?));
                    if offset >= stable_end {
                        // Not stable yet: the next fetch reads it again.
                        return Ok(None);
                    }
                    if offset >= self.next_offset {
                        // Validated here so `current` cannot fail.
                        Records::new(&rest[..len], 1)
                            .next()
                            .ok_or(Error::Truncated)??;
                    }
                    let at = b.at;
                    b.at += len;
                    b.left -= 1;
                    self.entry = Entry::Batch(b);
                    if offset >= self.next_offset {
                        self.next_offset = offset.wrapping_add(1);
                        return Ok(Some(Found::V2 {
                            in_scratch: b.in_scratch,
                            at,
                            len,
                            offset,
                            batch: b,
                        }));
                    }
                }
                Entry::Legacy(mut l) => {
                    if l.at >= l.end {
                        self.finish_entry(l.next_offset);
                        continue;
                    }
                    let section = if l.in_scratch { &*scratch } else { records };
                    let rest = section.get(l.at..l.end).ok_or(Error::Truncated)?;
                    let (message, len) = LegacyMessage::parse(rest)?;
                    if l.in_scratch {
                        if self.verify_crc {
                            message.verify_crc()?;
                        }
                        if message.compression()? != Compression::None {
                            return Err(Error::Malformed("nested compressed legacy message"));
                        }
                    }
                    let offset = message.offset.wrapping_add(l.shift);
                    if offset >= stable_end {
                        return Ok(None);
                    }
                    let at = l.at;
                    l.at += len;
                    self.entry = Entry::Legacy(l);
                    if offset >= self.next_offset {
                        self.next_offset = offset.wrapping_add(1);
                        return Ok(Some(Found::Legacy {
                            in_scratch: l.in_scratch,
                            at,
                            len,
                            offset,
                            log_append_time: l.log_append_time,
                        }));
                    }
                }
            }
        }
    }

    fn finish_entry(&mut self, next_offset: i64) {
        self.next_offset = self.next_offset.max(next_offset);
        self.entry = Entry::Between;
    }

    /// Opens the entry at `pos`; false at the end of the record set.
    fn open<S: SelectCodec + ?Sized>(
        &mut self,
        records: &[u8],
        codecs: &mut S,
        scratch: &mut [u8],
        committed: &mut Option<&mut Committed<'_, '_>>,
    ) -> Result<bool> {
        let rest = records.get(self.pos..).unwrap_or_default();
        let mut set = RecordSet::new(rest);
        if !self.verify_crc {
            set = set.without_crc_check();
        }
        let entry = match set.next() {
            None => {
                self.truncated |= set.truncated_tail();
                self.pos = records.len();
                return Ok(false);
            }
            Some(entry) => entry?,
        };
        let start = self.pos;
        match entry {
            Batch::V2(batch) => {
                if let Some(c) = committed {
                    if batch.base_offset() >= c.stable_end {
                        // Past the last stable offset: the end for now, and
                        // the same answer if asked again.
                        return Ok(false);
                    }
                    if !c.admits(&batch)? {
                        // Aborted, or a marker: skipped whole.
                        self.pos = start + batch.total_len();
                        self.next_offset = self.next_offset.max(batch.next_offset());
                        return Ok(true);
                    }
                }
                self.pos = start + batch.total_len();
                self.open_batch(&batch, start, codecs, scratch)
            }
            Batch::Legacy(message) => {
                if committed
                    .as_ref()
                    .is_some_and(|c| message.offset >= c.stable_end)
                {
                    return Ok(false);
                }
                let (_, used) = LegacyMessage::parse(rest)?;
                self.pos = start + used;
                self.open_legacy(&message, start, used, codecs, scratch)
            }
        }?;
        Ok(true)
    }

    fn open_batch<S: SelectCodec + ?Sized>(
        &mut self,
        batch: &RecordBatch<&[u8]>,
        start: usize,
        codecs: &mut S,
        scratch: &mut [u8],
    ) -> Result<()> {
        let next_offset = batch.next_offset();
        let attributes = batch.attributes();
        if attributes.is_control() || next_offset <= self.next_offset {
            // Transaction markers, or a batch wholly below the fetch offset:
            // not decompressed, not read.
            self.next_offset = self.next_offset.max(next_offset);
            return Ok(());
        }
        let compression = attributes.compression()?;
        let (in_scratch, at, end) = if compression == Compression::None {
            (
                false,
                start + RECORD_BATCH_OVERHEAD,
                start + batch.total_len(),
            )
        } else {
            let n = codecs
                .codec(compression)?
                .decompress(batch.records_bytes(), scratch)?;
            (true, 0, n)
        };
        self.entry = Entry::Batch(BatchState {
            in_scratch,
            at,
            end,
            left: batch.records_count(),
            base_offset: batch.base_offset(),
            base_timestamp: batch.base_timestamp(),
            log_append_time: match attributes.timestamp_type() {
                TimestampType::LogAppendTime => Some(batch.max_timestamp()),
                TimestampType::CreateTime => None,
            },
            leader_epoch: batch.partition_leader_epoch(),
            next_offset,
        });
        Ok(())
    }

    fn open_legacy<S: SelectCodec + ?Sized>(
        &mut self,
        message: &LegacyMessage<'_>,
        start: usize,
        used: usize,
        codecs: &mut S,
        scratch: &mut [u8],
    ) -> Result<()> {
        let next_offset = message.offset.wrapping_add(1);
        if next_offset <= self.next_offset {
            self.next_offset = self.next_offset.max(next_offset);
            return Ok(());
        }
        let compression = message.compression()?;
        if compression == Compression::None {
            self.entry = Entry::Legacy(LegacyState {
                in_scratch: false,
                at: start,
                end: start + used,
                shift: 0,
                log_append_time: None,
                next_offset,
            });
            return Ok(());
        }
        let value = message.value.ok_or(Error::Malformed(
            "compressed legacy message without a value",
        ))?;
        let n = codecs
            .codec(compression)?
            .decompress_legacy(message.magic, value, scratch)?;
        let shift = if message.magic >= 1 {
            // Relative inner offsets: the wrapper carries the last one's absolute offset.
            let mut last = None;
            let mut rest = &scratch[..n];
            while !rest.is_empty() {
                let (inner, len) = LegacyMessage::parse(rest)?;
                last = Some(inner.offset);
                rest = &rest[len..];
            }
            let last = last.ok_or(Error::Malformed("empty compressed legacy message set"))?;
            message.offset.wrapping_sub(last)
        } else {
            0
        };
        self.entry = Entry::Legacy(LegacyState {
            in_scratch: true,
            at: 0,
            end: n,
            shift,
            log_append_time: match message.timestamp_type() {
                TimestampType::LogAppendTime => message.timestamp,
                TimestampType::CreateTime => None,
            },
            next_offset,
        });
        Ok(())
    }

    /// Parses the record `locate` found.
    fn read<'a>(found: Found, records: &'a [u8], scratch: &'a [u8]) -> Result<ConsumedRecord<'a>> {
        match found {
            Found::V2 {
                in_scratch,
                at,
                len,
                offset,
                batch,
            } => {
                let section = if in_scratch { scratch } else { records };
                let one = section.get(at..at + len).ok_or(Error::Truncated)?;
                let record = Records::new(one, 1).next().ok_or(Error::Truncated)??;
                let (timestamp, timestamp_type) = match batch.log_append_time {
                    Some(t) => (t, TimestampType::LogAppendTime),
                    None => (
                        batch.base_timestamp.wrapping_add(record.timestamp_delta),
                        TimestampType::CreateTime,
                    ),
                };
                Ok(ConsumedRecord {
                    offset,
                    timestamp,
                    timestamp_type,
                    key: record.key,
                    value: record.value,
                    headers: record.headers,
                    leader_epoch: batch.leader_epoch,
                })
            }
            Found::Legacy {
                in_scratch,
                at,
                len,
                offset,
                log_append_time,
            } => {
                let section = if in_scratch { scratch } else { records };
                let one = section.get(at..at + len).ok_or(Error::Truncated)?;
                let (message, _) = LegacyMessage::parse(one)?;
                let (timestamp, timestamp_type) = match (log_append_time, message.timestamp) {
                    (Some(t), _) => (t, TimestampType::LogAppendTime),
                    (None, Some(t)) => (t, message.timestamp_type()),
                    (None, None) => (-1, TimestampType::CreateTime),
                };
                Ok(ConsumedRecord {
                    offset,
                    timestamp,
                    timestamp_type,
                    key: message.key,
                    value: message.value,
                    headers: no_headers(),
                    leader_epoch: -1,
                })
            }
        }
    }
}

/// Empty headers for magic-0/1 messages, which have none. `Headers` has no
/// public constructor, so they come from a static record without headers
/// (length 6, attributes 0, deltas 0, null key, null value, 0 headers).
fn no_headers() -> Headers<'static> {
    const RECORD: &[u8] = &[0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00];
    match Records::new(RECORD, 1).next() {
        Some(Ok(record)) => record.headers,
        _ => unreachable!("a constant, valid record"),
    }
}

/// Where the Fetch after this one starts, from batch headers alone: one past
/// the last complete entry of `records` (a partial last batch is left for
/// the next fetch), or `fetch_offset` when there is none.
///
/// No record is decompressed and no CRC checked, so a prefetching consumer
/// can send its next Fetch at once; the records are checked when read
/// (through a [`FetchCursor`]). Returns `(next offset, truncated tail)`.
pub fn next_fetch_offset(records: &[u8], fetch_offset: i64) -> Result<(i64, bool)> {
    let mut set = RecordSet::new(records).without_crc_check();
    let mut next = fetch_offset;
    for entry in set.by_ref() {
        next = next.max(match entry? {
            Batch::V2(batch) => batch.next_offset(),
            // A wrapper's offset is that of its last inner message.
            Batch::Legacy(message) => message.offset.wrapping_add(1),
        });
    }
    Ok((next, set.truncated_tail()))
}
