//! Requests and responses through microkafka-core's codecs, for tests that
//! talk to the cluster directly (sans-IO) or over a raw socket.

#![allow(dead_code)] // each test file uses its own subset

use microkafka_core::protocol::frame::{decode_response, encode_request};
use microkafka_core::protocol::{Request, Response};
use microkafka_core::record::{BatchOptions, RecordBatchBuilder};

/// A whole request frame (size prefix included).
pub(crate) fn request<'a, R: Request<'a>>(correlation_id: i32, version: i16, body: &R) -> Vec<u8> {
    let mut buf = vec![0u8; 1 << 20];
    let n = encode_request(&mut buf, correlation_id, Some("test-client"), version, body)
        .unwrap_or_else(|e| panic!("encode {:?} v{version}: {e}", R::API_KEY));
    buf.truncate(n);
    buf
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
