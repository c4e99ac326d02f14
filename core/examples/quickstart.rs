//! A walk through microkafka-core, all in memory: a client builds a record
//! batch and a Produce request, a "broker" decodes it and assigns offsets,
//! answers a Fetch with the stored batch, and the client reads the records
//! back. Every byte that would cross a socket goes through the real codecs.
//!
//! Run: `cargo run -p microkafka-core --example quickstart`

use microkafka_core::protocol::frame::{
    decode_request_body, decode_response, encode_request, encode_response, split_frame,
    DEFAULT_MAX_FRAME_SIZE,
};
use microkafka_core::protocol::messages::*;
use microkafka_core::protocol::{ApiKey, NegotiatedVersions, RequestHeader};
use microkafka_core::record::{
    BatchOptions, RecordBatch, RecordBatchBuilder, RecordHeader, RecordSet,
};
use microkafka_core::wire::{Array, Reader};
use microkafka_core::{Error, ErrorCode};

fn main() -> Result<(), Error> {
    // 1. The broker says which versions it speaks (here: Kafka 4.0's ranges for two APIs).
    let broker_ranges = [
        ApiVersion {
            api_key: ApiKey::Produce.key(),
            min_version: 0,
            max_version: 12,
        },
        ApiVersion {
            api_key: ApiKey::Fetch.key(),
            min_version: 4,
            max_version: 17,
        },
    ];
    let advertised = ApiVersionsResponse {
        api_keys: Array::new(&broker_ranges),
        ..Default::default()
    };
    let versions = NegotiatedVersions::from_response(&advertised);
    let produce_v = versions.version(ApiKey::Produce)?;
    let fetch_v = versions.version(ApiKey::Fetch)?;
    println!("negotiated: Produce v{produce_v}, Fetch v{fetch_v}");
    match versions.version(ApiKey::Metadata) {
        Err(e) => println!("and, as expected for an API the broker did not list: {e}"),
        Ok(v) => println!("Metadata v{v}"),
    }

    // 2. The client appends records into a buffer it owns.
    let mut batch_buf = [0u8; 1024];
    let mut builder = RecordBatchBuilder::new(&mut batch_buf, BatchOptions::default())?;
    let readings = [
        ("sensor-a", "21.5"),
        ("sensor-b", "19.0"),
        ("sensor-a", "21.7"),
    ];
    for (i, (key, value)) in readings.iter().enumerate() {
        let headers = [RecordHeader {
            key: "unit",
            value: Some(b"celsius"),
        }];
        builder.append(
            1_700_000_000_000 + i as i64,
            Some(key.as_bytes()),
            Some(value.as_bytes()),
            &headers,
        )?;
    }
    let batch: &[u8] = builder.finish()?;
    let view = RecordBatch::new_verified(batch)?;
    println!(
        "built a batch: {} records, {} bytes, CRC-32C {:#010x}",
        view.records_count(),
        batch.len(),
        view.crc()
    );

    // 3. ...and a Produce request frame around it.
    let partitions = [PartitionProduceData {
        index: 0,
        records: Some(batch),
    }];
    let topics = [TopicProduceData {
        name: "telemetry",
        partition_data: Array::new(&partitions),
    }];
    let produce = ProduceRequest {
        acks: -1,
        timeout_ms: 5_000,
        topic_data: Array::new(&topics),
        ..Default::default()
    };
    let mut frame = [0u8; 2048];
    let n = encode_request(&mut frame, 1, Some("quickstart"), produce_v, &produce)?;
    println!(
        "Produce v{produce_v} frame: {n} bytes, starts {}",
        hex(&frame[..24])
    );

    // 4. The broker splits the frame, reads the header, decodes the body and
    //    stores the batch with its offset assigned (outside the CRC).
    let (body, _) = split_frame(&frame[..n], DEFAULT_MAX_FRAME_SIZE)?.ok_or(Error::Truncated)?;
    let mut reader = Reader::new(body);
    let header = RequestHeader::decode(&mut reader)?;
    let request: ProduceRequest<'_> = decode_request_body(&header, &mut reader)?;
    let mut log = Vec::new();
    for topic in request.topic_data.iter() {
        for partition in topic.partition_data.iter() {
            let mut stored = partition.records.unwrap_or_default().to_vec();
            let mut batch = RecordBatch::new_verified(&mut stored[..])?;
            batch.set_base_offset(42);
            println!(
                "broker: {} from client {:?}: {}[{}] {} records at offset {}",
                ApiKey::from_key(header.api_key).map_or("?", ApiKey::name),
                header.client_id.unwrap_or("-"),
                topic.name,
                partition.index,
                batch.records_count(),
                batch.base_offset()
            );
            log.extend_from_slice(&stored);
        }
    }

    // 5. A Fetch response carries the stored batch back; the client reads it.
    let fetched = [FetchPartitionData {
        high_watermark: 45,
        records: Some(&log),
        ..Default::default()
    }];
    let responses = [FetchableTopicResponse {
        topic: "telemetry",
        partitions: Array::new(&fetched),
        ..Default::default()
    }];
    let fetch = FetchResponse {
        responses: Array::new(&responses),
        ..Default::default()
    };
    let n = encode_response(&mut frame, 2, fetch_v, &fetch)?;
    let (body, _) = split_frame(&frame[..n], DEFAULT_MAX_FRAME_SIZE)?.ok_or(Error::Truncated)?;
    let (header, fetch) = decode_response::<FetchResponse<'_>>(body, fetch_v)?;
    println!(
        "client: Fetch v{fetch_v} response, correlation id {}",
        header.correlation_id
    );
    for topic in fetch.responses.iter() {
        for partition in topic.partitions.iter() {
            assert_eq!(partition.error_code, ErrorCode::NONE);
            for entry in RecordSet::new(partition.records.unwrap_or_default()) {
                let microkafka_core::record::Batch::V2(batch) = entry? else {
                    continue;
                };
                for record in batch.records()? {
                    let record = record?;
                    println!(
                        "  offset {} ts {} key {:?} value {:?} unit={:?}",
                        batch.base_offset() + i64::from(record.offset_delta),
                        batch.base_timestamp() + record.timestamp_delta,
                        std::str::from_utf8(record.key.unwrap_or_default()).unwrap_or("?"),
                        std::str::from_utf8(record.value.unwrap_or_default()).unwrap_or("?"),
                        record
                            .headers
                            .get("unit")
                            .flatten()
                            .map(|v| std::str::from_utf8(v).unwrap_or("?")),
                    );
                }
            }
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
