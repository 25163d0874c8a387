//! The state the simulation driver and the fake backend share: the ledger, the backend calls
//! in flight, the history, and the decision stream.
//!
//! Backend calls do not complete on their own: each one is *parked* here with a due time drawn
//! from the decision stream, and the driver answers it between simulation steps. That is what
//! makes the order in which concurrent calls resume a function of the seed; tokio alone would
//! resume them first in, first out.

use std::sync::Arc;

use agent_lifecycle::{
    AgentId, AgentSnapshot, BackendError, LifecycleError, ServerId, SessionEvent, SessionId,
    StartRequest, Workdir,
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::oneshot;

use crate::decisions::Decisions;
use crate::faults::FaultConfig;
use crate::history::{Fault, History, OpId, What};
use crate::ledger::Ledger;
use crate::workload::CallKind;

/// A backend call, with its arguments.
#[derive(Clone, Debug)]
pub enum Call {
    EnsureServer(Workdir),
    CloseServer(ServerId),
    CreateSession(ServerId, AgentId),
    Prompt(SessionId),
    AbortSession(SessionId),
    Subscribe(SessionId),
}

impl Call {
    pub fn kind(&self) -> CallKind {
        match self {
            Self::EnsureServer(_) => CallKind::EnsureServer,
            Self::CloseServer(_) => CallKind::CloseServer,
            Self::CreateSession(..) => CallKind::CreateSession,
            Self::Prompt(_) => CallKind::Prompt,
            Self::AbortSession(_) => CallKind::AbortSession,
            Self::Subscribe(_) => CallKind::Subscribe,
        }
    }

    fn args(&self) -> String {
        match self {
            Self::EnsureServer(w) => w.to_string(),
            Self::CloseServer(s) => s.to_string(),
            Self::CreateSession(s, a) => format!("{s}, {a}"),
            Self::Prompt(s) | Self::AbortSession(s) | Self::Subscribe(s) => s.to_string(),
        }
    }
}

/// A backend call's answer.
pub enum Reply {
    Server(ServerId),
    Session(SessionId),
    Done,
    Events(UnboundedReceiver<SessionEvent>),
    Failed(BackendError),
}

impl Reply {
    fn describe(&self) -> String {
        match self {
            Self::Server(s) => s.to_string(),
            Self::Session(s) => s.to_string(),
            Self::Done => "ok".into(),
            Self::Events(_) => "event stream".into(),
            Self::Failed(e) => format!("error ({e})"),
        }
    }
}

struct Parked {
    id: u64,
    call: Call,
    op: Option<OpId>,
    agent: Option<AgentId>,
    due_ms: u64,
    fault: Option<Fault>,
    reply: oneshot::Sender<Reply>,
}

/// A command for the container, from the driver.
pub enum Command {
    Start(StartRequest),
    Stop(AgentId),
    Evict,
}

pub type SnapshotFn = Arc<dyn Fn() -> Vec<AgentSnapshot> + Send + Sync>;

/// Knobs of the simulated backend.
#[derive(Clone, Debug)]
pub struct BackendConfig {
    pub faults: FaultConfig,
    /// Each call takes 1..=max_latency_ms simulated milliseconds.
    pub max_latency_ms: u32,
}

pub struct World {
    pub now_ms: u64,
    pub decisions: Decisions,
    pub backend: BackendConfig,
    pub healed: bool,
    pub ledger: Ledger,
    parked: Vec<Parked>,
    next_call: u64,
    pub history: History,
    /// Set by the container software each time it boots.
    pub inbox: Option<UnboundedSender<(OpId, Command)>>,
    pub snapshot: Option<SnapshotFn>,
    /// Operations that returned during the last step.
    pub returned: Vec<(OpId, Result<(), LifecycleError>)>,
}

impl World {
    pub fn new(decisions: Decisions, backend: BackendConfig) -> Self {
        Self {
            now_ms: 0,
            decisions,
            backend,
            healed: false,
            ledger: Ledger::default(),
            parked: Vec::new(),
            next_call: 1,
            history: History::default(),
            inbox: None,
            snapshot: None,
            returned: Vec::new(),
        }
    }

    fn agent_of(&self, call: &Call) -> Option<AgentId> {
        match call {
            Call::CreateSession(_, agent) => Some(agent.clone()),
            Call::Prompt(s) | Call::AbortSession(s) | Call::Subscribe(s) => {
                self.ledger.session(*s).map(|r| r.agent.clone())
            }
            Call::EnsureServer(_) | Call::CloseServer(_) => None,
        }
    }

    fn draw_fault(&mut self, kind: CallKind) -> Option<Fault> {
        if self.healed {
            return None;
        }
        let faults = self.backend.faults;
        if faults.hangs > 0 && self.decisions.percent(faults.hangs) {
            return Some(Fault::Hang);
        }
        let fail_rate = match kind {
            CallKind::CreateSession => faults.create_fails,
            CallKind::Prompt => faults.prompt_fails,
            _ => 0,
        };
        (fail_rate > 0 && self.decisions.percent(fail_rate)).then_some(Fault::Fail)
    }

    /// Registers a call made by `op` (on behalf of `agent`, if known); the answer arrives on
    /// the returned channel when the driver releases it.
    pub fn park(
        &mut self,
        call: Call,
        op: Option<OpId>,
        agent: Option<AgentId>,
    ) -> oneshot::Receiver<Reply> {
        let (reply, answer) = oneshot::channel();
        let id = self.next_call;
        self.next_call += 1;
        let fault = self.draw_fault(call.kind());
        let latency = self
            .decisions
            .between(1, self.backend.max_latency_ms.max(1));
        let agent = self.agent_of(&call).or(agent);
        self.history.push(
            self.now_ms,
            agent.clone(),
            What::CallStarted {
                call: id,
                op,
                kind: call.kind(),
                args: call.args(),
                fault,
            },
        );
        self.parked.push(Parked {
            id,
            call,
            op,
            agent,
            due_ms: self.now_ms + u64::from(latency),
            fault,
            reply,
        });
        answer
    }

    /// Whether a call of `kind` for `agent` is in flight.
    pub fn is_pending(&self, kind: CallKind, agent: &AgentId) -> bool {
        self.parked.iter().any(|p| {
            p.call.kind() == kind && p.agent.as_ref() == Some(agent) && !p.reply.is_closed()
        })
    }

    /// Answers every call that is due, earliest first, and forgets the calls whose callers
    /// gave up. The effect of a call happens here, atomically, at its answer.
    pub fn release_due(&mut self) {
        let now = self.now_ms;
        let mut ready: Vec<Parked> = Vec::new();
        let mut kept = Vec::with_capacity(self.parked.len());
        for p in self.parked.drain(..) {
            if p.reply.is_closed() || (p.due_ms <= now && p.fault != Some(Fault::Hang)) {
                ready.push(p);
            } else {
                kept.push(p);
            }
        }
        self.parked = kept;
        ready.sort_by_key(|p| (p.due_ms, p.id));
        for p in ready {
            let kind = p.call.kind();
            if p.reply.is_closed() {
                let what = What::CallAbandoned {
                    call: p.id,
                    op: p.op,
                    kind,
                };
                self.history.push(now, p.agent, what);
                continue;
            }
            let reply = match p.fault {
                Some(_) => Reply::Failed(BackendError::Failed("injected fault".into())),
                None => self.apply(&p.call, p.op),
            };
            let what = What::CallReturned {
                call: p.id,
                op: p.op,
                kind,
                reply: reply.describe(),
            };
            self.history.push(now, p.agent, what);
            // The caller is known to be waiting (checked above, same thread), so this lands.
            let _ = p.reply.send(reply);
        }
    }

    /// The backend's side of a call.
    fn apply(&mut self, call: &Call, op: Option<OpId>) -> Reply {
        let ledger = &mut self.ledger;
        match call {
            Call::EnsureServer(workdir) => Reply::Server(
                ledger
                    .open_server_for(workdir)
                    .unwrap_or_else(|| ledger.start_server(workdir)),
            ),
            Call::CloseServer(server) => {
                ledger.close_server(*server);
                Reply::Done
            }
            Call::CreateSession(server, agent) => match ledger.server(*server) {
                Some(s) if s.open => Reply::Session(ledger.create_session(*server, agent, op)),
                _ => Reply::Failed(BackendError::Failed(format!("{server} is not running"))),
            },
            Call::Prompt(session) => match ledger.session(*session) {
                Some(s) if s.live => Reply::Done,
                _ => Reply::Failed(BackendError::Failed(format!("{session} is not live"))),
            },
            Call::AbortSession(session) => {
                ledger.kill_session(*session);
                Reply::Done
            }
            Call::Subscribe(session) => match ledger.session_mut(*session) {
                Some(s) if s.live => {
                    let (tx, rx) = unbounded_channel();
                    s.events = Some(tx);
                    Reply::Events(rx)
                }
                _ => Reply::Failed(BackendError::Failed(format!("{session} is not live"))),
            },
        }
    }

    /// The container died: its calls die with it.
    pub fn kill_container(&mut self) {
        self.ledger.kill_all();
        self.parked.clear();
        self.inbox = None;
        self.snapshot = None;
        self.history.push(self.now_ms, None, What::Bounce);
    }
}
