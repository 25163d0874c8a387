//! Which seeds a sweep runs, split over machines.

use std::ops::Range;

/// Which seeds a sweep runs: a range (or from 0 without end), and of those only the ones of
/// shard `k` of `n` (seed % n == k), so that n machines cover disjoint seeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedSet {
    /// The seeds; `None`: from 0, without end.
    pub range: Option<Range<u64>>,
    /// `(k, n)`: only the seeds that are `k` mod `n`.
    pub shard: (u64, u64),
}

impl SeedSet {
    /// Every seed of `range` (one shard of one).
    pub fn all(range: Option<Range<u64>>) -> Self {
        Self {
            range,
            shard: (0, 1),
        }
    }

    /// The `i`th seed of the set, if there is one.
    pub fn nth(&self, i: u64) -> Option<u64> {
        let (k, n) = self.shard;
        let start = self.range.as_ref().map_or(0, |r| r.start);
        // The first seed >= start that is k mod n, then every n-th.
        let first = start + (k + n - start % n) % n;
        let seed = first.checked_add(i.checked_mul(n)?)?;
        match &self.range {
            Some(r) if seed >= r.end => None,
            _ => Some(seed),
        }
    }
}
