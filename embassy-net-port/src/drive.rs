//! The driver: the one async loop ([`Cluster::drive`]) that performs the
//! I/O steps a [`Plan`] asks for (resolve, open, exchange, sleep) and hands
//! each outcome back, and on it the consumers' errands: one cluster
//! procedure (a leader's connection, any connection, metadata) or one
//! request and its answer per call.
//!
//! Above the cluster's synchronous procedures (`crate::cluster`), which it
//! awaits; the plans' vocabulary is `crate::plan`'s.

use embassy_time::{Duration, Timer};
use microkafka_core::client::Received;
use microkafka_core::group::GroupRequest;
use microkafka_core::protocol::Request;

use crate::cluster::Cluster;
use crate::connection::BrokerConnection;
use crate::error::{Error, ErrorKind, Failed, Fallible, Result};
use crate::plan::{Io, Outcome, Plan, Progress, Step};
use crate::resolve::Resolve;

impl<'a, R: Resolve, const CONNS: usize, const BROKERS: usize, const PARTITIONS: usize>
    Cluster<'a, R, CONNS, BROKERS, PARTITIONS>
{
    /// Runs `plan` to its end: the one place the producer and consumers
    /// await. A plan dropped mid-way (its future cancelled) leaves no
    /// procedure half-done: the next drive starts them afresh.
    pub(crate) async fn drive(&mut self, plan: &mut dyn Plan<Self>) -> Result<()> {
        self.reset_procedures();
        let mut outcome = None;
        loop {
            let io = match plan.step(self, outcome.take()) {
                Step::Io(io) => io,
                Step::Done(result) => return result.map_err(|Failed| self.error),
            };
            let performed = self.perform(io).await;
            outcome = self.complete(performed);
        }
    }

    /// Performs `io`; a failure is recorded in the error slot.
    async fn perform(&mut self, io: Io<'_>) -> Fallible<Outcome> {
        let performed = match io {
            Io::Resolve => match self.resolver.resolve(&self.target.host).await {
                Ok(ip) => return Ok(Outcome::Address(ip)),
                Err(kind) => Err(kind),
            },
            Io::Open { conn, endpoint } => {
                let timeout = self.config.connect_timeout;
                let Some(c) = self.conns.get_mut(conn) else {
                    return Err(self.fail(ErrorKind::ConnectionLost));
                };
                let opened = c.open(endpoint, timeout).await;
                // TLS, when configured: the handshake within its own timeout.
                #[cfg(feature = "tls")]
                let opened = match (opened, &mut self.security) {
                    (Ok(()), Some(security)) => {
                        let host = self.target.host.as_str();
                        let options = security.tls.as_ref();
                        c.start_tls(options, host, &mut *security.rng, timeout)
                            .await
                    }
                    (opened, _) => opened,
                };
                opened.map(|()| Outcome::Answer(0))
            }
            Io::Exchange {
                conn,
                head,
                tail,
                answered,
                timeout,
            } => {
                let Some(c) = self.conns.get_mut(conn) else {
                    return Err(self.fail(ErrorKind::ConnectionLost));
                };
                let head = self.head.get(..head).unwrap_or_default();
                c.roundtrip([head, tail], self.rx, answered, timeout)
                    .await
                    .map(Outcome::Answer)
            }
            Io::Sleep(at) => {
                Timer::at(at).await;
                return Ok(Outcome::Answer(0));
            }
        };
        performed.map_err(|e| self.fail(e))
    }

    // --- for the consumers: one procedure or exchange per call ----------

    async fn errand(&mut self, errand: Errand<'_>) -> Result<usize> {
        let mut plan = ErrandPlan {
            errand,
            started: false,
            value: Err(Failed),
        };
        self.drive(&mut plan).await?;
        plan.value.map_err(|Failed| self.error)
    }

    /// A connection to `partition`'s leader (metadata refreshed as needed).
    pub(crate) async fn leader_connection(&mut self, partition: i32) -> Result<usize> {
        self.errand(Errand::Leader(partition)).await
    }

    /// Any live connection: an open one, else one made by asking the known
    /// and bootstrap brokers for metadata.
    pub(crate) async fn any_connection(&mut self) -> Result<usize> {
        self.errand(Errand::AnyConnection).await
    }

    /// A connection to the broker at `host:port` (node id `node`).
    pub(crate) async fn connect_to(&mut self, host: &str, port: u16, node: i32) -> Result<usize> {
        self.errand(Errand::Connect { host, port, node }).await
    }

    /// Refreshes the topic's metadata.
    pub(crate) async fn refresh_metadata(&mut self) -> Result<()> {
        self.errand(Errand::Refresh).await.map(drop)
    }

    /// Sends `request` on connection `i` at the highest version agreed; the
    /// response borrows the response buffer.
    pub(crate) async fn request<'q, Q: Request<'q>>(
        &mut self,
        i: usize,
        request: &Q,
    ) -> Result<Q::Response<'_>> {
        let timeout = self.config.request_timeout;
        self.request_at(i, request, None, timeout).await
    }

    /// Sends `request` on connection `i` at `version` (or the highest
    /// agreed when `None`), waiting up to `timeout` for the answer.
    pub(crate) async fn request_at<'q, Q: Request<'q>>(
        &mut self,
        i: usize,
        request: &Q,
        version: Option<i16>,
        timeout: Duration,
    ) -> Result<Q::Response<'_>> {
        let c = self.conns.get_mut(i).ok_or(ErrorKind::ConnectionLost)?;
        let node = c.node();
        let context = |e: Error| e.with_api(Q::API_KEY).with_broker(node);
        let state = c.state().ok_or(context(ErrorKind::ConnectionLost.into()))?;
        let sent = match version {
            Some(v) => state.encode_at(&mut self.head, request, v),
            None => state.encode(&mut self.head, request),
        };
        let head = sent.map_err(|e| context(e.into()))?.len;
        let exchange = Errand::Exchange {
            conn: i,
            head,
            tail: &[],
            timeout,
        };
        let len = self.errand(exchange).await.map_err(context)?;
        let received = self.received(i, len).map_err(context)?;
        received
            .decode::<Q::Response<'_>>()
            .map_err(|e| context(e.into()))
    }

    /// Sends a consumer-group request (encoded into `frame` at the version
    /// agreed with this broker) and returns its matched response, which
    /// borrows the response buffer, for core's group
    /// [`Member`](microkafka_core::group::Member).
    pub(crate) async fn group_request(
        &mut self,
        i: usize,
        frame: &mut [u8],
        request: &GroupRequest<'_>,
        timeout: Duration,
    ) -> Result<Received<'_>> {
        let c = self.conns.get_mut(i).ok_or(ErrorKind::ConnectionLost)?;
        let node = c.node();
        let api = request.api();
        let context = |e: Error| e.with_api(api).with_broker(node);
        let state = c.state().ok_or(context(ErrorKind::ConnectionLost.into()))?;
        let sent = request
            .encode(state, frame)
            .map_err(|e| context(e.into()))?;
        let exchange = Errand::Exchange {
            conn: i,
            head: 0,
            tail: frame.get(..sent.len).unwrap_or_default(),
            timeout,
        };
        let len = self.errand(exchange).await.map_err(context)?;
        self.received(i, len).map_err(context)
    }
}

/// One thing a consumer asks of the cluster.
enum Errand<'p> {
    Leader(i32),
    AnyConnection,
    Connect {
        host: &'p str,
        port: u16,
        node: i32,
    },
    Refresh,
    /// `head` bytes of the request buffer then `tail`, answered.
    Exchange {
        conn: usize,
        head: usize,
        tail: &'p [u8],
        timeout: Duration,
    },
}

/// The plan that runs one [`Errand`]; `value` is its result (a connection
/// slot, or an answer's length).
struct ErrandPlan<'p> {
    errand: Errand<'p>,
    started: bool,
    value: Fallible<usize>,
}

impl<R: Resolve, const CONNS: usize, const BROKERS: usize, const PARTITIONS: usize>
    Plan<Cluster<'_, R, CONNS, BROKERS, PARTITIONS>> for ErrandPlan<'_>
{
    fn step(
        &mut self,
        cluster: &mut Cluster<'_, R, CONNS, BROKERS, PARTITIONS>,
        outcome: Option<Fallible<usize>>,
    ) -> Step<'_> {
        let started = core::mem::replace(&mut self.started, true);
        let progress = match self.errand {
            Errand::Leader(partition) => cluster.poll_leader(partition),
            Errand::AnyConnection => {
                let ready = cluster.conns.iter().position(BrokerConnection::is_ready);
                match (ready, started) {
                    (Some(i), false) => Progress::Done(Ok(i)),
                    _ => match cluster.poll_refresh() {
                        Progress::Io(io) => Progress::Io(io),
                        Progress::Done(result) => Progress::Done(result.and_then(|_| {
                            let ready = cluster.conns.iter().position(BrokerConnection::is_ready);
                            ready.ok_or_else(|| cluster.fail(ErrorKind::NoBroker))
                        })),
                    },
                }
            }
            Errand::Connect { host, port, node } => {
                if !started {
                    cluster.start_connect(host, port, node);
                }
                cluster.poll_connect()
            }
            Errand::Refresh => match cluster.poll_refresh() {
                Progress::Io(io) => Progress::Io(io),
                Progress::Done(result) => Progress::Done(result.map(|_| 0)),
            },
            Errand::Exchange {
                conn,
                head,
                tail,
                timeout,
            } => match outcome {
                Some(result) => Progress::Done(result),
                None => {
                    return Step::Io(Io::Exchange {
                        conn,
                        head,
                        tail,
                        answered: true,
                        timeout,
                    })
                }
            },
        };
        match progress {
            Progress::Io(io) => Step::Io(io),
            Progress::Done(value) => {
                self.value = value;
                Step::Done(Ok(()))
            }
        }
    }
}
