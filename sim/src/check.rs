//! The invariants (design.md §1), judged after every simulation step against the backend's
//! ledger, the manager's snapshot, and the operations still in flight.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use agent_lifecycle::{AgentId, AgentSnapshot, SessionId};

use crate::history::OpId;
use crate::ledger::{Ledger, SessionRecord};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    /// Every live session is tracked by a live record or owned by a start still in flight;
    /// at quiescence, tracked and live are the same set.
    I1,
    /// At most one live session and one live record per agent (sessions of starts still in
    /// flight excepted).
    I2,
    /// Every call returns within a bounded simulated time.
    L1,
}

impl Invariant {
    pub fn title(self) -> &'static str {
        match self {
            Self::I1 => "tracked == live",
            Self::I2 => "one session per agent",
            Self::L1 => "liveness",
        }
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {}", self, self.title())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub invariant: Invariant,
    pub detail: String,
    pub sessions: Vec<SessionId>,
}

fn describe(s: &SessionRecord) -> String {
    let creator = s
        .creator
        .map(|op| format!(", created by op#{op}"))
        .unwrap_or_default();
    format!("{} (agent {}, on {}{creator})", s.id, s.agent, s.server)
}

/// Checks I1 and I2. `quiescent` means no workload operation is in flight.
pub fn check_step(
    ledger: &Ledger,
    snapshot: &[AgentSnapshot],
    in_flight: &BTreeSet<OpId>,
) -> Result<(), Violation> {
    let tracked: BTreeMap<SessionId, &AgentId> = snapshot
        .iter()
        .filter(|r| !r.status.is_terminal())
        .filter_map(|r| Some((r.session?, &r.agent)))
        .collect();

    for s in ledger.live_sessions() {
        let owned_by_call = s.creator.is_some_and(|op| in_flight.contains(&op));
        if !tracked.contains_key(&s.id) && !owned_by_call {
            let returned = s
                .creator
                .map(|op| format!(" and op#{op} has returned"))
                .unwrap_or_default();
            return Err(Violation {
                invariant: Invariant::I1,
                detail: format!("{} is live, but no record tracks it{returned}", describe(s)),
                sessions: vec![s.id],
            });
        }
    }
    if in_flight.is_empty() {
        for (&id, agent) in &tracked {
            if !ledger.session(id).is_some_and(|s| s.live) {
                return Err(Violation {
                    invariant: Invariant::I1,
                    detail: format!("agent {agent}'s record tracks {id}, which is not live"),
                    sessions: vec![id],
                });
            }
        }
    }

    // A start still in flight may briefly hold a session while another exists (a cancelled
    // startup cleaning up); it is judged when it returns.
    let mut per_agent: BTreeMap<&AgentId, Vec<&SessionRecord>> = BTreeMap::new();
    for s in ledger
        .live_sessions()
        .filter(|s| !s.creator.is_some_and(|op| in_flight.contains(&op)))
    {
        per_agent.entry(&s.agent).or_default().push(s);
    }
    if let Some((agent, live)) = per_agent.into_iter().find(|(_, live)| live.len() > 1) {
        let list: Vec<String> = live.iter().map(|s| describe(s)).collect();
        return Err(Violation {
            invariant: Invariant::I2,
            detail: format!(
                "agent {agent} has {} live sessions: {}",
                live.len(),
                list.join("; ")
            ),
            sessions: live.iter().map(|s| s.id).collect(),
        });
    }
    let mut records: BTreeMap<&AgentId, usize> = BTreeMap::new();
    for r in snapshot.iter().filter(|r| !r.status.is_terminal()) {
        *records.entry(&r.agent).or_default() += 1;
    }
    if let Some((agent, n)) = records.into_iter().find(|&(_, n)| n > 1) {
        return Err(Violation {
            invariant: Invariant::I2,
            detail: format!("agent {agent} has {n} live records"),
            sessions: Vec::new(),
        });
    }
    Ok(())
}

/// The leak check at the end of a scenario, after every agent was stopped with faults healed.
pub fn check_all_stopped(ledger: &Ledger) -> Result<(), Violation> {
    let live: Vec<&SessionRecord> = ledger.live_sessions().collect();
    if live.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = live.iter().map(|s| describe(s)).collect();
    Err(Violation {
        invariant: Invariant::I1,
        detail: format!(
            "after every agent was stopped, {} session(s) are still live: {}",
            live.len(),
            list.join("; ")
        ),
        sessions: live.iter().map(|s| s.id).collect(),
    })
}
