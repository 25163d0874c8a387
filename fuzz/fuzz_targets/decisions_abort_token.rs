//! The fuzzer's bytes are the whole decision stream of one `abort-token` scenario. This
//! historical model has known bugs, so the target is expected to crash.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lifecycle_sim::Model;
use lifecycle_sim::fuzzing::{check, decision_scenario};

// mimalloc: about 6 % more inputs a second than the system allocator (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fuzz_target!(|data: &[u8]| {
    check(&Model::AbortToken, decision_scenario(data));
});
