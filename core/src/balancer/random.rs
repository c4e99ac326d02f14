//! A small seeded generator for random partition choices.

/// xorshift64* — statistically fine for spreading null-key messages, tiny,
/// and `no_std` without an entropy source. Seed it (hosts: from the clock or
/// OS randomness; firmware: from a hardware RNG) so producers differ.
#[derive(Clone, Debug)]
pub struct Random {
    state: u64,
}

impl Default for Random {
    fn default() -> Self {
        Random::new(0x2545_f491_4f6c_dd1d)
    }
}

impl Random {
    /// A generator from `seed` (0 is replaced, as xorshift cannot leave it).
    pub const fn new(seed: u64) -> Self {
        Random {
            state: if seed == 0 {
                0x9e37_79b9_7f4a_7c15
            } else {
                seed
            },
        }
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        (self.state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }
}
