//! What Conn and Writer share to produce: acks, building a batch into
//! reused buffers, and reading one partition's answer.

use microkafka_core::protocol::messages::ProduceResponse;
use microkafka_core::record::compression::{Codecs, Compression};
use microkafka_core::record::{BatchOptions, RecordBatchBuilder, RECORD_BATCH_OVERHEAD};
use microkafka_core::ErrorCode;

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

/// One partition's answer to a Produce request.
#[derive(Debug)]
pub(crate) struct ProduceAnswer {
    pub(crate) error: ErrorCode,
    pub(crate) message: Option<String>,
    pub(crate) base_offset: i64,
}

impl ProduceAnswer {
    /// Finds `topic`/`partition` in a response.
    pub(crate) fn find(
        response: &ProduceResponse<'_>,
        topic: &str,
        partition: i32,
    ) -> Result<Self> {
        for t in response.responses.iter() {
            if t.name != topic {
                continue;
            }
            for p in t.partition_responses.iter() {
                if p.index == partition {
                    return Ok(ProduceAnswer {
                        error: p.error_code,
                        message: p.error_message.map(str::to_owned),
                        base_offset: p.base_offset,
                    });
                }
            }
        }
        Err(Error::from(microkafka_core::Error::Malformed(
            "the Produce response does not mention the partition",
        )))
    }
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
