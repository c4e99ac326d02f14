//! The tokio driver: listeners, connections, the timer, and the control
//! surface tests call.
//!
//! All Kafka logic is in [`Cluster`]; this layer only moves bytes and time.
//! One mutex guards the cluster: a request is handled start to finish under
//! it (decode, validate, store, encode), which keeps every broker's view
//! consistent and costs little next to the sockets.

mod connection;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use microkafka_core::wire::Uuid;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use crate::cluster::{Cluster, Completion, ConnId, ControlError, Handled, Session};
use crate::config::Config;
use crate::faults::{Fault, RequestRecord};
use crate::limits::Limits;
use crate::security::guard::{Guard, SecurityStats};
use crate::security::{tls, Effective, SecurityProtocol};

/// What a connection task is told from outside.
#[derive(Debug)]
pub(crate) enum ConnEvent {
    /// An answer that was not ready when its request was read.
    Frame { seq: u64, frame: Option<Vec<u8>> },
    /// Close now (broker down, connections dropped, shutdown).
    Close,
}

/// The cluster and when the timer task will next look at it.
pub(crate) struct Core {
    pub(crate) cluster: Cluster,
    timer_at: Option<Instant>,
}

struct ConnEntry {
    broker: i32,
    tx: mpsc::UnboundedSender<ConnEvent>,
}

/// What every task shares.
pub(crate) struct Shared {
    core: Mutex<Core>,
    conns: Mutex<HashMap<ConnId, ConnEntry>>,
    /// Open connections per client IP (their sum is the total), counted from
    /// accept to close so that a limit holds before a session exists.
    open: Mutex<HashMap<IpAddr, usize>>,
    timer: Notify,
    pub(crate) max_frame_size: usize,
    pub(crate) limits: Limits,
    /// The TLS side of `SSL` and `SASL_SSL` listeners.
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
    /// Failed authentications, per address and in total.
    guard: Mutex<Guard>,
}

/// A connection's place under the connection limits, given back on drop.
pub(crate) struct ConnSlot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut open = self.shared.open();
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        // A panic while holding the lock is a bug in the mock; the state is
        // still usable for the other connections.
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn conns(&self) -> MutexGuard<'_, HashMap<ConnId, ConnEntry>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn guard(&self) -> MutexGuard<'_, Guard> {
        self.guard.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a failed authentication from `ip` (`tls`: a failed handshake).
    pub(crate) fn authentication_failed(&self, ip: IpAddr, tls: bool) {
        self.guard().failed(ip, tls, Instant::now());
    }

    /// Counts a connection closed for not authenticating in time.
    pub(crate) fn handshake_timed_out(&self) {
        self.guard().timed_out();
    }

    /// A place for a new connection from `ip`, or `None` over
    /// `max_connections` or `max_connections_per_address` (Kafka closes such
    /// a connection at once, too), or while `ip` is refused for failing to
    /// authenticate too often.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ConnSlot> {
        if !self.guard().admit(ip, Instant::now()) {
            return None;
        }
        let mut open = self.open();
        let total: usize = open.values().sum();
        let from_ip = open.get(&ip).copied().unwrap_or(0);
        if total >= self.limits.max_connections
            || from_ip >= self.limits.max_connections_per_address
        {
            return None;
        }
        *open.entry(ip).or_insert(0) += 1;
        Some(ConnSlot {
            shared: self.clone(),
            ip,
        })
    }

    /// Open connections, across all brokers.
    pub(crate) fn open_connections(&self) -> usize {
        self.open().values().sum()
    }

    pub(crate) fn register(&self, id: ConnId, broker: i32, tx: mpsc::UnboundedSender<ConnEvent>) {
        self.conns().insert(id, ConnEntry { broker, tx });
    }

    pub(crate) fn unregister(&self, id: ConnId) {
        self.conns().remove(&id);
    }

    /// Handles one request; returns the result and the broker's latency, and
    /// routes whatever answers it made ready for other requests.
    pub(crate) fn handle(
        &self,
        session: &mut Session,
        frame: &[u8],
        now: Instant,
    ) -> (Handled, Duration) {
        let (handled, latency, completions, wake) = {
            let mut core = self.lock();
            let handled = core.cluster.handle(session, frame, now);
            let latency = core.cluster.latency(session.broker());
            let completions = core.cluster.take_completions();
            let next = core.cluster.poll_timeout();
            let wake = next.is_some_and(|n| core.timer_at.is_none_or(|t| n < t));
            (handled, latency, completions, wake)
        };
        if wake {
            self.timer.notify_one();
        }
        self.route(completions);
        (handled, latency)
    }

    /// Sends answers to their connections (dropped if the connection is gone).
    fn route(&self, completions: Vec<Completion>) {
        if completions.is_empty() {
            return;
        }
        let latencies: Vec<(ConnId, Duration)> = {
            let conns = self.conns();
            let core = self.lock();
            completions
                .iter()
                .map(|c| {
                    let broker = conns.get(&c.conn).map_or(0, |e| e.broker);
                    (c.conn, core.cluster.latency(broker))
                })
                .collect()
        };
        let conns = self.conns();
        for (c, (_, latency)) in completions.into_iter().zip(latencies) {
            let Some(entry) = conns.get(&c.conn) else {
                continue;
            };
            let event = ConnEvent::Frame {
                seq: c.seq,
                frame: Some(c.frame),
            };
            if latency.is_zero() {
                let _ = entry.tx.send(event);
            } else {
                let tx = entry.tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(latency).await;
                    let _ = tx.send(event);
                });
            }
        }
    }

    /// Closes every connection of `broker` (all connections when `None`).
    fn close_connections(&self, broker: Option<i32>) {
        for entry in self.conns().values() {
            if broker.is_none_or(|b| b == entry.broker) {
                let _ = entry.tx.send(ConnEvent::Close);
            }
        }
    }
}

/// Applies deadlines (fetch waits, sessions, rebalances) as they fall due.
async fn timer(shared: Arc<Shared>) {
    loop {
        let (completions, next) = {
            let mut core = shared.lock();
            core.cluster.handle_timeout(Instant::now());
            let completions = core.cluster.take_completions();
            let next = core.cluster.poll_timeout();
            core.timer_at = next;
            (completions, next)
        };
        shared.route(completions);
        match next {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = shared.timer.notified() => {}
                }
            }
            None => shared.timer.notified().await,
        }
    }
}

/// Accepts connections for one broker until aborted (which closes the listener).
async fn accept(shared: Arc<Shared>, broker: i32, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => match shared.admit(peer.ip()) {
                Some(slot) => {
                    let run = connection::run(shared.clone(), broker, stream, peer);
                    tokio::spawn(async move {
                        run.await;
                        drop(slot);
                    });
                }
                // Over a connection limit: closed at once (the stream drops).
                None => drop(stream),
            },
            // Out of file descriptors and the like: back off, keep serving.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Binds with `SO_REUSEADDR`, so a broker brought back up gets its port
/// again even while its old connections sit in TIME_WAIT.
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

struct Listener {
    addr: SocketAddr,
    task: Option<JoinHandle<()>>,
}

/// A running in-memory Kafka cluster: one listener per broker on
/// `127.0.0.1` (by default), sharing one [`Cluster`].
///
/// Start it inside a tokio runtime with [`MockCluster::start`], or from
/// plain synchronous code with [`MockCluster::start_in_background`], point a
/// client at [`bootstrap_servers`](Self::bootstrap_servers), and steer it
/// with the control methods. Dropping it stops every broker.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use microkafka_mock_broker::{Config, Fault, MockCluster};
/// use microkafka_core::{protocol::ApiKey, ErrorCode};
///
/// let cluster = MockCluster::start(Config::with_brokers(3)).await?;
/// cluster.create_topic("orders", 6).unwrap();
/// // The next Produce to the leader of orders/0 fails there, once.
/// let leader = cluster.leader("orders", 0).unwrap();
/// cluster.inject(Fault::error(ApiKey::Produce, ErrorCode::NOT_LEADER_OR_FOLLOWER).on_broker(leader));
/// println!("bootstrap.servers={}", cluster.bootstrap_servers());
/// # Ok(()) }
/// ```
pub struct MockCluster {
    shared: Arc<Shared>,
    listeners: Mutex<Vec<Listener>>,
    timer: JoinHandle<()>,
    handle: tokio::runtime::Handle,
    /// Set by `start_in_background`; dropped last.
    runtime: Option<tokio::runtime::Runtime>,
    protocol: SecurityProtocol,
    ca_pem: Option<String>,
}

impl MockCluster {
    /// Starts the cluster on the current tokio runtime: binds every broker's
    /// listener (port 0 picks a free port) and starts accepting.
    ///
    /// Errors: [`io::ErrorKind::InvalidInput`] when [`Config::security`]
    /// does not hold together (a TLS protocol without TLS settings or the
    /// reverse, SASL without mechanisms, a SCRAM iteration count outside
    /// 4096..=16384, certificates or keys that do not parse or match), or
    /// the listener's error when an address cannot be bound.
    pub async fn start(config: Config) -> io::Result<MockCluster> {
        Self::start_on(config, tokio::runtime::Handle::current())
    }

    /// Starts the cluster on a runtime of its own (two worker threads), for
    /// tests that are not async. Must not be called, nor the cluster dropped,
    /// from inside an async context.
    pub fn start_in_background(config: Config) -> io::Result<MockCluster> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("microkafka-mock")
            .enable_all()
            .build()?;
        let mut cluster = Self::start_on(config, runtime.handle().clone())?;
        cluster.runtime = Some(runtime);
        Ok(cluster)
    }

    fn start_on(config: Config, handle: tokio::runtime::Handle) -> io::Result<MockCluster> {
        let _guard = handle.enter();
        let effective = Effective::of(&config);
        let tls_settings = config.security.tls.clone();
        effective
            .check(tls_settings.as_ref())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tls = match &tls_settings {
            Some(settings) => Some(tokio_rustls::TlsAcceptor::from(tls::server_config(
                settings,
            )?)),
            None => None,
        };
        let n = config.broker_count();
        let addrs: Vec<SocketAddr> = (0..n).map(|i| config.listen_addr(i)).collect();
        let max_frame_size = config.max_frame_size;
        let limits = config.limits.clone();
        let mut cluster = Cluster::new(config);
        let mut bound = Vec::with_capacity(n);
        for (i, addr) in addrs.into_iter().enumerate() {
            let listener = bind(addr)?;
            let local = listener.local_addr()?;
            cluster
                .set_broker_address(i as i32 + 1, local)
                .map_err(|e| io::Error::other(e.to_string()))?;
            bound.push((local, listener));
        }
        let shared = Arc::new(Shared {
            core: Mutex::new(Core {
                cluster,
                timer_at: None,
            }),
            conns: Mutex::new(HashMap::new()),
            open: Mutex::new(HashMap::new()),
            timer: Notify::new(),
            max_frame_size,
            guard: Mutex::new(Guard::new(&limits)),
            limits,
            tls,
        });
        let listeners = bound
            .into_iter()
            .enumerate()
            .map(|(i, (addr, listener))| Listener {
                addr,
                task: Some(handle.spawn(accept(shared.clone(), i as i32 + 1, listener))),
            })
            .collect();
        let timer = handle.spawn(timer(shared.clone()));
        Ok(MockCluster {
            shared,
            listeners: Mutex::new(listeners),
            timer,
            handle,
            runtime: None,
            protocol: effective.protocol,
            ca_pem: tls_settings.and_then(|t| t.ca_pem),
        })
    }

    fn listeners(&self) -> MutexGuard<'_, Vec<Listener>> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every broker's listening address, in node-id order (node 1 first).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.listeners().iter().map(|l| l.addr).collect()
    }

    /// The `bootstrap.servers` string: every broker, comma-separated.
    pub fn bootstrap_servers(&self) -> String {
        self.addrs()
            .iter()
            .map(SocketAddr::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Runs `f` on the cluster state (for anything the methods below do not
    /// cover). Answers it makes ready are delivered.
    pub fn with_cluster<T>(&self, f: impl FnOnce(&mut Cluster) -> T) -> T {
        let (out, completions) = {
            let mut core = self.shared.lock();
            let out = f(&mut core.cluster);
            (out, core.cluster.take_completions())
        };
        let _guard = self.handle.enter();
        self.shared.route(completions);
        self.shared.timer.notify_one();
        out
    }

    /// Creates a topic (0 partitions: the configured default); returns its id.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<Uuid, ControlError> {
        self.with_cluster(|c| c.create_topic(name, partitions))
    }

    /// Takes a broker down: its listener closes (connecting is refused), its
    /// connections are closed, it leaves Metadata, and its partitions move to
    /// their next live replica (see [`Cluster::set_broker_up`]).
    pub fn broker_down(&self, node_id: i32) -> Result<(), ControlError> {
        self.with_cluster(|c| c.set_broker_up(node_id, false))?;
        let index = node_id as usize - 1;
        if let Some(task) = self.listeners().get_mut(index).and_then(|l| l.task.take()) {
            task.abort();
        }
        self.shared.close_connections(Some(node_id));
        Ok(())
    }

    /// Brings a broker back on its old address.
    pub fn broker_up(&self, node_id: i32) -> Result<(), ControlError> {
        let index =
            usize::try_from(node_id - 1).map_err(|_| ControlError::UnknownBroker(node_id))?;
        {
            let mut listeners = self.listeners();
            let slot = listeners
                .get_mut(index)
                .ok_or(ControlError::UnknownBroker(node_id))?;
            if slot.task.is_none() {
                let _guard = self.handle.enter();
                let listener = bind(slot.addr).map_err(|e| ControlError::Io(e.to_string()))?;
                slot.task = Some(
                    self.handle
                        .spawn(accept(self.shared.clone(), node_id, listener)),
                );
            }
        }
        self.with_cluster(|c| c.set_broker_up(node_id, true))
    }

    /// Closes every open connection to a broker (clients reconnect), as a
    /// network blip would.
    pub fn drop_connections(&self, node_id: i32) {
        self.shared.close_connections(Some(node_id));
    }

    /// Closes every open connection to every broker.
    pub fn drop_all_connections(&self) {
        self.shared.close_connections(None);
    }

    /// Moves a partition's leadership (see [`Cluster::move_leader`]).
    pub fn move_leader(
        &self,
        topic: &str,
        partition: i32,
        node_id: i32,
    ) -> Result<(), ControlError> {
        self.with_cluster(|c| c.move_leader(topic, partition, node_id))
    }

    /// Moves the coordinator of a group or a transactional id (see
    /// [`Cluster::move_coordinator`]).
    pub fn move_coordinator(&self, group: &str, node_id: i32) -> Result<(), ControlError> {
        self.with_cluster(|c| c.move_coordinator(group, node_id))
    }

    /// Queues a fault for upcoming requests (see [`Fault`]).
    pub fn inject(&self, fault: Fault) {
        self.with_cluster(|c| c.inject(fault));
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        self.with_cluster(Cluster::clear_faults);
    }

    /// Requests that arrived on a connection while the answer to an earlier
    /// one throttled it ([`FaultAction::Throttle`](crate::FaultAction::Throttle)):
    /// a client that honours `throttle_time_ms` sends none.
    pub fn throttle_violations(&self) -> u64 {
        self.with_cluster(|c| c.throttle_violations())
    }

    /// Delays every response of a broker by `latency` (zero to stop).
    pub fn set_latency(&self, node_id: i32, latency: Duration) -> Result<(), ControlError> {
        self.with_cluster(|c| c.set_latency(node_id, latency))
    }

    /// The requests recorded so far (api key, version, broker, client id,
    /// correlation id), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.with_cluster(|c| c.requests())
    }

    /// The requests recorded so far, clearing the record.
    pub fn take_requests(&self) -> Vec<RequestRecord> {
        self.with_cluster(Cluster::take_requests)
    }

    /// The leader of a partition (-1 when leaderless).
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.with_cluster(|c| c.leader(topic, partition))
    }

    /// `(log start, high watermark)` of a partition.
    pub fn offsets(&self, topic: &str, partition: i32) -> Option<(i64, i64)> {
        self.with_cluster(|c| c.offsets(topic, partition))
    }

    /// The stored bytes of a partition from `offset` on (see [`Cluster::log_bytes`]).
    pub fn log_bytes(&self, topic: &str, partition: i32, offset: i64) -> Option<Vec<u8>> {
        self.with_cluster(|c| c.log_bytes(topic, partition, offset))
    }

    /// The offset a group committed for a partition.
    pub fn committed_offset(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        self.with_cluster(|c| c.committed_offset(group, topic, partition))
    }

    /// Client connections open now, across all brokers (what the
    /// connection limits count).
    pub fn open_connections(&self) -> usize {
        self.shared.open_connections()
    }

    /// The listeners' security protocol (with
    /// [`Config::sasl_users`](crate::Config::sasl_users) folded in).
    pub fn security_protocol(&self) -> SecurityProtocol {
        self.protocol
    }

    /// The PEM of the CA that issued the brokers' generated certificate
    /// ([`TlsConfig::ca_pem`](crate::TlsConfig::ca_pem)): what clients trust.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Failed authentications, TLS handshake failures, handshake timeouts
    /// and connections refused by the brute-force guard, so far.
    pub fn security_stats(&self) -> SecurityStats {
        self.shared.guard().stats()
    }

    /// Stops every broker and closes every connection.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for MockCluster {
    fn drop(&mut self) {
        for l in self.listeners().iter_mut() {
            if let Some(task) = l.task.take() {
                task.abort();
            }
        }
        self.timer.abort();
        self.shared.close_connections(None);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
