//! `dfs`: one step a tick, which one a decision of its own, so the decision stream names the
//! schedule (`crate::explore::bounded` searches them, by deviations from the defaults).

use super::{Ready, Schedule};
use crate::decisions::Decisions;

pub(super) struct Dfs;

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
}
