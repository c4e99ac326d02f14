//! The split between deciding and doing: every producer and consumer
//! operation is a synchronous [`Plan`] that looks at the cluster's state and
//! says which one [`Io`] step comes next; one async loop (the driver, in
//! `crate::drive`) performs the steps (resolve, open, exchange, sleep) and
//! hands each outcome back.
//!
//! Why: written as nested `async fn`s, the same logic cost a firmware about
//! twice its synchronous size, every await point a saved state and every
//! error moved through each layer's future. Here the only future is the
//! driver's (quinn-proto's and rustls's split: the protocol is plain code,
//! I/O sits on top). This module holds only the vocabulary the plans, the
//! cluster's procedures and the driver share, so that none of them depends
//! on another to speak it.

use embassy_net::{IpAddress, IpEndpoint};
use embassy_time::{Duration, Instant};

use crate::error::Fallible;

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

/// A synchronous operation the driver runs (`Cluster::drive`).
pub(crate) trait Plan<C> {
    /// Takes the outcome of the last I/O this plan asked for (`None` at the
    /// start and after I/O a cluster procedure asked for) and says what next.
    fn step(&mut self, cluster: &mut C, outcome: Option<Fallible<usize>>) -> Step<'_>;
}
