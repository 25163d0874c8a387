//! The session backend: the SDK that runs one session server per working directory and
//! multiplexes agent sessions on it.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;

/// An agent, as the control plane names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentId(pub Arc<str>);

impl AgentId {
    /// The agent called `name`.
    pub fn new(name: &str) -> Self {
        Self(name.into())
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A working directory; agents in the same one share a session server.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Workdir(pub Arc<str>);

impl Workdir {
    /// The working directory at `path`.
    pub fn new(path: &str) -> Self {
        Self(path.into())
    }
}

impl fmt::Display for Workdir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A session server, as the backend names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerId(pub u64);

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "srv{}", self.0)
    }
}

/// A session, as the backend names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// Why a backend call failed. `Timeout` is ambiguous: the call may still have taken effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendError {
    /// The backend answered with an error.
    Failed(String),
    /// The server or session does not exist (any more): whatever ran there is dead.
    Gone(String),
    /// The caller gave up waiting.
    Timeout,
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(why) => write!(f, "failed: {why}"),
            Self::Gone(what) => write!(f, "gone: {what}"),
            Self::Timeout => f.write_str("timed out"),
        }
    }
}

impl std::error::Error for BackendError {}

/// What a session reports on its event stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// The agent finished its work and waits for input.
    Idle,
    /// The session hit an error and died.
    Error,
    /// The server's stream is alive (`server.connected` and `server.heartbeat`, every 10 s):
    /// it says nothing of any session, and must not count as the agent's activity.
    Heartbeat,
}

/// The SDK the manager drives. Every method is a network round trip: it can be slow, fail,
/// or never answer, and other calls interleave while it is in flight.
pub trait SessionBackend: Send + Sync + 'static {
    /// Returns the server for `workdir`, starting one if none is running.
    fn ensure_server(
        &self,
        workdir: &Workdir,
    ) -> impl Future<Output = Result<ServerId, BackendError>> + Send;

    /// Shuts a server down; every session on it dies.
    fn close_server(
        &self,
        server: ServerId,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Creates a session for `agent` on `server`.
    fn create_session(
        &self,
        server: ServerId,
        agent: &AgentId,
    ) -> impl Future<Output = Result<SessionId, BackendError>> + Send;

    /// Sends a prompt to a session.
    fn prompt(
        &self,
        session: SessionId,
        text: &str,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Aborts a session; it is dead once this returns `Ok`.
    fn abort_session(
        &self,
        session: SessionId,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// The sessions running on `server`, with the agent each was created for. This is how a
    /// caller finds out what an ambiguous call (an error or a timeout) really did.
    fn list_sessions(
        &self,
        server: ServerId,
    ) -> impl Future<Output = Result<Vec<(SessionId, AgentId)>, BackendError>> + Send;

    /// The servers running now, with their workdirs. This is how a caller finds out what an
    /// ambiguous `ensure_server` (an error or a timeout) really started.
    fn list_servers(
        &self,
    ) -> impl Future<Output = Result<Vec<(ServerId, Workdir)>, BackendError>> + Send;

    /// Opens the session's event stream; it ends when the session or its server dies.
    fn subscribe(
        &self,
        session: SessionId,
    ) -> impl Future<Output = Result<UnboundedReceiver<SessionEvent>, BackendError>> + Send;
}
