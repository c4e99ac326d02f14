//! The std client against the mock broker's own secure listeners
//! (`microkafka_mock_broker::Security`: rustls, SASL on core's servers,
//! KIP-368 sessions, Kafka's failure answers): every security protocol ×
//! SASL mechanism with a Writer, a partition Reader and a consumer group on
//! a 3-broker cluster; re-authentication of busy connections; a wrong
//! password answered once, not in a storm.
#![cfg(feature = "tls")]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use microkafka_mock_broker::{
    unsecured_jwt, Config, MockCluster, SaslConfig, SaslMechanism as Mech, Security,
    SecurityProtocol, TestCa,
};
use microkafka_std::{
    Dialer, ErrorKind, Message, OAuthToken, Reader, ReaderConfig, SaslMechanism, TlsConfig, Writer,
    WriterConfig,
};

const USER: &str = "alice";
const PASSWORD: &str = "alice-secret";

fn client_mechanism(m: Mech) -> SaslMechanism {
    match m {
        Mech::Plain => SaslMechanism::plain(USER, PASSWORD),
        Mech::ScramSha256 => SaslMechanism::scram_sha256(USER, PASSWORD),
        Mech::ScramSha512 => SaslMechanism::scram_sha512(USER, PASSWORD),
        Mech::OAuthBearer => SaslMechanism::oauthbearer(|| async {
            let lifetime = Duration::from_secs(600);
            Ok(OAuthToken::new(unsecured_jwt(USER, lifetime)).expires_in(lifetime))
        }),
    }
}

/// A 3-broker cluster with `protocol` (and `mechanism`, with SASL), and the
/// dialer that reaches it.
async fn cluster(
    ca: &TestCa,
    protocol: SecurityProtocol,
    mechanism: Option<Mech>,
    reauth: Duration,
) -> (MockCluster, Dialer) {
    let tls = protocol
        .uses_tls()
        .then(|| ca.server_tls(&["localhost", "127.0.0.1"]).unwrap());
    let sasl = SaslConfig::all().user(USER, PASSWORD).reauth_after(reauth);
    let cluster = MockCluster::start(Config {
        security: Security {
            protocol,
            tls,
            sasl,
        },
        default_replication_factor: 1,
        group_min_session_timeout: Duration::from_millis(100),
        ..Config::with_brokers(3)
    })
    .await
    .unwrap();
    let dialer = Dialer {
        tls: protocol.uses_tls().then(|| {
            TlsConfig::default()
                .with_ca_pem(ca.cert_pem())
                .connector()
                .unwrap()
        }),
        sasl_mechanism: mechanism
            .filter(|_| protocol.uses_sasl())
            .map(client_mechanism),
        ..Dialer::default()
    };
    (cluster, dialer)
}

/// Writer, partition Readers and a 2-member group over `dialer`.
async fn round_trip(cluster: &MockCluster, dialer: &Dialer, what: &str) {
    const N: usize = 40;
    let topic = "events";
    cluster.create_topic(topic, 3).unwrap();
    let addr = cluster.bootstrap_servers();
    let writer = Writer::new(WriterConfig {
        dialer: dialer.clone(),
        ..WriterConfig::new(&[&addr], topic)
    })
    .unwrap();
    let values: Vec<String> = (0..N).map(|i| format!("{what} {i}")).collect();
    let messages: Vec<Message<'_>> = values
        .iter()
        .map(|v| Message::new(v.as_bytes()).with_key(v.as_bytes()))
        .collect();
    writer
        .write_messages(&messages)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    writer.close().await.unwrap();

    let mut partition_read = 0;
    for p in 0..3 {
        let (_, end) = cluster.offsets(topic, p).unwrap();
        let mut reader = Reader::new(ReaderConfig {
            dialer: dialer.clone(),
            ..ReaderConfig::new(&[&addr], topic, p)
        })
        .unwrap();
        for _ in 0..end {
            tokio::time::timeout(Duration::from_secs(10), reader.fetch_message())
                .await
                .unwrap_or_else(|_| panic!("{what}: fetch timed out"))
                .unwrap();
            partition_read += 1;
        }
        reader.close().await.unwrap();
    }
    assert_eq!(partition_read, N, "{what}");

    let mut readers: Vec<Reader> = (0..2)
        .map(|_| {
            Reader::new(ReaderConfig {
                dialer: dialer.clone(),
                commit_interval: Duration::from_millis(100),
                heartbeat_interval: Duration::from_millis(100),
                session_timeout: Duration::from_secs(1),
                ..ReaderConfig::group(&[&addr], "group", &[topic])
            })
            .unwrap()
        })
        .collect();
    let mut seen = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < N {
        assert!(Instant::now() < deadline, "{what}: {} of {N}", seen.len());
        for r in &mut readers {
            if let Ok(m) = tokio::time::timeout(Duration::from_millis(100), r.read_message()).await
            {
                let v = m
                    .unwrap_or_else(|e| panic!("{what}: {e}"))
                    .value
                    .unwrap()
                    .to_vec();
                assert!(seen.insert(v), "{what}: read twice");
            }
        }
    }
    for r in readers {
        r.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protocol_and_mechanism() {
    let ca = TestCa::new("microkafka test CA").unwrap();
    for protocol in SecurityProtocol::ALL {
        let mechanisms: Vec<Option<Mech>> = if protocol.uses_sasl() {
            Mech::ALL.map(Some).to_vec()
        } else {
            vec![None]
        };
        for mechanism in mechanisms {
            let what = format!("{protocol} {}", mechanism.map_or("", |m| m.name()));
            let started = Instant::now();
            let (cluster, dialer) = cluster(&ca, protocol, mechanism, Duration::ZERO).await;
            round_trip(&cluster, &dialer, what.trim()).await;
            let stats = cluster.security_stats();
            println!("{what}: {:?}, {stats:?}", started.elapsed());
            assert_eq!(stats.failed_authentications, 0, "{what}: {stats:?}");
            assert_eq!(stats.handshake_timeouts, 0, "{what}: {stats:?}");
        }
    }
}

/// Sessions of 1.5 s (the mock takes re-authentications at most once a
/// second); a Writer and a Conn busy for 5 s: nothing fails, nothing is
/// redialed, the broker closed no connection for an expired session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_connections_reauthenticate() {
    let ca = TestCa::new("microkafka test CA").unwrap();
    let (cluster, dialer) = cluster(
        &ca,
        SecurityProtocol::SaslSsl,
        Some(Mech::ScramSha512),
        Duration::from_millis(1500),
    )
    .await;
    cluster.create_topic("busy", 3).unwrap();
    let addr = cluster.bootstrap_servers();
    let writer = Writer::new(WriterConfig {
        dialer: dialer.clone(),
        batch_timeout: Duration::from_millis(1),
        ..WriterConfig::new(&[&addr], "busy")
    })
    .unwrap();
    let mut conn = dialer.dial(&cluster.addrs()[0].to_string()).await.unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    let mut n = 0;
    while Instant::now() < until {
        let v = format!("{n}");
        writer
            .write_messages(&[Message::new(v.as_bytes())])
            .await
            .unwrap_or_else(|e| panic!("write {n}: {e}"));
        if n % 10 == 0 {
            conn.brokers()
                .await
                .unwrap_or_else(|e| panic!("metadata: {e}"));
        }
        n += 1;
    }
    let stats = writer.stats();
    println!(
        "{n} writes; conn re-authenticated {} times; writer {} dials, {} retries; {:?}",
        conn.reauthentications(),
        stats.dials,
        stats.retries,
        cluster.security_stats()
    );
    assert!(
        conn.reauthentications() >= 2,
        "{}",
        conn.reauthentications()
    );
    assert_eq!(stats.retries, 0, "{stats:?}");
    // Bootstrap and the three leaders, once each.
    assert!(stats.dials <= 4, "{stats:?}");
    assert_eq!(cluster.security_stats().failed_authentications, 0);
    writer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_costs_one_failed_login() {
    let ca = TestCa::new("microkafka test CA").unwrap();
    let (cluster, _) = cluster(&ca, SecurityProtocol::SaslSsl, None, Duration::ZERO).await;
    cluster.create_topic("t", 3).unwrap();
    let addr = cluster.bootstrap_servers();
    let dialer = Dialer {
        tls: Some(
            TlsConfig::default()
                .with_ca_pem(ca.cert_pem())
                .connector()
                .unwrap(),
        ),
        sasl_mechanism: Some(SaslMechanism::scram_sha512(USER, "wrong")),
        ..Dialer::default()
    };
    let writer = Writer::new(WriterConfig {
        dialer,
        ..WriterConfig::new(&[&addr], "t")
    })
    .unwrap();
    let messages: Vec<Message<'_>> = (0..30).map(|_| Message::new(b"x")).collect();
    for _ in 0..5 {
        let e = writer.write_messages(&messages).await.unwrap_err();
        let e = e.first().unwrap();
        match e.kind() {
            ErrorKind::AuthenticationFailed { mechanism, message } => {
                assert_eq!(*mechanism, "SCRAM-SHA-512");
                assert!(message.is_some(), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
    writer.close().await.ok();
    let stats = cluster.security_stats();
    assert_eq!(stats.failed_authentications, 1, "{stats:?}");
}
