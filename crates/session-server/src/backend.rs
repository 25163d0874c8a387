//! `HttpBackend`: the manager's `SessionBackend` on real session servers. One `session-server`
//! process per workdir, started on demand in a process group of its own (so that closing it
//! ends every session's process with it), called over HTTP on 127.0.0.1, each call bounded.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use agent_lifecycle::{
    AgentId, BackendError, ServerId, SessionBackend, SessionEvent, SessionId, Workdir,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::wire::{self, Wire};

/// How the backend starts its servers.
#[derive(Clone, Debug)]
pub struct HttpBackendConfig {
    /// The `session-server` binary.
    pub binary: PathBuf,
    /// How long the default agent works on a prompt before it goes idle.
    pub work_ms: u64,
    /// The bound on each call (and on a server's readiness).
    pub call_timeout: Duration,
    /// The directory the servers' workdirs are made under.
    pub root: PathBuf,
}

struct Running {
    workdir: Workdir,
    addr: SocketAddr,
    child: Child,
    /// The server's process group: the server and every session it spawned.
    group: i32,
}

impl Running {
    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

#[derive(Default)]
struct State {
    next: u64,
    servers: BTreeMap<ServerId, Running>,
    /// Each session: its server and the id the server gave it.
    sessions: BTreeMap<SessionId, (ServerId, u64)>,
}

impl State {
    fn id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// The session id for `remote` on `server`, made if this is the first time it is seen
    /// (a session whose create answer was lost shows up here first, through a list).
    fn session(&mut self, server: ServerId, remote: u64) -> SessionId {
        if let Some((id, _)) = self
            .sessions
            .iter()
            .find(|(_, at)| **at == (server, remote))
        {
            return *id;
        }
        let id = SessionId(self.id());
        self.sessions.insert(id, (server, remote));
        id
    }
}

pub struct HttpBackend {
    config: HttpBackendConfig,
    state: Mutex<State>,
    /// One server start at a time, so that two `ensure_server` calls for one workdir start
    /// one server.
    starting: tokio::sync::Mutex<()>,
}

impl HttpBackend {
    pub fn new(config: HttpBackendConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State::default()),
            starting: tokio::sync::Mutex::new(()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The process groups of the servers this backend runs (each server and its sessions).
    pub fn process_groups(&self) -> Vec<i32> {
        self.state().servers.values().map(|r| r.group).collect()
    }

    fn addr_of(&self, server: ServerId) -> Result<SocketAddr, BackendError> {
        let mut state = self.state();
        let running = state
            .servers
            .get_mut(&server)
            .ok_or_else(|| BackendError::Gone(format!("{server}")))?;
        if !running.alive() {
            return Err(BackendError::Gone(format!("{server} exited")));
        }
        Ok(running.addr)
    }

    fn session_at(&self, session: SessionId) -> Result<(SocketAddr, ServerId, u64), BackendError> {
        let (server, remote) = *self
            .state()
            .sessions
            .get(&session)
            .ok_or_else(|| BackendError::Gone(format!("{session}")))?;
        Ok((self.addr_of(server)?, server, remote))
    }

    fn wire(&self, addr: SocketAddr) -> Wire {
        Wire::new(addr, self.config.call_timeout)
    }

    async fn start_server(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        let dir = self.config.root.join(workdir.0.as_ref());
        std::fs::create_dir_all(&dir).map_err(|e| BackendError::Failed(e.to_string()))?;
        let mut child = Command::new(&self.config.binary)
            .arg("serve")
            .arg("--workdir")
            .arg(&dir)
            .arg("--work-ms")
            .arg(self.config.work_ms.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BackendError::Failed(format!("cannot start a session server: {e}")))?;
        let group = child.id().map_or(0, |pid| pid as i32);
        let stdout = child.stdout.take().expect("stdout is piped");
        let ready = async {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    return addr.trim().parse::<SocketAddr>().ok();
                }
            }
            None
        };
        let addr = match tokio::time::timeout(self.config.call_timeout, ready).await {
            Ok(Some(addr)) => addr,
            _ => {
                kill_group(group);
                return Err(BackendError::Failed(
                    "the session server never got ready".into(),
                ));
            }
        };
        let mut state = self.state();
        let id = ServerId(state.id());
        state.servers.insert(
            id,
            Running {
                workdir: workdir.clone(),
                addr,
                child,
                group,
            },
        );
        Ok(id)
    }
}

impl Drop for HttpBackend {
    /// Nothing outlives the backend: every server and session it started is killed.
    fn drop(&mut self) {
        for group in self.process_groups() {
            kill_group(group);
        }
    }
}

/// Kills a process group (a server and its sessions) outright.
fn kill_group(group: i32) {
    if group > 0 {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(group),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

impl SessionBackend for HttpBackend {
    async fn ensure_server(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        let _one_at_a_time = self.starting.lock().await;
        let running = {
            let mut state = self.state();
            state
                .servers
                .iter_mut()
                .find_map(|(id, r)| (&r.workdir == workdir && r.alive()).then_some(*id))
        };
        match running {
            Some(id) => Ok(id),
            None => self.start_server(workdir).await,
        }
    }

    async fn close_server(&self, server: ServerId) -> Result<(), BackendError> {
        let running = self.state().servers.remove(&server);
        let Some(mut running) = running else {
            return Err(BackendError::Gone(format!("{server}")));
        };
        // Asked to shut down first (it ends its sessions), then the whole group is killed
        // whatever it answered: closing a server ends everything on it.
        let _ = self
            .wire(running.addr)
            .post::<wire::Empty>("/shutdown", &wire::Empty {})
            .await;
        kill_group(running.group);
        let _ = tokio::time::timeout(self.config.call_timeout, running.child.wait()).await;
        self.state().sessions.retain(|_, (s, _)| *s != server);
        Ok(())
    }

    async fn create_session(
        &self,
        server: ServerId,
        agent: &AgentId,
    ) -> Result<SessionId, BackendError> {
        let addr = self.addr_of(server)?;
        let body = wire::Create {
            agent: agent.0.to_string(),
        };
        let created: wire::Created = self.wire(addr).post("/sessions", &body).await?;
        Ok(self.state().session(server, created.id))
    }

    async fn prompt(&self, session: SessionId, text: &str) -> Result<(), BackendError> {
        let (addr, _, remote) = self.session_at(session)?;
        let body = wire::Prompt { text: text.into() };
        self.wire(addr)
            .post::<wire::Empty>(&format!("/sessions/{remote}/prompt"), &body)
            .await
            .map(|_| ())
    }

    async fn abort_session(&self, session: SessionId) -> Result<(), BackendError> {
        let (addr, _, remote) = self.session_at(session)?;
        self.wire(addr)
            .post::<wire::Empty>(&format!("/sessions/{remote}/abort"), &wire::Empty {})
            .await?;
        // Kept: a prompt runs an aborted session again, as on `kilo serve`.
        Ok(())
    }

    async fn list_sessions(
        &self,
        server: ServerId,
    ) -> Result<Vec<(SessionId, AgentId)>, BackendError> {
        let addr = self.addr_of(server)?;
        let listed: Vec<wire::Listed> = self.wire(addr).get("/sessions").await?;
        let mut state = self.state();
        Ok(listed
            .into_iter()
            .map(|s| (state.session(server, s.id), AgentId::new(&s.agent)))
            .collect())
    }

    async fn list_servers(&self) -> Result<Vec<(ServerId, Workdir)>, BackendError> {
        let mut state = self.state();
        Ok(state
            .servers
            .iter_mut()
            .filter_map(|(id, r)| r.alive().then(|| (*id, r.workdir.clone())))
            .collect())
    }

    async fn subscribe(
        &self,
        session: SessionId,
    ) -> Result<UnboundedReceiver<SessionEvent>, BackendError> {
        let (addr, _, remote) = self.session_at(session)?;
        let mut events = self
            .wire(addr)
            .events(&format!("/sessions/{remote}/events"))
            .await?;
        let (tx, rx) = unbounded_channel();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let event = match event.as_str() {
                    "idle" => SessionEvent::Idle,
                    "error" => SessionEvent::Error,
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
