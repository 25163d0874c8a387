//! The fake session backend: every call parks in the shared world until the driver answers
//! it, so latency, faults and the order of answers all come from the decision stream.

use std::sync::{Arc, Mutex, MutexGuard};

use agent_lifecycle::{
    AgentId, BackendError, ServerId, SessionBackend, SessionEvent, SessionId, Workdir,
};
use lifecycle_models::{EventStream, KiloSdk};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::schedule::Thread;
use crate::world::history::OpId;
use crate::world::{Call, Reply, World};

/// The workload operation the current task serves (its request context, which the managers
/// carry into the task they run it in), so the ledger can say which call made what.
pub(crate) fn current_op() -> Option<(OpId, Option<AgentId>)> {
    agent_lifecycle::RequestContext::current().map(|c| (c.id as OpId, c.agent))
}

/// Locks the world, poisoned or not.
pub(crate) fn lock(world: &Mutex<World>) -> MutexGuard<'_, World> {
    // A panic while holding the lock is already a failure; keep the history readable.
    world
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The simulated session backend a subject's manager runs on: every [`SessionBackend`] call
/// parks until the run answers it, with the latency, faults and order the scenario draws.
#[derive(Clone)]
pub struct FakeBackend {
    world: Arc<Mutex<World>>,
}

impl FakeBackend {
    pub(crate) fn new(world: Arc<Mutex<World>>) -> Self {
        Self { world }
    }

    /// Kills `server` from outside, as SIGKILL or the OOM killer does (the `server-crashes`
    /// family's effect on one chosen server): for contract suites that compare with a real
    /// server killed the same way.
    pub fn crash_server(&self, server: ServerId) {
        lock(&self.world).crash(server);
    }

    async fn call(&self, call: Call) -> Reply {
        let answer = {
            let mut world = lock(&self.world);
            if world.died_at_ms.is_some() {
                // A dead container's calls go nowhere; its tasks are dropped at the bounce.
                None
            } else {
                Some(world.enter_call(call))
            }
        };
        match answer {
            Some(answer) => answer
                .await
                .unwrap_or_else(|_| Reply::Failed(BackendError::Failed("container gone".into()))),
            None => std::future::pending().await,
        }
    }
}

impl World {
    /// Parks `call`, made by the operation (or task) running now.
    fn enter_call(&mut self, call: Call) -> tokio::sync::oneshot::Receiver<Reply> {
        self.sync_clock();
        let (op, thread, agent) = match current_op() {
            Some((op, agent)) => (Some(op), Thread::Op(op), agent),
            None => (None, self.background_thread(), None),
        };
        let answer = self.park(call, op, thread, agent);
        self.poke();
        answer
    }
}

fn unexpected(reply: Reply) -> BackendError {
    match reply {
        Reply::Failed(e) => e,
        _ => BackendError::Failed("reply of the wrong kind".into()),
    }
}

impl SessionBackend for FakeBackend {
    async fn ensure_server(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        match self.call(Call::EnsureServer(workdir.clone())).await {
            Reply::Server(id) => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    async fn close_server(&self, server: ServerId) -> Result<(), BackendError> {
        match self.call(Call::CloseServer(server)).await {
            Reply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn create_session(
        &self,
        server: ServerId,
        agent: &AgentId,
    ) -> Result<SessionId, BackendError> {
        match self.call(Call::CreateSession(server, agent.clone())).await {
            Reply::Session(id) => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    async fn prompt(&self, session: SessionId, _text: &str) -> Result<(), BackendError> {
        match self.call(Call::Prompt(session)).await {
            Reply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn abort_session(&self, session: SessionId) -> Result<(), BackendError> {
        match self.call(Call::AbortSession(session)).await {
            Reply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn list_sessions(
        &self,
        server: ServerId,
    ) -> Result<Vec<(SessionId, AgentId)>, BackendError> {
        match self.call(Call::ListSessions(server)).await {
            Reply::Sessions(list) => Ok(list),
            other => Err(unexpected(other)),
        }
    }

    async fn list_servers(&self) -> Result<Vec<(ServerId, Workdir)>, BackendError> {
        match self.call(Call::ListServers).await {
            Reply::Servers(list) => {
                let mut world = lock(&self.world);
                for (server, _) in &list {
                    if let Some(s) = world.ledger.server_mut(*server) {
                        s.revealed = true;
                    }
                }
                Ok(list)
            }
            other => Err(unexpected(other)),
        }
    }

    async fn subscribe(
        &self,
        session: SessionId,
    ) -> Result<UnboundedReceiver<SessionEvent>, BackendError> {
        match self.call(Call::Subscribe(session)).await {
            Reply::Events(rx) => Ok(rx),
            other => Err(unexpected(other)),
        }
    }
}

impl KiloSdk for FakeBackend {
    fn kill_server(&self, server: ServerId) {
        let (op, agent) = match current_op() {
            Some((op, agent)) => (Some(op), agent),
            None => (None, None),
        };
        let mut world = lock(&self.world);
        if world.died_at_ms.is_none() {
            world.kill_server_now(server, op, agent);
        }
    }

    async fn spawn_server(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        match self.call(Call::SpawnServer(workdir.clone())).await {
            Reply::Server(id) => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    async fn abort_on(
        &self,
        server: ServerId,
        session: Option<SessionId>,
    ) -> Result<(), BackendError> {
        match self.call(Call::AbortOn(server, session)).await {
            Reply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn prompt_on(
        &self,
        server: ServerId,
        session: SessionId,
        _text: &str,
    ) -> Result<(), BackendError> {
        match self.call(Call::PromptOn(server, session)).await {
            Reply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn subscribe_server(&self, server: ServerId) -> Result<EventStream, BackendError> {
        match self.call(Call::SubscribeServer(server)).await {
            Reply::ServerEvents(rx) => Ok(rx),
            other => Err(unexpected(other)),
        }
    }

    async fn worker(&self, what: &'static str) {
        let _ = self.call(Call::Worker(what)).await;
    }
}
