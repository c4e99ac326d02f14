//! What the producer and the consumer share: a pool of broker connections,
//! the topic's metadata (core's [`MetadataCache`]), bootstrapping, leader
//! lookup, and the request and response buffers.

use embassy_net::tcp::TcpSocket;
use embassy_net::IpEndpoint;
use embassy_time::Duration;
use heapless::String;
use microkafka_core::client::{Connection, MetadataCache};
use microkafka_core::protocol::fixed::{self, MetadataV4};
use microkafka_core::protocol::{ApiKey, Request};
use microkafka_core::wire::Writer;
use microkafka_core::ErrorCode;

use crate::connection::BrokerConnection;
use crate::error::{Error, ErrorKind, Result};
use crate::fmt::{debug, warning};
use crate::resolve::Resolve;

/// Bytes of the buffer requests are encoded in (Produce requests carry their
/// records separately, straight from the batch buffer). It bounds the client
/// id plus the topic name to about 140 bytes.
pub const REQUEST_BUFFER_LEN: usize = 256;

/// Longest broker host name kept in the metadata tables.
pub const MAX_HOST_LEN: usize = 64;

/// Settings the producer and the consumer share.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClusterConfig<'a> {
    pub(crate) brokers: &'a [&'a str],
    pub(crate) topic: &'a str,
    pub(crate) client_id: Option<&'a str>,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
}

/// Broker connections and what is known of the cluster.
pub(crate) struct Cluster<'a, R, const CONNS: usize, const BROKERS: usize, const PARTITIONS: usize>
{
    pub(crate) conns: heapless::Vec<BrokerConnection<'a>, CONNS>,
    pub(crate) resolver: R,
    pub(crate) metadata: MetadataCache<BROKERS, PARTITIONS, MAX_HOST_LEN>,
    pub(crate) head: [u8; REQUEST_BUFFER_LEN],
    pub(crate) rx: &'a mut [u8],
    pub(crate) config: ClusterConfig<'a>,
    uses: u32,
}

impl<'a, R: Resolve, const CONNS: usize, const BROKERS: usize, const PARTITIONS: usize>
    Cluster<'a, R, CONNS, BROKERS, PARTITIONS>
{
    pub(crate) fn new(
        sockets: [TcpSocket<'a>; CONNS],
        resolver: R,
        metadata: MetadataCache<BROKERS, PARTITIONS, MAX_HOST_LEN>,
        rx: &'a mut [u8],
        config: ClusterConfig<'a>,
    ) -> Result<Self> {
        if CONNS == 0 {
            return Err(microkafka_core::Error::TooLarge {
                what: "broker connections (at least one socket is needed)",
                size: 0,
                limit: 0,
            }
            .into());
        }
        let mut conns = heapless::Vec::new();
        for socket in sockets {
            // Cannot fail: CONNS sockets into a CONNS-slot vector.
            let _ = conns.push(BrokerConnection::new(socket));
        }
        Ok(Cluster {
            conns,
            resolver,
            metadata,
            head: [0; REQUEST_BUFFER_LEN],
            rx,
            config,
            uses: 0,
        })
    }

    /// Closes every connection, delivering what was written first.
    pub(crate) async fn close(&mut self) {
        let timeout = self.config.request_timeout;
        for c in self.conns.iter_mut() {
            c.shutdown(timeout).await;
        }
    }

    /// A connection to the broker at `host:port` (node id `node`, negative
    /// for a bootstrap address): one already open to the same endpoint, or
    /// the least recently used one, reconnected.
    pub(crate) async fn connect_to(&mut self, host: &str, port: u16, node: i32) -> Result<usize> {
        let ip = self
            .resolver
            .resolve(host)
            .await
            .map_err(|kind| Error::new(kind).with_broker(node))?;
        let endpoint = IpEndpoint::new(ip, port);
        self.uses = self.uses.wrapping_add(1);
        if let Some(i) = self
            .conns
            .iter()
            .position(|c| c.endpoint() == Some(endpoint))
        {
            let c = &mut self.conns[i];
            if node >= 0 {
                c.set_node(node);
            }
            c.last_used = self.uses;
            return Ok(i);
        }
        let i = (0..self.conns.len())
            .min_by_key(|&i| {
                let c = &self.conns[i];
                (c.is_ready(), c.last_used)
            })
            .unwrap_or(0);
        debug!(
            "microkafka: connecting to broker {:?} on slot {:?}",
            node, i
        );
        let c = &mut self.conns[i];
        c.last_used = self.uses;
        c.connect(
            endpoint,
            node,
            self.config.client_id,
            self.config.connect_timeout,
            &mut self.head,
            self.rx,
        )
        .await?;
        Ok(i)
    }

    /// A connection to `partition`'s leader, refreshing metadata when the
    /// leader is not known.
    pub(crate) async fn leader_connection(&mut self, partition: i32) -> Result<usize> {
        for refreshed in [false, true] {
            if refreshed || !self.metadata.is_known() {
                self.refresh_metadata().await?;
            }
            let Some(leader) = self.metadata.leader(partition) else {
                continue;
            };
            let (node, port) = (leader.node_id, leader.port);
            let host: String<MAX_HOST_LEN> = leader.host.clone();
            return self
                .connect_to(&host, port, node)
                .await
                .map_err(|e| e.with_partition(partition));
        }
        Err(Error::new(ErrorKind::NoLeader)
            .with_api(ApiKey::Metadata)
            .with_partition(partition))
    }

    /// Any live connection: an open one, else one made by asking the known
    /// and bootstrap brokers for metadata.
    pub(crate) async fn any_connection(&mut self) -> Result<usize> {
        if let Some(i) = self.conns.iter().position(BrokerConnection::is_ready) {
            return Ok(i);
        }
        self.refresh_metadata().await?;
        self.conns
            .iter()
            .position(BrokerConnection::is_ready)
            .ok_or(Error::new(ErrorKind::NoBroker))
    }

    /// Sends `request` on connection `i` at the highest version agreed; the
    /// response borrows the response buffer.
    pub(crate) async fn request<'q, Q: Request<'q>>(
        &mut self,
        i: usize,
        request: &Q,
    ) -> Result<Q::Response<'_>> {
        let timeout = self.config.request_timeout;
        let conn = self.conns.get_mut(i).ok_or(ErrorKind::ConnectionLost)?;
        conn.request(&mut self.head, self.rx, request, None, timeout)
            .await
    }

    /// Sends a request whose body `body` writes at a fixed `version` on
    /// connection `i`; returns the answer's body (in the response buffer).
    pub(crate) async fn request_fixed(
        &mut self,
        i: usize,
        api_version: (ApiKey, i16),
        body: &mut dyn FnMut(&mut Writer<'_>) -> microkafka_core::Result<()>,
    ) -> Result<&[u8]> {
        let timeout = self.config.request_timeout;
        let conn = self.conns.get_mut(i).ok_or(ErrorKind::ConnectionLost)?;
        let (api, version) = api_version;
        let mut encode = |state: &mut Connection<1>, head: &mut [u8]| {
            state.encode_with(head, api, version, true, body)
        };
        let received = conn
            .exchange(&mut self.head, self.rx, api, timeout, &mut encode)
            .await?;
        Ok(received.body)
    }

    /// Asks a broker for the topic's metadata: an open connection first,
    /// then every known broker, then the bootstrap list. Returns the topic's
    /// error code (`NONE` when its partitions are known).
    pub(crate) async fn refresh_metadata(&mut self) -> Result<ErrorCode> {
        let known = self.metadata.brokers().len();
        let bootstrap = self.config.brokers.len();
        let mut last = Error::new(ErrorKind::NoBroker).with_api(ApiKey::Metadata);
        // Candidate 0: any open connection; then known brokers; then bootstrap.
        for candidate in 0..=known + bootstrap {
            let ready = self.conns.iter().position(BrokerConnection::is_ready);
            let conn = match (candidate, ready) {
                (0, Some(i)) => i,
                (0, None) => continue,
                _ => {
                    let Some((host, port, node)) = self.candidate(candidate - 1) else {
                        continue;
                    };
                    match self.connect_to(&host, port, node).await {
                        Ok(i) => i,
                        Err(e) => {
                            last = e;
                            continue;
                        }
                    }
                }
            };
            match self.metadata_from(conn).await {
                Ok(code) => return Ok(code),
                Err(e) => {
                    warning!("microkafka: metadata from broker failed: {:?}", e);
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// Where broker candidate `k` is: known brokers first, then the
    /// bootstrap list (node ids -1, -2...).
    fn candidate(&self, k: usize) -> Option<(String<MAX_HOST_LEN>, u16, i32)> {
        let known = self.metadata.brokers();
        if let Some(b) = known.get(k) {
            return Some((b.host.clone(), b.port, b.node_id));
        }
        let k = k - known.len();
        let (host, port) = split_host_port(self.config.brokers.get(k)?)?;
        Some((String::try_from(host).ok()?, port, -1 - k as i32))
    }

    async fn metadata_from(&mut self, i: usize) -> Result<ErrorCode> {
        let topic = self.config.topic;
        let node = self.conns[i].node();
        let timeout = self.config.request_timeout;
        let mut encode = |state: &mut Connection<1>, head: &mut [u8]| {
            let body = &mut |w: &mut Writer<'_>| fixed::encode_metadata_request(w, topic);
            state.encode_with(head, ApiKey::Metadata, fixed::METADATA, true, body)
        };
        let api = ApiKey::Metadata;
        let received = self.conns[i]
            .exchange(&mut self.head, self.rx, api, timeout, &mut encode)
            .await?;
        let body = received.body;
        let code = MetadataV4::decode(body, topic)
            .and_then(|response| self.metadata.update_fixed(&response))
            .map_err(|e| Error::from(e).with_api(ApiKey::Metadata).with_broker(node))?;
        debug!(
            "microkafka: metadata: {:?} partitions, {:?} brokers",
            self.metadata.partitions().len(),
            self.metadata.brokers().len()
        );
        Ok(code)
    }
}

/// Splits `host:port`.
fn split_host_port(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    Some((host, port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::split_host_port;

    #[test]
    fn bootstrap_addresses_split() {
        assert_eq!(split_host_port("10.0.0.1:9092"), Some(("10.0.0.1", 9092)));
        assert_eq!(split_host_port("kafka:19092"), Some(("kafka", 19092)));
        assert_eq!(split_host_port("kafka"), None);
        assert_eq!(split_host_port("kafka:x"), None);
    }
}
