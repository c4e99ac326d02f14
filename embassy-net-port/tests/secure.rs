//! TLS and SASL on the host cable: the embassy producer (embassy-net stack,
//! in-memory cable, relay) against the mock broker's secure listeners
//! (rustls with a certificate from a `TestCa`; SASL on core's servers),
//! its records read back exactly by std-net's Reader over the same
//! security. Failures: a wrong password, an untrusted CA, a certificate for
//! another name, a client certificate posing as a broker's, each named and
//! answered without retries; KIP-368 session lifetimes renewed by
//! reconnecting before the broker's deadline.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::Net;
use embassy_net::tcp::TcpSocket;
use microkafka_core::balancer::Murmur2;
use microkafka_embassy::tls::TLS_READ_BUFFER_LEN;
use microkafka_embassy::{
    Consumer, ConsumerConfig, Error, ErrorKind, Producer, ProducerConfig, ProducerStats, Record,
    Sasl, SaslFailure, Security, TlsFailure, TlsOptions, TlsSocket,
};
use microkafka_mock_broker::{
    Config, SaslConfig, SaslMechanism as Mech, Security as BrokerSecurity, SecurityProtocol,
    TestCa, TlsConfig as BrokerTls,
};
use microkafka_std::{Dialer, Reader, ReaderConfig, SaslMechanism, TlsConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

const USER: &str = "sensor-1";
const PASSWORD: &str = "sensor-1-secret";
const TOPIC: &str = "telemetry";

/// The DER of a PEM certificate, for `'static` device configs.
fn der(pem: &str) -> &'static [u8] {
    let cert = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    Box::leak(cert.to_vec().into_boxed_slice())
}

/// A 3-broker cluster with `protocol` (TLS from `tls`, SASL with
/// `mechanisms` and the user), sessions of `reauth` (zero: unlimited).
fn secure_net(
    protocol: SecurityProtocol,
    tls: Option<BrokerTls>,
    mechanisms: &[Mech],
    reauth: Duration,
) -> Net {
    let sasl = SaslConfig::new(mechanisms.iter().copied())
        .user(USER, PASSWORD)
        .reauth_after(reauth);
    let net = Net::start_with(Config {
        security: BrokerSecurity {
            protocol,
            tls,
            sasl,
        },
        ..Config::with_brokers(3)
    });
    net.cluster.create_topic(TOPIC, 3).unwrap();
    net
}

/// The broker certificate: `localhost` and `127.0.0.1` (what brokers advertise).
fn broker_tls(ca: &TestCa) -> BrokerTls {
    ca.server_tls(&["localhost", "127.0.0.1"]).unwrap()
}

/// Runs a producer with two connections over TLS sockets (`tls`) or plain
/// ones, secured by `security(rng)`, sending `n` keyed records (`None`:
/// one record, whose outcome is returned). Returns its stats, or the first
/// error.
fn produce(
    net: &Net,
    tls: Option<TlsOptions<'static>>,
    sasl: Option<Sasl<'static>>,
    n: usize,
    pace: Duration,
) -> Result<ProducerStats, Error> {
    let brokers = net.bootstrap();
    net.run_device(|stack| async move {
        let config = ProducerConfig {
            linger: embassy_time::Duration::from_millis(2),
            ..ProducerConfig::new(brokers, TOPIC)
        };
        let mut rng = rand_core::OsRng;
        let mut security = Security::new(&mut rng);
        if let Some(options) = tls {
            security = security.with_tls(options);
        }
        if let Some(credentials) = sasl {
            security = security.with_sasl(credentials);
        }
        let (mut batches, mut responses) = ([0u8; 3 * 1024], [0u8; 2048]);
        let mut bufs = [[0u8; 4096]; 4];
        let [rx0, tx0, rx1, tx1] = &mut bufs;
        let (s0, s1) = (
            TcpSocket::new(stack, rx0, tx0),
            TcpSocket::new(stack, rx1, tx1),
        );
        if tls.is_some() {
            let mut reads = vec![0u8; 2 * TLS_READ_BUFFER_LEN];
            let (read0, read1) = reads.split_at_mut(TLS_READ_BUFFER_LEN);
            let (mut write0, mut write1) = ([0u8; 2048], [0u8; 2048]);
            let mut t0 = TlsSocket::new(s0, read0, &mut write0);
            let mut t1 = TlsSocket::new(s1, read1, &mut write1);
            let producer: Producer<'_, _, _, 2, 3> = Producer::new(
                [&mut t0, &mut t1],
                common::resolver(),
                Murmur2::default(),
                &mut batches,
                &mut responses,
                config,
            )?
            .with_security(security)?;
            send_all(producer, n, pace).await
        } else {
            let producer: Producer<'_, _, _, 2, 3> = Producer::new(
                [s0, s1],
                common::resolver(),
                Murmur2::default(),
                &mut batches,
                &mut responses,
                config,
            )?
            .with_security(security)?;
            send_all(producer, n, pace).await
        }
    })
}

async fn send_all<R: microkafka_embassy::Resolve, const C: usize, const S: usize>(
    mut producer: Producer<'_, R, Murmur2, C, S>,
    n: usize,
    pace: Duration,
) -> Result<ProducerStats, Error> {
    for i in 0..n {
        let key = format!("sensor-{}", i % 13);
        let value = format!("record-{i}");
        producer
            .send(&Record::new(value.as_bytes()).with_key(key.as_bytes()))
            .await?;
        if !pace.is_zero() {
            producer.flush().await?;
            embassy_time::Timer::after(
                embassy_time::Duration::from_micros(pace.as_micros() as u64),
            )
            .await;
        }
    }
    producer.close().await?;
    Ok(producer.stats())
}

/// Checks that the topic holds exactly records 0..n, each once, in order
/// per partition, a key on one partition, read by std-net's Reader over
/// the same security as the device (`dialer`).
fn assert_read_back_exactly(net: &Net, dialer: Dialer, n: usize) {
    let brokers = net.cluster.bootstrap_servers();
    let mut seen = BTreeSet::new();
    let mut key_partition = BTreeMap::new();
    for partition in 0..3 {
        let (_, end) = net.cluster.offsets(TOPIC, partition).unwrap();
        let records = common::tokio().block_on(async {
            let config = ReaderConfig {
                dialer: dialer.clone(),
                ..ReaderConfig::new(&[&brokers], TOPIC, partition)
            };
            let mut reader = Reader::new(config).unwrap();
            let mut out = Vec::new();
            while (out.len() as i64) < end {
                let m = tokio::time::timeout(Duration::from_secs(20), reader.fetch_message())
                    .await
                    .expect("reader timed out")
                    .unwrap();
                out.push((
                    m.key.unwrap_or_default().to_vec(),
                    m.value.unwrap_or_default().to_vec(),
                ));
            }
            reader.close().await.unwrap();
            out
        });
        let mut last = None;
        for (key, value) in records {
            let value = String::from_utf8(value).unwrap();
            let i: usize = value.strip_prefix("record-").unwrap().parse().unwrap();
            assert_eq!(key, format!("sensor-{}", i % 13).into_bytes());
            assert!(seen.insert(i), "record {i} twice");
            assert!(last < Some(i), "partition {partition}: {i} after {last:?}");
            last = Some(i);
            assert_eq!(*key_partition.entry(key).or_insert(partition), partition);
        }
    }
    assert_eq!(seen.len(), n, "records lost");
    assert_eq!(seen.last().copied(), n.checked_sub(1));
}

/// std-net's dialer for the same cluster: TLS trusting `ca`, SASL `mechanism`.
fn std_dialer(ca: Option<&TestCa>, mechanism: Option<SaslMechanism>) -> Dialer {
    Dialer {
        tls: ca.map(|ca| {
            TlsConfig::default()
                .with_ca_pem(ca.cert_pem())
                .connector()
                .unwrap()
        }),
        sasl_mechanism: mechanism,
        ..Dialer::default()
    }
}

#[test]
fn producer_over_sasl_ssl_scram_sha256_is_read_back_exactly() {
    const N: usize = 600;
    let ca = TestCa::new("microkafka embassy test CA").unwrap();
    let net = secure_net(
        SecurityProtocol::SaslSsl,
        Some(broker_tls(&ca)),
        &[Mech::ScramSha256],
        Duration::ZERO,
    );
    // Brokers are dialed as 127.0.0.1 (an IP SAN of their certificate).
    let tls = TlsOptions::new(der(ca.cert_pem()));
    let sasl = Sasl::scram_sha256(USER, PASSWORD);
    let stats = produce(&net, Some(tls), Some(sasl), N, Duration::ZERO).unwrap();
    eprintln!("producer: {stats:?}");
    assert_eq!(stats.records as usize, N, "{stats:?}");
    assert_eq!((stats.failed_records, stats.retries), (0, 0), "{stats:?}");
    assert_eq!(net.cluster.security_stats().failed_authentications, 0);

    // Every request came after a SASL handshake on its connection, and the
    // producer was idempotent (InitProducerId asked).
    let requests = net.cluster.requests();
    let authenticated: BTreeSet<u64> = requests
        .iter()
        .filter(|r| r.api_key == 36)
        .map(|r| r.connection)
        .collect();
    assert!(
        requests.iter().any(|r| r.api_key == 22),
        "no InitProducerId"
    );
    for r in requests
        .iter()
        .filter(|r| r.client_id.as_deref() == Some("microkafka"))
    {
        if ![17, 18, 36].contains(&r.api_key) {
            assert!(
                authenticated.contains(&r.connection),
                "{r:?} unauthenticated"
            );
        }
    }

    let dialer = std_dialer(Some(&ca), Some(SaslMechanism::scram_sha256(USER, PASSWORD)));
    assert_read_back_exactly(&net, dialer, N);

    // The embassy consumer reads partition 0 over the same TLS and SCRAM.
    let (_, end) = net.cluster.offsets(TOPIC, 0).unwrap();
    let brokers = net.bootstrap();
    let ca_der = der(ca.cert_pem());
    let read = net.run_device(|stack| async move {
        let (mut rx, mut tx) = ([0u8; 4096], [0u8; 1024]);
        let mut tls_read = vec![0u8; TLS_READ_BUFFER_LEN];
        let mut tls_write = [0u8; 1024];
        let mut socket = TlsSocket::new(
            TcpSocket::new(stack, &mut rx, &mut tx),
            &mut tls_read,
            &mut tls_write,
        );
        let (mut fetch, mut scratch) = ([0u8; 4096], [0u8; 512]);
        let mut rng = rand_core::OsRng;
        let security = Security::new(&mut rng)
            .with_tls(TlsOptions::new(ca_der))
            .with_sasl(Sasl::scram_sha256(USER, PASSWORD));
        let config = ConsumerConfig::new(brokers, TOPIC, 0);
        let mut consumer: Consumer<'_, _> = Consumer::new(
            &mut socket,
            common::resolver(),
            &mut fetch,
            &mut scratch,
            config,
        )
        .unwrap()
        .with_security(security)
        .unwrap();
        let mut read = 0;
        while read < end {
            consumer.fetch().await.unwrap();
            while let Some(record) = consumer.next_record() {
                let record = record.unwrap();
                assert_eq!(record.offset, read);
                read += 1;
            }
        }
        consumer.close().await;
        read
    });
    assert_eq!(read, end);
}

#[test]
fn producer_over_sasl_plaintext_plain_is_read_back_exactly() {
    const N: usize = 300;
    let net = secure_net(
        SecurityProtocol::SaslPlaintext,
        None,
        &[Mech::Plain, Mech::ScramSha512],
        Duration::ZERO,
    );
    let stats = produce(
        &net,
        None,
        Some(Sasl::plain(USER, PASSWORD)),
        N,
        Duration::ZERO,
    )
    .unwrap();
    assert_eq!(
        (stats.records as usize, stats.failed_records),
        (N, 0),
        "{stats:?}"
    );
    let dialer = std_dialer(None, Some(SaslMechanism::plain(USER, PASSWORD)));
    assert_read_back_exactly(&net, dialer, N);
}

#[test]
fn producer_over_ssl_with_scram_sha512_and_a_fixed_server_name() {
    const N: usize = 100;
    let ca = TestCa::new("microkafka embassy test CA").unwrap();
    let net = secure_net(
        SecurityProtocol::SaslSsl,
        Some(broker_tls(&ca)),
        &[Mech::ScramSha512],
        Duration::ZERO,
    );
    let tls = TlsOptions::new(der(ca.cert_pem())).with_server_name("localhost");
    let sasl = Sasl::scram_sha512(USER, PASSWORD);
    let stats = produce(&net, Some(tls), Some(sasl), N, Duration::ZERO).unwrap();
    assert_eq!(
        (stats.records as usize, stats.failed_records),
        (N, 0),
        "{stats:?}"
    );
    let dialer = std_dialer(Some(&ca), Some(SaslMechanism::scram_sha512(USER, PASSWORD)));
    assert_read_back_exactly(&net, dialer, N);
}

/// Runs one send against `net` and returns its error (it must fail) and
/// how long it took.
fn failing_send(
    net: &Net,
    tls: Option<TlsOptions<'static>>,
    sasl: Option<Sasl<'static>>,
) -> (Error, Duration) {
    let started = Instant::now();
    let error = produce(net, tls, sasl, 1, Duration::ZERO).expect_err("the send succeeded");
    (error, started.elapsed())
}

#[test]
fn wrong_password_fails_fast_with_authentication_failed() {
    let ca = TestCa::new("microkafka embassy test CA").unwrap();
    let net = secure_net(
        SecurityProtocol::SaslSsl,
        Some(broker_tls(&ca)),
        &[Mech::ScramSha256],
        Duration::ZERO,
    );
    let tls = TlsOptions::new(der(ca.cert_pem()));
    let (error, took) = failing_send(&net, Some(tls), Some(Sasl::scram_sha256(USER, "wrong")));
    eprintln!("{error} after {took:?}");
    assert_eq!(
        error.kind,
        ErrorKind::Sasl(SaslFailure::AuthenticationFailed),
        "{error}"
    );
    assert!(!error.is_retriable());
    assert_eq!(
        error.api,
        Some(microkafka_core::protocol::ApiKey::SaslAuthenticate)
    );
    // One login, not one per bootstrap broker or per retry.
    assert_eq!(net.cluster.security_stats().failed_authentications, 1);
    assert!(took < Duration::from_secs(3), "{took:?}");

    // A mechanism the broker does not enable is named with its list.
    let tls = TlsOptions::new(der(ca.cert_pem()));
    let (error, _) = failing_send(&net, Some(tls), Some(Sasl::plain(USER, PASSWORD)));
    let ErrorKind::Sasl(SaslFailure::UnsupportedMechanism { offered }) = error.kind else {
        panic!("{error}");
    };
    assert!(offered.contains(microkafka_core::sasl::Mechanism::ScramSha256));
    assert!(!offered.contains(microkafka_core::sasl::Mechanism::Plain));
}

#[test]
fn untrusted_brokers_fail_with_named_tls_errors() {
    let ca = TestCa::new("microkafka embassy test CA").unwrap();
    let net = secure_net(
        SecurityProtocol::Ssl,
        Some(broker_tls(&ca)),
        &[Mech::Plain],
        Duration::ZERO,
    );
    let tls_failure = |options: TlsOptions<'static>| {
        let (error, took) = failing_send(&net, Some(options), None);
        eprintln!("{error} after {took:?}");
        assert!(!error.is_retriable(), "{error}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        match error.kind {
            ErrorKind::Tls(failure) => failure,
            _ => panic!("{error}"),
        }
    };
    // Another CA.
    let other = TestCa::new("someone else").unwrap();
    assert_eq!(
        tls_failure(TlsOptions::new(der(other.cert_pem()))),
        TlsFailure::CertificateNotTrusted
    );
    // The right CA, another name.
    let tls = TlsOptions::new(der(ca.cert_pem())).with_server_name("kafka.example");
    assert_eq!(tls_failure(tls), TlsFailure::NameMismatch);
    assert_eq!(net.cluster.security_stats().failed_authentications, 0);

    // A broker presenting a client certificate of the same CA (which a
    // device must not take for a broker's, whatever name it carries).
    let client = ca.client_cert("127.0.0.1").unwrap();
    let impostor = secure_net(
        SecurityProtocol::Ssl,
        Some(BrokerTls::from_pem(client.cert_pem, client.key_pem)),
        &[Mech::Plain],
        Duration::ZERO,
    );
    let (error, _) = failing_send(&impostor, Some(TlsOptions::new(der(ca.cert_pem()))), None);
    assert_eq!(
        error.kind,
        ErrorKind::Tls(TlsFailure::NotAServerCertificate),
        "{error}"
    );

    // Without checks (tests only), the same broker is accepted.
    let stats = produce(
        &impostor,
        Some(TlsOptions::danger_no_verify_for_tests_only()),
        None,
        5,
        Duration::ZERO,
    )
    .unwrap();
    assert_eq!(stats.records, 5);
}

#[test]
fn sessions_with_a_lifetime_are_renewed_before_the_broker_ends_them() {
    // 1.5 s sessions; the producer sends for ~4.5 s, one batch at a time.
    const N: usize = 30;
    let net = secure_net(
        SecurityProtocol::SaslPlaintext,
        None,
        &[Mech::ScramSha256],
        Duration::from_millis(1500),
    );
    let sasl = Sasl::scram_sha256(USER, PASSWORD);
    let stats = produce(&net, None, Some(sasl), N, Duration::from_millis(150)).unwrap();
    assert_eq!(
        (stats.records as usize, stats.failed_records),
        (N, 0),
        "{stats:?}"
    );
    // No request was refused for an expired session (a reset connection
    // would show as a retry).
    assert_eq!(stats.retries, 0, "{stats:?}");
    let logins = net
        .cluster
        .requests()
        .iter()
        .filter(|r| r.api_key == 17)
        .count();
    assert!(
        logins >= 3,
        "{logins} SaslHandshakes in ~4.5 s of 1.5 s sessions"
    );
    let dialer = std_dialer(None, Some(SaslMechanism::scram_sha256(USER, PASSWORD)));
    assert_read_back_exactly(&net, dialer, N);
}
