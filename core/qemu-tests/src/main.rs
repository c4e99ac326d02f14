//! microkafka-core's `no_std` tests on a Cortex-M4, under QEMU (`mps2-an386`)
//! with semihosting: every test prints `test <name> ... ok`; a failed
//! assertion prints its message and exits QEMU with status 1 (panic-semihosting),
//! success exits with status 0. No allocator is linked.
//!
//! The inputs are golden batches written by librdkafka 2.16 (the files under
//! `core/tests/data/librdkafka/`), so the target decodes what a real client
//! wrote, not only what microkafka wrote.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use microkafka_core::client::{Connection, MetadataCache};
use microkafka_core::consumer::{next_fetch_offset, FetchCursor};
use microkafka_core::producer::{splice_records, Accumulator, Appended};
use microkafka_core::protocol::frame::{decode_request, encode_request, encode_response};
use microkafka_core::protocol::messages::{
    ApiVersion, ApiVersionsResponse, HeartbeatRequest, MetadataResponse, MetadataResponseBroker,
    MetadataResponsePartition, MetadataResponseTopic, PartitionProduceData, ProduceRequest,
    TopicProduceData,
};
use microkafka_core::protocol::ApiKey;
use microkafka_core::record::compression::{Codecs, Compression};
use microkafka_core::record::{
    crc32_ieee, crc32c, BatchOptions, Record, RecordBatch, RecordBatchBuilder, RecordHeader,
    RecordSet, RECORD_BATCH_OVERHEAD,
};
use microkafka_core::wire::Array;
use microkafka_core::{Error, ErrorCode};
use panic_semihosting as _;

/// librdkafka 2.16's batches of the same 7 records, per codec.
const NONE: &[u8] =
    include_bytes!("../../tests/data/librdkafka/librdkafka2.16-record-batch-none.bin");
const LZ4: &[u8] =
    include_bytes!("../../tests/data/librdkafka/librdkafka2.16-record-batch-lz4.bin");
const GZIP: &[u8] =
    include_bytes!("../../tests/data/librdkafka/librdkafka2.16-record-batch-gzip.bin");

/// Every test, in order.
const TESTS: &[(&str, fn())] = &[
    ("crc32c_and_crc32_vectors", crc32c_and_crc32_vectors),
    (
        "librdkafka_batch_parses_field_by_field",
        librdkafka_batch_parses_field_by_field,
    ),
    (
        "builder_rebuilds_librdkafka_batch_byte_for_byte",
        builder_rebuilds_librdkafka_batch_byte_for_byte,
    ),
    ("corrupt_batch_is_refused", corrupt_batch_is_refused),
    (
        "librdkafka_lz4_and_gzip_decompress_to_the_same_records",
        librdkafka_lz4_and_gzip_decompress_to_the_same_records,
    ),
    ("lz4_round_trip", lz4_round_trip),
    (
        "fetch_cursor_reads_compressed_batches_from_an_offset",
        fetch_cursor_reads_compressed_batches_from_an_offset,
    ),
    ("version_negotiation", version_negotiation),
    (
        "version_negotiation_kip511_fallback",
        version_negotiation_kip511_fallback,
    ),
    (
        "accumulated_batch_spliced_into_a_produce_request",
        accumulated_batch_spliced_into_a_produce_request,
    ),
    (
        "metadata_cache_tracks_leaders",
        metadata_cache_tracks_leaders,
    ),
    (
        "hostile_lengths_are_errors_not_panics",
        hostile_lengths_are_errors_not_panics,
    ),
];

#[entry]
fn main() -> ! {
    hprintln!(
        "running {} tests on a Cortex-M4 (no_std, no allocator)",
        TESTS.len()
    );
    for (name, test) in TESTS {
        test();
        hprintln!("test {} ... ok", name);
    }
    // The same closing line as `cargo test`, so CI log readers count these tests too.
    hprintln!(
        "test result: ok. {} passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
        TESTS.len()
    );
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::nop();
    }
}

fn crc32c_and_crc32_vectors() {
    // The check values of the CRC catalogue (CRC-32/ISCSI and CRC-32/ISO-HDLC).
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32_ieee(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32c(b""), 0);
    // RFC 3720 B.4: 32 bytes of zeros, of ones, ascending.
    assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
    assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
    let mut ascending = [0u8; 32];
    for (i, b) in ascending.iter_mut().enumerate() {
        *b = i as u8;
    }
    assert_eq!(crc32c(&ascending), 0x46DD_794E);
    // A batch's stored CRC is the CRC-32C of its bytes after the CRC field.
    let batch = RecordBatch::new_checked(NONE).unwrap();
    assert_eq!(batch.crc(), batch.compute_crc());
}

/// The first record as librdkafka wrote it.
fn check_first_records<'a>(mut records: impl Iterator<Item = Result<Record<'a>, Error>>) {
    let r = records.next().unwrap().unwrap();
    assert_eq!((r.offset_delta, r.timestamp_delta), (0, 0));
    assert_eq!(r.key, Some(&b"user-1"[..]));
    assert_eq!(r.value, Some(&b"hello microkafka"[..]));
    assert_eq!(r.headers.get("trace"), Some(Some(&b"abc"[..])));
    assert_eq!(r.headers.get("app"), Some(Some(&b"microkafka"[..])));
    let r = records.next().unwrap().unwrap();
    assert_eq!(r.key, None);
    assert_eq!(r.value, Some(&b"record without key"[..]));
    let r = records.next().unwrap().unwrap();
    assert_eq!(r.key, Some(&[0x00, 0x01, 0x02, 0xff][..]));
    assert_eq!(r.value, Some(&[0xde, 0xad, 0xbe, 0xef][..]));
    let r = records.next().unwrap().unwrap();
    assert_eq!((r.key, r.value), (Some(&b"tombstone"[..]), None));
    assert_eq!(r.headers.get("null-header"), Some(None));
    let r = records.next().unwrap().unwrap();
    assert_eq!(r.timestamp_delta, -3);
    let r = records.next().unwrap().unwrap();
    assert_eq!((r.key, r.value), (Some(&b""[..]), Some(&b""[..])));
    let r = records.next().unwrap().unwrap();
    assert_eq!(r.key, Some(&b"long-value"[..]));
    assert!(r.value.unwrap().starts_with(b"microkafka microkafka"));
    assert_eq!(r.headers.get("unicode"), Some(Some("héllo ☃".as_bytes())));
    assert!(records.next().is_none());
}

fn librdkafka_batch_parses_field_by_field() {
    let batch = RecordBatch::new_verified(NONE).unwrap();
    assert_eq!(batch.magic(), 2);
    assert_eq!(batch.records_count(), 7);
    assert_eq!(batch.last_offset_delta(), 6);
    assert_eq!(batch.base_timestamp(), 1_700_000_000_000);
    assert_eq!(batch.max_timestamp(), 1_700_000_000_200);
    assert_eq!((batch.producer_id(), batch.base_sequence()), (-1, -1));
    assert_eq!(batch.attributes().compression(), Ok(Compression::None));
    check_first_records(batch.records().unwrap());
}

fn builder_rebuilds_librdkafka_batch_byte_for_byte() {
    let original = RecordBatch::new_verified(NONE).unwrap();
    let options = BatchOptions {
        producer_id: original.producer_id(),
        producer_epoch: original.producer_epoch(),
        base_sequence: original.base_sequence(),
        partition_leader_epoch: original.partition_leader_epoch(),
        base_offset: original.base_offset(),
        ..Default::default()
    };
    let mut buf = [0u8; 1024];
    let mut builder = RecordBatchBuilder::new(&mut buf, options).unwrap();
    for r in original.records().unwrap() {
        let r = r.unwrap();
        let mut headers: [RecordHeader<'_>; 4] = [RecordHeader {
            key: "",
            value: None,
        }; 4];
        let mut n = 0;
        for h in r.headers.iter() {
            headers[n] = RecordHeader {
                key: h.key,
                value: h.value,
            };
            n += 1;
        }
        let timestamp = original.base_timestamp() + r.timestamp_delta;
        builder
            .append(timestamp, r.key, r.value, &headers[..n])
            .unwrap();
    }
    assert_eq!(&*builder.finish().unwrap(), NONE);
}

fn corrupt_batch_is_refused() {
    let mut copy = [0u8; 1024];
    copy[..NONE.len()].copy_from_slice(NONE);
    copy[NONE.len() - 1] ^= 0x01;
    assert!(matches!(
        RecordBatch::new_verified(&copy[..NONE.len()]),
        Err(Error::BadCrc { .. })
    ));
    assert_eq!(
        RecordBatch::new_checked(&NONE[..40]).err(),
        Some(Error::Truncated)
    );
}

/// Regressions for input a hostile broker can send a device: a record-set
/// entry whose length cannot hold its magic byte (indexed past the entry),
/// and a snappy literal whose 4-byte length is `u32::MAX` (`n + 1` overflowed
/// `usize` on this 32-bit target). Both are errors; overflow checks are on.
fn hostile_lengths_are_errors_not_panics() {
    let zeros = [0u8; 17];
    let mut set = RecordSet::new(&zeros);
    assert_eq!(set.next(), Some(Err(Error::InvalidLength)));
    assert_eq!(next_fetch_offset(&zeros, 7), Err(Error::InvalidLength));
    let mut cursor = FetchCursor::new(0);
    let mut codecs = Codecs::new();
    assert!(matches!(
        cursor.next(&zeros, &mut codecs, &mut []),
        Some(Err(_))
    ));

    // Raw snappy: declared length 5, then a literal tag with a 4-byte length.
    let bomb = [5u8, 63 << 2, 0xff, 0xff, 0xff, 0xff, b'a', b'b'];
    let snappy = codecs.codec(Compression::Snappy).unwrap();
    let mut out = [0u8; 16];
    assert!(snappy.decompress(&bomb, &mut out).is_err());
}

fn librdkafka_lz4_and_gzip_decompress_to_the_same_records() {
    let plain = RecordBatch::new_verified(NONE).unwrap();
    let mut codecs = Codecs::new();
    for (compressed, codec) in [(LZ4, Compression::Lz4), (GZIP, Compression::Gzip)] {
        let batch = RecordBatch::new_verified(compressed).unwrap();
        assert_eq!(batch.attributes().compression(), Ok(codec));
        let mut scratch = [0u8; 1024];
        let records = batch
            .records_decompressed(&mut codecs, &mut scratch)
            .unwrap();
        assert!(records.eq(plain.records().unwrap()), "{}", codec.name());
        let mut scratch = [0u8; 1024];
        check_first_records(
            batch
                .records_decompressed(&mut codecs, &mut scratch)
                .unwrap(),
        );
        // Too small a scratch buffer is a refusal, not an overflow.
        let mut small = [0u8; 64];
        assert!(matches!(
            batch.records_decompressed(&mut codecs, &mut small),
            Err(Error::TooLarge { .. })
        ));
    }
}

fn lz4_round_trip() {
    let mut codecs = Codecs::new();
    let mut buf = [0u8; 4096];
    let mut builder = RecordBatchBuilder::new(&mut buf, BatchOptions::default()).unwrap();
    let mut value = [0u8; 40];
    for i in 0..50u8 {
        for (j, b) in value.iter_mut().enumerate() {
            *b = b'a' + ((i as usize + j) % 7) as u8;
        }
        builder
            .append(
                1_700_000_000_000 + i64::from(i),
                Some(&[i]),
                Some(&value),
                &[],
            )
            .unwrap();
    }
    let uncompressed_len = builder.len();
    let mut scratch = [0u8; 4096];
    let lz4 = codecs.codec(Compression::Lz4).unwrap();
    let batch = builder.finish_compressed(lz4, &mut scratch).unwrap();
    assert!(
        batch.len() < uncompressed_len / 2,
        "{} of {}",
        batch.len(),
        uncompressed_len
    );
    let batch = RecordBatch::new_verified(&*batch).unwrap();
    assert_eq!(batch.attributes().compression(), Ok(Compression::Lz4));
    let mut out = [0u8; 4096];
    let mut n = 0u8;
    for r in batch.records_decompressed(&mut codecs, &mut out).unwrap() {
        let r = r.unwrap();
        assert_eq!(r.key, Some(&[n][..]));
        assert_eq!(r.value.unwrap()[0], b'a' + (n % 7));
        assert_eq!(r.value.unwrap().len(), 40);
        n += 1;
    }
    assert_eq!(n, 50);
}

fn fetch_cursor_reads_compressed_batches_from_an_offset() {
    // A fetched `records` field: the lz4 batch at offset 0, then the gzip one
    // renumbered to offset 7, as a broker would serve them.
    let mut fetched = [0u8; 1024];
    fetched[..LZ4.len()].copy_from_slice(LZ4);
    fetched[LZ4.len()..LZ4.len() + GZIP.len()].copy_from_slice(GZIP);
    let records = &mut fetched[..LZ4.len() + GZIP.len()];
    RecordBatch::new_checked(&mut records[LZ4.len()..])
        .unwrap()
        .set_base_offset(7);
    let records = &*records;
    let mut cursor = FetchCursor::new(5);
    let mut codecs = Codecs::new();
    let mut scratch = [0u8; 1024];
    let mut offsets = [0i64; 16];
    let mut n = 0;
    while let Some(record) = cursor.next(records, &mut codecs, &mut scratch) {
        let record = record.unwrap();
        offsets[n] = record.offset;
        n += 1;
    }
    assert_eq!(&offsets[..n], &[5, 6, 7, 8, 9, 10, 11, 12, 13]);
    assert_eq!(cursor.next_offset(), 14);
}

/// A broker's ApiVersions answer with these ranges, as a frame body.
fn api_versions_body<'b>(
    out: &'b mut [u8],
    correlation_id: i32,
    version: i16,
    response: &ApiVersionsResponse<'_>,
) -> &'b [u8] {
    let n = encode_response(out, correlation_id, version, response).unwrap();
    &out[4..n]
}

fn version_negotiation() {
    let mut conn = Connection::<2>::new(Some("mcu")).unwrap();
    let mut tx = [0u8; 128];
    let sent = conn.start(&mut tx).unwrap();
    assert_eq!(sent.version, 4, "ApiVersions v4 first");
    let ranges = [
        ApiVersion {
            api_key: 18,
            min_version: 0,
            max_version: 4,
        },
        ApiVersion {
            api_key: 0,
            min_version: 0,
            max_version: 9,
        },
        ApiVersion {
            api_key: 1,
            min_version: 0,
            max_version: 11,
        },
        ApiVersion {
            api_key: 3,
            min_version: 0,
            max_version: 12,
        },
        ApiVersion {
            api_key: 12,
            min_version: 0,
            max_version: 2,
        },
    ];
    let response = ApiVersionsResponse {
        api_keys: Array::new(&ranges),
        ..Default::default()
    };
    let mut rx = [0u8; 256];
    let body = api_versions_body(&mut rx, sent.correlation_id, sent.version, &response);
    conn.receive(body).unwrap();
    assert!(conn.is_ready());
    let v = conn.versions().unwrap();
    assert_eq!(v.version(ApiKey::Produce), Ok(9));
    assert_eq!(v.version(ApiKey::Fetch), Ok(11));
    assert_eq!(v.version(ApiKey::Metadata), Ok(12));
    assert_eq!(v.version(ApiKey::Heartbeat), Ok(2));
    assert_eq!(
        v.version(ApiKey::OffsetCommit),
        Err(Error::ApiNotSupported {
            api: ApiKey::OffsetCommit
        })
    );
    // Requests then go out at the agreed version.
    let hb = HeartbeatRequest {
        group_id: "g",
        member_id: "m",
        ..Default::default()
    };
    let sent = conn.encode(&mut tx, &hb).unwrap();
    assert_eq!((sent.correlation_id, sent.version), (1, 2));

    // A broker below the Kafka 4.x floor (Produce 0-2): no common version.
    let mut old = Connection::<1>::new(None).unwrap();
    let sent = old.start(&mut tx).unwrap();
    let ranges = [
        ApiVersion {
            api_key: 18,
            min_version: 0,
            max_version: 4,
        },
        ApiVersion {
            api_key: 0,
            min_version: 0,
            max_version: 2,
        },
    ];
    let response = ApiVersionsResponse {
        api_keys: Array::new(&ranges),
        ..Default::default()
    };
    let body = api_versions_body(&mut rx, sent.correlation_id, sent.version, &response);
    old.receive(body).unwrap();
    assert_eq!(
        old.versions().unwrap().version(ApiKey::Produce),
        Err(Error::NoCommonVersion {
            api: ApiKey::Produce
        })
    );
}

fn version_negotiation_kip511_fallback() {
    let mut conn = Connection::<1>::new(None).unwrap();
    let mut tx = [0u8; 128];
    let sent = conn.start(&mut tx).unwrap();
    // An older broker answers UNSUPPORTED_VERSION in v0 with its range.
    let ours = [ApiVersion {
        api_key: 18,
        min_version: 0,
        max_version: 2,
    }];
    let v0 = ApiVersionsResponse {
        error_code: ErrorCode::UNSUPPORTED_VERSION,
        api_keys: Array::new(&ours),
        ..Default::default()
    };
    let mut rx = [0u8; 128];
    let body = api_versions_body(&mut rx, sent.correlation_id, 0, &v0);
    conn.receive(body).unwrap();
    assert!(conn.needs_api_versions() && !conn.is_ready());
    let retry = conn.start(&mut tx).unwrap();
    assert_eq!((retry.correlation_id, retry.version), (1, 2));
    let ranges = [
        ApiVersion {
            api_key: 18,
            min_version: 0,
            max_version: 2,
        },
        ApiVersion {
            api_key: 0,
            min_version: 3,
            max_version: 8,
        },
    ];
    let v2 = ApiVersionsResponse {
        api_keys: Array::new(&ranges),
        ..Default::default()
    };
    let body = api_versions_body(&mut rx, 1, 2, &v2);
    conn.receive(body).unwrap();
    assert_eq!(conn.versions().unwrap().version(ApiKey::Produce), Ok(8));
}

fn accumulated_batch_spliced_into_a_produce_request() {
    let mut buf = [0u8; 2 * 256];
    let linger = 5; // ms
    let mut acc = Accumulator::<2>::new(&mut buf, linger, usize::MAX).unwrap();
    let t0 = 1_000; // ms
    for i in 0..3u8 {
        let added = acc.append(t0, 4, 1_700_000_000_000, Some(b"k"), Some(&[b'0' + i]), &[]);
        assert_eq!(added, Ok(Appended::Added { slot: 0 }));
    }
    let slot = acc.due(t0 + linger).unwrap();
    let options = BatchOptions {
        producer_id: 5,
        producer_epoch: 0,
        base_sequence: 0,
        ..Default::default()
    };
    let batch = acc.seal(slot, options).unwrap();
    assert!(batch.len() > RECORD_BATCH_OVERHEAD);

    // Head and tail around the batch, as a firmware producer writes them.
    let empty = [PartitionProduceData {
        index: 4,
        records: Some(&[]),
    }];
    let topics = [TopicProduceData {
        name: "telemetry",
        partition_data: Array::new(&empty),
    }];
    let request = ProduceRequest {
        acks: -1,
        timeout_ms: 5_000,
        topic_data: Array::new(&topics),
        ..Default::default()
    };
    for version in [3i16, 9] {
        let mut head = [0u8; 128];
        let len = encode_request(&mut head, 9, Some("mcu"), version, &request).unwrap();
        let spliced = splice_records(&mut head, len, version, batch.len()).unwrap();
        let mut frame = [0u8; 512];
        let (h, t) = (spliced.head_len, spliced.tail.len());
        frame[..h].copy_from_slice(&head[..h]);
        frame[h..h + batch.len()].copy_from_slice(batch);
        frame[h + batch.len()..h + batch.len() + t].copy_from_slice(&head[spliced.tail.clone()]);
        assert_eq!(spliced.frame_len, h + batch.len() + t);
        let (header, decoded) =
            decode_request::<ProduceRequest<'_>>(&frame[4..spliced.frame_len]).unwrap();
        assert_eq!(
            (header.api_version, header.client_id),
            (version, Some("mcu"))
        );
        let part = decoded
            .topic_data
            .iter()
            .next()
            .unwrap()
            .partition_data
            .iter()
            .next()
            .unwrap();
        assert_eq!(part.index, 4);
        let sent = RecordBatch::new_verified(part.records.unwrap()).unwrap();
        assert_eq!((sent.records_count(), sent.producer_id()), (3, 5));
    }
    acc.release(slot);
    assert!(acc.is_empty());
}

fn metadata_cache_tracks_leaders() {
    let brokers = [
        MetadataResponseBroker {
            node_id: 1,
            host: "10.0.0.1",
            port: 9092,
            rack: None,
        },
        MetadataResponseBroker {
            node_id: 2,
            host: "10.0.0.2",
            port: 9092,
            rack: None,
        },
    ];
    let partitions = [
        MetadataResponsePartition {
            partition_index: 1,
            leader_id: 2,
            ..Default::default()
        },
        MetadataResponsePartition {
            partition_index: 0,
            leader_id: 1,
            ..Default::default()
        },
    ];
    let topics = [MetadataResponseTopic {
        name: Some("telemetry"),
        partitions: Array::new(&partitions),
        ..Default::default()
    }];
    let response = MetadataResponse {
        brokers: Array::new(&brokers),
        topics: Array::new(&topics),
        ..Default::default()
    };
    let mut cache = MetadataCache::<2, 4>::new();
    assert_eq!(cache.update(&response, "telemetry"), Ok(ErrorCode::NONE));
    assert_eq!(cache.partitions(), &[0, 1]);
    assert_eq!(cache.leader(1).unwrap().host.as_str(), "10.0.0.2");
}
