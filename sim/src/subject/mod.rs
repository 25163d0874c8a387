//! What the harness judges. A subject is a lifecycle manager under a name, with how its
//! callers behave and any invariants of its own; explore, replay, shrink, hunt, the
//! regression store, the fuzz targets and the CLI all take a `&dyn Subject`, so a manager of
//! anyone's runs under all of them with no edit to this crate.

mod builtin;
mod catalogs;

use std::marker::PhantomData;

use agent_lifecycle::Lifecycle;

use crate::check::{UserInvariant, View};
use crate::coverage::Catalog;
use crate::decisions::Decisions;
use crate::run::{Callers, Outcome, RunConfig, run_scenario};
use crate::scenario::spec::ScenarioSpec;
use crate::scenario::{Scenario, Settings};
#[cfg(feature = "system")]
use crate::system::registry::RegistryStyle;
#[cfg(feature = "system")]
use crate::system::scenario::SystemSpec;
#[cfg(feature = "system")]
use crate::system::scene::{ContainerStyle, SystemOutcome, run_system};
use crate::world::backend::FakeBackend;
#[cfg(feature = "system")]
use control_server::StopRoute;

pub use crate::run::operation::{Call, Operation, UserOperation};
pub use builtin::Model;

/// A lifecycle implementation the harness can run scenarios on.
pub trait Subject: Send + Sync {
    /// The name reports, case files (`expect`) and `--model` use.
    fn name(&self) -> &str;

    /// One line on what it is.
    fn about(&self) -> &str {
        ""
    }

    /// Runs one scenario: `spec` with the run's choices from `decisions`; `seed` seeds what
    /// turmoil draws itself.
    fn run(&self, spec: &ScenarioSpec, decisions: Decisions, seed: u64) -> Outcome;

    /// Why its violations are expected, if they are: a historical model is kept to show that
    /// the harness finds its real bugs. A sweep of every subject prints such failures only in
    /// its summary (unless `--verbose`), and they do not fail it.
    fn expected_to_fail(&self) -> Option<&str> {
        None
    }

    /// The names of its own invariants (what `hunt --invariant` accepts besides I1..L2).
    fn invariants(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// Its own operations, as the generator draws them (what `--ops` accepts besides the
    /// built-in kinds).
    fn operations(&self) -> Vec<crate::scenario::workload::OpDecl> {
        Vec::new()
    }

    /// An operation `spec`'s workload calls that this subject does not declare, if any: such
    /// a scenario cannot run on it.
    fn undeclared(&self, spec: &ScenarioSpec) -> Option<crate::scenario::workload::OpName> {
        let declared = self.operations();
        spec.workload.ops.iter().find_map(|op| match op.kind {
            crate::scenario::workload::OpKind::Custom(c)
                if !declared.iter().any(|d| d.name == c.name) =>
            {
                Some(c.name)
            }
            _ => None,
        })
    }

    /// Its coverage catalog: the points its manager declares, and those it cannot reach.
    fn catalog(&self) -> Catalog {
        Catalog::default()
    }

    /// Runs one system scenario (town and container over turmoil's network) on this
    /// subject as the container's manager; `None` if it cannot run in a system.
    #[cfg(feature = "system")]
    fn run_system(&self, _spec: &SystemSpec, _seed: u64) -> Option<SystemOutcome> {
        None
    }

    /// The invariant a system scenario violates on this subject, if any.
    #[cfg(feature = "system")]
    fn system_verdict(&self, spec: &SystemSpec, seed: u64) -> Option<crate::Invariant> {
        self.run_system(spec, seed)
            .and_then(|o| o.violation)
            .map(|v| v.invariant)
    }

    /// A Rust expression for this subject, for the regression tests `shrink` prints.
    fn rust_expr(&self) -> String {
        format!("your_subject() /* the subject named {:?} */", self.name())
    }
}

/// Any [`Lifecycle`] implementation over the fake backend, as a subject.
///
/// ```
/// use agent_lifecycle::AgentManager;
/// use lifecycle_sim::{FakeBackend, Manager, Subject};
///
/// let subject = Manager::<AgentManager<FakeBackend>>::new("mine")
///     .invariant("few-records", |view| {
///         let n = view.snapshot.agents.len();
///         if n <= 8 { Ok(()) } else { Err(format!("{n} records")) }
///     });
/// assert_eq!(subject.name(), "mine");
/// ```
pub struct Manager<M> {
    name: String,
    about: String,
    config: RunConfig,
    catalog: Catalog,
    manager: PhantomData<fn() -> M>,
}

impl<M: Lifecycle<FakeBackend>> Manager<M> {
    /// A subject whose operations' callers may go away mid-call (the `drops` fault family), as
    /// an HTTP client may.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            about: String::new(),
            config: RunConfig::default(),
            catalog: Catalog::default(),
            manager: PhantomData,
        }
    }

    /// One line on what it is, for `list` and reports.
    pub fn about(mut self, about: impl Into<String>) -> Self {
        self.about = about.into();
        self
    }

    /// Its callers always wait for an operation's end (its futures are never dropped), as a
    /// JS handler runs to its end whatever its client does.
    pub fn callers_wait(mut self) -> Self {
        self.config.callers = Callers::Wait;
        self
    }

    /// The coverage points its manager declares ([`agent_lifecycle::point!`]): a campaign
    /// reports each, and `--require-coverage` fails while one is never reached.
    pub fn points(
        mut self,
        points: impl IntoIterator<Item = agent_lifecycle::point::Point>,
    ) -> Self {
        self.catalog.declared.extend(points);
        self
    }

    /// A point (declared or world) it cannot reach, and why: reported, never required.
    pub fn unreachable(mut self, point: &'static str, why: &'static str) -> Self {
        self.catalog = self.catalog.unreachable(point, why);
        self
    }

    /// An operation of its own ([`Operation`]): generated, explored, shrunk, replayed and
    /// covered with the built-in ones.
    pub fn operation(mut self, operation: Operation<M>) -> Self {
        self.config.operations.push(operation.erase());
        self
    }

    /// An invariant of its own, checked with I1-I8 after every step. Its `name` is its code
    /// in reports and case files.
    pub fn invariant(
        mut self,
        name: &'static str,
        check: impl Fn(&View) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.config.invariants.push(UserInvariant::new(name, check));
        self
    }
}

impl<M: Lifecycle<FakeBackend>> Subject for Manager<M> {
    fn name(&self) -> &str {
        &self.name
    }

    fn about(&self) -> &str {
        &self.about
    }

    fn run(&self, spec: &ScenarioSpec, decisions: Decisions, seed: u64) -> Outcome {
        run_scenario::<M>(spec, decisions, seed, &self.config)
    }

    fn invariants(&self) -> Vec<&'static str> {
        self.config.invariants.iter().map(|i| i.name).collect()
    }

    fn operations(&self) -> Vec<crate::scenario::workload::OpDecl> {
        self.config.operations.iter().map(|o| o.decl()).collect()
    }

    fn catalog(&self) -> Catalog {
        match self.config.callers {
            Callers::MayDrop => self.catalog.clone(),
            Callers::Wait => catalogs::callers_wait(self.catalog.clone()),
        }
    }

    #[cfg(feature = "system")]
    fn run_system(&self, spec: &SystemSpec, seed: u64) -> Option<SystemOutcome> {
        // A user's container writes its registry whole before it answers, as ours does.
        let style = ContainerStyle {
            detach: self.config.callers == Callers::Wait,
            registry: RegistryStyle::Ordered,
            stop_route: StopRoute::ForgetsFirst,
        };
        Some(run_system::<M>(spec, seed, style, &self.config.invariants))
    }
}

/// A scenario runs on a subject (the method lives here, with what it runs on, so that a
/// scenario is data that knows nothing of subjects).
impl Scenario {
    /// Runs the scenario on `subject`.
    pub fn run(self, subject: &dyn Subject) -> Outcome {
        subject.run(&self.spec, self.decisions, self.seed.unwrap_or(0))
    }
}

/// Settings meet a subject here, as scenarios do, so that settings are data that know
/// nothing of subjects.
impl Settings {
    /// These settings for `subject`: its own operations join the draw (unless the settings
    /// name some already).
    pub fn for_subject(&self, subject: &dyn Subject) -> Self {
        let mut settings = self.clone();
        if settings.custom.is_empty() {
            settings.custom = subject.operations();
        }
        settings
    }
}

/// The subject called `name`, of `subjects`.
pub fn find<'a>(subjects: &'a [Box<dyn Subject>], name: &str) -> Option<&'a dyn Subject> {
    subjects
        .iter()
        .find(|s| s.name() == name)
        .map(|s| s.as_ref())
}

impl std::fmt::Display for dyn Subject + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
