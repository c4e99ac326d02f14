//! What the producer and the consumers share: a pool of broker connections,
//! the topic's metadata (core's [`MetadataCache`]), the request and
//! response buffers, and the procedures every operation is made of:
//! connecting to a broker, refreshing metadata, finding a partition's
//! leader. Each procedure is a small synchronous state machine polled by a
//! [`Plan`] (see [`crate::drive`]): polled, it names the next I/O step or
//! gives its result; the I/O's outcome goes back to it through
//! [`Cluster::complete`].

use embassy_net::tcp::TcpSocket;
use embassy_net::IpEndpoint;
use embassy_time::Duration;
use heapless::String;
use microkafka_core::client::{BrokerAddress, MetadataCache, Received};
use microkafka_core::group::GroupRequest;
use microkafka_core::protocol::fixed::{self, MetadataV4};
use microkafka_core::protocol::{ApiKey, Request};
use microkafka_core::wire::Writer;
use microkafka_core::ErrorCode;

use crate::connection::BrokerConnection;
use crate::drive::{Io, Outcome, Plan, Progress, Step};
use crate::error::{Error, ErrorKind, Failed, Fallible, Result};
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

/// The broker a connection is being made to.
pub(crate) struct Target {
    pub(crate) host: String<MAX_HOST_LEN>,
    port: u16,
    /// Its node id (negative for a bootstrap address).
    node: i32,
}

impl Target {
    /// A broker from metadata.
    fn of(broker: &BrokerAddress<MAX_HOST_LEN>) -> Self {
        Target {
            host: broker.host.clone(),
            port: broker.port,
            node: broker.node_id,
        }
    }
}

/// Connecting to [`Cluster::target`]: resolve, reuse or open, negotiate.
#[derive(Clone, Copy)]
enum Connecting {
    Idle,
    Resolving,
    Opening { conn: usize, endpoint: IpEndpoint },
    Negotiating { conn: usize },
    Finished(Fallible<usize>),
}

/// Asking brokers for the topic's metadata: candidate 0 is any open
/// connection, then the known brokers, then the bootstrap list. The error
/// slot keeps the most recent failure (reported when every candidate failed).
#[derive(Clone, Copy)]
enum Refreshing {
    Idle,
    Trying { candidate: usize, connecting: bool },
    Asking { conn: usize, candidate: usize },
    Finished(Fallible<ErrorCode>),
}

/// Finding a partition's leader and connecting to it: metadata is refreshed
/// when unknown, and once more when it names no leader.
#[derive(Clone, Copy)]
enum Leading {
    Idle,
    Refreshing { again: bool },
    Lookup { again: bool },
    Connecting,
    Finished(Fallible<usize>),
}

/// Whose I/O is in flight: its outcome goes there.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Owner {
    Plan,
    Connect,
    Refresh,
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
    pub(crate) target: Target,
    /// The last failure: internal results say [`Failed`] and leave it here.
    pub(crate) error: Error,
    connecting: Connecting,
    refreshing: Refreshing,
    leading: Leading,
    owner: Owner,
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
                what: microkafka_core::Limit::Connections,
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
            target: Target {
                host: String::new(),
                port: 0,
                node: -1,
            },
            error: Error::new(ErrorKind::NoBroker),
            connecting: Connecting::Idle,
            refreshing: Refreshing::Idle,
            leading: Leading::Idle,
            owner: Owner::Plan,
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

    /// Forgets procedures left half-way (a cancelled drive).
    pub(crate) fn reset_procedures(&mut self) {
        self.connecting = Connecting::Idle;
        self.refreshing = Refreshing::Idle;
        self.leading = Leading::Idle;
        self.owner = Owner::Plan;
    }

    /// Records `error` in the error slot.
    pub(crate) fn fail(&mut self, error: impl Into<Error>) -> Failed {
        self.record(error.into())
    }

    #[inline(never)]
    fn record(&mut self, error: Error) -> Failed {
        self.error = error;
        Failed
    }

    /// Records `error`, saying which request and broker failed.
    pub(crate) fn fail_at(&mut self, error: impl Into<Error>, api: ApiKey, node: i32) -> Failed {
        self.fail(error);
        self.error.add_context(Some(api), Some(node), None);
        Failed
    }

    /// Hands a performed step's outcome to the procedure that asked for it,
    /// or returns it for the plan.
    pub(crate) fn complete(&mut self, performed: Fallible<Outcome>) -> Option<Fallible<usize>> {
        match core::mem::replace(&mut self.owner, Owner::Plan) {
            Owner::Plan => Some(performed.map(Outcome::len)),
            Owner::Connect => {
                self.connected(performed);
                None
            }
            Owner::Refresh => {
                self.refreshed(performed);
                None
            }
        }
    }

    /// The answer of `len` bytes in the response buffer to the request sent
    /// on `conn`, matched to it (an error drops the connection).
    pub(crate) fn received(&mut self, conn: usize, len: usize) -> Result<Received<'_>> {
        let frame = self.rx.get(..len).ok_or(ErrorKind::ConnectionLost)?;
        let c = self.conns.get_mut(conn).ok_or(ErrorKind::ConnectionLost)?;
        c.received(frame)
    }

    /// Writes into the request buffer a request for connection `conn` whose
    /// body `body` writes at a fixed `version` (core's fixed-version
    /// codecs); returns its length. An error when `conn` is not negotiated.
    pub(crate) fn encode_fixed(
        &mut self,
        conn: usize,
        (api, version): (ApiKey, i16),
        answered: bool,
        body: &mut dyn FnMut(&mut Writer<'_>) -> microkafka_core::Result<()>,
    ) -> microkafka_core::Result<usize> {
        let state = self.conns.get_mut(conn).and_then(BrokerConnection::state);
        let state = state.ok_or(microkafka_core::Error::Malformed("not connected"))?;
        Ok(state
            .encode_with(&mut self.head, api, version, answered, body)?
            .len)
    }

    /// An exchange of the request in `head` on `conn` (answered, within the
    /// request timeout).
    pub(crate) fn exchange(&self, conn: usize, head: usize) -> Io<'static> {
        Io::Exchange {
            conn,
            head,
            tail: &[],
            answered: true,
            timeout: self.config.request_timeout,
        }
    }

    // --- connecting ---------------------------------------------------

    /// Starts connecting to the broker at `host:port` (node id `node`,
    /// negative for a bootstrap address); [`poll_connect`](Self::poll_connect)
    /// then drives it.
    pub(crate) fn start_connect(&mut self, host: &str, port: u16, node: i32) {
        self.connecting = match String::try_from(host) {
            Ok(host) => {
                self.target = Target { host, port, node };
                Connecting::Resolving
            }
            Err(_) => {
                let too_long = microkafka_core::Error::TooLarge {
                    what: microkafka_core::Limit::HostName,
                    size: host.len(),
                    limit: MAX_HOST_LEN,
                };
                self.fail(too_long);
                self.error.add_context(None, Some(node), None);
                Connecting::Finished(Err(Failed))
            }
        };
    }

    /// The connection started by [`start_connect`](Self::start_connect):
    /// one already open to the same address, or the least recently used
    /// slot, reconnected and negotiated.
    pub(crate) fn poll_connect(&mut self) -> Progress<Fallible<usize>> {
        let io = match self.connecting {
            Connecting::Idle => return Progress::Done(Err(self.fail(ErrorKind::NoBroker))),
            Connecting::Finished(result) => {
                self.connecting = Connecting::Idle;
                return Progress::Done(result);
            }
            Connecting::Resolving => Io::Resolve,
            Connecting::Opening { conn, endpoint } => Io::Open { conn, endpoint },
            Connecting::Negotiating { conn } => {
                let client_id = self.config.client_id;
                let Some(c) = self.conns.get_mut(conn) else {
                    return Progress::Done(Err(self.fail(ErrorKind::ConnectionLost)));
                };
                match c.start_negotiation(client_id, &mut self.head) {
                    Ok(len) => Io::Exchange {
                        conn,
                        head: len,
                        tail: &[],
                        answered: true,
                        timeout: self.config.connect_timeout,
                    },
                    Err(e) => {
                        c.disconnect();
                        self.connecting = Connecting::Idle;
                        let node = self.target.node;
                        return Progress::Done(Err(self.fail_at(e, ApiKey::ApiVersions, node)));
                    }
                }
            }
        };
        self.owner = Owner::Connect;
        Progress::Io(io)
    }

    /// Takes the outcome of a connecting step.
    fn connected(&mut self, performed: Fallible<Outcome>) {
        let node = self.target.node;
        let negotiated = match (self.connecting, performed) {
            (Connecting::Resolving, Ok(Outcome::Address(ip))) => {
                self.connecting = self.slot_for(IpEndpoint::new(ip, self.target.port));
                return;
            }
            (Connecting::Opening { conn, .. }, Ok(_)) => {
                self.connecting = Connecting::Negotiating { conn };
                return;
            }
            (Connecting::Negotiating { conn }, Ok(outcome)) => {
                let frame = self.rx.get(..outcome.len()).unwrap_or_default();
                match self.conns.get_mut(conn) {
                    Some(c) => match c.finish_negotiation(frame) {
                        Ok(()) => Ok(conn),
                        Err(e) => {
                            c.disconnect();
                            Err(self.fail(e))
                        }
                    },
                    None => Err(self.fail(ErrorKind::ConnectionLost)),
                }
            }
            (_, Ok(_)) => Err(self.fail(ErrorKind::ConnectionLost)),
            (_, Err(failed)) => Err(failed),
        };
        if negotiated.is_err() {
            let api = match self.connecting {
                Connecting::Resolving => None,
                _ => Some(ApiKey::ApiVersions),
            };
            self.error.add_context(api, Some(node), None);
        }
        self.connecting = Connecting::Finished(negotiated);
    }

    /// The slot to reach `endpoint` on: one already connected to it
    /// (finished), else the least recently used (to open).
    fn slot_for(&mut self, endpoint: IpEndpoint) -> Connecting {
        let node = self.target.node;
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
            return Connecting::Finished(Ok(i));
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
        c.set_node(node);
        Connecting::Opening { conn: i, endpoint }
    }

    // --- metadata -----------------------------------------------------

    /// Asks a broker for the topic's metadata: an open connection first,
    /// then every known broker, then the bootstrap list. Its result is the
    /// topic's error code (`NONE` when its partitions are known).
    pub(crate) fn poll_refresh(&mut self) -> Progress<Fallible<ErrorCode>> {
        loop {
            let (candidate, connecting) = match self.refreshing {
                Refreshing::Idle | Refreshing::Asking { .. } => {
                    self.fail(ErrorKind::NoBroker);
                    self.error.add_context(Some(ApiKey::Metadata), None, None);
                    (0, false)
                }
                Refreshing::Finished(result) => {
                    self.refreshing = Refreshing::Idle;
                    return Progress::Done(result);
                }
                Refreshing::Trying {
                    candidate,
                    connecting,
                } => (candidate, connecting),
            };
            let next = Refreshing::Trying {
                candidate: candidate + 1,
                connecting: false,
            };
            if candidate == 0 {
                self.refreshing = next;
                if let Some(i) = self.conns.iter().position(BrokerConnection::is_ready) {
                    if let Some(io) = self.ask_metadata(i, candidate) {
                        return Progress::Io(io);
                    }
                }
                continue;
            }
            if !connecting {
                let known = self.metadata.brokers().len();
                if candidate > known + self.config.brokers.len() {
                    self.refreshing = Refreshing::Finished(Err(Failed));
                    continue;
                }
                if !self.start_candidate(candidate - 1) {
                    self.refreshing = next;
                    continue;
                }
            }
            self.refreshing = Refreshing::Trying {
                candidate,
                connecting: true,
            };
            match self.poll_connect() {
                Progress::Io(io) => return Progress::Io(io),
                Progress::Done(Ok(i)) => {
                    self.refreshing = next;
                    if let Some(io) = self.ask_metadata(i, candidate) {
                        return Progress::Io(io);
                    }
                }
                Progress::Done(Err(Failed)) => self.refreshing = next,
            }
        }
    }

    /// Starts connecting to broker candidate `k`: known brokers first, then
    /// the bootstrap list (node ids -1, -2...). False when it has no usable
    /// address.
    fn start_candidate(&mut self, k: usize) -> bool {
        let known = self.metadata.brokers();
        if let Some(b) = known.get(k) {
            self.target = Target::of(b);
            self.connecting = Connecting::Resolving;
            return true;
        }
        let k = k - known.len();
        let Some((host, port)) = self.config.brokers.get(k).and_then(|a| split_host_port(a)) else {
            return false;
        };
        self.start_connect(host, port, -1 - k as i32);
        true
    }

    /// Writes the Metadata request for candidate `candidate` on `conn`.
    /// `None` (the candidate counted as failed) when it cannot be encoded.
    fn ask_metadata(&mut self, conn: usize, candidate: usize) -> Option<Io<'static>> {
        let topic = self.config.topic;
        let node = self.conns.get(conn)?.node();
        let body = &mut |w: &mut Writer<'_>| fixed::encode_metadata_request(w, topic);
        match self.encode_fixed(conn, (ApiKey::Metadata, fixed::METADATA), true, body) {
            Ok(len) => {
                self.refreshing = Refreshing::Asking { conn, candidate };
                self.owner = Owner::Refresh;
                Some(self.exchange(conn, len))
            }
            Err(e) => {
                self.fail_at(e, ApiKey::Metadata, node);
                None
            }
        }
    }

    /// Takes the answer to a Metadata request.
    fn refreshed(&mut self, performed: Fallible<Outcome>) {
        let Refreshing::Asking { conn, candidate } = self.refreshing else {
            return;
        };
        let topic = self.config.topic;
        let node = self.conns.get(conn).map_or(-1, BrokerConnection::node);
        let answer = performed.map(|outcome| -> Result<ErrorCode> {
            let frame = self.rx.get(..outcome.len()).unwrap_or_default();
            let c = self.conns.get_mut(conn).ok_or(ErrorKind::ConnectionLost)?;
            let received = c.received(frame)?;
            let response = MetadataV4::decode(received.body, topic)?;
            Ok(self.metadata.update_fixed(&response)?)
        });
        self.refreshing = match answer {
            Ok(Ok(code)) => {
                debug!(
                    "microkafka: metadata: {:?} partitions, {:?} brokers",
                    self.metadata.partitions().len(),
                    self.metadata.brokers().len()
                );
                Refreshing::Finished(Ok(code))
            }
            failed => {
                if let Ok(Err(e)) = failed {
                    self.fail(e);
                }
                self.error
                    .add_context(Some(ApiKey::Metadata), Some(node), None);
                warning!("microkafka: metadata from broker failed: {:?}", self.error);
                Refreshing::Trying {
                    candidate: candidate + 1,
                    connecting: false,
                }
            }
        };
    }

    // --- leaders ------------------------------------------------------

    /// The open connection to node `node` (a node id from metadata), marked used.
    fn ready_to(&mut self, node: i32) -> Option<usize> {
        let i = self
            .conns
            .iter()
            .position(|c| c.node() == node && node >= 0 && c.is_ready())?;
        self.uses = self.uses.wrapping_add(1);
        self.conns[i].last_used = self.uses;
        Some(i)
    }

    /// A connection to `partition`'s leader, refreshing metadata when the
    /// leader is not known.
    pub(crate) fn poll_leader(&mut self, partition: i32) -> Progress<Fallible<usize>> {
        loop {
            self.leading = match self.leading {
                Leading::Idle if self.metadata.is_known() => Leading::Lookup { again: false },
                Leading::Idle => Leading::Refreshing { again: false },
                Leading::Refreshing { again } => match self.poll_refresh() {
                    Progress::Io(io) => return Progress::Io(io),
                    Progress::Done(Ok(_)) => Leading::Lookup { again },
                    Progress::Done(Err(failed)) => Leading::Finished(Err(failed)),
                },
                Leading::Lookup { again } => {
                    let node = self.metadata.leader(partition).map(|l| l.node_id);
                    // Node ids name brokers for good: an open connection to
                    // the leader's node is reused without resolving again.
                    match (
                        node.and_then(|n| self.ready_to(n)),
                        self.metadata.leader(partition),
                    ) {
                        (Some(conn), _) => Leading::Finished(Ok(conn)),
                        (None, Some(leader)) => {
                            self.target = Target::of(leader);
                            self.connecting = Connecting::Resolving;
                            Leading::Connecting
                        }
                        (None, None) if !again => Leading::Refreshing { again: true },
                        (None, None) => {
                            self.fail(ErrorKind::NoLeader);
                            let api = Some(ApiKey::Metadata);
                            self.error.add_context(api, None, Some(partition));
                            Leading::Finished(Err(Failed))
                        }
                    }
                }
                Leading::Connecting => match self.poll_connect() {
                    Progress::Io(io) => return Progress::Io(io),
                    Progress::Done(result) => {
                        if result.is_err() {
                            self.error.add_context(None, None, Some(partition));
                        }
                        Leading::Finished(result)
                    }
                },
                Leading::Finished(result) => {
                    self.leading = Leading::Idle;
                    return Progress::Done(result);
                }
            };
        }
    }

    // --- for the consumers: one procedure or exchange per call ----------

    async fn errand(&mut self, errand: Errand<'_>) -> Result<usize> {
        let mut plan = ErrandPlan {
            errand,
            started: false,
            value: Err(Failed),
        };
        self.drive(&mut plan).await?;
        plan.value.map_err(|Failed| self.error)
    }

    /// A connection to `partition`'s leader (metadata refreshed as needed).
    pub(crate) async fn leader_connection(&mut self, partition: i32) -> Result<usize> {
        self.errand(Errand::Leader(partition)).await
    }

    /// Any live connection: an open one, else one made by asking the known
    /// and bootstrap brokers for metadata.
    pub(crate) async fn any_connection(&mut self) -> Result<usize> {
        self.errand(Errand::AnyConnection).await
    }

    /// A connection to the broker at `host:port` (node id `node`).
    pub(crate) async fn connect_to(&mut self, host: &str, port: u16, node: i32) -> Result<usize> {
        self.errand(Errand::Connect { host, port, node }).await
    }

    /// Refreshes the topic's metadata.
    pub(crate) async fn refresh_metadata(&mut self) -> Result<()> {
        self.errand(Errand::Refresh).await.map(drop)
    }

    /// Sends `request` on connection `i` at the highest version agreed; the
    /// response borrows the response buffer.
    pub(crate) async fn request<'q, Q: Request<'q>>(
        &mut self,
        i: usize,
        request: &Q,
    ) -> Result<Q::Response<'_>> {
        let timeout = self.config.request_timeout;
        self.request_at(i, request, None, timeout).await
    }

    /// Sends `request` on connection `i` at `version` (or the highest
    /// agreed when `None`), waiting up to `timeout` for the answer.
    pub(crate) async fn request_at<'q, Q: Request<'q>>(
        &mut self,
        i: usize,
        request: &Q,
        version: Option<i16>,
        timeout: Duration,
    ) -> Result<Q::Response<'_>> {
        let c = self.conns.get_mut(i).ok_or(ErrorKind::ConnectionLost)?;
        let node = c.node();
        let context = |e: Error| e.with_api(Q::API_KEY).with_broker(node);
        let state = c.state().ok_or(context(ErrorKind::ConnectionLost.into()))?;
        let sent = match version {
            Some(v) => state.encode_at(&mut self.head, request, v),
            None => state.encode(&mut self.head, request),
        };
        let head = sent.map_err(|e| context(e.into()))?.len;
        let exchange = Errand::Exchange {
            conn: i,
            head,
            tail: &[],
            timeout,
        };
        let len = self.errand(exchange).await.map_err(context)?;
        let received = self.received(i, len).map_err(context)?;
        received
            .decode::<Q::Response<'_>>()
            .map_err(|e| context(e.into()))
    }

    /// Sends a consumer-group request (encoded into `frame` at the version
    /// agreed with this broker) and returns its matched response, which
    /// borrows the response buffer, for core's group
    /// [`Member`](microkafka_core::group::Member).
    pub(crate) async fn group_request(
        &mut self,
        i: usize,
        frame: &mut [u8],
        request: &GroupRequest<'_>,
        timeout: Duration,
    ) -> Result<Received<'_>> {
        let c = self.conns.get_mut(i).ok_or(ErrorKind::ConnectionLost)?;
        let node = c.node();
        let api = request.api();
        let context = |e: Error| e.with_api(api).with_broker(node);
        let state = c.state().ok_or(context(ErrorKind::ConnectionLost.into()))?;
        let sent = request
            .encode(state, frame)
            .map_err(|e| context(e.into()))?;
        let exchange = Errand::Exchange {
            conn: i,
            head: 0,
            tail: frame.get(..sent.len).unwrap_or_default(),
            timeout,
        };
        let len = self.errand(exchange).await.map_err(context)?;
        self.received(i, len).map_err(context)
    }
}

/// One thing a consumer asks of the cluster.
enum Errand<'p> {
    Leader(i32),
    AnyConnection,
    Connect {
        host: &'p str,
        port: u16,
        node: i32,
    },
    Refresh,
    /// `head` bytes of the request buffer then `tail`, answered.
    Exchange {
        conn: usize,
        head: usize,
        tail: &'p [u8],
        timeout: Duration,
    },
}

/// The plan that runs one [`Errand`]; `value` is its result (a connection
/// slot, or an answer's length).
struct ErrandPlan<'p> {
    errand: Errand<'p>,
    started: bool,
    value: Fallible<usize>,
}

impl<R: Resolve, const CONNS: usize, const BROKERS: usize, const PARTITIONS: usize>
    Plan<Cluster<'_, R, CONNS, BROKERS, PARTITIONS>> for ErrandPlan<'_>
{
    fn step(
        &mut self,
        cluster: &mut Cluster<'_, R, CONNS, BROKERS, PARTITIONS>,
        outcome: Option<Fallible<usize>>,
    ) -> Step<'_> {
        let started = core::mem::replace(&mut self.started, true);
        let progress = match self.errand {
            Errand::Leader(partition) => cluster.poll_leader(partition),
            Errand::AnyConnection => {
                let ready = cluster.conns.iter().position(BrokerConnection::is_ready);
                match (ready, started) {
                    (Some(i), false) => Progress::Done(Ok(i)),
                    _ => match cluster.poll_refresh() {
                        Progress::Io(io) => Progress::Io(io),
                        Progress::Done(result) => Progress::Done(result.and_then(|_| {
                            let ready = cluster.conns.iter().position(BrokerConnection::is_ready);
                            ready.ok_or_else(|| cluster.fail(ErrorKind::NoBroker))
                        })),
                    },
                }
            }
            Errand::Connect { host, port, node } => {
                if !started {
                    cluster.start_connect(host, port, node);
                }
                cluster.poll_connect()
            }
            Errand::Refresh => match cluster.poll_refresh() {
                Progress::Io(io) => Progress::Io(io),
                Progress::Done(result) => Progress::Done(result.map(|_| 0)),
            },
            Errand::Exchange {
                conn,
                head,
                tail,
                timeout,
            } => match outcome {
                Some(result) => Progress::Done(result),
                None => {
                    return Step::Io(Io::Exchange {
                        conn,
                        head,
                        tail,
                        answered: true,
                        timeout,
                    })
                }
            },
        };
        match progress {
            Progress::Io(io) => Step::Io(io),
            Progress::Done(value) => {
                self.value = value;
                Step::Done(Ok(()))
            }
        }
    }
}

/// Splits `host:port`.
fn split_host_port(addr: &str) -> Option<(&str, u16)> {
    // A byte scan rather than `rsplit_once` and `str::parse`: 150 bytes of
    // a firmware's flash less. The port is 1 to 5 decimal digits.
    let colon = addr.bytes().rposition(|b| b == b':')?;
    let (host, port) = (addr.get(..colon)?, addr.as_bytes().get(colon + 1..)?);
    if port.is_empty() || port.len() > 5 {
        return None;
    }
    let mut value = 0u32;
    for &d in port {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(d - b'0');
    }
    Some((host, u16::try_from(value).ok()?))
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
        assert_eq!(split_host_port("kafka:"), None);
        assert_eq!(split_host_port("kafka:+9092"), None);
        assert_eq!(split_host_port("kafka:65535"), Some(("kafka", 65535)));
        assert_eq!(split_host_port("kafka:65536"), None);
        assert_eq!(split_host_port("kafka:009092"), None);
        assert_eq!(split_host_port("[::1]:9092"), Some(("[::1]", 9092)));
        assert_eq!(split_host_port(":9092"), Some(("", 9092)));
    }
}
