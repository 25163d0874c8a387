//! I5 (stop is terminal): once a stop returns, nothing of the agent from before it lives on:
//! no session, and no side state (timers, event streams) acting for a stopped incarnation.

use std::collections::BTreeMap;

use agent_lifecycle::{AgentId, SessionId, Snapshot};

use super::watch::{Issue, Return, Watch};
use super::{Invariant, View, Violation, describe};
use crate::scenario::names::agent_id;
use crate::scenario::workload::OpKind;
use crate::world::history::OpId;
use crate::world::ledger::Ledger;

/// I5's memory.
#[derive(Default)]
pub(super) struct StopIsTerminal {
    /// For each agent, the newest stop that returned successfully: sessions of the agent made
    /// by operations issued before it must be dead.
    barriers: BTreeMap<AgentId, OpId>,
    /// For each agent, the newest incarnation that existed when its newest returned stop was
    /// issued: records made later may belong to later starts.
    stopped_incarnations: BTreeMap<AgentId, u64>,
    /// The same, for each stop in flight.
    at_issue: BTreeMap<OpId, u64>,
}

impl Watch for StopIsTerminal {
    fn on_issue(&mut self, issue: &Issue<'_>) {
        if let OpKind::Stop(a) = issue.kind {
            let agent = agent_id(a);
            if let Some(r) = issue.snapshot.agents.iter().find(|r| r.agent == agent) {
                self.at_issue.insert(issue.op, r.incarnation);
            }
        }
    }

    fn on_return(&mut self, ret: &Return<'_>) -> Result<(), Violation> {
        let at_issue = self.at_issue.remove(&ret.op);
        if let (OpKind::Stop(a), Ok(())) = (ret.kind, ret.result) {
            self.barriers.insert(agent_id(a), ret.op);
            if let Some(incarnation) = at_issue {
                self.stopped_incarnations.insert(agent_id(a), incarnation);
            }
        }
        Ok(())
    }

    fn on_drop(&mut self, op: OpId) {
        self.at_issue.remove(&op);
    }

    /// Every session died with the container, and a new manager numbers its records afresh.
    fn on_bounce(&mut self) {
        self.barriers.clear();
        self.stopped_incarnations.clear();
        self.at_issue.clear();
    }

    fn on_step(&mut self, view: &View<'_>) -> Result<(), Violation> {
        stop_is_terminal(view, &self.barriers)?;
        check_side_state(view.snapshot, &self.stopped_incarnations, view.ledger)
    }
}

/// I5: once stop(a) has returned, no session of a from before the stop is live.
fn stop_is_terminal(v: &View, barriers: &BTreeMap<AgentId, OpId>) -> Result<(), Violation> {
    // A startup the stop cancelled may still be unwinding (aborting its session): its session
    // is judged once that start returns (the process manager's I5, `docs/real-system.md`).
    for s in v.ledger.live_sessions().filter(|s| !v.owned_by_call(s)) {
        if let (Some(&barrier), Some(creator)) = (barriers.get(&s.agent), s.creator)
            && creator < barrier
        {
            return Err(Violation::new(
                Invariant::I5,
                format!(
                    "op#{barrier} stop {} returned, yet {} is live",
                    s.agent,
                    describe(s)
                ),
                vec![s.id],
            ));
        }
    }
    Ok(())
}

/// I5, side state: the timers and event streams a manager keeps per agent never act for an
/// earlier incarnation once a later one runs, and stop reaches them. Judged from the side
/// state the snapshot reports, each entry with the incarnation it belongs to:
/// - while an agent's record is live, an armed idle timer of the agent belongs to that record
///   (an earlier incarnation's timer in its slot displaced or will fire instead of its own);
/// - while an agent's record is live and its event subscription runs, the stream a stop of the
///   agent reaches is that subscription's (otherwise a stop leaves it running);
/// - once a record has ended, its own subscription no longer runs: a stream left running acts
///   on the agent by agentId (the process manager's subscribeToEvents (`docs/real-system.md`): every passing event clears the
///   agent's idle timer, and its `finally` clears it again and, PRE/POST, deletes the agent's
///   controller), so it disturbs a later incarnation. The real code leaves one running when
///   startAgent's generic catch marks a subscribed record `failed` without aborting
///   `eventAbortControllers[id]` (POST/LATEST, a prompt failure), and when PRE spawns
///   subscribeToEvents after a stop landed during create (#1341). A stream on a server that is
///   gone is not judged: it receives nothing (the SDK retries in silence, 7.2.14);
/// - once stop(a) has returned, no timer of the incarnation it stopped (or an earlier one) is
///   armed again.
pub fn check_side_state(
    snapshot: &Snapshot,
    stopped: &BTreeMap<AgentId, u64>,
    ledger: &Ledger,
) -> Result<(), Violation> {
    use agent_lifecycle::SideKind;
    fn side<'s>(
        snapshot: &'s Snapshot,
        agent: &'s AgentId,
        kind: SideKind,
    ) -> impl Iterator<Item = u64> + 's {
        snapshot
            .side
            .iter()
            .filter(move |e| &e.agent == agent && e.kind == kind)
            .map(|e| e.incarnation)
    }
    for r in snapshot.agents.iter().filter(|r| !r.status.is_terminal()) {
        if let Some(old) =
            side(snapshot, &r.agent, SideKind::IdleTimer).find(|&i| i != r.incarnation)
        {
            return Err(Violation::new(
                Invariant::I5,
                format!(
                    "agent {}'s idle timer belongs to record #{old} while its {:?} record #{} is live: an earlier incarnation holds the agent's timer",
                    r.agent, r.status, r.incarnation
                ),
                r.session.into_iter().collect(),
            ));
        }
        if side(snapshot, &r.agent, SideKind::Subscription).any(|i| i == r.incarnation)
            && !side(snapshot, &r.agent, SideKind::StreamSlot).any(|i| i == r.incarnation)
        {
            let slot = side(snapshot, &r.agent, SideKind::StreamSlot)
                .next()
                .map_or_else(|| "nothing".to_string(), |i| format!("record #{i}'s"));
            return Err(Violation::new(
                Invariant::I5,
                format!(
                    "agent {}'s {:?} record #{} has a running event stream that a stop can no longer reach (the agent's stream slot holds {slot})",
                    r.agent, r.status, r.incarnation
                ),
                r.session.into_iter().collect(),
            ));
        }
    }
    // An incarnation that ended (stopped, exited, failed) has no subscription left to act. One
    // on a server that is gone receives nothing and cannot act (the SDK retries in silence).
    let on_running_server = |session: Option<SessionId>| {
        session
            .and_then(|s| ledger.session(s))
            .and_then(|s| ledger.server(s.server))
            .is_none_or(|server| server.open)
    };
    for r in snapshot
        .agents
        .iter()
        .filter(|r| r.status.is_terminal() && on_running_server(r.session))
    {
        if side(snapshot, &r.agent, SideKind::Subscription).any(|i| i == r.incarnation) {
            return Err(Violation::new(
                Invariant::I5,
                format!(
                    "agent {}'s record #{} is {:?}, yet its event subscription still runs",
                    r.agent, r.incarnation, r.status
                ),
                r.session.into_iter().collect(),
            ));
        }
    }
    for (agent, &barrier) in stopped {
        if let Some(old) = side(snapshot, agent, SideKind::IdleTimer).find(|&i| i <= barrier) {
            return Err(Violation::new(
                Invariant::I5,
                format!(
                    "stop {agent} returned after stopping record #{barrier}, yet an idle timer of record #{old} is armed"
                ),
                Vec::new(),
            ));
        }
    }
    Ok(())
}
