//! One broker connection: an embassy-net `TcpSocket` driven by core's sans-IO
//! [`Connection`] (version negotiation, correlation ids), one request at a
//! time, with timeouts.

use embassy_net::tcp::{State, TcpSocket};
use embassy_net::IpEndpoint;
use embassy_time::{with_timeout, Duration};
use embedded_io_async::{Read, ReadExactError, Write};
use microkafka_core::client::{Connection, Received, Sent};
use microkafka_core::group::GroupRequest;
use microkafka_core::protocol::fixed::{self, ApiVersionsV0, ProducedV3};
use microkafka_core::protocol::frame::extend_frame;
use microkafka_core::protocol::{ApiKey, NegotiatedVersions, Request};
use microkafka_core::ErrorCode;

use crate::error::{Error, ErrorKind, Result};

/// The outcome of a Produce for the one partition it carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Produced {
    pub(crate) error_code: ErrorCode,
    pub(crate) base_offset: i64,
}

/// A socket and the protocol state of the broker it is connected to.
pub(crate) struct BrokerConnection<'a> {
    socket: TcpSocket<'a>,
    /// Set once API versions are agreed.
    state: Option<Connection<1>>,
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
            endpoint: None,
            node: -1,
            last_used: 0,
        }
    }

    /// True when negotiated and the broker has not closed the connection.
    pub(crate) fn is_ready(&self) -> bool {
        self.state.is_some() && self.socket.state() == State::Established
    }

    /// The broker's address, while connected.
    pub(crate) fn endpoint(&self) -> Option<IpEndpoint> {
        self.endpoint.filter(|_| self.is_ready())
    }

    /// The version agreed for `api`, while connected.
    pub(crate) fn version(&self, api: ApiKey) -> Result<i16> {
        let state = self.state.as_ref().ok_or(ErrorKind::ConnectionLost)?;
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

    /// Connects to `endpoint` and agrees API versions; `head` and `rx` are
    /// scratch for the ApiVersions exchange.
    pub(crate) async fn connect(
        &mut self,
        endpoint: IpEndpoint,
        node: i32,
        client_id: Option<&str>,
        timeout: Duration,
        head: &mut [u8],
        rx: &mut [u8],
    ) -> Result<()> {
        self.disconnect();
        self.node = node;
        let connected = with_timeout(timeout, self.socket.connect(endpoint)).await;
        let result = match connected {
            Ok(Ok(())) => self.negotiate(client_id, timeout, head, rx).await,
            Ok(Err(e)) => Err(ErrorKind::Connect(e).into()),
            Err(_) => Err(ErrorKind::Timeout.into()),
        };
        match result {
            Ok(state) => {
                self.state = Some(state);
                self.endpoint = Some(endpoint);
                Ok(())
            }
            Err(e) => {
                self.disconnect();
                Err(e.with_api(ApiKey::ApiVersions).with_broker(node))
            }
        }
    }

    /// Agrees versions with ApiVersions v0, read with core's fixed-version
    /// codec (the general ApiVersions codec is not linked into a firmware).
    async fn negotiate(
        &mut self,
        client_id: Option<&str>,
        timeout: Duration,
        head: &mut [u8],
        rx: &mut [u8],
    ) -> Result<Connection<1>> {
        let mut state = Connection::new(client_id)?;
        let sent = state.encode_with(
            head,
            ApiKey::ApiVersions,
            fixed::API_VERSIONS,
            true,
            &mut |_| Ok(()),
        )?;
        let n = self
            .roundtrip([&head[..sent.len], &[]], rx, true, timeout)
            .await?;
        let received = state.receive_unapplied(&rx[..n])?;
        let answer = ApiVersionsV0::decode(received.body)?;
        if answer.error_code != ErrorCode::NONE {
            return Err(ErrorKind::Kafka(answer.error_code).into());
        }
        state.set_versions(NegotiatedVersions::from_ranges(answer.ranges()));
        Ok(state)
    }

    /// The one place bytes move: writes a request frame given in `parts`,
    /// then (when `answered`) reads the response frame body into `rx` and
    /// returns its length, all within `timeout`. Any failure drops the
    /// connection: the byte stream cannot be trusted after it.
    async fn roundtrip(
        &mut self,
        parts: [&[u8]; 2],
        rx: &mut [u8],
        answered: bool,
        timeout: Duration,
    ) -> Result<usize> {
        let io = async {
            for part in parts {
                self.socket
                    .write_all(part)
                    .await
                    .map_err(|_| Error::new(ErrorKind::ConnectionLost))?;
            }
            if !answered {
                return Ok(0);
            }
            read_frame(&mut self.socket, rx).await
        };
        let result = with_timeout(timeout, io)
            .await
            .unwrap_or(Err(ErrorKind::Timeout.into()));
        if result.is_err() {
            self.disconnect();
        }
        result
    }

    /// Sends `request` (encoded in `head` at `version`, or the highest
    /// agreed when `None`) and decodes its response from `rx`.
    pub(crate) async fn request<'r, 'q, Q: Request<'q>>(
        &mut self,
        head: &mut [u8],
        rx: &'r mut [u8],
        request: &Q,
        version: Option<i16>,
        timeout: Duration,
    ) -> Result<Q::Response<'r>> {
        let mut encode = |state: &mut Connection<1>, head: &mut [u8]| match version {
            Some(v) => state.encode_at(head, request, v),
            None => state.encode(head, request),
        };
        let received = self
            .exchange(head, rx, Q::API_KEY, timeout, &mut encode)
            .await?;
        let node = self.node;
        received
            .decode::<Q::Response<'r>>()
            .map_err(|e| Error::from(e).with_api(Q::API_KEY).with_broker(node))
    }

    /// Sends a consumer-group request (encoded into `frame` at the version
    /// agreed with this broker) and returns its matched response, which
    /// borrows `rx`, for core's group [`Member`](microkafka_core::group::Member).
    pub(crate) async fn group_request<'r>(
        &mut self,
        frame: &mut [u8],
        rx: &'r mut [u8],
        request: &GroupRequest<'_>,
        timeout: Duration,
    ) -> Result<Received<'r>> {
        let mut encode = |state: &mut Connection<1>, frame: &mut [u8]| request.encode(state, frame);
        self.exchange(frame, rx, request.api(), timeout, &mut encode)
            .await
    }

    /// One answered request: `encode` writes its frame into `head` with the
    /// connection's protocol state; the frame is sent, the answer read into
    /// `rx` and matched. Errors name `api` and the broker.
    pub(crate) async fn exchange<'r>(
        &mut self,
        head: &mut [u8],
        rx: &'r mut [u8],
        api: ApiKey,
        timeout: Duration,
        encode: &mut dyn FnMut(&mut Connection<1>, &mut [u8]) -> microkafka_core::Result<Sent>,
    ) -> Result<Received<'r>> {
        let node = self.node;
        let context = |e: Error| e.with_api(api).with_broker(node);
        let state = self.state.as_mut().ok_or(ErrorKind::ConnectionLost)?;
        let sent = encode(state, head).map_err(|e| context(e.into()))?;
        let n = self
            .roundtrip([&head[..sent.len], &[]], rx, true, timeout)
            .await
            .map_err(context)?;
        let rx: &'r [u8] = rx;
        self.received(&rx[..n]).map_err(context)
    }

    /// Matches a response frame to its request (an error drops the connection).
    fn received<'b>(&mut self, frame: &'b [u8]) -> Result<Received<'b>> {
        let received = match self.state.as_mut() {
            Some(state) => state.receive_unapplied(frame),
            None => Err(microkafka_core::Error::Malformed("not connected")),
        };
        if received.is_err() {
            self.disconnect();
        }
        Ok(received?)
    }

    /// Produces `batch` (a sealed record batch, sent from where it lies) to
    /// one partition. `None` with `acks = 0`: the broker does not answer.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn produce(
        &mut self,
        head: &mut [u8],
        rx: &mut [u8],
        topic: &str,
        partition: i32,
        batch: &[u8],
        acks: i16,
        timeout: Duration,
    ) -> Result<Option<Produced>> {
        let node = self.node;
        let context = |e: Error| {
            e.with_api(ApiKey::Produce)
                .with_broker(node)
                .with_partition(partition)
        };
        let state = self.state.as_mut().ok_or(ErrorKind::ConnectionLost)?;
        let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        let sent = state
            .encode_with(head, ApiKey::Produce, fixed::PRODUCE, acks != 0, &mut |w| {
                fixed::encode_produce_request_head(
                    w,
                    acks,
                    timeout_ms,
                    topic,
                    partition,
                    batch.len(),
                )
            })
            .and_then(|sent| extend_frame(head, batch.len()).map(|()| sent))
            .map_err(|e| context(e.into()))?;
        let frame = [&head[..sent.len], batch];
        // The broker waits up to `timeout` for replicas: give it a moment more.
        let n = self
            .roundtrip(frame, rx, acks != 0, timeout + Duration::from_secs(1))
            .await
            .map_err(context)?;
        if acks == 0 {
            return Ok(None);
        }
        let answer = self.received(&rx[..n]).and_then(|received| {
            let answer = ProducedV3::decode(received.body, topic, partition)?;
            Ok(Produced {
                error_code: answer.error_code,
                base_offset: answer.base_offset,
            })
        });
        answer.map(Some).map_err(context)
    }
}

async fn read_exact(socket: &mut TcpSocket<'_>, buf: &mut [u8]) -> Result<()> {
    socket.read_exact(buf).await.map_err(|e| match e {
        ReadExactError::UnexpectedEof | ReadExactError::Other(_) => {
            ErrorKind::ConnectionLost.into()
        }
    })
}

/// Reads one response frame's body into `rx`; returns its length. A frame
/// larger than `rx` is an error (and the connection must be dropped).
async fn read_frame(socket: &mut TcpSocket<'_>, rx: &mut [u8]) -> Result<usize> {
    let mut prefix = [0u8; 4];
    read_exact(socket, &mut prefix).await?;
    let size = usize::try_from(i32::from_be_bytes(prefix))
        .map_err(|_| microkafka_core::Error::InvalidLength)?;
    let limit = rx.len();
    let body = rx.get_mut(..size).ok_or(microkafka_core::Error::TooLarge {
        what: "response frame (the response buffer)",
        size,
        limit,
    })?;
    read_exact(socket, body).await?;
    Ok(size)
}
