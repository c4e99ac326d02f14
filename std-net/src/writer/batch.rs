//! A partition's open batch: messages copied in as they are written, turned
//! into a record batch when it is sent.
//!
//! Records are staged in a compact form (timestamp, key, value, headers)
//! rather than encoded straight into the Kafka batch because the core
//! builder borrows its buffer for its whole life, and a batch here lives
//! across `write_messages` calls and tasks. The staging buffer is reused, so
//! a message costs two copies of its bytes and no allocation.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use microkafka_core::record::{RecordBatchBuilder, RECORD_BATCH_OVERHEAD};

use crate::error::{Error, Result};
use crate::message::{Header, Message};

/// The outcome of a batch, shared by every caller waiting on it.
#[derive(Debug, Default)]
pub(crate) struct Done {
    result: Mutex<Option<Result<i64>>>,
    notify: tokio::sync::Notify,
}

impl Done {
    pub(crate) fn set(&self, result: Result<i64>) {
        *self.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        self.notify.notify_waiters();
    }

    fn get(&self) -> Option<Result<i64>> {
        self.result
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits for the batch's base offset, or its error.
    pub(crate) async fn wait(&self) -> Result<i64> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(result) = self.get() {
                return result;
            }
            notified.await;
        }
    }

    /// Ready for another batch (when nobody else holds it).
    pub(crate) fn reset(&self) {
        *self.result.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// One batch being filled, then sent.
#[derive(Debug)]
pub(crate) struct Staged {
    records: Vec<u8>,
    pub(crate) count: i32,
    first_timestamp: i64,
    /// Bytes of the record batch these records make (header included).
    pub(crate) encoded: usize,
    /// Key and value bytes.
    pub(crate) bytes: usize,
    pub(crate) opened: Instant,
    pub(crate) done: Arc<Done>,
}

impl Staged {
    /// An empty batch reusing `records` and `done`.
    pub(crate) fn new(mut records: Vec<u8>, done: Arc<Done>) -> Self {
        records.clear();
        Staged {
            records,
            count: 0,
            first_timestamp: 0,
            encoded: RECORD_BATCH_OVERHEAD,
            bytes: 0,
            opened: Instant::now(),
            done,
        }
    }

    /// The batch bytes `m` would add (it fits when `encoded + this` is
    /// within the batch limit).
    pub(crate) fn cost(&self, m: &Message<'_>, timestamp: i64) -> Result<usize> {
        let base = if self.count == 0 {
            timestamp
        } else {
            self.first_timestamp
        };
        Ok(RecordBatchBuilder::encoded_record_len(
            timestamp.wrapping_sub(base),
            self.count,
            m.key,
            m.value,
            m.headers,
        )?)
    }

    /// Copies `m` in; `cost` as returned by [`cost`](Self::cost).
    pub(crate) fn push(&mut self, m: &Message<'_>, timestamp: i64, cost: usize) {
        if self.count == 0 {
            self.first_timestamp = timestamp;
            self.opened = Instant::now();
        }
        let r = &mut self.records;
        r.extend_from_slice(&timestamp.to_le_bytes());
        put_nullable(r, m.key);
        put_nullable(r, m.value);
        r.extend_from_slice(&(m.headers.len() as u32).to_le_bytes());
        for h in m.headers {
            put_nullable(r, Some(h.key.as_bytes()));
            put_nullable(r, h.value);
        }
        self.count += 1;
        self.encoded += cost;
        self.bytes += m.size();
    }

    /// Appends every staged record to `builder`, in order.
    pub(crate) fn append_to(
        &self,
        builder: &mut RecordBatchBuilder<'_>,
    ) -> microkafka_core::Result<()> {
        let mut r = StagedReader {
            rest: &self.records,
        };
        let mut spill: Vec<Header<'_>> = Vec::new();
        while !r.rest.is_empty() {
            let timestamp = r.i64()?;
            let key = r.nullable()?;
            let value = r.nullable()?;
            let n = r.u32()? as usize;
            let mut inline: [Header<'_>; 8] = [Header {
                key: "",
                value: None,
            }; 8];
            let headers: &[Header<'_>] = if n <= inline.len() {
                for h in inline.iter_mut().take(n) {
                    *h = r.header()?;
                }
                &inline[..n]
            } else {
                // More than 8 headers: rare enough to allocate for.
                spill.clear();
                for _ in 0..n {
                    spill.push(r.header()?);
                }
                &spill
            };
            builder.append(timestamp, key, value, headers)?;
        }
        Ok(())
    }

    /// The staging buffer, for reuse.
    pub(crate) fn into_parts(self) -> (Vec<u8>, Arc<Done>) {
        (self.records, self.done)
    }
}

fn put_nullable(r: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        None => r.extend_from_slice(&(-1i32).to_le_bytes()),
        Some(b) => {
            r.extend_from_slice(&(b.len() as i32).to_le_bytes());
            r.extend_from_slice(b);
        }
    }
}

struct StagedReader<'a> {
    rest: &'a [u8],
}

impl<'a> StagedReader<'a> {
    fn take(&mut self, n: usize) -> microkafka_core::Result<&'a [u8]> {
        if n > self.rest.len() {
            return Err(microkafka_core::Error::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn i64(&mut self) -> microkafka_core::Result<i64> {
        let b = self.take(8)?;
        Ok(i64::from_le_bytes(b.try_into().unwrap_or_default()))
    }

    fn u32(&mut self) -> microkafka_core::Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes(b.try_into().unwrap_or_default()))
    }

    fn nullable(&mut self) -> microkafka_core::Result<Option<&'a [u8]>> {
        let len = self.u32()? as i32;
        if len < 0 {
            return Ok(None);
        }
        self.take(len as usize).map(Some)
    }

    fn header(&mut self) -> microkafka_core::Result<Header<'a>> {
        let key = self.nullable()?.unwrap_or_default();
        let key = std::str::from_utf8(key).map_err(|_| microkafka_core::Error::InvalidUtf8)?;
        Ok(Header {
            key,
            value: self.nullable()?,
        })
    }
}

/// A message too large for any batch.
pub(crate) fn too_large(size: usize, limit: usize) -> Error {
    Error::kafka(
        microkafka_core::ErrorCode::MESSAGE_TOO_LARGE,
        Some(&format!(
            "the message takes {size} bytes in a batch; batch_bytes is {limit}"
        )),
    )
}
