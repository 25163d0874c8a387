//! A session backend that keeps its servers and sessions in memory: every call succeeds at
//! once. It lets the control server run for real before a process-backed backend exists; it
//! models nothing a real backend can do wrong (the simulation's fake backend does that).

use std::collections::BTreeMap;
use std::sync::Mutex;

use agent_lifecycle::{
    AgentId, BackendError, ServerId, SessionBackend, SessionEvent, SessionId, Workdir,
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

#[derive(Default)]
struct Sessions {
    next: u64,
    servers: BTreeMap<ServerId, Workdir>,
    sessions: BTreeMap<SessionId, (ServerId, AgentId)>,
    /// Each subscriber's sender; dropping it ends the stream.
    streams: BTreeMap<SessionId, Vec<UnboundedSender<SessionEvent>>>,
}

impl Sessions {
    fn id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
}

#[derive(Default)]
pub struct InMemoryBackend {
    state: Mutex<Sessions>,
}

impl InMemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The sessions alive now, with their agents.
    pub fn live_sessions(&self) -> Vec<(SessionId, AgentId)> {
        let state = self.state();
        state
            .sessions
            .iter()
            .map(|(id, (_, agent))| (*id, agent.clone()))
            .collect()
    }
}

fn gone(what: String) -> BackendError {
    BackendError::Gone(what)
}

impl SessionBackend for InMemoryBackend {
    async fn ensure_server(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        let mut state = self.state();
        if let Some((id, _)) = state.servers.iter().find(|(_, w)| *w == workdir) {
            return Ok(*id);
        }
        let id = ServerId(state.id());
        state.servers.insert(id, workdir.clone());
        Ok(id)
    }

    async fn close_server(&self, server: ServerId) -> Result<(), BackendError> {
        let mut state = self.state();
        state.servers.remove(&server);
        let dead: Vec<SessionId> = state
            .sessions
            .iter()
            .filter(|(_, (s, _))| *s == server)
            .map(|(id, _)| *id)
            .collect();
        for session in dead {
            state.sessions.remove(&session);
            state.streams.remove(&session);
        }
        Ok(())
    }

    async fn create_session(
        &self,
        server: ServerId,
        agent: &AgentId,
    ) -> Result<SessionId, BackendError> {
        let mut state = self.state();
        if !state.servers.contains_key(&server) {
            return Err(gone(format!("no server {server}")));
        }
        let id = SessionId(state.id());
        state.sessions.insert(id, (server, agent.clone()));
        Ok(id)
    }

    async fn prompt(&self, session: SessionId, _text: &str) -> Result<(), BackendError> {
        match self.state().sessions.contains_key(&session) {
            true => Ok(()),
            false => Err(gone(format!("no session {session}"))),
        }
    }

    async fn abort_session(&self, session: SessionId) -> Result<(), BackendError> {
        let mut state = self.state();
        state.streams.remove(&session);
        match state.sessions.remove(&session) {
            Some(_) => Ok(()),
            None => Err(gone(format!("no session {session}"))),
        }
    }

    async fn list_sessions(
        &self,
        server: ServerId,
    ) -> Result<Vec<(SessionId, AgentId)>, BackendError> {
        let state = self.state();
        if !state.servers.contains_key(&server) {
            return Err(gone(format!("no server {server}")));
        }
        Ok(state
            .sessions
            .iter()
            .filter(|(_, (s, _))| *s == server)
            .map(|(id, (_, agent))| (*id, agent.clone()))
            .collect())
    }

    async fn list_servers(&self) -> Result<Vec<(ServerId, Workdir)>, BackendError> {
        let state = self.state();
        Ok(state
            .servers
            .iter()
            .map(|(id, w)| (*id, w.clone()))
            .collect())
    }

    async fn subscribe(
        &self,
        session: SessionId,
    ) -> Result<UnboundedReceiver<SessionEvent>, BackendError> {
        let mut state = self.state();
        if !state.sessions.contains_key(&session) {
            return Err(gone(format!("no session {session}")));
        }
        let (tx, rx) = unbounded_channel();
        state.streams.entry(session).or_default().push(tx);
        Ok(rx)
    }
}
