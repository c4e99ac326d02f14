//! Variable-length integers: unsigned base-128 (protobuf style) and zig-zag signed forms.
//!
//! Kafka uses `unsigned_varint` for compact lengths and tag headers, and zig-zag
//! `varint`/`varlong` inside records.

/// Most bytes a 32-bit varint may take.
pub const MAX_VARINT_LEN: usize = 5;
/// Most bytes a 64-bit varint may take.
pub const MAX_VARLONG_LEN: usize = 10;

/// Zig-zag encodes a signed 32-bit value so small magnitudes stay short.
#[inline]
pub const fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

/// Inverse of [`zigzag32`].
#[inline]
pub const fn unzigzag32(v: u32) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

/// Zig-zag encodes a signed 64-bit value.
#[inline]
pub const fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag64`].
#[inline]
pub const fn unzigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Number of bytes the unsigned varint encoding of `v` takes.
#[inline]
pub const fn uvarint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Number of bytes the zig-zag varint encoding of `v` takes.
#[inline]
pub const fn varint_len(v: i32) -> usize {
    uvarint_len(zigzag32(v) as u64)
}

/// Number of bytes the zig-zag varlong encoding of `v` takes.
#[inline]
pub const fn varlong_len(v: i64) -> usize {
    uvarint_len(zigzag64(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_matches_protobuf_table() {
        // Values from the protobuf encoding guide.
        assert_eq!(zigzag32(0), 0);
        assert_eq!(zigzag32(-1), 1);
        assert_eq!(zigzag32(1), 2);
        assert_eq!(zigzag32(-2), 3);
        assert_eq!(zigzag32(2147483647), 4294967294);
        assert_eq!(zigzag32(-2147483648), 4294967295);
        assert_eq!(zigzag64(i64::MIN), u64::MAX);
        for v in [0, 1, -1, 63, -64, 64, i32::MAX, i32::MIN] {
            assert_eq!(unzigzag32(zigzag32(v)), v);
            assert_eq!(unzigzag64(zigzag64(v as i64)), v as i64);
        }
    }

    #[test]
    fn lengths() {
        assert_eq!(uvarint_len(0), 1);
        assert_eq!(uvarint_len(127), 1);
        assert_eq!(uvarint_len(128), 2);
        assert_eq!(uvarint_len(u32::MAX as u64), 5);
        assert_eq!(uvarint_len(u64::MAX), 10);
        assert_eq!(varint_len(-1), 1);
        assert_eq!(varint_len(-65), 2);
    }
}
