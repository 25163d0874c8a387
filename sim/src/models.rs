//! The lifecycle implementations the harness can judge, by name.

use std::fmt;

use agent_lifecycle::{AgentManager, Lifecycle};
use lifecycle_models::{AbortTokenManager, LegacyManager, StartLockManager};

use crate::backend::FakeBackend;
use crate::decisions::Decisions;
use crate::run::{Outcome, ScenarioSpec, run_scenario};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
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
                "PRE, the #1341 code (seed-system.md): a start during Starting calls stopAgent, which cannot reach a startup with no session id yet"
            }
            Self::AbortToken => {
                "POST, PR #1862: an abort controller per record, checked after ensureSDKServer and after session.create; evict drains then stops all"
            }
            Self::StartLock => {
                "LATEST, PR #3055: POST with a per-agent start lock held through the initial prompt (stop and evict stay outside)"
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
