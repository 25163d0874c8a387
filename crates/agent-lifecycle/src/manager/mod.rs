//! The production lifecycle manager.
//!
//! Design:
//! - Each start creates an *incarnation* with its own cancellation token. A newer start, a stop
//!   or an eviction cancels the token of the incarnation in flight; the incarnation's event
//!   subscription and idle timer live and die with that token.
//! - Every operation on one agent takes the agent's *turn* (a FIFO async mutex): start, stop,
//!   eviction and the background exits (idle, session death) alike. A restart or a stop runs
//!   only after the incarnation before it has unwound.
//! - What a startup acquires (server lease, session) is stored in the agent's record the moment
//!   the backend returns it, so one teardown path releases everything, exactly once.
//! - Backend calls are never abandoned mid-flight on cancellation (an abandoned create could
//!   leave a session nobody knows of); the token is checked after each call instead, and each
//!   call is bounded by the call timeout.
//! - What the manager cannot prove dead it keeps tracking: a session whose abort failed stays
//!   in its record, and a create that failed (it may have created a session anyway) is
//!   reconciled by listing the server's sessions; until that succeeds the record stays live.
//! - A call that failed or timed out may still take effect, until its request lifetime
//!   ([`ManagerConfig::request_lifetime`]) runs out. Every call goes through one tracker
//!   (`ambiguity.rs`), so the manager knows until when: a failed create is reconciled only once
//!   it can no longer land; a failed `ensure_server` is followed, once it cannot land, by
//!   closing any server it started that no lease holds (`list_servers`); a server whose close
//!   failed is closed again before its workdir gets a new lease, never leased again; and
//!   eviction waits until no call can still land, then closes every server that runs.
//! - Each operation runs in a task of its own ([`detached`]): a caller that drops its future
//!   (an HTTP server does when its client goes away) abandons only the wait, never half an
//!   operation, so the state is never left between two steps.

// The manager's state and its `Lifecycle` face live here, so their fields stay private to
// `manager`; the operations on them are split by idea into the submodules.
mod events;
mod start;
mod stop;
mod teardown;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

use crate::ambiguity::Ambiguity;
use crate::backend::{AgentId, BackendError, ServerId, SessionBackend, SessionId};
use crate::lease::{ServerLease, Servers};
use crate::lifecycle::{
    AgentSnapshot, Lifecycle, LifecycleError, ManagerConfig, SideKind, SideSnapshot, Snapshot,
    StartRequest, Status,
};
use crate::request::detached;

/// How often a failed create is reconciled within one teardown.
const RECONCILE_TRIES: u32 = 5;

/// The production manager ("owned" design).
pub struct AgentManager<B> {
    inner: Arc<Inner<B>>,
}

struct Inner<B> {
    backend: B,
    config: ManagerConfig,
    /// Every backend call goes through it, so the manager knows until when what it asked
    /// may still land.
    ask: Ambiguity,
    servers: Servers,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    agents: BTreeMap<AgentId, Agent>,
    next_incarnation: u64,
    evicting: bool,
    /// The running event subscriptions, by agent and incarnation (observation only).
    watchers: BTreeMap<(AgentId, u64), Watcher>,
}

/// What a running subscription holds: its incarnation's token and whether its idle timer is
/// armed.
struct Watcher {
    token: CancellationToken,
    idle_armed: bool,
}

struct Agent {
    /// Held by whichever operation on this agent is running; FIFO, so operations run in
    /// arrival order.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// The token of the newest incarnation; cancelling it supersedes that incarnation.
    latest: CancellationToken,
    record: Option<Record>,
}

struct Record {
    incarnation: u64,
    status: Status,
    lease: Option<ServerLease>,
    session: Option<SessionId>,
    /// Set while a failed create on this server may have left a session behind, with the
    /// instant after which that create can no longer land.
    suspect_on: Option<(ServerId, tokio::time::Instant)>,
    /// Set when the prompt failed and may still land until this instant: a prompt that lands
    /// after the session's abort runs the session again (kilo queues it after the abort), so
    /// the teardown aborts once more after it.
    prompt_settles: Option<tokio::time::Instant>,
}

impl<B: SessionBackend> Lifecycle<B> for AgentManager<B> {
    fn new(backend: B, config: ManagerConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                backend,
                ask: Ambiguity::new(config.call_timeout, config.request_lifetime),
                config,
                servers: Servers::default(),
                state: Mutex::default(),
            }),
        }
    }

    // Each operation runs in a task of its own: a caller that goes away (an HTTP handler whose
    // client gave up) drops only its wait, never half a startup or a teardown.
    async fn start(&self, request: StartRequest) -> Result<(), LifecycleError> {
        detached(start::start(self.inner.clone(), request)).await
    }

    async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
        detached(stop::stop(self.inner.clone(), agent.clone())).await
    }

    async fn evict(&self) -> Result<(), LifecycleError> {
        detached(stop::evict(self.inner.clone())).await
    }

    fn snapshot(&self) -> Snapshot {
        let agents = {
            let state = self.inner.state();
            state
                .agents
                .iter()
                .filter_map(|(id, agent)| {
                    let record = agent.record.as_ref()?;
                    Some(AgentSnapshot {
                        agent: id.clone(),
                        incarnation: record.incarnation,
                        status: record.status,
                        session: record.session,
                        suspect_on: record.suspect_on.map(|(server, _)| server),
                    })
                })
                .collect()
        };
        let side = {
            let state = self.inner.state();
            let mut side = Vec::new();
            // A watcher whose token is cancelled returns at its next poll without acting
            // (its select is biased to the token), so only live tokens count. A stop reaches
            // every watcher through its incarnation's token.
            for ((agent, incarnation), watcher) in &state.watchers {
                if watcher.token.is_cancelled() {
                    continue;
                }
                let entry = |kind| SideSnapshot {
                    agent: agent.clone(),
                    kind,
                    incarnation: *incarnation,
                };
                side.push(entry(SideKind::Subscription));
                side.push(entry(SideKind::StreamSlot));
                if watcher.idle_armed {
                    side.push(entry(SideKind::IdleTimer));
                }
            }
            side.sort();
            side
        };
        Snapshot {
            agents,
            servers: self.inner.servers.snapshot(),
            side,
        }
    }
}

impl<B: SessionBackend> Inner<B> {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("manager state poisoned")
    }

    fn with_agent<T>(&self, agent: &AgentId, f: impl FnOnce(&mut Agent) -> T) -> T {
        let mut state = self.state();
        f(state
            .agents
            .get_mut(agent)
            .expect("agent entries are never removed"))
    }

    /// Runs `f` on the agent's record. Callers hold the agent's turn and a record exists for
    /// the whole of a startup and teardown, so a missing record is a bug here.
    fn with_record<T>(&self, agent: &AgentId, f: impl FnOnce(&mut Record) -> T) -> T {
        self.with_agent(agent, |a| {
            f(a.record.as_mut().expect("record under the turn"))
        })
    }

    /// A backend call through [`Ambiguity`], for callers that need no more than its result.
    async fn call<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, BackendError>>,
    ) -> Result<T, BackendError> {
        self.ask.ask(call).await.map_err(|(e, _)| e)
    }
}
