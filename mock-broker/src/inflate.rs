//! Decompression into a buffer that grows only as far as the data needs.
//!
//! The broker looks inside compressed data in two rare places (legacy
//! wrappers, ListOffsets by timestamp). Allocating the largest allowed size
//! up front for each look made a small request cost 64-100 MiB per entry;
//! here the buffer starts near the input's size and grows fourfold on
//! `TooLarge`, up to [`Limits::max_inflated_bytes`](crate::Limits::max_inflated_bytes).

use microkafka_core::Error;

/// The first buffer size tried, for inputs this small or smaller.
const MIN_START: usize = 64 << 10;

/// Runs `decompress` into a zeroed buffer, retrying with a larger one while it
/// reports `TooLarge` and `cap` allows; returns the buffer cut to the bytes
/// written, or `None` when the data is corrupt or inflates beyond `cap`.
pub(crate) fn inflate(
    input_len: usize,
    cap: usize,
    mut decompress: impl FnMut(&mut [u8]) -> Result<usize, Error>,
) -> Option<Vec<u8>> {
    let cap = cap.max(1);
    let mut size = input_len.saturating_mul(4).max(MIN_START).min(cap);
    loop {
        let mut buf = vec![0u8; size];
        match decompress(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Some(buf);
            }
            Err(Error::TooLarge { .. }) if size < cap => size = size.saturating_mul(4).min(cap),
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use microkafka_core::Limit;

    /// A stand-in decompressor that needs `need` bytes of output.
    fn needs(need: usize) -> impl FnMut(&mut [u8]) -> Result<usize, Error> {
        move |out: &mut [u8]| {
            if out.len() < need {
                Err(Error::TooLarge {
                    what: Limit::Decompressed,
                    size: need,
                    limit: out.len(),
                })
            } else {
                Ok(need)
            }
        }
    }

    #[test]
    fn grows_to_what_the_data_needs_and_no_further() {
        assert_eq!(inflate(10, 1 << 30, needs(5)).map(|b| b.len()), Some(5));
        assert_eq!(
            inflate(10, 8, needs(5)).map(|b| b.len()),
            Some(5),
            "cap below the start"
        );
        assert_eq!(
            inflate(10, 1 << 30, needs(3 << 20)).map(|b| b.len()),
            Some(3 << 20)
        );
        assert_eq!(inflate(10, 1 << 20, needs((1 << 20) + 1)), None);
        assert_eq!(inflate(10, 1 << 20, |_| Err(Error::Truncated)), None);
    }
}
