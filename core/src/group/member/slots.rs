//! The member's partition table: what it owns, what it is giving up, and
//! the offsets staged and committed for each, in fixed capacity.

use crate::ErrorCode;

/// Where a partition stands for the member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Newly assigned; its committed offset is being read (OffsetFetch).
    Fetching,
    /// Committed offset known; the `Assigned` event is pending.
    Ready,
    /// Announced; the application consumes it.
    Active,
    /// Given up in a rebalance; the `Revoked` event is pending.
    Revoking,
    /// `Revoked` delivered; its last staged position is committed, then it goes.
    Revoked,
    /// The membership ended; the `Lost` event is pending.
    Lost,
}

/// One partition the member owns or is letting go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    /// Index into the member's subscribed topics.
    pub(crate) topic: u16,
    pub(crate) partition: i32,
    pub(crate) stage: Stage,
    /// The next offset to consume, as the application staged it (-1: none).
    pub(crate) position: i64,
    /// The group's committed offset as last read or written (-1: none).
    pub(crate) committed: i64,
    /// The offset in the OffsetCommit in flight (-1: none).
    pub(crate) committing: i64,
    /// In the OffsetFetch in flight.
    pub(crate) fetching: bool,
    /// A commit answered: the `Committed` event is pending with this result.
    pub(crate) result: Option<(i64, ErrorCode)>,
    /// Scratch mark while an assignment is applied.
    pub(crate) kept: bool,
}

impl Slot {
    pub(crate) fn new(topic: u16, partition: i32) -> Self {
        Slot {
            topic,
            partition,
            stage: Stage::Fetching,
            position: -1,
            committed: -1,
            committing: -1,
            fetching: false,
            result: None,
            kept: false,
        }
    }

    /// Assigned to the member in the current generation.
    pub(crate) fn owned(&self) -> bool {
        matches!(self.stage, Stage::Fetching | Stage::Ready | Stage::Active)
    }

    /// A staged position not committed yet.
    pub(crate) fn dirty(&self) -> bool {
        self.position >= 0 && self.position != self.committed
    }

    /// Something the application must still hear about, or a commit to
    /// make, before the member may rejoin.
    pub(crate) fn holds_rejoin(&self) -> bool {
        matches!(self.stage, Stage::Revoking | Stage::Revoked | Stage::Lost)
    }
}
