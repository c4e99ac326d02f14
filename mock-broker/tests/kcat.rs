//! kcat (librdkafka 2.0.2 on Debian) against the mock cluster: metadata,
//! produce and consume in every codec, keyed partitioning, legacy message
//! formats, SASL/PLAIN, SASL_SSL with SCRAM, SSL with a client certificate,
//! OAUTHBEARER with librdkafka's unsecured JWT, and the Kafka 4.x version floor.
//!
//! Needs kcat: `.ci/install-capture-deps`.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{cluster, kcat, require_kcat, run, TempDir};
use microkafka_core::record::{crc32_ieee, Batch, Compression, RecordSet};
use microkafka_mock_broker::{
    ApiKey, Config, ErrorCode, Fault, MockCluster, SaslConfig, SaslMechanism, SaslUser, Security,
    TestCa,
};

const MESSAGES: usize = 1000;
const PARTITIONS: i32 = 3;

/// `(key, value)` pairs: 37 distinct keys, values of varied length so every
/// codec has something to compress.
fn messages() -> Vec<(String, String)> {
    (0..MESSAGES)
        .map(|i| {
            let key = format!("key-{}", i % 37);
            let value = format!("value-{i}-{}", "abcdefgh".repeat(i % 25));
            (key, value)
        })
        .collect()
}

/// Consumes a whole topic as `(partition, offset, key, value)` rows.
fn consume(bootstrap: &str, topic: &str, extra: &[&str]) -> Vec<(i32, i64, String, String)> {
    let mut args = vec!["-C", "-t", topic, "-e", "-q", "-f", "%p\t%o\t%k\t%s\n"];
    args.extend_from_slice(extra);
    kcat(bootstrap, &args, b"")
        .lines()
        .map(|line| {
            let mut f = line.splitn(4, '\t');
            let mut next = || f.next().unwrap_or_else(|| panic!("short line {line:?}"));
            let p = next().parse().expect("partition");
            let o = next().parse().expect("offset");
            (p, o, next().to_owned(), next().to_owned())
        })
        .collect()
}

#[test]
fn kcat_lists_brokers_and_topics() {
    require_kcat();
    let c = cluster(Config::with_brokers(3));
    c.create_topic("listed", 4).unwrap();
    let out = kcat(&c.bootstrap_servers(), &["-L"], b"");
    assert!(out.contains(" 3 brokers:"), "{out}");
    for (i, addr) in c.addrs().iter().enumerate() {
        assert!(
            out.contains(&format!("broker {} at {addr}", i + 1)),
            "{out}"
        );
    }
    assert!(out.contains("topic \"listed\" with 4 partitions:"), "{out}");
    for p in 0..4 {
        let leader = c.leader("listed", p).unwrap();
        assert!(
            out.contains(&format!("partition {p}, leader {leader},")),
            "{out}"
        );
    }
    let apis: BTreeSet<_> = c.requests().iter().filter_map(|r| r.api()).collect();
    assert!(
        apis.contains(&ApiKey::ApiVersions) && apis.contains(&ApiKey::Metadata),
        "{apis:?}"
    );
}

/// Produces [`messages`] with `codec`, consumes them back and checks payloads,
/// keys, partitions (librdkafka's consistent_random: CRC-32 of the key modulo
/// the partition count), per-partition order, and the stored codec.
fn round_trip(codec: &str, compression: Compression) {
    require_kcat();
    let c = cluster(Config::with_brokers(3));
    let topic = format!("codec-{codec}");
    c.create_topic(&topic, PARTITIONS).unwrap();
    let sent = messages();
    let input: String = sent.iter().map(|(k, v)| format!("{k}\t{v}\n")).collect();
    let bs = c.bootstrap_servers();
    kcat(
        &bs,
        &[
            "-P",
            "-t",
            &topic,
            "-K",
            "\t",
            "-z",
            codec,
            "-X",
            "linger.ms=50",
        ],
        input.as_bytes(),
    );
    let got = consume(&bs, &topic, &[]);
    assert_eq!(got.len(), MESSAGES, "{codec}");
    let mut by_partition: BTreeMap<i32, Vec<(i64, String, String)>> = BTreeMap::new();
    for (p, o, k, v) in got {
        let expected = (crc32_ieee(k.as_bytes()) % PARTITIONS as u32) as i32;
        assert_eq!(
            p, expected,
            "{codec}: key {k} on partition {p}, librdkafka hashes it to {expected}"
        );
        by_partition.entry(p).or_default().push((o, k, v));
    }
    for (p, rows) in &by_partition {
        let offsets: Vec<i64> = rows.iter().map(|r| r.0).collect();
        assert_eq!(
            offsets,
            (0..rows.len() as i64).collect::<Vec<_>>(),
            "{codec}: partition {p}"
        );
        let want: Vec<(&str, &str)> = sent
            .iter()
            .filter(|(k, _)| (crc32_ieee(k.as_bytes()) % PARTITIONS as u32) as i32 == *p)
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let have: Vec<(&str, &str)> = rows
            .iter()
            .map(|(_, k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(have, want, "{codec}: partition {p} in produce order");
        assert_eq!(c.offsets(&topic, *p), Some((0, rows.len() as i64)));
        // Stored as received: batches in the producer's codec.
        let stored = c.log_bytes(&topic, *p, 0).unwrap();
        for batch in RecordSet::new(&stored) {
            let Batch::V2(batch) = batch.unwrap() else {
                panic!("kcat writes magic 2")
            };
            assert_eq!(batch.attributes().compression(), Ok(compression), "{codec}");
        }
    }
}

#[test]
fn kcat_round_trip_uncompressed() {
    round_trip("none", Compression::None);
}

#[test]
fn kcat_round_trip_gzip() {
    round_trip("gzip", Compression::Gzip);
}

#[test]
fn kcat_round_trip_snappy() {
    round_trip("snappy", Compression::Snappy);
}

#[test]
fn kcat_round_trip_lz4() {
    round_trip("lz4", Compression::Lz4);
}

#[test]
fn kcat_round_trip_zstd() {
    round_trip("zstd", Compression::Zstd);
}

/// librdkafka told the broker is 0.9 (and not to ask ApiVersions) speaks
/// Produce v1 with magic-0 messages and Fetch v1; compressed, they come as
/// wrapper messages whose inner offsets the broker must rewrite. The broker
/// stores the legacy sets (one offset per message) and serves them to old
/// and new consumers. (librdkafka asks ApiVersions anyway for any fallback
/// from 0.10 on, so magic 1 is covered by the cluster's own tests.)
#[test]
fn kcat_legacy_message_formats() {
    require_kcat();
    let c = cluster(Config::with_brokers(1));
    let bs = c.bootstrap_servers();
    let old = [
        "-X",
        "api.version.request=false",
        "-X",
        "broker.version.fallback=0.9.0",
    ];
    for codec in ["none", "gzip", "snappy", "lz4"] {
        let topic = format!("legacy-{codec}");
        // Created first: auto-creation answers the first Metadata
        // UNKNOWN_TOPIC_OR_PARTITION (as Kafka 4.x), and a message librdkafka
        // then sends alone may go uncompressed (gzip would not shrink it).
        c.create_topic(&topic, 1).unwrap();
        let input: String = (0..50)
            .map(|i| format!("k{i}\tv{i}-{}\n", "z".repeat(i)))
            .collect();
        let mut args = vec!["-P", "-t", topic.as_str(), "-K", "\t", "-z", codec];
        args.extend_from_slice(&old);
        kcat(&bs, &args, input.as_bytes());
        let stored = c.log_bytes(&topic, 0, 0).unwrap();
        let entries: Vec<_> = RecordSet::new(&stored).map(Result::unwrap).collect();
        assert!(!entries.is_empty());
        for e in &entries {
            let Batch::Legacy(m) = e else {
                panic!("{codec}: expected magic 0, got {e:?}")
            };
            assert_eq!(m.magic, 0, "{codec}");
            let wrapped = m.compression().unwrap() != Compression::None;
            assert_eq!(wrapped, codec != "none", "{codec}");
        }
        for extra in [&old[..], &[]] {
            let got = consume(&bs, &topic, extra);
            let rows: Vec<(i64, String, String)> =
                got.into_iter().map(|(_, o, k, v)| (o, k, v)).collect();
            let want: Vec<(i64, String, String)> = (0..50)
                .map(|i| {
                    (
                        i,
                        format!("k{i}"),
                        format!("v{i}-{}", "z".repeat(i as usize)),
                    )
                })
                .collect();
            assert_eq!(rows, want, "{codec}, consumer {extra:?}");
        }
    }
    let versions: BTreeSet<(i16, i16)> = c
        .requests()
        .iter()
        .filter(|r| r.api() == Some(ApiKey::Produce))
        .map(|r| (r.api_key, r.api_version))
        .collect();
    assert!(versions.contains(&(0, 1)), "{versions:?}");
}

/// With the Kafka 4.x floor, kcat's modern versions work and a client
/// speaking Produce v1 is refused.
#[test]
fn kcat_against_kafka4_versions() {
    require_kcat();
    let c = cluster(Config {
        kafka4: true,
        ..Config::with_brokers(1)
    });
    let bs = c.bootstrap_servers();
    kcat(&bs, &["-P", "-t", "modern"], b"a\nb\nc\n");
    let got = consume(&bs, "modern", &[]);
    assert_eq!(got.len(), 3);
    let mut cmd = std::process::Command::new("kcat");
    cmd.args([
        "-b",
        &bs,
        "-P",
        "-t",
        "ancient",
        "-X",
        "api.version.request=false",
    ])
    .args([
        "-X",
        "broker.version.fallback=0.9.0",
        "-X",
        "message.timeout.ms=3000",
    ]);
    let out = run(&mut cmd, b"x\n", std::time::Duration::from_secs(30));
    assert!(
        !out.success
            || out.stderr.contains("UNSUPPORTED_VERSION")
            || out.stderr.contains("not supported"),
        "a Produce v1 must not be accepted in Kafka 4.x mode\n{}",
        out.stderr
    );
    assert_eq!(
        c.offsets("ancient", 0).map(|o| o.1).unwrap_or(0),
        0,
        "nothing stored"
    );
}

#[test]
fn kcat_sasl_plain() {
    require_kcat();
    let c = cluster(Config {
        sasl_users: vec![SaslUser::new("alice", "secret")],
        ..Config::with_brokers(2)
    });
    let bs = c.bootstrap_servers();
    let sasl = |password: &str| {
        vec![
            "-X".to_owned(),
            "security.protocol=SASL_PLAINTEXT".to_owned(),
            "-X".to_owned(),
            "sasl.mechanisms=PLAIN".to_owned(),
            "-X".to_owned(),
            "sasl.username=alice".to_owned(),
            "-X".to_owned(),
            format!("sasl.password={password}"),
        ]
    };
    let good = sasl("secret");
    let good: Vec<&str> = good.iter().map(String::as_str).collect();
    let mut produce = vec!["-P", "-t", "secured"];
    produce.extend_from_slice(&good);
    kcat(&bs, &produce, b"1\n2\n");
    let got = consume(&bs, "secured", &good);
    assert_eq!(got.len(), 2);
    // Wrong password, and no SASL at all: no metadata.
    for args in [sasl("wrong"), Vec::new()] {
        let mut cmd = std::process::Command::new("kcat");
        cmd.args(["-b", &bs, "-L", "-m", "3"]).args(&args);
        let out = run(&mut cmd, b"", std::time::Duration::from_secs(30));
        assert!(
            !out.success || !out.stdout.contains("brokers:"),
            "{args:?}: {}",
            out.stdout
        );
    }
}

/// `-X key=value` for each setting.
fn settings(pairs: &[(&str, &str)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(k, v)| ["-X".to_owned(), format!("{k}={v}")])
        .collect()
}

/// Produces `n` lines to `topic` with `extra` settings and consumes them
/// back; checks every value arrived once, in order.
fn produce_and_consume(c: &MockCluster, topic: &str, extra: &[String], n: usize) {
    let bs = c.bootstrap_servers();
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let input: String = (0..n).map(|i| format!("{topic}-{i}\n")).collect();
    let mut produce = vec!["-P", "-t", topic];
    produce.extend_from_slice(&extra);
    kcat(&bs, &produce, input.as_bytes());
    let got: Vec<String> = consume(&bs, topic, &extra)
        .into_iter()
        .map(|(_, _, _, v)| v)
        .collect();
    let want: Vec<String> = (0..n).map(|i| format!("{topic}-{i}")).collect();
    assert_eq!(got, want, "{topic}");
}

/// kcat's `-L` with `extra` fails (no metadata comes back).
fn refused(c: &MockCluster, extra: &[String]) {
    let mut cmd = std::process::Command::new("kcat");
    cmd.args(["-b", &c.bootstrap_servers(), "-L", "-m", "3"])
        .args(extra);
    let out = run(&mut cmd, b"", std::time::Duration::from_secs(30));
    assert!(
        !out.success || !out.stdout.contains("brokers:"),
        "{extra:?}: {}",
        out.stdout
    );
}

/// The principal the broker recorded for the requests of `api`.
fn principals(c: &MockCluster, api: ApiKey) -> BTreeSet<String> {
    c.requests()
        .iter()
        .filter(|r| r.api() == Some(api))
        .map(|r| r.principal.clone())
        .collect()
}

#[test]
fn kcat_sasl_ssl_scram() {
    require_kcat();
    let ca = TestCa::new("kcat CA").unwrap();
    let c = cluster(Config {
        security: Security::sasl_ssl(
            ca.server_tls(&["127.0.0.1", "localhost"]).unwrap(),
            SaslConfig::new([SaslMechanism::ScramSha256, SaslMechanism::ScramSha512])
                .user("alice", "s3cr=t,pw"),
        ),
        ..Config::with_brokers(2)
    });
    let dir = TempDir::new("kcat-scram");
    let ca_path = dir.file("ca.pem", ca.cert_pem());
    let scram = |mechanism: &str, password: &str, ca: &str| {
        settings(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanisms", mechanism),
            ("sasl.username", "alice"),
            ("sasl.password", password),
            ("ssl.ca.location", ca),
        ])
    };
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let topic = mechanism.to_lowercase();
        produce_and_consume(&c, &topic, &scram(mechanism, "s3cr=t,pw", &ca_path), 200);
    }
    assert_eq!(
        principals(&c, ApiKey::Produce),
        BTreeSet::from(["alice".to_owned()])
    );
    assert_eq!(
        principals(&c, ApiKey::Fetch),
        BTreeSet::from(["alice".to_owned()])
    );
    // A wrong password; a CA that did not sign the brokers' certificate.
    refused(&c, &scram("SCRAM-SHA-512", "wrong", &ca_path));
    let other = dir.file("other.pem", TestCa::new("other").unwrap().cert_pem());
    refused(&c, &scram("SCRAM-SHA-512", "s3cr=t,pw", &other));
    let stats = c.security_stats();
    assert!(stats.failed_authentications >= 2, "{stats:?}");
}

#[test]
fn kcat_ssl_with_a_client_certificate() {
    require_kcat();
    let ca = TestCa::new("kcat mTLS CA").unwrap();
    let c = cluster(Config {
        security: Security::ssl(
            ca.server_tls(&["127.0.0.1"])
                .unwrap()
                .require_client_cert(ca.cert_pem()),
        ),
        ..Config::with_brokers(1)
    });
    let dir = TempDir::new("kcat-mtls");
    let client = ca.client_cert("kcat").unwrap();
    let base = [
        ("security.protocol", "SSL".to_owned()),
        ("ssl.ca.location", dir.file("ca.pem", ca.cert_pem())),
    ];
    let with_cert: Vec<(&str, String)> = base
        .iter()
        .cloned()
        .chain([
            (
                "ssl.certificate.location",
                dir.file("client.pem", &client.cert_pem),
            ),
            ("ssl.key.location", dir.file("client.key", &client.key_pem)),
        ])
        .collect();
    let pairs = |v: &[(&str, String)]| {
        settings(&v.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>())
    };
    produce_and_consume(&c, "mtls", &pairs(&with_cert), 100);
    assert_eq!(
        principals(&c, ApiKey::Produce),
        BTreeSet::from(["CN=kcat".to_owned()])
    );
    refused(&c, &pairs(&base));
    assert!(c.security_stats().tls_handshake_failures >= 1);
}

#[test]
fn kcat_oauthbearer_unsecured_jwt() {
    require_kcat();
    let c = cluster(Config {
        security: Security::sasl_plaintext(SaslConfig::new([SaslMechanism::OAuthBearer])),
        ..Config::with_brokers(1)
    });
    let oauth = |principal: &str| {
        settings(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanisms", "OAUTHBEARER"),
            ("enable.sasl.oauthbearer.unsecure.jwt", "true"),
            ("sasl.oauthbearer.config", &format!("principal={principal}")),
        ])
    };
    produce_and_consume(&c, "tokens", &oauth("alice"), 50);
    assert_eq!(
        principals(&c, ApiKey::Produce),
        BTreeSet::from(["alice".to_owned()])
    );
    // librdkafka's token for a scope the broker requires and it lacks.
    let c = cluster(Config {
        security: Security::sasl_plaintext(SaslConfig {
            oauthbearer: microkafka_mock_broker::OAuthBearerValidation {
                required_scope: vec!["kafka".into()],
                ..Default::default()
            },
            ..SaslConfig::new([SaslMechanism::OAuthBearer])
        }),
        ..Config::with_brokers(1)
    });
    refused(&c, &oauth("alice"));
    assert!(c.security_stats().failed_authentications >= 1);
}

/// Injected retriable errors: librdkafka retries and every message lands once.
#[test]
fn kcat_retries_through_injected_produce_errors() {
    require_kcat();
    let c = cluster(Config::with_brokers(3));
    c.create_topic("flaky", 1).unwrap();
    c.inject(Fault::errors(
        ApiKey::Produce,
        [
            ErrorCode::NOT_ENOUGH_REPLICAS,
            ErrorCode::REQUEST_TIMED_OUT,
            ErrorCode::NOT_ENOUGH_REPLICAS,
        ],
    ));
    let bs = c.bootstrap_servers();
    let input: String = (0..20).map(|i| format!("m{i}\n")).collect();
    kcat(
        &bs,
        &[
            "-P",
            "-t",
            "flaky",
            "-X",
            "retry.backoff.ms=10",
            "-X",
            "linger.ms=0",
        ],
        input.as_bytes(),
    );
    let got: Vec<String> = consume(&bs, "flaky", &[])
        .into_iter()
        .map(|r| r.3)
        .collect();
    assert_eq!(got, (0..20).map(|i| format!("m{i}")).collect::<Vec<_>>());
    let produces = c
        .requests()
        .iter()
        .filter(|r| r.api() == Some(ApiKey::Produce))
        .count();
    assert!(
        produces >= 4,
        "three failed attempts and a good one, saw {produces}"
    );
}

/// A broker goes down mid-run: its partitions move, librdkafka follows the
/// new leaders, and nothing produced before or after is lost.
#[test]
fn kcat_follows_leaders_when_a_broker_goes_down() {
    require_kcat();
    let c = cluster(Config::with_brokers(3));
    c.create_topic("moving", 3).unwrap();
    let bs = c.bootstrap_servers();
    let before: String = (0..90).map(|i| format!("k{i}\tbefore{i}\n")).collect();
    kcat(&bs, &["-P", "-t", "moving", "-K", "\t"], before.as_bytes());
    let victim = c.leader("moving", 0).unwrap();
    c.broker_down(victim).unwrap();
    assert_ne!(c.leader("moving", 0), Some(victim));
    let live: Vec<String> = c
        .addrs()
        .iter()
        .enumerate()
        .filter(|(i, _)| *i as i32 + 1 != victim)
        .map(|(_, a)| a.to_string())
        .collect();
    let live = live.join(",");
    let after: String = (0..90).map(|i| format!("k{i}\tafter{i}\n")).collect();
    kcat(&live, &["-P", "-t", "moving", "-K", "\t"], after.as_bytes());
    let mut got: Vec<String> = consume(&live, "moving", &[])
        .into_iter()
        .map(|r| r.3)
        .collect();
    got.sort();
    let mut want: Vec<String> = (0..90)
        .flat_map(|i| [format!("before{i}"), format!("after{i}")])
        .collect();
    want.sort();
    assert_eq!(got, want);
    let listing = kcat(&live, &["-L"], b"");
    assert!(listing.contains(" 2 brokers:"), "{listing}");
}
