//! I6 (cancellation wins): a start that returns cancelled leaves no session behind.

use agent_lifecycle::LifecycleError;

use super::watch::{Return, Watch};
use super::{Invariant, Violation, describe_all};
use crate::scenario::workload::OpKind;
use crate::world::history::OpId;
use crate::world::ledger::{Ledger, SessionRecord};

/// I6, judged when a start returns.
pub(super) struct CancelledLeavesNothing;

impl Watch for CancelledLeavesNothing {
    fn on_return(&mut self, ret: &Return<'_>) -> Result<(), Violation> {
        match (ret.kind, ret.result) {
            (OpKind::Start(_), Err(LifecycleError::Cancelled)) => {
                check_cancelled_start(ret.ledger, ret.op)
            }
            _ => Ok(()),
        }
    }
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
