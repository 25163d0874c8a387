//! `walk`: a random walk over schedules at call granularity. Each tick one ready step is
//! taken (the client's next arrival or one call's answer), drawn uniformly from the decision
//! stream, as shuttle's random scheduler picks a runnable task at every yield. Orders are
//! reached directly, not through latencies: a race that needs only an order of calls is
//! found without waiting for latency draws to line it up. The schedule is the decision
//! stream, so a walk replays and shrinks like every other strategy.

use super::{Hold, Ready, Schedule};
use crate::decisions::Decisions;

pub(super) struct Walk {
    pub(super) hold: Hold,
}

impl Schedule for Walk {
    /// Steps are taken by draw, not by time.
    fn latency(&mut self, _d: &mut Decisions) -> u32 {
        1
    }

    fn pick(&mut self, ready: &[Ready], d: &mut Decisions) -> Vec<usize> {
        match ready.len() {
            0 => Vec::new(),
            1 => vec![0],
            n => vec![d.below(n as u32) as usize],
        }
    }

    fn delay(&mut self, earliest: u32, max_latency_ms: u32, d: &mut Decisions) -> Option<u32> {
        self.hold.walk(earliest, max_latency_ms, d)
    }
}
