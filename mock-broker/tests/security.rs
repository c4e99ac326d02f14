//! Listener security end to end, with a tiny client on microkafka-core's
//! `Connection` and `Authenticator` and tokio-rustls: every security
//! protocol × SASL mechanism connects, authenticates, produces and fetches;
//! client certificates; Kafka's answers to bad mechanisms, bad credentials
//! and requests out of turn; KIP-368 session lifetimes and
//! re-authentication; and bad input: malformed tokens, TLS garbage,
//! stalled handshakes, 10,000 failed logins.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::secure::{open, Client, ClientTls, Login, STEP};
use common::wire::{request, response};
use microkafka_core::protocol::messages::*;
use microkafka_core::ErrorCode;
use microkafka_mock_broker::{
    ApiKey, Config, Limits, MockCluster, SaslConfig, SaslMechanism, SaslUser, Security,
    SecurityProtocol, TestCa, TlsConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const USER: &str = "alice";
const PASSWORD: &str = "secret";

const API_VERSIONS: ApiVersionsRequest<'static> = ApiVersionsRequest {
    client_software_name: "microkafka-test",
    client_software_version: "1.0",
};

fn sasl() -> SaslConfig {
    SaslConfig::all().user(USER, PASSWORD)
}

/// A one-broker cluster with `security` and `limits`.
async fn start(security: Security, limits: Limits) -> MockCluster {
    MockCluster::start(Config {
        security,
        limits,
        ..Config::with_brokers(1)
    })
    .await
    .expect("start the cluster")
}

fn quick_failures() -> Limits {
    Limits {
        failed_authentication_delay: Duration::from_millis(10),
        ..Limits::default()
    }
}

/// The principal the broker recorded for the last request of `api`.
fn principal_of(cluster: &MockCluster, api: ApiKey) -> String {
    cluster
        .requests()
        .iter()
        .rev()
        .find(|r| r.api() == Some(api))
        .map(|r| r.principal.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protocol_and_mechanism_produces_and_fetches() {
    let ca = TestCa::new("matrix CA").unwrap();
    for protocol in SecurityProtocol::ALL {
        let tls = protocol
            .uses_tls()
            .then(|| ca.server_tls(&["127.0.0.1"]).unwrap());
        let security = Security {
            protocol,
            tls,
            sasl: sasl(),
        };
        let cluster = start(security, Limits::default()).await;
        assert_eq!(cluster.security_protocol(), protocol);
        let addr = cluster.addrs()[0];
        let client_tls = protocol
            .uses_tls()
            .then(|| ClientTls::trusting(ca.cert_pem()));
        let mechanisms: Vec<Option<SaslMechanism>> = if protocol.uses_sasl() {
            SaslMechanism::ALL.into_iter().map(Some).collect()
        } else {
            vec![None]
        };
        for (i, mechanism) in mechanisms.into_iter().enumerate() {
            let what = format!("{protocol} {mechanism:?}");
            let mut c = Client::connect(addr, client_tls.as_ref())
                .await
                .expect(&what);
            let principal = match mechanism {
                Some(m) => {
                    let session = c
                        .authenticate(&Login::new(m, USER, PASSWORD))
                        .await
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert_eq!(session.mechanism, m);
                    // No connections.max.reauth.ms: only a token expires.
                    assert_eq!(
                        session.lifetime_ms > 0,
                        m == SaslMechanism::OAuthBearer,
                        "{what}"
                    );
                    USER
                }
                None => "ANONYMOUS",
            };
            let topic = format!("t{i}");
            let values: [&[u8]; 3] = [b"one", b"two", b"three"];
            assert_eq!(c.produce(&topic, &values).await.expect(&what), 0);
            let got = c.fetch(&topic, 0).await.expect(&what);
            assert_eq!(got, values.map(<[u8]>::to_vec), "{what}");
            assert_eq!(principal_of(&cluster, ApiKey::Produce), principal, "{what}");
        }
        // TLS 1.2 too.
        if protocol == SecurityProtocol::Ssl {
            let tls12 = ClientTls {
                tls12_only: true,
                ..ClientTls::trusting(ca.cert_pem())
            };
            let mut c = Client::connect(addr, Some(&tls12)).await.unwrap();
            assert_eq!(c.fetch("t0", 0).await.unwrap().len(), 3);
        }
        assert_eq!(cluster.security_stats().failed_authentications, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_name_the_principal() {
    let ca = TestCa::new("mtls CA").unwrap();
    let other_ca = TestCa::new("someone else").unwrap();
    let server = ca.server_tls(&[]).unwrap();
    let alice = ca.client_cert("alice").unwrap();
    let mallory = other_ca.client_cert("mallory").unwrap();
    let with = |cert: Option<&microkafka_mock_broker::CertifiedKeyPem>| ClientTls {
        cert: cert.cloned(),
        ..ClientTls::trusting(ca.cert_pem())
    };

    // Required (mutual TLS): the certificate's subject is the principal.
    let required = start(
        Security::ssl(server.clone().require_client_cert(ca.cert_pem())),
        quick_failures(),
    )
    .await;
    let addr = required.addrs()[0];
    let mut c = Client::connect(addr, Some(&with(Some(&alice))))
        .await
        .unwrap();
    c.produce("m", &[b"x"]).await.unwrap();
    assert_eq!(principal_of(&required, ApiKey::Produce), "CN=alice");
    for refused in [None, Some(&mallory)] {
        assert!(
            Client::connect(addr, Some(&with(refused))).await.is_err(),
            "a client without a trusted certificate must not get through"
        );
    }
    let stats = required.security_stats();
    assert_eq!(
        (stats.tls_handshake_failures, stats.failed_authentications),
        (2, 2)
    );
    c.produce("m", &[b"y"])
        .await
        .expect("the good client goes on");

    // Requested: without a certificate the client is anonymous.
    let requested = start(
        Security::ssl(server.clone().request_client_cert(ca.cert_pem())),
        Limits::default(),
    )
    .await;
    let addr = requested.addrs()[0];
    let mut anonymous = Client::connect(addr, Some(&with(None))).await.unwrap();
    anonymous.produce("r", &[b"x"]).await.unwrap();
    assert_eq!(principal_of(&requested, ApiKey::Produce), "ANONYMOUS");
    let mut named = Client::connect(addr, Some(&with(Some(&alice))))
        .await
        .unwrap();
    named.produce("r", &[b"x"]).await.unwrap();
    assert_eq!(principal_of(&requested, ApiKey::Produce), "CN=alice");

    // SASL_SSL with a client certificate: the SASL user is the principal.
    let both = start(
        Security::sasl_ssl(server.require_client_cert(ca.cert_pem()), sasl()),
        Limits::default(),
    )
    .await;
    let mut c = Client::connect(both.addrs()[0], Some(&with(Some(&alice))))
        .await
        .unwrap();
    c.authenticate(&Login::new(SaslMechanism::ScramSha256, USER, PASSWORD))
        .await
        .unwrap();
    c.produce("s", &[b"x"]).await.unwrap();
    assert_eq!(principal_of(&both, ApiKey::Produce), USER);
}

/// Sends one request and reads its answer over a raw (plaintext) stream.
async fn exchange<'a, R: microkafka_core::protocol::Request<'a>>(
    s: &mut TcpStream,
    correlation_id: i32,
    version: i16,
    body: &R,
) -> Option<Vec<u8>> {
    s.write_all(&request(correlation_id, version, body))
        .await
        .ok()?;
    common::net::read_frame(s).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_lists_mechanisms_and_refuses_others() {
    let cluster = start(
        Security::sasl_plaintext(
            SaslConfig::new([SaslMechanism::ScramSha512, SaslMechanism::OAuthBearer])
                .user(USER, PASSWORD),
        ),
        quick_failures(),
    )
    .await;
    let addr = cluster.addrs()[0];
    for (mechanism, error) in [
        ("OAUTHBEARER", ErrorCode::NONE),
        ("GSSAPI", ErrorCode::UNSUPPORTED_SASL_MECHANISM),
        ("PLAIN", ErrorCode::UNSUPPORTED_SASL_MECHANISM),
        ("scram-sha-512", ErrorCode::UNSUPPORTED_SASL_MECHANISM),
    ] {
        let mut s = common::net::connect(addr).await;
        let frame = exchange(&mut s, 1, 1, &SaslHandshakeRequest { mechanism })
            .await
            .unwrap();
        let (_, r): (_, SaslHandshakeResponse) = response(&frame, 1);
        assert_eq!(r.error_code, error, "{mechanism}");
        let listed: Vec<&str> = r.mechanisms.iter().collect();
        assert_eq!(listed, ["SCRAM-SHA-512", "OAUTHBEARER"], "{mechanism}");
        if error.is_err() {
            assert!(
                common::net::closed(&mut s).await,
                "{mechanism}: closed after"
            );
        }
    }
    assert_eq!(cluster.security_stats().failed_authentications, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_get_kafkas_message_late_then_close() {
    let delay = Duration::from_millis(200);
    let cluster = start(
        Security::sasl_plaintext(sasl()),
        Limits {
            failed_authentication_delay: delay,
            ..Limits::default()
        },
    )
    .await;
    let addr = cluster.addrs()[0];
    let expired = microkafka_mock_broker::unsecured_jwt_at(USER, 1.0, 2.0, &[]);
    let cases = [
        (
            Login::new(SaslMechanism::Plain, USER, "wrong"),
            "Authentication failed: Invalid username or password",
        ),
        (
            Login::new(SaslMechanism::Plain, "nobody", PASSWORD),
            "Authentication failed: Invalid username or password",
        ),
        (
            Login::new(SaslMechanism::ScramSha256, USER, "wrong"),
            "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256",
        ),
        (
            Login::new(SaslMechanism::ScramSha512, "nobody", PASSWORD),
            "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512",
        ),
        (
            Login::OAuthBearer { token: expired },
            r#"{"status":"invalid_token"}"#,
        ),
    ];
    let n = cases.len() as u64;
    for (login, message) in cases {
        let mut c = Client::connect(addr, None).await.unwrap();
        let start = Instant::now();
        let e = c.authenticate(&login).await.unwrap_err();
        assert!(
            start.elapsed() >= delay,
            "{login:?}: answered after the delay"
        );
        assert!(e.contains(message), "{login:?}: {e}");
        assert!(c.closed().await, "{login:?}: closed");
    }
    assert_eq!(cluster.security_stats().failed_authentications, n);
    // The right password still works.
    let mut c = Client::connect(addr, None).await.unwrap();
    c.authenticate(&Login::new(SaslMechanism::ScramSha512, USER, PASSWORD))
        .await
        .unwrap();
    c.metadata().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_sasl_apis_before_authentication() {
    let cluster = start(Security::sasl_plaintext(sasl()), quick_failures()).await;
    let addr = cluster.addrs()[0];
    // Metadata first: closed without an answer.
    let mut s = common::net::connect(addr).await;
    assert!(exchange(&mut s, 1, 9, &MetadataRequest::default())
        .await
        .is_none());
    // ApiVersions is allowed, then the handshake; then only SaslAuthenticate:
    // ApiVersions now is answered ILLEGAL_SASL_STATE and the connection closes.
    let mut s = common::net::connect(addr).await;
    let frame = exchange(&mut s, 1, 3, &API_VERSIONS).await.unwrap();
    let (_, r): (_, ApiVersionsResponse) = response(&frame, 3);
    assert_eq!(r.error_code, ErrorCode::NONE);
    let frame = exchange(&mut s, 2, 1, &SaslHandshakeRequest { mechanism: "PLAIN" })
        .await
        .unwrap();
    let (_, r): (_, SaslHandshakeResponse) = response(&frame, 1);
    assert_eq!(r.error_code, ErrorCode::NONE);
    let frame = exchange(&mut s, 3, 3, &API_VERSIONS).await.unwrap();
    let (corr, r): (_, ApiVersionsResponse) = response(&frame, 3);
    assert_eq!((corr, r.error_code), (3, ErrorCode::ILLEGAL_SASL_STATE));
    assert!(common::net::closed(&mut s).await);
    assert_eq!(cluster.security_stats().failed_authentications, 1);
    // SaslAuthenticate before SaslHandshake: ILLEGAL_SASL_STATE, closed.
    let mut s = common::net::connect(addr).await;
    let auth = SaslAuthenticateRequest {
        auth_bytes: b"\0alice\0secret",
    };
    let frame = exchange(&mut s, 1, 2, &auth).await.unwrap();
    let (_, r): (_, SaslAuthenticateResponse) = response(&frame, 2);
    assert_eq!(r.error_code, ErrorCode::ILLEGAL_SASL_STATE);
    assert!(common::net::closed(&mut s).await);
    // After authentication, a SaslHandshake on a session that does not
    // expire is ILLEGAL_SASL_STATE and the connection stays.
    let mut c = Client::connect(addr, None).await.unwrap();
    c.authenticate(&Login::new(SaslMechanism::Plain, USER, PASSWORD))
        .await
        .unwrap();
    let e = c
        .authenticate(&Login::new(SaslMechanism::Plain, USER, PASSWORD))
        .await
        .unwrap_err();
    assert!(e.contains("SASL state"), "{e}");
    c.metadata().await.expect("still open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_unless_reauthenticated() {
    let lifetime = Duration::from_millis(2000);
    let ca = TestCa::new("reauth CA").unwrap();
    let tls = ca.server_tls(&["127.0.0.1"]).unwrap();
    let cluster = start(
        Security::sasl_ssl(tls, sasl().reauth_after(lifetime)),
        quick_failures(),
    )
    .await;
    let addr = cluster.addrs()[0];
    let client_tls = ClientTls::trusting(ca.cert_pem());
    let scram = Login::new(SaslMechanism::ScramSha256, USER, PASSWORD);

    // Re-authenticating before the lifetime ends keeps the connection.
    let mut c = Client::connect(addr, Some(&client_tls)).await.unwrap();
    let session = c.authenticate(&scram).await.unwrap();
    assert_eq!(session.lifetime_ms, 2000);
    c.produce("r", &[b"1"]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let renewed = c.authenticate(&scram).await.unwrap();
    assert_eq!(renewed.lifetime_ms, 2000);
    // Within a second of the last re-authentication: Kafka handles the
    // SaslHandshake as a normal request (ILLEGAL_SASL_STATE).
    let e = c.authenticate(&scram).await.unwrap_err();
    assert!(e.contains("SASL state"), "{e}");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    c.produce("r", &[b"2"])
        .await
        .expect("renewed 1 s ago, lifetime 2 s");
    // Past the lifetime without re-authenticating: the next request closes.
    tokio::time::sleep(lifetime).await;
    assert!(c.metadata().await.is_err(), "expired session closed");

    // A SaslHandshake on an expired session still starts a re-authentication.
    let mut c = Client::connect(addr, Some(&client_tls)).await.unwrap();
    c.authenticate(&scram).await.unwrap();
    tokio::time::sleep(lifetime + Duration::from_millis(100)).await;
    c.authenticate(&scram)
        .await
        .expect("late re-authentication");
    c.metadata().await.unwrap();

    // Re-authentication as someone else, or with another mechanism, fails.
    let cluster = start(
        Security::sasl_plaintext(
            sasl()
                .user("bob", "pw")
                .reauth_after(Duration::from_secs(60)),
        ),
        quick_failures(),
    )
    .await;
    let addr = cluster.addrs()[0];
    let mut c = Client::connect(addr, None).await.unwrap();
    c.authenticate(&Login::new(SaslMechanism::Plain, USER, PASSWORD))
        .await
        .unwrap();
    let e = c
        .authenticate(&Login::new(SaslMechanism::Plain, "bob", "pw"))
        .await
        .unwrap_err();
    assert!(
        e.contains("Cannot change principals during re-authentication from User.alice: User.bob"),
        "{e}"
    );
    assert!(c.closed().await);
    let mut c = Client::connect(addr, None).await.unwrap();
    c.authenticate(&Login::new(SaslMechanism::Plain, USER, PASSWORD))
        .await
        .unwrap();
    let e = c
        .authenticate(&Login::new(SaslMechanism::ScramSha512, USER, PASSWORD))
        .await
        .unwrap_err();
    assert!(e.contains("read"), "closed without an answer: {e}");
    assert_eq!(cluster.security_stats().failed_authentications, 2);

    // OAUTHBEARER: the token's expiry bounds the session.
    let cluster = start(Security::sasl_plaintext(sasl()), Limits::default()).await;
    let mut c = Client::connect(cluster.addrs()[0], None).await.unwrap();
    let token = microkafka_mock_broker::unsecured_jwt(USER, Duration::from_secs(3));
    let session = c.authenticate(&Login::OAuthBearer { token }).await.unwrap();
    assert!(
        (1500..=3100).contains(&session.lifetime_ms),
        "{}",
        session.lifetime_ms
    );
}

/// Opens a plaintext connection, handshakes `mechanism` (v1) and sends
/// `bytes` as one SaslAuthenticate; returns the answer's error and message,
/// `None` if the broker closed without one.
async fn authenticate_raw(
    addr: SocketAddr,
    mechanism: &str,
    bytes: &[u8],
) -> Option<(ErrorCode, Option<String>)> {
    let mut s = common::net::connect(addr).await;
    let frame = exchange(&mut s, 1, 1, &SaslHandshakeRequest { mechanism }).await?;
    let (_, r): (_, SaslHandshakeResponse) = response(&frame, 1);
    assert_eq!(r.error_code, ErrorCode::NONE);
    let frame = exchange(&mut s, 2, 2, &SaslAuthenticateRequest { auth_bytes: bytes }).await;
    let answer = frame.map(|frame| {
        let (_, r): (_, SaslAuthenticateResponse) = response(&frame, 2);
        (r.error_code, r.error_message.map(str::to_owned))
    });
    // A challenge waits for the next message; anything else closes.
    if answer.as_ref().is_none_or(|(e, _)| e.is_err()) {
        assert!(common::net::closed(&mut s).await, "{mechanism}: closed");
    }
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_sasl_tokens_close_only_their_connection() {
    let cluster = start(Security::sasl_plaintext(sasl()), quick_failures()).await;
    let addr = cluster.addrs()[0];
    let mut steady = Client::connect(addr, None).await.unwrap();
    steady
        .authenticate(&Login::new(SaslMechanism::ScramSha512, USER, PASSWORD))
        .await
        .unwrap();
    let long = vec![b'a'; 400 << 10];
    let tokens: Vec<&[u8]> = vec![
        b"",
        b"\0",
        b"\0\0\0\0",
        b"\xff\xfe\xfd",
        b"n,,n=alice",
        b"n,,n=alice,r=",
        b"n,,n=,r=abc",
        b"p=tls-unique,,n=alice,r=abcdefghijklmnop",
        b"c=biws,r=x,p=AAAA",
        b"n,,\x01auth=Basic abc\x01\x01",
        b"n,,\x01auth=Bearer \x01\x01",
        b"n,,\x01auth=Bearer a.b.c\x01\x01",
        &long,
    ];
    let mut failures = 0;
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] {
        for token in &tokens {
            let answer = authenticate_raw(addr, mechanism, token).await;
            let (error, message) = answer.unwrap_or_else(|| {
                panic!("{mechanism} {:?}: no answer", &token[..token.len().min(20)])
            });
            if error == ErrorCode::NONE {
                // A syntactically valid first message: SCRAM's challenge,
                // or an OAUTHBEARER error challenge; the close follows.
                assert!(mechanism != "PLAIN");
                continue;
            }
            failures += 1;
            assert_eq!(error, ErrorCode::SASL_AUTHENTICATION_FAILED, "{mechanism}");
            assert!(message.unwrap().starts_with("Authentication failed"));
        }
    }
    assert!(failures > 30, "{failures}");
    // A SaslAuthenticate body that does not decode: closed.
    let mut s = common::net::connect(addr).await;
    exchange(&mut s, 1, 1, &SaslHandshakeRequest { mechanism: "PLAIN" })
        .await
        .unwrap();
    let mut frame = request(2, 2, &SaslAuthenticateRequest { auth_bytes: b"x" });
    frame.truncate(frame.len() - 3);
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    s.write_all(&frame).await.unwrap();
    assert!(common::net::closed(&mut s).await);
    steady
        .produce("steady", &[b"ok"])
        .await
        .expect("the authenticated client is unaffected");
}

/// Reads until EOF or error; true when the broker closed.
async fn drained(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(STEP, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_garbage_is_refused_and_others_go_on() {
    let ca = TestCa::new("garbage CA").unwrap();
    let cluster = start(
        Security::ssl(ca.server_tls(&["127.0.0.1"]).unwrap()),
        Limits {
            // Garbage that reads as the start of a long record is waited
            // for, then timed out.
            handshake_timeout: Duration::from_secs(1),
            // All of it comes from 127.0.0.1: keep the guard out of the way.
            max_failed_authentications_per_address: 1000,
            ..quick_failures()
        },
    )
    .await;
    let addr = cluster.addrs()[0];
    let client_tls = ClientTls::trusting(ca.cert_pem());
    let mut steady = Client::connect(addr, Some(&client_tls)).await.unwrap();
    // Kafka's plaintext ApiVersions to a TLS port, an HTTP request, random
    // bytes, a TLS record header announcing a huge ClientHello of garbage.
    let mut garbage: Vec<Vec<u8>> = vec![
        request(1, 3, &API_VERSIONS),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        [0x16, 0x03, 0x01, 0x40, 0x00]
            .iter()
            .copied()
            .chain([0xab; 0x4000])
            .collect(),
        [0x16, 0x03, 0x03, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00].to_vec(),
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..200 {
        let bytes: Vec<u8> = (0..256)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        garbage.push(bytes);
    }
    let n = garbage.len() as u64;
    for bytes in garbage {
        let mut s = common::net::connect(addr).await;
        let _ = s.write_all(&bytes).await;
        assert!(drained(&mut s).await, "closed");
    }
    let stats = cluster.security_stats();
    assert_eq!(
        stats.tls_handshake_failures + stats.handshake_timeouts,
        n,
        "{stats:?}"
    );
    assert!(stats.tls_handshake_failures >= n - 5, "{stats:?}");
    assert_eq!(
        cluster.open_connections(),
        1,
        "only the steady client is left"
    );
    steady.produce("steady", &[b"ok"]).await.unwrap();
    assert_eq!(steady.fetch("steady", 0).await.unwrap(), [b"ok".to_vec()]);
}

/// A client that leaves in the middle of the TLS handshake (a closed Reader,
/// a cancelled dial) is a disconnect, as in Kafka, not a failed
/// authentication: nothing counted, nothing held against its address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_leaving_mid_handshake_are_not_failures() {
    let ca = TestCa::new("leaving CA").unwrap();
    let cluster = start(
        Security::ssl(ca.server_tls(&["127.0.0.1"]).unwrap()),
        quick_failures(),
    )
    .await;
    let addr = cluster.addrs()[0];
    let client_tls = ClientTls::trusting(ca.cert_pem());
    let hello = client_hello(&client_tls);
    for i in 0..20 {
        let mut s = common::net::connect(addr).await;
        // Nothing, half a ClientHello, or all of it: then gone.
        let sent = [0, hello.len() / 2, hello.len()][i % 3];
        s.write_all(&hello[..sent]).await.unwrap();
        drop(s);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.open_connections() > 0 {
        assert!(Instant::now() < deadline, "connections left open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = cluster.security_stats();
    assert_eq!(
        (stats.failed_authentications, stats.tls_handshake_failures),
        (0, 0),
        "{stats:?}"
    );
    let mut steady = Client::connect(addr, Some(&client_tls)).await.unwrap();
    steady.produce("steady", &[b"ok"]).await.unwrap();
}

/// The first bytes of a real ClientHello.
fn client_hello(tls: &ClientTls) -> Vec<u8> {
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut conn = rustls::ClientConnection::new(tls.config(), name).unwrap();
    let mut out = Vec::new();
    conn.write_tls(&mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_handshakes_time_out() {
    let timeout = Duration::from_millis(600);
    let limits = Limits {
        handshake_timeout: timeout,
        ..Limits::default()
    };
    let ca = TestCa::new("stall CA").unwrap();
    let tls = ca.server_tls(&["127.0.0.1"]).unwrap();
    let cluster = start(Security::sasl_ssl(tls, sasl()), limits.clone()).await;
    let addr = cluster.addrs()[0];
    let client_tls = ClientTls::trusting(ca.cert_pem());
    let mut steady = Client::connect(addr, Some(&client_tls)).await.unwrap();
    steady
        .authenticate(&Login::new(SaslMechanism::Plain, USER, PASSWORD))
        .await
        .unwrap();

    let start = Instant::now();
    // Silent after connecting; half a ClientHello; a whole ClientHello and
    // nothing after the server's answer.
    let mut silent = common::net::connect(addr).await;
    let mut half = common::net::connect(addr).await;
    let hello = client_hello(&client_tls);
    half.write_all(&hello[..hello.len() / 2]).await.unwrap();
    let mut whole = common::net::connect(addr).await;
    whole.write_all(&hello).await.unwrap();
    // TLS done, SASL begun (SaslHandshake answered) and abandoned.
    let mut io = open(addr, Some(&client_tls)).await.unwrap();
    let handshake = request(
        1,
        1,
        &SaslHandshakeRequest {
            mechanism: "SCRAM-SHA-256",
        },
    );
    io.write_all(&handshake).await.unwrap();
    let mut first = [0u8; 4];
    io.read_exact(&mut first).await.unwrap();
    for s in [&mut silent, &mut half, &mut whole] {
        assert!(drained(s).await, "closed by the broker");
    }
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(STEP, io.read_to_end(&mut rest))
        .await
        .expect("closed");
    let took = start.elapsed();
    assert!(took >= timeout && took < timeout * 5, "{took:?}");
    let stats = cluster.security_stats();
    assert_eq!(stats.handshake_timeouts, 4, "{stats:?}");
    assert_eq!(cluster.open_connections(), 1);
    steady
        .produce("steady", &[b"ok"])
        .await
        .expect("an authenticated client is not timed out");

    // Without TLS or SASL there is nothing to time out.
    let plain = start_plain(limits).await;
    let mut idle = common::net::connect(plain.addrs()[0]).await;
    tokio::time::sleep(timeout * 2).await;
    let frame = exchange(&mut idle, 1, 3, &API_VERSIONS).await;
    assert!(
        frame.is_some(),
        "a PLAINTEXT connection has no handshake deadline"
    );
}

async fn start_plain(limits: Limits) -> MockCluster {
    start(Security::plaintext(), limits).await
}

/// VmRSS of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// One failed login from `source`: a wrong PLAIN password, a SCRAM proof
/// of random bytes, a refused token, or garbage, by `i`. False when the
/// broker refused the connection at once (the brute-force guard).
async fn failed_login(addr: SocketAddr, source: IpAddr, i: usize) -> bool {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    let mut s = tokio::time::timeout(STEP, socket.connect(addr))
        .await
        .unwrap()
        .unwrap();
    let mechanism = ["PLAIN", "SCRAM-SHA-256", "OAUTHBEARER", "SCRAM-SHA-512"][i % 4];
    let Some(frame) = exchange(&mut s, 1, 1, &SaslHandshakeRequest { mechanism }).await else {
        return false;
    };
    let (_, r): (_, SaslHandshakeResponse) = response(&frame, 1);
    assert_eq!(r.error_code, ErrorCode::NONE);
    let first: Vec<u8> = match mechanism {
        "PLAIN" => format!("\0{USER}\0guess-{i}").into_bytes(),
        "OAUTHBEARER" => b"n,,\x01auth=Bearer e30.e30.\x01\x01".to_vec(),
        "SCRAM-SHA-256" => format!("n,,n={USER},r=client-nonce-{i:08}").into_bytes(),
        _ => vec![0xff; i % 64],
    };
    let frame = exchange(
        &mut s,
        2,
        2,
        &SaslAuthenticateRequest { auth_bytes: &first },
    )
    .await
    .expect("an answer");
    let (_, r): (_, SaslAuthenticateResponse) = response(&frame, 2);
    let mut last = r;
    let owned;
    if last.error_code == ErrorCode::NONE {
        // SCRAM's server-first or OAUTHBEARER's error: answer with a
        // client-final carrying a random proof, or the %x01.
        let next = match mechanism {
            "OAUTHBEARER" => vec![0x01],
            _ => {
                let server_first = std::str::from_utf8(last.auth_bytes).unwrap();
                let nonce = server_first.split(',').next().unwrap();
                format!("c=biws,{nonce},p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
                    .into_bytes()
            }
        };
        owned = exchange(&mut s, 3, 2, &SaslAuthenticateRequest { auth_bytes: &next })
            .await
            .expect("an answer");
        last = response::<SaslAuthenticateResponse>(&owned, 2).1;
    }
    assert_eq!(
        last.error_code,
        ErrorCode::SASL_AUTHENTICATION_FAILED,
        "{mechanism}"
    );
    assert!(common::net::closed(&mut s).await);
    true
}

/// 10,000 failed logins from 100 addresses (127.0.1.x), 32 at a time, while
/// a client from 127.0.0.1 keeps producing and fetching: every attempt is
/// answered and closed, the counters and the guard's memory stay bounded,
/// the broker's memory too, and the other client never waits long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_failed_logins() {
    const ATTEMPTS: usize = 10_000;
    const ADDRESSES: usize = 100;
    const AT_ONCE: usize = 32;
    let limits = Limits {
        failed_authentication_delay: Duration::from_millis(5),
        max_failed_authentications_per_address: ATTEMPTS / ADDRESSES,
        max_tracked_addresses: 64,
        ..Limits::default()
    };
    let cluster = start(Security::sasl_plaintext(sasl()), limits).await;
    let addr = cluster.addrs()[0];
    let mut steady = Client::connect(addr, None).await.unwrap();
    steady
        .authenticate(&Login::new(SaslMechanism::ScramSha512, USER, PASSWORD))
        .await
        .unwrap();
    steady.produce("steady", &[b"warm"]).await.unwrap();
    let rss_before = rss_kib();

    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let done = done.clone();
        tokio::spawn(async move {
            let (mut worst, mut rounds) = (Duration::ZERO, 0u32);
            while !done.load(Ordering::Relaxed) {
                let t = Instant::now();
                steady.produce("steady", &[b"tick"]).await.unwrap();
                let n = steady.fetch("steady", 0).await.unwrap().len();
                assert!(n >= 2);
                worst = worst.max(t.elapsed());
                rounds += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // The client comes back so its connection stays open for the checks below.
            (worst, rounds, steady)
        })
    };
    let start = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..AT_ONCE {
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let mut refused = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ATTEMPTS {
                    return refused;
                }
                let source = IpAddr::V4(Ipv4Addr::new(127, 0, 1, (i % ADDRESSES) as u8 + 1));
                if !failed_login(addr, source, i).await {
                    refused += 1;
                }
            }
        }));
    }
    let mut refused = 0;
    for w in workers {
        refused += w.await.unwrap();
    }
    let took = start.elapsed();
    done.store(true, Ordering::Relaxed);
    let (worst, rounds, _steady) = watcher.await.unwrap();
    let stats = cluster.security_stats();
    let rss_after = rss_kib();
    eprintln!(
        "{ATTEMPTS} failed logins in {took:?}; refused by the guard {refused}; {stats:?}; \
         steady client: {rounds} rounds, worst {worst:?}; RSS {rss_before} -> {rss_after} KiB"
    );
    assert_eq!(stats.failed_authentications as usize + refused, ATTEMPTS);
    assert!(
        stats.failed_authentications as usize >= ATTEMPTS * 9 / 10,
        "{stats:?}"
    );
    assert!(stats.tracked_addresses <= 64, "{stats:?}");
    assert!(
        rounds > 10 && worst < Duration::from_secs(2),
        "{rounds} rounds, worst {worst:?}"
    );
    assert!(
        rss_after.saturating_sub(rss_before) < 32 << 10,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
    assert_eq!(
        cluster.open_connections(),
        1,
        "every failed connection closed"
    );

    // The guard: an address that failed too often is refused at accept.
    let source = IpAddr::V4(Ipv4Addr::new(127, 0, 2, 1));
    for i in 0..ATTEMPTS / ADDRESSES {
        assert!(
            failed_login(addr, source, i * 4).await,
            "attempt {i} reaches the broker"
        );
    }
    let before = cluster.security_stats().refused_connections;
    assert!(!failed_login(addr, source, 0).await, "refused at accept");
    assert_eq!(cluster.security_stats().refused_connections, before + 1);
    let mut fresh = Client::connect(addr, None).await.unwrap();
    fresh
        .authenticate(&Login::new(SaslMechanism::Plain, USER, PASSWORD))
        .await
        .expect("127.0.0.1 is not refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configurations_that_do_not_hold_are_refused() {
    let tls = TlsConfig::generated(&[]).unwrap();
    let bad = [
        Security {
            protocol: SecurityProtocol::Ssl,
            ..Security::default()
        },
        Security {
            protocol: SecurityProtocol::SaslPlaintext,
            tls: Some(tls.clone()),
            ..Security::default()
        },
        Security::sasl_plaintext(SaslConfig::new([])),
        Security::sasl_plaintext(SaslConfig {
            scram_iterations: 100,
            ..SaslConfig::new([SaslMechanism::ScramSha256])
        }),
        Security::ssl(TlsConfig::from_pem("junk", "junk")),
        Security::ssl(tls.clone().require_client_cert("not a CA")),
    ];
    for security in bad {
        let what = format!("{security:?}");
        let e = MockCluster::start(Config {
            security,
            ..Config::with_brokers(1)
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("{what} must be refused"));
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{what}");
    }
    // sasl_users on an SSL listener make it SASL_SSL with PLAIN.
    let cluster = MockCluster::start(Config {
        security: Security::ssl(tls),
        sasl_users: vec![SaslUser::new("u", "p")],
        ..Config::with_brokers(1)
    })
    .await
    .unwrap();
    assert_eq!(cluster.security_protocol(), SecurityProtocol::SaslSsl);
    assert!(cluster.ca_pem().is_some());
    let passwords_kept = cluster.with_cluster(|c| {
        c.config()
            .sasl_users
            .iter()
            .chain(&c.config().security.sasl.users)
            .any(|u| !u.password.is_empty())
    });
    assert!(
        !passwords_kept,
        "the cluster keeps no password in its config"
    );
}

/// The binary with security flags: SASL_SSL with SCRAM, a generated CA
/// written out, a client that trusts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_sasl_ssl() {
    use std::io::BufRead;
    let dir = std::env::temp_dir().join(format!("microkafka-security-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_path = dir.join("ca.pem");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_microkafka-broker"))
        .args(["--listen", "127.0.0.1:0", "--tls-generate", "--tls-ca-out"])
        .arg(&ca_path)
        .args([
            "--sasl-mechanisms",
            "SCRAM-SHA-512",
            "--sasl-user",
            "alice:secret",
            "--reauth-ms",
            "60000",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads every line until the broker exits (it prints more later).
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    let line = tokio::task::spawn_blocking(move || rx.recv_timeout(STEP).unwrap())
        .await
        .unwrap();
    assert!(line.contains("security.protocol=SASL_SSL"), "{line}");
    assert!(line.contains("sasl.mechanisms=SCRAM-SHA-512"), "{line}");
    let addr: SocketAddr = line.rsplit('=').next().unwrap().parse().unwrap();
    let ca = std::fs::read_to_string(&ca_path).unwrap();
    let mut c = Client::connect(addr, Some(&ClientTls::trusting(&ca)))
        .await
        .unwrap();
    let session = c
        .authenticate(&Login::new(SaslMechanism::ScramSha512, "alice", "secret"))
        .await
        .unwrap();
    assert_eq!(session.lifetime_ms, 60_000);
    c.produce("bin", &[b"hello"]).await.unwrap();
    assert_eq!(c.fetch("bin", 0).await.unwrap(), [b"hello".to_vec()]);
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
