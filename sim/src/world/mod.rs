//! The state the simulation driver and the fake backend share: the ledger, the backend calls
//! in flight, the history, and the decision stream.
//!
//! Backend calls do not complete on their own: each one is *parked* here with a due time drawn
//! from the decision stream, and the driver answers it between simulation steps. That is what
//! makes the order in which concurrent calls resume a function of the seed; tokio alone would
//! resume them first in, first out.

pub mod backend;
pub mod faults;
pub mod history;
pub mod ledger;
pub mod mailbox;
pub mod schedule;

use std::collections::BTreeMap;
use std::sync::Arc;

use agent_lifecycle::{
    AgentId, BackendError, LifecycleError, ServerId, SessionEvent, SessionId, Snapshot,
    StartRequest, Workdir,
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::oneshot;

use crate::check::Violation;
use crate::decisions::Decisions;
use crate::scenario::workload::CallKind;
use crate::world::faults::FaultConfig;
use crate::world::history::{Fault, History, OpId, What};
use crate::world::ledger::Ledger;
use crate::world::mailbox::{Notice, SameInstant, UnreadReply};
use crate::world::schedule::{Ready, Scheduler, Strategy, Thread};
use lifecycle_models::{EventStream, ServerEvent};

/// A backend call, with its arguments.
#[derive(Clone, Debug)]
pub enum Call {
    EnsureServer(Workdir),
    CloseServer(ServerId),
    CreateSession(ServerId, AgentId),
    Prompt(SessionId),
    AbortSession(SessionId),
    Subscribe(SessionId),
    ListSessions(ServerId),
    ListServers,
    /// The models' SDK calls (`lifecycle_models::KiloSdk`): `createKilo`, which always spawns a
    /// new server; an abort through one server's client (`None` = the empty id); the
    /// server-wide event stream; a round trip to the gastown worker.
    SpawnServer(Workdir),
    AbortOn(ServerId, Option<SessionId>),
    SubscribeServer(ServerId),
    Worker(&'static str),
}

impl Call {
    pub fn kind(&self) -> CallKind {
        match self {
            Self::EnsureServer(_) | Self::SpawnServer(_) => CallKind::EnsureServer,
            Self::CloseServer(_) => CallKind::CloseServer,
            Self::CreateSession(..) => CallKind::CreateSession,
            Self::Prompt(_) => CallKind::Prompt,
            Self::AbortSession(_) | Self::AbortOn(..) => CallKind::AbortSession,
            Self::Subscribe(_) | Self::SubscribeServer(_) => CallKind::Subscribe,
            Self::ListSessions(_) | Self::ListServers => CallKind::ListSessions,
            Self::Worker(_) => CallKind::Worker,
        }
    }

    fn args(&self) -> String {
        match self {
            Self::EnsureServer(w) => w.to_string(),
            Self::CloseServer(s) | Self::ListSessions(s) => s.to_string(),
            Self::CreateSession(s, a) => format!("{s}, {a}"),
            Self::Prompt(s) | Self::AbortSession(s) | Self::Subscribe(s) => s.to_string(),
            Self::SpawnServer(w) => format!("{w}, new"),
            Self::AbortOn(server, Some(s)) => format!("{server}, {s}"),
            Self::AbortOn(server, None) => format!("{server}, ''"),
            Self::SubscribeServer(server) => format!("{server}, all sessions"),
            Self::Worker(what) => (*what).to_string(),
            Self::ListServers => "servers".to_string(),
        }
    }
}

/// A backend call's answer.
pub enum Reply {
    Server(ServerId),
    Session(SessionId),
    Done,
    Events(UnboundedReceiver<SessionEvent>),
    ServerEvents(EventStream),
    Sessions(Vec<(SessionId, AgentId)>),
    Servers(Vec<(ServerId, Workdir)>),
    Failed(BackendError),
}

impl Reply {
    fn describe(&self) -> String {
        match self {
            Self::Server(s) => s.to_string(),
            Self::Session(s) => s.to_string(),
            Self::Done => "ok".into(),
            Self::Events(_) => "event stream".into(),
            Self::ServerEvents(_) => "server event stream".into(),
            Self::Sessions(list) => {
                let names: Vec<String> = list.iter().map(|(s, a)| format!("{s} of {a}")).collect();
                format!("[{}]", names.join(", "))
            }
            Self::Servers(list) => {
                let names: Vec<String> = list.iter().map(|(s, w)| format!("{s} in {w}")).collect();
                format!("[{}]", names.join(", "))
            }
            Self::Failed(e) => format!("error ({e})"),
        }
    }
}

/// A call between its request and its answer. Its effect at the server and its reply are
/// separate: normally both happen at `due_ms`, atomically; a lost reply takes effect and answers
/// an error (or nothing); a late effect lands at `due_ms`, after its caller's timeout; a lost
/// request does nothing. A call whose caller stops waiting keeps its server-side fate.
struct Parked {
    id: u64,
    call: Call,
    op: Option<OpId>,
    /// The task that made it, as the pct and dfs schedulers see it.
    thread: Thread,
    agent: Option<AgentId>,
    due_ms: u64,
    fault: Option<Fault>,
    reply: oneshot::Sender<Reply>,
    /// Its effect happened (or never will): only the caller's timeout is left.
    spent: bool,
    /// Its caller stopped waiting (logged once).
    abandoned: bool,
}

impl Parked {
    /// Whether something is still to happen at `due_ms`: an effect, or an answer to someone
    /// still waiting.
    fn pending(&self) -> bool {
        if self.spent || self.fault == Some(Fault::Hang) {
            return false;
        }
        let effect = !matches!(self.fault, Some(Fault::Fail));
        effect || !self.abandoned
    }
}

/// A command for the container, from the driver.
pub enum Command {
    Start(StartRequest),
    Stop(AgentId),
    Evict,
}

pub type SnapshotFn = Arc<dyn Fn() -> Snapshot + Send + Sync>;

/// Something the backend does on its own at a set time.
#[derive(Clone, Copy, Debug)]
pub enum Happening {
    Idle(SessionId),
    Error(SessionId),
    /// A running server crashes (which one is drawn when it happens).
    Crash,
    /// A server sends `server.heartbeat` on its event streams.
    Heartbeat(ServerId),
}

/// How often a server sends `server.heartbeat` on its SSE streams. Assumption (not in the
/// notes): opencode-style servers send one every 30 s; against the real 120 s idle timeout that
/// is a quarter, and the simulated idle timeout is 30 ms.
pub const HEARTBEAT_MS: u64 = 8;

/// Knobs of the simulated backend.
#[derive(Clone, Debug)]
pub struct BackendConfig {
    pub faults: FaultConfig,
    /// Each call takes 1..=max_latency_ms simulated milliseconds.
    pub max_latency_ms: u32,
    /// The manager's call timeout: a late effect lands 1-40 ms after it.
    pub call_timeout_ms: u64,
    /// How the events of one millisecond are ordered.
    pub same_instant: SameInstant,
}

/// How long after its caller's timeout a late effect may still land.
pub const LATE_EFFECT_MS: u32 = 40;

pub struct World {
    pub now_ms: u64,
    pub decisions: Decisions,
    pub backend: BackendConfig,
    pub healed: bool,
    pub ledger: Ledger,
    parked: Vec<Parked>,
    next_call: u64,
    pub history: History,
    scheduler: Scheduler,
    scheduled: Vec<(u64, Happening)>,
    /// A violation seen while answering a call (closing a server under a tracked session).
    pub call_violation: Option<Violation>,
    /// Set by the container software each time it boots: batches of notices, delivered in
    /// order by the container's own task.
    pub inbox: Option<UnboundedSender<Vec<Notice>>>,
    /// While the driver takes one millisecond's events in their drawn order, their notices
    /// wait here, to reach the container as one batch in that order.
    batching: bool,
    outbox: Vec<Notice>,
    /// Tasks that made backend calls outside any operation, by first appearance (tokio task
    /// ids): each is a thread of its own for pct.
    tasks: Vec<u64>,
    pub snapshot: Option<SnapshotFn>,
    /// Operations that returned during the last step.
    pub returned: Vec<(OpId, Result<(), LifecycleError>)>,
    /// Operations whose caller will go away: when, and the signal that drops their future.
    drop_plans: BTreeMap<OpId, (u64, Arc<tokio::sync::Notify>)>,
    /// Operations whose future was dropped during the last step.
    pub dropped: Vec<OpId>,
    /// SSE streams of dead servers that the SDK keeps retrying: open, and silent for ever.
    silent_streams: Vec<UnboundedSender<Result<ServerEvent, BackendError>>>,
}

impl World {
    /// `pct_steps`: the k over which pct draws its change points.
    pub fn new(
        mut decisions: Decisions,
        backend: BackendConfig,
        strategy: Strategy,
        pct_steps: u32,
    ) -> Self {
        let scheduler = Scheduler::new(strategy, backend.max_latency_ms, pct_steps, &mut decisions);
        Self {
            scheduler,
            now_ms: 0,
            decisions,
            backend,
            healed: false,
            ledger: Ledger::default(),
            parked: Vec::new(),
            next_call: 1,
            history: History::default(),
            scheduled: Vec::new(),
            call_violation: None,
            inbox: None,
            snapshot: None,
            returned: Vec::new(),
            silent_streams: Vec::new(),
            drop_plans: BTreeMap::new(),
            dropped: Vec::new(),
            batching: false,
            outbox: Vec::new(),
            tasks: Vec::new(),
        }
    }

    /// What pct measured of this run (its threads and steps).
    pub fn pct_measure(&self) -> Option<crate::world::schedule::PctMeasure> {
        self.scheduler.measure()
    }

    /// Whether the events of one millisecond are put in a drawn order.
    pub fn draws_orders(&self) -> bool {
        self.backend.same_instant == SameInstant::Drawn
    }

    /// Tells the container something: at once, or, while the driver orders a millisecond's
    /// events, in the batch that goes out at its end.
    pub fn post(&mut self, notice: Notice) {
        if self.batching {
            self.outbox.push(notice);
            return;
        }
        match notice {
            Notice::Arrival(op, command) => {
                self.inbox
                    .as_ref()
                    .expect("operations arrive only while the container runs")
                    .send(vec![Notice::Arrival(op, command)])
                    .expect("the container reads its inbox while it runs");
            }
            // Outside the container (before a step): a caller that gave up is simply gone.
            other => {
                let _ = other.deliver();
            }
        }
    }

    /// From here until [`World::end_batch`], notices wait to go out together.
    pub fn begin_batch(&mut self) {
        self.batching = true;
    }

    /// Sends the batch to the container, whose task delivers it in order (or, with no
    /// container running, delivers it here).
    pub fn end_batch(&mut self) {
        self.batching = false;
        let batch = std::mem::take(&mut self.outbox);
        if batch.is_empty() {
            return;
        }
        match &self.inbox {
            Some(inbox) => inbox
                .send(batch)
                .unwrap_or_else(|_| panic!("the container reads its inbox while it runs")),
            None => {
                for notice in batch {
                    if let Err(unread) = notice.deliver() {
                        self.reply_unread(unread);
                    }
                }
            }
        }
    }

    /// A reply reached a caller that had given up earlier in the same millisecond: its
    /// effect happened and nobody was told.
    pub fn reply_unread(&mut self, unread: UnreadReply) {
        self.mark_ambiguous(&unread.reply);
        let what = What::CallAbandoned {
            call: unread.call,
            op: unread.op,
            kind: unread.kind,
        };
        self.history.push(self.now_ms, unread.agent, what);
    }

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

    /// Schedules the scenario's server crashes within the first `window_ms`. One draw is made
    /// even with crashes off, so that switching them off keeps later decisions in place.
    pub fn schedule_crashes(&mut self, window_ms: u32) {
        let crashes = self.backend.faults.server_crashes;
        for i in 0..crashes.max(1) {
            let at = self.decisions.between_if(i < crashes, 1, window_ms);
            if i < crashes {
                self.scheduled.push((u64::from(at), Happening::Crash));
            }
        }
    }

    /// Draws whether the caller of `op` goes away, and when (the `drops` family; drawn only
    /// while it is on, so older cases replay as they were).
    pub fn plan_drop(&mut self, op: OpId) {
        let rate = if self.healed {
            0
        } else {
            self.backend.faults.drops
        };
        if rate == 0 {
            return;
        }
        let drops = self.decisions.percent(rate);
        let after = self.decisions.between_if(drops, 1, 60);
        if drops {
            let at = self.now_ms + u64::from(after);
            self.drop_plans.insert(op, (at, Arc::default()));
        }
    }

    /// The signal that drops `op`'s future, if its caller is to go away.
    pub fn drop_signal(&self, op: OpId) -> Option<Arc<tokio::sync::Notify>> {
        self.drop_plans.get(&op).map(|(_, signal)| signal.clone())
    }

    /// The operations whose caller goes away now, in operation order.
    pub fn due_drops(&self) -> Vec<OpId> {
        let now = self.now_ms;
        self.drop_plans
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(op, _)| *op)
            .collect()
    }

    /// The caller of `op` goes away.
    pub fn fire_drop(&mut self, op: OpId) {
        if let Some((_, signal)) = self.drop_plans.remove(&op) {
            self.post(Notice::CallerGone(signal));
        }
    }

    /// Fires the drops that are due.
    pub fn fire_drops(&mut self) {
        for op in self.due_drops() {
            self.fire_drop(op);
        }
    }

    /// Whether no backend call is in flight.
    pub fn is_idle(&self) -> bool {
        self.parked.is_empty()
    }

    fn agent_of(&self, call: &Call) -> Option<AgentId> {
        match call {
            Call::CreateSession(_, agent) => Some(agent.clone()),
            Call::Prompt(s)
            | Call::AbortSession(s)
            | Call::Subscribe(s)
            | Call::AbortOn(_, Some(s)) => self.ledger.session(*s).map(|r| r.agent.clone()),
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
        let faults = if self.healed {
            FaultConfig::none()
        } else {
            self.backend.faults
        };
        let d = &mut self.decisions;
        let hang = d.percent(faults.hangs);
        let error = d.percent(faults.call_errors);
        let special = match kind {
            CallKind::CreateSession => d.percent(faults.create_lies).then_some(Fault::Lie),
            CallKind::AbortSession => d.percent(faults.abort_fails).then_some(Fault::Fail),
            _ => None,
        };
        // The ambiguity families draw only while on, so that a case saved before they existed
        // replays as it did (switching them off in shrinking moves later draws; it only makes
        // that step less likely to keep the failure).
        let late = faults.late_effects > 0 && d.percent(faults.late_effects);
        let late_by = if faults.late_effects > 0 {
            d.between_if(late, 1, LATE_EFFECT_MS)
        } else {
            0
        };
        let lost = faults.lost_replies > 0 && d.percent(faults.lost_replies);
        let silently = faults.lost_replies > 0 && d.percent(50);
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
        let latency = self.scheduler.latency(&mut self.decisions);
        let agent = self.agent_of(&call).or(agent);
        let id = self.call_started(&call, call.args(), op, agent.clone(), fault);
        let due_ms = match fault {
            Some(Fault::Late) => self.now_ms + self.backend.call_timeout_ms + u64::from(late_by),
            _ => self.now_ms + u64::from(latency),
        };
        self.parked.push(Parked {
            id,
            call,
            op,
            thread,
            agent,
            due_ms,
            fault,
            reply,
            spent: false,
            abandoned: false,
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
    /// call is answered at once, with no fault and no interleaving point.
    pub fn kill_server_now(&mut self, server: ServerId, op: Option<OpId>, agent: Option<AgentId>) {
        let call = Call::CloseServer(server);
        let id = self.call_started(&call, format!("{server}, kill"), op, agent.clone(), None);
        let reply = self.apply(&call, op);
        self.history.push(
            self.now_ms,
            agent,
            What::CallReturned {
                call: id,
                op,
                kind: call.kind(),
                reply: reply.describe(),
            },
        );
    }

    /// The calls the scheduler could answer now, in call order.
    pub fn ready_calls(&self) -> Vec<Ready> {
        let now = self.now_ms;
        self.parked
            .iter()
            .filter(|p| p.due_ms <= now && p.pending())
            .map(|p| Ready {
                id: p.id,
                thread: p.thread,
                due_ms: p.due_ms,
            })
            .collect()
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
        order
    }

    /// One step out of `steps`, as the scheduler picks it (pct and dfs).
    pub fn pick_one(&mut self, steps: &[Ready]) -> Option<usize> {
        self.scheduler
            .pick(steps, &mut self.decisions)
            .first()
            .copied()
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
        let outcome = self.apply(&call, op);
        let answered = !abandoned && matches!(fault, None | Some(Fault::Lie));
        if !answered || fault.is_some() {
            // The effect is apart from any answer: whatever it made, nobody was told.
            self.mark_ambiguous(&outcome);
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
            // Left for the caller's timeout (or, abandoned, forgotten at the next pass).
            self.parked[at].spent = true;
            return;
        }
        let p = self.parked.remove(at);
        let reply = match fault {
            Some(Fault::Lie) => Reply::Failed(BackendError::Failed("reply lost".into())),
            _ => outcome,
        };
        self.returned(p, now, reply);
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
    fn mark_ambiguous(&mut self, outcome: &Reply) {
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

    /// The backend's side of a call.
    fn apply(&mut self, call: &Call, op: Option<OpId>) -> Reply {
        let not_running = |server: &ServerId| {
            Reply::Failed(BackendError::Gone(format!("{server} is not running")))
        };
        let not_live = |session: &SessionId| {
            Reply::Failed(BackendError::Gone(format!("{session} is not live")))
        };
        match call {
            Call::EnsureServer(workdir) => match self.ledger.open_server_for(workdir) {
                Some(server) => Reply::Server(server),
                None => Reply::Server(self.start_server(workdir)),
            },
            Call::SpawnServer(workdir) => Reply::Server(self.start_server(workdir)),
            Call::CloseServer(server) => {
                self.check_close(*server);
                self.server_died(*server);
                Reply::Done
            }
            Call::AbortOn(server, session) => match (self.ledger.server(*server), session) {
                (Some(s), _) if !s.open => not_running(server),
                // The server answers 404 for an id it does not run; the SDK returns it.
                (_, None) => Reply::Failed(BackendError::Failed("session '' not found".into())),
                (_, Some(session)) => match self.ledger.session(*session) {
                    Some(s) if s.server == *server => {
                        self.ledger.kill_session(*session);
                        Reply::Done
                    }
                    _ => Reply::Failed(BackendError::Failed(format!(
                        "{session} not found on {server}"
                    ))),
                },
            },
            Call::SubscribeServer(server) => {
                let (tx, rx) = unbounded_channel();
                let _ = tx.send(Ok(ServerEvent::Connected));
                match self.ledger.server_mut(*server) {
                    Some(s) if s.open => s.streams.push(tx),
                    // SDK 7.2.14's SSE client retries a dead server forever (assumption,
                    // seed-system.md §2): the stream stays open and silent.
                    _ => self.silent_streams.push(tx),
                }
                Reply::ServerEvents(rx)
            }
            Call::Worker(_) => Reply::Done,
            Call::ListServers => Reply::Servers(
                self.ledger
                    .servers
                    .iter()
                    .filter(|s| s.open)
                    .map(|s| (s.id, s.workdir.clone()))
                    .collect(),
            ),
            Call::CreateSession(server, agent) => match self.ledger.server(*server) {
                Some(s) if s.open => Reply::Session(self.ledger.create_session(*server, agent, op)),
                _ => not_running(server),
            },
            Call::Prompt(session) => match self.ledger.session(*session) {
                Some(s) if s.live => {
                    self.schedule_events(*session);
                    Reply::Done
                }
                _ => not_live(session),
            },
            Call::AbortSession(session) => {
                self.ledger.kill_session(*session);
                Reply::Done
            }
            Call::Subscribe(session) => match self.ledger.session_mut(*session) {
                Some(s) if s.live => {
                    let (tx, rx) = unbounded_channel();
                    s.events.push(tx);
                    Reply::Events(rx)
                }
                _ => not_live(session),
            },
            Call::ListSessions(server) => match self.ledger.server(*server) {
                Some(s) if s.open => Reply::Sessions(
                    self.ledger
                        .live_sessions()
                        .filter(|s| s.server == *server)
                        .map(|s| (s.id, s.agent.clone()))
                        .collect(),
                ),
                _ => not_running(server),
            },
        }
    }

    fn start_server(&mut self, workdir: &Workdir) -> ServerId {
        let server = self.ledger.start_server(workdir);
        self.scheduled
            .push((self.now_ms + HEARTBEAT_MS, Happening::Heartbeat(server)));
        server
    }

    /// A server died (closed or crashed): its sessions die; each of its SSE streams either
    /// throws (older SDKs) or goes silent for ever (SDK 7.2.14 retries): the `stream-errors`
    /// family decides, stream by stream.
    fn server_died(&mut self, server: ServerId) {
        let faults = if self.healed {
            FaultConfig::none()
        } else {
            self.backend.faults
        };
        let streams = self
            .ledger
            .server_mut(server)
            .map(|s| std::mem::take(&mut s.streams))
            .unwrap_or_default();
        for stream in streams {
            if self.decisions.percent(faults.stream_errors) {
                let lost = Err(BackendError::Gone(format!("{server}: event stream lost")));
                self.post(Notice::ServerEvent(stream, lost));
            } else {
                self.silent_streams.push(stream);
            }
        }
        self.ledger.close_server(server);
    }

    /// Sends a server's event to every SSE stream open on it.
    fn broadcast(&mut self, server: ServerId, event: ServerEvent) {
        let Some(s) = self.ledger.server_mut(server) else {
            return;
        };
        s.streams.retain(|tx| !tx.is_closed());
        let streams = s.streams.clone();
        for tx in streams {
            self.post(Notice::ServerEvent(tx, Ok(event)));
        }
    }

    /// A prompted session may go idle, or fail, a little later.
    fn schedule_events(&mut self, session: SessionId) {
        let faults = if self.healed {
            FaultConfig::none()
        } else {
            self.backend.faults
        };
        let d = &mut self.decisions;
        // Drawn whether on or off, like faults.
        let idle = d.percent(faults.idle_events);
        let idle_at = self.now_ms + u64::from(d.between_if(idle, 1, 40));
        if idle {
            self.scheduled.push((idle_at, Happening::Idle(session)));
        }
        let error = d.percent(faults.error_events);
        let error_at = self.now_ms + u64::from(d.between_if(error, 1, 40));
        if error {
            self.scheduled.push((error_at, Happening::Error(session)));
        }
    }

    /// I3 at the close of a server, judged by the checker; the first violation is kept for
    /// the driver to report after this step.
    fn check_close(&mut self, server: ServerId) {
        if self.call_violation.is_some() {
            return;
        }
        let Some(snapshot) = self.snapshot.as_ref().map(|f| f()) else {
            return;
        };
        self.call_violation = crate::check::check_close(&self.ledger, &snapshot, server).err();
    }

    /// Whether the backend still has events or crashes to come (heartbeats go on for ever
    /// and do not count).
    pub fn has_scheduled(&self) -> bool {
        self.scheduled
            .iter()
            .any(|(_, h)| !matches!(h, Happening::Heartbeat(_)))
    }

    /// Makes the backend's own happenings that are due: idle and error events, crashes.
    pub fn deliver_due(&mut self) {
        for happening in self.take_due_happenings() {
            self.happen(happening);
        }
    }

    /// The backend's own happenings due now, in the order they were planned; they are no
    /// longer scheduled.
    pub fn take_due_happenings(&mut self) -> Vec<Happening> {
        let now = self.now_ms;
        if self.scheduled.iter().all(|&(at, _)| at > now) {
            return Vec::new();
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.scheduled)
            .into_iter()
            .partition(|&(at, _)| at <= now);
        self.scheduled = later;
        due.into_iter().map(|(_, happening)| happening).collect()
    }

    /// Whether a happening tells the container nothing and changes nothing it can see: a
    /// heartbeat of a server nobody listens to. Such happenings are not worth an order.
    pub fn is_unheard(&self, happening: &Happening) -> bool {
        match happening {
            Happening::Heartbeat(server) => self
                .ledger
                .server(*server)
                .is_none_or(|s| s.streams.iter().all(|tx| tx.is_closed())),
            _ => false,
        }
    }

    /// One of the backend's own happenings takes place.
    pub fn happen(&mut self, happening: Happening) {
        let now = self.now_ms;
        match happening {
            Happening::Idle(id) | Happening::Error(id) => {
                let Some(s) = self.ledger.session(id).filter(|s| s.live) else {
                    return;
                };
                let (agent, is_error) = (s.agent.clone(), matches!(happening, Happening::Error(_)));
                let event = if is_error {
                    SessionEvent::Error
                } else {
                    SessionEvent::Idle
                };
                let streams = s.events.clone();
                let server = s.server;
                for events in streams {
                    self.post(Notice::SessionEvent(events, event));
                }
                self.broadcast(
                    server,
                    if is_error {
                        ServerEvent::Error(id)
                    } else {
                        ServerEvent::Idle(id)
                    },
                );
                let what = if is_error {
                    self.ledger.kill_session(id);
                    What::SessionError(id)
                } else {
                    What::SessionIdle(id)
                };
                self.history.push(now, Some(agent), what);
            }
            Happening::Heartbeat(server) => {
                if self.ledger.server(server).is_some_and(|s| s.open) {
                    self.broadcast(server, ServerEvent::Heartbeat);
                    self.scheduled
                        .push((now + HEARTBEAT_MS, Happening::Heartbeat(server)));
                }
            }
            Happening::Crash => {
                if self.healed {
                    return;
                }
                let open: Vec<ServerId> = self
                    .ledger
                    .servers
                    .iter()
                    .filter(|s| s.open)
                    .map(|s| s.id)
                    .collect();
                if open.is_empty() {
                    return;
                }
                let server = open[self.decisions.below(open.len() as u32) as usize];
                self.server_died(server);
                self.history.push(now, None, What::ServerCrashed(server));
            }
        }
    }

    /// The container died: its calls die with it.
    pub fn kill_container(&mut self) {
        self.ledger.kill_all();
        self.parked.clear();
        self.outbox.clear();
        self.silent_streams.clear();
        self.drop_plans.clear();
        self.scheduled
            .retain(|(_, h)| matches!(h, Happening::Crash));
        self.inbox = None;
        self.snapshot = None;
        self.history.push(self.now_ms, None, What::Bounce);
    }
}
