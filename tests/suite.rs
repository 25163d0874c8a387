//! The race suite, one module per idea, built as one test binary: `cargo test -p
//! race-regressions` runs it all, `cargo test -p race-regressions race_1341::` one module.

mod ambiguity;
mod check_api;
mod control_plane_network;
mod coverage;
mod determinism;
mod entry_points;
mod event_stream;
mod eviction;
mod historical_truth;
mod holds_and_death;
mod interleavings;
mod owned_sweep;
mod points;
mod properties;
mod race_1341;
mod readable;
mod regression_store;
mod shrunk_regressions;
mod system;
mod time_jumps;
mod trace;
mod user_invariants;
