//! The group task of a group [`Reader`](super::Reader): it owns core's
//! sans-IO [`Member`] and moves its bytes and time. It sends what
//! `poll_transmit` asks on two connections to the coordinator (one for the
//! membership, one for offsets, so a commit never waits behind a JoinGroup
//! that waits for the whole group), feeds answers back, sleeps until
//! `poll_timeout`, runs the assignor when it leads, and acts on the
//! member's events: a fetch task ([`Fetcher`]) per assigned partition,
//! started at the group's committed offset and stopped when the partition
//! is revoked or lost, commits answered to the application.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use microkafka_core::group::{
    Assignor, Destination, Event, GroupMember as Subscriber, GroupRequest, LeaderJoin, Member,
    MemberConfig, RequestId, TopicPartitions, Transmit,
};
use microkafka_core::producer::Backoff;
use microkafka_core::protocol::ApiKey;
use microkafka_core::ErrorCode;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use super::config::{ReaderConfig, RebalanceEvent};
use super::fetcher::{Claim, Fetcher, Queued, Shared};
use crate::broker::{BrokerConn, Response, Slot};
use crate::error::{Error, ErrorKind, Result};
use crate::pool::BrokerPool;

/// Most topics a group Reader subscribes to.
pub(crate) const MAX_GROUP_TOPICS: usize = 64;
/// Most partitions a group Reader holds at once (a larger assignment makes
/// it leave the group with an error, so the partitions go to others).
pub(crate) const MAX_GROUP_PARTITIONS: usize = 1024;

type GroupState = Member<MAX_GROUP_TOPICS, MAX_GROUP_PARTITIONS>;

/// What the application asks of the group task.
pub(crate) enum Command {
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
pub(crate) struct Marks(Mutex<HashMap<String, HashMap<i32, i64>>>);

impl Marks {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, HashMap<i32, i64>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn mark(&self, topic: &str, partition: i32, next: i64) {
        let mut map = self.lock();
        let partitions = match map.get_mut(topic) {
            Some(p) => p,
            None => map.entry(topic.to_owned()).or_default(),
        };
        let at = partitions.entry(partition).or_insert(next);
        *at = (*at).max(next);
    }

    pub(crate) fn take(&self) -> Vec<(String, i32, i64)> {
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
    pub(crate) generation: AtomicI32,
    assignment: Mutex<Vec<(String, i32)>>,
    /// The member id of the generation joined ("" before), for offsets
    /// committed in a transaction (KIP-447).
    member_id: Mutex<String>,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            generation: AtomicI32::new(-1),
            assignment: Mutex::new(Vec::new()),
            member_id: Mutex::new(String::new()),
        }
    }
}

impl Status {
    pub(crate) fn assignment(&self) -> MutexGuard<'_, Vec<(String, i32)>> {
        self.assignment.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The member id and generation, read together (a join between two
    /// separate reads would pair one generation with another's id).
    pub(crate) fn membership(&self) -> (String, i32) {
        let id = self.member_id.lock().unwrap_or_else(|e| e.into_inner());
        (id.clone(), self.generation.load(Ordering::Relaxed))
    }

    fn joined(&self, member_id: &str, generation: i32) {
        let mut id = self.member_id.lock().unwrap_or_else(|e| e.into_inner());
        member_id.clone_into(&mut id);
        self.generation.store(generation, Ordering::Relaxed);
    }
}

/// The member for a Reader's configuration, on the heap.
pub(crate) fn new_member(config: &ReaderConfig, topics: &[String]) -> Result<Box<GroupState>> {
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
        // As the Java consumer: under read_committed, never start from an
        // offset a transaction is still committing.
        require_stable: config.read_committed,
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
pub(crate) struct Driver {
    member: Box<GroupState>,
    brokers: Arc<BrokerPool>,
    config: ReaderConfig,
    started: Instant,
    /// Coordinator connections: membership requests, offset requests.
    coordinator: [Option<Arc<BrokerConn>>; 2],
    results_tx: mpsc::UnboundedSender<(RequestId, Result<Response>)>,
    results_rx: mpsc::UnboundedReceiver<(RequestId, Result<Response>)>,
    cmd_rx: mpsc::UnboundedReceiver<Command>,
    chunks_tx: mpsc::Sender<Queued>,
    shared: Arc<Shared>,
    status: Arc<Status>,
    marks: Arc<Marks>,
    fetchers: HashMap<(String, i32), (Arc<Claim>, JoinHandle<()>)>,
    waiters: Vec<Waiter>,
    closing: Option<oneshot::Sender<Result<()>>>,
    buf: Vec<u8>,
    /// The tasks waiting for the answers of requests sent (aborted with
    /// the driver).
    waits: JoinSet<()>,
    /// Requests failed without progress (see [`Driver::failed`]), and the
    /// error of the first.
    failures: u32,
    first_failure: Option<Error>,
    /// A fatal failure ([`Error::is_fatal`]): the task ends with it.
    fatal: Option<Error>,
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
    /// The task for `member`, fetching through `brokers`: it takes the
    /// application's commands from `cmd_rx` and queues chunks and errors
    /// on `chunks_tx`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        member: Box<GroupState>,
        brokers: Arc<BrokerPool>,
        config: ReaderConfig,
        cmd_rx: mpsc::UnboundedReceiver<Command>,
        chunks_tx: mpsc::Sender<Queued>,
        shared: Arc<Shared>,
        status: Arc<Status>,
        marks: Arc<Marks>,
    ) -> Self {
        let (results_tx, results_rx) = mpsc::unbounded_channel();
        Driver {
            member,
            brokers,
            config,
            started: Instant::now(),
            coordinator: [None, None],
            results_tx,
            results_rx,
            cmd_rx,
            chunks_tx,
            shared,
            status,
            marks,
            fetchers: HashMap::new(),
            waiters: Vec::new(),
            closing: None,
            buf: vec![0u8; 16 * 1024],
            waits: JoinSet::new(),
            failures: 0,
            first_failure: None,
            fatal: None,
        }
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    pub(crate) async fn run(mut self) {
        loop {
            // Waiters that delivered their answer are done.
            while self.waits.try_join_next().is_some() {}
            self.stage_marks();
            if !self.handle_events() {
                return;
            }
            if self.member.is_closed() {
                self.finish(Ok(()));
                return;
            }
            self.transmit().await;
            if !self.handle_events() || self.end_if_fatal() {
                return;
            }
            // Asking what to send may end a leaving member (nothing left to
            // commit, no LeaveGroup to send: it never joined): finish now,
            // not when some later answer happens to wake the task (a
            // JoinGroup's, after its rebalance timeout).
            if self.member.is_closed() {
                self.finish(Ok(()));
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
            if self.end_if_fatal() {
                return;
            }
        }
    }

    /// After a fatal failure: tells the application, answers every waiter,
    /// and says the task must end (true). Without one, false.
    fn end_if_fatal(&mut self) -> bool {
        let Some(e) = self.fatal.take() else {
            return false;
        };
        // Never block: when the queue is full the application is not waiting.
        let _ = self.chunks_tx.try_send((None, Err(e.clone())));
        for w in self.waiters.drain(..) {
            let _ = w.done.send(Err(e.clone()));
        }
        self.finish(Err(e));
        true
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
        let claim = Arc::new(Claim::new(topic, partition));
        let fetcher = Fetcher {
            brokers: self.brokers.clone(),
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
                    // Without a committed offset: looked up (-2 first, -1 last).
                    let offset =
                        committed.unwrap_or(self.config.start_offset.list_offsets_timestamp());
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
                    self.progressed();
                    let member_id = self.member.member_id().to_owned();
                    self.status.joined(&member_id, generation);
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
                Ok(Some(tx)) => self.dispatch(now, &tx).await,
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

    /// Sends one request, which the member started at `now`; its answer
    /// comes back through `results_rx`.
    async fn dispatch(&mut self, now: Duration, tx: &Transmit<'_>) {
        let lane = usize::from(matches!(
            tx.request.api(),
            ApiKey::OffsetCommit | ApiKey::OffsetFetch
        ));
        let conn = match tx.destination {
            Destination::AnyBroker => self.brokers.any_conn().await,
            Destination::Coordinator {
                node_id,
                host,
                port,
            } => self.coordinator_conn(lane, node_id, host, port).await,
        };
        let api = tx.request.api();
        let conn = match conn {
            Ok(c) => c,
            Err(e) => {
                self.failed(tx.id, e.with_api(api));
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
            Err(e) => {
                self.failed(tx.id, e.with_api(api));
                return;
            }
        };
        let mut wait = self.config.dialer.request_timeout;
        if matches!(api, ApiKey::JoinGroup | ApiKey::SyncGroup) {
            wait = wait.saturating_add(self.config.rebalance_timeout);
        }
        // The member's own deadline for the request (it gives up then and
        // may send the next one at once): the connection must be closed by
        // then, not a moment later with the next request already on it.
        let deadline = self
            .started
            .checked_add(now.saturating_add(wait))
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 24 * 3600));
        let deadline = tokio::time::Instant::from_std(deadline);
        let (id, results) = (tx.id, self.results_tx.clone());
        // Owned by the driver (not detached): when the Reader closes or is
        // dropped, a JoinGroup waiting out its rebalance timeout must not
        // keep a task and the coordinator's connection alive behind it.
        self.waits.spawn(async move {
            let result = match tokio::time::timeout_at(deadline, slot.wait(correlation_id)).await {
                Ok(result) => result,
                Err(_) => {
                    // A late answer would come before later ones: the stream is done.
                    let e = Error::new(ErrorKind::Timeout).with_broker(conn.broker());
                    conn.close(e.clone());
                    Err(e)
                }
            };
            let _ = results.send((id, result.map_err(|e| e.with_api(api))));
        });
    }

    /// A request failed (no connection, no answer in time, a broken
    /// answer): the member retries it. While nothing is assigned the
    /// application waits on the queue for messages that cannot come, so
    /// after `max_attempts` failures without progress (a join, or a
    /// heartbeat answered) it gets the error that started them, as a
    /// partition Reader gets its fetch errors: `fetch_message` never hangs
    /// on an unreachable, silent or garbling coordinator. The member keeps
    /// trying. (A FindCoordinator answered is not progress: a coordinator
    /// found whose every JoinGroup fails would reset the count forever.)
    fn failed(&mut self, id: RequestId, e: Error) {
        let now = self.now();
        self.member.handle_failure(now, id);
        self.count_failure(e);
    }

    fn count_failure(&mut self, e: Error) {
        if e.is_fatal() {
            // Credentials or certificates refused: the member stops (see
            // `run`), the application hears it now.
            self.fatal.get_or_insert(e);
            return;
        }
        self.failures += 1;
        let first = self.first_failure.get_or_insert(e);
        if self.failures >= self.config.max_attempts && self.fetchers.is_empty() {
            let e = first.clone();
            self.progressed();
            // Never block: when the queue is full the application is not waiting.
            let _ = self.chunks_tx.try_send((None, Err(e)));
        }
    }

    /// The membership works (or the failures were reported): count afresh.
    fn progressed(&mut self) {
        self.failures = 0;
        self.first_failure = None;
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
        let conn = Arc::new(self.brokers.dial(&addr, node_id).await?);
        self.coordinator[lane] = Some(conn.clone());
        Ok(conn)
    }

    async fn on_result(&mut self, id: RequestId, result: Result<Response>) {
        let now = self.now();
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                self.failed(id, e);
                return;
            }
        };
        let received = response.received();
        match self.member.handle_response(now, id, &received) {
            Ok(()) if received.api == ApiKey::Heartbeat => self.progressed(),
            Ok(()) => {}
            Err(e) => {
                // The bytes cannot be trusted: neither can the connections.
                self.shared.counters.errors.add(1);
                for c in self.coordinator.iter_mut().filter_map(Option::take) {
                    c.close(Error::new(ErrorKind::ConnectionClosed));
                }
                self.count_failure(Error::from(e).with_api(received.api));
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
            let _ = self.brokers.refresh(&names, None).await;
            let mut topics = Vec::new();
            for name in names {
                if let Some(meta) = self.brokers.topic(name) {
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
                        self.dispatch(now, &tx).await;
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
