//! A scenario: a spec (workload, faults, timing, strategy) and a decision stream. Given a
//! seed, a saved case or a fuzzer's bytes, everything else follows.

pub(crate) mod builder;
pub(crate) mod case;
pub mod catalog;
pub mod custom_op;
pub mod engine;
pub mod faults;
pub mod names;
pub mod op_mix;
pub mod spec;
#[cfg(feature = "proptest")]
pub mod strategies;
pub mod workload;
pub(crate) mod workload_text;

use crate::decisions::Decisions;
use crate::scenario::faults::FaultConfig;
use crate::scenario::spec::Strategy;
use case::Case;
use spec::{ScenarioSpec, Timing, VERSION};
use workload::{OpDecl, OpMix, Workload, WorkloadShape};

/// How faults are chosen for generated scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultMode {
    /// Each seed draws its own subset of fault families.
    Swarm,
    /// The same faults for every seed.
    Fixed(FaultConfig),
}

/// Settings shared by every generated scenario of a run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The bounds of the generated workloads.
    pub shape: WorkloadShape,
    /// How each scenario's faults are chosen.
    pub faults: FaultMode,
    /// The operation kinds; `None` draws a subset per seed.
    pub ops: Option<OpMix>,
    /// Latencies and the manager's timeouts.
    pub timing: Timing,
    /// How the answers to concurrent calls are ordered.
    pub strategy: Strategy,
    /// Opt-in fault families (`--also`), on in every scenario whatever `faults` draws.
    pub opt_in: FaultConfig,
    /// The harness semantics: [`VERSION`] (time jumps to the next event, see
    /// [`ScenarioSpec::jumps_time`]), or [`spec::STEPPING_VERSION`] for one turmoil step a
    /// millisecond.
    pub version: u32,
    /// The subject's own operations, drawn when the mix has `custom` ([`Settings::for_subject`]
    /// fills it in).
    pub custom: Vec<OpDecl>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            shape: WorkloadShape::default(),
            faults: FaultMode::Swarm,
            ops: None,
            timing: Timing::default(),
            strategy: Strategy::Random,
            opt_in: FaultConfig::none(),
            version: VERSION,
            custom: Vec::new(),
        }
    }
}

impl Settings {
    /// The spec for a given workload and faults, with this run's timing and strategy.
    pub fn spec(&self, workload: Workload, faults: FaultConfig) -> ScenarioSpec {
        ScenarioSpec {
            workload,
            faults,
            timing: self.timing,
            strategy: self.strategy,
            version: self.version,
        }
    }

    /// Draws the faults and the workload from the front of the stream; the rest of the stream
    /// drives the run.
    pub fn generate(&self, decisions: &mut Decisions) -> ScenarioSpec {
        let faults = match self.faults {
            FaultMode::Swarm => FaultConfig::swarm(decisions),
            FaultMode::Fixed(faults) => faults,
        }
        .with(self.opt_in);
        let mix = match self.ops {
            Some(mix) => mix,
            None => OpMix::swarm(decisions, !self.custom.is_empty()),
        };
        let workload = Workload::generate(&self.shape, mix, &self.custom, decisions);
        self.spec(workload, faults)
    }
}

/// One scenario, ready to run.
pub struct Scenario {
    /// The seed it was drawn from, if it was.
    pub seed: Option<u64>,
    /// What runs: workload, faults, timing, strategy.
    pub spec: ScenarioSpec,
    pub(crate) decisions: Decisions,
}

impl Scenario {
    /// The scenario `settings` generate from `seed`.
    pub fn from_seed(settings: &Settings, seed: u64) -> Self {
        let mut decisions = Decisions::from_seed(seed);
        let spec = settings.generate(&mut decisions);
        Self {
            seed: Some(seed),
            spec,
            decisions,
        }
    }

    /// The scenario `settings` generate from `decisions` (some already drawn), as `seed`'s.
    pub(crate) fn from_decisions(settings: &Settings, mut decisions: Decisions, seed: u64) -> Self {
        let spec = settings.generate(&mut decisions);
        Self {
            seed: Some(seed),
            spec,
            decisions,
        }
    }

    /// A hand-written spec, with the run's decisions drawn from `seed`.
    pub fn with_spec(seed: u64, spec: ScenarioSpec) -> Self {
        Self {
            seed: Some(seed),
            spec,
            decisions: Decisions::from_seed(seed),
        }
    }

    /// A saved case: its spec, and its recorded choices.
    pub fn from_case(case: &Case) -> Self {
        Self {
            seed: case.seed,
            spec: case.spec.clone(),
            decisions: Decisions::replaying(case.decisions.clone()),
        }
    }

    /// A spec with the run's decisions from any source (fuzzing).
    pub fn with_decisions(spec: ScenarioSpec, decisions: Decisions) -> Self {
        Self {
            seed: None,
            spec,
            decisions,
        }
    }

    /// A scenario whose every decision comes from `bytes` (fuzzing).
    pub fn from_bytes(settings: &Settings, bytes: &[u8]) -> Self {
        let mut decisions = Decisions::from_bytes(bytes);
        let spec = settings.generate(&mut decisions);
        Self {
            seed: None,
            spec,
            decisions,
        }
    }
}
