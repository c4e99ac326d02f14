//! One client connection: split frames, hand them to the cluster one at a
//! time, write the answers back in request order.
//!
//! Like Kafka's network processor, which mutes a channel from the moment it
//! has read a request until that request's response is sent, a connection
//! handles one request at a time: while an answer is awaited (a Fetch
//! long-poll, a JoinGroup waiting for its rebalance) no further request of
//! that connection is handled and at most one read chunk more is buffered.
//! Requests answered at once are still handled back to back, so pipelining
//! clients keep their throughput. An injected latency stands for the
//! network, not the broker: answers travel for that long while the next
//! requests are handled, up to [`MAX_DELAYED`] answers on the way. What a
//! connection can make the broker hold is thereby bounded: one frame being
//! read (plus a read chunk), one awaited request, and the answers of the
//! requests handled since the last write (written out once they pass
//! [`WRITE_AT`] bytes).
//!
//! On `SSL` and `SASL_SSL` listeners the TLS handshake runs first, within
//! [`Limits::handshake_timeout`](crate::Limits::handshake_timeout) of the
//! accept (which also bounds the SASL authentication that follows); the
//! loop is the same over a TCP or a TLS stream. A failed authentication
//! (a failed TLS handshake, or a SASL failure the cluster reports) is
//! counted per client address and answered after
//! [`Limits::failed_authentication_delay`](crate::Limits::failed_authentication_delay),
//! then the connection closes, as Kafka does.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use microkafka_core::protocol::frame::{split_frame, SIZE_PREFIX_LEN};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::{ConnEvent, Shared};
use crate::cluster::Outcome;
use crate::security::tls::peer_principal;

/// Room kept free in the read buffer before each read, and how much a
/// connection buffers beyond the frame it is reading.
const READ_CHUNK: usize = 64 * 1024;

/// Answers travelling through an injected latency at once, per connection,
/// before the connection waits for them (a pipe of bounded capacity).
const MAX_DELAYED: usize = 16;

/// Requests handled from the buffer before their answers are written and the
/// task yields: a client that pipelines hundreds of requests and hangs up
/// wastes at most this many (Kafka, one request at a time, wastes one), and
/// other connections get their turn at the cluster.
const MAX_PER_TURN: usize = 16;

/// Answers queued past this many bytes are written before the next request
/// is handled, so a burst of small requests for big answers cannot pile up.
const WRITE_AT: usize = 1 << 20;

/// Responses waiting for the ones before them: Kafka clients pipeline and
/// match answers by order, so answer `n` is written only after `0..n`.
#[derive(Default)]
struct InOrder {
    next: u64,
    /// `None`: the request gets no response (acks=0) but holds its place.
    ready: BTreeMap<u64, Option<Vec<u8>>>,
    /// Bytes of the frames in `ready`.
    bytes: usize,
}

impl InOrder {
    fn insert(&mut self, seq: u64, frame: Option<Vec<u8>>) {
        self.bytes += frame.as_ref().map_or(0, Vec::len);
        self.ready.insert(seq, frame);
    }

    /// The frames that may be written now, in order.
    fn drain(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(frame) = self.ready.remove(&self.next) {
            self.next += 1;
            if let Some(frame) = frame {
                self.bytes -= frame.len();
                out.push(frame);
            }
        }
        out
    }
}

/// Runs one accepted connection: the TLS handshake when the listener has
/// TLS, then [`serve`].
pub(crate) async fn run(shared: Arc<Shared>, broker: i32, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let accepted = Instant::now();
    let Some(acceptor) = shared.tls.clone() else {
        return serve(shared, broker, stream, peer, None, accepted).await;
    };
    let deadline = tokio::time::Instant::from_std(accepted + shared.limits.handshake_timeout);
    match tokio::time::timeout_at(deadline, acceptor.accept(stream).into_fallible()).await {
        Ok(Ok(tls)) => {
            let subject = peer_principal(tls.get_ref().1);
            serve(shared, broker, tls, peer, subject, accepted).await;
        }
        Ok(Err((e, _))) if client_left(&e) => {
            // The client went away mid-handshake (a closed Reader, a
            // cancelled dial): Kafka's SslTransportLayer raises an
            // EOFException, a plain disconnect, not a failed authentication.
        }
        Ok(Err((_, stream))) => {
            // Garbage, no shared version or cipher, a refused client
            // certificate: rustls has sent its alert. Kafka counts it as a
            // failed authentication and closes after the same delay.
            shared.authentication_failed(peer.ip(), true);
            tokio::time::sleep(shared.limits.failed_authentication_delay).await;
            drop(stream);
        }
        Err(_) => shared.handshake_timed_out(),
    }
}

/// True when a TLS handshake ended because the peer left (EOF, reset), not
/// because it sent something the handshake refused.
fn client_left(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    matches!(
        e.kind(),
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
    )
}

/// Serves one connection until the client leaves, the broker drops it, it
/// stays idle too long (or unauthenticated past the handshake timeout), or
/// its bytes cannot be trusted. `subject` is the TLS client certificate's.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    shared: Arc<Shared>,
    broker: i32,
    stream: S,
    peer: SocketAddr,
    subject: Option<String>,
    accepted: Instant,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut session = shared
        .lock()
        .cluster
        .open_session_as(broker, Some(peer), subject);
    let id = session.id();
    shared.register(id, broker, tx.clone());
    let (max_frame, max_unauthenticated, idle) = (
        shared.max_frame_size,
        shared.limits.max_unauthenticated_frame_size,
        shared.limits.connection_idle_timeout,
    );
    let handshake_by = tokio::time::Instant::from_std(accepted + shared.limits.handshake_timeout);
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut order = InOrder::default();
    // The request whose answer the connection waits for before handling more.
    let mut awaiting: Option<u64> = None;
    // Answers on their way through an injected latency.
    let mut delayed = 0usize;
    let mut last_request = Instant::now();
    'conn: loop {
        // Handle the complete frames buffered, one at a time, while no answer is awaited.
        let mut used = 0;
        let mut closing = false;
        let mut handled = 0;
        while awaiting.is_none()
            && delayed < MAX_DELAYED
            && !closing
            && order.bytes < WRITE_AT
            && handled < MAX_PER_TURN
        {
            let limit = if session.authenticated() {
                max_frame
            } else {
                max_frame.min(max_unauthenticated)
            };
            let (body, len) = match split_frame(&buf[used..], limit) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                // Too large or negative: the stream can no longer be trusted.
                Err(_) => {
                    closing = true;
                    break;
                }
            };
            last_request = Instant::now();
            let (answer, latency) = shared.handle(&mut session, body, last_request);
            used += len;
            handled += 1;
            if session.take_authentication_failure() {
                shared.authentication_failed(peer.ip(), false);
                // Kafka's connection.failed.authentication.delay.ms: the
                // failure answer (and the close) wait.
                tokio::time::sleep(shared.limits.failed_authentication_delay).await;
            }
            let seq = answer.seq;
            match answer.outcome {
                Outcome::Respond(frame) if latency.is_zero() => order.insert(seq, Some(frame)),
                Outcome::Respond(frame) => {
                    delayed += 1;
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(latency).await;
                        let _ = tx.send(ConnEvent::Frame {
                            seq,
                            frame: Some(frame),
                        });
                    });
                }
                Outcome::Nothing => order.insert(seq, None),
                Outcome::Later => awaiting = Some(seq),
                Outcome::Close(frame) => {
                    order.insert(seq, frame);
                    closing = true;
                }
            }
        }
        buf.drain(..used);
        if write(&mut writer, &mut order).await.is_err() || closing {
            break 'conn;
        }
        let busy = awaiting.is_some() || delayed >= MAX_DELAYED;
        if !busy && matches!(split_frame(&buf, max_frame), Ok(Some(_))) {
            // Stopped to write: let other tasks run, then handle the rest.
            tokio::task::yield_now().await;
            continue;
        }
        // Read only what the frame being received needs (one chunk while an
        // answer is awaited, enough to notice the client leaving).
        let want = match declared_size(&buf) {
            Some(size) if !busy => size.max(READ_CHUNK),
            _ => READ_CHUNK,
        };
        let may_read = buf.len() < want;
        let idle_at = tokio::time::Instant::from_std(last_request + idle);
        tokio::select! {
            read = async {
                buf.reserve(READ_CHUNK.min(want - buf.len()));
                reader.read_buf(&mut buf).await
            }, if may_read => {
                if matches!(read, Ok(0) | Err(_)) {
                    break 'conn;
                }
            }
            event = rx.recv() => match event {
                Some(ConnEvent::Frame { seq, frame }) => {
                    order.insert(seq, frame);
                    if awaiting == Some(seq) {
                        awaiting = None;
                    } else {
                        delayed = delayed.saturating_sub(1);
                    }
                    last_request = Instant::now();
                    if write(&mut writer, &mut order).await.is_err() {
                        break 'conn;
                    }
                }
                Some(ConnEvent::Close) | None => break 'conn,
            },
            _ = tokio::time::sleep_until(idle_at), if awaiting.is_none() && delayed == 0 => break 'conn,
            _ = tokio::time::sleep_until(handshake_by), if session.awaiting_authentication() => {
                shared.handshake_timed_out();
                break 'conn;
            }
        }
    }
    let _ = writer.shutdown().await;
    shared.unregister(id);
    shared.lock().cluster.close_session(&session);
}

/// The total size of the frame at the start of `buf`, once its prefix is in
/// (`None` before that, or when the prefix is negative: the next split refuses it).
fn declared_size(buf: &[u8]) -> Option<usize> {
    let prefix = buf.get(..SIZE_PREFIX_LEN)?;
    let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    usize::try_from(size).ok().map(|n| n + SIZE_PREFIX_LEN)
}

async fn write<W: AsyncWriteExt + Unpin>(
    writer: &mut W,
    order: &mut InOrder,
) -> std::io::Result<()> {
    for frame in order.drain() {
        writer.write_all(&frame).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_leave_in_request_order() {
        let mut o = InOrder::default();
        o.insert(1, Some(vec![1]));
        assert!(o.drain().is_empty(), "0 is not answered yet");
        assert_eq!(o.bytes, 1);
        o.insert(0, None);
        assert_eq!(o.drain(), [vec![1]], "0 has no response; 1 follows");
        o.insert(3, Some(vec![3]));
        o.insert(2, Some(vec![2]));
        assert_eq!(o.drain(), [vec![2], vec![3]]);
        assert_eq!(o.bytes, 0);
    }
}
