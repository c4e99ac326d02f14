//! Test support: random message values for property tests, generated for every
//! `wire_struct!` type by the same macro that generates its codec.
//!
//! Values borrow leaked test memory (`'static`), which is fine in tests and
//! lets borrowed message types be produced freely.

extern crate std;

use std::boxed::Box;
use std::string::String;
use std::vec::Vec;

use crate::wire::{Array, Uuid, Wire, WireVersion};
use crate::ErrorCode;

/// A small deterministic generator (xorshift64*), seeded by proptest.
pub struct Gen(u64);

impl Gen {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Gen(seed | 1)
    }
    /// The next random `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A random number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True one time in `n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// Produces random values of a wire type at a version.
pub trait Arbitrary: Sized {
    /// A random value valid at `v`.
    fn arbitrary(g: &mut Gen, v: WireVersion) -> Self;
}

macro_rules! arbitrary_int {
    ($($ty:ty),*) => {$(
        impl Arbitrary for $ty {
            fn arbitrary(g: &mut Gen, _: WireVersion) -> Self {
                // Favour edge values: they are where encodings break.
                match g.below(4) {
                    0 => <$ty>::MIN,
                    1 => <$ty>::MAX,
                    2 => (g.below(3) as $ty).wrapping_sub(1 as $ty),
                    _ => g.next_u64() as $ty,
                }
            }
        }
    )*};
}
arbitrary_int!(i8, i16, u16, i32, u32, i64);

impl Arbitrary for f64 {
    fn arbitrary(g: &mut Gen, _: WireVersion) -> Self {
        (g.next_u64() >> 11) as f64 / 3.0
    }
}

impl Arbitrary for bool {
    fn arbitrary(g: &mut Gen, _: WireVersion) -> Self {
        g.one_in(2)
    }
}

impl Arbitrary for Uuid {
    fn arbitrary(g: &mut Gen, _: WireVersion) -> Self {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&g.next_u64().to_le_bytes());
        b[8..].copy_from_slice(&g.next_u64().to_le_bytes());
        Uuid(b)
    }
}

impl Arbitrary for ErrorCode {
    fn arbitrary(g: &mut Gen, _: WireVersion) -> Self {
        ErrorCode(g.below(140) as i16 - 1)
    }
}

impl Arbitrary for &'static str {
    fn arbitrary(g: &mut Gen, _: WireVersion) -> Self {
        let len = g.below(12) as usize;
        let s: String = (0..len)
            .map(|_| match g.below(10) {
                0 => 'é',
                1 => '€',
                _ => (b'a' + g.below(26) as u8) as char,
            })
            .collect();
        Box::leak(s.into_boxed_str())
    }
}

impl Arbitrary for &'static [u8] {
    fn arbitrary(g: &mut Gen, _: WireVersion) -> Self {
        let len = g.below(40) as usize;
        let v: Vec<u8> = (0..len).map(|_| g.next_u64() as u8).collect();
        Box::leak(v.into_boxed_slice())
    }
}

impl<T: Arbitrary> Arbitrary for Option<T> {
    fn arbitrary(g: &mut Gen, v: WireVersion) -> Self {
        if g.one_in(4) {
            None
        } else {
            Some(T::arbitrary(g, v))
        }
    }
}

impl<T: Arbitrary + 'static> Arbitrary for Array<'static, T> {
    fn arbitrary(g: &mut Gen, v: WireVersion) -> Self {
        let len = g.below(4) as usize;
        let items: Vec<T> = (0..len).map(|_| T::arbitrary(g, v)).collect();
        Array::new(Box::leak(items.into_boxed_slice()))
    }
}

/// Encodes `value` at `v`, decodes it back, and checks the two agree and that
/// re-encoding the decoded value gives the same bytes.
pub fn assert_round_trip<'a, T>(value: &T, v: WireVersion, scratch: &'a mut Vec<u8>)
where
    T: Wire<'a> + PartialEq + core::fmt::Debug,
{
    let len = value.encoded_len(v).expect("measure");
    scratch.clear();
    scratch.resize(len, 0);
    let mut w = crate::wire::Writer::new(scratch);
    value.encode(&mut w, v).expect("encode");
    assert_eq!(w.position(), len, "encoded_len disagrees with encode");
    let bytes: &'a [u8] = scratch;
    let mut r = crate::wire::Reader::new(bytes);
    let back = T::decode(&mut r, v).expect("decode");
    assert!(r.is_empty(), "decode left {} bytes", r.remaining());
    assert_eq!(&back, value, "at {v:?}");
    let mut again = std::vec![0u8; len];
    let mut w = crate::wire::Writer::new(&mut again);
    back.encode(&mut w, v).expect("re-encode");
    assert_eq!(&again[..], bytes, "re-encoding differs at {v:?}");
}

/// Decodes `bytes` as a whole message `T` at `version`, checks that encoding
/// the result gives back exactly `bytes`, and returns it for field-by-field
/// assertions. For golden tests built from hand-assembled bytes.
pub fn golden<'a, T>(bytes: &'a [u8], version: i16) -> T
where
    T: crate::protocol::Message<'a>,
{
    let v = T::wire_version(version).expect("version");
    let mut r = crate::wire::Reader::new(bytes);
    let value = T::decode(&mut r, v).expect("decode");
    assert!(r.is_empty(), "decode left {} bytes", r.remaining());
    let len = value.encoded_len(v).expect("measure");
    let mut out = std::vec![0u8; len];
    let mut w = crate::wire::Writer::new(&mut out);
    value.encode(&mut w, v).expect("re-encode");
    assert_eq!(w.written(), bytes, "re-encoding differs at {v:?}");
    value
}
