//! [`Dialer`]: how connections are made (kafka-go's `Dialer`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use microkafka_core::protocol::frame::DEFAULT_MAX_FRAME_SIZE;
use microkafka_core::protocol::messages::{
    MetadataRequest, MetadataRequestTopic, MetadataResponse,
};
use microkafka_core::wire::Array;

use crate::broker::BrokerConn;
use crate::conn::Conn;
use crate::error::{BrokerRef, Error, ErrorKind, Result};
use crate::metadata::{Broker, Partition, Snapshot};
use crate::transport::{dial_tcp, host_of, Stream, TlsConnector};

/// The default client id sent in every request header.
pub const DEFAULT_CLIENT_ID: &str = "microkafka";

/// How connections to brokers are made: timeouts, keep-alive, TLS, client id.
///
/// Every field has a usable default (`Dialer::default()`); a zero duration
/// means "no limit" (or "off" for keep-alive), as in kafka-go.
///
/// ```no_run
/// # async fn demo() -> microkafka_std::Result<()> {
/// use microkafka_std::Dialer;
/// let dialer = Dialer { client_id: "billing".into(), ..Dialer::default() };
/// let mut conn = dialer.dial_leader("localhost:9092", "invoices", 0).await?;
/// let (first, last) = conn.read_offsets().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Dialer {
    /// Sent in every request header; brokers log it and quotas use it.
    /// Default `"microkafka"`. Empty sends a null client id. At most 64 bytes.
    pub client_id: String,
    /// Limit for resolving, connecting (each address of a name in turn),
    /// the TLS handshake and the ApiVersions exchange together. Default
    /// 10 s. Zero: no limit.
    pub timeout: Duration,
    /// TCP keep-alive: probes start after this much idleness. Default 30 s
    /// (kafka-go inherits Go's 15 s; Kafka brokers close idle connections
    /// after 10 min, so either keeps a quiet connection known-alive). Zero:
    /// keep-alive off.
    pub keep_alive: Duration,
    /// TLS: when set, every connection runs this handshake after TCP
    /// connects. Default `None` (plaintext). See [`TlsConnector`].
    pub tls: Option<Arc<dyn TlsConnector>>,
    /// Largest response frame accepted; a larger one closes the connection
    /// (the stream cannot be trusted). Default 100 MiB (Kafka's
    /// `socket.request.max.bytes`). Zero: the default.
    pub max_frame_size: usize,
    /// Limit for each request on a [`Conn`] without a deadline of its own,
    /// and for metadata and admin requests. Default 30 s. Zero: no limit.
    pub request_timeout: Duration,
}

impl Default for Dialer {
    fn default() -> Self {
        Dialer {
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(30),
            tls: None,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            request_timeout: Duration::from_secs(30),
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
    /// Connects to the broker at `addr` (`host:port`).
    pub async fn dial(&self, addr: &str) -> Result<Conn> {
        let conn = self.connect(addr, -1).await?;
        Ok(Conn::new(Arc::new(conn), self.clone()))
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
        let mut conn = Conn::new(Arc::new(conn), self.clone());
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
        Ok(snapshot.partitions)
    }

    async fn metadata(&self, addr: &str, topics: &[&str]) -> Result<Snapshot> {
        let conn = self.connect(addr, -1).await?;
        let snapshot = metadata_request(&conn, Some(topics), false, self.request_timeout).await;
        conn.close(Error::new(ErrorKind::Closed));
        snapshot
    }

    /// Dials, runs TLS if configured, and negotiates API versions.
    pub(crate) async fn connect(&self, addr: &str, node_id: i32) -> Result<BrokerConn> {
        let broker = BrokerRef {
            id: node_id,
            addr: addr.to_owned(),
        };
        let attempt = async {
            let tcp = dial_tcp(addr, Duration::ZERO, self.keep_alive).await?;
            let stream = match &self.tls {
                None => Stream::Tcp(tcp),
                Some(tls) => Stream::Tls(tls.connect(host_of(addr), tcp).await?),
            };
            let client_id = (!self.client_id.is_empty()).then_some(self.client_id.as_str());
            let max_frame = if self.max_frame_size == 0 {
                DEFAULT_MAX_FRAME_SIZE
            } else {
                self.max_frame_size
            };
            BrokerConn::connect(stream, broker.clone(), client_id, max_frame).await
        };
        let result = if self.timeout.is_zero() {
            attempt.await
        } else {
            tokio::time::timeout(self.timeout, attempt)
                .await
                .unwrap_or_else(|_| Err(Error::new(ErrorKind::Timeout)))
        };
        result.map_err(|e| e.with_broker(&broker))
    }
}

/// Sends a Metadata request for `topics` (`None`: every topic).
pub(crate) async fn metadata_request(
    conn: &BrokerConn,
    topics: Option<&[&str]>,
    allow_auto_topic_creation: bool,
    timeout: Duration,
) -> Result<Snapshot> {
    let wanted: Vec<MetadataRequestTopic<'_>> = topics
        .unwrap_or_default()
        .iter()
        .map(|t| MetadataRequestTopic {
            name: Some(t),
            ..Default::default()
        })
        .collect();
    let request = MetadataRequest {
        topics: topics.map(|_| Array::new(&wanted)),
        allow_auto_topic_creation,
        ..Default::default()
    };
    let response = conn.request(&request, timeout).await?;
    let decoded: MetadataResponse<'_> = response.decode()?;
    Ok(Snapshot::from_response(&decoded))
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
    snapshot
        .partitions
        .iter()
        .find(|p| p.topic == topic && p.id == partition)
        .cloned()
        .ok_or_else(|| {
            Error::new(ErrorKind::NotFound("partition")).with_partition(topic, partition)
        })
}
