//! Published vectors from the clients each balancer must agree with.

use super::*;

fn msg(key: Option<&[u8]>) -> MessageRef<'_> {
    MessageRef::new(key, Some(b"value"))
}

/// Partitions 0, 1, 4, 9, ... 256: librdkafka's 0048-partitioner test uses
/// 17 partitions with ids i*i so a wrong index is caught.
fn librdkafka_partitions() -> [i32; 17] {
    core::array::from_fn(|i| (i * i) as i32)
}

#[test]
fn fnv1a32_reference_vectors() {
    // From the FNV reference test suite (isthe.com/chongo/tech/comp/fnv).
    assert_eq!(fnv1a32(b""), 0x811c_9dc5);
    assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
    assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
}

#[test]
fn murmur2_matches_the_java_client() {
    // librdkafka's rdmurmur2.c unit test (values computed by the Java client).
    let cases: [(&[u8], u32); 11] = [
        (b"kafka", 0xd067_cf64),
        (b"giberish123456789", 0x8f55_2b0c),
        (b"1234", 0x9fc9_7b14),
        (b"234", 0xe7c0_09ca),
        (b"34", 0x8739_30da),
        (b"4", 0x5a4b_5ca1),
        (b"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x7842_4f1c),
        (b"reAmbleWillBeRemoved,ThePrePartThatIs", 0x4a62_b377),
        (b"eAmbleWillBeRemoved,ThePrePartThatIs", 0xe0e4_e09e),
        (b"AmbleWillBeRemoved,ThePrePartThatIs", 0x62b8_b43f),
        (b"", 0x106e_08d9),
    ];
    for (key, want) in cases {
        assert_eq!(murmur2(key), want, "{key:?}");
    }
    // Apache Kafka's UtilsTest.testMurmur2 (signed ints as Java prints them).
    assert_eq!(murmur2(b"21") as i32, -973_932_308);
    assert_eq!(murmur2(b"foobar") as i32, -790_332_482);
    assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985_981_536);
    assert_eq!(
        murmur2(b"a-little-bit-longer-string") as i32,
        -1_486_304_829
    );
    assert_eq!(
        murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32,
        -58_897_971
    );
    assert_eq!(murmur2(b"abc") as i32, 479_470_107);
}

#[test]
fn murmur2_balancer_matches_librdkafka_and_kafka_python() {
    let parts = librdkafka_partitions();
    let mut b = Murmur2::default();
    // librdkafka 0048-partitioner.c, murmur2_random.
    assert_eq!(
        b.balance(&msg(Some(b"")), &parts),
        Some(parts[(0x106e_08d9 % 17) as usize])
    );
    assert_eq!(
        b.balance(&msg(Some(b"23456")), &parts),
        Some(parts[(0x058d_780f % 17) as usize])
    );
    let long = b"this is another string with more length to it perhaps";
    assert_eq!(
        b.balance(&msg(Some(long)), &parts),
        Some(parts[(0x4f77_03da % 17) as usize])
    );
    assert_eq!(
        b.balance(&msg(Some(b"hejsan")), &parts),
        Some(parts[(0x5ec1_9395 % 17) as usize])
    );
    // kafka-python's Murmur2Partitioner test, 1000 partitions.
    let thousand: [i32; 1000] = core::array::from_fn(|i| i as i32);
    for (key, want) in [
        (&b""[..], 681),
        (b"a", 524),
        (b"ab", 434),
        (b"abc", 107),
        (b"123456789", 566),
        (b"\x00 ", 742),
    ] {
        assert_eq!(b.balance(&msg(Some(key)), &thousand), Some(want), "{key:?}");
    }
    // Null keys: random by default, hashed as empty when consistent.
    assert!(parts.contains(&b.balance(&msg(None), &parts).unwrap()));
    let mut consistent = Murmur2::new(true, Random::default());
    assert_eq!(
        consistent.balance(&msg(None), &parts),
        Some(parts[(0x106e_08d9 % 17) as usize])
    );
}

#[test]
fn crc32_balancer_matches_librdkafka_consistent_random() {
    let parts = librdkafka_partitions();
    let mut b = Crc32::default();
    // librdkafka 0048-partitioner.c, consistent_random.
    assert_eq!(
        b.balance(&msg(Some(b"23456")), &parts),
        Some(parts[(0xb1b4_51d7u32 % 17) as usize])
    );
    let long = b"this is another string with more length to it perhaps";
    assert_eq!(
        b.balance(&msg(Some(long)), &parts),
        Some(parts[(0xb015_0df7u32 % 17) as usize])
    );
    assert_eq!(
        b.balance(&msg(Some(b"hejsan")), &parts),
        Some(parts[(0xd077_037eu32 % 17) as usize])
    );
    // Null and empty keys spread at random...
    let mut seen = [false; 17];
    for _ in 0..400 {
        let p = b.balance(&msg(None), &parts).unwrap();
        seen[parts.iter().position(|&q| q == p).unwrap()] = true;
        assert!(parts.contains(&b.balance(&msg(Some(b"")), &parts).unwrap()));
    }
    assert!(
        seen.iter().all(|&s| s),
        "random choice should reach every partition"
    );
    // ...unless consistent, where both hash alike.
    let mut c = Crc32::new(true, Random::default());
    let p = c.balance(&msg(None), &parts);
    assert_eq!(p, c.balance(&msg(Some(b"")), &parts));
    assert_eq!(p, Some(parts[0]), "crc32 of nothing is 0");
}

#[test]
fn hash_matches_sarama() {
    // kafka-go's TestHashBalancer; partitions chosen by sarama's hashPartitioner.
    let mut h = Hash::default();
    assert_eq!(h.balance(&msg(Some(b"blah")), &[0, 1]), Some(0));
    assert_eq!(h.balance(&msg(Some(b"blah")), &[0, 1, 2]), Some(1));
    assert_eq!(h.balance(&msg(Some(b"boop")), &[0, 1, 2]), Some(2));
    let sixteen: [i32; 16] = core::array::from_fn(|i| i as i32);
    // A hash with its top bit set: where a naive unsigned modulo goes wrong.
    assert!(fnv1a32(b"20") & 0x8000_0000 != 0);
    assert_eq!(h.balance(&msg(Some(b"20")), &sixteen), Some(1));
    // Null keys go round-robin.
    let firsts: [Option<i32>; 4] = core::array::from_fn(|_| h.balance(&msg(None), &[0, 1, 2]));
    assert_eq!(firsts, [Some(0), Some(1), Some(2), Some(0)]);
}

#[test]
fn reference_hash_differs_from_hash_where_sarama_says() {
    // For "20" over 16 partitions sarama's legacy hash gives |(h as i32) % 16| = 1,
    // so h % 16 == 15, and the reference form (h & 0x7fffffff) % 16 gives 15.
    let sixteen: [i32; 16] = core::array::from_fn(|i| i as i32);
    let mut r = ReferenceHash::default();
    assert_eq!(r.balance(&msg(Some(b"20")), &sixteen), Some(15));
    assert_eq!(
        r.balance(&msg(Some(b"blah")), &[0, 1, 2]),
        Some(((fnv1a32(b"blah") & 0x7fff_ffff) % 3) as i32)
    );
}

#[test]
fn round_robin_and_least_bytes_follow_kafka_go() {
    let mut rr = RoundRobin::default();
    let picks: [Option<i32>; 5] = core::array::from_fn(|_| rr.balance(&msg(None), &[3, 5, 7]));
    assert_eq!(picks, [Some(3), Some(5), Some(7), Some(3), Some(5)]);
    // kafka-go TestLeastBytes cases.
    let mut lb = LeastBytes::<8>::default();
    let keys: [&[u8]; 4] = [b"a", b"ab", b"abc", b"abcd"];
    let last = keys
        .iter()
        .map(|k| lb.balance(&MessageRef::new(Some(k), None), &[0, 1, 2]))
        .last();
    assert_eq!(last, Some(Some(0)));
    let mut lb = LeastBytes::<8>::default();
    for (k, parts) in [
        (&b"hello world 1"[..], &[0, 1][..]),
        (b"hello world 2", &[0, 1]),
        (b"hello world 3", &[0, 1, 2]),
    ] {
        let p = lb.balance(&MessageRef::new(Some(k), None), parts);
        if parts.len() == 3 {
            assert_eq!(p, Some(0), "partition gained: counters restart");
        }
    }
    // More partitions than the table holds: still balanced, without allocating.
    let mut small = LeastBytes::<2>::default();
    assert_eq!(small.balance(&msg(None), &[0, 1, 2]), Some(0));
    assert_eq!(small.balance(&msg(None), &[0, 1, 2]), Some(1));
}

#[test]
fn empty_partition_lists_give_none() {
    let m = msg(Some(b"k"));
    assert_eq!(RoundRobin::default().balance(&m, &[]), None);
    assert_eq!(LeastBytes::<4>::default().balance(&m, &[]), None);
    assert_eq!(Hash::default().balance(&m, &[]), None);
    assert_eq!(ReferenceHash::default().balance(&m, &[]), None);
    assert_eq!(Crc32::default().balance(&m, &[]), None);
    assert_eq!(Murmur2::default().balance(&m, &[]), None);
    assert_eq!(Random::default().balance(&m, &[]), None);
}
