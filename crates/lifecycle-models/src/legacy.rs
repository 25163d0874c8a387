//! `legacy`: the original process manager (design.md §1), ported line for line.
//!
//! The known bug (#1341): a start while the agent is Starting calls stop, which cannot reach the
//! session the first start is still creating; the first start then finishes, subscribes and
//! prompts, and leaves a live session that no record tracks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use agent_lifecycle::{
    AgentId, AgentSnapshot, Lifecycle, LifecycleError, ManagerConfig, ServerId, SessionBackend,
    SessionId, StartRequest, Status, Workdir, bounded,
};

pub struct LegacyManager<B> {
    inner: Arc<Inner<B>>,
}

struct Inner<B> {
    backend: B,
    config: ManagerConfig,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Records are shared objects, as in the original: a start keeps writing to the record it
    /// created even after a restart has put a new one in the map.
    agents: BTreeMap<AgentId, Arc<Mutex<Record>>>,
    servers: BTreeMap<Workdir, ServerEntry>,
    draining: bool,
}

struct Record {
    status: Status,
    session: Option<SessionId>,
    workdir: Workdir,
}

struct ServerEntry {
    server: ServerId,
    count: i64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().expect("legacy state poisoned")
}

impl<B: SessionBackend> Lifecycle<B> for LegacyManager<B> {
    fn new(backend: B, config: ManagerConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                backend,
                config,
                state: Mutex::default(),
            }),
        }
    }

    async fn start(&self, request: StartRequest) -> Result<(), LifecycleError> {
        let inner = &self.inner;
        let timeout = inner.config.call_timeout;
        let existing = {
            let state = lock(&inner.state);
            if state.draining {
                return Err(LifecycleError::Evicting);
            }
            state.agents.get(&request.agent).map(|r| lock(r).status)
        };
        // 1. the restart path
        if matches!(existing, Some(Status::Starting | Status::Running)) {
            self.stop(&request.agent).await?;
        }
        // 2. a new record
        let record = Arc::new(Mutex::new(Record {
            status: Status::Starting,
            session: None,
            workdir: request.workdir.clone(),
        }));
        lock(&inner.state)
            .agents
            .insert(request.agent.clone(), record.clone());
        let fail = |e| {
            lock(&record).status = Status::Failed;
            LifecycleError::Backend(e)
        };
        // 3. the server, counted
        let server = bounded(timeout, inner.backend.ensure_server(&request.workdir))
            .await
            .map_err(fail)?;
        lock(&inner.state)
            .servers
            .entry(request.workdir.clone())
            .or_insert(ServerEntry { server, count: 0 })
            .count += 1;
        // 4. the session
        let session = bounded(
            timeout,
            inner.backend.create_session(server, &request.agent),
        )
        .await
        .map_err(fail)?;
        lock(&record).session = Some(session);
        // 5. the event subscription
        let mut events = bounded(timeout, inner.backend.subscribe(session))
            .await
            .map_err(fail)?;
        let agent = request.agent.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                tracing::debug!(%agent, ?event, "session event");
            }
        });
        // 6. the prompt
        bounded(timeout, inner.backend.prompt(session, &request.prompt))
            .await
            .map_err(fail)?;
        lock(&record).status = Status::Running;
        Ok(())
    }

    async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
        let inner = &self.inner;
        let timeout = inner.config.call_timeout;
        let Some(record) = lock(&inner.state).agents.get(agent).cloned() else {
            return Ok(());
        };
        let (session, workdir) = {
            let mut r = lock(&record);
            if r.status.is_terminal() {
                return Ok(());
            }
            r.status = Status::Stopping;
            (r.session, r.workdir.clone())
        };
        // Targets nothing when the startup has not created its session yet.
        if let Some(session) = session
            && let Err(e) = bounded(timeout, inner.backend.abort_session(session)).await
        {
            tracing::warn!(%agent, error = %e, "abort failed");
        }
        let close = {
            let mut state = lock(&inner.state);
            match state.servers.get_mut(&workdir) {
                Some(entry) => {
                    entry.count -= 1;
                    (entry.count <= 0).then_some(entry.server)
                }
                None => None,
            }
        };
        if let Some(server) = close {
            lock(&inner.state).servers.remove(&workdir);
            if let Err(e) = bounded(timeout, inner.backend.close_server(server)).await {
                tracing::warn!(%server, error = %e, "close failed");
            }
        }
        lock(&record).status = Status::Exited;
        Ok(())
    }

    async fn evict(&self) -> Result<(), LifecycleError> {
        let inner = &self.inner;
        let timeout = inner.config.call_timeout;
        // drain
        let agents: Vec<(AgentId, Arc<Mutex<Record>>)> = {
            let mut state = lock(&inner.state);
            state.draining = true;
            state
                .agents
                .iter()
                .map(|(id, r)| (id.clone(), r.clone()))
                .collect()
        };
        // freeze every Starting/Running agent
        for (agent, record) in &agents {
            let session = {
                let r = lock(record);
                matches!(r.status, Status::Starting | Status::Running)
                    .then_some(r.session)
                    .flatten()
            };
            if let Some(session) = session
                && let Err(e) = bounded(timeout, inner.backend.abort_session(session)).await
            {
                tracing::warn!(%agent, error = %e, "freeze failed");
            }
        }
        // stop all
        for (agent, _) in &agents {
            self.stop(agent).await?;
        }
        // close every server
        let servers: Vec<ServerId> = std::mem::take(&mut lock(&inner.state).servers)
            .into_values()
            .map(|e| e.server)
            .collect();
        for server in servers {
            if let Err(e) = bounded(timeout, inner.backend.close_server(server)).await {
                tracing::warn!(%server, error = %e, "close failed");
            }
        }
        Ok(())
    }

    fn snapshot(&self) -> Vec<AgentSnapshot> {
        let state = lock(&self.inner.state);
        state
            .agents
            .iter()
            .map(|(agent, record)| {
                let r = lock(record);
                AgentSnapshot {
                    agent: agent.clone(),
                    status: r.status,
                    session: r.session,
                }
            })
            .collect()
    }
}
