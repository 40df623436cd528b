//! The randomness seam: the tie-break among equally scored nodes takes its
//! random numbers from here, so that one seed replays a whole run.

/// A source of uniform random numbers.
pub trait Random {
    /// A number in `0..bound` (`bound` > 0), uniformly.
    fn below(&mut self, bound: usize) -> usize;
}

/// SplitMix64: small, fast, seedable, good enough for tie-breaks.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Random for SplitMix64 {
    fn below(&mut self, bound: usize) -> usize {
        assert!(bound > 0, "a bound above zero");
        // Widening multiply: uniform enough for bounds far below 2^64.
        ((u128::from(self.next_u64()) * bound as u128) >> 64) as usize
    }
}
