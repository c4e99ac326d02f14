//! `microkafka-broker`: the in-memory Kafka cluster as a standalone process.
//!
//! ```text
//! microkafka-broker [--listen 127.0.0.1:9092] [--brokers N] [--partitions N]
//!                   [--auto-create | --no-auto-create] [--sasl-user user:pass]...
//!                   [--kafka4] [--advertised-host HOST] [--retention-bytes N]
//! ```
//!
//! Prints the bootstrap address and serves until Ctrl-C or SIGTERM.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::process::ExitCode;

use microkafka_mock_broker::{Config, MockCluster, SaslUser};

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
    --sasl-user USER:PASS    require SASL/PLAIN with this user (repeatable)
    --kafka4                 accept only the API versions Kafka 4.x accepts
    --advertised-host HOST   host name advertised to clients [default: the listen IP]
    --retention-bytes N      log bytes kept per partition [default: 67108864]
    -h, --help               print this help
    -V, --version            print the version
";

/// Parses the command line into a config, or the text to print and exit with.
fn parse(args: impl IntoIterator<Item = String>) -> Result<Config, (String, u8)> {
    let mut config = Config {
        brokers: 1,
        ..Config::default()
    };
    let mut listen: SocketAddr = "127.0.0.1:9092".parse().expect("a valid literal address");
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
                config.sasl_users.push(user);
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
    Ok(config)
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
    let config = match parse(std::env::args().skip(1)) {
        Ok(c) => c,
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
    runtime.block_on(async move {
        let brokers = config.brokers;
        let (kafka4, sasl) = (config.kafka4, !config.sasl_users.is_empty());
        let cluster = match MockCluster::start(config).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("microkafka-broker: cannot listen: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "microkafka-broker: {brokers} broker(s){}{}; bootstrap.servers={}",
            if kafka4 { ", Kafka 4.x versions" } else { "" },
            if sasl { ", SASL/PLAIN required" } else { "" },
            cluster.bootstrap_servers()
        );
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
        let c = parse(args("--listen 127.0.0.1:19092 --brokers 3 --partitions 4 --no-auto-create --kafka4 --sasl-user a:b --sasl-user=c:d")).unwrap();
        assert_eq!(c.brokers, 3);
        assert_eq!(c.default_partitions, 4);
        assert!(!c.auto_create_topics && c.kafka4);
        assert_eq!(
            c.sasl_users,
            [SaslUser::new("a", "b"), SaslUser::new("c", "d")]
        );
        let ports: Vec<u16> = c.listen.iter().map(SocketAddr::port).collect();
        assert_eq!(ports, [19092, 19093, 19094]);
        let c = parse(args("--listen 127.0.0.1:0 --brokers 2")).unwrap();
        assert!(c.listen.iter().all(|a| a.port() == 0));
        let c = parse(Vec::new()).unwrap();
        assert_eq!((c.brokers, c.listen[0].port()), (1, 9092));
        assert_eq!(parse(args("--help")).unwrap_err().1, 0);
        for bad in [
            "--brokers 0",
            "--bogus",
            "--sasl-user nopass",
            "--listen nowhere",
            "--partitions",
        ] {
            assert_eq!(parse(args(bad)).unwrap_err().1, 2, "{bad}");
        }
    }
}
