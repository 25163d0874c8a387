//! The driver's state and what it does after each step: records what returned, bounces the
//! container after an eviction, judges the invariants, and moves the scenario through its
//! phases.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Mutex};

use agent_lifecycle::{AgentId, LifecycleError, StartRequest, Workdir};

use super::container::{Returns, lock_returns};
use super::panics::{self, snapshot_of};
use super::state_op::StateOp;
use super::{CONTAINER, Callers};
use crate::check::{
    Issued, StatusWatch, UserInvariant, View, Violation, check_all_stopped, check_cancelled_start,
    check_close, check_evicted, check_settled, check_side_state, check_step, judge_progress,
    stalled_after_return, stalled_in_flight,
};
use crate::scenario::names::{agent_id, agent_name, workdir_name};
use crate::scenario::spec::ScenarioSpec;
use crate::scenario::workload::{OpKind, Trigger};
use crate::world::backend::lock;
use crate::world::history::{OpId, What};
use crate::world::{Command, World};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// The workload's operations.
    Chaos,
    /// Faults healed, nothing issued: the manager's background work (idle exits, retries)
    /// runs out, and then what it tracks must be exactly what is live. Then `next`.
    Settle { since_ms: u64, next: AfterSettle },
    /// Faults healed: every agent is started once more, and each start must end Running (L2).
    Recovery,
    /// Every agent stopped.
    Wrapup,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum AfterSettle {
    Recovery,
    Wrapup,
}

pub(super) struct Driver {
    pub(super) world: Arc<Mutex<World>>,
    pub(super) spec: ScenarioSpec,
    pub(super) callers: Callers,
    /// The subject's own invariants, checked after every step.
    pub(super) invariants: Vec<UserInvariant>,
    /// Operations to issue, in order; `None` once issued.
    pub(super) queue: Vec<Option<(OpKind, Trigger)>>,
    pub(super) in_flight: BTreeMap<OpId, OpKind>,
    pub(super) next_op: OpId,
    pub(super) phase: Phase,
    /// When the last operation was issued; L1's clock starts there.
    pub(super) quiet_since_ms: u64,
    pub(super) stop_barriers: BTreeMap<AgentId, OpId>,
    /// For each agent, the newest incarnation that existed when its newest returned stop was
    /// issued (I5, side state): records made later may belong to later starts.
    pub(super) stopped_incarnations: BTreeMap<AgentId, u64>,
    /// The same, for each stop in flight.
    pub(super) stop_issue_barrier: BTreeMap<OpId, u64>,
    pub(super) statuses: StatusWatch,
    /// The last step that ended with an operation or a backend call in flight.
    pub(super) busy_ms: u64,
    pub(super) coverage: BTreeSet<StateOp>,
    /// The workload's operations (by place) dropped unissued: the call each waited for was
    /// never in flight.
    pub(super) never_issued: Vec<usize>,
    /// How long the manager must have been quiet to count as settled.
    pub(super) settle_ms: u64,
    /// Every operation in flight, for L2.
    pub(super) issued: BTreeMap<OpId, Issued>,
    /// Filled by the container as operations return.
    pub(super) returns: Returns,
    /// How many views the invariants were judged on.
    pub(super) views: u64,
}

/// What the outcome keeps of the driver.
pub(super) struct LeftOver {
    pub(super) never_issued: Vec<usize>,
    pub(super) coverage: BTreeSet<StateOp>,
    pub(super) views: u64,
}

impl Driver {
    /// What the outcome keeps of the driver: the operations never issued (a run that ended
    /// during the workload never issued what was still queued), and the coverage.
    pub(super) fn left_over(&mut self) -> LeftOver {
        let mut never_issued = std::mem::take(&mut self.never_issued);
        if self.phase == Phase::Chaos {
            never_issued.extend((0..self.queue.len()).filter(|&i| self.queue[i].is_some()));
        }
        never_issued.sort_unstable();
        LeftOver {
            never_issued,
            coverage: std::mem::take(&mut self.coverage),
            views: self.views,
        }
    }
}

/// What [`Driver::observe`] found.
pub(super) struct Observed {
    /// An eviction returned: the container must be bounced.
    pub(super) evicted: bool,
    /// L2's verdict on what returned, judged after this step's safety invariants.
    pub(super) stalled: Option<Violation>,
}

impl Driver {
    pub(super) fn command(&self, kind: OpKind) -> Command {
        match kind {
            OpKind::Start(a) => Command::Start(StartRequest {
                agent: agent_id(a),
                workdir: Workdir::new(&workdir_name(self.spec.workload.workdirs[usize::from(a)])),
                prompt: format!("task for {}", agent_name(a)),
            }),
            OpKind::Stop(a) => Command::Stop(agent_id(a)),
            OpKind::Evict => Command::Evict,
        }
    }

    pub(super) fn op_agent(kind: OpKind) -> Option<AgentId> {
        crate::scenario::names::agent_of(kind)
    }

    /// Records what returned, bounces the container after an eviction, and judges the
    /// invariants. `Ok(true)` when the scenario is over and passed.
    pub(super) fn after_step(
        &mut self,
        now_ms: u64,
        sim: &mut turmoil::Sim<'_>,
    ) -> Result<bool, Violation> {
        let observed = self.observe(now_ms)?;
        if observed.evicted {
            // Dropping the old runtime drops the manager's tasks: container code too.
            let bounced =
                panics::capturing(|| catch_unwind(AssertUnwindSafe(|| sim.bounce(CONTAINER))));
            if let Some(v) = panics::violation() {
                return Err(v);
            }
            if let Err(payload) = bounced {
                resume_unwind(payload);
            }
            self.after_bounce(now_ms);
        }
        self.judge(now_ms, observed.stalled)
    }

    /// What returned, was dropped, or closed since the last look: the invariants judged at a
    /// return (I6, I7, L2's verdict, kept for [`Driver::judge`]) and at a close (I3).
    pub(super) fn observe(&mut self, now_ms: u64) -> Result<Observed, Violation> {
        // A panic while the driver took a snapshot before the step.
        if let Some(v) = panics::violation() {
            return Err(v);
        }
        let world = self.world.clone();
        let mut w = lock(&world);
        for closing in std::mem::take(&mut w.closings) {
            check_close(&closing)?;
        }
        let mut evicted = false;
        // Progress is judged after the safety invariants of this step: a leak or a double
        // release that also stalls progress is reported as what it is.
        let mut stalled = None;
        for (op, result) in std::mem::take(&mut w.returned) {
            let kind = self
                .in_flight
                .remove(&op)
                .expect("only issued operations return");
            // In the history first, so that a report on this return shows it.
            w.history.push(
                now_ms,
                Self::op_agent(kind),
                What::OpReturned(op, kind, result.clone()),
            );
            match (kind, &result) {
                (OpKind::Stop(a), Ok(())) => {
                    self.stop_barriers.insert(agent_id(a), op);
                    if let Some(barrier) = self.stop_issue_barrier.remove(&op) {
                        self.stopped_incarnations.insert(agent_id(a), barrier);
                    }
                }
                (OpKind::Start(_), Err(LifecycleError::Cancelled)) => {
                    check_cancelled_start(&w.ledger, op)?;
                }
                (OpKind::Evict, outcome) => {
                    evicted = true;
                    let snapshot = snapshot_of(&w);
                    check_evicted(&w.ledger, &snapshot, op, outcome, &self.in_flight)?;
                }
                _ => {}
            }
            let at = lock_returns(&self.returns).remove(&op);
            if let (Some(issued), Some(at)) = (self.issued.remove(&op), at) {
                let judged = judge_progress(op, &issued, &at, &result, &self.in_flight);
                stalled = stalled.or(judged);
            }
        }
        for op in std::mem::take(&mut w.dropped) {
            let Some(kind) = self.in_flight.remove(&op) else {
                continue;
            };
            // Nothing is judged of a dropped operation's result; what it left is judged at
            // settle like everything else.
            self.issued.remove(&op);
            self.stop_issue_barrier.remove(&op);
            lock_returns(&self.returns).remove(&op);
            w.history
                .push(now_ms, Self::op_agent(kind), What::OpDropped(op, kind));
        }
        Ok(Observed { evicted, stalled })
    }

    /// After the container was bounced: what died with it.
    pub(super) fn after_bounce(&mut self, now_ms: u64) {
        let world = self.world.clone();
        let mut w = lock(&world);
        {
            w.kill_container();
            self.statuses.forget();
            self.stopped_incarnations.clear();
            self.stop_issue_barrier.clear();
            lock_returns(&self.returns).clear();
            self.issued.clear();
            for (op, kind) in std::mem::take(&mut self.in_flight) {
                w.history
                    .push(now_ms, Self::op_agent(kind), What::OpKilled(op, kind));
            }
        }
    }

    /// The invariants of this step, then the scenario's phases. `Ok(true)` when the scenario
    /// is over and passed.
    pub(super) fn judge(
        &mut self,
        now_ms: u64,
        stalled: Option<Violation>,
    ) -> Result<bool, Violation> {
        let world = self.world.clone();
        let mut w = lock(&world);
        let snapshot = snapshot_of(&w);
        if let Some(v) = panics::violation() {
            return Err(v);
        }
        let quiescent = self.in_flight.is_empty() && w.is_idle();
        if !quiescent || w.has_scheduled() {
            self.busy_ms = now_ms;
        }
        let view = View {
            now_ms,
            ledger: &w.ledger,
            snapshot: &snapshot,
            in_flight: &self.in_flight,
            quiescent,
            stop_barriers: &self.stop_barriers,
        };
        self.views += 1;
        check_step(&view)?;
        for invariant in &self.invariants {
            invariant.check(&view)?;
        }
        self.statuses.observe(&snapshot)?;
        check_side_state(&snapshot, &self.stopped_incarnations, &w.ledger)?;
        if let Some(v) = stalled {
            return Err(v);
        }

        let all_issued = self.queue.iter().all(Option::is_none);
        if all_issued && self.in_flight.is_empty() {
            match self.phase {
                Phase::Chaos => {
                    w.healed = true;
                    w.history.push(now_ms, None, What::FaultsHealed);
                    self.phase = Phase::Settle {
                        since_ms: now_ms,
                        next: AfterSettle::Recovery,
                    };
                }
                Phase::Settle { since_ms, next } => {
                    let settled = now_ms - self.busy_ms >= self.settle_ms;
                    if settled {
                        check_settled(&w.ledger, &snapshot)?;
                        let agents = 0..self.spec.workload.agents() as u8;
                        let (what, phase, op): (_, _, fn(u8) -> OpKind) = match next {
                            AfterSettle::Recovery => {
                                (What::Recovering, Phase::Recovery, OpKind::Start)
                            }
                            AfterSettle::Wrapup => (What::StoppingAll, Phase::Wrapup, OpKind::Stop),
                        };
                        w.history.push(now_ms, None, what);
                        self.phase = phase;
                        // All at once, as at time 0 of the phase.
                        self.queue = agents.map(|a| Some((op(a), Trigger::At(0)))).collect();
                    } else {
                        stalled_after_return(
                            now_ms - since_ms,
                            self.spec.timing.liveness_bound_ms,
                        )?;
                    }
                }
                Phase::Recovery => {
                    self.phase = Phase::Settle {
                        since_ms: now_ms,
                        next: AfterSettle::Wrapup,
                    };
                }
                Phase::Wrapup => {
                    check_all_stopped(&w.ledger, &snapshot)?;
                    return Ok(true);
                }
            }
        } else if !self.in_flight.is_empty() {
            stalled_in_flight(
                &self.in_flight,
                now_ms.saturating_sub(self.quiet_since_ms),
                self.spec.timing.liveness_bound_ms,
            )?;
        } else if self.in_flight.is_empty() && !all_issued {
            // Only conditional operations are left and nothing is in flight to fire them.
            let never: Vec<usize> = (0..self.queue.len())
                .filter(|&i| self.queue[i].is_some())
                .collect();
            if never
                .iter()
                .all(|&i| matches!(self.queue[i], Some((_, Trigger::WhilePending(..)))))
            {
                for i in never {
                    self.queue[i] = None;
                    self.never_issued.push(i);
                }
            }
        }
        Ok(false)
    }
}
