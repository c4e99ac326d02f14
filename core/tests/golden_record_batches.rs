//! Record batches written by real librdkafka producers (captured by
//! `tests/data/capture/capture.sh`, described in `tests/data/README.md`):
//! microkafka must read every field and record exactly as the producer sent
//! it, and its builder must write the same bytes for the same records.

mod common;

use common::{check_records, records_from_json};
use microkafka_core::record::compression::Codecs;
use microkafka_core::record::{
    BatchOptions, Compression, RecordBatch, RecordBatchBuilder, RecordHeader,
};
use serde_json::Value;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/librdkafka");

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
const CLIENTS: [&str; 2] = ["kcat2.0.2", "librdkafka2.16"];

fn load(client: &str, codec: &str) -> (Vec<u8>, Value) {
    let bin = std::fs::read(format!("{DATA}/{client}-record-batch-{codec}.bin")).unwrap();
    let json =
        std::fs::read_to_string(format!("{DATA}/{client}-record-batch-{codec}.json")).unwrap();
    (bin, serde_json::from_str(&json).unwrap())
}

#[test]
fn header_fields_match_what_the_producer_wrote() {
    for client in CLIENTS {
        for codec in CODECS {
            let (bin, json) = load(client, codec);
            let h = &json["batch_header"];
            let batch = RecordBatch::new_verified(&bin[..])
                .unwrap_or_else(|e| panic!("{client} {codec}: {e}"));
            assert_eq!(batch.total_len(), bin.len());
            assert_eq!(batch.base_offset(), h["base_offset"].as_i64().unwrap());
            assert_eq!(
                batch.batch_length() as i64,
                h["batch_length"].as_i64().unwrap()
            );
            assert_eq!(
                batch.partition_leader_epoch() as i64,
                h["partition_leader_epoch"].as_i64().unwrap()
            );
            assert_eq!(batch.crc() as i64, h["crc"].as_i64().unwrap());
            assert_eq!(
                batch.last_offset_delta() as i64,
                h["last_offset_delta"].as_i64().unwrap()
            );
            assert_eq!(
                batch.base_timestamp(),
                h["base_timestamp"].as_i64().unwrap()
            );
            assert_eq!(batch.max_timestamp(), h["max_timestamp"].as_i64().unwrap());
            assert_eq!(batch.producer_id(), -1);
            assert_eq!(batch.producer_epoch(), -1);
            assert_eq!(batch.base_sequence(), -1);
            assert_eq!(
                batch.records_count() as usize,
                json["records"].as_array().unwrap().len()
            );
            assert_eq!(
                batch.attributes().compression().unwrap().name(),
                codec,
                "{client}"
            );
            assert!(!batch.attributes().is_control() && !batch.attributes().is_transactional());
        }
    }
}

#[test]
fn uncompressed_records_match_what_the_producer_sent() {
    for client in CLIENTS {
        let (bin, json) = load(client, "none");
        let batch = RecordBatch::new_verified(&bin[..]).unwrap();
        let want = records_from_json(&json["records"]);
        check_records(
            client,
            batch.base_timestamp(),
            batch.records().unwrap(),
            &want,
        );
    }
}

#[test]
fn builder_writes_the_same_bytes_as_librdkafka() {
    for client in CLIENTS {
        let (bin, json) = load(client, "none");
        let original = RecordBatch::new_verified(&bin[..]).unwrap();
        let owned = records_from_json(&json["records"]);
        let mut buf = vec![0u8; bin.len() + 64];
        // librdkafka writes partition leader epoch 0 where the Java client writes -1.
        let options = BatchOptions {
            partition_leader_epoch: original.partition_leader_epoch(),
            ..Default::default()
        };
        let mut builder = RecordBatchBuilder::new(&mut buf, options).unwrap();
        for (ts, key, value, headers) in &owned {
            let headers: Vec<RecordHeader<'_>> = headers
                .iter()
                .map(|(k, v)| RecordHeader {
                    key: k,
                    value: v.as_deref(),
                })
                .collect();
            builder
                .append(*ts, key.as_deref(), value.as_deref(), &headers)
                .unwrap();
        }
        let built = builder.finish().unwrap();
        assert_eq!(
            &built[..],
            &bin[..],
            "{client}: microkafka's batch differs from librdkafka's"
        );
    }
}

/// Every codec compiled in (all of them with `--all-features`).
#[test]
fn compressed_records_match_what_the_producer_sent() {
    let mut codecs = Codecs::new();
    let mut scratch = vec![0u8; 64 * 1024];
    for client in CLIENTS {
        for codec in CODECS {
            let (bin, json) = load(client, codec);
            let batch = RecordBatch::new_verified(&bin[..]).unwrap();
            if !Codecs::is_available(batch.attributes().compression().unwrap()) {
                continue;
            }
            let records = batch
                .records_decompressed(&mut codecs, &mut scratch)
                .unwrap_or_else(|e| panic!("{client} {codec}: {e}"));
            let want = records_from_json(&json["records"]);
            let name = format!("{client} {codec}");
            check_records(&name, batch.base_timestamp(), records, &want);
        }
    }
}

#[test]
fn compressed_sections_are_the_uncompressed_section() {
    // librdkafka 2.16's batches carry the same records at fixed timestamps:
    // every codec's section decompresses to the uncompressed batch's bytes.
    let (none, json) = load("librdkafka2.16", "none");
    let section = &none[microkafka_core::record::RECORD_BATCH_OVERHEAD..];
    assert_eq!(
        section.len() as i64,
        json["batch_header"]["uncompressed_records_size"]
            .as_i64()
            .unwrap_or(section.len() as i64)
    );
    let mut codecs = Codecs::new();
    for codec in &CODECS[1..] {
        let (bin, json) = load("librdkafka2.16", codec);
        let batch = RecordBatch::new_verified(&bin[..]).unwrap();
        let c = batch.attributes().compression().unwrap();
        if !Codecs::is_available(c) {
            continue;
        }
        // Exactly the size: no slack needed.
        let mut out = vec![0u8; section.len()];
        let n = codecs
            .decompress(c, batch.records_bytes(), &mut out)
            .unwrap();
        assert_eq!(&out[..n], section, "{codec}");
        assert_eq!(
            n as i64,
            json["batch_header"]["uncompressed_records_size"]
                .as_i64()
                .unwrap()
        );
        // One byte less is refused, not truncated.
        assert!(matches!(
            codecs.decompress(c, batch.records_bytes(), &mut out[..n - 1]),
            Err(microkafka_core::Error::TooLarge { .. })
        ));
    }
}

#[test]
fn compressed_batches_without_their_codec_say_which_they_need() {
    // Iterating in place, or without the codec compiled in, names the codec
    // rather than misreading the compressed bytes as records.
    for client in CLIENTS {
        for codec in &CODECS[1..] {
            let (bin, _) = load(client, codec);
            let batch = RecordBatch::new_verified(&bin[..]).unwrap();
            let c = batch.attributes().compression().unwrap();
            assert_ne!(c, Compression::None);
            assert_eq!(
                batch.records().err(),
                Some(microkafka_core::Error::UnsupportedCompression(c.id()))
            );
            if !Codecs::is_available(c) {
                assert_eq!(
                    batch
                        .records_decompressed(&mut Codecs::new(), &mut [0u8; 4096])
                        .err(),
                    Some(microkafka_core::Error::UnsupportedCompression(c.id()))
                );
            }
        }
    }
}
