//! `microkafka-broker`: the in-memory Kafka cluster as a standalone process.
//!
//! ```text
//! microkafka-broker [--listen 127.0.0.1:9092] [--brokers N] [--partitions N]
//!                   [--auto-create | --no-auto-create] [--kafka4]
//!                   [--advertised-host HOST] [--retention-bytes N]
//!                   [--security-protocol PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL]
//!                   [--tls-cert FILE --tls-key FILE | --tls-generate [--tls-ca-out FILE]]
//!                   [--tls-client-ca FILE [--tls-client-auth required|requested]]
//!                   [--sasl-mechanisms LIST] [--sasl-user user:pass]...
//!                   [--oauthbearer-unsecured] [--reauth-ms N]
//! ```
//!
//! Prints the bootstrap address and serves until Ctrl-C or SIGTERM.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use microkafka_mock_broker::{
    ClientAuth, Config, MockCluster, SaslMechanism, SaslUser, SecurityProtocol, TlsConfig,
};

const USAGE: &str = "\
microkafka-broker: an in-memory Kafka cluster for tests

USAGE:
    microkafka-broker [OPTIONS]

OPTIONS:
    --listen ADDR            first broker's address [default: 127.0.0.1:9092];
                             the others take the following ports (all free
                             ports when the port is 0)
    --brokers N              number of brokers [default: 1]
    --partitions N           partitions of auto-created topics [default: 1]
    --auto-create            create topics clients ask Metadata for [default]
    --no-auto-create         do not
    --kafka4                 accept only the API versions Kafka 4.x accepts
    --advertised-host HOST   host name advertised to clients [default: the listen IP]
    --retention-bytes N      log bytes kept per partition [default: 67108864]
    -h, --help               print this help
    -V, --version            print the version

SECURITY:
    --security-protocol P    PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL [default:
                             what the flags below imply: TLS flags make it SSL,
                             SASL flags SASL_*, none PLAINTEXT]
    --tls-cert FILE          the brokers' certificate chain (PEM, own certificate
                             first); with --tls-key
    --tls-key FILE           its private key (PEM: PKCS#8, PKCS#1 or SEC1)
    --tls-generate           generate a CA and a certificate it signs for localhost,
                             127.0.0.1, ::1 and the advertised host (for tests)
    --tls-ca-out FILE        write the generated CA certificate (PEM) there, for
                             clients' ssl.ca.location [default: print it]
    --tls-client-ca FILE     ask clients for a certificate issued by this CA (PEM):
                             mutual TLS; an SSL client's principal is its
                             certificate's subject (CN=...)
    --tls-client-auth MODE   required or requested [default: required]
    --sasl-mechanisms LIST   comma-separated from PLAIN, SCRAM-SHA-256,
                             SCRAM-SHA-512, OAUTHBEARER [default: PLAIN, and
                             OAUTHBEARER with --oauthbearer-unsecured]
    --sasl-user USER:PASS    a SASL user (repeatable): logs in with PLAIN and SCRAM,
                             whichever are enabled (SCRAM keeps only salted keys,
                             4096 iterations)
    --oauthbearer-unsecured  enable OAUTHBEARER with unsecured JWTs (alg none, sub,
                             exp), validated as Kafka's default handler does
    --reauth-ms N            session lifetime before re-authentication, KIP-368's
                             connections.max.reauth.ms [default: 0, none]
";

/// The command line: the cluster's configuration, and where to write the
/// generated CA certificate.
struct Options {
    config: Config,
    /// With `--tls-generate`: `Some(None)` prints the CA, `Some(Some(path))` writes it.
    ca_out: Option<Option<PathBuf>>,
}

/// Parses the command line into a config, or the text to print and exit with.
fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, (String, u8)> {
    let mut config = Config {
        brokers: 1,
        ..Config::default()
    };
    let mut listen: SocketAddr = "127.0.0.1:9092".parse().expect("a valid literal address");
    let mut protocol: Option<SecurityProtocol> = None;
    let (mut tls_cert, mut tls_key, mut tls_client_ca) = (None, None, None);
    let (mut tls_generate, mut ca_out, mut client_auth) = (false, None, None);
    let (mut mechanisms, mut oauthbearer, mut sasl_flags) = (None, false, false);
    let mut args = args.into_iter();
    let bad = |msg: String| (format!("microkafka-broker: {msg}\n\n{USAGE}"), 2);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| bad(format!("{name} needs a value")))
        };
        match flag.as_str() {
            "-h" | "--help" => return Err((USAGE.to_owned(), 0)),
            "-V" | "--version" => {
                return Err((
                    format!("microkafka-broker {}\n", env!("CARGO_PKG_VERSION")),
                    0,
                ))
            }
            "--listen" => {
                let v = value("--listen")?;
                listen = v
                    .parse()
                    .map_err(|_| bad(format!("--listen: not an address: {v}")))?;
            }
            "--brokers" => {
                let v = value("--brokers")?;
                config.brokers = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .ok_or_else(|| bad(format!("--brokers: 1 to 64, not {v}")))?;
            }
            "--partitions" => {
                let v = value("--partitions")?;
                config.default_partitions = v
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| bad(format!("--partitions: a positive number, not {v}")))?;
            }
            "--auto-create" => config.auto_create_topics = true,
            "--no-auto-create" => config.auto_create_topics = false,
            "--sasl-user" => {
                let v = value("--sasl-user")?;
                let user = SaslUser::parse(&v)
                    .ok_or_else(|| bad(format!("--sasl-user: USER:PASS, not {v}")))?;
                config.security.sasl.users.push(user);
                sasl_flags = true;
            }
            "--security-protocol" => {
                let v = value("--security-protocol")?;
                protocol = Some(v.parse().map_err(bad)?);
            }
            "--tls-cert" => tls_cert = Some(value("--tls-cert")?),
            "--tls-key" => tls_key = Some(value("--tls-key")?),
            "--tls-generate" => tls_generate = true,
            "--tls-ca-out" => ca_out = Some(PathBuf::from(value("--tls-ca-out")?)),
            "--tls-client-ca" => tls_client_ca = Some(value("--tls-client-ca")?),
            "--tls-client-auth" => {
                let v = value("--tls-client-auth")?;
                client_auth = Some(match v.as_str() {
                    "required" => true,
                    "requested" => false,
                    _ => {
                        return Err(bad(format!(
                            "--tls-client-auth: required or requested, not {v}"
                        )))
                    }
                });
            }
            "--sasl-mechanisms" => {
                let v = value("--sasl-mechanisms")?;
                let list = v
                    .split(',')
                    .map(|name| {
                        SaslMechanism::from_name(name.trim()).ok_or_else(|| {
                            bad(format!(
                                "--sasl-mechanisms: {name} is not PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                mechanisms = Some(list);
                sasl_flags = true;
            }
            "--oauthbearer-unsecured" => {
                oauthbearer = true;
                sasl_flags = true;
            }
            "--reauth-ms" => {
                let v = value("--reauth-ms")?;
                let ms: u64 = v
                    .parse()
                    .map_err(|_| bad(format!("--reauth-ms: milliseconds, not {v}")))?;
                config.security.sasl.connections_max_reauth = Duration::from_millis(ms);
            }
            "--kafka4" => config.kafka4 = true,
            "--advertised-host" => config.advertised_host = Some(value("--advertised-host")?),
            "--retention-bytes" => {
                let v = value("--retention-bytes")?;
                config.retention_bytes = v
                    .parse()
                    .map_err(|_| bad(format!("--retention-bytes: a number, not {v}")))?;
            }
            other => return Err(bad(format!("unknown option {other}"))),
        }
    }
    // TLS: a certificate given or generated, and client certificates.
    let mut tls = match (tls_cert, tls_key, tls_generate) {
        (Some(cert), Some(key), false) => Some(
            TlsConfig::from_files(&cert, &key)
                .map_err(|e| bad(format!("--tls-cert/--tls-key: {e}")))?,
        ),
        (None, None, true) => {
            let mut names = vec!["localhost", "127.0.0.1", "::1"];
            if let Some(host) = config.advertised_host.as_deref() {
                names.push(host);
            }
            Some(TlsConfig::generated(&names).map_err(|e| bad(format!("--tls-generate: {e}")))?)
        }
        (None, None, false) => None,
        (_, _, true) => {
            return Err(bad(
                "--tls-generate replaces --tls-cert and --tls-key".into()
            ))
        }
        _ => return Err(bad("--tls-cert and --tls-key go together".into())),
    };
    if ca_out.is_some() && !tls_generate {
        return Err(bad("--tls-ca-out needs --tls-generate".into()));
    }
    match (tls_client_ca, tls.as_mut()) {
        (Some(path), Some(tls)) => {
            let ca_pem = std::fs::read_to_string(&path)
                .map_err(|e| bad(format!("--tls-client-ca: {path}: {e}")))?;
            tls.client_auth = if client_auth.unwrap_or(true) {
                ClientAuth::Required { ca_pem }
            } else {
                ClientAuth::Requested { ca_pem }
            };
        }
        (Some(_), None) => {
            return Err(bad(
                "--tls-client-ca needs a certificate (--tls-cert/--tls-key or --tls-generate)"
                    .into(),
            ))
        }
        (None, _) if client_auth.is_some() => {
            return Err(bad("--tls-client-auth needs --tls-client-ca".into()))
        }
        (None, _) => {}
    }
    // SASL: mechanisms listed, or PLAIN for users and OAUTHBEARER when asked.
    let sasl = &mut config.security.sasl;
    sasl.mechanisms = match mechanisms {
        Some(list) => list,
        None if oauthbearer && sasl.users.is_empty() => Vec::new(),
        None => vec![SaslMechanism::Plain],
    };
    if oauthbearer && !sasl.mechanisms.contains(&SaslMechanism::OAuthBearer) {
        sasl.mechanisms.push(SaslMechanism::OAuthBearer);
    }
    let implied = match (tls.is_some(), sasl_flags) {
        (false, false) => SecurityProtocol::Plaintext,
        (true, false) => SecurityProtocol::Ssl,
        (false, true) => SecurityProtocol::SaslPlaintext,
        (true, true) => SecurityProtocol::SaslSsl,
    };
    let protocol = protocol.unwrap_or(implied);
    if protocol.uses_tls() != tls.is_some() {
        return Err(bad(format!(
            "{protocol} {} TLS: {}",
            if protocol.uses_tls() {
                "needs"
            } else {
                "does not take"
            },
            if protocol.uses_tls() {
                "give --tls-cert and --tls-key, or --tls-generate"
            } else {
                "drop the --tls-* flags"
            }
        )));
    }
    if sasl_flags && !protocol.uses_sasl() {
        return Err(bad(format!(
            "{protocol} does not take SASL flags (use SASL_PLAINTEXT or SASL_SSL)"
        )));
    }
    config.security.protocol = protocol;
    config.security.tls = tls;
    let ca_out = tls_generate.then_some(ca_out);
    // Following ports, as a local multi-broker Kafka is usually laid out.
    config.listen = (0..config.brokers)
        .map(|i| {
            let port = if listen.port() == 0 {
                0
            } else {
                listen.port().saturating_add(i as u16)
            };
            SocketAddr::new(listen.ip(), port)
        })
        .collect();
    Ok(Options { config, ca_out })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> ExitCode {
    let Options { config, ca_out } = match parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err((text, code)) => {
            if code == 0 {
                print!("{text}");
            } else {
                eprint!("{text}");
            }
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("microkafka-broker: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ca_pem = config.security.tls.as_ref().and_then(|t| t.ca_pem.clone());
    let mechanisms: Vec<&str> = config
        .security
        .sasl
        .mechanisms
        .iter()
        .map(|m| m.name())
        .collect();
    runtime.block_on(async move {
        let brokers = config.brokers;
        let kafka4 = config.kafka4;
        let cluster = match MockCluster::start(config).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("microkafka-broker: cannot start: {e}");
                return ExitCode::FAILURE;
            }
        };
        let protocol = cluster.security_protocol();
        if let (Some(Some(path)), Some(pem)) = (&ca_out, &ca_pem) {
            if let Err(e) = std::fs::write(path, pem) {
                eprintln!("microkafka-broker: --tls-ca-out {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
        println!(
            "microkafka-broker: {brokers} broker(s){}, security.protocol={protocol}{}; bootstrap.servers={}",
            if kafka4 { ", Kafka 4.x versions" } else { "" },
            if protocol.uses_sasl() {
                format!(", sasl.mechanisms={}", mechanisms.join(","))
            } else {
                String::new()
            },
            cluster.bootstrap_servers()
        );
        match (&ca_out, &ca_pem) {
            (Some(Some(path)), _) => println!("microkafka-broker: CA certificate written to {}", path.display()),
            (Some(None), Some(pem)) => print!("microkafka-broker: CA certificate (ssl.ca.location):\n{pem}"),
            _ => {}
        }
        shutdown_signal().await;
        println!("microkafka-broker: shutting down");
        cluster.shutdown();
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn flags() {
        let c = parse(args("--listen 127.0.0.1:19092 --brokers 3 --partitions 4 --no-auto-create --kafka4 --sasl-user a:b --sasl-user=c:d")).unwrap().config;
        assert_eq!(c.brokers, 3);
        assert_eq!(c.default_partitions, 4);
        assert!(!c.auto_create_topics && c.kafka4);
        assert_eq!(
            c.security.sasl.users,
            [SaslUser::new("a", "b"), SaslUser::new("c", "d")]
        );
        assert_eq!(c.security.protocol, SecurityProtocol::SaslPlaintext);
        assert_eq!(c.security.sasl.mechanisms, [SaslMechanism::Plain]);
        let ports: Vec<u16> = c.listen.iter().map(SocketAddr::port).collect();
        assert_eq!(ports, [19092, 19093, 19094]);
        let c = parse(args("--listen 127.0.0.1:0 --brokers 2"))
            .unwrap()
            .config;
        assert!(c.listen.iter().all(|a| a.port() == 0));
        let o = parse(Vec::new()).unwrap();
        assert_eq!((o.config.brokers, o.config.listen[0].port()), (1, 9092));
        assert_eq!(o.config.security.protocol, SecurityProtocol::Plaintext);
        assert!(o.ca_out.is_none());
        assert_eq!(parse(args("--help")).err().unwrap().1, 0);
        for bad in [
            "--brokers 0",
            "--bogus",
            "--sasl-user nopass",
            "--listen nowhere",
            "--partitions",
            "--security-protocol TLS",
            "--security-protocol SSL",
            "--security-protocol PLAINTEXT --sasl-user a:b",
            "--security-protocol SASL_PLAINTEXT --tls-generate",
            "--tls-cert only.pem",
            "--tls-generate --tls-cert a.pem --tls-key b.pem",
            "--tls-ca-out ca.pem",
            "--tls-client-ca ca.pem",
            "--tls-generate --tls-client-auth requested",
            "--tls-cert /nonexistent.pem --tls-key /nonexistent.key",
            "--sasl-mechanisms PLAIN,GSSAPI",
            "--reauth-ms soon",
        ] {
            assert_eq!(parse(args(bad)).err().unwrap().1, 2, "{bad}");
        }
    }

    #[test]
    fn security_flags() {
        let o = parse(args(
            "--tls-generate --tls-ca-out /tmp/ca.pem --sasl-mechanisms SCRAM-SHA-256,SCRAM-SHA-512 --sasl-user alice:secret --oauthbearer-unsecured --reauth-ms 60000",
        ))
        .unwrap();
        let s = &o.config.security;
        assert_eq!(s.protocol, SecurityProtocol::SaslSsl);
        assert_eq!(
            s.sasl.mechanisms,
            [
                SaslMechanism::ScramSha256,
                SaslMechanism::ScramSha512,
                SaslMechanism::OAuthBearer
            ]
        );
        assert_eq!(s.sasl.connections_max_reauth, Duration::from_secs(60));
        let tls = s.tls.as_ref().unwrap();
        assert!(tls.ca_pem.as_deref().unwrap().contains("BEGIN CERTIFICATE"));
        assert_eq!(o.ca_out, Some(Some(PathBuf::from("/tmp/ca.pem"))));

        // Given certificate files, a client CA, an explicit protocol.
        let dir =
            std::env::temp_dir().join(format!("microkafka-broker-flags-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = microkafka_mock_broker::TestCa::new("flags").unwrap();
        let server = ca.server_tls(&[]).unwrap();
        let (cert, key, client_ca) = (
            dir.join("cert.pem"),
            dir.join("key.pem"),
            dir.join("ca.pem"),
        );
        std::fs::write(&cert, &server.cert_chain_pem).unwrap();
        std::fs::write(&key, &server.key_pem).unwrap();
        std::fs::write(&client_ca, ca.cert_pem()).unwrap();
        let line = format!(
            "--security-protocol ssl --tls-cert {} --tls-key {} --tls-client-ca {} --tls-client-auth requested",
            cert.display(),
            key.display(),
            client_ca.display()
        );
        let o = parse(args(&line)).unwrap();
        let s = &o.config.security;
        assert_eq!(s.protocol, SecurityProtocol::Ssl);
        let tls = s.tls.as_ref().unwrap();
        assert_eq!(tls.key_pem, server.key_pem);
        assert_eq!(
            tls.client_auth,
            ClientAuth::Requested {
                ca_pem: ca.cert_pem().to_owned()
            }
        );
        assert!(o.ca_out.is_none());
        let o = parse(args("--oauthbearer-unsecured")).unwrap();
        assert_eq!(o.config.security.protocol, SecurityProtocol::SaslPlaintext);
        assert_eq!(
            o.config.security.sasl.mechanisms,
            [SaslMechanism::OAuthBearer]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
