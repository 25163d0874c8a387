//! What a scenario is, besides its decision stream: the workload, the faults, the clocks, the
//! strategy, and the version of the harness semantics it runs under.

use std::time::Duration;

use agent_lifecycle::ManagerConfig;
use serde::{Deserialize, Serialize};

use crate::scenario::faults::FaultConfig;
use crate::scenario::workload::Workload;
/// How long after its caller's timeout a late effect may still land at the fake backend: a
/// manager's request lifetime must outlast it (see [`ScenarioSpec::manager_config`]).
pub const LATE_EFFECT_MS: u32 = 40;

/// The harness semantics new scenarios run under. A case records the version it was made
/// with and replays under it, so that a change to what the decision stream decides never
/// silently changes what an older case means.
/// - 1: the events of one millisecond in a fixed order; pct puts every task of the manager's
///   own in one thread, draws its change points over 60 steps, and ignores triggers.
/// - 2: the events of one millisecond in a drawn order ([`SameInstant::Drawn`]); pct keeps
///   the workload's triggers, gives each task its own thread, and draws its change points
///   over the scenario's estimated steps. One turmoil step a simulated millisecond
///   ([`STEPPING_VERSION`]).
/// - 3: as 2, but time jumps to the next event ([`CLOCKWORK_VERSION`]) under the random
///   strategy; pct and dfs keep one step a millisecond.
pub const VERSION: u32 = 3;

/// The last version that steps turmoil once a simulated millisecond (`--ms-steps`), kept to
/// replay its cases and to measure time jumps against.
pub const STEPPING_VERSION: u32 = 2;

/// The first version whose time jumps to the next event (a clockwork inside the container
/// drives it; see `run::clockwork`).
pub const CLOCKWORK_VERSION: u32 = 3;

/// Everything a scenario needs besides the decision stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioSpec {
    pub workload: Workload,
    pub faults: FaultConfig,
    pub timing: Timing,
    pub strategy: Strategy,
    /// The harness semantics it runs under ([`VERSION`]); absent in cases made before 2.
    #[serde(default = "version_1", skip_serializing_if = "is_version_1")]
    pub version: u32,
}

fn version_1() -> u32 {
    1
}

fn is_version_1(version: &u32) -> bool {
    *version == 1
}

/// The clocks of a scenario, in simulated milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// Each backend call takes 1..=max_latency_ms (random strategy).
    pub max_latency_ms: u32,
    pub call_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub retry_pause_ms: u64,
    /// How long every call in flight may take to return once nothing new is issued (L1).
    pub liveness_bound_ms: u64,
    /// What the manager is told of the backend's request lifetime; `None`: the truth (the call
    /// timeout plus the latest a late effect lands, plus 1 ms). A manager told less trusts its
    /// listings too early: that is how a test plays "a timed-out call did nothing".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_lifetime_ms: Option<u64>,
}

impl Timing {
    /// The real system's clocks: a 60 s call timeout (the control plane's dispatch timeout), a
    /// 120 s idle timeout, a 1 s retry pause, latencies up to 2 s, and an hour for liveness.
    /// Affordable under time jumps ([`CLOCKWORK_VERSION`]): a scenario then lasts minutes.
    pub fn real() -> Self {
        Self {
            max_latency_ms: 2_000,
            call_timeout_ms: 60_000,
            idle_timeout_ms: 120_000,
            retry_pause_ms: 1_000,
            liveness_bound_ms: 3_600_000,
            request_lifetime_ms: None,
        }
    }
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            max_latency_ms: 20,
            call_timeout_ms: 100,
            idle_timeout_ms: 30,
            retry_pause_ms: 10,
            liveness_bound_ms: 10_000,
            request_lifetime_ms: None,
        }
    }
}

impl ScenarioSpec {
    pub fn manager_config(&self) -> ManagerConfig {
        ManagerConfig {
            call_timeout: Duration::from_millis(self.timing.call_timeout_ms),
            idle_timeout: Duration::from_millis(self.timing.idle_timeout_ms),
            retry_pause: Duration::from_millis(self.timing.retry_pause_ms),
            // The fake backend lands a late effect at most LATE_EFFECT_MS after the timeout.
            request_lifetime: Duration::from_millis(
                self.timing
                    .request_lifetime_ms
                    .unwrap_or(self.timing.call_timeout_ms + u64::from(LATE_EFFECT_MS) + 1),
            ),
        }
    }

    /// Whether time jumps to the next event: version 3 and random latencies (pct and dfs have
    /// no timing model to jump over, and step every millisecond whatever the version).
    pub fn jumps_time(&self) -> bool {
        self.version >= CLOCKWORK_VERSION && self.strategy == Strategy::Random
    }

    /// The k pct draws its change points over.
    pub fn pct_steps(&self) -> u32 {
        if self.version >= 2 {
            pct_steps_estimate(self.workload.ops.len(), self.workload.agents())
        } else {
            PCT_STEPS
        }
    }
}

/// The steps a PCT change point is drawn from in version 1 scenarios.
pub const PCT_STEPS: u32 = 60;

/// PCT's estimate of a scenario's steps k (version 2), from its operations and agents: about
/// six steps an operation (its arrival and its backend calls) and eight an agent (its
/// background calls, the recovery start and the wrap-up stop). Measured: at most 72 steps
/// for the largest generated scenarios (8 operations, 3 agents), whose estimate is 80. A
/// scenario that takes more steps than its estimate is counted and printed with the bound,
/// since change points cannot reach its tail.
pub fn pct_steps_estimate(ops: usize, agents: usize) -> u32 {
    (6 * ops + 8 * agents + 8) as u32
}

/// How the answers to concurrent backend calls are ordered ([`crate::world::schedule`]).
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
