//! Partition balancers: which partition a message goes to.
//!
//! Pure functions of the key and the partition list (plus a little state for
//! round-robin, least-bytes and random choices), `no_std` and allocation-free,
//! so firmware and hosts route keys identically. Each keyed balancer matches
//! another client byte for byte, so mixed producers agree on key placement:
//!
//! | balancer | compatible with |
//! |---|---|
//! | [`Hash`](struct@Hash) | sarama's `HashPartitioner`, kafka-go's `Hash` (FNV-1a 32, `abs(int32 % n)`) |
//! | [`ReferenceHash`] | sarama's `ReferenceHashPartitioner`, kafka-go's `ReferenceHash` (FNV-1a 32, `(h & 0x7fffffff) % n`) |
//! | [`Crc32`] | librdkafka's default `consistent_random` (and `consistent`), confluent-kafka-*, kafka-go's `CRC32Balancer` |
//! | [`Murmur2`] | the Java client's default partitioner for keyed records, librdkafka's `murmur2_random` (and `murmur2`), kafka-go's `Murmur2Balancer` |
//!
//! [`RoundRobin`], [`LeastBytes`] and [`Random`] ignore keys.

mod hash;
mod random;

pub use hash::{fnv1a32, murmur2};
pub use random::Random;

use crate::record::crc32_ieee;

/// What a balancer may look at in a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageRef<'a> {
    /// The key; `None` is a null key.
    pub key: Option<&'a [u8]>,
    /// The value; `None` is a null value.
    pub value: Option<&'a [u8]>,
}

impl<'a> MessageRef<'a> {
    /// A message with this key and value.
    pub const fn new(key: Option<&'a [u8]>, value: Option<&'a [u8]>) -> Self {
        MessageRef { key, value }
    }

    fn len(&self) -> u64 {
        (self.key.map_or(0, <[u8]>::len) + self.value.map_or(0, <[u8]>::len)) as u64
    }
}

/// Chooses a partition for a message.
///
/// `partitions` lists the partition ids available, in ascending order (the
/// writer passes every partition of the topic, as kafka-go does). The result is
/// one of them, or `None` when the list is empty. Use one balancer per topic:
/// stateful balancers assume a stable partition set.
pub trait Balancer {
    /// The partition `message` should go to.
    fn balance(&mut self, message: &MessageRef<'_>, partitions: &[i32]) -> Option<i32>;
}

/// Spreads messages evenly, one partition after another, ignoring keys.
#[derive(Clone, Debug, Default)]
pub struct RoundRobin {
    next: u32,
}

impl Balancer for RoundRobin {
    fn balance(&mut self, _: &MessageRef<'_>, partitions: &[i32]) -> Option<i32> {
        let n = u32::try_from(partitions.len()).ok().filter(|&n| n > 0)?;
        let i = self.next % n;
        self.next = self.next.wrapping_add(1);
        partitions.get(i as usize).copied()
    }
}

/// Sends each message to the partition that has received the fewest bytes
/// (key + value) from this balancer, like kafka-go's `LeastBytes`.
///
/// Counters live in a fixed table of `N` partitions (default 64). They restart
/// from zero when the partition set changes. With more than `N` partitions the
/// balancer falls back to round-robin rather than allocate.
#[derive(Clone, Debug, Default)]
pub struct LeastBytes<const N: usize = 64> {
    counters: heapless::Vec<(i32, u64), N>,
    overflow: RoundRobin,
}

impl<const N: usize> Balancer for LeastBytes<N> {
    fn balance(&mut self, message: &MessageRef<'_>, partitions: &[i32]) -> Option<i32> {
        if partitions.len() > N {
            return self.overflow.balance(message, partitions);
        }
        let same_set = self.counters.len() == partitions.len()
            && self
                .counters
                .iter()
                .zip(partitions)
                .all(|((p, _), q)| p == q);
        if !same_set {
            self.counters.clear();
            for &p in partitions {
                // Cannot fail: partitions.len() <= N was checked above.
                let _ = self.counters.push((p, 0));
            }
        }
        // The first of the least-loaded partitions wins, as in kafka-go.
        let (partition, bytes) = self.counters.iter_mut().min_by_key(|(_, b)| *b)?;
        *bytes = bytes.saturating_add(message.len());
        Some(*partition)
    }
}

/// sarama-compatible key hashing: FNV-1a 32-bit, `abs(int32(h) % n)`; null
/// keys go round-robin. kafka-go's `Hash`.
#[derive(Clone, Debug, Default)]
pub struct Hash {
    round_robin: RoundRobin,
}

impl Balancer for Hash {
    fn balance(&mut self, message: &MessageRef<'_>, partitions: &[i32]) -> Option<i32> {
        let Some(key) = message.key else {
            return self.round_robin.balance(message, partitions);
        };
        let n = i32::try_from(partitions.len()).ok().filter(|&n| n > 0)?;
        // The cast to i32 before the remainder is what makes this sarama's result.
        let i = (fnv1a32(key) as i32 % n).unsigned_abs();
        partitions.get(i as usize).copied()
    }
}

/// sarama's reference-compatible hashing: FNV-1a 32-bit, `(h & 0x7fffffff) % n`;
/// null keys go to a random partition. kafka-go's `ReferenceHash`.
#[derive(Clone, Debug, Default)]
pub struct ReferenceHash {
    random: Random,
}

impl ReferenceHash {
    /// A balancer whose null-key choices come from `random`.
    pub const fn with_random(random: Random) -> Self {
        ReferenceHash { random }
    }
}

impl Balancer for ReferenceHash {
    fn balance(&mut self, message: &MessageRef<'_>, partitions: &[i32]) -> Option<i32> {
        let Some(key) = message.key else {
            return self.random.balance(message, partitions);
        };
        pick(partitions, fnv1a32(key) & 0x7fff_ffff)
    }
}

/// librdkafka's default partitioner: CRC-32 (IEEE) of the key modulo the
/// partition count. `consistent_random` (default): null *and empty* keys go to
/// a random partition; `consistent`: they hash like any key.
#[derive(Clone, Debug, Default)]
pub struct Crc32 {
    /// Hash null/empty keys too (librdkafka `consistent`) instead of picking at random.
    pub consistent: bool,
    random: Random,
}

impl Crc32 {
    /// A balancer; `consistent` as the field.
    pub const fn new(consistent: bool, random: Random) -> Self {
        Crc32 { consistent, random }
    }
}

impl Balancer for Crc32 {
    fn balance(&mut self, message: &MessageRef<'_>, partitions: &[i32]) -> Option<i32> {
        let key = message.key.unwrap_or_default();
        // librdkafka treats null and empty keys alike.
        if key.is_empty() && !self.consistent {
            return self.random.balance(message, partitions);
        }
        pick(partitions, crc32_ieee(key))
    }
}

/// The Java client's partitioner for keyed records: `murmur2(key) & 0x7fffffff`
/// modulo the partition count. `murmur2_random` (default): null keys go to a
/// random partition (empty keys are hashed); `murmur2`: null keys hash as empty.
#[derive(Clone, Debug, Default)]
pub struct Murmur2 {
    /// Hash null keys too (librdkafka `murmur2`) instead of picking at random.
    pub consistent: bool,
    random: Random,
}

impl Murmur2 {
    /// A balancer; `consistent` as the field.
    pub const fn new(consistent: bool, random: Random) -> Self {
        Murmur2 { consistent, random }
    }
}

impl Balancer for Murmur2 {
    fn balance(&mut self, message: &MessageRef<'_>, partitions: &[i32]) -> Option<i32> {
        match message.key {
            None if !self.consistent => self.random.balance(message, partitions),
            key => pick(partitions, murmur2(key.unwrap_or_default()) & 0x7fff_ffff),
        }
    }
}

impl Balancer for Random {
    fn balance(&mut self, _: &MessageRef<'_>, partitions: &[i32]) -> Option<i32> {
        if partitions.is_empty() {
            return None;
        }
        let i = self.next_u32() as usize % partitions.len();
        partitions.get(i).copied()
    }
}

fn pick(partitions: &[i32], hash: u32) -> Option<i32> {
    let n = u32::try_from(partitions.len()).ok().filter(|&n| n > 0)?;
    partitions.get((hash % n) as usize).copied()
}

#[cfg(test)]
mod tests;
