//! Partition assignors: `range`, `roundrobin` and `cooperative-sticky`, with
//! the protocol names and algorithms of the Java client, so a microkafka
//! member can lead (or follow) a mixed group with Java and librdkafka members.
//!
//! Assignors allocate nothing: the caller passes a `u32` scratch slice of
//! [`scratch_len`] words (a `Vec` on hosts, a static array on firmware) and
//! receives the assignment through an [`AssignmentSink`] callback, one
//! `(member, topic, partition)` at a time.

use core::cmp::Ordering;

use crate::error::{Error, Result};
use crate::protocol::messages::ConsumerProtocolSubscription;

/// A member as the group leader sees it in the JoinGroup response.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupMember<'a> {
    /// The member id the coordinator gave it.
    pub member_id: &'a str,
    /// Its static membership id (`group.instance.id`), if any.
    pub group_instance_id: Option<&'a str>,
    /// Its decoded subscription (topics, and for sticky assignors the
    /// partitions it owns and its generation).
    pub subscription: ConsumerProtocolSubscription<'a>,
}

/// A topic to assign and its partition count (partitions `0..partitions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopicPartitions<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Number of partitions.
    pub partitions: i32,
}

/// How members give up partitions during a rebalance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RebalanceProtocol {
    /// Every member revokes everything before the group re-forms.
    Eager,
    /// Members keep what they keep and revoke only what moves (KIP-429).
    Cooperative,
}

/// Receives an assignment one partition at a time.
pub trait AssignmentSink {
    /// Gives `partition` of `topic` to `members[member]`.
    fn assign(&mut self, member: usize, topic: &str, partition: i32) -> Result<()>;
}

impl<F: FnMut(usize, &str, i32) -> Result<()>> AssignmentSink for F {
    fn assign(&mut self, member: usize, topic: &str, partition: i32) -> Result<()> {
        self(member, topic, partition)
    }
}

/// A partition assignment strategy.
pub trait Assignor {
    /// The protocol name sent in JoinGroup (must match other clients').
    fn name(&self) -> &'static str;
    /// Eager or cooperative rebalancing.
    fn protocol(&self) -> RebalanceProtocol;
    /// Assigns `topics` (sorted by name, no duplicates) to `members`.
    ///
    /// Returns how many partitions were held back because they are moving
    /// between members (cooperative only): their current owner must revoke
    /// them first, and a follow-up rebalance assigns them.
    fn assign(
        &self,
        members: &[GroupMember<'_>],
        topics: &[TopicPartitions<'_>],
        scratch: &mut [u32],
        sink: &mut dyn AssignmentSink,
    ) -> Result<usize>;
}

/// Scratch words every assignor here needs for a group of `members` members
/// and `topics` topics holding `partitions` partitions in all.
pub const fn scratch_len(members: usize, topics: usize, partitions: usize) -> usize {
    2 * members + 2 * partitions + (topics + 1) + (members * topics).div_ceil(32)
}

/// No member / "unowned" in the owner tables.
const NONE: u32 = u32::MAX;

/// The scratch slice cut into the tables the algorithms use.
struct Tables<'s> {
    /// Member indices in Java's sort order (static members by instance id, then by member id).
    order: &'s mut [u32],
    /// Partitions per member.
    counts: &'s mut [u32],
    /// Owner (member index or NONE) per global partition (topics in order, then partition).
    owner: &'s mut [u32],
    /// Owner before this assignment (cooperative bookkeeping).
    previous: &'s mut [u32],
    /// `offsets[t]` = global index of topic t's partition 0; `offsets[T]` = total.
    offsets: &'s mut [u32],
    /// Bit `m * T + t` set when member m subscribes to topic t.
    subscribed: &'s mut [u32],
    topics: usize,
}

impl<'s> Tables<'s> {
    fn new(
        members: &[GroupMember<'_>],
        topics: &[TopicPartitions<'_>],
        scratch: &'s mut [u32],
    ) -> Result<Self> {
        let (m, t) = (members.len(), topics.len());
        if m >= NONE as usize {
            return Err(Error::TooLarge {
                what: crate::Limit::GroupMembers,
                size: m,
                limit: NONE as usize - 1,
            });
        }
        let mut total = 0usize;
        for (i, topic) in topics.iter().enumerate() {
            if i > 0 && topics[i - 1].topic >= topic.topic {
                return Err(Error::Malformed(
                    "assignor topics must be sorted by name without duplicates",
                ));
            }
            total += usize::try_from(topic.partitions).map_err(|_| Error::InvalidLength)?;
        }
        let need = scratch_len(m, t, total);
        if scratch.len() < need {
            return Err(Error::TooLarge {
                what: crate::Limit::Scratch,
                size: need,
                limit: scratch.len(),
            });
        }
        let (order, rest) = scratch.split_at_mut(m);
        let (counts, rest) = rest.split_at_mut(m);
        let (owner, rest) = rest.split_at_mut(total);
        let (previous, rest) = rest.split_at_mut(total);
        let (offsets, rest) = rest.split_at_mut(t + 1);
        let subscribed = &mut rest[..(m * t).div_ceil(32)];
        let tables = Tables {
            order,
            counts,
            owner,
            previous,
            offsets,
            subscribed,
            topics: t,
        };
        tables.counts.fill(0);
        tables.owner.fill(NONE);
        tables.previous.fill(NONE);
        tables.subscribed.fill(0);
        let mut at = 0u32;
        for (i, topic) in topics.iter().enumerate() {
            tables.offsets[i] = at;
            at += topic.partitions as u32;
        }
        tables.offsets[t] = at;
        for (i, slot) in tables.order.iter_mut().enumerate() {
            *slot = i as u32;
        }
        tables.order.sort_unstable_by(|&a, &b| {
            java_member_order(&members[a as usize], &members[b as usize])
        });
        for (mi, member) in members.iter().enumerate() {
            for name in member.subscription.topics.iter() {
                if let Some(ti) = topic_index(topics, name) {
                    let bit = mi * t + ti;
                    tables.subscribed[bit / 32] |= 1 << (bit % 32);
                }
            }
        }
        Ok(tables)
    }

    fn is_subscribed(&self, member: u32, topic: usize) -> bool {
        let bit = member as usize * self.topics + topic;
        self.subscribed[bit / 32] & (1 << (bit % 32)) != 0
    }

    /// The topic index of global partition `gp`.
    fn topic_of(&self, gp: usize) -> usize {
        // offsets is ascending; the last offset <= gp names the topic (empty topics share offsets).
        self.offsets[..self.topics].partition_point(|&o| o as usize <= gp) - 1
    }

    /// Gives each partition that `which` members claim (their
    /// subscription's owned partitions, still subscribed and existing) to
    /// its first claimant in member order, unless an earlier call gave it.
    fn claim(
        &mut self,
        members: &[GroupMember<'_>],
        topics: &[TopicPartitions<'_>],
        which: impl Fn(&GroupMember<'_>) -> bool,
    ) {
        for i in 0..self.order.len() {
            let m = self.order[i];
            let member = &members[m as usize];
            if !which(member) {
                continue;
            }
            for owned in member.subscription.owned_partitions.iter() {
                let Some(t) = topic_index(topics, owned.topic) else {
                    continue;
                };
                if !self.is_subscribed(m, t) {
                    continue;
                }
                for p in owned.partitions.iter() {
                    if p < 0 || p >= topics[t].partitions {
                        continue;
                    }
                    let gp = self.offsets[t] as usize + p as usize;
                    if self.owner[gp] == NONE {
                        self.owner[gp] = m;
                        self.previous[gp] = m;
                        self.counts[m as usize] += 1;
                    }
                }
            }
        }
    }

    /// The least-loaded member subscribed to topic `t` (ties go to the earliest in order).
    fn least_loaded(&self, t: usize) -> Option<u32> {
        self.order
            .iter()
            .copied()
            .filter(|&m| self.is_subscribed(m, t))
            .min_by_key(|&m| self.counts[m as usize])
    }

    /// Emits the owner table, holding back partitions whose owner changed
    /// (their previous owner must revoke them first, KIP-429); returns how many.
    fn emit_cooperative(
        &self,
        topics: &[TopicPartitions<'_>],
        sink: &mut dyn AssignmentSink,
    ) -> Result<usize> {
        let mut held_back = 0;
        for gp in 0..self.owner.len() {
            let owner = self.owner[gp];
            if owner == NONE {
                continue;
            }
            if self.previous[gp] != NONE && self.previous[gp] != owner {
                held_back += 1;
                continue;
            }
            let t = self.topic_of(gp);
            sink.assign(
                owner as usize,
                topics[t].topic,
                (gp - self.offsets[t] as usize) as i32,
            )?;
        }
        Ok(held_back)
    }
}

/// The Java client's `MemberInfo` order: static members first, by instance
/// id; then dynamic members by member id.
fn java_member_order(a: &GroupMember<'_>, b: &GroupMember<'_>) -> Ordering {
    match (a.group_instance_id, b.group_instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.member_id.cmp(b.member_id),
    }
}

fn topic_index(topics: &[TopicPartitions<'_>], name: &str) -> Option<usize> {
    topics.binary_search_by(|t| t.topic.cmp(name)).ok()
}

/// The Java `RangeAssignor` (`"range"`): per topic, consecutive ranges of
/// partitions to the subscribed members in order, the first `n % c` getting
/// one extra. Eager.
#[derive(Clone, Copy, Debug, Default)]
pub struct Range;

impl Assignor for Range {
    fn name(&self) -> &'static str {
        "range"
    }
    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }
    fn assign(
        &self,
        members: &[GroupMember<'_>],
        topics: &[TopicPartitions<'_>],
        scratch: &mut [u32],
        sink: &mut dyn AssignmentSink,
    ) -> Result<usize> {
        let tables = Tables::new(members, topics, scratch)?;
        for (t, topic) in topics.iter().enumerate() {
            let consumers = tables
                .order
                .iter()
                .filter(|&&m| tables.is_subscribed(m, t))
                .count() as i32;
            if consumers == 0 {
                continue;
            }
            let (per, extra) = (topic.partitions / consumers, topic.partitions % consumers);
            let subscribed = tables
                .order
                .iter()
                .copied()
                .filter(|&m| tables.is_subscribed(m, t));
            for (i, m) in subscribed.enumerate() {
                let i = i as i32;
                let start = per * i + i.min(extra);
                let len = per + i32::from(i < extra);
                for p in start..start + len {
                    sink.assign(m as usize, topic.topic, p)?;
                }
            }
        }
        Ok(0)
    }
}

/// The Java `RoundRobinAssignor` (`"roundrobin"`): all partitions sorted by
/// topic then partition, dealt in turn to the members in order, skipping
/// members not subscribed to the partition's topic. Eager.
#[derive(Clone, Copy, Debug, Default)]
pub struct RoundRobin;

impl Assignor for RoundRobin {
    fn name(&self) -> &'static str {
        "roundrobin"
    }
    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }
    fn assign(
        &self,
        members: &[GroupMember<'_>],
        topics: &[TopicPartitions<'_>],
        scratch: &mut [u32],
        sink: &mut dyn AssignmentSink,
    ) -> Result<usize> {
        let tables = Tables::new(members, topics, scratch)?;
        let mut cursor = 0usize;
        for (t, topic) in topics.iter().enumerate() {
            if !tables.order.iter().any(|&m| tables.is_subscribed(m, t)) {
                continue;
            }
            for p in 0..topic.partitions {
                while !tables.is_subscribed(tables.order[cursor % members.len()], t) {
                    cursor += 1;
                }
                sink.assign(
                    tables.order[cursor % members.len()] as usize,
                    topic.topic,
                    p,
                )?;
                cursor += 1;
            }
        }
        Ok(0)
    }
}

/// `"cooperative-sticky"` (Java's `CooperativeStickyAssignor`, librdkafka's
/// `cooperative-sticky`): as balanced as subscriptions allow, moving as few
/// partitions as possible, and never handing a partition straight from one
/// member to another in the same rebalance (KIP-429).
///
/// Members' claims come from their subscription's `owned_partitions` and
/// its generation: a partition claimed in two generations stays with the
/// newer claimant; an older claim that nobody newer contests is kept (its
/// member missed a SyncGroup but still reads the partition). The algorithm:
/// keep those claims, give unowned partitions to the least-loaded subscribed member, then
/// move partitions one at a time from the most loaded member to a less-loaded
/// subscribed member while that lowers the imbalance (so the result is
/// balanced: no single move could improve it, and no member both gives and
/// receives). Partitions whose owner changed are held back this round.
#[derive(Clone, Copy, Debug, Default)]
pub struct CooperativeSticky;

impl Assignor for CooperativeSticky {
    fn name(&self) -> &'static str {
        "cooperative-sticky"
    }
    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Cooperative
    }
    fn assign(
        &self,
        members: &[GroupMember<'_>],
        topics: &[TopicPartitions<'_>],
        scratch: &mut [u32],
        sink: &mut dyn AssignmentSink,
    ) -> Result<usize> {
        let mut tables = Tables::new(members, topics, scratch)?;

        // 1. Keep claims, generation by generation from the newest: a
        // partition goes to its newest claimant. Older claims nobody newer
        // contests are kept as well: a member that missed the last
        // SyncGroup still reads what it claims, and handing that to another
        // member in this round would have two members read it (Java's
        // leader refuses such an assignment, validateCooperativeAssignment).
        let generation = |m: &GroupMember<'_>| m.subscription.generation_id;
        let mut claims = members.iter().map(generation).max();
        while let Some(current) = claims {
            tables.claim(members, topics, |member| generation(member) == current);
            claims = members
                .iter()
                .map(generation)
                .filter(|g| *g < current)
                .max();
        }

        // 2. Unowned partitions to the least-loaded subscribed member.
        for gp in 0..tables.owner.len() {
            if tables.owner[gp] != NONE {
                continue;
            }
            if let Some(m) = tables.least_loaded(tables.topic_of(gp)) {
                tables.owner[gp] = m;
                tables.counts[m as usize] += 1;
            }
        }

        // 3. Balance: move one partition at a time from the most loaded
        // member that has one to give to a subscribed member holding at least
        // two fewer (the least loaded). Taking from the most loaded first
        // never moves a partition onto a member that is itself giving
        // partitions away, so no more partitions move than balance needs.
        // Each move lowers the sum of squared counts, so this ends; the
        // limit only guards against a bug.
        let limit = tables.owner.len() * tables.owner.len() / 2 + 1;
        for _ in 0..limit {
            let mut best: Option<(usize, u32)> = None;
            for gp in 0..tables.owner.len() {
                let from = tables.owner[gp];
                if from == NONE {
                    continue;
                }
                let Some(to) = tables.least_loaded(tables.topic_of(gp)) else {
                    continue;
                };
                if tables.counts[to as usize] + 1 >= tables.counts[from as usize] {
                    continue;
                }
                let better = best.is_none_or(|(b, _)| {
                    tables.counts[from as usize] > tables.counts[tables.owner[b] as usize]
                });
                if better {
                    best = Some((gp, to));
                }
            }
            let Some((gp, to)) = best else {
                break;
            };
            let from = tables.owner[gp];
            tables.owner[gp] = to;
            tables.counts[from as usize] -= 1;
            tables.counts[to as usize] += 1;
        }

        // 4. Emit, holding back partitions that change owner.
        tables.emit_cooperative(topics, sink)
    }
}

#[cfg(test)]
mod tests;
