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

/// Runs a fuzz input's scenario and panics with the full report if an invariant breaks. Under
/// cargo-fuzz, every coverage point the run reached is a libFuzzer counter bumped.
pub fn check(model: &dyn Subject, scenario: Scenario) -> Outcome {
    let spec = scenario.spec.clone();
    let outcome = scenario.run(model);
    for point in &outcome.points {
        point_counters::bump(point);
    }
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

/// A coverage point's slot among libFuzzer's extra counters: FNV-1a of its name.
pub fn counter_slot(point: &str) -> usize {
    let hash = point.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % point_counters::SLOTS as u64) as usize
}

/// Coverage points as libFuzzer coverage: under cargo-fuzz (`cfg(fuzzing)`), a section of
/// counters libFuzzer reads beside the code's own edge counters and clears before each input,
/// so an input that reaches a point no earlier input reached is new coverage, kept in the
/// corpus. Elsewhere it does nothing.
mod point_counters {
    pub const SLOTS: usize = 1 << 16;

    #[cfg(fuzzing)]
    #[used]
    #[unsafe(link_section = "__libfuzzer_extra_counters")]
    static COUNTERS: [std::sync::atomic::AtomicU8; SLOTS] =
        [const { std::sync::atomic::AtomicU8::new(0) }; SLOTS];

    #[cfg(fuzzing)]
    pub fn bump(point: &str) {
        let slot = &COUNTERS[super::counter_slot(point)];
        let n = slot.load(std::sync::atomic::Ordering::Relaxed);
        slot.store(n.saturating_add(1), std::sync::atomic::Ordering::Relaxed);
    }

    #[cfg(not(fuzzing))]
    pub fn bump(_point: &str) {}
}
