//! Writes the committed seeds of `broker_pipeline` (`seeds/broker_pipeline/`):
//! the golden librdkafka request captures of `core/tests/data/`, and
//! conversations built here against a cluster configured as the target's
//! (same seed, so the member ids and topic ids the broker hands out, which
//! later requests repeat, are the ones the target will see). Deterministic.
//!
//! ```sh
//! cd mock-broker/fuzz && cargo run --example make_seeds
//! ```

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use microkafka_core::protocol::frame::{decode_response, encode_request};
use microkafka_core::protocol::messages::*;
use microkafka_core::protocol::{Request, Response};
use microkafka_core::record::{BatchOptions, RecordBatchBuilder};
use microkafka_core::wire::{Array, Uuid, Writer};
use microkafka_mock_broker::{Cluster, Config, Outcome, SaslUser, Session};

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../core/tests/data/librdkafka"
);
const SEEDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/seeds/broker_pipeline");
const STEPS_MS: [u64; 8] = [0, 1, 10, 100, 1_000, 5_000, 30_000, 600_000];

/// A conversation, run as the target runs it, and its input bytes.
struct Script {
    cluster: Cluster,
    sessions: Vec<Session>,
    now: Instant,
    bytes: Vec<u8>,
    correlation_id: i32,
}

impl Script {
    fn new(flags: u8) -> Self {
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
        cluster.create_topic("golden", 2).unwrap();
        let sessions = (1..=3).map(|b| cluster.open_session(b, None)).collect();
        Script {
            cluster,
            sessions,
            now: Instant::now(),
            bytes: vec![flags],
            correlation_id: 0,
        }
    }

    /// Sends a whole frame (size prefix included) with `control`; returns the answer.
    fn frame(&mut self, control: u8, frame: &[u8]) -> Option<Vec<u8>> {
        self.bytes.push(control);
        self.bytes.extend_from_slice(frame);
        self.now += Duration::from_millis(STEPS_MS[usize::from(control >> 2 & 7)]);
        if control & 0x20 != 0 {
            self.cluster.handle_timeout(self.now);
        }
        let session = &mut self.sessions[usize::from(control & 3) % 3];
        let handled = self.cluster.handle(session, &frame[4..], self.now);
        let completions = self.cluster.take_completions();
        match handled.outcome {
            Outcome::Respond(answer) | Outcome::Close(Some(answer)) => Some(answer),
            _ => completions.into_iter().last().map(|c| c.frame),
        }
    }

    /// Sends `request` at `version` on connection `conn`; returns the decoded answer.
    fn send<'a, R: Request<'a>>(&mut self, conn: u8, version: i16, request: &R) -> Option<Vec<u8>> {
        self.correlation_id += 1;
        let mut buf = vec![0u8; 64 * 1024];
        let n = encode_request(
            &mut buf,
            self.correlation_id,
            Some("seed"),
            version,
            request,
        )
        .unwrap();
        self.frame(conn, &buf[..n])
    }

    fn write(self, name: &str) {
        fs::write(Path::new(SEEDS).join(name), &self.bytes).unwrap();
    }
}

fn answer<'a, R: Response<'a>>(frame: &'a [u8], version: i16) -> R {
    decode_response::<R>(&frame[4..], version).unwrap().1
}

fn golden(prefix: &str) {
    let mut names: Vec<String> = fs::read_dir(DATA)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(prefix) && n.ends_with("-req.bin") && !n.contains("unsupported"))
        .collect();
    names.sort_by_key(|n| {
        (
            !n.contains("ApiVersions"),
            !n.contains("Metadata"),
            n.clone(),
        )
    });
    let mut s = Script::new(0);
    for name in names {
        s.frame(0, &fs::read(Path::new(DATA).join(&name)).unwrap());
    }
    s.write(&format!("golden-{prefix}"));
}

fn batch(producer_id: i64, sequence: i32) -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let options = BatchOptions {
        producer_id,
        producer_epoch: 0,
        base_sequence: sequence,
        ..Default::default()
    };
    let mut b = RecordBatchBuilder::new(&mut buf, options).unwrap();
    b.append(1_700_000_000_000, Some(b"k"), Some(b"hello"), &[])
        .unwrap();
    b.append(1_700_000_000_001, None, Some(b"world"), &[])
        .unwrap();
    b.finish().unwrap().to_vec()
}

fn produce<'a>(
    topic: &'a str,
    partitions: &'a [PartitionProduceData<'a>; 1],
) -> [TopicProduceData<'a>; 1] {
    [TopicProduceData {
        name: topic,
        partition_data: Array::new(partitions),
    }]
}

fn produce_consume() {
    let mut s = Script::new(0);
    s.send(
        0,
        3,
        &ApiVersionsRequest {
            client_software_name: "seed",
            client_software_version: "1",
        },
    );
    let topics = [MetadataRequestTopic {
        name: Some("golden"),
        ..Default::default()
    }];
    let meta = s
        .send(
            0,
            12,
            &MetadataRequest {
                topics: Some(Array::new(&topics)),
                ..Default::default()
            },
        )
        .unwrap();
    let topic_id = answer::<MetadataResponse<'_>>(&meta, 12)
        .topics
        .iter()
        .next()
        .map_or(Uuid::ZERO, |t| t.topic_id);
    let init = s
        .send(
            1,
            4,
            &InitProducerIdRequest {
                transaction_timeout_ms: 60_000,
                ..Default::default()
            },
        )
        .unwrap();
    let pid = answer::<InitProducerIdResponse>(&init, 4).producer_id;
    for (conn, version, seq) in [(0u8, 9i16, 0), (1, 9, 2), (2, 3, 4)] {
        let records = batch(pid, seq);
        let parts = [PartitionProduceData {
            index: i32::from(conn % 2),
            records: Some(&records),
        }];
        let topics = produce("golden", &parts);
        s.send(
            conn,
            version,
            &ProduceRequest {
                acks: -1,
                timeout_ms: 1000,
                topic_data: Array::new(&topics),
                ..Default::default()
            },
        );
    }
    let parts = [ListOffsetsPartition {
        partition_index: 0,
        timestamp: -1,
        ..Default::default()
    }];
    let topics = [ListOffsetsTopic {
        name: "golden",
        partitions: Array::new(&parts),
    }];
    s.send(
        0,
        7,
        &ListOffsetsRequest {
            replica_id: -1,
            topics: Array::new(&topics),
            ..Default::default()
        },
    );
    for (version, offset, wait, control) in [
        (12i16, 0i64, 0, 0u8),
        (13, 1, 0, 1),
        (4, 4, 500, 2),
        (11, 2, 0, 0x20 | 4 << 2),
    ] {
        let parts = [FetchPartition {
            partition: 0,
            fetch_offset: offset,
            partition_max_bytes: 1 << 20,
            ..Default::default()
        }];
        let topics = [FetchTopic {
            topic: "golden",
            topic_id,
            partitions: Array::new(&parts),
        }];
        let fetch = FetchRequest {
            max_wait_ms: wait,
            min_bytes: 1,
            topics: Array::new(&topics),
            ..Default::default()
        };
        s.send(control, version, &fetch);
    }
    let topics = [CreatableTopic {
        name: "t2",
        num_partitions: 3,
        replication_factor: -1,
        ..Default::default()
    }];
    s.send(
        0,
        5,
        &CreateTopicsRequest {
            topics: Array::new(&topics),
            ..Default::default()
        },
    );
    let topics = [CreatePartitionsTopic {
        name: "t2",
        count: 5,
        assignments: None,
    }];
    s.send(
        0,
        3,
        &CreatePartitionsRequest {
            topics: Array::new(&topics),
            timeout_ms: 1000,
            validate_only: false,
        },
    );
    s.send(
        0,
        5,
        &DeleteTopicsRequest {
            topic_names: Array::new(&["t2"]),
            timeout_ms: 1000,
            ..Default::default()
        },
    );
    s.send(0, 4, &ListGroupsRequest::default());
    s.write("produce-consume");
}

fn group() {
    let mut s = Script::new(0);
    let find = s
        .send(
            0,
            4,
            &FindCoordinatorRequest {
                key: "g",
                coordinator_keys: Array::new(&["g"]),
                ..Default::default()
            },
        )
        .unwrap();
    let node = answer::<FindCoordinatorResponse<'_>>(&find, 4)
        .coordinators
        .iter()
        .next()
        .unwrap()
        .node_id;
    let conn = (node - 1) as u8;
    let mut metadata = vec![0u8; 64];
    let mut w = Writer::new(&mut metadata);
    let sub = ConsumerProtocolSubscription {
        topics: Array::new(&["golden"]),
        ..Default::default()
    };
    encode_subscription(&mut w, 1, &sub).unwrap();
    let n = w.position();
    metadata.truncate(n);
    let protocols = [JoinGroupRequestProtocol {
        name: "range",
        metadata: &metadata,
    }];
    let mut join = JoinGroupRequest {
        group_id: "g",
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        member_id: "",
        protocol_type: "consumer",
        protocols: Array::new(&protocols),
        ..Default::default()
    };
    let first = s.send(conn, 5, &join).unwrap();
    let member_id = answer::<JoinGroupResponse<'_>>(&first, 5)
        .member_id
        .to_owned();
    join.member_id = &member_id;
    let joined = s.send(conn, 5, &join).unwrap();
    let generation_id = answer::<JoinGroupResponse<'_>>(&joined, 5).generation_id;
    let assigned = [AssignmentTopicPartition {
        topic: "golden",
        partitions: Array::new(&[0, 1]),
    }];
    let mut assignment = vec![0u8; 64];
    let mut w = Writer::new(&mut assignment);
    let a = ConsumerProtocolAssignment {
        assigned_partitions: Array::new(&assigned),
        user_data: None,
    };
    encode_assignment(&mut w, 0, &a).unwrap();
    let n = w.position();
    assignment.truncate(n);
    let assignments = [SyncGroupRequestAssignment {
        member_id: &member_id,
        assignment: &assignment,
    }];
    let sync = SyncGroupRequest {
        group_id: "g",
        generation_id,
        member_id: &member_id,
        assignments: Array::new(&assignments),
        ..Default::default()
    };
    s.send(conn, 3, &sync);
    s.send(
        conn,
        3,
        &HeartbeatRequest {
            group_id: "g",
            generation_id,
            member_id: &member_id,
            group_instance_id: None,
        },
    );
    let parts = [OffsetCommitRequestPartition {
        partition_index: 0,
        committed_offset: 2,
        ..Default::default()
    }];
    let topics = [OffsetCommitRequestTopic {
        name: "golden",
        partitions: Array::new(&parts),
    }];
    s.send(
        conn,
        8,
        &OffsetCommitRequest {
            group_id: "g",
            generation_id_or_member_epoch: generation_id,
            member_id: &member_id,
            topics: Array::new(&topics),
            ..Default::default()
        },
    );
    let topics = [OffsetFetchRequestTopic {
        name: "golden",
        partition_indexes: Array::new(&[0, 1]),
    }];
    s.send(
        conn,
        7,
        &OffsetFetchRequest {
            group_id: "g",
            topics: Some(Array::new(&topics)),
            ..Default::default()
        },
    );
    s.send(
        0,
        5,
        &DescribeGroupsRequest {
            groups: Array::new(&["g"]),
            include_authorized_operations: false,
        },
    );
    let members = [LeaveGroupMemberIdentity {
        member_id: &member_id,
        ..Default::default()
    }];
    s.send(
        conn | 0x20 | 6 << 2,
        4,
        &LeaveGroupRequest {
            group_id: "g",
            members: Array::new(&members),
            ..Default::default()
        },
    );
    s.write("group");
}

fn sasl() {
    let mut s = Script::new(1);
    s.send(
        0,
        3,
        &ApiVersionsRequest {
            client_software_name: "seed",
            client_software_version: "1",
        },
    );
    s.send(0, 1, &SaslHandshakeRequest { mechanism: "PLAIN" });
    s.send(
        0,
        2,
        &SaslAuthenticateRequest {
            auth_bytes: b"\0u\0p",
        },
    );
    s.send(0, 4, &MetadataRequest::default());
    s.send(1, 0, &SaslHandshakeRequest { mechanism: "PLAIN" });
    let token = b"\0u\0p";
    s.frame(
        1,
        &[&(token.len() as i32).to_be_bytes()[..], token].concat(),
    );
    s.send(1, 4, &MetadataRequest::default());
    s.write("sasl");
}

fn main() {
    let _ = fs::remove_dir_all(SEEDS);
    fs::create_dir_all(SEEDS).unwrap();
    golden("kcat2.0.2");
    golden("librdkafka2.16");
    produce_consume();
    group();
    sasl();
}
