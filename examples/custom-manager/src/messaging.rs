//! The production manager with an entry point the harness does not know: `message`, which
//! sends an agent more work (the real control server's `POST /agents/:id/message`), declared as
//! an [`Operation`] of the subject. The harness draws it, shrinks it and replays it like a
//! start or a stop.
//!
//! Its flaw: the message reads the agent's session from the manager's snapshot and prompts it
//! directly, outside the manager's turn for that agent. A stop that aborts the session while
//! the prompt is on its way does not stop it: a prompt that lands after an abort starts a
//! fresh run (what `kilo serve` does), so the stopped agent's session runs again with no
//! record (I5, then I1). The real `sendMessage` has the same shape; the production manager
//! would have to order it with the agent's other operations.

use std::sync::Arc;

use lifecycle_sim::{
    AgentId, AgentManager, FakeBackend, Lifecycle, LifecycleError, Manager, ManagerConfig,
    Operation, SessionBackend, Snapshot, StartRequest, Status, bounded,
};

/// [`AgentManager`], plus a `message` of its own.
pub struct Messaging<B> {
    inner: AgentManager<B>,
    backend: B,
    config: ManagerConfig,
}

impl<B: SessionBackend + Clone> Messaging<B> {
    /// Prompts `agent`'s running session with `text`.
    pub async fn message(&self, agent: &AgentId, text: &str) -> Result<(), LifecycleError> {
        let session = self
            .inner
            .snapshot()
            .agents
            .into_iter()
            .find(|r| &r.agent == agent && r.status == Status::Running)
            .and_then(|r| r.session)
            .ok_or(LifecycleError::NotRunning)?;
        bounded(self.config.call_timeout, self.backend.prompt(session, text)).await?;
        Ok(())
    }
}

impl<B: SessionBackend + Clone> Lifecycle<B> for Messaging<B> {
    fn new(backend: B, config: ManagerConfig) -> Self {
        Self {
            inner: AgentManager::new(backend.clone(), config.clone()),
            backend,
            config,
        }
    }

    async fn start(&self, request: StartRequest) -> Result<(), LifecycleError> {
        self.inner.start(request).await
    }

    async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
        self.inner.stop(agent).await
    }

    async fn evict(&self) -> Result<(), LifecycleError> {
        self.inner.evict().await
    }

    fn snapshot(&self) -> Snapshot {
        self.inner.snapshot()
    }
}

/// The `message` operation: about one agent; its caller may go away mid-call.
pub fn message() -> Operation<Messaging<FakeBackend>> {
    Operation::new(
        "message",
        |manager: Arc<Messaging<FakeBackend>>, call| async move {
            let agent = call.agent.expect("message is declared per agent");
            manager.message(&agent, "more work").await
        },
    )
    .per_agent()
}

/// The messaging manager as the harness's subject, with its operation declared.
pub fn messaging() -> Manager<Messaging<FakeBackend>> {
    Manager::new("messaging")
        .about("the production manager plus a message that prompts outside the agent's turn")
        .operation(message())
}
