//! Writes the committed seed corpora (`seeds/<target>/`) from the golden
//! captures in `core/tests/data/` and from values microkafka encodes itself
//! (every API at every version, batches in every codec, legacy wrappers,
//! Fetch responses carrying them, group member scripts). Deterministic:
//! running it again rewrites the same files.
//!
//! ```sh
//! cd core/fuzz && cargo run --example make_seeds
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use microkafka_core::protocol::frame::{encode_request, encode_response};
use microkafka_core::protocol::messages::*;
use microkafka_core::protocol::{ApiKey, Message};
use microkafka_core::record::compression::{Codecs, Compression};
use microkafka_core::record::{
    crc32_ieee, BatchOptions, RecordBatchBuilder, RecordHeader, TimestampType,
};
use microkafka_core::wire::{Array, Uuid, Writer};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data");
const SEEDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/seeds");

struct Seeds {
    dir: PathBuf,
}

impl Seeds {
    fn new(target: &str) -> Self {
        let dir = Path::new(SEEDS).join(target);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Seeds { dir }
    }

    fn put(&self, name: &str, bytes: &[u8]) {
        fs::write(self.dir.join(name), bytes).unwrap();
    }
}

fn golden(name: &str) -> Vec<u8> {
    fs::read(Path::new(DATA).join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn golden_names(dir: &str, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(Path::new(DATA).join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(suffix) && !n.contains("-large-"))
        .collect();
    names.sort();
    names
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Every API's request and response types, for defaults at every version.
macro_rules! each_api {
    ($m:ident) => {
        $m!(ProduceRequest<'_>, ProduceResponse<'_>);
        $m!(FetchRequest<'_>, FetchResponse<'_>);
        $m!(ListOffsetsRequest<'_>, ListOffsetsResponse<'_>);
        $m!(MetadataRequest<'_>, MetadataResponse<'_>);
        $m!(OffsetCommitRequest<'_>, OffsetCommitResponse<'_>);
        $m!(OffsetFetchRequest<'_>, OffsetFetchResponse<'_>);
        $m!(FindCoordinatorRequest<'_>, FindCoordinatorResponse<'_>);
        $m!(JoinGroupRequest<'_>, JoinGroupResponse<'_>);
        $m!(HeartbeatRequest<'_>, HeartbeatResponse);
        $m!(LeaveGroupRequest<'_>, LeaveGroupResponse<'_>);
        $m!(SyncGroupRequest<'_>, SyncGroupResponse<'_>);
        $m!(DescribeGroupsRequest<'_>, DescribeGroupsResponse<'_>);
        $m!(ListGroupsRequest<'_>, ListGroupsResponse<'_>);
        $m!(SaslHandshakeRequest<'_>, SaslHandshakeResponse<'_>);
        $m!(ApiVersionsRequest<'_>, ApiVersionsResponse<'_>);
        $m!(CreateTopicsRequest<'_>, CreateTopicsResponse<'_>);
        $m!(DeleteTopicsRequest<'_>, DeleteTopicsResponse<'_>);
        $m!(InitProducerIdRequest<'_>, InitProducerIdResponse);
        $m!(
            AddPartitionsToTxnRequest<'_>,
            AddPartitionsToTxnResponse<'_>
        );
        $m!(AddOffsetsToTxnRequest<'_>, AddOffsetsToTxnResponse);
        $m!(EndTxnRequest<'_>, EndTxnResponse);
        $m!(TxnOffsetCommitRequest<'_>, TxnOffsetCommitResponse<'_>);
        $m!(SaslAuthenticateRequest<'_>, SaslAuthenticateResponse<'_>);
        $m!(CreatePartitionsRequest<'_>, CreatePartitionsResponse<'_>);
    };
}

/// The byte `decode_response` reads its API from: the API key.
fn api_index(api: ApiKey) -> u8 {
    api.key() as u8
}

fn messages() {
    let requests = Seeds::new("decode_request");
    let responses = Seeds::new("decode_response");
    for name in golden_names("librdkafka", "-req.bin") {
        requests.put(
            &format!("golden-{name}"),
            &golden(&format!("librdkafka/{name}"))[4..],
        );
    }
    for name in golden_names("librdkafka", "-resp.bin") {
        let (api, version) = if name.contains("-ApiVersions-v3-unsupported") {
            (ApiKey::ApiVersions, 0)
        } else if name.contains("-ApiVersions-v3") {
            (ApiKey::ApiVersions, 3)
        } else if name.contains("-ApiVersions-v0") {
            (ApiKey::ApiVersions, 0)
        } else if name.contains("-Metadata-v4") {
            (ApiKey::Metadata, 4)
        } else if name.contains("-Metadata-v12") {
            (ApiKey::Metadata, 12)
        } else if name.contains("-Produce-v7") {
            (ApiKey::Produce, 7)
        } else if name.contains("-Produce-v10") {
            (ApiKey::Produce, 10)
        } else {
            panic!("unknown golden response {name}")
        };
        let frame = golden(&format!("librdkafka/{name}"));
        responses.put(
            &format!("golden-{name}"),
            &cat(&[&[api_index(api), version as u8], &frame[4..]]),
        );
    }
    macro_rules! defaults {
        ($req:ty, $resp:ty) => {{
            let api = <$req as Message>::API_KEY;
            let r = <$req as Message>::VERSIONS;
            for version in r.min..=r.max {
                let mut buf = vec![0u8; 256];
                if let Ok(n) =
                    encode_request(&mut buf, 7, Some("fuzz"), version, &<$req>::default())
                {
                    requests.put(&format!("default-{}-v{version}", api.name()), &buf[4..n]);
                }
                if let Ok(n) = encode_response(&mut buf, 7, version, &<$resp>::default()) {
                    let selector = (version - r.min) as u8;
                    let seed = cat(&[&[api_index(api), selector], &buf[4..n]]);
                    responses.put(&format!("default-{}-v{version}", api.name()), &seed);
                }
            }
        }};
    }
    each_api!(defaults);
}

/// A small batch built here: `options`, `codec`, three records with headers.
fn batch(options: BatchOptions, codec: Compression) -> Vec<u8> {
    let mut codecs = Codecs::new();
    let mut buf = vec![0u8; 4096];
    let mut out = vec![0u8; 4096];
    let mut b = RecordBatchBuilder::new(&mut buf, options).unwrap();
    let h = [
        RecordHeader {
            key: "trace",
            value: Some(b"abc"),
        },
        RecordHeader {
            key: "n",
            value: None,
        },
    ];
    b.append(
        1_700_000_000_000,
        Some(b"k0"),
        Some(b"hello hello hello"),
        &h,
    )
    .unwrap();
    b.append(1_700_000_000_005, None, Some(b"value without key"), &[])
        .unwrap();
    b.append(1_699_999_999_999, Some(b""), None, &h[..1])
        .unwrap();
    b.finish_compressed(codecs.codec(codec).unwrap(), &mut out)
        .unwrap()
        .to_vec()
}

/// A control batch (a transaction commit marker) at `base_offset`.
fn control(base_offset: i64) -> Vec<u8> {
    let mut v = batch(
        BatchOptions {
            base_offset,
            transactional: true,
            ..Default::default()
        },
        Compression::None,
    );
    let attributes = i16::from_be_bytes([v[21], v[22]]) | 0x20;
    v[21..23].copy_from_slice(&attributes.to_be_bytes());
    let crc = microkafka_core::record::crc32c(&v[21..]);
    v[17..21].copy_from_slice(&crc.to_be_bytes());
    v
}

fn record_batches() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for name in golden_names("librdkafka", ".bin")
        .into_iter()
        .filter(|n| n.contains("record-batch"))
    {
        out.push((name.clone(), golden(&format!("librdkafka/{name}"))));
    }
    for name in golden_names("microkafka", ".bin") {
        out.push((name.clone(), golden(&format!("microkafka/{name}"))));
    }
    for codec in Compression::ALL {
        let options = BatchOptions {
            producer_id: 4000,
            producer_epoch: 2,
            base_sequence: 10,
            base_offset: 40,
            partition_leader_epoch: 3,
            timestamp_type: TimestampType::LogAppendTime,
            ..Default::default()
        };
        out.push((format!("built-{}", codec.name()), batch(options, codec)));
    }
    out.push(("built-control".into(), control(43)));
    out
}

/// One legacy entry (offset, size, crc, magic, attributes, [timestamp], key, value).
fn legacy(
    offset: i64,
    magic: i8,
    attributes: i8,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Vec<u8> {
    let mut body = vec![magic as u8, attributes as u8];
    if magic == 1 {
        body.extend(1_700_000_000_000i64.to_be_bytes());
    }
    for field in [key, value] {
        match field {
            None => body.extend((-1i32).to_be_bytes()),
            Some(b) => {
                body.extend((b.len() as i32).to_be_bytes());
                body.extend(b);
            }
        }
    }
    let message = cat(&[&crc32_ieee(&body).to_be_bytes(), &body]);
    cat(&[
        &offset.to_be_bytes(),
        &(message.len() as i32).to_be_bytes(),
        &message,
    ])
}

/// A compressed wrapper of three messages ending at offset `last`.
fn wrapper(magic: i8, codec: Compression, last: i64, log_append: bool) -> Vec<u8> {
    let base = if magic == 1 { 0 } else { last - 2 };
    let inner = cat(&[
        &legacy(base, magic, 0, Some(b"k0"), Some(b"first legacy value")),
        &legacy(base + 1, magic, 0, None, Some(b"second")),
        &legacy(base + 2, magic, 0, Some(b"k2"), None),
    ]);
    let mut out = vec![0u8; 1024];
    let n = Codecs::new().compress(codec, &inner, &mut out).unwrap();
    let attributes = codec.id() as i8 | if log_append { 0x08 } else { 0 };
    legacy(last, magic, attributes, None, Some(&out[..n]))
}

fn legacy_sets() -> Vec<(String, Vec<u8>)> {
    let mut out = vec![(
        "plain-v0-v1".to_string(),
        cat(&[
            &legacy(0, 0, 0, Some(b"k"), Some(b"v")),
            &legacy(1, 1, 0, None, Some(b"v1")),
            &legacy(2, 1, 0x08, Some(b""), None),
        ]),
    )];
    for codec in &Compression::ALL[1..] {
        for magic in [0, 1] {
            out.push((
                format!("wrapper-v{magic}-{}", codec.name()),
                wrapper(magic, *codec, 12, magic == 1),
            ));
        }
    }
    out
}

fn consumer_protocol() {
    let seeds = Seeds::new("consumer_protocol");
    let owned = [SubscriptionTopicPartition {
        topic: "t1",
        partitions: Array::new(&[0, 2]),
    }];
    let s = ConsumerProtocolSubscription {
        topics: Array::new(&["t1", "t2"]),
        user_data: Some(b"user"),
        owned_partitions: Array::new(&owned),
        generation_id: 4,
        rack_id: Some("rack-a"),
    };
    let assigned = [AssignmentTopicPartition {
        topic: "t1",
        partitions: Array::new(&[0, 2]),
    }];
    let a = ConsumerProtocolAssignment {
        assigned_partitions: Array::new(&assigned),
        user_data: None,
    };
    for version in 0..=3 {
        let mut buf = vec![0u8; 256];
        let mut w = Writer::new(&mut buf);
        encode_subscription(&mut w, version, &s).unwrap();
        let n = w.position();
        seeds.put(
            &format!("subscription-v{version}"),
            &cat(&[&[0], &buf[..n]]),
        );
        let mut w = Writer::new(&mut buf);
        encode_assignment(&mut w, version, &a).unwrap();
        let n = w.position();
        seeds.put(&format!("assignment-v{version}"), &cat(&[&[1], &buf[..n]]));
    }
}

/// A Fetch response frame body at `version` with one partition per entry of `records`.
fn fetch_response(version: i16, records: &[&[u8]]) -> Vec<u8> {
    let partitions: Vec<FetchPartitionData<'_>> = records
        .iter()
        .enumerate()
        .map(|(i, r)| FetchPartitionData {
            partition_index: i as i32,
            high_watermark: 100,
            records: Some(r),
            ..Default::default()
        })
        .collect();
    let topics = [FetchableTopicResponse {
        topic: "golden",
        topic_id: Uuid([7; 16]),
        partitions: Array::new(&partitions),
    }];
    let response = FetchResponse {
        responses: Array::new(&topics),
        ..Default::default()
    };
    let mut buf = vec![0u8; 64 * 1024];
    let n = encode_response(&mut buf, 3, version, &response).unwrap();
    buf[4..n].to_vec()
}

fn main() {
    messages();
    consumer_protocol();

    let batches = record_batches();
    let seeds = Seeds::new("record_batch");
    for (name, bytes) in &batches {
        seeds.put(name, bytes);
    }
    // The known defect: `RecordSet::new(&[0; 17]).next()` indexed past a 17-byte entry.
    seeds.put("regression-recordset-17-zeros", &[0; 17]);

    let legacy = legacy_sets();
    let seeds = Seeds::new("legacy_message_set");
    for (name, bytes) in &legacy {
        seeds.put(name, bytes);
    }

    let seeds = Seeds::new("fetch_cursor");
    let small: Vec<&[u8]> = batches
        .iter()
        .filter(|(n, _)| n.starts_with("librdkafka2.16") || n.starts_with("built"))
        .map(|(_, b)| &b[..])
        .collect();
    let set: Vec<u8> = small.concat();
    let truncated = &set[..set.len() - 7];
    let old: Vec<&[u8]> = legacy.iter().map(|(_, b)| &b[..]).collect();
    for version in [4i16, 7, 11, 12, 13, 16, 17] {
        for (flags, tag) in [(0u8, "crc"), (1, "nocrc")] {
            let seed = cat(&[&[version as u8, flags, 0], &fetch_response(version, &small)]);
            seeds.put(&format!("fetch-v{version}-{tag}-batches"), &seed);
        }
        let seed = cat(&[
            &[version as u8, 0, 41],
            &fetch_response(version, &[&set, truncated]),
        ]);
        seeds.put(&format!("fetch-v{version}-set-and-truncated-tail"), &seed);
        let seed = cat(&[&[version as u8, 0, 1], &fetch_response(version, &old)]);
        seeds.put(&format!("fetch-v{version}-legacy"), &seed);
    }
    let seed = cat(&[&[11, 1, 0], &fetch_response(11, &[&[0; 17]])]);
    seeds.put("regression-recordset-17-zeros", &seed);
    // Found by this target: polling past a partial last entry cleared `truncated_tail`.
    let tail = cat(&[&[0; 8], &100i32.to_be_bytes()]);
    seeds.put(
        "regression-truncated-tail-polled-again",
        &cat(&[&[4, 0, 0], &fetch_response(4, &[&tail])]),
    );

    let seeds = Seeds::new("producer_response");
    for name in golden_names("librdkafka", "-resp.bin")
        .into_iter()
        .filter(|n| n.contains("Produce"))
    {
        let version: u8 = if name.contains("-v7-") { 7 } else { 10 };
        let frame = golden(&format!("librdkafka/{name}"));
        seeds.put(
            &format!("golden-{name}"),
            &cat(&[&[version - 3, 0, 0], &frame[4..]]),
        );
    }
    for (error, partition, tag) in [
        (0i16, 0, "ok"),
        (6, 1, "not-leader"),
        (46, 2, "duplicate"),
        (0, 3, "absent"),
    ] {
        let parts = [PartitionProduceResponse {
            index: partition.min(2),
            error_code: microkafka_core::ErrorCode(error),
            base_offset: 42,
            ..Default::default()
        }];
        let topics = [TopicProduceResponse {
            name: "golden",
            partition_responses: Array::new(&parts),
        }];
        let response = ProduceResponse {
            responses: Array::new(&topics),
            ..Default::default()
        };
        let mut buf = vec![0u8; 256];
        let n = encode_response(&mut buf, 0, 3, &response).unwrap();
        seeds.put(
            &format!("produce-v3-{tag}"),
            &cat(&[&[0, partition as u8, 0], &buf[4..n]]),
        );
    }
    let mut buf = vec![0u8; 64];
    let init = InitProducerIdResponse {
        producer_id: 1000,
        producer_epoch: 1,
        ..Default::default()
    };
    let n = encode_response(&mut buf, 0, 0, &init).unwrap();
    seeds.put("init-producer-id-v0", &cat(&[&[0, 0, 0], &buf[4..n]]));

    group_member();
}

/// Scripts for the `group_member` target (see its input format).
fn group_member() {
    let seeds = Seeds::new("group_member");
    const POLL: u8 = 0;
    const ANSWER: u8 = 1;
    const EVENTS: u8 = 5;
    const SECONDS: u8 = 0x88; // op 4 with the high bit: steps of a second
    let find = [POLL, ANSWER, 0, 0, 1, 0, 1, 3];
    let join_required = [POLL, ANSWER, 9, 1, 2, 0, 1, 1, 0, 5];
    let join_follower = [POLL, ANSWER, 0, 1, 2, 0, 1, 1, 0, 5];
    let sync = [POLL, ANSWER, 0, 2, 0, 3, 0, 1, 2, 0, 3, EVENTS];
    let offsets = [POLL, ANSWER, 0, 5, 0, 6, 0, 7, 0, 0, 0, 8, EVENTS];
    let commit = [6, 0, 0, 10, 7, POLL, ANSWER, 0, 0, 8, EVENTS];
    let heartbeat = [SECONDS, 4, POLL, ANSWER, 0, 4, EVENTS];
    let leave = [9, EVENTS, POLL, ANSWER, 0, 0, POLL, ANSWER, 0, 5, EVENTS];
    let follower = [
        &[0u8][..],
        &find,
        &join_required,
        &join_follower,
        &sync,
        &offsets,
        &commit,
        &heartbeat,
        &leave,
    ];
    seeds.put("follower-range", &follower.concat());
    let mut static_member = follower.concat();
    static_member[0] = 4 | 8;
    seeds.put("follower-static-commit-interval", &static_member);
    // Leader with cooperative-sticky: two members subscribed to both topics.
    let join_leader = [
        POLL, ANSWER, 0, 1, 1, 2, 1, 1, 2, 1, 2, 0, 0, 3, 2, 2, 0, 0, 1, 6,
    ];
    let assign = [10, 4, 2];
    let sync = [ANSWER, 0, 2, 1, 2, 0, 1, 0, 5, EVENTS];
    let leader = [
        &[1u8][..],
        &find,
        &join_leader,
        &assign,
        &sync,
        &offsets,
        &heartbeat,
    ];
    seeds.put("leader-cooperative", &leader.concat());
    // Errors on every step: rebalance, unknown member, coordinator moved.
    let errors = [
        &[0u8][..],
        &find,
        &join_follower,
        &[POLL, ANSWER, 3, 0, 3],
        &[POLL, ANSWER, 5, 0, 0, 1],
        &[POLL, ANSWER, 6, 0, 0, 1, 3, 2],
        &[2, 0, 4, 0, 3, 1, 2, 3],
        &[3],
        &[SECONDS, 40, POLL, EVENTS],
    ];
    seeds.put("errors", &errors.concat());
}
