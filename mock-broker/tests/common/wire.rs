//! Requests and responses through microkafka-core's codecs, for tests that
//! talk to the cluster directly (sans-IO) or over a raw socket.

#![allow(dead_code)] // each test file uses its own subset

use microkafka_core::protocol::frame::{decode_response, encode_request};
use microkafka_core::protocol::messages::{
    FetchPartition, FetchRequest, FetchTopic, PartitionProduceData, ProduceRequest,
    TopicProduceData,
};
use microkafka_core::protocol::{Request, Response};
use microkafka_core::record::{BatchOptions, RecordBatchBuilder};
use microkafka_core::wire::{Array, Uuid};

/// A whole request frame (size prefix included).
pub(crate) fn request<'a, R: Request<'a>>(correlation_id: i32, version: i16, body: &R) -> Vec<u8> {
    // Small first: tests that send thousands of requests (and measure
    // memory) should not allocate a megabyte each.
    for size in [4 << 10, 1 << 20] {
        let mut buf = vec![0u8; size];
        match encode_request(&mut buf, correlation_id, Some("test-client"), version, body) {
            Ok(n) => {
                buf.truncate(n);
                buf.shrink_to_fit();
                return buf;
            }
            Err(microkafka_core::Error::BufferTooSmall) => continue,
            Err(e) => panic!("encode {:?} v{version}: {e}", R::API_KEY),
        }
    }
    panic!("encode {:?} v{version}: over 1 MiB", R::API_KEY)
}

/// Decodes a whole response frame (size prefix included) at `version`.
pub(crate) fn response<'a, R: Response<'a>>(frame: &'a [u8], version: i16) -> (i32, R) {
    let (header, body) = decode_response::<R>(&frame[4..], version)
        .unwrap_or_else(|e| panic!("decode {:?} v{version}: {e}", R::API_KEY));
    (header.correlation_id, body)
}

/// A magic-2 batch of `values` (null keys), created at `timestamp`.
pub(crate) fn batch(values: &[&[u8]], timestamp: i64) -> Vec<u8> {
    let mut buf = vec![0u8; 64 + values.iter().map(|v| v.len() + 32).sum::<usize>()];
    let mut b = RecordBatchBuilder::new(&mut buf, BatchOptions::default()).unwrap();
    for (i, v) in values.iter().enumerate() {
        b.append(timestamp + i as i64, None, Some(v), &[]).unwrap();
    }
    b.finish().unwrap().to_vec()
}

/// One magic-1 message (`offset` as the producer leaves it: 0), uncompressed.
pub(crate) fn legacy_v1(timestamp: i64, key: Option<&[u8]>, value: &[u8]) -> Vec<u8> {
    let mut body = vec![1u8, 0]; // magic 1, attributes 0
    body.extend_from_slice(&timestamp.to_be_bytes());
    match key {
        Some(k) => {
            body.extend_from_slice(&(k.len() as i32).to_be_bytes());
            body.extend_from_slice(k);
        }
        None => body.extend_from_slice(&(-1i32).to_be_bytes()),
    }
    body.extend_from_slice(&(value.len() as i32).to_be_bytes());
    body.extend_from_slice(value);
    let crc = microkafka_core::record::crc32_ieee(&body);
    let mut m = 0i64.to_be_bytes().to_vec();
    m.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    m.extend_from_slice(&crc.to_be_bytes());
    m.extend_from_slice(&body);
    m
}

/// A Produce frame for one partition.
pub(crate) fn produce_frame(
    correlation_id: i32,
    version: i16,
    topic: &str,
    partition: i32,
    acks: i16,
    records: &[u8],
) -> Vec<u8> {
    let parts = [PartitionProduceData {
        index: partition,
        records: Some(records),
    }];
    let topics = [TopicProduceData {
        name: topic,
        partition_data: Array::new(&parts),
    }];
    let body = ProduceRequest {
        acks,
        timeout_ms: 1000,
        topic_data: Array::new(&topics),
        ..Default::default()
    };
    request(correlation_id, version, &body)
}

/// Where and how a one-partition Fetch reads.
#[derive(Clone, Copy)]
pub(crate) struct FetchOne<'a> {
    pub(crate) topic: &'a str,
    /// Used instead of the name from v13.
    pub(crate) topic_id: Uuid,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) partition_max_bytes: i32,
    pub(crate) max_wait_ms: i32,
    pub(crate) min_bytes: i32,
}

impl<'a> FetchOne<'a> {
    /// Partition 0 of `topic` from `offset`, answered at once, up to 1 MiB.
    pub(crate) fn new(topic: &'a str, offset: i64) -> Self {
        FetchOne {
            topic,
            topic_id: Uuid::ZERO,
            partition: 0,
            offset,
            partition_max_bytes: 1 << 20,
            max_wait_ms: 0,
            min_bytes: 0,
        }
    }

    /// The request frame.
    pub(crate) fn frame(&self, correlation_id: i32, version: i16) -> Vec<u8> {
        let parts = [FetchPartition {
            partition: self.partition,
            fetch_offset: self.offset,
            partition_max_bytes: self.partition_max_bytes,
            ..Default::default()
        }];
        let topics = [FetchTopic {
            topic: self.topic,
            topic_id: self.topic_id,
            partitions: Array::new(&parts),
        }];
        let body = FetchRequest {
            max_wait_ms: self.max_wait_ms,
            min_bytes: self.min_bytes,
            max_bytes: 1 << 20,
            topics: Array::new(&topics),
            ..Default::default()
        };
        request(correlation_id, version, &body)
    }
}
