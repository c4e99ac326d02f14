//! The `records` field of a partition: a sequence of batches or legacy messages.

use crate::error::{Error, Result};
use crate::record::batch::field::{LENGTH_BASE, MAGIC as MAGIC_FIELD};
use crate::record::batch::RecordBatch;
use crate::record::legacy::LegacyMessage;

/// One entry of a [`RecordSet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batch<'a> {
    /// A magic-2 record batch.
    V2(RecordBatch<&'a [u8]>),
    /// A magic-0/1 message (possibly a compressed wrapper).
    Legacy(LegacyMessage<'a>),
}

/// Iterates the batches in a Fetch (or Produce) partition's `records` bytes.
///
/// Both formats put their magic byte at offset 16, after an `int64` offset and
/// an `int32` size, which is how entries are told apart. A broker may cut the
/// last batch short to honour `max_bytes`; such a partial tail is not an error:
/// iteration ends and [`truncated_tail`](Self::truncated_tail) says so. CRCs
/// are verified unless [`without_crc_check`](Self::without_crc_check) is used.
/// After an error the iterator yields nothing more.
#[derive(Clone, Debug)]
pub struct RecordSet<'a> {
    rest: &'a [u8],
    verify_crc: bool,
    truncated_tail: bool,
    failed: bool,
}

impl<'a> RecordSet<'a> {
    /// Iterates the entries of `records` (an empty or null field is an empty set).
    pub fn new(records: &'a [u8]) -> Self {
        RecordSet {
            rest: records,
            verify_crc: true,
            truncated_tail: false,
            failed: false,
        }
    }

    /// Skips CRC verification (a broker that already verified, or benchmarks).
    pub fn without_crc_check(mut self) -> Self {
        self.verify_crc = false;
        self
    }

    /// True once iteration has stopped at a partial last entry.
    pub fn truncated_tail(&self) -> bool {
        self.truncated_tail
    }

    fn next_entry(&mut self) -> Result<Option<Batch<'a>>> {
        let b = self.rest;
        if b.is_empty() {
            return Ok(None);
        }
        // Too short to say its size and magic, or declaring more than is here: a partial tail.
        let Some(size) = b.get(8..LENGTH_BASE) else {
            return self.tail();
        };
        let size = i32::from_be_bytes([size[0], size[1], size[2], size[3]]);
        let total = usize::try_from(size).map_err(|_| Error::InvalidLength)? + LENGTH_BASE;
        // An entry too short to hold its own magic byte is corrupt, not partial:
        // no magic-0/1/2 entry is that small, and reading on would index past it.
        if total <= MAGIC_FIELD {
            return Err(Error::InvalidLength);
        }
        if total > b.len() {
            return self.tail();
        }
        let (entry, rest) = b.split_at(total);
        let batch = match entry[MAGIC_FIELD] as i8 {
            2 => {
                let batch = RecordBatch::new_checked(entry)?;
                if self.verify_crc {
                    batch.verify_crc()?;
                }
                Batch::V2(batch)
            }
            0 | 1 => {
                let (message, _) = LegacyMessage::parse(entry)?;
                if self.verify_crc {
                    message.verify_crc()?;
                }
                Batch::Legacy(message)
            }
            magic => return Err(Error::UnsupportedMagic(magic)),
        };
        self.rest = rest;
        Ok(Some(batch))
    }

    fn tail(&mut self) -> Result<Option<Batch<'a>>> {
        self.truncated_tail = true;
        self.rest = &[];
        Ok(None)
    }
}

impl<'a> Iterator for RecordSet<'a> {
    type Item = Result<Batch<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let entry = self.next_entry().transpose();
        self.failed = matches!(entry, Some(Err(_)));
        entry
    }
}
