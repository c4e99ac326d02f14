//! The split between deciding and doing: every producer and consumer
//! operation is a synchronous [`Plan`] that looks at the cluster's state and
//! says which one [`Io`] step comes next; one async loop,
//! [`Cluster::drive`], performs the steps (resolve, open, exchange, sleep)
//! and hands each outcome back.
//!
//! Why: written as nested `async fn`s, the same logic cost a firmware about
//! twice its synchronous size, every await point a saved state and every
//! error moved through each layer's future. Here the only future is the
//! driver's (quinn-proto's and rustls's split: the protocol is plain code,
//! I/O sits on top).

use embassy_net::{IpAddress, IpEndpoint};
use embassy_time::{Duration, Instant, Timer};

use crate::cluster::Cluster;
use crate::error::{ErrorKind, Failed, Fallible, Result};
use crate::resolve::Resolve;

/// One I/O step a plan (or a cluster procedure) asks the driver for.
pub(crate) enum Io<'p> {
    /// Resolve the host of the connection being made (the cluster's target).
    Resolve,
    /// Open connection `conn` to `endpoint` (a TCP connect, within the
    /// connect timeout).
    Open { conn: usize, endpoint: IpEndpoint },
    /// Write `head` bytes of the cluster's request buffer, then `tail`, on
    /// connection `conn`; when `answered`, read the response frame's body
    /// into the response buffer. All within `timeout`.
    Exchange {
        conn: usize,
        head: usize,
        tail: &'p [u8],
        answered: bool,
        timeout: Duration,
    },
    /// Wait until this instant.
    Sleep(Instant),
}

/// What a performed [`Io`] produced.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Outcome {
    /// The address of the target host.
    Address(IpAddress),
    /// Bytes of the response body in the response buffer (0 when the step
    /// has no answer: an open, an unanswered request, a sleep).
    Answer(usize),
}

impl Outcome {
    /// The answer's length (0 for an address).
    pub(crate) fn len(self) -> usize {
        match self {
            Outcome::Answer(len) => len,
            Outcome::Address(_) => 0,
        }
    }
}

/// A plan's answer to "what now?".
pub(crate) enum Step<'p> {
    /// Perform this and call back with its outcome.
    Io(Io<'p>),
    /// The plan is over (a failure's error is in the cluster's slot).
    Done(Fallible<()>),
}

/// A cluster procedure's answer (connecting, refreshing metadata, finding a
/// leader): an I/O step to perform, or its result.
pub(crate) enum Progress<T> {
    /// Perform this; the procedure takes the outcome itself.
    Io(Io<'static>),
    /// Finished (the procedure is idle again).
    Done(T),
}

/// A synchronous operation driven by [`Cluster::drive`].
pub(crate) trait Plan<C> {
    /// Takes the outcome of the last I/O this plan asked for (`None` at the
    /// start and after I/O a cluster procedure asked for) and says what next.
    fn step(&mut self, cluster: &mut C, outcome: Option<Fallible<usize>>) -> Step<'_>;
}

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
                c.open(endpoint, timeout).await.map(|()| Outcome::Answer(0))
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
}
