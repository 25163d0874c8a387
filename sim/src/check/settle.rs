//! What must hold once the manager has settled (I1 both ways, I3 exactly), and at the end
//! of a scenario, with every agent stopped.

use std::collections::BTreeMap;

use agent_lifecycle::{ServerId, Snapshot};

use super::{Invariant, Violation, describe, describe_all};
use crate::world::ledger::{Ledger, SessionRecord};

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
    // A server is closed when its count reaches 0 (docs/real-system.md): once settled, a
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
    // Known -> running: a server the manager still lists must not be one that a close (its
    // own, or one it gave up on that landed) ended. A crashed server it holds no session on
    // is not judged here: nothing tells a manager of it, and reusing it shows as L2.
    if let Some((server, (count, workdir))) = counts
        .iter()
        .find(|(id, _)| ledger.server(**id).is_some_and(|s| !s.open && !s.crashed))
    {
        return Err(Violation::new(
            Invariant::I3,
            format!(
                "settled, the manager still lists {server} (workdir {workdir}, count {count}), but it was closed"
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
