//! Codec behaviour: round trips, limits ("zip bombs"), truncated and corrupt
//! input, the no_std snappy decoder against `snap`, legacy wrappers.

extern crate std;

use std::boxed::Box;
use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::record::crc::crc32_ieee;
use crate::record::{BatchOptions, LegacyMessage, RecordBatch, RecordBatchBuilder, TimestampType};

#[test]
fn ids_round_trip() {
    for c in Compression::ALL {
        assert_eq!(Compression::from_id(c.id()), Ok(c));
    }
    assert_eq!(
        Compression::from_id(5),
        Err(Error::UnsupportedCompression(5))
    );
    // Only the low three bits name the codec.
    assert_eq!(Compression::from_id(0x0b), Ok(Compression::Lz4));
}

/// The xerial magic, written out here so the tests build without `snappy`.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";

/// The codecs that can compress in this build.
#[allow(unused_mut)]
fn compressing_codecs() -> Vec<Box<dyn Codec>> {
    let mut v: Vec<Box<dyn Codec>> = vec![Box::new(NoCompression)];
    #[cfg(all(feature = "gzip", feature = "alloc"))]
    {
        v.push(Box::new(Gzip::new()));
        v.push(Box::new(Gzip::with_level(1)));
        v.push(Box::new(Gzip::with_level(9)));
        v.push(Box::new(Gzip::with_level(0)));
    }
    #[cfg(all(feature = "snappy", feature = "std"))]
    {
        v.push(Box::new(Snappy::new()));
        v.push(Box::new(Snappy::with_framing(SnappyFraming::Raw)));
    }
    #[cfg(feature = "lz4")]
    {
        v.push(Box::new(Lz4::new()));
        v.push(Box::new(Lz4::new().with_content_checksum(true)));
    }
    #[cfg(feature = "zstd")]
    v.push(Box::new(Zstd::new()));
    v
}

/// Text-like bytes: words from a small vocabulary, so codecs find matches.
fn texty(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&[u8]; 8] = [
        b"kafka ",
        b"record ",
        b"lorem ",
        b"ipsum ",
        b"\x00\x01",
        b"sensor-17 ",
        b"21.5C ",
        b"{\"k\":1} ",
    ];
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(WORDS[(x % 8) as usize]);
        if x.is_multiple_of(5) {
            out.push((x >> 32) as u8);
        }
    }
    out.truncate(len);
    out
}

/// Checks one codec on one input: round trip, size bound, exact and short
/// output buffers, truncation.
fn check_round_trip(codec: &mut dyn Codec, data: &[u8]) {
    let c = codec.compression();
    let bound = c.max_compressed_len(data.len());
    let mut packed = vec![0u8; bound];
    let n = codec
        .compress(data, &mut packed)
        .unwrap_or_else(|e| panic!("{c:?} compress {}: {e}", data.len()));
    assert!(n <= bound, "{c:?}: {n} > bound {bound}");
    let packed = &packed[..n];

    let mut out = vec![0u8; data.len()];
    assert_eq!(codec.decompress(packed, &mut out), Ok(data.len()), "{c:?}");
    assert_eq!(out, data, "{c:?}");
    if !data.is_empty() {
        let mut short = vec![0u8; data.len() - 1];
        match codec.decompress(packed, &mut short) {
            Err(Error::TooLarge { limit, .. }) => assert_eq!(limit, data.len() - 1, "{c:?}"),
            other => panic!("{c:?}: one byte short gave {other:?}"),
        }
    }
    // Every proper prefix is refused, except where the framing has no total
    // length (xerial chunks, concatenated gzip members): then the result must
    // be a prefix of the data.
    let mut out = vec![0u8; data.len() + 16];
    let step = (n / 64).max(1);
    for cut in (0..n).step_by(step) {
        if let Ok(m) = codec.decompress(&packed[..cut], &mut out) {
            assert!(
                c == Compression::Snappy && packed.starts_with(XERIAL_MAGIC)
                    || c == Compression::None,
                "{c:?}: prefix of {cut}/{n} bytes decompressed"
            );
            assert_eq!(&out[..m], &data[..m], "{c:?}");
            assert!(m < data.len() || c == Compression::None);
        }
    }
}

#[test]
fn round_trips_at_block_boundaries() {
    let sizes = [
        0usize, 1, 2, 15, 16, 100, 4095, 32_767, 32_768, 32_769, 65_535, 65_536, 65_537, 131_072,
        131_073, 200_000,
    ];
    for codec in compressing_codecs().iter_mut() {
        for &len in &sizes {
            check_round_trip(codec.as_mut(), &texty(len, len as u64 + 1));
            check_round_trip(codec.as_mut(), &vec![7u8; len]);
            // Incompressible: the worst case for the size bound.
            let noise: Vec<u8> = (0..len as u64)
                .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8)
                .collect();
            check_round_trip(codec.as_mut(), &noise);
        }
    }
}

#[test]
fn codecs_dispatch_by_compression() {
    let mut codecs = Codecs::new();
    for c in Compression::ALL {
        assert_eq!(codecs.codec(c).is_ok(), Codecs::is_available(c), "{c:?}");
        if let Ok(codec) = codecs.codec(c) {
            assert_eq!(codec.compression(), c);
        }
    }
    // A single codec selects only itself.
    let mut none = NoCompression;
    assert!(SelectCodec::codec(&mut none, Compression::None).is_ok());
    assert_eq!(
        SelectCodec::codec(&mut none, Compression::Zstd).err(),
        Some(Error::UnsupportedCompression(4))
    );
}

#[test]
fn compressed_batches_build_and_read_through_codecs() {
    let mut codecs = Codecs::new();
    for c in Compression::ALL {
        let mut buf = vec![0u8; 64 * 1024];
        let mut b = RecordBatchBuilder::new(&mut buf, BatchOptions::default()).unwrap();
        for i in 0..200u32 {
            let value = texty(100, i.into());
            b.append(
                1_700_000_000_000 + i64::from(i),
                Some(&i.to_be_bytes()),
                Some(&value),
                &[],
            )
            .unwrap();
        }
        let bound = Compression::ALL
            .iter()
            .map(|c| c.max_compressed_len(b.len()))
            .max();
        let mut scratch = vec![0u8; bound.unwrap()];
        let built = match codecs.codec(c) {
            Ok(codec) => match b.finish_compressed(codec, &mut scratch) {
                Ok(bytes) => bytes.to_vec(),
                Err(Error::UnsupportedCompression(_)) => continue, // decompress-only here
                Err(e) => panic!("{c:?}: {e}"),
            },
            Err(_) => continue,
        };
        let batch = RecordBatch::new_verified(&built[..]).unwrap();
        assert_eq!(batch.attributes().compression(), Ok(c));
        let mut records_buf = vec![0u8; 64 * 1024];
        let mut n = 0u32;
        for r in batch
            .records_decompressed(&mut codecs, &mut records_buf)
            .unwrap()
        {
            let r = r.unwrap();
            assert_eq!(r.key, Some(&n.to_be_bytes()[..]));
            assert_eq!(r.value, Some(&texty(100, n.into())[..]));
            n += 1;
        }
        assert_eq!(n, 200);
        // The limit: too small a scratch buffer is refused, not overrun.
        if c != Compression::None {
            let mut tiny = [0u8; 1024];
            assert!(matches!(
                batch.records_decompressed(&mut codecs, &mut tiny).err(),
                Some(Error::TooLarge { limit: 1024, .. })
            ));
        }
    }
}

/// Decompressing arbitrary bytes (alone and behind each codec's magic) never
/// panics and never writes past the output.
fn check_no_panic(bytes: &[u8]) {
    let mut codecs = Codecs::new();
    let prefixes: [&[u8]; 5] = [
        b"",
        &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff],
        &[
            0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
        ],
        &[0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82],
        &[0x28, 0xb5, 0x2f, 0xfd],
    ];
    for c in Compression::ALL {
        let Ok(codec) = codecs.codec(c) else { continue };
        for p in prefixes {
            let input: Vec<u8> = p.iter().chain(bytes).copied().collect();
            for limit in [0usize, 7, 300, 70_000] {
                let mut out = vec![0u8; limit];
                if let Ok(n) = codec.decompress(&input, &mut out) {
                    assert!(n <= limit);
                }
                let _ = codec.decompress_legacy(0, &input, &mut out);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_round_trip(data in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        (0usize..100_000, any::<u64>()).prop_map(|(len, seed)| texty(len, seed)),
    ]) {
        for codec in compressing_codecs().iter_mut() {
            check_round_trip(codec.as_mut(), &data);
        }
    }

    #[test]
    fn arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        check_no_panic(&bytes);
    }

    #[test]
    fn corrupt_streams_never_panic(
        data in (0usize..20_000, any::<u64>()).prop_map(|(len, seed)| texty(len, seed)),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        for codec in compressing_codecs().iter_mut() {
            let c = codec.compression();
            let mut packed = vec![0u8; c.max_compressed_len(data.len())];
            let n = codec.compress(&data, &mut packed).unwrap();
            packed.truncate(n);
            if packed.is_empty() { continue; }
            for (at, x) in &flips {
                let i = at.index(packed.len());
                packed[i] ^= x;
            }
            let mut out = vec![0u8; data.len() + 100];
            let _ = codec.decompress(&packed, &mut out);
            let _ = codec.decompress_legacy(0, &packed, &mut out);
        }
    }
}

// ---------------------------------------------------------------- zip bombs

const LIMIT: usize = 1 << 20;

#[allow(dead_code)] // without codecs
fn assert_refused(c: Compression, input: &[u8]) {
    let mut codecs = Codecs::new();
    let mut out = vec![0u8; LIMIT];
    let r = codecs.decompress(c, input, &mut out);
    assert!(
        matches!(r, Err(Error::TooLarge { .. })),
        "{c:?}: {} input bytes gave {r:?}",
        input.len()
    );
}

#[cfg(all(feature = "gzip", feature = "alloc"))]
#[test]
fn gzip_bomb_is_refused_at_the_limit() {
    let zeros = vec![0u8; 64 << 20];
    let mut packed = vec![0u8; Compression::Gzip.max_compressed_len(zeros.len())];
    let n = Gzip::new().compress(&zeros, &mut packed).unwrap();
    assert!(n < 128 << 10, "{n}"); // 64 MiB in ~64 KiB
    assert_refused(Compression::Gzip, &packed[..n]);
}

#[cfg(feature = "snappy")]
#[test]
fn snappy_bombs_are_refused_at_the_limit() {
    // Declares 4 GiB - 1: refused before decoding anything.
    assert_refused(
        Compression::Snappy,
        &[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, b'a'],
    );
    // A raw block of 60 000 zeros (a literal and 64-byte self-copies), 64
    // times in xerial chunks: 3.8 MB out of 60 KB.
    let mut block = vec![0xe0, 0xd4, 0x03, 0x00, 0x00]; // uvarint 60000, literal "\0"
    let mut made = 1;
    while made < 60_000 {
        let n = (60_000 - made).min(64);
        block.extend_from_slice(&[((n as u8 - 1) << 2) | 2, 1, 0]);
        made += n;
    }
    let mut out = vec![0u8; 60_000];
    assert_eq!(snappy_raw::decompress(&block, &mut out), Ok(60_000));
    let mut xerial = XERIAL_MAGIC.to_vec();
    xerial.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
    for _ in 0..64 {
        xerial.extend_from_slice(&(block.len() as i32).to_be_bytes());
        xerial.extend_from_slice(&block);
    }
    assert_refused(Compression::Snappy, &xerial);
}

#[cfg(feature = "lz4")]
#[test]
fn lz4_bombs_are_refused_at_the_limit() {
    // A frame declaring a 1 TiB content size.
    let mut frame = vec![0x04, 0x22, 0x4d, 0x18, 0x68, 0x40];
    frame.extend_from_slice(&(1u64 << 40).to_le_bytes());
    frame.push((xxhash_rust::xxh32::xxh32(&frame[4..], 0) >> 8) as u8);
    frame.extend_from_slice(&[0; 4]);
    assert_refused(Compression::Lz4, &frame);
    // 4096 blocks of 64 KiB of zeros: 256 MiB out of ~1 MiB.
    let zeros = vec![0u8; 64 << 10];
    let mut block = vec![0u8; 80 << 10];
    let n = lz4_flex::block::compress_into(&zeros, &mut block).unwrap();
    let mut frame = vec![0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82];
    for _ in 0..4096 {
        frame.extend_from_slice(&(n as u32).to_le_bytes());
        frame.extend_from_slice(&block[..n]);
    }
    frame.extend_from_slice(&[0; 4]);
    assert!(frame.len() < 2 << 20);
    assert_refused(Compression::Lz4, &frame);
}

#[cfg(feature = "zstd")]
#[test]
fn zstd_bombs_are_refused_at_the_limit() {
    // 128 KiB window (descriptor 0x38), then RLE blocks of 128 KiB each:
    // 4 bytes -> 128 KiB, 2048 times = 256 MiB.
    let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38];
    let rle = |last: bool| {
        let h = (131_072u32 << 3) | (1 << 1) | u32::from(last);
        [h as u8, (h >> 8) as u8, (h >> 16) as u8, b'z']
    };
    for i in 0..2048 {
        frame.extend_from_slice(&rle(i == 2047));
    }
    assert_refused(Compression::Zstd, &frame);
    // A window of 1 GiB (descriptor exponent 20): refused before allocating.
    assert_refused(
        Compression::Zstd,
        &[0x28, 0xb5, 0x2f, 0xfd, 0x00, 20 << 3, 0x03, 0x00, 0x00],
    );
    // A single-segment frame declaring 1 TiB of content.
    let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0xe0];
    frame.extend_from_slice(&(1u64 << 40).to_le_bytes());
    frame.extend_from_slice(&rle(true));
    assert_refused(Compression::Zstd, &frame);
}

// ------------------------------------------------- snappy decoder vs `snap`

#[cfg(feature = "snappy")]
fn snap_agrees(input: &[u8]) {
    let mut ours = vec![0u8; 4096];
    let mut theirs = vec![0u8; 4096];
    let a = snappy_raw::decompress(input, &mut ours);
    let b = snap::raw::Decoder::new().decompress(input, &mut theirs);
    match (a, b) {
        (Ok(n), Ok(m)) => {
            assert_eq!(n, m);
            assert_eq!(&ours[..n], &theirs[..m]);
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!("ours {a:?}, snap {b:?} for {input:02x?}"),
    }
}

#[cfg(feature = "snappy")]
proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn snappy_decoder_agrees_with_snap_on_any_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        snap_agrees(&bytes);
    }

    #[test]
    fn snappy_decoder_agrees_with_snap_on_mutated_streams(
        data in (0usize..3000, any::<u64>()).prop_map(|(len, seed)| texty(len, seed)),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut packed = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        for (at, x) in &flips {
            let i = at.index(packed.len());
            packed[i] ^= x;
        }
        snap_agrees(&packed);
        snap_agrees(&packed[..cut.index(packed.len() + 1)]);
    }
}

#[cfg(feature = "snappy")]
#[test]
fn snappy_reads_what_snap_writes() {
    for len in [0usize, 1, 59, 60, 61, 255, 256, 65_536, 100_000] {
        let data = texty(len, 3);
        let packed = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        let mut out = vec![0u8; len];
        assert_eq!(Snappy::new().decompress(&packed, &mut out), Ok(len));
        assert_eq!(out, data);
    }
    // Long literals (60..63 tags) and 4-byte offsets do not come out of
    // snap for short inputs: hand-made ones.
    let mut s = vec![70]; // 70 bytes
    s.push(60 << 2); // literal, length in 1 byte
    s.push(63); // 64 bytes
    s.extend((0..64).map(|i| i as u8));
    s.extend_from_slice(&[(5 << 2) | 3, 64, 0, 0, 0]); // copy 6 bytes from 64 back
    let mut out = vec![0u8; 70];
    assert_eq!(snappy_raw::decompress(&s, &mut out), Ok(70));
    assert_eq!(&out[64..], &[0, 1, 2, 3, 4, 5]);
    snap_agrees(&s);
}

// ---------------------------------------------------------------- framings

#[cfg(feature = "gzip")]
#[test]
fn gzip_optional_header_fields_and_members() {
    // A member with FEXTRA, FNAME, FCOMMENT and FHCRC around a stored block.
    let payload = b"hello gzip";
    let mut m = vec![0x1f, 0x8b, 8, 0x02 | 0x04 | 0x08 | 0x10, 1, 2, 3, 4, 0, 3];
    m.extend_from_slice(&[3, 0, b'x', b'y', b'z']);
    m.extend_from_slice(b"name.txt\0a comment\0");
    let hcrc = (crc32_ieee(&m) & 0xffff) as u16;
    m.extend_from_slice(&hcrc.to_le_bytes());
    m.push(1); // BFINAL, stored
    m.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    m.extend_from_slice(&(!(payload.len() as u16)).to_le_bytes());
    m.extend_from_slice(payload);
    m.extend_from_slice(&crc32_ieee(payload).to_le_bytes());
    m.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    let mut gz = Gzip::new();
    let mut out = [0u8; 64];
    assert_eq!(gz.decompress(&m, &mut out), Ok(payload.len()));
    assert_eq!(&out[..payload.len()], payload);
    // Two members are one stream.
    let two: Vec<u8> = m.iter().chain(&m).copied().collect();
    assert_eq!(gz.decompress(&two, &mut out), Ok(2 * payload.len()));
    // A wrong header CRC, data CRC, ISIZE, or trailing garbage is refused.
    let mut bad = m.clone();
    bad[34] ^= 1; // header CRC
    assert!(matches!(
        gz.decompress(&bad, &mut out),
        Err(Error::BadCrc { .. })
    ));
    let mut bad = m.clone();
    let at = bad.len() - 8;
    bad[at] ^= 1;
    assert!(matches!(
        gz.decompress(&bad, &mut out),
        Err(Error::BadCrc { .. })
    ));
    let mut bad = m.clone();
    let at = bad.len() - 4;
    bad[at] ^= 1;
    assert!(matches!(
        gz.decompress(&bad, &mut out),
        Err(Error::Malformed(_))
    ));
    let mut bad = m.clone();
    bad.push(0);
    assert!(gz.decompress(&bad, &mut out).is_err());
    let mut bad = m.clone();
    bad[3] |= 0x20; // reserved flag
    assert!(matches!(
        gz.decompress(&bad, &mut out),
        Err(Error::Malformed(_))
    ));
}

#[cfg(feature = "lz4")]
fn lz4_frame(flg: u8, blocks: &[(&[u8], bool)], content: &[u8], content_size: bool) -> Vec<u8> {
    use xxhash_rust::xxh32::xxh32;
    let mut f = vec![0x04, 0x22, 0x4d, 0x18, flg, 0x40];
    if content_size {
        f.extend_from_slice(&(content.len() as u64).to_le_bytes());
    }
    f.push((xxh32(&f[4..], 0) >> 8) as u8);
    for (data, raw) in blocks {
        let word = data.len() as u32 | if *raw { 0x8000_0000 } else { 0 };
        f.extend_from_slice(&word.to_le_bytes());
        f.extend_from_slice(data);
        if flg & 0x10 != 0 {
            f.extend_from_slice(&xxh32(data, 0).to_le_bytes());
        }
    }
    f.extend_from_slice(&[0; 4]);
    if flg & 0x04 != 0 {
        f.extend_from_slice(&xxh32(content, 0).to_le_bytes());
    }
    f
}

#[cfg(feature = "lz4")]
#[test]
fn lz4_frame_options_are_read_and_checked() {
    let first = texty(1000, 1);
    let second = first.clone(); // a linked block can copy all of it from the first
    let content: Vec<u8> = first.iter().chain(&second).copied().collect();
    let mut c1 = vec![0u8; 2000];
    let n1 = lz4_flex::block::compress_into(&first, &mut c1).unwrap();
    let mut c2 = vec![0u8; 2000];
    let n2 = lz4_flex::block::compress_into_with_dict(&second, &mut c2, &first).unwrap();
    assert!(n2 < 50, "the second block should be one long match: {n2}");
    let blocks: [(&[u8], bool); 2] = [(&c1[..n1], false), (&c2[..n2], false)];
    let mut lz4 = Lz4::new();
    let mut out = vec![0u8; 4000];
    // Linked blocks (B.Indep = 0), block + content checksums, content size.
    let frame = lz4_frame(0x40 | 0x10 | 0x08 | 0x04, &blocks, &content, true);
    assert_eq!(lz4.decompress(&frame, &mut out), Ok(2000));
    assert_eq!(&out[..2000], &content[..]);
    // Independent blocks cannot reach back into the previous one.
    let frame = lz4_frame(0x60, &blocks, &content, false);
    assert!(lz4.decompress(&frame, &mut out).is_err());
    // A stored block, a skippable frame, then a second frame.
    let stored = lz4_frame(0x60, &[(&b"raw!"[..], true)], b"raw!", false);
    let mut stream = vec![0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3];
    stream.extend_from_slice(&stored);
    stream.extend_from_slice(&stored);
    assert_eq!(lz4.decompress(&stream, &mut out), Ok(8));
    assert_eq!(&out[..8], b"raw!raw!");
    // Checksums are checked.
    let mut frame = lz4_frame(0x40 | 0x10 | 0x08 | 0x04, &blocks, &content, true);
    let at = frame.len() - 1;
    frame[at] ^= 1;
    assert!(matches!(
        lz4.decompress(&frame, &mut out),
        Err(Error::BadCrc { .. })
    ));
    let mut frame = lz4_frame(0x70, &blocks, &content, false);
    frame[7 + 4 + n1] ^= 1; // first block checksum
    assert!(matches!(
        lz4.decompress(&frame, &mut out),
        Err(Error::BadCrc { .. })
    ));
    // A wrong content size is refused.
    let mut frame = lz4_frame(0x40 | 0x08, &blocks, &content, true);
    frame[6] ^= 1; // content size 2001
    frame[14] = (xxhash_rust::xxh32::xxh32(&frame[4..14], 0) >> 8) as u8;
    assert!(lz4.decompress(&frame, &mut out).is_err());
}

#[cfg(feature = "lz4")]
#[test]
fn lz4_broken_header_checksum_is_read_only_in_legacy_messages() {
    let data = texty(500, 9);
    let mut frame = vec![0u8; 1000];
    let n = Lz4::new().compress(&data, &mut frame).unwrap();
    frame.truncate(n);
    assert_eq!(&frame[..7], &[0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82]);
    // KAFKA-3160: the checksum over magic + FLG + BD.
    frame[6] = (xxhash_rust::xxh32::xxh32(&frame[..6], 0) >> 8) as u8;
    assert_ne!(frame[6], 0x82);
    let mut out = vec![0u8; 500];
    assert!(matches!(
        Lz4::new().decompress(&frame, &mut out),
        Err(Error::BadCrc { .. })
    ));
    for magic in [0, 1] {
        assert_eq!(
            Lz4::new().decompress_legacy(magic, &frame, &mut out),
            Ok(500)
        );
        assert_eq!(out, data);
    }
}

#[cfg(all(feature = "snappy", feature = "std"))]
#[test]
fn snappy_writes_xerial_like_snappy_java() {
    let data = texty(80_000, 5);
    let mut out = vec![0u8; Compression::Snappy.max_compressed_len(data.len())];
    let n = Snappy::new().compress(&data, &mut out).unwrap();
    let out = &out[..n];
    assert_eq!(
        &out[..16],
        b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01"
    );
    // Three chunks of at most 32 KiB uncompressed each, each a raw block.
    let mut pos = 16;
    let mut lens = Vec::new();
    while pos < n {
        let len = i32::from_be_bytes(out[pos..pos + 4].try_into().unwrap()) as usize;
        let chunk = &out[pos + 4..pos + 4 + len];
        lens.push(snap::raw::decompress_len(chunk).unwrap());
        pos += 4 + len;
    }
    assert_eq!(lens, [32_768, 32_768, 80_000 - 65_536]);
}

// ---------------------------------------------------------- legacy wrappers

/// One magic-0/1 message entry (offset, size, crc, body).
fn legacy(
    offset: i64,
    magic: i8,
    attributes: i8,
    ts: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Vec<u8> {
    let mut body = vec![magic as u8, attributes as u8];
    if magic == 1 {
        body.extend_from_slice(&ts.to_be_bytes());
    }
    for field in [key, value] {
        match field {
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(b) => {
                body.extend_from_slice(&(b.len() as i32).to_be_bytes());
                body.extend_from_slice(b);
            }
        }
    }
    let mut m = offset.to_be_bytes().to_vec();
    m.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    m.extend_from_slice(&crc32_ieee(&body).to_be_bytes());
    m.extend_from_slice(&body);
    m
}

#[test]
fn legacy_wrappers_yield_their_inner_messages() {
    let mut codecs = Codecs::new();
    for c in Compression::ALL {
        for magic in [0i8, 1] {
            // Inner offsets: absolute (magic 0) or relative 0..3 (magic 1).
            let first = if magic == 0 { 500 } else { 0 };
            let inner: Vec<u8> = (0..3)
                .flat_map(|i| {
                    legacy(
                        first + i,
                        magic,
                        0,
                        1000 + i,
                        Some(b"k"),
                        Some(&texty(50, i as u64)),
                    )
                })
                .collect();
            let mut value = vec![0u8; c.max_compressed_len(inner.len())];
            let n = match codecs
                .codec(c)
                .and_then(|codec| codec.compress(&inner, &mut value))
            {
                Ok(n) => n,
                Err(Error::UnsupportedCompression(_)) => continue,
                Err(e) => panic!("{c:?}: {e}"),
            };
            // Log-append time on a magic-1 wrapper overrides inner timestamps.
            let attributes = c.id() as i8 | if magic == 1 { 0x08 } else { 0 };
            let wrapper = legacy(502, magic, attributes, 9999, None, Some(&value[..n]));
            let (message, _) = LegacyMessage::parse(&wrapper).unwrap();
            message.verify_crc().unwrap();
            let mut scratch = vec![0u8; 4096];
            let messages: Vec<LegacyMessage<'_>> = message
                .messages(&mut codecs, &mut scratch)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            if c == Compression::None {
                // Not a wrapper: the message itself (whose value is the raw set).
                assert_eq!(messages, [message]);
                continue;
            }
            assert_eq!(messages.len(), 3, "{c:?} magic {magic}");
            for (i, m) in messages.iter().enumerate() {
                assert_eq!(m.offset, 500 + i as i64, "{c:?} magic {magic}");
                assert_eq!(m.value, Some(&texty(50, i as u64)[..]));
                if magic == 1 {
                    assert_eq!(m.timestamp, Some(9999));
                    assert_eq!(message.timestamp_type(), TimestampType::LogAppendTime);
                } else {
                    assert_eq!(m.timestamp, None);
                }
            }
            // The limit holds here too.
            let mut tiny = [0u8; 16];
            assert!(matches!(
                message.messages(&mut codecs, &mut tiny).err(),
                Some(Error::TooLarge { .. })
            ));
        }
    }
}

#[cfg(feature = "lz4")]
#[test]
fn legacy_lz4_wrapper_with_the_kafka_3160_checksum() {
    let inner: Vec<u8> = (0..2)
        .flat_map(|i| legacy(10 + i, 0, 0, 0, None, Some(b"v0")))
        .collect();
    let mut frame = vec![0u8; 512];
    let n = Lz4::new().compress(&inner, &mut frame).unwrap();
    frame.truncate(n);
    frame[6] = (xxhash_rust::xxh32::xxh32(&frame[..6], 0) >> 8) as u8;
    let wrapper = legacy(11, 0, Compression::Lz4.id() as i8, 0, None, Some(&frame));
    let (message, _) = LegacyMessage::parse(&wrapper).unwrap();
    let mut scratch = [0u8; 512];
    let offsets: Vec<i64> = message
        .messages(&mut Codecs::new(), &mut scratch)
        .unwrap()
        .map(|m| m.unwrap().offset)
        .collect();
    assert_eq!(offsets, [10, 11]);
}

#[test]
fn nested_compression_and_bad_inner_crcs_are_errors() {
    let mut codecs = Codecs::new();
    let Ok(codec) = codecs.codec(Compression::Lz4) else {
        return;
    };
    let inner_wrapper = legacy(0, 1, Compression::Gzip.id() as i8, 0, None, Some(b"x"));
    let mut value = vec![0u8; 256];
    let n = codec.compress(&inner_wrapper, &mut value).unwrap();
    let wrapper = legacy(
        0,
        1,
        Compression::Lz4.id() as i8,
        0,
        None,
        Some(&value[..n]),
    );
    let (message, _) = LegacyMessage::parse(&wrapper).unwrap();
    let mut scratch = [0u8; 256];
    let mut it = message.messages(&mut codecs, &mut scratch).unwrap();
    assert!(matches!(it.next(), Some(Err(Error::Malformed(_)))));
    assert!(it.next().is_none());

    let mut inner = legacy(0, 1, 0, 0, None, Some(b"x"));
    let last = inner.len() - 1;
    inner[last] ^= 1;
    let codec = codecs.codec(Compression::Lz4).unwrap();
    let n = codec.compress(&inner, &mut value).unwrap();
    let wrapper = legacy(
        0,
        1,
        Compression::Lz4.id() as i8,
        0,
        None,
        Some(&value[..n]),
    );
    let (message, _) = LegacyMessage::parse(&wrapper).unwrap();
    let mut it = message.messages(&mut codecs, &mut scratch).unwrap();
    assert!(matches!(it.next(), Some(Err(Error::BadCrc { .. }))));
}

#[cfg(feature = "zstd")]
#[test]
fn zstd_declared_windows() {
    use zstd::declared_window;
    // librdkafka 2.16 / libzstd level 3 without a pledged size: 2 MiB.
    assert_eq!(
        declared_window(&[0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58]),
        Some(2 << 20)
    );
    // Mantissa: 1 KiB * 2^3 + 3/8 of it.
    assert_eq!(
        declared_window(&[0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x1b]),
        Some(8192 + 3 * 1024)
    );
    // Single segment, 2-byte content size (+256), after a 1-byte dict id.
    assert_eq!(
        declared_window(&[0x28, 0xb5, 0x2f, 0xfd, 0x61, 0x07, 0x10, 0x00]),
        Some(0x10 + 256)
    );
    assert_eq!(declared_window(&[0x28, 0xb5, 0x2f]), None);
    assert_eq!(declared_window(b"not zstd"), None);
    // What microkafka writes: ruzstd's 128 KiB window.
    let mut frame = vec![0u8; 256];
    let n = Zstd::new()
        .compress(b"hello hello hello", &mut frame)
        .unwrap();
    assert_eq!(declared_window(&frame[..n]), Some(128 << 10));
}

#[cfg(feature = "zstd")]
#[test]
fn zstd_reuses_or_renews_its_decoder_by_window() {
    // The same codec, alternating frames whose window is over and under the
    // output limit, decodes every one.
    let data = texty(5000, 2);
    let mut frame = vec![0u8; 8000];
    let n = Zstd::new().compress(&data, &mut frame).unwrap();
    let mut z = Zstd::new();
    for limit in [5000, 200_000, 5000, 200_000, 200_000, 5000] {
        let mut out = vec![0u8; limit];
        assert_eq!(z.decompress(&frame[..n], &mut out), Ok(5000), "{limit}");
        assert_eq!(&out[..5000], &data[..]);
    }
}
