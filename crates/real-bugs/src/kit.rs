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
//! | `refreshTokenForAllAgents` (r0-r6, the reaper) | `KitManager::run_refresh`, `KitManager::restart_server`, `KitManager::acquire_for_refresh` |
//! | `syncRegistry`, `bootHydration`, `awaitHydration` | `registry`, `KitManager::run_hydrate`, `Inner::hydrating` |
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
//! - The startup owns its record until its initial prompt returns, `Running` or not (#1828's
//!   step decides which): a stop, a drain or an exit meanwhile aborts the session once to cut
//!   the turn short, and the startup undoes the record when the prompt returns (aborting again,
//!   since a prompt that reached the server after the first abort revived the session).
//! - A background exit (idle, or the session's stream failed) aborts the session before it
//!   releases the count (the real `exitAgent` leaves the session to the server's close, §3), so
//!   what a missing release leaves behind is exactly the server.
//! - A refresh leaves alone a record whose initial prompt is still out (LATEST restarts it and
//!   closes the server under the prompt, docs/real-system.md §6.10).
//! - A refresh restarts a record under its agent's turn, and an old stream's exit that waited
//!   for that turn no longer acts; a refresh spawn that outlasts its timeout ends the agent
//!   `Exited` (the old server, which the real code maps back, is closed already: the backend
//!   runs one server per workdir). The boot hydration skips an agent a user started or stopped
//!   since boot, and a user start that waited at the gate loses to a stop that arrived meanwhile.
//! - A failed call is trusted to have done nothing, as the real code trusts it: the campaigns of
//!   `tests/suite.rs` leave out the fault families where a failed call did something
//!   (create-lies, lost-replies, late-effects).

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::watched::Watched;
use agent_lifecycle::point::{Point, p};
use agent_lifecycle::{
    AgentId, AgentSnapshot, BackendError, Lifecycle, LifecycleError, ManagerConfig, ServerId,
    ServerSnapshot, SessionBackend, SessionEvent, SessionId, Snapshot, StartRequest, Status,
    Workdir, bounded, point,
};
use tokio::sync::mpsc::UnboundedReceiver;
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

/// The kit's coverage points of a long initial turn (#1828).
pub const TURN_POINTS: &[Point] = &[p(
    "kit.cut_initial_turn",
    "a stop or an exit aborted a session whose initial prompt was still out",
)];

/// The kit's coverage points of a refresh (#2835): the moments its two bugs need.
pub const REFRESH_POINTS: &[Point] = &[
    p(
        "kit.refresh_restarted_running",
        "a refresh moved a Running record to a fresh server",
    ),
    p(
        "kit.refresh_ensure_timed_out",
        "a refresh's ensure_server outlasted the refresh timeout",
    ),
];

/// Reached only by the pre-fix refresh of #2835 (a), and by the fixed reaper of (b).
pub const REFRESH_BUG_POINTS: &[Point] = &[
    p(
        "kit.refresh_restarted_starting",
        "a refresh restarted the server of a record still Starting",
    ),
    p(
        "kit.reaper_closed_orphan",
        "the reaper closed the server a timed-out refresh ensure started",
    ),
];

/// The coverage points a refresh bug's campaign requires (#2835 (a) and (b) alike).
pub(crate) fn refresh_campaign_points() -> Vec<Point> {
    REFRESH_POINTS
        .iter()
        .chain(REFRESH_BUG_POINTS)
        .copied()
        .collect()
}

/// The kit's coverage points of a boot hydration (#3151).
pub const BOOT_POINTS: &[Point] = &[
    p(
        "kit.hydration_started_entry",
        "the boot hydration started a persisted request",
    ),
    p(
        "kit.start_waited_for_hydration",
        "a user start waited at the hydration gate",
    ),
];

/// Reached only by the pre-fix hydration of #3151.
pub const BOOT_BUG_POINTS: &[Point] = &[p(
    "kit.start_queued_behind_hydration",
    "a user start queued, its agent's turn held, behind the lock the hydration holds",
)];

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

/// Who finishes a teardown that began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Teardown {
    /// The caller: the record's session and count are its to give back.
    Now,
    /// The startup, once its initial prompt returns.
    Deferred,
}

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

    /// Whether a refresh restarts the server of a record in `status` (#2835: only `running`
    /// ones; a `starting` agent's startup is still acquiring, counting and subscribing).
    fn refresh_admits(status: Status) -> bool {
        status == Status::Running
    }

    /// Whether a refresh whose `ensure_server` timed out reaps the server that call still
    /// starts (#2835's reaper).
    fn reap_timed_out_ensure() -> bool {
        true
    }

    /// Whether boot hydration holds the global lock across its starts, which user starts take
    /// inside their agent's turn (#3151 before its fix); if not, user starts wait at the
    /// hydration gate before they take anything.
    fn hydration_holds_lock() -> bool {
        false
    }

    /// Whether the record is `Running` before its initial prompt goes out (#1828's fix, POST's
    /// order), or only once the prompt returned, a whole turn later (PRE's order).
    fn running_before_prompt() -> bool {
        true
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
    status: Watched<Status>,
    /// Its first prompt: with `agent` and `workdir`, the request the registry persists.
    prompt: String,
    /// The session died under the startup (its stream ended while the record was `Starting`).
    died: AtomicBool,
    /// Its initial prompt is out: the startup still owns the record's session and count, and
    /// a teardown meanwhile leaves the undoing to it (changed under the status lock).
    prompting: AtomicBool,
    /// How a teardown that arrived during the initial prompt ends the record, once the
    /// startup undoes it.
    ending: Mutex<Option<(Status, Release)>>,
    /// Ends the record's current event stream (`eventAbortControllers[agent]`); a refresh
    /// cancels it and subscribes anew with a fresh one.
    stream: Mutex<CancellationToken>,
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
        if self.status.get() == Status::Starting {
            Ok(())
        } else {
            Err(Cancelled)
        }
    }

    fn status(&self) -> Status {
        self.status.get()
    }

    /// The token of the record's current event stream.
    fn stream(&self) -> CancellationToken {
        self.stream
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Ends the current event stream and hands out the token of the next one.
    fn next_stream(&self) -> CancellationToken {
        let mut slot = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        slot.cancel();
        *slot = CancellationToken::new();
        slot.clone()
    }

    /// What started it, as the registry persists it.
    fn request(&self) -> StartRequest {
        StartRequest {
            agent: self.agent.clone(),
            workdir: self.workdir.clone(),
            prompt: self.prompt.clone(),
        }
    }

    /// Cancels the record's startup (`startupAbortController.abort()`) if it is still starting.
    fn cancel(&self) -> bool {
        self.status.modify(|s| {
            if *s == Status::Starting {
                *s = Status::Stopping;
                self.stream().cancel();
                true
            } else {
                false
            }
        })
    }

    /// Moves `Running` to `Stopping` (a teardown begins); `None` if it was not running. During
    /// the initial prompt the teardown is the startup's to finish: `end` and `release` are left
    /// for it, and `Some(Deferred)` says so.
    fn begin_teardown(&self, end: Status, release: Release) -> Option<Teardown> {
        self.status.change(|s| {
            if *s != Status::Running {
                return None;
            }
            *s = Status::Stopping;
            if self.prompting.load(Ordering::SeqCst) {
                *self.ending.lock().unwrap_or_else(|p| p.into_inner()) = Some((end, release));
                Some(Teardown::Deferred)
            } else {
                Some(Teardown::Now)
            }
        })
    }

    /// Whether its initial prompt is out.
    fn prompting(&self) -> bool {
        self.prompting.load(Ordering::SeqCst)
    }

    fn finish(&self, end: Status) {
        self.stream().cancel();
        self.status.set(end);
    }

    async fn ended(&self) {
        self.status.wait_for(|s| s.is_terminal()).await;
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
    /// Agents a user started or stopped since boot: the boot hydration leaves them alone (the
    /// newer command wins; a stop of an agent not yet hydrated is remembered).
    commanded: std::collections::BTreeSet<AgentId>,
    /// Numbers user commands in arrival order.
    commands: u64,
    /// Per agent, the number of its newest stop: a start that arrived before it and is still
    /// waiting at the hydration gate is superseded.
    stopped_at: BTreeMap<AgentId, u64>,
}

struct Inner<B> {
    backend: B,
    config: ManagerConfig,
    state: Mutex<State>,
    /// Starts, refreshes and reapers in flight (an eviction waits for every earlier one).
    starts: Watched<usize>,
    /// The global lock (`sdkServerLock`) a pre-#3151 hydration holds across its starts.
    boot_lock: tokio::sync::Mutex<()>,
    /// The hydration gate (`_hydrationComplete`): true while the boot hydration runs.
    hydrating: Watched<bool>,
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

    /// Ends a `Running` record: stop, eviction, or a background exit. During its initial prompt
    /// the turn is cut short and the startup undoes the record when the prompt returns.
    async fn teardown(&self, record: &Record, end: Status, release: Release) {
        match record.begin_teardown(end, release) {
            Some(Teardown::Now) => self.undo(record, end, release).await,
            Some(Teardown::Deferred) => self.cut_turn(record).await,
            None => {}
        }
    }

    /// Aborts the session of an initial prompt still out, once, so that its turn ends now
    /// rather than when the model is done (a stop or a drain would otherwise wait the whole
    /// turn). A prompt that reaches the server after this revives the session; the startup
    /// aborts it again, until it took effect, once the prompt returned.
    async fn cut_turn(&self, record: &Record) {
        let session = record.held().session;
        if let Some(session) = session {
            point!("kit.cut_initial_turn");
            let _ = bounded(
                self.config.call_timeout,
                self.backend.abort_session(session),
            )
            .await;
        }
    }

    /// Stops `agent`'s record under its turn. A startup in flight is cancelled; `wait`: and its
    /// cleanup waited for (a restart does not wait, as the real `startAgent` does not).
    async fn stop_record(&self, agent: &AgentId, wait: bool) {
        let Some(record) = self.record(agent) else {
            return;
        };
        match record.status() {
            Status::Starting if record.cancel() => {
                if !wait {
                    point!("kit.restart_cancelled_startup");
                }
                if record.prompting() {
                    self.cut_turn(&record).await;
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
        {
            let mut state = self.state();
            state.commanded.insert(agent.clone());
            state.commands += 1;
            let at = state.commands;
            state.stopped_at.insert(agent.clone(), at);
        }
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
        self.starts.wait_for(|n| *n == 0).await;
        // A record ends with its count; its server's close may still run, under the gate.
        let gates: Vec<_> = self.state().gates.values().cloned().collect();
        for gate in gates {
            drop(gate.lock().await);
        }
    }
}

impl<B: SessionBackend, S: Steps> KitManager<B, S> {
    /// A start: a user's (`issued`: its number among the user's commands) or the hydration's.
    async fn run_start_as(
        &self,
        request: StartRequest,
        issued: Option<u64>,
    ) -> Result<(), LifecycleError> {
        let inner = &self.inner;
        {
            let state = inner.state();
            if state.evicting {
                return Err(LifecycleError::Evicting);
            }
            inner.starts.update(|n| *n += 1);
        }
        let result = self.start_counted(request, issued).await;
        inner.starts.update(|n| *n -= 1);
        result
    }

    async fn start_counted(
        &self,
        request: StartRequest,
        issued: Option<u64>,
    ) -> Result<(), LifecycleError> {
        let inner = &self.inner;
        let user = issued.is_some();
        let record = {
            let turn = inner.turn(&request.agent);
            let _turn = turn.lock().await;
            if user && S::hydration_holds_lock() {
                // `startAgent` under `withStartAgentLock(agent)` reaching the global lock
                // (`sdkServerLock`), which the hydration holds: the user start queues behind it
                // with its agent's turn held.
                if inner.boot_lock.try_lock().is_err() {
                    point!("kit.start_queued_behind_hydration");
                }
                drop(inner.boot_lock.lock().await);
            }
            if !user && inner.state().commanded.contains(&request.agent) {
                // A hydration entry of an agent a user started or stopped since boot.
                return Ok(());
            }
            if let Some(issued) = issued
                && inner
                    .state()
                    .stopped_at
                    .get(&request.agent)
                    .is_some_and(|&stop| stop > issued)
            {
                // A stop that arrived while this start waited at the gate wins.
                return Err(LifecycleError::Cancelled);
            }
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
                status: Watched::new(Status::Starting),
                prompt: request.prompt.clone(),
                died: AtomicBool::new(false),
                prompting: AtomicBool::new(false),
                ending: Mutex::new(None),
                stream: Mutex::new(CancellationToken::new()),
                held: Mutex::default(),
            });
            state.records.insert(request.agent.clone(), record.clone());
            record
        };
        self.startup(&record, &request.prompt).await
    }

    /// `POST /refresh-token`: `refreshTokenForAllAgents`, counted as a start (an eviction waits
    /// for it) and refused during an eviction.
    async fn run_refresh(&self) -> Result<(), LifecycleError> {
        let inner = &self.inner;
        {
            let state = inner.state();
            if state.evicting {
                return Err(LifecycleError::Evicting);
            }
            inner.starts.update(|n| *n += 1);
        }
        // r0: the records the refresh restarts, then `Promise.all` over their restarts.
        let snapshot: Vec<Arc<Record>> = inner
            .state()
            .records
            .values()
            .filter(|r| S::refresh_admits(r.status()))
            .cloned()
            .collect();
        let results = join_all(snapshot.iter().map(|r| self.restart_server(r)).collect()).await;
        inner.starts.update(|n| *n -= 1);
        results.into_iter().find(Result::is_err).unwrap_or(Ok(()))
    }

    /// `restartAgent(agent)`: the record moves to a fresh server with a session and a
    /// subscription of its own, under the agent's turn (so no stop, restart or exit of the
    /// agent interleaves; a startup in flight does, since it runs outside the turn).
    ///
    /// The real code spawns the new `kilo serve` first and closes the old one after (r2, r5);
    /// the backend runs one server per workdir, so here the old one is given up first (its
    /// session aborted, its count given back, closed at 0), and the new session is created,
    /// not resumed (a closed server's sessions die with it).
    async fn restart_server(&self, record: &Arc<Record>) -> Result<(), LifecycleError> {
        let inner = &self.inner;
        let turn = inner.turn(&record.agent);
        let _turn = turn.lock().await;
        let current = inner.record(&record.agent);
        // A record whose initial prompt is out is still its startup's: restarting it would
        // close the server under that prompt (LATEST does, docs/real-system.md §6.10).
        if !current.is_some_and(|r| Arc::ptr_eq(&r, record))
            || !S::refresh_admits(record.status())
            || record.prompting()
        {
            return Ok(());
        }
        match record.status() {
            Status::Starting => point!("kit.refresh_restarted_starting"),
            _ => point!("kit.refresh_restarted_running"),
        }
        let (old_session, old_server) = {
            let held = record.held();
            (held.session, held.server)
        };
        // r5, first: the old stream ends, the old session and server go.
        let stream = record.next_stream();
        if let Some(session) = old_session {
            inner.abort(session).await;
        }
        if let Some(server) = old_server {
            record.held().server = None;
            inner
                .release(&record.workdir, server, Release::Give, || {})
                .await;
        }
        // r2: a fresh server, counted.
        let server = match self.acquire_for_refresh(&record.workdir).await {
            Ok(server) => server,
            // The real restart maps the old instance back and the agent runs on with the old
            // token. Here the old server is closed already: the agent exits, for its next
            // dispatch to start it again (a spawn that outlasted the refresh's own timeout is
            // no failure of the agent's).
            Err(e @ LifecycleError::Backend(BackendError::Timeout)) => {
                inner.undo(record, Status::Exited, Release::Give).await;
                return Err(e);
            }
            Err(e) => {
                inner.undo(record, Status::Failed, Release::Give).await;
                return Err(e);
            }
        };
        record.held().server = Some(server);
        // r3, r4: the agent's session on it.
        let timeout = inner.config.call_timeout;
        let session =
            match bounded(timeout, inner.backend.create_session(server, &record.agent)).await {
                Ok(session) => session,
                Err(e) => {
                    inner.undo(record, Status::Failed, Release::Give).await;
                    return Err(e.into());
                }
            };
        record.set_session(session);
        // r6: subscribed again; the restarted session is idle.
        Self::subscribe_and_watch(inner, record, session, stream, true).await
    }

    /// Subscribes to `session`'s events and watches them in a task of its own (`idle_now`:
    /// the session is idle already); a subscription that fails ends the record Failed.
    async fn subscribe_and_watch(
        inner: &Arc<Inner<B>>,
        record: &Arc<Record>,
        session: SessionId,
        stream: CancellationToken,
        idle_now: bool,
    ) -> Result<(), LifecycleError> {
        let timeout = inner.config.call_timeout;
        let events = match bounded(timeout, inner.backend.subscribe(session)).await {
            Ok(events) => events,
            Err(e) => {
                inner.undo(record, Status::Failed, Release::Give).await;
                return Err(e.into());
            }
        };
        tokio::spawn(Self::watch(
            inner.clone(),
            record.clone(),
            events,
            stream,
            idle_now,
        ));
        Ok(())
    }

    /// r2: `ensureSDKServer` raced against `REFRESH_AGENT_TIMEOUT_MS` by `withTimeout`, which
    /// cannot cancel it: on the timeout the call runs on and may still start a server. With
    /// the reaper ([`Steps::reap_timed_out_ensure`]) a task awaits it and closes what it
    /// started unless a start has counted on it meanwhile; without it, that server runs on,
    /// known to nobody.
    async fn acquire_for_refresh(&self, workdir: &Workdir) -> Result<ServerId, LifecycleError> {
        let inner = &self.inner;
        let gate = inner.gate(workdir);
        let held = gate.lock().await;
        if let Some((server, count)) = inner.state().servers.get_mut(workdir) {
            // Another agent of the workdir keeps the old server up: the agent joins it.
            *count += 1;
            return Ok(*server);
        }
        let mut pending = {
            let inner = inner.clone();
            let workdir = workdir.clone();
            Box::pin(async move {
                bounded(
                    inner.config.call_timeout,
                    inner.backend.ensure_server(&workdir),
                )
                .await
            })
        };
        match tokio::time::timeout(refresh_timeout(&inner.config), &mut pending).await {
            Ok(Ok(server)) => {
                inner.state().servers.insert(workdir.clone(), (server, 1));
                Ok(server)
            }
            Ok(Err(e)) => Err(e.into()),
            Err(_) => {
                point!("kit.refresh_ensure_timed_out");
                drop(held);
                if S::reap_timed_out_ensure() {
                    // Counted as a start: an eviction waits for the reaper too.
                    inner.starts.update(|n| *n += 1);
                    let inner = inner.clone();
                    let workdir = workdir.clone();
                    tokio::spawn(async move {
                        if let Ok(server) = pending.await {
                            let gate = inner.gate(&workdir);
                            let _gate = gate.lock().await;
                            let counted = inner
                                .state()
                                .servers
                                .get(&workdir)
                                .is_some_and(|(s, _)| *s == server);
                            if !counted {
                                point!("kit.reaper_closed_orphan");
                                inner.close(server).await;
                            }
                        }
                        inner.starts.update(|n| *n -= 1);
                    });
                }
                Err(BackendError::Timeout.into())
            }
        }
    }

    /// `bootHydration`: each persisted request started again, one after the other (LATEST's
    /// loop awaits each `startAgent`). The gate is closed while it runs; before #3151's fix the
    /// loop instead held the global lock that user starts take inside their agent's turn.
    async fn run_hydrate(&self, registry: Vec<StartRequest>) -> Result<(), LifecycleError> {
        let inner = &self.inner;
        {
            let state = inner.state();
            if state.evicting {
                return Err(LifecycleError::Evicting);
            }
            // Counted as a start for its whole length: an eviction waits for it.
            inner.starts.update(|n| *n += 1);
        }
        inner.hydrating.set(true);
        let lock = if S::hydration_holds_lock() {
            Some(inner.boot_lock.lock().await)
        } else {
            None
        };
        for request in registry {
            point!("kit.hydration_started_entry");
            // A failed entry is logged and skipped, as the real loop does.
            let _ = self.run_start_as(request, None).await;
        }
        drop(lock);
        inner.hydrating.set(false);
        inner.starts.update(|n| *n -= 1);
        Ok(())
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
        Self::subscribe_and_watch(inner, record, session, record.stream(), false).await?;
        // #1828's step: the record is Running before the prompt goes out ([`Steps::running_before_prompt`]),
        // or stays Starting for the whole turn. Either way the startup owns the record until the
        // prompt returns.
        let before = record.status.change(|s| {
            if *s != Status::Starting {
                return Err(LifecycleError::Cancelled);
            }
            if record.died.load(Ordering::SeqCst) {
                return Err(died_under_startup());
            }
            if S::running_before_prompt() {
                *s = Status::Running;
            }
            record.prompting.store(true, Ordering::SeqCst);
            Ok(())
        });
        if let Err(e) = before {
            let end = match e {
                LifecycleError::Cancelled => Status::Exited,
                _ => Status::Failed,
            };
            inner.undo(record, end, Release::Give).await;
            return Err(e);
        }
        let prompted = bounded(timeout, inner.backend.prompt(session, prompt)).await;
        // Running, unless a stop or a background exit ended it meanwhile, the prompt failed, or
        // the session died.
        let after = record.status.change(|s| {
            record.prompting.store(false, Ordering::SeqCst);
            let live = prompted.is_ok() && !record.died.load(Ordering::SeqCst);
            match *s {
                Status::Starting | Status::Running if live => {
                    *s = Status::Running;
                    None
                }
                Status::Starting | Status::Running => {
                    *s = Status::Stopping;
                    Some((Status::Failed, Release::Give))
                }
                // A teardown during the prompt left the undoing here; a cancelled startup ends
                // Exited.
                _ => Some(
                    record
                        .ending
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .take()
                        .unwrap_or((Status::Exited, Release::Give)),
                ),
            }
        });
        let Some((end, release)) = after else {
            return Ok(());
        };
        inner.undo(record, end, release).await;
        match (end, prompted) {
            (Status::Exited, _) => Err(LifecycleError::Cancelled),
            (_, Err(e)) => Err(e.into()),
            (_, Ok(())) => Err(died_under_startup()),
        }
    }

    /// The record's event stream and idle timer (`subscribeToEvents`): `session.idle` arms the
    /// timer; the timer, an error event or the stream's end exit a `Running` record.
    async fn watch(
        inner: Arc<Inner<B>>,
        record: Arc<Record>,
        mut events: UnboundedReceiver<SessionEvent>,
        stream: CancellationToken,
        idle_now: bool,
    ) {
        // A restarted session is idle (it is not prompted again): its timer runs at once.
        let mut deadline =
            idle_now.then(|| tokio::time::Instant::now() + inner.config.idle_timeout);
        let cause = loop {
            let idle = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = stream.cancelled() => return,
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
                        record.status.modify(|s| {
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
        Self::exit(&inner, &record, cause, &stream).await;
    }

    /// A background exit, under the agent's turn, of the record if it still runs and this
    /// stream is still its own (a refresh that ran meanwhile replaced it: the exit is the old
    /// stream's, and the new one decides).
    async fn exit(inner: &Inner<B>, record: &Record, cause: ExitCause, stream: &CancellationToken) {
        let turn = inner.turn(&record.agent);
        let _turn = turn.lock().await;
        if stream.is_cancelled() {
            return;
        }
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
                starts: Watched::new(0),
                boot_lock: tokio::sync::Mutex::new(()),
                hydrating: Watched::new(false),
            }),
            steps: PhantomData,
        }
    }

    async fn start(&self, request: StartRequest) -> Result<(), LifecycleError> {
        let issued = {
            let mut state = self.inner.state();
            state.commanded.insert(request.agent.clone());
            state.commands += 1;
            state.commands
        };
        if !S::hydration_holds_lock() {
            // `/agents/start` awaits the hydration gate before it takes anything.
            if self.inner.hydrating.get() {
                point!("kit.start_waited_for_hydration");
            }
            self.inner.hydrating.wait_for(|h| !*h).await;
        }
        self.run_start_as(request, Some(issued)).await
    }

    async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
        self.inner.stop(agent).await;
        Ok(())
    }

    async fn evict(&self) -> Result<(), LifecycleError> {
        self.inner.evict().await;
        Ok(())
    }

    async fn refresh(&self) -> Result<(), LifecycleError> {
        self.run_refresh().await
    }

    fn registry(&self) -> Vec<StartRequest> {
        let state = self.inner.state();
        state
            .records
            .values()
            .filter(|r| matches!(r.status(), Status::Starting | Status::Running))
            .map(|r| r.request())
            .collect()
    }

    async fn hydrate(&self, registry: Vec<StartRequest>) -> Result<(), LifecycleError> {
        self.run_hydrate(registry).await
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

/// The session's stream ended under its startup.
fn died_under_startup() -> LifecycleError {
    BackendError::Gone("the session died during its first prompt".into()).into()
}

/// `REFRESH_AGENT_TIMEOUT_MS` (6 s against `createKilo`'s 30 s): a tenth of the call timeout,
/// which puts it inside the simulated latencies (up to a fifth of the call timeout) as a
/// stuck spawn is in the real ones, so that some refreshes time out.
fn refresh_timeout(config: &ManagerConfig) -> std::time::Duration {
    config.call_timeout / 10
}

/// `Promise.all` over futures started together: the first poll runs each to its first await,
/// in order, and each is polled again when woken.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
