//! `KiloBackend`: the production manager's [`SessionBackend`] on real `kilo serve` processes,
//! so that [`agent_lifecycle::AgentManager`] can run on the real session server.
//!
//! Measured on kilo 7.7.9 against `kilo_contract::mock_provider` (`tests/trait_methods.rs`,
//! `tests/manager.rs`); where kilo does not do what the trait says, the method's entry below
//! says what it does instead and what a caller should expect.
//!
//! # Design, and why
//!
//! **One process per workdir** ([`SessionBackend::ensure_server`]). `kilo serve --hostname
//! 127.0.0.1 --port 0`, spawned in the workdir (kilo's instance directory is its cwd), in a
//! process group of its own, with exactly the environment of [`KiloBackendConfig`]: `PATH`,
//! the configured variables (the offline recipe's `KILO_*` switches and `KILO_CONFIG_CONTENT`),
//! and `HOME`. It is ready when stdout prints `kilo server listening on http://…`, and its
//! address is read from that line: a request sent before the line can hang for minutes
//! (kilo-contract's recipe, S2), and with `--port 0` only the line knows the port (kilo tries
//! 4096 first and takes a random free port when 4096 is taken: measured, both happen), so no
//! free port is guessed ahead and raced for. The wait is bounded
//! ([`KiloBackendConfig::ready_timeout`]); on timeout, early exit, or when the caller drops
//! the call (the manager's call timeout), the process group is killed: a start that failed
//! leaves no server that comes up later, unlike the SDK's `createKilo`. A running server of
//! the workdir is returned instead of a new one; a process that exited counts as not running
//! (and a start per workdir is serialised, so two calls start one). [`ServerId`]s and
//! [`SessionId`]s are dense `u64`s from 0, assigned here.
//!
//! **The first start runs alone.** All servers share `HOME`, so one `kilo.db`. Two servers
//! starting at once on a fresh `HOME` race on its migration and one dies (`Failed query:
//! CREATE TABLE workspace`, measured); so until one server of the backend has got ready,
//! starts wait for each other. Later starts run in parallel (measured: two in 7–12 s).
//!
//! **Closing kills the group** ([`SessionBackend::close_server`]): SIGKILL to the whole process
//! group, then the server is reaped, before the call returns. Not SIGTERM first: kilo takes
//! 1–4 s to exit on SIGTERM and fails an in-flight prompt with a 500 anyway, and its WAL
//! database survives a SIGKILL (recipe C2; the restart in `tests/trait_methods.rs`). Unlike the
//! gastown image's launcher, whose `close()` signals the node launcher only and leaves the
//! native server running with its sessions, nothing is left behind: no process, no port.
//! Closing a server that had exited still kills its group (whatever it left) and answers
//! `Gone`; closing an unknown one answers `Gone`. Dropping the last clone of the backend kills
//! every server it runs.
//!
//! **Sessions** ([`SessionBackend::create_session`]): `POST /session` with `{"title": "<agent
//! id>"}`. Kilo takes the title as given and keeps it: the title it generates after the first
//! turn replaces only a default title (measured: the title is still the agent after turns).
//! The backend maps each [`SessionId`] to (server, kilo's `ses_…` id) in a table behind a std
//! [`Mutex`], never held across an await.
//!
//! **Prompts** ([`SessionBackend::prompt`]): `POST /session/{id}/message` with one text part.
//! It answers at the end of the turn (1–4 s for the mock's first turns, 0.1–2 s after), bounded
//! by [`KiloBackendConfig::prompt_timeout`] (`Timeout` after it). A 200 is `Ok` also when the
//! turn ended in a provider error or was aborted (the error is inside the message, and on the
//! event stream). Any HTTP error status is `Failed` (a session kilo does not know answers 404);
//! no connection, or one lost before the answer, is `Gone`. Kilo 7.7.9 retries a provider's
//! HTTP 500 and 400 without end, so such a prompt blocks until an abort or the bound.
//!
//! **Errors** (`src/http.rs`): as the SDK sees them. No answer (refused, reset, cut) is
//! `Gone`, an HTTP error status `Failed`, no answer within the bound `Timeout`. A call on a
//! session or server this backend does not know, or whose server is not running, is `Gone`
//! without a request.
//!
//! **Every wait is bounded**: each request by [`KiloBackendConfig::call_timeout`] (the prompt
//! by its own bound), the readiness by [`KiloBackendConfig::ready_timeout`], a close by the
//! reaping of a SIGKILLed process.
//!
//! # Where kilo differs from the trait's contract
//!
//! - **An aborted session is not dead** ([`SessionBackend::abort_session`]): `POST
//!   /session/{id}/abort` answers 200 `true` for any well-formed id, known or not, aborted
//!   before or not (so it is `Ok`, idempotent). A turn in flight is cut short (its prompt
//!   answers 200 within milliseconds, the upstream request is cancelled); the session stays,
//!   idle, and a later prompt runs it again. The backend remembers which sessions it aborted
//!   (until the next prompt to them): kilo keeps no such flag.
//! - **The listing is of sessions on disk, not running ones**
//!   ([`SessionBackend::list_sessions`]): `GET /session` lists every session of the project
//!   from `kilo.db`, aborted ones included, and those made by earlier servers of the same
//!   workdir (a server that died or was closed: the new one lists its sessions, under new
//!   `SessionId`s, and can prompt them). With workdirs whose git repository has no commit (or
//!   none), the project is `global`: every server of a shared `HOME` lists every session of
//!   every workdir, so the backend keeps the sessions whose `directory` is the server's
//!   workdir. The agent is the session's title. A caller should expect more sessions than it
//!   has live and treat them as a superset: aborting one already aborted is a no-op on kilo.
//!   [`KiloBackend::live_sessions`] subtracts the sessions this backend aborted and has not
//!   prompted since: that is "live" as far as anyone can tell from outside kilo.
//! - **The event stream is the server's, not the session's** ([`SessionBackend::subscribe`]):
//!   one `GET /event` connection per subscription, filtered to the session's `session.idle`
//!   (→ [`SessionEvent::Idle`]) and `session.error` (→ [`SessionEvent::Error`]). The receiver
//!   ends when the connection does, that is when the server dies or is closed (measured:
//!   within 2 s); an abort does not end it. `session.error` does not mean the session died: kilo
//!   publishes it for a provider error (then `session.idle`, the session persists) and for a
//!   turn cut short by an abort (`MessageAbortedError`, then `session.idle`). A turn's end
//!   publishes `session.idle` once, or twice after an error; an abort of an idle session
//!   publishes one `session.idle` (7.7.9, measured). Dropping the receiver closes the
//!   connection.
//! - **`list_servers`** is the processes this backend started that still run; a server
//!   started by someone else on the same `HOME` is not seen (nor are its sessions, unless they
//!   share a workdir).

mod http;
mod process;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use agent_lifecycle::{
    AgentId, BackendError, ServerId, SessionBackend, SessionEvent, SessionId, Workdir,
};
use serde_json::json;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

pub use process::LISTENING;
use process::{Server, Spec};

/// How the backend runs its servers.
#[derive(Clone, Debug)]
pub struct KiloBackendConfig {
    /// The native `kilo` binary.
    pub binary: PathBuf,
    /// `HOME` of every server (kilo keeps its `kilo.db` under it): shared by all the servers
    /// of this backend, as in the container.
    pub home: PathBuf,
    /// The rest of the servers' environment (the offline recipe's `KILO_*` switches,
    /// `KILO_CONFIG_CONTENT`, ...). Nothing else of this process's environment is passed on
    /// but `PATH` (when `env` does not set it); `HOME` is always [`KiloBackendConfig::home`].
    pub env: Vec<(String, String)>,
    /// A workdir names the directory `root.join(workdir)` (an absolute workdir is itself),
    /// made when missing.
    pub root: PathBuf,
    /// The bound on a server's start, until its listening line (seen: 4–23 s).
    pub ready_timeout: Duration,
    /// The bound on every call but a prompt's.
    pub call_timeout: Duration,
    /// The bound on a prompt, which answers at the end of its turn.
    pub prompt_timeout: Duration,
}

impl KiloBackendConfig {
    /// The default bounds: 90 s to get ready, 30 s per call, 10 min per prompt.
    pub fn new(binary: PathBuf, home: PathBuf, root: PathBuf) -> Self {
        Self {
            binary,
            home,
            env: Vec::new(),
            root,
            ready_timeout: Duration::from_secs(90),
            call_timeout: Duration::from_secs(30),
            prompt_timeout: Duration::from_secs(600),
        }
    }
}

#[derive(Default)]
struct State {
    next_server: u64,
    next_session: u64,
    servers: BTreeMap<ServerId, (Workdir, Server)>,
    /// Each session: its server and kilo's `ses_…` id for it.
    sessions: BTreeMap<SessionId, (ServerId, String)>,
    /// The kilo ids aborted through this backend and not prompted since: kilo keeps no such
    /// flag, so this is the only place "aborted" is known.
    aborted: BTreeSet<String>,
}

impl State {
    /// The session id for kilo's `remote` on `server`, made if this is the first time it is
    /// seen (a session whose create answer was lost, or one kilo lists from disk, shows up
    /// here first, through a listing).
    fn session(&mut self, server: ServerId, remote: &str) -> SessionId {
        if let Some((id, _)) = self
            .sessions
            .iter()
            .find(|(_, (s, r))| *s == server && r == remote)
        {
            return *id;
        }
        let id = SessionId(self.next_session);
        self.next_session += 1;
        self.sessions.insert(id, (server, remote.to_string()));
        id
    }
}

struct Inner {
    config: KiloBackendConfig,
    state: Mutex<State>,
    /// One start at a time per workdir, so that two `ensure_server` calls for one workdir
    /// start one server; different workdirs start in parallel.
    starting: Mutex<BTreeMap<Workdir, Arc<tokio::sync::Mutex<()>>>>,
    /// Whether a server of this backend has got ready once (so `kilo.db` under the shared
    /// HOME is made and migrated). Until then starts are one at a time: two first starts on a
    /// fresh HOME race on the migration, and one dies (`Failed query: CREATE TABLE
    /// workspace`, measured on 7.7.9).
    migrated: tokio::sync::Mutex<bool>,
}

impl Drop for Inner {
    /// Nothing outlives the backend: every server it started is killed, with its group.
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        // Each `Server` kills its process group when dropped.
        state.servers.clear();
    }
}

/// The [`SessionBackend`] on real `kilo serve` processes. Cloning shares the servers; the
/// last clone dropped kills them all.
#[derive(Clone)]
pub struct KiloBackend {
    inner: Arc<Inner>,
}

impl KiloBackend {
    pub fn new(config: KiloBackendConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(State::default()),
                starting: Mutex::new(BTreeMap::new()),
                migrated: tokio::sync::Mutex::new(false),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn config(&self) -> &KiloBackendConfig {
        &self.inner.config
    }

    /// The directory a workdir names, made and canonical (kilo reports its sessions'
    /// `directory` canonical).
    pub fn dir_of(&self, workdir: &Workdir) -> std::io::Result<PathBuf> {
        let dir = self.config().root.join(workdir.0.as_ref());
        std::fs::create_dir_all(&dir)?;
        dir.canonicalize()
    }

    /// The pid of a running server's `kilo serve` process (also its process group).
    pub fn server_pid(&self, server: ServerId) -> Option<u32> {
        let mut state = self.state();
        let (_, running) = state.servers.get_mut(&server)?;
        running.alive().then(|| running.pid())
    }

    /// The address a running server listens on.
    pub fn server_addr(&self, server: ServerId) -> Option<SocketAddr> {
        let mut state = self.state();
        let (_, running) = state.servers.get_mut(&server)?;
        running.alive().then_some(running.addr)
    }

    /// What a server printed (the tail), for diagnostics.
    pub fn server_output(&self, server: ServerId) -> Option<String> {
        self.state().servers.get(&server).map(|(_, s)| s.output())
    }

    /// Kilo's `ses_…` id of a session.
    pub fn kilo_id(&self, session: SessionId) -> Option<String> {
        self.state().sessions.get(&session).map(|(_, r)| r.clone())
    }

    /// The sessions of `server` that are live: those [`SessionBackend::list_sessions`] lists,
    /// minus those aborted through this backend and not prompted since. Kilo has no "aborted"
    /// flag (an aborted session is an idle one it lists), so this backend's memory is the only
    /// source of it; a session aborted by someone else counts as live here.
    pub async fn live_sessions(
        &self,
        server: ServerId,
    ) -> Result<Vec<(SessionId, AgentId)>, BackendError> {
        let listed = self.list_sessions(server).await?;
        let state = self.state();
        Ok(listed
            .into_iter()
            .filter(|(session, _)| {
                state
                    .sessions
                    .get(session)
                    .is_none_or(|(_, remote)| !state.aborted.contains(remote))
            })
            .collect())
    }

    /// The address of `server` if it runs; `Gone` otherwise.
    fn addr_of(&self, server: ServerId) -> Result<SocketAddr, BackendError> {
        let mut state = self.state();
        let (_, running) = state
            .servers
            .get_mut(&server)
            .ok_or_else(|| BackendError::Gone(format!("{server}")))?;
        if !running.alive() {
            return Err(BackendError::Gone(format!("{server} exited")));
        }
        Ok(running.addr)
    }

    /// A session's server address and kilo id; `Gone` when either is unknown or not running.
    fn session_at(&self, session: SessionId) -> Result<(SocketAddr, String), BackendError> {
        let (server, remote) = self
            .state()
            .sessions
            .get(&session)
            .cloned()
            .ok_or_else(|| BackendError::Gone(format!("{session}")))?;
        Ok((self.addr_of(server)?, remote))
    }

    fn gate(&self, workdir: &Workdir) -> Arc<tokio::sync::Mutex<()>> {
        self.inner
            .starting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(workdir.clone())
            .or_default()
            .clone()
    }

    fn running_for(&self, workdir: &Workdir) -> Option<ServerId> {
        self.state()
            .servers
            .iter_mut()
            .find_map(|(id, (w, s))| (w == workdir && s.alive()).then_some(*id))
    }

    fn environment(&self) -> Vec<(String, String)> {
        let config = self.config();
        let mut env = Vec::new();
        if !config.env.iter().any(|(k, _)| k == "PATH")
            && let Ok(path) = std::env::var("PATH")
        {
            env.push(("PATH".to_string(), path));
        }
        env.extend(config.env.iter().cloned());
        env.retain(|(k, _)| k != "HOME");
        env.push(("HOME".to_string(), path_string(&config.home)));
        env
    }

    async fn start_server(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        let dir = self
            .dir_of(workdir)
            .map_err(|e| BackendError::Failed(format!("workdir {workdir}: {e}")))?;
        let spec = Spec {
            binary: &self.config().binary,
            dir: &dir,
            env: self.environment(),
            ready_timeout: self.config().ready_timeout,
        };
        let mut migrated = self.inner.migrated.lock().await;
        let server = if *migrated {
            drop(migrated);
            Server::spawn(spec).await
        } else {
            // The first start holds the others back until the database is made.
            let server = Server::spawn(spec).await;
            *migrated = server.is_ok();
            server
        }
        .map_err(BackendError::Failed)?;
        let mut state = self.state();
        let id = ServerId(state.next_server);
        state.next_server += 1;
        state.servers.insert(id, (workdir.clone(), server));
        Ok(id)
    }
}

fn path_string(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

impl SessionBackend for KiloBackend {
    async fn ensure_server(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        let gate = self.gate(workdir);
        let _one_start_per_workdir = gate.lock().await;
        match self.running_for(workdir) {
            Some(id) => Ok(id),
            None => self.start_server(workdir).await,
        }
    }

    async fn close_server(&self, server: ServerId) -> Result<(), BackendError> {
        let removed = self.state().servers.remove(&server);
        let Some((_, mut running)) = removed else {
            return Err(BackendError::Gone(format!("{server}")));
        };
        let was_alive = running.alive();
        // The whole group, also when the server itself exited: whatever it left goes too.
        running.kill();
        self.state().sessions.retain(|_, (s, _)| *s != server);
        if was_alive {
            Ok(())
        } else {
            Err(BackendError::Gone(format!("{server} had exited")))
        }
    }

    async fn create_session(
        &self,
        server: ServerId,
        agent: &AgentId,
    ) -> Result<SessionId, BackendError> {
        let addr = self.addr_of(server)?;
        let body = json!({"title": agent.0.as_ref()});
        let created = http::call_json(
            addr,
            "POST",
            "/session",
            Some(&body),
            self.config().call_timeout,
        )
        .await?;
        let remote = created["id"]
            .as_str()
            .ok_or_else(|| BackendError::Failed(format!("POST /session: no id in {created}")))?;
        Ok(self.state().session(server, remote))
    }

    async fn prompt(&self, session: SessionId, text: &str) -> Result<(), BackendError> {
        let (addr, remote) = self.session_at(session)?;
        // Live again from the moment the prompt is sent: an abort while it runs marks it
        // aborted again.
        self.state().aborted.remove(&remote);
        let body = json!({"parts": [{"type": "text", "text": text}]});
        http::call(
            addr,
            "POST",
            &format!("/session/{remote}/message"),
            Some(&body),
            self.config().prompt_timeout,
        )
        .await
        .map(|_| ())
    }

    async fn abort_session(&self, session: SessionId) -> Result<(), BackendError> {
        let (addr, remote) = self.session_at(session)?;
        http::call(
            addr,
            "POST",
            &format!("/session/{remote}/abort"),
            None,
            self.config().call_timeout,
        )
        .await?;
        self.state().aborted.insert(remote);
        Ok(())
    }

    async fn list_sessions(
        &self,
        server: ServerId,
    ) -> Result<Vec<(SessionId, AgentId)>, BackendError> {
        let addr = self.addr_of(server)?;
        let dir = match self.state().servers.get(&server) {
            Some((_, running)) => path_string(&running.dir),
            None => return Err(BackendError::Gone(format!("{server}"))),
        };
        let listed =
            http::call_json(addr, "GET", "/session", None, self.config().call_timeout).await?;
        let listed = listed
            .as_array()
            .ok_or_else(|| BackendError::Failed(format!("GET /session: not a list: {listed}")))?;
        let mut state = self.state();
        Ok(listed
            .iter()
            .filter(|s| s["directory"].as_str() == Some(dir.as_str()))
            .filter_map(|s| {
                let remote = s["id"].as_str()?;
                let title = s["title"].as_str().unwrap_or_default();
                Some((state.session(server, remote), AgentId::new(title)))
            })
            .collect())
    }

    async fn list_servers(&self) -> Result<Vec<(ServerId, Workdir)>, BackendError> {
        Ok(self
            .state()
            .servers
            .iter_mut()
            .filter_map(|(id, (w, s))| s.alive().then(|| (*id, w.clone())))
            .collect())
    }

    async fn subscribe(
        &self,
        session: SessionId,
    ) -> Result<UnboundedReceiver<SessionEvent>, BackendError> {
        let (addr, remote) = self.session_at(session)?;
        let (raw_tx, mut raw) = unbounded_channel();
        http::open_events(addr, self.config().call_timeout, raw_tx).await?;
        let (tx, rx) = unbounded_channel();
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    event = raw.recv() => event,
                    // Nobody listens any more: drop the stream.
                    _ = tx.closed() => return,
                };
                // `None`: the stream ended (the server died); so does the receiver.
                let Some(event) = event else { return };
                if event.properties["sessionID"].as_str() != Some(remote.as_str()) {
                    continue;
                }
                let event = match event.kind.as_str() {
                    "session.idle" => SessionEvent::Idle,
                    "session.error" => SessionEvent::Error,
                    _ => continue,
                };
                if tx.send(event).is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }
}
