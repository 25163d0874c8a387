//! How a sweep runs, and its defaults.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::SeedSet;

/// How a sweep runs. Start from the default and change what differs:
///
/// ```
/// use lifecycle_sim::explore::{SeedSet, SweepConfig};
///
/// let config = SweepConfig {
///     seeds: SeedSet::all(Some(0..200)),
///     shrink: false,
///     ..SweepConfig::default()
/// };
/// assert_eq!(config.jobs, SweepConfig::default().jobs);
/// ```
pub struct SweepConfig<'a> {
    /// The seeds to run.
    pub seeds: SeedSet,
    /// Only when `seeds.range` is open: stop taking seeds after this long.
    pub budget: Duration,
    /// Worker threads, one simulation each.
    pub jobs: usize,
    /// Stop at the first failure.
    pub fail_fast: bool,
    /// Shrink each distinct failure.
    pub shrink: bool,
    /// Set (by Ctrl-C) to stop taking seeds; what ran is still reported.
    pub stop: &'a AtomicBool,
    /// Steer swarm configurations toward rare coverage points (`explore/steer.rs`).
    pub steer: bool,
    /// Stop once every required point of the subject's catalog was reached (seeds to full
    /// coverage).
    pub until_covered: bool,
}

/// The stop flag of a sweep nothing interrupts.
static NEVER: AtomicBool = AtomicBool::new(false);

impl Default for SweepConfig<'_> {
    /// Seeds `0..1000` (a fixed range: what the sweep finds does not depend on the machine),
    /// on every core, shrinking each distinct failure, not stopping at the first, not
    /// steered, and never interrupted.
    fn default() -> Self {
        Self {
            seeds: SeedSet::all(Some(0..1_000)),
            budget: Duration::MAX,
            jobs: std::thread::available_parallelism().map_or(1, usize::from),
            fail_fast: false,
            shrink: true,
            stop: &NEVER,
            steer: false,
            until_covered: false,
        }
    }
}
