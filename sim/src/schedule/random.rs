//! `random`: each call takes a random latency and is answered when due. Finds shallow races
//! fast, and models real timing.

use super::{Ready, Schedule};
use crate::decisions::Decisions;

pub(super) struct Random {
    pub(super) max_latency_ms: u32,
}

impl Schedule for Random {
    fn latency(&mut self, d: &mut Decisions) -> u32 {
        d.between(1, self.max_latency_ms.max(1))
    }

    /// Every ready call, in the order they fall due.
    fn pick(&mut self, ready: &[Ready], _d: &mut Decisions) -> Vec<usize> {
        let mut order: Vec<usize> = (0..ready.len()).collect();
        order.sort_by_key(|&i| (ready[i].due_ms, ready[i].id));
        order
    }
}
