//! Scheduling strategies: which backend calls in flight the driver answers, and when. Each
//! strategy is one file with a [`Schedule`]; this file registers them: the [`Strategy`] a
//! scenario names (and a case file stores), its name on the command line, and the schedule
//! it builds. Adding a strategy is its file and its lines here.
//!
//! - `random` (`random.rs`): each call takes a random latency; calls are answered when due.
//! - `pct` (`pct.rs`): Probabilistic Concurrency Testing over threads' priorities.
//! - `walk` (`walk.rs`): one step a tick, drawn uniformly: a random walk over schedules at call
//!   granularity.
//! - `dfs` (`dfs.rs`): one step at a time, which one a decision of its own, so the decision
//!   stream names the schedule; `crate::explore::bounded` searches them by deviations.

mod dfs;
mod pct;
mod random;
mod walk;

use serde::{Deserialize, Serialize};

use crate::decisions::Decisions;

#[cfg(feature = "cli")]
pub use pct::pct_bound;

/// How the answers to concurrent backend calls are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
#[non_exhaustive]
pub enum Strategy {
    /// Random latency for every call.
    Random,
    /// Probabilistic Concurrency Testing at this depth.
    Pct {
        /// The number of ordering constraints a bug needs.
        depth: u32,
    },
    /// Bounded exhaustive search: every choice of the next step is a decision.
    Dfs,
    /// A random walk: each tick's step drawn uniformly from the ready ones.
    Walk,
}

impl Strategy {
    /// The strategies by their command-line names, with one line on each.
    pub const NAMES: [(&'static str, &'static str); 4] = [
        ("random", "Random latency for every call"),
        ("pct", "Probabilistic Concurrency Testing with --depth"),
        (
            "walk",
            "Random walk over schedules: each step the next call answered or operation issued, drawn uniformly",
        ),
        (
            "dfs",
            "Bounded systematic search of one scenario (--scenario), by deviations",
        ),
    ];

    /// The strategy called `name` on the command line (`depth`: pct's).
    pub fn parse(name: &str, depth: u32) -> Option<Self> {
        match name {
            "random" => Some(Self::Random),
            "pct" => Some(Self::Pct { depth }),
            "dfs" => Some(Self::Dfs),
            "walk" => Some(Self::Walk),
            _ => None,
        }
    }

    /// The command-line flags that choose it (none for the default).
    pub fn flags(self) -> String {
        match self {
            Self::Random => String::new(),
            Self::Pct { depth } => format!(" --strategy pct --depth {depth}"),
            Self::Dfs => " --strategy dfs".into(),
            Self::Walk => " --strategy walk".into(),
        }
    }

    /// Its name in reports.
    pub fn name(self) -> String {
        match self {
            Self::Random => "random".into(),
            Self::Pct { depth } => format!("pct (depth {depth})"),
            Self::Dfs => "dfs".into(),
            Self::Walk => "walk".into(),
        }
    }

    /// Whether calls are answered by time (their drawn latencies), so that time can jump to
    /// the next answer; otherwise one step at a time, by choice, arrivals included.
    pub fn times_calls(self) -> bool {
        matches!(self, Self::Random)
    }

    /// The schedule of one run (`steps`: the k pct draws its change points over; `delays`:
    /// whether walk and dfs may hold the call they pick, from version 5).
    pub fn schedule(
        self,
        max_latency_ms: u32,
        steps: u32,
        delays: bool,
        d: &mut Decisions,
    ) -> Box<dyn Schedule> {
        let hold = Hold { on: delays };
        match self {
            Self::Random => Box::new(random::Random { max_latency_ms }),
            Self::Pct { depth } => Box::new(pct::Pct::new(depth, steps, d)),
            Self::Dfs => Box::new(dfs::Dfs { hold, held: false }),
            Self::Walk => Box::new(walk::Walk { hold }),
        }
    }
}

/// One strategy's choices for one run.
pub trait Schedule: Send {
    /// The latency of a new call.
    fn latency(&mut self, d: &mut Decisions) -> u32;

    /// Which of the ready steps (sorted by id) to take this tick, in order.
    fn pick(&mut self, ready: &[Ready], d: &mut Decisions) -> Vec<usize>;

    /// After a pick of a call (never of the client's arrival): whether to hold that call
    /// instead of answering it now, and if so its latency from when it was made, in
    /// `earliest..=max_latency_ms` (walk and dfs, from version 5).
    fn delay(&mut self, _earliest: u32, _max_latency_ms: u32, _d: &mut Decisions) -> Option<u32> {
        None
    }

    /// pct: the threads and steps the run had, for the bound.
    fn measure(&self) -> Option<PctMeasure> {
        None
    }
}

/// How the step strategies hold a call they picked (version 5). Stepping answers every call
/// in one tick, so without a hold no call could outlast its caller's timeout unless a fault
/// made it: a race that needs a slow call with no fault (#2835 (b): a spawn that outlasts the
/// refresh's timeout) was out of their reach, though the random strategy's latencies reach it.
/// A hold moves the call's answer to a latency the random strategy could have drawn
/// (`1..=max_latency_ms`), so it stays inside the timing model.
#[derive(Clone, Copy)]
pub(crate) struct Hold {
    on: bool,
}

impl Hold {
    /// The share of picks a walk holds, in percent: measured on the panel (race_loop, 3,000
    /// walks a race), 5 % costs the order-only races about 8 % of their finds, 10 % about 16 %.
    const WALK_PERCENT: u32 = 5;

    /// A walk's hold: one pick in twenty, for a latency drawn uniformly.
    fn walk(self, earliest: u32, max_latency_ms: u32, d: &mut Decisions) -> Option<u32> {
        (self.on && d.percent(Self::WALK_PERCENT)).then(|| d.between(earliest, max_latency_ms))
    }

    /// A systematic search's hold: one deviation, to the longest latency (the one that
    /// outlasts the most timeouts), so the tree gains one branch a pick, not one a latency.
    fn search(self, max_latency_ms: u32, d: &mut Decisions) -> Option<u32> {
        (self.on && d.percent(50)).then_some(max_latency_ms)
    }
}

/// A step the scheduler may take now: a call to answer (or, with `id` 0, the client's next
/// arrival).
pub struct Ready {
    pub id: u64,
    pub thread: Thread,
    pub due_ms: u64,
}

/// Who takes a step, as pct and dfs schedule them: the client issuing the workload, an
/// operation by its number (every backend call its request makes), or a task the manager runs on its own
/// (a subscription, a timer, a retry), numbered by first appearance. Version 1 scenarios
/// put every task of the manager's own in one `Background` thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Thread {
    Client,
    Op(u32),
    Task(u32),
    Background,
}

/// What a pct run measured for its bound: its threads (n) and its steps (k).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PctMeasure {
    pub threads: u32,
    pub steps: u32,
    /// The k its change points were drawn over.
    pub estimate: u32,
}
