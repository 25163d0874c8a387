//! The checker: the one judge of every run. It keeps what is in flight and L1's clock, judges
//! each view with the invariants that need nothing more (I1-I4, `invariant.rs`), and hands the
//! run's events and views to the [`Watch`]es, which hold every other invariant's memory. Every
//! world (a scenario's container, the system's town and container) is judged by this one
//! checker, so every invariant holds everywhere.
//!
//! The hooks, in the order a look calls them: [`Checker::on_issue`]; for each event of the
//! run's stream [`Checker::on_close`], [`Checker::on_return`] or [`Checker::on_drop`];
//! [`Checker::on_bounce`] when the container died; [`Checker::on_step`] on the view; and, as
//! the run's phases say, [`Checker::on_waiting`], [`Checker::on_settling`],
//! [`Checker::on_settled`] and [`Checker::on_end`].

use std::collections::BTreeMap;

use agent_lifecycle::{LifecycleError, Snapshot};

use super::watch::{Issue, Return, Watch};
use super::watches;
use super::{
    UserInvariant, View, Violation, check_all_stopped, check_settled, check_step,
    stalled_after_return, stalled_in_flight,
};
use crate::scenario::spec::Timing;
use crate::scenario::workload::OpKind;
use crate::world::history::OpId;
use crate::world::ledger::Ledger;
use crate::world::{AtReturn, Closing};

/// The invariants' memory of a run.
pub struct Checker {
    /// Every invariant with a memory, and the subject's own, in the order they judge a view.
    watches: Vec<Box<dyn Watch>>,
    /// L1's bound.
    liveness_bound_ms: u64,
    /// The operations issued and not yet returned, dropped or killed.
    in_flight: BTreeMap<OpId, OpKind>,
    /// When the last operation was issued; L1's clock starts there.
    quiet_since_ms: u64,
    /// How many views were judged.
    views: u64,
}

impl Checker {
    /// A checker with the subject's own invariants and the scenario's clocks (L1's bound, and
    /// what L3-L5 measure against).
    pub fn new(user: Vec<UserInvariant>, timing: &Timing) -> Self {
        Self {
            watches: watches(user, timing),
            liveness_bound_ms: timing.liveness_bound_ms,
            in_flight: BTreeMap::new(),
            quiet_since_ms: 0,
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

    /// The operation `op`, if it is in flight.
    pub fn kind_of(&self, op: OpId) -> Option<OpKind> {
        self.in_flight.get(&op).copied()
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
        let issue = Issue {
            now_ms,
            op,
            kind,
            snapshot,
            faults_off,
            in_flight: &self.in_flight,
        };
        for watch in &mut self.watches {
            watch.on_issue(&issue);
        }
        self.in_flight.insert(op, kind);
        self.quiet_since_ms = now_ms;
    }

    /// A server closed.
    pub fn on_close(&mut self, closing: &Closing) -> Result<(), Violation> {
        self.watches
            .iter_mut()
            .try_for_each(|watch| watch.on_close(closing))
    }

    /// An operation returned (`at`: what the container saw then), judged on the world as the
    /// look finds it (`ledger`, and `snapshot` to take the manager's when a watch needs it).
    pub fn on_return(
        &mut self,
        op: OpId,
        result: &Result<(), LifecycleError>,
        at: &AtReturn,
        ledger: &Ledger,
        snapshot: &dyn Fn() -> Snapshot,
    ) -> Result<(), Violation> {
        let kind = self
            .in_flight
            .remove(&op)
            .expect("only issued operations return");
        let ret = Return {
            op,
            kind,
            result,
            at,
            ledger,
            snapshot,
            in_flight: &self.in_flight,
        };
        self.watches
            .iter_mut()
            .try_for_each(|watch| watch.on_return(&ret))
    }

    /// An operation's caller went away: nothing is judged of its result (what it left is
    /// judged at settle like everything else). Its kind, if it was in flight.
    pub fn on_drop(&mut self, op: OpId) -> Option<OpKind> {
        let kind = self.in_flight.remove(&op)?;
        for watch in &mut self.watches {
            watch.on_drop(op);
        }
        Some(kind)
    }

    /// The container died, and what was in flight with it (returned, in order, for the
    /// timeline), but `surviving`: a reboot, which the next boot's hydration answers.
    pub fn on_bounce(&mut self, surviving: Option<OpId>) -> Vec<(OpId, OpKind)> {
        for watch in &mut self.watches {
            watch.on_bounce();
        }
        let mut died = std::mem::take(&mut self.in_flight);
        if let Some(op) = surviving
            && let Some(kind) = died.remove(&op)
        {
            self.in_flight.insert(op, kind);
        }
        died.into_iter().collect()
    }

    /// The view after a step at `now_ms`, on the backend's `ledger` and the manager's
    /// `snapshot` (`idle`: no backend call in flight).
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
        };
        check_step(&view)?;
        self.watches
            .iter_mut()
            .try_for_each(|watch| watch.on_step(&view))
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
