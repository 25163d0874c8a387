//! The process manager's module state and the functions every version shares
//! (`process-manager.ts`, seed-system.md §1-§2), ported step by step. Where the versions differ
//! inside a shared function, [`Version`] picks the branch and the comment names the version.
//!
//! | real code (seed-system.md) | here |
//! | --- | --- |
//! | `agents: Map<agentId, ManagedAgent>`, a mutable record object per start (§1) | [`Table::agents`]: insertion-ordered like a JS `Map`; [`Record`]s are shared objects |
//! | `sdkInstances: Map<workdir, {server, sessionCount}>` (§1) | [`Table::instances`]; an [`Instance`] is a shared object, so a captured one can differ from the mapped one |
//! | `idleTimers: Map<agentId, timer>` (PRE) / `{timer, onExit}` (POST) | [`Table::idle_timers`], keyed by agent id, shared by incarnations (§6.5) |
//! | `eventAbortControllers: Map<agentId, AbortController>` | [`Table::controllers`], keyed by agent id |
//! | `agentEventBuffers` | not modelled: nothing the harness checks reads it |
//! | `sdkServerLock` (global promise chain) | [`Core::server_lock`], a FIFO async mutex |
//! | `_draining` (POST) | [`Table::draining`] |
//! | `ensureSDKServer` **[2nd]** (§2) | [`Core::ensure_sdk_server`] |
//! | `stopAgent` (§2) | [`Core::stop_agent`] |
//! | `subscribeToEvents`, `handleIdleEvent`, `exitAgent` (§2) | [`Core::subscribe_to_events`], [`Core::handle_idle_event`], [`Core::exit_agent`] |
//! | `drainAll` (POST, §2) | [`Core::drain_all`] |
//! | `stopAll` (§2) | [`Core::stop_all`] |
//!
//! Assumptions, where the notes are silent:
//! - A1 `session.create`, `session.prompt`, `session.abort` and the SSE connect have no timeout in
//!   the real code; the models bound them by the config's call timeout, standing for undici's
//!   default fetch timeouts. A timeout is a throw.
//! - A2 `createKilo`'s 30 s timeout is the config's call timeout too.
//! - A3 `server.close()` kills the child synchronously: [`KiloSdk::kill_server`] takes effect at
//!   once, with no interleaving point.
//! - A4 No nudges are ever pending (the town is not modelled): the nudge fetch only takes time.
//! - A5 Agents are polecats (no mayor, no refinery): no session resume, 120 s idle timeout
//!   (the config's idle timeout), drain skips nobody.
//! - A6 Times are scaled to the config's idle timeout (120 s real): the drain's 10 s idle timer
//!   is 1/12 of it, its 5 min wait 2.5 times it, its polls 1 ms.
//! - A7 `stopAgent` of an unknown agent throws "not found" (the route answers 404); the
//!   harness's contract treats it as a no-op, and the restart path swallows it anyway.
//! - A9 `kilo serve` sends `server.heartbeat` on every SSE stream more often than the idle
//!   timeout (assumed every 30 s against 120 s; the fake backend sends one every 8 ms against
//!   30 ms). PRE clears the idle timer on it, so PRE's idle exit never fires while the server
//!   is up; POST ignores it.
//! - A10 Only the session's own `session.idle` and `session.error` reach a stream's handler
//!   besides `server.connected` and `server.heartbeat`: other sessions' `message.part.updated`
//!   (which passes every filter, §2) is not modelled.
//! - A8 The registry (`syncRegistry`), db snapshots, heartbeats to the town and event
//!   broadcasts are not modelled: they write nothing the container's own state depends on, and
//!   boot hydration (which reads the registry) is not in the workload.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use agent_lifecycle::{
    AgentId, AgentSnapshot, BackendError, ManagerConfig, ServerId, ServerSnapshot, SessionId,
    SideKind, SideSnapshot, Snapshot, Status, Workdir, bounded,
};
use tokio_util::sync::CancellationToken;

use crate::sdk::{KiloSdk, ServerEvent};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().expect("model state poisoned")
}

/// Which real code a shared function follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Version {
    /// The #1341 code (`evan-claw/cloud` @ `05493752`).
    Pre,
    /// PR #1862, the abort-token fix (`01615d20`).
    Post,
    /// The start lock, PR #3055 (`9840aa59`).
    Latest,
}

/// `ManagedAgent`: one per start, a mutable object that in-flight tasks keep writing to after
/// the map entry was replaced.
pub(crate) struct Record {
    /// Observation only: tells the harness one record from the next.
    pub serial: u64,
    pub status: Status,
    /// `sessionId`: `''` (None) until `session.create` returns.
    pub session: Option<SessionId>,
    pub workdir: Workdir,
    /// POST `startupAbortController`: set from creation until the initial prompt returns.
    pub startup_abort: Option<CancellationToken>,
}

pub(crate) type RecordRef = Arc<Mutex<Record>>;

/// An `SDKInstance`: one `kilo serve` child and its manual refcount.
pub(crate) struct Instance {
    pub server: ServerId,
    pub count: i64,
}

pub(crate) type InstanceRef = Arc<Mutex<Instance>>;

/// An armed idle timer; POST keeps its `onExit` (the record and stream controller it exits).
pub(crate) struct IdleTimer {
    handle: tokio::task::AbortHandle,
    on_exit: (RecordRef, CancellationToken),
}

#[derive(Default)]
pub(crate) struct Table {
    pub agents: Vec<(AgentId, RecordRef)>,
    pub instances: Vec<(Workdir, InstanceRef)>,
    pub idle_timers: Vec<(AgentId, IdleTimer)>,
    /// Stream controllers, each with a serial so LATEST's `current === controller` can be
    /// told apart, and the serial of the record whose stream it is (observation only).
    pub controllers: Vec<(AgentId, (u64, CancellationToken))>,
    /// Observation only: the serial of each controller's record, and the subscription tasks
    /// still running (controller serial, agent, record serial).
    controller_owner: Vec<(u64, u64)>,
    subscriptions: Vec<(u64, AgentId, u64, CancellationToken)>,
    pub draining: bool,
    next_serial: u64,
}

fn get<'a, K: PartialEq, V>(entries: &'a [(K, V)], key: &K) -> Option<&'a V> {
    entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// `Map.set`: replaces the value in place (keeping its position) or appends.
fn set<K: PartialEq, V>(entries: &mut Vec<(K, V)>, key: K, value: V) -> Option<V> {
    match entries.iter_mut().find(|(k, _)| *k == key) {
        Some((_, v)) => Some(std::mem::replace(v, value)),
        None => {
            entries.push((key, value));
            None
        }
    }
}

fn remove<K: PartialEq, V>(entries: &mut Vec<(K, V)>, key: &K) -> Option<V> {
    let at = entries.iter().position(|(k, _)| k == key)?;
    Some(entries.remove(at).1)
}

impl Table {
    pub fn record(&self, agent: &AgentId) -> Option<RecordRef> {
        get(&self.agents, agent).cloned()
    }

    pub fn instance(&self, workdir: &Workdir) -> Option<InstanceRef> {
        get(&self.instances, workdir).cloned()
    }

    /// `agents.set(id, {status: 'starting', sessionId: '', ...})`
    pub fn insert_record(
        &mut self,
        agent: &AgentId,
        workdir: &Workdir,
        startup_abort: Option<CancellationToken>,
    ) -> RecordRef {
        self.next_serial += 1;
        let record = Arc::new(Mutex::new(Record {
            serial: self.next_serial,
            status: Status::Starting,
            session: None,
            workdir: workdir.clone(),
            startup_abort,
        }));
        set(&mut self.agents, agent.clone(), record.clone());
        record
    }

    /// `if (agents.get(id) === agent) agents.delete(id)`
    pub fn remove_record_if(&mut self, agent: &AgentId, record: &RecordRef) {
        if get(&self.agents, agent).is_some_and(|r| Arc::ptr_eq(r, record)) {
            remove(&mut self.agents, agent);
        }
    }

    /// `clearIdleTimer(agentId)`: by agent id, whichever incarnation armed it.
    fn clear_idle_timer(&mut self, agent: &AgentId) {
        if let Some(timer) = remove(&mut self.idle_timers, agent) {
            timer.handle.abort();
        }
    }

    /// `sdkInstances.get(workdir)`, then `sessionCount++` if there is one.
    pub fn count_mapped(&mut self, workdir: &Workdir) -> bool {
        match self.instance(workdir) {
            Some(inst) => {
                lock(&inst).count += 1;
                true
            }
            None => false,
        }
    }

    /// PRE catch and the generic failure path: `sdkInstances.get(workdir)?.sessionCount--`
    /// on the instance mapped *now*, without closing it.
    pub fn decrement_mapped(&mut self, workdir: &Workdir) {
        if let Some(inst) = self.instance(workdir) {
            lock(&inst).count -= 1;
        }
    }

    /// `inst.sessionCount--; if (<= 0) { inst.server.close(); sdkInstances.delete(workdir) }`
    /// on a (possibly captured) instance; the delete is by key, whatever is mapped now.
    /// Returns the server to kill; the caller kills it once the table is unlocked.
    #[must_use]
    pub fn release(&mut self, inst: &InstanceRef, workdir: &Workdir) -> Option<ServerId> {
        let mut i = lock(inst);
        i.count -= 1;
        if i.count <= 0 {
            remove(&mut self.instances, workdir);
            Some(i.server)
        } else {
            None
        }
    }
}

pub(crate) struct Core<B> {
    pub backend: B,
    pub config: ManagerConfig,
    pub version: Version,
    table: Mutex<Table>,
    server_lock: tokio::sync::Mutex<()>,
}

/// What a startup step threw: `StartupAbortedError` (POST) or anything else.
pub(crate) enum Thrown {
    Aborted,
    Error(BackendError),
}

impl From<BackendError> for Thrown {
    fn from(e: BackendError) -> Self {
        Self::Error(e)
    }
}

/// Whether an SDK call's outcome is a throw (sdk.rs): no answer at all. An HTTP error answer
/// is returned to the caller, which goes on.
pub(crate) fn threw(result: &Result<(), BackendError>) -> bool {
    matches!(result, Err(BackendError::Gone(_) | BackendError::Timeout))
}

impl<B: KiloSdk> Core<B> {
    pub fn new(backend: B, config: ManagerConfig, version: Version) -> Arc<Self> {
        Arc::new(Self {
            backend,
            config,
            version,
            table: Mutex::default(),
            server_lock: tokio::sync::Mutex::new(()),
        })
    }

    pub fn table(&self) -> MutexGuard<'_, Table> {
        lock(&self.table)
    }

    fn timeout(&self) -> Duration {
        self.config.call_timeout
    }

    /// `server.close()`: kills the child at once (A3). Never called with the table locked.
    pub fn kill(&self, server: Option<ServerId>) {
        if let Some(server) = server {
            self.backend.kill_server(server);
        }
    }

    /// `ensureSDKServer(workdir)` **[2nd]**: the mapped instance if any (no await); else the
    /// global lock, a re-check, `createKilo` (a *new* server), and the instance mapped with
    /// count 0. Returns the server whose client the caller goes on with.
    pub async fn ensure_sdk_server(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        if let Some(inst) = self.table().instance(workdir) {
            return Ok(lock(&inst).server);
        }
        // `await previousLock` yields even when the lock is free (a microtask turn).
        tokio::task::yield_now().await;
        let _serialised = self.server_lock.lock().await;
        if let Some(inst) = self.table().instance(workdir) {
            return Ok(lock(&inst).server);
        }
        let server = bounded(self.timeout(), self.backend.spawn_server(workdir)).await?;
        let instance = Arc::new(Mutex::new(Instance { server, count: 0 }));
        set(&mut self.table().instances, workdir.clone(), instance);
        Ok(server)
    }

    /// `session.abort({path: {id}})` through `server`'s client, bounded (A1).
    pub async fn abort_on(
        &self,
        server: ServerId,
        session: Option<SessionId>,
    ) -> Result<(), BackendError> {
        let result = bounded(self.timeout(), self.backend.abort_on(server, session)).await;
        if let Err(e) = &result {
            tracing::warn!(%server, session = ?session, error = %e, "session.abort failed");
        }
        result
    }

    /// `stopAgent(id)` (§2):
    /// 1. not Running or Starting: return (so a second stop during Stopping returns at once);
    /// 2. POST: abort and null the record's startup controller;
    /// 3. `stopping`; `clearIdleTimer(id)`; `eventAbortControllers.get(id)?.abort()` (kept);
    /// 4. capture `sdkInstances.get(workdir)`; if any: ⏸`session.abort(sessionId)` (`''` when
    ///    the create has not returned); if it *returned* (an HTTP error included), decrement the
    ///    captured instance and at ≤ 0 close its server and delete the workdir's entry; if it
    ///    *threw*, no decrement (**[2nd]**);
    /// 5. `exited`.
    pub async fn stop_agent(&self, agent: &AgentId) {
        let (record, inst) = {
            let mut table = self.table();
            let Some(record) = table.record(agent) else {
                return; // A7
            };
            {
                let mut r = lock(&record);
                if !matches!(r.status, Status::Running | Status::Starting) {
                    return;
                }
                if self.version >= Version::Post
                    && let Some(token) = r.startup_abort.take()
                {
                    token.cancel();
                }
                r.status = Status::Stopping;
            }
            table.clear_idle_timer(agent);
            if let Some((_, controller)) = get(&table.controllers, agent) {
                controller.cancel();
            }
            let workdir = lock(&record).workdir.clone();
            (record.clone(), table.instance(&workdir))
        };
        if let Some(inst) = inst {
            let (server, session, workdir) = {
                let r = lock(&record);
                (lock(&inst).server, r.session, r.workdir.clone())
            };
            let aborted = self.abort_on(server, session).await;
            if !threw(&aborted) {
                let close = self.table().release(&inst, &workdir);
                self.kill(close);
            }
        }
        lock(&record).status = Status::Exited;
    }

    /// `void subscribeToEvents(client, agent)`: the controller is registered synchronously
    /// (the async function runs to its first await), the rest runs in the background.
    pub fn subscribe_to_events(
        self: &Arc<Self>,
        agent: &AgentId,
        server: ServerId,
        record: &RecordRef,
    ) {
        let controller = CancellationToken::new();
        let owner = lock(record).serial;
        let id = {
            let mut table = self.table();
            table.next_serial += 1;
            let id = table.next_serial;
            set(
                &mut table.controllers,
                agent.clone(),
                (id, controller.clone()),
            );
            table.controller_owner.push((id, owner));
            table
                .subscriptions
                .push((id, agent.clone(), owner, controller.clone()));
            id
        };
        let core = self.clone();
        let agent = agent.clone();
        let record = record.clone();
        tokio::spawn(async move {
            core.event_loop(&agent, server, &record, &controller).await;
            // finally: clearIdleTimer(id); delete the controller (LATEST: only if it is ours).
            let mut table = core.table();
            table.clear_idle_timer(&agent);
            let ours = get(&table.controllers, &agent)
                .is_some_and(|(current, _)| core.version < Version::Latest || *current == id);
            if ours {
                remove(&mut table.controllers, &agent);
            }
            table.subscriptions.retain(|(sub, ..)| *sub != id);
        });
    }

    /// The body of `subscribeToEvents`: ⏸`event.subscribe()`, then each event until the stream
    /// ends, throws, or the controller is found aborted (lazily: only when an event arrives).
    async fn event_loop(
        self: &Arc<Self>,
        agent: &AgentId,
        server: ServerId,
        record: &RecordRef,
        controller: &CancellationToken,
    ) {
        let thrown = match bounded(self.timeout(), self.backend.subscribe_server(server)).await {
            Err(e) => Some(e),
            Ok(mut stream) => loop {
                let event = match stream.recv().await {
                    None => break None,
                    Some(Err(e)) => break Some(e),
                    Some(Ok(event)) => event,
                };
                if controller.is_cancelled() {
                    break None;
                }
                // Filter by session: events with another sessionID are skipped; events without
                // one (connected, heartbeat) pass.
                let session = match event {
                    ServerEvent::Idle(s) | ServerEvent::Error(s) => Some(s),
                    ServerEvent::Connected | ServerEvent::Heartbeat => None,
                };
                if session.is_some() && session != lock(record).session {
                    continue;
                }
                match event {
                    ServerEvent::Idle(_) => {
                        self.handle_idle_event(agent, record, controller);
                    }
                    // POST ignores connected and heartbeat for the idle timer
                    // (IDLE_TIMER_IGNORE_EVENTS); PRE clears it on every event that passes.
                    ServerEvent::Connected | ServerEvent::Heartbeat
                        if self.version >= Version::Post => {}
                    _ => self.table().clear_idle_timer(agent),
                }
                if controller.is_cancelled() {
                    break None;
                }
            },
        };
        // catch: a throw while not aborted fails a Running record and releases its count on
        // the instance mapped now, closing it at ≤ 0.
        if let Some(e) = thrown
            && !controller.is_cancelled()
        {
            tracing::warn!(%agent, error = %e, "event stream error");
            let close = {
                let mut table = self.table();
                let workdir = {
                    let mut r = lock(record);
                    if r.status != Status::Running {
                        return;
                    }
                    r.status = Status::Failed;
                    r.workdir.clone()
                };
                table.clear_idle_timer(agent);
                table
                    .instance(&workdir)
                    .and_then(|inst| table.release(&inst, &workdir))
            };
            self.kill(close);
        }
    }

    /// `handleIdleEvent(agent, exitAgent)` with no nudges pending (A4). PRE: ⏸ fetch the
    /// nudges, then (re)arm the timer. POST: the timer is armed at once (the fetch that follows
    /// can only find no nudges, so it is left out).
    fn handle_idle_event(
        self: &Arc<Self>,
        agent: &AgentId,
        record: &RecordRef,
        controller: &CancellationToken,
    ) {
        let core = self.clone();
        let agent = agent.clone();
        let on_exit = (record.clone(), controller.clone());
        if self.version >= Version::Post {
            self.arm_idle_timer(&agent, on_exit, None, self.config.idle_timeout);
            return;
        }
        tokio::spawn(async move {
            core.backend.worker("fetch pending nudges").await;
            core.arm_idle_timer(&agent, on_exit, None, core.config.idle_timeout);
        });
    }

    /// `clearIdleTimer(id); idleTimers.set(id, setTimeout(..., timeout))`. When it fires:
    /// delete the entry; if `guard` (the drain's re-armed timer: the record in the map at
    /// drain time) or else the exiting record is Running, `onExit()`.
    fn arm_idle_timer(
        self: &Arc<Self>,
        agent: &AgentId,
        on_exit: (RecordRef, CancellationToken),
        guard: Option<RecordRef>,
        after: Duration,
    ) {
        let core = self.clone();
        let who = agent.clone();
        let (record, controller) = on_exit.clone();
        let mut table = self.table();
        table.clear_idle_timer(agent);
        let timer = tokio::spawn(async move {
            tokio::time::sleep(after).await;
            remove(&mut core.table().idle_timers, &who);
            let checked = guard.as_ref().unwrap_or(&record);
            if lock(checked).status == Status::Running {
                core.exit_agent(&record, &controller);
            }
        });
        set(
            &mut table.idle_timers,
            agent.clone(),
            IdleTimer {
                handle: timer.abort_handle(),
                on_exit,
            },
        );
    }

    /// `exitAgent` (idle timeout): only a Running record exits; `exited`, release the
    /// instance mapped now (close at ≤ 0), abort the stream. No `session.abort` (§3).
    fn exit_agent(&self, record: &RecordRef, controller: &CancellationToken) {
        let close = {
            let mut table = self.table();
            let workdir = {
                let mut r = lock(record);
                if r.status != Status::Running {
                    return;
                }
                r.status = Status::Exited;
                r.workdir.clone()
            };
            table
                .instance(&workdir)
                .and_then(|inst| table.release(&inst, &workdir))
        };
        self.kill(close);
        controller.cancel();
    }

    /// `drainAll` (POST and later; PR #1795):
    /// 1. `_draining = true`; ⏸ eviction notice to the town, only if some record exists;
    ///    then (phase 1b) every armed idle timer re-armed at the drain timeout (A6), checking
    ///    the record in the map at drain time but calling the stored `onExit` **[2nd]**;
    /// 2. wait (A6) until no record is Running or Starting;
    /// 3. freeze each straggler (Running or Starting): clear its timer, abort and delete its
    ///    controller, ⏸`session.abort(sessionId)` if its workdir has an instance; a throw
    ///    leaves the status as it is, otherwise `exited`; no decrement, no close; then
    ///    ⏸ force-save (git, checkpoint, snapshot, report) per frozen agent.
    ///    Does not abort startup controllers.
    pub async fn drain_all(self: &Arc<Self>) {
        let any = {
            let mut table = self.table();
            table.draining = true;
            !table.agents.is_empty()
        };
        if any {
            self.backend.worker("eviction notice").await;
        }
        let rearm: Vec<(AgentId, RecordRef, (RecordRef, CancellationToken))> = {
            let table = self.table();
            table
                .agents
                .iter()
                .filter_map(|(agent, record)| {
                    let timer = get(&table.idle_timers, agent)?;
                    Some((agent.clone(), record.clone(), timer.on_exit.clone()))
                })
                .collect()
        };
        let short = self.config.idle_timeout / 12;
        for (agent, current, on_exit) in rearm {
            self.arm_idle_timer(&agent, on_exit, Some(current), short);
        }
        let deadline = tokio::time::Instant::now() + self.config.idle_timeout * 5 / 2;
        while tokio::time::Instant::now() < deadline {
            if self.active().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut frozen = Vec::new();
        for (agent, record) in self.active() {
            let inst = {
                let mut table = self.table();
                table.clear_idle_timer(&agent);
                if let Some((_, controller)) = remove(&mut table.controllers, &agent) {
                    controller.cancel();
                }
                let workdir = lock(&record).workdir.clone();
                table.instance(&workdir)
            };
            if let Some(inst) = inst {
                let server = lock(&inst).server;
                let session = lock(&record).session;
                if threw(&self.abort_on(server, session).await) {
                    continue;
                }
            }
            lock(&record).status = Status::Exited;
            frozen.push(agent);
        }
        for _ in frozen {
            self.backend.worker("force-save").await;
        }
    }

    /// The records that are Running or Starting, in map order.
    fn active(&self) -> Vec<(AgentId, RecordRef)> {
        self.table()
            .agents
            .iter()
            .filter(|(_, r)| matches!(lock(r).status, Status::Running | Status::Starting))
            .cloned()
            .collect()
    }

    /// `stopAll`: clear every timer, abort every stream controller (and clear the map); for
    /// each Running or Starting record in map order, ⏸`session.abort` if its workdir has an
    /// instance (errors ignored), `exited`, and (POST) ⏸ a db snapshot; then close every
    /// mapped server and clear the map. No per-record decrement; in-flight startups are not
    /// cancelled (§6.3).
    pub async fn stop_all(&self) {
        {
            let mut table = self.table();
            for (_, timer) in std::mem::take(&mut table.idle_timers) {
                timer.handle.abort();
            }
            for (_, (_, controller)) in std::mem::take(&mut table.controllers) {
                controller.cancel();
            }
        }
        // A JS Map iterator sees entries added while it runs: walk by index.
        let mut at = 0;
        loop {
            let entry = self.table().agents.get(at).cloned();
            let Some((_, record)) = entry else { break };
            at += 1;
            let (active, workdir, session) = {
                let r = lock(&record);
                (
                    matches!(r.status, Status::Running | Status::Starting),
                    r.workdir.clone(),
                    r.session,
                )
            };
            if !active {
                continue;
            }
            let inst = self.table().instance(&workdir);
            if let Some(inst) = inst {
                let server = lock(&inst).server;
                let _ = self.abort_on(server, session).await;
            }
            lock(&record).status = Status::Exited;
            if self.version >= Version::Post {
                self.backend.worker("db snapshot").await;
            }
        }
        let servers: Vec<ServerId> = std::mem::take(&mut self.table().instances)
            .into_iter()
            .map(|(_, inst)| lock(&inst).server)
            .collect();
        for server in servers {
            self.kill(Some(server));
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let table = self.table();
        let owner_of = |id: u64| {
            table
                .controller_owner
                .iter()
                .find(|(c, _)| *c == id)
                .map_or(0, |(_, owner)| *owner)
        };
        let mut side: Vec<SideSnapshot> = Vec::new();
        for (agent, timer) in &table.idle_timers {
            side.push(SideSnapshot {
                agent: agent.clone(),
                kind: SideKind::IdleTimer,
                incarnation: lock(&timer.on_exit.0).serial,
            });
        }
        for (agent, (id, _)) in &table.controllers {
            side.push(SideSnapshot {
                agent: agent.clone(),
                kind: SideKind::StreamSlot,
                incarnation: owner_of(*id),
            });
        }
        // An aborted stream breaks at its next event without handling it (its `finally` still
        // runs, and what that does to a later incarnation shows in that one's entries).
        for (_, agent, owner, _) in table.subscriptions.iter().filter(|s| !s.3.is_cancelled()) {
            side.push(SideSnapshot {
                agent: agent.clone(),
                kind: SideKind::Subscription,
                incarnation: *owner,
            });
        }
        side.sort();
        Snapshot {
            side,
            agents: {
                let mut agents: Vec<AgentSnapshot> = table
                    .agents
                    .iter()
                    .map(|(agent, record)| {
                        let r = lock(record);
                        AgentSnapshot {
                            agent: agent.clone(),
                            incarnation: r.serial,
                            status: r.status,
                            session: r.session,
                            suspect_on: None,
                        }
                    })
                    .collect();
                agents.sort_by(|a, b| a.agent.cmp(&b.agent));
                agents
            },
            servers: {
                let mut servers: Vec<ServerSnapshot> = table
                    .instances
                    .iter()
                    .map(|(workdir, inst)| {
                        let i = lock(inst);
                        ServerSnapshot {
                            workdir: workdir.clone(),
                            server: i.server,
                            count: i.count,
                        }
                    })
                    .collect();
                servers.sort_by(|a, b| (&a.workdir, a.server).cmp(&(&b.workdir, b.server)));
                servers
            },
        }
    }
}
