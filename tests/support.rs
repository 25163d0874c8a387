//! Shared helpers for the race regressions: hand-built scenarios on the simulation harness.

use lifecycle_sim::faults::FaultConfig;
use lifecycle_sim::history::What;
use lifecycle_sim::workload::{Op, OpKind, OpMix, Trigger, Workload};
use lifecycle_sim::{Model, Outcome, Scenario, ScenarioSpec, Settings};

/// A fault-free scenario with the given agents' workdirs and operations.
pub fn fault_free(workdirs: &[u8], ops: &[(OpKind, Trigger)]) -> ScenarioSpec {
    let workload = Workload {
        workdirs: workdirs.to_vec(),
        ops: ops.iter().map(|&(kind, when)| Op { kind, when }).collect(),
        mix: OpMix::all(),
    };
    Settings::default().spec(workload, FaultConfig::none())
}

/// Runs `spec` on `model` with the run's decisions drawn from `seed`.
pub fn run(model: Model, spec: &ScenarioSpec, seed: u64) -> Outcome {
    Scenario::with_spec(seed, spec.clone()).run(model)
}

/// Whether operation `op` was issued at all (a conditional trigger may never fire).
pub fn issued(outcome: &Outcome, op: u32) -> bool {
    outcome
        .history
        .events
        .iter()
        .any(|e| matches!(e.what, What::OpIssued(id, _) if id == op))
}
