//! One pipelined connection to one broker.
//!
//! Core's [`Connection`] decides the bytes (correlation ids, negotiated
//! versions, the in-flight FIFO); this module moves them. Requests are
//! encoded and written in order under one write lock; a reader task reads
//! response frames as they come and hands each to the [`Slot`] of the request
//! it answers (Kafka answers a connection's requests in order). Receive
//! buffers travel with the requests and come back with the responses, so a
//! caller that reuses its buffer and slot allocates nothing per request.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use microkafka_core::client::{Connection, Received};
use microkafka_core::protocol::frame::SIZE_PREFIX_LEN;
use microkafka_core::protocol::{ApiKey, NegotiatedVersions, Request, Response as CoreResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::error::{BrokerRef, Error, ErrorKind, Result};
use crate::transport::{ReadHalf, Stream, WriteHalf};

/// Requests pipelined on one connection before senders wait.
pub(crate) const MAX_IN_FLIGHT: usize = 32;

/// How many ApiVersions attempts (KIP-511 fallbacks) before giving up.
const MAX_API_VERSIONS_ATTEMPTS: usize = 3;

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
}

struct State {
    proto: Connection<MAX_IN_FLIGHT>,
    pending: VecDeque<Pending>,
    closed: Option<Error>,
}

struct Shared {
    state: Mutex<State>,
    /// One permit per request that may still be pipelined.
    permits: Semaphore,
    broker: BrokerRef,
    max_frame_size: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the connection dead and fails every request waiting on it.
    fn close(&self, why: Error) {
        let pending = {
            let mut st = self.lock();
            if st.closed.is_none() {
                st.closed = Some(why.with_broker(&self.broker));
            }
            std::mem::take(&mut st.pending)
        };
        self.permits.close();
        for p in pending {
            let e = Error::new(ErrorKind::ConnectionClosed).with_broker(&self.broker);
            p.slot.deliver(p.correlation_id, Err(e));
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
}

/// A negotiated, pipelined connection to one broker.
pub(crate) struct BrokerConn {
    shared: Arc<Shared>,
    versions: NegotiatedVersions,
    write: tokio::sync::Mutex<WriteSide>,
    reader: JoinHandle<()>,
}

impl Drop for BrokerConn {
    fn drop(&mut self) {
        self.reader.abort();
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
    pub(crate) async fn connect(
        stream: Stream,
        broker: BrokerRef,
        client_id: Option<&str>,
        max_frame_size: usize,
    ) -> Result<BrokerConn> {
        let ctx = |e: Error| e.with_api(ApiKey::ApiVersions).with_broker(&broker);
        let (mut r, mut w) = stream.split();
        let mut proto = Connection::<MAX_IN_FLIGHT>::new(client_id).map_err(|e| ctx(e.into()))?;
        let mut out = vec![0u8; 512];
        let mut frame = Vec::new();
        for _ in 0..MAX_API_VERSIONS_ATTEMPTS {
            let sent = proto.start(&mut out).map_err(|e| ctx(e.into()))?;
            w.write_all(&out[..sent.len])
                .await
                .map_err(|e| ctx(e.into()))?;
            read_frame(&mut r, &mut frame, max_frame_size)
                .await
                .map_err(ctx)?;
            proto.receive(&frame).map_err(|e| ctx(e.into()))?;
            if proto.is_ready() {
                break;
            }
        }
        let versions = *proto.versions().ok_or_else(|| {
            ctx(Error::from(microkafka_core::Error::Malformed(
                "the broker refused every ApiVersions version",
            )))
        })?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                proto,
                pending: VecDeque::with_capacity(MAX_IN_FLIGHT),
                closed: None,
            }),
            permits: Semaphore::new(MAX_IN_FLIGHT),
            broker,
            max_frame_size,
        });
        let reader = tokio::spawn(read_loop(shared.clone(), r));
        Ok(BrokerConn {
            shared,
            versions,
            write: tokio::sync::Mutex::new(WriteSide {
                half: w,
                buf: vec![0u8; 16 * 1024],
            }),
            reader,
        })
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
    }

    /// Encodes and writes `request`; its response will go to `slot`, read
    /// into `buf`. Returns the correlation id to [`wait`](Self::wait) for.
    pub(crate) async fn send<'r, R: Request<'r> + Sync>(
        &self,
        request: &R,
        slot: &Arc<Slot>,
        buf: Vec<u8>,
    ) -> Result<i32> {
        let permit = self
            .shared
            .permits
            .acquire()
            .await
            .map_err(|_| self.shared.closed_error())?;
        permit.forget();
        let mut w = self.write.lock().await;
        let mut buf = Some(buf);
        let (len, correlation_id) = loop {
            let encoded = {
                let mut st = self.shared.lock();
                if let Some(e) = &st.closed {
                    return Err(e.clone());
                }
                match st.proto.encode(&mut w.buf, request) {
                    Ok(sent) => {
                        st.pending.push_back(Pending {
                            slot: slot.clone(),
                            correlation_id: sent.correlation_id,
                            buf: buf.take().unwrap_or_default(),
                        });
                        Ok((sent.len, sent.correlation_id))
                    }
                    Err(e) => Err(e),
                }
            };
            match encoded {
                Ok(done) => break done,
                Err(microkafka_core::Error::BufferTooSmall) => self.grow(&mut w.buf)?,
                Err(e) => {
                    self.shared.permits.add_permits(1);
                    return Err(Error::from(e).with_broker(self.broker()));
                }
            }
        };
        let WriteSide { half, buf: out } = &mut *w;
        if let Err(e) = half.write_all(&out[..len]).await {
            let e = Error::from(e).with_broker(self.broker());
            self.shared.close(e.clone());
            return Err(e);
        }
        Ok(correlation_id)
    }

    fn grow(&self, buf: &mut Vec<u8>) -> Result<()> {
        let limit = self.shared.max_frame_size + SIZE_PREFIX_LEN;
        if buf.len() >= limit {
            return Err(Error::from(microkafka_core::Error::TooLarge {
                what: microkafka_core::Limit::RequestFrame,
                size: buf.len() * 2,
                limit,
            })
            .with_broker(self.broker()));
        }
        let len = (buf.len() * 2).clamp(4096, limit);
        buf.resize(len, 0);
        Ok(())
    }

    /// Sends a request the broker does not answer (Produce with acks = 0).
    pub(crate) async fn send_unanswered<'r, R: Request<'r> + Sync>(
        &self,
        request: &R,
    ) -> Result<()> {
        let mut w = self.write.lock().await;
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
                Err(microkafka_core::Error::BufferTooSmall) => self.grow(&mut w.buf)?,
                Err(e) => return Err(Error::from(e).with_broker(self.broker())),
            }
        };
        let WriteSide { half, buf: out } = &mut *w;
        if let Err(e) = half.write_all(&out[..len]).await {
            let e = Error::from(e).with_broker(self.broker());
            self.shared.close(e.clone());
            return Err(e);
        }
        Ok(())
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

/// Reads one size-prefixed frame's body into `frame`.
async fn read_frame(r: &mut ReadHalf, frame: &mut Vec<u8>, max_frame_size: usize) -> Result<()> {
    let size = read_size(r, max_frame_size).await?;
    frame.clear();
    frame.resize(size, 0);
    r.read_exact(frame).await.map_err(eof_is_closed)?;
    Ok(())
}

async fn read_size<T: tokio::io::AsyncRead + Unpin>(
    r: &mut T,
    max_frame_size: usize,
) -> Result<usize> {
    let mut prefix = [0u8; SIZE_PREFIX_LEN];
    r.read_exact(&mut prefix).await.map_err(eof_is_closed)?;
    let size = i32::from_be_bytes(prefix);
    let size =
        usize::try_from(size).map_err(|_| Error::from(microkafka_core::Error::InvalidLength))?;
    if size > max_frame_size {
        return Err(Error::from(microkafka_core::Error::TooLarge {
            what: microkafka_core::Limit::ResponseFrame,
            size,
            limit: max_frame_size,
        }));
    }
    Ok(size)
}

fn eof_is_closed(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Error::new(ErrorKind::ConnectionClosed)
    } else {
        Error::from(e)
    }
}

/// Reads response frames and delivers each to the oldest request in flight.
async fn read_loop(shared: Arc<Shared>, half: ReadHalf) {
    let mut r = BufReader::with_capacity(64 * 1024, half);
    let why = loop {
        let size = match read_size(&mut r, shared.max_frame_size).await {
            Ok(size) => size,
            Err(e) => break e,
        };
        let Some(mut p) = shared.lock().pending.pop_front() else {
            break Error::from(microkafka_core::Error::Malformed(
                "a response arrived with no request in flight",
            ));
        };
        p.buf.clear();
        p.buf.resize(size, 0);
        if let Err(e) = r.read_exact(&mut p.buf).await {
            let e = eof_is_closed(e);
            p.slot.deliver(p.correlation_id, Err(e.clone()));
            break e;
        }
        let received = shared.lock().proto.receive(&p.buf).map(|rec| {
            (
                rec.api,
                rec.version,
                rec.correlation_id,
                size - rec.body.len(),
            )
        });
        shared.permits.add_permits(1);
        match received {
            Ok((api, version, correlation_id, body_start)) => {
                let response = Response {
                    buf: p.buf,
                    body: body_start..size,
                    api,
                    version,
                    correlation_id,
                };
                p.slot.deliver(p.correlation_id, Ok(response));
            }
            Err(e) => {
                let e = Error::from(e);
                p.slot.deliver(p.correlation_id, Err(e.clone()));
                break e;
            }
        }
    };
    shared.close(why);
}
