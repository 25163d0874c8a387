//! The production design holds every invariant over a sweep of generated scenarios with every
//! fault family on.

use lifecycle_sim::faults::FaultConfig;
use lifecycle_sim::report::{Origin, scenario_report};
use lifecycle_sim::{FaultMode, Model, Scenario, Settings};

#[test]
fn owned_holds_over_1000_seeds_with_every_fault_on() {
    let settings = Settings {
        faults: FaultMode::Fixed(FaultConfig::all()),
        ..Settings::default()
    };
    let mut faults_seen = 0;
    for seed in 0..1000 {
        let scenario = Scenario::from_seed(&settings, seed);
        let spec = scenario.spec.clone();
        let outcome = scenario.run(Model::Owned);
        if outcome.violation.is_some() {
            panic!(
                "{}",
                scenario_report(Model::Owned, &Origin::seed(seed), &spec, &outcome)
            );
        }
        faults_seen += outcome.history.timeline().matches("[fault:").count();
    }
    // The sweep is only worth something if faults really fired.
    assert!(
        faults_seen > 500,
        "only {faults_seen} faults fired in 1000 scenarios"
    );
}

#[test]
fn owned_holds_over_1000_swarm_seeds() {
    let settings = Settings::default();
    for seed in 1000..2000 {
        let scenario = Scenario::from_seed(&settings, seed);
        let spec = scenario.spec.clone();
        let outcome = scenario.run(Model::Owned);
        assert!(
            outcome.violation.is_none(),
            "{}",
            scenario_report(Model::Owned, &Origin::seed(seed), &spec, &outcome)
        );
    }
}
