//! The plain backend's calls: each one's effect at the server, as the harness's world
//! applies it (`sim/src/world/server.rs`).

use agent_lifecycle::{
    AgentId, BackendError, ServerId, SessionBackend, SessionEvent, SessionId, Workdir,
};
use lifecycle_models::{EventStream, KiloSdk, ServerEvent};
use lifecycle_sim::scenario::workload::CallKind;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use super::{PlainBackend, current_op, gone};

impl SessionBackend for PlainBackend {
    async fn ensure_server(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        let workdir = workdir.clone();
        self.call(CallKind::EnsureServer, move |s, me| {
            Ok(match s.ledger.open_server_for(&workdir) {
                Some(server) => server,
                None => s.start_server(&workdir, me),
            })
        })
        .await
    }

    async fn close_server(&self, server: ServerId) -> Result<(), BackendError> {
        self.call(CallKind::CloseServer, move |s, me| {
            s.close(server, me);
            Ok(())
        })
        .await
    }

    async fn create_session(
        &self,
        server: ServerId,
        agent: &AgentId,
    ) -> Result<SessionId, BackendError> {
        let agent = agent.clone();
        let creator = current_op();
        self.call(CallKind::CreateSession, move |s, _| {
            match s.ledger.server(server) {
                Some(r) if r.open => Ok(s.ledger.create_session(server, &agent, creator)),
                _ => Err(gone(format!("{server} is not running"))),
            }
        })
        .await
    }

    async fn prompt(&self, session: SessionId, _text: &str) -> Result<(), BackendError> {
        self.prompt_call(None, session).await
    }

    /// Idempotent, as the real abort: `Ok` for a session aborted before; only a dead server's
    /// session fails (no answer: the SDK throws).
    async fn abort_session(&self, session: SessionId) -> Result<(), BackendError> {
        self.call(CallKind::AbortSession, move |s, _| {
            match s.ledger.session(session) {
                Some(r) if s.ledger.server(r.server).is_some_and(|srv| srv.open) => {
                    s.abort_effect(session);
                    Ok(())
                }
                _ => Err(gone(format!("{session}'s server is gone"))),
            }
        })
        .await
    }

    async fn list_sessions(
        &self,
        server: ServerId,
    ) -> Result<Vec<(SessionId, AgentId)>, BackendError> {
        self.call(CallKind::ListSessions, move |s, _| {
            match s.ledger.server(server) {
                Some(r) if r.open => Ok(s
                    .ledger
                    .live_on(server)
                    .map(|r| (r.id, r.agent.clone()))
                    .collect()),
                _ => Err(gone(format!("{server} is not running"))),
            }
        })
        .await
    }

    async fn list_servers(&self) -> Result<Vec<(ServerId, Workdir)>, BackendError> {
        let list: Vec<(ServerId, Workdir)> = self
            .call(CallKind::ListSessions, |s, _| Ok(s.ledger.server_list()))
            .await?;
        // The reply reached the manager: it has been told these servers run (I7).
        let mut state = self.lock();
        for (server, _) in &list {
            if let Some(s) = state.ledger.server_mut(*server) {
                s.revealed = true;
            }
        }
        Ok(list)
    }

    async fn subscribe(
        &self,
        session: SessionId,
    ) -> Result<UnboundedReceiver<SessionEvent>, BackendError> {
        self.call(CallKind::Subscribe, move |s, _| {
            match s.ledger.session_mut(session) {
                Some(r) if r.live => {
                    let (tx, rx) = unbounded_channel();
                    r.events.push(tx);
                    Ok(rx)
                }
                _ => Err(gone(format!("{session} is not live"))),
            }
        })
        .await
    }
}

impl KiloSdk for PlainBackend {
    async fn spawn_server(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        let workdir = workdir.clone();
        self.call(CallKind::EnsureServer, move |s, me| {
            Ok(s.start_server(&workdir, me))
        })
        .await
    }

    /// `server.close()` kills the child synchronously: no fault, no await.
    fn kill_server(&self, server: ServerId) {
        let me = self.clone();
        self.lock().close(server, &me);
    }

    async fn abort_on(
        &self,
        server: ServerId,
        session: Option<SessionId>,
    ) -> Result<(), BackendError> {
        self.call(CallKind::AbortSession, move |s, _| {
            if !s.ledger.server(server).is_some_and(|r| r.open) {
                return Err(gone(format!("{server} is not running")));
            }
            let Some(session) = session else {
                return Err(BackendError::Failed("session '' not found".into()));
            };
            // 200 `true` for any well-formed id: aborted before, or another server's.
            if s.ledger
                .session(session)
                .is_some_and(|r| r.server == server)
            {
                s.abort_effect(session);
            }
            Ok(())
        })
        .await
    }

    async fn prompt_on(
        &self,
        server: ServerId,
        session: SessionId,
        _text: &str,
    ) -> Result<(), BackendError> {
        self.prompt_call(Some(server), session).await
    }

    async fn subscribe_server(&self, server: ServerId) -> Result<EventStream, BackendError> {
        self.call(CallKind::Subscribe, move |s, _| {
            let (tx, rx) = unbounded_channel();
            // A dead server's stream yields nothing, not even `server.connected`.
            match s.ledger.server_mut(server) {
                Some(r) if r.open => {
                    let _ = tx.send(Ok(ServerEvent::Connected));
                    r.streams.push(tx);
                }
                _ => s.silent.push(tx),
            }
            Ok(rx)
        })
        .await
    }

    async fn worker(&self, _what: &'static str) {
        let _ = self.call(CallKind::Worker, |_, _| Ok(())).await;
    }
}
