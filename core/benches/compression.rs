//! Compression throughput per codec, and the cost of microkafka's wrapper
//! (framing, checksums, limits) over calling the codec crate directly.
//!
//! Input: the records section of a batch of 100 records with 16-byte keys and
//! 100-byte JSON-ish telemetry values (field names repeat, numbers vary:
//! ~3-6x compressible, like real sensor topics). MB/s are of uncompressed
//! bytes, both directions.
//!
//! For each codec, in one run and on the same input:
//! - `microkafka`: the [`Codec`] microkafka uses (what the builder and the
//!   batch view call);
//! - `direct`: the codec crate called the cheapest correct way without
//!   microkafka: reused state, caller buffers, no framing beyond the crate's
//!   own (gzip: raw DEFLATE, no header/CRC-32; lz4: one block, no frame;
//!   snappy: one raw block; zstd: a reused `FrameCompressor` / `decode_all`).
//!
//! ```text
//! cargo bench -p microkafka-core --bench compression --all-features -- --warm-up-time 1 --measurement-time 3
//! ```

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use microkafka_core::record::compression::{
    Codec, Codecs, Compression, Gzip, Snappy, SnappyFraming,
};
use microkafka_core::record::{BatchOptions, RecordBatchBuilder, RECORD_BATCH_OVERHEAD};
use miniz_oxide::deflate::core::{
    compress as deflate, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush,
};
use miniz_oxide::inflate::core::{
    decompress as inflate, inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
    DecompressorOxide,
};
use std::hint::black_box;

const RECORDS: u64 = 100;

/// The records section of a 100-record batch (~14 KB).
fn records_section() -> Vec<u8> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut b = RecordBatchBuilder::new(&mut buf, BatchOptions::default()).unwrap();
    for i in 0..RECORDS {
        let key = format!("device-{:09}", next() % 1_000_000);
        let r = next();
        let mut value = format!(
            "{{\"seq\":{i},\"sensor\":\"t-{}\",\"temp\":{}.{},\"hum\":{},\"status\":\"{}\",\"fw\":\"1.4.2\"}}",
            r % 64,
            15 + r % 20,
            r % 10,
            30 + (r >> 8) % 50,
            if r % 7 == 0 { "warn" } else { "ok" },
        )
        .into_bytes();
        value.resize(100, b' ');
        b.append(
            1_700_000_000_000 + i as i64,
            Some(key.as_bytes()),
            Some(&value),
            &[],
        )
        .unwrap();
    }
    let n = b.finish().unwrap().len();
    buf[RECORD_BATCH_OVERHEAD..n].to_vec()
}

fn bench(c: &mut Criterion) {
    let section = records_section();
    let len = section.len();
    let mut out = vec![0u8; Compression::Snappy.max_compressed_len(len) + 1024];
    let mut back = vec![0u8; len];

    let mut g = c.benchmark_group("compression");
    g.throughput(Throughput::Bytes(len as u64));

    let mut codecs = Codecs::new();
    codecs.snappy = Snappy::with_framing(SnappyFraming::Xerial);
    let mut frames = Vec::new();
    for compression in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let codec = codecs.codec(compression).unwrap();
        let n = codec.compress(&section, &mut out).unwrap();
        eprintln!(
            "{}: {len} -> {n} bytes (ratio {:.2})",
            compression.name(),
            len as f64 / n as f64
        );
        frames.push((compression, out[..n].to_vec()));
        g.bench_function(
            BenchmarkId::new("compress/microkafka", compression.name()),
            |b| b.iter(|| black_box(codec.compress(black_box(&section), &mut out).unwrap())),
        );
        let frame = &frames.last().unwrap().1;
        g.bench_function(
            BenchmarkId::new("decompress/microkafka", compression.name()),
            |b| b.iter(|| black_box(codec.decompress(black_box(frame), &mut back).unwrap())),
        );
        assert_eq!(back, section);
    }

    // gzip direct: raw DEFLATE at the same level, no gzip header, no CRC-32.
    let mut deflater = Box::new(CompressorOxide::new(create_comp_flags_from_zip_params(
        i32::from(Gzip::DEFAULT_LEVEL),
        -15,
        0,
    )));
    g.bench_function(BenchmarkId::new("compress/direct", "gzip"), |b| {
        b.iter(|| {
            deflater.reset();
            black_box(
                deflate(
                    &mut deflater,
                    black_box(&section),
                    &mut out,
                    TDEFLFlush::Finish,
                )
                .2,
            )
        })
    });
    let gz = &frames[0].1;
    let deflate_body = &gz[10..gz.len() - 8];
    let mut inflater = Box::new(DecompressorOxide::new());
    g.bench_function(BenchmarkId::new("decompress/direct", "gzip"), |b| {
        b.iter(|| {
            inflater.init();
            let r = inflate(
                &mut inflater,
                black_box(deflate_body),
                &mut back,
                0,
                TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
            );
            black_box(r.2)
        })
    });

    // snappy direct: one raw block with snap. microkafka's own decoder on the
    // same raw block (librdkafka's framing) is `decompress/microkafka-raw`.
    let mut encoder = snap::raw::Encoder::new();
    g.bench_function(BenchmarkId::new("compress/direct", "snappy"), |b| {
        b.iter(|| black_box(encoder.compress(black_box(&section), &mut out).unwrap()))
    });
    let raw = snap::raw::Encoder::new().compress_vec(&section).unwrap();
    let mut decoder = snap::raw::Decoder::new();
    g.bench_function(BenchmarkId::new("decompress/direct", "snappy"), |b| {
        b.iter(|| black_box(decoder.decompress(black_box(&raw), &mut back).unwrap()))
    });
    let mut snappy_raw = Snappy::with_framing(SnappyFraming::Raw);
    g.bench_function(BenchmarkId::new("compress/microkafka-raw", "snappy"), |b| {
        b.iter(|| black_box(snappy_raw.compress(black_box(&section), &mut out).unwrap()))
    });
    g.bench_function(
        BenchmarkId::new("decompress/microkafka-raw", "snappy"),
        |b| b.iter(|| black_box(snappy_raw.decompress(black_box(&raw), &mut back).unwrap())),
    );

    // lz4 direct: the block codec on the whole section (one block, no frame).
    g.bench_function(BenchmarkId::new("compress/direct", "lz4"), |b| {
        b.iter(|| black_box(lz4_flex::block::compress_into(black_box(&section), &mut out).unwrap()))
    });
    let mut block = vec![0u8; lz4_flex::block::get_maximum_output_size(len)];
    let n = lz4_flex::block::compress_into(&section, &mut block).unwrap();
    let block = &block[..n];
    g.bench_function(BenchmarkId::new("decompress/direct", "lz4"), |b| {
        b.iter(|| black_box(lz4_flex::block::decompress_into(black_box(block), &mut back).unwrap()))
    });

    // zstd direct: a FrameCompressor kept across calls (possible here because
    // the input lives for the whole run) and FrameDecoder::decode_all.
    let input: &'static [u8] = Box::leak(section.clone().into_boxed_slice());
    let mut compressor =
        ruzstd::encoding::FrameCompressor::new(ruzstd::encoding::CompressionLevel::Fastest);
    g.bench_function(BenchmarkId::new("compress/direct", "zstd"), |b| {
        b.iter(|| {
            let mut drain: Vec<u8> = compressor.take_drain().unwrap_or_default();
            drain.clear();
            compressor.set_drain(drain);
            compressor.set_source(black_box(input));
            compressor.compress();
            black_box(compressor.drain().unwrap().len())
        })
    });
    let zst = &frames[3].1;
    let mut frame_decoder = ruzstd::decoding::FrameDecoder::new();
    g.bench_function(BenchmarkId::new("decompress/direct", "zstd"), |b| {
        b.iter(|| black_box(frame_decoder.decode_all(black_box(zst), &mut back).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
