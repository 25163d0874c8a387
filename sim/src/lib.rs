//! lifecycle-sim: a deterministic simulation harness for lifecycle managers.
//!
//! A scenario runs a lifecycle implementation (a [`Subject`]) inside a turmoil host against a
//! fault-injecting fake session backend, with every choice drawn from one decision stream, and
//! checks after every simulated step that the sessions the manager tracks are exactly the
//! sessions that are live.
//!
//! ```
//! use lifecycle_sim::{CallKind, Invariant, Model, Story, check_random};
//!
//! // #1341: a0 is restarted while its first session is being created, a1 keeping the server up.
//! let story = Story::new()
//!     .agents(["a0", "a1"])
//!     .start("a1")
//!     .start("a0").at_ms(30)
//!     .start("a0").while_pending(CallKind::CreateSession, "a0");
//! check_random(&Model::Owned, &story, 20).assert_holds();
//! let leak = check_random(&Model::Legacy, &story, 20).finding.expect("PRE leaks");
//! assert!(matches!(leak.invariant(), Invariant::I1 | Invariant::I5));
//! ```
//!
//! A manager of one's own runs the same way: see [`Manager`] and the README's "Your own
//! manager".

#![warn(missing_docs)]

pub mod check;
#[cfg(feature = "cli")]
pub mod cli;
pub mod contract;
pub mod coverage;
pub mod decisions;
pub mod explore;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub(crate) mod logging;
pub mod report;
pub mod run;
pub mod scenario;
pub mod subject;
pub mod system;
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
