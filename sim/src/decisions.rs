//! The decision stream: the one source of nondeterminism in a scenario. The workload, every
//! latency, every fault and every scheduling choice is drawn from it, so a seed (or a byte
//! string from a fuzzer) fixes the whole run.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Where decisions come from.
enum Source {
    /// ChaCha8's output is specified and stable across versions and platforms, unlike
    /// `StdRng` or `thread_rng`.
    Seeded(Box<ChaCha8Rng>),
    /// Fuzzer bytes, four per decision; zeros once they run out, so every byte string is a
    /// valid, finite scenario.
    Bytes { bytes: Vec<u8>, at: usize },
}

pub struct Decisions {
    source: Source,
    drawn: u64,
}

impl Decisions {
    pub fn from_seed(seed: u64) -> Self {
        Self {
            source: Source::Seeded(Box::new(ChaCha8Rng::seed_from_u64(seed))),
            drawn: 0,
        }
    }

    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self {
            source: Source::Bytes {
                bytes: bytes.to_vec(),
                at: 0,
            },
            drawn: 0,
        }
    }

    /// How many decisions have been drawn so far.
    pub fn drawn(&self) -> u64 {
        self.drawn
    }

    fn next_u32(&mut self) -> u32 {
        self.drawn += 1;
        match &mut self.source {
            Source::Seeded(rng) => rng.next_u32(),
            Source::Bytes { bytes, at } => {
                let mut word = [0u8; 4];
                for b in &mut word {
                    *b = bytes.get(*at).copied().unwrap_or(0);
                    *at += 1;
                }
                u32::from_le_bytes(word)
            }
        }
    }

    /// A uniform choice in `0..n` (`n > 0`). Multiply-shift instead of a library distribution,
    /// so the mapping from stream to choice never changes under us.
    pub fn below(&mut self, n: u32) -> u32 {
        assert!(n > 0, "a choice needs at least one option");
        ((u64::from(self.next_u32()) * u64::from(n)) >> 32) as u32
    }

    /// A uniform choice in `lo..=hi`.
    pub fn between(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u32) -> bool {
        self.below(100) < percent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_stream_and_another_seed_does_not() {
        let draw = |seed| {
            let mut d = Decisions::from_seed(seed);
            (0..32).map(|_| d.below(1000)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn the_stream_is_stable_across_versions() {
        // Pinned output: if this changes, every recorded seed replays differently.
        let mut d = Decisions::from_seed(0);
        let got: Vec<u32> = (0..6).map(|_| d.below(100)).collect();
        assert_eq!(got, PINNED_SEED_0);
    }

    const PINNED_SEED_0: [u32; 6] = [65, 70, 72, 46, 50, 69];

    #[test]
    fn bytes_run_out_into_zeros() {
        let mut d = Decisions::from_bytes(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(d.below(10), 9);
        assert_eq!(d.below(10), 0);
        assert_eq!(d.drawn(), 2);
    }
}
