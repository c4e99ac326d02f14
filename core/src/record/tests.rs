//! Record batch behaviour: build → view, limits, corruption, legacy and control entries.

extern crate std;

use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::error::Error;

/// (timestamp, key, value) of a record to build.
type Spec<'a> = (i64, Option<&'a [u8]>, Option<&'a [u8]>);

fn build(records: &[Spec<'_>], headers: &[RecordHeader<'_>]) -> Vec<u8> {
    let mut buf = std::vec![0u8; 4096];
    let mut b = RecordBatchBuilder::new(&mut buf, BatchOptions::default()).unwrap();
    for (ts, k, v) in records {
        b.append(*ts, *k, *v, headers).unwrap();
    }
    b.finish().unwrap().to_vec()
}

#[test]
fn built_batch_reads_back_field_by_field() {
    let headers = [
        RecordHeader {
            key: "trace",
            value: Some(b"abc"),
        },
        RecordHeader {
            key: "null",
            value: None,
        },
    ];
    let bytes = build(
        &[
            (1000, Some(b"k1"), Some(b"v1")),
            (999, None, Some(b"")),
            (1005, Some(b"k3"), None),
        ],
        &headers,
    );
    let batch = RecordBatch::new_verified(&bytes[..]).unwrap();
    assert_eq!(batch.magic(), 2);
    assert_eq!(batch.base_offset(), 0);
    assert_eq!(batch.partition_leader_epoch(), -1);
    assert_eq!(batch.records_count(), 3);
    assert_eq!(batch.last_offset_delta(), 2);
    assert_eq!(batch.base_timestamp(), 1000);
    assert_eq!(batch.max_timestamp(), 1005);
    assert_eq!(
        (
            batch.producer_id(),
            batch.producer_epoch(),
            batch.base_sequence()
        ),
        (-1, -1, -1)
    );
    assert_eq!(batch.attributes().compression(), Ok(Compression::None));
    assert!(!batch.attributes().is_control());
    assert_eq!(batch.total_len(), bytes.len());
    let records: Vec<Record<'_>> = batch.records().unwrap().map(Result::unwrap).collect();
    assert_eq!(records.len(), 3);
    assert_eq!(
        (records[0].key, records[0].value, records[0].offset_delta),
        (Some(&b"k1"[..]), Some(&b"v1"[..]), 0)
    );
    assert_eq!(
        (records[1].key, records[1].value, records[1].timestamp_delta),
        (None, Some(&b""[..]), -1)
    );
    assert_eq!(
        (records[2].key, records[2].value, records[2].timestamp_delta),
        (Some(&b"k3"[..]), None, 5)
    );
    let h: Vec<Header<'_>> = records[2].headers.iter().collect();
    assert_eq!(
        h,
        [
            Header {
                key: "trace",
                value: Some(b"abc")
            },
            Header {
                key: "null",
                value: None
            }
        ]
    );
    assert_eq!(records[0].headers.get("trace"), Some(Some(&b"abc"[..])));
}

#[test]
fn first_record_golden_bytes() {
    // One record, key "k", value "v", no headers, timestamp delta 0:
    // length 8 (zig-zag varint 0x10), attributes 0, ts delta 0, offset delta 0,
    // key len 1 (0x02) 'k', value len 1 (0x02) 'v', header count 0.
    let bytes = build(&[(0, Some(b"k"), Some(b"v"))], &[]);
    assert_eq!(
        &bytes[RECORD_BATCH_OVERHEAD..],
        &[0x10, 0x00, 0x00, 0x00, 0x02, b'k', 0x02, b'v', 0x00]
    );
    // batchLength = 61 - 12 + 9 = 58.
    assert_eq!(&bytes[8..12], &58i32.to_be_bytes());
    assert_eq!(bytes[16], 2);
}

#[test]
fn refuses_a_record_that_does_not_fit_and_keeps_the_batch() {
    let mut buf = [0u8; 80];
    let mut b = RecordBatchBuilder::new(&mut buf, BatchOptions::default()).unwrap();
    b.append(0, None, Some(&[7u8; 10]), &[]).unwrap();
    let before = b.len();
    assert!(!b.fits(0, None, Some(&[7u8; 10]), &[]));
    assert_eq!(
        b.append(0, None, Some(&[7u8; 10]), &[]),
        Err(Error::BufferTooSmall)
    );
    assert_eq!(b.len(), before);
    assert_eq!(b.record_count(), 1);
    let bytes = b.finish().unwrap();
    assert_eq!(
        RecordBatch::new_verified(&*bytes)
            .unwrap()
            .records()
            .unwrap()
            .count(),
        1
    );
    assert_eq!(
        RecordBatchBuilder::new(&mut [0u8; 60], BatchOptions::default()).err(),
        Some(Error::BufferTooSmall)
    );
    let mut buf = [0u8; 64];
    let empty = RecordBatchBuilder::new(&mut buf, BatchOptions::default()).unwrap();
    assert!(matches!(empty.finish(), Err(Error::Malformed(_))));
}

#[test]
fn producer_fields_and_broker_patches_outside_the_crc() {
    let mut buf = [0u8; 128];
    let options = BatchOptions {
        producer_id: 42,
        producer_epoch: 3,
        base_sequence: 100,
        transactional: true,
        ..Default::default()
    };
    let mut b = RecordBatchBuilder::new(&mut buf, options).unwrap();
    b.append(5, None, Some(b"x"), &[]).unwrap();
    let bytes = b.finish().unwrap();
    let mut batch = RecordBatch::new_verified(&mut *bytes).unwrap();
    assert_eq!(
        (
            batch.producer_id(),
            batch.producer_epoch(),
            batch.base_sequence()
        ),
        (42, 3, 100)
    );
    assert!(batch.attributes().is_transactional());
    batch.set_base_offset(1234);
    batch.set_partition_leader_epoch(7);
    assert_eq!(batch.verify_crc(), Ok(()));
    assert_eq!(batch.base_offset(), 1234);
    assert_eq!(batch.last_offset(), 1234);
}

#[test]
fn sealing_in_place_keeps_the_buffer_for_more_records_and_the_next_batch() {
    let options = BatchOptions {
        producer_id: 7,
        producer_epoch: 1,
        base_sequence: 40,
        ..Default::default()
    };
    let mut buf = [0u8; 256];
    let mut b = RecordBatchBuilder::new(&mut buf, options).unwrap();
    assert!(b.seal_in_place().is_err(), "empty batches are refused");
    b.append(1_000, Some(b"k"), Some(b"v1"), &[]).unwrap();
    let once = b.seal_in_place().unwrap().to_vec();
    assert_eq!(
        b.seal_in_place().unwrap(),
        &once[..],
        "sealing twice gives the same bytes"
    );
    b.append(1_005, None, Some(b"v2"), &[]).unwrap();
    let twice = b.seal_in_place().unwrap().to_vec();

    // The same records through the consuming builder give the same bytes.
    let mut other = [0u8; 256];
    let mut reference = RecordBatchBuilder::new(&mut other, options).unwrap();
    reference
        .append(1_000, Some(b"k"), Some(b"v1"), &[])
        .unwrap();
    reference.append(1_005, None, Some(b"v2"), &[]).unwrap();
    assert_eq!(&twice[..], &*reference.finish().unwrap());
    let batch = RecordBatch::new_verified(&twice[..]).unwrap();
    assert_eq!((batch.records_count(), batch.base_sequence()), (2, 40));

    // New options (a retry with a new epoch, say) reach the header and the CRC.
    b.set_options(BatchOptions {
        producer_epoch: 2,
        ..options
    });
    assert_eq!(b.options().producer_epoch, 2);
    let resealed = RecordBatch::new_verified(&*b.seal_in_place().unwrap()).unwrap();
    assert_eq!(resealed.producer_epoch(), 2);

    b.reset(BatchOptions::default());
    assert!(b.is_empty() && b.len() == RECORD_BATCH_OVERHEAD);
    b.append(2_000, None, Some(b"next"), &[]).unwrap();
    let next = RecordBatch::new_verified(&*b.seal_in_place().unwrap()).unwrap();
    assert_eq!(
        (
            next.records_count(),
            next.base_sequence(),
            next.base_timestamp()
        ),
        (1, -1, 2_000)
    );
    assert_eq!(b.into_inner().len(), 256);
}

#[test]
fn corruption_is_detected() {
    let bytes = build(&[(0, Some(b"key"), Some(b"value"))], &[]);
    for i in batch::field::CRC_START..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x10;
        assert!(
            matches!(
                RecordBatch::new_verified(&bad[..]),
                Err(Error::BadCrc { .. }) | Err(_)
            ),
            "byte {i}"
        );
        if i >= batch::field::CRC_START && RecordBatch::new_checked(&bad[..]).is_ok() {
            assert!(matches!(
                RecordBatch::new_checked(&bad[..]).unwrap().verify_crc(),
                Err(Error::BadCrc { .. })
            ));
        }
    }
    for cut in 0..bytes.len() {
        assert!(
            RecordBatch::new_checked(&bytes[..cut]).is_err(),
            "cut {cut}"
        );
    }
    let mut bad = bytes.clone();
    bad[16] = 3;
    assert_eq!(
        RecordBatch::new_checked(&bad[..]).err(),
        Some(Error::UnsupportedMagic(3))
    );
}

#[test]
fn record_count_must_match_section() {
    let mut bytes = build(&[(0, None, Some(b"a")), (0, None, Some(b"b"))], &[]);
    // Claim 1 record: the second is extra bytes.
    bytes[57..61].copy_from_slice(&1i32.to_be_bytes());
    let batch = RecordBatch::new_checked(&bytes[..]).unwrap();
    let results: Vec<_> = batch.records().unwrap().collect();
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(Error::Malformed(_))));
    // Claim 3: the third is missing.
    bytes[57..61].copy_from_slice(&3i32.to_be_bytes());
    let batch = RecordBatch::new_checked(&bytes[..]).unwrap();
    let results: Vec<_> = batch.records().unwrap().collect();
    assert_eq!(results.len(), 3);
    assert_eq!(results[2], Err(Error::Truncated));
}

#[test]
fn record_set_iterates_batches_and_stops_at_a_partial_tail() {
    let mut set = build(&[(0, None, Some(b"a"))], &[]);
    let second = build(&[(0, None, Some(b"b")), (1, None, Some(b"c"))], &[]);
    set.extend_from_slice(&second);
    set.extend_from_slice(&second[..30]);
    let mut it = RecordSet::new(&set);
    assert!(matches!(it.next(), Some(Ok(Batch::V2(b))) if b.records_count() == 1));
    assert!(matches!(it.next(), Some(Ok(Batch::V2(b))) if b.records_count() == 2));
    assert!(it.next().is_none());
    assert!(it.truncated_tail());
    // A corrupt batch is an error, then iteration stops.
    let mut bad = second.clone();
    bad[70] ^= 1;
    bad.extend_from_slice(&second);
    let results: Vec<_> = RecordSet::new(&bad).collect();
    assert_eq!(results.len(), 1);
    assert!(matches!(results[0], Err(Error::BadCrc { .. })));
    assert_eq!(RecordSet::new(&bad).without_crc_check().count(), 2);
}

/// Regression (remote crash): an entry whose length field is 0..4 cannot hold
/// its own magic byte; with 17+ bytes present the reader indexed past the
/// entry. It must be an error, whatever follows, never a panic or a tail.
#[test]
fn record_set_entry_shorter_than_its_magic_is_an_error() {
    assert_eq!(
        RecordSet::new(&[0; 17]).next(),
        Some(Err(Error::InvalidLength))
    );
    for size in 0i32..=4 {
        let mut entry = std::vec![0u8; 8];
        entry.extend_from_slice(&size.to_be_bytes());
        entry.extend_from_slice(&[2; 64]); // looks like magic 2 after it
        let mut it = RecordSet::new(&entry);
        assert_eq!(it.next(), Some(Err(Error::InvalidLength)), "size {size}");
        assert_eq!(it.next(), None);
        assert!(!it.truncated_tail());
    }
    // The same after a good batch: the good one first, then the error.
    let mut set = build(&[(0, None, Some(b"a"))], &[]);
    set.extend_from_slice(&[0; 17]);
    let results: Vec<_> = RecordSet::new(&set).collect();
    assert!(matches!(results[0], Ok(Batch::V2(_))));
    assert_eq!(results[1], Err(Error::InvalidLength));
}

/// A magic-0 then a magic-1 message, built by hand from the pre-0.11 format.
fn legacy_set() -> Vec<u8> {
    let mut out = Vec::new();
    for (offset, magic) in [(10i64, 0i8), (11, 1)] {
        let mut msg = Vec::new();
        msg.push(magic as u8);
        msg.push(0); // attributes: no compression
        if magic == 1 {
            msg.extend_from_slice(&1_600_000_000_000i64.to_be_bytes());
        }
        msg.extend_from_slice(&(-1i32).to_be_bytes()); // null key
        msg.extend_from_slice(&5i32.to_be_bytes());
        msg.extend_from_slice(b"hello");
        let crc = crc32_ieee(&msg);
        out.extend_from_slice(&offset.to_be_bytes());
        out.extend_from_slice(&((msg.len() + 4) as i32).to_be_bytes());
        out.extend_from_slice(&crc.to_be_bytes());
        out.extend_from_slice(&msg);
    }
    out
}

#[test]
fn legacy_messages_are_readable() {
    let set = legacy_set();
    let entries: Vec<_> = RecordSet::new(&set).map(Result::unwrap).collect();
    assert_eq!(entries.len(), 2);
    let Batch::Legacy(m0) = entries[0] else {
        panic!("expected legacy")
    };
    assert_eq!(
        (m0.offset, m0.magic, m0.timestamp, m0.key, m0.value),
        (10, 0, None, None, Some(&b"hello"[..]))
    );
    let Batch::Legacy(m1) = entries[1] else {
        panic!("expected legacy")
    };
    assert_eq!(
        (m1.offset, m1.magic, m1.timestamp),
        (11, 1, Some(1_600_000_000_000))
    );
    assert_eq!(m1.compression(), Ok(Compression::None));
    let mut bad = set.clone();
    bad[27] ^= 0xff; // inside the first value
    assert!(matches!(
        RecordSet::new(&bad).next(),
        Some(Err(Error::BadCrc { .. }))
    ));
}

#[test]
fn control_records() {
    assert_eq!(
        ControlRecord::parse(&[0, 0, 0, 1]),
        Ok(ControlRecord {
            version: 0,
            kind: ControlRecordType::Commit
        })
    );
    assert_eq!(
        ControlRecord::parse(&[0, 0, 0, 0]).unwrap().kind,
        ControlRecordType::Abort
    );
    assert_eq!(ControlRecord::parse(&[0, 0]), Err(Error::Truncated));
}

/// A stand-in codec that "compresses" by reversing the bytes: enough to prove
/// the builder and view call the hook and set the attribute bits.
struct Reverse;
impl compression::Codec for Reverse {
    fn compression(&self) -> Compression {
        Compression::Lz4
    }
    fn compress(&mut self, input: &[u8], output: &mut [u8]) -> crate::Result<usize> {
        let out = output.get_mut(..input.len()).ok_or(Error::BufferTooSmall)?;
        out.iter_mut()
            .zip(input.iter().rev())
            .for_each(|(o, i)| *o = *i);
        Ok(input.len())
    }
    fn decompress(&mut self, input: &[u8], output: &mut [u8]) -> crate::Result<usize> {
        self.compress(input, output)
    }
}

#[test]
fn compression_hook_is_called_both_ways() {
    let mut buf = [0u8; 256];
    let mut scratch = [0u8; 256];
    let mut b = RecordBatchBuilder::new(&mut buf, BatchOptions::default()).unwrap();
    b.append(0, Some(b"k"), Some(b"value"), &[]).unwrap();
    let bytes = b.finish_compressed(&mut Reverse, &mut scratch).unwrap();
    let batch = RecordBatch::new_verified(&*bytes).unwrap();
    assert_eq!(batch.attributes().compression(), Ok(Compression::Lz4));
    assert_eq!(
        batch.records().err(),
        Some(Error::UnsupportedCompression(3))
    );
    let mut out = [0u8; 256];
    let records: Vec<_> = batch
        .records_decompressed(&mut Reverse, &mut out)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(records[0].value, Some(&b"value"[..]));
}

proptest! {
    #[test]
    fn any_records_round_trip(
        records in proptest::collection::vec(
            (any::<i64>(), proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
             proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200))), 1..20),
        header_value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..10)),
    ) {
        let headers = [RecordHeader { key: "h", value: header_value.as_deref() }];
        let mut buf = std::vec![0u8; 8192];
        let mut b = RecordBatchBuilder::new(&mut buf, BatchOptions::default()).unwrap();
        for (ts, k, v) in &records {
            b.append(*ts, k.as_deref(), v.as_deref(), &headers).unwrap();
        }
        let bytes = b.finish().unwrap();
        let batch = RecordBatch::new_verified(&*bytes).unwrap();
        let base = batch.base_timestamp();
        let mut n = 0;
        for (i, r) in batch.records().unwrap().enumerate() {
            let r = r.unwrap();
            prop_assert_eq!(r.offset_delta as usize, i);
            prop_assert_eq!(base.wrapping_add(r.timestamp_delta), records[i].0);
            prop_assert_eq!(r.key, records[i].1.as_deref());
            prop_assert_eq!(r.value, records[i].2.as_deref());
            prop_assert_eq!(r.headers.get("h"), Some(header_value.as_deref()));
            n += 1;
        }
        prop_assert_eq!(n, records.len());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        for entry in RecordSet::new(&bytes).without_crc_check() {
            match entry {
                Ok(Batch::V2(b)) => { let _ = b.records().map(|r| r.count()); }
                Ok(Batch::Legacy(m)) => { let _ = m.compression(); }
                Err(_) => {}
            }
        }
        if let Ok(b) = RecordBatch::new_checked(&bytes[..]) {
            let _ = b.verify_crc();
            if let Ok(records) = b.records() {
                for r in records.flatten() { let _ = r.headers.iter().count(); }
            }
        }
    }
}
