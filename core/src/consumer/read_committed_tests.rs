//! `read_committed`: [`FetchCursor::next_committed`] over interleaved,
//! aborted, spanning and unstable transactions, as the Java consumer reads them.

extern crate std;

use std::vec::Vec;

use super::*;
use crate::error::Error;
use crate::protocol::messages::FetchAbortedTransaction;
use crate::record::compression::{Codec, Compression};
use crate::record::{crc32c, BatchOptions, RecordBatchBuilder};
use crate::wire::Array;

const T0: i64 = 1_700_000_000_000;

/// A codec that must never run: aborted batches are skipped unopened.
struct Refuse;
impl Codec for Refuse {
    fn compression(&self) -> Compression {
        Compression::Gzip
    }
    fn compress(&mut self, input: &[u8], output: &mut [u8]) -> crate::Result<usize> {
        output[..input.len()].copy_from_slice(input);
        Ok(input.len())
    }
    fn decompress(&mut self, _: &[u8], _: &mut [u8]) -> crate::Result<usize> {
        panic!("an aborted batch was decompressed")
    }
}

/// A data batch at `base` of `count` records from `producer` (-1: none),
/// transactional or not; values are `base`, `base + 1`, ... as one byte.
fn data(base: i64, count: usize, producer: i64, transactional: bool) -> Vec<u8> {
    batch(base, count, producer, transactional, false)
}

fn batch(base: i64, count: usize, producer: i64, transactional: bool, gzip: bool) -> Vec<u8> {
    let mut buf = std::vec![0u8; 1024];
    let options = BatchOptions {
        base_offset: base,
        producer_id: producer,
        producer_epoch: if producer < 0 { -1 } else { 0 },
        base_sequence: if producer < 0 { -1 } else { 0 },
        transactional,
        ..Default::default()
    };
    let mut b = RecordBatchBuilder::new(&mut buf, options).unwrap();
    for i in 0..count {
        let v = [(base + i as i64) as u8];
        b.append(T0, None, Some(&v), &[]).unwrap();
    }
    if gzip {
        let mut scratch = std::vec![0u8; 1024];
        b.finish_compressed(&mut Refuse, &mut scratch)
            .unwrap()
            .to_vec()
    } else {
        b.finish().unwrap().to_vec()
    }
}

/// A transaction marker (control batch) at `offset`.
fn marker(offset: i64, producer: i64, commit: bool) -> Vec<u8> {
    let mut buf = std::vec![0u8; 256];
    let options = BatchOptions {
        base_offset: offset,
        producer_id: producer,
        producer_epoch: 0,
        transactional: true,
        ..Default::default()
    };
    let mut b = RecordBatchBuilder::new(&mut buf, options).unwrap();
    let key = [0, 0, 0, u8::from(commit)];
    let value = [0, 0, 0, 0, 0, 0]; // version 0, coordinator epoch 0
    b.append(T0, Some(&key), Some(&value), &[]).unwrap();
    let mut out = b.finish().unwrap().to_vec();
    let attributes = i16::from_be_bytes([out[21], out[22]]) | 0x20;
    out[21..23].copy_from_slice(&attributes.to_be_bytes());
    let crc = crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

fn aborted(list: &[(i64, i64)]) -> Vec<FetchAbortedTransaction> {
    list.iter()
        .map(|&(producer_id, first_offset)| FetchAbortedTransaction {
            producer_id,
            first_offset,
        })
        .collect()
}

/// Every committed offset a cursor from `from` returns, and its next offset.
fn read_committed<const N: usize>(
    records: &[u8],
    from: i64,
    list: Option<&[FetchAbortedTransaction]>,
    lso: i64,
) -> (Vec<i64>, i64) {
    let mut cursor = FetchCursor::new(from);
    let mut txn = ReadCommitted::<N>::new(lso);
    let mut out = Vec::new();
    while let Some(r) = cursor.next_committed(
        records,
        list.map(Array::new),
        &mut txn,
        &mut Refuse,
        &mut [],
    ) {
        let r = r.unwrap();
        assert_eq!(r.value, Some(&[r.offset as u8][..]));
        out.push(r.offset);
    }
    assert!(!cursor.failed());
    (out, cursor.next_offset())
}

fn read_uncommitted(records: &[u8], from: i64) -> Vec<i64> {
    let mut cursor = FetchCursor::new(from);
    let mut out = Vec::new();
    while let Some(r) = cursor.next(records, &mut Refuse, &mut []) {
        out.push(r.unwrap().offset);
    }
    out
}

const P1: i64 = 1000;
const P2: i64 = 2000;

#[test]
fn interleaved_committed_and_aborted_transactions_of_two_producers() {
    let log = [
        data(0, 2, P1, true),   // P1's transaction A (aborted at 8)
        data(2, 1, P2, true),   // P2's transaction B (committed at 5)
        data(3, 2, P1, true),   // A
        marker(5, P2, true),    // B commits
        data(6, 1, -1, false),  // plain
        data(7, 1, P2, false),  // P2 idempotent, not transactional
        marker(8, P1, false),   // A aborts
        data(9, 2, P1, true),   // P1's transaction C (committed at 13)
        data(11, 1, P2, true),  // P2's transaction D (aborted at 14)
        data(12, 1, -1, false), // plain
        marker(13, P1, true),   // C commits
        marker(14, P2, false),  // D aborts
        data(15, 1, P2, true),  // P2's transaction E (committed at 16)
        marker(16, P2, true),
    ]
    .concat();
    // As the broker lists them: by first offset.
    let list = aborted(&[(P1, 0), (P2, 11)]);
    let (got, next) = read_committed::<2>(&log, 0, Some(&list), 17);
    assert_eq!(got, [2, 6, 7, 9, 10, 12, 15]);
    assert_eq!(next, 17);
    // Listed out of order, the same.
    let list = aborted(&[(P2, 11), (P1, 0)]);
    assert_eq!(read_committed::<2>(&log, 0, Some(&list), 17).0, got);
    // read_uncommitted: every data record, markers skipped.
    assert_eq!(
        read_uncommitted(&log, 0),
        [0, 1, 2, 3, 4, 6, 7, 9, 10, 11, 12, 15]
    );
    // From the middle of A: the broker still lists A (it overlaps the range).
    let tail = &log[data(0, 2, P1, true).len() + data(2, 1, P2, true).len()..];
    let list = aborted(&[(P1, 0), (P2, 11)]);
    assert_eq!(
        read_committed::<2>(tail, 4, Some(&list), 17).0,
        [6, 7, 9, 10, 12, 15]
    );
}

#[test]
fn an_aborted_transaction_spanning_two_fetches() {
    // Fetch 1 ends before the marker: nothing of the transaction shows, and
    // the next fetch starts after what was skipped.
    let first = [data(10, 2, P1, true), data(12, 1, P1, true)].concat();
    let list = aborted(&[(P1, 10)]);
    let (got, next) = read_committed::<1>(&first, 10, Some(&list), 20);
    assert_eq!((got, next), (std::vec![], 13));
    // Fetch 2 from 13: the rest of it, the marker, then a committed one.
    let second = [
        data(13, 1, P1, true),
        marker(14, P1, false),
        data(15, 2, P1, true),
        marker(17, P1, true),
        data(18, 2, -1, false),
    ]
    .concat();
    let (got, next) = read_committed::<1>(&second, 13, Some(&list), 20);
    assert_eq!((got, next), (std::vec![15, 16, 18, 19], 20));
    // The same producer aborting twice in one fetch.
    let twice = [
        data(0, 1, P1, true),
        marker(1, P1, false),
        data(2, 1, P1, true),
        marker(3, P1, true),
        data(4, 1, P1, true),
        marker(5, P1, false),
        data(6, 1, P1, true),
    ]
    .concat();
    let list = aborted(&[(P1, 0), (P1, 4)]);
    assert_eq!(
        read_committed::<1>(&twice, 0, Some(&list), 6),
        (std::vec![2], 6)
    );
}

#[test]
fn markers_only() {
    let log = [
        marker(0, P1, true),
        marker(1, P2, false),
        marker(2, P1, false),
    ]
    .concat();
    for list in [None, Some(&aborted(&[(P2, 1)])[..])] {
        let (got, next) = read_committed::<1>(&log, 0, list, 3);
        assert_eq!((got, next), (std::vec![], 3));
    }
    assert_eq!(read_uncommitted(&log, 0), std::vec![0i64; 0]);
}

#[test]
fn nothing_at_or_above_the_last_stable_offset() {
    // P1's transaction from 2 is still open: the LSO is 2, the high
    // watermark 6; the plain batch at 4 waits for it too.
    let log = [
        data(0, 2, -1, false),
        data(2, 2, P1, true),
        data(4, 2, -1, false),
    ]
    .concat();
    let (got, next) = read_committed::<1>(&log, 0, Some(&[]), 2);
    assert_eq!((got, next), (std::vec![0, 1], 2));
    // Asked again, the same end.
    let mut cursor = FetchCursor::new(0);
    let mut txn = ReadCommitted::<1>::new(2);
    let mut n = 0;
    for _ in 0..4 {
        if let Some(r) = cursor.next_committed(&log, None, &mut txn, &mut Refuse, &mut []) {
            r.unwrap();
            n += 1;
        }
    }
    assert_eq!((n, cursor.next_offset()), (2, 2));
    // An LSO inside a batch (a broker never cuts one, but the bound holds).
    assert_eq!(read_committed::<1>(&log, 0, None, 1), (std::vec![0], 1));
    // No LSO (Fetch v0-3: -1): no cut.
    assert_eq!(
        read_committed::<1>(&log, 0, None, -1),
        (std::vec![0, 1, 2, 3, 4, 5], 6)
    );
    // read_uncommitted ignores it.
    assert_eq!(read_uncommitted(&log, 0), [0, 1, 2, 3, 4, 5]);
}

#[test]
fn aborted_compressed_batches_are_not_decompressed() {
    let log = [
        batch(0, 3, P1, true, true),
        marker(3, P1, false),
        data(4, 1, -1, false),
    ]
    .concat();
    let list = aborted(&[(P1, 0)]);
    assert_eq!(
        read_committed::<1>(&log, 0, Some(&list), 5),
        (std::vec![4], 5)
    );
}

#[test]
fn more_open_aborted_producers_than_tracked_is_an_error() {
    let log = [
        data(0, 1, P1, true),
        data(1, 1, P2, true),
        marker(2, P1, false),
        marker(3, P2, false),
    ]
    .concat();
    let list = aborted(&[(P1, 0), (P2, 1)]);
    assert_eq!(
        read_committed::<2>(&log, 0, Some(&list), 4),
        (std::vec![], 4)
    );
    let mut cursor = FetchCursor::new(0);
    let mut txn = ReadCommitted::<1>::new(4);
    let list = Some(Array::new(&list[..]));
    let err = cursor
        .next_committed(&log, list, &mut txn, &mut Refuse, &mut [])
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err,
        Error::TooLarge {
            what: crate::Limit::AbortedProducers,
            size: 2,
            limit: 1
        }
    );
    assert!(cursor.failed());
    assert_eq!(txn.aborted_producers(), [P1]);
    // The next fetch starts at the batch that did not fit.
    assert_eq!(cursor.next_offset(), 1);
}
