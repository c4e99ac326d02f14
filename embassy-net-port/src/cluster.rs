//! What the producer and the consumers share: a pool of broker connections,
//! the topic's metadata (core's [`MetadataCache`]), the request and
//! response buffers, and the procedures every operation is made of:
//! connecting to a broker, refreshing metadata, finding a partition's
//! leader. Each procedure is a small synchronous state machine polled by a
//! [`Plan`](crate::plan::Plan) (see [`crate::plan`]): polled, it names the next I/O step or
//! gives its result; the I/O's outcome goes back to it through
//! [`Cluster::complete`].

use embassy_net::IpEndpoint;
use embassy_time::Duration;
use heapless::String;
use microkafka_core::client::{BrokerAddress, MetadataCache, Received};
use microkafka_core::protocol::fixed::{self, MetadataV4};
use microkafka_core::protocol::ApiKey;
use microkafka_core::wire::Writer;
use microkafka_core::ErrorCode;

use crate::connection::{BrokerConnection, BrokerSocket};
use crate::error::{Error, ErrorKind, Failed, Fallible, Result};
use crate::fmt::{debug, warning};
use crate::plan::{Io, Outcome, Progress};
use crate::resolve::Resolve;

/// Bytes of the buffer requests are encoded in (Produce requests carry their
/// records separately, straight from the batch buffer). It bounds the client
/// id plus the topic name to about 140 bytes. 384 with the `sasl` feature:
/// room for a SCRAM-SHA-512 client-final message.
pub const REQUEST_BUFFER_LEN: usize = if cfg!(feature = "sasl") { 384 } else { 256 };

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
    Opening {
        conn: usize,
        endpoint: IpEndpoint,
    },
    Negotiating {
        conn: usize,
    },
    /// SASL: the SaslHandshake (`handshake`) or a SaslAuthenticate exchange.
    #[cfg(feature = "sasl")]
    Authenticating {
        conn: usize,
        handshake: bool,
    },
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
    /// TLS and SASL settings, when given.
    #[cfg(any(feature = "tls", feature = "sasl"))]
    pub(crate) security: Option<crate::security::Security<'a>>,
    /// The SASL exchange of the connection being made.
    #[cfg(feature = "sasl")]
    sasl_client: Option<microkafka_core::sasl::SaslClient<'a>>,
    connecting: Connecting,
    refreshing: Refreshing,
    leading: Leading,
    owner: Owner,
    uses: u32,
}

impl<'a, R: Resolve, const CONNS: usize, const BROKERS: usize, const PARTITIONS: usize>
    Cluster<'a, R, CONNS, BROKERS, PARTITIONS>
{
    pub(crate) fn new<S: Into<BrokerSocket<'a>>>(
        sockets: [S; CONNS],
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
            let _ = conns.push(BrokerConnection::new(socket.into()));
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
            #[cfg(any(feature = "tls", feature = "sasl"))]
            security: None,
            #[cfg(feature = "sasl")]
            sasl_client: None,
            connecting: Connecting::Idle,
            refreshing: Refreshing::Idle,
            leading: Leading::Idle,
            owner: Owner::Plan,
            uses: 0,
        })
    }

    /// Secures every connection from now on (open ones are dropped).
    /// Errors: TLS options with a plain `TcpSocket`, or TLS sockets without
    /// TLS options.
    #[cfg(any(feature = "tls", feature = "sasl"))]
    pub(crate) fn set_security(&mut self, security: crate::security::Security<'a>) -> Result<()> {
        #[cfg(feature = "tls")]
        {
            let tls = security.tls.is_some();
            if self.conns.iter().any(|c| c.is_tls() != tls) {
                let what = if tls {
                    "TLS options need TlsSockets"
                } else {
                    "TlsSockets need TLS options"
                };
                return Err(microkafka_core::Error::Malformed(what).into());
            }
        }
        for c in self.conns.iter_mut() {
            c.disconnect();
        }
        self.security = Some(security);
        Ok(())
    }

    /// True when the recorded error should stop a search for a broker (a
    /// failed TLS handshake or login: the next broker would fail the same
    /// way, and each failure costs the broker's penalty delay).
    fn failed_for_good(&self) -> bool {
        match self.error.kind {
            #[cfg(feature = "tls")]
            ErrorKind::Tls(_) => true,
            #[cfg(feature = "sasl")]
            ErrorKind::Sasl(_) => true,
            _ => false,
        }
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
            #[cfg(feature = "sasl")]
            Connecting::Authenticating { conn, handshake } => {
                match self.encode_sasl(conn, handshake) {
                    Ok(len) => Io::Exchange {
                        conn,
                        head: len,
                        tail: &[],
                        answered: true,
                        timeout: self.config.connect_timeout,
                    },
                    Err(e) => {
                        if let Some(c) = self.conns.get_mut(conn) {
                            c.disconnect();
                        }
                        self.connecting = Connecting::Idle;
                        self.sasl_client = None;
                        let node = self.target.node;
                        let api = crate::sasl::api(handshake);
                        return Progress::Done(Err(self.fail_at(e, api, node)));
                    }
                }
            }
        };
        self.owner = Owner::Connect;
        Progress::Io(io)
    }

    /// Writes the next SASL request on `conn` into the request buffer.
    #[cfg(feature = "sasl")]
    fn encode_sasl(&mut self, conn: usize, handshake: bool) -> Result<usize, ErrorKind> {
        use crate::sasl::{self, SaslFailure};
        use microkafka_core::sasl::ClientMechanism;
        let client = self.sasl_client.as_ref().ok_or(ErrorKind::ConnectionLost)?;
        let state = self
            .conns
            .get_mut(conn)
            .and_then(BrokerConnection::unauthenticated)
            .ok_or(ErrorKind::ConnectionLost)?;
        let sent = if handshake {
            let versions = state.versions().ok_or(ErrorKind::ConnectionLost)?;
            let supported = versions
                .require(ApiKey::SaslHandshake, sasl::HANDSHAKE_VERSION)
                .and_then(|()| {
                    versions.require(ApiKey::SaslAuthenticate, sasl::AUTHENTICATE_VERSION)
                });
            if supported.is_err() {
                return Err(ErrorKind::Sasl(SaslFailure::Unsupported));
            }
            let mechanism = client.mechanism();
            state.encode_with(
                &mut self.head,
                ApiKey::SaslHandshake,
                sasl::HANDSHAKE_VERSION,
                true,
                &mut |w| sasl::encode_handshake(w, mechanism),
            )
        } else {
            let mut message = [0u8; sasl::MAX_CLIENT_MESSAGE_LEN];
            let len = client.message(&mut message).map_err(|e| match e {
                microkafka_core::sasl::SaslError::Core(e) => ErrorKind::Protocol(e),
                _ => ErrorKind::Sasl(SaslFailure::ServerRejected),
            })?;
            let message = message.get(..len).unwrap_or_default();
            state.encode_with(
                &mut self.head,
                ApiKey::SaslAuthenticate,
                sasl::AUTHENTICATE_VERSION,
                true,
                &mut |w| sasl::encode_authenticate(w, message),
            )
        };
        Ok(sent.map_err(ErrorKind::Protocol)?.len)
    }

    /// Takes the answer to a SASL request: the next step, or the connection
    /// ready (`Finished`).
    #[cfg(feature = "sasl")]
    fn authenticating(&mut self, conn: usize, handshake: bool, len: usize) -> Result<Connecting> {
        use crate::sasl;
        let frame = self.rx.get(..len).unwrap_or_default();
        let c = self.conns.get_mut(conn).ok_or(ErrorKind::ConnectionLost)?;
        let received = c.received(frame)?;
        let next = Connecting::Authenticating {
            conn,
            handshake: false,
        };
        if handshake {
            sasl::read_handshake(received.body)?;
            return Ok(next);
        }
        let answer = sasl::read_authenticate(received.body)?;
        let client = self.sasl_client.as_mut().ok_or(ErrorKind::ConnectionLost)?;
        if !sasl::receive(client, answer.auth_bytes)? {
            return Ok(next);
        }
        let random = match &mut self.security {
            Some(security) => security.rng.next_u32(),
            None => 0,
        };
        c.authenticated(answer.session_lifetime_ms, random);
        self.sasl_client = None;
        Ok(Connecting::Finished(Ok(conn)))
    }

    /// Starts SASL on `conn` once versions are agreed, when configured:
    /// the next connecting state (`None`: no SASL, the connection is ready).
    #[cfg(feature = "sasl")]
    fn start_sasl(&mut self, conn: usize) -> Result<Option<Connecting>> {
        let Some(security) = &mut self.security else {
            return Ok(None);
        };
        let Some(credentials) = security.sasl else {
            return Ok(None);
        };
        self.sasl_client = Some(credentials.client(&mut *security.rng)?);
        Ok(Some(Connecting::Authenticating {
            conn,
            handshake: true,
        }))
    }

    /// True when connections authenticate after ApiVersions.
    fn authenticates(&self) -> bool {
        #[cfg(feature = "sasl")]
        if let Some(security) = &self.security {
            return security.sasl.is_some();
        }
        false
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
                let authenticate = self.authenticates();
                match self.conns.get_mut(conn) {
                    Some(c) => match c.finish_negotiation(frame, authenticate) {
                        Ok(()) => {
                            #[cfg(feature = "sasl")]
                            match self.start_sasl(conn) {
                                Ok(Some(next)) => {
                                    self.connecting = next;
                                    return;
                                }
                                Ok(None) => {}
                                Err(e) => {
                                    self.conns[conn].disconnect();
                                    self.fail(e);
                                    let api = Some(ApiKey::SaslHandshake);
                                    self.error.add_context(api, Some(node), None);
                                    self.connecting = Connecting::Finished(Err(Failed));
                                    return;
                                }
                            }
                            Ok(conn)
                        }
                        Err(e) => {
                            c.disconnect();
                            Err(self.fail(e))
                        }
                    },
                    None => Err(self.fail(ErrorKind::ConnectionLost)),
                }
            }
            #[cfg(feature = "sasl")]
            (Connecting::Authenticating { conn, handshake }, Ok(outcome)) => {
                match self.authenticating(conn, handshake, outcome.len()) {
                    Ok(next) => {
                        self.connecting = next;
                        return;
                    }
                    Err(e) => {
                        if let Some(c) = self.conns.get_mut(conn) {
                            c.disconnect();
                        }
                        self.sasl_client = None;
                        self.fail(e);
                        let api = Some(crate::sasl::api(handshake));
                        self.error.add_context(api, Some(node), None);
                        self.connecting = Connecting::Finished(Err(Failed));
                        return;
                    }
                }
            }
            (_, Ok(_)) => Err(self.fail(ErrorKind::ConnectionLost)),
            (_, Err(failed)) => Err(failed),
        };
        if negotiated.is_err() {
            let api = match self.connecting {
                // Resolving, or opening the connection (TCP, TLS): no API yet.
                Connecting::Resolving | Connecting::Opening { .. } => None,
                #[cfg(feature = "sasl")]
                Connecting::Authenticating { handshake, .. } => Some(crate::sasl::api(handshake)),
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
                Progress::Done(Err(Failed)) if self.failed_for_good() => {
                    self.refreshing = Refreshing::Finished(Err(Failed));
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
