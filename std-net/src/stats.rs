//! Counters behind `WriterStats` and `ReaderStats`: lock-free, reset by
//! each snapshot (kafka-go's `Stats()` reports what happened since the
//! previous call).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A counter that a snapshot reads and resets.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn take(&self) -> u64 {
        self.0.swap(0, Ordering::Relaxed)
    }
}

/// Count, sum, min and max of a series, reset by each snapshot.
#[derive(Debug)]
pub(crate) struct Series {
    count: AtomicU64,
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
}

impl Default for Series {
    fn default() -> Self {
        Series {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
        }
    }
}

impl Series {
    pub(crate) fn observe(&self, v: u64) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
        self.min.fetch_min(v, Ordering::Relaxed);
        self.max.fetch_max(v, Ordering::Relaxed);
    }

    pub(crate) fn observe_duration(&self, d: Duration) {
        self.observe(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    pub(crate) fn take(&self) -> Summary {
        let count = self.count.swap(0, Ordering::Relaxed);
        let sum = self.sum.swap(0, Ordering::Relaxed);
        let min = self.min.swap(u64::MAX, Ordering::Relaxed);
        let max = self.max.swap(0, Ordering::Relaxed);
        if count == 0 {
            return Summary::default();
        }
        Summary {
            count,
            avg: sum / count,
            min,
            max,
        }
    }
}

/// Count, average, minimum and maximum of something measured over the
/// interval of a stats snapshot (zero when nothing was measured).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Observations.
    pub count: u64,
    /// Average.
    pub avg: u64,
    /// Minimum.
    pub min: u64,
    /// Maximum.
    pub max: u64,
}

impl Summary {
    /// The average as a duration (for series measured in microseconds).
    pub fn avg_duration(&self) -> Duration {
        Duration::from_micros(self.avg)
    }

    /// The maximum as a duration (for series measured in microseconds).
    pub fn max_duration(&self) -> Duration {
        Duration::from_micros(self.max)
    }
}
