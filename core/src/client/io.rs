//! A one-request-at-a-time async connection over any `embedded_io_async`
//! stream: the smallest client that works, for firmware (embassy-net's
//! `TcpSocket`) and anything else that implements `Read + Write`.
//!
//! Buffers belong to the caller: requests are encoded into `tx`, responses
//! read into `rx`, and decoded responses borrow `rx` — nothing is allocated.

use embedded_io_async::{Read, ReadExactError, Write};

use crate::client::Connection;
use crate::error::Error;
use crate::protocol::frame::SIZE_PREFIX_LEN;
use crate::protocol::{NegotiatedVersions, Request};

/// A failure of an [`AsyncConnection`]: the transport's, or the protocol's.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IoError<E> {
    /// The transport failed.
    Io(E),
    /// The peer closed the connection.
    Closed,
    /// Bytes could not be encoded or decoded, or a limit was hit.
    Protocol(Error),
}

impl<E> From<Error> for IoError<E> {
    fn from(e: Error) -> Self {
        IoError::Protocol(e)
    }
}

impl<E: core::fmt::Debug> core::fmt::Display for IoError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IoError::Io(e) => write!(f, "transport error: {e:?}"),
            IoError::Closed => f.write_str("connection closed by the broker"),
            IoError::Protocol(e) => write!(f, "{e}"),
        }
    }
}

/// How many ApiVersions attempts (KIP-511 fallbacks) before giving up.
const MAX_API_VERSIONS_ATTEMPTS: usize = 3;

/// A negotiated connection to one broker over an async byte stream.
pub struct AsyncConnection<'b, T> {
    io: T,
    state: Connection<1>,
    tx: &'b mut [u8],
    rx: &'b mut [u8],
}

impl<'b, T: Read + Write> AsyncConnection<'b, T> {
    /// Negotiates API versions over `io` (already connected). `tx` must hold
    /// the largest request and `rx` the largest response you will exchange:
    /// a response frame larger than `rx` is refused with [`Error::TooLarge`].
    pub async fn connect(
        io: T,
        client_id: Option<&str>,
        tx: &'b mut [u8],
        rx: &'b mut [u8],
    ) -> Result<Self, IoError<T::Error>> {
        let mut conn = AsyncConnection {
            io,
            state: Connection::new(client_id)?,
            tx,
            rx,
        };
        for _ in 0..MAX_API_VERSIONS_ATTEMPTS {
            let sent = conn.state.start(conn.tx)?;
            conn.write_frame(sent.len).await?;
            let len = conn.read_frame().await?;
            conn.state
                .receive(&conn.rx[SIZE_PREFIX_LEN..SIZE_PREFIX_LEN + len])?;
            if conn.state.is_ready() {
                return Ok(conn);
            }
        }
        Err(IoError::Protocol(Error::Malformed(
            "the broker refused every ApiVersions version",
        )))
    }

    /// The versions agreed with this broker.
    pub fn versions(&self) -> &NegotiatedVersions {
        // Cannot be None: `connect` only returns a ready connection.
        self.state.versions().unwrap_or(&NegotiatedVersions::NONE)
    }

    /// Sends `request` and waits for its response, decoded from `rx`.
    pub async fn request<'s, 'r, R: Request<'r>>(
        &'s mut self,
        request: &R,
    ) -> Result<R::Response<'s>, IoError<T::Error>> {
        let sent = self.state.encode(self.tx, request)?;
        self.write_frame(sent.len).await?;
        let len = self.read_frame().await?;
        let received = self
            .state
            .receive(&self.rx[SIZE_PREFIX_LEN..SIZE_PREFIX_LEN + len])?;
        Ok(received.decode::<R::Response<'s>>()?)
    }

    /// Sends a request the broker does not answer (Produce with `acks = 0`).
    pub async fn send_unanswered<'r, R: Request<'r>>(
        &mut self,
        request: &R,
    ) -> Result<(), IoError<T::Error>> {
        let sent = self.state.encode_unanswered(self.tx, request)?;
        self.write_frame(sent.len).await
    }

    /// Gives back the transport.
    pub fn into_inner(self) -> T {
        self.io
    }

    async fn write_frame(&mut self, len: usize) -> Result<(), IoError<T::Error>> {
        self.io
            .write_all(&self.tx[..len])
            .await
            .map_err(IoError::Io)?;
        self.io.flush().await.map_err(IoError::Io)
    }

    /// Reads one frame into `rx`; returns the body length (after the prefix).
    async fn read_frame(&mut self) -> Result<usize, IoError<T::Error>> {
        let mut prefix = [0u8; SIZE_PREFIX_LEN];
        read_exact(&mut self.io, &mut prefix).await?;
        let size = usize::try_from(i32::from_be_bytes(prefix)).map_err(|_| Error::InvalidLength)?;
        let limit = self.rx.len().saturating_sub(SIZE_PREFIX_LEN);
        if size > limit {
            return Err(Error::TooLarge {
                what: crate::Limit::ResponseFrame,
                size,
                limit,
            }
            .into());
        }
        self.rx[..SIZE_PREFIX_LEN].copy_from_slice(&prefix);
        read_exact(
            &mut self.io,
            &mut self.rx[SIZE_PREFIX_LEN..SIZE_PREFIX_LEN + size],
        )
        .await?;
        Ok(size)
    }
}

async fn read_exact<T: Read>(io: &mut T, buf: &mut [u8]) -> Result<(), IoError<T::Error>> {
    io.read_exact(buf).await.map_err(|e| match e {
        ReadExactError::UnexpectedEof => IoError::Closed,
        ReadExactError::Other(e) => IoError::Io(e),
    })
}

#[cfg(test)]
mod tests {
    extern crate std;

    use core::future::Future;
    use core::pin::pin;
    use core::task::{Context, Poll, Waker};
    use std::vec::Vec;

    use super::*;
    use crate::protocol::frame::encode_response;
    use crate::protocol::messages::{
        ApiVersion, ApiVersionsResponse, HeartbeatRequest, HeartbeatResponse,
    };
    use crate::wire::Array;
    use crate::ErrorCode;

    /// A scripted broker: reads hand out the queued response bytes, writes are kept.
    struct Script {
        to_client: Vec<u8>,
        read_at: usize,
        from_client: Vec<u8>,
    }

    impl embedded_io_async::ErrorType for Script {
        type Error = core::convert::Infallible;
    }
    impl Read for Script {
        async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
            // Short reads on purpose: at most 7 bytes at a time.
            let n = buf.len().min(7).min(self.to_client.len() - self.read_at);
            buf[..n].copy_from_slice(&self.to_client[self.read_at..self.read_at + n]);
            self.read_at += n;
            Ok(n)
        }
    }
    impl Write for Script {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            self.from_client.extend_from_slice(buf);
            Ok(buf.len())
        }
        async fn flush(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    /// Runs a future that never waits (the script is always ready).
    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    /// Encodes one scripted response frame: (buffer, correlation id, version) -> length.
    type Encode<'a> = &'a dyn Fn(&mut [u8], i32, i16) -> usize;

    fn script(responses: &[(i32, i16, Encode<'_>)]) -> Script {
        let mut to_client = Vec::new();
        for (correlation_id, version, encode) in responses {
            let mut buf = [0u8; 256];
            let n = encode(&mut buf, *correlation_id, *version);
            to_client.extend_from_slice(&buf[..n]);
        }
        Script {
            to_client,
            read_at: 0,
            from_client: Vec::new(),
        }
    }

    #[test]
    fn connects_and_requests_over_a_byte_stream() {
        let ranges = [
            ApiVersion {
                api_key: 18,
                min_version: 0,
                max_version: 4,
            },
            ApiVersion {
                api_key: 12,
                min_version: 0,
                max_version: 4,
            },
        ];
        let api_versions = |buf: &mut [u8], c: i32, v: i16| {
            encode_response(
                buf,
                c,
                v,
                &ApiVersionsResponse {
                    api_keys: Array::new(&ranges),
                    ..Default::default()
                },
            )
            .unwrap()
        };
        let heartbeat = |buf: &mut [u8], c: i32, v: i16| {
            encode_response(
                buf,
                c,
                v,
                &HeartbeatResponse {
                    error_code: ErrorCode::REBALANCE_IN_PROGRESS,
                    ..Default::default()
                },
            )
            .unwrap()
        };
        let io = script(&[(0, 4, &api_versions), (1, 4, &heartbeat)]);
        let (mut tx, mut rx) = ([0u8; 256], [0u8; 256]);
        block_on(async {
            let mut conn = AsyncConnection::connect(io, Some("fw"), &mut tx, &mut rx)
                .await
                .unwrap();
            let hb = HeartbeatRequest {
                group_id: "g",
                member_id: "m",
                generation_id: 1,
                ..Default::default()
            };
            let resp = conn.request(&hb).await.unwrap();
            assert_eq!(resp.error_code, ErrorCode::REBALANCE_IN_PROGRESS);
            let io = conn.into_inner();
            // Two frames went out: ApiVersions v4 then Heartbeat v4.
            assert_eq!(&io.from_client[4..8], &[0, 18, 0, 4]);
        });
    }

    #[test]
    fn oversized_and_truncated_responses_are_errors() {
        let big = |buf: &mut [u8], c: i32, _: i16| {
            buf[..4].copy_from_slice(&1000i32.to_be_bytes());
            buf[4..8].copy_from_slice(&c.to_be_bytes());
            8
        };
        let (mut tx, mut rx) = ([0u8; 256], [0u8; 64]);
        let err = block_on(AsyncConnection::connect(
            script(&[(0, 4, &big)]),
            None,
            &mut tx,
            &mut rx,
        ))
        .err()
        .unwrap();
        assert!(matches!(
            err,
            IoError::Protocol(Error::TooLarge {
                what: crate::Limit::ResponseFrame,
                size: 1000,
                ..
            })
        ));
        let cut = |buf: &mut [u8], _: i32, _: i16| {
            buf[..4].copy_from_slice(&20i32.to_be_bytes());
            6
        };
        let err = block_on(AsyncConnection::connect(
            script(&[(0, 4, &cut)]),
            None,
            &mut tx,
            &mut rx,
        ))
        .err()
        .unwrap();
        assert_eq!(err, IoError::Closed);
    }
}
