//! `legacy`: PRE, the #1341 code (`evan-claw/cloud` @ `05493752`,
//! `cloudflare-gastown/container/src/process-manager.ts`), ported step by step from
//! docs/real-system.md "startAgent — PRE". Shared steps (stopAgent, the event stream, the idle
//! timer, stopAll) are in `common/`, with their own table in `common/mod.rs`.
//!
//! | step | real code (PRE) | here |
//! | --- | --- | --- |
//! | start 1 | `existing` Running or Starting ⇒ ⏸`stopAgent(id)`, errors swallowed | [`Core::stop_agent`] |
//! | start 2 | `agents.set(id, {starting, sessionId: ''})` (replaces the entry) | [`Table::insert_record`] |
//! | start 3 | ⏸`ensureSDKServer(workdir)`; `sdkInstances.get(workdir)` *now*: if any, `sessionCount++`, `counted` | [`Core::ensure_sdk_server`], [`Table::count_mapped`] |
//! | start 4 | ⏸`session.create()` on the returned client; no `id` ⇒ throw; `rec.sessionId = S` | any `Err` throws |
//! | start 5 | `void subscribeToEvents(client, rec)`: controller registered synchronously | [`Core::subscribe_to_events`] |
//! | start 6 | ⏸`session.prompt(S)`: an HTTP error answer is returned, not thrown (sdk.rs) | only `Gone`/`Timeout` throw |
//! | start 7 | `if (rec.status == starting) rec.status = running`; return `rec` (even if `exited`) | `Ok(())` |
//! | catch | `rec.status = failed` (over any status); if `counted`: `sdkInstances.get(workdir)?.sessionCount--` (no close) | [`Table::decrement_mapped`] |
//! | stop | docs/real-system.md stopAgent, PRE branch | [`Core::stop_agent`] |
//! | evict | SIGTERM: stopHeartbeat, ⏸`stopAll`, exit (PRE has no drain, no `_draining`) | [`Core::stop_all`] |
//! | update | `PATCH /agents/:id/model` ⇒ `updateAgentModel` @ `05493752` (`common/update.rs`: always `session.create`, no mayor resume) | [`Lifecycle::update`] |
//! | refresh, registry, hydrate | PRE has no token-refresh restart, no `syncRegistry` and no `bootHydration` | the defaults |
//!
//! Assumptions beyond common/mod.rs's: none.

use std::sync::Arc;

use agent_lifecycle::{
    AgentId, Lifecycle, LifecycleError, ManagerConfig, Snapshot, StartRequest, Status, bounded,
    point,
};

use crate::common::{Core, Thrown, Version, lock};
use crate::sdk::KiloSdk;

pub struct LegacyManager<B> {
    core: Arc<Core<B>>,
}

impl<B: KiloSdk> Lifecycle<B> for LegacyManager<B> {
    fn new(backend: B, config: ManagerConfig) -> Self {
        Self {
            core: Core::new(backend, config, Version::Pre),
        }
    }

    async fn start(&self, request: StartRequest) -> Result<(), LifecycleError> {
        let core = &self.core;
        let StartRequest {
            agent,
            workdir,
            prompt,
        } = &request;
        let existing = core.table().record(agent).map(|r| lock(&r).status);
        match existing {
            Some(Status::Starting) => point!("startAgent.stopped_existing_starting"),
            Some(Status::Running) => point!("startAgent.stopped_existing_running"),
            _ => {}
        }
        if matches!(existing, Some(Status::Running | Status::Starting)) {
            core.stop_agent(agent).await;
        }
        let record = core.table().insert_record(agent, workdir, prompt, None);
        let mut counted = false;
        let steps = async {
            let server = core.ensure_sdk_server(workdir).await?;
            counted = core.table().count_mapped(workdir);
            if !counted {
                point!("startAgent.not_counted");
            }
            let session = bounded(
                core.config.call_timeout,
                core.backend.create_session(server, agent),
            )
            .await?;
            if lock(&record).status != Status::Starting {
                point!("startAgent.create_returned_to_stopped_record");
            }
            lock(&record).session = Some(session);
            core.subscribe_to_events(agent, server, &record);
            let prompted = bounded(
                core.config.call_timeout,
                core.backend.prompt_on(server, session, prompt),
            )
            .await;
            match prompted {
                Err(e) if crate::common::threw(&Err(e.clone())) => return Err(Thrown::Error(e)),
                Err(_) => point!("startAgent.prompt_error_answer_ignored"),
                Ok(()) => {}
            }
            let mut r = lock(&record);
            if r.status == Status::Starting {
                r.status = Status::Running;
            } else {
                point!("startAgent.returned_not_running");
            }
            Ok(())
        };
        match steps.await {
            Ok(()) => Ok(()),
            Err(thrown) => {
                point!("startAgent.failed");
                lock(&record).status = Status::Failed;
                if counted {
                    point!("startAgent.failed_decremented");
                    core.table().decrement_mapped(workdir);
                }
                Err(match thrown {
                    Thrown::Error(e) => LifecycleError::Backend(e),
                    Thrown::Aborted => LifecycleError::Cancelled,
                })
            }
        }
    }

    async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
        self.core.stop_agent(agent).await;
        Ok(())
    }

    async fn evict(&self) -> Result<(), LifecycleError> {
        self.core.stop_all().await;
        Ok(())
    }

    fn snapshot(&self) -> Snapshot {
        self.core.snapshot()
    }

    async fn update(&self, agent: &AgentId, _config: &str) -> Result<(), LifecycleError> {
        self.core.update_agent_model(agent).await
    }
}
