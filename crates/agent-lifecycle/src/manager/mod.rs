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
//!
//! The other entry points (`restart.rs`, `boot.rs`) keep the same promises:
//! - A record keeps what started it (its [`StartRequest`]) and its configuration (set by
//!   `update`, absent for the default), so a restart and the registry need nothing else.
//! - `refresh` and `update` restart a Running agent as a new incarnation, under the agent's
//!   turn, through the same teardown and startup as a start: the old incarnation's token is
//!   cancelled (its watcher and timer end), its session aborted, its lease released; its
//!   server is *retired* first (no new leases; closed by its last release, so other agents on
//!   it keep running). The new incarnation gets a lease, a session and a subscription; it is
//!   not prompted again (a restarted session is idle: kilo does not resume an interrupted
//!   turn, and re-sending the first prompt would run it twice), so its idle timer is armed at
//!   once, or an idle agent would never exit.
//! - Only an agent found Running, and not superseded (its token not cancelled by a newer
//!   start, a stop or an eviction), when its turn comes up is restarted: a Starting agent is
//!   never raced (#2835), and a queued command is never overtaken. `update` of an agent with
//!   no Starting or Running record answers [`LifecycleError::NotRunning`]; of a Starting one,
//!   it waits for its turn, after the start.
//! - The backend runs one server per workdir (`ensure_server` hands back the running one), so
//!   a fresh server exists only once every lease on the old one is gone. `refresh` therefore
//!   restarts the Running agents of one workdir together: it takes their turns in agent order
//!   (one order for every taker of several turns, so two refreshes never deadlock; every other
//!   operation holds one turn and waits for nothing that needs another), ends every old
//!   incarnation, and only then brings the new ones up. An agent left on the old server (one
//!   still starting, or one `update` did not move) keeps it running, and a new lease asked
//!   for meanwhile lands on it (`lease.rs`).
//! - A restart that fails ends its new record Failed through the one teardown, so it releases
//!   everything; a teardown that fails is retried in the background as everywhere.
//! - `registry` lists the requests of Starting and Running records, and of an agent between
//!   the end of its old incarnation and the start of the new one (a restart in flight: the
//!   agent is meant to run, so a container dying then must not lose it). A configuration
//!   travels in the request's prompt, after a marker (`boot.rs`), as `StartRequest` has no
//!   field for it.
//! - `hydrate` starts each entry as a start of its own, concurrently, each under its agent's
//!   turn: no lock is held across the hydration, so nothing waits for all of it (#3151). An
//!   agent that got a start or a stop since boot is skipped, in the same step that would
//!   make its entry: the newer command wins (a stop of an unknown agent is remembered).

// The manager's state and its `Lifecycle` face live here, so their fields stay private to
// `manager`; the operations on them are split by idea into the submodules.
mod boot;
mod events;
mod restart;
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
use start::Origin;

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
    /// What an operation holding the turn means to run, from when it ends the record before
    /// it until its own record exists: the registry still lists the agent meanwhile.
    wanted: Option<Wanted>,
}

impl Agent {
    fn new() -> Self {
        Self {
            turn: Arc::default(),
            latest: CancellationToken::new(),
            record: None,
            wanted: None,
        }
    }
}

/// An incarnation about to be brought up: what it runs, and what names it.
#[derive(Clone)]
struct Wanted {
    request: StartRequest,
    config: Option<String>,
    incarnation: u64,
    token: CancellationToken,
}

struct Record {
    incarnation: u64,
    /// This incarnation's token: cancelled when anything supersedes it.
    token: CancellationToken,
    /// What started it; a restart starts the same again.
    request: StartRequest,
    /// Its configuration, as `update` set it; `None` is the default.
    config: Option<String>,
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
    /// The initial prompt is on its way: its turn can last minutes, and the startup holds
    /// the agent's turn until it returns, so a stop or an eviction aborts the session first
    /// (the prompt then returns at once) instead of waiting the turn out.
    prompting: bool,
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
        detached(start::start(
            self.inner.clone(),
            request,
            None,
            Origin::Command,
        ))
        .await
    }

    async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
        detached(stop::stop(self.inner.clone(), agent.clone())).await
    }

    async fn evict(&self) -> Result<(), LifecycleError> {
        detached(stop::evict(self.inner.clone())).await
    }

    async fn refresh(&self) -> Result<(), LifecycleError> {
        detached(restart::refresh(self.inner.clone())).await
    }

    async fn update(&self, agent: &AgentId, config: &str) -> Result<(), LifecycleError> {
        detached(restart::update(
            self.inner.clone(),
            agent.clone(),
            config.to_owned(),
        ))
        .await
    }

    fn registry(&self) -> Vec<StartRequest> {
        boot::registry(&self.inner.state())
    }

    async fn hydrate(&self, registry: Vec<StartRequest>) -> Result<(), LifecycleError> {
        detached(boot::hydrate(self.inner.clone(), registry)).await
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

/// Runs each operation in a task of its own and waits for them all, in the order given. A
/// dropped wait leaves them running, as [`detached`] does.
async fn join_all<T: Send + 'static>(
    operations: impl IntoIterator<Item = impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let tasks: Vec<_> = operations.into_iter().map(tokio::spawn).collect();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(match task.await {
            Ok(result) => result,
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                // The runtime is shutting down: nobody is left to answer.
                Err(_) => std::future::pending().await,
            },
        });
    }
    results
}

/// The outcome of several operations: the first error, where a cancellation (a newer command
/// won) is no error.
fn first_error(results: Vec<Result<(), LifecycleError>>) -> Result<(), LifecycleError> {
    results
        .into_iter()
        .filter_map(Result::err)
        .find(|e| *e != LifecycleError::Cancelled)
        .map_or(Ok(()), Err)
}
