//! Head to head: the races of the panel (`panel.json`), each hunted by this harness's
//! strategies and by the tools a team would reach for instead, on the same manager code and
//! the same workload, each contender judged by the harness's own checks. A race runs on one of
//! the harness's historical models or on a real bug's pre-fix manager (`crates/real-bugs`:
//! #1995, #1075, #2835 twice, #3151, #1828), which every contender runs as its own build of
//! that manager ([`target`]).
//!
//! The library holds what needs no peer crate: the panel, the contenders' fake backend, the
//! driver that plays a race's workload on any tokio runtime, and the contenders built on tokio
//! and turmoil alone. The peers (proptest-state-machine) are the bench's dev-dependencies
//! (`benches/head_to_head/`), never the library's.

pub mod contenders;
pub mod cpu;
pub mod panel;
pub mod plain_backend;
pub mod play;
pub mod sequential;
pub mod table;
pub mod target;

pub use panel::{Race, load_panel};
pub use table::{Attempt, Tally};
pub use target::{RealBug, Target};
