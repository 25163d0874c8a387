//! The public API every lifecycle implementation offers: the production manager and the
//! historical models that the simulation harness judges side by side.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::backend::{AgentId, BackendError, ServerId, SessionBackend, SessionId, Workdir};

/// Where an agent is in its life. Moves forward only:
/// Starting -> Running -> Stopping -> Exited, or to Failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Being started: its server, its session or its first prompt is on the way.
    Starting,
    /// Started: its session runs.
    Running,
    /// Being stopped.
    Stopping,
    /// Finished: stopped, superseded, or idle past its timeout.
    Exited,
    /// Finished badly: its start failed, or its session died under it.
    Failed,
}

impl Status {
    /// Whether the agent is finished with (nothing of it may still be live).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Exited | Self::Failed)
    }
}

/// A request to start (or restart) an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartRequest {
    /// The agent to start.
    pub agent: AgentId,
    /// The working directory it works in.
    pub workdir: Workdir,
    /// Its first prompt.
    pub prompt: String,
}

/// One record the manager keeps, as observed from outside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSnapshot {
    /// The agent.
    pub agent: AgentId,
    /// Which start made this record; a restart makes a new one.
    pub incarnation: u64,
    /// Where it is in its life.
    pub status: Status,
    /// Its session, once it has one.
    pub session: Option<SessionId>,
    /// A create on this server failed ambiguously and the manager has not yet proved that it
    /// left no session behind: whatever session of this agent runs there is the manager's.
    pub suspect_on: Option<ServerId>,
}

/// One server the manager counts sessions on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSnapshot {
    /// The working directory it serves.
    pub workdir: Workdir,
    /// The server.
    pub server: ServerId,
    /// How many sessions (or startups about to make one) the manager counts on it.
    pub count: i64,
}

/// Which piece of per-agent side state an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SideKind {
    /// An armed idle timer: when it fires, the agent may exit.
    IdleTimer,
    /// The event stream a stop of the agent reaches (and cancels).
    StreamSlot,
    /// An event subscription still running (it reads events and may act on the agent).
    Subscription,
}

/// One piece of side state a manager keeps for an agent, with the incarnation (the record's
/// `incarnation`) it belongs to: the timers and event streams that outlive the call that made
/// them, and that must never act on a later incarnation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SideSnapshot {
    /// The agent it is kept for.
    pub agent: AgentId,
    /// Which piece of side state.
    pub kind: SideKind,
    /// The incarnation it belongs to.
    pub incarnation: u64,
}

/// What a manager tracks, as observed from outside.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// In agent order.
    pub agents: Vec<AgentSnapshot>,
    /// In workdir, then server order.
    pub servers: Vec<ServerSnapshot>,
    /// Sorted.
    pub side: Vec<SideSnapshot>,
}

/// Why a lifecycle call did not do what it was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LifecycleError {
    /// A backend call failed or timed out.
    Backend(BackendError),
    /// A later start, a stop or an eviction superseded this start.
    Cancelled,
    /// The container is being evicted; no new work is accepted.
    Evicting,
    /// The agent has no live record to act on (an update of an agent that is not running).
    NotRunning,
    /// This manager does not offer the operation.
    Unsupported,
}

impl fmt::Display for LifecycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Backend(e) => write!(f, "backend {e}"),
            Self::Cancelled => f.write_str("cancelled"),
            Self::Evicting => f.write_str("evicting"),
            Self::NotRunning => f.write_str("not running"),
            Self::Unsupported => f.write_str("unsupported"),
        }
    }
}

impl std::error::Error for LifecycleError {}

impl From<BackendError> for LifecycleError {
    fn from(e: BackendError) -> Self {
        Self::Backend(e)
    }
}

/// Knobs shared by every implementation.
#[derive(Clone, Debug)]
pub struct ManagerConfig {
    /// How long the manager waits for any one backend call before giving up on it.
    pub call_timeout: Duration,
    /// How long a session may sit idle before its agent exits.
    pub idle_timeout: Duration,
    /// The pause before retrying what failed (an abort, a reconciliation).
    pub retry_pause: Duration,
    /// The longest a request can take to take effect at the server, counted from when it was
    /// sent: a call that failed or timed out may still land until then, and not after (the
    /// server drops requests older than this). Only after it can a listing prove what such a
    /// call did.
    pub request_lifetime: Duration,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            retry_pause: Duration::from_secs(1),
            request_lifetime: Duration::from_secs(60),
        }
    }
}

/// A lifecycle manager over a session backend.
pub trait Lifecycle<B: SessionBackend>: Send + Sync + Sized + 'static {
    /// A manager over `backend`, tracking nothing yet.
    fn new(backend: B, config: ManagerConfig) -> Self;

    /// Starts `request.agent`, restarting it if it is already starting or running.
    fn start(
        &self,
        request: StartRequest,
    ) -> impl Future<Output = Result<(), LifecycleError>> + Send;

    /// Stops an agent. Stopping an unknown or finished agent is a no-op.
    fn stop(&self, agent: &AgentId) -> impl Future<Output = Result<(), LifecycleError>> + Send;

    /// Container shutdown: stops everything and closes every server.
    fn evict(&self) -> impl Future<Output = Result<(), LifecycleError>> + Send;

    /// The records and server counts the manager holds.
    fn snapshot(&self) -> Snapshot;

    /// Restarts the server of every running agent, each keeping its session: the real
    /// control server's `POST /refresh-token`, which hands the session servers new
    /// credentials. A manager without it answers [`LifecycleError::Unsupported`].
    fn refresh(&self) -> impl Future<Output = Result<(), LifecycleError>> + Send {
        async { Err(LifecycleError::Unsupported) }
    }

    /// Swaps an agent's configuration (its model, in the real system's `PATCH
    /// /agents/:id/model`): the agent moves to a new server started with `config`. A
    /// manager without it answers [`LifecycleError::Unsupported`].
    fn update(
        &self,
        _agent: &AgentId,
        _config: &str,
    ) -> impl Future<Output = Result<(), LifecycleError>> + Send {
        async { Err(LifecycleError::Unsupported) }
    }

    /// What the manager persists to be restarted with: the start requests of the agents it
    /// runs (the real system's registry). Read when the container dies; the next boot's
    /// [`Lifecycle::hydrate`] gets it.
    fn registry(&self) -> Vec<StartRequest> {
        Vec::new()
    }

    /// Boot hydration: starts again what a previous boot persisted. It runs beside the
    /// operations that arrive meanwhile, which a manager may make wait for it (the real
    /// system's hydration gate).
    fn hydrate(
        &self,
        _registry: Vec<StartRequest>,
    ) -> impl Future<Output = Result<(), LifecycleError>> + Send {
        async { Ok(()) }
    }
}

/// Runs a backend call under the caller's timeout; a call that never answers becomes
/// [`BackendError::Timeout`].
pub async fn bounded<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, BackendError>>,
) -> Result<T, BackendError> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or(Err(BackendError::Timeout))
}
