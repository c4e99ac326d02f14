//! DeleteGroups and OffsetDelete: what the coordinator lets an admin remove.

use std::collections::BTreeSet;

use microkafka_core::protocol::messages::decode_subscription;
use microkafka_core::ErrorCode;

use super::{GroupState, Groups};

impl Groups {
    /// Deletes a group and its offsets, as Kafka 4.x's coordinator: an
    /// unknown group is `GROUP_ID_NOT_FOUND`, one with members
    /// `NON_EMPTY_GROUP`.
    pub(crate) fn delete_group(&mut self, group_id: &str) -> ErrorCode {
        let Some(group) = self.groups.get(group_id) else {
            return ErrorCode::GROUP_ID_NOT_FOUND;
        };
        if group.state != GroupState::Empty || !group.members.is_empty() {
            return ErrorCode::NON_EMPTY_GROUP;
        }
        self.groups.remove(group_id);
        ErrorCode::NONE
    }

    /// Checks an OffsetDelete before any partition is looked at: the group's
    /// error, and the topics its members subscribe to (`None`: every topic,
    /// when a subscription does not decode; Kafka is as careful).
    pub(crate) fn check_offset_delete(
        &self,
        group_id: &str,
    ) -> Result<Option<BTreeSet<String>>, ErrorCode> {
        let Some(group) = self.groups.get(group_id) else {
            return Err(ErrorCode::GROUP_ID_NOT_FOUND);
        };
        if group.members.is_empty() {
            return Ok(Some(BTreeSet::new()));
        }
        // A non-consumer group with members keeps every offset.
        if group.protocol_type.as_deref() != Some("consumer") {
            return Err(ErrorCode::NON_EMPTY_GROUP);
        }
        let protocol = group.protocol.as_deref().unwrap_or_default();
        let mut topics = BTreeSet::new();
        for m in &group.members {
            match decode_subscription(m.metadata(protocol)) {
                Ok((_, s)) => topics.extend(s.topics.iter().map(str::to_owned)),
                Err(_) => return Ok(None),
            }
        }
        Ok(Some(topics))
    }

    /// Removes one committed offset (after
    /// [`check_offset_delete`](Self::check_offset_delete)); no offset is no error.
    pub(crate) fn delete_offset(&mut self, group_id: &str, topic: &str, partition: i32) {
        if let Some(g) = self.groups.get_mut(group_id) {
            g.offsets.remove(&(topic.to_owned(), partition));
        }
    }
}
