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
        let existing = {
            let table = core.table();
            if table.draining {
                return Err(LifecycleError::Evicting);
            }
            table.agents.get(agent).map(|r| lock(r).status)
        };
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
        let core = &self.core;
        let Some(record) = core.record(agent) else {
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
        if let Some(session) = session {
            core.abort_session(agent, session).await;
        }
        core.release_server(&workdir).await;
        lock(&record).status = Status::Exited;
        Ok(())
    }

    async fn evict(&self) -> Result<(), LifecycleError> {
        let core = &self.core;
        // drain
        let agents = {
            let mut table = core.table();
            table.draining = true;
            table.agents.clone()
        };
        // freeze every Starting/Running agent
        for (agent, record) in &agents {
            let session = {
                let r = lock(record);
                matches!(r.status, Status::Starting | Status::Running)
                    .then_some(r.session)
                    .flatten()
            };
            if let Some(session) = session {
                core.abort_session(agent, session).await;
            }
        }
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
