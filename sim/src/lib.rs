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
pub mod world;

pub use check::{Invariant, Violation};
pub use run::Outcome;
pub use scenario::case::Case;
pub use scenario::spec::{ScenarioSpec, Timing};
pub use scenario::{FaultMode, Scenario, Settings};
pub use subject::Model;
pub use world::schedule::Strategy;
