//! Sessions as child processes: the server's state.
//!
//! Each session is one child running the agent command, with its stdin and stdout piped, owned
//! by a supervisor task (`supervisor.rs`). The table of live sessions is the only shared state;
//! removing a session from it is what decides who ends it, so an abort and an exit racing each
//! other end it once.
//!
//! As `kilo serve` does: an abort is idempotent (any id answers `Ok`), and a prompt to an
//! aborted session runs it again, in a fresh child under the same id. The per-session event
//! stream still ends at the abort (this server's contract, not kilo's); a revived session
//! streams to new subscribers.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{broadcast, oneshot, watch};
use tokio::task::JoinHandle;

use crate::supervisor::{kill, supervise};

/// How many events a slow subscriber may fall behind before it misses some.
const EVENT_BUFFER: usize = 64;
/// The longest agent name taken (it becomes an environment variable).
const MAX_AGENT_LEN: usize = 256;

/// The command every session runs.
#[derive(Clone, Debug)]
pub struct AgentCommand {
    pub program: OsString,
    pub args: Vec<OsString>,
}

impl AgentCommand {
    pub fn new(
        program: impl Into<OsString>,
        args: impl IntoIterator<Item = impl Into<OsString>>,
    ) -> Self {
        Self {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// This same binary in `agent` mode: the default agent.
    pub fn default_agent(work_ms: u64) -> io::Result<Self> {
        Ok(Self::new(
            std::env::current_exe()?,
            ["agent".to_string(), "--work-ms".into(), work_ms.to_string()],
        ))
    }
}

/// What a session's subscribers see.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionEvent {
    /// The child printed `idle`: it finished a prompt.
    Idle,
    /// The child printed `error`, or exited without being aborted; the value says which.
    Error(serde_json::Value),
}

/// A live session as `GET /sessions` lists it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: u64,
    pub agent: String,
}

/// Why a session operation was refused.
#[derive(Debug)]
pub enum SessionError {
    /// No such live session.
    Gone(String),
    /// The request itself is wrong.
    BadRequest(String),
    /// The server is shutting down and starts nothing more.
    Closing,
    /// The agent command could not be started.
    Spawn(io::Error),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Gone(detail) | Self::BadRequest(detail) => f.write_str(detail),
            Self::Closing => f.write_str("the server is shutting down"),
            Self::Spawn(e) => write!(f, "cannot start the agent command: {e}"),
        }
    }
}

impl std::error::Error for SessionError {}

/// The session server's state: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

struct Inner {
    workdir: PathBuf,
    command: AgentCommand,
    next_id: AtomicU64,
    table: Mutex<Table>,
    shutdown: watch::Sender<bool>,
}

#[derive(Default)]
struct Table {
    /// Set once by `close`: from then on creates are refused, so no child outlives it.
    closing: bool,
    sessions: BTreeMap<u64, Session>,
    /// Aborted sessions, by id, with their agent: a prompt runs them again.
    aborted: BTreeMap<u64, String>,
}

struct Session {
    agent: String,
    /// Behind an async lock so that concurrent prompts write whole lines.
    stdin: Arc<tokio::sync::Mutex<ChildStdin>>,
    /// Kept here only to subscribe; the stream ends once this and the supervisor's are dropped.
    events: broadcast::Sender<SessionEvent>,
    /// Dropping it (with the session) tells the supervisor to kill the child.
    kill: oneshot::Sender<()>,
    supervisor: JoinHandle<()>,
}

impl Session {
    /// Kills the child and waits until it is reaped.
    async fn end(self) {
        let Session {
            kill, supervisor, ..
        } = self;
        drop(kill);
        let _ = supervisor.await;
    }
}

impl Inner {
    fn table(&self) -> MutexGuard<'_, Table> {
        // A panic elsewhere must not wedge every later request.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Server {
    pub fn new(workdir: impl Into<PathBuf>, command: AgentCommand) -> Self {
        Self {
            inner: Arc::new(Inner {
                workdir: workdir.into(),
                command,
                next_id: AtomicU64::new(1),
                table: Mutex::default(),
                shutdown: watch::Sender::new(false),
            }),
        }
    }

    pub fn workdir(&self) -> &Path {
        &self.inner.workdir
    }

    /// Starts a session running the agent command; its id is unique within this server.
    pub async fn create(&self, agent: &str) -> Result<u64, SessionError> {
        check_agent(agent)?;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let child = self.spawn(id, agent).map_err(SessionError::Spawn)?;
        let refused = {
            let mut table = self.inner.table();
            if table.closing {
                Some((child, SessionError::Closing))
            } else {
                match self.session(id, agent, child) {
                    Ok(session) => {
                        table.sessions.insert(id, session);
                        None
                    }
                    Err(refused) => Some(*refused),
                }
            }
        };
        if let Some((mut child, error)) = refused {
            kill(&mut child).await;
            return Err(error);
        }
        Ok(id)
    }

    /// The session of a started child, its supervisor spawned. Called under the table's lock:
    /// the supervisor removes the session when the child exits, which must not happen before
    /// it is in the table.
    fn session(
        &self,
        id: u64,
        agent: &str,
        mut child: Child,
    ) -> Result<Session, Box<(Child, SessionError)>> {
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let error = SessionError::Spawn(io::Error::other("the child has no pipes"));
            return Err(Box::new((child, error)));
        };
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let (kill, killed) = oneshot::channel();
        let server = Arc::downgrade(&self.inner);
        let remove = move || {
            server
                .upgrade()
                .is_some_and(|inner| inner.table().sessions.remove(&id).is_some())
        };
        let supervisor = tokio::spawn(supervise(id, child, stdout, events.clone(), killed, remove));
        Ok(Session {
            agent: agent.to_owned(),
            stdin: Arc::new(tokio::sync::Mutex::new(stdin)),
            events,
            kill,
            supervisor,
        })
    }

    /// Runs an aborted session again, in a fresh child under its id (a prompt does, as on
    /// `kilo serve`); `Gone` if the session is neither live nor aborted, or the server closes.
    async fn revive(&self, id: u64) -> Result<(), SessionError> {
        let Some(agent) = self.inner.table().aborted.get(&id).cloned() else {
            return Err(gone(id));
        };
        let child = self.spawn(id, &agent).map_err(SessionError::Spawn)?;
        // A child left over, killed before answering, and the answer.
        let leftover = {
            let mut table = self.inner.table();
            if table.closing {
                Some((child, Err(gone(id))))
            } else if table.sessions.contains_key(&id) || table.aborted.remove(&id).is_none() {
                // Another prompt revived it first.
                Some((child, Ok(())))
            } else {
                match self.session(id, &agent, child) {
                    Ok(session) => {
                        table.sessions.insert(id, session);
                        None
                    }
                    Err(failed) => {
                        let (child, error) = *failed;
                        Some((child, Err(error)))
                    }
                }
            }
        };
        match leftover {
            None => Ok(()),
            Some((mut child, answer)) => {
                kill(&mut child).await;
                answer
            }
        }
    }

    fn spawn(&self, id: u64, agent: &str) -> io::Result<Child> {
        let AgentCommand { program, args } = &self.inner.command;
        let mut command = Command::new(program);
        command
            .args(args)
            .env("LIFECYCLE_SIM_SESSION", id.to_string())
            .env("LIFECYCLE_SIM_AGENT", agent)
            .env("LIFECYCLE_SIM_SERVER_PID", std::process::id().to_string())
            .env("LIFECYCLE_SIM_WORKDIR", &self.inner.workdir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Left in the server's process group on purpose: killing the group (as a container
            // runtime does) takes the sessions with it, as in the real system.
            .kill_on_drop(true);
        if self.inner.workdir.is_dir() {
            command.current_dir(&self.inner.workdir);
        }
        command.spawn()
    }

    /// The live sessions, by id.
    pub fn list(&self) -> Vec<SessionInfo> {
        self.inner
            .table()
            .sessions
            .iter()
            .map(|(&id, session)| SessionInfo {
                id,
                agent: session.agent.clone(),
            })
            .collect()
    }

    /// Writes one line to the session's child: the text with its line breaks made spaces.
    /// An aborted session runs again.
    pub async fn prompt(&self, id: u64, text: &str) -> Result<(), SessionError> {
        let live = |server: &Self| {
            server
                .inner
                .table()
                .sessions
                .get(&id)
                .map(|session| session.stdin.clone())
        };
        let stdin = match live(self) {
            Some(stdin) => stdin,
            None => {
                self.revive(id).await?;
                live(self).ok_or_else(|| gone(id))?
            }
        };
        let mut line = text.replace(['\n', '\r'], " ");
        line.push('\n');
        let mut stdin = stdin.lock().await;
        let written = async {
            stdin.write_all(line.as_bytes()).await?;
            stdin.flush().await
        };
        // A broken pipe means the child is dying: its supervisor is about to remove it.
        written
            .await
            .map_err(|e| SessionError::Gone(format!("session {id} cannot take a prompt: {e}")))
    }

    /// Kills the session's child, waits for it, and removes the session, which a prompt may
    /// run again. Idempotent, as `kilo serve`'s abort: `Ok` for any id, live or not.
    pub async fn abort(&self, id: u64) -> Result<(), SessionError> {
        let session = {
            let mut table = self.inner.table();
            let session = table.sessions.remove(&id);
            if let Some(session) = &session
                && !table.closing
            {
                table.aborted.insert(id, session.agent.clone());
            }
            session
        };
        if let Some(session) = session {
            session.end().await;
        }
        Ok(())
    }

    /// The session's events from now on; the receiver closes when the session ends.
    pub fn subscribe(&self, id: u64) -> Result<broadcast::Receiver<SessionEvent>, SessionError> {
        self.inner
            .table()
            .sessions
            .get(&id)
            .map(|session| session.events.subscribe())
            .ok_or_else(|| gone(id))
    }

    /// Asks `serve` to stop (what `POST /shutdown` does).
    pub fn request_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Resolves once a shutdown was requested.
    pub async fn shutdown_requested(&self) {
        let mut requested = self.inner.shutdown.subscribe();
        // The sender lives in `inner`, which `self` holds: the wait cannot fail.
        let _ = requested.wait_for(|&yes| yes).await;
    }

    /// Kills every child, waits for them all, and refuses creates from now on.
    pub async fn close(&self) {
        let sessions = {
            let mut table = self.inner.table();
            table.closing = true;
            table.aborted.clear();
            std::mem::take(&mut table.sessions)
        };
        let ending: Vec<_> = sessions
            .into_values()
            .map(|session| {
                drop(session.kill);
                session.supervisor
            })
            .collect();
        for supervisor in ending {
            let _ = supervisor.await;
        }
    }
}

fn gone(id: u64) -> SessionError {
    SessionError::Gone(format!("no live session {id}"))
}

fn check_agent(agent: &str) -> Result<(), SessionError> {
    if agent.is_empty() || agent.len() > MAX_AGENT_LEN || agent.chars().any(char::is_control) {
        return Err(SessionError::BadRequest(format!(
            "an agent is 1 to {MAX_AGENT_LEN} bytes without control characters"
        )));
    }
    Ok(())
}
