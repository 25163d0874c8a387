//! What the cargo-fuzz targets in `fuzz/` run, kept here so that `lifecycle-sim replay` reads a
//! crash artifact exactly as the target did.
//!
//! - decision-stream input: the bytes are the whole decision stream (`Scenario::from_bytes`),
//!   with the default (swarm) settings;
//! - structured input: `arbitrary` builds the workload and the fault mix from the front of the
//!   bytes, and the rest is the run's decision stream.

use arbitrary::{Result, Unstructured};

use crate::decisions::Decisions;
use crate::report::{Origin, scenario_report};
use crate::run::Outcome;
use crate::scenario::faults::FaultConfig;
use crate::scenario::workload::{Op, OpKind, OpMix, Trigger, Workload};
use crate::scenario::{Scenario, Settings};
use crate::subject::Subject;

/// The scenario a decision-stream fuzz input stands for.
pub fn decision_scenario(bytes: &[u8]) -> Scenario {
    Scenario::from_bytes(&fuzz_settings(), bytes)
}

fn workload(u: &mut Unstructured) -> Result<Workload> {
    let agents: u8 = u.int_in_range(1..=3)?;
    let workdirs = (0..agents)
        .map(|_| u.int_in_range(0..=1))
        .collect::<Result<Vec<u8>>>()?;
    let n_ops: usize = u.int_in_range(1..=8)?;
    let mut ops = Vec::with_capacity(n_ops);
    for _ in 0..n_ops {
        let agent = u.int_in_range(0..=agents - 1)?;
        let kind = match u.int_in_range(0..=6u8)? {
            0..=3 => OpKind::Start(agent),
            4 | 5 => OpKind::Stop(agent),
            _ => OpKind::Evict,
        };
        let at = u.int_in_range(0..=60u64)?;
        ops.push(Op {
            kind,
            when: Trigger::At(at),
        });
    }
    ops.sort_by_key(|op| match op.when {
        Trigger::At(t) => t,
        Trigger::WhilePending(..) => u64::MAX,
    });
    Ok(Workload {
        workdirs,
        ops,
        mix: OpMix::all(),
    })
}

fn faults(u: &mut Unstructured) -> Result<FaultConfig> {
    let mut faults = FaultConfig::all();
    for rate in faults.rates_mut() {
        if !u.arbitrary::<bool>()? {
            *rate = 0;
        }
    }
    Ok(faults)
}

/// The scenario a structured fuzz input stands for.
pub fn structured_scenario(bytes: &[u8]) -> Scenario {
    let mut u = Unstructured::new(bytes);
    // Running out of bytes is not an error: what is missing is the simplest choice.
    let workload = workload(&mut u).unwrap_or_else(|_| Workload {
        workdirs: vec![0],
        ops: vec![Op {
            kind: OpKind::Start(0),
            when: Trigger::At(0),
        }],
        mix: OpMix::all(),
    });
    let faults = faults(&mut u).unwrap_or_default();
    let spec = fuzz_settings().spec(workload, faults);
    Scenario::with_decisions(spec, Decisions::from_bytes(u.take_rest()))
}

/// Runs a fuzz input's scenario and panics with the full report if an invariant breaks.
pub fn check(model: &dyn Subject, scenario: Scenario) -> Outcome {
    let spec = scenario.spec.clone();
    let outcome = scenario.run(model);
    if outcome.violation.is_some() {
        let origin = Origin::Unsaved("this fuzz input".into());
        panic!(
            "{}",
            scenario_report(model.name(), &origin, &spec, &outcome)
        );
    }
    outcome
}

/// What fuzz inputs run under: time that jumps to the next event (version 3), which is what
/// makes thousands of inputs a second possible. A crash input replays under the same.
fn fuzz_settings() -> Settings {
    Settings {
        version: crate::scenario::spec::CLOCKWORK_VERSION,
        ..Settings::default()
    }
}
