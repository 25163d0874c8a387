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
//! A manager of one's own runs the same way: see [`Manager`] and the tutorial below.
//!
//! # Tutorial
//!
//! Four short steps, each an example that `cargo test` runs. The repository's `docs/` folder
//! says more about each topic: `docs/exploring.md` (strategies, scenarios, failures, cases),
//! `docs/invariants.md` (what I1..L2 mean), `docs/your-own-manager.md`.
//!
//! ## 1. A historical model finds its bug; the owned model holds
//!
//! A [`Story`] is a scenario written the way a bug report tells it. Here is #1341 at its
//! smallest: a0 is started, and started again at once. [`check_dfs`] runs every schedule of
//! the story: the order in which the two starts' calls are answered, and where in the first
//! start the second one arrives. `legacy` (PRE, the #1341 code) leaks a session on one of
//! them; `owned` (the production manager) holds on all of them.
//!
//! ```
//! use lifecycle_sim::{Invariant, Model, Story, check_dfs, check_pct};
//!
//! let story = Story::new().agents(["a0"]).start("a0").start("a0");
//!
//! // The first failing schedule; `expect_violation` panics if there is none, or another.
//! let leak = check_dfs(&Model::Legacy, &story, 1_000).expect_violation(Invariant::I1);
//! // Its report is the timeline a person reads, with the case that replays it.
//! assert!(leak.report("legacy").contains("VIOLATION I1"));
//!
//! // owned: every schedule was run, and none broke anything.
//! let verdict = check_dfs(&Model::Owned, &story, 1_000);
//! assert_eq!(verdict.exhausted, Some(true));
//! verdict.assert_holds();
//!
//! // The same story under PCT (depth 3), 50 seeds: still nothing.
//! check_pct(&Model::Owned, &story, 3, 50).assert_holds();
//! ```
//!
//! [`check_random`] runs seeds with random latencies, on a story or on generated scenarios
//! ([`Settings`]: a workload, a fault mix and a schedule drawn from each seed). On a failure
//! `assert_holds` shrinks it and panics with the small timeline and its case.
//!
//! ```
//! use lifecycle_sim::{Model, Settings, check_random};
//!
//! check_random(&Model::Owned, &Settings::default(), 30).assert_holds();
//! let found = check_random(&Model::Legacy, &Settings::default(), 200);
//! assert!(found.finding.is_some(), "PRE fails generated scenarios within 200 seeds");
//! ```
//!
//! ## 2. Your own manager
//!
//! Anything that implements [`agent_lifecycle::Lifecycle`] over the [`FakeBackend`] is a
//! subject: wrap it in [`Manager`] and every check, explore, shrink and replay takes it. This
//! one is the production manager with one mistake: its eviction says it is done without doing
//! anything. An eviction that arrives while a0's first prompt is in flight catches it (I7: an
//! eviction that returns Ok leaves no live session and no running server).
//!
//! ```
//! use agent_lifecycle::{
//!     AgentId, AgentManager, Lifecycle, LifecycleError, ManagerConfig, SessionBackend,
//!     Snapshot, StartRequest,
//! };
//! use lifecycle_sim::{CallKind, FakeBackend, Invariant, Manager, Model, Story, check_random};
//!
//! /// `owned`, except that `evict` returns at once.
//! struct Hasty<B: SessionBackend>(AgentManager<B>);
//!
//! impl<B: SessionBackend> Lifecycle<B> for Hasty<B> {
//!     fn new(backend: B, config: ManagerConfig) -> Self {
//!         Self(AgentManager::new(backend, config))
//!     }
//!     async fn start(&self, request: StartRequest) -> Result<(), LifecycleError> {
//!         self.0.start(request).await
//!     }
//!     async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
//!         self.0.stop(agent).await
//!     }
//!     async fn evict(&self) -> Result<(), LifecycleError> {
//!         Ok(()) // the mistake: nothing is stopped, nothing is closed
//!     }
//!     fn snapshot(&self) -> Snapshot {
//!         self.0.snapshot()
//!     }
//! }
//!
//! let hasty = Manager::<Hasty<FakeBackend>>::new("hasty");
//! let story = Story::new()
//!     .agents(["a0"])
//!     .start("a0")
//!     .evict().while_pending(CallKind::Prompt, "a0");
//! check_random(&hasty, &story, 10).expect_violation(Invariant::I7);
//! check_random(&Model::Owned, &story, 10).assert_holds();
//! ```
//!
//! [`Manager::callers_wait`] keeps callers from going away mid-call (as a JS handler runs to
//! its end), [`Manager::points`] declares the manager's coverage points, and
//! `lifecycle_sim::cli::main_with` is the whole `lifecycle-sim` command line on a list of
//! subjects. `examples/custom-manager` in the repository is a manager written from scratch
//! and judged this way.
//!
//! ## 3. Replaying a case
//!
//! A finding carries a [`Case`]: the scenario saved whole, with every choice its run drew.
//! Replayed, it does the same thing again, step for step. Saved as JSON, it is what `explore
//! --save-failures` writes and what the regression store in `tests/cases/` holds; each file
//! there names the verdict each model must reach.
//!
//! ```
//! use lifecycle_sim::{Case, Invariant, Model, Story, check_dfs, replay};
//!
//! let story = Story::new().agents(["a0"]).start("a0").start("a0");
//! let leak = check_dfs(&Model::Legacy, &story, 1_000).expect_violation(Invariant::I1);
//!
//! // Through JSON, as a saved file would be, and back: the same violation, the same history.
//! let case = Case::from_json(&leak.case.to_json()).unwrap();
//! let again = replay(&Model::Legacy, &case);
//! assert_eq!(again.violation, leak.outcome.violation);
//! assert_eq!(again.history.digest(), leak.outcome.history.digest());
//!
//! // A case from the regression store, on each model it names.
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/cases/legacy-I1-seed17.json");
//! let stored = Case::load(path.as_ref()).unwrap();
//! assert_eq!(Case::verdict(&replay(&Model::Legacy, &stored)), stored.expect["legacy"]);
//! assert_eq!(Case::verdict(&replay(&Model::Owned, &stored)), stored.expect["owned"]);
//! ```
//!
//! From the command line: `lifecycle-sim replay --model legacy --decisions FILE` prints the
//! same report, byte for byte, and `--trace-out FILE` writes it as a Perfetto trace.
//!
//! ## 4. Invariants of your own
//!
//! [`Manager::invariant`] adds a check of a manager's own. It sees the same [`View`] the
//! built-in invariants see (the backend's ledger, the manager's snapshot, the operations in
//! flight), after every step, and a finding names it as [`Invariant::User`]. Here: the
//! production manager, with a rule that two agents break at once.
//!
//! ```
//! use agent_lifecycle::AgentManager;
//! use lifecycle_sim::{FakeBackend, Invariant, Manager, Model, Story, check_random, replay};
//!
//! let owned_alone = Manager::<AgentManager<FakeBackend>>::new("owned-alone").invariant(
//!     "at-most-one-record",
//!     |view| match view.snapshot.agents.len() {
//!         0 | 1 => Ok(()),
//!         n => Err(format!("{n} records")),
//!     },
//! );
//! let story = Story::new().agents(["a0", "a1"]).start("a0").start("a1").at_ms(50);
//!
//! let found = check_random(&owned_alone, &story, 10)
//!     .expect_violation(Invariant::User("at-most-one-record"));
//! assert_eq!(found.violation().detail, "2 records");
//! // Its case replays like any other, and nothing built in breaks on it.
//! assert_eq!(replay(&owned_alone, &found.case).violation, found.outcome.violation);
//! assert_eq!(replay(&Model::Owned, &found.case).violation, None);
//! ```

#![warn(missing_docs)]

pub mod check;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "system")]
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
pub(crate) mod schedule;
pub mod subject;
#[cfg(feature = "system")]
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
pub use scenario::workload::{CallKind, OpDecl, OpKind, OpName};
pub use scenario::{FaultMode, Scenario, Settings};
pub use subject::{Call, Manager, Model, Operation, Subject};
pub use testing::{
    CheckOptions, Finding, Seeds, Source, Verdict, check_dfs, check_pct, check_random, replay,
    run_once,
};
pub use world::backend::FakeBackend;

/// The manager side, re-exported so that a crate with a manager of its own needs only this
/// crate: the whole `agent_lifecycle` crate, and at the top what implementing
/// [`Lifecycle`] over a [`SessionBackend`] takes (the [`point!`] macro and
/// [`point::Point`] declare coverage points).
pub use agent_lifecycle;
pub use agent_lifecycle::{
    AgentId, AgentManager, AgentSnapshot, BackendError, Lifecycle, LifecycleError, ManagerConfig,
    ServerId, ServerSnapshot, SessionBackend, SessionEvent, SessionId, Snapshot, StartRequest,
    Status, Workdir, bounded, point,
};
