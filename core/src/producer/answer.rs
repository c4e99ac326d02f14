//! One partition's answer in a Produce response.

use crate::error::{Error, Result};
use crate::protocol::messages::ProduceResponse;
use crate::ErrorCode;

/// What a Produce response says about one partition: the inputs of
/// [`ProduceRecovery`](super::ProduceRecovery) and the batch's offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducedPartition<'a> {
    /// The partition's error code.
    pub error: ErrorCode,
    /// The broker's message about the error (v8+), if any.
    pub message: Option<&'a str>,
    /// The offset of the batch's first record (-1 when not written).
    pub base_offset: i64,
    /// The partition's log start offset (v5+; -1 when the broker did not
    /// know it); `None` before v5.
    pub log_start_offset: Option<i64>,
}

impl<'a> ProducedPartition<'a> {
    /// Finds `topic`'s `partition` in a Produce response decoded at
    /// `version`.
    ///
    /// Errors: [`Error::Malformed`] when the response does not mention it.
    pub fn find(
        response: &ProduceResponse<'a>,
        version: i16,
        topic: &str,
        partition: i32,
    ) -> Result<Self> {
        response
            .responses
            .iter()
            .filter(|t| t.name == topic)
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.index == partition)
            .map(|p| ProducedPartition {
                error: p.error_code,
                message: p.error_message,
                base_offset: p.base_offset,
                log_start_offset: (version >= 5).then_some(p.log_start_offset),
            })
            .ok_or(Error::Malformed(
                "the Produce response does not mention the partition",
            ))
    }
}
