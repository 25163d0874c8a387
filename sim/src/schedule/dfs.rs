//! `dfs`: one step a tick, which one a decision of its own, so the decision stream names the
//! schedule (`crate::explore::bounded` searches them, by deviations from the defaults).

use super::{Hold, Ready, Schedule};
use crate::decisions::Decisions;

pub(super) struct Dfs {
    pub(super) hold: Hold,
    /// Whether this schedule held a call already: a search holds one call a schedule at
    /// most (a hold on every pick made the two-start story's tree 1,432,448 schedules
    /// against 28 without holds; one a schedule covers a single slow call, which is what a
    /// timeout race needs).
    pub(super) held: bool,
}

impl Schedule for Dfs {
    /// Steps are taken by choice, not by time.
    fn latency(&mut self, _d: &mut Decisions) -> u32 {
        1
    }

    fn pick(&mut self, ready: &[Ready], d: &mut Decisions) -> Vec<usize> {
        if ready.is_empty() {
            return Vec::new();
        }
        let n = ready.len() as u32;
        vec![if n > 1 { d.below(n) as usize } else { 0 }]
    }

    /// Answering at once is the default; holding it is one deviation.
    fn delay(&mut self, _earliest: u32, max_latency_ms: u32, d: &mut Decisions) -> Option<u32> {
        if self.held {
            return None;
        }
        let hold = self.hold.search(max_latency_ms, d);
        self.held = hold.is_some();
        hold
    }
}
