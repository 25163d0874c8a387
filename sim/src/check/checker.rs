//! The checker: every piece of state the invariants keep between looks, and the hooks the run
//! loop calls as the run's events arrive. Every world (a scenario's container, the system's
//! town and container) is judged by this one checker, so every invariant holds everywhere.
//!
//! The hooks, in the order a look calls them:
//! - [`Checker::on_issue`]: an operation was issued (L2's bookkeeping, I5's barriers, L1's clock);
//! - [`Checker::on_close`], [`Checker::on_return`], [`Checker::on_drop`]: one event of the
//!   run's stream (I3 at a close, I6 and I7 at a return, L2's verdict kept for the step);
//! - [`Checker::on_bounce`]: the container died, and what the checker knew of it with it;
//! - [`Checker::on_step`]: the view after a step (I1-I5 and the user's invariants, I8, I5's side
//!   state, then L2's kept verdict);
//! - [`Checker::on_waiting`]: nothing returned for a while (L1);
//! - [`Checker::on_settled`] and [`Checker::on_end`]: once the manager settled, and at the end.

use std::collections::BTreeMap;

use agent_lifecycle::{AgentId, LifecycleError, Snapshot};

use super::{
    Issued, StatusWatch, UserInvariant, View, Violation, check_all_stopped, check_cancelled_start,
    check_close, check_evicted, check_settled, check_side_state, check_step, judge_progress,
    stalled_after_return, stalled_in_flight,
};
use crate::scenario::names::agent_id;
use crate::scenario::workload::OpKind;
use crate::world::history::OpId;
use crate::world::ledger::Ledger;
use crate::world::{AtReturn, Closing};

/// The invariants' memory of a run.
pub struct Checker {
    /// The subject's own invariants, judged on every view.
    user: Vec<UserInvariant>,
    /// L1's bound.
    liveness_bound_ms: u64,
    /// The operations issued and not yet returned, dropped or killed.
    in_flight: BTreeMap<OpId, OpKind>,
    /// When the last operation was issued; L1's clock starts there.
    quiet_since_ms: u64,
    /// I5: for each agent, the newest stop that returned successfully.
    stop_barriers: BTreeMap<AgentId, OpId>,
    /// I5 (side state): for each agent, the newest incarnation that existed when its newest
    /// returned stop was issued; records made later may belong to later starts.
    stopped_incarnations: BTreeMap<AgentId, u64>,
    /// The same, for each stop in flight.
    stop_issue_barrier: BTreeMap<OpId, u64>,
    /// I8.
    statuses: StatusWatch,
    /// L2: every operation in flight, as issued.
    issued: BTreeMap<OpId, Issued>,
    /// L2's verdict on what returned since the last view, judged after that view's safety
    /// invariants: a leak or a double release that also stalls progress is reported as what
    /// it is.
    stalled: Option<Violation>,
    /// How many views were judged.
    views: u64,
}

impl Checker {
    /// A checker with the subject's own invariants and L1's bound.
    pub fn new(user: Vec<UserInvariant>, liveness_bound_ms: u64) -> Self {
        Self {
            user,
            liveness_bound_ms,
            in_flight: BTreeMap::new(),
            quiet_since_ms: 0,
            stop_barriers: BTreeMap::new(),
            stopped_incarnations: BTreeMap::new(),
            stop_issue_barrier: BTreeMap::new(),
            statuses: StatusWatch::default(),
            issued: BTreeMap::new(),
            stalled: None,
            views: 0,
        }
    }

    /// The operations in flight.
    pub fn in_flight(&self) -> &BTreeMap<OpId, OpKind> {
        &self.in_flight
    }

    /// When the last operation was issued.
    pub fn quiet_since_ms(&self) -> u64 {
        self.quiet_since_ms
    }

    /// How many views were judged.
    pub fn views(&self) -> u64 {
        self.views
    }

    /// An operation was issued at `now_ms`, meeting the manager's `snapshot`, with the faults
    /// off or not.
    pub fn on_issue(
        &mut self,
        now_ms: u64,
        op: OpId,
        kind: OpKind,
        snapshot: &Snapshot,
        faults_off: bool,
    ) {
        // L2: what the new operation supersedes, and whether it is expected to succeed.
        for earlier in self.issued.values_mut() {
            earlier.superseded |= match (earlier.kind, kind) {
                (OpKind::Start(a), OpKind::Start(b) | OpKind::Stop(b)) => a == b,
                (OpKind::Start(_), OpKind::Evict) => true,
                (OpKind::Stop(a), OpKind::Start(b)) => a == b,
                _ => false,
            };
        }
        // While an eviction is in flight the container is going away: refusing new work
        // (`Evicting`) is right, and nothing issued then is expected to succeed.
        let evicting = self.in_flight.values().any(|k| *k == OpKind::Evict);
        let record = crate::scenario::names::agent_of(kind)
            .and_then(|agent| snapshot.agents.iter().find(|r| r.agent == agent));
        self.issued.insert(
            op,
            Issued {
                kind,
                healthy: faults_off && !evicting,
                superseded: false,
                record_before: record.map(|r| (r.incarnation, r.status)),
            },
        );
        if let (OpKind::Stop(_), Some(r)) = (kind, record) {
            self.stop_issue_barrier.insert(op, r.incarnation);
        }
        self.in_flight.insert(op, kind);
        self.quiet_since_ms = now_ms;
    }

    /// The operation `op`, if it is in flight.
    pub fn kind_of(&self, op: OpId) -> Option<OpKind> {
        self.in_flight.get(&op).copied()
    }

    /// A server closed (I3 at close).
    pub fn on_close(&mut self, closing: &Closing) -> Result<(), Violation> {
        check_close(closing)
    }

    /// An operation returned: what its return promises (I6 for a cancelled start, I7 for an
    /// eviction, judged on the world as it is now: `ledger` and `snapshot`), and L2's verdict,
    /// kept for the next view.
    pub fn on_return(
        &mut self,
        op: OpId,
        result: &Result<(), LifecycleError>,
        at: &AtReturn,
        ledger: &Ledger,
        snapshot: &Snapshot,
    ) -> Result<(), Violation> {
        let kind = self
            .in_flight
            .remove(&op)
            .expect("only issued operations return");
        match (kind, result) {
            (OpKind::Stop(a), Ok(())) => {
                self.stop_barriers.insert(agent_id(a), op);
                if let Some(barrier) = self.stop_issue_barrier.remove(&op) {
                    self.stopped_incarnations.insert(agent_id(a), barrier);
                }
            }
            (OpKind::Start(_), Err(LifecycleError::Cancelled)) => {
                check_cancelled_start(ledger, op)?;
            }
            (OpKind::Evict, outcome) => {
                check_evicted(ledger, snapshot, op, outcome, &self.in_flight)?;
            }
            _ => {}
        }
        if let Some(issued) = self.issued.remove(&op) {
            let judged = judge_progress(op, &issued, at, result, &self.in_flight);
            self.stalled = self.stalled.take().or(judged);
        }
        Ok(())
    }

    /// An operation's caller went away: nothing is judged of its result (what it left is
    /// judged at settle like everything else). Its kind, if it was in flight.
    pub fn on_drop(&mut self, op: OpId) -> Option<OpKind> {
        let kind = self.in_flight.remove(&op)?;
        self.issued.remove(&op);
        self.stop_issue_barrier.remove(&op);
        Some(kind)
    }

    /// The container died: a fresh manager numbers its records afresh, every session died
    /// (so no stop bars one any more), and what was in flight died with it (returned, in
    /// order, for the timeline).
    pub fn on_bounce(&mut self) -> Vec<(OpId, OpKind)> {
        self.statuses.forget();
        self.stop_barriers.clear();
        self.stopped_incarnations.clear();
        self.stop_issue_barrier.clear();
        self.issued.clear();
        std::mem::take(&mut self.in_flight).into_iter().collect()
    }

    /// The view after a step at `now_ms`, on the backend's `ledger` and the manager's
    /// `snapshot` (`idle`: no backend call in flight): I1-I5 and the subject's own invariants,
    /// I8, I5's side state, then L2's verdict on what returned since the last view.
    pub fn on_step(
        &mut self,
        now_ms: u64,
        ledger: &Ledger,
        snapshot: &Snapshot,
        idle: bool,
    ) -> Result<(), Violation> {
        self.views += 1;
        let view = View {
            now_ms,
            ledger,
            snapshot,
            in_flight: &self.in_flight,
            quiescent: self.in_flight.is_empty() && idle,
            stop_barriers: &self.stop_barriers,
        };
        check_step(&view)?;
        for invariant in &self.user {
            invariant.check(&view)?;
        }
        self.statuses.observe(snapshot)?;
        check_side_state(snapshot, &self.stopped_incarnations, ledger)?;
        match self.stalled.take() {
            Some(v) => Err(v),
            None => Ok(()),
        }
    }

    /// L1 while operations are in flight: one must return within the bound of the last issue.
    pub fn on_waiting(&self, now_ms: u64) -> Result<(), Violation> {
        stalled_in_flight(
            &self.in_flight,
            now_ms.saturating_sub(self.quiet_since_ms),
            self.liveness_bound_ms,
        )
    }

    /// L1 once nothing is issued any more: the manager's background work (backend calls)
    /// must end within the bound of `since_ms`.
    pub fn on_settling(&self, now_ms: u64, since_ms: u64) -> Result<(), Violation> {
        stalled_after_return(now_ms - since_ms, self.liveness_bound_ms)
    }

    /// The manager settled: what it tracks is exactly what is live (I1, I3).
    pub fn on_settled(&self, ledger: &Ledger, snapshot: &Snapshot) -> Result<(), Violation> {
        check_settled(ledger, snapshot)
    }

    /// The end: every agent stopped, nothing live.
    pub fn on_end(&self, ledger: &Ledger, snapshot: &Snapshot) -> Result<(), Violation> {
        check_all_stopped(ledger, snapshot)
    }
}
