//! Cluster configuration: every knob with its default and what zero means.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use microkafka_core::protocol::frame::DEFAULT_MAX_FRAME_SIZE;

use crate::limits::Limits;
use crate::security::Security;

/// How the mock cluster is laid out and behaves. `Config::default()` is a
/// three-broker cluster on `127.0.0.1` with free ports, auto-created topics of
/// one partition, no authentication, and the API versions of a Kafka 3.x broker.
#[derive(Clone, Debug)]
pub struct Config {
    /// Number of brokers (node ids `1..=brokers`). Default 3. Zero is treated as 1.
    pub brokers: usize,
    /// Where each broker listens. Broker `i` (0-based) uses `listen[i]` if given,
    /// otherwise the IP of `listen[0]` (or `127.0.0.1`) with port 0 (the OS picks a
    /// free port). Default: empty, so every broker gets a free port on `127.0.0.1`.
    pub listen: Vec<SocketAddr>,
    /// The host name brokers advertise in Metadata and FindCoordinator. Default
    /// `None`: the listener's IP (`127.0.0.1` when listening on `0.0.0.0`).
    pub advertised_host: Option<String>,
    /// The cluster id returned in Metadata. Default `"microkafka-mock"`.
    pub cluster_id: String,
    /// Create a topic when a client asks Metadata for one that does not exist (and
    /// the request allows it), as Kafka's `auto.create.topics.enable`. Default `true`.
    pub auto_create_topics: bool,
    /// Partitions of auto-created topics and of CreateTopics asking for -1
    /// (`num.partitions`). Default 1. Zero is treated as 1.
    pub default_partitions: i32,
    /// Replication factor used when a topic is created with -1
    /// (`default.replication.factor`), capped at the broker count. Default 3.
    pub default_replication_factor: i16,
    /// Bytes of log kept per partition before the oldest segments are dropped
    /// (`retention.bytes`), so memory stays bounded. Default 64 MiB. Zero keeps
    /// only the active segment.
    pub retention_bytes: usize,
    /// Size at which a partition's active segment is rolled (`segment.bytes`).
    /// Retention drops whole segments, as Kafka does. Default 1 MiB. Zero is treated as 1 byte.
    pub segment_bytes: usize,
    /// Largest request frame accepted (`socket.request.max.bytes`); a larger one
    /// closes the connection. Default 100 MiB.
    pub max_frame_size: usize,
    /// The listeners' security: protocol (`PLAINTEXT`, `SSL`,
    /// `SASL_PLAINTEXT`, `SASL_SSL`), TLS certificates and client
    /// certificates, SASL mechanisms and users, session lifetime. Every
    /// broker of the cluster has the same. Default: `PLAINTEXT`.
    pub security: Security,
    /// SASL/PLAIN users, the shorthand kept from before [`security`](Self::security):
    /// when non-empty, PLAIN is enabled with these users (added to
    /// `security.sasl.users`) and the protocol gains SASL (`PLAINTEXT`
    /// becomes `SASL_PLAINTEXT`, `SSL` becomes `SASL_SSL`), so every
    /// connection must authenticate before any API other than ApiVersions,
    /// SaslHandshake and SaslAuthenticate. Default: empty.
    pub sasl_users: Vec<SaslUser>,
    /// Restrict API versions to what Kafka 4.x accepts (KIP-896: Produce >= 3,
    /// Fetch >= 4, ...), to test a client's 4.x readiness: other versions close
    /// the connection, as Kafka 4.x does. Default `false`: the ranges of a
    /// Kafka 3.x broker, legacy message formats included.
    pub kafka4: bool,
    /// Lowest `session.timeout.ms` a JoinGroup may ask for
    /// (`group.min.session.timeout.ms`). Default 6 s, as Kafka.
    pub group_min_session_timeout: Duration,
    /// Highest `session.timeout.ms` a JoinGroup may ask for
    /// (`group.max.session.timeout.ms`). Default 30 min, as Kafka.
    pub group_max_session_timeout: Duration,
    /// How long the first rebalance of an empty group waits for more members
    /// (`group.initial.rebalance.delay.ms`). Default zero: tests should not
    /// wait 3 s as a production Kafka does.
    pub group_initial_rebalance_delay: Duration,
    /// Requests kept for [`requests`](crate::MockCluster::requests) assertions,
    /// oldest dropped first. Default 10 000. Zero disables recording.
    pub record_requests: usize,
    /// Seed for topic ids and member ids, for reproducible runs. Default
    /// `None`: seeded from the clock.
    pub seed: Option<u64>,
    /// Bounds on what clients can make the broker hold (connections, topics,
    /// groups, retained bytes, ...). Default: [`Limits::default`].
    pub limits: Limits,
}

/// A SASL user name and password (PLAIN compares the password; SCRAM
/// credentials are derived from it). `Debug` does not show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslUser {
    /// The user name (PLAIN `authcid`).
    pub user: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for SaslUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslUser")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl SaslUser {
    /// A user with a password.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        SaslUser {
            user: user.into(),
            password: password.into(),
        }
    }

    /// Parses `user:password` (the binary's `--sasl-user` form).
    pub fn parse(s: &str) -> Option<Self> {
        let (user, password) = s.split_once(':')?;
        (!user.is_empty()).then(|| SaslUser::new(user, password))
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            brokers: 3,
            listen: Vec::new(),
            advertised_host: None,
            cluster_id: "microkafka-mock".to_owned(),
            auto_create_topics: true,
            default_partitions: 1,
            default_replication_factor: 3,
            retention_bytes: 64 << 20,
            segment_bytes: 1 << 20,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            security: Security::default(),
            sasl_users: Vec::new(),
            kafka4: false,
            group_min_session_timeout: Duration::from_secs(6),
            group_max_session_timeout: Duration::from_secs(30 * 60),
            group_initial_rebalance_delay: Duration::ZERO,
            record_requests: 10_000,
            seed: None,
            limits: Limits::default(),
        }
    }
}

impl Config {
    /// The default configuration with `n` brokers.
    pub fn with_brokers(n: usize) -> Self {
        Config {
            brokers: n,
            ..Config::default()
        }
    }

    /// The number of brokers, at least one.
    pub(crate) fn broker_count(&self) -> usize {
        self.brokers.max(1)
    }

    /// The address broker `index` (0-based) binds.
    pub(crate) fn listen_addr(&self, index: usize) -> SocketAddr {
        match self.listen.get(index) {
            Some(addr) => *addr,
            None => {
                let ip = self
                    .listen
                    .first()
                    .map_or(Ipv4Addr::LOCALHOST.into(), |a| a.ip());
                SocketAddr::new(ip, 0)
            }
        }
    }
}
