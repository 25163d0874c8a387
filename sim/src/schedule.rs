//! Scheduling strategies: which backend calls in flight the driver answers, and when.
//!
//! - `random`: each call takes a random latency; calls are answered when due. Finds shallow
//!   races fast, and models real timing.
//! - `pct` (Probabilistic Concurrency Testing, Burckhardt et al. 2010): each operation (a
//!   "thread", and the client issuing the operations is one too) gets a random priority, and
//!   each tick the highest-priority step is taken: the client's next arrival or one call's
//!   answer; at d-1 random steps the running thread drops to the lowest priority. A bug of depth
//!   d is found by each run with probability at least 1/(n k^(d-1)) for n threads and k steps.
//!   Arrival times are not used: pct does not assume the timing model.
//! - `dfs`: the same steps, but which one is taken is a decision of its own, so the decision
//!   tree is exactly the tree of schedules, which `crate::explore::dfs` enumerates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::decisions::Decisions;
use crate::history::OpId;

/// The steps a PCT change point is drawn from (about the number of steps in a scenario).
pub const PCT_STEPS: u32 = 60;

/// The "operation" that issues the workload's operations, as a schedulable thread.
pub const CLIENT: OpId = OpId::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Strategy {
    Random,
    Pct { depth: u32 },
    Dfs,
}

impl Strategy {
    pub fn name(self) -> String {
        match self {
            Self::Random => "random".into(),
            Self::Pct { depth } => format!("pct (depth {depth})"),
            Self::Dfs => "dfs".into(),
        }
    }
}

/// The PCT guarantee for `n` operations and `k` steps at depth `d`.
pub fn pct_bound(n: u32, k: u32, depth: u32) -> f64 {
    1.0 / (f64::from(n.max(1)) * f64::from(k.max(1)).powi(depth.saturating_sub(1) as i32))
}

/// A call the scheduler may answer now.
pub struct Ready {
    pub id: u64,
    pub op: Option<OpId>,
    pub due_ms: u64,
}

pub struct Scheduler {
    strategy: Strategy,
    max_latency_ms: u32,
    /// PCT: the steps at which the running operation is demoted, in order.
    change_points: Vec<u32>,
    /// PCT: calls answered so far.
    steps: u32,
    /// PCT: each operation's priority (background work shares `None`'s).
    priorities: BTreeMap<Option<OpId>, u32>,
}

impl Scheduler {
    pub fn new(strategy: Strategy, max_latency_ms: u32, d: &mut Decisions) -> Self {
        let change_points = match strategy {
            Strategy::Pct { depth } => {
                let mut points: Vec<u32> = (1..depth).map(|_| d.between(1, PCT_STEPS)).collect();
                points.sort_unstable();
                points
            }
            _ => Vec::new(),
        };
        Self {
            strategy,
            max_latency_ms,
            change_points,
            steps: 0,
            priorities: BTreeMap::new(),
        }
    }

    /// The latency of a new call (pct and dfs answer by choice, not by time).
    pub fn latency(&mut self, d: &mut Decisions) -> u32 {
        match self.strategy {
            Strategy::Random => d.between(1, self.max_latency_ms.max(1)),
            Strategy::Pct { .. } | Strategy::Dfs => 1,
        }
    }

    /// Which of the ready calls (sorted by id) to answer this tick, in order.
    pub fn pick(&mut self, ready: &[Ready], d: &mut Decisions) -> Vec<usize> {
        if ready.is_empty() {
            return Vec::new();
        }
        match self.strategy {
            Strategy::Random => {
                let mut order: Vec<usize> = (0..ready.len()).collect();
                order.sort_by_key(|&i| (ready[i].due_ms, ready[i].id));
                order
            }
            Strategy::Dfs => {
                let n = ready.len() as u32;
                vec![if n > 1 { d.below(n) as usize } else { 0 }]
            }
            Strategy::Pct { depth } => {
                // A thread's priority is drawn when it first has a step to take; initial
                // priorities lie above every change-point priority (0..depth-1).
                for step in ready {
                    self.priorities
                        .entry(step.op)
                        .or_insert_with(|| depth + d.below(1 << 20));
                }
                self.steps += 1;
                let best = |priorities: &BTreeMap<Option<OpId>, u32>| {
                    (0..ready.len())
                        .max_by_key(|&i| {
                            (
                                priorities.get(&ready[i].op).copied().unwrap_or(0),
                                u64::MAX - ready[i].id,
                            )
                        })
                        .expect("ready is not empty")
                };
                let mut chosen = best(&self.priorities);
                for (j, &point) in self.change_points.iter().enumerate() {
                    if point == self.steps {
                        let low = depth.saturating_sub(1 + j as u32);
                        self.priorities.insert(ready[chosen].op, low);
                        chosen = best(&self.priorities);
                    }
                }
                vec![chosen]
            }
        }
    }
}
