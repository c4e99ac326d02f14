//! One client connection: split frames, hand them to the cluster, write the
//! answers back in request order.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use microkafka_core::protocol::frame::{split_frame, SIZE_PREFIX_LEN};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::{ConnEvent, Shared};
use crate::cluster::Outcome;

/// Room kept free in the read buffer before each read.
const READ_CHUNK: usize = 64 * 1024;

/// Responses waiting for the ones before them: Kafka clients pipeline and
/// match answers by order, so answer `n` is written only after `0..n`.
#[derive(Default)]
struct InOrder {
    next: u64,
    /// `None`: the request gets no response (acks=0) but holds its place.
    ready: BTreeMap<u64, Option<Vec<u8>>>,
}

impl InOrder {
    fn insert(&mut self, seq: u64, frame: Option<Vec<u8>>) {
        self.ready.insert(seq, frame);
    }

    /// The frames that may be written now, in order.
    fn drain(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(frame) = self.ready.remove(&self.next) {
            self.next += 1;
            out.extend(frame);
        }
        out
    }
}

/// Serves one connection until the client leaves, the broker drops it, or
/// its bytes cannot be trusted.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    broker: i32,
    mut stream: TcpStream,
    peer: SocketAddr,
) {
    let _ = stream.set_nodelay(true);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut session = shared.lock().cluster.open_session(broker, Some(peer));
    let id = session.id();
    shared.register(id, broker, tx.clone());
    let max_frame = shared.max_frame_size;
    let (mut reader, mut writer) = stream.split();
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut order = InOrder::default();
    'conn: loop {
        tokio::select! {
            read = async {
                buf.reserve(READ_CHUNK);
                reader.read_buf(&mut buf).await
            } => {
                match read {
                    Ok(0) | Err(_) => break 'conn,
                    Ok(_) => {}
                }
                let mut used = 0;
                let mut closing = false;
                loop {
                    let (body, len) = match split_frame(&buf[used..], max_frame) {
                        Ok(Some(frame)) => frame,
                        Ok(None) => break,
                        // Too large or negative: the stream can no longer be trusted.
                        Err(_) => {
                            closing = true;
                            break;
                        }
                    };
                    let (handled, latency) = shared.handle(&mut session, body, Instant::now());
                    let seq = handled.seq;
                    match handled.outcome {
                        Outcome::Respond(frame) => deliver(&tx, &mut order, seq, Some(frame), latency),
                        Outcome::Nothing => deliver(&tx, &mut order, seq, None, latency),
                        Outcome::Later => {}
                        Outcome::Close(frame) => {
                            order.insert(seq, frame);
                            closing = true;
                        }
                    }
                    used += len;
                    if closing {
                        break;
                    }
                }
                buf.drain(..used);
                // A partial frame whose size is known: make room for all of it at once.
                if let Ok(Some(size)) = declared_size(&buf, max_frame) {
                    buf.reserve(size.saturating_sub(buf.len()));
                }
                if write(&mut writer, &mut order).await.is_err() || closing {
                    break 'conn;
                }
            }
            event = rx.recv() => match event {
                Some(ConnEvent::Frame { seq, frame }) => {
                    order.insert(seq, frame);
                    if write(&mut writer, &mut order).await.is_err() {
                        break 'conn;
                    }
                }
                Some(ConnEvent::Close) | None => break 'conn,
            },
        }
    }
    let _ = writer.shutdown().await;
    shared.unregister(id);
    shared.lock().cluster.close_session(&session);
}

/// The total size of the frame at the start of `buf`, once its prefix is in.
fn declared_size(buf: &[u8], max_frame: usize) -> Result<Option<usize>, ()> {
    let Some(prefix) = buf.get(..SIZE_PREFIX_LEN) else {
        return Ok(None);
    };
    let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    match usize::try_from(size) {
        Ok(n) if n <= max_frame => Ok(Some(n + SIZE_PREFIX_LEN)),
        _ => Err(()),
    }
}

/// Queues an answer, after the broker's injected latency if any.
fn deliver(
    tx: &mpsc::UnboundedSender<ConnEvent>,
    order: &mut InOrder,
    seq: u64,
    frame: Option<Vec<u8>>,
    latency: std::time::Duration,
) {
    if latency.is_zero() {
        order.insert(seq, frame);
    } else {
        let tx = tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(latency).await;
            let _ = tx.send(ConnEvent::Frame { seq, frame });
        });
    }
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
        o.insert(0, None);
        assert_eq!(o.drain(), [vec![1]], "0 has no response; 1 follows");
        o.insert(3, Some(vec![3]));
        o.insert(2, Some(vec![2]));
        assert_eq!(o.drain(), [vec![2], vec![3]]);
    }
}
