//! A real client on the other side: librdkafka, through kcat (installed by
//! `.ci/install-capture-deps`; these tests fail without it). Messages
//! microkafka writes are read back exactly by kcat, and messages kcat
//! writes are read exactly by microkafka's Reader — with every codec, and
//! with keys on the partitions both clients' partitioners agree on.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{cluster, kcat, read_partition, require_kcat};
use microkafka_core::balancer::{Balancer, Crc32, MessageRef};
use microkafka_std::{BalancerKind, Compression, Header, Message, Writer, WriterConfig};
use serde_json::Value;

/// What a message is, as both sides see it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    partition: i64,
    offset: i64,
    key: Option<String>,
    value: Option<String>,
    headers: Vec<(String, String)>,
    timestamp: i64,
}

/// Key, value, headers and timestamp: what must survive the trip.
type Content = (Option<String>, Option<String>, Vec<(String, String)>, i64);

fn parse_kcat_json(out: &str) -> Vec<Seen> {
    out.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            let s = |f: &str| v[f].as_str().map(str::to_owned);
            let headers = v["headers"]
                .as_array()
                .map(|h| {
                    h.chunks(2)
                        .map(|kv| {
                            (
                                kv[0].as_str().unwrap().to_owned(),
                                kv[1].as_str().unwrap_or("").to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            Seen {
                partition: v["partition"].as_i64().unwrap(),
                offset: v["offset"].as_i64().unwrap(),
                key: s("key"),
                value: s("payload"),
                headers,
                timestamp: v["ts"].as_i64().unwrap(),
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_reads_exactly_what_microkafka_wrote() {
    require_kcat();
    let c = cluster().await;
    let brokers = c.bootstrap_servers();
    let base_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 10_000;
    for codec in Compression::ALL {
        let topic = format!("to-kcat-{}", codec.name());
        c.create_topic(&topic, 3).unwrap();
        let writer = Writer::new(WriterConfig {
            compression: codec,
            balancer: BalancerKind::Hash,
            batch_size: 64,
            ..WriterConfig::new(&[&brokers], &topic)
        })
        .unwrap();
        let n = 500;
        let keys: Vec<String> = (0..n).map(|i| format!("key-{}", i % 41)).collect();
        let values: Vec<String> = (0..n)
            .map(|i| format!("value {i} via {}", codec.name()))
            .collect();
        let header_values: Vec<String> = (0..n).map(|i| format!("h{i}")).collect();
        let headers: Vec<[Header<'_>; 2]> = header_values
            .iter()
            .map(|h| {
                [
                    Header {
                        key: "index",
                        value: Some(h.as_bytes()),
                    },
                    Header {
                        key: "codec",
                        value: Some(codec.name().as_bytes()),
                    },
                ]
            })
            .collect();
        let mut msgs: Vec<Message<'_>> = (0..n)
            .map(|i| {
                Message::new(values[i].as_bytes())
                    .with_key(keys[i].as_bytes())
                    .with_headers(&headers[i])
                    .with_time(UNIX_EPOCH + Duration::from_millis((base_ms + i as i64) as u64))
            })
            .collect();
        // A null key and a tombstone (null value) too.
        msgs[7].key = None;
        msgs[8].value = None;
        writer.write_messages(&msgs).await.unwrap();
        writer.close().await.unwrap();

        let out = kcat(
            &brokers,
            &["-C", "-t", &topic, "-o", "beginning", "-e", "-J", "-q"],
            Vec::new(),
        )
        .await;
        let got: BTreeSet<Content> = parse_kcat_json(&out)
            .into_iter()
            .map(|s| (s.key, s.value, s.headers, s.timestamp))
            .collect();
        let want: BTreeSet<_> = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| {
                (
                    m.key.map(|k| String::from_utf8(k.to_vec()).unwrap()),
                    m.value.map(|v| String::from_utf8(v.to_vec()).unwrap()),
                    vec![
                        ("index".to_owned(), header_values[i].clone()),
                        ("codec".to_owned(), codec.name().to_owned()),
                    ],
                    base_ms + i as i64,
                )
            })
            .collect();
        assert_eq!(
            got.len(),
            n,
            "{}: kcat read {} messages",
            codec.name(),
            got.len()
        );
        assert_eq!(got, want, "{}", codec.name());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microkafka_reads_exactly_what_kcat_wrote() {
    require_kcat();
    let c = cluster().await;
    let brokers = c.bootstrap_servers();
    let ids: Vec<i32> = (0..4).collect();
    for codec in Compression::ALL {
        let topic = format!("from-kcat-{}", codec.name());
        c.create_topic(&topic, 4).unwrap();
        let lines: Vec<(String, String)> = (0..400)
            .map(|i| {
                (
                    format!("user-{}", i % 53),
                    format!("line {i} {}", "x".repeat(i % 17)),
                )
            })
            .collect();
        let input: String = lines.iter().map(|(k, v)| format!("{k}\t{v}\n")).collect();
        // librdkafka's own partitioner places the keys (consistent_random).
        kcat(
            &brokers,
            &[
                "-P",
                "-t",
                &topic,
                "-K",
                "\t",
                "-z",
                codec.name(),
                "-H",
                "origin=kcat",
                "-X",
                "linger.ms=5",
            ],
            input.into_bytes(),
        )
        .await;

        let mut got = Vec::new();
        let mut crc32 = Crc32::default();
        for p in 0..4 {
            let (_, end) = c.offsets(&topic, p).unwrap();
            for (offset, key, value) in read_partition(&brokers, &topic, p, end as usize).await {
                let key = key.unwrap();
                assert_eq!(
                    crc32.balance(&MessageRef::new(Some(&key), None), &ids),
                    Some(p),
                    "librdkafka and microkafka's Crc32 agree on {}",
                    String::from_utf8_lossy(&key)
                );
                got.push((
                    offset,
                    String::from_utf8(key).unwrap(),
                    String::from_utf8(value).unwrap(),
                ));
            }
        }
        assert_eq!(got.len(), lines.len(), "{}", codec.name());
        // Per key, in the order kcat wrote them.
        for (k, _) in &lines[..53] {
            let wrote: Vec<&String> = lines
                .iter()
                .filter(|(kk, _)| kk == k)
                .map(|(_, v)| v)
                .collect();
            let read: Vec<&String> = got
                .iter()
                .filter(|(_, kk, _)| kk == k)
                .map(|(_, _, v)| v)
                .collect();
            assert_eq!(read, wrote, "{}: key {k}", codec.name());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microkafka_reads_kcat_headers_and_timestamps() {
    require_kcat();
    let c = cluster().await;
    let brokers = c.bootstrap_servers();
    c.create_topic("kcat-headers", 1).unwrap();
    kcat(
        &brokers,
        &[
            "-P",
            "-t",
            "kcat-headers",
            "-p",
            "0",
            "-H",
            "a=1",
            "-H",
            "b=two",
        ],
        b"first\nsecond\n".to_vec(),
    )
    .await;
    let mut reader = microkafka_std::Reader::new(microkafka_std::ReaderConfig::new(
        &[&brokers],
        "kcat-headers",
        0,
    ))
    .unwrap();
    let out = kcat(
        &brokers,
        &[
            "-C",
            "-t",
            "kcat-headers",
            "-o",
            "beginning",
            "-e",
            "-J",
            "-q",
        ],
        Vec::new(),
    )
    .await;
    let theirs = parse_kcat_json(&out);
    for want in &theirs {
        let m = reader.fetch_message().await.unwrap();
        assert_eq!(m.offset, want.offset);
        assert_eq!(
            m.value.map(|v| String::from_utf8(v.to_vec()).unwrap()),
            want.value
        );
        assert_eq!(m.timestamp_ms, want.timestamp);
        let headers: Vec<(String, String)> = m
            .headers
            .iter()
            .map(|h| {
                (
                    h.key.to_owned(),
                    String::from_utf8(h.value.unwrap_or_default().to_vec()).unwrap(),
                )
            })
            .collect();
        assert_eq!(headers, want.headers);
    }
    assert_eq!(theirs.len(), 2);
}
