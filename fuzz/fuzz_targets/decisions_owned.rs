//! The fuzzer's bytes are the whole decision stream (workload, faults, every latency and
//! ordering) of one scenario on the production design, `owned`. Any invariant violation is a crash.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lifecycle_sim::Model;
use lifecycle_sim::fuzzing::{check, decision_scenario};

fuzz_target!(|data: &[u8]| {
    check(&Model::Owned, decision_scenario(data));
});
