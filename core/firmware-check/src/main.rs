//! Links microkafka-core into a `#![no_std]`, `#![no_main]` Cortex-M4 image
//! with no global allocator: builds a record batch, encodes a Produce request
//! around it, encodes a Fetch response carrying that batch, then decodes the
//! response and iterates its records. If anything in the core needed `alloc`
//! or `std`, this would not link.
//!
//! With the `lz4`, `gzip` or `snappy` features the batch goes through the
//! heap-free codecs: compressed with lz4 (when on), and read back through
//! `Codecs`, which links every enabled decompressor. Flash cost per codec:
//! build with and without the feature (`.ci/firmware-size` numbers).
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use microkafka_core::protocol::frame::{decode_response, encode_request, encode_response, split_frame};
use microkafka_core::protocol::messages::{
    FetchPartitionData, FetchResponse, FetchableTopicResponse, PartitionProduceData, ProduceRequest,
    TopicProduceData,
};
use microkafka_core::record::{BatchOptions, RecordBatchBuilder, RecordHeader, RecordSet, Batch};
#[cfg(any(feature = "lz4", feature = "gzip", feature = "snappy"))]
use microkafka_core::record::compression::Codecs;
use microkafka_core::wire::Array;
use panic_halt as _;

/// Produces and consumes one batch in memory; returns the sum of value lengths read back.
fn round_trip(batch_buf: &mut [u8], frame_buf: &mut [u8], scratch: &mut [u8]) -> Result<usize, microkafka_core::Error> {
    #[cfg(any(feature = "lz4", feature = "gzip", feature = "snappy"))]
    let mut codecs = Codecs::new();
    let mut builder = RecordBatchBuilder::new(batch_buf, BatchOptions::default())?;
    let headers = [RecordHeader { key: "sensor", value: Some(b"t1") }];
    for i in 0..4u8 {
        builder.append(black_box(1_700_000_000_000), Some(&[i]), Some(b"21.5C"), &headers)?;
    }
    #[cfg(feature = "lz4")]
    let batch: &[u8] = builder.finish_compressed(codecs.codec(microkafka_core::record::Compression::Lz4)?, scratch)?;
    #[cfg(not(feature = "lz4"))]
    let batch: &[u8] = builder.finish()?;

    let partitions = [PartitionProduceData { index: 0, records: Some(batch) }];
    let topics = [TopicProduceData { name: "telemetry", partition_data: Array::new(&partitions) }];
    let produce = ProduceRequest { acks: -1, timeout_ms: 5_000, topic_data: Array::new(&topics), ..Default::default() };
    let n = encode_request(frame_buf, 1, Some("mcu-1"), black_box(9), &produce)?;
    black_box(&frame_buf[..n]);

    let fetched = [FetchPartitionData { high_watermark: 4, records: Some(batch), ..Default::default() }];
    let responses = [FetchableTopicResponse { topic: "telemetry", partitions: Array::new(&fetched), ..Default::default() }];
    let response = FetchResponse { responses: Array::new(&responses), ..Default::default() };
    let n = encode_response(frame_buf, 2, black_box(12), &response)?;

    let (body, _) = split_frame(&frame_buf[..n], 64 * 1024)?.ok_or(microkafka_core::Error::Truncated)?;
    let (_, fetch) = decode_response::<FetchResponse<'_>>(body, 12)?;
    let mut total = 0;
    for topic in fetch.responses.iter() {
        for partition in topic.partitions.iter() {
            for entry in RecordSet::new(partition.records.unwrap_or_default()) {
                if let Batch::V2(batch) = entry? {
                    #[cfg(any(feature = "lz4", feature = "gzip", feature = "snappy"))]
                    let records = batch.records_decompressed(&mut codecs, scratch)?;
                    #[cfg(not(any(feature = "lz4", feature = "gzip", feature = "snappy")))]
                    let records = { black_box(&scratch); batch.records()? };
                    for record in records {
                        total += record?.value.map_or(0, <[u8]>::len);
                    }
                }
            }
        }
    }
    Ok(total)
}

#[entry]
fn main() -> ! {
    let mut batch_buf = [0u8; 512];
    let mut frame_buf = [0u8; 1024];
    let mut scratch = [0u8; 512];
    let total = round_trip(&mut batch_buf, &mut frame_buf, &mut scratch);
    black_box(total.ok());
    loop {
        core::hint::spin_loop();
    }
}
