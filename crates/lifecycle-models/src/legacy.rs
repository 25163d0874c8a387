//! `legacy`: the original process manager (design.md §1), ported line for line.
//!
//! The known bug (#1341): a start while the agent is Starting calls stop, which cannot reach the
//! session the first start is still creating; the first start then finishes, subscribes and
//! prompts, and leaves a live session that no record tracks.

use std::sync::Arc;

use agent_lifecycle::{
    AgentId, Lifecycle, LifecycleError, ManagerConfig, SessionBackend, Snapshot, StartRequest,
    Status, bounded,
};

use crate::common::{Core, lock};

pub struct LegacyManager<B> {
    core: Arc<Core<B>>,
}

impl<B: SessionBackend> Lifecycle<B> for LegacyManager<B> {
    fn new(backend: B, config: ManagerConfig) -> Self {
        Self {
            core: Core::new(backend, config),
        }
    }

    async fn start(&self, request: StartRequest) -> Result<(), LifecycleError> {
        let core = &self.core;
        let timeout = core.config.call_timeout;
        let StartRequest {
            agent,
            workdir,
            prompt,
        } = &request;
        let existing = core.existing_status(agent)?;
        // 1. the restart path
        if matches!(existing, Some(Status::Starting | Status::Running)) {
            self.stop(agent).await?;
        }
        // 2. a new record
        let record = core.insert_record(agent, workdir);
        let fail = |e| {
            lock(&record).status = Status::Failed;
            LifecycleError::Backend(e)
        };
        // 3. the server, counted
        let server = core.ensure_server(workdir).await.map_err(fail)?;
        core.count_server(workdir, server);
        // 4. the session
        let session = bounded(timeout, core.backend.create_session(server, agent))
            .await
            .map_err(fail)?;
        lock(&record).session = Some(session);
        // 5. the event subscription
        core.subscribe(agent, session).await.map_err(fail)?;
        // 6. the prompt
        bounded(timeout, core.backend.prompt(session, prompt))
            .await
            .map_err(fail)?;
        lock(&record).status = Status::Running;
        Ok(())
    }

    async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
        if let Some(record) = self.core.record(agent) {
            self.core.stop_record(agent, &record).await;
        }
        Ok(())
    }

    async fn evict(&self) -> Result<(), LifecycleError> {
        let core = &self.core;
        // drain, and freeze every Starting/Running agent
        let agents = core.drain_and_freeze().await;
        // stop all
        for agent in agents.keys() {
            self.stop(agent).await?;
        }
        // close every server
        core.close_all_servers().await;
        Ok(())
    }

    fn snapshot(&self) -> Snapshot {
        self.core.snapshot()
    }
}
