//! DeleteGroups and OffsetDelete (the group coordinator's admin APIs).

use microkafka_core::protocol::messages::{
    DeletableGroupResult, DeleteGroupsRequest, DeleteGroupsResponse, OffsetDeleteRequest,
    OffsetDeleteResponse, OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;

use super::{Answer, Cx};

pub(crate) fn delete_groups(cx: &mut Cx<'_>, req: DeleteGroupsRequest<'_>) -> Answer {
    let results: Vec<DeletableGroupResult<'_>> = req
        .groups_names
        .iter()
        .map(|group_id| {
            let error_code = cx
                .forced
                .or_else(|| cx.check_coordinator(group_id))
                .unwrap_or_else(|| cx.cluster.groups.delete_group(group_id));
            DeletableGroupResult {
                group_id,
                error_code,
            }
        })
        .collect();
    cx.respond(&DeleteGroupsResponse {
        results: Array::new(&results),
        ..Default::default()
    })
}

pub(crate) fn offset_delete(cx: &mut Cx<'_>, req: OffsetDeleteRequest<'_>) -> Answer {
    let group = req.group_id;
    let checked = match cx.forced.or_else(|| cx.check_coordinator(group)) {
        Some(error) => Err(error),
        None => cx.cluster.groups.check_offset_delete(group),
    };
    let subscribed = match checked {
        Ok(subscribed) => subscribed,
        // A group-level error: no topics in the answer, as Kafka.
        Err(error) => {
            return cx.respond(&OffsetDeleteResponse {
                error_code: error,
                ..Default::default()
            })
        }
    };
    let partitions: Vec<Vec<OffsetDeleteResponsePartition>> = req
        .topics
        .iter()
        .map(|t| {
            let in_use = subscribed.as_ref().is_none_or(|s| s.contains(t.name));
            t.partitions
                .iter()
                .map(|p| {
                    let known = cx
                        .cluster
                        .topics
                        .partition(t.name, p.partition_index)
                        .is_some();
                    let error_code = if !known {
                        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                    } else if in_use {
                        ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC
                    } else {
                        cx.cluster
                            .groups
                            .delete_offset(group, t.name, p.partition_index);
                        ErrorCode::NONE
                    };
                    OffsetDeleteResponsePartition {
                        partition_index: p.partition_index,
                        error_code,
                    }
                })
                .collect()
        })
        .collect();
    let topics: Vec<OffsetDeleteResponseTopic<'_>> = req
        .topics
        .iter()
        .zip(&partitions)
        .map(|(t, parts)| OffsetDeleteResponseTopic {
            name: t.name,
            partitions: Array::new(parts),
        })
        .collect();
    cx.respond(&OffsetDeleteResponse {
        topics: Array::new(&topics),
        ..Default::default()
    })
}
