//! I7 (eviction leaves nothing), judged when an eviction returns.

use std::collections::BTreeMap;

use agent_lifecycle::{LifecycleError, Snapshot};

use super::watch::{Return, Watch};
use super::{Invariant, Violation, describe_all};
use crate::scenario::workload::OpKind;
use crate::world::history::OpId;
use crate::world::ledger::{Ledger, ServerRecord, SessionRecord};

/// I7, judged when an eviction returns, on the world as the look finds it.
pub(super) struct EvictionLeavesNothing;

impl Watch for EvictionLeavesNothing {
    fn on_return(&mut self, ret: &Return<'_>) -> Result<(), Violation> {
        if ret.kind != OpKind::Evict {
            return Ok(());
        }
        check_evicted(
            ret.ledger,
            &(ret.snapshot)(),
            ret.op,
            ret.result,
            ret.in_flight,
        )
    }
}

/// I7: when an eviction returns Ok, nothing of the container is left running and no start
/// issued before it is still in flight. When it returns Err it said it could not clean up
/// everything, but it must still leave nothing *untracked*: every live session is a live
/// record's own session (no suspicion excuses it), every running server is one the manager
/// reports (unless nothing ever told it of the server: started by a call whose reply it never
/// had, and named by no listing it received), and no earlier start is still in flight.
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
    // A server started by a call whose caller never heard of it, and that no listing the
    // manager received named, is one nothing told the manager of: it cannot report it.
    let known = |server: &ServerRecord| {
        outcome.is_err()
            && (snapshot.servers.iter().any(|e| e.server == server.id)
                || (server.ambiguous && !server.revealed))
    };
    if let Some(server) = ledger.servers.iter().find(|s| s.open && !known(s)) {
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
        // Whatever may start a session: a start, and a refresh or an update, which restart
        // one. Not a reboot: one issued just before the eviction has not killed the container
        // yet, and no manager can wait for it; a hydration's sessions are judged as any (I1).
        .filter(|&(&op, kind)| {
            op < evict && matches!(kind, OpKind::Start(_) | OpKind::Refresh | OpKind::Update(_))
        })
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
