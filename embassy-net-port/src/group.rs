//! [`GroupConsumer`]: a consumer group member for firmware, on core's
//! sans-IO group [`Member`], with fixed limits and no heap.
//!
//! One task, one request at a time: every [`fetch`](GroupConsumer::fetch)
//! first sends what the group needs (coordinator lookup, join, sync,
//! heartbeat, offset fetch and commit), then fetches the next assigned
//! partition in turn, then keeps the group alive again. Heartbeats only go
//! out from `fetch`, `commit` and `close`: call `fetch` more often than the
//! session timeout (and keep `max_wait` below the heartbeat interval). A
//! rebalance is handled inside `fetch`, which returns once the member has
//! its new assignment.

use core::fmt;
use core::ops::Range;

use crate::connection::BrokerSocket;
use embassy_time::{Duration, Instant, Timer};
use microkafka_core::client::{MetadataCache, Received};
use microkafka_core::consumer::partition::Position;
use microkafka_core::consumer::{ConsumedRecord, FetchCursor, FetchErrorAction, StartOffset};
use microkafka_core::group::{
    Assignor, Destination, Event, GroupMember, LeaderJoin, Member, MemberConfig, TopicPartitions,
    Transmit,
};
use microkafka_core::producer::Backoff;
use microkafka_core::protocol::ApiKey;
use microkafka_core::record::compression::Codecs;

use crate::cluster::{Cluster, ClusterConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::fetch::{check_fetch_buffer, fetch_failed, fetch_partition, next_fetched, FetchWait};
use crate::fmt::debug;
use crate::resolve::Resolve;

/// Most members a firmware leader assigns partitions to. A larger group
/// led by this member rejoins at once so that another member (a host
/// client, say) can lead: keep firmware members out of large groups, or
/// make sure another member joins first.
pub const MAX_GROUP_MEMBERS: usize = 8;

/// Group requests at most per `fetch` before reading goes on.
const MAX_EXCHANGES: usize = 16;

/// How a [`GroupConsumer`] takes part in its group. Every field has a
/// default (see [`GroupConsumerConfig::new`]).
#[derive(Clone, Copy)]
pub struct GroupConsumerConfig<'a> {
    /// Bootstrap brokers, `host:port` each.
    pub brokers: &'a [&'a str],
    /// The topic (a firmware member subscribes to one).
    pub topic: &'a str,
    /// The consumer group.
    pub group_id: &'a str,
    /// Static membership (`group.instance.id`): a device that reboots
    /// within `session_timeout` gets its partitions back without a
    /// rebalance. Default `None`.
    pub group_instance_id: Option<&'a str>,
    /// Assignors offered, by preference. Default `range`, `roundrobin`
    /// (core's [`DEFAULT_ASSIGNORS`](microkafka_core::group::member::DEFAULT_ASSIGNORS)).
    pub assignors: &'a [&'a dyn Assignor],
    /// The client id in request headers. Default `Some("microkafka")`.
    pub client_id: Option<&'a str>,
    /// Where a partition with no committed offset starts, and where an
    /// offset out of range goes. Default [`StartOffset::First`].
    pub start: StartOffset,
    /// The coordinator drops the member after this long without a
    /// heartbeat. Default 10 s.
    pub session_timeout: Duration,
    /// How long the coordinator waits for members to rejoin. Default 30 s.
    pub rebalance_timeout: Duration,
    /// Time between heartbeats. Default 3 s.
    pub heartbeat_interval: Duration,
    /// Offsets of records handed out are committed this often (and when
    /// partitions are revoked, and on `close`). Default 5 s (the Java
    /// client's auto commit). Zero: only by [`GroupConsumer::commit`].
    pub commit_interval: Duration,
    /// How long the broker may hold a fetch. Default 500 ms.
    pub max_wait: Duration,
    /// Bytes the broker waits for before answering. Default 1.
    pub min_bytes: i32,
    /// Wait after a failed fetch or group request. Default 100 ms doubling to 1 s.
    pub backoff: Backoff,
    /// Time allowed to open a connection and agree versions. Default 5 s.
    pub connect_timeout: Duration,
    /// Time a broker may take to answer (JoinGroup and SyncGroup get the
    /// rebalance timeout on top). Default 10 s.
    pub request_timeout: Duration,
}

impl<'a> GroupConsumerConfig<'a> {
    /// The defaults, for `group_id` reading `topic` on the cluster at `brokers`.
    pub const fn new(brokers: &'a [&'a str], topic: &'a str, group_id: &'a str) -> Self {
        GroupConsumerConfig {
            brokers,
            topic,
            group_id,
            group_instance_id: None,
            assignors: microkafka_core::group::member::DEFAULT_ASSIGNORS,
            client_id: Some("microkafka"),
            start: StartOffset::First,
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(3),
            commit_interval: Duration::from_secs(5),
            max_wait: Duration::from_millis(500),
            min_bytes: 1,
            backoff: Backoff::new(
                core::time::Duration::from_millis(100),
                core::time::Duration::from_secs(1),
            ),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl fmt::Debug for GroupConsumerConfig<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupConsumerConfig")
            .field("topic", &self.topic)
            .field("group_id", &self.group_id)
            .field("group_instance_id", &self.group_instance_id)
            .field("assignors", &self.assignors.len())
            .finish_non_exhaustive()
    }
}

fn core_duration(d: Duration) -> core::time::Duration {
    core::time::Duration::from_micros(d.as_micros())
}

/// An assigned partition and where it is read from next.
#[derive(Clone, Copy, Debug)]
struct Owned {
    partition: i32,
    position: Position,
}

/// A consumer group member with no heap: the partitions the group assigns
/// it are fetched in turn into the caller's fetch buffer and handed out one
/// record at a time, like [`Consumer`](crate::Consumer)'s; offsets are
/// committed for the group.
///
/// Limits, chosen by the caller:
/// - `SOCKETS` connections (one to the coordinator, the rest to partition
///   leaders; with fewer than brokers + 1, connections are reopened as the
///   member moves between brokers);
/// - `PARTITIONS`: at least the topic's partition count (metadata of every
///   partition is kept; an assignment larger than this makes the member
///   leave the group);
/// - the group buffer holds the group requests: half for their fields, half
///   for the frame; a leader writes the whole group's assignment there
///   (1 KiB is plenty for a few members and partitions);
/// - the leader scratch: [`leader_scratch_len`](microkafka_core::group::leader_scratch_len)
///   `(MAX_GROUP_MEMBERS, 1, partitions)` words (empty if the member never
///   leads: it then rejoins until another member leads);
/// - [`MAX_GROUP_MEMBERS`] members in a group this member leads.
///
/// Records are committed at least once: a record's offset is staged when
/// the next record (or fetch, commit, close) is asked for, so what the
/// application was still processing is not committed.
pub struct GroupConsumer<
    'a,
    R,
    const SOCKETS: usize = 2,
    const PARTITIONS: usize = 16,
    const BROKERS: usize = 4,
> {
    cluster: Cluster<'a, R, SOCKETS, BROKERS, PARTITIONS>,
    member: Member<1, PARTITIONS>,
    config: GroupConsumerConfig<'a>,
    owned: heapless::Vec<Owned, PARTITIONS>,
    turn: usize,
    /// The partition the current fetch's records are from.
    reading: Option<i32>,
    records: Range<usize>,
    cursor: FetchCursor,
    progressed: bool,
    /// The next offset after the last record handed out, not staged yet.
    handed: Option<(i32, i64)>,
    scratch: &'a mut [u8],
    codecs: Codecs,
    group_buffer: &'a mut [u8],
    leader_scratch: &'a mut [u32],
    epoch: Instant,
    failures: u32,
    fatal: Option<Error>,
}

impl<'a, R: Resolve, const SOCKETS: usize, const PARTITIONS: usize, const BROKERS: usize>
    GroupConsumer<'a, R, SOCKETS, PARTITIONS, BROKERS>
{
    /// A member over `sockets` (unconnected, with their buffers), fetching
    /// into `fetch_buffer`, decompressing into `scratch`, encoding group
    /// requests in `group_buffer`, assigning (as leader) with
    /// `leader_scratch`. Nothing is sent until the first fetch.
    ///
    /// Errors: a fetch buffer too small, or the member's limits (group id,
    /// topic name, assignors).
    pub fn new<S: Into<BrokerSocket<'a>>>(
        sockets: [S; SOCKETS],
        resolver: R,
        fetch_buffer: &'a mut [u8],
        scratch: &'a mut [u8],
        group_buffer: &'a mut [u8],
        leader_scratch: &'a mut [u32],
        config: GroupConsumerConfig<'a>,
    ) -> Result<Self> {
        check_fetch_buffer(fetch_buffer.len())?;
        let topics = [config.topic];
        let member = Member::new(
            &MemberConfig {
                group_instance_id: config.group_instance_id,
                assignors: config.assignors,
                session_timeout: core_duration(config.session_timeout),
                rebalance_timeout: core_duration(config.rebalance_timeout),
                heartbeat_interval: core_duration(config.heartbeat_interval),
                commit_interval: core_duration(config.commit_interval),
                backoff: config.backoff,
                request_timeout: core_duration(config.request_timeout),
                ..MemberConfig::new(config.group_id, &topics)
            },
            core::time::Duration::ZERO,
        )?;
        let cluster = Cluster::new(
            sockets,
            resolver,
            MetadataCache::new(),
            fetch_buffer,
            ClusterConfig {
                brokers: config.brokers,
                topic: config.topic,
                client_id: config.client_id,
                connect_timeout: config.connect_timeout,
                request_timeout: config.request_timeout,
            },
        )?;
        Ok(GroupConsumer {
            cluster,
            member,
            config,
            owned: heapless::Vec::new(),
            turn: 0,
            reading: None,
            records: 0..0,
            cursor: FetchCursor::new(0),
            progressed: false,
            handed: None,
            scratch,
            codecs: Codecs::new(),
            group_buffer,
            leader_scratch,
            epoch: Instant::now(),
            failures: 0,
            fatal: None,
        })
    }

    /// Secures every broker connection with TLS and/or SASL (`tls`, `sasl`
    /// features): TCP, TLS handshake, ApiVersions, SASL, then requests.
    /// With TLS the sockets given must be `TlsSocket`s.
    ///
    /// Errors: TLS options with plain sockets, or TLS sockets without them.
    #[cfg(any(feature = "tls", feature = "sasl"))]
    pub fn with_security(mut self, security: crate::Security<'a>) -> Result<Self> {
        self.cluster.set_security(security)?;
        Ok(self)
    }

    /// The configuration.
    pub fn config(&self) -> &GroupConsumerConfig<'a> {
        &self.config
    }

    /// The partitions assigned to this member now.
    pub fn assignment(&self) -> impl Iterator<Item = i32> + '_ {
        self.owned.iter().map(|o| o.partition)
    }

    /// The group generation joined, if any.
    pub fn generation(&self) -> Option<i32> {
        self.member.generation()
    }

    /// True when this member computed the current generation's assignment.
    pub fn is_leader(&self) -> bool {
        self.member.is_leader()
    }

    /// The partition the records of the last fetch come from (all of them:
    /// a fetch reads one partition).
    pub fn partition(&self) -> Option<i32> {
        self.reading
    }

    /// The member's clock: time since it was made.
    fn now(&self) -> core::time::Duration {
        core_duration(self.epoch.elapsed())
    }

    /// Stages the offset after the last record handed out: the application
    /// asked for more, so it is done with it.
    fn stage_handed(&mut self) {
        if let Some((partition, next)) = self.handed.take() {
            self.member.stage(self.config.topic, partition, next);
        }
    }

    /// Applies the member's events to the partitions read.
    fn apply_events(&mut self) {
        while let Some(event) = self.member.poll_event() {
            match event {
                Event::Assigned {
                    partition,
                    committed,
                    ..
                } => {
                    let start = self.config.start;
                    let position =
                        committed.map_or(Position::new(start), |o| Position::at(o, start));
                    let _ = self.owned.push(Owned {
                        partition,
                        position,
                    });
                    debug!("microkafka: group assigned partition {:?}", partition);
                }
                Event::Revoked { partition, .. } | Event::Lost { partition, .. } => {
                    self.owned.retain(|o| o.partition != partition);
                    if self.reading == Some(partition) {
                        self.reading = None;
                        self.records = 0..0;
                    }
                    debug!("microkafka: group took partition {:?}", partition);
                }
                Event::Fatal { api, error } => {
                    self.fatal = Some(Error::new(ErrorKind::Kafka(error)).with_api(api));
                }
                _ => {}
            }
        }
    }

    /// Sends what the group needs now, one request at a time.
    async fn drive(&mut self) -> Result<()> {
        for _ in 0..MAX_EXCHANGES {
            self.apply_events();
            if let Some(e) = self.fatal {
                return Err(e);
            }
            let now = self.now();
            let timeouts = self.timeouts();
            let half = self.group_buffer.len() / 2;
            let (arena, frame) = self.group_buffer.split_at_mut(half);
            let Some(tx) = self.member.poll_transmit(now, arena)? else {
                return Ok(());
            };
            let join = exchange(
                &mut self.cluster,
                &mut self.member,
                &tx,
                frame,
                timeouts,
                self.epoch,
            )
            .await;
            if let Some((version, body)) = join {
                self.lead(version, body).await;
            }
        }
        self.apply_events();
        Ok(())
    }

    fn timeouts(&self) -> (Duration, Duration) {
        (
            self.config.request_timeout,
            self.config.request_timeout + self.config.rebalance_timeout,
        )
    }

    /// The leader's assignment, from the JoinGroup answer still in the
    /// response buffer; on any trouble the group re-forms.
    async fn lead(&mut self, version: i16, body: Range<usize>) {
        let now = self.now();
        let timeouts = self.timeouts();
        let partitions = self.cluster.metadata.partitions().len();
        let half = self.group_buffer.len() / 2;
        let (arena, frame) = self.group_buffer.split_at_mut(half);
        let assigned = {
            let received = Received {
                api: ApiKey::JoinGroup,
                version,
                correlation_id: 0,
                body: self.cluster.rx.get(body).unwrap_or_default(),
            };
            let mut members: heapless::Vec<GroupMember<'_>, MAX_GROUP_MEMBERS> =
                heapless::Vec::new();
            let mut fits = partitions > 0;
            let view = LeaderJoin::parse(&received);
            let protocol = view.as_ref().map_or("", LeaderJoin::protocol);
            if let Ok(view) = &view {
                for m in view.members().flatten() {
                    fits &= members.push(m).is_ok();
                }
            }
            let assignor = self
                .config
                .assignors
                .iter()
                .copied()
                .find(|a| a.name() == protocol);
            match (assignor, fits && view.is_ok()) {
                (Some(assignor), true) => {
                    // The member's only topic; topics only other members read are left out.
                    let topics = [TopicPartitions {
                        topic: self.config.topic,
                        partitions: partitions as i32,
                    }];
                    self.member
                        .assign(now, &members, &topics, assignor, self.leader_scratch, arena)
                        .ok()
                }
                _ => None,
            }
        };
        match assigned {
            Some(tx) => {
                exchange(
                    &mut self.cluster,
                    &mut self.member,
                    &tx,
                    frame,
                    timeouts,
                    self.epoch,
                )
                .await;
            }
            // Re-form the group: another member may lead it.
            None => self.member.rejoin(now),
        }
    }

    /// Takes part in the group, then fetches the next assigned partition
    /// (in turn) into the fetch buffer; read the records with
    /// [`next_record`](Self::next_record). With nothing assigned yet it
    /// waits up to `max_wait` and returns with no records.
    ///
    /// Retriable fetch errors (leader moved, connection lost...) are retried
    /// by the next call after a backoff; an offset out of range moves to
    /// `start`.
    ///
    /// Errors: the group refused the member for good (fenced, not
    /// authorized...), or a fetch error that retrying cannot fix.
    pub async fn fetch(&mut self) -> Result<()> {
        self.stage_handed();
        self.records = 0..0;
        self.reading = None;
        if !self.cluster.metadata.is_known() {
            // The leader needs partition counts, and fetches need leaders.
            if let Err(e) = self.cluster.refresh_metadata().await {
                self.back_off().await;
                return Err(e);
            }
        }
        self.drive().await?;
        if self.owned.is_empty() {
            let now = self.now();
            let wait = self
                .member
                .poll_timeout()
                .map_or(self.config.max_wait, |at| {
                    Duration::from_micros(at.saturating_sub(now).as_micros() as u64)
                })
                .min(self.config.max_wait);
            Timer::after(wait).await;
            return self.drive().await;
        }
        let i = self.turn % self.owned.len();
        self.turn = self.turn.wrapping_add(1);
        let partition = self.owned[i].partition;
        let fetched = self.fetch_one(i, partition).await;
        if let Err(e) = fetched {
            match fetch_failed(&mut self.owned[i].position, &e) {
                FetchErrorAction::Fail => return Err(e.with_partition(partition)),
                // The position moved to its reset lookup: the next turn reads from there.
                FetchErrorAction::ResetOffset => {}
                FetchErrorAction::RefreshMetadata => {
                    self.cluster.metadata.invalidate();
                    self.back_off().await;
                }
                _ => self.back_off().await,
            }
            debug!("microkafka: group fetch failed: {:?}", e);
        }
        self.drive().await
    }

    async fn back_off(&mut self) {
        self.failures = self.failures.saturating_add(1);
        let delay = self.config.backoff.delay(self.failures);
        Timer::after(Duration::from_micros(delay.as_micros() as u64)).await;
    }

    async fn fetch_one(&mut self, i: usize, partition: i32) -> Result<()> {
        let wait = FetchWait {
            max_wait: self.config.max_wait,
            min_bytes: self.config.min_bytes,
        };
        let position = &mut self.owned[i].position;
        let fetched = fetch_partition(&mut self.cluster, partition, position, wait).await?;
        self.failures = 0;
        self.records = fetched.records;
        self.reading = Some(partition);
        self.cursor = FetchCursor::new(fetched.offset);
        self.progressed = false;
        Ok(())
    }

    /// The next record of the last fetch, or `None` when it is exhausted
    /// (fetch again); [`partition`](Self::partition) says where it is from.
    /// Its key and value borrow the consumer's buffers.
    ///
    /// Errors: as [`Consumer::next_record`](crate::Consumer::next_record).
    pub fn next_record(&mut self) -> Option<Result<ConsumedRecord<'_>>> {
        self.stage_handed();
        let partition = self.reading?;
        let records = self.cluster.rx.get(self.records.clone())?;
        let next = next_fetched(
            &mut self.cursor,
            records,
            &mut self.codecs,
            self.scratch,
            &mut self.progressed,
            partition,
        );
        let position = self.cursor.next_offset();
        if let Some(o) = self.owned.iter_mut().find(|o| o.partition == partition) {
            o.position.advance(position);
        }
        if matches!(next, Some(Ok(_))) {
            self.handed = Some((partition, position));
        } else {
            self.records = 0..0;
        }
        next
    }

    /// Commits the offsets of the records handed out, and waits until the
    /// broker has them (retrying retriable errors for `request_timeout`).
    pub async fn commit(&mut self) -> Result<()> {
        self.stage_handed();
        let now = self.now();
        self.member.commit(now);
        let deadline = Instant::now() + self.config.request_timeout;
        loop {
            self.drive().await?;
            if !self.member.has_uncommitted() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::new(ErrorKind::Timeout).with_api(ApiKey::OffsetCommit));
            }
            Timer::after(Duration::from_millis(10)).await;
        }
    }

    /// Commits what was handed out, leaves the group (a static member does
    /// not: its partitions wait for it) and closes the connections.
    pub async fn close(&mut self) -> Result<()> {
        self.stage_handed();
        let now = self.now();
        self.member.leave(now);
        let deadline = Instant::now() + self.config.request_timeout;
        let mut result = Ok(());
        while !self.member.is_closed() && Instant::now() < deadline {
            if let Err(e) = self.drive().await {
                result = Err(e);
                break;
            }
            if !self.member.is_closed() {
                Timer::after(Duration::from_millis(10)).await;
            }
        }
        self.apply_events();
        self.cluster.close().await;
        result
    }
}

/// Sends one group request and gives the member its answer (or the
/// failure). Returns where the JoinGroup answer lies in the response buffer
/// when the member must now assign as leader.
async fn exchange<
    R: Resolve,
    const SOCKETS: usize,
    const BROKERS: usize,
    const PARTITIONS: usize,
>(
    cluster: &mut Cluster<'_, R, SOCKETS, BROKERS, PARTITIONS>,
    member: &mut Member<1, PARTITIONS>,
    tx: &Transmit<'_>,
    frame: &mut [u8],
    (request_timeout, rebalance_timeout): (Duration, Duration),
    epoch: Instant,
) -> Option<(i16, Range<usize>)> {
    let now = || core_duration(epoch.elapsed());
    let conn = match tx.destination {
        Destination::AnyBroker => cluster.any_connection().await,
        Destination::Coordinator {
            node_id,
            host,
            port,
        } => {
            let port = u16::try_from(port).unwrap_or(0);
            cluster.connect_to(host, port, node_id).await
        }
    };
    let Ok(i) = conn else {
        member.handle_failure(now(), tx.id);
        return None;
    };
    let timeout = match tx.request.api() {
        ApiKey::JoinGroup | ApiKey::SyncGroup => rebalance_timeout,
        _ => request_timeout,
    };
    let base = cluster.rx.as_ptr() as usize;
    let answer = cluster.group_request(i, frame, &tx.request, timeout).await;
    match answer {
        Ok(received) => {
            if member.handle_response(now(), tx.id, &received).is_err() {
                debug!("microkafka: a group answer did not decode");
            }
            member.needs_assignment().then(|| {
                let start = (received.body.as_ptr() as usize).wrapping_sub(base);
                (received.version, start..start + received.body.len())
            })
        }
        Err(e) => {
            debug!("microkafka: group request failed: {:?}", e);
            member.handle_failure(now(), tx.id);
            None
        }
    }
}
