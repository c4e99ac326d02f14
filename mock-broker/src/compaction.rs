//! Log compaction's record work (`cleanup.policy=compact`): reading the
//! records of a stored batch and writing a batch that keeps some of them.
//!
//! A rewritten batch keeps its header (base offset, last offset delta,
//! timestamps, producer id, epoch and base sequence), so offsets and the
//! producer state around it stay as they were, as Kafka's cleaner does; its
//! records are copied with their original offset and timestamp deltas. It is
//! written uncompressed (Kafka recompresses with the topic's codec; a
//! consumer reads either).

use microkafka_core::record::compression::Codecs;
use microkafka_core::record::{crc32c, Batch, Compression, RecordSet, Records};
use microkafka_core::wire::varint::{zigzag32, zigzag64};

/// One record, owned, as compaction needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rec {
    attributes: i8,
    timestamp_delta: i64,
    pub(crate) offset_delta: i32,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// The records of a stored magic-2 data batch (decompressed into at most
/// `max_inflated` bytes); `None` for what compaction leaves alone: legacy
/// message sets, control and transactional batches (their markers and
/// aborted ranges are the transaction index's), and anything that does not
/// decode.
pub(crate) fn records_of(bytes: &[u8], max_inflated: usize) -> Option<Vec<Rec>> {
    let Some(Ok(Batch::V2(batch))) = RecordSet::new(bytes).without_crc_check().next() else {
        return None;
    };
    let attributes = batch.attributes();
    if attributes.is_control() || attributes.is_transactional() {
        return None;
    }
    let count = batch.records_count();
    let collect = |records: Records<'_>| -> Option<Vec<Rec>> {
        let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(1 << 16));
        for r in records {
            let r = r.ok()?;
            out.push(Rec {
                attributes: r.attributes,
                timestamp_delta: r.timestamp_delta,
                offset_delta: r.offset_delta,
                key: r.key.map(<[u8]>::to_vec),
                value: r.value.map(<[u8]>::to_vec),
                headers: r
                    .headers
                    .iter()
                    .map(|h| (h.key.as_bytes().to_vec(), h.value.map(<[u8]>::to_vec)))
                    .collect(),
            });
        }
        Some(out)
    };
    let compression = attributes.compression().ok()?;
    if compression == Compression::None {
        return collect(batch.records().ok()?);
    }
    let compressed = batch.records_bytes();
    let mut codecs = Codecs::new();
    let codec = codecs.codec(compression).ok()?;
    let inflated = crate::inflate::inflate(compressed.len(), max_inflated, |out| {
        codec.decompress(compressed, out)
    })?;
    collect(Records::new(&inflated, count))
}

/// `original`'s batch with only `kept` as its records, uncompressed, CRC
/// recomputed.
pub(crate) fn rewrite(original: &[u8], kept: &[Rec]) -> Vec<u8> {
    const HEADER: usize = microkafka_core::record::RECORD_BATCH_OVERHEAD;
    let mut out = original[..HEADER].to_vec();
    for r in kept {
        let mut body = Vec::new();
        body.push(r.attributes as u8);
        put_uvarint(&mut body, zigzag64(r.timestamp_delta));
        put_uvarint(&mut body, u64::from(zigzag32(r.offset_delta)));
        put_bytes(&mut body, r.key.as_deref());
        put_bytes(&mut body, r.value.as_deref());
        put_len(&mut body, r.headers.len());
        for (k, v) in &r.headers {
            put_bytes(&mut body, Some(k));
            put_bytes(&mut body, v.as_deref());
        }
        put_len(&mut out, body.len());
        out.extend_from_slice(&body);
    }
    // attributes (21..23): compression bits cleared.
    let attributes = i16::from_be_bytes([out[21], out[22]]) & !0x07;
    out[21..23].copy_from_slice(&attributes.to_be_bytes());
    // records count (57..61) and batch length (8..12: bytes after it).
    let count = i32::try_from(kept.len()).unwrap_or(i32::MAX);
    out[57..61].copy_from_slice(&count.to_be_bytes());
    let length = i32::try_from(out.len() - 12).unwrap_or(i32::MAX);
    out[8..12].copy_from_slice(&length.to_be_bytes());
    // CRC-32C (17..21) over everything from the attributes on.
    let crc = crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A varint length (zig-zag, as record fields are).
fn put_len(out: &mut Vec<u8>, len: usize) {
    put_uvarint(out, zigzag64(i64::try_from(len).unwrap_or(i64::MAX)));
}

/// Varint-length-prefixed bytes, -1 for null.
fn put_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => {
            put_len(out, b.len());
            out.extend_from_slice(b);
        }
        None => put_uvarint(out, zigzag64(-1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use microkafka_core::record::{BatchOptions, RecordBatch, RecordBatchBuilder, RecordHeader};

    #[test]
    fn rewritten_batch_keeps_offsets_and_verifies() {
        let mut buf = vec![0u8; 1024];
        let mut b = RecordBatchBuilder::new(&mut buf, BatchOptions::default()).unwrap();
        b.append(100, Some(b"a"), Some(b"1"), &[]).unwrap();
        let h = [RecordHeader {
            key: "h",
            value: Some(b"v"),
        }];
        b.append(101, Some(b"b"), None, &h).unwrap();
        b.append(102, Some(b"a"), Some(b"3"), &[]).unwrap();
        let original = b.finish().unwrap().to_vec();
        let records = records_of(&original, 1 << 20).unwrap();
        assert_eq!(records.len(), 3);
        let kept: Vec<Rec> = records[1..].to_vec();
        let out = rewrite(&original, &kept);
        let view = RecordBatch::new_verified(&out[..]).unwrap();
        assert_eq!(view.records_count(), 2);
        assert_eq!(view.last_offset_delta(), 2, "offset range kept");
        assert_eq!(records_of(&out, 1 << 20).unwrap(), kept);
    }
}
