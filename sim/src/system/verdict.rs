//! The system invariants judged on the state of both hosts: S1 at every step, S4 when boot
//! hydration starts an agent, S2 and S3 once the system had time to converge.

use std::collections::BTreeMap;

use agent_lifecycle::AgentId;

use super::control_host::{SharedRequests, lock_requests};
use super::town::{Belief, SharedTown, TownTiming, lock_town};
use crate::check::{Invariant, Violation};
use crate::world::World;

/// S1: at most one live session of an agent doing work at any instant (a session no caller
/// ever heard of, from a lost reply or a late effect, was never prompted: it does no work).
pub(super) fn one_working_session(w: &World) -> Result<(), Violation> {
    let mut seen: BTreeMap<&AgentId, Vec<agent_lifecycle::SessionId>> = BTreeMap::new();
    for s in w.ledger.live_sessions().filter(|s| !s.ambiguous) {
        seen.entry(&s.agent).or_default().push(s.id);
    }
    match seen.into_iter().find(|(_, ids)| ids.len() > 1) {
        None => Ok(()),
        Some((agent, ids)) => {
            let list: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
            Err(Violation::new(
                Invariant::S1,
                format!(
                    "{agent} has {} live sessions at once: {}",
                    ids.len(),
                    list.join(", ")
                ),
                ids,
            ))
        }
    }
}

/// After convergence (the checker has judged the container settled): the town and the
/// container agree (S2), and no dispatch the town wrote off took effect (S3).
pub(super) fn converged(
    w: &World,
    town: &SharedTown,
    requests: &SharedRequests,
    timing: &TownTiming,
) -> Result<(), Violation> {
    let t = lock_town(town);
    for (name, agent) in &t.agents {
        let id = AgentId::new(name);
        let live: Vec<_> = w
            .ledger
            .live_sessions()
            .filter(|s| s.agent == id)
            .map(|s| s.id)
            .collect();
        let agrees = match agent.belief {
            Belief::Working => live.len() == 1,
            Belief::Idle | Belief::Done => live.is_empty(),
        };
        if !agrees {
            return Err(Violation::new(
                Invariant::S2,
                format!(
                    "converged, the town believes {name} {:?} and the container runs {} live sessions of it",
                    agent.belief,
                    live.len()
                ),
                live,
            ));
        }
        // Working on the evidence of heartbeats, not of the town's own dispatches: a town that
        // keeps re-dispatching an agent it never hears from has not converged.
        let heard = agent
            .last_heartbeat_ms
            .is_some_and(|at| w.now_ms - at <= timing.liveness_ms);
        if agent.belief == Belief::Working && !heard {
            return Err(Violation::new(
                Invariant::S2,
                format!(
                    "converged, the town believes {name} working but has heard no heartbeat of it for {} ms (last: {:?})",
                    timing.liveness_ms, agent.last_heartbeat_ms
                ),
                live,
            ));
        }
    }
    let r = lock_requests(requests);
    for record in t.dispatches.iter().filter(|d| d.written_off) {
        if let Some((op, ..)) = r
            .dispatches
            .iter()
            .find(|(_, dispatch, started)| *started && *dispatch == record.dispatch)
        {
            // A duplicate only if the town sent the agent another dispatch after it.
            let again = t
                .dispatches
                .iter()
                .filter(|d| {
                    d.agent == record.agent
                        && d.dispatch != record.dispatch
                        && d.sent_ms > record.sent_ms
                })
                .count();
            if again == 0 {
                continue;
            }
            return Err(Violation::new(
                Invariant::S3,
                format!(
                    "the town wrote off {}'s dispatch {} ({}), but the container started it (op#{op}); the town dispatched {} again {again} time(s)",
                    record.agent, record.dispatch, record.outcome, record.agent
                ),
                Vec::new(),
            ));
        }
    }
    Ok(())
}

/// S4: a start of boot hydration for an agent the town is done with, whose stop the
/// container acknowledged before.
pub(super) fn not_resurrected(town: &SharedTown, agent: &str, op: u32) -> Result<(), Violation> {
    let t = lock_town(town);
    let Some(a) = t.agents.get(agent) else {
        return Ok(());
    };
    match (a.belief, a.stop_acked_ms) {
        (Belief::Done, Some(acked)) => Err(Violation::new(
            Invariant::S4,
            format!(
                "boot hydration starts {agent} (op#{op}), whose stop the container acknowledged to the town at {acked} ms"
            ),
            Vec::new(),
        )),
        _ => Ok(()),
    }
}
