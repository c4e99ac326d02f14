//! Legacy (magic 0/1) message sets from old producers, made ready to store.
//!
//! Each message gets one offset. A compressed *wrapper* message stands for
//! the inner messages in its compressed value and takes the offset of the
//! last of them, as a Kafka 0.9/0.10 broker assigned them:
//!
//! - magic 1 (KIP-31): inner offsets are relative, so only the wrapper's
//!   offset changes. The value is decompressed once to count and check the
//!   inner messages, and stored as received.
//! - magic 0: inner offsets are absolute and sit inside the compressed
//!   value, so the broker decompresses, writes the inner offsets,
//!   compresses again and builds a new wrapper (new CRC), as Kafka 0.9 did.
//!
//! Wrappers are the only place the mock decompresses on the produce path;
//! magic-2 batches are never opened.

use microkafka_core::record::compression::Codecs;
use microkafka_core::record::{crc32_ieee, Compression, LegacyMessage};
use microkafka_core::ErrorCode;

/// A legacy message set ready for [`PartitionLog::append_legacy`](crate::log::PartitionLog::append_legacy).
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    /// The set to store (the received bytes, or rebuilt with magic-0 wrappers re-compressed).
    pub(crate) bytes: Vec<u8>,
    /// `(start of the entry in bytes, messages it stands for)`, in order.
    pub(crate) entries: Vec<(usize, i64)>,
    /// Largest message timestamp, -1 when the set has none (magic 0).
    pub(crate) max_timestamp: i64,
}

/// Offset, size, CRC: the bytes before a legacy message's magic.
const HEADER: usize = 16;

/// Validates `records` and prepares it for storing from offset `base`.
/// `max_inflated` bounds a wrapper's decompressed size.
pub(crate) fn prepare(
    records: &[u8],
    base: i64,
    max_inflated: usize,
) -> Result<Prepared, ErrorCode> {
    let mut out = Prepared {
        bytes: Vec::with_capacity(records.len()),
        max_timestamp: -1,
        ..Prepared::default()
    };
    let mut codecs: Option<Codecs> = None;
    let mut next = base;
    let mut at = 0;
    while at < records.len() {
        let (message, len) =
            LegacyMessage::parse(&records[at..]).map_err(|_| ErrorCode::CORRUPT_MESSAGE)?;
        message
            .verify_crc()
            .map_err(|_| ErrorCode::CORRUPT_MESSAGE)?;
        out.max_timestamp = out.max_timestamp.max(message.timestamp.unwrap_or(-1));
        let start = out.bytes.len();
        let compression = message
            .compression()
            .map_err(|_| ErrorCode::CORRUPT_MESSAGE)?;
        let count = if compression == Compression::None {
            out.bytes.extend_from_slice(&records[at..at + len]);
            1
        } else {
            let codecs = codecs.get_or_insert_with(Codecs::new);
            let inner = inflate(&message, codecs, max_inflated)?;
            let count = count_inner(&inner)?;
            if message.magic == 0 {
                let wrapper = rewrap(&message, compression, &inner, next, codecs)?;
                out.bytes.extend_from_slice(&wrapper);
            } else {
                out.bytes.extend_from_slice(&records[at..at + len]);
            }
            count
        };
        out.entries.push((start, count));
        next += count;
        at += len;
    }
    Ok(out)
}

/// The decompressed inner message set of a wrapper (at most `max_inflated` bytes).
fn inflate(
    message: &LegacyMessage<'_>,
    codecs: &mut Codecs,
    max_inflated: usize,
) -> Result<Vec<u8>, ErrorCode> {
    let compression = message
        .compression()
        .map_err(|_| ErrorCode::CORRUPT_MESSAGE)?;
    let value = message.value.ok_or(ErrorCode::CORRUPT_MESSAGE)?;
    let codec = codecs
        .codec(compression)
        .map_err(|_| ErrorCode::UNSUPPORTED_COMPRESSION_TYPE)?;
    crate::inflate::inflate(value.len(), max_inflated, |out| {
        codec.decompress_legacy(message.magic, value, out)
    })
    .ok_or(ErrorCode::CORRUPT_MESSAGE)
}

/// Counts the inner messages, checking each one's CRC (none may be compressed).
fn count_inner(inner: &[u8]) -> Result<i64, ErrorCode> {
    let mut count = 0;
    let mut at = 0;
    while at < inner.len() {
        let (m, len) =
            LegacyMessage::parse(&inner[at..]).map_err(|_| ErrorCode::CORRUPT_MESSAGE)?;
        m.verify_crc().map_err(|_| ErrorCode::CORRUPT_MESSAGE)?;
        if m.compression() != Ok(Compression::None) {
            return Err(ErrorCode::CORRUPT_MESSAGE);
        }
        count += 1;
        at += len;
    }
    if count == 0 {
        return Err(ErrorCode::CORRUPT_MESSAGE);
    }
    Ok(count)
}

/// A magic-0 wrapper rebuilt around its inner messages numbered from `first`.
fn rewrap(
    wrapper: &LegacyMessage<'_>,
    compression: Compression,
    inner: &[u8],
    first: i64,
    codecs: &mut Codecs,
) -> Result<Vec<u8>, ErrorCode> {
    let mut inner = inner.to_vec();
    let mut at = 0;
    let mut offset = first;
    while at < inner.len() {
        let (_, len) =
            LegacyMessage::parse(&inner[at..]).map_err(|_| ErrorCode::CORRUPT_MESSAGE)?;
        inner[at..at + 8].copy_from_slice(&offset.to_be_bytes());
        offset += 1;
        at += len;
    }
    // Every codec here stays well under 2x on incompressible input.
    let mut value = vec![0u8; inner.len() * 2 + 1024];
    let codec = codecs
        .codec(compression)
        .map_err(|_| ErrorCode::UNSUPPORTED_COMPRESSION_TYPE)?;
    let n = codec
        .compress(&inner, &mut value)
        .map_err(|_| ErrorCode::UNSUPPORTED_COMPRESSION_TYPE)?;
    value.truncate(n);
    // magic, attributes, key, value: the part the CRC covers.
    let mut body = vec![wrapper.magic as u8, wrapper.attributes as u8];
    match wrapper.key {
        Some(k) => {
            body.extend_from_slice(&(k.len() as i32).to_be_bytes());
            body.extend_from_slice(k);
        }
        None => body.extend_from_slice(&(-1i32).to_be_bytes()),
    }
    body.extend_from_slice(&(value.len() as i32).to_be_bytes());
    body.extend_from_slice(&value);
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(&(offset - 1).to_be_bytes());
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(&crc32_ieee(&body).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use microkafka_core::record::{Batch, RecordSet};

    /// One legacy message; `attributes` carries the codec.
    fn message(magic: u8, attributes: u8, offset: i64, timestamp: i64, value: &[u8]) -> Vec<u8> {
        let mut body = vec![magic, attributes];
        if magic == 1 {
            body.extend_from_slice(&timestamp.to_be_bytes());
        }
        body.extend_from_slice(&(-1i32).to_be_bytes());
        body.extend_from_slice(&(value.len() as i32).to_be_bytes());
        body.extend_from_slice(value);
        let mut m = offset.to_be_bytes().to_vec();
        m.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        m.extend_from_slice(&crc32_ieee(&body).to_be_bytes());
        m.extend_from_slice(&body);
        m
    }

    /// A wrapper of three inner messages compressed with `compression`; inner
    /// offsets 0..3 as producers write them.
    fn wrapper(magic: u8, compression: Compression) -> Vec<u8> {
        let inner: Vec<u8> = (0..3)
            .flat_map(|i| message(magic, 0, i, 100 + i, format!("inner-{i}").as_bytes()))
            .collect();
        let mut value = vec![0u8; 4096];
        let n = Codecs::new()
            .compress(compression, &inner, &mut value)
            .unwrap();
        message(magic, compression.id(), 0, 102, &value[..n])
    }

    /// `(offset, value)` of every message a consumer would see in `bytes`.
    fn read(bytes: &[u8]) -> Vec<(i64, String)> {
        let mut codecs = Codecs::new();
        let mut scratch = vec![0u8; 1 << 16];
        let mut out = Vec::new();
        for entry in RecordSet::new(bytes) {
            let Batch::Legacy(m) = entry.unwrap() else {
                panic!("legacy")
            };
            for inner in m.messages(&mut codecs, &mut scratch).unwrap() {
                let inner = inner.unwrap();
                out.push((
                    inner.offset,
                    String::from_utf8(inner.value.unwrap().to_vec()).unwrap(),
                ));
            }
        }
        out
    }

    fn store(p: &Prepared, base: i64) -> Vec<u8> {
        let mut log = crate::log::PartitionLog::new(1 << 20, 1 << 20);
        for _ in 0..base {
            log.append_legacy(&crate::log::LegacySet {
                bytes: &message(0, 0, 0, 0, b"pad"),
                entries: &[(0, 1)],
                max_timestamp: -1,
            });
        }
        assert_eq!(
            log.append_legacy(&crate::log::LegacySet {
                bytes: &p.bytes,
                entries: &p.entries,
                max_timestamp: p.max_timestamp,
            }),
            base
        );
        log.copy_from(base)
    }

    #[test]
    fn compressed_wrappers_take_one_offset_per_inner_message() {
        for compression in [Compression::Gzip, Compression::Snappy, Compression::Lz4] {
            for magic in [0u8, 1] {
                let set = [
                    message(magic, 0, 0, 99, b"plain"),
                    wrapper(magic, compression),
                ]
                .concat();
                let p = prepare(&set, 5, 1 << 16).unwrap();
                assert_eq!(p.entries.iter().map(|e| e.1).collect::<Vec<_>>(), [1, 3]);
                let stored = store(&p, 5);
                let want: Vec<(i64, String)> =
                    [(5, "plain"), (6, "inner-0"), (7, "inner-1"), (8, "inner-2")]
                        .iter()
                        .map(|(o, v)| (*o, v.to_string()))
                        .collect();
                assert_eq!(read(&stored), want, "{compression:?} magic {magic}");
                for entry in RecordSet::new(&stored) {
                    let Batch::Legacy(m) = entry.unwrap() else {
                        panic!()
                    };
                    m.verify_crc().unwrap();
                }
            }
        }
    }

    #[test]
    fn bad_wrappers_are_refused() {
        let mut w = wrapper(1, Compression::Gzip);
        let last = w.len() - 1;
        w[last] ^= 0xff;
        assert_eq!(
            prepare(&w, 0, 1 << 16).unwrap_err(),
            ErrorCode::CORRUPT_MESSAGE
        );
        let big = wrapper(1, Compression::Lz4);
        assert_eq!(
            prepare(&big, 0, 10).unwrap_err(),
            ErrorCode::CORRUPT_MESSAGE,
            "inflates past the limit"
        );
        let zstd = message(1, Compression::Zstd.id(), 0, 0, b"whatever");
        assert!(prepare(&zstd, 0, 1 << 16).is_err());
    }
}
