//! World points: the moments the harness itself observes in a run, whatever the manager.
//! Which operation arrived while which backend call of its agent was in flight; an eviction
//! during each call of a start; each fault that fired and changed what the manager saw; an
//! effect that landed after its caller gave up; a caller that went away at each await of each
//! operation; a millisecond whose events ran in an order other than the default.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use crate::run::state_op::StateOp;
use crate::scenario::workload::{CallKind, OpKind};
use crate::world::history::{Fault, History, What};

const OPS: [&str; 3] = ["start", "stop", "evict"];
const FAULTS: [Fault; 5] = [
    Fault::Fail,
    Fault::Hang,
    Fault::Lie,
    Fault::LostReply,
    Fault::Late,
];

fn fault_name(fault: Fault) -> &'static str {
    match fault {
        Fault::Fail => "fail",
        Fault::Hang => "hang",
        Fault::Lie => "lie",
        Fault::LostReply => "lost_reply",
        Fault::Late => "late",
    }
}

fn op_name(kind: OpKind) -> &'static str {
    match kind {
        OpKind::Start(_) => "start",
        OpKind::Stop(_) => "stop",
        OpKind::Evict => "evict",
    }
}

/// Calls the backend can fault (the worker's round trips never fail: sdk.rs).
fn faultable() -> impl Iterator<Item = CallKind> {
    CallKind::ALL.into_iter().filter(|&k| k != CallKind::Worker)
}

/// Every world point, sorted.
pub static WORLD_POINTS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut names = Vec::new();
    for call in CallKind::ALL {
        names.push(format!("world.arrive.start.during.{call}"));
        names.push(format!("world.arrive.stop.during.{call}"));
        names.push(format!("world.evict.during_start.{call}"));
        for op in OPS {
            names.push(format!("world.drop.{op}.during.{call}"));
        }
    }
    for op in OPS {
        names.push(format!("world.drop.{op}.between_calls"));
    }
    for call in faultable() {
        names.push(format!("world.late_effect.{call}"));
        for fault in FAULTS {
            names.push(format!("world.fault.{}.{call}", fault_name(fault)));
        }
    }
    names.push("world.order.drawn_not_default".into());
    let mut names: Vec<&'static str> = names
        .into_iter()
        .map(|n| &*Box::leak(n.into_boxed_str()))
        .collect();
    names.sort_unstable();
    names
});

/// The world points a built-in campaign requires: the moments the harness exists to produce.
pub const REQUIRED_WORLD: &[&str] = &[
    "world.arrive.start.during.create_session",
    "world.arrive.stop.during.prompt",
    "world.evict.during_start.subscribe",
    "world.fault.lie.create_session",
    "world.late_effect.create_session",
    "world.drop.start.during.create_session",
    "world.drop.start.during.abort_session",
    "world.order.drawn_not_default",
];

/// The world point called `name`.
fn intern(name: String) -> &'static str {
    let at = WORLD_POINTS
        .binary_search(&name.as_str())
        .unwrap_or_else(|_| panic!("{name} is not a world point"));
    WORLD_POINTS[at]
}

/// The world points a run reached: from its arrivals (`pairs`), its history, and whether
/// some millisecond ran in a drawn order other than the default.
pub fn reached(
    pairs: &BTreeSet<StateOp>,
    history: &History,
    reordered: bool,
) -> BTreeSet<&'static str> {
    let mut points = BTreeSet::new();
    for pair in pairs {
        match *pair {
            StateOp::Start {
                call: Some(call), ..
            } => {
                points.insert(intern(format!("world.arrive.start.during.{call}")));
            }
            StateOp::Stop {
                call: Some(call), ..
            } => {
                points.insert(intern(format!("world.arrive.stop.during.{call}")));
            }
            _ => {}
        }
    }
    // Calls in flight (sent, not yet answered or given up on): call -> (op, kind, fault).
    let mut in_flight: BTreeMap<u64, (Option<u32>, CallKind, Option<Fault>)> = BTreeMap::new();
    let mut ops: BTreeMap<u32, OpKind> = BTreeMap::new();
    for event in &history.events {
        match &event.what {
            What::OpIssued(op, kind) => {
                ops.insert(*op, *kind);
                if *kind == OpKind::Evict {
                    for (call_op, call, _) in in_flight.values() {
                        let of_start = call_op
                            .and_then(|o| ops.get(&o))
                            .is_some_and(|k| matches!(k, OpKind::Start(_)));
                        if of_start {
                            points.insert(intern(format!("world.evict.during_start.{call}")));
                        }
                    }
                }
            }
            What::CallStarted {
                call,
                op,
                kind,
                fault,
                ..
            } => {
                in_flight.insert(*call, (*op, *kind, *fault));
            }
            What::CallReturned { call, .. } => {
                // An answer the caller heard: a failure or a lie changed what it saw.
                if let Some((_, kind, Some(fault @ (Fault::Fail | Fault::Lie)))) =
                    in_flight.remove(call)
                {
                    points.insert(intern(format!("world.fault.{}.{kind}", fault_name(fault))));
                }
            }
            What::CallAbandoned { call, .. } => {
                // No answer came: the caller's timeout saw the hang, the lost reply, the late one.
                if let Some((
                    _,
                    kind,
                    Some(fault @ (Fault::Hang | Fault::LostReply | Fault::Late)),
                )) = in_flight.remove(call)
                {
                    points.insert(intern(format!("world.fault.{}.{kind}", fault_name(fault))));
                }
            }
            What::CallLanded {
                kind,
                unawaited: true,
                ..
            } => {
                points.insert(intern(format!("world.late_effect.{kind}")));
            }
            What::OpDropped(op, kind) => {
                let at = in_flight
                    .iter()
                    .rev()
                    .find(|(_, (call_op, ..))| *call_op == Some(*op))
                    .map(|(_, (_, call, _))| *call);
                let name = match at {
                    Some(call) => format!("world.drop.{}.during.{call}", op_name(*kind)),
                    None => format!("world.drop.{}.between_calls", op_name(*kind)),
                };
                points.insert(intern(name));
            }
            _ => {}
        }
    }
    if reordered {
        points.insert("world.order.drawn_not_default");
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_world_points_are_world_points() {
        for name in REQUIRED_WORLD {
            assert!(WORLD_POINTS.contains(name), "{name}");
        }
        let distinct: BTreeSet<_> = WORLD_POINTS.iter().collect();
        assert_eq!(distinct.len(), WORLD_POINTS.len());
    }
}
