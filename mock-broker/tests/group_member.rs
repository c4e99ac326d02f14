//! microkafka-core's group [`Member`] against the mock's group coordinator,
//! both sans-IO: frames handed across in memory, time passed in. Several
//! members join, leave, crash and rebalance cooperatively, deterministically.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use microkafka_core::client::Connection;
use microkafka_core::group::{
    Assignor, CooperativeSticky, Destination, Event, GroupMember, LeaderJoin, Member, MemberConfig,
    Range, RequestId, TopicPartitions, Transmit,
};
use microkafka_core::protocol::ApiKey;
use microkafka_mock_broker::{Cluster, Config, Outcome, Session};

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 12;
const STEP: Duration = Duration::from_millis(50);

struct Link {
    session: Session,
    conn: Connection<8>,
}

struct Client {
    member: Member<2, 64>,
    /// `(node, lane)` → connection; lane 1 carries offsets, lane 0 the rest.
    links: HashMap<(i32, u8), Link>,
    /// Deferred answers: `(conn id, seq)` → the request and its link.
    pending: HashMap<(u64, u64), (RequestId, (i32, u8))>,
    owned: BTreeSet<i32>,
    revoked: Vec<i32>,
    lost: Vec<i32>,
    alive: bool,
}

struct World {
    cluster: Cluster,
    base: Instant,
    now: Duration,
    clients: Vec<Client>,
    assignors: &'static [&'static dyn Assignor],
}

fn cluster() -> Cluster {
    let mut c = Cluster::new(Config {
        seed: Some(7),
        group_min_session_timeout: Duration::from_millis(100),
        ..Config::with_brokers(3)
    });
    c.create_topic(TOPIC, PARTITIONS).unwrap();
    c
}

impl World {
    fn new(assignors: &'static [&'static dyn Assignor]) -> World {
        World {
            cluster: cluster(),
            base: Instant::now(),
            now: Duration::ZERO,
            clients: Vec::new(),
            assignors,
        }
    }

    fn add(&mut self) -> usize {
        let config = MemberConfig {
            assignors: self.assignors,
            session_timeout: Duration::from_millis(1_000),
            rebalance_timeout: Duration::from_millis(2_000),
            heartbeat_interval: Duration::from_millis(100),
            ..MemberConfig::new("g", &[TOPIC])
        };
        self.clients.push(Client {
            member: Member::new(&config, self.now).unwrap(),
            links: HashMap::new(),
            pending: HashMap::new(),
            owned: BTreeSet::new(),
            revoked: Vec::new(),
            lost: Vec::new(),
            alive: true,
        });
        self.clients.len() - 1
    }

    fn instant(&self) -> Instant {
        self.base + self.now
    }

    /// Opens (and negotiates) a connection for client `i` to `node`.
    fn link(&mut self, i: usize, key: (i32, u8)) {
        if self.clients[i].links.contains_key(&key) {
            return;
        }
        let mut session = self.cluster.open_session(key.0, None);
        let mut conn = Connection::new(Some("core-member")).unwrap();
        let mut buf = vec![0u8; 1024];
        let sent = conn.start(&mut buf).unwrap();
        let handled = self
            .cluster
            .handle(&mut session, &buf[4..sent.len], self.instant());
        let Outcome::Respond(frame) = handled.outcome else {
            panic!("ApiVersions was not answered");
        };
        conn.receive(&frame[4..]).unwrap();
        assert!(conn.is_ready());
        self.clients[i].links.insert(key, Link { session, conn });
    }

    /// Sends `tx` for client `i`; answers at once or parks it.
    fn send(&mut self, i: usize, tx: &Transmit<'_>) {
        let node = match tx.destination {
            Destination::AnyBroker => 1,
            Destination::Coordinator { node_id, .. } => node_id,
        };
        let lane = u8::from(matches!(
            tx.request.api(),
            ApiKey::OffsetCommit | ApiKey::OffsetFetch
        ));
        let key = (node, lane);
        self.link(i, key);
        let now = self.instant();
        let link = self.clients[i].links.get_mut(&key).unwrap();
        let mut out = vec![0u8; 64 * 1024];
        let sent = tx.request.encode(&mut link.conn, &mut out).unwrap();
        let handled = self
            .cluster
            .handle(&mut link.session, &out[4..sent.len], now);
        let conn_id = link.session.id();
        match handled.outcome {
            Outcome::Respond(frame) => self.deliver(i, tx.id, key, &frame),
            Outcome::Later => {
                self.clients[i]
                    .pending
                    .insert((conn_id, handled.seq), (tx.id, key));
            }
            Outcome::Nothing => {}
            Outcome::Close(_) => {
                self.clients[i].links.remove(&key);
                let now = self.now;
                self.clients[i].member.handle_failure(now, tx.id);
            }
        }
    }

    /// Gives client `i` the answer to `id`; a leader assigns at once.
    fn deliver(&mut self, i: usize, id: RequestId, key: (i32, u8), frame: &[u8]) {
        let now = self.now;
        let partitions = self.cluster.partition_count(TOPIC).unwrap() as i32;
        let client = &mut self.clients[i];
        let Some(link) = client.links.get_mut(&key) else {
            return;
        };
        let received = link.conn.receive(&frame[4..]).unwrap();
        client.member.handle_response(now, id, &received).unwrap();
        if !client.member.needs_assignment() {
            return;
        }
        let view = LeaderJoin::parse(&received).unwrap();
        let members: Vec<GroupMember<'_>> = view.members().map(Result::unwrap).collect();
        let topics = [TopicPartitions {
            topic: TOPIC,
            partitions,
        }];
        let assignor = *self
            .assignors
            .iter()
            .find(|a| a.name() == view.protocol())
            .unwrap();
        let mut scratch =
            vec![0u32; microkafka_core::group::leader_scratch_len(members.len(), 1, 12)];
        let mut buf = vec![0u8; 64 * 1024];
        let tx = client
            .member
            .assign(now, &members, &topics, assignor, &mut scratch, &mut buf)
            .unwrap();
        self.send(i, &tx);
    }

    /// Drives every live client until nothing more is due now.
    fn drive(&mut self) {
        for _ in 0..100 {
            let mut busy = false;
            for i in 0..self.clients.len() {
                if !self.clients[i].alive {
                    continue;
                }
                self.drain_events(i);
                let mut buf = vec![0u8; self.clients[i].member.transmit_buf_len()];
                let now = self.now;
                while let Some(tx) = self.clients[i].member.poll_transmit(now, &mut buf).unwrap() {
                    busy = true;
                    self.send(i, &tx);
                    self.drain_events(i);
                }
            }
            for c in self.cluster.take_completions() {
                busy = true;
                let found = self
                    .clients
                    .iter()
                    .position(|cl| cl.alive && cl.pending.contains_key(&(c.conn, c.seq)));
                if let Some(i) = found {
                    let (id, key) = self.clients[i].pending.remove(&(c.conn, c.seq)).unwrap();
                    self.deliver(i, id, key, &c.frame);
                }
            }
            if !busy {
                return;
            }
        }
        panic!("the clients never settled");
    }

    fn drain_events(&mut self, i: usize) {
        let c = &mut self.clients[i];
        while let Some(e) = c.member.poll_event() {
            match e {
                Event::Assigned { partition, .. } => {
                    assert!(c.owned.insert(partition), "assigned twice: {partition}");
                }
                Event::Revoked { partition, .. } => {
                    assert!(c.owned.remove(&partition));
                    c.revoked.push(partition);
                }
                Event::Lost { partition, .. } => {
                    assert!(c.owned.remove(&partition));
                    c.lost.push(partition);
                }
                Event::Fatal { api, error } => panic!("fatal {api:?} {error:?}"),
                _ => {}
            }
        }
    }

    /// Lets `d` pass in steps, driving everyone.
    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now += STEP;
            self.cluster.handle_timeout(self.instant());
            let now = self.now;
            for c in self.clients.iter_mut().filter(|c| c.alive) {
                c.member.handle_timeout(now);
            }
            self.drive();
        }
    }

    /// Runs until the live members are stable, own partitions that are
    /// disjoint and cover the topic; returns each live member's share.
    fn settle(&mut self) -> Vec<BTreeSet<i32>> {
        for _ in 0..200 {
            self.run(STEP);
            let live: Vec<&Client> = self.clients.iter().filter(|c| c.alive).collect();
            let stable = live.iter().all(|c| c.member.is_stable());
            let total: usize = live.iter().map(|c| c.owned.len()).sum();
            let union: BTreeSet<i32> = live.iter().flat_map(|c| c.owned.iter().copied()).collect();
            if stable && total == PARTITIONS as usize && union.len() == total {
                return live.iter().map(|c| c.owned.clone()).collect();
            }
        }
        let state: Vec<_> = self
            .clients
            .iter()
            .map(|c| (c.alive, c.member.is_stable(), c.owned.clone()))
            .collect();
        panic!("no settled assignment: {state:?}");
    }
}

fn sizes(shares: &[BTreeSet<i32>]) -> Vec<usize> {
    let mut s: Vec<usize> = shares.iter().map(BTreeSet::len).collect();
    s.sort();
    s
}

#[test]
fn three_members_share_twelve_partitions_then_one_leaves_and_one_crashes() {
    const RANGE: &[&dyn Assignor] = &[&Range];
    let mut w = World::new(RANGE);
    for _ in 0..3 {
        w.add();
    }
    let shares = w.settle();
    assert_eq!(sizes(&shares), [4, 4, 4]);

    // A member leaves: its partitions move to the others.
    let now = w.now;
    w.clients[2].member.leave(now);
    w.run(Duration::from_millis(200));
    assert!(w.clients[2].member.is_closed());
    assert!(w.clients[2].owned.is_empty());
    w.clients[2].alive = false;
    let shares = w.settle();
    assert_eq!(sizes(&shares), [6, 6]);

    // A member crashes (no LeaveGroup): evicted after its session timeout.
    w.clients[1].alive = false;
    let crashed_at = w.now;
    let shares = w.settle();
    assert_eq!(sizes(&shares), [12]);
    let waited = w.now - crashed_at;
    // Its last heartbeat went at most one interval before it stopped.
    assert!(
        waited >= Duration::from_millis(900),
        "evicted after the session timeout, not before ({waited:?})"
    );
    let (state, _, members) = w.cluster.group("g").unwrap();
    assert_eq!((state.as_str(), members.len()), ("Stable", 1));
}

#[test]
fn cooperative_members_keep_their_partitions_through_rebalances() {
    const STICKY: &[&dyn Assignor] = &[&CooperativeSticky];
    let mut w = World::new(STICKY);
    w.add();
    w.add();
    let before = w.settle();
    assert_eq!(sizes(&before), [6, 6]);
    let owned_before: Vec<BTreeSet<i32>> = w.clients.iter().map(|c| c.owned.clone()).collect();
    for c in &mut w.clients {
        c.revoked.clear();
    }

    w.add();
    let after = w.settle();
    assert_eq!(sizes(&after), [4, 4, 4]);
    let mut moved_total = 0;
    for (i, c) in w.clients.iter().enumerate().take(2) {
        // Only what moved was revoked; what stays was never given up.
        let moved: BTreeSet<i32> = owned_before[i].difference(&c.owned).copied().collect();
        let revoked: BTreeSet<i32> = c.revoked.iter().copied().collect();
        assert_eq!(revoked, moved, "member {i}");
        assert!(c.lost.is_empty());
        moved_total += moved.len();
    }
    // 6 + 6 -> 4 + 4 + 4 moves four partitions, no more.
    assert_eq!(moved_total, 4);
    assert!(w.clients[2].revoked.is_empty());
}
