//! What an invariant that remembers looks like to the checker: a [`Watch`] hears the run's
//! events as they are judged and the views after each step, and keeps what it needs between
//! them. Each such invariant is one file with one `Watch`, registered in `invariant.rs`.

use std::collections::BTreeMap;

use agent_lifecycle::{LifecycleError, Snapshot};

use super::{View, Violation};
use crate::scenario::workload::OpKind;
use crate::world::history::OpId;
use crate::world::ledger::Ledger;
use crate::world::{AtReturn, Closing};

/// An operation being issued.
pub struct Issue<'a> {
    /// When it was issued.
    pub now_ms: u64,
    /// The operation's number.
    pub op: OpId,
    /// What it is.
    pub kind: OpKind,
    /// The manager's snapshot the moment it was issued.
    pub snapshot: &'a Snapshot,
    /// Whether the faults were off then (a faultless run, or after they healed).
    pub faults_off: bool,
    /// The operations in flight before it.
    pub in_flight: &'a BTreeMap<OpId, OpKind>,
}

/// An operation that returned, judged on the world as it is at the look.
pub struct Return<'a> {
    /// The operation's number.
    pub op: OpId,
    /// What it was.
    pub kind: OpKind,
    /// What it returned.
    pub result: &'a Result<(), LifecycleError>,
    /// What the container saw the moment it returned.
    pub at: &'a AtReturn,
    /// The backend's ground truth as the look finds it.
    pub ledger: &'a Ledger,
    /// The manager's snapshot as the look finds it, taken on demand: only an eviction's
    /// return is judged on it, and taking one at every return would cost every run.
    pub snapshot: &'a dyn Fn() -> Snapshot,
    /// The operations still in flight.
    pub in_flight: &'a BTreeMap<OpId, OpKind>,
}

/// An invariant with a memory, or one judged at an event rather than on a view. Every hook
/// has a default that does nothing.
pub trait Watch: Send {
    /// An operation is issued.
    fn on_issue(&mut self, _issue: &Issue<'_>) {}

    /// A server closed.
    fn on_close(&mut self, _closing: &Closing) -> Result<(), Violation> {
        Ok(())
    }

    /// An operation returned.
    fn on_return(&mut self, _ret: &Return<'_>) -> Result<(), Violation> {
        Ok(())
    }

    /// An operation's caller went away; its future was dropped.
    fn on_drop(&mut self, _op: OpId) {}

    /// The container died, with everything in it.
    fn on_bounce(&mut self) {}

    /// The view after a step.
    fn on_step(&mut self, _view: &View<'_>) -> Result<(), Violation> {
        Ok(())
    }
}
