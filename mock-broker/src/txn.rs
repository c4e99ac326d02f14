//! The transaction coordinator: transactional ids with their producer id
//! and epoch, open transactions (the partitions and groups added to them),
//! their timeouts, and the markers that end them.
//!
//! As Kafka's `TransactionCoordinator`, with one simplification: markers
//! are written before EndTxn is answered (Kafka answers, then writes them),
//! so a transaction is never seen half-ended and the `Prepare*` states do
//! not exist. The one place Kafka's client sees them is kept: an
//! InitProducerId that finds a transaction open aborts it (with the epoch
//! bumped, fencing its producer) and answers `CONCURRENT_TRANSACTIONS`, as
//! Kafka does while the abort's markers are written; the retry gets the
//! next epoch.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use microkafka_core::record::{crc32c, BatchOptions, RecordBatchBuilder};
use microkafka_core::ErrorCode;

use crate::cluster::Cluster;

/// Where a transactional id's transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No transaction since the producer (re)initialised.
    Empty,
    /// A transaction is open.
    Ongoing,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted.
    CompleteAbort,
}

/// A transactional id's state.
#[derive(Debug)]
pub(crate) struct TxnMeta {
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    /// `transaction.timeout.ms` from InitProducerId.
    pub(crate) timeout: Duration,
    pub(crate) phase: Phase,
    /// Partitions of the open transaction, in the order added.
    pub(crate) partitions: Vec<(String, i32)>,
    /// Groups whose offsets the open transaction commits.
    pub(crate) groups: Vec<String>,
    /// When the open transaction began.
    started: Instant,
    /// The last request that named the id (expiry).
    last_used: Instant,
}

impl TxnMeta {
    fn deadline(&self) -> Option<Instant> {
        (self.phase == Phase::Ongoing).then(|| self.started + self.timeout)
    }
}

/// Every transactional id the coordinator knows, bounded by
/// [`Limits::max_transactional_ids`](crate::Limits::max_transactional_ids).
#[derive(Debug, Default)]
pub(crate) struct Transactions {
    ids: HashMap<String, TxnMeta>,
}

impl Transactions {
    pub(crate) fn get(&self, id: &str) -> Option<&TxnMeta> {
        self.ids.get(id)
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut TxnMeta> {
        self.ids.get_mut(id)
    }

    /// Transactions open now.
    pub(crate) fn open(&self) -> usize {
        self.ids
            .values()
            .filter(|m| m.phase == Phase::Ongoing)
            .count()
    }

    /// When the next open transaction times out.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.ids.values().filter_map(TxnMeta::deadline).min()
    }

    /// The ids whose transaction timed out by `now`.
    fn expired(&self, now: Instant) -> Vec<String> {
        let mut out: Vec<String> = self
            .ids
            .iter()
            .filter(|(_, m)| m.deadline().is_some_and(|d| d <= now))
            .map(|(id, _)| id.clone())
            .collect();
        out.sort();
        out
    }

    /// Validates a client's producer id and epoch for `id`, as Kafka's
    /// coordinator: an unknown id or another producer id is
    /// `INVALID_PRODUCER_ID_MAPPING`, another epoch `PRODUCER_FENCED`
    /// (`INVALID_PRODUCER_EPOCH` before the request version that knows it).
    pub(crate) fn check(
        &mut self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        knows_fenced: bool,
        now: Instant,
    ) -> Result<&mut TxnMeta, ErrorCode> {
        let meta = self
            .ids
            .get_mut(id)
            .ok_or(ErrorCode::INVALID_PRODUCER_ID_MAPPING)?;
        if meta.producer_id != producer_id {
            return Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING);
        }
        if meta.epoch != epoch {
            return Err(if knows_fenced {
                ErrorCode::PRODUCER_FENCED
            } else {
                ErrorCode::INVALID_PRODUCER_EPOCH
            });
        }
        meta.last_used = now;
        Ok(meta)
    }
}

/// A transactional id as the coordinator holds it ([`Cluster::transaction`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionState {
    /// The producer id.
    pub producer_id: i64,
    /// The current epoch (bumped by each InitProducerId, a fencing abort,
    /// a timeout, or EndTxn v5).
    pub producer_epoch: i16,
    /// True while a transaction is open.
    pub open: bool,
    /// The open transaction's partitions, in the order added.
    pub partitions: Vec<(String, i32)>,
    /// The groups whose offsets the open transaction commits.
    pub groups: Vec<String>,
}

/// Kafka's control record value: version 0, coordinator epoch 0.
const MARKER_VALUE: [u8; 6] = [0, 0, 0, 0, 0, 0];
/// The control bit of a batch's attributes.
const CONTROL: i16 = 0x20;

/// A transaction marker: a control batch of one record whose key is
/// `version 0, type` (0 abort, 1 commit).
fn marker_batch(producer_id: i64, epoch: i16, commit: bool, timestamp: i64) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 128];
    let options = BatchOptions {
        producer_id,
        producer_epoch: epoch,
        transactional: true,
        ..BatchOptions::default()
    };
    let mut b = RecordBatchBuilder::new(&mut buf, options).ok()?;
    let key = [0, 0, 0, u8::from(commit)];
    b.append(timestamp, Some(&key), Some(&MARKER_VALUE), &[])
        .ok()?;
    let mut out = b.finish().ok()?.to_vec();
    // attributes at 21..23, the CRC (over attributes onward) at 17..21.
    let attributes = i16::from_be_bytes([out[21], out[22]]) | CONTROL;
    out[21..23].copy_from_slice(&attributes.to_be_bytes());
    let crc = crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    Some(out)
}

impl Cluster {
    /// Gets a producer id and epoch for a transactional id (InitProducerId
    /// after its checks): a new id gets epoch 0; a known one the next
    /// epoch (a new id when the epoch runs out). `current` is the id and
    /// epoch the request names (KIP-360), or `(-1, -1)`. An open
    /// transaction is aborted with the next epoch, fencing its producer,
    /// and `CONCURRENT_TRANSACTIONS` answered: the retry gets an epoch more.
    pub(crate) fn init_transactional(
        &mut self,
        id: &str,
        timeout: Duration,
        current: (i64, i16),
        now: Instant,
    ) -> Result<(i64, i16), ErrorCode> {
        if let Some(meta) = self.txns.get(id) {
            if current.0 >= 0 && (current.0 != meta.producer_id || current.1 != meta.epoch) {
                return Err(ErrorCode::PRODUCER_FENCED);
            }
            if meta.phase == Phase::Ongoing {
                let fence = meta.epoch.saturating_add(1);
                self.complete_transaction(id, false, fence, now);
                return Err(ErrorCode::CONCURRENT_TRANSACTIONS);
            }
        } else if current.0 >= 0 {
            // KIP-360 naming an id this coordinator never handed out.
            return Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING);
        } else if !self.make_room_for_transactional_id(now) {
            return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
        }
        let fresh = match self.txns.get(id) {
            // Epoch exhausted: a new id, as Kafka does.
            Some(m) if m.epoch >= i16::MAX - 1 => None,
            Some(m) => Some((m.producer_id, m.epoch + 1)),
            None => None,
        };
        let (producer_id, epoch) = match fresh {
            Some(next) => next,
            None => (self.next_producer_id(), 0),
        };
        self.txns.ids.insert(
            id.to_owned(),
            TxnMeta {
                producer_id,
                epoch,
                timeout,
                phase: Phase::Empty,
                partitions: Vec::new(),
                groups: Vec::new(),
                started: now,
                last_used: now,
            },
        );
        Ok((producer_id, epoch))
    }

    /// Room for one more transactional id: ids idle past
    /// `transactional_id_expiration` go, then, at the limit, the
    /// longest-unused id without an open transaction. False when every id
    /// has one.
    fn make_room_for_transactional_id(&mut self, now: Instant) -> bool {
        let limits = &self.config.limits;
        let (max, expiry) = (
            limits.max_transactional_ids,
            limits.transactional_id_expiration,
        );
        let ids = &mut self.txns.ids;
        ids.retain(|_, m| {
            m.phase == Phase::Ongoing || now.saturating_duration_since(m.last_used) < expiry
        });
        if ids.len() < max {
            return true;
        }
        let oldest = ids
            .iter()
            .filter(|(_, m)| m.phase != Phase::Ongoing)
            .min_by_key(|(_, m)| m.last_used)
            .map(|(id, _)| id.clone());
        match oldest {
            Some(id) => {
                ids.remove(&id);
                true
            }
            None => false,
        }
    }

    /// Opens `id`'s transaction if it is not open (AddPartitionsToTxn,
    /// AddOffsetsToTxn): `COORDINATOR_NOT_AVAILABLE` past
    /// [`Limits::max_open_transactions`](crate::Limits::max_open_transactions).
    pub(crate) fn begin_transaction(&mut self, id: &str, now: Instant) -> Result<(), ErrorCode> {
        let open = self.txns.open();
        let max = self.config.limits.max_open_transactions;
        let meta = self
            .txns
            .get_mut(id)
            .ok_or(ErrorCode::INVALID_PRODUCER_ID_MAPPING)?;
        if meta.phase == Phase::Ongoing {
            return Ok(());
        }
        if open >= max {
            return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
        }
        meta.phase = Phase::Ongoing;
        meta.started = now;
        meta.partitions.clear();
        meta.groups.clear();
        Ok(())
    }

    /// Ends `id`'s open transaction: a marker of epoch `marker_epoch` in
    /// each of its partitions, its groups' pending offsets committed or
    /// dropped; the producer's epoch becomes `marker_epoch`.
    pub(crate) fn complete_transaction(
        &mut self,
        id: &str,
        commit: bool,
        marker_epoch: i16,
        now: Instant,
    ) {
        let Some(meta) = self.txns.get_mut(id) else {
            return;
        };
        let producer_id = meta.producer_id;
        let partitions = std::mem::take(&mut meta.partitions);
        let groups = std::mem::take(&mut meta.groups);
        meta.phase = if commit {
            Phase::CompleteCommit
        } else {
            Phase::CompleteAbort
        };
        meta.epoch = marker_epoch;
        meta.last_used = now;
        let timestamp = self.unix_ms(now);
        let Some(marker) = marker_batch(producer_id, marker_epoch, commit, timestamp) else {
            return;
        };
        let max = self.config.limits.max_retained_bytes;
        for (topic, index) in partitions {
            let Some(p) = self.topics.partition_mut(&topic, index) else {
                continue; // deleted meanwhile
            };
            let before = p.log.size_bytes();
            let leader_epoch = p.leader_epoch;
            if let Some(offset) = p.log.append_batch(&marker, leader_epoch) {
                p.end_txn(producer_id, marker_epoch, offset, commit);
            }
            let after = p.log.size_bytes();
            self.topics.log_changed(before, after, max);
            self.arrivals.appended(&topic, index);
        }
        for group in groups {
            self.groups.complete_txn(&group, producer_id, commit);
        }
    }

    /// Aborts the transactions open longer than their timeout, with the
    /// epoch bumped (Kafka fences the producer of a timed-out transaction:
    /// its next request gets `PRODUCER_FENCED` or `INVALID_PRODUCER_EPOCH`).
    pub(crate) fn expire_transactions(&mut self, now: Instant) {
        for id in self.txns.expired(now) {
            let epoch = self.txns.get(&id).map_or(0, |m| m.epoch.saturating_add(1));
            self.complete_transaction(&id, false, epoch, now);
        }
    }

    /// What the coordinator holds for a transactional id, if it knows it.
    pub fn transaction(&self, id: &str) -> Option<TransactionState> {
        let m = self.txns.get(id)?;
        Some(TransactionState {
            producer_id: m.producer_id,
            producer_epoch: m.epoch,
            open: m.phase == Phase::Ongoing,
            partitions: m.partitions.clone(),
            groups: m.groups.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use microkafka_core::record::{Batch, ControlRecord, ControlRecordType, RecordSet};

    #[test]
    fn markers_are_control_batches_with_a_valid_crc() {
        for commit in [false, true] {
            let bytes = marker_batch(7, 3, commit, 1_700_000_000_000).unwrap();
            let Some(Ok(Batch::V2(b))) = RecordSet::new(&bytes).next() else {
                panic!("not a batch")
            };
            b.verify_crc().unwrap();
            let a = b.attributes();
            assert!(a.is_control() && a.is_transactional());
            assert_eq!(
                (b.producer_id(), b.producer_epoch(), b.base_sequence()),
                (7, 3, -1)
            );
            let r = b.records().unwrap().next().unwrap().unwrap();
            let kind = ControlRecord::parse(r.key.unwrap()).unwrap().kind;
            let want = if commit {
                ControlRecordType::Commit
            } else {
                ControlRecordType::Abort
            };
            assert_eq!(kind, want);
            assert_eq!(r.value, Some(&MARKER_VALUE[..]));
        }
    }
}
