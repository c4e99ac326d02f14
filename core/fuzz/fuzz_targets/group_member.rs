//! The consumer-group member (`core::group::Member`) driven by the input: a
//! script of steps (send, answer well-formed or with raw bytes, fail, pass
//! time, stage, commit, rejoin, leave, lead an assignment, poll events).
//! It must never panic, always fit its requests in `transmit_buf_len`
//! bytes, and only name its own topics.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use microkafka_core::client::Received;
use microkafka_core::group::{
    leader_scratch_len, Assignor, CooperativeSticky, Destination, Event, LeaderJoin, Member,
    MemberConfig, Range, RequestId, RoundRobin, TopicPartitions,
};
use microkafka_core::protocol::ApiKey;
use microkafka_core_fuzz::group::{answer, partitions_of, GROUP, TOPICS};
use microkafka_core_fuzz::Input;

const ASSIGNORS: [&[&dyn Assignor]; 4] = [
    &[&Range, &RoundRobin],
    &[&CooperativeSticky],
    &[&RoundRobin],
    &[&CooperativeSticky, &Range],
];

struct Sent {
    id: RequestId,
    api: ApiKey,
    asked: Vec<(String, i32, i64)>,
}

fn lead(
    m: &mut Member<2, 8>,
    input: &mut Input<'_>,
    now: Duration,
    join: &(i16, Vec<u8>),
) -> Option<Sent> {
    let received = Received {
        api: ApiKey::JoinGroup,
        version: join.0,
        correlation_id: 0,
        body: &join.1,
    };
    let leader = LeaderJoin::parse(&received).ok()?;
    let members: Vec<_> = leader.members().filter_map(Result::ok).collect();
    let mut names: Vec<&str> = leader.topics().collect();
    names.sort_unstable();
    names.dedup();
    let topics: Vec<_> = names
        .iter()
        .map(|&topic| TopicPartitions {
            topic,
            partitions: i32::from(input.u8() % 6),
        })
        .collect();
    let total = topics.iter().map(|t| t.partitions as usize).sum();
    let assignor = *ASSIGNORS
        .iter()
        .flat_map(|a| a.iter())
        .find(|a| a.name() == leader.protocol())?;
    let mut scratch = vec![0u32; leader_scratch_len(members.len(), topics.len(), total)];
    let mut buf = vec![0u8; 64 * 1024];
    let tx = m
        .assign(now, &members, &topics, assignor, &mut scratch, &mut buf)
        .ok()?;
    Some(Sent {
        id: tx.id,
        api: tx.request.api(),
        asked: Vec::new(),
    })
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let setup = input.u8();
    let config = MemberConfig {
        group_instance_id: (setup & 4 != 0).then_some("instance-1"),
        assignors: ASSIGNORS[usize::from(setup & 3)],
        commit_interval: Duration::from_millis(if setup & 8 != 0 { 1000 } else { 0 }),
        session_timeout: Duration::from_secs(10),
        rebalance_timeout: Duration::from_secs(20),
        ..MemberConfig::new(GROUP, &TOPICS)
    };
    let mut now = Duration::from_secs(1);
    let mut m: Member<2, 8> = Member::new(&config, now).expect("a valid config");
    let mut sent: Vec<Sent> = Vec::new();
    let mut join: Option<(i16, Vec<u8>)> = None;
    while !input.is_empty() {
        let op = input.u8();
        let pick = usize::from(op >> 4);
        match op % 11 {
            0 => {
                let mut buf = vec![0u8; m.transmit_buf_len()];
                let tx = m
                    .poll_transmit(now, &mut buf)
                    .expect("transmit_buf_len is enough");
                if let Some(tx) = tx {
                    let api = tx.request.api();
                    let any = matches!(tx.destination, Destination::AnyBroker);
                    assert_eq!(any, api == ApiKey::FindCoordinator);
                    sent.push(Sent {
                        id: tx.id,
                        api,
                        asked: partitions_of(&tx.request),
                    });
                }
            }
            1 | 2 if !sent.is_empty() => {
                let s = sent.remove(pick % sent.len());
                let (api, version, body) = if op % 11 == 1 {
                    let Some((version, body)) = answer(&mut input, s.api, &s.asked) else {
                        continue;
                    };
                    (s.api, version, body)
                } else {
                    let api = if input.u8() < 16 {
                        input.pick(&ApiKey::ALL)
                    } else {
                        s.api
                    };
                    (api, input.u8() as i16 % 12, input.long_bytes().to_vec())
                };
                let received = Received {
                    api,
                    version,
                    correlation_id: 0,
                    body: &body,
                };
                let _ = m.handle_response(now, s.id, &received);
                if api == ApiKey::JoinGroup {
                    join = Some((version, body));
                }
            }
            3 if !sent.is_empty() => m.handle_failure(now, sent.remove(pick % sent.len()).id),
            4 => {
                let step = u64::from(input.u8());
                now += Duration::from_millis(if op & 0x80 != 0 {
                    step * 1000
                } else {
                    step * 40
                });
                if let Some(at) = m.poll_timeout() {
                    assert!(
                        at <= now + Duration::from_secs(3600),
                        "a timer beyond every timeout"
                    );
                }
                m.handle_timeout(now);
            }
            5 => {
                let mut n = 0;
                while let Some(e) = m.poll_event() {
                    n += 1;
                    assert!(n <= 64, "events never run dry");
                    if let Event::Assigned { topic, .. }
                    | Event::Revoked { topic, .. }
                    | Event::Lost { topic, .. }
                    | Event::Committed { topic, .. } = e
                    {
                        assert!(TOPICS.contains(&topic), "{topic:?} is not subscribed");
                    }
                }
            }
            6 => {
                let topic = input.pick(&[TOPICS[0], TOPICS[1], "elsewhere"]);
                let _ = m.stage(topic, i32::from(input.u8() % 10), i64::from(input.u8()));
            }
            7 => m.commit(now),
            8 => m.rejoin(now),
            9 => m.leave(now),
            10 if m.needs_assignment() => {
                if let Some(s) = join.as_ref().and_then(|j| lead(&mut m, &mut input, now, j)) {
                    sent.push(s);
                }
            }
            _ => {}
        }
        assert!(m.assignment().count() <= 8);
    }
});
