//! Measures what each codec needs, per direction, on a 100-record batch
//! (~12.5 KB records section) and a 1 MiB one: the size of the codec value
//! (its state, kept wherever the caller keeps it), the heap it allocates, and
//! the stack it uses. Each measurement runs in a fresh child process (the
//! allocator's high-water mark cannot be reset); stack is found by running
//! the work under the deepest ballast that still fits a fixed thread stack,
//! compared with a no-op.
//!
//! ```text
//! cargo run --release -p microkafka-core --example compression_memory --all-features
//! ```
//!
//! Heap is what the codec allocates beyond its own value and the caller's
//! input and output buffers. Stack is measured on the host (x86_64, release):
//! the order of what a Cortex-M needs (its frames are smaller).

use std::alloc::System;
use std::process::Command;

use cap::Cap;
use microkafka_core::record::compression::{Codec, Gzip, Lz4, Snappy, Zstd};
use microkafka_core::record::{BatchOptions, RecordBatchBuilder, RECORD_BATCH_OVERHEAD};

#[global_allocator]
static HEAP: Cap<System> = Cap::new(System, usize::MAX);

const CODECS: [&str; 4] = ["gzip", "snappy", "lz4", "zstd"];
const SIZES: [(&str, usize); 2] = [("100 records", 100), ("1 MiB", 8_000)];

/// Bytes of the codec value itself (where the caller keeps it).
fn state_size(name: &str) -> usize {
    match name {
        "gzip" => std::mem::size_of::<Gzip>(),
        "snappy" => std::mem::size_of::<Snappy>(),
        "lz4" => std::mem::size_of::<Lz4>(),
        "zstd" => std::mem::size_of::<Zstd>(),
        _ => 0,
    }
}

fn codec(name: &str) -> Box<dyn Codec + Send> {
    match name {
        "gzip" => Box::new(Gzip::new()),
        "snappy" => Box::new(Snappy::new()),
        "lz4" => Box::new(Lz4::new()),
        "zstd" => Box::new(Zstd::new()),
        other => panic!("{other}"),
    }
}

/// A records section of `records` ~125-byte telemetry records, built
/// without freeing memory (so setup does not raise the high-water mark).
fn section(records: usize, buf: &mut Vec<u8>) -> usize {
    buf.resize(records * 160 + RECORD_BATCH_OVERHEAD, 0);
    let mut b = RecordBatchBuilder::new(buf, BatchOptions::default()).unwrap();
    let mut value = [b' '; 100];
    for i in 0..records {
        let head = format!(
            "{{\"seq\":{i},\"temp\":{}.{},\"status\":\"ok\"}}",
            15 + i % 20,
            i % 10
        );
        value[..head.len()].copy_from_slice(head.as_bytes());
        let key = format!("device-{:06}", i % 977);
        b.append(
            1_700_000_000_000 + i as i64,
            Some(key.as_bytes()),
            Some(&value),
            &[],
        )
        .unwrap();
    }
    b.finish().unwrap().len()
}

/// Runs one scenario in this process: `<codec> compress <records>` or
/// `<codec> decompress <file> <uncompressed len>` (files written by the
/// parent, so that this process allocates nothing it frees before measuring).
/// Prints the heap bytes the codec allocated beyond its buffers.
fn child(args: &[String], depth: Option<usize>) {
    let name = args[0].as_str();
    let mut buf = Vec::new();
    let (input, mut out): (&[u8], Vec<u8>) = if args[1] != "decompress" {
        let n = section(args[2].parse().unwrap(), &mut buf);
        let len = n - RECORD_BATCH_OVERHEAD;
        let bound = microkafka_core::record::Compression::Snappy.max_compressed_len(len) + 1024;
        (&buf[RECORD_BATCH_OVERHEAD..n], vec![0u8; bound])
    } else {
        buf = std::fs::read(&args[2]).unwrap();
        (&buf[..], vec![0u8; args[3].parse().unwrap()])
    };
    let decompress = args[1] == "decompress";
    // The codec's own state (e.g. gzip's inflate tables) is made here, on
    // the heap: its size is reported separately.
    let mut c = (name != "noop").then(|| codec(name));
    let base = HEAP.allocated();
    let mut work = move || {
        // Twice: the second batch is the steady state (ruzstd, for one,
        // reserves the frame's whole window only when it reuses its state).
        for _ in 0..2 {
            if let Some(c) = c.as_mut() {
                let r = if decompress {
                    c.decompress(input, &mut out).unwrap()
                } else {
                    c.compress(input, &mut out).unwrap()
                };
                std::hint::black_box(r);
            }
        }
    };
    match depth {
        // Run under `depth` KiB of ballast on a fixed 1 MiB stack: the
        // deepest ballast that still fits, against a no-op's, gives the stack
        // the work needs, at 1 KiB resolution.
        Some(depth) => std::thread::scope(|s| {
            std::thread::Builder::new()
                .stack_size(1 << 20)
                .spawn_scoped(s, move || burn(depth, &mut work))
                .unwrap()
                .join()
                .unwrap();
        }),
        None => work(),
    }
    println!("{}", HEAP.max_allocated() - base);
}

/// Takes ~1 KiB of stack per level, then runs `f`.
#[inline(never)]
fn burn(depth: usize, f: &mut dyn FnMut()) -> u8 {
    let mut pad = [0u8; 1024];
    std::hint::black_box(&mut pad);
    if depth == 0 {
        f();
        0
    } else {
        burn(depth - 1, f).wrapping_add(pad[depth % 1024])
    }
}

/// The deepest ballast (KiB) under which the scenario still completes.
fn max_depth(base: &[String]) -> usize {
    let (mut lo, mut hi) = (0usize, 1024usize);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        let mut a = base.to_vec();
        a.push(mid.to_string());
        if run(&a).is_some() {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

fn run(args: &[String]) -> Option<String> {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(args)
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("child") {
        let rest = &args[1..];
        let n = if rest[1] == "compress" { 3 } else { 4 };
        child(rest, rest.get(n).map(|s| s.parse().unwrap()));
        return;
    }
    let dir = std::env::temp_dir().join(format!("microkafka-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut scenarios: Vec<(String, String, String, Vec<String>)> = Vec::new();
    for name in CODECS {
        for (label, records) in SIZES {
            scenarios.push((
                name.into(),
                "compress".into(),
                label.into(),
                vec![records.to_string()],
            ));
        }
        for (label, records) in SIZES {
            let mut buf = Vec::new();
            let n = section(records, &mut buf);
            let input = &buf[RECORD_BATCH_OVERHEAD..n];
            let mut packed = vec![0u8; input.len() * 2 + 1024];
            let k = codec(name).compress(input, &mut packed).unwrap();
            let file = dir.join(format!("{name}-{records}.bin"));
            std::fs::write(&file, &packed[..k]).unwrap();
            let args = vec![file.display().to_string(), input.len().to_string()];
            scenarios.push((name.into(), "decompress".into(), label.into(), args));
        }
    }
    // What librdkafka and Java send at their default level: a 2 MiB window.
    let golden = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/librdkafka/librdkafka2.16-record-batch-zstd.bin"
    );
    let batch = std::fs::read(golden).unwrap();
    let file = dir.join("zstd-librdkafka.bin");
    std::fs::write(&file, &batch[RECORD_BATCH_OVERHEAD..]).unwrap();
    scenarios.push((
        "zstd".into(),
        "decompress".into(),
        "librdkafka 2.16 batch (2 MiB window)".into(),
        vec![file.display().to_string(), "570".into()],
    ));

    let noop = max_depth(&["child".into(), "noop".into(), "compress".into(), "1".into()]);
    println!("| codec | direction | batch | state (KiB) | heap (KiB) | stack, x86_64 (KiB) |");
    println!("|---|---|---|---|---|---|");
    for (name, direction, label, rest) in scenarios {
        let mut base = vec!["child".to_string(), name.clone(), direction.clone()];
        base.extend(rest);
        let heap = run(&base).map_or("failed".into(), |h| {
            format!("{:.1}", h.parse::<f64>().unwrap() / 1024.0)
        });
        let stack = noop.saturating_sub(max_depth(&base));
        let state = state_size(&name) as f64 / 1024.0;
        println!("| {name} | {direction} | {label} | {state:.1} | {heap} | {stack} |");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
