//! L4 (drain within grace): an eviction returns within the drain grace. The real `drainAll`
//! waits up to 5 min for its working agents, then freezes the stragglers: a drain that waits
//! for a turn to end, however long, never lets the container go.
//!
//! Judged only for an eviction during which no call was struck by a fault and no server
//! crashed: with the faults on, every call it makes or waits for may take a call timeout, and
//! be retried, any number of times (L1 bounds that).

use std::collections::BTreeMap;

use super::watch::{Issue, Return, Watch};
use super::{Invariant, View, Violation};
use crate::scenario::spec::Timing;
use crate::scenario::workload::OpKind;
use crate::world::history::OpId;

/// L4's memory: the evictions in flight, and those that returned since the last view, with
/// when each was issued.
pub(super) struct DrainWithinGrace {
    grace_ms: u64,
    /// Each eviction in flight: when it was issued, and the ledger's faulted calls then.
    in_flight: BTreeMap<OpId, (u64, u64)>,
    /// The ledger's faulted calls at the last view.
    faulted: u64,
    /// (op, issued, returned, faulted calls at its issue).
    returned: Vec<(OpId, u64, u64, u64)>,
}

impl DrainWithinGrace {
    pub(super) fn new(timing: &Timing) -> Self {
        Self {
            grace_ms: timing.drain_grace(),
            in_flight: BTreeMap::new(),
            faulted: 0,
            returned: Vec::new(),
        }
    }

    fn late(&self, op: OpId, issued_ms: u64, now_ms: u64, returned: bool) -> Option<Violation> {
        let took = now_ms.saturating_sub(issued_ms);
        (took > self.grace_ms).then(|| {
            let what = if returned {
                format!("returned after {took} ms")
            } else {
                format!("has not returned after {took} ms")
            };
            Violation::new(
                Invariant::L4,
                format!(
                    "op#{op} evict {what}: longer than the drain grace of {} ms",
                    self.grace_ms
                ),
                Vec::new(),
            )
        })
    }
}

impl Watch for DrainWithinGrace {
    fn on_issue(&mut self, issue: &Issue<'_>) {
        if issue.kind == OpKind::Evict {
            self.in_flight
                .insert(issue.op, (issue.now_ms, self.faulted));
        }
    }

    fn on_return(&mut self, ret: &Return<'_>) -> Result<(), Violation> {
        if let Some((issued, faulted)) = self.in_flight.remove(&ret.op) {
            // Judged at the view of this look, by the instant it returned: the look may come
            // later (after an eviction, at the container's bounce, up to half a call timeout
            // on).
            self.returned.push((ret.op, issued, ret.at.at_ms, faulted));
        }
        Ok(())
    }

    fn on_drop(&mut self, op: OpId) {
        self.in_flight.remove(&op);
    }

    /// An eviction still in flight died with the container (a reboot): it never returns.
    fn on_bounce(&mut self) {
        self.in_flight.clear();
    }

    fn on_step(&mut self, view: &View<'_>) -> Result<(), Violation> {
        let now = view.now_ms;
        let faulted = view.ledger.faulted_calls;
        self.faulted = faulted;
        for (op, issued, returned, before) in std::mem::take(&mut self.returned) {
            if before == faulted
                && let Some(v) = self.late(op, issued, returned, true)
            {
                return Err(v);
            }
        }
        for (&op, &(issued, before)) in &self.in_flight {
            if before == faulted
                && let Some(v) = self.late(op, issued, now, false)
            {
                return Err(v);
            }
        }
        Ok(())
    }
}
