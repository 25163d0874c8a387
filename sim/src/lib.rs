//! lifecycle-sim: a deterministic simulation harness for lifecycle managers.
//!
//! A scenario runs a lifecycle implementation (a [`Subject`]) inside a turmoil host against a
//! fault-injecting fake session backend, with every choice drawn from one decision stream, and
//! checks after every simulated step that the sessions the manager tracks are exactly the
//! sessions that are live.

pub mod check;
#[cfg(feature = "cli")]
pub mod cli;
pub mod decisions;
pub mod explore;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod logging;
pub mod report;
pub mod run;
pub mod scenario;
pub mod subject;
pub mod testing;
pub mod world;

pub use check::{Invariant, UserInvariant, View, Violation};
pub use run::Outcome;
pub use scenario::builder::Story;
pub use scenario::case::Case;
pub use scenario::faults::FaultConfig;
pub use scenario::spec::Strategy;
pub use scenario::spec::{ScenarioSpec, Timing};
pub use scenario::workload::CallKind;
pub use scenario::{FaultMode, Scenario, Settings};
pub use subject::{Manager, Model, Subject};
pub use testing::{
    Finding, Seeds, Source, Verdict, check_dfs, check_pct, check_random, replay, run_once,
};
pub use world::backend::FakeBackend;
