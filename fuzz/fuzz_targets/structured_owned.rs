//! `arbitrary` builds the workload and the fault mix from the front of the fuzzer's bytes; the
//! rest is the decision stream of one `owned` scenario. Any invariant violation is a crash.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lifecycle_sim::Model;
use lifecycle_sim::fuzzing::{check, structured_scenario};

// mimalloc: about 6 % more inputs a second than the system allocator (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fuzz_target!(|data: &[u8]| {
    check(&Model::Owned, structured_scenario(data));
});
