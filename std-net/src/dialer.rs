//! [`Dialer`]: how connections are made (kafka-go's `Dialer`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use microkafka_core::protocol::frame::DEFAULT_MAX_FRAME_SIZE;

use crate::broker::BrokerConn;
use crate::conn::Conn;
use crate::error::{Error, ErrorKind, Result};
use crate::metadata::{Broker, Partition, Snapshot};
use crate::requests::connect::Connector;
use crate::requests::metadata::metadata_request;
use crate::sasl::SaslMechanism;
use crate::transport::TlsConnector;

/// The default client id sent in every request header.
pub const DEFAULT_CLIENT_ID: &str = "microkafka";

/// The default [`Dialer::timeout`] (kafka-go's `DefaultDialer`).
const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// The default [`Dialer::request_timeout`].
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How connections to brokers are made: timeouts, keep-alive, TLS, SASL,
/// client id.
///
/// Every field has a usable default (`Dialer::default()`). A zero timeout
/// means its default, never "no limit": a broker that accepts connections
/// and then says nothing (or trickles its answers) must cost a bounded
/// wait, not a hung call. (kafka-go's zero `Dialer.Timeout` waits forever;
/// its `DefaultDialer`, which most programs use, has 10 s.) To wait longer,
/// set a longer timeout. A zero `keep_alive` turns keep-alive off.
///
/// ```no_run
/// # async fn demo() -> microkafka_std::Result<()> {
/// use microkafka_std::Dialer;
/// let dialer = Dialer { client_id: "billing".into(), ..Dialer::default() };
/// let mut conn = dialer.dial_leader("localhost:9092", "invoices", 0).await?;
/// let (first, last) = conn.read_offsets().await?;
/// # Ok(()) }
/// ```
///
/// ## Security
///
/// Kafka's `security.protocol` is which of [`tls`](Self::tls) and
/// [`sasl_mechanism`](Self::sasl_mechanism) are set (kafka-go's `TLS` and
/// `SASLMechanism`):
///
/// | `security.protocol` | `tls` | `sasl_mechanism` |
/// |---|---|---|
/// | `PLAINTEXT` (default) | `None` | `None` |
/// | `SSL` | `Some(..)` | `None` |
/// | `SASL_PLAINTEXT` | `None` | `Some(..)` |
/// | `SASL_SSL` | `Some(..)` | `Some(..)` |
///
/// ```no_run
/// # fn demo() -> microkafka_std::Result<()> {
/// use microkafka_std::{Dialer, SaslMechanism, TlsConfig};
/// // SASL_SSL with SCRAM-SHA-512 and a private CA:
/// let dialer = Dialer {
///     tls: Some(TlsConfig::default().with_ca_file("ca.pem")?.connector()?),
///     sasl_mechanism: Some(SaslMechanism::scram_sha512("alice", "alice-secret")),
///     ..Dialer::default()
/// };
/// // The same from librdkafka-style properties:
/// let dialer = Dialer::default().with_properties([
///     ("security.protocol", "SASL_SSL"),
///     ("sasl.mechanism", "SCRAM-SHA-512"),
///     ("sasl.username", "alice"),
///     ("sasl.password", "alice-secret"),
///     ("ssl.ca.location", "ca.pem"),
/// ])?;
/// # Ok(()) }
/// ```
///
/// Every connection the client opens (bootstrap, partition leaders, group
/// coordinators, admin) runs TCP, then TLS, then ApiVersions, then SASL,
/// before anything else, all within [`timeout`](Self::timeout). Failures
/// name what failed: [`ErrorKind::AuthenticationFailed`] (with the broker's
/// message), [`ErrorKind::UnsupportedMechanism`] (with the broker's list),
/// [`ErrorKind::Tls`] (certificate not trusted, wrong host, client
/// certificate refused, ...), [`ErrorKind::HandshakeTimeout`] (with the
/// step). These are [`Error::is_fatal`]: not retried.
///
/// Other names: librdkafka's and the Java client's properties for each
/// field, as [`with_properties`](Self::with_properties) reads them:
///
/// | field | property |
/// |---|---|
/// | `client_id` | `client.id` |
/// | `timeout` | `socket.connection.setup.timeout.ms` |
/// | `tls` | `security.protocol` `SSL`/`SASL_SSL`, `ssl.ca.location`, `ssl.ca.pem`, `ssl.certificate.location`, `ssl.key.location`, `ssl.certificate.pem`, `ssl.key.pem`, `ssl.endpoint.identification.algorithm`, `enable.ssl.certificate.verification` (see [`TlsConfig`](crate::TlsConfig)) |
/// | `sasl_mechanism` | `security.protocol` `SASL_PLAINTEXT`/`SASL_SSL`, `sasl.mechanism` (`sasl.mechanisms`), `sasl.username`, `sasl.password` |
/// | `max_frame_size` | `receive.message.max.bytes` |
/// | `request_timeout` | `request.timeout.ms` |
#[derive(Clone)]
pub struct Dialer {
    /// Sent in every request header; brokers log it and quotas use it.
    /// Default `"microkafka"`. Empty sends a null client id. At most 64 bytes.
    pub client_id: String,
    /// Limit for resolving, connecting (each address of a name in turn),
    /// the TLS handshake and the ApiVersions exchange together (the whole
    /// answer, however slowly its bytes come). Default 10 s (kafka-go's
    /// `DefaultDialer.Timeout`). Zero: the default.
    pub timeout: Duration,
    /// TCP keep-alive: probes start after this much idleness. Default 30 s
    /// (kafka-go inherits Go's 15 s; Kafka brokers close idle connections
    /// after 10 min, so either keeps a quiet connection known-alive). Zero:
    /// keep-alive off.
    pub keep_alive: Duration,
    /// TLS (kafka-go's `TLS`): when set, every connection runs this
    /// handshake after TCP connects, with the broker's host as the server
    /// name. Default `None` (plaintext). Make one with
    /// [`TlsConfig::connector`](crate::TlsConfig::connector) (rustls), or
    /// implement [`TlsConnector`].
    pub tls: Option<Arc<dyn TlsConnector>>,
    /// SASL (kafka-go's `SASLMechanism`): when set, every connection
    /// authenticates with it after ApiVersions, and re-authenticates before
    /// the session the broker grants ends (KIP-368). Default `None`. See
    /// [`SaslMechanism`].
    pub sasl_mechanism: Option<SaslMechanism>,
    /// Largest response frame accepted; a larger one closes the connection
    /// (the stream cannot be trusted). Default 100 MiB (Kafka's
    /// `socket.request.max.bytes`). Zero: the default.
    pub max_frame_size: usize,
    /// Limit for each request on a [`Conn`] without a deadline of its own
    /// (from sending it to the last byte of its answer; a Fetch gets its
    /// `max_wait` on top), and for metadata and admin requests. Default
    /// 30 s. Zero: the default.
    pub request_timeout: Duration,
}

impl Default for Dialer {
    fn default() -> Self {
        Dialer {
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            timeout: DEFAULT_DIAL_TIMEOUT,
            keep_alive: Duration::from_secs(30),
            tls: None,
            sasl_mechanism: None,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dialer")
            .field("client_id", &self.client_id)
            .field("timeout", &self.timeout)
            .field("keep_alive", &self.keep_alive)
            .field("tls", &self.tls.is_some())
            .field("sasl_mechanism", &self.sasl_mechanism)
            .field("max_frame_size", &self.max_frame_size)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// Dials `addr` with the default [`Dialer`] (kafka-go's `kafka.Dial`).
pub async fn dial(addr: &str) -> Result<Conn> {
    Dialer::default().dial(addr).await
}

/// Dials the leader of `topic`/`partition`, found through the broker at
/// `addr`, with the default [`Dialer`] (kafka-go's `kafka.DialLeader`).
pub async fn dial_leader(addr: &str, topic: &str, partition: i32) -> Result<Conn> {
    Dialer::default().dial_leader(addr, topic, partition).await
}

impl Dialer {
    /// This dialer with zero fields replaced by their defaults (what every
    /// connection and request uses).
    pub(crate) fn normalized(mut self) -> Self {
        self.timeout = or_default(self.timeout, DEFAULT_DIAL_TIMEOUT);
        self.request_timeout = self.request_limit();
        if self.max_frame_size == 0 {
            self.max_frame_size = DEFAULT_MAX_FRAME_SIZE;
        }
        self
    }

    /// The limit of each request: `request_timeout`, or its default.
    pub(crate) fn request_limit(&self) -> Duration {
        or_default(self.request_timeout, DEFAULT_REQUEST_TIMEOUT)
    }

    /// Connects to the broker at `addr` (`host:port`).
    pub async fn dial(&self, addr: &str) -> Result<Conn> {
        let conn = self.connect(addr, -1).await?;
        Ok(Conn::new(Arc::new(conn), self.request_limit()))
    }

    /// Connects to the leader of `topic`/`partition`, looked up through the
    /// broker at `addr`, and binds the connection to that partition (for
    /// [`Conn::write_messages`], [`Conn::read_batch`] and the offset methods).
    pub async fn dial_leader(&self, addr: &str, topic: &str, partition: i32) -> Result<Conn> {
        let snapshot = self.metadata(addr, &[topic]).await?;
        let p = find_partition(&snapshot, topic, partition)?;
        self.dial_partition(&p).await.map(|mut conn| {
            conn.bind(topic, partition, snapshot.topics.get(topic).map(|t| t.id));
            conn
        })
    }

    /// Connects to a partition's leader (as returned by
    /// [`lookup_partitions`](Self::lookup_partitions)) and binds to it.
    pub async fn dial_partition(&self, partition: &Partition) -> Result<Conn> {
        if partition.leader.id < 0 {
            return Err(
                Error::new(ErrorKind::NoLeader).with_partition(&partition.topic, partition.id)
            );
        }
        let conn = self
            .connect(&partition.leader.addr(), partition.leader.id)
            .await?;
        let mut conn = Conn::new(Arc::new(conn), self.request_limit());
        conn.bind(&partition.topic, partition.id, None);
        Ok(conn)
    }

    /// The leader of `topic`/`partition`, looked up through the broker at `addr`.
    pub async fn lookup_leader(&self, addr: &str, topic: &str, partition: i32) -> Result<Broker> {
        let snapshot = self.metadata(addr, &[topic]).await?;
        let p = find_partition(&snapshot, topic, partition)?;
        if p.leader.id < 0 {
            return Err(Error::new(ErrorKind::NoLeader).with_partition(topic, partition));
        }
        Ok(p.leader)
    }

    /// Every partition of `topic`, looked up through the broker at `addr`.
    pub async fn lookup_partitions(&self, addr: &str, topic: &str) -> Result<Vec<Partition>> {
        let snapshot = self.metadata(addr, &[topic]).await?;
        topic_error(&snapshot, topic)?;
        Ok(snapshot.topic_partitions(topic))
    }

    async fn metadata(&self, addr: &str, topics: &[&str]) -> Result<Snapshot> {
        let conn = self.connect(addr, -1).await?;
        let snapshot = metadata_request(&conn, Some(topics), false, self.request_limit()).await;
        conn.close(Error::new(ErrorKind::Closed));
        snapshot
    }

    /// How connections are opened with this dialer, zero values replaced
    /// by their defaults.
    pub(crate) fn connector(&self) -> Connector {
        Connector {
            client_id: self.client_id.clone(),
            timeout: or_default(self.timeout, DEFAULT_DIAL_TIMEOUT),
            keep_alive: self.keep_alive,
            tls: self.tls.clone(),
            sasl_mechanism: self.sasl_mechanism.clone(),
            max_frame_size: if self.max_frame_size == 0 {
                DEFAULT_MAX_FRAME_SIZE
            } else {
                self.max_frame_size
            },
            request_timeout: self.request_limit(),
        }
    }

    /// Dials, runs TLS if configured, negotiates API versions, and
    /// authenticates with SASL if configured.
    async fn connect(&self, addr: &str, node_id: i32) -> Result<BrokerConn> {
        self.connector().connect(addr, node_id).await
    }
}

/// `d`, or `default` when it is zero.
fn or_default(d: Duration, default: Duration) -> Duration {
    if d.is_zero() {
        default
    } else {
        d
    }
}

fn topic_error(snapshot: &Snapshot, topic: &str) -> Result<()> {
    let Some(t) = snapshot.topics.get(topic) else {
        return Err(Error::new(ErrorKind::NotFound("topic")).with_topic(topic));
    };
    if t.error.is_err() {
        return Err(Error::kafka(t.error, None)
            .with_api(microkafka_core::protocol::ApiKey::Metadata)
            .with_topic(topic));
    }
    Ok(())
}

fn find_partition(snapshot: &Snapshot, topic: &str, partition: i32) -> Result<Partition> {
    topic_error(snapshot, topic)?;
    snapshot.partition(topic, partition).ok_or_else(|| {
        Error::new(ErrorKind::NotFound("partition")).with_partition(topic, partition)
    })
}

/// `security.protocol`'s values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl Dialer {
    /// This dialer with librdkafka-style (and Java client) properties
    /// applied, for configuration kept as `key=value` text:
    ///
    /// - `security.protocol`: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`
    ///   (any case). Default `PLAINTEXT`.
    /// - `sasl.mechanism` (or `sasl.mechanisms`): `PLAIN`, `SCRAM-SHA-256`,
    ///   `SCRAM-SHA-512`; with `sasl.username` and `sasl.password`.
    ///   OAUTHBEARER needs a token callback: set
    ///   [`sasl_mechanism`](Self::sasl_mechanism) to
    ///   [`SaslMechanism::oauthbearer`] afterwards.
    /// - `ssl.ca.location` (a PEM file; `probe` for the system's store),
    ///   `ssl.ca.pem`; `ssl.certificate.location` + `ssl.key.location`, or
    ///   `ssl.certificate.pem` + `ssl.key.pem`;
    ///   `ssl.endpoint.identification.algorithm` (`https`, the default, or
    ///   `none`); `enable.ssl.certificate.verification` (`true`, or `false`:
    ///   [`TlsConfig::danger_accept_invalid_certs_for_tests_only`](crate::TlsConfig::danger_accept_invalid_certs_for_tests_only)).
    /// - `client.id`, `socket.connection.setup.timeout.ms`,
    ///   `request.timeout.ms`, `receive.message.max.bytes`.
    ///
    /// Errors ([`ErrorKind::Config`]): an unknown key (so a typo is not
    /// silently ignored), a bad value, SASL or SSL settings that the
    /// protocol does not use (`sasl.username` with `SSL`, say), a SASL
    /// protocol without a mechanism, unreadable files.
    pub fn with_properties<'a>(
        mut self,
        properties: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Dialer> {
        let mut protocol = Protocol::Plaintext;
        let (mut mechanism, mut user, mut password) = (None, None, None);
        let mut ssl: Vec<(&str, &str)> = Vec::new();
        let ms = |key: &str, v: &str| -> Result<Duration> {
            v.trim()
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| Error::config(format!("{key}={v:?}: not a number of milliseconds")))
        };
        for (key, value) in properties {
            match key {
                "security.protocol" => {
                    protocol = match value.to_ascii_uppercase().as_str() {
                        "PLAINTEXT" => Protocol::Plaintext,
                        "SSL" => Protocol::Ssl,
                        "SASL_PLAINTEXT" => Protocol::SaslPlaintext,
                        "SASL_SSL" => Protocol::SaslSsl,
                        _ => {
                            return Err(Error::config(format!(
                                "security.protocol={value:?}: use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
                            )))
                        }
                    }
                }
                "sasl.mechanism" | "sasl.mechanisms" => mechanism = Some(value),
                "sasl.username" => user = Some(value),
                "sasl.password" => password = Some(value),
                "client.id" => self.client_id = value.to_owned(),
                "socket.connection.setup.timeout.ms" => self.timeout = ms(key, value)?,
                "request.timeout.ms" => self.request_timeout = ms(key, value)?,
                "receive.message.max.bytes" => {
                    self.max_frame_size = value.trim().parse().map_err(|_| {
                        Error::config(format!("{key}={value:?}: not a number of bytes"))
                    })?
                }
                k if k.starts_with("ssl.") || k == "enable.ssl.certificate.verification" => {
                    ssl.push((k, value))
                }
                _ => {
                    return Err(Error::config(format!(
                        "unknown dialer property {key:?} (see Dialer::with_properties for those microkafka reads)"
                    )))
                }
            }
        }
        let uses_sasl = matches!(protocol, Protocol::SaslPlaintext | Protocol::SaslSsl);
        let uses_tls = matches!(protocol, Protocol::Ssl | Protocol::SaslSsl);
        if !uses_sasl && (mechanism.is_some() || user.is_some() || password.is_some()) {
            return Err(Error::config(format!(
                "sasl.* properties are set but security.protocol is {protocol:?}: use SASL_PLAINTEXT or SASL_SSL"
            )));
        }
        if !uses_tls && !ssl.is_empty() {
            return Err(Error::config(format!(
                "{} is set but security.protocol is {protocol:?}: use SSL or SASL_SSL",
                ssl[0].0
            )));
        }
        self.sasl_mechanism = if uses_sasl {
            let Some(mechanism) = mechanism else {
                return Err(Error::config(
                    "security.protocol is SASL_*: set sasl.mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)",
                ));
            };
            let (Some(user), Some(password)) = (user, password) else {
                return Err(Error::config(format!(
                    "sasl.mechanism {mechanism}: set sasl.username and sasl.password"
                )));
            };
            Some(SaslMechanism::from_name(mechanism, user, password)?)
        } else {
            None
        };
        self.tls = if uses_tls {
            Some(tls_from(&ssl)?)
        } else {
            None
        };
        Ok(self)
    }
}

#[cfg(feature = "tls")]
fn tls_from(ssl: &[(&str, &str)]) -> Result<Arc<dyn TlsConnector>> {
    use crate::tls::TlsConfig;
    let mut config = TlsConfig::default();
    let (mut cert, mut key) = (None, None);
    let read = |what: &str, path: &str| {
        std::fs::read(path).map_err(|e| Error::config(format!("{what} {path}: {e}")))
    };
    let flag = |key: &str, v: &str| match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Error::config(format!("{key}={v:?}: use true or false"))),
    };
    for &(k, v) in ssl {
        match k {
            "ssl.ca.location" if v == "probe" => {}
            "ssl.ca.location" => config = config.with_ca_pem(read(k, v)?),
            "ssl.ca.pem" => config = config.with_ca_pem(v),
            "ssl.certificate.location" => cert = Some(read(k, v)?),
            "ssl.certificate.pem" => cert = Some(v.as_bytes().to_vec()),
            "ssl.key.location" => key = Some(read(k, v)?),
            "ssl.key.pem" => key = Some(v.as_bytes().to_vec()),
            "ssl.endpoint.identification.algorithm" => {
                config.verify_hostname = match v.to_ascii_lowercase().as_str() {
                    "https" => true,
                    "none" | "" => false,
                    _ => {
                        return Err(Error::config(format!("{k}={v:?}: use https or none")));
                    }
                }
            }
            "enable.ssl.certificate.verification" => {
                config.danger_accept_invalid_certs_for_tests_only = !flag(k, v)?;
            }
            _ => {
                return Err(Error::config(format!(
                    "unknown or unsupported TLS property {k:?} (microkafka reads ssl.ca.location, ssl.ca.pem, ssl.certificate.location, ssl.key.location, ssl.certificate.pem, ssl.key.pem, ssl.endpoint.identification.algorithm, enable.ssl.certificate.verification)"
                )))
            }
        }
    }
    match (cert, key) {
        (Some(c), Some(k)) => config = config.with_client_cert_pem(c, k),
        (None, None) => {}
        _ => {
            return Err(Error::config(
                "a client certificate needs both ssl.certificate.* and ssl.key.*",
            ))
        }
    }
    config.connector()
}

#[cfg(not(feature = "tls"))]
fn tls_from(_ssl: &[(&str, &str)]) -> Result<Arc<dyn TlsConnector>> {
    Err(Error::config(
        "security.protocol SSL/SASL_SSL: microkafka-std was built without its `tls` feature; enable it, or set Dialer::tls to a TlsConnector of your own",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_error(r: Result<Dialer>) -> String {
        match r {
            Err(e) if matches!(e.kind(), ErrorKind::Config(_)) => e.to_string(),
            Err(e) => panic!("not a config error: {e:?}"),
            Ok(d) => panic!("accepted: {d:?}"),
        }
    }

    #[test]
    fn properties_map_to_the_fields() {
        let d = Dialer::default()
            .with_properties([
                ("security.protocol", "sasl_plaintext"),
                ("sasl.mechanism", "SCRAM-SHA-512"),
                ("sasl.username", "alice"),
                ("sasl.password", "secret"),
                ("client.id", "billing"),
                ("socket.connection.setup.timeout.ms", "2500"),
                ("request.timeout.ms", "7000"),
                ("receive.message.max.bytes", "1048576"),
            ])
            .unwrap();
        assert_eq!(d.sasl_mechanism.as_ref().unwrap().name(), "SCRAM-SHA-512");
        assert!(d.tls.is_none());
        assert_eq!(d.client_id, "billing");
        assert_eq!(d.timeout, Duration::from_millis(2500));
        assert_eq!(d.request_timeout, Duration::from_secs(7));
        assert_eq!(d.max_frame_size, 1 << 20);
        assert!(!format!("{d:?}").contains("secret"), "{d:?}");

        let d = Dialer::default()
            .with_properties([("security.protocol", "PLAINTEXT")])
            .unwrap();
        assert!(d.tls.is_none() && d.sasl_mechanism.is_none());
    }

    #[cfg(feature = "tls")]
    #[test]
    fn tls_properties_build_a_connector() {
        let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let d = Dialer::default()
            .with_properties([
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanisms", "PLAIN"),
                ("sasl.username", "alice"),
                ("sasl.password", "secret"),
                ("ssl.ca.pem", ca.cert.pem().as_str()),
                ("ssl.certificate.pem", ca.cert.pem().as_str()),
                ("ssl.key.pem", ca.signing_key.serialize_pem().as_str()),
                ("ssl.endpoint.identification.algorithm", "none"),
            ])
            .unwrap();
        assert!(d.tls.is_some());
        assert_eq!(d.sasl_mechanism.unwrap().name(), "PLAIN");
        let d = Dialer::default()
            .with_properties([
                ("security.protocol", "SSL"),
                ("enable.ssl.certificate.verification", "false"),
            ])
            .unwrap();
        assert!(d.tls.is_some() && d.sasl_mechanism.is_none());
        let e = config_error(Dialer::default().with_properties([
            ("security.protocol", "SSL"),
            ("ssl.ca.location", "/nonexistent/ca.pem"),
        ]));
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        let e = config_error(
            Dialer::default().with_properties([("security.protocol", "SSL"), ("ssl.key.pem", "x")]),
        );
        assert!(e.contains("both"), "{e}");
        let e = config_error(Dialer::default().with_properties([
            ("security.protocol", "SSL"),
            ("ssl.keystore.location", "x.p12"),
        ]));
        assert!(e.contains("ssl.keystore.location"), "{e}");
    }

    #[test]
    fn inconsistent_properties_are_refused() {
        for (props, says) in [
            (vec![("security.protocol", "TLS")], "security.protocol"),
            (
                vec![("bootstrap.servers", "x:9092")],
                "unknown dialer property",
            ),
            (
                vec![("sasl.username", "alice")],
                "SASL_PLAINTEXT or SASL_SSL",
            ),
            (vec![("ssl.ca.location", "ca.pem")], "SSL or SASL_SSL"),
            (
                vec![("security.protocol", "SASL_SSL")],
                "set sasl.mechanism",
            ),
            (
                vec![
                    ("security.protocol", "SASL_PLAINTEXT"),
                    ("sasl.mechanism", "PLAIN"),
                ],
                "sasl.username and sasl.password",
            ),
            (
                vec![
                    ("security.protocol", "SASL_PLAINTEXT"),
                    ("sasl.mechanism", "GSSAPI"),
                    ("sasl.username", "a"),
                    ("sasl.password", "b"),
                ],
                "GSSAPI",
            ),
            (vec![("request.timeout.ms", "soon")], "milliseconds"),
        ] {
            let e = config_error(Dialer::default().with_properties(props.clone()));
            assert!(e.contains(says), "{props:?}: {e}");
        }
    }
}
