//! What security costs, side by side in one run: connection setup (TCP,
//! TLS, TLS with a client certificate, TLS + SASL per mechanism) and
//! produce throughput over TLS (SASL_SSL) against plaintext.
//!
//! ```text
//! cargo bench -p microkafka-std --bench security                     # the TLS test broker (mock cluster)
//! .ci/kafka start secure
//! env $(.ci/kafka env) cargo bench -p microkafka-std --bench security   # Apache Kafka's secure node
//! MICROKAFKA_BENCH_RUNS=5 MICROKAFKA_BENCH_MESSAGES=500000 MICROKAFKA_BENCH_DIALS=50 ...
//! ```
//!
//! With `MICROKAFKA_KAFKA_SECURE_*` set (`.ci/kafka env`) it measures Apache
//! Kafka 4.4's secure node: PLAINTEXT, SSL (client certificate required)
//! and SASL_SSL listeners of one broker. Otherwise the mock cluster behind
//! the test broker of `tests/support/tls_broker.rs` (rustls on both ends,
//! SASL answered with core's servers), one broker per protocol.
//!
//! Connection setup is `Dialer::dial`: resolve, TCP connect, TLS handshake,
//! ApiVersions, SASL; the median and 90th percentile of
//! `MICROKAFKA_BENCH_DIALS` dials (default 30) each, the modes interleaved.
//! Produce: an async Writer (acks=all, no compression, 100-byte values, 3
//! partitions), `MICROKAFKA_BENCH_MESSAGES` messages (default 200,000), the
//! median of `MICROKAFKA_BENCH_RUNS` runs (default 3), plaintext and TLS
//! alternating.

#[path = "../tests/support/tls_broker.rs"]
mod tls_broker;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use microkafka_std::{
    Client, ClientConfig, Completion, Dialer, Message, SaslMechanism, TlsConfig, TopicConfig,
    Writer, WriterConfig,
};
use tls_broker::{Options, SaslOptions, TestBroker, TestPki};

const VALUE_LEN: usize = 100;
const PARTITIONS: i32 = 3;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Where each mode connects, and how.
struct Setup {
    what: String,
    /// `(name, address, dialer)` of each connection mode.
    modes: Vec<(&'static str, String, Dialer)>,
    /// Plaintext and TLS produce targets: `(address, dialer)`.
    plaintext: (String, Dialer),
    tls: (String, Dialer),
    /// Keeps the test brokers running.
    _brokers: Vec<TestBroker>,
}

fn kafka() -> Option<Setup> {
    let var = |n: &str| std::env::var(n).ok();
    let sasl_ssl = var("MICROKAFKA_KAFKA_SECURE_SASL_SSL")?;
    let ssl = var("MICROKAFKA_KAFKA_SECURE_SSL")?;
    let plain = var("MICROKAFKA_KAFKA_SECURE")?;
    let ca = var("MICROKAFKA_KAFKA_SECURE_CA")?;
    let (cert, key) = (
        var("MICROKAFKA_KAFKA_SECURE_CLIENT_CERT")?,
        var("MICROKAFKA_KAFKA_SECURE_CLIENT_KEY")?,
    );
    let (user, password) = (
        var("MICROKAFKA_KAFKA_SECURE_USER")?,
        var("MICROKAFKA_KAFKA_SECURE_PASSWORD")?,
    );
    let tls = TlsConfig::default().with_ca_file(&ca).unwrap();
    let tls_dialer = |sasl: Option<SaslMechanism>| Dialer {
        tls: Some(tls.connector().unwrap()),
        sasl_mechanism: sasl,
        ..Dialer::default()
    };
    let mtls = Dialer {
        tls: Some(
            tls.clone()
                .with_client_cert_files(&cert, &key)
                .unwrap()
                .connector()
                .unwrap(),
        ),
        ..Dialer::default()
    };
    let scram512 = tls_dialer(Some(SaslMechanism::scram_sha512(&user, &password)));
    Some(Setup {
        what: "Apache Kafka 4.4 (.ci/kafka secure node, 1 broker)".into(),
        modes: vec![
            ("TCP (PLAINTEXT)", plain.clone(), Dialer::default()),
            // A SASL_SSL listener answers ApiVersions before SASL.
            ("TLS", sasl_ssl.clone(), tls_dialer(None)),
            ("TLS + client certificate (SSL)", ssl, mtls),
            (
                "TLS + SASL PLAIN",
                sasl_ssl.clone(),
                tls_dialer(Some(SaslMechanism::plain(&user, &password))),
            ),
            (
                "TLS + SCRAM-SHA-256",
                sasl_ssl.clone(),
                tls_dialer(Some(SaslMechanism::scram_sha256(&user, &password))),
            ),
            ("TLS + SCRAM-SHA-512", sasl_ssl.clone(), scram512.clone()),
        ],
        plaintext: (plain, Dialer::default()),
        tls: (sasl_ssl, scram512),
        _brokers: Vec::new(),
    })
}

fn test_broker() -> Setup {
    let pki = TestPki::new();
    let sasl = SaslOptions::default();
    let (user, password) = sasl.users[0].clone();
    let plain = TestBroker::start(Options {
        brokers: 1,
        ..Options::default()
    });
    let tls_only = TestBroker::start(Options {
        brokers: 1,
        tls: Some(pki.clone()),
        ..Options::default()
    });
    let mtls_broker = TestBroker::start(Options {
        brokers: 1,
        tls: Some(pki.clone()),
        require_client_cert: true,
        ..Options::default()
    });
    let sasl_ssl = TestBroker::start(Options {
        brokers: 1,
        tls: Some(pki.clone()),
        sasl: Some(sasl),
        ..Options::default()
    });
    for b in [&plain, &sasl_ssl] {
        b.create_topic("bench", PARTITIONS);
    }
    let tls = TlsConfig::default().with_ca_pem(pki.ca_pem.clone());
    let tls_dialer = |sasl: Option<SaslMechanism>| Dialer {
        tls: Some(tls.connector().unwrap()),
        sasl_mechanism: sasl,
        ..Dialer::default()
    };
    let mtls = Dialer {
        tls: Some(
            tls.clone()
                .with_client_cert_pem(pki.client_chain_pem.clone(), pki.client_key_pem.clone())
                .connector()
                .unwrap(),
        ),
        ..Dialer::default()
    };
    let scram512 = tls_dialer(Some(SaslMechanism::scram_sha512(&user, &password)));
    Setup {
        what: "mock cluster behind the rustls test broker (1 broker per protocol)".into(),
        modes: vec![
            ("TCP (PLAINTEXT)", plain.bootstrap(), Dialer::default()),
            ("TLS", tls_only.bootstrap(), tls_dialer(None)),
            (
                "TLS + client certificate (SSL)",
                mtls_broker.bootstrap(),
                mtls,
            ),
            (
                "TLS + SASL PLAIN",
                sasl_ssl.bootstrap(),
                tls_dialer(Some(SaslMechanism::plain(&user, &password))),
            ),
            (
                "TLS + SCRAM-SHA-256",
                sasl_ssl.bootstrap(),
                tls_dialer(Some(SaslMechanism::scram_sha256(&user, &password))),
            ),
            (
                "TLS + SCRAM-SHA-512",
                sasl_ssl.bootstrap(),
                scram512.clone(),
            ),
        ],
        plaintext: (plain.bootstrap(), Dialer::default()),
        tls: (sasl_ssl.bootstrap(), scram512),
        _brokers: vec![plain, tls_only, mtls_broker, sasl_ssl],
    }
}

fn percentile(mut v: Vec<Duration>, p: usize) -> Duration {
    v.sort();
    v[(v.len() * p / 100).min(v.len() - 1)]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Writes `n` messages with an async Writer and waits for every ack;
/// returns messages per second.
async fn produce(addr: &str, dialer: &Dialer, topic: &str, values: &[Vec<u8>]) -> f64 {
    let done = Arc::new(AtomicUsize::new(0));
    let sink = done.clone();
    let writer = Writer::new(WriterConfig {
        dialer: dialer.clone(),
        async_: true,
        completion: Some(Arc::new(move |c: &Completion<'_>| {
            assert!(c.error.is_none(), "{:?}", c.error);
            sink.fetch_add(c.messages, Ordering::Relaxed);
        })),
        ..WriterConfig::new(&[addr], topic)
    })
    .unwrap();
    let messages: Vec<Message<'_>> = values.iter().map(|v| Message::new(v)).collect();
    // Connected and authenticated before the clock starts.
    writer.write_messages(&messages[..1]).await.unwrap();
    while done.load(Ordering::Relaxed) < 1 {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let started = Instant::now();
    for chunk in messages[1..].chunks(1000) {
        writer.write_messages(chunk).await.unwrap();
    }
    while done.load(Ordering::Relaxed) < messages.len() {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let rate = (messages.len() - 1) as f64 / started.elapsed().as_secs_f64();
    writer.close().await.unwrap();
    rate
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once, small.
    let quick = !std::env::args().any(|a| a == "--bench");
    let dials = if quick {
        3
    } else {
        env("MICROKAFKA_BENCH_DIALS", 30)
    };
    let runs = if quick {
        1
    } else {
        env("MICROKAFKA_BENCH_RUNS", 3)
    };
    let n = if quick {
        5_000
    } else {
        env("MICROKAFKA_BENCH_MESSAGES", 200_000)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let setup = kafka().unwrap_or_else(test_broker);
    println!("microkafka-std security bench: {}", setup.what);

    runtime.block_on(async {
        // Connection setup, modes interleaved so drift hits all alike.
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); setup.modes.len()];
        for round in 0..=dials {
            for (i, (name, addr, dialer)) in setup.modes.iter().enumerate() {
                let started = Instant::now();
                let conn = dialer
                    .dial(addr)
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                let took = started.elapsed();
                conn.close();
                if round > 0 {
                    times[i].push(took); // round 0 warms up
                }
            }
        }
        println!("\nconnection setup (dial: TCP, TLS, ApiVersions, SASL), {dials} dials each:");
        let base = percentile(times[0].clone(), 50);
        for ((name, _, _), t) in setup.modes.iter().zip(&times) {
            let p50 = percentile(t.clone(), 50);
            println!(
                "  {name:<32} median {:>8.2} ms   p90 {:>8.2} ms   ({:.1}x TCP)",
                p50.as_secs_f64() * 1e3,
                percentile(t.clone(), 90).as_secs_f64() * 1e3,
                p50.as_secs_f64() / base.as_secs_f64()
            );
        }

        // Produce throughput, plaintext and TLS alternating.
        let values: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let mut v = format!("{i:09} ").into_bytes();
                v.resize(VALUE_LEN, b'a' + (i % 26) as u8);
                v
            })
            .collect();
        let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for run in 0..runs {
            for (k, (addr, dialer)) in [&setup.plaintext, &setup.tls].into_iter().enumerate() {
                let topic = if setup._brokers.is_empty() {
                    // Kafka: a topic per run, created through the listener itself.
                    let topic = format!("bench-security-{k}-{run}-{}", std::process::id());
                    let client = Client::with_config(ClientConfig {
                        brokers: vec![addr.clone()],
                        dialer: dialer.clone(),
                        ..ClientConfig::default()
                    })
                    .unwrap();
                    client
                        .create_topics(&[TopicConfig::new(&topic, PARTITIONS)])
                        .await
                        .unwrap();
                    client.close();
                    topic
                } else {
                    "bench".to_owned()
                };
                rates[k].push(produce(addr, dialer, &topic, &values).await);
            }
        }
        println!(
            "\nproduce: async Writer, acks=all, no compression, {n} x {VALUE_LEN} B, {PARTITIONS} partitions, {runs} runs:"
        );
        for (name, r) in ["PLAINTEXT", "SASL_SSL (TLS + SCRAM-SHA-512)"]
            .iter()
            .zip(&rates)
        {
            let m = median(r.clone());
            let all: Vec<String> = r.iter().map(|x| format!("{:.0}", x / 1e3)).collect();
            println!(
                "  {name:<32} median {:>7.0} k msgs/s ({:>6.1} MB/s)   runs: {} k",
                m / 1e3,
                m * VALUE_LEN as f64 / 1e6,
                all.join(" ")
            );
        }
        let (p, t) = (median(rates[0].clone()), median(rates[1].clone()));
        println!("  TLS / plaintext: {:.2}", t / p);
    });
}
