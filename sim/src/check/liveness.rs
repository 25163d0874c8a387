//! L1 (liveness): every operation returns, and the manager's backend calls end, within the
//! scenario's bound.

use std::collections::BTreeMap;

use super::{Invariant, Violation};
use crate::scenario::workload::OpKind;
use crate::world::history::OpId;

/// L1, once nothing is issued any more: backend calls are still in flight `waited_ms` after
/// the last operation returned, more than `bound_ms`.
pub fn stalled_after_return(waited_ms: u64, bound_ms: u64) -> Result<(), Violation> {
    if waited_ms <= bound_ms {
        return Ok(());
    }
    Err(Violation::new(
        Invariant::L1,
        format!("backend calls still in flight {waited_ms} ms after the last operation returned"),
        Vec::new(),
    ))
}

/// L1 while operations are in flight: none has returned `waited_ms` after the last one was
/// issued, more than `bound_ms`.
pub fn stalled_in_flight(
    in_flight: &BTreeMap<OpId, OpKind>,
    waited_ms: u64,
    bound_ms: u64,
) -> Result<(), Violation> {
    if in_flight.is_empty() || waited_ms <= bound_ms {
        return Ok(());
    }
    let stuck: Vec<String> = in_flight
        .iter()
        .map(|(op, kind)| format!("op#{op} {kind}"))
        .collect();
    Err(Violation::new(
        Invariant::L1,
        format!(
            "{} still in flight {waited_ms} ms after the last operation was issued",
            stuck.join(", ")
        ),
        Vec::new(),
    ))
}
