//! The invariants (design.md §1), judged against the backend's ledger, the manager's snapshot,
//! and the operations in flight: after every simulation step, when an operation returns, when
//! a server is closed, once settled, and at the end; and a user's own, after every step.

mod cancelled;
mod checker;
mod close;
mod evicted;
mod invariant;
mod liveness;
mod progress;
mod settle;
mod status;
mod stop;
mod user;
mod watch;

use agent_lifecycle::{AgentId, ServerId, SessionId, Snapshot};
use std::collections::BTreeMap;

use crate::scenario::workload::OpKind;
use crate::world::history::OpId;
use crate::world::ledger::{Ledger, SessionRecord};

pub use cancelled::check_cancelled_start;
pub use checker::Checker;
pub use close::check_close;
pub use evicted::check_evicted;
pub use invariant::{Invariant, check_step};
pub use liveness::{stalled_after_return, stalled_in_flight};
pub use settle::{check_all_stopped, check_settled};
pub use stop::check_side_state;
pub use user::UserInvariant;
pub use watch::{Issue, Return, Watch};

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
