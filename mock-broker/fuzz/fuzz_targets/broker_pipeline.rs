//! The mock broker's request pipeline (`Cluster::handle`) fed arbitrary
//! frames on its connections. Byte 0 configures the cluster (bit 0: a SASL
//! user, bit 1: Kafka 4 versions, bit 2: no topic auto-creation); then each
//! step is a control byte and a frame as on the wire (a 4-byte size, then
//! that many bytes, or what is left). Control bits 0-1: the connection (3:
//! close connection 0 and open a new one), bits 2-4: time passed, bit 5:
//! run the timers first, bit 6: take broker 3 down or up.
//!
//! It must never panic; a frame it answers must carry the request's
//! correlation id and decode as that API's response at that version; memory
//! is bounded by libFuzzer's `-rss_limit_mb`.
#![no_main]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use microkafka_core::protocol::frame::{decode_response, split_frame};
use microkafka_core::protocol::messages::*;
use microkafka_core::protocol::versions::codec_versions;
use microkafka_core::protocol::{ApiKey, RequestHeader};
use microkafka_core::wire::Reader;
use microkafka_mock_broker::{Cluster, Config, Outcome, SaslUser, Session};

/// What a request asked: its API, version and correlation id (`None`: no
/// Kafka header, or an unknown API).
type Asked = Option<(ApiKey, i16, i32)>;

const STEPS_MS: [u64; 8] = [0, 1, 10, 100, 1_000, 5_000, 30_000, 600_000];

/// Checks an answer to a request with `header` (`None`: it did not decode).
fn check(frame: &[u8], header: Asked) {
    let (body, used) = split_frame(frame, usize::MAX)
        .expect("a valid size prefix")
        .expect("a whole frame");
    assert_eq!(used, frame.len(), "one frame per answer");
    let Some((api, version, correlation_id)) = header else {
        return; // a SASL v0 token's answer: no Kafka header
    };
    assert_eq!(
        body.get(..4),
        Some(&correlation_id.to_be_bytes()[..]),
        "the request's correlation id"
    );
    macro_rules! decodes {
        ($resp:ty) => {{
            if let Err(e) = decode_response::<$resp>(body, version) {
                panic!("{api:?} v{version} answer does not decode: {e}");
            }
        }};
    }
    match api {
        ApiKey::Produce => decodes!(ProduceResponse<'_>),
        ApiKey::Fetch => decodes!(FetchResponse<'_>),
        ApiKey::ListOffsets => decodes!(ListOffsetsResponse<'_>),
        ApiKey::Metadata => decodes!(MetadataResponse<'_>),
        ApiKey::OffsetCommit => decodes!(OffsetCommitResponse<'_>),
        ApiKey::OffsetFetch => decodes!(OffsetFetchResponse<'_>),
        ApiKey::FindCoordinator => decodes!(FindCoordinatorResponse<'_>),
        ApiKey::JoinGroup => decodes!(JoinGroupResponse<'_>),
        ApiKey::Heartbeat => decodes!(HeartbeatResponse),
        ApiKey::LeaveGroup => decodes!(LeaveGroupResponse<'_>),
        ApiKey::SyncGroup => decodes!(SyncGroupResponse<'_>),
        ApiKey::DescribeGroups => decodes!(DescribeGroupsResponse<'_>),
        ApiKey::ListGroups => decodes!(ListGroupsResponse<'_>),
        ApiKey::SaslHandshake => decodes!(SaslHandshakeResponse<'_>),
        ApiKey::ApiVersions => {
            // Unsupported versions are answered with a v0 body (KIP-511).
            let v = if codec_versions(api).contains(version) {
                version
            } else {
                0
            };
            if decode_response::<ApiVersionsResponse<'_>>(body, v).is_err() {
                decode_response::<ApiVersionsResponse<'_>>(body, 0)
                    .expect("ApiVersions answer decodes");
            }
        }
        ApiKey::CreateTopics => decodes!(CreateTopicsResponse<'_>),
        ApiKey::DeleteTopics => decodes!(DeleteTopicsResponse<'_>),
        ApiKey::InitProducerId => decodes!(InitProducerIdResponse),
        ApiKey::AddPartitionsToTxn => decodes!(AddPartitionsToTxnResponse<'_>),
        ApiKey::AddOffsetsToTxn => decodes!(AddOffsetsToTxnResponse),
        ApiKey::EndTxn => decodes!(EndTxnResponse),
        ApiKey::TxnOffsetCommit => decodes!(TxnOffsetCommitResponse<'_>),
        ApiKey::SaslAuthenticate => decodes!(SaslAuthenticateResponse<'_>),
        ApiKey::CreatePartitions => decodes!(CreatePartitionsResponse<'_>),
        ApiKey::DeleteRecords => decodes!(DeleteRecordsResponse<'_>),
        ApiKey::DescribeConfigs => decodes!(DescribeConfigsResponse<'_>),
        ApiKey::AlterConfigs => decodes!(AlterConfigsResponse<'_>),
        ApiKey::DeleteGroups => decodes!(DeleteGroupsResponse<'_>),
        ApiKey::ElectLeaders => decodes!(ElectLeadersResponse<'_>),
        ApiKey::IncrementalAlterConfigs => decodes!(IncrementalAlterConfigsResponse<'_>),
        ApiKey::OffsetDelete => decodes!(OffsetDeleteResponse<'_>),
        ApiKey::DescribeCluster => decodes!(DescribeClusterResponse<'_>),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let config = Config {
        seed: Some(7),
        kafka4: flags & 2 != 0,
        auto_create_topics: flags & 4 == 0,
        sasl_users: if flags & 1 != 0 {
            vec![SaslUser::new("u", "p")]
        } else {
            Vec::new()
        },
        ..Config::with_brokers(3)
    };
    let mut cluster = Cluster::new(config);
    cluster.create_topic("golden", 2).expect("a new topic");
    let mut now = Instant::now();
    let mut sessions: Vec<Session> = (1..=3).map(|b| cluster.open_session(b, None)).collect();
    // What each (connection, sequence number) asked, to check answers that come later.
    let mut asked: HashMap<(u64, u64), Asked> = HashMap::new();
    let mut up = true;
    // After a successful SaslHandshake v0 the next frame is a bare token.
    let mut raw_token = [false; 3];
    while let Some((&control, tail)) = rest.split_first() {
        let size = tail
            .get(..4)
            .map_or(0, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        let tail = tail.get(4..).unwrap_or_default();
        let n = usize::try_from(size).unwrap_or(usize::MAX).min(tail.len());
        let (frame, next) = tail.split_at(n);
        rest = next;

        now += Duration::from_millis(STEPS_MS[usize::from(control >> 2 & 7)]);
        if control & 0x40 != 0 {
            up = !up;
            cluster.set_broker_up(3, up).expect("broker 3 exists");
        }
        if control & 0x20 != 0 {
            cluster.handle_timeout(now);
        }
        let which = usize::from(control & 3);
        if which == 3 {
            cluster.close_session(&sessions[0]);
            sessions[0] = cluster.open_session(1, None);
        }
        if which == 3 {
            raw_token[0] = false;
        }
        let session = &mut sessions[which % 3];
        let raw = std::mem::take(&mut raw_token[which % 3]);
        let header = RequestHeader::decode(&mut Reader::new(frame))
            .ok()
            .and_then(|h| Some((h.api()?, h.api_version, h.correlation_id)))
            .filter(|_| !raw);
        let handled = cluster.handle(session, frame, now);
        match handled.outcome {
            Outcome::Respond(answer) | Outcome::Close(Some(answer)) => {
                check(&answer, header);
                if let Some((ApiKey::SaslHandshake, 0, _)) = header {
                    let (_, r) =
                        decode_response::<SaslHandshakeResponse<'_>>(&answer[4..], 0).unwrap();
                    raw_token[which % 3] = r.error_code.is_ok();
                }
            }
            Outcome::Later => {
                asked.insert((session.id(), handled.seq), header);
            }
            Outcome::Nothing | Outcome::Close(None) => {}
        }
        for c in cluster.take_completions() {
            let header = asked
                .remove(&(c.conn, c.seq))
                .expect("a completion answers a waiting request");
            check(&c.frame, header);
        }
    }
});
