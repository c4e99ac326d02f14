//! [`Accumulator`]: per-partition record batches in one caller buffer, with
//! linger and size triggers, and no allocation.

use crate::error::{Error, Result};
use crate::record::{BatchOptions, RecordBatchBuilder, RecordHeader, RECORD_BATCH_OVERHEAD};

/// What [`Accumulator::append`] did with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Appended {
    /// The record is in the batch held by `slot`.
    Added {
        /// The slot the record went to.
        slot: usize,
    },
    /// The record was **not** added: the batch in `slot` must be sent (and
    /// [released](Accumulator::release)) first, then append again. Either
    /// the partition's batch is full, or every slot holds another
    /// partition's batch (`slot` is the oldest).
    SendFirst {
        /// The slot to send and release.
        slot: usize,
    },
}

#[derive(Debug)]
struct Slot<'b> {
    builder: RecordBatchBuilder<'b>,
    /// The partition whose batch this is; `None` when the slot is free.
    partition: Option<i32>,
    /// When the first record went in (ms).
    opened_at: u64,
    /// Sealed for sending: no more appends until released.
    sealed: bool,
}

impl Slot<'_> {
    /// Holds records and is not sealed.
    fn is_open(&self) -> bool {
        self.partition.is_some() && !self.sealed
    }
}

/// Record batches being filled, one per partition, in fixed slots of one
/// caller buffer: the sans-IO half of a firmware producer.
///
/// The buffer is cut into `SLOTS` equal slots; a slot holds one partition's
/// open batch, so `SLOTS` is how many partitions can fill batches at the
/// same time (a record for another partition asks for the oldest batch to
/// be sent first). Each slot's length is the largest batch, and so the
/// largest record, this producer can send.
///
/// A batch is *due* once it has waited `linger` since its first record, or
/// holds `batch_bytes`. The caller seals it ([`seal`](Self::seal), which
/// stamps the producer id and sequence if any), sends the bytes, and keeps
/// them until the broker answers: a retry reseals the same slot and sends
/// the very same bytes. [`release`](Self::release) frees the slot.
///
/// Time is in milliseconds of whatever monotonic clock the caller uses
/// (since any fixed start): plain integers rather than `Duration`, whose
/// seconds-and-nanoseconds arithmetic cost a firmware 0.7 KiB of flash.
///
/// ```
/// use microkafka_core::producer::{Accumulator, Appended};
/// use microkafka_core::record::{BatchOptions, RecordBatch};
///
/// let mut buf = [0u8; 512];
/// let linger = 5;
/// let mut acc = Accumulator::<2>::new(&mut buf, linger, usize::MAX).unwrap();
/// let t0 = 1_000;
/// assert_eq!(acc.append(t0, 3, 1_700_000_000_000, None, Some(b"a"), &[]), Ok(Appended::Added { slot: 0 }));
/// assert_eq!(acc.due(t0), None);
/// assert_eq!(acc.deadline(), Some(t0 + linger));
///
/// let slot = acc.due(t0 + linger).unwrap();
/// assert_eq!(acc.partition(slot), Some(3));
/// let bytes = acc.seal(slot, BatchOptions::default()).unwrap();
/// assert_eq!(RecordBatch::new_verified(&*bytes).unwrap().records_count(), 1);
/// // ... sent, acknowledged:
/// acc.release(slot);
/// assert!(acc.is_empty());
/// ```
#[derive(Debug)]
pub struct Accumulator<'b, const SLOTS: usize> {
    slots: heapless::Vec<Slot<'b>, SLOTS>,
    slot_len: usize,
    linger_ms: u64,
    batch_bytes: usize,
}

impl<'b, const SLOTS: usize> Accumulator<'b, SLOTS> {
    /// Cuts `buf` into `SLOTS` equal slots. A batch is due after `linger_ms`,
    /// or once it holds `batch_bytes` (capped at the slot length; a slot
    /// that cannot take the next record is sent whatever this says).
    ///
    /// Errors: [`Error::TooLarge`] when a slot would not hold a batch header
    /// and one byte (or `SLOTS` is zero).
    pub fn new(buf: &'b mut [u8], linger_ms: u64, batch_bytes: usize) -> Result<Self> {
        let slot_len = buf.len().checked_div(SLOTS).unwrap_or(0);
        if slot_len <= RECORD_BATCH_OVERHEAD {
            return Err(Error::TooLarge {
                what: crate::Limit::BatchSlot,
                size: RECORD_BATCH_OVERHEAD + 1,
                limit: slot_len,
            });
        }
        let mut slots = heapless::Vec::new();
        let mut rest = buf;
        for _ in 0..SLOTS {
            let (slot, tail) = rest.split_at_mut(slot_len);
            rest = tail;
            let builder = RecordBatchBuilder::new(slot, BatchOptions::default())?;
            // Cannot fail: exactly SLOTS slots are pushed.
            let _ = slots.push(Slot {
                builder,
                partition: None,
                opened_at: 0,
                sealed: false,
            });
        }
        Ok(Accumulator {
            slots,
            slot_len,
            linger_ms,
            batch_bytes: batch_bytes.min(slot_len),
        })
    }

    /// The largest batch a slot holds (header included).
    pub fn slot_len(&self) -> usize {
        self.slot_len
    }

    /// The largest record (key, value, headers) an empty slot accepts,
    /// counted as [`RecordBatchBuilder::encoded_record_len`] does.
    pub fn max_record_len(&self) -> usize {
        self.slot_len - RECORD_BATCH_OVERHEAD
    }

    /// Adds a record for `partition` at time `now_ms`; `timestamp` is the
    /// record's create time (ms since the Unix epoch).
    ///
    /// Errors: [`Error::TooLarge`] when the record would not fit even an
    /// empty slot (it can never be sent with this buffer).
    pub fn append(
        &mut self,
        now_ms: u64,
        partition: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> Result<Appended> {
        let open = self
            .slots
            .iter()
            .position(|s| s.partition == Some(partition) && !s.sealed);
        // The slot to append to (the partition's open batch, else an empty
        // slot), then one append and one look at its error: the append
        // written once, not once per kind of slot (a firmware inlines it).
        let i = match open {
            Some(i) => i,
            None => {
                if !self.fits_empty(key, value, headers) {
                    return Err(self.too_large(key, value, headers));
                }
                let Some(i) = self.slots.iter().position(|s| s.partition.is_none()) else {
                    // Every slot holds another partition's batch: the oldest goes first.
                    // (A sealed one first: it is being sent already.)
                    let oldest = self
                        .oldest_where(&|s| s.sealed)
                        .or_else(|| self.oldest_where(&|_| true))
                        .unwrap_or(0);
                    return Ok(Appended::SendFirst { slot: oldest });
                };
                i
            }
        };
        let slot = &mut self.slots[i];
        match slot.builder.append(timestamp, key, value, headers) {
            Ok(()) => {
                if slot.partition.is_none() {
                    slot.partition = Some(partition);
                    slot.opened_at = now_ms;
                }
                Ok(Appended::Added { slot: i })
            }
            // The partition's batch is full: it goes first, the record
            // fits the emptied slot.
            Err(Error::BufferTooSmall)
                if open.is_some() && self.fits_empty(key, value, headers) =>
            {
                Ok(Appended::SendFirst { slot: i })
            }
            Err(Error::BufferTooSmall) => Err(self.too_large(key, value, headers)),
            Err(e) => Err(e),
        }
    }

    /// True when the record fits an empty slot.
    fn fits_empty(
        &self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> bool {
        RecordBatchBuilder::encoded_record_len(0, 0, key, value, headers)
            .is_ok_and(|n| n <= self.max_record_len())
    }

    fn too_large(
        &self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> Error {
        Error::TooLarge {
            what: crate::Limit::Record,
            size: RecordBatchBuilder::encoded_record_len(0, 0, key, value, headers)
                .unwrap_or(usize::MAX),
            limit: self.max_record_len(),
        }
    }

    /// A batch that should be sent now (lingered long enough, or reached
    /// `batch_bytes`), oldest first; `None` when nothing is due.
    pub fn due(&self, now_ms: u64) -> Option<usize> {
        self.oldest_where(&|s| {
            s.is_open()
                && (now_ms.saturating_sub(s.opened_at) >= self.linger_ms
                    || s.builder.len() >= self.batch_bytes)
        })
    }

    /// When the next batch becomes due by lingering; `None` with no open batch.
    pub fn deadline(&self) -> Option<u64> {
        let oldest = self.oldest_where(&Slot::is_open)?;
        Some(self.slots[oldest].opened_at.saturating_add(self.linger_ms))
    }

    /// The oldest batch holding records, due or not (to flush everything).
    pub fn oldest(&self) -> Option<usize> {
        self.oldest_where(&|s| s.partition.is_some())
    }

    /// The oldest slot (the first of equals) that `pick` accepts: one
    /// plain loop for `due`, `deadline` and `oldest` rather than an
    /// iterator chain and a `min_by_key` closure each (which a firmware
    /// inlines one by one). `pick` is `dyn`: the loop is compiled once, not
    /// once per caller.
    fn oldest_where(&self, pick: &dyn Fn(&Slot<'b>) -> bool) -> Option<usize> {
        let mut oldest = None;
        let mut at = 0;
        for (i, s) in self.slots.iter().enumerate() {
            if pick(s) && (oldest.is_none() || s.opened_at < at) {
                oldest = Some(i);
                at = s.opened_at;
            }
        }
        oldest
    }

    /// The partition whose batch `slot` holds; `None` when free.
    pub fn partition(&self, slot: usize) -> Option<i32> {
        self.slots.get(slot).and_then(|s| s.partition)
    }

    /// Records in `slot`'s batch.
    pub fn record_count(&self, slot: usize) -> i32 {
        self.slots.get(slot).map_or(0, |s| s.builder.record_count())
    }

    /// True when `slot` has been sealed and not released.
    pub fn is_sealed(&self, slot: usize) -> bool {
        self.slots.get(slot).is_some_and(|s| s.sealed)
    }

    /// Records held in every slot.
    pub fn pending_records(&self) -> usize {
        self.slots
            .iter()
            .map(|s| s.builder.record_count() as usize)
            .sum()
    }

    /// True when no slot holds a record.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(|s| s.partition.is_none())
    }

    /// Bytes `slot`'s batch takes (header included), as [`seal`](Self::seal)
    /// will return it; 0 for a free slot. A request can be written around
    /// the batch before it is sealed.
    pub fn batch_len(&self, slot: usize) -> usize {
        self.slots
            .get(slot)
            .filter(|s| s.partition.is_some())
            .map_or(0, |s| s.builder.len())
    }

    /// Seals `slot`'s batch with `options` (producer id, epoch and base
    /// sequence for idempotence; defaults otherwise) and returns its bytes.
    /// The slot takes no more records until [`release`](Self::release)d;
    /// sealing it again returns the same bytes (with the options given).
    ///
    /// Errors: [`Error::Malformed`] for a free slot.
    pub fn seal(&mut self, slot: usize, options: BatchOptions) -> Result<&mut [u8]> {
        let s = self
            .slots
            .get_mut(slot)
            .filter(|s| s.partition.is_some())
            .ok_or(Error::Malformed("no batch in this slot"))?;
        s.sealed = true;
        s.builder.set_options(options);
        s.builder.seal_in_place()
    }

    /// Empties `slot` (its batch was sent, or given up) for the next batch.
    pub fn release(&mut self, slot: usize) {
        if let Some(s) = self.slots.get_mut(slot) {
            s.builder.reset(BatchOptions::default());
            s.partition = None;
            s.sealed = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordBatch;

    const T0: u64 = 10_000;
    const LINGER: u64 = 5;

    fn count(bytes: &[u8]) -> i32 {
        RecordBatch::new_verified(bytes).unwrap().records_count()
    }

    #[test]
    fn one_batch_per_partition_until_the_slots_run_out() {
        let mut buf = [0u8; 3 * 128];
        let mut acc = Accumulator::<3>::new(&mut buf, LINGER, usize::MAX).unwrap();
        assert_eq!(acc.slot_len(), 128);
        let add = |acc: &mut Accumulator<'_, 3>, at: u64, p: i32| {
            acc.append(T0 + at, p, 0, None, Some(b"v"), &[])
        };
        assert_eq!(add(&mut acc, 0, 7), Ok(Appended::Added { slot: 0 }));
        assert_eq!(add(&mut acc, 1, 8), Ok(Appended::Added { slot: 1 }));
        assert_eq!(add(&mut acc, 2, 7), Ok(Appended::Added { slot: 0 }));
        assert_eq!(add(&mut acc, 3, 9), Ok(Appended::Added { slot: 2 }));
        // A fourth partition: the oldest batch (partition 7) must go first.
        assert_eq!(add(&mut acc, 4, 1), Ok(Appended::SendFirst { slot: 0 }));
        assert_eq!(acc.pending_records(), 4);
        assert_eq!((acc.partition(0), acc.record_count(0)), (Some(7), 2));
        let bytes = acc.seal(0, BatchOptions::default()).unwrap();
        assert_eq!(count(bytes), 2);
        // Sealed: partition 7's next record cannot join the batch in flight.
        assert_eq!(add(&mut acc, 5, 7), Ok(Appended::SendFirst { slot: 0 }));
        acc.release(0);
        assert_eq!(add(&mut acc, 6, 1), Ok(Appended::Added { slot: 0 }));
        assert_eq!(acc.partition(0), Some(1));
    }

    #[test]
    fn a_sealed_batch_goes_first_then_the_oldest_and_the_first_of_equals() {
        let mut buf = [0u8; 3 * 128];
        let mut acc = Accumulator::<3>::new(&mut buf, LINGER, usize::MAX).unwrap();
        let add = |acc: &mut Accumulator<'_, 3>, at: u64, p: i32| {
            acc.append(T0 + at, p, 0, None, Some(b"v"), &[])
        };
        assert_eq!(add(&mut acc, 1, 7), Ok(Appended::Added { slot: 0 }));
        assert_eq!(add(&mut acc, 0, 8), Ok(Appended::Added { slot: 1 }));
        assert_eq!(add(&mut acc, 0, 9), Ok(Appended::Added { slot: 2 }));
        // Slots 1 and 2 opened at the same time: the first of them.
        assert_eq!(acc.oldest(), Some(1));
        assert_eq!(acc.due(T0 + LINGER), Some(1));
        assert_eq!(add(&mut acc, 2, 1), Ok(Appended::SendFirst { slot: 1 }));
        // A sealed batch (in flight) goes first, however young.
        acc.seal(0, BatchOptions::default()).unwrap();
        assert_eq!(add(&mut acc, 3, 1), Ok(Appended::SendFirst { slot: 0 }));
        // Sealed batches are neither due nor lingering.
        assert_eq!(acc.due(T0 + 100), Some(1));
        assert_eq!(acc.deadline(), Some(T0 + LINGER));
        assert_eq!(acc.oldest(), Some(1));
    }

    #[test]
    fn batches_fall_due_on_linger_then_size() {
        let mut buf = [0u8; 2 * 200];
        let mut acc = Accumulator::<2>::new(&mut buf, LINGER, 120).unwrap();
        assert_eq!(
            (acc.due(T0), acc.deadline(), acc.oldest()),
            (None, None, None)
        );
        acc.append(T0, 0, 0, None, Some(b"a"), &[]).unwrap();
        let later = T0 + 2;
        acc.append(later, 1, 0, None, Some(b"b"), &[]).unwrap();
        assert_eq!(acc.deadline(), Some(T0 + LINGER));
        assert_eq!(acc.due(T0 + 4), None);
        assert_eq!(acc.due(T0 + LINGER), Some(0));
        assert_eq!(acc.oldest(), Some(0));
        // Partition 1 reaches batch_bytes (120) before it lingers 5 ms.
        let mut n = 0;
        while acc.due(later) != Some(1) {
            let added = acc.append(later, 1, 0, None, Some(&[0u8; 10]), &[]);
            assert_eq!(added, Ok(Appended::Added { slot: 1 }));
            n += 1;
        }
        assert!(n > 0);
        assert_eq!(acc.due(later), Some(1), "size trigger before linger");
    }

    #[test]
    fn a_full_batch_asks_to_be_sent_and_a_huge_record_is_refused() {
        let mut buf = [0u8; 100];
        let mut acc = Accumulator::<1>::new(&mut buf, LINGER, usize::MAX).unwrap();
        assert_eq!(acc.max_record_len(), 100 - RECORD_BATCH_OVERHEAD);
        let value = [1u8; 20];
        assert_eq!(
            acc.append(T0, 0, 0, None, Some(&value), &[]),
            Ok(Appended::Added { slot: 0 })
        );
        assert_eq!(
            acc.append(T0, 0, 0, None, Some(&value), &[]),
            Ok(Appended::SendFirst { slot: 0 })
        );
        assert_eq!(
            acc.record_count(0),
            1,
            "the refused record is not half-written"
        );
        assert!(matches!(
            acc.append(T0, 0, 0, None, Some(&[0u8; 64]), &[]),
            Err(Error::TooLarge {
                what: crate::Limit::Record,
                ..
            })
        ));
        acc.release(0);
        assert!(matches!(
            acc.append(T0, 0, 0, None, Some(&[0u8; 64]), &[]),
            Err(Error::TooLarge {
                what: crate::Limit::Record,
                ..
            })
        ));
        assert!(acc.is_empty());
        assert!(acc.seal(0, BatchOptions::default()).is_err());
        assert_eq!(acc.batch_len(0), 0, "a free slot");
    }

    #[test]
    fn resealing_for_a_retry_sends_the_same_bytes_with_the_sequence() {
        let mut buf = [0u8; 256];
        let mut acc = Accumulator::<1>::new(&mut buf, LINGER, usize::MAX).unwrap();
        for v in [b"x", b"y", b"z"] {
            acc.append(T0, 0, 1_000, Some(b"k"), Some(v), &[]).unwrap();
        }
        let options = BatchOptions {
            producer_id: 9,
            producer_epoch: 0,
            base_sequence: 30,
            ..Default::default()
        };
        let len = acc.batch_len(0);
        let first = acc.seal(0, options).unwrap().to_vec();
        assert_eq!(len, first.len(), "known before sealing");
        assert_eq!(acc.batch_len(1), 0, "no such slot");
        assert!(acc.is_sealed(0));
        assert_eq!(acc.due(T0 + LINGER), None, "in flight, not due again");
        assert_eq!(acc.seal(0, options).unwrap(), &first[..]);
        let batch = RecordBatch::new_verified(&first[..]).unwrap();
        assert_eq!((batch.producer_id(), batch.base_sequence()), (9, 30));
    }

    #[test]
    fn slots_need_room_for_a_header() {
        let mut small = [0u8; 2 * RECORD_BATCH_OVERHEAD];
        assert!(Accumulator::<2>::new(&mut small, LINGER, 0).is_err());
        let mut any = [0u8; 64];
        assert!(Accumulator::<0>::new(&mut any, LINGER, 0).is_err());
    }
}
