//! The process manager's module state and the functions every version shares
//! (`process-manager.ts`, docs/real-system.md), ported step by step. Where the versions differ
//! inside a shared function, [`Version`] picks the branch and the comment names the version.
//!
//! | real code (docs/real-system.md) | here |
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
//! | `syncRegistry` (POST, LATEST) and the registry it writes | [`Core::sync_registry`], [`Table::registry`] (`registry.rs`) |
//! | `updateAgentModel` (PRE, POST, LATEST) | [`Core::update_agent_model`] (`update.rs`) |
//! | `refreshTokenForAllAgents` (LATEST) | [`Core::refresh_token_for_all_agents`] (`refresh.rs`) |
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
//! - A8 Db snapshots, heartbeats to the town and event broadcasts are not modelled: they write
//!   nothing the container's own state depends on. The registry is ([`Table::registry`],
//!   `registry.rs`): boot hydration reads it.

// The state's types live here, so their private fields stay private to `common`; the shared
// functions on them are split by idea into the submodules.
mod events;
mod instances;
mod records;
mod refresh;
mod registry;
mod snapshot;
mod stop;
mod update;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use agent_lifecycle::{AgentId, BackendError, ManagerConfig, ServerId, SessionId, Status, Workdir};
use tokio_util::sync::CancellationToken;

use crate::sdk::KiloSdk;

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
    /// `startupRequest.prompt`: what `syncRegistry` writes back for boot hydration.
    pub prompt: String,
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
    /// Cancelled by `clearIdleTimer`: the timer's task then returns without firing. A token, not
    /// an abort of the task: the table is locked where timers are cleared, and under shuttle
    /// (the head-to-head's peer) aborting a task is a scheduling point, where another task would
    /// block on the locked table for ever.
    cleared: CancellationToken,
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
    /// The container registry as the last `syncRegistry` wrote it (POST, LATEST), or as the
    /// boot that hydrated from it found it; `None`: nothing written yet.
    registry: Option<Vec<agent_lifecycle::StartRequest>>,
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
}
