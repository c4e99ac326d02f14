//! Compressed batches across implementations.
//!
//! - `tests/data/microkafka/`: batches microkafka compresses, with JSON
//!   sidecars of their records, for other implementations to read
//!   (`tests/data/capture/verify_microkafka_batches.py` decodes them with
//!   Python's zlib, liblz4, libzstd and two snappy decoders). They must stay
//!   exactly what microkafka writes today: a change in the bytes is a change
//!   in what other clients receive and must be re-verified. Regenerate with
//!   `cargo test -p microkafka-core --all-features --test compression_interop -- --ignored`.
//! - `tests/data/vectors/`: compressed record sections written by other
//!   implementations with options librdkafka does not use (xerial snappy,
//!   linked lz4 blocks with checksums, zstd with content size and checksum,
//!   gzip with a file name): microkafka must read every one.
#![cfg(all(
    feature = "gzip",
    feature = "lz4",
    feature = "snappy",
    feature = "zstd",
    feature = "std"
))]

mod common;

use common::{check_records, records_from_json, OwnedRecord};
use microkafka_core::record::compression::{Codecs, Compression, Snappy, SnappyFraming};
use microkafka_core::record::{BatchOptions, RecordBatch, RecordBatchBuilder, RecordHeader};
use serde_json::{json, Value};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn json_of(b: &Option<Vec<u8>>) -> Value {
    match b {
        None => Value::Null,
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => Value::String(s.to_string()),
            Err(_) => json!({ "hex": b.iter().map(|x| format!("{x:02x}")).collect::<String>() }),
        },
    }
}

fn records_to_json(records: &[OwnedRecord]) -> Value {
    Value::Array(
        records
            .iter()
            .enumerate()
            .map(|(i, (ts, key, value, headers))| {
                json!({
                    "key": json_of(key),
                    "value": json_of(value),
                    "headers": headers.iter().map(|(k, v)| json!([k, json_of(v)])).collect::<Vec<_>>(),
                    "timestamp": ts,
                    "offset_delta": i,
                })
            })
            .collect(),
    )
}

/// The seven records librdkafka 2.16 sent (null key, binary key and value,
/// tombstone, null header, negative timestamp delta, empty key and value,
/// UTF-8 header).
fn small_records() -> Vec<OwnedRecord> {
    let text = std::fs::read_to_string(format!(
        "{DATA}/librdkafka/librdkafka2.16-record-batch-none.json"
    ))
    .unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    records_from_json(&json["records"])
}

/// 600 telemetry records (~75 KB of records section): more than one lz4
/// block (64 KiB) and two xerial chunks (32 KiB), varied timestamps, some
/// null keys and headers.
fn large_records() -> Vec<OwnedRecord> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..600i64)
        .map(|i| {
            let r = next();
            let key = (!r.is_multiple_of(11)).then(|| format!("sensor-{:04}", r % 500).into_bytes());
            let value = format!(
                "{{\"seq\":{i},\"temp\":{}.{},\"hum\":{},\"battery\":{},\"status\":\"{}\",\"note\":\"{}\"}}",
                10 + r % 25,
                (r >> 8) % 10,
                20 + (r >> 16) % 70,
                (r >> 24) % 101,
                ["ok", "warn", "fault"][((r >> 32) % 3) as usize],
                "x".repeat(((r >> 40) % 40) as usize),
            )
            .into_bytes();
            let headers = if r.is_multiple_of(3) {
                vec![("trace".to_string(), Some(format!("{:016x}", next()).into_bytes()))]
            } else {
                vec![]
            };
            (1_700_000_000_000 + i * 10 - (r % 50) as i64, key, Some(value), headers)
        })
        .collect()
}

/// Builds the batch microkafka sends for `records` with `codec`.
fn build(records: &[OwnedRecord], codecs: &mut Codecs, codec: Compression) -> Vec<u8> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut b = RecordBatchBuilder::new(&mut buf, BatchOptions::default()).unwrap();
    for (ts, key, value, headers) in records {
        let headers: Vec<RecordHeader<'_>> = headers
            .iter()
            .map(|(k, v)| RecordHeader {
                key: k,
                value: v.as_deref(),
            })
            .collect();
        b.append(*ts, key.as_deref(), value.as_deref(), &headers)
            .unwrap();
    }
    let mut scratch = vec![0u8; codec.max_compressed_len(b.len())];
    b.finish_compressed(codecs.codec(codec).unwrap(), &mut scratch)
        .unwrap()
        .to_vec()
}

/// (file stem, records set name, codec, snappy framing).
fn cases() -> Vec<(String, &'static str, Compression, SnappyFraming)> {
    let mut v = Vec::new();
    for (set, suffix) in [("small", ""), ("large", "-large")] {
        for c in Compression::ALL {
            v.push((
                format!("microkafka-record-batch{suffix}-{}", c.name()),
                set,
                c,
                SnappyFraming::Xerial,
            ));
        }
        v.push((
            format!("microkafka-record-batch{suffix}-snappy-raw"),
            set,
            Compression::Snappy,
            SnappyFraming::Raw,
        ));
    }
    v
}

fn build_case(set: &str, c: Compression, framing: SnappyFraming) -> (Vec<OwnedRecord>, Vec<u8>) {
    let records = if set == "small" {
        small_records()
    } else {
        large_records()
    };
    let mut codecs = Codecs::new();
    codecs.snappy = Snappy::with_framing(framing);
    let bin = build(&records, &mut codecs, c);
    (records, bin)
}

fn sidecar(stem: &str, set: &str, framing: SnappyFraming, bin: &[u8]) -> Value {
    let batch = RecordBatch::new_verified(bin).unwrap();
    let c = batch.attributes().compression().unwrap();
    let mut codecs = Codecs::new();
    let mut section = vec![0u8; 256 * 1024];
    let n = codecs
        .decompress(c, batch.records_bytes(), &mut section)
        .unwrap();
    let framing = match c {
        Compression::None => "none",
        Compression::Gzip => "gzip member",
        Compression::Snappy if framing == SnappyFraming::Xerial => "xerial",
        Compression::Snappy => "raw",
        Compression::Lz4 => "lz4 frame",
        Compression::Zstd => "zstd frame",
    };
    json!({
        "description": "Record batch (magic 2) compressed by microkafka, for other implementations to read",
        "client": "microkafka",
        "file": format!("{stem}.bin"),
        "records_file": format!("microkafka-records-{set}.json"),
        "batch_header": {
            "base_offset": batch.base_offset(),
            "batch_length": batch.batch_length(),
            "partition_leader_epoch": batch.partition_leader_epoch(),
            "magic": batch.magic(),
            "crc": batch.crc(),
            "attributes": batch.attributes().0,
            "last_offset_delta": batch.last_offset_delta(),
            "base_timestamp": batch.base_timestamp(),
            "max_timestamp": batch.max_timestamp(),
            "producer_id": batch.producer_id(),
            "producer_epoch": batch.producer_epoch(),
            "base_sequence": batch.base_sequence(),
            "records_count": batch.records_count(),
            "compression": c.name(),
            "compression_framing": framing,
            "compressed_size": batch.records_bytes().len(),
            "uncompressed_records_size": n,
        },
    })
}

/// Rewrites `tests/data/microkafka/` (set `OUT` to write elsewhere).
#[test]
#[ignore = "regenerates test data"]
fn write_microkafka_batches() {
    let out = std::env::var("OUT").unwrap_or(format!("{DATA}/microkafka"));
    std::fs::create_dir_all(&out).unwrap();
    for set in ["small", "large"] {
        let records = if set == "small" {
            small_records()
        } else {
            large_records()
        };
        let text = serde_json::to_string_pretty(&records_to_json(&records)).unwrap();
        std::fs::write(format!("{out}/microkafka-records-{set}.json"), text + "\n").unwrap();
    }
    for (stem, set, c, framing) in cases() {
        let (_, bin) = build_case(set, c, framing);
        std::fs::write(format!("{out}/{stem}.bin"), &bin).unwrap();
        let json = serde_json::to_string_pretty(&sidecar(&stem, set, framing, &bin)).unwrap();
        std::fs::write(format!("{out}/{stem}.json"), json + "\n").unwrap();
    }
}

#[test]
fn microkafka_batches_are_what_microkafka_writes() {
    for (stem, set, c, framing) in cases() {
        let (records, bin) = build_case(set, c, framing);
        let committed = std::fs::read(format!("{DATA}/microkafka/{stem}.bin"))
            .unwrap_or_else(|e| panic!("{stem}.bin: {e} (regenerate: see the module docs)"));
        assert!(
            committed == bin,
            "{stem}: microkafka now writes different bytes; regenerate and re-run verify_microkafka_batches.py"
        );
        let text =
            std::fs::read_to_string(format!("{DATA}/microkafka/microkafka-records-{set}.json"))
                .unwrap();
        assert_eq!(
            records_from_json(&serde_json::from_str(&text).unwrap()),
            records,
            "{stem}"
        );
        let text = std::fs::read_to_string(format!("{DATA}/microkafka/{stem}.json")).unwrap();
        let json: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json, sidecar(&stem, set, framing, &bin), "{stem}");
    }
}

#[test]
fn vectors_from_other_implementations_decode() {
    let dir = format!("{DATA}/vectors");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json") && !n.starts_with("records-"))
        .collect();
    names.sort();
    assert!(names.len() >= 8, "{names:?}");
    let mut codecs = Codecs::new();
    for name in names {
        let json: Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{dir}/{name}")).unwrap())
                .unwrap();
        let records_file = json["records_file"].as_str().unwrap();
        let want = records_from_json(
            &serde_json::from_str::<Value>(
                &std::fs::read_to_string(format!("{dir}/{records_file}")).unwrap(),
            )
            .unwrap(),
        );
        let data = std::fs::read(format!("{dir}/{}", json["file"].as_str().unwrap())).unwrap();
        let mut out = vec![0u8; 256 * 1024];
        let (section, count, base_timestamp) = match json["kind"].as_str().unwrap() {
            // A compressed records section (what follows recordsCount).
            "section" => {
                let c = Compression::ALL
                    .into_iter()
                    .find(|c| c.name() == json["codec"].as_str().unwrap())
                    .unwrap();
                let n = codecs
                    .decompress(c, &data, &mut out)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                (
                    &out[..n],
                    want.len() as i32,
                    json["base_timestamp"].as_i64().unwrap(),
                )
            }
            // A whole record batch.
            "batch" => {
                let batch = RecordBatch::new_verified(&data[..]).unwrap();
                let c = batch.attributes().compression().unwrap();
                let n = codecs
                    .decompress(c, batch.records_bytes(), &mut out)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                (&out[..n], batch.records_count(), batch.base_timestamp())
            }
            other => panic!("{name}: kind {other}"),
        };
        let records = microkafka_core::record::Records::new(section, count);
        check_records(&name, base_timestamp, records, &want);
    }
}
