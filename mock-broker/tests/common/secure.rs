//! A tiny Kafka client for the security tests: TCP or TLS (tokio-rustls,
//! ring), ApiVersions and SASL through microkafka-core's `Connection` and
//! `Authenticator`, then Produce and Fetch.

#![allow(dead_code)] // each test file uses its own subset

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use microkafka_core::client::Connection;
use microkafka_core::protocol::messages::*;
use microkafka_core::protocol::{Request, Response};
use microkafka_core::record::{Batch, RecordSet};
use microkafka_core::sasl::{
    Authenticator, OAuthBearerClient, PlainClient, SaslClient, ScramClient, Session, Step,
};
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;
use microkafka_mock_broker::{CertifiedKeyPem, SaslMechanism};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::wire::batch;

/// How long any one step may take before the test fails.
pub(crate) const STEP: Duration = Duration::from_secs(10);

/// What the client's TLS trusts and presents.
#[derive(Clone, Debug, Default)]
pub(crate) struct ClientTls {
    /// The CA the broker's certificate chains to.
    pub(crate) ca_pem: String,
    /// A client certificate (mutual TLS).
    pub(crate) cert: Option<CertifiedKeyPem>,
    /// Only TLS 1.2 (else 1.3, falling back to 1.2).
    pub(crate) tls12_only: bool,
}

impl ClientTls {
    pub(crate) fn trusting(ca_pem: &str) -> Self {
        ClientTls {
            ca_pem: ca_pem.to_owned(),
            ..ClientTls::default()
        }
    }

    pub(crate) fn config(&self) -> Arc<ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let versions: &[&rustls::SupportedProtocolVersion] = if self.tls12_only {
            &[&rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots);
        let config = match &self.cert {
            Some(c) => {
                let chain = CertificateDer::pem_slice_iter(c.cert_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap();
                let key = PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes()).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
            None => builder.with_no_client_auth(),
        };
        Arc::new(config)
    }
}

/// A byte stream, TCP or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Opens TCP to `addr`, and TLS over it when `tls` is given.
pub(crate) async fn open(addr: SocketAddr, tls: Option<&ClientTls>) -> io::Result<Box<dyn Io>> {
    let tcp = timeout(STEP, TcpStream::connect(addr)).await??;
    let _ = tcp.set_nodelay(true);
    match tls {
        None => Ok(Box::new(tcp)),
        Some(tls) => {
            let connector = tokio_rustls::TlsConnector::from(tls.config());
            let name = ServerName::try_from(addr.ip().to_string()).unwrap();
            let stream = timeout(STEP, connector.connect(name, tcp)).await??;
            Ok(Box::new(stream))
        }
    }
}

/// The credentials a client logs in with.
#[derive(Clone, Debug)]
pub(crate) enum Login {
    Plain {
        user: String,
        password: String,
    },
    Scram {
        mechanism: SaslMechanism,
        user: String,
        password: String,
    },
    OAuthBearer {
        token: String,
    },
}

impl Login {
    /// A login for `mechanism` as `user` (OAUTHBEARER: an unsecured token
    /// for `user`, valid for a minute).
    pub(crate) fn new(mechanism: SaslMechanism, user: &str, password: &str) -> Login {
        match mechanism {
            SaslMechanism::Plain => Login::Plain {
                user: user.into(),
                password: password.into(),
            },
            SaslMechanism::OAuthBearer => Login::OAuthBearer {
                token: microkafka_mock_broker::unsecured_jwt(user, Duration::from_secs(60)),
            },
            m => Login::Scram {
                mechanism: m,
                user: user.into(),
                password: password.into(),
            },
        }
    }
}

/// A connection that speaks Kafka through core's state machines.
pub(crate) struct Client {
    io: Box<dyn Io>,
    conn: Connection<8>,
    buf: Vec<u8>,
}

impl Client {
    /// Connects and agrees API versions (ApiVersions is allowed before SASL).
    pub(crate) async fn connect(addr: SocketAddr, tls: Option<&ClientTls>) -> io::Result<Client> {
        let io = open(addr, tls).await?;
        let mut c = Client {
            io,
            conn: Connection::new(Some("secure-test")).unwrap(),
            buf: vec![0u8; 1 << 20],
        };
        while !c.conn.is_ready() {
            let sent = c.conn.start(&mut c.buf).unwrap();
            c.send(sent.len).await?;
            let frame = c.read_frame().await?;
            c.conn
                .receive(&frame[4..])
                .map_err(|e| io::Error::other(e.to_string()))?;
        }
        Ok(c)
    }

    async fn send(&mut self, len: usize) -> io::Result<()> {
        timeout(STEP, self.io.write_all(&self.buf[..len])).await??;
        timeout(STEP, self.io.flush()).await?
    }

    /// Writes raw bytes.
    pub(crate) async fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        timeout(STEP, self.io.write_all(bytes)).await??;
        timeout(STEP, self.io.flush()).await?
    }

    /// Reads one response frame, size prefix included.
    pub(crate) async fn read_frame(&mut self) -> io::Result<Vec<u8>> {
        let mut size = [0u8; 4];
        timeout(STEP, self.io.read_exact(&mut size)).await??;
        let len = i32::from_be_bytes(size);
        let len = usize::try_from(len).map_err(|_| io::Error::other("negative size"))?;
        let mut frame = size.to_vec();
        frame.resize(4 + len, 0);
        timeout(STEP, self.io.read_exact(&mut frame[4..])).await??;
        Ok(frame)
    }

    /// True once the broker has closed the connection (EOF or an error),
    /// reading and discarding anything before it.
    pub(crate) async fn closed(&mut self) -> bool {
        let mut sink = [0u8; 256];
        loop {
            match timeout(STEP, self.io.read(&mut sink)).await {
                Err(_) => return false,
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => continue,
            }
        }
    }

    /// Authenticates: SaslHandshake v1, then SaslAuthenticate until done.
    /// The error is the SASL error's text.
    pub(crate) async fn authenticate(&mut self, login: &Login) -> Result<Session, String> {
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).unwrap();
        let client: SaslClient<'_> = match login {
            Login::Plain { user, password } => PlainClient::new(user, password).unwrap().into(),
            Login::Scram {
                mechanism,
                user,
                password,
            } => ScramClient::new(mechanism.scram_hash().unwrap(), user, password, &random)
                .unwrap()
                .into(),
            Login::OAuthBearer { token } => OAuthBearerClient::new(token).unwrap().into(),
        };
        let mut auth = Authenticator::new(client);
        loop {
            let sent = auth
                .encode(&mut self.conn, &mut self.buf)
                .map_err(|e| e.to_string())?;
            self.send(sent.len).await.map_err(|e| e.to_string())?;
            let frame = self.read_frame().await.map_err(|e| format!("read: {e}"))?;
            let received = self.conn.receive(&frame[4..]).map_err(|e| e.to_string())?;
            match auth.receive(&received).map_err(|e| e.to_string())? {
                Step::Continue => continue,
                Step::Authenticated(session) => return Ok(session),
            }
        }
    }

    /// Sends `request` at the negotiated version (or `version`) and returns
    /// the response frame.
    pub(crate) async fn call<'r, R: Request<'r>>(
        &mut self,
        request: &R,
        version: Option<i16>,
    ) -> io::Result<(Vec<u8>, i16)> {
        let sent = match version {
            Some(v) => self.conn.encode_at(&mut self.buf, request, v),
            None => self.conn.encode(&mut self.buf, request),
        }
        .map_err(|e| io::Error::other(e.to_string()))?;
        self.send(sent.len).await?;
        let frame = self.read_frame().await?;
        Ok((frame, sent.version))
    }

    /// Decodes a response frame from [`call`](Self::call).
    pub(crate) fn decode<'f, R: Response<'f>>(&mut self, frame: &'f [u8]) -> R {
        let received = self.conn.receive(&frame[4..]).unwrap();
        received.decode().unwrap()
    }

    /// Produces `values` to `topic`/0 (acks all; the topic is created
    /// through Metadata first); returns the base offset.
    pub(crate) async fn produce(&mut self, topic: &str, values: &[&[u8]]) -> io::Result<i64> {
        let topics = [MetadataRequestTopic {
            name: Some(topic),
            ..Default::default()
        }];
        let metadata = MetadataRequest {
            topics: Some(Array::new(&topics)),
            allow_auto_topic_creation: true,
            ..Default::default()
        };
        let (frame, _) = self.call(&metadata, None).await?;
        let _: MetadataResponse<'_> = self.decode(&frame);
        let records = batch(values, 1_700_000_000_000);
        let parts = [PartitionProduceData {
            index: 0,
            records: Some(&records),
        }];
        let topics = [TopicProduceData {
            name: topic,
            partition_data: Array::new(&parts),
        }];
        let request = ProduceRequest {
            acks: -1,
            timeout_ms: 5000,
            topic_data: Array::new(&topics),
            ..Default::default()
        };
        let (frame, _) = self.call(&request, None).await?;
        let response: ProduceResponse<'_> = self.decode(&frame);
        let p = response
            .responses
            .iter()
            .next()
            .and_then(|t| t.partition_responses.iter().next())
            .ok_or_else(|| io::Error::other("empty Produce answer"))?;
        if p.error_code != ErrorCode::NONE {
            return Err(io::Error::other(format!("produce: {:?}", p.error_code)));
        }
        Ok(p.base_offset)
    }

    /// Fetches `topic`/0 from `offset` (Fetch v12, by name); returns the values.
    pub(crate) async fn fetch(&mut self, topic: &str, offset: i64) -> io::Result<Vec<Vec<u8>>> {
        let parts = [FetchPartition {
            partition: 0,
            fetch_offset: offset,
            partition_max_bytes: 1 << 20,
            ..Default::default()
        }];
        let topics = [FetchTopic {
            topic,
            partitions: Array::new(&parts),
            ..Default::default()
        }];
        let request = FetchRequest {
            max_wait_ms: 0,
            min_bytes: 0,
            max_bytes: 1 << 20,
            topics: Array::new(&topics),
            ..Default::default()
        };
        let (frame, _) = self.call(&request, Some(12)).await?;
        let response: FetchResponse<'_> = self.decode(&frame);
        let mut values = Vec::new();
        for t in response.responses.iter() {
            for p in t.partitions.iter() {
                if p.error_code != ErrorCode::NONE {
                    return Err(io::Error::other(format!("fetch: {:?}", p.error_code)));
                }
                for b in RecordSet::new(p.records.unwrap_or_default()) {
                    let Ok(Batch::V2(b)) = b else {
                        return Err(io::Error::other("not a v2 batch"));
                    };
                    for r in b.records().unwrap() {
                        values.push(r.unwrap().value.unwrap_or_default().to_vec());
                    }
                }
            }
        }
        Ok(values)
    }

    /// Sends Metadata (for a topic) and returns its error-free answer's
    /// broker count; an error if the broker closed instead.
    pub(crate) async fn metadata(&mut self) -> io::Result<usize> {
        let (frame, _) = self.call(&MetadataRequest::default(), None).await?;
        let response: MetadataResponse<'_> = self.decode(&frame);
        Ok(response.brokers.iter().count())
    }
}
