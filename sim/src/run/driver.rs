//! A scenario's driver: its workload queue, its phases and its clocks, and how a look moves
//! it from phase to phase once the checker has passed the view.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use agent_lifecycle::{AgentId, Snapshot, StartRequest, Workdir};

use super::Callers;
use super::drive::Scene;
use super::state_op::StateOp;
use crate::check::{Checker, Violation};
use crate::scenario::names::{agent_id, agent_name, workdir_name};
use crate::scenario::spec::ScenarioSpec;
use crate::scenario::workload::{OpKind, OpName, Trigger};
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

/// A scenario's scene: its workload, its phases, and the clocks that move them. What the
/// invariants remember lives in the checker.
pub(super) struct Driver {
    pub(super) world: Arc<Mutex<World>>,
    pub(super) spec: ScenarioSpec,
    pub(super) callers: Callers,
    /// Operations to issue, in order; `None` once issued.
    pub(super) queue: Vec<Option<(OpKind, Trigger)>>,
    pub(super) next_op: OpId,
    pub(super) phase: Phase,
    /// The last step that ended with an operation or a backend call in flight.
    pub(super) busy_ms: u64,
    /// How long the manager must have been quiet to count as settled.
    pub(super) settle_ms: u64,
    /// The subject's own operations whose callers always wait.
    pub(super) waiting_callers: Vec<OpName>,
    pub(super) coverage: BTreeSet<StateOp>,
    /// The workload's operations (by place) dropped unissued: the call each waited for was
    /// never in flight.
    pub(super) never_issued: Vec<usize>,
    pub(super) checker: Checker,
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
            views: self.checker.views(),
        }
    }
}

impl Driver {
    /// What the container is asked for operation `op` of `kind` (a reboot is the driver's
    /// own doing, never a command).
    pub(super) fn command(&self, kind: OpKind, op: OpId) -> Command {
        match kind {
            OpKind::Start(a) => Command::Start(StartRequest {
                agent: agent_id(a),
                workdir: Workdir::new(&workdir_name(self.spec.workload.workdirs[usize::from(a)])),
                prompt: format!("task for {}", agent_name(a)),
            }),
            OpKind::Stop(a) => Command::Stop(agent_id(a)),
            OpKind::Evict => Command::Evict,
            OpKind::Refresh => Command::Refresh,
            // Each update a configuration of its own, so a timeline tells them apart.
            OpKind::Update(a) => Command::Update(agent_id(a), format!("model-{op}")),
            OpKind::Custom(call) => Command::Custom(call, call.agent.map(agent_id)),
            OpKind::Reboot => unreachable!("a reboot bounces the container; it is no command"),
        }
    }

    /// Whether the callers of `kind` always wait (a custom operation whose subject says so).
    pub(super) fn caller_waits(&self, kind: OpKind) -> bool {
        matches!(kind, OpKind::Custom(c) if self.waiting_callers.contains(&c.name))
    }

    pub(super) fn op_agent(kind: OpKind) -> Option<AgentId> {
        crate::scenario::names::agent_of(kind)
    }

    /// The scenario's phases, once the checker passed the view. `Ok(true)` when the scenario
    /// is over and passed.
    fn phases(
        &mut self,
        now_ms: u64,
        w: &mut World,
        snapshot: &Snapshot,
    ) -> Result<bool, Violation> {
        let in_flight = !self.checker.in_flight().is_empty();
        if in_flight || !w.is_idle() || w.has_scheduled() {
            self.busy_ms = now_ms;
        }
        let all_issued = self.queue.iter().all(Option::is_none);
        if all_issued && !in_flight {
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
                        self.checker.on_settled(&w.ledger, snapshot)?;
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
                        self.checker.on_settling(now_ms, since_ms)?;
                    }
                }
                Phase::Recovery => {
                    self.phase = Phase::Settle {
                        since_ms: now_ms,
                        next: AfterSettle::Wrapup,
                    };
                }
                Phase::Wrapup => {
                    self.checker.on_end(&w.ledger, snapshot)?;
                    return Ok(true);
                }
            }
        } else if in_flight {
            self.checker.on_waiting(now_ms)?;
        } else if !all_issued {
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

impl Scene for Driver {
    fn world(&self) -> &Arc<Mutex<World>> {
        &self.world
    }

    fn checker(&mut self) -> &mut Checker {
        &mut self.checker
    }

    fn act(&mut self, now_ms: u64) {
        self.before_step(now_ms);
    }

    fn judge(
        &mut self,
        now_ms: u64,
        w: &mut World,
        snapshot: &Snapshot,
    ) -> Result<bool, Violation> {
        self.phases(now_ms, w, snapshot)
    }
}
