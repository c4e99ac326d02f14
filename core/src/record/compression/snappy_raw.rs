//! A raw snappy decoder: `no_std`, heap-free, no tables.
//!
//! Why not `snap` alone: `snap` needs `std`, and librdkafka (most non-Java
//! producers) writes raw snappy, so without this a microcontroller could not
//! consume a snappy topic at all. The format is small (a uvarint length, then
//! literals and back-references), so this decoder is ~100 lines of safe code;
//! it is property-tested against `snap` (same bytes out, or both refuse) and
//! fuzzed with arbitrary input in `compression/tests.rs`.
//!
//! Format (<https://github.com/google/snappy/blob/main/format_description.txt>):
//! `uvarint decompressed_length`, then elements whose tag's low two bits say
//! literal (00), copy with 1-byte offset (01), 2-byte (10) or 4-byte (11).

use crate::error::{Error, Result};
use crate::record::compression::too_large;

/// The largest length snappy can declare (and `snap` accepts).
const MAX_LEN: u64 = u32::MAX as u64;

/// The declared decompressed length and the bytes its uvarint takes.
pub(crate) fn decompressed_len(input: &[u8]) -> Result<(usize, usize)> {
    let mut value: u64 = 0;
    for (i, &b) in input.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if value > MAX_LEN {
                return Err(Error::Malformed("snappy: declared length over 4 GiB"));
            }
            return usize::try_from(value)
                .map(|len| (len, i + 1))
                .map_err(|_| Error::Malformed("snappy: declared length over usize"));
        }
    }
    if input.len() >= 10 {
        Err(Error::VarintOverflow)
    } else {
        Err(Error::Truncated)
    }
}

/// Decompresses one raw snappy block into `output`, whose length is the limit.
// With `std` the codec decodes with `snap`; the tests still run this one.
#[cfg_attr(feature = "std", allow(dead_code))]
pub(crate) fn decompress(input: &[u8], output: &mut [u8]) -> Result<usize> {
    let (len, mut s) = decompressed_len(input)?;
    if len > output.len() {
        return Err(too_large(crate::Limit::Decompressed, len, output.len()));
    }
    let out = &mut output[..len];
    let mut d = 0;
    while s < input.len() {
        let tag = input[s];
        s += 1;
        if tag & 3 == 0 {
            let mut n = usize::from(tag >> 2);
            if n >= 60 {
                let extra = n - 59;
                let bytes = input.get(s..s + extra).ok_or(Error::Truncated)?;
                n = bytes
                    .iter()
                    .rev()
                    .fold(0, |acc, &b| acc << 8 | usize::from(b));
                s += extra;
            }
            // Checked: a 4-byte literal length is u32::MAX on a 32-bit target.
            let n = n
                .checked_add(1)
                .ok_or(Error::Malformed("snappy: literal length overflows"))?;
            // Short literals (most of them): one fixed 16-byte copy when both
            // sides have room; the bytes past `n` are overwritten later.
            if n <= 16 && s + 16 <= input.len() && d + 16 <= len {
                out[d..d + 16].copy_from_slice(&input[s..s + 16]);
                s += n;
                d += n;
                continue;
            }
            if n <= 64 && s + 64 <= input.len() && d + 64 <= len {
                out[d..d + 64].copy_from_slice(&input[s..s + 64]);
                s += n;
                d += n;
                continue;
            }
            let end = s.checked_add(n).ok_or(Error::Truncated)?;
            let literal = input.get(s..end).ok_or(Error::Truncated)?;
            d.checked_add(n)
                .and_then(|out_end| out.get_mut(d..out_end))
                .ok_or(Error::Malformed("snappy: longer than its declared length"))?
                .copy_from_slice(literal);
            d += n;
            s = end;
            continue;
        }
        let (n, offset) = match tag & 3 {
            1 => {
                let b = *input.get(s).ok_or(Error::Truncated)?;
                s += 1;
                (
                    4 + usize::from((tag >> 2) & 7),
                    usize::from(tag >> 5) << 8 | usize::from(b),
                )
            }
            2 => {
                let b = input.get(s..s + 2).ok_or(Error::Truncated)?;
                s += 2;
                (
                    1 + usize::from(tag >> 2),
                    usize::from(u16::from_le_bytes([b[0], b[1]])),
                )
            }
            _ => {
                let b = input.get(s..s + 4).ok_or(Error::Truncated)?;
                s += 4;
                let offset = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                (
                    1 + usize::from(tag >> 2),
                    usize::try_from(offset).unwrap_or(usize::MAX),
                )
            }
        };
        if offset == 0 || offset > d {
            return Err(Error::Malformed("snappy: copy offset out of range"));
        }
        let end = d + n;
        if end > len {
            return Err(Error::Malformed("snappy: longer than its declared length"));
        }
        let src = d - offset;
        if offset >= 16 && n <= 16 && d + 16 <= len {
            // Short copy from far enough back: one fixed 16-byte copy.
            let (done, rest) = out.split_at_mut(d);
            rest[..16].copy_from_slice(&done[src..src + 16]);
        } else if offset >= 64 && d + 64 <= len {
            // Any copy (at most 64 bytes) from at least 64 back: fixed 64.
            let (done, rest) = out.split_at_mut(d);
            rest[..64].copy_from_slice(&done[src..src + 64]);
        } else if offset >= n {
            out.copy_within(src..src + n, d);
        } else {
            // Overlapping copy: the bytes from `src` repeat with period
            // `offset`, so copy ever longer whole runs of the pattern.
            let mut at = d;
            while at < end {
                let run = (at - src).min(end - at);
                out.copy_within(src..src + run, at);
                at += run;
            }
        }
        d = end;
    }
    if d != len {
        return Err(Error::Truncated);
    }
    Ok(len)
}
