//! Committed offsets: OffsetCommit's checks and storage, OffsetFetch's reads.

use std::time::Instant;

use microkafka_core::ErrorCode;

use super::{Group, GroupState, Groups};
use crate::ids::Ids;

/// A committed offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Committed {
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
    pub(crate) metadata: Option<String>,
}

/// Who commits: a group member of a generation, or (generation -1, or
/// OffsetCommit v0) a client outside any group.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Commit<'a> {
    pub(crate) group_id: &'a str,
    pub(crate) generation: i32,
    pub(crate) member_id: &'a str,
    pub(crate) instance_id: Option<&'a str>,
}

/// Kafka's default `offset.metadata.max.bytes`.
const MAX_METADATA: usize = 4096;

impl Groups {
    /// Checks whether `commit` may store offsets now, in the order of Kafka
    /// 4.x's group coordinator (`OffsetMetadataManager.validateOffsetCommit`):
    /// generation -1 commits outside any group (creating it when unknown,
    /// whatever the member id, an empty group id included), and is accepted
    /// while the group is empty; otherwise an unknown group is
    /// `GROUP_ID_NOT_FOUND` (the caller answers `ILLEGAL_GENERATION` before
    /// OffsetCommit v9), then the member and generation checks apply.
    pub(crate) fn check_commit(
        &mut self,
        commit: &Commit<'_>,
        ids: &mut Ids,
        now: Instant,
    ) -> Result<(), ErrorCode> {
        let simple = commit.generation < 0;
        let cx = match self.cx(commit.group_id, ids, now, simple) {
            Err(ErrorCode::UNKNOWN_MEMBER_ID) => return Err(ErrorCode::GROUP_ID_NOT_FOUND),
            other => other?,
        };
        if cx.fenced(commit.member_id, commit.instance_id) {
            return Err(ErrorCode::FENCED_INSTANCE_ID);
        }
        if simple && cx.group.state == GroupState::Empty {
            return Ok(());
        }
        if let Some(error) =
            cx.check_member(commit.member_id, commit.instance_id, commit.generation)
        {
            return Err(error);
        }
        match cx.group.state {
            // The generation's assignment is not out yet.
            GroupState::CompletingRebalance => Err(ErrorCode::REBALANCE_IN_PROGRESS),
            _ => Ok(()),
        }
    }

    /// Stores one offset (after [`check_commit`](Self::check_commit) said yes).
    pub(crate) fn store_offset(
        &mut self,
        group_id: &str,
        topic: &str,
        partition: i32,
        committed: Committed,
    ) -> ErrorCode {
        self.store(group_id, None, topic, partition, committed)
    }

    /// Stores one offset committed in producer `producer_id`'s open
    /// transaction (after [`check_commit`](Self::check_commit) said yes):
    /// pending until the transaction ends.
    pub(crate) fn store_txn_offset(
        &mut self,
        group_id: &str,
        producer_id: i64,
        topic: &str,
        partition: i32,
        committed: Committed,
    ) -> ErrorCode {
        self.store(group_id, Some(producer_id), topic, partition, committed)
    }

    /// Stores one offset in the group's committed offsets, or in
    /// `producer_id`'s pending ones.
    fn store(
        &mut self,
        group_id: &str,
        producer_id: Option<i64>,
        topic: &str,
        partition: i32,
        committed: Committed,
    ) -> ErrorCode {
        if committed
            .metadata
            .as_ref()
            .is_some_and(|m| m.len() > MAX_METADATA)
        {
            return ErrorCode::OFFSET_METADATA_TOO_LARGE;
        }
        let Some(group) = self.groups.get_mut(group_id) else {
            return ErrorCode::UNKNOWN_MEMBER_ID;
        };
        let offsets = match producer_id {
            None => &mut group.offsets,
            Some(id) => group.pending_txn.entry(id).or_default(),
        };
        offsets.insert((topic.to_owned(), partition), committed);
        ErrorCode::NONE
    }

    /// Producer `producer_id`'s transaction ended: its pending offsets are
    /// committed, or dropped.
    pub(crate) fn complete_txn(&mut self, group_id: &str, producer_id: i64, commit: bool) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if let Some(pending) = group.pending_txn.remove(&producer_id) {
            if commit {
                group.offsets.extend(pending);
            }
        }
    }

    /// True while an open transaction has an offset for this partition.
    pub(crate) fn has_pending(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        self.groups.get(group_id).is_some_and(|g| {
            g.pending_txn
                .values()
                .any(|p| p.contains_key(&(topic.to_owned(), partition)))
        })
    }

    /// The committed offset of one partition, if any.
    pub(crate) fn committed(
        &self,
        group_id: &str,
        topic: &str,
        partition: i32,
    ) -> Option<&Committed> {
        self.groups
            .get(group_id)?
            .offsets
            .get(&(topic.to_owned(), partition))
    }

    /// Every committed offset of a group, by topic then partition.
    pub(crate) fn all_committed(
        &self,
        group_id: &str,
    ) -> impl Iterator<Item = (&str, i32, &Committed)> {
        self.groups
            .get(group_id)
            .into_iter()
            .flat_map(|g: &Group| g.offsets.iter().map(|((t, p), c)| (t.as_str(), *p, c)))
    }
}
