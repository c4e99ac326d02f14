//! The cluster without I/O: state, request handling, timers, control.
//!
//! [`Cluster`] is what every broker of the mock shares. A transport (the
//! tokio server in [`crate::server`], or a test) opens a [`Session`] per
//! client connection, hands each request frame to [`Cluster::handle`] with
//! the current time, and sends what comes back. Answers that wait (a
//! JoinGroup until the rebalance completes, a Fetch until data arrives) come
//! out later from [`Cluster::take_completions`]; [`Cluster::poll_timeout`]
//! says when to call [`Cluster::handle_timeout`]. Nothing here touches a
//! socket, and time is the caller's `now`, so tests drive it
//! deterministically. (The one clock read: [`Cluster::new`] notes the wall
//! clock once, to turn `now` into the seconds since the epoch an
//! OAUTHBEARER token's `exp` is compared with.)

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use microkafka_core::protocol::{ApiKey, RequestHeader};
use microkafka_core::wire::{Reader, Uuid};
use microkafka_core::ErrorCode;

use crate::config::Config;
use crate::faults::{Fault, FaultAction, Faults, RequestLog, RequestRecord};
use crate::group::{GroupLimits, Groups};
use crate::handlers::{self, Answer, Cx};
use crate::ids::Ids;
use crate::security::exchange::{AuthSettings, Exchange};
use crate::security::{Effective, SaslMechanism};
use crate::topics::{LogSettings, Placement, ProducerRetention, Topics};
use crate::txn::Transactions;
use crate::versions::{advertised, served};

const TOO_MANY_PARTITIONS: &str = "over the broker's max_partitions_per_topic limit";
const TOO_MANY_TOPICS: &str = "over the broker's max_topics limit";
const TOO_MANY_IN_TOTAL: &str = "over the broker's max_partitions limit";

/// How often the log cleaner looks at topics whose configs give it work
/// (`retention.ms`, `segment.ms`, `cleanup.policy=compact`). Kafka checks
/// retention every 5 minutes and compacts as dirty logs allow; a test
/// should see the effect in a second.
const LOG_CLEANER_INTERVAL: Duration = Duration::from_secs(1);

/// Identifies a connection within a cluster.
pub type ConnId = u64;

/// One client connection's state: which broker it reached, its
/// authentication progress and principal, and the sequence numbers of its
/// requests.
#[derive(Debug)]
pub struct Session {
    id: ConnId,
    broker: i32,
    client_host: String,
    pub(crate) auth: AuthState,
    next_seq: u64,
    /// A throttle announced on this connection ([`FaultAction::Throttle`]):
    /// requests arriving from the first instant to the second are counted
    /// as throttle violations.
    throttled: Option<(Instant, Instant)>,
}

/// A connection's authentication: where it is, and who it is.
#[derive(Debug)]
pub(crate) struct AuthState {
    pub(crate) stage: Stage,
    /// Kafka's principal name (type `User`): `ANONYMOUS`, a client
    /// certificate's subject, or the SASL user.
    pub(crate) principal: String,
    /// Set when the request just handled failed an authentication.
    pub(crate) failed: bool,
    /// The connection has authenticated at least once.
    pub(crate) authenticated_once: bool,
}

/// Where a connection is in SASL authentication.
#[derive(Debug)]
pub(crate) enum Stage {
    /// No SASL on this listener: everything is allowed.
    Open,
    /// Waiting for SaslHandshake (after a successful authentication:
    /// a re-authentication has begun, `reauth` is the session it renews).
    Handshake { reauth: Option<Authenticated> },
    /// Handshake done (`raw`: v0, so client messages come as bare frames
    /// rather than SaslAuthenticate requests).
    Authenticate {
        raw: bool,
        exchange: Box<Exchange>,
        reauth: Option<Authenticated>,
    },
    /// A re-authentication asked for another mechanism than the session's:
    /// its SaslAuthenticate fails (Kafka's `REAUTH_BAD_MECHANISM`).
    ReauthBadMechanism,
    /// Authenticated.
    Done(Authenticated),
    /// Authentication failed: the connection is closing; any further
    /// request closes it.
    Failed,
}

/// An authenticated session.
#[derive(Clone, Debug)]
pub(crate) struct Authenticated {
    pub(crate) mechanism: SaslMechanism,
    /// When the session ends unless renewed (KIP-368); `None`: never.
    pub(crate) expires_at: Option<Instant>,
    /// When the last re-authentication began (at most one per second).
    pub(crate) reauth_started: Option<Instant>,
}

impl Authenticated {
    fn expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }

    /// Kafka's `KafkaChannel.maybeBeginServerReauthentication`: only a
    /// session that expires may be renewed, at most once a second.
    fn may_reauthenticate(&self, now: Instant) -> bool {
        self.expires_at.is_some()
            && self
                .reauth_started
                .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1))
    }
}

impl AuthState {
    /// Marks a failed authentication: the connection closes after this answer.
    pub(crate) fn fail(&mut self) {
        self.failed = true;
        self.stage = Stage::Failed;
    }
}

/// The principal of a connection that has not authenticated.
pub(crate) const ANONYMOUS: &str = "ANONYMOUS";

impl Session {
    /// This connection's id (completions name it).
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The broker (node id) this connection reached.
    pub fn broker(&self) -> i32 {
        self.broker
    }

    /// True once the connection may send any request: no authentication is
    /// required, or it has authenticated (and is not re-authenticating).
    pub fn authenticated(&self) -> bool {
        matches!(self.auth.stage, Stage::Open | Stage::Done(_))
    }

    /// True until the connection has first authenticated, when SASL is
    /// required (the transport's handshake timeout runs meanwhile).
    pub fn awaiting_authentication(&self) -> bool {
        !matches!(self.auth.stage, Stage::Open) && !self.auth.authenticated_once
    }

    /// Who the connection is, as Kafka's principal name (type `User`):
    /// the SASL user once authenticated, else the subject of the client's
    /// TLS certificate (RFC 2253, `CN=alice`), else `ANONYMOUS`.
    pub fn principal(&self) -> &str {
        &self.auth.principal
    }

    /// True (once) when the last request handled failed an authentication:
    /// the transport counts it, and delays the close by
    /// [`Limits::failed_authentication_delay`](crate::Limits::failed_authentication_delay).
    pub fn take_authentication_failure(&mut self) -> bool {
        std::mem::take(&mut self.auth.failed)
    }
}

/// What to do with a request's answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Send this frame (size prefix included) once every earlier request on
    /// the connection has been answered.
    Respond(Vec<u8>),
    /// Nothing to send (Produce with acks=0); later responses need not wait for it.
    Nothing,
    /// The answer comes later as a [`Completion`] with this request's sequence
    /// number (a JoinGroup waiting for the rebalance, a Fetch long-poll).
    Later,
    /// Send this frame, if any, after the earlier ones, then close the
    /// connection (bad bytes, failed authentication, an injected fault).
    Close(Option<Vec<u8>>),
}

/// The result of [`Cluster::handle`].
#[derive(Debug, PartialEq, Eq)]
pub struct Handled {
    /// The request's sequence number on its connection (0, 1, 2, ...):
    /// responses are sent in this order.
    pub seq: u64,
    /// What to send.
    pub outcome: Outcome,
}

/// An answer that was not ready when its request was handled.
#[derive(Debug, PartialEq, Eq)]
pub struct Completion {
    /// The connection it goes to (it may have closed meanwhile: drop it then).
    pub conn: ConnId,
    /// The request's sequence number on that connection.
    pub seq: u64,
    /// The response frame, size prefix included.
    pub frame: Vec<u8>,
}

/// Where a deferred answer goes and how to encode it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReplyTo {
    pub(crate) conn: ConnId,
    pub(crate) seq: u64,
    pub(crate) correlation_id: i32,
    pub(crate) version: i16,
}

/// A broker of the cluster as clients see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerInfo {
    /// The node id (1-based).
    pub node_id: i32,
    /// The advertised host.
    pub host: String,
    /// The advertised port (0 until the listener is bound).
    pub port: i32,
    /// False while the broker is down.
    pub up: bool,
}

/// Why a control operation could not be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlError {
    /// No broker with this node id.
    UnknownBroker(i32),
    /// No such topic or partition.
    UnknownPartition(String, i32),
    /// A topic could not be created (the Kafka error CreateTopics would give).
    Create(ErrorCode),
    /// A listener could not be bound again when bringing a broker up.
    Io(String),
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlError::UnknownBroker(id) => write!(f, "no broker with node id {id}"),
            ControlError::UnknownPartition(t, p) => write!(f, "no partition {t}[{p}]"),
            ControlError::Create(code) => write!(f, "topic not created: {code:?}"),
            ControlError::Io(e) => write!(f, "listener: {e}"),
        }
    }
}

impl std::error::Error for ControlError {}

/// A Fetch waiting for data (`min_bytes`) until its `max_wait_ms` passes.
/// A connection has at most one (it handles one request at a time), so
/// their number is bounded by the connection limits.
#[derive(Debug)]
struct ParkedFetch {
    conn: ConnId,
    broker: i32,
    seq: u64,
    client_host: String,
    /// The request frame body, decoded again when one of its partitions
    /// receives data (or its wait ends).
    frame: Vec<u8>,
    /// The partitions it asks for: appends elsewhere do not wake it.
    interest: Vec<(String, i32)>,
    deadline: Instant,
}

/// What changed since parked fetches were last looked at.
#[derive(Debug, Default)]
pub(crate) struct Arrivals {
    /// Partitions that received data, by topic.
    partitions: HashMap<String, Vec<i32>>,
    /// Something every parked fetch must see (a topic deleted).
    everything: bool,
}

impl Arrivals {
    /// Data was appended to `topic`/`partition`.
    pub(crate) fn appended(&mut self, topic: &str, partition: i32) {
        if self.everything {
            return;
        }
        match self.partitions.get_mut(topic) {
            Some(ps) if ps.contains(&partition) => {}
            Some(ps) => ps.push(partition),
            None => {
                self.partitions.insert(topic.to_owned(), vec![partition]);
            }
        }
    }

    /// Every parked fetch must be looked at again.
    pub(crate) fn all(&mut self) {
        self.everything = true;
        self.partitions.clear();
    }

    fn is_empty(&self) -> bool {
        !self.everything && self.partitions.is_empty()
    }

    fn wakes(&self, p: &ParkedFetch) -> bool {
        self.everything
            || p.interest
                .iter()
                .any(|(t, i)| self.partitions.get(t).is_some_and(|ps| ps.contains(i)))
    }
}

/// The shared state of every broker, and the request handling over it.
#[derive(Debug)]
pub struct Cluster {
    pub(crate) config: Config,
    pub(crate) brokers: Vec<BrokerInfo>,
    latency: Vec<Duration>,
    pub(crate) topics: Topics,
    pub(crate) groups: Groups,
    /// Group coordinators moved by the control surface.
    coordinator_overrides: HashMap<String, i32>,
    next_producer_id: i64,
    /// The transaction coordinator's state.
    pub(crate) txns: Transactions,
    pub(crate) ids: Ids,
    pub(crate) faults: Faults,
    requests: RequestLog,
    parked: Vec<ParkedFetch>,
    /// Set by appends: the parked fetches they concern are looked at again.
    pub(crate) arrivals: Arrivals,
    completions: Vec<Completion>,
    /// Answers held back by [`FaultAction::Stall`] until their instant.
    stalled: Vec<(Instant, Completion)>,
    /// Requests that arrived on a connection during its throttle.
    throttle_violations: u64,
    next_conn: ConnId,
    /// SASL mechanisms, credentials (salted keys, PLAIN passwords) and
    /// session settings.
    pub(crate) auth: AuthSettings,
    /// An instant and the wall-clock time it was, for token expiry.
    wall: (Instant, SystemTime),
    /// When the log cleaner runs next (`None`: at once, when it has work).
    log_cleaner_at: Option<Instant>,
}

impl Cluster {
    /// A cluster as `config` describes it, brokers up, ports unknown until
    /// [`set_broker_address`](Self::set_broker_address).
    ///
    /// SCRAM users' salted keys are derived here (PBKDF2), and the users'
    /// passwords are then removed from the configuration the cluster keeps
    /// ([`config`](Self::config)): only PLAIN, which compares passwords,
    /// keeps them, in its credential store. TLS settings are the transport's
    /// ([`MockCluster`](crate::MockCluster)); a SCRAM iteration count out of
    /// Kafka's range is clamped into it ([`MockCluster::start`](crate::MockCluster::start)
    /// refuses it instead).
    pub fn new(mut config: Config) -> Self {
        let auth = AuthSettings::new(&Effective::of(&config));
        for u in config
            .sasl_users
            .iter_mut()
            .chain(config.security.sasl.users.iter_mut())
        {
            u.password.clear();
        }
        let brokers = (1..=config.broker_count() as i32)
            .map(|node_id| BrokerInfo {
                node_id,
                host: config
                    .advertised_host
                    .clone()
                    .unwrap_or_else(|| "127.0.0.1".to_owned()),
                port: 0,
                up: true,
            })
            .collect::<Vec<_>>();
        let limits = GroupLimits::of(&config);
        Cluster {
            latency: vec![Duration::ZERO; brokers.len()],
            brokers,
            topics: Topics::default(),
            groups: Groups::new(limits),
            coordinator_overrides: HashMap::new(),
            next_producer_id: 1000,
            txns: Transactions::default(),
            ids: Ids::new(config.seed),
            faults: Faults::default(),
            requests: RequestLog::new(config.record_requests),
            parked: Vec::new(),
            arrivals: Arrivals::default(),
            completions: Vec::new(),
            stalled: Vec::new(),
            throttle_violations: 0,
            next_conn: 1,
            auth,
            wall: (Instant::now(), SystemTime::now()),
            log_cleaner_at: None,
            config,
        }
    }

    /// `now` in milliseconds since the epoch.
    pub(crate) fn unix_ms(&self, now: Instant) -> i64 {
        let (at, wall) = self.wall;
        let base = wall
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        if now >= at {
            base.saturating_add(ms(now - at))
        } else {
            base.saturating_sub(ms(at - now))
        }
    }

    /// The configuration the cluster was made with (SASL passwords removed).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Every broker, up or down.
    pub fn brokers(&self) -> &[BrokerInfo] {
        &self.brokers
    }

    /// Sets the address a broker advertises (once its listener is bound).
    pub fn set_broker_address(
        &mut self,
        node_id: i32,
        addr: SocketAddr,
    ) -> Result<(), ControlError> {
        let host = match &self.config.advertised_host {
            Some(h) => h.clone(),
            None if addr.ip().is_unspecified() => "127.0.0.1".to_owned(),
            None => addr.ip().to_string(),
        };
        let b = self.broker_mut(node_id)?;
        b.host = host;
        b.port = i32::from(addr.port());
        Ok(())
    }

    fn broker_mut(&mut self, node_id: i32) -> Result<&mut BrokerInfo, ControlError> {
        self.brokers
            .iter_mut()
            .find(|b| b.node_id == node_id)
            .ok_or(ControlError::UnknownBroker(node_id))
    }

    pub(crate) fn broker(&self, node_id: i32) -> Option<&BrokerInfo> {
        self.brokers.iter().find(|b| b.node_id == node_id)
    }

    pub(crate) fn is_up(&self, node_id: i32) -> bool {
        self.broker(node_id).is_some_and(|b| b.up)
    }

    /// Opens a session for a new connection to broker `node_id` from `peer`.
    pub fn open_session(&mut self, node_id: i32, peer: Option<SocketAddr>) -> Session {
        self.open_session_as(node_id, peer, None)
    }

    /// Opens a session for a TLS connection whose client presented a
    /// certificate with this subject (RFC 2253): the connection's principal
    /// until (if SASL is required) it authenticates.
    pub fn open_session_as(
        &mut self,
        node_id: i32,
        peer: Option<SocketAddr>,
        certificate_subject: Option<String>,
    ) -> Session {
        let id = self.next_conn;
        self.next_conn += 1;
        Session {
            id,
            broker: node_id,
            client_host: peer.map_or_else(|| "/127.0.0.1".to_owned(), |p| format!("/{}", p.ip())),
            auth: AuthState {
                stage: if self.auth.required {
                    Stage::Handshake { reauth: None }
                } else {
                    Stage::Open
                },
                principal: certificate_subject.unwrap_or_else(|| ANONYMOUS.to_owned()),
                failed: false,
                authenticated_once: false,
            },
            next_seq: 0,
            throttled: None,
        }
    }

    /// Forgets a closed connection's waiting requests.
    pub fn close_session(&mut self, session: &Session) {
        self.parked.retain(|p| p.conn != session.id);
        self.stalled.retain(|(_, c)| c.conn != session.id);
    }

    /// Handles one request frame body (after the size prefix) received on
    /// `session` at `now`.
    pub fn handle(&mut self, session: &mut Session, frame: &[u8], now: Instant) -> Handled {
        let seq = session.next_seq;
        session.next_seq += 1;
        let outcome = self.handle_frame(session, seq, frame, now);
        self.after_request(now);
        let outcome = match outcome {
            Outcome::Later => self
                .take_own_completion(session.id, seq)
                .map_or(Outcome::Later, Outcome::Respond),
            other => other,
        };
        Handled { seq, outcome }
    }

    fn handle_frame(
        &mut self,
        session: &mut Session,
        seq: u64,
        frame: &[u8],
        now: Instant,
    ) -> Outcome {
        if !self.is_up(session.broker) {
            return Outcome::Close(None);
        }
        if matches!(session.auth.stage, Stage::Failed) {
            return Outcome::Close(None);
        }
        if matches!(session.auth.stage, Stage::Authenticate { raw: true, .. }) {
            return handlers::sasl::raw_token(self, session, frame, now);
        }
        let mut r = Reader::new(frame);
        let Ok(header) = RequestHeader::decode(&mut r) else {
            return Outcome::Close(None);
        };
        self.requests.push(|| RequestRecord {
            broker: session.broker,
            api_key: header.api_key,
            api_version: header.api_version,
            correlation_id: header.correlation_id,
            client_id: header.client_id.map(str::to_owned),
            connection: session.id,
            principal: session.auth.principal.clone(),
        });
        // A request for an API without a response schema here cannot be
        // answered in a form the client would parse; Kafka closes too.
        let Some(api) = header.api() else {
            return Outcome::Close(None);
        };
        // KIP-368, as Kafka's SocketServer: a SaslHandshake on a session
        // that expires begins a re-authentication (at most one a second);
        // otherwise an expired session closes on its next request.
        if let Stage::Done(done) = &session.auth.stage {
            if api == ApiKey::SaslHandshake && done.may_reauthenticate(now) {
                let renewing = Authenticated {
                    reauth_started: Some(now),
                    ..done.clone()
                };
                session.auth.stage = Stage::Handshake {
                    reauth: Some(renewing),
                };
            } else if done.expired(now) {
                return Outcome::Close(None);
            }
        }
        // During the exchange, after SaslHandshake, only SaslAuthenticate:
        // anything else gets its error answer (ILLEGAL_SASL_STATE) and the
        // connection closes, a failed authentication (Kafka's
        // "Unexpected Kafka request of type ... during SASL authentication").
        let mut out_of_turn = false;
        match &session.auth.stage {
            Stage::Open | Stage::Done(_) => {}
            Stage::Handshake { .. } => {
                if !matches!(
                    api,
                    ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
                ) {
                    // As Kafka: anything else before authentication ends the connection.
                    return Outcome::Close(None);
                }
            }
            Stage::Authenticate { .. } | Stage::ReauthBadMechanism => {
                out_of_turn = api != ApiKey::SaslAuthenticate;
            }
            Stage::Failed => return Outcome::Close(None),
        }
        let kafka4 = self.config.kafka4;
        if api == ApiKey::ApiVersions && !advertised(api, kafka4).contains(header.api_version) {
            return Outcome::Respond(handlers::api_versions::unsupported(
                header.correlation_id,
                kafka4,
            ));
        }
        // A version the broker does not serve (advertised or not: Kafka 4.x
        // still lists Produce v0-2) closes the connection, as Kafka does.
        if !served(api, kafka4).contains(header.api_version) {
            return Outcome::Close(None);
        }
        if session
            .throttled
            .is_some_and(|(from, until)| from <= now && now < until)
        {
            self.throttle_violations += 1;
        }
        let mut forced = None;
        let mut lose_response = false;
        let mut stall = None;
        let mut throttle = None;
        if out_of_turn {
            forced = Some(ErrorCode::ILLEGAL_SASL_STATE);
        } else {
            match self.faults.take_request(api, session.broker) {
                Some(FaultAction::Error(code)) => forced = Some(code),
                Some(FaultAction::Disconnect) => return Outcome::Close(None),
                Some(FaultAction::NoResponse) => return Outcome::Later,
                Some(FaultAction::LoseResponse) => lose_response = true,
                Some(FaultAction::Stall(d)) => stall = Some(d),
                Some(FaultAction::Throttle(d)) => throttle = Some(d),
                None => {}
            }
        }
        let mut cx = Cx {
            broker: session.broker,
            conn: session.id,
            seq,
            correlation_id: header.correlation_id,
            version: header.api_version,
            client_id: header.client_id.unwrap_or_default(),
            client_host: &session.client_host,
            now,
            forced,
            throttle_ms: throttle.map_or(0, |d| i32::try_from(d.as_millis()).unwrap_or(i32::MAX)),
            may_wait: true,
            cluster: self,
        };
        let answer = handlers::dispatch(&mut cx, api, &header, &mut r, &mut session.auth);
        if out_of_turn {
            session.auth.fail();
            return match answer {
                Answer::Frame(frame) | Answer::Close(Some(frame)) => Outcome::Close(Some(frame)),
                _ => Outcome::Close(None),
            };
        }
        if lose_response {
            // Whatever the answer (a parked Fetch included), it never leaves.
            return Outcome::Close(None);
        }
        if let (Some(d), Answer::Frame(_)) = (throttle, &answer) {
            // The first half leaves room for requests already on their way.
            session.throttled = Some((now + d / 2, now + d));
        }
        let answer = match (stall, answer) {
            (Some(d), Answer::Frame(frame)) => {
                // Answered through a completion, so the connection waits for it.
                let conn = session.id;
                self.stalled
                    .push((now + d, Completion { conn, seq, frame }));
                return Outcome::Later;
            }
            (_, answer) => answer,
        };
        match answer {
            Answer::Frame(frame) => Outcome::Respond(frame),
            Answer::Nothing => Outcome::Nothing,
            Answer::Later => Outcome::Later,
            Answer::Close(frame) => Outcome::Close(frame),
            Answer::Park(deadline) => {
                let interest = handlers::fetch::interest(self, frame);
                self.parked.push(ParkedFetch {
                    conn: session.id,
                    broker: session.broker,
                    seq,
                    client_host: session.client_host.clone(),
                    frame: frame.to_vec(),
                    interest,
                    deadline,
                });
                Outcome::Later
            }
        }
    }

    /// After any state change: wake parked fetches if data arrived, and
    /// encode the group answers that became ready.
    fn after_request(&mut self, now: Instant) {
        if !self.arrivals.is_empty() {
            let arrivals = std::mem::take(&mut self.arrivals);
            self.retry_parked(now, Some(&arrivals));
        }
        for (to, reply) in self.groups.take_replies() {
            if let Some(frame) = handlers::group::encode_reply(&to, &reply) {
                self.completions.push(Completion {
                    conn: to.conn,
                    seq: to.seq,
                    frame,
                });
            }
        }
    }

    fn take_own_completion(&mut self, conn: ConnId, seq: u64) -> Option<Vec<u8>> {
        let i = self
            .completions
            .iter()
            .position(|c| c.conn == conn && c.seq == seq)?;
        Some(self.completions.remove(i).frame)
    }

    /// Looks at parked fetches again: those whose wait is over (answered with
    /// whatever they have), and those `arrivals` concern.
    fn retry_parked(&mut self, now: Instant, arrivals: Option<&Arrivals>) {
        let parked = std::mem::take(&mut self.parked);
        for p in parked {
            let expired = p.deadline <= now;
            if !expired && !arrivals.is_some_and(|a| a.wakes(&p)) {
                self.parked.push(p);
                continue;
            }
            let mut r = Reader::new(&p.frame);
            let answer = match RequestHeader::decode(&mut r) {
                Ok(header) => {
                    let mut cx = Cx {
                        broker: p.broker,
                        conn: p.conn,
                        seq: p.seq,
                        correlation_id: header.correlation_id,
                        version: header.api_version,
                        client_id: header.client_id.unwrap_or_default(),
                        client_host: &p.client_host,
                        now,
                        forced: None,
                        throttle_ms: 0,
                        may_wait: !expired,
                        cluster: self,
                    };
                    handlers::fetch::handle_frame(&mut cx, &header, &mut r)
                }
                Err(_) => Answer::Nothing,
            };
            match answer {
                Answer::Park(_) => self.parked.push(p),
                Answer::Frame(frame) => self.completions.push(Completion {
                    conn: p.conn,
                    seq: p.seq,
                    frame,
                }),
                Answer::Nothing | Answer::Later | Answer::Close(_) => {}
            }
        }
    }

    /// Answers that became ready since the last call, for any connection.
    pub fn take_completions(&mut self) -> Vec<Completion> {
        std::mem::take(&mut self.completions)
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work: a Fetch
    /// wait ending, a stalled answer due, a session or rebalance timeout, a
    /// transaction timeout.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let fetches = self.parked.iter().map(|p| p.deadline).min();
        let stalled = self.stalled.iter().map(|(at, _)| *at).min();
        [
            fetches,
            stalled,
            self.groups.poll_timeout(),
            self.txns.poll_timeout(),
            self.topics
                .needs_cleaning()
                .then(|| self.log_cleaner_at.unwrap_or(self.wall.0)),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Applies the deadlines that passed by `now`; answers go to
    /// [`take_completions`](Self::take_completions).
    pub fn handle_timeout(&mut self, now: Instant) {
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.stalled)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.stalled = waiting;
        self.completions.extend(due.into_iter().map(|(_, c)| c));
        self.groups.handle_timeout(now, &mut self.ids);
        self.expire_transactions(now);
        if self.topics.needs_cleaning() && self.log_cleaner_at.is_none_or(|at| at <= now) {
            let max_inflated = self.config.limits.max_inflated_bytes;
            self.topics.clean(self.unix_ms(now), max_inflated);
            self.log_cleaner_at = Some(now + LOG_CLEANER_INTERVAL);
        }
        self.retry_parked(now, None);
        self.after_request(now);
    }

    // ----- lookups used by handlers -----

    /// The broker coordinating `key` (a group or transactional id): a stable
    /// hash over all brokers, skipping those that are down, unless moved.
    pub(crate) fn coordinator_for(&self, key: &str) -> Option<i32> {
        if let Some(&node) = self.coordinator_overrides.get(key) {
            if self.is_up(node) {
                return Some(node);
            }
        }
        let n = self.brokers.len();
        // FNV-1a: stable across runs, unlike the std hasher.
        let hash = key.bytes().fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        (0..n)
            .map(|i| &self.brokers[(hash as usize + i) % n])
            .find(|b| b.up)
            .map(|b| b.node_id)
    }

    /// The lowest live node id, which Metadata names as controller.
    pub(crate) fn controller(&self) -> i32 {
        self.brokers.iter().find(|b| b.up).map_or(-1, |b| b.node_id)
    }

    /// How long and how many producers' sequence state each partition keeps.
    pub(crate) fn producer_retention(&self) -> ProducerRetention {
        ProducerRetention {
            max_producers: self.config.limits.max_producers_per_partition,
            expiration: self.config.limits.producer_id_expiration,
        }
    }

    pub(crate) fn next_producer_id(&mut self) -> i64 {
        let id = self.next_producer_id;
        self.next_producer_id += 1;
        id
    }

    /// Where new partitions go: every broker (up or down) and the log settings.
    fn placement<'a>(
        &self,
        replication: usize,
        assignments: Option<&'a [Vec<i32>]>,
    ) -> Placement<'a> {
        Placement {
            brokers: self.brokers.iter().map(|b| (b.node_id, b.up)).collect(),
            replication,
            assignments,
            log: LogSettings {
                retention_bytes: self.config.retention_bytes,
                segment_bytes: self.config.segment_bytes,
            },
        }
    }

    /// True when every replica list is non-empty and names known brokers.
    fn assignable(&self, assignments: &[Vec<i32>]) -> bool {
        assignments
            .iter()
            .all(|r| !r.is_empty() && r.iter().all(|b| self.broker(*b).is_some()))
    }

    /// Creates a topic, validating it as CreateTopics does.
    pub(crate) fn create_topic_checked(
        &mut self,
        name: &str,
        partitions: i32,
        replication: i16,
        assignments: Option<&[Vec<i32>]>,
        retention_bytes: Option<usize>,
        validate_only: bool,
    ) -> Result<Uuid, (ErrorCode, &'static str)> {
        if !crate::topics::valid_topic_name(name) {
            return Err((
                ErrorCode::INVALID_TOPIC_EXCEPTION,
                "topic name is not valid",
            ));
        }
        if self.topics.get(name).is_some() {
            return Err((ErrorCode::TOPIC_ALREADY_EXISTS, "topic already exists"));
        }
        let limits = &self.config.limits;
        if self.topics.len() >= limits.max_topics {
            return Err((ErrorCode::POLICY_VIOLATION, TOO_MANY_TOPICS));
        }
        let partitions = match (partitions, assignments) {
            (_, Some(a)) if !a.is_empty() => a.len(),
            (-1, _) => self.config.default_partitions.max(1) as usize,
            (n, _) if n > 0 => n as usize,
            _ => {
                return Err((
                    ErrorCode::INVALID_PARTITIONS,
                    "number of partitions must be larger than 0",
                ))
            }
        };
        if partitions > limits.max_partitions_per_topic {
            return Err((ErrorCode::INVALID_PARTITIONS, TOO_MANY_PARTITIONS));
        }
        if self.topics.partition_count() + partitions > limits.max_partitions {
            return Err((ErrorCode::POLICY_VIOLATION, TOO_MANY_IN_TOTAL));
        }
        let replication = match replication {
            -1 => (self.config.default_replication_factor.max(1) as usize).min(self.brokers.len()),
            n if n > 0 => n as usize,
            _ => {
                return Err((
                    ErrorCode::INVALID_REPLICATION_FACTOR,
                    "replication factor must be larger than 0",
                ))
            }
        };
        if replication > self.brokers.len() {
            return Err((
                ErrorCode::INVALID_REPLICATION_FACTOR,
                "replication factor larger than the number of brokers",
            ));
        }
        if assignments.is_some_and(|a| !self.assignable(a)) {
            return Err((
                ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                "replica assignment names unknown brokers",
            ));
        }
        if validate_only {
            // Kafka answers a validated topic with the id it would have had.
            return Ok(self.ids.uuid());
        }
        let id = self.ids.uuid();
        let placement = self.placement(replication, assignments);
        self.topics
            .create(name, id, partitions, retention_bytes, &placement);
        Ok(id)
    }

    /// Grows a topic to `count` partitions, validating as CreatePartitions does.
    pub(crate) fn grow_topic(
        &mut self,
        name: &str,
        count: i32,
        assignments: Option<&[Vec<i32>]>,
        validate_only: bool,
    ) -> Result<(), (ErrorCode, &'static str)> {
        let Some(topic) = self.topics.get(name) else {
            return Err((ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, "unknown topic"));
        };
        let current = topic.partitions.len();
        let replication = topic.partitions.first().map_or(1, |p| p.replicas.len());
        if count < 0 || (count as usize) <= current {
            return Err((ErrorCode::INVALID_PARTITIONS, "partition count must grow"));
        }
        let limits = &self.config.limits;
        if count as usize > limits.max_partitions_per_topic {
            return Err((ErrorCode::INVALID_PARTITIONS, TOO_MANY_PARTITIONS));
        }
        if self.topics.partition_count() + (count as usize - current) > limits.max_partitions {
            return Err((ErrorCode::POLICY_VIOLATION, TOO_MANY_IN_TOTAL));
        }
        if let Some(a) = assignments {
            if a.len() != count as usize - current || !self.assignable(a) {
                return Err((
                    ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                    "assignments must name known brokers for each new partition",
                ));
            }
        }
        if validate_only {
            return Ok(());
        }
        let placement = self.placement(replication, assignments);
        self.topics.add_partitions(name, count as usize, &placement);
        Ok(())
    }

    /// Deletes a topic and the offsets committed for it.
    pub(crate) fn delete_topic(&mut self, name: &str) -> Option<Uuid> {
        let topic = self.topics.delete(name)?;
        self.groups.forget_topic(name);
        // Parked fetches naming it now answer UNKNOWN_TOPIC...
        self.arrivals.all();
        Some(topic.id)
    }

    // ----- control surface -----

    /// Creates a topic with `partitions` partitions (0 for the configured
    /// default) and the default replication; returns its id.
    pub fn create_topic(&mut self, name: &str, partitions: i32) -> Result<Uuid, ControlError> {
        let partitions = if partitions == 0 { -1 } else { partitions };
        self.create_topic_checked(name, partitions, -1, None, None, false)
            .map_err(|(code, _)| ControlError::Create(code))
    }

    /// Takes a broker down or brings it back up. A down broker is left out
    /// of Metadata; each partition it led moves to its next live replica
    /// (leader -1 when none is left) with a new leader epoch; group
    /// coordination moves to a live broker. Coming back up, it leads
    /// the partitions left without a leader; others stay where they moved,
    /// as Kafka does until a preferred-leader election.
    pub fn set_broker_up(&mut self, node_id: i32, up: bool) -> Result<(), ControlError> {
        self.broker_mut(node_id)?.up = up;
        let live: Vec<i32> = self
            .brokers
            .iter()
            .filter(|b| b.up)
            .map(|b| b.node_id)
            .collect();
        let mut moved = false;
        for topic in self.topics.iter_mut() {
            for p in &mut topic.partitions {
                let leader_lost = p.leader == node_id && !up;
                let leaderless = p.leader == -1 && up;
                if leader_lost || leaderless {
                    let next = p
                        .replicas
                        .iter()
                        .copied()
                        .find(|r| live.contains(r))
                        .unwrap_or(-1);
                    if next != p.leader {
                        p.leader = next;
                        p.leader_epoch += 1;
                        moved = true;
                    }
                }
            }
        }
        if !up {
            let conns: Vec<ConnId> = self
                .parked
                .iter()
                .filter(|p| p.broker == node_id)
                .map(|p| p.conn)
                .collect();
            self.parked.retain(|p| !conns.contains(&p.conn));
        }
        if moved {
            self.arrivals.all();
        }
        Ok(())
    }

    /// Makes `node_id` the leader of a partition (bumping its leader epoch),
    /// adding it to the replicas if needed. Clients still sending to the old
    /// leader get `NOT_LEADER_OR_FOLLOWER` and refresh their metadata.
    pub fn move_leader(
        &mut self,
        topic: &str,
        partition: i32,
        node_id: i32,
    ) -> Result<(), ControlError> {
        if self.broker(node_id).is_none() {
            return Err(ControlError::UnknownBroker(node_id));
        }
        let p = self
            .topics
            .partition_mut(topic, partition)
            .ok_or_else(|| ControlError::UnknownPartition(topic.to_owned(), partition))?;
        if !p.replicas.contains(&node_id) {
            p.replicas.push(node_id);
        }
        if p.leader != node_id {
            p.leader = node_id;
            p.leader_epoch += 1;
            // Parked fetches at the old leader answer NOT_LEADER now, as Kafka's
            // delayed fetches complete when their leader moves.
            self.arrivals.appended(topic, partition);
        }
        Ok(())
    }

    /// Moves the coordinator of a group or a transactional id to `node_id`.
    /// Its members (or producer) get `NOT_COORDINATOR` from the old one and
    /// look it up again; the group's (or transaction's) state moves along.
    pub fn move_coordinator(&mut self, key: &str, node_id: i32) -> Result<(), ControlError> {
        if self.broker(node_id).is_none() {
            return Err(ControlError::UnknownBroker(node_id));
        }
        self.coordinator_overrides.insert(key.to_owned(), node_id);
        Ok(())
    }

    /// The broker currently coordinating a group or a transactional id, if
    /// any broker is up.
    pub fn coordinator(&self, group: &str) -> Option<i32> {
        self.coordinator_for(group)
    }

    /// The leader of a partition (-1 when leaderless), if it exists.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.topics.partition(topic, partition).map(|p| p.leader)
    }

    /// Queues a fault for upcoming requests.
    pub fn inject(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    /// Drops every queued fault.
    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// Delays every response of a broker by `latency` (zero to stop).
    pub fn set_latency(&mut self, node_id: i32, latency: Duration) -> Result<(), ControlError> {
        let i = self
            .brokers
            .iter()
            .position(|b| b.node_id == node_id)
            .ok_or(ControlError::UnknownBroker(node_id))?;
        self.latency[i] = latency;
        Ok(())
    }

    /// Requests that arrived on a connection while the answer to an earlier
    /// one throttled it ([`FaultAction::Throttle`]): a client that honours
    /// `throttle_time_ms` sends none.
    pub fn throttle_violations(&self) -> u64 {
        self.throttle_violations
    }

    /// The response delay of a broker.
    pub fn latency(&self, node_id: i32) -> Duration {
        self.brokers
            .iter()
            .position(|b| b.node_id == node_id)
            .map_or(Duration::ZERO, |i| self.latency[i])
    }

    /// The requests recorded so far (see [`Config::record_requests`]).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.requests.snapshot()
    }

    /// The requests recorded so far, clearing the record.
    pub fn take_requests(&mut self) -> Vec<RequestRecord> {
        self.requests.take()
    }

    /// `(log start, high watermark)` of a partition.
    pub fn offsets(&self, topic: &str, partition: i32) -> Option<(i64, i64)> {
        self.topics
            .partition(topic, partition)
            .map(|p| (p.log.log_start(), p.log.end_offset()))
    }

    /// The stored bytes of a partition from the entry holding `offset` on:
    /// record batches (or legacy message sets) exactly as the broker serves
    /// them, for tests that inspect what a client wrote (iterate them with
    /// `microkafka_core::record::RecordSet`).
    pub fn log_bytes(&self, topic: &str, partition: i32, offset: i64) -> Option<Vec<u8>> {
        self.topics
            .partition(topic, partition)
            .map(|p| p.log.copy_from(offset))
    }

    /// Log bytes held across every partition (bounded by
    /// [`Limits::max_retained_bytes`](crate::Limits::max_retained_bytes)).
    pub fn retained_bytes(&self) -> usize {
        self.topics.retained_bytes()
    }

    /// Names of the existing topics, sorted.
    pub fn topic_names(&self) -> Vec<String> {
        self.topics.iter().map(|t| t.name.clone()).collect()
    }

    /// Partition count of a topic.
    pub fn partition_count(&self, topic: &str) -> Option<usize> {
        self.topics.get(topic).map(|t| t.partitions.len())
    }

    /// The offset a group committed for a partition.
    pub fn committed_offset(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        self.groups
            .committed(group, topic, partition)
            .map(|c| c.offset)
    }

    /// A group's state name as DescribeGroups reports it (`"Stable"`, ...),
    /// its generation and its member ids.
    pub fn group(&self, group: &str) -> Option<(String, i32, Vec<String>)> {
        let g = self.groups.get(group)?;
        let members = g.members.iter().map(|m| m.id.clone()).collect();
        Some((g.state.name().to_owned(), g.generation, members))
    }
}
