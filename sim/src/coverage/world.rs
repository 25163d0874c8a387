//! World points: the moments the harness itself observes in a run, whatever the manager (their
//! names here; `run/points.rs` finds them in a run).
//! Which operation arrived while which backend call of its agent was in flight; an eviction
//! during each call of a start; each fault that fired and changed what the manager saw; an
//! effect that landed after its caller gave up; a caller that went away at each await of each
//! operation; a millisecond whose events ran in an order other than the default.

use std::sync::LazyLock;

use crate::scenario::workload::{CallKind, OpKind};
use crate::world::history::Fault;

/// The operations whose callers may go away: the built-in ones, and every custom one as one.
const OPS: [&str; 6] = ["start", "stop", "evict", "refresh", "update", "custom"];
const FAULTS: [Fault; 5] = [
    Fault::Fail,
    Fault::Hang,
    Fault::Lie,
    Fault::LostReply,
    Fault::Late,
];

/// An operation's name in world points: a custom operation's points are all `custom`'s (the
/// catalog is the same for every subject).
pub(crate) fn op_name(kind: OpKind) -> &'static str {
    match kind {
        OpKind::Custom(_) => "custom",
        other => other.name(),
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
            names.push(format!("world.fault.{}.{call}", fault.name()));
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

/// The world point called `name` (a harness bug if there is none).
pub fn intern(name: String) -> &'static str {
    let at = WORLD_POINTS
        .binary_search(&name.as_str())
        .unwrap_or_else(|_| panic!("{name} is not a world point"));
    WORLD_POINTS[at]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

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
