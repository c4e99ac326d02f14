//! Record-batch build and iterate throughput: 100-byte values, 16-byte keys,
//! one header, 100 records a batch. Reports records/s (elements) and bytes/s.
//!
//! `cargo bench -p microkafka-core --bench record_batch` (add
//! `--features crc-slice16` for the host CRC tables; the `crc32c_tables`
//! group compares the three table sizes in the same run).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use microkafka_core::record::{
    BatchOptions, RecordBatch, RecordBatchBuilder, RecordHeader, RecordSet,
};
use std::hint::black_box;

const RECORDS: usize = 100;
const VALUE: [u8; 100] = [b'v'; 100];

fn keys() -> Vec<[u8; 16]> {
    (0..RECORDS)
        .map(|i| {
            let mut k = *b"key-000000000000";
            k[10..].copy_from_slice(format!("{i:06}").as_bytes());
            k
        })
        .collect()
}

fn build(buf: &mut [u8], keys: &[[u8; 16]]) -> usize {
    let headers = [RecordHeader {
        key: "trace",
        value: Some(b"0123456789"),
    }];
    let mut b = RecordBatchBuilder::new(buf, BatchOptions::default()).unwrap();
    for (i, key) in keys.iter().enumerate() {
        b.append(
            1_700_000_000_000 + i as i64,
            Some(key),
            Some(&VALUE),
            &headers,
        )
        .unwrap();
    }
    b.finish().unwrap().len()
}

fn bench(c: &mut Criterion) {
    let mut buf = vec![0u8; 32 * 1024];
    let keys = keys();
    let len = build(&mut buf, &keys);
    let batch_bytes = buf[..len].to_vec();

    let mut g = c.benchmark_group("record_batch");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function(BenchmarkId::new("build", "records"), |b| {
        b.iter(|| black_box(build(black_box(&mut buf), &keys)))
    });
    g.bench_function(BenchmarkId::new("iterate_verified", "records"), |b| {
        b.iter(|| {
            let batch = RecordBatch::new_verified(black_box(&batch_bytes[..])).unwrap();
            let mut sum = 0usize;
            for r in batch.records().unwrap() {
                let r = r.unwrap();
                sum += r.value.map_or(0, <[u8]>::len) + r.headers.len();
            }
            black_box(sum)
        })
    });
    g.bench_function(BenchmarkId::new("iterate_unverified", "records"), |b| {
        b.iter(|| {
            let mut sum = 0usize;
            for entry in RecordSet::new(black_box(&batch_bytes[..])).without_crc_check() {
                let microkafka_core::record::Batch::V2(batch) = entry.unwrap() else {
                    unreachable!()
                };
                for r in batch.records().unwrap() {
                    sum += r.unwrap().value.map_or(0, <[u8]>::len);
                }
            }
            black_box(sum)
        })
    });
    g.throughput(Throughput::Bytes(len as u64));
    g.bench_function(BenchmarkId::new("build", "bytes"), |b| {
        b.iter(|| black_box(build(black_box(&mut buf), &keys)))
    });
    g.bench_function(BenchmarkId::new("crc32c", "bytes"), |b| {
        b.iter(|| {
            black_box(microkafka_core::record::crc32c(black_box(
                &batch_bytes[21..],
            )))
        })
    });
    g.finish();

    // The two CRC-32C table sizes side by side in one run (the crate picks one by
    // the `crc-slice16` feature): 1 KiB of tables for firmware, 16 KiB for hosts.
    let mut g = c.benchmark_group("crc32c_tables");
    g.throughput(Throughput::Bytes((len - 21) as u64));
    let no_table = crc::Crc::<u32, crc::NoTable>::new(&crc::CRC_32_ISCSI);
    let table1 = crc::Crc::<u32, crc::Table<1>>::new(&crc::CRC_32_ISCSI);
    let table16 = crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);
    g.bench_function("no_table", |b| {
        b.iter(|| black_box(no_table.checksum(black_box(&batch_bytes[21..]))))
    });
    g.bench_function("table1", |b| {
        b.iter(|| black_box(table1.checksum(black_box(&batch_bytes[21..]))))
    });
    g.bench_function("slice16", |b| {
        b.iter(|| black_box(table16.checksum(black_box(&batch_bytes[21..]))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
