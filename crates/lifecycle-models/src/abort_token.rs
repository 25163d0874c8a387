//! `abort-token`: the first fix for #1341 (design.md §1). Each record carries an abort signal;
//! stop and the restart path fire it; the startup checks it after `ensure_server` (before
//! counting), after `create_session` (storing the session first, so the cleanup can abort it)
//! and before the prompt. The cleanup aborts the session, decrements the server count, and
//! removes the record only if the map still holds this record.
//!
//! Residual hazards, as shipped: stop decrements even for a record that never counted, and a
//! cancelled startup decrements again; eviction's stop-all predates the signal and does not
//! fire it.

use std::sync::Arc;

use agent_lifecycle::{
    AgentId, Lifecycle, LifecycleError, ManagerConfig, SessionBackend, Snapshot, StartRequest,
    Status, bounded,
};

use crate::common::{Core, RecordRef, lock};

pub struct AbortTokenManager<B> {
    core: Arc<Core<B>>,
}

impl<B: SessionBackend> AbortTokenManager<B> {
    /// The cleanup of a startup whose signal fired.
    async fn cleanup(&self, agent: &AgentId, record: &RecordRef) -> Result<(), LifecycleError> {
        let core = &self.core;
        let (session, workdir) = {
            let r = lock(record);
            (r.session, r.workdir.clone())
        };
        if let Some(session) = session {
            core.abort_session(agent, session).await;
        }
        core.release_server(&workdir).await;
        {
            let mut table = core.table();
            if table
                .agents
                .get(agent)
                .is_some_and(|r| Arc::ptr_eq(r, record))
            {
                table.agents.remove(agent);
            }
        }
        Err(LifecycleError::Cancelled)
    }
}

impl<B: SessionBackend> Lifecycle<B> for AbortTokenManager<B> {
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
        // 1. the restart path (stop fires the old record's signal)
        if matches!(existing, Some(Status::Starting | Status::Running)) {
            self.stop(agent).await?;
        }
        // 2. a new record, with its own signal
        let record = core.insert_record(agent, workdir);
        let signal = lock(&record).abort.clone();
        let fail = |e| {
            lock(&record).status = Status::Failed;
            LifecycleError::Backend(e)
        };
        // 3. the server; checked before counting
        let server = core.ensure_server(workdir).await.map_err(fail)?;
        if signal.is_cancelled() {
            return self.cleanup(agent, &record).await;
        }
        core.count_server(workdir, server);
        // 4. the session, stored before the check so the cleanup can abort it
        let session = bounded(timeout, core.backend.create_session(server, agent))
            .await
            .map_err(fail)?;
        lock(&record).session = Some(session);
        if signal.is_cancelled() {
            return self.cleanup(agent, &record).await;
        }
        // 5. the event subscription
        core.subscribe(agent, session).await.map_err(fail)?;
        // 6. the prompt, checked before
        if signal.is_cancelled() {
            return self.cleanup(agent, &record).await;
        }
        bounded(timeout, core.backend.prompt(session, prompt))
            .await
            .map_err(fail)?;
        lock(&record).status = Status::Running;
        Ok(())
    }

    async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
        let Some(record) = self.core.record(agent) else {
            return Ok(());
        };
        lock(&record).abort.cancel();
        self.core.stop_record(agent, &record).await;
        Ok(())
    }

    async fn evict(&self) -> Result<(), LifecycleError> {
        let core = &self.core;
        // drain, and freeze every Starting/Running agent
        let agents = core.drain_and_freeze().await;
        // stop all
        for (agent, record) in &agents {
            // the stop bookkeeping as it was before the fix: the signal is not fired
            core.stop_record(agent, record).await;
        }
        // close every server
        core.close_all_servers().await;
        Ok(())
    }

    fn snapshot(&self) -> Snapshot {
        self.core.snapshot()
    }
}
