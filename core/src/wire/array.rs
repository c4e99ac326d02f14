//! Arrays: a borrowed slice when building a message, a lazy view when decoding one.

use core::fmt;

use crate::error::{Error, Result};
use crate::wire::{Reader, Wire, WireVersion, Writer};

/// A Kafka array field.
///
/// When you build a message, an `Array` borrows a slice you own
/// (`Array::from(&items[..])`). When a message is decoded, the array is
/// validated once and then kept as a *lazy view* over the frame bytes:
/// [`iter`](Self::iter) decodes elements on the fly, so decoding allocates
/// nothing whatever the element count. Both forms encode the same way.
pub struct Array<'a, T> {
    repr: Repr<'a, T>,
}

enum Repr<'a, T> {
    Items(&'a [T]),
    Encoded {
        bytes: &'a [u8],
        len: usize,
        version: WireVersion,
    },
}

// Manual impls: `derive` would demand `T: Copy`, but both forms are just borrows.
impl<T> Clone for Array<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Array<'_, T> {}
impl<T> Clone for Repr<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Repr<'_, T> {}

impl<T> Default for Array<'_, T> {
    fn default() -> Self {
        Array {
            repr: Repr::Items(&[]),
        }
    }
}

impl<'a, T> From<&'a [T]> for Array<'a, T> {
    fn from(items: &'a [T]) -> Self {
        Array {
            repr: Repr::Items(items),
        }
    }
}

impl<'a, T, const N: usize> From<&'a [T; N]> for Array<'a, T> {
    fn from(items: &'a [T; N]) -> Self {
        Array {
            repr: Repr::Items(items),
        }
    }
}

impl<'a, T> Array<'a, T> {
    /// An array over a slice of items (for building messages).
    pub const fn new(items: &'a [T]) -> Self {
        Array {
            repr: Repr::Items(items),
        }
    }

    /// Number of elements.
    pub const fn len(&self) -> usize {
        match self.repr {
            Repr::Items(items) => items.len(),
            Repr::Encoded { len, .. } => len,
        }
    }

    /// True when the array has no elements.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The wire bytes of the elements when this array was decoded (without the
    /// length prefix); `None` when it was built from a slice.
    pub const fn encoded_bytes(&self) -> Option<&'a [u8]> {
        match self.repr {
            Repr::Items(_) => None,
            Repr::Encoded { bytes, .. } => Some(bytes),
        }
    }
}

impl<'a, T: Wire<'a> + Copy> Array<'a, T> {
    /// Iterates the elements, decoding lazily when the array came off the wire.
    pub fn iter(&self) -> ArrayIter<'a, T> {
        match self.repr {
            Repr::Items(items) => ArrayIter {
                repr: IterRepr::Items(items.iter()),
            },
            Repr::Encoded {
                bytes,
                len,
                version,
            } => ArrayIter {
                repr: IterRepr::Encoded {
                    reader: Reader::new(bytes),
                    left: len,
                    version,
                },
            },
        }
    }

    /// An array over elements already encoded at `v` (without the length
    /// prefix), e.g. built in a scratch buffer by a sans-IO state machine
    /// that cannot hold a slice of them. The bytes are validated once: they
    /// must hold exactly `len` elements. Encoding at another version
    /// converts element by element.
    pub fn from_encoded(bytes: &'a [u8], len: usize, v: WireVersion) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let array = Self::decode_elements(&mut r, len, v)?;
        if !r.is_empty() {
            return Err(Error::Malformed("bytes left after the array's elements"));
        }
        Ok(array)
    }

    /// Reads an array body of `len` elements, validating every element once.
    fn decode_elements(r: &mut Reader<'a>, len: usize, v: WireVersion) -> Result<Self> {
        // Every element takes at least one byte in every schema we decode, so a
        // count above the bytes left is a lie; refusing it early keeps a hostile
        // count from costing CPU.
        if len > r.remaining() {
            return Err(Error::Truncated);
        }
        let start = r.position();
        for _ in 0..len {
            T::decode(r, v)?;
        }
        Ok(Array {
            repr: Repr::Encoded {
                bytes: r.since(start),
                len,
                version: v,
            },
        })
    }

    fn encode_elements(&self, w: &mut Writer<'_>, v: WireVersion) -> Result<()> {
        match self.repr {
            // Already in the right form: copy the bytes through untouched.
            Repr::Encoded { bytes, version, .. } if version == v => w.put(bytes),
            _ => self.iter().try_for_each(|item| item.encode(w, v)),
        }
    }
}

impl<'a, T: Wire<'a> + Copy> Wire<'a> for Array<'a, T> {
    fn decode(r: &mut Reader<'a>, v: WireVersion) -> Result<Self> {
        let len = r.array_len(v.flexible)?.ok_or(Error::InvalidLength)?;
        Self::decode_elements(r, len, v)
    }

    fn encode(&self, w: &mut Writer<'_>, v: WireVersion) -> Result<()> {
        w.array_len(v.flexible, Some(self.len()))?;
        self.encode_elements(w, v)
    }
}

impl<'a, T: Wire<'a> + Copy> Wire<'a> for Option<Array<'a, T>> {
    fn decode(r: &mut Reader<'a>, v: WireVersion) -> Result<Self> {
        match r.array_len(v.flexible)? {
            None => Ok(None),
            Some(len) => Array::decode_elements(r, len, v).map(Some),
        }
    }

    fn encode(&self, w: &mut Writer<'_>, v: WireVersion) -> Result<()> {
        w.array_len(v.flexible, self.as_ref().map(Array::len))?;
        match self {
            Some(array) => array.encode_elements(w, v),
            None => Ok(()),
        }
    }
}

/// Iterator over an [`Array`]'s elements.
pub struct ArrayIter<'a, T> {
    repr: IterRepr<'a, T>,
}

enum IterRepr<'a, T> {
    Items(core::slice::Iter<'a, T>),
    Encoded {
        reader: Reader<'a>,
        left: usize,
        version: WireVersion,
    },
}

impl<'a, T: Wire<'a> + Copy> Iterator for ArrayIter<'a, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match &mut self.repr {
            IterRepr::Items(it) => it.next().copied(),
            IterRepr::Encoded {
                reader,
                left,
                version,
            } => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                // The elements were validated when the array was decoded, so this
                // cannot fail; should it, the iteration ends rather than panics.
                T::decode(reader, *version).ok()
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.repr {
            IterRepr::Items(it) => it.len(),
            IterRepr::Encoded { left, .. } => *left,
        };
        (n, Some(n))
    }
}

impl<'a, T: Wire<'a> + Copy> ExactSizeIterator for ArrayIter<'a, T> {}

impl<'a, T: Wire<'a> + Copy> IntoIterator for Array<'a, T> {
    type Item = T;
    type IntoIter = ArrayIter<'a, T>;
    fn into_iter(self) -> ArrayIter<'a, T> {
        self.iter()
    }
}

impl<'a, T: Wire<'a> + Copy> IntoIterator for &Array<'a, T> {
    type Item = T;
    type IntoIter = ArrayIter<'a, T>;
    fn into_iter(self) -> ArrayIter<'a, T> {
        self.iter()
    }
}

impl<'a, T: Wire<'a> + Copy + PartialEq> PartialEq for Array<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<'a, T: Wire<'a> + Copy + fmt::Debug> fmt::Debug for Array<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLASSIC: WireVersion = WireVersion::new(0, false);
    const FLEX: WireVersion = WireVersion::new(9, true);

    #[test]
    fn decodes_lazily_and_reencodes_identically() {
        let bytes = [0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        let mut r = Reader::new(&bytes);
        let a = Array::<i32>::decode(&mut r, CLASSIC).unwrap();
        assert_eq!(a.iter().collect::<heapless::Vec<i32, 4>>(), [1, 2, 3]);
        let mut out = [0u8; 16];
        let mut w = Writer::new(&mut out);
        a.encode(&mut w, CLASSIC).unwrap();
        assert_eq!(w.written(), &bytes);
        // The same array re-encoded compact converts element by element.
        let mut w = Writer::new(&mut out);
        a.encode(&mut w, FLEX).unwrap();
        assert_eq!(w.written(), &[4, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]);
    }

    #[test]
    fn refuses_counts_larger_than_the_input() {
        let mut r = Reader::new(&[0x7f, 0xff, 0xff, 0xff, 0, 0]);
        assert_eq!(Array::<i8>::decode(&mut r, CLASSIC), Err(Error::Truncated));
        let mut r = Reader::new(&[0, 0, 0, 2, 0, 0, 0, 1]);
        assert_eq!(Array::<i32>::decode(&mut r, CLASSIC), Err(Error::Truncated));
    }

    #[test]
    fn from_encoded_validates_and_converts() {
        let bytes = [0, 0, 0, 1, 0, 0, 0, 2];
        let a = Array::<i32>::from_encoded(&bytes, 2, CLASSIC).unwrap();
        assert_eq!(a.iter().collect::<heapless::Vec<i32, 4>>(), [1, 2]);
        let mut out = [0u8; 16];
        let mut w = Writer::new(&mut out);
        a.encode(&mut w, FLEX).unwrap();
        assert_eq!(w.written(), &[3, 0, 0, 0, 1, 0, 0, 0, 2]);
        assert!(Array::<i32>::from_encoded(&bytes, 1, CLASSIC).is_err());
        assert!(Array::<i32>::from_encoded(&bytes, 3, CLASSIC).is_err());
    }

    #[test]
    fn null_arrays() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(Option::<Array<i32>>::decode(&mut r, CLASSIC), Ok(None));
        let mut r = Reader::new(&[0x00]);
        assert_eq!(Option::<Array<i32>>::decode(&mut r, FLEX), Ok(None));
        let mut r = Reader::new(&[0x00]);
        assert_eq!(
            Array::<i32>::decode(&mut r, FLEX),
            Err(Error::InvalidLength)
        );
    }
}
