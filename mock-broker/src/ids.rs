//! Topic ids and member ids: random, or reproducible from a seed.

use std::time::{SystemTime, UNIX_EPOCH};

use microkafka_core::wire::Uuid;

/// A small splitmix64 generator: ids need to be unique and look random, not
/// be cryptographic, and a seed makes a test run reproducible.
#[derive(Clone, Debug)]
pub(crate) struct Ids {
    state: u64,
}

impl Ids {
    /// Seeded from `seed`, or from the clock when `None`.
    pub(crate) fn new(seed: Option<u64>) -> Self {
        let state = seed.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0x5eed, |d| d.as_nanos() as u64)
        });
        Ids { state }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A random version-4 UUID, never the all-zero "no id" (Kafka also avoids
    /// ids whose base64 form starts with '-', which v4 ids with these bits never do).
    pub(crate) fn uuid(&mut self) -> Uuid {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        b[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        b[0] &= 0x7f; // keeps the first base64 character out of '-' and '_'
        Uuid(b)
    }

    /// A member id as Kafka forms them: `<prefix>-<uuid>`.
    pub(crate) fn member_id(&mut self, prefix: &str) -> String {
        format!("{prefix}-{:?}", self.uuid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_ids_repeat_and_differ() {
        let (mut a, mut b) = (Ids::new(Some(1)), Ids::new(Some(1)));
        assert_eq!(a.uuid(), b.uuid());
        assert_ne!(a.uuid(), a.uuid());
        assert_ne!(a.uuid(), Uuid::ZERO);
        let id = a.member_id("rdkafka");
        assert!(
            id.starts_with("rdkafka-") && id.len() == "rdkafka-".len() + 36,
            "{id}"
        );
    }
}
