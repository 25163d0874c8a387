//! I8 (a record's status moves forward only) and I5 for side state (timers and event
//! streams never act for an earlier incarnation).

use std::collections::BTreeMap;

use agent_lifecycle::{AgentId, SessionId, Snapshot, Status};

use super::{Invariant, Violation};
use crate::world::ledger::Ledger;

/// I8: each record's status only moves forward.
#[derive(Default)]
pub struct StatusWatch {
    seen: BTreeMap<(AgentId, u64), Status>,
}

fn rank(status: Status) -> u8 {
    match status {
        Status::Starting => 0,
        Status::Running => 1,
        Status::Stopping => 2,
        Status::Exited | Status::Failed => 3,
    }
}

impl StatusWatch {
    pub fn observe(&mut self, snapshot: &Snapshot) -> Result<(), Violation> {
        for r in &snapshot.agents {
            let key = (r.agent.clone(), r.incarnation);
            let before = match self.seen.get_mut(&key) {
                Some(seen) if *seen == r.status => continue,
                Some(seen) => std::mem::replace(seen, r.status),
                None => {
                    self.seen.insert(key, r.status);
                    continue;
                }
            };
            // Exited -> Failed is a relabel, not a move back: PRE's catch writes `failed` over
            // whatever the record is (seed-system.md §2), and a finished record stays finished.
            if rank(r.status) < rank(before) {
                return Err(Violation::new(
                    Invariant::I8,
                    format!(
                        "agent {}'s record #{} went from {before:?} back to {:?}",
                        r.agent, r.incarnation, r.status
                    ),
                    r.session.into_iter().collect(),
                ));
            }
        }
        Ok(())
    }

    /// A new manager numbers its records afresh.
    pub fn forget(&mut self) {
        self.seen.clear();
    }
}

/// I5, side state: the timers and event streams a manager keeps per agent never act for an
/// earlier incarnation once a later one runs, and stop reaches them. Judged from the side
/// state the snapshot reports, each entry with the incarnation it belongs to:
/// - while an agent's record is live, an armed idle timer of the agent belongs to that record
///   (an earlier incarnation's timer in its slot displaced or will fire instead of its own);
/// - while an agent's record is live and its event subscription runs, the stream a stop of the
///   agent reaches is that subscription's (otherwise a stop leaves it running);
/// - once a record has ended, its own subscription no longer runs: a stream left running acts
///   on the agent by agentId (seed-system.md, subscribeToEvents: every passing event clears the
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
