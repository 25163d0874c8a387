//! The harness's versions, decided in one place. A case records the version it was made with
//! and replays under it; every difference between versions is a property of [`Engine`],
//! worked out here from the version and read everywhere else. Policy: old cases keep
//! replaying through this adapter (nothing else in the engine names a version); a version is
//! retired only by re-finding, re-shrinking and re-saving its cases under the current one.

use crate::scenario::spec::{ScenarioSpec, pct_steps_estimate};

/// The harness semantics new scenarios run under. A case records the version it was made
/// with and replays under it, so that a change to what the decision stream decides never
/// silently changes what an older case means.
/// - 1: the events of one millisecond in a fixed order; pct puts every task of the manager's
///   own in one thread, draws its change points over 60 steps, and ignores triggers.
/// - 2: the events of one millisecond in a drawn order (`SameInstant::Drawn`); pct keeps the
///   workload's triggers, gives each task its own thread, and draws its change points over the
///   scenario's estimated steps. One turmoil step a simulated millisecond
///   ([`STEPPING_VERSION`]).
/// - 3: as 2, but time jumps to the next event ([`CLOCKWORK_VERSION`]) under the random
///   strategy; pct and dfs keep one step a millisecond.
/// - 4: time jumps under every strategy ([`STEP_JUMPS_VERSION`]): pct, walk and dfs take one
///   step a look of the clockwork, and the milliseconds in which no step is ready are skipped.
///   Random scenarios run exactly as in 3.
/// - 5: walk and dfs may hold a call they picked instead of answering it ([`DELAYS_VERSION`]):
///   a decision of its own, after the pick, delays its answer by a latency the random strategy
///   could have drawn, so that a call can outlast its caller's timeout with no fault. And the
///   container dies at the instant its eviction returns or its reboot is issued, and boots
///   again at that instant: before, it ran on to the end of turmoil's tick (up to half a call
///   timeout) and rebooted there, so the tick had to stay short, and a scenario that waits out
///   its liveness bound paid a turmoil step every 50 ms of it.
pub const VERSION: u32 = 5;

/// The last version that steps turmoil once a simulated millisecond (`--ms-steps`), kept to
/// replay its cases and to measure time jumps against.
pub const STEPPING_VERSION: u32 = 2;

/// The first version whose time jumps to the next event (a clockwork inside the container
/// drives it; see `run::clockwork`).
pub const CLOCKWORK_VERSION: u32 = 3;

/// The first version whose time jumps under the strategies that take one step at a time (pct,
/// walk, dfs) too: their steps no longer pay a turmoil step each.
pub const STEP_JUMPS_VERSION: u32 = 4;

/// The first version in which walk and dfs may delay the call they picked.
pub const DELAYS_VERSION: u32 = 5;

/// The steps a PCT change point is drawn from in version 1 scenarios.
const PCT_STEPS_V1: u32 = 60;

/// What a scenario's version means to the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Engine {
    /// How the events of one millisecond are ordered (1: fixed; 2 and on: drawn). Drawn
    /// orders also give each task of the manager's own its own pct thread.
    pub same_instant: SameInstant,
    /// Whether time jumps to the next event: from version 4 always; in version 3 under a
    /// strategy that answers calls by time (there pct and dfs step every millisecond).
    pub jumps_time: bool,
    /// The k pct draws its change points over: 60 in version 1; the scenario's estimated
    /// steps since.
    pub pct_steps: u32,
    /// Whether walk and dfs may hold the call they picked (from version 5).
    pub step_delays: bool,
    /// Whether the container dies at the instant the clockwork sees its eviction return or
    /// its reboot issued (from version 5), rather than at the end of turmoil's tick.
    pub exact_death: bool,
}

impl Engine {
    /// The engine `spec` runs on.
    pub fn of(spec: &ScenarioSpec) -> Self {
        let v = spec.version;
        Self {
            same_instant: if v >= 2 {
                SameInstant::Drawn
            } else {
                SameInstant::Fixed
            },
            jumps_time: v >= STEP_JUMPS_VERSION
                || (v >= CLOCKWORK_VERSION && spec.strategy.times_calls()),
            pct_steps: if v >= 2 {
                pct_steps_estimate(spec.workload.ops.len(), spec.workload.agents())
            } else {
                PCT_STEPS_V1
            },
            step_delays: v >= DELAYS_VERSION,
            exact_death: v >= DELAYS_VERSION,
        }
    }
}

/// How the events of one simulated millisecond are ordered (derived from a scenario's
/// version by [`Engine::of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameInstant {
    /// Always the same order: callers going away, the backend's own events, operations
    /// arriving, then replies in call order (their tasks resume before the arrivals' first
    /// poll). Cases recorded before version 2 ran so.
    Fixed,
    /// Drawn from the decision stream, every millisecond that has two or more.
    Drawn,
}
