//! Produce error classes and backoff arithmetic.

use core::time::Duration;

use super::*;
use crate::ErrorCode;

#[test]
fn produce_errors_are_classified_like_the_java_client() {
    let cases = [
        (ErrorCode::NONE, ProduceErrorAction::Done),
        (
            ErrorCode::NOT_LEADER_OR_FOLLOWER,
            ProduceErrorAction::RefreshMetadata,
        ),
        (
            ErrorCode::LEADER_NOT_AVAILABLE,
            ProduceErrorAction::RefreshMetadata,
        ),
        (
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            ProduceErrorAction::RefreshMetadata,
        ),
        (ErrorCode::REQUEST_TIMED_OUT, ProduceErrorAction::Retry),
        (ErrorCode::NOT_ENOUGH_REPLICAS, ProduceErrorAction::Retry),
        (ErrorCode::NETWORK_EXCEPTION, ProduceErrorAction::Retry),
        (ErrorCode::MESSAGE_TOO_LARGE, ProduceErrorAction::Fail),
        (ErrorCode::RECORD_LIST_TOO_LARGE, ProduceErrorAction::Fail),
        (
            ErrorCode::TOPIC_AUTHORIZATION_FAILED,
            ProduceErrorAction::Fail,
        ),
        (ErrorCode(-9), ProduceErrorAction::Fail),
    ];
    for (code, action) in cases {
        assert_eq!(ProduceErrorAction::classify(code), action, "{code:?}");
        assert_eq!(
            action.is_retriable(),
            code.is_retriable() && code.is_err(),
            "{code:?}"
        );
    }
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    let delays: [u64; 7] = core::array::from_fn(|i| b.delay(i as u32).as_millis() as u64);
    assert_eq!(delays, [0, 100, 200, 400, 800, 1000, 1000]);
    assert_eq!(b.delay(200), Duration::from_secs(1), "no overflow");
    // A cap below the minimum: the minimum wins.
    let odd = Backoff::new(Duration::from_millis(50), Duration::from_millis(10));
    assert_eq!(odd.delay(3), Duration::from_millis(50));
}

#[test]
fn jitter_only_shortens_and_stays_in_range() {
    let b = Backoff::default();
    assert_eq!(
        b,
        Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).jitter(20)
    );
    for random in [0u32, 1, 7, 20, 21, 12345, u32::MAX] {
        let d = b.delay_with_jitter(2, random);
        assert!(d <= Duration::from_millis(200), "{d:?}");
        assert!(d >= Duration::from_millis(160), "{d:?}");
    }
    assert_eq!(
        b.jitter(0).delay_with_jitter(2, 99),
        Duration::from_millis(200)
    );
    assert_eq!(b.jitter(250).jitter_percent, 100);
    assert_eq!(b.jitter(100).delay_with_jitter(1, 100), Duration::ZERO);
}

#[test]
fn millisecond_backoff_agrees_with_the_duration_one() {
    let backoffs = [
        Backoff::default(),
        Backoff::new(Duration::from_millis(7), Duration::from_millis(999)).jitter(100),
        Backoff::new(Duration::from_millis(50), Duration::from_millis(10)).jitter(0),
        Backoff::new(Duration::from_secs(3), Duration::from_secs(3_600)).jitter(35),
    ];
    for b in backoffs {
        for attempt in [0u32, 1, 2, 3, 9, 31, 32, 200] {
            for random in [0u32, 1, 7, 20, 21, 12_345, u32::MAX] {
                let ms = b.delay_ms_with_jitter(attempt, random);
                let d = b.delay_with_jitter(attempt, random);
                assert_eq!(u128::from(ms), d.as_millis(), "{b:?} {attempt} {random}");
            }
        }
    }
    // Delays beyond u32 milliseconds (49 days) saturate.
    let huge = Backoff::new(Duration::from_secs(1 << 40), Duration::MAX).jitter(0);
    assert_eq!(huge.delay_ms_with_jitter(1, 0), u32::MAX);
    // Around the edge of u32 milliseconds (4,294,967.295 s), computed in
    // 32 bits.
    for (ms, expected) in [
        (u64::from(u32::MAX) - 1, u32::MAX - 1),
        (u64::from(u32::MAX), u32::MAX),
        (u64::from(u32::MAX) + 1, u32::MAX),
        (u64::from(u32::MAX) + 704, u32::MAX),
        (u64::from(u32::MAX) + 705, u32::MAX),
    ] {
        let d = Duration::from_millis(ms);
        let edge = Backoff::new(d, Duration::MAX).jitter(0);
        assert_eq!(edge.delay_ms_with_jitter(1, 0), expected, "{ms}");
    }
}
