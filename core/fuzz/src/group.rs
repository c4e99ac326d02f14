//! Well-formed coordinator answers for the `group_member` target, built from
//! input bytes: error codes from the ones the member reacts to, ids and
//! assignments from small sets, offsets echoing what the member asked.

use microkafka_core::group::GroupRequest;
use microkafka_core::protocol::messages::*;
use microkafka_core::protocol::{ApiKey, Message};
use microkafka_core::wire::{Array, Writer};
use microkafka_core::ErrorCode;

use crate::{encode, version_of, Input};

/// The member's group id and topics.
pub const GROUP: &str = "g";
/// The topics the member subscribes to.
pub const TOPICS: [&str; 2] = ["t0", "t1"];

const MEMBER_IDS: [&str; 3] = ["", "m-1", "m-2"];
const PROTOCOLS: [Option<&str>; 5] = [
    Some("range"),
    Some("roundrobin"),
    Some("cooperative-sticky"),
    Some("other"),
    None,
];
const ERRORS: [ErrorCode; 16] = [
    ErrorCode::NONE,
    ErrorCode::NONE,
    ErrorCode::NONE,
    ErrorCode::REBALANCE_IN_PROGRESS,
    ErrorCode::ILLEGAL_GENERATION,
    ErrorCode::UNKNOWN_MEMBER_ID,
    ErrorCode::NOT_COORDINATOR,
    ErrorCode::COORDINATOR_NOT_AVAILABLE,
    ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
    ErrorCode::MEMBER_ID_REQUIRED,
    ErrorCode::FENCED_INSTANCE_ID,
    ErrorCode::GROUP_AUTHORIZATION_FAILED,
    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
    ErrorCode::OFFSET_METADATA_TOO_LARGE,
    ErrorCode::UNSTABLE_OFFSET_COMMIT,
    ErrorCode::INCONSISTENT_GROUP_PROTOCOL,
];

/// What an echoing answer needs of a request: `(topic, partition, offset)`
/// for each partition an OffsetCommit or OffsetFetch names.
pub fn partitions_of(request: &GroupRequest<'_>) -> Vec<(String, i32, i64)> {
    let mut out = Vec::new();
    match request {
        GroupRequest::OffsetCommit(r) => {
            for t in r.topics.iter() {
                for p in t.partitions.iter() {
                    out.push((t.name.to_owned(), p.partition_index, p.committed_offset));
                }
            }
        }
        GroupRequest::OffsetFetch(r) => {
            for t in r.topics.iter().flat_map(|a| a.iter()) {
                for p in t.partition_indexes.iter() {
                    out.push((t.name.to_owned(), p, -1));
                }
            }
        }
        _ => {}
    }
    out
}

fn error(input: &mut Input<'_>) -> ErrorCode {
    match input.u8() {
        b @ 0..=0xef => ERRORS[usize::from(b) % ERRORS.len()],
        _ => ErrorCode(input.u16() as i16),
    }
}

fn body<'a, R: Message<'a>>(
    input: &mut Input<'_>,
    make: impl FnOnce(i16) -> R,
) -> Option<(i16, Vec<u8>)> {
    let version = version_of::<R>(u16::from(input.u8()));
    let value = make(version);
    Some((version, encode(&value, R::wire_version(version).ok()?)?))
}

fn subscription(input: &mut Input<'_>) -> Vec<u8> {
    let topics = &TOPICS[..usize::from(input.u8() % 3)];
    let owned: Vec<i32> = input
        .short_bytes()
        .iter()
        .take(4)
        .map(|&p| i32::from(p % 8))
        .collect();
    let owned = [SubscriptionTopicPartition {
        topic: TOPICS[0],
        partitions: Array::new(&owned),
    }];
    let s = ConsumerProtocolSubscription {
        topics: Array::new(topics),
        owned_partitions: Array::new(&owned),
        generation_id: i32::from(input.u8()) - 1,
        ..Default::default()
    };
    let version = i16::from(input.u8() % 4);
    let mut buf = vec![0u8; 256];
    let mut w = Writer::new(&mut buf);
    encode_subscription(&mut w, version, &s).expect("a small subscription");
    let n = w.position();
    buf.truncate(n);
    buf
}

fn assignment(input: &mut Input<'_>) -> Vec<u8> {
    match input.u8() % 4 {
        0 => Vec::new(),
        1 => input.short_bytes().to_vec(),
        _ => {
            let topic = input.pick(&[TOPICS[0], TOPICS[1], "elsewhere"]);
            let n = usize::from(input.u8() % 12);
            let partitions: Vec<i32> = (0..n).map(|_| i32::from(input.u8() as i8) % 10).collect();
            let topics = [AssignmentTopicPartition {
                topic,
                partitions: Array::new(&partitions),
            }];
            let a = ConsumerProtocolAssignment {
                assigned_partitions: Array::new(&topics),
                user_data: None,
            };
            let mut buf = vec![0u8; 256];
            let mut w = Writer::new(&mut buf);
            encode_assignment(&mut w, i16::from(input.u8() % 4), &a).expect("a small assignment");
            let n = w.position();
            buf.truncate(n);
            buf
        }
    }
}

/// A well-formed answer of `api` (version, body), or `None` when the
/// values chosen cannot be encoded at the version chosen.
pub fn answer(
    input: &mut Input<'_>,
    api: ApiKey,
    asked: &[(String, i32, i64)],
) -> Option<(i16, Vec<u8>)> {
    let e = error(input);
    match api {
        ApiKey::FindCoordinator => {
            let long = "h".repeat(300);
            let host = input.pick(&["127.0.0.1", "", long.as_str()]);
            let (node_id, port) = (i32::from(input.u8() % 4), 9092);
            let key = input.pick(&[GROUP, "other"]);
            let coordinator = [FindCoordinatorCoordinator {
                key,
                node_id,
                host,
                port,
                error_code: e,
                error_message: None,
            }];
            let n = usize::from(input.u8() % 2);
            body(input, |_| FindCoordinatorResponse {
                error_code: e,
                node_id,
                host,
                port,
                coordinators: Array::new(&coordinator[..n]),
                ..Default::default()
            })
        }
        ApiKey::JoinGroup => {
            let member_id = input.pick(&MEMBER_IDS);
            let leader = input.pick(&MEMBER_IDS);
            let protocol_name = input.pick(&PROTOCOLS);
            let generation_id = i32::from(input.u8());
            let skip_assignment = input.u8().is_multiple_of(8);
            let metadata: Vec<(&str, Vec<u8>)> = (0..input.u8() % 4)
                .map(|_| (input.pick(&MEMBER_IDS), subscription(input)))
                .collect();
            let members: Vec<JoinGroupResponseMember<'_>> = metadata
                .iter()
                .map(|(member_id, metadata)| JoinGroupResponseMember {
                    member_id,
                    group_instance_id: None,
                    metadata,
                })
                .collect();
            body(input, |_| JoinGroupResponse {
                error_code: e,
                generation_id,
                protocol_type: Some("consumer"),
                protocol_name,
                leader,
                skip_assignment,
                member_id,
                members: Array::new(&members),
                ..Default::default()
            })
        }
        ApiKey::SyncGroup => {
            let assignment = assignment(input);
            body(input, |_| SyncGroupResponse {
                error_code: e,
                assignment: &assignment,
                ..Default::default()
            })
        }
        ApiKey::Heartbeat => body(input, |_| HeartbeatResponse {
            error_code: e,
            ..Default::default()
        }),
        ApiKey::LeaveGroup => body(input, |_| LeaveGroupResponse {
            error_code: e,
            ..Default::default()
        }),
        ApiKey::OffsetCommit => {
            let errors: Vec<ErrorCode> = asked.iter().map(|_| error(input)).collect();
            let parts: Vec<Vec<OffsetCommitResponsePartition>> = TOPICS
                .iter()
                .map(|t| {
                    asked
                        .iter()
                        .zip(&errors)
                        .filter(|((topic, ..), _)| topic == t)
                        .map(|((_, p, _), &error_code)| OffsetCommitResponsePartition {
                            partition_index: *p,
                            error_code,
                        })
                        .collect()
                })
                .collect();
            let topics: Vec<OffsetCommitResponseTopic<'_>> = TOPICS
                .iter()
                .zip(&parts)
                .map(|(name, p)| OffsetCommitResponseTopic {
                    name,
                    partitions: Array::new(p),
                })
                .collect();
            body(input, |_| OffsetCommitResponse {
                topics: Array::new(&topics),
                ..Default::default()
            })
        }
        ApiKey::OffsetFetch => {
            let answers: Vec<(i64, ErrorCode)> = asked
                .iter()
                .map(|_| (i64::from(input.u8() as i8), error(input)))
                .collect();
            let old: Vec<Vec<OffsetFetchResponsePartition<'_>>> = TOPICS
                .iter()
                .map(|t| {
                    asked
                        .iter()
                        .zip(&answers)
                        .filter(|((topic, ..), _)| topic == t)
                        .map(|((_, p, _), &(committed_offset, error_code))| {
                            OffsetFetchResponsePartition {
                                partition_index: *p,
                                committed_offset,
                                error_code,
                                ..Default::default()
                            }
                        })
                        .collect()
                })
                .collect();
            let new: Vec<Vec<OffsetFetchResponsePartitions<'_>>> = old
                .iter()
                .map(|ps| {
                    ps.iter()
                        .map(|p| OffsetFetchResponsePartitions {
                            partition_index: p.partition_index,
                            committed_offset: p.committed_offset,
                            error_code: p.error_code,
                            ..Default::default()
                        })
                        .collect()
                })
                .collect();
            let old_topics: Vec<_> = TOPICS
                .iter()
                .zip(&old)
                .map(|(name, p)| OffsetFetchResponseTopic {
                    name,
                    partitions: Array::new(p),
                })
                .collect();
            let new_topics: Vec<_> = TOPICS
                .iter()
                .zip(&new)
                .map(|(name, p)| OffsetFetchResponseTopics {
                    name,
                    partitions: Array::new(p),
                })
                .collect();
            let group_id = input.pick(&[GROUP, "other"]);
            let group_error = error(input);
            let groups = [OffsetFetchResponseGroup {
                group_id,
                topics: Array::new(&new_topics),
                error_code: group_error,
            }];
            body(input, |_| OffsetFetchResponse {
                topics: Array::new(&old_topics),
                error_code: e,
                groups: Array::new(&groups),
                ..Default::default()
            })
        }
        _ => None,
    }
}
