//! Properties over proptest-generated workloads (see `lifecycle_sim::scenario::strategies`); a
//! failure is shrunk by proptest to the smallest workload that still breaks the property.

use lifecycle_sim::report::{Origin, scenario_report};
use lifecycle_sim::scenario::strategies::{faults, workload};
use lifecycle_sim::{Model, Settings, run_once};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The production design holds every invariant for any workload, fault mix and schedule.
    #[test]
    fn owned_holds_for_any_workload(workload in workload(), faults in faults(), seed in any::<u64>()) {
        let spec = Settings::default().spec(workload, faults);
        let outcome = run_once(&Model::Owned, &spec, seed);
        prop_assert!(
            outcome.violation.is_none(),
            "{}",
            scenario_report(Model::Owned.name(), &Origin::seed(seed), &spec, &outcome)
        );
    }

    /// Any workload replays to the same history: the run depends on nothing but its inputs.
    #[test]
    fn every_workload_replays_identically(workload in workload(), faults in faults(), seed in any::<u64>()) {
        let spec = Settings::default().spec(workload, faults);
        let first = run_once(&Model::Legacy, &spec, seed);
        let second = run_once(&Model::Legacy, &spec, seed);
        prop_assert_eq!(first.history.digest(), second.history.digest());
        prop_assert_eq!(first.violation, second.violation);
    }
}
