//! One partition's position, requests and answers.

extern crate std;

use std::vec::Vec;

use super::*;
use crate::consumer::{FetchErrorAction, StartOffset};
use crate::protocol::messages::{
    FetchPartitionData, FetchRequest, FetchResponse, FetchableTopicResponse,
    ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsResponse,
    ListOffsetsTopicResponse,
};
use crate::protocol::Message;
use crate::wire::{Array, Reader, Uuid, Writer};
use crate::ErrorCode;

/// `m` encoded at `version`: what a broker reads (or a client decodes).
fn encoded<'a, M: Message<'a>>(m: &M, version: i16) -> Vec<u8> {
    let v = M::wire_version(version).unwrap();
    let mut out = std::vec![0u8; m.encoded_len(v).unwrap()];
    m.encode(&mut Writer::new(&mut out), v).unwrap();
    out
}

fn decoded<'a, M: Message<'a>>(bytes: &'a [u8], version: i16) -> M {
    M::decode(&mut Reader::new(bytes), M::wire_version(version).unwrap()).unwrap()
}

#[test]
fn a_position_is_looked_up_then_advanced() {
    let mut p = Position::new(StartOffset::First);
    assert_eq!((p.offset(), p.lookup(), p.value()), (None, Some(-2), -2));
    assert_eq!(p.lag(100), 0);
    p.advance(50); // not before the offset is known
    assert_eq!(p.lookup(), Some(-2));
    p.found(40);
    assert_eq!((p.offset(), p.lookup()), (Some(40), None));
    p.advance(45);
    p.advance(43); // never back
    assert_eq!(p.offset(), Some(45));
    assert_eq!(p.lag(100), 55);
    assert_eq!(p.lag(10), 0);
    p.seek(-1);
    assert_eq!(p.lookup(), Some(-1));
    p.seek(-7);
    assert_eq!(p.lookup(), Some(-2), "any lookup below -1 is the earliest");
    p.seek(3);
    assert_eq!(p.offset(), Some(3));
    p.seek_to(StartOffset::Last);
    assert_eq!(p.lookup(), Some(-1));
    assert_eq!(Position::at(9, StartOffset::Last).offset(), Some(9));
    assert_eq!(Position::at(-1, StartOffset::First).lookup(), Some(-1));
}

#[test]
fn a_fetch_error_has_one_decision() {
    let cases = [
        (ErrorCode::NONE, FetchErrorAction::Proceed),
        (
            ErrorCode::OFFSET_OUT_OF_RANGE,
            FetchErrorAction::ResetOffset,
        ),
        (
            ErrorCode::FENCED_LEADER_EPOCH,
            FetchErrorAction::RefreshMetadata,
        ),
        (
            ErrorCode::UNKNOWN_LEADER_EPOCH,
            FetchErrorAction::RefreshMetadata,
        ),
        (
            ErrorCode::NOT_LEADER_OR_FOLLOWER,
            FetchErrorAction::RefreshMetadata,
        ),
        (
            ErrorCode::OFFSET_NOT_AVAILABLE,
            FetchErrorAction::RefreshMetadata,
        ),
        (ErrorCode::REQUEST_TIMED_OUT, FetchErrorAction::Retry),
        (
            ErrorCode::TOPIC_AUTHORIZATION_FAILED,
            FetchErrorAction::Fail,
        ),
    ];
    for (code, action) in cases {
        let mut p = Position::at(70, StartOffset::Last);
        p.set_leader_epoch(4);
        assert_eq!(p.on_error(code), action, "{code:?}");
        if action == FetchErrorAction::ResetOffset {
            assert_eq!(p.lookup(), Some(-1), "reset to the configured start");
        } else {
            assert_eq!(p.offset(), Some(70), "{code:?} keeps the offset");
        }
        assert_eq!(p.leader_epoch(), 4);
    }
}

#[test]
fn a_fetch_names_its_topic_by_name_or_id_and_carries_the_epoch() {
    let limits = FetchLimits {
        max_wait_ms: 500,
        min_bytes: 1,
        max_bytes: 4096,
        read_committed: true,
    };
    let id = Uuid([7; 16]);
    let fetch = PartitionFetch::new("events", id, 3, 1200, 5, limits);
    let topic = fetch.topic();
    let request = fetch.request(&topic);
    for version in [4, 12, 13, 17] {
        let bytes = encoded(&request, version);
        let back: FetchRequest<'_> = decoded(&bytes, version);
        assert_eq!(back.max_wait_ms, 500);
        assert_eq!(back.min_bytes, 1);
        assert_eq!(back.max_bytes, 4096);
        assert_eq!(back.isolation_level, 1);
        let t = back.topics.iter().next().unwrap();
        if version >= 13 {
            assert_eq!(t.topic_id, id);
        } else {
            assert_eq!(t.topic, "events");
        }
        let p = t.partitions.iter().next().unwrap();
        assert_eq!(
            (p.partition, p.fetch_offset, p.partition_max_bytes),
            (3, 1200, 4096)
        );
        if version >= 9 {
            assert_eq!(p.current_leader_epoch, 5);
        }
        if version >= 7 {
            assert_eq!((back.session_id, back.session_epoch), (0, -1));
        }
    }
}

#[test]
fn a_fetched_partition_is_found_by_name_or_id() {
    let id = Uuid([9; 16]);
    let records: &[u8] = &[1, 2, 3];
    let parts = [
        FetchPartitionData {
            partition_index: 0,
            error_code: ErrorCode::NOT_LEADER_OR_FOLLOWER,
            high_watermark: -1,
            records: Some(records),
            ..Default::default()
        },
        FetchPartitionData {
            partition_index: 1,
            high_watermark: 77,
            last_stable_offset: 70,
            log_start_offset: 2,
            records: Some(records),
            ..Default::default()
        },
    ];
    let topics = [FetchableTopicResponse {
        topic: "events",
        topic_id: id,
        partitions: Array::new(&parts),
    }];
    let response = FetchResponse {
        responses: Array::new(&topics),
        ..Default::default()
    };
    for version in [4, 12, 13] {
        let bytes = encoded(&response, version);
        let back: FetchResponse<'_> = decoded(&bytes, version);
        let found = FetchedPartition::find(&back, version, "events", id, 1).unwrap();
        assert_eq!(found.error, ErrorCode::NONE);
        assert_eq!(found.high_watermark, 77);
        assert_eq!(found.records, records);
        if version >= 5 {
            assert_eq!((found.last_stable_offset, found.log_start_offset), (70, 2));
        }
        let failed = FetchedPartition::find(&back, version, "events", id, 0).unwrap();
        assert_eq!(failed.error, ErrorCode::NOT_LEADER_OR_FOLLOWER);
        assert!(failed.records.is_empty(), "no records with an error");
        assert!(FetchedPartition::find(&back, version, "events", id, 2).is_err());
        // By name below v13, by id from v13: the other key does not match.
        let (name, other) = if version >= 13 {
            ("other", Uuid::ZERO)
        } else {
            ("other", id)
        };
        assert!(FetchedPartition::find(&back, version, name, other, 1).is_err());
    }
    // A response-level error (v7+) answers for every partition.
    let refused = FetchResponse {
        error_code: ErrorCode::FETCH_SESSION_ID_NOT_FOUND,
        ..Default::default()
    };
    let bytes = encoded(&refused, 7);
    let back: FetchResponse<'_> = decoded(&bytes, 7);
    let found = FetchedPartition::find(&back, 7, "events", id, 1).unwrap();
    assert_eq!(found.error, ErrorCode::FETCH_SESSION_ID_NOT_FOUND);
}

#[test]
fn list_offsets_asks_for_one_partition_and_finds_its_answer() {
    let list = PartitionListOffsets::new("events", 2, -2, 6, true, 1000);
    let topic = list.topic();
    let request = list.request(&topic);
    for version in [0, 1, 4, 10] {
        let bytes = encoded(&request, version);
        let back: ListOffsetsRequest<'_> = decoded(&bytes, version);
        assert_eq!(back.replica_id, -1);
        let t = back.topics.iter().next().unwrap();
        assert_eq!(t.name, "events");
        let p = t.partitions.iter().next().unwrap();
        assert_eq!((p.partition_index, p.timestamp), (2, -2));
        if version >= 2 {
            assert_eq!(back.isolation_level, 1);
        }
        if version >= 4 {
            assert_eq!(p.current_leader_epoch, 6);
        }
        if version >= 10 {
            assert_eq!(back.timeout_ms, 1000);
        }
    }
    let old_style = [31];
    let parts = [
        ListOffsetsPartitionResponse {
            partition_index: 2,
            offset: 31,
            timestamp: 9,
            leader_epoch: 6,
            old_style_offsets: Array::new(&old_style),
            ..Default::default()
        },
        ListOffsetsPartitionResponse {
            partition_index: 3,
            error_code: ErrorCode::OFFSET_NOT_AVAILABLE,
            ..Default::default()
        },
    ];
    let topics = [ListOffsetsTopicResponse {
        name: "events",
        partitions: Array::new(&parts),
    }];
    let response = ListOffsetsResponse {
        topics: Array::new(&topics),
        ..Default::default()
    };
    for version in [0, 1, 4] {
        let bytes = encoded(&response, version);
        let back: ListOffsetsResponse<'_> = decoded(&bytes, version);
        let found = ListedOffset::find(&back, version, "events", 2).unwrap();
        assert_eq!((found.error, found.offset), (ErrorCode::NONE, 31));
        if version >= 4 {
            assert_eq!((found.timestamp, found.leader_epoch), (9, 6));
        }
        let failed = ListedOffset::find(&back, version, "events", 3).unwrap();
        assert_eq!(failed.error, ErrorCode::OFFSET_NOT_AVAILABLE);
        assert!(ListedOffset::find(&back, version, "events", 4).is_err());
        assert!(ListedOffset::find(&back, version, "other", 2).is_err());
    }
}
