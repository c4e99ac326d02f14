//! Control records: the transaction markers in control batches.

use crate::error::{Error, Result};
use crate::wire::Reader;

/// What a control record marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ControlRecordType {
    /// The transaction was aborted (type 0).
    Abort,
    /// The transaction was committed (type 1).
    Commit,
    /// A type this version of microkafka does not know.
    Other(i16),
}

/// The key of a control record: `version int16, type int16`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ControlRecord {
    /// Control record key version (0).
    pub version: i16,
    /// The marker type.
    pub kind: ControlRecordType,
}

impl ControlRecord {
    /// Parses a control record key.
    pub fn parse(key: &[u8]) -> Result<Self> {
        let mut r = Reader::new(key);
        let version = r.i16()?;
        if version < 0 {
            return Err(Error::Malformed("negative control record version"));
        }
        let kind = match r.i16()? {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            other => ControlRecordType::Other(other),
        };
        Ok(ControlRecord { version, kind })
    }
}
