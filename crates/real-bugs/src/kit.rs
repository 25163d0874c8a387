//! What every manager of this crate shares: a small lifecycle manager in the shape of the real
//! process manager (docs/real-system.md §2: one record per start, one `kilo serve` per workdir
//! with a manual session count, an abort token per startup, an event stream and an idle timer
//! per session), written to be correct everywhere except in the one step each bug module
//! supplies through [`Steps`].
//!
//! Each bug module implements [`Steps`] for a marker type with a `FIXED` const generic, and its
//! manager is `KitManager<B, ThatMarker<FIXED>>`: the pre-fix and the fixed manager differ only in
//! the lines of that one step. The defaults of [`Steps`] are the fixed behaviour of every step, so
//! a manager is correct in every step but its own bug's.
//!
//! | real code (docs/real-system.md) | here |
//! | --- | --- |
//! | `agents: Map<agentId, ManagedAgent>`, a mutable record per start | `State::records`, each an `Arc<Record>` the startup keeps after a restart replaced it |
//! | `startupAbortController` (POST) | `Record::cancel`: the record's status is `Stopping` while its startup is still in flight |
//! | `sdkInstances: Map<workdir, {server, sessionCount}>`, closed at 0 | `State::servers`, changed only under the workdir's gate (`Inner::acquire`, `Inner::release`) |
//! | `startAgent` | `KitManager::run_start`, `KitManager::startup` |
//! | `stopAgent` | `Inner::stop` |
//! | `subscribeToEvents`, the idle timer, `exitAgent`, the stream's catch | `KitManager::watch`, `KitManager::exit` |
//! | SIGTERM: drain and `stopAll` | `Inner::evict` |
//!
//! Where it is more careful than the real code, so that a finding is its bug's and nothing else:
//! - Operations on one agent (a stop, a restart's stop, a background exit) take the agent's turn
//!   (an async mutex); a restart installs its record under the turn, so three starts cannot
//!   orphan one (docs/real-system.md §6.8). The startup itself runs outside the turn, so a stop or
//!   a restart still lands in the middle of it, which is where #1341 and #1995 live.
//! - A restart cancels a startup in flight and goes on (as the real `startAgent` does); an explicit
//!   stop and an eviction cancel it and wait for its cleanup (so a stop is terminal, I5, L2).
//! - A startup owns its count and its session until it returns: a stop of a startup only cancels
//!   it, so there is no double decrement (§6.1), and no session is aborted while its prompt may
//!   still land (a prompt landing after the abort revives it).
//! - Aborts and closes are retried until they took effect (`Ok`, or the session or server is gone):
//!   an abort that throws does not leave its count behind (§6.14).
//! - A background exit (idle, or the session's stream failed) aborts the session before it
//!   releases the count (the real `exitAgent` leaves the session to the server's close, §3), so
//!   what a missing release leaves behind is exactly the server.
//! - A failed call is trusted to have done nothing, as the real code trusts it: the campaigns of
//!   `tests/suite.rs` leave out the fault families where a failed call did something
//!   (create-lies, lost-replies, late-effects).

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use agent_lifecycle::point::{Point, p};
use agent_lifecycle::{
    AgentId, AgentSnapshot, BackendError, Lifecycle, LifecycleError, ManagerConfig, ServerId,
    ServerSnapshot, SessionBackend, SessionEvent, SessionId, Snapshot, StartRequest, Status,
    Workdir, bounded, point,
};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The kit's coverage points (`point!` marks them below): the moments each bug needs, so a
/// campaign that holds can be shown to have reached them.
pub const POINTS: &[Point] = &[
    p(
        "kit.restart_cancelled_startup",
        "a restart cancelled a startup still in flight and went on",
    ),
    p(
        "kit.cancel_seen_after_create",
        "a startup found its token cancelled right after session.create returned",
    ),
    p("kit.exit_idle", "a Running record exited on its idle timer"),
    p(
        "kit.exit_stream_failed",
        "a Running record exited because its session's stream failed",
    ),
];

/// Why a background exit ends an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCause {
    /// Its idle timer fired: `exitAgent`, status `Exited`.
    Idle,
    /// Its session's stream reported an error or ended (the session died): the stream's catch,
    /// status `Failed`.
    StreamFailed,
}

impl ExitCause {
    fn end(self) -> Status {
        match self {
            Self::Idle => Status::Exited,
            Self::StreamFailed => Status::Failed,
        }
    }
}

/// What a teardown does with the record's count on its server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// `sessionCount--`, and at 0 `server.close()` and the entry deleted: what every path of a
    /// correct manager does.
    Give,
    /// Nothing: the count stays, so the server is never closed (#1075 before its fix).
    Keep,
    /// `sessionCount--` with no close at 0: the server stays listed at 0 (the real PRE catch's
    /// decrement, docs/real-system.md §2).
    DecrementOnly,
    /// The entry deleted with no close: the server runs on, no longer listed (a stale instance
    /// removal, docs/real-system.md §6.11).
    Forget,
}

/// A startup found its token cancelled.
#[derive(Debug)]
pub struct Cancelled;

/// The steps a bug lives in, each defaulting to its fixed form. A bug module overrides the one
/// step of its bug, and decides with its `FIXED` const generic whether it runs the fix.
pub trait Steps: Send + Sync + 'static {
    /// After `session.create` returned `session` to the startup of `record`: record the session
    /// and check the startup's abort token (#1995). `Err(Cancelled)` sends the startup down its
    /// abort path, which aborts whatever session the *record* holds.
    fn on_created(record: &Record, session: SessionId) -> Result<(), Cancelled> {
        record.set_session(session);
        record.check()
    }

    /// What a background exit does with the record's count on its server (#1075).
    fn release_on_exit(_cause: ExitCause) -> Release {
        Release::Give
    }
}

/// One start's record: the object the startup keeps writing to after a restart replaced the map
/// entry (`ManagedAgent`).
pub struct Record {
    agent: AgentId,
    workdir: Workdir,
    incarnation: u64,
    /// Moves forward only; `Stopping` while the startup is in flight means its token is
    /// cancelled. Its lock orders the status changes of the startup, its canceller and its stream.
    status: watch::Sender<Status>,
    /// The session died under the startup (its stream ended while the record was `Starting`).
    died: AtomicBool,
    /// Ends the record's event stream.
    stream: CancellationToken,
    held: Mutex<Held>,
}

/// What a record holds.
#[derive(Default)]
struct Held {
    /// `sessionId`: none until stored.
    session: Option<SessionId>,
    /// The server its count is on, once counted.
    server: Option<ServerId>,
}

impl Record {
    fn held(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `rec.sessionId = S`.
    pub fn set_session(&self, session: SessionId) {
        self.held().session = Some(session);
    }

    /// The startup's abort check: `if (signal.aborted) throw new StartupAbortedError()`.
    pub fn check(&self) -> Result<(), Cancelled> {
        if *self.status.borrow() == Status::Starting {
            Ok(())
        } else {
            Err(Cancelled)
        }
    }

    fn status(&self) -> Status {
        *self.status.borrow()
    }

    /// Cancels the record's startup (`startupAbortController.abort()`) if it is still starting.
    fn cancel(&self) -> bool {
        self.status.send_if_modified(|s| {
            if *s == Status::Starting {
                *s = Status::Stopping;
                self.stream.cancel();
                true
            } else {
                false
            }
        })
    }

    /// Moves `Running` to `Stopping` (a teardown begins); false if it was not running.
    fn begin_teardown(&self) -> bool {
        self.status.send_if_modified(|s| {
            if *s == Status::Running {
                *s = Status::Stopping;
                true
            } else {
                false
            }
        })
    }

    fn finish(&self, end: Status) {
        self.stream.cancel();
        self.status.send_replace(end);
    }

    async fn ended(&self) {
        let mut rx = self.status.subscribe();
        let _ = rx.wait_for(|s| s.is_terminal()).await;
    }
}

#[derive(Default)]
struct State {
    records: BTreeMap<AgentId, Arc<Record>>,
    /// Per agent: its turn, taken by stops, a restart's stop and background exits.
    turns: BTreeMap<AgentId, Arc<tokio::sync::Mutex<()>>>,
    /// Per workdir: held across `ensure_server` and across the close at 0.
    gates: BTreeMap<Workdir, Arc<tokio::sync::Mutex<()>>>,
    /// `sdkInstances`: the server and its session count.
    servers: BTreeMap<Workdir, (ServerId, i64)>,
    incarnations: u64,
    evicting: bool,
}

struct Inner<B> {
    backend: B,
    config: ManagerConfig,
    state: Mutex<State>,
    /// Starts in flight (an eviction waits for every earlier one).
    starts: watch::Sender<usize>,
}

/// A manager of this crate: the kit, with `S`'s steps.
pub struct KitManager<B, S> {
    inner: Arc<Inner<B>>,
    steps: PhantomData<fn() -> S>,
}

impl<B: SessionBackend> Inner<B> {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn turn(&self, agent: &AgentId) -> Arc<tokio::sync::Mutex<()>> {
        self.state().turns.entry(agent.clone()).or_default().clone()
    }

    fn gate(&self, workdir: &Workdir) -> Arc<tokio::sync::Mutex<()>> {
        self.state()
            .gates
            .entry(workdir.clone())
            .or_default()
            .clone()
    }

    fn record(&self, agent: &AgentId) -> Option<Arc<Record>> {
        self.state().records.get(agent).cloned()
    }

    /// `ensureSDKServer` and `sessionCount++`, under the workdir's gate.
    async fn acquire(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        let gate = self.gate(workdir);
        let _gate = gate.lock().await;
        if let Some((server, count)) = self.state().servers.get_mut(workdir) {
            *count += 1;
            return Ok(*server);
        }
        let server = bounded(
            self.config.call_timeout,
            self.backend.ensure_server(workdir),
        )
        .await?;
        self.state().servers.insert(workdir.clone(), (server, 1));
        Ok(server)
    }

    /// `sessionCount--`, then `then` (the record ends with its count), and at 0
    /// `server.close()` and the entry deleted, all under the gate; or what `how` says instead.
    async fn release(
        &self,
        workdir: &Workdir,
        server: ServerId,
        how: Release,
        then: impl FnOnce(),
    ) {
        if how == Release::Keep {
            then();
            return;
        }
        let gate = self.gate(workdir);
        let _gate = gate.lock().await;
        let last = {
            let mut state = self.state();
            match state.servers.get_mut(workdir) {
                Some((s, _)) if *s == server && how == Release::Forget => {
                    state.servers.remove(workdir);
                    false
                }
                Some((s, count)) if *s == server => {
                    *count -= 1;
                    *count <= 0 && how == Release::Give
                }
                _ => false,
            }
        };
        then();
        if last {
            self.close(server).await;
            self.state().servers.remove(workdir);
        }
    }

    async fn close(&self, server: ServerId) {
        loop {
            match bounded(self.config.call_timeout, self.backend.close_server(server)).await {
                Ok(()) | Err(BackendError::Gone(_)) => return,
                Err(_) => tokio::time::sleep(self.config.retry_pause).await,
            }
        }
    }

    /// `session.abort`, until the session is dead.
    async fn abort(&self, session: SessionId) {
        loop {
            match bounded(
                self.config.call_timeout,
                self.backend.abort_session(session),
            )
            .await
            {
                Ok(()) | Err(BackendError::Gone(_)) => return,
                Err(_) => tokio::time::sleep(self.config.retry_pause).await,
            }
        }
    }

    /// Undoes what `record` holds: aborts its session, does with its count what `release`
    /// says, and ends it as `end`.
    async fn undo(&self, record: &Record, end: Status, release: Release) {
        let (session, server) = {
            let held = record.held();
            (held.session, held.server)
        };
        if let Some(session) = session {
            self.abort(session).await;
        }
        match server {
            Some(server) => {
                self.release(&record.workdir, server, release, || record.finish(end))
                    .await;
            }
            _ => record.finish(end),
        }
    }

    /// Ends a `Running` record: stop, eviction, or a background exit.
    async fn teardown(&self, record: &Record, end: Status, release: Release) {
        if record.begin_teardown() {
            self.undo(record, end, release).await;
        }
    }

    /// Stops `agent`'s record under its turn. A startup in flight is cancelled; `wait`: and its
    /// cleanup waited for (a restart does not wait, as the real `startAgent` does not).
    async fn stop_record(&self, agent: &AgentId, wait: bool) {
        let Some(record) = self.record(agent) else {
            return;
        };
        match record.status() {
            Status::Starting => {
                if record.cancel() && !wait {
                    point!("kit.restart_cancelled_startup");
                }
            }
            Status::Running => self.teardown(&record, Status::Exited, Release::Give).await,
            _ => {}
        }
        if wait {
            record.ended().await;
        }
    }

    async fn stop(&self, agent: &AgentId) {
        let turn = self.turn(agent);
        let _turn = turn.lock().await;
        self.stop_record(agent, true).await;
    }

    async fn evict(&self) {
        self.state().evicting = true;
        let agents: Vec<AgentId> = self.state().records.keys().cloned().collect();
        for agent in agents {
            self.stop(&agent).await;
        }
        let mut starts = self.starts.subscribe();
        let _ = starts.wait_for(|n| *n == 0).await;
        // A record ends with its count; its server's close may still run, under the gate.
        let gates: Vec<_> = self.state().gates.values().cloned().collect();
        for gate in gates {
            drop(gate.lock().await);
        }
    }
}

impl<B: SessionBackend, S: Steps> KitManager<B, S> {
    async fn run_start(&self, request: StartRequest) -> Result<(), LifecycleError> {
        let inner = &self.inner;
        {
            let state = inner.state();
            if state.evicting {
                return Err(LifecycleError::Evicting);
            }
            inner.starts.send_modify(|n| *n += 1);
        }
        let result = self.start_counted(request).await;
        inner.starts.send_modify(|n| *n -= 1);
        result
    }

    async fn start_counted(&self, request: StartRequest) -> Result<(), LifecycleError> {
        let inner = &self.inner;
        let record = {
            let turn = inner.turn(&request.agent);
            let _turn = turn.lock().await;
            // A restart: stop what is recorded (a startup in flight is cancelled, not awaited).
            inner.stop_record(&request.agent, false).await;
            let mut state = inner.state();
            if state.evicting {
                return Err(LifecycleError::Evicting);
            }
            state.incarnations += 1;
            let record = Arc::new(Record {
                agent: request.agent.clone(),
                workdir: request.workdir.clone(),
                incarnation: state.incarnations,
                status: watch::Sender::new(Status::Starting),
                died: AtomicBool::new(false),
                stream: CancellationToken::new(),
                held: Mutex::default(),
            });
            state.records.insert(request.agent.clone(), record.clone());
            record
        };
        self.startup(&record, &request.prompt).await
    }

    /// The startup, outside the agent's turn: a stop or a restart can land at any await.
    async fn startup(&self, record: &Arc<Record>, prompt: &str) -> Result<(), LifecycleError> {
        let inner = &self.inner;
        let timeout = inner.config.call_timeout;
        let server = match inner.acquire(&record.workdir).await {
            Ok(server) => server,
            Err(e) => {
                record.finish(Status::Failed);
                return Err(e.into());
            }
        };
        record.held().server = Some(server);
        if record.check().is_err() {
            inner.undo(record, Status::Exited, Release::Give).await;
            return Err(LifecycleError::Cancelled);
        }
        let session =
            match bounded(timeout, inner.backend.create_session(server, &record.agent)).await {
                Ok(session) => session,
                Err(e) => {
                    inner.undo(record, Status::Failed, Release::Give).await;
                    return Err(e.into());
                }
            };
        if S::on_created(record, session).is_err() {
            point!("kit.cancel_seen_after_create");
            // The abort path: it aborts the session the record holds, if it holds one.
            inner.undo(record, Status::Exited, Release::Give).await;
            return Err(LifecycleError::Cancelled);
        }
        let events = match bounded(timeout, inner.backend.subscribe(session)).await {
            Ok(events) => events,
            Err(e) => {
                inner.undo(record, Status::Failed, Release::Give).await;
                return Err(e.into());
            }
        };
        tokio::spawn(Self::watch(inner.clone(), record.clone(), events));
        let prompted = bounded(timeout, inner.backend.prompt(session, prompt)).await;
        // Running, unless a stop cancelled it, the prompt failed, or the session died meanwhile.
        let mut cancelled = false;
        let running = record.status.send_if_modified(|s| {
            cancelled = *s != Status::Starting;
            let ok = !cancelled && prompted.is_ok() && !record.died.load(Ordering::SeqCst);
            if ok {
                *s = Status::Running;
            }
            ok
        });
        if running {
            return Ok(());
        }
        if cancelled {
            inner.undo(record, Status::Exited, Release::Give).await;
            return Err(LifecycleError::Cancelled);
        }
        inner.undo(record, Status::Failed, Release::Give).await;
        Err(prompted
            .err()
            .unwrap_or_else(|| {
                BackendError::Gone("the session died during its first prompt".into())
            })
            .into())
    }

    /// The record's event stream and idle timer (`subscribeToEvents`): `session.idle` arms the
    /// timer; the timer, an error event or the stream's end exit a `Running` record.
    async fn watch(
        inner: Arc<Inner<B>>,
        record: Arc<Record>,
        mut events: UnboundedReceiver<SessionEvent>,
    ) {
        let mut deadline: Option<tokio::time::Instant> = None;
        let cause = loop {
            let idle = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = record.stream.cancelled() => return,
                event = events.recv() => match event {
                    Some(SessionEvent::Idle) => {
                        deadline = Some(tokio::time::Instant::now() + inner.config.idle_timeout);
                    }
                    Some(SessionEvent::Heartbeat) => {}
                    // A turn that ended in an error, while the startup still runs: its own
                    // prompt's answer decides.
                    Some(SessionEvent::Error) if record.status() == Status::Starting => {}
                    Some(SessionEvent::Error) => break ExitCause::StreamFailed,
                    None => {
                        // The session died. Under the status lock, so that the startup either
                        // sees it, or has already made the record Running and this exits it.
                        let mut starting = false;
                        record.status.send_if_modified(|s| {
                            starting = *s == Status::Starting;
                            record.died.store(starting, Ordering::SeqCst);
                            false
                        });
                        if starting {
                            return;
                        }
                        break ExitCause::StreamFailed;
                    }
                },
                _ = idle => match record.status() {
                    Status::Starting => {
                        deadline = Some(tokio::time::Instant::now() + inner.config.idle_timeout);
                    }
                    Status::Running => break ExitCause::Idle,
                    _ => return,
                },
            }
        };
        Self::exit(&inner, &record, cause).await;
    }

    /// A background exit, under the agent's turn, of the record if it still runs.
    async fn exit(inner: &Inner<B>, record: &Record, cause: ExitCause) {
        let turn = inner.turn(&record.agent);
        let _turn = turn.lock().await;
        if record.status() == Status::Running {
            match cause {
                ExitCause::Idle => point!("kit.exit_idle"),
                ExitCause::StreamFailed => point!("kit.exit_stream_failed"),
            }
        }
        inner
            .teardown(record, cause.end(), S::release_on_exit(cause))
            .await;
    }
}

impl<B: SessionBackend, S: Steps> Lifecycle<B> for KitManager<B, S> {
    fn new(backend: B, config: ManagerConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                backend,
                config,
                state: Mutex::default(),
                starts: watch::Sender::new(0),
            }),
            steps: PhantomData,
        }
    }

    async fn start(&self, request: StartRequest) -> Result<(), LifecycleError> {
        self.run_start(request).await
    }

    async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
        self.inner.stop(agent).await;
        Ok(())
    }

    async fn evict(&self) -> Result<(), LifecycleError> {
        self.inner.evict().await;
        Ok(())
    }

    fn snapshot(&self) -> Snapshot {
        let state = self.inner.state();
        Snapshot {
            agents: state
                .records
                .iter()
                .map(|(agent, r)| AgentSnapshot {
                    agent: agent.clone(),
                    incarnation: r.incarnation,
                    status: r.status(),
                    session: r.held().session,
                    suspect_on: None,
                })
                .collect(),
            servers: state
                .servers
                .iter()
                .map(|(workdir, (server, count))| ServerSnapshot {
                    workdir: workdir.clone(),
                    server: *server,
                    count: *count,
                })
                .collect(),
            side: Vec::new(),
        }
    }
}
