//! [`Transmit`]: a request a [`Member`](super::Member) wants sent, where, and
//! the scratch arena its nested fields are written into.

use crate::client::{Connection, Sent};
use crate::error::{Error, Result};
use crate::protocol::messages::{
    FindCoordinatorRequest, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest,
};
use crate::protocol::ApiKey;
use crate::wire::{Array, Wire, WireVersion, Writer};

/// Names one request of a [`Member`](super::Member); give it back with the
/// response ([`handle_response`](super::Member::handle_response)) or the
/// failure ([`handle_failure`](super::Member::handle_failure)). Answers to
/// requests the member gave up on (timed out, coordinator moved) are
/// recognised by their id and ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RequestId(pub(crate) u32);

/// Which broker a [`Transmit`] goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Destination<'b> {
    /// Any broker (FindCoordinator): a bootstrap address or any known one.
    AnyBroker,
    /// The group coordinator, as FindCoordinator named it.
    Coordinator {
        /// Its node id.
        node_id: i32,
        /// Its advertised host.
        host: &'b str,
        /// Its port.
        port: i32,
    },
}

/// One group request, ready to encode with any [`Connection`] (each
/// variant is the API's request struct, so a transport that sends typed
/// requests can match on it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GroupRequest<'b> {
    /// Looks up the coordinator.
    FindCoordinator(FindCoordinatorRequest<'b>),
    /// Joins (or rejoins) the group.
    JoinGroup(JoinGroupRequest<'b>),
    /// Gets this member's assignment (the leader sends everyone's).
    SyncGroup(SyncGroupRequest<'b>),
    /// Keeps the membership alive.
    Heartbeat(HeartbeatRequest<'b>),
    /// Leaves the group.
    LeaveGroup(LeaveGroupRequest<'b>),
    /// Commits staged offsets.
    OffsetCommit(OffsetCommitRequest<'b>),
    /// Reads the committed offsets of newly assigned partitions.
    OffsetFetch(OffsetFetchRequest<'b>),
}

impl GroupRequest<'_> {
    /// The request's API.
    pub fn api(&self) -> ApiKey {
        match self {
            GroupRequest::FindCoordinator(_) => ApiKey::FindCoordinator,
            GroupRequest::JoinGroup(_) => ApiKey::JoinGroup,
            GroupRequest::SyncGroup(_) => ApiKey::SyncGroup,
            GroupRequest::Heartbeat(_) => ApiKey::Heartbeat,
            GroupRequest::LeaveGroup(_) => ApiKey::LeaveGroup,
            GroupRequest::OffsetCommit(_) => ApiKey::OffsetCommit,
            GroupRequest::OffsetFetch(_) => ApiKey::OffsetFetch,
        }
    }

    /// Encodes the request at the version negotiated on `conn` into `buf`
    /// (see [`Connection::encode`]).
    pub fn encode<const N: usize>(&self, conn: &mut Connection<N>, buf: &mut [u8]) -> Result<Sent> {
        match self {
            GroupRequest::FindCoordinator(r) => conn.encode(buf, r),
            GroupRequest::JoinGroup(r) => conn.encode(buf, r),
            GroupRequest::SyncGroup(r) => conn.encode(buf, r),
            GroupRequest::Heartbeat(r) => conn.encode(buf, r),
            GroupRequest::LeaveGroup(r) => conn.encode(buf, r),
            GroupRequest::OffsetCommit(r) => conn.encode(buf, r),
            GroupRequest::OffsetFetch(r) => conn.encode(buf, r),
        }
    }
}

/// A request to send: what, where, and the id to answer with. It borrows
/// only the scratch buffer given to
/// [`poll_transmit`](super::Member::poll_transmit) (strings and nested
/// arrays are written there), not the member.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transmit<'b> {
    /// Give this back with the answer.
    pub id: RequestId,
    /// Where to send it.
    pub destination: Destination<'b>,
    /// The request.
    pub request: GroupRequest<'b>,
}

/// Cuts a caller's scratch buffer into the pieces a request borrows.
pub(crate) struct Arena<'b> {
    rest: &'b mut [u8],
}

impl<'b> Arena<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Arena { rest: buf }
    }

    /// Runs `f` on a writer over the free space and keeps what it wrote.
    pub(crate) fn write(
        &mut self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<()>,
    ) -> Result<&'b [u8]> {
        let buf = core::mem::take(&mut self.rest);
        let mut w = Writer::new(buf);
        let result = f(&mut w);
        let (buf, n) = w.into_inner();
        let buf = buf.unwrap_or_default();
        if let Err(e) = result {
            self.rest = buf;
            return Err(e);
        }
        let (used, rest) = buf.split_at_mut(n);
        self.rest = rest;
        Ok(used)
    }

    /// A copy of `s`.
    pub(crate) fn str(&mut self, s: &str) -> Result<&'b str> {
        let bytes = self.write(|w| w.put(s.as_bytes()))?;
        core::str::from_utf8(bytes).map_err(|_| Error::InvalidUtf8)
    }

    /// An array of `len` elements that `f` encodes at `v`.
    pub(crate) fn array<T: Wire<'b> + Copy>(
        &mut self,
        len: usize,
        v: WireVersion,
        f: impl FnOnce(&mut Writer<'_>) -> Result<()>,
    ) -> Result<Array<'b, T>> {
        let bytes = self.write(f)?;
        Array::from_encoded(bytes, len, v)
    }
}
