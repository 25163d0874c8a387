//! The fuzzer's bytes are the decision stream: the workload, the faults, every latency. One
//! scenario on the production design per input; any invariant violation is a crash.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lifecycle_sim::report::{Origin, scenario_report};
use lifecycle_sim::{Model, Scenario, Settings};

fuzz_target!(|data: &[u8]| {
    let scenario = Scenario::from_bytes(&Settings::default(), data);
    let spec = scenario.spec.clone();
    let outcome = scenario.run(Model::Owned);
    if outcome.violation.is_some() {
        panic!("{}", scenario_report(Model::Owned, &Origin::Unsaved("this fuzz input".into()), &spec, &outcome));
    }
});
