//! The invariants (design.md §1), judged against the backend's ledger, the manager's snapshot,
//! and the operations in flight: after every simulation step, when an operation returns, and
//! when a server is closed.

use std::collections::BTreeMap;
use std::fmt;

use agent_lifecycle::{AgentId, ServerId, SessionId, Snapshot, Status};

use crate::history::OpId;
use crate::ledger::{Ledger, SessionRecord};
use crate::workload::OpKind;

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
}

impl Invariant {
    pub const ALL: [Invariant; 9] = [
        Self::I1,
        Self::I2,
        Self::I3,
        Self::I4,
        Self::I5,
        Self::I6,
        Self::I7,
        Self::I8,
        Self::L1,
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
        }
    }

    pub fn code(self) -> String {
        format!("{self:?}")
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|i| i.code().eq_ignore_ascii_case(code))
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

impl Violation {
    fn new(invariant: Invariant, detail: String, sessions: Vec<SessionId>) -> Self {
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
struct Claims<'a> {
    /// Live records' sessions.
    tracked: Vec<(SessionId, &'a AgentId)>,
    /// Live records that may own an unknown session on a server (a failed create).
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
    fn owned_by_call(&self, s: &SessionRecord) -> bool {
        s.creator.is_some_and(|op| self.in_flight.contains_key(&op))
    }
}

/// Checks I1-I5 after a step.
pub fn check_step(v: &View) -> Result<(), Violation> {
    let claims = Claims::of(v.snapshot);
    tracked_is_live(v, &claims)?;
    one_per_agent(v)?;
    reference_counts(v, &claims)?;
    stop_is_terminal(v)
}

/// I1: every live session is tracked (or owned by a start in flight). The other way round, a
/// tracked session that died (its server crashed, say) is stale, not leaked: the manager may
/// learn of it late, and the end-of-scenario check holds it to account.
fn tracked_is_live(v: &View, claims: &Claims) -> Result<(), Violation> {
    for s in v.ledger.live_sessions() {
        if !claims.tracks(s) && !v.owned_by_call(s) {
            let returned = s
                .creator
                .map(|op| format!(" and op#{op} has returned"))
                .unwrap_or_default();
            return Err(Violation::new(
                Invariant::I1,
                format!("{} is live, but no record tracks it{returned}", describe(s)),
                vec![s.id],
            ));
        }
    }
    Ok(())
}

/// I2: one live session and one live record per agent. Sessions of starts still in flight
/// are judged when those return (a cancelled startup may still be cleaning up).
fn one_per_agent(v: &View) -> Result<(), Violation> {
    let mut per_agent: BTreeMap<&AgentId, Vec<&SessionRecord>> = BTreeMap::new();
    for s in v.ledger.live_sessions().filter(|s| !v.owned_by_call(s)) {
        per_agent.entry(&s.agent).or_default().push(s);
    }
    if let Some((agent, live)) = per_agent.into_iter().find(|(_, live)| live.len() > 1) {
        return Err(Violation::new(
            Invariant::I2,
            format!(
                "agent {agent} has {} live sessions: {}",
                live.len(),
                describe_all(&live)
            ),
            live.iter().map(|s| s.id).collect(),
        ));
    }
    let mut records: BTreeMap<&AgentId, usize> = BTreeMap::new();
    for r in v.snapshot.agents.iter().filter(|r| !r.status.is_terminal()) {
        *records.entry(&r.agent).or_default() += 1;
    }
    match records.into_iter().find(|&(_, n)| n > 1) {
        Some((agent, n)) => Err(Violation::new(
            Invariant::I2,
            format!("agent {agent} has {n} live records"),
            Vec::new(),
        )),
        None => Ok(()),
    }
}

/// I3 and I4: a server's count is never negative, never below the live sessions tracked on
/// it (that takes a release too many), and at quiescence exactly what is tracked on it.
fn reference_counts(v: &View, claims: &Claims) -> Result<(), Violation> {
    let mut counts: BTreeMap<ServerId, i64> = BTreeMap::new();
    for entry in &v.snapshot.servers {
        *counts.entry(entry.server).or_default() += entry.count;
        if entry.count < 0 {
            return Err(Violation::new(
                Invariant::I3,
                format!(
                    "{} (workdir {}) has count {}",
                    entry.server, entry.workdir, entry.count
                ),
                Vec::new(),
            ));
        }
    }
    let mut tracked_on: BTreeMap<ServerId, Vec<&SessionRecord>> = BTreeMap::new();
    for (id, _) in &claims.tracked {
        if let Some(s) = v.ledger.session(*id).filter(|s| s.live) {
            tracked_on.entry(s.server).or_default().push(s);
        }
    }
    for (server, sessions) in &tracked_on {
        let count = counts.get(server).copied().unwrap_or(0);
        if count < sessions.len() as i64 {
            return Err(Violation::new(
                Invariant::I4,
                format!(
                    "{server} counts {count}, but {} live tracked session(s) run on it: {}; a release happened twice or too early",
                    sessions.len(),
                    describe_all(sessions)
                ),
                sessions.iter().map(|s| s.id).collect(),
            ));
        }
    }
    if v.quiescent {
        let suspects = &claims.suspects;
        let mut tracked_any: BTreeMap<ServerId, usize> = BTreeMap::new();
        for (id, _) in &claims.tracked {
            if let Some(s) = v.ledger.session(*id) {
                *tracked_any.entry(s.server).or_default() += 1;
            }
        }
        for (&server, &count) in &counts {
            let tracked = tracked_any.get(&server).copied().unwrap_or(0);
            let suspected = suspects.iter().filter(|(_, s)| *s == server).count();
            let expected = (tracked + suspected) as i64;
            if count != expected {
                return Err(Violation::new(
                    Invariant::I3,
                    format!(
                        "with nothing in flight, {server} counts {count} but {expected} session(s) are tracked on it"
                    ),
                    Vec::new(),
                ));
            }
        }
    }
    Ok(())
}

/// I5: once stop(a) has returned, no session of a from before the stop is live.
fn stop_is_terminal(v: &View) -> Result<(), Violation> {
    for s in v.ledger.live_sessions() {
        if let (Some(&barrier), Some(creator)) = (v.stop_barriers.get(&s.agent), s.creator)
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

/// I6: a start that reports it was cancelled leaves no session behind.
pub fn check_cancelled_start(ledger: &Ledger, op: OpId) -> Result<(), Violation> {
    let left: Vec<&SessionRecord> = ledger
        .live_sessions()
        .filter(|s| s.creator == Some(op))
        .collect();
    if left.is_empty() {
        return Ok(());
    }
    Err(Violation::new(
        Invariant::I6,
        format!(
            "op#{op} returned cancelled but left {}",
            describe_all(&left)
        ),
        left.iter().map(|s| s.id).collect(),
    ))
}

/// I7: when an eviction returns, nothing of the container is left running, and no start
/// issued before it is still in flight.
pub fn check_evicted(
    ledger: &Ledger,
    evict: OpId,
    in_flight: &BTreeMap<OpId, OpKind>,
) -> Result<(), Violation> {
    let live: Vec<&SessionRecord> = ledger.live_sessions().collect();
    if !live.is_empty() {
        return Err(Violation::new(
            Invariant::I7,
            format!(
                "op#{evict} evict returned, yet {} is live",
                describe_all(&live)
            ),
            live.iter().map(|s| s.id).collect(),
        ));
    }
    if let Some(server) = ledger.servers.iter().find(|s| s.open) {
        return Err(Violation::new(
            Invariant::I7,
            format!(
                "op#{evict} evict returned, yet {} (workdir {}) is running",
                server.id, server.workdir
            ),
            Vec::new(),
        ));
    }
    let starts: Vec<String> = in_flight
        .iter()
        .filter(|&(&op, kind)| op < evict && matches!(kind, OpKind::Start(_)))
        .map(|(op, kind)| format!("op#{op} {kind}"))
        .collect();
    if !starts.is_empty() {
        return Err(Violation::new(
            Invariant::I7,
            format!(
                "op#{evict} evict returned while {} still ran",
                starts.join(", ")
            ),
            Vec::new(),
        ));
    }
    Ok(())
}

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
            if rank(r.status) < rank(before) || (before.is_terminal() && r.status != before) {
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

/// After the faults heal and the manager's background work has run out, what it tracks is
/// exactly what is live (I1): it must have noticed every session that died under it.
pub fn check_settled(ledger: &Ledger, snapshot: &Snapshot) -> Result<(), Violation> {
    for r in snapshot.agents.iter().filter(|r| !r.status.is_terminal()) {
        if let Some(id) = r.session
            && !ledger.session(id).is_some_and(|s| s.live)
        {
            return Err(Violation::new(
                Invariant::I1,
                format!(
                    "settled, agent {}'s {:?} record still tracks {id}, which is dead",
                    r.agent, r.status
                ),
                vec![id],
            ));
        }
    }
    Ok(())
}

/// The end of a scenario: faults healed and every agent stopped, nothing may be left: no live
/// session (I1), no live record (I1), no count on any server (I3).
pub fn check_all_stopped(ledger: &Ledger, snapshot: &Snapshot) -> Result<(), Violation> {
    let live: Vec<&SessionRecord> = ledger.live_sessions().collect();
    if !live.is_empty() {
        return Err(Violation::new(
            Invariant::I1,
            format!(
                "after every agent was stopped, {} session(s) are still live: {}",
                live.len(),
                describe_all(&live)
            ),
            live.iter().map(|s| s.id).collect(),
        ));
    }
    if let Some(r) = snapshot.agents.iter().find(|r| !r.status.is_terminal()) {
        return Err(Violation::new(
            Invariant::I1,
            format!(
                "after every agent was stopped, agent {}'s record is still {:?}",
                r.agent, r.status
            ),
            r.session.into_iter().collect(),
        ));
    }
    if let Some(entry) = snapshot.servers.iter().find(|e| e.count != 0) {
        return Err(Violation::new(
            Invariant::I3,
            format!(
                "after every agent was stopped, {} (workdir {}) still counts {}",
                entry.server, entry.workdir, entry.count
            ),
            Vec::new(),
        ));
    }
    Ok(())
}
