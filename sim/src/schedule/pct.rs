//! `pct` (Probabilistic Concurrency Testing, Burckhardt et al. 2010): each [`Thread`] (the
//! client issuing the operations, each operation, each task of the manager's own) gets a
//! random priority, and each tick the highest-priority step is taken: the client's next
//! arrival or one call's answer; at d-1 random steps the running thread drops to the lowest
//! priority. A bug of depth d is found by each run with probability at least 1/(n k^(d-1))
//! for n threads and k steps. Arrival times are not used: pct does not assume the timing
//! model.

use std::collections::BTreeMap;

use super::{PctMeasure, Ready, Schedule, Thread};
use crate::decisions::Decisions;

/// The PCT guarantee for `n` operations and `k` steps at depth `d`.
#[cfg(feature = "cli")]
pub fn pct_bound(n: u32, k: u32, depth: u32) -> f64 {
    1.0 / (f64::from(n.max(1)) * f64::from(k.max(1)).powi(depth.saturating_sub(1) as i32))
}

pub(super) struct Pct {
    depth: u32,
    /// The steps at which the running operation is demoted, in order.
    change_points: Vec<u32>,
    /// Steps taken so far.
    steps: u32,
    /// Each thread's priority.
    priorities: BTreeMap<Thread, u32>,
    /// The k the change points were drawn over.
    estimate: u32,
}

impl Pct {
    /// Draws the d-1 change points over `steps`.
    pub(super) fn new(depth: u32, steps: u32, d: &mut Decisions) -> Self {
        let mut change_points: Vec<u32> = (1..depth).map(|_| d.between(1, steps)).collect();
        change_points.sort_unstable();
        Self {
            depth,
            change_points,
            steps: 0,
            priorities: BTreeMap::new(),
            estimate: steps,
        }
    }
}

impl Schedule for Pct {
    /// Steps are taken by priority, not by time.
    fn latency(&mut self, _d: &mut Decisions) -> u32 {
        1
    }

    fn pick(&mut self, ready: &[Ready], d: &mut Decisions) -> Vec<usize> {
        if ready.is_empty() {
            return Vec::new();
        }
        let depth = self.depth;
        // A thread's priority is drawn when it first has a step to take; initial priorities
        // lie above every change-point priority (0..depth-1).
        for step in ready {
            self.priorities
                .entry(step.thread)
                .or_insert_with(|| depth + d.below(1 << 20));
        }
        self.steps += 1;
        let best = |priorities: &BTreeMap<Thread, u32>| {
            (0..ready.len())
                .max_by_key(|&i| {
                    (
                        priorities.get(&ready[i].thread).copied().unwrap_or(0),
                        u64::MAX - ready[i].id,
                    )
                })
                .expect("ready is not empty")
        };
        let mut chosen = best(&self.priorities);
        for (j, &point) in self.change_points.iter().enumerate() {
            if point == self.steps {
                let low = depth.saturating_sub(1 + j as u32);
                self.priorities.insert(ready[chosen].thread, low);
                chosen = best(&self.priorities);
            }
        }
        vec![chosen]
    }

    fn measure(&self) -> Option<PctMeasure> {
        Some(PctMeasure {
            threads: self.priorities.len() as u32,
            steps: self.steps,
            estimate: self.estimate,
        })
    }
}
