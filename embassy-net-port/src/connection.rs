//! One broker connection: an embassy-net `TcpSocket` and core's sans-IO
//! [`Connection`] (correlation ids), [`Negotiator`] (ApiVersions) and
//! [`Deframer`] (response frames) of the broker it is connected to. Two async primitives, used by the driver only: open a
//! connection, and write a request then read its answer, with timeouts.
//! Everything else (what to send, what an answer means) is synchronous.

use embassy_net::tcp::{State, TcpSocket};
use embassy_net::IpEndpoint;
#[cfg(feature = "sasl")]
use embassy_time::Instant;
use embassy_time::{with_timeout, Duration};
use microkafka_core::client::{Connection, Deframer, Negotiator, Received};
use microkafka_core::protocol::frame::SIZE_PREFIX_LEN;
use microkafka_core::protocol::ApiKey;
use microkafka_core::ErrorCode;

use crate::error::{Error, ErrorKind, Result};

/// The socket of one broker connection, as the caller gives it: a plain
/// `TcpSocket` (moved in), or with the `tls` feature a
/// `TlsSocket` (borrowed: it holds the TLS record
/// buffers). Built with `.into()` from either, so constructors take both.
pub enum BrokerSocket<'a> {
    /// A TCP socket: plaintext.
    Tcp(TcpSocket<'a>),
    /// A TCP socket with TLS record buffers: TLS (`tls` feature).
    #[cfg(feature = "tls")]
    Tls(&'a crate::tls::TlsSocket<'a>),
}

impl<'a> From<TcpSocket<'a>> for BrokerSocket<'a> {
    fn from(socket: TcpSocket<'a>) -> Self {
        BrokerSocket::Tcp(socket)
    }
}

#[cfg(feature = "tls")]
impl<'s, 'a: 's> From<&'s mut crate::tls::TlsSocket<'a>> for BrokerSocket<'s> {
    fn from(socket: &'s mut crate::tls::TlsSocket<'a>) -> Self {
        BrokerSocket::Tls(socket.shorten())
    }
}

/// How bytes reach the broker.
// The TLS variant holds the session's keys (~1.3 KiB); with no heap to box
// them in, and every connection of a client being of one kind, the size is
// what TLS costs anyway.
#[allow(clippy::large_enum_variant)]
enum Link<'a> {
    Tcp(TcpSocket<'a>),
    #[cfg(feature = "tls")]
    Tls(crate::tls::TlsLink<'a>),
}

/// A socket and the protocol state of the broker it is connected to.
pub(crate) struct BrokerConnection<'a> {
    link: Link<'a>,
    /// The protocol state, from the ApiVersions request on.
    state: Option<Connection<1>>,
    /// The ApiVersions exchange that opens the connection.
    negotiator: Negotiator,
    /// Versions are agreed (and SASL authenticated, when configured):
    /// requests may be sent.
    negotiated: bool,
    /// When the SASL session must be renewed (KIP-368): past it, the
    /// connection is not used again but made anew.
    #[cfg(feature = "sasl")]
    expires: Option<Instant>,
    endpoint: Option<IpEndpoint>,
    node: i32,
    /// Use counter value at the last request (to pick a connection to reuse).
    pub(crate) last_used: u32,
}

impl<'a> BrokerConnection<'a> {
    pub(crate) fn new(socket: BrokerSocket<'a>) -> Self {
        // Requests go out whole and the answer is awaited: Nagle would hold
        // a frame's last segment for the broker's delayed ACK.
        let link = match socket {
            BrokerSocket::Tcp(mut socket) => {
                socket.set_nagle_enabled(false);
                Link::Tcp(socket)
            }
            #[cfg(feature = "tls")]
            BrokerSocket::Tls(socket) => {
                if let Some(mut tcp) = socket.tcp() {
                    tcp.set_nagle_enabled(false);
                }
                Link::Tls(crate::tls::TlsLink {
                    socket,
                    session: None,
                })
            }
        };
        BrokerConnection {
            link,
            state: None,
            negotiator: Negotiator::new(),
            negotiated: false,
            #[cfg(feature = "sasl")]
            expires: None,
            endpoint: None,
            node: -1,
            last_used: 0,
        }
    }

    /// The TCP connection's state.
    fn tcp_state(&self) -> State {
        match &self.link {
            Link::Tcp(socket) => socket.state(),
            #[cfg(feature = "tls")]
            Link::Tls(link) => match (&link.session, link.socket.tcp()) {
                (Some(_), Some(tcp)) => tcp.state(),
                _ => State::Closed,
            },
        }
    }

    /// True for a TLS connection (`tls` feature).
    #[cfg(feature = "tls")]
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self.link, Link::Tls(_))
    }

    /// True when negotiated and the broker has not closed the connection
    /// (nor, with SASL, is the session about to end).
    pub(crate) fn is_ready(&self) -> bool {
        #[cfg(feature = "sasl")]
        if self.expires.is_some_and(|at| Instant::now() >= at) {
            return false;
        }
        self.negotiated && self.tcp_state() == State::Established
    }

    /// The broker's address, while connected.
    pub(crate) fn endpoint(&self) -> Option<IpEndpoint> {
        self.endpoint.filter(|_| self.is_ready())
    }

    /// The protocol state, once versions are agreed.
    pub(crate) fn state(&mut self) -> Option<&mut Connection<1>> {
        self.state.as_mut().filter(|_| self.negotiated)
    }

    /// The version agreed for `api`, while connected.
    pub(crate) fn version(&mut self, api: ApiKey) -> Result<i16> {
        let state = self.state().ok_or(ErrorKind::ConnectionLost)?;
        let versions = state.versions().ok_or(ErrorKind::ConnectionLost)?;
        Ok(versions.version(api)?)
    }

    /// The broker's node id (negative for a bootstrap address).
    pub(crate) fn node(&self) -> i32 {
        self.node
    }

    /// Names the broker (a bootstrap address turned out to be this node).
    pub(crate) fn set_node(&mut self, node: i32) {
        self.node = node;
    }

    /// Drops the connection (a reset: pending bytes are discarded).
    pub(crate) fn disconnect(&mut self) {
        match &mut self.link {
            Link::Tcp(socket) => abort(socket),
            #[cfg(feature = "tls")]
            Link::Tls(link) => {
                // Ends the TLS session (its buffers go back to the socket).
                link.session = None;
                if let Some(mut tcp) = link.socket.tcp() {
                    abort(&mut tcp);
                }
            }
        }
        self.state = None;
        self.negotiated = false;
        #[cfg(feature = "sasl")]
        {
            self.expires = None;
        }
        self.endpoint = None;
    }

    /// Closes the connection gracefully: what was written (a last `acks = 0`
    /// batch, say) is delivered and acknowledged by the broker's TCP stack,
    /// then a FIN; after `timeout`, a reset.
    // A TLS socket's cell is borrowed across the flush: nothing else can
    // borrow it meanwhile (the connection is exclusively borrowed).
    #[cfg_attr(feature = "tls", allow(clippy::await_holding_refcell_ref))]
    pub(crate) async fn shutdown(&mut self, timeout: Duration) {
        if self.is_ready() {
            match &mut self.link {
                Link::Tcp(socket) => {
                    socket.close();
                    let _ = with_timeout(timeout, socket.flush()).await;
                }
                #[cfg(feature = "tls")]
                Link::Tls(link) => {
                    // Requests were flushed as records when written; a FIN
                    // without close_notify is fine for Kafka.
                    if let Some(mut tcp) = link.socket.tcp() {
                        tcp.close();
                        let _ = with_timeout(timeout, tcp.flush()).await;
                    }
                }
            }
        }
        self.disconnect();
    }

    /// Opens a TCP connection to `endpoint` (dropping any other first).
    #[cfg_attr(feature = "tls", allow(clippy::await_holding_refcell_ref))]
    pub(crate) async fn open(
        &mut self,
        endpoint: IpEndpoint,
        timeout: Duration,
    ) -> Result<(), ErrorKind> {
        self.disconnect();
        let connected = match &mut self.link {
            Link::Tcp(socket) => with_timeout(timeout, socket.connect(endpoint)).await,
            #[cfg(feature = "tls")]
            Link::Tls(link) => match link.socket.tcp() {
                Some(mut tcp) => with_timeout(timeout, tcp.connect(endpoint)).await,
                None => Ok(Err(embassy_net::tcp::ConnectError::ConnectionReset)),
            },
        };
        let opened = match connected {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ErrorKind::Connect(e)),
            Err(_) => Err(ErrorKind::Timeout),
        };
        match opened {
            Ok(()) => self.endpoint = Some(endpoint),
            Err(_) => self.disconnect(),
        }
        opened
    }

    /// Runs the TLS handshake on the connected socket (a no-op without TLS),
    /// within `timeout`. A failure drops the connection.
    #[cfg(feature = "tls")]
    pub(crate) async fn start_tls(
        &mut self,
        options: Option<&crate::tls::TlsOptions<'_>>,
        host: &str,
        rng: &mut dyn rand_core::CryptoRngCore,
        timeout: Duration,
    ) -> Result<(), ErrorKind> {
        let result = match (&mut self.link, options) {
            (Link::Tcp(_), None) => return Ok(()),
            (Link::Tls(link), Some(options)) => {
                with_timeout(timeout, link.handshake(options, host, rng))
                    .await
                    .unwrap_or(Err(ErrorKind::Timeout))
            }
            // Validated when the security settings were given.
            _ => Err(ErrorKind::Protocol(microkafka_core::Error::Malformed(
                "TLS options and sockets do not match",
            ))),
        };
        if result.is_err() {
            self.disconnect();
        }
        result
    }

    /// Writes the ApiVersions v0 request into `head` (core's fixed-version
    /// codec: the general ApiVersions codec is not linked into a firmware);
    /// returns its length.
    pub(crate) fn start_negotiation(
        &mut self,
        client_id: Option<&str>,
        head: &mut [u8],
    ) -> Result<usize> {
        self.negotiated = false;
        self.negotiator = Negotiator::new();
        let state = self.state.insert(Connection::new(client_id)?);
        Ok(self.negotiator.request_v0(state, head)?.len)
    }

    /// Agrees versions from the ApiVersions answer in `frame`; the
    /// connection is ready for requests unless it must `authenticate` first.
    pub(crate) fn finish_negotiation(&mut self, frame: &[u8], authenticate: bool) -> Result<()> {
        let state = self.state.as_mut().ok_or(ErrorKind::ConnectionLost)?;
        let code = self.negotiator.receive_v0(state, frame)?;
        if code != ErrorCode::NONE {
            return Err(ErrorKind::Kafka(code).into());
        }
        self.negotiated = !authenticate;
        Ok(())
    }

    /// The protocol state before authentication (SASL requests).
    #[cfg(feature = "sasl")]
    pub(crate) fn unauthenticated(&mut self) -> Option<&mut Connection<1>> {
        self.state.as_mut().filter(|s| s.versions().is_some())
    }

    /// SASL succeeded: requests may be sent; a session of `lifetime_ms`
    /// (0: unlimited) is renewed at 85-95% of it (`random` picks where).
    #[cfg(feature = "sasl")]
    pub(crate) fn authenticated(&mut self, lifetime_ms: u64, random: u32) {
        let session = microkafka_core::sasl::Session {
            mechanism: microkafka_core::sasl::Mechanism::Plain,
            lifetime_ms,
        };
        self.expires = session
            .reauthenticate_after_ms(random)
            .map(|after| Instant::now() + Duration::from_millis(after));
        self.negotiated = true;
    }

    /// The one place bytes move: writes a request frame given in `parts`,
    /// then (when `answered`) reads the response frame body into `rx` and
    /// returns its length, all within `timeout`. Any failure drops the
    /// connection: the byte stream cannot be trusted after it.
    pub(crate) async fn roundtrip(
        &mut self,
        parts: [&[u8]; 2],
        rx: &mut [u8],
        answered: bool,
        timeout: Duration,
    ) -> Result<usize, ErrorKind> {
        let result = match &mut self.link {
            Link::Tcp(socket) => with_timeout(timeout, exchange(socket, parts, rx, answered)).await,
            #[cfg(feature = "tls")]
            Link::Tls(link) => match &mut link.session {
                Some(session) => {
                    let io = exchange(&mut session.tls, parts, rx, answered);
                    with_timeout(timeout, io).await
                }
                None => Ok(Err(ErrorKind::ConnectionLost)),
            },
        };
        let result = result.unwrap_or(Err(ErrorKind::Timeout));
        if result.is_err() {
            self.disconnect();
        }
        result
    }

    /// Matches a response frame to its request (an error drops the connection).
    pub(crate) fn received<'b>(&mut self, frame: &'b [u8]) -> Result<Received<'b>> {
        let received = match self.state.as_mut() {
            Some(state) => state.receive_unapplied(frame).map_err(Error::from),
            None => Err(ErrorKind::ConnectionLost.into()),
        };
        if received.is_err() {
            self.disconnect();
        }
        received
    }
}

/// Resets a TCP connection unless closed.
fn abort(socket: &mut TcpSocket<'_>) {
    if socket.state() != State::Closed {
        socket.abort();
    }
}

/// A byte stream to a broker: a TCP socket, or a TLS session over one.
///
/// Their own `read` and `write`, not `embedded_io_async`'s: those wrap the
/// socket's futures in one more (0.2 KiB of a firmware's flash).
trait Stream {
    type Error;

    fn write<'s>(
        &'s mut self,
        buf: &'s [u8],
    ) -> impl core::future::Future<Output = Result<usize, Self::Error>> + 's;

    fn read<'s>(
        &'s mut self,
        buf: &'s mut [u8],
    ) -> impl core::future::Future<Output = Result<usize, Self::Error>> + 's;

    /// Whether writes are buffered until [`end_request`](Self::end_request).
    const BUFFERED: bool;

    /// Sends what a request's writes left buffered (TLS: the last record);
    /// false on failure.
    async fn end_request(&mut self) -> bool;
}

impl Stream for TcpSocket<'_> {
    type Error = embassy_net::tcp::Error;

    fn write<'s>(
        &'s mut self,
        buf: &'s [u8],
    ) -> impl core::future::Future<Output = Result<usize, Self::Error>> + 's {
        TcpSocket::write(self, buf)
    }

    fn read<'s>(
        &'s mut self,
        buf: &'s mut [u8],
    ) -> impl core::future::Future<Output = Result<usize, Self::Error>> + 's {
        TcpSocket::read(self, buf)
    }

    // Writes went to the socket's buffer, which sends at once (no Nagle);
    // TCP's `flush` would wait for the broker's ACK.
    const BUFFERED: bool = false;

    async fn end_request(&mut self) -> bool {
        true
    }
}

#[cfg(feature = "tls")]
impl Stream for embedded_tls::TlsConnection<'_, crate::tls::Wire<'_>, crate::tls::Suite> {
    type Error = embedded_tls::TlsError;

    fn write<'s>(
        &'s mut self,
        buf: &'s [u8],
    ) -> impl core::future::Future<Output = Result<usize, Self::Error>> + 's {
        embedded_tls::TlsConnection::write(self, buf)
    }

    fn read<'s>(
        &'s mut self,
        buf: &'s mut [u8],
    ) -> impl core::future::Future<Output = Result<usize, Self::Error>> + 's {
        embedded_tls::TlsConnection::read(self, buf)
    }

    const BUFFERED: bool = true;

    async fn end_request(&mut self) -> bool {
        self.flush().await.is_ok()
    }
}

/// Writes `parts`, then (when `answered`) reads one response frame's body
/// into `rx` and returns its length. A frame larger than `rx` is an error
/// (and the connection must be dropped).
///
/// One loop over the stream's own `write` and `read`: `write_all` and
/// `read_exact` cost a future each, 0.5 KiB of a firmware's flash. For the
/// same reason no [`Deframer`] is kept: the size prefix is read into
/// `rx[..4]`, then the body over it, and only the deframer's check of the
/// prefix ([`Deframer::body_size`]) is asked (a whole deframer in the
/// future cost 0.1 KiB more).
async fn exchange<S: Stream>(
    socket: &mut S,
    parts: [&[u8]; 2],
    rx: &mut [u8],
    answered: bool,
) -> Result<usize, ErrorKind> {
    for mut rest in parts {
        while !rest.is_empty() {
            match socket.write(rest).await {
                Ok(n) if n > 0 => rest = rest.get(n..).unwrap_or_default(),
                _ => return Err(ErrorKind::ConnectionLost),
            }
        }
    }
    if S::BUFFERED && !socket.end_request().await {
        return Err(ErrorKind::ConnectionLost);
    }
    if !answered {
        return Ok(0);
    }
    if rx.len() < SIZE_PREFIX_LEN {
        return Err(ErrorKind::Protocol(microkafka_core::Error::TooLarge {
            what: microkafka_core::Limit::ResponseFrame,
            size: SIZE_PREFIX_LEN,
            limit: rx.len(),
        }));
    }
    let (mut filled, mut want, mut body) = (0, SIZE_PREFIX_LEN, false);
    loop {
        if filled == want {
            if body {
                return Ok(want);
            }
            let prefix = rx.first_chunk().copied().unwrap_or_default();
            let size = Deframer::body_size(prefix, rx.len()).map_err(ErrorKind::Protocol)?;
            (filled, want, body) = (0, size, true);
            continue;
        }
        let free = rx.get_mut(filled..want).unwrap_or_default();
        match socket.read(free).await {
            Ok(n) if n > 0 => filled += n,
            _ => return Err(ErrorKind::ConnectionLost),
        }
    }
}
