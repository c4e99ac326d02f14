//! Retry decisions for Produce responses, and backoff between attempts.

use core::time::Duration;

use crate::ErrorCode;

/// What a producer should do with a batch after its partition answered with
/// an error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ProduceErrorAction {
    /// No error: the batch is written.
    Done,
    /// Leadership moved or is unknown (`NOT_LEADER_OR_FOLLOWER`,
    /// `LEADER_NOT_AVAILABLE`, `UNKNOWN_TOPIC_OR_PARTITION`...): refresh
    /// metadata, then send the batch again to the (new) leader.
    RefreshMetadata,
    /// A transient condition (`REQUEST_TIMED_OUT`, `NOT_ENOUGH_REPLICAS`...):
    /// send the batch again after a backoff.
    Retry,
    /// Not recoverable by sending the same batch again (`MESSAGE_TOO_LARGE`,
    /// authorization, invalid records...): report it.
    Fail,
}

impl ProduceErrorAction {
    /// Classifies a partition's error code from a Produce response.
    ///
    /// Retriable codes are those the Java client treats as retriable; among
    /// them, the "invalid metadata" ones ask for a metadata refresh first.
    /// `NOT_ENOUGH_REPLICAS_AFTER_APPEND` is retriable but means the records
    /// may already be in the log: a retry can duplicate them (as in every
    /// client without idempotence).
    pub fn classify(code: ErrorCode) -> Self {
        match code {
            ErrorCode::NONE => ProduceErrorAction::Done,
            code if stale_metadata(code) || code == ErrorCode::NOT_CONTROLLER => {
                ProduceErrorAction::RefreshMetadata
            }
            code if code.is_retriable() => ProduceErrorAction::Retry,
            _ => ProduceErrorAction::Fail,
        }
    }

    /// True when the batch should be sent again (after a backoff).
    pub const fn is_retriable(self) -> bool {
        matches!(
            self,
            ProduceErrorAction::RefreshMetadata | ProduceErrorAction::Retry
        )
    }
}

/// True for the codes that say the client's picture of the cluster is out
/// of date (the leader moved, the partition or topic is not where it was):
/// refresh metadata before trying again. Shared by producers and consumers.
pub(crate) fn stale_metadata(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NOT_LEADER_OR_FOLLOWER
            | ErrorCode::LEADER_NOT_AVAILABLE
            | ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            | ErrorCode::UNKNOWN_TOPIC_ID
            | ErrorCode::FENCED_LEADER_EPOCH
            | ErrorCode::UNKNOWN_LEADER_EPOCH
            | ErrorCode::REPLICA_NOT_AVAILABLE
            | ErrorCode::KAFKA_STORAGE_ERROR
    )
}

/// Capped exponential backoff: `min * 2^(attempt - 1)`, at most `max`.
///
/// Attempt 1 (the first retry) waits `min`. With [`jitter`](Self::jitter) the
/// delay is scaled by a factor in `[1 - jitter, 1]` taken from a random
/// number the caller supplies (the core has no randomness), so clients that
/// failed together do not retry together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Backoff {
    /// The first delay. Default 100 ms (kafka-go's `WriteBackoffMin`, Java's `retry.backoff.ms`).
    pub min: Duration,
    /// The largest delay. Default 1 s (kafka-go's `WriteBackoffMax`, Java's `retry.backoff.max.ms`).
    pub max: Duration,
    /// Fraction of the delay that may be shaved off at random, in percent
    /// (0-100). Default 20, as the Java client's ±20 %.
    pub jitter_percent: u8,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter_percent: 20,
        }
    }
}

impl Backoff {
    /// A backoff from `min` to `max` with the default jitter.
    pub const fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            jitter_percent: 20,
        }
    }

    /// The same backoff with `percent` jitter (capped at 100).
    pub const fn jitter(mut self, percent: u8) -> Self {
        self.jitter_percent = if percent > 100 { 100 } else { percent };
        self
    }

    /// The delay before retry number `attempt` (1 = first retry; 0 = no
    /// delay), without jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        if attempt == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX);
        self.min
            .checked_mul(factor)
            .unwrap_or(self.max)
            .min(self.max.max(self.min))
    }

    /// The delay before retry number `attempt`, scaled down by up to
    /// `jitter_percent` using `random` (any 32-bit random number).
    pub fn delay_with_jitter(&self, attempt: u32, random: u32) -> Duration {
        let delay = self.delay(attempt);
        let keep = self.keep_percent(random);
        delay.checked_mul(keep).map_or(delay, |d| d / 100)
    }

    /// [`delay_with_jitter`](Self::delay_with_jitter) in whole milliseconds
    /// (at most `u32::MAX`), in 32-bit integers: what a microcontroller's
    /// timer takes, without `Duration`'s 64-bit arithmetic (0.2 KiB of a
    /// firmware's flash).
    pub fn delay_ms_with_jitter(&self, attempt: u32, random: u32) -> u32 {
        // In 32 bits too: past u32::MAX / 1000 seconds, the cap.
        let ms = |d: Duration| match u32::try_from(d.as_secs()) {
            Ok(secs) if secs <= u32::MAX / 1000 => (secs * 1000).saturating_add(d.subsec_millis()),
            _ => u32::MAX,
        };
        let (min, max) = (ms(self.min), ms(self.max));
        let delay = match attempt {
            0 => 0,
            n => 1u32
                .checked_shl(n - 1)
                .and_then(|factor| min.checked_mul(factor))
                .unwrap_or(u32::MAX)
                .min(max.max(min)),
        };
        let keep = self.keep_percent(random);
        // delay * keep / 100 without overflow (keep <= 100).
        delay / 100 * keep + delay % 100 * keep / 100
    }

    /// Keep between (100 - jitter) % and 100 % of a delay, spread by `random`.
    fn keep_percent(&self, random: u32) -> u32 {
        let jitter = u32::from(self.jitter_percent.min(100));
        100 - random % (jitter + 1)
    }
}
