//! The production lifecycle manager.
//!
//! Design (see shared/design.md §2):
//! - Each start creates an *incarnation* with its own cancellation token. A newer start, a stop
//!   or an eviction cancels the token of the incarnation in flight.
//! - Every operation on one agent takes the agent's *turn* (a FIFO async mutex), so a restart
//!   or a stop runs only after the incarnation before it has unwound.
//! - What a startup acquires (server lease, session) is stored in the agent's record the moment
//!   the backend returns it, so one teardown path releases everything, exactly once.
//! - Backend calls are never abandoned mid-flight on cancellation (an abandoned create could
//!   leave a session nobody knows of); the token is checked after each call instead, and each
//!   call is bounded by the call timeout.
//! - A session whose abort failed stays tracked: the manager never forgets what it cannot prove
//!   dead, and the next stop retries.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use crate::backend::{AgentId, SessionBackend, SessionEvent, SessionId};
use crate::lease::{ServerLease, Servers};
use crate::lifecycle::{
    AgentSnapshot, Lifecycle, LifecycleError, ManagerConfig, StartRequest, Status, bounded,
};

/// The production manager ("owned" design).
pub struct AgentManager<B> {
    inner: Arc<Inner<B>>,
}

struct Inner<B> {
    backend: B,
    config: ManagerConfig,
    servers: Servers,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    agents: BTreeMap<AgentId, Agent>,
    evicting: bool,
}

struct Agent {
    /// Held by whichever operation on this agent is running; FIFO, so operations run in
    /// arrival order.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// The token of the newest incarnation; cancelling it supersedes that startup.
    latest: CancellationToken,
    record: Option<Record>,
}

struct Record {
    status: Status,
    lease: Option<ServerLease>,
    session: Option<SessionId>,
}

impl<B: SessionBackend> Lifecycle<B> for AgentManager<B> {
    fn new(backend: B, config: ManagerConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                backend,
                config,
                servers: Servers::default(),
                state: Mutex::default(),
            }),
        }
    }

    async fn start(&self, request: StartRequest) -> Result<(), LifecycleError> {
        let inner = &self.inner;
        let (turn, token) = {
            let mut state = inner.state();
            if state.evicting {
                return Err(LifecycleError::Evicting);
            }
            let agent = state
                .agents
                .entry(request.agent.clone())
                .or_insert_with(|| Agent {
                    turn: Arc::default(),
                    latest: CancellationToken::new(),
                    record: None,
                });
            agent.latest.cancel();
            agent.latest = CancellationToken::new();
            (agent.turn.clone(), agent.latest.clone())
        };
        let _turn = tokio::select! {
            biased;
            _ = token.cancelled() => return Err(LifecycleError::Cancelled),
            turn = turn.lock_owned() => turn,
        };
        // The restart path: the previous incarnation is gone before this one begins.
        inner.teardown(&request.agent, Status::Exited).await?;
        if token.is_cancelled() {
            return Err(LifecycleError::Cancelled);
        }
        inner.with_agent(&request.agent, |agent| {
            agent.record = Some(Record {
                status: Status::Starting,
                lease: None,
                session: None,
            });
        });
        match inner.start_up(&request, &token).await {
            Ok(()) => {
                inner.with_record(&request.agent, |record| record.status = Status::Running);
                Ok(())
            }
            Err(e) => {
                let end = match e {
                    LifecycleError::Cancelled => Status::Exited,
                    _ => Status::Failed,
                };
                inner.teardown(&request.agent, end).await?;
                Err(e)
            }
        }
    }

    async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
        let inner = &self.inner;
        let turn = {
            let state = inner.state();
            let Some(known) = state.agents.get(agent) else {
                return Ok(());
            };
            known.latest.cancel();
            known.turn.clone()
        };
        let _turn = turn.lock_owned().await;
        inner.teardown(agent, Status::Exited).await
    }

    async fn evict(&self) -> Result<(), LifecycleError> {
        let inner = &self.inner;
        let agents: Vec<AgentId> = {
            let mut state = inner.state();
            state.evicting = true;
            for agent in state.agents.values() {
                agent.latest.cancel();
            }
            state.agents.keys().cloned().collect()
        };
        let mut outcome = Ok(());
        for agent in agents {
            let turn = inner.with_agent(&agent, |a| a.turn.clone());
            let _turn = turn.lock_owned().await;
            if let Err(e) = inner.teardown(&agent, Status::Exited).await {
                outcome = Err(e);
            }
        }
        let timeout = inner.config.call_timeout;
        inner
            .servers
            .close_unleased(&inner.backend, timeout)
            .await?;
        outcome
    }

    fn snapshot(&self) -> Vec<AgentSnapshot> {
        let state = self.inner.state();
        state
            .agents
            .iter()
            .filter_map(|(id, agent)| {
                let record = agent.record.as_ref()?;
                Some(AgentSnapshot {
                    agent: id.clone(),
                    status: record.status,
                    session: record.session,
                })
            })
            .collect()
    }
}

impl<B: SessionBackend> Inner<B> {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("manager state poisoned")
    }

    fn with_agent<T>(&self, agent: &AgentId, f: impl FnOnce(&mut Agent) -> T) -> T {
        let mut state = self.state();
        f(state
            .agents
            .get_mut(agent)
            .expect("agent entries are never removed"))
    }

    /// Runs `f` on the agent's record. Callers hold the agent's turn, and a record exists for
    /// the whole of a startup, so a missing record is a bug here, not an input error.
    fn with_record<T>(&self, agent: &AgentId, f: impl FnOnce(&mut Record) -> T) -> T {
        self.with_agent(agent, |a| {
            f(a.record.as_mut().expect("record during startup"))
        })
    }

    fn cancelled(token: &CancellationToken) -> Result<(), LifecycleError> {
        if token.is_cancelled() {
            Err(LifecycleError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Steps 3-6 of a startup. Whatever it acquires goes into the record at once, so the
    /// caller's teardown releases it on every path.
    async fn start_up(
        &self,
        request: &StartRequest,
        token: &CancellationToken,
    ) -> Result<(), LifecycleError> {
        let timeout = self.config.call_timeout;
        let lease = self
            .servers
            .acquire(&self.backend, timeout, &request.workdir)
            .await?;
        let server = lease.server();
        self.with_record(&request.agent, |r| r.lease = Some(lease));
        Self::cancelled(token)?;

        let session = bounded(timeout, self.backend.create_session(server, &request.agent)).await?;
        self.with_record(&request.agent, |r| r.session = Some(session));
        Self::cancelled(token)?;

        let events = bounded(timeout, self.backend.subscribe(session)).await?;
        tokio::spawn(watch_events(request.agent.clone(), events, token.clone()));
        Self::cancelled(token)?;

        bounded(timeout, self.backend.prompt(session, &request.prompt)).await?;
        Self::cancelled(token)
    }

    /// Ends the agent's current record, if it is still live: aborts its session, releases its
    /// lease, and marks it `end`. If the abort fails the session stays tracked (Stopping).
    async fn teardown(&self, agent: &AgentId, end: Status) -> Result<(), LifecycleError> {
        let timeout = self.config.call_timeout;
        let session = {
            let mut state = self.state();
            let Some(record) = state.agents.get_mut(agent).and_then(|a| a.record.as_mut()) else {
                return Ok(());
            };
            if record.status.is_terminal() {
                return Ok(());
            }
            record.status = Status::Stopping;
            record.session
        };
        if let Some(session) = session {
            bounded(timeout, self.backend.abort_session(session)).await?;
            self.with_record(agent, |r| r.session = None);
        }
        let lease = self.with_record(agent, |r| r.lease.take());
        if let Some(lease) = lease
            && let Err(e) = self.servers.release(&self.backend, timeout, lease).await
        {
            // The server stays known to `Servers`; eviction retries the close.
            tracing::warn!(%agent, error = %e, "closing an unused server failed");
        }
        self.with_record(agent, |r| r.status = end);
        Ok(())
    }
}

/// The event subscription of one incarnation; it ends with the incarnation's token, so an old
/// incarnation's events never reach a new one.
async fn watch_events(
    agent: AgentId,
    mut events: UnboundedReceiver<SessionEvent>,
    token: CancellationToken,
) {
    loop {
        tokio::select! {
            biased;
            _ = token.cancelled() => return,
            event = events.recv() => match event {
                Some(event) => tracing::debug!(%agent, ?event, "session event"),
                None => return,
            },
        }
    }
}
