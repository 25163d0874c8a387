//! What a scenario is, besides its decision stream: the workload, the faults, the clocks, the
//! strategy, and the version of the harness semantics it runs under.

use std::time::Duration;

use agent_lifecycle::ManagerConfig;
use serde::{Deserialize, Serialize};

use crate::scenario::workload::Workload;
use crate::world::BackendConfig;
use crate::world::faults::FaultConfig;
use crate::world::mailbox::SameInstant;
use crate::world::schedule::{PCT_STEPS, Strategy, pct_steps_estimate};
/// The harness semantics new scenarios run under. A case records the version it was made
/// with and replays under it, so that a change to what the decision stream decides never
/// silently changes what an older case means.
/// - 1: the events of one millisecond in a fixed order; pct puts every task of the manager's
///   own in one thread, draws its change points over 60 steps, and ignores triggers.
/// - 2: the events of one millisecond in a drawn order ([`SameInstant::Drawn`]); pct keeps
///   the workload's triggers, gives each task its own thread, and draws its change points
///   over the scenario's estimated steps.
pub const VERSION: u32 = 2;

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
            request_lifetime: Duration::from_millis(self.timing.request_lifetime_ms.unwrap_or(
                self.timing.call_timeout_ms + u64::from(crate::world::LATE_EFFECT_MS) + 1,
            )),
        }
    }

    pub(crate) fn backend_config(&self) -> BackendConfig {
        BackendConfig {
            faults: self.faults,
            max_latency_ms: self.timing.max_latency_ms,
            call_timeout_ms: self.timing.call_timeout_ms,
            same_instant: self.same_instant(),
        }
    }

    pub fn same_instant(&self) -> SameInstant {
        if self.version >= 2 {
            SameInstant::Drawn
        } else {
            SameInstant::Fixed
        }
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
