//! The production lifecycle manager.
//!
//! Design (see shared/design.md §2):
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

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use crate::ambiguity::{Ambiguity, ambiguous};
use crate::backend::{
    AgentId, BackendError, ServerId, SessionBackend, SessionEvent, SessionId, Workdir,
};
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
        detached(start(self.inner.clone(), request)).await
    }

    async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
        detached(stop(self.inner.clone(), agent.clone())).await
    }

    async fn evict(&self) -> Result<(), LifecycleError> {
        detached(evict(self.inner.clone())).await
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

/// A start, run in a task of its own ([`detached`]).
async fn start<B: SessionBackend>(
    inner: Arc<Inner<B>>,
    request: StartRequest,
) -> Result<(), LifecycleError> {
    let inner = &inner;
    let (turn, token, incarnation) = {
        let mut state = inner.state();
        if state.evicting {
            return Err(LifecycleError::Evicting);
        }
        state.next_incarnation += 1;
        let incarnation = state.next_incarnation;
        let agent = state
            .agents
            .entry(request.agent.clone())
            .or_insert_with(|| Agent {
                turn: Arc::default(),
                latest: CancellationToken::new(),
                record: None,
            });
        agent.latest.cancel();
        agent.latest = CancellationToken::new();
        (agent.turn.clone(), agent.latest.clone(), incarnation)
    };
    let _turn = tokio::select! {
        biased;
        _ = token.cancelled() => return Err(LifecycleError::Cancelled),
        turn = turn.lock_owned() => turn,
    };
    // The restart path: the previous incarnation is gone before this one begins.
    inner
        .teardown_or_retry(&request.agent, None, Status::Exited)
        .await?;
    if token.is_cancelled() {
        return Err(LifecycleError::Cancelled);
    }
    inner.with_agent(&request.agent, |agent| {
        agent.record = Some(Record {
            incarnation,
            status: Status::Starting,
            lease: None,
            session: None,
            suspect_on: None,
        });
    });
    match Inner::start_up(inner, &request, incarnation, &token).await {
        Ok(()) => {
            inner.with_record(&request.agent, |record| record.status = Status::Running);
            Ok(())
        }
        Err(e) => {
            let end = match e {
                LifecycleError::Cancelled => Status::Exited,
                _ => Status::Failed,
            };
            inner.teardown_or_retry(&request.agent, None, end).await?;
            Err(e)
        }
    }
}

/// A stop, run in a task of its own ([`detached`]).
async fn stop<B: SessionBackend>(
    inner: Arc<Inner<B>>,
    agent: AgentId,
) -> Result<(), LifecycleError> {
    let inner = &inner;
    let agent = &agent;
    let turn = {
        let state = inner.state();
        let Some(known) = state.agents.get(agent) else {
            return Ok(());
        };
        known.latest.cancel();
        known.turn.clone()
    };
    let _turn = turn.lock_owned().await;
    inner.teardown_or_retry(agent, None, Status::Exited).await
}

/// An eviction, run in a task of its own ([`detached`]).
async fn evict<B: SessionBackend>(inner: Arc<Inner<B>>) -> Result<(), LifecycleError> {
    let inner = &inner;
    let agents: Vec<AgentId> = {
        let mut state = inner.state();
        state.evicting = true;
        for agent in state.agents.values() {
            agent.latest.cancel();
        }
        state.agents.keys().cloned().collect()
    };
    // The container dies after this, and background retries with it: what fails is
    // retried here, a few times, before eviction gives up and says so.
    let mut outcome = Ok(());
    for agent in agents {
        let turn = inner.with_agent(&agent, |a| a.turn.clone());
        let _turn = turn.lock_owned().await;
        let mut torn = inner.teardown(&agent, None, Status::Exited).await;
        for _ in 1..RECONCILE_TRIES {
            if torn.is_ok() {
                break;
            }
            tokio::time::sleep(inner.config.retry_pause).await;
            torn = inner.teardown(&agent, None, Status::Exited).await;
        }
        if let Err(e) = torn {
            outcome = Err(e);
        }
    }
    // A call that failed may still land (a create, a server start): wait until none can,
    // then close every server still running, whoever started it.
    let mut closed = Ok(());
    for attempt in 0..RECONCILE_TRIES {
        if attempt > 0 {
            tokio::time::sleep(inner.config.retry_pause).await;
        }
        inner.ask.settled().await;
        closed = inner
            .servers
            .close_running(&inner.backend, &inner.ask)
            .await;
        if closed.is_ok() {
            break;
        }
    }
    outcome.and(closed.map_err(LifecycleError::from))
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

    fn cancelled(token: &CancellationToken) -> Result<(), LifecycleError> {
        if token.is_cancelled() {
            Err(LifecycleError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Steps 3-6 of a startup. Whatever it acquires goes into the record at once, so the
    /// caller's teardown releases it on every path.
    async fn start_up(
        self: &Arc<Self>,
        request: &StartRequest,
        incarnation: u64,
        token: &CancellationToken,
    ) -> Result<(), LifecycleError> {
        let agent = &request.agent;
        let lease = match self
            .servers
            .acquire(&self.backend, &self.ask, &request.workdir)
            .await
        {
            Ok(lease) => lease,
            Err((e, settles)) => {
                // The server may start anyway: close it once the request can no longer land.
                if let Some(settles) = settles.filter(|_| ambiguous(&e)) {
                    tokio::spawn(reap_servers(self.clone(), request.workdir.clone(), settles));
                }
                return Err(e.into());
            }
        };
        let server = lease.server();
        self.with_record(agent, |r| r.lease = Some(lease));
        Self::cancelled(token)?;

        let session = match self
            .ask
            .ask(self.backend.create_session(server, agent))
            .await
        {
            Ok(session) => session,
            Err((e, settles)) => {
                // The create may have happened anyway (until `settles`), and the server may
                // be gone.
                self.servers.suspect(&request.workdir, server);
                self.with_record(agent, |r| r.suspect_on = Some((server, settles)));
                return Err(e.into());
            }
        };
        self.with_record(agent, |r| r.session = Some(session));
        Self::cancelled(token)?;

        let events = self.call(self.backend.subscribe(session)).await?;
        self.state().watchers.insert(
            (agent.clone(), incarnation),
            Watcher {
                token: token.clone(),
                idle_armed: false,
            },
        );
        tokio::spawn(watch_events(
            self.clone(),
            Incarnation {
                agent: agent.clone(),
                incarnation,
                workdir: request.workdir.clone(),
                server,
            },
            events,
            token.clone(),
        ));
        Self::cancelled(token)?;

        self.call(self.backend.prompt(session, &request.prompt))
            .await?;
        Self::cancelled(token)
    }

    /// Ends the agent's record if it is still live (and, with `only`, still that incarnation):
    /// aborts its session, reconciles a failed create, releases its lease, marks it `end`.
    /// Whatever fails stays in the record, so the next stop tries again.
    async fn teardown(
        self: &Arc<Self>,
        agent: &AgentId,
        only: Option<u64>,
        end: Status,
    ) -> Result<(), LifecycleError> {
        let (session, suspect_on) = {
            let mut state = self.state();
            let Some(record) = state.agents.get_mut(agent).and_then(|a| a.record.as_mut()) else {
                return Ok(());
            };
            if record.status.is_terminal() || only.is_some_and(|i| i != record.incarnation) {
                return Ok(());
            }
            record.status = Status::Stopping;
            (record.session, record.suspect_on)
        };
        if let Some(session) = session {
            match self.call(self.backend.abort_session(session)).await {
                Ok(()) | Err(BackendError::Gone(_)) => {}
                Err(e) => return Err(e.into()),
            }
            self.with_record(agent, |r| r.session = None);
        }
        if let Some((server, settles)) = suspect_on {
            // Only once the failed create can no longer land does a listing prove what it did.
            tokio::time::sleep_until(settles).await;
            self.reap_orphans(agent, server).await?;
            self.with_record(agent, |r| r.suspect_on = None);
        }
        let lease = self.with_record(agent, |r| r.lease.take());
        if let Some(lease) = lease {
            let workdir = lease.workdir().clone();
            if let Err(e) = self.servers.release(&self.backend, &self.ask, lease).await {
                // `Servers` remembers the server; it is closed in the background (and at
                // eviction), so an unused server never outlives the manager's retries.
                tracing::warn!(%agent, error = %e, "closing an unused server failed");
                tokio::spawn(retry_close(self.clone(), workdir));
            }
        }
        self.with_record(agent, |r| r.status = end);
        Ok(())
    }

    /// Aborts every session of `agent` on `server`. Only called under the agent's turn with no
    /// session of the agent tracked, so every such session is an orphan of a failed create.
    async fn reap_orphans(&self, agent: &AgentId, server: ServerId) -> Result<(), LifecycleError> {
        let mut last = None;
        for attempt in 0..RECONCILE_TRIES {
            if attempt > 0 {
                tokio::time::sleep(self.config.retry_pause).await;
            }
            let listed = match self.call(self.backend.list_sessions(server)).await {
                Ok(listed) => listed,
                // The server is gone, and every session on it with it.
                Err(BackendError::Gone(_)) => return Ok(()),
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            let mut reaped = Ok(());
            for (session, owner) in listed {
                if &owner == agent {
                    match self.call(self.backend.abort_session(session)).await {
                        Ok(()) | Err(BackendError::Gone(_)) => {}
                        Err(e) => reaped = Err(e),
                    }
                }
            }
            match reaped {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one try failed").into())
    }

    /// A background exit (idle, or the session died): ordered with every other operation on
    /// the agent, and a no-op if a newer incarnation has taken over.
    async fn exit(self: &Arc<Self>, agent: &AgentId, incarnation: u64, end: Status) {
        let turn = self.with_agent(agent, |a| a.turn.clone());
        let _turn = turn.lock_owned().await;
        // A failure is logged and retried by teardown_or_retry.
        let _ = self.teardown_or_retry(agent, Some(incarnation), end).await;
    }

    /// A teardown; if it fails, it is retried in the background until it succeeds or a newer
    /// incarnation takes over, so that what the manager tracks never stays stale.
    async fn teardown_or_retry(
        self: &Arc<Self>,
        agent: &AgentId,
        only: Option<u64>,
        end: Status,
    ) -> Result<(), LifecycleError> {
        let failed = self.teardown(agent, only, end).await.err();
        let Some(e) = failed else { return Ok(()) };
        tracing::warn!(%agent, error = %e, "teardown failed; the session stays tracked and is retried");
        let incarnation = self.with_agent(agent, |a| a.record.as_ref().map(|r| r.incarnation));
        if let Some(incarnation) = incarnation {
            tokio::spawn(retry_teardown(
                self.clone(),
                agent.clone(),
                incarnation,
                end,
            ));
        }
        Err(e)
    }
}

/// Retries one incarnation's teardown, each time under the agent's turn, until it is done.
async fn retry_teardown<B: SessionBackend>(
    inner: Arc<Inner<B>>,
    agent: AgentId,
    incarnation: u64,
    end: Status,
) {
    loop {
        tokio::time::sleep(inner.config.retry_pause).await;
        let turn = inner.with_agent(&agent, |a| a.turn.clone());
        let _turn = turn.lock_owned().await;
        let pending = inner.with_agent(&agent, |a| {
            a.record
                .as_ref()
                .is_some_and(|r| r.incarnation == incarnation && !r.status.is_terminal())
        });
        if !pending || inner.teardown(&agent, Some(incarnation), end).await.is_ok() {
            return;
        }
    }
}

/// Closes the unleased servers of `workdir` whose close failed, until that succeeds.
async fn retry_close<B: SessionBackend>(inner: Arc<Inner<B>>, workdir: Workdir) {
    loop {
        tokio::time::sleep(inner.config.retry_pause).await;
        if inner
            .servers
            .close_unclosed(&inner.backend, &inner.ask, &workdir)
            .await
            .is_ok()
        {
            return;
        }
    }
}

/// After an `ensure_server` for `workdir` failed ambiguously: once it can no longer land,
/// closes any server it started that nobody holds, retrying until that succeeds.
async fn reap_servers<B: SessionBackend>(
    inner: Arc<Inner<B>>,
    workdir: Workdir,
    settles: tokio::time::Instant,
) {
    tokio::time::sleep_until(settles).await;
    while inner
        .servers
        .reap_unowned(&inner.backend, &inner.ask, &workdir)
        .await
        .is_err()
    {
        tokio::time::sleep(inner.config.retry_pause).await;
    }
}

/// Which incarnation a subscription belongs to.
struct Incarnation {
    agent: AgentId,
    incarnation: u64,
    workdir: Workdir,
    server: ServerId,
}

/// The event subscription of one incarnation, with its idle timer; both end with the
/// incarnation's token, so an old incarnation's events or timer never reach a new one.
async fn watch_events<B: SessionBackend>(
    inner: Arc<Inner<B>>,
    me: Incarnation,
    mut events: UnboundedReceiver<SessionEvent>,
    token: CancellationToken,
) {
    let watching = Watching {
        inner: inner.clone(),
        key: (me.agent.clone(), me.incarnation),
    };
    let mut idle_deadline: Option<tokio::time::Instant> = None;
    let end = loop {
        let idle = async {
            match idle_deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = token.cancelled() => return,
            event = events.recv() => match event {
                Some(SessionEvent::Idle) => {
                    idle_deadline = Some(tokio::time::Instant::now() + inner.config.idle_timeout);
                    if let Some(w) = inner.state().watchers.get_mut(&watching.key) {
                        w.idle_armed = true;
                    }
                }
                // The session died under us: its own error, or its server went away.
                Some(SessionEvent::Error) | None => {
                    inner.servers.suspect(&me.workdir, me.server);
                    break Status::Failed;
                }
            },
            _ = idle => break Status::Exited,
        }
    };
    drop(watching);
    inner.exit(&me.agent, me.incarnation, end).await;
}

/// Unregisters a subscription however its task ends (returned, or dropped with the runtime).
struct Watching<B: SessionBackend> {
    inner: Arc<Inner<B>>,
    key: (AgentId, u64),
}

impl<B: SessionBackend> Drop for Watching<B> {
    fn drop(&mut self) {
        if let Ok(mut state) = self.inner.state.lock() {
            state.watchers.remove(&self.key);
        }
    }
}
