//! L2 (progress): with the faults off, an operation nothing superseded does what it was asked,
//! as seen the moment it returned.

use std::collections::BTreeMap;

use agent_lifecycle::{LifecycleError, SessionId, Status};

use super::{Invariant, Violation};
use crate::scenario::names::agent_id;
use crate::scenario::workload::OpKind;
use crate::world::AtReturn;
use crate::world::history::OpId;

/// An operation in flight, as L2 (progress) judges it when it returns.
pub struct Issued {
    pub kind: OpKind,
    /// Issued with the faults off (a fault-free scenario, or after they healed) and no
    /// eviction in flight: it is expected to succeed.
    pub healthy: bool,
    /// A later operation superseded it before it returned: a start by a later start, stop or
    /// eviction of its agent; a stop by a later start of its agent.
    pub superseded: bool,
    /// The agent's record (incarnation, status) when the operation was issued.
    pub record_before: Option<(u64, Status)>,
}

/// L2 (progress), when an operation returns: with the faults off, a start that nothing
/// superseded returns Ok with its agent's record Running, and a stop that no later start
/// superseded leaves its agent's record Exited (or absent, or finished before the stop
/// was issued) and none of its sessions live. Read the moment the operation returned.
pub fn judge_progress(
    op: OpId,
    issued: &Issued,
    at: &AtReturn,
    result: &Result<(), LifecycleError>,
    in_flight: &BTreeMap<OpId, OpKind>,
) -> Option<Violation> {
    if !issued.healthy || issued.superseded {
        return None;
    }
    let fail = |detail: String, sessions: Vec<SessionId>| {
        Some(Violation::new(Invariant::L2, detail, sessions))
    };
    match issued.kind {
        OpKind::Start(a) => {
            let agent = agent_id(a);
            let record = at.snapshot.agents.iter().find(|r| r.agent == agent);
            if let Err(e) = result {
                return fail(
                    format!(
                        "with the faults off, op#{op} start {agent} returned error ({e}), though nothing superseded it"
                    ),
                    Vec::new(),
                );
            }
            match record {
                Some(r) if r.status == Status::Running => None,
                Some(r) => fail(
                    format!(
                        "with the faults off, op#{op} start {agent} returned ok, but its record is {:?}",
                        r.status
                    ),
                    r.session.into_iter().collect(),
                ),
                None => fail(
                    format!(
                        "with the faults off, op#{op} start {agent} returned ok, but the manager has no record of {agent}"
                    ),
                    Vec::new(),
                ),
            }
        }
        OpKind::Stop(a) => {
            let agent = agent_id(a);
            let record = at.snapshot.agents.iter().find(|r| r.agent == agent);
            let ended = match record {
                None => true,
                Some(r) if r.status == Status::Exited => true,
                // A stop of a finished agent is a no-op: a record that had already failed
                // stays failed.
                Some(r) => {
                    r.status.is_terminal()
                        && issued.record_before == Some((r.incarnation, r.status))
                }
            };
            let returned = match result {
                Ok(()) => "returned ok".to_string(),
                Err(e) => format!("returned error ({e})"),
            };
            if !ended {
                let r = record.expect("an absent record has ended");
                return fail(
                    format!(
                        "with the faults off, op#{op} stop {agent} {returned}, but its record is {:?}",
                        r.status
                    ),
                    r.session.into_iter().collect(),
                );
            }
            // A startup the stop cancelled may still be unwinding: its session is judged
            // when that start returns (I5, I1), as seed-system.md §7 I5 reads.
            let live: Vec<SessionId> = at
                .live
                .iter()
                .filter(|(_, creator)| creator.is_none_or(|c| !in_flight.contains_key(&c)))
                .map(|(s, _)| *s)
                .collect();
            if !live.is_empty() {
                let list: Vec<String> = live.iter().map(|s| s.to_string()).collect();
                return fail(
                    format!(
                        "with the faults off, op#{op} stop {agent} {returned}, yet {agent}'s {} still live",
                        if list.len() == 1 {
                            format!("{} is", list[0])
                        } else {
                            format!("{} are", list.join(", "))
                        }
                    ),
                    live,
                );
            }
            None
        }
        OpKind::Evict => None,
    }
}
