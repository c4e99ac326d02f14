//! One broker connection: an embassy-net `TcpSocket` and core's sans-IO
//! [`Connection`] (version negotiation, correlation ids) of the broker it
//! is connected to. Two async primitives, used by the driver only: open a
//! connection, and write a request then read its answer, with timeouts.
//! Everything else (what to send, what an answer means) is synchronous.

use embassy_net::tcp::{State, TcpSocket};
use embassy_net::IpEndpoint;
use embassy_time::{with_timeout, Duration};
use microkafka_core::client::{Connection, Received};
use microkafka_core::protocol::fixed::{self, ApiVersionsV0};
use microkafka_core::protocol::frame::SIZE_PREFIX_LEN;
use microkafka_core::protocol::{ApiKey, NegotiatedVersions};
use microkafka_core::{ErrorCode, Limit};

use crate::error::{Error, ErrorKind, Result};

/// A socket and the protocol state of the broker it is connected to.
pub(crate) struct BrokerConnection<'a> {
    socket: TcpSocket<'a>,
    /// The protocol state, from the ApiVersions request on.
    state: Option<Connection<1>>,
    /// Versions are agreed: requests may be sent.
    negotiated: bool,
    endpoint: Option<IpEndpoint>,
    node: i32,
    /// Use counter value at the last request (to pick a connection to reuse).
    pub(crate) last_used: u32,
}

impl<'a> BrokerConnection<'a> {
    pub(crate) fn new(mut socket: TcpSocket<'a>) -> Self {
        // Requests go out whole and the answer is awaited: Nagle would hold
        // a frame's last segment for the broker's delayed ACK.
        socket.set_nagle_enabled(false);
        BrokerConnection {
            socket,
            state: None,
            negotiated: false,
            endpoint: None,
            node: -1,
            last_used: 0,
        }
    }

    /// True when negotiated and the broker has not closed the connection.
    pub(crate) fn is_ready(&self) -> bool {
        self.negotiated && self.socket.state() == State::Established
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
        if self.socket.state() != State::Closed {
            self.socket.abort();
        }
        self.state = None;
        self.negotiated = false;
        self.endpoint = None;
    }

    /// Closes the connection gracefully: what was written (a last `acks = 0`
    /// batch, say) is delivered and acknowledged by the broker's TCP stack,
    /// then a FIN; after `timeout`, a reset.
    pub(crate) async fn shutdown(&mut self, timeout: Duration) {
        if self.is_ready() {
            self.socket.close();
            let _ = with_timeout(timeout, self.socket.flush()).await;
        }
        self.disconnect();
    }

    /// Opens a TCP connection to `endpoint` (dropping any other first).
    pub(crate) async fn open(
        &mut self,
        endpoint: IpEndpoint,
        timeout: Duration,
    ) -> Result<(), ErrorKind> {
        self.disconnect();
        let opened = match with_timeout(timeout, self.socket.connect(endpoint)).await {
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

    /// Writes the ApiVersions v0 request into `head` (core's fixed-version
    /// codec: the general ApiVersions codec is not linked into a firmware);
    /// returns its length.
    pub(crate) fn start_negotiation(
        &mut self,
        client_id: Option<&str>,
        head: &mut [u8],
    ) -> Result<usize> {
        self.negotiated = false;
        let state = self.state.insert(Connection::new(client_id)?);
        let sent = state.encode_with(
            head,
            ApiKey::ApiVersions,
            fixed::API_VERSIONS,
            true,
            &mut |_| Ok(()),
        )?;
        Ok(sent.len)
    }

    /// Agrees versions from the ApiVersions answer in `frame`.
    pub(crate) fn finish_negotiation(&mut self, frame: &[u8]) -> Result<()> {
        let state = self.state.as_mut().ok_or(ErrorKind::ConnectionLost)?;
        let received = state.receive_unapplied(frame)?;
        let answer = ApiVersionsV0::decode(received.body)?;
        if answer.error_code != ErrorCode::NONE {
            return Err(ErrorKind::Kafka(answer.error_code).into());
        }
        state.set_versions(NegotiatedVersions::from_ranges(answer.ranges()));
        self.negotiated = true;
        Ok(())
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
        let io = exchange(&mut self.socket, parts, rx, answered);
        let result = with_timeout(timeout, io)
            .await
            .unwrap_or(Err(ErrorKind::Timeout));
        if result.is_err() {
            self.disconnect();
        }
        result
    }

    /// Matches a response frame to its request (an error drops the connection).
    pub(crate) fn received<'b>(&mut self, frame: &'b [u8]) -> Result<Received<'b>> {
        let received = match self.state() {
            Some(state) => state.receive_unapplied(frame).map_err(Error::from),
            None => Err(ErrorKind::ConnectionLost.into()),
        };
        if received.is_err() {
            self.disconnect();
        }
        received
    }
}

/// Writes `parts`, then (when `answered`) reads one response frame's body
/// into `rx` and returns its length. A frame larger than `rx` is an error
/// (and the connection must be dropped).
///
/// One loop over the socket's own `write` and `read`: `write_all` and
/// `read_exact` cost a future each, 0.5 KiB of a firmware's flash.
async fn exchange(
    socket: &mut TcpSocket<'_>,
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
    if !answered {
        return Ok(0);
    }
    let (what, limit) = (Limit::ResponseFrame, rx.len());
    let too_large =
        |size| ErrorKind::Protocol(microkafka_core::Error::TooLarge { what, size, limit });
    if rx.len() < SIZE_PREFIX_LEN {
        return Err(too_large(SIZE_PREFIX_LEN));
    }
    // The size prefix is read into rx[..4], then the body over it.
    let (mut filled, mut want, mut body) = (0, SIZE_PREFIX_LEN, false);
    loop {
        if filled == want {
            if body {
                return Ok(want);
            }
            let prefix = rx.first_chunk().copied().unwrap_or_default();
            let size = usize::try_from(i32::from_be_bytes(prefix))
                .map_err(|_| ErrorKind::Protocol(microkafka_core::Error::InvalidLength))?;
            if size > rx.len() {
                return Err(too_large(size));
            }
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
