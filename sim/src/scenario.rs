//! A scenario: a model, a workload, a backend configuration, and a decision stream. Given a
//! seed, everything else follows.

use std::time::Duration;

use agent_lifecycle::ManagerConfig;

use crate::decisions::Decisions;
use crate::faults::FaultConfig;
use crate::models::Model;
use crate::run::{Outcome, ScenarioSpec};
use crate::workload::{OpMix, Workload, WorkloadShape};
use crate::world::BackendConfig;

/// How faults are chosen for generated scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultMode {
    /// Each seed draws its own subset of fault families.
    Swarm,
    /// The same faults for every seed.
    Fixed(FaultConfig),
}

/// Settings shared by every generated scenario of a run.
#[derive(Clone, Debug)]
pub struct Settings {
    pub shape: WorkloadShape,
    pub faults: FaultMode,
    /// The operation kinds; `None` draws a subset per seed.
    pub ops: Option<OpMix>,
    pub max_latency_ms: u32,
    pub call_timeout: Duration,
    pub idle_timeout: Duration,
    pub liveness_bound: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            shape: WorkloadShape::default(),
            faults: FaultMode::Swarm,
            ops: None,
            max_latency_ms: 20,
            call_timeout: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(30),
            liveness_bound: Duration::from_secs(10),
        }
    }
}

impl Settings {
    /// The spec for a given workload and faults, with this run's timing.
    pub fn spec(&self, workload: Workload, faults: FaultConfig) -> ScenarioSpec {
        ScenarioSpec {
            workload,
            backend: BackendConfig {
                faults,
                max_latency_ms: self.max_latency_ms,
            },
            manager: ManagerConfig {
                call_timeout: self.call_timeout,
                idle_timeout: self.idle_timeout,
                retry_pause: Duration::from_millis(10),
            },
            liveness_bound: self.liveness_bound,
        }
    }

    /// Draws the faults and the workload from the front of the stream; the rest of the stream
    /// drives the run.
    pub fn generate(&self, decisions: &mut Decisions) -> ScenarioSpec {
        let faults = match self.faults {
            FaultMode::Swarm => FaultConfig::swarm(decisions),
            FaultMode::Fixed(faults) => faults,
        };
        let mix = match self.ops {
            Some(mix) => mix,
            None => OpMix::swarm(decisions),
        };
        let workload = Workload::generate(&self.shape, mix, decisions);
        self.spec(workload, faults)
    }
}

/// One generated scenario, ready to run.
pub struct Scenario {
    pub seed: u64,
    pub spec: ScenarioSpec,
    decisions: Decisions,
}

impl Scenario {
    pub fn from_seed(settings: &Settings, seed: u64) -> Self {
        let mut decisions = Decisions::from_seed(seed);
        let spec = settings.generate(&mut decisions);
        Self {
            seed,
            spec,
            decisions,
        }
    }

    /// A hand-written workload, with the run's decisions still drawn from `seed`.
    pub fn with_spec(seed: u64, spec: ScenarioSpec) -> Self {
        Self {
            seed,
            spec,
            decisions: Decisions::from_seed(seed),
        }
    }

    /// A scenario whose every decision comes from `bytes` (fuzzing).
    pub fn from_bytes(settings: &Settings, bytes: &[u8]) -> Self {
        let mut decisions = Decisions::from_bytes(bytes);
        let spec = settings.generate(&mut decisions);
        Self {
            seed: 0,
            spec,
            decisions,
        }
    }

    pub fn run(self, model: Model) -> Outcome {
        model.run(&self.spec, self.decisions, self.seed)
    }
}
