//! The fuzzer's bytes are the whole decision stream of one `abort-token` scenario. This
//! historical model has known bugs, so the target is expected to crash.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lifecycle_sim::Model;
use lifecycle_sim::fuzzing::{check, decision_scenario};

fuzz_target!(|data: &[u8]| {
    check(&Model::AbortToken, decision_scenario(data));
});
