//! The fuzzer's bytes are the whole decision stream (workload, faults, every latency and
//! ordering) of one scenario on the production design, `owned`. Any invariant violation is a crash.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lifecycle_sim::Model;
use lifecycle_sim::fuzzing::{check, decision_scenario};

// mimalloc: about 6 % more inputs a second than the system allocator (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fuzz_target!(|data: &[u8]| {
    check(&Model::Owned, decision_scenario(data));
});
