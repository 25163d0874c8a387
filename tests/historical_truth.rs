//! The historical models report only what the real code could do (docs/real-system.md). Every
//! status write of PRE and POST moves a record forward (PRE's catch relabels an `exited`
//! record `failed`, which is not a move back), so no sweep may ever report I8 for them.

use lifecycle_sim::report::{Origin, scenario_report};
use lifecycle_sim::{Invariant, Model, Scenario, Settings};

fn never_i8(model: Model, seeds: std::ops::Range<u64>) {
    let generated = Settings::default();
    let mut failures = 0;
    for seed in seeds {
        let scenario = Scenario::from_seed(&generated, seed);
        let spec = scenario.spec.clone();
        let outcome = scenario.run(&model);
        if let Some(v) = &outcome.violation {
            failures += 1;
            assert_ne!(
                v.invariant,
                Invariant::I8,
                "{}",
                scenario_report(model.name(), &Origin::seed(seed), &spec, &outcome)
            );
        }
    }
    // The sweep means something only if the model's real bugs are still being found.
    assert!(failures > 100, "{model} failed only {failures} scenarios");
}

#[test]
fn pre_never_moves_a_status_back() {
    never_i8(Model::Legacy, 0..5000);
}

#[test]
fn post_never_moves_a_status_back() {
    never_i8(Model::AbortToken, 0..5000);
}
