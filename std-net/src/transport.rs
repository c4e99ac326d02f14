//! Bytes to and from a broker: TCP dialing (DNS, timeouts, keep-alive) and
//! the TLS seam.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// A boxed, sendable future (what [`TlsConnector`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Any bidirectional async byte stream a [`TlsConnector`] can produce.
pub trait AsyncStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> AsyncStream for T {}

/// The TLS seam: turns a connected TCP stream into an encrypted one.
///
/// Set one on the [`Dialer`](crate::Dialer) and every connection goes
/// through it after the TCP handshake, before any Kafka byte. microkafka
/// ships `RustlsConnector` (feature `tls`, made from a `TlsConfig`);
/// implement this for another TLS stack or a custom handshake. An
/// `io::Error` whose inner error is a `rustls::Error` becomes
/// [`ErrorKind::Tls`](crate::ErrorKind::Tls).
pub trait TlsConnector: Send + Sync + 'static {
    /// Runs the TLS handshake over `tcp` for `server_name` (the broker's host).
    fn connect<'a>(
        &'a self,
        server_name: &'a str,
        tcp: TcpStream,
    ) -> BoxFuture<'a, io::Result<Box<dyn AsyncStream>>>;
}

/// A connected broker stream: plain TCP, or whatever the TLS seam made of it.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Tls(Box<dyn AsyncStream>),
}

impl Stream {
    /// Splits into independently owned halves (lock-free for TCP).
    pub(crate) fn split(self) -> (ReadHalf, WriteHalf) {
        match self {
            Stream::Tcp(s) => {
                let (r, w) = s.into_split();
                (ReadHalf::Tcp(r), WriteHalf::Tcp(w))
            }
            Stream::Tls(s) => {
                let (r, w) = tokio::io::split(s);
                (ReadHalf::Other(r), WriteHalf::Other(w))
            }
        }
    }
}

/// The read half of a [`Stream`].
pub(crate) enum ReadHalf {
    Tcp(OwnedReadHalf),
    Other(tokio::io::ReadHalf<Box<dyn AsyncStream>>),
}

/// The write half of a [`Stream`].
pub(crate) enum WriteHalf {
    Tcp(OwnedWriteHalf),
    Other(tokio::io::WriteHalf<Box<dyn AsyncStream>>),
}

impl AsyncRead for ReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadHalf::Tcp(r) => Pin::new(r).poll_read(cx, buf),
            ReadHalf::Other(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteHalf::Tcp(w) => Pin::new(w).poll_write(cx, buf),
            WriteHalf::Other(w) => Pin::new(w).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Tcp(w) => Pin::new(w).poll_flush(cx),
            WriteHalf::Other(w) => Pin::new(w).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Tcp(w) => Pin::new(w).poll_shutdown(cx),
            WriteHalf::Other(w) => Pin::new(w).poll_shutdown(cx),
        }
    }
}

/// Connects to `addr` (`host:port`): resolves it, then tries every address
/// in turn until one accepts, all within `timeout` (zero: no limit). TCP
/// no-delay is set (Kafka requests are whole frames written at once) and,
/// unless `keep_alive` is zero, TCP keep-alive probes after that much
/// idleness.
pub(crate) async fn dial_tcp(
    addr: &str,
    timeout: Duration,
    keep_alive: Duration,
) -> io::Result<TcpStream> {
    let attempt = async {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr).await?.collect();
        let mut last = io::Error::new(
            io::ErrorKind::NotFound,
            format!("{addr} resolved to no address"),
        );
        for a in addrs {
            match TcpStream::connect(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    };
    let stream = if timeout.is_zero() {
        attempt.await?
    } else {
        tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("dialing {addr}")))??
    };
    stream.set_nodelay(true)?;
    if !keep_alive.is_zero() {
        let ka = TcpKeepalive::new()
            .with_time(keep_alive)
            .with_interval(keep_alive);
        SockRef::from(&stream).set_tcp_keepalive(&ka)?;
    }
    Ok(stream)
}

/// The host part of `host:port` (for TLS server names), brackets of IPv6
/// literals removed.
pub(crate) fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_strips_port_and_brackets() {
        assert_eq!(host_of("kafka-1.example:9092"), "kafka-1.example");
        assert_eq!(host_of("[::1]:9092"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
    }

    #[tokio::test]
    async fn dial_tries_every_address_and_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let s = dial_tcp(&addr, Duration::from_secs(1), Duration::from_secs(30))
            .await
            .unwrap();
        assert!(s.nodelay().unwrap());
        // A port nobody listens on: refused, not hung.
        drop(listener);
        let e = dial_tcp(&addr, Duration::from_secs(1), Duration::ZERO)
            .await
            .unwrap_err();
        assert_ne!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        let e = dial_tcp(
            "no-such-host.invalid:9092",
            Duration::from_secs(5),
            Duration::ZERO,
        )
        .await;
        assert!(e.is_err());
    }
}
