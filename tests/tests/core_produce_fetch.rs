//! End to end through the core alone, as a client and a broker would use it:
//! a batch is built, sent in a Produce request at every version a Kafka 4.x
//! broker accepts, decoded on the broker side, stored with an assigned
//! offset, and served back in a Fetch response at every Fetch version; the
//! client gets exactly the records it sent.

use microkafka_core::protocol::frame::{
    decode_request_body, decode_response, encode_request, encode_response, split_frame,
};
use microkafka_core::protocol::messages::*;
use microkafka_core::protocol::versions::client_versions;
use microkafka_core::protocol::{ApiKey, RequestHeader};
use microkafka_core::record::{
    Batch, BatchOptions, RecordBatch, RecordBatchBuilder, RecordHeader, RecordSet,
};
use microkafka_core::wire::{Array, Reader, Uuid};

const MAX_FRAME: usize = 1 << 20;

fn batch(records: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let mut b = RecordBatchBuilder::new(&mut buf, BatchOptions::default()).unwrap();
    for (i, (k, v)) in records.iter().enumerate() {
        b.append(
            1_700_000_000_000 + i as i64,
            Some(k),
            Some(v),
            &[RecordHeader {
                key: "i",
                value: Some(&[i as u8]),
            }],
        )
        .unwrap();
    }
    b.finish().unwrap().to_vec()
}

/// The broker side of Produce: decode, verify each batch, assign offsets, store.
fn broker_produce(frame: &[u8], log: &mut Vec<u8>, next_offset: &mut i64) -> (i32, i16) {
    let (body, used) = split_frame(frame, MAX_FRAME).unwrap().unwrap();
    assert_eq!(used, frame.len());
    let mut r = Reader::new(body);
    let header = RequestHeader::decode(&mut r).unwrap();
    assert_eq!(header.api(), Some(ApiKey::Produce));
    let req: ProduceRequest<'_> = decode_request_body(&header, &mut r).unwrap();
    for topic in req.topic_data.iter() {
        assert_eq!(topic.name, "events");
        for p in topic.partition_data.iter() {
            let mut stored = p.records.unwrap().to_vec();
            let mut b = RecordBatch::new_verified(&mut stored[..]).unwrap();
            b.set_base_offset(*next_offset);
            *next_offset = b.next_offset();
            log.extend_from_slice(&stored);
        }
    }
    (header.correlation_id, header.api_version)
}

#[test]
fn produce_then_fetch_at_every_kafka4_version() {
    let sent: Vec<(Vec<u8>, Vec<u8>)> = (0..5)
        .map(|i| {
            (
                format!("key-{i}").into_bytes(),
                format!("value-{i}").repeat(i + 1).into_bytes(),
            )
        })
        .collect();
    let as_refs: Vec<(&[u8], &[u8])> = sent.iter().map(|(k, v)| (&k[..], &v[..])).collect();
    let produce_versions = client_versions(ApiKey::Produce);
    let fetch_versions = client_versions(ApiKey::Fetch);
    assert_eq!(produce_versions.min, 3, "never below the Kafka 4.x floor");
    assert_eq!(fetch_versions.min, 4);

    for pv in produce_versions.min..=produce_versions.max {
        let records = batch(&as_refs);
        let partitions = [PartitionProduceData {
            index: 0,
            records: Some(&records),
        }];
        let topics = [TopicProduceData {
            name: "events",
            partition_data: Array::new(&partitions),
        }];
        let request = ProduceRequest {
            acks: -1,
            timeout_ms: 1000,
            topic_data: Array::new(&topics),
            ..Default::default()
        };
        let mut frame = vec![0u8; 8192];
        let n = encode_request(&mut frame, 7, Some("e2e"), pv, &request).unwrap();
        let mut log = Vec::new();
        let mut next_offset = 100;
        let (correlation_id, version) = broker_produce(&frame[..n], &mut log, &mut next_offset);
        assert_eq!((correlation_id, version), (7, pv));
        assert_eq!(next_offset, 105);

        for fv in fetch_versions.min..=fetch_versions.max {
            let data = [FetchPartitionData {
                high_watermark: next_offset,
                records: Some(&log),
                ..Default::default()
            }];
            let topic_id = Uuid([7; 16]);
            let responses = [FetchableTopicResponse {
                topic: "events",
                topic_id,
                partitions: Array::new(&data),
            }];
            let response = FetchResponse {
                responses: Array::new(&responses),
                ..Default::default()
            };
            let n = encode_response(&mut frame, 8, fv, &response).unwrap();
            let (body, _) = split_frame(&frame[..n], MAX_FRAME).unwrap().unwrap();
            let (header, fetched) = decode_response::<FetchResponse<'_>>(body, fv).unwrap();
            assert_eq!(header.correlation_id, 8);
            let topic = fetched.responses.iter().next().unwrap();
            // Topic names until v12, ids from v13.
            if fv >= 13 {
                assert_eq!(topic.topic_id, topic_id);
            } else {
                assert_eq!(topic.topic, "events");
            }
            let partition = topic.partitions.iter().next().unwrap();
            assert_eq!(partition.high_watermark, 105);
            let mut got = Vec::new();
            for entry in RecordSet::new(partition.records.unwrap()) {
                let Batch::V2(b) = entry.unwrap() else {
                    panic!("legacy entry")
                };
                for r in b.records().unwrap() {
                    let r = r.unwrap();
                    got.push((
                        b.base_offset() + i64::from(r.offset_delta),
                        r.key.unwrap().to_vec(),
                        r.value.unwrap().to_vec(),
                    ));
                }
            }
            let want: Vec<_> = sent
                .iter()
                .enumerate()
                .map(|(i, (k, v))| (100 + i as i64, k.clone(), v.clone()))
                .collect();
            assert_eq!(got, want, "Produce v{pv} / Fetch v{fv}");
        }
    }
}
