//! Backend calls in flight: each is parked with a drawn fault and due time, and answered (its
//! effect, its reply, or both) when the scheduler picks it.

use agent_lifecycle::{AgentId, BackendError, ServerId};
use tokio::sync::oneshot;

use crate::scenario::workload::CallKind;
use crate::schedule::Thread;
use crate::world::call::Parked;
use crate::world::history::{Fault, OpId, What};
use crate::world::mailbox::Notice;
use crate::world::{Call, LATE_EFFECT_MS, Reply, World};

impl World {
    /// The pct thread of a call made outside any operation: the task making it (version 2),
    /// or one thread for all such calls (version 1).
    pub fn background_thread(&mut self) -> Thread {
        if !self.draws_orders() {
            return Thread::Background;
        }
        let Some(id) = tokio::task::try_id().and_then(|id| id.to_string().parse::<u64>().ok())
        else {
            return Thread::Background;
        };
        let n = match self.tasks.iter().position(|&t| t == id) {
            Some(n) => n,
            None => {
                self.tasks.push(id);
                self.tasks.len() - 1
            }
        };
        Thread::Task(n as u32)
    }

    fn agent_of(&self, call: &Call) -> Option<AgentId> {
        match call {
            Call::CreateSession(_, agent) => Some(agent.clone()),
            Call::Prompt(s)
            | Call::AbortSession(s)
            | Call::Subscribe(s)
            | Call::AbortOn(_, Some(s))
            | Call::PromptOn(_, s) => self.ledger.session(*s).map(|r| r.agent.clone()),
            Call::EnsureServer(_)
            | Call::CloseServer(_)
            | Call::ListSessions(_)
            | Call::ListServers
            | Call::SpawnServer(_)
            | Call::AbortOn(_, None)
            | Call::SubscribeServer(_)
            | Call::Worker(_) => None,
        }
    }

    /// Draws whether a call fails. Every family is drawn for every call, on or off, so that
    /// switching a family off (shrinking) leaves every other decision where it was.
    fn draw_fault(&mut self, kind: CallKind) -> (Option<Fault>, u32) {
        let faults = self.faults_now();
        let (d, faultable) = (&mut self.decisions, kind != CallKind::Worker);
        // A call takes the first fault drawn (hang, error, late, lost, special): a draw an
        // earlier one made moot is logged so, for a systematic search; what is drawn is the same.
        let hang = d.percent_or_moot(faultable, faults.hangs);
        let error = d.percent_or_moot(faultable && !hang, faults.call_errors);
        let open = faultable && !hang && !error;
        let special = match kind {
            CallKind::CreateSession => d
                .percent_or_moot(open, faults.create_lies)
                .then_some(Fault::Lie),
            CallKind::AbortSession => d
                .percent_or_moot(open, faults.abort_fails)
                .then_some(Fault::Fail),
            _ => None,
        };
        // The ambiguity families draw only while on, so that a case saved before they existed
        // replays as it did (switching them off in shrinking moves later draws; it only makes
        // that step less likely to keep the failure).
        let late = faults.late_effects > 0 && d.percent_or_moot(open, faults.late_effects);
        let late_by = if faults.late_effects > 0 {
            d.between_if(late, 1, LATE_EFFECT_MS)
        } else {
            0
        };
        let lost = faults.lost_replies > 0 && d.percent_or_moot(open && !late, faults.lost_replies);
        let silently = faults.lost_replies > 0 && d.percent_or_moot(open && !late && lost, 50);
        let fault = if kind == CallKind::Worker {
            // Every caller of the worker swallows its errors (sdk.rs): only its time counts.
            None
        } else if hang {
            Some(Fault::Hang)
        } else if error {
            Some(Fault::Fail)
        } else if late {
            Some(Fault::Late)
        } else if lost {
            Some(if silently {
                Fault::LostReply
            } else {
                Fault::Lie
            })
        } else {
            special
        };
        (fault, late_by)
    }

    /// Registers a call made by `op` (on behalf of `agent`, if known); the answer arrives on
    /// the returned channel when the driver releases it.
    pub fn park(
        &mut self,
        call: Call,
        op: Option<OpId>,
        thread: Thread,
        agent: Option<AgentId>,
    ) -> oneshot::Receiver<Reply> {
        let (reply, answer) = oneshot::channel();
        let (fault, late_by) = self.draw_fault(call.kind());
        self.ledger.faulted_calls += u64::from(fault.is_some());
        let latency = self.scheduler.latency(&mut self.decisions);
        let agent = self.agent_of(&call).or(agent);
        let id = self.call_started(&call, call.args(), op, agent.clone(), fault);
        let due_ms = match fault {
            Some(Fault::Late) => self.now_ms + self.backend.call_timeout_ms + u64::from(late_by),
            _ => self.now_ms + u64::from(latency),
        };
        let due_ms = self.turn_begins(&call, op, fault).unwrap_or(due_ms);
        self.parked.push(Parked {
            id,
            call,
            op,
            thread,
            agent,
            due_ms,
            sent_ms: self.now_ms,
            held: false,
            fault,
            reply,
            spent: false,
            abandoned: false,
            cut_short: false,
        });
        answer
    }

    /// Numbers a call and writes its start into the history.
    fn call_started(
        &mut self,
        call: &Call,
        args: String,
        op: Option<OpId>,
        agent: Option<AgentId>,
        fault: Option<Fault>,
    ) -> u64 {
        let id = self.next_call;
        self.next_call += 1;
        self.history.push(
            self.now_ms,
            agent,
            What::CallStarted {
                call: id,
                op,
                kind: call.kind(),
                args,
                fault,
            },
        );
        id
    }

    /// `server.close()` of the historical models: the child is killed synchronously, so the
    /// call is answered at once, with no fault and no interleaving point. Under
    /// `launcher-close` the SIGTERM reaches only the `kilo` launcher, and the server runs on.
    pub fn kill_server_now(&mut self, server: ServerId, op: Option<OpId>, agent: Option<AgentId>) {
        let call = Call::CloseServer(server);
        let id = self.call_started(&call, format!("{server}, kill"), op, agent.clone(), None);
        // Not a fault that heals: it is how the gastown image starts servers.
        let rate = self.backend.faults.launcher_close;
        let launcher_only = rate > 0 && self.decisions.percent(rate);
        let reply = if launcher_only {
            "only the kilo launcher died; the server runs on".to_string()
        } else {
            self.effect(&call, op).describe()
        };
        self.history.push(
            self.now_ms,
            agent,
            What::CallReturned {
                call: id,
                op,
                kind: call.kind(),
                reply,
            },
        );
    }

    /// The ready calls in the order the scheduler answers them this tick (random: all of
    /// them, by due time and call order; pct and dfs pick their steps elsewhere).
    pub fn scheduled_calls(&mut self) -> Vec<u64> {
        let candidates = self.ready_calls();
        let picks = self.scheduler.pick(&candidates, &mut self.decisions);
        picks.into_iter().map(|i| candidates[i].id).collect()
    }

    /// Answers the call `id` now (its effect, its reply, or both).
    pub fn answer_call(&mut self, id: u64) {
        let now = self.now_ms;
        let at = self
            .parked
            .iter()
            .position(|p| p.id == id)
            .expect("a ready call is parked");
        self.answer(at, now);
    }

    /// Draws an order for `n` things that happen in the same millisecond: each draw picks
    /// which of the rest comes next (choice 0: the first, so all zeros is the given order).
    pub fn draw_order(&mut self, n: usize) -> Vec<usize> {
        let mut rest: Vec<usize> = (0..n).collect();
        let mut order = Vec::with_capacity(n);
        while rest.len() > 1 {
            let next = self.decisions.below(rest.len() as u32) as usize;
            order.push(rest.remove(next));
        }
        order.extend(rest);
        self.reordered |= order.iter().enumerate().any(|(i, &at)| i != at);
        order
    }

    /// Whether a call of `kind` for `agent` is in flight.
    pub fn is_pending(&self, kind: CallKind, agent: &AgentId) -> bool {
        self.parked.iter().any(|p| {
            p.call.kind() == kind && p.agent.as_ref() == Some(agent) && !p.reply.is_closed()
        })
    }

    /// Forgets the calls whose callers gave up, then answers the calls the scheduler picks
    /// among those due. The effect of a call happens here, atomically, at its answer.
    /// `forced`: the choice was made already (pct and dfs): answer that ready call, or none.
    pub fn release_due(&mut self, forced: Option<Option<usize>>) {
        self.forget_abandoned();
        let chosen = match forced {
            Some(choice) => {
                let candidates = self.ready_calls();
                choice.into_iter().map(|i| candidates[i].id).collect()
            }
            None => self.scheduled_calls(),
        };
        for id in chosen {
            self.answer_call(id);
        }
    }

    /// Logs the calls whose callers stopped waiting, and forgets those with nothing left to
    /// happen.
    pub fn forget_abandoned(&mut self) {
        let now = self.now_ms;
        for p in &mut self.parked {
            if !p.abandoned && p.reply.is_closed() {
                p.abandoned = true;
                let what = What::CallAbandoned {
                    call: p.id,
                    op: p.op,
                    kind: p.call.kind(),
                };
                self.history.push(now, p.agent.clone(), what);
            }
        }
        // Nothing left to happen, and nobody waiting: gone.
        self.parked.retain(|p| p.pending() || !p.abandoned);
    }

    /// What happens at a call's due time: its effect, its answer, or both.
    fn answer(&mut self, at: usize, now: u64) {
        let (call, op, agent, fault, abandoned) = {
            let p = &self.parked[at];
            (p.call.clone(), p.op, p.agent.clone(), p.fault, p.abandoned)
        };
        let kind = call.kind();
        if fault == Some(Fault::Fail) {
            let p = self.parked.remove(at);
            let reply = Reply::Failed(BackendError::Failed("injected fault".into()));
            self.returned(p, now, reply);
            return;
        }
        // A prompt's turn cut short by an abort answers 200 (docs/real-system.md); the
        // abort published the run's end.
        let cut_short = self.parked[at].cut_short;
        let was_live = match &call {
            Call::Prompt(s) | Call::PromptOn(_, s) => self.ledger.session(*s).map(|r| r.live),
            _ => None,
        };
        let outcome = if cut_short {
            Reply::Done
        } else {
            self.effect(&call, op)
        };
        let turn = match (&call, &outcome) {
            (Call::Prompt(session) | Call::PromptOn(_, session), Reply::Done) if !cut_short => {
                Some(*session)
            }
            _ => None,
        };
        let answered = !abandoned && matches!(fault, None | Some(Fault::Lie));
        if !answered || fault.is_some() {
            // The effect is apart from any answer: whatever it made, nobody was told.
            self.mark_ambiguous(&outcome);
            // A prompt that ran an aborted session again, unawaited: nobody can know it works.
            if let (Some(false), Some(session)) = (was_live, turn)
                && let Some(s) = self.ledger.session_mut(session)
            {
                s.ambiguous = true;
            }
            let what = What::CallLanded {
                call: self.parked[at].id,
                op,
                kind,
                outcome: outcome.describe(),
                unawaited: abandoned || fault == Some(Fault::Late),
            };
            self.history.push(now, agent, what);
        }
        if !answered {
            if let Some(session) = turn {
                self.turn_ended(session);
            }
            // Left for the caller's timeout (or, abandoned, forgotten at the next pass).
            self.parked[at].spent = true;
            return;
        }
        let p = self.parked.remove(at);
        let reply = match fault {
            Some(Fault::Lie) => Reply::Failed(BackendError::Failed("reply lost".into())),
            _ => outcome,
        };
        // The prompt blocks for its whole turn, and the turn's end events travel on the SSE
        // stream, apart from the reply: either can reach the container first (docs/real-system.md).
        let events_first = turn.is_some() && self.decisions.below(2) == 1;
        if events_first && let Some(session) = turn {
            self.turn_ended(session);
        }
        self.returned(p, now, reply);
        if !events_first && let Some(session) = turn {
            self.turn_ended(session);
        }
    }

    fn returned(&mut self, p: Parked, now: u64, reply: Reply) {
        let what = What::CallReturned {
            call: p.id,
            op: p.op,
            kind: p.call.kind(),
            reply: reply.describe(),
        };
        self.history.push(now, p.agent.clone(), what);
        self.post(Notice::Reply {
            call: p.id,
            op: p.op,
            agent: p.agent,
            kind: p.call.kind(),
            to: p.reply,
            reply,
        });
    }

    /// What an effect nobody was told of made is the manager's to find out: the checker
    /// excuses it until the manager has had its chance (settle, eviction, wrap-up).
    pub(super) fn mark_ambiguous(&mut self, outcome: &Reply) {
        match outcome {
            Reply::Session(id) => {
                if let Some(s) = self.ledger.session_mut(*id) {
                    s.ambiguous = true;
                }
            }
            Reply::Server(id) => {
                if let Some(s) = self.ledger.server_mut(*id) {
                    s.ambiguous = true;
                }
            }
            _ => {}
        }
    }
}
