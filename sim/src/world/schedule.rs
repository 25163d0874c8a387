//! Scheduling strategies: which backend calls in flight the driver answers, and when.
//!
//! - `random`: each call takes a random latency; calls are answered when due. Finds shallow
//!   races fast, and models real timing.
//! - `pct` (Probabilistic Concurrency Testing, Burckhardt et al. 2010): each [`Thread`] (the
//!   client issuing the operations, each operation, each task of the manager's own) gets a
//!   random priority, and
//!   each tick the highest-priority step is taken: the client's next arrival or one call's
//!   answer; at d-1 random steps the running thread drops to the lowest priority. A bug of depth
//!   d is found by each run with probability at least 1/(n k^(d-1)) for n threads and k steps.
//!   Arrival times are not used: pct does not assume the timing model.
//! - `dfs`: the same steps, but which one is taken is a decision of its own, so the decision
//!   tree is exactly the tree of schedules, which `crate::explore::dfs` enumerates.

use std::collections::BTreeMap;

use crate::decisions::Decisions;
use crate::scenario::spec::Strategy;
use crate::world::history::OpId;

/// The PCT guarantee for `n` operations and `k` steps at depth `d`.
pub fn pct_bound(n: u32, k: u32, depth: u32) -> f64 {
    1.0 / (f64::from(n.max(1)) * f64::from(k.max(1)).powi(depth.saturating_sub(1) as i32))
}

/// A step the scheduler may take now: a call to answer (or, with `id` 0, the client's next
/// arrival).
pub struct Ready {
    pub id: u64,
    pub thread: Thread,
    pub due_ms: u64,
}

pub struct Scheduler {
    strategy: Strategy,
    max_latency_ms: u32,
    /// PCT: the steps at which the running operation is demoted, in order.
    change_points: Vec<u32>,
    /// PCT: steps taken so far.
    steps: u32,
    /// PCT: each thread's priority.
    priorities: BTreeMap<Thread, u32>,
    /// PCT: the k the change points were drawn over.
    estimate: u32,
}

/// What a pct run measured for its bound: its threads (n) and its steps (k).
/// Who takes a step, as pct and dfs schedule them: the client issuing the workload, an
/// operation (every backend call its request makes), or a task the manager runs on its own
/// (a subscription, a timer, a retry), numbered by first appearance. Version 1 scenarios
/// put every task of the manager's own in one `Background` thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Thread {
    Client,
    Op(OpId),
    Task(u32),
    Background,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PctMeasure {
    pub threads: u32,
    pub steps: u32,
    /// The k its change points were drawn over.
    pub estimate: u32,
}

impl Scheduler {
    /// `steps`: the k the change points are drawn over.
    pub fn new(strategy: Strategy, max_latency_ms: u32, steps: u32, d: &mut Decisions) -> Self {
        let change_points = match strategy {
            Strategy::Pct { depth } => {
                let mut points: Vec<u32> = (1..depth).map(|_| d.between(1, steps)).collect();
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
            estimate: steps,
        }
    }

    /// n and k of this run, for the pct bound (`None` for other strategies).
    pub fn measure(&self) -> Option<PctMeasure> {
        matches!(self.strategy, Strategy::Pct { .. }).then(|| PctMeasure {
            threads: self.priorities.len() as u32,
            steps: self.steps,
            estimate: self.estimate,
        })
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
        }
    }
}
