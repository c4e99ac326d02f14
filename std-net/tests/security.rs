//! TLS and SASL without Kafka: the mock cluster behind a test broker that
//! terminates TLS (rustls, certificates made by rcgen) and answers SASL with
//! core's servers (see `support/tls_broker.rs`). The same checks against
//! Apache Kafka itself are in `security_kafka.rs`.
//!
//! - every security protocol × SASL mechanism: a Writer and a Reader round
//!   trip (bootstrap and leader connections authenticate, or the broker
//!   closes them); a consumer group over SASL_SSL and over SSL with a client
//!   certificate;
//! - KIP-368: connections re-authenticate on the same connection before the
//!   session ends, while requests are in flight, and nothing fails; an
//!   OAUTHBEARER token is replaced before it expires;
//! - failures say what failed and are not retried in a storm: a wrong
//!   password, a mechanism the broker does not enable (with its list), SASL
//!   to a listener without it, a certificate not trusted or for another
//!   host, a missing client certificate, a handshake that never finishes.
#![cfg(feature = "tls")]

#[path = "support/tls_broker.rs"]
mod tls_broker;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use microkafka_core::sasl::Mechanism;
use microkafka_std::{
    Client, ClientConfig, Dialer, Error, ErrorKind, Handshake, Message, OAuthToken, Reader,
    ReaderConfig, SaslMechanism, TlsConfig, TlsFailure, Writer, WriterConfig,
};
use tls_broker::{Options, SaslOptions, TestBroker, TestPki};

const USER: &str = "alice";
const PASSWORD: &str = "alice-secret";
const TOKEN: &str = "good.token.";

/// Bound of every "fails fast" check (debug build, two busy cores).
const FAST: Duration = Duration::from_secs(3);

fn mechanism(m: Mechanism) -> SaslMechanism {
    match m {
        Mechanism::Plain => SaslMechanism::plain(USER, PASSWORD),
        Mechanism::ScramSha256 => SaslMechanism::scram_sha256(USER, PASSWORD),
        Mechanism::ScramSha512 => SaslMechanism::scram_sha512(USER, PASSWORD),
        Mechanism::OAuthBearer => SaslMechanism::oauthbearer(|| async {
            Ok(OAuthToken::new(TOKEN).expires_in(Duration::from_secs(3600)))
        }),
    }
}

fn sasl_options() -> SaslOptions {
    SaslOptions {
        tokens: vec![TOKEN.to_owned()],
        ..SaslOptions::default()
    }
}

fn tls(pki: &TestPki) -> TlsConfig {
    TlsConfig::default().with_ca_pem(pki.ca_pem.clone())
}

/// Writes `n` messages to a new topic of 3 partitions and reads partition
/// 0..3 back with partition Readers.
async fn round_trip(broker: &TestBroker, dialer: &Dialer, what: &str) {
    let topic = format!("t-{}", what.replace([' ', '/', '+'], "-"));
    broker.create_topic(&topic, 3);
    let addr = broker.bootstrap();
    let writer = Writer::new(WriterConfig {
        dialer: dialer.clone(),
        ..WriterConfig::new(&[&addr], &topic)
    })
    .unwrap();
    let values: Vec<String> = (0..30).map(|i| format!("{what} {i}")).collect();
    let messages: Vec<Message<'_>> = values.iter().map(|v| Message::new(v.as_bytes())).collect();
    writer
        .write_messages(&messages)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    writer.close().await.unwrap();
    let client = Client::with_config(ClientConfig {
        brokers: vec![addr.clone()],
        dialer: dialer.clone(),
        ..ClientConfig::default()
    })
    .unwrap();
    let mut read = 0;
    for (partition, _, last) in client.offsets(&topic).await.unwrap() {
        let mut reader = Reader::new(ReaderConfig {
            dialer: dialer.clone(),
            ..ReaderConfig::new(&[&addr], &topic, partition)
        })
        .unwrap();
        for _ in 0..last {
            let m = tokio::time::timeout(Duration::from_secs(10), reader.fetch_message())
                .await
                .unwrap_or_else(|_| panic!("{what}: read timed out"))
                .unwrap();
            assert!(m.value.unwrap().starts_with(what.as_bytes()));
            read += 1;
        }
        reader.close().await.unwrap();
    }
    client.close();
    assert_eq!(read, 30, "{what}");
}

/// Every protocol, and with SASL every mechanism: a round trip through a
/// 3-broker cluster (each broker's listener with the same security).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protocol_and_mechanism_round_trips() {
    let pki = TestPki::new();
    for with_tls in [false, true] {
        let mut cases: Vec<Option<Mechanism>> = vec![None];
        cases.extend(Mechanism::ALL.map(Some));
        for sasl in cases {
            let protocol = match (with_tls, sasl.is_some()) {
                (false, false) => "PLAINTEXT",
                (true, false) => "SSL",
                (false, true) => "SASL_PLAINTEXT",
                (true, true) => "SASL_SSL",
            };
            let what = format!("{protocol} {}", sasl.map_or("", |m| m.name()));
            let broker = TestBroker::start(Options {
                brokers: 3,
                tls: with_tls.then(|| pki.clone()),
                sasl: sasl.map(|_| sasl_options()),
                ..Options::default()
            });
            let dialer = Dialer {
                tls: with_tls.then(|| tls(&pki).connector().unwrap()),
                sasl_mechanism: sasl.map(mechanism),
                ..Dialer::default()
            };
            let started = Instant::now();
            round_trip(&broker, &dialer, what.trim()).await;
            let c = broker.sasl();
            println!(
                "{what}: {:?}, {} connections, {} authenticated",
                started.elapsed(),
                broker.accepted(),
                c.authentications.load(Ordering::Acquire)
            );
            if sasl.is_some() {
                assert_eq!(c.unauthenticated.load(Ordering::Acquire), 0, "{what}");
                assert_eq!(c.failures.load(Ordering::Acquire), 0, "{what}");
                // Bootstrap, the Client's and every leader's connections:
                // all authenticated (the broker closes any that sends a
                // request first).
                assert_eq!(
                    c.authentications.load(Ordering::Acquire),
                    broker.accepted(),
                    "{what}"
                );
            }
            assert_eq!(broker.tls_failures(), 0, "{what}");
        }
    }
}

/// A consumer group (2 members, commits) over `dialer`: every message once.
async fn group_round_trip(broker: &TestBroker, dialer: &Dialer, what: &str) {
    const N: usize = 60;
    let topic = format!("group-{what}");
    broker.create_topic(&topic, 3);
    let addr = broker.bootstrap();
    let writer = Writer::new(WriterConfig {
        dialer: dialer.clone(),
        ..WriterConfig::new(&[&addr], &topic)
    })
    .unwrap();
    let values: Vec<String> = (0..N).map(|i| format!("{what} {i}")).collect();
    let messages: Vec<Message<'_>> = values
        .iter()
        .map(|v| Message::new(v.as_bytes()).with_key(v.as_bytes()))
        .collect();
    writer.write_messages(&messages).await.unwrap();
    writer.close().await.unwrap();
    let mut readers: Vec<Reader> = (0..2)
        .map(|_| {
            Reader::new(ReaderConfig {
                dialer: dialer.clone(),
                commit_interval: Duration::from_millis(100),
                heartbeat_interval: Duration::from_millis(100),
                session_timeout: Duration::from_secs(1),
                ..ReaderConfig::group(&[&addr], &format!("g-{what}"), &[&topic])
            })
            .unwrap()
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < N {
        assert!(Instant::now() < deadline, "{what}: {} of {N}", seen.len());
        for r in &mut readers {
            if let Ok(m) = tokio::time::timeout(Duration::from_millis(100), r.read_message()).await
            {
                let v = m.unwrap().value.unwrap().to_vec();
                assert!(seen.insert(v), "{what}: read twice");
            }
        }
    }
    for r in readers {
        r.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_over_sasl_ssl_scram_and_over_mtls() {
    let pki = TestPki::new();
    let broker = TestBroker::start(Options {
        brokers: 3,
        tls: Some(pki.clone()),
        sasl: Some(sasl_options()),
        ..Options::default()
    });
    let dialer = Dialer {
        tls: Some(tls(&pki).connector().unwrap()),
        sasl_mechanism: Some(mechanism(Mechanism::ScramSha512)),
        ..Dialer::default()
    };
    group_round_trip(&broker, &dialer, "sasl-ssl").await;
    let c = broker.sasl();
    assert_eq!(c.unauthenticated.load(Ordering::Acquire), 0);
    assert_eq!(c.failures.load(Ordering::Acquire), 0);
    // Every connection authenticated, except dials that closing readers
    // cancelled halfway (before TLS or SASL finished): the broker sees those
    // end shortly after the readers close.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let accounted = c.authentications.load(Ordering::Acquire)
            + c.abandoned.load(Ordering::Acquire)
            + broker.tls_failures();
        if accounted == broker.accepted() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{accounted} of {} connections accounted for",
            broker.accepted()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let broker = TestBroker::start(Options {
        brokers: 3,
        tls: Some(pki.clone()),
        require_client_cert: true,
        ..Options::default()
    });
    let dialer = Dialer {
        tls: Some(
            tls(&pki)
                .with_client_cert_pem(pki.client_chain_pem.clone(), pki.client_key_pem.clone())
                .connector()
                .unwrap(),
        ),
        ..Dialer::default()
    };
    group_round_trip(&broker, &dialer, "mtls").await;
    assert_eq!(broker.tls_failures(), 0);
}

/// Sessions of 600 ms; for 3 s, four tasks write (requests pipelined on the
/// leader's connection) and a Conn asks for metadata every 20 ms. Every
/// request succeeds on the connections it started on: they re-authenticate
/// before their sessions end (the broker closes any connection used after
/// that), pausing the senders meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_reauthenticate_while_busy_and_lose_nothing() {
    let lifetime = Duration::from_millis(600);
    let broker = TestBroker::start(Options {
        sasl: Some(SaslOptions {
            session_lifetime: Some(lifetime),
            ..sasl_options()
        }),
        ..Options::default()
    });
    broker.create_topic("busy", 1);
    let dialer = Dialer {
        sasl_mechanism: Some(mechanism(Mechanism::ScramSha256)),
        ..Dialer::default()
    };
    let addr = broker.bootstrap();
    let writer = Arc::new(
        Writer::new(WriterConfig {
            dialer: dialer.clone(),
            batch_timeout: Duration::from_millis(1),
            ..WriterConfig::new(&[&addr], "busy")
        })
        .unwrap(),
    );
    let until = Instant::now() + Duration::from_secs(3);
    let mut tasks = Vec::new();
    for t in 0..4 {
        let w = writer.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u32;
            while Instant::now() < until {
                let v = format!("{t}-{n}");
                w.write_messages(&[Message::new(v.as_bytes())])
                    .await
                    .unwrap_or_else(|e| panic!("write {v}: {e}"));
                n += 1;
            }
            n
        }));
    }
    let mut conn = dialer.dial(&addr).await.unwrap();
    let mut requests = 0;
    while Instant::now() < until {
        conn.brokers()
            .await
            .unwrap_or_else(|e| panic!("metadata {requests}: {e}"));
        requests += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut written = 0;
    for t in tasks {
        written += t.await.unwrap();
    }
    let stats = writer.stats();
    let c = broker.sasl();
    println!(
        "{written} writes, {requests} metadata requests; conn re-authenticated {} times; broker: {} authentications, {} re-authentications, {} expired; writer: {} dials, {} retries",
        conn.reauthentications(),
        c.authentications.load(Ordering::Acquire),
        c.reauthentications.load(Ordering::Acquire),
        c.expired.load(Ordering::Acquire),
        stats.dials,
        stats.retries
    );
    assert!(
        conn.reauthentications() >= 3,
        "{}",
        conn.reauthentications()
    );
    assert_eq!(c.expired.load(Ordering::Acquire), 0);
    assert_eq!(stats.retries, 0, "{stats:?}");
    assert!(stats.dials <= 2, "{stats:?}");
    assert!(c.reauthentications.load(Ordering::Acquire) >= 6);
    conn.close();
    Arc::try_unwrap(writer).ok().unwrap().close().await.unwrap();
}

/// OAUTHBEARER tokens of 1 s in 600 ms sessions: each re-authentication
/// uses the token at hand while it is young, a new one past 80% of its life.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauthbearer_tokens_are_replaced_before_they_expire() {
    let tokens: Vec<String> = (0..100).map(|i| format!("token-{i}")).collect();
    let broker = TestBroker::start(Options {
        sasl: Some(SaslOptions {
            session_lifetime: Some(Duration::from_millis(600)),
            tokens: tokens.clone(),
            ..sasl_options()
        }),
        ..Options::default()
    });
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let dialer = Dialer {
        sasl_mechanism: Some(SaslMechanism::oauthbearer(move || {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move { Ok(OAuthToken::new(format!("token-{n}")).expires_in(Duration::from_secs(1))) }
        })),
        ..Dialer::default()
    };
    let mut conn = dialer.dial(&broker.bootstrap()).await.unwrap();
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        conn.brokers().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let calls = calls.load(Ordering::SeqCst);
    println!(
        "{} re-authentications, {calls} tokens",
        conn.reauthentications()
    );
    assert!(conn.reauthentications() >= 3);
    // About one token per 800 ms of the 3 s, not one per re-authentication.
    assert!((3..=6).contains(&calls), "{calls}");
    assert!(u64::from(calls) <= conn.reauthentications(), "{calls}");
}

fn fails_fast<T>(what: &str, started: Instant, result: Result<T, Error>) -> Error {
    let took = started.elapsed();
    let Err(e) = result else {
        panic!("{what}: no error");
    };
    println!("{what}: {took:?}: {e}");
    assert!(took < FAST, "{what} took {took:?}");
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_named_and_not_retried_in_a_storm() {
    let broker = TestBroker::start(Options {
        brokers: 3,
        sasl: Some(sasl_options()),
        ..Options::default()
    });
    broker.create_topic("t", 3);
    let addr = broker.bootstrap();
    for m in [
        SaslMechanism::plain(USER, "wrong"),
        SaslMechanism::scram_sha256(USER, "wrong"),
        SaslMechanism::scram_sha512("mallory", "wrong"),
    ] {
        let dialer = Dialer {
            sasl_mechanism: Some(m.clone()),
            ..Dialer::default()
        };
        let e = fails_fast(m.name(), Instant::now(), dialer.dial(&addr).await);
        match e.kind() {
            ErrorKind::AuthenticationFailed { mechanism, message } => {
                assert_eq!(*mechanism, m.name());
                assert!(message
                    .as_deref()
                    .unwrap()
                    .starts_with("Authentication failed"));
            }
            other => panic!("{other:?}"),
        }
        assert!(e.is_fatal() && !e.is_retriable());
    }

    let dialer = Dialer {
        sasl_mechanism: Some(SaslMechanism::scram_sha512(USER, "wrong")),
        ..Dialer::default()
    };
    let before = broker.accepted();
    let writer = Writer::new(WriterConfig {
        dialer: dialer.clone(),
        ..WriterConfig::new(&[&addr], "t")
    })
    .unwrap();
    let messages: Vec<Message<'_>> = (0..30).map(|_| Message::new(b"x")).collect();
    for attempt in 0..5 {
        let result = writer.write_messages(&messages).await;
        let e = fails_fast(
            "Writer",
            Instant::now(),
            result.map_err(|e| e.first().unwrap().clone()),
        );
        assert!(
            matches!(e.kind(), ErrorKind::AuthenticationFailed { .. }),
            "{attempt}: {e}"
        );
    }
    // Five writes of 30 messages to 3 partitions within a second: one
    // connection tried.
    assert_eq!(broker.accepted() - before, 1);
    writer.close().await.ok();

    let before = broker.accepted();
    let mut reader = Reader::new(ReaderConfig {
        dialer: dialer.clone(),
        ..ReaderConfig::group(&[&addr], "g", &["t"])
    })
    .unwrap();
    let e = fails_fast(
        "group Reader",
        Instant::now(),
        reader.read_message().await.map(drop),
    );
    assert!(
        matches!(e.kind(), ErrorKind::AuthenticationFailed { .. }),
        "{e}"
    );
    // The member stopped: nothing more is dialed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(broker.accepted() - before, 1);
    reader.close().await.ok();

    let mut reader = Reader::new(ReaderConfig {
        dialer: dialer.clone(),
        ..ReaderConfig::new(&[&addr], "t", 0)
    })
    .unwrap();
    let e = fails_fast(
        "partition Reader",
        Instant::now(),
        reader.fetch_message().await.map(drop),
    );
    assert!(
        matches!(e.kind(), ErrorKind::AuthenticationFailed { .. }),
        "{e}"
    );
    reader.close().await.ok();

    let client = Client::with_config(ClientConfig {
        brokers: vec![addr.clone()],
        dialer,
        ..ClientConfig::default()
    })
    .unwrap();
    let e = fails_fast("Client", Instant::now(), client.metadata(&[]).await);
    assert!(
        matches!(e.kind(), ErrorKind::AuthenticationFailed { .. }),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mechanism_not_enabled_names_those_that_are() {
    let broker = TestBroker::start(Options {
        sasl: Some(SaslOptions {
            mechanisms: vec![Mechanism::ScramSha512, Mechanism::Plain],
            ..sasl_options()
        }),
        ..Options::default()
    });
    let dialer = Dialer {
        sasl_mechanism: Some(mechanism(Mechanism::OAuthBearer)),
        ..Dialer::default()
    };
    let e = fails_fast(
        "OAUTHBEARER",
        Instant::now(),
        dialer.dial(&broker.bootstrap()).await,
    );
    match e.kind() {
        ErrorKind::UnsupportedMechanism { requested, enabled } => {
            assert_eq!(*requested, "OAUTHBEARER");
            assert_eq!(enabled, &["SCRAM-SHA-512", "PLAIN"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(e.is_fatal());
    assert!(
        e.to_string().contains("it enables: SCRAM-SHA-512, PLAIN"),
        "{e}"
    );

    // SASL to a listener without SASL (the mock answers ILLEGAL_SASL_STATE).
    let plain = TestBroker::start(Options::default());
    let e = fails_fast(
        "SASL to PLAINTEXT",
        Instant::now(),
        dialer.dial(&plain.bootstrap()).await,
    );
    assert!(matches!(e.kind(), ErrorKind::Sasl { .. }), "{e:?}");
    assert!(e.to_string().contains("SASL listener"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_failures_say_what_failed() {
    let pki = TestPki::new();
    let broker = TestBroker::start(Options {
        tls: Some(pki.clone()),
        ..Options::default()
    });
    let addr = broker.bootstrap();
    let dial = |tls: TlsConfig| {
        let addr = addr.clone();
        async move {
            let dialer = Dialer {
                tls: Some(tls.connector().unwrap()),
                ..Dialer::default()
            };
            let started = Instant::now();
            (started, dialer.dial(&addr).await)
        }
    };
    let tls_failure = |e: &Error| match e.kind() {
        ErrorKind::Tls { failure, .. } => *failure,
        other => panic!("{other:?}"),
    };

    // Another CA.
    let other = TestPki::new();
    let (t, r) = dial(TlsConfig::default().with_ca_pem(other.ca_pem.clone())).await;
    let e = fails_fast("another CA", t, r);
    assert_eq!(tls_failure(&e), TlsFailure::CertificateNotTrusted);
    assert!(e.is_fatal());
    // The system's roots (when the machine has some) do not know the test CA.
    if let Ok(c) = TlsConfig::default().connector() {
        let dialer = Dialer {
            tls: Some(c),
            ..Dialer::default()
        };
        let e = fails_fast(
            "system roots",
            Instant::now(),
            dialer.dial(&broker.bootstrap()).await,
        );
        assert_eq!(tls_failure(&e), TlsFailure::CertificateNotTrusted);
    }
    // A name the certificate does not hold.
    let (t, r) = dial(tls(&pki).with_server_name("kafka.example.com")).await;
    let e = fails_fast("wrong host", t, r);
    assert_eq!(tls_failure(&e), TlsFailure::HostnameMismatch);
    assert!(e.to_string().contains("kafka.example.com"), "{e}");
    // The host check off: the chain is still checked.
    let mut unchecked = tls(&pki).with_server_name("kafka.example.com");
    unchecked.verify_hostname = false;
    let (_, r) = dial(unchecked.clone()).await;
    r.unwrap().close();
    unchecked.roots = microkafka_std::TlsRoots::Pem(other.ca_pem.clone().into_bytes());
    let (t, r) = dial(unchecked).await;
    assert_eq!(
        tls_failure(&fails_fast("host check off, another CA", t, r)),
        TlsFailure::CertificateNotTrusted
    );
    // Tests only: anything goes.
    let (_, r) = dial(TlsConfig::default().danger_accept_invalid_certs_for_tests_only()).await;
    r.unwrap().close();
    // By name: localhost is in the certificate.
    let dialer = Dialer {
        tls: Some(tls(&pki).connector().unwrap()),
        ..Dialer::default()
    };
    dialer
        .dial(&broker.bootstrap_by_name())
        .await
        .unwrap()
        .close();

    // A broker requiring a client certificate.
    let mtls = TestBroker::start(Options {
        tls: Some(pki.clone()),
        require_client_cert: true,
        ..Options::default()
    });
    let stranger = rcgen::generate_simple_self_signed(vec!["stranger".to_owned()]).unwrap();
    for (what, config) in [
        ("no client certificate", tls(&pki)),
        (
            "a self-signed client certificate",
            tls(&pki)
                .with_client_cert_pem(stranger.cert.pem(), stranger.signing_key.serialize_pem()),
        ),
    ] {
        let dialer = Dialer {
            tls: Some(config.connector().unwrap()),
            ..Dialer::default()
        };
        let e = fails_fast(what, Instant::now(), dialer.dial(&mtls.bootstrap()).await);
        assert_eq!(
            tls_failure(&e),
            TlsFailure::ClientCertificateRejected,
            "{what}"
        );
        assert!(e.is_fatal());
    }

    // TLS to a plaintext listener, and plaintext to a TLS one.
    let plain = TestBroker::start(Options::default());
    let dialer = Dialer {
        tls: Some(tls(&pki).connector().unwrap()),
        ..Dialer::default()
    };
    let e = fails_fast(
        "TLS to PLAINTEXT",
        Instant::now(),
        dialer.dial(&plain.bootstrap()).await,
    );
    assert!(matches!(e.kind(), ErrorKind::Tls { .. }), "{e:?}");
    let e = fails_fast(
        "PLAINTEXT to TLS",
        Instant::now(),
        Dialer::default().dial(&broker.bootstrap()).await,
    );
    assert!(!e.to_string().is_empty());
}

/// A broker that accepts and says nothing: the dial ends at its timeout,
/// naming the step it was at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_timeouts_name_the_step() {
    let silent = TestBroker::start(Options {
        silent: true,
        ..Options::default()
    });
    let pki = TestPki::new();
    let timeout = Duration::from_millis(300);
    for (with_tls, stage) in [(true, Handshake::Tls), (false, Handshake::ApiVersions)] {
        let dialer = Dialer {
            timeout,
            tls: with_tls.then(|| tls(&pki).connector().unwrap()),
            sasl_mechanism: Some(mechanism(Mechanism::ScramSha512)),
            ..Dialer::default()
        };
        let started = Instant::now();
        let e = dialer.dial(&silent.bootstrap()).await.unwrap_err();
        let took = started.elapsed();
        println!("{stage:?}: {took:?}: {e}");
        assert!(
            took >= timeout && took < timeout + Duration::from_millis(500),
            "{took:?}"
        );
        match e.kind() {
            ErrorKind::HandshakeTimeout { stage: s } => assert_eq!(*s, stage),
            other => panic!("{other:?}"),
        }
        assert!(e.is_timeout() && e.is_retriable() && !e.is_fatal());
    }
}
