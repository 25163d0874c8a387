//! The contenders a race is hunted by. Each runs independent campaigns; a campaign hunts
//! until the race's invariant breaks or its budget is spent.

pub mod harness;
pub mod stress;
pub mod turmoil_alone;

use std::time::Duration;

use crate::Race;
use crate::table::Attempt;

/// What a contender's time means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// CPU time of the one thread it runs on.
    Cpu,
    /// Wall time, on this many cores (its scenarios wait in real time).
    Wall { cores: usize },
}

pub trait Contender {
    /// Its name in the table.
    fn name(&self) -> String;
    /// What its time means.
    fn clock(&self) -> Clock {
        Clock::Cpu
    }
    /// Why it cannot express `race` at all, if it cannot.
    fn cannot(&self, _race: &Race) -> Option<String> {
        None
    }
    /// Its campaigns are all the same search (nothing random in it): run one.
    fn deterministic(&self) -> bool {
        false
    }
    /// Campaign `k` on `race`, within `budget`.
    fn campaign(&self, race: &Race, k: u64, budget: Duration) -> Attempt;
}

/// The first seed of campaign `k` (as `lifecycle-sim hunt` numbers them).
pub fn first_seed(k: u64) -> u64 {
    k * 1_000_000
}
