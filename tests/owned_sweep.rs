//! The production design holds every invariant over a sweep of generated scenarios with every
//! fault family on.

use lifecycle_sim::scenario::workload::OpMix;
use lifecycle_sim::{FaultConfig, FaultMode, Model, Settings, check_random, run_once};

/// Generated scenarios with every fault family on, at its full rate.
fn every_fault_on() -> Settings {
    Settings {
        faults: FaultMode::Fixed(FaultConfig::all()),
        ..Settings::default()
    }
}

#[test]
fn owned_holds_over_1000_seeds_with_every_fault_on() {
    check_random(&Model::Owned, &every_fault_on(), 1000).assert_holds();
    // The sweep is only worth something if faults really fired.
    let faults_seen: usize = (0..1000)
        .map(|seed| {
            let outcome = run_once(&Model::Owned, &every_fault_on(), seed);
            outcome.history.timeline().matches("[fault:").count()
        })
        .sum();
    assert!(
        faults_seen > 500,
        "only {faults_seen} faults fired in 1000 scenarios"
    );
}

#[test]
fn owned_holds_over_1000_swarm_seeds() {
    check_random(&Model::Owned, &Settings::default(), 1000..2000).assert_holds();
}

#[test]
fn owned_holds_over_1000_seeds_with_every_operation_kind_and_fault() {
    let settings = Settings {
        ops: Some(OpMix::every()),
        ..every_fault_on()
    };
    check_random(&Model::Owned, &settings, 1000).assert_holds();
    // Only worth something if the new entry points really ran, a reboot's hydration with
    // something to start among them.
    let timelines: Vec<String> = (0..1000)
        .map(|seed| run_once(&Model::Owned, &settings, seed).history.timeline())
        .collect();
    for what in ["refresh returned ok", "update a", "boot hydration of [a"] {
        let n = timelines.iter().filter(|t| t.contains(what)).count();
        assert!(n > 20, "`{what}` in only {n} of 1000 timelines");
    }
}
