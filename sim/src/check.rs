//! The invariants (design.md §1), judged against the backend's ledger, the manager's snapshot,
//! and the operations in flight: after every simulation step, when an operation returns, and
//! when a server is closed.

use std::collections::BTreeMap;
use std::fmt;

use agent_lifecycle::{AgentId, LifecycleError, ServerId, SessionId, Snapshot, Status};

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
    /// Progress: with the faults off, a start nothing superseded ends Running and a stop
    /// leaves its agent Exited with nothing live.
    L2,
    /// A task of the container (the manager's, or one it spawned) panicked.
    Panic,
}

impl Invariant {
    pub const ALL: [Invariant; 11] = [
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
        }
    }

    /// The short name reports, case files and `--invariant` use: `I1`..`I8`, `L1`, `L2`,
    /// `panic`.
    pub fn code(self) -> String {
        match self {
            Self::Panic => "panic".to_string(),
            _ => format!("{self:?}"),
        }
    }

    /// The Rust name of the variant (`Invariant::Panic`), for generated code.
    pub fn variant(self) -> String {
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

/// I2: one live session per agent, from the ledger. Sessions of starts still in flight are
/// judged when those return (a cancelled startup may still be cleaning up).
///
/// There is no "one live record per agent" check: the snapshot is built from the manager's
/// map keyed by agent, so it cannot hold two records of one agent and such a check could
/// never fire. A record the map no longer holds is invisible; if its session is still live,
/// I1 (nothing tracks it) or the session half of I2 (two live sessions of one agent) catch it.
fn one_per_agent(v: &View) -> Result<(), Violation> {
    let mut per_agent: BTreeMap<&AgentId, Vec<&SessionRecord>> = BTreeMap::new();
    for s in v.ledger.live_sessions().filter(|s| !v.owned_by_call(s)) {
        per_agent.entry(&s.agent).or_default().push(s);
    }
    match per_agent.into_iter().find(|(_, live)| live.len() > 1) {
        Some((agent, live)) => Err(Violation::new(
            Invariant::I2,
            format!(
                "agent {agent} has {} live sessions: {}",
                live.len(),
                describe_all(&live)
            ),
            live.iter().map(|s| s.id).collect(),
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
        // Can fire: the historical models keep signed counts, as the real code does, and a
        // release too many takes them below zero.
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
    // A startup the stop cancelled may still be unwinding (aborting its session): its session
    // is judged once that start returns (seed-system.md §7 I5).
    for s in v.ledger.live_sessions().filter(|s| !v.owned_by_call(s)) {
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

/// I7: when an eviction returns Ok, nothing of the container is left running and no start
/// issued before it is still in flight. When it returns Err it said it could not clean up
/// everything, but it must still leave nothing *untracked*: every live session is a live
/// record's own session (no suspicion excuses it), every running server is one the manager
/// reports, and no earlier start is still in flight.
pub fn check_evicted(
    ledger: &Ledger,
    snapshot: &Snapshot,
    evict: OpId,
    outcome: &Result<(), LifecycleError>,
    in_flight: &BTreeMap<OpId, OpKind>,
) -> Result<(), Violation> {
    let returned = match outcome {
        Ok(()) => "returned".to_string(),
        Err(e) => format!("returned error ({e})"),
    };
    let tracked = |s: &SessionRecord| {
        outcome.is_err()
            && snapshot
                .agents
                .iter()
                .any(|r| !r.status.is_terminal() && r.session == Some(s.id))
    };
    let live: Vec<&SessionRecord> = ledger.live_sessions().filter(|s| !tracked(s)).collect();
    if !live.is_empty() {
        let untracked = if outcome.is_err() {
            " and untracked"
        } else {
            ""
        };
        return Err(Violation::new(
            Invariant::I7,
            format!(
                "op#{evict} evict {returned}, yet {} is live{untracked}",
                describe_all(&live)
            ),
            live.iter().map(|s| s.id).collect(),
        ));
    }
    let known =
        |server: ServerId| outcome.is_err() && snapshot.servers.iter().any(|e| e.server == server);
    if let Some(server) = ledger.servers.iter().find(|s| s.open && !known(s.id)) {
        let unknown = if outcome.is_err() {
            " and the manager does not report it"
        } else {
            ""
        };
        return Err(Violation::new(
            Invariant::I7,
            format!(
                "op#{evict} evict {returned}, yet {} (workdir {}) is running{unknown}",
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
                "op#{evict} evict {returned} while {} still ran",
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

/// After the faults heal and the manager's background work has run out, what it tracks is
/// exactly what is live (I1), both ways and with no excuse: nothing is in flight, and a
/// record's `suspect_on` no longer excuses anything (a manager that still cannot say which
/// session is its own has not settled). Each server counts exactly the live records'
/// sessions on it (I3).
pub fn check_settled(ledger: &Ledger, snapshot: &Snapshot) -> Result<(), Violation> {
    let live_records = || snapshot.agents.iter().filter(|r| !r.status.is_terminal());
    // Tracked -> live: the manager noticed every session that died under it.
    for r in live_records() {
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
    // Live -> tracked: every live session is exactly the session of a live record.
    for s in ledger.live_sessions() {
        if live_records().any(|r| r.session == Some(s.id)) {
            continue;
        }
        let suspect = live_records()
            .find(|r| r.agent == s.agent && r.suspect_on == Some(s.server))
            .map(|r| {
                format!(
                    " (agent {}'s {:?} record only suspects a session on {})",
                    r.agent, r.status, s.server
                )
            })
            .unwrap_or_default();
        return Err(Violation::new(
            Invariant::I1,
            format!(
                "settled, {} is live, but no live record tracks it{suspect}",
                describe(s)
            ),
            vec![s.id],
        ));
    }
    // Counts: exactly the live records' sessions on each server (all live, checked above).
    let mut tracked_on: BTreeMap<ServerId, i64> = BTreeMap::new();
    for id in live_records().filter_map(|r| r.session) {
        if let Some(s) = ledger.session(id) {
            *tracked_on.entry(s.server).or_default() += 1;
        }
    }
    let mut counts: BTreeMap<ServerId, (i64, String)> = BTreeMap::new();
    for e in &snapshot.servers {
        let entry = counts
            .entry(e.server)
            .or_insert_with(|| (0, e.workdir.to_string()));
        entry.0 += e.count;
    }
    for (server, (count, workdir)) in &counts {
        let tracked = tracked_on.get(server).copied().unwrap_or(0);
        if *count != tracked {
            return Err(Violation::new(
                Invariant::I3,
                format!(
                    "settled, {server} (workdir {workdir}) counts {count} but {tracked} live record(s) run a session on it"
                ),
                Vec::new(),
            ));
        }
    }
    // A server is closed when its count reaches 0 (seed-system.md §7 I3): once settled, a
    // running server the manager counts nothing on was never closed (PRE's catch decrements
    // without closing; a startup aborted after createKilo leaves its server at 0).
    if let Some((server, workdir)) = ledger.servers.iter().filter(|s| s.open).find_map(|s| {
        let (count, workdir) = counts.get(&s.id)?;
        (*count <= 0).then_some((s.id, workdir))
    }) {
        return Err(Violation::new(
            Invariant::I3,
            format!(
                "settled, {server} (workdir {workdir}) still runs, but the manager counts nothing on it: it was never closed"
            ),
            Vec::new(),
        ));
    }
    if let Some(server) = ledger
        .servers
        .iter()
        .find(|s| s.open && !counts.contains_key(&s.id))
    {
        return Err(Violation::new(
            Invariant::I3,
            format!(
                "settled, {} (workdir {}) is running but the manager no longer knows it",
                server.id, server.workdir
            ),
            Vec::new(),
        ));
    }
    for (server, tracked) in &tracked_on {
        if !counts.contains_key(server) {
            return Err(Violation::new(
                Invariant::I3,
                format!(
                    "settled, {server} counts nothing but {tracked} live record(s) run a session on it"
                ),
                Vec::new(),
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
    // A server is closed when its count reaches 0: with every agent stopped, none may run.
    if let Some(server) = ledger.servers.iter().find(|s| s.open) {
        let known = snapshot
            .servers
            .iter()
            .find(|e| e.server == server.id)
            .map_or_else(
                || "the manager no longer knows it".to_string(),
                |e| format!("the manager counts {} on it", e.count),
            );
        return Err(Violation::new(
            Invariant::I3,
            format!(
                "after every agent was stopped, {} (workdir {}) still runs with no session; {known}",
                server.id, server.workdir
            ),
            Vec::new(),
        ));
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
/// - once stop(a) has returned, no timer of the incarnation it stopped (or an earlier one) is
///   armed again.
pub fn check_side_state(
    snapshot: &Snapshot,
    stopped: &BTreeMap<AgentId, u64>,
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
