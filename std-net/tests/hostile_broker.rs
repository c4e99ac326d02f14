//! Bad bytes from a broker give errors, never panics: a fake broker
//! negotiates versions properly, then answers with broken frames, wrong
//! correlation ids, garbage, and valid responses with random bytes flipped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use microkafka_core::protocol::frame::encode_response;
use microkafka_core::protocol::messages::*;
use microkafka_core::protocol::versions::client_versions;
use microkafka_core::protocol::{ApiKey, RequestHeader};
use microkafka_core::record::{BatchOptions, RecordBatchBuilder, RecordHeader};
use microkafka_core::wire::{Array, Reader, Uuid};
use microkafka_std::{Dialer, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the fake broker sends for a request: bytes (frame(s) or not), or
/// nothing and close.
type Answer = Arc<dyn Fn(ApiKey, i16, i32, u64) -> Option<Vec<u8>> + Send + Sync>;

const TOPIC_ID: Uuid = Uuid([7; 16]);

/// A broker on a free port; `answer` gets every request but ApiVersions,
/// with a counter of requests seen.
async fn fake_broker(answer: Answer) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut seen = 0u64;
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            seen += 1;
            let base = seen * 1000;
            tokio::spawn(async move {
                let mut n = base;
                loop {
                    let mut size = [0u8; 4];
                    if s.read_exact(&mut size).await.is_err() {
                        return;
                    }
                    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
                    if s.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let header = RequestHeader::decode(&mut Reader::new(&body)).unwrap();
                    let api = header.api().unwrap();
                    let out = if api == ApiKey::ApiVersions {
                        Some(api_versions(header.correlation_id, header.api_version))
                    } else {
                        n += 1;
                        answer(api, header.api_version, header.correlation_id, n)
                    };
                    match out {
                        Some(bytes) => {
                            if s.write_all(&bytes).await.is_err() {
                                return;
                            }
                        }
                        None => return,
                    }
                }
            });
        }
    });
    addr
}

fn api_versions(correlation_id: i32, version: i16) -> Vec<u8> {
    let ranges: Vec<ApiVersion> = ApiKey::ALL
        .iter()
        .map(|&api| {
            let v = client_versions(api);
            ApiVersion {
                api_key: api.key(),
                min_version: v.min,
                max_version: v.max,
            }
        })
        .collect();
    let response = ApiVersionsResponse {
        api_keys: Array::new(&ranges),
        ..Default::default()
    };
    frame(correlation_id, version, &response)
}

fn frame<'a, R: microkafka_core::protocol::Response<'a>>(
    correlation_id: i32,
    version: i16,
    r: &R,
) -> Vec<u8> {
    let mut buf = vec![0u8; 1 << 16];
    let n = encode_response(&mut buf, correlation_id, version, r).unwrap();
    buf.truncate(n);
    buf
}

fn metadata(addr: SocketAddr, correlation_id: i32, version: i16) -> Vec<u8> {
    let host = addr.ip().to_string();
    let brokers = [MetadataResponseBroker {
        node_id: 1,
        host: &host,
        port: i32::from(addr.port()),
        rack: None,
    }];
    let replicas = [1];
    let partitions: Vec<MetadataResponsePartition<'_>> = (0..3)
        .map(|p| MetadataResponsePartition {
            partition_index: p,
            leader_id: 1,
            replica_nodes: Array::new(&replicas),
            isr_nodes: Array::new(&replicas),
            ..Default::default()
        })
        .collect();
    let topics = [MetadataResponseTopic {
        name: Some("t"),
        topic_id: TOPIC_ID,
        partitions: Array::new(&partitions),
        ..Default::default()
    }];
    let response = MetadataResponse {
        brokers: Array::new(&brokers),
        cluster_id: Some("fake"),
        controller_id: 1,
        topics: Array::new(&topics),
        ..Default::default()
    };
    frame(correlation_id, version, &response)
}

fn fetch(correlation_id: i32, version: i16) -> Vec<u8> {
    let mut records = vec![0u8; 4096];
    let mut b = RecordBatchBuilder::new(&mut records, BatchOptions::default()).unwrap();
    for i in 0..5u8 {
        let h = [RecordHeader {
            key: "h",
            value: Some(&[i]),
        }];
        b.append(1_700_000_000_000, Some(&[i]), Some(b"value"), &h)
            .unwrap();
    }
    let n = b.finish().unwrap().len();
    let parts = [FetchPartitionData {
        partition_index: 0,
        high_watermark: 5,
        records: Some(&records[..n]),
        ..Default::default()
    }];
    let topics = [FetchableTopicResponse {
        topic: "t",
        topic_id: TOPIC_ID,
        partitions: Array::new(&parts),
    }];
    let response = FetchResponse {
        responses: Array::new(&topics),
        ..Default::default()
    };
    frame(correlation_id, version, &response)
}

fn produce(correlation_id: i32, version: i16) -> Vec<u8> {
    let parts = [PartitionProduceResponse {
        index: 0,
        base_offset: 42,
        ..Default::default()
    }];
    let topics = [TopicProduceResponse {
        name: "t",
        partition_responses: Array::new(&parts),
    }];
    let response = ProduceResponse {
        responses: Array::new(&topics),
        ..Default::default()
    };
    frame(correlation_id, version, &response)
}

/// A little deterministic randomness.
fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// Flips 1-4 random bytes of the body (after size and correlation id).
fn flip(mut frame: Vec<u8>, seed: u64) -> Vec<u8> {
    let mut r = xorshift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    for _ in 0..=(r % 4) {
        r = xorshift(r);
        if frame.len() > 8 {
            let at = 8 + (r as usize % (frame.len() - 8));
            frame[at] ^= (r >> 32) as u8 | 1;
        }
    }
    frame
}

fn dialer() -> Dialer {
    Dialer {
        timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        ..Dialer::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_frames_are_errors() {
    let cases: Vec<(&str, Answer)> = vec![
        (
            "negative size",
            Arc::new(|_, _, _, _| Some(vec![0xff, 0xff, 0xff, 0xfe, 1, 2])),
        ),
        (
            "huge size",
            Arc::new(|_, _, _, _| Some(vec![0x7f, 0xff, 0xff, 0xff])),
        ),
        (
            "too short for a header",
            Arc::new(|_, _, _, _| Some(vec![0, 0, 0, 2, 0, 0])),
        ),
        (
            "truncated, then closed",
            Arc::new(|_, _, c, _| {
                let mut f = vec![0, 0, 1, 0];
                f.extend_from_slice(&c.to_be_bytes());
                Some(f)
            }),
        ),
        ("closed without an answer", Arc::new(|_, _, _, _| None)),
        (
            "wrong correlation id",
            Arc::new(|api, v, c, _| match api {
                ApiKey::Metadata => Some(frame(c + 7, v, &MetadataResponse::default())),
                _ => None,
            }),
        ),
        (
            "garbage body",
            Arc::new(|_, _, c, n| {
                let mut f = vec![0, 0, 0, 40];
                f.extend_from_slice(&c.to_be_bytes());
                let mut r = n | 1;
                for _ in 0..36 {
                    r = xorshift(r);
                    f.push(r as u8);
                }
                Some(f)
            }),
        ),
        (
            "an answer nobody asked for, twice",
            Arc::new(|api, v, c, _| match api {
                ApiKey::Metadata => {
                    let mut f = frame(c, v, &MetadataResponse::default());
                    f.extend(frame(c + 100, v, &MetadataResponse::default()));
                    Some(f)
                }
                _ => None,
            }),
        ),
    ];
    for (what, answer) in cases {
        let addr = fake_broker(answer).await;
        let result = async {
            let mut conn = dialer().dial(&addr.to_string()).await?;
            conn.read_partitions(&["t"]).await?;
            conn.read_partitions(&["t"]).await
        }
        .await;
        // "an answer nobody asked for" may let the first request through.
        assert!(result.is_err(), "{what}: {result:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_bytes_in_valid_answers_never_panic() {
    let listener_addr = Arc::new(std::sync::OnceLock::<SocketAddr>::new());
    let addr_for = listener_addr.clone();
    let answer: Answer = Arc::new(move |api, v, c, n| {
        let addr = *addr_for.get()?;
        let valid = match api {
            ApiKey::Metadata => metadata(addr, c, v),
            ApiKey::Fetch => fetch(c, v),
            ApiKey::Produce => produce(c, v),
            ApiKey::ListOffsets => {
                let parts = [ListOffsetsPartitionResponse {
                    partition_index: 0,
                    offset: 3,
                    ..Default::default()
                }];
                let topics = [ListOffsetsTopicResponse {
                    name: "t",
                    partitions: Array::new(&parts),
                }];
                frame(
                    c,
                    v,
                    &ListOffsetsResponse {
                        topics: Array::new(&topics),
                        ..Default::default()
                    },
                )
            }
            _ => return None,
        };
        // One answer in three is damaged, so rounds get past the metadata
        // of dial_leader and damage reaches Fetch, Produce and ListOffsets.
        if xorshift(n.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1).is_multiple_of(3) {
            Some(flip(valid, n))
        } else {
            Some(valid)
        }
    });
    let addr = fake_broker(answer).await;
    listener_addr.set(addr).unwrap();
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..300 {
        let outcome = async {
            let mut conn = dialer().dial_leader(&addr.to_string(), "t", 0).await?;
            let mut batch = conn.read_batch(1, 1 << 20).await?;
            while let Some(m) = batch.next_message() {
                let m = m?;
                let _ = (m.key, m.value, m.headers.iter().count(), m.time());
            }
            conn.write_messages(&[Message::new(b"x")]).await?;
            conn.read_offsets().await
        }
        .await;
        match outcome {
            Ok(_) => ok += 1,
            Err(e) => {
                let _ = e.to_string();
                failed += 1;
            }
        }
    }
    assert!(failed > 0, "flipped bytes are noticed");
    eprintln!("{ok} rounds survived the flips unnoticed, {failed} failed cleanly");
}
