//! TLS and SASL against Apache Kafka 4.4 itself: the secure node of
//! `.ci/kafka start secure` (SASL_SSL with SCRAM-SHA-256/512, PLAIN and
//! OAUTHBEARER; SSL requiring a client certificate; SASL_PLAINTEXT with
//! 6-second sessions for KIP-368 re-authentication; certificates made by
//! openssl, SCRAM users created when the storage was formatted).
//!
//! - a consumer group produces and consumes over SASL_SSL with
//!   SCRAM-SHA-512, and over SSL with a client certificate (the admin
//!   Client, the Writer, the group Reader: bootstrap, leader and
//!   coordinator connections all authenticate, or Kafka would close them);
//! - every mechanism of the SASL_SSL listener authenticates;
//! - connections re-authenticate on the same connection before the session
//!   ends (SCRAM, and OAUTHBEARER with a token refreshed before it expires);
//! - a wrong password, an untrusted certificate, a wrong host name, a
//!   missing client certificate and a mechanism the listener does not enable
//!   each fail fast, with an error that says which (and the Writer and
//!   Reader do not retry them in a storm).
//!
//! ```sh
//! .ci/kafka start secure
//! env $(.ci/kafka env) cargo test -p microkafka-std --test security_kafka -- --ignored
//! ```
#![cfg(feature = "tls")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use microkafka_std::{
    Client, ClientConfig, Dialer, Error, ErrorKind, Message, OAuthToken, Reader, ReaderConfig,
    SaslMechanism, TlsConfig, TlsFailure, TopicConfig, Writer, WriterConfig,
};

/// The secure node, from `.ci/kafka env`.
struct Secure {
    sasl_ssl: String,
    ssl: String,
    sasl_plaintext: String,
    plaintext: String,
    ca: String,
    client_cert: String,
    client_key: String,
    user: String,
    password: String,
    reauth: Duration,
}

fn secure() -> Secure {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "{name} is not set: start the secure Kafka node and export its variables:\n  .ci/kafka start secure && export $(.ci/kafka env)"
            )
        })
    };
    Secure {
        sasl_ssl: var("MICROKAFKA_KAFKA_SECURE_SASL_SSL"),
        ssl: var("MICROKAFKA_KAFKA_SECURE_SSL"),
        sasl_plaintext: var("MICROKAFKA_KAFKA_SECURE_SASL_PLAINTEXT"),
        plaintext: var("MICROKAFKA_KAFKA_SECURE"),
        ca: var("MICROKAFKA_KAFKA_SECURE_CA"),
        client_cert: var("MICROKAFKA_KAFKA_SECURE_CLIENT_CERT"),
        client_key: var("MICROKAFKA_KAFKA_SECURE_CLIENT_KEY"),
        user: var("MICROKAFKA_KAFKA_SECURE_USER"),
        password: var("MICROKAFKA_KAFKA_SECURE_PASSWORD"),
        reauth: Duration::from_millis(
            var("MICROKAFKA_KAFKA_SECURE_REAUTH_MS")
                .parse()
                .expect("MICROKAFKA_KAFKA_SECURE_REAUTH_MS"),
        ),
    }
}

impl Secure {
    fn tls(&self) -> TlsConfig {
        TlsConfig::default().with_ca_file(&self.ca).unwrap()
    }

    fn mtls(&self) -> TlsConfig {
        self.tls()
            .with_client_cert_files(&self.client_cert, &self.client_key)
            .unwrap()
    }

    /// SASL_SSL with SCRAM-SHA-512.
    fn sasl_ssl_dialer(&self) -> Dialer {
        Dialer {
            tls: Some(self.tls().connector().unwrap()),
            sasl_mechanism: Some(SaslMechanism::scram_sha512(&self.user, &self.password)),
            ..Dialer::default()
        }
    }

    /// SSL with the client certificate.
    fn ssl_dialer(&self) -> Dialer {
        Dialer {
            tls: Some(self.mtls().connector().unwrap()),
            ..Dialer::default()
        }
    }
}

fn unique(prefix: &str) -> String {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{n}")
}

/// Upper bound of every "fails fast" check: a handshake and one exchange on
/// loopback, plus Kafka's failed-authentication delay (100 ms) and slack
/// for two busy cores. The dial timeout is 10 s: failing fast means not
/// waiting for it, nor retrying.
const FAST: Duration = Duration::from_secs(3);

/// Creates `topic`, writes `n` keyed messages through a Writer, reads them
/// all back with a 2-member consumer group (committing), and checks each
/// message came once. Every connection (admin, bootstrap, leaders, the
/// group's coordinator) goes through `dialer`.
async fn group_round_trip(dialer: Dialer, addr: &str, what: &str) {
    const N: usize = 300;
    const PARTITIONS: i32 = 3;
    let topic = unique(what);
    let client = Client::with_config(ClientConfig {
        brokers: vec![addr.to_owned()],
        dialer: dialer.clone(),
        ..ClientConfig::default()
    })
    .unwrap();
    client
        .create_topics(&[TopicConfig::new(&topic, PARTITIONS)])
        .await
        .unwrap();
    let writer = Writer::new(WriterConfig {
        dialer: dialer.clone(),
        ..WriterConfig::new(&[addr], &topic)
    })
    .unwrap();
    let values: Vec<String> = (0..N).map(|i| format!("{what} message {i}")).collect();
    let keys: Vec<String> = (0..N).map(|i| format!("key-{}", i % 17)).collect();
    let messages: Vec<Message<'_>> = values
        .iter()
        .zip(&keys)
        .map(|(v, k)| Message::new(v.as_bytes()).with_key(k.as_bytes()))
        .collect();
    writer.write_messages(&messages).await.unwrap();
    let stats = writer.stats();
    writer.close().await.unwrap();
    println!("{what}: wrote {N} messages, {} dials", stats.dials);

    let group = unique(&format!("{what}-group"));
    let mut readers: Vec<Reader> = (0..2)
        .map(|_| {
            Reader::new(ReaderConfig {
                dialer: dialer.clone(),
                commit_interval: Duration::from_millis(200),
                heartbeat_interval: Duration::from_millis(500),
                session_timeout: Duration::from_secs(6),
                ..ReaderConfig::group(&[addr], &group, &[&topic])
            })
            .unwrap()
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < N {
        assert!(
            Instant::now() < deadline,
            "{what}: {} of {N} read",
            seen.len()
        );
        for r in &mut readers {
            if let Ok(m) = tokio::time::timeout(Duration::from_millis(200), r.read_message()).await
            {
                let m = m.unwrap();
                let value = String::from_utf8(m.value.unwrap().to_vec()).unwrap();
                assert!(seen.insert(value), "{what}: read twice");
            }
        }
    }
    for r in readers {
        r.close().await.unwrap();
    }
    let offsets = client.offsets(&topic).await.unwrap();
    let end: i64 = offsets.iter().map(|(_, _, last)| last).sum();
    assert_eq!(end, N as i64, "{what}: {offsets:?}");
    client.delete_topics(&[&topic]).await.unwrap();
    client.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Apache Kafka: .ci/kafka start secure"]
async fn group_produce_consume_over_sasl_ssl_with_scram_sha512() {
    let s = secure();
    group_round_trip(s.sasl_ssl_dialer(), &s.sasl_ssl, "sasl-ssl-scram512").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Apache Kafka: .ci/kafka start secure"]
async fn group_produce_consume_over_ssl_with_a_client_certificate() {
    let s = secure();
    group_round_trip(s.ssl_dialer(), &s.ssl, "ssl-mtls").await;
}

/// An unsecured JWT (`alg` `none`, as Kafka's default OAUTHBEARER validator
/// takes) for `sub`, valid for `lifetime`.
fn unsecured_jwt(sub: &str, lifetime: Duration) -> (String, SystemTime) {
    fn b64url(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            }
        }
        out
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let exp = now + lifetime;
    let claims = format!(
        r#"{{"sub":"{sub}","iat":{},"exp":{:.3}}}"#,
        now.as_secs(),
        exp.as_secs_f64()
    );
    let token = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none"}"#),
        b64url(claims.as_bytes())
    );
    (token, UNIX_EPOCH + exp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Apache Kafka: .ci/kafka start secure"]
async fn every_mechanism_authenticates_over_sasl_ssl() {
    let s = secure();
    let (user, password) = (s.user.clone(), s.password.clone());
    let mechanisms = [
        SaslMechanism::plain(&user, &password),
        SaslMechanism::scram_sha256(&user, &password),
        SaslMechanism::scram_sha512(&user, &password),
        SaslMechanism::oauthbearer(move || {
            let (token, exp) = unsecured_jwt("alice", Duration::from_secs(600));
            async move { Ok(OAuthToken::new(token).expires_at(exp)) }
        }),
    ];
    for m in mechanisms {
        let dialer = Dialer {
            tls: Some(s.tls().connector().unwrap()),
            sasl_mechanism: Some(m.clone()),
            ..Dialer::default()
        };
        let started = Instant::now();
        let mut conn = dialer
            .dial(&s.sasl_ssl)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", m.name()));
        let brokers = conn.brokers().await.unwrap();
        println!(
            "{}: connected and authenticated in {:?}; brokers {brokers:?}",
            m.name(),
            started.elapsed()
        );
        conn.close();
    }
}

/// Holds one connection for three session lifetimes, sending a request
/// every 250 ms: every request works on the same connection (Kafka closes
/// one whose session expired), which re-authenticated in between.
async fn holds_a_connection_across_sessions(s: &Secure, mechanism: SaslMechanism) -> u64 {
    let dialer = Dialer {
        sasl_mechanism: Some(mechanism.clone()),
        ..Dialer::default()
    };
    let mut conn = dialer.dial(&s.sasl_plaintext).await.unwrap();
    let until = Instant::now() + s.reauth * 3;
    let mut requests = 0;
    while Instant::now() < until {
        conn.brokers()
            .await
            .unwrap_or_else(|e| panic!("{} request {requests}: {e}", mechanism.name()));
        requests += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let n = conn.reauthentications();
    println!(
        "{}: {requests} requests over {:?} on one connection, {n} re-authentications",
        mechanism.name(),
        s.reauth * 3
    );
    assert!(n >= 2, "{}: {n} re-authentications", mechanism.name());
    conn.close();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Apache Kafka: .ci/kafka start secure"]
async fn scram_reauthenticates_before_the_session_ends() {
    let s = secure();
    holds_a_connection_across_sessions(&s, SaslMechanism::scram_sha512(&s.user, &s.password)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Apache Kafka: .ci/kafka start secure"]
async fn oauthbearer_token_is_refreshed_before_it_expires() {
    let s = secure();
    // Tokens live 8 s: each session ends with the token (or the listener's
    // 6 s), and the token is replaced past 80% of its life.
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let mechanism = SaslMechanism::oauthbearer(move || {
        c.fetch_add(1, Ordering::SeqCst);
        let (token, exp) = unsecured_jwt("alice", Duration::from_secs(8));
        async move { Ok(OAuthToken::new(token).expires_at(exp)) }
    });
    holds_a_connection_across_sessions(&s, mechanism).await;
    let calls = calls.load(Ordering::SeqCst);
    println!("OAUTHBEARER: the token provider was called {calls} times");
    assert!(calls >= 2, "{calls}");
}

/// Writes for three session lifetimes over SASL_PLAINTEXT: the Writer's
/// connections re-authenticate, so it never has to reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Apache Kafka: .ci/kafka start secure"]
async fn a_writer_keeps_its_connections_through_reauthentication() {
    let s = secure();
    let topic = unique("reauth-writer");
    let dialer = Dialer {
        sasl_mechanism: Some(SaslMechanism::scram_sha512(&s.user, &s.password)),
        ..Dialer::default()
    };
    let client = Client::with_config(ClientConfig {
        brokers: vec![s.sasl_plaintext.clone()],
        dialer: dialer.clone(),
        ..ClientConfig::default()
    })
    .unwrap();
    client
        .create_topics(&[TopicConfig::new(&topic, 1)])
        .await
        .unwrap();
    let writer = Writer::new(WriterConfig {
        dialer,
        ..WriterConfig::new(&[&s.sasl_plaintext], &topic)
    })
    .unwrap();
    let until = Instant::now() + s.reauth * 3;
    let mut n = 0;
    while Instant::now() < until {
        let v = format!("m{n}");
        writer
            .write_messages(&[Message::new(v.as_bytes())])
            .await
            .unwrap();
        n += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = writer.stats();
    println!(
        "{n} writes over {:?}: {} dials, {} retries",
        s.reauth * 3,
        stats.dials,
        stats.retries
    );
    // Bootstrap and the leader: no redial after a session ended.
    assert!(stats.dials <= 2, "{stats:?}");
    assert_eq!(stats.retries, 0, "{stats:?}");
    writer.close().await.unwrap();
    client.delete_topics(&[&topic]).await.unwrap();
    client.close();
}

fn expect_fast<T: std::fmt::Debug>(
    what: &str,
    started: Instant,
    result: Result<T, Error>,
) -> Error {
    let took = started.elapsed();
    let e = result.expect_err(what);
    println!("{what}: {took:?}: {e}");
    assert!(took < FAST, "{what} took {took:?}: {e}");
    assert!(e.is_fatal(), "{what}: {e:?}");
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Apache Kafka: .ci/kafka start secure"]
async fn a_wrong_password_fails_fast_and_is_not_retried() {
    let s = secure();
    for mechanism in [
        SaslMechanism::scram_sha512(&s.user, "wrong-password"),
        SaslMechanism::plain(&s.user, "wrong-password"),
        SaslMechanism::scram_sha256("nobody", "x"),
    ] {
        let dialer = Dialer {
            tls: Some(s.tls().connector().unwrap()),
            sasl_mechanism: Some(mechanism.clone()),
            ..Dialer::default()
        };
        let t = Instant::now();
        let e = expect_fast(mechanism.name(), t, dialer.dial(&s.sasl_ssl).await);
        match e.kind() {
            ErrorKind::AuthenticationFailed {
                mechanism: m,
                message,
            } => {
                assert_eq!(*m, mechanism.name());
                let message = message.as_deref().unwrap_or_default();
                assert!(message.contains("Authentication failed"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("SASL_AUTHENTICATION_FAILED"), "{e}");
    }

    // The Writer and the Reader report it at once, after one dial.
    let dialer = Dialer {
        tls: Some(s.tls().connector().unwrap()),
        sasl_mechanism: Some(SaslMechanism::scram_sha512(&s.user, "wrong-password")),
        ..Dialer::default()
    };
    let topic = unique("wrong-password");
    let writer = Writer::new(WriterConfig {
        dialer: dialer.clone(),
        ..WriterConfig::new(&[&s.sasl_ssl], &topic)
    })
    .unwrap();
    let t = Instant::now();
    let e = writer.write_messages(&[Message::new(b"x")]).await;
    let e = expect_fast("Writer", t, e.map_err(|e| e.first().unwrap().clone()));
    assert!(
        matches!(e.kind(), ErrorKind::AuthenticationFailed { .. }),
        "{e}"
    );
    // Written again at once: no dial (the failure is held for a second).
    let t = Instant::now();
    let again = writer.write_messages(&[Message::new(b"x")]).await;
    expect_fast(
        "Writer again",
        t,
        again.map_err(|e| e.first().unwrap().clone()),
    );
    let stats = writer.stats();
    assert_eq!(stats.dials, 1, "{stats:?}");
    let _ = writer.close().await;

    let mut reader = Reader::new(ReaderConfig {
        dialer: dialer.clone(),
        ..ReaderConfig::group(&[&s.sasl_ssl], &unique("wrong-password-group"), &[&topic])
    })
    .unwrap();
    let t = Instant::now();
    let e = expect_fast("group Reader", t, reader.read_message().await.map(|_| ()));
    assert!(
        matches!(e.kind(), ErrorKind::AuthenticationFailed { .. }),
        "{e}"
    );
    let _ = reader.close().await;

    let mut reader = Reader::new(ReaderConfig {
        dialer,
        ..ReaderConfig::new(&[&s.sasl_ssl], &topic, 0)
    })
    .unwrap();
    let t = Instant::now();
    let e = expect_fast(
        "partition Reader",
        t,
        reader.fetch_message().await.map(|_| ()),
    );
    assert!(
        matches!(e.kind(), ErrorKind::AuthenticationFailed { .. }),
        "{e}"
    );
    let stats = reader.stats();
    assert!(stats.dials <= 1, "{stats:?}");
    let _ = reader.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Apache Kafka: .ci/kafka start secure"]
async fn a_mechanism_the_listener_does_not_enable_names_those_it_does() {
    let s = secure();
    // SASL_PLAINTEXT enables SCRAM-SHA-512, PLAIN and OAUTHBEARER only.
    let dialer = Dialer {
        sasl_mechanism: Some(SaslMechanism::scram_sha256(&s.user, &s.password)),
        ..Dialer::default()
    };
    let t = Instant::now();
    let e = expect_fast("SCRAM-SHA-256", t, dialer.dial(&s.sasl_plaintext).await);
    match e.kind() {
        ErrorKind::UnsupportedMechanism { requested, enabled } => {
            assert_eq!(*requested, "SCRAM-SHA-256");
            assert_eq!(enabled, &["SCRAM-SHA-512", "PLAIN", "OAUTHBEARER"], "{e}");
        }
        other => panic!("{other:?}"),
    }
    // SASL on a listener without it.
    let t = Instant::now();
    let e = expect_fast("SASL on PLAINTEXT", t, dialer.dial(&s.plaintext).await);
    assert!(e.to_string().contains("SASL listener"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Apache Kafka: .ci/kafka start secure"]
async fn an_untrusted_certificate_fails_fast() {
    let s = secure();
    let other_ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    for (name, tls) in [
        (
            "another CA",
            TlsConfig::default().with_ca_pem(other_ca.cert.pem()),
        ),
        // Debian's store does not know the test CA either.
        ("system roots", TlsConfig::default()),
    ] {
        let Ok(connector) = tls.connector() else {
            println!("{name}: no system roots on this machine, skipped");
            continue;
        };
        let dialer = Dialer {
            tls: Some(connector),
            sasl_mechanism: Some(SaslMechanism::scram_sha512(&s.user, &s.password)),
            ..Dialer::default()
        };
        let t = Instant::now();
        let e = expect_fast(name, t, dialer.dial(&s.sasl_ssl).await);
        assert!(
            matches!(
                e.kind(),
                ErrorKind::Tls {
                    failure: TlsFailure::CertificateNotTrusted,
                    ..
                }
            ),
            "{name}: {e:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Apache Kafka: .ci/kafka start secure"]
async fn a_wrong_host_name_fails_fast() {
    let s = secure();
    // The broker's certificate names localhost and 127.0.0.1 only.
    let dialer = Dialer {
        tls: Some(
            s.tls()
                .with_server_name("kafka.example.com")
                .connector()
                .unwrap(),
        ),
        ..s.sasl_ssl_dialer()
    };
    let t = Instant::now();
    let e = expect_fast("wrong host", t, dialer.dial(&s.sasl_ssl).await);
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Tls {
                failure: TlsFailure::HostnameMismatch,
                ..
            }
        ),
        "{e:?}"
    );
    // The same with the host check off (ssl.endpoint.identification.algorithm=none):
    // the chain is still checked, and good.
    let mut tls = s.tls().with_server_name("kafka.example.com");
    tls.verify_hostname = false;
    let dialer = Dialer {
        tls: Some(tls.connector().unwrap()),
        ..s.sasl_ssl_dialer()
    };
    dialer.dial(&s.sasl_ssl).await.unwrap().close();
    // And by the name in the certificate.
    let dialer = s.sasl_ssl_dialer();
    let port = s.sasl_ssl.rsplit(':').next().unwrap();
    dialer
        .dial(&format!("localhost:{port}"))
        .await
        .unwrap()
        .close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Apache Kafka: .ci/kafka start secure"]
async fn mtls_without_a_trusted_client_certificate_is_refused() {
    let s = secure();
    let stranger = rcgen::generate_simple_self_signed(vec!["stranger".into()]).unwrap();
    for (name, tls) in [
        ("no client certificate", s.tls()),
        (
            "a self-signed client certificate",
            s.tls()
                .with_client_cert_pem(stranger.cert.pem(), stranger.signing_key.serialize_pem()),
        ),
    ] {
        let dialer = Dialer {
            tls: Some(tls.connector().unwrap()),
            ..Dialer::default()
        };
        let t = Instant::now();
        let result = dialer.dial(&s.ssl).await;
        let took = t.elapsed();
        let e = result.expect_err(name);
        println!("{name}: {took:?}: {e}");
        assert!(took < FAST, "{name}: {took:?}");
        assert!(
            matches!(
                e.kind(),
                ErrorKind::Tls {
                    failure: TlsFailure::ClientCertificateRejected | TlsFailure::ConnectionClosed,
                    ..
                }
            ),
            "{name}: {e:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Apache Kafka: .ci/kafka start secure"]
async fn the_wrong_protocol_for_a_listener_says_so() {
    let s = secure();
    // Plaintext to the TLS listener.
    let t = Instant::now();
    let e = Dialer::default()
        .dial(&s.ssl)
        .await
        .expect_err("plaintext to SSL");
    println!("plaintext to SSL: {:?}: {e}", t.elapsed());
    assert!(t.elapsed() < FAST);
    // TLS to the plaintext listener.
    let dialer = Dialer {
        tls: Some(s.tls().connector().unwrap()),
        ..Dialer::default()
    };
    let t = Instant::now();
    let e = dialer
        .dial(&s.plaintext)
        .await
        .expect_err("TLS to PLAINTEXT");
    println!("TLS to PLAINTEXT: {:?}: {e}", t.elapsed());
    assert!(t.elapsed() < FAST);
    assert!(matches!(e.kind(), ErrorKind::Tls { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Apache Kafka: .ci/kafka start secure"]
async fn librdkafka_style_properties_configure_the_dialer() {
    let s = secure();
    let dialer = Dialer::default()
        .with_properties([
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", s.user.as_str()),
            ("sasl.password", s.password.as_str()),
            ("ssl.ca.location", s.ca.as_str()),
        ])
        .unwrap();
    dialer.dial(&s.sasl_ssl).await.unwrap().close();
    let dialer = Dialer::default()
        .with_properties([
            ("security.protocol", "ssl"),
            ("ssl.ca.location", s.ca.as_str()),
            ("ssl.certificate.location", s.client_cert.as_str()),
            ("ssl.key.location", s.client_key.as_str()),
        ])
        .unwrap();
    dialer.dial(&s.ssl).await.unwrap().close();
}
