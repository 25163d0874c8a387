//! The fuzzer's bytes are the whole decision stream of one `legacy` scenario. Legacy has known
//! bugs (#1341 and others), so this target is expected to crash: it measures how fast fuzzing
//! finds them.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lifecycle_sim::Model;
use lifecycle_sim::fuzzing::{check, decision_scenario};

// mimalloc: about 6 % more inputs a second than the system allocator (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fuzz_target!(|data: &[u8]| {
    check(&Model::Legacy, decision_scenario(data));
});
