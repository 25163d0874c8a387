//! The public API every lifecycle implementation offers: the production manager and the
//! historical models that the simulation harness judges side by side.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::backend::{AgentId, BackendError, SessionBackend, SessionId, Workdir};

/// Where an agent is in its life. Moves forward only:
/// Starting -> Running -> Stopping -> Exited, or to Failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Starting,
    Running,
    Stopping,
    Exited,
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
    pub agent: AgentId,
    pub workdir: Workdir,
    pub prompt: String,
}

/// One record the manager keeps, as observed from outside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSnapshot {
    pub agent: AgentId,
    pub status: Status,
    pub session: Option<SessionId>,
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
}

impl fmt::Display for LifecycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Backend(e) => write!(f, "backend {e}"),
            Self::Cancelled => f.write_str("cancelled"),
            Self::Evicting => f.write_str("evicting"),
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
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(30),
        }
    }
}

/// A lifecycle manager over a session backend.
pub trait Lifecycle<B: SessionBackend>: Send + Sync + Sized + 'static {
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

    /// The records the manager holds, in agent order.
    fn snapshot(&self) -> Vec<AgentSnapshot>;
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
