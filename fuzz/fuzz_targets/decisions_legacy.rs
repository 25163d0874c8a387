//! The fuzzer's bytes are the whole decision stream of one `legacy` scenario. Legacy has known
//! bugs (#1341 and others), so this target is expected to crash: it measures how fast fuzzing
//! finds them.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lifecycle_sim::Model;
use lifecycle_sim::fuzzing::{check, decision_scenario};

fuzz_target!(|data: &[u8]| {
    check(&Model::Legacy, decision_scenario(data));
});
