//! L2 (progress): with the faults off, an operation nothing superseded does what it was asked,
//! as seen the moment it returned.

use std::collections::BTreeMap;

use agent_lifecycle::{LifecycleError, SessionId, Status};

use super::watch::{Issue, Return, Watch};
use super::{Invariant, View, Violation};
use crate::scenario::names::{agent_id, agent_of};
use crate::scenario::workload::OpKind;
use crate::world::AtReturn;
use crate::world::history::OpId;

/// L2's memory: every operation in flight as issued, and the verdict on what returned since
/// the last view, judged after that view's safety invariants.
#[derive(Default)]
pub(super) struct Progress {
    issued: BTreeMap<OpId, Issued>,
    stalled: Option<Violation>,
    /// An eviction returned and the container has not died yet: it is going away.
    evicted: bool,
}

impl Watch for Progress {
    fn on_issue(&mut self, issue: &Issue<'_>) {
        for earlier in self.issued.values_mut() {
            earlier.superseded |= match (earlier.kind, issue.kind) {
                (OpKind::Start(a), OpKind::Start(b) | OpKind::Stop(b)) => a == b,
                (OpKind::Start(_), OpKind::Evict | OpKind::Reboot | OpKind::Refresh) => true,
                // An update (or a refresh) restarts what the start left Running.
                (OpKind::Start(a), OpKind::Update(b)) => a == b,
                (OpKind::Stop(a), OpKind::Start(b)) => a == b,
                _ => false,
            };
        }
        // While an eviction is in flight the container is going away: refusing new work
        // (`Evicting`) is right, and nothing issued then is expected to succeed. Nor is an
        // operation that races one issued while the faults were on: that one may still fail
        // of a fault (a start whose create failed ends Failed under a stop issued after the
        // faults healed). In a scenario the faults heal only once nothing is in flight and an
        // eviction's return bounces everything in flight, so this matters in system runs,
        // whose faults heal at a set time.
        let evicting = self.evicted || issue.in_flight.values().any(|k| *k == OpKind::Evict);
        let races_faults = issue
            .in_flight
            .keys()
            .any(|op| self.issued.get(op).is_none_or(|i| !i.healthy));
        let record_before = agent_of(issue.kind).and_then(|agent| {
            issue
                .snapshot
                .agents
                .iter()
                .find(|r| r.agent == agent)
                .map(|r| (r.incarnation, r.status))
        });
        self.issued.insert(
            issue.op,
            Issued {
                kind: issue.kind,
                healthy: issue.faults_off && !evicting && !races_faults,
                superseded: false,
                record_before,
            },
        );
    }

    fn on_return(&mut self, ret: &Return<'_>) -> Result<(), Violation> {
        self.evicted |= ret.kind == OpKind::Evict;
        if let Some(issued) = self.issued.remove(&ret.op) {
            let judged = judge_progress(ret.op, &issued, ret.at, ret.result, ret.in_flight);
            self.stalled = self.stalled.take().or(judged);
        }
        Ok(())
    }

    fn on_drop(&mut self, op: OpId) {
        self.issued.remove(&op);
    }

    /// What was in flight died; a verdict already reached stands.
    fn on_bounce(&mut self) {
        self.issued.clear();
        self.evicted = false;
    }

    fn on_step(&mut self, _view: &View<'_>) -> Result<(), Violation> {
        self.stalled.take().map_or(Ok(()), Err)
    }
}

/// An operation in flight, as L2 (progress) judges it when it returns.
struct Issued {
    kind: OpKind,
    /// Issued with the faults off (a fault-free scenario, or after they healed) and no
    /// eviction in flight: it is expected to succeed.
    healthy: bool,
    /// A later operation superseded it before it returned: a start by a later start, stop or
    /// eviction of its agent; a stop by a later start of its agent.
    superseded: bool,
    /// The agent's record (incarnation, status) when the operation was issued.
    record_before: Option<(u64, Status)>,
}

/// L2 (progress), when an operation returns: with the faults off, a start that nothing
/// superseded returns Ok with its agent's record Running, and a stop that no later start
/// superseded leaves its agent's record Exited (or absent, or finished before the stop
/// was issued) and none of its sessions live. Read the moment the operation returned.
fn judge_progress(
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
                // stays failed. So is a stop of one whose teardown was already under way (a
                // failed start's, retried in the background): it ends as that teardown says.
                Some(r) => {
                    r.status.is_terminal()
                        && [r.status, Status::Stopping]
                            .iter()
                            .any(|&s| issued.record_before == Some((r.incarnation, s)))
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
            // when that start returns (I5, I1), as the process manager's I5 reads
            // (`docs/real-system.md`). A session no caller heard of (a lost reply, a late
            // effect) the manager cannot answer for until it finds it: I1 judges it at settle
            // (a scenario settles before anything is judged with the faults off; a system's
            // faults heal at a set time, with such sessions still live).
            let live: Vec<SessionId> = at
                .live
                .iter()
                .filter(|s| !s.ambiguous)
                .filter(|s| s.creator.is_none_or(|c| !in_flight.contains_key(&c)))
                .map(|s| s.id)
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
        // Not judged yet: what a refresh, an update, a reboot or a custom operation must
        // leave with the faults off is the subject's to say (a user invariant).
        OpKind::Evict
        | OpKind::Refresh
        | OpKind::Update(_)
        | OpKind::Reboot
        | OpKind::Custom(_) => None,
    }
}
