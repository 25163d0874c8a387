//! The invariants (design.md §1), judged against the backend's ledger, the manager's snapshot,
//! and the operations in flight: after every simulation step, when an operation returns, when
//! a server is closed, once settled, and at the end; and a user's own, after every step.

mod checker;
mod close;
mod liveness;
mod progress;
mod returns;
mod settle;
mod status;
mod step;
mod user;

use std::collections::BTreeMap;
use std::fmt;

use agent_lifecycle::{AgentId, ServerId, SessionId, Snapshot};

use crate::scenario::workload::OpKind;
use crate::world::history::OpId;
use crate::world::ledger::{Ledger, SessionRecord};

pub use checker::Checker;
pub use close::check_close;
pub use liveness::{stalled_after_return, stalled_in_flight};
pub use progress::{Issued, judge_progress};
pub use returns::{check_cancelled_start, check_evicted};
pub use settle::{check_all_stopped, check_settled};
pub use status::{StatusWatch, check_side_state};
pub use step::check_step;
pub use user::UserInvariant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    I1,
    I2,
    I3,
    I4,
    I5,
    I6,
    I7,
    I8,
    L1,
    /// Progress: with the faults off, a start nothing superseded ends Running and a stop
    /// leaves its agent Exited with nothing live.
    L2,
    /// A task of the container (the manager's, or one it spawned) panicked.
    Panic,
    /// An invariant of the subject's own ([`UserInvariant`]), by its name.
    User(&'static str),
    /// System (town and container over the network): never two live sessions of one agent
    /// at the same instant, anywhere.
    S1,
    /// System, after convergence: every agent the town believes working has exactly one live
    /// session and was heard from (a heartbeat) within the liveness bound, and no live session
    /// belongs to an agent the town believes idle or done.
    S2,
    /// System: no duplicate dispatch: a dispatch the town wrote off as failed, and followed
    /// with another, never took effect in the container.
    S3,
    /// System: no resurrection: boot hydration after an eviction never starts an agent whose
    /// stop the container acknowledged to the town.
    S4,
}

impl Invariant {
    pub const ALL: [Invariant; 15] = [
        Self::I1,
        Self::I2,
        Self::I3,
        Self::I4,
        Self::I5,
        Self::I6,
        Self::I7,
        Self::I8,
        Self::L1,
        Self::L2,
        Self::Panic,
        Self::S1,
        Self::S2,
        Self::S3,
        Self::S4,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Self::I1 => "tracked == live",
            Self::I2 => "one per agent",
            Self::I3 => "reference counts",
            Self::I4 => "release exactly once",
            Self::I5 => "stop is terminal",
            Self::I6 => "cancellation wins",
            Self::I7 => "eviction leaves nothing",
            Self::I8 => "status moves forward only",
            Self::L1 => "liveness",
            Self::L2 => "progress",
            Self::Panic => "a task panicked",
            Self::User(_) => "the subject's own invariant",
            Self::S1 => "one live session per agent, system-wide",
            Self::S2 => "town and container agree",
            Self::S3 => "no duplicate dispatch",
            Self::S4 => "no resurrection after a stop",
        }
    }

    /// The short name reports, case files and `--invariant` use: `I1`..`I8`, `L1`, `L2`,
    /// `panic`, or a user invariant's own name.
    pub fn code(self) -> String {
        match self {
            Self::Panic => "panic".to_string(),
            Self::User(name) => name.to_string(),
            _ => format!("{self:?}"),
        }
    }

    /// The Rust name of the variant (`Invariant::Panic`), for generated code.
    pub fn variant(self) -> String {
        format!("{self:?}")
    }

    /// A built-in invariant by its code (user invariants are found by their subject).
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|i| i.code().eq_ignore_ascii_case(code))
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.title())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub invariant: Invariant,
    pub detail: String,
    pub sessions: Vec<SessionId>,
}

impl Violation {
    pub fn new(invariant: Invariant, detail: String, sessions: Vec<SessionId>) -> Self {
        Self {
            invariant,
            detail,
            sessions,
        }
    }
}

fn describe(s: &SessionRecord) -> String {
    let creator = s
        .creator
        .map(|op| format!(", created by op#{op}"))
        .unwrap_or_default();
    format!("{} (agent {}, on {}{creator})", s.id, s.agent, s.server)
}

fn describe_all(sessions: &[&SessionRecord]) -> String {
    sessions
        .iter()
        .map(|s| describe(s))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What the checker sees after a step.
pub struct View<'a> {
    /// The simulated time of the step.
    pub now_ms: u64,
    pub ledger: &'a Ledger,
    pub snapshot: &'a Snapshot,
    pub in_flight: &'a BTreeMap<OpId, OpKind>,
    /// No operation and no backend call in flight.
    pub quiescent: bool,
    /// For each agent, the newest stop that returned successfully: sessions of the agent made
    /// by operations issued before it must be dead.
    pub stop_barriers: &'a BTreeMap<AgentId, OpId>,
}

/// What the live records claim, worked out once per step (a handful of entries, so lists).
///
/// A record's `suspect_on` (a failed create on that server may have left a session) is the
/// manager's own word, so it excuses an untracked session of that agent on that server only
/// while the record that says it is live (non-terminal), and only in the per-step checks:
/// at settle ([`check_settled`]) and after the final stop ([`check_all_stopped`]) every live
/// session must be exactly a live record's session.
struct Claims<'a> {
    /// Live records' sessions.
    tracked: Vec<(SessionId, &'a AgentId)>,
    /// Live (non-terminal) records that may own an unknown session on a server.
    suspects: Vec<(&'a AgentId, ServerId)>,
}

impl<'a> Claims<'a> {
    fn of(snapshot: &'a Snapshot) -> Self {
        let live = || snapshot.agents.iter().filter(|r| !r.status.is_terminal());
        Self {
            tracked: live()
                .filter_map(|r| Some((r.session?, &r.agent)))
                .collect(),
            suspects: live()
                .filter_map(|r| Some((&r.agent, r.suspect_on?)))
                .collect(),
        }
    }

    fn tracks(&self, s: &SessionRecord) -> bool {
        self.tracked.iter().any(|(id, _)| *id == s.id)
            || self
                .suspects
                .iter()
                .any(|(a, server)| **a == s.agent && *server == s.server)
    }
}

impl View<'_> {
    /// Whether a live session is not yet the manager's to answer for, step by step: its
    /// creating start is still in flight, or it was made by a call whose caller never heard of
    /// it (a lost reply, a late effect), which the manager can only find out about later. Both
    /// are judged at settle, at eviction and after the final stop.
    fn owned_by_call(&self, s: &SessionRecord) -> bool {
        s.ambiguous || s.creator.is_some_and(|op| self.in_flight.contains_key(&op))
    }
}
