//! A test broker with TLS: microkafka's mock cluster (its sans-IO
//! `Cluster`, SASL/PLAIN users included) served on loopback behind rustls,
//! with certificates made by rcgen for each run.
//!
//! Each broker of the cluster gets a listener; the cluster advertises those
//! listeners, so leaders and coordinators are dialed through TLS too.
//!
//! With [`SaslOptions`] the broker answers SaslHandshake and SaslAuthenticate
//! itself, with core's SASL servers (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER),
//! tells the client its session lifetime (KIP-368) and, as Kafka does,
//! closes a connection whose session expired on its next request other
//! than a re-authenticating SaslHandshake.
//! Requests on a connection are answered one at a time, in order (as Kafka
//! does). The broker runs on a thread and runtime of its own, so a client
//! test's runtime (paused time, a single thread) does not drive it.

#![allow(dead_code)] // each test file uses its own subset

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use microkafka_core::protocol::frame::encode_response;
use microkafka_core::protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use microkafka_core::protocol::{ApiKey, RequestHeader, Response};
use microkafka_core::sasl::{
    Mechanism, OAuthBearerMessage, SaslServer, ScramCredential, ScramHash, ServerCredentials,
    ServerStep,
};
use microkafka_core::wire::{Array, Reader as WireReader};
use microkafka_core::ErrorCode;
use microkafka_mock_broker::{Cluster, Config, Outcome, SaslUser};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// A CA, a server certificate it signed (localhost, 127.0.0.1) and a
/// client certificate it signed, PEM.
#[derive(Clone)]
pub(crate) struct TestPki {
    pub(crate) ca_pem: String,
    pub(crate) server_chain_pem: String,
    pub(crate) server_key_pem: String,
    pub(crate) client_chain_pem: String,
    pub(crate) client_key_pem: String,
}

impl TestPki {
    pub(crate) fn new() -> TestPki {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "microkafka test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);

        let mut server =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().unwrap();
        let server_cert = server.signed_by(&server_key, &issuer).unwrap();

        let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
        client.distinguished_name.push(DnType::CommonName, "alice");
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_key = KeyPair::generate().unwrap();
        let client_cert = client.signed_by(&client_key, &issuer).unwrap();

        TestPki {
            ca_pem: ca_cert.pem(),
            server_chain_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            client_chain_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
        }
    }

    fn server_config(&self, require_client_cert: bool) -> rustls::ServerConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
                roots.add(c.unwrap()).unwrap();
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let chain = CertificateDer::pem_slice_iter(self.server_chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes()).unwrap();
        builder.with_single_cert(chain, key).unwrap()
    }
}

/// How the test broker listens.
#[derive(Clone)]
pub(crate) struct Options {
    /// Brokers in the cluster (one listener each).
    pub(crate) brokers: usize,
    /// TLS with these certificates; `None`: plaintext.
    pub(crate) tls: Option<TestPki>,
    /// With TLS: require a client certificate the CA signed (mTLS).
    pub(crate) require_client_cert: bool,
    /// SASL/PLAIN users (`user`, `password`): when any, every connection
    /// must authenticate (the mock cluster's own SASL).
    pub(crate) sasl_users: Vec<(String, String)>,
    /// Accept connections and never say anything (not even TLS).
    pub(crate) silent: bool,
    /// SASL answered by this broker (not the mock's PLAIN): see [`SaslOptions`].
    pub(crate) sasl: Option<SaslOptions>,
}

/// SASL served by the test broker itself.
#[derive(Clone)]
pub(crate) struct SaslOptions {
    /// Mechanisms enabled, in the order SaslHandshake lists them.
    pub(crate) mechanisms: Vec<Mechanism>,
    /// `(user, password)` for PLAIN and SCRAM.
    pub(crate) users: Vec<(String, String)>,
    /// OAUTHBEARER tokens accepted (any other is refused).
    pub(crate) tokens: Vec<String>,
    /// Session lifetime told to clients (KIP-368); `None`: sessions last.
    pub(crate) session_lifetime: Option<Duration>,
}

impl Default for SaslOptions {
    fn default() -> Self {
        SaslOptions {
            mechanisms: Mechanism::ALL.to_vec(),
            users: vec![("alice".into(), "alice-secret".into())],
            tokens: Vec::new(),
            session_lifetime: None,
        }
    }
}

/// The users' credentials as core's servers ask for them (SCRAM keys
/// derived once).
struct Credentials {
    plain: Vec<(String, String)>,
    scram: Vec<(ScramHash, String, ScramCredential)>,
    tokens: Vec<String>,
}

impl Credentials {
    fn of(o: &SaslOptions) -> Credentials {
        let mut scram = Vec::new();
        for (user, password) in &o.users {
            for hash in [ScramHash::Sha256, ScramHash::Sha512] {
                if o.mechanisms.contains(&hash.mechanism()) {
                    let c =
                        ScramCredential::derive(hash, password, b"microkafka-salt", 4096).unwrap();
                    scram.push((hash, user.clone(), c));
                }
            }
        }
        Credentials {
            plain: o.users.clone(),
            scram,
            tokens: o.tokens.clone(),
        }
    }
}

impl ServerCredentials for Credentials {
    fn plain_password(&self, user: &str) -> Option<&[u8]> {
        self.plain
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, p)| p.as_bytes())
    }

    fn scram_credential(&self, hash: ScramHash, user: &str) -> Option<ScramCredential> {
        self.scram
            .iter()
            .find(|(h, u, _)| *h == hash && u == user)
            .map(|(_, _, c)| c.clone())
    }

    fn validate_token(&self, message: &OAuthBearerMessage<'_>) -> bool {
        self.tokens.iter().any(|t| t == message.token())
    }
}

/// What the broker counted about SASL.
#[derive(Debug, Default)]
pub(crate) struct SaslCounts {
    /// Successful authentications, first ones.
    pub(crate) authentications: AtomicUsize,
    /// Successful re-authentications.
    pub(crate) reauthentications: AtomicUsize,
    /// Connections closed because their session had expired.
    pub(crate) expired: AtomicUsize,
    /// Requests refused (connection closed) before authentication.
    pub(crate) unauthenticated: AtomicUsize,
    /// Failed exchanges.
    pub(crate) failures: AtomicUsize,
    /// Connections the client closed before authenticating (a dial that a
    /// closing Reader cancelled), TLS handshakes left halfway not included.
    pub(crate) abandoned: AtomicUsize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            brokers: 1,
            tls: None,
            require_client_cert: false,
            sasl_users: Vec::new(),
            silent: false,
            sasl: None,
        }
    }
}

type Routes = Mutex<std::collections::HashMap<u64, mpsc::UnboundedSender<(u64, Vec<u8>)>>>;

struct State {
    cluster: Mutex<Cluster>,
    routes: Routes,
    /// Connections accepted, by anyone.
    accepted: AtomicUsize,
    /// TLS handshakes that failed on the broker's side.
    tls_failures: AtomicUsize,
    stop: AtomicBool,
    sasl: Option<(SaslOptions, Credentials)>,
    counts: SaslCounts,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running test broker; stopped when dropped.
pub(crate) struct TestBroker {
    pub(crate) addrs: Vec<SocketAddr>,
    state: Arc<State>,
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Release);
    }
}

impl TestBroker {
    pub(crate) fn start(options: Options) -> TestBroker {
        let listeners: Vec<std::net::TcpListener> = (0..options.brokers)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let addrs: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        let config = Config {
            seed: Some(7),
            default_replication_factor: 1,
            group_min_session_timeout: Duration::from_millis(100),
            sasl_users: options
                .sasl_users
                .iter()
                .map(|(u, p)| SaslUser::new(u, p))
                .collect(),
            ..Config::with_brokers(options.brokers)
        };
        let mut cluster = Cluster::new(config);
        for (i, a) in addrs.iter().enumerate() {
            cluster.set_broker_address(i as i32 + 1, *a).unwrap();
        }
        let state = Arc::new(State {
            cluster: Mutex::new(cluster),
            routes: Mutex::new(Default::default()),
            accepted: AtomicUsize::new(0),
            tls_failures: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            sasl: options
                .sasl
                .as_ref()
                .map(|o| (o.clone(), Credentials::of(o))),
            counts: SaslCounts::default(),
        });
        let s = state.clone();
        std::thread::Builder::new()
            .name("tls-broker".into())
            .stack_size(16 << 20)
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(run(listeners, options, s));
            })
            .unwrap();
        TestBroker { addrs, state }
    }

    /// `host:port` of broker 1.
    pub(crate) fn bootstrap(&self) -> String {
        self.addrs[0].to_string()
    }

    /// `localhost:port` of broker 1 (a name the certificate holds).
    pub(crate) fn bootstrap_by_name(&self) -> String {
        format!("localhost:{}", self.addrs[0].port())
    }

    pub(crate) fn create_topic(&self, name: &str, partitions: i32) {
        lock(&self.state.cluster)
            .create_topic(name, partitions)
            .unwrap();
    }

    /// Connections accepted so far.
    pub(crate) fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::Acquire)
    }

    /// TLS handshakes that failed on the broker's side so far.
    pub(crate) fn tls_failures(&self) -> usize {
        self.state.tls_failures.load(Ordering::Acquire)
    }

    /// What happened with SASL (with [`Options::sasl`]).
    pub(crate) fn sasl(&self) -> &SaslCounts {
        &self.state.counts
    }
}

/// A connection's SASL state (with [`Options::sasl`]).
#[derive(Default)]
struct Auth {
    /// The exchange running, after a SaslHandshake.
    exchange: Option<SaslServer>,
    /// When the (last) authentication succeeded, and the session's end.
    authenticated: Option<(Instant, Option<Instant>)>,
}

/// The answer of the broker's own SASL, or `None`: not for it (the cluster answers).
enum SaslAnswer {
    Respond(Vec<u8>),
    Close(Option<Vec<u8>>),
}

fn encode<'r, R: Response<'r>>(correlation_id: i32, version: i16, body: &R) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let n = encode_response(&mut buf, correlation_id, version, body).unwrap();
    buf.truncate(n);
    buf
}

fn sasl_answer(state: &State, auth: &mut Auth, body: &[u8]) -> Option<SaslAnswer> {
    let (options, credentials) = state.sasl.as_ref()?;
    let mut r = WireReader::new(body);
    let header = RequestHeader::decode(&mut r).ok()?;
    let api = header.api()?;
    let (cid, version) = (header.correlation_id, header.api_version);
    let now = Instant::now();
    let counts = &state.counts;
    match api {
        ApiKey::ApiVersions => None,
        ApiKey::SaslHandshake => {
            let req: SaslHandshakeRequest<'_> =
                microkafka_core::protocol::frame::decode_request_body(&header, &mut r).ok()?;
            let names: Vec<&str> = options.mechanisms.iter().map(|m| m.name()).collect();
            let chosen =
                Mechanism::from_name(req.mechanism).filter(|m| options.mechanisms.contains(m));
            let error = match chosen {
                Some(m) => {
                    let mut random = [0u8; 24];
                    getrandom::fill(&mut random).unwrap();
                    auth.exchange = Some(SaslServer::new(m, &random).unwrap());
                    ErrorCode::NONE
                }
                None => ErrorCode::UNSUPPORTED_SASL_MECHANISM,
            };
            let frame = encode(
                cid,
                version,
                &SaslHandshakeResponse {
                    error_code: error,
                    mechanisms: Array::new(&names),
                },
            );
            Some(if error.is_err() {
                counts.failures.fetch_add(1, Ordering::AcqRel);
                SaslAnswer::Close(Some(frame))
            } else {
                SaslAnswer::Respond(frame)
            })
        }
        ApiKey::SaslAuthenticate => {
            let req: SaslAuthenticateRequest<'_> =
                microkafka_core::protocol::frame::decode_request_body(&header, &mut r).ok()?;
            let Some(server) = auth.exchange.as_mut() else {
                return Some(SaslAnswer::Close(None));
            };
            let mut out = vec![0u8; 1024];
            let step = server.step(req.auth_bytes, &mut out, credentials).unwrap();
            let mechanism = server.mechanism();
            let (error, message, bytes, lifetime) = match step {
                ServerStep::Challenge(n) => (ErrorCode::NONE, None, n, 0),
                ServerStep::Success(n) => {
                    let end = options.session_lifetime.map(|l| now + l);
                    if auth.authenticated.is_some() {
                        counts.reauthentications.fetch_add(1, Ordering::AcqRel);
                    } else {
                        counts.authentications.fetch_add(1, Ordering::AcqRel);
                    }
                    auth.authenticated = Some((now, end));
                    auth.exchange = None;
                    let ms = options.session_lifetime.map_or(0, |l| l.as_millis() as i64);
                    (ErrorCode::NONE, None, n, ms)
                }
                ServerStep::Failure { failure, .. } => (
                    ErrorCode::SASL_AUTHENTICATION_FAILED,
                    Some(failure.kafka_message(mechanism)),
                    0,
                    0,
                ),
            };
            let frame = encode(
                cid,
                version,
                &SaslAuthenticateResponse {
                    error_code: error,
                    error_message: message,
                    auth_bytes: &out[..bytes],
                    session_lifetime_ms: lifetime,
                },
            );
            Some(if error.is_err() {
                counts.failures.fetch_add(1, Ordering::AcqRel);
                SaslAnswer::Close(Some(frame))
            } else {
                SaslAnswer::Respond(frame)
            })
        }
        _ => match auth.authenticated {
            None => {
                counts.unauthenticated.fetch_add(1, Ordering::AcqRel);
                Some(SaslAnswer::Close(None))
            }
            Some((_, Some(end))) if now >= end => {
                counts.expired.fetch_add(1, Ordering::AcqRel);
                Some(SaslAnswer::Close(None))
            }
            Some(_) => None,
        },
    }
}

async fn run(listeners: Vec<std::net::TcpListener>, options: Options, state: Arc<State>) {
    let acceptor = options.tls.as_ref().map(|pki| {
        tokio_rustls::TlsAcceptor::from(Arc::new(pki.server_config(options.require_client_cert)))
    });
    for (i, l) in listeners.into_iter().enumerate() {
        l.set_nonblocking(true).unwrap();
        let l = tokio::net::TcpListener::from_std(l).unwrap();
        let (state, acceptor, silent) = (state.clone(), acceptor.clone(), options.silent);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = l.accept().await else {
                    return;
                };
                state.accepted.fetch_add(1, Ordering::AcqRel);
                let _ = tcp.set_nodelay(true);
                let state = state.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if silent {
                        let _keep = tcp;
                        while !state.stop.load(Ordering::Acquire) {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        return;
                    }
                    match acceptor {
                        None => serve(tcp, i as i32 + 1, peer, &state).await,
                        Some(a) => match a.accept(tcp).await {
                            Ok(tls) => serve(tls, i as i32 + 1, peer, &state).await,
                            Err(_) => {
                                state.tls_failures.fetch_add(1, Ordering::AcqRel);
                            }
                        },
                    }
                });
            }
        });
    }
    // Long-polls ending, group deadlines: answers that became ready.
    while !state.stop.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let done = {
            let mut c = lock(&state.cluster);
            let now = Instant::now();
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
            }
            c.take_completions()
        };
        let routes = lock(&state.routes);
        for d in done {
            if let Some(tx) = routes.get(&d.conn) {
                let _ = tx.send((d.seq, d.frame));
            }
        }
    }
}

/// Answers the requests of one connection, one at a time.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    node: i32,
    peer: SocketAddr,
    state: &Arc<State>,
) {
    let (mut r, mut w) = tokio::io::split(stream);
    let mut session = lock(&state.cluster).open_session(node, Some(peer));
    let mut auth = Auth::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    lock(&state.routes).insert(session.id(), tx);
    loop {
        if state.stop.load(Ordering::Acquire) {
            break;
        }
        let mut size = [0u8; 4];
        if r.read_exact(&mut size).await.is_err() {
            break;
        }
        let size = i32::from_be_bytes(size);
        if !(0..64 << 20).contains(&size) {
            break;
        }
        let mut body = vec![0u8; size as usize];
        if r.read_exact(&mut body).await.is_err() {
            break;
        }
        match sasl_answer(state, &mut auth, &body) {
            Some(SaslAnswer::Respond(f)) => {
                if w.write_all(&f).await.is_err() {
                    break;
                }
                continue;
            }
            Some(SaslAnswer::Close(f)) => {
                if let Some(f) = f {
                    let _ = w.write_all(&f).await;
                }
                break;
            }
            None => {}
        }
        let handled = lock(&state.cluster).handle(&mut session, &body, Instant::now());
        let frame = match handled.outcome {
            Outcome::Respond(f) => Some(f),
            Outcome::Nothing => None,
            Outcome::Later => loop {
                match rx.recv().await {
                    Some((seq, f)) if seq == handled.seq => break Some(f),
                    Some(_) => {}
                    None => break None,
                }
            },
            Outcome::Close(f) => {
                if let Some(f) = f {
                    let _ = w.write_all(&f).await;
                }
                break;
            }
        };
        if let Some(f) = frame {
            if w.write_all(&f).await.is_err() || w.flush().await.is_err() {
                break;
            }
        }
    }
    if state.sasl.is_some() && auth.authenticated.is_none() {
        state.counts.abandoned.fetch_add(1, Ordering::AcqRel);
    }
    let _ = w.shutdown().await;
    lock(&state.routes).remove(&session.id());
    lock(&state.cluster).close_session(&session);
}
