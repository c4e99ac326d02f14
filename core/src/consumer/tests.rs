//! FetchCursor over every shape a Fetch response's records can take.

extern crate std;

use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::error::Error;
use crate::record::compression::{Codec, Compression};
use crate::record::{
    crc32_ieee, crc32c, BatchOptions, RecordBatchBuilder, RecordHeader, TimestampType,
};

/// A stand-in codec ("gzip" on the wire) that XORs every byte: enough to
/// prove compressed batches are decompressed once into the scratch buffer,
/// without depending on a codec feature.
struct Xor;
impl Codec for Xor {
    fn compression(&self) -> Compression {
        Compression::Gzip
    }
    fn compress(&mut self, input: &[u8], output: &mut [u8]) -> crate::Result<usize> {
        let limit = output.len();
        let out = output.get_mut(..input.len()).ok_or(Error::TooLarge {
            what: crate::Limit::Decompressed,
            size: input.len(),
            limit,
        })?;
        out.iter_mut().zip(input).for_each(|(o, i)| *o = i ^ 0x5a);
        Ok(input.len())
    }
    fn decompress(&mut self, input: &[u8], output: &mut [u8]) -> crate::Result<usize> {
        self.compress(input, output)
    }
}

const T0: i64 = 1_700_000_000_000;

/// A batch at `base` with one record per value (key = the value).
fn batch(base: i64, values: &[&[u8]], compressed: bool) -> Vec<u8> {
    let mut buf = std::vec![0u8; 4096];
    let options = BatchOptions {
        base_offset: base,
        partition_leader_epoch: 3,
        ..Default::default()
    };
    let mut b = RecordBatchBuilder::new(&mut buf, options).unwrap();
    let headers = [RecordHeader {
        key: "h",
        value: Some(b"x"),
    }];
    for (i, v) in values.iter().enumerate() {
        b.append(T0 + i as i64, Some(v), Some(v), &headers).unwrap();
    }
    if compressed {
        let mut scratch = std::vec![0u8; 4096];
        b.finish_compressed(&mut Xor, &mut scratch)
            .unwrap()
            .to_vec()
    } else {
        b.finish().unwrap().to_vec()
    }
}

/// Rewrites a batch's attributes and CRC.
fn set_attributes(batch: &mut [u8], bits: i16) {
    let attributes = i16::from_be_bytes([batch[21], batch[22]]) | bits;
    batch[21..23].copy_from_slice(&attributes.to_be_bytes());
    let crc = crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// One magic-0/1 message entry.
fn legacy(offset: i64, magic: i8, attributes: i8, ts: i64, value: &[u8]) -> Vec<u8> {
    let mut msg = std::vec![magic as u8, attributes as u8];
    if magic == 1 {
        msg.extend_from_slice(&ts.to_be_bytes());
    }
    msg.extend_from_slice(&(-1i32).to_be_bytes());
    msg.extend_from_slice(&(value.len() as i32).to_be_bytes());
    msg.extend_from_slice(value);
    let mut out = Vec::new();
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&((msg.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(&crc32_ieee(&msg).to_be_bytes());
    out.extend_from_slice(&msg);
    out
}

/// Everything a cursor yielded: (offset, value), its final state, its error.
type Drained = (Vec<(i64, Vec<u8>)>, FetchCursor, Option<Error>);

/// Everything the cursor yields: (offset, value), and its final state.
fn drain(records: &[u8], from: i64, scratch_len: usize) -> Drained {
    let mut cursor = FetchCursor::new(from);
    let mut scratch = std::vec![0u8; scratch_len];
    let mut out = Vec::new();
    let mut error = None;
    while let Some(r) = cursor.next(records, &mut Xor, &mut scratch) {
        match r {
            Ok(r) => out.push((r.offset, r.value.unwrap_or_default().to_vec())),
            Err(e) => error = Some(e),
        }
    }
    (out, cursor, error)
}

fn values(v: &[(i64, Vec<u8>)]) -> Vec<(i64, &[u8])> {
    v.iter().map(|(o, v)| (*o, &v[..])).collect()
}

#[test]
fn skips_records_below_the_fetch_offset_across_batches() {
    let mut records = batch(10, &[b"a", b"b", b"c"], false);
    records.extend(batch(13, &[b"d", b"e"], true));
    let (got, cursor, error) = drain(&records, 12, 4096);
    assert_eq!(error, None);
    assert_eq!(values(&got), [(12, &b"c"[..]), (13, b"d"), (14, b"e")]);
    assert_eq!(cursor.next_offset(), 15);
    assert!(!cursor.truncated_tail());
    assert_eq!(next_fetch_offset(&records, 12), Ok((15, false)));
}

#[test]
fn records_carry_timestamps_headers_and_epochs() {
    let records = batch(0, &[b"a", b"b"], true);
    let mut cursor = FetchCursor::new(0);
    let mut scratch = [0u8; 512];
    let r = cursor
        .next(&records, &mut Xor, &mut scratch)
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.offset, r.timestamp, r.timestamp_type),
        (0, T0, TimestampType::CreateTime)
    );
    assert_eq!(
        (r.key, r.value, r.leader_epoch),
        (Some(&b"a"[..]), Some(&b"a"[..]), 3)
    );
    assert_eq!(r.headers.get("h"), Some(Some(&b"x"[..])));
    let r = cursor
        .next(&records, &mut Xor, &mut scratch)
        .unwrap()
        .unwrap();
    assert_eq!((r.offset, r.timestamp), (1, T0 + 1));
    assert!(cursor.next(&records, &mut Xor, &mut scratch).is_none());

    let mut appended = batch(0, &[b"a", b"b"], false);
    set_attributes(&mut appended, 0x08); // log-append time: every record gets max_timestamp
    let mut cursor = FetchCursor::new(0);
    let r = cursor.next(&appended, &mut Xor, &mut []).unwrap().unwrap();
    assert_eq!(
        (r.timestamp, r.timestamp_type),
        (T0 + 1, TimestampType::LogAppendTime)
    );
}

#[test]
fn advance_then_current_reads_without_holding_the_scratch_mutably() {
    let records = batch(0, &[b"a", b"b"], true);
    let mut cursor = FetchCursor::new(1);
    let mut scratch = std::vec![0u8; 512];
    assert_eq!(
        cursor.current(&records, &scratch),
        None,
        "nothing located yet"
    );
    assert_eq!(cursor.advance(&records, &mut Xor, &mut scratch), Ok(true));
    let shared: &[u8] = &scratch;
    let first = cursor.current(&records, shared).unwrap();
    assert_eq!(
        cursor.current(&records, shared),
        Some(first),
        "current does not move"
    );
    assert_eq!((first.offset, first.value), (1, Some(&b"b"[..])));
    assert_eq!(cursor.advance(&records, &mut Xor, &mut scratch), Ok(false));
    assert_eq!(cursor.current(&records, &scratch), None);
}

#[test]
fn control_batches_are_skipped_but_advance_the_offset() {
    let mut records = batch(0, &[b"a"], false);
    let mut marker = batch(1, &[b"\0\0\0\x01"], false);
    set_attributes(&mut marker, 0x30); // transactional + control
    records.extend(&marker);
    let (got, cursor, error) = drain(&records, 0, 0);
    assert_eq!((values(&got), error), (std::vec![(0, &b"a"[..])], None));
    assert_eq!(cursor.next_offset(), 2, "past the marker");

    let (got, cursor, _) = drain(&marker, 1, 0);
    assert!(got.is_empty());
    assert_eq!(
        cursor.next_offset(),
        2,
        "a response of only a marker still moves on"
    );
}

#[test]
fn a_partial_last_batch_ends_iteration_without_error() {
    let mut records = batch(0, &[b"a", b"b"], false);
    let second = batch(2, &[b"c"], false);
    records.extend(&second[..second.len() - 3]);
    let (got, cursor, error) = drain(&records, 0, 0);
    assert_eq!((got.len(), error), (2, None));
    assert!(cursor.truncated_tail());
    assert_eq!(cursor.next_offset(), 2);
    assert_eq!(next_fetch_offset(&records, 0), Ok((2, true)));
}

#[test]
fn compressed_batches_respect_the_scratch_limit() {
    let records = batch(0, &[b"aaaa", b"bbbb"], true);
    let (got, cursor, error) = drain(&records, 0, 8);
    assert!(got.is_empty());
    assert!(matches!(error, Some(Error::TooLarge { .. })), "{error:?}");
    assert!(cursor.failed());
    // A codec that is not there says which one is needed.
    let mut cursor = FetchCursor::new(0);
    let mut none = crate::record::compression::NoCompression;
    assert_eq!(
        cursor.next(&records, &mut none, &mut []),
        Some(Err(Error::UnsupportedCompression(Compression::Gzip.id())))
    );
}

#[test]
fn corruption_is_an_error_then_nothing() {
    let mut records = batch(0, &[b"a", b"b"], false);
    let last = records.len() - 2;
    records[last] ^= 0xff;
    let (got, cursor, error) = drain(&records, 0, 0);
    assert!(got.is_empty());
    assert!(matches!(error, Some(Error::BadCrc { .. })));
    assert_eq!(cursor.next_offset(), 0, "fetch the same offset again");
    let unchecked = FetchCursor::new(0).without_crc_check();
    assert!(!unchecked.failed());
}

/// Regression (remote crash): a Fetch response whose batch says it is 0..4
/// bytes long, with more bytes after it, panicked the cursor and
/// `next_fetch_offset` (the std Reader's fetch task died; the embassy
/// consumers looped on the panic). Both must report the corruption.
#[test]
fn an_entry_shorter_than_its_magic_byte_is_an_error_not_a_panic() {
    let mut records = batch(0, &[b"a"], false);
    records.extend_from_slice(&[0; 17]);
    let (got, cursor, error) = drain(&records, 0, 0);
    assert_eq!(values(&got), [(0, &b"a"[..])]);
    assert_eq!(error, Some(Error::InvalidLength));
    assert_eq!(cursor.next_offset(), 1, "resume after the good batch");
    assert_eq!(next_fetch_offset(&[0; 17], 5), Err(Error::InvalidLength));
    assert_eq!(next_fetch_offset(&records, 0), Err(Error::InvalidLength));
}

#[test]
fn legacy_messages_plain_and_compressed() {
    let mut records = legacy(5, 0, 0, 0, b"m0");
    records.extend(legacy(6, 1, 0, T0, b"m1"));
    // A magic-1 wrapper for offsets 7..=9: inner offsets relative (0, 1, 2),
    // the wrapper's own offset is the last one's, its value XOR-"compressed".
    let mut inner = Vec::new();
    for (i, v) in [b"i0", b"i1", b"i2"].iter().enumerate() {
        inner.extend(legacy(i as i64, 1, 0, T0 + 10, *v));
    }
    let mut packed = std::vec![0u8; inner.len()];
    Xor.compress(&inner, &mut packed).unwrap();
    records.extend(legacy(
        9,
        1,
        Compression::Gzip.id() as i8 | 0x08,
        T0 + 99,
        &packed,
    ));
    let (got, cursor, error) = drain(&records, 6, 256);
    assert_eq!(error, None);
    assert_eq!(
        values(&got),
        [(6, &b"m1"[..]), (7, b"i0"), (8, b"i1"), (9, b"i2")]
    );
    assert_eq!(cursor.next_offset(), 10);

    let mut cursor = FetchCursor::new(0);
    let mut scratch = [0u8; 256];
    let r = cursor
        .next(&records, &mut Xor, &mut scratch)
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.offset, r.timestamp, r.leader_epoch, r.headers.len()),
        (5, -1, -1, 0)
    );
    let r = cursor
        .next(&records, &mut Xor, &mut scratch)
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.timestamp, r.timestamp_type),
        (T0, TimestampType::CreateTime)
    );
    let r = cursor
        .next(&records, &mut Xor, &mut scratch)
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.offset, r.timestamp, r.timestamp_type),
        (7, T0 + 99, TimestampType::LogAppendTime)
    );
}

#[test]
fn error_codes_map_to_actions() {
    use crate::ErrorCode;
    let cases = [
        (ErrorCode::NONE, FetchErrorAction::Proceed),
        (
            ErrorCode::OFFSET_OUT_OF_RANGE,
            FetchErrorAction::ResetOffset,
        ),
        (
            ErrorCode::NOT_LEADER_OR_FOLLOWER,
            FetchErrorAction::RefreshMetadata,
        ),
        (
            ErrorCode::FENCED_LEADER_EPOCH,
            FetchErrorAction::RefreshMetadata,
        ),
        (ErrorCode::REQUEST_TIMED_OUT, FetchErrorAction::Retry),
        (
            ErrorCode::TOPIC_AUTHORIZATION_FAILED,
            FetchErrorAction::Fail,
        ),
        (ErrorCode::CORRUPT_MESSAGE, FetchErrorAction::Retry),
        (ErrorCode(9999), FetchErrorAction::Fail),
    ];
    for (code, action) in cases {
        assert_eq!(FetchErrorAction::classify(code), action, "{code:?}");
    }
    assert_eq!(StartOffset::default(), StartOffset::First);
    assert_eq!(StartOffset::First.list_offsets_timestamp(), -2);
    assert_eq!(StartOffset::Last.list_offsets_timestamp(), -1);
}

proptest! {
    /// Whatever the batch boundaries, codecs and fetch offset, the cursor
    /// yields exactly the offsets at or above the fetch offset, in order,
    /// and ends where `next_fetch_offset` says the next fetch starts.
    #[test]
    fn yields_every_offset_from_the_fetch_offset(
        sizes in proptest::collection::vec((1usize..6, any::<bool>()), 1..6),
        skip in 0i64..30,
    ) {
        let mut records = Vec::new();
        let mut base = 100i64;
        for (n, compressed) in &sizes {
            let vals: Vec<Vec<u8>> = (0..*n).map(|i| std::format!("v{}", base + i as i64).into_bytes()).collect();
            let refs: Vec<&[u8]> = vals.iter().map(|v| &v[..]).collect();
            records.extend(batch(base, &refs, *compressed));
            base += *n as i64;
        }
        let from = 100 + skip;
        let (got, cursor, error) = drain(&records, from, 4096);
        prop_assert_eq!(error, None);
        let expected: Vec<i64> = (from..base).collect();
        prop_assert_eq!(got.iter().map(|(o, _)| *o).collect::<Vec<_>>(), expected);
        for (o, v) in &got {
            prop_assert_eq!(v, &std::format!("v{o}").into_bytes());
        }
        prop_assert_eq!(cursor.next_offset(), base.max(from));
        prop_assert_eq!(next_fetch_offset(&records, from), Ok((base.max(from), false)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), from in -2i64..50) {
        let _ = drain(&bytes, from, 512);
        let _ = next_fetch_offset(&bytes, from);
    }
}

/// Found by the `fetch_cursor` fuzz target (`core/fuzz`): a cursor polled
/// again after it stopped at a partial last batch re-read the empty rest
/// and cleared `truncated_tail`, so a caller that asked after a second
/// `next` took a batch larger than its fetch for the end of the data. The
/// input: a Fetch v4 response (frame body) whose one partition holds only
/// a 12-byte entry header declaring 100 bytes.
#[test]
fn the_truncated_tail_flag_survives_polling_past_the_end() {
    #[rustfmt::skip]
    const FETCH_V4: &[u8] = &[
        0x00, 0x00, 0x00, 0x07,                         // correlation id
        0x00, 0x00, 0x00, 0x00,                         // throttle_time_ms
        0x00, 0x00, 0x00, 0x01, 0x00, 0x01, b't',       // responses: [topic "t"
        0x00, 0x00, 0x00, 0x01,                         //   partitions: [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00,             //     index 0, error 0
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, //     high watermark 1
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, //     last stable offset 1
        0xff, 0xff, 0xff, 0xff,                         //     aborted: null
        0x00, 0x00, 0x00, 0x0c,                         //     records: 12 bytes
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //       offset 0
        0x00, 0x00, 0x00, 0x64,                         //       size 100: cut short
    ];
    let (_, response) = crate::protocol::frame::decode_response::<
        crate::protocol::messages::FetchResponse<'_>,
    >(FETCH_V4, 4)
    .unwrap();
    let topic = response.responses.iter().next().unwrap();
    let records = topic.partitions.iter().next().unwrap().records.unwrap();
    assert_eq!(next_fetch_offset(records, 0), Ok((0, true)));
    let mut cursor = FetchCursor::new(0);
    let mut scratch = [0u8; 0];
    for poll in 0..3 {
        assert!(cursor.next(records, &mut Xor, &mut scratch).is_none());
        assert!(cursor.truncated_tail(), "poll {poll}");
        assert!(!cursor.failed());
    }
}
