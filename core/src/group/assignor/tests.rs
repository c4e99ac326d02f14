//! Assignor behaviour: the Java client's documented examples, and properties
//! every assignment must have (disjoint, subscribed-only, balanced, sticky).

extern crate std;

use std::collections::BTreeMap;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::protocol::messages::SubscriptionTopicPartition;
use crate::wire::Array;

type Assignment = BTreeMap<usize, Vec<(std::string::String, i32)>>;

fn run(
    assignor: &dyn Assignor,
    members: &[GroupMember<'_>],
    topics: &[TopicPartitions<'_>],
) -> (Assignment, usize) {
    let total: i32 = topics.iter().map(|t| t.partitions).sum();
    let mut scratch = std::vec![0u32; scratch_len(members.len(), topics.len(), total as usize)];
    let mut out = Assignment::new();
    let mut sink = |m: usize, t: &str, p: i32| {
        out.entry(m).or_default().push((t.into(), p));
        Ok(())
    };
    let held = assignor
        .assign(members, topics, &mut scratch, &mut sink)
        .unwrap();
    for v in out.values_mut() {
        v.sort();
    }
    (out, held)
}

fn leak<T>(v: Vec<T>) -> &'static [T] {
    v.leak()
}

fn member(id: &'static str, topics: &[&'static str]) -> GroupMember<'static> {
    GroupMember {
        member_id: id,
        group_instance_id: None,
        subscription: ConsumerProtocolSubscription {
            topics: Array::new(leak(topics.to_vec())),
            ..Default::default()
        },
    }
}

fn owning(
    mut m: GroupMember<'static>,
    generation: i32,
    owned: &Assignment,
    index: usize,
) -> GroupMember<'static> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in owned.get(&index).into_iter().flatten() {
        by_topic.entry(t.as_str()).or_default().push(*p);
    }
    let owned: Vec<SubscriptionTopicPartition<'static>> = by_topic
        .into_iter()
        .map(|(t, ps)| SubscriptionTopicPartition {
            topic: std::string::String::from(t).leak(),
            partitions: Array::new(leak(ps)),
        })
        .collect();
    m.subscription.owned_partitions = Array::new(leak(owned));
    m.subscription.generation_id = generation;
    m
}

fn tp(t: &str, p: i32) -> (std::string::String, i32) {
    (t.into(), p)
}

#[test]
fn range_matches_the_java_documentation() {
    // RangeAssignor javadoc: C0, C1 on t0, t1 with 3 partitions each.
    let members = [member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])];
    let topics = [
        TopicPartitions {
            topic: "t0",
            partitions: 3,
        },
        TopicPartitions {
            topic: "t1",
            partitions: 3,
        },
    ];
    let (a, held) = run(&Range, &members, &topics);
    assert_eq!(held, 0);
    assert_eq!(a[&0], [tp("t0", 0), tp("t0", 1), tp("t1", 0), tp("t1", 1)]);
    assert_eq!(a[&1], [tp("t0", 2), tp("t1", 2)]);
}

#[test]
fn roundrobin_matches_the_java_documentation() {
    // RoundRobinAssignor javadoc, identical subscriptions.
    let members = [member("C1", &["t0", "t1"]), member("C0", &["t0", "t1"])];
    let topics = [
        TopicPartitions {
            topic: "t0",
            partitions: 3,
        },
        TopicPartitions {
            topic: "t1",
            partitions: 3,
        },
    ];
    let (a, _) = run(&RoundRobin, &members, &topics);
    // Members are sorted by id: C0 (index 1) goes first.
    assert_eq!(a[&1], [tp("t0", 0), tp("t0", 2), tp("t1", 1)]);
    assert_eq!(a[&0], [tp("t0", 1), tp("t1", 0), tp("t1", 2)]);
    // ...and the javadoc's uneven subscriptions.
    let members = [
        member("C0", &["t0"]),
        member("C1", &["t0", "t1"]),
        member("C2", &["t0", "t1", "t2"]),
    ];
    let topics = [
        TopicPartitions {
            topic: "t0",
            partitions: 1,
        },
        TopicPartitions {
            topic: "t1",
            partitions: 2,
        },
        TopicPartitions {
            topic: "t2",
            partitions: 3,
        },
    ];
    let (a, _) = run(&RoundRobin, &members, &topics);
    assert_eq!(a[&0], [tp("t0", 0)]);
    assert_eq!(a[&1], [tp("t1", 0)]);
    assert_eq!(a[&2], [tp("t1", 1), tp("t2", 0), tp("t2", 1), tp("t2", 2)]);
}

#[test]
fn static_members_sort_first_by_instance_id() {
    let mut a = member("zzz", &["t"]);
    a.group_instance_id = Some("b");
    let mut b = member("aaa", &["t"]);
    b.group_instance_id = Some("a");
    let c = member("000", &["t"]);
    let topics = [TopicPartitions {
        topic: "t",
        partitions: 3,
    }];
    let (out, _) = run(&Range, &[a, b, c], &topics);
    assert_eq!(
        (out[&1].clone(), out[&0].clone(), out[&2].clone()),
        (
            std::vec![tp("t", 0)],
            std::vec![tp("t", 1)],
            std::vec![tp("t", 2)]
        )
    );
}

#[test]
fn inputs_are_checked() {
    let members = [member("a", &["t"])];
    let unsorted = [
        TopicPartitions {
            topic: "b",
            partitions: 1,
        },
        TopicPartitions {
            topic: "a",
            partitions: 1,
        },
    ];
    let mut scratch = [0u32; 64];
    let mut sink = |_: usize, _: &str, _: i32| Ok(());
    assert!(matches!(
        Range.assign(&members, &unsorted, &mut scratch, &mut sink),
        Err(Error::Malformed(_))
    ));
    let big = [TopicPartitions {
        topic: "t",
        partitions: 1000,
    }];
    assert!(matches!(
        CooperativeSticky.assign(&members, &big, &mut scratch, &mut sink),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn cooperative_sticky_twelve_partitions_three_members_then_one_leaves_then_one_joins() {
    let topics = [TopicPartitions {
        topic: "events",
        partitions: 12,
    }];
    let names = ["m0", "m1", "m2"];
    let fresh: Vec<_> = names.iter().map(|n| member(n, &["events"])).collect();
    let (first, held) = run(&CooperativeSticky, &fresh, &topics);
    assert_eq!(held, 0);
    assert!(first.values().all(|v| v.len() == 4), "{first:?}");

    // m2 leaves: m0 and m1 keep all they had and split m2's four.
    let survivors = [
        owning(member("m0", &["events"]), 1, &first, 0),
        owning(member("m1", &["events"]), 1, &first, 1),
    ];
    let (second, held) = run(&CooperativeSticky, &survivors, &topics);
    assert_eq!(held, 0, "nothing is taken from a live member");
    for m in 0..2 {
        assert!(
            first[&m].iter().all(|p| second[&m].contains(p)),
            "member {m} lost a partition it kept"
        );
        assert_eq!(second[&m].len(), 6);
    }

    // m3 joins: round one only revokes (held back), round two hands over.
    let three = [
        owning(member("m0", &["events"]), 2, &second, 0),
        owning(member("m1", &["events"]), 2, &second, 1),
        member("m3", &["events"]),
    ];
    let (third, held) = run(&CooperativeSticky, &three, &topics);
    assert_eq!(
        held, 4,
        "two partitions from each of m0 and m1 are revoked first"
    );
    assert!(
        !third.contains_key(&2),
        "the newcomer gets nothing moved in the same round"
    );
    let after_revoke = [
        owning(member("m0", &["events"]), 3, &third, 0),
        owning(member("m1", &["events"]), 3, &third, 1),
        member("m3", &["events"]),
    ];
    let (fourth, held) = run(&CooperativeSticky, &after_revoke, &topics);
    assert_eq!(held, 0);
    assert!(fourth.values().all(|v| v.len() == 4), "{fourth:?}");
    assert_eq!(fourth[&0], third[&0]);
    assert_eq!(fourth[&1], third[&1]);
}

#[test]
fn cooperative_sticky_takes_from_the_most_loaded_so_no_extra_partition_moves() {
    // m1 owns 0-5 and m0 owns 6-11 (the order a coordinator may leave
    // them in); a newcomer needs four: two from each, and nobody both gives
    // and receives.
    let topics = [TopicPartitions {
        topic: "events",
        partitions: 12,
    }];
    let mut owned = Assignment::new();
    owned.insert(0, (6..12).map(|p| tp("events", p)).collect());
    owned.insert(1, (0..6).map(|p| tp("events", p)).collect());
    let group = [
        owning(member("m0", &["events"]), 2, &owned, 0),
        owning(member("m1", &["events"]), 2, &owned, 1),
        member("m2", &["events"]),
    ];
    let (out, held) = run(&CooperativeSticky, &group, &topics);
    assert_eq!(held, 4);
    for m in 0..2 {
        assert_eq!(out[&m].len(), 4);
        assert!(
            out[&m].iter().all(|p| owned[&m].contains(p)),
            "member {m} only gives"
        );
    }
}

#[test]
fn an_older_generations_claims_are_kept_unless_a_newer_one_contests_them() {
    let topics = [TopicPartitions {
        topic: "t",
        partitions: 3,
    }];
    // `a` missed the last SyncGroup: it still claims 0 and 1 from
    // generation 1; `b` (generation 2) owns 1 now.
    let mut stale = Assignment::new();
    stale.insert(0, std::vec![tp("t", 0), tp("t", 1)]);
    let mut newer = Assignment::new();
    newer.insert(1, std::vec![tp("t", 1)]);
    let members = [
        owning(member("a", &["t"]), 1, &stale, 0),
        owning(member("b", &["t"]), 2, &newer, 1),
    ];
    let (out, held) = run(&CooperativeSticky, &members, &topics);
    assert_eq!(held, 0);
    assert_eq!(
        out[&0],
        std::vec![tp("t", 0), tp("t", 2)],
        "a keeps its uncontested 0"
    );
    assert_eq!(out[&1], std::vec![tp("t", 1)], "the newer claim wins 1");

    // A stale claim is never handed straight to another member: `b` gets
    // its share of `a`'s partitions in the next round, after `a` gave it up.
    let two = [TopicPartitions {
        topic: "t",
        partitions: 2,
    }];
    let members = [
        owning(member("a", &["t"]), 1, &stale, 0),
        owning(member("b", &["t"]), 2, &Assignment::new(), 1),
    ];
    let (out, held) = run(&CooperativeSticky, &members, &two);
    assert_eq!(held, 1, "one of a's partitions moves to b: {out:?}");
    assert_eq!(out[&0].len(), 1, "{out:?}");
    assert!(
        out.get(&1).is_none_or(Vec::is_empty),
        "b was handed a's partition: {out:?}"
    );
}

/// Checks the properties every assignment must have.
fn check(members: &[GroupMember<'_>], topics: &[TopicPartitions<'_>], out: &Assignment) {
    let mut seen = std::collections::BTreeSet::new();
    for (m, parts) in out {
        for (t, p) in parts {
            assert!(seen.insert((t.clone(), *p)), "{t}-{p} assigned twice");
            assert!(
                members[*m]
                    .subscription
                    .topics
                    .iter()
                    .any(|s| s == t.as_str()),
                "member {m} not subscribed to {t}"
            );
            let topic = topics.iter().find(|x| x.topic == t.as_str()).unwrap();
            assert!((0..topic.partitions).contains(p));
        }
    }
}

proptest! {
    #[test]
    fn any_group_gets_a_valid_balanced_sticky_assignment(
        members in 1usize..7,
        partitions in proptest::collection::vec(0i32..9, 1..4),
        rounds in 1usize..4,
    ) {
        let names = ["a", "b", "c", "d", "e", "f", "g"];
        let topic_names = ["t0", "t1", "t2"];
        let topics: Vec<_> = partitions.iter().enumerate().map(|(i, &p)| TopicPartitions { topic: topic_names[i], partitions: p }).collect();
        let subs: Vec<&'static str> = topic_names[..topics.len()].to_vec();
        let total: usize = partitions.iter().map(|&p| p as usize).sum();
        for assignor in [&Range as &dyn Assignor, &RoundRobin] {
            let group: Vec<_> = names[..members].iter().map(|n| member(n, &subs)).collect();
            let (out, _) = run(assignor, &group, &topics);
            check(&group, &topics, &out);
            prop_assert_eq!(out.values().map(Vec::len).sum::<usize>(), total);
        }
        // Cooperative: repeat rebalances feeding back what members own; it
        // converges to a full, balanced assignment and never moves a
        // partition directly between two members.
        let mut owned = Assignment::new();
        for generation in 1..=(rounds + 2) as i32 {
            let group: Vec<_> = names[..members].iter().enumerate().map(|(i, n)| owning(member(n, &subs), generation, &owned, i)).collect();
            let (out, held) = run(&CooperativeSticky, &group, &topics);
            check(&group, &topics, &out);
            for (m, parts) in &out {
                for p in parts {
                    let before = owned.iter().find(|(_, v)| v.contains(p)).map(|(k, _)| *k);
                    prop_assert!(before.is_none() || before == Some(*m), "moved directly");
                }
            }
            owned = out;
            if held == 0 {
                prop_assert_eq!(owned.values().map(Vec::len).sum::<usize>(), total);
                let counts: Vec<usize> = (0..members).map(|m| owned.get(&m).map_or(0, Vec::len)).collect();
                prop_assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1, "{:?}", counts);
                break;
            }
        }
    }
}
