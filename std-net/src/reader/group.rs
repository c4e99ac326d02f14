//! Group mode of the [`Reader`](super::Reader): a consumer group member.
//!
//! The protocol is core's sans-IO [`Member`]; this module moves its bytes
//! and time. A group task owns the member: it sends what
//! `poll_transmit` asks on two connections to the coordinator (one for the
//! membership, one for offsets, so a commit never waits behind a JoinGroup
//! that waits for the whole group), feeds answers back, sleeps until
//! `poll_timeout`, runs the assignor when it leads, and acts on the
//! member's events.
//!
//! Each assigned partition is read by the partition Reader's own fetch task
//! (prefetching, leader moves, offset resets, backoff), started at the
//! group's committed offset and stopped when the partition is revoked or
//! lost. One fetch task (and connection) per partition instead of one fetch
//! per leader broker: the fetch machinery is proven and already handles
//! every failure per partition, revoking a partition is stopping one task,
//! and a partition kept through a cooperative rebalance is simply never
//! touched. The cost is a connection per assigned partition, which is fine
//! for the tens of partitions a member usually holds. Every fetch task feeds
//! one queue; each chunk carries a [`Claim`] that the group task turns off
//! on revocation, so nothing of a revoked partition is handed out after.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use microkafka_core::consumer::FetchCursor;
use microkafka_core::group::{
    Assignor, Destination, Event, GroupMember as Subscriber, GroupRequest, LeaderJoin, Member,
    MemberConfig, RequestId, TopicPartitions, Transmit,
};
use microkafka_core::producer::Backoff;
use microkafka_core::protocol::ApiKey;
use microkafka_core::record::compression::Codecs;
use microkafka_core::ErrorCode;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Chunk, Fetcher, ReaderConfig, Shared, StartOffset, FIRST_OFFSET, LAST_OFFSET};
use crate::broker::{BrokerConn, Response, Slot};
use crate::cluster::Cluster;
use crate::error::{Error, ErrorKind, Result};
use crate::message::{FetchedMessage, OwnedMessage};
use crate::reader::config::RebalanceEvent;

/// Most topics a group Reader subscribes to.
pub(crate) const MAX_GROUP_TOPICS: usize = 64;
/// Most partitions a group Reader holds at once (a larger assignment makes
/// it leave the group with an error, so the partitions go to others).
pub(crate) const MAX_GROUP_PARTITIONS: usize = 1024;

type GroupState = Member<MAX_GROUP_TOPICS, MAX_GROUP_PARTITIONS>;

/// One assignment of one partition: fetch tasks stamp their chunks with it,
/// and the group task turns it off when the partition goes.
#[derive(Debug)]
pub(crate) struct Claim {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    active: AtomicBool,
}

impl Claim {
    fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    fn end(&self) {
        self.active.store(false, Ordering::Release);
    }
}

/// What the fetch tasks (and the group task, for group-wide errors) queue
/// for the application: the chunk's claim (none in partition mode, or for
/// a group-wide error) and a chunk or an error.
pub(crate) type Fetched = (Option<Arc<Claim>>, Result<Chunk>);

enum Command {
    /// Commit these next offsets; answer when they are committed.
    Commit {
        offsets: Vec<(String, i32, i64)>,
        done: oneshot::Sender<Result<()>>,
    },
    /// A chunk could not be read: fetch the partition again from `offset`.
    Refetch { claim: Arc<Claim>, offset: i64 },
    /// Leave the group; answer when done.
    Close { done: oneshot::Sender<Result<()>> },
}

/// Offsets marked by the application for the periodic commit: topic →
/// partition → next offset.
#[derive(Debug, Default)]
struct Marks(Mutex<HashMap<String, HashMap<i32, i64>>>);

impl Marks {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, HashMap<i32, i64>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn mark(&self, topic: &str, partition: i32, next: i64) {
        let mut map = self.lock();
        let partitions = match map.get_mut(topic) {
            Some(p) => p,
            None => map.entry(topic.to_owned()).or_default(),
        };
        let at = partitions.entry(partition).or_insert(next);
        *at = (*at).max(next);
    }

    fn take(&self) -> Vec<(String, i32, i64)> {
        let mut map = self.lock();
        let mut out = Vec::new();
        for (topic, partitions) in map.iter_mut() {
            for (p, next) in partitions.drain() {
                out.push((topic.clone(), p, next));
            }
        }
        out
    }
}

/// What the group task publishes about the membership.
#[derive(Debug)]
pub(crate) struct Status {
    generation: AtomicI32,
    assignment: Mutex<Vec<(String, i32)>>,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            generation: AtomicI32::new(-1),
            assignment: Mutex::new(Vec::new()),
        }
    }
}

impl Status {
    fn assignment(&self) -> MutexGuard<'_, Vec<(String, i32)>> {
        self.assignment.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Running {
    cmd: mpsc::UnboundedSender<Command>,
    rx: mpsc::Receiver<Fetched>,
    driver: JoinHandle<()>,
}

/// The application side of a group Reader.
pub(crate) struct GroupConsumer {
    config: ReaderConfig,
    topics: Vec<String>,
    cluster: Arc<Cluster>,
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
        cluster: Arc<Cluster>,
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
            cluster,
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
            let started = Instant::now();
            let member = new_member(&self.config, &self.topics)?;
            let capacity = self.config.queue_capacity.max(1) * 4;
            let (chunks_tx, rx) = mpsc::channel(capacity);
            let (cmd, cmd_rx) = mpsc::unbounded_channel();
            let (results_tx, results_rx) = mpsc::unbounded_channel();
            let driver = Driver {
                member,
                cluster: self.cluster.clone(),
                config: self.config.clone(),
                started,
                coordinator: [None, None],
                results_tx,
                results_rx,
                cmd_rx,
                chunks_tx,
                shared: self.shared.clone(),
                status: self.status.clone(),
                marks: self.marks.clone(),
                fetchers: HashMap::new(),
                waiters: Vec::new(),
                closing: None,
                buf: vec![0u8; 16 * 1024],
            };
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
            self.shared.give_buffer(chunk.response.into_buf());
        }
    }

    /// The next message of any assigned partition.
    pub(crate) async fn fetch_message(&mut self) -> Result<FetchedMessage<'_>> {
        self.redeliver = false;
        self.start()?;
        let mut waited: Option<Instant> = None;
        loop {
            if let Some((claim, chunk)) = &self.current {
                if !claim.is_active() {
                    self.finish_chunk();
                    continue;
                }
                let records = chunk.response.body_slice(&chunk.records);
                match self
                    .cursor
                    .advance(records, &mut self.codecs, &mut self.scratch)
                {
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
                        self.shared.give_buffer(chunk.response.into_buf());
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
                Some((None, Ok(chunk))) => self.shared.give_buffer(chunk.response.into_buf()),
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
        let records = chunk.response.body_slice(&chunk.records);
        let Some(record) = self.cursor.current(records, &self.scratch) else {
            return Err(Error::from(microkafka_core::Error::Truncated));
        };
        Ok(FetchedMessage {
            topic: &claim.topic,
            partition: claim.partition,
            offset: record.offset,
            high_water_mark: chunk.high_water_mark,
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

/// The member for a Reader's configuration, on the heap.
fn new_member(config: &ReaderConfig, topics: &[String]) -> Result<Box<GroupState>> {
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let assignors: Vec<&dyn Assignor> = config
        .group_balancers
        .iter()
        .map(|b| b.assignor() as &dyn Assignor)
        .collect();
    let member_config = MemberConfig {
        group_instance_id: config.group_instance_id.as_deref(),
        assignors: &assignors,
        session_timeout: config.session_timeout,
        rebalance_timeout: config.rebalance_timeout,
        heartbeat_interval: config.heartbeat_interval,
        commit_interval: config.commit_interval,
        retention_time: (!config.retention_time.is_zero()).then_some(config.retention_time),
        backoff: Backoff::new(Duration::from_millis(100), config.join_group_backoff).jitter(0),
        request_timeout: config.dialer.request_timeout,
        ..MemberConfig::new(config.group_id.as_deref().unwrap_or_default(), &names)
    };
    Ok(Box::new(GroupState::new(&member_config, Duration::ZERO)?))
}

/// A synchronous commit waiting for its offsets.
struct Waiter {
    left: HashMap<(String, i32), i64>,
    done: oneshot::Sender<Result<()>>,
}

/// The group task.
struct Driver {
    member: Box<GroupState>,
    cluster: Arc<Cluster>,
    config: ReaderConfig,
    started: Instant,
    /// Coordinator connections: membership requests, offset requests.
    coordinator: [Option<Arc<BrokerConn>>; 2],
    results_tx: mpsc::UnboundedSender<(RequestId, Result<Response>)>,
    results_rx: mpsc::UnboundedReceiver<(RequestId, Result<Response>)>,
    cmd_rx: mpsc::UnboundedReceiver<Command>,
    chunks_tx: mpsc::Sender<Fetched>,
    shared: Arc<Shared>,
    status: Arc<Status>,
    marks: Arc<Marks>,
    fetchers: HashMap<(String, i32), (Arc<Claim>, JoinHandle<()>)>,
    waiters: Vec<Waiter>,
    closing: Option<oneshot::Sender<Result<()>>>,
    buf: Vec<u8>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        for (claim, task) in self.fetchers.values() {
            claim.end();
            task.abort();
        }
    }
}

impl Driver {
    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    async fn run(mut self) {
        loop {
            self.stage_marks();
            if !self.handle_events() {
                return;
            }
            if self.member.is_closed() {
                self.finish(Ok(()));
                return;
            }
            self.transmit().await;
            if !self.handle_events() {
                return;
            }
            let now = self.now();
            let mut wake = self.member.poll_timeout();
            if !self.config.commit_interval.is_zero() {
                let tick = now + self.config.commit_interval;
                wake = Some(wake.map_or(tick, |w| w.min(tick)));
            }
            let sleep = match wake {
                Some(at) => tokio::time::sleep_until((self.started + at).into()),
                None => tokio::time::sleep(Duration::from_secs(3600)),
            };
            tokio::select! {
                result = self.results_rx.recv() => {
                    if let Some((id, result)) = result {
                        self.on_result(id, result).await;
                    }
                }
                cmd = self.cmd_rx.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    // The Reader is gone without closing: stop (the session expires).
                    None => return,
                },
                () = sleep => {
                    let now = self.now();
                    self.member.handle_timeout(now);
                }
            }
        }
    }

    /// Ends the task: answers the close and every waiter.
    fn finish(&mut self, result: Result<()>) {
        for w in self.waiters.drain(..) {
            let _ = w.done.send(Err(Error::new(ErrorKind::Closed)));
        }
        if let Some(done) = self.closing.take() {
            let _ = done.send(result);
        }
    }

    /// Moves offsets the application marked into the member.
    fn stage_marks(&mut self) {
        for (topic, partition, next) in self.marks.take() {
            self.member.stage(&topic, partition, next);
        }
    }

    fn on_command(&mut self, cmd: Command) {
        let now = self.now();
        match cmd {
            Command::Commit { offsets, done } => {
                let mut left = HashMap::new();
                for (topic, partition, next) in offsets {
                    if !self.member.stage(&topic, partition, next) {
                        let e = Error::new(ErrorKind::NotFound(
                            "partition in this member's assignment (revoked or lost: not committed)",
                        ))
                        .with_api(ApiKey::OffsetCommit)
                        .with_partition(&topic, partition);
                        let _ = done.send(Err(e));
                        return;
                    }
                    if self.member.committed(&topic, partition) < Some(next) {
                        left.insert((topic, partition), next);
                    }
                }
                if left.is_empty() {
                    let _ = done.send(Ok(()));
                    return;
                }
                self.member.commit(now);
                self.waiters.push(Waiter { left, done });
            }
            Command::Refetch { claim, offset } => {
                let key = (claim.topic.clone(), claim.partition);
                let current = self
                    .fetchers
                    .get(&key)
                    .is_some_and(|(c, _)| Arc::ptr_eq(c, &claim));
                if current {
                    self.stop_fetcher(&key);
                    self.start_fetcher(&key.0, key.1, offset);
                }
            }
            Command::Close { done } => {
                self.stage_marks();
                self.closing = Some(done);
                self.member.leave(now);
            }
        }
    }

    fn start_fetcher(&mut self, topic: &str, partition: i32, offset: i64) {
        let claim = Arc::new(Claim {
            topic: topic.to_owned(),
            partition,
            active: AtomicBool::new(true),
        });
        let fetcher = Fetcher {
            cluster: self.cluster.clone(),
            config: ReaderConfig {
                topic: topic.to_owned(),
                partition,
                ..self.config.clone()
            },
            shared: self.shared.clone(),
            tx: self.chunks_tx.clone(),
            claim: Some(claim.clone()),
        };
        let task = tokio::spawn(fetcher.run(offset));
        self.fetchers
            .insert((topic.to_owned(), partition), (claim, task));
    }

    fn stop_fetcher(&mut self, key: &(String, i32)) {
        if let Some((claim, task)) = self.fetchers.remove(key) {
            claim.end();
            task.abort();
        }
    }

    fn publish_assignment(&self) {
        let mut a = self.status.assignment();
        a.clear();
        a.extend(self.fetchers.keys().cloned());
    }

    fn listen(&self, event: RebalanceEvent<'_>) {
        if let Some(l) = &self.config.on_rebalance {
            (l.0)(event);
        }
    }

    /// Acts on the member's events; false when the task must end.
    fn handle_events(&mut self) -> bool {
        let mut changed = false;
        while let Some(event) = self.member.poll_event() {
            match event {
                Event::Assigned {
                    topic,
                    partition,
                    committed,
                } => {
                    let topic = topic.to_owned();
                    let offset = committed.unwrap_or(match self.config.start_offset {
                        StartOffset::First => FIRST_OFFSET,
                        StartOffset::Last => LAST_OFFSET,
                    });
                    self.listen(RebalanceEvent::Assigned {
                        topic: &topic,
                        partition,
                        offset: committed,
                    });
                    self.start_fetcher(&topic, partition, offset);
                    changed = true;
                }
                Event::Revoked { topic, partition } => {
                    let key = (topic.to_owned(), partition);
                    self.stop_fetcher(&key);
                    self.listen(RebalanceEvent::Revoked {
                        topic: &key.0,
                        partition,
                    });
                    // What the application marked until now goes in the
                    // revoked partition's final commit.
                    for (t, p, next) in self.marks.take() {
                        self.member.stage(&t, p, next);
                    }
                    changed = true;
                }
                Event::Lost { topic, partition } => {
                    let key = (topic.to_owned(), partition);
                    self.stop_fetcher(&key);
                    self.listen(RebalanceEvent::Lost {
                        topic: &key.0,
                        partition,
                    });
                    self.fail_waiters_on(&key, ErrorCode::UNKNOWN_MEMBER_ID);
                    changed = true;
                }
                Event::Committed {
                    topic,
                    partition,
                    offset,
                    error,
                } => {
                    let key = (topic.to_owned(), partition);
                    if error.is_ok() {
                        for w in &mut self.waiters {
                            if w.left.get(&key).is_some_and(|&n| n <= offset) {
                                w.left.remove(&key);
                            }
                        }
                    } else {
                        self.fail_waiters_on(&key, error);
                    }
                }
                Event::Joined { generation, leader } => {
                    self.status.generation.store(generation, Ordering::Relaxed);
                    let member_id = self.member.member_id().to_owned();
                    self.listen(RebalanceEvent::Joined {
                        generation,
                        member_id: &member_id,
                        leader,
                    });
                }
                Event::Error { .. } => self.shared.counters.errors.add(1),
                Event::Left => {}
                Event::Fatal { api, error } => {
                    let e = Error::kafka(error, None).with_api(api);
                    // Never block here: the application may be waiting on us.
                    // When the queue is full it learns the Reader closed.
                    let _ = self.chunks_tx.try_send((None, Err(e.clone())));
                    self.finish(Err(e));
                    return false;
                }
            }
        }
        let mut i = 0;
        while i < self.waiters.len() {
            if self.waiters[i].left.is_empty() {
                let w = self.waiters.swap_remove(i);
                let _ = w.done.send(Ok(()));
            } else {
                i += 1;
            }
        }
        if changed {
            self.publish_assignment();
        }
        true
    }

    fn fail_waiters_on(&mut self, key: &(String, i32), code: ErrorCode) {
        let mut i = 0;
        while i < self.waiters.len() {
            if self.waiters[i].left.contains_key(key) {
                let w = self.waiters.swap_remove(i);
                let e = Error::kafka(code, None)
                    .with_api(ApiKey::OffsetCommit)
                    .with_partition(&key.0, key.1);
                let _ = w.done.send(Err(e));
            } else {
                i += 1;
            }
        }
    }

    /// Sends everything the member wants sent now.
    async fn transmit(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        loop {
            let now = self.now();
            match self.member.poll_transmit(now, &mut buf) {
                Ok(Some(tx)) => self.dispatch(&tx).await,
                Ok(None) => break,
                Err(microkafka_core::Error::BufferTooSmall) => {
                    let len = (buf.len() * 2).max(self.member.transmit_buf_len());
                    buf.resize(len, 0);
                }
                Err(_) => {
                    self.shared.counters.errors.add(1);
                    break;
                }
            }
        }
        self.buf = buf;
    }

    /// Sends one request; its answer comes back through `results_rx`.
    async fn dispatch(&mut self, tx: &Transmit<'_>) {
        let lane = usize::from(matches!(
            tx.request.api(),
            ApiKey::OffsetCommit | ApiKey::OffsetFetch
        ));
        let conn = match tx.destination {
            Destination::AnyBroker => self.cluster.any_conn().await,
            Destination::Coordinator {
                node_id,
                host,
                port,
            } => self.coordinator_conn(lane, node_id, host, port).await,
        };
        let conn = match conn {
            Ok(c) => c,
            Err(_) => {
                let now = self.now();
                self.member.handle_failure(now, tx.id);
                return;
            }
        };
        let slot = Slot::new();
        let sent = match &tx.request {
            GroupRequest::FindCoordinator(r) => conn.send(r, &slot, Vec::new()).await,
            GroupRequest::JoinGroup(r) => conn.send(r, &slot, Vec::new()).await,
            GroupRequest::SyncGroup(r) => conn.send(r, &slot, Vec::new()).await,
            GroupRequest::Heartbeat(r) => conn.send(r, &slot, Vec::new()).await,
            GroupRequest::LeaveGroup(r) => conn.send(r, &slot, Vec::new()).await,
            GroupRequest::OffsetCommit(r) => conn.send(r, &slot, Vec::new()).await,
            GroupRequest::OffsetFetch(r) => conn.send(r, &slot, Vec::new()).await,
        };
        let correlation_id = match sent {
            Ok(id) => id,
            Err(_) => {
                let now = self.now();
                self.member.handle_failure(now, tx.id);
                return;
            }
        };
        let mut wait = self.config.dialer.request_timeout;
        if matches!(tx.request.api(), ApiKey::JoinGroup | ApiKey::SyncGroup) {
            wait += self.config.rebalance_timeout;
        }
        let (id, results) = (tx.id, self.results_tx.clone());
        tokio::spawn(async move {
            let result = match tokio::time::timeout(wait, slot.wait(correlation_id)).await {
                Ok(result) => result,
                Err(_) => {
                    // A late answer would come before later ones: the stream is done.
                    let e = Error::new(ErrorKind::Timeout).with_broker(conn.broker());
                    conn.close(e.clone());
                    Err(e)
                }
            };
            let _ = results.send((id, result));
        });
    }

    async fn coordinator_conn(
        &mut self,
        lane: usize,
        node_id: i32,
        host: &str,
        port: i32,
    ) -> Result<Arc<BrokerConn>> {
        if let Some(c) = &self.coordinator[lane] {
            if !c.is_closed() && c.broker().id == node_id {
                return Ok(c.clone());
            }
        }
        let addr = format!("{host}:{port}");
        let conn = Arc::new(self.cluster.dialer.connect(&addr, node_id).await?);
        self.coordinator[lane] = Some(conn.clone());
        Ok(conn)
    }

    async fn on_result(&mut self, id: RequestId, result: Result<Response>) {
        let now = self.now();
        let response = match result {
            Ok(r) => r,
            Err(_) => {
                self.member.handle_failure(now, id);
                return;
            }
        };
        let received = response.received();
        if self.member.handle_response(now, id, &received).is_err() {
            // The bytes cannot be trusted: neither can the connections.
            self.shared.counters.errors.add(1);
            for c in self.coordinator.iter_mut().filter_map(Option::take) {
                c.close(Error::new(ErrorKind::ConnectionClosed));
            }
        }
        if self.member.needs_assignment() {
            self.lead(&response).await;
        }
    }

    /// The leader's assignment: metadata for every subscribed topic, the
    /// chosen assignor, then the SyncGroup.
    async fn lead(&mut self, response: &Response) {
        let received = response.received();
        let assigned = async {
            let view = LeaderJoin::parse(&received)?;
            let members: Vec<Subscriber<'_>> = view.members().filter_map(|m| m.ok()).collect();
            let mut names: Vec<&str> = view.topics().collect();
            names.sort_unstable();
            names.dedup();
            // Topics that do not exist (yet) are left out, as Java does.
            let _ = self.cluster.refresh(&names, None).await;
            let mut topics = Vec::new();
            for name in names {
                if let Some(meta) = self.cluster.topic(name) {
                    if meta.error.is_ok() && !meta.partitions.is_empty() {
                        topics.push(TopicPartitions {
                            topic: name,
                            partitions: meta.partitions.len() as i32,
                        });
                    }
                }
            }
            let balancer = self
                .config
                .group_balancers
                .iter()
                .copied()
                .find(|b| b.name() == view.protocol())
                .ok_or_else(|| Error::config("the coordinator chose a protocol not offered"))?;
            let total: usize = topics.iter().map(|t| t.partitions as usize).sum();
            let mut scratch =
                vec![
                    0u32;
                    microkafka_core::group::leader_scratch_len(members.len(), topics.len(), total)
                ];
            let mut out = vec![0u8; 64 * 1024];
            loop {
                let now = self.now();
                let assignor = balancer.assignor();
                let room = out.len();
                match self
                    .member
                    .assign(now, &members, &topics, assignor, &mut scratch, &mut out)
                {
                    Ok(tx) => {
                        self.dispatch(&tx).await;
                        return Ok::<(), Error>(());
                    }
                    Err(microkafka_core::Error::BufferTooSmall) if room < 64 << 20 => {
                        out.resize(room * 4, 0);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        .await;
        if assigned.is_err() {
            // Re-form the group rather than wait for the rebalance timeout.
            self.shared.counters.errors.add(1);
            let now = self.now();
            self.member.rejoin(now);
        }
    }
}
