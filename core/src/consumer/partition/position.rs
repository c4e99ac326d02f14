//! [`Position`]: where a partition consumer reads next, and what a failed
//! fetch does to it.

use crate::consumer::{FetchErrorAction, StartOffset};
use crate::ErrorCode;

/// Where a consumer of one partition reads next: the offset (or the
/// ListOffsets lookup that finds it), the leader epoch its fetches carry,
/// and where it goes when it has no offset or the offset fell out of the
/// log (its [`StartOffset`]).
///
/// Offsets below 0 are lookups, as kafka-go's: -2
/// ([`ListOffsetsTimestamp::EARLIEST`](crate::consumer::ListOffsetsTimestamp::EARLIEST),
/// `FirstOffset`) and -1
/// ([`ListOffsetsTimestamp::LATEST`](crate::consumer::ListOffsetsTimestamp::LATEST),
/// `LastOffset`): [`lookup`](Self::lookup) says which timestamp to send
/// ListOffsets, and [`found`](Self::found) takes the answer.
///
/// A fetch goes from [`offset`](Self::offset) with
/// [`leader_epoch`](Self::leader_epoch) (KIP-320: a broker with another
/// epoch answers `FENCED_LEADER_EPOCH` or `UNKNOWN_LEADER_EPOCH`, and the
/// consumer refreshes metadata instead of reading a stale leader);
/// [`on_error`](Self::on_error) is the one decision for a partition's
/// error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Position {
    /// The next offset, or (below 0) the ListOffsets timestamp to find it.
    offset: i64,
    /// The leader epoch fetches carry (-1: not checked).
    leader_epoch: i32,
    reset: StartOffset,
}

impl Position {
    /// No offset yet: the first fetch looks up `reset`'s offset.
    pub const fn new(reset: StartOffset) -> Self {
        Position {
            offset: reset.list_offsets_timestamp(),
            leader_epoch: -1,
            reset,
        }
    }

    /// At `offset` (-2 or -1: looked up first, see [`Position`]).
    pub const fn at(offset: i64, reset: StartOffset) -> Self {
        Position {
            offset: lookup_or(offset),
            leader_epoch: -1,
            reset,
        }
    }

    /// The offset the next fetch starts at; `None` until it is looked up.
    pub const fn offset(&self) -> Option<i64> {
        if self.offset < 0 {
            None
        } else {
            Some(self.offset)
        }
    }

    /// The ListOffsets timestamp to look the offset up with (-2 earliest,
    /// -1 latest); `None` when the offset is known.
    pub const fn lookup(&self) -> Option<i64> {
        if self.offset < 0 {
            Some(self.offset)
        } else {
            None
        }
    }

    /// The offset, or the lookup as kafka-go writes it (-2 `FirstOffset`,
    /// -1 `LastOffset`).
    pub const fn value(&self) -> i64 {
        self.offset
    }

    /// Where the consumer goes without an offset, or when it fell out of
    /// the log.
    pub const fn reset(&self) -> StartOffset {
        self.reset
    }

    /// The leader epoch fetches and lookups carry (-1: not checked).
    pub const fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    /// Sets the leader epoch from metadata (after a refresh, or when the
    /// consumer moves to a new leader).
    pub fn set_leader_epoch(&mut self, epoch: i32) {
        self.leader_epoch = epoch;
    }

    /// Moves to `offset` (-2 or -1: looked up first).
    pub fn seek(&mut self, offset: i64) {
        self.offset = lookup_or(offset);
    }

    /// Moves to the first or last offset, looked up at the next fetch.
    pub fn seek_to(&mut self, start: StartOffset) {
        self.offset = start.list_offsets_timestamp();
    }

    /// The ListOffsets answer: fetches start at `offset`.
    pub fn found(&mut self, offset: i64) {
        self.offset = offset.max(0);
    }

    /// The records before `next` are read (or skipped): the next fetch
    /// starts there. Never moves back, and not before the offset is known.
    pub fn advance(&mut self, next: i64) {
        if self.offset >= 0 && next > self.offset {
            self.offset = next;
        }
    }

    /// Records between the position and `high_watermark` (0 while the
    /// offset is unknown).
    pub const fn lag(&self, high_watermark: i64) -> i64 {
        if self.offset < 0 || high_watermark <= self.offset {
            0
        } else {
            high_watermark - self.offset
        }
    }

    /// What to do about a partition's error code in a Fetch or ListOffsets
    /// answer ([`FetchErrorAction::classify`]); an offset out of range
    /// moves the position to its [`reset`](Self::reset) lookup here.
    /// `FENCED_LEADER_EPOCH` and `UNKNOWN_LEADER_EPOCH` ask for a metadata
    /// refresh (then [`set_leader_epoch`](Self::set_leader_epoch)).
    pub fn on_error(&mut self, code: ErrorCode) -> FetchErrorAction {
        let action = FetchErrorAction::classify(code);
        if action == FetchErrorAction::ResetOffset {
            self.seek_to(self.reset);
        }
        action
    }
}

/// `offset`, or for any negative one the lookup it names (anything below
/// -1 is the earliest).
const fn lookup_or(offset: i64) -> i64 {
    if offset < -1 {
        StartOffset::First.list_offsets_timestamp()
    } else {
        offset
    }
}
