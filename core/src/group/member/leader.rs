//! The leader's half of a rebalance: the members as JoinGroup lists them,
//! and their assignment written as SyncGroup carries it.

use crate::client::Received;
use crate::error::{Error, Result};
use crate::group::{scratch_len, Assignor, GroupMember, TopicPartitions};
use crate::protocol::messages::{
    decode_subscription, JoinGroupResponse, JoinGroupResponseMember, SyncGroupRequestAssignment,
};
use crate::protocol::ApiKey;
use crate::wire::{Array, ArrayIter, WireVersion, Writer};

use super::transmit::Arena;

/// The consumer-protocol assignment version the leader writes (every
/// version has the same layout; v0 is what every client reads).
const ASSIGNMENT_VERSION: i16 = 0;

/// Classic encoding, the version pre-encoded SyncGroup assignments use.
const CLASSIC: WireVersion = WireVersion::new(0, false);

/// No owner, in the leader's owner table.
const NONE: u32 = u32::MAX;

/// Scratch words [`Member::assign`](super::Member::assign) needs: the
/// assignor's ([`scratch_len`]) plus one per partition.
pub const fn leader_scratch_len(members: usize, topics: usize, partitions: usize) -> usize {
    scratch_len(members, topics, partitions) + partitions
}

/// A JoinGroup answer as the group leader reads it: the protocol the
/// coordinator chose and every member's subscription. It borrows the
/// response, so keep that until [`Member::assign`](super::Member::assign)
/// has returned.
#[derive(Clone, Copy, Debug)]
pub struct LeaderJoin<'b> {
    response: JoinGroupResponse<'b>,
}

impl<'b> LeaderJoin<'b> {
    /// Reads a JoinGroup response (the one that made the member leader).
    pub fn parse(received: &Received<'b>) -> Result<Self> {
        if received.api != ApiKey::JoinGroup {
            return Err(Error::Malformed("not a JoinGroup response"));
        }
        let response: JoinGroupResponse<'b> = received.decode()?;
        if response.error_code.is_err() {
            return Err(Error::Malformed("a failed JoinGroup has no members"));
        }
        Ok(LeaderJoin { response })
    }

    /// The protocol (assignor name) the coordinator chose.
    pub fn protocol(&self) -> &'b str {
        self.response.protocol_name.unwrap_or("")
    }

    /// The generation being formed.
    pub fn generation(&self) -> i32 {
        self.response.generation_id
    }

    /// How many members there are.
    pub fn member_count(&self) -> usize {
        self.response.members.len()
    }

    /// Every member with its decoded subscription, in the coordinator's order.
    pub fn members(&self) -> Members<'b> {
        Members {
            inner: self.response.members.iter(),
        }
    }

    /// Every topic some member subscribes to (repeats included; members
    /// whose metadata does not decode are skipped): the topics whose
    /// partition counts [`Member::assign`](super::Member::assign) needs.
    pub fn topics(&self) -> impl Iterator<Item = &'b str> + 'b {
        self.members()
            .filter_map(Result::ok)
            .flat_map(|m| m.subscription.topics.iter())
    }
}

/// The members of a [`LeaderJoin`], decoding each subscription as it goes.
pub struct Members<'b> {
    inner: ArrayIter<'b, JoinGroupResponseMember<'b>>,
}

impl core::fmt::Debug for Members<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Members")
            .field("left", &self.inner.len())
            .finish()
    }
}

impl<'b> Iterator for Members<'b> {
    type Item = Result<GroupMember<'b>>;

    fn next(&mut self) -> Option<Self::Item> {
        let m = self.inner.next()?;
        Some(
            decode_subscription(m.metadata).map(|(_, subscription)| GroupMember {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                subscription,
            }),
        )
    }
}

/// Runs `assignor` and writes the SyncGroup assignments (one per member,
/// empty ones included) into `arena`.
pub(crate) fn encode_assignments<'b>(
    arena: &mut Arena<'b>,
    members: &[GroupMember<'_>],
    topics: &[TopicPartitions<'_>],
    assignor: &dyn Assignor,
    scratch: &mut [u32],
) -> Result<Array<'b, SyncGroupRequestAssignment<'b>>> {
    let mut total = 0usize;
    for t in topics {
        total += usize::try_from(t.partitions).map_err(|_| Error::InvalidLength)?;
    }
    let need = leader_scratch_len(members.len(), topics.len(), total);
    if scratch.len() < need {
        return Err(Error::TooLarge {
            what: crate::Limit::Scratch,
            size: need,
            limit: scratch.len(),
        });
    }
    let (work, owners) = scratch.split_at_mut(scratch.len() - total);
    owners.fill(NONE);
    let start = |t: usize| -> usize {
        topics[..t]
            .iter()
            .map(|t| t.partitions.max(0) as usize)
            .sum()
    };
    let mut record = |member: usize, topic: &str, partition: i32| -> Result<()> {
        let t = topics
            .binary_search_by(|x| x.topic.cmp(topic))
            .map_err(|_| Error::Malformed("the assignor named a topic it was not given"))?;
        if partition < 0 || partition >= topics[t].partitions || member >= members.len() {
            return Err(Error::Malformed(
                "the assignor named a partition out of range",
            ));
        }
        owners[start(t) + partition as usize] = member as u32;
        Ok(())
    };
    assignor.assign(members, topics, work, &mut record)?;
    let owners = &*owners;
    arena.array(members.len(), CLASSIC, |w| {
        for (mi, member) in members.iter().enumerate() {
            w.string(member.member_id)?;
            let len_at = w.reserve(4)?;
            let body = w.position();
            write_assignment(w, topics, owners, mi as u32)?;
            let len = i32::try_from(w.position() - body).map_err(|_| Error::InvalidLength)?;
            w.patch(len_at, &len.to_be_bytes())?;
        }
        Ok(())
    })
}

/// One member's `ConsumerProtocolAssignment`: its partitions by topic.
fn write_assignment(
    w: &mut Writer<'_>,
    topics: &[TopicPartitions<'_>],
    owners: &[u32],
    member: u32,
) -> Result<()> {
    w.i16(ASSIGNMENT_VERSION)?;
    let mut at = 0usize;
    let mut count = 0i32;
    for t in topics {
        let n = t.partitions.max(0) as usize;
        if owners[at..at + n].contains(&member) {
            count += 1;
        }
        at += n;
    }
    w.i32(count)?;
    at = 0;
    for t in topics {
        let n = t.partitions.max(0) as usize;
        let mine = &owners[at..at + n];
        let k = mine.iter().filter(|&&o| o == member).count();
        if k > 0 {
            w.string(t.topic)?;
            w.i32(k as i32)?;
            for (p, _) in mine.iter().enumerate().filter(|(_, &o)| o == member) {
                w.i32(p as i32)?;
            }
        }
        at += n;
    }
    w.i32(-1) // user_data: null
}
