//! Group mode of the [`Reader`](super::Reader): the application side of
//! a consumer group member.
//!
//! The member itself runs in the group task (`group_task`), which starts a
//! fetch task per assigned partition (the partition Reader's own: leader
//! moves, offset resets, backoff) and stops it when the partition goes. One
//! fetch task (and connection) per partition instead of one fetch per
//! leader broker: the fetch machinery is proven and already handles every
//! failure per partition, revoking a partition is stopping one task, and a
//! partition kept through a cooperative rebalance is simply never touched.
//! The cost is a connection per assigned partition, which is fine for the
//! tens of partitions a member usually holds. Every fetch task feeds one
//! queue; each chunk carries a [`Claim`] that the group task turns off on
//! revocation, so nothing of a revoked partition is handed out after.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use microkafka_core::consumer::FetchCursor;
use microkafka_core::protocol::ApiKey;
use microkafka_core::record::compression::Codecs;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::config::ReaderConfig;
use super::fetcher::{Chunk, Claim, Queued, Shared};
use super::group_task::{new_member, Command, Driver, Marks, Status};
use crate::error::{Error, ErrorKind, Result};
use crate::message::{FetchedMessage, OwnedMessage};
use crate::pool::BrokerPool;
use crate::writer::ConsumerGroupMetadata;

struct Running {
    cmd: mpsc::UnboundedSender<Command>,
    rx: mpsc::Receiver<Queued>,
    driver: JoinHandle<()>,
}

/// The application side of a group Reader.
pub(crate) struct GroupConsumer {
    config: ReaderConfig,
    topics: Vec<String>,
    brokers: Arc<BrokerPool>,
    shared: Arc<Shared>,
    status: Arc<Status>,
    marks: Arc<Marks>,
    running: Option<Running>,
    current: Option<(Arc<Claim>, Chunk)>,
    cursor: FetchCursor,
    codecs: Codecs,
    scratch: Vec<u8>,
    /// `read_message` was interrupted before its synchronous commit
    /// finished: the next call commits and returns the same message.
    redeliver: bool,
    /// The group task ended (closed, or refused for good): no new member
    /// is started behind the application's back.
    ended: bool,
}

impl std::fmt::Debug for GroupConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupConsumer")
            .field("group_id", &self.config.group_id)
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}

impl Drop for GroupConsumer {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.driver.abort();
        }
    }
}

impl GroupConsumer {
    /// Checks a group configuration; nothing starts before the first read.
    pub(crate) fn new(
        config: ReaderConfig,
        brokers: Arc<BrokerPool>,
        shared: Arc<Shared>,
    ) -> Result<GroupConsumer> {
        let group_id = config.group_id.as_deref().unwrap_or_default();
        if group_id.is_empty() {
            return Err(Error::config("the group id is empty"));
        }
        if config.partition != 0 {
            return Err(Error::config(
                "a group Reader reads the partitions it is assigned: leave partition at 0",
            ));
        }
        let topics: Vec<String> = if config.group_topics.is_empty() {
            vec![config.topic.clone()]
        } else {
            config.group_topics.clone()
        };
        if topics.iter().any(String::is_empty) {
            return Err(Error::config(
                "a group Reader needs topics (group_topics or topic)",
            ));
        }
        // Everything else the member checks (lengths, limits, duplicates).
        new_member(&config, &topics)?;
        Ok(GroupConsumer {
            config,
            topics,
            brokers,
            shared,
            status: Arc::new(Status::default()),
            marks: Arc::new(Marks::default()),
            running: None,
            current: None,
            cursor: FetchCursor::new(0),
            codecs: Codecs::new(),
            scratch: Vec::new(),
            redeliver: false,
            ended: false,
        })
    }

    /// The subscribed topics.
    pub(crate) fn topics(&self) -> &[String] {
        &self.topics
    }

    /// The partitions assigned now.
    pub(crate) fn assignment(&self) -> Vec<(String, i32)> {
        let mut a = self.status.assignment().clone();
        a.sort();
        a
    }

    /// The generation joined (-1 before the first).
    pub(crate) fn generation(&self) -> i32 {
        self.status.generation.load(Ordering::Relaxed)
    }

    /// The group's metadata for offsets committed in a transaction
    /// (KIP-447): the member id and generation joined, the instance id.
    pub(crate) fn group_metadata(&self) -> ConsumerGroupMetadata {
        let (member_id, generation_id) = self.status.membership();
        ConsumerGroupMetadata {
            group_id: self.config.group_id.clone().unwrap_or_default(),
            generation_id,
            member_id,
            group_instance_id: self.config.group_instance_id.clone(),
        }
    }

    /// Fetch responses queued for the application.
    pub(crate) fn queue_length(&self) -> usize {
        self.running.as_ref().map_or(0, |r| r.rx.len())
    }

    fn start(&mut self) -> Result<&mut Running> {
        if self.ended {
            return Err(Error::new(ErrorKind::Closed));
        }
        if self.running.is_none() {
            if self.scratch.len() < self.config.max_decompressed_bytes {
                self.scratch = vec![0; self.config.max_decompressed_bytes];
            }
            let member = new_member(&self.config, &self.topics)?;
            let capacity = self.config.queue_capacity.max(1) * 4;
            let (chunks_tx, rx) = mpsc::channel(capacity);
            let (cmd, cmd_rx) = mpsc::unbounded_channel();
            let driver = Driver::new(
                member,
                self.brokers.clone(),
                self.config.clone(),
                cmd_rx,
                chunks_tx,
                self.shared.clone(),
                self.status.clone(),
                self.marks.clone(),
            );
            self.running = Some(Running {
                cmd,
                rx,
                driver: tokio::spawn(driver.run()),
            });
        }
        self.running
            .as_mut()
            .ok_or_else(|| Error::new(ErrorKind::Closed))
    }

    fn finish_chunk(&mut self) {
        if let Some((_, chunk)) = self.current.take() {
            self.shared.give_buffer(chunk.into_buf());
        }
    }

    /// The next message of any assigned partition.
    pub(crate) async fn fetch_message(&mut self) -> Result<FetchedMessage<'_>> {
        self.redeliver = false;
        self.start()?;
        let mut waited: Option<Instant> = None;
        loop {
            if let Some((claim, chunk)) = &mut self.current {
                if !claim.is_active() {
                    self.finish_chunk();
                    continue;
                }
                match chunk.advance(&mut self.cursor, &mut self.codecs, &mut self.scratch) {
                    Ok(true) => break,
                    Ok(false) => self.finish_chunk(),
                    Err(e) => {
                        // The bytes cannot be trusted: fetch the partition again from here.
                        let offset = self.cursor.next_offset();
                        let claim = claim.clone();
                        let e = Error::from(e)
                            .with_api(ApiKey::Fetch)
                            .with_partition(&claim.topic, claim.partition);
                        self.finish_chunk();
                        if let Some(r) = &self.running {
                            let _ = r.cmd.send(Command::Refetch { claim, offset });
                        }
                        return Err(e);
                    }
                }
                continue;
            }
            let running = self.start()?;
            let started = *waited.get_or_insert_with(Instant::now);
            match running.rx.recv().await {
                Some((Some(claim), Ok(chunk))) => {
                    if !claim.is_active() {
                        self.shared.give_buffer(chunk.into_buf());
                        continue;
                    }
                    self.shared
                        .counters
                        .wait_time
                        .observe_duration(started.elapsed());
                    waited = None;
                    self.cursor = FetchCursor::new(chunk.fetch_offset);
                    self.current = Some((claim, chunk));
                }
                Some((Some(claim), Err(e))) => {
                    if claim.is_active() {
                        return Err(e);
                    }
                }
                Some((None, Err(e))) => return Err(e),
                Some((None, Ok(chunk))) => self.shared.give_buffer(chunk.into_buf()),
                None => {
                    self.running = None;
                    self.ended = true;
                    return Err(Error::new(ErrorKind::Closed));
                }
            }
        }
        let message = self.message()?;
        let c = &self.shared.counters;
        c.messages.add(1);
        c.bytes.add(
            (message.key.map_or(0, <[u8]>::len) + message.value.map_or(0, <[u8]>::len)) as u64,
        );
        Ok(message)
    }

    /// The message the cursor is on.
    fn message(&self) -> Result<FetchedMessage<'_>> {
        let Some((claim, chunk)) = &self.current else {
            return Err(Error::new(ErrorKind::Closed));
        };
        let Some(record) = self.cursor.current(chunk.records(), &self.scratch) else {
            return Err(Error::from(microkafka_core::Error::Truncated));
        };
        Ok(FetchedMessage {
            topic: &claim.topic,
            partition: claim.partition,
            offset: record.offset,
            high_water_mark: chunk.high_water_mark(),
            key: record.key,
            value: record.value,
            headers: record.headers,
            timestamp_ms: record.timestamp,
        })
    }

    /// The next message, committed (synchronously with a zero
    /// `commit_interval`, else marked for the next periodic commit).
    ///
    /// Cancel-safe: if the future is dropped during the synchronous commit
    /// (or the commit fails), the next call commits and returns the same
    /// message, unless its partition was revoked meanwhile (its new owner
    /// reads it).
    pub(crate) async fn read_message(&mut self) -> Result<FetchedMessage<'_>> {
        let again = self.redeliver
            && self
                .current
                .as_ref()
                .is_some_and(|(claim, _)| claim.is_active());
        if !again {
            self.fetch_message().await?;
        }
        let (claim, next) = match (&self.current, self.message()) {
            (Some((claim, _)), Ok(m)) => (claim.clone(), m.offset.saturating_add(1)),
            (_, Err(e)) => return Err(e),
            (None, _) => return Err(Error::new(ErrorKind::Closed)),
        };
        if self.config.commit_interval.is_zero() {
            self.redeliver = true;
            let offsets = vec![(claim.topic.clone(), claim.partition, next)];
            self.commit(offsets).await?;
            self.redeliver = false;
        } else {
            self.marks.mark(&claim.topic, claim.partition, next);
        }
        self.message()
    }

    /// Commits each message's offset + 1 (the next to read), highest per partition.
    pub(crate) async fn commit_messages(&mut self, messages: &[OwnedMessage]) -> Result<()> {
        let mut highest: HashMap<(&str, i32), i64> = HashMap::new();
        for m in messages {
            let at = highest.entry((&m.topic, m.partition)).or_insert(0);
            *at = (*at).max(m.offset.saturating_add(1));
        }
        let offsets: Vec<(String, i32, i64)> = highest
            .into_iter()
            .map(|((t, p), o)| (t.to_owned(), p, o))
            .collect();
        if self.config.commit_interval.is_zero() {
            self.commit(offsets).await
        } else {
            for (t, p, o) in offsets {
                self.marks.mark(&t, p, o);
            }
            Ok(())
        }
    }

    /// Commits next offsets and waits until the broker has them.
    pub(crate) async fn commit(&mut self, offsets: Vec<(String, i32, i64)>) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let running = self.start()?;
        let (done, answer) = oneshot::channel();
        running
            .cmd
            .send(Command::Commit { offsets, done })
            .map_err(|_| Error::new(ErrorKind::Closed))?;
        answer.await.map_err(|_| Error::new(ErrorKind::Closed))?
    }

    /// Commits what is marked, leaves the group and stops.
    pub(crate) async fn close(&mut self) -> Result<()> {
        self.finish_chunk();
        self.ended = true;
        let Some(running) = self.running.take() else {
            return Ok(());
        };
        let (done, answer) = oneshot::channel();
        let limit = self.config.dialer.request_timeout + self.config.rebalance_timeout;
        let result = if running.cmd.send(Command::Close { done }).is_ok() {
            match tokio::time::timeout(limit, answer).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Ok(()),
                Err(_) => Err(Error::new(ErrorKind::Timeout).with_api(ApiKey::LeaveGroup)),
            }
        } else {
            Ok(())
        };
        running.driver.abort();
        result
    }
}
