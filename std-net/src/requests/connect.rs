//! Opening a connection to a broker: TCP, then TLS, then ApiVersions, then
//! SASL, all within the dial timeout.

use std::sync::Arc;
use std::time::Duration;

use socket2::SockRef;

use crate::broker::BrokerConn;
use crate::error::{BrokerRef, Error, ErrorKind, Handshake, Result};
use crate::sasl::SaslMechanism;
use crate::tls_failure::TlsFailure;
use crate::transport::{dial_tcp, host_of, Stream, TlsConnector};

/// How connections are opened: a [`Dialer`](crate::Dialer)'s settings,
/// zero values replaced by their defaults
/// ([`Dialer::connector`](crate::Dialer)).
#[derive(Clone)]
pub(crate) struct Connector {
    /// Sent in request headers; empty: none.
    pub(crate) client_id: String,
    /// The limit for the whole handshake.
    pub(crate) timeout: Duration,
    /// TCP keep-alive (zero: off).
    pub(crate) keep_alive: Duration,
    pub(crate) tls: Option<Arc<dyn TlsConnector>>,
    pub(crate) sasl_mechanism: Option<SaslMechanism>,
    /// The largest response frame accepted.
    pub(crate) max_frame_size: usize,
    /// The limit of each request (and of each SASL answer).
    pub(crate) request_timeout: Duration,
}

impl Connector {
    /// Dials `addr` (broker `node_id`, -1 for a bootstrap address), runs
    /// TLS if configured, negotiates API versions, and authenticates with
    /// SASL if configured. A timeout names the step it cut.
    pub(crate) async fn connect(&self, addr: &str, node_id: i32) -> Result<BrokerConn> {
        let broker = BrokerRef {
            id: node_id,
            addr: addr.to_owned(),
        };
        // The step running, for a timeout to name.
        let stage = std::sync::Mutex::new(Handshake::Connect);
        let at = |s: Handshake| *stage.lock().unwrap_or_else(|e| e.into_inner()) = s;
        let attempt = async {
            let tcp = dial_tcp(addr, Duration::ZERO, self.keep_alive).await?;
            // A second handle on the socket, to shut it down when the
            // connection is given up on (whoever holds the stream then).
            let socket = SockRef::from(&tcp).try_clone().ok();
            let stream = match &self.tls {
                None => Stream::Tcp(tcp),
                Some(tls) => {
                    at(Handshake::Tls);
                    Stream::Tls(tls.connect(host_of(addr), tcp).await.map_err(tls_error)?)
                }
            };
            at(Handshake::ApiVersions);
            let client_id = (!self.client_id.is_empty()).then_some(self.client_id.as_str());
            let mut conn = BrokerConn::connect(
                stream,
                socket,
                broker.clone(),
                client_id,
                self.max_frame_size,
            )
            .await?;
            if let Some(mechanism) = &self.sasl_mechanism {
                at(Handshake::Sasl);
                conn.authenticate(mechanism, self.request_timeout).await?;
            }
            Ok(conn)
        };
        // An unanswered (or trickled) ApiVersions must not hang the dial.
        let result = match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => {
                let stage = *stage.lock().unwrap_or_else(|e| e.into_inner());
                Err(Error::new(ErrorKind::HandshakeTimeout { stage }))
            }
        };
        result.map_err(|e| e.with_broker(&broker))
    }
}

/// An I/O error of a TLS handshake: rustls' own errors say what failed
/// ([`Error::io`] maps them); a connection closed or reset during the
/// handshake is [`TlsFailure::ConnectionClosed`], often a port that is not
/// a TLS listener.
fn tls_error(e: std::io::Error) -> Error {
    let err = Error::io(e);
    match err.kind() {
        ErrorKind::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
            ) =>
        {
            Error::new(ErrorKind::Tls {
                failure: TlsFailure::ConnectionClosed,
                message: format!("{io} (is this port a TLS listener, SSL or SASL_SSL?)"),
            })
        }
        _ => err,
    }
}
