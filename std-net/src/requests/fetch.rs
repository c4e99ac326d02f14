//! One partition's Fetch, with core's [`PartitionFetch`]
//! and [`FetchedPartition`].

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use microkafka_core::consumer::partition::{FetchedPartition, PartitionFetch};
use microkafka_core::consumer::{FetchCursor, ReadCommitted};
use microkafka_core::protocol::messages::{FetchAbortedTransaction, FetchResponse};
use microkafka_core::record::compression::Codecs;
use microkafka_core::wire::Array;

use crate::broker::{BrokerConn, Response, Slot};
use crate::error::{Error, Result};

/// What one partition's Fetch brought: the response (its buffer holds the
/// records) and where the records lie in it.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) response: Response,
    pub(crate) records: Range<usize>,
    pub(crate) high_water_mark: i64,
    /// The last stable offset (`read_committed`; -1 when the broker sent
    /// none).
    pub(crate) last_stable_offset: i64,
    /// The aborted transactions overlapping the fetched range (only under
    /// `read_committed`; empty, and unallocated, otherwise).
    pub(crate) aborted: Vec<FetchAbortedTransaction>,
}

impl Fetched {
    /// The fetched records' bytes.
    pub(crate) fn records(&self) -> &[u8] {
        self.response.body_slice(&self.records)
    }

    /// The `read_committed` state for these records (core's filter,
    /// fresh for each response: Kafka lists the aborted transactions
    /// overlapping each fetched range).
    pub(crate) fn read_committed<const N: usize>(&self) -> ReadCommitted<N> {
        ReadCommitted::new(self.last_stable_offset)
    }

    /// Moves `cursor` to the next record to hand out: any record without
    /// `committed` (`read_uncommitted`); with it, committed ones only,
    /// below the last stable offset (core's
    /// [`FetchCursor::advance_committed`]).
    pub(crate) fn advance<const N: usize>(
        &self,
        committed: Option<&mut ReadCommitted<N>>,
        cursor: &mut FetchCursor,
        codecs: &mut Codecs,
        scratch: &mut [u8],
    ) -> microkafka_core::Result<bool> {
        let records = self.records();
        match committed {
            None => cursor.advance(records, codecs, scratch),
            Some(txn) => {
                let aborted = Some(Array::new(&self.aborted[..]));
                cursor.advance_committed(records, aborted, txn, codecs, scratch)
            }
        }
    }
}

/// Sends `fetch` to the partition's leader `conn` and finds the
/// partition's answer, within `timeout`. The response is read into `buf`
/// (taken; given back when the answer is an error). The partition's error
/// code is an error ([`Error::code`]).
pub(crate) async fn fetch_on(
    conn: &BrokerConn,
    fetch: &PartitionFetch<'_>,
    slot: &Arc<Slot>,
    buf: &mut Vec<u8>,
    timeout: Duration,
) -> Result<Fetched> {
    let topic = fetch.topic();
    let request = fetch.request(&topic);
    let response = conn
        .roundtrip(&request, slot, std::mem::take(buf), timeout)
        .await?;
    let found = response.decode::<FetchResponse<'_>>().and_then(|decoded| {
        let p = FetchedPartition::find(
            &decoded,
            response.version(),
            topic.topic,
            topic.topic_id,
            fetch.partition(),
        )?;
        if p.error.is_err() {
            return Err(Error::kafka(p.error, None));
        }
        // Copied out: the list is short (the transactions aborted in the
        // fetched range) and the cursor needs it for the whole chunk.
        let aborted: Vec<FetchAbortedTransaction> = p
            .aborted_transactions
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        Ok((
            response.range_of(p.records),
            p.high_watermark,
            p.last_stable_offset,
            aborted,
        ))
    });
    match found {
        Ok((records, high_water_mark, last_stable_offset, aborted)) => Ok(Fetched {
            response,
            records,
            high_water_mark,
            last_stable_offset,
            aborted,
        }),
        Err(e) => {
            *buf = response.into_buf();
            Err(e.with_broker(conn.broker()))
        }
    }
}
