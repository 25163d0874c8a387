//! The vocabulary of backend calls: what a call asks, what it answers, a call while it is
//! parked, and the driver's commands to the container.

use agent_lifecycle::{
    AgentId, BackendError, ServerId, SessionEvent, SessionId, StartRequest, Workdir,
};
use lifecycle_models::EventStream;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::oneshot;

use crate::scenario::workload::CallKind;
use crate::schedule::Thread;
use crate::world::history::{Fault, OpId};

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
    /// A prompt through one server's client.
    PromptOn(ServerId, SessionId),
    SubscribeServer(ServerId),
    Worker(&'static str),
}

impl Call {
    pub fn kind(&self) -> CallKind {
        match self {
            Self::EnsureServer(_) | Self::SpawnServer(_) => CallKind::EnsureServer,
            Self::CloseServer(_) => CallKind::CloseServer,
            Self::CreateSession(..) => CallKind::CreateSession,
            Self::Prompt(_) | Self::PromptOn(..) => CallKind::Prompt,
            Self::AbortSession(_) | Self::AbortOn(..) => CallKind::AbortSession,
            Self::Subscribe(_) | Self::SubscribeServer(_) => CallKind::Subscribe,
            Self::ListSessions(_) | Self::ListServers => CallKind::ListSessions,
            Self::Worker(_) => CallKind::Worker,
        }
    }

    pub(super) fn args(&self) -> String {
        match self {
            Self::EnsureServer(w) => w.to_string(),
            Self::CloseServer(s) | Self::ListSessions(s) => s.to_string(),
            Self::CreateSession(s, a) => format!("{s}, {a}"),
            Self::Prompt(s) | Self::AbortSession(s) | Self::Subscribe(s) => s.to_string(),
            Self::SpawnServer(w) => format!("{w}, new"),
            Self::AbortOn(server, Some(s)) => format!("{server}, {s}"),
            Self::AbortOn(server, None) => format!("{server}, ''"),
            Self::PromptOn(server, s) => format!("{server}, {s}"),
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
    pub(super) fn describe(&self) -> String {
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
pub(super) struct Parked {
    pub(super) id: u64,
    pub(super) call: Call,
    pub(super) op: Option<OpId>,
    /// The task that made it, as the pct and dfs schedulers see it.
    pub(super) thread: Thread,
    pub(super) agent: Option<AgentId>,
    pub(super) due_ms: u64,
    /// When it was made: a step strategy's hold keeps its latency within the timing model.
    pub(super) sent_ms: u64,
    /// A step strategy held it once already (version 5); it is not held again.
    pub(super) held: bool,
    pub(super) fault: Option<Fault>,
    pub(super) reply: oneshot::Sender<Reply>,
    /// Its effect happened (or never will): only the caller's timeout is left.
    pub(super) spent: bool,
    /// Its caller stopped waiting (logged once).
    pub(super) abandoned: bool,
    /// A prompt whose turn an abort cut short: it answers at once, with nothing more to do.
    pub(super) cut_short: bool,
}

impl Parked {
    /// Whether something is still to happen at `due_ms`: an effect, or an answer to someone
    /// still waiting.
    pub(super) fn pending(&self) -> bool {
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
    Refresh,
    Update(AgentId, String),
    /// Boot hydration of what the previous boot persisted (a reboot's second half).
    Hydrate(Vec<StartRequest>),
    /// A custom operation, with the agent it concerns.
    Custom(crate::scenario::workload::CustomOp, Option<AgentId>),
}
