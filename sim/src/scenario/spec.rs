//! What a scenario is, besides its decision stream: the workload, the faults, the clocks, the
//! strategy, and the version of the harness semantics it runs under.

use std::time::Duration;

use agent_lifecycle::ManagerConfig;
use serde::{Deserialize, Serialize};

use crate::scenario::engine::Engine;
use crate::scenario::faults::FaultConfig;
use crate::scenario::workload::Workload;
/// How long after its caller's timeout a late effect may still land at the fake backend: a
/// manager's request lifetime must outlast it (see [`ScenarioSpec::manager_config`]).
pub const LATE_EFFECT_MS: u32 = 40;

pub use crate::scenario::engine::{
    CLOCKWORK_VERSION, STEP_JUMPS_VERSION, STEPPING_VERSION, VERSION,
};

/// Everything a scenario needs besides the decision stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioSpec {
    /// What the control plane asks of the manager, and when.
    pub workload: Workload,
    /// Which faults the backend injects, and how often.
    pub faults: FaultConfig,
    /// The clocks.
    pub timing: Timing,
    /// How the answers to concurrent backend calls are ordered.
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
    /// How long the manager waits for one backend call.
    pub call_timeout_ms: u64,
    /// How long an agent may stay idle before the manager stops it.
    pub idle_timeout_ms: u64,
    /// How long the manager waits before it retries.
    pub retry_pause_ms: u64,
    /// How long every call in flight may take to return once nothing new is issued (L1).
    pub liveness_bound_ms: u64,
    /// What the manager is told of the backend's request lifetime; `None`: the truth (the call
    /// timeout plus the latest a late effect lands, plus 1 ms). A manager told less trusts its
    /// listings too early: that is how a test plays "a timed-out call did nothing".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_lifetime_ms: Option<u64>,
    /// How long a prompt's turn lasts at the server when its request reaches it (the prompt
    /// blocks for the whole turn, as kilo-serve's `session.prompt` does for the model's turn,
    /// minutes). `None`: a turn is the prompt's drawn latency, as before (nothing drawn
    /// changes either way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_ms: Option<u64>,
    /// How long an eviction may take to return (L4). `None`: [`Timing::drain_grace`]'s default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_grace_ms: Option<u64>,
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
            turn_ms: None,
            drain_grace_ms: None,
        }
    }

    /// L4's bound on an eviction: `drain_grace_ms`, by default ten call timeouts. The real
    /// `drainAll` waits up to 5 min for working agents (five of its 60 s call timeouts), then
    /// freezes the stragglers and closes the servers, each call bounded by the call timeout:
    /// as long again. With the default clocks, 1 s; with [`Timing::real`], 10 min.
    pub fn drain_grace(&self) -> u64 {
        self.drain_grace_ms.unwrap_or(10 * self.call_timeout_ms)
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
            turn_ms: None,
            drain_grace_ms: None,
        }
    }
}

impl ScenarioSpec {
    /// The manager's configuration: the scenario's clocks.
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

    /// Whether time jumps to the next event (see [`Engine`]).
    pub fn jumps_time(&self) -> bool {
        Engine::of(self).jumps_time
    }

    /// The k pct draws its change points over (see [`Engine`]).
    pub fn pct_steps(&self) -> u32 {
        Engine::of(self).pct_steps
    }
}

/// PCT's estimate of a scenario's steps k (version 2), from its operations and agents: about
/// six steps an operation (its arrival and its backend calls) and eight an agent (its
/// background calls, the recovery start and the wrap-up stop). Measured: at most 72 steps
/// for the largest generated scenarios (8 operations, 3 agents), whose estimate is 80. A
/// scenario that takes more steps than its estimate is counted and printed with the bound,
/// since change points cannot reach its tail.
pub fn pct_steps_estimate(ops: usize, agents: usize) -> u32 {
    (6 * ops + 8 * agents + 8) as u32
}

pub use crate::schedule::Strategy;
