//! What the historical versions share: the agents map of record objects, the per-workdir
//! server counts, and the event subscription with its idle timers. The fixes never touched
//! these parts, so every version uses them as they were.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use agent_lifecycle::{
    AgentId, AgentSnapshot, BackendError, LifecycleError, ManagerConfig, ServerId, ServerSnapshot,
    SessionBackend, SessionEvent, SessionId, Snapshot, Status, Workdir, bounded,
};
use tokio_util::sync::CancellationToken;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().expect("model state poisoned")
}

/// A record object. Starts keep writing to the record they created even after a restart
/// put a new one in the map, as JavaScript object references do.
pub(crate) struct Record {
    /// Observation only: tells the harness one record from the next.
    pub serial: u64,
    pub status: Status,
    pub session: Option<SessionId>,
    pub workdir: Workdir,
    /// The record's abort signal (added by the abort-token fix; legacy never reads it).
    pub abort: CancellationToken,
}

pub(crate) type RecordRef = Arc<Mutex<Record>>;

pub(crate) struct ServerEntry {
    pub server: ServerId,
    pub count: i64,
}

#[derive(Default)]
pub(crate) struct Table {
    pub agents: BTreeMap<AgentId, RecordRef>,
    pub servers: BTreeMap<Workdir, ServerEntry>,
    /// Idle-exit timers, keyed by agent id (not by record).
    pub idle_timers: BTreeMap<AgentId, tokio::task::AbortHandle>,
    pub draining: bool,
    next_serial: u64,
}

pub(crate) struct Core<B> {
    pub backend: B,
    pub config: ManagerConfig,
    pub table: Mutex<Table>,
}

impl<B: SessionBackend> Core<B> {
    pub fn new(backend: B, config: ManagerConfig) -> Arc<Self> {
        Arc::new(Self {
            backend,
            config,
            table: Mutex::default(),
        })
    }

    pub fn table(&self) -> MutexGuard<'_, Table> {
        lock(&self.table)
    }

    /// `agents.set(id, {status: 'starting', ...})`
    pub fn insert_record(&self, agent: &AgentId, workdir: &Workdir) -> RecordRef {
        let mut table = self.table();
        table.next_serial += 1;
        let record = Arc::new(Mutex::new(Record {
            serial: table.next_serial,
            status: Status::Starting,
            session: None,
            workdir: workdir.clone(),
            abort: CancellationToken::new(),
        }));
        table.agents.insert(agent.clone(), record.clone());
        record
    }

    /// The status of the agent's current record; new starts are refused while draining.
    pub fn existing_status(&self, agent: &AgentId) -> Result<Option<Status>, LifecycleError> {
        let table = self.table();
        if table.draining {
            return Err(LifecycleError::Evicting);
        }
        Ok(table.agents.get(agent).map(|r| lock(r).status))
    }

    /// Eviction's first two steps: drain (refuse new starts), then freeze every Starting or
    /// Running agent by aborting its session. Returns the records, for stop-all.
    pub async fn drain_and_freeze(&self) -> BTreeMap<AgentId, RecordRef> {
        let agents = {
            let mut table = self.table();
            table.draining = true;
            table.agents.clone()
        };
        for (agent, record) in &agents {
            let session = {
                let r = lock(record);
                matches!(r.status, Status::Starting | Status::Running)
                    .then_some(r.session)
                    .flatten()
            };
            if let Some(session) = session {
                self.abort_session(agent, session).await;
            }
        }
        agents
    }

    /// The original stop's bookkeeping on one record: Stopping, abort its session (if it has
    /// one yet), count down its server, Exited.
    pub async fn stop_record(&self, agent: &AgentId, record: &RecordRef) {
        let (session, workdir) = {
            let mut r = lock(record);
            if r.status.is_terminal() {
                return;
            }
            r.status = Status::Stopping;
            (r.session, r.workdir.clone())
        };
        // Targets nothing when the startup has not created its session yet.
        if let Some(session) = session {
            self.abort_session(agent, session).await;
        }
        self.release_server(&workdir).await;
        lock(record).status = Status::Exited;
    }

    pub fn record(&self, agent: &AgentId) -> Option<RecordRef> {
        self.table().agents.get(agent).cloned()
    }

    /// `await ensureServer(workdir)`, then the count goes up.
    pub async fn ensure_server(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        bounded(
            self.config.call_timeout,
            self.backend.ensure_server(workdir),
        )
        .await
    }

    pub fn count_server(&self, workdir: &Workdir, server: ServerId) {
        self.table()
            .servers
            .entry(workdir.clone())
            .or_insert(ServerEntry { server, count: 0 })
            .count += 1;
    }

    /// The count goes down; at zero the server is closed.
    pub async fn release_server(&self, workdir: &Workdir) {
        let close = {
            let mut table = self.table();
            let close = match table.servers.get_mut(workdir) {
                Some(entry) => {
                    entry.count -= 1;
                    (entry.count <= 0).then_some(entry.server)
                }
                None => None,
            };
            if close.is_some() {
                table.servers.remove(workdir);
            }
            close
        };
        if let Some(server) = close {
            self.close_server(server).await;
        }
    }

    pub async fn close_server(&self, server: ServerId) {
        if let Err(e) = bounded(self.config.call_timeout, self.backend.close_server(server)).await {
            tracing::warn!(%server, error = %e, "close failed");
        }
    }

    pub async fn abort_session(&self, agent: &AgentId, session: SessionId) {
        if let Err(e) = bounded(
            self.config.call_timeout,
            self.backend.abort_session(session),
        )
        .await
        {
            tracing::warn!(%agent, %session, error = %e, "abort failed");
        }
    }

    /// Subscribes to the session's events. Handlers look the agent up by id when an event
    /// arrives, whichever record is current by then.
    pub async fn subscribe(
        self: &Arc<Self>,
        agent: &AgentId,
        session: SessionId,
    ) -> Result<(), BackendError> {
        let mut events = bounded(self.config.call_timeout, self.backend.subscribe(session)).await?;
        let core = self.clone();
        let agent = agent.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                match event {
                    SessionEvent::Idle => core.schedule_idle_exit(&agent),
                    SessionEvent::Error => core.mark_failed(&agent).await,
                }
            }
        });
        Ok(())
    }

    /// `clearTimeout(idleTimers.get(id)); idleTimers.set(id, setTimeout(exitAgent, idle))`
    fn schedule_idle_exit(self: &Arc<Self>, agent: &AgentId) {
        let core = self.clone();
        let who = agent.clone();
        let timer = tokio::spawn(async move {
            tokio::time::sleep(core.config.idle_timeout).await;
            core.exit_agent(&who).await;
        });
        if let Some(old) = self
            .table()
            .idle_timers
            .insert(agent.clone(), timer.abort_handle())
        {
            old.abort();
        }
    }

    /// The idle exit: the agent is done; its count goes down. No abort.
    async fn exit_agent(&self, agent: &AgentId) {
        let Some(record) = self.record(agent) else {
            return;
        };
        let workdir = {
            let mut r = lock(&record);
            if r.status != Status::Running {
                return;
            }
            r.status = Status::Exited;
            r.workdir.clone()
        };
        self.release_server(&workdir).await;
    }

    /// The session reported an error (and died): the agent failed; its count goes down.
    async fn mark_failed(&self, agent: &AgentId) {
        let Some(record) = self.record(agent) else {
            return;
        };
        let workdir = {
            let mut r = lock(&record);
            if r.status.is_terminal() {
                return;
            }
            r.status = Status::Failed;
            r.workdir.clone()
        };
        self.release_server(&workdir).await;
    }

    /// Closes every server still counted (the end of an eviction).
    pub async fn close_all_servers(&self) {
        let servers: Vec<ServerId> = std::mem::take(&mut self.table().servers)
            .into_values()
            .map(|e| e.server)
            .collect();
        for server in servers {
            self.close_server(server).await;
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let table = self.table();
        Snapshot {
            agents: table
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
                .collect(),
            servers: table
                .servers
                .iter()
                .map(|(workdir, entry)| ServerSnapshot {
                    workdir: workdir.clone(),
                    server: entry.server,
                    count: entry.count,
                })
                .collect(),
        }
    }
}
