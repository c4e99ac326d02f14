//! Compression throughput per codec, and the cost of microkafka's wrapper
//! (framing, checksums, limits) over calling the codec crate directly.
//!
//! Input: the records section of a batch of 100 records with 16-byte keys and
//! 100-byte JSON-ish telemetry values (field names repeat, numbers vary:
//! ~3-6x compressible, like real sensor topics). MB/s are of uncompressed
//! bytes, both directions.
//!
//! For each codec, in one run, back to back and on the same input:
//! - `microkafka`: the [`Codec`] microkafka uses (what the builder and the
//!   batch view call), with the framing Kafka clients write;
//! - `direct`: the codec crate called the cheapest way without microkafka:
//!   reused state, caller buffers, no framing beyond the crate's own (gzip:
//!   raw DEFLATE, no header/CRC-32; lz4: one block, no frame; snappy: one raw
//!   block; zstd: a reused `FrameCompressor` / `decode_all`).
//!
//! ```text
//! cargo bench -p microkafka-core --bench compression --all-features -- --warm-up-time 1 --measurement-time 3
//! ```

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use microkafka_core::record::compression::{
    Codec, Codecs, Compression, Gzip, Lz4, Snappy, SnappyFraming, Zstd,
};
use microkafka_core::record::{BatchOptions, RecordBatchBuilder, RECORD_BATCH_OVERHEAD};
use miniz_oxide::deflate::core::{
    compress as deflate, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush,
};
use miniz_oxide::inflate::core::{
    decompress as inflate, inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
    DecompressorOxide,
};
use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Instant;

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
            if r.is_multiple_of(7) { "warn" } else { "ok" },
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

/// One measured operation: returns a byte count so the work is not optimised out.
struct Case {
    codec: &'static str,
    direction: &'static str,
    variant: &'static str,
    run: Box<dyn FnMut() -> usize>,
}

fn case(
    codec: &'static str,
    direction: &'static str,
    variant: &'static str,
    run: impl FnMut() -> usize + 'static,
) -> Case {
    Case {
        codec,
        direction,
        variant,
        run: Box::new(run),
    }
}

/// Every codec, both directions, microkafka and direct, on `section`.
fn cases(section: &'static [u8]) -> Vec<Case> {
    let len = section.len();
    // One output buffer for every case, so microkafka and the direct calls
    // write to the same addresses (alignment and 4 KiB aliasing between input
    // and output otherwise differ per buffer, by several percent). 1 MiB:
    // a consumer's decompression limit (Kafka's default max.message.bytes).
    let shared = Rc::new(RefCell::new(vec![0u8; 1 << 20]));
    let buf = || shared.clone();
    let out_limit = || shared.clone();
    // microkafka's frame for `c`, checked to round-trip.
    let frame_of = |c: Compression| -> &'static [u8] {
        let mut codecs = Codecs::new();
        let codec = codecs.codec(c).unwrap();
        let mut frame = vec![0u8; c.max_compressed_len(len)];
        let n = codec.compress(section, &mut frame).unwrap();
        frame.truncate(n);
        let mut check = vec![0u8; len];
        assert_eq!(codec.decompress(&frame, &mut check).unwrap(), len);
        assert_eq!(check, section);
        eprintln!(
            "{}: {len} -> {n} bytes (ratio {:.2})",
            c.name(),
            len as f64 / n as f64
        );
        Box::leak(frame.into_boxed_slice())
    };
    let mut v = Vec::new();

    // gzip. direct = raw DEFLATE by miniz_oxide at the same level (no gzip
    // header, no CRC-32: microkafka's CRC-32 check is part of its overhead).
    let gz = frame_of(Compression::Gzip);
    let deflate_body = &gz[10..gz.len() - 8];
    let (mut g, out) = (Gzip::new(), buf());
    v.push(case("gzip", "compress", "microkafka", move || {
        g.compress(section, &mut out.borrow_mut()).unwrap()
    }));
    let flags = create_comp_flags_from_zip_params(i32::from(Gzip::DEFAULT_LEVEL), -15, 0);
    let (mut deflater, out) = (Box::new(CompressorOxide::new(flags)), buf());
    v.push(case("gzip", "compress", "direct", move || {
        deflater.reset();
        deflate(
            &mut deflater,
            section,
            &mut out.borrow_mut(),
            TDEFLFlush::Finish,
        )
        .2
    }));
    let (mut g, back) = (Gzip::new(), out_limit());
    v.push(case("gzip", "decompress", "microkafka", move || {
        g.decompress(gz, &mut back.borrow_mut()).unwrap()
    }));
    let (mut inflater, back) = (Box::new(DecompressorOxide::new()), out_limit());
    v.push(case("gzip", "decompress", "direct", move || {
        inflater.init();
        let flags = TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
        inflate(
            &mut inflater,
            deflate_body,
            &mut back.borrow_mut(),
            0,
            flags,
        )
        .2
    }));

    // snappy. microkafka writes xerial (one 32 KiB chunk here); direct = one
    // raw block with snap; microkafka-raw = microkafka's raw framing.
    let xerial = frame_of(Compression::Snappy);
    let raw: &'static [u8] = Box::leak(
        snap::raw::Encoder::new()
            .compress_vec(section)
            .unwrap()
            .into_boxed_slice(),
    );
    for (variant, framing) in [
        ("microkafka", SnappyFraming::Xerial),
        ("microkafka-raw", SnappyFraming::Raw),
    ] {
        let (mut s, out) = (Snappy::with_framing(framing), buf());
        v.push(case("snappy", "compress", variant, move || {
            s.compress(section, &mut out.borrow_mut()).unwrap()
        }));
    }
    let (mut encoder, out) = (snap::raw::Encoder::new(), buf());
    v.push(case("snappy", "compress", "direct", move || {
        encoder.compress(section, &mut out.borrow_mut()).unwrap()
    }));
    for (variant, input) in [("microkafka", xerial), ("microkafka-raw", raw)] {
        let (mut s, back) = (Snappy::new(), out_limit());
        v.push(case("snappy", "decompress", variant, move || {
            s.decompress(input, &mut back.borrow_mut()).unwrap()
        }));
    }
    let (mut decoder, back) = (snap::raw::Decoder::new(), out_limit());
    v.push(case("snappy", "decompress", "direct", move || {
        decoder.decompress(raw, &mut back.borrow_mut()).unwrap()
    }));

    // lz4. direct = the block codec on the whole section (one block, no frame).
    let frame = frame_of(Compression::Lz4);
    // The frame's one block (header 7 + block size 4), read where it lies.
    let size = u32::from_le_bytes(frame[7..11].try_into().unwrap());
    assert!(size & 0x8000_0000 == 0, "the block is stored compressed");
    let block = &frame[11..11 + size as usize];
    let (mut l, out) = (Lz4::new(), buf());
    v.push(case("lz4", "compress", "microkafka", move || {
        l.compress(section, &mut out.borrow_mut()).unwrap()
    }));
    let out = buf();
    v.push(case("lz4", "compress", "direct", move || {
        lz4_flex::block::compress_into(section, &mut out.borrow_mut()).unwrap()
    }));
    let (mut l, back) = (Lz4::new(), out_limit());
    v.push(case("lz4", "decompress", "microkafka", move || {
        l.decompress(frame, &mut back.borrow_mut()).unwrap()
    }));
    let back = out_limit();
    v.push(case("lz4", "decompress", "direct", move || {
        lz4_flex::block::decompress_into(block, &mut back.borrow_mut()).unwrap()
    }));

    // zstd. direct = a FrameCompressor kept across calls (possible here only
    // because the input lives for the whole run) and FrameDecoder::decode_all.
    let zst = frame_of(Compression::Zstd);
    let (mut z, out) = (Zstd::new(), buf());
    v.push(case("zstd", "compress", "microkafka", move || {
        z.compress(section, &mut out.borrow_mut()).unwrap()
    }));
    let mut compressor =
        ruzstd::encoding::FrameCompressor::new(ruzstd::encoding::CompressionLevel::Fastest);
    v.push(case("zstd", "compress", "direct", move || {
        let mut drain: Vec<u8> = compressor.take_drain().unwrap_or_default();
        drain.clear();
        compressor.set_drain(drain);
        compressor.set_source(section);
        compressor.compress();
        compressor.drain().unwrap().len()
    }));
    let (mut z, back) = (Zstd::new(), out_limit());
    v.push(case("zstd", "decompress", "microkafka", move || {
        z.decompress(zst, &mut back.borrow_mut()).unwrap()
    }));
    let (mut decoder, back) = (ruzstd::decoding::FrameDecoder::new(), out_limit());
    v.push(case("zstd", "decompress", "direct", move || {
        decoder.decode_all(zst, &mut back.borrow_mut()).unwrap()
    }));
    v
}

fn bench(c: &mut Criterion) {
    let section: &'static [u8] = Box::leak(records_section().into_boxed_slice());
    let mut g = c.benchmark_group("compression");
    g.throughput(Throughput::Bytes(section.len() as u64));
    for mut case in cases(section) {
        let id = BenchmarkId::new(format!("{}/{}", case.direction, case.variant), case.codec);
        g.bench_function(id, |b| b.iter(|| black_box((case.run)())));
    }
    g.finish();
}

/// microkafka against the direct call, measured in alternating blocks of
/// ~0.3 ms so load from elsewhere on the machine hits both alike: the median
/// of 400 per-block ratios (and its quartiles). Printed after the criterion
/// groups; `--test` (cargo test --benches) runs it briefly.
fn overhead(_: &mut Criterion) {
    let quick = std::env::args().any(|a| a == "--test");
    let section: &'static [u8] = Box::leak(records_section().into_boxed_slice());
    let mut cases = cases(section);
    let time = |run: &mut dyn FnMut() -> usize, n: u32| {
        let t = Instant::now();
        for _ in 0..n {
            black_box(run());
        }
        t.elapsed().as_secs_f64() / f64::from(n)
    };
    eprintln!(
        "\noverhead of microkafka over the direct call (median of per-block ratios, [q1, q3]):"
    );
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        for direction in ["compress", "decompress"] {
            let pick = |cases: &[Case], v: &str| {
                cases
                    .iter()
                    .position(|c| c.codec == codec && c.direction == direction && c.variant == v)
            };
            let base = pick(&cases, "direct").unwrap();
            for variant in ["microkafka", "microkafka-raw"] {
                let Some(ours) = pick(&cases, variant) else {
                    continue;
                };
                // Iterations per block: ~0.3 ms of the direct call.
                let one = time(&mut *cases[base].run, 50);
                let n = ((3e-4 / one) as u32).max(1);
                let mut ratios: Vec<f64> = (0..if quick { 4 } else { 400 })
                    .map(|_| {
                        let a = time(&mut *cases[ours].run, n);
                        let b = time(&mut *cases[base].run, n);
                        a / b
                    })
                    .collect();
                ratios.sort_by(f64::total_cmp);
                let q = |f: f64| (ratios[((ratios.len() - 1) as f64 * f) as usize] - 1.0) * 100.0;
                eprintln!(
                    "  {codec:6} {direction:10} {variant:14}: {:+6.1}%  [{:+.1}%, {:+.1}%]",
                    q(0.5),
                    q(0.25),
                    q(0.75)
                );
            }
        }
    }
}

criterion_group!(benches, bench, overhead);
criterion_main!(benches);
