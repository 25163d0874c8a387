//! lifecycle-sim: a deterministic simulation harness for the agent lifecycle manager.
//!
//! A scenario runs a lifecycle implementation (a [`Model`]) inside a turmoil host against a
//! fault-injecting fake session backend, with every choice drawn from one decision stream, and
//! checks after every simulated step that the sessions the manager tracks are exactly the
//! sessions that are live.

pub mod backend;
pub mod bench;
pub mod case;
pub mod catalog;
pub mod check;
pub mod decisions;
pub mod explore;
pub mod faults;
pub mod fuzzing;
pub mod history;
pub mod ledger;
pub mod logging;
pub mod mailbox;
pub mod models;
pub mod report;
pub mod reports;
pub mod run;
pub mod scenario;
pub mod schedule;
pub mod shrink;
pub mod strategies;
pub mod stress;
pub mod trace;
pub mod workload;
pub mod world;

pub use case::Case;
pub use check::{Invariant, Violation};
pub use models::Model;
pub use run::{Outcome, ScenarioSpec, Timing};
pub use scenario::{FaultMode, Scenario, Settings};
pub use schedule::Strategy;
