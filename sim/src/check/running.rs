//! L5 (running before the turn ends): a start whose initial prompt reached the server and
//! whose turn has been under way longer than a request takes shows its record Running while
//! the prompt is still out. kilo-serve's `session.prompt` blocks for the model's whole turn
//! (minutes); a record left Starting all that time is an agent the control plane believes
//! is still coming up (PR #1828, "mark running before initial prompt"). Judged only for a
//! start with no other operation of its agent in flight at any moment of it, and only a
//! record still Starting (or absent) fails: one the manager ended meanwhile (a failure it
//! learned of) is not being held on to.

use std::collections::BTreeSet;

use agent_lifecycle::Status;

use super::watch::{Issue, Return, Watch};
use super::{Invariant, View, Violation, concerns};
use crate::scenario::names::agent_id;
use crate::scenario::spec::Timing;
use crate::scenario::workload::OpKind;
use crate::world::history::OpId;

/// L5's memory: the starts in flight that another operation of their agent disturbed (a
/// stop, a restart, an eviction...: their record may rightly be anything then).
pub(super) struct RunningBeforeTurnEnds {
    /// A turn under way longer than this is a turn, not a request: the latency bound.
    bound_ms: u64,
    disturbed: BTreeSet<OpId>,
}

impl RunningBeforeTurnEnds {
    pub(super) fn new(timing: &Timing) -> Self {
        Self {
            bound_ms: u64::from(timing.max_latency_ms),
            disturbed: BTreeSet::new(),
        }
    }
}

impl Watch for RunningBeforeTurnEnds {
    /// A start is disturbed by any other operation of its agent in flight with it, issued
    /// before it or after.
    fn on_issue(&mut self, issue: &Issue<'_>) {
        for (&op, &kind) in issue.in_flight {
            if let OpKind::Start(a) = kind
                && concerns(issue.kind, &agent_id(a))
            {
                self.disturbed.insert(op);
            }
            if let OpKind::Start(a) = issue.kind
                && concerns(kind, &agent_id(a))
            {
                self.disturbed.insert(issue.op);
            }
        }
    }

    fn on_return(&mut self, ret: &Return<'_>) -> Result<(), Violation> {
        self.disturbed.remove(&ret.op);
        Ok(())
    }

    fn on_drop(&mut self, op: OpId) {
        self.disturbed.remove(&op);
    }

    fn on_bounce(&mut self) {
        self.disturbed.clear();
    }

    fn on_step(&mut self, view: &View<'_>) -> Result<(), Violation> {
        for s in view.ledger.live_sessions() {
            let Some((since, Some(op))) = s.turn else {
                continue;
            };
            let Some(&OpKind::Start(a)) = view.in_flight.get(&op) else {
                continue;
            };
            let under_way = view.now_ms.saturating_sub(since);
            if under_way <= self.bound_ms || agent_id(a) != s.agent || self.disturbed.contains(&op)
            {
                continue;
            }
            // Starting (or no record at all) is what L5 forbids; a record the manager already
            // ended or is ending (a failure it learned of: its event subscription failed, say)
            // is not held on to.
            let record = view.snapshot.agents.iter().find(|r| r.agent == s.agent);
            if record.is_some_and(|r| r.status != Status::Starting) {
                continue;
            }
            let status = record.map_or("absent".to_string(), |r| format!("{:?}", r.status));
            return Err(Violation::new(
                Invariant::L5,
                format!(
                    "op#{op} start {}: its prompt of {} has run a turn for {under_way} ms (longer than the {} ms a request takes), but the record is {status}",
                    s.agent, s.id, self.bound_ms
                ),
                vec![s.id],
            ));
        }
        Ok(())
    }
}
