//! Properties every message type must have, at every version it supports:
//! random values survive encode → decode → encode unchanged, and arbitrary or
//! corrupted bytes fed to the decoder give errors, never panics.

extern crate std;

use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::protocol::Message;
use crate::wire::testing::{assert_round_trip, Arbitrary, Gen};
use crate::wire::{Reader, Writer};

/// Random values of `T` at each of its versions round-trip exactly.
fn round_trips<T>(seed: u64)
where
    T: Message<'static> + Arbitrary + PartialEq,
{
    let mut g = Gen::new(seed);
    for version in T::VERSIONS.min..=T::VERSIONS.max {
        let v = T::wire_version(version).unwrap();
        let value = T::arbitrary(&mut g, v);
        // Leaked so the decoded value may borrow it for 'static, like the input.
        assert_round_trip(
            &value,
            v,
            std::boxed::Box::leak(std::boxed::Box::new(Vec::new())),
        );
    }
}

/// Decoding arbitrary bytes, and every truncation and a bit-flip of a valid
/// encoding, returns a value or an error without panicking.
fn never_panics<T>(seed: u64, noise: &[u8])
where
    T: Message<'static> + Arbitrary,
{
    let mut g = Gen::new(seed);
    for version in T::VERSIONS.min..=T::VERSIONS.max {
        let v = T::wire_version(version).unwrap();
        let noise: &'static [u8] = std::vec::Vec::from(noise).leak();
        let _ = T::decode(&mut Reader::new(noise), v);
        let value = T::arbitrary(&mut g, v);
        let mut buf = std::vec![0u8; value.encoded_len(v).unwrap()];
        value.encode(&mut Writer::new(&mut buf), v).unwrap();
        let buf: &'static mut [u8] = buf.leak();
        let buf: &'static [u8] = buf;
        for cut in 0..buf.len() {
            assert!(
                T::decode(&mut Reader::new(&buf[..cut]), v).is_err(),
                "truncated to {cut} decoded at {v:?}"
            );
        }
        if !buf.is_empty() {
            let at = g.below(buf.len() as u64) as usize;
            let mut flipped = Vec::from(buf);
            flipped[at] ^= 1 << g.below(8);
            if let Ok(decoded) = T::decode(&mut Reader::new(flipped.leak()), v) {
                // Whatever decoded must encode again (lazy arrays were validated).
                let _ = decoded.encoded_len(v);
            }
        }
    }
}

macro_rules! message_properties {
    ($($name:ident => $ty:ty),* $(,)?) => {$(
        mod $name {
            use super::*;
            proptest! {
                #![proptest_config(ProptestConfig::with_cases(64))]
                #[test]
                fn round_trip(seed in any::<u64>()) {
                    round_trips::<$ty>(seed);
                }
                #[test]
                fn decode_never_panics(seed in any::<u64>(), noise in proptest::collection::vec(any::<u8>(), 0..256)) {
                    never_panics::<$ty>(seed, &noise);
                }
            }
        }
    )*};
}

message_properties! {
    api_versions_request => ApiVersionsRequest<'static>,
    api_versions_response => ApiVersionsResponse<'static>,
    produce_request => ProduceRequest<'static>,
    produce_response => ProduceResponse<'static>,
    fetch_request => FetchRequest<'static>,
    fetch_response => FetchResponse<'static>,
    list_offsets_request => ListOffsetsRequest<'static>,
    list_offsets_response => ListOffsetsResponse<'static>,
    metadata_request => MetadataRequest<'static>,
    metadata_response => MetadataResponse<'static>,
    create_topics_request => CreateTopicsRequest<'static>,
    create_topics_response => CreateTopicsResponse<'static>,
    delete_topics_request => DeleteTopicsRequest<'static>,
    delete_topics_response => DeleteTopicsResponse<'static>,
    create_partitions_request => CreatePartitionsRequest<'static>,
    create_partitions_response => CreatePartitionsResponse<'static>,
    find_coordinator_request => FindCoordinatorRequest<'static>,
    find_coordinator_response => FindCoordinatorResponse<'static>,
    join_group_request => JoinGroupRequest<'static>,
    join_group_response => JoinGroupResponse<'static>,
    heartbeat_request => HeartbeatRequest<'static>,
    heartbeat_response => HeartbeatResponse,
    leave_group_request => LeaveGroupRequest<'static>,
    leave_group_response => LeaveGroupResponse<'static>,
    sync_group_request => SyncGroupRequest<'static>,
    sync_group_response => SyncGroupResponse<'static>,
    describe_groups_request => DescribeGroupsRequest<'static>,
    describe_groups_response => DescribeGroupsResponse<'static>,
    list_groups_request => ListGroupsRequest<'static>,
    list_groups_response => ListGroupsResponse<'static>,
    sasl_handshake_request => SaslHandshakeRequest<'static>,
    sasl_handshake_response => SaslHandshakeResponse<'static>,
    init_producer_id_request => InitProducerIdRequest<'static>,
    init_producer_id_response => InitProducerIdResponse,
    sasl_authenticate_request => SaslAuthenticateRequest<'static>,
    sasl_authenticate_response => SaslAuthenticateResponse<'static>,
    offset_commit_request => OffsetCommitRequest<'static>,
    offset_commit_response => OffsetCommitResponse<'static>,
    offset_fetch_request => OffsetFetchRequest<'static>,
    offset_fetch_response => OffsetFetchResponse<'static>,
    add_partitions_to_txn_request => AddPartitionsToTxnRequest<'static>,
    add_partitions_to_txn_response => AddPartitionsToTxnResponse<'static>,
    add_offsets_to_txn_request => AddOffsetsToTxnRequest<'static>,
    add_offsets_to_txn_response => AddOffsetsToTxnResponse,
    end_txn_request => EndTxnRequest<'static>,
    end_txn_response => EndTxnResponse,
    txn_offset_commit_request => TxnOffsetCommitRequest<'static>,
    txn_offset_commit_response => TxnOffsetCommitResponse<'static>,
    delete_records_request => DeleteRecordsRequest<'static>,
    delete_records_response => DeleteRecordsResponse<'static>,
    describe_configs_request => DescribeConfigsRequest<'static>,
    describe_configs_response => DescribeConfigsResponse<'static>,
    alter_configs_request => AlterConfigsRequest<'static>,
    alter_configs_response => AlterConfigsResponse<'static>,
    delete_groups_request => DeleteGroupsRequest<'static>,
    delete_groups_response => DeleteGroupsResponse<'static>,
    elect_leaders_request => ElectLeadersRequest<'static>,
    elect_leaders_response => ElectLeadersResponse<'static>,
    incremental_alter_configs_request => IncrementalAlterConfigsRequest<'static>,
    incremental_alter_configs_response => IncrementalAlterConfigsResponse<'static>,
    offset_delete_request => OffsetDeleteRequest<'static>,
    offset_delete_response => OffsetDeleteResponse<'static>,
    describe_cluster_request => DescribeClusterRequest,
    describe_cluster_response => DescribeClusterResponse<'static>,
}

/// Concatenates hand-assembled pieces of a golden message.
pub(super) fn cat(pieces: &[&[u8]]) -> Vec<u8> {
    pieces.concat()
}

/// Golden-bytes check: `bytes` decode at `version` to exactly `expected`,
/// consuming every byte, and both `expected` (built from parts) and the decoded
/// value encode back to `bytes`. Returns the decoded value for further checks.
pub(super) fn assert_golden<'a, T>(bytes: &'a [u8], version: i16, expected: &T) -> T
where
    T: Message<'a> + PartialEq,
{
    let v = T::wire_version(version).unwrap();
    let mut r = Reader::new(bytes);
    let decoded = T::decode(&mut r, v).expect("golden bytes decode");
    assert!(r.is_empty(), "decode left {} bytes at {v:?}", r.remaining());
    assert_eq!(&decoded, expected, "decoded value at {v:?}");
    for (what, value) in [("expected", expected), ("decoded", &decoded)] {
        let mut buf = std::vec![0u8; value.encoded_len(v).unwrap()];
        let mut w = Writer::new(&mut buf);
        value.encode(&mut w, v).unwrap();
        assert_eq!(w.written(), bytes, "{what} value re-encoded at {v:?}");
    }
    decoded
}
