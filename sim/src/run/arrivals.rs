//! Before each step: which operations arrive, which calls are answered, and in what order
//! the events of one instant happen.

use agent_lifecycle::Snapshot;

use super::Callers;
use super::driver::{Driver, Phase};
use super::panics::snapshot_of;
use super::state_op::StateOp;
use crate::scenario::names::agent_id;
use crate::scenario::workload::{OpKind, Trigger};
use crate::schedule::{Ready, Thread};
use crate::world::backend::lock;
use crate::world::history::{OpId, What};
use crate::world::mailbox::Notice;
use crate::world::{Happening, World};

impl Driver {
    /// Issues the operations whose trigger has fired, then answers the calls that are due.
    pub(super) fn before_step(&mut self, now_ms: u64) {
        let world = self.world.clone();
        let mut w = lock(&world);
        w.now_ms = now_ms;
        if w.draws_orders() {
            self.take_the_instant(&mut w, now_ms);
            return;
        }
        // Version 1: a fixed order.
        w.fire_drops();
        w.deliver_due();
        if w.inbox.is_none() {
            w.release_due(None);
            return;
        }
        if !self.spec.strategy.times_calls() {
            // pct and dfs schedule operation arrivals too, as steps of a client "thread": each
            // tick either the next operation arrives or one call is answered, by their choice.
            let next = self.queue.iter().position(Option::is_some);
            let mut steps = w.ready_calls();
            if next.is_some() {
                steps.insert(0, Self::client_step(now_ms));
            }
            let pick = w.pick_one(&steps);
            match (next, pick) {
                (Some(slot), Some(0)) => {
                    self.issue(&mut w, slot, now_ms);
                    w.release_due(Some(None));
                }
                (Some(_), Some(i)) => w.release_due(Some(Some(i - 1))),
                (None, pick) => w.release_due(Some(pick)),
                (Some(_), None) => unreachable!("an arrival is always a step"),
            }
            return;
        }
        let (arrivals, raced) = self.due_arrivals(&w, now_ms);
        for slot in arrivals {
            self.issue(&mut w, slot, now_ms);
        }
        // An operation aimed at a call in flight must run before that call is answered.
        w.release_due(if raced { Some(None) } else { None });
    }

    /// The client's next arrival, as a pct or dfs step.
    pub(super) fn client_step(now_ms: u64) -> Ready {
        Ready {
            id: 0,
            thread: Thread::Client,
            due_ms: now_ms,
        }
    }

    /// Version 2: everything due this millisecond (callers going away, the backend's own
    /// events, the calls the strategy answers, the operations that arrive) happens in an
    /// order drawn from the decision stream: their effects at the server in that order, and
    /// their notices reach the container's tasks in that order.
    pub(super) fn take_the_instant(&mut self, w: &mut World, now_ms: u64) {
        enum Due {
            CallerGone(OpId),
            Backend(Happening),
            Answer(u64),
            Arrival(usize),
        }
        w.forget_abandoned();
        let mut due: Vec<Due> = w.due_drops().into_iter().map(Due::CallerGone).collect();
        for happening in w.take_due_happenings() {
            if w.is_unheard(&happening) {
                w.happen(happening);
            } else {
                due.push(Due::Backend(happening));
            }
        }
        if w.inbox.is_none() {
            due.extend(w.scheduled_calls().into_iter().map(Due::Answer));
        } else if !self.spec.strategy.times_calls() {
            // pct and dfs: one step of one thread, the client's next arrival (which keeps its
            // place in the workload and its trigger) or one call's answer.
            let next = self.queue.iter().position(Option::is_some).filter(|&slot| {
                self.queue[slot].is_some_and(|(_, when)| Self::fired(w, when, None))
            });
            let mut steps = w.ready_calls();
            if next.is_some() {
                steps.insert(0, Self::client_step(now_ms));
            }
            match (next, w.pick_one(&steps)) {
                (Some(slot), Some(0)) => due.push(Due::Arrival(slot)),
                // Version 5: the pick may hold its call instead (a slow answer, no fault).
                (_, Some(i)) => {
                    if !w.hold_instead(steps[i].id) {
                        due.push(Due::Answer(steps[i].id));
                    }
                }
                (_, None) => {}
            }
        } else {
            let (arrivals, raced) = self.due_arrivals(w, now_ms);
            // An operation aimed at a call in flight must run before that call is answered.
            if !raced {
                due.extend(w.scheduled_calls().into_iter().map(Due::Answer));
            }
            due.extend(arrivals.into_iter().map(Due::Arrival));
        }
        let order = w.draw_order(due.len());
        w.begin_batch();
        for i in order {
            match due[i] {
                Due::CallerGone(op) => w.fire_drop(op),
                Due::Backend(happening) => w.happen(happening),
                Due::Answer(call) => w.answer_call(call),
                Due::Arrival(slot) => self.issue(w, slot, now_ms),
            }
        }
        w.end_batch();
    }

    /// Whether a trigger has fired: its time has come (`now_ms`; `None`: time is not
    /// modelled, as under pct and dfs), or the call it is aimed at is in flight.
    pub(super) fn fired(w: &World, when: Trigger, now_ms: Option<u64>) -> bool {
        match when {
            Trigger::At(t) => now_ms.is_none_or(|now| t <= now),
            Trigger::WhilePending(call, a) => w.is_pending(call, &agent_id(a)),
        }
    }

    /// The queued operations whose trigger has fired (random strategy), and whether one of
    /// them is aimed at a call in flight.
    pub(super) fn due_arrivals(&self, w: &World, now_ms: u64) -> (Vec<usize>, bool) {
        let mut arrivals = Vec::new();
        let mut raced = false;
        for slot in 0..self.queue.len() {
            let Some((_, when)) = self.queue[slot] else {
                continue;
            };
            if !Self::fired(w, when, Some(now_ms)) {
                // Timed operations go in order; a later one never overtakes an earlier one.
                if matches!(when, Trigger::At(_)) {
                    break;
                }
                continue;
            }
            raced |= matches!(when, Trigger::WhilePending(..));
            arrivals.push(slot);
        }
        (arrivals, raced)
    }

    pub(super) fn issue(&mut self, w: &mut World, slot: usize, now_ms: u64) {
        let (kind, _) = self.queue[slot].take().expect("issuing a queued operation");
        // A panic in the snapshot is reported after this step.
        let snapshot = snapshot_of(w);
        self.coverage.insert(self.state_label(w, &snapshot, kind));
        let op = self.next_op;
        self.next_op += 1;
        let faults_off = w.faults_off();
        self.checker
            .on_issue(now_ms, op, kind, &snapshot, faults_off);
        // Wrap-up stops are the harness's own, an eviction is a signal (SIGTERM), not a
        // request, and a reboot is the container's own: their callers always wait. A custom
        // operation's caller waits if its subject says so.
        if self.callers == Callers::MayDrop
            && self.phase != Phase::Wrapup
            && !matches!(kind, OpKind::Evict | OpKind::Reboot)
            && !self.caller_waits(kind)
        {
            w.plan_drop(op);
        }
        if kind == OpKind::Reboot {
            // The container goes at the next look; its next boot hydrates, as this operation.
            w.reboot = Some(op);
        } else {
            w.post(Notice::Arrival(op, self.command(kind, op)));
        }
        w.history
            .push(now_ms, Self::op_agent(kind), What::OpIssued(op, kind));
    }

    /// The abstract state an operation meets (see [`StateOp`]).
    pub(super) fn state_label(&self, w: &World, snapshot: &Snapshot, kind: OpKind) -> StateOp {
        let Some(a) = kind.agent() else {
            let in_flight = self.checker.in_flight().len().min(3) as u8;
            return match kind {
                OpKind::Evict => StateOp::Evict { in_flight },
                other => StateOp::Container {
                    op: other.name(),
                    in_flight,
                },
            };
        };
        let agent = agent_id(a);
        let status = snapshot
            .agents
            .iter()
            .find(|r| r.agent == agent)
            .map(|r| r.status);
        let busy = self
            .checker
            .in_flight()
            .values()
            .filter(|k| k.agent() == Some(a))
            .count()
            .min(2) as u8;
        let call = w.call_in_flight_of(&agent);
        match kind {
            OpKind::Stop(_) => StateOp::Stop { status, busy, call },
            OpKind::Start(_) => StateOp::Start { status, busy, call },
            other => StateOp::Agent {
                op: other.name(),
                status,
                busy,
                call,
            },
        }
    }
}
