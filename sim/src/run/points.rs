//! The world points a run reached ([`crate::coverage::world`]), found in its arrivals and its
//! history once it is over.

use std::collections::{BTreeMap, BTreeSet};

use crate::coverage::world::{intern, op_name};
use crate::run::state_op::StateOp;
use crate::scenario::workload::{CallKind, OpKind};
use crate::world::history::{Fault, History, What};

/// The world points a run reached: from its arrivals (`pairs`), its history, and whether
/// some millisecond ran in a drawn order other than the default.
pub(crate) fn reached(
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
                    points.insert(intern(format!("world.fault.{}.{kind}", fault.name())));
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
                    points.insert(intern(format!("world.fault.{}.{kind}", fault.name())));
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
