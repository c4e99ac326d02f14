//! Wire primitives: readers, writers and the [`Wire`] trait every message field implements.
//!
//! Layering follows smoltcp's `wire` module: [`Reader`]/[`Writer`] know the byte
//! forms (big-endian ints, varints, length-prefixed strings and bytes);
//! [`Wire`] maps Rust field types to those forms for a given
//! [`WireVersion`]; the message structs in [`crate::protocol`] are generated
//! from compact field tables by one macro, so no message carries hand-written
//! codec code.

mod array;
mod codec;
#[macro_use]
mod macros;
mod reader;
#[cfg(test)]
#[allow(dead_code, unreachable_pub)]
pub(crate) mod testing;
pub mod varint;
mod writer;

pub use array::{Array, ArrayIter};
pub(crate) use codec::encode_tagged;
pub use codec::{Wire, WireVersion};
pub use reader::{LenPrefix, Reader};
pub use writer::Writer;

/// A 16-byte `uuid` (topic ids).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero uuid Kafka uses for "no id".
    pub const ZERO: Uuid = Uuid([0; 16]);
}

impl core::fmt::Debug for Uuid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
