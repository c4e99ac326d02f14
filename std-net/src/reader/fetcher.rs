//! The fetch task of one partition, for the partition Reader and for each
//! partition a group Reader is assigned: prefetches Fetch responses into
//! reused buffers, finds where the next fetch starts from batch headers
//! alone ([`next_fetch_offset`]), and keeps core's [`Position`] (offset
//! lookups, leader epoch, out-of-range resets) through leader moves and
//! reconnects.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use microkafka_core::consumer::partition::{FetchLimits, PartitionFetch, Position};
use microkafka_core::consumer::{next_fetch_offset, FetchCursor, FetchErrorAction, ReadCommitted};
use microkafka_core::producer::Backoff;
use microkafka_core::protocol::messages::FETCH_TOPIC_ID_VERSION;
use microkafka_core::protocol::ApiKey;
use microkafka_core::record::compression::Codecs;
use microkafka_core::wire::Uuid;
use tokio::sync::mpsc;

use super::config::ReaderConfig;
use crate::broker::{BrokerConn, Slot};
use crate::error::{Error, ErrorKind, Result};
use crate::pool::BrokerPool;
use crate::requests::fetch::{fetch_on, Fetched};
use crate::requests::offsets::list_offset_on;
use crate::requests::{duration_ms, PartitionAt};
use crate::stats::{Counter, Series};

/// What a Reader counts (its stats), shared by its tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) dials: Counter,
    pub(crate) fetches: Counter,
    pub(crate) messages: Counter,
    pub(crate) bytes: Counter,
    pub(crate) errors: Counter,
    pub(crate) timeouts: Counter,
    pub(crate) offset_resets: Counter,
    pub(crate) dial_time: Series,
    pub(crate) read_time: Series,
    pub(crate) wait_time: Series,
    pub(crate) fetch_size: Series,
    pub(crate) fetch_bytes: Series,
}

/// What the fetch tasks and the application share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) counters: Counters,
    /// The high watermark of the last fetch (-1 before one).
    pub(crate) high_water_mark: AtomicI64,
    /// Response buffers handed back for reuse.
    buffers: Mutex<Vec<Vec<u8>>>,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            counters: Counters::default(),
            high_water_mark: AtomicI64::new(-1),
            buffers: Mutex::new(Vec::new()),
        }
    }
}

impl Shared {
    pub(crate) fn take_buffer(&self) -> Vec<u8> {
        self.buffers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default()
    }

    pub(crate) fn give_buffer(&self, buf: Vec<u8>) {
        self.buffers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(buf);
    }
}

/// Producers whose aborted transactions may be open at the same place in
/// a partition's log: past it the chunk fails with `AbortedProducers`
/// (2 KiB per chunk; Kafka's own default caps producers per partition far
/// lower in practice, one per transactional id writing there).
const ABORTED_PRODUCERS: usize = 256;

/// One Fetch response queued for the application.
#[derive(Debug)]
pub(crate) struct Chunk {
    fetched: Fetched,
    /// The offset the fetch started at.
    pub(crate) fetch_offset: i64,
    /// `read_committed`: the partition's last stable offset and the
    /// aborted producers open at the cursor (core's filter, fresh for each
    /// response as Kafka lists aborted transactions per response).
    committed: Option<ReadCommitted<ABORTED_PRODUCERS>>,
}

impl Chunk {
    /// Moves `cursor` to the next record to hand out (see
    /// [`Fetched::advance`]).
    pub(crate) fn advance(
        &mut self,
        cursor: &mut FetchCursor,
        codecs: &mut Codecs,
        scratch: &mut [u8],
    ) -> microkafka_core::Result<bool> {
        self.fetched
            .advance(self.committed.as_mut(), cursor, codecs, scratch)
    }

    /// The fetched records' bytes.
    pub(crate) fn records(&self) -> &[u8] {
        self.fetched.records()
    }

    /// The partition's high watermark when it was fetched.
    pub(crate) fn high_water_mark(&self) -> i64 {
        self.fetched.high_water_mark
    }

    /// The response buffer, to reuse.
    pub(crate) fn into_buf(self) -> Vec<u8> {
        self.fetched.response.into_buf()
    }
}

/// One assignment of one partition: fetch tasks stamp their chunks with it,
/// and the group task turns it off when the partition goes.
#[derive(Debug)]
pub(crate) struct Claim {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    active: AtomicBool,
}

impl Claim {
    /// An active claim on `topic`'s `partition`.
    pub(crate) fn new(topic: &str, partition: i32) -> Self {
        Claim {
            topic: topic.to_owned(),
            partition,
            active: AtomicBool::new(true),
        }
    }

    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    pub(crate) fn end(&self) {
        self.active.store(false, Ordering::Release);
    }
}

/// What the fetch tasks (and the group task, for group-wide errors) queue
/// for the application: the chunk's claim (none in partition mode, or for
/// a group-wide error) and a chunk or an error.
pub(crate) type Queued = (Option<Arc<Claim>>, Result<Chunk>);

/// The fetch task's state.
pub(crate) struct Fetcher {
    pub(crate) brokers: Arc<BrokerPool>,
    /// The Reader's configuration, with the topic and partition fetched.
    pub(crate) config: ReaderConfig,
    pub(crate) shared: Arc<Shared>,
    pub(crate) tx: mpsc::Sender<Queued>,
    /// Group mode: the assignment this task reads for.
    pub(crate) claim: Option<Arc<Claim>>,
}

impl Fetcher {
    fn context(&self, e: Error) -> Error {
        e.with_partition(&self.config.topic, self.config.partition)
    }

    /// Fetches from `offset` (-2 or -1: the first or last offset, looked
    /// up) until the Reader is gone or a fatal error.
    pub(crate) async fn run(self, offset: i64) {
        let backoff =
            Backoff::new(self.config.read_backoff_min, self.config.read_backoff_max).jitter(0);
        let slot = Slot::new();
        let mut conn: Option<Arc<BrokerConn>> = None;
        let mut position = Position::at(offset, self.config.start_offset);
        let mut failures = 0u32;
        loop {
            let step = self.step(&mut conn, &slot, &mut position).await;
            let e = match step {
                Ok(None) => {
                    failures = 0;
                    continue;
                }
                Ok(Some(chunk)) => {
                    failures = 0;
                    if self.tx.send((self.claim.clone(), Ok(chunk))).await.is_err() {
                        return; // the reader is gone
                    }
                    continue;
                }
                Err(e) => self.context(e),
            };
            let c = &self.shared.counters;
            c.errors.add(1);
            if e.is_timeout() {
                c.timeouts.add(1);
            }
            let action = e.code().map_or(FetchErrorAction::RefreshMetadata, |code| {
                position.on_error(code)
            });
            if action == FetchErrorAction::ResetOffset {
                c.offset_resets.add(1);
                continue;
            }
            failures += 1;
            // Leadership moves and the like are the reader's business: it
            // refreshes, reconnects and goes on. The application hears of
            // errors that will not heal by retrying, and of a partition it
            // cannot reach `max_attempts` times in a row.
            let leadership = action == FetchErrorAction::RefreshMetadata && e.code().is_some();
            let surface =
                !e.is_retriable() || (!leadership && failures >= self.config.max_attempts);
            if surface
                && self
                    .tx
                    .send((self.claim.clone(), Err(e.clone())))
                    .await
                    .is_err()
            {
                return;
            }
            if e.is_fatal() {
                // Credentials or certificates refused: retrying cannot help.
                // The task ends; the next read starts a new one.
                return;
            }
            if e.is_retriable() {
                if let Some(c) = conn.take() {
                    c.close(e);
                }
                let _ = self.brokers.refresh(&[&self.config.topic], None).await;
            }
            // The first retry after a leader moved goes at once, to the new leader.
            let attempt = if leadership { failures - 1 } else { failures };
            tokio::time::sleep(backoff.delay(attempt)).await;
        }
    }

    /// One fetch: `Some(chunk)` with records, `None` when there were none.
    async fn step(
        &self,
        conn: &mut Option<Arc<BrokerConn>>,
        slot: &Arc<Slot>,
        position: &mut Position,
    ) -> Result<Option<Chunk>> {
        let cfg = &self.config;
        if let Some(timestamp) = position.lookup() {
            position.found(list_offset(&self.brokers, cfg, timestamp).await?);
        }
        let offset = position.value();
        let topic = self.brokers.topic_meta(&cfg.topic).await?;
        let leader = match topic.partition(cfg.partition) {
            Some(p) if p.leader >= 0 => {
                position.set_leader_epoch(p.leader_epoch);
                p.leader
            }
            Some(_) => return Err(Error::new(ErrorKind::NoLeader)),
            None => return Err(Error::new(ErrorKind::NotFound("partition"))),
        };
        let c = match conn {
            Some(c) if !c.is_closed() && c.broker().id == leader => c.clone(),
            _ => {
                let dial_started = Instant::now();
                let broker = self.brokers.broker_ref(leader);
                self.shared.counters.dials.add(1);
                let fresh = Arc::new(self.brokers.dial(&broker.addr, leader).await?);
                self.shared
                    .counters
                    .dial_time
                    .observe_duration(dial_started.elapsed());
                *conn = Some(fresh.clone());
                fresh
            }
        };
        let version = c.version(ApiKey::Fetch)?;
        let by_id = version >= FETCH_TOPIC_ID_VERSION;
        let topic_id = if by_id { topic.id } else { Uuid::ZERO };
        if by_id && topic_id == Uuid::ZERO {
            return Err(Error::new(ErrorKind::NotFound("topic id")));
        }
        let limits = FetchLimits {
            max_wait_ms: duration_ms(cfg.max_wait),
            min_bytes: cfg.min_bytes,
            max_bytes: cfg.max_bytes,
            read_committed: cfg.read_committed,
        };
        let fetch = PartitionFetch::new(
            &cfg.topic,
            topic_id,
            cfg.partition,
            offset,
            position.leader_epoch(),
            limits,
        );
        let timeout = cfg.max_wait.saturating_add(cfg.dialer.request_timeout);
        let started = Instant::now();
        let mut buf = self.shared.take_buffer();
        let fetched = fetch_on(&c, &fetch, slot, &mut buf, timeout).await;
        let counters = &self.shared.counters;
        if fetched
            .as_ref()
            .map_or_else(|e| e.code().is_some(), |_| true)
        {
            // Answered (with records, or the partition's error).
            counters.read_time.observe_duration(started.elapsed());
            counters.fetches.add(1);
        }
        let fetched = match fetched {
            Ok(f) => f,
            Err(e) => {
                self.shared.give_buffer(buf);
                return Err(e.with_api(ApiKey::Fetch));
            }
        };
        self.shared
            .high_water_mark
            .store(fetched.high_water_mark, Ordering::Relaxed);
        let records = fetched.records();
        counters.fetch_bytes.observe(records.len() as u64);
        let (mut next, _truncated) = next_fetch_offset(records, offset).map_err(|e| {
            Error::from(e)
                .with_api(ApiKey::Fetch)
                .with_broker(c.broker())
        })?;
        let complete = next > offset;
        let stable = fetched.last_stable_offset;
        if cfg.read_committed && stable >= 0 && stable < next {
            // Nothing at or past the last stable offset is handed out (the
            // cursor stops there): the next fetch starts there, so records
            // of a transaction still open are read once it has ended.
            next = stable.max(offset);
        }
        if next == offset {
            // Nothing complete at this offset (no data yet, or only a partial
            // batch): if the log ends here the long poll simply timed out.
            let partial = !complete && !records.is_empty();
            let high_water_mark = fetched.high_water_mark;
            self.shared.give_buffer(fetched.response.into_buf());
            if high_water_mark > offset && partial {
                return Err(Error::config(format!(
                    "a batch at offset {offset} is larger than max_bytes ({})",
                    cfg.max_bytes
                )));
            }
            return Ok(None);
        }
        counters
            .fetch_size
            .observe(u64::try_from(next - offset).unwrap_or(0));
        position.advance(next);
        let committed = cfg.read_committed.then(|| fetched.read_committed());
        Ok(Some(Chunk {
            fetched,
            fetch_offset: offset,
            committed,
        }))
    }
}

/// Asks the partition leader for the offset at `timestamp` (-2: the
/// first, -1: the last), with the leader epoch the metadata gives.
pub(crate) async fn list_offset(
    brokers: &BrokerPool,
    cfg: &ReaderConfig,
    timestamp: i64,
) -> Result<i64> {
    let ctx = |e: Error| {
        e.with_api(ApiKey::ListOffsets)
            .with_partition(&cfg.topic, cfg.partition)
    };
    let topic = brokers.topic_meta(&cfg.topic).await.map_err(ctx)?;
    let (leader, epoch) = match topic.partition(cfg.partition) {
        Some(p) if p.leader >= 0 => (p.leader, p.leader_epoch),
        Some(_) => return Err(ctx(Error::new(ErrorKind::NoLeader))),
        None => return Err(ctx(Error::new(ErrorKind::NotFound("partition")))),
    };
    let conn = brokers.conn(leader).await.map_err(ctx)?;
    let at = PartitionAt {
        topic: &cfg.topic,
        partition: cfg.partition,
    };
    let timeout = brokers.request_timeout();
    list_offset_on(&conn, at, timestamp, epoch, cfg.read_committed, timeout)
        .await
        .map_err(ctx)
}
