//! The lifecycle implementations the harness can judge, by name.

use std::fmt;

use agent_lifecycle::{AgentManager, Lifecycle};
use lifecycle_models::{AbortTokenManager, LegacyManager, StartLockManager};

use crate::backend::FakeBackend;
use crate::decisions::Decisions;
use crate::run::{Outcome, ScenarioSpec, run_scenario};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Model {
    /// The original manager: a restart during startup leaks a session (#1341).
    Legacy,
    /// The first fix: an abort signal per record.
    AbortToken,
    /// The next fix: a per-agent lock around start; stop still outside it.
    StartLock,
    /// The production design: incarnations, leases, ordered operations.
    Owned,
}

impl Model {
    pub const ALL: [Model; 4] = [
        Model::Legacy,
        Model::AbortToken,
        Model::StartLock,
        Model::Owned,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Legacy => "legacy",
            Self::AbortToken => "abort-token",
            Self::StartLock => "start-lock",
            Self::Owned => "owned",
        }
    }

    pub fn about(self) -> &'static str {
        match self {
            Self::Legacy => {
                "the original manager; a start during Starting calls stop, which cannot reach the session still being created (#1341)"
            }
            Self::AbortToken => {
                "the first fix: an abort signal per record, checked at three points of the startup"
            }
            Self::StartLock => {
                "the next fix: abort-token plus a per-agent lock around start (stop stays outside)"
            }
            Self::Owned => {
                "the production design (crates/agent-lifecycle): one owner per incarnation, leases, ordered operations"
            }
        }
    }

    pub fn run(self, spec: &ScenarioSpec, decisions: Decisions, seed: u64) -> Outcome {
        fn go<M: Lifecycle<FakeBackend>>(spec: &ScenarioSpec, d: Decisions, seed: u64) -> Outcome {
            run_scenario::<M>(spec, d, seed)
        }
        match self {
            Self::Legacy => go::<LegacyManager<FakeBackend>>(spec, decisions, seed),
            Self::AbortToken => go::<AbortTokenManager<FakeBackend>>(spec, decisions, seed),
            Self::StartLock => go::<StartLockManager<FakeBackend>>(spec, decisions, seed),
            Self::Owned => go::<AgentManager<FakeBackend>>(spec, decisions, seed),
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
