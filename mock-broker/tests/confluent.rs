//! confluent-kafka (Python, librdkafka 2.16) against the mock cluster: a
//! consumer group splitting a topic and resuming from committed offsets,
//! the AdminClient creating, growing and deleting topics, and producing and
//! consuming in a group over every security protocol × SASL mechanism
//! (SSL with a client certificate too).
//!
//! Needs confluent-kafka: `.ci/install-capture-deps`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{cluster, python, TempDir};
use microkafka_mock_broker::{
    ApiKey, Config, Fault, SaslConfig, SaslMechanism, Security, SecurityProtocol, TestCa,
};

const PARTITIONS: i32 = 6;
const TOTAL: usize = 600;
const FIRST: usize = 300;

/// `MSG member partition offset value`, `ASSIGN member p,p,...` and the
/// other lines, as they came.
#[derive(Default)]
struct Run {
    messages: Vec<(String, i32, i64, String)>,
    assigned: BTreeMap<String, Vec<i32>>,
    other: Vec<String>,
}

fn parse(out: &str) -> Run {
    let mut run = Run::default();
    for line in out.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        match f.as_slice() {
            ["MSG", member, p, o, v] => run.messages.push((
                member.to_string(),
                p.parse().unwrap(),
                o.parse().unwrap(),
                v.to_string(),
            )),
            ["ASSIGN", member, parts] => {
                let parts = parts
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|p| p.parse().unwrap());
                run.assigned.insert(member.to_string(), parts.collect());
            }
            _ => run.other.push(line.to_owned()),
        }
    }
    run
}

#[test]
fn consumer_group_splits_commits_and_resumes() {
    let c = cluster(Config::with_brokers(3));
    c.create_topic("orders", PARTITIONS).unwrap();
    let bs = c.bootstrap_servers();
    let (total, first, parts) = (TOTAL.to_string(), FIRST.to_string(), PARTITIONS.to_string());
    let timeout = Duration::from_secs(120);

    // Two members share the topic, consume part of it, commit, leave.
    let split = parse(&python(
        "group_consumer.py",
        &["split", &bs, "orders", "billing", &parts, &total, &first],
        timeout,
    ));
    let a = &split.assigned["c1"];
    let b = &split.assigned["c2"];
    assert_eq!(a.len() + b.len(), PARTITIONS as usize, "{a:?} {b:?}");
    assert_eq!(
        (a.len(), b.len()),
        (3, 3),
        "range assignor splits six partitions evenly"
    );
    assert!(
        split.other.contains(&"LISTED billing STABLE".to_owned()),
        "{:?}",
        split.other
    );
    assert!(
        split
            .other
            .contains(&format!("DESCRIBED billing STABLE 2 {PARTITIONS}")),
        "{:?}",
        split.other
    );
    let all: BTreeSet<i32> = a.iter().chain(b).copied().collect();
    assert_eq!(all, (0..PARTITIONS).collect());
    assert!(split.messages.len() >= FIRST);
    for (member, p, _, _) in &split.messages {
        assert!(
            split.assigned[member].contains(p),
            "{member} read partition {p} it does not own"
        );
    }

    // The broker holds each partition's next offset after what was consumed.
    let mut consumed_to: BTreeMap<i32, i64> = BTreeMap::new();
    for (_, p, o, _) in &split.messages {
        let next = consumed_to.entry(*p).or_insert(0);
        *next = (*next).max(o + 1);
    }
    for p in 0..PARTITIONS {
        assert_eq!(
            c.committed_offset("billing", "orders", p),
            consumed_to.get(&p).copied(),
            "partition {p}"
        );
    }

    // A restarted group picks up at the committed offsets: nothing lost, nothing twice.
    let resumed = parse(&python(
        "group_consumer.py",
        &["resume", &bs, "orders", "billing", &parts],
        timeout,
    ));
    assert_eq!(resumed.assigned["c3"], (0..PARTITIONS).collect::<Vec<_>>());
    for p in 0..PARTITIONS {
        let first_resumed = resumed
            .messages
            .iter()
            .filter(|m| m.1 == p)
            .map(|m| m.2)
            .min();
        if let Some(o) = first_resumed {
            assert_eq!(
                o,
                consumed_to.get(&p).copied().unwrap_or(0),
                "partition {p} resumes at its commit"
            );
        }
    }
    let mut values: Vec<&str> = split
        .messages
        .iter()
        .chain(&resumed.messages)
        .map(|m| m.3.as_str())
        .collect();
    values.sort_unstable();
    let mut want: Vec<String> = (0..TOTAL).map(|i| format!("m{i}")).collect();
    want.sort_unstable();
    assert_eq!(values, want, "every message exactly once");
    for p in 0..PARTITIONS {
        let end = c.offsets("orders", p).unwrap().1;
        assert_eq!(
            c.committed_offset("billing", "orders", p).unwrap_or(0),
            end,
            "partition {p}"
        );
    }

    // The group protocol was the classic one, end to end.
    let apis: BTreeSet<ApiKey> = c.requests().iter().filter_map(|r| r.api()).collect();
    for api in [
        ApiKey::FindCoordinator,
        ApiKey::JoinGroup,
        ApiKey::SyncGroup,
        ApiKey::Heartbeat,
        ApiKey::OffsetCommit,
        ApiKey::OffsetFetch,
        ApiKey::LeaveGroup,
        ApiKey::Fetch,
        ApiKey::ListGroups,
        ApiKey::DescribeGroups,
    ] {
        assert!(apis.contains(&api), "{api} never sent: {apis:?}");
    }
}

#[test]
fn admin_client_creates_grows_and_deletes_topics() {
    let c = cluster(Config {
        auto_create_topics: false,
        ..Config::with_brokers(3)
    });
    let out = python(
        "admin.py",
        &[&c.bootstrap_servers()],
        Duration::from_secs(60),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "CREATED adm-a",
            "CREATED adm-b",
            "TOPICS adm-a:4,adm-b:2",
            "ERROR create adm-a TOPIC_ALREADY_EXISTS",
            "GREW adm-a",
            "TOPICS adm-a:6,adm-b:2",
            "DELETED adm-b",
            "ERROR delete adm-nope UNKNOWN_TOPIC_OR_PART",
            "TOPICS adm-a:6",
        ],
        "{out}"
    );
    assert_eq!(c.with_cluster(|c| c.topic_names()), ["adm-a"]);
    assert_eq!(c.with_cluster(|c| c.partition_count("adm-a")), Some(6));
}

/// Produce answers lost on the network: librdkafka retries; with idempotence
/// the broker recognises the retries (producer id, epoch, sequence) and
/// stores each message once, without it the retries are stored again.
#[test]
fn idempotent_producer_survives_lost_responses() {
    for (idempotent, topic) in [(true, "exactly-once"), (false, "at-least-once")] {
        let c = cluster(Config::with_brokers(1));
        c.create_topic(topic, 1).unwrap();
        c.inject(Fault::lose_response(ApiKey::Produce, 3));
        let flag = if idempotent { "1" } else { "0" };
        let out = python(
            "idempotent_producer.py",
            &[&c.bootstrap_servers(), topic, "30", flag],
            Duration::from_secs(120),
        );
        assert_eq!(
            out.trim(),
            "DELIVERED 30 FAILED 0",
            "idempotent={idempotent}"
        );
        let stored = c.offsets(topic, 0).unwrap().1;
        if idempotent {
            assert_eq!(stored, 30, "retries recognised as duplicates");
            let apis: BTreeSet<ApiKey> = c.requests().iter().filter_map(|r| r.api()).collect();
            assert!(apis.contains(&ApiKey::InitProducerId));
        } else {
            assert_eq!(stored, 33, "each lost answer costs one duplicate");
        }
    }
}

/// One secured setup: the broker's security and the client's settings.
struct Secured {
    name: String,
    security: Security,
    settings: serde_json::Value,
    principal: String,
}

/// Every protocol × mechanism, and SSL with a client certificate.
fn secured_setups(ca: &TestCa, dir: &TempDir) -> Vec<Secured> {
    let ca_path = dir.file("ca.pem", ca.cert_pem());
    let tls = || ca.server_tls(&["127.0.0.1"]).unwrap();
    let sasl = || SaslConfig::all().user("alice", "secret");
    let client = ca.client_cert("confluent").unwrap();
    let mut setups = vec![
        Secured {
            name: "PLAINTEXT".into(),
            security: Security::plaintext(),
            settings: serde_json::json!({}),
            principal: "ANONYMOUS".into(),
        },
        Secured {
            name: "SSL".into(),
            security: Security::ssl(tls()),
            settings: serde_json::json!({"security.protocol": "SSL", "ssl.ca.location": ca_path}),
            principal: "ANONYMOUS".into(),
        },
        Secured {
            name: "SSL-mTLS".into(),
            security: Security::ssl(tls().require_client_cert(ca.cert_pem())),
            settings: serde_json::json!({
                "security.protocol": "SSL",
                "ssl.ca.location": ca_path,
                "ssl.certificate.location": dir.file("client.pem", &client.cert_pem),
                "ssl.key.location": dir.file("client.key", &client.key_pem),
            }),
            principal: "CN=confluent".into(),
        },
    ];
    for protocol in [SecurityProtocol::SaslPlaintext, SecurityProtocol::SaslSsl] {
        for mechanism in SaslMechanism::ALL {
            let mut settings = serde_json::json!({
                "security.protocol": protocol.name(),
                "sasl.mechanisms": mechanism.name(),
            });
            if mechanism == SaslMechanism::OAuthBearer {
                settings["enable.sasl.oauthbearer.unsecure.jwt"] = true.into();
                settings["sasl.oauthbearer.config"] = "principal=alice".into();
            } else {
                settings["sasl.username"] = "alice".into();
                settings["sasl.password"] = "secret".into();
            }
            if protocol.uses_tls() {
                settings["ssl.ca.location"] = ca_path.clone().into();
            }
            setups.push(Secured {
                name: format!("{protocol}-{mechanism}"),
                security: Security {
                    protocol,
                    tls: protocol.uses_tls().then(tls),
                    sasl: sasl(),
                },
                settings,
                principal: "alice".into(),
            });
        }
    }
    setups
}

/// Producing and consuming in a group, as each protocol × mechanism: every
/// message arrives, the group's offsets are committed, and the broker saw
/// the client as the principal the setup names.
#[test]
fn group_over_every_protocol_and_mechanism() {
    const COUNT: usize = 200;
    let ca = TestCa::new("confluent CA").unwrap();
    let dir = TempDir::new("confluent-secure");
    let setups = secured_setups(&ca, &dir);
    assert_eq!(setups.len(), 11);
    std::thread::scope(|scope| {
        // A few at a time: each is a broker and a Python process.
        for chunk in setups.chunks(4) {
            let runs: Vec<_> = chunk
                .iter()
                .map(|setup| {
                    scope.spawn(move || {
                        let c = cluster(Config {
                            security: setup.security.clone(),
                            ..Config::with_brokers(1)
                        });
                        c.create_topic("secure", 1).unwrap();
                        let out = python(
                            "secure_clients.py",
                            &[
                                &c.bootstrap_servers(),
                                "secure",
                                "secure-group",
                                &COUNT.to_string(),
                                &setup.settings.to_string(),
                            ],
                            Duration::from_secs(120),
                        );
                        let lines: Vec<&str> = out.lines().collect();
                        let last = COUNT - 1;
                        assert_eq!(
                            lines,
                            [
                                format!("PRODUCED {COUNT}"),
                                format!("CONSUMED {COUNT}"),
                                format!("VALUES m0..m{last}"),
                                format!("COMMITTED {COUNT}"),
                            ],
                            "{}",
                            setup.name
                        );
                        assert_eq!(
                            c.committed_offset("secure-group", "secure", 0),
                            Some(COUNT as i64),
                            "{}",
                            setup.name
                        );
                        let seen: BTreeSet<String> = c
                            .requests()
                            .iter()
                            .filter(|r| {
                                matches!(
                                    r.api(),
                                    Some(
                                        ApiKey::Produce | ApiKey::JoinGroup | ApiKey::OffsetCommit
                                    )
                                )
                            })
                            .map(|r| r.principal.clone())
                            .collect();
                        assert_eq!(
                            seen,
                            BTreeSet::from([setup.principal.clone()]),
                            "{}",
                            setup.name
                        );
                        assert_eq!(
                            c.security_stats().failed_authentications,
                            0,
                            "{}",
                            setup.name
                        );
                    })
                })
                .collect();
            for run in runs {
                run.join().unwrap();
            }
        }
    });
}

/// confluent-kafka's transactional producer: committed and aborted
/// transactions interleaved over two partitions, each committed one with
/// a group offset; then read_committed sees exactly the committed values
/// and read_uncommitted everything, in order.
#[test]
fn transactional_producer_commits_and_aborts() {
    const TXNS: usize = 6;
    const PER_PARTITION: usize = 3;
    let c = cluster(Config::with_brokers(3));
    c.create_topic("payments", 2).unwrap();
    let out = python(
        "transactional_producer.py",
        &[
            &c.bootstrap_servers(),
            "payments",
            "2",
            "payer",
            &TXNS.to_string(),
        ],
        Duration::from_secs(120),
    );
    let line = |tag: &str| -> Vec<String> {
        let prefix = format!("{tag} ");
        let l = out
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {tag} line in {out}"));
        l[prefix.len()..]
            .split(',')
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    };
    assert!(out.lines().any(|l| l == "DONE"), "{out}");
    // In partition, then offset order: the values each partition holds.
    let expect = |aborted_too: bool| -> Vec<String> {
        let mut v = Vec::new();
        for part in 0..2 {
            for txn in 0..TXNS {
                let commit = txn % 2 == 0;
                if commit || aborted_too {
                    let tag = if commit { "c" } else { "a" };
                    v.extend((0..PER_PARTITION).map(|k| format!("{tag}{txn}-{part}-{k}")));
                }
            }
        }
        v
    };
    assert_eq!(line("COMMITTED"), expect(false), "read_committed");
    assert_eq!(line("UNCOMMITTED"), expect(true), "read_uncommitted");
    // Data, plus one marker per transaction and partition.
    for p in 0..2 {
        let end = c.offsets("payments", p).unwrap().1;
        assert_eq!(end as usize, TXNS * (PER_PARTITION + 1), "partition {p}");
    }
    // The last committed transaction's offsets, not the aborted ones'.
    let last_commit = (0..TXNS).filter(|t| t % 2 == 0).max().unwrap() as i64;
    for p in 0..2 {
        assert_eq!(
            c.committed_offset("payer", "payments", p),
            Some(100 + last_commit),
            "partition {p}"
        );
    }
    let apis: BTreeSet<ApiKey> = c.requests().iter().filter_map(|r| r.api()).collect();
    for api in [
        ApiKey::InitProducerId,
        ApiKey::AddPartitionsToTxn,
        ApiKey::AddOffsetsToTxn,
        ApiKey::TxnOffsetCommit,
        ApiKey::EndTxn,
    ] {
        assert!(apis.contains(&api), "{api} never sent: {apis:?}");
    }
    let tid = "payments-producer";
    let state = c.with_cluster(|c| c.transaction(tid)).unwrap();
    assert!(!state.open, "the last transaction ended");
    assert!(state.partitions.is_empty() && state.groups.is_empty());
}
