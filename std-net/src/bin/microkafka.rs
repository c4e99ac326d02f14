//! `microkafka`: a command-line Kafka tool with kcat's habits, on the
//! microkafka-std client (build it with `--features cli`).
//!
//! Every subcommand takes the brokers (`-b`, or `MICROKAFKA_BROKERS`) and
//! librdkafka-style properties (`-X key=value`: TLS, SASL, timeouts; see
//! `Dialer::with_properties`). Data goes to stdout, diagnostics to stderr.
//!
//! Exit codes a script can use: 0 done; 1 Kafka or network error (the
//! message on stderr names the broker, API and Kafka error); 2 bad usage;
//! 3 a produce where some messages were not written (which ones on stderr).

use std::collections::BTreeMap;
use std::io::{BufWriter, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};
use microkafka_core::balancer::{Balancer, MessageRef};
use microkafka_std::{
    BalancerKind, Client, ClientConfig, Compression, Dialer, Error, Header, Message, OffsetReset,
    Reader, ReaderConfig, RequiredAcks, TopicConfig, Writer, WriterConfig, LAST_OFFSET,
};
use tokio::sync::mpsc;

const EXAMPLES: &str = "\
Examples:
  # the cluster: brokers, topics, partitions, leaders, replicas
  microkafka -b localhost:9092 metadata
  # produce one message per line; key and value split at ':'
  seq 1 100000 | microkafka -b localhost:9092 produce -t numbers -K:
  # every message of a topic from the beginning, then exit
  microkafka -b localhost:9092 consume -t numbers -o beginning -e
  # the last 10 messages of partition 0, with offsets and keys
  microkafka -b localhost:9092 consume -t numbers -p 0 -o -10 -e -f '%p/%o %k=%s\\n'
  # in a consumer group, 100 messages then leave
  microkafka -b localhost:9092 consume -G my-group -t numbers -c 100
  # topics
  microkafka -b localhost:9092 topic create numbers -p 6 -r 3 -c retention.ms=3600000
  microkafka -b localhost:9092 topic describe numbers
  # groups: members and lag; replay an inactive group from the start
  microkafka -b localhost:9092 group list
  microkafka -b localhost:9092 group describe my-group
  microkafka -b localhost:9092 group reset my-group -t numbers --to earliest
  # over SASL_SSL
  microkafka -b kafka:9093 -X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-512 \\
      -X sasl.username=alice -X sasl.password=secret metadata

Exit codes: 0 done, 1 Kafka or network error, 2 bad usage, 3 some messages not produced.";

/// A failure and the exit code it maps to.
struct Failure {
    code: u8,
    message: String,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure {
            code: 1,
            message: e.to_string(),
        }
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        message: message.into(),
    }
}

fn command() -> Command {
    let topic = || {
        Arg::new("topic")
            .short('t')
            .long("topic")
            .value_name("TOPIC")
            .required(true)
            .help("The topic")
    };
    Command::new("microkafka")
        .about("A Kafka command-line tool (kcat's habits) on microkafka")
        .version(env!("CARGO_PKG_VERSION"))
        .after_help(EXAMPLES)
        .subcommand_required(true)
        .arg(
            Arg::new("brokers")
                .short('b')
                .long("brokers")
                .value_name("HOST:PORT,...")
                .env("MICROKAFKA_BROKERS")
                .default_value("localhost:9092")
                .global(true)
                .help("Bootstrap brokers, comma-separated"),
        )
        .arg(
            Arg::new("property")
                .short('X')
                .value_name("KEY=VALUE")
                .action(ArgAction::Append)
                .global(true)
                .help("A librdkafka-style property (security.protocol, sasl.*, ssl.*, client.id, request.timeout.ms, ...)"),
        )
        .subcommand(
            Command::new("metadata")
                .visible_alias("list")
                .about("Brokers, topics and partitions (kcat -L)")
                .arg(Arg::new("topic").short('t').long("topic").help("Only this topic")),
        )
        .subcommand(
            Command::new("produce")
                .about("Produce one message per line of stdin (kcat -P)")
                .arg(topic())
                .arg(
                    Arg::new("partition")
                        .short('p')
                        .long("partition")
                        .value_parser(value_parser!(i32))
                        .help("Every message to this partition (default: the partitioner)"),
                )
                .arg(
                    Arg::new("key-delimiter")
                        .short('K')
                        .value_name("DELIM")
                        .help("Split each line into key and value at the first DELIM"),
                )
                .arg(
                    Arg::new("delimiter")
                        .short('D')
                        .value_name("DELIM")
                        .default_value("\\n")
                        .help("Message delimiter (\\n, \\t, \\0 or any string)"),
                )
                .arg(
                    Arg::new("header")
                        .short('H')
                        .value_name("NAME=VALUE")
                        .action(ArgAction::Append)
                        .help("A header on every message (repeatable)"),
                )
                .arg(
                    Arg::new("compression")
                        .short('z')
                        .long("compression")
                        .value_parser(["none", "gzip", "snappy", "lz4", "zstd"])
                        .default_value("none"),
                )
                .arg(
                    Arg::new("partitioner")
                        .long("partitioner")
                        .value_parser([
                            "murmur2_random",
                            "consistent_random",
                            "fnv1a",
                            "round_robin",
                            "least_bytes",
                            "random",
                        ])
                        .default_value("consistent_random")
                        .help("Key placement: librdkafka's names (consistent_random = CRC32, its default; murmur2_random = the Java client's; fnv1a = kafka-go/sarama's)"),
                )
                .arg(
                    Arg::new("acks")
                        .long("acks")
                        .value_parser(["all", "-1", "1", "0"])
                        .default_value("all"),
                )
                .arg(
                    Arg::new("no-idempotence")
                        .long("no-idempotence")
                        .action(ArgAction::SetTrue)
                        .help("Plain (non-idempotent) writes; idempotence is on by default with acks=all"),
                ),
        )
        .subcommand(
            Command::new("consume")
                .about("Consume messages to stdout (kcat -C, or -G with --group)")
                .arg(
                    Arg::new("topic")
                        .short('t')
                        .long("topic")
                        .value_name("TOPIC")
                        .action(ArgAction::Append)
                        .required(true)
                        .help("The topic (several with --group)"),
                )
                .arg(
                    Arg::new("partition")
                        .short('p')
                        .long("partition")
                        .value_parser(value_parser!(i32))
                        .help("Only this partition (default: all)"),
                )
                .arg(
                    Arg::new("group")
                        .short('G')
                        .long("group")
                        .value_name("GROUP")
                        .help("Consume as a member of this group, committing what was printed"),
                )
                .arg(
                    Arg::new("offset")
                        .short('o')
                        .long("offset")
                        .default_value("end")
                        .allow_hyphen_values(true)
                        .help("beginning | end | N (absolute) | -N (N before the end) | @MS (first message at or after this Unix time in ms); without --group"),
                )
                .arg(
                    Arg::new("count")
                        .short('c')
                        .long("count")
                        .value_parser(value_parser!(u64))
                        .help("Exit after this many messages"),
                )
                .arg(
                    Arg::new("exit")
                        .short('e')
                        .action(ArgAction::SetTrue)
                        .help("Exit at the end of the partitions (their end when the command started); without --group"),
                )
                .arg(
                    Arg::new("format")
                        .short('f')
                        .long("format")
                        .help("Output format: %t topic, %p partition, %o offset, %k key, %s value, %K key length, %S value length, %T timestamp (ms), %h headers (k=v,...), \\n \\t \\\\ (default: %s\\n, or %k<DELIM>%s\\n with -K)"),
                )
                .arg(
                    Arg::new("key-delimiter")
                        .short('K')
                        .value_name("DELIM")
                        .help("Print the key, DELIM, then the value"),
                )
                .arg(
                    Arg::new("read-committed")
                        .long("read-committed")
                        .action(ArgAction::SetTrue)
                        .help("isolation.level=read_committed: hide aborted transactions"),
                ),
        )
        .subcommand(
            Command::new("topic")
                .about("Create, delete or describe topics")
                .subcommand_required(true)
                .subcommand(
                    Command::new("create")
                        .arg(Arg::new("name").required(true))
                        .arg(
                            Arg::new("partitions")
                                .short('p')
                                .long("partitions")
                                .value_parser(value_parser!(i32))
                                .default_value("1"),
                        )
                        .arg(
                            Arg::new("replication-factor")
                                .short('r')
                                .long("replication-factor")
                                .value_parser(value_parser!(i16))
                                .help("Default: the broker's"),
                        )
                        .arg(
                            Arg::new("config")
                                .short('c')
                                .long("config")
                                .value_name("KEY=VALUE")
                                .action(ArgAction::Append),
                        ),
                )
                .subcommand(
                    Command::new("delete").arg(Arg::new("name").required(true).num_args(1..)),
                )
                .subcommand(
                    Command::new("describe")
                        .about("Partitions with leaders, replicas, in-sync replicas and offsets")
                        .arg(Arg::new("name").required(true)),
                ),
        )
        .subcommand(
            Command::new("group")
                .about("List or describe consumer groups")
                .subcommand_required(true)
                .subcommand(Command::new("list"))
                .subcommand(
                    Command::new("describe")
                        .about("Members, and committed offset, end and lag per partition")
                        .arg(Arg::new("name").required(true)),
                )
                .subcommand(
                    Command::new("reset")
                        .about("Move an inactive group's committed offsets (kafka-consumer-groups --reset-offsets --execute)")
                        .arg(Arg::new("name").required(true))
                        .arg(
                            Arg::new("topic")
                                .short('t')
                                .long("topic")
                                .action(ArgAction::Append)
                                .required(true),
                        )
                        .arg(
                            Arg::new("to")
                                .long("to")
                                .required(true)
                                .allow_hyphen_values(true)
                                .help("earliest | latest | N (an offset, clamped into each partition) | @MS (by time)"),
                        ),
                ),
        )
}

/// kcat reads `-K=` as the delimiter `=` (getopt), clap as `-K` with an
/// empty value: split `-K=…`/`-D=…` so a kcat habit means what it says.
fn kcat_delimiters(args: impl Iterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut out = Vec::new();
    for arg in args {
        match arg.to_str() {
            Some(a) if a.len() > 2 && (a.starts_with("-K=") || a.starts_with("-D=")) => {
                out.push(a[..2].into());
                out.push(a[2..].into());
            }
            _ => out.push(arg),
        }
    }
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let matches = match command().try_get_matches_from(kcat_delimiters(std::env::args_os())) {
        Ok(m) => m,
        Err(e) => {
            // --help and --version print to stdout and exit 0; mistakes exit 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(&matches).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("microkafka: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// The connection settings every subcommand shares.
struct Target {
    brokers: Vec<String>,
    dialer: Dialer,
}

impl Target {
    fn from(m: &ArgMatches) -> Result<Target, Failure> {
        let brokers: Vec<String> = m
            .get_one::<String>("brokers")
            .map(|b| {
                b.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if brokers.is_empty() {
            return Err(usage("no brokers (-b host:port)"));
        }
        let mut properties = Vec::new();
        for p in m.get_many::<String>("property").into_iter().flatten() {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| usage(format!("-X {p}: expected key=value")))?;
            properties.push((k, v));
        }
        let dialer = Dialer::default()
            .with_properties(properties)
            .map_err(|e| usage(e.to_string()))?;
        Ok(Target { brokers, dialer })
    }

    fn refs(&self) -> Vec<&str> {
        self.brokers.iter().map(String::as_str).collect()
    }

    fn client(&self) -> Result<Client, Failure> {
        Ok(Client::with_config(ClientConfig {
            brokers: self.brokers.clone(),
            dialer: self.dialer.clone(),
            ..ClientConfig::default()
        })?)
    }
}

async fn run(m: &ArgMatches) -> Result<(), Failure> {
    let target = Target::from(m)?;
    match m.subcommand() {
        Some(("metadata", sub)) => metadata(&target, sub).await,
        Some(("produce", sub)) => produce(&target, sub).await,
        Some(("consume", sub)) => consume(&target, sub).await,
        Some(("topic", sub)) => topic(&target, sub).await,
        Some(("group", sub)) => group(&target, sub).await,
        _ => Err(usage("a subcommand is needed (see --help)")),
    }
}

async fn metadata(target: &Target, m: &ArgMatches) -> Result<(), Failure> {
    let client = target.client()?;
    let only: Vec<&str> = m
        .get_one::<String>("topic")
        .map(String::as_str)
        .into_iter()
        .collect();
    let meta = client.metadata(&only).await?;
    let mut out = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(out, "{} brokers:", meta.brokers.len());
    for b in &meta.brokers {
        let controller = if b.id == meta.controller {
            " (controller)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  broker {} at {}:{}{controller}",
            b.id, b.host, b.port
        );
    }
    let _ = writeln!(out, "{} topics:", meta.topics.len());
    let mut topics: Vec<_> = meta.topics.iter().collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    for t in topics {
        if let Some(e) = t.error {
            let _ = writeln!(out, "  topic \"{}\" error: {e:?}", t.name);
            continue;
        }
        let _ = writeln!(
            out,
            "  topic \"{}\" with {} partitions:",
            t.name,
            t.partitions.len()
        );
        for p in &t.partitions {
            let ids = |v: &[microkafka_std::Broker]| {
                v.iter()
                    .map(|b| b.id.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let _ = writeln!(
                out,
                "    partition {}, leader {}, replicas: {}, isrs: {}",
                p.id,
                p.leader.id,
                ids(&p.replicas),
                ids(&p.isr)
            );
        }
    }
    print!("{out}");
    client.close();
    Ok(())
}

/// Every message to one partition (`produce -p`).
struct Fixed(i32);

impl Balancer for Fixed {
    fn balance(&mut self, _: &MessageRef<'_>, partitions: &[i32]) -> Option<i32> {
        partitions.contains(&self.0).then_some(self.0)
    }
}

/// `\n`, `\t`, `\0` and `\\` in a delimiter or format given on the command line.
fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('n') => out.push(b'\n'),
            Some('t') => out.push(b'\t'),
            Some('r') => out.push(b'\r'),
            Some('0') => out.push(0),
            Some('\\') => out.push(b'\\'),
            Some(other) => {
                out.push(b'\\');
                let mut buf = [0; 4];
                out.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
            }
            None => out.push(b'\\'),
        }
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// How many messages one `write_messages` call carries: big enough to fill
/// batches, small enough that a failure reports a readable range.
const PRODUCE_CHUNK: usize = 10_000;

async fn produce(target: &Target, m: &ArgMatches) -> Result<(), Failure> {
    let topic = m.get_one::<String>("topic").expect("required");
    let key_delimiter = m.get_one::<String>("key-delimiter").map(|d| unescape(d));
    let delimiter = unescape(m.get_one::<String>("delimiter").expect("default"));
    if delimiter.is_empty() || key_delimiter.as_ref().is_some_and(Vec::is_empty) {
        return Err(usage("delimiters cannot be empty"));
    }
    let mut header_pairs = Vec::new();
    for h in m.get_many::<String>("header").into_iter().flatten() {
        let (k, v) = h
            .split_once('=')
            .ok_or_else(|| usage(format!("-H {h}: expected name=value")))?;
        header_pairs.push((k.to_owned(), v.as_bytes().to_vec()));
    }
    let headers: Vec<Header<'_>> = header_pairs
        .iter()
        .map(|(k, v)| Header {
            key: k,
            value: Some(v),
        })
        .collect();
    let compression = match m.get_one::<String>("compression").map(String::as_str) {
        Some("gzip") => Compression::Gzip,
        Some("snappy") => Compression::Snappy,
        Some("lz4") => Compression::Lz4,
        Some("zstd") => Compression::Zstd,
        _ => Compression::None,
    };
    let acks = match m.get_one::<String>("acks").map(String::as_str) {
        Some("0") => RequiredAcks::None,
        Some("1") => RequiredAcks::One,
        _ => RequiredAcks::All,
    };
    let balancer = match (
        m.get_one::<i32>("partition"),
        m.get_one::<String>("partitioner").map(String::as_str),
    ) {
        (Some(&p), _) => BalancerKind::Custom(Arc::new(move || Box::new(Fixed(p)))),
        (None, Some("murmur2_random")) => BalancerKind::Murmur2,
        (None, Some("fnv1a")) => BalancerKind::Hash,
        (None, Some("round_robin")) => BalancerKind::RoundRobin,
        (None, Some("least_bytes")) => BalancerKind::LeastBytes,
        (None, Some("random")) => BalancerKind::Random,
        _ => BalancerKind::Crc32,
    };
    let writer = Writer::new(WriterConfig {
        balancer,
        compression,
        required_acks: acks,
        idempotent: acks == RequiredAcks::All && !m.get_flag("no-idempotence"),
        batch_size: PRODUCE_CHUNK,
        batch_bytes: 1 << 20,
        batch_timeout: Duration::from_millis(5),
        // As kcat (librdkafka's producer): a missing topic is created where
        // the broker allows it (`auto.create.topics.enable`).
        allow_auto_topic_creation: true,
        dialer: target.dialer.clone(),
        ..WriterConfig::new(&target.refs(), topic)
    })?;

    // Stdin is read whole: a pipe's end is the only "done" signal, and the
    // messages borrow from one buffer (no copy per message).
    let mut input = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut input)
        .map_err(|e| Failure {
            code: 1,
            message: format!("reading stdin: {e}"),
        })?;
    let mut pieces: Vec<&[u8]> = Vec::new();
    let mut rest = &input[..];
    while !rest.is_empty() {
        match find(rest, &delimiter) {
            Some(i) => {
                pieces.push(&rest[..i]);
                rest = &rest[i + delimiter.len()..];
            }
            None => {
                pieces.push(rest);
                rest = &[];
            }
        }
    }
    let messages: Vec<Message<'_>> = pieces
        .iter()
        .map(|line| {
            let mut msg = match key_delimiter
                .as_deref()
                .and_then(|d| find(line, d).map(|i| (i, d.len())))
            {
                Some((i, n)) => Message::new(&line[i + n..]).with_key(&line[..i]),
                None => Message::new(line),
            };
            if !headers.is_empty() {
                msg = msg.with_headers(&headers);
            }
            msg
        })
        .collect();
    let mut failed = 0usize;
    for (n, chunk) in messages.chunks(PRODUCE_CHUNK).enumerate() {
        if let Err(errors) = writer.write_messages(chunk).await {
            for (i, e) in errors.iter().enumerate() {
                if let Some(e) = e {
                    failed += 1;
                    if failed <= 10 {
                        eprintln!(
                            "microkafka: message {} not written: {e}",
                            n * PRODUCE_CHUNK + i + 1
                        );
                    }
                }
            }
        }
    }
    let closed = writer.close().await;
    eprintln!(
        "microkafka: {} of {} messages produced to {topic}",
        messages.len() - failed,
        messages.len()
    );
    closed?;
    if failed > 0 {
        return Err(Failure {
            code: 3,
            message: format!("{failed} messages not written"),
        });
    }
    Ok(())
}

/// Where a partition reader starts (`consume -o`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Start {
    Beginning,
    End,
    Absolute(i64),
    BeforeEnd(i64),
    AtTime(i64),
}

fn parse_start(s: &str) -> Result<Start, Failure> {
    let bad = || usage(format!("-o {s}: expected beginning, end, N, -N or @MS"));
    Ok(match s {
        "beginning" | "earliest" | "first" => Start::Beginning,
        "end" | "latest" | "last" => Start::End,
        _ if s.starts_with('@') => Start::AtTime(s[1..].parse().map_err(|_| bad())?),
        _ if s.starts_with('-') => Start::BeforeEnd(s[1..].parse().map_err(|_| bad())?),
        _ => Start::Absolute(s.parse().map_err(|_| bad())?),
    })
}

/// kcat-style output formatting of one message.
struct Format {
    parts: Vec<Part>,
}

enum Part {
    Text(Vec<u8>),
    Topic,
    Partition,
    Offset,
    Key,
    Value,
    KeyLen,
    ValueLen,
    Timestamp,
    Headers,
}

impl Format {
    fn parse(s: &str) -> Format {
        let raw = unescape(s);
        let mut parts = Vec::new();
        let mut text = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'%' && i + 1 < raw.len() {
                let part = match raw[i + 1] {
                    b't' => Some(Part::Topic),
                    b'p' => Some(Part::Partition),
                    b'o' => Some(Part::Offset),
                    b'k' => Some(Part::Key),
                    b's' => Some(Part::Value),
                    b'K' => Some(Part::KeyLen),
                    b'S' => Some(Part::ValueLen),
                    b'T' => Some(Part::Timestamp),
                    b'h' => Some(Part::Headers),
                    b'%' => {
                        text.push(b'%');
                        None
                    }
                    _ => {
                        text.extend_from_slice(&raw[i..i + 2]);
                        None
                    }
                };
                if let Some(part) = part {
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(part);
                }
                i += 2;
            } else {
                text.push(raw[i]);
                i += 1;
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Format { parts }
    }

    fn write(&self, m: &microkafka_std::FetchedMessage<'_>, out: &mut Vec<u8>) {
        use std::io::Write as _;
        for part in &self.parts {
            match part {
                Part::Text(t) => out.extend_from_slice(t),
                Part::Topic => out.extend_from_slice(m.topic.as_bytes()),
                Part::Partition => {
                    let _ = write!(out, "{}", m.partition);
                }
                Part::Offset => {
                    let _ = write!(out, "{}", m.offset);
                }
                Part::Key => out.extend_from_slice(m.key.unwrap_or_default()),
                Part::Value => out.extend_from_slice(m.value.unwrap_or_default()),
                Part::KeyLen => {
                    let _ = write!(out, "{}", m.key.map_or(-1, |k| k.len() as i64));
                }
                Part::ValueLen => {
                    let _ = write!(out, "{}", m.value.map_or(-1, |v| v.len() as i64));
                }
                Part::Timestamp => {
                    let _ = write!(out, "{}", m.timestamp_ms);
                }
                Part::Headers => {
                    for (i, h) in m.headers.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(h.key.as_bytes());
                        out.push(b'=');
                        out.extend_from_slice(h.value.unwrap_or_default());
                    }
                }
            }
        }
    }
}

async fn consume(target: &Target, m: &ArgMatches) -> Result<(), Failure> {
    let topics: Vec<String> = m
        .get_many::<String>("topic")
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let format = Arc::new(Format::parse(&match (
        m.get_one::<String>("format"),
        m.get_one::<String>("key-delimiter"),
    ) {
        (Some(f), _) => f.clone(),
        (None, Some(d)) => format!("%k{d}%s\\n"),
        (None, None) => "%s\\n".to_owned(),
    }));
    let count = m.get_one::<u64>("count").copied();
    let read_committed = m.get_flag("read-committed");
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(1024);
    let mut tasks = tokio::task::JoinSet::new();

    if let Some(group) = m.get_one::<String>("group") {
        if m.get_flag("exit") || m.get_one::<i32>("partition").is_some() {
            return Err(usage("-e and -p are for partition mode, not with --group"));
        }
        let reader = Reader::new(ReaderConfig {
            group_id: Some(group.clone()),
            group_topics: topics.clone(),
            // Printed messages are committed in the background each second
            // and when the reader closes, as kcat -G does.
            commit_interval: Duration::from_secs(1),
            read_committed,
            dialer: target.dialer.clone(),
            ..ReaderConfig::new(&target.refs(), "", 0)
        })?;
        return consume_group(reader, &format, count).await;
    }
    {
        if topics.len() != 1 {
            return Err(usage("one topic without --group"));
        }
        let topic = topics[0].clone();
        let start = parse_start(m.get_one::<String>("offset").expect("default"))?;
        let client = target.client()?;
        let offsets = client.offsets(&topic).await?;
        client.close();
        let only = m.get_one::<i32>("partition").copied();
        let partitions: Vec<(i32, i64, i64)> = offsets
            .into_iter()
            .filter(|(p, _, _)| only.is_none_or(|o| o == *p))
            .collect();
        if partitions.is_empty() {
            return Err(Failure {
                code: 1,
                message: format!("{topic}: no such partition"),
            });
        }
        let exit_at_end = m.get_flag("exit");
        for (partition, first, last) in partitions {
            let mut reader = Reader::new(ReaderConfig {
                read_committed,
                dialer: target.dialer.clone(),
                ..ReaderConfig::new(&target.refs(), &topic, partition)
            })?;
            match start {
                // The offsets looked up above, not the FIRST/LAST sentinels:
                // `-e` compares against them, and an empty partition must
                // not wait for its first message.
                Start::Beginning => reader.set_offset(first)?,
                Start::End => reader.set_offset(last)?,
                Start::Absolute(o) => reader.set_offset(o.clamp(first, last))?,
                Start::BeforeEnd(n) => reader.set_offset(last.saturating_sub(n).max(first))?,
                Start::AtTime(ms) => {
                    let at = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
                    reader.set_offset_at(at).await?
                }
            }
            let (tx, format) = (tx.clone(), format.clone());
            tasks.spawn(async move {
                let mut out = Vec::new();
                let result = loop {
                    // -e: the end as it was when the command started.
                    if exit_at_end {
                        let at = reader.offset();
                        if at >= last || at == LAST_OFFSET {
                            break Ok(());
                        }
                    }
                    let fetched = tokio::select! {
                        _ = tx.closed() => break Ok(()),
                        fetched = reader.fetch_message() => fetched,
                    };
                    match fetched {
                        Ok(msg) => {
                            out.clear();
                            format.write(&msg, &mut out);
                            if tx.send(out.clone()).await.is_err() {
                                break Ok(());
                            }
                        }
                        Err(e) => break Err(e),
                    }
                };
                let closed = reader.close().await;
                result.and(closed)
            });
        }
        drop(tx);
    }

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut printed = 0u64;
    let mut failure = None;
    loop {
        tokio::select! {
            line = rx.recv() => match line {
                Some(line) => {
                    if out.write_all(&line).is_err() {
                        break; // stdout closed (e.g. `| head`): done.
                    }
                    printed += 1;
                    if count.is_some_and(|c| printed >= c) {
                        break;
                    }
                }
                None => break,
            },
            done = tasks.join_next(), if !tasks.is_empty() => {
                if let Some(Ok(Err(e))) = done {
                    failure = Some(Failure::from(e));
                    break;
                }
            }
        }
        if rx.is_empty() {
            let _ = out.flush();
        }
    }
    let _ = out.flush();
    drop(out);
    drop(rx);
    // The readers see the channel closed and stop.
    while let Some(done) = tasks.join_next().await {
        if let (Ok(Err(e)), None) = (done, &failure) {
            if !matches!(e.kind(), microkafka_std::ErrorKind::Closed) {
                failure = Some(e.into());
            }
        }
    }
    match failure {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

/// Group mode, without a channel in between: a message counts as read
/// (and is committed) only once it is printed, so `-c`, a closed stdout or
/// Ctrl-C never commit past what the user saw. Leaving closes the reader:
/// the last commit and LeaveGroup, so the next member starts at once.
async fn consume_group(
    mut reader: Reader,
    format: &Format,
    count: Option<u64>,
) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut line = Vec::new();
    let mut printed = 0u64;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let result = loop {
        if count.is_some_and(|c| printed >= c) {
            break Ok(());
        }
        let read = tokio::select! {
            _ = &mut interrupted => break Ok(()),
            read = reader.read_message() => read,
        };
        match read {
            Ok(msg) => {
                line.clear();
                format.write(&msg, &mut line);
                if out.write_all(&line).and_then(|()| out.flush()).is_err() {
                    break Ok(()); // stdout closed (e.g. `| head`): done.
                }
                printed += 1;
            }
            Err(e) => break Err(e),
        }
    };
    drop(out);
    let closed = reader.close().await;
    result.and(closed).map_err(Failure::from)
}

async fn topic(target: &Target, m: &ArgMatches) -> Result<(), Failure> {
    let client = target.client()?;
    let result = match m.subcommand() {
        Some(("create", sub)) => {
            let name = sub.get_one::<String>("name").expect("required");
            let mut config =
                TopicConfig::new(name, *sub.get_one::<i32>("partitions").expect("default"));
            if let Some(&rf) = sub.get_one::<i16>("replication-factor") {
                config.replication_factor = rf;
            }
            for c in sub.get_many::<String>("config").into_iter().flatten() {
                let (k, v) = c
                    .split_once('=')
                    .ok_or_else(|| usage(format!("-c {c}: expected key=value")))?;
                config.config_entries.push((k.to_owned(), v.to_owned()));
            }
            client.create_topics(&[config]).await.map_err(Failure::from)
        }
        Some(("delete", sub)) => {
            let names: Vec<&str> = sub
                .get_many::<String>("name")
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            client.delete_topics(&names).await.map_err(Failure::from)
        }
        Some(("describe", sub)) => {
            let name = sub.get_one::<String>("name").expect("required");
            describe_topic(&client, name).await
        }
        _ => Err(usage("topic create|delete|describe")),
    };
    client.close();
    result
}

async fn describe_topic(client: &Client, name: &str) -> Result<(), Failure> {
    let meta = client.metadata(&[name]).await?;
    let topic = meta.topics.first().ok_or_else(|| Failure {
        code: 1,
        message: format!("{name}: not in the metadata"),
    })?;
    if let Some(e) = topic.error {
        return Err(Failure {
            code: 1,
            message: format!("{name}: {e:?}"),
        });
    }
    let offsets: BTreeMap<i32, (i64, i64)> = client
        .offsets(name)
        .await?
        .into_iter()
        .map(|(p, first, last)| (p, (first, last)))
        .collect();
    println!("topic {name}: {} partitions", topic.partitions.len());
    println!("partition\tleader\treplicas\tisr\tfirst\tlast\tmessages");
    let mut partitions: Vec<_> = topic.partitions.iter().collect();
    partitions.sort_by_key(|p| p.id);
    for p in partitions {
        let ids = |v: &[microkafka_std::Broker]| {
            v.iter()
                .map(|b| b.id.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let (first, last) = offsets.get(&p.id).copied().unwrap_or((-1, -1));
        println!(
            "{}\t{}\t{}\t{}\t{first}\t{last}\t{}",
            p.id,
            p.leader.id,
            ids(&p.replicas),
            ids(&p.isr),
            (last - first).max(0)
        );
    }
    Ok(())
}

async fn group(target: &Target, m: &ArgMatches) -> Result<(), Failure> {
    let client = target.client()?;
    let result = match m.subcommand() {
        Some(("list", _)) => {
            let mut groups = client.list_groups().await?;
            groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
            println!("group\tstate\tprotocol_type\tcoordinator");
            for g in groups {
                println!(
                    "{}\t{}\t{}\t{}",
                    g.group_id, g.state, g.protocol_type, g.coordinator
                );
            }
            Ok(())
        }
        Some(("describe", sub)) => {
            let name = sub.get_one::<String>("name").expect("required");
            let described = client.describe_groups(&[name]).await?;
            for g in described {
                if let Some(e) = g.error {
                    return Err(Failure {
                        code: 1,
                        message: format!("{}: {e:?}", g.group_id),
                    });
                }
                println!(
                    "group {}: state {}, protocol {} ({}), coordinator {}, {} members",
                    g.group_id,
                    g.state,
                    g.protocol,
                    g.protocol_type,
                    g.coordinator,
                    g.members.len()
                );
                let lag = client.group_lag(&g.group_id).await?;
                if !lag.is_empty() {
                    println!("topic\tpartition\tcommitted\tend\tlag");
                    for p in lag {
                        let lag = p.lag.map_or_else(|| "-".to_owned(), |l| l.to_string());
                        println!(
                            "{}\t{}\t{}\t{}\t{lag}",
                            p.topic, p.partition, p.committed, p.high_watermark
                        );
                    }
                }
                for member in &g.members {
                    println!(
                        "  member {}{} client {} at {}",
                        member.member_id,
                        member
                            .group_instance_id
                            .as_deref()
                            .map(|i| format!(" (instance {i})"))
                            .unwrap_or_default(),
                        member.client_id,
                        member.client_host
                    );
                }
            }
            Ok(())
        }
        Some(("reset", sub)) => {
            let name = sub.get_one::<String>("name").expect("required");
            let topics: Vec<&str> = sub
                .get_many::<String>("topic")
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            let to = sub.get_one::<String>("to").expect("required");
            let to = match to.as_str() {
                "earliest" | "beginning" => OffsetReset::Earliest,
                "latest" | "end" => OffsetReset::Latest,
                t if t.starts_with('@') => OffsetReset::Time(
                    t[1..]
                        .parse()
                        .map_err(|_| usage(format!("--to {t}: expected @MS")))?,
                ),
                t => OffsetReset::Offset(t.parse().map_err(|_| {
                    usage(format!("--to {t}: expected earliest, latest, N or @MS"))
                })?),
            };
            let moved = client.reset_offsets(name, &topics, to).await?;
            println!("topic\tpartition\tnew offset");
            let mut failed = None;
            for c in moved {
                match c.error {
                    Some(e) => failed = Some(format!("{}/{}: {e:?}", c.topic, c.partition)),
                    None => println!("{}\t{}\t{}", c.topic, c.partition, c.offset),
                }
            }
            match failed {
                Some(message) => Err(Failure { code: 1, message }),
                None => Ok(()),
            }
        }
        _ => Err(usage("group list|describe|reset")),
    };
    client.close();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn offsets_parse_as_kcat_writes_them() {
        assert_eq!(parse_start("beginning").ok(), Some(Start::Beginning));
        assert_eq!(parse_start("end").ok(), Some(Start::End));
        assert_eq!(parse_start("42").ok(), Some(Start::Absolute(42)));
        assert_eq!(parse_start("-10").ok(), Some(Start::BeforeEnd(10)));
        assert_eq!(
            parse_start("@1700000000000").ok(),
            Some(Start::AtTime(1_700_000_000_000))
        );
        assert!(parse_start("soon").is_err());
        assert!(parse_start("-x").is_err());
    }

    #[test]
    fn delimiters_unescape() {
        assert_eq!(unescape("\\n"), b"\n");
        assert_eq!(unescape("a\\tb\\\\"), b"a\tb\\");
        assert_eq!(unescape("::"), b"::");
        assert_eq!(find(b"k::v", b"::"), Some(1));
        assert_eq!(find(b"kv", b"::"), None);
    }
}
