//! What every check reads and says: the [`View`] after a step, what the live records claim,
//! and the [`Violation`] a check reports.

use std::collections::BTreeMap;

use agent_lifecycle::{AgentId, ServerId, SessionId, Snapshot};

use super::Invariant;
use crate::scenario::workload::OpKind;
use crate::world::history::OpId;
use crate::world::ledger::{Ledger, SessionRecord};

/// A broken invariant: which, what broke in words, and the sessions involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant broke.
    pub invariant: Invariant,
    /// What broke, in words.
    pub detail: String,
    /// The sessions involved.
    pub sessions: Vec<SessionId>,
}

impl Violation {
    /// A violation of `invariant`.
    pub fn new(invariant: Invariant, detail: String, sessions: Vec<SessionId>) -> Self {
        Self {
            invariant,
            detail,
            sessions,
        }
    }
}

pub(super) fn describe(s: &SessionRecord) -> String {
    let creator = s
        .creator
        .map(|op| format!(", created by op#{op}"))
        .unwrap_or_default();
    format!("{} (agent {}, on {}{creator})", s.id, s.agent, s.server)
}

pub(super) fn describe_all(sessions: &[&SessionRecord]) -> String {
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
    /// The backend's ground truth: every server and session, live or not.
    pub ledger: &'a Ledger,
    /// What the manager reports of itself.
    pub snapshot: &'a Snapshot,
    /// The operations issued and not yet returned.
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
pub(super) struct Claims<'a> {
    /// Live records' sessions.
    pub(super) tracked: Vec<(SessionId, &'a AgentId)>,
    /// Live (non-terminal) records that may own an unknown session on a server.
    pub(super) suspects: Vec<(&'a AgentId, ServerId)>,
}

impl<'a> Claims<'a> {
    pub(super) fn of(snapshot: &'a Snapshot) -> Self {
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

    pub(super) fn tracks(&self, s: &SessionRecord) -> bool {
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
    pub(super) fn owned_by_call(&self, s: &SessionRecord) -> bool {
        s.ambiguous || s.creator.is_some_and(|op| self.in_flight.contains_key(&op))
    }
}
