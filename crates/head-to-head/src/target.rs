//! What a race is run on: one of the harness's built-in models, or a real bug's manager from
//! `crates/real-bugs` (the real project's lifecycle bugs, each a small manager written through
//! the public API, before and after its fix). Each contender turns a target into its manager
//! type here, so a target added is a line in each dispatch, not a change to the contenders.

use agent_lifecycle::point::Point;
use agent_lifecycle::{AgentManager, Lifecycle};
use lifecycle_models::{AbortTokenManager, LegacyManager, StartLockManager};
use lifecycle_sim::{FakeBackend, Manager, Model, Subject};
use real_bugs::{
    AbortOrphan, HydrationLock, RefreshOrphan, RefreshStarting, ServerLeak, StuckStarting,
    abort_orphan, hydration_lock, refresh_orphan, refresh_starting, server_leak, stuck_starting,
};

use crate::plain_backend::PlainBackend;

/// A manager a race is run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A built-in model (`lifecycle_sim::Model`).
    Model(Model),
    /// A real bug's manager, before its fix or with it.
    RealBug { bug: RealBug, fixed: bool },
}

/// The real project's bugs of `crates/real-bugs`, one manager each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RealBug {
    /// #1995: the abort check ran before the session id was stored.
    AbortOrphan,
    /// #1075: the idle and stream exits kept the workdir's count.
    ServerLeak,
    /// #2835 (a): a refresh restarted an agent still starting.
    RefreshStarting,
    /// #2835 (b): a refresh whose server spawn timed out left that server running.
    RefreshOrphan,
    /// #3151: boot hydration held the lock user starts queue behind.
    HydrationLock,
    /// #1828: the record became running only once the initial prompt returned.
    StuckStarting,
}

impl RealBug {
    pub const ALL: [RealBug; 6] = [
        RealBug::AbortOrphan,
        RealBug::ServerLeak,
        RealBug::RefreshStarting,
        RealBug::RefreshOrphan,
        RealBug::HydrationLock,
        RealBug::StuckStarting,
    ];

    /// Its subject's name in `crates/real-bugs/tests/suite.rs` and the case files' `expect`.
    pub fn name(self, fixed: bool) -> &'static str {
        match (self, fixed) {
            (Self::AbortOrphan, false) => "abort-orphan-pre",
            (Self::AbortOrphan, true) => "abort-orphan-fixed",
            (Self::ServerLeak, false) => "server-leak-pre",
            (Self::ServerLeak, true) => "server-leak-fixed",
            (Self::RefreshStarting, false) => "refresh-starting-pre",
            (Self::RefreshStarting, true) => "refresh-starting-fixed",
            (Self::RefreshOrphan, false) => "refresh-orphan-pre",
            (Self::RefreshOrphan, true) => "refresh-orphan-fixed",
            (Self::HydrationLock, false) => "hydration-lock-pre",
            (Self::HydrationLock, true) => "hydration-lock-fixed",
            (Self::StuckStarting, false) => "stuck-starting-pre",
            (Self::StuckStarting, true) => "stuck-starting-fixed",
        }
    }
}

/// What to do with a target's manager type on the plain backend (the contenders that run the
/// managers on tokio: turmoil alone, the stress test, proptest-state-machine).
pub trait OnManager {
    type Output;
    fn on<M: Lifecycle<PlainBackend>>(self) -> Self::Output;
}

impl Target {
    /// The target a panel names: a model (`"legacy"`) or a real bug's subject
    /// (`"abort-orphan-pre"`).
    pub fn model(name: &str) -> Option<Target> {
        Model::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .map(Target::Model)
    }

    /// The real bug's manager named `name` (`"abort-orphan-pre"`, `"abort-orphan-fixed"`).
    pub fn real_bug(name: &str) -> Option<Target> {
        RealBug::ALL.into_iter().find_map(|bug| {
            [false, true]
                .into_iter()
                .find(|&fixed| bug.name(fixed) == name)
                .map(|fixed| Target::RealBug { bug, fixed })
        })
    }

    /// Its name, as the table prints it.
    pub fn name(self) -> &'static str {
        match self {
            Target::Model(m) => m.name(),
            Target::RealBug { bug, fixed } => bug.name(fixed),
        }
    }

    /// The same manager with its bug fixed: the production manager for a model, the fixed
    /// manager for a real bug. It must pass the race's workload.
    pub fn fixed(self) -> Target {
        match self {
            Target::Model(_) => Target::Model(Model::Owned),
            Target::RealBug { bug, .. } => Target::RealBug { bug, fixed: true },
        }
    }

    /// The harness's subject: the model itself, or the real bug's manager over the fake
    /// backend, as `crates/real-bugs/tests/suite.rs` wraps it.
    pub fn subject(self) -> Box<dyn Subject> {
        match self {
            Target::Model(m) => Box::new(m),
            Target::RealBug { bug, fixed: false } => real_bug_subject::<false>(bug),
            Target::RealBug { bug, fixed: true } => real_bug_subject::<true>(bug),
        }
    }

    /// Runs `v` on the target's manager over the plain backend.
    pub fn on_plain_backend<V: OnManager>(self, v: V) -> V::Output {
        match self {
            Target::Model(Model::Legacy) => v.on::<LegacyManager<PlainBackend>>(),
            Target::Model(Model::AbortToken) => v.on::<AbortTokenManager<PlainBackend>>(),
            Target::Model(Model::StartLock) => v.on::<StartLockManager<PlainBackend>>(),
            Target::Model(Model::Owned) => v.on::<AgentManager<PlainBackend>>(),
            // `Model` is non-exhaustive: a model added to the harness is not on this panel yet.
            Target::Model(other) => {
                panic!("head-to-head has no plain-backend manager for {other:?}")
            }
            Target::RealBug { bug, fixed: false } => on_real_bug::<false, V>(bug, v),
            Target::RealBug { bug, fixed: true } => on_real_bug::<true, V>(bug, v),
        }
    }
}

fn on_real_bug<const FIXED: bool, V: OnManager>(bug: RealBug, v: V) -> V::Output {
    match bug {
        RealBug::AbortOrphan => v.on::<AbortOrphan<PlainBackend, FIXED>>(),
        RealBug::ServerLeak => v.on::<ServerLeak<PlainBackend, FIXED>>(),
        RealBug::RefreshStarting => v.on::<RefreshStarting<PlainBackend, FIXED>>(),
        RealBug::RefreshOrphan => v.on::<RefreshOrphan<PlainBackend, FIXED>>(),
        RealBug::HydrationLock => v.on::<HydrationLock<PlainBackend, FIXED>>(),
        RealBug::StuckStarting => v.on::<StuckStarting<PlainBackend, FIXED>>(),
    }
}

/// A real bug's manager as a subject: its callers wait (the real handlers run to their end),
/// with the coverage points of its campaign.
fn real_bug_subject<const FIXED: bool>(bug: RealBug) -> Box<dyn Subject> {
    fn wrap<M: Lifecycle<FakeBackend>>(name: &str, points: Vec<Point>) -> Box<dyn Subject> {
        Box::new(Manager::<M>::new(name).callers_wait().points(points))
    }
    let name = bug.name(FIXED);
    match bug {
        RealBug::AbortOrphan => {
            wrap::<AbortOrphan<FakeBackend, FIXED>>(name, abort_orphan::points())
        }
        RealBug::ServerLeak => wrap::<ServerLeak<FakeBackend, FIXED>>(name, server_leak::points()),
        RealBug::RefreshStarting => {
            wrap::<RefreshStarting<FakeBackend, FIXED>>(name, refresh_starting::points())
        }
        RealBug::RefreshOrphan => {
            wrap::<RefreshOrphan<FakeBackend, FIXED>>(name, refresh_orphan::points())
        }
        RealBug::HydrationLock => {
            wrap::<HydrationLock<FakeBackend, FIXED>>(name, hydration_lock::points())
        }
        RealBug::StuckStarting => {
            wrap::<StuckStarting<FakeBackend, FIXED>>(name, stuck_starting::points())
        }
    }
}
