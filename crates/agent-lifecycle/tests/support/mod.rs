//! A small in-memory session backend the manager's tests share, with knobs for slow,
//! failing and lying calls. Time is tokio's (paused in the tests).

#![allow(dead_code)] // each test binary uses its own part of it

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_lifecycle::{
    AgentId, BackendError, ServerId, SessionBackend, SessionEvent, SessionId, Workdir,
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

#[derive(Default)]
pub struct Backend {
    /// Each server's workdir, and whether it runs.
    pub servers: BTreeMap<ServerId, (Workdir, bool)>,
    /// Each session's agent and server, and whether it is live.
    pub sessions: BTreeMap<SessionId, (AgentId, ServerId, bool)>,
    pub create_delay: Duration,
    pub abort_delay: Duration,
    /// Creates that fail outright (nothing is created).
    pub failing_creates: u32,
    /// Creates that succeed but answer an error.
    pub lying_creates: u32,
    pub failing_aborts: u32,
    /// Open event streams (no events are sent; they stay open).
    pub streams: Vec<UnboundedSender<SessionEvent>>,
}

#[derive(Clone, Default)]
pub struct Shared(Arc<Mutex<Backend>>);

impl Shared {
    pub fn with<T>(&self, f: impl FnOnce(&mut Backend) -> T) -> T {
        f(&mut self.0.lock().unwrap())
    }

    pub fn live_sessions(&self) -> Vec<(SessionId, AgentId, ServerId)> {
        self.with(|b| {
            b.sessions
                .iter()
                .filter(|(_, s)| s.2)
                .map(|(id, s)| (*id, s.0.clone(), s.1))
                .collect()
        })
    }

    pub fn live_session_ids(&self) -> Vec<SessionId> {
        self.live_sessions().into_iter().map(|s| s.0).collect()
    }

    pub fn open_servers(&self) -> Vec<ServerId> {
        self.with(|b| {
            b.servers
                .iter()
                .filter(|(_, s)| s.1)
                .map(|(id, _)| *id)
                .collect()
        })
    }
}

impl SessionBackend for Shared {
    async fn ensure_server(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        Ok(self.with(|b| {
            if let Some((id, _)) = b
                .servers
                .iter()
                .find(|(_, (w, open))| w == workdir && *open)
            {
                return *id;
            }
            let id = ServerId(b.servers.len() as u64 + 1);
            b.servers.insert(id, (workdir.clone(), true));
            id
        }))
    }

    async fn close_server(&self, server: ServerId) -> Result<(), BackendError> {
        self.with(|b| {
            b.servers.get_mut(&server).unwrap().1 = false;
            for s in b.sessions.values_mut().filter(|s| s.1 == server) {
                s.2 = false;
            }
        });
        Ok(())
    }

    async fn create_session(
        &self,
        server: ServerId,
        agent: &AgentId,
    ) -> Result<SessionId, BackendError> {
        let delay = self.with(|b| b.create_delay);
        tokio::time::sleep(delay).await;
        self.with(|b| {
            if b.failing_creates > 0 {
                b.failing_creates -= 1;
                return Err(BackendError::Gone("refused".into()));
            }
            assert!(b.servers[&server].1, "a create on a closed server");
            let id = SessionId(b.sessions.len() as u64 + 1);
            b.sessions.insert(id, (agent.clone(), server, true));
            if b.lying_creates > 0 {
                b.lying_creates -= 1;
                return Err(BackendError::Failed("reply lost".into()));
            }
            Ok(id)
        })
    }

    async fn prompt(&self, _session: SessionId, _text: &str) -> Result<(), BackendError> {
        Ok(())
    }

    async fn abort_session(&self, session: SessionId) -> Result<(), BackendError> {
        let delay = self.with(|b| b.abort_delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.with(|b| {
            if b.failing_aborts > 0 {
                b.failing_aborts -= 1;
                return Err(BackendError::Failed("abort failed".into()));
            }
            b.sessions.get_mut(&session).unwrap().2 = false;
            Ok(())
        })
    }

    async fn list_sessions(
        &self,
        server: ServerId,
    ) -> Result<Vec<(SessionId, AgentId)>, BackendError> {
        Ok(self.with(|b| {
            b.sessions
                .iter()
                .filter(|(_, s)| s.1 == server && s.2)
                .map(|(id, s)| (*id, s.0.clone()))
                .collect()
        }))
    }

    async fn list_servers(&self) -> Result<Vec<(ServerId, Workdir)>, BackendError> {
        Ok(self.with(|b| {
            b.servers
                .iter()
                .filter(|(_, s)| s.1)
                .map(|(id, s)| (*id, s.0.clone()))
                .collect()
        }))
    }

    async fn subscribe(
        &self,
        _session: SessionId,
    ) -> Result<UnboundedReceiver<SessionEvent>, BackendError> {
        let (tx, rx) = unbounded_channel();
        self.with(|b| b.streams.push(tx));
        Ok(rx)
    }
}
