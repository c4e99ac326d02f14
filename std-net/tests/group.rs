//! Group Readers against the mock broker's coordinator: partitions shared
//! and moved, members leaving and crashing, cooperative rebalances that
//! never stop kept partitions, committed offsets surviving a restart, and
//! the coordinator moving or failing mid-run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use microkafka_core::protocol::ApiKey;
use microkafka_core::ErrorCode;
use microkafka_mock_broker::{Config, Fault, MockCluster};
use microkafka_std::{
    GroupBalancer, Message, Reader, ReaderConfig, RebalanceEvent, RebalanceListener, Writer,
    WriterConfig,
};
use tokio::task::JoinHandle;

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 12;

async fn cluster() -> Arc<MockCluster> {
    let c = MockCluster::start(Config {
        group_min_session_timeout: Duration::from_millis(100),
        ..Config::with_brokers(3)
    })
    .await
    .unwrap();
    c.create_topic(TOPIC, PARTITIONS).unwrap();
    Arc::new(c)
}

fn value(i: usize) -> String {
    format!("m{i:06}")
}

/// Writes messages `from..to` (values `m000123`...), spread over every partition.
async fn produce(c: &MockCluster, from: usize, to: usize) {
    let writer = Writer::new(WriterConfig {
        batch_timeout: Duration::from_millis(1),
        ..WriterConfig::new(&[&c.bootstrap_servers()], TOPIC)
    })
    .unwrap();
    let values: Vec<String> = (from..to).map(value).collect();
    let messages: Vec<Message<'_>> = values.iter().map(|v| Message::new(v.as_bytes())).collect();
    for chunk in messages.chunks(500) {
        writer.write_messages(chunk).await.unwrap();
    }
    writer.close().await.unwrap();
}

fn group_config(c: &MockCluster, group: &str) -> ReaderConfig {
    ReaderConfig {
        heartbeat_interval: Duration::from_millis(100),
        session_timeout: Duration::from_millis(1_500),
        rebalance_timeout: Duration::from_millis(3_000),
        join_group_backoff: Duration::from_millis(200),
        max_wait: Duration::from_millis(100),
        ..ReaderConfig::group(&[&c.bootstrap_servers()], group, &[TOPIC])
    }
}

/// One consumed message: who, where, what, when.
#[derive(Clone, Debug)]
struct Got {
    member: usize,
    partition: i32,
    offset: i64,
    value: String,
    at: Instant,
}

/// What every member task reports.
#[derive(Default)]
struct Log {
    got: Vec<Got>,
    assignment: HashMap<usize, BTreeSet<i32>>,
    events: Vec<(usize, Instant, String)>,
}

type Shared = Arc<Mutex<Log>>;

/// A member reading in a task until stopped; `close` leaves the group,
/// dropping it is a crash (no LeaveGroup, nothing more committed).
struct Consumer {
    task: JoinHandle<Reader>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Consumer {
    fn start(id: usize, config: ReaderConfig, log: &Shared) -> Consumer {
        Consumer::paced(id, config, log, Duration::ZERO)
    }

    /// A member taking `pace` to process each message.
    fn paced(id: usize, mut config: ReaderConfig, log: &Shared, pace: Duration) -> Consumer {
        let events = log.clone();
        config.on_rebalance = Some(RebalanceListener::new(move |e| {
            let text = match e {
                RebalanceEvent::Assigned { partition, .. } => format!("assigned {partition}"),
                RebalanceEvent::Revoked { partition, .. } => format!("revoked {partition}"),
                RebalanceEvent::Lost { partition, .. } => format!("lost {partition}"),
                RebalanceEvent::Joined { generation, .. } => format!("joined {generation}"),
            };
            events
                .lock()
                .unwrap()
                .events
                .push((id, Instant::now(), text));
        }));
        let mut reader = Reader::new(config).unwrap();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let log = log.clone();
        let task = tokio::spawn(async move {
            loop {
                // Stopped between messages: a "crash" never interrupts a read
                // (read_message is cancel-safe, but a process that dies after
                // a synchronous commit went out loses that message, as with
                // kafka-go's ReadMessage).
                if *stopped.borrow() {
                    return reader;
                }
                let read =
                    tokio::time::timeout(Duration::from_millis(100), reader.read_message()).await;
                if !pace.is_zero() {
                    tokio::time::sleep(pace).await;
                }
                let mut log_now = log.lock().unwrap();
                match read {
                    Ok(Ok(m)) => log_now.got.push(Got {
                        member: id,
                        partition: m.partition,
                        offset: m.offset,
                        value: String::from_utf8_lossy(m.value.unwrap_or_default()).into_owned(),
                        at: Instant::now(),
                    }),
                    Ok(Err(e)) => eprintln!("member {id}: {e}"),
                    Err(_) => {}
                }
                let assignment = reader.assignment().into_iter().map(|(_, p)| p).collect();
                log_now.assignment.insert(id, assignment);
            }
        });
        Consumer { task, stop }
    }

    async fn reader(self) -> Reader {
        let _ = self.stop.send(true);
        self.task.await.unwrap()
    }

    /// Leaves the group cleanly.
    async fn close(self) {
        self.reader().await.close().await.unwrap();
    }

    /// Stops without leaving or committing (a crash).
    async fn crash(self) {
        drop(self.reader().await);
    }
}

/// Waits until each of the members `ids` holds a share, the shares are
/// disjoint and cover every partition, and that lasts 300 ms.
async fn settled(log: &Shared, ids: &[usize]) -> BTreeMap<usize, BTreeSet<i32>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut since: Option<(Instant, BTreeMap<usize, BTreeSet<i32>>)> = None;
    loop {
        {
            let log = log.lock().unwrap();
            let shares: BTreeMap<usize, BTreeSet<i32>> = ids
                .iter()
                .map(|i| (*i, log.assignment.get(i).cloned().unwrap_or_default()))
                .collect();
            let total: usize = shares.values().map(BTreeSet::len).sum();
            let union: BTreeSet<i32> = shares.values().flatten().copied().collect();
            let full = total == PARTITIONS as usize
                && union.len() == total
                && shares.values().all(|s| !s.is_empty());
            match &since {
                Some((at, seen)) if full && *seen == shares => {
                    if at.elapsed() >= Duration::from_millis(300) {
                        return shares;
                    }
                }
                _ => since = full.then(|| (Instant::now(), shares.clone())),
            }
            assert!(Instant::now() < deadline, "never settled: {shares:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every value `from..to` was consumed at least once.
async fn consumed(log: &Shared, from: usize, to: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        {
            let log = log.lock().unwrap();
            let seen: BTreeSet<&str> = log.got.iter().map(|g| g.value.as_str()).collect();
            let missing: Vec<String> = (from..to)
                .map(value)
                .filter(|v| !seen.contains(v.as_str()))
                .collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {} never consumed, e.g. {:?}",
                missing.len(),
                to - from,
                &missing[..missing.len().min(5)]
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sizes(shares: &BTreeMap<usize, BTreeSet<i32>>) -> Vec<usize> {
    let mut s: Vec<usize> = shares.values().map(BTreeSet::len).collect();
    s.sort();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_share_then_one_leaves_then_one_crashes() {
    let c = cluster().await;
    let log = Shared::default();
    let config = ReaderConfig {
        commit_interval: Duration::from_millis(100),
        ..group_config(&c, "share")
    };
    let mut members: Vec<Option<Consumer>> = (0..3)
        .map(|i| Some(Consumer::start(i, config.clone(), &log)))
        .collect();
    let shares = settled(&log, &[0, 1, 2]).await;
    assert_eq!(sizes(&shares), [4, 4, 4], "{shares:?}");
    produce(&c, 0, 1_200).await;
    consumed(&log, 0, 1_200).await;

    // Member 2 leaves: the other two take its partitions.
    members[2].take().unwrap().close().await;
    let shares = settled(&log, &[0, 1]).await;
    assert_eq!(sizes(&shares), [6, 6], "{shares:?}");
    produce(&c, 1_200, 2_400).await;
    consumed(&log, 1_200, 2_400).await;

    // Member 1 crashes: evicted once its session times out.
    let crashed = Instant::now();
    members[1].take().unwrap().crash().await;
    let shares = settled(&log, &[0]).await;
    let waited = crashed.elapsed();
    assert_eq!(sizes(&shares), [12]);
    assert!(
        waited >= Duration::from_millis(1_300),
        "moved before the session timeout: {waited:?}"
    );
    produce(&c, 2_400, 3_600).await;
    consumed(&log, 2_400, 3_600).await;
    members[0].take().unwrap().close().await;

    // Every message was read by the member its partition was assigned to.
    let log = log.lock().unwrap();
    let per_message: HashMap<&str, BTreeSet<usize>> =
        log.got.iter().fold(HashMap::new(), |mut m, g| {
            m.entry(g.value.as_str()).or_default().insert(g.member);
            m
        });
    assert_eq!(per_message.len(), 3_600);
}

/// KIP-429: when a third member joins, the two members that keep partitions
/// never revoke them and keep reading them through the rebalance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_members_keep_reading_what_they_keep() {
    let c = cluster().await;
    let log = Shared::default();
    let config = ReaderConfig {
        group_balancers: vec![GroupBalancer::CooperativeSticky],
        commit_interval: Duration::from_millis(100),
        heartbeat_interval: Duration::from_millis(300),
        ..group_config(&c, "coop")
    };
    let first = Consumer::start(0, config.clone(), &log);
    let second = Consumer::start(1, config.clone(), &log);
    let before = settled(&log, &[0, 1]).await;
    assert_eq!(sizes(&before), [6, 6]);

    // A steady stream of messages on every partition during the rebalance.
    let producing = {
        let c = c.clone();
        tokio::spawn(async move {
            for round in 0..60 {
                produce(&c, round * 48, (round + 1) * 48).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let joined_at = Instant::now();
    let third = Consumer::start(2, config.clone(), &log);
    let after = settled(&log, &[0, 1, 2]).await;
    let settled_at = Instant::now();
    assert_eq!(sizes(&after), [4, 4, 4], "{after:?}");
    producing.await.unwrap();
    consumed(&log, 0, 60 * 48).await;

    {
        let log_now = log.lock().unwrap();
        for m in 0..2 {
            let kept: BTreeSet<i32> = before[&m].intersection(&after[&m]).copied().collect();
            assert!(!kept.is_empty());
            let revoked: BTreeSet<i32> = log_now
                .events
                .iter()
                .filter(|(who, at, _)| *who == m && *at >= joined_at)
                .filter_map(|(_, _, e)| e.strip_prefix("revoked ")?.parse().ok())
                .collect();
            assert!(
                revoked.is_disjoint(&kept),
                "member {m} revoked {revoked:?} but kept {kept:?}"
            );
            let moved: BTreeSet<i32> = before[&m].difference(&after[&m]).copied().collect();
            assert_eq!(revoked, moved, "member {m} revoked exactly what moved");
            // Progress during the rebalance on every kept partition.
            for p in &kept {
                let read = log_now
                    .got
                    .iter()
                    .filter(|g| g.member == m && g.partition == *p)
                    .filter(|g| g.at >= joined_at && g.at <= settled_at)
                    .count();
                assert!(
                    read > 0,
                    "member {m} read nothing of kept partition {p} during the rebalance ({:?})",
                    settled_at - joined_at
                );
            }
        }
    }
    for m in [first, second, third] {
        m.close().await;
    }
}

/// Offsets committed by a group survive a full restart of the group: no
/// message is lost; after a crash the duplicates are exactly the messages
/// read but not yet committed, and after a clean close there are none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_a_full_group_restart() {
    let c = cluster().await;
    const TOTAL: usize = 6_000;
    produce(&c, 0, TOTAL).await;
    let log = Shared::default();
    let config = ReaderConfig {
        commit_interval: Duration::from_millis(200),
        ..group_config(&c, "restart")
    };

    // Round 1: three members read part of the log, slowly, then all crash.
    let round1: Vec<Consumer> = (0..3)
        .map(|i| Consumer::paced(i, config.clone(), &log, Duration::from_millis(1)))
        .collect();
    // Until some of what was read is committed.
    loop {
        let n = log.lock().unwrap().got.len();
        let committed: i64 = (0..PARTITIONS)
            .map(|p| c.committed_offset("restart", TOPIC, p).unwrap_or(0))
            .sum();
        if n >= TOTAL / 3 && committed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for m in round1 {
        m.crash().await;
    }
    // A periodic commit sent just before the crash may still be on its way
    // to the broker (it is applied, or dropped with the connection): wait
    // until the committed offsets stop moving before measuring the window,
    // or a commit landing after the measure counts as uncommitted.
    let committed = || -> Vec<Option<i64>> {
        (0..PARTITIONS)
            .map(|p| c.committed_offset("restart", TOPIC, p))
            .collect()
    };
    let mut last = committed();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = committed();
        if now == last {
            break;
        }
        last = now;
    }
    // What was read beyond the committed offsets is the uncommitted window.
    let read1: Vec<Got> = log.lock().unwrap().got.clone();
    let mut window = 0i64;
    for p in 0..PARTITIONS {
        let read_to = read1
            .iter()
            .filter(|g| g.partition == p)
            .map(|g| g.offset + 1)
            .max()
            .unwrap_or(0);
        let committed = c.committed_offset("restart", TOPIC, p).unwrap_or(0);
        assert!(
            committed <= read_to,
            "partition {p}: committed past what was read"
        );
        window += read_to - committed;
    }

    // Round 2: a new group incarnation resumes and reads everything; then closes cleanly.
    let round2: Vec<Consumer> = (3..6)
        .map(|i| Consumer::start(i, config.clone(), &log))
        .collect();
    consumed(&log, 0, TOTAL).await;
    for m in round2 {
        m.close().await;
    }
    let got = log.lock().unwrap().got.clone();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for g in &got {
        *count.entry(g.value.as_str()).or_default() += 1;
    }
    let duplicates: usize = count.values().map(|n| n - 1).sum();
    assert_eq!(count.len(), TOTAL, "no message lost");
    println!(
        "restart after a crash: read {} before, uncommitted window {window}, duplicates {duplicates}",
        read1.len()
    );
    assert_eq!(
        duplicates as i64, window,
        "duplicates are exactly the uncommitted window"
    );
    assert!(window < read1.len() as i64);

    // Round 3: after the clean close, a restart reads nothing twice.
    produce(&c, TOTAL, TOTAL + 1_200).await;
    let before = got.len();
    let round3 = Consumer::start(6, config.clone(), &log);
    consumed(&log, TOTAL, TOTAL + 1_200).await;
    round3.close().await;
    let log = log.lock().unwrap();
    let again: usize = log.got[before..]
        .iter()
        .filter(|g| count.contains_key(g.value.as_str()))
        .count();
    println!("restart after a clean close: duplicates {again}");
    assert_eq!(again, 0, "a clean close commits everything read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synchronous_commits_lose_and_repeat_nothing() {
    let c = cluster().await;
    produce(&c, 0, 600).await;
    let log = Shared::default();
    // commit_interval zero: read_message commits before it returns.
    let config = group_config(&c, "sync");
    let first = Consumer::start(0, config.clone(), &log);
    loop {
        if log.lock().unwrap().got.len() >= 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.crash().await;
    let second = Consumer::start(1, config.clone(), &log);
    consumed(&log, 0, 600).await;
    second.close().await;
    let log = log.lock().unwrap();
    let mut seen = BTreeSet::new();
    let duplicates = log.got.iter().filter(|g| !seen.insert(&g.value)).count();
    assert_eq!(seen.len(), 600);
    assert_eq!(duplicates, 0, "every message returned was committed");
}

/// The coordinator moves and fails mid-run: the group carries on and no
/// message is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_survives_coordinator_moves_and_errors() {
    let c = cluster().await;
    let log = Shared::default();
    let config = ReaderConfig {
        commit_interval: Duration::from_millis(50),
        ..group_config(&c, "moving")
    };
    let members: Vec<Consumer> = (0..2)
        .map(|i| Consumer::start(i, config.clone(), &log))
        .collect();
    settled(&log, &[0, 1]).await;
    produce(&c, 0, 600).await;
    consumed(&log, 0, 600).await;

    // The coordinator moves to another broker.
    let old = c.with_cluster(|k| k.coordinator("moving")).unwrap();
    let new = if old == 1 { 2 } else { 1 };
    c.take_requests();
    c.move_coordinator("moving", new).unwrap();
    produce(&c, 600, 1_200).await;
    consumed(&log, 600, 1_200).await;
    settled(&log, &[0, 1]).await;
    let count = |records: &[microkafka_mock_broker::RequestRecord], api: ApiKey, broker: i32| {
        records
            .iter()
            .filter(|r| r.api() == Some(api) && (broker < 0 || r.broker == broker))
            .count()
    };
    let moved = c.take_requests();
    assert!(
        count(&moved, ApiKey::FindCoordinator, -1) >= 2,
        "both members looked the coordinator up again"
    );
    assert!(
        count(&moved, ApiKey::Heartbeat, new) > 0,
        "and heartbeat there"
    );

    // Coordinator errors on heartbeats, commits, joins and syncs.
    c.inject(Fault::errors(
        ApiKey::Heartbeat,
        [
            ErrorCode::NOT_COORDINATOR,
            ErrorCode::COORDINATOR_NOT_AVAILABLE,
            ErrorCode::REBALANCE_IN_PROGRESS,
        ],
    ));
    c.inject(Fault::errors(
        ApiKey::OffsetCommit,
        [
            ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
            ErrorCode::NOT_COORDINATOR,
        ],
    ));
    c.inject(Fault::errors(
        ApiKey::JoinGroup,
        [ErrorCode::COORDINATOR_LOAD_IN_PROGRESS],
    ));
    c.inject(Fault::errors(
        ApiKey::SyncGroup,
        [ErrorCode::NOT_COORDINATOR],
    ));
    produce(&c, 1_200, 1_800).await;
    consumed(&log, 1_200, 1_800).await;
    settled(&log, &[0, 1]).await;
    let faulted = c.take_requests();
    assert!(
        count(&faulted, ApiKey::JoinGroup, -1) >= 3,
        "rejoined through the errors"
    );
    assert!(count(&faulted, ApiKey::SyncGroup, -1) >= 2);
    assert!(count(&faulted, ApiKey::OffsetCommit, -1) >= 3);

    // Connections to the coordinator drop.
    let at = c.with_cluster(|k| k.coordinator("moving")).unwrap();
    c.drop_connections(at);
    produce(&c, 1_800, 2_400).await;
    consumed(&log, 1_800, 2_400).await;
    let shares = settled(&log, &[0, 1]).await;
    assert_eq!(sizes(&shares), [6, 6]);
    for m in members {
        m.close().await;
    }
    // Committed offsets reached the end of every partition.
    for p in 0..PARTITIONS {
        let (_, end) = c.offsets(TOPIC, p).unwrap();
        assert_eq!(
            c.committed_offset("moving", TOPIC, p),
            Some(end),
            "partition {p}"
        );
    }
}

/// Static membership (KIP-345): a static member that restarts within its
/// session timeout gets its partitions back, and the group never rebalances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_restarting_within_its_session_keeps_its_partitions() {
    let c = cluster().await;
    let log = Shared::default();
    let config = |instance: &str| ReaderConfig {
        group_instance_id: Some(instance.to_owned()),
        session_timeout: Duration::from_secs(5),
        commit_interval: Duration::from_millis(100),
        ..group_config(&c, "static")
    };
    let a = Consumer::start(0, config("box-a"), &log);
    let b = Consumer::start(1, config("box-b"), &log);
    let before = settled(&log, &[0, 1]).await;
    let group = || c.with_cluster(|k| k.group("static")).unwrap();
    let (_, generation, _) = group();

    // b closes: a static member does not leave, the group does not move.
    b.close().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (state, still, members) = group();
    assert_eq!(
        (state.as_str(), still, members.len()),
        ("Stable", generation, 2)
    );

    // b comes back as the same instance: same partitions, same generation.
    let b = Consumer::start(2, config("box-b"), &log);
    let after = settled(&log, &[0, 2]).await;
    assert_eq!(after[&0], before[&0]);
    assert_eq!(after[&2], before[&1]);
    assert_eq!(group().1, generation, "no rebalance");
    produce(&c, 0, 600).await;
    consumed(&log, 0, 600).await;
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_configuration_is_checked() {
    let c = cluster().await;
    let brokers = c.bootstrap_servers();
    let bad = [
        ReaderConfig {
            partition: 3,
            ..ReaderConfig::group(&[&brokers], "g", &[TOPIC])
        },
        ReaderConfig::group(&[&brokers], "", &[TOPIC]),
        ReaderConfig {
            group_topics: vec![TOPIC.into()],
            ..ReaderConfig::new(&[&brokers], TOPIC, 0)
        },
    ];
    for config in bad {
        assert!(Reader::new(config.clone()).is_err(), "{config:?}");
    }
    // A group refusing the member for good is an error, then the end.
    let mut refused = Reader::new(ReaderConfig {
        session_timeout: Duration::from_millis(50), // below the broker's minimum
        ..ReaderConfig::group(&[&brokers], "refused", &[TOPIC])
    })
    .unwrap();
    let e = tokio::time::timeout(Duration::from_secs(10), refused.fetch_message())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::INVALID_SESSION_TIMEOUT), "{e}");
    assert!(
        refused.fetch_message().await.is_err(),
        "no new member rejoins"
    );
    assert!(refused.close().await.is_ok());

    // Without a group there is nothing to commit.
    let mut plain = Reader::new(ReaderConfig::new(&[&brokers], TOPIC, 0)).unwrap();
    assert!(plain.commit_offsets(&[(TOPIC, 0, 1)]).await.is_err());
}
