//! The mock broker answers like Apache Kafka: the same request scripts are
//! sent to a real Kafka 4.x (`MICROKAFKA_KAFKA`) and to an in-process
//! `MockCluster` (`kafka4`, one broker, like the real single node), and every
//! response is compared field by field.
//!
//! How: each script is a sequence of requests over one raw TCP connection
//! (blocking, reconnecting when a broker closes it). Each answer is decoded
//! with microkafka-core's codecs, rendered with `{:#?}` and normalised (see
//! `common/differ.rs`: generated ids numbered by first appearance, ports,
//! hosts, throttle times and error-message texts hidden), then the two
//! transcripts are diffed line by line. A differing line fails the test
//! unless an entry of [`ALLOWED`] covers it; the allowlist is printed at the
//! start of the run, and each difference found under it at the end.
//!
//! Versions: ApiVersions first; every script then uses the highest version
//! both brokers accept (and the codecs know), and a few steps the lowest
//! one Kafka 4.x still accepts. The ApiVersions ranges themselves are
//! compared in `api_versions`: the mock must never advertise a version Kafka
//! refuses (a bug in `src/versions.rs`'s kafka4 mode); versions Kafka has
//! beyond microkafka's codecs are reported.
//!
//! Run: `.ci/kafka start single`, then
//! `MICROKAFKA_KAFKA=127.0.0.1:19092 cargo test -p microkafka-mock-broker --test differential -- --ignored --nocapture`.
//! Names are unique per run (`diff-<pid>-<time>-...`), because Kafka keeps
//! topics and groups across runs and other tests may share it.

mod common;
#[path = "common/differ.rs"]
mod differ;

use std::io::Write as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use differ::{decode, frame, render, Conn, Line, Reply, Step, Tokens};
use microkafka_core::protocol::messages::*;
use microkafka_core::protocol::versions::client_versions;
use microkafka_core::protocol::{ApiKey, Request, VersionRange};
use microkafka_core::record::compression::Codecs;
use microkafka_core::record::{BatchOptions, Compression, RecordBatchBuilder};
use microkafka_core::wire::{Array, Uuid};
use microkafka_core::ErrorCode;
use microkafka_mock_broker::{Config, MockCluster};

const NEEDS_KAFKA: &str =
    "needs Apache Kafka: .ci/kafka start single, then MICROKAFKA_KAFKA=127.0.0.1:19092";

/// The differences that remain, each explained: `(script, text a differing
/// line contains, why it is acceptable)`. `"*"` matches every script.
/// Everything else that differs fails the test: fix the mock broker instead
/// of adding here.
const ALLOWED: &[(&str, &str, &str)] = &[
    // Kafka 4.x reports its KRaft feature levels (metadata.version,
    // kraft.version, group.version, transaction.version, ...) in ApiVersions
    // v3+. The mock has no metadata log and serves none of the APIs those
    // levels gate; clients read them only to enable such APIs.
    (
        "api_versions",
        "features: ",
        "the mock has no KRaft feature levels (metadata.version, group.version, ...)",
    ),
    // The version-77 ApiVersions answer (KIP-511) lists the ApiVersions
    // range: Kafka 4.4 serves v0-5, the mock v0-4, the versions
    // microkafka-core's codecs know (the range table above reports it too).
    (
        "api_versions",
        "max_version: ",
        "ApiVersions v5 has no codec in microkafka-core yet: the mock advertises 0..4",
    ),
    // Kafka's CreateTopics v5+ answer lists every config of a created topic
    // with its value and source (37 entries in 4.4, partly from the broker's
    // own server.properties). The mock keeps no topic configs besides the
    // two it applies (retention.bytes, max.message.bytes) and lists none;
    // clients use the list only to display it. Errors (an empty list) and
    // everything else in the answer are compared.
    (
        "*",
        "topic configs: ",
        "the mock lists no topic configs in CreateTopics v5+ answers",
    ),
    // A Fetch with session epoch 0 asks for a fetch session (KIP-227). The
    // mock has none: it answers session id 0, which tells the client to keep
    // sending full fetches, as a Kafka broker out of session slots does.
    (
        "fetch_session",
        "session_id: ",
        "the mock has no fetch sessions: session id 0 means 'full fetches only'",
    ),
];

// ------------------------------------------------------------------ context

/// What every script shares: unique names, versions, the time.
struct Ctx {
    run: String,
    /// `(api, Kafka's range, the mock's range)`.
    ranges: Vec<(ApiKey, VersionRange, VersionRange)>,
    /// A record timestamp a minute ago (Kafka 4 refuses timestamps more than
    /// an hour ahead, and retention drops week-old ones).
    ts: i64,
}

impl Ctx {
    fn ranges(&self, api: ApiKey) -> (VersionRange, VersionRange) {
        self.ranges
            .iter()
            .find(|(a, _, _)| *a == api)
            .map(|&(_, k, m)| (k, m))
            .unwrap_or_else(|| panic!("{api:?} not advertised"))
    }

    /// The highest version both brokers accept.
    fn v(&self, api: ApiKey) -> i16 {
        let (k, m) = self.ranges(api);
        k.intersect(m)
            .unwrap_or_else(|| panic!("{api:?}: no common version ({k:?}, {m:?})"))
            .max
    }

    /// The lowest version both brokers advertise, and Kafka 4.x serves
    /// (KIP-896: it still lists Produce v0-2 but closes the connection on
    /// them; `below_the_floor` checks those).
    fn floor(&self, api: ApiKey) -> i16 {
        let (k, m) = self.ranges(api);
        let common = k
            .intersect(m)
            .unwrap_or_else(|| panic!("{api:?}: no common version ({k:?}, {m:?})"));
        common.min.max(client_versions(api).min)
    }

    fn name(&self, what: &str) -> String {
        format!("{}-{what}", self.run)
    }
}

// --------------------------------------------------------------------- side

/// One broker as a script sees it: a connection and the transcript so far.
struct Side {
    name: &'static str,
    conn: Conn,
    steps: Vec<Step>,
    tokens: Tokens,
    correlation_id: i32,
}

impl Side {
    fn new(name: &'static str, addr: SocketAddr) -> Self {
        Side {
            name,
            conn: Conn::new(addr),
            steps: Vec::new(),
            tokens: Tokens::default(),
            correlation_id: 0,
        }
    }

    /// Sends a request and returns the answer frame (not recorded); `None`
    /// when the broker closed the connection.
    fn exchange<'q, Q: Request<'q>>(&mut self, version: i16, body: &Q) -> Option<Vec<u8>> {
        if std::env::var_os("MICROKAFKA_DIFF_TRACE").is_some() {
            say(&format!("  {} <- {:?} v{version}\n", self.name, Q::API_KEY));
        }
        self.correlation_id += 1;
        let sent = self.correlation_id;
        match self.conn.exchange(&frame(sent, version, body)) {
            Reply::Frame(f) => {
                let got = i32::from_be_bytes([f[4], f[5], f[6], f[7]]);
                assert_eq!(got, sent, "{}: correlation id", self.name);
                Some(f)
            }
            Reply::Closed => None,
        }
    }

    /// Sends a request, records the decoded answer under `label`, and returns the frame.
    fn call<'q, Q: Request<'q>>(&mut self, label: &str, version: i16, body: &Q) -> Option<Vec<u8>> {
        let label = format!("{label} ({:?} v{version})", Q::API_KEY);
        match self.exchange(version, body) {
            Some(f) => {
                let (_, resp) = decode::<Q::Response<'_>>(&f, version);
                if std::env::var("MICROKAFKA_DIFF_TRACE").is_ok_and(|v| v == "2") {
                    say(&format!("  {} -> {label}: {resp:?}\n", self.name));
                }
                let lines = render(&resp, &mut self.tokens);
                self.steps.push(Step { label, lines });
                Some(f)
            }
            None => {
                self.closed(&label);
                None
            }
        }
    }

    /// Records an answer the script decoded and reshaped itself.
    fn record<'m, M: microkafka_core::protocol::Message<'m>>(
        &mut self,
        label: &str,
        version: i16,
        msg: &M,
    ) {
        let label = format!("{label} ({:?} v{version})", M::API_KEY);
        if std::env::var("MICROKAFKA_DIFF_TRACE").is_ok_and(|v| v == "2") {
            say(&format!("  {} -> {label}: {msg:?}\n", self.name));
        }
        let lines = render(msg, &mut self.tokens);
        self.steps.push(Step { label, lines });
    }

    fn closed(&mut self, label: &str) {
        self.steps.push(Step {
            label: label.to_owned(),
            lines: vec!["<connection closed, no answer>".to_owned()],
        });
    }

    fn note(&mut self, label: &str, lines: Vec<String>) {
        self.steps.push(Step {
            label: label.to_owned(),
            lines,
        });
    }
}

// ---------------------------------------------------------------- requests

/// DeleteTopics, recorded with its results sorted by error, then name: the
/// order is unspecified (Kafka's follows its own lookups: unknown ids first,
/// then unknown names or not, then the deleted topics).
fn delete_topics_call(s: &mut Side, label: &str, v: i16, body: &DeleteTopicsRequest<'_>) {
    let Some(f) = s.exchange(v, body) else {
        return s.closed(label);
    };
    let (_, r): (_, DeleteTopicsResponse) = decode(&f, v);
    let mut results: Vec<DeletableTopicResult<'_>> = r.responses.iter().collect();
    results.sort_by_key(|t| (t.error_code.0, t.name));
    s.record(
        label,
        v,
        &DeleteTopicsResponse {
            responses: Array::new(&results),
            ..r
        },
    );
}

fn creatable<'a>(name: &'a str, partitions: i32, replication: i16) -> CreatableTopic<'a> {
    CreatableTopic {
        name,
        num_partitions: partitions,
        replication_factor: replication,
        ..Default::default()
    }
}

fn create_topics(
    s: &mut Side,
    label: &str,
    v: i16,
    topics: &[CreatableTopic<'_>],
    validate_only: bool,
) {
    let body = CreateTopicsRequest {
        topics: Array::new(topics),
        timeout_ms: 30_000,
        validate_only,
    };
    // Each topic's config list (v5+) is summarised: see the `topic configs`
    // entry of ALLOWED.
    let Some(f) = s.exchange(v, &body) else {
        return s.closed(label);
    };
    let (_, r): (_, CreateTopicsResponse) = decode(&f, v);
    let results: Vec<CreatableTopicResult<'_>> = r
        .topics
        .iter()
        .map(|t| CreatableTopicResult {
            configs: t.configs.map(|_| Array::default()),
            ..t
        })
        .collect();
    let counts: Vec<String> = r
        .topics
        .iter()
        .map(|t| format!("topic configs: {} listed", t.configs.map_or(0, |c| c.len())))
        .collect();
    s.record(
        label,
        v,
        &CreateTopicsResponse {
            topics: Array::new(&results),
            ..r
        },
    );
    if v >= 5 {
        s.note(&format!("{label}: config lists"), counts);
    }
}

/// Creates topics without recording (setup), waiting until Metadata shows them.
fn setup_topics(s: &mut Side, c: &Ctx, topics: &[(&str, i32)]) {
    let list: Vec<CreatableTopic<'_>> = topics.iter().map(|&(n, p)| creatable(n, p, -1)).collect();
    let body = CreateTopicsRequest {
        topics: Array::new(&list),
        timeout_ms: 30_000,
        validate_only: false,
    };
    let f = s
        .exchange(c.v(ApiKey::CreateTopics), &body)
        .expect("CreateTopics answered");
    let (_, r): (_, CreateTopicsResponse) = decode(&f, c.v(ApiKey::CreateTopics));
    for t in r.topics.iter() {
        assert_eq!(
            t.error_code,
            ErrorCode::NONE,
            "{}: create {}",
            s.name,
            t.name
        );
    }
    for &(name, partitions) in topics {
        wait_for_partitions(s, c, name, partitions);
    }
}

/// Waits (unrecorded) until Metadata shows `name` with `partitions` led partitions.
/// Metadata is not enough: a new partition's leader may still refuse
/// appends for a moment (NOT_LEADER_OR_FOLLOWER), so every partition must
/// also answer a ListOffsets.
fn wait_for_partitions(s: &mut Side, c: &Ctx, name: &str, partitions: i32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some((_, n)) = topic_state(s, c, name) {
            if n == partitions && leaders_serve(s, c, name, partitions) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{}: {name} never got {partitions} partitions",
            s.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// True when every partition of `name` answers an (unrecorded) ListOffsets.
fn leaders_serve(s: &mut Side, c: &Ctx, name: &str, partitions: i32) -> bool {
    let v = c.v(ApiKey::ListOffsets);
    let parts: Vec<ListOffsetsPartition> = (0..partitions)
        .map(|p| ListOffsetsPartition {
            partition_index: p,
            timestamp: -1,
            ..Default::default()
        })
        .collect();
    let topics = [ListOffsetsTopic {
        name,
        partitions: Array::new(&parts),
    }];
    let body = ListOffsetsRequest {
        replica_id: -1,
        topics: Array::new(&topics),
        timeout_ms: 10_000,
        ..Default::default()
    };
    let Some(f) = s.exchange(v, &body) else {
        return false;
    };
    let (_, r): (_, ListOffsetsResponse) = decode(&f, v);
    r.topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .all(|p| p.error_code.is_ok())
}

/// `(topic id, partitions with a leader)` from an unrecorded Metadata, if
/// the topic is known without error.
fn topic_state(s: &mut Side, c: &Ctx, name: &str) -> Option<(Uuid, i32)> {
    let v = c.v(ApiKey::Metadata);
    let topics = [MetadataRequestTopic {
        name: Some(name),
        ..Default::default()
    }];
    let body = MetadataRequest {
        topics: Some(Array::new(&topics)),
        allow_auto_topic_creation: false,
        ..Default::default()
    };
    let f = s.exchange(v, &body)?;
    let (_, r): (_, MetadataResponse) = decode(&f, v);
    let t = r.topics.iter().next()?;
    if t.error_code.is_err() {
        return None;
    }
    let led = t
        .partitions
        .iter()
        .filter(|p| p.error_code.is_ok() && p.leader_id >= 0)
        .count() as i32;
    Some((t.topic_id, led))
}

fn topic_id(s: &mut Side, c: &Ctx, name: &str) -> Uuid {
    topic_state(s, c, name)
        .unwrap_or_else(|| panic!("{}: no topic {name}", s.name))
        .0
}

fn metadata(
    s: &mut Side,
    label: &str,
    v: i16,
    names: &[&str],
    auto_create: bool,
) -> Option<Vec<u8>> {
    let topics: Vec<MetadataRequestTopic<'_>> = names
        .iter()
        .map(|n| MetadataRequestTopic {
            name: Some(n),
            ..Default::default()
        })
        .collect();
    let body = MetadataRequest {
        topics: Some(Array::new(&topics)),
        allow_auto_topic_creation: auto_create,
        ..Default::default()
    };
    s.call(label, v, &body)
}

/// A magic-2 batch of `values` (null keys), `compression` applied.
fn batch_of(
    values: &[&[u8]],
    timestamp: i64,
    compression: Compression,
    options: BatchOptions,
) -> Vec<u8> {
    let size = 128 + values.iter().map(|v| v.len() + 32).sum::<usize>();
    let mut buf = vec![0u8; size];
    let mut b = RecordBatchBuilder::new(&mut buf, options).unwrap();
    for (i, v) in values.iter().enumerate() {
        b.append(timestamp + i as i64, None, Some(v), &[]).unwrap();
    }
    if compression == Compression::None {
        return b.finish().unwrap().to_vec();
    }
    let mut codecs = Codecs::new();
    let mut scratch = vec![0u8; compression.max_compressed_len(size)];
    let codec = codecs.codec(compression).unwrap();
    b.finish_compressed(codec, &mut scratch).unwrap().to_vec()
}

fn batch(values: &[&[u8]], timestamp: i64) -> Vec<u8> {
    batch_of(
        values,
        timestamp,
        Compression::None,
        BatchOptions::default(),
    )
}

fn produce_body<'a>(topics: &'a [TopicProduceData<'a>], acks: i16) -> ProduceRequest<'a> {
    ProduceRequest {
        acks,
        timeout_ms: 10_000,
        topic_data: Array::new(topics),
        ..Default::default()
    }
}

fn produce(
    s: &mut Side,
    label: &str,
    v: i16,
    topic: &str,
    partition: i32,
    records: &[u8],
) -> Option<Vec<u8>> {
    produce_acks(s, label, v, topic, partition, records, -1)
}

fn produce_acks(
    s: &mut Side,
    label: &str,
    v: i16,
    topic: &str,
    partition: i32,
    records: &[u8],
    acks: i16,
) -> Option<Vec<u8>> {
    let parts = [PartitionProduceData {
        index: partition,
        records: Some(records),
    }];
    let topics = [TopicProduceData {
        name: topic,
        partition_data: Array::new(&parts),
    }];
    s.call(label, v, &produce_body(&topics, acks))
}

/// A Fetch of one partition: by name before v13, by id from v13.
#[allow(clippy::too_many_arguments)]
fn fetch(
    s: &mut Side,
    label: &str,
    v: i16,
    topic: &str,
    id: Uuid,
    partition: i32,
    offset: i64,
    session_epoch: i32,
) -> Option<Vec<u8>> {
    let parts = [FetchPartition {
        partition,
        fetch_offset: offset,
        partition_max_bytes: 1 << 20,
        ..Default::default()
    }];
    let topics = [FetchTopic {
        topic,
        topic_id: id,
        partitions: Array::new(&parts),
    }];
    let body = FetchRequest {
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        session_epoch,
        topics: Array::new(&topics),
        ..Default::default()
    };
    s.call(label, v, &body)
}

fn list_offsets(s: &mut Side, label: &str, v: i16, topic: &str, partition: i32, timestamp: i64) {
    let parts = [ListOffsetsPartition {
        partition_index: partition,
        timestamp,
        ..Default::default()
    }];
    let topics = [ListOffsetsTopic {
        name: topic,
        partitions: Array::new(&parts),
    }];
    let body = ListOffsetsRequest {
        replica_id: -1,
        topics: Array::new(&topics),
        timeout_ms: 10_000,
        ..Default::default()
    };
    s.call(label, v, &body);
}

const SESSION_MS: i32 = 10_000;

/// Consumer-protocol subscription metadata (v0, one topic) as bytes.
const SUBSCRIPTION: &[u8] = &[0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 0];

fn join(s: &mut Side, label: &str, v: i16, group: &str, member: &str) -> Option<(String, i32)> {
    let protocols = [JoinGroupRequestProtocol {
        name: "range",
        metadata: SUBSCRIPTION,
    }];
    let body = JoinGroupRequest {
        group_id: group,
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: SESSION_MS,
        member_id: member,
        protocol_type: "consumer",
        protocols: Array::new(&protocols),
        ..Default::default()
    };
    let f = s.call(label, v, &body)?;
    let (_, r): (_, JoinGroupResponse) = decode(&f, v);
    Some((r.member_id.to_owned(), r.generation_id))
}

fn sync(
    s: &mut Side,
    label: &str,
    v: i16,
    group: &str,
    member: &str,
    generation: i32,
    assign: bool,
) {
    let assignments = [SyncGroupRequestAssignment {
        member_id: member,
        assignment: &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    }];
    let body = SyncGroupRequest {
        group_id: group,
        generation_id: generation,
        member_id: member,
        protocol_type: Some("consumer"),
        protocol_name: Some("range"),
        assignments: if assign {
            Array::new(&assignments)
        } else {
            Array::default()
        },
        ..Default::default()
    };
    s.call(label, v, &body);
}

fn heartbeat(s: &mut Side, label: &str, v: i16, group: &str, member: &str, generation: i32) {
    let body = HeartbeatRequest {
        group_id: group,
        generation_id: generation,
        member_id: member,
        group_instance_id: None,
    };
    s.call(label, v, &body);
}

fn leave(s: &mut Side, label: &str, v: i16, group: &str, members: &[&str]) {
    let ms: Vec<LeaveGroupMemberIdentity<'_>> = members
        .iter()
        .map(|m| LeaveGroupMemberIdentity {
            member_id: m,
            ..Default::default()
        })
        .collect();
    let body = LeaveGroupRequest {
        group_id: group,
        member_id: members.first().copied().unwrap_or_default(),
        members: Array::new(&ms),
    };
    s.call(label, v, &body);
}

#[allow(clippy::too_many_arguments)]
fn commit(
    s: &mut Side,
    label: &str,
    v: i16,
    group: &str,
    member: &str,
    generation: i32,
    topic: &str,
    partition: i32,
    offset: i64,
) {
    let parts = [OffsetCommitRequestPartition {
        partition_index: partition,
        committed_offset: offset,
        committed_metadata: Some("meta"),
        ..Default::default()
    }];
    let topics = [OffsetCommitRequestTopic {
        name: topic,
        partitions: Array::new(&parts),
    }];
    let body = OffsetCommitRequest {
        group_id: group,
        generation_id_or_member_epoch: generation,
        member_id: member,
        topics: Array::new(&topics),
        ..Default::default()
    };
    s.call(label, v, &body);
}

/// OffsetFetch of one group: `topics` None asks for every committed offset.
fn offset_fetch(s: &mut Side, label: &str, v: i16, group: &str, topics: Option<(&str, &[i32])>) {
    if v >= 8 {
        let list = topics.map(|(name, parts)| {
            [OffsetFetchRequestTopics {
                name,
                partition_indexes: Array::new(parts),
            }]
        });
        let groups = [OffsetFetchRequestGroup {
            group_id: group,
            topics: list.as_ref().map(|l| Array::new(l)),
            ..Default::default()
        }];
        let body = OffsetFetchRequest {
            groups: Array::new(&groups),
            ..Default::default()
        };
        s.call(label, v, &body);
    } else {
        let list = topics.map(|(name, parts)| {
            [OffsetFetchRequestTopic {
                name,
                partition_indexes: Array::new(parts),
            }]
        });
        let body = OffsetFetchRequest {
            group_id: group,
            topics: list.as_ref().map(|l| Array::new(l)),
            ..Default::default()
        };
        s.call(label, v, &body);
    }
}

fn describe_groups(s: &mut Side, label: &str, v: i16, groups: &[&str]) {
    let body = DescribeGroupsRequest {
        groups: Array::new(groups),
        include_authorized_operations: false,
    };
    s.call(label, v, &body);
}

/// ListGroups, keeping only this run's groups (Kafka's list holds everyone's).
fn list_groups(s: &mut Side, c: &Ctx, label: &str, v: i16, states: &[&str]) {
    let body = ListGroupsRequest {
        states_filter: Array::new(states),
        ..Default::default()
    };
    let Some(f) = s.exchange(v, &body) else {
        return s.closed(label);
    };
    let (_, r): (_, ListGroupsResponse) = decode(&f, v);
    let mut ours: Vec<ListedGroup<'_>> = r
        .groups
        .iter()
        .filter(|g| g.group_id.starts_with(&c.run))
        .collect();
    ours.sort_by_key(|g| g.group_id);
    let shown = ListGroupsResponse {
        groups: Array::new(&ours),
        ..r
    };
    s.record(label, v, &shown);
}

fn find_coordinator(s: &mut Side, label: &str, v: i16, key: &str, key_type: i8) -> Option<Vec<u8>> {
    let keys = [key];
    let body = FindCoordinatorRequest {
        key,
        key_type,
        coordinator_keys: Array::new(&keys),
    };
    s.call(label, v, &body)
}

// ------------------------------------------------------------------ scripts

type Script = fn(&mut Side, &Ctx);

/// Every script, by name (the name the allowlist uses).
const SCRIPTS: &[(&str, Script)] = &[
    ("api_versions", api_versions),
    ("metadata", metadata_known),
    ("metadata_auto_create", metadata_auto_create),
    ("produce_fetch", produce_fetch),
    ("lowest_versions", lowest_versions),
    ("unknown_topic_or_partition", unknown_topic_or_partition),
    ("offset_out_of_range", offset_out_of_range),
    ("produce_bad_crc", produce_bad_crc),
    ("produce_not_v2", produce_not_v2),
    ("produce_zstd_below_v7", produce_zstd_below_v7),
    ("produce_several_batches", produce_several_batches),
    ("produce_too_large", produce_too_large),
    ("produce_acks0_error", produce_acks0_error),
    ("idempotent_producer", idempotent_producer),
    ("create_topics", create_topics_script),
    ("delete_topics", delete_topics),
    ("create_partitions", create_partitions),
    ("find_coordinator", find_coordinator_script),
    ("group_lifecycle", group_lifecycle),
    ("group_errors", group_errors),
    ("offset_commit_unknown_member", offset_commit_unknown_member),
    ("offset_fetch_unknown_group", offset_fetch_unknown_group),
    ("list_offsets", list_offsets_script),
    ("init_producer_id", init_producer_id),
    ("fetch_session", fetch_session),
    ("below_the_floor", below_the_floor),
    ("transactional_id", transactional_id),
    ("txn_commit", txn_commit),
    ("txn_abort", txn_abort),
    ("txn_fencing", txn_fencing),
    ("txn_errors", txn_errors),
    ("txn_end_v5", txn_end_v5),
    ("describe_configs", describe_configs_script),
    ("alter_configs", alter_configs_script),
    ("delete_records", delete_records_script),
    ("group_admin", group_admin_script),
    ("cluster_admin", cluster_admin_script),
];

/// ApiVersions at the highest version: everything but the ranges (compared
/// in `compare_ranges`); then at a version no broker knows (KIP-511).
fn api_versions(s: &mut Side, c: &Ctx) {
    let v = c.v(ApiKey::ApiVersions);
    let body = ApiVersionsRequest {
        client_software_name: "microkafka-differential",
        client_software_version: "1.0",
    };
    let f = s.exchange(v, &body).expect("ApiVersions answered");
    let (_, r): (_, ApiVersionsResponse) = decode(&f, v);
    let names = |list: Vec<&str>| list.join(", ");
    s.note(
        "ApiVersions: feature levels",
        vec![
            format!(
                "supported features: {}",
                names(r.supported_features.iter().map(|f| f.name).collect())
            ),
            format!(
                "finalized features: {}",
                names(r.finalized_features.iter().map(|f| f.name).collect())
            ),
            format!(
                "features: finalized epoch set: {}",
                r.finalized_features_epoch >= 0
            ),
        ],
    );
    let without_ranges = ApiVersionsResponse {
        api_keys: Array::default(),
        supported_features: Array::default(),
        finalized_features: Array::default(),
        finalized_features_epoch: -1,
        ..r
    };
    s.record(
        "highest version, ranges and features apart",
        v,
        &without_ranges,
    );
    // v3+ name the client software; Kafka validates both strings.
    for (what, name, version) in [
        ("empty software name", "", "1.0"),
        ("software name with a space", "micro kafka", "1.0"),
        ("software version ending in a dot", "microkafka", "1.0."),
    ] {
        let body = ApiVersionsRequest {
            client_software_name: name,
            client_software_version: version,
        };
        s.call(what, v, &body);
    }
    // KIP-511: an unknown ApiVersions version gets a v0 body with
    // UNSUPPORTED_VERSION and the ApiVersions range.
    let mut unknown = frame(99, 3, &body);
    unknown[6..8].copy_from_slice(&77i16.to_be_bytes());
    match s.conn.exchange(&unknown) {
        Reply::Frame(f) => {
            let (_, r): (_, ApiVersionsResponse) = decode(&f, 0);
            s.record("version 77 (KIP-511), answered at v0", 0, &r);
        }
        Reply::Closed => s.closed("version 77 (KIP-511)"),
    }
}

fn metadata_known(s: &mut Side, c: &Ctx) {
    let t = c.name("meta");
    let v = c.v(ApiKey::Metadata);
    create_topics(
        s,
        "three partitions",
        c.v(ApiKey::CreateTopics),
        &[creatable(&t, 3, -1)],
        false,
    );
    wait_for_partitions(s, c, &t, 3);
    metadata(s, "the topic", v, &[&t], false);
    metadata(
        s,
        "the topic, lowest version",
        c.floor(ApiKey::Metadata),
        &[&t],
        false,
    );
    metadata(s, "the topic, v4", 4, &[&t], false);
    let topics = [MetadataRequestTopic {
        name: Some(&t),
        ..Default::default()
    }];
    let body = MetadataRequest {
        topics: Some(Array::new(&topics)),
        allow_auto_topic_creation: false,
        include_topic_authorized_operations: true,
        ..Default::default()
    };
    s.call("with topic authorized operations", v, &body);
    // By topic id (v10+; name null from v12), known and unknown.
    let id = topic_id(s, c, &t);
    for (what, id) in [("by id", id), ("by unknown id", Uuid([7; 16]))] {
        let topics = [MetadataRequestTopic {
            topic_id: id,
            name: None,
        }];
        let body = MetadataRequest {
            topics: Some(Array::new(&topics)),
            allow_auto_topic_creation: false,
            ..Default::default()
        };
        s.call(what, v, &body);
    }
    // No topics at all (an empty list, not null): brokers and cluster only.
    let body = MetadataRequest {
        topics: Some(Array::default()),
        allow_auto_topic_creation: false,
        ..Default::default()
    };
    s.call("no topics", v, &body);
}

fn metadata_auto_create(s: &mut Side, c: &Ctx) {
    let v = c.v(ApiKey::Metadata);
    let off = c.name("auto-off");
    let on = c.name("auto-on");
    metadata(s, "unknown topic, auto-creation off", v, &[&off], false);
    metadata(s, "unknown topic, auto-creation off, v4", 4, &[&off], false);
    metadata(s, "unknown topic, auto-creation on", v, &[&on], true);
    wait_for_partitions(s, c, &on, 1);
    metadata(s, "auto-created topic, once created", v, &[&on], true);
    metadata(s, "invalid name, auto-creation on", v, &["bad name!"], true);
    // Before v4 there is no flag: the broker's auto.create.topics.enable decides.
    let old = c.name("auto-v3");
    if c.floor(ApiKey::Metadata) <= 3 {
        metadata(s, "unknown topic, v3 (no flag)", 3, &[&old], true);
        wait_for_partitions(s, c, &old, 1);
    }
    metadata(s, "still off stays unknown", v, &[&off], false);
}

fn produce_fetch(s: &mut Side, c: &Ctx) {
    let t = c.name("pf");
    setup_topics(s, c, &[(&t, 1)]);
    let id = topic_id(s, c, &t);
    let (vp, vf) = (c.v(ApiKey::Produce), c.v(ApiKey::Fetch));
    produce_acks(
        s,
        "three records, acks=1",
        vp,
        &t,
        0,
        &batch(&[b"a", b"b", b"c"], c.ts),
        1,
    );
    produce(
        s,
        "two records, acks=all",
        vp,
        &t,
        0,
        &batch(&[b"d", b"e"], c.ts + 10),
    );
    fetch(s, "from 0", vf, &t, id, 0, 0, -1);
    fetch(s, "from 1 (inside the first batch)", vf, &t, id, 0, 1, -1);
    fetch(s, "from 3", vf, &t, id, 0, 3, -1);
    fetch(s, "at the end", vf, &t, id, 0, 5, -1);
    fetch(s, "from 0, by name (v12)", 12, &t, Uuid::ZERO, 0, 0, -1);
    let vl = c.v(ApiKey::ListOffsets);
    list_offsets(s, "earliest", vl, &t, 0, -2);
    list_offsets(s, "latest", vl, &t, 0, -1);
    list_offsets(s, "max timestamp", vl, &t, 0, -3);
}

/// The oldest versions Kafka 4.x still accepts, where encodings differ most.
fn lowest_versions(s: &mut Side, c: &Ctx) {
    let t = c.name("low");
    setup_topics(s, c, &[(&t, 1)]);
    let vp = c.floor(ApiKey::Produce);
    produce(s, "lowest version", vp, &t, 0, &batch(&[b"x", b"y"], c.ts));
    produce(
        s,
        "unknown partition, lowest version",
        vp,
        &t,
        4,
        &batch(&[b"x"], c.ts),
    );
    let vf = c.floor(ApiKey::Fetch);
    fetch(s, "lowest version", vf, &t, Uuid::ZERO, 0, 0, -1);
    fetch(
        s,
        "out of range, lowest version",
        vf,
        &t,
        Uuid::ZERO,
        0,
        50,
        -1,
    );
    let vl = c.floor(ApiKey::ListOffsets);
    list_offsets(s, "latest, lowest version", vl, &t, 0, -1);
    list_offsets(s, "by time, lowest version", vl, &t, 0, c.ts + 1);
    let g = c.name("low-group");
    commit(
        s,
        "simple commit, lowest version",
        c.floor(ApiKey::OffsetCommit),
        &g,
        "",
        -1,
        &t,
        0,
        1,
    );
    offset_fetch(
        s,
        "lowest version",
        c.floor(ApiKey::OffsetFetch),
        &g,
        Some((&t, &[0, 1])),
    );
    offset_fetch(s, "v7", 7, &g, Some((&t, &[0])));
    offset_fetch(s, "all topics, v7", 7, &g, None);
    let vj = c.floor(ApiKey::JoinGroup);
    let jg = c.name("low-join");
    if let Some((member, generation)) = join(
        s,
        "empty member id, lowest version (no MEMBER_ID_REQUIRED)",
        vj,
        &jg,
        "",
    ) {
        sync(
            s,
            "leader, lowest version",
            c.floor(ApiKey::SyncGroup),
            &jg,
            &member,
            generation,
            true,
        );
        heartbeat(
            s,
            "lowest version",
            c.floor(ApiKey::Heartbeat),
            &jg,
            &member,
            generation,
        );
        describe_groups(s, "lowest version", c.floor(ApiKey::DescribeGroups), &[&jg]);
        leave(
            s,
            "lowest version",
            c.floor(ApiKey::LeaveGroup),
            &jg,
            &[&member],
        );
    }
    create_topics(
        s,
        "lowest version",
        c.floor(ApiKey::CreateTopics),
        &[creatable(&c.name("low-created"), 1, -1)],
        false,
    );
    create_topics(
        s,
        "duplicate, lowest version",
        c.floor(ApiKey::CreateTopics),
        &[creatable(&t, 1, -1)],
        false,
    );
    let names = [t.as_str(), "no-such-topic-here"];
    let body = DeleteTopicsRequest {
        topic_names: Array::new(&names),
        timeout_ms: 30_000,
        ..Default::default()
    };
    delete_topics_call(
        s,
        "known and unknown, lowest version",
        c.floor(ApiKey::DeleteTopics),
        &body,
    );
}

fn unknown_topic_or_partition(s: &mut Side, c: &Ctx) {
    let t = c.name("known");
    let nope = c.name("nope");
    setup_topics(s, c, &[(&t, 1)]);
    let id = topic_id(s, c, &t);
    let (vp, vf, vl) = (
        c.v(ApiKey::Produce),
        c.v(ApiKey::Fetch),
        c.v(ApiKey::ListOffsets),
    );
    produce(s, "unknown topic", vp, &nope, 0, &batch(&[b"x"], c.ts));
    produce(s, "unknown partition", vp, &t, 7, &batch(&[b"x"], c.ts));
    produce(s, "negative partition", vp, &t, -1, &batch(&[b"x"], c.ts));
    fetch(s, "unknown topic id", vf, "", Uuid([9; 16]), 0, 0, -1);
    fetch(s, "unknown partition", vf, &t, id, 7, 0, -1);
    fetch(
        s,
        "unknown topic by name (v12)",
        12,
        &nope,
        Uuid::ZERO,
        0,
        0,
        -1,
    );
    list_offsets(s, "unknown topic", vl, &nope, 0, -1);
    list_offsets(s, "unknown partition", vl, &t, 7, -1);
    commit(
        s,
        "simple commit, unknown topic",
        c.v(ApiKey::OffsetCommit),
        &c.name("g-unknown"),
        "",
        -1,
        &nope,
        0,
        1,
    );
    commit(
        s,
        "simple commit, unknown partition",
        c.v(ApiKey::OffsetCommit),
        &c.name("g-unknown"),
        "",
        -1,
        &t,
        7,
        1,
    );
    offset_fetch(
        s,
        "unknown topic",
        c.v(ApiKey::OffsetFetch),
        &c.name("g-unknown"),
        Some((&nope, &[0])),
    );
    // Metadata for the produced-to unknown topic: Produce does not create it.
    metadata(
        s,
        "the topic Produce named",
        c.v(ApiKey::Metadata),
        &[&nope],
        false,
    );
}

fn offset_out_of_range(s: &mut Side, c: &Ctx) {
    let t = c.name("oor");
    setup_topics(s, c, &[(&t, 1)]);
    let id = topic_id(s, c, &t);
    let vf = c.v(ApiKey::Fetch);
    produce(
        s,
        "two records",
        c.v(ApiKey::Produce),
        &t,
        0,
        &batch(&[b"a", b"b"], c.ts),
    );
    fetch(s, "past the end", vf, &t, id, 0, 100, -1);
    fetch(s, "one past the end", vf, &t, id, 0, 3, -1);
    fetch(s, "negative offset", vf, &t, id, 0, -5, -1);
    fetch(s, "past the end (v12)", 12, &t, Uuid::ZERO, 0, 100, -1);
}

fn produce_bad_crc(s: &mut Side, c: &Ctx) {
    let t = c.name("crc");
    setup_topics(s, c, &[(&t, 1)]);
    let mut b = batch(&[b"hello", b"world"], c.ts);
    let last = b.len() - 1;
    b[last] ^= 0xff; // inside the records: the CRC no longer matches
    produce(s, "a flipped byte", c.v(ApiKey::Produce), &t, 0, &b);
    produce(
        s,
        "a flipped byte, lowest version",
        c.floor(ApiKey::Produce),
        &t,
        0,
        &b,
    );
    // A client never assigns offsets: a base offset other than 0 is refused.
    let offset5 = BatchOptions {
        base_offset: 5,
        ..BatchOptions::default()
    };
    let b5 = batch_of(&[b"five"], c.ts, Compression::None, offset5);
    produce(s, "base offset 5", c.v(ApiKey::Produce), &t, 0, &b5);
    // Flipped and too large: which check comes first.
    let mut big = batch(&[&vec![b'q'; 1_048_600]], c.ts);
    let last = big.len() - 1;
    big[last] ^= 0xff;
    produce(
        s,
        "a flipped byte in a batch over max.message.bytes",
        c.v(ApiKey::Produce),
        &t,
        0,
        &big,
    );
    list_offsets(s, "nothing was stored", c.v(ApiKey::ListOffsets), &t, 0, -1);
}

fn produce_not_v2(s: &mut Side, c: &Ctx) {
    let t = c.name("magic1");
    setup_topics(s, c, &[(&t, 1)]);
    let m1 = common::wire::legacy_v1(c.ts, Some(b"k"), b"v");
    produce(s, "a magic-1 message", c.v(ApiKey::Produce), &t, 0, &m1);
    produce(
        s,
        "a magic-1 message, lowest version",
        c.floor(ApiKey::Produce),
        &t,
        0,
        &m1,
    );
    let mut m0 = m1.clone();
    // Magic 0: no timestamp; rebuild the body and CRC.
    let body = [
        &[0u8, 0][..],
        &(-1i32).to_be_bytes(),
        &1i32.to_be_bytes(),
        b"v",
    ]
    .concat();
    let crc = microkafka_core::record::crc32_ieee(&body);
    m0.clear();
    m0.extend_from_slice(&0i64.to_be_bytes());
    m0.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    m0.extend_from_slice(&crc.to_be_bytes());
    m0.extend_from_slice(&body);
    produce(s, "a magic-0 message", c.v(ApiKey::Produce), &t, 0, &m0);
    let mut bad_magic = batch(&[b"x"], c.ts);
    bad_magic[16] = 3;
    produce(s, "magic 3", c.v(ApiKey::Produce), &t, 0, &bad_magic);
    produce(
        s,
        "too short to be a batch",
        c.v(ApiKey::Produce),
        &t,
        0,
        b"short",
    );
    let v = c.v(ApiKey::Produce);
    produce(
        s,
        "text, its length field past the end",
        v,
        &t,
        0,
        b"not a batch at all",
    );
    let mut tiny = vec![0u8; 30];
    tiny[8..12].copy_from_slice(&5i32.to_be_bytes());
    produce(s, "a length field under any entry's size", v, &t, 0, &tiny);
    let whole = batch(&[b"cut"], c.ts);
    produce(s, "a batch cut short", v, &t, 0, &whole[..whole.len() - 3]);
    list_offsets(s, "nothing was stored", c.v(ApiKey::ListOffsets), &t, 0, -1);
}

fn produce_zstd_below_v7(s: &mut Side, c: &Ctx) {
    let t = c.name("zstd");
    setup_topics(s, c, &[(&t, 1)]);
    let z = batch_of(
        &[b"zstd", b"records"],
        c.ts,
        Compression::Zstd,
        BatchOptions::default(),
    );
    let floor = c.floor(ApiKey::Produce);
    for v in floor..7 {
        produce(s, "zstd below v7", v, &t, 0, &z);
    }
    produce(s, "zstd at v7", 7, &t, 0, &z);
    produce(
        s,
        "zstd at the highest version",
        c.v(ApiKey::Produce),
        &t,
        0,
        &z,
    );
    let g = batch_of(&[b"gzip"], c.ts, Compression::Gzip, BatchOptions::default());
    produce(s, "gzip at the lowest version", floor, &t, 0, &g);
    let id = topic_id(s, c, &t);
    fetch(s, "what was stored", c.v(ApiKey::Fetch), &t, id, 0, 0, -1);
}

fn produce_several_batches(s: &mut Side, c: &Ctx) {
    let t = c.name("multi");
    setup_topics(s, c, &[(&t, 2)]);
    let two = [batch(&[b"a"], c.ts), batch(&[b"b", b"c"], c.ts)].concat();
    produce(
        s,
        "two batches for one partition",
        c.v(ApiKey::Produce),
        &t,
        0,
        &two,
    );
    produce(
        s,
        "two batches, lowest version",
        c.floor(ApiKey::Produce),
        &t,
        0,
        &two,
    );
    // One good partition and one bad in the same request.
    let one = batch(&[b"ok"], c.ts);
    let parts = [
        PartitionProduceData {
            index: 0,
            records: Some(&one),
        },
        PartitionProduceData {
            index: 1,
            records: Some(&two),
        },
    ];
    let topics = [TopicProduceData {
        name: &t,
        partition_data: Array::new(&parts),
    }];
    s.call(
        "a good partition and a bad one",
        c.v(ApiKey::Produce),
        &produce_body(&topics, -1),
    );
    // (The same partition twice in one request is not scripted: Kafka 4.4
    // never answers such a Produce, the mock answers each mention.)
    // (Null records are not scripted either: Kafka 4.4 never answers.)
    produce(s, "empty records", c.v(ApiKey::Produce), &t, 0, &[]);
    list_offsets(s, "what was stored", c.v(ApiKey::ListOffsets), &t, 0, -1);
}

fn produce_too_large(s: &mut Side, c: &Ctx) {
    let t = c.name("large");
    setup_topics(s, c, &[(&t, 1)]);
    // Kafka's default max.message.bytes is 1048588 (1 MiB + 12 bytes of log overhead).
    let big = vec![b'x'; 1_048_600];
    let b = batch(&[&big], c.ts);
    produce(
        s,
        "one record over max.message.bytes",
        c.v(ApiKey::Produce),
        &t,
        0,
        &b,
    );
    let fits = vec![b'y'; 1_048_000];
    produce(
        s,
        "one record under it",
        c.v(ApiKey::Produce),
        &t,
        0,
        &batch(&[&fits], c.ts),
    );
    // A topic's own max.message.bytes.
    let small = c.name("small");
    let configs = [CreatableTopicConfig {
        name: "max.message.bytes",
        value: Some("200"),
    }];
    let topic = CreatableTopic {
        configs: Array::new(&configs),
        ..creatable(&small, 1, -1)
    };
    let one = [topic];
    let body = CreateTopicsRequest {
        topics: Array::new(&one),
        timeout_ms: 30_000,
        validate_only: false,
    };
    let v = c.v(ApiKey::CreateTopics);
    if let Some(f) = s.exchange(v, &body) {
        let (_, r): (_, CreateTopicsResponse) = decode(&f, v);
        let t = r.topics.iter().next().expect("one result");
        s.note(
            "create with max.message.bytes=200",
            vec![format!("error_code: {:?}", t.error_code)],
        );
    }
    wait_for_partitions(s, c, &small, 1);
    let medium = vec![b'z'; 300];
    produce(
        s,
        "over the topic's max.message.bytes",
        c.v(ApiKey::Produce),
        &small,
        0,
        &batch(&[&medium], c.ts),
    );
    produce(
        s,
        "under it",
        c.v(ApiKey::Produce),
        &small,
        0,
        &batch(&[b"tiny"], c.ts),
    );
    let configs = [CreatableTopicConfig {
        name: "max.message.bytes",
        value: Some("lots"),
    }];
    let bad = c.name("bad-config");
    let topic = CreatableTopic {
        configs: Array::new(&configs),
        ..creatable(&bad, 1, -1)
    };
    let one = [topic];
    let body = CreateTopicsRequest {
        topics: Array::new(&one),
        timeout_ms: 30_000,
        validate_only: false,
    };
    if let Some(f) = s.exchange(v, &body) {
        let (_, r): (_, CreateTopicsResponse) = decode(&f, v);
        let t = r.topics.iter().next().expect("one result");
        s.note(
            "create with max.message.bytes=lots",
            vec![format!("error_code: {:?}", t.error_code)],
        );
    }
}

fn produce_acks0_error(s: &mut Side, c: &Ctx) {
    let t = c.name("acks0");
    setup_topics(s, c, &[(&t, 1)]);
    let v = c.v(ApiKey::Produce);
    // acks=0 and fine: no answer; the connection stays usable.
    let parts = [PartitionProduceData {
        index: 0,
        records: Some(&batch(&[b"fire"], c.ts)),
    }];
    let topics = [TopicProduceData {
        name: &t,
        partition_data: Array::new(&parts),
    }];
    s.correlation_id += 1;
    s.conn
        .send(&frame(s.correlation_id, v, &produce_body(&topics, 0)));
    let closed = s.conn.closed_within(Duration::from_millis(500));
    s.note(
        "acks=0, valid",
        vec![format!("connection closed: {closed}")],
    );
    // acks=0 with an error: the broker closes the connection, the only way
    // an acks=0 producer hears of it.
    let b = batch(&[b"forget"], c.ts);
    let parts = [PartitionProduceData {
        index: 5,
        records: Some(&b),
    }];
    let topics = [TopicProduceData {
        name: &t,
        partition_data: Array::new(&parts),
    }];
    s.correlation_id += 1;
    s.conn
        .send(&frame(s.correlation_id, v, &produce_body(&topics, 0)));
    let closed = s.conn.closed_within(Duration::from_secs(5));
    s.note(
        "acks=0, unknown partition",
        vec![format!("connection closed: {closed}")],
    );
    produce_acks(s, "acks=2", v, &t, 0, &batch(&[b"two"], c.ts), 2);
    list_offsets(s, "what was stored", c.v(ApiKey::ListOffsets), &t, 0, -1);
}

fn idempotent_producer(s: &mut Side, c: &Ctx) {
    let t = c.name("idem");
    setup_topics(s, c, &[(&t, 1)]);
    let vi = c.v(ApiKey::InitProducerId);
    let f = s
        .call(
            "idempotent",
            vi,
            &InitProducerIdRequest {
                transactional_id: None,
                transaction_timeout_ms: 60_000,
                producer_id: -1,
                producer_epoch: -1,
            },
        )
        .expect("InitProducerId answered");
    let (_, r): (_, InitProducerIdResponse) = decode(&f, vi);
    let (pid, epoch) = (r.producer_id, r.producer_epoch);
    let with = |seq: i32| BatchOptions {
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        ..BatchOptions::default()
    };
    let v = c.v(ApiKey::Produce);
    let first = batch_of(&[b"s0", b"s1"], c.ts, Compression::None, with(0));
    produce(s, "sequence 0", v, &t, 0, &first);
    produce(s, "sequence 0 again (a retry)", v, &t, 0, &first);
    produce(
        s,
        "sequence 2",
        v,
        &t,
        0,
        &batch_of(&[b"s2"], c.ts, Compression::None, with(2)),
    );
    produce(
        s,
        "sequence 5 (a gap)",
        v,
        &t,
        0,
        &batch_of(&[b"s5"], c.ts, Compression::None, with(5)),
    );
    let stale = BatchOptions {
        producer_epoch: epoch - 1,
        ..with(3)
    };
    if epoch > 0 {
        produce(
            s,
            "an older epoch",
            v,
            &t,
            0,
            &batch_of(&[b"old"], c.ts, Compression::None, stale),
        );
    }
    let newer = BatchOptions {
        producer_epoch: epoch + 1,
        ..with(7)
    };
    produce(
        s,
        "a newer epoch, not from 0",
        v,
        &t,
        0,
        &batch_of(&[b"new"], c.ts, Compression::None, newer),
    );
    list_offsets(s, "what was stored", c.v(ApiKey::ListOffsets), &t, 0, -1);
}

fn create_topics_script(s: &mut Side, c: &Ctx) {
    let v = c.v(ApiKey::CreateTopics);
    let a = c.name("ct-a");
    let d = c.name("ct-default");
    create_topics(s, "two partitions", v, &[creatable(&a, 2, 1)], false);
    wait_for_partitions(s, c, &a, 2);
    create_topics(s, "duplicate", v, &[creatable(&a, 2, 1)], false);
    create_topics(s, "defaults (-1, -1)", v, &[creatable(&d, -1, -1)], false);
    create_topics(
        s,
        "zero partitions",
        v,
        &[creatable(&c.name("ct-zero"), 0, 1)],
        false,
    );
    create_topics(
        s,
        "replication over the broker count",
        v,
        &[creatable(&c.name("ct-rf"), 1, 3)],
        false,
    );
    create_topics(
        s,
        "replication zero",
        v,
        &[creatable(&c.name("ct-rf0"), 1, 0)],
        false,
    );
    create_topics(s, "invalid name", v, &[creatable("bad name!", 1, 1)], false);
    create_topics(
        s,
        "name too long",
        v,
        &[creatable(&"x".repeat(250), 1, 1)],
        false,
    );
    create_topics(
        s,
        "validate only",
        v,
        &[creatable(&c.name("ct-validate"), 4, 1)],
        true,
    );
    metadata(
        s,
        "validate only created nothing",
        c.v(ApiKey::Metadata),
        &[&c.name("ct-validate")],
        false,
    );
    let twice = c.name("ct-twice");
    create_topics(
        s,
        "one name twice in a request",
        v,
        &[creatable(&twice, 1, 1), creatable(&twice, 1, 1)],
        false,
    );
    let assigned = [CreatableReplicaAssignment {
        partition_index: 0,
        broker_ids: Array::new(&[1]),
    }];
    let ct_assigned = c.name("ct-assigned");
    let topic = CreatableTopic {
        assignments: Array::new(&assigned),
        ..creatable(&ct_assigned, -1, -1)
    };
    create_topics(s, "explicit assignment", v, &[topic], false);
    let unknown_broker = [CreatableReplicaAssignment {
        partition_index: 0,
        broker_ids: Array::new(&[42]),
    }];
    let ct_broker42 = c.name("ct-broker42");
    let topic = CreatableTopic {
        assignments: Array::new(&unknown_broker),
        ..creatable(&ct_broker42, -1, -1)
    };
    create_topics(s, "assignment to an unknown broker", v, &[topic], false);
}

fn delete_topics(s: &mut Side, c: &Ctx) {
    let v = c.v(ApiKey::DeleteTopics);
    let a = c.name("del-a");
    let b = c.name("del-b");
    setup_topics(s, c, &[(&a, 1), (&b, 1)]);
    let nope = c.name("del-nope");
    let by_name = [
        DeleteTopicState {
            name: Some(&a),
            topic_id: Uuid::ZERO,
        },
        DeleteTopicState {
            name: Some(&nope),
            topic_id: Uuid::ZERO,
        },
    ];
    let body = DeleteTopicsRequest {
        topics: Array::new(&by_name),
        timeout_ms: 30_000,
        ..Default::default()
    };
    delete_topics_call(s, "a known and an unknown topic, by name", v, &body);
    let id = topic_id(s, c, &b);
    let by_id = [
        DeleteTopicState {
            name: None,
            topic_id: id,
        },
        DeleteTopicState {
            name: None,
            topic_id: Uuid([3; 16]),
        },
    ];
    let body = DeleteTopicsRequest {
        topics: Array::new(&by_id),
        timeout_ms: 30_000,
        ..Default::default()
    };
    delete_topics_call(s, "a known and an unknown topic id", v, &body);
    let names = [a.as_str()];
    let body = DeleteTopicsRequest {
        topic_names: Array::new(&names),
        timeout_ms: 30_000,
        ..Default::default()
    };
    delete_topics_call(s, "deleted already, v5", 5, &body);
}

fn create_partitions(s: &mut Side, c: &Ctx) {
    let v = c.v(ApiKey::CreatePartitions);
    let t = c.name("cp");
    setup_topics(s, c, &[(&t, 1)]);
    let call = |s: &mut Side, label: &str, name: &str, count: i32, validate_only: bool| {
        let topics = [CreatePartitionsTopic {
            name,
            count,
            assignments: None,
        }];
        let body = CreatePartitionsRequest {
            topics: Array::new(&topics),
            timeout_ms: 30_000,
            validate_only,
        };
        s.call(label, v, &body);
    };
    call(s, "grow 1 to 3", &t, 3, false);
    wait_for_partitions(s, c, &t, 3);
    call(s, "shrink 3 to 2", &t, 2, false);
    call(s, "the same count", &t, 3, false);
    call(s, "validate only, 5", &t, 5, true);
    call(s, "unknown topic", &c.name("cp-nope"), 2, false);
    call(s, "zero", &t, 0, false);
    let assignment = [CreatePartitionsAssignment {
        broker_ids: Array::new(&[1]),
    }];
    let topics = [CreatePartitionsTopic {
        name: &t,
        count: 4,
        assignments: Some(Array::new(&assignment)),
    }];
    let body = CreatePartitionsRequest {
        topics: Array::new(&topics),
        timeout_ms: 30_000,
        validate_only: false,
    };
    s.call("grow to 4 with an assignment", v, &body);
    let two = [
        CreatePartitionsAssignment {
            broker_ids: Array::new(&[1]),
        },
        CreatePartitionsAssignment {
            broker_ids: Array::new(&[1]),
        },
    ];
    let topics = [CreatePartitionsTopic {
        name: &t,
        count: 5,
        assignments: Some(Array::new(&two)),
    }];
    let body = CreatePartitionsRequest {
        topics: Array::new(&topics),
        timeout_ms: 30_000,
        validate_only: false,
    };
    s.call("grow to 5 with two assignments", v, &body);
    wait_for_partitions(s, c, &t, 4);
    metadata(s, "after growing", c.v(ApiKey::Metadata), &[&t], false);
}

fn find_coordinator_script(s: &mut Side, c: &Ctx) {
    let v = c.v(ApiKey::FindCoordinator);
    let g = c.name("fc");
    find_coordinator(s, "a group", v, &g, 0);
    find_coordinator(s, "a group, v3", 3, &g, 0);
    find_coordinator(
        s,
        "a group, lowest version",
        c.floor(ApiKey::FindCoordinator),
        &g,
        0,
    );
    find_coordinator(s, "an empty group id", v, "", 0);
    find_coordinator(s, "an empty group id, v3", 3, "", 0);
    find_coordinator(s, "an unknown key type", v, &g, 5);
    let keys = [g.as_str(), "another-group"];
    let body = FindCoordinatorRequest {
        key_type: 0,
        coordinator_keys: Array::new(&keys),
        ..Default::default()
    };
    s.call("two groups", v, &body);
}

fn group_lifecycle(s: &mut Side, c: &Ctx) {
    let g = c.name("life");
    let t = c.name("life-t");
    setup_topics(s, c, &[(&t, 1)]);
    let vj = c.v(ApiKey::JoinGroup);
    let vs = c.v(ApiKey::SyncGroup);
    let vh = c.v(ApiKey::Heartbeat);
    let vd = c.v(ApiKey::DescribeGroups);
    let (member, _) = join(s, "empty member id", vj, &g, "").expect("JoinGroup answered");
    let (member, generation) =
        join(s, "with the member id it was given", vj, &g, &member).expect("JoinGroup answered");
    describe_groups(s, "completing the rebalance", vd, &[&g]);
    list_groups(
        s,
        c,
        "completing the rebalance",
        c.v(ApiKey::ListGroups),
        &[],
    );
    sync(
        s,
        "the leader's assignment",
        vs,
        &g,
        &member,
        generation,
        true,
    );
    sync(
        s,
        "stale generation",
        vs,
        &g,
        &member,
        generation - 1,
        false,
    );
    sync(
        s,
        "generation from the future",
        vs,
        &g,
        &member,
        generation + 1,
        false,
    );
    sync(s, "unknown member", vs, &g, "nobody", generation, false);
    sync(s, "again, stable", vs, &g, &member, generation, false);
    heartbeat(s, "member", vh, &g, &member, generation);
    heartbeat(s, "stale generation", vh, &g, &member, generation - 1);
    heartbeat(s, "unknown member", vh, &g, "nobody", generation);
    describe_groups(
        s,
        "stable, and an unknown group",
        vd,
        &[&g, &c.name("never-seen")],
    );
    list_groups(s, c, "stable", c.v(ApiKey::ListGroups), &[]);
    list_groups(
        s,
        c,
        "filtered to Empty",
        c.v(ApiKey::ListGroups),
        &["Empty"],
    );
    let vc = c.v(ApiKey::OffsetCommit);
    commit(s, "member", vc, &g, &member, generation, &t, 0, 42);
    commit(
        s,
        "stale generation",
        vc,
        &g,
        &member,
        generation - 1,
        &t,
        0,
        43,
    );
    commit(s, "unknown member", vc, &g, "nobody", generation, &t, 0, 44);
    commit(
        s,
        "outside the group, while it has members",
        vc,
        &g,
        "",
        -1,
        &t,
        0,
        45,
    );
    offset_fetch(
        s,
        "the committed offset",
        c.v(ApiKey::OffsetFetch),
        &g,
        Some((&t, &[0])),
    );
    offset_fetch(
        s,
        "every committed offset",
        c.v(ApiKey::OffsetFetch),
        &g,
        None,
    );
    // The leader rejoins with the same metadata: a new generation.
    let rejoined = join(s, "the leader rejoins", vj, &g, &member);
    describe_groups(s, "after the leader rejoined", vd, &[&g]);
    heartbeat(
        s,
        "the old generation after the rejoin",
        vh,
        &g,
        &member,
        generation,
    );
    if let Some((_, gen2)) = rejoined {
        sync(s, "the new generation", vs, &g, &member, gen2, true);
        heartbeat(s, "the new generation", vh, &g, &member, gen2);
    }
    let vl = c.v(ApiKey::LeaveGroup);
    leave(s, "an unknown member", vl, &g, &["nobody"]);
    leave(s, "the member", vl, &g, &[&member]);
    describe_groups(s, "empty", vd, &[&g]);
    heartbeat(s, "after leaving", vh, &g, &member, generation);
    commit(s, "outside the group, now empty", vc, &g, "", -1, &t, 0, 46);
    offset_fetch(
        s,
        "after the simple commit",
        c.v(ApiKey::OffsetFetch),
        &g,
        Some((&t, &[0])),
    );
    list_groups(s, c, "empty", c.v(ApiKey::ListGroups), &[]);
}

fn group_errors(s: &mut Side, c: &Ctx) {
    let vj = c.v(ApiKey::JoinGroup);
    let g = c.name("gerr");
    let unknown = c.name("gerr-unknown");
    heartbeat(s, "unknown group", c.v(ApiKey::Heartbeat), &unknown, "m", 1);
    sync(
        s,
        "unknown group",
        c.v(ApiKey::SyncGroup),
        &unknown,
        "m",
        1,
        false,
    );
    leave(
        s,
        "unknown group",
        c.v(ApiKey::LeaveGroup),
        &unknown,
        &["m"],
    );
    join(
        s,
        "unknown member id, unknown group",
        vj,
        &unknown,
        "made-up",
    );
    join(s, "empty group id", vj, "", "");
    let protocols = [JoinGroupRequestProtocol {
        name: "range",
        metadata: SUBSCRIPTION,
    }];
    let mut body = JoinGroupRequest {
        group_id: &g,
        session_timeout_ms: 1000,
        rebalance_timeout_ms: SESSION_MS,
        member_id: "",
        protocol_type: "consumer",
        protocols: Array::new(&protocols),
        ..Default::default()
    };
    s.call("session timeout under the minimum", vj, &body);
    body.session_timeout_ms = 24 * 3600 * 1000;
    s.call("session timeout over the maximum", vj, &body);
    body.session_timeout_ms = SESSION_MS;
    body.protocols = Array::default();
    s.call("no protocols", vj, &body);
    body.protocols = Array::new(&protocols);
    body.protocol_type = "";
    s.call("empty protocol type", vj, &body);
    // A member of one protocol type, then a join with another.
    let (member, _) = join(s, "first member, step 1", vj, &g, "").expect("answered");
    let (member, generation) = join(s, "first member, step 2", vj, &g, &member).expect("answered");
    body.protocol_type = "connect";
    s.call("another protocol type", vj, &body);
    body.protocol_type = "consumer";
    let other = [JoinGroupRequestProtocol {
        name: "roundrobin",
        metadata: SUBSCRIPTION,
    }];
    body.protocols = Array::new(&other);
    s.call("no protocol in common", vj, &body);
    sync(
        s,
        "inconsistent protocol name",
        c.v(ApiKey::SyncGroup),
        &g,
        &member,
        generation,
        false,
    );
    let bad = SyncGroupRequest {
        group_id: &g,
        generation_id: generation,
        member_id: &member,
        protocol_type: Some("connect"),
        protocol_name: Some("range"),
        ..Default::default()
    };
    s.call("inconsistent protocol type", c.v(ApiKey::SyncGroup), &bad);
    let other_name = SyncGroupRequest {
        protocol_type: Some("consumer"),
        protocol_name: Some("roundrobin"),
        ..bad
    };
    s.call("other protocol name", c.v(ApiKey::SyncGroup), &other_name);
    leave(
        s,
        "the member and an unknown one",
        c.v(ApiKey::LeaveGroup),
        &g,
        &[&member, "nobody"],
    );
}

fn offset_commit_unknown_member(s: &mut Side, c: &Ctx) {
    let t = c.name("ocu-t");
    setup_topics(s, c, &[(&t, 1)]);
    let v = c.v(ApiKey::OffsetCommit);
    let g = c.name("ocu");
    commit(
        s,
        "unknown group, a member id and generation",
        v,
        &g,
        "nobody",
        3,
        &t,
        0,
        1,
    );
    commit(
        s,
        "unknown group, a member id and generation, v8",
        8,
        &g,
        "nobody",
        3,
        &t,
        0,
        1,
    );
    commit(
        s,
        "unknown group, a member id and generation, lowest version",
        c.floor(ApiKey::OffsetCommit),
        &g,
        "nobody",
        3,
        &t,
        0,
        1,
    );
    commit(
        s,
        "unknown group, a member id, generation -1",
        v,
        &g,
        "nobody",
        -1,
        &t,
        0,
        1,
    );
    commit(
        s,
        "unknown group, no member id, generation 3",
        v,
        &g,
        "",
        3,
        &t,
        0,
        1,
    );
    offset_fetch(
        s,
        "nothing was committed",
        c.v(ApiKey::OffsetFetch),
        &g,
        Some((&t, &[0])),
    );
    // An existing (simple) group, then an unknown member.
    let h = c.name("ocu-simple");
    commit(s, "outside any group (simple)", v, &h, "", -1, &t, 0, 7);
    commit(
        s,
        "unknown member of that group",
        v,
        &h,
        "nobody",
        1,
        &t,
        0,
        8,
    );
    commit(s, "empty member id, generation 1", v, &h, "", 1, &t, 0, 9);
    commit(s, "empty group id", v, "", "", -1, &t, 0, 9);
    offset_fetch(
        s,
        "what stuck",
        c.v(ApiKey::OffsetFetch),
        &h,
        Some((&t, &[0])),
    );
    // A live group, then an unknown member of it.
    let k = c.name("ocu-live");
    let vj = c.v(ApiKey::JoinGroup);
    let (m, _) = join(s, "a member, step 1", vj, &k, "").expect("answered");
    let (m, generation) = join(s, "a member, step 2", vj, &k, &m).expect("answered");
    commit(
        s,
        "before the assignment (completing rebalance)",
        v,
        &k,
        &m,
        generation,
        &t,
        0,
        1,
    );
    sync(
        s,
        "the assignment",
        c.v(ApiKey::SyncGroup),
        &k,
        &m,
        generation,
        true,
    );
    commit(
        s,
        "unknown member of a live group",
        v,
        &k,
        "nobody",
        generation,
        &t,
        0,
        2,
    );
    commit(s, "the member", v, &k, &m, generation, &t, 0, 3);
    commit(s, "the member, generation -1", v, &k, &m, -1, &t, 0, 3);
    leave(s, "the member", c.v(ApiKey::LeaveGroup), &k, &[&m]);
}

fn offset_fetch_unknown_group(s: &mut Side, c: &Ctx) {
    let t = c.name("ofu-t");
    setup_topics(s, c, &[(&t, 2)]);
    let g = c.name("ofu");
    let v = c.v(ApiKey::OffsetFetch);
    offset_fetch(
        s,
        "unknown group, known partitions",
        v,
        &g,
        Some((&t, &[0, 1])),
    );
    offset_fetch(s, "unknown group, every offset", v, &g, None);
    offset_fetch(
        s,
        "unknown group, unknown topic",
        v,
        &g,
        Some((&c.name("ofu-nope"), &[0])),
    );
    offset_fetch(
        s,
        "unknown group, unknown partition",
        v,
        &g,
        Some((&t, &[9])),
    );
    offset_fetch(s, "unknown group, v7", 7, &g, Some((&t, &[0])));
    offset_fetch(
        s,
        "unknown group, lowest version",
        c.floor(ApiKey::OffsetFetch),
        &g,
        Some((&t, &[0])),
    );
    offset_fetch(s, "empty group id", v, "", Some((&t, &[0])));
}

fn list_offsets_script(s: &mut Side, c: &Ctx) {
    let t = c.name("lo");
    setup_topics(s, c, &[(&t, 1)]);
    let v = c.v(ApiKey::ListOffsets);
    list_offsets(s, "empty: earliest", v, &t, 0, -2);
    list_offsets(s, "empty: latest", v, &t, 0, -1);
    list_offsets(s, "empty: max timestamp", v, &t, 0, -3);
    list_offsets(s, "empty: by time", v, &t, 0, c.ts);
    let vp = c.v(ApiKey::Produce);
    produce(
        s,
        "t, t+1, t+2",
        vp,
        &t,
        0,
        &batch(&[b"a", b"b", b"c"], c.ts),
    );
    produce(s, "t+100", vp, &t, 0, &batch(&[b"d"], c.ts + 100));
    list_offsets(s, "by time before the first", v, &t, 0, c.ts - 1000);
    list_offsets(s, "by time, exact", v, &t, 0, c.ts + 1);
    list_offsets(s, "by time, between batches", v, &t, 0, c.ts + 50);
    list_offsets(s, "by time past the end", v, &t, 0, c.ts + 10_000);
    list_offsets(
        s,
        "by time past the end, lowest version",
        c.floor(ApiKey::ListOffsets),
        &t,
        0,
        c.ts + 10_000,
    );
    list_offsets(s, "max timestamp", v, &t, 0, -3);
    list_offsets(s, "earliest local (-4)", v, &t, 0, -4);
    list_offsets(s, "invalid timestamp (-7)", v, &t, 0, -7);
    // A partition twice in one request.
    let parts = [
        ListOffsetsPartition {
            partition_index: 0,
            timestamp: -1,
            ..Default::default()
        },
        ListOffsetsPartition {
            partition_index: 0,
            timestamp: -2,
            ..Default::default()
        },
    ];
    let topics = [ListOffsetsTopic {
        name: &t,
        partitions: Array::new(&parts),
    }];
    let body = ListOffsetsRequest {
        replica_id: -1,
        topics: Array::new(&topics),
        timeout_ms: 10_000,
        ..Default::default()
    };
    s.call("one partition twice", v, &body);
    // Leader epochs: current, older, newer.
    for (what, epoch) in [("current leader epoch", 0), ("newer leader epoch", 5)] {
        let parts = [ListOffsetsPartition {
            partition_index: 0,
            timestamp: -1,
            current_leader_epoch: epoch,
            ..Default::default()
        }];
        let topics = [ListOffsetsTopic {
            name: &t,
            partitions: Array::new(&parts),
        }];
        let body = ListOffsetsRequest {
            replica_id: -1,
            topics: Array::new(&topics),
            timeout_ms: 10_000,
            ..Default::default()
        };
        s.call(what, v, &body);
    }
}

fn init_producer_id(s: &mut Side, c: &Ctx) {
    let v = c.v(ApiKey::InitProducerId);
    let plain = InitProducerIdRequest {
        transactional_id: None,
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
    };
    let f = s.call("idempotent", v, &plain).expect("answered");
    let (_, r): (_, InitProducerIdResponse) = decode(&f, v);
    s.call("idempotent again", v, &plain);
    s.call(
        "idempotent, lowest version",
        c.floor(ApiKey::InitProducerId),
        &plain,
    );
    let bump = InitProducerIdRequest {
        producer_id: r.producer_id,
        producer_epoch: r.producer_epoch,
        ..plain
    };
    s.call("idempotent, bump its epoch (KIP-360)", v, &bump);
    let unknown = InitProducerIdRequest {
        producer_id: 987_654_321,
        producer_epoch: 3,
        ..plain
    };
    s.call("idempotent, an id never handed out", v, &unknown);
}

fn fetch_session(s: &mut Side, c: &Ctx) {
    let t = c.name("fs");
    setup_topics(s, c, &[(&t, 1)]);
    let id = topic_id(s, c, &t);
    produce(
        s,
        "one record",
        c.v(ApiKey::Produce),
        &t,
        0,
        &batch(&[b"a"], c.ts),
    );
    let v = c.v(ApiKey::Fetch);
    fetch(
        s,
        "session epoch 0 (asks for a session)",
        v,
        &t,
        id,
        0,
        0,
        0,
    );
    fetch(s, "session epoch -1 (sessionless)", v, &t, id, 0, 0, -1);
    // An unknown session.
    let parts = [FetchPartition {
        partition: 0,
        fetch_offset: 0,
        partition_max_bytes: 1 << 20,
        ..Default::default()
    }];
    let topics = [FetchTopic {
        topic: &t,
        topic_id: id,
        partitions: Array::new(&parts),
    }];
    let body = FetchRequest {
        max_bytes: 1 << 20,
        session_id: 123_456,
        session_epoch: 1,
        topics: Array::new(&topics),
        ..Default::default()
    };
    s.call("an unknown session id", v, &body);
}

// ------------------------------------------------------------------ running

/// ApiVersions of one broker: `(api key, min, max)` of every API it lists.
fn advertised(addr: SocketAddr) -> Vec<(i16, i16, i16)> {
    let mut conn = Conn::new(addr);
    let body = ApiVersionsRequest {
        client_software_name: "microkafka-differential",
        client_software_version: "1.0",
    };
    let f = match conn.exchange(&frame(1, 3, &body)) {
        Reply::Frame(f) => f,
        Reply::Closed => panic!("{addr} closed the connection on ApiVersions v3"),
    };
    let (_, r): (_, ApiVersionsResponse) = decode(&f, 3);
    assert_eq!(r.error_code, ErrorCode::NONE, "{addr}: ApiVersions");
    r.api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect()
}

/// Compares the ranges of the APIs microkafka knows; returns the problems (versions the
/// mock advertises that Kafka refuses, or that Kafka accepts and the mock
/// refuses within the codecs' range) and prints the table.
fn compare_ranges(
    kafka: &[(i16, i16, i16)],
    mock: &[(i16, i16, i16)],
    out: &mut String,
) -> Vec<String> {
    use microkafka_core::protocol::versions::codec_versions;
    let mut problems = Vec::new();
    out.push_str(&format!(
        "{:<18} {:>9} {:>9} {:>9}  notes\n",
        "api", "kafka", "mock", "codecs"
    ));
    for api in ApiKey::ALL {
        let find = |list: &[(i16, i16, i16)]| {
            list.iter()
                .find(|(k, _, _)| *k == api.key())
                .map(|&(_, lo, hi)| VersionRange::new(lo, hi))
        };
        let (k, m) = (find(kafka), find(mock));
        let codec = codec_versions(api);
        let show =
            |r: Option<VersionRange>| r.map_or("-".to_owned(), |r| format!("{}..{}", r.min, r.max));
        let mut notes = Vec::new();
        match (k, m) {
            (Some(k), Some(m)) => {
                if m.min < k.min || m.max > k.max {
                    problems.push(format!(
                        "{api:?}: the mock advertises {m:?}, Kafka accepts {k:?}"
                    ));
                    notes.push("BUG: the mock advertises versions Kafka refuses".to_owned());
                }
                // Versions Kafka accepts that the codecs know but the mock refuses.
                if let Some(both) = k.intersect(codec) {
                    if m.min > both.min || m.max < both.max {
                        problems.push(format!("{api:?}: the mock advertises {m:?}, Kafka accepts {k:?}, the codecs know {codec:?}"));
                        notes.push("BUG: the mock refuses versions Kafka accepts".to_owned());
                    }
                }
                if k.max > codec.max {
                    notes.push(format!(
                        "Kafka also has v{}..{} (no codec yet)",
                        codec.max + 1,
                        k.max
                    ));
                }
            }
            (None, Some(_)) => {
                problems.push(format!("{api:?}: Kafka does not serve it, the mock does"));
                notes.push("BUG: not served by Kafka".to_owned());
            }
            (Some(_), None) => {
                problems.push(format!("{api:?}: the mock does not advertise it"));
            }
            (None, None) => {}
        }
        out.push_str(&format!(
            "{:<18} {:>9} {:>9} {:>9}  {}\n",
            format!("{api:?}"),
            show(k),
            show(m),
            show(Some(codec)),
            notes.join("; ")
        ));
    }
    let others = kafka
        .iter()
        .filter(|(k, _, _)| ApiKey::from_key(*k).is_none())
        .count();
    out.push_str(&format!(
        "(Kafka also serves {others} APIs the mock does not: ACLs, quotas, KIP-848 groups, ...)\n"
    ));
    problems
}

fn kafka_addr() -> SocketAddr {
    let addr = std::env::var("MICROKAFKA_KAFKA")
        .unwrap_or_else(|_| panic!("MICROKAFKA_KAFKA is not set: this test {NEEDS_KAFKA}"));
    addr.to_socket_addrs()
        .unwrap_or_else(|e| panic!("MICROKAFKA_KAFKA={addr}: {e}"))
        .next()
        .unwrap_or_else(|| panic!("MICROKAFKA_KAFKA={addr}: no address"))
}

/// Waits (unrecorded) until the group coordinator answers: Kafka creates
/// `__consumer_offsets` at the first FindCoordinator, and loads it.
fn warm_up(s: &mut Side, c: &Ctx) {
    let v = c.v(ApiKey::FindCoordinator);
    let g = c.name("warm-up");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let keys = [g.as_str()];
        let body = FindCoordinatorRequest {
            key_type: 0,
            coordinator_keys: Array::new(&keys),
            key: &g,
        };
        if let Some(f) = s.exchange(v, &body) {
            let (_, r): (_, FindCoordinatorResponse) = decode(&f, v);
            let ok = if v >= 4 {
                r.coordinators.iter().all(|c| c.error_code.is_ok())
            } else {
                r.error_code.is_ok()
            };
            if ok {
                // And the coordinator has loaded the group's partition.
                let groups = [OffsetFetchRequestGroup {
                    group_id: &g,
                    ..Default::default()
                }];
                let body = OffsetFetchRequest {
                    groups: Array::new(&groups),
                    ..Default::default()
                };
                let vo = c.v(ApiKey::OffsetFetch);
                if vo >= 8 {
                    if let Some(f) = s.exchange(vo, &body) {
                        let (_, r): (_, OffsetFetchResponse) = decode(&f, vo);
                        if r.groups.iter().all(|g| g.error_code.is_ok()) {
                            return;
                        }
                    }
                } else {
                    return;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "{}: the group coordinator never came up",
            s.name
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Writes to the real stderr, past the test harness's capture, so the
/// allowlist and the differences show in CI logs.
fn say(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}

fn allowed(script: &str, line: &str) -> Option<usize> {
    ALLOWED
        .iter()
        .position(|(s, pattern, _)| (*s == "*" || *s == script) && line.contains(pattern))
}

fn flatten(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .flat_map(|s| std::iter::once(format!("## {}", s.label)).chain(s.lines.iter().cloned()))
        .collect()
}

#[test]
#[ignore = "needs Apache Kafka: .ci/kafka start single, then MICROKAFKA_KAFKA=127.0.0.1:19092"]
fn mock_broker_answers_like_kafka() {
    let started = Instant::now();
    let kafka = kafka_addr();
    let cluster = MockCluster::start_in_background(Config {
        kafka4: true,
        brokers: 1,
        ..Config::default()
    })
    .expect("start the mock cluster");
    let mock = cluster.addrs()[0];

    let mut out =
        String::from("\n== differential: allowed differences (the only ones tolerated)\n");
    for (script, pattern, why) in ALLOWED {
        out.push_str(&format!(
            "  [{script}] lines containing {pattern:?}: {why}\n"
        ));
    }
    say(&out);

    // ApiVersions first: the ranges, then the versions every script uses.
    let (kv, mv) = (advertised(kafka), advertised(mock));
    let mut table =
        String::from("\n== ApiVersions: Kafka at MICROKAFKA_KAFKA vs the mock (kafka4)\n");
    let range_problems = compare_ranges(&kv, &mv, &mut table);
    say(&table);
    let range = |list: &[(i16, i16, i16)], api: ApiKey| {
        list.iter()
            .find(|(k, _, _)| *k == api.key())
            .map(|&(_, lo, hi)| VersionRange::new(lo, hi))
    };
    let ranges = ApiKey::ALL
        .iter()
        .filter_map(|&api| {
            let codec = microkafka_core::protocol::versions::codec_versions(api);
            let k = range(&kv, api)?.intersect(codec)?;
            Some((api, k, range(&mv, api)?))
        })
        .collect();
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let ctx = Ctx {
        run: format!(
            "diff-{}-{}",
            std::process::id(),
            since_epoch.as_millis() % 100_000_000
        ),
        ranges,
        ts: since_epoch.as_millis() as i64 - 60_000,
    };

    let mut k = Side::new("kafka", kafka);
    let mut m = Side::new("mock", mock);
    warm_up(&mut k, &ctx);
    warm_up(&mut m, &ctx);

    let mut failures = Vec::new();
    let mut tolerated = String::new();
    let mut report = String::from("\n== differential scripts\n");
    // MICROKAFKA_DIFF_SCRIPTS=a,b runs only the scripts whose names contain a or b.
    let only = std::env::var("MICROKAFKA_DIFF_SCRIPTS").ok();
    let chosen = |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|w| name.contains(w.trim())))
    };
    for (name, script) in SCRIPTS.iter().filter(|(n, _)| chosen(n)) {
        let t0 = Instant::now();
        let mut k = Side::new("kafka", kafka);
        let mut m = Side::new("mock", mock);
        script(&mut k, &ctx);
        let tk = t0.elapsed();
        script(&mut m, &ctx);
        let (a, b) = (flatten(&k.steps), flatten(&m.steps));
        // MICROKAFKA_DIFF_DUMP=dir writes both transcripts there.
        if let Some(dir) = std::env::var_os("MICROKAFKA_DIFF_DUMP") {
            let dir = std::path::PathBuf::from(dir);
            let _ = std::fs::write(dir.join(format!("{name}.kafka")), a.join("\n"));
            let _ = std::fs::write(dir.join(format!("{name}.mock")), b.join("\n"));
        }
        let d = differ::diff(&a, &b);
        let changed: Vec<&Line> = d.iter().filter(|l| !matches!(l, Line::Same(_))).collect();
        let bad: Vec<&&Line> = changed
            .iter()
            .filter(|l| match l {
                Line::Left(s) | Line::Right(s) => allowed(name, s).is_none(),
                Line::Same(_) => false,
            })
            .collect();
        let status = if changed.is_empty() {
            "same".to_owned()
        } else if bad.is_empty() {
            format!("same but for {} allowed line(s)", changed.len())
        } else {
            format!("DIFFERENT: {} line(s) not allowed", bad.len())
        };
        report.push_str(&format!(
            "  {name:<30} {:>3} steps  kafka {:>5} ms, mock {:>4} ms  {status}\n",
            k.steps.len(),
            tk.as_millis(),
            (t0.elapsed() - tk).as_millis()
        ));
        if !changed.is_empty() {
            let shown = differ::show(&d, 3, "kafka", "mock");
            if bad.is_empty() {
                tolerated.push_str(&format!("\n-- {name} (allowed)\n{shown}"));
            } else {
                failures.push(format!("\n-- {name}\n{shown}"));
            }
        }
    }
    say(&report);
    if !tolerated.is_empty() {
        say(&format!("\n== allowed differences found\n{tolerated}"));
    }
    for f in &failures {
        say(f);
    }
    say(&format!(
        "\n== differential: {} scripts in {:.1} s, {} with differences not allowed, {} ApiVersions range problems\n",
        SCRIPTS.len(),
        started.elapsed().as_secs_f64(),
        failures.len(),
        range_problems.len()
    ));
    for p in &range_problems {
        say(&format!("  ApiVersions: {p}\n"));
    }
    cleanup(kafka, &ctx);
    cluster.shutdown();
    assert!(
        failures.is_empty() && range_problems.is_empty(),
        "the mock broker answers differently from Kafka (diffs above: '-' is Kafka, '+' the mock)"
    );
}

/// Deletes this run's topics on Kafka (unrecorded; Kafka keeps them otherwise).
fn cleanup(kafka: SocketAddr, c: &Ctx) {
    let mut s = Side::new("kafka", kafka);
    let v = c.v(ApiKey::Metadata);
    let body = MetadataRequest {
        topics: None,
        allow_auto_topic_creation: false,
        ..Default::default()
    };
    let Some(f) = s.exchange(v, &body) else {
        return;
    };
    let (_, r): (_, MetadataResponse) = decode(&f, v);
    let ours: Vec<&str> = r
        .topics
        .iter()
        .filter_map(|t| t.name)
        .filter(|n| n.starts_with(&c.run))
        .collect();
    if ours.is_empty() {
        return;
    }
    let states: Vec<DeleteTopicState<'_>> = ours
        .iter()
        .map(|n| DeleteTopicState {
            name: Some(n),
            topic_id: Uuid::ZERO,
        })
        .collect();
    let body = DeleteTopicsRequest {
        topics: Array::new(&states),
        topic_names: Array::new(&ours),
        timeout_ms: 30_000,
    };
    let _ = s.exchange(c.v(ApiKey::DeleteTopics), &body);
}

/// Runs without Kafka: the allowlist names scripts that exist, and says why.
#[test]
fn allowlist_is_well_formed() {
    for (script, pattern, why) in ALLOWED {
        assert!(
            *script == "*" || SCRIPTS.iter().any(|(n, _)| n == script),
            "allowlist entry for unknown script {script}"
        );
        assert!(
            !pattern.is_empty() && !why.is_empty(),
            "{script}: empty pattern or reason"
        );
    }
}

/// Versions below what Kafka 4.x serves (KIP-896), whether advertised
/// (Produce 0-2, JoinGroup 0-1: Kafka 4.4 still lists them) or not.
fn below_the_floor(s: &mut Side, c: &Ctx) {
    let t = c.name("floor");
    setup_topics(s, c, &[(&t, 1)]);
    let m1 = common::wire::legacy_v1(c.ts, None, b"old");
    for v in [0, 1, 2] {
        produce(s, "a magic-1 message", v, &t, 0, &m1);
    }
    let g = c.name("floor-group");
    for v in [0, 1] {
        // A group each: a second member would wait a rebalance out.
        join(s, "an old version", v, &format!("{g}-{v}"), "");
    }
    fetch(s, "v3", 3, &t, Uuid::ZERO, 0, 0, -1);
    list_offsets(s, "v0", 0, &t, 0, -1);
    commit(s, "v1", 1, &g, "", -1, &t, 0, 1);
    offset_fetch(s, "v0", 0, &g, Some((&t, &[0])));
    create_topics(s, "v1", 1, &[creatable(&c.name("floor-v1"), 1, -1)], false);
    let names = [t.as_str()];
    let body = DeleteTopicsRequest {
        topic_names: Array::new(&names),
        timeout_ms: 30_000,
        ..Default::default()
    };
    delete_topics_call(s, "v0", 0, &body);
}

/// InitProducerId with a transactional id: ids and epochs as the
/// transaction coordinator hands them out (transactions: the `txn_*` scripts).
fn transactional_id(s: &mut Side, c: &Ctx) {
    let v = c.v(ApiKey::InitProducerId);
    // Kafka creates __transaction_state at the first use: wait (unrecorded)
    // with another id until its coordinator answers.
    let warm = c.name("txn-warm-up");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = ErrorCode::NONE;
    loop {
        // FindCoordinator is what makes Kafka create the topic.
        let keys = [warm.as_str()];
        let find = FindCoordinatorRequest {
            key: &warm,
            key_type: 1,
            coordinator_keys: Array::new(&keys),
        };
        let _ = s.exchange(c.v(ApiKey::FindCoordinator), &find);
        let body = InitProducerIdRequest {
            transactional_id: Some(&warm),
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
        };
        if let Some(f) = s.exchange(v, &body) {
            let (_, r): (_, InitProducerIdResponse) = decode(&f, v);
            if r.error_code.is_ok() {
                break;
            }
            last = r.error_code;
        }
        assert!(
            Instant::now() < deadline,
            "{}: no transaction coordinator ({last:?})",
            s.name
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let tid = c.name("txn");
    find_coordinator(
        s,
        "a transactional id",
        c.v(ApiKey::FindCoordinator),
        &tid,
        1,
    );
    let init = InitProducerIdRequest {
        transactional_id: Some(&tid),
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
    };
    s.call("a transactional id", v, &init);
    s.call("the same id again (epoch bump)", v, &init);
    let slow = InitProducerIdRequest {
        transaction_timeout_ms: 3_600_000,
        ..init
    };
    s.call("a timeout over transaction.max.timeout.ms", v, &slow);
    let empty = InitProducerIdRequest {
        transactional_id: Some(""),
        ..init
    };
    s.call("an empty transactional id", v, &empty);
}

// ------------------------------------------------------------ transactions

/// The version a microkafka client sends: the highest both brokers accept,
/// within the client's ceiling (AddPartitionsToTxn v0-3, the client form;
/// EndTxn v0-4, transactions version 1).
fn client_v(c: &Ctx, api: ApiKey) -> i16 {
    c.v(api).min(client_versions(api).max)
}

/// Waits (unrecorded) until the transaction coordinator answers: Kafka
/// creates `__transaction_state` at the first FindCoordinator for a
/// transactional id, and loads it.
fn txn_warm_up(s: &mut Side, c: &Ctx) {
    let v = c.v(ApiKey::InitProducerId);
    let warm = c.name("txn-warm-up");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = ErrorCode::NONE;
    loop {
        // FindCoordinator is what makes Kafka create the topic.
        let keys = [warm.as_str()];
        let find = FindCoordinatorRequest {
            key: &warm,
            key_type: 1,
            coordinator_keys: Array::new(&keys),
        };
        let _ = s.exchange(c.v(ApiKey::FindCoordinator), &find);
        let body = InitProducerIdRequest {
            transactional_id: Some(&warm),
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
        };
        if let Some(f) = s.exchange(v, &body) {
            let (_, r): (_, InitProducerIdResponse) = decode(&f, v);
            if r.error_code.is_ok() {
                return;
            }
            last = r.error_code;
        }
        assert!(
            Instant::now() < deadline,
            "{}: no transaction coordinator ({last:?})",
            s.name
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A transactional producer as a script drives it.
#[derive(Clone, Copy)]
struct Txn<'a> {
    id: &'a str,
    pid: i64,
    epoch: i16,
}

/// InitProducerId for `id`, recorded; settles CONCURRENT_TRANSACTIONS
/// (a transaction being ended by this call) unrecorded first when `settle`.
fn init_txn<'a>(s: &mut Side, c: &Ctx, label: &str, id: &'a str, settle: bool) -> Txn<'a> {
    let v = c.v(ApiKey::InitProducerId);
    let body = InitProducerIdRequest {
        transactional_id: Some(id),
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
    };
    let f = if settle {
        retry_concurrent(s, label, v, &body, |f| {
            decode::<InitProducerIdResponse>(f, v).1.error_code
        })
    } else {
        s.call(label, v, &body)
    };
    let f = f.expect("InitProducerId answered");
    let (_, r): (_, InitProducerIdResponse) = decode(&f, v);
    Txn {
        id,
        pid: r.producer_id,
        epoch: r.producer_epoch,
    }
}

/// Sends `body` until the answer is not CONCURRENT_TRANSACTIONS (the
/// coordinator still writing the previous transaction's markers; how many
/// times depends on timing), then records that answer.
fn retry_concurrent<'q, Q: Request<'q>>(
    s: &mut Side,
    label: &str,
    v: i16,
    body: &Q,
    error: impl Fn(&[u8]) -> ErrorCode,
) -> Option<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let f = s.exchange(v, body)?;
        if error(&f) != ErrorCode::CONCURRENT_TRANSACTIONS || Instant::now() > deadline {
            let label = format!("{label} ({:?} v{v})", Q::API_KEY);
            let (_, resp) = decode::<Q::Response<'_>>(&f, v);
            let lines = render(&resp, &mut s.tokens);
            s.steps.push(Step { label, lines });
            return Some(f);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn add_partitions(
    s: &mut Side,
    label: &str,
    v: i16,
    t: Txn<'_>,
    topics: &[(&str, &[i32])],
    settle: bool,
) {
    let list: Vec<AddPartitionsToTxnTopic<'_>> = topics
        .iter()
        .map(|&(name, parts)| AddPartitionsToTxnTopic {
            name,
            partitions: Array::new(parts),
        })
        .collect();
    let body = AddPartitionsToTxnRequest {
        v3_and_below_transactional_id: t.id,
        v3_and_below_producer_id: t.pid,
        v3_and_below_producer_epoch: t.epoch,
        v3_and_below_topics: Array::new(&list),
        ..Default::default()
    };
    let first_error = |f: &[u8]| {
        let (_, r) = decode::<AddPartitionsToTxnResponse>(f, v);
        r.results_by_topic_v3_and_below
            .iter()
            .flat_map(|t| t.results_by_partition.iter())
            .map(|p| p.partition_error_code)
            .find(|e| e.is_err())
            .unwrap_or(ErrorCode::NONE)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let f = loop {
        let Some(f) = s.exchange(v, &body) else {
            return s.closed(label);
        };
        if !settle
            || first_error(&f) != ErrorCode::CONCURRENT_TRANSACTIONS
            || Instant::now() > deadline
        {
            break f;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Recorded sorted by topic, then partition: Kafka's order follows a
    // hash map (errors first).
    let (_, r): (_, AddPartitionsToTxnResponse) = decode(&f, v);
    let mut parts: Vec<Vec<AddPartitionsToTxnPartitionResult>> = Vec::new();
    let mut topics: Vec<&str> = Vec::new();
    for t in r.results_by_topic_v3_and_below.iter() {
        let mut p: Vec<AddPartitionsToTxnPartitionResult> = t.results_by_partition.iter().collect();
        p.sort_by_key(|p| p.partition_index);
        parts.push(p);
        topics.push(t.name);
    }
    let mut order: Vec<usize> = (0..topics.len()).collect();
    order.sort_by_key(|&i| topics[i]);
    let sorted: Vec<AddPartitionsToTxnTopicResult<'_>> = order
        .iter()
        .map(|&i| AddPartitionsToTxnTopicResult {
            name: topics[i],
            results_by_partition: Array::new(&parts[i]),
        })
        .collect();
    s.record(
        label,
        v,
        &AddPartitionsToTxnResponse {
            results_by_topic_v3_and_below: Array::new(&sorted),
            ..r
        },
    );
}

/// A transactional batch of `values` from `t` at `seq`.
fn txn_batch(c: &Ctx, t: Txn<'_>, seq: i32, values: &[&[u8]]) -> Vec<u8> {
    let options = BatchOptions {
        producer_id: t.pid,
        producer_epoch: t.epoch,
        base_sequence: seq,
        transactional: true,
        ..BatchOptions::default()
    };
    batch_of(values, c.ts, Compression::None, options)
}

#[allow(clippy::too_many_arguments)]
fn produce_txn(
    s: &mut Side,
    c: &Ctx,
    label: &str,
    transactional_id: Option<&str>,
    t: Txn<'_>,
    topic: &str,
    partition: i32,
    seq: i32,
    values: &[&[u8]],
) {
    let v = c.v(ApiKey::Produce);
    produce_txn_v(
        s,
        c,
        label,
        v,
        transactional_id,
        t,
        topic,
        partition,
        seq,
        values,
    );
}

#[allow(clippy::too_many_arguments)]
fn produce_txn_v(
    s: &mut Side,
    c: &Ctx,
    label: &str,
    v: i16,
    transactional_id: Option<&str>,
    t: Txn<'_>,
    topic: &str,
    partition: i32,
    seq: i32,
    values: &[&[u8]],
) {
    let records = txn_batch(c, t, seq, values);
    let parts = [PartitionProduceData {
        index: partition,
        records: Some(&records),
    }];
    let topics = [TopicProduceData {
        name: topic,
        partition_data: Array::new(&parts),
    }];
    let body = ProduceRequest {
        transactional_id,
        ..produce_body(&topics, -1)
    };
    s.call(label, v, &body);
}

/// ListOffsets latest in read_committed: the last stable offset.
fn list_offsets_committed(s: &mut Side, label: &str, v: i16, topic: &str, partition: i32) {
    let parts = [ListOffsetsPartition {
        partition_index: partition,
        timestamp: -1,
        ..Default::default()
    }];
    let topics = [ListOffsetsTopic {
        name: topic,
        partitions: Array::new(&parts),
    }];
    let body = ListOffsetsRequest {
        replica_id: -1,
        isolation_level: 1,
        topics: Array::new(&topics),
        timeout_ms: 10_000,
    };
    s.call(label, v, &body);
}

fn add_offsets(s: &mut Side, label: &str, v: i16, t: Txn<'_>, group: &str) {
    let body = AddOffsetsToTxnRequest {
        transactional_id: t.id,
        producer_id: t.pid,
        producer_epoch: t.epoch,
        group_id: group,
    };
    s.call(label, v, &body);
}

#[allow(clippy::too_many_arguments)]
fn txn_commit_offset(
    s: &mut Side,
    label: &str,
    v: i16,
    t: Txn<'_>,
    group: &str,
    generation: i32,
    member: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) {
    let parts = [TxnOffsetCommitRequestPartition {
        partition_index: partition,
        committed_offset: offset,
        committed_leader_epoch: -1,
        committed_metadata: Some("txn"),
    }];
    let topics = [TxnOffsetCommitRequestTopic {
        name: topic,
        partitions: Array::new(&parts),
    }];
    let body = TxnOffsetCommitRequest {
        transactional_id: t.id,
        group_id: group,
        producer_id: t.pid,
        producer_epoch: t.epoch,
        generation_id: generation,
        member_id: member,
        group_instance_id: None,
        topics: Array::new(&topics),
    };
    s.call(label, v, &body);
}

fn end_txn(s: &mut Side, label: &str, v: i16, t: Txn<'_>, committed: bool) -> Option<Vec<u8>> {
    let body = EndTxnRequest {
        transactional_id: t.id,
        producer_id: t.pid,
        producer_epoch: t.epoch,
        committed,
    };
    s.call(label, v, &body)
}

/// A Fetch at `isolation` (0 read_uncommitted, 1 read_committed), by name;
/// unrecorded. Returns the frame.
fn fetch_isolated(
    s: &mut Side,
    v: i16,
    topic: &str,
    id: Uuid,
    partition: i32,
    offset: i64,
    isolation: i8,
) -> Vec<u8> {
    let parts = [FetchPartition {
        partition,
        fetch_offset: offset,
        partition_max_bytes: 1 << 20,
        ..Default::default()
    }];
    let topics = [FetchTopic {
        topic,
        topic_id: id,
        partitions: Array::new(&parts),
    }];
    let body = FetchRequest {
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        isolation_level: isolation,
        session_epoch: -1,
        topics: Array::new(&topics),
        ..Default::default()
    };
    s.exchange(v, &body).expect("Fetch answered")
}

/// The batches of a Fetch answer, one line each: offsets, producer,
/// transactional or control (with the marker), and the values; the bytes
/// themselves differ (markers carry the broker's clock).
fn summarise_batches(records: &[u8], tokens: &mut Tokens) -> Vec<String> {
    use microkafka_core::record::{Batch, ControlRecord, RecordSet};
    let mut out = Vec::new();
    for entry in RecordSet::new(records) {
        let Ok(Batch::V2(b)) = entry else {
            out.push("<not a v2 batch>".to_owned());
            continue;
        };
        let a = b.attributes();
        let producer = if b.producer_id() >= 0 {
            tokens.token("producer-id", &b.producer_id().to_string())
        } else {
            "-1".to_owned()
        };
        let mut what = Vec::new();
        let mut marker = String::new();
        if let Ok(records) = b.records() {
            for r in records.flatten() {
                if a.is_control() {
                    marker = match r.key.map(ControlRecord::parse) {
                        Some(Ok(c)) => format!(" marker {:?} v{}", c.kind, c.version),
                        _ => " marker <unreadable>".to_owned(),
                    };
                } else {
                    what.push(String::from_utf8_lossy(r.value.unwrap_or_default()).into_owned());
                }
            }
        }
        out.push(format!(
            "batch {}..={} producer {producer} epoch {} seq {} transactional {} control {}{marker} values {what:?}",
            b.base_offset(),
            b.last_offset(),
            b.producer_epoch(),
            b.base_sequence(),
            a.is_transactional(),
            a.is_control(),
        ));
    }
    out
}

/// A Fetch at `isolation`, recorded: the answer without its record bytes,
/// then a summary of its batches.
#[allow(clippy::too_many_arguments)]
fn fetch_txn(
    s: &mut Side,
    label: &str,
    v: i16,
    topic: &str,
    id: Uuid,
    partition: i32,
    offset: i64,
    isolation: i8,
) {
    let f = fetch_isolated(s, v, topic, id, partition, offset, isolation);
    let (_, r): (_, FetchResponse) = decode(&f, v);
    let mut batches = Vec::new();
    let topics: Vec<Vec<FetchPartitionData<'_>>> = r
        .responses
        .iter()
        .map(|t| {
            t.partitions
                .iter()
                .map(|p| {
                    batches.extend(summarise_batches(
                        p.records.unwrap_or_default(),
                        &mut s.tokens,
                    ));
                    FetchPartitionData {
                        records: p.records.map(|_| &[][..]),
                        ..p
                    }
                })
                .collect()
        })
        .collect();
    let responses: Vec<FetchableTopicResponse<'_>> = r
        .responses
        .iter()
        .zip(&topics)
        .map(|(t, parts)| FetchableTopicResponse {
            partitions: Array::new(parts),
            ..t
        })
        .collect();
    s.record(
        label,
        v,
        &FetchResponse {
            responses: Array::new(&responses),
            ..r
        },
    );
    s.note(&format!("{label}: batches"), batches);
}

/// Waits (unrecorded) until a partition's last stable offset reaches its
/// high watermark: Kafka writes transaction markers after answering EndTxn.
fn wait_stable(s: &mut Side, c: &Ctx, topic: &str, id: Uuid, partition: i32) {
    let v = c.v(ApiKey::Fetch);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let f = fetch_isolated(s, v, topic, id, partition, 0, 1);
        let (_, r): (_, FetchResponse) = decode(&f, v);
        let p = r
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .next()
            .expect("one partition");
        if p.error_code.is_ok() && p.last_stable_offset == p.high_watermark {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}: {topic}-{partition} never became stable",
            s.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// OffsetFetch of one partition with `require_stable` (v7+).
fn offset_fetch_stable(
    s: &mut Side,
    label: &str,
    v: i16,
    group: &str,
    topic: &str,
    partition: i32,
    require_stable: bool,
) {
    let parts = [partition];
    if v >= 8 {
        let list = [OffsetFetchRequestTopics {
            name: topic,
            partition_indexes: Array::new(&parts),
        }];
        let groups = [OffsetFetchRequestGroup {
            group_id: group,
            topics: Some(Array::new(&list)),
            ..Default::default()
        }];
        let body = OffsetFetchRequest {
            groups: Array::new(&groups),
            require_stable,
            ..Default::default()
        };
        s.call(label, v, &body);
    } else {
        let list = [OffsetFetchRequestTopic {
            name: topic,
            partition_indexes: Array::new(&parts),
        }];
        let body = OffsetFetchRequest {
            group_id: group,
            topics: Some(Array::new(&list)),
            require_stable,
            ..Default::default()
        };
        s.call(label, v, &body);
    }
}

/// A committed transaction: partitions and offsets added, transactional
/// batches, the last stable offset held at the open transaction, the
/// commit markers, and the offsets visible to `require_stable` readers
/// only once committed.
fn txn_commit(s: &mut Side, c: &Ctx) {
    let topic = c.name("txn-commit");
    let group = c.name("txn-commit-group");
    setup_topics(s, c, &[(&topic, 2)]);
    txn_warm_up(s, c);
    let id_of_topic = topic_id(s, c, &topic);
    let tid = c.name("txn-commit-id");
    find_coordinator(
        s,
        "the transaction coordinator",
        c.v(ApiKey::FindCoordinator),
        &tid,
        1,
    );
    let t = init_txn(s, c, "init", &tid, false);
    let vf = c.v(ApiKey::Fetch);
    // Something stable before the transaction.
    produce(
        s,
        "a plain batch",
        c.v(ApiKey::Produce),
        &topic,
        0,
        &batch(&[b"plain"], c.ts),
    );
    let va = client_v(c, ApiKey::AddPartitionsToTxn);
    add_partitions(s, "both partitions", va, t, &[(&topic, &[0, 1])], false);
    add_partitions(s, "the same again", va, t, &[(&topic, &[0])], false);
    produce_txn(
        s,
        c,
        "in the transaction",
        Some(&tid),
        t,
        &topic,
        0,
        0,
        &[b"t0", b"t1"],
    );
    produce_txn(
        s,
        c,
        "the other partition",
        Some(&tid),
        t,
        &topic,
        1,
        0,
        &[b"u0"],
    );
    produce_txn(s, c, "next sequence", Some(&tid), t, &topic, 0, 2, &[b"t2"]);
    fetch_txn(
        s,
        "read_committed while open",
        vf,
        &topic,
        id_of_topic,
        0,
        0,
        1,
    );
    fetch_txn(
        s,
        "read_uncommitted while open",
        vf,
        &topic,
        id_of_topic,
        0,
        0,
        0,
    );
    let vl = c.v(ApiKey::ListOffsets);
    list_offsets(s, "latest (read_uncommitted)", vl, &topic, 0, -1);
    list_offsets_committed(s, "latest (read_committed)", vl, &topic, 0);
    // Offsets in the transaction.
    add_offsets(
        s,
        "the group",
        client_v(c, ApiKey::AddOffsetsToTxn),
        t,
        &group,
    );
    add_offsets(
        s,
        "the group again",
        client_v(c, ApiKey::AddOffsetsToTxn),
        t,
        &group,
    );
    let vt = client_v(c, ApiKey::TxnOffsetCommit);
    txn_commit_offset(s, "an offset", vt, t, &group, -1, "", &topic, 0, 5);
    txn_commit_offset(s, "an offset, v0", 0, t, &group, -1, "", &topic, 1, 6);
    let vo = c.v(ApiKey::OffsetFetch);
    offset_fetch_stable(s, "pending, require_stable", vo, &group, &topic, 0, true);
    offset_fetch_stable(
        s,
        "pending, not require_stable",
        vo,
        &group,
        &topic,
        0,
        false,
    );
    let ve = client_v(c, ApiKey::EndTxn);
    end_txn(s, "commit", ve, t, true);
    wait_stable(s, c, &topic, id_of_topic, 0);
    wait_stable(s, c, &topic, id_of_topic, 1);
    fetch_txn(
        s,
        "read_committed after the commit",
        vf,
        &topic,
        id_of_topic,
        0,
        0,
        1,
    );
    fetch_txn(
        s,
        "read_committed, lowest version",
        c.floor(ApiKey::Fetch),
        &topic,
        id_of_topic,
        0,
        0,
        1,
    );
    list_offsets_committed(s, "latest (read_committed)", vl, &topic, 0);
    fetch_txn(s, "the other partition", vf, &topic, id_of_topic, 1, 0, 1);
    fetch_txn(
        s,
        "read_uncommitted after the commit",
        vf,
        &topic,
        id_of_topic,
        0,
        0,
        0,
    );
    offset_fetch_stable(s, "committed, require_stable", vo, &group, &topic, 0, true);
    // Ending it again: a retry of the same commit, then an abort.
    let body = EndTxnRequest {
        transactional_id: t.id,
        producer_id: t.pid,
        producer_epoch: t.epoch,
        committed: true,
    };
    retry_concurrent(s, "commit again (a retry)", ve, &body, |f| {
        decode::<EndTxnResponse>(f, ve).1.error_code
    });
    end_txn(s, "abort a committed transaction", ve, t, false);
    // The next transaction, at the lowest versions.
    add_partitions(s, "the next transaction, v0", 0, t, &[(&topic, &[1])], true);
    produce_txn(s, c, "in it", Some(&tid), t, &topic, 1, 1, &[b"u1"]);
    end_txn(s, "commit, v0", 0, t, true);
    wait_stable(s, c, &topic, id_of_topic, 1);
    fetch_txn(s, "read_committed", vf, &topic, id_of_topic, 1, 0, 1);
}

/// Aborted transactions: the batches stay in the log, read_committed
/// fetches list them in `aborted_transactions`, markers close them.
fn txn_abort(s: &mut Side, c: &Ctx) {
    let topic = c.name("txn-abort");
    setup_topics(s, c, &[(&topic, 1)]);
    txn_warm_up(s, c);
    let id_of_topic = topic_id(s, c, &topic);
    let tid = c.name("txn-abort-id");
    let t = init_txn(s, c, "init", &tid, false);
    let va = client_v(c, ApiKey::AddPartitionsToTxn);
    let ve = client_v(c, ApiKey::EndTxn);
    let vf = c.v(ApiKey::Fetch);
    let vp = c.v(ApiKey::Produce);
    add_partitions(s, "the partition", va, t, &[(&topic, &[0])], false);
    produce_txn(
        s,
        c,
        "aborted 1",
        Some(&tid),
        t,
        &topic,
        0,
        0,
        &[b"a0", b"a1"],
    );
    produce(
        s,
        "a plain batch in between",
        vp,
        &topic,
        0,
        &batch(&[b"plain"], c.ts),
    );
    produce_txn(s, c, "aborted 2", Some(&tid), t, &topic, 0, 2, &[b"a2"]);
    fetch_txn(
        s,
        "read_committed while open",
        vf,
        &topic,
        id_of_topic,
        0,
        0,
        1,
    );
    end_txn(s, "abort", ve, t, false);
    wait_stable(s, c, &topic, id_of_topic, 0);
    fetch_txn(s, "read_committed", vf, &topic, id_of_topic, 0, 0, 1);
    fetch_txn(
        s,
        "read_committed from the middle",
        vf,
        &topic,
        id_of_topic,
        0,
        3,
        1,
    );
    fetch_txn(s, "read_uncommitted", vf, &topic, id_of_topic, 0, 0, 0);
    // A committed transaction after it: only the abort is listed.
    add_partitions(s, "again", va, t, &[(&topic, &[0])], true);
    produce_txn(s, c, "committed", Some(&tid), t, &topic, 0, 3, &[b"c0"]);
    end_txn(s, "commit", ve, t, true);
    wait_stable(s, c, &topic, id_of_topic, 0);
    fetch_txn(s, "read_committed, both", vf, &topic, id_of_topic, 0, 0, 1);
    fetch_txn(
        s,
        "read_committed past the abort",
        vf,
        &topic,
        id_of_topic,
        0,
        5,
        1,
    );
    list_offsets(s, "latest", c.v(ApiKey::ListOffsets), &topic, 0, -1);
}

/// A newer producer with the same transactional id fences the older one:
/// its open transaction is aborted, and every request with the old epoch
/// is refused.
fn txn_fencing(s: &mut Side, c: &Ctx) {
    let topic = c.name("txn-fence");
    let group = c.name("txn-fence-group");
    setup_topics(s, c, &[(&topic, 1)]);
    txn_warm_up(s, c);
    let id_of_topic = topic_id(s, c, &topic);
    let tid = c.name("txn-fence-id");
    let va = client_v(c, ApiKey::AddPartitionsToTxn);
    let ve = client_v(c, ApiKey::EndTxn);
    let old = init_txn(s, c, "the first producer", &tid, false);
    add_partitions(s, "its partition", va, old, &[(&topic, &[0])], false);
    produce_txn(
        s,
        c,
        "its batch",
        Some(&tid),
        old,
        &topic,
        0,
        0,
        &[b"zombie"],
    );
    // The second InitProducerId aborts the open transaction: Kafka answers
    // CONCURRENT_TRANSACTIONS until the abort's markers are written.
    let v = c.v(ApiKey::InitProducerId);
    let body = InitProducerIdRequest {
        transactional_id: Some(&tid),
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
    };
    s.call("a second producer, while a transaction is open", v, &body);
    let new = init_txn(s, c, "the second producer, settled", &tid, true);
    wait_stable(s, c, &topic, id_of_topic, 0);
    produce_txn(
        s,
        c,
        "the old epoch produces",
        Some(&tid),
        old,
        &topic,
        0,
        1,
        &[b"late"],
    );
    add_partitions(s, "the old epoch adds", va, old, &[(&topic, &[0])], false);
    add_partitions(
        s,
        "the old epoch adds, v1",
        1,
        old,
        &[(&topic, &[0])],
        false,
    );
    add_offsets(
        s,
        "the old epoch adds offsets",
        client_v(c, ApiKey::AddOffsetsToTxn),
        old,
        &group,
    );
    end_txn(s, "the old epoch commits", ve, old, true);
    end_txn(s, "the old epoch commits, v1", 1, old, true);
    fetch_txn(
        s,
        "read_committed",
        c.v(ApiKey::Fetch),
        &topic,
        id_of_topic,
        0,
        0,
        1,
    );
    // The new producer works.
    add_partitions(s, "the new epoch adds", va, new, &[(&topic, &[0])], true);
    produce_txn(
        s,
        c,
        "the new epoch produces",
        Some(&tid),
        new,
        &topic,
        0,
        0,
        &[b"fresh"],
    );
    end_txn(s, "the new epoch commits", ve, new, true);
    wait_stable(s, c, &topic, id_of_topic, 0);
    fetch_txn(
        s,
        "read_committed after",
        c.v(ApiKey::Fetch),
        &topic,
        id_of_topic,
        0,
        0,
        1,
    );
    // KIP-360: InitProducerId naming the current id and epoch bumps it;
    // naming an older epoch is fenced.
    let v = c.v(ApiKey::InitProducerId);
    let bump = InitProducerIdRequest {
        transactional_id: Some(&tid),
        transaction_timeout_ms: 60_000,
        producer_id: new.pid,
        producer_epoch: new.epoch,
    };
    retry_concurrent(s, "bump the current epoch (KIP-360)", v, &bump, |f| {
        decode::<InitProducerIdResponse>(f, v).1.error_code
    });
    s.call(
        "bump an older epoch",
        v,
        &InitProducerIdRequest {
            producer_epoch: old.epoch,
            ..bump
        },
    );
    s.call(
        "bump another producer id",
        v,
        &InitProducerIdRequest {
            producer_id: new.pid + 7,
            ..bump
        },
    );
    txn_commit_offset(
        s,
        "the old epoch commits an offset",
        client_v(c, ApiKey::TxnOffsetCommit),
        old,
        &group,
        -1,
        "",
        &topic,
        0,
        1,
    );
}

/// Transaction requests the coordinator or a partition leader refuses.
fn txn_errors(s: &mut Side, c: &Ctx) {
    let topic = c.name("txn-err");
    let group = c.name("txn-err-group");
    setup_topics(s, c, &[(&topic, 2)]);
    txn_warm_up(s, c);
    let va = client_v(c, ApiKey::AddPartitionsToTxn);
    let ve = client_v(c, ApiKey::EndTxn);
    let vo = client_v(c, ApiKey::AddOffsetsToTxn);
    let vt = client_v(c, ApiKey::TxnOffsetCommit);
    let unknown_id = c.name("txn-never-initialised");
    let unknown = Txn {
        id: &unknown_id,
        pid: 4242,
        epoch: 0,
    };
    end_txn(s, "EndTxn, an unknown transactional id", ve, unknown, true);
    end_txn(
        s,
        "EndTxn, an unknown transactional id, abort",
        ve,
        unknown,
        false,
    );
    add_partitions(
        s,
        "an unknown transactional id",
        va,
        unknown,
        &[(&topic, &[0])],
        false,
    );
    add_offsets(s, "an unknown transactional id", vo, unknown, &group);
    let tid = c.name("txn-err-id");
    let t = init_txn(s, c, "init", &tid, false);
    end_txn(s, "EndTxn with nothing open", ve, t, true);
    end_txn(s, "EndTxn abort with nothing open", ve, t, false);
    let wrong = Txn {
        pid: t.pid + 1,
        ..t
    };
    add_partitions(
        s,
        "another producer id",
        va,
        wrong,
        &[(&topic, &[0])],
        false,
    );
    end_txn(s, "EndTxn, another producer id", ve, wrong, true);
    let newer = Txn {
        epoch: t.epoch + 1,
        ..t
    };
    add_partitions(s, "a newer epoch", va, newer, &[(&topic, &[0])], false);
    let missing = c.name("txn-err-missing");
    add_partitions(
        s,
        "an unknown topic among known ones",
        va,
        t,
        &[(&topic, &[0]), (&missing, &[0])],
        false,
    );
    add_partitions(
        s,
        "an unknown partition",
        va,
        t,
        &[(&topic, &[0, 7])],
        false,
    );
    // Produce outside the transaction's partitions.
    produce_txn(
        s,
        c,
        "a partition not added",
        Some(&tid),
        t,
        &topic,
        1,
        0,
        &[b"x"],
    );
    produce_txn_v(
        s,
        c,
        "a partition not added, v3",
        3,
        Some(&tid),
        t,
        &topic,
        1,
        0,
        &[b"x"],
    );
    produce_txn(
        s,
        c,
        "no transactional id in the request",
        None,
        t,
        &topic,
        0,
        0,
        &[b"y"],
    );
    add_partitions(s, "partition 0", va, t, &[(&topic, &[0])], false);
    produce_txn(
        s,
        c,
        "added, but another transactional id",
        Some(&unknown_id),
        t,
        &topic,
        0,
        0,
        &[b"z"],
    );
    produce_txn(
        s,
        c,
        "added, sequence 3",
        Some(&tid),
        t,
        &topic,
        0,
        3,
        &[b"gap"],
    );
    produce_txn(
        s,
        c,
        "added, sequence 0",
        Some(&tid),
        t,
        &topic,
        0,
        0,
        &[b"ok"],
    );
    // Offsets without AddOffsetsToTxn first, then for a group with members.
    txn_commit_offset(
        s,
        "without AddOffsetsToTxn",
        vt,
        t,
        &group,
        -1,
        "",
        &topic,
        0,
        1,
    );
    add_offsets(s, "the group", vo, t, &group);
    txn_commit_offset(
        s,
        "an unknown member",
        vt,
        t,
        &group,
        3,
        "nobody",
        &topic,
        0,
        1,
    );
    txn_commit_offset(
        s,
        "an unknown partition",
        vt,
        t,
        &group,
        -1,
        "",
        &topic,
        9,
        1,
    );
    let empty = Txn { id: "", ..t };
    add_partitions(
        s,
        "an empty transactional id",
        va,
        empty,
        &[(&topic, &[0])],
        false,
    );
    end_txn(s, "abort", ve, t, false);
    let v = c.v(ApiKey::InitProducerId);
    let zero = InitProducerIdRequest {
        transactional_id: Some(&tid),
        transaction_timeout_ms: 0,
        producer_id: -1,
        producer_epoch: -1,
    };
    s.call("a zero transaction timeout", v, &zero);
    find_coordinator(
        s,
        "an empty transactional id",
        c.v(ApiKey::FindCoordinator),
        "",
        1,
    );
}

/// EndTxn v5 (transactions version 2, KIP-890 part 2) after partitions
/// added with AddPartitionsToTxn v3: what a broker answers a client that
/// mixes the forms.
fn txn_end_v5(s: &mut Side, c: &Ctx) {
    let topic = c.name("txn-v5");
    setup_topics(s, c, &[(&topic, 1)]);
    txn_warm_up(s, c);
    let id_of_topic = topic_id(s, c, &topic);
    let tid = c.name("txn-v5-id");
    let t = init_txn(s, c, "init", &tid, false);
    let va = client_v(c, ApiKey::AddPartitionsToTxn);
    add_partitions(s, "the partition", va, t, &[(&topic, &[0])], false);
    produce_txn(s, c, "a batch", Some(&tid), t, &topic, 0, 0, &[b"v5"]);
    let f = end_txn(s, "commit, v5", 5, t, true);
    wait_stable(s, c, &topic, id_of_topic, 0);
    fetch_txn(
        s,
        "read_committed",
        c.v(ApiKey::Fetch),
        &topic,
        id_of_topic,
        0,
        0,
        1,
    );
    let Some(f) = f else { return };
    let (_, r): (_, EndTxnResponse) = decode(&f, 5);
    let next = Txn {
        pid: if r.producer_id >= 0 {
            r.producer_id
        } else {
            t.pid
        },
        epoch: if r.producer_epoch >= 0 {
            r.producer_epoch
        } else {
            t.epoch
        },
        ..t
    };
    add_partitions(s, "the next transaction", va, next, &[(&topic, &[0])], true);
    produce_txn(
        s,
        c,
        "a batch at the new epoch",
        Some(&tid),
        next,
        &topic,
        0,
        0,
        &[b"v5b"],
    );
    let f = end_txn(s, "abort, v5", 5, next, false);
    let aborted = f.map(|f| decode::<EndTxnResponse>(&f, 5).1);
    wait_stable(s, c, &topic, id_of_topic, 0);
    let body = EndTxnRequest {
        transactional_id: t.id,
        producer_id: t.pid,
        producer_epoch: t.epoch,
        committed: true,
    };
    retry_concurrent(s, "the first epoch, v5", 5, &body, |f| {
        decode::<EndTxnResponse>(f, 5).1.error_code
    });
    if let Some(r) = aborted {
        let last = Txn {
            epoch: r.producer_epoch,
            ..t
        };
        end_txn(s, "nothing open, v5", 5, last, true);
    }
}

// ------------------------------------------------------------ admin (issue 18)

/// A consumer-protocol subscription (v0) to `topic`.
fn subscription_to(topic: &str) -> Vec<u8> {
    let mut m = vec![0, 0, 0, 0, 0, 1];
    m.extend_from_slice(&(topic.len() as i16).to_be_bytes());
    m.extend_from_slice(topic.as_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m
}

fn describe_configs(
    s: &mut Side,
    label: &str,
    v: i16,
    resources: &[(i8, &str, Option<&[&str]>)],
    synonyms: bool,
) {
    let list: Vec<DescribeConfigsResource<'_>> = resources
        .iter()
        .map(
            |&(resource_type, resource_name, keys)| DescribeConfigsResource {
                resource_type,
                resource_name,
                configuration_keys: keys.map(Array::new),
            },
        )
        .collect();
    let body = DescribeConfigsRequest {
        resources: Array::new(&list),
        include_synonyms: synonyms,
        include_documentation: false,
    };
    s.call(label, v, &body);
}

fn incremental_alter(
    s: &mut Side,
    label: &str,
    v: i16,
    topic: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) {
    let configs: Vec<IncrementalAlterableConfig<'_>> = ops
        .iter()
        .map(
            |&(name, config_operation, value)| IncrementalAlterableConfig {
                name,
                config_operation,
                value,
            },
        )
        .collect();
    let resources = [IncrementalAlterConfigsResource {
        resource_type: CONFIG_RESOURCE_TOPIC,
        resource_name: topic,
        configs: Array::new(&configs),
    }];
    let body = IncrementalAlterConfigsRequest {
        resources: Array::new(&resources),
        validate_only,
    };
    s.call(label, v, &body);
}

fn alter_configs(s: &mut Side, label: &str, v: i16, topic: &str, entries: &[(&str, Option<&str>)]) {
    let configs: Vec<AlterableConfig<'_>> = entries
        .iter()
        .map(|&(name, value)| AlterableConfig { name, value })
        .collect();
    let resources = [AlterConfigsResource {
        resource_type: CONFIG_RESOURCE_TOPIC,
        resource_name: topic,
        configs: Array::new(&configs),
    }];
    let body = AlterConfigsRequest {
        resources: Array::new(&resources),
        validate_only: false,
    };
    s.call(label, v, &body);
}

/// The keys the config scripts compare: those the mock acts on and a few
/// others. Kafka's answer for every key also depends on the broker's own
/// `server.properties` (e.g. `min.insync.replicas` shows as a dynamic
/// cluster default there), so the scripts name their keys.
const CONFIG_KEYS: &[&str] = &[
    "cleanup.policy",
    "compression.type",
    "delete.retention.ms",
    "max.message.bytes",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.ms",
];

/// DescribeConfigs: defaults, a topic's own settings (from CreateTopics),
/// synonyms or not, the lowest version Kafka 4 serves, an unknown topic and
/// an unknown key.
fn describe_configs_script(s: &mut Side, c: &Ctx) {
    let v = c.v(ApiKey::DescribeConfigs);
    let plain = c.name("dc-plain");
    let set = c.name("dc-set");
    setup_topics(s, c, &[(&plain, 1)]);
    let configs = [
        CreatableTopicConfig {
            name: "retention.ms",
            value: Some("3600000"),
        },
        CreatableTopicConfig {
            name: "cleanup.policy",
            value: Some("compact,delete"),
        },
    ];
    let topic = [CreatableTopic {
        configs: Array::new(&configs),
        ..creatable(&set, 1, -1)
    }];
    let body = CreateTopicsRequest {
        topics: Array::new(&topic),
        timeout_ms: 30_000,
        validate_only: false,
    };
    let _ = s.exchange(c.v(ApiKey::CreateTopics), &body);
    wait_for_partitions(s, c, &set, 1);
    let keys = Some(CONFIG_KEYS);
    describe_configs(s, "defaults, with synonyms", v, &[(2, &plain, keys)], true);
    describe_configs(
        s,
        "set at creation, with synonyms",
        v,
        &[(2, &set, keys)],
        true,
    );
    describe_configs(s, "no synonyms", v, &[(2, &set, keys)], false);
    describe_configs(
        s,
        "lowest version",
        c.floor(ApiKey::DescribeConfigs),
        &[(2, &set, keys)],
        true,
    );
    describe_configs(
        s,
        "unknown topic, unknown key",
        v,
        &[
            (2, &c.name("dc-missing"), keys),
            (2, &plain, Some(&["no.such.key"][..])),
        ],
        false,
    );
    create_topics(
        s,
        "CreateTopics: bad configs",
        c.v(ApiKey::CreateTopics),
        &[CreatableTopic {
            configs: Array::new(&[CreatableTopicConfig {
                name: "retention.ms",
                value: Some("soon"),
            }]),
            ..creatable(&c.name("dc-bad-value"), 1, -1)
        }],
        false,
    );
    create_topics(
        s,
        "CreateTopics: unknown config",
        c.v(ApiKey::CreateTopics),
        &[CreatableTopic {
            configs: Array::new(&[CreatableTopicConfig {
                name: "no.such.key",
                value: Some("1"),
            }]),
            ..creatable(&c.name("dc-bad-key"), 1, -1)
        }],
        false,
    );
}

/// Waits (unrecorded) until DescribeConfigs shows `key` = `value` on
/// `topic`: Kafka's broker applies an alteration once the controller's
/// record reaches its metadata image, a moment after the answer.
fn wait_config(s: &mut Side, c: &Ctx, topic: &str, key: &str, value: &str) {
    let v = c.v(ApiKey::DescribeConfigs);
    let keys = [key];
    let resources = [DescribeConfigsResource {
        resource_type: CONFIG_RESOURCE_TOPIC,
        resource_name: topic,
        configuration_keys: Some(Array::new(&keys)),
    }];
    let body = DescribeConfigsRequest {
        resources: Array::new(&resources),
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(f) = s.exchange(v, &body) {
            let (_, r): (_, DescribeConfigsResponse) = decode(&f, v);
            let seen = r
                .results
                .iter()
                .flat_map(|r| r.configs.iter())
                .any(|e| e.name == key && e.value == Some(value));
            if seen {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{}: {topic} never showed {key}={value}",
            s.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// IncrementalAlterConfigs and AlterConfigs on a topic, each followed by
/// DescribeConfigs; refusals (unknown key, bad value, append to a
/// non-list, unknown topic, unknown operation, a key twice, a null value).
fn alter_configs_script(s: &mut Side, c: &Ctx) {
    let t = c.name("ac");
    setup_topics(s, c, &[(&t, 1)]);
    let vi = c.v(ApiKey::IncrementalAlterConfigs);
    let va = c.v(ApiKey::AlterConfigs);
    let vd = c.v(ApiKey::DescribeConfigs);
    let keys = Some(CONFIG_KEYS);
    incremental_alter(
        s,
        "set two keys",
        vi,
        &t,
        &[
            ("retention.ms", CONFIG_OP_SET, Some("100000")),
            ("max.message.bytes", CONFIG_OP_SET, Some("2000")),
        ],
        false,
    );
    wait_config(s, c, &t, "max.message.bytes", "2000");
    describe_configs(s, "after set", vd, &[(2, &t, keys)], true);
    incremental_alter(
        s,
        "append compact, delete retention.ms",
        vi,
        &t,
        &[
            ("cleanup.policy", CONFIG_OP_APPEND, Some("compact")),
            ("retention.ms", CONFIG_OP_DELETE, None),
        ],
        false,
    );
    wait_config(s, c, &t, "cleanup.policy", "delete,compact");
    wait_config(s, c, &t, "retention.ms", "604800000");
    describe_configs(s, "after append", vd, &[(2, &t, keys)], true);
    incremental_alter(
        s,
        "subtract delete",
        vi,
        &t,
        &[("cleanup.policy", CONFIG_OP_SUBTRACT, Some("delete"))],
        false,
    );
    incremental_alter(
        s,
        "validate only",
        vi,
        &t,
        &[("segment.ms", CONFIG_OP_SET, Some("1000"))],
        true,
    );
    wait_config(s, c, &t, "cleanup.policy", "compact");
    describe_configs(
        s,
        "after subtract, validate only",
        vd,
        &[(2, &t, keys)],
        false,
    );
    incremental_alter(
        s,
        "lowest version",
        c.floor(ApiKey::IncrementalAlterConfigs),
        &t,
        &[("segment.ms", CONFIG_OP_SET, Some("60000"))],
        false,
    );
    for (label, ops) in [
        ("unknown key", [("no.such.key", CONFIG_OP_SET, Some("1"))]),
        ("bad value", [("retention.ms", CONFIG_OP_SET, Some("soon"))]),
        (
            "below the minimum",
            [("segment.bytes", CONFIG_OP_SET, Some("10"))],
        ),
        (
            "append to a long",
            [("retention.ms", CONFIG_OP_APPEND, Some("1"))],
        ),
        (
            "bad policy",
            [("cleanup.policy", CONFIG_OP_SET, Some("shred"))],
        ),
    ] {
        incremental_alter(s, label, vi, &t, &ops, false);
    }
    incremental_alter(
        s,
        "a key twice",
        vi,
        &t,
        &[
            ("retention.ms", CONFIG_OP_SET, Some("1000")),
            ("retention.ms", CONFIG_OP_SET, Some("2000")),
        ],
        false,
    );
    incremental_alter(
        s,
        "unknown topic",
        vi,
        &c.name("ac-missing"),
        &[("retention.ms", CONFIG_OP_SET, Some("1000"))],
        false,
    );
    wait_config(s, c, &t, "segment.ms", "60000");
    describe_configs(s, "after refusals", vd, &[(2, &t, keys)], false);
    alter_configs(
        s,
        "replace all",
        va,
        &t,
        &[
            ("retention.bytes", Some("1048576")),
            ("retention.ms", Some("5000")),
        ],
    );
    wait_config(s, c, &t, "retention.ms", "5000");
    describe_configs(s, "after AlterConfigs", vd, &[(2, &t, keys)], true);
    alter_configs(s, "bad value", va, &t, &[("retention.ms", Some("x"))]);
    alter_configs(s, "unknown topic", va, &c.name("ac-missing"), &[]);
    alter_configs(
        s,
        "lowest version, back to defaults",
        c.floor(ApiKey::AlterConfigs),
        &t,
        &[],
    );
    wait_config(s, c, &t, "retention.ms", "604800000");
    wait_config(s, c, &t, "retention.bytes", "-1");
    describe_configs(s, "after reset", vd, &[(2, &t, keys)], false);
}

fn delete_records_call(s: &mut Side, label: &str, v: i16, topic: &str, parts: &[(i32, i64)]) {
    let partitions: Vec<DeleteRecordsPartition> = parts
        .iter()
        .map(|&(partition_index, offset)| DeleteRecordsPartition {
            partition_index,
            offset,
        })
        .collect();
    let topics = [DeleteRecordsTopic {
        name: topic,
        partitions: Array::new(&partitions),
    }];
    let body = DeleteRecordsRequest {
        topics: Array::new(&topics),
        timeout_ms: 10_000,
    };
    s.call(label, v, &body);
}

/// DeleteRecords: inside the log, below its start, -1, past the end, an
/// unknown partition and topic; ListOffsets and Fetch see the new start; a
/// compacted topic refuses.
fn delete_records_script(s: &mut Side, c: &Ctx) {
    let t = c.name("dr");
    setup_topics(s, c, &[(&t, 1)]);
    let v = c.v(ApiKey::DeleteRecords);
    let values: Vec<Vec<u8>> = (0..10).map(|i| format!("r{i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
    produce(
        s,
        "ten records",
        c.v(ApiKey::Produce),
        &t,
        0,
        &batch(&refs[..5], c.ts),
    );
    produce(
        s,
        "ten records",
        c.v(ApiKey::Produce),
        &t,
        0,
        &batch(&refs[5..], c.ts),
    );
    delete_records_call(s, "up to 3", v, &t, &[(0, 3)]);
    list_offsets(s, "earliest after", c.v(ApiKey::ListOffsets), &t, 0, -2);
    delete_records_call(s, "below the start", v, &t, &[(0, 1)]);
    delete_records_call(s, "past the end", v, &t, &[(0, 11)]);
    delete_records_call(s, "unknown partition", v, &t, &[(5, 1)]);
    delete_records_call(s, "unknown topic", v, &c.name("dr-missing"), &[(0, 1)]);
    delete_records_call(
        s,
        "lowest version, up to 7",
        c.floor(ApiKey::DeleteRecords),
        &t,
        &[(0, 7)],
    );
    let id = topic_id(s, c, &t);
    fetch(
        s,
        "fetch below the start",
        c.v(ApiKey::Fetch),
        &t,
        id,
        0,
        2,
        -1,
    );
    delete_records_call(s, "-1: everything", v, &t, &[(0, -1)]);
    list_offsets(
        s,
        "earliest at the end",
        c.v(ApiKey::ListOffsets),
        &t,
        0,
        -2,
    );
    let compacted = c.name("dr-compact");
    incremental_setup_compact(s, c, &compacted);
    delete_records_call(s, "compacted topic", v, &compacted, &[(0, 0)]);
}

/// Creates `topic` with `cleanup.policy=compact` (unrecorded).
fn incremental_setup_compact(s: &mut Side, c: &Ctx, topic: &str) {
    let configs = [CreatableTopicConfig {
        name: "cleanup.policy",
        value: Some("compact"),
    }];
    let t = [CreatableTopic {
        configs: Array::new(&configs),
        ..creatable(topic, 1, -1)
    }];
    let body = CreateTopicsRequest {
        topics: Array::new(&t),
        timeout_ms: 30_000,
        validate_only: false,
    };
    let _ = s.exchange(c.v(ApiKey::CreateTopics), &body);
    wait_for_partitions(s, c, topic, 1);
}

fn offset_delete_call(s: &mut Side, label: &str, group: &str, topic: &str, parts: &[i32]) {
    let partitions: Vec<OffsetDeleteRequestPartition> = parts
        .iter()
        .map(|&partition_index| OffsetDeleteRequestPartition { partition_index })
        .collect();
    let topics = [OffsetDeleteRequestTopic {
        name: topic,
        partitions: Array::new(&partitions),
    }];
    let body = OffsetDeleteRequest {
        group_id: group,
        topics: Array::new(&topics),
    };
    s.call(label, 0, &body);
}

fn delete_groups_call(s: &mut Side, label: &str, v: i16, groups: &[&str]) {
    let body = DeleteGroupsRequest {
        groups_names: Array::new(groups),
    };
    s.call(label, v, &body);
}

/// OffsetDelete and DeleteGroups: an empty group's offsets deleted, an
/// unknown group, a member subscribed to the topic, a group with members,
/// the group deleted once empty, and again.
fn group_admin_script(s: &mut Side, c: &Ctx) {
    let g = c.name("ga");
    let t = c.name("ga-t");
    let other = c.name("ga-other");
    setup_topics(s, c, &[(&t, 2), (&other, 1)]);
    let vc = c.v(ApiKey::OffsetCommit);
    let vf = c.v(ApiKey::OffsetFetch);
    let vd = c.v(ApiKey::DeleteGroups);
    for p in 0..2 {
        commit(s, "admin commit", vc, &g, "", -1, &t, p, 5);
    }
    commit(s, "admin commit", vc, &g, "", -1, &other, 0, 1);
    offset_delete_call(s, "one partition of an empty group", &g, &t, &[1]);
    offset_delete_call(s, "no offset there", &g, &t, &[1]);
    offset_delete_call(s, "unknown topic", &g, &c.name("ga-missing"), &[0]);
    // One topic at a time: Kafka lists a group's topics in no fixed order.
    offset_fetch(s, "after OffsetDelete", vf, &g, Some((&t, &[0, 1])));
    offset_fetch(s, "after OffsetDelete", vf, &g, Some((&other, &[0])));
    offset_delete_call(s, "unknown group", &c.name("ga-nobody"), &t, &[0]);
    delete_groups_call(s, "unknown group", vd, &[&c.name("ga-nobody")]);

    // A member subscribed to `t` joins.
    let metadata = subscription_to(&t);
    let protocols = [JoinGroupRequestProtocol {
        name: "range",
        metadata: &metadata,
    }];
    let vj = c.v(ApiKey::JoinGroup);
    let mut member = String::new();
    let mut generation = -1;
    for label in ["join", "join with the member id"] {
        let body = JoinGroupRequest {
            group_id: &g,
            session_timeout_ms: SESSION_MS,
            rebalance_timeout_ms: SESSION_MS,
            member_id: &member,
            protocol_type: "consumer",
            protocols: Array::new(&protocols),
            ..Default::default()
        };
        if let Some(f) = s.call(label, vj, &body) {
            let (_, r): (_, JoinGroupResponse) = decode(&f, vj);
            member = r.member_id.to_owned();
            generation = r.generation_id;
        }
    }
    sync(
        s,
        "sync",
        c.v(ApiKey::SyncGroup),
        &g,
        &member,
        generation,
        true,
    );
    offset_delete_call(s, "subscribed topic", &g, &t, &[0]);
    offset_delete_call(s, "a topic no member subscribes to", &g, &other, &[0]);
    delete_groups_call(s, "with a member", vd, &[&g]);
    leave(s, "leave", c.v(ApiKey::LeaveGroup), &g, &[&member]);
    delete_groups_call(s, "empty", vd, &[&g]);
    offset_fetch(s, "after DeleteGroups", vf, &g, None);
    describe_groups(s, "after DeleteGroups", c.v(ApiKey::DescribeGroups), &[&g]);
    delete_groups_call(
        s,
        "again, lowest version",
        c.floor(ApiKey::DeleteGroups),
        &[&g],
    );
}

/// DescribeCluster (with and without authorized operations, at both
/// versions) and ElectLeaders on a single node: nothing to elect.
fn cluster_admin_script(s: &mut Side, c: &Ctx) {
    let t = c.name("el");
    setup_topics(s, c, &[(&t, 2)]);
    let v = c.v(ApiKey::DescribeCluster);
    s.call("describe", v, &DescribeClusterRequest::default());
    s.call(
        "with authorized operations",
        v,
        &DescribeClusterRequest {
            include_cluster_authorized_operations: true,
            ..Default::default()
        },
    );
    s.call(
        "lowest version",
        c.floor(ApiKey::DescribeCluster),
        &DescribeClusterRequest::default(),
    );
    s.call(
        "controllers asked of a broker",
        v,
        &DescribeClusterRequest {
            endpoint_type: 2,
            ..Default::default()
        },
    );
    let ve = c.v(ApiKey::ElectLeaders);
    for (label, election, v) in [
        ("preferred", ELECTION_PREFERRED, ve),
        ("unclean", ELECTION_UNCLEAN, ve),
        (
            "lowest version",
            ELECTION_PREFERRED,
            c.floor(ApiKey::ElectLeaders),
        ),
    ] {
        let topics = [ElectLeadersTopicPartitions {
            topic: &t,
            partitions: Array::new(&[0, 1, 9]),
        }];
        let body = ElectLeadersRequest {
            election_type: election,
            topic_partitions: Some(Array::new(&topics)),
            timeout_ms: 10_000,
        };
        s.call(label, v, &body);
    }
    let missing = c.name("el-missing");
    let topics = [ElectLeadersTopicPartitions {
        topic: &missing,
        partitions: Array::new(&[0]),
    }];
    let body = ElectLeadersRequest {
        election_type: ELECTION_PREFERRED,
        topic_partitions: Some(Array::new(&topics)),
        timeout_ms: 10_000,
    };
    s.call("unknown topic", ve, &body);
}
