//! A partition's log: record batches stored as received, in segments.
//!
//! Batches are appended back to back into the active segment's buffer, so a
//! Fetch answers with one contiguous slice of whole batches and never copies
//! or re-encodes records. The only writes into stored bytes are the fields a
//! broker owns and that sit outside the CRC: the base offset and the
//! partition leader epoch (magic 2), or each message's offset (magic 0/1).
//! Retention drops whole segments from the front, as Kafka does, once the
//! partition holds more than its retention bytes.

use std::collections::VecDeque;

use microkafka_core::record::compression::Codecs;
use microkafka_core::record::{Batch, Compression, RecordBatch, RecordSet, Records};
use microkafka_core::ErrorCode;

/// One stored batch (or legacy message set) and where it sits in its segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    /// Offset of the first record.
    base: i64,
    /// Offset of the last record.
    last: i64,
    /// Start of the entry in the segment buffer.
    pos: usize,
    /// Bytes of the entry.
    len: usize,
    /// Largest record timestamp in the entry, -1 when the format has none.
    max_timestamp: i64,
}

#[derive(Debug, Default)]
struct Segment {
    buf: Vec<u8>,
    entries: Vec<Entry>,
}

impl Segment {
    fn base(&self) -> Option<i64> {
        self.entries.first().map(|e| e.base)
    }
}

/// The log of one partition.
#[derive(Debug)]
pub(crate) struct PartitionLog {
    /// Never empty: the last segment is the active one.
    segments: VecDeque<Segment>,
    log_start: i64,
    next_offset: i64,
    bytes: usize,
    retention_bytes: usize,
    segment_bytes: usize,
    /// Compaction: the log end of the closed segments at the last pass, and
    /// whether that pass kept tombstones (which a later pass may drop).
    compacted_upto: i64,
    tombstones_kept: bool,
}

/// A magic-0/1 message set to store: the bytes and where each message starts.
pub(crate) struct LegacySet<'a> {
    /// The whole message set.
    pub(crate) bytes: &'a [u8],
    /// `(where a message entry starts in bytes, how many messages it stands
    /// for)`: 1, or the inner count of a compressed wrapper.
    pub(crate) entries: &'a [(usize, i64)],
    /// Largest message timestamp, -1 for magic 0.
    pub(crate) max_timestamp: i64,
}

impl PartitionLog {
    /// An empty log with the given retention and segment size.
    pub(crate) fn new(retention_bytes: usize, segment_bytes: usize) -> Self {
        PartitionLog {
            segments: VecDeque::from([Segment::default()]),
            log_start: 0,
            next_offset: 0,
            bytes: 0,
            retention_bytes,
            segment_bytes: segment_bytes.max(1),
            compacted_upto: 0,
            tombstones_kept: false,
        }
    }

    /// The first offset still stored.
    pub(crate) fn log_start(&self) -> i64 {
        self.log_start
    }

    /// The offset the next record gets (log end offset). Every replica is in
    /// sync in the mock, so this is also the high watermark and, without
    /// transactions, the last stable offset.
    pub(crate) fn end_offset(&self) -> i64 {
        self.next_offset
    }

    /// Bytes currently stored.
    pub(crate) fn size_bytes(&self) -> usize {
        self.bytes
    }

    /// Changes the partition's `retention.bytes` and applies it now.
    pub(crate) fn set_retention_bytes(&mut self, retention_bytes: usize) {
        self.retention_bytes = retention_bytes;
        self.enforce_retention();
    }

    /// DeleteRecords: moves the log start to `offset` (-1: the high
    /// watermark) and drops the segments wholly below it, as Kafka's
    /// `deleteRecordsOnLeader` does; returns the new log start (the low
    /// watermark). An offset past the log end is `OFFSET_OUT_OF_RANGE`;
    /// one at or below the log start changes nothing.
    pub(crate) fn delete_records(&mut self, offset: i64) -> Result<i64, ErrorCode> {
        let offset = if offset == -1 {
            self.next_offset
        } else {
            offset
        };
        if offset < 0 || offset > self.next_offset {
            return Err(ErrorCode::OFFSET_OUT_OF_RANGE);
        }
        if offset > self.log_start {
            self.log_start = offset;
            self.drop_segments_below(offset);
        }
        Ok(self.log_start)
    }

    /// Drops leading segments whose every record is below `offset`; when
    /// that is every segment, the log rolls a new empty one (Kafka rolls
    /// before deleting its active segment).
    fn drop_segments_below(&mut self, offset: i64) {
        while let Some(front) = self.segments.front() {
            let below = front.entries.last().is_some_and(|e| e.last < offset);
            if !below {
                break;
            }
            if let Some(dropped) = self.segments.pop_front() {
                self.bytes -= dropped.buf.len();
            }
        }
        if self.segments.is_empty() {
            self.segments.push_back(Segment::default());
        }
    }

    /// Time retention (`retention.ms`): drops segments from the front while
    /// their newest record is older than `cutoff_ms`, the active one
    /// included, as Kafka's `deleteRetentionMsBreachedSegments`. Legacy
    /// magic-0 entries carry no timestamp and never expire by time.
    /// Returns true when anything was dropped.
    pub(crate) fn expire_before(&mut self, cutoff_ms: i64) -> bool {
        let mut dropped = false;
        while let Some(front) = self.segments.front() {
            let newest = front.entries.iter().map(|e| e.max_timestamp).max();
            match newest {
                Some(ts) if ts >= 0 && ts < cutoff_ms => {
                    if let Some(last) = front.entries.last() {
                        self.log_start = self.log_start.max(last.last + 1);
                    }
                    if let Some(segment) = self.segments.pop_front() {
                        self.bytes -= segment.buf.len();
                    }
                    dropped = true;
                }
                _ => break,
            }
        }
        if self.segments.is_empty() {
            self.segments.push_back(Segment::default());
        }
        dropped
    }

    /// `segment.ms`: rolls the active segment when its first record is
    /// more than `segment_ms` older than `now_ms` (Kafka rolls by the
    /// first batch's timestamp), so retention and compaction can act on it.
    pub(crate) fn roll_if_older(&mut self, now_ms: i64, segment_ms: i64) {
        let due = self.segments.back().is_some_and(|s| {
            s.entries
                .first()
                .is_some_and(|e| e.max_timestamp >= 0 && now_ms - e.max_timestamp > segment_ms)
        });
        if due {
            self.segments.push_back(Segment::default());
        }
    }

    /// Compaction (`cleanup.policy=compact`) of the closed segments, as
    /// Kafka's log cleaner (which never touches the active segment): keeps
    /// the latest record of each key, drops tombstones (null values) whose
    /// batch is older than `tombstone_horizon_ms` (`delete.retention.ms`
    /// ago), keeps records without a key. Batches left empty go; segments
    /// left empty go. Runs only when closed segments changed since the last
    /// pass, or tombstones were kept. Returns true when the log changed.
    pub(crate) fn compact(&mut self, tombstone_horizon_ms: i64, max_inflated: usize) -> bool {
        let closed = self.segments.len() - 1;
        let closed_end = self
            .segments
            .iter()
            .take(closed)
            .filter_map(|s| s.entries.last())
            .map(|e| e.last + 1)
            .max();
        let Some(closed_end) = closed_end else {
            return false;
        };
        if closed_end <= self.compacted_upto && !self.tombstones_kept {
            return false;
        }
        // Pass 1: the latest offset of every key in the cleanable part.
        let mut latest: std::collections::HashMap<Vec<u8>, i64> = Default::default();
        let mut decoded: Vec<Vec<Option<Vec<crate::compaction::Rec>>>> = Vec::new();
        for s in self.segments.iter().take(closed) {
            let mut per_entry = Vec::with_capacity(s.entries.len());
            for e in &s.entries {
                let records =
                    crate::compaction::records_of(&s.buf[e.pos..e.pos + e.len], max_inflated);
                for r in records.iter().flatten() {
                    if let Some(k) = &r.key {
                        latest.insert(k.clone(), e.base + i64::from(r.offset_delta));
                    }
                }
                per_entry.push(records);
            }
            decoded.push(per_entry);
        }
        // Pass 2: rewrite each closed segment.
        let mut changed = false;
        let mut tombstones_kept = false;
        for (s, per_entry) in self.segments.iter_mut().take(closed).zip(decoded) {
            let mut buf = Vec::with_capacity(s.buf.len());
            let mut entries = Vec::with_capacity(s.entries.len());
            for (e, records) in s.entries.iter().zip(per_entry) {
                let bytes = &s.buf[e.pos..e.pos + e.len];
                let stored = match records {
                    None => Some(bytes.to_vec()),
                    Some(records) => {
                        let total = records.len();
                        let kept: Vec<_> = records
                            .into_iter()
                            .filter(|r| {
                                let offset = e.base + i64::from(r.offset_delta);
                                let newest = r
                                    .key
                                    .as_ref()
                                    .is_none_or(|k| latest.get(k) == Some(&offset));
                                let expired_tombstone =
                                    r.value.is_none() && e.max_timestamp < tombstone_horizon_ms;
                                newest && !expired_tombstone
                            })
                            .collect();
                        tombstones_kept |= kept.iter().any(|r| r.value.is_none());
                        if kept.len() == total {
                            Some(bytes.to_vec())
                        } else if kept.is_empty() {
                            None
                        } else {
                            Some(crate::compaction::rewrite(bytes, &kept))
                        }
                    }
                };
                match stored {
                    Some(b) => {
                        changed |= b.len() != e.len;
                        entries.push(Entry {
                            pos: buf.len(),
                            len: b.len(),
                            ..*e
                        });
                        buf.extend_from_slice(&b);
                    }
                    None => changed = true,
                }
            }
            self.bytes = self.bytes - s.buf.len() + buf.len();
            s.buf = buf;
            s.entries = entries;
        }
        // An empty segment in the middle would break the search by base offset.
        let active = self.segments.pop_back();
        self.segments.retain(|s| !s.entries.is_empty());
        self.segments.extend(active);
        self.compacted_upto = closed_end;
        self.tombstones_kept = tombstones_kept;
        changed
    }

    /// Drops the oldest segment unless it is the active one (retention across
    /// partitions); returns the bytes freed.
    pub(crate) fn drop_oldest_segment(&mut self) -> usize {
        if self.segments.len() < 2 {
            return 0;
        }
        let Some(dropped) = self.segments.pop_front() else {
            return 0;
        };
        self.bytes -= dropped.buf.len();
        if let Some(base) = self.segments.front().and_then(Segment::base) {
            // Never backwards: DeleteRecords may have moved it past the base.
            self.log_start = self.log_start.max(base);
        }
        dropped.buf.len()
    }

    /// Stores a magic-2 batch (already validated by the caller), assigning
    /// offsets from the log end. Returns the base offset.
    ///
    /// `batch` must be a whole batch that passed `RecordBatch::new_checked`;
    /// anything else is a bug in the caller and stores nothing.
    pub(crate) fn append_batch(&mut self, batch: &[u8], leader_epoch: i32) -> Option<i64> {
        let view = RecordBatch::new_checked(batch).ok()?;
        let count = i64::from(view.last_offset_delta()) + 1;
        let max_timestamp = view.max_timestamp();
        let base = self.next_offset;
        let (segment, pos) = self.reserve(batch);
        let mut stored = RecordBatch::new_checked(&mut segment.buf[pos..]).ok()?;
        stored.set_base_offset(base);
        stored.set_partition_leader_epoch(leader_epoch);
        self.commit(base, count, pos, batch.len(), max_timestamp);
        Some(base)
    }

    /// Stores a legacy (magic 0/1) message set, patching each message's
    /// offset (a wrapper's is that of its last inner message). Returns the
    /// base offset.
    pub(crate) fn append_legacy(&mut self, set: &LegacySet<'_>) -> i64 {
        let base = self.next_offset;
        let (segment, pos) = self.reserve(set.bytes);
        let mut count = 0;
        for &(start, messages) in set.entries {
            count += messages;
            let at = pos + start;
            if let Some(field) = segment.buf.get_mut(at..at + 8) {
                field.copy_from_slice(&(base + count - 1).to_be_bytes());
            }
        }
        self.commit(base, count, pos, set.bytes.len(), set.max_timestamp);
        base
    }

    /// Copies `bytes` to the end of the active segment (rolling a new one when
    /// the active one is full); returns the segment and where the copy starts.
    fn reserve(&mut self, bytes: &[u8]) -> (&mut Segment, usize) {
        let roll = self.segments.back().is_some_and(|s| {
            !s.entries.is_empty() && s.buf.len() + bytes.len() > self.segment_bytes
        });
        if roll {
            self.segments.push_back(Segment::default());
        }
        let segment = self
            .segments
            .back_mut()
            .expect("a log always has an active segment");
        let pos = segment.buf.len();
        segment.buf.extend_from_slice(bytes);
        (segment, pos)
    }

    fn commit(&mut self, base: i64, count: i64, pos: usize, len: usize, max_timestamp: i64) {
        let segment = self
            .segments
            .back_mut()
            .expect("a log always has an active segment");
        segment.entries.push(Entry {
            base,
            last: base + count - 1,
            pos,
            len,
            max_timestamp,
        });
        self.next_offset = base + count;
        self.bytes += len;
        self.enforce_retention();
    }

    fn enforce_retention(&mut self) {
        while self.bytes > self.retention_bytes && self.segments.len() > 1 {
            let Some(dropped) = self.segments.pop_front() else {
                break;
            };
            self.bytes -= dropped.buf.len();
            if let Some(base) = self.segments.front().and_then(Segment::base) {
                self.log_start = self.log_start.max(base);
            }
        }
        // Only the active segment left: its first entry is the start.
        if let Some(base) = self.segments.front().and_then(Segment::base) {
            self.log_start = self.log_start.max(base);
        }
    }

    /// Whole entries from the one holding `offset`, up to `max_bytes`, as one
    /// slice of stored bytes. The first entry is returned even when it is
    /// larger than `max_bytes` if `first_always` (Kafka's KIP-74 rule for the
    /// first partition with data in a response), so a consumer never stalls
    /// on a big batch. Reads stop at a segment boundary; the consumer's next
    /// Fetch continues from there. Empty at or past the log end.
    #[cfg(test)]
    pub(crate) fn read(&self, offset: i64, max_bytes: usize, first_always: bool) -> &[u8] {
        self.read_below(offset, max_bytes, first_always, i64::MAX)
    }

    /// As [`read`](Self::read), without the entries that start at or above
    /// `limit` (a read_committed fetch stops at the last stable offset).
    pub(crate) fn read_below(
        &self,
        offset: i64,
        max_bytes: usize,
        first_always: bool,
        limit: i64,
    ) -> &[u8] {
        if offset >= self.next_offset.min(limit) || offset < self.log_start {
            return &[];
        }
        // The segment whose first base offset is <= offset (the last such).
        let si = self
            .segments
            .partition_point(|s| s.base().is_some_and(|b| b <= offset))
            .saturating_sub(1);
        let Some(segment) = self.segments.get(si) else {
            return &[];
        };
        let first = segment.entries.partition_point(|e| e.last < offset);
        let Some(start) = segment.entries.get(first) else {
            return &[];
        };
        let mut end = start.pos;
        for e in &segment.entries[first..] {
            if e.base >= limit {
                break;
            }
            let len = e.pos + e.len - start.pos;
            if len > max_bytes && !(first_always && end == start.pos) {
                break;
            }
            end = e.pos + e.len;
        }
        &segment.buf[start.pos..end]
    }

    /// A copy of every stored entry holding `offset` or later (for inspection).
    pub(crate) fn copy_from(&self, offset: i64) -> Vec<u8> {
        let mut out = Vec::new();
        for (segment, e) in self.entries().filter(|(_, e)| e.last >= offset) {
            out.extend_from_slice(&segment.buf[e.pos..e.pos + e.len]);
        }
        out
    }

    fn entries(&self) -> impl Iterator<Item = (&Segment, &Entry)> {
        self.segments
            .iter()
            .flat_map(|s| s.entries.iter().map(move |e| (s, e)))
    }

    /// The first offset whose timestamp is at or after `timestamp`, with that
    /// timestamp (ListOffsets by time); `None` when every record is older.
    ///
    /// Magic-2 batches are searched record by record (decompressing a
    /// compressed one); in a legacy set the answer is the entry's first
    /// offset and largest timestamp. A batch is inflated to at most
    /// `max_inflated` bytes (beyond it, the batch's first offset answers).
    pub(crate) fn offset_for_timestamp(
        &self,
        timestamp: i64,
        max_inflated: usize,
    ) -> Option<(i64, i64)> {
        let (segment, entry) = self.entries().find(|(_, e)| e.max_timestamp >= timestamp)?;
        let bytes = &segment.buf[entry.pos..entry.pos + entry.len];
        if let Some((delta, ts)) = first_record_at_or_after(bytes, timestamp, max_inflated) {
            return Some((entry.base + delta, ts));
        }
        Some((entry.base, entry.max_timestamp))
    }

    /// The offset of the record with the largest timestamp and that timestamp
    /// (ListOffsets `-3`, KIP-734); the earliest such record on ties.
    pub(crate) fn max_timestamp_offset(&self, max_inflated: usize) -> Option<(i64, i64)> {
        let mut best: Option<(&Segment, &Entry)> = None;
        for (s, e) in self.entries() {
            if best.is_none_or(|(_, b)| e.max_timestamp > b.max_timestamp) {
                best = Some((s, e));
            }
        }
        let (segment, entry) = best?;
        let bytes = &segment.buf[entry.pos..entry.pos + entry.len];
        match first_record_at_or_after(bytes, entry.max_timestamp, max_inflated) {
            Some((delta, ts)) => Some((entry.base + delta, ts)),
            None => Some((entry.last, entry.max_timestamp)),
        }
    }
}

/// In a magic-2 batch, the offset delta and timestamp of the first record
/// whose timestamp is at or after `timestamp`. A compressed batch is
/// decompressed here, the one place the log looks inside one (ListOffsets by
/// time is rare; produce and fetch never do), into at most `max_inflated` bytes.
fn first_record_at_or_after(
    bytes: &[u8],
    timestamp: i64,
    max_inflated: usize,
) -> Option<(i64, i64)> {
    let Some(Ok(Batch::V2(batch))) = RecordSet::new(bytes).without_crc_check().next() else {
        return None;
    };
    let find = |records: Records<'_>| {
        records.flatten().find_map(|r| {
            let ts = batch.base_timestamp().saturating_add(r.timestamp_delta);
            (ts >= timestamp).then_some((i64::from(r.offset_delta), ts))
        })
    };
    if batch.attributes().compression() == Ok(Compression::None) {
        return find(batch.records().ok()?);
    }
    let compressed = batch.records_bytes();
    let codec_kind = batch.attributes().compression().ok()?;
    let mut codecs = Codecs::new();
    let codec = codecs.codec(codec_kind).ok()?;
    let inflated = crate::inflate::inflate(compressed.len(), max_inflated, |out| {
        codec.decompress(compressed, out)
    })?;
    find(Records::new(&inflated, batch.records_count()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use microkafka_core::record::{BatchOptions, RecordBatchBuilder};

    fn batch(n: usize, first_ts: i64, value_len: usize) -> Vec<u8> {
        let mut buf = vec![0u8; 64 + n * (value_len + 16)];
        let mut b = RecordBatchBuilder::new(&mut buf, BatchOptions::default()).unwrap();
        for i in 0..n {
            b.append(first_ts + i as i64, None, Some(&vec![b'x'; value_len]), &[])
                .unwrap();
        }
        b.finish().unwrap().to_vec()
    }

    fn bases(bytes: &[u8]) -> Vec<i64> {
        RecordSet::new(bytes)
            .map(|b| match b.unwrap() {
                Batch::V2(b) => b.base_offset(),
                Batch::Legacy(m) => m.offset,
            })
            .collect()
    }

    #[test]
    fn assigns_offsets_and_keeps_crc_valid() {
        let mut log = PartitionLog::new(1 << 20, 1 << 20);
        assert_eq!(log.append_batch(&batch(3, 100, 10), 7), Some(0));
        assert_eq!(log.append_batch(&batch(2, 200, 10), 7), Some(3));
        assert_eq!((log.log_start(), log.end_offset()), (0, 5));
        let all = log.read(0, usize::MAX, true);
        assert_eq!(bases(all), [0, 3]);
        for b in RecordSet::new(all) {
            let Batch::V2(b) = b.unwrap() else { panic!() };
            b.verify_crc().unwrap();
            assert_eq!(b.partition_leader_epoch(), 7);
        }
        // From an offset inside the second batch: that whole batch.
        assert_eq!(bases(log.read(4, usize::MAX, true)), [3]);
        assert!(log.read(5, usize::MAX, true).is_empty());
    }

    #[test]
    fn max_bytes_returns_whole_batches_and_the_first_always() {
        let mut log = PartitionLog::new(1 << 20, 1 << 20);
        let b = batch(1, 0, 100);
        for _ in 0..4 {
            log.append_batch(&b, 0);
        }
        assert_eq!(bases(log.read(0, b.len() * 2 + 1, true)), [0, 1]);
        assert_eq!(
            bases(log.read(0, 10, true)),
            [0],
            "first batch despite max bytes"
        );
        assert!(log.read(0, 10, false).is_empty());
        // Below a limit (the last stable offset): whole entries under it.
        assert_eq!(bases(log.read_below(0, usize::MAX, true, 2)), [0, 1]);
        assert_eq!(bases(log.read_below(1, usize::MAX, true, 2)), [1]);
        assert!(log.read_below(2, usize::MAX, true, 2).is_empty());
    }

    #[test]
    fn retention_drops_whole_segments() {
        let b = batch(1, 0, 100);
        // Two batches per segment, keep about three batches.
        let mut log = PartitionLog::new(b.len() * 3, b.len() * 2);
        for _ in 0..10 {
            log.append_batch(&b, 0);
        }
        assert_eq!(log.end_offset(), 10);
        assert_eq!(log.log_start(), 8);
        assert!(log.size_bytes() <= b.len() * 3);
        assert_eq!(bases(log.read(8, usize::MAX, true)), [8, 9]);
        assert!(log.read(2, usize::MAX, true).is_empty(), "below log start");
        // Reads stop at a segment boundary.
        let mut log = PartitionLog::new(usize::MAX, b.len() * 2);
        for _ in 0..5 {
            log.append_batch(&b, 0);
        }
        assert_eq!(bases(log.read(0, usize::MAX, true)), [0, 1]);
        assert_eq!(bases(log.read(2, usize::MAX, true)), [2, 3]);
        assert_eq!(bases(log.read(4, usize::MAX, true)), [4]);
    }

    #[test]
    fn delete_records_and_time_retention_move_the_log_start() {
        let b = batch(1, 1_000, 100);
        let mut log = PartitionLog::new(usize::MAX, b.len() * 2);
        for _ in 0..5 {
            log.append_batch(&b, 0);
        }
        assert_eq!(log.delete_records(3), Ok(3));
        assert_eq!(log.log_start(), 3);
        assert_eq!(bases(log.read(3, usize::MAX, true)), [3]);
        assert!(log.read(1, usize::MAX, true).is_empty(), "below the start");
        assert_eq!(log.delete_records(1), Ok(3), "never backwards");
        assert_eq!(log.delete_records(6), Err(ErrorCode::OFFSET_OUT_OF_RANGE));
        assert_eq!(log.delete_records(-1), Ok(5));
        assert_eq!((log.log_start(), log.end_offset()), (5, 5));
        assert_eq!(log.size_bytes(), 0);
        // Time retention: everything older than the cutoff, the active
        // segment included.
        log.append_batch(&b, 0);
        assert!(!log.expire_before(1_000));
        assert!(log.expire_before(1_001));
        assert_eq!(
            (log.log_start(), log.end_offset(), log.size_bytes()),
            (6, 6, 0)
        );
        log.append_batch(&b, 0);
        assert_eq!(bases(log.read(6, usize::MAX, true)), [6]);
    }

    #[test]
    fn timestamps() {
        let mut log = PartitionLog::new(1 << 20, 1 << 20);
        log.append_batch(&batch(3, 100, 1), 0); // offsets 0-2, ts 100-102
        log.append_batch(&batch(3, 200, 1), 0); // offsets 3-5, ts 200-202
        assert_eq!(log.offset_for_timestamp(0, 1 << 20), Some((0, 100)));
        assert_eq!(log.offset_for_timestamp(101, 1 << 20), Some((1, 101)));
        assert_eq!(log.offset_for_timestamp(150, 1 << 20), Some((3, 200)));
        assert_eq!(log.offset_for_timestamp(202, 1 << 20), Some((5, 202)));
        assert_eq!(log.offset_for_timestamp(203, 1 << 20), None);
        assert_eq!(log.max_timestamp_offset(1 << 20), Some((5, 202)));
        assert_eq!(PartitionLog::new(1, 1).max_timestamp_offset(1 << 20), None);
    }

    #[test]
    fn timestamps_inside_compressed_batches() {
        let mut buf = vec![0u8; 4096];
        let mut scratch = vec![0u8; 4096];
        let mut b = RecordBatchBuilder::new(&mut buf, BatchOptions::default()).unwrap();
        for i in 0..4 {
            b.append(500 + 10 * i, None, Some(b"compress me, compress me"), &[])
                .unwrap();
        }
        let mut codecs = Codecs::new();
        let codec = codecs.codec(Compression::Zstd).unwrap();
        let compressed = b.finish_compressed(codec, &mut scratch).unwrap().to_vec();
        let mut log = PartitionLog::new(1 << 20, 1 << 20);
        log.append_batch(&compressed, 0);
        assert_eq!(log.offset_for_timestamp(515, 1 << 20), Some((2, 520)));
        assert_eq!(log.max_timestamp_offset(1 << 20), Some((3, 530)));
    }

    #[test]
    fn legacy_offsets_are_patched_per_message() {
        // Two magic-0 messages: offset, size, crc, magic, attributes, key, value.
        fn message(value: &[u8]) -> Vec<u8> {
            let mut body = vec![0u8, 0]; // magic 0, attributes 0
            body.extend_from_slice(&(-1i32).to_be_bytes()); // null key
            body.extend_from_slice(&(value.len() as i32).to_be_bytes());
            body.extend_from_slice(value);
            let crc = microkafka_core::record::crc32_ieee(&body);
            let mut m = 99i64.to_be_bytes().to_vec();
            m.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
            m.extend_from_slice(&crc.to_be_bytes());
            m.extend_from_slice(&body);
            m
        }
        let a = message(b"a");
        let mut set = a.clone();
        set.extend_from_slice(&message(b"bb"));
        let mut log = PartitionLog::new(1 << 20, 1 << 20);
        log.append_batch(&batch(2, 0, 1), 0);
        let base = log.append_legacy(&LegacySet {
            bytes: &set,
            entries: &[(0, 1), (a.len(), 1)],
            max_timestamp: -1,
        });
        assert_eq!(base, 2);
        assert_eq!(log.end_offset(), 4);
        assert_eq!(bases(log.read(2, usize::MAX, true)), [2, 3]);
    }
}
