//! One partition's Produce, as Conn and Writer send it: acks, building a
//! batch into reused buffers, and the partition's answer.

use std::sync::Arc;
use std::time::Duration;

use microkafka_core::producer::ProducedPartition;
use microkafka_core::protocol::messages::{
    PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
};
use microkafka_core::record::compression::{Codecs, Compression};
use microkafka_core::record::{BatchOptions, RecordBatchBuilder, RECORD_BATCH_OVERHEAD};
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;

use super::{duration_ms, PartitionAt};
use crate::broker::{BrokerConn, Slot};
use crate::error::{Error, ErrorKind, Result};

/// How many replicas must have a batch before the broker answers (Kafka's
/// `acks`, kafka-go's `RequiredAcks`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RequiredAcks {
    /// `acks=0`: no answer at all. Fastest; a lost or refused batch goes
    /// unnoticed (no offsets, no errors).
    None,
    /// `acks=1`: the leader wrote it.
    One,
    /// `acks=all`: every in-sync replica has it. The default: it is Kafka's
    /// own default since 3.0 and the only setting that survives a leader
    /// failing right after the write.
    #[default]
    All,
}

impl RequiredAcks {
    /// The `acks` field of a Produce request.
    pub const fn to_wire(self) -> i16 {
        match self {
            RequiredAcks::None => 0,
            RequiredAcks::One => 1,
            RequiredAcks::All => -1,
        }
    }
}

/// One partition's answer to a Produce request (core's
/// [`ProducedPartition`], owned).
#[derive(Debug)]
pub(crate) struct ProduceAnswer {
    pub(crate) error: ErrorCode,
    pub(crate) message: Option<String>,
    pub(crate) base_offset: i64,
    /// The log start offset (v5+; -1: the broker did not know it).
    pub(crate) log_start_offset: Option<i64>,
}

impl From<ProducedPartition<'_>> for ProduceAnswer {
    fn from(p: ProducedPartition<'_>) -> Self {
        ProduceAnswer {
            error: p.error,
            message: p.message.map(str::to_owned),
            base_offset: p.base_offset,
            log_start_offset: p.log_start_offset,
        }
    }
}

/// Sends one partition's batch to its leader `conn` and returns the
/// partition's answer (error codes are the caller's to judge). With
/// [`RequiredAcks::None`] nothing comes back: the answer is a success at
/// offset -1. `response_buf` is lent to the response and given back.
pub(crate) async fn produce_on(
    conn: &BrokerConn,
    at: PartitionAt<'_>,
    batch: &[u8],
    acks: RequiredAcks,
    timeout: Duration,
    slot: &Arc<Slot>,
    response_buf: &mut Vec<u8>,
) -> Result<ProduceAnswer> {
    produce_as(conn, None, at, batch, acks, timeout, slot, response_buf).await
}

/// [`produce_on`] for a transactional producer: the request names its
/// `transactional_id` (the broker checks it against the batch's producer
/// id and the transaction's partitions).
#[allow(clippy::too_many_arguments)] // produce_on's, plus the id
pub(crate) async fn produce_as(
    conn: &BrokerConn,
    transactional_id: Option<&str>,
    at: PartitionAt<'_>,
    batch: &[u8],
    acks: RequiredAcks,
    timeout: Duration,
    slot: &Arc<Slot>,
    response_buf: &mut Vec<u8>,
) -> Result<ProduceAnswer> {
    // The broker's own wait for replication; without a client timeout, 30 s.
    let broker_timeout = if timeout.is_zero() {
        Duration::from_secs(30)
    } else {
        timeout
    };
    let partitions = [PartitionProduceData {
        index: at.partition,
        records: Some(batch),
    }];
    let topics = [TopicProduceData {
        name: at.topic,
        partition_data: Array::new(&partitions),
    }];
    let request = ProduceRequest {
        transactional_id,
        acks: acks.to_wire(),
        timeout_ms: duration_ms(broker_timeout),
        topic_data: Array::new(&topics),
    };
    if acks == RequiredAcks::None {
        conn.send_unanswered(&request).await?;
        return Ok(ProduceAnswer {
            error: ErrorCode::NONE,
            message: None,
            base_offset: -1,
            log_start_offset: None,
        });
    }
    let response = conn
        .roundtrip(&request, slot, std::mem::take(response_buf), timeout)
        .await?;
    let answer = response
        .decode::<ProduceResponse<'_>>()
        .and_then(|decoded| {
            ProducedPartition::find(&decoded, response.version(), at.topic, at.partition)
                .map(ProduceAnswer::from)
                .map_err(Error::from)
        });
    *response_buf = response.into_buf();
    answer.map_err(|e| e.with_broker(conn.broker()))
}

/// Reused buffers for building record batches: no allocation once they
/// have grown to the largest batch.
#[derive(Debug, Default)]
pub(crate) struct BatchBuffers {
    out: Vec<u8>,
    scratch: Vec<u8>,
    codecs: Codecs,
}

impl BatchBuffers {
    /// Builds a batch of `estimate` uncompressed bytes (header included)
    /// with `append` adding its records, compressed with `compression`.
    /// Returns the batch bytes.
    pub(crate) fn build(
        &mut self,
        compression: Compression,
        options: BatchOptions,
        estimate: usize,
        mut append: impl FnMut(&mut RecordBatchBuilder<'_>) -> microkafka_core::Result<()>,
    ) -> Result<&[u8]> {
        let mut want = estimate.max(RECORD_BATCH_OVERHEAD);
        for _ in 0..8 {
            let records = want - RECORD_BATCH_OVERHEAD;
            let room = RECORD_BATCH_OVERHEAD + compression.max_compressed_len(records);
            if self.out.len() < room {
                self.out.resize(room, 0);
            }
            if compression != Compression::None && self.scratch.len() < room {
                self.scratch.resize(room, 0);
            }
            let mut builder = RecordBatchBuilder::new(&mut self.out[..], options)?;
            match append(&mut builder) {
                Ok(()) => {}
                Err(microkafka_core::Error::BufferTooSmall) => {
                    want = want.saturating_mul(2);
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            let len = if compression == Compression::None {
                builder.finish()?.len()
            } else {
                let codec = self.codecs.codec(compression)?;
                builder.finish_compressed(codec, &mut self.scratch)?.len()
            };
            return Ok(&self.out[..len]);
        }
        Err(Error::new(ErrorKind::Protocol(
            microkafka_core::Error::BufferTooSmall,
        )))
    }
}
