//! One pipelined connection to one broker.
//!
//! Core's [`Connection`] decides the bytes (correlation ids, negotiated
//! versions, the in-flight FIFO); this module moves them. Requests are
//! encoded and written in order under one write lock; a reader task reads
//! response frames as they come and hands each to the [`Slot`] of the request
//! it answers (Kafka answers a connection's requests in order). Receive
//! buffers travel with the requests and come back with the responses, so a
//! caller that reuses its buffer and slot allocates nothing per request.
//!
//! At most [`MAX_IN_FLIGHT`] requests are pipelined. Each holds a semaphore
//! permit, and the permit's return is structural: until the request is
//! queued for its answer, dropping the permit (an error, a request over
//! `max_frame_size`, a cancelled caller) gives it back; once queued, it
//! travels inside the queue entry and comes back when the answer is read
//! or the connection fails.
//!
//! SASL: with a mechanism configured, [`BrokerConn::authenticate`] runs
//! core's [`Authenticator`] over the connection once ApiVersions is done,
//! before anyone else may send. When the broker limits the session
//! (KIP-368), a task re-authenticates on the same connection at 85-95% of
//! the lifetime: it takes the write lock, so senders pause (their requests
//! wait, none fails), finishes any request cut mid-write, sends the SASL
//! requests behind whatever is in flight (the reader task delivers those
//! answers as usual, in order), and releases the lock once authenticated.
//! The SASL requests take no pipelining permit (core's connection has one
//! spare slot for them), so a full pipeline of senders waiting for the lock
//! cannot deadlock it.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use microkafka_core::client::{client_throttle_ms, Connection, Deframer, Negotiator, Received};
use microkafka_core::protocol::frame::SIZE_PREFIX_LEN;
use microkafka_core::protocol::messages::{FetchResponse, ProduceResponse};
use microkafka_core::protocol::{ApiKey, NegotiatedVersions, Request, Response as CoreResponse};
use microkafka_core::sasl::{Authenticator, SaslError, Session, Step};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::error::{BrokerRef, Error, ErrorKind, Result};
use crate::sasl::{sasl_error, OAuthToken, SaslMechanism};
use crate::transport::{ReadHalf, Stream, WriteHalf};

/// Requests pipelined on one connection before senders wait.
pub(crate) const MAX_IN_FLIGHT: usize = 32;

/// Requests core's connection tracks in flight: the pipeline, plus one
/// SASL re-authentication request (sent while the pipeline may be full).
const PROTO_CAPACITY: usize = MAX_IN_FLIGHT + 1;

/// A decoded-on-demand response: the frame body and where its header ends.
#[derive(Debug)]
pub(crate) struct Response {
    buf: Vec<u8>,
    body: Range<usize>,
    api: ApiKey,
    version: i16,
    correlation_id: i32,
}

impl Response {
    /// Decodes the body as `R` (borrowing this response's buffer).
    pub(crate) fn decode<'b, R: CoreResponse<'b>>(&'b self) -> Result<R> {
        let received = Received {
            api: self.api,
            version: self.version,
            correlation_id: self.correlation_id,
            body: self.buf.get(self.body.clone()).unwrap_or_default(),
        };
        received
            .decode::<R>()
            .map_err(|e| Error::from(e).with_api(self.api))
    }

    /// The response as core's connection matched it (to hand to core's
    /// state machines).
    pub(crate) fn received(&self) -> Received<'_> {
        Received {
            api: self.api,
            version: self.version,
            correlation_id: self.correlation_id,
            body: self.buf.get(self.body.clone()).unwrap_or_default(),
        }
    }

    /// The version the request was sent (and the response encoded) at.
    pub(crate) fn version(&self) -> i16 {
        self.version
    }

    /// Where `part` (a slice of a response decoded from this one) lies in
    /// the buffer; empty when it is not from here.
    pub(crate) fn range_of(&self, part: &[u8]) -> Range<usize> {
        // Address arithmetic, no unsafe: decoded fields borrow `buf`.
        let start = (part.as_ptr() as usize).wrapping_sub(self.buf.as_ptr() as usize);
        match start.checked_add(part.len()) {
            Some(end) if end <= self.buf.len() && !part.is_empty() => start..end,
            _ => 0..0,
        }
    }

    /// The bytes at `range` of the buffer (see [`range_of`](Self::range_of)).
    pub(crate) fn body_slice(&self, range: &Range<usize>) -> &[u8] {
        self.buf.get(range.clone()).unwrap_or_default()
    }

    /// The whole buffer (to reuse it for the next request).
    pub(crate) fn into_buf(self) -> Vec<u8> {
        self.buf
    }
}

/// Where a request's response is delivered; reusable across requests.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    delivered: Mutex<Option<(i32, Result<Response>)>>,
    notify: Notify,
}

impl Slot {
    pub(crate) fn new() -> Arc<Slot> {
        Arc::new(Slot::default())
    }

    fn lock(&self) -> MutexGuard<'_, Option<(i32, Result<Response>)>> {
        self.delivered.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn deliver(&self, correlation_id: i32, result: Result<Response>) {
        *self.lock() = Some((correlation_id, result));
        self.notify.notify_one();
    }

    /// Waits for the response to request `correlation_id`; anything older
    /// (the answer to a request whose caller gave up) is dropped.
    pub(crate) async fn wait(&self, correlation_id: i32) -> Result<Response> {
        loop {
            {
                let mut delivered = self.lock();
                match delivered.take() {
                    Some((id, result)) if id == correlation_id => return result,
                    _ => {}
                }
            }
            self.notify.notified().await;
        }
    }
}

struct Pending {
    slot: Arc<Slot>,
    correlation_id: i32,
    buf: Vec<u8>,
    /// The request's in-flight slot, given back when this entry is dropped
    /// (its answer was read, or the connection failed). None for SASL
    /// requests (see the module's doc).
    _in_flight: Option<OwnedSemaphorePermit>,
}

struct State {
    proto: Connection<PROTO_CAPACITY>,
    pending: VecDeque<Pending>,
    closed: Option<Error>,
}

struct Shared {
    state: Mutex<State>,
    /// One permit per request that may still be pipelined.
    permits: Arc<Semaphore>,
    broker: BrokerRef,
    max_frame_size: usize,
    /// The TCP socket under the stream (a duplicate handle), to shut it
    /// down when the connection is given up on (see [`Shared::close`]).
    socket: Option<socket2::Socket>,
    /// SASL re-authentications done on this connection.
    reauthentications: std::sync::atomic::AtomicU64,
    /// Until when the broker asked for quiet (KIP-219 throttling): no
    /// request is sent before then.
    throttled_until: Mutex<Option<tokio::time::Instant>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the connection dead, fails every request waiting on it, and
    /// shuts the socket down.
    fn close(&self, why: Error) {
        let pending = {
            let mut st = self.lock();
            if st.closed.is_none() {
                st.closed = Some(why.with_broker(&self.broker));
            }
            std::mem::take(&mut st.pending)
        };
        self.permits.close();
        // A connection given up on (a timeout, a wrong correlation id, a
        // frame over the limit) is closed now, not when the last owner of
        // the `BrokerConn` drops it: a pool or a `Conn` may hold it for a
        // long time, keeping a socket open and the broker's resources
        // (and a trickling broker's bytes) on it.
        if let Some(socket) = &self.socket {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
        for p in pending {
            let e = Error::new(ErrorKind::ConnectionClosed).with_broker(&self.broker);
            p.slot.deliver(p.correlation_id, Err(e));
        }
    }

    /// Honours the `throttle_time_ms` of an answer of `api` at `version`
    /// (KIP-219): when core says the client waits it out
    /// ([`client_throttle_ms`]), no request is sent on this connection
    /// until it has passed. Requests sent anyway would only wait, muted, in
    /// the broker's socket, their timeouts running. Called by the reader
    /// task as the answer arrives, before anyone else may send.
    fn throttle(&self, api: ApiKey, version: i16, throttle_time_ms: i32) {
        let ms = client_throttle_ms(api, version, throttle_time_ms);
        if ms == 0 {
            return;
        }
        let until = tokio::time::Instant::now() + Duration::from_millis(u64::from(ms));
        let mut at = self
            .throttled_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if at.is_none_or(|t| t < until) {
            *at = Some(until);
        }
    }

    fn closed_error(&self) -> Error {
        self.lock()
            .closed
            .clone()
            .unwrap_or_else(|| Error::new(ErrorKind::ConnectionClosed).with_broker(&self.broker))
    }
}

struct WriteSide {
    half: WriteHalf,
    buf: Vec<u8>,
    /// The bytes of `buf` not written yet. A request is queued for its
    /// answer before its bytes are written, and cannot be taken back: if
    /// its caller is cancelled mid-write, the next writer finishes it first,
    /// so the broker never sees a frame cut short by another.
    unsent: Range<usize>,
}

/// A negotiated, pipelined connection to one broker.
pub(crate) struct BrokerConn {
    shared: Arc<Shared>,
    versions: NegotiatedVersions,
    write: Arc<tokio::sync::Mutex<WriteSide>>,
    reader: JoinHandle<()>,
    /// The KIP-368 re-authentication task, when the session expires.
    reauth: Option<JoinHandle<()>>,
}

impl Drop for BrokerConn {
    fn drop(&mut self) {
        self.reader.abort();
        if let Some(r) = &self.reauth {
            r.abort();
        }
    }
}

impl std::fmt::Debug for BrokerConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerConn")
            .field("broker", &self.shared.broker)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl BrokerConn {
    /// Negotiates API versions over `stream` and starts the reader task.
    /// `socket` is the TCP socket under `stream` (a duplicate handle), shut
    /// down when the connection is closed.
    pub(crate) async fn connect(
        stream: Stream,
        socket: Option<socket2::Socket>,
        broker: BrokerRef,
        client_id: Option<&str>,
        max_frame_size: usize,
    ) -> Result<BrokerConn> {
        let ctx = |e: Error| e.with_api(ApiKey::ApiVersions).with_broker(&broker);
        let (mut r, mut w) = stream.split();
        let mut proto = Connection::<PROTO_CAPACITY>::new(client_id).map_err(|e| ctx(e.into()))?;
        let mut negotiator = Negotiator::new();
        let mut deframer = Deframer::new(max_frame_size);
        let mut out = vec![0u8; 512];
        let mut frame = Vec::new();
        let versions = loop {
            let sent = negotiator
                .request(&mut proto, &mut out)
                .map_err(|e| ctx(e.into()))?;
            w.write_all(&out[..sent.len])
                .await
                .map_err(|e| ctx(e.into()))?;
            read_first_frame(&mut r, &mut deframer, &mut frame)
                .await
                .map_err(ctx)?;
            let agreed = negotiator.receive(&mut proto, &frame);
            if let Some(versions) = agreed.map_err(|e| ctx(e.into()))? {
                break *versions;
            }
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                proto,
                pending: VecDeque::with_capacity(MAX_IN_FLIGHT),
                closed: None,
            }),
            permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            broker,
            max_frame_size,
            socket,
            reauthentications: std::sync::atomic::AtomicU64::new(0),
            throttled_until: Mutex::new(None),
        });
        let reader = tokio::spawn(read_loop(shared.clone(), r));
        Ok(BrokerConn {
            shared,
            versions,
            write: Arc::new(tokio::sync::Mutex::new(WriteSide {
                half: w,
                buf: vec![0u8; 16 * 1024],
                unsent: 0..0,
            })),
            reader,
            reauth: None,
        })
    }

    /// Authenticates with `mechanism` (right after [`connect`](Self::connect),
    /// before any other request), each answer awaited at most `timeout`;
    /// when the broker limits the session, starts the task that
    /// re-authenticates before it ends.
    pub(crate) async fn authenticate(
        &mut self,
        mechanism: &SaslMechanism,
        timeout: Duration,
    ) -> Result<()> {
        let token = mechanism
            .token()
            .await
            .map_err(|e| e.with_broker(&self.shared.broker))?;
        let (session, started) = {
            let mut w = self.write.lock().await;
            sasl_exchange(&self.shared, &mut w, mechanism, token, timeout).await?
        };
        if let Some(at) = reauthenticate_at(&session, started) {
            self.reauth = Some(tokio::spawn(reauthenticate(
                self.shared.clone(),
                self.write.clone(),
                mechanism.clone(),
                at,
                timeout,
            )));
        }
        Ok(())
    }

    /// SASL re-authentications done on this connection so far.
    pub(crate) fn reauthentications(&self) -> u64 {
        self.shared
            .reauthentications
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The broker this connection goes to.
    pub(crate) fn broker(&self) -> &BrokerRef {
        &self.shared.broker
    }

    /// The versions agreed with the broker.
    pub(crate) fn versions(&self) -> &NegotiatedVersions {
        &self.versions
    }

    /// The version `api` is sent at on this connection.
    pub(crate) fn version(&self, api: ApiKey) -> Result<i16> {
        self.versions
            .version(api)
            .map_err(|e| Error::from(e).with_api(api).with_broker(self.broker()))
    }

    /// True once the connection failed or was closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.lock().closed.is_some()
    }

    /// Closes the connection: requests in flight fail with `why`.
    pub(crate) fn close(&self, why: Error) {
        self.shared.close(why);
        self.reader.abort();
        if let Some(r) = &self.reauth {
            r.abort();
        }
    }

    /// Waits until a throttle announced by the broker is over, at most
    /// `limit` (zero: no limit), so that a broker announcing absurd
    /// throttles cannot hold a call much past its timeout.
    async fn wait_throttle(&self, limit: Duration) {
        let until = *self
            .shared
            .throttled_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(mut until) = until {
            if !limit.is_zero() {
                until = until.min(tokio::time::Instant::now() + limit);
            }
            tokio::time::sleep_until(until).await;
        }
    }

    /// Encodes and writes `request`; its response will go to `slot`, read
    /// into `buf`. Returns the correlation id to [`Slot::wait`] for.
    pub(crate) async fn send<'r, R: Request<'r> + Sync>(
        &self,
        request: &R,
        slot: &Arc<Slot>,
        buf: Vec<u8>,
    ) -> Result<i32> {
        // Given back by its drop until it is queued with the request.
        let permit = self
            .shared
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| self.shared.closed_error())?;
        let mut w = self.write.lock().await;
        // Again under the write lock: a throttle may have come in while
        // this sender waited for it (bounded by the caller's timeout).
        self.wait_throttle(Duration::ZERO).await;
        write_unsent(&self.shared, &mut w).await?;
        let mut buf = Some(buf);
        let mut permit = Some(permit);
        let (len, correlation_id) = loop {
            let encoded = {
                let mut st = self.shared.lock();
                if let Some(e) = &st.closed {
                    return Err(e.clone());
                }
                match st.proto.encode(&mut w.buf, request) {
                    Ok(sent) => {
                        if let Some(in_flight) = permit.take() {
                            st.pending.push_back(Pending {
                                slot: slot.clone(),
                                correlation_id: sent.correlation_id,
                                buf: buf.take().unwrap_or_default(),
                                _in_flight: Some(in_flight),
                            });
                        }
                        Ok((sent.len, sent.correlation_id))
                    }
                    Err(e) => Err(e),
                }
            };
            match encoded {
                Ok(done) => break done,
                Err(microkafka_core::Error::BufferTooSmall) => grow(&self.shared, &mut w.buf)?,
                Err(e) => return Err(Error::from(e).with_broker(self.broker())),
            }
        };
        w.unsent = 0..len;
        write_unsent(&self.shared, &mut w).await?;
        Ok(correlation_id)
    }

    /// Sends a request the broker does not answer (Produce with acks = 0).
    pub(crate) async fn send_unanswered<'r, R: Request<'r> + Sync>(
        &self,
        request: &R,
    ) -> Result<()> {
        let mut w = self.write.lock().await;
        write_unsent(&self.shared, &mut w).await?;
        let len = loop {
            let encoded = {
                let mut st = self.shared.lock();
                if let Some(e) = &st.closed {
                    return Err(e.clone());
                }
                st.proto.encode_unanswered(&mut w.buf, request)
            };
            match encoded {
                Ok(sent) => break sent.len,
                Err(microkafka_core::Error::BufferTooSmall) => grow(&self.shared, &mut w.buf)?,
                Err(e) => return Err(Error::from(e).with_broker(self.broker())),
            }
        };
        w.unsent = 0..len;
        write_unsent(&self.shared, &mut w).await
    }

    /// Sends `request` and waits for its response (read into `buf`, which
    /// comes back inside the [`Response`]), at most `timeout` (zero: no
    /// limit). A timeout closes the connection: a late answer would arrive
    /// ahead of later ones, so the stream cannot be used again.
    pub(crate) async fn roundtrip<'r, R: Request<'r> + Sync>(
        &self,
        request: &R,
        slot: &Arc<Slot>,
        buf: Vec<u8>,
        timeout: Duration,
    ) -> Result<Response> {
        // Before the timeout starts: the request is not sent yet.
        self.wait_throttle(timeout).await;
        let exchange = async {
            let correlation_id = self.send(request, slot, buf).await?;
            slot.wait(correlation_id).await
        };
        let result = if timeout.is_zero() {
            exchange.await
        } else {
            match tokio::time::timeout(timeout, exchange).await {
                Ok(result) => result,
                Err(_) => {
                    let e = Error::new(ErrorKind::Timeout).with_broker(self.broker());
                    self.close(e.clone());
                    Err(e)
                }
            }
        };
        result.map_err(|e| e.with_api(R::API_KEY).with_broker(self.broker()))
    }

    /// [`roundtrip`](Self::roundtrip) with a fresh slot and buffer (for
    /// occasional requests: metadata, admin, offsets).
    pub(crate) async fn request<'r, R: Request<'r> + Sync>(
        &self,
        request: &R,
        timeout: Duration,
    ) -> Result<Response> {
        self.roundtrip(request, &Slot::new(), Vec::new(), timeout)
            .await
    }
}

/// Writes the unsent bytes of the last request encoded. Progress is
/// recorded after each write (each is all or nothing), so a caller
/// cancelled here leaves exactly the rest to the next writer. A failed
/// write closes the connection.
async fn write_unsent(shared: &Shared, w: &mut WriteSide) -> Result<()> {
    while !w.unsent.is_empty() {
        let WriteSide { half, buf, unsent } = &mut *w;
        let written = match half.write(&buf[unsent.clone()]).await {
            Ok(0) => Err(std::io::Error::from(std::io::ErrorKind::WriteZero)),
            other => other,
        };
        match written {
            Ok(n) => unsent.start += n,
            Err(e) => {
                let e = Error::from(e).with_broker(&shared.broker);
                shared.close(e.clone());
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Doubles a request buffer, up to the frame limit.
fn grow(shared: &Shared, buf: &mut Vec<u8>) -> Result<()> {
    let limit = shared.max_frame_size + SIZE_PREFIX_LEN;
    if buf.len() >= limit {
        return Err(Error::from(microkafka_core::Error::TooLarge {
            what: microkafka_core::Limit::RequestFrame,
            size: buf.len() * 2,
            limit,
        })
        .with_broker(&shared.broker));
    }
    let len = (buf.len() * 2).clamp(4096, limit);
    buf.resize(len, 0);
    Ok(())
}

/// Bytes for a SCRAM nonce (RFC 5802 wants them unpredictable).
const NONCE_RANDOM_LEN: usize = 24;

/// One SASL exchange on a connection whose write side the caller holds
/// (nobody else sends meanwhile): SaslHandshake, then SaslAuthenticate
/// until the mechanism is done. `token` is the mechanism's OAUTHBEARER
/// token, got before the write side was taken (a token provider may take
/// its time; senders should not wait for it). Each answer is awaited at most `timeout`
/// (a timeout closes the connection). Returns the session and when its
/// last request was sent (the session's lifetime counts from about then).
async fn sasl_exchange(
    shared: &Shared,
    w: &mut WriteSide,
    mechanism: &SaslMechanism,
    token: Option<Arc<OAuthToken>>,
    timeout: Duration,
) -> Result<(Session, std::time::Instant)> {
    let ctx = |e: Error| e.with_broker(&shared.broker);
    write_unsent(shared, w).await?;
    let extensions: Vec<(&str, &str)> = token
        .iter()
        .flat_map(|t| t.extensions.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .collect();
    let mut random = [0u8; NONCE_RANDOM_LEN];
    getrandom::fill(&mut random).map_err(|e| {
        ctx(Error::config(format!(
            "no random bytes for the SCRAM nonce from the operating system: {e}"
        )))
    })?;
    let client = mechanism
        .client(token.as_deref(), &extensions, &random)
        .map_err(ctx)?;
    let mut auth = Authenticator::new(client);
    let slot = Slot::new();
    let mut response_buf = Vec::new();
    // The first request is SaslHandshake, the others SaslAuthenticate.
    let mut api = ApiKey::SaslHandshake;
    loop {
        let sent_at = std::time::Instant::now();
        let (len, correlation_id) = loop {
            let encoded = {
                let mut st = shared.lock();
                if let Some(e) = &st.closed {
                    return Err(e.clone());
                }
                match auth.encode(&mut st.proto, &mut w.buf) {
                    Ok(sent) => {
                        st.pending.push_back(Pending {
                            slot: slot.clone(),
                            correlation_id: sent.correlation_id,
                            buf: std::mem::take(&mut response_buf),
                            _in_flight: None,
                        });
                        Ok((sent.len, sent.correlation_id))
                    }
                    Err(e) => Err(e),
                }
            };
            match encoded {
                Ok(done) => break done,
                Err(SaslError::Core(microkafka_core::Error::BufferTooSmall)) => {
                    grow(shared, &mut w.buf)?;
                }
                Err(e) => return Err(ctx(sasl_error(e, mechanism.mechanism(), api))),
            }
        };
        w.unsent = 0..len;
        write_unsent(shared, w).await?;
        let response = match tokio::time::timeout(timeout, slot.wait(correlation_id)).await {
            Ok(response) => response.map_err(|e| ctx(e.with_api(api)))?,
            Err(_) => {
                let e = ctx(Error::new(ErrorKind::Timeout).with_api(api));
                shared.close(e.clone());
                return Err(e);
            }
        };
        let step = auth
            .receive(&response.received())
            .map_err(|e| sasl_error(e, mechanism.mechanism(), api));
        match step {
            Ok(Step::Continue) => {
                response_buf = response.into_buf();
                api = ApiKey::SaslAuthenticate;
            }
            Ok(Step::Authenticated(session)) => return Ok((session, sent_at)),
            Err(e) => {
                // Kafka closes the connection after a failed exchange.
                let e = ctx(e);
                shared.close(e.clone());
                return Err(e);
            }
        }
    }
}

/// The shortest time between two authentications of a connection: a
/// broker announcing tiny sessions (hostile, or misconfigured) must not
/// make the client spend its time re-authenticating. (Kafka refuses
/// re-authentications less than a second apart.)
const MIN_REAUTH_INTERVAL: Duration = Duration::from_millis(500);

/// When to re-authenticate a `session` whose last request went at `sent`
/// (KIP-368: at a random point of 85-95% of its lifetime, and not sooner
/// than [`MIN_REAUTH_INTERVAL`]); `None` when it does not expire.
fn reauthenticate_at(session: &Session, sent: std::time::Instant) -> Option<tokio::time::Instant> {
    let random = getrandom::u32().unwrap_or(u32::MAX / 2);
    let after = Duration::from_millis(session.reauthenticate_after_ms(random)?);
    Some(tokio::time::Instant::from_std(sent) + after.max(MIN_REAUTH_INTERVAL))
}

/// The KIP-368 task: re-authenticates on the same connection at `at`, and
/// again before each new session ends. Holding the write lock pauses the
/// senders; requests already in flight are answered as usual (before the
/// SASL answers: the broker answers in order). A failure closes the
/// connection with its error (its users redial, and see it again if the
/// credentials are now refused).
async fn reauthenticate(
    shared: Arc<Shared>,
    write: Arc<tokio::sync::Mutex<WriteSide>>,
    mechanism: SaslMechanism,
    mut at: tokio::time::Instant,
    timeout: Duration,
) {
    loop {
        tokio::time::sleep_until(at).await;
        // The token first, without pausing anyone.
        let token = match mechanism.token().await {
            Ok(token) => token,
            Err(e) => {
                shared.close(e.with_broker(&shared.broker));
                return;
            }
        };
        let mut w = write.lock().await;
        if shared.lock().closed.is_some() {
            return;
        }
        // The first answer may wait behind requests in flight (a Fetch
        // long-poll): they have their own deadlines, this gets two.
        let limit = timeout.saturating_mul(2);
        let exchange = sasl_exchange(&shared, &mut w, &mechanism, token, limit);
        match exchange.await {
            Ok((session, sent)) => {
                shared
                    .reauthentications
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match reauthenticate_at(&session, sent) {
                    Some(next) => at = next,
                    None => return,
                }
            }
            Err(e) => {
                shared.close(e);
                return;
            }
        }
    }
}

/// The first frame of a connection (the ApiVersions answer): as
/// [`read_prefix`] and [`read_body`], but a TLS record where a Kafka frame
/// should be (a TLS listener answering a plaintext client with an alert)
/// says so.
async fn read_first_frame(
    r: &mut ReadHalf,
    deframer: &mut Deframer,
    frame: &mut Vec<u8>,
) -> Result<()> {
    let size = read_prefix(r, deframer).await;
    // A TLS record: content type 20-23 (an alert is 21), version 3.x.
    if let Some(prefix) = deframer.prefix() {
        if (20..=23).contains(&prefix[0]) && prefix[1] == 3 && prefix[2] <= 4 {
            return Err(Error::config(
                "the broker answered with TLS: this listener expects TLS (SSL or SASL_SSL); set the dialer's tls",
            ));
        }
    }
    size?;
    read_body(r, deframer, frame).await
}

/// Reads the next frame's size prefix through core's [`Deframer`] (a
/// negative size, or one over its limit, is an error): the body's size.
async fn read_prefix<T: tokio::io::AsyncRead + Unpin>(
    r: &mut T,
    deframer: &mut Deframer,
) -> Result<usize> {
    deframer.reset();
    loop {
        if let Some(size) = deframer.size() {
            return Ok(size);
        }
        let n = read_some(r, deframer.next_read(&mut [])).await?;
        deframer.advance(n)?;
    }
}

/// The first step of a receive buffer grown as bytes arrive.
const FIRST_READ: usize = 64 * 1024;

/// Reads the body of the frame whose prefix `deframer` read into `buf`
/// (its previous content dropped), growing it as the bytes arrive: at most
/// doubling what came so far. A size prefix is only a claim: a broker
/// claiming 90 MiB (under `max_frame_size`) and sending 10 bytes then
/// nothing must cost what it sent, not 90 MiB of zeroed memory per
/// connection. A buffer reused from an earlier response keeps its
/// capacity, so steady-state reads still resize once and allocate nothing.
async fn read_body<T: tokio::io::AsyncRead + Unpin>(
    r: &mut T,
    deframer: &mut Deframer,
    buf: &mut Vec<u8>,
) -> Result<()> {
    buf.clear();
    let size = deframer.size().unwrap_or_default();
    while !deframer.is_complete() {
        let filled = deframer.body_received();
        let upto = if buf.capacity() >= size {
            size
        } else {
            size.min(filled.saturating_mul(2).max(FIRST_READ))
        };
        if buf.len() < upto {
            buf.resize(upto, 0);
        }
        let n = read_some(r, deframer.next_read(buf)).await?;
        deframer.advance(n)?;
    }
    Ok(())
}

/// Reads what is there into `dst` (not empty); the stream's end is
/// [`ErrorKind::ConnectionClosed`].
async fn read_some<T: tokio::io::AsyncRead + Unpin>(r: &mut T, dst: &mut [u8]) -> Result<usize> {
    match r.read(dst).await {
        Ok(0) => Err(Error::new(ErrorKind::ConnectionClosed)),
        Ok(n) => Ok(n),
        Err(e) => Err(eof_is_closed(e)),
    }
}

fn eof_is_closed(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Error::new(ErrorKind::ConnectionClosed)
    } else {
        Error::from(e)
    }
}

/// Reads response frames and delivers each to the oldest request in flight.
/// Takes note of the quota throttle an answer announces, as it is read
/// (not when its caller gets to decode it: the other senders on the
/// connection must stop now). Produce and Fetch, the answers byte-rate
/// quotas throttle; a body that does not decode is its caller's error.
fn throttle_from(shared: &Shared, api: ApiKey, version: i16, correlation_id: i32, body: &[u8]) {
    let received = Received {
        api,
        version,
        correlation_id,
        body,
    };
    let throttle_time_ms = match api {
        ApiKey::Produce => received
            .decode::<ProduceResponse<'_>>()
            .map(|r| r.throttle_time_ms),
        ApiKey::Fetch => received
            .decode::<FetchResponse<'_>>()
            .map(|r| r.throttle_time_ms),
        _ => return,
    };
    if let Ok(ms) = throttle_time_ms {
        shared.throttle(api, version, ms);
    }
}

async fn read_loop(shared: Arc<Shared>, half: ReadHalf) {
    let mut r = BufReader::with_capacity(64 * 1024, half);
    let mut deframer = Deframer::new(shared.max_frame_size);
    let why = loop {
        let size = match read_prefix(&mut r, &mut deframer).await {
            Ok(size) => size,
            Err(e) => break e,
        };
        let Some(p) = shared.lock().pending.pop_front() else {
            break Error::from(microkafka_core::Error::Malformed(
                "a response arrived with no request in flight",
            ));
        };
        let Pending {
            slot,
            correlation_id,
            mut buf,
            _in_flight: in_flight,
        } = p;
        if let Err(e) = read_body(&mut r, &mut deframer, &mut buf).await {
            slot.deliver(correlation_id, Err(e.clone()));
            break e;
        }
        let received = shared.lock().proto.receive(&buf).map(|rec| {
            (
                rec.api,
                rec.version,
                rec.correlation_id,
                size - rec.body.len(),
            )
        });
        // Answered: the slot is free for the next request.
        drop(in_flight);
        match received {
            Ok((api, version, answered, body_start)) => {
                throttle_from(&shared, api, version, answered, &buf[body_start..size]);
                let response = Response {
                    buf,
                    body: body_start..size,
                    api,
                    version,
                    correlation_id: answered,
                };
                slot.deliver(correlation_id, Ok(response));
            }
            Err(e) => {
                let e = Error::from(e);
                slot.deliver(correlation_id, Err(e.clone()));
                break e;
            }
        }
    };
    shared.close(why);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialer::Dialer;
    use crate::requests::metadata::metadata_request;
    use crate::requests::produce::{produce_on, BatchBuffers, RequiredAcks};
    use crate::requests::PartitionAt;
    use microkafka_core::record::compression::Compression;
    use microkafka_core::record::BatchOptions;
    use microkafka_mock_broker::{Config, MockCluster};

    const PATIENCE: Duration = Duration::from_secs(10);

    async fn connect(c: &MockCluster) -> BrokerConn {
        let dialer = Dialer {
            request_timeout: Duration::from_secs(5),
            ..Dialer::default()
        };
        dialer
            .connector()
            .connect(&c.addrs()[0].to_string(), -1)
            .await
            .unwrap()
    }

    async fn metadata(conn: &BrokerConn) -> Result<()> {
        metadata_request(conn, Some(&[]), false, Duration::from_secs(5))
            .await
            .map(drop)
    }

    /// KIP-368: re-authenticate at 85-95% of the session, never sooner
    /// than half a second after the last time, never for sessions that last.
    #[test]
    fn reauthentication_time() {
        use microkafka_core::sasl::Mechanism;
        let now = std::time::Instant::now();
        let session = |lifetime_ms| Session {
            mechanism: Mechanism::ScramSha512,
            lifetime_ms,
        };
        assert!(reauthenticate_at(&session(0), now).is_none());
        let base = tokio::time::Instant::from_std(now);
        for _ in 0..100 {
            let at = reauthenticate_at(&session(10_000), now).unwrap() - base;
            assert!(
                (Duration::from_millis(8500)..Duration::from_millis(9500)).contains(&at),
                "{at:?}"
            );
        }
        let at = reauthenticate_at(&session(10), now).unwrap() - base;
        assert_eq!(at, MIN_REAUTH_INTERVAL);
    }

    /// Requests cancelled while another request's bytes are being written
    /// (they wait for the write lock) were never sent: their in-flight
    /// slots come back, so later requests are not stalled.
    #[tokio::test(flavor = "current_thread")]
    async fn requests_cancelled_while_waiting_to_write_give_their_slot_back() {
        let c = MockCluster::start(Config::default()).await.unwrap();
        let conn = connect(&c).await;
        // Another request's bytes are being written.
        let writing = conn.write.lock().await;
        for _ in 0..40 {
            let cancelled = tokio::time::timeout(Duration::ZERO, metadata(&conn)).await;
            assert!(cancelled.is_err(), "waits for the write lock");
        }
        drop(writing);
        tokio::time::timeout(PATIENCE, metadata(&conn))
            .await
            .expect("the connection is not stalled")
            .unwrap();
        assert!(!conn.is_closed());
    }

    /// A request cancelled halfway through writing its bytes cannot be taken
    /// back (the broker has half a frame): the next request finishes writing
    /// it first, so the stream stays whole and the connection usable.
    #[tokio::test(flavor = "current_thread")]
    async fn a_request_cancelled_mid_write_is_finished_by_the_next_one() {
        let c = MockCluster::start(Config::default()).await.unwrap();
        c.create_topic("t", 1).unwrap();
        let conn = connect(&c).await;
        // More than the socket buffers hold: the broker runs on this thread,
        // so it reads nothing until the test yields.
        let value = vec![3u8; 24 << 20];
        let mut buffers = BatchBuffers::default();
        let batch = buffers
            .build(
                Compression::None,
                BatchOptions::default(),
                value.len() + 1024,
                |b| b.append(0, None, Some(&value), &[]),
            )
            .unwrap();
        let slot = Slot::new();
        let mut response_buf = Vec::new();
        let at = PartitionAt {
            topic: "t",
            partition: 0,
        };
        let produce = produce_on(
            &conn,
            at,
            batch,
            RequiredAcks::One,
            Duration::from_secs(5),
            &slot,
            &mut response_buf,
        );
        let cancelled = tokio::time::timeout(Duration::ZERO, produce).await;
        assert!(cancelled.is_err(), "cancelled while writing");
        assert!(!conn.write.lock().await.unsent.is_empty(), "cut mid-write");
        tokio::time::timeout(PATIENCE, metadata(&conn))
            .await
            .expect("the connection is not stalled")
            .unwrap();
        assert!(!conn.is_closed());
    }
}
