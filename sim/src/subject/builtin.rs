//! The built-in subjects: the three historical models (PRE, POST, LATEST) and the production
//! manager.

use std::fmt;

use agent_lifecycle::AgentManager;
use lifecycle_models::{AbortTokenManager, LegacyManager, StartLockManager};

use super::Subject;
use crate::decisions::Decisions;
use crate::run::{Callers, Outcome, RunConfig, run_scenario};
use crate::scenario::spec::ScenarioSpec;
#[cfg(feature = "system")]
use crate::system::registry::RegistryStyle;
#[cfg(feature = "system")]
use crate::system::scenario::SystemSpec;
#[cfg(feature = "system")]
use crate::system::scene::{ContainerStyle, SystemOutcome, run_system};
use crate::world::backend::FakeBackend;
#[cfg(feature = "system")]
use control_server::StopRoute;

/// The built-in subjects: the historical models and the production manager, each over the
/// fake backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Model {
    /// PRE, the #1341 code: a restart during startup leaks a session.
    Legacy,
    /// POST, PR #1862: an abort controller per record.
    AbortToken,
    /// LATEST, PR #3055: POST under a per-agent start lock; stop still outside it.
    StartLock,
    /// The production design: incarnations, leases, ordered operations.
    Owned,
}

impl Model {
    /// Every built-in subject.
    pub const ALL: [Model; 4] = [
        Model::Legacy,
        Model::AbortToken,
        Model::StartLock,
        Model::Owned,
    ];

    /// Its name (`--model`, case files' `expect`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Legacy => "legacy",
            Self::AbortToken => "abort-token",
            Self::StartLock => "start-lock",
            Self::Owned => "owned",
        }
    }

    /// One line on what it is.
    pub fn about(self) -> &'static str {
        match self {
            Self::Legacy => {
                "PRE, the #1341 code (SDK 7.2.14 answers): a start during Starting calls stopAgent, which cannot reach a startup with no session id yet"
            }
            Self::AbortToken => {
                "POST, PR #1862 (SDK 7.2.14 answers): an abort controller per record, checked after ensureSDKServer and after session.create; evict drains then stops all"
            }
            Self::StartLock => {
                "LATEST, PR #3055 (SDK 7.2.14 answers): POST with a per-agent start lock held through the initial prompt (stop and evict stay outside), creates through the stale-db fallback"
            }
            Self::Owned => {
                "the production design (crates/agent-lifecycle): one owner per incarnation, leases, ordered operations"
            }
        }
    }

    /// The four, as subjects (the CLI's default set).
    pub fn subjects() -> Vec<Box<dyn Subject>> {
        Self::ALL
            .into_iter()
            .map(|m| Box::new(m) as Box<dyn Subject>)
            .collect()
    }
}

impl Subject for Model {
    fn name(&self) -> &str {
        Model::name(*self)
    }

    fn about(&self) -> &str {
        Model::about(*self)
    }

    fn run(&self, spec: &ScenarioSpec, decisions: Decisions, seed: u64) -> Outcome {
        // A JS handler runs to its end whatever its client does: only owned is ever dropped.
        let config = RunConfig {
            callers: if *self == Self::Owned {
                Callers::MayDrop
            } else {
                Callers::Wait
            },
            invariants: Vec::new(),
            operations: Vec::new(),
        };
        let go = |f: fn(&ScenarioSpec, Decisions, u64, &RunConfig) -> Outcome| {
            f(spec, decisions, seed, &config)
        };
        match self {
            Self::Legacy => go(run_scenario::<LegacyManager<FakeBackend>>),
            Self::AbortToken => go(run_scenario::<AbortTokenManager<FakeBackend>>),
            Self::StartLock => go(run_scenario::<StartLockManager<FakeBackend>>),
            Self::Owned => go(run_scenario::<AgentManager<FakeBackend>>),
        }
    }

    fn expected_to_fail(&self) -> Option<&str> {
        (*self != Self::Owned)
            .then_some("a historical model: its known bugs are what the harness must find")
    }

    #[cfg(feature = "system")]
    fn run_system(&self, spec: &SystemSpec, seed: u64) -> Option<SystemOutcome> {
        // The historical containers answer from JS handlers that run to their end whatever
        // the client does; owned's router is the product's, as shipped. PRE has no registry;
        // POST and LATEST write theirs fire-and-forget (`docs/real-system.md`).
        let style = ContainerStyle {
            detach: *self != Self::Owned,
            registry: match self {
                Self::Legacy => RegistryStyle::None,
                Self::AbortToken | Self::StartLock => RegistryStyle::FireAndForget,
                Self::Owned => RegistryStyle::Ordered,
            },
            stop_route: if *self == Self::Owned {
                StopRoute::ForgetsFirst
            } else {
                StopRoute::NotFoundFirst
            },
        };
        Some(match self {
            Self::Legacy => run_system::<LegacyManager<FakeBackend>>(spec, seed, style, &[]),
            Self::AbortToken => {
                run_system::<AbortTokenManager<FakeBackend>>(spec, seed, style, &[])
            }
            Self::StartLock => run_system::<StartLockManager<FakeBackend>>(spec, seed, style, &[]),
            Self::Owned => run_system::<AgentManager<FakeBackend>>(spec, seed, style, &[]),
        })
    }

    fn catalog(&self) -> crate::coverage::Catalog {
        super::catalogs::of(*self)
    }

    fn rust_expr(&self) -> String {
        let variant = match self {
            Self::Legacy => "Legacy",
            Self::AbortToken => "AbortToken",
            Self::StartLock => "StartLock",
            Self::Owned => "Owned",
        };
        format!("lifecycle_sim::Model::{variant}")
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
